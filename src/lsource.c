/* lsource.c — Lua module moonbak.source: start dumps and restores. */
#include "lhandle.h"
#include "registry.h"

#include <stdlib.h>
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

/* The version-3 operation of the spec's source type, or nil, message. */
#define SOURCE_OP_OR_FAIL(L, ops, op)                                                        \
    do {                                                                                     \
        if (!MB_SOURCE_OP(ops, op)) {                                                        \
            lua_pushnil(L);                                                                  \
            lua_pushfstring(L, "%s sources cannot " #op " (restore drills need it)", (ops)->type); \
            return 2;                                                                        \
        }                                                                                    \
    } while (0)

/* A query's reply, at most this long (the first value of a check). */
#define QUERY_REPLY_MAX 65536

/* source.query(spec, database, query) -> value | false | nil, message
 * query: SQL text, or for redis a command and its arguments ({ "GET", "k" }).
 * value: the first column of the first row (redis: the reply, an array's
 * elements one a line), as a string; false: no row (redis: a nil reply);
 * nil, message: the server's error.  database nil: the spec's. */
static int source_query(lua_State *L)
{
    const struct mb_source_ops *ops = check_source_type(L, 1);
    const char *database = luaL_optstring(L, 2, NULL);
    if (lua_type(L, 3) != LUA_TTABLE)
        luaL_checkstring(L, 3);
    size_t n = lua_type(L, 3) == LUA_TTABLE ? lua_rawlen(L, 3) : 1;
    luaL_argcheck(L, n > 0 && n < 1024, 3, "expected a query or 1 to 1023 words");
    const char *words[1024];
    for (size_t i = 0; i < n; i++) {
        if (lua_type(L, 3) == LUA_TTABLE)
            lua_geti(L, 3, (lua_Integer)i + 1); /* stays on the stack: the string lives */
        else
            lua_pushvalue(L, 3);
        words[i] = lua_tostring(L, -1);
        luaL_argcheck(L, words[i] != NULL, 3, "expected strings");
    }
    words[n] = NULL;
    struct mb_config *cfg = mb_lua_adapter_config(L, 1, ops->options, ops->data);
    SOURCE_OP_OR_FAIL(L, ops, query);
    char *out = lua_newuserdatauv(L, QUERY_REPLY_MAX, 0); /* collected by Lua: nothing to free */
    struct mb_error err = { { 0 } };
    int rc = ops->query(cfg, database, words, out, QUERY_REPLY_MAX, &err);
    if (rc < 0)
        return mb_lua_fail(L, &err);
    if (rc > 0)
        lua_pushboolean(L, 0);
    else
        lua_pushstring(L, out);
    return 1;
}

/* source.drop_database(spec, name) -> true | nil, message
 * Drops database name of the spec's server when it exists. */
static int source_drop_database(lua_State *L)
{
    const struct mb_source_ops *ops = check_source_type(L, 1);
    const char *name = luaL_checkstring(L, 2);
    struct mb_config *cfg = mb_lua_adapter_config(L, 1, ops->options, ops->data);
    SOURCE_OP_OR_FAIL(L, ops, drop_database);
    struct mb_error err = { { 0 } };
    if (ops->drop_database(cfg, name, &err) != 0)
        return mb_lua_fail(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* source.list_databases(spec, prefix) -> { name, ... } | nil, message
 * The databases of the spec's server whose name starts with prefix
 * (letters, digits and _), sorted. */
static int source_list_databases(lua_State *L)
{
    const struct mb_source_ops *ops = check_source_type(L, 1);
    const char *prefix = luaL_checkstring(L, 2);
    struct mb_config *cfg = mb_lua_adapter_config(L, 1, ops->options, ops->data);
    SOURCE_OP_OR_FAIL(L, ops, list_databases);
    struct mb_error err = { { 0 } };
    char *names = ops->list_databases(cfg, prefix, &err);
    if (!names)
        return mb_lua_fail(L, &err);
    lua_pushstring(L, names); /* raises only when out of memory, names lost then */
    free(names);
    const char *text = lua_tostring(L, -1);
    lua_newtable(L);
    lua_Integer k = 1;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        if (len) {
            lua_pushlstring(L, p, len);
            lua_seti(L, -2, k++);
        }
        p += len + (p[len] == '\n');
    }
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
        { "query", source_query },
        { "drop_database", source_drop_database },
        { "list_databases", source_list_databases },
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
