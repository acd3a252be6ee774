/* registry.c — every adapter moonbak knows, in one place. */
#include "adapters.h"

#include <string.h>

extern const struct mb_source_ops mb_source_sqlite;
extern const struct mb_source_ops mb_source_file;
extern const struct mb_source_ops mb_source_command;
extern const struct mb_source_ops mb_source_postgres;
extern const struct mb_source_ops mb_source_mysql;
extern const struct mb_source_ops mb_source_mariadb;
extern const struct mb_source_ops mb_source_redis;
extern const struct mb_source_ops mb_source_mongodb;
extern const struct mb_storage_ops mb_storage_local;
extern const struct mb_storage_ops mb_storage_sftp, mb_storage_webdav, mb_storage_ftp;
extern const struct mb_storage_ops mb_storage_s3;

static const struct mb_source_ops *const sources[] = {
    &mb_source_sqlite,
    &mb_source_file,
    &mb_source_command,
    &mb_source_postgres,
    &mb_source_mysql,
    &mb_source_mariadb,
    &mb_source_redis,
    &mb_source_mongodb,
};

static const struct mb_storage_ops *const storages[] = {
    &mb_storage_local,
    &mb_storage_sftp, &mb_storage_webdav, &mb_storage_ftp,
    &mb_storage_s3,
};

const struct mb_source_ops *mb_source_find(const char *type)
{
    for (size_t i = 0; i < sizeof sources / sizeof *sources; i++)
        if (strcmp(sources[i]->type, type) == 0 && sources[i]->version == MB_SOURCE_OPS_VERSION)
            return sources[i];
    return NULL;
}

const struct mb_storage_ops *mb_storage_find(const char *type)
{
    for (size_t i = 0; i < sizeof storages / sizeof *storages; i++)
        if (strcmp(storages[i]->type, type) == 0
            && storages[i]->version == MB_STORAGE_OPS_VERSION)
            return storages[i];
    return NULL;
}
