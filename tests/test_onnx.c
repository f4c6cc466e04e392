/* ONNX backbones against PyTorch: every model in tests/fixtures/onnx (and,
 * when generated, the large torchvision models in build-cache/onnx, see
 * gen_onnx.py --large) is run on its reference input; the graph output and
 * the feature tensor must match PyTorch's to 1e-4 relative (max |a-b| over
 * max |b|). Also: the default tap (the classifier's input; a headless
 * model's output), batch independence, and every robustness
 * case (truncated, garbage, empty, unsupported operators named, NaN weights,
 * unknown tap, wrong input rank/size). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/backbone.h"
#include "backbone/builtin.h"
#include "check.h"
#include "vidlstm.h"

static char dir[1024];

static int meta_get(const char *model, const char *key, char *val, size_t len)
{
    char path[2048], k[128], line[4096];
    snprintf(path, sizeof path, "%s/%s.meta.txt", dir, model);
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

static double max_rel(const float *a, const float *b, int64_t n)
{
    double mx = 0, d = 0;
    for (int64_t i = 0; i < n; i++) {
        mx = fabs(b[i]) > mx ? fabs(b[i]) : mx;
        double e = fabs((double)a[i] - b[i]);
        d = e > d || isnan(e) ? (isnan(e) ? INFINITY : e) : d;
    }
    return d / (mx > 0 ? mx : 1);
}

static void parity(const char *base, const char *model)
{
    char path[2048], ft[512];
    snprintf(dir, sizeof dir, "%s", base);
    snprintf(path, sizeof path, "%s/%s.onnx", base, model);
    vl_onnx *m;
    vl_status st = vl_onnx_load(path, &m);
    CHECK(st == VL_OK, "%s: %s", model, vl_errmsg());
    if (st) return;
    vl_npy x, logits, feat;
    snprintf(path, sizeof path, "%s/%s.input.npy", base, model);
    int ok = vl_npy_read(path, &x) == VL_OK;
    snprintf(path, sizeof path, "%s/%s.logits.npy", base, model);
    ok = ok && vl_npy_read(path, &logits) == VL_OK;
    snprintf(path, sizeof path, "%s/%s.feature.npy", base, model);
    ok = ok && vl_npy_read(path, &feat) == VL_OK;
    CHECK(ok && meta_get(model, "feature_tensor", ft, sizeof ft), "%s: fixture files: %s", model, vl_errmsg());
    if (!ok) { vl_onnx_free(m); return; }

    const float *y;
    int nd;
    int64_t shape[VL_ONNX_MAXDIM];
    st = vl_onnx_run(m, x.data, x.ndim, x.shape, NULL, &y, &nd, shape);
    CHECK(st == VL_OK, "%s: run: %s", model, vl_errmsg());
    if (!st) {
        CHECK(nd == logits.ndim && !memcmp(shape, logits.shape, sizeof(int64_t) * (size_t)nd), "%s: output shape", model);
        double e = max_rel(y, logits.data, logits.count);
        CHECK(e <= 1e-4, "%s: logits rel err %.3g", model, e);
    }
    st = vl_onnx_run(m, x.data, x.ndim, x.shape, ft, &y, &nd, shape);
    CHECK(st == VL_OK, "%s: run to %s: %s", model, ft, vl_errmsg());
    if (!st) {
        CHECK((int64_t)shape[0] * (feat.count / feat.shape[0]) == feat.count, "%s: feature shape", model);
        double e = max_rel(y, feat.data, feat.count);
        CHECK(e <= 1e-4, "%s: feature rel err %.3g", model, e);
        printf("%s: feature max|ours-torch|/max|torch| = %.2g\n", model, e);
    }
    /* The default tap is the classifier's input, i.e. this feature (up to a Flatten). */
    const char *def = vl_onnx_default_tap(m);
    st = vl_onnx_run(m, x.data, x.ndim, x.shape, def, &y, &nd, shape);
    CHECK(st == VL_OK, "%s: default tap %s: %s", model, def, vl_errmsg());
    int64_t per = feat.count / feat.shape[0], cnt = 1;
    for (int d = 0; d < nd; d++) cnt *= shape[d];
    CHECK(!st && cnt == feat.count && max_rel(y, feat.data, feat.count) <= 1e-4,
          "%s: default tap %s is not the classifier's input %s", model, def, ft);
    /* Batch independence: the second sample alone gives the second row. */
    int64_t one[VL_ONNX_MAXDIM];
    memcpy(one, x.shape, sizeof one);
    one[0] = 1;
    int64_t img = x.count / x.shape[0];
    st = vl_onnx_run(m, (float *)x.data + img, x.ndim, one, ft, &y, &nd, shape);
    CHECK(st == VL_OK && max_rel(y, (float *)feat.data + per, per) <= 1e-4, "%s: batch of one differs", model);
    vl_npy_free(&x);
    vl_npy_free(&logits);
    vl_npy_free(&feat);
    vl_onnx_free(m);
    printf("%s: ok so far (%d passed, %d failed)\n", model, check_pass, check_fail);
}

static void expect_error(const char *base, const char *file, vl_status want, const char *needle)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", base, file);
    vl_onnx *m = NULL;
    vl_status st = vl_onnx_load(path, &m);
    CHECK(st == want, "%s: status %d, want %d (%s)", file, st, want, vl_errmsg());
    CHECK(strstr(vl_errmsg(), file) && (!needle || strstr(vl_errmsg(), needle)), "%s: message '%s' lacks '%s'", file,
          vl_errmsg(), needle ? needle : file);
    if (!st) vl_onnx_free(m);
}

static void robustness(const char *base)
{
    expect_error(base, "bad_truncated.onnx", VL_ERR_FORMAT, NULL);
    expect_error(base, "bad_random.onnx", VL_ERR_FORMAT, NULL);
    expect_error(base, "bad_empty.onnx", VL_ERR_FORMAT, "empty");
    expect_error(base, "bad_nan.onnx", VL_ERR_NUMERIC, "NaN");
    expect_error(base, "bad_unsupported.onnx", VL_ERR_UNSUPPORTED, "Einsum");
    expect_error(base, "bad_unsupported.onnx", VL_ERR_UNSUPPORTED, "Erf");
    expect_error(base, "no_such_model.onnx", VL_ERR_IO, NULL);
    /* fopen accepts a directory and its size read as LONG_MAX ("out of memory") */
    expect_error(base, "", VL_ERR_IO, "is a directory, not an ONNX file");
    vl_onnx *dev = NULL;
    CHECK(vl_onnx_load("/dev/null", &dev) == VL_ERR_IO && strstr(vl_errmsg(), "/dev/null is not a regular file"),
          "character device: %s", vl_errmsg());

    char path[2048];
    snprintf(path, sizeof path, "%s/tiny.onnx", base);
    vl_onnx *m;
    if (vl_onnx_load(path, &m)) { CHECK(0, "tiny: %s", vl_errmsg()); return; }
    float *x = calloc(2 * 3 * 40 * 40, sizeof(float));
    const float *y;
    int nd;
    int64_t shape[VL_ONNX_MAXDIM];
    int64_t good[4] = {2, 3, 32, 32}, rank3[3] = {3, 32, 32}, size[4] = {2, 3, 40, 40}, chans[4] = {2, 4, 32, 32};
    CHECK(vl_onnx_run(m, x, 4, good, "no_such_tensor", &y, &nd, shape) == VL_ERR_ARG &&
              strstr(vl_errmsg(), "no_such_tensor"), "unknown tap: %s", vl_errmsg());
    CHECK(vl_onnx_run(m, x, 3, rank3, NULL, &y, &nd, shape) == VL_ERR_SHAPE && strstr(vl_errmsg(), "dimensions"),
          "wrong rank: %s", vl_errmsg());
    CHECK(vl_onnx_run(m, x, 4, size, NULL, &y, &nd, shape) == VL_ERR_SHAPE, "wrong size: %s", vl_errmsg());
    CHECK(vl_onnx_run(m, x, 4, chans, NULL, &y, &nd, shape) == VL_ERR_SHAPE, "wrong channels: %s", vl_errmsg());
    CHECK(vl_onnx_run(m, x, 4, good, "/bn1/BatchNormalization_output_0", &y, &nd, shape) == VL_ERR_ARG &&
              strstr(vl_errmsg(), "folded"), "tap folded into the next operator: %s", vl_errmsg());
    CHECK(vl_onnx_run(m, x, 4, good, "/Relu_output_0", &y, &nd, shape) == VL_OK && nd == 4 && shape[1] == 16,
          "tap after fused Conv+BN+Relu: %s", vl_errmsg());
    CHECK(vl_onnx_run(m, x, 4, good, NULL, &y, &nd, shape) == VL_OK, "still usable after errors: %s", vl_errmsg());
    free(x);
    vl_onnx_free(m);
}

/* The backbone interface over ONNX and the built-in descriptor. */
static void backbone_iface(const char *base)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/tiny.onnx", base);
    vl_backbone *b;
    vl_status st = vl_backbone_open(path, NULL, &b);
    CHECK(st == VL_OK, "backbone tiny: %s", vl_errmsg());
    if (!st) {
        const vl_backbone_desc *d = vl_backbone_describe(b);
        CHECK(d->feature_dim == 32 && d->pre.width == 32 && d->pre.height == 32 && !d->pre.nhwc &&
                  !strcmp(d->tap, "/Relu_4_output_0"),
              "tiny desc: dim %d size %dx%d nhwc %d tap %s", d->feature_dim, d->pre.width, d->pre.height, d->pre.nhwc,
              d->tap);
        vl_npy x, f;
        snprintf(path, sizeof path, "%s/tiny.input.npy", base);
        int ok = vl_npy_read(path, &x) == VL_OK;
        snprintf(path, sizeof path, "%s/tiny.feature.npy", base);
        ok = ok && vl_npy_read(path, &f) == VL_OK;
        float out[2 * 32];
        CHECK(ok && vl_backbone_run(b, x.data, 2, 1, out) == VL_OK && max_rel(out, f.data, 64) <= 1e-4,
              "backbone features differ from PyTorch's: %s", vl_errmsg());
        if (ok) { vl_npy_free(&x); vl_npy_free(&f); }
        vl_backbone_close(b);
    }
    snprintf(path, sizeof path, "%s/tiny_nhwc.onnx", base);
    st = vl_backbone_open(path, NULL, &b);
    CHECK(st == VL_OK && vl_backbone_describe(b)->pre.nhwc == 1 && vl_backbone_describe(b)->feature_dim == 256,
          "NHWC model not detected: %s", vl_errmsg());
    if (!st) vl_backbone_close(b);
    const char *bn = vl_builtin_names()[0];
    char spec[256];
    snprintf(spec, sizeof spec, "builtin:%s", bn);
    st = vl_backbone_open(spec, NULL, &b);
    CHECK(st == VL_OK && vl_backbone_describe(b)->feature_dim > 0, "builtin %s: %s", spec, vl_errmsg());
    if (!st) vl_backbone_close(b);
    CHECK(vl_backbone_open("no/such/model.onnx", NULL, &b) == VL_ERR_IO && strstr(vl_errmsg(), "no/such/model.onnx"),
          "missing model: %s", vl_errmsg());
}

/* A headless export (no final classifier): the default tap is the graph's
 * output, which equals PyTorch's output, and the backbone's feature width is
 * that output's (not some earlier layer's C*H*W). gen_headless.py. */
static void headless(const char *base, const char *model)
{
    char path[2048], want[512];
    snprintf(dir, sizeof dir, "%s", base);
    snprintf(path, sizeof path, "%s/%s.onnx", base, model);
    vl_onnx *m;
    vl_npy x = {0}, feat = {0};
    vl_status st = vl_onnx_load(path, &m);
    CHECK(st == VL_OK, "%s: %s", model, vl_errmsg());
    if (st) return;
    CHECK(meta_get(model, "default_tap", want, sizeof want), "%s: meta", model);
    const char *def = vl_onnx_default_tap(m);
    CHECK(!strcmp(def, want) && !strcmp(def, vl_onnx_output_name(m)), "%s: default tap %s, want the output %s", model,
          def, want);
    snprintf(path, sizeof path, "%s/%s.input.npy", base, model);
    int ok = vl_npy_read(path, &x) == VL_OK;
    snprintf(path, sizeof path, "%s/%s.feature.npy", base, model);
    ok = ok && vl_npy_read(path, &feat) == VL_OK;
    CHECK(ok, "%s: fixture files: %s", model, vl_errmsg());
    const float *y;
    int nd;
    int64_t shape[VL_ONNX_MAXDIM];
    if (ok) {
        st = vl_onnx_run(m, x.data, x.ndim, x.shape, def, &y, &nd, shape);
        int64_t cnt = 1;
        for (int d = 0; !st && d < nd; d++) cnt *= shape[d];
        CHECK(!st && cnt == feat.count && max_rel(y, feat.data, feat.count) <= 1e-4, "%s: default tap vs torch: %s",
              model, st ? vl_errmsg() : "differs");
    }
    vl_onnx_free(m);
    vl_backbone *b = NULL;
    snprintf(path, sizeof path, "%s/%s.onnx", base, model);
    st = vl_backbone_open(path, NULL, &b);
    CHECK(st == VL_OK, "%s: backbone: %s", model, vl_errmsg());
    if (!st && ok) {
        const vl_backbone_desc *d = vl_backbone_describe(b);
        int64_t per = feat.count / feat.shape[0];
        CHECK(d->feature_dim == per && !strcmp(d->tap, want), "%s: backbone features %d from %s, want %lld from %s",
              model, d->feature_dim, d->tap, (long long)per, want);
    }
    vl_backbone_close(b);
    vl_npy_free(&x);
    vl_npy_free(&feat);
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : "tests/fixtures/onnx";
    const char *large = argc > 2 ? argv[2] : "build-cache/onnx";
    static const char *const committed[] = {"tiny", "tiny_bnfused", "tiny_extdata", "tiny_nhwc", "squeezenet1_1",
                                            "ops", "ops_noname", "ops_opset18", "shuffle"};
    for (size_t i = 0; i < sizeof committed / sizeof *committed; i++)
        parity(base, committed[i]);
    static const char *const headless_models[] = {"headless_resnet", "headless_pool5", "headless_embed",
                                                  "headless_mnv2"};
    for (size_t i = 0; i < sizeof headless_models / sizeof *headless_models; i++)
        headless(base, headless_models[i]);
    robustness(base);
    backbone_iface(base);
    static const char *const big[] = {"resnet18", "resnet50", "mobilenet_v2", "googlenet", "efficientnet_b0",
                                      "shufflenet_v2_x1_0", "shufflenet_v2_x1_0_bnfused", "densenet121",
                                      "densenet121_bnfused", "regnet_y_400mf", "regnet_y_400mf_bnfused",
                                      "inception_v3", "inception_v3_bnfused"};
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s.onnx", large, big[i]);
        FILE *f = fopen(path, "rb");
        if (!f) {
            printf("SKIP %s: not generated (run /usr/bin/python3 tests/fixtures/onnx/gen_onnx.py --large %s)\n", big[i],
                   large);
            continue;
        }
        fclose(f);
        parity(large, big[i]);
    }
    return check_summary();
}
