/* transform.h — one stage of the byte pipeline (zstd, age, ...).
 *
 * A transform consumes input with write() and hands its output, in as many
 * pieces as it likes, to the emit callback of the next stage.  finish() is
 * called once after the last write: it flushes what is buffered and checks
 * that the input was complete (a truncated zstd frame or age stream is an
 * error there).  A transform never keeps a pointer to the caller's buffer
 * after write() returns; only take() (version 2) trades buffers, openly. */
#ifndef MB_TRANSFORM_H
#define MB_TRANSFORM_H

#include "mb.h"

/* Returns 0, or -1 with err set; an emit error stops the transform. */
typedef int (*mb_emit_fn)(void *emit_ud, const uint8_t *buf, size_t len, struct mb_error *err);

#define MB_TRANSFORM_OPS_VERSION 2

struct mb_transform;

struct mb_transform_ops {
    int version; /* MB_TRANSFORM_OPS_VERSION */
    const char *name;
    int (*write)(struct mb_transform *t, const uint8_t *buf, size_t len, struct mb_error *err);
    int (*finish)(struct mb_transform *t, struct mb_error *err);
    void (*destroy)(struct mb_transform *t);
    /* Version 2, optional.  write() for a malloc'ed block of take_size bytes
     * that the caller can spare: the transform may keep *buf and put in its
     * place a malloc'ed buffer of its own of the same size, saving a copy.
     * Otherwise it behaves as write(). */
    int (*take)(struct mb_transform *t, uint8_t **buf, size_t len, struct mb_error *err);
};

struct mb_transform {
    const struct mb_transform_ops *ops;
    mb_emit_fn emit; /* set by whoever chains the transform */
    void *emit_ud;
    size_t take_size; /* block size take() wants; 0 without take() */
};

/* The size of the blocks t would rather take() than copy; 0 if none. */
static inline size_t mb_transform_take_size(const struct mb_transform *t)
{
    return t->ops->version >= 2 && t->ops->take ? t->take_size : 0;
}

static inline int mb_transform_emit(struct mb_transform *t, const uint8_t *buf, size_t len,
                                    struct mb_error *err)
{
    return len ? t->emit(t->emit_ud, buf, len, err) : 0;
}

/* Constructors: NULL with err set when the options are unusable.  Workers:
 * 0 streams one frame on the caller's thread; 1..MB_ZSTD_MAX_WORKERS
 * compress 2 MiB (or larger, at high levels) frames on that many threads. */
#define MB_ZSTD_MAX_WORKERS 64
struct mb_transform *mb_zstd_compress_new(int level, int workers, struct mb_error *err);
/* Workers: 0 streams on the caller's thread; 1..MB_ZSTD_MAX_WORKERS
 * decompress whole frames of up to 8 MiB of content on that many threads,
 * in order (frames larger, of unknown size or skippable still stream). */
struct mb_transform *mb_zstd_decompress_new(int workers, struct mb_error *err);

#endif
