/* s3.c — storage in an S3-compatible bucket (AWS, MinIO, Ceph, Garage...).
 *
 * Writes are multipart uploads: the stream is cut into parts of part_size
 * bytes; while one part goes up on the writer's upload thread the next one
 * fills, so a writer holds at most 2 x part_size bytes (2 x 16 MiB by
 * default) and keeps at most one part in flight.  The object appears only
 * when CompleteMultipartUpload succeeds at commit; abort (or close without
 * commit) sends AbortMultipartUpload.  Something smaller than one part goes
 * up as one PUT at commit, which is atomic too.  Requests, signing and
 * retries live in src/s3client.c. */
#include "adapters.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3client.h"

#define MIB (1024u * 1024u)
#define PART_SIZE_MIN (5 * MIB)          /* S3's minimum for every part but the last */
#define PART_SIZE_MAX (5120ull * MIB)    /* and its maximum */
#define PARTS_MAX 10000                  /* S3's limit per upload */
#define FIRST_BUFFER (64u * 1024u)       /* small objects (sidecars) stay small */

struct s3_storage {
    struct mb_storage handle; /* first: the core counts who holds the storage */
    struct s3_client client;
    size_t part_size;
    int list_max_keys; /* 0: the server's default page (MOONBAK_S3_LIST_MAX_KEYS for tests) */
};

static struct mb_storage *s3_open(const struct mb_config *cfg, struct mb_error *err)
{
    struct s3_storage *s = calloc(1, sizeof *s);
    if (!s) {
        mb_error_set(err, "out of memory");
        return NULL;
    }
    /* The engine gives the schema's default when the job does not. */
    long long part = mb_config_get_int(cfg, "part_size", 0);
    if (part < PART_SIZE_MIN || (unsigned long long)part > PART_SIZE_MAX) {
        mb_error_set(err, "s3: part_size must be from %u (5 MiB, S3's minimum) to %llu (5 GiB), "
                          "got %lld", PART_SIZE_MIN, PART_SIZE_MAX, part);
        free(s);
        return NULL;
    }
    if (s3_client_init(&s->client, cfg, err) != 0) {
        free(s);
        return NULL;
    }
    s->part_size = (size_t)part;
    const char *page = getenv("MOONBAK_S3_LIST_MAX_KEYS");
    s->list_max_keys = page ? atoi(page) : 0;
    return &s->handle;
}

static void s3_free(struct mb_storage *storage)
{
    struct s3_storage *s = (struct s3_storage *)storage;
    s3_client_free(&s->client);
    free(s);
}

static char *full_key(struct s3_storage *s, const char *name, struct mb_error *err)
{
    if (!name || !*name || name[0] == '/') {
        mb_error_set(err, "s3 %s: refusing the object name \"%s\"", s->client.bucket,
                     name ? name : "");
        return NULL;
    }
    char *key = mb_strdup_printf("%s%s", s->client.prefix, name);
    if (!key)
        mb_error_set(err, "out of memory");
    return key;
}

/* A cheap request that needs the bucket, the credentials and list rights. */
static int s3_check(void *storage, struct mb_error *err)
{
    struct s3_storage *s = storage;
    const char *query[] = { "list-type", "2", "max-keys", "1", "prefix", s->client.prefix };
    char what[300];
    snprintf(what, sizeof what, "listing bucket %s", s->client.bucket);
    struct s3_request req = { "GET", NULL, query, 3, NULL, 0, NULL, what, NULL };
    struct s3_response resp;
    int rc = s3_perform(&s->client, &req, &resp, err);
    s3_response_free(&resp);
    return rc;
}

/* ---- list --------------------------------------------------------------- */

/* Calls each() for the <Contents> of one ListObjectsV2 page; names lose the
 * storage's prefix.  *token gets the next page's continuation token. */
static int list_page(struct s3_storage *s, const struct s3_response *resp, mb_list_fn each,
                     void *ud, char **token, struct mb_error *err)
{
    const char *end = resp->body ? resp->body + resp->len : NULL;
    const char *pos = resp->body, *a, *b;
    size_t plen = strlen(s->client.prefix);
    int rc = 0;
    while (rc == 0 && resp->body && s3_xml_block(&pos, end, "Contents", &a, &b)) {
        const char *p = a;
        char *key = s3_xml_next(&p, b, "Key");
        p = a;
        char *size = s3_xml_next(&p, b, "Size");
        if (key && size && strncmp(key, s->client.prefix, plen) == 0)
            rc = each(ud, key + plen, strtoull(size, NULL, 10), err);
        free(key);
        free(size);
    }
    pos = resp->body;
    char *truncated = resp->body ? s3_xml_next(&pos, end, "IsTruncated") : NULL;
    pos = resp->body;
    *token = truncated && strcmp(truncated, "true") == 0
                 ? s3_xml_next(&pos, end, "NextContinuationToken") : NULL;
    if (rc == 0 && truncated && strcmp(truncated, "true") == 0 && !*token) {
        mb_error_set(err, "s3 %s: a truncated listing without a continuation token",
                     s->client.bucket);
        rc = -1;
    }
    free(truncated);
    return rc;
}

/* ListObjectsV2 with a delimiter: the objects directly under prefix. */
static int s3_list(void *storage, const char *prefix, mb_list_fn each, void *ud,
                   struct mb_error *err)
{
    struct s3_storage *s = storage;
    char *full = mb_strdup_printf("%s%s", s->client.prefix, prefix);
    if (!full) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    char max_keys[16], what[300];
    snprintf(max_keys, sizeof max_keys, "%d", s->list_max_keys);
    snprintf(what, sizeof what, "listing bucket %s", s->client.bucket);
    char *token = NULL;
    int rc;
    do {
        const char *query[10];
        size_t n = 0;
        const char *pairs[][2] = { { "list-type", "2" }, { "delimiter", "/" }, { "prefix", full },
                                   { "continuation-token", token }, { "max-keys", max_keys } };
        for (size_t i = 0; i < 5; i++) {
            if ((i == 3 && !token) || (i == 4 && s->list_max_keys <= 0))
                continue;
            query[2 * n] = pairs[i][0];
            query[2 * n + 1] = pairs[i][1];
            n++;
        }
        struct s3_request req = { "GET", NULL, query, n, NULL, 0, NULL, what, NULL };
        struct s3_response resp;
        rc = s3_perform(&s->client, &req, &resp, err);
        free(token);
        token = NULL;
        if (rc == 0)
            rc = list_page(s, &resp, each, ud, &token, err);
        s3_response_free(&resp);
    } while (rc == 0 && token);
    free(token);
    free(full);
    return rc;
}

static int s3_remove(void *storage, const char *name, struct mb_error *err)
{
    struct s3_storage *s = storage;
    char *key = full_key(s, name, err);
    if (!key)
        return -1;
    struct s3_request req = { "DELETE", key, NULL, 0, NULL, 0, NULL, "removal of", NULL };
    struct s3_response resp;
    int rc = s3_perform(&s->client, &req, &resp, err);
    s3_response_free(&resp);
    free(key);
    return rc;
}

/* ---- incomplete multipart uploads ---------------------------------------- */

/* Calls each() for the <Upload>s of one ListMultipartUploads page; keys
 * lose the storage's prefix.  *key_marker and *id_marker get the next
 * page's markers (NULL: the last page). */
static int uploads_page(struct s3_storage *s, const struct s3_response *resp, mb_incomplete_fn each,
                        void *ud, char **key_marker, char **id_marker, struct mb_error *err)
{
    const char *end = resp->body ? resp->body + resp->len : NULL;
    const char *pos = resp->body, *a, *b;
    size_t plen = strlen(s->client.prefix);
    int rc = 0;
    while (rc == 0 && resp->body && s3_xml_block(&pos, end, "Upload", &a, &b)) {
        const char *p = a;
        char *key = s3_xml_next(&p, b, "Key");
        p = a;
        char *id = s3_xml_next(&p, b, "UploadId");
        if (key && id && strncmp(key, s->client.prefix, plen) == 0)
            rc = each(ud, key + plen, id, err);
        free(key);
        free(id);
    }
    pos = resp->body;
    char *truncated = resp->body ? s3_xml_next(&pos, end, "IsTruncated") : NULL;
    int more = truncated && strcmp(truncated, "true") == 0;
    free(truncated);
    pos = resp->body;
    *key_marker = more ? s3_xml_next(&pos, end, "NextKeyMarker") : NULL;
    pos = resp->body;
    *id_marker = more ? s3_xml_next(&pos, end, "NextUploadIdMarker") : NULL;
    if (rc == 0 && more && !*key_marker) {
        mb_error_set(err, "s3 %s: a truncated list of multipart uploads without a NextKeyMarker",
                     s->client.bucket);
        rc = -1;
    }
    return rc;
}

/* ListMultipartUploads with a delimiter: the uploads started directly
 * under prefix and neither completed nor aborted. */
static int s3_list_incomplete(void *storage, const char *prefix, mb_incomplete_fn each, void *ud,
                              struct mb_error *err)
{
    struct s3_storage *s = storage;
    char *full = mb_strdup_printf("%s%s", s->client.prefix, prefix);
    if (!full) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    char max_uploads[16], what[300];
    snprintf(max_uploads, sizeof max_uploads, "%d", s->list_max_keys);
    snprintf(what, sizeof what, "listing the multipart uploads of bucket %s", s->client.bucket);
    char *key_marker = NULL, *id_marker = NULL;
    int rc;
    do {
        const char *pairs[][2] = { { "uploads", NULL }, { "delimiter", "/" }, { "prefix", full },
                                   { "key-marker", key_marker }, { "upload-id-marker", id_marker },
                                   { "max-uploads", max_uploads } };
        const char *query[12];
        size_t n = 0;
        for (size_t i = 0; i < 6; i++) {
            if ((i == 3 && !key_marker) || (i == 4 && !id_marker) || (i == 5 && s->list_max_keys <= 0))
                continue;
            query[2 * n] = pairs[i][0];
            query[2 * n + 1] = pairs[i][1];
            n++;
        }
        struct s3_request req = { "GET", NULL, query, n, NULL, 0, NULL, what, NULL };
        struct s3_response resp;
        rc = s3_perform(&s->client, &req, &resp, err);
        free(key_marker);
        free(id_marker);
        key_marker = id_marker = NULL;
        if (rc == 0)
            rc = uploads_page(s, &resp, each, ud, &key_marker, &id_marker, err);
        s3_response_free(&resp);
    } while (rc == 0 && key_marker);
    free(key_marker);
    free(id_marker);
    free(full);
    return rc;
}

/* AbortMultipartUpload: the server drops the parts it holds.  An upload
 * id belongs to one key, so only artifact's upload can go. */
static int s3_remove_incomplete(void *storage, const char *artifact, const char *upload,
                                struct mb_error *err)
{
    struct s3_storage *s = storage;
    char *key = full_key(s, artifact, err);
    if (!key)
        return -1;
    const char *query[] = { "uploadId", upload };
    struct s3_request req = { "DELETE", key, query, 1, NULL, 0, NULL,
                              "abort of the multipart upload of", NULL };
    struct s3_response resp;
    int rc = s3_perform(&s->client, &req, &resp, err);
    s3_response_free(&resp);
    free(key);
    return rc;
}

static struct mb_reader *s3_open_read(void *storage, const char *name, struct mb_error *err)
{
    struct s3_storage *s = storage;
    char *key = full_key(s, name, err);
    if (!key)
        return NULL;
    struct mb_reader *r = s3_get_open(&s->client, key, err);
    free(key);
    return r;
}

/* ---- writer ------------------------------------------------------------- */

struct s3_writer {
    struct mb_writer base;
    struct s3_storage *s;
    char *key;
    unsigned char *fill;   /* the part being filled by write() */
    size_t fill_len, fill_cap;
    char *upload_id;       /* NULL until the first part is full */
    int parts_sent, committed, finished;
    atomic_int cancel;     /* stops the part in flight on abort */

    /* Shared with the upload thread, under mu. */
    pthread_t thread;
    int thread_running;
    pthread_mutex_t mu;
    pthread_cond_t changed;
    unsigned char *outgoing; /* the part in flight; owned by the thread while busy */
    size_t outgoing_len, outgoing_cap;
    int outgoing_number, busy, quit, failed;
    struct mb_error upload_err;
    char (*etags)[128];      /* etags[n - 1]: part n's ETag, for CompleteMultipartUpload */
};

static int put_part(struct s3_writer *w, int number, const void *data, size_t len,
                    struct mb_error *err)
{
    char num[16], what[64];
    snprintf(num, sizeof num, "%d", number);
    snprintf(what, sizeof what, "upload of part %d of", number);
    const char *query[] = { "partNumber", num, "uploadId", w->upload_id };
    struct s3_request req = { "PUT", w->key, query, 2, data, len, NULL, what, &w->cancel };
    struct s3_response resp;
    int rc = s3_perform(&w->s->client, &req, &resp, err);
    if (rc == 0 && !resp.etag[0]) {
        mb_error_set(err, "upload of part %d of %s: the server sent no ETag", number, w->key);
        rc = -1;
    }
    if (rc == 0)
        memcpy(w->etags[number - 1], resp.etag, sizeof resp.etag);
    s3_response_free(&resp);
    return rc;
}

static void *upload_thread(void *arg)
{
    struct s3_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->busy && !w->quit)
            pthread_cond_wait(&w->changed, &w->mu);
        if (!w->busy)
            break;
        pthread_mutex_unlock(&w->mu);
        struct mb_error err = { { 0 } };
        int rc = put_part(w, w->outgoing_number, w->outgoing, w->outgoing_len, &err);
        pthread_mutex_lock(&w->mu);
        if (rc != 0 && !w->failed) {
            w->failed = 1;
            w->upload_err = err;
        }
        w->busy = 0;
        pthread_cond_broadcast(&w->changed);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Waits for the part in flight; -1 (with its error) if any part failed. */
static int wait_idle(struct s3_writer *w, struct mb_error *err)
{
    pthread_mutex_lock(&w->mu);
    while (w->busy)
        pthread_cond_wait(&w->changed, &w->mu);
    int failed = w->failed;
    if (failed)
        mb_error_set(err, "%s", w->upload_err.msg);
    pthread_mutex_unlock(&w->mu);
    return failed ? -1 : 0;
}

static void stop_thread(struct s3_writer *w)
{
    if (!w->thread_running)
        return;
    pthread_mutex_lock(&w->mu);
    w->quit = 1;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    w->thread_running = 0;
}

/* CreateMultipartUpload, and the thread that sends the parts. */
static int start_multipart(struct s3_writer *w, struct mb_error *err)
{
    const char *query[] = { "uploads", NULL };
    struct s3_request req = { "POST", w->key, query, 1, NULL, 0, NULL,
                              "start of the multipart upload of", NULL };
    struct s3_response resp;
    int rc = s3_perform(&w->s->client, &req, &resp, err);
    const char *pos = resp.body;
    if (rc == 0 && (!resp.body || !(w->upload_id = s3_xml_next(&pos, resp.body + resp.len,
                                                                "UploadId")))) {
        mb_error_set(err, "start of the multipart upload of %s: no UploadId in the answer", w->key);
        rc = -1;
    }
    s3_response_free(&resp);
    w->etags = rc == 0 ? calloc(PARTS_MAX, sizeof *w->etags) : NULL;
    if (rc == 0 && !w->etags) {
        mb_error_set(err, "out of memory");
        rc = -1;
    }
    if (rc == 0 && pthread_create(&w->thread, NULL, upload_thread, w) != 0) {
        mb_error_set(err, "cannot start the upload thread of %s", w->key);
        rc = -1;
    }
    w->thread_running = rc == 0;
    return rc;
}

/* Gives the full fill buffer to the upload thread and takes its idle one. */
static int hand_off_part(struct s3_writer *w, struct mb_error *err)
{
    if (!w->upload_id && start_multipart(w, err) != 0)
        return -1;
    if (w->parts_sent == PARTS_MAX) {
        mb_error_set(err, "%s: more than %d parts; raise part_size", w->key, PARTS_MAX);
        return -1;
    }
    if (wait_idle(w, err) != 0)
        return -1;
    pthread_mutex_lock(&w->mu);
    unsigned char *spare = w->outgoing;
    size_t spare_cap = w->outgoing_cap;
    w->outgoing = w->fill;
    w->outgoing_cap = w->fill_cap;
    w->outgoing_len = w->fill_len;
    w->outgoing_number = ++w->parts_sent;
    w->busy = 1;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->mu);
    w->fill = spare;
    w->fill_cap = spare_cap;
    w->fill_len = 0;
    return 0;
}

static int grow_fill(struct s3_writer *w, size_t need, struct mb_error *err)
{
    size_t cap = w->fill_cap ? w->fill_cap : FIRST_BUFFER;
    while (cap < need)
        cap *= 2;
    if (cap > w->s->part_size)
        cap = w->s->part_size;
    unsigned char *p = realloc(w->fill, cap);
    if (!p) {
        mb_error_set(err, "out of memory for a part of %zu bytes", cap);
        return -1;
    }
    w->fill = p;
    w->fill_cap = cap;
    return 0;
}

static int s3_write(struct mb_writer *base, const void *buf, size_t len, struct mb_error *err)
{
    struct s3_writer *w = (struct s3_writer *)base;
    const unsigned char *p = buf;
    size_t part = w->s->part_size;
    while (len > 0) {
        size_t n = part - w->fill_len < len ? part - w->fill_len : len;
        if (w->fill_len + n > w->fill_cap && grow_fill(w, w->fill_len + n, err) != 0)
            return -1;
        memcpy(w->fill + w->fill_len, p, n);
        w->fill_len += n;
        p += n;
        len -= n;
        if (w->fill_len == part && hand_off_part(w, err) != 0)
            return -1;
    }
    return 0;
}

/* The body of CompleteMultipartUpload: every part's number and ETag. */
static char *completion_xml(struct s3_writer *w)
{
    char *xml = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&xml, &len);
    if (!f)
        return NULL;
    fputs("<CompleteMultipartUpload>", f);
    for (int i = 0; i < w->parts_sent; i++)
        fprintf(f, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i + 1, w->etags[i]);
    fputs("</CompleteMultipartUpload>", f);
    return fclose(f) == 0 ? xml : (free(xml), NULL);
}

static int complete_multipart(struct s3_writer *w, struct mb_error *err)
{
    char *xml = completion_xml(w);
    if (!xml) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    const char *query[] = { "uploadId", w->upload_id };
    struct s3_request req = { "POST", w->key, query, 1, xml, strlen(xml), "application/xml",
                              "completion of the multipart upload of", NULL };
    struct s3_response resp;
    int rc = s3_perform(&w->s->client, &req, &resp, err);
    /* S3 may answer 200 and still report an error in the body. */
    const char *pos = resp.body;
    char *code = rc == 0 && resp.body ? s3_xml_next(&pos, resp.body + resp.len, "Code") : NULL;
    if (code) {
        mb_error_set(err, "completion of the multipart upload of %s failed at %s: %s", w->key,
                     w->s->client.endpoint, code);
        rc = -1;
    }
    free(code);
    free(xml);
    s3_response_free(&resp);
    return rc;
}

static int put_whole(struct s3_writer *w, struct mb_error *err)
{
    struct s3_request req = { "PUT", w->key, NULL, 0, w->fill, w->fill_len, NULL, "upload of",
                              NULL };
    struct s3_response resp;
    int rc = s3_perform(&w->s->client, &req, &resp, err);
    s3_response_free(&resp);
    return rc;
}

static int s3_commit(struct mb_writer *base, struct mb_error *err)
{
    struct s3_writer *w = (struct s3_writer *)base;
    int rc;
    if (!w->upload_id) {
        rc = put_whole(w, err);
    } else {
        rc = w->fill_len ? hand_off_part(w, err) : 0;
        if (rc == 0)
            rc = wait_idle(w, err);
        stop_thread(w);
        if (rc == 0)
            rc = complete_multipart(w, err);
    }
    if (rc == 0)
        w->committed = w->finished = 1;
    return rc;
}

/* Stops the part in flight and asks the server to drop the parts it has.
 * Best effort: when the server is gone, its lifecycle rules clean up. */
static void s3_abort(struct mb_writer *base)
{
    struct s3_writer *w = (struct s3_writer *)base;
    if (w->finished)
        return;
    w->finished = 1;
    atomic_store(&w->cancel, 1);
    stop_thread(w);
    if (!w->upload_id || w->committed)
        return;
    const char *query[] = { "uploadId", w->upload_id };
    struct s3_request req = { "DELETE", w->key, query, 1, NULL, 0, NULL,
                              "abort of the multipart upload of", NULL };
    struct s3_response resp;
    struct mb_error ignored = { { 0 } };
    s3_perform(&w->s->client, &req, &resp, &ignored);
    s3_response_free(&resp);
}

static void s3_writer_close(struct mb_writer *base)
{
    struct s3_writer *w = (struct s3_writer *)base;
    if (!w)
        return;
    s3_abort(base);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->changed);
    free(w->fill);
    free(w->outgoing);
    free(w->etags);
    free(w->upload_id);
    free(w->key);
    free(w);
}

static struct mb_writer *s3_open_write(void *storage, const char *name, struct mb_error *err)
{
    struct s3_storage *s = storage;
    struct s3_writer *w = calloc(1, sizeof *w);
    if (!w) {
        mb_error_set(err, "out of memory");
        return NULL;
    }
    w->base = (struct mb_writer){ s3_write, s3_commit, s3_abort, s3_writer_close };
    w->s = s;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->changed, NULL);
    w->key = full_key(s, name, err);
    if (!w->key) {
        s3_writer_close(&w->base);
        return NULL;
    }
    return &w->base;
}

static const struct mb_option s3_options[] = {
    { "endpoint", MB_OPTION_STRING, 0, NULL, 0, .help = "scheme://host[:port] of the service (default: AWS, https://s3.REGION.amazonaws.com)" },
    { "region", MB_OPTION_STRING, 0, "us-east-1", 0, .help = "the region requests are signed for" },
    { "bucket", MB_OPTION_STRING, 1, NULL, 0, .help = "the bucket" },
    { "prefix", MB_OPTION_STRING, 0, NULL, 0, .help = "a folder in the bucket for the backups (\"db/\")" },
    { "access_key", MB_OPTION_STRING, 0, NULL, 0, .help = "the access key id (default: AWS_ACCESS_KEY_ID and the rest from the environment)" },
    { "secret_key", MB_OPTION_STRING, 0, NULL, 1, .help = "the secret access key" },
    { "path_style", MB_OPTION_BOOLEAN, 0, NULL, 0, .help = "the bucket in the path (default: in the host name on AWS, unless it has a dot; in the path elsewhere)" },
    { "part_size", MB_OPTION_INTEGER, 0, "16777216", 0, .help = "bytes of each part of an upload, 5 MiB to 5 GiB (a writer holds two)",
      MB_OPTION_RANGE(PART_SIZE_MIN, PART_SIZE_MAX,
                      "from 5242880 (5 MiB, S3's minimum part size) to 5368709120 (5 GiB, its maximum)") },
    { "retries", MB_OPTION_INTEGER, 0, "4", 0, .help = "extra attempts after a connection-level failure", MB_OPTION_COUNT },
    { "timeout", MB_OPTION_INTEGER, 0, "60", 0, .help = "seconds a transfer may stall before it fails", MB_OPTION_SECONDS },
    { NULL },
};

const struct mb_storage_ops mb_storage_s3 = {
    .version = MB_STORAGE_OPS_VERSION,
    .type = "s3",
    .open = s3_open,
    .free = s3_free,
    .check = s3_check,
    .open_write = s3_open_write,
    .open_read = s3_open_read,
    .list = s3_list,
    .remove = s3_remove,
    .list_incomplete = s3_list_incomplete,
    .remove_incomplete = s3_remove_incomplete,
    .options = s3_options,
};
