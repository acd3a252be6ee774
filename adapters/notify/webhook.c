/* webhook.c — any URL: the notice's JSON (the webhook schema, README) as
 * the body of a POST, with the event in X-Moonbak-Event, the job's own
 * header lines, and, when the job gives a secret, the body's HMAC-SHA256
 * in X-Moonbak-Signature: sha256=<lowercase hex>, so the receiver can tell
 * the body came from who holds the secret, unchanged. */
#include "notice.h"
#include "process.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define LABEL "webhook notifier"

/* Headers moonbak sets itself or that frame the request: a job may not
 * give them. */
static const char *const reserved_headers[] = {
    "Content-Type", "Content-Length", "Transfer-Encoding", "Host", "Expect",
    "X-Moonbak-Event", "X-Moonbak-Signature", NULL,
};

static int is_token_char(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* NULL when line is a header line a job may give ("Name: value" on one
 * line, a name of token characters, not reserved), else what is wrong;
 * the line itself is never shown: it may hold a credential. */
static const char *header_problem(const char *line)
{
    size_t name = 0;
    while (is_token_char((unsigned char)line[name]))
        name++;
    if (name == 0 || line[name] != ':')
        return "is not \"Name: value\"";
    for (const char *p = line + name + 1; *p; p++)
        if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7F)
            return "holds a control character";
    for (const char *const *r = reserved_headers; *r; r++)
        if (strlen(*r) == name && strncasecmp(*r, line, name) == 0)
            return "names a header moonbak sets itself";
    return NULL;
}

/* "sha256=" and the hex HMAC-SHA256 of body under key. */
static int sign_body(const char *key, const char *body, size_t len, char *out, size_t size)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)body, len, mac, &mac_len))
        return -1;
    int n = snprintf(out, size, "X-Moonbak-Signature: sha256=");
    for (unsigned int i = 0; i < mac_len && (size_t)n + 3 <= size; i++)
        n += snprintf(out + n, size - (size_t)n, "%02x", mac[i]);
    return 0;
}

/* The request's header lines (event, signature, the job's), into lines. */
static int webhook_headers(const struct mb_config *cfg, const struct mb_notice *notice,
                           const char *host, struct mb_strv *lines, struct mb_error *err)
{
    struct mb_strv given = { 0 };
    mb_strv_push_lines(&given, mb_config_get(cfg, "headers"));
    for (size_t i = 0; i < given.n; i++) {
        const char *why = strchr(given.v[i], '\r') ? "holds a line break" : header_problem(given.v[i]);
        if (why) {
            mb_error_set(err, LABEL " %s: header %zu of \"headers\" %s", host, i + 1, why);
            mb_strv_free(&given);
            return -1;
        }
        mb_strv_push(lines, given.v[i]);
    }
    int failed = given.failed;
    mb_strv_free(&given);
    mb_strv_pushf(lines, "X-Moonbak-Event: %s", notice->event);
    const char *secret = mb_config_get(cfg, "secret");
    if (secret && *secret) {
        char signature[128];
        if (sign_body(secret, notice->json, strlen(notice->json), signature, sizeof signature) != 0) {
            mb_error_set(err, LABEL " %s: the body could not be signed", host);
            return -1;
        }
        mb_strv_push(lines, signature);
    }
    if (failed || lines->failed) {
        mb_error_set(err, LABEL " %s: out of memory", host);
        return -1;
    }
    return 0;
}

static int webhook_send(const struct mb_config *cfg, const struct mb_notice *notice,
                        double deadline, struct mb_delivery *out, struct mb_error *err)
{
    memset(out, 0, sizeof *out);
    const char *url = mb_config_get(cfg, "url");
    if (!url || !*url) {
        mb_error_set(err, LABEL ": \"url\" is required");
        return -1;
    }
    char host[256];
    mb_url_host_of(url, host, sizeof host);
    struct mb_strv lines = { 0 };
    int rc = -1;
    if (webhook_headers(cfg, notice, host, &lines, err) == 0) {
        struct mb_notice_post post = {
            .label = LABEL,
            .url = url,
            .content_type = "application/json",
            .body = notice->json,
            .body_len = strlen(notice->json),
            .headers = (const char *const *)lines.v,
        };
        rc = mb_notice_post(cfg, &post, deadline, out, err);
    }
    mb_strv_free(&lines);
    return rc;
}

static const struct mb_option webhook_options[] = {
    { "url", MB_OPTION_STRING, 1, NULL, 1, .help = "the URL the event is POSTed to" },
    /* moonbak.notify hands it over as "Name: value" lines */
    { "headers", MB_OPTION_TABLE, 0, NULL, 0,
      .help = "extra headers: { [\"X-Team\"] = \"db\" } (a value may be a reference)" },
    { "secret", MB_OPTION_STRING, 0, NULL, 1,
      .help = "signs the body: X-Moonbak-Signature: sha256=<hex HMAC-SHA256 of the body>" },
    MB_NOTIFY_COMMON_OPTIONS,
    { NULL },
};

const struct mb_notify_ops mb_notify_webhook = {
    .version = MB_NOTIFY_OPS_VERSION,
    .type = "webhook",
    .options = webhook_options,
    .default_on = "failure partial",
    .send = webhook_send,
};
