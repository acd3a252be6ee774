/* fileio.c — atomic file writer and plain file reader. */
#include "fileio.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writeback starts every WRITEBACK_STEP bytes (sync_file_range), so the
 * disk works while the pipeline still computes and the fsync at commit
 * finds little left to do. */
#define WRITEBACK_STEP (8 << 20)

struct file_writer {
    struct mb_writer base;
    int fd;           /* -1 once closed */
    int committed;
    off_t written, flushed; /* bytes written; bytes handed to writeback */
    char *path;       /* final name */
    char *temp_path;  /* hidden name while writing; unlinked on abort */
};

static int fsync_parent(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int file_write(struct mb_writer *w, const void *buf, size_t len, struct mb_error *err)
{
    struct file_writer *f = (struct file_writer *)w;
    if (mb_write_all(f->fd, buf, len) != 0) {
        mb_error_errno(err, "cannot write %s", f->path);
        return -1;
    }
    f->written += (off_t)len;
    if (f->written - f->flushed >= WRITEBACK_STEP) {
        /* only starts the writeback; errors surface at the fsync of commit */
        sync_file_range(f->fd, f->flushed, f->written - f->flushed, SYNC_FILE_RANGE_WRITE);
        f->flushed = f->written;
    }
    return 0;
}

static int file_commit(struct mb_writer *w, struct mb_error *err)
{
    struct file_writer *f = (struct file_writer *)w;
    if (fsync(f->fd) != 0) {
        mb_error_errno(err, "cannot flush %s to disk", f->path);
        return -1;
    }
    int rc = close(f->fd);
    f->fd = -1;
    if (rc != 0) {
        mb_error_errno(err, "cannot close %s", f->path);
        return -1;
    }
    if (rename(f->temp_path, f->path) != 0) {
        mb_error_errno(err, "cannot rename %s to %s", f->temp_path, f->path);
        return -1;
    }
    f->committed = 1;
    if (fsync_parent(f->path) != 0) {
        /* not durable, so not done: nothing stays under the final name */
        mb_error_errno(err, "cannot flush the directory of %s", f->path);
        unlink(f->path);
        return -1;
    }
    return 0;
}

static void file_abort(struct mb_writer *w)
{
    struct file_writer *f = (struct file_writer *)w;
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    if (!f->committed && f->temp_path)
        unlink(f->temp_path);
}

static void file_writer_close(struct mb_writer *w)
{
    struct file_writer *f = (struct file_writer *)w;
    if (!f)
        return;
    if (!f->committed)
        file_abort(w);
    free(f->path);
    free(f->temp_path);
    free(f);
}

struct mb_writer *mb_file_writer_open(const char *path, struct mb_error *err)
{
    return mb_file_writer_open_mode(path, 0600, err);
}

struct mb_writer *mb_file_writer_open_mode(const char *path, mode_t mode, struct mb_error *err)
{
    struct file_writer *f = calloc(1, sizeof *f);
    char *dir = strdup(path);
    if (!f || !dir) {
        free(f);
        free(dir);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    f->base = (struct mb_writer){ file_write, file_commit, file_abort, file_writer_close };
    f->fd = -1;
    char *base = strdup(path);
    f->path = strdup(path);
    f->temp_path = base ? mb_strdup_printf("%s/.%s.partial-XXXXXX", dirname(dir), basename(base))
                        : NULL;
    free(base);
    free(dir);
    if (!f->path || !f->temp_path) {
        file_writer_close(&f->base);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    f->fd = mkostemp(f->temp_path, O_CLOEXEC);
    if (f->fd < 0) {
        mb_error_errno(err, "cannot create %s", f->path);
        free(f->temp_path);
        f->temp_path = NULL; /* nothing to unlink */
        file_writer_close(&f->base);
        return NULL;
    }
    fchmod(f->fd, mode);
    return &f->base;
}

struct fd_reader {
    struct mb_reader base;
    int fd;
    char *label;
};

static ssize_t fd_read(struct mb_reader *r, void *buf, size_t len, struct mb_error *err)
{
    struct fd_reader *f = (struct fd_reader *)r;
    for (;;) {
        ssize_t n = read(f->fd, buf, len);
        if (n >= 0)
            return n;
        if (errno != EINTR) {
            mb_error_errno(err, "cannot read %s", f->label);
            return -1;
        }
    }
}

static void fd_close(struct mb_reader *r)
{
    struct fd_reader *f = (struct fd_reader *)r;
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    mb_config_free(&f->base.meta);
    free(f->label);
    free(f);
}

struct mb_reader *mb_fd_reader_new(int fd, const char *label, struct mb_error *err)
{
    struct fd_reader *f = calloc(1, sizeof *f);
    char *copy = strdup(label);
    if (!f || !copy) {
        free(f);
        free(copy);
        close(fd);
        mb_error_set(err, "out of memory");
        return NULL;
    }
    f->base.read = fd_read;
    f->base.close = fd_close;
    f->fd = fd;
    f->label = copy;
    return &f->base;
}

struct mb_reader *mb_file_reader_open(const char *path, struct mb_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        mb_error_errno(err, "cannot open %s", path);
        return NULL;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return mb_fd_reader_new(fd, path, err);
}

struct mb_reader *mb_file_reader_open_regular(const char *path, struct mb_error *err)
{
    /* O_NONBLOCK: a FIFO planted at path must not hang the open */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && errno == ELOOP) {
        mb_error_set(err, "refusing to open %s: it is a symbolic link", path);
        return NULL;
    }
    if (fd < 0) {
        mb_error_errno(err, "cannot open %s", path);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)
        || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        mb_error_set(err, "refusing to open %s: not a regular file", path);
        close(fd);
        return NULL;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return mb_fd_reader_new(fd, path, err);
}

/* ---- temporary names ------------------------------------------------------ */

#define TEMP_MARK ".partial-"
#define TEMP_SUFFIX_LEN 6 /* mkostemp's XXXXXX, mb_remote_temp_name's six */

char *mb_temp_name_target(const char *base)
{
    size_t hidden = base[0] == '.', n = strlen(base), mark = strlen(TEMP_MARK);
    if (n < hidden + 1 + mark + TEMP_SUFFIX_LEN)
        return NULL;
    const char *suffix = base + n - TEMP_SUFFIX_LEN;
    if (strncmp(suffix - mark, TEMP_MARK, mark) != 0)
        return NULL;
    for (const char *p = suffix; *p; p++)
        if (!isalnum((unsigned char)*p))
            return NULL;
    return mb_strdup_printf("%.*s", (int)(suffix - mark - base - hidden), base + hidden);
}

/* Splits at the last '/': the directory's length (with its '/') and the base. */
static const char *split_base(const char *name, size_t *dir_len)
{
    const char *slash = strrchr(name, '/');
    *dir_len = slash ? (size_t)(slash + 1 - name) : 0;
    return slash ? slash + 1 : name;
}

int mb_temp_name_is_for(const char *upload, const char *artifact)
{
    size_t upload_dir, artifact_dir;
    const char *upload_base = split_base(upload, &upload_dir);
    const char *artifact_base = split_base(artifact, &artifact_dir);
    if (upload_dir != artifact_dir || strncmp(upload, artifact, upload_dir) != 0)
        return 0;
    char *target = mb_temp_name_target(upload_base);
    int same = target && strcmp(target, artifact_base) == 0;
    free(target);
    return same;
}

int mb_temp_names_each(void *ud, const char *name, uint64_t size, struct mb_error *err)
{
    (void)size;
    struct mb_temp_names *t = ud;
    size_t dir_len;
    char *target = mb_temp_name_target(split_base(name, &dir_len));
    if (!target)
        return 0; /* hidden, but not ours */
    char *artifact = mb_strdup_printf("%.*s%s", (int)dir_len, name, target);
    free(target);
    if (!artifact) {
        mb_error_set(err, "out of memory");
        return -1;
    }
    int rc = t->each(t->ud, artifact, name, err);
    free(artifact);
    return rc;
}
