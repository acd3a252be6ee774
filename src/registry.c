/* registry.c — every adapter moonbak knows (sources, storages,
 * notifiers), in one place, and the storages' reference counts. */
#include "registry.h"

#include "fileio.h"

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
extern const struct mb_notify_ops mb_notify_discord, mb_notify_slack, mb_notify_webhook,
    mb_notify_email, mb_notify_healthchecks, mb_notify_ntfy;

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

static const struct mb_notify_ops *const notifiers[] = {
    &mb_notify_discord,
    &mb_notify_slack,
    &mb_notify_webhook,
    &mb_notify_email,
    &mb_notify_healthchecks,
    &mb_notify_ntfy,
};

#define COUNT(a) (sizeof a / sizeof *a)

const struct mb_source_ops *mb_source_at(size_t i)
{
    return i < COUNT(sources) ? sources[i] : NULL;
}

const struct mb_storage_ops *mb_storage_at(size_t i)
{
    return i < COUNT(storages) ? storages[i] : NULL;
}

const struct mb_notify_ops *mb_notify_at(size_t i)
{
    return i < COUNT(notifiers) ? notifiers[i] : NULL;
}

/* A table is usable when its layout is at least the one this core knows:
 * later versions only add fields at the end.  A source of version 2 is
 * still one (its version-3 fields are read through MB_SOURCE_OP). */
const struct mb_source_ops *mb_source_find(const char *type)
{
    for (size_t i = 0; i < COUNT(sources); i++)
        if (strcmp(sources[i]->type, type) == 0 && sources[i]->version >= MB_SOURCE_OPS_MIN_VERSION)
            return sources[i];
    return NULL;
}

const struct mb_storage_ops *mb_storage_find(const char *type)
{
    for (size_t i = 0; i < COUNT(storages); i++)
        if (strcmp(storages[i]->type, type) == 0
            && storages[i]->version >= MB_STORAGE_OPS_VERSION)
            return storages[i];
    return NULL;
}

const struct mb_notify_ops *mb_notify_find(const char *type)
{
    for (size_t i = 0; i < COUNT(notifiers); i++)
        if (strcmp(notifiers[i]->type, type) == 0 && notifiers[i]->version >= MB_NOTIFY_OPS_VERSION)
            return notifiers[i];
    return NULL;
}

int mb_config_set_defaults(struct mb_config *cfg, const struct mb_option *options)
{
    for (const struct mb_option *o = options; o && o->name; o++)
        if (o->default_value && !mb_config_get(cfg, o->name) && mb_config_set(cfg, o->name, o->default_value) != 0)
            return -1;
    return 0;
}

struct mb_storage *mb_storage_open(const struct mb_storage_ops *ops, const struct mb_config *cfg,
                                   struct mb_error *err)
{
    struct mb_storage *s = ops->open(cfg, err);
    if (s) {
        s->ops = ops;
        s->refs = 1;
    }
    return s;
}

void mb_storage_retain(struct mb_storage *storage)
{
    storage->refs++;
}

void mb_storage_release(struct mb_storage *storage)
{
    if (storage && --storage->refs == 0)
        storage->ops->free(storage);
}

int mb_storage_remove_incomplete(struct mb_storage *storage, const char *artifact,
                                 const char *upload, struct mb_error *err)
{
    const struct mb_storage_ops *ops = storage->ops;
    if (!ops->list_incomplete) {
        mb_error_set(err, "%s storage cannot list incomplete uploads", ops->type);
        return -1;
    }
    if (ops->remove_incomplete)
        return ops->remove_incomplete(storage, artifact, upload, err);
    if (!mb_temp_name_is_for(upload, artifact)) {
        mb_error_set(err, "%s is not a temporary file of %s", upload, artifact);
        return -1;
    }
    return ops->remove(storage, upload, err);
}
