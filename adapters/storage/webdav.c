/* webdav.c — storage on a WebDAV server (nginx dav, Apache mod_dav,
 * Nextcloud, ...), through libcurl.
 *
 * Options: url (the collection that holds the backups, https:// or
 * http://), user, password (basic auth), ca_file, insecure_tls, timeout,
 * retries.
 *
 * An upload is a PUT with chunked transfer encoding (the length of a
 * backup is not known in advance) to a hidden temporary name, then a MOVE
 * to the final name (Overwrite: T).  Missing collections are made with
 * MKCOL before the PUT, since servers need not create them.  Listing is a
 * PROPFIND with Depth: 1, whose multistatus answer is read by the small
 * parser below: it needs only hrefs, content lengths and which entries are
 * collections, so no XML library is linked for it. */
#include "adapters.h"
#include "curlxfer.h"
#include "fileio.h"
#include "dirlisting.h"
#include "urlxml.h"

#include <stdlib.h>
#include <string.h>

struct webdav_storage {
    struct mb_storage handle; /* first: the core counts who holds the storage */
    struct mb_curl_conf conf;
    char *base;      /* the url, without a trailing '/' */
    char *where;     /* the url without any user:password@, for messages */
    char *made_dir;  /* the last collection known to exist (fewer MKCOLs) */
};

static void webdav_free(struct mb_storage *storage)
{
    struct webdav_storage *s = (struct webdav_storage *)storage;
    mb_curl_conf_free(&s->conf);
    free(s->base);
    free(s->where);
    free(s->made_dir);
    free(s);
}

/* Drops "user:password@" from a URL that is shown in messages. */
static char *url_without_userinfo(const char *url)
{
    const char *start = strstr(url, "://");
    start = start ? start + 3 : url;
    const char *at = strchr(start, '@');
    const char *slash = strchr(start, '/');
    if (!at || (slash && at > slash))
        return strdup(url);
    return mb_strdup_printf("%.*s%s", (int)(start - url), url, at + 1);
}

static struct mb_storage *webdav_open(const struct mb_config *cfg, struct mb_error *err)
{
    const char *url = mb_config_get(cfg, "url");
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        mb_error_set(err, "webdav: \"url\" must begin with https:// (or http://)");
        return NULL;
    }
    struct webdav_storage *s = calloc(1, sizeof *s);
    if (!s) {
        mb_error_set(err, "out of memory");
        return NULL;
    }
    if (mb_curl_conf_load(&s->conf, cfg, err) != 0) {
        webdav_free(&s->handle);
        return NULL;
    }
    size_t n = strlen(url);
    while (n > 8 && url[n - 1] == '/')
        n--;
    s->base = mb_strdup_printf("%.*s", (int)n, url);
    s->where = s->base ? url_without_userinfo(s->base) : NULL;
    if (!s->base || !s->where) {
        webdav_free(&s->handle);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    return &s->handle;
}

/* The URL of name ("" is the collection itself) under base (s->base for
 * requests; s->where, without credentials, for anything sent as data),
 * percent-encoded. */
static char *webdav_url(const char *base, const char *name)
{
    char *escaped = mb_url_escape_path(name);
    char *url = escaped ? mb_strdup_printf("%s/%s", base, escaped) : NULL;
    free(escaped);
    return url;
}

static struct mb_curl_req *webdav_request(struct webdav_storage *s, const char *name,
                                          const char *method, struct mb_error *err)
{
    char *url = webdav_url(s->base, name);
    struct mb_curl_req *r = url ? mb_curl_req_new(&s->conf, url, err) : NULL;
    if (!url)
        mb_error_set(err, "out of memory");
    free(url);
    if (!r)
        return NULL;
    r->http = 1;
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    if (method)
        curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
    return r;
}

static int webdav_fail(struct webdav_storage *s, struct mb_curl_req *r, const char *what,
                       const char *name, struct mb_error *err)
{
    char why[CURL_ERROR_SIZE + 300];
    mb_curl_req_describe(r, why, sizeof why);
    mb_error_set(err, "webdav %s: %s %s: %s", s->where, what, *name ? name : "/", why);
    mb_curl_req_free(r);
    return -1;
}

static int check_name(struct webdav_storage *s, const char *name, struct mb_error *err)
{
    if (mb_remote_name_is_safe(name))
        return 0;
    mb_error_set(err, "webdav %s: refusing unsafe name \"%s\"", s->where, name);
    return -1;
}

static const char propfind_body[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:resourcetype/><D:getcontentlength/></D:prop>"
    "</D:propfind>\n";

/* PROPFIND of a collection ("" or "dir/"); the caller owns the request. */
static struct mb_curl_req *webdav_propfind(struct webdav_storage *s, const char *dir,
                                           const char *depth, struct mb_error *err)
{
    struct mb_curl_req *r = webdav_request(s, dir, "PROPFIND", err);
    if (!r)
        return NULL;
    if (mb_curl_req_header(r, depth) != 0
        || mb_curl_req_header(r, "Content-Type: application/xml; charset=utf-8") != 0) {
        mb_curl_req_free(r);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, propfind_body);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)(sizeof propfind_body - 1));
    mb_curl_req_collect(r, MB_LISTING_MAX);
    return r;
}

/* Logs in: the collection answers PROPFIND (a missing one is made later). */
static int webdav_check(void *storage, struct mb_error *err)
{
    struct webdav_storage *s = storage;
    struct mb_curl_req *r = webdav_propfind(s, "", "Depth: 0", err);
    if (!r)
        return -1;
    if (mb_curl_req_perform(r, s->conf.retries) != 0 && r->status != 404)
        return webdav_fail(s, r, "cannot reach", "", err);
    mb_curl_req_free(r);
    return 0;
}

/* A small request (MKCOL, MOVE, DELETE) with retries; 0 or the failure. */
static int webdav_simple(struct webdav_storage *s, const char *method, const char *name,
                         const char *header, int retries, struct mb_error *err)
{
    struct mb_curl_req *r = webdav_request(s, name, method, err);
    if (!r)
        return -1;
    if (header && mb_curl_req_header(r, header) != 0) {
        mb_curl_req_free(r);
        mb_error_set(err, "out of memory");
        return -1;
    }
    if (mb_curl_req_perform(r, retries) == 0) {
        mb_curl_req_free(r);
        return 0;
    }
    if (strcmp(method, "MKCOL") == 0 && r->status == 405) { /* it exists */
        mb_curl_req_free(r);
        return 0;
    }
    return webdav_fail(s, r, strcmp(method, "DELETE") == 0 ? "cannot delete"
                             : strcmp(method, "MOVE") == 0 ? "cannot rename"
                                                             : "cannot create collection",
                       name, err);
}

/* Makes the storage's collection and every collection on the way to
 * name's (not the parents of the storage's url: those are the server's). */
static int webdav_make_parents(struct webdav_storage *s, const char *name, struct mb_error *err)
{
    const char *last = strrchr(name, '/');
    if (!last)
        return 0;
    size_t dir_len = (size_t)(last - name) + 1; /* with its '/' */
    if (s->made_dir && strlen(s->made_dir) == dir_len && strncmp(s->made_dir, name, dir_len) == 0)
        return 0;
    if (webdav_simple(s, "MKCOL", "", NULL, s->conf.retries, err) != 0)
        return -1;
    for (const char *p = strchr(name, '/'); p; p = strchr(p + 1, '/')) {
        char *dir = mb_strdup_printf("%.*s/", (int)(p - name), name);
        int rc = dir ? webdav_simple(s, "MKCOL", dir, NULL, s->conf.retries, err) : -1;
        free(dir);
        if (rc != 0)
            return -1;
    }
    free(s->made_dir);
    s->made_dir = mb_strdup_printf("%.*s", (int)dir_len, name);
    return 0;
}

static int webdav_promote(void *storage, const char *temp, const char *name, struct mb_error *err)
{
    struct webdav_storage *s = storage;
    /* Without "user:password@": a header may end up in the server's logs. */
    char *url = webdav_url(s->where, name);
    char *destination = url ? mb_strdup_printf("Destination: %s", url) : NULL;
    int rc = destination ? 0 : -1;
    if (!destination)
        mb_error_set(err, "out of memory");
    struct mb_curl_req *r = destination ? webdav_request(s, temp, "MOVE", err) : NULL;
    if (r && (mb_curl_req_header(r, destination) != 0 || mb_curl_req_header(r, "Overwrite: T") != 0)) {
        mb_error_set(err, "out of memory");
        mb_curl_req_free(r);
        r = NULL;
    }
    if (!r)
        rc = -1;
    else if (mb_curl_req_perform(r, s->conf.retries) != 0)
        rc = webdav_fail(s, r, "cannot move into place", name, err);
    else
        mb_curl_req_free(r);
    free(destination);
    free(url);
    return rc;
}

static void webdav_discard(void *storage, const char *temp)
{
    struct mb_error ignored = { { 0 } };
    webdav_simple(storage, "DELETE", temp, NULL, 0, &ignored); /* best effort */
}

static const struct mb_remote_writer_ops webdav_writer_ops = {
    .promote = webdav_promote,
    .discard = webdav_discard,
};

static struct mb_writer *webdav_open_write(void *storage, const char *name, struct mb_error *err)
{
    struct webdav_storage *s = storage;
    if (check_name(s, name, err) != 0 || webdav_make_parents(s, name, err) != 0)
        return NULL;
    char *temp = mb_remote_temp_name(name, 0); /* nginx's PROPFIND never lists hidden names */
    char *label = temp ? mb_strdup_printf("webdav %s: %s", s->where, name) : NULL;
    struct mb_curl_req *r = label ? webdav_request(s, temp, NULL, err) : NULL;
    struct mb_writer *w = NULL;
    if (!label)
        mb_error_set(err, "out of memory");
    if (r) {
        struct mb_curl_upload *u = mb_curl_upload_new(r, s->conf.retries, label, err);
        if (u)
            w = mb_remote_writer_new(u, &webdav_writer_ops, s, temp, name, err);
    }
    free(temp);
    free(label);
    return w;
}

static struct mb_reader *webdav_open_read(void *storage, const char *name, struct mb_error *err)
{
    struct webdav_storage *s = storage;
    if (check_name(s, name, err) != 0)
        return NULL;
    char *label = mb_strdup_printf("webdav %s: %s", s->where, name);
    struct mb_curl_req *r = label ? webdav_request(s, name, NULL, err) : NULL;
    struct mb_reader *reader = r ? mb_curl_reader_open(r, label, err) : NULL;
    if (!label)
        mb_error_set(err, "out of memory");
    free(label);
    return reader;
}

/* ---- the multistatus answer of PROPFIND -------------------------------- */

struct dav_response {
    const char *href, *length; /* text inside the elements, in the buffer */
    size_t href_len, length_len;
    int collection;
};

/* The name of an entry: the last segment of its href, decoded. */
static char *dav_entry_name(const char *href, size_t len)
{
    char *h = mb_strdup_printf("%.*s", (int)len, href);
    if (!h)
        return NULL;
    mb_xml_unescape(h);
    char *path = strstr(h, "://") ? strchr(strstr(h, "://") + 3, '/') : h;
    if (!path)
        path = h + strlen(h);
    size_t n = strlen(path);
    while (n && path[n - 1] == '/')
        path[--n] = '\0';
    char *slash = strrchr(path, '/');
    char *name = strdup(slash ? slash + 1 : path);
    free(h);
    if (name)
        mb_url_unescape(name);
    return name;
}

struct dav_listing {
    const char *prefix;
    int incomplete; /* every name (the caller keeps the temporary ones); else
                       neither hidden names nor temporary ones */
    mb_list_fn each;
    void *ud;
};

static int dav_emit(const struct dav_listing *l, const struct dav_response *r, struct mb_error *err)
{
    if (r->collection || !r->href)
        return 0;
    char *name = dav_entry_name(r->href, r->href_len);
    if (!name) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    int rc = 0;
    char *target = l->incomplete ? NULL : mb_temp_name_target(name);
    int listed = l->incomplete || (name[0] != '.' && !target); /* not an upload in progress */
    free(target);
    if (name[0] && listed && !strchr(name, '/')) {
        uint64_t size = r->length ? strtoull(r->length, NULL, 10) : 0;
        char *full = mb_strdup_printf("%s%s", l->prefix, name);
        rc = full ? l->each(l->ud, full, size, err) : -1;
        if (!full)
            mb_error_set(err, "out of memory");
        free(full);
    }
    free(name);
    return rc;
}

/* The local part of an element name: "D:href" and "href" are both href. */
static int tag_is(const char *tag, size_t len, const char *local)
{
    const char *colon = memchr(tag, ':', len);
    if (colon) {
        len -= (size_t)(colon + 1 - tag);
        tag = colon + 1;
    }
    return len == strlen(local) && strncmp(tag, local, len) == 0;
}

/* A cut or garbled answer fails the listing: a partial one would make its
 * missing entries look deleted. */
static int dav_malformed(const char *why, struct mb_error *err)
{
    mb_error_set(err, "webdav: malformed PROPFIND answer (%s)", why);
    return -1;
}

/* Walks the tags of a multistatus body; calls dav_emit at each </response>. */
static int dav_parse(const char *xml, const struct dav_listing *l, struct mb_error *err)
{
    struct dav_response cur = { 0 };
    for (const char *p = strchr(xml, '<'); p; p = strchr(p, '<')) {
        if (strncmp(p, "<!--", 4) == 0) {
            if (!(p = strstr(p + 4, "-->")))
                return dav_malformed("a comment that never ends", err);
            continue;
        }
        const char *end = strchr(p, '>');
        if (!end)
            return dav_malformed("a tag that never ends", err);
        int closing = p[1] == '/';
        const char *tag = p + 1 + closing;
        size_t tag_len = strcspn(tag, " \t\r\n/>");
        const char *text = end + 1;
        size_t text_len = strcspn(text, "<");
        int self_closing = end[-1] == '/';
        if (p[1] == '?' || p[1] == '!') {
            /* declarations */
        } else if (!closing && tag_is(tag, tag_len, "response")) {
            memset(&cur, 0, sizeof cur);
        } else if (!closing && !self_closing && tag_is(tag, tag_len, "href")) {
            cur.href = text;
            cur.href_len = text_len;
        } else if (!closing && !self_closing && tag_is(tag, tag_len, "getcontentlength")) {
            cur.length = text;
            cur.length_len = text_len;
        } else if (!closing && tag_is(tag, tag_len, "collection")) {
            cur.collection = 1;
        } else if (closing && tag_is(tag, tag_len, "response")) {
            if (dav_emit(l, &cur, err) != 0)
                return -1;
            memset(&cur, 0, sizeof cur);
        }
        p = end + 1;
    }
    return 0;
}

static int webdav_scan(struct webdav_storage *s, const char *prefix, int incomplete, mb_list_fn each,
                       void *ud, struct mb_error *err)
{
    size_t n = strlen(prefix);
    char *dir = n && prefix[n - 1] != '/' ? mb_strdup_printf("%s/", prefix) : strdup(prefix);
    if (!dir || (*prefix && check_name(s, prefix, err) != 0)) {
        if (!dir)
            mb_error_set(err, "out of memory");
        free(dir);
        return -1;
    }
    struct mb_curl_req *r = webdav_propfind(s, dir, "Depth: 1", err);
    int rc = -1;
    if (r && mb_curl_req_perform(r, s->conf.retries) == 0 && r->status == 207) {
        struct dav_listing l = { prefix, incomplete, each, ud };
        rc = r->body.data ? dav_parse(r->body.data, &l, err) : 0;
        mb_curl_req_free(r);
    } else if (r && r->status == 404) {
        rc = 0; /* nothing stored yet */
        mb_curl_req_free(r);
    } else if (r) {
        if (r->code == CURLE_OK && r->status < 400)
            snprintf(r->note, sizeof r->note, "expected a multistatus answer (HTTP 207), got HTTP %ld",
                     r->status);
        rc = webdav_fail(s, r, "cannot list", dir, err);
    }
    free(dir);
    return rc;
}

static int webdav_list(void *storage, const char *prefix, mb_list_fn each, void *ud,
                       struct mb_error *err)
{
    return webdav_scan(storage, prefix, 0, each, ud, err);
}

/* The temporary names of PUTs that were never moved into place (hidden
 * ones too, for the servers that list them: older versions made those). */
static int webdav_list_incomplete(void *storage, const char *prefix, mb_incomplete_fn each,
                                  void *ud, struct mb_error *err)
{
    struct mb_temp_names t = { each, ud };
    return webdav_scan(storage, prefix, 1, mb_temp_names_each, &t, err);
}

static int webdav_remove(void *storage, const char *name, struct mb_error *err)
{
    struct webdav_storage *s = storage;
    if (check_name(s, name, err) != 0)
        return -1;
    return webdav_simple(s, "DELETE", name, NULL, s->conf.retries, err);
}


static const struct mb_option webdav_options[] = {
    { "url", MB_OPTION_STRING, 1, NULL, 0, .help = "the collection that holds the backups (https:// or http://)" },
    { "user", MB_OPTION_STRING, 0, NULL, 0, .help = "the user for basic authentication" },
    { "password", MB_OPTION_STRING, 0, NULL, 1, .help = "its password" },
    { "ca_file", MB_OPTION_STRING, 0, NULL, 0, .help = "a CA bundle to verify the server's certificate with" },
    { "insecure_tls", MB_OPTION_BOOLEAN, 0, "false", 0, .help = "do not verify the server's certificate" },
    { "timeout", MB_OPTION_INTEGER, 0, "60", 0, .help = "seconds a transfer may stall before it fails", MB_OPTION_SECONDS },
    { "retries", MB_OPTION_INTEGER, 0, "3", 0, .help = "extra attempts after a connection-level failure", MB_OPTION_COUNT },
    { NULL },
};

const struct mb_storage_ops mb_storage_webdav = {
    .version = MB_STORAGE_OPS_VERSION,
    .type = "webdav",
    .open = webdav_open,
    .free = webdav_free,
    .check = webdav_check,
    .open_write = webdav_open_write,
    .open_read = webdav_open_read,
    .list = webdav_list,
    .remove = webdav_remove,
    .list_incomplete = webdav_list_incomplete,
    .options = webdav_options,
};
