/* The atomic writer (core/atomic.h) and the safetensors data checksum.
 *
 * - a writer that fails midway (a callback error, a write error from the file
 *   size limit, a read-only or missing folder) leaves no temporary file and no
 *   partial target: an existing target keeps its old bytes;
 * - the streamed writers built on it (safetensors, .npy) behave the same;
 * - the checksum written by vl_st_write_ex equals the one an independent
 *   Python writer computed (tests/fixtures/checksum/gen_checksum.py), and a
 *   file whose data was damaged afterwards is refused by name. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/atomic.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/safetensors.h"
#include "vidlstm.h"

static char dir[256];

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

/* Number of entries in dir whose name starts with prefix. */
static int count_prefix(const char *d, const char *prefix)
{
    DIR *dp = opendir(d);
    if (!dp)
        return -1;
    int c = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        c += !strncmp(e->d_name, prefix, strlen(prefix));
    closedir(dp);
    return c;
}

static int file_is(const char *path, const char *want)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char buf[256] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return n == strlen(want) && !memcmp(buf, want, n);
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

typedef struct {
    int fail_after; /* write this many bytes, then fail (-1: succeed) */
} cb_state;

static vl_status half_writer(FILE *f, void *user)
{
    cb_state *s = user;
    const char *text = "new content that is longer than the old";
    size_t n = strlen(text);
    if (s->fail_after >= 0) {
        fwrite(text, 1, (size_t)s->fail_after, f);
        fflush(f); /* the part is on disk in the temporary file */
        return vl_seterr(VL_ERR_IO, "simulated failure");
    }
    fwrite(text, 1, n, f);
    return VL_OK;
}

static void test_callback(void)
{
    char p[400];
    path_in(p, sizeof p, "cb.txt");
    put(p, "old");
    cb_state s = {.fail_after = 10};
    CHECK(vl_write_atomic(p, half_writer, &s) == VL_ERR_IO && strstr(vl_errmsg(), "simulated"), "failure passed on");
    CHECK(file_is(p, "old"), "the old target is untouched");
    CHECK(count_prefix(dir, "cb.txt.tmp") == 0, "no temporary file left");
    unlink(p);
    CHECK(vl_write_atomic(p, half_writer, &s) == VL_ERR_IO && access(p, F_OK) != 0, "no partial new target");
    CHECK(count_prefix(dir, "cb.txt") == 0, "nothing left at all");
    s.fail_after = -1;
    mode_t um = umask(022);
    CHECK(vl_write_atomic(p, half_writer, &s) == VL_OK && file_is(p, "new content that is longer than the old"),
          "success: %s", vl_errmsg());
    umask(um);
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0644, "mode 0666 less the umask: %o", st.st_mode & 0777);
    CHECK(count_prefix(dir, "cb.txt.tmp") == 0, "no temporary file after success");
    /* the FILE* style: abort */
    vl_atomic a;
    CHECK(vl_atomic_open(p, &a) == VL_OK && a.f, "open");
    fputs("partial", a.f);
    vl_atomic_abort(&a);
    CHECK(file_is(p, "new content that is longer than the old") && count_prefix(dir, "cb.txt.tmp") == 0,
          "abort leaves the target and no temporary file");
}

/* A write that fails in the middle of the data: the file size limit makes
 * write() fail with EFBIG (SIGXFSZ ignored) once 4 KB are in the file. */
static void test_write_error(void)
{
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    size_t n = 1 << 20;
    float *big = calloc(n, sizeof *big);
    char p[400], q[400], r[400];
    path_in(p, sizeof p, "big.bin");
    path_in(q, sizeof q, "big.safetensors");
    path_in(r, sizeof r, "big.npy");
    put(p, "old");
    put(q, "old");
    put(r, "old");
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
    vl_status s1 = vl_write_file_atomic(p, big, n * sizeof *big);
    char m1[512];
    snprintf(m1, sizeof m1, "%s", vl_errmsg());
    vl_st_entry e = {.name = "x", .dtype = VL_ST_F32, .ndim = 1, .shape = {(int64_t)n}, .data = big};
    vl_status s2 = vl_st_write_ex(q, &e, 1, NULL, NULL, 0, VL_ST_CHECKSUM);
    int64_t shape[1] = {(int64_t)n};
    vl_status s3 = vl_npy_write(r, VL_NPY_F32, 1, shape, big);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECK(s1 == VL_ERR_IO && strstr(m1, "big.bin"), "raw write fails naming the file: %s", m1);
    CHECK(s2 == VL_ERR_IO && s3 == VL_ERR_IO, "safetensors and npy writes fail (%d, %d)", s2, s3);
    CHECK(file_is(p, "old") && file_is(q, "old") && file_is(r, "old"), "the old targets are untouched");
    CHECK(count_prefix(dir, "big.") == 3, "no temporary files left (%d entries)", count_prefix(dir, "big."));
    free(big);
}

static void test_bad_folder(void)
{
    char p[400], ro[400], q[500];
    CHECK(vl_write_file_atomic("/nonexistent-vidlstm-dir/x.bin", "x", 1) == VL_ERR_IO &&
              strstr(vl_errmsg(), "/nonexistent-vidlstm-dir/x.bin"),
          "a missing folder: %s", vl_errmsg());
    path_in(p, sizeof p, "plain");
    put(p, "x");
    snprintf(q, sizeof q, "%s/x.bin", p);
    CHECK(vl_write_file_atomic(q, "x", 1) == VL_ERR_IO, "a folder that is a file: %s", vl_errmsg());
    path_in(ro, sizeof ro, "ro");
    mkdir(ro, 0755);
    snprintf(q, sizeof q, "%s/x.bin", ro);
    put(q, "old");
    chmod(ro, 0555);
    if (geteuid() == 0) {
        printf("(read-only folder: skipped, running as root, which writes anyway)\n");
    } else {
        CHECK(vl_write_file_atomic(q, "new", 3) == VL_ERR_IO && strstr(vl_errmsg(), "x.bin"), "read-only folder: %s",
              vl_errmsg());
        CHECK(file_is(q, "old") && count_prefix(ro, "x.bin.tmp") == 0, "old file kept, no temporary file");
    }
    chmod(ro, 0755);
    /* commit_file: a file written under a name of the caller's choosing */
    char t[500];
    snprintf(t, sizeof t, "%s/y.part", ro);
    put(t, "done");
    snprintf(q, sizeof q, "%s/y.bin", ro);
    CHECK(vl_atomic_commit_file(t, q) == VL_OK && file_is(q, "done") && access(t, F_OK) != 0, "commit_file");
    CHECK(vl_atomic_commit_file(t, q) == VL_ERR_IO && file_is(q, "done"), "commit_file of a missing temp fails");
}

/* What a killed writer leaves ("<path>.tmp", "<path>.tmp.<pid>.<n>") goes;
 * the target and look-alikes stay. */
static void test_remove_temps(void)
{
    char p[400], q[500];
    path_in(p, sizeof p, "rt.ckpt");
    put(p, "keep");
    const char *stale[] = {".tmp", ".tmp.123.4", ".tmp.9.0"}, *keep[] = {".tmpx", ".member2", ".member2.tmp.1.1"};
    for (int i = 0; i < 3; i++) {
        snprintf(q, sizeof q, "%s%s", p, stale[i]);
        put(q, "x");
        snprintf(q, sizeof q, "%s%s", p, keep[i]);
        put(q, "x");
    }
    CHECK(vl_atomic_remove_temps(p) == 3, "three stale temporary files removed");
    CHECK(count_prefix(dir, "rt.ckpt") == 4 && file_is(p, "keep"), "the rest kept (%d)", count_prefix(dir, "rt.ckpt"));
}

static void test_checksum(const char *fixdir)
{
    char fx[600], want[64] = "", p[400];
    snprintf(fx, sizeof fx, "%s/checksum.txt", fixdir);
    FILE *f = fopen(fx, "r");
    CHECK(f && fscanf(f, "%63s", want) == 1, "read %s", fx);
    if (f)
        fclose(f);
    snprintf(fx, sizeof fx, "%s/checksum.safetensors", fixdir);
    vl_st_file sf;
    CHECK(vl_st_read(fx, &sf) == VL_OK, "the Python-written file verifies: %s", vl_errmsg());
    CHECK(sf.ntensors == 4 && vl_st_meta(&sf, "data_checksum") && !strcmp(vl_st_meta(&sf, "data_checksum"), want),
          "fixture checksum");
    /* the same tensors written here: the same checksum */
    vl_st_entry e[4];
    for (int i = 0; i < sf.ntensors && i < 4; i++) {
        const vl_st_tensor *t = &sf.tensors[i];
        e[i] = (vl_st_entry){.name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
        memcpy(e[i].shape, t->shape, sizeof e[i].shape);
    }
    path_in(p, sizeof p, "sum.safetensors");
    const char *k[] = {"note"}, *v[] = {"checksum fixture"};
    CHECK(vl_st_write_ex(p, e, 4, k, v, 1, VL_ST_CHECKSUM) == VL_OK, "write: %s", vl_errmsg());
    const char *bad[] = {"data_checksum"};
    CHECK(vl_st_write_ex(p, e, 4, bad, v, 1, VL_ST_CHECKSUM) == VL_ERR_ARG, "the key is the writer's own");
    vl_st_free(&sf);
    vl_st_file g;
    CHECK(vl_st_read(p, &g) == VL_OK && vl_st_meta(&g, "data_checksum") &&
              !strcmp(vl_st_meta(&g, "data_checksum"), want),
          "C writer's checksum %s, Python's %s", vl_st_meta(&g, "data_checksum") ? vl_st_meta(&g, "data_checksum") : "-",
          want);
    size_t size = g.size;
    unsigned char *buf = malloc(size);
    memcpy(buf, g.buf, size);
    vl_st_free(&g);
    /* every data byte is covered: flip each in turn (a bit the header cannot catch) */
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | buf[i];
    int refused = 0, total = 0;
    for (size_t i = 8 + hl; i < size; i++, total++) {
        buf[i] ^= 0x01;
        vl_st_file h;
        vl_status st = vl_st_read_memory(buf, size, "damaged.safetensors", &h);
        refused += st == VL_ERR_FORMAT && strstr(vl_errmsg(), "damaged.safetensors: data checksum mismatch");
        if (!st)
            vl_st_free(&h);
        buf[i] ^= 0x01;
    }
    CHECK(total == 57 && refused == total, "%d of %d damaged bytes refused", refused, total);
    /* an unknown algorithm is refused, not ignored */
    char *s = memmem(buf, size, "w64fnv:", 7);
    if (s) {
        s[0] = 'x';
        vl_st_file h;
        CHECK(vl_st_read_memory(buf, size, "odd.safetensors", &h) == VL_ERR_FORMAT &&
                  strstr(vl_errmsg(), "unknown data checksum"),
              "unknown algorithm: %s", vl_errmsg());
    }
    free(buf);
}

int main(int argc, char **argv)
{
    snprintf(dir, sizeof dir, "%s/vl_atomic_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_callback();
    test_write_error();
    test_bad_folder();
    test_remove_temps();
    test_checksum(argc > 1 ? argv[1] : "tests/fixtures/checksum");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
