/* llock.c — Lua module moonbak.lock: exclusive locks on files (flock).
 *
 * A lock is held as long as its descriptor is open, and the kernel drops it
 * when the process dies however it dies (kill -9 included), so a lock can
 * never be left behind by a crash.  The descriptor is close-on-exec: a dump
 * tool, or a grandchild it leaves behind, must not keep a job locked.
 *
 * The file holds a line that says who holds the lock ("pid 123 ..."), so
 * that the one refused can say whom it waits for. */
#include "lmb.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define LOCK_TYPE "moonbak.Lock"

struct lua_lock {
    int fd; /* -1 once released */
};

static struct lua_lock *check_lock(lua_State *L)
{
    struct lua_lock *l = luaL_checkudata(L, 1, LOCK_TYPE);
    if (l->fd < 0)
        luaL_argerror(L, 1, "lock is released");
    return l;
}

/* Replaces the file's text (who holds the lock). */
static int write_holder(int fd, const char *text, size_t len)
{
    if (ftruncate(fd, 0) != 0)
        return -1;
    return pwrite(fd, text, len, 0) == (ssize_t)len ? 0 : -1;
}

/* What the holder wrote, for the message of the one refused. */
static void push_holder(lua_State *L, int fd)
{
    char text[512];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        n--;
    lua_pushlstring(L, text, n > 0 ? (size_t)n : 0);
}

/* lock.acquire(path, holder_text) -> Lock | nil, message, holder_text
 * Never waits: a lock held by another process is refused at once, with
 * what that process wrote in the file as the third value. */
static int lock_acquire(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_optlstring(L, 2, "", &len);
    struct lua_lock *l = lua_newuserdatauv(L, sizeof *l, 0);
    l->fd = -1; /* "already released" until the lock is ours */
    luaL_setmetatable(L, LOCK_TYPE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot open lock file %s: %s", path, strerror(errno));
        return 2;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        int saved = errno;
        lua_pushnil(L);
        if (busy) {
            lua_pushliteral(L, "held by another process");
            push_holder(L, fd);
        } else {
            lua_pushfstring(L, "cannot lock %s: %s", path, strerror(saved));
        }
        close(fd);
        return busy ? 3 : 2;
    }
    l->fd = fd;
    if (write_holder(fd, text, len) != 0) {
        int saved = errno;
        close(fd);
        l->fd = -1;
        lua_pushnil(L);
        lua_pushfstring(L, "cannot write lock file %s: %s", path, strerror(saved));
        return 2;
    }
    return 1;
}

/* lock:update(holder_text): what the holder says about itself now. */
static int lock_update(lua_State *L)
{
    struct lua_lock *l = check_lock(L);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    lua_pushboolean(L, write_holder(l->fd, text, len) == 0);
    return 1;
}

/* lock:release(): idempotent; also __gc and __close.  The file stays: a
 * lock file removed while another process waits to open it would let two
 * processes hold "the" lock on two different files. */
static int lock_release(lua_State *L)
{
    struct lua_lock *l = luaL_checkudata(L, 1, LOCK_TYPE);
    if (l->fd >= 0) {
        (void)write_holder(l->fd, "", 0);
        close(l->fd);
        l->fd = -1;
    }
    return 0;
}

int luaopen_moonbak_lock(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "update", lock_update },
        { "release", lock_release },
        { NULL, NULL },
    };
    static const luaL_Reg functions[] = {
        { "acquire", lock_acquire },
        { NULL, NULL },
    };
    mb_lua_new_class(L, LOCK_TYPE, methods, lock_release);
    luaL_newlib(L, functions);
    return 1;
}
