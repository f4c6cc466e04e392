/* Input normalisation (backbone/preprocess.h, --preprocess and friends):
 * every preset and a custom setting against tables that numpy computed from
 * Keras's and torchvision's own formulas (fixtures/preprocess/gen_preprocess.py),
 * end to end (video -> decoder -> ONNX identity model -> features), in NCHW
 * and in a Keras-style NHWC model (layout detected from the input shape);
 * the feature cache key; the model-file record's round trip and bad records;
 * fused backbones (every ONNX part, built-ins untouched); vl_model_predict_video
 * applying the model's record; the refusal on backbones that prepare their own frames.
 * usage: test_preprocess FIXTURES_DIR OUT_DIR (OUT_DIR/videos: class folders
 * of small videos for cli_preprocess.sh) */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backbone/backbone.h"
#include "backbone/preprocess.h"
#include "check.h"
#include "model/modelfile.h"
#include "pipeline/extract.h"
#include "video/encode.h"
#include "vidlstm.h"

static const char *FIX;
static char video[4200], cache[4200];

static int make_video(const char *path, int seed)
{
    vl_writer_opts o = {.codec = "mpeg4", .width = 32, .height = 32, .fps_num = 10, .fps_den = 1};
    vl_video_writer *w;
    if (vl_video_writer_open(path, &o, &w))
        return 0;
    uint8_t rgb[32 * 32 * 3];
    vl_status st = VL_OK;
    for (int i = 0; i < 6 && !st; i++) {
        /* smooth gradients (little coding loss) that span 0..255 in each channel */
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                uint8_t *p = rgb + 3 * (y * 32 + x);
                p[0] = (uint8_t)(x * 8 + seed * 3);
                p[1] = (uint8_t)(y * 8);
                p[2] = (uint8_t)(255 - x * 4 - y * 4 + i);
            }
        st = vl_video_writer_add(w, rgb, i / 10.0);
    }
    if (st) {
        vl_video_writer_abort(w);
        return 0;
    }
    return vl_video_writer_close(w) == VL_OK;
}

static int cache_files(void)
{
    DIR *d = opendir(cache);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".npy") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* Features of the test video through `model` with normalisation n (NULL: the backbone's own). */
static int extract(const char *model, const vl_input_norm *n, vl_features *f, const char *cdir, int *nhwc)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/preprocess/%s", FIX, model);
    vl_extract_opts o = {.backbone = path, .tap = "y", .norm = n, .fps = 10, .cache = cdir, .jobs = 1};
    vl_extractor *x;
    if (vl_extractor_open(&o, &x)) {
        fprintf(stderr, "%s: %s\n", model, vl_errmsg());
        return 0;
    }
    if (nhwc)
        *nhwc = vl_extractor_backbone(x)->pre.nhwc;
    vl_clip c = {.path = video};
    vl_status st = vl_extract_clips(x, &c, 1, f);
    if (st)
        fprintf(stderr, "%s: %s\n", model, vl_errmsg());
    vl_extractor_close(x);
    return st == VL_OK;
}

static const char *const CASES[] = {"torchvision", "keras-torch", "keras-caffe", "keras-tf", "raw", "matlab",
                                    "custom", "custom_0_255"};

static vl_input_norm case_norm(int k)
{
    vl_input_norm n;
    if (k < 6) {
        CHECK(vl_input_norm_preset(CASES[k], &n) == 0, "preset %s", CASES[k]);
    } else if (k == 6) { /* --input-range -1,1 --mean 0.5,0.25,0.125 --std 0.5,2,4 --channel-order bgr */
        n = (vl_input_norm){.preset = "custom", .lo = -1, .hi = 1, .mean = {0.5f, 0.25f, 0.125f},
                            .std = {0.5f, 2, 4}, .bgr = 1};
    } else { /* --input-range 0,255 --mean 10,20,30 --std 1,1,1 */
        n = (vl_input_norm){.preset = "custom", .lo = 0, .hi = 255, .mean = {10, 20, 30}, .std = {1, 1, 1}};
    }
    return n;
}

static void test_values(const char *model)
{
    vl_npy tab, src;
    char p[4200];
    snprintf(p, sizeof p, "%s/preprocess/tables.npy", FIX);
    int ok = vl_npy_read(p, &tab) == VL_OK;
    snprintf(p, sizeof p, "%s/preprocess/sources.npy", FIX);
    ok = ok && vl_npy_read(p, &src) == VL_OK;
    CHECK(ok && tab.shape[0] == 8 && src.shape[0] == 8, "fixtures: %s", vl_errmsg());
    if (!ok)
        return;
    /* the decoded pixels themselves: "raw" is 0..255, RGB, mean 0, std 1 */
    vl_input_norm rawn;
    vl_input_norm_preset("raw", &rawn);
    vl_features raw = {0};
    int nhwc = -1;
    CHECK(extract(model, &rawn, &raw, NULL, &nhwc), "%s: raw extraction", model);
    CHECK(nhwc == (strstr(model, "nhwc") != NULL), "%s: layout from the input shape: nhwc %d", model, nhwc);
    CHECK(raw.D == 192 && raw.T >= 5, "%s: features [%d, %d]", model, raw.T, raw.D);
    int integral = raw.D == 192;
    for (int i = 0; integral && i < raw.T * raw.D; i++)
        integral = raw.x[i] >= 0 && raw.x[i] <= 255 && raw.x[i] == (float)(int)raw.x[i];
    CHECK(integral, "%s: raw features are the decoded 0..255 pixels", model);
    const float *T = tab.data;
    const int32_t *S = src.data;
    for (int k = 0; k < 8 && integral; k++) {
        vl_input_norm n = case_norm(k);
        vl_features f = {0};
        CHECK(extract(model, &n, &f, NULL, NULL) && f.T == raw.T && f.D == raw.D, "%s %s: extraction", model,
              CASES[k]);
        if (f.T == raw.T && f.D == raw.D) {
            /* expected: channel c of pixel (y, x) is table[k][c][pixel's channel S[k][c] value] */
            size_t cnt = (size_t)f.T * 192;
            float *want = malloc(sizeof(float) * cnt);
            for (int t = 0; t < f.T; t++)
                for (int c = 0; c < 3; c++)
                    for (int y = 0; y < 8; y++)
                        for (int x = 0; x < 8; x++) {
                            /* index of channel ch at (y, x) in the model's layout */
#define AT(ch) ((size_t)t * 192 + (nhwc ? (size_t)(y * 8 + x) * 3 + (ch) : (size_t)(ch) * 64 + y * 8 + x))
                            int v = (int)raw.x[AT(S[k * 3 + c])];
                            want[AT(c)] = T[(size_t)k * 768 + c * 256 + v];
#undef AT
                        }
            double e = rel_err(f.x, want, cnt);
            CHECK(e < 1e-5, "%s %s: max rel err %.3g against numpy", model, CASES[k], e);
            printf("%s %-12s max rel err %.2g over %zu values\n", model, CASES[k], e, cnt);
            free(want);
        }
        vl_features_free(&f);
    }
    vl_features_free(&raw);
    vl_npy_free(&tab);
    vl_npy_free(&src);
}

static void test_cache(void)
{
    /* features made with other preprocessing are never reused */
    vl_input_norm caffe, tfm, tv;
    vl_input_norm_preset("keras-caffe", &caffe);
    vl_input_norm_preset("keras-tf", &tfm);
    vl_input_norm_preset("torchvision", &tv);
    vl_features a = {0}, b = {0}, c = {0}, d = {0};
    CHECK(extract("id_nchw.onnx", &caffe, &a, cache, NULL) && !a.cached && cache_files() == 1, "first: %d files",
          cache_files());
    CHECK(extract("id_nchw.onnx", &tfm, &b, cache, NULL) && !b.cached && cache_files() == 2,
          "another preset is a new cache entry: %d files", cache_files());
    CHECK(extract("id_nchw.onnx", &caffe, &c, cache, NULL) && c.cached && cache_files() == 2,
          "the same preset again is read back: cached %d", c.cached);
    CHECK(c.T == a.T && c.D == a.D && !memcmp(a.x, c.x, sizeof(float) * (size_t)a.T * a.D), "cached = computed");
    /* torchvision is what an ONNX backbone gets anyway: the same features, the same entry */
    CHECK(extract("id_nchw.onnx", NULL, &d, cache, NULL) && !d.cached && cache_files() == 3, "default: %d files",
          cache_files());
    vl_features_free(&d);
    CHECK(extract("id_nchw.onnx", &tv, &d, cache, NULL) && d.cached && cache_files() == 3,
          "--preprocess torchvision = the default: cached %d", d.cached);
    vl_features_free(&a);
    vl_features_free(&b);
    vl_features_free(&c);
    vl_features_free(&d);
}

static void test_refusals(void)
{
    vl_input_norm n;
    vl_input_norm_preset("keras-tf", &n);
    vl_extract_opts o = {.backbone = "builtin:motion", .norm = &n};
    vl_extractor *x = NULL;
    CHECK(vl_extractor_open(&o, &x) == VL_ERR_ARG && !x && strstr(vl_errmsg(), "ONNX"),
          "a built-in prepares its own frames: %s", vl_errmsg());
    char err[160];
    n.std[1] = 0;
    CHECK(vl_input_norm_check(&n, err, sizeof err) && strstr(err, "std"), "std 0: %s", err);
    vl_input_norm_preset("keras-tf", &n);
    n.lo = 2;
    CHECK(vl_input_norm_check(&n, err, sizeof err) && strstr(err, "range"), "lo > hi: %s", err);
    CHECK(vl_input_norm_preset("keras-foo", &n) == -1, "unknown preset");
    /* the preset a preproc matches, for `info` */
    vl_preproc p;
    vl_preproc_imagenet(&p);
    CHECK(vl_input_norm_match(&p) && !strcmp(vl_input_norm_match(&p), "torchvision"), "imagenet = torchvision");
    vl_input_norm_preset("keras-caffe", &n);
    vl_input_norm_apply(&n, &p);
    CHECK(p.bgr && p.scale == 1.0f && p.mean[0] == 103.939f && p.mean[2] == 123.68f && p.std[0] == 1.0f,
          "caffe: BGR, mean in channel order");
    CHECK(vl_input_norm_match(&p) && !strcmp(vl_input_norm_match(&p), "keras-caffe"), "match keras-caffe");
}

static void test_record(void)
{
    vl_model_meta m = {0}, r = {0};
    snprintf(m.backbone, sizeof m.backbone, "/x/id_nchw.onnx");
    m.feature_dim = 192;
    vl_preproc_imagenet(&m.pre);
    m.has_input_norm = 1;
    m.input_norm = (vl_input_norm){.preset = "custom", .lo = -1, .hi = 1, .mean = {0.1f, 0.2f, 0.3f},
                                   .std = {0.7f, 0.8f, 0.9f}, .bgr = 1};
    vl_input_norm_apply(&m.input_norm, &m.pre);
    char *js = vl_model_backbone_json(&m);
    CHECK(js && strstr(js, "\"preprocess\":{\"preset\":\"custom\",\"range\":[-1,1]"), "json: %s", js ? js : "");
    CHECK(js && vl_model_backbone_from_json(js, "t.json", &r) == VL_OK, "parse: %s", vl_errmsg());
    CHECK(r.has_input_norm && !memcmp(&r.input_norm, &m.input_norm, sizeof r.input_norm) &&
              !memcmp(&r.pre, &m.pre, sizeof r.pre),
          "round trip bit-identical");
    /* without the key: no record (older files) */
    vl_model_meta m0 = m, r0 = {0};
    m0.has_input_norm = 0;
    char *j0 = vl_model_backbone_json(&m0);
    CHECK(j0 && !strstr(j0, "preprocess") && vl_model_backbone_from_json(j0, "t.json", &r0) == VL_OK &&
              !r0.has_input_norm,
          "absent stays absent");
    free(j0);
    /* bad records: one error naming the file */
    static const char *const bad[][2] = {
        {"\"std\":[0.7,0.8,0.9]", "\"std\":[0.7,0,0.9]"},
        {"\"mean\":[0.1,0.2,0.3]", "\"mean\":[0.1,0.2]"},
        {"\"range\":[-1,1]", "\"range\":[1,-1]"},
        {"\"channel_order\":\"bgr\"", "\"channel_order\":\"grb\""},
        {"\"preset\":\"custom\",", "\"preset\":\"custom\",\"gamma\":2,"},
    };
    for (size_t i = 0; js && i < sizeof bad / sizeof bad[0]; i++) {
        char b[8192];
        const char *at = strstr(js, bad[i][0]);
        CHECK(at != NULL, "fixture text %s in %s", bad[i][0], js);
        if (!at)
            continue;
        snprintf(b, sizeof b, "%.*s%s%s", (int)(at - js), js, bad[i][1], at + strlen(bad[i][0]));
        vl_model_meta q = {0};
        CHECK(vl_model_backbone_from_json(b, "bad.json", &q) == VL_ERR_FORMAT && strstr(vl_errmsg(), "bad.json"),
              "bad record %zu refused: %s", i, vl_errmsg());
    }
    free(js);
}


/* A fused backbone: the options reach every ONNX part and leave a built-in alone. */
static void test_fused(void)
{
    char a[4200], b[4200], spec[8600];
    snprintf(a, sizeof a, "%s/preprocess/id_nchw.onnx", FIX);
    snprintf(b, sizeof b, "%s/preprocess/id_nhwc.onnx", FIX);
    vl_input_norm n;
    vl_input_norm_preset("keras-caffe", &n);
    vl_features fa = {0}, fb = {0}, ff = {0}, fm = {0}, fmx = {0};
    CHECK(extract("id_nchw.onnx", &n, &fa, NULL, NULL) && extract("id_nhwc.onnx", &n, &fb, NULL, NULL), "parts");
    snprintf(spec, sizeof spec, "%s+%s", a, b);
    vl_extract_opts o = {.backbone = spec, .tap = "y+y", .norm = &n, .fps = 10, .jobs = 1};
    vl_extractor *x;
    vl_clip c = {.path = video};
    CHECK(vl_extractor_open(&o, &x) == VL_OK, "fused open: %s", vl_errmsg());
    if (x) {
        CHECK(vl_extractor_backbone(x)->has_norm, "the fused description records the choice");
        CHECK(vl_extract_clips(x, &c, 1, &ff) == VL_OK && ff.D == 384 && ff.T == fa.T, "fused: %s", vl_errmsg());
        int same = ff.D == 384 && fa.D == 192 && fb.D == 192;
        for (int t = 0; same && t < ff.T; t++)
            same = !memcmp(ff.x + (size_t)t * 384, fa.x + (size_t)t * 192, 192 * sizeof(float)) &&
                   !memcmp(ff.x + (size_t)t * 384 + 192, fb.x + (size_t)t * 192, 192 * sizeof(float));
        CHECK(same, "each ONNX part of A+B as on its own with the same preprocessing");
        vl_extractor_close(x);
    }
    /* builtin:motion + ONNX: the built-in part keeps its own frames */
    snprintf(spec, sizeof spec, "builtin:motion+%s", a);
    o = (vl_extract_opts){.backbone = spec, .tap = "+y", .norm = &n, .fps = 10, .jobs = 1};
    vl_extract_opts om = {.backbone = "builtin:motion", .fps = 10, .jobs = 1};
    x = NULL;
    CHECK(vl_extractor_open(&o, &x) == VL_OK && vl_extract_clips(x, &c, 1, &fmx) == VL_OK, "motion+onnx: %s",
          vl_errmsg());
    vl_extractor_close(x);
    x = NULL;
    CHECK(vl_extractor_open(&om, &x) == VL_OK && vl_extract_clips(x, &c, 1, &fm) == VL_OK, "motion: %s",
          vl_errmsg());
    vl_extractor_close(x);
    int ok = fmx.T == fm.T && fmx.D == fm.D + 192;
    for (int t = 0; ok && t < fm.T; t++)
        ok = !memcmp(fmx.x + (size_t)t * fmx.D, fm.x + (size_t)t * fm.D, sizeof(float) * (size_t)fm.D) &&
             !memcmp(fmx.x + (size_t)t * fmx.D + fm.D, fa.x + (size_t)t * 192, 192 * sizeof(float));
    CHECK(ok, "motion part unchanged, ONNX part preprocessed ([%d, %d] vs [%d, %d])", fmx.T, fmx.D, fm.T, fm.D);
    vl_features_free(&fa);
    vl_features_free(&fb);
    vl_features_free(&ff);
    vl_features_free(&fm);
    vl_features_free(&fmx);
}

/* vl_model_predict_video applies the model's record, not the backbone's default. */
static void test_model_video(const char *out)
{
    vl_net_config cfg = {.input = 192, .outputs = 2, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY, .nlayers = 1,
                         .layer = {{.kind = VL_LAYER_MEAN}}};
    vl_net *net = NULL;
    CHECK(vl_net_create(&cfg, 7, &net) == VL_OK, "net: %s", vl_errmsg());
    if (!net)
        return;
    char path[4200], model[4200];
    snprintf(path, sizeof path, "%s/preprocess/id_nchw.onnx", FIX);
    snprintf(model, sizeof model, "%s/caffe.safetensors", out);
    vl_model_meta meta = {.feature_dim = 192, .fps = 10, .has_input_norm = 1};
    char *abs = realpath(path, NULL);
    snprintf(meta.backbone, sizeof meta.backbone, "%s", abs ? abs : path);
    free(abs);
    snprintf(meta.tap, sizeof meta.tap, "y");
    vl_input_norm_preset("keras-caffe", &meta.input_norm);
    vl_preproc_imagenet(&meta.pre);
    CHECK(vl_model_save(model, net, &meta) == VL_OK, "save: %s", vl_errmsg());
    vl_net_free(net);
    vl_model *m = NULL;
    CHECK(vl_model_open(model, &m) == VL_OK, "open: %s", vl_errmsg());
    if (!m)
        return;
    float *pv = NULL, pc[2], pt[2];
    int T = 0;
    vl_features fc = {0}, ftv = {0};
    CHECK(vl_model_predict_video(m, video, &pv, &T, NULL) == VL_OK, "predict video: %s", vl_errmsg());
    CHECK(extract("id_nchw.onnx", &meta.input_norm, &fc, NULL, NULL) && extract("id_nchw.onnx", NULL, &ftv, NULL, NULL),
          "features");
    if (pv && fc.x && ftv.x) {
        CHECK(vl_model_predict(m, fc.x, fc.T, pc) == VL_OK && vl_model_predict(m, ftv.x, ftv.T, pt) == VL_OK, "p");
        CHECK(T == fc.T && !memcmp(pv, pc, sizeof pc), "video = keras-caffe features: %g %g vs %g %g", pv[0], pv[1],
              pc[0], pc[1]);
        CHECK(memcmp(pv, pt, sizeof pt) != 0, "and not the torchvision ones: %g vs %g", pv[0], pt[0]);
    }
    free(pv);
    vl_features_free(&fc);
    vl_features_free(&ftv);
    vl_model_close(m);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_preprocess FIXTURES_DIR OUT_DIR\n");
        return 2;
    }
    FIX = argv[1];
    char vids[4200], cls[4300];
    mkdir(argv[2], 0755);
    snprintf(vids, sizeof vids, "%s/videos", argv[2]);
    mkdir(vids, 0755);
    int made = 1;
    for (int k = 0; k < 4; k++) { /* two classes of two videos, for cli_preprocess.sh */
        snprintf(cls, sizeof cls, "%s/%s", vids, k < 2 ? "a" : "b");
        mkdir(cls, 0755);
        snprintf(video, sizeof video, "%s/v%d.avi", cls, k);
        made &= make_video(video, k);
    }
    CHECK(made, "test videos: %s", vl_errmsg());
    snprintf(cache, sizeof cache, "%s/cache", argv[2]);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache);
    CHECK(system(cmd) == 0, "clear %s", cache);
    if (made) {
        test_values("id_nchw.onnx");
        test_values("id_nhwc.onnx");
        test_cache();
        test_fused();
        test_model_video(argv[2]);
    }
    test_refusals();
    test_record();
    return check_summary();
}
