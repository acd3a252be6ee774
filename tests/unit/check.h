/* check.h — the smallest test harness that reads well.
 *
 * Each CHECK prints one TAP-like line, "ok - name" or "not ok - name"; the
 * runner (tests/run.sh) counts them for the whole suite.  check_done()
 * returns the exit status of the test program. */
#ifndef MB_CHECK_H
#define MB_CHECK_H

#include <stdio.h>

static int check_failures;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        int check_ok_ = (cond) ? 1 : 0;                                      \
        printf("%s - ", check_ok_ ? "ok" : "not ok");                        \
        printf(__VA_ARGS__);                                                 \
        printf("\n");                                                        \
        if (!check_ok_) {                                                    \
            check_failures++;                                                \
            printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
        }                                                                    \
        fflush(stdout);                                                      \
    } while (0)

static inline int check_done(void) { return check_failures ? 1 : 0; }

#endif
