/* dbtool.c — small helpers the database adapters share. */
#include "adapters.h"

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
