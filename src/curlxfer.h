/* curlxfer.h — libcurl plumbing shared by the remote storages (sftp, webdav,
 * ftp through remotefs.c, and S3 through s3client.c; usable by any adapter
 * that speaks through libcurl).
 *
 * The pump pushes bytes into a writer (write(buf, len) many times, then
 * commit) and pulls bytes from a reader; libcurl wants the opposite: a read
 * callback it calls when it is ready to send, a write callback it calls when
 * bytes arrive.  We reconcile the two without a thread and without copying
 * the stream: every streamed transfer has its own multi handle, driven from
 * the caller's thread.  write() lends its buffer to the read callback and
 * runs curl_multi_perform/curl_multi_poll until libcurl has taken all of
 * it; when libcurl asks for more while nothing is lent, the read callback
 * pauses the transfer (CURL_READFUNC_PAUSE) until the next write().  A
 * download pauses the same way (CURL_WRITEFUNC_PAUSE) while the caller has
 * not yet read the chunk it holds.
 *
 * Memory per transfer is therefore bounded whatever the size of the
 * backup: libcurl's upload buffer (64 KiB) and, before an upload starts to
 * stream, at most MB_CURL_SMALL bytes kept so that small objects (sidecars)
 * can be sent whole, with retries; a download holds one chunk of at most
 * CURL_MAX_WRITE_SIZE (16 KiB) for its caller.
 *
 * Small requests (list, rename, delete, mkdir, sidecar put) are retried
 * with exponential backoff after connection-level failures, or as the
 * caller's rules say (struct mb_curl_retry: S3 signs every attempt anew
 * and has its own words for "try again").  A streamed
 * upload is retried the same way while it starts: until the server has
 * accepted it, libcurl is lent only the first MB_CURL_SMALL bytes, which
 * are kept and can be sent again (see upload_start).  Once bytes that are
 * no longer kept have been handed over it cannot be replayed: when it
 * fails, the writer fails, and the pump aborts it (the adapter then deletes
 * its temporary object). */
#ifndef MB_CURLXFER_H
#define MB_CURLXFER_H

#include "mb.h"
#include "buf.h"
#include "cancel.h"

#include <curl/curl.h>

#define MB_CURL_SMALL (64u << 10)

/* What every request of one storage shares, read from its config:
 * user, password, ca_file, insecure_tls ("true"), timeout (seconds a
 * transfer may stall, and the connect timeout), retries; and the config's
 * cancel token. */
struct mb_curl_conf {
    char *user, *password, *ca_file; /* owned; NULL when not set */
    int insecure_tls;
    long timeout;
    int retries;
    const struct mb_cancel *cancel; /* borrowed; NULL: never cancelled */
};

int mb_curl_conf_load(struct mb_curl_conf *conf, const struct mb_config *cfg,
                      struct mb_error *err);
void mb_curl_conf_free(struct mb_curl_conf *conf);

/* One request: an easy handle with the common options set, what came back,
 * and why it failed.  Lists given to libcurl are kept here so that they
 * live as long as the handle. */
struct mb_curl_req {
    CURL *easy;
    char errbuf[CURL_ERROR_SIZE];
    CURLcode code;
    long timeout;                 /* the storage's, in seconds */
    long status;                  /* HTTP status, or the last FTP/SFTP reply */
    int http;                     /* status >= 400 is a failure */
    struct mb_buf body;           /* response body, collected up to body_max */
    size_t body_max;
    const char *send;             /* request body from memory (borrowed) */
    size_t send_len, send_pos;
    struct curl_slist *headers;   /* owned */
    struct curl_slist *quote;     /* owned */
    char note[256];               /* an adapter's callback's words, preferred
                                     over libcurl's (host key refused ...) */
    char stopped[160];            /* why the retries stopped before their
                                     number was spent (the deadline), said
                                     after the last failure; empty otherwise */
    int body_clip;                /* a body longer than body_max is cut, not
                                     an error (mb_curl_req_collect_head) */
    int attempts;                 /* made by the last perform, for messages */
    /* The conf's token (borrowed): once it is cancelled, a failed attempt
     * is not tried again, and a back-off under way ends at once. */
    const struct mb_cancel *cancel;
};

/* url may be NULL when each attempt sets its own (see prepare below). */
struct mb_curl_req *mb_curl_req_new(const struct mb_curl_conf *conf, const char *url,
                                    struct mb_error *err);
void mb_curl_req_free(struct mb_curl_req *r);
/* Appends to r->headers or r->quote (and sets the option). */
int mb_curl_req_header(struct mb_curl_req *r, const char *line);
int mb_curl_req_quote(struct mb_curl_req *r, CURLoption which, const char *command);
/* The response body is collected (at most max bytes; more is an error). */
void mb_curl_req_collect(struct mb_curl_req *r, size_t max);
/* The same, keeping only the first max bytes of a longer body (an answer
 * read for a message, whose length is the server's business). */
void mb_curl_req_collect_head(struct mb_curl_req *r, size_t max);
/* The request body comes from memory (borrowed until the request is done). */
void mb_curl_req_send(struct mb_curl_req *r, const char *data, size_t len);

/* How an attempt went. */
enum mb_curl_verdict { MB_CURL_DONE, MB_CURL_RETRY, MB_CURL_FAILED };

/* How a request is tried again.  A storage whose every attempt must differ
 * (S3 signs each one with the time it is sent) gives prepare(); one whose
 * servers say "try again" in their own words (S3's SlowDown) gives judge().
 * The hooks are called on the caller's thread, with ud. */
struct mb_curl_retry {
    int retries;         /* attempts after the first */
    long first_delay_ms; /* before the first retry; doubled for each next one */
    long max_delay_ms;   /* at most this (0: no cap) */
    int jitter;          /* add up to a quarter at random, so that many
                            clients do not retry in step */
    /* Before every attempt, the first included: 0, or -1 (out of memory:
     * the request fails without being sent).  NULL: nothing to redo. */
    int (*prepare)(void *ud, struct mb_curl_req *r);
    /* NULL: mb_curl_req_verdict. */
    enum mb_curl_verdict (*judge)(void *ud, const struct mb_curl_req *r);
    void *ud;
    /* Optional: the seconds the server asked to wait before the next
     * attempt (mb_curl_req_retry_after, a body's own words), or < 0 when
     * it did not say: the back-off's wait applies then.  It is waited
     * however long (the deadline is what bounds it). */
    double (*delay)(void *ud, const struct mb_curl_req *r);
    /* mb_now() after which no attempt starts or lasts and no wait ends;
     * 0: none.  A wait that would end past it is not begun: the request
     * fails at once, its `stopped` saying why.  Attempts are bounded by it
     * in mb_curl_req_perform_retry (a reader or an upload bounds only its
     * waits). */
    double deadline;
    /* The most one attempt may take in all, in milliseconds (0: no bound
     * but the deadline and the stall timeout); mb_curl_req_perform_retry. */
    long attempt_ms;
};

/* The one list of what is worth another attempt, for every storage: the
 * connection failed (refused, reset, timed out, name not resolved, TLS or
 * SSH handshake cut off), or an HTTP server said 408, 429 or 5xx other
 * than 501 (Not Implemented: it will not be, however often asked).
 * Whether the request failed at all is the caller's judgement. */
int mb_curl_req_transient(const struct mb_curl_req *r);

/* The default judgement: a libcurl error or HTTP status >= 400 failed; it
 * is worth another attempt when mb_curl_req_transient says so. */
enum mb_curl_verdict mb_curl_req_verdict(const struct mb_curl_req *r);

/* The seconds a 429 or 503's Retry-After header asked to wait (a number
 * or an HTTP date, read by libcurl), or -1 when the answer had none. */
double mb_curl_req_retry_after(const struct mb_curl_req *r);

/* Performs r, again while how says so, waiting between attempts.  0 when
 * it succeeded; r->attempts says how many were made. */
int mb_curl_req_perform_retry(struct mb_curl_req *r, const struct mb_curl_retry *how);
/* The same with the default rules: retries more times, waiting 0.25 s,
 * 0.5 s, 1 s ... between. */
int mb_curl_req_perform(struct mb_curl_req *r, int retries);
/* Why r failed, in words: "HTTP 401", curl's message, the server's reply;
 * then "; " and r->stopped when the retries stopped early. */
void mb_curl_req_describe(const struct mb_curl_req *r, char *out, size_t size);

/* A push-style upload over a configured request (URL, upload options,
 * quote commands).  Takes ownership of req.  label names the transfer in
 * messages ("sftp 127.0.0.1:22: upload of /srv/x").  Memory: see above. */
struct mb_curl_upload;
struct mb_curl_upload *mb_curl_upload_new(struct mb_curl_req *req, int retries,
                                          const char *label, struct mb_error *err);
int mb_curl_upload_write(struct mb_curl_upload *u, const void *buf, size_t len,
                         struct mb_error *err);
/* Ends the upload and waits for the server to confirm it (and to run the
 * post-quote commands, such as a rename). */
int mb_curl_upload_finish(struct mb_curl_upload *u, struct mb_error *err);
void mb_curl_upload_free(struct mb_curl_upload *u);

/* A pull-style download of a configured request; takes ownership of req.
 * The transfer starts at once, so a missing object fails here.  Not
 * retried; a failure says "label: why" (at the start) or "label: download
 * failed: why" (later). */
struct mb_reader *mb_curl_reader_open(struct mb_curl_req *req, const char *label,
                                      struct mb_error *err);

/* The same, tried again as how says while no byte has reached the caller
 * (afterwards a retry would repeat them).  The body of an HTTP answer that
 * how does not judge done goes to the request's collection (see
 * mb_curl_req_collect), not to the caller.  tell() words a failure
 * (midway: bytes had reached the caller, so it was not retried).  how is copied; its ud must
 * outlive the reader. */
typedef void mb_curl_tell_fn(void *ud, const struct mb_curl_req *r, int midway,
                             struct mb_error *err);
struct mb_reader *mb_curl_reader_open_retry(struct mb_curl_req *req, const struct mb_curl_retry *how,
                                            mb_curl_tell_fn *tell, struct mb_error *err);

/* A writer over an upload to a temporary name that becomes the final name
 * on commit: by the upload's own post-quote (sftp, ftp) or by promote()
 * (webdav's MOVE).  discard() removes the temporary object after a failure
 * (best effort, once).  storage must outlive the writer (its holder keeps
 * a reference to it).  Takes ownership of u. */
struct mb_remote_writer_ops {
    int (*promote)(void *storage, const char *temp, const char *name, struct mb_error *err);
    void (*discard)(void *storage, const char *temp);
};
struct mb_writer *mb_remote_writer_new(struct mb_curl_upload *u, const struct mb_remote_writer_ops *ops,
                                       void *storage, const char *temp, const char *name,
                                       struct mb_error *err);

#endif
