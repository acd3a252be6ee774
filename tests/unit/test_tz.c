/* test_tz.c — zones read from the system's TZif files agree with glibc's
 * localtime_r (which this test process alone points at each zone through
 * TZ), and local times resolve to instants, gaps and repeats as they are. */
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tz.h"

#define HOUR 3600

static const char *zones[] = { "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                               "Asia/Kathmandu", "America/Santiago", "UTC" };

static int64_t utc_of(int64_t y, int mo, int d, int h, int mi)
{
    return mb_days_from_civil(y, mo, d) * 86400 + h * HOUR + mi * 60;
}

/* Every quarter hour of 2020-2040 (Lord Howe changes by half an hour at
 * half past): offset, DST flag and abbreviation as glibc has them. */
static void agrees_with_glibc(const char *name)
{
    char err[256];
    struct mb_tz *tz = mb_tz_load(name, err, sizeof err);
    CHECK(tz != NULL, "%s loads (%s)", name, tz ? "ok" : err);
    if (!tz)
        return;
    setenv("TZ", name, 1);
    tzset();
    long checked = 0, differ = 0;
    for (int64_t t = utc_of(2020, 1, 1, 0, 0); t < utc_of(2041, 1, 1, 0, 0); t += 900) {
        time_t tt = (time_t)t;
        struct tm tm;
        localtime_r(&tt, &tm);
        struct mb_tz_info info;
        mb_tz_info_at(tz, t, &info);
        checked++;
        if (info.utoff != tm.tm_gmtoff || info.isdst != (tm.tm_isdst > 0) ||
            strcmp(info.abbr, tm.tm_zone) != 0) {
            if (differ++ < 3)
                printf("# %s at %lld: ours %d %d %s, glibc %ld %d %s\n", name, (long long)t,
                       info.utoff, info.isdst, info.abbr, tm.tm_gmtoff, tm.tm_isdst, tm.tm_zone);
        }
    }
    CHECK(differ == 0, "%s: offset, DST and abbreviation agree with glibc at %ld quarter hours of 2020-2040",
          name, checked);
    mb_tz_free(tz);
}

/* Every instant is found again from its own local time; a local time has
 * two instants exactly when the zone repeats it. */
static void local_times_round_trip(const char *name)
{
    char err[256];
    struct mb_tz *tz = mb_tz_load(name, err, sizeof err);
    if (!tz)
        return;
    long bad = 0;
    for (int64_t t = utc_of(2020, 1, 1, 0, 0); t < utc_of(2041, 1, 1, 0, 0); t += 900) {
        struct mb_tz_info info;
        mb_tz_info_at(tz, t, &info);
        struct mb_tz_local loc;
        mb_tz_local_to_utc(tz, t + info.utoff, &loc);
        int found = (loc.count >= 1 && loc.utc[0] == t) || (loc.count == 2 && loc.utc[1] == t);
        if (!found && bad++ < 3)
            printf("# %s: instant %lld not found from its local time (count %d)\n", name,
                   (long long)t, loc.count);
    }
    CHECK(bad == 0, "%s: every quarter hour of 2020-2040 is found from its local time", name);
    mb_tz_free(tz);
}

static void berlin_transitions(void)
{
    char err[256];
    struct mb_tz *tz = mb_tz_load("Europe/Berlin", err, sizeof err);
    struct mb_tz_local loc;
    /* 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC */
    mb_tz_local_to_utc(tz, utc_of(2026, 3, 29, 2, 30), &loc);
    CHECK(loc.count == 0 && loc.transition == utc_of(2026, 3, 29, 1, 0),
          "Berlin 2026-03-29 02:30 does not exist; the jump is at 01:00 UTC");
    mb_tz_local_to_utc(tz, utc_of(2026, 3, 29, 1, 59), &loc);
    CHECK(loc.count == 1 && loc.utc[0] == utc_of(2026, 3, 29, 0, 59), "Berlin 01:59 before the jump is 00:59 UTC");
    mb_tz_local_to_utc(tz, utc_of(2026, 3, 29, 3, 0), &loc);
    CHECK(loc.count == 1 && loc.utc[0] == utc_of(2026, 3, 29, 1, 0), "Berlin 03:00 after the jump is 01:00 UTC");
    /* 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC */
    mb_tz_local_to_utc(tz, utc_of(2026, 10, 25, 2, 30), &loc);
    CHECK(loc.count == 2 && loc.utc[0] == utc_of(2026, 10, 25, 0, 30) && loc.utc[1] == utc_of(2026, 10, 25, 1, 30),
          "Berlin 2026-10-25 02:30 happens twice: 00:30 and 01:30 UTC");
    mb_tz_local_to_utc(tz, utc_of(2026, 10, 25, 3, 0), &loc);
    CHECK(loc.count == 1 && loc.utc[0] == utc_of(2026, 10, 25, 2, 0), "Berlin 03:00 after the repeat is 02:00 UTC");
    /* the footer's rules, past the file's transitions */
    mb_tz_local_to_utc(tz, utc_of(2099, 3, 29, 2, 30), &loc);
    CHECK(loc.count == 0 && loc.transition == utc_of(2099, 3, 29, 1, 0), "Berlin 2099-03-29 02:30 does not exist either");
    int32_t lo, hi;
    mb_tz_offset_range(tz, &lo, &hi);
    CHECK(lo <= 3600 && hi >= 7200, "Berlin's offsets span at least +01:00 to +02:00");
    mb_tz_free(tz);
}

static void lord_howe_half_hour(void)
{
    char err[256];
    struct mb_tz *tz = mb_tz_load("Australia/Lord_Howe", err, sizeof err);
    struct mb_tz_local loc;
    /* 2026-10-04 02:00 +1030 becomes 02:30 +11 at 2026-10-03 15:30 UTC */
    mb_tz_local_to_utc(tz, utc_of(2026, 10, 4, 2, 15), &loc);
    CHECK(loc.count == 0 && loc.transition == utc_of(2026, 10, 3, 15, 30),
          "Lord Howe 2026-10-04 02:15 does not exist; the jump is at 15:30 UTC the day before");
    /* 2026-04-05 02:00 +11 becomes 01:30 +1030 at 2026-04-04 15:00 UTC */
    mb_tz_local_to_utc(tz, utc_of(2026, 4, 5, 1, 45), &loc);
    CHECK(loc.count == 2 && loc.utc[0] == utc_of(2026, 4, 4, 14, 45) && loc.utc[1] == utc_of(2026, 4, 4, 15, 15),
          "Lord Howe 2026-04-05 01:45 happens twice, half an hour apart");
    mb_tz_free(tz);
}

static void refused_names(void)
{
    char err[256];
    const char *bad[] = { "", "/etc/passwd", "../../etc/passwd", "Europe/../UTC", "Europe/Nowhere",
                          "Europe", "zone.tab", "Europe/Berlin\n", "right/UTC", "Europe/Berlin ", "posixrules/x", NULL };
    for (int i = 0; bad[i]; i++) {
        struct mb_tz *tz = mb_tz_load(bad[i], err, sizeof err);
        CHECK(tz == NULL && strstr(err, "time zone \"") == err, "a bad zone name is refused: %s",
              tz ? "(loaded)" : err);
        mb_tz_free(tz);
    }
    struct mb_tz *tz = mb_tz_load("Etc/GMT+5", err, sizeof err);
    struct mb_tz_info info;
    if (tz)
        mb_tz_info_at(tz, 0, &info);
    CHECK(tz && info.utoff == -5 * HOUR, "Etc/GMT+5 is five hours west of UTC");
    mb_tz_free(tz);
}

static void calendar(void)
{
    int ok = 1;
    for (int64_t days = -800000; days < 800000; days += 7) {
        int64_t y;
        int m, d;
        mb_civil_from_days(days, &y, &m, &d);
        ok &= mb_days_from_civil(y, m, d) == days;
    }
    CHECK(ok, "civil dates and day numbers convert back and forth over 4000 years");
    CHECK(mb_days_from_civil(2000, 3, 1) - mb_days_from_civil(2000, 2, 28) == 2, "2000 is a leap year");
    CHECK(mb_days_from_civil(2100, 3, 1) - mb_days_from_civil(2100, 2, 28) == 1, "2100 is not");
    CHECK(mb_days_in_month(2028, 2) == 29 && mb_days_in_month(2026, 2) == 28 && mb_days_in_month(2026, 4) == 30,
          "days in February of leap and common years, and in April");
}

int main(void)
{
    calendar();
    for (size_t i = 0; i < sizeof zones / sizeof *zones; i++) {
        agrees_with_glibc(zones[i]);
        local_times_round_trip(zones[i]);
    }
    berlin_transitions();
    lord_howe_half_hour();
    refused_names();
    return check_done();
}
