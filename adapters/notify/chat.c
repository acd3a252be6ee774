/* chat.c — text for the chat notifiers, fitted to their limits; see chat.h. */
#include "chat.h"

#include <stdlib.h>
#include <string.h>

/* The length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * form, no surrogate, nothing past U+10FFFF), 0 when there is none.  This
 * is what jansson accepts in a string, so a cleaned text always encodes. */
static size_t utf8_sequence(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* text as valid UTF-8, with backticks replaced when it goes in a code
 * block.  The log comes from tools and files: any byte may be in it. */
static int add_clean(struct mb_buf *b, const char *text, int no_fence)
{
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        size_t n = utf8_sequence(p);
        if (n == 0) {
            mb_buf_add_str(b, "\xEF\xBF\xBD"); /* U+FFFD */
            p++;
        } else if (no_fence && *p == '`') {
            mb_buf_add_str(b, "\xCB\x8B"); /* U+02CB, a grave that fences nothing */
            p++;
        } else {
            mb_buf_add(b, p, n);
            p += n;
        }
    }
    return b->failed ? -1 : 0;
}

static int add_slack_escaped(struct mb_buf *b, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '&')
            mb_buf_add_str(b, "&amp;");
        else if (*p == '<')
            mb_buf_add_str(b, "&lt;");
        else if (*p == '>')
            mb_buf_add_str(b, "&gt;");
        else
            mb_buf_add(b, p, 1);
    }
    return b->failed ? -1 : 0;
}

size_t mb_chat_units(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) != 0x80)
            n++;
        if (*p >= 0xF0)
            n++; /* a four-byte sequence is a surrogate pair */
    }
    return n;
}

/* The cut text, escaped when asked, into piece. */
static int cut(struct mb_buf *piece, struct mb_buf *scratch, const char *clean, size_t chars, int how)
{
    mb_buf_clear(piece);
    struct mb_buf *into = how & MB_CHAT_SLACK_ESCAPE ? scratch : piece;
    mb_buf_clear(into);
    if (how & MB_CHAT_TAIL)
        mb_text_add_tail(into, clean, chars);
    else
        mb_text_add_head(into, clean, chars);
    if (how & MB_CHAT_SLACK_ESCAPE)
        add_slack_escaped(piece, into->data ? into->data : "");
    return piece->failed || into->failed ? -1 : 0;
}

/* The units of clean cut to chars characters, as sent; piece holds it. */
static size_t units_cut(struct mb_buf *piece, struct mb_buf *scratch, const char *clean,
                        size_t chars, int how, int *rc)
{
    *rc = cut(piece, scratch, clean, chars, how);
    return *rc == 0 ? mb_chat_units(piece->data ? piece->data : "") : 0;
}

int mb_chat_fit(struct mb_buf *out, const char *text, size_t limit, int how)
{
    struct mb_buf clean = { 0 }, piece = { 0 }, scratch = { 0 };
    int rc = add_clean(&clean, text ? text : "", how & MB_CHAT_NO_FENCE);
    const char *c = clean.data ? clean.data : "";
    /* Cut to limit code points; when that is longer as sent (UTF-16
     * units, escapes included), search for the most characters that fit.
     * Cutting before escaping never splits an escape. */
    if (rc == 0 && units_cut(&piece, &scratch, c, limit, how, &rc) > limit && rc == 0) {
        size_t fits = 0, over = limit; /* cut to fits: fits; to over: too long */
        while (rc == 0 && over - fits > 1) {
            size_t mid = fits + (over - fits) / 2;
            if (units_cut(&piece, &scratch, c, mid, how, &rc) <= limit)
                fits = mid;
            else
                over = mid;
        }
        if (rc == 0)
            units_cut(&piece, &scratch, c, fits, how, &rc);
    }
    if (rc == 0 && piece.len)
        rc = mb_buf_add(out, piece.data, piece.len);
    mb_buf_free(&clean);
    mb_buf_free(&piece);
    mb_buf_free(&scratch);
    return rc;
}
