/* file.c — one file, streamed as it is. */
#include "adapters.h"
#include "fileio.h"

#include <ctype.h>
#include <string.h>
#include <unistd.h>

static int file_check(const struct mb_config *cfg, struct mb_error *err)
{
    const char *path = mb_config_get(cfg, "path");
    if (!path) {
        mb_error_set(err, "file source: \"path\" is required"); /* errno says nothing here */
        return -1;
    }
    if (access(path, R_OK) != 0) {
        mb_error_errno(err, "file %s: cannot read", path);
        return -1;
    }
    return 0;
}

static struct mb_reader *file_open(const struct mb_config *cfg, struct mb_error *err)
{
    const char *path = mb_config_get(cfg, "path");
    if (!path) {
        mb_error_set(err, "file source: \"path\" is required");
        return NULL;
    }
    struct mb_reader *r = mb_file_reader_open(path, err);
    if (r && mb_config_set(&r->meta, "databases", path) != 0) {
        r->close(r);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    return r;
}

/* The file's own extension: what follows its last dot, when that is only
 * letters and digits ("/etc/app.conf": "conf"); else "bin". */
static const char *file_extension(const struct mb_config *cfg)
{
    const char *path = mb_config_get(cfg, "path");
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (!dot || !dot[1])
        return NULL;
    for (const char *c = dot + 1; *c; c++)
        if (!isalnum((unsigned char)*c))
            return NULL;
    return dot + 1;
}

static const struct mb_option file_options[] = {
    { "path", MB_OPTION_STRING, 1, NULL, 0, .help = "the file, streamed as it is" },
    { NULL },
};

const struct mb_source_ops mb_source_file = {
    .version = MB_SOURCE_OPS_VERSION,
    .type = "file",
    .check = file_check,
    .open = file_open,
    .options = file_options,
    .extension = "bin",
    .extension_for = file_extension,
};
