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
#include "adapters.h"
#include "process.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Runs argv (after argv[0] the option file comes first, as the tools
 * demand); as a reader when mode is 'r', a writer when 'w', or to
 * completion with its output in out when 'c'. */
struct my_run {
    const struct flavour *fl;
    const struct mb_config *cfg;
    char mode;
    char *out;
    size_t cap;
    struct mb_reader *reader;
    struct mb_writer *writer;
};

static int my_spawn(struct my_run *run, const char *tool, struct mb_strv *args, struct mb_error *err)
{
    if (!tool) { /* mb_tool_path ran out of memory */
        mb_error_set(err, "out of memory");
        return -1;
    }
    char *options = option_file(run->cfg, err);
    if (!options)
        return -1;
    char *label = my_label(run->fl, run->cfg, tool);
    struct mb_strv argv = { 0 };
    mb_strv_push(&argv, tool);
    mb_strv_pushf(&argv, "--defaults-extra-file=%s", options);
    for (size_t i = 0; i < args->n; i++)
        mb_strv_push(&argv, args->v[i]);
    int rc = -1;
    if (argv.failed || args->failed || !label) {
        mb_error_set(err, "out of memory");
        unlink(options);
    } else {
        struct mb_command cmd = { .argv = (const char *const *)argv.v, .label = label, .remove_after = options };
        if (run->mode == 'r')
            rc = (run->reader = mb_spawn_reader(&cmd, err)) ? 0 : -1;
        else if (run->mode == 'w')
            rc = (run->writer = mb_spawn_writer(&cmd, err)) ? 0 : -1;
        else
            rc = mb_run_capture(&cmd, run->out, run->cap, err);
    }
    mb_strv_free(&argv);
    free(label);
    free(options);
    return rc;
}

static int my_query(const struct flavour *fl, const struct mb_config *cfg, const char *sql,
                    char *out, size_t cap, struct mb_error *err)
{
    char *client = mb_tool_path(cfg, fl->client, fl->client);
    struct mb_strv args = { 0 };
    mb_strv_push(&args, "--batch");
    mb_strv_push(&args, "--skip-column-names");
    mb_strv_push(&args, "--connect-timeout=10");
    mb_strv_push(&args, "-e");
    mb_strv_push(&args, sql);
    struct my_run run = { fl, cfg, 'c', out, cap, NULL, NULL };
    int rc = my_spawn(&run, client, &args, err);
    mb_strv_free(&args);
    free(client);
    return rc;
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
    char *tool = mb_tool_path(cfg, fl->dump, NULL);
    struct mb_strv args = { 0 };
    mb_strv_push(&args, "--single-transaction");
    mb_strv_push(&args, "--quick");
    mb_strv_push(&args, "--routines");
    mb_strv_push(&args, "--triggers");
    mb_strv_push(&args, "--hex-blob");
    mb_strv_push_lines(&args, mb_config_get(cfg, "extra_args"));
    if (all) {
        mb_strv_push(&args, "--all-databases");
    } else if (strchr(db, '\n')) {
        mb_strv_push(&args, "--databases");
        mb_strv_push_lines(&args, db);
    } else {
        mb_strv_push(&args, db); /* no CREATE DATABASE / USE: loads anywhere */
    }
    struct my_run run = { fl, cfg, 'r', NULL, 0, NULL, NULL };
    my_spawn(&run, tool, &args, err);
    if (run.reader) {
        mb_chomp(names);
        mb_config_set(&run.reader->meta, "engine_version", version);
        mb_config_set(&run.reader->meta, "databases", all ? names : db);
        mb_config_set(&run.reader->meta, "format", all || strchr(db, '\n') ? "databases" : "database");
    }
    mb_strv_free(&args);
    free(tool);
    return run.reader;
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
    char *client = mb_tool_path(cfg, fl->client, fl->client);
    struct mb_strv args = { 0 };
    if (one)
        mb_strv_push(&args, target);
    struct my_run run = { fl, cfg, 'w', NULL, 0, NULL, NULL };
    my_spawn(&run, client, &args, err);
    mb_strv_free(&args);
    free(client);
    return run.writer;
}

/* One implementation for both: each type's data is its flavour. */
static const struct flavour *flavour_of(const struct mb_config *cfg)
{
    return mb_source_data(cfg);
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

static const struct mb_option my_options[] = {
    { "host", MB_OPTION_STRING, 0, NULL, 0, "the server's host name or address (default: the client's, localhost)" },
    { "port", MB_OPTION_INTEGER, 0, "3306", 0, "the server's port" },
    { "user", MB_OPTION_STRING, 0, NULL, 0, "the user to connect as" },
    { "password", MB_OPTION_STRING, 0, NULL, 1, "its password, passed to the tools in a private option file" },
    { "database", MB_OPTION_STRING_OR_STRINGS, 0, "*", 0, "a database, a list of them, or \"*\": every database" },
    { "socket", MB_OPTION_STRING, 0, NULL, 0, "the server's socket file (instead of host)" },
    { "tls", MB_OPTION_BOOLEAN, 0, "false", 0, "require TLS and verify the server's certificate" },
    { "extra_args", MB_OPTION_STRINGS, 0, NULL, 0, "appended to the dump tool's arguments (no references: arguments are public)" },
    { "tool", MB_OPTION_STRING, 0, NULL, 0, "the dump tool's path, when it is not on PATH (the client is looked for beside it)" },
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
    .data = &mysql,
};
