/* notice.h — what the notifiers (adapters/notify/) share: sending one
 * notice over HTTP as a service expects it, and fitting text into a
 * service's limits.  Implemented in src/notice.c. */
#ifndef MB_NOTICE_H
#define MB_NOTICE_H

#include "adapters.h"
#include "buf.h"

#include <curl/curl.h>

/* Options every notifier has beside its own (its ops' options end with
 * them): timeout (seconds one attempt may take, default 10) and retries
 * (attempts after the first, default 3). */
#define MB_NOTIFY_COMMON_OPTIONS /* entries of struct mb_option, see notice.c */ \
    { "timeout", MB_OPTION_INTEGER, 0, "10", 0,                                  \
      .help = "seconds one delivery attempt may take", MB_OPTION_SECONDS },      \
    { "retries", MB_OPTION_INTEGER, 0, "3", 0,                                   \
      .help = "attempts after the first on connection errors, 5xx and 429",     \
      MB_OPTION_RANGE(0, 10, "a number of retries from 0 to 10") }

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

/* POSTs p under cfg's timeout and retries until deadline; see the send
 * member of struct mb_notify_ops for what out and err receive. */
int mb_notice_post(const struct mb_config *cfg, const struct mb_notice_post *p, double deadline,
                   struct mb_delivery *out, struct mb_error *err);

/* The host of url for messages ("discord.com"), "?" when it has none. */
void mb_url_host(const char *url, char *out, size_t size);

/* Appends at most max_chars characters (code points) of text to b, cut on
 * a character boundary, ending with "…" when cut.  0, or -1 out of memory. */
int mb_text_add_head(struct mb_buf *b, const char *text, size_t max_chars);
/* Appends the end of the lines of text that fit in max_chars characters
 * (the newest lines are kept), starting with "[N earlier lines cut]" when
 * lines were dropped; a single line longer than that keeps its end. */
int mb_text_add_tail(struct mb_buf *b, const char *text, size_t max_chars);

/* The notice as plain text for a human (mail, ntfy): the summary, the
 * fields as "Name: value" lines, and the log's tail, in at most max_chars
 * characters (the log gives way first). */
int mb_notice_plain_text(struct mb_buf *b, const struct mb_notice *notice, size_t max_chars);

#endif
