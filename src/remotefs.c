/* remotefs.c — the ftp and sftp storages' common part (see remotefs.h). */
#include "remotefs.h"

#include "fileio.h"

#include <stdlib.h>
#include <string.h>

int mb_remotefs_init(struct mb_remotefs *fs, const struct mb_config *cfg, struct mb_error *err)
{
    const char *kind = fs->ops->kind;
    const char *host = mb_config_get(cfg, "host");
    long long port = mb_config_get_int(cfg, "port", 0);
    if (!host || !*host) {
        mb_error_set(err, "%s: \"host\" is required", kind);
        return -1;
    }
    if (port < 1 || port > 65535) {
        mb_error_set(err, "%s %s: \"port\" is missing or out of range", kind, host);
        return -1;
    }
    if (mb_curl_conf_load(&fs->conf, cfg, err) != 0)
        return -1;
    char *url_host = mb_url_host(host);
    fs->where = mb_strdup_printf("%s:%lld", host, port);
    fs->url_base = url_host ? mb_strdup_printf("%s://%s:%lld", kind, url_host, port) : NULL;
    free(url_host);
    if (!fs->where || !fs->url_base) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    return 0;
}

struct mb_storage *mb_remotefs_open(const struct mb_remotefs_ops *ops, const struct mb_config *cfg,
                       struct mb_error *err)
{
    struct mb_remotefs *fs = calloc(1, ops->storage_size);
    if (!fs) {
        mb_error_set(err, "out of memory");
        return NULL;
    }
    fs->ops = ops;
    if (ops->read_options(fs, cfg, err) != 0) {
        mb_remotefs_free(&fs->handle);
        return NULL;
    }
    return &fs->handle;
}

void mb_remotefs_free(struct mb_storage *storage)
{
    struct mb_remotefs *fs = (struct mb_remotefs *)storage;
    if (fs->ops->free_own)
        fs->ops->free_own(fs);
    mb_curl_conf_free(&fs->conf);
    free(fs->where);
    free(fs->url_base);
    free(fs->root);
    free(fs);
}

char *mb_remotefs_path(struct mb_remotefs *fs, const char *name, struct mb_error *err)
{
    if (!mb_remote_name_is_safe(name)) {
        mb_error_set(err, "%s %s: refusing unsafe name \"%s\"", fs->ops->kind, fs->where, name);
        return NULL;
    }
    char *path = *fs->root ? mb_strdup_printf("%s/%s", fs->root, name) : strdup(name);
    if (!path)
        mb_error_set(err, "out of memory");
    return path;
}

int mb_remotefs_fail(struct mb_remotefs *fs, struct mb_curl_req *r, const char *what,
                     const char *path, struct mb_error *err)
{
    char why[CURL_ERROR_SIZE + 300];
    mb_curl_req_describe(r, why, sizeof why);
    mb_error_set(err, "%s %s: %s %s: %s", fs->ops->kind, fs->where, what,
                 *path ? path : "(login directory)", why);
    mb_curl_req_free(r);
    return -1;
}

/* Logs in (host key, TLS, credentials) without transferring anything. */
int mb_remotefs_check(void *storage, struct mb_error *err)
{
    struct mb_remotefs *fs = storage;
    struct mb_curl_req *r = fs->ops->request(fs, fs->ops->session_path, err);
    if (!r)
        return -1;
    curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
    if (mb_curl_req_perform(r, fs->conf.retries) != 0)
        return mb_remotefs_fail(fs, r, "cannot log in as", fs->conf.user ? fs->conf.user : "anonymous",
                                err);
    mb_curl_req_free(r);
    return 0;
}

/* One command (remove, rename) in a session of its own, before any change
 * of directory.  *out is the request, for the caller to describe and free. */
static int remotefs_command(struct mb_remotefs *fs, const char *command, int retries,
                            struct mb_curl_req **out, struct mb_error *err)
{
    struct mb_curl_req *r = fs->ops->request(fs, fs->ops->session_path, err);
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

/* The remove_command format is the adapter's: not a literal here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static char *remove_command(struct mb_remotefs *fs, const char *path)
{
    return mb_strdup_printf(fs->ops->remove_command, path);
}
#pragma GCC diagnostic pop

static void remotefs_discard(void *storage, const char *temp)
{
    struct mb_remotefs *fs = storage;
    char *command = remove_command(fs, temp);
    struct mb_curl_req *r = NULL;
    struct mb_error ignored = { { 0 } };
    if (command)
        remotefs_command(fs, command, 0, &r, &ignored); /* best effort: the server may be gone */
    mb_curl_req_free(r);
    free(command);
}

static const struct mb_remote_writer_ops remotefs_writer_ops = {
    .promote = NULL, /* the upload's post-quote renames */
    .discard = remotefs_discard,
};

/* The upload goes to a hidden temporary name next to the file's; the
 * adapter's post-quote renames it once the server has all of it. */
struct mb_writer *mb_remotefs_open_write(void *storage, const char *name, struct mb_error *err)
{
    struct mb_remotefs *fs = storage;
    char *path = mb_remotefs_path(fs, name, err);
    char *temp = path ? mb_remote_temp_name(path, 1) : NULL;
    char *label = temp ? mb_strdup_printf("%s %s: %s", fs->ops->kind, fs->where, path) : NULL;
    struct mb_curl_req *r = label ? fs->ops->request(fs, temp, err) : NULL;
    struct mb_writer *w = NULL;
    if (path && !label)
        mb_error_set(err, "out of memory");
    if (r && fs->ops->upload_options(fs, r, temp, path) != 0) {
        mb_curl_req_free(r);
        r = NULL;
        mb_error_set(err, "out of memory");
    }
    struct mb_curl_upload *u = r ? mb_curl_upload_new(r, fs->conf.retries, label, err) : NULL;
    if (u)
        w = mb_remote_writer_new(u, &remotefs_writer_ops, fs, temp, path, err);
    free(path);
    free(temp);
    free(label);
    return w;
}

struct mb_reader *mb_remotefs_open_read(void *storage, const char *name, struct mb_error *err)
{
    struct mb_remotefs *fs = storage;
    char *path = mb_remotefs_path(fs, name, err);
    char *label = path ? mb_strdup_printf("%s %s: %s", fs->ops->kind, fs->where, path) : NULL;
    struct mb_curl_req *r = label ? fs->ops->request(fs, path, err) : NULL;
    struct mb_reader *reader = r ? mb_curl_reader_open(r, label, err) : NULL;
    if (path && !label)
        mb_error_set(err, "out of memory");
    free(path);
    free(label);
    return reader;
}

/* Lists dir; its URL ends in '/', which makes libcurl list a directory
 * ("" stays "": FTP's login directory).  hidden: only the names that begin
 * with '.'; else only the others. */
static int list_dir(struct mb_remotefs *fs, const char *dir, CURLcode absent, const char *prefix,
                    int hidden, mb_list_fn each, void *ud, struct mb_error *err)
{
    size_t n = strlen(dir);
    char *dir_slash = mb_strdup_printf("%s%s", dir, n && dir[n - 1] != '/' ? "/" : "");
    struct mb_curl_req *r = dir_slash ? fs->ops->request(fs, dir_slash, err) : NULL;
    if (!dir_slash)
        mb_error_set(err, "out of memory");
    free(dir_slash);
    if (!r)
        return -1;
    mb_curl_req_collect(r, MB_LISTING_MAX);
    if (hidden && fs->ops->list_hidden_command)
        curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, fs->ops->list_hidden_command);
    if (mb_curl_req_perform(r, fs->conf.retries) != 0) {
        if (r->code != absent)
            return mb_remotefs_fail(fs, r, "cannot list", dir, err);
        mb_curl_req_free(r); /* nothing stored there yet */
        return 0;
    }
    int rc = r->body.data ? mb_list_ls_body(r->body.data, prefix, hidden, each, ud, err) : 0;
    mb_curl_req_free(r);
    return rc;
}

/* The visible files of prefix, or (hidden) its hidden ones. */
static int remotefs_scan(struct mb_remotefs *fs, const char *prefix, int hidden, mb_list_fn each,
                         void *ud, struct mb_error *err)
{
    char *dir = *prefix ? mb_remotefs_path(fs, prefix, err) : strdup(fs->root);
    if (!dir && !*prefix)
        mb_error_set(err, "out of memory");
    CURLcode absent = !*prefix && fs->ops->root_must_exist ? CURL_LAST : fs->ops->missing_dir;
    int rc = dir ? list_dir(fs, dir, absent, prefix, hidden, each, ud, err) : -1;
    free(dir);
    return rc;
}

int mb_remotefs_list(void *storage, const char *prefix, mb_list_fn each, void *ud,
                     struct mb_error *err)
{
    return remotefs_scan(storage, prefix, 0, each, ud, err);
}

/* The temporary names that uploads cut short left (a kill -9, a dead link). */
int mb_remotefs_list_incomplete(void *storage, const char *prefix, mb_incomplete_fn each,
                                void *ud, struct mb_error *err)
{
    struct mb_temp_names t = { each, ud };
    return remotefs_scan(storage, prefix, 1, mb_temp_names_each, &t, err);
}

int mb_remotefs_remove(void *storage, const char *name, struct mb_error *err)
{
    struct mb_remotefs *fs = storage;
    char *path = mb_remotefs_path(fs, name, err);
    char *command = path ? remove_command(fs, path) : NULL;
    struct mb_curl_req *r = NULL;
    int rc = -1;
    if (path && !command)
        mb_error_set(err, "out of memory");
    if (command) {
        rc = remotefs_command(fs, command, fs->conf.retries, &r, err);
        if (rc != 0 && r)
            mb_remotefs_fail(fs, r, "cannot remove", path, err); /* frees r */
        else
            mb_curl_req_free(r);
    }
    free(command);
    free(path);
    return rc;
}
