/* sigv4.h — AWS Signature Version 4, as pure functions.
 *
 * No I/O, no clock, no global state: the caller passes the time, the
 * encoded path and query and the headers to sign, and gets strings back,
 * so that every step can be checked against the published test vectors and
 * against botocore (tests/unit/test_sigv4.c, tests/e2e/test_s3.sh).
 * Returned strings are malloc'd and owned by the caller; NULL means out of
 * memory. */
#ifndef MB_SIGV4_H
#define MB_SIGV4_H

#include <stddef.h>
#include <time.h>

#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* One header to sign.  name in any case (it is lower-cased); a name given
 * more than once has its values joined with ',' in the order given. */
struct sigv4_header {
    const char *name;
    const char *value;
};

struct sigv4_request {
    const char *method;       /* "GET" */
    const char *path;         /* the URI path, already encoded ("/bucket/a%20b") */
    const char *query;        /* the canonical query (sigv4_canonical_query) or "" */
    const struct sigv4_header *headers; /* must include host and x-amz-date */
    size_t n_headers;
    const char *payload_hash; /* hex sha256 of the body, or "UNSIGNED-PAYLOAD" */
    const char *amz_date;     /* "20150830T123600Z" */
    const char *region;       /* "us-east-1" */
    const char *service;      /* "s3" */
};

/* Encodes each key and value of pairs (key0, value0, key1, value1, ...;
 * n_pairs pairs) with mb_url_encode (urlxml.h) and sorts them by key,
 * then value: "a=1&b=". */
char *sigv4_canonical_query(const char *const *pairs, size_t n_pairs);

char *sigv4_canonical_request(const struct sigv4_request *r);
char *sigv4_signed_headers(const struct sigv4_request *r); /* "host;x-amz-date" */
char *sigv4_string_to_sign(const struct sigv4_request *r, const char *canonical_request);
/* hex HMAC chain: kDate, kRegion, kService, kSigning, then the signature. */
int sigv4_signature(const char *secret_key, const struct sigv4_request *r,
                    const char *string_to_sign, char out[65]);
/* The whole Authorization header value. */
char *sigv4_authorization(const char *access_key, const char *secret_key,
                          const struct sigv4_request *r);

void sigv4_sha256_hex(const void *data, size_t len, char out[65]);
void sigv4_amz_date(time_t t, char out[17]);

#endif
