/* ltransform.c — Lua module moonbak.transform: constructors of pipeline stages. */
#include "lmb.h"

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

/* transform.zstd{ level = 3, workers = 2 } -> Transform | nil, message */
static int transform_zstd(lua_State *L)
{
    int level = (int)opt_field_integer(L, 1, "level", 3);
    int workers = (int)opt_field_integer(L, 1, "workers", 2);
    struct mb_lua_transform *t = push_transform(L);
    struct mb_error err = { { 0 } };
    t->transform = mb_zstd_compress_new(level, workers, &err);
    return t->transform ? 1 : mb_lua_fail(L, &err);
}

/* transform.unzstd() -> Transform */
static int transform_unzstd(lua_State *L)
{
    struct mb_lua_transform *t = push_transform(L);
    struct mb_error err = { { 0 } };
    t->transform = mb_zstd_decompress_new(&err);
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
        { NULL, NULL },
    };
    mb_lua_new_class(L, MB_TRANSFORM_TYPE, methods, transform_close);
    luaL_newlib(L, functions);
    return 1;
}
