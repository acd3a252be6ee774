/* process.c — child processes as readers and writers (see process.h). */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* What readers and writers share: one child, its stderr, its verdict. */
struct child {
    pid_t pid;   /* 0 once reaped */
    int tail_fd; /* stderr (and for writers stdout) of the child; -1 once closed */
    int status;  /* from waitpid */
    int stopped; /* we stopped it on purpose (cancel, abort) */
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

static void tail_drain(struct child *c)
{
    char buf[4096];
    ssize_t n = read(c->tail_fd, buf, sizeof buf);
    if (n > 0) {
        tail_keep(c, buf, (size_t)n);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(c->tail_fd);
        c->tail_fd = -1;
    }
}

/* The last line the tool said, for an error message. */
static const char *tail_last_line(struct child *c)
{
    while (c->tail_len && strchr("\n\r \t", c->tail[c->tail_len - 1]))
        c->tail[--c->tail_len] = '\0';
    char *start = strrchr(c->tail, '\n');
    return start ? start + 1 : c->tail;
}

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
    c->tail_fd = -1;
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
    return 0;
}

/* Starts the child with the given descriptors as its 0, 1 and 2. */
static int child_spawn(struct child *c, const struct mb_command *cmd, int in, int out, int errfd,
                       struct mb_error *err)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (in < 0)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    else
        posix_spawn_file_actions_adddup2(&actions, in, 0);
    posix_spawn_file_actions_adddup2(&actions, out, 1);
    posix_spawn_file_actions_adddup2(&actions, errfd, 2);
    char **env = child_environment(cmd->env);
    int rc = env ? posix_spawnp(&c->pid, cmd->argv[0], &actions, NULL, (char *const *)cmd->argv, env)
                 : ENOMEM;
    free(env);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        c->pid = 0;
        errno = rc;
        mb_error_errno(err, "%s: cannot start %s", c->label, cmd->argv[0]);
        return -1;
    }
    return 0;
}

static void child_reap(struct child *c)
{
    while (c->tail_fd >= 0)
        tail_drain(c); /* the child's last words */
    while (c->pid > 0 && waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR)
        ;
    c->pid = 0;
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
    if (c->stopped)
        mb_error_set(err, "%s was stopped", c->label);
    else if (WIFEXITED(c->status))
        mb_error_set(err, "%s exited with status %d: %s", c->label, WEXITSTATUS(c->status),
                     tail_last_line(c));
    else
        mb_error_set(err, "%s was killed by signal %d (%s)", c->label, WTERMSIG(c->status),
                     strsignal(WTERMSIG(c->status)));
    return -1;
}

static void child_kill(struct child *c, int sig)
{
    c->stopped = 1;
    if (c->pid > 0)
        kill(c->pid, sig);
}

static void child_free(struct child *c)
{
    if (c->pid > 0) {
        child_kill(c, SIGKILL); /* abandoned: nobody wants it any more */
        child_reap(c);
    }
    if (c->tail_fd >= 0)
        close(c->tail_fd);
    if (c->remove_after)
        unlink(c->remove_after);
    free(c->remove_after);
    free(c->label);
}

static void close_pair(int p[2])
{
    for (int i = 0; i < 2; i++)
        if (p[i] >= 0)
            close(p[i]);
}

/* Waits until fd is ready for events, draining the child's stderr
 * meanwhile; returns fd's revents, or -1 with err set. */
static int child_wait(struct child *c, int fd, short events, struct mb_error *err)
{
    for (;;) {
        struct pollfd fds[2] = { { fd, events, 0 }, { c->tail_fd, POLLIN, 0 } };
        if (poll(fds, c->tail_fd >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            mb_error_errno(err, "%s: poll", c->label);
            return -1;
        }
        if (c->tail_fd >= 0 && fds[1].revents)
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
        if (child_wait(c, s->out_fd, POLLIN, err) < 0)
            return -1;
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

/* From another thread: stop the child so that a blocked read ends. */
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
    }
    close_pair(in);
    close_pair(outp);
    if (s->in_fd < 0) {
        spawn_writer_close(&s->base);
        return NULL;
    }
    return &s->base;
}
