/* test_cron.c — cron expressions: syntax, Vixie cron's day rule, the
 * calendar, refusals naming the field, and fire times across daylight
 * saving in Europe/Berlin and America/New_York as Debian cron runs them.
 * Every expected instant is written out in UTC. */
#include "check.h"

#include <stdio.h>
#include <string.h>

#include "cron.h"

static int64_t parse_iso(const char *iso)
{
    int y, mo, d, h, mi, s;
    if (sscanf(iso, "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &s) != 6)
        return 0;
    return mb_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static void format_iso(int64_t t, char *out, size_t size)
{
    int64_t days = t / 86400 - (t % 86400 < 0), y;
    int64_t secs = t - days * 86400;
    int mo, d;
    mb_civil_from_days(days, &y, &mo, &d);
    snprintf(out, size, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, mo, d, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60));
}

/* The next n fire times of expr in zone after after, space-separated. */
static const char *fire_times(const char *expr, const char *zone, const char *after, int n)
{
    static char out[1024];
    char err[256];
    struct mb_cron cron;
    if (mb_cron_parse(expr, &cron, err, sizeof err) != 0) {
        snprintf(out, sizeof out, "error: %s", err);
        return out;
    }
    struct mb_tz *tz = NULL;
    if (zone && !(tz = mb_tz_load(zone, err, sizeof err))) {
        snprintf(out, sizeof out, "error: %s", err);
        return out;
    }
    int64_t t = parse_iso(after);
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (mb_cron_next(&cron, tz, t, &t) != 0) {
            snprintf(out + len, sizeof out - len, "%snone", len ? " " : "");
            break;
        }
        char iso[32];
        format_iso(t, iso, sizeof iso);
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", len ? " " : "", iso);
    }
    mb_tz_free(tz);
    return out;
}

#define FIRES(expr, zone, after, n, expected)                                                        \
    do {                                                                                           \
        const char *got_ = fire_times(expr, zone, after, n);                                       \
        CHECK(strcmp(got_, expected) == 0, "\"%s\" in %s after %s fires at %s", expr,              \
              zone ? zone : "UTC", after, expected);                                               \
        if (strcmp(got_, expected) != 0)                                                           \
            printf("#   got %s\n", got_);                                                          \
    } while (0)

static void syntax(void)
{
    const char *jan1 = "2026-01-01T00:00:00Z"; /* a Thursday */
    FIRES("*/15 * * * *", NULL, jan1, 4,
          "2026-01-01T00:15:00Z 2026-01-01T00:30:00Z 2026-01-01T00:45:00Z 2026-01-01T01:00:00Z");
    FIRES("1-5/2,30 * * * *", NULL, jan1, 5,
          "2026-01-01T00:01:00Z 2026-01-01T00:03:00Z 2026-01-01T00:05:00Z 2026-01-01T00:30:00Z "
          "2026-01-01T01:01:00Z");
    FIRES("0 9-17/4 * * *", NULL, jan1, 4,
          "2026-01-01T09:00:00Z 2026-01-01T13:00:00Z 2026-01-01T17:00:00Z 2026-01-02T09:00:00Z");
    FIRES("0 0 1 jan,jul *", NULL, jan1, 2, "2026-07-01T00:00:00Z 2027-01-01T00:00:00Z");
    FIRES("0 0 1 JUN-Aug *", NULL, jan1, 3,
          "2026-06-01T00:00:00Z 2026-07-01T00:00:00Z 2026-08-01T00:00:00Z");
    FIRES("0 12 * * mon-fri", NULL, "2026-01-02T12:00:00Z", 2, "2026-01-05T12:00:00Z 2026-01-06T12:00:00Z");
    FIRES("0 0 * * 0", NULL, jan1, 2, "2026-01-04T00:00:00Z 2026-01-11T00:00:00Z");
    FIRES("0 0 * * 7", NULL, jan1, 2, "2026-01-04T00:00:00Z 2026-01-11T00:00:00Z");
    FIRES("0 0 * * Sun", NULL, jan1, 2, "2026-01-04T00:00:00Z 2026-01-11T00:00:00Z");
    FIRES("0 0 * * fri-sun", NULL, jan1, 4,
          "2026-01-02T00:00:00Z 2026-01-03T00:00:00Z 2026-01-04T00:00:00Z 2026-01-09T00:00:00Z");
    FIRES("0 0 * * 5-7", NULL, jan1, 3, "2026-01-02T00:00:00Z 2026-01-03T00:00:00Z 2026-01-04T00:00:00Z");
    FIRES("@hourly", NULL, "2026-01-01T00:30:00Z", 2, "2026-01-01T01:00:00Z 2026-01-01T02:00:00Z");
    FIRES("@daily", NULL, jan1, 1, "2026-01-02T00:00:00Z");
    FIRES("@midnight", NULL, jan1, 1, "2026-01-02T00:00:00Z");
    FIRES("@weekly", NULL, jan1, 2, "2026-01-04T00:00:00Z 2026-01-11T00:00:00Z");
    FIRES("@monthly", NULL, jan1, 2, "2026-02-01T00:00:00Z 2026-03-01T00:00:00Z");
    FIRES("@yearly", NULL, jan1, 1, "2027-01-01T00:00:00Z");
    FIRES("@annually", NULL, jan1, 1, "2027-01-01T00:00:00Z");
    FIRES("  0   0 * *\t*  ", NULL, jan1, 1, "2026-01-02T00:00:00Z");
    /* strictly after: a fire time equal to "after" is not the next one */
    FIRES("0 0 * * *", NULL, jan1, 1, "2026-01-02T00:00:00Z");
    FIRES("0 0 * * *", NULL, "2025-12-31T23:59:59Z", 1, "2026-01-01T00:00:00Z");
    FIRES("* * * * *", NULL, "2026-01-01T00:00:30Z", 2, "2026-01-01T00:01:00Z 2026-01-01T00:02:00Z");
}

static void vixie_day_rule(void)
{
    const char *jan1 = "2026-01-01T00:00:00Z";
    /* both restricted: the 13th, and every Friday */
    FIRES("0 0 13 * fri", NULL, jan1, 4,
          "2026-01-02T00:00:00Z 2026-01-09T00:00:00Z 2026-01-13T00:00:00Z 2026-01-16T00:00:00Z");
    /* only one restricted: that one alone */
    FIRES("0 0 13 * *", NULL, jan1, 2, "2026-01-13T00:00:00Z 2026-02-13T00:00:00Z");
    FIRES("0 0 * * fri", NULL, jan1, 2, "2026-01-02T00:00:00Z 2026-01-09T00:00:00Z");
    /* "*" with a step counts as unrestricted (as cronie): days 1,8,15,22,29 AND Mondays */
    FIRES("0 0 */7 * mon", NULL, jan1, 3, "2026-06-01T00:00:00Z 2026-06-08T00:00:00Z 2026-06-15T00:00:00Z");
    /* the 1st, when it is a Sunday, Tuesday, Thursday or Saturday */
    FIRES("0 0 1 * */2", NULL, jan1, 3,
          "2026-02-01T00:00:00Z 2026-03-01T00:00:00Z 2026-08-01T00:00:00Z");
}

static void calendar(void)
{
    FIRES("0 0 29 2 *", NULL, "2026-01-01T00:00:00Z", 3,
          "2028-02-29T00:00:00Z 2032-02-29T00:00:00Z 2036-02-29T00:00:00Z");
    FIRES("0 0 29 2 *", NULL, "2096-03-01T00:00:00Z", 1, "2104-02-29T00:00:00Z"); /* 2100 is no leap year */
    FIRES("0 0 29 feb *", "Europe/Berlin", "2026-01-01T00:00:00Z", 1, "2028-02-28T23:00:00Z");
    FIRES("0 0 31 * *", NULL, "2026-01-01T00:00:00Z", 7,
          "2026-01-31T00:00:00Z 2026-03-31T00:00:00Z 2026-05-31T00:00:00Z 2026-07-31T00:00:00Z "
          "2026-08-31T00:00:00Z 2026-10-31T00:00:00Z 2026-12-31T00:00:00Z");
    FIRES("0 0 30 * *", NULL, "2026-01-31T00:00:00Z", 2, "2026-03-30T00:00:00Z 2026-04-30T00:00:00Z");
    FIRES("0 0 30 2 mon", NULL, "2026-01-31T00:00:00Z", 1, "2026-02-02T00:00:00Z");
}

static void refused(const char *expr, const char *field, const char *why)
{
    char err[256] = "";
    struct mb_cron cron;
    int rc = mb_cron_parse(expr, &cron, err, sizeof err);
    CHECK(rc != 0 && strstr(err, field) && strstr(err, why), "\"%s\" is refused: %s", expr, err);
}

static void refusals(void)
{
    refused("*/0 * * * *", "minute field \"*/0\"", "step must be 1 or more");
    refused("5-1 * * * *", "minute field \"5-1\"", "runs backwards");
    refused("60 * * * *", "minute field \"60\"", "out of range (0-59)");
    refused("0 24 * * *", "hour field \"24\"", "out of range (0-23)");
    refused("0 0 0 * *", "day-of-month field \"0\"", "out of range (1-31)");
    refused("0 0 32 * *", "day-of-month field \"32\"", "out of range (1-31)");
    refused("0 0 * 13 *", "month field \"13\"", "out of range (1-12)");
    refused("0 0 * 0 *", "month field \"0\"", "out of range (1-12)");
    refused("0 0 * * 8", "day-of-week field \"8\"", "out of range (0-7)");
    refused("0 0 * foo *", "month field \"foo\"", "unknown name \"foo\" (expected jan-dec)");
    refused("0 0 * * funday", "day-of-week field \"funday\"", "unknown name \"funday\" (expected sun-sat)");
    refused("0 0 * * 1/2", "day-of-week field \"1/2\"", "a step needs a range or *");
    refused("1,,2 * * * *", "minute field \"1,,2\"", "empty item");
    refused("1- * * * *", "minute field \"1-\"", "expected a number");
    refused("*/x * * * *", "minute field \"*/x\"", "expected a step");
    refused("0 0 30 2 *", "day-of-month field \"30\"", "can never fire");
    refused("0 0 31 4,6,9,11 *", "day-of-month field \"31\"", "can never fire");
    refused("foo bar baz qux quux", "minute field \"foo\"", "expected a number, got \"foo\"");
    refused("99 99 99 99 99", "minute field \"99\"", "out of range");
    refused("0 99 * * *", "hour field \"99\"", "out of range");
    refused("* * * *", "expected 5 fields", "got \"* * * *\"");
    refused("* * * * * *", "expected 5 fields", "");
    refused("", "expected 5 fields", "");
    refused("@reboot", "unknown schedule \"@reboot\"", "@hourly");
    refused("@daily 5", "expected 5 fields", "");
}

/* Europe/Berlin 2026: 02:00 CET becomes 03:00 CEST on March 29 at 01:00 UTC;
 * 03:00 CEST becomes 02:00 CET on October 25 at 01:00 UTC. */
static void berlin(void)
{
    const char *z = "Europe/Berlin";
    /* fixed time in the gap: at the jump, never lost */
    FIRES("30 2 * * *", z, "2026-03-27T12:00:00Z", 3,
          "2026-03-28T01:30:00Z 2026-03-29T01:00:00Z 2026-03-30T00:30:00Z");
    FIRES("0 2 * * *", z, "2026-03-28T12:00:00Z", 2, "2026-03-29T01:00:00Z 2026-03-30T00:00:00Z");
    FIRES("0,30 2 * * *", z, "2026-03-28T12:00:00Z", 2, "2026-03-29T01:00:00Z 2026-03-30T00:00:00Z");
    FIRES("0 3 * * *", z, "2026-03-27T12:00:00Z", 3,
          "2026-03-28T02:00:00Z 2026-03-29T01:00:00Z 2026-03-30T01:00:00Z");
    FIRES("30 2 * * *", z, "2026-03-29T01:00:00Z", 1, "2026-03-30T00:30:00Z");
    /* wildcard hour: the wall clock, the missing hour is not run */
    FIRES("0 * * * *", z, "2026-03-28T23:00:00Z", 3,
          "2026-03-29T00:00:00Z 2026-03-29T01:00:00Z 2026-03-29T02:00:00Z");
    FIRES("*/30 * * * *", z, "2026-03-28T23:45:00Z", 4,
          "2026-03-29T00:00:00Z 2026-03-29T00:30:00Z 2026-03-29T01:00:00Z 2026-03-29T01:30:00Z");
    FIRES("15 2 * * *", z, "2026-10-23T12:00:00Z", 3,
          "2026-10-24T00:15:00Z 2026-10-25T00:15:00Z 2026-10-26T01:15:00Z");
    /* fixed time repeated: once, at the first occurrence */
    FIRES("30 2 * * *", z, "2026-10-23T12:00:00Z", 3,
          "2026-10-24T00:30:00Z 2026-10-25T00:30:00Z 2026-10-26T01:30:00Z");
    FIRES("30 2 * * *", z, "2026-10-25T00:30:00Z", 1, "2026-10-26T01:30:00Z");
    FIRES("0 3 * * *", z, "2026-10-24T12:00:00Z", 2, "2026-10-25T02:00:00Z 2026-10-26T02:00:00Z");
    /* wildcard hour: both occurrences of the repeated hour */
    FIRES("0 * * * *", z, "2026-10-24T23:30:00Z", 3,
          "2026-10-25T00:00:00Z 2026-10-25T01:00:00Z 2026-10-25T02:00:00Z");
    FIRES("*/30 * * * *", z, "2026-10-24T23:45:00Z", 5,
          "2026-10-25T00:00:00Z 2026-10-25T00:30:00Z 2026-10-25T01:00:00Z 2026-10-25T01:30:00Z "
          "2026-10-25T02:00:00Z");
    FIRES("* 2 * * *", z, "2026-10-25T00:58:00Z", 3,
          "2026-10-25T00:59:00Z 2026-10-25T01:00:00Z 2026-10-25T01:01:00Z");
}

/* America/New_York 2026: 02:00 EST becomes 03:00 EDT on March 8 at 07:00 UTC;
 * 02:00 EDT becomes 01:00 EST on November 1 at 06:00 UTC. */
static void new_york(void)
{
    const char *z = "America/New_York";
    FIRES("30 2 * * *", z, "2026-03-06T12:00:00Z", 3,
          "2026-03-07T07:30:00Z 2026-03-08T07:00:00Z 2026-03-09T06:30:00Z");
    FIRES("0 * * * *", z, "2026-03-08T05:30:00Z", 3,
          "2026-03-08T06:00:00Z 2026-03-08T07:00:00Z 2026-03-08T08:00:00Z");
    FIRES("*/30 * * * *", z, "2026-03-08T06:15:00Z", 3,
          "2026-03-08T06:30:00Z 2026-03-08T07:00:00Z 2026-03-08T07:30:00Z");
    FIRES("30 1 * * *", z, "2026-10-30T12:00:00Z", 3,
          "2026-10-31T05:30:00Z 2026-11-01T05:30:00Z 2026-11-02T06:30:00Z");
    FIRES("0 * * * *", z, "2026-11-01T04:30:00Z", 3,
          "2026-11-01T05:00:00Z 2026-11-01T06:00:00Z 2026-11-01T07:00:00Z");
    FIRES("*/30 * * * *", z, "2026-11-01T04:45:00Z", 5,
          "2026-11-01T05:00:00Z 2026-11-01T05:30:00Z 2026-11-01T06:00:00Z 2026-11-01T06:30:00Z "
          "2026-11-01T07:00:00Z");
    FIRES("0 2 * * *", z, "2026-10-31T12:00:00Z", 2, "2026-11-01T07:00:00Z 2026-11-02T07:00:00Z");
}

static void other_zones(void)
{
    /* Lord Howe: 02:00 +1030 becomes 02:30 +11 on 2026-10-04 at 15:30 UTC */
    FIRES("15 2 * * *", "Australia/Lord_Howe", "2026-10-02T12:00:00Z", 3,
          "2026-10-02T15:45:00Z 2026-10-03T15:30:00Z 2026-10-04T15:15:00Z");
    FIRES("0 0 * * *", "Asia/Kathmandu", "2026-01-01T00:00:00Z", 1, "2026-01-01T18:15:00Z");
    FIRES("0 0 * * *", "UTC", "2026-01-01T00:00:00Z", 1, "2026-01-02T00:00:00Z");
}

/* Fire times strictly increase, whatever the zone and expression. */
static void always_forward(void)
{
    const char *exprs[] = { "30 2 * * *", "0 * * * *", "*/7 1-3 * * *", "0 0 1,15 * sun", NULL };
    const char *zones[] = { "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago", NULL };
    int ok = 1;
    for (int e = 0; exprs[e]; e++) {
        struct mb_cron cron;
        char err[256];
        mb_cron_parse(exprs[e], &cron, err, sizeof err);
        for (int z = 0; zones[z]; z++) {
            struct mb_tz *tz = mb_tz_load(zones[z], err, sizeof err);
            int64_t t = parse_iso("2026-01-01T00:00:00Z"), next;
            for (int i = 0; i < 3000 && ok; i++, t = next)
                ok = mb_cron_next(&cron, tz, t, &next) == 0 && next > t;
            mb_tz_free(tz);
        }
    }
    CHECK(ok, "successive fire times strictly increase in every zone");
}

/* A wildcard job fires at exactly the real minutes whose wall-clock time
 * matches (each once); a daily fixed-time job fires once every local day. */
static void whole_year(void)
{
    const char *zones[] = { "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago", NULL };
    const char *wild[] = { "0 * * * *", "*/30 * * * *", "* 2 * * *", NULL };
    int64_t from = parse_iso("2026-01-01T00:00:00Z"), to = parse_iso("2027-01-01T00:00:00Z");
    char err[256];
    for (int z = 0; zones[z]; z++) {
        struct mb_tz *tz = mb_tz_load(zones[z], err, sizeof err);
        for (int e = 0; wild[e]; e++) {
            struct mb_cron cron;
            mb_cron_parse(wild[e], &cron, err, sizeof err);
            int64_t fire = from, mismatches = 0;
            mb_cron_next(&cron, tz, from, &fire);
            for (int64_t u = from + 60; u < to; u += 60) {
                struct mb_tz_info info;
                mb_tz_info_at(tz, u, &info);
                int64_t local = u + info.utoff, minute = local / 60 % 60, hour = local / 3600 % 24;
                int matches = (cron.minutes >> minute & 1) && (cron.hours >> hour & 1);
                if (matches != (u == fire))
                    mismatches++;
                if (u == fire)
                    mb_cron_next(&cron, tz, fire, &fire);
            }
            CHECK(mismatches == 0, "\"%s\" in %s fires at every real minute of 2026 whose wall-clock time matches, "
                  "and only there", wild[e], zones[z]);
        }
        for (int h = 0; h < 4; h++) {
            char expr[32];
            snprintf(expr, sizeof expr, "30 %d * * *", h);
            struct mb_cron cron;
            mb_cron_parse(expr, &cron, err, sizeof err);
            int count = 0;
            for (int64_t t = from; mb_cron_next(&cron, tz, t, &t) == 0 && t < to;)
                count++;
            CHECK(count == 365, "\"%s\" in %s fires once a day, 365 times in 2026 (got %d)", expr, zones[z], count);
        }
        mb_tz_free(tz);
    }
}

int main(void)
{
    syntax();
    vixie_day_rule();
    calendar();
    refusals();
    berlin();
    new_york();
    other_zones();
    always_forward();
    whole_year();
    return check_done();
}
