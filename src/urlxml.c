/* urlxml.c — URLs and XML text, as the remote storages send and read
 * them (see urlxml.h). */
#include "urlxml.h"

#include <stdlib.h>
#include <string.h>

#include "mb.h"

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
           || c == '.' || c == '_' || c == '~';
}

char *mb_url_encode(const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(strlen(s) * 3 + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (is_unreserved(*p) || (keep_slash && *p == '/')) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

void mb_url_unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        int hi, lo;
        if (p[0] == '%' && (hi = hex_value((unsigned char)p[1])) >= 0
            && (lo = hex_value((unsigned char)p[2])) >= 0) {
            *o++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

/* Writes code point cp as UTF-8 at o; returns the bytes written. */
static size_t utf8_put(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

void mb_xml_unescape(char *s)
{
    static const struct { const char *name; char c; } named[] = {
        { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&apos;", '\'' },
    };
    char *o = s;
    const size_t n_named = sizeof named / sizeof *named;
    for (char *p = s; *p;) {
        size_t i = n_named;
        if (*p == '&')
            for (i = 0; i < n_named && strncmp(p, named[i].name, strlen(named[i].name)) != 0; i++)
                ;
        if (i < n_named) {
            *o++ = named[i].c;
            p += strlen(named[i].name);
            continue;
        }
        char *end = NULL;
        unsigned long cp = 0;
        if (p[0] == '&' && p[1] == '#')
            cp = p[2] == 'x' ? strtoul(p + 3, &end, 16) : strtoul(p + 2, &end, 10);
        if (end && *end == ';' && cp > 0 && cp <= 0x10ffff) {
            o += utf8_put(o, cp); /* at most 4 bytes for at least 4 read */
            p = end + 1;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
}

char *mb_url_host(const char *host)
{
    if (strchr(host, ':') && host[0] != '[')
        return mb_strdup_printf("[%s]", host);
    return strdup(host);
}
