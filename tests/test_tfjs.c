/* vidlstm import-tfjs against TensorFlow.js: the fixtures in
 * tests/fixtures/tfjs (a layers model and a graph model covering every layer
 * and op the importer maps, with uint8/uint16/float16 weights; inputs and
 * expected outputs computed by TF.js 4.22's CPU backend, make_fixtures.js) are
 * converted, run through the backbone API and the ONNX runner, and must agree
 * to 1e-4 relative. Also --tap, --pool, --input-range, the default feature
 * tensor, and bad input: malformed model.json, a missing shard, a short
 * shard, an unsupported op or layer (named), an unknown tap, an output that
 * is an input — each one clear error, nothing written.
 * usage: test_tfjs FIXTURE_DIR SCRATCH_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backbone/backbone.h"
#include "backbone/tfjs.h"
#include "check.h"
#include "vidlstm.h"

static const char *fix, *tmp;

static int load(const char *model, const char *name, vl_npy *a)
{
    char p[2048];
    snprintf(p, sizeof p, "%s/%s/%s", fix, model, name);
    vl_status st = vl_npy_read(p, a);
    CHECK(st == VL_OK, "%s", vl_errmsg());
    return st == VL_OK;
}

static int64_t numel(const vl_npy *a)
{
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++)
        n *= a->shape[d];
    return n;
}

/* [N, C, H, W] -> [N, H, W, C] */
static void to_nhwc(const float *x, const int64_t *s, float *y)
{
    for (int64_t n = 0; n < s[0]; n++)
        for (int64_t c = 0; c < s[1]; c++)
            for (int64_t h = 0; h < s[2]; h++)
                for (int64_t w = 0; w < s[3]; w++)
                    y[((n * s[2] + h) * s[3] + w) * s[1] + c] = x[((n * s[1] + c) * s[2] + h) * s[3] + w];
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

static void spit(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
}

static void parity(const char *model)
{
    char in[1024], out[1024];
    snprintf(in, sizeof in, "%s/%s", fix, model);
    snprintf(out, sizeof out, "%s/%s.onnx", tmp, model);
    vl_tfjs_info info;
    vl_status st = vl_tfjs_import(in, out, NULL, &info);
    CHECK(st == VL_OK, "%s: %s", model, vl_errmsg());
    if (st)
        return;
    CHECK(!strcmp(info.format, model), "%s: format %s", model, info.format);
    vl_npy x, y, tap;
    if (!load(model, "x.npy", &x) || !load(model, "y.npy", &y) || !load(model, "tap_add.npy", &tap))
        return;

    /* the graph output, through the backbone API (NHWC frames, as vidlstm feeds them) */
    vl_backbone *b;
    st = vl_backbone_open(out, NULL, &b);
    CHECK(st == VL_OK, "%s: %s", model, vl_errmsg());
    if (!st) {
        const vl_backbone_desc *d = vl_backbone_describe(b);
        CHECK(d->pre.nhwc == 1 && d->pre.width == 9 && d->pre.height == 9, "%s: preprocessing %d %dx%d", model,
              d->pre.nhwc, d->pre.width, d->pre.height);
        CHECK(d->feature_dim == y.shape[1], "%s: feature_dim %d, expected %lld", model, d->feature_dim,
              (long long)y.shape[1]);
        if (d->feature_dim == y.shape[1]) {
            float *f = malloc(sizeof(float) * (size_t)numel(&y));
            st = vl_backbone_run(b, x.data, (int)x.shape[0], 1, f);
            CHECK(st == VL_OK, "%s", vl_errmsg());
            double e = rel_err(f, y.data, (size_t)numel(&y));
            printf("%s: output %lldx%lld, max relative error %.3g\n", model, (long long)y.shape[0],
                   (long long)y.shape[1], e);
            CHECK(e < 1e-4, "%s: output differs from TF.js: %g", model, e);
            free(f);
        }
        vl_backbone_close(b);
    }

    /* a tapped tensor inside (NCHW from us, NHWC from TF.js) */
    vl_onnx *m;
    st = vl_onnx_load(out, &m);
    CHECK(st == VL_OK, "%s", vl_errmsg());
    if (!st) {
        const float *o;
        int nd;
        int64_t os[VL_ONNX_MAXDIM];
        st = vl_onnx_run(m, x.data, x.ndim, x.shape, "add", &o, &nd, os);
        CHECK(st == VL_OK, "%s", vl_errmsg());
        CHECK(!st && nd == 4 && os[0] == tap.shape[0] && os[1] == tap.shape[3] && os[2] == tap.shape[1] &&
                  os[3] == tap.shape[2],
              "%s: tap 'add' has the wrong shape", model);
        if (!st && nd == 4 && os[1] == tap.shape[3]) {
            float *t = malloc(sizeof(float) * (size_t)numel(&tap));
            to_nhwc(o, os, t);
            double e = rel_err(t, tap.data, (size_t)numel(&tap));
            printf("%s: tap 'add' max relative error %.3g\n", model, e);
            CHECK(e < 1e-4, "%s: tap 'add' differs from TF.js: %g", model, e);
            free(t);
        }
        vl_onnx_free(m);
    }

    /* --tap add --pool: the mean over H, W of TF.js's tensor, and the default feature */
    vl_tfjs_opts o = {.tap = "add", .pool = 1};
    snprintf(out, sizeof out, "%s/%s_pool.onnx", tmp, model);
    st = vl_tfjs_import(in, out, &o, &info);
    CHECK(st == VL_OK, "%s: %s", model, vl_errmsg());
    CHECK(!strcmp(info.output, "add/pool"), "%s: output %s", model, info.output);
    if (!st && !vl_onnx_load(out, &m)) {
        CHECK(!strcmp(vl_onnx_default_tap(m), "add/pool"), "%s: default tap %s", model, vl_onnx_default_tap(m));
        const float *p;
        int nd;
        int64_t os[VL_ONNX_MAXDIM];
        int64_t N = tap.shape[0], H = tap.shape[1], W = tap.shape[2], C = tap.shape[3];
        float *want = calloc((size_t)(N * C), sizeof(float));
        const float *t = tap.data;
        for (int64_t i = 0; i < N * H * W * C; i++)
            want[(i / (H * W * C)) * C + i % C] += t[i] / (float)(H * W);
        st = vl_onnx_run(m, x.data, x.ndim, x.shape, NULL, &p, &nd, os);
        CHECK(!st && nd == 2 && os[0] == N && os[1] == C, "%s: pooled shape", model);
        if (!st && nd == 2 && os[1] == C) {
            double e = rel_err(p, want, (size_t)(N * C));
            CHECK(e < 1e-4, "%s: pooled tap differs: %g", model, e);
        }
        free(want);
        vl_onnx_free(m);
    }

    /* graph models, --tap add,c1: one output, the two taps along the channels
     * (add first: TF.js's tensor; then c1's 4 channels) */
    if (!strcmp(model, "graph")) {
        vl_tfjs_opts mt = {.tap = "add,c1"};
        snprintf(out, sizeof out, "%s/%s_multi.onnx", tmp, model);
        st = vl_tfjs_import(in, out, &mt, &info);
        CHECK(st == VL_OK && !strcmp(info.output, "add,c1"), "%s: multi-tap: %s", model, st ? vl_errmsg() : info.output);
        if (!st && !vl_onnx_load(out, &m)) {
            const float *p;
            int nd;
            int64_t os[VL_ONNX_MAXDIM], C = tap.shape[3];
            st = vl_onnx_run(m, x.data, x.ndim, x.shape, NULL, &p, &nd, os);
            CHECK(!st && nd == 4 && os[1] == 2 * C && os[2] == tap.shape[1] && os[3] == tap.shape[2],
                  "%s: multi-tap shape", model);
            if (!st && nd == 4 && os[1] == 2 * C) {
                size_t hw = (size_t)(os[2] * os[3]), n = (size_t)os[0];
                float *first = malloc(sizeof(float) * n * (size_t)C * hw), *t = malloc(sizeof(float) * (size_t)numel(&tap));
                for (size_t i = 0; i < n; i++)
                    memcpy(first + i * (size_t)C * hw, p + i * 2 * (size_t)C * hw, sizeof(float) * (size_t)C * hw);
                int64_t fs[4] = {os[0], C, os[2], os[3]};
                to_nhwc(first, fs, t);
                double e = rel_err(t, tap.data, (size_t)numel(&tap));
                CHECK(e < 1e-4, "%s: multi-tap, the 'add' channels differ from TF.js: %g", model, e);
                free(first);
                free(t);
            }
            vl_onnx_free(m);
        }
        vl_tfjs_opts bad = {.tap = "add,mean"};
        snprintf(out, sizeof out, "%s/%s_bad.onnx", tmp, model);
        CHECK(vl_tfjs_import(in, out, &bad, NULL) != VL_OK && strstr(vl_errmsg(), "'mean'") &&
                  access(out, F_OK) != 0,
              "%s: a 2-D tap among several: %s", model, vl_errmsg());
    }

    /* --input-range -1,1: the file takes ImageNet-normalised frames */
    vl_tfjs_opts r = {.has_range = 1, .range_lo = -1, .range_hi = 1};
    snprintf(out, sizeof out, "%s/%s_range.onnx", tmp, model);
    st = vl_tfjs_import(in, out, &r, NULL);
    CHECK(st == VL_OK, "%s: %s", model, vl_errmsg());
    if (!st && !vl_onnx_load(out, &m)) {
        static const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
        int64_t n = numel(&x);
        float *xi = malloc(sizeof(float) * (size_t)n);
        const float *xs = x.data;
        for (int64_t i = 0; i < n; i++)
            xi[i] = ((xs[i] + 1) / 2 - mean[i % 3]) / sd[i % 3];
        const float *p;
        int nd;
        int64_t os[VL_ONNX_MAXDIM];
        st = vl_onnx_run(m, xi, x.ndim, x.shape, NULL, &p, &nd, os);
        CHECK(st == VL_OK, "%s", vl_errmsg());
        if (!st) {
            double e = rel_err(p, y.data, (size_t)numel(&y));
            CHECK(e < 1e-4, "%s: --input-range output differs: %g", model, e);
        }
        free(xi);
        vl_onnx_free(m);
    }
    vl_npy_free(&x);
    vl_npy_free(&y);
    vl_npy_free(&tap);
}

/* Copies a fixture model into tmp/name (model.json edited by `edit`, shards
 * truncated to `shard_len` bytes when >= 0, left out when shard_len == -2). */
static void copy_model(const char *model, const char *name, const char *from, const char *to, long shard_len)
{
    char src[1024], dst[1024];
    snprintf(dst, sizeof dst, "%s/%s", tmp, name);
    mkdir(dst, 0755);
    snprintf(src, sizeof src, "%s/%s/model.json", fix, model);
    size_t len;
    char *j = slurp(src, &len);
    if (from) {
        char *p = strstr(j, from);
        CHECK(p != NULL, "fixture lacks '%s'", from);
        if (p) {
            size_t a = (size_t)(p - j), fl = strlen(from), tl = strlen(to);
            char *k = malloc(len - fl + tl + 1);
            memcpy(k, j, a);
            memcpy(k + a, to, tl);
            memcpy(k + a + tl, p + fl, len - a - fl + 1);
            free(j);
            j = k;
            len = len - fl + tl;
        }
    }
    snprintf(dst, sizeof dst, "%s/%s/model.json", tmp, name);
    spit(dst, j, len);
    free(j);
    if (shard_len == -2)
        return;
    const char *shards[2] = {"group1-shard1of2.bin", "group1-shard2of2.bin"};
    if (!strcmp(model, "graph"))
        shards[0] = "group1-shard1of1.bin", shards[1] = NULL;
    for (int s = 0; s < 2 && shards[s]; s++) {
        snprintf(src, sizeof src, "%s/%s/%s", fix, model, shards[s]);
        char *b = slurp(src, &len);
        snprintf(dst, sizeof dst, "%s/%s/%s", tmp, name, shards[s]);
        spit(dst, b, shard_len >= 0 && s == 0 ? (size_t)shard_len : len);
        free(b);
    }
}

/* Converting tmp/name must fail with a message holding every `want`, and leave
 * an existing output file untouched. */
static void bad(const char *name, const vl_tfjs_opts *o, const char *want1, const char *want2)
{
    char in[1024], out[1024];
    snprintf(in, sizeof in, "%s/%s", tmp, name);
    snprintf(out, sizeof out, "%s/%s.onnx", tmp, name);
    spit(out, "keep", 4);
    vl_status st = vl_tfjs_import(in, out, o, NULL);
    const char *msg = vl_errmsg();
    CHECK(st != VL_OK, "%s: converted", name);
    CHECK(strstr(msg, name) != NULL, "%s: message does not name the file: %s", name, msg);
    CHECK(strstr(msg, want1) != NULL, "%s: message lacks '%s': %s", name, want1, msg);
    CHECK(!want2 || strstr(msg, want2) != NULL, "%s: message lacks '%s': %s", name, want2, msg);
    printf("%s: %s\n", name, msg);
    size_t len;
    char *k = slurp(out, &len);
    CHECK(k && len == 4 && !memcmp(k, "keep", 4), "%s: the output file changed", name);
    free(k);
    /* and no temporary file left beside it */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ls %s/%s.onnx.tmp.* >/dev/null 2>&1", tmp, name);
    CHECK(system(cmd) != 0, "%s: a temporary file was left behind", name);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_tfjs FIXTURE_DIR SCRATCH_DIR\n");
        return 2;
    }
    fix = argv[1];
    tmp = argv[2];
    mkdir(tmp, 0755);
    parity("layers");
    parity("graph");

    copy_model("layers", "bad_json", "\"modelTopology\":", "\"modelTopology\" ", 0);
    bad("bad_json", NULL, "expected ':'", NULL);
    copy_model("layers", "no_shard", NULL, NULL, -2);
    bad("no_shard", NULL, "group1-shard1of2.bin", "cannot open");
    copy_model("graph", "short_shard", NULL, NULL, 100);
    bad("short_shard", NULL, "too short", NULL);
    copy_model("graph", "bad_op", "\"op\":\"Relu\"", "\"op\":\"Erf\"", -1);
    bad("bad_op", NULL, "op Erf is not supported", "'r3'");
    copy_model("layers", "bad_layer", "\"class_name\":\"Flatten\"", "\"class_name\":\"Permute\"", -1);
    bad("bad_layer", NULL, "layer type Permute is not supported", "'flat'");
    copy_model("layers", "bad_quant", "\"dtype\":\"uint16\"", "\"dtype\":\"int4\"", -1);
    bad("bad_quant", NULL, "int4", "dw/depthwise_kernel");
    copy_model("layers", "bad_tap", NULL, NULL, -1);
    vl_tfjs_opts t = {.tap = "nosuchlayer"};
    bad("bad_tap", &t, "nosuchlayer", NULL);
    vl_tfjs_opts p = {.tap = "dense", .pool = 1};
    bad("bad_tap", &p, "--pool", NULL);

    /* the output may not be an input */
    char in[1024], out[1024];
    snprintf(in, sizeof in, "%s/bad_tap", tmp);
    snprintf(out, sizeof out, "%s/bad_tap/group1-shard2of2.bin", tmp);
    size_t l0, l1;
    free(slurp(out, &l0));
    CHECK(vl_tfjs_import(in, out, NULL, NULL) != VL_OK, "overwrote a shard");
    CHECK(strstr(vl_errmsg(), "weight shard") != NULL, "%s", vl_errmsg());
    free(slurp(out, &l1));
    CHECK(l0 == l1 && l0 > 0, "the shard changed");
    snprintf(out, sizeof out, "%s/bad_tap/model.json", tmp);
    CHECK(vl_tfjs_import(in, out, NULL, NULL) != VL_OK, "overwrote model.json");
    return check_summary();
}
