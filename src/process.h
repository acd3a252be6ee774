/* process.h — child processes as streams: a dump tool's stdout as a
 * reader, a restore tool's stdin as a writer, or a short command whose
 * output is captured (a version query, a connection check).
 *
 * Each child leads its own process group, dies with moonbak (even by
 * kill -9: PR_SET_PDEATHSIG) and starts with default signal actions and
 * nothing blocked.  Stopping it (a reader's cancel, a writer's abort)
 * signals its whole group: SIGTERM, then SIGKILL after a short grace; what
 * the tool started is never waited for.  Its stderr is drained while the
 * bytes flow (poll), so a chatty tool never blocks on a full pipe, and its
 * last MB_PROCESS_TAIL bytes are kept: for the execution log ("stderr" in
 * the reader's meta) and for the error when the tool fails.  A non-zero
 * exit status or a signal is always an error. */
#ifndef MB_PROCESS_H
#define MB_PROCESS_H

#include "mb.h"

#define MB_PROCESS_TAIL 8192

struct mb_command {
    const char *const *argv;  /* argv[0] is looked up in PATH */
    const char *const *env;   /* extra "NAME=value" entries; NULL-terminated or NULL */
    const char *label;        /* names the tool in messages, never its arguments */
    const char *remove_after; /* a file deleted once the child is gone (an option file) */
    int merge_stderr;         /* readers: the child's stderr joins its stdout */
};

struct mb_reader *mb_spawn_reader(const struct mb_command *cmd, struct mb_error *err);
/* The child's stdout and stderr are both kept as its "output" tail. */
struct mb_writer *mb_spawn_writer(const struct mb_command *cmd, struct mb_error *err);
/* Runs to completion; stdout into out (truncated to cap - 1, NUL-ended). */
int mb_run_capture(const struct mb_command *cmd, char *out, size_t cap, struct mb_error *err);

/* A long-running child (a throwaway server for a restore drill): stdin
 * /dev/null, stdout and stderr appended to output (a file, created 0600;
 * NULL: /dev/null), its own process group, dying with moonbak like every
 * child here, stopped with it on SIGINT/SIGTERM (mb_signal_children). */
struct mb_service;
struct mb_service *mb_spawn_service(const struct mb_command *cmd, const char *output,
                                    struct mb_error *err);
pid_t mb_service_pid(const struct mb_service *s); /* 0 once reaped */
/* 1 while it runs; 0 once it has exited (then reaped, err saying how). */
int mb_service_running(struct mb_service *s, struct mb_error *err);
/* SIGTERM to its group, SIGKILL after a short grace; reaps it.  Idempotent. */
void mb_service_stop(struct mb_service *s);
void mb_service_free(struct mb_service *s); /* stops it first */

/* Sends sig to the process group of every child not yet reaped.
 * Async-signal-safe: for the SIGINT/SIGTERM handler. */
void mb_signal_children(int sig);

/* In a child between fork and exec (async-signal-safe): default signal
 * actions whatever the parent set (libcurl leaves SIGPIPE ignored),
 * nothing blocked, terminal reads and writes failing instead of stopping
 * a child outside the terminal's foreground group. */
void mb_child_reset_signals(void);

/* This process's environment with the "NAME=value" entries of extra
 * (NULL-terminated or NULL) added or replacing: a calloc'd array whose
 * strings are borrowed (free the array only). */
char **mb_environment_with(const char *const *extra);

/* A growing NULL-terminated list of strings, for building argv and env. */
struct mb_strv {
    char **v;
    size_t n, cap;
    int failed; /* an allocation failed: the list is incomplete */
};

void mb_strv_push(struct mb_strv *s, const char *text);
void mb_strv_pushf(struct mb_strv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Pushes each line of text (a list option from the job). */
void mb_strv_push_lines(struct mb_strv *s, const char *text);
void mb_strv_free(struct mb_strv *s);

/* Creates a private (0600) temporary file in dir ($TMPDIR or /tmp when
 * NULL) holding text; returns its malloc'd path or NULL.  For option files
 * that carry a password, and for snapshots. */
char *mb_private_temp_file(const char *dir, const char *text, struct mb_error *err);

#endif
