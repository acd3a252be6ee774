/* util.c — errors, configs and file helpers shared by every layer. */
#include "mb.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void error_vset(struct mb_error *err, const char *suffix, const char *fmt, va_list ap)
{
    if (!err || err->msg[0])
        return; /* the first, most specific message wins */
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    if (suffix && n >= 0 && (size_t)n < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", suffix);
    if (!err->msg[0])
        snprintf(err->msg, sizeof err->msg, "unknown error");
}

void mb_error_set(struct mb_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, NULL, fmt, ap);
    va_end(ap);
}

void mb_error_errno(struct mb_error *err, const char *fmt, ...)
{
    const char *reason = strerror(errno);
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, reason, fmt, ap);
    va_end(ap);
}


const char *mb_config_get(const struct mb_config *cfg, const char *key)
{
    for (size_t i = 0; cfg && i < cfg->count; i++)
        if (strcmp(cfg->items[i].key, key) == 0)
            return cfg->items[i].value;
    return NULL;
}

long long mb_config_get_int(const struct mb_config *cfg, const char *key, long long fallback)
{
    const char *v = mb_config_get(cfg, key);
    if (!v || !*v)
        return fallback;
    char *end;
    long long n = strtoll(v, &end, 10);
    return *end ? fallback : n;
}

int mb_config_set(struct mb_config *cfg, const char *key, const char *value)
{
    for (size_t i = 0; i < cfg->count; i++) {
        if (strcmp(cfg->items[i].key, key) == 0) {
            char *copy = strdup(value);
            if (!copy)
                return -1;
            mb_free_secret(cfg->items[i].value);
            cfg->items[i].value = copy;
            return 0;
        }
    }
    struct mb_config_item *items = realloc(cfg->items, (cfg->count + 1) * sizeof *items);
    if (!items)
        return -1;
    cfg->items = items;
    items[cfg->count].key = strdup(key);
    items[cfg->count].value = strdup(value);
    if (!items[cfg->count].key || !items[cfg->count].value) {
        free(items[cfg->count].key);
        mb_free_secret(items[cfg->count].value);
        return -1;
    }
    cfg->count++;
    return 0;
}

void mb_config_free(struct mb_config *cfg)
{
    for (size_t i = 0; i < cfg->count; i++) {
        free(cfg->items[i].key);
        mb_free_secret(cfg->items[i].value); /* values may be secrets */
    }
    free(cfg->items);
    cfg->items = NULL;
    cfg->count = 0;
}

int mb_mkdirs(const char *path, mode_t mode, struct mb_error *err)
{
    if (!*path) {
        mb_error_set(err, "cannot create a directory with an empty path");
        return -1;
    }
    char *copy = strdup(path);
    if (!copy) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    for (char *p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(copy, mode) != 0 && errno != EEXIST) {
            mb_error_errno(err, "cannot create directory %s", copy);
            free(copy);
            return -1;
        }
        *p = saved;
        if (!saved)
            break;
    }
    free(copy);
    return 0;
}

int mb_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

char *mb_strdup_printf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    return out;
}

int mb_name_stays_below_root(const char *name)
{
    if (!*name || name[0] == '/')
        return 0;
    for (const char *p = name;; p++) {
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
            return 0;
        if (!(p = strchr(p, '/')))
            return 1;
    }
}

/* explicit_bzero: a plain memset before free() may be optimised away. */
void mb_free_secret(char *secret)
{
    if (secret)
        explicit_bzero(secret, strlen(secret));
    free(secret);
}
