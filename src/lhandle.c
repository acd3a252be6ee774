/* lhandle.c — the Source and Writer handles (see lhandle.h). */
#include "lhandle.h"

#include "registry.h"

#include <stdio.h>

void mb_lua_source_close(struct mb_lua_source *s)
{
    if (s->reader) {
        s->reader->close(s->reader);
        s->reader = NULL;
    }
    mb_storage_release(s->storage); /* after: the reader may use it to the end */
    s->storage = NULL;
}

static int source_close(lua_State *L)
{
    mb_lua_source_close(luaL_checkudata(L, 1, MB_SOURCE_TYPE));
    return 0;
}

struct mb_lua_source *mb_lua_check_source(lua_State *L, int idx)
{
    struct mb_lua_source *s = luaL_checkudata(L, idx, MB_SOURCE_TYPE);
    if (!s->reader)
        luaL_argerror(L, idx, "source is closed");
    return s;
}

void mb_lua_push_source(lua_State *L, struct mb_reader *reader, struct mb_storage *storage)
{
    struct mb_lua_source *s = lua_newuserdatauv(L, sizeof *s, 0);
    s->reader = reader;
    s->storage = storage;
    if (storage)
        mb_storage_retain(storage);
    luaL_setmetatable(L, MB_SOURCE_TYPE);
}

/* source:metadata() -> table of what the adapter learned while dumping. */
static int source_metadata(lua_State *L)
{
    struct mb_lua_source *s = mb_lua_check_source(L, 1);
    lua_createtable(L, 0, (int)s->reader->meta.count);
    for (size_t i = 0; i < s->reader->meta.count; i++) {
        lua_pushstring(L, s->reader->meta.items[i].value);
        lua_setfield(L, -2, s->reader->meta.items[i].key);
    }
    return 1;
}

static int writer_close(lua_State *L)
{
    struct mb_lua_writer *w = luaL_checkudata(L, 1, MB_WRITER_TYPE);
    if (w->writer) {
        w->writer->close(w->writer);
        w->writer = NULL;
    }
    mb_storage_release(w->storage); /* after: closing may abort an upload on it */
    w->storage = NULL;
    return 0;
}

struct mb_lua_writer *mb_lua_check_writer(lua_State *L, int idx)
{
    struct mb_lua_writer *w = luaL_checkudata(L, idx, MB_WRITER_TYPE);
    if (!w->writer)
        luaL_argerror(L, idx, "writer is closed");
    return w;
}

void mb_lua_push_writer(lua_State *L, struct mb_writer *writer, struct mb_storage *storage,
                        const char *label)
{
    struct mb_lua_writer *w = lua_newuserdatauv(L, sizeof *w, 0);
    w->writer = writer;
    w->storage = storage;
    if (storage)
        mb_storage_retain(storage);
    snprintf(w->label, sizeof w->label, "%s", label);
    luaL_setmetatable(L, MB_WRITER_TYPE);
}

void mb_lua_handle_classes(lua_State *L)
{
    static const luaL_Reg source_methods[] = {
        { "metadata", source_metadata },
        { "close", source_close },
        { NULL, NULL },
    };
    static const luaL_Reg writer_methods[] = {
        { "close", writer_close },
        { NULL, NULL },
    };
    int known = luaL_getmetatable(L, MB_SOURCE_TYPE) != LUA_TNIL;
    lua_pop(L, 1);
    if (known)
        return;
    mb_lua_new_class(L, MB_SOURCE_TYPE, source_methods, source_close);
    mb_lua_new_class(L, MB_WRITER_TYPE, writer_methods, writer_close);
}
