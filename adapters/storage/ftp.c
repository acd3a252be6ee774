/* ftp.c — storage on an FTP server, plain or with explicit TLS (FTPS,
 * "AUTH TLS" on the usual port), through libcurl.
 *
 * Options: host, port (21), user, password, path (relative to the login
 * directory, or absolute), tls (true: TLS for commands and data, required;
 * the server's certificate is verified, ca_file names a CA bundle,
 * insecure_tls turns verification off), timeout, retries.
 *
 * An upload goes to a hidden temporary name and is renamed (RNFR/RNTO) by
 * post-quote commands on the same session once the server has the whole
 * file; missing directories are created (MKD) on the way. */
#include "adapters.h"
#include "curlxfer.h"

#include <stdlib.h>
#include <string.h>

struct ftp_storage {
    int refs; /* the storage handle and each open writer; one thread at a time */
    struct mb_curl_conf conf;
    int tls;
    char *where;    /* "host:port", for messages */
    char *url_base; /* "ftp://host:port" */
    char *root;     /* "", "backups" or "/srv/backups" (no trailing '/') */
};

static void ftp_release(void *storage)
{
    struct ftp_storage *s = storage;
    if (!s || --s->refs > 0)
        return;
    mb_curl_conf_free(&s->conf);
    free(s->where);
    free(s->url_base);
    free(s->root);
    free(s);
}

static int ftp_read_options(struct ftp_storage *s, const struct mb_config *cfg, struct mb_error *err)
{
    const char *host = mb_config_get(cfg, "host");
    const char *path = mb_config_get(cfg, "path");
    const char *tls = mb_config_get(cfg, "tls");
    long long port = mb_config_get_int(cfg, "port", 21);
    if (!host || !*host) {
        mb_error_set(err, "ftp: \"host\" is required");
        return -1;
    }
    if (mb_curl_conf_load(&s->conf, cfg, err) != 0)
        return -1;
    s->tls = tls && strcmp(tls, "true") == 0;
    char *url_host = mb_url_host(host);
    s->where = mb_strdup_printf("%s:%lld", host, port);
    s->url_base = url_host ? mb_strdup_printf("ftp://%s:%lld", url_host, port) : NULL;
    free(url_host);
    path = path ? path : "";
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    s->root = mb_strdup_printf("%.*s", (int)n, path);
    if (!s->where || !s->url_base || !s->root) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    return 0;
}

static void *ftp_open(const struct mb_config *cfg, struct mb_error *err)
{
    struct ftp_storage *s = calloc(1, sizeof *s);
    if (!s) {
        mb_error_set(err, "out of memory");
        return NULL;
    }
    s->refs = 1;
    if (ftp_read_options(s, cfg, err) != 0) {
        ftp_release(s);
        return NULL;
    }
    return s;
}

static void ftp_close(void *storage)
{
    ftp_release(storage);
}

/* A request on an FTP path (relative to the login directory, or absolute:
 * libcurl spells an absolute path "/%2F..."). */
static struct mb_curl_req *ftp_request(struct ftp_storage *s, const char *path, struct mb_error *err)
{
    int absolute = path[0] == '/';
    char *escaped = mb_url_escape_path(absolute ? path + 1 : path);
    char *url = escaped ? mb_strdup_printf("%s/%s%s", s->url_base, absolute ? "%2F" : "", escaped)
                        : NULL;
    free(escaped);
    if (!url) {
        mb_error_set(err, "out of memory");
        return NULL;
    }
    struct mb_curl_req *r = mb_curl_req_new(&s->conf, url, err);
    free(url);
    if (!r)
        return NULL;
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "ftp");
    if (s->tls)
        curl_easy_setopt(r->easy, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    return r;
}

static char *ftp_path(struct ftp_storage *s, const char *name, struct mb_error *err)
{
    if (!mb_remote_name_is_safe(name)) {
        mb_error_set(err, "ftp %s: refusing unsafe name \"%s\"", s->where, name);
        return NULL;
    }
    char *path = *s->root ? mb_strdup_printf("%s/%s", s->root, name) : strdup(name);
    if (!path)
        mb_error_set(err, "out of memory");
    return path;
}

static int ftp_fail(struct ftp_storage *s, struct mb_curl_req *r, const char *what,
                    const char *path, struct mb_error *err)
{
    char why[CURL_ERROR_SIZE + 300];
    mb_curl_req_describe(r, why, sizeof why);
    mb_error_set(err, "ftp %s: %s %s: %s", s->where, what, *path ? path : "(login directory)", why);
    mb_curl_req_free(r);
    return -1;
}

/* Logs in (and negotiates TLS) without transferring anything. */
static int ftp_check(void *storage, struct mb_error *err)
{
    struct ftp_storage *s = storage;
    struct mb_curl_req *r = ftp_request(s, "", err);
    if (!r)
        return -1;
    curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
    if (mb_curl_req_perform(r, s->conf.retries) != 0)
        return ftp_fail(s, r, "cannot log in as", s->conf.user ? s->conf.user : "anonymous", err);
    mb_curl_req_free(r);
    return 0;
}

/* One command (DELE) from the login directory, before any CWD. */
static int ftp_command(struct ftp_storage *s, const char *command, int retries,
                       struct mb_curl_req **out, struct mb_error *err)
{
    struct mb_curl_req *r = ftp_request(s, "", err);
    if (!r)
        return -1;
    curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
    if (mb_curl_req_quote(r, CURLOPT_QUOTE, command) != 0) {
        mb_curl_req_free(r);
        mb_error_set(err, "out of memory");
        return -1;
    }
    *out = r;
    return mb_curl_req_perform(r, retries);
}

static void ftp_discard(void *storage, const char *temp)
{
    struct ftp_storage *s = storage;
    char *command = mb_strdup_printf("DELE %s", temp);
    struct mb_curl_req *r = NULL;
    struct mb_error ignored = { { 0 } };
    if (command)
        ftp_command(s, command, 0, &r, &ignored); /* best effort: the server may be gone */
    mb_curl_req_free(r);
    free(command);
}

static const struct mb_remote_writer_ops ftp_writer_ops = {
    .promote = NULL, /* the upload's post-quote renames */
    .discard = ftp_discard,
    .release = ftp_release,
};

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* After STOR, libcurl's working directory is the file's (it changes into
 * each directory in turn, creating what is missing), so RNFR/RNTO take
 * bare names. */
static int ftp_add_rename(struct mb_curl_req *r, const char *temp, const char *path)
{
    char *from = mb_strdup_printf("RNFR %s", base_name(temp));
    char *to = mb_strdup_printf("RNTO %s", base_name(path));
    int rc = from && to && mb_curl_req_quote(r, CURLOPT_POSTQUOTE, from) == 0
                     && mb_curl_req_quote(r, CURLOPT_POSTQUOTE, to) == 0
                 ? 0
                 : -1;
    free(from);
    free(to);
    return rc;
}

static struct mb_writer *ftp_open_write(void *storage, const char *name, struct mb_error *err)
{
    struct ftp_storage *s = storage;
    char *path = ftp_path(s, name, err);
    char *temp = path ? mb_remote_temp_name(path) : NULL;
    char *label = temp ? mb_strdup_printf("ftp %s: %s", s->where, path) : NULL;
    struct mb_curl_req *r = label ? ftp_request(s, temp, err) : NULL;
    struct mb_writer *w = NULL;
    if (path && !label)
        mb_error_set(err, "out of memory");
    if (r && ftp_add_rename(r, temp, path) != 0) {
        mb_curl_req_free(r);
        r = NULL;
        mb_error_set(err, "out of memory");
    }
    if (r) {
        curl_easy_setopt(r->easy, CURLOPT_FTP_CREATE_MISSING_DIRS, (long)CURLFTP_CREATE_DIR_RETRY);
        struct mb_curl_upload *u = mb_curl_upload_new(r, s->conf.retries, label, err);
        if (u) {
            s->refs++; /* the writer's, dropped by its close */
            w = mb_remote_writer_new(u, &ftp_writer_ops, s, temp, path, err);
        }
    }
    free(path);
    free(temp);
    free(label);
    return w;
}

static struct mb_reader *ftp_open_read(void *storage, const char *name, struct mb_error *err)
{
    struct ftp_storage *s = storage;
    char *path = ftp_path(s, name, err);
    char *label = path ? mb_strdup_printf("ftp %s: %s", s->where, path) : NULL;
    struct mb_curl_req *r = label ? ftp_request(s, path, err) : NULL;
    struct mb_reader *reader = r ? mb_curl_reader_open(r, label, err) : NULL;
    if (path && !label)
        mb_error_set(err, "out of memory");
    free(path);
    free(label);
    return reader;
}

#define LISTING_MAX (64u << 20)

static int ftp_list(void *storage, const char *prefix, mb_list_fn each, void *ud,
                    struct mb_error *err)
{
    struct ftp_storage *s = storage;
    char *dir = *prefix ? ftp_path(s, prefix, err) : strdup(s->root);
    size_t n = dir ? strlen(dir) : 0;
    char *dir_slash = dir ? mb_strdup_printf("%s%s", dir, n && dir[n - 1] != '/' ? "/" : "") : NULL;
    struct mb_curl_req *r = dir_slash ? ftp_request(s, dir_slash, err) : NULL;
    free(dir_slash);
    int rc = -1;
    if (r) {
        mb_curl_req_collect(r, LISTING_MAX);
        if (mb_curl_req_perform(r, s->conf.retries) == 0) {
            rc = r->body ? mb_list_ls_body(r->body, prefix, each, ud, err) : 0;
            mb_curl_req_free(r);
        } else if (r->code == CURLE_REMOTE_ACCESS_DENIED && *prefix) {
            rc = 0; /* CWD refused: the directory does not exist yet (the login worked) */
            mb_curl_req_free(r);
        } else {
            rc = ftp_fail(s, r, "cannot list", dir, err);
        }
    }
    free(dir);
    return rc;
}

static int ftp_remove(void *storage, const char *name, struct mb_error *err)
{
    struct ftp_storage *s = storage;
    char *path = ftp_path(s, name, err);
    char *command = path ? mb_strdup_printf("DELE %s", path) : NULL;
    struct mb_curl_req *r = NULL;
    int rc = -1;
    if (path && !command)
        mb_error_set(err, "out of memory");
    if (command) {
        rc = ftp_command(s, command, s->conf.retries, &r, err);
        if (rc != 0 && r)
            ftp_fail(s, r, "cannot remove", path, err); /* frees r */
        else
            mb_curl_req_free(r);
    }
    free(command);
    free(path);
    return rc;
}

const struct mb_storage_ops mb_storage_ftp = {
    .version = MB_STORAGE_OPS_VERSION,
    .type = "ftp",
    .open = ftp_open,
    .close = ftp_close,
    .check = ftp_check,
    .open_write = ftp_open_write,
    .open_read = ftp_open_read,
    .list = ftp_list,
    .remove = ftp_remove,
};
