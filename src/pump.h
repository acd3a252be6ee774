/* pump.h — moves bytes from one reader through transforms into sinks.
 *
 * Three threads, joined by bounded queues of fixed-size blocks, so memory
 * stays constant whatever the size of the dump and a slow stage holds the
 * others back (backpressure):
 *
 *   reader thread:    read() -> sha256 of the input  --queue-->
 *   calling thread:   transforms (zstd with its pool of workers, age)  --queue-->
 *   writer thread:    sha256 of the output -> every sink
 *
 * The caller owns every object passed in; mb_pump only borrows them.
 * Sinks fail one by one: a sink whose write fails is aborted and left out,
 * the others go on.  The pump fails as a whole when the reader, a
 * transform or an expected checksum fails, or when no sink is left; then
 * every sink is aborted, so nothing half-written ever stays behind. */
#ifndef MB_PUMP_H
#define MB_PUMP_H

#include "cancel.h"
#include "transform.h"

struct mb_pump_sink {
    struct mb_writer *writer; /* borrowed */
    const char *label;        /* names the sink in messages: "storage local" */
    int failed;
    int committed;
    uint64_t bytes;
    struct mb_error err;
};

struct mb_pump_result {
    uint64_t bytes_in, bytes_out;
    char sha256_in[65], sha256_out[65]; /* lower-case hex */
    double seconds;
    double read_seconds;      /* reader thread: inside read() */
    double transform_seconds; /* calling thread: inside the transforms */
    double write_seconds;     /* writer thread: inside the sinks' write() */
};

/* How far a pump has come, for a progress display. */
struct mb_pump_progress {
    uint64_t bytes_in, bytes_out;
    double seconds; /* since the pump started */
};

/* Called on the pump's calling thread at most every 0.25 s while bytes
 * flow, and once more, with final set, when the pump has ended. */
typedef void mb_pump_progress_fn(void *ud, const struct mb_pump_progress *p, int final);

struct mb_pump_options {
    const char *expect_sha256_in;  /* NULL: not checked */
    const char *expect_sha256_out;
    /* Borrowed; NULL: never cancelled.  Once cancelled, the pump stops
     * (within 0.25 s), aborts every sink and fails with "interrupted by
     * signal N (name)", a message that explains everything after it. */
    const struct mb_cancel *cancel;
    mb_pump_progress_fn *progress; /* NULL: no progress */
    void *progress_ud;
};

int mb_pump(struct mb_reader *reader, struct mb_transform **transforms, size_t n_transforms,
            struct mb_pump_sink *sinks, size_t n_sinks, const struct mb_pump_options *options,
            struct mb_pump_result *result, struct mb_error *err);

#endif
