/* ntfy.c — an ntfy topic (ntfy.sh or self-hosted): the notice as plain text
 * in the body, its title, a priority and tags in headers
 * (https://docs.ntfy.sh/publish/).
 *
 * Priority by event (1 min ... 5 max): failure 5, because a failed backup
 * is what the notifier exists for and must not wait for someone to open
 * the app; partial 4 (some storage has no copy); test 3 (ntfy's default);
 * success and start 2 (low: no sound on most phones).  Any other event
 * (drill_failed ...) is a failure.  The priority goes in X-Priority, not
 * Priority, which proxies may take for RFC 9218's.
 *
 * The body stays within ntfy's message limit, 4,096 bytes (bytes, not
 * characters: a server turns a longer body into an attachment, or refuses
 * it).  Header values are single lines; a title that is not ASCII is sent
 * as an RFC 2047 encoded word (=?UTF-8?B?...?=), which ntfy decodes. */
#include "notice.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL "ntfy notifier"
#define MESSAGE_MAX 4096
/* The title is cut to this many characters (ntfy shows one line). */
#define TITLE_CHARS 200

struct ntfy_look {
    const char *event;
    const char *priority;
    const char *tags; /* ntfy's emoji short codes, then a word */
};

static const struct ntfy_look looks[] = {
    { "start", "2", "hourglass_flowing_sand,moonbak" },
    { "success", "2", "white_check_mark,moonbak" },
    { "partial", "4", "warning,moonbak" },
    { "test", "3", "test_tube,moonbak" },
    { "failure", "5", "rotating_light,moonbak" },
};

static const struct ntfy_look *look_for(const char *event)
{
    size_t n = sizeof looks / sizeof *looks;
    for (size_t i = 0; i < n; i++)
        if (strcmp(looks[i].event, event) == 0)
            return &looks[i];
    return &looks[n - 1]; /* not good news: a failure */
}

/* The title on one line (controls become spaces), cut to TITLE_CHARS. */
static char *title_line(const char *title)
{
    struct mb_buf b = { 0 };
    mb_text_add_head(&b, title, TITLE_CHARS);
    char *line = mb_buf_take(&b);
    for (char *p = line; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F)
            *p = ' ';
    return line;
}

static int is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

/* "Title: TEXT", TEXT as an RFC 2047 encoded word unless it is ASCII.
 * malloc'd; NULL out of memory. */
static char *title_header(const char *title)
{
    char *line = title_line(title);
    if (!line || is_ascii(line)) {
        char *h = line ? mb_strdup_printf("Title: %s", line) : NULL;
        free(line);
        return h;
    }
    size_t len = strlen(line);
    unsigned char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    char *h = NULL;
    if (b64) {
        EVP_EncodeBlock(b64, (const unsigned char *)line, (int)len);
        h = mb_strdup_printf("Title: =?UTF-8?B?%s?=", (const char *)b64);
    }
    free(b64);
    free(line);
    return h;
}

static int add_plain_text(struct mb_buf *b, const void *notice, size_t max_chars)
{
    return mb_notice_plain_text(b, notice, max_chars);
}

static int ntfy_send(const struct mb_config *cfg, const struct mb_notice *notice, double deadline,
                     struct mb_delivery *out, struct mb_error *err)
{
    memset(out, 0, sizeof *out);
    const char *url = mb_config_get(cfg, "url"), *token = mb_config_get(cfg, "token");
    if (!url || !*url) {
        mb_error_set(err, LABEL ": \"url\" is required");
        return -1;
    }
    char host[256];
    mb_url_host_of(url, host, sizeof host);
    if (token && strpbrk(token, "\r\n")) {
        mb_error_set(err, LABEL " %s: the token holds a line break", host);
        return -1;
    }
    const struct ntfy_look *look = look_for(notice->event);
    char priority[32], tags[128];
    snprintf(priority, sizeof priority, "X-Priority: %s", look->priority);
    snprintf(tags, sizeof tags, "Tags: %s", look->tags);
    char *title = title_header(notice->title);
    char *auth = token && *token ? mb_strdup_printf("Authorization: Bearer %s", token) : NULL;
    const char *headers[] = { title, priority, tags, auth, NULL };
    struct mb_buf body = { 0 };
    int rc = -1;
    if (!title || (token && *token && !auth)
        || mb_text_fit_bytes(&body, MESSAGE_MAX, add_plain_text, notice) != 0) {
        mb_error_set(err, LABEL " %s: out of memory", host);
    } else {
        struct mb_notice_post post = {
            .label = LABEL,
            .url = url,
            .content_type = "text/plain; charset=utf-8",
            .body = body.data ? body.data : "",
            .body_len = body.len,
            .headers = headers,
        };
        rc = mb_notice_post(cfg, &post, deadline, out, err);
    }
    mb_buf_free(&body);
    free(title);
    mb_free_secret(auth);
    return rc;
}

static const struct mb_option ntfy_options[] = {
    { "url", MB_OPTION_STRING, 1, NULL, 1,
      .help = "the topic's URL (https://ntfy.sh/TOPIC): the topic name is a password" },
    { "token", MB_OPTION_STRING, 0, NULL, 1,
      .help = "an access token, sent as Authorization: Bearer (servers with access control)" },
    MB_NOTIFY_COMMON_OPTIONS,
    { NULL },
};

const struct mb_notify_ops mb_notify_ntfy = {
    .version = MB_NOTIFY_OPS_VERSION,
    .type = "ntfy",
    .options = ntfy_options,
    .default_on = "failure partial",
    .send = ntfy_send,
};
