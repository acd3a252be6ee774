/* fuzz_s3.c — the reading of S3 ListObjectsV2 answers (adapters/storage/s3.c:
 * list_page; src/s3client.c: s3_xml_block, s3_xml_next and the entity
 * decoder behind them), on any bytes, as the body a server sent; and the
 * other elements moonbak reads from S3 bodies (an error's Code and Message,
 * a multipart upload's UploadId).
 *
 * list_page is static, so the adapter's file is included whole (as in
 * fuzz_webdav.c; libmoonbak.a's s3.o is then never linked). */
#include "../../adapters/storage/s3.c"

#define FUZZ_PREFIX "moonbak/"

/* The storage's prefix is taken off every name; a name never holds a NUL. */
static int check_entry(void *ud, const char *name, uint64_t size, struct mb_error *err)
{
    (void)ud;
    (void)size;
    (void)err;
    if (strlen(name) > (size_t)1 << 30)
        abort();
    return 0;
}

static void read_element(const char *body, size_t len, const char *tag)
{
    const char *pos = body;
    char *text = s3_xml_next(&pos, body + len, tag);
    if (text && (pos < body || pos > body + len))
        abort();
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* As s3_perform leaves it: NUL-terminated, NULL when empty. */
    struct s3_response resp = { 0 };
    if (size) {
        if (!(resp.body = malloc(size + 1)))
            return 0;
        memcpy(resp.body, data, size);
        resp.body[size] = '\0';
        resp.len = size;
    }
    struct s3_storage s = { 0 };
    s.client.prefix = FUZZ_PREFIX;
    s.client.bucket = "fuzz";
    struct mb_error err = { { 0 } };
    char *token = NULL;
    if (list_page(&s, &resp, check_entry, NULL, &token, &err) != 0 && !err.msg[0])
        abort(); /* a refused page must say why */
    free(token);
    if (resp.body) {
        read_element(resp.body, resp.len, "Code");
        read_element(resp.body, resp.len, "Message");
        read_element(resp.body, resp.len, "UploadId");
    }
    free(resp.body);
    return 0;
}
