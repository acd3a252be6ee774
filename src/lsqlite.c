/* lsqlite.c — Lua module moonbak.sqlite: the thin SQLite binding under
 * moonbak.state.  Policy (schema, migrations, queries) lives in Lua. */
#include "interrupt.h"
#include "lmb.h"

#include <sqlite3.h>

#define DB_TYPE "moonbak.Db"
#define STMT_TYPE "moonbak.Stmt"

struct lua_db {
    sqlite3 *db; /* NULL once closed */
};

/* A prepared statement lives in a userdata box so that an error raised
 * while rows are pushed still finalizes it (through __gc). */
struct lua_stmt {
    sqlite3_stmt *stmt;
};

static int db_close(lua_State *L)
{
    struct lua_db *d = luaL_checkudata(L, 1, DB_TYPE);
    if (d->db) {
        sqlite3_close_v2(d->db);
        d->db = NULL;
    }
    return 0;
}

static int stmt_close(lua_State *L)
{
    struct lua_stmt *s = luaL_checkudata(L, 1, STMT_TYPE);
    if (s->stmt) {
        sqlite3_finalize(s->stmt);
        s->stmt = NULL;
    }
    return 0;
}

static sqlite3 *check_db(lua_State *L)
{
    struct lua_db *d = luaL_checkudata(L, 1, DB_TYPE);
    if (!d->db)
        luaL_argerror(L, 1, "database is closed");
    return d->db;
}

/* A long statement on a read-only database (a drill's check) stops when
 * the process is interrupted (Ctrl-C, SIGTERM): non-zero interrupts it. */
static int stop_when_interrupted(void *unused)
{
    (void)unused;
    return mb_cancel_reason(mb_process_cancel()) != 0;
}

/* sqlite.open(path [, opts]) -> Db | nil, message
 * opts.readonly: open an existing file read-only (nothing the statements
 * do can change it), its statements interrupted with the process. */
static int sqlite_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int readonly = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "readonly");
        readonly = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    struct lua_db *d = lua_newuserdatauv(L, sizeof *d, 0);
    d->db = NULL;
    luaL_setmetatable(L, DB_TYPE);
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path, &d->db, flags, NULL);
    if (rc != SQLITE_OK) {
        lua_pushnil(L);
        lua_pushfstring(L, "state database %s: %s", path,
                        d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
        sqlite3_close_v2(d->db);
        d->db = NULL;
        return 2;
    }
    sqlite3_busy_timeout(d->db, 10000);
    sqlite3_extended_result_codes(d->db, 1);
    if (readonly)
        sqlite3_progress_handler(d->db, 10000, stop_when_interrupted, NULL);
    return 1;
}

/* db:exec(sql): several statements, no parameters; raises on error. */
static int db_exec(lua_State *L)
{
    sqlite3 *db = check_db(L);
    char *msg = NULL;
    if (sqlite3_exec(db, luaL_checkstring(L, 2), NULL, NULL, &msg) != SQLITE_OK) {
        lua_pushfstring(L, "state database: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return lua_error(L);
    }
    return 0;
}

static void bind_params(lua_State *L, sqlite3 *db, sqlite3_stmt *stmt, int first)
{
    int top = lua_gettop(L);
    for (int i = first; i <= top; i++) {
        int at = i - first + 1, rc;
        switch (lua_type(L, i)) {
        case LUA_TNIL: rc = sqlite3_bind_null(stmt, at); break;
        case LUA_TBOOLEAN: rc = sqlite3_bind_int(stmt, at, lua_toboolean(L, i)); break;
        case LUA_TNUMBER:
            rc = lua_isinteger(L, i) ? sqlite3_bind_int64(stmt, at, lua_tointeger(L, i))
                                     : sqlite3_bind_double(stmt, at, lua_tonumber(L, i));
            break;
        case LUA_TSTRING: {
            size_t len;
            const char *s = lua_tolstring(L, i, &len);
            rc = sqlite3_bind_text(stmt, at, s, (int)len, SQLITE_TRANSIENT);
            break;
        }
        default: luaL_argerror(L, i, "expected nil, boolean, number or string"); return;
        }
        if (rc != SQLITE_OK)
            luaL_error(L, "state database: cannot bind parameter %d: %s", at, sqlite3_errmsg(db));
    }
}

static void push_column(lua_State *L, sqlite3_stmt *stmt, int col)
{
    switch (sqlite3_column_type(stmt, col)) {
    case SQLITE_INTEGER: lua_pushinteger(L, sqlite3_column_int64(stmt, col)); break;
    case SQLITE_FLOAT: lua_pushnumber(L, sqlite3_column_double(stmt, col)); break;
    case SQLITE_NULL: lua_pushnil(L); break;
    default:
        lua_pushlstring(L, (const char *)sqlite3_column_blob(stmt, col),
                        (size_t)sqlite3_column_bytes(stmt, col));
    }
}

/* Prepares sql (argument 2) with parameters 3.. into a box on the stack. */
static sqlite3_stmt *prepare(lua_State *L, sqlite3 *db)
{
    const char *sql = luaL_checkstring(L, 2);
    int params_end = lua_gettop(L);
    struct lua_stmt *box = lua_newuserdatauv(L, sizeof *box, 0);
    box->stmt = NULL;
    luaL_setmetatable(L, STMT_TYPE);
    if (sqlite3_prepare_v2(db, sql, -1, &box->stmt, NULL) != SQLITE_OK)
        luaL_error(L, "state database: %s in: %s", sqlite3_errmsg(db), sql);
    lua_rotate(L, 3, 1); /* box below the parameters, so they stay 4..top */
    (void)params_end;
    bind_params(L, db, box->stmt, 4);
    lua_settop(L, 3);
    return box->stmt;
}

static int step_error(lua_State *L, sqlite3 *db)
{
    lua_pushfstring(L, "state database: %s", sqlite3_errmsg(db));
    lua_pushcfunction(L, stmt_close);
    lua_pushvalue(L, 3);
    lua_call(L, 1, 0);
    return lua_error(L);
}

/* db:query(sql, ...) -> { row, ... } with rows keyed by column name */
static int db_query(lua_State *L)
{
    sqlite3 *db = check_db(L);
    sqlite3_stmt *stmt = prepare(L, db);
    lua_newtable(L);
    int rc;
    for (lua_Integer n = 1; (rc = sqlite3_step(stmt)) == SQLITE_ROW; n++) {
        int cols = sqlite3_column_count(stmt);
        lua_createtable(L, 0, cols);
        for (int c = 0; c < cols; c++) {
            push_column(L, stmt, c);
            lua_setfield(L, -2, sqlite3_column_name(stmt, c));
        }
        lua_seti(L, -2, n);
    }
    if (rc != SQLITE_DONE)
        return step_error(L, db);
    lua_pushcfunction(L, stmt_close);
    lua_pushvalue(L, 3);
    lua_call(L, 1, 0);
    return 1;
}

/* db:run(sql, ...) -> changes, last_insert_rowid */
static int db_run(lua_State *L)
{
    sqlite3 *db = check_db(L);
    sqlite3_stmt *stmt = prepare(L, db);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        ;
    if (rc != SQLITE_DONE)
        return step_error(L, db);
    lua_pushcfunction(L, stmt_close);
    lua_pushvalue(L, 3);
    lua_call(L, 1, 0);
    lua_pushinteger(L, sqlite3_changes(db));
    lua_pushinteger(L, sqlite3_last_insert_rowid(db));
    return 2;
}

/* db:value(sql, ...) -> the first column of the first row, true | nil,
 * false when there is no row (the columns' order, which query's rows
 * keyed by name lose) */
static int db_value(lua_State *L)
{
    sqlite3 *db = check_db(L);
    sqlite3_stmt *stmt = prepare(L, db);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return step_error(L, db);
    int found = rc == SQLITE_ROW && sqlite3_column_count(stmt) > 0;
    if (found)
        push_column(L, stmt, 0);
    else
        lua_pushnil(L);
    lua_pushboolean(L, found);
    lua_pushcfunction(L, stmt_close);
    lua_pushvalue(L, 3);
    lua_call(L, 1, 0);
    return 2;
}

int luaopen_moonbak_sqlite(lua_State *L)
{
    static const luaL_Reg db_methods[] = {
        { "exec", db_exec }, { "query", db_query }, { "run", db_run }, { "value", db_value },
        { "close", db_close }, { NULL, NULL },
    };
    static const luaL_Reg stmt_methods[] = { { NULL, NULL } };
    static const luaL_Reg functions[] = {
        { "open", sqlite_open },
        { NULL, NULL },
    };
    mb_lua_new_class(L, DB_TYPE, db_methods, db_close);
    mb_lua_new_class(L, STMT_TYPE, stmt_methods, stmt_close);
    luaL_newlib(L, functions);
    lua_pushstring(L, sqlite3_libversion());
    lua_setfield(L, -2, "version");
    return 1;
}
