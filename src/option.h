/* option.h — what an adapter (source, storage, notifier) says about its
 * options: the schema job validation, the README's field table and the
 * help are made from (see moonbak.source.schema in src/lschema.c). */
#ifndef MB_OPTION_H
#define MB_OPTION_H

#include <limits.h>

/* The kinds of value a job file may give.  A string may always be a
 * reference (secret "x", env "X", file "/x") resolved when the job runs;
 * so may each string of a list. */
enum mb_option_kind {
    MB_OPTION_STRING,
    MB_OPTION_INTEGER,
    MB_OPTION_BOOLEAN,
    MB_OPTION_STRINGS,           /* a list of strings */
    MB_OPTION_STRING_OR_STRINGS, /* a string or a list of strings */
    MB_OPTION_TABLE,             /* string keys to string values (an environment) */
};

/* One option.  Arrays of them end with an entry whose name is NULL. */
struct mb_option {
    const char *name;
    enum mb_option_kind kind;
    int required;
    /* The value the option takes when the job omits it, as the job file
     * would write it ("60", "true", "plain"): the engine puts it into the
     * adapter's config (mb_config_set_defaults), so the adapter sees it
     * like a value the job gave.  NULL when there is none to name (the
     * tool decides, or the option changes nothing when absent). */
    const char *default_value;
    /* A credential: give it as a reference rather than in the file. */
    int secret;
    const char *help; /* one line, for the README's table and help */

    /* Checked when a job file loads, whatever the adapter (job.lua). */
    /* Integers: has_range says the value must be from min to max. */
    int has_range;
    long long min, max; /* max LLONG_MAX: no upper bound */
    /* What a value in range is, for messages ("a port number from 1 to
     * 65535"); NULL: "from MIN to MAX" or "MIN or more". */
    const char *expected;
    /* Strings: the values allowed, ending with NULL (NULL: any string).
     * Such an option is a plain word, never a reference. */
    const char *const *choices;
};

/* Entries name help (so that the fields after it may be left out) and
 * set those with these:
 *   { "port", MB_OPTION_INTEGER, 0, NULL, 0, .help = "...", MB_OPTION_PORT },
 *   { "format", MB_OPTION_STRING, 0, "plain", 0, .help = "...", MB_OPTION_CHOICES("plain", "custom") }, */
#define MB_OPTION_RANGE(lo, hi, what) .has_range = 1, .min = (lo), .max = (hi), .expected = (what)
#define MB_OPTION_AT_LEAST(lo, what) MB_OPTION_RANGE(lo, LLONG_MAX, what)
#define MB_OPTION_PORT MB_OPTION_RANGE(1, 65535, "a port number from 1 to 65535")
#define MB_OPTION_SECONDS MB_OPTION_AT_LEAST(1, "a number of seconds, 1 or more")
#define MB_OPTION_COUNT MB_OPTION_AT_LEAST(0, NULL)
#define MB_OPTION_CHOICES(...) .choices = (const char *const[]){ __VA_ARGS__, NULL }

#endif
