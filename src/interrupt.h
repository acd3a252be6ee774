/* interrupt.h — how the process is told to stop: SIGINT and SIGTERM (a
 * Ctrl-C, the daemon, systemd) and a run's own time limit all cancel one
 * token, the process's, which the bindings pass to the byte layer (the
 * pump, the storages' transfers, their retry back-offs). */
#ifndef MB_INTERRUPT_H
#define MB_INTERRUPT_H

#include "cancel.h"

/* The process's token; nobody cancels it before mb_interrupts_catch. */
const struct mb_cancel *mb_process_cancel(void);

/* From now on the first SIGINT or SIGTERM cancels the token (and sends
 * SIGTERM to the children's process groups, which are not in the
 * terminal's group), the second kills the children at once (the run still
 * aborts its uploads and records itself), the third ends the process. */
void mb_interrupts_catch(void);

/* The token no longer cancelled, and the next signal a first one again
 * (its handler back if a second one had restored the default): for the
 * console, which goes on after a statement it stopped.  No-op before
 * mb_interrupts_catch. */
void mb_interrupts_reset(void);

/* Cancels the token with reason SIGALRM once seconds have passed on the
 * monotonic clock (a run's timeout), as a first SIGTERM would; 0 disarms
 * it and, if it fired, forgets it (the next run of the process, the
 * console's next statement are not cancelled by it).  A SIGINT or SIGTERM
 * becomes the reason even after the limit fired, and stays.  After
 * mb_interrupts_catch.  0, or -1 with errno. */
int mb_interrupt_after(double seconds);

#endif
