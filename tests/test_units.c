/* Unit tests of the building blocks and of the API's contracts:
 * - .npy: round trips (float32/int32, 0-D, 1-D, 3-D, empty), a numpy-compatible
 *   header (64-byte aligned, numpy's exact dict text), float64/int64 narrowing,
 *   reading numpy-written fixtures, and every error (missing file, bad magic,
 *   truncated header/data, Fortran order, unsupported dtypes, int64 overflow,
 *   unwritable path), each with the right vl_status and the path in vl_errmsg();
 * - vl_pack_plan (perm, bs, off, stability, range errors, capacity reuse) and
 *   vl_pack_rows/vl_unpack_rows;
 * - vl_rng (pinned stream, determinism, ranges, moments);
 * - dropout (mask values, drop rate, backward), vl_softmax_xent (hand values,
 *   class weights, gradient, large logits) and vl_mse;
 * - clipping (global l2norm with thr/(norm+1e-6), per-tensor l2norm, absolute
 *   value) on hand-set gradients, through vl_clip_grads and vl_optim_step;
 * - vl_schedule_lr (piecewise, cosine) and vl_optim_set_epoch;
 * - live weights (writes through a held vl_param pointer take effect) and
 *   workspace reuse across batch shapes;
 * - error paths of vl_net_create, vl_net_forward_backward, vl_net_input_grads
 *   and vl_optim_create;
 * - determinism (same seed + dropout + Adam -> bit-identical weights);
 * - variable-length invariance (a sequence's output in a batch equals its
 *   output alone; garbage at padded steps changes nothing, bit for bit). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/npy.h"
#include "core/outpath.h"
#include "core/rng.h"
#include "model/layers_table.h"
#include "nn/layers.h"
#include "nn/pack.h"
#include "optim/optim.h"
#include "vidlstm.h"

static char tmpdir[256];

/* ---- helpers ---------------------------------------------------------------------- */

static uint64_t trng = 0x9E3779B97F4A7C15ULL;
static uint32_t tnext(void)
{
    trng ^= trng << 13;
    trng ^= trng >> 7;
    trng ^= trng << 17;
    return (uint32_t)(trng >> 32);
}
static float tunif(float lo, float hi) { return lo + (hi - lo) * (float)(tnext() >> 8) * (1.0f / 16777216.0f); }

static void tpath(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", tmpdir, name); }

static int errmsg_has(const char *s) { return strstr(vl_errmsg(), s) != NULL; }

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Writes a .npy v1.0 file by hand: header dict `dict` padded with spaces and
 * '\n' so that 10 + header length is a multiple of 64, then `nbytes` of data. */
static void write_raw(const char *path, const char *magic6, const char *dict, const void *data, size_t nbytes)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t dl = strlen(dict), hl = dl + 1;
    while ((10 + hl) % 64)
        hl++;
    unsigned char pre[10];
    memcpy(pre, magic6, 6);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(hl & 255);
    pre[9] = (unsigned char)(hl >> 8);
    fwrite(pre, 1, 10, f);
    fwrite(dict, 1, dl, f);
    for (size_t i = dl; i + 1 < hl; i++)
        fputc(' ', f);
    fputc('\n', f);
    if (nbytes)
        fwrite(data, 1, nbytes, f);
    fclose(f);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    if (n)
        fwrite(data, 1, n, f);
    fclose(f);
}

/* ---- npy ---------------------------------------------------------------------------- */

/* Checks the header of a file vl_npy_write made against what numpy writes. */
static void check_header(const char *path, const char *descr, const char *shape, size_t nbytes)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "%s: cannot reopen", path);
    if (!f)
        return;
    unsigned char pre[10];
    char hdr[1024] = {0};
    size_t got = fread(pre, 1, 10, f);
    CHECK(got == 10 && memcmp(pre, "\x93NUMPY", 6) == 0, "%s: magic", path);
    CHECK(pre[6] == 1 && pre[7] == 0, "%s: version %d.%d, want 1.0", path, pre[6], pre[7]);
    size_t hl = (size_t)pre[8] | ((size_t)pre[9] << 8);
    CHECK((10 + hl) % 64 == 0, "%s: 10 + header length %zu is not a multiple of 64", path, hl);
    CHECK(hl < sizeof hdr && fread(hdr, 1, hl, f) == hl, "%s: header length %zu", path, hl);
    fclose(f);
    CHECK(hl > 0 && hdr[hl - 1] == '\n', "%s: header does not end with a newline", path);
    char want[256];
    snprintf(want, sizeof want, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    CHECK(strncmp(hdr, want, strlen(want)) == 0, "%s: header '%.*s', want '%s'", path, (int)strlen(want), hdr, want);
    /* the rest of the header is padding */
    int pad_ok = 1;
    for (size_t i = strlen(want); i + 1 < hl; i++)
        pad_ok &= hdr[i] == ' ';
    CHECK(pad_ok, "%s: header padding is not spaces", path);
    CHECK(file_size(path) == (long)(10 + hl + nbytes), "%s: file size %ld, want %zu", path, file_size(path),
          10 + hl + nbytes);
}

static void npy_roundtrip(const char *name, vl_npy_dtype dt, int ndim, const int64_t *shape, const char *descr,
                          const char *shape_txt)
{
    char path[512];
    tpath(path, sizeof path, name);
    int64_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= shape[i];
    void *data = malloc(4 * (size_t)(count ? count : 1));
    for (int64_t i = 0; i < count; i++) {
        if (dt == VL_NPY_F32)
            ((float *)data)[i] = tunif(-1e3f, 1e3f);
        else
            ((int32_t *)data)[i] = (int32_t)tnext();
    }
    if (dt == VL_NPY_F32 && count >= 4) { /* special values survive too */
        ((float *)data)[0] = -0.0f;
        ((float *)data)[1] = INFINITY;
        ((float *)data)[2] = 1e-40f; /* subnormal */
        ((float *)data)[3] = NAN;
    }
    if (dt == VL_NPY_I32 && count >= 2) {
        ((int32_t *)data)[0] = INT32_MIN;
        ((int32_t *)data)[1] = INT32_MAX;
    }
    vl_status st = vl_npy_write(path, dt, ndim, shape, data);
    CHECK(st == VL_OK, "%s: write: %s", name, vl_errmsg());
    check_header(path, descr, shape_txt, 4 * (size_t)count);
    vl_npy a;
    st = vl_npy_read(path, &a);
    CHECK(st == VL_OK, "%s: read: %s", name, vl_errmsg());
    if (st == VL_OK) {
        CHECK(a.dtype == dt, "%s: dtype %d", name, (int)a.dtype);
        CHECK(a.ndim == ndim, "%s: ndim %d, want %d", name, a.ndim, ndim);
        int same_shape = a.ndim == ndim;
        for (int i = 0; same_shape && i < ndim; i++)
            same_shape = a.shape[i] == shape[i];
        CHECK(same_shape, "%s: shape differs", name);
        CHECK(a.count == count, "%s: count %lld, want %lld", name, (long long)a.count, (long long)count);
        CHECK(a.count != count || count == 0 || memcmp(a.data, data, 4 * (size_t)count) == 0, "%s: data differs",
              name);
        vl_npy_free(&a);
        CHECK(a.data == NULL, "vl_npy_free leaves data set");
    }
    free(data);
}

static void test_npy(void)
{
    int64_t s1[1] = {7}, s3[3] = {2, 3, 4}, s0[1] = {0};
    npy_roundtrip("f1.npy", VL_NPY_F32, 1, s1, "<f4", "(7,)");
    npy_roundtrip("f3.npy", VL_NPY_F32, 3, s3, "<f4", "(2, 3, 4)");
    npy_roundtrip("i1.npy", VL_NPY_I32, 1, s1, "<i4", "(7,)");
    npy_roundtrip("i3.npy", VL_NPY_I32, 3, s3, "<i4", "(2, 3, 4)");
    npy_roundtrip("empty.npy", VL_NPY_F32, 1, s0, "<f4", "(0,)");
    npy_roundtrip("scalar.npy", VL_NPY_F32, 0, NULL, "<f4", "()");

    /* overwrite in place (atomic rename over an existing file); cleanup() checks
     * that no temp file is left behind */
    {
        char path[512];
        tpath(path, sizeof path, "f1.npy");
        float v[2] = {1.5f, -2.5f};
        int64_t sh[1] = {2};
        CHECK(vl_npy_write(path, VL_NPY_F32, 1, sh, v) == VL_OK, "overwrite: %s", vl_errmsg());
        vl_npy a;
        CHECK(vl_npy_read(path, &a) == VL_OK && a.count == 2 && ((float *)a.data)[1] == -2.5f, "overwrite read");
        vl_npy_free(&a);
    }

    /* float64 and int64 are narrowed */
    {
        char path[512];
        double d[3] = {0.1, -2.5, 1e10};
        tpath(path, sizeof path, "f8.npy");
        write_raw(path, "\x93NUMPY", "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", d, sizeof d);
        vl_npy a;
        vl_status st = vl_npy_read(path, &a);
        CHECK(st == VL_OK, "f8: %s", vl_errmsg());
        if (st == VL_OK) {
            float *f = a.data;
            CHECK(a.dtype == VL_NPY_F32 && a.count == 3 && f[0] == (float)0.1 && f[1] == -2.5f && f[2] == 1e10f,
                  "f8 narrowing");
            vl_npy_free(&a);
        }
        int64_t q[4] = {0, -1, INT32_MAX, INT32_MIN};
        tpath(path, sizeof path, "i8.npy");
        write_raw(path, "\x93NUMPY", "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", q, sizeof q);
        st = vl_npy_read(path, &a);
        CHECK(st == VL_OK, "i8: %s", vl_errmsg());
        if (st == VL_OK) {
            int32_t *v = a.data;
            CHECK(a.dtype == VL_NPY_I32 && a.ndim == 2 && a.count == 4 && v[0] == 0 && v[1] == -1 &&
                      v[2] == INT32_MAX && v[3] == INT32_MIN,
                  "i8 narrowing");
            vl_npy_free(&a);
        }
    }

    /* files numpy wrote (the PyTorch fixtures) */
    {
        vl_npy a;
        vl_status st = vl_npy_read("tests/fixtures/lstm1_last_cls/x.npy", &a);
        CHECK(st == VL_OK, "numpy-written fixture: %s", vl_errmsg());
        if (st == VL_OK) {
            CHECK(a.dtype == VL_NPY_F32 && a.ndim == 3 && a.count == a.shape[0] * a.shape[1] * a.shape[2],
                  "fixture x.npy: dtype %d ndim %d", (int)a.dtype, a.ndim);
            vl_npy_free(&a);
        }
        st = vl_npy_read("tests/fixtures/lstm1_last_cls/lengths.npy", &a);
        CHECK(st == VL_OK && a.dtype == VL_NPY_I32 && a.ndim == 1, "fixture lengths.npy: %s", vl_errmsg());
        if (st == VL_OK)
            vl_npy_free(&a);
    }

    /* errors: each names the file */
    char path[512];
    vl_npy a;
    float four[4] = {1, 2, 3, 4};
#define EXPECT_ERR(code, what)                                                                              \
    do {                                                                                                    \
        memset(&a, 0x5a, sizeof a);                                                                         \
        vl_status st_ = vl_npy_read(path, &a);                                                              \
        CHECK(st_ == (code), "%s: status %s, want %s (%s)", what, vl_status_str(st_), vl_status_str(code),  \
              vl_errmsg());                                                                                 \
        CHECK(errmsg_has(path), "%s: message '%s' does not name the file", what, vl_errmsg());             \
        CHECK(a.data == NULL, "%s: data not NULL after a failure", what);                                   \
        if (st_ == VL_OK)                                                                                   \
            vl_npy_free(&a);                                                                                \
    } while (0)

    tpath(path, sizeof path, "missing.npy");
    EXPECT_ERR(VL_ERR_IO, "missing file");

    tpath(path, sizeof path, "badmagic.npy");
    write_raw(path, "\x93NUMPX", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four, sizeof four);
    EXPECT_ERR(VL_ERR_FORMAT, "bad magic");

    tpath(path, sizeof path, "text.npy");
    write_bytes(path, "hello, world\n", 13);
    EXPECT_ERR(VL_ERR_FORMAT, "not npy at all");

    tpath(path, sizeof path, "empty_file.npy");
    write_bytes(path, "", 0);
    EXPECT_ERR(VL_ERR_FORMAT, "empty file");

    tpath(path, sizeof path, "trunc_data.npy");
    write_raw(path, "\x93NUMPY", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four, 10);
    EXPECT_ERR(VL_ERR_FORMAT, "truncated data");

    tpath(path, sizeof path, "trunc_hdr.npy");
    {
        unsigned char b[30] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 118, 0};
        memcpy(b + 10, "{'descr': '<f4',", 16);
        write_bytes(path, b, 26);
    }
    EXPECT_ERR(VL_ERR_FORMAT, "truncated header");

    /* Fortran order (numpy saves a transposed array so): read back row-major.
     * A (2, 3) array a[i][j] = 10 i + j stored column-major, and a (2, 3, 2)
     * one a[i][j][k] = 100 i + 10 j + k, in float64 (narrowed) */
    {
        vl_npy fa;
        const float cm[6] = {0, 10, 1, 11, 2, 12};
        tpath(path, sizeof path, "fortran.npy");
        write_raw(path, "\x93NUMPY", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", cm, sizeof cm);
        vl_status fs = vl_npy_read(path, &fa);
        int ok = fs == VL_OK && fa.ndim == 2 && fa.shape[0] == 2 && fa.shape[1] == 3;
        for (int i = 0; ok && i < 2; i++)
            for (int j = 0; j < 3; j++)
                ok &= ((float *)fa.data)[i * 3 + j] == (float)(10 * i + j);
        CHECK(ok, "Fortran-ordered (2, 3) float32 read row-major: %s", fs ? vl_errmsg() : "values");
        if (fs == VL_OK)
            vl_npy_free(&fa);
        double cm3[12];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 2; k++)
                    cm3[i + 2 * j + 6 * k] = 100 * i + 10 * j + k;
        write_raw(path, "\x93NUMPY", "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3, 2), }", cm3, sizeof cm3);
        fs = vl_npy_read(path, &fa);
        ok = fs == VL_OK && fa.ndim == 3;
        for (int i = 0; ok && i < 12; i++)
            ok &= ((float *)fa.data)[i] == (float)(100 * (i / 6) + 10 * ((i / 2) % 3) + i % 2);
        CHECK(ok, "Fortran-ordered (2, 3, 2) float64 read row-major: %s", fs ? vl_errmsg() : "values");
        if (fs == VL_OK)
            vl_npy_free(&fa);
    }
    tpath(path, sizeof path, "noorder.npy");
    write_raw(path, "\x93NUMPY", "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 2), }", four, sizeof four);
    EXPECT_ERR(VL_ERR_FORMAT, "no valid fortran_order");

    tpath(path, sizeof path, "f2.npy");
    write_raw(path, "\x93NUMPY", "{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }", four, 8);
    EXPECT_ERR(VL_ERR_FORMAT, "float16");

    tpath(path, sizeof path, "bigendian.npy");
    write_raw(path, "\x93NUMPY", "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", four, sizeof four);
    EXPECT_ERR(VL_ERR_FORMAT, "big-endian float32");

    tpath(path, sizeof path, "u1.npy");
    write_raw(path, "\x93NUMPY", "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", four, 4);
    EXPECT_ERR(VL_ERR_FORMAT, "uint8");

    tpath(path, sizeof path, "i8big.npy");
    {
        int64_t q[2] = {1, (int64_t)INT32_MAX + 1};
        write_raw(path, "\x93NUMPY", "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", q, sizeof q);
    }
    EXPECT_ERR(VL_ERR_FORMAT, "int64 out of int32 range");

    tpath(path, sizeof path, "noshape.npy");
    write_raw(path, "\x93NUMPY", "{'descr': '<f4', 'fortran_order': False, }", four, sizeof four);
    EXPECT_ERR(VL_ERR_FORMAT, "no shape");
#undef EXPECT_ERR

    /* writing into a folder that does not exist */
    tpath(path, sizeof path, "no/such/folder/x.npy");
    int64_t sh[1] = {4};
    vl_status st = vl_npy_write(path, VL_NPY_F32, 1, sh, four);
    CHECK(st == VL_ERR_IO, "write to a missing folder: %s", vl_status_str(st));
    CHECK(errmsg_has(path), "write error '%s' does not name the file", vl_errmsg());
}

/* ---- packing -------------------------------------------------------------------------- */

static void test_pack(void)
{
    vl_pack p;
    memset(&p, 0, sizeof p);
    int32_t len[3] = {2, 7, 5};
    vl_status st = vl_pack_plan(&p, 3, 7, len);
    CHECK(st == VL_OK, "pack [2,7,5]: %s", vl_errmsg());
    int perm[3] = {1, 2, 0}, slen[3] = {7, 5, 2}, bs[7] = {3, 3, 2, 2, 2, 1, 1}, off[8] = {0, 3, 6, 8, 10, 12, 13, 14};
    CHECK(p.B == 3 && p.T == 7 && p.N == 14, "B %d T %d N %d, want 3 7 14", p.B, p.T, p.N);
    CHECK(!memcmp(p.perm, perm, sizeof perm), "perm %d %d %d, want 1 2 0", p.perm[0], p.perm[1], p.perm[2]);
    CHECK(!memcmp(p.len, slen, sizeof slen), "sorted lengths");
    CHECK(!memcmp(p.bs, bs, sizeof bs), "bs %d %d %d %d %d %d %d", p.bs[0], p.bs[1], p.bs[2], p.bs[3], p.bs[4],
          p.bs[5], p.bs[6]);
    CHECK(!memcmp(p.off, off, sizeof off), "off");
    CHECK(vl_pack_row(&p, 4, 1) == 11, "row of slot 1 at step 4: %d", vl_pack_row(&p, 4, 1));

    /* pack / unpack: padded steps are never read and come back as zeros */
    const int D = 2, T = 7;
    float x[3 * 7 * 2], packed[14 * 2], y[3 * 7 * 2];
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < T; t++)
            for (int d = 0; d < D; d++)
                x[(b * T + t) * D + d] = t < len[b] ? (float)(100 * b + 10 * t + d) : NAN;
    vl_pack_rows(&p, T, D, x, packed);
    int ok = 1;
    for (int t = 0; t < p.T; t++)
        for (int j = 0; j < p.bs[t]; j++)
            for (int d = 0; d < D; d++)
                ok &= packed[(p.off[t] + j) * D + d] == (float)(100 * p.perm[j] + 10 * t + d);
    CHECK(ok, "vl_pack_rows places rows wrongly");
    memset(y, 0xff, sizeof y);
    vl_unpack_rows(&p, T, D, packed, y);
    ok = 1;
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < T; t++)
            for (int d = 0; d < D; d++)
                ok &= y[(b * T + t) * D + d] == (t < len[b] ? x[(b * T + t) * D + d] : 0.0f);
    CHECK(ok, "vl_unpack_rows is not the inverse with zero padding");

    /* stable for equal lengths */
    int32_t eq[4] = {3, 5, 3, 5};
    CHECK(vl_pack_plan(&p, 4, 5, eq) == VL_OK, "%s", vl_errmsg());
    CHECK(p.perm[0] == 1 && p.perm[1] == 3 && p.perm[2] == 0 && p.perm[3] == 2, "stable order: %d %d %d %d",
          p.perm[0], p.perm[1], p.perm[2], p.perm[3]);
    CHECK(p.N == 16 && p.T == 5 && p.bs[2] == 4 && p.bs[3] == 2, "N %d bs[2] %d bs[3] %d", p.N, p.bs[2], p.bs[3]);

    /* growing and shrinking reuse the arrays */
    int32_t big[9] = {1, 9, 4, 4, 2, 8, 3, 9, 5};
    CHECK(vl_pack_plan(&p, 9, 12, big) == VL_OK, "%s", vl_errmsg());
    CHECK(p.N == 45 && p.T == 9 && p.off[9] == 45 && p.bs[0] == 9 && p.bs[8] == 2, "9-sequence plan");
    int32_t one[1] = {1};
    CHECK(vl_pack_plan(&p, 1, 1, one) == VL_OK && p.N == 1 && p.T == 1 && p.bs[0] == 1, "1x1 plan");

    /* out of range */
    int32_t bad0[3] = {2, 0, 5}, bad8[3] = {2, 8, 5}, badneg[3] = {-1, 2, 3};
    st = vl_pack_plan(&p, 3, 7, bad0);
    CHECK(st == VL_ERR_SHAPE, "length 0: %s", vl_status_str(st));
    st = vl_pack_plan(&p, 3, 7, bad8);
    CHECK(st == VL_ERR_SHAPE, "length > tmax: %s", vl_status_str(st));
    CHECK(errmsg_has("sequence 1") && errmsg_has("8"), "message '%s' names neither the sequence nor the length",
          vl_errmsg());
    st = vl_pack_plan(&p, 3, 7, badneg);
    CHECK(st == VL_ERR_SHAPE, "negative length: %s", vl_status_str(st));
    st = vl_pack_plan(&p, 0, 7, len);
    CHECK(st != VL_OK, "batch 0 accepted");
    st = vl_pack_plan(&p, 3, 0, len);
    CHECK(st != VL_OK, "tmax 0 accepted");
    vl_pack_free(&p);
    vl_pack_free(&p); /* idempotent */
}

/* ---- rng, dropout, losses ------------------------------------------------------------------ */

static void test_rng(void)
{
    vl_rng a, b;
    /* pinned stream: xoshiro256** seeded through splitmix64 (reference values from a
     * straight transcription of the published algorithms) */
    vl_rng_seed(&a, 42);
    uint64_t r0 = vl_rng_next(&a), r1 = vl_rng_next(&a), r2 = vl_rng_next(&a);
    CHECK(r0 == 0x15780b2e0c2ec716ULL && r1 == 0x6104d9866d113a7eULL && r2 == 0xae17533239e499a1ULL,
          "seed 42 stream %016llx %016llx %016llx", (unsigned long long)r0, (unsigned long long)r1,
          (unsigned long long)r2);
    vl_rng_seed(&a, 0);
    CHECK(vl_rng_next(&a) == 0x99ec5f36cb75f2b4ULL, "seed 0 stream");

    vl_rng_seed(&a, 7);
    vl_rng_seed(&b, 7);
    int same = 1;
    for (int i = 0; i < 1000; i++)
        same &= vl_rng_next(&a) == vl_rng_next(&b);
    CHECK(same, "same seed, different streams");
    vl_rng_seed(&b, 8);
    int diff = 0;
    for (int i = 0; i < 10; i++)
        diff += vl_rng_next(&a) != vl_rng_next(&b);
    CHECK(diff == 10, "seeds 7 and 8 share values");

    vl_rng_seed(&a, 123);
    double su = 0, sn = 0, sn2 = 0;
    int in_range = 1, below_ok = 1;
    float lo_hi_ok = 1;
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        float u = vl_rng_uniform(&a);
        in_range &= u >= 0.0f && u < 1.0f;
        su += u;
        double z = vl_rng_normal(&a);
        sn += z;
        sn2 += z * z;
        below_ok &= vl_rng_below(&a, 10) < 10;
        float r = vl_rng_uniform_range(&a, -2.0f, 3.0f);
        lo_hi_ok = lo_hi_ok && r >= -2.0f && r < 3.0f;
    }
    CHECK(in_range, "uniform outside [0, 1)");
    CHECK(lo_hi_ok, "uniform_range outside [lo, hi)");
    CHECK(below_ok, "below(10) out of range");
    /* 1e5 samples: standard errors 9e-4 (uniform mean), 3e-3 (normal mean), 4.5e-3 (normal variance) */
    CHECK(fabs(su / n - 0.5) < 5e-3, "uniform mean %.4f", su / n);
    CHECK(fabs(sn / n) < 0.02, "normal mean %.4f", sn / n);
    CHECK(fabs(sn2 / n - 1.0) < 0.03, "normal variance %.4f", sn2 / n);
    CHECK(vl_rng_below(&a, 1) == 0 && vl_rng_below(&a, 0) == 0, "below(1), below(0)");
}

static void test_dropout(void)
{
    const size_t n = 100000;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n), *m = malloc(sizeof(float) * n);
    const float ps[3] = {0.3f, 0.5f, 0.0f};
    for (int k = 0; k < 3; k++) {
        float p = ps[k];
        for (size_t i = 0; i < n; i++)
            x[i] = tunif(-1.0f, 1.0f);
        vl_rng r;
        vl_rng_seed(&r, 99);
        vl_dropout_forward(n, p, &r, x, y, m);
        const float keep = 1.0f / (1.0f - p);
        size_t dropped = 0;
        int vals_ok = 1, y_ok = 1;
        for (size_t i = 0; i < n; i++) {
            vals_ok &= m[i] == 0.0f || m[i] == keep;
            dropped += m[i] == 0.0f;
            y_ok &= y[i] == x[i] * m[i];
        }
        double frac = (double)dropped / (double)n;
        CHECK(vals_ok, "p=%.1f: mask values other than 0 and 1/(1-p)", (double)p);
        CHECK(y_ok, "p=%.1f: y != x * mask", (double)p);
        /* the standard error of the fraction is sqrt(p(1-p)/n) <= 1.6e-3; 0.01 is > 6 sigma */
        CHECK(fabs(frac - p) < 0.01, "p=%.1f: dropped fraction %.4f", (double)p, frac);
        /* the same seed gives the same mask; in place gives the same result */
        vl_rng_seed(&r, 99);
        float *m2 = malloc(sizeof(float) * n);
        memcpy(y, x, sizeof(float) * n);
        vl_dropout_forward(n, p, &r, y, y, m2);
        CHECK(memcmp(m, m2, sizeof(float) * n) == 0, "p=%.1f: same seed, different mask", (double)p);
        int inplace_ok = 1;
        for (size_t i = 0; i < n; i++)
            inplace_ok &= y[i] == x[i] * m[i];
        CHECK(inplace_ok, "p=%.1f: in-place dropout differs", (double)p);
        /* backward: dx = dy * mask, in place allowed */
        vl_dropout_backward(n, x, m, m2);
        int bw_ok = 1;
        for (size_t i = 0; i < n; i++)
            bw_ok &= m2[i] == x[i] * m[i];
        CHECK(bw_ok, "p=%.1f: dropout backward", (double)p);
        free(m2);
    }
    free(x);
    free(y);
    free(m);
}

static void test_losses(void)
{
    /* three rows; nll = logsumexp(z) - z_y, computed by hand in double:
     * 3 + log(1 + e^-1 + e^-2) - 3, log 3, 2 + log(1 + e^-1.5 + e^-3) - 0.5 */
    const float z[9] = {1, 2, 3, 0, 0, 0, 0.5f, -1.0f, 2.0f};
    const int32_t y[3] = {2, 1, 0};
    const double nll[3] = {0.4076059644443806, 1.0986122886681098, 1.7413112966571571};
    float d[9];
    float L = vl_softmax_xent(3, 3, z, y, NULL, d);
    CHECK(fabs(L - 1.082509849923216) < 1e-6, "xent %.9f, want 1.082509850", (double)L);
    double dmax = 0;
    for (int m = 0; m < 3; m++) {
        double mx = -1e30, se = 0;
        for (int c = 0; c < 3; c++)
            mx = fmax(mx, z[m * 3 + c]);
        for (int c = 0; c < 3; c++)
            se += exp(z[m * 3 + c] - mx);
        for (int c = 0; c < 3; c++) {
            double want = (exp(z[m * 3 + c] - mx) / se - (c == y[m])) / 3.0;
            dmax = fmax(dmax, fabs(d[m * 3 + c] - want));
        }
        CHECK(fabs(vl_softmax_xent(1, 3, z + 3 * m, y + m, NULL, NULL) - nll[m]) < 1e-6, "row %d nll", m);
    }
    CHECK(dmax < 1e-7, "xent gradient off by %.3g", dmax);
    /* gradient rows sum to zero */
    for (int m = 0; m < 3; m++)
        CHECK(fabs(d[m * 3] + d[m * 3 + 1] + d[m * 3 + 2]) < 1e-7, "row %d of dlogits does not sum to 0", m);

    /* class weights: sum_i w[y_i] nll_i / sum_i w[y_i] (PyTorch's weighted mean) */
    const float w[3] = {1.0f, 2.0f, 0.5f};
    L = vl_softmax_xent(3, 3, z, y, w, d);
    CHECK(fabs(L - 1.183525387490162) < 1e-6, "weighted xent %.9f, want 1.183525387", (double)L);
    double wsum = 0.5 + 2.0 + 1.0;
    dmax = 0;
    for (int m = 0; m < 3; m++) {
        double mx = -1e30, se = 0;
        for (int c = 0; c < 3; c++)
            mx = fmax(mx, z[m * 3 + c]);
        for (int c = 0; c < 3; c++)
            se += exp(z[m * 3 + c] - mx);
        for (int c = 0; c < 3; c++) {
            double want = w[y[m]] / wsum * (exp(z[m * 3 + c] - mx) / se - (c == y[m]));
            dmax = fmax(dmax, fabs(d[m * 3 + c] - want));
        }
    }
    CHECK(dmax < 1e-7, "weighted xent gradient off by %.3g", dmax);
    /* without a gradient buffer */
    CHECK(vl_softmax_xent(3, 3, z, y, w, NULL) == L, "xent without dlogits differs");

    /* large logits stay finite */
    const float zl[2] = {1000.0f, 0.0f};
    const int32_t yl[1] = {1};
    L = vl_softmax_xent(1, 2, zl, yl, NULL, d);
    CHECK(fabs(L - 1000.0) < 1e-3 && isfinite(d[0]) && isfinite(d[1]), "large logits: loss %g", (double)L);

    float pr[9];
    vl_softmax_rows(3, 3, z, pr);
    CHECK(fabs(pr[3] - 1.0 / 3) < 1e-7 && fabs(pr[0] + pr[1] + pr[2] - 1.0) < 1e-6, "softmax rows");

    /* MSE: mean over all M*C values; gradient 2(p - t)/n */
    const float pred[4] = {1, 2, 0, -1}, tgt[4] = {0, 4, 0, 1};
    float dp[4];
    L = vl_mse(2, 2, pred, tgt, dp);
    CHECK(L == 2.25f, "mse %g, want 2.25", (double)L);
    CHECK(dp[0] == 0.5f && dp[1] == -1.0f && dp[2] == 0.0f && dp[3] == -1.0f, "mse gradient %g %g %g %g",
          (double)dp[0], (double)dp[1], (double)dp[2], (double)dp[3]);
}

/* ---- clipping and schedules ------------------------------------------------------------------ */

static vl_net *tiny_net(uint64_t seed)
{
    vl_net_config cfg = {.input = 2, .outputs = 2, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, 2, 0);
    vl_net *net;
    if (vl_net_create(&cfg, seed, &net) != VL_OK) {
        fprintf(stderr, "tiny net: %s\n", vl_errmsg());
        exit(2);
    }
    return net;
}

/* Sets gradient element j of tensor i to scale * (i + 1) * (+-1, alternating) * (1 + j/10). */
static void set_grads(vl_net *net, float scale)
{
    for (int i = 0; i < vl_net_num_params(net); i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        for (size_t j = 0; j < p.count; j++)
            p.grad[j] = scale * (float)(i + 1) * (j % 2 ? -1.0f : 1.0f) * (1.0f + (float)j / 10.0f);
    }
}

static double norm_of(const float *g, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return sqrt(s);
}

static void test_clip(void)
{
    vl_net *net = tiny_net(5);
    const int np = vl_net_num_params(net);
    CHECK(np == 6, "tiny net has %d tensors", np);
    float *before[8];
    double tn[8], total = 0;
    set_grads(net, 1.0f);
    for (int i = 0; i < np; i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        before[i] = malloc(sizeof(float) * p.count);
        memcpy(before[i], p.grad, sizeof(float) * p.count);
        tn[i] = norm_of(p.grad, p.count);
        total += tn[i] * tn[i];
    }
    total = sqrt(total);
    CHECK(fabs(vl_grad_norm(net) - total) < 1e-9 * total, "grad norm %.9g, want %.9g", vl_grad_norm(net), total);

    /* global: all scaled by thr / (norm + 1e-6) when that is below 1 */
    float thr = (float)(total / 4);
    double ret = vl_clip_grads(net, VL_CLIP_GLOBAL_L2NORM, thr);
    CHECK(fabs(ret - total) < 1e-9 * total, "global clip returned %.9g, want the pre-clip norm %.9g", ret, total);
    double coef = thr / (total + 1e-6), err = 0;
    for (int i = 0; i < np; i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        for (size_t j = 0; j < p.count; j++)
            err = fmax(err, fabs(p.grad[j] - before[i][j] * coef) / fabs(before[i][j] * coef));
    }
    CHECK(err < 1e-6, "global clip: relative error %.3g against g * thr/(norm+1e-6)", err);
    /* the 1e-6 matters when the norm is small: norm 1e-3, thr 1e-4 -> coef 0.0999001, not 0.1 */
    {
        double s = 1e-3 / total;
        set_grads(net, (float)s);
        double t2 = vl_grad_norm(net);
        vl_clip_grads(net, VL_CLIP_GLOBAL_L2NORM, 1e-4f);
        double after = vl_grad_norm(net), want = t2 * (1e-4 / (t2 + 1e-6));
        CHECK(fabs(after - want) < 1e-6 * want, "global clip at norm %.3g: %.9g, want %.9g (thr/(norm+1e-6))", t2,
              after, want);
        CHECK(fabs(after - 1e-4) > 5e-8, "global clip ignores the 1e-6 term (%.9g)", after);
    }
    /* below the threshold: untouched, bit for bit */
    set_grads(net, 1.0f);
    vl_clip_grads(net, VL_CLIP_GLOBAL_L2NORM, (float)(total * 2));
    int same = 1;
    for (int i = 0; i < np; i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        same &= memcmp(p.grad, before[i], sizeof(float) * p.count) == 0;
    }
    CHECK(same, "global clip above the norm changed the gradients");

    /* per-tensor l2norm: tensors with norm > thr scaled to norm thr, others untouched */
    double mid = 0; /* a threshold between the smallest and the largest tensor norm */
    {
        double mn = tn[0], mx = tn[0];
        for (int i = 1; i < np; i++) {
            mn = fmin(mn, tn[i]);
            mx = fmax(mx, tn[i]);
        }
        mid = 0.5 * (mn + mx);
    }
    set_grads(net, 1.0f);
    ret = vl_clip_grads(net, VL_CLIP_L2NORM, (float)mid);
    CHECK(fabs(ret - total) < 1e-9 * total, "l2norm clip returned %.9g", ret);
    int nscaled = 0, nkept = 0;
    for (int i = 0; i < np; i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        double nn = norm_of(p.grad, p.count);
        if (tn[i] > (float)mid) {
            nscaled++;
            CHECK(fabs(nn - (float)mid) < 1e-5 * mid, "l2norm: %s norm %.7g, want %.7g", p.name, nn, mid);
            double e2 = 0; /* direction kept */
            for (size_t j = 0; j < p.count; j++)
                e2 = fmax(e2, fabs(p.grad[j] * tn[i] / nn - before[i][j]));
            CHECK(e2 < 1e-5 * tn[i], "l2norm: %s direction changed", p.name);
        } else {
            nkept++;
            CHECK(memcmp(p.grad, before[i], sizeof(float) * p.count) == 0, "l2norm: %s (norm %.4g <= %.4g) changed",
                  p.name, tn[i], mid);
        }
    }
    CHECK(nscaled > 0 && nkept > 0, "l2norm test should scale some tensors and keep others (%d, %d)", nscaled,
          nkept);

    /* absolute value: element-wise clamp to [-thr, thr] */
    set_grads(net, 1.0f);
    const float athr = 2.0f;
    vl_clip_grads(net, VL_CLIP_ABSVALUE, athr);
    int clamp_ok = 1, nclamped = 0;
    for (int i = 0; i < np; i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        for (size_t j = 0; j < p.count; j++) {
            float b = before[i][j], want = b > athr ? athr : (b < -athr ? -athr : b);
            clamp_ok &= p.grad[j] == want;
            nclamped += want != b;
        }
    }
    CHECK(clamp_ok, "absolute-value clip is not a clamp");
    CHECK(nclamped > 0, "absolute-value test clamps nothing");

    /* clip none: untouched */
    set_grads(net, 1.0f);
    vl_clip_grads(net, VL_CLIP_NONE, 1e-9f);
    same = 1;
    for (int i = 0; i < np; i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        same &= memcmp(p.grad, before[i], sizeof(float) * p.count) == 0;
    }
    CHECK(same, "clip none changed the gradients");

    /* through the optimiser: SGD's first step is p -= lr * clip(g); gnorm is pre-clip */
    float *w0[8];
    for (int i = 0; i < np; i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        w0[i] = malloc(sizeof(float) * p.count);
        memcpy(w0[i], p.data, sizeof(float) * p.count);
    }
    set_grads(net, 1.0f);
    vl_optim *opt;
    vl_optim_config oc = {.kind = VL_OPT_SGDM, .lr = 0.1f, .clip = VL_CLIP_GLOBAL_L2NORM, .clip_threshold = thr};
    CHECK(vl_optim_create(net, &oc, &opt) == VL_OK, "%s", vl_errmsg());
    float gnorm = -1;
    CHECK(vl_optim_step(opt, &gnorm) == VL_OK, "%s", vl_errmsg());
    CHECK(fabs(gnorm - total) < 1e-6 * total, "step gnorm %.7g, want the pre-clip %.7g", (double)gnorm, total);
    err = 0;
    for (int i = 0; i < np; i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        for (size_t j = 0; j < p.count; j++)
            err = fmax(err, fabs(p.data[j] - (w0[i][j] - 0.1 * before[i][j] * coef)));
    }
    CHECK(err < 1e-6, "SGD step with global clipping off by %.3g", err);
    vl_optim_free(opt);

    /* optimiser argument errors */
    vl_optim_config bad = {.kind = VL_OPT_ADAM, .lr = 0.0f};
    opt = (vl_optim *)1;
    CHECK(vl_optim_create(net, &bad, &opt) == VL_ERR_ARG && opt == NULL, "lr 0 accepted");
    bad = (vl_optim_config){.kind = VL_OPT_ADAM, .lr = 1e-3f, .clip = VL_CLIP_L2NORM, .clip_threshold = 0.0f};
    CHECK(vl_optim_create(net, &bad, &opt) == VL_ERR_ARG, "clip threshold 0 accepted");
    bad = (vl_optim_config){.kind = VL_OPT_ADAM, .lr = 1e-3f, .weight_decay = -1.0f};
    CHECK(vl_optim_create(net, &bad, &opt) == VL_ERR_ARG, "negative weight decay accepted");
    bad = (vl_optim_config){.kind = (vl_opt_kind)42, .lr = 1e-3f};
    CHECK(vl_optim_create(net, &bad, &opt) == VL_ERR_ARG, "unknown optimiser accepted");

    /* a non-finite gradient is refused */
    vl_param p0;
    vl_net_param(net, 0, &p0);
    p0.grad[0] = NAN;
    CHECK(vl_optim_create(net, &(vl_optim_config){.kind = VL_OPT_ADAM, .lr = 1e-3f}, &opt) == VL_OK, "%s",
          vl_errmsg());
    CHECK(vl_optim_step(opt, NULL) == VL_ERR_NUMERIC, "NaN gradient accepted by the optimiser");
    vl_optim_free(opt);

    for (int i = 0; i < np; i++) {
        free(before[i]);
        free(w0[i]);
    }
    vl_net_free(net);
}

/* vl_grad_norm on a tensor above 2^20 elements (the chunked, threaded path):
 * against a double reference, and the same bits for 1 thread and the default. */
static void test_big_norm(void)
{
    vl_net_config cfg = {.input = 2100, .outputs = 2, .mode = VL_OUT_LAST, .task = VL_TASK_REGRESS};
    vl_net_add_layer(&cfg, VL_LAYER_GRU, 171, 0); /* weight_ih_l0: 513 x 2100 = 1077300 values */
    vl_net *net;
    CHECK(vl_net_create(&cfg, 2, &net) == VL_OK, "%s", vl_errmsg());
    double ref = 0;
    for (int i = 0; i < vl_net_num_params(net); i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        for (size_t j = 0; j < p.count; j++) {
            p.grad[j] = tunif(-1.0f, 1.0f) * (float)(i + 1);
            ref += (double)p.grad[j] * p.grad[j];
        }
    }
    ref = sqrt(ref);
    int nthreads = vl_get_threads();
    double n_def = vl_grad_norm(net);
    vl_set_threads(1);
    double n_one = vl_grad_norm(net);
    vl_set_threads(nthreads);
    CHECK(fabs(n_def - ref) < 1e-12 * ref, "big-tensor norm %.15g, want %.15g", n_def, ref);
    CHECK(memcmp(&n_def, &n_one, sizeof n_def) == 0, "norm depends on the thread count: %.17g vs %.17g", n_def,
          n_one);
    vl_param w;
    vl_net_find_param(net, "weight_ih_l0", &w);
    CHECK(w.count > (1u << 20), "weight_ih_l0 has %zu values, want > 2^20", w.count);
    double ret = vl_clip_grads(net, VL_CLIP_GLOBAL_L2NORM, (float)(ref / 2));
    double after = vl_grad_norm(net);
    CHECK(fabs(ret - ref) < 1e-12 * ref && fabs(after - ref / 2) < 1e-5 * ref, "big clip: %.9g -> %.9g", ret, after);
    vl_net_free(net);
}

static void test_schedule(void)
{
    vl_optim_config c = {.kind = VL_OPT_ADAM, .lr = 0.1f, .sched = VL_SCHED_PIECEWISE, .drop_period = 2,
                         .drop_factor = 0.5f};
    const float want[6] = {0.1f, 0.1f, 0.05f, 0.05f, 0.025f, 0.025f};
    for (int e = 0; e < 6; e++)
        CHECK(fabsf(vl_schedule_lr(&c, e) - want[e]) <= 1e-7f * want[e], "piecewise epoch %d: %g, want %g", e,
              (double)vl_schedule_lr(&c, e), (double)want[e]);
    c.drop_period = 0;
    CHECK(vl_schedule_lr(&c, 5) == 0.1f, "piecewise with period 0 should keep lr");

    c = (vl_optim_config){.kind = VL_OPT_ADAM, .lr = 0.1f, .sched = VL_SCHED_COSINE, .total_epochs = 10,
                          .min_lr = 0.001f};
    CHECK(fabsf(vl_schedule_lr(&c, 0) - 0.1f) < 1e-8f, "cosine epoch 0: %g", (double)vl_schedule_lr(&c, 0));
    CHECK(fabsf(vl_schedule_lr(&c, 10) - 0.001f) < 1e-8f, "cosine epoch total: %g", (double)vl_schedule_lr(&c, 10));
    CHECK(fabsf(vl_schedule_lr(&c, 5) - 0.0505f) < 1e-8f, "cosine half-way: %g, want 0.0505",
          (double)vl_schedule_lr(&c, 5));
    CHECK(fabsf(vl_schedule_lr(&c, 25) - 0.001f) < 1e-8f, "cosine past the end: %g", (double)vl_schedule_lr(&c, 25));
    int mono = 1;
    for (int e = 1; e <= 10; e++)
        mono &= vl_schedule_lr(&c, e) < vl_schedule_lr(&c, e - 1);
    CHECK(mono, "cosine schedule is not decreasing");
    c.sched = VL_SCHED_NONE;
    CHECK(vl_schedule_lr(&c, 7) == 0.1f, "no schedule changes lr");

    /* through the optimiser */
    vl_net *net = tiny_net(1);
    vl_optim *opt;
    vl_optim_config oc = {.kind = VL_OPT_SGDM, .lr = 0.2f, .sched = VL_SCHED_PIECEWISE, .drop_period = 2,
                          .drop_factor = 0.5f};
    CHECK(vl_optim_create(net, &oc, &opt) == VL_OK, "%s", vl_errmsg());
    CHECK(vl_optim_lr(opt) == 0.2f, "initial lr %g", (double)vl_optim_lr(opt));
    vl_optim_set_epoch(opt, 3);
    CHECK(fabsf(vl_optim_lr(opt) - 0.1f) < 1e-8f, "lr at epoch 3: %g", (double)vl_optim_lr(opt));
    vl_optim_set_epoch(opt, 4);
    CHECK(fabsf(vl_optim_lr(opt) - 0.05f) < 1e-8f, "lr at epoch 4: %g", (double)vl_optim_lr(opt));
    vl_optim_free(opt);
    vl_net_free(net);
}

/* ---- network contracts ---------------------------------------------------------------------- */

static void test_create_errors(void)
{
    vl_net *net = (vl_net *)1;
    vl_net_config c = {.input = 0, .outputs = 3, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&c, VL_LAYER_LSTM, 4, 0);
    CHECK(vl_net_create(&c, 1, &net) == VL_ERR_ARG && net == NULL, "input 0 accepted");
    CHECK(strlen(vl_errmsg()) > 0, "no message for input 0");

    c.input = 3;
    c.outputs = 1;
    CHECK(vl_net_create(&c, 1, &net) == VL_ERR_ARG, "classification with 1 class accepted");
    c.task = VL_TASK_REGRESS;
    CHECK(vl_net_create(&c, 1, &net) == VL_OK, "regression with 1 output refused: %s", vl_errmsg());
    vl_net_free(net);
    c.outputs = 0;
    CHECK(vl_net_create(&c, 1, &net) == VL_ERR_ARG, "0 outputs accepted");

    vl_net_config d = {.input = 3, .outputs = 2, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    CHECK(vl_net_create(&d, 1, &net) == VL_ERR_ARG, "no layers accepted");
    vl_net_add_dropout(&d, 0.2f);
    CHECK(vl_net_create(&d, 1, &net) == VL_ERR_ARG, "no recurrent layer accepted");

    vl_net_config e = {.input = 3, .outputs = 2, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&e, VL_LAYER_LSTM, 4, 0);
    vl_net_add_dropout(&e, 1.0f);
    vl_net_add_layer(&e, VL_LAYER_GRU, 4, 0);
    CHECK(vl_net_create(&e, 1, &net) == VL_ERR_ARG, "dropout p=1 accepted");
    e.layer[1].p = -0.1f;
    CHECK(vl_net_create(&e, 1, &net) == VL_ERR_ARG, "dropout p<0 accepted");
    e.layer[1].p = NAN;
    CHECK(vl_net_create(&e, 1, &net) == VL_ERR_ARG, "dropout p=NaN accepted");
    e.layer[1].p = 0.5f;
    e.layer[2].hidden = 0;
    CHECK(vl_net_create(&e, 1, &net) == VL_ERR_ARG, "hidden 0 accepted");
    e.layer[2].hidden = 4;
    CHECK(vl_net_create(&e, 1, &net) == VL_OK, "valid config refused: %s", vl_errmsg());
    vl_net_free(net);

    float cw[2] = {1.0f, -1.0f};
    e.class_weights = cw;
    CHECK(vl_net_create(&e, 1, &net) == VL_ERR_ARG, "negative class weight accepted");
    cw[1] = NAN;
    CHECK(vl_net_create(&e, 1, &net) == VL_ERR_ARG, "NaN class weight accepted");
    cw[1] = 2.0f;
    e.task = VL_TASK_REGRESS;
    CHECK(vl_net_create(&e, 1, &net) == VL_ERR_ARG, "class weights for regression accepted");

    vl_net_config f = {.input = 3, .outputs = 2};
    for (int i = 0; i < VL_MAX_LAYERS; i++)
        CHECK(vl_net_add_layer(&f, VL_LAYER_GRU, 2, 0) == VL_OK, "layer %d", i);
    CHECK(vl_net_add_layer(&f, VL_LAYER_GRU, 2, 0) == VL_ERR_ARG, "17th layer accepted");
    CHECK(vl_net_add_dropout(&f, 0.1f) == VL_ERR_ARG, "17th (dropout) layer accepted");
    CHECK(f.nlayers == VL_MAX_LAYERS, "nlayers %d after overflow", f.nlayers);

    vl_net_free(NULL); /* allowed */
    for (int s = VL_OK; s <= VL_ERR_UNSUPPORTED; s++)
        CHECK(vl_status_str((vl_status)s) && strlen(vl_status_str((vl_status)s)) > 0, "status %d has no name", s);
    CHECK(!strcmp(vl_version(), VIDLSTM_VERSION), "version %s", vl_version());
}

/* A small two-layer net with dropout between, for the contract tests. */
static vl_net_config contract_cfg(vl_out_mode mode, vl_task task, float drop)
{
    vl_net_config c = {.input = 4, .outputs = 3, .mode = mode, .task = task};
    vl_net_add_layer(&c, VL_LAYER_LSTM, 5, 1);
    if (drop > 0)
        vl_net_add_dropout(&c, drop);
    vl_net_add_layer(&c, VL_LAYER_GRU, 4, 0);
    return c;
}

typedef struct {
    int B, T, D, C;
    int32_t len[8];
    float *x, *targets, *h0, *c0;
    int32_t *labels;
    vl_batch b;
} batch_data;

/* Fills a batch: x on valid steps ~ U(-1,1), `pad` at padded steps (labels/targets too). */
static void make_batch(batch_data *d, const vl_net_config *cfg, int B, int T, const int32_t *len, float pad,
                       int32_t pad_label, int with_states)
{
    memset(d, 0, sizeof *d);
    d->B = B;
    d->T = T;
    d->D = cfg->input;
    d->C = cfg->outputs;
    memcpy(d->len, len, sizeof(int32_t) * (size_t)B);
    d->x = malloc(sizeof(float) * (size_t)B * T * d->D);
    for (int i = 0; i < B; i++)
        for (int t = 0; t < T; t++)
            for (int k = 0; k < d->D; k++)
                d->x[((size_t)i * T + t) * d->D + k] = t < len[i] ? tunif(-1, 1) : pad;
    int seq = cfg->mode == VL_OUT_SEQUENCE;
    if (cfg->task == VL_TASK_CLASSIFY) {
        d->labels = malloc(sizeof(int32_t) * (size_t)B * T);
        for (int i = 0; i < B; i++)
            for (int t = 0; t < (seq ? T : 1); t++)
                d->labels[(size_t)i * (seq ? T : 1) + t] =
                    (!seq || t < len[i]) ? (int32_t)(tnext() % (uint32_t)d->C) : pad_label;
    } else {
        d->targets = malloc(sizeof(float) * (size_t)B * T * d->C);
        for (int i = 0; i < B; i++)
            for (int t = 0; t < (seq ? T : 1); t++)
                for (int k = 0; k < d->C; k++)
                    d->targets[((size_t)i * (seq ? T : 1) + t) * d->C + k] = (!seq || t < len[i]) ? tunif(-1, 1) : pad;
    }
    if (with_states) {
        int hs = 0, cs = 0;
        for (int l = 0; l < cfg->nlayers; l++) {
            int n = (cfg->layer[l].bidirectional ? 2 : 1) * cfg->layer[l].hidden;
            if (cfg->layer[l].kind != VL_LAYER_DROPOUT)
                hs += n;
            if (cfg->layer[l].kind == VL_LAYER_LSTM)
                cs += n;
        }
        d->h0 = malloc(sizeof(float) * (size_t)hs * B);
        d->c0 = malloc(sizeof(float) * (size_t)(cs ? cs : 1) * B);
        for (int i = 0; i < hs * B; i++)
            d->h0[i] = tunif(-0.5f, 0.5f);
        for (int i = 0; i < cs * B; i++)
            d->c0[i] = tunif(-0.5f, 0.5f);
    }
    d->b = (vl_batch){.batch = B, .tmax = T, .dim = d->D, .x = d->x, .lengths = d->len, .labels = d->labels,
                      .targets = d->targets, .h0 = d->h0, .c0 = d->c0};
}

static void free_batch(batch_data *d)
{
    free(d->x);
    free(d->targets);
    free(d->labels);
    free(d->h0);
    free(d->c0);
}

static void test_forward_errors(void)
{
    vl_net_config cfg = contract_cfg(VL_OUT_LAST, VL_TASK_CLASSIFY, 0.0f);
    vl_net *net;
    CHECK(vl_net_create(&cfg, 3, &net) == VL_OK, "%s", vl_errmsg());
    const int32_t len[3] = {4, 2, 5};
    batch_data d;
    make_batch(&d, &cfg, 3, 5, len, 0.0f, 0, 0);
    float loss = -1, *out = malloc(sizeof(float) * 3 * 5 * 3);
    float dx[3 * 5 * 4];

    CHECK(vl_net_input_grads(net, dx, NULL, NULL) == VL_ERR_ARG, "input grads before any forward_backward");
    CHECK(vl_net_forward_backward(net, &d.b, &loss, NULL) == VL_OK, "baseline: %s", vl_errmsg());
    CHECK(vl_net_input_grads(net, dx, NULL, NULL) == VL_ERR_ARG, "input grads without want_input_grads");

    d.labels[1] = 3; /* C = 3 */
    vl_status st = vl_net_forward_backward(net, &d.b, &loss, NULL);
    CHECK(st == VL_ERR_ARG, "label 3 of 3 classes: %s", vl_status_str(st));
    CHECK(errmsg_has("label 3"), "message '%s'", vl_errmsg());
    d.labels[1] = -1;
    st = vl_net_forward_backward(net, &d.b, &loss, NULL);
    CHECK(st == VL_ERR_ARG, "label -1: %s", vl_status_str(st));
    d.labels[1] = 2;

    d.b.dim = 5;
    st = vl_net_forward_backward(net, &d.b, &loss, NULL);
    CHECK(st == VL_ERR_SHAPE, "feature width 5 for input 4: %s", vl_status_str(st));
    st = vl_net_forward(net, &d.b, out);
    CHECK(st == VL_ERR_SHAPE, "forward with feature width 5: %s", vl_status_str(st));
    d.b.dim = 4;

    d.len[2] = 0;
    st = vl_net_forward_backward(net, &d.b, &loss, NULL);
    CHECK(st == VL_ERR_SHAPE, "length 0: %s", vl_status_str(st));
    d.len[2] = 6;
    st = vl_net_forward_backward(net, &d.b, &loss, NULL);
    CHECK(st == VL_ERR_SHAPE, "length > tmax: %s", vl_status_str(st));
    d.len[2] = 5;

    d.b.labels = NULL;
    st = vl_net_forward_backward(net, &d.b, &loss, NULL);
    CHECK(st == VL_ERR_ARG, "classification without labels: %s", vl_status_str(st));
    d.b.labels = d.labels;
    d.b.x = NULL;
    st = vl_net_forward_backward(net, &d.b, &loss, NULL);
    CHECK(st == VL_ERR_ARG, "no x: %s", vl_status_str(st));
    d.b.x = d.x;
    d.b.batch = 0;
    st = vl_net_forward_backward(net, &d.b, &loss, NULL);
    CHECK(st != VL_OK, "batch 0 accepted");
    d.b.batch = 3;

    float keep = d.x[4 * 1 + 2];
    d.x[4 * 1 + 2] = NAN; /* sequence 0, step 1 (valid) */
    loss = 123.0f;
    st = vl_net_forward_backward(net, &d.b, &loss, NULL);
    CHECK(st == VL_ERR_NUMERIC, "NaN input: %s", vl_status_str(st));
    CHECK(loss == 123.0f, "a failed call wrote the loss (%g)", (double)loss);
    /* Inf input: the loss may stay finite (saturated gates) while gradients
     * become NaN (0 * Inf). Required: the non-finite value is reported, by
     * forward_backward or at the latest by the next optimiser step, before
     * any weight changes. (Today forward_backward returns VL_OK here with
     * NaN gradients and vl_optim_step reports VL_ERR_NUMERIC.) */
    d.x[4 * 1 + 2] = INFINITY;
    st = vl_net_forward_backward(net, &d.b, &loss, NULL);
    if (st == VL_OK) {
        vl_optim *opt;
        vl_optim_create(net, &(vl_optim_config){.kind = VL_OPT_ADAM, .lr = 1e-3f}, &opt);
        vl_param p0;
        vl_net_param(net, 0, &p0);
        float w0 = p0.data[0];
        st = vl_optim_step(opt, NULL);
        CHECK(p0.data[0] == w0, "a non-finite step changed the weights");
        vl_optim_free(opt);
    }
    CHECK(st == VL_ERR_NUMERIC, "Inf input never reported: %s", vl_status_str(st));
    d.x[4 * 1 + 2] = keep;

    /* the net is still usable, and gives the same loss as before the failures */
    float l1, l2;
    CHECK(vl_net_forward_backward(net, &d.b, &l1, NULL) == VL_OK, "after errors: %s", vl_errmsg());
    vl_net *fresh;
    vl_net_create(&cfg, 3, &fresh);
    CHECK(vl_net_forward_backward(fresh, &d.b, &l2, NULL) == VL_OK, "%s", vl_errmsg());
    CHECK(l1 == l2, "loss after failed calls %.9g != fresh net %.9g", (double)l1, (double)l2);
    vl_net_free(fresh);
    free_batch(&d);

    /* regression: no targets; non-finite target */
    vl_net_config rc = contract_cfg(VL_OUT_SEQUENCE, VL_TASK_REGRESS, 0.0f);
    vl_net *rn;
    CHECK(vl_net_create(&rc, 4, &rn) == VL_OK, "%s", vl_errmsg());
    make_batch(&d, &rc, 3, 5, len, 0.0f, 0, 0);
    d.b.targets = NULL;
    st = vl_net_forward_backward(rn, &d.b, &loss, NULL);
    CHECK(st == VL_ERR_ARG, "regression without targets: %s", vl_status_str(st));
    d.b.targets = d.targets;
    d.targets[(0 * 5 + 3) * 3 + 1] = INFINITY; /* sequence 0 step 3: valid */
    st = vl_net_forward_backward(rn, &d.b, &loss, NULL);
    CHECK(st == VL_ERR_NUMERIC, "Inf target: %s", vl_status_str(st));
    free_batch(&d);
    vl_net_free(rn);

    /* sequence classification: a bad label at a valid step is an error */
    vl_net_config sc = contract_cfg(VL_OUT_SEQUENCE, VL_TASK_CLASSIFY, 0.0f);
    vl_net *sn;
    CHECK(vl_net_create(&sc, 4, &sn) == VL_OK, "%s", vl_errmsg());
    make_batch(&d, &sc, 3, 5, len, 0.0f, -1, 0);
    d.labels[1 * 5 + 1] = 7; /* sequence 1 (length 2), step 1 */
    st = vl_net_forward_backward(sn, &d.b, &loss, NULL);
    CHECK(st == VL_ERR_ARG, "bad label at a valid step: %s", vl_status_str(st));
    CHECK(errmsg_has("sequence 1") && errmsg_has("step 1"), "message '%s'", vl_errmsg());
    free_batch(&d);
    vl_net_free(sn);
    free(out);
    vl_net_free(net);
}

/* Weights are live: writes through a vl_param's data pointer take effect on
 * the next forward pass, also when the vl_param was obtained before an
 * earlier pass (the header promises "live weights: writable"). And the
 * workspace grows and shrinks with the batch without changing results. */
static void test_live_weights_and_workspace(void)
{
    vl_net_config cfg = contract_cfg(VL_OUT_LAST, VL_TASK_REGRESS, 0.0f);
    vl_net *net, *ref;
    vl_net_create(&cfg, 9, &net);
    vl_net_create(&cfg, 9, &ref);
    const int32_t len[3] = {4, 6, 2};
    batch_data d;
    make_batch(&d, &cfg, 3, 6, len, 0.0f, -1, 0);
    float o_net[9], o_ref[9];
    int np = vl_net_num_params(net);
    vl_param held[40];
    for (int i = 0; i < np; i++)
        vl_net_param(net, i, &held[i]); /* pointers taken once, up front */
    CHECK(vl_net_forward(net, &d.b, o_net) == VL_OK, "%s", vl_errmsg());
    /* now change every weight through the held pointers, and the reference alike */
    for (int i = 0; i < np; i++) {
        vl_param r;
        vl_net_param(ref, i, &r);
        for (size_t j = 0; j < held[i].count; j++)
            held[i].data[j] = r.data[j] = held[i].data[j] * 1.5f - 0.01f;
    }
    CHECK(vl_net_forward(net, &d.b, o_net) == VL_OK, "%s", vl_errmsg());
    CHECK(vl_net_forward(ref, &d.b, o_ref) == VL_OK, "%s", vl_errmsg());
    CHECK(memcmp(o_net, o_ref, sizeof o_net) == 0,
          "weights written through a vl_param held across a forward pass are ignored (stale cached copy?): "
          "out[0] %.7g vs %.7g", (double)o_net[0], (double)o_ref[0]);
    float l_net, l_ref;
    vl_net_forward_backward(net, &d.b, &l_net, NULL);
    vl_net_forward_backward(ref, &d.b, &l_ref, NULL);
    CHECK(l_net == l_ref, "training loss with held-pointer writes %.9g vs %.9g", (double)l_net, (double)l_ref);
    free_batch(&d);
    vl_net_free(net);
    vl_net_free(ref);

    /* workspace: small -> large -> small batches give what fresh nets give */
    vl_net_config sc = contract_cfg(VL_OUT_SEQUENCE, VL_TASK_CLASSIFY, 0.0f);
    vl_net *w;
    vl_net_create(&sc, 21, &w);
    vl_net_want_input_grads(w, 1);
    const int shapes[3][2] = {{2, 3}, {7, 11}, {1, 2}};
    for (int k = 0; k < 3; k++) {
        int B = shapes[k][0], T = shapes[k][1];
        int32_t l[8];
        for (int i = 0; i < B; i++)
            l[i] = (int32_t)(1 + (i * 5 + k) % T);
        l[0] = T;
        make_batch(&d, &sc, B, T, l, 0.0f, -1, 0);
        vl_net *f;
        vl_net_create(&sc, 21, &f);
        vl_net_want_input_grads(f, 1);
        size_t no = vl_net_output_size(w, &d.b), nx = (size_t)B * T * sc.input;
        float *a = malloc(sizeof(float) * no), *b = malloc(sizeof(float) * no);
        float *dxa = malloc(sizeof(float) * nx), *dxb = malloc(sizeof(float) * nx);
        float la, lb;
        CHECK(vl_net_forward_backward(w, &d.b, &la, a) == VL_OK, "%s", vl_errmsg());
        CHECK(vl_net_forward_backward(f, &d.b, &lb, b) == VL_OK, "%s", vl_errmsg());
        vl_net_input_grads(w, dxa, NULL, NULL);
        vl_net_input_grads(f, dxb, NULL, NULL);
        int same = la == lb && !memcmp(a, b, sizeof(float) * no) && !memcmp(dxa, dxb, sizeof(float) * nx);
        for (int i = 0; i < vl_net_num_params(w); i++) {
            vl_param pa, pb;
            vl_net_param(w, i, &pa);
            vl_net_param(f, i, &pb);
            same &= !memcmp(pa.grad, pb.grad, sizeof(float) * pa.count);
        }
        CHECK(same, "batch %dx%d after other shapes differs from a fresh net", B, T);
        free(a);
        free(b);
        free(dxa);
        free(dxb);
        vl_net_free(f);
        free_batch(&d);
    }
    vl_net_free(w);
}

/* Same seed, same batches, dropout on, 5 Adam steps -> bit-identical weights. */
static void train5(vl_net *net, int with_clip)
{
    vl_optim *opt;
    vl_optim_config oc = {.kind = VL_OPT_ADAM, .lr = 1e-2f, .weight_decay = 1e-4f,
                          .clip = with_clip ? VL_CLIP_GLOBAL_L2NORM : VL_CLIP_NONE, .clip_threshold = 0.5f};
    if (vl_optim_create(net, &oc, &opt) != VL_OK) {
        fprintf(stderr, "optim: %s\n", vl_errmsg());
        exit(2);
    }
    const vl_net_config *cfg = vl_net_get_config(net);
    uint64_t save = trng;
    trng = 0x1234567ULL; /* the same batches for every net */
    for (int s = 0; s < 5; s++) {
        int32_t len[4] = {(int32_t)(1 + tnext() % 7), 7, (int32_t)(1 + tnext() % 7), (int32_t)(1 + tnext() % 7)};
        batch_data d;
        make_batch(&d, cfg, 4, 7, len, 0.0f, -1, 0);
        float loss;
        CHECK(vl_net_forward_backward(net, &d.b, &loss, NULL) == VL_OK, "train step %d: %s", s, vl_errmsg());
        CHECK(vl_optim_step(opt, NULL) == VL_OK, "%s", vl_errmsg());
        free_batch(&d);
    }
    trng = save;
    vl_optim_free(opt);
}

static int same_weights(vl_net *a, vl_net *b)
{
    if (vl_net_num_params(a) != vl_net_num_params(b))
        return 0;
    for (int i = 0; i < vl_net_num_params(a); i++) {
        vl_param pa, pb;
        vl_net_param(a, i, &pa);
        vl_net_param(b, i, &pb);
        if (pa.count != pb.count || memcmp(pa.data, pb.data, sizeof(float) * pa.count))
            return 0;
    }
    return 1;
}

static void test_determinism(void)
{
    vl_net_config cfg = contract_cfg(VL_OUT_SEQUENCE, VL_TASK_CLASSIFY, 0.3f);
    vl_net *a, *b, *c, *ref;
    vl_net_create(&cfg, 77, &a);
    vl_net_create(&cfg, 77, &b);
    vl_net_create(&cfg, 78, &c);
    vl_net_create(&cfg, 77, &ref);
    CHECK(same_weights(a, b), "same seed, different initial weights");
    CHECK(!same_weights(a, c), "different seeds, same initial weights");
    train5(a, 1);
    train5(b, 1);
    train5(c, 1);
    CHECK(same_weights(a, b), "same seed, 5 Adam steps with dropout: weights differ");
    CHECK(!same_weights(a, ref), "training did not change the weights");
    CHECK(!same_weights(a, c), "different seeds trained to identical weights");

    /* dropout really draws from the seed: the same init with another dropout
     * stream (the net's RNG advanced by one extra batch) trains differently */
    vl_net *e;
    vl_net_create(&cfg, 77, &e);
    {
        int32_t len[1] = {3};
        batch_data d;
        make_batch(&d, &cfg, 1, 3, len, 0.0f, -1, 0);
        float loss;
        vl_net_forward_backward(e, &d.b, &loss, NULL); /* consumes dropout draws, no step */
        free_batch(&d);
    }
    train5(e, 1);
    CHECK(!same_weights(a, e), "a different dropout stream trained to identical weights");

    /* inference ignores dropout: outputs equal a net without the dropout layer
     * (same seed: dropout layers have no weights, so the same initialisation) */
    vl_net_config nod = contract_cfg(VL_OUT_SEQUENCE, VL_TASK_CLASSIFY, 0.0f);
    vl_net *n0, *n1;
    vl_net_create(&nod, 77, &n0);
    vl_net_create(&cfg, 77, &n1);
    CHECK(same_weights(n0, n1), "dropout layer changed the initialisation");
    int32_t len[3] = {5, 2, 4};
    batch_data d;
    make_batch(&d, &cfg, 3, 5, len, 0.0f, -1, 0);
    size_t no = vl_net_output_size(n0, &d.b);
    CHECK(no == 3 * 5 * 3, "output size %zu", no);
    float *o0 = malloc(sizeof(float) * no), *o1 = malloc(sizeof(float) * no), *o2 = malloc(sizeof(float) * no);
    CHECK(vl_net_forward(n0, &d.b, o0) == VL_OK && vl_net_forward(n1, &d.b, o1) == VL_OK &&
              vl_net_forward(n1, &d.b, o2) == VL_OK,
          "%s", vl_errmsg());
    CHECK(memcmp(o0, o1, sizeof(float) * no) == 0, "inference with a dropout layer differs from without");
    CHECK(memcmp(o1, o2, sizeof(float) * no) == 0, "two inference calls differ");
    /* and training does use it */
    float l0, l1;
    vl_net_forward_backward(n0, &d.b, &l0, NULL);
    vl_net_forward_backward(n1, &d.b, &l1, NULL);
    CHECK(l0 != l1, "dropout p=0.3 did not change the training loss");
    free(o0);
    free(o1);
    free(o2);
    free_batch(&d);
    vl_net_free(n0);
    vl_net_free(n1);
    vl_net_free(a);
    vl_net_free(b);
    vl_net_free(c);
    vl_net_free(e);
    vl_net_free(ref);
}

/* max|a - b| / max|b|: outputs are sums of terms of the tensor's magnitude,
 * so their rounding differences scale with it, not with each element. */
static double out_err(const float *a, const float *b, size_t n)
{
    double mx = 0, w = 0;
    for (size_t i = 0; i < n; i++) {
        mx = fmax(mx, fabs(b[i]));
        double e = fabs((double)a[i] - b[i]);
        w = isnan(e) ? INFINITY : fmax(w, e);
    }
    return w / (mx + 1e-30);
}

/* Copies sequence i's initial states out of a [slots, B, H] layout into [slots, 1, H]. */
static void slice_states(const vl_net_config *cfg, const float *src, float *dst, int B, int i, int lstm_only)
{
    size_t so = 0, dof = 0;
    for (int l = 0; l < cfg->nlayers; l++) {
        const vl_layer_spec *s = &cfg->layer[l];
        if (s->kind == VL_LAYER_DROPOUT || (lstm_only && s->kind != VL_LAYER_LSTM))
            continue;
        for (int dd = 0; dd < (s->bidirectional ? 2 : 1); dd++) {
            memcpy(dst + dof, src + so + (size_t)i * s->hidden, sizeof(float) * (size_t)s->hidden);
            so += (size_t)B * s->hidden;
            dof += (size_t)s->hidden;
        }
    }
}

/* A sequence's outputs in a batch equal its outputs alone. GEMMs over a
 * different number of rows may take different kernels and so round
 * differently: allowed up to 1e-5 of the outputs' scale (float32 results of
 * short sums through a few layers differ by ~1e-7 of it); exact equality is
 * reported. */
#define LEN_TOL 1e-5

static void invariance_case(vl_out_mode mode, vl_task task, int states)
{
    vl_net_config cfg = contract_cfg(mode, task, 0.0f);
    vl_net *net;
    vl_net_create(&cfg, 31, &net);
    const int B = 3, T = 6, C = cfg.outputs, seq = mode == VL_OUT_SEQUENCE;
    const int32_t len[3] = {3, 6, 1};
    batch_data d;
    make_batch(&d, &cfg, B, T, len, 0.0f, -1, states);
    size_t no = vl_net_output_size(net, &d.b);
    float *out = malloc(sizeof(float) * no), *one = malloc(sizeof(float) * (size_t)T * C);
    CHECK(vl_net_forward(net, &d.b, out) == VL_OK, "%s", vl_errmsg());
    double worst = 0;
    int exact = 1;
    for (int i = 0; i < B; i++) {
        for (int tight = 0; tight < 2; tight++) { /* tmax = T (padded) and tmax = len (no padding) */
            int Ti = tight ? len[i] : T;
            float *xi = malloc(sizeof(float) * (size_t)Ti * cfg.input);
            memcpy(xi, d.x + (size_t)i * T * cfg.input, sizeof(float) * (size_t)Ti * cfg.input);
            float h0[64], c0[64];
            if (states) {
                slice_states(&cfg, d.h0, h0, B, i, 0);
                slice_states(&cfg, d.c0, c0, B, i, 1);
            }
            vl_batch bi = {.batch = 1, .tmax = Ti, .dim = cfg.input, .x = xi, .lengths = &len[i],
                           .h0 = states ? h0 : NULL, .c0 = states ? c0 : NULL};
            CHECK(vl_net_forward(net, &bi, one) == VL_OK, "%s", vl_errmsg());
            const float *ref = seq ? out + (size_t)i * T * C : out + (size_t)i * C;
            size_t n = seq ? (size_t)Ti * C : (size_t)C;
            double e = out_err(one, ref, n);
            exact &= memcmp(one, ref, sizeof(float) * n) == 0;
            worst = fmax(worst, e);
            CHECK(e <= LEN_TOL, "mode %d task %d states %d: sequence %d (length %d, tmax %d) alone differs by %.3g",
                  (int)mode, (int)task, states, i, len[i], Ti, e);
            if (seq) { /* padded steps are zeros in both */
                int zeros = 1;
                for (size_t k = (size_t)len[i] * C; k < (size_t)Ti * C; k++)
                    zeros &= one[k] == 0.0f;
                for (size_t k = (size_t)len[i] * C; k < (size_t)T * C; k++)
                    zeros &= ref[k] == 0.0f;
                CHECK(zeros, "padded outputs are not zero");
            }
            free(xi);
        }
    }
    printf("  length invariance (mode %s, %s%s): worst relative difference %.2e%s\n", seq ? "sequence" : "last",
           task == VL_TASK_CLASSIFY ? "classify" : "regress", states ? ", h0/c0" : "", worst,
           exact ? " (bit-identical)" : "");

    /* batch order does not matter: reversing the batch reverses the outputs */
    batch_data r;
    make_batch(&r, &cfg, B, T, len, 0.0f, -1, 0);
    int32_t rlen[3];
    for (int i = 0; i < B; i++) {
        rlen[i] = len[B - 1 - i];
        memcpy(r.x + (size_t)i * T * cfg.input, d.x + (size_t)(B - 1 - i) * T * cfg.input,
               sizeof(float) * (size_t)T * cfg.input);
    }
    memcpy(r.len, rlen, sizeof rlen);
    vl_batch db = d.b;
    db.h0 = db.c0 = NULL;
    float *o1 = malloc(sizeof(float) * no), *o2 = malloc(sizeof(float) * no);
    vl_net_forward(net, &db, o1);
    vl_net_forward(net, &r.b, o2);
    size_t per = seq ? (size_t)T * C : (size_t)C;
    int order_ok = 1;
    for (int i = 0; i < B; i++)
        order_ok &= out_err(o2 + (size_t)i * per, o1 + (size_t)(B - 1 - i) * per, per) <= LEN_TOL;
    CHECK(order_ok, "reversing the batch does not reverse the outputs");
    free(o1);
    free(o2);
    free_batch(&r);
    free(out);
    free(one);
    free_batch(&d);
    vl_net_free(net);
}

/* Garbage (NaN, huge values, bad labels) at padded steps changes nothing, bit for bit. */
static void padding_case(vl_out_mode mode, vl_task task, float drop, int states)
{
    vl_net_config cfg = contract_cfg(mode, task, drop);
    const int B = 3, T = 6;
    const int32_t len[3] = {3, 6, 1};
    batch_data clean, dirty;
    uint64_t save = trng;
    make_batch(&clean, &cfg, B, T, len, 0.0f, -1, states);
    trng = save; /* the same valid values */
    make_batch(&dirty, &cfg, B, T, len, NAN, 12345, states);
    for (size_t i = 0; i < (size_t)B * T * cfg.input; i += 3) /* mix in huge values */
        if (isnan(dirty.x[i]))
            dirty.x[i] = 3e38f;
    int differs = memcmp(clean.x, dirty.x, sizeof(float) * (size_t)B * T * cfg.input) != 0;
    CHECK(differs, "padding test: the two batches are the same");

    float *res[2][4];
    float loss[2];
    vl_net *nets[2];
    size_t nx = (size_t)B * T * cfg.input, no = 0, nh = 0;
    for (int k = 0; k < 2; k++) {
        batch_data *d = k ? &dirty : &clean;
        vl_net_create(&cfg, 55, &nets[k]);
        vl_net_want_input_grads(nets[k], 1);
        no = vl_net_output_size(nets[k], &d->b);
        res[k][0] = malloc(sizeof(float) * no);
        res[k][1] = malloc(sizeof(float) * nx);
        res[k][2] = malloc(sizeof(float) * 256);
        res[k][3] = malloc(sizeof(float) * no);
        vl_status st = vl_net_forward_backward(nets[k], &d->b, &loss[k], res[k][0]);
        CHECK(st == VL_OK, "padding case (%s): %s", k ? "garbage" : "clean", vl_errmsg());
        CHECK(vl_net_input_grads(nets[k], res[k][1], states ? res[k][2] : NULL, NULL) == VL_OK, "%s", vl_errmsg());
        CHECK(vl_net_forward(nets[k], &d->b, res[k][3]) == VL_OK, "%s", vl_errmsg());
    }
    if (states)
        nh = (size_t)B * (2 * 5 + 4);
    const char *tag = mode == VL_OUT_SEQUENCE ? (task == VL_TASK_CLASSIFY ? "seq/classify" : "seq/regress")
                                              : (task == VL_TASK_CLASSIFY ? "last/classify" : "last/regress");
    CHECK(memcmp(&loss[0], &loss[1], sizeof(float)) == 0, "%s: garbage padding changed the loss (%.9g vs %.9g)",
          tag, (double)loss[0], (double)loss[1]);
    CHECK(memcmp(res[0][0], res[1][0], sizeof(float) * no) == 0, "%s: garbage padding changed the outputs", tag);
    CHECK(memcmp(res[0][3], res[1][3], sizeof(float) * no) == 0, "%s: garbage padding changed inference", tag);
    CHECK(memcmp(res[0][1], res[1][1], sizeof(float) * nx) == 0, "%s: garbage padding changed dx", tag);
    if (states)
        CHECK(memcmp(res[0][2], res[1][2], sizeof(float) * nh) == 0, "%s: garbage padding changed dh0", tag);
    int pad_zero = 1;
    for (int i = 0; i < B; i++)
        for (int t = len[i]; t < T; t++)
            for (int k = 0; k < cfg.input; k++)
                pad_zero &= res[1][1][((size_t)i * T + t) * cfg.input + k] == 0.0f;
    CHECK(pad_zero, "%s: dx is not zero at padded steps", tag);
    int grads_same = 1;
    for (int i = 0; i < vl_net_num_params(nets[0]); i++) {
        vl_param p0, p1;
        vl_net_param(nets[0], i, &p0);
        vl_net_param(nets[1], i, &p1);
        grads_same &= memcmp(p0.grad, p1.grad, sizeof(float) * p0.count) == 0;
    }
    CHECK(grads_same, "%s: garbage padding changed the weight gradients", tag);
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < 4; j++)
            free(res[k][j]);
        vl_net_free(nets[k]);
    }
    free_batch(&clean);
    free_batch(&dirty);
}

static void test_variable_length(void)
{
    invariance_case(VL_OUT_LAST, VL_TASK_CLASSIFY, 0);
    invariance_case(VL_OUT_SEQUENCE, VL_TASK_REGRESS, 0);
    invariance_case(VL_OUT_LAST, VL_TASK_REGRESS, 1);
    invariance_case(VL_OUT_SEQUENCE, VL_TASK_CLASSIFY, 1);
    padding_case(VL_OUT_LAST, VL_TASK_CLASSIFY, 0.0f, 0);
    padding_case(VL_OUT_SEQUENCE, VL_TASK_CLASSIFY, 0.3f, 0);
    padding_case(VL_OUT_SEQUENCE, VL_TASK_REGRESS, 0.0f, 1);
    padding_case(VL_OUT_LAST, VL_TASK_REGRESS, 0.3f, 1);
}

/* Removes the scratch folder (flat: only files). */
/* Output guards (issue 12): the same file by inode or by resolved path,
 * outputs that are symlinks, pipes or devices, and npy's writer refusing to
 * replace a symlink with a regular file. */
static void test_outpath(void)
{
    char a[512], b[512], l[512], f[512], sub[512], rel[600], np[512];
    tpath(a, sizeof a, "op_a.txt");
    tpath(b, sizeof b, "op_b.txt");
    tpath(l, sizeof l, "op_link");
    tpath(f, sizeof f, "op_fifo");
    tpath(sub, sizeof sub, "op_sub");
    tpath(np, sizeof np, "op_new.npy");
    FILE *fp = fopen(a, "w");
    fputs("a", fp);
    fclose(fp);
    CHECK(link(a, b) == 0 && symlink(a, l) == 0 && mkfifo(f, 0600) == 0 && mkdir(sub, 0700) == 0, "setup");
    snprintf(rel, sizeof rel, "%s/../op_a.txt", sub);
    CHECK(vl_same_file(a, a) && vl_same_file(a, b) && vl_same_file(a, rel) && vl_same_file(a, l), "same by inode");
    char n1[560], n2[600];
    snprintf(n1, sizeof n1, "%s/new.bin", tmpdir);
    snprintf(n2, sizeof n2, "%s/./op_sub/../new.bin", tmpdir);
    CHECK(vl_same_file(n1, n2), "two paths to one file that does not exist yet");
    CHECK(!vl_same_file(a, n1) && !vl_same_file(n1, np), "different files");
    const char *ins[] = {NULL, rel};
    CHECK(vl_output_check("--out", b, ins, 2) == VL_ERR_ARG && strstr(vl_errmsg(), "same file"), "hard link refused");
    CHECK(vl_output_check("--out", l, NULL, 0) == VL_ERR_ARG && strstr(vl_errmsg(), "symbolic link"), "symlink");
    CHECK(vl_output_check("--out", f, NULL, 0) == VL_ERR_ARG && strstr(vl_errmsg(), "named pipe"), "pipe");
    CHECK(vl_output_check("--out", "/dev/null", NULL, 0) == VL_ERR_ARG && strstr(vl_errmsg(), "a device"), "device");
    CHECK(vl_output_check("--out", sub, NULL, 0) == VL_ERR_ARG && strstr(vl_errmsg(), "a directory"), "folder");
    CHECK(vl_output_check("--out", np, ins, 2) == VL_OK, "a new file is fine: %s", vl_errmsg());
    CHECK(vl_output_dir_check("--report", sub, NULL, 0) == VL_OK && vl_output_dir_check("--report", a, NULL, 0) ==
          VL_ERR_ARG, "folder outputs");
    float x[2] = {1, 2};
    int64_t sh[1] = {2};
    CHECK(vl_npy_write(l, VL_NPY_F32, 1, sh, x) == VL_ERR_ARG, "npy writer refuses a symlink");
    struct stat st;
    CHECK(lstat(l, &st) == 0 && S_ISLNK(st.st_mode), "the symlink is still a symlink");
    remove(a);
    remove(b);
    remove(l);
    remove(f);
    rmdir(sub);
}

static void cleanup(void)
{
    const char *names[] = {"f1.npy", "f3.npy", "i1.npy", "i3.npy", "empty.npy", "scalar.npy", "f8.npy", "i8.npy",
                           "badmagic.npy", "text.npy", "empty_file.npy", "trunc_data.npy", "trunc_hdr.npy",
                           "fortran.npy", "noorder.npy", "f2.npy", "bigendian.npy", "u1.npy", "i8big.npy", "noshape.npy"};
    char path[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tpath(path, sizeof path, names[i]);
        remove(path);
    }
    /* anything left (a temp file vl_npy_write failed to clean up) makes rmdir fail */
    CHECK(rmdir(tmpdir) == 0, "scratch folder %s not empty after the test (leftover temp files?)", tmpdir);
}


/* A batch given as per-sequence pointers (seq_x, seq_labels/seq_targets,
 * seq_out), each sequence in its own exact-length allocation, gives the same
 * bits as the padded batch: outputs, loss and every gradient (two networks
 * of one seed, so dropout draws the same masks). Ensembles too. */
static void seq_batch_case(vl_out_mode mode, vl_task task)
{
    vl_net_config cfg = contract_cfg(mode, task, 0.25f);
    vl_net *a, *b;
    CHECK(vl_net_create(&cfg, 7, &a) == VL_OK && vl_net_create(&cfg, 7, &b) == VL_OK, "%s", vl_errmsg());
    const int B = 4, T = 7, D = cfg.input, C = cfg.outputs, seq = mode == VL_OUT_SEQUENCE;
    const int32_t len[4] = {3, 7, 1, 7};
    batch_data d;
    make_batch(&d, &cfg, B, T, len, NAN, -1, 0);
    float *xs[4], *ts[4], *os[4];
    int32_t *ls[4];
    for (int j = 0; j < B; j++) {
        xs[j] = malloc(sizeof(float) * (size_t)len[j] * D);
        memcpy(xs[j], d.x + (size_t)j * T * D, sizeof(float) * (size_t)len[j] * D);
        ls[j] = malloc(sizeof(int32_t) * (size_t)len[j]);
        ts[j] = malloc(sizeof(float) * (size_t)len[j] * C);
        os[j] = malloc(sizeof(float) * (size_t)(seq ? len[j] : 1) * C);
        for (int t = 0; seq && t < len[j]; t++) {
            if (d.labels)
                ls[j][t] = d.labels[(size_t)j * T + t];
            if (d.targets)
                memcpy(ts[j] + (size_t)t * C, d.targets + ((size_t)j * T + t) * C, sizeof(float) * (size_t)C);
        }
    }
    vl_batch sb = {.batch = B, .tmax = T, .dim = D, .lengths = len, .seq_x = (const float *const *)xs};
    if (seq && task == VL_TASK_CLASSIFY)
        sb.seq_labels = (const int32_t *const *)ls;
    else if (seq)
        sb.seq_targets = (const float *const *)ts;
    else {
        sb.labels = d.labels;
        sb.targets = d.targets;
    }
    size_t no = vl_net_output_size(a, &d.b);
    float *oa = malloc(sizeof(float) * no), *ob = malloc(sizeof(float) * no);
    float la, lb;
    CHECK(vl_net_forward_backward(a, &d.b, &la, oa) == VL_OK, "padded: %s", vl_errmsg());
    CHECK(vl_net_forward_backward(b, &sb, &lb, ob) == VL_OK, "pointers: %s", vl_errmsg());
    int same = memcmp(&la, &lb, sizeof la) == 0 && memcmp(oa, ob, sizeof(float) * no) == 0;
    for (int i = 0; i < vl_net_num_params(a); i++) {
        vl_param pa, pb;
        vl_net_param(a, i, &pa);
        vl_net_param(b, i, &pb);
        same &= memcmp(pa.grad, pb.grad, sizeof(float) * pa.count) == 0;
    }
    CHECK(same, "mode %d task %d: a batch of sequence pointers trains differently (loss %.9g vs %.9g)", (int)mode,
          (int)task, (double)la, (double)lb);
    /* inference straight into per-sequence outputs */
    sb.seq_out = os;
    CHECK(vl_net_forward(a, &d.b, oa) == VL_OK && vl_net_forward(b, &sb, NULL) == VL_OK, "%s", vl_errmsg());
    same = 1;
    for (int j = 0; j < B; j++)
        same &= memcmp(os[j], oa + (size_t)j * (seq ? T : 1) * C, sizeof(float) * (size_t)(seq ? len[j] : 1) * C) == 0;
    CHECK(same, "mode %d task %d: seq_out differs from the padded outputs", (int)mode, (int)task);
    /* an ensemble: the averaged outputs land in seq_out alike */
    vl_net *m;
    CHECK(vl_net_create(&cfg, 8, &m) == VL_OK && vl_net_add_member(b, m) == VL_OK, "%s", vl_errmsg());
    CHECK(vl_net_forward(b, &d.b, oa) == VL_OK && vl_net_forward(b, &sb, NULL) == VL_OK, "%s", vl_errmsg());
    same = 1;
    for (int j = 0; j < B; j++)
        same &= memcmp(os[j], oa + (size_t)j * (seq ? T : 1) * C, sizeof(float) * (size_t)(seq ? len[j] : 1) * C) == 0;
    CHECK(same, "mode %d task %d: an ensemble's seq_out differs from its padded outputs", (int)mode, (int)task);
    sb.seq_out = NULL;
    CHECK(vl_net_forward(a, &sb, NULL) == VL_ERR_ARG, "forward without any output buffer accepted");
    if (seq && task == VL_TASK_CLASSIFY) {
        int32_t *keep = ls[2];
        ls[2] = NULL;
        CHECK(vl_net_forward_backward(a, &sb, &la, NULL) == VL_ERR_ARG && strstr(vl_errmsg(), "sequence 2"),
              "a sequence without labels accepted: %s", vl_errmsg());
        ls[2] = keep;
    }
    for (int j = 0; j < B; j++) {
        free(xs[j]);
        free(ls[j]);
        free(ts[j]);
        free(os[j]);
    }
    free(oa);
    free(ob);
    free_batch(&d);
    vl_net_free(a);
    vl_net_free(b);
}

static void test_seq_batches(void)
{
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 2; k++)
            seq_batch_case(m ? VL_OUT_SEQUENCE : VL_OUT_LAST, k ? VL_TASK_REGRESS : VL_TASK_CLASSIFY);
}

/* The layer-spec grammar (vl_net_parse_layers) and the layer table's
 * parameter count against the networks vl_net_create builds. */
static void test_layer_specs(void)
{
    vl_net_config c = {.input = 6, .outputs = 3};
    CHECK(vl_net_parse_layers("bilstm:5,dropout:0.25,gru:4,bigru:3,lstm:2", &c) == VL_OK, "%s", vl_errmsg());
    const vl_layer_spec want[5] = {{VL_LAYER_LSTM, 5, 1, 0}, {VL_LAYER_DROPOUT, 0, 0, 0.25f}, {VL_LAYER_GRU, 4, 0, 0},
                                   {VL_LAYER_GRU, 3, 1, 0}, {VL_LAYER_LSTM, 2, 0, 0}};
    CHECK(c.nlayers == 5 && !memcmp(c.layer, want, sizeof want), "parsed %d layers, not as written", c.nlayers);
    vl_net *net;
    CHECK(vl_net_create(&c, 1, &net) == VL_OK, "%s", vl_errmsg());
    /* 2*(20*6+20*5+40) + (12*10+12*4+24) + 2*(9*4+9*3+18) + (8*6+8*2+16) + 3*(2+1) */
    CHECK(vl_net_param_count(net) == 963 && vl_arch_param_count(&c) == 963, "parameters %zu, table %llu",
          vl_net_param_count(net), (unsigned long long)vl_arch_param_count(&c));
    vl_net_free(net);
    CHECK(vl_net_parse_layers("mean", &c) == VL_OK && c.nlayers == 1 && c.layer[0].kind == VL_LAYER_MEAN, "mean");
    CHECK(vl_net_create(&c, 1, &net) == VL_OK && vl_net_param_count(net) == 21 && vl_arch_param_count(&c) == 21,
          "mean: %s", vl_errmsg());
    vl_net_free(net);
    static const char *const bad[][2] = {
        {"", "empty layer list"},
        {"lstm", "lstm needs a hidden size, e.g. lstm:128"},
        {"bigru:x", "bigru needs a hidden size"},
        {"lstm:0", "lstm:0: the hidden size must be 1 to 65536"},
        {"bimean", "unknown layer 'bimean' (lstm, bilstm, gru, bigru, dropout, mean)"},
        {"bidropout:0.5", "unknown layer 'bidropout'"},
        {"dropout:1", "dropout needs a probability in [0, 1)"},
        {"mean:3", "'mean' takes no size"},
        {"lstm:4,,gru:2", "bad layer '' in 'lstm:4,,gru:2'"},
        {"gru:1,gru:1,gru:1,gru:1,gru:1,gru:1,gru:1,gru:1,gru:1,gru:1,gru:1,gru:1,gru:1,gru:1,gru:1,gru:1,gru:1",
         "at most 16 layers"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(vl_net_parse_layers(bad[i][0], &c) == VL_ERR_ARG && strstr(vl_errmsg(), bad[i][1]),
              "'%s': %s (want '%s')", bad[i][0], vl_errmsg(), bad[i][1]);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/vl_units_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_npy();
    test_pack();
    test_rng();
    test_dropout();
    test_losses();
    test_clip();
    test_big_norm();
    test_schedule();
    test_create_errors();
    test_forward_errors();
    test_live_weights_and_workspace();
    test_determinism();
    test_variable_length();
    test_seq_batches();
    test_layer_specs();
    test_outpath();
    cleanup();
    return check_summary();
}
