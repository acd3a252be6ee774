/* notice.c — what the notifiers share: text fitted to a service's limits
 * (this part), and the HTTP delivery with its retries (mb_notice_post). */
#include "notice.h"

#include "clock.h"
#include "curlxfer.h"

#include <stdio.h>
#include <string.h>

/* Characters are counted as code points: a byte that does not continue a
 * UTF-8 sequence starts one.  The notice is UTF-8 (Lua passes the job's
 * and the log's bytes through; a stray byte counts as one character). */
static int starts_char(unsigned char c)
{
    return (c & 0xC0) != 0x80;
}

static size_t count_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += starts_char((unsigned char)s[i]);
    return n;
}

/* The byte length of the first max_chars characters of s[0..len). */
static size_t head_bytes(const char *s, size_t len, size_t max_chars)
{
    size_t i = 0, n = 0;
    for (; i < len; i++) {
        if (starts_char((unsigned char)s[i]) && n++ == max_chars)
            break;
    }
    return i;
}

/* Where the last max_chars characters of s[0..len) begin. */
static size_t tail_start(const char *s, size_t len, size_t max_chars)
{
    size_t i = len, n = 0;
    while (i > 0 && n < max_chars) {
        i--;
        n += starts_char((unsigned char)s[i]);
    }
    return i;
}

int mb_text_add_head(struct mb_buf *b, const char *text, size_t max_chars)
{
    size_t len = strlen(text);
    if (count_chars(text, len) <= max_chars)
        return mb_buf_add(b, text, len);
    if (max_chars == 0)
        return 0;
    /* room for the ellipsis, itself one character */
    mb_buf_add(b, text, head_bytes(text, len, max_chars - 1));
    return mb_buf_add_str(b, "…");
}

static int add_marker(struct mb_buf *b, size_t cut)
{
    char marker[64];
    snprintf(marker, sizeof marker, "[%zu earlier line%s cut]\n", cut, cut == 1 ? "" : "s");
    return mb_buf_add_str(b, marker);
}

/* The marker is at most this long, whatever the count. */
#define MARKER_MAX 40

int mb_text_add_tail(struct mb_buf *b, const char *text, size_t max_chars)
{
    size_t len = strlen(text), chars = count_chars(text, len);
    if (chars <= max_chars)
        return mb_buf_add(b, text, len);
    if (max_chars <= MARKER_MAX)
        return 0; /* no room to say anything useful */
    size_t room = max_chars - MARKER_MAX;
    /* Drop whole lines from the front until the rest fits. */
    size_t start = 0, cut = 0;
    for (;;) {
        const char *nl = memchr(text + start, '\n', len - start);
        if (!nl || (size_t)(nl - text) + 1 == len)
            break; /* the last line: keep its end below */
        size_t next = (size_t)(nl - text) + 1;
        chars -= count_chars(text + start, next - start);
        start = next;
        cut++;
        if (chars <= room) {
            add_marker(b, cut);
            return mb_buf_add(b, text + start, len - start);
        }
    }
    /* One line longer than the room: its end, where the news is. */
    size_t from = start + tail_start(text + start, len - start, room);
    add_marker(b, cut);
    mb_buf_add_str(b, "…");
    return mb_buf_add(b, text + from, len - from);
}

int mb_notice_plain_text(struct mb_buf *b, const struct mb_notice *notice, size_t max_chars)
{
    struct mb_buf head = { 0 };
    mb_buf_add_str(&head, notice->summary);
    if (head.len && head.data[head.len - 1] != '\n')
        mb_buf_add_str(&head, "\n");
    if (notice->fields && notice->fields->count) {
        mb_buf_add_str(&head, "\n");
        for (size_t i = 0; i < notice->fields->count; i++) {
            mb_buf_add_str(&head, notice->fields->items[i].key);
            mb_buf_add_str(&head, ": ");
            mb_buf_add_str(&head, notice->fields->items[i].value);
            mb_buf_add_str(&head, "\n");
        }
    }
    if (head.failed) {
        mb_buf_free(&head);
        return -1;
    }
    const char *log_heading = "\nThe end of the log:\n";
    size_t used = count_chars(head.data ? head.data : "", head.len);
    size_t heading = count_chars(log_heading, strlen(log_heading));
    int rc;
    if (used >= max_chars) {
        rc = mb_text_add_head(b, head.data ? head.data : "", max_chars);
    } else {
        rc = mb_buf_add(b, head.data ? head.data : "", head.len);
        if (rc == 0 && notice->log && notice->log[0] && used + heading < max_chars) {
            mb_buf_add_str(b, log_heading);
            rc = mb_text_add_tail(b, notice->log, max_chars - used - heading);
        }
    }
    mb_buf_free(&head);
    return rc == 0 && !b->failed ? 0 : -1;
}

int mb_text_fit_bytes(struct mb_buf *b, size_t max_bytes,
                      int (*fill)(struct mb_buf *b, const void *ud, size_t max_chars),
                      const void *ud)
{
    size_t mark = b->len, chars = max_bytes;
    for (;;) {
        if (fill(b, ud, chars) != 0 || b->failed)
            return -1;
        size_t made = b->len - mark;
        if (made <= max_bytes)
            return 0;
        b->len = mark; /* taken back */
        b->data[mark] = '\0';
        if (chars == 0)
            return 0; /* nothing fits */
        /* fewer characters in proportion, and surely fewer */
        size_t fewer = (size_t)((double)chars * (double)max_bytes / (double)made);
        chars = fewer < chars ? fewer : chars - 1;
    }
}

/* ---- delivery over HTTP ------------------------------------------------ */

/* What an answer's body may show of itself: a few words, on one line. */
#define SNIPPET_CHARS 80
#define SNIPPET_BYTES 160
/* The most of an answer read: Discord's 429 JSON and a line to show. */
#define ANSWER_MAX (16u << 10)
/* The back-off after connection errors and 5xx: 1 s, 2 s, 4 s ... (at most
 * 30 s), with jitter, so that a service coming back is not hit in step. */
#define FIRST_DELAY_MS 1000
#define MAX_DELAY_MS 30000

/* The parts of a URL that may hold a token: its user and password, its
 * path, its query and, one by one, the path's segments and the query's
 * parameters.  No text a message shows may contain one of them. */
struct url_secrets {
    char *parts[4]; /* user, password, path, query: curl_free'd */
    struct mb_buf pieces; /* segments and parameters, NUL-separated */
};

static void url_secrets_load(struct url_secrets *s, const char *url)
{
    memset(s, 0, sizeof *s);
    CURLU *u = curl_url();
    if (!u)
        return;
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
        static const CURLUPart which[] = { CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_PATH,
                                           CURLUPART_QUERY };
        for (int i = 0; i < 4; i++)
            if (curl_url_get(u, which[i], &s->parts[i], 0) != CURLUE_OK)
                s->parts[i] = NULL;
    }
    curl_url_cleanup(u);
    for (int i = 2; i < 4; i++) {
        const char *p = s->parts[i];
        while (p && *p) {
            size_t len = strcspn(p, "/&=?");
            if (len >= 6) { /* shorter ones are words, not tokens */
                mb_buf_add(&s->pieces, p, len);
                mb_buf_add(&s->pieces, "", 1);
            }
            p += len + (p[len] != '\0');
        }
    }
}

static void url_secrets_free(struct url_secrets *s)
{
    for (int i = 0; i < 4; i++)
        curl_free(s->parts[i]);
    mb_buf_free(&s->pieces);
}

/* Whether text shows any part of the URL that may hold a token. */
static int url_secrets_in(const struct url_secrets *s, const char *text)
{
    for (int i = 0; i < 4; i++)
        if (s->parts[i] && strlen(s->parts[i]) > 1 && strstr(text, s->parts[i]))
            return 1;
    for (size_t at = 0; at < s->pieces.len; at += strlen(s->pieces.data + at) + 1)
        if (strstr(text, s->pieces.data + at))
            return 1;
    return 0;
}

void mb_url_host_of(const char *url, char *out, size_t size)
{
    char *host = NULL;
    CURLU *u = curl_url();
    if (u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK)
        curl_url_get(u, CURLUPART_HOST, &host, 0);
    snprintf(out, size, "%s", host && *host ? host : "?");
    curl_free(host);
    curl_url_cleanup(u);
}

/* The length of the valid UTF-8 sequence at s (at most left bytes), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t left)
{
    size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
             : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || n > left)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* The start of an answer's body as one short line: controls and runs of
 * blanks become one space, invalid UTF-8 becomes "?", and "…" ends it when
 * it was cut. */
static void body_snippet(const char *body, size_t len, char *out, size_t size)
{
    size_t o = 0, chars = 0, i = 0;
    int blank = 1; /* no leading space */
    while (i < len && o + 4 < size && chars < SNIPPET_CHARS) {
        const unsigned char *c = (const unsigned char *)body + i;
        size_t n = utf8_sequence(c, len - i);
        if (n == 1 && (c[0] < 0x20 || c[0] == 0x7F || c[0] == ' ')) {
            if (!blank)
                out[o++] = ' ';
            blank = 1;
        } else {
            if (o + (n ? n : 1) + 4 >= size)
                break;
            if (n)
                memcpy(out + o, c, n);
            else
                out[o] = '?';
            o += n ? n : 1;
            blank = 0;
            chars++;
        }
        i += n ? n : 1;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    if (i < len && o + 4 <= size) {
        memcpy(out + o, "…", 3);
        o += 3;
    }
    out[o] = '\0';
}

static const char *reason_phrase(long status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return NULL;
    }
}

/* One delivery in progress: what the hooks of mb_curl_req_perform_retry
 * share. */
struct post_state {
    const struct mb_notice_post *p;
    struct url_secrets secrets;
    long last_status;  /* the last answer's, 0: none came */
    char answer[sizeof ((struct mb_delivery *)0)->answer];
};

/* "HTTP 200: ok", "HTTP 404 Not Found: {...}": the status and the first
 * words of the body, unless they show a part of the URL (a server that
 * echoes the request). */
static void post_note_answer(struct post_state *s, const struct mb_curl_req *r)
{
    char snippet[SNIPPET_BYTES + 8] = "";
    body_snippet(r->body.data ? r->body.data : "", r->body.len, snippet, sizeof snippet);
    if (url_secrets_in(&s->secrets, snippet))
        snprintf(snippet, sizeof snippet, "(not shown: it repeats the URL)");
    const char *phrase = r->status >= 300 ? reason_phrase(r->status) : NULL;
    snprintf(s->answer, sizeof s->answer, "HTTP %ld%s%s%s%s", r->status, phrase ? " " : "",
             phrase ? phrase : "", snippet[0] ? ": " : "", snippet);
}

/* Sent on 2xx; tried again after a connection error, 408, 429 and 5xx
 * (mb_curl_req_transient); any other answer (a 3xx: redirects are not
 * followed; a 4xx) fails at once. */
static enum mb_curl_verdict post_judge(void *ud, const struct mb_curl_req *r)
{
    struct post_state *s = ud;
    if (r->code == CURLE_OK && r->status > 0) {
        s->last_status = r->status;
        post_note_answer(s, r);
        if (r->status >= 200 && r->status < 300)
            return MB_CURL_DONE;
    }
    return mb_curl_req_transient(r) ? MB_CURL_RETRY : MB_CURL_FAILED;
}

/* The longer of what the Retry-After header and the service's body ask. */
static double post_delay(void *ud, const struct mb_curl_req *r)
{
    struct post_state *s = ud;
    double asked = mb_curl_req_retry_after(r);
    if (r->status == 429 && s->p->retry_after && r->body.len) {
        double body = s->p->retry_after(r->body.data, r->body.len);
        if (body > asked)
            asked = body;
    }
    return asked;
}

/* Why the delivery failed, for "LABEL HOST: why": the last answer's
 * status, or libcurl's words unless they show a part of the URL. */
static void post_describe(const struct post_state *s, const struct mb_curl_req *r, char *out,
                          size_t size)
{
    if (r->code == CURLE_OK && r->status > 0) {
        const char *phrase = reason_phrase(r->status);
        snprintf(out, size, "HTTP %ld%s%s%s", r->status, phrase ? " " : "", phrase ? phrase : "",
                 r->status >= 300 && r->status < 400 ? " (redirects are not followed)" : "");
        return;
    }
    const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->code);
    if (url_secrets_in(&s->secrets, why))
        why = curl_easy_strerror(r->code);
    size_t n = strcspn(why, "\r\n");
    snprintf(out, size, "%.*s", (int)n, why);
}

static int header_is_one_line(const char *line)
{
    return strpbrk(line, "\r\n") == NULL;
}

/* The request: POST of the body, the headers, no redirects, http(s) only,
 * TLS verified (libcurl's default, against ca_file when given). */
static int post_setup(struct mb_curl_req *r, const struct mb_notice_post *p, struct mb_error *err,
                      const char *label)
{
    CURL *e = r->easy;
    r->http = 1;
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "moonbak/" MB_VERSION);
    /* The attempt's whole time is bounded (attempt_ms): one rule, one
     * message ("timed out"), rather than a stall rule racing it. */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 0L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->body_len);
    mb_curl_req_collect_head(r, ANSWER_MAX);
    char type[128];
    snprintf(type, sizeof type, "Content-Type: %s", p->content_type);
    /* "Expect:" off: no second's wait for a "100 Continue" on larger bodies */
    if (mb_curl_req_header(r, type) != 0 || mb_curl_req_header(r, "Expect:") != 0)
        goto nomem;
    for (const char *const *h = p->headers; h && *h; h++) {
        if (!header_is_one_line(*h)) {
            mb_error_set(err, "%s: a header line holds a line break", label);
            return -1;
        }
        if (mb_curl_req_header(r, *h) != 0)
            goto nomem;
    }
    return 0;
nomem:
    mb_error_set(err, "%s: out of memory", label);
    return -1;
}

int mb_notice_post(const struct mb_config *cfg, const struct mb_notice_post *p, double deadline,
                   struct mb_delivery *out, struct mb_error *err)
{
    memset(out, 0, sizeof *out);
    char host[256], label[320];
    mb_url_host_of(p->url, host, sizeof host);
    snprintf(label, sizeof label, "%s %s", p->label, host);
    struct mb_curl_conf conf;
    if (mb_curl_conf_load(&conf, cfg, err) != 0)
        return -1;
    struct post_state s = { .p = p };
    url_secrets_load(&s.secrets, p->url);
    struct mb_curl_req *r = mb_curl_req_new(&conf, p->url, err);
    int rc = -1;
    if (!r || post_setup(r, p, err, label) != 0)
        goto done;
    struct mb_curl_retry how = {
        .retries = conf.retries,
        .first_delay_ms = FIRST_DELAY_MS,
        .max_delay_ms = MAX_DELAY_MS,
        .jitter = 1,
        .judge = post_judge,
        .delay = post_delay,
        .ud = &s,
        .deadline = deadline,
        .attempt_ms = conf.timeout * 1000,
    };
    rc = mb_curl_req_perform_retry(r, &how);
    out->sent = rc == 0;
    out->code = s.last_status;
    out->attempts = r->attempts;
    snprintf(out->answer, sizeof out->answer, "%s", s.answer);
    if (rc != 0) {
        char why[CURL_ERROR_SIZE + 64], attempts[32] = "";
        post_describe(&s, r, why, sizeof why);
        if (r->attempts > 1)
            snprintf(attempts, sizeof attempts, " (%d attempts)", r->attempts);
        mb_error_set(err, "%s: %s%s%s%s", label, why, attempts, r->stopped[0] ? "; " : "",
                     r->stopped);
    }
done:
    mb_curl_req_free(r);
    url_secrets_free(&s.secrets);
    mb_curl_conf_free(&conf);
    return rc;
}
