/* tz.c — zones from the system's TZif files (RFC 8536): the version 2+
 * 64-bit data (the version 1 block when there is no other) and the POSIX
 * TZ string of the footer for the instants after the last transition. */
#include "tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZ_NAME_MAX 255
#define TZ_FILE_MAX (1024 * 1024) /* the largest real TZif file is a few KiB */

struct tz_type {
    int32_t utoff;
    int isdst;
    char abbr[MB_TZ_ABBR_MAX];
};

/* One date of a POSIX TZ rule: Jn (1-365, no Feb 29), n (0-365), Mm.w.d. */
struct posix_date {
    char kind; /* 'J', 'N' or 'M' */
    int month, week, day;
    int32_t time; /* local seconds after midnight, may be negative or > 24 h */
};

struct posix_tz {
    struct tz_type std, dst;
    int has_dst;
    struct posix_date start, end;
};

struct mb_tz {
    char name[TZ_NAME_MAX + 1];
    int64_t *times;  /* transitions, ascending */
    uint8_t *types_at; /* type index after each transition */
    size_t count;
    struct tz_type *types;
    size_t ntypes;
    int has_footer;
    struct posix_tz footer;
    int32_t min_off, max_off;
};

/* ---- calendar ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int mb_days_in_month(int64_t year, int month)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

/* Days since 1970-01-01, counted in 400-year eras of 146097 days. */
int64_t mb_days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = floor_div(year, 400);
    int64_t yoe = year - era * 400;
    int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void mb_civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    days += 719468;
    int64_t era = floor_div(days, 146097);
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (*month <= 2);
}

/* ---- POSIX TZ strings (the footer) ---- */

static const char *parse_abbr(const char *p, char *out)
{
    const char *begin = p, *end;
    if (*p == '<') {
        begin = ++p;
        while (*p && *p != '>')
            p++;
        if (*p != '>')
            return NULL;
        end = p++;
    } else {
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
            p++;
        end = p;
    }
    if (end - begin < 3 || end - begin >= MB_TZ_ABBR_MAX)
        return NULL;
    memcpy(out, begin, (size_t)(end - begin));
    out[end - begin] = '\0';
    return p;
}

/* [+-]hh[:mm[:ss]] with hh up to max_hours; seconds in *out. */
static const char *parse_hms(const char *p, int max_hours, int32_t *out)
{
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    int32_t parts[3] = { 0, 0, 0 };
    for (int i = 0; i < 3; i++) {
        if (i > 0 && *p != ':')
            break;
        if (i > 0)
            p++;
        if (*p < '0' || *p > '9')
            return NULL;
        int32_t v = 0;
        for (int digits = 0; *p >= '0' && *p <= '9'; p++, digits++) {
            if (digits >= 3)
                return NULL;
            v = v * 10 + (*p - '0');
        }
        if ((i == 0 && v > max_hours) || (i > 0 && v > 59))
            return NULL;
        parts[i] = v;
    }
    *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
    return p;
}

static const char *parse_number(const char *p, int min, int max, int *out)
{
    if (*p < '0' || *p > '9')
        return NULL;
    int v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > max)
            return NULL;
    }
    if (v < min)
        return NULL;
    *out = v;
    return p;
}

static const char *parse_date(const char *p, struct posix_date *d)
{
    d->time = 2 * 3600;
    if (*p == 'J') {
        d->kind = 'J';
        p = parse_number(p + 1, 1, 365, &d->day);
    } else if (*p == 'M') {
        d->kind = 'M';
        p = parse_number(p + 1, 1, 12, &d->month);
        if (p && *p == '.')
            p = parse_number(p + 1, 1, 5, &d->week);
        else
            p = NULL;
        if (p && *p == '.')
            p = parse_number(p + 1, 0, 6, &d->day);
        else
            p = NULL;
    } else {
        d->kind = 'N';
        p = parse_number(p, 0, 365, &d->day);
    }
    if (p && *p == '/')
        p = parse_hms(p + 1, 167, &d->time); /* RFC 8536 3.3.1: -167 to 167 hours */
    return p;
}

static int parse_posix_tz(const char *s, struct posix_tz *tz)
{
    int32_t off;
    memset(tz, 0, sizeof *tz);
    const char *p = parse_abbr(s, tz->std.abbr);
    if (!p || !(p = parse_hms(p, 24, &off)))
        return -1;
    tz->std.utoff = -off; /* POSIX offsets count west of Greenwich */
    if (*p == '\0')
        return 0;
    if (!(p = parse_abbr(p, tz->dst.abbr)))
        return -1;
    tz->has_dst = 1;
    tz->dst.isdst = 1;
    tz->dst.utoff = tz->std.utoff + 3600;
    if (*p && *p != ',') {
        if (!(p = parse_hms(p, 24, &off)))
            return -1;
        tz->dst.utoff = -off;
    }
    if (*p == '\0') { /* no rule: the US rules, as tzcode's default */
        tz->start = (struct posix_date){ 'M', 3, 2, 0, 7200 };
        tz->end = (struct posix_date){ 'M', 11, 1, 0, 7200 };
        return 0;
    }
    if (*p != ',' || !(p = parse_date(p + 1, &tz->start)) || *p != ',' ||
        !(p = parse_date(p + 1, &tz->end)))
        return -1;
    return *p == '\0' ? 0 : -1;
}

/* Local seconds of rule date d in year. */
static int64_t posix_date_local(const struct posix_date *d, int64_t year)
{
    int64_t days = mb_days_from_civil(year, 1, 1);
    if (d->kind == 'J')
        days += d->day - 1 + (is_leap(year) && d->day >= 60);
    else if (d->kind == 'N')
        days += d->day;
    else {
        int64_t first = mb_days_from_civil(year, d->month, 1);
        int wday_first = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
        int mday = 1 + (d->day - wday_first + 7) % 7 + 7 * (d->week - 1);
        while (mday > mb_days_in_month(year, d->month))
            mday -= 7;
        days = first + mday - 1;
    }
    return days * 86400 + d->time;
}

static void posix_transitions(const struct posix_tz *tz, int64_t year, int64_t *start, int64_t *end)
{
    *start = posix_date_local(&tz->start, year) - tz->std.utoff;
    *end = posix_date_local(&tz->end, year) - tz->dst.utoff;
}

static int64_t year_of(int64_t local)
{
    int64_t y;
    int m, d;
    mb_civil_from_days(floor_div(local, 86400), &y, &m, &d);
    return y;
}

static const struct tz_type *posix_type_at(const struct posix_tz *tz, int64_t utc)
{
    if (!tz->has_dst)
        return &tz->std;
    int64_t start, end;
    posix_transitions(tz, year_of(utc + tz->std.utoff), &start, &end);
    int dst = start < end ? (utc >= start && utc < end) : !(utc >= end && utc < start);
    return dst ? &tz->dst : &tz->std;
}

static int64_t posix_next_transition(const struct posix_tz *tz, int64_t utc)
{
    int64_t best = INT64_MAX;
    if (!tz->has_dst)
        return best;
    int64_t year = year_of(utc + tz->std.utoff);
    for (int64_t y = year - 1; y <= year + 1; y++) {
        int64_t start, end;
        posix_transitions(tz, y, &start, &end);
        if (start > utc && start < best)
            best = start;
        if (end > utc && end < best)
            best = end;
    }
    return best;
}

/* ---- the zone ---- */

static const struct tz_type *type_at(const struct mb_tz *tz, int64_t utc)
{
    if (tz->count == 0)
        return tz->has_footer ? posix_type_at(&tz->footer, utc) : &tz->types[0];
    if (utc < tz->times[0])
        return &tz->types[0];
    if (utc >= tz->times[tz->count - 1] && tz->has_footer)
        return posix_type_at(&tz->footer, utc);
    size_t lo = 0, hi = tz->count; /* the last transition <= utc */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->times[mid] <= utc)
            lo = mid;
        else
            hi = mid;
    }
    return &tz->types[tz->types_at[lo]];
}

/* The first instant after utc at which the type may change. */
static int64_t next_transition(const struct mb_tz *tz, int64_t utc)
{
    if (tz->count > 0 && utc < tz->times[tz->count - 1]) {
        size_t lo = 0, hi = tz->count - 1; /* the first transition > utc */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (tz->times[mid] > utc)
                hi = mid;
            else
                lo = mid + 1;
        }
        return tz->times[lo];
    }
    return tz->has_footer ? posix_next_transition(&tz->footer, utc) : INT64_MAX;
}

void mb_tz_info_at(const struct mb_tz *tz, int64_t utc, struct mb_tz_info *out)
{
    const struct tz_type *t = type_at(tz, utc);
    out->utoff = t->utoff;
    out->isdst = t->isdst;
    memcpy(out->abbr, t->abbr, sizeof out->abbr);
}

void mb_tz_offset_range(const struct mb_tz *tz, int32_t *min, int32_t *max)
{
    *min = tz->min_off;
    *max = tz->max_off;
}

const char *mb_tz_name(const struct mb_tz *tz)
{
    return tz->name;
}

/* Walks the spans of constant offset that instants of local could fall in. */
void mb_tz_local_to_utc(const struct mb_tz *tz, int64_t local, struct mb_tz_local *out)
{
    memset(out, 0, sizeof *out);
    int64_t first = local - tz->max_off, last = local - tz->min_off;
    int64_t span_start = first;
    int32_t off = type_at(tz, span_start)->utoff;
    for (;;) {
        int64_t span_end = next_transition(tz, span_start);
        int64_t utc = local - off;
        if (utc >= span_start && utc < span_end && out->count < 2)
            out->utc[out->count++] = utc;
        if (span_end > last)
            break;
        int32_t next_off = type_at(tz, span_end)->utoff;
        if (span_end + off <= local && local < span_end + next_off)
            out->transition = span_end;
        span_start = span_end;
        off = next_off;
    }
}

/* ---- loading ---- */

static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || strstr(name, ".."))
        return 0;
    for (const char *p = name; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              strchr("/_+-.", *p)))
            return 0;
    }
    return 1;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_header {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int read_header(const unsigned char *p, size_t len, struct tzif_header *h)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return -1;
    h->version = (char)p[4];
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0 || h->timecnt > 100000 ||
        h->charcnt > 65536 || h->leapcnt > 100000 || (h->isutcnt && h->isutcnt != h->typecnt) ||
        (h->isstdcnt && h->isstdcnt != h->typecnt))
        return -1;
    return 0;
}

static size_t block_size(const struct tzif_header *h, size_t time_size)
{
    return (size_t)h->timecnt * time_size + h->timecnt + (size_t)h->typecnt * 6 + h->charcnt +
           (size_t)h->leapcnt * (time_size + 4) + h->isstdcnt + h->isutcnt;
}

/* Fills tz from the data block at p (times of time_size bytes). */
static const char *read_block(struct mb_tz *tz, const struct tzif_header *h, const unsigned char *p,
                              size_t time_size)
{
    if (h->leapcnt)
        return "it counts leap seconds (a \"right/\" zone), which cron times do not";
    tz->count = h->timecnt;
    tz->ntypes = h->typecnt;
    tz->times = calloc(h->timecnt + 1, sizeof *tz->times);
    tz->types_at = calloc(h->timecnt + 1, 1);
    tz->types = calloc(h->typecnt, sizeof *tz->types);
    if (!tz->times || !tz->types_at || !tz->types)
        return "out of memory";
    for (size_t i = 0; i < h->timecnt; i++, p += time_size) {
        tz->times[i] = time_size == 8 ? be64(p) : (int32_t)be32(p);
        if (i > 0 && tz->times[i] <= tz->times[i - 1])
            return "its transitions are not in order";
    }
    for (size_t i = 0; i < h->timecnt; i++, p++) {
        if (*p >= h->typecnt)
            return "a transition names a missing type";
        tz->types_at[i] = *p;
    }
    const unsigned char *chars = p + (size_t)h->typecnt * 6;
    for (size_t i = 0; i < h->typecnt; i++, p += 6) {
        struct tz_type *t = &tz->types[i];
        t->utoff = (int32_t)be32(p);
        t->isdst = p[4] != 0;
        if (p[5] >= h->charcnt || t->utoff < -25 * 3600 || t->utoff > 26 * 3600)
            return "a type is out of range";
        const char *abbr = (const char *)chars + p[5];
        size_t n = strnlen(abbr, h->charcnt - p[5]);
        if (n >= MB_TZ_ABBR_MAX)
            n = MB_TZ_ABBR_MAX - 1;
        memcpy(t->abbr, abbr, n);
    }
    return NULL;
}

static const char *read_footer(struct mb_tz *tz, const unsigned char *p, const unsigned char *end)
{
    if (p >= end || *p != '\n')
        return "its footer is missing";
    const unsigned char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
    if (!nl)
        return "its footer is not terminated";
    if (nl == p + 1)
        return NULL; /* empty: no rule after the last transition */
    char text[128];
    size_t n = (size_t)(nl - p - 1);
    if (n >= sizeof text)
        return "its footer is too long";
    memcpy(text, p + 1, n);
    text[n] = '\0';
    if (parse_posix_tz(text, &tz->footer) != 0)
        return "its footer is not a POSIX TZ string this reader understands";
    tz->has_footer = 1;
    return NULL;
}

static const char *parse_tzif(struct mb_tz *tz, const unsigned char *data, size_t len)
{
    struct tzif_header h;
    if (read_header(data, len, &h) != 0)
        return "not a TZif file";
    if (h.version == '\0') {
        if (44 + block_size(&h, 4) > len)
            return "not a TZif file (truncated)";
        return read_block(tz, &h, data + 44, 4);
    }
    size_t v2 = 44 + block_size(&h, 4);
    if (v2 > len || read_header(data + v2, len - v2, &h) != 0)
        return "not a TZif file (truncated)";
    size_t footer = v2 + 44 + block_size(&h, 8);
    if (footer > len)
        return "not a TZif file (truncated)";
    const char *problem = read_block(tz, &h, data + v2 + 44, 8);
    return problem ? problem : read_footer(tz, data + footer, data + len);
}

static void widen_offset_range(struct mb_tz *tz, int32_t utoff)
{
    if (utoff < tz->min_off)
        tz->min_off = utoff;
    if (utoff > tz->max_off)
        tz->max_off = utoff;
}

static void compute_offset_range(struct mb_tz *tz)
{
    tz->min_off = tz->max_off = tz->types[0].utoff;
    for (size_t i = 1; i < tz->ntypes; i++)
        widen_offset_range(tz, tz->types[i].utoff);
    if (tz->has_footer)
        widen_offset_range(tz, tz->footer.std.utoff);
    if (tz->has_footer && tz->footer.has_dst)
        widen_offset_range(tz, tz->footer.dst.utoff);
}

static unsigned char *read_zone_file(const char *path, size_t *len, int *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        *err = errno;
        return NULL;
    }
    struct stat st;
    unsigned char *data = NULL;
    *err = 0;
    if (fstat(fd, &st) != 0)
        *err = errno;
    else if (!S_ISREG(st.st_mode) || st.st_size > TZ_FILE_MAX)
        *err = EINVAL;
    else if (!(data = malloc((size_t)st.st_size + 1)))
        *err = ENOMEM;
    size_t got = 0;
    while (data && got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return data;
}

void mb_tz_free(struct mb_tz *tz)
{
    if (!tz)
        return;
    free(tz->times);
    free(tz->types_at);
    free(tz->types);
    free(tz);
}

struct mb_tz *mb_tz_load(const char *name, char *err, size_t errlen)
{
    if (!valid_name(name)) {
        char shown[64];
        size_t n = 0;
        for (const char *p = name; *p && n + 1 < sizeof shown; p++)
            shown[n++] = (*p < 0x20 || *p == 0x7f) ? '?' : *p; /* no control characters in a message */
        shown[n] = '\0';
        set_error(err, errlen, "time zone \"%s\": expected an IANA zone name such as Europe/Berlin or UTC",
                  shown);
        return NULL;
    }
    const char *dir = getenv("TZDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    size_t len = 0;
    int errnum;
    unsigned char *data = read_zone_file(path, &len, &errnum);
    if (!data) {
        set_error(err, errlen, "time zone \"%s\": %s in %s", name,
                  errnum == ENOENT || errnum == ENOTDIR ? "no such zone"
                  : errnum == EINVAL                    ? "not a zone file"
                                                        : strerror(errnum),
                  dir && *dir ? dir : "/usr/share/zoneinfo");
        return NULL;
    }
    struct mb_tz *tz = calloc(1, sizeof *tz);
    const char *problem = tz ? parse_tzif(tz, data, len) : "out of memory";
    free(data);
    if (problem) {
        set_error(err, errlen, "time zone \"%s\": %s: %s", name, path, problem);
        mb_tz_free(tz);
        return NULL;
    }
    snprintf(tz->name, sizeof tz->name, "%s", name);
    compute_offset_range(tz);
    return tz;
}
