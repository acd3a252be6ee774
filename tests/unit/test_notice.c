/* test_notice.c — text fitted to a service's limits: cut on character
 * boundaries, the newest log lines kept and the cut said, and the plain
 * text of a notice with the log giving way first. */
#include "check.h"

#include <stdlib.h>
#include <string.h>

#include "notice.h"

static size_t chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Every multi-byte sequence in s is whole. */
static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0)
            return 0;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

static char *head(const char *text, size_t max)
{
    struct mb_buf b = { 0 };
    mb_text_add_head(&b, text, max);
    return mb_buf_take(&b);
}

static char *tail(const char *text, size_t max)
{
    struct mb_buf b = { 0 };
    mb_text_add_tail(&b, text, max);
    return mb_buf_take(&b);
}

static void heads(void)
{
    char *s = head("short", 10);
    CHECK(strcmp(s, "short") == 0, "a text within the limit is kept whole");
    free(s);
    s = head("Größenänderung fehlgeschlagen", 10);
    CHECK(chars(s) == 10 && valid_utf8(s) && strcmp(s + strlen(s) - 3, "…") == 0,
          "a longer one is cut on a character boundary, to the limit, ending with …: %s", s);
    free(s);
}

static void tails(void)
{
    /* 10,000 numbered lines: the newest are kept */
    struct mb_buf in = { 0 };
    char line[64];
    for (int i = 1; i <= 10000; i++) {
        snprintf(line, sizeof line, "2026-12-02T03:00:00Z error line %d ünïcödé\n", i);
        mb_buf_add_str(&in, line);
    }
    char *text = mb_buf_take(&in);
    char *s = tail(text, 2000);
    CHECK(chars(s) <= 2000 && chars(s) > 1900, "a 10,000-line log fits in 2000 characters (%zu)", chars(s));
    CHECK(strstr(s, "error line 10000 ") != NULL, "the newest line is kept");
    CHECK(strncmp(s, "[", 1) == 0 && strstr(s, " earlier lines cut]\n") != NULL,
          "the cut is said first: %.40s", s);
    CHECK(strstr(s, "error line 1 ") == NULL, "the oldest is dropped");
    CHECK(valid_utf8(s), "the result is valid UTF-8");
    /* the first kept line is whole */
    const char *first = strchr(s, '\n') + 1;
    CHECK(strncmp(first, "2026-12-02T03:00:00Z", 20) == 0, "whole lines are kept: %.30s", first);
    size_t dropped = (size_t)strtoul(s + 1, NULL, 10);
    size_t kept = 0;
    for (const char *p = first; *p; p++)
        kept += *p == '\n';
    CHECK(dropped + kept == 10000, "the marker counts the lines cut (%zu + %zu)", dropped, kept);
    free(s);
    free(text);

    s = tail("one\ntwo\n", 100);
    CHECK(strcmp(s, "one\ntwo\n") == 0, "a log within the limit is kept whole, unmarked");
    free(s);

    /* one very long line: its end */
    char *long_line = malloc(5002);
    memset(long_line, 'x', 5000);
    memcpy(long_line + 4990, "THE-END...", 10);
    long_line[5000] = 0;
    s = tail(long_line, 100);
    CHECK(chars(s) <= 100 && strstr(s, "THE-END...") != NULL, "a single long line keeps its end (%zu)", chars(s));
    free(s);
    free(long_line);

    s = tail("abcdef\nghijkl\n", 5);
    CHECK(strcmp(s, "") == 0, "no room for the marker: nothing");
    free(s);
}

static void plain_text(void)
{
    struct mb_config fields = { 0 };
    mb_config_set(&fields, "Trigger", "schedule");
    mb_config_set(&fields, "Duration", "3.2 s");
    struct mb_buf log = { 0 };
    for (int i = 1; i <= 500; i++) {
        char line[64];
        snprintf(line, sizeof line, "log line %d\n", i);
        mb_buf_add_str(&log, line);
    }
    char *log_text = mb_buf_take(&log);
    struct mb_notice n = {
        .event = "failure", .status = "failed", .job = "shop", .title = "[moonbak] shop: failed",
        .summary = "shop failed: pg_dump exited with status 1", .fields = &fields, .log = log_text,
        .json = "{}", .run_id = "x", .host = "db1",
    };
    struct mb_buf b = { 0 };
    mb_notice_plain_text(&b, &n, 1000);
    char *s = mb_buf_take(&b);
    CHECK(chars(s) <= 1000, "the plain text stays within its limit (%zu)", chars(s));
    const char *expected = "shop failed: pg_dump exited with status 1\n\nTrigger: schedule\nDuration: 3.2 s\n";
    CHECK(strncmp(s, expected, strlen(expected)) == 0,
          "summary first, then the fields as Name: value");
    CHECK(strstr(s, "log line 500\n") != NULL && strstr(s, "log line 1\n") == NULL,
          "then the end of the log, newest kept");
    free(s);
    mb_notice_plain_text(&b, &n, 30);
    s = mb_buf_take(&b);
    CHECK(chars(s) == 30 && strstr(s, "log") == NULL, "with no room the log gives way, the summary is cut");
    free(s);
    free(log_text);
    mb_config_free(&fields);
}

static int add_tail(struct mb_buf *b, const void *text, size_t max_chars)
{
    return mb_text_add_tail(b, text, max_chars);
}

/* A limit in bytes over the functions that count characters. */
static void fit_bytes(void)
{
    struct mb_buf log = { 0 };
    for (int i = 1; i <= 2000; i++) {
        char line[64];
        snprintf(line, sizeof line, "línea %04d: ☕☕☕ ünïcödé\n", i);
        mb_buf_add_str(&log, line);
    }
    struct mb_buf b = { 0 };
    mb_buf_add_str(&b, "kept: ");
    int rc = mb_text_fit_bytes(&b, 4096, add_tail, log.data);
    char *s = mb_buf_take(&b);
    size_t made = strlen(s) - strlen("kept: ");
    CHECK(rc == 0 && made <= 4096 && made > 3800, "multi-byte text fits the byte limit, nearly filling it (%zu)", made);
    CHECK(strncmp(s, "kept: ", 6) == 0 && valid_utf8(s), "what was there stays, and the text is whole UTF-8");
    CHECK(strstr(s, "línea 2000") != NULL && strstr(s, "earlier lines cut]") != NULL,
          "the newest lines are kept, the cut said");
    free(s);
    mb_text_fit_bytes(&b, 10, add_tail, log.data);
    s = mb_buf_take(&b);
    CHECK(strlen(s) <= 10, "a limit too small for anything useful gives at most that (%zu bytes)", strlen(s));
    free(s);
    mb_buf_free(&log);
}

/* Messages name a URL's host, never its path or query. */
static void url_host(void)
{
    char host[64];
    mb_url_host_of("https://discord.com/api/webhooks/123/TOKEN?wait=true", host, sizeof host);
    CHECK(strcmp(host, "discord.com") == 0, "the host of a webhook URL (%s)", host);
    mb_url_host_of("http://user:pw@127.0.0.1:8080/x", host, sizeof host);
    CHECK(strcmp(host, "127.0.0.1") == 0, "without user, password or port (%s)", host);
    mb_url_host_of("not a url", host, sizeof host);
    CHECK(strcmp(host, "?") == 0, "\"?\" when there is none (%s)", host);
}

int main(void)
{
    heads();
    tails();
    plain_text();
    fit_bytes();
    url_host();
    return check_done();
}
