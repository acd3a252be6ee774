/* llineedit.c — Lua module moonbak.lineedit: the console's line editor.
 *
 * Over libedit (Debian's libedit2, BSD licence) rather than GNU readline
 * (GPL-3), so that linking it leaves moonbak's own licence free to choose.
 * Its native el_* API, not its readline emulation: the emulation catches
 * signals itself, and the native API lets the console own SIGINT.
 *
 * Ctrl-C at the prompt: libedit installs no handler of its own (EL_SIGNAL
 * is off), so the process's handler (interrupt.c, armed by
 * sys.catch_interrupts) cancels the token, and the read(2) under el_gets,
 * interrupted (the handler is installed without SA_RESTART), makes el_gets
 * return NULL with count -1 and errno EINTR, the terminal back in cooked
 * mode.  editor:read says "interrupted"; the next el_gets starts from an
 * empty line.  The REPL itself, what it keeps and what it drops, is Lua
 * (lua/moonbak/console.lua). */
#include "lmb.h"

#include <errno.h>
#include <fcntl.h>
#include <histedit.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define EDITOR_TYPE "moonbak.LineEditor"
#define HISTORY_SIZE 1000

/* Uservalue 1 of the userdata: the completion function, or nil. */
struct line_editor {
    EditLine *el;        /* NULL once closed; owns the terminal's modes */
    History *history;    /* NULL once closed */
    const char *prompt;  /* during read: a string on the Lua stack */
    lua_State *L;        /* during read: for the completion function */
};

static struct line_editor *check_editor(lua_State *L)
{
    struct line_editor *ed = luaL_checkudata(L, 1, EDITOR_TYPE);
    if (!ed->el)
        luaL_argerror(L, 1, "line editor is closed");
    return ed;
}

static char *editor_prompt(EditLine *el)
{
    struct line_editor *ed = NULL;
    el_get(el, EL_CLIENTDATA, &ed);
    return (char *)(ed && ed->prompt ? ed->prompt : "");
}

/* Under lua_pcall: 1 the editor, 2 the LineInfo.  Returns what
 * complete(text_before_cursor) returns: the text to insert, a listing. */
static int complete_protected(lua_State *L)
{
    const LineInfo *li = lua_touserdata(L, 2);
    lua_getiuservalue(L, 1, 1);
    if (!lua_isfunction(L, -1))
        return 0;
    lua_pushlstring(L, li->buffer, (size_t)(li->cursor - li->buffer));
    lua_call(L, 1, 2);
    return 2;
}

/* Bound to Tab.  Called inside el_gets, itself inside editor_read: the
 * Lua stack is editor_read's, its slot 1 the editor.  Nothing may raise
 * through libedit (the terminal would stay raw): Lua runs under pcall. */
static unsigned char editor_complete(EditLine *el, int ch)
{
    (void)ch;
    struct line_editor *ed = NULL;
    el_get(el, EL_CLIENTDATA, &ed);
    if (!ed || !ed->L)
        return CC_ERROR;
    lua_State *L = ed->L;
    lua_pushcfunction(L, complete_protected);
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, (void *)el_line(el));
    if (lua_pcall(L, 2, 2, 0) != LUA_OK) {
        lua_pop(L, 1);
        return CC_ERROR;
    }
    const char *insert = lua_tostring(L, -2);
    const char *listing = lua_tostring(L, -1);
    unsigned char result = CC_REFRESH;
    if (insert && *insert && el_insertstr(el, insert) != 0)
        result = CC_ERROR;
    if (listing && *listing) {
        fprintf(stdout, "\n%s", listing);
        fflush(stdout);
        result = CC_REDISPLAY;
    }
    lua_pop(L, 2);
    return result;
}

/* editor:read([prompt]) -> line | nil (end of input, Ctrl-D) |
 * nil, "interrupted" (a signal, Ctrl-C) | nil, message.  The line is
 * without its newline. */
static int editor_read(lua_State *L)
{
    struct line_editor *ed = check_editor(L);
    ed->prompt = luaL_optstring(L, 2, "");
    ed->L = L;
    int count = 0;
    errno = 0;
    const char *line = el_gets(ed->el, &count);
    int saved = errno;
    ed->L = NULL;
    ed->prompt = NULL;
    if (!line) {
        if (count == 0)
            return 0;
        lua_pushnil(L);
        if (saved == EINTR)
            lua_pushliteral(L, "interrupted");
        else
            lua_pushfstring(L, "cannot read the terminal: %s", strerror(saved));
        return 2;
    }
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\n')
        len--;
    lua_pushlstring(L, line, len);
    return 1;
}

/* editor:add_history(text): the newest entry (a chunk of several lines is one). */
static int editor_add_history(lua_State *L)
{
    struct line_editor *ed = check_editor(L);
    HistEvent ev;
    history(ed->history, &ev, H_ENTER, luaL_checkstring(L, 2));
    return 0;
}

/* editor:load_history(path) -> true | nil, message (a missing file too) */
static int editor_load_history(lua_State *L)
{
    struct line_editor *ed = check_editor(L);
    const char *path = luaL_checkstring(L, 2);
    HistEvent ev;
    errno = 0;
    if (history(ed->history, &ev, H_LOAD, path) < 0) {
        int saved = errno;
        lua_pushnil(L);
        lua_pushfstring(L, "cannot read history %s: %s", path,
                        saved ? strerror(saved) : "not a history file");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* editor:save_history(path) -> true | nil, message.  Written to PATH.tmp,
 * created 0600 (the history holds what the operator typed), then renamed
 * over path: never a half-written file, nor a moment it is readable. */
static int editor_save_history(lua_State *L)
{
    struct line_editor *ed = check_editor(L);
    const char *path = luaL_checkstring(L, 2);
    const char *tmp = lua_pushfstring(L, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    int ok = 0, saved = errno;
    if (fp) {
        HistEvent ev;
        ok = history(ed->history, &ev, H_SAVE_FP, fp) >= 0;
        saved = errno;
        if (fclose(fp) != 0 && ok) {
            ok = 0;
            saved = errno;
        }
        if (ok && rename(tmp, path) != 0) {
            ok = 0;
            saved = errno;
        }
        if (!ok)
            unlink(tmp);
    } else if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    if (!ok) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot write history %s: %s", path, strerror(saved));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* editor:close(): the terminal back as it was; idempotent (__gc, __close). */
static int editor_close(lua_State *L)
{
    struct line_editor *ed = luaL_checkudata(L, 1, EDITOR_TYPE);
    if (ed->el) {
        el_end(ed->el);
        ed->el = NULL;
    }
    if (ed->history) {
        history_end(ed->history);
        ed->history = NULL;
    }
    return 0;
}

/* lineedit.open{ name = "moonbak", complete = function(before_cursor)
 *   return text_to_insert, listing end } -> LineEditor | nil, message
 * On the process's stdin and stdout, which must be a terminal for any
 * editing.  Tab calls complete; a listing (lines ending in "\n") is
 * printed below the line, which is then drawn again.  ~/.editrc (or
 * $EDITRC) is read, so the keys are the operator's to change. */
static int lineedit_open(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "name");
    const char *name = luaL_optstring(L, -1, "moonbak");
    struct line_editor *ed = lua_newuserdatauv(L, sizeof *ed, 1);
    memset(ed, 0, sizeof *ed); /* closed until both are made */
    luaL_setmetatable(L, EDITOR_TYPE);
    lua_getfield(L, 1, "complete");
    lua_setiuservalue(L, -2, 1);
    /* libedit decodes what it reads in the locale's encoding; in the C
     * locale every byte past ASCII would be dropped. */
    const char *ctype = setlocale(LC_CTYPE, NULL);
    if (ctype && strcmp(ctype, "C") == 0)
        setlocale(LC_CTYPE, "");
    ed->history = history_init();
    ed->el = ed->history ? el_init(name, stdin, stdout, stderr) : NULL;
    if (!ed->el) {
        lua_pushcfunction(L, editor_close);
        lua_pushvalue(L, -2);
        lua_call(L, 1, 0);
        lua_pushnil(L);
        lua_pushliteral(L, "cannot start the line editor");
        return 2;
    }
    HistEvent ev;
    history(ed->history, &ev, H_SETSIZE, HISTORY_SIZE);
    history(ed->history, &ev, H_SETUNIQUE, 1);
    el_set(ed->el, EL_CLIENTDATA, ed);
    el_set(ed->el, EL_SIGNAL, 0);
    el_set(ed->el, EL_EDITOR, "emacs");
    el_set(ed->el, EL_PROMPT, editor_prompt);
    el_set(ed->el, EL_HIST, history, ed->history);
    /* The wide call: the narrow one copies both names and never frees them
     * (a leak libedit owns up to in eln.c); these literals live for good. */
    el_wset(ed->el, EL_ADDFN, L"moonbak-complete", L"complete the word before the cursor",
            editor_complete);
    el_set(ed->el, EL_BIND, "^I", "moonbak-complete", NULL);
    el_source(ed->el, NULL);
    return 1;
}

int luaopen_moonbak_lineedit(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "read", editor_read },
        { "add_history", editor_add_history },
        { "load_history", editor_load_history },
        { "save_history", editor_save_history },
        { "close", editor_close },
        { NULL, NULL },
    };
    static const luaL_Reg functions[] = {
        { "open", lineedit_open },
        { NULL, NULL },
    };
    mb_lua_new_class(L, EDITOR_TYPE, methods, editor_close);
    luaL_newlib(L, functions);
    return 1;
}
