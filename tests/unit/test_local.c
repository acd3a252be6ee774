/* test_local.c — the local storage adapter through its vtable. */
#include "check.h"
#include "testutil.h"

#include <stdio.h>

static int count;
static int count_names(void *ud, const char *name, uint64_t size, struct mb_error *err)
{
    (void)ud; (void)size; (void)err;
    if (strstr(name, "job/") == name)
        count++;
    return 0;
}

int main(void)
{
    const struct mb_storage_ops *ops = mb_storage_find("local");
    CHECK(ops && ops->version == MB_STORAGE_OPS_VERSION, "the registry has the local storage");
    CHECK(mb_storage_find("nope") == NULL, "the registry refuses unknown types");

    char root[] = "/tmp/moonbak-local-XXXXXX";
    mkdtemp(root);
    struct mb_config cfg = { 0, NULL };
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

    ops->close(st);
    mb_config_free(&cfg);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    CHECK(system(cmd) == 0, "cleanup");
    return check_done();
}
