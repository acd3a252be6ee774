/* postgres.c — PostgreSQL through its own tools: pg_dump (plain SQL, or
 * custom format), pg_dumpall for every database; psql / pg_restore to load.
 *
 * Connection settings reach the tools through libpq's environment
 * (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGSSLMODE): the password is never
 * on a command line.  Options: host, port, user, password, database ("*":
 * all), format ("plain" | "custom"), socket (a directory), sslmode,
 * extra_args (appended to the dump tool's arguments), tool (pg_dump's path). */
#include "dbtool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSION_QUERY "SELECT current_setting('server_version')"
#define DATABASES_QUERY "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1"

static int all_databases(const struct mb_config *cfg)
{
    const char *db = mb_config_get(cfg, "database");
    return db && strcmp(db, "*") == 0;
}

/* libpq's environment for the tools; dbname overrides the job's database. */
static void pg_environment(const struct mb_config *cfg, const char *dbname, struct mb_strv *env)
{
    const char *host = mb_config_get(cfg, "socket");
    if (!host)
        host = mb_config_get(cfg, "host");
    if (host)
        mb_strv_pushf(env, "PGHOST=%s", host);
    if (mb_config_get(cfg, "port"))
        mb_strv_pushf(env, "PGPORT=%s", mb_config_get(cfg, "port"));
    if (mb_config_get(cfg, "user"))
        mb_strv_pushf(env, "PGUSER=%s", mb_config_get(cfg, "user"));
    if (mb_config_get(cfg, "password"))
        mb_strv_pushf(env, "PGPASSWORD=%s", mb_config_get(cfg, "password"));
    if (mb_config_get(cfg, "sslmode"))
        mb_strv_pushf(env, "PGSSLMODE=%s", mb_config_get(cfg, "sslmode"));
    if (dbname)
        mb_strv_pushf(env, "PGDATABASE=%s", dbname);
    mb_strv_push(env, "PGCONNECT_TIMEOUT=10");
    mb_strv_push(env, "PGAPPNAME=moonbak");
}

/* Where messages say we connected: never the password. */
static char *pg_label(const struct mb_config *cfg, const char *tool)
{
    const char *host = mb_config_get(cfg, "socket");
    if (!host)
        host = mb_config_get(cfg, "host");
    const char *port = mb_config_get(cfg, "port");
    return mb_strdup_printf("postgres %s%s%s (%s)", host ? host : "localhost", port ? ":" : "",
                            port ? port : "", tool);
}

/* Runs one query with psql; its single-column result into out. */
static int pg_query(const struct mb_config *cfg, const char *dbname, const char *sql, char *out,
                    size_t cap, struct mb_error *err)
{
    struct mb_dbtool t = { .tool = mb_tool_path(cfg, "psql", "psql"), .label = pg_label(cfg, "psql") };
    mb_strv_push(&t.args, "-X");
    mb_strv_push(&t.args, "-w");
    mb_strv_push(&t.args, "-A");
    mb_strv_push(&t.args, "-t");
    mb_strv_push(&t.args, "-c");
    mb_strv_push(&t.args, sql);
    pg_environment(cfg, dbname, &t.env);
    return mb_dbtool_capture(&t, out, cap, err);
}

static const char *check_database(const struct mb_config *cfg)
{
    const char *db = mb_config_get(cfg, "database");
    return !db || strcmp(db, "*") == 0 ? "postgres" : db;
}

static int pg_check(const struct mb_config *cfg, struct mb_error *err)
{
    char version[128];
    return pg_query(cfg, check_database(cfg), VERSION_QUERY, version, sizeof version, err);
}

/* Engine version and the databases the dump will hold, into meta. */
static int pg_describe(const struct mb_config *cfg, struct mb_config *meta, struct mb_error *err)
{
    char version[128], names[8192];
    const char *db = check_database(cfg);
    if (pg_query(cfg, db, VERSION_QUERY, version, sizeof version, err) != 0)
        return -1;
    mb_chomp(version);
    if (all_databases(cfg) && pg_query(cfg, db, DATABASES_QUERY, names, sizeof names, err) != 0)
        return -1;
    if (!all_databases(cfg))
        snprintf(names, sizeof names, "%s", db);
    mb_chomp(names);
    mb_config_set(meta, "engine_version", version);
    mb_config_set(meta, "databases", names);
    const char *format = mb_config_get(cfg, "format");
    mb_config_set(meta, "format", !all_databases(cfg) && format ? format : "plain");
    return 0;
}

static struct mb_reader *pg_open(const struct mb_config *cfg, struct mb_error *err)
{
    struct mb_config meta = { 0 };
    if (pg_describe(cfg, &meta, err) != 0) {
        mb_config_free(&meta);
        return NULL;
    }
    int all = all_databases(cfg);
    const char *format = mb_config_get(cfg, "format");
    struct mb_dbtool t = { .tool = mb_tool_path(cfg, all ? "pg_dumpall" : "pg_dump", all ? "pg_dumpall" : NULL),
                           .label = pg_label(cfg, all ? "pg_dumpall" : "pg_dump") };
    mb_strv_push(&t.args, "--no-password");
    if (!all && format && strcmp(format, "custom") == 0)
        mb_strv_push(&t.args, "--format=custom");
    mb_strv_push_lines(&t.args, mb_config_get(cfg, "extra_args"));
    if (!all)
        mb_strv_push(&t.args, check_database(cfg));
    pg_environment(cfg, NULL, &t.env);
    struct mb_reader *r = mb_dbtool_reader(&t, err);
    for (size_t i = 0; r && i < meta.count; i++)
        mb_config_set(&r->meta, meta.items[i].key, meta.items[i].value);
    mb_config_free(&meta);
    return r;
}

static int pg_create_database(const struct mb_config *cfg, const char *target, struct mb_error *err)
{
    char *quoted = mb_quote_identifier(target, '"');
    char *sql = quoted ? mb_strdup_printf("CREATE DATABASE %s", quoted) : NULL;
    char ignored[256];
    int rc = sql ? pg_query(cfg, "postgres", sql, ignored, sizeof ignored, err) : -1;
    if (!sql)
        mb_error_set(err, "out of memory");
    free(sql);
    free(quoted);
    return rc;
}

/* psql for plain dumps, pg_restore for custom ones; a pg_dumpall dump
 * names its databases itself and loads through the "postgres" database. */
static struct mb_writer *pg_restore(const struct mb_config *cfg, const char *target, int create,
                                    struct mb_error *err)
{
    int all = all_databases(cfg);
    const char *format = mb_config_get(cfg, "format");
    int custom = !all && format && strcmp(format, "custom") == 0;
    if (all && target) {
        mb_error_set(err, "an all-databases backup restores the databases it names; --to cannot rename them");
        return NULL;
    }
    if (!target || all)
        target = all ? "postgres" : check_database(cfg);
    if (create && !all && pg_create_database(cfg, target, err) != 0)
        return NULL;
    struct mb_dbtool t = { .tool = mb_tool_path(cfg, custom ? "pg_restore" : "psql", custom ? "pg_restore" : "psql"),
                           .label = pg_label(cfg, custom ? "pg_restore" : "psql") };
    mb_strv_push(&t.args, "--no-password");
    if (custom) {
        mb_strv_push(&t.args, "--exit-on-error");
        mb_strv_push(&t.args, "--no-owner");
        mb_strv_pushf(&t.args, "--dbname=%s", target);
    } else {
        mb_strv_push(&t.args, "-X");
        mb_strv_push(&t.args, "-q");
        /* A pg_dumpall script re-creates roles that a new server already
         * has (at least the one we connect as): as PostgreSQL's own docs
         * say, those errors are expected there, so only a single-database
         * load stops at the first error. */
        if (!all) {
            mb_strv_push(&t.args, "-v");
            mb_strv_push(&t.args, "ON_ERROR_STOP=1");
        }
    }
    pg_environment(cfg, target, &t.env);
    return mb_dbtool_writer(&t, err);
}

/* ---- restore drills ------------------------------------------------------ */

/* The first field of the first record of psql's unaligned output with
 * these separators (rare in data, unlike "|" and newlines). */
#define FIELD_SEPARATOR "\x1f"
#define RECORD_SEPARATOR "\x1e"

/* Fills t with a psql run of sql (stopping at its first error) on dbname. */
static void pg_psql(struct mb_dbtool *t, const struct mb_config *cfg, const char *dbname,
                    const char *sql)
{
    *t = (struct mb_dbtool){ .tool = mb_tool_path(cfg, "psql", "psql"), .label = pg_label(cfg, "psql") };
    /* terse: the error is the last line (no LINE 1 / caret lines after it) */
    static const char *const args[] = { "-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=terse",
                                        "-P", "null=NULL", "-F", FIELD_SEPARATOR,
                                        "-R", RECORD_SEPARATOR, "-c", NULL };
    for (size_t i = 0; args[i]; i++)
        mb_strv_push(&t->args, args[i]);
    mb_strv_push(&t->args, sql);
    pg_environment(cfg, dbname, &t->env);
}

static int pg_first_value(const struct mb_config *cfg, const char *database,
                          const char *const *query, char *out, size_t cap, struct mb_error *err)
{
    if (!query || !query[0]) {
        mb_error_set(err, "postgres: no query");
        return -1;
    }
    struct mb_dbtool t;
    pg_psql(&t, cfg, database ? database : check_database(cfg), query[0]);
    if (mb_dbtool_capture(&t, out, cap, err) != 0)
        return -1;
    if (!*out) /* no row: psql prints nothing at all (a row of "" prints its newline) */
        return 1;
    out[strcspn(out, FIELD_SEPARATOR RECORD_SEPARATOR "\n")] = '\0';
    return 0;
}

/* WITH (FORCE) (PostgreSQL 13) ends the sessions still connected to it:
 * a drill's own check may have left one. */
static int pg_drop_database(const struct mb_config *cfg, const char *name, struct mb_error *err)
{
    char *quoted = mb_quote_identifier(name, '"');
    char *sql = quoted ? mb_strdup_printf("DROP DATABASE IF EXISTS %s WITH (FORCE)", quoted) : NULL;
    char ignored[256];
    struct mb_dbtool t;
    int rc = -1;
    if (sql) {
        pg_psql(&t, cfg, "postgres", sql);
        rc = mb_dbtool_capture(&t, ignored, sizeof ignored, err);
    } else {
        mb_error_set(err, "out of memory");
    }
    free(sql);
    free(quoted);
    return rc;
}

/* A prefix that needs no quoting in a SQL string. */
static int plain_prefix(const char *prefix, struct mb_error *err)
{
    if (prefix && strspn(prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
                      == strlen(prefix))
        return 0;
    mb_error_set(err, "a database name prefix takes letters, digits and _ only");
    return -1;
}

static char *pg_list_databases(const struct mb_config *cfg, const char *prefix, struct mb_error *err)
{
    if (plain_prefix(prefix, err) != 0)
        return NULL;
    char *sql = mb_strdup_printf("SELECT datname FROM pg_database WHERE left(datname, %zu) = '%s' ORDER BY 1",
                                 strlen(prefix), prefix);
    size_t cap = 65536;
    char *out = sql ? malloc(cap) : NULL;
    if (!out) {
        free(sql);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    int rc = pg_query(cfg, "postgres", sql, out, cap, err);
    free(sql);
    if (rc != 0) {
        free(out);
        return NULL;
    }
    mb_chomp(out);
    return out;
}

/* pg_dump's custom format is no SQL text. */
static const char *pg_extension(const struct mb_config *cfg)
{
    const char *format = mb_config_get(cfg, "format");
    return format && strcmp(format, "custom") == 0 ? "dump" : NULL;
}

static const struct mb_option pg_options[] = {
    { "host", MB_OPTION_STRING, 0, NULL, 0, .help = "the server's host name or address (default: libpq's, the local socket)" },
    { "port", MB_OPTION_INTEGER, 0, NULL, 0, .help = "the server's port (default: libpq's, $PGPORT, else 5432)", MB_OPTION_PORT },
    { "user", MB_OPTION_STRING, 0, NULL, 0, .help = "the role to connect as (default: libpq's, the system user)" },
    { "password", MB_OPTION_STRING, 0, NULL, 1, .help = "its password, passed to the tools as PGPASSWORD" },
    { "database", MB_OPTION_STRING, 0, NULL, 0, .help = "the database to dump; \"*\": every database (pg_dumpall)" },
    { "format", MB_OPTION_STRING, 0, "plain", 0, .help = "\"plain\" (SQL text) or \"custom\" (pg_dump -Fc, loaded with pg_restore)",
      MB_OPTION_CHOICES("plain", "custom") },
    { "socket", MB_OPTION_STRING, 0, NULL, 0, .help = "the directory of the server's socket (instead of host)" },
    { "sslmode", MB_OPTION_STRING, 0, NULL, 0, .help = "libpq's sslmode: disable, require, verify-ca, verify-full ..." },
    { "extra_args", MB_OPTION_STRINGS, 0, NULL, 0, .help = "appended to pg_dump's arguments (no references: arguments are public)" },
    { "tool", MB_OPTION_STRING, 0, NULL, 0, .help = "pg_dump's path, when it is not on PATH (psql and pg_restore are looked for beside it)" },
    { NULL },
};

const struct mb_source_ops mb_source_postgres = {
    .version = MB_SOURCE_OPS_VERSION,
    .type = "postgres",
    .check = pg_check,
    .open = pg_open,
    .restore = pg_restore,
    .options = pg_options,
    .extension = "sql",
    .extension_for = pg_extension,
    .query = pg_first_value,
    .drop_database = pg_drop_database,
    .list_databases = pg_list_databases,
};
