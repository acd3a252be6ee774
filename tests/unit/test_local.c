/* test_local.c — the local storage adapter through its vtable. */
#include "check.h"
#include "testutil.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static int count;
static int count_names(void *ud, const char *name, uint64_t size, struct mb_error *err)
{
    (void)ud; (void)size; (void)err;
    if (strstr(name, "job/") == name)
        count++;
    return 0;
}

static char seen_artifact[256], seen_upload[256];
static int count_incomplete(void *ud, const char *artifact, const char *upload, struct mb_error *err)
{
    (void)ud; (void)err;
    snprintf(seen_artifact, sizeof seen_artifact, "%s", artifact);
    snprintf(seen_upload, sizeof seen_upload, "%s", upload);
    count++;
    return 0;
}

/* Links planted in the storage: never read through, never listed. */
static void test_symlinks(const struct mb_storage_ops *ops, void *st, const char *root)
{
    char path[512], target[512];
    snprintf(target, sizeof target, "%s/outside", root);
    FILE *f = fopen(target, "w");
    fputs("secret", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/job/link.bin", root);
    CHECK(symlink(target, path) == 0, "a symbolic link is planted as an artifact");
    struct mb_error err = { { 0 } };
    struct mb_reader *r = ops->open_read(st, "job/link.bin", &err);
    CHECK(r == NULL && strstr(err.msg, "symbolic link") && strstr(err.msg, "job/link.bin"),
          "reading an artifact that is a symbolic link is refused, naming it (%s)", err.msg);
    if (r)
        r->close(r);
    snprintf(path, sizeof path, "%s/job/.link.bin.partial-abc123", root);
    CHECK(symlink(target, path) == 0, "and one as a temporary file");
    count = 0;
    ops->list(st, "job/", count_names, NULL, &err);
    CHECK(count == 0, "a symbolic link is not listed");
    count = 0;
    ops->list_incomplete(st, "job/", count_incomplete, NULL, &err);
    CHECK(count == 0, "nor listed as an incomplete upload");
    snprintf(path, sizeof path, "%s/job/dir.bin", root);
    mkdir(path, 0700);
    struct mb_error e2 = { { 0 } };
    CHECK(ops->open_read(st, "job/dir.bin", &e2) == NULL && strstr(e2.msg, "not a regular file"),
          "nor is anything but a regular file read (%s)", e2.msg);
    rmdir(path);
}

/* Writes cut short leave their temporary file; the storage lists and
 * removes it, and nothing that is not one. */
static void test_incomplete(const struct mb_storage_ops *ops, void *st)
{
    struct mb_error err = { { 0 } };
    struct mb_writer *w = ops->open_write(st, "job/b.bin", &err);
    w->write(w, "data", 4, &err);
    count = 0;
    CHECK(ops->version >= 2 && ops->list_incomplete(st, "job/", count_incomplete, NULL, &err) == 0
              && count == 1 && strcmp(seen_artifact, "job/b.bin") == 0
              && strncmp(seen_upload, "job/.b.bin.partial-", 19) == 0,
          "a write in progress is an incomplete upload of its artifact (%s, %s)", seen_artifact,
          seen_upload);
    struct mb_error e2 = { { 0 } };
    CHECK(mb_storage_remove_incomplete(ops, st, "job/other.bin", seen_upload, &e2) != 0
              && strstr(e2.msg, "not a temporary file"),
          "removing an incomplete upload refuses an upload that is not the artifact's (%s)", e2.msg);
    struct mb_error e3 = { { 0 } };
    CHECK(mb_storage_remove_incomplete(ops, st, "job/b.bin", "job/b.bin", &e3) != 0,
          "removing an incomplete upload refuses the artifact itself");
    CHECK(mb_storage_remove_incomplete(ops, st, "job/b.bin", seen_upload, &err) == 0, "removes the upload");
    count = 0;
    ops->list_incomplete(st, "job/", count_incomplete, NULL, &err);
    CHECK(count == 0, "which is gone from the listing");
    w->close(w);
}

int main(void)
{
    const struct mb_storage_ops *ops = mb_storage_find("local");
    CHECK(ops && ops->version == MB_STORAGE_OPS_VERSION, "the registry has the local storage");
    CHECK(mb_storage_find("nope") == NULL, "the registry refuses unknown types");

    char root[] = "/tmp/moonbak-local-XXXXXX";
    mkdtemp(root);
    struct mb_config cfg = { 0 };
    mb_config_set(&cfg, "path", root);
    struct mb_error err = { { 0 } };
    void *st = ops->open(&cfg, &err);
    CHECK(st && ops->check(st, &err) == 0, "opens and checks a directory");

    struct mb_writer *w = ops->open_write(st, "job/a.bin", &err);
    CHECK(w != NULL, "creates the job's directory on write");
    w->write(w, "data", 4, &err);
    count = 0;
    ops->list(st, "job/", count_names, NULL, &err);
    CHECK(count == 0, "an unfinished write is not listed");
    w->commit(w, &err);
    w->close(w);
    count = 0;
    ops->list(st, "job/", count_names, NULL, &err);
    CHECK(count == 1, "a committed write is listed");

    struct mb_reader *r = ops->open_read(st, "job/a.bin", &err);
    char buf[16];
    CHECK(r && r->read(r, buf, sizeof buf, &err) == 4 && memcmp(buf, "data", 4) == 0, "reads back what was written");
    if (r)
        r->close(r);

    struct mb_error e2 = { { 0 } };
    CHECK(ops->open_write(st, "../escape", &e2) == NULL && strstr(e2.msg, "unsafe"), "refuses names that leave the root");
    struct mb_error e3 = { { 0 } };
    CHECK(ops->open_read(st, "job/../../etc/passwd", &e3) == NULL && strstr(e3.msg, "unsafe"),
          "refuses .. inside a name (%s)", e3.msg);
    struct mb_error e4 = { { 0 } };
    CHECK(ops->open_read(st, "job/missing", &e4) == NULL && strstr(e4.msg, "job/missing"),
          "a missing object is an error naming it (%s)", e4.msg);
    CHECK(ops->remove(st, "job/a.bin", &err) == 0, "removes");
    count = 0;
    CHECK(ops->list(st, "nothing-here/", count_names, NULL, &err) == 0 && count == 0,
          "listing a prefix that does not exist is empty, not an error");

    test_incomplete(ops, st);
    test_symlinks(ops, st, root);

    ops->close(st);
    mb_config_free(&cfg);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    CHECK(system(cmd) == 0, "cleanup");
    return check_done();
}
