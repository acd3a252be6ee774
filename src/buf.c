/* buf.c — see buf.h. */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#define FIRST_CAP 256

static int buf_reserve(struct mb_buf *b, size_t n)
{
    if (b->failed)
        return -1;
    if (n < b->cap - b->len) /* room for n bytes and the NUL */
        return 0;
    size_t cap = b->cap ? b->cap : FIRST_CAP;
    while (cap - b->len <= n) {
        if (cap > ((size_t)-1) / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    char *grown = realloc(b->data, cap);
    if (!grown) {
        b->failed = 1;
        return -1;
    }
    b->data = grown;
    b->cap = cap;
    return 0;
}

int mb_buf_add(struct mb_buf *b, const void *bytes, size_t n)
{
    if (b->len + n < b->len || buf_reserve(b, n) != 0) {
        b->failed = 1;
        return -1;
    }
    if (n)
        memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int mb_buf_add_str(struct mb_buf *b, const char *s)
{
    return mb_buf_add(b, s, strlen(s));
}

void mb_buf_clear(struct mb_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *mb_buf_take(struct mb_buf *b)
{
    if (!b->failed && !b->data)
        mb_buf_add(b, "", 0);
    char *text = b->failed ? NULL : b->data;
    if (!text)
        free(b->data);
    memset(b, 0, sizeof *b);
    return text;
}

void mb_buf_free(struct mb_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
