/* sftp.c — storage on an SSH server, through libcurl's SFTP (libssh2).
 *
 * Options: host, port (22), user, password and/or private_key (a path;
 * key_passphrase if the key is encrypted), path (absolute, or relative to
 * the user's home; default: the home), known_hosts (default
 * ~/.ssh/known_hosts), timeout, retries.  The server's host key must be in
 * known_hosts: an unknown or changed key is refused, never learnt.
 *
 * An upload goes to a hidden temporary name (".name.partial-XXXXXX") and is
 * renamed by a post-quote command on the same session, so the final name
 * only ever shows a complete file; listings skip hidden names. */
#include "adapters.h"
#include "curlxfer.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sftp_storage {
    int refs; /* the storage handle and each open writer; one thread at a time */
    struct mb_curl_conf conf;
    char *where;       /* "host:port", for messages */
    char *url_base;    /* "sftp://host:port" */
    char *root;        /* "/srv/backups" or "/~/backups" or "/~" */
    char *private_key, *public_key, *key_passphrase, *known_hosts;
};

static void sftp_release(void *storage)
{
    struct sftp_storage *s = storage;
    if (!s || --s->refs > 0)
        return;
    mb_curl_conf_free(&s->conf);
    free(s->where);
    free(s->url_base);
    free(s->root);
    free(s->private_key);
    free(s->public_key);
    if (s->key_passphrase)
        memset(s->key_passphrase, 0, strlen(s->key_passphrase));
    free(s->key_passphrase);
    free(s->known_hosts);
    free(s);
}

static char *default_known_hosts(void)
{
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : "/";
    }
    return mb_strdup_printf("%s/.ssh/known_hosts", home);
}

/* Absolute paths stay; others are relative to the login's home ("/~/"). */
static char *sftp_root(const char *path)
{
    if (!path || !*path)
        return strdup("/~");
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    if (path[0] == '/')
        return mb_strdup_printf("%.*s", (int)n, path);
    return mb_strdup_printf("/~/%.*s", (int)n, path);
}

/* The public key: next to the private one, or derived by libssh2 from the
 * private key when there is no .pub file (an empty string asks for that). */
static char *public_key_for(const char *private_key)
{
    char *pub = mb_strdup_printf("%s.pub", private_key);
    if (pub && access(pub, R_OK) != 0) {
        free(pub);
        pub = strdup("");
    }
    return pub;
}

static int sftp_read_options(struct sftp_storage *s, const struct mb_config *cfg, struct mb_error *err)
{
    const char *host = mb_config_get(cfg, "host");
    const char *key = mb_config_get(cfg, "private_key");
    const char *phrase = mb_config_get(cfg, "key_passphrase");
    const char *known = mb_config_get(cfg, "known_hosts");
    long long port = mb_config_get_int(cfg, "port", 22);
    if (!host || !*host) {
        mb_error_set(err, "sftp: \"host\" is required");
        return -1;
    }
    if (mb_curl_conf_load(&s->conf, cfg, err) != 0)
        return -1;
    if (!s->conf.user) {
        mb_error_set(err, "sftp %s: \"user\" is required", host);
        return -1;
    }
    if (!s->conf.password && !(key && *key)) {
        mb_error_set(err, "sftp %s: give \"password\" or \"private_key\"", host);
        return -1;
    }
    char *url_host = mb_url_host(host);
    s->where = mb_strdup_printf("%s:%lld", host, port);
    s->url_base = url_host ? mb_strdup_printf("sftp://%s:%lld", url_host, port) : NULL;
    free(url_host);
    s->root = sftp_root(mb_config_get(cfg, "path"));
    s->known_hosts = known && *known ? strdup(known) : default_known_hosts();
    if (key && *key) {
        s->private_key = strdup(key);
        s->public_key = public_key_for(key);
    }
    s->key_passphrase = phrase && *phrase ? strdup(phrase) : NULL;
    if (!s->where || !s->url_base || !s->root || !s->known_hosts
        || (key && *key && (!s->private_key || !s->public_key))
        || (phrase && *phrase && !s->key_passphrase)) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    return 0;
}

static void *sftp_open(const struct mb_config *cfg, struct mb_error *err)
{
    struct sftp_storage *s = calloc(1, sizeof *s);
    if (!s) {
        mb_error_set(err, "out of memory");
        return NULL;
    }
    s->refs = 1;
    if (sftp_read_options(s, cfg, err) != 0) {
        sftp_release(s);
        return NULL;
    }
    return s;
}

static void sftp_close(void *storage)
{
    sftp_release(storage);
}

/* Accepts only a host key that known_hosts lists for this host and port;
 * says why otherwise, in words an operator can act on. */
static int sftp_check_host_key(CURL *easy, const struct curl_khkey *known,
                               const struct curl_khkey *found, enum curl_khmatch match, void *ud)
{
    (void)easy;
    (void)known;
    (void)found;
    struct mb_curl_req *r = ud;
    if (match == CURLKHMATCH_OK)
        return CURLKHSTAT_FINE;
    snprintf(r->note, sizeof r->note, "%s",
             match == CURLKHMATCH_MISMATCH
                 ? "the server's host key does not match known_hosts (refused: the key changed, "
                   "or someone is in between)"
                 : "the server's host key is not in known_hosts (refused; add it, for example "
                   "with ssh-keyscan)");
    return CURLKHSTAT_REJECT;
}

/* A request on path (already a full remote path), with SSH auth and
 * host-key checking set. */
static struct mb_curl_req *sftp_request(struct sftp_storage *s, const char *path, struct mb_error *err)
{
    char *escaped = mb_url_escape_path(path);
    char *url = escaped ? mb_strdup_printf("%s%s", s->url_base, escaped) : NULL;
    free(escaped);
    if (!url) {
        mb_error_set(err, "out of memory");
        return NULL;
    }
    struct mb_curl_req *r = mb_curl_req_new(&s->conf, url, err);
    free(url);
    if (!r)
        return NULL;
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "sftp");
    long auth = 0;
    if (s->conf.password)
        auth |= CURLSSH_AUTH_PASSWORD | CURLSSH_AUTH_KEYBOARD;
    if (s->private_key) {
        auth |= CURLSSH_AUTH_PUBLICKEY;
        curl_easy_setopt(e, CURLOPT_SSH_PRIVATE_KEYFILE, s->private_key);
        curl_easy_setopt(e, CURLOPT_SSH_PUBLIC_KEYFILE, s->public_key);
        if (s->key_passphrase)
            curl_easy_setopt(e, CURLOPT_KEYPASSWD, s->key_passphrase);
    }
    curl_easy_setopt(e, CURLOPT_SSH_AUTH_TYPES, auth);
    curl_easy_setopt(e, CURLOPT_SSH_KNOWNHOSTS, s->known_hosts);
    curl_easy_setopt(e, CURLOPT_SSH_KEYFUNCTION, sftp_check_host_key);
    curl_easy_setopt(e, CURLOPT_SSH_KEYDATA, r);
    return r;
}

static char *sftp_path(struct sftp_storage *s, const char *name, struct mb_error *err)
{
    if (!mb_remote_name_is_safe(name)) {
        mb_error_set(err, "sftp %s: refusing unsafe name \"%s\"", s->where, name);
        return NULL;
    }
    char *path = mb_strdup_printf("%s/%s", s->root, name);
    if (!path)
        mb_error_set(err, "out of memory");
    return path;
}

static int sftp_fail(struct sftp_storage *s, struct mb_curl_req *r, const char *what,
                     const char *path, struct mb_error *err)
{
    char why[CURL_ERROR_SIZE + 300];
    mb_curl_req_describe(r, why, sizeof why);
    mb_error_set(err, "sftp %s: %s %s: %s", s->where, what, path, why);
    mb_curl_req_free(r);
    return -1;
}

/* Logs in (host key, credentials) without transferring anything. */
static int sftp_check(void *storage, struct mb_error *err)
{
    struct sftp_storage *s = storage;
    struct mb_curl_req *r = sftp_request(s, "/", err);
    if (!r)
        return -1;
    curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
    if (mb_curl_req_perform(r, s->conf.retries) != 0)
        return sftp_fail(s, r, "cannot log in as", s->conf.user, err);
    mb_curl_req_free(r);
    return 0;
}

/* One command (rm, rename) in a session of its own; retried. */
static int sftp_command(struct sftp_storage *s, const char *command, int retries, struct mb_curl_req **out,
                        struct mb_error *err)
{
    struct mb_curl_req *r = sftp_request(s, "/", err);
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

static void sftp_discard(void *storage, const char *temp)
{
    struct sftp_storage *s = storage;
    char *command = mb_strdup_printf("rm \"%s\"", temp);
    struct mb_curl_req *r = NULL;
    struct mb_error ignored = { { 0 } };
    if (command)
        sftp_command(s, command, 0, &r, &ignored); /* best effort: the server may be gone */
    mb_curl_req_free(r);
    free(command);
}

static const struct mb_remote_writer_ops sftp_writer_ops = {
    .promote = NULL, /* the upload's post-quote renames */
    .discard = sftp_discard,
    .release = sftp_release,
};

static struct mb_writer *sftp_open_write(void *storage, const char *name, struct mb_error *err)
{
    struct sftp_storage *s = storage;
    char *path = sftp_path(s, name, err);
    char *temp = path ? mb_remote_temp_name(path) : NULL;
    char *rename = temp ? mb_strdup_printf("rename \"%s\" \"%s\"", temp, path) : NULL;
    char *label = rename ? mb_strdup_printf("sftp %s: %s", s->where, path) : NULL;
    struct mb_curl_req *r = label ? sftp_request(s, temp, err) : NULL;
    struct mb_writer *w = NULL;
    if (path && !label)
        mb_error_set(err, "out of memory");
    if (r && mb_curl_req_quote(r, CURLOPT_POSTQUOTE, rename) != 0) {
        mb_curl_req_free(r);
        r = NULL;
        mb_error_set(err, "out of memory");
    }
    if (r) {
        curl_easy_setopt(r->easy, CURLOPT_FTP_CREATE_MISSING_DIRS, (long)CURLFTP_CREATE_DIR);
        curl_easy_setopt(r->easy, CURLOPT_NEW_FILE_PERMS, 0600L);
        curl_easy_setopt(r->easy, CURLOPT_NEW_DIRECTORY_PERMS, 0700L);
        struct mb_curl_upload *u = mb_curl_upload_new(r, s->conf.retries, label, err);
        if (u) {
            s->refs++; /* the writer's, dropped by its close */
            w = mb_remote_writer_new(u, &sftp_writer_ops, s, temp, path, err);
        }
    }
    free(path);
    free(temp);
    free(rename);
    free(label);
    return w;
}

static struct mb_reader *sftp_open_read(void *storage, const char *name, struct mb_error *err)
{
    struct sftp_storage *s = storage;
    char *path = sftp_path(s, name, err);
    char *label = path ? mb_strdup_printf("sftp %s: %s", s->where, path) : NULL;
    struct mb_curl_req *r = label ? sftp_request(s, path, err) : NULL;
    struct mb_reader *reader = r ? mb_curl_reader_open(r, label, err) : NULL;
    if (path && !label)
        mb_error_set(err, "out of memory");
    free(path);
    free(label);
    return reader;
}

#define LISTING_MAX (64u << 20)

static int sftp_list(void *storage, const char *prefix, mb_list_fn each, void *ud,
                     struct mb_error *err)
{
    struct sftp_storage *s = storage;
    char *dir = *prefix ? sftp_path(s, prefix, err) : strdup(s->root);
    char *dir_slash = dir ? mb_strdup_printf("%s/", dir) : NULL;
    struct mb_curl_req *r = dir_slash ? sftp_request(s, dir_slash, err) : NULL;
    free(dir_slash);
    if (!r) {
        free(dir);
        return -1;
    }
    mb_curl_req_collect(r, LISTING_MAX);
    int rc = 0;
    if (mb_curl_req_perform(r, s->conf.retries) != 0) {
        if (r->code == CURLE_REMOTE_FILE_NOT_FOUND) { /* nothing stored yet */
            mb_curl_req_free(r);
            free(dir);
            return 0;
        }
        rc = sftp_fail(s, r, "cannot list", dir, err);
        free(dir);
        return rc;
    }
    if (r->body)
        rc = mb_list_ls_body(r->body, prefix, each, ud, err);
    mb_curl_req_free(r);
    free(dir);
    return rc;
}

static int sftp_remove(void *storage, const char *name, struct mb_error *err)
{
    struct sftp_storage *s = storage;
    char *path = sftp_path(s, name, err);
    char *command = path ? mb_strdup_printf("rm \"%s\"", path) : NULL;
    struct mb_curl_req *r = NULL;
    int rc = -1;
    if (path && !command)
        mb_error_set(err, "out of memory");
    if (command) {
        rc = sftp_command(s, command, s->conf.retries, &r, err);
        if (rc != 0 && r)
            sftp_fail(s, r, "cannot remove", path, err); /* frees r */
        else
            mb_curl_req_free(r);
    }
    free(command);
    free(path);
    return rc;
}

const struct mb_storage_ops mb_storage_sftp = {
    .version = MB_STORAGE_OPS_VERSION,
    .type = "sftp",
    .open = sftp_open,
    .close = sftp_close,
    .check = sftp_check,
    .open_write = sftp_open_write,
    .open_read = sftp_open_read,
    .list = sftp_list,
    .remove = sftp_remove,
};
