/* remotefs.h — what the ftp and sftp storages share: files under a root
 * directory of a server that libcurl reaches by path, one session per
 * request, removals and renames sent as quote commands, uploads to a
 * hidden temporary name renamed by a post-quote command on the same
 * session.  An adapter embeds struct mb_remotefs first in its storage and
 * says in mb_remotefs_ops what its protocol does differently. */
#ifndef MB_REMOTEFS_H
#define MB_REMOTEFS_H

#include "adapters.h"
#include "curlxfer.h"
#include "dirlisting.h"
#include "urlxml.h"

struct mb_remotefs;

struct mb_remotefs_ops {
    const char *kind;           /* "ftp": the first word of messages, the URL scheme */
    const char *session_path;   /* a path whose request only logs in */
    const char *remove_command; /* printf format removing the file %s */
    /* The listing command that shows hidden names too, when the
     * protocol's default hides them (FTP: "LIST -a"); NULL: the default. */
    const char *list_hidden_command;
    /* The code of listing a directory that does not exist (yet): nothing
     * is stored there.  With root_must_exist, at the root it is an error. */
    CURLcode missing_dir;
    int root_must_exist;
    /* A request on a full remote path, with the protocol's options. */
    struct mb_curl_req *(*request)(struct mb_remotefs *fs, const char *path, struct mb_error *err);
    /* Sets what an upload to temp needs, the rename to path included. */
    int (*upload_options)(struct mb_remotefs *fs, struct mb_curl_req *r, const char *temp,
                          const char *path);
    /* Reads the adapter's options, mb_remotefs_init first; sets root. */
    int (*read_options)(struct mb_remotefs *fs, const struct mb_config *cfg, struct mb_error *err);
    /* Frees what the adapter added to its storage (not the storage); optional. */
    void (*free_own)(struct mb_remotefs *fs);
    size_t storage_size; /* of the adapter's storage, which begins with an mb_remotefs */
};

struct mb_remotefs {
    struct mb_storage handle; /* first: the core counts who holds the storage */
    const struct mb_remotefs_ops *ops;
    struct mb_curl_conf conf;
    char *where;    /* "host:port", for messages (owned) */
    char *url_base; /* "ftp://host:port" (owned) */
    char *root;     /* the adapter's (owned); names are below it */
};

/* A new storage of ops's adapter, from cfg. */
struct mb_storage *mb_remotefs_open(const struct mb_remotefs_ops *ops, const struct mb_config *cfg,
                       struct mb_error *err);
/* Reads host, port (the adapter's schema has its default, which the
 * engine gives) and the common curl options; sets where and url_base.
 * The adapter sets root. */
int mb_remotefs_init(struct mb_remotefs *fs, const struct mb_config *cfg, struct mb_error *err);
/* The storage ops' free: frees the storage (malloc'd by the adapter). */
void mb_remotefs_free(struct mb_storage *storage);

/* "root/name", refusing names that could step outside root. */
char *mb_remotefs_path(struct mb_remotefs *fs, const char *name, struct mb_error *err);
/* Sets err to "kind where: what path: why" and frees r.  Returns -1. */
int mb_remotefs_fail(struct mb_remotefs *fs, struct mb_curl_req *r, const char *what,
                     const char *path, struct mb_error *err);
/* The storage ops' list: the files below root/prefix (a directory). */
int mb_remotefs_list(void *storage, const char *prefix, mb_list_fn each, void *ud,
                     struct mb_error *err);

/* The storage operations that are the same for every such adapter. */
int mb_remotefs_check(void *storage, struct mb_error *err);
struct mb_writer *mb_remotefs_open_write(void *storage, const char *name, struct mb_error *err);
struct mb_reader *mb_remotefs_open_read(void *storage, const char *name, struct mb_error *err);
int mb_remotefs_remove(void *storage, const char *name, struct mb_error *err);
int mb_remotefs_list_incomplete(void *storage, const char *prefix, mb_incomplete_fn each,
                                void *ud, struct mb_error *err);

#endif
