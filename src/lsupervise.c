/* lsupervise.c — Lua module moonbak.supervisor: the daemon's children and
 * events (see supervise.h).
 *
 *   local sup = supervisor.open { watch = jobs_dir }
 *   local pid = sup:spawn({ "moonbak", "run", "shop" }, { MOONBAK_X = "1" })
 *   for _, ev in ipairs(sup:wait(seconds)) do ... end
 *     -- { event = "exit", pid =, code =, signal = }
 *     -- { event = "signal", signal = "HUP" | "TERM" | "INT" }
 *     -- { event = "change", name = "shop.lua" }
 *   sup:kill(pid, "TERM"); sup:close() */
#include "lmb.h"
#include "supervise.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define SUPERVISOR_TYPE "moonbak.Supervisor"

struct lua_supervisor {
    struct mb_supervisor *s; /* NULL once closed */
};

static const struct {
    const char *name;
    int sig;
} signal_names[] = {
    { "HUP", SIGHUP }, { "INT", SIGINT }, { "TERM", SIGTERM }, { "KILL", SIGKILL },
    { "QUIT", SIGQUIT }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "ABRT", SIGABRT },
    { "SEGV", SIGSEGV }, { "PIPE", SIGPIPE }, { "BUS", SIGBUS }, { "FPE", SIGFPE },
    { "ILL", SIGILL }, { "ALRM", SIGALRM }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
};

static void push_signal_name(lua_State *L, int sig)
{
    for (size_t i = 0; i < sizeof signal_names / sizeof *signal_names; i++)
        if (signal_names[i].sig == sig) {
            lua_pushstring(L, signal_names[i].name);
            return;
        }
    lua_pushfstring(L, "%d", sig);
}

static struct lua_supervisor *check_open(lua_State *L)
{
    struct lua_supervisor *u = luaL_checkudata(L, 1, SUPERVISOR_TYPE);
    if (!u->s)
        luaL_argerror(L, 1, "supervisor is closed");
    return u;
}

static int sup_close(lua_State *L)
{
    struct lua_supervisor *u = luaL_checkudata(L, 1, SUPERVISOR_TYPE);
    mb_supervisor_close(u->s);
    u->s = NULL;
    return 0;
}

/* supervisor.open{ watch = DIR } -> Supervisor | nil, message */
static int sup_open(lua_State *L)
{
    const char *watch = NULL;
    if (lua_istable(L, 1)) {
        lua_getfield(L, 1, "watch");
        watch = luaL_optstring(L, -1, NULL);
    }
    struct lua_supervisor *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->s = NULL;
    luaL_setmetatable(L, SUPERVISOR_TYPE);
    struct mb_error err = { { 0 } };
    u->s = mb_supervisor_open(watch, &err);
    if (!u->s)
        return mb_lua_fail(L, &err);
    return 1;
}

/* sup:spawn(argv [, env]) -> pid | nil, message: this binary, argv[1..] */
static int sup_spawn(lua_State *L)
{
    struct lua_supervisor *u = check_open(L);
    const char **argv = mb_lua_string_list(L, 2, 0);
    if (!argv[0])
        return luaL_argerror(L, 2, "empty argv");
    const char **env = mb_lua_string_list(L, 3, 1);
    struct mb_error err = { { 0 } };
    pid_t pid = mb_supervisor_spawn(u->s, argv, env, &err);
    if (pid < 0)
        return mb_lua_fail(L, &err);
    lua_pushinteger(L, pid);
    return 1;
}

static int check_signal(lua_State *L, int idx)
{
    if (lua_isinteger(L, idx))
        return (int)lua_tointeger(L, idx);
    const char *name = luaL_checkstring(L, idx);
    for (size_t i = 0; i < sizeof signal_names / sizeof *signal_names; i++)
        if (strcmp(signal_names[i].name, name) == 0)
            return signal_names[i].sig;
    return luaL_argerror(L, idx, "unknown signal");
}

/* sup:kill(pid, "TERM") -> true | nil, message: the child's process group */
static int sup_kill(lua_State *L)
{
    struct lua_supervisor *u = check_open(L);
    pid_t pid = (pid_t)luaL_checkinteger(L, 2);
    int sig = check_signal(L, 3);
    if (mb_supervisor_kill(u->s, pid, sig) != 0) {
        struct mb_error err = { { 0 } };
        mb_error_errno(&err, "cannot signal run process %d", (int)pid);
        return mb_lua_fail(L, &err);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* sup:wait([seconds]) -> { event, ... } (empty when the time ran out) */
static int sup_wait(lua_State *L)
{
    struct lua_supervisor *u = check_open(L);
    double timeout = luaL_optnumber(L, 2, -1);
    struct mb_event events[32];
    struct mb_error err = { { 0 } };
    int n = mb_supervisor_wait(u->s, timeout, events, 32, &err);
    if (n < 0)
        return mb_lua_fail(L, &err);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        const struct mb_event *e = &events[i];
        lua_createtable(L, 0, 4);
        if (e->kind == MB_EVENT_EXIT) {
            lua_pushliteral(L, "exit");
            lua_setfield(L, -2, "event");
            lua_pushinteger(L, e->pid);
            lua_setfield(L, -2, "pid");
            if (e->code >= 0) {
                lua_pushinteger(L, e->code);
                lua_setfield(L, -2, "code");
            }
            if (e->signal) {
                push_signal_name(L, e->signal);
                lua_setfield(L, -2, "signal");
            }
        } else if (e->kind == MB_EVENT_SIGNAL) {
            lua_pushliteral(L, "signal");
            lua_setfield(L, -2, "event");
            push_signal_name(L, e->signal);
            lua_setfield(L, -2, "signal");
        } else {
            lua_pushliteral(L, "change");
            lua_setfield(L, -2, "event");
            lua_pushstring(L, e->name);
            lua_setfield(L, -2, "name");
        }
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

int luaopen_moonbak_supervisor(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "spawn", sup_spawn }, { "kill", sup_kill }, { "wait", sup_wait },
        { "close", sup_close }, { NULL, NULL },
    };
    static const luaL_Reg functions[] = {
        { "open", sup_open },
        { NULL, NULL },
    };
    mb_lua_new_class(L, SUPERVISOR_TYPE, methods, sup_close);
    luaL_newlib(L, functions);
    return 1;
}
