/* buf.h — the one growable byte buffer: response bodies, signed strings,
 * age headers.  Not for the byte path, whose blocks never grow.
 *
 * The bytes stay NUL-terminated after every add, so text can be read as a
 * string.  A failed allocation is sticky (failed): the caller checks once
 * at the end.  Zero-initialised is empty: struct mb_buf b = { 0 }. */
#ifndef MB_BUF_H
#define MB_BUF_H

#include <stddef.h>

struct mb_buf {
    char *data; /* malloc'd; NULL until the first add */
    size_t len, cap;
    int failed; /* an allocation failed: data holds what came before */
};

/* Appends n bytes; 0, or -1 (and failed set) when out of memory. */
int mb_buf_add(struct mb_buf *b, const void *bytes, size_t n);
int mb_buf_add_str(struct mb_buf *b, const char *s);
/* Empties it, keeping the memory. */
void mb_buf_clear(struct mb_buf *b);
/* Hands the text over (the caller frees it; "" when nothing was added) and
 * empties b; NULL when an allocation had failed. */
char *mb_buf_take(struct mb_buf *b);
void mb_buf_free(struct mb_buf *b);

#endif
