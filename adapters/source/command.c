/* command.c — any program whose standard output is the backup.
 * Options: argv (one argument per line), env ("NAME=value" per line). */
#include "adapters.h"
#include "process.h"

#include <stdlib.h>

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
    struct mb_strv argv = { 0 }, env = { 0 };
    mb_strv_push_lines(&argv, mb_config_get(cfg, "argv"));
    mb_strv_push_lines(&env, mb_config_get(cfg, "env"));
    char *label = argv.n ? mb_strdup_printf("command %s", argv.v[0]) : NULL;
    struct mb_reader *r = NULL;
    if (argv.failed || env.failed || !label) {
        mb_error_set(err, "out of memory");
    } else {
        struct mb_command cmd = { .argv = (const char *const *)argv.v, .env = (const char *const *)env.v, .label = label };
        r = mb_spawn_reader(&cmd, err);
    }
    if (r)
        mb_config_set(&r->meta, "databases", argv.v[0]);
    free(label);
    mb_strv_free(&argv);
    mb_strv_free(&env);
    return r;
}

static const struct mb_option command_options[] = {
    { "argv", MB_OPTION_STRINGS, 1, NULL, 0,
      .help = "the program and its arguments, run without a shell; its standard output is the backup" },
    { "env", MB_OPTION_TABLE, 0, NULL, 0,
      .help = "variables added to the program's environment (the place for secrets)" },
    { NULL },
};

const struct mb_source_ops mb_source_command = {
    .version = MB_SOURCE_OPS_VERSION,
    .type = "command",
    .check = command_check,
    .open = command_open,
    .options = command_options,
    .extension = "out",
};
