/* notice.h — what the notifiers (adapters/notify/) share: sending one
 * notice over HTTP as a service expects it, and fitting text into a
 * service's limits.  Implemented in src/notice.c. */
#ifndef MB_NOTICE_H
#define MB_NOTICE_H

#include "adapters.h"
#include "buf.h"

#include <curl/curl.h>

/* Options every notifier has beside its own (its ops' options end with
 * them: { "url", ... }, MB_NOTIFY_COMMON_OPTIONS, { NULL }): timeout
 * (seconds one attempt may take, default 10), retries (attempts after the
 * first, default 3) and ca_file (the CA certificates TLS is verified
 * against instead of the system's; TLS is always verified). */
#define MB_NOTIFY_COMMON_OPTIONS /* entries of struct mb_option, see notice.c */ \
    { "timeout", MB_OPTION_INTEGER, 0, "10", 0,                                  \
      .help = "seconds one delivery attempt may take", MB_OPTION_SECONDS },      \
    { "retries", MB_OPTION_INTEGER, 0, "3", 0,                                   \
      .help = "attempts after the first on connection errors, 5xx and 429",     \
      MB_OPTION_RANGE(0, 10, "a number of retries from 0 to 10") },             \
    { "ca_file", MB_OPTION_STRING, 0, NULL, 0,                                   \
      .help = "CA certificates (PEM) to verify the server with, instead of the system's" }

/* One HTTP request of a notifier. */
struct mb_notice_post {
    const char *label;        /* "discord notifier" : messages say "LABEL HOST: why" */
    const char *url;          /* may hold a token: never shown, only its host */
    const char *content_type; /* "application/json", "text/plain; charset=utf-8" */
    const char *body;
    size_t body_len;
    /* Extra header lines ("Title: ..."), NULL-terminated; may be NULL. */
    const char *const *headers;
    /* Optional: how long the service asks to wait before the next attempt,
     * read from a 429's body (Discord's retry_after), in seconds; < 0 when
     * it says nothing.  The Retry-After header is read in any case. */
    double (*retry_after)(const char *body, size_t len);
};

/* POSTs p under cfg's timeout, retries and ca_file until deadline; see
 * the send member of struct mb_notify_ops for what out and err receive.
 *
 * Each attempt lasts at most `timeout` seconds and ends by the deadline;
 * none starts after it.  2xx is sent.  A connection error (refused, reset,
 * timed out, name not resolved), 408, 429 and 5xx but 501 are tried again
 * up to `retries` times, after 1 s, 2 s, 4 s ... (30 s at most, plus up to
 * a quarter of jitter), or after what a 429 or 503 asks: the longer of its
 * Retry-After header (seconds or an HTTP date) and p->retry_after's
 * reading of its body.  A wait that would end past the deadline is not
 * begun: the delivery fails, saying "gave up: ...".  Any other answer (a
 * 4xx; a 3xx: redirects are not followed, so that a token in the URL goes
 * nowhere else) fails at once.  Only http and https URLs; TLS verified.
 * The User-Agent is "moonbak/VERSION".
 *
 * out: sent; code, the last answer's status (0: none came); attempts;
 * answer, "HTTP 204" or "HTTP 200: ok" / "HTTP 404 Not Found: {...}" (the
 * status and the start of the body on one line, dropped when it repeats a
 * part of the URL).  err: "LABEL HOST: HTTP 404 Not Found",
 * "LABEL HOST: Could not resolve host: HOST (4 attempts)",
 * "LABEL HOST: HTTP 429 Too Many Requests; gave up: the server asked to
 * wait 30 s, past the deadline": never the URL's path, query or user, nor
 * the body. */
int mb_notice_post(const struct mb_config *cfg, const struct mb_notice_post *p, double deadline,
                   struct mb_delivery *out, struct mb_error *err);

/* The host of url for messages ("discord.com"), "?" when it has none.
 * (Not mb_url_host: urlxml.h has that name, for the other way round.) */
void mb_url_host_of(const char *url, char *out, size_t size);

/* Appends at most max_chars characters (code points) of text to b, cut on
 * a character boundary, ending with "…" when cut.  0, or -1 out of memory. */
int mb_text_add_head(struct mb_buf *b, const char *text, size_t max_chars);
/* Appends the end of the lines of text that fit in max_chars characters
 * (the newest lines are kept), starting with "[N earlier lines cut]" when
 * lines were dropped; a single line longer than that keeps its end. */
int mb_text_add_tail(struct mb_buf *b, const char *text, size_t max_chars);

/* A limit in bytes for the functions here, which count characters:
 * calls fill(b, ud, max_chars) with max_chars from max_bytes down until
 * what it appends to b is at most max_bytes long (each try that is too
 * long is taken back).  0, or -1 out of memory. */
int mb_text_fit_bytes(struct mb_buf *b, size_t max_bytes,
                      int (*fill)(struct mb_buf *b, const void *ud, size_t max_chars),
                      const void *ud);

/* The notice as plain text for a human (mail, ntfy): the summary, the
 * fields as "Name: value" lines, and the log's tail, in at most max_chars
 * characters (the log gives way first). */
int mb_notice_plain_text(struct mb_buf *b, const struct mb_notice *notice, size_t max_chars);

#endif
