/* dirlisting.c — names on remote storages and their "ls -l" listings (see
 * dirlisting.h). */
#include "dirlisting.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Besides staying below the root, a remote name must not break a quoted
 * command (sftp's rename "a" "b", FTP's one-line commands). */
int mb_remote_name_is_safe(const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
            return 0;
    return mb_name_stays_below_root(name);
}

/* Splits off the next blank-separated field of *s. */
static char *next_field(char **s)
{
    char *p = *s;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return NULL;
    char *start = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    if (*p)
        *p++ = '\0';
    *s = p;
    return start;
}

/* "-rw-r--r--   1 owner group   1234 Nov 29 03:00 name" */
int mb_parse_ls_line(char *line, char **name, uint64_t *size)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\r' || line[n - 1] == '\n'))
        line[--n] = '\0';
    char *rest = line, *fields[8];
    for (int i = 0; i < 8; i++)
        if (!(fields[i] = next_field(&rest)))
            return 0;
    if (fields[0][0] != '-' || !*rest)
        return 0; /* directories, links, devices */
    char *end;
    unsigned long long v = strtoull(fields[4], &end, 10);
    if (*end || end == fields[4])
        return 0;
    *name = rest;
    *size = v;
    return 1;
}

int mb_list_ls_body(char *body, const char *prefix, int hidden, mb_list_fn each, void *ud,
                    struct mb_error *err)
{
    char *save = NULL;
    for (char *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *name;
        uint64_t size;
        if (!mb_parse_ls_line(line, &name, &size) || (name[0] == '.') != hidden)
            continue; /* hidden: uploads in progress (or not ours) */
        char *full = mb_strdup_printf("%s%s", prefix, name);
        int rc = full ? each(ud, full, size, err) : -1;
        if (!full)
            mb_error_set(err, "out of memory");
        free(full);
        if (rc != 0)
            return -1;
    }
    return 0;
}

char *mb_remote_temp_name(const char *name, int hidden)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char random[6];
    if (getrandom(random, sizeof random, 0) != (ssize_t)sizeof random)
        return NULL;
    char suffix[sizeof random + 1];
    for (size_t i = 0; i < sizeof random; i++)
        suffix[i] = alphabet[random[i] % (sizeof alphabet - 1)];
    suffix[sizeof random] = '\0';
    const char *slash = strrchr(name, '/');
    const char *dot = hidden ? "." : "";
    if (!slash)
        return mb_strdup_printf("%s%s.partial-%s", dot, name, suffix);
    return mb_strdup_printf("%.*s/%s%s.partial-%s", (int)(slash - name), name, dot, slash + 1, suffix);
}
