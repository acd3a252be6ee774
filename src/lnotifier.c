/* lnotifier.c — moonbak.notifier: the notifier adapters for Lua.  What to
 * say and when is lua/moonbak/notify.lua's; this file only hands a worded
 * notice to an adapter and its answer back.
 *
 *   notifier.types() -> { "discord", ... }
 *   notifier.schema(type) -> { type =, default_on = { "failure", ... }, options = { ... } } | nil
 *   notifier.config(spec) -> { key = text }: what the adapter is given
 *   notifier.deliver(spec, notice, seconds) -> { sent =, code =, attempts =, answer =, error =, seconds = }
 *
 * spec is a notifier of a job with its references resolved; notice holds
 * the struct mb_notice fields (fields = { { "Trigger", "schedule" }, ... });
 * seconds bounds the whole delivery, retries included.  A delivery that
 * fails is an answer (sent = false, error = why), not an error: only a
 * misuse (an unknown type, a notice without its parts) raises. */
#include "clock.h"
#include "lmb.h"
#include "registry.h"

#include <string.h>

static const struct mb_notify_ops *check_type(lua_State *L, int idx)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "type");
    const char *type = lua_tostring(L, -1);
    const struct mb_notify_ops *ops = type ? mb_notify_find(type) : NULL;
    lua_pop(L, 1);
    if (!ops)
        luaL_argerror(L, idx, "unknown notifier type");
    return ops;
}

static int notifier_types(lua_State *L)
{
    lua_newtable(L);
    const struct mb_notify_ops *ops;
    for (size_t i = 0, n = 0; (ops = mb_notify_at(i)); i++)
        if (mb_notify_find(ops->type) == ops) {
            lua_pushstring(L, ops->type);
            lua_rawseti(L, -2, (lua_Integer)++n);
        }
    return 1;
}

/* The schema of sources and storages, with default_on as a list. */
static int notifier_schema(lua_State *L)
{
    const struct mb_notify_ops *ops = mb_notify_find(luaL_checkstring(L, 1));
    if (!ops)
        return 0;
    mb_lua_push_schema(L, ops->type, NULL, ops->options);
    lua_newtable(L);
    const char *p = ops->default_on;
    for (int n = 1; p && *p; n++) {
        size_t len = strcspn(p, " ");
        lua_pushlstring(L, p, len);
        lua_rawseti(L, -2, n);
        p += len + strspn(p + len, " ");
    }
    lua_setfield(L, -2, "default_on");
    return 1;
}

static int notifier_config(lua_State *L)
{
    const struct mb_notify_ops *ops = check_type(L, 1);
    struct mb_config *cfg = mb_lua_adapter_config(L, 1, ops->options, ops->data);
    lua_createtable(L, 0, (int)cfg->count);
    for (size_t i = 0; i < cfg->count; i++) {
        lua_pushstring(L, cfg->items[i].value);
        lua_setfield(L, -2, cfg->items[i].key);
    }
    return 1;
}

/* notice[key] as a string kept alive by the notice table itself. */
static const char *notice_text(lua_State *L, int notice, const char *key, int required)
{
    lua_getfield(L, notice, key);
    const char *text = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1); /* still referenced by the table */
    if (!text && required)
        luaL_error(L, "notifier.deliver: the notice has no %s", key);
    return text;
}

/* The fields { { name, value }, ... } in their order, into a config owned by
 * a to-be-closed slot like every other (see mb_lua_config). */
static struct mb_config *notice_fields(lua_State *L, int notice)
{
    lua_newtable(L);
    struct mb_config *fields = mb_lua_config(L, -1);
    if (lua_getfield(L, notice, "fields") != LUA_TTABLE)
        luaL_error(L, "notifier.deliver: the notice has no fields");
    for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TTABLE; i++) {
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        const char *name = lua_tostring(L, -2), *value = lua_tostring(L, -1);
        if (!name || !value)
            luaL_error(L, "notifier.deliver: field %d of the notice is not { name, value }", (int)i);
        if (mb_config_set(fields, name, value) != 0)
            luaL_error(L, "out of memory");
        lua_pop(L, 3);
    }
    lua_pop(L, 2); /* the last rawgeti, fields */
    return fields;
}

static void set_string(lua_State *L, const char *key, const char *value)
{
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
}

static int notifier_deliver(lua_State *L)
{
    const struct mb_notify_ops *ops = check_type(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    double seconds = luaL_checknumber(L, 3);
    struct mb_config *cfg = mb_lua_adapter_config(L, 1, ops->options, ops->data);
    /* Notices go out after a run was cancelled or timed out too: the
     * deadline bounds them, not the process's token. */
    cfg->cancel = NULL;
    struct mb_notice notice = {
        .event = notice_text(L, 2, "event", 1),
        .status = notice_text(L, 2, "status", 1),
        .job = notice_text(L, 2, "job", 1),
        .title = notice_text(L, 2, "title", 1),
        .summary = notice_text(L, 2, "summary", 1),
        .log = notice_text(L, 2, "log", 0),
        .json = notice_text(L, 2, "json", 1),
        .run_id = notice_text(L, 2, "run_id", 1),
        .host = notice_text(L, 2, "host", 1),
    };
    lua_getfield(L, 2, "time");
    notice.time = (long long)luaL_optinteger(L, -1, 0);
    lua_pop(L, 1);
    if (!notice.log)
        notice.log = "";
    notice.fields = notice_fields(L, 2);

    struct mb_delivery out = { 0 };
    struct mb_error err = { { 0 } };
    double started = mb_now();
    int rc = ops->send(cfg, &notice, started + (seconds > 0 ? seconds : 0), &out, &err);
    lua_createtable(L, 0, 6);
    lua_pushboolean(L, rc == 0 && out.sent);
    lua_setfield(L, -2, "sent");
    if (out.code) {
        lua_pushinteger(L, out.code);
        lua_setfield(L, -2, "code");
    }
    lua_pushinteger(L, out.attempts);
    lua_setfield(L, -2, "attempts");
    if (out.answer[0])
        set_string(L, "answer", out.answer);
    if (rc != 0)
        set_string(L, "error", err.msg[0] ? err.msg : "not sent");
    lua_pushnumber(L, mb_now() - started);
    lua_setfield(L, -2, "seconds");
    return 1;
}

int luaopen_moonbak_notifier(lua_State *L)
{
    static const luaL_Reg functions[] = {
        { "types", notifier_types },
        { "schema", notifier_schema },
        { "config", notifier_config },
        { "deliver", notifier_deliver },
        { NULL, NULL },
    };
    luaL_newlib(L, functions);
    return 1;
}
