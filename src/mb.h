/* mb.h — types shared by the byte layer, the adapters and the Lua bindings.
 *
 * Nothing here knows about Lua: adapters and transforms are plain C so that
 * they can be unit-tested without an interpreter and so that a new adapter
 * needs no Lua glue (the bindings in src/l*.c translate once, generically). */
#ifndef MB_H
#define MB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MB_VERSION "0.1.0"

/* An error message that travels up to the user unchanged.  The first
 * failure wins: later, more generic messages do not overwrite it. */
struct mb_error {
    char msg[512];
};

void mb_error_set(struct mb_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* mb_error_set with ": strerror(errno)" appended. */
void mb_error_errno(struct mb_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The options of one source, storage or notifier as flat key/value strings,
 * filled by the Lua binding from the job table (numbers and booleans are
 * converted to text, lists are joined with '\n').  Secret values arrive
 * here already resolved; adapters must never copy them into a message. */
struct mb_cancel;
struct mb_config {
    size_t count;
    struct mb_config_item {
        char *key;
        char *value;
    } *items;
    /* The data of the adapter's ops table (flavours: mysql or mariadb), set
     * by whoever hands the config to the adapter. */
    const void *adapter_data;
    /* Not an option: the token of the process the binding opens the
     * adapter for (cancel.h), borrowed; a remote storage's retry back-off
     * ends when it is cancelled.  NULL: never cancelled. */
    const struct mb_cancel *cancel;
};

const char *mb_config_get(const struct mb_config *cfg, const char *key);
long long mb_config_get_int(const struct mb_config *cfg, const char *key, long long fallback);
int mb_config_set(struct mb_config *cfg, const char *key, const char *value);
void mb_config_free(struct mb_config *cfg);

/* A stream of bytes to read: a dump, a stored artifact, a file.
 * read returns the number of bytes read, 0 at the end, -1 on error (err set).
 * finish (optional) is called once after the last read (or after an
 * abandoned read) and reports whether the producer ended well: a dump
 * tool's exit status is only known then.  cancel (optional) may be called
 * from another thread to make a blocked read return soon (it stops the
 * producer).  close releases everything and may be called at any time. */
struct mb_reader {
    ssize_t (*read)(struct mb_reader *r, void *buf, size_t len, struct mb_error *err);
    int (*finish)(struct mb_reader *r, struct mb_error *err);
    void (*cancel)(struct mb_reader *r);
    void (*close)(struct mb_reader *r);
    struct mb_config meta; /* facts learned while dumping: engine_version, databases ... */
};

/* A place bytes go to.  Nothing written becomes visible under its final
 * name before commit returns 0; abort removes whatever was written. */
struct mb_writer {
    int (*write)(struct mb_writer *w, const void *buf, size_t len, struct mb_error *err);
    int (*commit)(struct mb_writer *w, struct mb_error *err);
    void (*abort)(struct mb_writer *w);
    void (*close)(struct mb_writer *w); /* frees; aborts first if not committed */
};

/* Listings, by the storages and by the byte layer's listing parsers:
 * each() is called once per name; a non-zero return stops the listing. */
typedef int (*mb_list_fn)(void *ud, const char *name, uint64_t size, struct mb_error *err);
/* One upload that was started and never finished (a run killed mid-upload
 * leaves it): artifact is the name it was writing, upload what names the
 * upload itself to the storage's remove_incomplete. */
typedef int (*mb_incomplete_fn)(void *ud, const char *artifact, const char *upload,
                                struct mb_error *err);

/* Helpers shared by adapters. */
int mb_mkdirs(const char *path, mode_t mode, struct mb_error *err);
int mb_write_all(int fd, const void *buf, size_t len);
char *mb_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A storage name ("job/id.part") stays below the storage's root: not empty,
 * not absolute, no ".." component.  Names come from job names and backup
 * ids. */
int mb_name_stays_below_root(const char *name);
/* Frees a secret (password, key, passphrase; NULL is fine) after wiping it,
 * so that freed memory does not keep it. */
void mb_free_secret(char *secret);

#endif
