/* option.h — what an adapter (source, storage, notifier) says about its
 * options: the schema job validation, the README's field table and the
 * help are made from (see moonbak.source.schema in src/lschema.c). */
#ifndef MB_OPTION_H
#define MB_OPTION_H

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
    /* What the adapter does without the option, as the job file would
     * write it ("5432", "true", "plain"); NULL when there is no single
     * value to name.  Documentation only: the adapter applies it. */
    const char *default_value;
    /* A credential: give it as a reference rather than in the file. */
    int secret;
    const char *help; /* one line, for the README's table and help */
};

#endif
