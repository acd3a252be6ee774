/* supervise.c — children and events for the daemon (see supervise.h). */
#include "supervise.h"
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

struct mb_supervisor {
    int sigfd, inofd;
    char *watch_dir;         /* watched by path: a directory replaced is watched again */
    int watching;            /* 0 while the directory is gone (or was replaced) */
    sigset_t watched, saved; /* the signals read from sigfd; the mask before */
    char *self;              /* this binary, resolved once: /proc/self/exe may go stale */
    pid_t *pids;             /* children not yet reaped */
    size_t n_pids, cap_pids;
    struct mb_event *queue;  /* events seen and not yet handed out */
    size_t n_queue, cap_queue;
};

static struct mb_event *queue_push(struct mb_supervisor *s)
{
    if (s->n_queue == s->cap_queue) {
        size_t cap = s->cap_queue ? 2 * s->cap_queue : 16;
        struct mb_event *q = realloc(s->queue, cap * sizeof *q);
        if (!q)
            return NULL;
        s->queue = q;
        s->cap_queue = cap;
    }
    struct mb_event *e = &s->queue[s->n_queue++];
    memset(e, 0, sizeof *e);
    return e;
}

/* Watches the directory at its path now (it may have been replaced). */
static int watch(struct mb_supervisor *s)
{
    uint32_t what = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE
                    | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
    if (inotify_add_watch(s->inofd, s->watch_dir, what) < 0)
        return -1;
    s->watching = 1;
    return 0;
}

struct mb_supervisor *mb_supervisor_open(const char *watch_dir, struct mb_error *err)
{
    struct mb_supervisor *s = calloc(1, sizeof *s);
    if (!s) {
        mb_error_set(err, "out of memory");
        return NULL;
    }
    s->sigfd = s->inofd = -1;
    s->self = realpath("/proc/self/exe", NULL);
    if (!s->self) {
        mb_error_errno(err, "cannot find this program's path (/proc/self/exe)");
        free(s);
        return NULL;
    }
    sigemptyset(&s->watched);
    sigaddset(&s->watched, SIGCHLD);
    sigaddset(&s->watched, SIGHUP);
    sigaddset(&s->watched, SIGTERM);
    sigaddset(&s->watched, SIGINT);
    sigprocmask(SIG_BLOCK, &s->watched, &s->saved);
    s->sigfd = signalfd(-1, &s->watched, SFD_CLOEXEC | SFD_NONBLOCK);
    if (s->sigfd < 0) {
        mb_error_errno(err, "signalfd");
        mb_supervisor_close(s);
        return NULL;
    }
    if (watch_dir) {
        s->inofd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        s->watch_dir = strdup(watch_dir);
        if (s->inofd < 0 || !s->watch_dir || watch(s) != 0) {
            mb_error_errno(err, "cannot watch %s", watch_dir);
            mb_supervisor_close(s);
            return NULL;
        }
    }
    return s;
}

void mb_supervisor_close(struct mb_supervisor *s)
{
    if (!s)
        return;
    if (s->sigfd >= 0)
        close(s->sigfd);
    if (s->inofd >= 0)
        close(s->inofd);
    /* Signals that came and were never read must not fire once unblocked:
     * the daemon is leaving anyway. */
    struct timespec zero = { 0, 0 };
    while (sigtimedwait(&s->watched, NULL, &zero) > 0)
        ;
    sigprocmask(SIG_SETMASK, &s->saved, NULL);
    free(s->self);
    free(s->watch_dir);
    free(s->pids);
    free(s->queue);
    free(s);
}

/* In the child, between fork and exec: async-signal-safe calls only. */
__attribute__((noreturn)) static void child_exec(const char *self, char *const *argv,
                                                 char *const *env, pid_t parent, int report_fd)
{
    int failure = 0;
    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(127);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, 0) < 0)
        failure = errno;
    mb_child_reset_signals();
    if (!failure) {
        execve(self, argv, env);
        failure = errno;
    }
    ssize_t ignored = write(report_fd, &failure, sizeof failure);
    (void)ignored;
    _exit(127);
}

pid_t mb_supervisor_spawn(struct mb_supervisor *s, const char *const *argv,
                          const char *const *env, struct mb_error *err)
{
    if (s->n_pids == s->cap_pids) {
        size_t cap = s->cap_pids ? 2 * s->cap_pids : 8;
        pid_t *p = realloc(s->pids, cap * sizeof *p);
        if (!p) {
            mb_error_set(err, "out of memory");
            return -1;
        }
        s->pids = p;
        s->cap_pids = cap;
    }
    char **child_env = mb_environment_with(env);
    int report[2];
    if (!child_env || pipe2(report, O_CLOEXEC) != 0) {
        mb_error_errno(err, "cannot start a run");
        free(child_env);
        return -1;
    }
    sigset_t all, before;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &before);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        child_exec(s->self, (char *const *)argv, child_env, parent, report[1]);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    close(report[1]);
    free(child_env);
    if (pid < 0) {
        close(report[0]);
        errno = fork_errno;
        mb_error_errno(err, "cannot start a run: fork");
        return -1;
    }
    setpgid(pid, pid); /* as the child does: either order, no race with kill() */
    int failure = 0;
    ssize_t n;
    while ((n = read(report[0], &failure, sizeof failure)) < 0 && errno == EINTR)
        ;
    close(report[0]);
    if (n == (ssize_t)sizeof failure) {
        /* exec failed: the child is gone already, reaped here */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        errno = failure;
        mb_error_errno(err, "cannot start %s", s->self);
        return -1;
    }
    s->pids[s->n_pids++] = pid;
    return pid;
}

int mb_supervisor_kill(struct mb_supervisor *s, pid_t pid, int sig)
{
    for (size_t i = 0; i < s->n_pids; i++)
        if (s->pids[i] == pid)
            return kill(-pid, sig);
    errno = ESRCH;
    return -1;
}

/* Collects every child that has ended, in no particular order. */
static void reap(struct mb_supervisor *s)
{
    for (size_t i = 0; i < s->n_pids;) {
        int status;
        pid_t got = waitpid(s->pids[i], &status, WNOHANG);
        if (got == 0 || (got < 0 && errno == EINTR)) {
            i++;
            continue;
        }
        struct mb_event *e = queue_push(s);
        if (!e)
            return; /* out of memory: reaped on a later wait */
        e->kind = MB_EVENT_EXIT;
        e->pid = s->pids[i];
        e->code = got > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        e->signal = got > 0 && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        s->pids[i] = s->pids[--s->n_pids];
    }
}

static void read_signals(struct mb_supervisor *s)
{
    struct signalfd_siginfo info;
    while (read(s->sigfd, &info, sizeof info) == (ssize_t)sizeof info) {
        if (info.ssi_signo == SIGCHLD)
            continue; /* reap() below looks at every child */
        struct mb_event *e = queue_push(s);
        if (!e)
            return;
        e->kind = MB_EVENT_SIGNAL;
        e->signal = (int)info.ssi_signo;
    }
}

static void read_changes(struct mb_supervisor *s)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while ((n = read(s->inofd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            const char *name = ev->len ? ev->name : "";
            if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
                s->watching = 0; /* watched again (by path) at the next wait */
            int seen = 0;
            for (size_t i = 0; i < s->n_queue && !seen; i++)
                seen = s->queue[i].kind == MB_EVENT_CHANGE && strcmp(s->queue[i].name, name) == 0;
            struct mb_event *e = seen ? NULL : queue_push(s);
            if (e) {
                e->kind = MB_EVENT_CHANGE;
                snprintf(e->name, sizeof e->name, "%s", name);
            }
            p += sizeof *ev + ev->len;
        }
    }
}

int mb_supervisor_wait(struct mb_supervisor *s, double timeout, struct mb_event *events, int max,
                       struct mb_error *err)
{
    reap(s);
    if (s->inofd >= 0 && !s->watching && watch(s) == 0) {
        /* the directory is back (or another one stands at its path): what
         * it holds now may differ from what was read */
        struct mb_event *e = queue_push(s);
        if (e)
            e->kind = MB_EVENT_CHANGE;
    }
    if (s->n_queue == 0) {
        struct pollfd fds[2] = { { s->sigfd, POLLIN, 0 }, { s->inofd, POLLIN, 0 } };
        int ms = timeout < 0 ? -1
                 : timeout * 1000.0 >= INT_MAX ? INT_MAX
                 : (int)ceil(timeout * 1000.0);
        int ready = poll(fds, s->inofd >= 0 ? 2 : 1, ms);
        if (ready < 0 && errno != EINTR) {
            mb_error_errno(err, "poll");
            return -1;
        }
        read_signals(s);
        if (s->inofd >= 0)
            read_changes(s);
        reap(s);
    }
    int n = s->n_queue < (size_t)max ? (int)s->n_queue : max;
    if (n > 0) { /* the queue may be NULL: no memcpy from it, even of nothing */
        memcpy(events, s->queue, (size_t)n * sizeof *events);
        memmove(s->queue, s->queue + n, (s->n_queue - (size_t)n) * sizeof *s->queue);
        s->n_queue -= (size_t)n;
    }
    return n;
}
