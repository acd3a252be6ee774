/* cron.c — parsing cron expressions and finding their fire times. */
#include "cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MINUTE 60
#define DAY 86400
#define SEARCH_DAYS (400 * 366) /* the Gregorian calendar repeats every 400 years */

struct field_spec {
    const char *name;
    int low, high;
    const char *const *names; /* names[i] is value low + i; NULL: numbers only */
};

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun",
                                           "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const weekday_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };

enum { F_MINUTE, F_HOUR, F_DAY, F_MONTH, F_WEEKDAY, F_COUNT };

static const struct field_spec fields[F_COUNT] = {
    { "minute", 0, 59, NULL },
    { "hour", 0, 23, NULL },
    { "day-of-month", 1, 31, NULL },
    { "month", 1, 12, month_names },
    { "day-of-week", 0, 7, weekday_names },
};

struct parser {
    const struct field_spec *spec;
    const char *text; /* the field, for messages */
    char *err;
    size_t errlen;
};

static int fail(struct parser *p, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s field \"%s\": %s", p->spec->name, p->text, what);
    return -1;
}

/* A number or a name at *s; advances *s. */
static int parse_value(struct parser *p, const char **s, int *value)
{
    const char *q = *s;
    if (*q >= '0' && *q <= '9') {
        long v = 0;
        for (; *q >= '0' && *q <= '9'; q++)
            if (v < 100000)
                v = v * 10 + (*q - '0');
        if (v < p->spec->low || v > p->spec->high)
            return fail(p, "%ld is out of range (%d-%d)", v, p->spec->low, p->spec->high);
        *value = (int)v;
        *s = q;
        return 0;
    }
    size_t n = 0;
    while ((q[n] >= 'a' && q[n] <= 'z') || (q[n] >= 'A' && q[n] <= 'Z'))
        n++;
    if (n == 0)
        return fail(p, "expected a number%s at \"%s\"", p->spec->names ? " or a name" : "", q);
    for (int i = 0; p->spec->names && p->spec->names[i]; i++) {
        if (n == 3 && strncasecmp(q, p->spec->names[i], 3) == 0) {
            *value = p->spec->low + i;
            *s = q + n;
            return 0;
        }
    }
    if (!p->spec->names)
        return fail(p, "expected a number, got \"%.*s\"", (int)n, q);
    return fail(p, "unknown name \"%.*s\" (expected %s)", (int)n, q,
                p->spec->names == month_names ? "jan-dec" : "sun-sat");
}

static int parse_step(struct parser *p, const char **s, int *step)
{
    const char *q = *s;
    if (*q < '0' || *q > '9')
        return fail(p, "expected a step (a number) after \"/\"");
    long v = 0;
    for (; *q >= '0' && *q <= '9'; q++)
        if (v < 100000)
            v = v * 10 + (*q - '0');
    if (v == 0)
        return fail(p, "a step must be 1 or more, got 0");
    *step = v > 1000 ? 1000 : (int)v;
    *s = q;
    return 0;
}

/* One item of a list: *, * / S, N, N-M, N-M/S; sets its bits. */
static int parse_item(struct parser *p, const char **s, uint64_t *bits)
{
    int low, high, step = 1;
    if (**s == '*') {
        low = p->spec->low;
        high = p->spec->high;
        (*s)++;
    } else {
        if (parse_value(p, s, &low) != 0)
            return -1;
        high = low;
        if (**s == '-') {
            (*s)++;
            if (parse_value(p, s, &high) != 0)
                return -1;
            if (p->spec == &fields[F_WEEKDAY] && high == 0 && low > 0)
                high = 7; /* fri-sun: Sunday as 7, as cronie reads it */
            if (low > high)
                return fail(p, "the range %d-%d runs backwards", low, high);
        } else if (**s == '/') {
            return fail(p, "a step needs a range or *: write %d-%d/STEP", low, p->spec->high);
        }
    }
    if (**s == '/') {
        (*s)++;
        if (parse_step(p, s, &step) != 0)
            return -1;
    }
    for (int v = low; v <= high; v += step)
        *bits |= (uint64_t)1 << v;
    return 0;
}

static int parse_field(struct parser *p, const char *text, uint64_t *bits)
{
    const char *s = text;
    *bits = 0;
    for (;;) {
        if (*s == ',' || *s == '\0')
            return fail(p, "an empty item in the list");
        if (parse_item(p, &s, bits) != 0)
            return -1;
        if (*s == '\0')
            return 0;
        if (*s != ',')
            return fail(p, "unexpected \"%c\"", *s);
        s++;
    }
}

static const struct {
    const char *name, *expr;
} shortcuts[] = {
    { "@hourly", "0 * * * *" },   { "@daily", "0 0 * * *" },   { "@midnight", "0 0 * * *" },
    { "@weekly", "0 0 * * 0" },   { "@monthly", "0 0 1 * *" }, { "@yearly", "0 0 1 1 *" },
    { "@annually", "0 0 1 1 *" },
};

/* Whether some day in days occurs in some month of months (Feb 29 too). */
static int day_occurs(const struct mb_cron *c)
{
    for (int m = 1; m <= 12; m++) {
        if (!(c->months >> m & 1))
            continue;
        for (int d = 1; d <= mb_days_in_month(2000, m); d++)
            if (c->days >> d & 1)
                return 1;
    }
    return 0;
}

static void printable_copy(char *out, size_t size, const char *in)
{
    size_t n = 0;
    for (; *in && n + 1 < size; in++)
        out[n++] = (*in < 0x20 || *in == 0x7f) ? '?' : *in;
    out[n] = '\0';
}

int mb_cron_parse(const char *expr, struct mb_cron *cron, char *err, size_t errlen)
{
    char shown[MB_CRON_EXPR_MAX + 1];
    printable_copy(shown, sizeof shown, expr);
    memset(cron, 0, sizeof *cron);
    if (strlen(expr) > MB_CRON_EXPR_MAX) {
        snprintf(err, errlen, "cron expression is longer than %d characters", MB_CRON_EXPR_MAX);
        return -1;
    }
    char buf[MB_CRON_EXPR_MAX + 1];
    snprintf(buf, sizeof buf, "%s", expr);
    char *words[F_COUNT + 1];
    int n = 0;
    for (char *save, *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
        if (n <= F_COUNT)
            words[n++] = w;
    if (n == 1 && words[0][0] == '@') {
        for (size_t i = 0; i < sizeof shortcuts / sizeof *shortcuts; i++)
            if (strcmp(words[0], shortcuts[i].name) == 0)
                return mb_cron_parse(shortcuts[i].expr, cron, err, errlen);
        snprintf(err, errlen, "unknown schedule \"%s\" (expected 5 fields, or @hourly, @daily, @midnight, "
                 "@weekly, @monthly, @yearly or @annually)", shown);
        return -1;
    }
    if (n != F_COUNT) {
        snprintf(err, errlen, "expected 5 fields (minute hour day-of-month month day-of-week) or "
                 "@hourly/@daily/@weekly/@monthly/@yearly, got \"%s\"", shown);
        return -1;
    }
    uint64_t bits[F_COUNT];
    for (int i = 0; i < F_COUNT; i++) {
        char text[MB_CRON_EXPR_MAX + 1];
        printable_copy(text, sizeof text, words[i]);
        struct parser p = { &fields[i], text, err, errlen };
        if (parse_field(&p, words[i], &bits[i]) != 0)
            return -1;
    }
    cron->minutes = bits[F_MINUTE];
    cron->hours = (uint32_t)bits[F_HOUR];
    cron->days = (uint32_t)bits[F_DAY];
    cron->months = (uint16_t)bits[F_MONTH];
    cron->weekdays = (uint8_t)((bits[F_WEEKDAY] | bits[F_WEEKDAY] >> 7) & 0x7f); /* 7 is Sunday */
    cron->days_star = words[F_DAY][0] == '*';
    cron->weekdays_star = words[F_WEEKDAY][0] == '*';
    cron->fixed_time = words[F_MINUTE][0] != '*' && words[F_HOUR][0] != '*';
    /* With a day of week in the game ("either", or "*" and a weekday) some
     * day always comes; with days of month alone, they must exist. */
    if ((cron->weekdays_star || cron->days_star) && !day_occurs(cron)) {
        char days[MB_CRON_EXPR_MAX + 1], months[MB_CRON_EXPR_MAX + 1];
        printable_copy(days, sizeof days, words[F_DAY]);
        printable_copy(months, sizeof months, words[F_MONTH]);
        snprintf(err, errlen, "day-of-month field \"%s\": no such day in month field \"%s\", so \"%s\" "
                 "can never fire", days, months, shown);
        return -1;
    }
    return 0;
}

static int day_matches(const struct mb_cron *c, int day, int weekday)
{
    int by_day = c->days >> day & 1, by_weekday = c->weekdays >> weekday & 1;
    if (c->days_star || c->weekdays_star)
        return by_day && by_weekday;
    return by_day || by_weekday; /* both restricted: either (Vixie cron) */
}

/* The first matching minute of the day at or after hour:minute, or -1. */
static int first_time_of_day(const struct mb_cron *c, int hour, int minute)
{
    for (; hour < 24; hour++, minute = 0) {
        if (!(c->hours >> hour & 1))
            continue;
        for (; minute < 60; minute++)
            if (c->minutes >> minute & 1)
                return hour * 60 + minute;
    }
    return -1;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int mb_cron_next_local(const struct mb_cron *c, int64_t after_local, int64_t *next_local)
{
    int64_t start = floor_div(after_local, MINUTE) * MINUTE + MINUTE;
    int64_t day = floor_div(start, DAY);
    int minute_of_day = (int)((start - day * DAY) / MINUTE);
    for (int i = 0; i < SEARCH_DAYS; i++, day++, minute_of_day = 0) {
        int64_t year;
        int month, mday;
        mb_civil_from_days(day, &year, &month, &mday);
        int weekday = (int)((day % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
        if (!(c->months >> month & 1) || !day_matches(c, mday, weekday))
            continue;
        int t = first_time_of_day(c, minute_of_day / 60, minute_of_day % 60);
        if (t >= 0) {
            *next_local = day * DAY + (int64_t)t * MINUTE;
            return 0;
        }
    }
    return -1;
}

/* Considers the instants of local time local; keeps the earliest after after. */
static void consider(const struct mb_cron *c, const struct mb_tz *tz, int64_t local, int64_t after,
                     int64_t *best)
{
    struct mb_tz_local at;
    mb_tz_local_to_utc(tz, local, &at);
    int64_t candidates[2];
    int n = 0;
    if (at.count == 0 && c->fixed_time)
        candidates[n++] = at.transition; /* skipped: at the jump */
    for (int i = 0; i < at.count && i < (c->fixed_time ? 1 : 2); i++)
        candidates[n++] = at.utc[i]; /* repeated: a fixed time only at the first */
    for (int i = 0; i < n; i++)
        if (candidates[i] > after && candidates[i] < *best)
            *best = candidates[i];
}

/* Instants of local time L lie in [L - max offset, L - min offset] (the jump
 * that skipped L too), so the local times from after + min offset on are
 * tried in order until they can only give later instants than the best. */
int mb_cron_next(const struct mb_cron *c, const struct mb_tz *tz, int64_t after, int64_t *next)
{
    if (!tz) {
        return mb_cron_next_local(c, after, next);
    }
    int32_t min_off, max_off;
    mb_tz_offset_range(tz, &min_off, &max_off);
    int64_t best = INT64_MAX, local = after + min_off;
    int64_t give_up = after + (int64_t)SEARCH_DAYS * DAY;
    while (mb_cron_next_local(c, local, &local) == 0 && local - max_off <= best) {
        if (local - max_off > give_up)
            return -1;
        consider(c, tz, local, after, &best);
    }
    if (best == INT64_MAX)
        return -1;
    *next = best;
    return 0;
}
