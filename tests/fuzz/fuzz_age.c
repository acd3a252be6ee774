/* fuzz_age.c — the age decryptor's header parser (src/age.c: dec_header,
 * hdr_line and the stanza/MAC checks behind it), on any bytes.
 *
 * The input is an age file.  It is decrypted twice, once written whole and
 * once in small pieces whose size comes from the input's length: the parser
 * keeps state between writes, so both must agree on success or failure and
 * on every plaintext byte, whatever the cut.  The decryptor holds the
 * identity the seeds (tests/fuzz/corpus/age) were encrypted to, so mutants
 * of a real file reach the MAC check and the payload.
 *
 * A passphrase is given only when every scrypt stanza of the input asks for
 * a work factor of at most 10: the decryptor accepts up to 2^22 (4 GiB of
 * memory), which is what the real tool allows, not a bug to report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "age.h"

/* The key pair of the seeds; never used for anything else. */
static const char identity[] =
    "AGE-SECRET-KEY-1LTQRFSHPKAVZS5XAHMY0HK723PCU49J22E5G03KVS3GQ9JDPW4AQKVAY67";
static const char passphrase[] = "moonbak fuzz";

#define FUZZ_MAX_SCRYPT_WORK_FACTOR 10

struct out {
    uint8_t *p;
    size_t len, cap;
};

static int collect(void *ud, const uint8_t *data, size_t len, struct mb_error *err)
{
    struct out *o = ud;
    if (o->len + len > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + len)
            cap *= 2;
        uint8_t *p = realloc(o->p, cap);
        if (!p) {
            mb_error_set(err, "fuzz: out of memory");
            return -1;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, data, len);
    o->len += len;
    return 0;
}

/* The last space-separated word of each "-> scrypt" line must be a small
 * decimal number; anything else keeps the passphrase out. */
static int scrypt_is_cheap(const uint8_t *data, size_t size)
{
    static const char stanza[] = "-> scrypt";
    const uint8_t *line = data, *end = data + size;
    while (line < end) {
        const uint8_t *nl = memchr(line, '\n', (size_t)(end - line));
        const uint8_t *stop = nl ? nl : end;
        if ((size_t)(stop - line) >= sizeof stanza - 1
            && memcmp(line, stanza, sizeof stanza - 1) == 0) {
            const uint8_t *w = stop;
            while (w > line && w[-1] != ' ')
                w--;
            int wf = 0;
            if (w == stop || stop - w > 2)
                return 0;
            for (; w < stop; w++) {
                if (*w < '0' || *w > '9')
                    return 0;
                wf = wf * 10 + (*w - '0');
            }
            if (wf > FUZZ_MAX_SCRYPT_WORK_FACTOR)
                return 0;
        }
        line = stop + 1;
    }
    return 1;
}

/* Decrypts data written in pieces of piece bytes (0: whole); returns 0 on
 * success, -1 on a refused file; out gets the plaintext. */
static int decrypt(const uint8_t *data, size_t size, size_t piece, int with_pass,
                   struct out *out)
{
    const char *ids[] = { identity };
    struct mb_error err = { { 0 } };
    struct mb_transform *t = mb_age_decrypt_new(ids, 1, with_pass ? passphrase : NULL, &err);
    if (!t)
        abort(); /* fixed, valid arguments */
    t->emit = collect;
    t->emit_ud = out;
    int rc = 0;
    for (size_t off = 0; rc == 0 && off < size;) {
        size_t n = piece && piece < size - off ? piece : size - off;
        rc = t->ops->write(t, data + off, n, &err);
        off += n;
    }
    if (rc == 0)
        rc = t->ops->finish(t, &err);
    if (rc != 0 && !err.msg[0])
        abort(); /* every failure must say why */
    t->ops->destroy(t);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct out whole = { 0 }, pieces = { 0 };
    int with_pass = scrypt_is_cheap(data, size);
    int rc_whole = decrypt(data, size, 0, with_pass, &whole);
    int rc_pieces = decrypt(data, size, 1 + size % 7, with_pass, &pieces);

    if (rc_whole != rc_pieces)
        abort();
    if (rc_whole == 0
        && (whole.len != pieces.len || (whole.len && memcmp(whole.p, pieces.p, whole.len) != 0)))
        abort();
    free(whole.p);
    free(pieces.p);
    return 0;
}
