/* clock.h — the one monotonic clock: durations, deadlines, back-offs and
 * progress are measured by it, never by the wall clock (which NTP and the
 * operator may set back). */
#ifndef MB_CLOCK_H
#define MB_CLOCK_H

double mb_now(void); /* monotonic seconds since an arbitrary origin */

#endif
