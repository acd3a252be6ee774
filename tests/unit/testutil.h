/* testutil.h — in-memory readers and writers for unit tests of the byte path. */
#ifndef MB_TESTUTIL_H
#define MB_TESTUTIL_H

#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "registry.h"
#include "pump.h"

/* Deterministic, mildly compressible test data. */
static inline uint8_t *test_data(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (i % 7 == 0) ? (uint8_t)(x >> 24) : (uint8_t)("moonbak backups "[i % 16]);
    }
    return p;
}

/* A reader over a memory buffer that hands out at most chunk bytes per read
 * and can be told to fail after fail_after bytes. */
struct mem_reader {
    struct mb_reader base;
    const uint8_t *data;
    size_t len, pos, chunk, fail_after;
    int finish_status;
    int fail_silently; /* fail without a message, as a dump tool's pipe does */
};

static inline ssize_t mem_read(struct mb_reader *r, void *buf, size_t len, struct mb_error *err)
{
    struct mem_reader *m = (struct mem_reader *)r;
    if (m->fail_after && m->pos >= m->fail_after) {
        if (!m->fail_silently)
            mb_error_set(err, "test reader failed on purpose");
        return -1;
    }
    size_t n = m->len - m->pos;
    if (n > len)
        n = len;
    if (m->chunk && n > m->chunk)
        n = m->chunk;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static inline int mem_finish(struct mb_reader *r, struct mb_error *err)
{
    struct mem_reader *m = (struct mem_reader *)r;
    if (m->finish_status != 0)
        mb_error_set(err, "test producer exited with status %d", m->finish_status);
    return m->finish_status ? -1 : 0;
}

static inline void mem_reader_init(struct mem_reader *m, const uint8_t *data, size_t len, size_t chunk)
{
    memset(m, 0, sizeof *m);
    m->base.read = mem_read;
    m->base.finish = mem_finish;
    m->data = data;
    m->len = len;
    m->chunk = chunk;
}

/* A writer that collects into memory and records commit/abort. */
struct mem_writer {
    struct mb_writer base;
    uint8_t *data;
    size_t len, cap;
    int committed, aborted, fail_writes;
};

static inline int mem_write(struct mb_writer *w, const void *buf, size_t len, struct mb_error *err)
{
    struct mem_writer *m = (struct mem_writer *)w;
    if (m->fail_writes) {
        mb_error_set(err, "test writer failed on purpose");
        return -1;
    }
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->data = realloc(m->data, m->cap);
    }
    memcpy(m->data + m->len, buf, len);
    m->len += len;
    return 0;
}

static inline int mem_commit(struct mb_writer *w, struct mb_error *err)
{
    (void)err;
    ((struct mem_writer *)w)->committed = 1;
    return 0;
}

static inline void mem_abort(struct mb_writer *w) { ((struct mem_writer *)w)->aborted = 1; }

static inline void mem_writer_init(struct mem_writer *m)
{
    memset(m, 0, sizeof *m);
    m->base.write = mem_write;
    m->base.commit = mem_commit;
    m->base.abort = mem_abort;
}

/* Runs data through transforms into a memory writer. */
static inline int run_pump(const uint8_t *data, size_t len, size_t chunk, struct mb_transform **t,
                           size_t nt, struct mem_writer *out, struct mb_pump_result *res,
                           struct mb_error *err)
{
    struct mem_reader r;
    mem_reader_init(&r, data, len, chunk);
    mem_writer_init(out);
    struct mb_pump_sink sink = { .writer = &out->base, .label = "memory" };
    return mb_pump(&r.base, t, nt, &sink, 1, NULL, res, err);
}

#endif
