/* fileio.h — plain files as writers and readers, and the temporary names
 * uploads are written under (src/fileio.c).  Shared by the local storage,
 * the remote storages, the file and sqlite sources and restore. */
#ifndef MB_FILEIO_H
#define MB_FILEIO_H

#include "mb.h"

#include <sys/types.h>

/* The writer creates a hidden temporary file next to path and renames it
 * over path on commit, after fsync of the file and of its directory. */
struct mb_writer *mb_file_writer_open(const char *path, struct mb_error *err);
/* The same, the file readable as mode says (the writer's own files are
 * 0600; a metrics file is read by another user's exporter: 0644). */
struct mb_writer *mb_file_writer_open_mode(const char *path, mode_t mode, struct mb_error *err);
/* Follows symbolic links: the file source may back up /etc/foo -> ... */
struct mb_reader *mb_file_reader_open(const char *path, struct mb_error *err);
/* Only a regular file, never through a symbolic link at path (the local
 * storage: a link planted there must not make restore read /etc/shadow). */
struct mb_reader *mb_file_reader_open_regular(const char *path, struct mb_error *err);
/* Takes ownership of fd; label names the data in messages. */
struct mb_reader *mb_fd_reader_new(int fd, const char *label, struct mb_error *err);

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

#endif
