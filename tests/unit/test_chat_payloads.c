/* test_chat_payloads.c — what the discord and slack notifiers send: every
 * part within the service's documented limits however long the log and
 * the error, text cut on character boundaries, no text able to mention
 * anyone, and the parts where the service expects them. */
#include "check.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../adapters/notify/chat.h"

/* Lengths as the services may count them, counted here independently of
 * the adapters: code points (Discord's API) and UTF-16 units (JavaScript). */
static size_t code_points(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static size_t utf16_units(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += (((unsigned char)*s & 0xC0) != 0x80) + ((unsigned char)*s >= 0xF0);
    return n;
}

static size_t count_of(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static const char *str(json_t *root, const char *path)
{
    json_t *v = json_object_get(root, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A run that went as badly as it can for the limits. */
struct bad_run {
    struct mb_config fields;
    char *log, *summary, *title;
    struct mb_notice notice;
};

static char *repeat(const char *unit, size_t times, const char *prefix)
{
    struct mb_buf b = { 0 };
    mb_buf_add_str(&b, prefix);
    for (size_t i = 0; i < times; i++)
        mb_buf_add_str(&b, unit);
    return mb_buf_take(&b);
}

static void bad_run_init(struct bad_run *r, const char *status)
{
    memset(r, 0, sizeof *r);
    struct mb_buf log = { 0 };
    char line[160];
    for (int i = 1; i <= 10000; i++) {
        snprintf(line, sizeof line,
                 "2026-12-02T03:00:%02dZ error line %d: ```ünïcödé``` @everyone <@123456789> <!channel> & 😀\n",
                 i % 60, i);
        mb_buf_add_str(&log, line);
    }
    r->log = mb_buf_take(&log);
    /* a 5,000-character error, multi-byte all through */
    r->summary = repeat("é", 4990, "pg_dump: <@here> ");
    r->title = repeat("😀", 300, "[moonbak] shop: failed ");
    for (int i = 1; i <= 30; i++) {
        char name[32];
        snprintf(name, sizeof name, "Field %d ü", i);
        char *value = repeat("ß", 3000, "<!channel> ");
        char *long_name = i == 1 ? repeat("n", 400, "") : NULL;
        mb_config_set(&r->fields, long_name ? long_name : name, value);
        free(value);
        free(long_name);
    }
    r->notice = (struct mb_notice){
        .event = "failure", .status = status, .job = "shop", .title = r->title,
        .summary = r->summary, .fields = &r->fields, .log = r->log, .json = "{}",
        .run_id = "00000000-0000-4000-8000-000000000000", .host = "db1.example.com",
        .time = 1796180400, /* 2026-12-02T03:00:00Z */
    };
}

static void bad_run_free(struct bad_run *r)
{
    mb_config_free(&r->fields);
    free(r->log);
    free(r->summary);
    free(r->title);
}

static json_t *parse(char *body, const char *what)
{
    json_error_t e;
    json_t *root = body ? json_loads(body, 0, &e) : NULL;
    CHECK(root != NULL, "the %s payload is JSON (and so valid UTF-8)%s%s", what, root ? "" : ": ",
          root ? "" : (body ? e.text : "no body"));
    free(body);
    return root;
}

/* ---- Discord ---- */

static size_t checked_len(const char *text, size_t max, const char *what)
{
    size_t n = text ? utf16_units(text) : 0;
    CHECK(text && n <= max && code_points(text) <= max, "discord %s is within %zu characters (%zu)",
          what, max, n);
    return n;
}

static void discord_limits(void)
{
    struct bad_run r;
    bad_run_init(&r, "failed");
    struct mb_config cfg = { 0 };
    char *name = repeat("x", 200, "moonbak ");
    mb_config_set(&cfg, "username", name);
    free(name);
    json_t *root = parse(mb_discord_payload(&cfg, &r.notice), "discord");
    if (!root)
        return;
    json_t *content = json_object_get(root, "content");
    CHECK(!content || code_points(json_string_value(content)) <= 2000, "content is absent or within 2000");
    json_t *mentions = json_object_get(root, "allowed_mentions");
    json_t *parse_list = json_object_get(mentions, "parse");
    CHECK(json_is_array(parse_list) && json_array_size(parse_list) == 0 && json_object_size(mentions) == 1,
          "allowed_mentions is { parse = [] }: no text pings anyone");
    checked_len(str(root, "username"), DISCORD_USERNAME_MAX, "username");
    json_t *embeds = json_object_get(root, "embeds");
    CHECK(json_array_size(embeds) == 1, "one embed");
    json_t *embed = json_array_get(embeds, 0);
    size_t total = checked_len(str(embed, "title"), DISCORD_TITLE_MAX, "title");
    const char *title = str(embed, "title");
    CHECK(title && strcmp(title + strlen(title) - 3, "…") == 0, "a cut title ends with …");
    CHECK(title && utf16_units(title) > DISCORD_TITLE_MAX - 3,
          "emoji count two UTF-16 units each, and the title still fills its room (%zu)",
          title ? utf16_units(title) : 0);
    const char *description = str(embed, "description");
    total += checked_len(description, DISCORD_DESCRIPTION_MAX, "description");
    const char *footer = str(json_object_get(embed, "footer"), "text");
    total += checked_len(footer, DISCORD_FOOTER_MAX, "footer");
    json_t *fields = json_object_get(embed, "fields");
    CHECK(json_array_size(fields) >= 1 && json_array_size(fields) <= DISCORD_FIELDS_MAX,
          "at most 25 fields (%zu of 30)", json_array_size(fields));
    size_t i;
    json_t *field;
    int names_ok = 1, values_ok = 1, inline_ok = 1;
    json_array_foreach(fields, i, field) {
        const char *n = str(field, "name"), *v = str(field, "value");
        names_ok &= n && n[0] && utf16_units(n) <= DISCORD_FIELD_NAME_MAX;
        values_ok &= v && v[0] && utf16_units(v) <= DISCORD_FIELD_VALUE_MAX;
        inline_ok &= json_is_true(json_object_get(field, "inline"));
        total += (n ? utf16_units(n) : 0) + (v ? utf16_units(v) : 0);
    }
    CHECK(names_ok, "every field name is 1 to 256 characters");
    CHECK(values_ok, "every field value is 1 to 1024 characters");
    CHECK(inline_ok, "fields are inline");
    CHECK(total <= DISCORD_EMBED_TOTAL_MAX, "the embed's texts total at most 6000 characters (%zu)", total);
    CHECK(total > 5000, "and they use the room they have (%zu)", total);
    if (description) {
        CHECK(strncmp(description, "pg_dump: <@here> éé", strlen("pg_dump: <@here> éé")) == 0,
              "the description starts with the summary");
        CHECK(strstr(description, "error line 10000:") != NULL, "the newest log line is kept");
        CHECK(strstr(description, "error line 1:") == NULL, "the oldest is dropped");
        CHECK(strstr(description, " earlier lines cut]") != NULL, "the cut is said");
        CHECK(count_of(description, "```") == 2
                  && strcmp(description + strlen(description) - 4, "\n```") == 0,
              "the log's backticks cannot close its code block: one fence opens, one closes, at the end");
    }
    json_int_t colour = json_integer_value(json_object_get(embed, "color"));
    CHECK(colour == 0xE74C3C, "a failure is red (%lld)", (long long)colour);
    const char *when = str(embed, "timestamp");
    CHECK(when && strcmp(when, "2026-12-02T03:00:00Z") == 0, "the timestamp is ISO 8601: %s", when ? when : "none");
    json_decref(root);
    mb_config_free(&cfg);
    bad_run_free(&r);
}

static const char *small_log = "03:00:00 info dump started\n03:00:01 error pg_dump: connection refused\n";

static struct mb_notice small_notice(const struct mb_config *fields, const char *status)
{
    return (struct mb_notice){
        .event = "failure", .status = status, .job = "shop", .title = "[moonbak] shop: failed",
        .summary = "The backup of shop failed: pg_dump exited with status 1.", .fields = fields,
        .log = small_log, .json = "{}", .run_id = "r", .host = "db1", .time = 0,
    };
}

static void discord_small(void)
{
    struct mb_config fields = { 0 };
    mb_config_set(&fields, "Trigger", "schedule");
    mb_config_set(&fields, "Duration", "");
    struct mb_notice n = small_notice(&fields, "failed");
    json_t *root = parse(mb_discord_payload(NULL, &n), "discord");
    if (!root)
        return;
    json_t *embed = json_array_get(json_object_get(root, "embeds"), 0);
    CHECK(strcmp(str(embed, "title"), n.title) == 0, "a short title is kept whole");
    const char *d = str(embed, "description");
    CHECK(d && strcmp(d, "The backup of shop failed: pg_dump exited with status 1.\n\n```\n"
                         "03:00:00 info dump started\n03:00:01 error pg_dump: connection refused\n```") == 0,
          "the description is the summary, then the whole log in a code block: %s", d ? d : "none");
    json_t *f = json_object_get(embed, "fields");
    CHECK(json_array_size(f) == 2 && strcmp(str(json_array_get(f, 0), "name"), "Trigger") == 0
              && strcmp(str(json_array_get(f, 0), "value"), "schedule") == 0,
          "the fields are kept in order");
    CHECK(strcmp(str(json_array_get(f, 1), "value"), "-") == 0, "an empty value becomes -, which Discord takes");
    CHECK(strcmp(str(json_object_get(embed, "footer"), "text"), "db1") == 0, "the footer names the host");
    CHECK(json_object_get(embed, "timestamp") == NULL, "no time: no timestamp");
    CHECK(json_object_get(root, "username") == NULL, "no username: the webhook's own");
    json_decref(root);

    static const struct { const char *status; int colour; } colours[] = {
        { "success", 0x2ECC71 }, { "partial", 0xE67E22 }, { "running", 0x3498DB },
        { "failed", 0xE74C3C }, { "skipped", 0xE74C3C }, { "cancelled", 0xE74C3C },
    };
    for (size_t i = 0; i < sizeof colours / sizeof *colours; i++) {
        n.status = colours[i].status;
        root = parse(mb_discord_payload(NULL, &n), "discord");
        json_int_t c = json_integer_value(json_object_get(json_array_get(json_object_get(root, "embeds"), 0), "color"));
        CHECK(c == colours[i].colour, "status %s has colour #%06X (%06llX)", colours[i].status,
              colours[i].colour, (long long)c);
        json_decref(root);
    }
    mb_config_free(&fields);
}

static void discord_many_fields(void)
{
    struct mb_config fields = { 0 };
    for (int i = 1; i <= 30; i++) {
        char name[32];
        snprintf(name, sizeof name, "Storage %d", i);
        mb_config_set(&fields, name, "stored");
    }
    struct mb_notice n = small_notice(&fields, "partial");
    json_t *root = parse(mb_discord_payload(NULL, &n), "discord");
    json_t *f = json_object_get(json_array_get(json_object_get(root, "embeds"), 0), "fields");
    CHECK(json_array_size(f) == DISCORD_FIELDS_MAX
              && strcmp(str(json_array_get(f, 24), "name"), "Storage 25") == 0,
          "30 short fields: the first 25 are sent (%zu)", json_array_size(f));
    json_decref(root);
    mb_config_free(&fields);
}

static void discord_bad_bytes(void)
{
    struct mb_config fields = { 0 };
    struct mb_notice n = small_notice(&fields, "failed");
    n.log = "bad \xff\xfe bytes \xed\xa0\x80 surrogate \xc0\xaf overlong\n";
    n.summary = "cut \xe2\x82";
    json_t *root = parse(mb_discord_payload(NULL, &n), "discord with invalid UTF-8 in the log");
    const char *d = str(json_array_get(json_object_get(root, "embeds"), 0), "description");
    CHECK(d && strstr(d, "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes") != NULL, "a byte that is no character becomes U+FFFD");
    json_decref(root);
}

static void discord_retry_after(void)
{
    const char *body = "{\"message\": \"You are being rate limited.\", \"retry_after\": 0.5, \"global\": false}";
    CHECK(mb_discord_retry_after(body, strlen(body)) == 0.5, "a 429's retry_after is read (0.5 s)");
    body = "{\"retry_after\": 2}";
    CHECK(mb_discord_retry_after(body, strlen(body)) == 2.0, "an integer retry_after too");
    body = "<html>rate limited</html>";
    CHECK(mb_discord_retry_after(body, strlen(body)) < 0, "a body that is not JSON says nothing");
    body = "{\"retry_after\": \"soon\"}";
    CHECK(mb_discord_retry_after(body, strlen(body)) < 0, "nor does a retry_after that is no number");
    body = "{\"retry_after\": -3}";
    CHECK(mb_discord_retry_after(body, strlen(body)) < 0, "nor a negative one");
}

/* ---- Slack ---- */

/* Every string in v: no raw < or >, and & only as Slack's three escapes. */
static int all_escaped(json_t *v, const char **bad)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        for (const char *p = s; *p; p++)
            if (*p == '<' || *p == '>'
                || (*p == '&' && strncmp(p, "&amp;", 5) && strncmp(p, "&lt;", 4) && strncmp(p, "&gt;", 4))) {
                *bad = s;
                return 0;
            }
        return 1;
    }
    size_t i;
    const char *key;
    json_t *item;
    if (json_is_array(v)) {
        json_array_foreach(v, i, item) if (!all_escaped(item, bad)) return 0;
    } else if (json_is_object(v)) {
        json_object_foreach(v, key, item) if (!all_escaped(item, bad)) return 0;
    }
    return 1;
}

static json_t *block_of(json_t *blocks, const char *type, int nth)
{
    size_t i;
    json_t *b;
    json_array_foreach(blocks, i, b) if (strcmp(str(b, "type"), type) == 0 && nth-- == 0) return b;
    return NULL;
}

static void slack_limits(void)
{
    struct bad_run r;
    bad_run_init(&r, "failed");
    json_t *root = parse(mb_slack_payload(NULL, &r.notice), "slack");
    if (!root)
        return;
    const char *bad = NULL;
    CHECK(all_escaped(root, &bad), "every text has & < > escaped: no <!channel>, <@U123> or link%s%.60s",
          bad ? ": " : "", bad ? bad : "");
    const char *text = str(root, "text");
    CHECK(text && utf16_units(text) <= SLACK_TEXT_MAX && strncmp(text, "[moonbak] shop: failed", 22) == 0,
          "the fallback text starts with the title, within %d", SLACK_TEXT_MAX);
    CHECK(text && strstr(text, "pg_dump: &lt;@here&gt;") != NULL, "and holds the summary, escaped");
    json_t *blocks = json_object_get(root, "blocks");
    json_t *header = json_object_get(block_of(blocks, "header", 0), "text");
    CHECK(header && strcmp(str(header, "type"), "plain_text") == 0
              && utf16_units(str(header, "text")) <= SLACK_HEADER_MAX,
          "a plain_text header within 150 (%zu)", header ? utf16_units(str(header, "text")) : 0);
    json_t *summary = json_object_get(block_of(blocks, "section", 0), "text");
    const char *s = summary ? str(summary, "text") : NULL;
    CHECK(s && strcmp(str(summary, "type"), "mrkdwn") == 0 && json_is_true(json_object_get(summary, "verbatim"))
              && utf16_units(s) <= SLACK_SECTION_TEXT_MAX && utf16_units(s) > SLACK_SECTION_TEXT_MAX - 10,
          "the summary is a verbatim mrkdwn section filled to 3000 (%zu)", s ? utf16_units(s) : 0);
    CHECK(s && strcmp(s + strlen(s) - 3, "…") == 0, "cut on a character boundary, ending with …");
    json_t *fields = json_object_get(block_of(blocks, "section", 1), "fields");
    CHECK(json_array_size(fields) == SLACK_FIELDS_MAX, "ten fields of thirty");
    size_t i;
    json_t *f;
    int fields_ok = 1;
    json_array_foreach(fields, i, f) fields_ok &= utf16_units(str(f, "text")) <= SLACK_FIELD_TEXT_MAX
                                                  && json_is_true(json_object_get(f, "verbatim"));
    CHECK(fields_ok, "each within 2000 characters, verbatim");
    const char *first = str(json_array_get(fields, 0), "text");
    CHECK(first && strncmp(first, "*nnnn", 5) == 0 && strstr(first, "…*\n&lt;!channel&gt; ßß"),
          "a field is its name in bold (cut), then its value");
    json_t *log = json_object_get(block_of(blocks, "section", 2), "text");
    const char *l = log ? str(log, "text") : NULL;
    CHECK(l && utf16_units(l) <= SLACK_SECTION_TEXT_MAX && utf16_units(l) > SLACK_SECTION_TEXT_MAX - 200,
          "the log's section is within 3000 (%zu)", l ? utf16_units(l) : 0);
    CHECK(l && count_of(l, "```") == 2 && strncmp(l, "```\n", 4) == 0 && strcmp(l + strlen(l) - 4, "\n```") == 0,
          "the log is one code block its backticks cannot close");
    CHECK(l && strstr(l, "error line 10000:") && !strstr(l, "error line 1:"), "with the newest lines");
    json_t *context = block_of(blocks, "context", 0);
    const char *host = str(json_array_get(json_object_get(context, "elements"), 0), "text");
    CHECK(host && strcmp(host, "db1.example.com") == 0, "a context block names the host");
    CHECK(json_array_size(blocks) == 5, "five blocks: header, summary, fields, log, host");
    json_decref(root);
    bad_run_free(&r);
}

static void slack_small(void)
{
    struct mb_config fields = { 0 };
    mb_config_set(&fields, "Trigger", "schedule & <manual>");
    struct mb_notice n = small_notice(&fields, "failed");
    n.log = "";
    json_t *root = parse(mb_slack_payload(NULL, &n), "slack");
    json_t *blocks = json_object_get(root, "blocks");
    CHECK(json_array_size(blocks) == 4, "no log: no log block");
    const char *f = str(json_array_get(json_object_get(block_of(blocks, "section", 1), "fields"), 0), "text");
    CHECK(f && strcmp(f, "*Trigger*\nschedule &amp; &lt;manual&gt;") == 0, "a field, escaped: %s", f ? f : "none");
    CHECK(strcmp(str(root, "text"), "[moonbak] shop: failed\nThe backup of shop failed: pg_dump exited with status 1.") == 0,
          "the fallback text is the title and the summary");
    json_decref(root);
    mb_config_free(&fields);
}

static void fit_escapes(void)
{
    struct mb_buf b = { 0 };
    mb_chat_fit(&b, "<<<<<<<<<<", 10, MB_CHAT_SLACK_ESCAPE);
    CHECK(b.data && strcmp(b.data, "&lt;&lt;…") == 0, "a cut never splits an escape: %s", b.data ? b.data : "");
    mb_buf_free(&b);
}

int main(void)
{
    discord_limits();
    discord_small();
    discord_many_fields();
    discord_bad_bytes();
    discord_retry_after();
    slack_limits();
    slack_small();
    fit_escapes();
    return check_done();
}
