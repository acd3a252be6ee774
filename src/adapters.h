/* adapters.h — the plug-in interfaces for sources, storages and
 * notifiers, and only them.
 *
 * Modelled on sqlite3_io_methods: a versioned table of function pointers per
 * adapter (adapters/<kind>/<name>.c), all listed in one registry
 * (src/registry.c, whose src/registry.h is the engine's side: finding an
 * adapter, opening and holding a storage).  Adapters see only C types: the
 * Lua bindings turn a job's table into a struct mb_config, so a new adapter
 * needs no Lua glue.  What some adapters share lives in headers of its own
 * (fileio.h, remotefs.h, curlxfer.h, s3client.h, adapters/source/dbtool.h). */
#ifndef MB_ADAPTERS_H
#define MB_ADAPTERS_H

#include "mb.h"
#include "option.h"

/* Version 2 added options, extension, extension_for and data; version 3
 * query, drop_database and list_databases (restore drills).  The core takes
 * an adapter of version 2 or newer (newer fields come last) and reads a
 * field of version 3 only from an adapter that says it is version 3. */
#define MB_SOURCE_OPS_VERSION 3
#define MB_SOURCE_OPS_MIN_VERSION 2

struct mb_source_ops {
    int version; /* MB_SOURCE_OPS_VERSION */
    const char *type;
    /* Cheap connectivity test run by 01-initialize, before any dump starts. */
    int (*check)(const struct mb_config *cfg, struct mb_error *err);
    /* Starts the dump; the reader's meta says what was dumped. */
    struct mb_reader *(*open)(const struct mb_config *cfg, struct mb_error *err);
    /* Optional: a writer that loads a dump into database target of the
     * server cfg names (creating it first when create is set).  NULL when
     * the engine has no online load (restore to a file instead). */
    struct mb_writer *(*restore)(const struct mb_config *cfg, const char *target, int create,
                                 struct mb_error *err);

    /* Version 2.  The options a job may give (ending with { NULL }): job
     * validation, the README's field table and help come from them. */
    const struct mb_option *options;
    /* The artifact's extension, before ".zst" and ".age" ("sql"). */
    const char *extension;
    /* Optional: the extension when the options decide it (postgres'
     * format = "custom" dumps ".dump"), or NULL for extension.  cfg holds
     * only the job's plain values: references are not resolved yet. */
    const char *(*extension_for)(const struct mb_config *cfg);
    /* For an implementation that serves several types (mysql, mariadb):
     * the engine hands it to them as cfg->adapter_data. */
    const void *data;

    /* Version 3, all optional (NULL: the engine cannot).  For restore
     * drills, which load a backup into a scratch database and check it. */
    /* Runs query on database (NULL: the one cfg names) and puts into out
     * (truncated to cap - 1, NUL-ended) the first column of the first row;
     * SQL engines take one string (query[0]), redis a command and its
     * arguments, answering with the reply (an array's elements one a
     * line).  Returns 0, 1 when there is no row (redis: a nil reply), -1
     * with err saying why (the server's error). */
    int (*query)(const struct mb_config *cfg, const char *database, const char *const *query,
                 char *out, size_t cap, struct mb_error *err);
    /* Drops database name when it exists, whoever is connected to it. */
    int (*drop_database)(const struct mb_config *cfg, const char *name, struct mb_error *err);
    /* The databases whose name starts with prefix ([A-Za-z0-9_] only), one
     * a line: a malloc'd string, or NULL with err. */
    char *(*list_databases)(const struct mb_config *cfg, const char *prefix, struct mb_error *err);
};

/* The version-3 operation op of a source, or NULL when it has none. */
#define MB_SOURCE_OP(ops, op) ((ops)->version >= 3 ? (ops)->op : NULL)

/* Version 2 added list_incomplete and remove_incomplete (optional).
 * Version 3: open returns a struct mb_storage, which the core counts
 * references to, free replaced close; options and data.  The core takes
 * an adapter of this version or newer. */
#define MB_STORAGE_OPS_VERSION 3

/* The head of every storage: an adapter's storage struct begins with one
 * (struct s3_storage { struct mb_storage base; ... }), so that the core can
 * count who holds it.  The adapter only allocates it (in open) and frees it
 * (in free); ops and refs belong to the core (src/registry.c): whoever holds
 * a writer or a reader of a storage holds a reference to it until that
 * writer or reader is closed, so an adapter's writers and readers may use
 * their storage to the end without counting anything themselves. */
struct mb_storage {
    const struct mb_storage_ops *ops;
    int refs; /* changed by one thread at a time: the Lua state's */
};

/* Names are relative to the storage's root ("shop/20261129T030000Z.sql.zst").
 * storage is the struct mb_storage open returned, as the adapter's type. */
struct mb_storage_ops {
    int version; /* MB_STORAGE_OPS_VERSION */
    const char *type;
    /* A new storage (malloc'd by the adapter; the core sets ops and refs). */
    struct mb_storage *(*open)(const struct mb_config *cfg, struct mb_error *err);
    /* Frees what open made, once no writer or reader of it is left open. */
    void (*free)(struct mb_storage *storage);
    int (*check)(void *storage, struct mb_error *err);
    struct mb_writer *(*open_write)(void *storage, const char *name, struct mb_error *err);
    struct mb_reader *(*open_read)(void *storage, const char *name, struct mb_error *err);
    /* Calls each() for every complete object directly under prefix ("shop/"). */
    int (*list)(void *storage, const char *prefix, mb_list_fn each, void *ud,
                struct mb_error *err);
    int (*remove)(void *storage, const char *name, struct mb_error *err);

    /* Optional (NULL: the storage cannot tell).  Calls each() for every
     * incomplete upload directly under prefix: upload is the hidden
     * temporary object (".NAME.partial-XXXXXX", see fileio.h) on the
     * storages that write under a temporary name, S3's multipart upload
     * id on S3. */
    int (*list_incomplete)(void *storage, const char *prefix, mb_incomplete_fn each, void *ud,
                           struct mb_error *err);
    /* Optional even then: removes (S3: aborts) one upload that
     * list_incomplete reported for artifact.  Storages whose uploads are
     * temporary names leave it NULL: mb_storage_remove_incomplete checks
     * the name and calls remove. */
    int (*remove_incomplete)(void *storage, const char *artifact, const char *upload,
                             struct mb_error *err);

    /* Version 3.  The options a job may give (ending with { NULL }). */
    const struct mb_option *options;
    const void *data; /* the adapter's own, for several types in one file */
};

/* What a notifier delivers: one event of one execution, already worded
 * (the wording is policy, made in Lua by lua/moonbak/notify.lua) and as the
 * webhook's JSON.  Every string is UTF-8 and borrowed for the call; none
 * holds a secret.  An adapter fits these parts to its service's format and
 * limits (mb_text_* in src/notice.h cut them on character boundaries). */
struct mb_notice {
    const char *event;   /* "start", "success", "partial", "failure", "test" */
    const char *status;  /* the execution's: "running", "success", "partial",
                            "failed", "cancelled", "skipped" */
    const char *job;
    const char *title;   /* one line: "[moonbak] shop: failed" */
    const char *summary; /* a few lines: what happened and, on failure, why */
    /* Facts worth a column, in order ("Trigger" = "schedule", "Duration" =
     * "3.2 s", "Backup" = "20261202T030000.123Z-a1b2c3", ...). */
    const struct mb_config *fields;
    /* The tail of the execution log, one entry per line, oldest first,
     * already bounded; its first line says so when earlier lines were cut.
     * An adapter with less room keeps the newest lines. */
    const char *log;
    const char *json;    /* the event as the webhook's body (schema in README) */
    const char *run_id;  /* a UUID shared by the start and the end of one run */
    const char *host;
    long long time;      /* when it happened, Unix seconds */
};

/* How one delivery went, for the execution log, the state database and
 * `moonbak notify test`. */
struct mb_delivery {
    int sent;          /* 1: the service accepted it */
    long code;         /* the last answer's HTTP status or SMTP reply code; 0: none came */
    int attempts;      /* requests made, the first included */
    char answer[256];  /* what the service answered, short and without secrets */
};

/* Version 1.  The core takes an adapter of this version or newer. */
#define MB_NOTIFY_OPS_VERSION 1

struct mb_notify_ops {
    int version; /* MB_NOTIFY_OPS_VERSION */
    const char *type;
    /* The options a job may give (ending with { NULL }), beside type, name
     * and on, which every notifier has. */
    const struct mb_option *options;
    /* The events sent when a job's notifier has no `on`, separated by
     * spaces: "failure partial" for most, every event for healthchecks. */
    const char *default_on;
    /* Delivers notice as cfg says, trying again (connection errors, 5xx,
     * 429 after the wait the service asks for) until deadline (mb_now()
     * seconds, clock.h): no attempt starts or lasts past it.  Fills out in every case; 0 when sent, -1 when not,
     * err saying why in words that name the notifier and the host but
     * never a token, a URL's path or a password. */
    int (*send)(const struct mb_config *cfg, const struct mb_notice *notice,
                double deadline, struct mb_delivery *out, struct mb_error *err);
    const void *data; /* the adapter's own */
};

#endif
