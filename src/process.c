/* process.c — child processes as readers (see process.h). */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct spawn_reader {
    struct mb_reader base;
    pid_t pid;        /* 0 once reaped */
    int out_fd, err_fd; /* -1 once closed */
    int status;       /* from waitpid */
    int cancelled;
    char *label;
    char err_tail[MB_SPAWN_STDERR_MAX];
    size_t err_len;
};

/* Keeps the last MB_SPAWN_STDERR_MAX bytes of the child's stderr. */
static void keep_stderr(struct spawn_reader *s, const char *buf, size_t n)
{
    if (n > sizeof s->err_tail) {
        buf += n - sizeof s->err_tail;
        n = sizeof s->err_tail;
    }
    if (s->err_len + n > sizeof s->err_tail) {
        size_t drop = s->err_len + n - sizeof s->err_tail;
        memmove(s->err_tail, s->err_tail + drop, s->err_len - drop);
        s->err_len -= drop;
    }
    memcpy(s->err_tail + s->err_len, buf, n);
    s->err_len += n;
}

static void drain_stderr(struct spawn_reader *s)
{
    char buf[4096];
    ssize_t n = read(s->err_fd, buf, sizeof buf);
    if (n > 0) {
        keep_stderr(s, buf, (size_t)n);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(s->err_fd);
        s->err_fd = -1;
    }
}

static ssize_t spawn_read(struct mb_reader *r, void *buf, size_t len, struct mb_error *err)
{
    struct spawn_reader *s = (struct spawn_reader *)r;
    while (s->out_fd >= 0) {
        struct pollfd fds[2] = { { s->out_fd, POLLIN, 0 }, { s->err_fd, POLLIN, 0 } };
        if (poll(fds, s->err_fd >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            mb_error_errno(err, "%s: poll", s->label);
            return -1;
        }
        if (s->err_fd >= 0 && fds[1].revents)
            drain_stderr(s);
        if (!fds[0].revents)
            continue;
        ssize_t n = read(s->out_fd, buf, len);
        if (n > 0)
            return n;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            mb_error_errno(err, "%s: cannot read its output", s->label);
            return -1;
        }
        close(s->out_fd); /* end of output */
        s->out_fd = -1;
    }
    return 0;
}

/* The stderr tail as one line of text, for an error message. */
static const char *stderr_summary(struct spawn_reader *s)
{
    s->err_tail[s->err_len < sizeof s->err_tail ? s->err_len : sizeof s->err_tail - 1] = '\0';
    char *end = s->err_tail + strlen(s->err_tail);
    while (end > s->err_tail && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
        *--end = '\0';
    char *start = strrchr(s->err_tail, '\n');
    return start ? start + 1 : s->err_tail;
}

static void reap(struct spawn_reader *s)
{
    if (s->out_fd >= 0) {
        close(s->out_fd);
        s->out_fd = -1;
    }
    while (s->err_fd >= 0)
        drain_stderr(s); /* the child may still be writing its last words */
    while (s->pid > 0 && waitpid(s->pid, &s->status, 0) < 0 && errno == EINTR)
        ;
    s->pid = 0;
}

static int spawn_finish(struct mb_reader *r, struct mb_error *err)
{
    struct spawn_reader *s = (struct spawn_reader *)r;
    reap(s);
    s->err_tail[s->err_len < sizeof s->err_tail ? s->err_len : sizeof s->err_tail - 1] = '\0';
    mb_config_set(&s->base.meta, "stderr", s->err_tail);
    if (WIFEXITED(s->status) && WEXITSTATUS(s->status) == 0)
        return 0;
    if (s->cancelled)
        mb_error_set(err, "%s was stopped", s->label);
    else if (WIFEXITED(s->status))
        mb_error_set(err, "%s exited with status %d: %s", s->label, WEXITSTATUS(s->status),
                      stderr_summary(s));
    else
        mb_error_set(err, "%s was killed by signal %d (%s)", s->label, WTERMSIG(s->status),
                      strsignal(WTERMSIG(s->status)));
    return -1;
}

/* From another thread: stop the child so that a blocked read ends. */
static void spawn_cancel(struct mb_reader *r)
{
    struct spawn_reader *s = (struct spawn_reader *)r;
    s->cancelled = 1;
    if (s->pid > 0)
        kill(s->pid, SIGTERM);
}

static void spawn_close(struct mb_reader *r)
{
    struct spawn_reader *s = (struct spawn_reader *)r;
    if (!s)
        return;
    if (s->pid > 0) {
        kill(s->pid, SIGKILL); /* abandoned: nobody wants its output any more */
        reap(s);
    }
    if (s->err_fd >= 0)
        close(s->err_fd);
    mb_config_free(&s->base.meta);
    free(s->label);
    free(s);
}

/* environ plus the job's variables; the job's win. */
static char **child_environment(const char *const *extra)
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

static int start_child(struct spawn_reader *s, const char *const *argv, const char *const *env,
                       int out_pipe[2], int err_pipe[2], struct mb_error *err)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    char **child_env = child_environment(env);
    int rc = child_env ? posix_spawnp(&s->pid, argv[0], &actions, NULL, (char *const *)argv,
                                      child_env)
                       : ENOMEM;
    free(child_env);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        errno = rc;
        mb_error_errno(err, "%s: cannot start %s", s->label, argv[0]);
        s->pid = 0;
        return -1;
    }
    return 0;
}

struct mb_reader *mb_spawn_reader(const char *const *argv, const char *const *env,
                                  const char *label, struct mb_error *err)
{
    if (!argv || !argv[0]) {
        mb_error_set(err, "%s: no program to run", label);
        return NULL;
    }
    struct spawn_reader *s = calloc(1, sizeof *s);
    int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
    if (!s || !(s->label = strdup(label))) {
        free(s);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    s->base = (struct mb_reader){ .read = spawn_read, .finish = spawn_finish,
                                  .cancel = spawn_cancel, .close = spawn_close };
    s->out_fd = s->err_fd = -1;
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
        mb_error_errno(err, "%s: pipe", label);
    } else if (start_child(s, argv, env, out_pipe, err_pipe, err) == 0) {
        s->out_fd = out_pipe[0];
        s->err_fd = err_pipe[0];
        out_pipe[0] = err_pipe[0] = -1;
    }
    for (int i = 0; i < 2; i++) {
        if (out_pipe[i] >= 0)
            close(out_pipe[i]);
        if (err_pipe[i] >= 0)
            close(err_pipe[i]);
    }
    if (s->out_fd < 0) {
        spawn_close(&s->base);
        return NULL;
    }
    return &s->base;
}
