/* discord.c — the discord notifier: a webhook execution carrying one embed
 * (title, the summary and the log's tail in the description, the notice's
 * fields, the host in the footer, a colour by status), fitted to Discord's
 * embed limits (chat.h) and with allowed_mentions empty, so that no text
 * of a run (an error, a log line) can ping @everyone, a user or a role. */
#include "chat.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What the embed's parts may take of the 6000 characters in all: the
 * summary and the fields first, the log's tail gets what is left. */
#define FOOTER_ROOM 256  /* a host name; Discord allows 2048 */
#define SUMMARY_ROOM 2000
#define LOG_ROOM_MIN 1000 /* kept for the log whatever the fields take */
#define LOG_USEFUL 64     /* less than this: no log block at all */

static const char FENCE_OPEN[] = "```\n", FENCE_CLOSE[] = "\n```";

static int status_colour(const char *status)
{
    if (strcmp(status, "success") == 0)
        return 0x2ECC71; /* green */
    if (strcmp(status, "partial") == 0)
        return 0xE67E22; /* orange */
    if (strcmp(status, "running") == 0)
        return 0x3498DB; /* blue: a run starts */
    return 0xE74C3C;     /* red: failed, cancelled, skipped, timed out */
}

/* b's text as a JSON string (b may be empty). */
static json_t *string_of(const struct mb_buf *b)
{
    return json_stringn(b->data ? b->data : "", b->len);
}

static size_t units_of(const struct mb_buf *b)
{
    return mb_chat_units(b->data ? b->data : "");
}

/* text fitted to limit, set as key of obj when not empty; its length in
 * units, or (size_t)-1 out of memory. */
static size_t set_fitted(json_t *obj, const char *key, const char *text, size_t limit)
{
    struct mb_buf b = { 0 };
    size_t units = 0;
    if (mb_chat_fit(&b, text, limit, 0) != 0)
        units = (size_t)-1;
    else if (b.len) {
        units = units_of(&b);
        if (json_object_set_new(obj, key, string_of(&b)) != 0)
            units = (size_t)-1;
    }
    mb_buf_free(&b);
    return units;
}

/* One inline field within left units (2 or more), its units in *units;
 * Discord refuses an empty name or value: "-" stands for one. */
static json_t *field_of(const char *name, const char *value, size_t left, size_t *units)
{
    struct mb_buf n = { 0 }, v = { 0 };
    if (mb_chat_fit(&n, name, left - 1 < DISCORD_FIELD_NAME_MAX ? left - 1 : DISCORD_FIELD_NAME_MAX, 0) != 0)
        n.failed = 1;
    if (n.len == 0)
        mb_buf_add_str(&n, "-");
    left -= units_of(&n);
    if (mb_chat_fit(&v, value, left < DISCORD_FIELD_VALUE_MAX ? left : DISCORD_FIELD_VALUE_MAX, 0) != 0)
        v.failed = 1;
    if (v.len == 0)
        mb_buf_add_str(&v, "-");
    json_t *field = NULL;
    if (!n.failed && !v.failed) {
        *units = units_of(&n) + units_of(&v);
        field = json_pack("{s:o, s:o, s:b}", "name", string_of(&n), "value", string_of(&v),
                          "inline", 1);
    }
    mb_buf_free(&n);
    mb_buf_free(&v);
    return field;
}

/* The first 25 fields, within room units in all; the units taken. */
static size_t add_fields(json_t *embed, const struct mb_config *fields, size_t room)
{
    json_t *list = json_array();
    size_t used = 0;
    for (size_t i = 0; fields && i < fields->count && i < DISCORD_FIELDS_MAX; i++) {
        size_t units = 0;
        if (room - used < 2)
            break; /* not even "-" and "-" */
        json_t *field = field_of(fields->items[i].key, fields->items[i].value, room - used, &units);
        if (!field || json_array_append_new(list, field) != 0)
            break;
        used += units;
    }
    if (json_array_size(list))
        json_object_set_new(embed, "fields", list);
    else
        json_decref(list);
    return used;
}

/* The summary, then the log's tail in a code block that no backtick of the
 * log can close, within room units. */
static int set_description(json_t *embed, const struct mb_notice *notice, size_t room)
{
    struct mb_buf d = { 0 };
    size_t summary_room = room < SUMMARY_ROOM ? room : SUMMARY_ROOM;
    if (mb_chat_fit(&d, notice->summary, summary_room, 0) != 0)
        d.failed = 1;
    size_t fences = strlen(FENCE_OPEN) + strlen(FENCE_CLOSE) + 2; /* + a blank line */
    size_t used = units_of(&d) + fences;
    if (notice->log && notice->log[0] && room > used + LOG_USEFUL) {
        struct mb_buf log = { 0 };
        if (mb_chat_fit(&log, notice->log, room - used, MB_CHAT_TAIL | MB_CHAT_NO_FENCE) != 0)
            log.failed = 1;
        while (log.len && log.data[log.len - 1] == '\n')
            log.data[--log.len] = '\0';
        if (log.len) {
            if (d.len)
                mb_buf_add_str(&d, "\n\n");
            mb_buf_add_str(&d, FENCE_OPEN);
            mb_buf_add(&d, log.data, log.len);
            mb_buf_add_str(&d, FENCE_CLOSE);
        }
        if (log.failed)
            d.failed = 1;
        mb_buf_free(&log);
    }
    int rc = d.failed ? -1 : 0;
    if (rc == 0 && d.len)
        rc = json_object_set_new(embed, "description", string_of(&d));
    mb_buf_free(&d);
    return rc;
}

static int set_timestamp(json_t *embed, long long when)
{
    if (when <= 0)
        return 0;
    time_t t = (time_t)when;
    struct tm tm;
    char iso[32];
    if (!gmtime_r(&t, &tm) || !strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return 0;
    return json_object_set_new(embed, "timestamp", json_string(iso));
}

static json_t *embed_of(const struct mb_notice *notice)
{
    json_t *embed = json_object(), *footer = json_object();
    size_t total = DISCORD_EMBED_TOTAL_MAX, t;
    /* Each part is taken from what the others left of the total. */
    if ((t = set_fitted(embed, "title", notice->title, DISCORD_TITLE_MAX)) == (size_t)-1)
        goto fail;
    total -= t;
    if ((t = set_fitted(footer, "text", notice->host, FOOTER_ROOM)) == (size_t)-1)
        goto fail;
    total -= t;
    if (json_object_size(footer))
        json_object_set(embed, "footer", footer);
    size_t summary = mb_chat_units(notice->summary);
    summary = summary < SUMMARY_ROOM ? summary : SUMMARY_ROOM;
    size_t for_fields = total > summary + LOG_ROOM_MIN ? total - summary - LOG_ROOM_MIN : 0;
    total -= add_fields(embed, notice->fields, for_fields);
    if (set_description(embed, notice, total < DISCORD_DESCRIPTION_MAX ? total : DISCORD_DESCRIPTION_MAX) != 0)
        goto fail;
    json_object_set_new(embed, "color", json_integer(status_colour(notice->status)));
    if (set_timestamp(embed, notice->time) != 0)
        goto fail;
    json_decref(footer);
    return embed;
fail:
    json_decref(footer);
    json_decref(embed);
    return NULL;
}

char *mb_discord_payload(const struct mb_config *cfg, const struct mb_notice *notice)
{
    json_t *embed = embed_of(notice);
    if (!embed)
        return NULL;
    /* parse: [] — Discord resolves no mention at all in this message. */
    json_t *root = json_pack("{s:[o], s:{s:[]}}", "embeds", embed, "allowed_mentions", "parse");
    if (!root)
        return NULL;
    const char *username = cfg ? mb_config_get(cfg, "username") : NULL;
    char *body = NULL;
    if (!username || !username[0] || set_fitted(root, "username", username, DISCORD_USERNAME_MAX) != (size_t)-1)
        body = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return body;
}

double mb_discord_retry_after(const char *body, size_t len)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *wait = json_object_get(root, "retry_after");
    double seconds = json_is_number(wait) ? json_number_value(wait) : -1;
    json_decref(root);
    return seconds >= 0 && seconds < 86400 ? seconds : -1; /* NaN fails both */
}

static int discord_send(const struct mb_config *cfg, const struct mb_notice *notice,
                        double deadline, struct mb_delivery *out, struct mb_error *err)
{
    char *body = mb_discord_payload(cfg, notice);
    if (!body) {
        memset(out, 0, sizeof *out);
        mb_error_set(err, "discord notifier: out of memory");
        return -1;
    }
    struct mb_notice_post post = {
        .label = "discord notifier",
        .url = mb_config_get(cfg, "url"),
        .content_type = "application/json",
        .body = body,
        .body_len = strlen(body),
        .retry_after = mb_discord_retry_after,
    };
    int rc = mb_notice_post(cfg, &post, deadline, out, err);
    free(body);
    return rc;
}

static const struct mb_option discord_options[] = {
    { "url", MB_OPTION_STRING, 1, NULL, 1, .help = "the webhook URL (it holds the webhook's token)" },
    { "username", MB_OPTION_STRING, 0, NULL, 0,
      .help = "the name the messages are posted under (default: the webhook's; Discord refuses "
              "names containing \"discord\" or \"clyde\")" },
    MB_NOTIFY_COMMON_OPTIONS,
    { NULL },
};

const struct mb_notify_ops mb_notify_discord = {
    .version = MB_NOTIFY_OPS_VERSION,
    .type = "discord",
    .options = discord_options,
    .default_on = "failure partial",
    .send = discord_send,
};
