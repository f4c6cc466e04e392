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

static void model(const char *base, const char *name)
{
    char path[2048], tap[512];
    vl_npy x = {0}, feat = {0};
    snprintf(path, sizeof path, "%s/%s.input.npy", base, name);
    int ok = vl_npy_read(path, &x) == VL_OK;
    snprintf(path, sizeof path, "%s/%s.feature.npy", base, name);
    ok = ok && vl_npy_read(path, &feat) == VL_OK;
    ok = ok && (meta_get(base, name, "feature_tensor", tap, sizeof tap) ||
                meta_get(base, name, "default_tap", tap, sizeof tap));
    CHECK(ok, "%s: fixture files: %s", name, vl_errmsg());
    vl_onnx *m32 = NULL, *mb = NULL;
    snprintf(path, sizeof path, "%s/%s.onnx", base, name);
    ok = ok && vl_onnx_load(path, &m32) == VL_OK && vl_onnx_load(path, &mb) == VL_OK;
    CHECK(ok, "%s: %s", name, vl_errmsg());
    if (!ok) goto out;
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
        CHECK(vl_onnx_set_precision(m, VL_PREC_INT8) == VL_ERR_UNSUPPORTED && strstr(vl_errmsg(), "int8") &&
                  strstr(vl_errmsg(), "tiny.onnx"),
              "int8: %s", vl_errmsg());
        CHECK(vl_onnx_precision(m) == VL_PREC_FP32, "a refused int8 leaves fp32");
        CHECK(vl_onnx_set_precision(m, (vl_precision)7) == VL_ERR_ARG, "precision 7");
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
    for (size_t i = 0; i < sizeof committed / sizeof *committed; i++)
        model(base, committed[i]);
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
    }
    errors(base);
    return check_summary();
}
