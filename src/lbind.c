/* lbind.c — helpers shared by the Lua bindings. */
#include "interrupt.h"
#include "lmb.h"
#include "registry.h"

#include <string.h>

int mb_lua_fail(lua_State *L, const struct mb_error *err)
{
    lua_pushnil(L);
    lua_pushstring(L, err->msg[0] ? err->msg : "unknown error");
    return 2;
}

void mb_lua_new_class(lua_State *L, const char *tname, const luaL_Reg *methods,
                      lua_CFunction close)
{
    luaL_newmetatable(L, tname);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
}

static int config_close(lua_State *L)
{
    mb_config_free(luaL_checkudata(L, 1, "moonbak.Config"));
    return 0;
}

/* Text of the option value on top of the stack; lists become
 * newline-separated text. */
static void push_option_text(lua_State *L, const char *key)
{
    int v = lua_gettop(L);
    int t = lua_type(L, v);
    if (t == LUA_TSTRING || t == LUA_TNUMBER) {
        lua_pushstring(L, lua_tostring(L, v));
    } else if (t == LUA_TBOOLEAN) {
        lua_pushstring(L, lua_toboolean(L, v) ? "true" : "false");
    } else if (t == LUA_TTABLE && !lua_getmetatable(L, v)) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        lua_Integer n = luaL_len(L, v);
        for (lua_Integer i = 1; i <= n; i++) {
            if (i > 1)
                luaL_addchar(&b, '\n');
            int item = lua_geti(L, v, i);
            if (item != LUA_TSTRING && item != LUA_TNUMBER)
                luaL_error(L, "option \"%s\": item %d is not a string", key, (int)i);
            luaL_addvalue(&b);
        }
        luaL_pushresult(&b);
    } else {
        luaL_error(L, "option \"%s\" holds a %s, not plain data (an unresolved secret?)", key,
                   luaL_typename(L, v));
    }
}

struct mb_config *mb_lua_config(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    struct mb_config *cfg = lua_newuserdatauv(L, sizeof *cfg, 0);
    memset(cfg, 0, sizeof *cfg);
    if (luaL_newmetatable(L, "moonbak.Config")) {
        lua_pushcfunction(L, config_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, config_close);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    /* Wiped (values may be resolved passwords) when the binding returns
     * or raises, not whenever the collector gets to it. */
    lua_toclose(L, -1);
    cfg->cancel = mb_process_cancel();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *key = lua_tostring(L, -2);
            push_option_text(L, key);
            if (mb_config_set(cfg, key, lua_tostring(L, -1)) != 0)
                luaL_error(L, "out of memory");
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    return cfg;
}

struct mb_config *mb_lua_adapter_config(lua_State *L, int idx, const struct mb_option *options,
                                        const void *data)
{
    struct mb_config *cfg = mb_lua_config(L, idx);
    if (mb_config_set_defaults(cfg, options) != 0)
        luaL_error(L, "out of memory");
    cfg->adapter_data = data;
    return cfg;
}

/* Strings of the list at idx (and NAME=value of the map at env_idx), kept
 * alive by the Lua values they point into. */
const char **mb_lua_string_list(lua_State *L, int idx, int as_env)
{
    size_t n = 0;
    if (!lua_isnoneornil(L, idx)) {
        luaL_checktype(L, idx, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            n++;
            lua_pop(L, 1);
        }
    }
    /* a userdata, so that a raise below frees it with the state */
    const char **v = lua_newuserdatauv(L, (n + 1) * sizeof *v, 0);
    size_t k = 0;
    if (n && !as_env) {
        for (lua_Integer i = 1; i <= (lua_Integer)n; i++) {
            lua_geti(L, idx, i);
            v[k++] = luaL_checkstring(L, -1);
            lua_pop(L, 1); /* the list still holds the string */
        }
    } else if (n) {
        int list = lua_gettop(L) + 1;
        lua_newtable(L); /* keeps the "NAME=value" strings alive */
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            const char *name = luaL_checkstring(L, -2);
            const char *value = luaL_checkstring(L, -1);
            v[k] = lua_pushfstring(L, "%s=%s", name, value);
            lua_rawseti(L, list, (lua_Integer)++k);
            lua_pop(L, 1);
        }
    }
    v[k] = NULL;
    return v;
}
