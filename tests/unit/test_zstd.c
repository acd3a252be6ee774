/* test_zstd.c — zstd transforms: round trips, frame boundaries, damage. */
#include "check.h"
#include "testutil.h"

#include <zstd.h>

static int round_trip(size_t len, size_t chunk, int level, int workers)
{
    uint8_t *data = test_data(len, (unsigned)len);
    struct mb_error err = { { 0 } };
    struct mb_transform *c = mb_zstd_compress_new(level, workers, &err);
    struct mb_transform *d = mb_zstd_decompress_new(0, &err);
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
    struct mb_transform *d = mb_zstd_decompress_new(0, err);
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

/* Decodes packed with a decompressor of `workers` threads, written in two
 * pieces cut at `cut` (straight into the transform, no pump). */
static int decode_cut(const uint8_t *packed, size_t len, size_t cut, int workers,
                      struct mem_writer *plain, struct mb_error *err)
{
    struct mb_transform *d = mb_zstd_decompress_new(workers, err);
    mem_writer_init(plain);
    d->emit = emit_to_mem;
    d->emit_ud = plain;
    int rc = d->ops->write(d, packed, cut, err) == 0
                     && d->ops->write(d, packed + cut, len - cut, err) == 0
                     && d->ops->finish(d, err) == 0
                 ? 0
                 : -1;
    d->ops->destroy(d);
    return rc;
}

/* Does packed, cut at every offset in cuts, decode to want with 2 workers? */
static int decodes_at_every_cut(const uint8_t *packed, size_t len, const size_t *cuts, size_t n,
                                 const uint8_t *want, size_t want_len, struct mb_error *err)
{
    for (size_t i = 0; i < n; i++) {
        struct mem_writer plain;
        size_t cut = cuts[i] > len ? len : cuts[i];
        int ok = decode_cut(packed, len, cut, 2, &plain, err) == 0 && plain.len == want_len
                 && memcmp(plain.data, want, want_len) == 0;
        free(plain.data);
        if (!ok) {
            printf("# cut at %zu of %zu: %s\n", cut, len, err->msg);
            return 0;
        }
    }
    return 1;
}

/* Offsets (every step-th) around each frame's start (inside its magic, header and first
 * block header) and its end, and the stream's ends. */
static size_t frame_cuts(const uint8_t *buf, size_t len, size_t step, size_t *cuts, size_t max)
{
    size_t n = 0, at = 0;
    while (at < len) {
        for (size_t k = 0; k <= 14 && n < max; k += step)
            cuts[n++] = at + k;
        for (size_t k = 1; k <= 3 && n < max && at >= k; k++)
            cuts[n++] = at - k;
        size_t f = ZSTD_findFrameCompressedSize(buf + at, len - at);
        if (ZSTD_isError(f))
            break;
        at += f;
    }
    if (n + 2 <= max) {
        cuts[n++] = len - 1;
        cuts[n++] = len;
    }
    return n;
}

/* A skippable frame of n payload bytes (RFC 8878, 3.1.2). */
static size_t skippable_frame(uint8_t *out, size_t n)
{
    uint32_t magic = 0x184D2A5Au;
    for (int i = 0; i < 4; i++) {
        out[i] = (uint8_t)(magic >> 8 * i);
        out[4 + i] = (uint8_t)(n >> 8 * i);
    }
    memset(out + 8, 0xAB, n);
    return 8 + n;
}

/* Compresses with a moonbak compressor (workers 0: one streamed frame of
 * unknown content size, as the zstd CLI writes from a pipe). */
static uint8_t *moonbak_compress(const uint8_t *data, size_t len, int workers, size_t *out_len)
{
    struct mb_error e = { { 0 } };
    struct mb_transform *c = mb_zstd_compress_new(3, workers, &e);
    struct mem_writer out;
    struct mb_pump_result r;
    int rc = run_pump(data, len, 0, &c, 1, &out, &r, &e);
    c->ops->destroy(c);
    *out_len = rc == 0 ? out.len : 0;
    return out.data;
}

static void test_parallel_decompression(void)
{
    struct mb_error err = { { 0 } };
    CHECK(mb_zstd_decompress_new(MB_ZSTD_MAX_WORKERS + 1, &err) == NULL && strstr(err.msg, "workers"),
          "too many decompression workers are refused with a message (%s)", err.msg);

    /* moonbak's frames (2 MiB each), split at every awkward place */
    size_t len = (4u << 20) + 100, plen, cuts[256];
    uint8_t *data = test_data(len, 11);
    uint8_t *packed = moonbak_compress(data, len, 2, &plen);
    size_t n = frame_cuts(packed, plen, 1, cuts, 256);
    CHECK(n > 50 && decodes_at_every_cut(packed, plen, cuts, n, data, len, &err),
          "3 frames cut inside every magic, frame header, first block header and at every frame end decode with 2 workers (%zu cuts)", n);

    /* the same through the pump, in odd reads, against one thread */
    struct mem_writer one, two;
    struct mb_transform *d0 = mb_zstd_decompress_new(0, &err), *d2 = mb_zstd_decompress_new(2, &err);
    struct mb_pump_result r0, r2;
    int rc = run_pump(packed, plen, 4093, &d0, 1, &one, &r0, &err) == 0
             && run_pump(packed, plen, 4093, &d2, 1, &two, &r2, &err) == 0;
    CHECK(rc && one.len == len && two.len == len && memcmp(one.data, two.data, len) == 0
              && strcmp(r0.sha256_out, r2.sha256_out) == 0,
          "2 workers give the bytes one thread gives, through the pump (%s)", err.msg);
    d0->ops->destroy(d0);
    d2->ops->destroy(d2);
    free(one.data);
    free(two.data);

    /* empty frames and skippable frames between moonbak's */
    {
        size_t el, sl;
        uint8_t *empty = one_shot(data, 0, &el);
        uint8_t skip[64];
        sl = skippable_frame(skip, 20);
        uint8_t *mixed = malloc(plen + 2 * el + sl + 8);
        size_t m = 0;
        memcpy(mixed + m, empty, el), m += el;
        memcpy(mixed + m, skip, sl), m += sl;
        size_t first = ZSTD_findFrameCompressedSize(packed, plen);
        memcpy(mixed + m, packed, first), m += first;
        memcpy(mixed + m, empty, el), m += el;
        m += skippable_frame(mixed + m, 0);
        memcpy(mixed + m, packed + first, plen - first), m += plen - first;
        n = frame_cuts(mixed, m, 2, cuts, 256);
        CHECK(decodes_at_every_cut(mixed, m, cuts, n, data, len, &err),
              "empty and skippable frames among moonbak's decode, cut anywhere near them (%zu cuts)", n);
        free(empty);
        free(mixed);
    }

    /* a frame damaged in the middle of the stream: an error, nothing kept */
    {
        uint8_t *bad = malloc(plen);
        memcpy(bad, packed, plen);
        size_t first = ZSTD_findFrameCompressedSize(bad, plen);
        bad[first + (ZSTD_findFrameCompressedSize(bad + first, plen - first)) / 2] ^= 0x10;
        struct mem_writer plain;
        struct mb_error e = { { 0 } };
        struct mb_transform *d = mb_zstd_decompress_new(2, &e);
        struct mb_pump_result r;
        rc = run_pump(bad, plen, 65536, &d, 1, &plain, &r, &e);
        CHECK(rc != 0 && strstr(e.msg, "zstd: corrupt data") && plain.committed == 0,
              "a damaged second frame fails with 2 workers and commits nothing (%s)", e.msg);
        d->ops->destroy(d);
        free(plain.data);
        free(bad);
    }

    /* truncated: inside the last frame, inside its header, inside a magic */
    {
        size_t first = ZSTD_findFrameCompressedSize(packed, plen);
        size_t ends[] = { plen - 1, plen / 2, first + 2, first + 7, first + 13 };
        for (size_t i = 0; i < sizeof ends / sizeof *ends; i++) {
            struct mem_writer plain;
            struct mb_error e = { { 0 } };
            rc = decode_cut(packed, ends[i], ends[i] / 3, 2, &plain, &e);
            CHECK(rc != 0 && strstr(e.msg, "zstd: truncated"),
                  "a stream cut at %zu of %zu fails with 2 workers (%s)", ends[i], plen, e.msg);
            free(plain.data);
        }
        struct mem_writer plain;
        struct mb_error e = { { 0 } };
        rc = decode_cut(packed, 0, 0, 2, &plain, &e);
        CHECK(rc != 0 && strstr(e.msg, "empty"), "empty input is not a zstd stream, with workers either");
        free(plain.data);
    }

    /* not zstd after a good frame */
    {
        size_t first = ZSTD_findFrameCompressedSize(packed, plen);
        uint8_t *junk = malloc(first + 100);
        memcpy(junk, packed, first);
        memset(junk + first, 'x', 100);
        struct mem_writer plain;
        struct mb_error e = { { 0 } };
        rc = decode_cut(junk, first + 100, first + 50, 2, &plain, &e);
        CHECK(rc != 0 && strstr(e.msg, "zstd"), "bytes that are no frame after a good one fail (%s)", e.msg);
        free(plain.data);
        free(junk);
    }

    /* frames the pool does not take: one 12 MiB frame with its size, one
     * streamed frame of unknown size, between pooled ones, in order */
    {
        size_t big = 9u << 20, bl, ul;
        uint8_t *bigdata = test_data(big, 5);
        uint8_t *bigframe = one_shot(bigdata, big, &bl);
        uint8_t *unknown = moonbak_compress(data, 300000, 0, &ul);
        CHECK(ZSTD_getFrameContentSize(unknown, ul) == ZSTD_CONTENTSIZE_UNKNOWN,
              "moonbak's streaming compressor writes a frame of unknown size (as zstd from a pipe)");
        size_t first = ZSTD_findFrameCompressedSize(packed, plen);
        size_t m = 0, total = first + bl + ul + (plen - first);
        uint8_t *mixed = malloc(total);
        memcpy(mixed + m, packed, first), m += first;
        memcpy(mixed + m, bigframe, bl), m += bl;
        memcpy(mixed + m, unknown, ul), m += ul;
        memcpy(mixed + m, packed + first, plen - first), m += plen - first;
        size_t want_len = (2u << 20) + big + 300000 + (len - (2u << 20));
        uint8_t *want = malloc(want_len);
        size_t w = 0;
        memcpy(want + w, data, 2u << 20), w += 2u << 20;
        memcpy(want + w, bigdata, big), w += big;
        memcpy(want + w, data, 300000), w += 300000;
        memcpy(want + w, data + (2u << 20), len - (2u << 20));
        n = frame_cuts(mixed, m, 6, cuts, 256);
        CHECK(decodes_at_every_cut(mixed, m, cuts, n, want, want_len, &err),
              "a 9 MiB frame and one of unknown size stream between pooled frames, in order (%zu cuts)", n);
        struct mem_writer plain;
        struct mb_error e = { { 0 } };
        rc = decode_cut(bigframe, bl, bl / 2, 2, &plain, &e);
        CHECK(rc == 0 && plain.len == big && memcmp(plain.data, bigdata, big) == 0,
              "one huge frame alone (plain zstd's shape) decodes with workers (%s)", e.msg);
        free(plain.data);
        rc = decode_cut(bigframe, bl - 5, bl / 2, 2, &plain, &e);
        CHECK(rc != 0 && strstr(e.msg, "truncated"), "a huge streamed frame cut short fails (%s)", e.msg);
        free(plain.data);
        free(bigdata);
        free(bigframe);
        free(unknown);
        free(mixed);
        free(want);
    }

    /* destroyed with frames queued: the workers stop, all is freed */
    {
        struct mb_transform *d = mb_zstd_decompress_new(2, &err);
        struct mem_writer sink;
        mem_writer_init(&sink);
        d->emit = emit_to_mem;
        d->emit_ud = &sink;
        rc = d->ops->write(d, packed, plen, &err);
        d->ops->destroy(d);
        CHECK(rc == 0, "a decompressor destroyed with frames in flight returns (the sanitizer build checks the rest)");
        free(sink.data);
    }
    free(packed);
    free(data);
}

int main(void)
{
    test_parallel_decompression();
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
