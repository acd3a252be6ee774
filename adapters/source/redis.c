/* redis.c — an RDB snapshot through `redis-cli --rdb -`.
 *
 * The password reaches redis-cli through REDISCLI_AUTH, never argv.  Redis
 * has no online load: a backup restores to a file (restore --output), to
 * be put in place while the server is stopped (see the README).
 * Options: host, port, user (an ACL user), password, socket, tls,
 * extra_args, tool (redis-cli's path).
 *
 * Queries (restore drills) speak RESP to the server directly: redis-cli
 * prints an error, a nil and the string "ERR x" alike. */
#include "dbtool.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"

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

/* ---- queries: a small RESP client ----------------------------------------- */

/* No answer for this long is an error (a drill's check of a large data
 * set may be slow, a hung server must not hang the drill). */
#define RESP_TIMEOUT_SECONDS 300.0
#define RESP_CONNECT_TIMEOUT_SECONDS 10.0

struct resp {
    int fd;
    double deadline;
    char buf[8192];
    size_t start, end;
    const char *label;
};

static int resp_fill(struct resp *c, struct mb_error *err)
{
    if (c->start == c->end)
        c->start = c->end = 0;
    if (c->end == sizeof c->buf) { /* a line longer than the buffer: move what is left */
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
        if (c->end == sizeof c->buf) {
            mb_error_set(err, "%s: a reply line longer than %zu bytes", c->label, sizeof c->buf);
            return -1;
        }
    }
    for (;;) {
        double left = c->deadline - mb_now();
        struct pollfd p = { c->fd, POLLIN, 0 };
        int ready = left > 0 ? poll(&p, 1, (int)(left * 1000) + 1) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0) {
            mb_error_set(err, "%s: no answer after %.0f s", c->label, RESP_TIMEOUT_SECONDS);
            return -1;
        }
        ssize_t n = ready < 0 ? -1 : read(c->fd, c->buf + c->end, sizeof c->buf - c->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                mb_error_set(err, "%s: the server closed the connection", c->label);
            else
                mb_error_errno(err, "%s: cannot read", c->label);
            return -1;
        }
        c->end += (size_t)n;
        return 0;
    }
}

/* One line without its CRLF, NUL-ended in place. */
static char *resp_line(struct resp *c, struct mb_error *err)
{
    for (;;) {
        char *nl = memchr(c->buf + c->start, '\n', c->end - c->start);
        if (nl) {
            char *line = c->buf + c->start;
            c->start = (size_t)(nl - c->buf) + 1;
            *nl = '\0';
            if (nl > line && nl[-1] == '\r')
                nl[-1] = '\0';
            return line;
        }
        if (resp_fill(c, err) != 0)
            return NULL;
    }
}

/* Appends n bytes of the reply to out (cap bytes, *len used, NUL-ended). */
static void out_append(char *out, size_t cap, size_t *len, const char *bytes, size_t n)
{
    if (*len + 1 >= cap)
        return;
    if (n > cap - 1 - *len)
        n = cap - 1 - *len;
    memcpy(out + *len, bytes, n);
    *len += n;
    out[*len] = '\0';
}

/* Reads one reply into out (an array's elements one a line).  Returns 0, 1
 * for a nil, -1 with err (an error reply: the server's words). */
static int resp_reply(struct resp *c, char *out, size_t cap, size_t *len, int depth,
                      struct mb_error *err)
{
    char *line = resp_line(c, err);
    if (!line)
        return -1;
    char type = line[0];
    if (type == '+' || type == ':') {
        out_append(out, cap, len, line + 1, strlen(line + 1));
        return 0;
    }
    if (type == '-') {
        mb_error_set(err, "%s: %s", c->label, line + 1);
        return -1;
    }
    char *end;
    long long n = strtoll(line + 1, &end, 10);
    if ((type != '$' && type != '*') || end == line + 1 || *end || depth > 8) {
        mb_error_set(err, "%s: not a RESP reply", c->label);
        return -1;
    }
    if (n < 0)
        return 1;
    if (type == '*') {
        int rc = 0;
        for (long long i = 0; i < n && rc >= 0; i++) {
            if (i > 0)
                out_append(out, cap, len, "\n", 1);
            rc = resp_reply(c, out, cap, len, depth + 1, err);
        }
        return rc < 0 ? -1 : 0;
    }
    for (long long left = n; left > 0;) {
        if (c->start == c->end && resp_fill(c, err) != 0)
            return -1;
        size_t avail = c->end - c->start;
        size_t take = avail < (unsigned long long)left ? avail : (size_t)left;
        out_append(out, cap, len, c->buf + c->start, take);
        c->start += take;
        left -= (long long)take;
    }
    if (!resp_line(c, err)) /* the CRLF after the bytes */
        return -1;
    return 0;
}

static int resp_send(struct resp *c, const char *const *words, struct mb_error *err)
{
    char *text = NULL;
    size_t len = 0, n = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    while (words[n])
        n++;
    fprintf(f, "*%zu\r\n", n);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "$%zu\r\n", strlen(words[i]));
        fputs(words[i], f);
        fputs("\r\n", f);
    }
    fclose(f);
    int rc = text ? mb_write_all(c->fd, text, len) : -1;
    if (!text)
        mb_error_set(err, "out of memory");
    else if (rc != 0)
        mb_error_errno(err, "%s: cannot send", c->label);
    if (text)
        mb_free_secret(text); /* AUTH carries the password */
    return rc;
}

static int resp_command(struct resp *c, const char *const *words, char *out, size_t cap,
                        struct mb_error *err)
{
    size_t len = 0;
    if (cap)
        out[0] = '\0';
    if (resp_send(c, words, err) != 0)
        return -1;
    return resp_reply(c, out, cap, &len, 0, err);
}

/* A connected socket (non-blocking) to the server cfg names, or -1. */
static int resp_connect(const struct mb_config *cfg, const char *label, struct mb_error *err)
{
    const char *path = mb_config_get(cfg, "socket");
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *found = NULL;
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    if (path && strlen(path) >= sizeof un.sun_path) {
        mb_error_set(err, "%s: socket path too long", label);
        return -1;
    }
    if (!path) {
        const char *host = mb_config_get(cfg, "host"), *port = mb_config_get(cfg, "port");
        int rc = getaddrinfo(host ? host : "127.0.0.1", port ? port : "6379", &hints, &found);
        if (rc != 0) {
            mb_error_set(err, "%s: %s", label, gai_strerror(rc));
            return -1;
        }
    } else {
        memcpy(un.sun_path, path, strlen(path) + 1);
    }
    int fd = socket(path ? AF_UNIX : found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = fd < 0 ? -1
             : path ? connect(fd, (struct sockaddr *)&un, sizeof un)
                    : connect(fd, found->ai_addr, found->ai_addrlen);
    if (rc != 0 && fd >= 0 && errno == EINPROGRESS) {
        struct pollfd p = { fd, POLLOUT, 0 };
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        rc = poll(&p, 1, (int)(RESP_CONNECT_TIMEOUT_SECONDS * 1000));
        if (rc == 0)
            errno = ETIMEDOUT;
        else if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0)
            errno = soerr;
        rc = rc > 0 && soerr == 0 ? 0 : -1;
    }
    if (found)
        freeaddrinfo(found);
    if (rc == 0) { /* blocking from here: reads wait in poll, sends are bounded */
        struct timeval send_limit = { (time_t)RESP_TIMEOUT_SECONDS, 0 };
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0
            || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_limit, sizeof send_limit) != 0)
            rc = -1;
    }
    if (rc != 0) {
        mb_error_errno(err, "%s: cannot connect", label);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* database: a number to SELECT, or NULL for the connection's default (0). */
static int redis_query(const struct mb_config *cfg, const char *database, const char *const *words,
                       char *out, size_t cap, struct mb_error *err)
{
    const char *tls = mb_config_get(cfg, "tls");
    char *label = redis_label(cfg);
    char *at = label ? strstr(label, " (redis-cli)") : NULL;
    if (at)
        *at = '\0'; /* not redis-cli's doing here */
    struct resp c = { .fd = -1, .deadline = mb_now() + RESP_TIMEOUT_SECONDS, .label = label ? label : "redis" };
    int rc = -1;
    if (!words || !words[0]) {
        mb_error_set(err, "%s: no command", c.label);
    } else if (tls && strcmp(tls, "true") == 0) {
        mb_error_set(err, "%s: queries over TLS are not supported", c.label);
    } else if ((c.fd = resp_connect(cfg, c.label, err)) >= 0) {
        const char *user = mb_config_get(cfg, "user"), *password = mb_config_get(cfg, "password");
        const char *auth[] = { "AUTH", user ? user : password, user ? password : NULL, NULL };
        const char *select[] = { "SELECT", database, NULL };
        rc = 0;
        if (password)
            rc = resp_command(&c, auth, out, cap, err);
        if (rc == 0 && database)
            rc = resp_command(&c, select, out, cap, err);
        if (rc == 0)
            rc = resp_command(&c, words, out, cap, err);
        else if (rc > 0)
            rc = -1;
    }
    if (c.fd >= 0)
        close(c.fd);
    free(label);
    return rc;
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
    .query = redis_query,
};
