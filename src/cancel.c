/* cancel.c — see cancel.h. */
#include "cancel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define POLL_SLICE_MS 50 /* without a pipe only */

int mb_cancel_init(struct mb_cancel *c)
{
    c->reason = 0;
    if (pipe2(c->wake, O_CLOEXEC | O_NONBLOCK) == 0)
        return 0;
    c->wake[0] = c->wake[1] = -1;
    return -1;
}

void mb_cancel_set(struct mb_cancel *c, int reason)
{
    if (c->reason)
        return;
    c->reason = reason;
    if (c->wake[1] >= 0) {
        int saved = errno;
        ssize_t n = write(c->wake[1], "x", 1); /* never read: readable for good */
        (void)n; /* full or closed: the flag still says it */
        errno = saved;
    }
}

void mb_cancel_clear(struct mb_cancel *c)
{
    char drain[64];
    if (c->wake[0] >= 0)
        while (read(c->wake[0], drain, sizeof drain) > 0)
            ;
    c->reason = 0;
}

int mb_cancel_reason(const struct mb_cancel *c)
{
    return c ? (int)c->reason : 0;
}

int mb_cancel_sleep(const struct mb_cancel *c, double seconds)
{
    double deadline = mb_now() + seconds;
    for (;;) {
        if (mb_cancel_reason(c))
            return -1;
        double left = deadline - mb_now();
        if (left <= 0)
            return 0;
        if (!c) {
            struct timespec ts = { (time_t)left, (long)((left - (double)(time_t)left) * 1e9) };
            nanosleep(&ts, NULL); /* EINTR: the loop measures what is left */
            continue;
        }
        double ms = left * 1000.0 + 1.0;
        int timeout = ms > 1e9 ? 1000000000 : (int)ms;
        if (c->wake[0] < 0 && timeout > POLL_SLICE_MS)
            timeout = POLL_SLICE_MS;
        struct pollfd p = { .fd = c->wake[0], .events = POLLIN };
        poll(&p, c->wake[0] >= 0 ? 1 : 0, timeout); /* readable: cancelled, seen above */
    }
}
