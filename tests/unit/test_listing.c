/* test_listing.c — the listing helpers the remote storages share: "ls -l"
 * bodies (FTP LIST, SFTP long names), temporary names, the one URL
 * encoder and its decoder, and the growable buffer listings arrive in. */
#include "check.h"
#include "dirlisting.h"
#include "urlxml.h"
#include "buf.h"
#include "testutil.h"

#include <stdio.h>

static char names[1024];
static int collect(void *ud, const char *name, uint64_t size, struct mb_error *err)
{
    (void)ud; (void)size; (void)err;
    strncat(names, name, sizeof names - strlen(names) - 2);
    strcat(names, " ");
    return 0;
}

static char uploads[1024];
static int collect_incomplete(void *ud, const char *artifact, const char *upload,
                              struct mb_error *err)
{
    (void)ud; (void)err;
    snprintf(uploads + strlen(uploads), sizeof uploads - strlen(uploads), "%s<-%s ", artifact, upload);
    return 0;
}

static const char listing[] =
    "drwx------    2 1000 1000      4096 Nov 29 03:00 .\r\n"
    "drwx------    3 1000 1000      4096 Nov 29 03:00 ..\r\n"
    "-rw-------    1 1000 1000      1234 Nov 29 03:00 20200101T000000Z.out\r\n"
    "lrwxrwxrwx    1 1000 1000        11 Nov 29 03:00 20200102T000000Z.out -> /etc/shadow\r\n"
    "-rw-------    1 1000 1000        12 Nov 29 03:00 .20200103T000000Z.out.partial-abc123\r\n"
    "lrwxrwxrwx    1 1000 1000        11 Nov 29 03:00 .20200104T000000Z.out.partial-abc123 -> /etc/x\r\n"
    "-rw-------    1 1000 1000        12 Nov 29 03:00 .bashrc\r\n";

static void test_ls_body(void)
{
    struct mb_error err = { { 0 } };
    char *body = strdup(listing);
    names[0] = '\0';
    CHECK(mb_list_ls_body(body, "job/", 0, collect, NULL, &err) == 0
              && strcmp(names, "job/20200101T000000Z.out ") == 0,
          "a listing shows the regular files, not links, not hidden names (%s)", names);
    free(body);
    body = strdup(listing);
    uploads[0] = '\0';
    struct mb_temp_names t = { collect_incomplete, NULL };
    CHECK(mb_list_ls_body(body, "job/", 1, mb_temp_names_each, &t, &err) == 0
              && strcmp(uploads, "job/20200103T000000Z.out<-job/.20200103T000000Z.out.partial-abc123 ") == 0,
          "its hidden regular files that are temporary names are incomplete uploads (%s)", uploads);
    free(body);
}

static void test_temp_names(void)
{
    char *made = mb_remote_temp_name("job/20200101T000000Z.out", 1);
    CHECK(made && mb_temp_name_is_for(made, "job/20200101T000000Z.out"),
          "a temporary name made for an artifact is recognised as its (%s)", made);
    free(made);
    made = mb_remote_temp_name("job/20200101T000000Z.out", 0);
    CHECK(made && strncmp(made, "job/2", 5) == 0 && mb_temp_name_is_for(made, "job/20200101T000000Z.out"),
          "and one that is not hidden too (%s)", made);
    free(made);
    char *target = mb_temp_name_target(".a.b.partial-Ab12Z9");
    CHECK(target && strcmp(target, "a.b") == 0, "the target of .a.b.partial-Ab12Z9 is a.b");
    free(target);
    target = mb_temp_name_target("a.partial-abc123");
    CHECK(target && strcmp(target, "a") == 0, "the target of a.partial-abc123 is a");
    free(target);
    const char *not_ours[] = { ".partial-abc123", "partial-abc123", "..partial-abc123",
                               ".a.partial-abc12", ".a.partial-abc1234", ".a.partial-abc_12",
                               ".a.partiel-abc123", NULL };
    for (const char *const *p = not_ours; *p; p++) {
        target = mb_temp_name_target(*p);
        CHECK(target == NULL, "%s is no temporary name", *p);
        free(target);
    }
    CHECK(!mb_temp_name_is_for("other/.a.partial-abc123", "job/a"), "another directory's is not");
    CHECK(!mb_temp_name_is_for("job/.b.partial-abc123", "job/a"), "another name's is not");
    CHECK(!mb_temp_name_is_for("job/a", "job/a"), "the artifact itself is not");
    CHECK(mb_temp_name_is_for(".a.partial-abc123", "a"), "at the root too");
}

static void test_url_encoding(void)
{
    char *path = mb_url_encode("shop/a b+c=d&e%f/\xc3\xa9~_-.", 1);
    CHECK(path && strcmp(path, "shop/a%20b%2Bc%3Dd%26e%25f/%C3%A9~_-.") == 0,
          "a path keeps '/' and the unreserved bytes, every other byte is %%XX in upper case (%s)", path);
    char *query = mb_url_encode("a/b c", 0);
    CHECK(query && strcmp(query, "a%2Fb%20c") == 0, "a query value encodes '/' too (%s)", query);
    char *same = mb_url_escape_path("shop/a b");
    CHECK(same && strcmp(same, "shop/a%20b") == 0, "the storages' path escape is the same encoder");
    mb_url_unescape(path);
    CHECK(strcmp(path, "shop/a b+c=d&e%f/\xc3\xa9~_-.") == 0, "decoding gives the path back");
    char broken[] = "a%2x%4";
    mb_url_unescape(broken);
    CHECK(strcmp(broken, "a%2x%4") == 0, "broken escapes stay as written");
    free(path);
    free(query);
    free(same);
}

static void test_buf(void)
{
    struct mb_buf b = { 0 };
    char *empty = mb_buf_take(&b);
    CHECK(empty && !*empty, "an empty buffer gives an empty string");
    free(empty);
    for (int i = 0; i < 1000; i++)
        mb_buf_add_str(&b, "0123456789");
    CHECK(!b.failed && b.len == 10000 && strlen(b.data) == 10000, "it grows and stays NUL-terminated");
    mb_buf_clear(&b);
    mb_buf_add(&b, "ab", 2);
    char *text = mb_buf_take(&b);
    CHECK(text && strcmp(text, "ab") == 0 && b.data == NULL && b.len == 0,
          "clear empties it; take hands the text over");
    free(text);
    struct mb_buf failed = { .failed = 1 };
    mb_buf_add_str(&failed, "x");
    CHECK(mb_buf_take(&failed) == NULL, "a failure is sticky: take gives NULL");
}

int main(void)
{
    test_ls_body();
    test_temp_names();
    test_url_encoding();
    test_buf();
    return check_done();
}
