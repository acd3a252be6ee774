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
#include "remotefs.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sftp_storage {
    struct mb_remotefs fs; /* first: the storage handle is an mb_remotefs;
                              root is "/srv/backups" or "/~/backups" or "/~" */
    char *private_key, *public_key, *key_passphrase, *known_hosts; /* owned */
};

static void sftp_free_own(struct mb_remotefs *fs)
{
    struct sftp_storage *s = (struct sftp_storage *)fs;
    free(s->private_key);
    free(s->public_key);
    mb_free_secret(s->key_passphrase);
    free(s->known_hosts);
}

/* path with a leading "~/" in the home directory (the schema's default
 * known_hosts is "~/.ssh/known_hosts"). */
static char *expand_home(const char *path)
{
    if (strncmp(path, "~/", 2) != 0)
        return strdup(path);
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : "/";
    }
    return mb_strdup_printf("%s%s", home, path + 1);
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

static int sftp_read_options(struct mb_remotefs *fs, const struct mb_config *cfg, struct mb_error *err)
{
    struct sftp_storage *s = (struct sftp_storage *)fs;
    const char *key = mb_config_get(cfg, "private_key");
    const char *phrase = mb_config_get(cfg, "key_passphrase");
    const char *known = mb_config_get(cfg, "known_hosts");
    if (mb_remotefs_init(&s->fs, cfg, err) != 0)
        return -1;
    const char *host = mb_config_get(cfg, "host");
    if (!s->fs.conf.user) {
        mb_error_set(err, "sftp %s: \"user\" is required", host);
        return -1;
    }
    if (!s->fs.conf.password && !(key && *key)) {
        mb_error_set(err, "sftp %s: give \"password\" or \"private_key\"", host);
        return -1;
    }
    if (!known || !*known) {
        mb_error_set(err, "sftp %s: \"known_hosts\" is empty", host);
        return -1;
    }
    s->fs.root = sftp_root(mb_config_get(cfg, "path"));
    s->known_hosts = expand_home(known);
    if (key && *key) {
        s->private_key = strdup(key);
        s->public_key = public_key_for(key);
    }
    s->key_passphrase = phrase && *phrase ? strdup(phrase) : NULL;
    if (!s->fs.root || !s->known_hosts || (key && *key && (!s->private_key || !s->public_key))
        || (phrase && *phrase && !s->key_passphrase)) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    return 0;
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
static struct mb_curl_req *sftp_request(struct mb_remotefs *fs, const char *path, struct mb_error *err)
{
    struct sftp_storage *s = (struct sftp_storage *)fs;
    char *escaped = mb_url_escape_path(path);
    char *url = escaped ? mb_strdup_printf("%s%s", fs->url_base, escaped) : NULL;
    free(escaped);
    if (!url) {
        mb_error_set(err, "out of memory");
        return NULL;
    }
    struct mb_curl_req *r = mb_curl_req_new(&fs->conf, url, err);
    free(url);
    if (!r)
        return NULL;
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "sftp");
    long auth = 0;
    if (fs->conf.password)
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

/* The rename takes full paths; new files and directories are the user's alone. */
static int sftp_upload_options(struct mb_remotefs *fs, struct mb_curl_req *r, const char *temp,
                               const char *path)
{
    (void)fs;
    char *rename = mb_strdup_printf("rename \"%s\" \"%s\"", temp, path);
    int rc = rename && mb_curl_req_quote(r, CURLOPT_POSTQUOTE, rename) == 0 ? 0 : -1;
    free(rename);
    curl_easy_setopt(r->easy, CURLOPT_FTP_CREATE_MISSING_DIRS, (long)CURLFTP_CREATE_DIR);
    curl_easy_setopt(r->easy, CURLOPT_NEW_FILE_PERMS, 0600L);
    curl_easy_setopt(r->easy, CURLOPT_NEW_DIRECTORY_PERMS, 0700L);
    return rc;
}

static const struct mb_remotefs_ops sftp_ops = {
    .kind = "sftp",
    .session_path = "/",
    .remove_command = "rm \"%s\"",
    .missing_dir = CURLE_REMOTE_FILE_NOT_FOUND, /* nothing stored yet */
    .request = sftp_request,
    .upload_options = sftp_upload_options,
    .read_options = sftp_read_options,
    .free_own = sftp_free_own,
    .storage_size = sizeof(struct sftp_storage),
};

static struct mb_storage *sftp_open(const struct mb_config *cfg, struct mb_error *err)
{
    return mb_remotefs_open(&sftp_ops, cfg, err);
}

static const struct mb_option sftp_options[] = {
    { "host", MB_OPTION_STRING, 1, NULL, 0, .help = "the server's host name or address" },
    { "port", MB_OPTION_INTEGER, 0, "22", 0, .help = "the server's port", MB_OPTION_PORT },
    { "user", MB_OPTION_STRING, 0, NULL, 0, .help = "the user to log in as (needed to connect)" },
    { "password", MB_OPTION_STRING, 0, NULL, 1, .help = "its password, or give private_key" },
    { "private_key", MB_OPTION_STRING, 0, NULL, 0, .help = "the path of a private key (the public one: the same path with .pub, or derived)" },
    { "key_passphrase", MB_OPTION_STRING, 0, NULL, 1, .help = "the passphrase of an encrypted private key" },
    { "path", MB_OPTION_STRING, 0, NULL, 0, .help = "the directory for the backups: absolute, or relative to the home (default: the home)" },
    { "known_hosts", MB_OPTION_STRING, 0, "~/.ssh/known_hosts", 0, .help = "the file the server's host key must be in" },
    { "timeout", MB_OPTION_INTEGER, 0, "60", 0, .help = "seconds a transfer may stall before it fails", MB_OPTION_SECONDS },
    { "retries", MB_OPTION_INTEGER, 0, "3", 0, .help = "extra attempts after a connection-level failure", MB_OPTION_COUNT },
    { NULL },
};

const struct mb_storage_ops mb_storage_sftp = {
    .version = MB_STORAGE_OPS_VERSION,
    .type = "sftp",
    .open = sftp_open,
    .free = mb_remotefs_free,
    .check = mb_remotefs_check,
    .open_write = mb_remotefs_open_write,
    .open_read = mb_remotefs_open_read,
    .list = mb_remotefs_list,
    .remove = mb_remotefs_remove,
    .list_incomplete = mb_remotefs_list_incomplete,
    .options = sftp_options,
};
