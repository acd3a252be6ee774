/* fuzz_lua.h — a Lua state made as src/main.c makes it (mb_lua_newstate(),
 * the standard libraries, the C modules, the embedded lua/ bundle in
 * package.preload), for the harnesses whose target is Lua code.  main.c is
 * included, renamed, so that the state is the binary's own and not a copy
 * that could drift; with it, moonbak.sandbox.run works as in the binary
 * (job.load's limits and restricted environment are the real ones).
 *
 * Lines of Lua reached are counted for libFuzzer (fuzz_lua_hook); inside
 * sandbox.run the sandbox's count hook passes the line events on to it.
 * Outside a sandbox (the sidecar harness has none), an instruction budget
 * (the same hook's count events) keeps a hostile input from stopping the
 * fuzzer instead of failing; an error it raises is expected, never a
 * finding.  There is no memory cap of the harness's own: the sandbox has
 * one, and outside it libFuzzer's -rss_limit_mb stops runaway memory, as a
 * finding.
 *
 * A harness calls fuzz_lua_open() once with its driver: a Lua chunk that
 * returns a function of the input.  fuzz_lua_run() calls it; any other error
 * it raises is a finding, so it prints the traceback and aborts. */
#ifndef FUZZ_LUA_H
#define FUZZ_LUA_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define main moonbak_main
#include "../../src/main.c"
#undef main

#define FUZZ_LUA_HOOK_EVERY 1000
#define FUZZ_LUA_BUDGET 20000 /* hooks: 20 million instructions per input */
#define FUZZ_LUA_LIMIT "fuzz: instruction limit reached"

static long fuzz_lua_budget;

/* Lua lines reached, as libFuzzer's extra counters: Lua itself (Debian's
 * liblua5.4) and the embedded lua/ are not instrumented, so without these
 * the fuzzer would see nothing of the validator it is meant to explore.
 * Each pair (previous line, line), of any chunk, bumps one counter.  Outside
 * libFuzzer the section is only an array nobody reads. */
#define FUZZ_LUA_EDGES (1u << 16)
__attribute__((section("__libfuzzer_extra_counters"), used))
static uint8_t fuzz_lua_edges[FUZZ_LUA_EDGES];
static uint32_t fuzz_lua_prev;


static uint32_t fuzz_lua_hash(const char *s, int line)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; s[i] && i < 64; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h ^ (uint32_t)line * 2654435761u;
}

static void fuzz_lua_hook(lua_State *L, lua_Debug *ar)
{
    if (ar->event == LUA_HOOKLINE) {
        if (lua_getinfo(L, "S", ar)) {
            uint32_t here = fuzz_lua_hash(ar->source, ar->currentline);
            uint8_t *c = &fuzz_lua_edges[(here ^ fuzz_lua_prev) % FUZZ_LUA_EDGES];
            if (*c < 255)
                (*c)++;
            fuzz_lua_prev = here >> 1;
        }
        return;
    }
    if (--fuzz_lua_budget < 0)
        luaL_error(L, FUZZ_LUA_LIMIT);
}

static int fuzz_lua_panic(lua_State *L)
{
    fprintf(stderr, "fuzz: Lua panic: %s\n", lua_tostring(L, -1));
    abort();
}

static lua_State *fuzz_lua_state;

/* At exit, as main() ends (mb_lua_close also frees the allocator's
 * counters). */
static void fuzz_lua_close(void)
{
    fuzz_lua_budget = FUZZ_LUA_BUDGET;
    mb_lua_close(fuzz_lua_state);
}

/* The state, with the driver function in the registry; aborts on failure
 * (the harness itself is broken then).  Closed at exit. */
static lua_State *fuzz_lua_open(const char *driver)
{
    lua_State *L = mb_lua_newstate();
    if (!L)
        abort();
    lua_atpanic(L, fuzz_lua_panic);
    luaL_openlibs(L);
    lua_pushnil(L); /* no --lua-path: the embedded bundle, as installed */
    if (protected_call(L, preload_modules, 1) != LUA_OK)
        abort();
    lua_pop(L, 1);
    if (luaL_loadstring(L, driver) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK
        || !lua_isfunction(L, -1)) {
        fprintf(stderr, "fuzz: driver: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.driver");
    lua_sethook(L, fuzz_lua_hook, LUA_MASKCOUNT | LUA_MASKLINE, FUZZ_LUA_HOOK_EVERY);
    fuzz_lua_state = L;
    atexit(fuzz_lua_close);
    return L;
}

/* Runs the driver on one input, under the limits. */
static void fuzz_lua_run(lua_State *L, const uint8_t *data, size_t size)
{
    fuzz_lua_budget = FUZZ_LUA_BUDGET;
    fuzz_lua_prev = 0;
    lua_pushcfunction(L, traceback);
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.driver");
    lua_pushlstring(L, (const char *)data, size);
    int rc = lua_pcall(L, 1, 0, -3);
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        /* LUA_ERRERR: the traceback itself ran out of budget.  Running out
         * of memory is a finding now: only a sandbox limits it, and
         * job.load must report that as a broken file. */
        if (rc != LUA_ERRERR && !(msg && strstr(msg, FUZZ_LUA_LIMIT))) {
            fprintf(stderr, "fuzz: finding: %s\n", msg ? msg : "(no message)");
            abort();
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1); /* the traceback handler */
    fuzz_lua_budget = FUZZ_LUA_BUDGET; /* the collector may run finalizers */
    lua_gc(L, LUA_GCCOLLECT);
}

#endif
