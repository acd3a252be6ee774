/* pump.h — moves bytes from one reader through transforms into sinks.
 *
 * The caller owns every object passed in; mb_pump only borrows them.
 * Sinks fail one by one: a sink whose write fails is aborted and left out,
 * the others go on.  The pump fails as a whole when the reader, a
 * transform or an expected checksum fails, or when no sink is left; then
 * every sink is aborted, so nothing half-written ever stays behind. */
#ifndef MB_PUMP_H
#define MB_PUMP_H

#include "transform.h"

struct mb_pump_sink {
    struct mb_writer *writer; /* borrowed */
    const char *label;        /* names the sink in messages: "local /var/backups" */
    int failed;
    int committed;
    uint64_t bytes;
    struct mb_error err;
};

struct mb_pump_result {
    uint64_t bytes_in, bytes_out;
    char sha256_in[65], sha256_out[65]; /* lower-case hex */
    double seconds;
    double read_seconds;   /* time spent waiting for the reader */
    double write_seconds;  /* time spent in sink writes */
};

struct mb_pump_expect {
    const char *sha256_in;  /* NULL: not checked */
    const char *sha256_out;
};

int mb_pump(struct mb_reader *reader, struct mb_transform **transforms, size_t n_transforms,
            struct mb_pump_sink *sinks, size_t n_sinks, const struct mb_pump_expect *expect,
            struct mb_pump_result *result, struct mb_error *err);

double mb_now(void); /* monotonic seconds */

#endif
