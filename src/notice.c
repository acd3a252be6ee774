/* notice.c — what the notifiers share: text fitted to a service's limits
 * (this part), and the HTTP delivery with its retries (mb_notice_post). */
#include "notice.h"

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
