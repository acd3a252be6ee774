/* s3client.h — signed requests to one S3 bucket over libcurl.
 *
 * The storage adapter (adapters/storage/s3.c) speaks S3 operations; this
 * layer knows the endpoint, the addressing style, the credentials, how to
 * sign (sigv4.c), how to retry, and how to tell the operator what failed
 * without ever printing a secret.  A client is read-only once initialised,
 * so the adapter's upload thread and its caller may share it. */
#ifndef MB_S3CLIENT_H
#define MB_S3CLIENT_H

#include <stdatomic.h>

#include "mb.h"

struct s3_client {
    char *endpoint;      /* as configured ("http://127.0.0.1:9000"), for messages */
    char *base_url;      /* scheme://authority, with the bucket in it when virtual-host */
    char *host;          /* the Host header, signed */
    char *bucket_path;   /* "/bucket" with path-style addressing, "" with virtual-host */
    char *bucket, *region, *prefix;
    char *access_key;
    char *secret_key;    /* never in a message, a log line, a trace or a URL */
    char *session_token; /* likewise; NULL when none */
    int path_style;
    int retries;         /* attempts after the first one */
    long timeout;        /* seconds: to connect, and without a byte moving */
    long retry_delay_ms; /* the first backoff; doubled at each retry */
    char *trace_path;    /* MOONBAK_S3_TRACE: one JSON line per request sent */
    const struct mb_cancel *cancel; /* the config's (borrowed): ends retry back-offs */
};

/* Reads endpoint, region, bucket, prefix, access_key, secret_key,
 * path_style, retries, timeout from cfg (credentials fall back to the
 * AWS_* environment). */
int s3_client_init(struct s3_client *c, const struct mb_config *cfg, struct mb_error *err);
void s3_client_free(struct s3_client *c);

struct s3_request {
    const char *method;
    const char *key;          /* the full object key, prefix included; NULL: the bucket */
    const char *const *query; /* name, value pairs (value NULL: none) */
    size_t n_query;
    const void *body;         /* sent as it is; its sha256 is signed */
    size_t body_len;
    const char *content_type; /* optional */
    const char *what;         /* what the operator reads in a failure: "upload part 3" */
    atomic_int *cancel;       /* optional: when set, the transfer stops, no retry */
};

struct s3_response {
    long status;
    char *body; /* NUL-terminated, malloc'd; NULL when empty */
    size_t len;
    char etag[128];
};

/* Sends req, retrying transport failures, 5xx, 429 and throttling with
 * exponential backoff.  0 on a 2xx answer; otherwise -1 with err naming the
 * operation, the HTTP status, S3's error Code and Message and the endpoint. */
int s3_perform(struct s3_client *c, const struct s3_request *req, struct s3_response *resp,
               struct mb_error *err);
void s3_response_free(struct s3_response *resp);

/* A streamed GET of one object (a pull-style reader over curl's multi
 * interface: at most one network chunk is held in memory). */
struct mb_reader *s3_get_open(struct s3_client *c, const char *key, struct mb_error *err);

/* The decoded text of the first <tag>...</tag> in [*pos, end); *pos moves
 * past it.  NULL when there is none (or out of memory). */
char *s3_xml_next(const char **pos, const char *end, const char *tag);
/* The range [*inner, *inner_end) of the next <tag>...</tag> block. */
int s3_xml_block(const char **pos, const char *end, const char *tag, const char **inner,
                 const char **inner_end);

#endif
