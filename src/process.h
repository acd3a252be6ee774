/* process.h — a child process whose stdout is read as a stream.
 *
 * The child is started with posix_spawn, its stdout and stderr on pipes.
 * Reading drains stderr at the same time (poll), so a chatty tool can
 * never block on a full stderr pipe; the last MB_SPAWN_STDERR_MAX bytes of
 * its stderr are kept for the execution log.  finish() waits for the exit
 * status: a non-zero status or a signal is an error quoting the stderr. */
#ifndef MB_PROCESS_H
#define MB_PROCESS_H

#include "mb.h"

#define MB_SPAWN_STDERR_MAX 8192

/* argv[0] is looked up in PATH; env entries ("NAME=value") are added to
 * the child's environment (they override).  label names the process in
 * messages (never its arguments: they could hold something private).
 * The reader's meta gets "stderr" after finish. */
struct mb_reader *mb_spawn_reader(const char *const *argv, const char *const *env,
                                  const char *label, struct mb_error *err);

#endif
