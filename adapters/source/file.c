/* file.c — one file, streamed as it is. */
#include "adapters.h"
#include "fileio.h"

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

const struct mb_source_ops mb_source_file = {
    .version = MB_SOURCE_OPS_VERSION,
    .type = "file",
    .check = file_check,
    .open = file_open,
};
