/* interrupt.c — the process's cancel token and the signals that cancel
 * it (see interrupt.h). */
#include "interrupt.h"
#include "process.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

static atomic_int interrupts_received;

/* No pipe until mb_interrupts_catch. */
static struct mb_cancel process_cancel = { 0, { -1, -1 } };

const struct mb_cancel *mb_process_cancel(void)
{
    return &process_cancel;
}

static void restore_default(int sig)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
}

static void note_interrupt(int sig)
{
    int saved_errno = errno;
    int count = atomic_fetch_add(&interrupts_received, 1) + 1;
    mb_cancel_set(&process_cancel, sig); /* the first signal stays the reason, */
    if (sig != SIGALRM && process_cancel.reason == SIGALRM)
        process_cancel.reason = sig; /* but an operator's beats the time limit */
    mb_signal_children(count == 1 ? SIGTERM : SIGKILL);
    if (count == 2) {
        restore_default(SIGINT);
        restore_default(SIGTERM);
    }
    errno = saved_errno;
}

static int catching; /* since mb_interrupts_catch */

void mb_interrupts_catch(void)
{
    catching = 1;
    if (process_cancel.wake[0] < 0)
        mb_cancel_init(&process_cancel); /* without a pipe, sleeps poll the flag */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = note_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT); /* one handler at a time on a thread */
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGALRM);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL); /* the time limit: a first interrupt */
}

void mb_interrupts_reset(void)
{
    if (!catching)
        return;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &block, &old); /* no signal lost between the two */
    mb_cancel_clear(&process_cancel);
    atomic_store(&interrupts_received, 0);
    mb_interrupts_catch();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* A POSIX timer on the monotonic clock, made once: a run has one limit. */
static timer_t limit_timer;
static int limit_timer_made;

int mb_interrupt_after(double seconds)
{
    if (!limit_timer_made) {
        struct sigevent ev;
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_SIGNAL;
        ev.sigev_signo = SIGALRM;
        if (timer_create(CLOCK_MONOTONIC, &ev, &limit_timer) != 0)
            return -1;
        limit_timer_made = 1;
    }
    struct itimerspec t;
    memset(&t, 0, sizeof t);
    if (seconds > 0) {
        t.it_value.tv_sec = (time_t)seconds;
        t.it_value.tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9);
        if (t.it_value.tv_sec == 0 && t.it_value.tv_nsec == 0)
            t.it_value.tv_nsec = 1;
    }
    if (timer_settime(limit_timer, 0, &t, NULL) != 0)
        return -1;
    if (seconds <= 0 && catching) {
        /* Disarmed: a limit that fired alone is forgotten, so that what
         * comes next in this process (another run, the console's next
         * statement) is not cancelled by it, and the next Ctrl-C is a first
         * one again.  A Ctrl-C or SIGTERM, if one came, stays. */
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGALRM);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        if (process_cancel.reason == SIGALRM) {
            mb_cancel_clear(&process_cancel);
            atomic_store(&interrupts_received, 0);
            mb_interrupts_catch(); /* the handlers, if alarms restored the default */
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    return 0;
}
