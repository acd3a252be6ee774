/* sqlite.c — a consistent snapshot of a SQLite database.
 *
 * SQLite's online backup API copies every page inside one read transaction
 * (sqlite3_backup_step(-1)), so the copy is the database as of one instant
 * even while other processes write.  The copy goes to a temporary file
 * that is unlinked as soon as it is open again for reading: it vanishes
 * with the process, whatever happens. */
#include "adapters.h"
#include "fileio.h"
#include "process.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SQLITE_BUSY_TIMEOUT_MS 30000

static sqlite3 *sqlite_open_source(const char *path, struct mb_error *err)
{
    sqlite3 *db = NULL;
    /* READONLY without CREATE: a wrong path must fail, not make a new database */
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, SQLITE_BUSY_TIMEOUT_MS);
        rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        mb_error_set(err, "sqlite %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static int sqlite_check(const struct mb_config *cfg, struct mb_error *err)
{
    const char *path = mb_config_get(cfg, "path");
    if (!path) {
        mb_error_set(err, "sqlite source: \"path\" is required");
        return -1;
    }
    sqlite3 *db = sqlite_open_source(path, err);
    sqlite3_close(db);
    return db ? 0 : -1;
}

/* Copies src into the (empty) file at snapshot_path. */
static int sqlite_snapshot(sqlite3 *src, const char *path, const char *snapshot_path,
                           struct mb_error *err)
{
    sqlite3 *dst = NULL;
    int rc = sqlite3_open_v2(snapshot_path, &dst, SQLITE_OPEN_READWRITE, NULL);
    sqlite3_backup *b = rc == SQLITE_OK ? sqlite3_backup_init(dst, "main", src, "main") : NULL;
    if (!b) {
        mb_error_set(err, "sqlite %s: cannot start the backup: %s", path,
                     dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
        sqlite3_close(dst);
        return -1;
    }
    /* Busy or locked means a writer holds the database right now; the busy
     * handler of src already waited, so retry a few times more. */
    for (int attempt = 0; attempt < 100; attempt++) {
        rc = sqlite3_backup_step(b, -1);
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
            break;
        usleep(100 * 1000);
    }
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        mb_error_set(err, "sqlite %s: backup failed: %s", path, sqlite3_errstr(rc));
        sqlite3_close(dst);
        return -1;
    }
    rc = sqlite3_close(dst);
    if (rc != SQLITE_OK) {
        mb_error_set(err, "sqlite %s: cannot write the snapshot: %s", path, sqlite3_errstr(rc));
        return -1;
    }
    return 0;
}

static struct mb_reader *sqlite_open(const struct mb_config *cfg, struct mb_error *err)
{
    const char *path = mb_config_get(cfg, "path");
    char *snapshot = NULL;
    if (!path) {
        mb_error_set(err, "sqlite source: \"path\" is required");
        return NULL;
    }
    sqlite3 *src = sqlite_open_source(path, err);
    if (!src || !(snapshot = mb_private_temp_file(mb_config_get(cfg, "temp_dir"), "", err))) {
        sqlite3_close(src);
        return NULL;
    }
    int rc = sqlite_snapshot(src, path, snapshot, err);
    sqlite3_close(src);
    int fd = rc == 0 ? open(snapshot, O_RDONLY | O_CLOEXEC) : -1;
    if (rc == 0 && fd < 0)
        mb_error_errno(err, "sqlite: cannot reopen the snapshot %s", snapshot);
    unlink(snapshot);
    free(snapshot);
    if (fd < 0)
        return NULL;
    struct mb_reader *r = mb_fd_reader_new(fd, path, err);
    if (r && (mb_config_set(&r->meta, "engine_version", sqlite3_libversion()) != 0
              || mb_config_set(&r->meta, "databases", path) != 0)) {
        r->close(r);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    return r;
}

static const struct mb_option sqlite_options[] = {
    { "path", MB_OPTION_STRING, 1, NULL, 0, .help = "the database file" },
    { NULL },
};

const struct mb_source_ops mb_source_sqlite = {
    .version = MB_SOURCE_OPS_VERSION,
    .type = "sqlite",
    .check = sqlite_check,
    .open = sqlite_open,
    .options = sqlite_options,
    .extension = "sqlite3",
};
