/* test_registry.c — the registry: every adapter carries its schema and
 * extension; one implementation serves mysql and mariadb through data. */
#include "check.h"

#include "registry.h"

#include <string.h>

static int schema_is_complete(const struct mb_option *options)
{
    if (!options || !options[0].name)
        return 0;
    for (const struct mb_option *o = options; o->name; o++)
        if (!o->help || !*o->help || o->kind > MB_OPTION_TABLE)
            return 0;
    return 1;
}

int main(void)
{
    size_t n = 0;
    for (const struct mb_source_ops *ops; (ops = mb_source_at(n)); n++) {
        CHECK(mb_source_find(ops->type) == ops, "source %s is found by its type", ops->type);
        CHECK(schema_is_complete(ops->options), "source %s describes its options", ops->type);
        CHECK(ops->extension && *ops->extension, "source %s names its artifact's extension", ops->type);
    }
    CHECK(n > 0, "the registry lists sources");
    n = 0;
    for (const struct mb_storage_ops *ops; (ops = mb_storage_at(n)); n++) {
        CHECK(mb_storage_find(ops->type) == ops, "storage %s is found by its type", ops->type);
        CHECK(schema_is_complete(ops->options), "storage %s describes its options", ops->type);
    }
    CHECK(n > 0, "the registry lists storages");

    const struct mb_source_ops *mysql = mb_source_find("mysql"), *mariadb = mb_source_find("mariadb");
    CHECK(mysql && mariadb && mysql->open == mariadb->open && mysql->check == mariadb->check
              && mysql->restore == mariadb->restore,
          "mysql and mariadb share one implementation");
    CHECK(mariadb && mysql && mariadb->data && mysql->data && mariadb->data != mysql->data,
          "the implementation tells mariadb from mysql by the data the engine hands it");

    const struct mb_source_ops *pg = mb_source_find("postgres");
    struct mb_config custom = { 0 };
    mb_config_set(&custom, "format", "custom");
    CHECK(pg->extension_for && strcmp(pg->extension_for(&custom), "dump") == 0,
          "postgres' custom format makes a .dump");
    mb_config_free(&custom);
    return check_done();
}
