/* email.c — the email notifier: one message per notice over SMTP, through
 * libcurl.
 *
 * Options: url (smtp://host[:port] or smtps://host[:port]), from, to (one
 * address or a list), user, password, tls (default true), ca_file, timeout,
 * retries.
 *
 * smtp:// asks for STARTTLS and fails when the server does not offer it
 * (CURLUSESSL_ALL: never silently downgraded to plain text); only tls =
 * false says plain SMTP is meant, as for a relay on the same host.
 * smtps:// is TLS from the first byte.  The certificate is always
 * verified, against ca_file when given.
 *
 * The message is built with libcurl's MIME API: the root is a
 * multipart/mixed (libcurl's MIME root always is a multipart) holding one
 * text/plain; charset=utf-8 part, quoted-printable, which keeps every line
 * under 76 octets whatever the log holds.  The subject is the notice's
 * title, RFC 2047-encoded when it is not ASCII (a job's name may not be).
 *
 * A delivery is retried on connection errors and on transient SMTP
 * replies (4xx); never on permanent ones (5xx: authentication failed, no
 * such mailbox), nor when STARTTLS is refused or the certificate is not
 * trusted: another attempt would get the same answer. */
#include "adapters.h"
#include "clock.h"
#include "curlxfer.h"
#include "notice.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The body holds at most this many characters (the log gives way first). */
#define EMAIL_BODY_MAX_CHARS 100000
/* The subject, in characters: a title is one line, this is generous. */
#define EMAIL_SUBJECT_MAX_CHARS 200

static const struct mb_option email_options[] = {
    { "url", MB_OPTION_STRING, 1, NULL, 0,
      .help = "smtp://host[:port] (STARTTLS required unless tls = false) or smtps://host[:port]" },
    { "from", MB_OPTION_STRING, 1, NULL, 0, .help = "the sender's address (envelope and From:)" },
    { "to", MB_OPTION_STRING_OR_STRINGS, 1, NULL, 0, .help = "the recipients: one address or a list" },
    { "user", MB_OPTION_STRING, 0, NULL, 0, .help = "user name for SMTP AUTH" },
    { "password", MB_OPTION_STRING, 0, NULL, 1, .help = "password for SMTP AUTH" },
    { "tls", MB_OPTION_BOOLEAN, 0, "true", 0,
      .help = "false: plain SMTP on smtp:// (a relay on the same host); not with smtps://" },
    MB_NOTIFY_COMMON_OPTIONS, /* timeout, retries, ca_file */
    { NULL },
};

/* ---- the options ------------------------------------------------------- */

/* What the options say, checked. */
struct email_target {
    char host[256];  /* for messages: "smtp.example.com", never the path */
    int implicit_tls; /* smtps:// */
    int starttls;     /* smtp:// with tls not false */
    const char *url, *from, *to; /* borrowed from the config; to: one a line */
};

/* An address is given as it goes into the envelope and the headers
 * (addr-spec, no display name): nothing that could end a header line or
 * an SMTP command, nor a second address. */
static int check_address(const char *host, const char *addr, size_t len, const char *option,
                         struct mb_error *err)
{
    if (len == 0) {
        mb_error_set(err, "email notifier %s: \"%s\" holds an empty address", host, option);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)addr[i];
        const char *why = NULL;
        if (c == '\r' || c == '\n' || c < 0x20 || c == 0x7f)
            why = "a line break or a control character";
        else if (c == '<' || c == '>')
            why = "angle brackets (give the bare address: ops@example.com)";
        else if (c == ' ' || c == '\t' || c == ',' || c == ';')
            why = "a space, ',' or ';' (give several addresses as a list)";
        else if (c >= 0x80)
            why = "non-ASCII characters (not supported)";
        if (why) {
            mb_error_set(err, "email notifier %s: an address in \"%s\" contains %s", host, option, why);
            return -1;
        }
    }
    return 0;
}

static int check_addresses(const char *host, const char *list, const char *option, struct mb_error *err)
{
    for (const char *p = list;; ) {
        size_t len = strcspn(p, "\n");
        if (check_address(host, p, len, option, err) != 0)
            return -1;
        if (!p[len])
            return 0;
        p += len + 1;
    }
}

/* Reads and checks url, tls, from and to.  The url's host, scheme and port
 * are read by libcurl's own parser, the one that will connect. */
static int email_target_load(struct email_target *t, const struct mb_config *cfg, struct mb_error *err)
{
    memset(t, 0, sizeof *t);
    t->url = mb_config_get(cfg, "url");
    t->from = mb_config_get(cfg, "from");
    t->to = mb_config_get(cfg, "to");
    const char *tls = mb_config_get(cfg, "tls");
    int tls_off = tls && strcmp(tls, "false") == 0;
    if (!t->url || !t->from || !t->to) {
        mb_error_set(err, "email notifier: \"url\", \"from\" and \"to\" are required");
        return -1;
    }
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *userinfo = NULL;
    int rc = -1;
    if (!u) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    if (curl_url_set(u, CURLUPART_URL, t->url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK
        || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        mb_error_set(err, "email notifier: \"url\" is not a URL (expected smtp://host[:port] or smtps://host[:port])");
    } else if (strcmp(scheme, "smtp") != 0 && strcmp(scheme, "smtps") != 0) {
        mb_error_set(err, "email notifier: \"url\" must begin with smtp:// or smtps://, not %s://", scheme);
    } else if (curl_url_get(u, CURLUPART_USER, &userinfo, 0) == CURLUE_OK) {
        /* The password would travel in a string shown in messages. */
        mb_error_set(err, "email notifier %s: give the credentials as \"user\" and \"password\", not in \"url\"", host);
    } else if (strcmp(scheme, "smtps") == 0 && tls_off) {
        mb_error_set(err, "email notifier %s: tls = false contradicts smtps:// (TLS from the start); "
                          "use smtp:// for plain SMTP", host);
    } else {
        snprintf(t->host, sizeof t->host, "%s", host);
        t->implicit_tls = strcmp(scheme, "smtps") == 0;
        t->starttls = !t->implicit_tls && !tls_off;
        rc = 0;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(userinfo);
    curl_url_cleanup(u);
    if (rc != 0)
        return -1;
    if (strchr(t->from, '\n')) {
        mb_error_set(err, "email notifier %s: \"from\" is one address, not a list", t->host);
        return -1;
    }
    return check_addresses(t->host, t->from, "from", err) == 0
        && check_addresses(t->host, t->to, "to", err) == 0 ? 0 : -1;
}

/* ---- the message ------------------------------------------------------- */

/* RFC 5322's date, in UTC, in English whatever the locale. */
static void format_date(long long when, char *out, size_t size)
{
    static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    time_t t = when > 0 ? (time_t)when : time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Appends text as characters a Message-ID may hold (letters, digits, '-',
 * '.' not first or doubled): other bytes become '-'. */
static void add_id_part(struct mb_buf *b, const char *text)
{
    if (!text || !*text)
        text = "x";
    for (const char *p = text; *p; p++) {
        char c = *p;
        if (!isalnum((unsigned char)c) && !(c == '.' && p != text && p[-1] != '.' && p[1]))
            c = '-';
        mb_buf_add(b, &c, 1);
    }
}

/* <run_id.event.time.RANDOM@host>: unique per message (the random part),
 * and saying which run and event it is about. */
static int add_message_id(struct mb_buf *b, const struct mb_notice *notice)
{
    unsigned char random[8];
    if (RAND_bytes(random, sizeof random) != 1)
        return -1;
    char tail[64];
    int n = snprintf(tail, sizeof tail, ".%lld.", notice->time);
    for (size_t i = 0; i < sizeof random && n > 0 && (size_t)n + 3 < sizeof tail; i++)
        n += snprintf(tail + n, sizeof tail - (size_t)n, "%02x", random[i]);
    mb_buf_add_str(b, "Message-ID: <");
    add_id_part(b, notice->run_id);
    mb_buf_add_str(b, ".");
    add_id_part(b, notice->event);
    mb_buf_add_str(b, tail);
    mb_buf_add_str(b, "@");
    add_id_part(b, notice->host && *notice->host ? notice->host : "moonbak.invalid");
    return mb_buf_add_str(b, ">");
}

/* How many leading bytes of s[0..len), at most max, end on a character
 * boundary (an encoded word must not split a UTF-8 sequence). */
static size_t whole_chars(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n ? n : max; /* a run of stray continuation bytes: cut anyway */
}

/* The title on one line, as a Subject header: as it is when ASCII, else
 * RFC 2047 encoded words (base64 of at most 45 bytes each, so each word is
 * at most 75 characters), one per folded line of at most 76. */
static int add_subject(struct mb_buf *b, const char *title)
{
    struct mb_buf line = { 0 };
    mb_text_add_head(&line, title, EMAIL_SUBJECT_MAX_CHARS);
    if (line.failed)
        return -1;
    int ascii = 1;
    for (size_t i = 0; i < line.len; i++) {
        unsigned char c = (unsigned char)line.data[i];
        if (c < 0x20 || c == 0x7f)
            line.data[i] = ' '; /* a line break would end the header */
        ascii &= c < 0x80;
    }
    mb_buf_add_str(b, "Subject: ");
    if (ascii) {
        mb_buf_add(b, line.data ? line.data : "", line.len);
    } else {
        for (size_t at = 0; at < line.len; ) {
            /* The first word shares its line with "Subject: ". */
            size_t n = whole_chars(line.data + at, line.len - at, at ? 45 : 36);
            unsigned char encoded[64];
            EVP_EncodeBlock(encoded, (const unsigned char *)line.data + at, (int)n);
            mb_buf_add_str(b, at ? "\r\n =?UTF-8?B?" : "=?UTF-8?B?");
            mb_buf_add_str(b, (const char *)encoded);
            mb_buf_add_str(b, "?=");
            at += n;
        }
    }
    mb_buf_free(&line);
    return b->failed ? -1 : 0;
}

/* Appends one header line (NUL-terminated in b) to headers. */
static int add_header(struct curl_slist **headers, struct mb_buf *b)
{
    struct curl_slist *l = b->failed ? NULL : curl_slist_append(*headers, b->data);
    mb_buf_clear(b);
    if (!l)
        return -1;
    *headers = l;
    return 0;
}

/* From, To, Subject, Date, Message-ID and Auto-Submitted (RFC 3834: no
 * vacation replies to a robot).  libcurl adds MIME-Version and the
 * Content-Type of the multipart root. */
static int build_headers(struct curl_slist **headers, const struct email_target *t,
                         const struct mb_notice *notice)
{
    struct mb_buf b = { 0 };
    char date[64];
    format_date(notice->time, date, sizeof date);
    int rc = 0;
    mb_buf_add_str(&b, "From: ");
    mb_buf_add_str(&b, t->from);
    rc |= add_header(headers, &b);
    mb_buf_add_str(&b, "To: ");
    for (const char *p = t->to; *p; ) { /* one address a line, folded */
        size_t len = strcspn(p, "\n");
        mb_buf_add(&b, p, len);
        if (!p[len])
            break;
        mb_buf_add_str(&b, ",\r\n ");
        p += len + 1;
    }
    rc |= add_header(headers, &b);
    rc |= add_subject(&b, notice->title);
    rc |= add_header(headers, &b);
    mb_buf_add_str(&b, "Date: ");
    mb_buf_add_str(&b, date);
    rc |= add_header(headers, &b);
    rc |= add_message_id(&b, notice);
    rc |= add_header(headers, &b);
    mb_buf_add_str(&b, "Auto-Submitted: auto-generated");
    rc |= add_header(headers, &b);
    mb_buf_free(&b);
    return rc ? -1 : 0;
}

/* The plain text with CRLF line ends: the quoted-printable encoder keeps a
 * CRLF as a line break (a bare LF would become "=0A"). */
static int build_body(struct mb_buf *body, const struct mb_notice *notice)
{
    struct mb_buf text = { 0 };
    if (mb_notice_plain_text(&text, notice, EMAIL_BODY_MAX_CHARS) != 0) {
        mb_buf_free(&text);
        return -1;
    }
    for (size_t i = 0; i < text.len; i++) {
        if (text.data[i] == '\r')
            continue;
        if (text.data[i] == '\n')
            mb_buf_add(body, "\r\n", 2);
        else
            mb_buf_add(body, text.data + i, 1);
    }
    mb_buf_free(&text);
    return body->failed ? -1 : 0;
}

/* The one part, inline (as curl's smtp-mime example marks its parts).
 * curl_mime_data copies the body. */
static curl_mime *build_mime(CURL *easy, const struct mb_buf *body)
{
    curl_mime *mime = curl_mime_init(easy);
    curl_mimepart *part = mime ? curl_mime_addpart(mime) : NULL;
    struct curl_slist *part_headers = part ? curl_slist_append(NULL, "Content-Disposition: inline") : NULL;
    if (!part_headers || curl_mime_headers(part, part_headers, 1) != CURLE_OK) {
        curl_slist_free_all(part_headers);
        curl_mime_free(mime);
        return NULL;
    }
    if (curl_mime_data(part, body->data ? body->data : "", body->len) != CURLE_OK
        || curl_mime_type(part, "text/plain; charset=utf-8") != CURLE_OK
        || curl_mime_encoder(part, "quoted-printable") != CURLE_OK) {
        curl_mime_free(mime);
        return NULL;
    }
    return mime;
}

/* ---- the conversation -------------------------------------------------- */

/* What one delivery holds; everything is freed by email_job_free. */
struct email_job {
    struct mb_curl_conf conf;
    struct mb_curl_req *req;
    struct curl_slist *rcpt;
    curl_mime *mime;
    struct mb_buf body;
    /* Reply lines of the server, printable ASCII: the last one, and the
     * last refusal (4xx, 5xx), which the goodbye to QUIT that follows a
     * refusal must not hide. */
    char reply[160], refusal[160];
    char partial[160];
    size_t partial_len;
};

static void email_job_free(struct email_job *j)
{
    curl_mime_free(j->mime);
    curl_slist_free_all(j->rcpt);
    mb_curl_req_free(j->req);
    mb_curl_conf_free(&j->conf);
    mb_buf_free(&j->body);
}

/* libcurl hands every reply line of the server to the header callback
 * ("250 OK", "535 5.7.8 Authentication failed").  Reply lines hold
 * no secret (AUTH's challenges are the server's prompts, not our answers). */
static size_t email_heard(char *data, size_t size, size_t n, void *ud)
{
    struct email_job *j = ud;
    size_t len = size * n;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '\n') {
            j->partial[j->partial_len] = '\0';
            if (j->partial_len)
                memcpy(j->reply, j->partial, j->partial_len + 1);
            if (j->partial[0] == '4' || j->partial[0] == '5')
                memcpy(j->refusal, j->partial, j->partial_len + 1);
            j->partial_len = 0;
        } else if (c != '\r' && j->partial_len + 1 < sizeof j->partial) {
            j->partial[j->partial_len++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
        }
    }
    return len;
}

static int email_job_prepare(struct email_job *j, const struct email_target *t,
                             const struct mb_config *cfg, const struct mb_notice *notice,
                             struct mb_error *err)
{
    if (mb_curl_conf_load(&j->conf, cfg, err) != 0)
        return -1;
    j->conf.insecure_tls = 0; /* not an option of this notifier, whatever the table holds */
    if (!(j->req = mb_curl_req_new(&j->conf, t->url, err)))
        return -1;
    CURL *e = j->req->easy;
    for (const char *p = t->to; *p; ) {
        size_t len = strcspn(p, "\n");
        char *rcpt = mb_strdup_printf("<%.*s>", (int)len, p);
        struct curl_slist *l = rcpt ? curl_slist_append(j->rcpt, rcpt) : NULL;
        free(rcpt);
        if (!l)
            goto out_of_memory;
        j->rcpt = l;
        p += len + (p[len] == '\n');
    }
    char *from = mb_strdup_printf("<%s>", t->from);
    if (!from)
        goto out_of_memory;
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, from); /* libcurl copies it */
    free(from);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, j->rcpt);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_USE_SSL, t->starttls || t->implicit_tls ? (long)CURLUSESSL_ALL
                                                                        : (long)CURLUSESSL_NONE);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, email_heard);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
    if (build_headers(&j->req->headers, t, notice) != 0 || build_body(&j->body, notice) != 0
        || !(j->mime = build_mime(e, &j->body)))
        goto out_of_memory;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->req->headers);
    curl_easy_setopt(e, CURLOPT_MIMEPOST, j->mime);
    return 0;
out_of_memory:
    mb_error_set(err, "email notifier %s: out of memory", t->host);
    return -1;
}

/* Whether another attempt could go better.  The reply code decides when
 * the server gave one: 4xx is transient, 5xx permanent.  Before any
 * failing reply, the connection's own failure decides (refused, reset,
 * timed out: worth retrying; STARTTLS refused, certificate untrusted:
 * not). */
static int email_transient(const struct email_job *j)
{
    long code = j->req->status;
    if (j->req->code == CURLE_USE_SSL_FAILED || j->req->code == CURLE_PEER_FAILED_VERIFICATION)
        return 0;
    if (code >= 400)
        return code < 500;
    return mb_curl_req_transient(j->req);
}

/* The reason of a failed attempt, in words: what libcurl says, and the
 * server's reply line when there was one. */
static void email_describe(const struct email_job *j, const struct email_target *t, char *out,
                           size_t size)
{
    const struct mb_curl_req *r = j->req;
    if (r->code == CURLE_USE_SSL_FAILED && t->starttls) {
        snprintf(out, size, "the server does not offer STARTTLS and tls = false was not given%s%s%s",
                 j->refusal[0] ? " (it answered \"" : "", j->refusal, j->refusal[0] ? "\")" : "");
        return;
    }
    if (r->code == CURLE_LOGIN_DENIED) {
        snprintf(out, size, "authentication failed (%ld)%s%s%s", r->status,
                 j->refusal[0] ? ": \"" : "", j->refusal, j->refusal[0] ? "\"" : "");
        return;
    }
    const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->code);
    size_t n = strcspn(why, "\r\n");
    if (r->status >= 400 && j->refusal[0])
        snprintf(out, size, "%.*s: the server answered \"%s\"", (int)n, why, j->refusal);
    else
        snprintf(out, size, "%.*s", (int)n, why);
}

/* One attempt, bounded by the timeout and by the deadline. */
static void email_attempt(struct email_job *j, double seconds)
{
    struct mb_curl_req *r = j->req;
    long ms = seconds * 1000 < 1 ? 1 : (long)(seconds * 1000);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, ms);
    r->attempts++;
    r->errbuf[0] = '\0';
    r->status = 0;
    j->reply[0] = j->refusal[0] = '\0';
    j->partial_len = 0;
    r->code = curl_easy_perform(r->easy);
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
}

/* The wait before retry number n (1 for the first): 0.5 s, 1 s, 2 s ...,
 * at most 8 s. */
static double email_backoff(int n)
{
    double s = 0.5;
    for (int i = 1; i < n && s < 8; i++)
        s *= 2;
    return s < 8 ? s : 8;
}

static int email_send(const struct mb_config *cfg, const struct mb_notice *notice, double deadline,
                      struct mb_delivery *out, struct mb_error *err)
{
    memset(out, 0, sizeof *out);
    struct email_target t;
    if (email_target_load(&t, cfg, err) != 0)
        return -1;
    struct email_job j = { 0 };
    if (email_job_prepare(&j, &t, cfg, notice, err) != 0) {
        email_job_free(&j);
        return -1;
    }
    int sent = 0, gave_up_for_time = 0;
    for (;;) {
        double left = deadline - mb_now();
        if (left <= 0) {
            gave_up_for_time = 1;
            break;
        }
        email_attempt(&j, left < j.conf.timeout ? left : (double)j.conf.timeout);
        if (j.req->code == CURLE_OK) {
            sent = 1;
            break;
        }
        if (!email_transient(&j) || j.req->attempts > j.conf.retries)
            break;
        double wait = email_backoff(j.req->attempts);
        if (mb_now() + wait >= deadline) {
            gave_up_for_time = 1;
            break;
        }
        if (mb_cancel_sleep(cfg->cancel, wait) != 0)
            break;
    }
    out->sent = sent;
    out->code = j.req->status;
    out->attempts = j.req->attempts;
    snprintf(out->answer, sizeof out->answer, "%s", !sent && j.refusal[0] ? j.refusal : j.reply);
    if (!sent) {
        char why[CURL_ERROR_SIZE + 200];
        if (j.req->attempts == 0)
            snprintf(why, sizeof why, "no time was left to send");
        else
            email_describe(&j, &t, why, sizeof why);
        if (j.req->attempts > 1 || (gave_up_for_time && j.req->attempts))
            mb_error_set(err, "email notifier %s: %s (%d attempt%s%s)", t.host, why, j.req->attempts,
                         j.req->attempts == 1 ? "" : "s",
                         gave_up_for_time ? ", no time left for another" : "");
        else
            mb_error_set(err, "email notifier %s: %s", t.host, why);
    }
    email_job_free(&j);
    return sent ? 0 : -1;
}

const struct mb_notify_ops mb_notify_email = {
    .version = MB_NOTIFY_OPS_VERSION,
    .type = "email",
    .options = email_options,
    .default_on = "failure partial",
    .send = email_send,
};
