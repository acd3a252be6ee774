/* lstream.c — Lua module moonbak.stream: wire a source through transforms
 * into writers and pump.  Lua holds the handles; the bytes stay in C. */
#include "interrupt.h"
#include "lhandle.h"
#include "pump.h"

#include <stdio.h>
#include <string.h>

#define STREAM_TYPE "moonbak.Stream"

/* The stream's user values keep its source (1) and transforms (2) alive. */
struct lua_stream {
    int used; /* a stream pumps once: its transforms hold end-of-stream state */
};

static int stream_close(lua_State *L)
{
    luaL_checkudata(L, 1, STREAM_TYPE);
    return 0; /* the handles it references are closed by their own owners */
}

/* stream.new(source, { transform, ... }) -> Stream */
static int stream_new(lua_State *L)
{
    mb_lua_check_source(L, 1);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = lua_istable(L, 2) ? luaL_len(L, 2) : 0;
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        mb_lua_check_transform(L, -1);
        lua_seti(L, -2, i);
    }
    struct lua_stream *s = lua_newuserdatauv(L, sizeof *s, 2);
    s->used = 0;
    luaL_setmetatable(L, STREAM_TYPE);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    lua_rotate(L, -2, 1); /* transforms list on top */
    lua_setiuservalue(L, -2, 2);
    return 1;
}

static const char *opt_string_field(lua_State *L, int idx, const char *key)
{
    if (!lua_istable(L, idx))
        return NULL;
    /* Only a real string stays valid once popped (the options table holds
     * it); lua_tostring would convert a number on the stack alone. */
    const char *v = lua_getfield(L, idx, key) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1);
    return v;
}

static void push_result(lua_State *L, const struct mb_pump_result *r,
                        const struct mb_pump_sink *sinks, size_t n_sinks)
{
    lua_createtable(L, 0, 9);
    lua_pushinteger(L, (lua_Integer)r->bytes_in);
    lua_setfield(L, -2, "bytes_in");
    lua_pushinteger(L, (lua_Integer)r->bytes_out);
    lua_setfield(L, -2, "bytes_out");
    lua_pushstring(L, r->sha256_in);
    lua_setfield(L, -2, "sha256_in");
    lua_pushstring(L, r->sha256_out);
    lua_setfield(L, -2, "sha256_out");
    lua_pushnumber(L, r->seconds);
    lua_setfield(L, -2, "seconds");
    lua_pushnumber(L, r->read_seconds);
    lua_setfield(L, -2, "read_seconds");
    lua_pushnumber(L, r->write_seconds);
    lua_setfield(L, -2, "write_seconds");
    lua_pushnumber(L, r->transform_seconds);
    lua_setfield(L, -2, "transform_seconds");
    lua_createtable(L, (int)n_sinks, 0);
    for (size_t i = 0; i < n_sinks; i++) {
        lua_createtable(L, 0, 3);
        lua_pushboolean(L, sinks[i].committed);
        lua_setfield(L, -2, "ok");
        lua_pushinteger(L, (lua_Integer)sinks[i].bytes);
        lua_setfield(L, -2, "bytes");
        if (sinks[i].err.msg[0]) {
            lua_pushfstring(L, "%s: %s", sinks[i].label, sinks[i].err.msg);
            lua_setfield(L, -2, "error");
        }
        lua_seti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "sinks");
}

/* The terminal's progress line, redrawn in place; the final one ends it. */
static void progress_line(void *ud, const struct mb_pump_progress *p, int final)
{
    const char *label = ud;
    double in = (double)p->bytes_in / 1048576.0;
    double out = (double)p->bytes_out / 1048576.0;
    fprintf(stderr, "\r\033[K%s: %.1f MiB read, %.1f MiB written, %.1f MiB/s, %02d:%02d%s",
            label, in, out, p->seconds > 0 ? in / p->seconds : 0.0, (int)p->seconds / 60,
            (int)p->seconds % 60, final ? "\n" : "");
    fflush(stderr);
}

/* stream:pump({ writer, ... } [, { expect_sha256_in =, expect_sha256_out =, progress = label }])
 *   -> result | nil, message, result
 * Every writer is committed on success and aborted on failure. */
static int stream_pump(lua_State *L)
{
    struct lua_stream *s = luaL_checkudata(L, 1, STREAM_TYPE);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (s->used)
        return luaL_error(L, "stream was already pumped");
    /* The label stays valid: the options table (argument 3) holds it. */
    const char *progress_label = opt_string_field(L, 3, "progress");
    struct mb_pump_options options = { opt_string_field(L, 3, "expect_sha256_in"),
                                       opt_string_field(L, 3, "expect_sha256_out"),
                                       mb_process_cancel(),
                                       progress_label ? progress_line : NULL,
                                       (void *)progress_label };
    lua_getiuservalue(L, 1, 1);
    struct mb_reader *reader = mb_lua_check_source(L, -1)->reader;
    lua_getiuservalue(L, 1, 2);
    size_t n_transforms = (size_t)luaL_len(L, -1);
    size_t n_sinks = (size_t)luaL_len(L, 2);
    /* Arrays in GC-owned memory: nothing leaks if a check below raises. */
    struct mb_transform **transforms =
        lua_newuserdatauv(L, (n_transforms + 1) * sizeof *transforms, 0);
    struct mb_pump_sink *sinks = lua_newuserdatauv(L, (n_sinks + 1) * sizeof *sinks, 0);
    memset(sinks, 0, (n_sinks + 1) * sizeof *sinks);
    for (size_t i = 0; i < n_transforms; i++) {
        lua_geti(L, -3, (lua_Integer)i + 1);
        transforms[i] = mb_lua_check_transform(L, -1)->transform;
        lua_pop(L, 1);
    }
    for (size_t i = 0; i < n_sinks; i++) {
        lua_geti(L, 2, (lua_Integer)i + 1);
        struct mb_lua_writer *w = mb_lua_check_writer(L, -1);
        for (size_t j = 0; j < i; j++)
            if (sinks[j].writer == w->writer)
                return luaL_error(L, "the same writer is given twice (%s)", w->label);
        sinks[i].writer = w->writer;
        sinks[i].label = w->label; /* the writer stays referenced by argument 2 */
        lua_pop(L, 1);
    }
    s->used = 1;
    struct mb_pump_result result;
    struct mb_error err = { { 0 } };
    int rc = mb_pump(reader, transforms, n_transforms, sinks, n_sinks, &options, &result, &err);
    if (rc != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        push_result(L, &result, sinks, n_sinks);
        return 3;
    }
    push_result(L, &result, sinks, n_sinks);
    return 1;
}

int luaopen_moonbak_stream(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "pump", stream_pump },
        { "close", stream_close },
        { NULL, NULL },
    };
    static const luaL_Reg functions[] = {
        { "new", stream_new },
        { NULL, NULL },
    };
    mb_lua_new_class(L, STREAM_TYPE, methods, stream_close);
    luaL_newlib(L, functions);
    return 1;
}
