/* dbtool.c — small helpers the database adapters share. */
#include "dbtool.h"
#include "process.h"

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
