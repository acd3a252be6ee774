/* test_pump.c — the pump: checksums, fan-out, failures that leave nothing. */
#include "age.h"
#include "check.h"
#include "testutil.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int count_entries(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p && fscanf(p, "%d", &n) != 1)
        n = -1;
    if (p)
        pclose(p);
    return n;
}

/* data -> zstd -> age -> bytes -> age -> unzstd -> data, through two pumps. */
static int chain_round_trip(size_t len, size_t chunk)
{
    char identity[MB_AGE_SECRET_KEY_SIZE], recipient[MB_AGE_RECIPIENT_SIZE];
    struct mb_error err = { { 0 } };
    mb_age_keygen(identity, sizeof identity, recipient, sizeof recipient, &err);
    const char *r[] = { recipient }, *id[] = { identity };
    uint8_t *data = test_data(len, (unsigned)len + 3);
    struct mb_transform *fwd[2] = { mb_zstd_compress_new(3, 2, &err), mb_age_encrypt_new(r, 1, NULL, &err) };
    struct mb_transform *rev[2] = { mb_age_decrypt_new(id, 1, NULL, &err), mb_zstd_decompress_new(0, &err) };
    struct mem_writer stored, plain;
    struct mb_pump_result r1, r2;
    int ok = run_pump(data, len, chunk, fwd, 2, &stored, &r1, &err) == 0
             && run_pump(stored.data, stored.len, chunk, rev, 2, &plain, &r2, &err) == 0
             && plain.len == len && (len == 0 || memcmp(plain.data, data, len) == 0)
             && strcmp(r1.sha256_in, r2.sha256_out) == 0 && strcmp(r1.sha256_out, r2.sha256_in) == 0
             && r1.bytes_out == stored.len && r2.bytes_in == stored.len;
    if (!ok)
        printf("# %s\n", err.msg);
    for (int i = 0; i < 2; i++) {
        fwd[i]->ops->destroy(fwd[i]);
        rev[i]->ops->destroy(rev[i]);
    }
    free(stored.data);
    free(plain.data);
    free(data);
    return ok;
}

int main(void)
{
    size_t sizes[] = { 0, 1, 65535, 65536, 65537, (1u << 20) - 1, 1u << 20, (5u << 20) + 3 };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        CHECK(chain_round_trip(sizes[i], i % 2 ? 4093 : 0),
              "%zu bytes round-trip through zstd and age across the pump's threads", sizes[i]);

    struct mb_error err = { { 0 } };
    struct mem_writer out;
    struct mb_pump_result res;

    int rc = run_pump((const uint8_t *)"abc", 3, 1, NULL, 0, &out, &res, &err);
    CHECK(rc == 0 && strcmp(res.sha256_in, ABC_SHA256) == 0 && strcmp(res.sha256_out, ABC_SHA256) == 0,
          "sha256 of \"abc\" read one byte at a time is the FIPS 180-2 value");
    CHECK(out.committed && out.len == 3 && res.bytes_in == 3 && res.bytes_out == 3,
          "a successful pump commits its sink");
    free(out.data);

    /* Fan-out: one failing sink does not stop the other. */
    uint8_t *data = test_data(1 << 20, 7);
    struct mem_reader r;
    struct mem_writer good, bad;
    mem_reader_init(&r, data, 1 << 20, 65536);
    mem_writer_init(&good);
    mem_writer_init(&bad);
    bad.fail_writes = 1;
    struct mb_pump_sink sinks[2] = { { .writer = &good.base, .label = "good" },
                                     { .writer = &bad.base, .label = "bad" } };
    rc = mb_pump(&r.base, NULL, 0, sinks, 2, NULL, &res, &err);
    CHECK(rc == 0 && good.committed && good.len == (1u << 20) && !bad.committed && bad.aborted
              && sinks[1].failed && strstr(sinks[1].err.msg, "on purpose"),
          "a failing sink is aborted and the others still commit");
    free(good.data);
    free(bad.data);

    /* Every sink failing fails the pump. */
    mem_reader_init(&r, data, 1 << 20, 0);
    mem_writer_init(&bad);
    bad.fail_writes = 1;
    struct mb_pump_sink only_bad = { .writer = &bad.base, .label = "bad" };
    struct mb_error e1 = { { 0 } };
    rc = mb_pump(&r.base, NULL, 0, &only_bad, 1, NULL, &res, &e1);
    CHECK(rc != 0 && strstr(e1.msg, "every destination failed"), "no sink left fails the pump (%s)", e1.msg);
    free(bad.data);

    /* A reader that fails half-way aborts every sink. */
    mem_reader_init(&r, data, 1 << 20, 4096);
    r.fail_after = 1 << 19;
    mem_writer_init(&good);
    struct mb_pump_sink s1 = { .writer = &good.base, .label = "good" };
    struct mb_error e2 = { { 0 } };
    rc = mb_pump(&r.base, NULL, 0, &s1, 1, NULL, &res, &e2);
    CHECK(rc != 0 && !good.committed && good.aborted && strstr(e2.msg, "on purpose"),
          "a failing reader aborts the sinks (%s)", e2.msg);
    free(good.data);

    /* A producer that ends badly (a dump tool exiting 1) fails the pump after all bytes. */
    mem_reader_init(&r, data, 1 << 20, 0);
    r.finish_status = 1;
    mem_writer_init(&good);
    s1 = (struct mb_pump_sink){ .writer = &good.base, .label = "good" };
    struct mb_error e3 = { { 0 } };
    rc = mb_pump(&r.base, NULL, 0, &s1, 1, NULL, &res, &e3);
    CHECK(rc != 0 && !good.committed && good.aborted && strstr(e3.msg, "status 1"),
          "a producer that exits non-zero fails the pump and commits nothing (%s)", e3.msg);
    free(good.data);

    /* A reader that fails without a message (its producer died) leaves the
     * word to the producer's verdict, not to "unknown error". */
    mem_reader_init(&r, data, 1 << 20, 4096);
    r.fail_after = 1 << 19;
    r.fail_silently = 1;
    r.finish_status = 2;
    mem_writer_init(&good);
    s1 = (struct mb_pump_sink){ .writer = &good.base, .label = "good" };
    struct mb_error e7 = { { 0 } };
    rc = mb_pump(&r.base, NULL, 0, &s1, 1, NULL, &res, &e7);
    CHECK(rc != 0 && good.aborted && strstr(e7.msg, "status 2") && !strstr(e7.msg, "unknown error"),
          "a failure without a message does not hide the specific one that follows (%s)", e7.msg);
    free(good.data);

    /* Expected checksums are checked before any commit. */
    mem_reader_init(&r, (const uint8_t *)"abc", 3, 0);
    mem_writer_init(&good);
    s1 = (struct mb_pump_sink){ .writer = &good.base, .label = "good" };
    struct mb_pump_options expect = { .expect_sha256_in = "00" };
    struct mb_error e4 = { { 0 } };
    rc = mb_pump(&r.base, NULL, 0, &s1, 1, &expect, &res, &e4);
    CHECK(rc != 0 && !good.committed && strstr(e4.msg, "checksum mismatch"),
          "a checksum mismatch aborts the sinks (%s)", e4.msg);
    free(good.data);

    /* The file writer: invisible until commit, nothing left after abort. */
    char dir[] = "/tmp/moonbak-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temporary directory");
    char path[256];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    struct mb_error e5 = { { 0 } };
    struct mb_writer *w = mb_file_writer_open(path, &e5);
    CHECK(w && w->write(w, "hello", 5, &e5) == 0 && !exists(path) && count_entries(dir) == 1,
          "a file being written is hidden under a temporary name");
    CHECK(w->commit(w, &e5) == 0 && exists(path) && count_entries(dir) == 1, "commit renames it into place");
    w->close(w);
    snprintf(path, sizeof path, "%s/aborted.bin", dir);
    w = mb_file_writer_open(path, &e5);
    w->write(w, "hello", 5, &e5);
    w->abort(w);
    w->close(w);
    CHECK(!exists(path) && count_entries(dir) == 1, "abort leaves nothing behind");
    w = mb_file_writer_open(path, &e5);
    w->write(w, "x", 1, &e5);
    w->close(w); /* closing an uncommitted writer aborts it */
    CHECK(!exists(path) && count_entries(dir) == 1, "closing without commit leaves nothing behind");

    snprintf(path, sizeof path, "%s/missing-dir/x", dir);
    struct mb_error e6 = { { 0 } };
    CHECK(mb_file_writer_open(path, &e6) == NULL && strstr(e6.msg, "missing-dir/x"),
          "an unwritable target is an error that names it (%s)", e6.msg);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    free(data);
    return check_done();
}
