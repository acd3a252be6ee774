/* local.c — storage in a directory of the local file system. */
#include "adapters.h"
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct local_storage {
    struct mb_storage handle; /* first: the core counts who holds the storage */
    char *root;
};

static char *local_path(struct local_storage *s, const char *name, struct mb_error *err)
{
    if (!mb_name_stays_below_root(name)) {
        mb_error_set(err, "local %s: refusing unsafe name \"%s\"", s->root, name);
        return NULL;
    }
    char *path = mb_strdup_printf("%s/%s", s->root, name);
    if (!path)
        mb_error_set(err, "out of memory");
    return path;
}

static struct mb_storage *local_open(const struct mb_config *cfg, struct mb_error *err)
{
    const char *root = mb_config_get(cfg, "path");
    if (!root || !*root) {
        mb_error_set(err, "local storage: \"path\" is required");
        return NULL;
    }
    struct local_storage *s = calloc(1, sizeof *s);
    if (!s || !(s->root = strdup(root))) {
        free(s);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    size_t n = strlen(s->root);
    while (n > 1 && s->root[n - 1] == '/')
        s->root[--n] = '\0';
    return &s->handle;
}

static void local_free(struct mb_storage *storage)
{
    struct local_storage *s = (struct local_storage *)storage;
    free(s->root);
    free(s);
}

static int local_check(void *storage, struct mb_error *err)
{
    struct local_storage *s = storage;
    if (mb_mkdirs(s->root, 0700, err) != 0)
        return -1;
    if (access(s->root, W_OK | X_OK) != 0) {
        mb_error_errno(err, "local %s: not writable", s->root);
        return -1;
    }
    return 0;
}

static struct mb_writer *local_open_write(void *storage, const char *name, struct mb_error *err)
{
    char *path = local_path(storage, name, err);
    if (!path)
        return NULL;
    char *slash = strrchr(path, '/');
    *slash = '\0';
    int rc = mb_mkdirs(path, 0700, err);
    *slash = '/';
    struct mb_writer *w = rc == 0 ? mb_file_writer_open(path, err) : NULL;
    free(path);
    return w;
}

static struct mb_reader *local_open_read(void *storage, const char *name, struct mb_error *err)
{
    char *path = local_path(storage, name, err);
    if (!path)
        return NULL;
    struct mb_reader *r = mb_file_reader_open_regular(path, err);
    free(path);
    return r;
}

/* Calls each() for the regular files directly under prefix: the visible
 * ones, or (hidden) those whose name begins with '.', writes in progress.
 * Symbolic links are never listed, whatever they point to. */
static int local_scan(struct local_storage *s, const char *prefix, int hidden, mb_list_fn each,
                      void *ud, struct mb_error *err)
{
    char *dir = *prefix ? local_path(s, prefix, err) : strdup(s->root);
    if (!dir)
        return -1;
    DIR *d = opendir(dir);
    if (!d) {
        int missing = errno == ENOENT;
        if (!missing)
            mb_error_errno(err, "local: cannot list %s", dir);
        free(dir);
        return missing ? 0 : -1; /* nothing stored yet is not an error */
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if ((e->d_name[0] == '.') != hidden)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
            char *name = mb_strdup_printf("%s%s", prefix, e->d_name);
            if (!name)
                mb_error_set(err, "out of memory");
            rc = name ? each(ud, name, (uint64_t)st.st_size, err) : -1;
            free(name);
        }
    }
    closedir(d);
    free(dir);
    return rc;
}

static int local_list(void *storage, const char *prefix, mb_list_fn each, void *ud,
                      struct mb_error *err)
{
    return local_scan(storage, prefix, 0, each, ud, err);
}

/* The temporary files of writes that never committed (or are under way). */
static int local_list_incomplete(void *storage, const char *prefix, mb_incomplete_fn each,
                                 void *ud, struct mb_error *err)
{
    struct mb_temp_names t = { each, ud };
    return local_scan(storage, prefix, 1, mb_temp_names_each, &t, err);
}

static int local_remove(void *storage, const char *name, struct mb_error *err)
{
    char *path = local_path(storage, name, err);
    if (!path)
        return -1;
    int rc = unlink(path);
    if (rc != 0)
        mb_error_errno(err, "cannot remove %s", path);
    free(path);
    return rc;
}


static const struct mb_option local_options[] = {
    { "path", MB_OPTION_STRING, 1, NULL, 0, .help = "the directory that holds the backups" },
    { NULL },
};

const struct mb_storage_ops mb_storage_local = {
    .version = MB_STORAGE_OPS_VERSION,
    .type = "local",
    .open = local_open,
    .free = local_free,
    .check = local_check,
    .open_write = local_open_write,
    .open_read = local_open_read,
    .list = local_list,
    .remove = local_remove,
    .list_incomplete = local_list_incomplete,
    .options = local_options,
};
