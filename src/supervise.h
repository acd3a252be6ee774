/* supervise.h — what the daemon needs from the operating system: start a
 * run as a child process of this same binary, and wait for whatever
 * happens next, all in one place: a child exits, a signal arrives
 * (SIGHUP, SIGTERM, SIGINT), a file in the jobs directory changes, or the
 * time to the next fire runs out.
 *
 * The supervisor blocks SIGCHLD, SIGHUP, SIGTERM and SIGINT in the calling
 * process and reads them from a signalfd, so that no handler runs and
 * nothing is lost between two waits; the daemon is single-threaded.
 * Children lead their own process group (a Ctrl-C at the daemon's
 * terminal reaches the daemon only, which decides), start with the signal
 * state process.h gives its tools (mb_child_reset_signals), read
 * /dev/null, share the daemon's stdout and stderr, and get SIGTERM when
 * the daemon dies (even by kill -9), which cancels a run cleanly. */
#ifndef MB_SUPERVISE_H
#define MB_SUPERVISE_H

#include "mb.h"

struct mb_supervisor;

enum mb_event_kind { MB_EVENT_EXIT, MB_EVENT_SIGNAL, MB_EVENT_CHANGE };

struct mb_event {
    enum mb_event_kind kind;
    pid_t pid;      /* EXIT */
    int code;       /* EXIT: exit status, or -1 when killed */
    int signal;     /* EXIT: the signal that killed it; SIGNAL: the signal */
    char name[256]; /* CHANGE: the file's name in the watched directory ("" unknown) */
};

/* watch_dir: the directory whose changes are reported (NULL: none). */
struct mb_supervisor *mb_supervisor_open(const char *watch_dir, struct mb_error *err);
/* Starts this binary with argv (argv[0] is its name in ps) and the extra
 * "NAME=value" entries of env (NULL-terminated or NULL) added to the
 * daemon's environment.  Returns the child's pid or -1. */
pid_t mb_supervisor_spawn(struct mb_supervisor *s, const char *const *argv,
                          const char *const *env, struct mb_error *err);
/* Sends sig to the process group of a child not yet reaped. */
int mb_supervisor_kill(struct mb_supervisor *s, pid_t pid, int sig);
/* Waits up to timeout seconds (negative: for ever) until something
 * happens; stores up to max events and returns how many (0 when the time
 * ran out), or -1 with err set. */
int mb_supervisor_wait(struct mb_supervisor *s, double timeout, struct mb_event *events, int max,
                       struct mb_error *err);
/* Restores the signal mask; children still running are left alone. */
void mb_supervisor_close(struct mb_supervisor *s);

#endif
