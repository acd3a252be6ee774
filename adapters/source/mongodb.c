/* mongodb.c — mongodump --archive and mongorestore --archive.
 *
 * Secrets (the password, and the uri, which may embed one) go into a
 * private YAML file passed with --config and deleted once the tool has
 * exited.  Debian ships neither MongoDB nor its tools, so this adapter is
 * tested only where mongod and the database tools are installed.
 * Options: uri, or host, port, user, password, database, auth_database, tls;
 * extra_args; tool (mongodump's path); temp_dir. */
#include "dbtool.h"

#include <string.h>

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

/* mongodump or mongorestore at tool, with the secrets' file and the
 * connection options first. */
static struct mb_dbtool mongo_tool(const struct mb_config *cfg, char *tool)
{
    const char *where = mb_config_get(cfg, "host") ? mb_config_get(cfg, "host")
                        : mb_config_get(cfg, "uri") ? "uri" : "localhost";
    struct mb_dbtool t = { .tool = tool, .label = tool ? mb_strdup_printf("mongodb %s (%s)", where, tool) : NULL,
                           .option_file = secret_config, .option_flag = "--config=", .cfg = cfg };
    connection_args(cfg, &t.args);
    return t;
}

/* A real round trip to the server (connection and credentials): dump one
 * collection that need not exist into nowhere. */
static int mongo_check(const struct mb_config *cfg, struct mb_error *err)
{
    struct mb_dbtool t = mongo_tool(cfg, mb_tool_path(cfg, "mongodump", NULL));
    const char *db = mb_config_get(cfg, "database");
    mb_strv_push(&t.args, "--quiet");
    mb_strv_pushf(&t.args, "--db=%s", db ? db : "admin");
    mb_strv_push(&t.args, "--collection=moonbak-connection-check");
    mb_strv_push(&t.args, "--archive=/dev/null");
    char ignored[1024];
    return mb_dbtool_capture(&t, ignored, sizeof ignored, err);
}

static struct mb_reader *mongo_open(const struct mb_config *cfg, struct mb_error *err)
{
    struct mb_dbtool t = mongo_tool(cfg, mb_tool_path(cfg, "mongodump", NULL));
    const char *db = mb_config_get(cfg, "database");
    if (db)
        mb_strv_pushf(&t.args, "--db=%s", db);
    mb_strv_push(&t.args, "--archive");
    mb_strv_push_lines(&t.args, mb_config_get(cfg, "extra_args"));
    struct mb_reader *r = mb_dbtool_reader(&t, err);
    if (r)
        mb_config_set(&r->meta, "databases", db ? db : "*");
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
    struct mb_dbtool t = mongo_tool(cfg, mb_tool_path(cfg, "mongorestore", "mongorestore"));
    mb_strv_push(&t.args, "--archive");
    if (target && strcmp(target, db) != 0) {
        mb_strv_pushf(&t.args, "--nsFrom=%s.*", db);
        mb_strv_pushf(&t.args, "--nsTo=%s.*", target);
    }
    return mb_dbtool_writer(&t, err);
}

static const struct mb_option mongo_options[] = {
    { "uri", MB_OPTION_STRING, 0, NULL, 1, .help = "a connection string, instead of host, port, user and password (it may hold the password)" },
    { "host", MB_OPTION_STRING, 0, NULL, 0, .help = "the server's host name or address (default: the tools', localhost)" },
    { "port", MB_OPTION_INTEGER, 0, NULL, 0, .help = "the server's port (default: the tools', 27017)", MB_OPTION_PORT },
    { "user", MB_OPTION_STRING, 0, NULL, 0, .help = "the user to authenticate as" },
    { "password", MB_OPTION_STRING, 0, NULL, 1, .help = "its password, passed to the tools in a private file" },
    { "database", MB_OPTION_STRING, 0, NULL, 0, .help = "the database to dump (default: every database)" },
    { "auth_database", MB_OPTION_STRING, 0, NULL, 0, .help = "the database to authenticate against" },
    { "socket", MB_OPTION_STRING, 0, NULL, 0, .help = "accepted and not used" },
    { "tls", MB_OPTION_BOOLEAN, 0, "false", 0, .help = "connect with TLS (--ssl)" },
    { "extra_args", MB_OPTION_STRINGS, 0, NULL, 0, .help = "appended to mongodump's arguments (no references: arguments are public)" },
    { "tool", MB_OPTION_STRING, 0, NULL, 0, .help = "mongodump's path, when it is not on PATH (mongorestore is looked for beside it)" },
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
