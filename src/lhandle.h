/* lhandle.h — the handles of readers and writers the Lua bindings hand to
 * scripts (src/lhandle.c): moonbak.Source, made by moonbak.source (a dump)
 * and moonbak.storage (a stored artifact), and moonbak.Writer, made by both
 * too; moonbak.stream pumps from one into the others. */
#ifndef MB_LHANDLE_H
#define MB_LHANDLE_H

#include "lmb.h"

struct mb_storage;

#define MB_SOURCE_TYPE "moonbak.Source"
#define MB_WRITER_TYPE "moonbak.Writer"

/* storage: the storage the reader or writer was opened from (NULL: none);
 * the handle holds a reference to it, dropped after the reader or writer
 * itself is closed, so a script may close or drop its Storage first. */
struct mb_lua_source {
    struct mb_reader *reader;   /* NULL once closed */
    struct mb_storage *storage; /* a reference, or NULL */
};

struct mb_lua_writer {
    struct mb_writer *writer;   /* NULL once closed */
    struct mb_storage *storage; /* a reference, or NULL */
    char label[256];
};

/* Creates the Source and Writer metatables unless they exist: every module
 * that pushes such a handle calls it when it opens. */
void mb_lua_handle_classes(lua_State *L);

/* Wraps an open reader or writer in a new userdata; takes ownership of it
 * and takes a reference to storage (which may be NULL). */
void mb_lua_push_source(lua_State *L, struct mb_reader *reader, struct mb_storage *storage);
void mb_lua_push_writer(lua_State *L, struct mb_writer *writer, struct mb_storage *storage,
                        const char *label);
/* Raise on anything else, and on a closed handle. */
struct mb_lua_source *mb_lua_check_source(lua_State *L, int idx);
struct mb_lua_writer *mb_lua_check_writer(lua_State *L, int idx);
/* Closes the reader, then drops the storage; safe to call twice. */
void mb_lua_source_close(struct mb_lua_source *s);

#endif
