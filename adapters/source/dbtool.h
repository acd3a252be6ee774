/* dbtool.h — what the database sources share (adapters/source/dbtool.c). */
#ifndef MB_DBTOOL_H
#define MB_DBTOOL_H

#include "mb.h"

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

#endif
