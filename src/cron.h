/* cron.h — 5-field cron expressions, as Vixie cron (Debian's cron, cronie)
 * reads them, and their fire times in a time zone.
 *
 * Fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 (jan-dec),
 * day of week 0-7 (sun-sat, 0 and 7 both Sunday); each a list of `*`,
 * `N`, `N-M`, `*`/S or `N-M/S`; or one of @hourly @daily @midnight @weekly
 * @monthly @yearly @annually.  When both day fields are restricted a day
 * matching either fires; a field that starts with `*` counts as
 * unrestricted (`*`/7 too). */
#ifndef MB_CRON_H
#define MB_CRON_H

#include <stddef.h>
#include <stdint.h>

#include "tz.h"

#define MB_CRON_EXPR_MAX 256

struct mb_cron {
    uint64_t minutes; /* bit n: minute n */
    uint32_t hours;
    uint32_t days;     /* bit n: day of month n (1-31) */
    uint16_t months;   /* bit n: month n (1-12) */
    uint8_t weekdays;  /* bit n: weekday n, 0 Sunday */
    uint8_t days_star, weekdays_star;
    /* Minute and hour both fixed (neither starts with `*`): Debian cron's
     * "fixed-time job", which runs at the jump when its time falls in a
     * spring-forward gap and only at the first of a repeated time. */
    uint8_t fixed_time;
};

/* Parses expr; 0, or -1 with a message naming the field in err. */
int mb_cron_parse(const char *expr, struct mb_cron *cron, char *err, size_t errlen);

/* The first matching wall-clock minute strictly after after_local (local
 * seconds, see tz.h); 0, or -1 when none comes within 400 years. */
int mb_cron_next_local(const struct mb_cron *cron, int64_t after_local, int64_t *next_local);

/* The first fire instant strictly after the instant after, the
 * expression read in zone tz (NULL: UTC), daylight saving as Debian cron:
 * a fixed-time job whose time is skipped fires at the jump and a repeated
 * time fires once, at its first occurrence; other jobs follow the wall
 * clock (a skipped time does not fire, a repeated one fires at both
 * instants).  0, or -1 when none comes within 400 years. */
int mb_cron_next(const struct mb_cron *cron, const struct mb_tz *tz, int64_t after, int64_t *next);

#endif
