/* Reduced precision for ONNX backbones (vl_onnx_set_precision; issue 13 item 3).
 *
 * On each model's reference input (PyTorch's fp32 features, made by
 * tests/fixtures/onnx/gen_onnx.py / gen_headless.py) the bf16 features must be
 * within BF16_BOUND of PyTorch's and of our own fp32 ones in relative L2 norm
 * ||f - f_ref|| / ||f_ref||, and must differ from our fp32 ones (bf16 really
 * ran); switching back to fp32 gives our fp32 features bit for bit. Where the
 * CPU (or ONEDNN_MAX_CPU_ISA, which the `test_precision_fallback` test sets to
 * AVX512_CORE) has no bf16, bf16 falls back: fp32 results, bit for bit, and one
 * note naming the file. Bad values are one clear error; int8 is refused;
 * built-in descriptors take fp32 only.
 *
 * usage: test_precision FIXTURES_DIR LARGE_DIR [--expect-fallback]
 * (LARGE_DIR: build-cache/onnx; its models are skipped with a message when absent) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/backbone.h"
#include "check.h"
#include "vidlstm.h"

/* Measured here (Zen 5, AVX512-BF16), relative L2 error of the bf16 features
 * against PyTorch's fp32 ones: squeezenet1_1 8.0e-3, headless_resnet 2.6e-3,
 * headless_mnv2 2.4e-3, tiny 1.7e-3, ops 1.7e-3, resnet18 3.2e-3,
 * mobilenet_v2 2.6e-3, resnet50 4.1e-3 (printed by each run). bfloat16 keeps
 * 8 significant bits (2^-9 = 2e-3 relative rounding per value): 2e-2 leaves a
 * 2.5x margin on the worst. */
#define BF16_BOUND 2e-2

static int expect_fallback;

static double rel_l2(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = (double)a[i] - b[i];
        num += e * e;
        den += (double)b[i] * b[i];
    }
    if (isnan(num))
        return INFINITY;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* The CPU's own claim (Linux): avx512_bf16 or amx_bf16 among its flags. */
static int cpu_has_bf16(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192];
    int has = 0;
    while (f && !has && fgets(line, sizeof line, f))
        if (!strncmp(line, "flags", 5))
            has = strstr(line, " avx512_bf16") || strstr(line, " amx_bf16");
    if (f) fclose(f);
    return has;
}

static int meta_get(const char *base, const char *model, const char *key, char *val, size_t len)
{
    char path[2048], k[128], line[4096];
    snprintf(path, sizeof path, "%s/%s.meta.txt", base, model);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%127s", k) == 1 && !strcmp(k, key)) {
            char *v = line + strlen(k);
            v += strspn(v, " ");
            v[strcspn(v, "\n")] = 0;
            snprintf(val, len, "%s", v);
            found = 1;
            break;
        }
    fclose(f);
    return found;
}

/* Runs m to tap on x and copies the result (malloc'ed) with its count. */
static float *run_copy(vl_onnx *m, const vl_npy *x, const char *tap, int64_t *count)
{
    const float *y;
    int nd;
    int64_t shape[VL_ONNX_MAXDIM];
    if (vl_onnx_run(m, x->data, x->ndim, x->shape, tap, &y, &nd, shape))
        return NULL;
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    float *c = malloc(sizeof(float) * (size_t)n);
    if (c) memcpy(c, y, sizeof(float) * (size_t)n);
    *count = n;
    return c;
}

/* A fixture: its input and PyTorch's features, the tapped tensor's name,
 * and the model loaded twice (a, b); 0 (after a failed check) when a part is
 * missing. */
static int load_fixture(const char *base, const char *name, vl_npy *x, vl_npy *feat, char *tap, size_t taps,
                        vl_onnx **a, vl_onnx **b)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s.input.npy", base, name);
    int ok = vl_npy_read(path, x) == VL_OK;
    snprintf(path, sizeof path, "%s/%s.feature.npy", base, name);
    ok = ok && vl_npy_read(path, feat) == VL_OK;
    ok = ok && (meta_get(base, name, "feature_tensor", tap, taps) || meta_get(base, name, "default_tap", tap, taps));
    CHECK(ok, "%s: fixture files: %s", name, vl_errmsg());
    snprintf(path, sizeof path, "%s/%s.onnx", base, name);
    ok = ok && vl_onnx_load(path, a) == VL_OK && vl_onnx_load(path, b) == VL_OK;
    CHECK(ok, "%s: %s", name, vl_errmsg());
    return ok;
}

static void model(const char *base, const char *name)
{
    char tap[512];
    vl_npy x = {0}, feat = {0};
    vl_onnx *m32 = NULL, *mb = NULL;
    if (!load_fixture(base, name, &x, &feat, tap, sizeof tap, &m32, &mb)) goto out;
    CHECK(vl_onnx_precision(mb) == VL_PREC_FP32 && !vl_onnx_precision_note(mb), "%s: fp32 is the default", name);
    int64_t n32 = 0, nb = 0, nr = 0;
    float *f32 = run_copy(m32, &x, tap, &n32);
    CHECK(f32 && n32 == feat.count, "%s: fp32 run: %s", name, f32 ? "size" : vl_errmsg());
    /* a plan in fp32 first: set_precision must re-plan */
    float *first = run_copy(mb, &x, tap, &nr);
    free(first);
    vl_status st = vl_onnx_set_precision(mb, VL_PREC_BF16);
    CHECK(st == VL_OK, "%s: set bf16: %s", name, vl_errmsg());
    const char *note = vl_onnx_precision_note(mb);
    float *fb = run_copy(mb, &x, tap, &nb);
    CHECK(fb && nb == n32, "%s: bf16 run: %s", name, fb ? "size" : vl_errmsg());
    if (!f32 || !fb || nb != n32) goto out2;
    CHECK(!expect_fallback || note, "%s: expected a fallback (ONEDNN_MAX_CPU_ISA=%s), got %s", name,
          getenv("ONEDNN_MAX_CPU_ISA") ? getenv("ONEDNN_MAX_CPU_ISA") : "(unset)",
          vl_precision_name(vl_onnx_precision(mb)));
    if (note || expect_fallback) {
        CHECK(expect_fallback || !cpu_has_bf16() || getenv("ONEDNN_MAX_CPU_ISA") || !strstr(vl_blas_name(), "oneDNN"),
              "%s: bf16 fell back on a CPU whose /proc/cpuinfo lists avx512_bf16 or amx_bf16: %s", name,
              note ? note : "");
        CHECK(note && strstr(note, "bfloat16") && strstr(note, name) && strstr(note, "fp32"),
              "%s: fallback note '%s' should name the file, bfloat16 and fp32", name, note ? note : "(none)");
        CHECK(vl_onnx_precision(mb) == VL_PREC_FP32, "%s: fell back, yet runs in %s", name,
              vl_precision_name(vl_onnx_precision(mb)));
        CHECK(!memcmp(fb, f32, sizeof(float) * (size_t)n32), "%s: the fallback's features differ from fp32's", name);
        printf("%s: fallback: %s\n", name, note ? note : "(no note)");
    } else {
        CHECK(vl_onnx_precision(mb) == VL_PREC_BF16, "%s: runs in %s", name,
              vl_precision_name(vl_onnx_precision(mb)));
        double et = rel_l2(fb, feat.data, feat.count), eo = rel_l2(fb, f32, n32), e32 = rel_l2(f32, feat.data, n32);
        printf("%s: bf16 features: relative L2 error %.3g against PyTorch fp32, %.3g against ours fp32 "
               "(ours fp32 against PyTorch %.2g)\n", name, et, eo, e32);
        CHECK(et < BF16_BOUND, "%s: bf16 vs PyTorch %.3g", name, et);
        CHECK(eo < BF16_BOUND, "%s: bf16 vs fp32 %.3g", name, eo);
        CHECK(eo > 1e-5, "%s: bf16 features equal fp32's (%.3g): bf16 did not run", name, eo);
    }
    /* back to fp32: our fp32 result exactly */
    free(fb);
    CHECK(vl_onnx_set_precision(mb, VL_PREC_FP32) == VL_OK && !vl_onnx_precision_note(mb), "%s: set fp32", name);
    fb = run_copy(mb, &x, tap, &nb);
    CHECK(fb && nb == n32 && !memcmp(fb, f32, sizeof(float) * (size_t)n32), "%s: fp32 after bf16 is not fp32's "
          "result bit for bit", name);
out2:
    free(f32);
    free(fb);
out:
    vl_onnx_free(m32);
    vl_onnx_free(mb);
    vl_npy_free(&x);
    vl_npy_free(&feat);
}

/* ---- int8 ----
 * Measured here (Zen 5, AVX512-VNNI), relative L2 error of the int8 features
 * against our fp32 ones on each model's reference input (standard-normal
 * noise), calibrated on 8 other standard-normal images (seed 7):
 * squeezenet1_1 2.7e-2, headless_resnet 2.5e-3, headless_mnv2 3.2e-3,
 * tiny 3.8e-3, ops 5.7e-3, resnet18 1.4e-2, mobilenet_v2 1.0e-2, resnet50
 * 1.8e-2; calibrated on the 8 built-in photograph-like images (large models
 * only): resnet18 1.35e-2, mobilenet_v2 1.0e-2, resnet50 1.8e-2 (on 15
 * photographs instead of noise: 1.4e-2 / 1.0e-2 / 1.8e-2, docs/precision.md).
 * 8-bit steps with 1.5x headroom give ~1-3 %; 5e-2 leaves 1.8x on the worst
 * (SqueezeNet, whose features come straight from a Relu'd conv). */
#define INT8_BOUND 5e-2

static int cpu_has_vnni(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192];
    int has = 0;
    while (f && !has && fgets(line, sizeof line, f))
        if (!strncmp(line, "flags", 5))
            has = strstr(line, " avx512_vnni") || strstr(line, " avx_vnni") || strstr(line, " amx_int8");
    if (f) fclose(f);
    return has;
}

/* n standard-normal values from seed (Box-Muller on an LCG) */
static void normal_fill(float *x, int64_t n, uint32_t seed)
{
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        float u = ((float)(seed >> 8) + 1.0f) / 16777217.0f;
        seed = seed * 1664525u + 1013904223u;
        float v = (float)(seed >> 8) / 16777216.0f;
        x[i] = sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
    }
}

/* Runs m on a batch of nb images, image k = x's first when pos[k], else noise k;
 * returns the features of image `want` (malloc'ed, per floats). */
static float *run_batch(vl_onnx *m, const vl_npy *x, const char *tap, int nb, const int *pos, int want, int64_t *per)
{
    int64_t img = x->count / x->shape[0];
    float *in = malloc(sizeof(float) * (size_t)(img * nb));
    if (!in) return NULL;
    for (int k = 0; k < nb; k++) {
        if (pos[k]) memcpy(in + k * img, x->data, sizeof(float) * (size_t)img);
        else normal_fill(in + k * img, img, 1000u + (uint32_t)k);
    }
    int64_t shape[VL_ONNX_MAXDIM];
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    shape[0] = nb;
    const float *y;
    int nd;
    int64_t ys[VL_ONNX_MAXDIM];
    float *r = NULL;
    if (vl_onnx_run(m, in, x->ndim, shape, tap, &y, &nd, ys) == VL_OK) {
        int64_t n = 1;
        for (int d = 1; d < nd; d++) n *= ys[d];
        if ((r = malloc(sizeof(float) * (size_t)n))) memcpy(r, y + want * n, sizeof(float) * (size_t)n);
        *per = n;
    }
    free(in);
    return r;
}

static void model_int8(const char *base, const char *name, int builtin_calib)
{
    char tap[512];
    vl_npy x = {0}, feat = {0};
    vl_onnx *m32 = NULL, *mq = NULL;
    if (!load_fixture(base, name, &x, &feat, tap, sizeof tap, &m32, &mq)) goto out;
    int64_t n32 = 0, nq = 0;
    float *f32 = run_copy(m32, &x, tap, &n32), *fq = NULL, *f1 = NULL, *f3 = NULL, *f16 = NULL, *f16b = NULL;
    CHECK(f32 && n32 == feat.count, "%s: fp32 run: %s", name, f32 ? "size" : vl_errmsg());
    const char *cal = "built-in synthetic images";
    if (!builtin_calib) { /* 8 other images from the fixture's input distribution */
        int64_t cs[VL_ONNX_MAXDIM];
        memcpy(cs, x.shape, sizeof(int64_t) * (size_t)x.ndim);
        cs[0] = 8;
        float *c = malloc(sizeof(float) * (size_t)(x.count * 8));
        if (c) normal_fill(c, x.count * 8, 7u);
        CHECK(c && vl_onnx_calibrate(mq, c, x.ndim, cs) == VL_OK, "%s: calibrate: %s", name, vl_errmsg());
        free(c);
        cal = "8 standard-normal images";
    }
    CHECK(vl_onnx_set_precision(mq, VL_PREC_INT8) == VL_OK, "%s: set int8: %s", name, vl_errmsg());
    const char *note = vl_onnx_precision_note(mq);
    fq = run_copy(mq, &x, tap, &nq);
    CHECK(fq && nq == n32, "%s: int8 run: %s", name, fq ? "size" : vl_errmsg());
    if (!f32 || !fq || nq != n32) goto out2;
    CHECK(!expect_fallback || note, "%s: expected an int8 fallback (ONEDNN_MAX_CPU_ISA=%s)", name,
          getenv("ONEDNN_MAX_CPU_ISA") ? getenv("ONEDNN_MAX_CPU_ISA") : "(unset)");
    if (note || expect_fallback) {
        CHECK(expect_fallback || !cpu_has_vnni() || getenv("ONEDNN_MAX_CPU_ISA") || !strstr(vl_blas_name(), "oneDNN"),
              "%s: int8 fell back on a CPU whose /proc/cpuinfo lists VNNI: %s", name, note ? note : "");
        CHECK(note && strstr(note, "int8") && strstr(note, name) && strstr(note, "fp32"),
              "%s: int8 fallback note '%s' should name the file, int8 and fp32", name, note ? note : "(none)");
        CHECK(vl_onnx_precision(mq) == VL_PREC_FP32, "%s: int8 fell back, yet runs in %s", name,
              vl_precision_name(vl_onnx_precision(mq)));
        CHECK(!memcmp(fq, f32, sizeof(float) * (size_t)n32), "%s: the int8 fallback's features differ from fp32's", name);
        printf("%s: int8 fallback: %s\n", name, note ? note : "(no note)");
        goto out2;
    }
    CHECK(vl_onnx_precision(mq) == VL_PREC_INT8, "%s: runs in %s", name, vl_precision_name(vl_onnx_precision(mq)));
    double et = rel_l2(fq, feat.data, feat.count), eo = rel_l2(fq, f32, n32);
    printf("%s: int8 features (calibrated on %s): relative L2 error %.3g against ours fp32, %.3g against PyTorch "
           "fp32\n", name, cal, eo, et);
    double bound = INT8_BOUND;
    CHECK(eo < bound, "%s: int8 vs fp32 %.3g (bound %.3g)", name, eo, bound);
    CHECK(et < bound, "%s: int8 vs PyTorch %.3g (bound %.3g)", name, et, bound);
    CHECK(eo > 1e-4, "%s: int8 features equal fp32's (%.3g): int8 did not run", name, eo);
    /* Determinism: the first image's features are the same bits alone, at
     * position 1 of 3, and at positions 7 and 15 of 16 (other images: noise),
     * as in the run on the fixture's whole batch. */
    int64_t per = 0;
    static const int p1[1] = {1}, p3[3] = {0, 1, 0};
    int p16[16] = {0};
    p16[0] = p16[7] = p16[15] = 1;
    f1 = run_batch(mq, &x, tap, 1, p1, 0, &per);
    f3 = run_batch(mq, &x, tap, 3, p3, 1, &per);
    f16 = run_batch(mq, &x, tap, 16, p16, 7, &per);
    f16b = run_batch(mq, &x, tap, 16, p16, 15, &per);
    CHECK(f1 && f3 && f16 && f16b && per * x.shape[0] == n32, "%s: int8 batches: %s", name, vl_errmsg());
    if (f1 && f3 && f16 && f16b && per * x.shape[0] == n32) {
        size_t b = sizeof(float) * (size_t)per;
        CHECK(!memcmp(f1, fq, b), "%s: int8 batch 1 differs from the image's in the fixture's batch of %lld", name,
              (long long)x.shape[0]);
        CHECK(!memcmp(f3, fq, b), "%s: int8 features at position 1 of 3 differ from batch 1's", name);
        CHECK(!memcmp(f16, fq, b), "%s: int8 features at position 7 of 16 differ from batch 1's", name);
        CHECK(!memcmp(f16b, fq, b), "%s: int8 features at position 15 of 16 differ from batch 1's", name);
    }
    /* back to fp32: bit for bit */
    CHECK(vl_onnx_set_precision(mq, VL_PREC_FP32) == VL_OK && !vl_onnx_precision_note(mq), "%s: set fp32", name);
    free(fq);
    fq = run_copy(mq, &x, tap, &nq);
    CHECK(fq && nq == n32 && !memcmp(fq, f32, sizeof(float) * (size_t)n32), "%s: fp32 after int8 is not fp32's "
          "result bit for bit", name);
out2:
    free(f32), free(fq), free(f1), free(f3), free(f16), free(f16b);
out:
    vl_onnx_free(m32);
    vl_onnx_free(mq);
    vl_npy_free(&x);
    vl_npy_free(&feat);
}

static void errors(const char *base)
{
    vl_precision p = VL_PREC_BF16;
    CHECK(vl_precision_parse("fp8", &p) == VL_ERR_ARG && strstr(vl_errmsg(), "'fp8'") &&
              strstr(vl_errmsg(), "fp32, bf16 or int8"),
          "fp8: %s", vl_errmsg());
    CHECK(vl_precision_parse("BF16", &p) == VL_ERR_ARG, "names are lower case");
    CHECK(vl_precision_parse("bf16", &p) == VL_OK && p == VL_PREC_BF16, "bf16");
    CHECK(vl_precision_parse("fp32", &p) == VL_OK && p == VL_PREC_FP32, "fp32");
    CHECK(!strcmp(vl_precision_name(VL_PREC_BF16), "bf16") && !strcmp(vl_precision_name(VL_PREC_INT8), "int8"),
          "names");
    char path[2048];
    snprintf(path, sizeof path, "%s/tiny.onnx", base);
    vl_onnx *m;
    if (vl_onnx_load(path, &m) == VL_OK) {
        CHECK(vl_onnx_set_precision(m, (vl_precision)7) == VL_ERR_ARG && strstr(vl_errmsg(), "tiny.onnx"),
              "precision 7: %s", vl_errmsg());
        CHECK(vl_onnx_precision(m) == VL_PREC_FP32, "a refused precision leaves fp32");
        int64_t sh[4] = {1, 3, 8, 8};
        CHECK(vl_onnx_calibrate(m, NULL, 4, sh) == VL_ERR_ARG && strstr(vl_errmsg(), "tiny.onnx"),
              "calibrate(NULL): %s", vl_errmsg());
        vl_onnx_free(m);
    }
    /* the backbone layer: ONNX backbones take it, built-in descriptors refuse */
    vl_backbone *b;
    CHECK(vl_backbone_open("builtin:motion", NULL, &b) == VL_OK, "builtin: %s", vl_errmsg());
    if (b) {
        CHECK(!vl_backbone_takes_precision(b), "builtin takes precision");
        CHECK(vl_backbone_set_precision(b, VL_PREC_FP32, NULL) == VL_OK, "builtin fp32");
        CHECK(vl_backbone_set_precision(b, VL_PREC_BF16, NULL) == VL_ERR_ARG && strstr(vl_errmsg(), "ONNX"),
              "builtin bf16: %s", vl_errmsg());
        vl_backbone_close(b);
    }
    CHECK(vl_backbone_open(path, NULL, &b) == VL_OK, "tiny backbone: %s", vl_errmsg());
    if (b) {
        const char *note = "x";
        CHECK(vl_backbone_takes_precision(b) && vl_backbone_describe(b)->precision == VL_PREC_FP32, "tiny: fp32");
        CHECK(vl_backbone_set_precision(b, VL_PREC_BF16, &note) == VL_OK, "tiny bf16: %s", vl_errmsg());
        CHECK(vl_backbone_describe(b)->precision == (note ? VL_PREC_FP32 : VL_PREC_BF16),
              "desc.precision %s with note %s", vl_precision_name(vl_backbone_describe(b)->precision),
              note ? note : "(none)");
        vl_backbone_close(b);
    }
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : "tests/fixtures/onnx";
    const char *large = argc > 2 ? argv[2] : "build-cache/onnx";
    expect_fallback = argc > 3 && !strcmp(argv[3], "--expect-fallback");
    static const char *const committed[] = {"squeezenet1_1", "headless_resnet", "headless_mnv2", "tiny", "ops"};
    for (size_t i = 0; i < sizeof committed / sizeof *committed; i++) {
        model(base, committed[i]);
        model_int8(base, committed[i], 0);
    }
    static const char *const big[] = {"resnet18", "mobilenet_v2", "resnet50"};
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s.onnx", large, big[i]);
        FILE *f = fopen(path, "rb");
        if (!f) {
            printf("SKIP %s: not generated (/usr/bin/python3 tests/fixtures/onnx/gen_onnx.py --large %s)\n", big[i],
                   large);
            continue;
        }
        fclose(f);
        model(large, big[i]);
        model_int8(large, big[i], 0);
        model_int8(large, big[i], 1);
    }
    errors(base);
    return check_summary();
}
