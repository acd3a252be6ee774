/* age.c — age v1 (https://age-encryption.org/v1) on OpenSSL 3.
 *
 * Layout of an age file:
 *
 *   age-encryption.org/v1\n
 *   -> X25519 <ephemeral share>\n        one or more stanzas, each wrapping
 *   <base64 body, 64 columns>\n          the 16-byte file key
 *   --- <base64 HMAC of the header up to and including "---">\n
 *   <16-byte nonce><chunk 0><chunk 1>...  ChaCha20-Poly1305, 64 KiB plaintext
 *                                         per chunk, last one flagged
 *
 * The decryptor is a push parser: write() may split the input anywhere, so
 * the header is collected line by line and the payload chunk by chunk.  A
 * full chunk is held back until the next byte arrives, because only then do
 * we know it is not the last one (the flag is part of the nonce, so it can
 * only be checked by trying). */
#include "age.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#define FILE_KEY_LEN 16
#define TAG_LEN 16
#define NONCE_LEN 16                  /* payload nonce, before the first chunk */
#define CHUNK_LEN 65536               /* plaintext bytes per chunk */
#define CT_CHUNK_LEN (CHUNK_LEN + TAG_LEN)
#define MAX_HEADER_LEN (1024 * 1024)  /* a header larger than this is hostile */
#define MAC_LINE_B64 43               /* base64 of a 32-byte HMAC */

#define VERSION_PREFIX "age-encryption.org/"
#define VERSION_LINE "age-encryption.org/v1"
#define X25519_INFO "age-encryption.org/v1/X25519"
#define SCRYPT_LABEL "age-encryption.org/v1/scrypt"
#define HRP_SECRET "age-secret-key-"
#define HRP_PUBLIC "age"

static int scrypt_work_factor = MB_AGE_SCRYPT_DEFAULT_WORK_FACTOR;

/* Header assembly and parsing grow struct mb_buf (buf.h), whose bytes are
 * char; the crypto here speaks uint8_t. */
static const uint8_t *bytes_of(const struct mb_buf *b)
{
    return (const uint8_t *)b->data;
}

/* ------------------------------------------------------------------------
 * Unpadded, canonical base64 (RFC 4648 section 4, no '='). */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Appends the encoding of in to b. */
static void b64_put(struct mb_buf *b, const uint8_t *in, size_t n)
{
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t k = n - i >= 3 ? 3 : n - i;
        if (k > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (k > 2)
            v |= in[i + 2];
        for (int j = 0; j < 4; j++)
            q[j] = B64[(v >> (18 - 6 * j)) & 63];
        mb_buf_add(b, q, k + 1);
    }
}

/* Decodes exactly; rejects padding, stray characters and non-zero unused
 * bits (non-canonical encodings would make the header malleable).
 * Returns the decoded length, or -1. */
static long b64_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t o = 0;
    if (n % 4 == 1 || n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > cap)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        size_t k = n - i >= 4 ? 4 : n - i;
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int c = j < k ? b64_val(in[i + j]) : 0;
            if (c < 0)
                return -1;
            v = v << 6 | (uint32_t)c;
        }
        if ((k == 2 && (v & 0xffff)) || (k == 3 && (v & 0xff)))
            return -1; /* non-canonical: unused bits set */
        for (size_t j = 0; j + 1 < k; j++)
            out[o++] = (uint8_t)(v >> (16 - 8 * j));
    }
    return (long)o;
}

/* ------------------------------------------------------------------------
 * Bech32 (BIP 173), without the 90-character limit, as age requires. */

static const char B32[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t b32_step(uint32_t chk, uint8_t v)
{
    static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (int i = 0; i < 5; i++)
        if ((top >> i) & 1)
            chk ^= gen[i];
    return chk;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* Checksum state after the "expanded" HRP; always over the lower case. */
static uint32_t b32_hrp(const char *hrp, size_t n)
{
    uint32_t chk = 1;
    for (size_t i = 0; i < n; i++)
        chk = b32_step(chk, (uint8_t)lower(hrp[i]) >> 5);
    chk = b32_step(chk, 0);
    for (size_t i = 0; i < n; i++)
        chk = b32_step(chk, (uint8_t)lower(hrp[i]) & 31);
    return chk;
}

int mb_age_bech32_encode(const char *hrp, const uint8_t *data, size_t len, int up, char *out,
                         size_t outlen, struct mb_error *err)
{
    size_t hn = strlen(hrp), groups = (len * 8 + 4) / 5;
    size_t o = 0, bits = 0;
    uint32_t acc = 0, chk = b32_hrp(hrp, hn);

    if (hn == 0 || hn + 1 + groups + 6 >= outlen) {
        mb_error_set(err, "bech32: %s", hn ? "output buffer too small" : "empty prefix");
        return -1;
    }
    for (size_t i = 0; i < hn; i++)
        out[o++] = up ? upper(hrp[i]) : lower(hrp[i]);
    out[o++] = '1';
    for (size_t i = 0; i < len || bits > 0;) {
        if (bits < 5 && i < len) {
            acc = (acc << 8 | data[i++]) & 0xfff;
            bits += 8;
        }
        uint8_t g = bits >= 5 ? (uint8_t)((acc >> (bits - 5)) & 31)
                              : (uint8_t)((acc << (5 - bits)) & 31); /* zero padding */
        bits = bits >= 5 ? bits - 5 : 0;
        chk = b32_step(chk, g);
        out[o++] = up ? upper(B32[g]) : B32[g];
    }
    for (int i = 0; i < 6; i++)
        chk = b32_step(chk, 0);
    chk ^= 1;
    for (int i = 0; i < 6; i++) {
        char c = B32[(chk >> (5 * (5 - i))) & 31];
        out[o++] = up ? upper(c) : c;
    }
    out[o] = '\0';
    return 0;
}

static int b32_val(char c)
{
    const char *p = strchr(B32, lower(c));
    return c && p ? (int)(p - B32) : -1;
}

/* Checks case and characters; returns the position of the separator, or
 * NULL with *why set.  Never quotes the input: it may be a secret key. */
static const char *b32_check_chars(const char *s, size_t n, const char **why)
{
    int has_lo = 0, has_up = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 33 || s[i] > 126) {
            *why = "invalid character";
            return NULL;
        }
        has_lo |= s[i] >= 'a' && s[i] <= 'z';
        has_up |= s[i] >= 'A' && s[i] <= 'Z';
    }
    if (has_lo && has_up) {
        *why = "mixed upper and lower case";
        return NULL;
    }
    const char *sep = strrchr(s, '1');
    if (!sep || sep == s || (size_t)(s + n - sep) < 7) {
        *why = "missing separator or too short";
        return NULL;
    }
    return sep;
}

/* 5-bit groups to bytes; the padding must be short and all zero. */
static const char *b32_to_bytes(const char *p, size_t n, uint8_t *data, size_t *data_len)
{
    uint32_t acc = 0;
    size_t bits = 0, o = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 5 | (uint32_t)b32_val(p[i])) & 0xfff;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (o == *data_len)
                return "data too long";
            data[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits >= 5 || (acc & ((1u << bits) - 1)))
        return "invalid padding";
    *data_len = o;
    return NULL;
}

static const char *b32_decode(const char *s, char *hrp, size_t hrp_cap, uint8_t *data,
                              size_t *data_len)
{
    const char *why = NULL;
    size_t n = strlen(s);
    const char *sep = b32_check_chars(s, n, &why);
    if (!sep)
        return why;
    size_t hn = (size_t)(sep - s), dn = n - hn - 1;
    if (hn >= hrp_cap)
        return "prefix too long";
    uint32_t chk = b32_hrp(s, hn);
    for (size_t i = 0; i < dn; i++) {
        int v = b32_val(sep[1 + i]);
        if (v < 0)
            return "invalid character";
        chk = b32_step(chk, (uint8_t)v);
    }
    if (chk != 1)
        return "checksum mismatch";
    for (size_t i = 0; i < hn; i++)
        hrp[i] = lower(s[i]);
    hrp[hn] = '\0';
    return b32_to_bytes(sep + 1, dn - 6, data, data_len);
}

int mb_age_bech32_decode(const char *s, char *hrp, size_t hrp_cap, uint8_t *data,
                         size_t *data_len, struct mb_error *err)
{
    const char *why = b32_decode(s, hrp, hrp_cap, data, data_len);
    if (why)
        mb_error_set(err, "bech32: %s", why);
    return why ? -1 : 0;
}

/* ------------------------------------------------------------------------
 * Crypto primitives (OpenSSL 3 EVP).  All return 0 or -1. */

/* OpenSSL's parameter and ctrl APIs take void * for buffers they only read. */
static void *unconst(const void *p)
{
    return (void *)(uintptr_t)p;
}

static int hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                       const char *info, uint8_t out[32])
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[5], *p = params;
    int ok;

    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, unconst("SHA256"), 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, unconst(ikm), ikm_len);
    if (salt_len) /* an absent salt is HashLen zeros, as RFC 5869 wants */
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, unconst(salt), salt_len);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, unconst(info), strlen(info));
    *p = OSSL_PARAM_construct_end();
    ok = ctx && EVP_KDF_derive(ctx, out, 32, params) == 1;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok ? 0 : -1;
}

static int hmac_sha256(const uint8_t key[32], const uint8_t *data, size_t len, uint8_t out[32])
{
    size_t out_len = 0;
    return EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32, data, len, out, 32,
                     &out_len) && out_len == 32
               ? 0
               : -1;
}

/* ChaCha20-Poly1305 without AAD.  Sealing writes len + TAG_LEN bytes;
 * opening takes ciphertext||tag (len >= TAG_LEN) and writes len - TAG_LEN. */
static int aead(EVP_CIPHER_CTX *ctx, int enc, const uint8_t key[32], const uint8_t nonce[12],
                const uint8_t *in, size_t len, uint8_t *out)
{
    size_t body = enc ? len : len - TAG_LEN;
    int n = 0, fin = 0;

    if (!enc && len < TAG_LEN)
        return -1;
    if (EVP_CipherInit_ex2(ctx, EVP_chacha20_poly1305(), key, nonce, enc, NULL) != 1)
        return -1;
    if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, unconst(in + body)) != 1)
        return -1;
    if (body && EVP_CipherUpdate(ctx, out, &n, in, (int)body) != 1)
        return -1;
    if (EVP_CipherFinal_ex(ctx, out + n, &fin) != 1)
        return -1;
    if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + body) != 1)
        return -1;
    return 0;
}

/* One-shot AEAD with the all-zero nonce the stanzas use (each wrap key is
 * used exactly once, so a fixed nonce is safe). */
static int aead_zero_nonce(int enc, const uint8_t key[32], const uint8_t *in, size_t len,
                           uint8_t *out)
{
    static const uint8_t zero[12];
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int rc = ctx ? aead(ctx, enc, key, zero, in, len, out) : -1;
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* out = X25519(scalar, point), or the public key when point is NULL.
 * OpenSSL fails the derivation when the result is all zero (low-order
 * point); age requires aborting then, so callers treat -1 as fatal. */
static int x25519(const uint8_t scalar[32], const uint8_t *point, uint8_t out[32])
{
    EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, scalar, 32);
    EVP_PKEY *peer = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    size_t len = 32;
    int ok = 0;

    if (priv && !point) {
        ok = EVP_PKEY_get_raw_public_key(priv, out, &len) == 1;
    } else if (priv) {
        peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, point, 32);
        ctx = peer ? EVP_PKEY_CTX_new(priv, NULL) : NULL;
        ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1
             && EVP_PKEY_derive(ctx, out, &len) == 1;
    }
    if (ok) {
        static const uint8_t zero[32];
        ok = len == 32 && CRYPTO_memcmp(out, zero, 32) != 0;
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(priv); /* frees (and clears) its copy of the scalar */
    return ok ? 0 : -1;
}

static int scrypt_key(const char *pass, const uint8_t salt[16], int log2n, uint8_t out[32])
{
    uint8_t s[sizeof SCRYPT_LABEL - 1 + 16];
    uint64_t n = (uint64_t)1 << log2n;
    uint64_t maxmem = 128 * 8 * (n + 4) + (1u << 20); /* r = 8: V and B with slack */

    memcpy(s, SCRYPT_LABEL, sizeof SCRYPT_LABEL - 1);
    memcpy(s + sizeof SCRYPT_LABEL - 1, salt, 16);
    return EVP_PBE_scrypt(pass, strlen(pass), s, sizeof s, n, 8, 1, maxmem, out, 32) == 1 ? 0
                                                                                            : -1;
}

/* ------------------------------------------------------------------------
 * Keys. */

static int parse_identity(const char *s, uint8_t sk[32], size_t index, struct mb_error *err)
{
    char hrp[32];
    size_t len = 32;
    const char *why = b32_decode(s, hrp, sizeof hrp, sk, &len);

    if (!why && strcmp(hrp, HRP_SECRET) != 0)
        why = "not an AGE-SECRET-KEY-1... X25519 identity";
    else if (!why && len != 32)
        why = "wrong key length";
    if (why) {
        OPENSSL_cleanse(sk, 32);
        mb_error_set(err, "age: identity %zu is invalid (%s)", index + 1, why);
        return -1;
    }
    return 0;
}

static int parse_recipient(const char *s, uint8_t pub[32], const char *what,
                           struct mb_error *err)
{
    char hrp[64];
    size_t len = 32;
    const char *why = NULL;

    if (strncmp(s, "ssh-", 4) == 0)
        why = "SSH keys are not supported, use an age1... X25519 recipient";
    else
        why = b32_decode(s, hrp, sizeof hrp, pub, &len);
    if (!why && strcmp(hrp, HRP_PUBLIC) != 0)
        why = "unsupported recipient type, only X25519 age1... recipients are supported";
    else if (!why && len != 32)
        why = "wrong key length";
    if (why) {
        mb_error_set(err, "age: %s is invalid (%s)", what, why);
        return -1;
    }
    return 0;
}

int mb_age_parse_recipient(const char *s, uint8_t pub[32], struct mb_error *err)
{
    return parse_recipient(s, pub, "recipient", err);
}

static int encode_pair(const uint8_t sk[32], char *secret, size_t secret_len, char *pub_out,
                       size_t pub_len, struct mb_error *err)
{
    uint8_t pk[32];
    if (x25519(sk, NULL, pk) != 0) {
        mb_error_set(err, "age: X25519 public key computation failed");
        return -1;
    }
    if (secret && mb_age_bech32_encode(HRP_SECRET, sk, 32, 1, secret, secret_len, err) != 0)
        return -1;
    return mb_age_bech32_encode(HRP_PUBLIC, pk, 32, 0, pub_out, pub_len, err);
}

int mb_age_keygen(char *secret, size_t secret_len, char *public_key, size_t public_len,
                  struct mb_error *err)
{
    uint8_t sk[32];
    int rc = -1;

    if (RAND_priv_bytes(sk, sizeof sk) != 1)
        mb_error_set(err, "age: random number generator failed");
    else
        rc = encode_pair(sk, secret, secret_len, public_key, public_len, err);
    OPENSSL_cleanse(sk, sizeof sk);
    if (rc != 0 && secret && secret_len)
        OPENSSL_cleanse(secret, secret_len);
    return rc;
}

int mb_age_identity_to_recipient(const char *identity, char *out, size_t outlen,
                                 struct mb_error *err)
{
    uint8_t sk[32];
    int rc = parse_identity(identity, sk, 0, err);
    if (rc == 0)
        rc = encode_pair(sk, NULL, 0, out, outlen, err);
    OPENSSL_cleanse(sk, sizeof sk);
    return rc;
}

int mb_age_set_scrypt_work_factor(int log2n)
{
    if (log2n == 0)
        log2n = MB_AGE_SCRYPT_DEFAULT_WORK_FACTOR;
    if (log2n < 1 || log2n > MB_AGE_SCRYPT_MAX_WORK_FACTOR)
        return -1;
    scrypt_work_factor = log2n;
    return 0;
}

/* ------------------------------------------------------------------------
 * Shared by both directions. */

static int emit(struct mb_transform *t, const uint8_t *buf, size_t len, struct mb_error *err)
{
    if (len && !t->emit) {
        mb_error_set(err, "age: transform output is not connected");
        return -1;
    }
    return mb_transform_emit(t, buf, len, err);
}

/* The 12-byte STREAM nonce: 11-byte big-endian counter, then the flag. */
static void chunk_nonce(uint64_t counter, int last, uint8_t nonce[12])
{
    memset(nonce, 0, 12);
    for (int i = 0; i < 8; i++)
        nonce[10 - i] = (uint8_t)(counter >> (8 * i));
    nonce[11] = last ? 1 : 0;
}

/* ------------------------------------------------------------------------
 * Encryption. */

struct age_enc {
    struct mb_transform base; /* first: callers hold a struct mb_transform * */
    EVP_CIPHER_CTX *cctx;
    uint8_t payload_key[32];
    struct mb_buf header;       /* header text + payload nonce, sent before chunk 0 */
    int header_sent, failed, finished;
    uint64_t counter;
    size_t buf_len;
    uint8_t buf[CHUNK_LEN];   /* plaintext of the chunk being filled */
    uint8_t out[CT_CHUNK_LEN];
};

/* Writes "-> args\n" and the body wrapped at 64 columns; the last line is
 * always shorter than 64, so an exact multiple gets an empty line. */
static void put_stanza(struct mb_buf *h, const char *args, const uint8_t *body, size_t len)
{
    struct mb_buf b64 = {0};
    size_t off = 0;

    mb_buf_add_str(h, "-> ");
    mb_buf_add_str(h, args);
    mb_buf_add_str(h, "\n");
    b64_put(&b64, body, len);
    h->failed |= b64.failed;
    for (;;) {
        size_t n = b64.len - off > 64 ? 64 : b64.len - off;
        mb_buf_add(h, b64.data + off, n);
        mb_buf_add_str(h, "\n");
        off += n;
        if (n < 64)
            break;
    }
    mb_buf_free(&b64);
}

/* Base64 of a small value as a C string, for stanza arguments. */
static void b64_str(const uint8_t *in, size_t n, char *out)
{
    struct mb_buf b = {0};
    b64_put(&b, in, n);
    if (!b.failed)
        memcpy(out, b.data, b.len);
    out[b.failed ? 0 : b.len] = '\0';
    mb_buf_free(&b);
}

static int stanza_x25519(struct mb_buf *h, const uint8_t fk[FILE_KEY_LEN], const uint8_t pk[32])
{
    uint8_t eph[32], share[32], shared[32], salt[64], wrap[32], body[FILE_KEY_LEN + TAG_LEN];
    char args[7 + 44 + 1] = "X25519 ";
    int rc = -1;

    if (RAND_priv_bytes(eph, sizeof eph) != 1 || x25519(eph, NULL, share) != 0)
        rc = -1;
    else if (x25519(eph, pk, shared) != 0)
        rc = -2; /* low-order recipient key: the shared secret is zero */
    else {
        memcpy(salt, share, 32);
        memcpy(salt + 32, pk, 32);
        if (hkdf_sha256(shared, 32, salt, 64, X25519_INFO, wrap) == 0
            && aead_zero_nonce(1, wrap, fk, FILE_KEY_LEN, body) == 0) {
            b64_str(share, 32, args + 7);
            put_stanza(h, args, body, sizeof body);
            rc = 0;
        }
    }
    OPENSSL_cleanse(eph, sizeof eph);
    OPENSSL_cleanse(shared, sizeof shared);
    OPENSSL_cleanse(wrap, sizeof wrap);
    return rc;
}

static int stanza_scrypt(struct mb_buf *h, const uint8_t fk[FILE_KEY_LEN], const char *pass)
{
    uint8_t salt[16], wrap[32], body[FILE_KEY_LEN + TAG_LEN];
    char args[64];
    int rc = -1, wf = scrypt_work_factor;

    if (RAND_bytes(salt, sizeof salt) == 1 && scrypt_key(pass, salt, wf, wrap) == 0
        && aead_zero_nonce(1, wrap, fk, FILE_KEY_LEN, body) == 0) {
        char s[32];
        b64_str(salt, sizeof salt, s);
        snprintf(args, sizeof args, "scrypt %s %d", s, wf);
        put_stanza(h, args, body, sizeof body);
        rc = 0;
    }
    OPENSSL_cleanse(wrap, sizeof wrap);
    return rc;
}

/* "--- <mac>\n", the nonce, and the payload key. */
static int finish_header(struct age_enc *e, const uint8_t fk[FILE_KEY_LEN])
{
    uint8_t mac_key[32], mac[32], nonce[NONCE_LEN];
    int rc = -1;

    mb_buf_add_str(&e->header, "---");
    if (!e->header.failed && hkdf_sha256(fk, FILE_KEY_LEN, NULL, 0, "header", mac_key) == 0
        && hmac_sha256(mac_key, bytes_of(&e->header), e->header.len, mac) == 0
        && RAND_bytes(nonce, sizeof nonce) == 1
        && hkdf_sha256(fk, FILE_KEY_LEN, nonce, sizeof nonce, "payload", e->payload_key) == 0) {
        mb_buf_add_str(&e->header, " ");
        b64_put(&e->header, mac, sizeof mac);
        mb_buf_add_str(&e->header, "\n");
        mb_buf_add(&e->header, nonce, sizeof nonce);
        rc = e->header.failed ? -1 : 0;
    }
    OPENSSL_cleanse(mac_key, sizeof mac_key);
    return rc;
}

static int build_header(struct age_enc *e, const uint8_t (*pks)[32], size_t n, const char *pass,
                        struct mb_error *err)
{
    uint8_t fk[FILE_KEY_LEN];
    int rc = RAND_priv_bytes(fk, sizeof fk) == 1 ? 0 : -1;

    mb_buf_add_str(&e->header, VERSION_LINE "\n");
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((rc = stanza_x25519(&e->header, fk, pks[i])) == -2)
            mb_error_set(err, "age: recipient %zu is not a usable X25519 key (low-order point)",
                         i + 1);
    if (rc == 0 && pass)
        rc = stanza_scrypt(&e->header, fk, pass);
    if (rc == 0)
        rc = finish_header(e, fk);
    OPENSSL_cleanse(fk, sizeof fk);
    if (rc != 0)
        mb_error_set(err, "age: building the header failed (crypto or memory error)");
    return rc;
}

static int enc_fail(struct age_enc *e)
{
    e->failed = 1;
    return -1;
}

static int enc_send_header(struct age_enc *e, struct mb_error *err)
{
    if (e->header_sent)
        return 0;
    e->header_sent = 1;
    return emit(&e->base, bytes_of(&e->header), e->header.len, err);
}

static int enc_seal(struct age_enc *e, int last, struct mb_error *err)
{
    uint8_t nonce[12];

    chunk_nonce(e->counter, last, nonce);
    if (e->counter == UINT64_MAX
        || aead(e->cctx, 1, e->payload_key, nonce, e->buf, e->buf_len, e->out) != 0) {
        mb_error_set(err, "age: encrypting payload chunk %llu failed",
                      (unsigned long long)e->counter + 1);
        return -1;
    }
    e->counter++;
    size_t n = e->buf_len + TAG_LEN;
    e->buf_len = 0;
    return emit(&e->base, e->out, n, err);
}

static int enc_check_usable(struct age_enc *e, struct mb_error *err)
{
    if (e->failed || e->finished) {
        mb_error_set(err, "age: encryption stream already %s", e->failed ? "failed" : "finished");
        return -1;
    }
    return 0;
}

static int enc_write(struct mb_transform *t, const uint8_t *buf, size_t len,
                     struct mb_error *err)
{
    struct age_enc *e = (struct age_enc *)t;

    if (enc_check_usable(e, err) != 0 || enc_send_header(e, err) != 0)
        return enc_fail(e);
    while (len) {
        /* A full chunk is sealed only now that more data proves it is not
         * the last: the final chunk must carry the flag. */
        if (e->buf_len == CHUNK_LEN && enc_seal(e, 0, err) != 0)
            return enc_fail(e);
        size_t n = CHUNK_LEN - e->buf_len < len ? CHUNK_LEN - e->buf_len : len;
        memcpy(e->buf + e->buf_len, buf, n);
        e->buf_len += n;
        buf += n;
        len -= n;
    }
    return 0;
}

static int enc_finish(struct mb_transform *t, struct mb_error *err)
{
    struct age_enc *e = (struct age_enc *)t;

    if (enc_check_usable(e, err) != 0 || enc_send_header(e, err) != 0)
        return enc_fail(e);
    /* Possibly empty: an empty payload is a single empty final chunk. */
    if (enc_seal(e, 1, err) != 0)
        return enc_fail(e);
    e->finished = 1;
    return 0;
}

static void enc_destroy(struct mb_transform *t)
{
    struct age_enc *e = (struct age_enc *)t;
    if (!e)
        return;
    EVP_CIPHER_CTX_free(e->cctx);
    mb_buf_free(&e->header);
    OPENSSL_clear_free(e, sizeof *e); /* wipes the payload key and plaintext */
}

static const struct mb_transform_ops enc_ops = {
    MB_TRANSFORM_OPS_VERSION, "age-encrypt", enc_write, enc_finish, enc_destroy, NULL,
};

/* Parses the recipients into a fresh array (public keys: no wiping). */
static uint8_t (*parse_recipients(const char *const *r, size_t n, struct mb_error *err))[32]
{
    uint8_t (*pks)[32] = calloc(n, sizeof *pks);
    if (!pks) {
        mb_error_set(err, "age: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char what[48];
        snprintf(what, sizeof what, "recipient %zu", i + 1);
        if (!r[i])
            mb_error_set(err, "age: %s is missing", what);
        if (!r[i] || parse_recipient(r[i], pks[i], what, err) != 0) {
            free(pks);
            return NULL;
        }
    }
    return pks;
}

static int enc_check_args(const char *const *recipients, size_t n, const char *pass,
                          struct mb_error *err)
{
    if ((n > 0) == (pass != NULL)) {
        mb_error_set(err, "age: encrypt needs either recipients or a passphrase (got %s)",
                     n ? "both" : "neither");
        return -1;
    }
    if (n && !recipients) {
        mb_error_set(err, "age: recipient list is missing");
        return -1;
    }
    if (pass && !*pass) {
        mb_error_set(err, "age: empty passphrase");
        return -1;
    }
    return 0;
}

struct mb_transform *mb_age_encrypt_new(const char *const *recipients, size_t n_recipients,
                                        const char *passphrase, struct mb_error *err)
{
    uint8_t (*pks)[32] = NULL;
    struct age_enc *e = NULL;

    if (enc_check_args(recipients, n_recipients, passphrase, err) != 0)
        return NULL;
    if (n_recipients && !(pks = parse_recipients(recipients, n_recipients, err)))
        return NULL;
    e = OPENSSL_zalloc(sizeof *e);
    if (!e || !(e->cctx = EVP_CIPHER_CTX_new())) {
        mb_error_set(err, "age: out of memory");
        free(pks);
        enc_destroy(e ? &e->base : NULL);
        return NULL;
    }
    e->base.ops = &enc_ops;
    if (build_header(e, (const uint8_t (*)[32])pks, n_recipients, passphrase, err) != 0) {
        free(pks);
        enc_destroy(&e->base);
        return NULL;
    }
    free(pks);
    return &e->base;
}

/* ------------------------------------------------------------------------
 * Decryption: header parsing. */

enum dec_state { D_HEADER, D_NONCE, D_PAYLOAD, D_DONE, D_FAILED };

struct stanza {
    size_t args_off, args_len; /* the text after "-> " in the header buffer */
    struct mb_buf body;          /* base64 text of the body, newlines removed */
};

struct age_dec {
    struct mb_transform base; /* first: callers hold a struct mb_transform * */
    enum dec_state state;
    uint8_t (*ids)[32];       /* X25519 secret scalars, wiped on destroy */
    size_t n_ids;
    char *passphrase;         /* owned copy, wiped on destroy */
    struct mb_buf hdr;          /* the header bytes as received */
    size_t line_start, line_no;
    struct stanza *st;
    size_t n_st, cap_st;
    int in_body;              /* the last stanza still expects body lines */
    uint8_t file_key[FILE_KEY_LEN];
    uint8_t nonce[NONCE_LEN];
    size_t nonce_len;
    uint8_t payload_key[32];
    EVP_CIPHER_CTX *cctx;
    uint64_t counter;
    size_t buf_len;
    uint8_t buf[CT_CHUNK_LEN]; /* ciphertext held until its fate is known */
    uint8_t out[CHUNK_LEN];
};

static int is_vchar(uint8_t c)
{
    return c >= 0x21 && c <= 0x7e;
}

static int dec_malformed(struct age_dec *d, const char *what, struct mb_error *err)
{
    mb_error_set(err, "age: malformed header line %zu (%s)", d->line_no, what);
    return -1;
}

/* "-> arg arg...": arguments are 1*VCHAR separated by single spaces. */
static int hdr_stanza_start(struct age_dec *d, const uint8_t *line, size_t len,
                            struct mb_error *err)
{
    const uint8_t *a = line + 3;
    size_t n = len - 3;

    for (size_t i = 0; i < n; i++)
        if (!is_vchar(a[i]) && !(a[i] == ' ' && i > 0 && i + 1 < n && a[i - 1] != ' '))
            return dec_malformed(d, "bad stanza argument", err);
    if (n == 0)
        return dec_malformed(d, "stanza without arguments", err);
    if (d->n_st == d->cap_st) {
        size_t cap = d->cap_st ? d->cap_st * 2 : 4;
        struct stanza *st = realloc(d->st, cap * sizeof *st);
        if (!st) {
            mb_error_set(err, "age: out of memory");
            return -1;
        }
        d->st = st;
        d->cap_st = cap;
    }
    memset(&d->st[d->n_st], 0, sizeof d->st[0]);
    d->st[d->n_st].args_off = (size_t)(a - bytes_of(&d->hdr));
    d->st[d->n_st].args_len = n;
    d->n_st++;
    d->in_body = 1;
    return 0;
}

static int hdr_body_line(struct age_dec *d, const uint8_t *line, size_t len,
                         struct mb_error *err)
{
    struct stanza *s = &d->st[d->n_st - 1];

    if (len > 64)
        return dec_malformed(d, "stanza body line longer than 64 columns", err);
    for (size_t i = 0; i < len; i++)
        if (b64_val(line[i]) < 0)
            return dec_malformed(d, "stanza body is not base64 or final short line missing", err);
    mb_buf_add(&s->body, line, len);
    if (s->body.failed) {
        mb_error_set(err, "age: out of memory");
        return -1;
    }
    d->in_body = len == 64; /* a shorter line, even empty, ends the body */
    return 0;
}

static int dec_open_header(struct age_dec *d, const uint8_t mac[32], struct mb_error *err);

/* "--- <43 base64 chars>": the end of the header. */
static int hdr_mac_line(struct age_dec *d, const uint8_t *line, size_t len,
                        struct mb_error *err)
{
    uint8_t mac[32];

    if (len != 4 + MAC_LINE_B64 || line[3] != ' '
        || b64_decode(line + 4, MAC_LINE_B64, mac, sizeof mac) != 32)
        return dec_malformed(d, "bad MAC line", err);
    if (d->n_st == 0)
        return dec_malformed(d, "no recipient stanzas", err);
    return dec_open_header(d, mac, err);
}

static int hdr_version_line(struct age_dec *d, const uint8_t *line, size_t len,
                            struct mb_error *err)
{
    if (len == sizeof VERSION_LINE - 1 && memcmp(line, VERSION_LINE, len) == 0)
        return 0;
    mb_error_set(err, "age: unsupported age format version (only %s is supported)", VERSION_LINE);
    (void)d;
    return -1;
}

static int hdr_line(struct age_dec *d, const uint8_t *line, size_t len, struct mb_error *err)
{
    d->line_no++;
    if (d->line_no == 1)
        return hdr_version_line(d, line, len, err);
    if (d->in_body)
        return hdr_body_line(d, line, len, err);
    if (len >= 3 && memcmp(line, "-> ", 3) == 0)
        return hdr_stanza_start(d, line, len, err);
    if (len >= 3 && memcmp(line, "---", 3) == 0)
        return hdr_mac_line(d, line, len, err);
    return dec_malformed(d, "expected a stanza or the MAC line", err);
}

/* Rejects non-age input early instead of buffering it as a "header". */
static int hdr_check_prefix(struct age_dec *d, struct mb_error *err)
{
    size_t n = d->hdr.len < sizeof VERSION_PREFIX - 1 ? d->hdr.len : sizeof VERSION_PREFIX - 1;

    if (memcmp(d->hdr.data, VERSION_PREFIX, n) == 0)
        return 0;
    if (d->hdr.data[0] == '-' || d->hdr.data[0] == ' ' || d->hdr.data[0] == '\t' || d->hdr.data[0] == '\r'
        || d->hdr.data[0] == '\n')
        mb_error_set(err, "age: ASCII-armored (PEM) age files are not supported, "
                          "only the binary format");
    else
        mb_error_set(err, "age: not an age encrypted file (bad version line)");
    return -1;
}

/* Consumes header bytes; returns how many, or -1. */
static long dec_header(struct age_dec *d, const uint8_t *buf, size_t len, struct mb_error *err)
{
    size_t used = 0;

    while (used < len && d->state == D_HEADER) {
        const uint8_t *nl = memchr(buf + used, '\n', len - used);
        size_t take = nl ? (size_t)(nl - (buf + used)) + 1 : len - used;
        if (d->hdr.len + take > MAX_HEADER_LEN) {
            mb_error_set(err, "age: header larger than %d bytes", MAX_HEADER_LEN);
            return -1;
        }
        mb_buf_add(&d->hdr, buf + used, take);
        used += take;
        if (d->hdr.failed) {
            mb_error_set(err, "age: out of memory");
            return -1;
        }
        if (d->line_start == 0 && hdr_check_prefix(d, err) != 0)
            return -1;
        if (nl) {
            size_t start = d->line_start;
            d->line_start = d->hdr.len;
            if (hdr_line(d, bytes_of(&d->hdr) + start, d->hdr.len - start - 1, err) != 0)
                return -1;
        }
    }
    return (long)used;
}

/* ------------------------------------------------------------------------
 * Decryption: unwrapping the file key. */

#define MAX_ARGS 8 /* more than any known type has; extra ones are only counted */

struct args {
    char *buf;              /* owned copy of the argument text */
    const char *v[MAX_ARGS];
    size_t n;
};

/* Splits a stanza's arguments; the parser already enforced single spaces
 * and at least one argument. */
static int split_args(const struct age_dec *d, const struct stanza *s, struct args *a,
                      struct mb_error *err)
{
    a->n = 0;
    a->buf = malloc(s->args_len + 1);
    if (!a->buf) {
        mb_error_set(err, "age: out of memory");
        return -1;
    }
    memcpy(a->buf, d->hdr.data + s->args_off, s->args_len);
    a->buf[s->args_len] = '\0';
    for (char *p = a->buf; p;) {
        char *sp = strchr(p, ' ');
        if (sp)
            *sp++ = '\0';
        if (a->n < MAX_ARGS)
            a->v[a->n] = p;
        a->n++;
        p = sp;
    }
    return 0;
}

static int decode_arg(const char *s, uint8_t *out, size_t want)
{
    return b64_decode((const uint8_t *)s, strlen(s), out, want) == (long)want ? 0 : -1;
}

/* Decodes a stanza body that must be exactly a wrapped file key. */
static int stanza_body32(struct age_dec *d, const struct stanza *s, const char *type,
                         uint8_t body[32], struct mb_error *err)
{
    if (b64_decode(bytes_of(&s->body), s->body.len, body, 32) != 32) {
        mb_error_set(err, "age: malformed %s stanza (body is not 32 bytes of canonical base64)",
                     type);
        return -1;
    }
    (void)d;
    return 0;
}

/* Returns 1 with the file key, 0 when no identity fits, -1 on a bad stanza. */
static int try_x25519(struct age_dec *d, const struct stanza *s, const struct args *a,
                      struct mb_error *err)
{
    uint8_t share[32], body[32], pk[32], shared[32], salt[64], wrap[32];
    int found = 0;

    if (a->n != 2 || decode_arg(a->v[1], share, 32) != 0) {
        mb_error_set(err, "age: malformed X25519 stanza (arguments)");
        return -1;
    }
    if (stanza_body32(d, s, "X25519", body, err) != 0)
        return -1;
    for (size_t i = 0; i < d->n_ids && !found; i++) {
        if (x25519(d->ids[i], NULL, pk) != 0 || x25519(d->ids[i], share, shared) != 0) {
            mb_error_set(err, "age: X25519 stanza has an invalid ephemeral share "
                              "(all-zero shared secret)");
            found = -1;
            break;
        }
        memcpy(salt, share, 32);
        memcpy(salt + 32, pk, 32);
        found = hkdf_sha256(shared, 32, salt, sizeof salt, X25519_INFO, wrap) == 0
                && aead_zero_nonce(0, wrap, body, sizeof body, d->file_key) == 0;
    }
    OPENSSL_cleanse(shared, sizeof shared);
    OPENSSL_cleanse(wrap, sizeof wrap);
    return found;
}

/* The work factor must look like ^[1-9][0-9]*$ and stay under our cap. */
static int parse_work_factor(const char *s, struct mb_error *err)
{
    size_t n = strlen(s);
    int wf = 0;

    if (n == 0 || s[0] < '1' || s[0] > '9' || strspn(s, "0123456789") != n) {
        mb_error_set(err, "age: malformed scrypt stanza (work factor)");
        return -1;
    }
    for (size_t i = 0; i < n && wf <= MB_AGE_SCRYPT_MAX_WORK_FACTOR; i++)
        wf = wf * 10 + (s[i] - '0');
    if (wf > MB_AGE_SCRYPT_MAX_WORK_FACTOR) {
        mb_error_set(err, "age: scrypt work factor too large (limit is %d)",
                     MB_AGE_SCRYPT_MAX_WORK_FACTOR);
        return -1;
    }
    return wf;
}

static int try_scrypt(struct age_dec *d, const struct stanza *s, const struct args *a,
                      struct mb_error *err)
{
    uint8_t salt[16], body[32], wrap[32];
    int wf, ok;

    if (a->n != 3 || decode_arg(a->v[1], salt, 16) != 0) {
        mb_error_set(err, "age: malformed scrypt stanza (arguments)");
        return -1;
    }
    if ((wf = parse_work_factor(a->v[2], err)) < 0 || stanza_body32(d, s, "scrypt", body, err))
        return -1;
    if (!d->passphrase) {
        mb_error_set(err, "age: the file is passphrase-encrypted but no passphrase was given");
        return -1;
    }
    if (scrypt_key(d->passphrase, salt, wf, wrap) != 0) {
        mb_error_set(err, "age: scrypt key derivation failed (out of memory?)");
        return -1;
    }
    ok = aead_zero_nonce(0, wrap, body, sizeof body, d->file_key) == 0;
    OPENSSL_cleanse(wrap, sizeof wrap);
    if (!ok)
        mb_error_set(err, "age: wrong passphrase");
    return ok ? 1 : -1;
}

/* Every stanza body must be canonical base64, whatever its type. */
static int check_bodies(struct age_dec *d, struct mb_error *err)
{
    for (size_t i = 0; i < d->n_st; i++) {
        struct mb_buf *b = &d->st[i].body;
        uint8_t *tmp = malloc(b->len ? b->len : 1);
        long n = tmp ? b64_decode(bytes_of(b), b->len, tmp, b->len) : -1;
        free(tmp);
        if (n < 0) {
            mb_error_set(err, "age: malformed header (stanza %zu body is not canonical base64)",
                         i + 1);
            return -1;
        }
    }
    return 0;
}

/* scrypt must be alone: mixing it would let anyone holding a recipient key
 * forge a "passphrase-authenticated" file (spec: MUST reject). */
static int check_scrypt_alone(struct age_dec *d, int *is_scrypt, struct mb_error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n_st; i++) {
        const struct stanza *s = &d->st[i];
        if ((s->args_len == 6 || (s->args_len > 6 && d->hdr.data[s->args_off + 6] == ' '))
            && memcmp(d->hdr.data + s->args_off, "scrypt", 6) == 0)
            n++;
    }
    *is_scrypt = n > 0;
    if (n && d->n_st > 1) {
        mb_error_set(err, "age: invalid header (a passphrase (scrypt) stanza must be the only "
                          "stanza)");
        return -1;
    }
    return 0;
}

static int unwrap_file_key(struct age_dec *d, struct mb_error *err)
{
    int is_scrypt, r = 0;

    if (check_bodies(d, err) != 0 || check_scrypt_alone(d, &is_scrypt, err) != 0)
        return -1;
    for (size_t i = 0; i < d->n_st && r == 0; i++) {
        struct args a;
        if (split_args(d, &d->st[i], &a, err) != 0)
            return -1;
        if (strcmp(a.v[0], "X25519") == 0)
            r = try_x25519(d, &d->st[i], &a, err);
        else if (strcmp(a.v[0], "scrypt") == 0)
            r = try_scrypt(d, &d->st[i], &a, err);
        free(a.buf); /* unknown types are ignored, as the spec requires */
    }
    if (r != 0)
        return r > 0 ? 0 : -1;
    if (!d->n_ids)
        mb_error_set(err, "age: the file is encrypted to public keys, but only a passphrase "
                          "was given");
    else
        mb_error_set(err, "age: no identity matches any recipient stanza");
    return -1;
}

static int dec_open_header(struct age_dec *d, const uint8_t mac[32], struct mb_error *err)
{
    uint8_t mac_key[32], want[32];
    /* The MAC covers everything up to and including "---" of this line. */
    size_t covered = d->line_start - (4 + MAC_LINE_B64 + 1) + 3;
    int ok;

    if (unwrap_file_key(d, err) != 0)
        return -1;
    ok = hkdf_sha256(d->file_key, FILE_KEY_LEN, NULL, 0, "header", mac_key) == 0
         && hmac_sha256(mac_key, bytes_of(&d->hdr), covered, want) == 0;
    OPENSSL_cleanse(mac_key, sizeof mac_key);
    if (!ok || CRYPTO_memcmp(want, mac, 32) != 0) {
        mb_error_set(err, "age: header MAC mismatch (wrong key or tampered header)");
        return -1;
    }
    d->state = D_NONCE;
    return 0;
}

/* ------------------------------------------------------------------------
 * Decryption: payload. */

static int dec_open_chunk(struct age_dec *d, size_t len, int last, size_t *out_len)
{
    uint8_t nonce[12];
    chunk_nonce(d->counter, last, nonce);
    if (len < TAG_LEN || aead(d->cctx, 0, d->payload_key, nonce, d->buf, len, d->out) != 0)
        return -1;
    *out_len = len - TAG_LEN;
    return 0;
}

/* A full chunk followed by more data: it must not be the last one. */
static int dec_middle_chunk(struct age_dec *d, struct mb_error *err)
{
    size_t n;
    unsigned long long no = (unsigned long long)d->counter + 1;

    if (dec_open_chunk(d, CT_CHUNK_LEN, 0, &n) != 0) {
        if (dec_open_chunk(d, CT_CHUNK_LEN, 1, &n) == 0)
            mb_error_set(err, "age: data after the last chunk (chunk %llu is marked last)", no);
        else
            mb_error_set(err, "age: payload chunk %llu failed authentication (tampered or "
                              "wrong key)", no);
        return -1;
    }
    d->counter++;
    d->buf_len = 0;
    return emit(&d->base, d->out, n, err);
}

static int dec_payload(struct age_dec *d, const uint8_t *buf, size_t len, struct mb_error *err)
{
    while (len) {
        if (d->buf_len == CT_CHUNK_LEN && dec_middle_chunk(d, err) != 0)
            return -1;
        size_t n = CT_CHUNK_LEN - d->buf_len < len ? CT_CHUNK_LEN - d->buf_len : len;
        memcpy(d->buf + d->buf_len, buf, n);
        d->buf_len += n;
        buf += n;
        len -= n;
    }
    return 0;
}

static int dec_nonce(struct age_dec *d, const uint8_t *buf, size_t len, size_t *used,
                     struct mb_error *err)
{
    size_t n = NONCE_LEN - d->nonce_len < len ? NONCE_LEN - d->nonce_len : len;

    memcpy(d->nonce + d->nonce_len, buf, n);
    d->nonce_len += n;
    *used = n;
    if (d->nonce_len < NONCE_LEN)
        return 0;
    if (hkdf_sha256(d->file_key, FILE_KEY_LEN, d->nonce, NONCE_LEN, "payload", d->payload_key)) {
        mb_error_set(err, "age: payload key derivation failed");
        return -1;
    }
    d->state = D_PAYLOAD;
    return 0;
}

static int dec_fail(struct age_dec *d)
{
    d->state = D_FAILED;
    return -1;
}

static int dec_write(struct mb_transform *t, const uint8_t *buf, size_t len,
                     struct mb_error *err)
{
    struct age_dec *d = (struct age_dec *)t;

    if (d->state == D_FAILED || d->state == D_DONE) {
        mb_error_set(err, "age: decryption stream already %s",
                     d->state == D_FAILED ? "failed" : "finished");
        return dec_fail(d);
    }
    if (d->state == D_HEADER) {
        long used = dec_header(d, buf, len, err);
        if (used < 0)
            return dec_fail(d);
        buf += used;
        len -= (size_t)used;
    }
    if (d->state == D_NONCE && len) {
        size_t used;
        if (dec_nonce(d, buf, len, &used, err) != 0)
            return dec_fail(d);
        buf += used;
        len -= used;
    }
    if (len && dec_payload(d, buf, len, err) != 0)
        return dec_fail(d);
    return 0;
}

/* Names what is missing when the input ends before the payload. */
static int dec_truncated_early(struct age_dec *d, struct mb_error *err)
{
    if (d->state == D_HEADER && d->hdr.len == 0)
        mb_error_set(err, "age: empty input (not an age file)");
    else if (d->state == D_HEADER)
        mb_error_set(err, "age: truncated file (incomplete header)");
    else if (d->state == D_NONCE)
        mb_error_set(err, "age: truncated file (payload nonce missing)");
    else
        mb_error_set(err, "age: decryption stream already %s",
                     d->state == D_FAILED ? "failed" : "finished");
    return dec_fail(d);
}

static int dec_finish(struct mb_transform *t, struct mb_error *err)
{
    struct age_dec *d = (struct age_dec *)t;
    unsigned long long no = (unsigned long long)d->counter + 1;
    size_t n;

    if (d->state != D_PAYLOAD)
        return dec_truncated_early(d, err);
    if (d->buf_len < TAG_LEN) {
        mb_error_set(err, "age: truncated file (last chunk missing)");
        return dec_fail(d);
    }
    if (dec_open_chunk(d, d->buf_len, 1, &n) != 0) {
        /* A full chunk that opens as non-last: the real last one was cut. */
        if (d->buf_len == CT_CHUNK_LEN && dec_open_chunk(d, d->buf_len, 0, &n) == 0)
            mb_error_set(err, "age: truncated file (last chunk missing)");
        else
            mb_error_set(err, "age: payload chunk %llu failed authentication (tampered, "
                              "truncated or wrong key)", no);
        return dec_fail(d);
    }
    if (n == 0 && d->counter > 0) {
        mb_error_set(err, "age: invalid file (empty last chunk after a full one)");
        return dec_fail(d);
    }
    d->state = D_DONE;
    return emit(&d->base, d->out, n, err) == 0 ? 0 : dec_fail(d);
}

static void dec_destroy(struct mb_transform *t)
{
    struct age_dec *d = (struct age_dec *)t;
    if (!d)
        return;
    if (d->ids)
        OPENSSL_clear_free(d->ids, d->n_ids * sizeof *d->ids);
    if (d->passphrase)
        OPENSSL_clear_free(d->passphrase, strlen(d->passphrase));
    for (size_t i = 0; i < d->n_st; i++)
        mb_buf_free(&d->st[i].body);
    free(d->st);
    mb_buf_free(&d->hdr);
    EVP_CIPHER_CTX_free(d->cctx);
    OPENSSL_clear_free(d, sizeof *d); /* wipes keys and plaintext */
}

static const struct mb_transform_ops dec_ops = {
    MB_TRANSFORM_OPS_VERSION, "age-decrypt", dec_write, dec_finish, dec_destroy, NULL,
};

static int dec_copy_secrets(struct age_dec *d, const char *const *ids, size_t n,
                            const char *pass, struct mb_error *err)
{
    if (n && !(d->ids = OPENSSL_zalloc(n * sizeof *d->ids))) {
        mb_error_set(err, "age: out of memory");
        return -1;
    }
    d->n_ids = n;
    for (size_t i = 0; i < n; i++) {
        if (!ids[i]) {
            mb_error_set(err, "age: identity %zu is missing", i + 1);
            return -1;
        }
        if (parse_identity(ids[i], d->ids[i], i, err) != 0)
            return -1;
    }
    if (pass && !(d->passphrase = OPENSSL_strdup(pass))) {
        mb_error_set(err, "age: out of memory");
        return -1;
    }
    return 0;
}

struct mb_transform *mb_age_decrypt_new(const char *const *identities, size_t n_identities,
                                        const char *passphrase, struct mb_error *err)
{
    struct age_dec *d;

    if ((n_identities == 0 || !identities) && !passphrase) {
        mb_error_set(err, "age: decrypt needs at least one identity or a passphrase");
        return NULL;
    }
    if (passphrase && !*passphrase) {
        mb_error_set(err, "age: empty passphrase");
        return NULL;
    }
    if (!identities)
        n_identities = 0;
    d = OPENSSL_zalloc(sizeof *d);
    if (!d || !(d->cctx = EVP_CIPHER_CTX_new())) {
        mb_error_set(err, "age: out of memory");
        dec_destroy(d ? &d->base : NULL);
        return NULL;
    }
    d->base.ops = &dec_ops;
    d->state = D_HEADER;
    if (dec_copy_secrets(d, identities, n_identities, passphrase, err) != 0) {
        dec_destroy(&d->base);
        return NULL;
    }
    return &d->base;
}
