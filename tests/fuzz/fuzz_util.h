/* Shared by the libFuzzer targets whose parsers read files by path: the input
 * goes to a file in a temporary folder of the run's own. */
#ifndef VL_FUZZ_UTIL_H
#define VL_FUZZ_UTIL_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fz_dir[4096];

static void fz_cleanup(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_dir);
    if (system(cmd)) {
    }
}

/* The folder's path. run_fuzz.sh names one in the build tree
 * (VL_FUZZ_TMPDIR), the same on every run: the parsers compare paths, and
 * libFuzzer feeds compared strings back into its mutations, so a random name
 * made two runs from the same seed explore different inputs. Without it, a
 * fresh folder in /dev/shm or /tmp, removed at exit. */
static const char *fz_tmpdir(void)
{
    if (!fz_dir[0]) {
        const char *e = getenv("VL_FUZZ_TMPDIR");
        if (e && *e) {
            snprintf(fz_dir, sizeof fz_dir, "%s", e);
        } else {
            snprintf(fz_dir, sizeof fz_dir, "%s/vl-fuzz-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
            if (!mkdtemp(fz_dir))
                abort();
            atexit(fz_cleanup);
        }
    }
    return fz_dir;
}

/* Writes data to NAME in the folder; returns the path (static buffer). The
 * old file is unlinked first: on ext4 a file truncated and rewritten is
 * flushed to disk on close (auto_da_alloc), which held the targets to ~300
 * runs/s. */
static const char *fz_write(const char *name, const void *data, size_t size)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", fz_tmpdir(), name);
    unlink(path);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f))
        abort();
    return path;
}
#endif
