/* slack.c — the slack notifier: an incoming webhook's message, `text` (the
 * fallback notifications show: title and summary) plus Block Kit blocks
 * (a header with the title, the summary, the notice's fields, the log's
 * tail in a code block, the host in a context block), within Block Kit's
 * limits (chat.h).  Every text has Slack's control characters escaped
 * (& < > as &amp; &lt; &gt;) and mrkdwn texts are verbatim, so that no
 * text of a run can make a mention (<!channel>, <@U123>) or a link. */
#include "chat.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define HOST_ROOM 150
#define FIELD_NAME_ROOM 200

static const char FENCE_OPEN[] = "```\n", FENCE_CLOSE[] = "\n```";

/* A text object of b's text: "plain_text" or "mrkdwn" (verbatim: Slack
 * links no URL, channel or mention by itself). */
static json_t *text_object(const char *type, const struct mb_buf *b)
{
    json_t *text = json_stringn(b->data ? b->data : "", b->len);
    if (strcmp(type, "mrkdwn") == 0)
        return json_pack("{s:s, s:o, s:b}", "type", type, "text", text, "verbatim", 1);
    return json_pack("{s:s, s:o}", "type", type, "text", text);
}

/* text fitted to limit as a text object of type, in *object; NULL there
 * when the text is empty.  -1 out of memory. */
static int fitted_text(const char *type, const char *text, size_t limit, json_t **object)
{
    struct mb_buf b = { 0 };
    int rc = mb_chat_fit(&b, text, limit, MB_CHAT_SLACK_ESCAPE);
    *object = NULL;
    if (rc == 0 && b.len && !(*object = text_object(type, &b)))
        rc = -1;
    mb_buf_free(&b);
    return rc;
}

/* Appends a block of type whose key holds a text object of text, unless
 * the text is empty (Slack refuses an empty text). */
static int add_text_block(json_t *blocks, const char *block, const char *key,
                          const char *type, const char *text, size_t limit)
{
    json_t *t;
    if (fitted_text(type, text, limit, &t) != 0)
        return -1;
    if (!t)
        return 0;
    /* a context block holds a list of elements */
    json_t *value = strcmp(block, "context") == 0 ? json_pack("[o]", t) : t;
    return json_array_append_new(blocks, json_pack("{s:s, s:o}", "type", block, key, value));
}

/* "*Name*\nvalue", both escaped, within a field's 2000 characters. */
static json_t *field_of(const char *name, const char *value)
{
    struct mb_buf b = { 0 };
    mb_buf_add_str(&b, "*");
    if (mb_chat_fit(&b, name, FIELD_NAME_ROOM, MB_CHAT_SLACK_ESCAPE) != 0)
        b.failed = 1;
    mb_buf_add_str(&b, "*\n");
    size_t used = mb_chat_units(b.data ? b.data : "");
    if (mb_chat_fit(&b, value, SLACK_FIELD_TEXT_MAX - used, MB_CHAT_SLACK_ESCAPE) != 0)
        b.failed = 1;
    json_t *field = b.failed ? NULL : text_object("mrkdwn", &b);
    mb_buf_free(&b);
    return field;
}

/* The first ten fields in one section block. */
static int add_fields(json_t *blocks, const struct mb_config *fields)
{
    if (!fields || fields->count == 0)
        return 0;
    json_t *list = json_array();
    for (size_t i = 0; i < fields->count && i < SLACK_FIELDS_MAX; i++)
        if (json_array_append_new(list, field_of(fields->items[i].key, fields->items[i].value)) != 0) {
            json_decref(list);
            return -1;
        }
    return json_array_append_new(blocks, json_pack("{s:s, s:o}", "type", "section", "fields", list));
}

/* The log's tail in a code block that no backtick of the log can close. */
static int add_log(json_t *blocks, const char *log)
{
    if (!log || !log[0])
        return 0;
    struct mb_buf b = { 0 }, tail = { 0 };
    size_t fences = strlen(FENCE_OPEN) + strlen(FENCE_CLOSE);
    int rc = mb_chat_fit(&tail, log, SLACK_SECTION_TEXT_MAX - fences,
                         MB_CHAT_TAIL | MB_CHAT_NO_FENCE | MB_CHAT_SLACK_ESCAPE);
    while (tail.len && tail.data[tail.len - 1] == '\n')
        tail.data[--tail.len] = '\0';
    if (rc == 0 && tail.len) {
        mb_buf_add_str(&b, FENCE_OPEN);
        mb_buf_add(&b, tail.data, tail.len);
        mb_buf_add_str(&b, FENCE_CLOSE);
        rc = b.failed ? -1 : json_array_append_new(blocks, json_pack("{s:s, s:o}", "type", "section",
                                                                     "text", text_object("mrkdwn", &b)));
    }
    mb_buf_free(&tail);
    mb_buf_free(&b);
    return rc;
}

/* What a notification shows where blocks cannot be: title and summary. */
static json_t *fallback_of(const struct mb_notice *notice)
{
    struct mb_buf b = { 0 };
    if (mb_chat_fit(&b, notice->title, SLACK_HEADER_MAX, MB_CHAT_SLACK_ESCAPE) != 0)
        b.failed = 1;
    if (notice->summary && notice->summary[0]) {
        mb_buf_add_str(&b, "\n");
        if (mb_chat_fit(&b, notice->summary, SLACK_TEXT_MAX - mb_chat_units(b.data ? b.data : ""),
                        MB_CHAT_SLACK_ESCAPE) != 0)
            b.failed = 1;
    }
    json_t *text = b.failed ? NULL : json_stringn(b.data ? b.data : "", b.len);
    mb_buf_free(&b);
    return text;
}

char *mb_slack_payload(const struct mb_config *cfg, const struct mb_notice *notice)
{
    (void)cfg;
    json_t *blocks = json_array();
    int rc = add_text_block(blocks, "header", "text", "plain_text", notice->title, SLACK_HEADER_MAX);
    if (rc == 0)
        rc = add_text_block(blocks, "section", "text", "mrkdwn", notice->summary,
                            SLACK_SECTION_TEXT_MAX);
    if (rc == 0)
        rc = add_fields(blocks, notice->fields);
    if (rc == 0)
        rc = add_log(blocks, notice->log);
    if (rc == 0)
        rc = add_text_block(blocks, "context", "elements", "mrkdwn", notice->host, HOST_ROOM);
    json_t *root = NULL;
    if (rc == 0) /* json_pack takes blocks, even when it fails */
        root = json_pack("{s:o, s:o}", "text", fallback_of(notice), "blocks", blocks);
    else
        json_decref(blocks);
    char *body = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return body;
}

static int slack_send(const struct mb_config *cfg, const struct mb_notice *notice, double deadline,
                      struct mb_delivery *out, struct mb_error *err)
{
    char *body = mb_slack_payload(cfg, notice);
    if (!body) {
        memset(out, 0, sizeof *out);
        mb_error_set(err, "slack notifier: out of memory");
        return -1;
    }
    struct mb_notice_post post = {
        .label = "slack notifier",
        .url = mb_config_get(cfg, "url"),
        .content_type = "application/json",
        .body = body,
        .body_len = strlen(body),
    };
    int rc = mb_notice_post(cfg, &post, deadline, out, err);
    free(body);
    return rc;
}

static const struct mb_option slack_options[] = {
    { "url", MB_OPTION_STRING, 1, NULL, 1,
      .help = "the incoming webhook's URL (it holds the webhook's token)" },
    MB_NOTIFY_COMMON_OPTIONS,
    { NULL },
};

const struct mb_notify_ops mb_notify_slack = {
    .version = MB_NOTIFY_OPS_VERSION,
    .type = "slack",
    .options = slack_options,
    .default_on = "failure partial",
    .send = slack_send,
};
