/* sigv4.c — AWS Signature Version 4 (see sigv4.h), on OpenSSL's HMAC. */
#include "sigv4.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "urlxml.h"

/* ---- canonical query ---------------------------------------------------- */

struct query_item {
    char *key, *value;
};

static int query_item_cmp(const void *a, const void *b)
{
    const struct query_item *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

char *sigv4_canonical_query(const char *const *pairs, size_t n_pairs)
{
    struct query_item *items = calloc(n_pairs ? n_pairs : 1, sizeof *items);
    int ok = items != NULL;
    for (size_t i = 0; ok && i < n_pairs; i++) {
        items[i].key = mb_url_encode(pairs[2 * i], 0);
        items[i].value = mb_url_encode(pairs[2 * i + 1] ? pairs[2 * i + 1] : "", 0);
        ok = items[i].key && items[i].value;
    }
    struct mb_buf t = { .failed = !ok };
    if (ok) {
        qsort(items, n_pairs, sizeof *items, query_item_cmp);
        for (size_t i = 0; i < n_pairs; i++) {
            if (i)
                mb_buf_add_str(&t, "&");
            mb_buf_add_str(&t, items[i].key);
            mb_buf_add_str(&t, "=");
            mb_buf_add_str(&t, items[i].value);
        }
    }
    for (size_t i = 0; items && i < n_pairs; i++) {
        free(items[i].key);
        free(items[i].value);
    }
    free(items);
    return mb_buf_take(&t);
}

/* ---- canonical headers -------------------------------------------------- */

/* Headers sorted by lower-case name; a stable insertion sort, because the
 * values of a repeated name must stay in the order they were given. */
static const struct sigv4_header **sorted_headers(const struct sigv4_request *r)
{
    const struct sigv4_header **v = malloc((r->n_headers ? r->n_headers : 1) * sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < r->n_headers; i++) {
        size_t j = i;
        while (j > 0 && strcasecmp(v[j - 1]->name, r->headers[i].name) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = &r->headers[i];
    }
    return v;
}

static void add_lower(struct mb_buf *t, const char *s)
{
    for (; *s; s++) {
        char c = (char)tolower((unsigned char)*s);
        mb_buf_add(t, &c, 1);
    }
}

/* Leading and trailing blanks dropped, inner runs of spaces made one. */
static void add_trimmed(struct mb_buf *t, const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    const char *end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    for (const char *p = s; p < end; p++) {
        if ((*p == ' ' || *p == '\t') && p > s && (p[-1] == ' ' || p[-1] == '\t'))
            continue;
        mb_buf_add(t, *p == '\t' ? " " : p, 1);
    }
}

static int same_name(const struct sigv4_header *a, const struct sigv4_header *b)
{
    return strcasecmp(a->name, b->name) == 0;
}

/* "name:value\n" per distinct name, or with names_only "name;name". */
static char *header_block(const struct sigv4_request *r, int names_only)
{
    const struct sigv4_header **v = sorted_headers(r);
    struct mb_buf t = { .failed = !v };
    for (size_t i = 0; v && i < r->n_headers; i++) {
        int repeat = i > 0 && same_name(v[i - 1], v[i]);
        if (names_only) {
            if (!repeat) {
                if (i)
                    mb_buf_add_str(&t, ";");
                add_lower(&t, v[i]->name);
            }
            continue;
        }
        if (repeat) {
            t.len--; /* the '\n' of the previous value: join with ',' */
            mb_buf_add_str(&t, ",");
        } else {
            add_lower(&t, v[i]->name);
            mb_buf_add_str(&t, ":");
        }
        add_trimmed(&t, v[i]->value);
        mb_buf_add_str(&t, "\n");
    }
    free(v);
    return mb_buf_take(&t);
}

char *sigv4_signed_headers(const struct sigv4_request *r) { return header_block(r, 1); }

char *sigv4_canonical_request(const struct sigv4_request *r)
{
    char *headers = header_block(r, 0);
    char *names = header_block(r, 1);
    struct mb_buf t = { .failed = !(headers && names) };
    const char *parts[] = { r->method, "\n", r->path, "\n", r->query ? r->query : "", "\n",
                            headers, "\n", names, "\n", r->payload_hash };
    for (size_t i = 0; !t.failed && i < sizeof parts / sizeof *parts; i++)
        mb_buf_add_str(&t, parts[i]);
    free(headers);
    free(names);
    return mb_buf_take(&t);
}

/* ---- string to sign, signature ------------------------------------------ */

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static char *scope_of(const struct sigv4_request *r)
{
    struct mb_buf t = { 0 };
    mb_buf_add(&t, r->amz_date, strnlen(r->amz_date, 8));
    const char *parts[] = { "/", r->region, "/", r->service, "/aws4_request" };
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        mb_buf_add_str(&t, parts[i]);
    return mb_buf_take(&t);
}

char *sigv4_string_to_sign(const struct sigv4_request *r, const char *canonical_request)
{
    char hash[65];
    sigv4_sha256_hex(canonical_request, strlen(canonical_request), hash);
    char *scope = scope_of(r);
    struct mb_buf t = { .failed = !scope };
    const char *parts[] = { "AWS4-HMAC-SHA256\n", r->amz_date, "\n", scope, "\n", hash };
    for (size_t i = 0; !t.failed && i < sizeof parts / sizeof *parts; i++)
        mb_buf_add_str(&t, parts[i]);
    free(scope);
    return mb_buf_take(&t);
}

static int hmac(const void *key, size_t key_len, const char *msg, unsigned char out[32])
{
    unsigned int len = 32;
    return HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out,
                &len) ? 0 : -1;
}

int sigv4_signature(const char *secret_key, const struct sigv4_request *r,
                    const char *string_to_sign, char out[65])
{
    char date[9];
    snprintf(date, sizeof date, "%.8s", r->amz_date);
    size_t n = strlen(secret_key) + 5;
    char *k_secret = malloc(n);
    if (!k_secret)
        return -1;
    snprintf(k_secret, n, "AWS4%s", secret_key);
    unsigned char k[32], sig[32];
    int rc = hmac(k_secret, n - 1, date, k);
    OPENSSL_cleanse(k_secret, n); /* the secret does not linger in freed memory */
    free(k_secret);
    rc |= hmac(k, 32, r->region, k);
    rc |= hmac(k, 32, r->service, k);
    rc |= hmac(k, 32, "aws4_request", k);
    rc |= hmac(k, 32, string_to_sign, sig);
    OPENSSL_cleanse(k, sizeof k);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", sig[i]);
    return rc ? -1 : 0;
}

char *sigv4_authorization(const char *access_key, const char *secret_key,
                          const struct sigv4_request *r)
{
    char *creq = sigv4_canonical_request(r);
    char *sts = creq ? sigv4_string_to_sign(r, creq) : NULL;
    char *scope = scope_of(r);
    char *names = sigv4_signed_headers(r);
    char sig[65];
    struct mb_buf t = { .failed = !(sts && scope && names) };
    if (!t.failed && sigv4_signature(secret_key, r, sts, sig) != 0)
        t.failed = 1;
    const char *parts[] = { "AWS4-HMAC-SHA256 Credential=", access_key, "/", scope,
                            ", SignedHeaders=", names, ", Signature=", sig };
    for (size_t i = 0; !t.failed && i < sizeof parts / sizeof *parts; i++)
        mb_buf_add_str(&t, parts[i]);
    free(creq);
    free(sts);
    free(scope);
    free(names);
    return mb_buf_take(&t);
}
