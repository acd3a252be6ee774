/* mongodb.c — mongodump --archive and mongorestore --archive.
 *
 * Secrets (the password, and the uri, which may embed one) go into a
 * private YAML file passed with --config and deleted once the tool has
 * exited.  Debian ships neither MongoDB nor its tools, so this adapter is
 * tested only where mongod and the database tools are installed.
 * Options: uri, or host, port, user, password, database, auth_database, tls;
 * extra_args; tool (mongodump's path); temp_dir. */
#include "adapters.h"
#include "process.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *secret_config(const struct mb_config *cfg, struct mb_error *err)
{
    static const char *const keys[] = { "uri", "password", NULL };
    return mb_option_file(cfg, NULL, keys, ": ", NULL, err); /* YAML */
}

static void connection_args(const struct mb_config *cfg, struct mb_strv *argv)
{
    static const char *const flags[][2] = {
        { "host", "--host=%s" }, { "port", "--port=%s" }, { "user", "--username=%s" },
        { "auth_database", "--authenticationDatabase=%s" },
    };
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        if (mb_config_get(cfg, flags[i][0]))
            mb_strv_pushf(argv, flags[i][1], mb_config_get(cfg, flags[i][0]));
    const char *tls = mb_config_get(cfg, "tls");
    if (tls && strcmp(tls, "true") == 0)
        mb_strv_push(argv, "--ssl");
}

/* Runs mongodump or mongorestore; as a reader, a writer, or to the end. */
static int mongo_run(const struct mb_config *cfg, const char *tool, struct mb_strv *args, char mode,
                     struct mb_reader **reader, struct mb_writer **writer, struct mb_error *err)
{
    if (!tool) { /* mb_tool_path ran out of memory */
        mb_error_set(err, "out of memory");
        return -1;
    }
    char *config = secret_config(cfg, err);
    if (!config)
        return -1;
    struct mb_strv argv = { 0 };
    mb_strv_push(&argv, tool);
    mb_strv_pushf(&argv, "--config=%s", config);
    connection_args(cfg, &argv);
    for (size_t i = 0; i < args->n; i++)
        mb_strv_push(&argv, args->v[i]);
    char *label = mb_strdup_printf("mongodb %s (%s)", mb_config_get(cfg, "host") ? mb_config_get(cfg, "host")
                                   : mb_config_get(cfg, "uri") ? "uri" : "localhost", tool);
    int rc = -1;
    if (argv.failed || args->failed || !label) {
        mb_error_set(err, "out of memory");
        unlink(config);
    } else {
        struct mb_command cmd = { .argv = (const char *const *)argv.v, .label = label, .remove_after = config };
        char ignored[1024];
        if (mode == 'r')
            rc = (*reader = mb_spawn_reader(&cmd, err)) ? 0 : -1;
        else if (mode == 'w')
            rc = (*writer = mb_spawn_writer(&cmd, err)) ? 0 : -1;
        else
            rc = mb_run_capture(&cmd, ignored, sizeof ignored, err);
    }
    mb_strv_free(&argv);
    free(label);
    free(config);
    return rc;
}

/* A real round trip to the server (connection and credentials): dump one
 * collection that need not exist into nowhere. */
static int mongo_check(const struct mb_config *cfg, struct mb_error *err)
{
    char *tool = mb_tool_path(cfg, "mongodump", NULL);
    struct mb_strv args = { 0 };
    const char *db = mb_config_get(cfg, "database");
    mb_strv_push(&args, "--quiet");
    mb_strv_pushf(&args, "--db=%s", db ? db : "admin");
    mb_strv_push(&args, "--collection=moonbak-connection-check");
    mb_strv_push(&args, "--archive=/dev/null");
    int rc = mongo_run(cfg, tool, &args, 'c', NULL, NULL, err);
    mb_strv_free(&args);
    free(tool);
    return rc;
}

static struct mb_reader *mongo_open(const struct mb_config *cfg, struct mb_error *err)
{
    char *tool = mb_tool_path(cfg, "mongodump", NULL);
    struct mb_strv args = { 0 };
    const char *db = mb_config_get(cfg, "database");
    if (db)
        mb_strv_pushf(&args, "--db=%s", db);
    mb_strv_push(&args, "--archive");
    mb_strv_push_lines(&args, mb_config_get(cfg, "extra_args"));
    struct mb_reader *r = NULL;
    mongo_run(cfg, tool, &args, 'r', &r, NULL, err);
    if (r)
        mb_config_set(&r->meta, "databases", db ? db : "*");
    mb_strv_free(&args);
    free(tool);
    return r;
}

static struct mb_writer *mongo_restore(const struct mb_config *cfg, const char *target, int create,
                                       struct mb_error *err)
{
    (void)create; /* mongorestore creates what it loads */
    const char *db = mb_config_get(cfg, "database");
    if (target && !db) {
        mb_error_set(err, "a backup of every database restores the databases it names; --to cannot rename them");
        return NULL;
    }
    char *tool = mb_tool_path(cfg, "mongorestore", "mongorestore");
    struct mb_strv args = { 0 };
    mb_strv_push(&args, "--archive");
    if (target && strcmp(target, db) != 0) {
        mb_strv_pushf(&args, "--nsFrom=%s.*", db);
        mb_strv_pushf(&args, "--nsTo=%s.*", target);
    }
    struct mb_writer *w = NULL;
    mongo_run(cfg, tool, &args, 'w', NULL, &w, err);
    mb_strv_free(&args);
    free(tool);
    return w;
}

static const struct mb_option mongo_options[] = {
    { "uri", MB_OPTION_STRING, 0, NULL, 1, "a connection string, instead of host, port, user and password (it may hold the password)" },
    { "host", MB_OPTION_STRING, 0, NULL, 0, "the server's host name or address (default: the tools', localhost)" },
    { "port", MB_OPTION_INTEGER, 0, "27017", 0, "the server's port" },
    { "user", MB_OPTION_STRING, 0, NULL, 0, "the user to authenticate as" },
    { "password", MB_OPTION_STRING, 0, NULL, 1, "its password, passed to the tools in a private file" },
    { "database", MB_OPTION_STRING, 0, NULL, 0, "the database to dump (default: every database)" },
    { "auth_database", MB_OPTION_STRING, 0, NULL, 0, "the database to authenticate against" },
    { "socket", MB_OPTION_STRING, 0, NULL, 0, "accepted and not used" },
    { "tls", MB_OPTION_BOOLEAN, 0, "false", 0, "connect with TLS (--ssl)" },
    { "extra_args", MB_OPTION_STRINGS, 0, NULL, 0, "appended to mongodump's arguments (no references: arguments are public)" },
    { "tool", MB_OPTION_STRING, 0, NULL, 0, "mongodump's path, when it is not on PATH (mongorestore is looked for beside it)" },
    { NULL },
};

const struct mb_source_ops mb_source_mongodb = {
    .version = MB_SOURCE_OPS_VERSION,
    .type = "mongodb",
    .check = mongo_check,
    .open = mongo_open,
    .restore = mongo_restore,
    .options = mongo_options,
    .extension = "archive",
};
