/* pump.c — the byte path, on three threads (see pump.h). */
#include "pump.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

/* 2 stages x 8 blocks x 256 KiB = 4 MiB in flight at most, whatever the
 * size of the dump.  When the first transform would rather take() whole
 * blocks of its own size (zstd's 2 MiB chunks), the input stage holds 3 of
 * those instead. */
#define BLOCK_SIZE (256u << 10)
#define QUEUE_DEPTH 8
#define TAKE_DEPTH 3
#define PROGRESS_INTERVAL 0.25

struct block {
    size_t len, cap;
    uint8_t *data; /* malloc'ed: take() may trade it for another */
};

/* A bounded blocking queue of blocks.  Each stage has two: full blocks
 * flow downstream, empty ones come back, so nothing is allocated while
 * the bytes flow and a slow consumer stalls its producer. */
struct queue {
    pthread_mutex_t mu;
    pthread_cond_t changed;
    struct block *items[QUEUE_DEPTH + 1];
    size_t head, count;
    int closed;           /* the producer is done: pop returns NULL once empty */
    atomic_int *aborted;  /* shared by the whole pump: everyone stops */
};

struct stage {
    struct queue full, empty;
};

struct pump {
    struct mb_reader *reader;
    struct mb_transform **transforms;
    size_t n_transforms;
    struct mb_pump_sink *sinks;
    size_t n_sinks, live_sinks;
    const struct mb_pump_options *options;
    struct stage input, output; /* reader -> transforms, transforms -> writer */
    struct block *current;      /* output block being filled by emit */
    int take_blocks;            /* input blocks go to transforms[0]->take() */
    atomic_int aborted;
    atomic_uint_fast64_t bytes_in, bytes_out;
    EVP_MD_CTX *sha_in, *sha_out;
    struct mb_error reader_err, writer_err;
    int reader_failed, writer_failed;
    double read_seconds, transform_seconds, write_seconds;
    double started, last_progress;
};

/* ---- queues ------------------------------------------------------------ */

static struct block *block_new(size_t cap)
{
    struct block *b = malloc(sizeof *b);
    if (b && !(b->data = malloc(cap))) {
        free(b);
        return NULL;
    }
    if (b)
        b->cap = cap;
    return b;
}

static void block_free(struct block *b)
{
    if (b)
        free(b->data);
    free(b);
}

static void queue_init(struct queue *q, atomic_int *aborted)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->changed, NULL);
    q->aborted = aborted;
}

static void queue_destroy(struct queue *q)
{
    for (size_t i = 0; i < q->count; i++)
        block_free(q->items[(q->head + i) % (QUEUE_DEPTH + 1)]);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->changed);
}

/* Never blocks: a queue holds every block its stage owns. */
static void queue_push(struct queue *q, struct block *b)
{
    pthread_mutex_lock(&q->mu);
    q->items[(q->head + q->count) % (QUEUE_DEPTH + 1)] = b;
    q->count++;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->mu);
}

/* Blocks until an item arrives; NULL once closed and drained, or aborted.
 * With a timeout, also NULL when it expires (*timed_out set). */
static struct block *queue_pop(struct queue *q, double timeout, int *timed_out)
{
    struct block *b = NULL;
    pthread_mutex_lock(&q->mu);
    while (!q->count && !q->closed && !atomic_load(q->aborted)) {
        if (timeout <= 0) {
            pthread_cond_wait(&q->changed, &q->mu);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(timeout * 1e9);
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        if (pthread_cond_timedwait(&q->changed, &q->mu, &until) != 0) {
            *timed_out = 1;
            break;
        }
    }
    if (q->count && !atomic_load(q->aborted)) {
        b = q->items[q->head];
        q->head = (q->head + 1) % (QUEUE_DEPTH + 1);
        q->count--;
    }
    pthread_mutex_unlock(&q->mu);
    return b;
}

static void queue_close(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->mu);
}

static void queue_wake(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->mu);
}

static int stage_init(struct stage *s, size_t block_size, int depth, atomic_int *aborted)
{
    queue_init(&s->full, aborted);
    queue_init(&s->empty, aborted);
    for (int i = 0; i < depth; i++) {
        struct block *b = block_new(block_size);
        if (!b)
            return -1;
        queue_push(&s->empty, b);
    }
    return 0;
}

static void stage_destroy(struct stage *s)
{
    queue_destroy(&s->full);
    queue_destroy(&s->empty);
}

/* Stops every thread: blocked pops return NULL, the producer is cancelled. */
static void pump_abort(struct pump *p)
{
    if (atomic_exchange(&p->aborted, 1))
        return;
    queue_wake(&p->input.full);
    queue_wake(&p->input.empty);
    queue_wake(&p->output.full);
    queue_wake(&p->output.empty);
    if (p->reader->cancel)
        p->reader->cancel(p->reader);
}

/* ---- reader thread ----------------------------------------------------- */

/* One read; for blocks a transform takes whole, reads until the block is
 * full or the input ends.  A pipe gives 64 KiB at a time: a 2 MiB block
 * holding that little would be copied, not taken, and the few blocks of
 * the stage would hold a few pipe-fuls of read-ahead. */
static ssize_t read_block(struct pump *p, struct block *b)
{
    size_t len = 0;
    do {
        ssize_t n = p->reader->read(p->reader, b->data + len, b->cap - len, &p->reader_err);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        len += (size_t)n;
    } while (p->take_blocks && len < b->cap && !atomic_load(&p->aborted));
    return (ssize_t)len;
}

static void *reader_main(void *arg)
{
    struct pump *p = arg;
    for (;;) {
        int timed_out = 0;
        struct block *b = queue_pop(&p->input.empty, 0, &timed_out);
        if (!b)
            break; /* aborted */
        double t0 = mb_now();
        ssize_t n = read_block(p, b);
        p->read_seconds += mb_now() - t0;
        if (n <= 0) {
            queue_push(&p->input.empty, b);
            if (n < 0) {
                p->reader_failed = 1;
                pump_abort(p);
            }
            break;
        }
        b->len = (size_t)n;
        EVP_DigestUpdate(p->sha_in, b->data, b->len);
        atomic_fetch_add(&p->bytes_in, b->len);
        queue_push(&p->input.full, b);
    }
    queue_close(&p->input.full);
    return NULL;
}

/* ---- writer thread ----------------------------------------------------- */

static void write_to_sinks(struct pump *p, const struct block *b)
{
    double t0 = mb_now();
    for (size_t i = 0; i < p->n_sinks; i++) {
        struct mb_pump_sink *s = &p->sinks[i];
        if (s->failed)
            continue;
        if (s->writer->write(s->writer, b->data, b->len, &s->err) != 0) {
            s->failed = 1;
            s->writer->abort(s->writer);
            p->live_sinks--;
            continue;
        }
        s->bytes += b->len;
    }
    p->write_seconds += mb_now() - t0;
}

/* True, with err set, when there were destinations and none is left. */
static int all_sinks_failed(const struct pump *p, struct mb_error *err)
{
    if (!p->n_sinks || p->live_sinks)
        return 0;
    mb_error_set(err, "every destination failed; first: %s: %s", p->sinks[0].label,
                 p->sinks[0].err.msg);
    return 1;
}

static void *writer_main(void *arg)
{
    struct pump *p = arg;
    int timed_out = 0;
    struct block *b;
    while ((b = queue_pop(&p->output.full, 0, &timed_out)) != NULL) {
        EVP_DigestUpdate(p->sha_out, b->data, b->len);
        write_to_sinks(p, b);
        queue_push(&p->output.empty, b);
        if (all_sinks_failed(p, &p->writer_err)) {
            p->writer_failed = 1;
            pump_abort(p);
            break;
        }
    }
    return NULL;
}

/* ---- the calling thread: transforms ------------------------------------ */

static void progress_report(struct pump *p, int final)
{
    double now = mb_now();
    if (!p->options || !p->options->progress)
        return;
    if (!final && now - p->last_progress < PROGRESS_INTERVAL)
        return;
    p->last_progress = now;
    struct mb_pump_progress progress = { atomic_load(&p->bytes_in), atomic_load(&p->bytes_out),
                                         now - p->started };
    p->options->progress(p->options->progress_ud, &progress, final);
}

/* The signal that cancelled the pump, or 0. */
static int cancelled(const struct pump *p)
{
    return p->options ? mb_cancel_reason(p->options->cancel) : 0;
}

/* End of the transform chain: copy into output blocks for the writer. */
static int pump_emit(void *ud, const uint8_t *buf, size_t len, struct mb_error *err)
{
    struct pump *p = ud;
    atomic_fetch_add(&p->bytes_out, len);
    while (len) {
        if (!p->current) {
            int timed_out = 0;
            p->current = queue_pop(&p->output.empty, 0, &timed_out);
            if (!p->current) {
                mb_error_set(err, "the pipeline was stopped");
                return -1;
            }
            p->current->len = 0;
        }
        size_t n = BLOCK_SIZE - p->current->len;
        if (n > len)
            n = len;
        memcpy(p->current->data + p->current->len, buf, n);
        p->current->len += n;
        buf += n;
        len -= n;
        if (p->current->len == BLOCK_SIZE) {
            queue_push(&p->output.full, p->current);
            p->current = NULL;
        }
    }
    return 0;
}

static int transform_input(void *ud, const uint8_t *buf, size_t len, struct mb_error *err)
{
    struct mb_transform *t = ud;
    return t->ops->write(t, buf, len, err);
}

static int push_through(struct pump *p, struct block *b, struct mb_error *err)
{
    double t0 = mb_now();
    struct mb_transform *first = p->n_transforms ? p->transforms[0] : NULL;
    int rc = !first                ? pump_emit(p, b->data, b->len, err)
             : p->take_blocks      ? first->ops->take(first, &b->data, b->len, err)
                                   : first->ops->write(first, b->data, b->len, err);
    p->transform_seconds += mb_now() - t0;
    return rc;
}

static int interrupted(const struct pump *p, struct mb_error *err)
{
    int sig = cancelled(p);
    mb_error_set(err, "interrupted by signal %d (%s)", sig, strsignal(sig));
    return -1;
}

/* Runs the middle stage until the input ends; then flushes the transforms. */
static int transform_loop(struct pump *p, struct mb_error *err)
{
    for (;;) {
        int timed_out = 0;
        struct block *b = queue_pop(&p->input.full, PROGRESS_INTERVAL, &timed_out);
        progress_report(p, 0);
        if (cancelled(p)) {
            if (b)
                queue_push(&p->input.empty, b);
            return interrupted(p, err);
        }
        if (!b && timed_out)
            continue;
        if (!b)
            break;
        int rc = push_through(p, b, err);
        queue_push(&p->input.empty, b);
        if (rc != 0)
            return -1;
    }
    if (atomic_load(&p->aborted))
        return -1;
    if (cancelled(p)) /* the input may have ended because the signal stopped the tool */
        return interrupted(p, err);
    double t0 = mb_now();
    for (size_t i = 0; i < p->n_transforms; i++)
        if (p->transforms[i]->ops->finish(p->transforms[i], err) != 0)
            return -1;
    p->transform_seconds += mb_now() - t0;
    if (p->current) {
        queue_push(&p->output.full, p->current);
        p->current = NULL;
    }
    return 0;
}

/* ---- setup, checks, commit --------------------------------------------- */

static void hex_digest(EVP_MD_CTX *ctx, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx, md, &n);
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int check_digest(const char *what, const char *expected, const char *actual,
                        struct mb_error *err)
{
    if (!expected || strcmp(expected, actual) == 0)
        return 0;
    mb_error_set(err, "checksum mismatch on the %s: expected sha256 %s, got %s", what,
                 expected, actual);
    return -1;
}

static void commit_sinks(struct pump *p)
{
    for (size_t i = 0; i < p->n_sinks; i++) {
        struct mb_pump_sink *s = &p->sinks[i];
        if (s->failed)
            continue;
        if (s->writer->commit(s->writer, &s->err) != 0) {
            s->failed = 1;
            s->writer->abort(s->writer);
            p->live_sinks--;
        } else {
            s->committed = 1;
        }
    }
}

static void abort_sinks(struct pump *p)
{
    for (size_t i = 0; i < p->n_sinks; i++) {
        if (!p->sinks[i].failed) {
            p->sinks[i].writer->abort(p->sinks[i].writer);
            p->sinks[i].failed = 1;
        }
    }
}

static int pump_setup(struct pump *p, struct mb_error *err)
{
    atomic_init(&p->aborted, 0);
    atomic_init(&p->bytes_in, 0);
    atomic_init(&p->bytes_out, 0);
    p->sha_in = EVP_MD_CTX_new();
    p->sha_out = EVP_MD_CTX_new();
    size_t take = p->n_transforms ? mb_transform_take_size(p->transforms[0]) : 0;
    p->take_blocks = take > 0;
    int ok = stage_init(&p->input, take ? take : BLOCK_SIZE, take ? TAKE_DEPTH : QUEUE_DEPTH,
                        &p->aborted) == 0
             && stage_init(&p->output, BLOCK_SIZE, QUEUE_DEPTH, &p->aborted) == 0
             && p->sha_in && p->sha_out && EVP_DigestInit_ex(p->sha_in, EVP_sha256(), NULL)
             && EVP_DigestInit_ex(p->sha_out, EVP_sha256(), NULL);
    if (!ok)
        mb_error_set(err, "out of memory");
    /* Chain: each transform emits into the next; the last one into the output queue. */
    for (size_t i = 0; i < p->n_transforms; i++) {
        int last = i + 1 == p->n_transforms;
        p->transforms[i]->emit = last ? pump_emit : transform_input;
        p->transforms[i]->emit_ud = last ? (void *)p : (void *)p->transforms[i + 1];
    }
    return ok ? 0 : -1;
}

static void pump_teardown(struct pump *p)
{
    block_free(p->current);
    stage_destroy(&p->input);
    stage_destroy(&p->output);
    EVP_MD_CTX_free(p->sha_in);
    EVP_MD_CTX_free(p->sha_out);
}

/* mb_error_set would latch an empty message as "unknown error" and hide
 * the specific one that follows. */
static void keep_message(struct mb_error *err, const struct mb_error *stage)
{
    if (stage->msg[0])
        mb_error_set(err, "%s", stage->msg);
}

/* Joins the threads; returns 0 when every stage ended well. */
static int pump_run(struct pump *p, struct mb_error *err)
{
    pthread_t reader, writer;
    if (pthread_create(&reader, NULL, reader_main, p) != 0) {
        mb_error_set(err, "cannot start the reader thread");
        return -1;
    }
    if (pthread_create(&writer, NULL, writer_main, p) != 0) {
        pump_abort(p);
        pthread_join(reader, NULL);
        mb_error_set(err, "cannot start the writer thread");
        return -1;
    }
    struct mb_error transform_err = { { 0 } };
    int rc = transform_loop(p, &transform_err);
    if (rc != 0)
        pump_abort(p);
    queue_close(&p->output.full);
    pthread_join(reader, NULL);
    pthread_join(writer, NULL);
    /* An interruption explains everything after it (a dump tool killed by
     * the same Ctrl-C, say); otherwise the most specific message first:
     * the reader's, the sinks', then ours.  A stage that failed without
     * words leaves the word to the next (the producer's verdict, say). */
    if (cancelled(p))
        keep_message(err, &transform_err);
    if (p->reader_failed)
        keep_message(err, &p->reader_err);
    if (p->writer_failed)
        keep_message(err, &p->writer_err);
    if (rc != 0 || p->reader_failed || p->writer_failed) {
        keep_message(err, &transform_err);
        return -1;
    }
    return 0;
}

int mb_pump(struct mb_reader *reader, struct mb_transform **transforms, size_t n_transforms,
            struct mb_pump_sink *sinks, size_t n_sinks, const struct mb_pump_options *options,
            struct mb_pump_result *res, struct mb_error *err)
{
    struct pump *p = calloc(1, sizeof *p);
    memset(res, 0, sizeof *res);
    if (!p) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    *p = (struct pump){ .reader = reader, .transforms = transforms, .n_transforms = n_transforms,
                        .sinks = sinks, .n_sinks = n_sinks, .live_sinks = n_sinks,
                        .options = options, .started = mb_now() };
    int rc = pump_setup(p, err) == 0 ? pump_run(p, err) : -1;
    /* The producer's verdict (a dump tool's exit status) counts even when
     * every byte arrived: partial output of a failed tool is no backup. */
    if (reader->finish && reader->finish(reader, err) != 0)
        rc = -1;
    if (rc == 0) {
        hex_digest(p->sha_in, res->sha256_in);
        hex_digest(p->sha_out, res->sha256_out);
        if (options && (check_digest("input", options->expect_sha256_in, res->sha256_in, err) != 0
                        || check_digest("output", options->expect_sha256_out, res->sha256_out, err) != 0))
            rc = -1;
    }
    if (rc == 0) {
        commit_sinks(p);
        if (all_sinks_failed(p, err))
            rc = -1;
    }
    if (rc != 0)
        abort_sinks(p);
    if (rc != 0 && !err->msg[0])
        mb_error_set(err, "unknown error");
    progress_report(p, 1);
    res->bytes_in = atomic_load(&p->bytes_in);
    res->bytes_out = atomic_load(&p->bytes_out);
    res->read_seconds = p->read_seconds;
    res->transform_seconds = p->transform_seconds;
    res->write_seconds = p->write_seconds;
    res->seconds = mb_now() - p->started;
    pump_teardown(p);
    free(p);
    return rc;
}
