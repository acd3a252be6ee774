/* lsandbox.c — moonbak's Lua allocator, and the Lua module moonbak.sandbox:
 * run a function under an instruction budget and a memory limit.  Job files
 * load this way, so that `while true do end` or an endless table cannot
 * hang or exhaust `moonbak jobs`.
 *
 * The allocator counts the bytes Lua holds.  Outside sandbox.run it has no
 * limit and costs one comparison; inside, it refuses to grow past the
 * limit (Lua then collects garbage and raises "not enough memory").  A
 * shrink or a free is never refused, as lua_Alloc requires. */
#include "lmb.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The allocator's user data, one per lua_State; freed by mb_lua_close(). */
struct mb_lua_limits {
    size_t used;           /* bytes Lua holds now */
    size_t limit;          /* 0: none; else used never grows past it */
    unsigned long refused; /* allocations refused in this sandbox.run */
    int active;            /* a sandbox.run is in progress */
    int out_of_instructions;
    lua_Integer budget; /* instructions left in this sandbox.run */
    lua_Hook outer;     /* the hook sandbox.run replaced, given its other events */
};

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct mb_lua_limits *lim = ud;
    size_t old = ptr ? osize : 0; /* without ptr, osize is a type tag */
    if (nsize == 0) {
        free(ptr);
        lim->used -= old;
        return NULL;
    }
    if (lim->limit && nsize > old
        && (lim->used >= lim->limit || nsize - old > lim->limit - lim->used)) {
        lim->refused++;
        return NULL;
    }
    void *block = realloc(ptr, nsize);
    if (!block) {
        if (nsize > old)
            return NULL;
        block = ptr; /* a shrink must not fail: keep the larger block */
    }
    lim->used = lim->used - old + nsize;
    return block;
}

static int panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "moonbak: unprotected error in a call to Lua: %s\n",
            msg ? msg : "(error object is not a string)");
    return 0; /* Lua aborts */
}

lua_State *mb_lua_newstate(void)
{
    struct mb_lua_limits *lim = calloc(1, sizeof *lim);
    if (!lim)
        return NULL;
    lua_State *L = lua_newstate(limited_alloc, lim);
    if (!L) {
        free(lim);
        return NULL;
    }
    lua_atpanic(L, panic);
    return L;
}

/* The limits of L, or NULL when L was not made by mb_lua_newstate(). */
static struct mb_lua_limits *limits_of(lua_State *L)
{
    void *ud;
    return lua_getallocf(L, &ud) == limited_alloc ? ud : NULL;
}

void mb_lua_close(lua_State *L)
{
    if (!L)
        return;
    struct mb_lua_limits *lim = limits_of(L);
    lua_close(L);
    free(lim); /* after: lua_close frees through the allocator */
}

#define HOOK_EVERY 1000 /* instructions between two looks at the budget */

/* Count hook, installed by sandbox.run (coroutines made inside inherit it).
 * The line/call/return events of the hook it replaced (the fuzz harnesses'
 * Lua coverage; moonbak itself sets none) still reach that hook. */
static void count_hook(lua_State *L, lua_Debug *ar)
{
    struct mb_lua_limits *lim = limits_of(L);
    if (!lim || !lim->active) {
        /* a coroutine made in a sandbox and resumed after it */
        lua_sethook(L, NULL, 0, 0);
        return;
    }
    if (ar->event != LUA_HOOKCOUNT) {
        lim->outer(L, ar);
        return;
    }
    if (!lim->out_of_instructions) {
        lim->budget -= lua_gethookcount(L);
        if (lim->budget > 0)
            return;
        lim->out_of_instructions = 1;
    }
    /* Raise again at the next instruction, so that a pcall in the
     * sandboxed code cannot catch the error and go on. */
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "instruction limit exceeded");
}

static lua_Integer limit_option(lua_State *L, const char *name)
{
    lua_getfield(L, 2, name);
    lua_Integer n = luaL_optinteger(L, -1, 0);
    lua_pop(L, 1);
    if (n < 0)
        luaL_error(L, "sandbox.run: %s must be 0 (no limit) or more", name);
    return n;
}

/* Which limit the failed call hit: "instructions", "memory", or nil. */
static void push_limit_hit(lua_State *L, const struct mb_lua_limits *lim, int rc, int err_idx)
{
    const char *msg = lua_tostring(L, err_idx);
    if (lim->out_of_instructions)
        lua_pushliteral(L, "instructions");
    else if (lim->refused && (rc == LUA_ERRMEM || (msg && strstr(msg, "not enough memory"))))
        lua_pushliteral(L, "memory");
    else
        lua_pushnil(L);
}

/* sandbox.run(fn, { memory = BYTES, instructions = N })
 *   -> true, fn's results... | false, error, "instructions"|"memory"|nil
 * Calls fn protected, with at most N more Lua instructions and BYTES more
 * memory than Lua holds now (0 or absent: no limit).  Both limits are gone
 * when run returns, whatever happened. */
static int sandbox_run(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer memory = limit_option(L, "memory");
    lua_Integer instructions = limit_option(L, "instructions");
    struct mb_lua_limits *lim = limits_of(L);
    if (!lim)
        return luaL_error(L, "sandbox.run: this Lua state was not made by mb_lua_newstate()");
    if (lim->active)
        return luaL_error(L, "sandbox.run: already inside a sandbox");
    lua_settop(L, 2);
    lua_pushvalue(L, 1);
    lua_Hook old_hook = lua_gethook(L);
    int old_mask = lua_gethookmask(L), old_count = lua_gethookcount(L);

    lim->active = 1;
    lim->refused = 0;
    lim->out_of_instructions = 0;
    lim->budget = instructions;
    lim->outer = old_hook;
    if (memory > 0)
        lim->limit = (uint64_t)memory > SIZE_MAX - lim->used ? SIZE_MAX : lim->used + (size_t)memory;
    if (instructions > 0)
        lua_sethook(L, count_hook, LUA_MASKCOUNT | (old_hook ? old_mask & ~LUA_MASKCOUNT : 0),
                    HOOK_EVERY);
    int rc = lua_pcall(L, 0, LUA_MULTRET, 0); /* never longjmps out */
    lua_sethook(L, old_hook, old_mask, old_count);
    lim->limit = 0;
    lim->active = 0;

    luaL_checkstack(L, 2, "sandbox.run results");
    if (rc == LUA_OK) {
        int results = lua_gettop(L) - 2;
        lua_pushboolean(L, 1);
        lua_rotate(L, 3, 1);
        return results + 1;
    }
    lua_pushboolean(L, 0);
    lua_rotate(L, -2, 1); /* false, error */
    push_limit_hit(L, lim, rc, -1);
    return 3;
}

/* sandbox.memory() -> bytes Lua holds now (for tests) */
static int sandbox_memory(lua_State *L)
{
    struct mb_lua_limits *lim = limits_of(L);
    if (!lim)
        return luaL_error(L, "sandbox.memory: this Lua state was not made by mb_lua_newstate()");
    lua_pushinteger(L, (lua_Integer)lim->used);
    return 1;
}

int luaopen_moonbak_sandbox(lua_State *L)
{
    static const luaL_Reg functions[] = {
        { "run", sandbox_run },
        { "memory", sandbox_memory },
        { NULL, NULL },
    };
    luaL_newlib(L, functions);
    return 1;
}
