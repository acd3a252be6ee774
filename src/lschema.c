/* lschema.c — what the adapters say about themselves, for Lua: the
 * functions types(), schema(type), extension(spec) and config(spec) of
 * moonbak.source (types, schema and config of moonbak.storage), over one
 * helper that pushes a schema, whatever kind of adapter it describes. */
#include "lmb.h"
#include "registry.h"

static const char *const kind_names[] = {
    [MB_OPTION_STRING] = "string",
    [MB_OPTION_INTEGER] = "integer",
    [MB_OPTION_BOOLEAN] = "boolean",
    [MB_OPTION_STRINGS] = "strings",
    [MB_OPTION_STRING_OR_STRINGS] = "string|strings",
    [MB_OPTION_TABLE] = "table",
};

/* The default as the job file would write it: 5432, true, "plain". */
static void push_default(lua_State *L, const struct mb_option *o)
{
    if (!o->default_value)
        lua_pushnil(L);
    else if (o->kind == MB_OPTION_INTEGER && lua_stringtonumber(L, o->default_value))
        ; /* pushed */
    else if (o->kind == MB_OPTION_BOOLEAN)
        lua_pushboolean(L, o->default_value[0] == 't');
    else
        lua_pushstring(L, o->default_value);
}

/* { type =, extension =, options = { { name =, kind =, required =,
 * default =, secret =, help =, min =, max =, expected =, choices = }, ...
 * } } in the adapter's order.  min and max are there for an integer with
 * a range (max nil: no upper bound), expected with them when the adapter
 * words it; choices ({ "plain", "custom" }) for a string that must be one
 * of them. */
void mb_lua_push_schema(lua_State *L, const char *type, const char *extension,
                        const struct mb_option *options)
{
    lua_createtable(L, 0, 3);
    lua_pushstring(L, type);
    lua_setfield(L, -2, "type");
    lua_pushstring(L, extension); /* nil when the adapter makes no artifact */
    lua_setfield(L, -2, "extension");
    lua_newtable(L);
    for (int i = 0; options && options[i].name; i++) {
        const struct mb_option *o = &options[i];
        lua_createtable(L, 0, 6);
        lua_pushstring(L, o->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, kind_names[o->kind]);
        lua_setfield(L, -2, "kind");
        lua_pushboolean(L, o->required);
        lua_setfield(L, -2, "required");
        push_default(L, o);
        lua_setfield(L, -2, "default");
        lua_pushboolean(L, o->secret);
        lua_setfield(L, -2, "secret");
        lua_pushstring(L, o->help);
        lua_setfield(L, -2, "help");
        if (o->has_range) {
            lua_pushinteger(L, o->min);
            lua_setfield(L, -2, "min");
            if (o->max != LLONG_MAX) {
                lua_pushinteger(L, o->max);
                lua_setfield(L, -2, "max");
            }
            lua_pushstring(L, o->expected); /* nil when not worded */
            lua_setfield(L, -2, "expected");
        }
        if (o->choices) {
            lua_newtable(L);
            for (int c = 0; o->choices[c]; c++) {
                lua_pushstring(L, o->choices[c]);
                lua_rawseti(L, -2, c + 1);
            }
            lua_setfield(L, -2, "choices");
        }
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "options");
}

/* source.types() -> { "sqlite", ... } in the registry's order */
int mb_lua_source_types(lua_State *L)
{
    lua_newtable(L);
    const struct mb_source_ops *ops;
    for (size_t i = 0, n = 0; (ops = mb_source_at(i)); i++)
        if (mb_source_find(ops->type) == ops) {
            lua_pushstring(L, ops->type);
            lua_rawseti(L, -2, (lua_Integer)++n);
        }
    return 1;
}

/* source.schema(type) -> schema | nil */
int mb_lua_source_schema(lua_State *L)
{
    const struct mb_source_ops *ops = mb_source_find(luaL_checkstring(L, 1));
    if (!ops)
        return 0;
    mb_lua_push_schema(L, ops->type, ops->extension, ops->options);
    return 1;
}

/* source.extension(spec) -> "sql": the artifact's, before .zst and .age.
 * The spec may still hold references: only its plain values count. */
int mb_lua_source_extension(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "type");
    const struct mb_source_ops *ops = lua_type(L, -1) == LUA_TSTRING ? mb_source_find(lua_tostring(L, -1)) : NULL;
    if (!ops)
        return luaL_argerror(L, 1, "unknown source type");
    const char *ext = NULL;
    if (ops->extension_for) {
        lua_newtable(L); /* the plain values, which mb_lua_config takes */
        int plain = lua_gettop(L);
        for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) {
            int t = lua_type(L, -1);
            if (lua_type(L, -2) == LUA_TSTRING && (t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN)) {
                lua_pushvalue(L, -2);
                lua_pushvalue(L, -2);
                lua_rawset(L, plain);
            }
        }
        struct mb_config *cfg = mb_lua_adapter_config(L, plain, ops->options, ops->data);
        ext = ops->extension_for(cfg); /* points into cfg or static */
    }
    lua_pushstring(L, ext ? ext : ops->extension);
    return 1;
}

/* The config as a table of texts: { port = "22", ... }. */
static void push_config(lua_State *L, const struct mb_config *cfg)
{
    lua_createtable(L, 0, (int)cfg->count);
    for (size_t i = 0; i < cfg->count; i++) {
        lua_pushstring(L, cfg->items[i].value);
        lua_setfield(L, -2, cfg->items[i].key);
    }
}

/* source.config(spec) -> { key = text }: what the adapter is given for
 * spec (resolved values only), the schema's defaults included. */
int mb_lua_source_config(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "type");
    const struct mb_source_ops *ops = lua_type(L, -1) == LUA_TSTRING ? mb_source_find(lua_tostring(L, -1)) : NULL;
    if (!ops)
        return luaL_argerror(L, 1, "unknown source type");
    push_config(L, mb_lua_adapter_config(L, 1, ops->options, ops->data));
    return 1;
}

/* storage.config(spec) -> { key = text }, as source.config */
int mb_lua_storage_config(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "type");
    const struct mb_storage_ops *ops = lua_type(L, -1) == LUA_TSTRING ? mb_storage_find(lua_tostring(L, -1)) : NULL;
    if (!ops)
        return luaL_argerror(L, 1, "unknown storage type");
    push_config(L, mb_lua_adapter_config(L, 1, ops->options, ops->data));
    return 1;
}

/* storage.types() -> { "local", ... } */
int mb_lua_storage_types(lua_State *L)
{
    lua_newtable(L);
    const struct mb_storage_ops *ops;
    for (size_t i = 0, n = 0; (ops = mb_storage_at(i)); i++)
        if (mb_storage_find(ops->type) == ops) {
            lua_pushstring(L, ops->type);
            lua_rawseti(L, -2, (lua_Integer)++n);
        }
    return 1;
}

/* storage.schema(type) -> schema | nil */
int mb_lua_storage_schema(lua_State *L)
{
    const struct mb_storage_ops *ops = mb_storage_find(luaL_checkstring(L, 1));
    if (!ops)
        return 0;
    mb_lua_push_schema(L, ops->type, NULL, ops->options);
    return 1;
}
