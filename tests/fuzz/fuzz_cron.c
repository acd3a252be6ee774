/* fuzz_cron.c — the cron parser (src/cron.c) and the next-fire search, on
 * any bytes.
 *
 * The input is an expression.  When it parses, its next fire times from a
 * fixed instant are computed in UTC and in Europe/Berlin (daylight saving
 * both ways): each must be strictly after the one before, or the search
 * must say that none comes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "tz.h"

static struct mb_tz *berlin;

static void walk(const struct mb_cron *cron, const struct mb_tz *tz, int64_t after)
{
    for (int i = 0; i < 8; i++) {
        int64_t next;
        if (mb_cron_next(cron, tz, after, &next) != 0)
            return;
        if (next <= after)
            abort(); /* a fire time must be strictly after "now" */
        after = next;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!berlin) {
        char err[256];
        berlin = mb_tz_load("Europe/Berlin", err, sizeof err);
    }
    if (size > 256)
        return 0;
    char expr[257];
    memcpy(expr, data, size);
    expr[size] = '\0';
    struct mb_cron cron;
    char err[256];
    if (mb_cron_parse(expr, &cron, err, sizeof err) != 0) {
        if (!err[0])
            abort(); /* a refusal always says why */
        return 0;
    }
    walk(&cron, NULL, 1774699200);   /* 2026-03-28T12:00:00Z, before a spring-forward */
    walk(&cron, berlin, 1774699200);
    walk(&cron, berlin, 1792843200);  /* 2026-10-24T12:00:00Z, before a fall-back */
    return 0;
}
