/* lsource.c — Lua module moonbak.source: start dumps and restores. */
#include "lhandle.h"
#include "registry.h"

#include <string.h>

static const struct mb_source_ops *check_source_type(lua_State *L, int idx)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "type");
    const char *type = lua_tostring(L, -1);
    const struct mb_source_ops *ops = type ? mb_source_find(type) : NULL;
    if (!ops)
        luaL_error(L, "unknown source type \"%s\"", type ? type : "(none)");
    lua_pop(L, 1);
    return ops;
}

/* source.open(spec) -> Source | nil, message */
static int source_open(lua_State *L)
{
    const struct mb_source_ops *ops = check_source_type(L, 1);
    struct mb_config *cfg = mb_lua_adapter_config(L, 1, ops->options, ops->data);
    struct mb_error err = { { 0 } };
    struct mb_reader *r = ops->open(cfg, &err);
    if (!r)
        return mb_lua_fail(L, &err);
    mb_lua_push_source(L, r, NULL);
    return 1;
}

/* source.check(spec) -> true | nil, message */
static int source_check(lua_State *L)
{
    const struct mb_source_ops *ops = check_source_type(L, 1);
    struct mb_config *cfg = mb_lua_adapter_config(L, 1, ops->options, ops->data);
    struct mb_error err = { { 0 } };
    if (ops->check(cfg, &err) != 0)
        return mb_lua_fail(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* source.restore_writer(spec, target, create) -> Writer | nil, message
 * A writer that loads a dump into database target (nil: the one the spec
 * names), creating it first when create is true. */
static int source_restore_writer(lua_State *L)
{
    const struct mb_source_ops *ops = check_source_type(L, 1);
    const char *target = luaL_optstring(L, 2, NULL);
    int create = lua_toboolean(L, 3);
    struct mb_config *cfg = mb_lua_adapter_config(L, 1, ops->options, ops->data);
    struct mb_error err = { { 0 } };
    if (!ops->restore) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s backups cannot be loaded into a running server; restore them with --output FILE",
                        ops->type);
        return 2;
    }
    struct mb_writer *w = ops->restore(cfg, target, create, &err);
    if (!w)
        return mb_lua_fail(L, &err);
    mb_lua_push_writer(L, w, NULL, lua_pushfstring(L, "%s restore", ops->type));
    return 1;
}

/* source.exists(type) -> boolean: lets job validation ask the registry */
static int source_exists(lua_State *L)
{
    lua_pushboolean(L, mb_source_find(luaL_checkstring(L, 1)) != NULL);
    return 1;
}

int luaopen_moonbak_source(lua_State *L)
{
    static const luaL_Reg functions[] = {
        { "open", source_open },
        { "check", source_check },
        { "exists", source_exists },
        { "restore_writer", source_restore_writer },
        { "types", mb_lua_source_types },
        { "schema", mb_lua_source_schema },
        { "extension", mb_lua_source_extension },
        { "config", mb_lua_source_config },
        { NULL, NULL },
    };
    mb_lua_handle_classes(L);
    luaL_newlib(L, functions);
    return 1;
}
