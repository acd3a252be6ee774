/* lcrypto.c — Lua module moonbak.crypto: age keys, and sealing of secrets
 * at rest (AES-256-GCM under the master key). */
#include "age.h"
#include "lmb.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#define SEAL_VERSION 1
#define SEAL_NONCE 12
#define SEAL_TAG 16
#define SEAL_OVERHEAD (1 + SEAL_NONCE + SEAL_TAG)

/* crypto.keygen() -> identity ("AGE-SECRET-KEY-1..."), recipient ("age1...") */
static int crypto_keygen(lua_State *L)
{
    char secret[MB_AGE_SECRET_KEY_SIZE], public_key[MB_AGE_RECIPIENT_SIZE];
    struct mb_error err = { { 0 } };
    if (mb_age_keygen(secret, sizeof secret, public_key, sizeof public_key, &err) != 0)
        return mb_lua_fail(L, &err);
    lua_pushstring(L, secret);
    lua_pushstring(L, public_key);
    OPENSSL_cleanse(secret, sizeof secret);
    return 2;
}

/* crypto.recipient(identity) -> "age1..." | nil, message */
static int crypto_recipient(lua_State *L)
{
    char out[MB_AGE_RECIPIENT_SIZE];
    struct mb_error err = { { 0 } };
    if (mb_age_identity_to_recipient(luaL_checkstring(L, 1), out, sizeof out, &err) != 0)
        return mb_lua_fail(L, &err);
    lua_pushstring(L, out);
    return 1;
}

/* crypto.check_recipient("age1...") -> true | nil, message */
static int crypto_check_recipient(lua_State *L)
{
    uint8_t pub[32];
    struct mb_error err = { { 0 } };
    if (mb_age_parse_recipient(luaL_checkstring(L, 1), pub, &err) != 0)
        return mb_lua_fail(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

static int crypto_random(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n > 0 && n <= 4096, 1, "expected 1 to 4096 bytes");
    luaL_Buffer b;
    unsigned char *p = (unsigned char *)luaL_buffinitsize(L, &b, (size_t)n);
    if (RAND_bytes(p, (int)n) != 1)
        return luaL_error(L, "the system random generator failed");
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
}

/* crypto.base64(bytes) -> text (standard alphabet, padded), as HTTP Basic
 * auth headers spell "user:password": for redaction. */
static int crypto_base64(lua_State *L)
{
    size_t len;
    const unsigned char *in = (const unsigned char *)luaL_checklstring(L, 1, &len);
    luaL_argcheck(L, len <= 1 << 20, 1, "at most 1 MiB");
    luaL_Buffer b;
    unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, 4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock(out, in, (int)len);
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
}

static const char *check_key(lua_State *L, int idx)
{
    size_t len;
    const char *key = luaL_checklstring(L, idx, &len);
    luaL_argcheck(L, len == 32, idx, "the master key must be 32 bytes");
    return key;
}

/* AES-256-GCM in one call; aad binds the sealed value to its name. */
static int gcm(int encrypt, const char *key, const unsigned char *nonce, const char *aad,
               size_t aad_len, const unsigned char *in, size_t len, unsigned char *out,
               unsigned char *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, ok = ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL,
                                             (const unsigned char *)key, nonce, encrypt)
                    && EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)aad_len)
                    && (len == 0 || EVP_CipherUpdate(ctx, out, &n, in, (int)len))
                    && (encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, tag))
                    && EVP_CipherFinal_ex(ctx, out + (len ? n : 0), &n)
                    && (!encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, tag));
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* crypto.seal(key, name, value) -> blob: version | nonce | ciphertext | tag */
static int crypto_seal(lua_State *L)
{
    const char *key = check_key(L, 1);
    size_t name_len, len;
    const char *name = luaL_checklstring(L, 2, &name_len);
    const char *value = luaL_checklstring(L, 3, &len);
    luaL_Buffer b;
    unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, len + SEAL_OVERHEAD);
    out[0] = SEAL_VERSION;
    if (RAND_bytes(out + 1, SEAL_NONCE) != 1
        || gcm(1, key, out + 1, name, name_len, (const unsigned char *)value, len,
               out + 1 + SEAL_NONCE, out + 1 + SEAL_NONCE + len) != 0)
        return luaL_error(L, "cannot seal the secret %s", name);
    luaL_pushresultsize(&b, len + SEAL_OVERHEAD);
    return 1;
}

/* crypto.unseal(key, name, blob) -> value | nil, message */
static int crypto_unseal(lua_State *L)
{
    const char *key = check_key(L, 1);
    size_t name_len, len;
    const char *name = luaL_checklstring(L, 2, &name_len);
    const unsigned char *blob = (const unsigned char *)luaL_checklstring(L, 3, &len);
    if (len < SEAL_OVERHEAD || blob[0] != SEAL_VERSION) {
        lua_pushnil(L);
        lua_pushfstring(L, "secret %s: not a sealed value", name);
        return 2;
    }
    size_t plain_len = len - SEAL_OVERHEAD;
    unsigned char tag[SEAL_TAG];
    memcpy(tag, blob + len - SEAL_TAG, SEAL_TAG);
    luaL_Buffer b;
    unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, plain_len + 1);
    if (gcm(0, key, blob + 1, name, name_len, blob + 1 + SEAL_NONCE, plain_len, out, tag) != 0) {
        OPENSSL_cleanse(out, plain_len);
        lua_pushnil(L);
        lua_pushfstring(L, "secret %s cannot be unsealed: wrong master key or damaged value", name);
        return 2;
    }
    luaL_pushresultsize(&b, plain_len);
    return 1;
}

/* crypto.sha256(text) -> 64 lowercase hex digits */
static int crypto_sha256(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    unsigned char digest[32];
    unsigned int digest_len = 0;
    if (EVP_Digest(text, len, digest, &digest_len, EVP_sha256(), NULL) != 1 || digest_len != sizeof digest)
        return luaL_error(L, "sha256: the digest failed");
    char hex[2 * sizeof digest + 1];
    for (size_t i = 0; i < sizeof digest; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    lua_pushlstring(L, hex, 2 * sizeof digest);
    return 1;
}

int luaopen_moonbak_crypto(lua_State *L)
{
    static const luaL_Reg functions[] = {
        { "keygen", crypto_keygen },
        { "recipient", crypto_recipient },
        { "check_recipient", crypto_check_recipient },
        { "random", crypto_random },
        { "base64", crypto_base64 },
        { "seal", crypto_seal },
        { "unseal", crypto_unseal },
        { "sha256", crypto_sha256 },
        { NULL, NULL },
    };
    luaL_newlib(L, functions);
    return 1;
}
