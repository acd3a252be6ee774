/* lsys.c — Lua module moonbak.sys: the few POSIX calls Lua's os lacks. */
#include "interrupt.h"
#include "clock.h"
#include "fileio.h"
#include "lmb.h"
#include "process.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <zstd.h>

#include <dirent.h>
#include <ftw.h>
#include <fcntl.h>
#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int sys_fail_errno(lua_State *L, const char *what, const char *path)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s %s: %s", what, path, strerror(errno));
    return 2;
}

/* sys.now() -> seconds since the epoch, with fractions */
static int sys_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

static int sys_monotonic(lua_State *L)
{
    lua_pushnumber(L, mb_now());
    return 1;
}

static int sys_hostname(lua_State *L)
{
    char name[HOST_NAME_MAX + 1] = "";
    gethostname(name, sizeof name - 1);
    lua_pushstring(L, name);
    return 1;
}

static int sys_pid(lua_State *L)
{
    lua_pushinteger(L, getpid());
    return 1;
}

static int sys_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

/* sys.mkdirs(path [, mode]) -> true | nil, message */
static int sys_mkdirs(lua_State *L)
{
    struct mb_error err = { { 0 } };
    if (mb_mkdirs(luaL_checkstring(L, 1), (mode_t)luaL_optinteger(L, 2, 0700), &err) != 0)
        return mb_lua_fail(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* sys.listdir(path) -> sorted names (without . and ..) | nil, message */
static int sys_listdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0)
        return sys_fail_errno(L, "cannot list", path);
    lua_createtable(L, n, 0);
    lua_Integer k = 1;
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0) {
            lua_pushstring(L, names[i]->d_name);
            lua_seti(L, -2, k++);
        }
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return 1;
}

/* sys.stat(path) -> { type = "file"|"directory"|"other", size =, mtime =, mode =,
 *                     dev =, ino = } | nil, message  (dev and ino: is it the same file?) */
static int sys_stat(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (stat(path, &st) != 0)
        return sys_fail_errno(L, "cannot stat", path);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory" : "other");
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)st.st_size);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, (lua_Integer)st.st_mtime);
    lua_setfield(L, -2, "mtime");
    lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
    lua_setfield(L, -2, "mode");
    lua_pushinteger(L, (lua_Integer)st.st_dev);
    lua_setfield(L, -2, "dev");
    lua_pushinteger(L, (lua_Integer)st.st_ino);
    lua_setfield(L, -2, "ino");
    return 1;
}

/* sys.create_private(path, data) -> true | nil, message
 * Creates a new file readable by its owner only (keys, the master key);
 * never replaces an existing one. */
static int sys_create_private(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return sys_fail_errno(L, "cannot create", path);
    int rc = mb_write_all(fd, data, len) == 0 && fsync(fd) == 0 ? 0 : -1;
    if (close(fd) != 0 || rc != 0) {
        int saved = errno;
        unlink(path);
        errno = saved;
        return sys_fail_errno(L, "cannot write", path);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* sys.replace_file(path, data [, mode]) -> true | nil, message
 * Replaces path atomically: the data goes to a temporary name in the same
 * directory (".NAME.partial-XXXXXX", never ending like NAME does, so a
 * reader that globs "*.prom" never sees it), is flushed to disk, and is
 * renamed over path.  mode: default 0644. */
static int sys_replace_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    mode_t mode = (mode_t)luaL_optinteger(L, 3, 0644);
    struct mb_error err = { { 0 } };
    struct mb_writer *w = mb_file_writer_open_mode(path, mode, &err);
    /* nothing below raises: w is closed (the temporary removed) before any return */
    int rc = w && w->write(w, data, len, &err) == 0 && w->commit(w, &err) == 0 ? 0 : -1;
    if (w)
        w->close(w);
    if (rc != 0)
        return mb_lua_fail(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* sys.library_versions() -> { lua =, sqlite =, curl =, openssl =, zstd =,
 * jansson = }: the versions of the libraries this binary runs with (Lua's:
 * the one it was built with).  libedit has no call that says its version. */
static int sys_library_versions(lua_State *L)
{
    lua_createtable(L, 0, 6);
    lua_pushstring(L, LUA_RELEASE);
    lua_setfield(L, -2, "lua");
    lua_pushstring(L, sqlite3_libversion());
    lua_setfield(L, -2, "sqlite");
    lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
    lua_setfield(L, -2, "curl");
    lua_pushstring(L, OpenSSL_version(OPENSSL_VERSION_STRING));
    lua_setfield(L, -2, "openssl");
    lua_pushstring(L, ZSTD_versionString());
    lua_setfield(L, -2, "zstd");
    lua_pushstring(L, jansson_version_str());
    lua_setfield(L, -2, "jansson");
    return 1;
}

/* sys.catch_interrupts(): from now on Ctrl-C and SIGTERM stop the running
 * pipeline instead of the process (see sys.interrupted). */
static int sys_catch_interrupts(lua_State *L)
{
    (void)L;
    mb_interrupts_catch();
    return 0;
}

/* sys.cancel_after(seconds): the run's time limit; it cancels as a first
 * SIGTERM would, with the reason SIGALRM (sys.interrupted); 0 disarms it
 * and forgets it if it fired. */
static int sys_cancel_after(lua_State *L)
{
    if (mb_interrupt_after(luaL_checknumber(L, 1)) != 0)
        return sys_fail_errno(L, "cannot set the run's time limit", "timer_create");
    lua_pushboolean(L, 1);
    return 1;
}

/* sys.reset_interrupts(): not interrupted any more, and the next Ctrl-C is
 * a first one again (the console, after a statement it stopped). */
static int sys_reset_interrupts(lua_State *L)
{
    (void)L;
    mb_interrupts_reset();
    return 0;
}

/* sys.interrupted() -> the signal number that interrupted us, or nil */
static int sys_interrupted(lua_State *L)
{
    int sig = mb_cancel_reason(mb_process_cancel());
    if (!sig)
        return 0;
    lua_pushinteger(L, sig);
    return 1;
}

/* sys.sleep(seconds) */
static int sys_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    struct timespec ts = { (time_t)s, (long)((s - (lua_Number)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return 0;
}

/* sys.process_alive(pid) -> boolean: for executions left "running" */
static int sys_process_alive(lua_State *L)
{
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    lua_pushboolean(L, pid > 0 && (kill(pid, 0) == 0 || errno == EPERM));
    return 1;
}

/* Reads a small /proc file whole into buf (NUL-ended); -1 with errno. */
static ssize_t read_proc_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    ssize_t n = 0;
    while (len + 1 < cap && ((n = read(fd, buf + len, cap - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
        len += n > 0 ? (size_t)n : 0;
    int saved = errno;
    close(fd);
    errno = saved;
    buf[len] = '\0';
    return n < 0 ? -1 : (ssize_t)len;
}

/* Field 22 of a /proc/PID/stat line, the start time in clock ticks after
 * boot.  Field 2, the command name in parentheses, may itself hold spaces
 * and parentheses: the fields are counted from the last ')'. */
static int stat_start_ticks(const char *line, unsigned long long *ticks)
{
    const char *p = strrchr(line, ')');
    if (!p)
        return -1;
    for (int field = 2; field < 22; field++) { /* p is at the end of field 2 */
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    char *end;
    errno = 0;
    *ticks = strtoull(p, &end, 10);
    return end == p || (*end != ' ' && *end != '\n' && *end) || errno ? -1 : 0;
}

/* sys.process_start_time(pid) -> "BOOTID:STARTTICKS" | nil [, message]
 * Names one process instance: a pid is reused, not with the same start
 * time within the same boot.  nil alone: no such process; nil and a
 * message: /proc could not tell. */
static int sys_process_start_time(lua_State *L)
{
    lua_Integer pid = luaL_checkinteger(L, 1);
    char path[64], line[4096], boot_id[64];
    unsigned long long ticks;
    if (pid <= 0 || pid > INT_MAX)
        return 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_proc_file(path, line, sizeof line) < 0) {
        if (errno == ENOENT || errno == ESRCH)
            return 0;
        return sys_fail_errno(L, "cannot read", path);
    }
    /* A zombie has ended: only its exit status waits for a parent that may
     * never come (a container's init that does not reap). */
    const char *state = strrchr(line, ')');
    if (state && (state[1] == ' ') && (state[2] == 'Z' || state[2] == 'X'))
        return 0;
    if (stat_start_ticks(line, &ticks) != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot read %s: no start time in it", path);
        return 2;
    }
    if (read_proc_file("/proc/sys/kernel/random/boot_id", boot_id, sizeof boot_id) < 0)
        return sys_fail_errno(L, "cannot read", "/proc/sys/kernel/random/boot_id");
    boot_id[strcspn(boot_id, "\n")] = '\0';
    char instance[128];
    snprintf(instance, sizeof instance, "%s:%llu", boot_id, ticks);
    lua_pushstring(L, instance);
    return 1;
}

/* Removes one entry of the tree; nftw walks children before their
 * directory (FTW_DEPTH) and never follows a symbolic link (FTW_PHYS). */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

/* sys.remove_tree(path) -> true | nil, message: a directory and all it
 * holds (a file: just it), links removed, never followed; a path that is
 * not there is fine. */
static int sys_remove_tree(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return sys_fail_errno(L, "cannot remove", path);
    lua_pushboolean(L, 1);
    return 1;
}

#define RUN_OUTPUT_TAIL 4096

/* Keeps the last RUN_OUTPUT_TAIL bytes of what the command said. */
static void keep_tail(char *tail, size_t *len, const char *buf, size_t n)
{
    if (n >= RUN_OUTPUT_TAIL) {
        memcpy(tail, buf + n - RUN_OUTPUT_TAIL, RUN_OUTPUT_TAIL);
        *len = RUN_OUTPUT_TAIL;
        return;
    }
    if (*len + n > RUN_OUTPUT_TAIL) {
        size_t drop = *len + n - RUN_OUTPUT_TAIL;
        memmove(tail, tail + drop, *len - drop);
        *len -= drop;
    }
    memcpy(tail + *len, buf, n);
    *len += n;
}

/* sys.run_command(argv [, env]) -> true, output | nil, message, output
 * Runs a program (argv[1] looked up in PATH, no shell) to its end, its
 * stdin /dev/null, its stdout and stderr together kept as output (their
 * last 4 KiB); env: { NAME = value } added to its environment.  Like the
 * dump tools it leads its own process group, gets SIGTERM on the first
 * Ctrl-C or SIGTERM after sys.catch_interrupts, and dies with moonbak.  A
 * status other than 0, a signal, or a program that cannot start: nil and
 * why. */
static int sys_run_command(lua_State *L)
{
    lua_settop(L, 2); /* the lists' arrays go above the arguments */
    const char **argv = mb_lua_string_list(L, 1, 0);
    if (!argv[0])
        return luaL_argerror(L, 1, "empty argv");
    const char **env = mb_lua_string_list(L, 2, 1);
    const char *label = lua_pushfstring(L, "command %s", argv[0]);
    char *tail = lua_newuserdatauv(L, RUN_OUTPUT_TAIL, 0);
    size_t tail_len = 0;
    struct mb_error err = { { 0 } };
    struct mb_command cmd = { .argv = argv, .env = env, .label = label, .merge_stderr = 1 };
    /* from here to r->close nothing raises */
    struct mb_reader *r = mb_spawn_reader(&cmd, &err);
    int rc = -1;
    if (r) {
        char buf[4096];
        ssize_t n;
        while ((n = r->read(r, buf, sizeof buf, &err)) > 0)
            keep_tail(tail, &tail_len, buf, (size_t)n);
        struct mb_error finish_err = { { 0 } };
        rc = r->finish(r, &finish_err);
        if (n >= 0 && rc != 0)
            err = finish_err; /* a read error says more than the exit that follows it */
        rc = n < 0 ? -1 : rc;
        r->close(r);
    }
    if (rc == 0) {
        lua_pushboolean(L, 1);
        lua_pushlstring(L, tail, tail_len);
        return 2;
    }
    /* its stderr went into output: the message's empty "last words" are
     * output's last line */
    size_t msg_len = strlen(err.msg);
    if (msg_len >= 2 && strcmp(err.msg + msg_len - 2, ": ") == 0) {
        size_t end = tail_len, start;
        while (end && strchr("\n\r \t", tail[end - 1]))
            end--;
        for (start = end; start && tail[start - 1] != '\n'; start--)
            ;
        err.msg[msg_len - 2] = '\0';
        if (end > start)
            snprintf(err.msg + msg_len - 2, sizeof err.msg - (msg_len - 2), ": %.*s", (int)(end - start),
                     tail + start);
    }
    mb_lua_fail(L, &err);
    lua_pushlstring(L, tail, tail_len);
    return 3;
}

/* ---- sys.spawn: a long-running child (process.h's service) ---------------- */

#define PROCESS_TYPE "moonbak.Process"

/* The handle exists before the child does (NULL inside): an error in
 * between leaves nothing running that nobody holds. */
static struct mb_service **check_process(lua_State *L)
{
    return luaL_checkudata(L, 1, PROCESS_TYPE);
}

/* Process:close() / __gc / __close: stops it when it still runs; idempotent. */
static int process_close(lua_State *L)
{
    struct mb_service **s = check_process(L);
    mb_service_free(*s);
    *s = NULL;
    return 0;
}

/* Process:pid() -> integer | nil once reaped */
static int process_pid(lua_State *L)
{
    struct mb_service **s = check_process(L);
    if (!*s || mb_service_pid(*s) <= 0)
        return 0;
    lua_pushinteger(L, mb_service_pid(*s));
    return 1;
}

/* Process:running() -> true | false, how it ended */
static int process_running(lua_State *L)
{
    struct mb_service **s = check_process(L);
    struct mb_error err = { { 0 } };
    if (*s && mb_service_running(*s, &err)) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, 0);
    lua_pushstring(L, *s ? err.msg : "closed");
    return 2;
}

/* Process:stop(): SIGTERM to its process group, SIGKILL after a short
 * grace, reaped; the handle stays open (pid() is nil) */
static int process_stop(lua_State *L)
{
    struct mb_service **s = check_process(L);
    if (*s)
        mb_service_stop(*s);
    return 0;
}

/* Whether the table at idx holds strings only: its array part (argv) or
 * NAME = value pairs (env). */
static int strings_table_ok(lua_State *L, int idx, int pairs)
{
    int ok = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (pairs ? lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1)
                  : !lua_isinteger(L, -2) || !lua_isstring(L, -1))
            ok = 0;
        lua_pop(L, 1);
    }
    return ok;
}

/* Fills v from a table strings_table_ok accepted (raises nothing). */
static void strings_from_table(lua_State *L, int idx, int pairs, struct mb_strv *v)
{
    if (!pairs) {
        for (lua_Integer i = 1; lua_geti(L, idx, i) == LUA_TSTRING || lua_isnumber(L, -1); i++) {
            mb_strv_push(v, lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        mb_strv_pushf(v, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

/* sys.spawn(argv [, { env = { NAME = value }, output = FILE, label = TEXT }])
 * -> Process | nil, message.  A long-running child: its own process
 * group, stdin /dev/null, stdout and stderr appended to output, dying with
 * moonbak (even by kill -9).  Secrets go in env or in files, never argv. */
static int sys_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int has_options = !lua_isnoneornil(L, 2);
    if (has_options)
        luaL_checktype(L, 2, LUA_TTABLE);
    struct mb_service **s = lua_newuserdatauv(L, sizeof *s, 0); /* at the top: closed */
    *s = NULL;
    luaL_setmetatable(L, PROCESS_TYPE);
    int handle = lua_gettop(L);
    const char *output = NULL, *label = NULL;
    int env_idx = 0;
    if (has_options) {
        lua_getfield(L, 2, "output");
        output = luaL_optstring(L, -1, NULL);
        lua_getfield(L, 2, "label");
        label = luaL_optstring(L, -1, NULL);
        if (lua_getfield(L, 2, "env") == LUA_TTABLE)
            env_idx = lua_gettop(L);
    }
    luaL_argcheck(L, strings_table_ok(L, 1, 0) && lua_rawlen(L, 1) > 0, 1,
                  "expected a program and its arguments (strings)");
    luaL_argcheck(L, !env_idx || strings_table_ok(L, env_idx, 1), 2,
                  "env: expected NAME = value strings");
    /* Nothing below raises: the lists are freed before any return. */
    struct mb_strv argv = { 0 }, env = { 0 };
    strings_from_table(L, 1, 0, &argv);
    if (env_idx)
        strings_from_table(L, env_idx, 1, &env);
    struct mb_error err = { { 0 } };
    if (argv.failed || env.failed) {
        mb_error_set(&err, "out of memory");
    } else {
        struct mb_command cmd = { .argv = (const char *const *)argv.v,
                                  .env = (const char *const *)env.v,
                                  .label = label ? label : argv.v[0] };
        *s = mb_spawn_service(&cmd, output, &err);
    }
    mb_strv_free(&argv);
    mb_strv_free(&env);
    if (!*s)
        return mb_lua_fail(L, &err);
    lua_pushvalue(L, handle);
    return 1;
}

/* sys.free_port([host]) -> port | nil, message: a TCP port of host
 * (default 127.0.0.1) that no one listens on now, chosen by the kernel.
 * Someone may take it before the caller binds it: retry on
 * "address already in use". */
static int sys_free_port(lua_State *L)
{
    const char *host = luaL_optstring(L, 1, "127.0.0.1");
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return luaL_argerror(L, 1, "expected an IPv4 address");
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0
        || getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        errno = saved;
        return sys_fail_errno(L, "cannot find a free port on", host);
    }
    close(fd);
    lua_pushinteger(L, ntohs(addr.sin_port));
    return 1;
}

static void process_class(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "pid", process_pid }, { "running", process_running }, { "stop", process_stop },
        { "close", process_close }, { NULL, NULL },
    };
    if (luaL_newmetatable(L, PROCESS_TYPE)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, process_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, process_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
}

int luaopen_moonbak_sys(lua_State *L)
{
    static const luaL_Reg functions[] = {
        { "now", sys_now },         { "monotonic", sys_monotonic },
        { "hostname", sys_hostname }, { "pid", sys_pid },
        { "isatty", sys_isatty },   { "mkdirs", sys_mkdirs },
        { "listdir", sys_listdir }, { "stat", sys_stat },
        { "sleep", sys_sleep },
        { "create_private", sys_create_private },
        { "replace_file", sys_replace_file }, { "library_versions", sys_library_versions },
        { "catch_interrupts", sys_catch_interrupts }, { "cancel_after", sys_cancel_after }, { "interrupted", sys_interrupted },
        { "reset_interrupts", sys_reset_interrupts }, { "process_alive", sys_process_alive },
        { "process_start_time", sys_process_start_time },
        { "remove_tree", sys_remove_tree }, { "run_command", sys_run_command },
        { "spawn", sys_spawn }, { "free_port", sys_free_port },
        { NULL, NULL },
    };
    process_class(L);
    luaL_newlib(L, functions);
    lua_pushstring(L, MB_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
