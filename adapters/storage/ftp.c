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
#include "remotefs.h"

#include <stdlib.h>
#include <string.h>

struct ftp_storage {
    struct mb_remotefs fs; /* first: the storage handle is an mb_remotefs;
                              root is "", "backups" or "/srv/backups" */
    int tls;
};

/* The path as given, without trailing '/': relative to the login directory. */
static char *ftp_root(const char *path)
{
    path = path ? path : "";
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    return mb_strdup_printf("%.*s", (int)n, path);
}

static int ftp_read_options(struct mb_remotefs *fs, const struct mb_config *cfg, struct mb_error *err)
{
    struct ftp_storage *s = (struct ftp_storage *)fs;
    if (mb_remotefs_init(&s->fs, cfg, err) != 0)
        return -1;
    const char *tls = mb_config_get(cfg, "tls");
    s->tls = tls && strcmp(tls, "true") == 0;
    if (!(s->fs.root = ftp_root(mb_config_get(cfg, "path")))) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    return 0;
}

/* A request on an FTP path (relative to the login directory, or absolute:
 * libcurl spells an absolute path "/%2F..."). */
static struct mb_curl_req *ftp_request(struct mb_remotefs *fs, const char *path, struct mb_error *err)
{
    struct ftp_storage *s = (struct ftp_storage *)fs;
    int absolute = path[0] == '/';
    char *escaped = mb_url_escape_path(absolute ? path + 1 : path);
    char *url = escaped ? mb_strdup_printf("%s/%s%s", fs->url_base, absolute ? "%2F" : "", escaped)
                        : NULL;
    free(escaped);
    if (!url) {
        mb_error_set(err, "out of memory");
        return NULL;
    }
    struct mb_curl_req *r = mb_curl_req_new(&fs->conf, url, err);
    free(url);
    if (!r)
        return NULL;
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "ftp");
    if (s->tls) {
        curl_easy_setopt(r->easy, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
        /* TLS 1.2 at most: under TLS 1.3 the server's session tickets can
         * sit unread on the data connection when an upload ends, so its
         * close turns into a reset and vsftpd answers 426 to a complete
         * upload (seen intermittently in tests/e2e/test_ftp.sh). */
        curl_easy_setopt(r->easy, CURLOPT_SSLVERSION,
                         (long)(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2));
    }
    return r;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* After STOR, libcurl's working directory is the file's (it changes into
 * each directory in turn, creating what is missing), so RNFR/RNTO take
 * bare names. */
static int ftp_upload_options(struct mb_remotefs *fs, struct mb_curl_req *r, const char *temp,
                              const char *path)
{
    (void)fs;
    char *from = mb_strdup_printf("RNFR %s", base_name(temp));
    char *to = mb_strdup_printf("RNTO %s", base_name(path));
    int rc = from && to && mb_curl_req_quote(r, CURLOPT_POSTQUOTE, from) == 0
                     && mb_curl_req_quote(r, CURLOPT_POSTQUOTE, to) == 0
                 ? 0
                 : -1;
    free(from);
    free(to);
    curl_easy_setopt(r->easy, CURLOPT_FTP_CREATE_MISSING_DIRS, (long)CURLFTP_CREATE_DIR_RETRY);
    return rc;
}

static const struct mb_remotefs_ops ftp_ops = {
    .kind = "ftp",
    .session_path = "", /* the login directory */
    .remove_command = "DELE %s",
    .list_hidden_command = "LIST -a", /* servers hide dot files from a bare LIST */
    /* CWD refused under a prefix: not made yet (the login worked); at the
     * root it is an error */
    .missing_dir = CURLE_REMOTE_ACCESS_DENIED,
    .root_must_exist = 1,
    .request = ftp_request,
    .upload_options = ftp_upload_options,
    .read_options = ftp_read_options,
    .storage_size = sizeof(struct ftp_storage),
};

static struct mb_storage *ftp_open(const struct mb_config *cfg, struct mb_error *err)
{
    return mb_remotefs_open(&ftp_ops, cfg, err);
}

static const struct mb_option ftp_options[] = {
    { "host", MB_OPTION_STRING, 1, NULL, 0, .help = "the server's host name or address" },
    { "port", MB_OPTION_INTEGER, 0, "21", 0, .help = "the server's port", MB_OPTION_PORT },
    { "user", MB_OPTION_STRING, 0, NULL, 0, .help = "the user to log in as" },
    { "password", MB_OPTION_STRING, 0, NULL, 1, .help = "its password" },
    { "path", MB_OPTION_STRING, 0, NULL, 0, .help = "the directory for the backups: relative to the login directory, or absolute" },
    { "tls", MB_OPTION_BOOLEAN, 0, "false", 0, .help = "explicit TLS (AUTH TLS) for commands and data, required" },
    { "ca_file", MB_OPTION_STRING, 0, NULL, 0, .help = "a CA bundle to verify the server's certificate with" },
    { "insecure_tls", MB_OPTION_BOOLEAN, 0, "false", 0, .help = "do not verify the server's certificate" },
    { "timeout", MB_OPTION_INTEGER, 0, "60", 0, .help = "seconds a transfer may stall before it fails", MB_OPTION_SECONDS },
    { "retries", MB_OPTION_INTEGER, 0, "3", 0, .help = "extra attempts after a connection-level failure", MB_OPTION_COUNT },
    { NULL },
};

const struct mb_storage_ops mb_storage_ftp = {
    .version = MB_STORAGE_OPS_VERSION,
    .type = "ftp",
    .open = ftp_open,
    .free = mb_remotefs_free,
    .check = mb_remotefs_check,
    .open_write = mb_remotefs_open_write,
    .open_read = mb_remotefs_open_read,
    .list = mb_remotefs_list,
    .remove = mb_remotefs_remove,
    .list_incomplete = mb_remotefs_list_incomplete,
    .options = ftp_options,
};
