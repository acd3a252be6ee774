/* mysql.c — MySQL and MariaDB through mariadb-dump / mysqldump and the
 * matching client.
 *
 * Credentials go into a private option file (mode 0600, in the run's
 * temporary directory) passed as --defaults-extra-file and deleted as soon
 * as the tool has exited: the password is never on a command line.
 * --single-transaction gives a consistent snapshot of InnoDB tables.
 * Options: host, port, user, password, database (a name, a list, or "*"),
 * socket, tls (require TLS and verify the server's certificate),
 * extra_args, tool (the dump tool's path), temp_dir. */
#include "dbtool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct flavour {
    const char *type, *dump, *client;
};

static const struct flavour mariadb = { "mariadb", "mariadb-dump", "mariadb" };
static const struct flavour mysql = { "mysql", "mysqldump", "mysql" };

static char *option_file(const struct mb_config *cfg, struct mb_error *err)
{
    static const char *const keys[] = { "user", "password", "host", "port", "socket", NULL };
    const char *tls = mb_config_get(cfg, "tls");
    int require_tls = tls && strcmp(tls, "true") == 0;
    return mb_option_file(cfg, "[client]\n", keys, "=", /* TLS required and verified */
                          require_tls ? "ssl=1\nssl-verify-server-cert=1\n" : NULL, err);
}

static char *my_label(const struct flavour *fl, const struct mb_config *cfg, const char *tool)
{
    const char *host = mb_config_get(cfg, "socket");
    if (!host)
        host = mb_config_get(cfg, "host");
    const char *port = mb_config_get(cfg, "port");
    return mb_strdup_printf("%s %s%s%s (%s)", fl->type, host ? host : "localhost", port ? ":" : "",
                            port ? port : "", tool);
}

/* The client or dump tool at tool, with the option file first. */
static struct mb_dbtool my_tool(const struct flavour *fl, const struct mb_config *cfg, char *tool)
{
    return (struct mb_dbtool){ .tool = tool, .label = tool ? my_label(fl, cfg, tool) : NULL,
                               .option_file = option_file,
                               .option_flag = "--defaults-extra-file=", .cfg = cfg };
}

static int my_query(const struct flavour *fl, const struct mb_config *cfg, const char *sql,
                    char *out, size_t cap, struct mb_error *err)
{
    struct mb_dbtool t = my_tool(fl, cfg, mb_tool_path(cfg, fl->client, fl->client));
    mb_strv_push(&t.args, "--batch");
    mb_strv_push(&t.args, "--skip-column-names");
    mb_strv_push(&t.args, "--connect-timeout=10");
    mb_strv_push(&t.args, "-e");
    mb_strv_push(&t.args, sql);
    return mb_dbtool_capture(&t, out, cap, err);
}

static int my_check(const struct flavour *fl, const struct mb_config *cfg, struct mb_error *err)
{
    char version[128];
    if (my_query(fl, cfg, "SELECT VERSION()", version, sizeof version, err) != 0)
        return -1;
    /* An unknown database fails here, not half-way through a dump. */
    const char *db = mb_config_get(cfg, "database");
    if (!db || strcmp(db, "*") == 0)
        return 0;
    struct mb_strv names = { 0 };
    mb_strv_push_lines(&names, db);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        char *quoted = mb_quote_identifier(names.v[i], '`');
        char *sql = quoted ? mb_strdup_printf("USE %s", quoted) : NULL;
        rc = sql ? my_query(fl, cfg, sql, version, sizeof version, err) : -1;
        free(sql);
        free(quoted);
    }
    mb_strv_free(&names);
    return rc;
}

/* What --all-databases dumps: every schema but the two virtual ones. */
#define ALL_DATABASES_SQL                                                   \
    "SELECT schema_name FROM information_schema.schemata WHERE schema_name" \
    " NOT IN ('information_schema', 'performance_schema') ORDER BY 1"

static struct mb_reader *my_open(const struct flavour *fl, const struct mb_config *cfg,
                                 struct mb_error *err)
{
    char version[128], names[8192] = "";
    const char *db = mb_config_get(cfg, "database");
    int all = !db || strcmp(db, "*") == 0;
    if (my_query(fl, cfg, "SELECT VERSION()", version, sizeof version, err) != 0
        || (all && my_query(fl, cfg, ALL_DATABASES_SQL, names, sizeof names, err) != 0))
        return NULL;
    mb_chomp(version);
    struct mb_dbtool t = my_tool(fl, cfg, mb_tool_path(cfg, fl->dump, NULL));
    mb_strv_push(&t.args, "--single-transaction");
    mb_strv_push(&t.args, "--quick");
    mb_strv_push(&t.args, "--routines");
    mb_strv_push(&t.args, "--triggers");
    mb_strv_push(&t.args, "--hex-blob");
    mb_strv_push_lines(&t.args, mb_config_get(cfg, "extra_args"));
    if (all) {
        mb_strv_push(&t.args, "--all-databases");
    } else if (strchr(db, '\n')) {
        mb_strv_push(&t.args, "--databases");
        mb_strv_push_lines(&t.args, db);
    } else {
        mb_strv_push(&t.args, db); /* no CREATE DATABASE / USE: loads anywhere */
    }
    struct mb_reader *r = mb_dbtool_reader(&t, err);
    if (r) {
        mb_chomp(names);
        mb_config_set(&r->meta, "engine_version", version);
        mb_config_set(&r->meta, "databases", all ? names : db);
        mb_config_set(&r->meta, "format", all || strchr(db, '\n') ? "databases" : "database");
    }
    return r;
}

static struct mb_writer *my_restore(const struct flavour *fl, const struct mb_config *cfg,
                                    const char *target, int create, struct mb_error *err)
{
    const char *db = mb_config_get(cfg, "database");
    int one = db && strcmp(db, "*") != 0 && !strchr(db, '\n');
    if (!one && target) {
        mb_error_set(err, "a backup of several databases restores the databases it names; --to cannot rename them");
        return NULL;
    }
    if (one && !target)
        target = db;
    char scratch[256];
    char *quoted = one ? mb_quote_identifier(target, '`') : NULL;
    char *sql = quoted ? mb_strdup_printf("CREATE DATABASE %s", quoted) : NULL;
    int rc = one && create ? (sql ? my_query(fl, cfg, sql, scratch, sizeof scratch, err) : -1) : 0;
    free(sql);
    free(quoted);
    if (rc != 0)
        return NULL;
    struct mb_dbtool t = my_tool(fl, cfg, mb_tool_path(cfg, fl->client, fl->client));
    if (one)
        mb_strv_push(&t.args, target);
    return mb_dbtool_writer(&t, err);
}

/* ---- restore drills ------------------------------------------------------ */

/* Batch mode escapes tabs, newlines and backslashes in values: undone in
 * place. */
static void unescape_batch_value(char *s)
{
    char *out = s;
    for (; *s; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            *out++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s == '0' ? '\0' : *s;
            if (out[-1] == '\0')
                break;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

static int my_first_value(const struct flavour *fl, const struct mb_config *cfg,
                          const char *database, const char *const *query, char *out, size_t cap,
                          struct mb_error *err)
{
    if (!query || !query[0]) {
        mb_error_set(err, "%s: no query", fl->type);
        return -1;
    }
    struct mb_dbtool t = my_tool(fl, cfg, mb_tool_path(cfg, fl->client, fl->client));
    mb_strv_push(&t.args, "--batch");
    mb_strv_push(&t.args, "--skip-column-names");
    mb_strv_push(&t.args, "--connect-timeout=10");
    mb_strv_push(&t.args, "-e");
    mb_strv_push(&t.args, query[0]);
    if (database)
        mb_strv_pushf(&t.args, "--database=%s", database);
    if (mb_dbtool_capture(&t, out, cap, err) != 0)
        return -1;
    if (!*out) /* no row (a row of "" prints its newline) */
        return 1;
    out[strcspn(out, "\t\n")] = '\0';
    unescape_batch_value(out);
    return 0;
}

static int my_drop_database(const struct flavour *fl, const struct mb_config *cfg,
                            const char *name, struct mb_error *err)
{
    char *quoted = mb_quote_identifier(name, '`');
    char *sql = quoted ? mb_strdup_printf("DROP DATABASE IF EXISTS %s", quoted) : NULL;
    char ignored[256];
    int rc = sql ? my_query(fl, cfg, sql, ignored, sizeof ignored, err) : -1;
    if (!sql)
        mb_error_set(err, "out of memory");
    free(sql);
    free(quoted);
    return rc;
}

static char *my_list_databases(const struct flavour *fl, const struct mb_config *cfg,
                               const char *prefix, struct mb_error *err)
{
    if (!prefix || strspn(prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
                       != strlen(prefix)) {
        mb_error_set(err, "a database name prefix takes letters, digits and _ only");
        return NULL;
    }
    char *sql = mb_strdup_printf("SELECT schema_name FROM information_schema.schemata"
                                 " WHERE LEFT(schema_name, %zu) = '%s' ORDER BY 1",
                                 strlen(prefix), prefix);
    size_t cap = 65536;
    char *out = sql ? malloc(cap) : NULL;
    if (!out) {
        free(sql);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    int rc = my_query(fl, cfg, sql, out, cap, err);
    free(sql);
    if (rc != 0) {
        free(out);
        return NULL;
    }
    mb_chomp(out);
    return out;
}

/* One implementation for both: each type's data is its flavour. */
static const struct flavour *flavour_of(const struct mb_config *cfg)
{
    return cfg->adapter_data;
}

static int flavour_check(const struct mb_config *cfg, struct mb_error *err)
{
    return my_check(flavour_of(cfg), cfg, err);
}

static struct mb_reader *flavour_open(const struct mb_config *cfg, struct mb_error *err)
{
    return my_open(flavour_of(cfg), cfg, err);
}

static struct mb_writer *flavour_restore(const struct mb_config *cfg, const char *target, int create,
                                         struct mb_error *err)
{
    return my_restore(flavour_of(cfg), cfg, target, create, err);
}

static int flavour_query(const struct mb_config *cfg, const char *database,
                         const char *const *query, char *out, size_t cap, struct mb_error *err)
{
    return my_first_value(flavour_of(cfg), cfg, database, query, out, cap, err);
}

static int flavour_drop_database(const struct mb_config *cfg, const char *name, struct mb_error *err)
{
    return my_drop_database(flavour_of(cfg), cfg, name, err);
}

static char *flavour_list_databases(const struct mb_config *cfg, const char *prefix,
                                    struct mb_error *err)
{
    return my_list_databases(flavour_of(cfg), cfg, prefix, err);
}

static const struct mb_option my_options[] = {
    { "host", MB_OPTION_STRING, 0, NULL, 0, .help = "the server's host name or address (default: the client's, localhost)" },
    { "port", MB_OPTION_INTEGER, 0, NULL, 0, .help = "the server's port (default: the client's, 3306)", MB_OPTION_PORT },
    { "user", MB_OPTION_STRING, 0, NULL, 0, .help = "the user to connect as" },
    { "password", MB_OPTION_STRING, 0, NULL, 1, .help = "its password, passed to the tools in a private option file" },
    { "database", MB_OPTION_STRING_OR_STRINGS, 0, "*", 0, .help = "a database, a list of them, or \"*\": every database" },
    { "socket", MB_OPTION_STRING, 0, NULL, 0, .help = "the server's socket file (instead of host)" },
    { "tls", MB_OPTION_BOOLEAN, 0, "false", 0, .help = "require TLS and verify the server's certificate" },
    { "extra_args", MB_OPTION_STRINGS, 0, NULL, 0, .help = "appended to the dump tool's arguments (no references: arguments are public)" },
    { "tool", MB_OPTION_STRING, 0, NULL, 0, .help = "the dump tool's path, when it is not on PATH (the client is looked for beside it)" },
    { NULL },
};

const struct mb_source_ops mb_source_mariadb = {
    .version = MB_SOURCE_OPS_VERSION,
    .type = "mariadb",
    .check = flavour_check,
    .open = flavour_open,
    .restore = flavour_restore,
    .options = my_options,
    .extension = "sql",
    .query = flavour_query,
    .drop_database = flavour_drop_database,
    .list_databases = flavour_list_databases,
    .data = &mariadb,
};

const struct mb_source_ops mb_source_mysql = {
    .version = MB_SOURCE_OPS_VERSION,
    .type = "mysql",
    .check = flavour_check,
    .open = flavour_open,
    .restore = flavour_restore,
    .options = my_options,
    .extension = "sql",
    .query = flavour_query,
    .drop_database = flavour_drop_database,
    .list_databases = flavour_list_databases,
    .data = &mysql,
};
