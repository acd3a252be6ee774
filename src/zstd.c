/* zstd.c — streaming zstd compression and decompression transforms.
 *
 * Compression uses libzstd's own worker threads (ZSTD_c_nbWorkers), so the
 * compressor keeps several cores busy while the caller's thread feeds it. */
#include "transform.h"

#include <stdlib.h>
#include <zstd.h>

#define ZSTD_JOB_SIZE (2 << 20)

struct zstd_transform {
    struct mb_transform base; /* first: the pipeline only sees this */
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    size_t last_hint; /* decompression: 0 once a frame ended exactly */
    int seen_input;
    size_t out_cap;
    uint8_t *out;
};

static int zstd_fail(struct mb_error *err, const char *what, size_t code)
{
    mb_error_set(err, "zstd: %s: %s", what, ZSTD_getErrorName(code));
    return -1;
}

/* Drives the compressor until it has consumed the input (or, for flushes,
 * until it reports nothing left), emitting every filled output buffer. */
static int compress_drive(struct zstd_transform *z, const uint8_t *buf, size_t len,
                          ZSTD_EndDirective mode, struct mb_error *err)
{
    ZSTD_inBuffer in = { buf, len, 0 };
    for (;;) {
        ZSTD_outBuffer out = { z->out, z->out_cap, 0 };
        size_t left = ZSTD_compressStream2(z->cctx, &out, &in, mode);
        if (ZSTD_isError(left))
            return zstd_fail(err, "compression failed", left);
        if (mb_transform_emit(&z->base, z->out, out.pos, err) != 0)
            return -1;
        int done = mode == ZSTD_e_continue ? in.pos == in.size : left == 0;
        if (done)
            return 0;
    }
}

static int compress_write(struct mb_transform *t, const uint8_t *buf, size_t len,
                          struct mb_error *err)
{
    return compress_drive((struct zstd_transform *)t, buf, len, ZSTD_e_continue, err);
}

static int compress_finish(struct mb_transform *t, struct mb_error *err)
{
    return compress_drive((struct zstd_transform *)t, NULL, 0, ZSTD_e_end, err);
}

/* Decodes until the input is consumed and the decoder holds nothing more
 * it could flush.  last_hint is 0 exactly when a frame ended and was fully
 * flushed; a call that neither consumed nor produced anything (the decoder
 * idle between frames) does not change it. */
static int decompress_write(struct mb_transform *t, const uint8_t *buf, size_t len,
                            struct mb_error *err)
{
    struct zstd_transform *z = (struct zstd_transform *)t;
    ZSTD_inBuffer in = { buf, len, 0 };
    ZSTD_outBuffer out;
    if (len)
        z->seen_input = 1;
    do {
        size_t consumed_before = in.pos;
        out = (ZSTD_outBuffer){ z->out, z->out_cap, 0 };
        size_t hint = ZSTD_decompressStream(z->dctx, &out, &in);
        if (ZSTD_isError(hint))
            return zstd_fail(err, "corrupt data", hint);
        if (out.pos > 0 || in.pos > consumed_before)
            z->last_hint = hint;
        if (mb_transform_emit(&z->base, z->out, out.pos, err) != 0)
            return -1;
    } while (in.pos < in.size || out.pos == out.size);
    return 0;
}

static int decompress_finish(struct mb_transform *t, struct mb_error *err)
{
    struct zstd_transform *z = (struct zstd_transform *)t;
    if (!z->seen_input) {
        mb_error_set(err, "zstd: empty input (no zstd frame)");
        return -1;
    }
    if (z->last_hint != 0) {
        mb_error_set(err, "zstd: truncated data (the last frame is incomplete)");
        return -1;
    }
    return 0;
}

static void zstd_destroy(struct mb_transform *t)
{
    struct zstd_transform *z = (struct zstd_transform *)t;
    if (!z)
        return;
    ZSTD_freeCCtx(z->cctx);
    ZSTD_freeDCtx(z->dctx);
    free(z->out);
    free(z);
}

static const struct mb_transform_ops zstd_compress_ops = {
    MB_TRANSFORM_OPS_VERSION, "zstd", compress_write, compress_finish, zstd_destroy,
};

static const struct mb_transform_ops zstd_decompress_ops = {
    MB_TRANSFORM_OPS_VERSION, "unzstd", decompress_write, decompress_finish, zstd_destroy,
};

static struct zstd_transform *zstd_alloc(const struct mb_transform_ops *ops, size_t out_cap,
                                         struct mb_error *err)
{
    struct zstd_transform *z = calloc(1, sizeof *z);
    if (z)
        z->out = malloc(out_cap);
    if (!z || !z->out) {
        free(z);
        mb_error_set(err, "zstd: out of memory");
        return NULL;
    }
    z->base.ops = ops;
    z->out_cap = out_cap;
    return z;
}

struct mb_transform *mb_zstd_compress_new(int level, int workers, struct mb_error *err)
{
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) {
        mb_error_set(err, "zstd: level %d is out of range (%d..%d)", level, ZSTD_minCLevel(),
                     ZSTD_maxCLevel());
        return NULL;
    }
    struct zstd_transform *z = zstd_alloc(&zstd_compress_ops, ZSTD_CStreamOutSize(), err);
    if (!z)
        return NULL;
    z->cctx = ZSTD_createCCtx();
    size_t rc = z->cctx ? ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level) : 1;
    if (!z->cctx || ZSTD_isError(rc)) {
        zstd_destroy(&z->base);
        mb_error_set(err, "zstd: cannot create a compression context");
        return NULL;
    }
    ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1);
    /* A libzstd built without threads refuses workers; it still compresses. */
    /* Jobs of 2 MiB instead of libzstd's default (4 windows, 8 MiB at level
     * 3) keep the workers' buffers near 30 MiB instead of 64 at the same
     * speed (measured with 2 workers; see bench/RESULTS.md). */
    if (workers > 0 && !ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_nbWorkers, workers)))
        ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_jobSize, ZSTD_JOB_SIZE);
    return &z->base;
}

struct mb_transform *mb_zstd_decompress_new(struct mb_error *err)
{
    struct zstd_transform *z = zstd_alloc(&zstd_decompress_ops, ZSTD_DStreamOutSize(), err);
    if (!z)
        return NULL;
    z->dctx = ZSTD_createDCtx();
    if (!z->dctx) {
        zstd_destroy(&z->base);
        mb_error_set(err, "zstd: cannot create a decompression context");
        return NULL;
    }
    return &z->base;
}
