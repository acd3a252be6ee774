/* lcron.c — moonbak.cron: cron expressions and their fire times.
 *
 *   cron.parse(expr)               -> Cron | nil, message
 *   cron.next(expr_or_cron, opts)  -> { utc_epoch, ... } | nil, message
 *       opts.after    instant (epoch seconds) the times come strictly after; default now
 *       opts.timezone IANA zone the expression is read in; default "UTC"
 *       opts.count    how many times (1-1000); default 1
 *   cron.timezone(name)            -> name | nil, message (the zone exists and loads)
 *
 * A Cron has :next(opts), .expression and .fixed_time (minute and hour
 * both fixed: Debian cron's daylight-saving rules for fixed-time jobs). */
#include <string.h>
#include <time.h>

#include "cron.h"
#include "lmb.h"

#define MB_CRON_TYPE "moonbak.Cron"
#define COUNT_MAX 1000
#define YEAR_1 (-62135596800LL)        /* 0001-01-01T00:00:00Z */
#define YEAR_9999_END 253402300799LL /* 9999-12-31T23:59:59Z */

struct lua_cron {
    struct mb_cron cron;
    char expression[MB_CRON_EXPR_MAX + 1];
};

static int push_error(lua_State *L, const char *message)
{
    lua_pushnil(L);
    lua_pushstring(L, message);
    return 2;
}

static int cron_parse(lua_State *L)
{
    const char *expr = luaL_checkstring(L, 1);
    struct mb_cron parsed;
    char err[256];
    if (mb_cron_parse(expr, &parsed, err, sizeof err) != 0)
        return push_error(L, err);
    struct lua_cron *c = lua_newuserdatauv(L, sizeof *c, 0);
    c->cron = parsed;
    snprintf(c->expression, sizeof c->expression, "%s", expr);
    luaL_setmetatable(L, MB_CRON_TYPE);
    return 1;
}

/* The expression at idx: a Cron or a string parsed now.  0, or -1 with a message. */
static int cron_at(lua_State *L, int idx, struct mb_cron *out, char *err, size_t errlen)
{
    struct lua_cron *c = luaL_testudata(L, idx, MB_CRON_TYPE);
    if (c) {
        *out = c->cron;
        return 0;
    }
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_typeerror(L, idx, "cron expression or moonbak.Cron");
    return mb_cron_parse(lua_tostring(L, idx), out, err, errlen);
}

struct next_options {
    lua_Integer after, count;
    const char *timezone;
};

static void read_options(lua_State *L, int idx, struct next_options *o)
{
    o->after = (lua_Integer)time(NULL);
    o->count = 1;
    o->timezone = "UTC";
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    if (lua_getfield(L, idx, "after") != LUA_TNIL) {
        if (!lua_isinteger(L, -1))
            luaL_argerror(L, idx, "after: expected an integer (epoch seconds)");
        o->after = lua_tointeger(L, -1);
        if (o->after < YEAR_1 || o->after > YEAR_9999_END)
            luaL_argerror(L, idx, "after: expected an instant in the years 1 to 9999");
    }
    if (lua_getfield(L, idx, "count") != LUA_TNIL) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > COUNT_MAX)
            luaL_argerror(L, idx, "count: expected an integer from 1 to 1000");
        o->count = lua_tointeger(L, -1);
    }
    if (lua_getfield(L, idx, "timezone") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_argerror(L, idx, "timezone: expected a zone name");
        o->timezone = lua_tostring(L, -1); /* stays on the stack */
    }
}

/* Nothing that can raise runs while the zone is held: the times go to a C
 * array first, the Lua table is made after the zone is freed. */
static int cron_next(lua_State *L)
{
    struct mb_cron cron;
    char err[256];
    struct next_options o;
    read_options(L, 2, &o);
    if (cron_at(L, 1, &cron, err, sizeof err) != 0)
        return push_error(L, err);
    struct mb_tz *tz = mb_tz_load(o.timezone, err, sizeof err);
    if (!tz)
        return push_error(L, err);
    int64_t times[COUNT_MAX];
    int64_t t = o.after;
    int n = 0;
    while (n < o.count && mb_cron_next(&cron, tz, t, &t) == 0)
        times[n++] = t;
    mb_tz_free(tz);
    if (n == 0)
        return push_error(L, "the expression does not fire within 400 years");
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, (lua_Integer)times[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int cron_timezone(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    char err[256];
    struct mb_tz *tz = mb_tz_load(name, err, sizeof err);
    if (!tz)
        return push_error(L, err);
    mb_tz_free(tz);
    lua_pushvalue(L, 1);
    return 1;
}

static int cron_index(lua_State *L)
{
    struct lua_cron *c = luaL_checkudata(L, 1, MB_CRON_TYPE);
    const char *key = luaL_checkstring(L, 2);
    if (strcmp(key, "expression") == 0)
        lua_pushstring(L, c->expression);
    else if (strcmp(key, "fixed_time") == 0)
        lua_pushboolean(L, c->cron.fixed_time);
    else if (strcmp(key, "next") == 0)
        lua_pushcfunction(L, cron_next);
    else
        lua_pushnil(L);
    return 1;
}

static int cron_tostring(lua_State *L)
{
    struct lua_cron *c = luaL_checkudata(L, 1, MB_CRON_TYPE);
    lua_pushfstring(L, "moonbak.Cron(%s)", c->expression);
    return 1;
}

int luaopen_moonbak_cron(lua_State *L)
{
    static const luaL_Reg meta[] = {
        { "__index", cron_index },
        { "__tostring", cron_tostring },
        { NULL, NULL },
    };
    static const luaL_Reg functions[] = {
        { "parse", cron_parse },
        { "next", cron_next },
        { "timezone", cron_timezone },
        { NULL, NULL },
    };
    if (luaL_newmetatable(L, MB_CRON_TYPE))
        luaL_setfuncs(L, meta, 0);
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    return 1;
}
