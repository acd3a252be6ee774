/* process.c — child processes as readers and writers (see process.h). */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"

extern char **environ;

/* A stopped child's process group gets SIGTERM, then SIGKILL this much later. */
#define STOP_GRACE_SECONDS 2.0

/* What readers and writers share: one child, its stderr, its verdict.
 * The child leads its own process group (pgid == pid), so that stopping
 * it reaches whatever it started too. */
struct child {
    pid_t pid;   /* 0 once reaped */
    int pidfd;   /* readable once the child has exited; -1 if the kernel has none */
    int tail_fd; /* stderr (and for writers stdout) of the child; -1 once closed */
    int wake[2]; /* a byte in it: the child was stopped, a blocked child_wait returns */
    int status;  /* from waitpid */
    atomic_int stopped; /* we stopped it on purpose (cancel, abort); set from any thread */
    char *label;
    char *remove_after;
    char tail[MB_PROCESS_TAIL];
    size_t tail_len;
};

/* ---- strings lists ------------------------------------------------------ */

void mb_strv_push(struct mb_strv *s, const char *text)
{
    if (s->failed)
        return;
    if (s->n + 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            s->failed = 1;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(text))) {
        s->failed = 1;
        return;
    }
    s->v[++s->n] = NULL;
}

void mb_strv_pushf(struct mb_strv *s, const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    if (!text) {
        s->failed = 1;
        return;
    }
    mb_strv_push(s, text);
    mb_free_secret(text); /* may be PGPASSWORD=... */
}

void mb_strv_push_lines(struct mb_strv *s, const char *text)
{
    while (text && *text) {
        size_t n = strcspn(text, "\n");
        char *line = strndup(text, n);
        if (!line) {
            s->failed = 1;
            return;
        }
        mb_strv_push(s, line);
        free(line);
        text += n + (text[n] == '\n');
    }
}

void mb_strv_free(struct mb_strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        mb_free_secret(s->v[i]); /* env lists may carry passwords */
    free(s->v);
    memset(s, 0, sizeof *s);
}

char *mb_private_temp_file(const char *dir, const char *text, struct mb_error *err)
{
    if (!dir)
        dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *path = mb_strdup_printf("%s/moonbak-XXXXXX", dir);
    int fd = path ? mkostemp(path, O_CLOEXEC) : -1; /* mode 0600 */
    if (fd < 0) {
        mb_error_errno(err, "cannot create a private file in %s", dir);
        free(path);
        return NULL;
    }
    int rc = mb_write_all(fd, text, strlen(text));
    if (close(fd) != 0 || rc != 0) {
        mb_error_errno(err, "cannot write %s", path);
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

/* ---- live process groups, for a signal handler --------------------------- */

/* The process groups of the children not yet reaped, so that a signal
 * handler can reach them (mb_signal_children).  A slot holds a pgid or 0.
 * A child that finds no free slot is still stopped by its reader or
 * writer, only not from a handler. */
#define LIVE_GROUPS 64
static atomic_int live_groups[LIVE_GROUPS];

static void group_remember(pid_t pgid)
{
    for (int i = 0; i < LIVE_GROUPS; i++) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&live_groups[i], &expected, pgid))
            return;
    }
}

/* Before the child is reaped: until then its pid cannot name another group. */
static void group_forget(pid_t pgid)
{
    for (int i = 0; i < LIVE_GROUPS; i++) {
        int expected = pgid;
        if (atomic_compare_exchange_strong(&live_groups[i], &expected, 0))
            return;
    }
}

void mb_signal_children(int sig)
{
    for (int i = 0; i < LIVE_GROUPS; i++) {
        pid_t pgid = atomic_load(&live_groups[i]);
        if (pgid > 0)
            kill(-pgid, sig);
    }
}

/* ---- one child ---------------------------------------------------------- */

static void tail_keep(struct child *c, const char *buf, size_t n)
{
    if (n > sizeof c->tail - 1) {
        buf += n - (sizeof c->tail - 1);
        n = sizeof c->tail - 1;
    }
    if (c->tail_len + n > sizeof c->tail - 1) {
        size_t drop = c->tail_len + n - (sizeof c->tail - 1);
        memmove(c->tail, c->tail + drop, c->tail_len - drop);
        c->tail_len -= drop;
    }
    memcpy(c->tail + c->tail_len, buf, n);
    c->tail_len += n;
    c->tail[c->tail_len] = '\0';
}

/* One non-blocking read of what the child said; returns 1 when there may
 * be more right away, 0 when nothing is waiting or the pipe is closed. */
static int tail_drain(struct child *c)
{
    char buf[4096];
    ssize_t n = read(c->tail_fd, buf, sizeof buf);
    if (n > 0) {
        tail_keep(c, buf, (size_t)n);
        return 1;
    }
    if (n < 0 && errno == EINTR)
        return 1;
    if (n == 0 || errno != EAGAIN) {
        close(c->tail_fd);
        c->tail_fd = -1;
    }
    return 0;
}

/* The last line the tool said, for an error message. */
static const char *tail_last_line(struct child *c)
{
    while (c->tail_len && strchr("\n\r \t", c->tail[c->tail_len - 1]))
        c->tail[--c->tail_len] = '\0';
    char *start = strrchr(c->tail, '\n');
    return start ? start + 1 : c->tail;
}

char **mb_environment_with(const char *const *extra)
{
    size_t n_env = 0, n_extra = 0;
    while (environ[n_env])
        n_env++;
    while (extra && extra[n_extra])
        n_extra++;
    char **env = calloc(n_env + n_extra + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        size_t name_len = strcspn(environ[i], "=");
        int overridden = 0;
        for (size_t j = 0; j < n_extra && !overridden; j++)
            overridden = strncmp(extra[j], environ[i], name_len + 1) == 0;
        if (!overridden)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < n_extra; j++)
        env[k++] = (char *)extra[j];
    return env;
}

static void strings_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* The paths the child tries for the program, as execvp would: the name
 * itself when it holds a slash, else each directory of $PATH (the
 * parent's, as posix_spawnp and execvp use).  Computed before fork,
 * because the child may only make async-signal-safe calls. */
static char **program_candidates(const char *name)
{
    const char *path = getenv("PATH");
    if (strchr(name, '/'))
        path = NULL;
    else if (!path)
        path = "/bin:/usr/bin"; /* glibc's default */
    size_t n = 1;
    for (const char *p = path; p && *p; p++)
        n += *p == ':';
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        return NULL;
    if (!path)
        v[0] = strdup(name);
    for (size_t i = 0; path && i < n; i++) {
        size_t len = strcspn(path, ":"); /* an empty entry is the current directory */
        v[i] = len ? mb_strdup_printf("%.*s/%s", (int)len, path, name) : mb_strdup_printf("./%s", name);
        path += len + (path[len] == ':');
    }
    for (size_t i = 0; i < n; i++) {
        if (!v[i]) {
            strings_free(v);
            return NULL;
        }
    }
    return v;
}

/* What the child needs between fork and exec, all prepared by the parent. */
struct child_setup {
    int fds[3];             /* become the child's 0, 1 and 2 */
    char *const *argv;
    char **env;
    char **programs;        /* from program_candidates */
    pid_t parent;
    int report_fd;          /* close-on-exec; gets errno when no exec works */
};

/* Signals as a new program expects them, whatever moonbak set: default
 * actions (libcurl leaves SIGPIPE ignored), nothing blocked.  Except that
 * terminal reads and writes of a tool outside the terminal's foreground
 * group fail (EIO) instead of stopping the tool, and moonbak with it,
 * forever: a tool prompting on /dev/tty is an error, not a hang. */
void mb_child_reset_signals(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    sigemptyset(&action.sa_mask);
    action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &action, NULL); /* fails harmlessly for SIGKILL, SIGSTOP, libc's own */
    action.sa_handler = SIG_IGN;
    sigaction(SIGTTIN, &action, NULL);
    sigaction(SIGTTOU, &action, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In the child, between fork and exec: async-signal-safe calls only. */
__attribute__((noreturn)) static void child_exec(const struct child_setup *s)
{
    int failure = 0;
    setpgid(0, 0); /* its own group: stopping it reaches what it starts */
    /* Dies with the parent, even by kill -9.  Strictly with the thread that
     * forked it: children are spawned by the thread that runs Lua, which
     * lives as long as the process.  If the parent is gone already, the
     * death signal would never come. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != s->parent)
        _exit(127);
    int high[3];
    for (int i = 0; i < 3 && !failure; i++) /* above 2 first: the fds may overlap 0-2 */
        if ((high[i] = fcntl(s->fds[i], F_DUPFD_CLOEXEC, 3)) < 0)
            failure = errno;
    for (int i = 0; i < 3 && !failure; i++)
        if (dup2(high[i], i) < 0)
            failure = errno;
    if (!failure) {
        mb_child_reset_signals();
        for (size_t i = 0; s->programs[i]; i++) {
            execve(s->programs[i], s->argv, s->env);
            if (errno == EACCES) /* as execvp: remembered, the search goes on */
                failure = EACCES;
            else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV
                     && errno != ETIMEDOUT) {
                failure = errno;
                break;
            }
        }
        if (!failure)
            failure = ENOENT;
    }
    ssize_t ignored = write(s->report_fd, &failure, sizeof failure);
    (void)ignored;
    _exit(127);
}

/* In the parent: forks with every signal blocked, so that none of our
 * handlers runs in the child; returns the child's pid or -1 (errno). */
static pid_t child_fork(const struct child_setup *s)
{
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t pid = fork();
    if (pid == 0)
        child_exec(s);
    int fork_errno = errno;
    if (pid > 0) {
        setpgid(pid, pid); /* also here: no kill(-pid) may find no group */
        group_remember(pid);
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    errno = fork_errno;
    return pid;
}

/* The errno of a child that could not exec, 0 once it did (the report
 * pipe closed on exec). */
static int child_exec_result(int report_fd)
{
    int failure = 0;
    ssize_t n;
    while ((n = read(report_fd, &failure, sizeof failure)) < 0 && errno == EINTR)
        ;
    return n == (ssize_t)sizeof failure ? failure : 0;
}

/* The command's remove_after file (a password option file) goes whatever
 * happens; this is for failures before a child owns it. */
static void out_of_memory(const struct mb_command *cmd, struct mb_error *err)
{
    if (cmd->remove_after)
        unlink(cmd->remove_after);
    mb_error_set(err, "out of memory");
}

static int child_init(struct child *c, const struct mb_command *cmd, struct mb_error *err)
{
    memset(c, 0, sizeof *c);
    c->pidfd = c->tail_fd = c->wake[0] = c->wake[1] = -1;
    c->label = strdup(cmd->label ? cmd->label : "command");
    c->remove_after = cmd->remove_after ? strdup(cmd->remove_after) : NULL;
    if (!c->label || (cmd->remove_after && !c->remove_after)) {
        out_of_memory(cmd, err);
        return -1;
    }
    if (!cmd->argv || !cmd->argv[0]) {
        mb_error_set(err, "%s: no program to run", c->label);
        return -1;
    }
    if (pipe2(c->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        mb_error_errno(err, "%s: pipe", c->label);
        return -1;
    }
    return 0;
}

static void close_pair(int p[2])
{
    for (int i = 0; i < 2; i++)
        if (p[i] >= 0)
            close(p[i]);
}

/* Starts the child with the given descriptors as its 0, 1 and 2 (in < 0:
 * /dev/null), in its own process group, to die with us. */
static int child_spawn(struct child *c, const struct mb_command *cmd, int in, int out, int errfd,
                       struct mb_error *err)
{
    struct child_setup s = { .fds = { in, out, errfd }, .argv = (char *const *)cmd->argv,
                             .parent = getpid(), .report_fd = -1 };
    int report[2] = { -1, -1 }, null_fd = -1, failure = 0;
    s.env = mb_environment_with(cmd->env);
    s.programs = program_candidates(cmd->argv[0]);
    if (!s.env || !s.programs) {
        failure = ENOMEM;
    } else if (in < 0 && (s.fds[0] = null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        failure = errno;
    } else if (pipe2(report, O_CLOEXEC) != 0) {
        failure = errno;
    } else {
        s.report_fd = report[1];
        c->pid = child_fork(&s);
        failure = c->pid < 0 ? errno : 0;
        close(report[1]);
        report[1] = -1;
        if (c->pid > 0 && (failure = child_exec_result(report[0])) != 0) {
            group_forget(c->pid);
            while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
    }
    close_pair(report);
    if (null_fd >= 0)
        close(null_fd);
    free(s.env);
    strings_free(s.programs);
    if (failure) {
        c->pid = 0;
        errno = failure;
        mb_error_errno(err, "%s: cannot start %s", c->label, cmd->argv[0]);
        return -1;
    }
    c->pidfd = pidfd_open(c->pid, 0); /* -1 on kernels before 5.3: child_await_exit polls */
    return 0;
}

/* Has the child exited?  It stays a zombie (WNOWAIT): until it is reaped
 * its pid, which names its process group, cannot be reused. */
static int child_exited(struct child *c)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    while ((rc = waitid(P_PID, (id_t)c->pid, &info, WEXITED | WNOHANG | WNOWAIT)) < 0 && errno == EINTR)
        ;
    return rc < 0 || info.si_pid != 0; /* an error: nothing left to wait for */
}

/* Waits for the child to exit, keeping what it says on stderr meanwhile.
 * A stopped child has STOP_GRACE_SECONDS after its SIGTERM; then its
 * group gets SIGKILL. */
static void child_await_exit(struct child *c)
{
    double deadline = mb_now() + STOP_GRACE_SECONDS;
    int killed = 0;
    while (!child_exited(c)) {
        int timeout = c->pidfd >= 0 ? -1 : 20;
        if (atomic_load(&c->stopped) && !killed) {
            double left = deadline - mb_now();
            if (left <= 0) {
                kill(-c->pid, SIGKILL);
                killed = 1;
                continue;
            }
            if (timeout < 0 || left * 1000 < timeout)
                timeout = (int)(left * 1000) + 1;
        }
        struct pollfd fds[2] = { { c->pidfd, POLLIN, 0 }, { c->tail_fd, POLLIN, 0 } };
        if (poll(fds, 2, timeout) > 0 && fds[1].revents) /* poll skips negative fds */
            tail_drain(c);
    }
}

/* Reaps the child.  Whatever it left running that keeps its stderr open is
 * not waited for: the child's own last words are in the pipe once it has
 * exited.  A stopped child takes its whole process group along. */
static void child_reap(struct child *c)
{
    if (c->pid > 0) {
        child_await_exit(c);
        if (atomic_load(&c->stopped))
            kill(-c->pid, SIGKILL); /* the zombie still holds the group's id */
        group_forget(c->pid);
        while (c->tail_fd >= 0 && tail_drain(c))
            ;
        while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR)
            ;
        c->pid = 0;
    }
    if (c->tail_fd >= 0) {
        close(c->tail_fd);
        c->tail_fd = -1;
    }
    if (c->pidfd >= 0) {
        close(c->pidfd);
        c->pidfd = -1;
    }
    if (c->remove_after) {
        unlink(c->remove_after);
        free(c->remove_after);
        c->remove_after = NULL;
    }
}

static int child_verdict(struct child *c, struct mb_error *err)
{
    if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0)
        return 0;
    if (atomic_load(&c->stopped))
        mb_error_set(err, "%s was stopped", c->label);
    else if (WIFEXITED(c->status))
        mb_error_set(err, "%s exited with status %d: %s", c->label, WEXITSTATUS(c->status),
                     tail_last_line(c));
    else
        mb_error_set(err, "%s was killed by signal %d (%s)", c->label, WTERMSIG(c->status),
                     strsignal(WTERMSIG(c->status)));
    return -1;
}

/* Stops the child and its process group; from any thread.  A child_wait
 * blocked in another thread returns. */
static void child_kill(struct child *c, int sig)
{
    atomic_store(&c->stopped, 1);
    if (c->pid > 0)
        kill(-c->pid, sig);
    if (c->wake[1] >= 0) {
        ssize_t ignored = write(c->wake[1], "", 1); /* full pipe: already awake */
        (void)ignored;
    }
}

static void child_free(struct child *c)
{
    if (c->pid > 0) {
        child_kill(c, SIGKILL); /* abandoned: nobody wants it any more */
        child_reap(c);
    }
    if (c->tail_fd >= 0)
        close(c->tail_fd);
    if (c->pidfd >= 0)
        close(c->pidfd);
    close_pair(c->wake);
    if (c->remove_after)
        unlink(c->remove_after);
    free(c->remove_after);
    free(c->label);
}

/* Waits until fd is ready for events, draining the child's stderr
 * meanwhile; returns fd's revents, 0 once the child was stopped, or -1
 * with err set. */
static int child_wait(struct child *c, int fd, short events, struct mb_error *err)
{
    for (;;) {
        struct pollfd fds[3] = { { fd, events, 0 }, { c->wake[0], POLLIN, 0 },
                                 { c->tail_fd, POLLIN, 0 } };
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            mb_error_errno(err, "%s: poll", c->label);
            return -1;
        }
        if (fds[1].revents)
            return 0;
        if (fds[2].revents)
            tail_drain(c);
        if (fds[0].revents)
            return fds[0].revents;
    }
}

/* ---- readers: the child's stdout ----------------------------------------- */

struct spawn_reader {
    struct mb_reader base;
    struct child child;
    int out_fd; /* -1 once closed */
};

static ssize_t spawn_read(struct mb_reader *r, void *buf, size_t len, struct mb_error *err)
{
    struct spawn_reader *s = (struct spawn_reader *)r;
    struct child *c = &s->child;
    while (s->out_fd >= 0) {
        int ready = child_wait(c, s->out_fd, POLLIN, err);
        if (ready <= 0)
            return ready; /* 0: stopped, its output ends here */
        ssize_t n = read(s->out_fd, buf, len);
        if (n > 0)
            return n;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            mb_error_errno(err, "%s: cannot read its output", c->label);
            return -1;
        }
        close(s->out_fd);
        s->out_fd = -1;
    }
    return 0;
}

static int spawn_reader_finish(struct mb_reader *r, struct mb_error *err)
{
    struct spawn_reader *s = (struct spawn_reader *)r;
    if (s->out_fd >= 0) {
        close(s->out_fd);
        s->out_fd = -1;
    }
    child_reap(&s->child);
    mb_config_set(&s->base.meta, "stderr", s->child.tail);
    return child_verdict(&s->child, err);
}

/* From another thread: stop the child's process group, and a blocked read
 * ends without waiting for whatever holds the pipe open. */
static void spawn_reader_cancel(struct mb_reader *r)
{
    child_kill(&((struct spawn_reader *)r)->child, SIGTERM);
}

static void spawn_reader_close(struct mb_reader *r)
{
    struct spawn_reader *s = (struct spawn_reader *)r;
    if (!s)
        return;
    if (s->out_fd >= 0)
        close(s->out_fd);
    child_free(&s->child);
    mb_config_free(&s->base.meta);
    free(s);
}

struct mb_reader *mb_spawn_reader(const struct mb_command *cmd, struct mb_error *err)
{
    struct spawn_reader *s = calloc(1, sizeof *s);
    if (!s) {
        out_of_memory(cmd, err);
        return NULL;
    }
    s->base = (struct mb_reader){ .read = spawn_read, .finish = spawn_reader_finish,
                                  .cancel = spawn_reader_cancel, .close = spawn_reader_close };
    s->out_fd = -1;
    int out[2] = { -1, -1 }, errp[2] = { -1, -1 };
    if (child_init(&s->child, cmd, err) != 0) {
        /* message set */
    } else if (pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
        mb_error_errno(err, "%s: pipe", s->child.label);
    } else if (child_spawn(&s->child, cmd, -1, out[1], cmd->merge_stderr ? out[1] : errp[1], err) == 0) {
        s->out_fd = out[0];
        s->child.tail_fd = errp[0];
        out[0] = errp[0] = -1;
        fcntl(s->child.tail_fd, F_SETFL, fcntl(s->child.tail_fd, F_GETFL) | O_NONBLOCK);
    }
    close_pair(out);
    close_pair(errp);
    if (s->out_fd < 0) {
        spawn_reader_close(&s->base);
        return NULL;
    }
    return &s->base;
}

int mb_run_capture(const struct mb_command *cmd, char *out, size_t cap, struct mb_error *err)
{
    struct mb_reader *r = mb_spawn_reader(cmd, err);
    if (!r)
        return -1;
    size_t len = 0;
    ssize_t n;
    char discard[4096];
    /* Read to the end even past cap, so the child never blocks on us. */
    while ((n = len + 1 < cap ? r->read(r, out + len, cap - 1 - len, err)
                              : r->read(r, discard, sizeof discard, err)) > 0)
        if (len + 1 < cap)
            len += (size_t)n;
    if (cap)
        out[len] = '\0';
    int rc = r->finish(r, err);
    r->close(r);
    return n < 0 ? -1 : rc;
}

/* ---- writers: the child's stdin ------------------------------------------ */

struct spawn_writer {
    struct mb_writer base;
    struct child child;
    int in_fd; /* -1 once closed */
    int committed;
};

static int spawn_write(struct mb_writer *w, const void *buf, size_t len, struct mb_error *err)
{
    struct spawn_writer *s = (struct spawn_writer *)w;
    struct child *c = &s->child;
    const char *p = buf;
    while (len) {
        int revents = child_wait(c, s->in_fd, POLLOUT, err);
        if (revents < 0)
            return -1;
        if (revents == 0) {
            mb_error_set(err, "%s was stopped", c->label);
            return -1;
        }
        if (revents & (POLLERR | POLLHUP)) {
            child_reap(c);
            if (child_verdict(c, err) == 0)
                mb_error_set(err, "%s stopped reading its input", c->label);
            return -1;
        }
        ssize_t n = write(s->in_fd, p, len); /* non-blocking: as much as the pipe takes */
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            mb_error_errno(err, "%s: cannot write its input", c->label);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int spawn_writer_commit(struct mb_writer *w, struct mb_error *err)
{
    struct spawn_writer *s = (struct spawn_writer *)w;
    close(s->in_fd); /* end of input: the tool finishes its work */
    s->in_fd = -1;
    child_reap(&s->child);
    if (child_verdict(&s->child, err) != 0)
        return -1;
    s->committed = 1;
    return 0;
}

static void spawn_writer_abort(struct mb_writer *w)
{
    struct spawn_writer *s = (struct spawn_writer *)w;
    if (s->in_fd >= 0) {
        close(s->in_fd);
        s->in_fd = -1;
    }
    if (!s->committed && s->child.pid > 0) {
        child_kill(&s->child, SIGKILL);
        child_reap(&s->child);
    }
}

static void spawn_writer_close(struct mb_writer *w)
{
    struct spawn_writer *s = (struct spawn_writer *)w;
    if (!s)
        return;
    spawn_writer_abort(w);
    child_free(&s->child);
    free(s);
}

struct mb_writer *mb_spawn_writer(const struct mb_command *cmd, struct mb_error *err)
{
    struct spawn_writer *s = calloc(1, sizeof *s);
    if (!s) {
        out_of_memory(cmd, err);
        return NULL;
    }
    s->base = (struct mb_writer){ spawn_write, spawn_writer_commit, spawn_writer_abort,
                                  spawn_writer_close };
    s->in_fd = -1;
    int in[2] = { -1, -1 }, outp[2] = { -1, -1 };
    if (child_init(&s->child, cmd, err) != 0) {
        /* message set */
    } else if (pipe2(in, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0) {
        mb_error_errno(err, "%s: pipe", s->child.label);
    } else if (child_spawn(&s->child, cmd, in[0], outp[1], outp[1], err) == 0) {
        s->in_fd = in[1];
        s->child.tail_fd = outp[0];
        in[1] = outp[0] = -1;
        fcntl(s->in_fd, F_SETFL, fcntl(s->in_fd, F_GETFL) | O_NONBLOCK);
        fcntl(s->child.tail_fd, F_SETFL, fcntl(s->child.tail_fd, F_GETFL) | O_NONBLOCK);
    }
    close_pair(in);
    close_pair(outp);
    if (s->in_fd < 0) {
        spawn_writer_close(&s->base);
        return NULL;
    }
    return &s->base;
}

/* ---- services: long-running children -------------------------------------- */

struct mb_service {
    struct child child;
};

struct mb_service *mb_spawn_service(const struct mb_command *cmd, const char *output,
                                    struct mb_error *err)
{
    struct mb_service *s = calloc(1, sizeof *s);
    if (!s) {
        out_of_memory(cmd, err);
        return NULL;
    }
    int out = -1, rc = -1;
    if (child_init(&s->child, cmd, err) != 0) {
        /* message set */
    } else if ((out = open(output ? output : "/dev/null",
                           O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        mb_error_errno(err, "%s: cannot open %s", s->child.label, output);
    } else {
        rc = child_spawn(&s->child, cmd, -1, out, out, err);
    }
    if (out >= 0)
        close(out);
    if (rc != 0) {
        mb_service_free(s);
        return NULL;
    }
    return s;
}

pid_t mb_service_pid(const struct mb_service *s)
{
    return s->child.pid;
}

int mb_service_running(struct mb_service *s, struct mb_error *err)
{
    struct child *c = &s->child;
    if (c->pid > 0 && !child_exited(c))
        return 1;
    if (c->pid > 0)
        child_reap(c);
    if (child_verdict(c, err) == 0)
        mb_error_set(err, "%s exited", c->label);
    return 0;
}

void mb_service_stop(struct mb_service *s)
{
    if (s->child.pid > 0) {
        child_kill(&s->child, SIGTERM);
        child_reap(&s->child);
    }
}

void mb_service_free(struct mb_service *s)
{
    if (!s)
        return;
    mb_service_stop(s);
    child_free(&s->child);
    free(s);
}
