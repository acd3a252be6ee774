/* curlxfer.c — libcurl requests, push-style uploads and pull-style
 * downloads for the remote storages (see curlxfer.h for the design). */
#include "curlxfer.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* ---- process-wide setup ------------------------------------------------ */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

/* Once per process, before the first handle.  SIGPIPE is ignored because
 * libssh2 and OpenSSL write to sockets with plain send(), and with
 * CURLOPT_NOSIGNAL (required: the pump is multi-threaded) libcurl does not
 * guard those writes: a server that goes away must be an error, not the
 * death of the run. */
static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    atexit(curl_global_cleanup);
}

/* ---- configuration ----------------------------------------------------- */

static int copy_option(char **dst, const struct mb_config *cfg, const char *key)
{
    const char *v = mb_config_get(cfg, key);
    *dst = v && *v ? strdup(v) : NULL;
    return v && *v && !*dst ? -1 : 0;
}

int mb_curl_conf_load(struct mb_curl_conf *conf, const struct mb_config *cfg,
                      struct mb_error *err)
{
    memset(conf, 0, sizeof *conf);
    if (copy_option(&conf->user, cfg, "user") != 0 || copy_option(&conf->password, cfg, "password") != 0
        || copy_option(&conf->ca_file, cfg, "ca_file") != 0) {
        mb_curl_conf_free(conf);
        mb_error_set(err, "out of memory");
        return -1;
    }
    const char *insecure = mb_config_get(cfg, "insecure_tls");
    conf->insecure_tls = insecure && strcmp(insecure, "true") == 0;
    /* Their defaults are in each adapter's schema; the engine gives them. */
    conf->timeout = (long)mb_config_get_int(cfg, "timeout", 0);
    conf->retries = (int)mb_config_get_int(cfg, "retries", 0);
    if (conf->timeout < 1)
        conf->timeout = 1;
    if (conf->retries < 0)
        conf->retries = 0;
    conf->cancel = cfg->cancel;
    return 0;
}

void mb_curl_conf_free(struct mb_curl_conf *conf)
{
    free(conf->user);
    mb_free_secret(conf->password);
    free(conf->ca_file);
    memset(conf, 0, sizeof *conf);
}

/* ---- one request ------------------------------------------------------- */

static size_t req_receive(char *data, size_t size, size_t n, void *ud)
{
    struct mb_curl_req *r = ud;
    size_t len = size * n;
    if (r->body_max == 0)
        return len; /* nobody asked for the body */
    if (r->body.len + len > r->body_max && r->body_clip) {
        if (r->body.len < r->body_max)
            mb_buf_add(&r->body, data, r->body_max - r->body.len);
        return len; /* the rest is not wanted */
    }
    if (r->body.len + len > r->body_max)
        return 0; /* too large: libcurl fails with CURLE_WRITE_ERROR */
    return mb_buf_add(&r->body, data, len) == 0 ? len : 0;
}

static size_t req_supply(char *dst, size_t size, size_t n, void *ud)
{
    struct mb_curl_req *r = ud;
    size_t len = r->send_len - r->send_pos;
    if (len > size * n)
        len = size * n;
    if (len)
        memcpy(dst, r->send + r->send_pos, len);
    r->send_pos += len;
    return len;
}

static void req_set_common(struct mb_curl_req *r, const struct mb_curl_conf *conf, const char *url)
{
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, req_receive);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, req_supply);
    curl_easy_setopt(e, CURLOPT_READDATA, r);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, conf->timeout);
    /* A transfer that moves nothing for `timeout` seconds fails; a paused
     * one (waiting for the dump) is exempt. */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, conf->timeout);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Credentials go through options, never into a URL that a message
     * might show. */
    if (conf->user)
        curl_easy_setopt(e, CURLOPT_USERNAME, conf->user);
    if (conf->password)
        curl_easy_setopt(e, CURLOPT_PASSWORD, conf->password);
    if (conf->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, conf->ca_file);
    if (conf->insecure_tls) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

struct mb_curl_req *mb_curl_req_new(const struct mb_curl_conf *conf, const char *url,
                                    struct mb_error *err)
{
    pthread_once(&global_once, global_init);
    struct mb_curl_req *r = calloc(1, sizeof *r);
    if (!r || !(r->easy = curl_easy_init())) {
        free(r);
        mb_error_set(err, "out of memory (libcurl)");
        return NULL;
    }
    req_set_common(r, conf, url);
    r->timeout = conf->timeout;
    r->cancel = conf->cancel;
    return r;
}

void mb_curl_req_free(struct mb_curl_req *r)
{
    if (!r)
        return;
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    curl_slist_free_all(r->quote);
    mb_buf_free(&r->body);
    free(r);
}

int mb_curl_req_header(struct mb_curl_req *r, const char *line)
{
    struct curl_slist *l = curl_slist_append(r->headers, line);
    if (!l)
        return -1;
    r->headers = l;
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    return 0;
}

/* One list per request is enough: a request uses QUOTE or POSTQUOTE. */
int mb_curl_req_quote(struct mb_curl_req *r, CURLoption which, const char *command)
{
    struct curl_slist *l = curl_slist_append(r->quote, command);
    if (!l)
        return -1;
    r->quote = l;
    curl_easy_setopt(r->easy, which, r->quote);
    return 0;
}

void mb_curl_req_collect(struct mb_curl_req *r, size_t max)
{
    r->body_max = max;
    r->body_clip = 0;
}

void mb_curl_req_collect_head(struct mb_curl_req *r, size_t max)
{
    r->body_max = max;
    r->body_clip = 1;
}

void mb_curl_req_send(struct mb_curl_req *r, const char *data, size_t len)
{
    r->send = data;
    r->send_len = len;
    r->send_pos = 0;
    curl_easy_setopt(r->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
}

static int req_failed(const struct mb_curl_req *r)
{
    return r->code != CURLE_OK || (r->http && r->status >= 400);
}

static int http_status_transient(long status)
{
    return status == 408 || status == 429 || (status >= 500 && status != 501);
}

int mb_curl_req_transient(const struct mb_curl_req *r)
{
    if (r->code == CURLE_OK || r->code == CURLE_HTTP_RETURNED_ERROR)
        return r->http && http_status_transient(r->status);
    switch (r->code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_FTP_ACCEPT_TIMEOUT:
    case CURLE_FTP_CANT_GET_HOST:
    case CURLE_FTP_WEIRD_PASV_REPLY:
    case CURLE_FTP_WEIRD_227_FORMAT:
    /* libcurl's SSH code says this when the SSH handshake failed (the
     * connection was reset or closed before the server's banner), which is
     * a connection-level failure like the others. */
    case CURLE_FAILED_INIT:
        return 1;
    default:
        return 0;
    }
}

enum mb_curl_verdict mb_curl_req_verdict(const struct mb_curl_req *r)
{
    if (!req_failed(r))
        return MB_CURL_DONE;
    return mb_curl_req_transient(r) ? MB_CURL_RETRY : MB_CURL_FAILED;
}

static enum mb_curl_verdict retry_judge(const struct mb_curl_retry *how, const struct mb_curl_req *r)
{
    return how->judge ? how->judge(how->ud, r) : mb_curl_req_verdict(r);
}

double mb_curl_req_retry_after(const struct mb_curl_req *r)
{
    curl_off_t seconds = 0;
    if (r->status != 429 && r->status != 503)
        return -1;
    if (curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &seconds) != CURLE_OK || seconds == 0)
        return -1; /* no header (or "0", which asks nothing) */
    return seconds < 0 ? 0 : (double)seconds; /* a date in the past: now */
}

/* The back-off's wait before retry number n (0 for the first), in seconds. */
static double backoff_seconds(const struct mb_curl_retry *how, int n)
{
    long ms = how->first_delay_ms;
    for (int i = 0; i < n && ms <= LONG_MAX / 2 && (!how->max_delay_ms || ms < how->max_delay_ms); i++)
        ms *= 2;
    if (how->max_delay_ms && ms > how->max_delay_ms)
        ms = how->max_delay_ms;
    if (how->jitter)
        ms += random() % (ms / 4 + 1);
    return (double)ms / 1000.0;
}

/* Waits before retry number n (0 for the first retry): as long as the
 * server asked (how->delay), or the back-off's wait.  0, or -1 when the
 * wait would end past the deadline (then r's `stopped` says so) or r's
 * token is (or becomes) cancelled: then r is not tried again, and its note
 * says so, with the last attempt's failure. */
static int retry_wait(const struct mb_curl_retry *how, int n, struct mb_curl_req *r)
{
    double asked = how->delay ? how->delay(how->ud, r) : -1;
    double seconds = asked >= 0 ? asked : backoff_seconds(how, n);
    if (how->deadline > 0 && mb_now() + seconds >= how->deadline) {
        if (asked >= 0)
            snprintf(r->stopped, sizeof r->stopped,
                     "gave up: the server asked to wait %.3g s, past the deadline", asked);
        else
            snprintf(r->stopped, sizeof r->stopped,
                     "gave up: the deadline comes before the next attempt would");
        return -1;
    }
    if (mb_cancel_sleep(r->cancel, seconds) == 0)
        return 0;
    char why[sizeof r->note];
    mb_curl_req_describe(r, why, sizeof why);
    int sig = mb_cancel_reason(r->cancel);
    int len = snprintf(r->note, sizeof r->note, "interrupted by signal %d (%s) before a retry after: ",
                       sig, strsignal(sig));
    if (len > 0 && (size_t)len < sizeof r->note) { /* the rest of why, as much as fits */
        size_t n_why = strnlen(why, sizeof r->note - (size_t)len - 1);
        memcpy(r->note + len, why, n_why);
        r->note[(size_t)len + n_why] = '\0';
    }
    return -1;
}

/* Makes r ready for another attempt: what the last one left is forgotten,
 * and the caller's prepare() runs (a failure there fails the attempt). */
static int attempt_begin(struct mb_curl_req *r, const struct mb_curl_retry *how)
{
    r->attempts++;
    r->code = CURLE_OK;
    r->errbuf[0] = '\0';
    r->note[0] = '\0';
    r->stopped[0] = '\0';
    mb_buf_clear(&r->body);
    r->send_pos = 0;
    r->status = 0;
    if (how->prepare && how->prepare(how->ud, r) != 0) {
        r->code = CURLE_OUT_OF_MEMORY;
        snprintf(r->errbuf, sizeof r->errbuf, "out of memory");
        return -1;
    }
    return 0;
}

/* Bounds the next attempt by how's attempt_ms and deadline.  -1 when no
 * time is left for it (r says so). */
static int attempt_bound(struct mb_curl_req *r, const struct mb_curl_retry *how)
{
    if (how->deadline <= 0 && how->attempt_ms <= 0)
        return 0;
    long ms = how->attempt_ms;
    if (how->deadline > 0) {
        double left = (how->deadline - mb_now()) * 1000.0;
        if (left < 1) {
            if (r->attempts == 0) {
                r->code = CURLE_OPERATION_TIMEDOUT;
                snprintf(r->errbuf, sizeof r->errbuf, "no time was left before the deadline");
            } else {
                snprintf(r->stopped, sizeof r->stopped,
                         "gave up: no time was left before the deadline for another attempt");
            }
            return -1;
        }
        if (ms <= 0 || left < (double)ms)
            ms = (long)left;
    }
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, ms);
    return 0;
}

int mb_curl_req_perform_retry(struct mb_curl_req *r, const struct mb_curl_retry *how)
{
    r->attempts = 0;
    for (;;) {
        if (attempt_bound(r, how) != 0)
            return -1;
        if (attempt_begin(r, how) != 0)
            return -1;
        r->code = curl_easy_perform(r->easy);
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
        enum mb_curl_verdict v = retry_judge(how, r);
        if (v == MB_CURL_DONE)
            return 0;
        if (v == MB_CURL_FAILED || r->attempts > how->retries)
            return -1;
        if (retry_wait(how, r->attempts - 1, r) != 0)
            return -1;
    }
}

/* The rules of mb_curl_req_perform and of a starting upload. */
static struct mb_curl_retry default_retry(int retries)
{
    return (struct mb_curl_retry){ .retries = retries, .first_delay_ms = 250 };
}

int mb_curl_req_perform(struct mb_curl_req *r, int retries)
{
    struct mb_curl_retry how = default_retry(retries);
    return mb_curl_req_perform_retry(r, &how);
}

static const char *http_words(long status)
{
    switch (status) {
    case 401: return " (authentication failed: check user and password)";
    case 403: return " (forbidden)";
    case 404: return " (not found)";
    case 405: return " (method not allowed)";
    case 409: return " (conflict: a parent collection is missing)";
    case 507: return " (insufficient storage)";
    default: return "";
    }
}

/* The last attempt's failure, without why the retries stopped. */
static void describe_attempt(const struct mb_curl_req *r, char *out, size_t size)
{
    if (r->note[0]) {
        snprintf(out, size, "%s", r->note);
        return;
    }
    if (r->http && r->status >= 400) {
        snprintf(out, size, "HTTP %ld%s", r->status, http_words(r->status));
        return;
    }
    const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->code);
    size_t n = strlen(why);
    while (n && (why[n - 1] == '\n' || why[n - 1] == '\r'))
        n--;
    if (!r->http && r->status > 0)
        snprintf(out, size, "%.*s (server reply %ld)", (int)n, why, r->status);
    else
        snprintf(out, size, "%.*s", (int)n, why);
}

void mb_curl_req_describe(const struct mb_curl_req *r, char *out, size_t size)
{
    describe_attempt(r, out, size);
    size_t len = strlen(out);
    if (r->stopped[0] && len + 2 < size)
        snprintf(out + len, size - len, "; %s", r->stopped);
}

/* ---- driving one transfer of a multi handle ---------------------------- */

/* Lets libcurl work without blocking; sets *done (and the request's result)
 * when the transfer has ended. */
static void multi_work(CURLM *multi, struct mb_curl_req *r, int *done)
{
    int running = 0;
    CURLMcode mc = curl_multi_perform(multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left)) != NULL) {
        if (m->msg == CURLMSG_DONE) {
            *done = 1;
            r->code = m->data.result;
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
        }
    }
    if (mc != CURLM_OK && !*done) {
        *done = 1;
        r->code = CURLE_FAILED_INIT;
        snprintf(r->errbuf, sizeof r->errbuf, "%s", curl_multi_strerror(mc));
    }
}

/* Waits until libcurl's sockets are ready, at most 1 s. */
static void multi_wait(CURLM *multi)
{
    curl_multi_poll(multi, NULL, 0, 1000, NULL);
}

static CURLM *multi_start(struct mb_curl_req *r, struct mb_error *err)
{
    CURLM *multi = curl_multi_init();
    if (!multi || curl_multi_add_handle(multi, r->easy) != CURLM_OK) {
        if (multi)
            curl_multi_cleanup(multi);
        mb_error_set(err, "out of memory (libcurl)");
        return NULL;
    }
    return multi;
}

/* Removing an unfinished transfer closes its connection: the server sees
 * the upload or download end there. */
static void multi_stop(CURLM *multi, struct mb_curl_req *r)
{
    if (!multi)
        return;
    curl_multi_remove_handle(multi, r->easy);
    curl_multi_cleanup(multi);
}

/* ---- push-style upload ------------------------------------------------- */

struct mb_curl_upload {
    struct mb_curl_req *req; /* owned */
    CURLM *multi;            /* owned; NULL until the upload streams */
    char *label;             /* owned */
    int retries;
    char *small;             /* the first bytes, kept until the server has
                                accepted the upload (MB_CURL_SMALL at most) */
    size_t small_len;
    const char *lent;        /* the caller's buffer during write(); borrowed */
    size_t lent_len, lent_pos;
    int eof, paused, done, finished;
    int asked, heard;        /* libcurl asked for body bytes; an HTTP
                                server answered (100 Continue or a status) */
};

static size_t upload_supply(char *dst, size_t size, size_t n, void *ud)
{
    struct mb_curl_upload *u = ud;
    size_t len = u->lent_len - u->lent_pos;
    u->asked = 1;
    if (len == 0) {
        if (u->eof)
            return 0;
        u->paused = 1; /* resumed by the next write() or by finish */
        return CURL_READFUNC_PAUSE;
    }
    if (len > size * n)
        len = size * n;
    memcpy(dst, u->lent + u->lent_pos, len);
    u->lent_pos += len;
    return len;
}

static size_t upload_heard(char *data, size_t size, size_t n, void *ud)
{
    (void)data;
    ((struct mb_curl_upload *)ud)->heard = 1;
    return size * n;
}

static int upload_fail(struct mb_curl_upload *u, const char *what, struct mb_error *err)
{
    char why[CURL_ERROR_SIZE + 64];
    mb_curl_req_describe(u->req, why, sizeof why);
    mb_error_set(err, "%s: %s: %s", u->label, what, why);
    return -1;
}

/* Lends buf to libcurl and works the transfer until all of it is taken. */
static int upload_push(struct mb_curl_upload *u, const void *buf, size_t len, struct mb_error *err)
{
    u->lent = buf;
    u->lent_len = len;
    u->lent_pos = 0;
    if (u->paused) {
        u->paused = 0;
        curl_easy_pause(u->req->easy, CURLPAUSE_CONT);
    }
    for (;;) {
        multi_work(u->multi, u->req, &u->done);
        if (u->done || u->lent_pos == u->lent_len)
            break;
        multi_wait(u->multi);
    }
    u->lent = NULL;
    u->lent_len = u->lent_pos = 0;
    if (u->done && !u->eof) {
        if (!req_failed(u->req)) /* the server ended it: still a failure */
            snprintf(u->req->errbuf, sizeof u->req->errbuf, "the server ended the upload early");
        return upload_fail(u, "upload failed", err);
    }
    return 0;
}

/* The server has accepted the upload when libcurl asks for body bytes:
 * SFTP and FTP ask only once the remote file is open.  An HTTP client asks
 * after the headers went out, answered or not (curl waits 1 s for "100
 * Continue"), so there an answer must have come back too: a server that
 * accepted the connection and then says nothing would otherwise swallow
 * megabytes into socket buffers before any timeout, and those bytes could
 * not be sent again.  (Every HTTP/1.1 server answers "Expect: 100-continue"
 * before it reads a body; one that ignores it cannot take large uploads.) */
static int upload_accepted(const struct mb_curl_upload *u)
{
    return u->asked && (!u->req->http || u->heard);
}

/* One attempt to start the upload: lends only the kept first bytes and
 * works the transfer until the server has accepted it and taken them, it
 * has ended, or `timeout` seconds have passed (a hung server: the
 * connection is given up).  0 when started; otherwise the request says why. */
static int upload_attempt(struct mb_curl_upload *u)
{
    double deadline = mb_now() + (double)u->req->timeout;
    u->lent = u->small;
    u->lent_len = u->small_len;
    u->lent_pos = 0;
    for (;;) {
        multi_work(u->multi, u->req, &u->done);
        if (u->done)
            break;
        if (u->lent_pos == u->lent_len && upload_accepted(u))
            break;
        if (mb_now() >= deadline) {
            u->req->code = CURLE_OPERATION_TIMEDOUT;
            snprintf(u->req->errbuf, sizeof u->req->errbuf,
                     "the server did not accept the upload within %ld s", u->req->timeout);
            break;
        }
        multi_wait(u->multi);
    }
    u->lent = NULL;
    u->lent_len = u->lent_pos = 0;
    if (u->done && !req_failed(u->req)) /* ended before the end: still a failure */
        snprintf(u->req->errbuf, sizeof u->req->errbuf, "the server ended the upload early");
    return u->done || u->req->code != CURLE_OK ? -1 : 0;
}

/* Closes the failed attempt's connection and makes the transfer new. */
static void upload_reset(struct mb_curl_upload *u)
{
    multi_stop(u->multi, u->req);
    u->multi = NULL;
    u->paused = u->done = u->asked = u->heard = 0;
    u->req->code = CURLE_OK;
    u->req->status = 0;
    u->req->errbuf[0] = '\0';
    u->req->note[0] = '\0';
}

/* From here on the bytes stream: the first MB_CURL_SMALL go out first.
 * Until the server has accepted them, a connection-level failure (refused,
 * reset, no answer within `timeout`, HTTP 5xx/408/429) is retried with the
 * backoff of small requests, since only kept bytes were handed over.  After
 * that the kept bytes are freed, and the caller's own buffers, which it
 * reuses, are all libcurl gets: a later failure fails the writer. */
static int upload_start_streaming(struct mb_curl_upload *u, struct mb_error *err)
{
    CURL *e = u->req->easy;
    curl_easy_setopt(e, CURLOPT_READFUNCTION, upload_supply);
    curl_easy_setopt(e, CURLOPT_READDATA, u);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, upload_heard);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, u);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)-1);
    /* Said explicitly, because upload_accepted waits for its answer. */
    if (u->req->http && mb_curl_req_header(u->req, "Expect: 100-continue") != 0) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    struct mb_curl_retry how = default_retry(u->retries);
    for (int attempt = 1;; attempt++) {
        if (!(u->multi = multi_start(u->req, err)))
            return -1;
        if (upload_attempt(u) == 0)
            break;
        if (attempt > how.retries || !mb_curl_req_transient(u->req)) {
            char what[64];
            snprintf(what, sizeof what, attempt > 1 ? "upload failed after %d attempts" : "upload failed",
                     attempt);
            return upload_fail(u, what, err);
        }
        multi_stop(u->multi, u->req); /* no connection is kept during the back-off */
        u->multi = NULL;
        if (retry_wait(&how, attempt - 1, u->req) != 0)
            return upload_fail(u, "upload failed", err);
        upload_reset(u);
    }
    free(u->small);
    u->small = NULL;
    u->small_len = 0;
    return 0;
}

struct mb_curl_upload *mb_curl_upload_new(struct mb_curl_req *req, int retries,
                                          const char *label, struct mb_error *err)
{
    struct mb_curl_upload *u = calloc(1, sizeof *u);
    if (u)
        u->small = malloc(MB_CURL_SMALL);
    if (u)
        u->label = strdup(label);
    if (!u || !u->small || !u->label) {
        mb_curl_req_free(req);
        if (u) {
            free(u->small);
            free(u->label);
        }
        free(u);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    u->req = req;
    u->retries = retries;
    curl_easy_setopt(req->easy, CURLOPT_UPLOAD, 1L);
    return u;
}

int mb_curl_upload_write(struct mb_curl_upload *u, const void *buf, size_t len,
                         struct mb_error *err)
{
    if (u->done || u->finished) {
        mb_error_set(err, "%s: write after the upload ended", u->label);
        return -1;
    }
    if (!u->multi && u->small_len + len <= MB_CURL_SMALL) {
        memcpy(u->small + u->small_len, buf, len);
        u->small_len += len;
        return 0;
    }
    if (!u->multi && upload_start_streaming(u, err) != 0)
        return -1;
    return upload_push(u, buf, len, err);
}

/* A small object goes up whole from memory, so it can be sent again after
 * a connection-level failure. */
static int upload_small(struct mb_curl_upload *u, struct mb_error *err)
{
    mb_curl_req_send(u->req, u->small, u->small_len);
    if (mb_curl_req_perform(u->req, u->retries) != 0)
        return upload_fail(u, "upload failed", err);
    return 0;
}

int mb_curl_upload_finish(struct mb_curl_upload *u, struct mb_error *err)
{
    if (u->finished) {
        mb_error_set(err, "%s: finished twice", u->label);
        return -1;
    }
    u->finished = 1;
    if (!u->multi)
        return upload_small(u, err);
    u->eof = 1;
    if (u->paused) {
        u->paused = 0;
        curl_easy_pause(u->req->easy, CURLPAUSE_CONT);
    }
    while (!u->done) {
        multi_work(u->multi, u->req, &u->done);
        if (!u->done)
            multi_wait(u->multi);
    }
    if (req_failed(u->req))
        return upload_fail(u, "upload failed", err);
    return 0;
}

void mb_curl_upload_free(struct mb_curl_upload *u)
{
    if (!u)
        return;
    multi_stop(u->multi, u->req);
    mb_curl_req_free(u->req);
    free(u->small);
    free(u->label);
    free(u);
}

/* ---- pull-style download ----------------------------------------------- */

struct curl_reader {
    struct mb_reader base;
    struct mb_curl_req *req;  /* owned */
    CURLM *multi;             /* owned; NULL between attempts */
    struct mb_curl_retry how;
    mb_curl_tell_fn *tell;    /* NULL: the messages below, with label */
    char *label;              /* owned; NULL with tell */
    char *chunk;              /* what libcurl delivered and read() has not taken */
    size_t chunk_len, chunk_pos, chunk_cap;
    uint64_t delivered;       /* bytes the caller has taken: none, a retry is safe */
    int paused, done, opened;
};

/* An HTTP answer judged a failure so far (an S3 error document) is not
 * the caller's data: its body is collected for the message. */
static int reader_answer_failed(struct curl_reader *c)
{
    if (!c->req->http)
        return 0;
    curl_easy_getinfo(c->req->easy, CURLINFO_RESPONSE_CODE, &c->req->status);
    return retry_judge(&c->how, c->req) != MB_CURL_DONE;
}

static size_t reader_take(char *data, size_t size, size_t n, void *ud)
{
    struct curl_reader *c = ud;
    size_t len = size * n;
    if (reader_answer_failed(c))
        return req_receive(data, size, n, c->req);
    if (c->chunk_pos < c->chunk_len) {
        c->paused = 1; /* libcurl keeps this chunk and offers it again */
        return CURL_WRITEFUNC_PAUSE;
    }
    if (len > c->chunk_cap) {
        char *grown = realloc(c->chunk, len);
        if (!grown)
            return 0;
        c->chunk = grown;
        c->chunk_cap = len;
    }
    memcpy(c->chunk, data, len);
    c->chunk_len = len;
    c->chunk_pos = 0;
    return len;
}

/* Works the transfer until a chunk is there or the transfer has ended. */
static void reader_fill(struct curl_reader *c)
{
    while (c->chunk_pos == c->chunk_len && !c->done) {
        if (c->paused) {
            c->paused = 0;
            curl_easy_pause(c->req->easy, CURLPAUSE_CONT); /* may deliver at once */
            if (c->chunk_pos < c->chunk_len)
                break;
        }
        multi_work(c->multi, c->req, &c->done);
        if (c->chunk_pos == c->chunk_len && !c->done)
            multi_wait(c->multi);
    }
}

/* One attempt: the transfer is (re)started from the beginning. */
static int reader_attempt(struct curl_reader *c, struct mb_error *err)
{
    multi_stop(c->multi, c->req); /* closes a failed attempt's connection */
    c->multi = NULL;
    c->paused = c->done = 0;
    c->chunk_len = c->chunk_pos = 0;
    if (attempt_begin(c->req, &c->how) != 0) {
        c->done = 1;
        return 0; /* the request says why */
    }
    return (c->multi = multi_start(c->req, err)) ? 0 : -1;
}

static void reader_tell(struct curl_reader *c, struct mb_error *err)
{
    int midway = c->delivered > 0;
    if (c->tell) {
        c->tell(c->how.ud, c->req, midway, err);
        return;
    }
    char why[CURL_ERROR_SIZE + 64];
    mb_curl_req_describe(c->req, why, sizeof why);
    mb_error_set(err, c->opened ? "%s: download failed: %s" : "%s: %s", c->label, why);
}

/* Works the transfer until a chunk is there, retrying a failed attempt
 * while that is safe.  0: a chunk is there, or the object has ended well;
 * -1 with err set. */
static int reader_next(struct curl_reader *c, struct mb_error *err)
{
    for (;;) {
        reader_fill(c);
        if (c->chunk_pos < c->chunk_len)
            return 0;
        enum mb_curl_verdict v = retry_judge(&c->how, c->req);
        if (v == MB_CURL_DONE)
            return 0;
        if (v == MB_CURL_FAILED || c->delivered > 0 || c->req->attempts > c->how.retries) {
            reader_tell(c, err);
            return -1;
        }
        if (retry_wait(&c->how, c->req->attempts - 1, c->req) != 0) {
            reader_tell(c, err);
            return -1;
        }
        if (reader_attempt(c, err) != 0)
            return -1;
    }
}

static ssize_t reader_read(struct mb_reader *r, void *buf, size_t len, struct mb_error *err)
{
    struct curl_reader *c = (struct curl_reader *)r;
    if (reader_next(c, err) != 0)
        return -1;
    size_t n = c->chunk_len - c->chunk_pos;
    if (n > len)
        n = len;
    if (n)
        memcpy(buf, c->chunk + c->chunk_pos, n);
    c->chunk_pos += n;
    c->delivered += n;
    return (ssize_t)n;
}

static void reader_close(struct mb_reader *r)
{
    struct curl_reader *c = (struct curl_reader *)r;
    if (!c)
        return;
    multi_stop(c->multi, c->req);
    mb_curl_req_free(c->req);
    mb_config_free(&c->base.meta);
    free(c->chunk);
    free(c->label);
    free(c);
}

/* Starts the transfer and waits for the first bytes, so that a missing
 * object or a refused request fails here, not at the first read. */
static struct mb_reader *reader_start(struct curl_reader *c, struct mb_error *err)
{
    c->base.read = reader_read;
    c->base.close = reader_close;
    curl_easy_setopt(c->req->easy, CURLOPT_WRITEFUNCTION, reader_take);
    curl_easy_setopt(c->req->easy, CURLOPT_WRITEDATA, c);
    c->req->attempts = 0;
    if (reader_attempt(c, err) != 0 || reader_next(c, err) != 0) {
        reader_close(&c->base);
        return NULL;
    }
    c->opened = 1;
    return &c->base;
}

struct mb_reader *mb_curl_reader_open(struct mb_curl_req *req, const char *label,
                                      struct mb_error *err)
{
    struct curl_reader *c = calloc(1, sizeof *c);
    if (!c || !(c->label = strdup(label))) {
        free(c);
        mb_curl_req_free(req);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    c->req = req;
    c->how = default_retry(0);
    if (req->http)
        curl_easy_setopt(req->easy, CURLOPT_FAILONERROR, 1L); /* no error page as data */
    return reader_start(c, err);
}

struct mb_reader *mb_curl_reader_open_retry(struct mb_curl_req *req, const struct mb_curl_retry *how,
                                            mb_curl_tell_fn *tell, struct mb_error *err)
{
    struct curl_reader *c = calloc(1, sizeof *c);
    if (!c) {
        mb_curl_req_free(req);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    c->req = req;
    c->how = *how;
    c->tell = tell;
    return reader_start(c, err);
}

/* ---- writer to a temporary name ---------------------------------------- */

struct remote_writer {
    struct mb_writer base;
    struct mb_curl_upload *upload; /* owned; NULL once ended */
    const struct mb_remote_writer_ops *ops;
    void *storage;                 /* outlives the writer */
    char *temp, *name;             /* owned */
    int committed, discarded;
};

static int remote_write(struct mb_writer *w, const void *buf, size_t len, struct mb_error *err)
{
    struct remote_writer *rw = (struct remote_writer *)w;
    if (!rw->upload) {
        mb_error_set(err, "write to an ended upload of %s", rw->name);
        return -1;
    }
    return mb_curl_upload_write(rw->upload, buf, len, err);
}

static int remote_commit(struct mb_writer *w, struct mb_error *err)
{
    struct remote_writer *rw = (struct remote_writer *)w;
    if (!rw->upload) {
        mb_error_set(err, "commit of an ended upload of %s", rw->name);
        return -1;
    }
    int rc = mb_curl_upload_finish(rw->upload, err);
    mb_curl_upload_free(rw->upload);
    rw->upload = NULL;
    if (rc == 0 && rw->ops->promote)
        rc = rw->ops->promote(rw->storage, rw->temp, rw->name, err);
    if (rc == 0)
        rw->committed = 1;
    return rc;
}

/* Ends the transfer first (closing its connection), then removes what the
 * server kept under the temporary name. */
static void remote_abort(struct mb_writer *w)
{
    struct remote_writer *rw = (struct remote_writer *)w;
    mb_curl_upload_free(rw->upload);
    rw->upload = NULL;
    if (!rw->committed && !rw->discarded) {
        rw->discarded = 1;
        rw->ops->discard(rw->storage, rw->temp);
    }
}

static void remote_close(struct mb_writer *w)
{
    struct remote_writer *rw = (struct remote_writer *)w;
    if (!rw)
        return;
    remote_abort(w);
    free(rw->temp);
    free(rw->name);
    free(rw);
}

struct mb_writer *mb_remote_writer_new(struct mb_curl_upload *u, const struct mb_remote_writer_ops *ops,
                                       void *storage, const char *temp, const char *name,
                                       struct mb_error *err)
{
    struct remote_writer *rw = calloc(1, sizeof *rw);
    char *t = strdup(temp), *n = strdup(name);
    if (!rw || !t || !n) {
        free(rw);
        free(t);
        free(n);
        mb_curl_upload_free(u);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    rw->base = (struct mb_writer){ remote_write, remote_commit, remote_abort, remote_close };
    rw->upload = u;
    rw->ops = ops;
    rw->storage = storage;
    rw->temp = t;
    rw->name = n;
    return &rw->base;
}
