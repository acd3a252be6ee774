/* pump.c — the byte path: reader -> sha256 -> transforms -> sha256 -> sinks. */
#include "pump.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PUMP_BUFFER (1u << 20)

struct pump {
    struct mb_pump_sink *sinks;
    size_t n_sinks;
    size_t live_sinks;
    EVP_MD_CTX *sha_out;
    uint64_t bytes_out;
    double write_seconds;
};

double mb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The end of the transform chain: hash and fan out to every live sink. */
static int pump_fanout(void *ud, const uint8_t *buf, size_t len, struct mb_error *err)
{
    struct pump *p = ud;
    EVP_DigestUpdate(p->sha_out, buf, len);
    p->bytes_out += len;
    double started = mb_now();
    for (size_t i = 0; i < p->n_sinks; i++) {
        struct mb_pump_sink *s = &p->sinks[i];
        if (s->failed)
            continue;
        if (s->writer->write(s->writer, buf, len, &s->err) != 0) {
            s->failed = 1;
            s->writer->abort(s->writer);
            p->live_sinks--;
            continue;
        }
        s->bytes += len;
    }
    p->write_seconds += mb_now() - started;
    if (p->n_sinks && !p->live_sinks) {
        mb_error_set(err, "every destination failed; first: %s: %s", p->sinks[0].label,
                     p->sinks[0].err.msg);
        return -1;
    }
    return 0;
}

static int transform_input(void *ud, const uint8_t *buf, size_t len, struct mb_error *err)
{
    struct mb_transform *t = ud;
    return t->ops->write(t, buf, len, err);
}

static void hex_digest(EVP_MD_CTX *ctx, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx, md, &n);
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
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

static int check_digest(const char *what, const char *expected, const char *actual,
                        struct mb_error *err)
{
    if (!expected || strcmp(expected, actual) == 0)
        return 0;
    mb_error_set(err, "checksum mismatch on the %s: expected sha256 %s, got %s", what,
                 expected, actual);
    return -1;
}

/* Reads everything, pushing it into the head of the chain. */
static int pump_read_all(struct mb_reader *reader, EVP_MD_CTX *sha_in, mb_emit_fn head,
                         void *head_ud, struct mb_pump_result *res, struct mb_error *err)
{
    uint8_t *buf = malloc(PUMP_BUFFER);
    if (!buf) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    int rc = 0;
    for (;;) {
        double started = mb_now();
        ssize_t n = reader->read(reader, buf, PUMP_BUFFER, err);
        res->read_seconds += mb_now() - started;
        if (n <= 0) {
            rc = n < 0 ? -1 : 0;
            break;
        }
        EVP_DigestUpdate(sha_in, buf, (size_t)n);
        res->bytes_in += (uint64_t)n;
        if (head(head_ud, buf, (size_t)n, err) != 0) {
            rc = -1;
            break;
        }
    }
    free(buf);
    return rc;
}

static int finish_chain(struct mb_reader *reader, int *reader_finished, struct mb_transform **t,
                        size_t n, struct mb_error *err)
{
    *reader_finished = 1;
    if (reader->finish && reader->finish(reader, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (t[i]->ops->finish(t[i], err) != 0)
            return -1;
    return 0;
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

int mb_pump(struct mb_reader *reader, struct mb_transform **transforms, size_t n_transforms,
            struct mb_pump_sink *sinks, size_t n_sinks, const struct mb_pump_expect *expect,
            struct mb_pump_result *res, struct mb_error *err)
{
    struct pump p = { sinks, n_sinks, n_sinks, EVP_MD_CTX_new(), 0, 0 };
    EVP_MD_CTX *sha_in = EVP_MD_CTX_new();
    memset(res, 0, sizeof *res);
    double started = mb_now();
    int rc = -1, reader_finished = 0;
    if (!p.sha_out || !sha_in || !EVP_DigestInit_ex(sha_in, EVP_sha256(), NULL)
        || !EVP_DigestInit_ex(p.sha_out, EVP_sha256(), NULL)) {
        mb_error_set(err, "cannot initialise sha256");
        goto done;
    }
    /* Chain: each transform emits into the next; the last one into the sinks. */
    for (size_t i = 0; i < n_transforms; i++) {
        transforms[i]->emit = i + 1 < n_transforms ? transform_input : pump_fanout;
        transforms[i]->emit_ud = i + 1 < n_transforms ? (void *)transforms[i + 1] : (void *)&p;
    }
    mb_emit_fn head = n_transforms ? transform_input : pump_fanout;
    void *head_ud = n_transforms ? (void *)transforms[0] : (void *)&p;

    if (pump_read_all(reader, sha_in, head, head_ud, res, err) != 0
        || finish_chain(reader, &reader_finished, transforms, n_transforms, err) != 0)
        goto done;
    hex_digest(sha_in, res->sha256_in);
    hex_digest(p.sha_out, res->sha256_out);
    if (expect && (check_digest("input", expect->sha256_in, res->sha256_in, err) != 0
                   || check_digest("output", expect->sha256_out, res->sha256_out, err) != 0))
        goto done;
    commit_sinks(&p);
    if (n_sinks && !p.live_sinks) {
        mb_error_set(err, "every destination failed; first: %s: %s", sinks[0].label,
                     sinks[0].err.msg);
        goto done;
    }
    rc = 0;
done:
    if (rc != 0) {
        /* A reader abandoned early still owes us its exit; its message
         * only matters if nothing more specific was said already. */
        if (!reader_finished && reader->finish)
            reader->finish(reader, err);
        abort_sinks(&p);
    }
    res->bytes_out = p.bytes_out;
    res->write_seconds = p.write_seconds;
    res->seconds = mb_now() - started;
    EVP_MD_CTX_free(sha_in);
    EVP_MD_CTX_free(p.sha_out);
    return rc;
}
