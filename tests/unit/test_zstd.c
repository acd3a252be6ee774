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

int main(void)
{
    size_t sizes[] = { 0, 1, 65535, 65536, 65537, 3u << 20 };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        CHECK(round_trip(sizes[i], 0, 3, 2), "zstd round trip of %zu bytes with 2 workers", sizes[i]);
        CHECK(round_trip(sizes[i], 7, 1, 0), "zstd round trip of %zu bytes in 7-byte reads, no workers", sizes[i]);
    }
    CHECK(round_trip(5u << 20, 131071, 19, 2), "zstd level 19 round trip in odd read sizes");

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

    free(a); free(b); free(pa); free(pb); free(both); free(bad);
    return check_done();
}
