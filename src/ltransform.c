/* ltransform.c — Lua module moonbak.transform: constructors of pipeline stages. */
#include "age.h"
#include "lmb.h"

#include <limits.h>
#include <unistd.h>

static int transform_close(lua_State *L)
{
    struct mb_lua_transform *t = luaL_checkudata(L, 1, MB_TRANSFORM_TYPE);
    if (t->transform) {
        t->transform->ops->destroy(t->transform);
        t->transform = NULL;
    }
    return 0;
}

struct mb_lua_transform *mb_lua_check_transform(lua_State *L, int idx)
{
    struct mb_lua_transform *t = luaL_checkudata(L, idx, MB_TRANSFORM_TYPE);
    if (!t->transform)
        luaL_argerror(L, idx, "transform is closed");
    return t;
}

/* Pushes a closed handle first, so that an error while building leaves
 * nothing to leak; returns the handle to fill. */
static struct mb_lua_transform *push_transform(lua_State *L)
{
    struct mb_lua_transform *t = lua_newuserdatauv(L, sizeof *t, 0);
    t->transform = NULL;
    luaL_setmetatable(L, MB_TRANSFORM_TYPE);
    return t;
}

static lua_Integer opt_field_integer(lua_State *L, int idx, const char *key, lua_Integer dflt)
{
    if (lua_isnoneornil(L, idx))
        return dflt;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, key);
    lua_Integer v = luaL_optinteger(L, -1, dflt);
    lua_pop(L, 1);
    return v;
}

/* One compression thread per core, at most 8.  The pipeline's own threads
 * (reader, transforms, writer) take the rest; one worker more than there
 * are cores measured 3-4% slower on 2 cores (see bench/RESULTS.md). */
static int default_workers(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores > 8 ? 8 : (int)cores;
}

/* transform.zstd{ level = 3, workers = cores } -> Transform | nil, message */
static int transform_zstd(lua_State *L)
{
    lua_Integer level = opt_field_integer(L, 1, "level", 3);
    lua_Integer workers = opt_field_integer(L, 1, "workers", default_workers());
    struct mb_error err = { { 0 } };
    /* ranges are mb_zstd_compress_new's to check; here only what fits an int */
    if (workers < INT_MIN || workers > INT_MAX || level < INT_MIN || level > INT_MAX) {
        mb_error_set(&err, "zstd: level %lld or workers %lld is out of range", (long long)level,
                     (long long)workers);
        return mb_lua_fail(L, &err);
    }
    struct mb_lua_transform *t = push_transform(L);
    t->transform = mb_zstd_compress_new((int)level, (int)workers, &err);
    return t->transform ? 1 : mb_lua_fail(L, &err);
}

/* transform.unzstd{ workers = cores } -> Transform | nil, message */
static int transform_unzstd(lua_State *L)
{
    lua_Integer workers = opt_field_integer(L, 1, "workers", default_workers());
    struct mb_error err = { { 0 } };
    if (workers < INT_MIN || workers > INT_MAX) {
        mb_error_set(&err, "zstd: workers %lld is out of range", (long long)workers);
        return mb_lua_fail(L, &err);
    }
    struct mb_lua_transform *t = push_transform(L);
    t->transform = mb_zstd_decompress_new((int)workers, &err);
    return t->transform ? 1 : mb_lua_fail(L, &err);
}

/* Collects the strings of list field key of the options table at index 1
 * into a GC-owned array; they stay valid while the table is on the stack. */
static const char **string_list(lua_State *L, const char *key, size_t *n)
{
    lua_getfield(L, 1, key);
    *n = lua_istable(L, -1) ? (size_t)luaL_len(L, -1) : 0;
    const char **list = lua_newuserdatauv(L, (*n + 1) * sizeof *list, 0);
    for (size_t i = 0; i < *n; i++) {
        /* a string, not a number: lua_tostring would convert only the
         * stack's copy, which the pop below lets go */
        if (lua_geti(L, -2, (lua_Integer)i + 1) != LUA_TSTRING)
            luaL_error(L, "%s[%d] is not a string", key, (int)i + 1);
        list[i] = lua_tostring(L, -1);
        lua_pop(L, 1); /* still referenced by the list table */
    }
    return list;
}

static const char *opt_field_string(lua_State *L, const char *key)
{
    lua_getfield(L, 1, key);
    return lua_tostring(L, -1); /* left on the stack: stays valid */
}

/* transform.age{ recipients = { "age1..." } } or { passphrase = "..." } */
static int transform_age(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    size_t n;
    const char **recipients = string_list(L, "recipients", &n);
    const char *passphrase = opt_field_string(L, "passphrase");
    struct mb_lua_transform *t = push_transform(L);
    struct mb_error err = { { 0 } };
    t->transform = mb_age_encrypt_new(recipients, n, passphrase, &err);
    return t->transform ? 1 : mb_lua_fail(L, &err);
}

/* transform.unage{ identities = { "AGE-SECRET-KEY-1..." }, passphrase = "..." } */
static int transform_unage(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    size_t n;
    const char **identities = string_list(L, "identities", &n);
    const char *passphrase = opt_field_string(L, "passphrase");
    struct mb_lua_transform *t = push_transform(L);
    struct mb_error err = { { 0 } };
    t->transform = mb_age_decrypt_new(identities, n, passphrase, &err);
    return t->transform ? 1 : mb_lua_fail(L, &err);
}


static int transform_name(lua_State *L)
{
    lua_pushstring(L, mb_lua_check_transform(L, 1)->transform->ops->name);
    return 1;
}

int luaopen_moonbak_transform(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "name", transform_name },
        { "close", transform_close },
        { NULL, NULL },
    };
    static const luaL_Reg functions[] = {
        { "zstd", transform_zstd },
        { "unzstd", transform_unzstd },
        { "age", transform_age },
        { "unage", transform_unage },
        { NULL, NULL },
    };
    mb_lua_new_class(L, MB_TRANSFORM_TYPE, methods, transform_close);
    luaL_newlib(L, functions);
    return 1;
}
