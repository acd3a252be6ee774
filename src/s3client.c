/* s3client.c — signed S3 requests over libcurl (see s3client.h). */
#include "s3client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "curlxfer.h"
#include "sigv4.h"
#include "urlxml.h"

#define RESPONSE_MAX (16u << 20) /* error bodies, list pages, upload ids: never objects */
#define RETRY_DELAY_CAP_MS 8000

/* ---- configuration ------------------------------------------------------ */

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Job keys first; else the standard environment, where a session token
 * belongs with the key pair it came with. */
static int init_credentials(struct s3_client *c, const struct mb_config *cfg,
                            struct mb_error *err)
{
    const char *access = mb_config_get(cfg, "access_key");
    const char *secret = mb_config_get(cfg, "secret_key");
    if (!(access && *access) && !(secret && *secret)) {
        access = getenv("AWS_ACCESS_KEY_ID");
        secret = getenv("AWS_SECRET_ACCESS_KEY");
        c->session_token = dup_or_null(getenv("AWS_SESSION_TOKEN"));
    }
    if (!access || !*access || !secret || !*secret) {
        mb_error_set(err, "s3 %s: no credentials: set access_key and secret_key in the job, "
                          "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", c->bucket);
        return -1;
    }
    c->access_key = strdup(access);
    c->secret_key = strdup(secret);
    return c->access_key && c->secret_key ? 0 : -1;
}

/* endpoint "scheme://authority" (no path), and how the bucket is addressed.
 * Without path_style in the job: virtual-host style on AWS (amazonaws.com)
 * unless the bucket name has a dot (its TLS certificate would not match),
 * path style everywhere else (MinIO, Ceph, Garage, s3rver...). */
static int init_addressing(struct s3_client *c, const struct mb_config *cfg, struct mb_error *err)
{
    const char *ep = mb_config_get(cfg, "endpoint");
    c->endpoint = ep && *ep ? strdup(ep) : mb_strdup_printf("https://s3.%s.amazonaws.com", c->region);
    if (!c->endpoint)
        return -1;
    size_t n = strlen(c->endpoint);
    while (n > 0 && c->endpoint[n - 1] == '/')
        c->endpoint[--n] = '\0';
    char *sep = strstr(c->endpoint, "://");
    if (!sep || sep == c->endpoint || !sep[3] || strchr(sep + 3, '/')) {
        mb_error_set(err, "s3 %s: endpoint \"%s\" is not scheme://host[:port]", c->bucket,
                     c->endpoint);
        return -1;
    }
    const char *authority = sep + 3;
    int scheme_len = (int)(sep - c->endpoint);
    const char *style = mb_config_get(cfg, "path_style");
    int aws = ends_with(authority, "amazonaws.com") || strstr(authority, "amazonaws.com:");
    c->path_style = style ? strcmp(style, "true") == 0 : !aws || strchr(c->bucket, '.') != NULL;
    if (c->path_style) {
        c->host = strdup(authority);
        c->bucket_path = mb_strdup_printf("/%s", c->bucket);
    } else {
        c->host = mb_strdup_printf("%s.%s", c->bucket, authority);
        c->bucket_path = strdup("");
    }
    c->base_url = c->host ? mb_strdup_printf("%.*s://%s", scheme_len, c->endpoint, c->host) : NULL;
    return c->host && c->bucket_path && c->base_url ? 0 : -1;
}

/* The storage's own folder: "db" and "db/" both mean "db/". */
static char *normalized_prefix(const char *p)
{
    if (!p)
        p = "";
    while (*p == '/')
        p++;
    size_t n = strlen(p);
    return n && p[n - 1] != '/' ? mb_strdup_printf("%s/", p) : strdup(p);
}

int s3_client_init(struct s3_client *c, const struct mb_config *cfg, struct mb_error *err)
{
    memset(c, 0, sizeof *c);
    const char *bucket = mb_config_get(cfg, "bucket");
    if (!bucket || !*bucket) {
        mb_error_set(err, "s3 storage: \"bucket\" is required");
        return -1;
    }
    /* region, retries and timeout have defaults in the s3 storage's schema,
     * which the engine gives when the job does not. */
    const char *region = mb_config_get(cfg, "region");
    if (!region || !*region) {
        mb_error_set(err, "s3 storage: \"region\" is empty");
        return -1;
    }
    c->bucket = strdup(bucket);
    c->region = strdup(region);
    c->prefix = normalized_prefix(mb_config_get(cfg, "prefix"));
    c->retries = (int)mb_config_get_int(cfg, "retries", 0);
    c->timeout = (long)mb_config_get_int(cfg, "timeout", 0);
    c->retry_delay_ms = 250;
    c->cancel = cfg->cancel;
    c->trace_path = dup_or_null(getenv("MOONBAK_S3_TRACE"));
    if (c->retries < 0)
        c->retries = 0;
    if (c->timeout < 1)
        c->timeout = 1;
    int rc = c->bucket && c->region && c->prefix ? 0 : -1;
    if (rc == 0)
        rc = init_addressing(c, cfg, err);
    if (rc == 0)
        rc = init_credentials(c, cfg, err);
    if (rc != 0) {
        mb_error_set(err, "out of memory");
        s3_client_free(c);
    }
    return rc;
}

void s3_client_free(struct s3_client *c)
{
    free(c->endpoint);
    free(c->base_url);
    free(c->host);
    free(c->bucket_path);
    free(c->bucket);
    free(c->region);
    free(c->prefix);
    free(c->access_key);
    mb_free_secret(c->secret_key);
    mb_free_secret(c->session_token);
    free(c->trace_path);
    memset(c, 0, sizeof *c);
}

/* ---- signing ------------------------------------------------------------ */

/* Everything one attempt of a request needs; rebuilt for each attempt so
 * that a retry after a long backoff carries a fresh x-amz-date. */
struct signed_request {
    char *url;
    char *path;
    char *query;
    char amz_date[17];
    char payload_hash[65];
    char *authorization;
    struct curl_slist *headers;
};

static void signed_request_free(struct signed_request *s)
{
    free(s->url);
    free(s->path);
    free(s->query);
    free(s->authorization);
    curl_slist_free_all(s->headers);
    memset(s, 0, sizeof *s);
}

static char *request_path(struct s3_client *c, const char *key)
{
    if (!key)
        return strdup(*c->bucket_path ? c->bucket_path : "/");
    char *encoded = mb_url_encode(key, 1);
    char *path = encoded ? mb_strdup_printf("%s/%s", c->bucket_path, encoded) : NULL;
    free(encoded);
    return path;
}

static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    char *line = mb_strdup_printf("%s: %s", name, value);
    struct curl_slist *l = line ? curl_slist_append(*list, line) : NULL;
    free(line);
    if (!l)
        return -1;
    *list = l;
    return 0;
}

static int sign_request(struct s3_client *c, const struct s3_request *req, struct signed_request *s)
{
    memset(s, 0, sizeof *s);
    s->path = request_path(c, req->key);
    s->query = sigv4_canonical_query(req->query, req->n_query);
    if (!s->path || !s->query)
        return -1;
    /* The canonical query is also a valid query string: the URL sent is
     * exactly what was signed. */
    s->url = mb_strdup_printf("%s%s%s%s", c->base_url, s->path, *s->query ? "?" : "", s->query);
    sigv4_amz_date(time(NULL), s->amz_date);
    sigv4_sha256_hex(req->body ? req->body : "", req->body_len, s->payload_hash);
    struct sigv4_header h[] = { { "host", c->host }, { "x-amz-content-sha256", s->payload_hash },
                                { "x-amz-date", s->amz_date },
                                { "x-amz-security-token", c->session_token } };
    struct sigv4_request r = { req->method, s->path, s->query, h, c->session_token ? 4 : 3,
                               s->payload_hash, s->amz_date, c->region, "s3" };
    s->authorization = sigv4_authorization(c->access_key, c->secret_key, &r);
    if (!s->url || !s->authorization)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < r.n_headers; i++)
        rc |= add_header(&s->headers, h[i].name, h[i].value);
    rc |= add_header(&s->headers, "Authorization", s->authorization);
    rc |= add_header(&s->headers, "Content-Type",
                     req->content_type ? req->content_type : "application/octet-stream");
    s->headers = curl_slist_append(s->headers, "Expect:"); /* no 100-continue round trip */
    return rc || !s->headers ? -1 : 0;
}

/* ---- trace (MOONBAK_S3_TRACE) ------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* One JSON line per request sent, so that an independent signer (botocore,
 * tests/e2e/s3_check_signatures.py) can recompute each signature.  The
 * secret key is not in it, and the session token is replaced by a mark. */
static void trace_request(struct s3_client *c, const struct s3_request *req,
                          const struct signed_request *s)
{
    if (!c->trace_path)
        return;
    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    if (!f)
        return;
    fputs("{\"method\":", f);
    json_string(f, req->method);
    fputs(",\"url\":", f);
    json_string(f, s->url);
    fputs(",\"headers\":{\"host\":", f);
    json_string(f, c->host);
    fprintf(f, ",\"x-amz-content-sha256\":\"%s\",\"x-amz-date\":\"%s\"", s->payload_hash,
            s->amz_date);
    if (c->session_token)
        fputs(",\"x-amz-security-token\":\"(redacted)\"", f);
    fprintf(f, "},\"payload_hash\":\"%s\",\"region\":", s->payload_hash);
    json_string(f, c->region);
    fputs(",\"authorization\":", f);
    json_string(f, s->authorization);
    fputs("}\n", f);
    fclose(f);
    int fd = open(c->trace_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        mb_write_all(fd, line, len); /* one write with O_APPEND: lines never interleave */
        close(fd);
    }
    free(line);
}

/* ---- requests, through curlxfer ---------------------------------------- */

/* One request across its attempts: curlxfer sends and retries it, and
 * calls back here to sign each attempt anew (a retry after a long backoff
 * needs a fresh x-amz-date) and to judge S3's answers. */
struct s3_call {
    struct s3_client *c;
    const struct s3_request *req; /* borrowed */
    struct s3_response *resp;     /* the ETag goes here; NULL: not kept */
    struct signed_request sreq;   /* the current attempt's */
    atomic_int *cancel;           /* borrowed; NULL: cannot be cancelled */
    int stops_on_interrupt;       /* a read: the process's cancel (Ctrl-C,
                                     SIGTERM) stops it too, as nothing is
                                     left to clean up after one */
};

/* Keeps the ETag, which CompleteMultipartUpload needs for every part. */
static size_t collect_header(char *data, size_t size, size_t n, void *ud)
{
    struct s3_response *r = ud;
    size_t len = size * n;
    if (len > 5 && strncasecmp(data, "etag:", 5) == 0) {
        const char *v = data + 5;
        size_t vlen = len - 5;
        while (vlen && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        if (vlen < sizeof r->etag)
            snprintf(r->etag, sizeof r->etag, "%.*s", (int)vlen, v);
    }
    return len;
}

/* Writes and deletes are stopped only by their own flag: after a Ctrl-C
 * the abort of a multipart upload must still reach the server. */
static int stop_if_cancelled(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    const struct s3_call *call = ud;
    if (call->cancel && atomic_load(call->cancel))
        return 1;
    return call->stops_on_interrupt && mb_cancel_reason(call->c->cancel) ? 1 : 0;
}

/* A request with what every S3 transfer shares; the URL and the headers
 * come with each attempt's signature. */
static struct mb_curl_req *s3_request_new(struct s3_call *call, struct mb_error *err)
{
    struct mb_curl_conf conf = { .timeout = call->c->timeout, .retries = call->c->retries,
                                 .cancel = call->c->cancel };
    struct mb_curl_req *r = mb_curl_req_new(&conf, NULL, err);
    if (!r)
        return NULL;
    r->http = 1;
    mb_curl_req_collect(r, RESPONSE_MAX); /* error bodies, list pages, upload ids */
    /* Each attempt on a connection of its own, as the fault tests count. */
    curl_easy_setopt(r->easy, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(r->easy, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(r->easy, CURLOPT_XFERINFOFUNCTION, stop_if_cancelled);
    curl_easy_setopt(r->easy, CURLOPT_XFERINFODATA, call); /* lives as long as the request */
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    return r;
}

static void method_options(struct mb_curl_req *r, const struct s3_request *req)
{
    CURL *h = r->easy;
    if (strcmp(req->method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        mb_curl_req_send(r, req->body, req->body ? req->body_len : 0);
    } else if (strcmp(req->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
        mb_curl_req_send(r, req->body, req->body ? req->body_len : 0);
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    }
}

/* prepare(): signs this attempt; the request takes the signed headers. */
static int call_sign(void *ud, struct mb_curl_req *r)
{
    struct s3_call *call = ud;
    signed_request_free(&call->sreq);
    if (call->resp)
        call->resp->etag[0] = '\0';
    if (sign_request(call->c, call->req, &call->sreq) != 0)
        return -1;
    trace_request(call->c, call->req, &call->sreq);
    curl_easy_setopt(r->easy, CURLOPT_URL, call->sreq.url);
    curl_slist_free_all(r->headers);
    r->headers = call->sreq.headers; /* the request owns them from here */
    call->sreq.headers = NULL;
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    return 0;
}

/* S3's words for "try again", whatever the status. */
static int s3_says_retry(const char *body)
{
    return body && (strstr(body, "<Code>RequestTimeout</Code>") ||
                    strstr(body, "<Code>SlowDown</Code>"));
}

/* judge(): only a 2xx is done; besides what is worth another attempt
 * everywhere (mb_curl_req_transient), S3's throttling words are; a
 * cancelled transfer never is. */
static enum mb_curl_verdict call_judge(void *ud, const struct mb_curl_req *r)
{
    struct s3_call *call = ud;
    if (r->code == CURLE_OK && r->status >= 200 && r->status < 300)
        return MB_CURL_DONE;
    int retry = mb_curl_req_transient(r) || (r->code == CURLE_OK && s3_says_retry(r->body.data));
    if ((call->cancel && atomic_load(call->cancel))
        || (call->stops_on_interrupt && mb_cancel_reason(call->c->cancel)))
        return MB_CURL_FAILED;
    return retry ? MB_CURL_RETRY : MB_CURL_FAILED;
}

static struct mb_curl_retry call_retry(struct s3_call *call)
{
    return (struct mb_curl_retry){ .retries = call->c->retries,
                                   .first_delay_ms = call->c->retry_delay_ms,
                                   .max_delay_ms = RETRY_DELAY_CAP_MS,
                                   .jitter = 1,
                                   .prepare = call_sign,
                                   .judge = call_judge,
                                   .ud = call };
}

/* "HTTP 403 InvalidAccessKeyId: The AWS Access Key Id ..." from an S3 error body. */
static void describe_status(char *out, size_t size, long status, const char *body)
{
    const char *end = body ? body + strlen(body) : NULL;
    const char *pos = body;
    char *code = body ? s3_xml_next(&pos, end, "Code") : NULL;
    pos = body;
    char *message = body ? s3_xml_next(&pos, end, "Message") : NULL;
    snprintf(out, size, "HTTP %ld%s%s%s%s", status, code ? " " : "", code ? code : "",
             message ? ": " : "", message ? message : "");
    free(code);
    free(message);
}

/* Why the last attempt failed, without the libcurl-speak of a cancel. */
static void describe_failure(const struct mb_curl_req *r, char *out, size_t size)
{
    if (r->code == CURLE_OK)
        describe_status(out, size, r->status, r->body.data);
    else
        snprintf(out, size, "%s", r->code == CURLE_ABORTED_BY_CALLBACK ? "cancelled"
                                  : *r->errbuf ? r->errbuf : curl_easy_strerror(r->code));
}

static void response_reset(struct s3_response *resp)
{
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}

/* The last attempt's answer becomes resp (the body changes hands). */
static void take_response(struct mb_curl_req *r, struct s3_response *resp)
{
    resp->status = r->status;
    if (r->body.len) {
        resp->len = r->body.len;
        resp->body = mb_buf_take(&r->body);
    }
}

int s3_perform(struct s3_client *c, const struct s3_request *req, struct s3_response *resp,
               struct mb_error *err)
{
    memset(resp, 0, sizeof *resp);
    int is_read = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    struct s3_call call = { c, req, resp, { 0 }, req->cancel, is_read };
    struct mb_curl_req *r = s3_request_new(&call, err);
    if (!r)
        return -1;
    method_options(r, req);
    curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, resp);
    struct mb_curl_retry how = call_retry(&call);
    int rc = mb_curl_req_perform_retry(r, &how);
    char why[400];
    if (rc != 0)
        describe_failure(r, why, sizeof why);
    take_response(r, resp);
    int tries = r->attempts;
    mb_curl_req_free(r);
    signed_request_free(&call.sreq);
    if (rc == 0)
        return 0;
    const char *key = req->key ? req->key : "";
    if (tries > 1)
        mb_error_set(err, "%s%s%s failed at %s after %d attempts: %s", req->what,
                     *key ? " " : "", key, c->endpoint, tries, why);
    else
        mb_error_set(err, "%s%s%s failed at %s: %s", req->what, *key ? " " : "", key,
                     c->endpoint, why);
    return -1;
}

void s3_response_free(struct s3_response *resp) { response_reset(resp); }

/* ---- streamed GET ------------------------------------------------------- */

/* curlxfer's pull-style reader (one network chunk in memory whatever the
 * object's size), retried while nothing has reached the caller.  This
 * wrapper owns it and the call its hooks use, and adds cancel(). */
struct s3_get {
    struct mb_reader base;
    struct mb_reader *transfer; /* owned */
    struct s3_request req;
    char *key;                  /* owned; req.key */
    struct s3_call call;
    atomic_int cancelled;
};

/* tell(): "download KEY failed at ENDPOINT[ in the middle of the object]: why" */
static void get_tell(void *ud, const struct mb_curl_req *r, int midway, struct mb_error *err)
{
    struct s3_call *call = ud;
    char why[400];
    describe_failure(r, why, sizeof why);
    mb_error_set(err, "download %s failed at %s%s: %s", call->req->key, call->c->endpoint,
                 midway ? " in the middle of the object" : "", why);
}

static ssize_t get_read(struct mb_reader *r, void *buf, size_t len, struct mb_error *err)
{
    struct s3_get *g = (struct s3_get *)r;
    return g->transfer->read(g->transfer, buf, len, err);
}

static void get_cancel(struct mb_reader *r) { atomic_store(&((struct s3_get *)r)->cancelled, 1); }

static void get_close(struct mb_reader *r)
{
    struct s3_get *g = (struct s3_get *)r;
    if (!g)
        return;
    if (g->transfer)
        g->transfer->close(g->transfer); /* first: its hooks use g->call */
    signed_request_free(&g->call.sreq);
    mb_config_free(&g->base.meta);
    free(g->key);
    free(g);
}

/* The transfer starts here, so a missing object or a refused request
 * fails here, not at the first read. */
struct mb_reader *s3_get_open(struct s3_client *c, const char *key, struct mb_error *err)
{
    struct s3_get *g = calloc(1, sizeof *g);
    if (!g || !(g->key = strdup(key))) {
        free(g);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    g->base.read = get_read;
    g->base.cancel = get_cancel;
    g->base.close = get_close;
    g->req = (struct s3_request){ "GET", g->key, NULL, 0, NULL, 0, NULL, "download", NULL };
    g->call = (struct s3_call){ c, &g->req, NULL, { 0 }, &g->cancelled, 1 };
    struct mb_curl_req *r = s3_request_new(&g->call, err);
    struct mb_curl_retry how = call_retry(&g->call);
    g->transfer = r ? mb_curl_reader_open_retry(r, &how, get_tell, err) : NULL;
    if (!g->transfer) {
        get_close(&g->base);
        return NULL;
    }
    return &g->base;
}

/* ---- XML ---------------------------------------------------------------- */

static const char *find_in(const char *from, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = from; p + n <= end; p++)
        if (*p == *needle && memcmp(p, needle, n) == 0)
            return p;
    return NULL;
}

int s3_xml_block(const char **pos, const char *end, const char *tag, const char **inner,
                 const char **inner_end)
{
    char open[80], close[80];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = find_in(*pos, end, open);
    const char *b = a ? find_in(a + strlen(open), end, close) : NULL;
    if (!b)
        return 0;
    *inner = a + strlen(open);
    *inner_end = b;
    *pos = b + strlen(close);
    return 1;
}

char *s3_xml_next(const char **pos, const char *end, const char *tag)
{
    const char *a, *b;
    if (!s3_xml_block(pos, end, tag, &a, &b))
        return NULL;
    char *out = strndup(a, (size_t)(b - a));
    if (out)
        mb_xml_unescape(out); /* S3 escapes keys */
    return out;
}
