/* `vidlstm predict` on feature files, checked against the library's own
 * vl_net_forward (issue 12):
 *   - several regression outputs, per frame and per clip, text and JSON:
 *     every value of every frame in its place (no frame/output mix-up);
 *   - sequence classifiers: per-frame probabilities in JSON at %.9g;
 *   - classifiers without a class list: labels and keys are class indices;
 *   - a denormal norm.std and out-of-range backbone metadata (fps 1e9, ...)
 *     edited into the safetensors header: one error naming the file and the
 *     field, non-zero exit, nothing printed on stdout;
 *   - rank-1 / rank-3 feature arrays: the error shows their real shape.
 * usage: test_predict_cli VIDLSTM */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "model/modelfile.h"
#include "nn/layers.h"
#include "vidlstm.h"

static const char *bin;
static char dir[256];

static const char *tpath(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Runs `vidlstm predict ARGS`; returns its exit status, stdout and stderr
 * in *out / *err (malloc'd, NUL-terminated). */
static int run_predict(const char *args, char **out, char **err)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "timeout 60 '%s' predict %s > '%s' 2> '%s'", bin, args, tpath("out.txt"),
             tpath("err.txt"));
    int st = system(cmd);
    const char *f[2] = {tpath("out.txt"), tpath("err.txt")};
    char **dst[2] = {out, err};
    for (int i = 0; i < 2; i++) {
        FILE *fp = fopen(f[i], "rb");
        size_t cap = 1 << 16, n = 0;
        char *b = malloc(cap);
        if (fp) {
            size_t r;
            while ((r = fread(b + n, 1, cap - n - 1, fp)) > 0) {
                n += r;
                if (n + 1 == cap)
                    b = realloc(b, cap *= 2);
            }
            fclose(fp);
        }
        b[n] = 0;
        *dst[i] = b;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static float frand(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) & 0xffffff) / (float)0x1000000 * 2.0f - 1.0f;
}

enum { T = 7, D = 4, C = 3 };
static float x[T * D];

/* The network's outputs for x as the library computes them: [T, C] per
 * frame or [C]; classifiers softmaxed, as predict reports probabilities. */
static void expected(vl_net *net, float *y)
{
    const vl_net_config *cfg = vl_net_get_config(net);
    int32_t len = T;
    vl_batch b = {.batch = 1, .tmax = T, .dim = D, .x = x, .lengths = &len};
    CHECK(vl_net_forward(net, &b, y) == VL_OK, "forward: %s", vl_errmsg());
    if (cfg->task == VL_TASK_CLASSIFY)
        vl_softmax_rows(cfg->mode == VL_OUT_SEQUENCE ? T : 1, C, y, y);
}

static vl_net *make(const char *name, vl_out_mode mode, vl_task task, const vl_model_meta *meta)
{
    vl_net_config cfg = {.input = D, .outputs = C, .mode = mode, .task = task};
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, 5, 1);
    vl_net *net = NULL;
    CHECK(vl_net_create(&cfg, 11, &net) == VL_OK, "%s", vl_errmsg());
    CHECK(vl_model_save(tpath(name), net, meta) == VL_OK, "%s: %s", name, vl_errmsg());
    return net;
}

/* Numbers in s, in order (a JSON array or a text line). */
static int numbers(const char *s, double *v, int cap)
{
    int n = 0;
    while (*s && n < cap) {
        char *e;
        if ((*s >= '0' && *s <= '9') || *s == '-' || *s == '.') {
            double d = strtod(s, &e);
            if (e > s) {
                v[n++] = d;
                s = e;
                continue;
            }
        }
        s++;
    }
    return n;
}

static int close_to(double a, double b, double rel)
{
    return fabs(a - b) <= rel * (fabs(b) > 1e-3 ? fabs(b) : 1e-3);
}

/* The text after `key` up to the matching close bracket of the array or
 * object it opens (or the next ',' / '}' for a scalar), copied to buf. */
static const char *json_field(const char *json, const char *key, char *buf, size_t cap)
{
    const char *p = strstr(json, key);
    buf[0] = 0;
    if (!p)
        return NULL;
    p += strlen(key);
    const char *q = p;
    int depth = 0;
    for (; *q; q++) {
        if (*q == '[' || *q == '{')
            depth++;
        else if (*q == ']' || *q == '}') {
            if (depth == 0)
                break;
            if (--depth == 0) {
                q++;
                break;
            }
        } else if (*q == ',' && depth == 0)
            break;
    }
    size_t n = (size_t)(q - p) < cap - 1 ? (size_t)(q - p) : cap - 1;
    memcpy(buf, p, n);
    buf[n] = 0;
    return buf;
}

static void test_regression(void)
{
    float y[T * C];
    double v[256];
    char args[1024], f[8192], *out, *err;

    /* per frame, three outputs */
    vl_net *net = make("seqreg.safetensors", VL_OUT_SEQUENCE, VL_TASK_REGRESS, NULL);
    expected(net, y);
    snprintf(args, sizeof args, "--model '%s' '%s' --json", tpath("seqreg.safetensors"), tpath("x.npy"));
    CHECK(run_predict(args, &out, &err) == 0, "sequence regression --json: %s", err);
    int n = numbers(json_field(out, "\"values\":", f, sizeof f) ? f : "", v, 256);
    CHECK(n == T * C, "per-frame values: %d numbers, want %d (T x C): %s", n, T * C, f);
    int bad = 0;
    for (int i = 0; i < n && i < T * C; i++)
        bad += !close_to(v[i], y[i], 2e-5);
    CHECK(bad == 0, "%d per-frame values differ from vl_net_forward's [T, C]: %s", bad, f);
    CHECK(strstr(f, "[[") != NULL, "several outputs per frame are an array per frame: %s", f);
    double mean[C] = {0};
    for (int t = 0; t < T; t++)
        for (int j = 0; j < C; j++)
            mean[j] += y[t * C + j] / T;
    n = numbers(json_field(out, "\"mean\":", f, sizeof f) ? f : "", v, 256);
    CHECK(n == C && close_to(v[0], mean[0], 2e-5) && close_to(v[1], mean[1], 2e-5) && close_to(v[2], mean[2], 2e-5),
          "per-output means: %s", f);
    free(out), free(err);
    snprintf(args, sizeof args, "--model '%s' '%s'", tpath("seqreg.safetensors"), tpath("x.npy"));
    CHECK(run_predict(args, &out, &err) == 0, "sequence regression text: %s", err);
    const char *m = strstr(out, "mean ");
    n = numbers(m ? m : "", v, 256);
    /* mean (C), first frame (C), last frame (C) */
    bad = n != 3 * C;
    for (int j = 0; j < C && !bad; j++)
        bad += !close_to(v[j], mean[j], 2e-5) + !close_to(v[C + j], y[j], 2e-5) +
               !close_to(v[2 * C + j], y[(T - 1) * C + j], 2e-5);
    CHECK(!bad, "text: mean, first and last frame's %d outputs each: %s", C, out);
    free(out), free(err);
    vl_net_free(net);

    /* per clip, three outputs */
    net = make("lastreg.safetensors", VL_OUT_LAST, VL_TASK_REGRESS, NULL);
    expected(net, y);
    snprintf(args, sizeof args, "--model '%s' '%s' --json", tpath("lastreg.safetensors"), tpath("x.npy"));
    CHECK(run_predict(args, &out, &err) == 0, "clip regression --json: %s", err);
    n = numbers(json_field(out, "\"value\":", f, sizeof f) ? f : "", v, 256);
    CHECK(n == C && close_to(v[0], y[0], 2e-5) && close_to(v[1], y[1], 2e-5) && close_to(v[2], y[2], 2e-5),
          "clip regression: all %d outputs (%g %g %g): %s", C, y[0], y[1], y[2], out);
    free(out), free(err);
    snprintf(args, sizeof args, "--model '%s' '%s'", tpath("lastreg.safetensors"), tpath("x.npy"));
    CHECK(run_predict(args, &out, &err) == 0, "clip regression text: %s", err);
    const char *colon = strstr(out, ".npy: ");
    n = numbers(colon ? colon + 6 : "", v, 256);
    CHECK(n == C && close_to(v[0], y[0], 2e-5) && close_to(v[1], y[1], 2e-5) && close_to(v[2], y[2], 2e-5),
          "clip regression text: all %d outputs: %s", C, out);
    free(out), free(err);
    /* --window on a clip regression model: each window's C values */
    snprintf(args, sizeof args, "--model '%s' '%s' --window 100 --json", tpath("lastreg.safetensors"), tpath("x.npy"));
    CHECK(run_predict(args, &out, &err) == 0, "clip regression --window: %s", err);
    n = numbers(json_field(out, "\"value\":", f, sizeof f) ? f : "", v, 256);
    CHECK(n == C && close_to(v[0], y[0], 2e-5) && close_to(v[2], y[2], 2e-5), "one window, all outputs: %s", out);
    free(out), free(err);
    vl_net_free(net);
}

static void test_classes(void)
{
    float y[T * C];
    double v[256];
    char args[1024], f[8192], *out, *err;

    /* per-frame classifier, no class list: indices, and probabilities */
    vl_net *net = make("seqcls.safetensors", VL_OUT_SEQUENCE, VL_TASK_CLASSIFY, NULL);
    expected(net, y);
    snprintf(args, sizeof args, "--model '%s' '%s' --json", tpath("seqcls.safetensors"), tpath("x.npy"));
    CHECK(run_predict(args, &out, &err) == 0, "sequence classifier --json: %s", err);
    CHECK(!strstr(out, "\"?\""), "no \"?\" labels: %s", out);
    json_field(out, "\"frames\":", f, sizeof f);
    int ok = 1;
    for (int t = 0; t < T; t++) {
        int a = 0;
        for (int c = 1; c < C; c++)
            a = y[t * C + c] > y[t * C + a] ? c : a;
        char want[8];
        snprintf(want, sizeof want, "\"%d\"", a);
        /* the t-th label */
        const char *p = f;
        for (int k = 0; k < t && p; k++)
            p = strchr(p + 1, ',');
        ok &= p && !strncmp(p + 1, want, strlen(want));
    }
    CHECK(ok, "frame labels are the argmax class indices: %s", f);
    int n = numbers(json_field(out, "\"frame_probabilities\":", f, sizeof f) ? f : "", v, 256);
    CHECK(n == T * C, "frame_probabilities: %d numbers, want %d: %s", n, T * C, f);
    int bad = 0;
    for (int i = 0; i < n && i < T * C; i++)
        bad += !close_to(v[i], y[i], 1e-6);
    CHECK(bad == 0, "%d frame probabilities differ from softmax(vl_net_forward) at %%.9g: %s", bad, f);
    free(out), free(err);
    vl_net_free(net);

    /* clip classifier, no class list: keys "0","1","2", text the same */
    net = make("lastcls.safetensors", VL_OUT_LAST, VL_TASK_CLASSIFY, NULL);
    expected(net, y);
    int a = 0;
    for (int c = 1; c < C; c++)
        a = y[c] > y[a] ? c : a;
    snprintf(args, sizeof args, "--model '%s' '%s' --json", tpath("lastcls.safetensors"), tpath("x.npy"));
    CHECK(run_predict(args, &out, &err) == 0, "clip classifier --json: %s", err);
    char want[256];
    snprintf(want, sizeof want, "\"label\":\"%d\"", a);
    CHECK(strstr(out, want) && strstr(out, "\"probabilities\":{\"0\":") && strstr(out, ",\"1\":") &&
              strstr(out, ",\"2\":"),
          "JSON keys are class indices: %s", out);
    free(out), free(err);
    snprintf(args, sizeof args, "--model '%s' '%s'", tpath("lastcls.safetensors"), tpath("x.npy"));
    CHECK(run_predict(args, &out, &err) == 0, "clip classifier text: %s", err);
    snprintf(want, sizeof want, ".npy: %d (%.1f%%)", a, 100.0 * y[a]);
    CHECK(strstr(out, want) != NULL, "text names class %d the same way (%s): %s", a, want, out);
    free(out), free(err);
    vl_net_free(net);
}

/* Copies `src` to `dst` with one substring of the safetensors header
 * replaced (the header length rewritten), as someone editing the file would. */
static int edit_header(const char *src, const char *dst, const char *from, const char *to)
{
    FILE *f = fopen(src, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        return 0;
    }
    fclose(f);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | b[i];
    char *h = strndup((char *)b + 8, (size_t)hl);
    char *p = strstr(h, from);
    if (!p) {
        free(h);
        free(b);
        return 0;
    }
    size_t nl = hl - strlen(from) + strlen(to);
    FILE *o = fopen(dst, "wb");
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(nl >> (8 * i));
    fwrite(len, 1, 8, o);
    fwrite(h, 1, (size_t)(p - h), o);
    fputs(to, o);
    fputs(p + strlen(from), o);
    fwrite(b + 8 + hl, 1, (size_t)(n - 8 - (long)hl), o);
    fclose(o);
    free(h);
    free(b);
    return 1;
}

static void expect_refused(const char *path, const char *what, const char *field)
{
    char args[1024], model[512], *out, *err;
    snprintf(model, sizeof model, "%s", path); /* tpath's buffers rotate */
    snprintf(args, sizeof args, "--model '%s' '%s'", model, tpath("x.npy"));
    int rc = run_predict(args, &out, &err);
    CHECK(rc != 0 && rc != 124, "%s: refused (exit %d)", what, rc);
    CHECK(strstr(err, model) && strstr(err, field), "%s: the error names the file and %s: %s", what, field, err);
    CHECK(!strstr(out, "nan") && !strstr(out, "inf"), "%s: no NaN printed: %s", what, out);
    CHECK(strchr(err, '\n') == strrchr(err, '\n'), "%s: one line: %s", what, err);
    if (rc != 0)
        printf("  %-28s %s", what, err);
    free(out), free(err);
}

static void test_bad_models(void)
{
    /* a denormal std passes "> 0" yet overflows (x - mean) / std */
    float mean[D] = {0}, sd[D] = {1, 1e-45f, 1, 1};
    vl_model_meta m = {.dim = D, .norm_mean = mean, .norm_std = sd};
    vl_net_free(make("tinystd.safetensors", VL_OUT_LAST, VL_TASK_CLASSIFY, &m));
    expect_refused(tpath("tinystd.safetensors"), "norm.std 1e-45", "norm.std");

    /* a normal but tiny std: (x - mean) / std overflows to Inf on this input
     * and the network's outputs turn NaN, which must not print with exit 0 */
    float mean2[D] = {0, -100, -100, 0}, sd2[D] = {1, 1.5e-38f, 1.5e-38f, 1};
    vl_model_meta m2 = {.dim = D, .norm_mean = mean2, .norm_std = sd2};
    vl_net_free(make("overflow.safetensors", VL_OUT_LAST, VL_TASK_CLASSIFY, &m2));
    expect_refused(tpath("overflow.safetensors"), "norm.std 1.5e-38, Inf input", "non-finite");

    /* backbone metadata past the command line's bounds */
    vl_model_meta bm = {.feature_dim = D, .fps = 10, .pre = {.width = 32, .height = 32, .scale = 1, .std = {1, 1, 1}}};
    snprintf(bm.backbone, sizeof bm.backbone, "builtin:ego-motion");
    vl_net_free(make("bb.safetensors", VL_OUT_LAST, VL_TASK_CLASSIFY, &bm));
    char args[1024], *out, *err;
    snprintf(args, sizeof args, "--model '%s' '%s'", tpath("bb.safetensors"), tpath("x.npy"));
    CHECK(run_predict(args, &out, &err) == 0, "the unedited model predicts: %s", err);
    free(out), free(err);
    static const struct {
        const char *from, *to, *what, *field;
    } cases[] = {
        {"\\\"fps\\\":1e+01", "\\\"fps\\\":1e9", "fps 1e9", "fps"},
        {"\\\"fps\\\":1e+01", "\\\"fps\\\":0.001", "fps 0.001", "fps"},
        {"\\\"fps\\\":1e+01", "\\\"fps\\\":-5", "fps -5", "fps"},
        {"\\\"every_k\\\":0", "\\\"every_k\\\":1000000000", "every_k 1e9", "every_k"},
        {"\\\"width\\\":32", "\\\"width\\\":60000", "preproc width 60000", "width"},
        {"\\\"std\\\":[1,1,1]", "\\\"std\\\":[1,1e-30,1]", "preproc std 1e-30", "std"},
        {"\\\"scale\\\":1", "\\\"scale\\\":1e30", "preproc scale 1e30", "scale"},
        {"\\\"feature_dim\\\":4", "\\\"feature_dim\\\":999999999", "feature_dim 1e9", "feature_dim"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *p = tpath("edited.safetensors");
        int ok = edit_header(tpath("bb.safetensors"), p, cases[i].from, cases[i].to);
        CHECK(ok, "%s: the header holds %s", cases[i].what, cases[i].from);
        if (ok)
            expect_refused(p, cases[i].what, cases[i].field);
    }
}

static void test_shapes(void)
{
    char args[1024], *out, *err;
    float z[2 * 3 * 4] = {0};
    int64_t s1[1] = {5}, s3[3] = {2, 3, 4};
    CHECK(vl_npy_write(tpath("r1.npy"), VL_NPY_F32, 1, s1, z) == VL_OK, "%s", vl_errmsg());
    CHECK(vl_npy_write(tpath("r3.npy"), VL_NPY_F32, 3, s3, z) == VL_OK, "%s", vl_errmsg());
    snprintf(args, sizeof args, "--model '%s' '%s'", tpath("lastcls.safetensors"), tpath("r1.npy"));
    CHECK(run_predict(args, &out, &err) != 0 && strstr(err, "got float [5]") && strstr(err, "r1.npy"),
          "rank 1: the error shows [5]: %s", err);
    free(out), free(err);
    snprintf(args, sizeof args, "--model '%s' '%s'", tpath("lastcls.safetensors"), tpath("r3.npy"));
    CHECK(run_predict(args, &out, &err) != 0 && strstr(err, "got float [2, 3, 4]"),
          "rank 3: the error shows [2, 3, 4]: %s", err);
    free(out), free(err);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_predict_cli VIDLSTM\n");
        return 2;
    }
    bin = argv[1];
    snprintf(dir, sizeof dir, "/tmp/vl_predict_cli.XXXXXX");
    if (!mkdtemp(dir))
        return 2;
    uint64_t s = 5;
    for (int i = 0; i < T * D; i++)
        x[i] = frand(&s);
    int64_t xs[2] = {T, D};
    CHECK(vl_npy_write(tpath("x.npy"), VL_NPY_F32, 2, xs, x) == VL_OK, "%s", vl_errmsg());
    test_regression();
    test_classes();
    test_bad_models();
    test_shapes();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (check_fail == 0 && system(cmd)) {
    }
    return check_summary();
}
