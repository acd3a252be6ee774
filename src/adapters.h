/* adapters.h — the plug-in interfaces for sources and storages.
 *
 * Modelled on sqlite3_io_methods: a versioned table of function pointers per
 * adapter (adapters/<kind>/<name>.c), all listed in one registry
 * (src/registry.c).  Adapters see only C types: the Lua bindings turn a
 * job's table into a struct mb_config, so a new adapter needs no Lua glue. */
#ifndef MB_ADAPTERS_H
#define MB_ADAPTERS_H

#include "mb.h"
#include "option.h"

/* Version 2 added options, extension, extension_for and data.  The core
 * takes an adapter of this version or newer (newer fields come last). */
#define MB_SOURCE_OPS_VERSION 2

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
     * its functions find their own with mb_source_data(cfg). */
    const void *data;
};

/* Shared by the database adapters (adapters/source/dbtool.c). */
/* The program to run: the "tool" option when set (a path, for tools not on
 * PATH), else fallback; sibling names a tool of the same package
 * ("psql" next to "pg_dump"): the one beside "tool" when there is one,
 * else the one on PATH. */
char *mb_tool_path(const struct mb_config *cfg, const char *fallback, const char *sibling);
/* A private (0600) option file in cfg's temp_dir for a tool that reads its
 * password from a file: header, then key<sep>"value" for each of keys that
 * cfg sets (escaped: \ " newline, return, tab), then extra.  Returns its
 * malloc'd path. */
char *mb_option_file(const struct mb_config *cfg, const char *header, const char *const *keys,
                     const char *sep, const char *extra, struct mb_error *err);
/* A database identifier quoted for SQL: "name" (quote = '"') or `name`. */
char *mb_quote_identifier(const char *name, char quote);
/* Drops trailing newlines and spaces (a tool's one-line answer). */
void mb_chomp(char *s);

/* Version 2 added list_incomplete and remove_incomplete (optional);
 * version 3 options and data.  The core takes an adapter of this version
 * or newer. */
#define MB_STORAGE_OPS_VERSION 3

typedef int (*mb_list_fn)(void *ud, const char *name, uint64_t size, struct mb_error *err);
/* One upload that was started and never finished (a run killed mid-upload
 * leaves it): artifact is the name it was writing, upload what names the
 * upload itself to remove_incomplete. */
typedef int (*mb_incomplete_fn)(void *ud, const char *artifact, const char *upload,
                                struct mb_error *err);

/* Names are relative to the storage's root ("shop/20261129T030000Z.sql.zst"). */
struct mb_storage_ops {
    int version; /* MB_STORAGE_OPS_VERSION */
    const char *type;
    void *(*open)(const struct mb_config *cfg, struct mb_error *err);
    void (*close)(void *storage);
    int (*check)(void *storage, struct mb_error *err);
    struct mb_writer *(*open_write)(void *storage, const char *name, struct mb_error *err);
    struct mb_reader *(*open_read)(void *storage, const char *name, struct mb_error *err);
    /* Calls each() for every complete object directly under prefix ("shop/"). */
    int (*list)(void *storage, const char *prefix, mb_list_fn each, void *ud,
                struct mb_error *err);
    int (*remove)(void *storage, const char *name, struct mb_error *err);

    /* Version 2; optional (NULL: the storage cannot tell).  Calls each()
     * for every incomplete upload directly under prefix: upload is the
     * hidden temporary object (".NAME.partial-XXXXXX", see below) on the
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

/* Removes one incomplete upload of artifact, refusing an upload that is
 * not one of artifact's (never an artifact or a sidecar). */
int mb_storage_remove_incomplete(const struct mb_storage_ops *ops, void *storage,
                                 const char *artifact, const char *upload, struct mb_error *err);

const struct mb_source_ops *mb_source_find(const char *type);
const struct mb_storage_ops *mb_storage_find(const char *type);
/* The i-th adapter of the registry, NULL past the end (listings show the
 * ones find takes). */
const struct mb_source_ops *mb_source_at(size_t i);
const struct mb_storage_ops *mb_storage_at(size_t i);
/* The data of the source whose type cfg names (the bindings always set
 * "type"): how mysql.c knows whether it runs as mysql or mariadb. */
const void *mb_source_data(const struct mb_config *cfg);

/* Plain files, shared by the local storage, the file source and restore.
 * The writer creates a hidden temporary file next to path and renames it
 * over path on commit, after fsync of the file and of its directory. */
struct mb_writer *mb_file_writer_open(const char *path, struct mb_error *err);
/* Follows symbolic links: the file source may back up /etc/foo -> ... */
struct mb_reader *mb_file_reader_open(const char *path, struct mb_error *err);
/* Only a regular file, never through a symbolic link at path (the local
 * storage: a link planted there must not make restore read /etc/shadow). */
struct mb_reader *mb_file_reader_open_regular(const char *path, struct mb_error *err);

/* Temporary names, as the file writer and the remote storages make them:
 * "dir/.NAME.partial-XXXXXX" while dir/NAME is written (WebDAV, whose
 * servers may never list hidden names: "dir/NAME.partial-XXXXXX"; no
 * artifact or sidecar name ends so).  The NAME a base name was written for
 * (malloc'd), or NULL when base is no such name. */
char *mb_temp_name_target(const char *base);
/* 1 when upload ("dir/.NAME.partial-XXXXXX", "dir/NAME.partial-XXXXXX")
 * is a temporary name of artifact ("dir/NAME"). */
int mb_temp_name_is_for(const char *upload, const char *artifact);
/* An mb_list_fn over names of a listing: calls each() with the artifact
 * and the name of every temporary name among them. */
struct mb_temp_names {
    mb_incomplete_fn each;
    void *ud;
};
int mb_temp_names_each(void *ud, const char *name, uint64_t size, struct mb_error *err);
/* Takes ownership of fd; label names the data in messages. */
struct mb_reader *mb_fd_reader_new(int fd, const char *label, struct mb_error *err);

#endif
