/* replay.c — runs a fuzz harness's entry point over its seed corpus and its
 * regressions without libFuzzer, so that the normal suite (tests/run.sh,
 * through build/tests/test_fuzz_NAME) checks every input ever found to
 * crash, with the normal compiler and no fuzzing.
 *
 *   test_fuzz_NAME [DIR|FILE ...]   default: tests/fuzz/corpus/NAME and
 *                                   tests/fuzz/regressions/NAME
 *
 * Each input runs in a child process, so a crash (a signal, an ASan report,
 * an abort() from the harness's own checks) is one "not ok" line naming the
 * file, and the other inputs still run. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FUZZ_NAME
#error "build with -DFUZZ_NAME='\"name\"'"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int failures, inputs;

static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, n;
    if (!f)
        return NULL;
    do {
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap = cap ? cap * 2 : 4096);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    *size = len;
    return buf;
}

/* The harness sees exactly the file's bytes, in a buffer of that size (so
 * ASan catches a read one past the end, as under libFuzzer). */
static void replay_file(const char *path)
{
    size_t size = 0;
    uint8_t *buf = read_all(path, &size);
    inputs++;
    if (!buf) {
        printf("not ok - fuzz %s: cannot read %s\n", FUZZ_NAME, path);
        failures++;
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        uint8_t *exact = malloc(size ? size : 1);
        memcpy(exact, buf, size);
        LLVMFuzzerTestOneInput(exact, size);
        free(exact);
        free(buf);
        _exit(0);
    }
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    free(buf);
    if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("ok - fuzz %s: %s runs cleanly\n", FUZZ_NAME, path);
        return;
    }
    failures++;
    if (pid < 0)
        printf("not ok - fuzz %s: %s: fork failed\n", FUZZ_NAME, path);
    else if (WIFSIGNALED(status))
        printf("not ok - fuzz %s: %s killed by signal %d\n", FUZZ_NAME, path, WTERMSIG(status));
    else
        printf("not ok - fuzz %s: %s exited with status %d\n", FUZZ_NAME, path,
               WEXITSTATUS(status));
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* A folder that does not exist has no inputs (regressions/NAME appears
 * with the first crash found); one that exists but is empty is fine too. */
static void replay_path(const char *path)
{
    struct stat st;
    struct dirent **names;
    if (stat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        replay_file(path);
        return;
    }
    int n = scandir(path, &names, NULL, by_name);
    for (int i = 0; i < n; i++) {
        char full[4096];
        if (names[i]->d_name[0] != '.' && strcmp(names[i]->d_name, "README.md") != 0) {
            snprintf(full, sizeof full, "%s/%s", path, names[i]->d_name);
            replay_file(full);
        }
        free(names[i]);
    }
    if (n >= 0)
        free(names);
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            replay_path(argv[i]);
    } else {
        replay_path("tests/fuzz/corpus/" FUZZ_NAME);
        replay_path("tests/fuzz/regressions/" FUZZ_NAME);
        if (inputs == 0) { /* run from the wrong folder: that must not pass */
            printf("not ok - fuzz %s: no seed corpus in tests/fuzz/corpus/%s\n", FUZZ_NAME,
                   FUZZ_NAME);
            failures++;
        }
    }
    printf("# fuzz %s: %d input(s) failed\n", FUZZ_NAME, failures);
    return failures ? 1 : 0;
}
