/* lstorage.c — Lua module moonbak.storage: storages, and the writers and
 * readers of what they store. */
#include "fileio.h"
#include "lhandle.h"
#include "registry.h"

#include <stdio.h>
#include <string.h>

#define STORAGE_TYPE "moonbak.Storage"
#define SMALL_OBJECT_MAX (16u << 20) /* get() is for sidecars, not for backups */

/* Holds one reference to its storage; each Writer and Source opened from
 * it holds another (lhandle.h), so closing it first frees nothing they use. */
struct lua_storage {
    const struct mb_storage_ops *ops;
    struct mb_storage *self; /* NULL once closed */
    char label[256];
};

static int storage_close(lua_State *L)
{
    struct lua_storage *s = luaL_checkudata(L, 1, STORAGE_TYPE);
    mb_storage_release(s->self);
    s->self = NULL;
    return 0;
}

static struct lua_storage *check_storage(lua_State *L, int idx)
{
    struct lua_storage *s = luaL_checkudata(L, idx, STORAGE_TYPE);
    if (!s->self)
        luaL_argerror(L, idx, "storage is closed");
    return s;
}

/* Prefixes an adapter's message with the storage's name unless it has it. */
static int storage_fail(lua_State *L, struct lua_storage *s, const struct mb_error *err)
{
    lua_pushnil(L);
    lua_pushfstring(L, "storage %s: %s", s->label, err->msg);
    return 2;
}

/* storage.open(spec) -> Storage | nil, message */
static int storage_open(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "type");
    const char *type = lua_tostring(L, -1);
    const struct mb_storage_ops *ops = type ? mb_storage_find(type) : NULL;
    if (!ops)
        return luaL_error(L, "unknown storage type \"%s\"", type ? type : "(none)");
    lua_getfield(L, 1, "name");
    const char *name = luaL_optstring(L, -1, type);
    struct mb_config *cfg = mb_lua_adapter_config(L, 1, ops->options, ops->data);
    struct lua_storage *s = lua_newuserdatauv(L, sizeof *s, 0);
    s->ops = ops;
    s->self = NULL; /* created closed: an error below leaves it consistent */
    snprintf(s->label, sizeof s->label, "%s", name);
    luaL_setmetatable(L, STORAGE_TYPE);
    struct mb_error err = { { 0 } };
    s->self = mb_storage_open(ops, cfg, &err);
    if (!s->self)
        return storage_fail(L, s, &err);
    return 1;
}

static int storage_check(lua_State *L)
{
    struct lua_storage *s = check_storage(L, 1);
    struct mb_error err = { { 0 } };
    if (s->ops->check(s->self, &err) != 0)
        return storage_fail(L, s, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* storage:writer(name) -> Writer | nil, message */
static int storage_writer(lua_State *L)
{
    struct lua_storage *s = check_storage(L, 1);
    const char *name = luaL_checkstring(L, 2);
    struct mb_error err = { { 0 } };
    struct mb_writer *w = s->ops->open_write(s->self, name, &err);
    if (!w)
        return storage_fail(L, s, &err);
    const char *label = lua_pushfstring(L, "storage %s", s->label);
    mb_lua_push_writer(L, w, s->self, label);
    return 1;
}

/* storage:reader(name) -> Source | nil, message */
static int storage_reader(lua_State *L)
{
    struct lua_storage *s = check_storage(L, 1);
    struct mb_error err = { { 0 } };
    struct mb_reader *r = s->ops->open_read(s->self, luaL_checkstring(L, 2), &err);
    if (!r)
        return storage_fail(L, s, &err);
    mb_lua_push_source(L, r, s->self);
    return 1;
}

#define HOLD_TYPE "moonbak.StorageHold"

static int hold_release(lua_State *L)
{
    struct mb_storage **held = luaL_checkudata(L, 1, HOLD_TYPE);
    mb_storage_release(*held);
    *held = NULL;
    return 0;
}

/* A reference to s's storage for the length of the calling C function,
 * dropped when it returns or raises: a listing's callbacks allocate, so the
 * collector may run a script's finalizer that closes the Storage in the
 * middle of it. */
static struct mb_storage *hold(lua_State *L, struct lua_storage *s)
{
    struct mb_storage **held = lua_newuserdatauv(L, sizeof *held, 0);
    *held = NULL;
    luaL_setmetatable(L, HOLD_TYPE);
    lua_toclose(L, -1);
    mb_storage_retain(s->self);
    *held = s->self;
    return s->self;
}

static int list_collect(void *ud, const char *name, uint64_t size, struct mb_error *err)
{
    (void)err;
    lua_State *L = ud;
    lua_createtable(L, 0, 2);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, (lua_Integer)size);
    lua_setfield(L, -2, "size");
    lua_seti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
    return 0;
}

/* storage:list(prefix) -> { {name=, size=}, ... } | nil, message */
static int storage_list(lua_State *L)
{
    struct lua_storage *s = check_storage(L, 1);
    const char *prefix = luaL_optstring(L, 2, "");
    struct mb_error err = { { 0 } };
    struct mb_storage *held = hold(L, s);
    lua_newtable(L);
    if (s->ops->list(held, prefix, list_collect, L, &err) != 0)
        return storage_fail(L, s, &err);
    return 1;
}

static int storage_remove(lua_State *L)
{
    struct lua_storage *s = check_storage(L, 1);
    struct mb_error err = { { 0 } };
    if (s->ops->remove(s->self, luaL_checkstring(L, 2), &err) != 0)
        return storage_fail(L, s, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* A storage without the operation can show nothing. */
static int has_incomplete_ops(const struct lua_storage *s)
{
    return s->ops->list_incomplete != NULL;
}

static int incomplete_collect(void *ud, const char *artifact, const char *upload,
                              struct mb_error *err)
{
    (void)err;
    lua_State *L = ud;
    lua_createtable(L, 0, 2);
    lua_pushstring(L, artifact);
    lua_setfield(L, -2, "artifact");
    lua_pushstring(L, upload);
    lua_setfield(L, -2, "upload");
    lua_seti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
    return 0;
}

/* storage:incomplete(prefix) -> { {artifact=, upload=}, ... } | nil, message
 * The uploads under prefix that were started and never finished. */
static int storage_incomplete(lua_State *L)
{
    struct lua_storage *s = check_storage(L, 1);
    const char *prefix = luaL_optstring(L, 2, "");
    struct mb_error err = { { 0 } };
    struct mb_storage *held = hold(L, s);
    lua_newtable(L);
    if (has_incomplete_ops(s) && s->ops->list_incomplete(held, prefix, incomplete_collect, L, &err) != 0)
        return storage_fail(L, s, &err);
    return 1;
}

/* storage:remove_incomplete(artifact, upload) -> true | nil, message */
static int storage_remove_incomplete(lua_State *L)
{
    struct lua_storage *s = check_storage(L, 1);
    const char *artifact = luaL_checkstring(L, 2);
    const char *upload = luaL_checkstring(L, 3);
    struct mb_error err = { { 0 } };
    if (mb_storage_remove_incomplete(s->self, artifact, upload, &err) != 0)
        return storage_fail(L, s, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* storage:put(name, text): small objects (sidecars), written atomically. */
static int storage_put(lua_State *L)
{
    struct lua_storage *s = check_storage(L, 1);
    size_t len;
    const char *name = luaL_checkstring(L, 2);
    const char *data = luaL_checklstring(L, 3, &len);
    struct mb_error err = { { 0 } };
    struct mb_writer *w = s->ops->open_write(s->self, name, &err);
    int rc = w ? w->write(w, data, len, &err) : -1;
    if (rc == 0)
        rc = w->commit(w, &err);
    if (w)
        w->close(w);
    if (rc != 0)
        return storage_fail(L, s, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* storage:get(name [, max]) -> text | nil, message: small objects only
 * (max bytes, default and at most SMALL_OBJECT_MAX). */
static int storage_get(lua_State *L)
{
    struct lua_storage *s = check_storage(L, 1);
    const char *name = luaL_checkstring(L, 2);
    lua_Integer max = luaL_optinteger(L, 3, SMALL_OBJECT_MAX);
    if (max < 0 || max > SMALL_OBJECT_MAX)
        max = SMALL_OBJECT_MAX;
    struct mb_error err = { { 0 } };
    struct mb_reader *r = s->ops->open_read(s->self, name, &err);
    if (!r)
        return storage_fail(L, s, &err);
    mb_lua_push_source(L, r, s->self); /* owns r from here: closed even if we raise */
    struct mb_lua_source *box = lua_touserdata(L, -1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t total = 0;
    ssize_t n;
    do {
        char *p = luaL_prepbuffer(&b);
        n = r->read(r, p, LUAL_BUFFERSIZE, &err);
        if (n > 0)
            luaL_addsize(&b, (size_t)n);
        total += n > 0 ? (size_t)n : 0;
    } while (n > 0 && total <= (size_t)max);
    /* Closed now, not when the collector gets to it: a remote reader holds
     * a connection, and a listing reads thousands of sidecars. */
    mb_lua_source_close(box);
    if (n < 0)
        return storage_fail(L, s, &err);
    if (total > (size_t)max) {
        lua_pushnil(L);
        lua_pushfstring(L, "storage %s: %s is larger than %I bytes", s->label, name, max);
        return 2;
    }
    luaL_pushresult(&b);
    return 1;
}

/* storage.file_writer(path) -> Writer | nil, message: restore's --output */
static int storage_file_writer(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct mb_error err = { { 0 } };
    struct mb_writer *w = mb_file_writer_open(path, &err);
    if (!w)
        return mb_lua_fail(L, &err);
    mb_lua_push_writer(L, w, NULL, lua_pushfstring(L, "file %s", path));
    return 1;
}

static int storage_exists(lua_State *L)
{
    lua_pushboolean(L, mb_storage_find(luaL_checkstring(L, 1)) != NULL);
    return 1;
}

int luaopen_moonbak_storage(lua_State *L)
{
    static const luaL_Reg storage_methods[] = {
        { "check", storage_check }, { "writer", storage_writer }, { "reader", storage_reader },
        { "list", storage_list },   { "remove", storage_remove }, { "put", storage_put },
        { "get", storage_get },     { "close", storage_close },
        { "incomplete", storage_incomplete }, { "remove_incomplete", storage_remove_incomplete },
        { NULL, NULL },
    };
    static const luaL_Reg functions[] = {
        { "open", storage_open },
        { "file_writer", storage_file_writer },
        { "exists", storage_exists },
        { "types", mb_lua_storage_types },
        { "schema", mb_lua_storage_schema },
        { "config", mb_lua_storage_config },
        { NULL, NULL },
    };
    static const luaL_Reg no_methods[] = { { NULL, NULL } };
    mb_lua_new_class(L, STORAGE_TYPE, storage_methods, storage_close);
    mb_lua_new_class(L, HOLD_TYPE, no_methods, hold_release);
    mb_lua_handle_classes(L);
    luaL_newlib(L, functions);
    return 1;
}
