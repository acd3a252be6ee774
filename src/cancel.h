/* cancel.h — a cancel token: how the layer that owns the process (the Lua
 * binding, which catches SIGINT and SIGTERM) tells the byte layer to stop,
 * without the byte layer reading a global.
 *
 * A signal handler may only set a volatile sig_atomic_t and call
 * async-signal-safe functions such as write().  The token is both: a flag
 * that a check reads without a system call (the pump looks at it four times
 * a second), and a self-pipe that mb_cancel_set() writes one byte into and
 * nobody ever reads, so that once cancelled it stays readable for good and
 * every sleeper on any thread wakes at once, however long its sleep (a
 * retry back-off may last minutes).  A flag alone would make every sleep
 * poll it in slices; a signal alone (EINTR) reaches one thread, not
 * necessarily the sleeping one.
 *
 * A NULL token is never cancelled.  Without a pipe (mb_cancel_init could
 * not make one), sleeps look at the flag every 50 ms instead. */
#ifndef MB_CANCEL_H
#define MB_CANCEL_H

#include <signal.h>

struct mb_cancel {
    volatile sig_atomic_t reason; /* 0, or the signal number that cancelled */
    int wake[2];                  /* the self-pipe; -1 when there is none */
};

/* Not cancelled, with its pipe (close-on-exec: children never inherit it).
 * Call before a handler may call mb_cancel_set.  0, or -1 with errno when
 * there is no pipe (the token still works, see above). */
int mb_cancel_init(struct mb_cancel *c);
/* Cancels for reason (a signal number, > 0); the first reason stays.
 * Async-signal-safe, callable from any thread. */
void mb_cancel_set(struct mb_cancel *c, int reason);
/* Not cancelled again: the flag cleared and the pipe emptied, for a process
 * that goes on after a cancel (the console, between statements).  Not
 * async-signal-safe against mb_cancel_set: block the signals around it. */
void mb_cancel_clear(struct mb_cancel *c);
/* The reason it was cancelled for, or 0. */
int mb_cancel_reason(const struct mb_cancel *c);
/* Sleeps seconds, or less when c is or becomes cancelled: 0 after the
 * whole sleep, -1 when cancelled. */
int mb_cancel_sleep(const struct mb_cancel *c, double seconds);

#endif
