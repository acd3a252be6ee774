/* lmb.h — what the Lua bindings (src/l*.c) share. */
#ifndef MB_LMB_H
#define MB_LMB_H

#include <lauxlib.h>
#include <lua.h>

#include "mb.h"
#include "transform.h"

/* Expected failure: pushes nil, message and returns 2 (luaL_fileresult style). */
int mb_lua_fail(lua_State *L, const struct mb_error *err);

/* The strings of the list at idx (as_env: "NAME=value" of the map at idx;
 * nil: none), NULL-ended, in an array that a userdata pushed on the stack
 * owns; the strings are the Lua values' own (keep idx on the stack).
 * Raises on a value that is not a string. */
const char **mb_lua_string_list(lua_State *L, int idx, int as_env);

/* Fills cfg from the string/number/boolean fields of the table at idx
 * (lists of strings are joined with newlines).  Raises on a value that is
 * not plain data, such as an unresolved secret reference; cfg is owned by a
 * to-be-closed userdata pushed on the stack, so nothing leaks on error and
 * its values are wiped when the calling C function returns (the slot must
 * stay on the stack until then: no lua_remove or lua_replace below it). */
struct mb_config *mb_lua_config(lua_State *L, int idx);

struct mb_option;

/* mb_lua_config for an adapter: with the default of each option in options
 * (the adapter's schema) that the table lacks, and adapter_data set to
 * data.  Every config handed to an adapter is made here. */
struct mb_config *mb_lua_adapter_config(lua_State *L, int idx, const struct mb_option *options,
                                        const void *data);

/* Transforms, as moonbak.transform makes them (sources and writers: lhandle.h). */
#define MB_TRANSFORM_TYPE "moonbak.Transform"

struct mb_lua_transform {
    struct mb_transform *transform; /* NULL once closed */
};

struct mb_lua_transform *mb_lua_check_transform(lua_State *L, int idx);

/* The token of this process, cancelled by the first SIGINT or SIGTERM once
 * sys.catch_interrupts() was called (lsys.c); the bindings pass it to the
 * byte layer. */

/* Creates the metatable tname with methods in __index and close as __gc and __close. */
void mb_lua_new_class(lua_State *L, const char *tname, const luaL_Reg *methods,
                      lua_CFunction close);

/* Adapter schemas (src/lschema.c): pushes { type =, extension =, options =
 * { { name =, kind =, required =, default =, secret =, help =, min =, max =,
 * expected =, choices = }, ... } }. */
void mb_lua_push_schema(lua_State *L, const char *type, const char *extension,
                        const struct mb_option *options);
int mb_lua_source_types(lua_State *L);
int mb_lua_source_schema(lua_State *L);
int mb_lua_source_extension(lua_State *L);
int mb_lua_source_config(lua_State *L);
int mb_lua_storage_config(lua_State *L);
int mb_lua_storage_types(lua_State *L);
int mb_lua_storage_schema(lua_State *L);

int luaopen_moonbak_source(lua_State *L);
int luaopen_moonbak_storage(lua_State *L);
int luaopen_moonbak_transform(lua_State *L);
int luaopen_moonbak_stream(lua_State *L);
int luaopen_moonbak_sqlite(lua_State *L);
int luaopen_moonbak_sys(lua_State *L);
int luaopen_moonbak_crypto(lua_State *L);
int luaopen_moonbak_lock(lua_State *L);
int luaopen_moonbak_sandbox(lua_State *L);
int luaopen_moonbak_cron(lua_State *L);
int luaopen_moonbak_supervisor(lua_State *L);
int luaopen_moonbak_notifier(lua_State *L);
int luaopen_moonbak_lineedit(lua_State *L);

/* A Lua state with moonbak's allocator, which counts the bytes Lua holds so
 * that moonbak.sandbox.run can limit them (see lsandbox.c).  Every state
 * that loads job files is made this way (main.c, the fuzz harnesses) and
 * closed with mb_lua_close(), which frees the allocator's counters. */
lua_State *mb_lua_newstate(void);
void mb_lua_close(lua_State *L);

#endif
