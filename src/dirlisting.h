/* dirdirlisting.h — names on the remote storages and the "ls -l" listings of
 * SFTP and FTP: what may be a remote name, the temporary names uploads
 * write under, and the parsing of a listing body (tests/unit/test_listing.c). */
#ifndef MB_DIRLISTING_H
#define MB_DIRLISTING_H

#include "mb.h"

/* The most a listing answer may hold (FTP LIST, SFTP, WebDAV PROPFIND):
 * about 400 000 entries; a larger answer is an error, not an allocation
 * without bound. */
#define MB_LISTING_MAX (64u << 20)

/* Besides staying below the root, a remote name must not break a quoted
 * command (sftp's rename "a" "b", FTP's one-line commands). */
int mb_remote_name_is_safe(const char *name);

/* One line of an "ls -l" style listing (FTP LIST, SFTP long names).
 * Returns 1 and sets name (pointing into line) and size for a regular file,
 * 0 for anything else (directories, symbolic links: "l..."). */
int mb_parse_ls_line(char *line, char **name, uint64_t *size);
/* Calls each() for every regular file of a listing body whose name does
 * not begin with '.' (or, with hidden, only for those that do: temporary
 * files); names get prefix in front. */
int mb_list_ls_body(char *body, const char *prefix, int hidden, mb_list_fn each, void *ud,
                    struct mb_error *err);

/* A temporary name next to name: "dir/.base.partial-XXXXXX", or without
 * hidden "dir/base.partial-XXXXXX" (for servers that never list hidden
 * names, which would hide the leftovers of killed uploads for good). */
char *mb_remote_temp_name(const char *name, int hidden);

#endif
