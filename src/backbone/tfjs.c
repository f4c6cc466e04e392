/* TensorFlow.js models (layers and graph formats) to ONNX: tfjs.h, docs/tfjs.md.
 *
 * The conversion runs in one context (cv). Every allocation is recorded in
 * it and released at the end, and every error goes through fail(), which sets
 * the message and jumps back to vl_tfjs_import: nothing is written unless the
 * whole model converted and the result loads in our own ONNX runner. */
#include "backbone/tfjs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/atomic.h"
#include "core/json.h"
#include "onnx.pb-c.h"

#define MAXR 8

/* One weight from the manifest, dequantised to float32 (or int32 values). */
typedef struct {
    const char *name;
    int nd;
    int64_t shape[MAXR];
    int64_t count;
    int is_int;
    float *f;
    int32_t *i;
} weight;

/* A converted tensor. */
typedef struct sym {
    const char *onnx; /* ONNX tensor name */
    int rank;         /* -1: unknown */
    int nchw;         /* a 4-D image tensor stored NCHW (TF.js's NHWC, transposed) */
    const weight *w;  /* graph models: a Const, materialised where it is used */
    const char *alt;  /* the same tensor in the other layout, once made */
    int state;        /* 0: not converted, 1: converting, 2: done */
    /* graph models: a Squeeze/Unpack of one axis, emitted only when read by
     * something other than an ExpandDims of the same axis (which cancels it) */
    struct sym *sq_src;
    int64_t sq_axis;
    /* a zero padding of H and W (NCHW): a following convolution without
     * padding of its own reads pad_src with these pads instead */
    struct sym *pad_src;
    int64_t pad_hw[4]; /* top, left, bottom, right */
} sym;

typedef struct {
    jmp_buf jb;
    vl_status status;
    const vl_tfjs_opts *o;
    char json_path[4096];
    char dir[4096];
    vl_json *root;
    void **ptrs;
    size_t np, capp;
    weight *W;
    int nw;
    Onnx__NodeProto **nodes;
    int nn, capn;
    Onnx__TensorProto **inits;
    int ni, capi;
    long long params;
    /* the model's layers or nodes, by index */
    const vl_json **items;
    const char **names;
    sym *syms;
    int nitems;
    int multi_tap; /* --tap A,B,...: the output is a Concat made by convert_graph */
    int sequential;
    const char *in_name;
    int in_nd;
    int64_t in_shape[MAXR];
} cv;

/* ---- errors and memory ----------------------------------------------------------- */

static _Noreturn void failv(cv *c, vl_status code, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    c->status = vl_seterr(code, "%s: %s", c->json_path, msg);
    longjmp(c->jb, 1);
}

static _Noreturn __attribute__((format(printf, 3, 4))) void fail(cv *c, vl_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    failv(c, code, fmt, ap);
}

static void *track(cv *c, void *p)
{
    if (!p)
        fail(c, VL_ERR_NOMEM, "out of memory");
    if (c->np == c->capp) {
        size_t cap = c->capp ? 2 * c->capp : 256;
        void **q = realloc(c->ptrs, cap * sizeof *q);
        if (!q) {
            free(p);
            fail(c, VL_ERR_NOMEM, "out of memory");
        }
        c->ptrs = q;
        c->capp = cap;
    }
    c->ptrs[c->np++] = p;
    return p;
}

static void *zalloc(cv *c, size_t n) { return track(c, calloc(1, n ? n : 1)); }

static char *fmt(cv *c, const char *f, ...) __attribute__((format(printf, 2, 3)));
static char *fmt(cv *c, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = zalloc(c, (size_t)n + 1);
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

static void *grow(cv *c, void *arr, int *cap, size_t elem)
{
    int nc = *cap ? 2 * *cap : 64;
    void *q = zalloc(c, (size_t)nc * elem);
    if (arr)
        memcpy(q, arr, (size_t)*cap * elem);
    *cap = nc;
    return q; /* the old array stays tracked and is freed at the end */
}

/* ---- reading files ------------------------------------------------------------------ */

static uint8_t *slurp(cv *c, const char *path, size_t *len, const char *what)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail(c, VL_ERR_IO, "cannot open %s '%s': %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        fail(c, VL_ERR_IO, "%s '%s' is not a regular file", what, path);
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        fclose(f);
        fail(c, VL_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    size_t got = fread(buf, 1, (size_t)st.st_size, f);
    int bad = ferror(f);
    fclose(f);
    track(c, buf);
    if (bad || got != (size_t)st.st_size)
        fail(c, VL_ERR_IO, "cannot read %s '%s'", what, path);
    *len = got;
    return buf;
}

/* ---- weights ------------------------------------------------------------------------ */

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
    if (e == 0) {
        if (m == 0) {
            u = sign;
        } else { /* subnormal */
            e = 127 - 15 + 1;
            while (!(m & 0x400)) {
                m <<= 1;
                e--;
            }
            u = sign | (e << 23) | ((m & 0x3ff) << 13);
        }
    } else if (e == 31) {
        u = sign | 0x7f800000u | (m << 13);
    } else {
        u = sign | ((e + 127 - 15) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static const char *jstr(const vl_json *v, const char *key) { return vl_json_str(vl_json_get(v, key)); }

static double jnum(cv *c, const vl_json *v, const char *key, const char *ctx)
{
    double d;
    if (!vl_json_number(vl_json_get(v, key), &d))
        fail(c, VL_ERR_FORMAT, "%s: '%s' is missing or not a number", ctx, key);
    return d;
}

/* Reads every group's shards and decodes its weights (weightsManifest). */
static void load_weights(cv *c, const vl_json *manifest)
{
    if (!manifest || manifest->type != VL_JSON_ARRAY)
        fail(c, VL_ERR_FORMAT, "no weightsManifest array");
    int total = 0;
    for (size_t g = 0; g < manifest->count; g++)
        total += (int)vl_json_count(vl_json_get(&manifest->items[g], "weights"));
    c->W = zalloc(c, sizeof(weight) * (size_t)(total ? total : 1));
    for (size_t g = 0; g < manifest->count; g++) {
        const vl_json *grp = &manifest->items[g];
        const vl_json *paths = vl_json_get(grp, "paths"), *ws = vl_json_get(grp, "weights");
        if (!paths || paths->type != VL_JSON_ARRAY || !ws || ws->type != VL_JSON_ARRAY)
            fail(c, VL_ERR_FORMAT, "weightsManifest group %zu lacks 'paths' or 'weights'", g + 1);
        /* the group's shards, end to end */
        size_t len = 0;
        uint8_t **parts = zalloc(c, sizeof(uint8_t *) * (paths->count + 1));
        size_t *plen = zalloc(c, sizeof(size_t) * (paths->count + 1));
        for (size_t p = 0; p < paths->count; p++) {
            const char *rel = vl_json_str(&paths->items[p]);
            if (!rel || !rel[0] || rel[0] == '/' || strstr(rel, ".."))
                fail(c, VL_ERR_FORMAT, "weightsManifest group %zu: shard path %zu is not a relative file name", g + 1,
                     p + 1);
            char *full = fmt(c, "%s/%s", c->dir, rel);
            parts[p] = slurp(c, full, &plen[p], "weight shard");
            len += plen[p];
        }
        uint8_t *data = zalloc(c, len);
        for (size_t p = 0, off = 0; p < paths->count; off += plen[p], p++)
            memcpy(data + off, parts[p], plen[p]);
        size_t off = 0;
        for (size_t k = 0; k < ws->count; k++) {
            const vl_json *s = &ws->items[k];
            weight *w = &c->W[c->nw];
            w->name = jstr(s, "name");
            const char *dt = jstr(s, "dtype");
            const vl_json *shape = vl_json_get(s, "shape");
            if (!w->name || !dt || !shape || shape->type != VL_JSON_ARRAY)
                fail(c, VL_ERR_FORMAT, "weightsManifest group %zu, weight %zu: needs name, shape and dtype", g + 1,
                     k + 1);
            if (shape->count > MAXR)
                fail(c, VL_ERR_UNSUPPORTED, "weight '%s' has %zu dimensions", w->name, shape->count);
            w->nd = (int)shape->count;
            w->count = 1;
            for (int d = 0; d < w->nd; d++) {
                int64_t v;
                if (!vl_json_int(&shape->items[d], 0, INT64_C(1) << 31, &v))
                    fail(c, VL_ERR_FORMAT, "weight '%s': bad shape", w->name);
                w->shape[d] = v;
                w->count *= v;
                if (w->count > (INT64_C(1) << 31))
                    fail(c, VL_ERR_FORMAT, "weight '%s' is too large", w->name);
            }
            const vl_json *q = vl_json_get(s, "quantization");
            const char *qdt = q ? jstr(q, "dtype") : NULL;
            if (q && !qdt)
                fail(c, VL_ERR_FORMAT, "weight '%s': quantization without a dtype", w->name);
            size_t esz;
            if (qdt)
                esz = !strcmp(qdt, "uint8") ? 1 : (!strcmp(qdt, "uint16") || !strcmp(qdt, "float16")) ? 2 : 0;
            else
                esz = (!strcmp(dt, "float32") || !strcmp(dt, "int32")) ? 4 : 0;
            if (!esz)
                fail(c, VL_ERR_UNSUPPORTED, "weight '%s': dtype '%s' is not supported (float32, int32; quantised uint8, uint16, float16)",
                     w->name, qdt ? qdt : dt);
            size_t need = esz * (size_t)w->count;
            if (off + need > len)
                fail(c, VL_ERR_FORMAT,
                     "weight shards of group %zu are too short: weight '%s' needs bytes %zu..%zu, the shards hold %zu",
                     g + 1, w->name, off, off + need, len);
            const uint8_t *b = data + off;
            off += need;
            w->is_int = !strcmp(dt, "int32");
            if (w->is_int) {
                if (qdt && strcmp(qdt, "uint8") && strcmp(qdt, "uint16"))
                    fail(c, VL_ERR_UNSUPPORTED, "weight '%s': int32 quantised as %s", w->name, qdt);
                w->i = zalloc(c, sizeof(int32_t) * (size_t)w->count);
            } else {
                if (strcmp(dt, "float32"))
                    fail(c, VL_ERR_UNSUPPORTED, "weight '%s': dtype '%s' is not supported", w->name, dt);
                w->f = zalloc(c, sizeof(float) * (size_t)w->count);
            }
            double scale = 1, mn = 0;
            if (qdt && strcmp(qdt, "float16")) {
                scale = jnum(c, q, "scale", w->name);
                mn = jnum(c, q, "min", w->name);
            }
            for (int64_t i = 0; i < w->count; i++) {
                double v;
                if (!qdt) {
                    if (w->is_int) {
                        int32_t t;
                        memcpy(&t, b + 4 * i, 4);
                        w->i[i] = t;
                        continue;
                    }
                    float t;
                    memcpy(&t, b + 4 * i, 4);
                    v = t;
                } else if (!strcmp(qdt, "uint8")) {
                    v = b[i] * scale + mn;
                } else if (!strcmp(qdt, "uint16")) {
                    uint16_t t;
                    memcpy(&t, b + 2 * i, 2);
                    v = t * scale + mn;
                } else {
                    uint16_t t;
                    memcpy(&t, b + 2 * i, 2);
                    v = half_to_float(t);
                }
                if (w->is_int)
                    w->i[i] = (int32_t)lrint(v);
                else
                    w->f[i] = (float)v;
            }
            c->nw++;
        }
    }
}

static const weight *find_weight(const cv *c, const char *name)
{
    for (int i = 0; i < c->nw; i++)
        if (!strcmp(c->W[i].name, name))
            return &c->W[i];
    return NULL;
}

/* A layer's weight: "<layer>/<what>", also inside a nested model ("<outer>/<layer>/<what>"). */
static const weight *layer_weight(cv *c, const char *layer, const char *what, int required)
{
    size_t ll = strlen(layer), wl = strlen(what);
    for (int i = 0; i < c->nw; i++) {
        const char *n = c->W[i].name;
        size_t nl = strlen(n);
        if (nl < ll + 1 + wl || strcmp(n + nl - wl, what) || n[nl - wl - 1] != '/')
            continue;
        const char *lp = n + nl - wl - 1 - ll;
        if (!strncmp(lp, layer, ll) && (lp == n || lp[-1] == '/'))
            return &c->W[i];
    }
    if (required)
        fail(c, VL_ERR_FORMAT, "layer '%s': weight '%s/%s' is not in the weightsManifest", layer, layer, what);
    return NULL;
}

/* ---- building the ONNX graph ------------------------------------------------------------ */

static Onnx__NodeProto *node(cv *c, const char *op, const char *out, int nin, const char *const *in)
{
    if (c->nn == c->capn)
        c->nodes = grow(c, c->nodes, &c->capn, sizeof *c->nodes);
    Onnx__NodeProto *n = zalloc(c, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)out;
    n->n_input = (size_t)nin;
    n->input = zalloc(c, sizeof(char *) * (size_t)(nin ? nin : 1));
    for (int i = 0; i < nin; i++)
        n->input[i] = (char *)in[i];
    n->n_output = 1;
    n->output = zalloc(c, sizeof(char *));
    n->output[0] = (char *)out;
    c->nodes[c->nn++] = n;
    return n;
}

static Onnx__NodeProto *node1(cv *c, const char *op, const char *out, const char *in) { return node(c, op, out, 1, &in); }

static Onnx__NodeProto *node2(cv *c, const char *op, const char *out, const char *a, const char *b)
{
    const char *in[2] = {a, b};
    return node(c, op, out, 2, in);
}

static Onnx__AttributeProto *add_attr(cv *c, Onnx__NodeProto *n, const char *name)
{
    Onnx__AttributeProto **a = zalloc(c, sizeof *a * (n->n_attribute + 1));
    if (n->n_attribute)
        memcpy(a, n->attribute, sizeof *a * n->n_attribute);
    n->attribute = a;
    Onnx__AttributeProto *p = zalloc(c, sizeof *p);
    onnx__attribute_proto__init(p);
    p->name = (char *)name;
    p->has_type = 1;
    a[n->n_attribute++] = p;
    return p;
}

static void attr_i(cv *c, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = add_attr(c, n, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
}

static void attr_f(cv *c, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = add_attr(c, n, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1;
    a->f = v;
}

static void attr_ints(cv *c, Onnx__NodeProto *n, const char *name, int cnt, const int64_t *v)
{
    Onnx__AttributeProto *a = add_attr(c, n, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->n_ints = (size_t)cnt;
    a->ints = zalloc(c, sizeof(int64_t) * (size_t)cnt);
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)cnt);
}

static void attr_s(cv *c, Onnx__NodeProto *n, const char *name, const char *s)
{
    Onnx__AttributeProto *a = add_attr(c, n, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    a->has_s = 1;
    a->s.len = strlen(s);
    a->s.data = (uint8_t *)s;
}

static Onnx__TensorProto *init_common(cv *c, const char *name, int nd, const int64_t *dims, int type)
{
    if (c->ni == c->capi)
        c->inits = grow(c, c->inits, &c->capi, sizeof *c->inits);
    Onnx__TensorProto *t = zalloc(c, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = type;
    t->n_dims = (size_t)nd;
    t->dims = zalloc(c, sizeof(int64_t) * (size_t)(nd ? nd : 1));
    if (nd)
        memcpy(t->dims, dims, sizeof(int64_t) * (size_t)nd);
    c->inits[c->ni++] = t;
    return t;
}

/* A float initializer (the data is copied). */
static const char *init_f(cv *c, const char *name, int nd, const int64_t *dims, const float *v)
{
    int64_t n = 1;
    for (int d = 0; d < nd; d++)
        n *= dims[d];
    Onnx__TensorProto *t = init_common(c, name, nd, dims, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    t->has_raw_data = 1;
    t->raw_data.len = sizeof(float) * (size_t)n;
    t->raw_data.data = zalloc(c, t->raw_data.len);
    memcpy(t->raw_data.data, v, t->raw_data.len);
    c->params += n;
    return name;
}

static const char *init_i64(cv *c, const char *name, int n, const int64_t *v)
{
    int64_t dims[1] = {n};
    Onnx__TensorProto *t = init_common(c, name, 1, dims, ONNX__TENSOR_PROTO__DATA_TYPE__INT64);
    t->has_raw_data = 1;
    t->raw_data.len = sizeof(int64_t) * (size_t)n;
    t->raw_data.data = zalloc(c, t->raw_data.len ? t->raw_data.len : 1);
    memcpy(t->raw_data.data, v, t->raw_data.len);
    return name;
}

static const char *scalar(cv *c, const char *name, float v) { return init_f(c, name, 0, NULL, &v); }

/* ---- layout --------------------------------------------------------------------------- */

/* The tensor as NCHW (a rank-4 tensor in TF layout gets a Transpose). */
static const char *as_nchw(cv *c, sym *s)
{
    if (s->rank != 4 || s->nchw)
        return s->onnx;
    if (!s->alt) {
        s->alt = fmt(c, "%s#nchw", s->onnx);
        static const int64_t p[4] = {0, 3, 1, 2};
        attr_ints(c, node1(c, "Transpose", s->alt, s->onnx), "perm", 4, p);
    }
    return s->alt;
}

/* The tensor in TF.js's own layout (NHWC for images). */
static const char *as_tf(cv *c, sym *s)
{
    if (s->rank != 4 || !s->nchw)
        return s->onnx;
    if (!s->alt) {
        s->alt = fmt(c, "%s#nhwc", s->onnx);
        static const int64_t p[4] = {0, 2, 3, 1};
        attr_ints(c, node1(c, "Transpose", s->alt, s->onnx), "perm", 4, p);
    }
    return s->alt;
}

/* An NHWC axis of a rank-4 tensor, as NCHW. */
static int64_t nchw_axis(int64_t a) { return a == 0 ? 0 : a == 3 ? 1 : a + 1; }

/* Conv weights: TF [kh, kw, cin, cout] -> ONNX [cout, cin, kh, kw]; depthwise
 * TF [kh, kw, cin, mult] -> [cin*mult, 1, kh, kw] (output channel c*mult + m). */
static const char *conv_weight(cv *c, const char *name, const weight *w, int depthwise, const char *who)
{
    if (w->nd != 4 || w->is_int)
        fail(c, VL_ERR_FORMAT, "%s: kernel '%s' must be a 4-D float tensor", who, w->name);
    int64_t kh = w->shape[0], kw = w->shape[1], ci = w->shape[2], co = w->shape[3];
    float *d = zalloc(c, sizeof(float) * (size_t)w->count);
    for (int64_t y = 0; y < kh; y++)
        for (int64_t x = 0; x < kw; x++)
            for (int64_t i = 0; i < ci; i++)
                for (int64_t o = 0; o < co; o++) {
                    float v = w->f[((y * kw + x) * ci + i) * co + o];
                    if (depthwise)
                        d[(((i * co + o) * kh + y) * kw) + x] = v;
                    else
                        d[((o * ci + i) * kh + y) * kw + x] = v;
                }
    int64_t dims[4] = {depthwise ? ci * co : co, depthwise ? 1 : ci, kh, kw};
    return init_f(c, name, 4, dims, d);
}

typedef struct {
    int64_t strides[2], dil[2], pads[4]; /* pads: top, left, bottom, right */
    int same;
} win;

/* A conv without padding of its own on a zero-padded tensor: read the
 * unpadded one and pad inside the conv (no Pad pass over memory). */
static const char *fold_pad(sym *x, win *w, const char *xin)
{
    if (!x->pad_src || w->same || w->pads[0] || w->pads[1] || w->pads[2] || w->pads[3])
        return xin;
    memcpy(w->pads, x->pad_hw, sizeof w->pads);
    return x->pad_src->onnx;
}

static void emit_conv(cv *c, const char *out, const char *x, const char *wname, const char *bname, const win *w,
                      int64_t group)
{
    const char *in[3] = {x, wname, bname};
    Onnx__NodeProto *n = node(c, "Conv", out, bname ? 3 : 2, in);
    attr_ints(c, n, "strides", 2, w->strides);
    attr_ints(c, n, "dilations", 2, w->dil);
    if (w->same)
        attr_s(c, n, "auto_pad", "SAME_UPPER");
    else
        attr_ints(c, n, "pads", 4, w->pads);
    if (group > 1)
        attr_i(c, n, "group", group);
}

static void emit_pool(cv *c, const char *op, const char *out, const char *x, const int64_t *k, const win *w)
{
    Onnx__NodeProto *n = node1(c, op, out, x);
    attr_ints(c, n, "kernel_shape", 2, k);
    attr_ints(c, n, "strides", 2, w->strides);
    if (w->same)
        attr_s(c, n, "auto_pad", "SAME_UPPER");
    else
        attr_ints(c, n, "pads", 4, w->pads);
}

/* Clip(x, lo, hi) with the bounds as initializers. */
static void emit_clip(cv *c, const char *out, const char *x, float lo, float hi)
{
    const char *in[3] = {x, scalar(c, fmt(c, "%s#min", out), lo), scalar(c, fmt(c, "%s#max", out), hi)};
    node(c, "Clip", out, 3, in);
}

/* GlobalAveragePool + Flatten: [N, C, H, W] -> [N, C]. */
static void emit_gap(cv *c, const char *out, const char *x)
{
    const char *g = fmt(c, "%s#gap", out);
    node1(c, "GlobalAveragePool", g, x);
    attr_i(c, node1(c, "Flatten", out, g), "axis", 1);
}

/* The model's input: [N, H, W, C] as declared, optionally mapped from ImageNet
 * normalisation to the model's range, then transposed to NCHW. */
static void emit_input(cv *c, sym *s, const char *name, int nd, const int64_t *shape)
{
    c->in_name = name;
    c->in_nd = nd;
    memcpy(c->in_shape, shape, sizeof(int64_t) * (size_t)nd);
    const char *x = name;
    if (c->o && c->o->has_range) {
        if (nd != 4 || shape[3] != 3)
            fail(c, VL_ERR_UNSUPPORTED, "an input range needs an [N, H, W, 3] image input; '%s' is not one", name);
        static const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
        float span = c->o->range_hi - c->o->range_lo, mul[3], add[3];
        for (int k = 0; k < 3; k++) {
            mul[k] = sd[k] * span;
            add[k] = mean[k] * span + c->o->range_lo;
        }
        int64_t d[4] = {1, 1, 1, 3};
        const char *m = fmt(c, "%s#scaled", name), *a = fmt(c, "%s#ranged", name);
        node2(c, "Mul", m, x, init_f(c, fmt(c, "%s#range_mul", name), 4, d, mul));
        node2(c, "Add", a, m, init_f(c, fmt(c, "%s#range_add", name), 4, d, add));
        x = a;
    }
    s->rank = nd;
    if (nd == 4) {
        s->onnx = fmt(c, "%s#nchw", name);
        static const int64_t p[4] = {0, 3, 1, 2};
        attr_ints(c, node1(c, "Transpose", s->onnx, x), "perm", 4, p);
        s->nchw = 1;
    } else {
        s->onnx = x;
    }
}

/* ---- layers models ------------------------------------------------------------------------ */

static int64_t cfg_int(cv *c, const vl_json *cfg, const char *key, int64_t def, const char *layer)
{
    const vl_json *v = vl_json_get(cfg, key);
    if (!v || v->type == VL_JSON_NULL)
        return def;
    int64_t r;
    if (!vl_json_int(v, INT32_MIN, INT32_MAX, &r))
        fail(c, VL_ERR_FORMAT, "layer '%s': '%s' must be an integer", layer, key);
    return r;
}

/* A pair option (kernel_size, strides, ...): an integer or [a, b]. */
static void cfg_pair(cv *c, const vl_json *cfg, const char *key, int64_t def, int64_t *out, const char *layer)
{
    const vl_json *v = vl_json_get(cfg, key);
    out[0] = out[1] = def;
    if (!v || v->type == VL_JSON_NULL)
        return;
    if (v->type == VL_JSON_NUMBER) {
        out[0] = out[1] = cfg_int(c, cfg, key, def, layer);
        return;
    }
    if (v->type != VL_JSON_ARRAY || v->count != 2 || !vl_json_int(&v->items[0], 1, 1 << 20, &out[0]) ||
        !vl_json_int(&v->items[1], 1, 1 << 20, &out[1]))
        fail(c, VL_ERR_FORMAT, "layer '%s': '%s' must be a positive integer or a pair of them", layer, key);
}

static void check_channels_last(cv *c, const vl_json *cfg, const char *layer, const char *cls)
{
    const char *df = jstr(cfg, "data_format");
    if (df && strcmp(df, "channels_last"))
        fail(c, VL_ERR_UNSUPPORTED, "layer '%s' (%s): data_format '%s' is not supported (channels_last only)", layer,
             cls, df);
}

static void layer_window(cv *c, const vl_json *cfg, const char *layer, const char *cls, const char *skey,
                         int64_t sdef, win *w)
{
    memset(w, 0, sizeof *w);
    cfg_pair(c, cfg, skey, sdef, w->strides, layer);
    cfg_pair(c, cfg, "dilation_rate", 1, w->dil, layer);
    const char *pad = jstr(cfg, "padding");
    if (!pad || !strcmp(pad, "valid"))
        w->same = 0;
    else if (!strcmp(pad, "same"))
        w->same = 1;
    else
        fail(c, VL_ERR_UNSUPPORTED, "layer '%s' (%s): padding '%s' is not supported (valid, same)", layer, cls, pad);
    check_channels_last(c, cfg, layer, cls);
}

/* Keras activation by name, from `x` to `out`. Returns 0 for linear (nothing emitted). */
static int emit_activation(cv *c, const char *act, const char *out, const char *x, int rank, const char *layer)
{
    if (!act || !strcmp(act, "linear"))
        return 0;
    if (!strcmp(act, "relu"))
        node1(c, "Relu", out, x);
    else if (!strcmp(act, "relu6"))
        emit_clip(c, out, x, 0, 6);
    else if (!strcmp(act, "sigmoid"))
        node1(c, "Sigmoid", out, x);
    else if (!strcmp(act, "hard_sigmoid") || !strcmp(act, "hardSigmoid")) {
        Onnx__NodeProto *n = node1(c, "HardSigmoid", out, x);
        attr_f(c, n, "alpha", 0.2f);
        attr_f(c, n, "beta", 0.5f);
    } else if (!strcmp(act, "softmax")) {
        attr_i(c, node1(c, "Softmax", out, x), "axis", rank == 4 ? 1 : -1);
    } else
        fail(c, VL_ERR_UNSUPPORTED, "layer '%s': activation '%s' is not supported (linear, relu, relu6, sigmoid, hard_sigmoid, softmax)",
             layer, act);
    return 1;
}

static sym *layer_sym(cv *c, const char *name, const char *user);

static int layer_index(const cv *c, const char *name)
{
    for (int i = 0; i < c->nitems; i++)
        if (!strcmp(c->names[i], name))
            return i;
    return -1;
}

/* The layer's inputs (one call of the layer; shared layers are not supported). */
static int layer_inputs(cv *c, int li, sym **in, int maxin)
{
    const char *name = c->names[li];
    if (c->sequential) {
        if (li == 0)
            return 0;
        in[0] = layer_sym(c, c->names[li - 1], name);
        return 1;
    }
    const vl_json *ib = vl_json_get(c->items[li], "inbound_nodes");
    if (!ib || vl_json_count(ib) == 0)
        return 0;
    if (ib->type != VL_JSON_ARRAY || ib->count != 1)
        fail(c, VL_ERR_UNSUPPORTED, "layer '%s' is called %zu times (shared layers are not supported)", name,
             vl_json_count(ib));
    const vl_json *call = &ib->items[0];
    if (call->type != VL_JSON_ARRAY || call->count == 0 || call->count > (size_t)maxin)
        fail(c, VL_ERR_FORMAT, "layer '%s': inbound_nodes has an unsupported form", name);
    for (size_t k = 0; k < call->count; k++) {
        const vl_json *e = &call->items[k];
        const char *src = vl_json_str(vl_json_at(e, 0));
        int64_t ti = 0;
        if (!src)
            fail(c, VL_ERR_FORMAT, "layer '%s': inbound_nodes entry %zu does not name a layer", name, k + 1);
        if (vl_json_at(e, 2) && (!vl_json_int(vl_json_at(e, 2), 0, 0, &ti)))
            fail(c, VL_ERR_UNSUPPORTED, "layer '%s' reads output %s of '%s' (only single-output layers are supported)",
                 name, "> 0", src);
        in[k] = layer_sym(c, src, name);
    }
    return (int)call->count;
}

static void convert_layer(cv *c, int li)
{
    sym *s = &c->syms[li];
    const vl_json *L = c->items[li], *cfg = vl_json_get(L, "config");
    const char *cls = jstr(L, "class_name"), *name = c->names[li];
    if (!cls || !cfg)
        fail(c, VL_ERR_FORMAT, "layer '%s' lacks class_name or config", name);
    sym *in[64];
    int nin = layer_inputs(c, li, in, 64);
    const char *out = name;
    s->onnx = out;
    if (!strcmp(cls, "InputLayer") || (nin == 0 && c->sequential)) {
        const vl_json *bis = vl_json_get(cfg, "batch_input_shape");
        if (!bis)
            bis = vl_json_get(cfg, "batch_shape");
        if (!bis || bis->type != VL_JSON_ARRAY || bis->count < 1 || bis->count > MAXR)
            fail(c, VL_ERR_FORMAT, "input layer '%s' has no batch_input_shape", name);
        int64_t shape[MAXR];
        for (size_t d = 0; d < bis->count; d++)
            if (!vl_json_int(&bis->items[d], 1, INT32_MAX, &shape[d]))
                shape[d] = -1;
        if (strcmp(cls, "InputLayer"))
            fail(c, VL_ERR_UNSUPPORTED, "Sequential models must start with an input layer here; '%s' is %s", name, cls);
        emit_input(c, s, name, (int)bis->count, shape);
        return;
    }
    if (nin == 0)
        fail(c, VL_ERR_FORMAT, "layer '%s' (%s) has no inputs", name, cls);
    sym *x = in[0];
    s->rank = x->rank;
    s->nchw = x->nchw;
    const char *act = jstr(cfg, "activation");
    if (!strcmp(cls, "Conv2D") || !strcmp(cls, "DepthwiseConv2D")) {
        int dw = cls[0] == 'D';
        if (x->rank != 4)
            fail(c, VL_ERR_SHAPE, "layer '%s' (%s) needs a 4-D input", name, cls);
        win w;
        layer_window(c, cfg, name, cls, "strides", 1, &w);
        if ((w.strides[0] > 1 || w.strides[1] > 1) && (w.dil[0] > 1 || w.dil[1] > 1))
            fail(c, VL_ERR_UNSUPPORTED, "layer '%s' (%s): strides and dilation_rate both above 1", name, cls);
        const weight *k = layer_weight(c, name, dw ? "depthwise_kernel" : "kernel", 1);
        int usebias = 1;
        vl_json_bool(vl_json_get(cfg, "use_bias"), &usebias);
        const char *wn = conv_weight(c, fmt(c, "%s/%s", name, dw ? "depthwise_kernel" : "kernel"), k, dw, name);
        const char *bn = NULL;
        if (usebias) {
            const weight *b = layer_weight(c, name, "bias", 1);
            int64_t d = b->count;
            if (d != (dw ? k->shape[2] * k->shape[3] : k->shape[3]))
                fail(c, VL_ERR_SHAPE, "layer '%s': bias has %lld values", name, (long long)d);
            bn = init_f(c, fmt(c, "%s/bias", name), 1, &d, b->f);
        }
        int hasact = act && strcmp(act, "linear");
        const char *co = hasact ? fmt(c, "%s#conv", name) : out;
        emit_conv(c, co, fold_pad(x, &w, x->onnx), wn, bn, &w, dw ? k->shape[2] : 1);
        emit_activation(c, act, out, co, 4, name);
    } else if (!strcmp(cls, "BatchNormalization")) {
        int64_t axis = cfg_int(c, cfg, "axis", -1, name);
        const vl_json *av = vl_json_get(cfg, "axis");
        if (av && av->type == VL_JSON_ARRAY && av->count == 1)
            vl_json_int(&av->items[0], -8, 8, &axis);
        if (!(axis == -1 || axis == x->rank - 1) || x->rank < 2)
            fail(c, VL_ERR_UNSUPPORTED, "layer '%s' (BatchNormalization): axis %lld (only the channel axis, -1)", name,
                 (long long)axis);
        const weight *mean = layer_weight(c, name, "moving_mean", 1), *var = layer_weight(c, name, "moving_variance", 1);
        int64_t C = mean->count;
        int center = 1, scale = 1;
        vl_json_bool(vl_json_get(cfg, "center"), &center);
        vl_json_bool(vl_json_get(cfg, "scale"), &scale);
        const weight *g = scale ? layer_weight(c, name, "gamma", 1) : NULL, *b = center ? layer_weight(c, name, "beta", 1) : NULL;
        if (var->count != C || (g && g->count != C) || (b && b->count != C))
            fail(c, VL_ERR_SHAPE, "layer '%s' (BatchNormalization): its weights differ in length", name);
        float *ones = zalloc(c, sizeof(float) * (size_t)C), *zeros = zalloc(c, sizeof(float) * (size_t)C);
        for (int64_t i = 0; i < C; i++)
            ones[i] = 1;
        const char *bin[5] = {x->onnx, init_f(c, fmt(c, "%s/gamma", name), 1, &C, g ? g->f : ones),
                              init_f(c, fmt(c, "%s/beta", name), 1, &C, b ? b->f : zeros),
                              init_f(c, fmt(c, "%s/moving_mean", name), 1, &C, mean->f),
                              init_f(c, fmt(c, "%s/moving_variance", name), 1, &C, var->f)};
        double eps = 1e-3;
        vl_json_number(vl_json_get(cfg, "epsilon"), &eps);
        attr_f(c, node(c, "BatchNormalization", out, 5, bin), "epsilon", (float)eps);
    } else if (!strcmp(cls, "ReLU")) {
        double mx = -1, slope = 0, thr = 0;
        const vl_json *m = vl_json_get(cfg, "max_value");
        if (m && m->type != VL_JSON_NULL && !vl_json_number(m, &mx))
            fail(c, VL_ERR_FORMAT, "layer '%s' (ReLU): max_value is not a number", name);
        vl_json_number(vl_json_get(cfg, "negative_slope"), &slope);
        vl_json_number(vl_json_get(cfg, "threshold"), &thr);
        if (slope != 0 || thr != 0)
            fail(c, VL_ERR_UNSUPPORTED, "layer '%s' (ReLU): negative_slope and threshold must be 0", name);
        if (mx >= 0)
            emit_clip(c, out, x->onnx, 0, (float)mx);
        else
            node1(c, "Relu", out, x->onnx);
    } else if (!strcmp(cls, "Activation")) {
        if (!emit_activation(c, act, out, x->onnx, x->rank, name))
            node1(c, "Identity", out, x->onnx);
    } else if (!strcmp(cls, "ZeroPadding2D")) {
        if (x->rank != 4)
            fail(c, VL_ERR_SHAPE, "layer '%s' (ZeroPadding2D) needs a 4-D input", name);
        check_channels_last(c, cfg, name, cls);
        int64_t p[4] = {1, 1, 1, 1}; /* top, bottom, left, right */
        const vl_json *pv = vl_json_get(cfg, "padding");
        int ok = 1;
        if (pv && pv->type == VL_JSON_NUMBER) {
            ok = vl_json_int(pv, 0, 1 << 16, &p[0]);
            p[1] = p[2] = p[3] = p[0];
        } else if (pv && pv->type == VL_JSON_ARRAY && pv->count == 2) {
            for (int k = 0; k < 2; k++) {
                const vl_json *e = &pv->items[k];
                if (e->type == VL_JSON_NUMBER)
                    ok = ok && vl_json_int(e, 0, 1 << 16, &p[2 * k]) && (p[2 * k + 1] = p[2 * k]) >= 0;
                else
                    ok = ok && e->count == 2 && vl_json_int(&e->items[0], 0, 1 << 16, &p[2 * k]) &&
                         vl_json_int(&e->items[1], 0, 1 << 16, &p[2 * k + 1]);
            }
        } else if (pv)
            ok = 0;
        if (!ok)
            fail(c, VL_ERR_FORMAT, "layer '%s' (ZeroPadding2D): bad padding", name);
        int64_t pads[8] = {0, 0, p[0], p[2], 0, 0, p[1], p[3]};
        node2(c, "Pad", out, x->onnx, init_i64(c, fmt(c, "%s#pads", name), 8, pads));
        s->pad_src = x;
        s->pad_hw[0] = p[0], s->pad_hw[1] = p[2], s->pad_hw[2] = p[1], s->pad_hw[3] = p[3];
    } else if (!strcmp(cls, "Add") || !strcmp(cls, "Multiply")) {
        if (nin < 2)
            fail(c, VL_ERR_FORMAT, "layer '%s' (%s) needs two inputs or more", name, cls);
        const char *acc = x->onnx;
        for (int k = 1; k < nin; k++) {
            if (in[k]->rank != x->rank)
                fail(c, VL_ERR_SHAPE, "layer '%s' (%s): inputs of different ranks", name, cls);
            const char *o = k == nin - 1 ? out : fmt(c, "%s#%d", name, k);
            node2(c, cls[0] == 'A' ? "Add" : "Mul", o, acc, in[k]->onnx);
            acc = o;
        }
    } else if (!strcmp(cls, "Concatenate")) {
        int64_t axis = cfg_int(c, cfg, "axis", -1, name);
        if (axis < 0)
            axis += x->rank;
        if (axis < 1 || axis >= x->rank)
            fail(c, VL_ERR_UNSUPPORTED, "layer '%s' (Concatenate): axis %lld", name, (long long)axis);
        const char *ins[64];
        for (int k = 0; k < nin; k++) {
            if (in[k]->rank != x->rank)
                fail(c, VL_ERR_SHAPE, "layer '%s' (Concatenate): inputs of different ranks", name);
            ins[k] = in[k]->onnx;
        }
        attr_i(c, node(c, "Concat", out, nin, ins), "axis", x->rank == 4 ? nchw_axis(axis) : axis);
    } else if (!strcmp(cls, "GlobalAveragePooling2D")) {
        if (x->rank != 4)
            fail(c, VL_ERR_SHAPE, "layer '%s' (GlobalAveragePooling2D) needs a 4-D input", name);
        check_channels_last(c, cfg, name, cls);
        int keep = 0;
        vl_json_bool(vl_json_get(cfg, "keepdims"), &keep);
        if (keep)
            fail(c, VL_ERR_UNSUPPORTED, "layer '%s' (GlobalAveragePooling2D): keepdims", name);
        emit_gap(c, out, x->onnx);
        s->rank = 2;
        s->nchw = 0;
    } else if (!strcmp(cls, "MaxPooling2D") || !strcmp(cls, "AveragePooling2D")) {
        if (x->rank != 4)
            fail(c, VL_ERR_SHAPE, "layer '%s' (%s) needs a 4-D input", name, cls);
        int64_t k[2];
        cfg_pair(c, cfg, "pool_size", 2, k, name);
        win w;
        layer_window(c, cfg, name, cls, "strides", 0, &w);
        if (w.strides[0] == 0)
            w.strides[0] = k[0], w.strides[1] = k[1];
        emit_pool(c, cls[0] == 'M' ? "MaxPool" : "AveragePool", out, x->onnx, k, &w);
    } else if (!strcmp(cls, "Flatten")) {
        const char *src = x->onnx;
        if (x->rank == 4) { /* Keras flattens NHWC */
            src = fmt(c, "%s#nhwc", name);
            static const int64_t p[4] = {0, 2, 3, 1};
            attr_ints(c, node1(c, "Transpose", src, x->onnx), "perm", 4, p);
        }
        attr_i(c, node1(c, "Flatten", out, src), "axis", 1);
        s->rank = 2;
        s->nchw = 0;
    } else if (!strcmp(cls, "Dense")) {
        if (x->rank != 2)
            fail(c, VL_ERR_UNSUPPORTED, "layer '%s' (Dense) on a %d-D input (only 2-D: add Flatten or pooling)", name,
                 x->rank);
        const weight *k = layer_weight(c, name, "kernel", 1);
        if (k->nd != 2)
            fail(c, VL_ERR_SHAPE, "layer '%s' (Dense): kernel is not 2-D", name);
        int usebias = 1;
        vl_json_bool(vl_json_get(cfg, "use_bias"), &usebias);
        const char *gin[3] = {x->onnx, init_f(c, fmt(c, "%s/kernel", name), 2, k->shape, k->f), NULL};
        if (usebias) {
            const weight *b = layer_weight(c, name, "bias", 1);
            if (b->count != k->shape[1])
                fail(c, VL_ERR_SHAPE, "layer '%s' (Dense): bias has %lld values", name, (long long)b->count);
            gin[2] = init_f(c, fmt(c, "%s/bias", name), 1, &b->count, b->f);
        }
        int hasact = act && strcmp(act, "linear");
        const char *go = hasact ? fmt(c, "%s#dense", name) : out;
        node(c, "Gemm", go, usebias ? 3 : 2, gin);
        emit_activation(c, act, out, go, 2, name);
    } else if (!strcmp(cls, "Dropout") || !strcmp(cls, "SpatialDropout2D") || !strcmp(cls, "GaussianNoise") ||
               !strcmp(cls, "GaussianDropout") || !strcmp(cls, "AlphaDropout")) {
        node1(c, "Identity", out, x->onnx); /* inference: the identity */
    } else {
        fail(c, VL_ERR_UNSUPPORTED, "layer '%s': layer type %s is not supported", name, cls);
    }
}

static sym *layer_sym(cv *c, const char *name, const char *user)
{
    int li = layer_index(c, name);
    if (li < 0)
        fail(c, VL_ERR_FORMAT, "layer '%s' reads '%s', which is not a layer of the model", user ? user : "(output)", name);
    sym *s = &c->syms[li];
    if (s->state == 1)
        fail(c, VL_ERR_FORMAT, "layer '%s' depends on itself (a cycle in inbound_nodes)", name);
    if (s->state == 0) {
        s->state = 1;
        convert_layer(c, li);
        s->state = 2;
    }
    return s;
}

static sym *convert_layers(cv *c, const vl_json *topo)
{
    const vl_json *mc = vl_json_get(topo, "model_config");
    if (!mc)
        mc = topo;
    const char *cls = jstr(mc, "class_name");
    const vl_json *cfg = vl_json_get(mc, "config");
    if (!cls || !cfg)
        fail(c, VL_ERR_FORMAT, "modelTopology has neither 'node' (graph model) nor a Keras model_config");
    const vl_json *layers = cfg->type == VL_JSON_ARRAY ? cfg : vl_json_get(cfg, "layers");
    c->sequential = !strcmp(cls, "Sequential");
    if (!c->sequential && strcmp(cls, "Model") && strcmp(cls, "Functional"))
        fail(c, VL_ERR_UNSUPPORTED, "model class '%s' (Model, Functional and Sequential are supported)", cls);
    if (!layers || layers->type != VL_JSON_ARRAY || layers->count == 0)
        fail(c, VL_ERR_FORMAT, "the model config has no layers");
    c->nitems = (int)layers->count;
    c->items = zalloc(c, sizeof(*c->items) * layers->count);
    c->names = zalloc(c, sizeof(*c->names) * layers->count);
    c->syms = zalloc(c, sizeof(sym) * layers->count);
    for (size_t i = 0; i < layers->count; i++) {
        c->items[i] = &layers->items[i];
        const char *n = jstr(vl_json_get(&layers->items[i], "config"), "name");
        if (!n)
            n = jstr(&layers->items[i], "name");
        if (!n)
            fail(c, VL_ERR_FORMAT, "layer %zu has no name", i + 1);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(c->names[j], n))
                fail(c, VL_ERR_FORMAT, "two layers are named '%s'", n);
        c->names[i] = n;
        const char *lc = jstr(&layers->items[i], "class_name");
        if (lc && (!strcmp(lc, "Model") || !strcmp(lc, "Functional") || !strcmp(lc, "Sequential")))
            fail(c, VL_ERR_UNSUPPORTED, "layer '%s' is a nested model (%s); nested models are not supported", n, lc);
    }
    if (c->sequential && strcmp(jstr(c->items[0], "class_name") ? jstr(c->items[0], "class_name") : "", "InputLayer"))
        fail(c, VL_ERR_UNSUPPORTED, "Sequential model without an InputLayer first");
    const char *outname = c->o && c->o->tap ? c->o->tap : NULL;
    if (!outname) {
        if (c->sequential)
            outname = c->names[c->nitems - 1];
        else {
            const vl_json *ol = vl_json_get(cfg, "output_layers");
            outname = vl_json_str(vl_json_at(vl_json_at(ol, 0), 0));
            if (!outname)
                fail(c, VL_ERR_FORMAT, "the model config has no output_layers");
        }
    } else if (layer_index(c, outname) < 0)
        fail(c, VL_ERR_ARG, "--tap '%s': no layer of that name", outname);
    return layer_sym(c, outname, NULL);
}

/* ---- graph models --------------------------------------------------------------------------- */

static const vl_json *gattr(const vl_json *n, const char *key) { return vl_json_get(vl_json_get(n, "attr"), key); }

static int b64val(int ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+' || ch == '-') return 62;
    if (ch == '/' || ch == '_') return 63;
    return -1;
}

/* A base64 string attribute value ("s"), decoded. */
static const char *b64dec(cv *c, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *o = zalloc(c, n + 1);
    size_t k = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (char)((acc >> bits) & 0xff);
        }
    }
    o[k] = 0;
    return o;
}

static const char *gattr_s(cv *c, const vl_json *n, const char *key) { return b64dec(c, jstr(gattr(n, key), "s")); }

/* An integer list attribute (strings or numbers in JSON). Returns the count. */
static int gattr_ints(cv *c, const vl_json *n, const char *key, int64_t *v, int maxn)
{
    const vl_json *l = vl_json_get(vl_json_get(gattr(n, key), "list"), "i");
    int k = 0;
    for (size_t i = 0; l && i < l->count && k < maxn; i++) {
        const vl_json *e = &l->items[i];
        if (e->type == VL_JSON_STRING)
            v[k++] = strtoll(e->str, NULL, 10);
        else if (!vl_json_int(e, INT64_MIN / 2, INT64_MAX / 2, &v[k++]))
            fail(c, VL_ERR_FORMAT, "node '%s': attribute '%s' is not a list of integers", jstr(n, "name"), key);
    }
    return k;
}

static int64_t gattr_i(const vl_json *n, const char *key, int64_t def)
{
    const vl_json *v = vl_json_get(gattr(n, key), "i");
    int64_t r;
    if (v && v->type == VL_JSON_STRING)
        return strtoll(v->str, NULL, 10);
    return vl_json_int(v, INT64_MIN / 2, INT64_MAX / 2, &r) ? r : def;
}

static int gattr_b(const vl_json *n, const char *key)
{
    int b = 0;
    vl_json_bool(vl_json_get(gattr(n, key), "b"), &b);
    return b;
}

static sym *node_sym(cv *c, const char *ref, const char *user);

/* A node's window from strides/dilations/padding/explicit_paddings (NHWC). */
static void graph_window(cv *c, const vl_json *n, const char *name, const char *op, win *w)
{
    memset(w, 0, sizeof *w);
    const char *df = gattr_s(c, n, "data_format");
    if (df && df[0] && strcmp(df, "NHWC"))
        fail(c, VL_ERR_UNSUPPORTED, "node '%s' (%s): data_format %s (NHWC only)", name, op, df);
    int64_t v[8];
    w->strides[0] = w->strides[1] = w->dil[0] = w->dil[1] = 1;
    if (gattr_ints(c, n, "strides", v, 8) == 4)
        w->strides[0] = v[1], w->strides[1] = v[2];
    if (gattr_ints(c, n, "dilations", v, 8) == 4)
        w->dil[0] = v[1], w->dil[1] = v[2];
    const char *pad = gattr_s(c, n, "padding");
    if (!pad || !strcmp(pad, "VALID"))
        w->same = 0;
    else if (!strcmp(pad, "SAME"))
        w->same = 1;
    else if (!strcmp(pad, "EXPLICIT")) {
        if (gattr_ints(c, n, "explicit_paddings", v, 8) != 8)
            fail(c, VL_ERR_FORMAT, "node '%s' (%s): EXPLICIT padding needs 8 explicit_paddings", name, op);
        w->pads[0] = v[2], w->pads[2] = v[3], w->pads[1] = v[4], w->pads[3] = v[5];
    } else
        fail(c, VL_ERR_UNSUPPORTED, "node '%s' (%s): padding %s", name, op, pad);
    if (w->strides[0] < 1 || w->strides[1] < 1 || w->dil[0] < 1 || w->dil[1] < 1)
        fail(c, VL_ERR_FORMAT, "node '%s' (%s): bad strides or dilations", name, op);
}

static const weight *const_of(cv *c, sym *s, const char *name, const char *what)
{
    if (!s->w)
        fail(c, VL_ERR_UNSUPPORTED, "node '%s': its %s must be a constant", name, what);
    return s->w;
}

/* A constant as an initializer shaped to broadcast against a tensor of rank
 * `rank` in layout nchw. */
static const char *const_for(cv *c, const weight *w, int rank, int nchw, const char *name)
{
    if (w->is_int)
        fail(c, VL_ERR_UNSUPPORTED, "node '%s': an integer constant in float arithmetic", name);
    if (!(nchw && rank == 4) || w->nd == 0)
        return init_f(c, fmt(c, "%s#c", name), w->nd, w->shape, w->f);
    if (w->nd > 4)
        fail(c, VL_ERR_SHAPE, "node '%s': a %d-D constant against a 4-D tensor", name, w->nd);
    int64_t s[4] = {1, 1, 1, 1};
    for (int d = 0; d < w->nd; d++)
        s[4 - w->nd + d] = w->shape[d];
    /* NHWC [a, h, w, ch] -> NCHW [a, ch, h, w] */
    int64_t o[4] = {s[0], s[3], s[1], s[2]};
    float *d = zalloc(c, sizeof(float) * (size_t)w->count);
    for (int64_t a = 0; a < s[0]; a++)
        for (int64_t y = 0; y < s[1]; y++)
            for (int64_t x = 0; x < s[2]; x++)
                for (int64_t ch = 0; ch < s[3]; ch++)
                    d[((a * s[3] + ch) * s[1] + y) * s[2] + x] = w->f[((a * s[1] + y) * s[2] + x) * s[3] + ch];
    return init_f(c, fmt(c, "%s#c", name), 4, o, d);
}

/* out = a OP b with TF broadcasting, in the layout of the image operand. */
static void emit_binary(cv *c, sym *s, const char *onnxop, const char *out, sym *a, sym *b, const char *name)
{
    if (a->w && b->w)
        fail(c, VL_ERR_UNSUPPORTED, "node '%s': arithmetic on two constants", name);
    sym *t = a->w ? b : a, *k = a->w ? a : (b->w ? b : NULL);
    const char *x, *y;
    if (k) {
        s->rank = t->rank > k->w->nd ? t->rank : k->w->nd;
        s->nchw = t->nchw && t->rank == 4;
        const char *cst = const_for(c, k->w, t->rank, s->nchw, name);
        x = a->w ? cst : t->onnx;
        y = a->w ? t->onnx : cst;
    } else {
        if (a->rank != b->rank && (a->rank == 4 || b->rank == 4))
            fail(c, VL_ERR_UNSUPPORTED, "node '%s': broadcasting a %d-D tensor against a %d-D one", name, a->rank,
                 b->rank);
        s->rank = a->rank;
        s->nchw = a->rank == 4;
        x = s->nchw ? as_nchw(c, a) : a->onnx;
        y = s->nchw ? as_nchw(c, b) : b->onnx;
    }
    node2(c, onnxop, out, x, y);
}

/* Activation fused after a conv or matmul (fused_ops after BiasAdd). */
static void emit_fused_act(cv *c, const char *act, const char *out, const char *x, const vl_json *n, const char *name)
{
    if (!strcmp(act, "Relu"))
        node1(c, "Relu", out, x);
    else if (!strcmp(act, "Relu6"))
        emit_clip(c, out, x, 0, 6);
    else if (!strcmp(act, "Sigmoid"))
        node1(c, "Sigmoid", out, x);
    else
        fail(c, VL_ERR_UNSUPPORTED, "node '%s': fused activation %s", name, act);
    (void)n;
}

/* Emits a pending one-axis Squeeze (see sym.sq_src). */
static void materialise(cv *c, sym *s, const char *name)
{
    if (!s->sq_src || s->onnx)
        return;
    int64_t ax = s->sq_axis;
    s->onnx = name;
    node2(c, "Squeeze", name, as_tf(c, s->sq_src), init_i64(c, fmt(c, "%s#axes", name), 1, &ax));
}

static void convert_node(cv *c, int ni)
{
    const vl_json *n = c->items[ni];
    const char *name = c->names[ni], *op = jstr(n, "op");
    sym *s = &c->syms[ni];
    if (!op)
        fail(c, VL_ERR_FORMAT, "node '%s' has no op", name);
    const vl_json *inp = vl_json_get(n, "input");
    sym *in[16];
    int nin = 0;
    for (size_t k = 0; inp && k < inp->count; k++) {
        const char *r = vl_json_str(&inp->items[k]);
        if (!r)
            fail(c, VL_ERR_FORMAT, "node '%s': input %zu is not a string", name, k + 1);
        if (r[0] == '^')
            continue; /* control dependency */
        if (nin == 16)
            fail(c, VL_ERR_UNSUPPORTED, "node '%s' (%s) has more than 16 inputs", name, op);
        in[nin++] = node_sym(c, r, name);
    }
    if (strcmp(op, "ExpandDims"))
        for (int k = 0; k < nin; k++)
            materialise(c, in[k], c->names[in[k] - c->syms]);
    s->onnx = name;
    s->rank = nin ? in[0]->rank : -1;
    s->nchw = nin ? in[0]->nchw : 0;
    if (!strcmp(op, "Placeholder")) {
        const vl_json *dims = vl_json_get(vl_json_get(gattr(n, "shape"), "shape"), "dim");
        int64_t shape[MAXR];
        int nd = (int)vl_json_count(dims);
        if (!dims || nd > MAXR)
            fail(c, VL_ERR_UNSUPPORTED, "input '%s' has no known rank", name);
        for (int d = 0; d < nd; d++) {
            const vl_json *sz = vl_json_get(&dims->items[d], "size");
            shape[d] = sz && sz->type == VL_JSON_STRING ? strtoll(sz->str, NULL, 10) : -1;
            if (sz && sz->type == VL_JSON_NUMBER)
                vl_json_int(sz, -1, INT32_MAX, &shape[d]);
            if (shape[d] <= 0)
                shape[d] = -1;
        }
        if (c->in_name)
            fail(c, VL_ERR_UNSUPPORTED, "the graph has two inputs ('%s' and '%s')", c->in_name, name);
        if (nd == 4)
            shape[0] = -1; /* images: any batch (vidlstm feeds batches of frames) */
        emit_input(c, s, name, nd, shape);
    } else if (!strcmp(op, "Const")) {
        s->w = find_weight(c, name);
        if (!s->w)
            fail(c, VL_ERR_FORMAT, "Const node '%s' has no weight in the weightsManifest", name);
        s->rank = s->w->nd;
        s->onnx = NULL;
    } else if (!strcmp(op, "Identity") || !strcmp(op, "StopGradient") || !strcmp(op, "Cast") ||
               !strcmp(op, "Snapshot")) {
        if (in[0]->w) {
            s->w = in[0]->w;
            s->onnx = NULL;
            return;
        }
        node1(c, "Identity", name, in[0]->onnx);
    } else if (!strcmp(op, "Conv2D") || !strcmp(op, "_FusedConv2D") || !strcmp(op, "DepthwiseConv2dNative") ||
               !strcmp(op, "FusedDepthwiseConv2dNative")) {
        int dw = strstr(op, "Depthwise") != NULL;
        if (nin < 2 || in[0]->rank != 4)
            fail(c, VL_ERR_SHAPE, "node '%s' (%s) needs a 4-D input and a filter", name, op);
        win w;
        graph_window(c, n, name, op, &w);
        const weight *k = const_of(c, in[1], name, "filter");
        const char *wn = conv_weight(c, fmt(c, "%s#w", name), k, dw, name);
        const char *bias = NULL, *act = NULL;
        const vl_json *fo = vl_json_get(vl_json_get(gattr(n, "fused_ops"), "list"), "s");
        for (size_t f = 0; f < vl_json_count(fo); f++) {
            const char *o = b64dec(c, vl_json_str(&fo->items[f]));
            if (!strcmp(o, "BiasAdd") && f == 0) {
                if (nin < 3)
                    fail(c, VL_ERR_FORMAT, "node '%s' (%s): BiasAdd without a bias input", name, op);
                const weight *b = const_of(c, in[2], name, "bias");
                int64_t cnt = b->count;
                if (cnt != (dw ? k->shape[2] * k->shape[3] : k->shape[3]))
                    fail(c, VL_ERR_SHAPE, "node '%s' (%s): bias has %lld values", name, op, (long long)cnt);
                bias = init_f(c, fmt(c, "%s#b", name), 1, &cnt, b->f);
            } else if (f == vl_json_count(fo) - 1 && f > 0) {
                act = o;
            } else
                fail(c, VL_ERR_UNSUPPORTED, "node '%s' (%s): fused op %s", name, op, o);
        }
        const char *co = act ? fmt(c, "%s#conv", name) : name;
        emit_conv(c, co, in[0]->nchw ? fold_pad(in[0], &w, in[0]->onnx) : as_nchw(c, in[0]), wn, bias, &w,
                  dw ? k->shape[2] : 1);
        if (act)
            emit_fused_act(c, act, name, co, n, name);
        s->nchw = 1;
    } else if (!strcmp(op, "BiasAdd") || !strcmp(op, "Add") || !strcmp(op, "AddV2") || !strcmp(op, "Sub") ||
               !strcmp(op, "Mul") || !strcmp(op, "RealDiv")) {
        if (nin != 2)
            fail(c, VL_ERR_FORMAT, "node '%s' (%s) needs two inputs", name, op);
        const char *o = op[0] == 'S' ? "Sub" : op[0] == 'M' ? "Mul" : op[0] == 'R' ? "Div" : "Add";
        emit_binary(c, s, o, name, in[0], in[1], name);
    } else if (!strcmp(op, "Relu") || !strcmp(op, "Relu6") || !strcmp(op, "Sigmoid")) {
        if (in[0]->w)
            fail(c, VL_ERR_UNSUPPORTED, "node '%s' (%s) on a constant", name, op);
        emit_fused_act(c, op, name, in[0]->onnx, n, name);
    } else if (!strcmp(op, "Softmax")) {
        attr_i(c, node1(c, "Softmax", name, in[0]->onnx), "axis", in[0]->rank == 4 && in[0]->nchw ? 1 : -1);
    } else if (!strcmp(op, "Pad") || !strcmp(op, "PadV2")) {
        const weight *p = const_of(c, in[1], name, "paddings");
        int r = in[0]->rank;
        if (!p->is_int || p->count != 2 * r)
            fail(c, VL_ERR_FORMAT, "node '%s' (%s): paddings must be int32 [%d, 2]", name, op, r);
        int64_t pads[2 * MAXR];
        for (int d = 0; d < r; d++) {
            int od = r == 4 && in[0]->nchw ? (int)nchw_axis(d) : d;
            pads[od] = p->i[2 * d];
            pads[r + od] = p->i[2 * d + 1];
        }
        const char *pin[3] = {in[0]->onnx, init_i64(c, fmt(c, "%s#pads", name), 2 * r, pads), NULL};
        if (nin > 2) {
            const weight *cv_ = const_of(c, in[2], name, "constant_values");
            float v = cv_->is_int ? (float)cv_->i[0] : cv_->f[0];
            pin[2] = scalar(c, fmt(c, "%s#value", name), v);
        }
        node(c, "Pad", name, nin > 2 ? 3 : 2, pin);
        if (r == 4 && in[0]->nchw && nin == 2 && !pads[0] && !pads[1] && !pads[4] && !pads[5]) {
            s->pad_src = in[0];
            s->pad_hw[0] = pads[2], s->pad_hw[1] = pads[3], s->pad_hw[2] = pads[6], s->pad_hw[3] = pads[7];
        }
    } else if (!strcmp(op, "Mean")) {
        const weight *ax = const_of(c, in[1], name, "axes");
        int keep = gattr_b(n, "keep_dims");
        int64_t a[2] = {-1, -1};
        for (int64_t i = 0; i < ax->count && i < 2 && ax->is_int; i++)
            a[i] = ax->i[i] < 0 ? ax->i[i] + in[0]->rank : ax->i[i];
        if (in[0]->rank != 4 || ax->count != 2 || !((a[0] == 1 && a[1] == 2) || (a[0] == 2 && a[1] == 1)))
            fail(c, VL_ERR_UNSUPPORTED, "node '%s' (Mean): only the mean over height and width of a 4-D tensor", name);
        if (keep) {
            node1(c, "GlobalAveragePool", name, as_nchw(c, in[0]));
            s->nchw = 1;
        } else {
            emit_gap(c, name, as_nchw(c, in[0]));
            s->rank = 2;
            s->nchw = 0;
        }
    } else if (!strcmp(op, "MatMul") || !strcmp(op, "_FusedMatMul")) {
        if (in[0]->rank != 2 || nin < 2)
            fail(c, VL_ERR_UNSUPPORTED, "node '%s' (%s): only 2-D inputs", name, op);
        const weight *k = const_of(c, in[1], name, "right operand");
        if (k->nd != 2 || k->is_int)
            fail(c, VL_ERR_SHAPE, "node '%s' (%s): the weight is not a 2-D float tensor", name, op);
        const char *gin[3] = {in[0]->onnx, init_f(c, fmt(c, "%s#w", name), 2, k->shape, k->f), NULL};
        const char *act = NULL;
        const vl_json *fo = vl_json_get(vl_json_get(gattr(n, "fused_ops"), "list"), "s");
        for (size_t f = 0; f < vl_json_count(fo); f++) {
            const char *o = b64dec(c, vl_json_str(&fo->items[f]));
            if (!strcmp(o, "BiasAdd") && f == 0 && nin > 2) {
                const weight *b = const_of(c, in[2], name, "bias");
                gin[2] = init_f(c, fmt(c, "%s#b", name), 1, &b->count, b->f);
            } else if (f == vl_json_count(fo) - 1 && f > 0)
                act = o;
            else
                fail(c, VL_ERR_UNSUPPORTED, "node '%s' (%s): fused op %s", name, op, o);
        }
        const char *go = act ? fmt(c, "%s#mm", name) : name;
        Onnx__NodeProto *g = node(c, "Gemm", go, gin[2] ? 3 : 2, gin);
        if (gattr_b(n, "transpose_a"))
            attr_i(c, g, "transA", 1);
        if (gattr_b(n, "transpose_b"))
            attr_i(c, g, "transB", 1);
        if (act)
            emit_fused_act(c, act, name, go, n, name);
    } else if (!strcmp(op, "AvgPool") || !strcmp(op, "MaxPool")) {
        int64_t ks[4];
        if (gattr_ints(c, n, "ksize", ks, 4) != 4 || in[0]->rank != 4)
            fail(c, VL_ERR_FORMAT, "node '%s' (%s): needs ksize of 4 and a 4-D input", name, op);
        win w;
        graph_window(c, n, name, op, &w);
        int64_t k[2] = {ks[1], ks[2]};
        emit_pool(c, op[0] == 'A' ? "AveragePool" : "MaxPool", name, as_nchw(c, in[0]), k, &w);
        s->nchw = 1;
    } else if (!strcmp(op, "ConcatV2")) {
        const weight *ax = const_of(c, in[nin - 1], name, "axis");
        int r = in[0]->rank, nchw = r == 4 && in[0]->nchw;
        int64_t a = ax->is_int ? ax->i[0] : -1;
        if (a < 0)
            a += r;
        const char *ins[16];
        for (int k = 0; k < nin - 1; k++) {
            if (in[k]->w || in[k]->rank != r)
                fail(c, VL_ERR_UNSUPPORTED, "node '%s' (ConcatV2): constant or different-rank inputs", name);
            ins[k] = nchw ? as_nchw(c, in[k]) : as_tf(c, in[k]);
        }
        attr_i(c, node(c, "Concat", name, nin - 1, ins), "axis", nchw ? nchw_axis(a) : a);
    } else if (!strcmp(op, "Reshape")) {
        const weight *sh = const_of(c, in[1], name, "shape");
        if (!sh->is_int || sh->count > MAXR)
            fail(c, VL_ERR_FORMAT, "node '%s' (Reshape): the shape must be int32", name);
        if (in[0]->w) { /* a constant: reshape it now */
            weight *w = zalloc(c, sizeof *w);
            *w = *in[0]->w;
            w->nd = (int)sh->count;
            int64_t known = 1, neg = -1;
            for (int d = 0; d < w->nd; d++) {
                w->shape[d] = sh->i[d];
                if (sh->i[d] < 0)
                    neg = d;
                else
                    known *= sh->i[d];
            }
            if (neg >= 0 && known > 0)
                w->shape[neg] = in[0]->w->count / known;
            int64_t cnt = 1;
            for (int d = 0; d < w->nd; d++)
                cnt *= w->shape[d];
            if (cnt != w->count)
                fail(c, VL_ERR_SHAPE, "node '%s' (Reshape): %lld values do not fit the shape", name, (long long)w->count);
            s->w = w;
            s->rank = w->nd;
            s->onnx = NULL;
            return;
        }
        int64_t v[MAXR];
        for (int64_t i = 0; i < sh->count; i++)
            v[i] = sh->i[i];
        node2(c, "Reshape", name, as_tf(c, in[0]), init_i64(c, fmt(c, "%s#shape", name), (int)sh->count, v));
        s->rank = (int)sh->count;
        s->nchw = 0;
    } else if (!strcmp(op, "Unpack") && gattr_i(n, "num", 0) == 1) {
        /* unstack into one tensor: a Squeeze of that axis */
        int64_t ax = gattr_i(n, "axis", 0);
        if (ax < 0)
            ax += in[0]->rank;
        s->sq_src = in[0];
        s->sq_axis = ax;
        s->rank = in[0]->rank - 1;
        s->nchw = 0;
        s->onnx = NULL;
    } else if (!strcmp(op, "ExpandDims")) {
        const weight *d = const_of(c, in[1], name, "dim");
        if (!d->is_int || d->count != 1)
            fail(c, VL_ERR_FORMAT, "node '%s' (ExpandDims): dim must be one int32", name);
        int64_t ax = d->i[0] < 0 ? d->i[0] + in[0]->rank + 1 : d->i[0];
        if (in[0]->sq_src && !in[0]->onnx && in[0]->sq_axis == ax) { /* undoes a Squeeze */
            sym *src = in[0]->sq_src;
            node1(c, "Identity", name, src->onnx);
            s->rank = src->rank;
            s->nchw = src->nchw;
            return;
        }
        materialise(c, in[0], c->names[in[0] - c->syms]);
        if (in[0]->w)
            fail(c, VL_ERR_UNSUPPORTED, "node '%s' (ExpandDims) of a constant", name);
        node2(c, "Unsqueeze", name, as_tf(c, in[0]), init_i64(c, fmt(c, "%s#axes", name), 1, &ax));
        s->rank = in[0]->rank + 1;
        s->nchw = 0;
    } else if (!strcmp(op, "ResizeBilinear")) {
        const weight *sz = const_of(c, in[1], name, "size");
        if (!sz->is_int || sz->count != 2 || in[0]->rank != 4 || sz->i[0] < 1 || sz->i[1] < 1)
            fail(c, VL_ERR_FORMAT, "node '%s' (ResizeBilinear): needs a 4-D input and a size of two positive int32", name);
        const char *x = as_nchw(c, in[0]);
        /* sizes = [N, C] of the input (Shape + Slice, folded while planning) ++ [H', W'] */
        const char *shp = fmt(c, "%s#inshape", name), *nc = fmt(c, "%s#nc", name), *sizes = fmt(c, "%s#sizes", name);
        node1(c, "Shape", shp, x);
        int64_t z = 0, two = 2, hw[2] = {sz->i[0], sz->i[1]};
        const char *sl[4] = {shp, init_i64(c, fmt(c, "%s#s0", name), 1, &z), init_i64(c, fmt(c, "%s#s2", name), 1, &two),
                             init_i64(c, fmt(c, "%s#sax", name), 1, &z)};
        node(c, "Slice", nc, 4, sl);
        attr_i(c, node2(c, "Concat", sizes, nc, init_i64(c, fmt(c, "%s#hw", name), 2, hw)), "axis", 0);
        const char *rin[4] = {x, "", "", sizes};
        Onnx__NodeProto *r = node(c, "Resize", name, 4, rin);
        attr_s(c, r, "mode", "linear");
        attr_s(c, r, "coordinate_transformation_mode", gattr_b(n, "align_corners") ? "align_corners"
                                                         : gattr_b(n, "half_pixel_centers") ? "half_pixel"
                                                                                            : "asymmetric");
        s->nchw = 1;
    } else if (!strcmp(op, "Squeeze")) {
        int64_t dims[MAXR];
        int nd = gattr_ints(c, n, "squeeze_dims", dims, MAXR);
        if (nd == 0)
            fail(c, VL_ERR_UNSUPPORTED, "node '%s' (Squeeze) without squeeze_dims", name);
        for (int i = 0; i < nd; i++)
            if (dims[i] < 0)
                dims[i] += in[0]->rank;
        if (nd == 1) { /* pending: an ExpandDims of the same axis cancels it */
            s->sq_src = in[0];
            s->sq_axis = dims[0];
            s->rank = in[0]->rank - 1;
            s->nchw = 0;
            s->onnx = NULL;
            return;
        }
        node2(c, "Squeeze", name, as_tf(c, in[0]), init_i64(c, fmt(c, "%s#axes", name), nd, dims));
        s->rank = in[0]->rank - nd;
        s->nchw = 0;
    } else {
        fail(c, VL_ERR_UNSUPPORTED, "node '%s': op %s is not supported", name, op);
    }
}

static int node_index(const cv *c, const char *name, size_t len)
{
    for (int i = 0; i < c->nitems; i++)
        if (!strncmp(c->names[i], name, len) && !c->names[i][len])
            return i;
    return -1;
}

/* "name" or "name:0" (only first outputs are supported). */
static sym *node_sym(cv *c, const char *ref, const char *user)
{
    const char *colon = strrchr(ref, ':');
    size_t len = colon ? (size_t)(colon - ref) : strlen(ref);
    if (colon && strcmp(colon, ":0"))
        fail(c, VL_ERR_UNSUPPORTED, "node '%s' reads '%s' (only the first output of a node is supported)",
             user ? user : "(output)", ref);
    int ni = node_index(c, ref, len);
    if (ni < 0)
        fail(c, VL_ERR_FORMAT, "node '%s' reads '%s', which is not a node of the graph", user ? user : "(output)", ref);
    sym *s = &c->syms[ni];
    if (s->state == 1)
        fail(c, VL_ERR_FORMAT, "node '%s' depends on itself (a cycle)", c->names[ni]);
    if (s->state == 0) {
        s->state = 1;
        convert_node(c, ni);
        s->state = 2;
    }
    return s;
}

static sym *convert_graph(cv *c, const vl_json *topo, const vl_json *root)
{
    const vl_json *nodes = vl_json_get(topo, "node");
    if (!nodes || nodes->type != VL_JSON_ARRAY || nodes->count == 0)
        fail(c, VL_ERR_FORMAT, "modelTopology.node is empty");
    c->nitems = (int)nodes->count;
    c->items = zalloc(c, sizeof(*c->items) * nodes->count);
    c->names = zalloc(c, sizeof(*c->names) * nodes->count);
    c->syms = zalloc(c, sizeof(sym) * nodes->count);
    for (size_t i = 0; i < nodes->count; i++) {
        c->items[i] = &nodes->items[i];
        c->names[i] = jstr(&nodes->items[i], "name");
        if (!c->names[i])
            fail(c, VL_ERR_FORMAT, "node %zu has no name", i + 1);
    }
    const char *outname = c->o && c->o->tap ? c->o->tap : NULL;
    if (outname && strchr(outname, ',')) {
        /* several taps: 4-D tensors of one height and width, concatenated
         * along the channels (NCHW axis 1) into one output named by the list */
        const char *ins[64];
        int k = 0;
        for (const char *p = outname; *p; k++) {
            const char *e = strchr(p, ',');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            if (k == 64)
                fail(c, VL_ERR_ARG, "--tap: at most 64 names");
            const char *one = fmt(c, "%.*s", (int)l, p);
            int ni = l ? node_index(c, one, l) : -1;
            if (ni < 0)
                fail(c, VL_ERR_ARG, "--tap '%s': no node of that name", one);
            sym *s = node_sym(c, one, NULL);
            materialise(c, s, c->names[ni]);
            if (s->w || !s->onnx || s->rank != 4)
                fail(c, VL_ERR_ARG, "--tap '%s': several taps must each be a 4-D tensor (concatenated along the "
                                    "channels)", one);
            ins[k] = as_nchw(c, s);
            p = e ? e + 1 : p + l;
        }
        sym *res = zalloc(c, sizeof *res);
        res->onnx = outname;
        res->rank = 4;
        res->nchw = 1;
        res->state = 2;
        attr_i(c, node(c, "Concat", outname, k, ins), "axis", 1);
        c->multi_tap = 1;
        return res;
    }
    if (outname) {
        if (node_index(c, outname, strlen(outname)) < 0)
            fail(c, VL_ERR_ARG, "--tap '%s': no node of that name", outname);
    } else {
        /* the signature's first output, else the last node nothing reads */
        const vl_json *outs = vl_json_get(vl_json_get(root, "signature"), "outputs");
        if (outs && outs->type == VL_JSON_OBJECT && outs->count)
            outname = jstr(&outs->items[0], "name");
        if (!outname) {
            for (int i = c->nitems - 1; i >= 0 && !outname; i--) {
                int used = 0;
                const char *op = jstr(c->items[i], "op");
                if (op && !strcmp(op, "Const"))
                    continue;
                for (int j = 0; j < c->nitems && !used; j++) {
                    const vl_json *inp = vl_json_get(c->items[j], "input");
                    for (size_t k = 0; k < vl_json_count(inp) && !used; k++) {
                        const char *r = vl_json_str(&inp->items[k]);
                        size_t l = strlen(c->names[i]);
                        used = r && !strncmp(r, c->names[i], l) && (!r[l] || r[l] == ':');
                    }
                }
                if (!used)
                    outname = c->names[i];
            }
        }
        if (!outname)
            fail(c, VL_ERR_FORMAT, "cannot tell the graph's output");
    }
    return node_sym(c, outname, NULL);
}

/* ---- writing ------------------------------------------------------------------------------- */

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void write_atomic(cv *c, const char *out, const uint8_t *buf, size_t len)
{
    if (vl_write_file_atomic(out, buf, len)) {
        char msg[512]; /* fail() formats into the buffer vl_errmsg() returns */
        snprintf(msg, sizeof msg, "%s", vl_errmsg());
        fail(c, VL_ERR_IO, "%s", msg);
    }
}

static void cleanup(cv *c)
{
    vl_json_free(c->root);
    for (size_t i = 0; i < c->np; i++)
        free(c->ptrs[i]);
    free(c->ptrs);
    free(c);
}

static vl_status run_import(cv *c, const char *in, const char *out, vl_tfjs_info *info)
{
    /* model.json and its folder */
    struct stat st;
    if (stat(in, &st))
        fail(c, VL_ERR_IO, "cannot open: %s", strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        snprintf(c->dir, sizeof c->dir, "%s", in);
        if (strlen(in) + 12 >= sizeof c->json_path)
            fail(c, VL_ERR_ARG, "path too long");
        snprintf(c->json_path, sizeof c->json_path, "%s/model.json", in);
    } else {
        const char *sl = strrchr(in, '/');
        snprintf(c->dir, sizeof c->dir, "%.*s", sl ? (int)(sl - in) : 1, sl ? in : ".");
        if (sl == in)
            snprintf(c->dir, sizeof c->dir, "/");
    }
    size_t len;
    char *text = (char *)slurp(c, c->json_path, &len, "model file");
    if ((c->status = vl_json_parse(text, len, c->json_path, &c->root)))
        longjmp(c->jb, 1);
    const vl_json *topo = vl_json_get(c->root, "modelTopology");
    if (!topo || topo->type != VL_JSON_OBJECT)
        fail(c, VL_ERR_FORMAT, "not a TF.js model (no modelTopology object)");
    load_weights(c, vl_json_get(c->root, "weightsManifest"));
    /* never overwrite an input */
    if (same_file(out, c->json_path))
        fail(c, VL_ERR_ARG, "the output '%s' is the model itself", out);
    const vl_json *man = vl_json_get(c->root, "weightsManifest");
    for (size_t g = 0; g < vl_json_count(man); g++) {
        const vl_json *paths = vl_json_get(&man->items[g], "paths");
        for (size_t p = 0; p < vl_json_count(paths); p++)
            if (same_file(out, fmt(c, "%s/%s", c->dir, vl_json_str(&paths->items[p]))))
                fail(c, VL_ERR_ARG, "the output '%s' is one of the model's weight shards", out);
    }
    int graph = vl_json_get(topo, "node") != NULL;
    sym *res = graph ? convert_graph(c, topo, c->root) : convert_layers(c, topo);
    if (graph && !c->multi_tap)
        materialise(c, res, c->names[res - c->syms]);
    if (!c->in_name)
        fail(c, VL_ERR_FORMAT, "the output does not depend on the model's input");
    if (res->w || !res->onnx)
        fail(c, VL_ERR_UNSUPPORTED, "the output is a constant");
    const char *oname = res->onnx;
    if (c->o && c->o->pool) {
        if (res->rank != 4)
            fail(c, VL_ERR_ARG, "--pool: the output has %d dimensions, not 4", res->rank);
        const char *base = c->o->tap ? c->o->tap : oname;
        const char *p = fmt(c, "%s/pool", base);
        emit_gap(c, p, as_nchw(c, res));
        oname = p;
    } else if (!strcmp(oname, c->in_name)) {
        fail(c, VL_ERR_ARG, "the output is the model's input");
    }

    /* only what the output needs: nodes emitted but then bypassed (a Pad folded
     * into its Conv, a transpose nothing read) are dropped, then unused initializers */
    {
        size_t cap = 1;
        for (int i = 0; i < c->nn; i++)
            cap += c->nodes[i]->n_input;
        const char **need = zalloc(c, sizeof(char *) * cap);
        size_t nneed = 0;
        int keep = 0;
        need[nneed++] = oname;
        char *live = zalloc(c, (size_t)c->nn + 1);
        for (int i = c->nn - 1; i >= 0; i--) {
            Onnx__NodeProto *nd = c->nodes[i];
            for (size_t k = 0; k < nneed && !live[i]; k++)
                live[i] = !strcmp(need[k], nd->output[0]);
            if (!live[i])
                continue;
            for (size_t k = 0; k < nd->n_input; k++)
                if (nd->input[k][0])
                    need[nneed++] = nd->input[k];
        }
        for (int i = 0; i < c->nn; i++)
            if (live[i])
                c->nodes[keep++] = c->nodes[i];
        c->nn = keep;
        int ki = 0;
        c->params = 0;
        for (int i = 0; i < c->ni; i++) {
            int used = 0;
            for (size_t k = 0; k < nneed && !used; k++)
                used = !strcmp(need[k], c->inits[i]->name);
            if (used) {
                c->inits[ki++] = c->inits[i];
                if (c->inits[i]->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
                    c->params += (long long)(c->inits[i]->raw_data.len / sizeof(float));
            }
        }
        c->ni = ki;
    }

    /* the model */
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    g.name = "tfjs";
    g.n_node = (size_t)c->nn;
    g.node = c->nodes;
    g.n_initializer = (size_t)c->ni;
    g.initializer = c->inits;
    Onnx__ValueInfoProto vin = ONNX__VALUE_INFO_PROTO__INIT, vout = ONNX__VALUE_INFO_PROTO__INIT;
    Onnx__TypeProto tin = ONNX__TYPE_PROTO__INIT, tout = ONNX__TYPE_PROTO__INIT;
    Onnx__TypeProto__Tensor ttin = ONNX__TYPE_PROTO__TENSOR__INIT, ttout = ONNX__TYPE_PROTO__TENSOR__INIT;
    Onnx__TensorShapeProto shp = ONNX__TENSOR_SHAPE_PROTO__INIT;
    Onnx__TensorShapeProto__Dimension dims[MAXR], *dimp[MAXR];
    for (int d = 0; d < c->in_nd; d++) {
        onnx__tensor_shape_proto__dimension__init(&dims[d]);
        if (c->in_shape[d] > 0) {
            dims[d].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dims[d].dim_value = c->in_shape[d];
        } else {
            dims[d].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dims[d].dim_param = d == 0 ? "N" : fmt(c, "d%d", d);
        }
        dimp[d] = &dims[d];
    }
    shp.n_dim = (size_t)c->in_nd;
    shp.dim = dimp;
    ttin.has_elem_type = ttout.has_elem_type = 1;
    ttin.elem_type = ttout.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    ttin.shape = &shp;
    tin.value_case = tout.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tin.tensor_type = &ttin;
    tout.tensor_type = &ttout;
    vin.name = (char *)c->in_name;
    vin.type = &tin;
    vout.name = (char *)oname;
    vout.type = &tout;
    Onnx__ValueInfoProto *vinp = &vin, *voutp = &vout;
    g.n_input = g.n_output = 1;
    g.input = &vinp;
    g.output = &voutp;
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    m.has_ir_version = 1;
    m.ir_version = 7;
    m.producer_name = "vidlstm import-tfjs";
    m.producer_version = (char *)vl_version();
    m.graph = &g;
    Onnx__OperatorSetIdProto os = ONNX__OPERATOR_SET_ID_PROTO__INIT, *osp = &os;
    os.domain = "";
    os.has_version = 1;
    os.version = 13;
    m.n_opset_import = 1;
    m.opset_import = &osp;
    /* vidlstm reads its default feature tensor from here (vl_onnx_default_tap) */
    Onnx__StringStringEntryProto meta[2] = {ONNX__STRING_STRING_ENTRY_PROTO__INIT, ONNX__STRING_STRING_ENTRY_PROTO__INIT};
    Onnx__StringStringEntryProto *metap[2] = {&meta[0], &meta[1]};
    meta[0].key = "vidlstm.feature";
    meta[0].value = (char *)oname;
    meta[1].key = "vidlstm.source";
    meta[1].value = fmt(c, "TF.js %s model %s", graph ? "graph" : "layers", c->json_path);
    m.n_metadata_props = 2;
    m.metadata_props = metap;
    size_t plen = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = zalloc(c, plen);
    onnx__model_proto__pack(&m, buf);

    /* it must load in our runner before it is written */
    vl_onnx *chk;
    vl_status lst = vl_onnx_load_memory(buf, plen, out, &chk);
    if (lst)
        fail(c, lst, "the converted model does not load: %s", vl_errmsg());
    vl_onnx_free(chk);
    write_atomic(c, out, buf, plen);
    if (info) {
        memset(info, 0, sizeof *info);
        snprintf(info->format, sizeof info->format, "%s", graph ? "graph" : "layers");
        snprintf(info->input, sizeof info->input, "%s", c->in_name);
        snprintf(info->output, sizeof info->output, "%s", oname);
        info->nodes = c->nn;
        info->weights = c->ni;
        info->params = c->params;
    }
    return VL_OK;
}

vl_status vl_tfjs_import(const char *in, const char *out, const vl_tfjs_opts *opts, vl_tfjs_info *info)
{
    if (!in || !out)
        return vl_seterr(VL_ERR_ARG, "vl_tfjs_import: no input or output path");
    cv *c = calloc(1, sizeof *c);
    if (!c)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    c->o = opts;
    snprintf(c->json_path, sizeof c->json_path, "%s", in);
    if (setjmp(c->jb)) {
        vl_status st = c->status;
        cleanup(c);
        return st ? st : VL_ERR_FORMAT;
    }
    vl_status st = run_import(c, in, out, info);
    cleanup(c);
    return st;
}
