/* test_age.c — the age v1 transforms: keys, round trips, tampering,
 * truncation, known-answer vectors, and interop with the age binaries. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "age.h"
#include "check.h"

#define LOW_WF 10 /* fast scrypt for most passphrase tests */
#define CT_CHUNK (65536 + 16)

/* ------------------------------------------------------------------------
 * Plumbing: a growable sink for emitted bytes and a feeder that writes the
 * input in pieces of a given size. */

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static int sink(void *ud, const uint8_t *data, size_t len, struct mb_error *err)
{
    struct buf *b = ud;
    if (len == 0)
        return 0;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            mb_error_set(err, "test sink: out of memory");
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    return 0;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void buf_put(struct buf *b, const void *data, size_t len)
{
    struct mb_error err = {{0}};
    if (sink(b, data, len, &err) != 0)
        abort();
}

/* Runs t over in (piece bytes per write, 0 = all at once), output to out;
 * destroys t.  Returns 0 or -1 with err set. */
static int run(struct mb_transform *t, const uint8_t *in, size_t len, size_t piece,
               struct buf *out, struct mb_error *err)
{
    int rc = 0;
    if (!t)
        return -1;
    t->emit = sink;
    t->emit_ud = out;
    if (piece == 0)
        piece = len ? len : 1;
    for (size_t off = 0; rc == 0 && off < len; off += piece)
        rc = t->ops->write(t, in + off, len - off < piece ? len - off : piece, err);
    if (rc == 0)
        rc = t->ops->finish(t, err);
    t->ops->destroy(t);
    return rc;
}

static int encrypt(const char *const *r, size_t n, const char *pass, const uint8_t *in,
                   size_t len, size_t piece, struct buf *out, struct mb_error *err)
{
    return run(mb_age_encrypt_new(r, n, pass, err), in, len, piece, out, err);
}

static int decrypt(const char *const *ids, size_t n, const char *pass, const uint8_t *in,
                   size_t len, size_t piece, struct buf *out, struct mb_error *err)
{
    return run(mb_age_decrypt_new(ids, n, pass, err), in, len, piece, out, err);
}

static uint8_t *pattern(size_t len, uint32_t seed)
{
    uint8_t *p = malloc(len ? len : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

static int same(const struct buf *b, const uint8_t *p, size_t len)
{
    return b->len == len && (len == 0 || memcmp(b->p, p, len) == 0);
}

/* Offset of the payload nonce: just after the "--- <mac>\n" line. */
static size_t header_len(const struct buf *ct)
{
    for (size_t i = 0; i + 4 < ct->len; i++)
        if ((i == 0 || ct->p[i - 1] == '\n') && memcmp(ct->p + i, "--- ", 4) == 0) {
            const uint8_t *nl = memchr(ct->p + i, '\n', ct->len - i);
            return nl ? (size_t)(nl - ct->p) + 1 : 0;
        }
    return 0;
}

static size_t expected_ct_payload(size_t len)
{
    size_t chunks = len ? (len + 65535) / 65536 : 1;
    return 16 + len + 16 * chunks;
}

static void hex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static struct {
    char sec[3][MB_AGE_SECRET_KEY_SIZE];
    char pub[3][MB_AGE_RECIPIENT_SIZE];
} K;

/* ------------------------------------------------------------------------
 * Bech32 and keys. */

/* From the spec (c2sp.org/age, "The X25519 recipient type"). */
#define SPEC_IDENTITY "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
#define SPEC_RECIPIENT "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"

static void test_bech32(void)
{
    struct mb_error err = {{0}};
    char hrp[32], s[200];
    uint8_t data[64], back[64];
    size_t n;

    n = sizeof data;
    CHECK(mb_age_bech32_decode("A12UEL5L", hrp, sizeof hrp, data, &n, &err) == 0 && n == 0
              && strcmp(hrp, "a") == 0,
          "bech32: BIP173 vector A12UEL5L decodes (empty data)");
    n = sizeof data;
    CHECK(mb_age_bech32_decode("a12uel5l", hrp, sizeof hrp, data, &n, &err) == 0,
          "bech32: lower-case form decodes too");
    memset(&err, 0, sizeof err);
    n = sizeof data;
    CHECK(mb_age_bech32_decode("A12uEL5L", hrp, sizeof hrp, data, &n, &err) != 0
              && strstr(err.msg, "mixed"),
          "bech32: mixed case rejected (%s)", err.msg);
    memset(&err, 0, sizeof err);
    n = sizeof data;
    CHECK(mb_age_bech32_decode("a12uel5m", hrp, sizeof hrp, data, &n, &err) != 0
              && strstr(err.msg, "checksum"),
          "bech32: bad checksum rejected (%s)", err.msg);

    int rt_ok = 1;
    for (size_t len = 0; len <= 40; len++) {
        uint8_t *p = pattern(len, (uint32_t)len);
        memset(&err, 0, sizeof err);
        n = sizeof back;
        rt_ok &= mb_age_bech32_encode("test", p, len, (int)(len & 1), s, sizeof s, &err) == 0
                 && mb_age_bech32_decode(s, hrp, sizeof hrp, back, &n, &err) == 0 && n == len
                 && memcmp(back, p, len) == 0 && strcmp(hrp, "test") == 0;
        free(p);
    }
    CHECK(rt_ok, "bech32: encode/decode round trip for 0..40 bytes, both cases");

    /* Every single-character substitution must break the checksum. */
    int all_rejected = 1;
    const char *alpha = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    for (size_t i = 4; i < strlen(SPEC_RECIPIENT); i++) {
        strcpy(s, SPEC_RECIPIENT);
        s[i] = s[i] == alpha[0] ? alpha[1] : alpha[0];
        uint8_t pub[32];
        memset(&err, 0, sizeof err);
        all_rejected &= mb_age_parse_recipient(s, pub, &err) != 0;
    }
    CHECK(all_rejected, "bech32: every single-character change of a recipient is rejected");

    memset(&err, 0, sizeof err);
    n = 1;
    CHECK(mb_age_bech32_encode("age", data, 32, 0, s, 20, &err) != 0,
          "bech32: too small output buffer reported");
}

static void test_keys(void)
{
    struct mb_error err = {{0}};
    char rec[MB_AGE_RECIPIENT_SIZE];
    uint8_t pub[32], want[32];
    char hrp[32];
    size_t n = sizeof want;

    CHECK(mb_age_identity_to_recipient(SPEC_IDENTITY, rec, sizeof rec, &err) == 0
              && strcmp(rec, SPEC_RECIPIENT) == 0,
          "keys: spec identity gives the spec recipient (%s)", err.msg);
    CHECK(mb_age_bech32_decode(SPEC_IDENTITY, hrp, sizeof hrp, want, &n, &err) == 0 && n == 32
              && want[0] == 0x42 && want[31] == 0x42 && strcmp(hrp, "age-secret-key-") == 0,
          "keys: spec identity is 32 bytes of 0x42");
    CHECK(mb_age_parse_recipient(SPEC_RECIPIENT, pub, &err) == 0, "keys: spec recipient parses");

    int ok = 1;
    for (int i = 0; i < 3; i++) {
        ok &= mb_age_keygen(K.sec[i], sizeof K.sec[i], K.pub[i], sizeof K.pub[i], &err) == 0;
        ok &= strncmp(K.sec[i], "AGE-SECRET-KEY-1", 16) == 0 && strlen(K.sec[i]) == 74;
        ok &= strncmp(K.pub[i], "age1", 4) == 0 && strlen(K.pub[i]) == 62;
        ok &= mb_age_identity_to_recipient(K.sec[i], rec, sizeof rec, &err) == 0
              && strcmp(rec, K.pub[i]) == 0;
        ok &= mb_age_parse_recipient(K.pub[i], pub, &err) == 0;
        for (const char *c = K.sec[i]; *c; c++)
            ok &= !(*c >= 'a' && *c <= 'z');
    }
    CHECK(ok && strcmp(K.sec[0], K.sec[1]) != 0, "keys: keygen gives well-formed distinct pairs");

    memset(&err, 0, sizeof err);
    CHECK(mb_age_parse_recipient(K.sec[0], pub, &err) != 0 && strstr(err.msg, "unsupported")
              && !strstr(err.msg, K.sec[0]),
          "keys: an identity is not a recipient (%s)", err.msg);
    memset(&err, 0, sizeof err);
    CHECK(mb_age_parse_recipient("ssh-ed25519 AAAAC3Nz", pub, &err) != 0
              && strstr(err.msg, "SSH"),
          "keys: SSH recipients rejected clearly (%s)", err.msg);
    memset(&err, 0, sizeof err);
    CHECK(mb_age_identity_to_recipient(K.pub[0], rec, sizeof rec, &err) != 0,
          "keys: a recipient is not an identity (%s)", err.msg);
    char bad[MB_AGE_SECRET_KEY_SIZE];
    strcpy(bad, K.sec[0]);
    bad[30] = bad[30] == 'Q' ? 'P' : 'Q';
    memset(&err, 0, sizeof err);
    CHECK(mb_age_identity_to_recipient(bad, rec, sizeof rec, &err) != 0
              && strstr(err.msg, "checksum") && !strstr(err.msg, "AGE-SECRET"),
          "keys: corrupted identity rejected without echoing it (%s)", err.msg);
    memset(&err, 0, sizeof err);
    CHECK(mb_age_keygen(bad, 20, rec, sizeof rec, &err) != 0, "keys: keygen checks buffer size");
}

/* ------------------------------------------------------------------------
 * Known-answer vectors from the age testkit (C2SP/CCTV, "armor": the PEM
 * body decoded to the binary file).  File key "YELLOW SUBMARINE". */

static const char TK_IDENTITY[] =
    "AGE-SECRET-KEY-1XMWWC06LY3EE5RYTXM9MFLAZ2U56JJJ36S0MYPDRWSVLUL66MV4QX3S7F6";
static const char TK_FILE_HEX[] =
    "6167652d656e6372797074696f6e2e6f72672f76310a2d3e20583235353139205445694630797071722b"
    "6270766371584e7943564a704c374f757750645677504c374b51456246444f43630a456d45434145634b"
    "4e2b6e2f56733953625769562b487530722b453852373744645759796438336e7737550a2d2d2d20566e"
    "2b35346a7169695543452b575a634556593366317371486a6c752f7a314c43512f5437586d377149300a"
    "eecf62c7ce91b433274e68d4f2f9134cb74c5bfef7beaa52c8f0bc0e992c1e8331fb66";
static const char TK_PAYLOAD_SHA256[] =
    "013f54400c82da08037759ada907a8b864e97de81c088a182062c4b5622fd2ab";
/* testkit "hmac_truncated": same style of header, MAC line cut short. */
static const char TK_HMAC_TRUNCATED[] =
    "age-encryption.org/v1\n"
    "-> X25519 TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc\n"
    "hjabGXwSLQ9c3S6Lw2i+S2Tu2fiwQHHslbBN6B41FLE\n"
    "--- WyJp\n";

static void test_vectors(void)
{
    size_t n = (sizeof TK_FILE_HEX - 1) / 2;
    uint8_t *file = malloc(n), want[32], got[32];
    const char *ids[] = {TK_IDENTITY};
    struct mb_error err = {{0}};
    struct buf out = {0};
    unsigned int dl = 0;

    hex(TK_FILE_HEX, file, n);
    hex(TK_PAYLOAD_SHA256, want, 32);
    for (size_t piece = 0; piece <= 1; piece++) {
        memset(&err, 0, sizeof err);
        buf_free(&out);
        int rc = decrypt(ids, 1, NULL, file, n, piece, &out, &err);
        EVP_Digest(out.p ? out.p : (uint8_t *)"", out.len, got, &dl, EVP_sha256(), NULL);
        CHECK(rc == 0 && memcmp(got, want, 32) == 0,
              "vector: testkit 'armor' file decrypts to the expected payload (%s) %s", err.msg,
              piece ? "1 byte at a time" : "in one write");
    }
    /* The same file with one bit of the MAC flipped. */
    file[150] ^= 0x01; /* inside "--- Vn+54j..." */
    memset(&err, 0, sizeof err);
    buf_free(&out);
    CHECK(decrypt(ids, 1, NULL, file, n, 0, &out, &err) != 0 && strstr(err.msg, "MAC"),
          "vector: testkit file with a flipped MAC character fails (%s)", err.msg);
    free(file);

    memset(&err, 0, sizeof err);
    buf_free(&out);
    CHECK(decrypt(ids, 1, NULL, (const uint8_t *)TK_HMAC_TRUNCATED,
                  strlen(TK_HMAC_TRUNCATED), 0, &out, &err) != 0 && strstr(err.msg, "MAC line"),
          "vector: testkit 'hmac_truncated' is a header failure (%s)", err.msg);
    buf_free(&out);
}

/* ------------------------------------------------------------------------
 * Round trips. */

static const size_t SIZES[] = {0, 1, 65535, 65536, 65537, 3 * 1024 * 1024 + 7};
static const size_t PIECES[] = {1, 7, 100000, 0};

static void roundtrip(const char *mode, const char *const *r, size_t nr, const char *pass,
                      const char *const *ids, size_t ni, const char *dpass)
{
    for (size_t i = 0; i < sizeof SIZES / sizeof SIZES[0]; i++) {
        size_t len = SIZES[i];
        size_t pe = PIECES[i % 4], pd = PIECES[(i + 1) % 4];
        uint8_t *p = pattern(len, (uint32_t)(len + nr));
        struct buf ct = {0}, pt = {0};
        struct mb_error err = {{0}};
        int rc = encrypt(r, nr, pass, p, len, pe, &ct, &err);
        size_t hl = header_len(&ct);
        if (rc == 0)
            rc = decrypt(ids, ni, dpass, ct.p, ct.len, pd, &pt, &err);
        CHECK(rc == 0 && same(&pt, p, len) && hl && ct.len - hl == expected_ct_payload(len),
              "roundtrip %s: %zu bytes (enc pieces %zu, dec pieces %zu) %s", mode, len, pe, pd,
              err.msg);
        buf_free(&ct);
        buf_free(&pt);
        free(p);
    }
}

static void test_roundtrips(void)
{
    const char *r1[] = {K.pub[0]}, *r2[] = {K.pub[0], K.pub[1]};
    const char *i0[] = {K.sec[0]}, *i1[] = {K.sec[1]}, *iboth[] = {K.sec[2], K.sec[1]};

    roundtrip("1 recipient", r1, 1, NULL, i0, 1, NULL);
    roundtrip("2 recipients, 2nd identity", r2, 2, NULL, i1, 1, NULL);
    roundtrip("2 recipients, identity list", r2, 2, NULL, iboth, 2, NULL);
    CHECK(mb_age_set_scrypt_work_factor(LOW_WF) == 0, "scrypt: work factor can be lowered");
    roundtrip("passphrase", NULL, 0, "correct horse", NULL, 0, "correct horse");
    CHECK(mb_age_set_scrypt_work_factor(23) != 0 && mb_age_set_scrypt_work_factor(-1) != 0,
          "scrypt: work factor outside 1..22 refused");

    /* Every combination of write sizes on a 3-chunk file. */
    size_t len = 200000;
    uint8_t *p = pattern(len, 99);
    int ok = 1;
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 4; b++) {
            struct buf ct = {0}, pt = {0};
            struct mb_error err = {{0}};
            ok &= encrypt(r1, 1, NULL, p, len, PIECES[a], &ct, &err) == 0
                  && decrypt(i0, 1, NULL, ct.p, ct.len, PIECES[b], &pt, &err) == 0
                  && same(&pt, p, len);
            buf_free(&ct);
            buf_free(&pt);
        }
    CHECK(ok, "roundtrip: 200000 bytes, all 16 combinations of 1/7/100000/whole pieces");
    free(p);

    /* The default work factor, once (about a second). */
    struct buf ct = {0}, pt = {0};
    struct mb_error err = {{0}};
    mb_age_set_scrypt_work_factor(0);
    int rc = encrypt(NULL, 0, "default wf", (const uint8_t *)"hi", 2, 0, &ct, &err);
    CHECK(rc == 0 && ct.len > 30 && memmem(ct.p, ct.len, " 18\n", 4),
          "scrypt: default stanza says work factor 18");
    rc = rc ? rc : decrypt(NULL, 0, "default wf", ct.p, ct.len, 0, &pt, &err);
    CHECK(rc == 0 && same(&pt, (const uint8_t *)"hi", 2),
          "scrypt: decrypt at the default work factor (%s)", err.msg);
    mb_age_set_scrypt_work_factor(LOW_WF);
    buf_free(&ct);
    buf_free(&pt);
}

/* ------------------------------------------------------------------------
 * Tampering, truncation, wrong keys. */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Decrypts a modified copy; passes when it fails with a message holding
 * want (and never a secret). */
static void expect_fail(const char *name, const struct buf *ct, size_t cut, long flip,
                        const void *append, size_t append_len, const char *const *ids,
                        size_t ni, const char *pass, const char *want)
{
    struct buf mod = {0}, pt = {0};
    struct mb_error err = {{0}};
    buf_put(&mod, ct->p, cut);
    if (append_len)
        buf_put(&mod, append, append_len);
    /* In the header, swap a base64 character for another one so that the
     * change reaches the cryptography instead of the syntax checks. */
    if (flip >= 0 && (size_t)flip < header_len(ct) && strchr(B64, mod.p[flip]))
        mod.p[flip] = mod.p[flip] == 'A' ? 'B' : 'A';
    else if (flip >= 0)
        mod.p[flip] ^= 0x01;
    for (size_t piece = 0; piece < 2; piece++) {
        memset(&err, 0, sizeof err);
        buf_free(&pt);
        int rc = decrypt(ids, ni, pass, mod.p, mod.len, piece ? 4093 : 0, &pt, &err);
        int leaks = (pass && strstr(err.msg, pass)) || strstr(err.msg, "AGE-SECRET-KEY");
        CHECK(rc != 0 && strstr(err.msg, want) && !leaks, "%s%s: \"%s\"", name,
              piece ? " (pieces)" : "", err.msg);
    }
    buf_free(&mod);
    buf_free(&pt);
}

/* Offset of the first occurrence of s in ct at or after from. */
static size_t find_from(const struct buf *ct, const char *s, size_t from)
{
    const uint8_t *p = memmem(ct->p + from, ct->len - from, s, strlen(s));
    return p ? (size_t)(p - ct->p) : 0;
}

static size_t find(const struct buf *ct, const char *s)
{
    return find_from(ct, s, 0);
}

static void test_tamper_x25519(void)
{
    const char *r2[] = {K.pub[0], K.pub[1]}, *i0[] = {K.sec[0]}, *i2[] = {K.sec[2]};
    size_t len = 150000; /* chunks: 65536, 65536, 18928 */
    uint8_t *p = pattern(len, 7);
    struct buf ct = {0};
    struct mb_error err = {{0}};

    CHECK(encrypt(r2, 2, NULL, p, len, 0, &ct, &err) == 0, "tamper: setup (%s)", err.msg);
    /* "-> X25519 " + 43 base64 + "\n", then the 43-character body. */
    size_t hl = header_len(&ct), st0 = find(&ct, "-> X25519 ");
    size_t st1 = find_from(&ct, "-> X25519 ", st0 + 1);
    size_t arg0 = st0 + 15, body0 = st0 + 54 + 3, body1 = st1 + 54 + 3;
    size_t mac = hl - 20, nonce = hl + 3;
    size_t c0 = hl + 16, c2 = c0 + 2 * CT_CHUNK;

    expect_fail("tamper: version line", &ct, ct.len, 5, NULL, 0, i0, 1, NULL, "version");
    expect_fail("tamper: first stanza argument", &ct, ct.len, (long)arg0, NULL, 0, i0, 1, NULL,
                "no identity matches");
    expect_fail("tamper: first stanza body", &ct, ct.len, (long)body0, NULL, 0, i0, 1, NULL,
                "no identity matches");
    expect_fail("tamper: second stanza body (first one opens)", &ct, ct.len, (long)body1,
                NULL, 0, i0, 1, NULL, "header MAC mismatch");
    expect_fail("tamper: header MAC", &ct, ct.len, (long)mac, NULL, 0, i0, 1, NULL,
                "header MAC mismatch");
    expect_fail("tamper: payload nonce", &ct, ct.len, (long)nonce, NULL, 0, i0, 1, NULL,
                "chunk 1 failed authentication");
    expect_fail("tamper: first chunk", &ct, ct.len, (long)c0 + 100, NULL, 0, i0, 1, NULL,
                "chunk 1 failed authentication");
    expect_fail("tamper: last chunk tag", &ct, ct.len, (long)ct.len - 1, NULL, 0, i0, 1, NULL,
                "chunk 3 failed authentication");
    expect_fail("tamper: last chunk data", &ct, ct.len, (long)c2 + 5, NULL, 0, i0, 1, NULL,
                "chunk 3 failed authentication");
    expect_fail("truncate: last chunk dropped (chunk boundary)", &ct, c2, -1, NULL, 0, i0, 1,
                NULL, "truncated file (last chunk missing)");
    expect_fail("truncate: two chunks dropped", &ct, c0 + CT_CHUNK, -1, NULL, 0, i0, 1, NULL,
                "truncated file (last chunk missing)");
    expect_fail("truncate: mid-chunk", &ct, ct.len - 100, -1, NULL, 0, i0, 1, NULL,
                "chunk 3 failed authentication");
    expect_fail("truncate: after the nonce", &ct, c0, -1, NULL, 0, i0, 1, NULL,
                "truncated file (last chunk missing)");
    expect_fail("truncate: inside the nonce", &ct, hl + 5, -1, NULL, 0, i0, 1, NULL,
                "nonce missing");
    expect_fail("truncate: inside the header", &ct, hl - 10, -1, NULL, 0, i0, 1, NULL,
                "incomplete header");
    expect_fail("garbage: appended byte", &ct, ct.len, -1, "x", 1, i0, 1, NULL,
                "chunk 3 failed authentication");
    expect_fail("wrong identity", &ct, ct.len, -1, NULL, 0, i2, 1, NULL,
                "no identity matches any recipient stanza");
    expect_fail("passphrase for a recipient file", &ct, ct.len, -1, NULL, 0, NULL, 0, "pw",
                "only a passphrase");
    buf_free(&ct);
    free(p);

    /* A full last chunk followed by garbage is "data after the last chunk". */
    len = 2 * 65536;
    p = pattern(len, 8);
    CHECK(encrypt(r2, 2, NULL, p, len, 0, &ct, &err) == 0, "tamper: setup full chunks");
    expect_fail("garbage: appended after a full last chunk", &ct, ct.len, -1, "garbage!", 8, i0,
                1, NULL, "data after the last chunk");
    expect_fail("truncate: full last chunk dropped", &ct, ct.len - CT_CHUNK, -1, NULL, 0, i0, 1,
                NULL, "truncated file (last chunk missing)");
    buf_free(&ct);
    free(p);
}

/* Replaces the first occurrence of from with to (same header otherwise). */
static void splice(struct buf *out, const struct buf *in, const char *from, const char *to)
{
    size_t at = find(in, from);
    buf_put(out, in->p, at);
    buf_put(out, to, strlen(to));
    buf_put(out, in->p + at + strlen(from), in->len - at - strlen(from));
}

static void test_tamper_scrypt(void)
{
    const char *pass = "s3cret passphrase", *i0[] = {K.sec[0]}, *r0[] = {K.pub[0]};
    struct buf ct = {0}, other = {0}, mod = {0};
    struct mb_error err = {{0}};
    uint8_t *p = pattern(70000, 3);

    CHECK(encrypt(NULL, 0, pass, p, 70000, 0, &ct, &err) == 0, "scrypt tamper: setup");
    CHECK(encrypt(r0, 1, NULL, p, 10, 0, &other, &err) == 0, "scrypt tamper: setup 2");
    size_t hl = header_len(&ct);

    expect_fail("wrong passphrase", &ct, ct.len, -1, NULL, 0, NULL, 0, "wrong horse",
                "age: wrong passphrase");
    expect_fail("identity for a passphrase file", &ct, ct.len, -1, NULL, 0, i0, 1, NULL,
                "no passphrase was given");
    expect_fail("scrypt: tampered MAC", &ct, ct.len, (long)hl - 20, NULL, 0, NULL, 0, pass,
                "header MAC mismatch");
    expect_fail("scrypt: tampered body", &ct, ct.len, (long)find(&ct, " 10\n") + 6, NULL, 0,
                NULL, 0, pass, "wrong passphrase");
    expect_fail("scrypt: tampered last chunk", &ct, ct.len, (long)ct.len - 3, NULL, 0, NULL, 0,
                pass, "chunk 2 failed authentication");

    /* Graft the X25519 stanza of another file in: must be refused. */
    size_t s0 = find(&other, "-> X25519"), s1 = find(&other, "---");
    char *stanza = strndup((const char *)other.p + s0, s1 - s0);
    char *both = malloc(strlen(stanza) + 16);
    sprintf(both, "%s-> scrypt", stanza);
    splice(&mod, &ct, "-> scrypt", both);
    expect_fail("scrypt: mixed with an X25519 stanza", &mod, mod.len, -1, NULL, 0, i0, 1, pass,
                "must be the only stanza");
    buf_free(&mod);
    splice(&mod, &ct, " 10\n", " 23\n");
    expect_fail("scrypt: work factor 23 refused", &mod, mod.len, -1, NULL, 0, NULL, 0, pass,
                "work factor too large");
    buf_free(&mod);
    splice(&mod, &ct, " 10\n", " 010\n");
    expect_fail("scrypt: work factor with a leading zero", &mod, mod.len, -1, NULL, 0, NULL, 0,
                pass, "work factor");
    buf_free(&mod);
    free(stanza);
    free(both);

    /* A low-order ephemeral share makes the shared secret all zero. */
    size_t a0 = find(&other, "-> X25519 ") + 10;
    char share[44];
    memcpy(share, other.p + a0, 43);
    share[43] = '\0';
    splice(&mod, &other, share, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    expect_fail("x25519: all-zero shared secret aborts", &mod, mod.len, -1, NULL, 0, i0, 1, NULL,
                "all-zero shared secret");
    buf_free(&mod);

    /* Unknown stanzas are parsed (64-column body, empty final line) and
     * skipped; the edit itself then breaks the MAC, as it must. */
    splice(&mod, &other, "-> X25519 ",
           "-> example.com/enigma arg\n"
           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n\n-> X25519 ");
    expect_fail("header: unknown stanza is skipped", &mod, mod.len, -1, NULL, 0, i0, 1, NULL,
                "header MAC mismatch");
    buf_free(&mod);
    splice(&mod, &other, "-> X25519 ",
           "-> example.com/enigma arg\n"
           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-> X25519 ");
    expect_fail("header: stanza without its short final line", &mod, mod.len, -1, NULL, 0, i0, 1,
                NULL, "final short line missing");
    buf_free(&mod);
    buf_free(&ct);
    buf_free(&other);
    free(p);
}

static void test_malformed(void)
{
    const char *i0[] = {K.sec[0]};
    struct buf in = {0};
    static const char armor[] = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n"
                                "-----END AGE ENCRYPTED FILE-----\n";

    buf_put(&in, armor, strlen(armor));
    expect_fail("input: armored file", &in, in.len, -1, NULL, 0, i0, 1, NULL, "ASCII-armored");
    buf_free(&in);
    buf_put(&in, "hello world\n", 12);
    expect_fail("input: not an age file", &in, in.len, -1, NULL, 0, i0, 1, NULL,
                "not an age encrypted file");
    buf_free(&in);
    expect_fail("input: empty", &in, 0, -1, NULL, 0, i0, 1, NULL, "empty input");
    static const char no_stanza[] =
        "age-encryption.org/v1\n--- HK2NmOBN9Dpq0Gw6xMCuhFcQlQLvZ/wQUi/2scLG75s\n";
    buf_put(&in, no_stanza, strlen(no_stanza));
    expect_fail("header: no stanzas", &in, in.len, -1, NULL, 0, i0, 1, NULL, "no recipient");
    buf_free(&in);
    static const char crlf[] = "age-encryption.org/v1\r\n";
    buf_put(&in, crlf, strlen(crlf));
    expect_fail("header: CRLF line ending", &in, in.len, -1, NULL, 0, i0, 1, NULL, "version");
    buf_free(&in);
    static const char bad_x[] = "age-encryption.org/v1\n-> X25519 abc\nAAAA\n"
                                "--- HK2NmOBN9Dpq0Gw6xMCuhFcQlQLvZ/wQUi/2scLG75s\n";
    buf_put(&in, bad_x, strlen(bad_x));
    expect_fail("header: malformed X25519 stanza", &in, in.len, -1, NULL, 0, i0, 1, NULL,
                "malformed X25519 stanza");
    buf_free(&in);
    static const char two_spaces[] = "age-encryption.org/v1\n-> X25519  abc\n\n";
    buf_put(&in, two_spaces, strlen(two_spaces));
    expect_fail("header: empty stanza argument", &in, in.len, -1, NULL, 0, i0, 1, NULL,
                "bad stanza argument");
    buf_free(&in);
    static const char padded[] = "age-encryption.org/v1\n-> foo\nAA==\n";
    buf_put(&in, padded, strlen(padded));
    expect_fail("header: base64 padding in a body", &in, in.len, -1, NULL, 0, i0, 1, NULL,
                "not base64");
    buf_free(&in);
}

static int failing_sink(void *ud, const uint8_t *data, size_t len, struct mb_error *err)
{
    (void)ud, (void)data, (void)len;
    mb_error_set(err, "sink: disk full");
    return -1;
}

/* An emit error stops the transform and its message reaches the caller. */
static void test_emit_error(void)
{
    const char *r[] = {K.pub[0]}, *ids[] = {K.sec[0]};
    struct buf ct = {0};
    struct mb_error err = {{0}};
    uint8_t *p = pattern(200000, 5);

    struct mb_transform *t = mb_age_encrypt_new(r, 1, NULL, &err);
    t->emit = failing_sink;
    int rc = t->ops->write(t, p, 200000, &err);
    CHECK(rc != 0 && strcmp(err.msg, "sink: disk full") == 0,
          "emit: encrypt reports the sink's error (%s)", err.msg);
    memset(&err, 0, sizeof err);
    CHECK(t->ops->finish(t, &err) != 0 && strstr(err.msg, "failed"),
          "emit: a failed encryptor stays failed (%s)", err.msg);
    t->ops->destroy(t);

    memset(&err, 0, sizeof err);
    encrypt(r, 1, NULL, p, 200000, 0, &ct, &err);
    t = mb_age_decrypt_new(ids, 1, NULL, &err);
    t->emit = failing_sink;
    rc = t->ops->write(t, ct.p, ct.len, &err);
    CHECK(rc != 0 && strcmp(err.msg, "sink: disk full") == 0,
          "emit: decrypt reports the sink's error (%s)", err.msg);
    t->ops->destroy(t);
    buf_free(&ct);
    free(p);
}

/* A header that never ends is refused once it passes 1 MiB. */
static void test_huge_header(void)
{
    const char *ids[] = {K.sec[0]};
    struct mb_error err = {{0}};
    struct buf out = {0};
    char line[66];
    memset(line, 'A', 64);
    line[64] = '\n';
    struct mb_transform *t = mb_age_decrypt_new(ids, 1, NULL, &err);
    t->emit = sink;
    t->emit_ud = &out;
    static const char start[] = "age-encryption.org/v1\n-> x\n";
    int rc = t->ops->write(t, (const uint8_t *)start, strlen(start), &err);
    for (int i = 0; rc == 0 && i < 20000; i++)
        rc = t->ops->write(t, (const uint8_t *)line, 65, &err);
    CHECK(rc != 0 && strstr(err.msg, "header larger than"), "header: size limit (%s)", err.msg);
    t->ops->destroy(t);
}

static void test_api_errors(void)
{
    struct mb_error err = {{0}};
    const char *r[] = {SPEC_RECIPIENT}, *bad[] = {"age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye"};

    CHECK(!mb_age_encrypt_new(r, 1, "pw", &err) && strstr(err.msg, "got both"),
          "api: recipients and passphrase together refused (%s)", err.msg);
    memset(&err, 0, sizeof err);
    CHECK(!mb_age_encrypt_new(NULL, 0, NULL, &err) && strstr(err.msg, "neither"),
          "api: no recipient and no passphrase refused (%s)", err.msg);
    memset(&err, 0, sizeof err);
    CHECK(!mb_age_encrypt_new(bad, 1, NULL, &err) && strstr(err.msg, "recipient 1 is invalid"),
          "api: a bad recipient is named by position (%s)", err.msg);
    memset(&err, 0, sizeof err);
    CHECK(!mb_age_encrypt_new(NULL, 0, "", &err) && strstr(err.msg, "empty passphrase"),
          "api: empty passphrase refused (%s)", err.msg);
    memset(&err, 0, sizeof err);
    CHECK(!mb_age_decrypt_new(NULL, 0, NULL, &err) && strstr(err.msg, "at least one"),
          "api: decrypt without keys refused (%s)", err.msg);
    memset(&err, 0, sizeof err);
    uint8_t zero[32] = {0};
    char lowpt[MB_AGE_RECIPIENT_SIZE];
    const char *rz[] = {K.pub[0], lowpt};
    mb_age_bech32_encode("age", zero, 32, 0, lowpt, sizeof lowpt, &err);
    CHECK(!mb_age_encrypt_new(rz, 2, NULL, &err) && strstr(err.msg, "recipient 2 is not a usable"),
          "api: a low-order recipient key is refused (%s)", err.msg);
    memset(&err, 0, sizeof err);
    const char *ids[] = {K.sec[0], "AGE-SECRET-KEY-1NOTAKEY"};
    CHECK(!mb_age_decrypt_new(ids, 2, NULL, &err) && strstr(err.msg, "identity 2 is invalid")
              && !strstr(err.msg, "NOTAKEY"),
          "api: a bad identity is named by position only (%s)", err.msg);

    /* Writes after finish, and after a failure, are errors. */
    struct buf out = {0};
    struct mb_transform *t = mb_age_encrypt_new(r, 1, NULL, &err);
    t->emit = sink;
    t->emit_ud = &out;
    memset(&err, 0, sizeof err);
    int ok = t->ops->version == MB_TRANSFORM_OPS_VERSION
             && strcmp(t->ops->name, "age-encrypt") == 0 && t->ops->finish(t, &err) == 0
             && t->ops->write(t, (const uint8_t *)"x", 1, &err) != 0;
    CHECK(ok && strstr(err.msg, "finished"), "api: write after finish refused (%s)", err.msg);
    t->ops->destroy(t);
    buf_free(&out);
}

/* ------------------------------------------------------------------------
 * Interop with the age reference binaries. */

#ifndef AGE_BIN /* overridable to exercise the skip path */
#define AGE_BIN "/usr/bin/age"
#endif
#define AGE_KEYGEN_BIN "/usr/bin/age-keygen"
#define SCRIPT_BIN "/usr/bin/script" /* util-linux: gives age the TTY it wants */

static char tmpdir[64];

static void skip_or_fail(const char *name, const char *why)
{
    const char *ci = getenv("CI");
    if (ci && strcmp(ci, "true") == 0)
        CHECK(0, "%s (%s, and CI=true)", name, why);
    else
        printf("ok - %s # SKIP %s\n", name, why);
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    return (f && fclose(f) == 0 && ok) ? 0 : -1;
}

static int read_file(const char *path, struct buf *b)
{
    FILE *f = fopen(path, "rb");
    uint8_t tmp[65536];
    size_t n;
    if (!f)
        return -1;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_put(b, tmp, n);
    fclose(f);
    return 0;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *path(const char *name)
{
    static char p[4][128];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", tmpdir, name);
    return p[i];
}

/* moonbak encrypts, `age -d -i` decrypts; the key comes from mb_age_keygen. */
static void interop_mb_to_age(void)
{
    const char *r[] = {K.pub[0]};
    char line[100];
    snprintf(line, sizeof line, "%s\n", K.sec[0]);
    write_file(path("mb.key"), line, strlen(line));
    for (size_t len = 0; len <= 200000; len += 200000) {
        uint8_t *p = pattern(len, 11);
        struct buf ct = {0}, pt = {0};
        struct mb_error err = {{0}};
        int rc = encrypt(r, 1, NULL, p, len, 0, &ct, &err);
        rc = rc ? rc : write_file(path("mb.age"), ct.p, ct.len);
        /* Not -o: age creates that file only when it has bytes to write. */
        rc = rc ? rc : sh(AGE_BIN " -d -i %s %s > %s", path("mb.key"), path("mb.age"),
                          path("mb.out"));
        rc = rc ? rc : read_file(path("mb.out"), &pt);
        CHECK(rc == 0 && same(&pt, p, len),
              "interop: mb_age_encrypt (mb_age_keygen recipient) -> age -d -i, %zu bytes", len);
        buf_free(&ct);
        buf_free(&pt);
        free(p);
    }
}

/* Reads "AGE-SECRET-KEY-1..." and the "# public key: " comment. */
static int read_keygen_file(const char *file, char *sec, char *pub)
{
    char line[256];
    FILE *f = fopen(file, "r");
    if (!f)
        return -1;
    sec[0] = pub[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "AGE-SECRET-KEY-1", 16) == 0 && strlen(line) < MB_AGE_SECRET_KEY_SIZE)
            strcpy(sec, line);
        if (strncmp(line, "# public key: ", 14) == 0 && strlen(line + 14) < MB_AGE_RECIPIENT_SIZE)
            strcpy(pub, line + 14);
    }
    fclose(f);
    return sec[0] && pub[0] ? 0 : -1;
}

/* age-keygen key, `age -r` (to it and to an mb_age_keygen key) -> moonbak. */
static void interop_age_to_mb(void)
{
    char sec[MB_AGE_SECRET_KEY_SIZE], pub[MB_AGE_RECIPIENT_SIZE], mine[MB_AGE_RECIPIENT_SIZE];
    struct mb_error err = {{0}};
    size_t len = 200001;
    uint8_t *p = pattern(len, 12);

    int rc = sh(AGE_KEYGEN_BIN " -o %s 2>/dev/null", path("ref.key"));
    rc = rc ? rc : read_keygen_file(path("ref.key"), sec, pub);
    rc = rc ? rc : mb_age_identity_to_recipient(sec, mine, sizeof mine, &err);
    CHECK(rc == 0 && strcmp(mine, pub) == 0,
          "interop: age-keygen identity gives the same recipient here (%s)", err.msg);

    write_file(path("ref.txt"), p, len);
    rc = sh(AGE_BIN " -r %s -r %s -o %s %s", pub, K.pub[1], path("ref.age"), path("ref.txt"));
    const char *ids_ref[] = {sec}, *ids_mb[] = {K.sec[1]};
    for (int which = 0; which < 2; which++) {
        struct buf ct = {0}, pt = {0};
        memset(&err, 0, sizeof err);
        int r2 = rc ? rc : read_file(path("ref.age"), &ct);
        r2 = r2 ? r2 : decrypt(which ? ids_mb : ids_ref, 1, NULL, ct.p, ct.len, 7, &pt, &err);
        CHECK(r2 == 0 && same(&pt, p, len), "interop: age -r -> mb_age_decrypt with %s (%s)",
              which ? "an mb_age_keygen identity" : "an age-keygen identity", err.msg);
        buf_free(&ct);
        buf_free(&pt);
    }

    /* Empty input from age: a single empty final chunk. */
    struct buf ct = {0}, pt = {0};
    write_file(path("empty.txt"), "", 0);
    memset(&err, 0, sizeof err);
    rc = sh(AGE_BIN " -r %s -o %s %s", pub, path("empty.age"), path("empty.txt"));
    rc = rc ? rc : read_file(path("empty.age"), &ct);
    rc = rc ? rc : decrypt(ids_ref, 1, NULL, ct.p, ct.len, 1, &pt, &err);
    CHECK(rc == 0 && pt.len == 0, "interop: age -r of an empty file -> mb_age_decrypt (%s)",
          err.msg);
    buf_free(&ct);

    /* age -a output is refused with a clear message. */
    memset(&err, 0, sizeof err);
    rc = sh(AGE_BIN " -a -r %s -o %s %s", pub, path("ref.pem"), path("empty.txt"));
    rc = rc ? rc : read_file(path("ref.pem"), &ct);
    CHECK(rc == 0 && decrypt(ids_ref, 1, NULL, ct.p, ct.len, 0, &pt, &err) != 0
              && strstr(err.msg, "ASCII-armored"),
          "interop: age -a output is refused clearly (%s)", err.msg);
    buf_free(&ct);
    buf_free(&pt);
    free(p);
}

/* `age -p` only reads passphrases from a terminal: run it under script(1),
 * which gives it a pseudo-terminal fed from our stdin. */
static void interop_passphrase(void)
{
    const char *pass = "interop passphrase";
    char twice[128];
    size_t len = 70000;
    uint8_t *p = pattern(len, 13);
    struct buf ct = {0}, pt = {0};
    struct mb_error err = {{0}};

    if (access(SCRIPT_BIN, X_OK) != 0) {
        skip_or_fail("interop: passphrase both ways", "script(1) not installed");
        free(p);
        return;
    }
    snprintf(twice, sizeof twice, "%s\n%s\n", pass, pass);
    write_file(path("pw1"), twice, strlen(pass) + 1);
    write_file(path("pw2"), twice, strlen(twice));
    write_file(path("pw.txt"), p, len);

    /* moonbak -> age, at a low work factor (age accepts any up to 22). */
    int rc = encrypt(NULL, 0, pass, p, len, 0, &ct, &err);
    rc = rc ? rc : write_file(path("pw_mb.age"), ct.p, ct.len);
    rc = rc ? rc : sh(SCRIPT_BIN " -qec '" AGE_BIN " -d -o %s %s' /dev/null < %s >/dev/null 2>&1",
                      path("pw_mb.out"), path("pw_mb.age"), path("pw1"));
    rc = rc ? rc : read_file(path("pw_mb.out"), &pt);
    CHECK(rc == 0 && same(&pt, p, len), "interop: mb_age_encrypt passphrase -> age -d (%s)",
          err.msg);
    buf_free(&ct);
    buf_free(&pt);

    /* age -p (work factor 18, the default) -> moonbak. */
    memset(&err, 0, sizeof err);
    rc = sh(SCRIPT_BIN " -qec '" AGE_BIN " -p -o %s %s' /dev/null < %s >/dev/null 2>&1",
            path("pw_age.age"), path("pw.txt"), path("pw2"));
    rc = rc ? rc : read_file(path("pw_age.age"), &ct);
    rc = rc ? rc : decrypt(NULL, 0, pass, ct.p, ct.len, 100000, &pt, &err);
    CHECK(rc == 0 && same(&pt, p, len), "interop: age -p -> mb_age_decrypt at work factor 18 (%s)",
          err.msg);
    buf_free(&ct);
    buf_free(&pt);
    free(p);
}

static void test_interop(void)
{
    if (access(AGE_BIN, X_OK) != 0 || access(AGE_KEYGEN_BIN, X_OK) != 0) {
        skip_or_fail("interop: moonbak -> age", "age binaries not installed");
        skip_or_fail("interop: age -> moonbak", "age binaries not installed");
        skip_or_fail("interop: passphrase both ways", "age binaries not installed");
        return;
    }
    strcpy(tmpdir, "/tmp/test_age.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "interop: temporary directory");
        return;
    }
    interop_mb_to_age();
    interop_age_to_mb();
    interop_passphrase();
    sh("rm -rf '%s'", tmpdir);
}

int main(void)
{
    test_bech32();
    test_keys();
    test_vectors();
    test_roundtrips();
    test_tamper_x25519();
    test_tamper_scrypt();
    test_malformed();
    test_api_errors();
    test_emit_error();
    test_huge_header();
    test_interop();
    return check_done();
}
