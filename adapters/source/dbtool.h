/* dbtool.h — running a database's own tool (pg_dump, mariadb, mongodump,
 * redis-cli ...) for an adapter, and the small helpers the database
 * sources share (adapters/source/dbtool.c).
 *
 * An adapter describes the run in a struct mb_dbtool: the program, a label
 * for messages, its arguments and environment, and optionally a private
 * option file holding the secrets.  One call starts it as a reader (a
 * dump), a writer (a restore) or runs it to the end with its output
 * captured (a query, a connection check), then frees what the struct
 * holds, whether the tool could start or not.  The option file is written
 * just before the start, named right after argv[0] (as MySQL's tools
 * demand) and deleted once the tool has exited, or at once when it cannot
 * start.  Spawning, stderr and the exit check are src/process.c's. */
#ifndef MB_DBTOOL_H
#define MB_DBTOOL_H

#include "adapters.h"
#include "process.h"

struct mb_dbtool {
    char *tool;          /* argv[0], from mb_tool_path; NULL: it ran out of memory */
    char *label;         /* names the tool in messages, never a secret; NULL: out of memory */
    struct mb_strv args; /* after argv[0] (and the option file) */
    struct mb_strv env;  /* extra "NAME=value" entries (a password: never in args) */
    /* Optional: writes the option file (mb_option_file) for cfg and
     * returns its path, which option_flag ("--defaults-extra-file=")
     * precedes as the first argument. */
    char *(*option_file)(const struct mb_config *cfg, struct mb_error *err);
    const char *option_flag;
    const struct mb_config *cfg;
    int merge_stderr; /* the tool's stderr joins its stdout (capture and reader only) */
};

/* Each frees t's tool, label, args and env before returning. */
struct mb_reader *mb_dbtool_reader(struct mb_dbtool *t, struct mb_error *err);
struct mb_writer *mb_dbtool_writer(struct mb_dbtool *t, struct mb_error *err);
/* Runs to completion; stdout into out (truncated to cap - 1, NUL-ended). */
int mb_dbtool_capture(struct mb_dbtool *t, char *out, size_t cap, struct mb_error *err);

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
