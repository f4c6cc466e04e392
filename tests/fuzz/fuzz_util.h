/* Shared by the libFuzzer targets whose parsers read files by path: the input
 * goes to a file in a per-process temporary folder (created once, removed at
 * exit), so that several fuzzers and ctest -j can run side by side. */
#ifndef VL_FUZZ_UTIL_H
#define VL_FUZZ_UTIL_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fz_dir[64];

static void fz_cleanup(void)
{
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_dir);
    if (system(cmd)) {
    }
}

/* The folder's path; creates it on first use. In /dev/shm when there is one:
 * on ext4 a file truncated and rewritten is flushed to disk on close
 * (auto_da_alloc), which held the file-reading targets to ~300 runs/s. */
static const char *fz_tmpdir(void)
{
    if (!fz_dir[0]) {
        snprintf(fz_dir, sizeof fz_dir, "%s/vl-fuzz-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(fz_dir))
            abort();
        atexit(fz_cleanup);
    }
    return fz_dir;
}

/* Writes data to NAME in the folder; returns the path (static buffer). */
static const char *fz_write(const char *name, const void *data, size_t size)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", fz_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f))
        abort();
    return path;
}
#endif
