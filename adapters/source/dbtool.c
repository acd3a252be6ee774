/* dbtool.c — what the database adapters share: running their tools
 * (see dbtool.h) and small helpers. */
#include "dbtool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *mb_tool_path(const struct mb_config *cfg, const char *fallback, const char *sibling)
{
    const char *tool = mb_config_get(cfg, "tool");
    if (!tool || !*tool)
        return strdup(sibling ? sibling : fallback);
    if (!sibling)
        return strdup(tool);
    const char *slash = strrchr(tool, '/');
    char *beside = slash ? mb_strdup_printf("%.*s/%s", (int)(slash - tool), tool, sibling) : NULL;
    if (beside && access(beside, X_OK) == 0)
        return beside;
    free(beside); /* not installed beside the tool: the one on PATH */
    return strdup(sibling);
}

char *mb_quote_identifier(const char *name, char quote)
{
    size_t len = strlen(name);
    char *out = malloc(2 * len + 3), *p = out;
    if (!out)
        return NULL;
    *p++ = quote;
    for (const char *s = name; *s; s++) {
        if (*s == quote)
            *p++ = quote; /* doubled, as SQL wants */
        *p++ = *s;
    }
    *p++ = quote;
    *p = '\0';
    return out;
}

void mb_chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

char *mb_option_file(const struct mb_config *cfg, const char *header, const char *const *keys,
                     const char *sep, const char *extra, struct mb_error *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        mb_error_set(err, "out of memory");
        return NULL;
    }
    fputs(header ? header : "", f);
    for (size_t i = 0; keys[i]; i++) {
        const char *value = mb_config_get(cfg, keys[i]);
        if (!value)
            continue;
        fprintf(f, "%s%s\"", keys[i], sep);
        /* Both formats (MySQL option files, YAML double quotes) take
         * these escapes; a raw newline would split the value. */
        for (const char *p = value; *p; p++) {
            if (*p == '\n' || *p == '\r' || *p == '\t')
                fprintf(f, "\\%c", *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't');
            else if (*p == '"' || *p == '\\')
                fprintf(f, "\\%c", *p);
            else
                fputc(*p, f);
        }
        fputs("\"\n", f);
    }
    fputs(extra ? extra : "", f);
    fclose(f);
    char *path = text ? mb_private_temp_file(mb_config_get(cfg, "temp_dir"), text, err) : NULL;
    if (!text)
        mb_error_set(err, "out of memory");
    if (text) {
        memset(text, 0, len); /* it held a password */
        free(text);
    }
    return path;
}

/* ---- running a tool ------------------------------------------------------ */

static void dbtool_free(struct mb_dbtool *t)
{
    mb_strv_free(&t->args);
    mb_strv_free(&t->env);
    free(t->label);
    free(t->tool);
    t->label = t->tool = NULL;
}

/* Starts t as a reader (mode 'r'), a writer ('w'), or runs it to the end
 * with its output in out ('c'). */
static int dbtool_run(struct mb_dbtool *t, char mode, struct mb_reader **reader,
                      struct mb_writer **writer, char *out, size_t cap, struct mb_error *err)
{
    int rc = -1;
    char *options = NULL;
    struct mb_strv argv = { 0 };
    if (!t->tool || !t->label || t->args.failed || t->env.failed) {
        mb_error_set(err, "out of memory");
    } else if (!t->option_file || (options = t->option_file(t->cfg, err))) {
        mb_strv_push(&argv, t->tool);
        if (options)
            mb_strv_pushf(&argv, "%s%s", t->option_flag, options);
        for (size_t i = 0; i < t->args.n; i++)
            mb_strv_push(&argv, t->args.v[i]);
        if (argv.failed) {
            mb_error_set(err, "out of memory");
            if (options)
                unlink(options);
        } else {
            struct mb_command cmd = { .argv = (const char *const *)argv.v,
                                      .env = (const char *const *)t->env.v, .label = t->label,
                                      .remove_after = options, .merge_stderr = t->merge_stderr };
            if (mode == 'r')
                rc = (*reader = mb_spawn_reader(&cmd, err)) ? 0 : -1;
            else if (mode == 'w')
                rc = (*writer = mb_spawn_writer(&cmd, err)) ? 0 : -1;
            else
                rc = mb_run_capture(&cmd, out, cap, err);
        }
    }
    mb_strv_free(&argv);
    free(options);
    dbtool_free(t);
    return rc;
}

struct mb_reader *mb_dbtool_reader(struct mb_dbtool *t, struct mb_error *err)
{
    struct mb_reader *r = NULL;
    dbtool_run(t, 'r', &r, NULL, NULL, 0, err);
    return r;
}

struct mb_writer *mb_dbtool_writer(struct mb_dbtool *t, struct mb_error *err)
{
    struct mb_writer *w = NULL;
    dbtool_run(t, 'w', NULL, &w, NULL, 0, err);
    return w;
}

int mb_dbtool_capture(struct mb_dbtool *t, char *out, size_t cap, struct mb_error *err)
{
    return dbtool_run(t, 'c', NULL, NULL, out, cap, err);
}
