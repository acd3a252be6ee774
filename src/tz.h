/* tz.h — time zones read from the system's zoneinfo (TZif files, RFC 8536).
 *
 * glibc converts only in the process's own zone (TZ, tzset), which is
 * process-global; a job has a zone of its own and the daemon has threads.
 * A struct mb_tz is one zone, loaded from /usr/share/zoneinfo/NAME (or
 * $TZDIR/NAME, as glibc reads it), immutable once loaded: any number of
 * threads may use it at once.
 *
 * "Local seconds" count a wall-clock time as if it were UTC: seconds from
 * 1970-01-01 00:00 of the local calendar.  They are not instants: a local
 * time may not exist (spring forward) or exist twice (fall back). */
#ifndef MB_TZ_H
#define MB_TZ_H

#include <stddef.h>
#include <stdint.h>

struct mb_tz;

/* Loads zone NAME ("Europe/Berlin", "UTC").  Refuses names that are empty,
 * absolute, contain "..", or do not name a TZif file.  NULL with a message
 * in err on failure. */
struct mb_tz *mb_tz_load(const char *name, char *err, size_t errlen);
void mb_tz_free(struct mb_tz *tz);
const char *mb_tz_name(const struct mb_tz *tz);

#define MB_TZ_ABBR_MAX 16

struct mb_tz_info {
    int32_t utoff; /* seconds east of UTC */
    int isdst;
    char abbr[MB_TZ_ABBR_MAX];
};

/* The zone's offset, daylight-saving flag and abbreviation at instant utc. */
void mb_tz_info_at(const struct mb_tz *tz, int64_t utc, struct mb_tz_info *out);

/* The smallest and largest offset the zone ever has (bounds for searches). */
void mb_tz_offset_range(const struct mb_tz *tz, int32_t *min, int32_t *max);

/* Where local seconds fall: count 1, one instant; count 2, a repeated time
 * (fall back), both instants ascending; count 0, a skipped time (spring
 * forward), and transition is the instant of the jump that skipped it. */
struct mb_tz_local {
    int count;
    int64_t utc[2];
    int64_t transition;
};

void mb_tz_local_to_utc(const struct mb_tz *tz, int64_t local, struct mb_tz_local *out);

/* Proleptic Gregorian calendar: days since 1970-01-01 and back.  month
 * 1-12, day 1-31. */
int64_t mb_days_from_civil(int64_t year, int month, int day);
void mb_civil_from_days(int64_t days, int64_t *year, int *month, int *day);
int mb_days_in_month(int64_t year, int month);

#endif
