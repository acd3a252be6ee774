/* command.c — any program whose standard output is the backup.
 * Options: argv (one argument per line), env ("NAME=value" per line). */
#include "adapters.h"
#include "process.h"

#include <stdlib.h>
#include <string.h>

/* Splits a newline-joined list into a NULL-terminated array; one
 * allocation holds both, freed with free(). */
static char **split_lines(const char *text)
{
    size_t n = 1, len = text ? strlen(text) : 0;
    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n';
    char **list = malloc((n + 1) * sizeof *list + len + 1);
    if (!list)
        return NULL;
    char *copy = (char *)(list + n + 1);
    memcpy(copy, text ? text : "", len + 1);
    size_t k = 0;
    for (char *line = copy; len && line; k++) {
        list[k] = line;
        line = strchr(line, '\n');
        if (line)
            *line++ = '\0';
    }
    list[k] = NULL;
    return list;
}

static int command_check(const struct mb_config *cfg, struct mb_error *err)
{
    const char *argv = mb_config_get(cfg, "argv");
    if (!argv || !*argv) {
        mb_error_set(err, "command source: \"argv\" is required");
        return -1;
    }
    return 0;
}

static struct mb_reader *command_open(const struct mb_config *cfg, struct mb_error *err)
{
    if (command_check(cfg, err) != 0)
        return NULL;
    char **argv = split_lines(mb_config_get(cfg, "argv"));
    const char *env_text = mb_config_get(cfg, "env");
    char **env = env_text && *env_text ? split_lines(env_text) : NULL;
    struct mb_reader *r = NULL;
    if (!argv || (env_text && *env_text && !env)) {
        mb_error_set(err, "out of memory");
    } else {
        char *label = mb_strdup_printf("command %s", argv[0]);
        r = label ? mb_spawn_reader((const char *const *)argv, (const char *const *)env, label, err)
                  : NULL;
        free(label);
    }
    if (r)
        mb_config_set(&r->meta, "databases", argv[0]);
    free(argv);
    free(env);
    return r;
}

const struct mb_source_ops mb_source_command = {
    .version = MB_SOURCE_OPS_VERSION,
    .type = "command",
    .check = command_check,
    .open = command_open,
};
