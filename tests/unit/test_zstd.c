/* test_zstd.c — zstd transforms: round trips, frame boundaries, damage. */
#include "check.h"
#include "testutil.h"

#include <zstd.h>

static int round_trip(size_t len, size_t chunk, int level, int workers)
{
    uint8_t *data = test_data(len, (unsigned)len);
    struct mb_error err = { { 0 } };
    struct mb_transform *c = mb_zstd_compress_new(level, workers, &err);
    struct mb_transform *d = mb_zstd_decompress_new(&err);
    struct mem_writer packed, plain;
    struct mb_pump_result r1, r2;
    int ok = run_pump(data, len, chunk, &c, 1, &packed, &r1, &err) == 0
             && run_pump(packed.data, packed.len, chunk, &d, 1, &plain, &r2, &err) == 0
             && plain.len == len && (len == 0 || memcmp(plain.data, data, len) == 0)
             && strcmp(r1.sha256_in, r2.sha256_out) == 0 && r1.bytes_in == len;
    if (!ok)
        printf("# %s\n", err.msg);
    c->ops->destroy(c);
    d->ops->destroy(d);
    free(packed.data);
    free(plain.data);
    free(data);
    return ok;
}

/* Compresses data into a standalone buffer with libzstd's one-shot API. */
static uint8_t *one_shot(const uint8_t *data, size_t len, size_t *out_len)
{
    size_t cap = ZSTD_compressBound(len);
    uint8_t *out = malloc(cap);
    *out_len = ZSTD_compress(out, cap, data, len, 3);
    return out;
}

static int decode(const uint8_t *packed, size_t len, size_t chunk, struct mem_writer *plain,
                  struct mb_error *err)
{
    struct mb_transform *d = mb_zstd_decompress_new(err);
    struct mb_pump_result r;
    int rc = run_pump(packed, len, chunk, &d, 1, plain, &r, err);
    d->ops->destroy(d);
    return rc;
}

/* The frames of a zstd stream: their count, and each one's content size
 * (sizes[] gets at most max entries).  -1 when the stream does not parse. */
static int frames_of(const uint8_t *buf, size_t len, unsigned long long *sizes, int max)
{
    int n = 0;
    while (len) {
        size_t f = ZSTD_findFrameCompressedSize(buf, len);
        if (ZSTD_isError(f))
            return -1;
        if (n < max)
            sizes[n] = ZSTD_getFrameContentSize(buf, f);
        n++;
        buf += f;
        len -= f;
    }
    return n;
}

/* An emit callback into a mem_writer. */
static int emit_to_mem(void *ud, const uint8_t *buf, size_t len, struct mb_error *err)
{
    return mem_write(ud, buf, len, err);
}

/* An emit callback that fails on its second call, as a full disk would. */
static int failing_emit(void *ud, const uint8_t *buf, size_t len, struct mb_error *err)
{
    (void)buf, (void)len;
    int *calls = ud;
    if (++*calls < 2)
        return 0;
    mb_error_set(err, "disk full");
    return -1;
}

int main(void)
{
    size_t sizes[] = { 0, 1, 65535, 65536, 65537, 3u << 20 };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        CHECK(round_trip(sizes[i], 0, 3, 2), "zstd round trip of %zu bytes with 2 workers", sizes[i]);
        CHECK(round_trip(sizes[i], 7, 1, 0), "zstd round trip of %zu bytes in 7-byte reads, no workers", sizes[i]);
    }
    CHECK(round_trip(5u << 20, 131071, 19, 2), "zstd level 19 round trip in odd read sizes");

    /* With workers the input becomes independent 2 MiB frames, in order,
     * each with its content size; libzstd reads them back as one stream. */
    {
        size_t len = (7u << 20) + 123;
        uint8_t *data = test_data(len, 7);
        struct mb_error pe = { { 0 } };
        struct mb_transform *pc = mb_zstd_compress_new(3, 3, &pe);
        struct mem_writer out;
        struct mb_pump_result r;
        int prc = run_pump(data, len, 65521, &pc, 1, &out, &r, &pe);
        pc->ops->destroy(pc);
        unsigned long long sz[8] = { 0 };
        int nf = prc == 0 ? frames_of(out.data, out.len, sz, 8) : -1;
        CHECK(nf == 4 && sz[0] == 2u << 20 && sz[1] == 2u << 20 && sz[2] == 2u << 20
                  && sz[3] == (1u << 20) + 123,
              "7 MiB with 3 workers: 4 frames of 2, 2, 2 and 1 MiB + 123 bytes, in order (%d frames; %s)",
              nf, pe.msg);
        uint8_t *back = malloc(len);
        size_t got = prc == 0 ? ZSTD_decompress(back, len, out.data, out.len) : 0;
        CHECK(!ZSTD_isError(got) && got == len && memcmp(back, data, len) == 0,
              "libzstd's one-shot decoder reads the concatenated frames as the input");
        free(back);

        /* The pump fills 2 MiB blocks and hands them over (take); written
         * in odd pieces instead, the input is copied into the same chunks,
         * and the frames are byte for byte the same. */
        struct mem_writer copied;
        mem_writer_init(&copied);
        pc = mb_zstd_compress_new(3, 3, &pe);
        CHECK(mb_transform_take_size(pc) == 2u << 20, "the compressor takes whole 2 MiB blocks");
        pc->emit = emit_to_mem;
        pc->emit_ud = &copied;
        prc = 0;
        for (size_t at = 0; prc == 0 && at < len; at += 65521)
            prc = pc->ops->write(pc, data + at, len - at < 65521 ? len - at : 65521, &pe);
        if (prc == 0)
            prc = pc->ops->finish(pc, &pe);
        pc->ops->destroy(pc);
        CHECK(prc == 0 && copied.len == out.len && memcmp(copied.data, out.data, out.len) == 0,
              "blocks taken whole compress to the same bytes as odd-sized copies (%s)", pe.msg);
        free(copied.data);
        free(out.data);

        /* An empty input is one empty frame, so the artifact is still zstd. */
        pc = mb_zstd_compress_new(3, 2, &pe);
        prc = run_pump(data, 0, 0, &pc, 1, &out, &r, &pe);
        pc->ops->destroy(pc);
        CHECK(prc == 0 && frames_of(out.data, out.len, sz, 1) == 1 && sz[0] == 0,
              "empty input with workers makes one empty frame");
        free(out.data);

        /* A failing next stage stops compression with its message. */
        int calls = 0;
        pc = mb_zstd_compress_new(3, 2, &pe);
        pc->emit = failing_emit;
        pc->emit_ud = &calls;
        struct mb_error fe = { { 0 } };
        prc = pc->ops->write(pc, data, len, &fe);
        if (prc == 0)
            prc = pc->ops->finish(pc, &fe);
        CHECK(prc != 0 && strcmp(fe.msg, "disk full") == 0,
              "an error downstream of the workers is returned as is (%s)", fe.msg);
        pc->ops->destroy(pc);

        /* Destroyed mid-stream, with jobs queued: the workers stop and
         * everything is freed (the sanitizer build checks the latter). */
        calls = -1000;
        pc = mb_zstd_compress_new(3, 2, &pe);
        pc->emit = failing_emit;
        pc->emit_ud = &calls;
        prc = pc->ops->write(pc, data, len, &fe);
        pc->ops->destroy(pc);
        CHECK(prc == 0, "a compressor destroyed mid-stream, jobs still queued, returns (the sanitizer build checks the rest)");
        free(data);
    }

    /* Two frames back to back, the second split across reads, decode as one stream. */
    uint8_t *a = test_data(100000, 1), *b = test_data(70000, 2);
    size_t la, lb;
    uint8_t *pa = one_shot(a, 100000, &la), *pb = one_shot(b, 70000, &lb);
    uint8_t *both = malloc(la + lb);
    memcpy(both, pa, la);
    memcpy(both + la, pb, lb);
    struct mem_writer plain;
    struct mb_error err = { { 0 } };
    int rc = decode(both, la + lb, 4093, &plain, &err);
    CHECK(rc == 0 && plain.len == 170000 && memcmp(plain.data, a, 100000) == 0
              && memcmp(plain.data + 100000, b, 70000) == 0,
          "two concatenated frames decode across read boundaries (%s)", err.msg);
    free(plain.data);

    /* Truncation: every cut inside the last frame is caught at finish. */
    size_t cuts[] = { 1, 10, la / 2, la - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        struct mb_error e = { { 0 } };
        rc = decode(pa, cuts[i], 0, &plain, &e);
        CHECK(rc != 0 && strstr(e.msg, "zstd") != NULL && plain.committed == 0,
              "a frame cut to %zu of %zu bytes fails and commits nothing (%s)", cuts[i], la, e.msg);
        free(plain.data);
    }
    {
        struct mb_error e = { { 0 } };
        rc = decode(pa, 0, 0, &plain, &e);
        CHECK(rc != 0 && strstr(e.msg, "empty") != NULL, "empty input is not a zstd stream");
        free(plain.data);
    }

    /* Corruption: moonbak's frames carry a content checksum, so a flipped
     * byte anywhere in the payload is caught. */
    struct mb_error e = { { 0 } };
    struct mb_transform *c = mb_zstd_compress_new(3, 0, &e);
    struct mem_writer packed;
    struct mb_pump_result pr;
    run_pump(a, 100000, 0, &c, 1, &packed, &pr, &e);
    c->ops->destroy(c);
    uint8_t *bad = packed.data;
    bad[packed.len / 2] ^= 0x01;
    rc = decode(bad, packed.len, 0, &plain, &e);
    CHECK(rc != 0 && plain.committed == 0, "a flipped byte is detected (%s)", e.msg);
    free(plain.data);

    struct mb_error lv = { { 0 } };
    CHECK(mb_zstd_compress_new(99, 0, &lv) == NULL && strstr(lv.msg, "out of range"),
          "an out-of-range level is refused with a message (%s)", lv.msg);
    struct mb_error wk = { { 0 } };
    CHECK(mb_zstd_compress_new(3, MB_ZSTD_MAX_WORKERS + 1, &wk) == NULL && strstr(wk.msg, "workers"),
          "too many workers are refused with a message (%s)", wk.msg);

    free(a); free(b); free(pa); free(pb); free(both); free(bad);
    return check_done();
}
