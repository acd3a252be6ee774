/* zstd.c — streaming zstd compression and decompression transforms.
 *
 * With workers, compression cuts the input into chunks and compresses each
 * as an independent zstd frame on a pool of threads of its own, emitting the
 * frames in order.  Concatenated frames are one valid zstd stream: `zstd -d`
 * and the decoder below read them as one (pzstd writes the same shape).
 * On the benchmark dump this took about a tenth less CPU time and 15% less
 * wall time than libzstd's own workers (ZSTD_c_nbWorkers) for the same
 * output size (bench/RESULTS.md).  Without workers, one frame is streamed
 * on the caller's thread. */
#include "transform.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

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

/* A compression context at level, with a content checksum in every frame. */
static ZSTD_CCtx *cctx_new(int level)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    if (c && (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level))
              || ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)))) {
        ZSTD_freeCCtx(c);
        c = NULL;
    }
    return c;
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

/* ---- a pool of threads for independent frames -------------------------- */

/* A frame's trip: the caller fills a job, a worker runs it, the caller emits
 * its output and reuses the slot.  Slots are taken in sequence order,
 * seq % n_jobs, so frames leave in the order their input came in.  Buffers
 * grow on the caller's thread only. */
struct zjob {
    uint8_t *in, *out;
    size_t in_len, in_cap, out_len, out_cap;
    size_t want; /* decompression: the frame's content size */
    size_t code; /* libzstd's error code, or 0 */
    int done;
};

/* Runs on a worker with its own context: fills j->out, returns its length
 * or a libzstd error code. */
typedef size_t zjob_fn(void *ctx, struct zjob *j);

struct zpool {
    pthread_mutex_t mu;
    pthread_cond_t queued, done;
    pthread_t *threads;
    void **ctxs; /* one per worker, NULL-terminated; freed by the owner */
    zjob_fn *run;
    int n_threads, started, stop;
    size_t n_jobs;
    struct zjob *jobs;
    /* Sequence numbers: jobs below `filled` are queued (the one at `filled`
     * is being filled), below `taken` a worker has them, below `emitted`
     * they are gone.  Only the caller's thread moves filled and emitted. */
    uint64_t filled, taken, emitted;
};

static void *pool_worker(void *arg)
{
    struct zpool *p = arg;
    pthread_mutex_lock(&p->mu);
    void *ctx = p->ctxs[p->started++];
    for (;;) {
        while (!p->stop && p->taken == p->filled)
            pthread_cond_wait(&p->queued, &p->mu);
        if (p->stop)
            break;
        struct zjob *j = &p->jobs[p->taken++ % p->n_jobs];
        pthread_mutex_unlock(&p->mu);
        size_t n = p->run(ctx, j);
        pthread_mutex_lock(&p->mu);
        j->code = ZSTD_isError(n) ? n : 0;
        j->out_len = ZSTD_isError(n) ? 0 : n;
        j->done = 1;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* The job being filled: the caller's to write into until it is queued. */
static struct zjob *pool_filling(struct zpool *p)
{
    return &p->jobs[p->filled % p->n_jobs];
}

static int pool_full(const struct zpool *p)
{
    return p->filled - p->emitted == p->n_jobs;
}

static void pool_queue(struct zpool *p)
{
    pthread_mutex_lock(&p->mu);
    p->filled++;
    pthread_cond_signal(&p->queued);
    pthread_mutex_unlock(&p->mu);
}

/* Emits finished jobs' output in order through t.  With `wait`, first
 * waits for the oldest queued one (the caller needs its slot, or is
 * flushing).  A failed job fails with `what` and libzstd's words. */
static int pool_emit(struct zpool *p, struct mb_transform *t, int wait, const char *what,
                     struct mb_error *err)
{
    while (p->emitted < p->filled) {
        struct zjob *j = &p->jobs[p->emitted % p->n_jobs];
        pthread_mutex_lock(&p->mu);
        while (wait && !j->done)
            pthread_cond_wait(&p->done, &p->mu);
        int done = j->done;
        pthread_mutex_unlock(&p->mu);
        if (!done)
            return 0;
        if (j->code)
            return zstd_fail(err, what, j->code);
        if (mb_transform_emit(t, j->out, j->out_len, err) != 0)
            return -1;
        j->done = 0; /* no worker looks at a job below `taken` again */
        j->in_len = 0;
        p->emitted++;
        wait = 0;
    }
    return 0;
}

/* Emits everything queued, waiting for it. */
static int pool_drain(struct zpool *p, struct mb_transform *t, const char *what,
                      struct mb_error *err)
{
    while (p->emitted < p->filled)
        if (pool_emit(p, t, 1, what, err) != 0)
            return -1;
    return 0;
}

/* Stops and joins the workers, frees the jobs' buffers; the contexts and
 * their array are the owner's to free afterwards. */
static void pool_stop(struct zpool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->queued);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    for (size_t i = 0; p->jobs && i < p->n_jobs; i++) {
        free(p->jobs[i].in);
        free(p->jobs[i].out);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->queued);
    pthread_cond_destroy(&p->done);
    free(p->jobs);
    free(p->threads);
}

/* Two slots more than workers: one being filled, one done and waiting to
 * be emitted while every worker is busy.  0, or -1 out of memory. */
static int pool_init(struct zpool *p, int workers, zjob_fn *run)
{
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->queued, NULL);
    pthread_cond_init(&p->done, NULL);
    p->run = run;
    p->n_jobs = (size_t)workers + 2;
    p->jobs = calloc(p->n_jobs, sizeof *p->jobs);
    p->ctxs = calloc((size_t)workers + 1, sizeof *p->ctxs);
    p->threads = calloc((size_t)workers, sizeof *p->threads);
    return p->jobs && p->ctxs && p->threads ? 0 : -1;
}

/* Starts the workers once their contexts are in place; 0 if one started. */
static int pool_start(struct zpool *p, int workers)
{
    while (p->n_threads < workers
           && pthread_create(&p->threads[p->n_threads], NULL, pool_worker, p) == 0)
        p->n_threads++;
    return p->n_threads > 0 ? 0 : -1;
}

/* ---- parallel compression: independent frames on a pool of threads ----- */

struct zstd_pool {
    struct mb_transform base; /* first: the pipeline only sees this */
    struct zpool pool;
    size_t chunk; /* input bytes per frame */
};

static size_t compress_job(void *cctx, struct zjob *j)
{
    return ZSTD_compress2(cctx, j->out, j->out_cap, j->in, j->in_len);
}

static int cpool_emit(struct zstd_pool *c, int wait, struct mb_error *err)
{
    return pool_emit(&c->pool, &c->base, wait, "compression failed", err);
}

static int cpool_write(struct mb_transform *t, const uint8_t *buf, size_t len,
                       struct mb_error *err)
{
    struct zstd_pool *c = (struct zstd_pool *)t;
    while (len) {
        if (pool_full(&c->pool) && cpool_emit(c, 1, err) != 0)
            return -1;
        struct zjob *j = pool_filling(&c->pool);
        size_t n = c->chunk - j->in_len;
        if (n > len)
            n = len;
        memcpy(j->in + j->in_len, buf, n);
        j->in_len += n;
        buf += n;
        len -= n;
        if (j->in_len == c->chunk) {
            pool_queue(&c->pool);
            if (cpool_emit(c, 0, err) != 0)
                return -1;
        }
    }
    return 0;
}

/* A whole chunk from the caller: swapped with the empty slot's buffer
 * instead of copied into it. */
static int cpool_take(struct mb_transform *t, uint8_t **buf, size_t len, struct mb_error *err)
{
    struct zstd_pool *c = (struct zstd_pool *)t;
    if (len != c->chunk)
        return cpool_write(t, *buf, len, err);
    if (pool_full(&c->pool) && cpool_emit(c, 1, err) != 0)
        return -1;
    struct zjob *j = pool_filling(&c->pool);
    if (j->in_len != 0)
        return cpool_write(t, *buf, len, err);
    uint8_t *mine = j->in;
    j->in = *buf;
    j->in_len = len;
    *buf = mine;
    pool_queue(&c->pool);
    return cpool_emit(c, 0, err);
}

/* The last chunk, however short; an empty input still makes one (empty)
 * frame, so that the output is a zstd stream. */
static int cpool_finish(struct mb_transform *t, struct mb_error *err)
{
    struct zstd_pool *c = (struct zstd_pool *)t;
    struct zpool *p = &c->pool;
    int partial = !pool_full(p) && pool_filling(p)->in_len > 0;
    if (partial || p->filled == 0)
        pool_queue(p);
    return pool_drain(p, &c->base, "compression failed", err);
}

static void cpool_destroy(struct mb_transform *t)
{
    struct zstd_pool *c = (struct zstd_pool *)t;
    if (!c)
        return;
    pool_stop(&c->pool);
    for (int i = 0; c->pool.ctxs && c->pool.ctxs[i]; i++)
        ZSTD_freeCCtx(c->pool.ctxs[i]);
    free(c->pool.ctxs);
    free(c);
}

/* ---- parallel decompression: whole frames on a pool of threads --------- */

/* Frames with at most this much content are decompressed whole on the
 * pool (moonbak writes 2 to 8 MiB ones).  Larger frames, frames that do not
 * say their size (`zstd` reading a pipe), skippable frames and anything
 * odd stream through one decoder on the caller's thread, as before. */
#define POOLED_CONTENT_MAX (8u << 20)
#define FRAME_MAGIC 0xFD2FB528u
#define SKIPPABLE_MAGIC 0x184D2A50u /* the low 4 bits are free */
#define BLOCK_CONTENT_MAX (128u << 10)

/* Finds where a frame ends as its bytes arrive, from the frame header and
 * the blocks' headers alone (RFC 8878, 3.1.1), without decoding.  What it
 * does not expect it marks odd, and libzstd's decoder then says why. */
struct frame_scan {
    enum { SCAN_MAGIC, SCAN_HEADER, SCAN_SKIPPABLE, SCAN_BLOCK, SCAN_SKIP, SCAN_DONE } state;
    uint8_t field[18]; /* the header being collected (a frame header is at most 18) */
    size_t have, need;
    uint64_t skip;    /* bytes to pass over: a block's body, the checksum */
    uint64_t content; /* the frame's content size, or ZSTD_CONTENTSIZE_UNKNOWN */
    int checksum, last, skippable, odd;
};

static uint64_t little_endian(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    while (n--)
        v = v << 8 | p[n];
    return v;
}

static void scan_reset(struct frame_scan *s)
{
    memset(s, 0, sizeof *s);
    s->need = 4;
    s->content = ZSTD_CONTENTSIZE_UNKNOWN;
}

/* Bytes of the Frame_Content_Size field, from the header descriptor. */
static size_t content_size_bytes(uint8_t descriptor)
{
    static const size_t len[4] = { 0, 2, 4, 8 };
    int single_segment = descriptor >> 5 & 1;
    return descriptor >> 6 ? len[descriptor >> 6] : (size_t)single_segment;
}

static void scan_frame_header(struct frame_scan *s)
{
    static const size_t dict_id_len[4] = { 0, 1, 2, 4 };
    uint8_t d = s->field[4];
    if (s->need == 5) { /* the descriptor says how long the rest is */
        s->odd = d & 0x08; /* reserved bit */
        s->checksum = d >> 2 & 1;
        s->need = 5 + !(d >> 5 & 1) + dict_id_len[d & 3] + content_size_bytes(d);
        return;
    }
    size_t n = content_size_bytes(d);
    if (n)
        s->content = little_endian(s->field + s->need - n, n) + (n == 2 ? 256 : 0);
    s->state = SCAN_BLOCK;
    s->have = 0;
    s->need = 3;
}

static void scan_block_header(struct frame_scan *s)
{
    uint32_t h = (uint32_t)little_endian(s->field, 3);
    unsigned type = h >> 1 & 3, size = h >> 3;
    s->odd = type == 3 || size > BLOCK_CONTENT_MAX;
    s->last = h & 1;
    s->skip = type == 1 ? 1 : size; /* an RLE block stores one byte */
    if (s->last && s->checksum)
        s->skip += 4;
    s->state = SCAN_SKIP;
}

/* A header field is complete: what it says comes next. */
static void scan_field(struct frame_scan *s)
{
    uint32_t magic = (uint32_t)little_endian(s->field, 4);
    switch (s->state) {
    case SCAN_MAGIC:
        s->skippable = (magic & 0xFFFFFFF0u) == SKIPPABLE_MAGIC;
        s->odd = magic != FRAME_MAGIC && !s->skippable;
        s->state = s->skippable ? SCAN_SKIPPABLE : SCAN_HEADER;
        s->need = s->skippable ? 8 : 5;
        break;
    case SCAN_HEADER:
        scan_frame_header(s);
        break;
    case SCAN_SKIPPABLE:
        s->skip = little_endian(s->field + 4, 4);
        s->last = 1;
        s->state = SCAN_SKIP;
        break;
    case SCAN_BLOCK:
        scan_block_header(s);
        break;
    default:
        break;
    }
}

/* Passes over the bytes of buf that belong to the current frame: stops at
 * its end (SCAN_DONE), at something odd, or when buf is used up. */
static size_t scan_feed(struct frame_scan *s, const uint8_t *buf, size_t len)
{
    size_t used = 0;
    while (s->state != SCAN_DONE && !s->odd) {
        if (s->state == SCAN_SKIP) {
            size_t n = s->skip < len - used ? (size_t)s->skip : len - used;
            s->skip -= n;
            used += n;
            if (s->skip)
                break;
            s->state = s->last ? SCAN_DONE : SCAN_BLOCK;
            s->have = 0;
            s->need = 3;
            continue;
        }
        if (used == len)
            break;
        size_t n = s->need - s->have < len - used ? s->need - s->have : len - used;
        memcpy(s->field + s->have, buf + used, n);
        s->have += n;
        used += n;
        if (s->have == s->need)
            scan_field(s);
    }
    return used;
}

/* Should a frame, of which have bytes are known, go to the pool?  Until
 * its header is read, it may. */
static int scan_poolable(const struct frame_scan *s, size_t have)
{
    if (s->odd || s->skippable)
        return 0;
    if (s->state == SCAN_MAGIC || s->state == SCAN_HEADER)
        return 1;
    return s->content <= POOLED_CONTENT_MAX
           && have <= ZSTD_compressBound((size_t)s->content) + 32; /* + header, checksum */
}

struct unzstd_pool {
    struct mb_transform base; /* first: the pipeline only sees this */
    struct zpool pool;
    struct frame_scan scan;   /* the frame being collected in the filling job */
    /* The caller's thread: frames that are not pooled stream through here. */
    ZSTD_DCtx *stream;
    int streaming;      /* in the middle of a streamed frame */
    size_t stream_hint; /* 0 once a streamed frame ended and was flushed */
    uint8_t *stream_out;
    size_t stream_out_cap;
    int seen_input;
};

static size_t decompress_job(void *dctx, struct zjob *j)
{
    size_t n = ZSTD_decompressDCtx(dctx, j->out, j->want, j->in, j->in_len);
    /* libzstd checks the size the header gives; a frame is exactly that */
    return ZSTD_isError(n) || n == j->want ? n : (size_t)-ZSTD_error_corruption_detected;
}

static int dpool_emit(struct unzstd_pool *u, int wait, struct mb_error *err)
{
    return pool_emit(&u->pool, &u->base, wait, "corrupt data", err);
}

/* Grows *buf (of *cap bytes) to hold want; 0, or -1 out of memory. */
static int grow(uint8_t **buf, size_t *cap, size_t want)
{
    if (want <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64u << 10;
    while (n < want)
        n *= 2;
    uint8_t *b = realloc(*buf, n);
    if (!b)
        return -1;
    *buf = b;
    *cap = n;
    return 0;
}

/* Feeds the streaming decoder, emitting what it decodes.  With
 * stop_at_frame_end, returns right after a frame ends (*used tells where),
 * so that the next frames can go to the pool again. */
static int stream_feed(struct unzstd_pool *u, const uint8_t *buf, size_t len,
                       int stop_at_frame_end, size_t *used, struct mb_error *err)
{
    ZSTD_inBuffer in = { buf, len, 0 };
    ZSTD_outBuffer out;
    do {
        size_t consumed_before = in.pos;
        out = (ZSTD_outBuffer){ u->stream_out, u->stream_out_cap, 0 };
        size_t hint = ZSTD_decompressStream(u->stream, &out, &in);
        if (ZSTD_isError(hint))
            return zstd_fail(err, "corrupt data", hint);
        if (out.pos > 0 || in.pos > consumed_before)
            u->stream_hint = hint;
        if (mb_transform_emit(&u->base, u->stream_out, out.pos, err) != 0)
            return -1;
        if (stop_at_frame_end && u->stream_hint == 0)
            break;
    } while (in.pos < in.size || out.pos == out.size);
    *used = in.pos;
    u->streaming = u->stream_hint != 0;
    if (!u->streaming)
        scan_reset(&u->scan);
    return 0;
}

/* The frame being collected is not for the pool: once every frame before
 * it is out, what came of it so far goes to the streaming decoder, and the
 * rest of it will follow. */
static int stream_instead(struct unzstd_pool *u, struct zjob *j, struct mb_error *err)
{
    if (pool_drain(&u->pool, &u->base, "corrupt data", err) != 0)
        return -1;
    size_t len = j->in_len, used;
    j->in_len = 0;
    u->stream_hint = 1;
    return stream_feed(u, j->in, len, 0, &used, err);
}

/* Collects the current frame in the filling job; a whole frame is queued. */
static int frame_feed(struct unzstd_pool *u, const uint8_t *buf, size_t len, size_t *used,
                      struct mb_error *err)
{
    struct zpool *p = &u->pool;
    if (pool_full(p) && dpool_emit(u, 1, err) != 0)
        return -1;
    struct zjob *j = pool_filling(p);
    size_t n = scan_feed(&u->scan, buf, len);
    if (grow(&j->in, &j->in_cap, j->in_len + n) != 0) {
        mb_error_set(err, "zstd: out of memory");
        return -1;
    }
    memcpy(j->in + j->in_len, buf, n);
    j->in_len += n;
    *used = n;
    if (!scan_poolable(&u->scan, j->in_len))
        return stream_instead(u, j, err);
    if (u->scan.state != SCAN_DONE)
        return 0;
    j->want = (size_t)u->scan.content;
    if (grow(&j->out, &j->out_cap, j->want) != 0) {
        mb_error_set(err, "zstd: out of memory");
        return -1;
    }
    scan_reset(&u->scan);
    pool_queue(p);
    return dpool_emit(u, 0, err);
}

static int dpool_write(struct mb_transform *t, const uint8_t *buf, size_t len,
                       struct mb_error *err)
{
    struct unzstd_pool *u = (struct unzstd_pool *)t;
    if (len)
        u->seen_input = 1;
    while (len) {
        size_t used = 0;
        int rc = u->streaming ? stream_feed(u, buf, len, 1, &used, err)
                              : frame_feed(u, buf, len, &used, err);
        if (rc != 0)
            return -1;
        buf += used;
        len -= used;
    }
    return 0;
}

/* Everything decoded goes out first: a damaged frame says so before a
 * truncated end does. */
static int dpool_finish(struct mb_transform *t, struct mb_error *err)
{
    struct unzstd_pool *u = (struct unzstd_pool *)t;
    if (pool_drain(&u->pool, &u->base, "corrupt data", err) != 0)
        return -1;
    if (!u->seen_input) {
        mb_error_set(err, "zstd: empty input (no zstd frame)");
        return -1;
    }
    int partial = u->scan.state != SCAN_MAGIC || u->scan.have > 0;
    if (u->streaming || partial) {
        mb_error_set(err, "zstd: truncated data (the last frame is incomplete)");
        return -1;
    }
    return 0;
}

static void dpool_destroy(struct mb_transform *t)
{
    struct unzstd_pool *u = (struct unzstd_pool *)t;
    if (!u)
        return;
    pool_stop(&u->pool);
    for (int i = 0; u->pool.ctxs && u->pool.ctxs[i]; i++)
        ZSTD_freeDCtx(u->pool.ctxs[i]);
    free(u->pool.ctxs);
    ZSTD_freeDCtx(u->stream);
    free(u->stream_out);
    free(u);
}

static const struct mb_transform_ops unzstd_pool_ops = {
    MB_TRANSFORM_OPS_VERSION, "unzstd", dpool_write, dpool_finish, dpool_destroy, NULL,
};

static struct mb_transform *dpool_new(int workers, struct mb_error *err)
{
    struct unzstd_pool *u = calloc(1, sizeof *u);
    if (!u) {
        mb_error_set(err, "zstd: out of memory");
        return NULL;
    }
    u->base.ops = &unzstd_pool_ops;
    scan_reset(&u->scan);
    u->stream_out_cap = ZSTD_DStreamOutSize();
    int ok = pool_init(&u->pool, workers, decompress_job) == 0
             && (u->stream = ZSTD_createDCtx()) && (u->stream_out = malloc(u->stream_out_cap));
    for (int i = 0; ok && i < workers; i++)
        ok = (u->pool.ctxs[i] = ZSTD_createDCtx()) != NULL;
    if (!ok) {
        dpool_destroy(&u->base);
        mb_error_set(err, "zstd: out of memory for %d workers", workers);
        return NULL;
    }
    if (pool_start(&u->pool, workers) != 0) {
        dpool_destroy(&u->base);
        mb_error_set(err, "zstd: cannot start a decompression thread");
        return NULL;
    }
    return &u->base;
}

static const struct mb_transform_ops zstd_pool_ops = {
    MB_TRANSFORM_OPS_VERSION, "zstd", cpool_write, cpool_finish, cpool_destroy, cpool_take,
};

/* A frame at least as long as the level's window (libzstd's table, for
 * large inputs: up to 2 MiB through level 8, 4 MiB to 15, 8 MiB beyond),
 * so that cutting the input costs next to nothing in ratio. */
static size_t chunk_size(int level)
{
    return level >= 16 ? 8u << 20 : level >= 9 ? 4u << 20 : 2u << 20;
}

static struct mb_transform *pool_new(int level, int workers, struct mb_error *err)
{
    struct zstd_pool *c = calloc(1, sizeof *c);
    if (!c) {
        mb_error_set(err, "zstd: out of memory");
        return NULL;
    }
    c->base.ops = &zstd_pool_ops;
    c->chunk = chunk_size(level);
    c->base.take_size = c->chunk;
    struct zpool *p = &c->pool;
    int ok = pool_init(p, workers, compress_job) == 0;
    for (size_t i = 0; ok && i < p->n_jobs; i++) {
        struct zjob *j = &p->jobs[i];
        j->in_cap = c->chunk;
        j->out_cap = ZSTD_compressBound(c->chunk);
        ok = (j->in = malloc(j->in_cap)) && (j->out = malloc(j->out_cap));
    }
    for (int i = 0; ok && i < workers; i++)
        ok = (p->ctxs[i] = cctx_new(level)) != NULL;
    if (!ok) {
        cpool_destroy(&c->base);
        mb_error_set(err, "zstd: out of memory for %d workers", workers);
        return NULL;
    }
    if (pool_start(p, workers) != 0) {
        cpool_destroy(&c->base);
        mb_error_set(err, "zstd: cannot start a compression thread");
        return NULL;
    }
    return &c->base;
}

static const struct mb_transform_ops zstd_compress_ops = {
    MB_TRANSFORM_OPS_VERSION, "zstd", compress_write, compress_finish, zstd_destroy, NULL,
};

static const struct mb_transform_ops zstd_decompress_ops = {
    MB_TRANSFORM_OPS_VERSION, "unzstd", decompress_write, decompress_finish, zstd_destroy, NULL,
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
    if (workers < 0 || workers > MB_ZSTD_MAX_WORKERS) {
        mb_error_set(err, "zstd: %d workers is out of range (0..%d)", workers, MB_ZSTD_MAX_WORKERS);
        return NULL;
    }
    if (workers > 0)
        return pool_new(level, workers, err);
    struct zstd_transform *z = zstd_alloc(&zstd_compress_ops, ZSTD_CStreamOutSize(), err);
    if (!z)
        return NULL;
    z->cctx = cctx_new(level);
    if (!z->cctx) {
        zstd_destroy(&z->base);
        mb_error_set(err, "zstd: cannot create a compression context");
        return NULL;
    }
    return &z->base;
}

struct mb_transform *mb_zstd_decompress_new(int workers, struct mb_error *err)
{
    if (workers < 0 || workers > MB_ZSTD_MAX_WORKERS) {
        mb_error_set(err, "zstd: %d workers is out of range (0..%d)", workers, MB_ZSTD_MAX_WORKERS);
        return NULL;
    }
    if (workers > 0)
        return dpool_new(workers, err);
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
