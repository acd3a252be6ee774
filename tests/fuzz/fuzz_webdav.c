/* fuzz_webdav.c — the parser of WebDAV PROPFIND (Depth: 1) answers
 * (adapters/storage/webdav.c: dav_parse, dav_emit, dav_entry_name), on any
 * bytes, as the body a server sent.
 *
 * The parser is static, so the adapter's file is included whole: the
 * harness links against libmoonbak.a, whose webdav.o is then never pulled
 * in (this file defines the one symbol it would bring, mb_storage_webdav).
 *
 * What every listed entry must be: a name that is not empty, hidden, or a
 * path (the listing hands names to retention, which deletes them), with the
 * listing's prefix in front. */
#include "../../adapters/storage/webdav.c"

#define FUZZ_PREFIX "job/"

static int check_entry(void *ud, const char *name, uint64_t size, struct mb_error *err)
{
    const char *base = name + strlen(FUZZ_PREFIX);
    (void)ud;
    (void)size;
    (void)err;
    if (strncmp(name, FUZZ_PREFIX, strlen(FUZZ_PREFIX)) != 0 || !*base || base[0] == '.'
        || strchr(base, '/'))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A curl body: the bytes received, then a NUL (they may hold NULs too). */
    char *body = malloc(size + 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    struct dav_listing l = { FUZZ_PREFIX, 0, check_entry, NULL };
    struct mb_error err = { { 0 } };
    if (dav_parse(body, &l, &err) != 0 && !err.msg[0])
        abort(); /* a refused answer must say why */
    free(body);
    return 0;
}
