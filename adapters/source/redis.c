/* redis.c — an RDB snapshot through `redis-cli --rdb -`.
 *
 * The password reaches redis-cli through REDISCLI_AUTH, never argv.  Redis
 * has no online load: a backup restores to a file (restore --output), to
 * be put in place while the server is stopped (see the README).
 * Options: host, port, user (an ACL user), password, socket, tls,
 * extra_args, tool (redis-cli's path). */
#include "dbtool.h"

#include <stdlib.h>
#include <string.h>

static char *redis_label(const struct mb_config *cfg)
{
    const char *socket = mb_config_get(cfg, "socket");
    const char *host = mb_config_get(cfg, "host");
    const char *port = mb_config_get(cfg, "port");
    if (socket)
        return mb_strdup_printf("redis %s (redis-cli)", socket);
    if (!host || !port) /* the engine gives the schema's defaults */
        return mb_strdup_printf("redis (redis-cli)");
    return mb_strdup_printf("redis %s:%s (redis-cli)", host, port);
}

/* redis-cli with the connection options; arguments follow. */
static struct mb_dbtool redis_tool(const struct mb_config *cfg)
{
    struct mb_dbtool t = { .tool = mb_tool_path(cfg, "redis-cli", NULL), .label = redis_label(cfg) };
    if (mb_config_get(cfg, "socket")) {
        mb_strv_push(&t.args, "-s");
        mb_strv_push(&t.args, mb_config_get(cfg, "socket"));
    } else {
        /* host and port have defaults in the schema, which the engine gives */
        if (mb_config_get(cfg, "host")) {
            mb_strv_push(&t.args, "-h");
            mb_strv_push(&t.args, mb_config_get(cfg, "host"));
        }
        if (mb_config_get(cfg, "port")) {
            mb_strv_push(&t.args, "-p");
            mb_strv_push(&t.args, mb_config_get(cfg, "port"));
        }
    }
    if (mb_config_get(cfg, "user")) {
        mb_strv_push(&t.args, "--user");
        mb_strv_push(&t.args, mb_config_get(cfg, "user"));
    }
    const char *tls = mb_config_get(cfg, "tls");
    if (tls && strcmp(tls, "true") == 0)
        mb_strv_push(&t.args, "--tls");
    if (mb_config_get(cfg, "password"))
        mb_strv_pushf(&t.env, "REDISCLI_AUTH=%s", mb_config_get(cfg, "password"));
    mb_strv_push(&t.args, "--no-auth-warning");
    return t;
}

/* The first line of out that is a refusal, or NULL.  Marks count only at
 * the start of a line: INFO's own lines (paths, say) may contain "ERR". */
static char *refusal(char *out)
{
    static const char *const marks[] = { "AUTH failed", "Warning: AUTH failed", "WRONGPASS",
                                         "NOAUTH", "NOPERM", "ERR", "Could not connect" };
    for (char *line = out; *line;) {
        size_t len = strcspn(line, "\n");
        for (size_t i = 0; i < sizeof marks / sizeof *marks; i++) {
            if (strncmp(line, marks[i], strlen(marks[i])) == 0) {
                line[strcspn(line, "\r\n")] = '\0';
                return line;
            }
        }
        line += len + (line[len] == '\n');
    }
    return NULL;
}

/* redis-cli exits 0 even when the server refuses (NOAUTH, WRONGPASS), so
 * the answer itself is checked. */
static int redis_ask(const struct mb_config *cfg, const char *const *words, char *out, size_t cap,
                     struct mb_error *err)
{
    struct mb_dbtool t = redis_tool(cfg);
    for (size_t i = 0; words[i]; i++)
        mb_strv_push(&t.args, words[i]);
    /* Questions get redis-cli's complaints too ("AUTH failed: ..." goes
     * to stderr); a dump's stdout must stay pure RDB. */
    t.merge_stderr = 1;
    if (mb_dbtool_capture(&t, out, cap, err) != 0)
        return -1;
    char *refused = refusal(out);
    if (refused) {
        char *label = redis_label(cfg);
        mb_error_set(err, "%s: %s", label ? label : "redis", refused);
        free(label);
        return -1;
    }
    return 0;
}

static int redis_check(const struct mb_config *cfg, struct mb_error *err)
{
    char reply[256];
    const char *ping[] = { "PING", NULL };
    return redis_ask(cfg, ping, reply, sizeof reply, err);
}

static struct mb_reader *redis_open(const struct mb_config *cfg, struct mb_error *err)
{
    char info[4096];
    const char *words[] = { "INFO", "server", NULL };
    if (redis_ask(cfg, words, info, sizeof info, err) != 0)
        return NULL;
    char *version = strstr(info, "redis_version:");
    struct mb_dbtool t = redis_tool(cfg);
    mb_strv_push_lines(&t.args, mb_config_get(cfg, "extra_args"));
    mb_strv_push(&t.args, "--rdb");
    mb_strv_push(&t.args, "-");
    struct mb_reader *r = mb_dbtool_reader(&t, err);
    if (r && version) {
        version += strlen("redis_version:");
        version[strcspn(version, "\r\n")] = '\0';
        mb_config_set(&r->meta, "engine_version", version);
    }
    if (r)
        mb_config_set(&r->meta, "databases", "*");
    return r;
}

static const struct mb_option redis_options[] = {
    { "host", MB_OPTION_STRING, 0, "127.0.0.1", 0, .help = "the server's host name or address" },
    { "port", MB_OPTION_INTEGER, 0, "6379", 0, .help = "the server's port", MB_OPTION_PORT },
    { "user", MB_OPTION_STRING, 0, NULL, 0, .help = "an ACL user (default: the default user)" },
    { "password", MB_OPTION_STRING, 0, NULL, 1, .help = "its password, passed to redis-cli as REDISCLI_AUTH" },
    { "db", MB_OPTION_INTEGER, 0, NULL, 0, .help = "accepted and not used: an RDB snapshot holds every database" },
    { "socket", MB_OPTION_STRING, 0, NULL, 0, .help = "the server's Unix socket (instead of host and port)" },
    { "tls", MB_OPTION_BOOLEAN, 0, "false", 0, .help = "connect with TLS (redis-cli --tls)" },
    { "extra_args", MB_OPTION_STRINGS, 0, NULL, 0, .help = "appended to redis-cli's arguments (no references: arguments are public)" },
    { "tool", MB_OPTION_STRING, 0, NULL, 0, .help = "redis-cli's path, when it is not on PATH" },
    { NULL },
};

const struct mb_source_ops mb_source_redis = {
    .version = MB_SOURCE_OPS_VERSION,
    .type = "redis",
    .check = redis_check,
    .open = redis_open,
    .restore = NULL, /* no online load: restore --output, then swap dump.rdb */
    .options = redis_options,
    .extension = "rdb",
};
