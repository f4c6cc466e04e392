/* Per-operator checks of the graph runner's oneDNN lowerings.
 *
 * Every operator whose table entry (src/backbone/onnx/ops.c) has a oneDNN
 * lowering is run in small graphs built in memory, once on the reference
 * kernels (ops_*.c) and once with oneDNN, on shapes that reach the edge cases
 * of both: padding (asymmetric, ceil mode, counted or not), strides,
 * dilation, groups and depthwise, channel counts that are not a multiple of
 * oneDNN's 16-channel blocks, broadcasting in both operand orders, and the
 * fusions planning makes (activation, residual sum, 1x1 + depthwise).
 *
 * Compared by normalised error max|a - b| / max|ref|; the tolerance is
 * TOL_FP32 (two float32 implementations summing in different orders, plus
 * Winograd's transform rounding), TOL_BF16 in bf16 mode where this CPU has
 * it. The oneDNN side must really have run the node (or absorbed it into the
 * Conv before it): a lowering that silently fell back would compare the
 * reference with itself.
 *
 * Independently of oneDNN, each graph's reference output is also compared with
 * a direct evaluation written here (plain loops: convolution by definition, no
 * im2col or GEMM), so a build without oneDNN (the OpenBLAS suite) checks the
 * reference kernels on the same edge cases. Operators without a lowering are
 * checked by test_onnx_conformance (ONNX's node tests) and test_onnx. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/onnx/graph.h"
#include "check.h"
#include "onnx_mk.h"
#include "vidlstm.h"

#define TOL_FP32 1e-5
#define TOL_BF16 3e-2
#define TOL_DIRECT 1e-5

/* ---- graph building (onnx_mk.h plus scalar attributes) ----------------------------- */

static void add_attr(Onnx__NodeProto *n, Onnx__AttributeProto *a)
{
    n->attribute = mk_retrack(n->attribute, realloc(n->attribute, sizeof(void *) * (n->n_attribute + 1)));
    n->attribute[n->n_attribute++] = a;
}

static void attr_i(Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = mk_track(calloc(1, sizeof *a));
    onnx__attribute_proto__init(a);
    a->name = mk_track(strdup(name));
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_type = 1;
    a->i = v;
    a->has_i = 1;
    add_attr(n, a);
}

static void attr_is(Onnx__NodeProto *n, const char *name, int cnt, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    int64_t v[4] = {a0, a1, a2, a3};
    mk_attr_ints(n, name, cnt, v);
}

static const int64_t scalar_dims[1] = {1}; /* (mk_init copies 0 of them: a scalar) */

static uint32_t rng = 12345;
static float frand(void) /* in [-1, 1) */
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

/* An initializer of random values (scaled), returned for the direct evaluation. */
static int rand_away; /* rand_init: keep values at least 0.5 away from 0 (divisors) */
static float *rand_init(const char *name, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3, float scale)
{
    int64_t d[4] = {d0, d1, d2, d3}, c = 1;
    for (int i = 0; i < nd; i++) c *= d[i];
    float *v = mk_track(malloc(sizeof(float) * (size_t)c));
    for (int64_t i = 0; i < c; i++) {
        v[i] = scale * frand();
        if (rand_away) v[i] += v[i] < 0 ? -0.5f : 0.5f;
    }
    mk_init(name, nd, d, v);
    return v;
}

static Onnx__NodeProto *node2(const char *op, const char *a, const char *b, const char *out)
{
    const char *in[2] = {a, b};
    return mk_node(op, b ? 2 : 1, in, out);
}

/* ---- direct evaluation ----------------------------------------------------------------- */

typedef struct {
    int64_t n, c, h, w;
    float *v;
} t4;

static t4 t4_new(int64_t n, int64_t c, int64_t h, int64_t w)
{
    t4 t = {n, c, h, w, mk_track(calloc((size_t)(n * c * h * w), sizeof(float)))};
    return t;
}
#define AT(t, a, b, y, x) (t).v[(((a) * (t).c + (b)) * (t).h + (y)) * (t).w + (x)]

typedef struct {
    int64_t kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, group;
    int ceil, incl;
} geo;

static int64_t out_len(int64_t L, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1, int ceil_mode)
{
    int64_t ek = d * (k - 1) + 1, num = L + p0 + p1 - ek;
    int64_t o = (ceil_mode ? (num + s - 1) / s : num / s) + 1;
    if (ceil_mode && (o - 1) * s >= L + p0) o--; /* the last window must start inside the input or left padding */
    return o;
}

static t4 d_conv(t4 x, const float *W, const float *B, int64_t co, geo g)
{
    int64_t ho = out_len(x.h, g.kh, g.sh, g.dh, g.pt, g.pb, 0), wo = out_len(x.w, g.kw, g.sw, g.dw, g.pl, g.pr, 0);
    t4 y = t4_new(x.n, co, ho, wo);
    int64_t cig = x.c / g.group, cog = co / g.group;
    for (int64_t n = 0; n < x.n; n++)
        for (int64_t o = 0; o < co; o++)
            for (int64_t i = 0; i < ho; i++)
                for (int64_t j = 0; j < wo; j++) {
                    double s = B ? B[o] : 0.0;
                    int64_t gi = o / cog;
                    for (int64_t c = 0; c < cig; c++)
                        for (int64_t a = 0; a < g.kh; a++)
                            for (int64_t b = 0; b < g.kw; b++) {
                                int64_t yy = i * g.sh - g.pt + a * g.dh, xx = j * g.sw - g.pl + b * g.dw;
                                if (yy >= 0 && yy < x.h && xx >= 0 && xx < x.w)
                                    s += (double)W[((o * cig + c) * g.kh + a) * g.kw + b] *
                                         AT(x, n, gi * cig + c, yy, xx);
                            }
                    AT(y, n, o, i, j) = (float)s;
                }
    return y;
}

static t4 d_pool(t4 x, int maxp, geo g)
{
    int64_t ho = out_len(x.h, g.kh, g.sh, 1, g.pt, g.pb, g.ceil), wo = out_len(x.w, g.kw, g.sw, 1, g.pl, g.pr, g.ceil);
    t4 y = t4_new(x.n, x.c, ho, wo);
    for (int64_t n = 0; n < x.n; n++)
        for (int64_t c = 0; c < x.c; c++)
            for (int64_t i = 0; i < ho; i++)
                for (int64_t j = 0; j < wo; j++) {
                    double s = 0.0, mx = -INFINITY;
                    int64_t cnt = 0, cnt_pad = 0;
                    for (int64_t a = 0; a < g.kh; a++)
                        for (int64_t b = 0; b < g.kw; b++) {
                            int64_t yy = i * g.sh - g.pt + a, xx = j * g.sw - g.pl + b;
                            if (yy < x.h + g.pb && xx < x.w + g.pr) cnt_pad++; /* inside input + pads */
                            if (yy < 0 || yy >= x.h || xx < 0 || xx >= x.w) continue;
                            double v = AT(x, n, c, yy, xx);
                            s += v;
                            mx = v > mx ? v : mx;
                            cnt++;
                        }
                    AT(y, n, c, i, j) = (float)(maxp ? mx : s / (double)(g.incl ? cnt_pad : cnt));
                }
    return y;
}

static t4 d_gap(t4 x)
{
    t4 y = t4_new(x.n, x.c, 1, 1);
    for (int64_t n = 0; n < x.n; n++)
        for (int64_t c = 0; c < x.c; c++) {
            double s = 0.0;
            for (int64_t i = 0; i < x.h * x.w; i++) s += x.v[(n * x.c + c) * x.h * x.w + i];
            AT(y, n, c, 0, 0) = (float)(s / (double)(x.h * x.w));
        }
    return y;
}

enum { E_RELU, E_CLIP, E_SIGMOID };
static t4 d_elt(t4 x, int kind, float lo, float hi)
{
    t4 y = t4_new(x.n, x.c, x.h, x.w);
    for (int64_t i = 0; i < x.n * x.c * x.h * x.w; i++) {
        float v = x.v[i];
        y.v[i] = kind == E_RELU ? (v > 0 ? v : 0) : kind == E_CLIP ? (v < lo ? lo : v > hi ? hi : v) : 1.0f / (1.0f + expf(-v));
    }
    return y;
}

/* a OP b, b broadcast (dims of 1), or a broadcast when swap (b is the full operand) */
static t4 d_bin(t4 a, t4 b, char op)
{
    t4 f = a.n * a.c * a.h * a.w >= b.n * b.c * b.h * b.w ? a : b;
    t4 y = t4_new(f.n, f.c, f.h, f.w);
    for (int64_t n = 0; n < y.n; n++)
        for (int64_t c = 0; c < y.c; c++)
            for (int64_t i = 0; i < y.h; i++)
                for (int64_t j = 0; j < y.w; j++) {
                    float u = AT(a, a.n > 1 ? n : 0, a.c > 1 ? c : 0, a.h > 1 ? i : 0, a.w > 1 ? j : 0);
                    float v = AT(b, b.n > 1 ? n : 0, b.c > 1 ? c : 0, b.h > 1 ? i : 0, b.w > 1 ? j : 0);
                    AT(y, n, c, i, j) = op == '+' ? u + v : op == '-' ? u - v : op == '*' ? u * v : u / v;
                }
    return y;
}

static t4 t4_wrap(float *v, int64_t n, int64_t c, int64_t h, int64_t w)
{
    t4 t = {n, c, h, w, v};
    return t;
}

/* ---- running and comparing --------------------------------------------------------------- */

static double norm_err(const float *a, const float *ref, size_t n)
{
    double mx = 0.0, d = 0.0;
    for (size_t i = 0; i < n; i++) {
        mx = fabs(ref[i]) > mx ? fabs(ref[i]) : mx;
        double e = fabs((double)a[i] - ref[i]);
        d = e > d || e != e ? e : d;
    }
    return mx > 0 ? d / mx : d;
}

static int covered[OP_COUNT]; /* operators checked on oneDNN */

static int node_of(const vl_onnx *m, const char *out)
{
    int t = find_tensor(m, out);
    for (int j = 0; t >= 0 && j < m->nn; j++)
        if (!m->N[j].removed && m->N[j].out[0] == t) return j;
    return -1;
}

/* Loads the graph built so far three times (reference, oneDNN fp32, oneDNN
 * bf16), runs input x of shape xs on each and compares them with `want`
 * (the direct evaluation). `lowered` lists the nodes (by output name) that
 * must run on oneDNN or be absorbed into the Conv before them. */
static void run_case(const char *name, const int64_t *xs, const float *x, t4 want, const char *const *lowered)
{
    uint8_t *buf;
    int64_t decl[4] = {-1, xs[1], xs[2], xs[3]};
    size_t len = mk_model("x", 4, decl, "y", &buf);
    vl_onnx *m[3] = {NULL, NULL, NULL};
    const float *o[3] = {NULL, NULL, NULL};
    int64_t os[3][VL_ONNX_MAXDIM];
    int ond[3] = {0, 0, 0};
    int dn = vl_dn_available(), bf16 = vl_dn_bf16_native();
    for (int k = 0; k < (!dn ? 1 : bf16 ? 3 : 2); k++) {
        vl_status st = vl_onnx_load_memory(buf, len, name, &m[k]);
        CHECK(st == VL_OK, "%s: load: %s", name, vl_errmsg());
        if (st) goto done;
        m[k]->no_dnnl = k == 0;
        if (k == 2) vl_onnx_set_precision(m[k], VL_PREC_BF16);
        st = vl_onnx_run(m[k], x, 4, xs, NULL, &o[k], &ond[k], os[k]);
        CHECK(st == VL_OK, "%s (%s): run: %s", name, k ? "oneDNN" : "reference", vl_errmsg());
        if (st) goto done;
    }
    size_t cnt = (size_t)(want.n * want.c * want.h * want.w);
    CHECK(ond[0] == 4 && os[0][0] == want.n && os[0][1] == want.c && os[0][2] == want.h && os[0][3] == want.w,
          "%s: output shape [%lld %lld %lld %lld], want [%lld %lld %lld %lld]", name, (long long)os[0][0],
          (long long)os[0][1], (long long)os[0][2], (long long)os[0][3], (long long)want.n, (long long)want.c,
          (long long)want.h, (long long)want.w);
    if (ond[0] != 4 || os[0][0] != want.n || os[0][1] != want.c || os[0][2] != want.h || os[0][3] != want.w)
        goto done;
    double ed = norm_err(o[0], want.v, cnt), e1 = dn ? norm_err(o[1], o[0], cnt) : 0.0;
    CHECK(ed <= TOL_DIRECT, "%s: reference kernels vs direct evaluation: normalised error %.3g > %g", name, ed, TOL_DIRECT);
    CHECK(e1 <= TOL_FP32, "%s: oneDNN fp32 vs reference: normalised error %.3g > %g", name, e1, TOL_FP32);
    double e2 = bf16 ? norm_err(o[2], o[0], cnt) : 0.0;
    CHECK(e2 <= TOL_BF16, "%s: oneDNN bf16 vs reference: normalised error %.3g > %g", name, e2, TOL_BF16);
    for (int j = 0; j < m[0]->nn; j++)
        CHECK(!vl_dn_on(m[0], j), "%s: the reference run used oneDNN", name);
    if (dn) {
        for (int i = 0; lowered[i]; i++) {
            int j = node_of(m[1], lowered[i]);
            int ok = j >= 0 && (vl_dn_on(m[1], j) || !m[1]->N[j].live);
            CHECK(ok, "%s: node '%s' did not run on oneDNN", name, lowered[i]);
            if (ok) covered[m[1]->N[j].op] = 1;
        }
    }
    printf("  %-38s direct %.1e", name, ed);
    if (dn) printf("  oneDNN fp32 %.1e", e1);
    if (bf16) printf("  bf16 %.1e", e2);
    printf("\n");
done:
    for (int k = 0; k < 3; k++) vl_onnx_free(m[k]);
    mk_free_all();
}

/* The graph built so far, loaded with oneDNN in precision prec and run once
 * on x (planned for its shape), to look at what planning chose; NULL (a
 * failed check) on error. */
static vl_onnx *planned(const char *name, const int64_t *xs, const float *x, vl_precision prec)
{
    uint8_t *buf;
    int64_t decl[4] = {-1, xs[1], xs[2], xs[3]};
    size_t len = mk_model("x", 4, decl, "y", &buf);
    vl_onnx *m = NULL;
    const float *o = NULL;
    int ond = 0;
    int64_t os[VL_ONNX_MAXDIM];
    if (vl_onnx_load_memory(buf, len, name, &m) != VL_OK || (prec != VL_PREC_FP32 && vl_onnx_set_precision(m, prec)) ||
        vl_onnx_run(m, x, 4, xs, NULL, &o, &ond, os) != VL_OK) {
        CHECK(0, "%s: %s", name, vl_errmsg());
        vl_onnx_free(m);
        return NULL;
    }
    return m;
}

static float *rand_input(const int64_t *xs)
{
    size_t c = (size_t)(xs[0] * xs[1] * xs[2] * xs[3]);
    float *x = mk_track(malloc(sizeof(float) * c));
    for (size_t i = 0; i < c; i++) x[i] = frand();
    return x;
}

/* ---- the cases -------------------------------------------------------------------------------- */

/* x -> Conv (geometry g, optional bias, optional fused Relu/Clip) -> y */
static void conv_case(const char *name, int64_t n, int64_t ci, int64_t hw, int64_t co, geo g, int bias, int act)
{
    int64_t xs[4] = {n, ci, hw, hw + 1};
    float *x = rand_input(xs);
    float *W = rand_init("W", 4, co, ci / g.group, g.kh, g.kw, 0.3f);
    float *B = bias ? rand_init("B", 1, co, 1, 1, 1, 0.5f) : NULL;
    Onnx__NodeProto *c = node2("Conv", "x", "W", act ? "c" : "y");
    if (bias) {
        c->input = mk_retrack(c->input, realloc(c->input, sizeof(char *) * 3));
        c->input[2] = mk_track(strdup("B"));
        c->n_input = 3;
    }
    attr_is(c, "kernel_shape", 2, g.kh, g.kw, 0, 0);
    attr_is(c, "strides", 2, g.sh, g.sw, 0, 0);
    attr_is(c, "dilations", 2, g.dh, g.dw, 0, 0);
    attr_is(c, "pads", 4, g.pt, g.pl, g.pb, g.pr);
    attr_i(c, "group", g.group);
    float lo = -0.25f, hi = 0.5f;
    if (act == E_RELU + 1) node2("Relu", "c", NULL, "y");
    if (act == E_CLIP + 1) {
        mk_init("lo", 0, scalar_dims, &lo);
        mk_init("hi", 0, scalar_dims, &hi);
        const char *in[3] = {"c", "lo", "hi"};
        mk_node("Clip", 3, in, "y");
    }
    t4 want = d_conv(t4_wrap(x, xs[0], xs[1], xs[2], xs[3]), W, B, co, g);
    if (act) want = d_elt(want, act - 1, lo, hi);
    const char *const low[] = {"y", NULL}; /* a Relu/Clip is folded into the Conv at load time */
    run_case(name, xs, x, want, low);
}

static const geo G3 = {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};

static void conv_cases(void)
{
    geo g = G3;
    conv_case("conv 3x3 pad 1 (Winograd shape)", 2, 16, 12, 32, g, 1, 0);
    conv_case("conv 3x3 no bias, 3 input channels", 1, 3, 11, 16, g, 0, 0);
    g.sh = g.sw = 2, g.pt = 1, g.pl = 0, g.pb = 0, g.pr = 1;
    conv_case("conv 3x3 stride 2, asymmetric pads", 2, 16, 13, 16, g, 1, 0);
    g = G3, g.kh = 5, g.kw = 3, g.sh = 2, g.sw = 1, g.pt = 2, g.pl = 1, g.pb = 1, g.pr = 0;
    conv_case("conv 5x3 mixed strides and pads", 1, 8, 10, 24, g, 1, 0);
    g = G3, g.dh = g.dw = 2, g.pt = g.pl = g.pb = g.pr = 2;
    conv_case("conv 3x3 dilation 2", 1, 16, 12, 16, g, 1, 0);
    g = G3, g.kh = g.kw = 1, g.pt = g.pl = g.pb = g.pr = 0;
    conv_case("conv 1x1, 24 channels (not 16k)", 2, 24, 7, 24, g, 1, 0);
    g = G3, g.group = 2;
    conv_case("conv grouped 2x16 channels", 1, 32, 9, 32, g, 1, 0);
    g.group = 4;
    conv_case("conv grouped 4x8 channels (nChw8c)", 1, 32, 9, 32, g, 1, 0);
    g.group = 3;
    conv_case("conv grouped 3x5 channels (any)", 1, 15, 9, 15, g, 1, 0);
    g = G3, g.group = 16;
    conv_case("conv depthwise 3x3", 2, 16, 10, 16, g, 1, 0);
    g.sh = g.sw = 2;
    conv_case("conv depthwise 3x3 stride 2", 1, 32, 11, 32, g, 1, 0);
    g.group = 24, g.sh = g.sw = 1;
    conv_case("conv depthwise 24 channels", 1, 24, 8, 24, g, 1, 0);
    g = G3;
    conv_case("conv + Relu (fused)", 1, 16, 8, 16, g, 1, E_RELU + 1);
    g.sh = g.sw = 2;
    conv_case("conv stride 2 + Clip (fused)", 1, 16, 9, 32, g, 1, E_CLIP + 1);
}

/* c0 = Conv(x); y = [Relu](Conv(c0) + c0): the residual sum post-op, in place. */
static void residual_case(const char *name, int relu)
{
    int64_t xs[4] = {2, 16, 9, 9};
    float *x = rand_input(xs);
    float *W0 = rand_init("W0", 4, 16, 16, 3, 3, 0.2f), *W1 = rand_init("W1", 4, 16, 16, 1, 1, 0.3f);
    float *B0 = rand_init("B0", 1, 16, 1, 1, 1, 0.5f);
    const char *i0[3] = {"x", "W0", "B0"};
    Onnx__NodeProto *c0 = mk_node("Conv", 3, i0, "c0");
    attr_is(c0, "pads", 4, 1, 1, 1, 1);
    node2("Conv", "c0", "W1", "c1");
    node2("Add", "c1", "c0", relu ? "s" : "y");
    if (relu) node2("Relu", "s", NULL, "y");
    geo g = G3, g1 = G3;
    g1.kh = g1.kw = 1, g1.pt = g1.pl = g1.pb = g1.pr = 0;
    t4 a = d_conv(t4_wrap(x, 2, 16, 9, 9), W0, B0, 16, g);
    t4 want = d_bin(d_conv(a, W1, NULL, 16, g1), a, '+');
    if (relu) want = d_elt(want, E_RELU, 0, 0);
    const char *const low[] = {"c0", "c1", relu ? "s" : "y", relu ? "y" : NULL, NULL};
    run_case(name, xs, x, want, low);
}

/* 1x1 Conv whose only reader is a 3x3 depthwise Conv: oneDNN's dw post-op. */
static void dw_fused_case(int stride)
{
    int64_t xs[4] = {1, 16, 10, 10};
    float *x = rand_input(xs);
    float *W0 = rand_init("W0", 4, 32, 16, 1, 1, 0.3f), *W1 = rand_init("W1", 4, 32, 1, 3, 3, 0.3f);
    float *B1 = rand_init("B1", 1, 32, 1, 1, 1, 0.5f);
    node2("Conv", "x", "W0", "e");
    const char *i1[3] = {"e", "W1", "B1"};
    Onnx__NodeProto *d = mk_node("Conv", 3, i1, "y");
    attr_i(d, "group", 32);
    attr_is(d, "pads", 4, 1, 1, 1, 1);
    attr_is(d, "strides", 2, stride, stride, 0, 0);
    geo g0 = G3, g1 = G3;
    g0.kh = g0.kw = 1, g0.pt = g0.pl = g0.pb = g0.pr = 0;
    g1.group = 32, g1.sh = g1.sw = stride;
    t4 want = d_conv(d_conv(t4_wrap(x, 1, 16, 10, 10), W0, NULL, 32, g0), W1, B1, 32, g1);
    const char *const low[] = {"e", "y", NULL};
    run_case(stride == 1 ? "conv 1x1 + depthwise (fused)" : "conv 1x1 + depthwise stride 2 (fused)", xs, x, want, low);
}

/* x -> Conv (16 ch) -> pool -> y */
static void pool_case(const char *name, const char *op, int64_t ch, int64_t h, int64_t w, geo g)
{
    int64_t xs[4] = {2, 8, h, w};
    float *x = rand_input(xs);
    float *W = rand_init("W", 4, ch, 8, 1, 1, 0.4f);
    node2("Conv", "x", "W", "c");
    Onnx__NodeProto *p = node2(op, "c", NULL, "y");
    geo g1 = G3;
    g1.kh = g1.kw = 1, g1.pt = g1.pl = g1.pb = g1.pr = 0;
    t4 c = d_conv(t4_wrap(x, 2, 8, h, w), W, NULL, ch, g1), want;
    if (!strcmp(op, "GlobalAveragePool")) {
        want = d_gap(c);
    } else {
        attr_is(p, "kernel_shape", 2, g.kh, g.kw, 0, 0);
        attr_is(p, "strides", 2, g.sh, g.sw, 0, 0);
        attr_is(p, "pads", 4, g.pt, g.pl, g.pb, g.pr);
        if (g.ceil) attr_i(p, "ceil_mode", 1);
        if (g.incl) attr_i(p, "count_include_pad", 1);
        want = d_pool(c, !strcmp(op, "MaxPool"), g);
    }
    const char *const low[] = {"c", "y", NULL};
    run_case(name, xs, x, want, low);
}

static void pool_cases(void)
{
    geo g = {3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    pool_case("MaxPool 3x3 stride 2 pad 1", "MaxPool", 16, 12, 12, g);
    g.pt = g.pl = g.pb = g.pr = 0, g.ceil = 1;
    pool_case("MaxPool 3x3 stride 2 ceil_mode", "MaxPool", 24, 12, 13, g);
    g = (geo){2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 1, 0, 0};
    pool_case("MaxPool 2x2 stride 2, odd size", "MaxPool", 16, 9, 11, g);
    g = (geo){3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    pool_case("AveragePool 3x3 pad 1 (exclude pad)", "AveragePool", 16, 8, 8, g);
    g.incl = 1;
    pool_case("AveragePool 3x3 pad 1 (include pad)", "AveragePool", 16, 8, 8, g);
    g = (geo){3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 1, 1, 0};
    pool_case("AveragePool ceil_mode (exclude pad)", "AveragePool", 32, 10, 10, g);
    pool_case("GlobalAveragePool", "GlobalAveragePool", 16, 7, 9, g);
    pool_case("GlobalAveragePool 24 channels", "GlobalAveragePool", 24, 5, 5, g);
}

/* x -> Conv -> c; y = elt(c); c also feeds an Identity so the activation is not fused into the Conv. */
static void elt_case(const char *name, const char *op, int kind, int64_t ch)
{
    int64_t xs[4] = {2, 8, 7, 9};
    float *x = rand_input(xs);
    float *W = rand_init("W", 4, ch, 8, 3, 3, 0.4f);
    Onnx__NodeProto *c = node2("Conv", "x", "W", "c");
    attr_is(c, "pads", 4, 1, 1, 1, 1);
    node2("Identity", "c", NULL, "side");
    float lo = -0.3f, hi = 0.4f;
    if (kind == E_CLIP) {
        mk_init("lo", 0, scalar_dims, &lo);
        mk_init("hi", 0, scalar_dims, &hi);
        const char *in[3] = {"c", "lo", "hi"};
        mk_node(op, 3, in, "y");
    } else {
        node2(op, "c", NULL, "y");
    }
    t4 want = d_elt(d_conv(t4_wrap(x, 2, 8, 7, 9), W, NULL, ch, G3), kind, lo, hi);
    const char *const low[] = {"c", "y", NULL};
    run_case(name, xs, x, want, low);
}

/* x -> Conv -> c; y = c OP b or b OP c, b a constant broadcast as [bn, bc, bh, bw]
 * (or a second Conv's output when bc < 0). */
static void bin_case(const char *name, const char *op, char sym, int swap, int64_t bn, int64_t bc, int64_t bh, int64_t bw)
{
    int64_t xs[4] = {2, 8, 6, 7};
    float *x = rand_input(xs);
    float *W = rand_init("W", 4, 16, 8, 1, 1, 0.4f);
    node2("Conv", "x", "W", "c");
    node2("Identity", "c", NULL, "side"); /* keeps an Add from becoming the Conv's sum post-op */
    geo g1 = G3;
    g1.kh = g1.kw = 1, g1.pt = g1.pl = g1.pb = g1.pr = 0;
    t4 c = d_conv(t4_wrap(x, 2, 8, 6, 7), W, NULL, 16, g1), b;
    if (bc < 0) {
        float *W2 = rand_init("W2", 4, 16, 8, 1, 1, 0.4f);
        node2("Conv", "x", "W2", "b");
        node2("Identity", "b", NULL, "side2"); /* the same for the second Conv */
        b = d_conv(t4_wrap(x, 2, 8, 6, 7), W2, NULL, 16, g1);
    } else {
        rand_away = sym == '/';
        float *v = rand_init("b", 4, bn, bc, bh, bw, 1.0f);
        rand_away = 0;
        b = t4_wrap(v, bn, bc, bh, bw);
    }
    node2(op, swap ? "b" : "c", swap ? "c" : "b", "y");
    t4 want = swap ? d_bin(b, c, sym) : d_bin(c, b, sym);
    const char *const low[] = {"c", "y", NULL};
    run_case(name, xs, x, want, low);
}

/* Squeeze-and-excitation: y = Sigmoid(GAP(c)) * c (a broadcast [N,C,1,1] first operand). */
static void se_case(void)
{
    int64_t xs[4] = {2, 8, 6, 6};
    float *x = rand_input(xs);
    float *W = rand_init("W", 4, 32, 8, 3, 3, 0.4f);
    Onnx__NodeProto *c = node2("Conv", "x", "W", "c");
    attr_is(c, "pads", 4, 1, 1, 1, 1);
    node2("GlobalAveragePool", "c", NULL, "g");
    node2("Sigmoid", "g", NULL, "s");
    node2("Mul", "s", "c", "y");
    t4 cc = d_conv(t4_wrap(x, 2, 8, 6, 6), W, NULL, 32, G3);
    t4 want = d_bin(d_elt(d_gap(cc), E_SIGMOID, 0, 0), cc, '*');
    const char *const low[] = {"c", "g", "s", "y", NULL};
    run_case("SE block: GAP, Sigmoid, Mul", xs, x, want, low);
}

static t4 d_concat(t4 a, t4 b)
{
    t4 y = t4_new(a.n, a.c + b.c, a.h, a.w);
    for (int64_t n = 0; n < y.n; n++)
        for (int64_t c = 0; c < y.c; c++)
            for (int64_t i = 0; i < y.h; i++)
                for (int64_t j = 0; j < y.w; j++)
                    AT(y, n, c, i, j) = c < a.c ? AT(a, n, c, i, j) : AT(b, n, c - a.c, i, j);
    return y;
}

/* Inception-style branches: Conv (ca channels, 1x1) and Conv (cb, 3x3) ->
 * Concat on the channels -> MaxPool 3x3 stride 1 (oneDNN reads the blocked
 * concatenation), or -> HardSigmoid (a portable kernel: the Concat must then
 * stay portable too, `lowered` 0). */
static void concat_case(const char *name, int64_t ca, int64_t cb, int lowered)
{
    int64_t xs[4] = {2, 8, 9, 10};
    float *x = rand_input(xs);
    float *Wa = rand_init("Wa", 4, ca, 8, 1, 1, 0.4f), *Wb = rand_init("Wb", 4, cb, 8, 3, 3, 0.3f);
    node2("Conv", "x", "Wa", "a");
    Onnx__NodeProto *cbn = node2("Conv", "x", "Wb", "b");
    attr_is(cbn, "pads", 4, 1, 1, 1, 1);
    const char *in[2] = {"a", "b"};
    Onnx__NodeProto *cc = mk_node("Concat", 2, in, "c");
    attr_i(cc, "axis", 1);
    geo g1 = G3, gp = {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    g1.kh = g1.kw = 1, g1.pt = g1.pl = g1.pb = g1.pr = 0;
    t4 c = d_concat(d_conv(t4_wrap(x, 2, 8, 9, 10), Wa, NULL, ca, g1), d_conv(t4_wrap(x, 2, 8, 9, 10), Wb, NULL, cb, G3));
    t4 want;
    if (lowered) {
        Onnx__NodeProto *p = node2("MaxPool", "c", NULL, "y");
        attr_is(p, "kernel_shape", 2, 3, 3, 0, 0);
        attr_is(p, "pads", 4, 1, 1, 1, 1);
        want = d_pool(c, 1, gp);
    } else {
        node2("HardSigmoid", "c", NULL, "y");
        want = t4_new(c.n, c.c, c.h, c.w);
        for (int64_t i = 0; i < c.n * c.c * c.h * c.w; i++) {
            float v = 0.2f * c.v[i] + 0.5f;
            want.v[i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
    }
    if (vl_dn_available()) { /* whether the Concat ran on oneDNN, as intended */
        vl_onnx *m = planned(name, xs, x, VL_PREC_FP32);
        int j = m ? node_of(m, "c") : -1;
        CHECK(j >= 0 && vl_dn_on(m, j) == lowered, "%s: the Concat %s on oneDNN", name, lowered ? "did not run" : "ran");
        vl_onnx_free(m);
    }
    const char *const low[] = {"a", "b", lowered ? "c" : NULL, lowered ? "y" : NULL, NULL};
    run_case(name, xs, x, want, low);
}

static t4 d_pad(t4 x, int64_t pt, int64_t pl, int64_t pb, int64_t pr)
{
    t4 y = t4_new(x.n, x.c, x.h + pt + pb, x.w + pl + pr);
    memset(y.v, 0, sizeof(float) * (size_t)(y.n * y.c * y.h * y.w));
    for (int64_t n = 0; n < x.n; n++)
        for (int64_t c = 0; c < x.c; c++)
            for (int64_t i = 0; i < x.h; i++)
                for (int64_t j = 0; j < x.w; j++) AT(y, n, c, i + pt, j + pl) = AT(x, n, c, i, j);
    return y;
}

/* Conv -> c; Pad(c) with zeros (asymmetric, spatial) -> p; then a 3x3
 * AveragePool (kind 0) or Conv (1), into which the padding folds at load
 * (pool: counting the zeros, count_include_pad), or a MaxPool (2) or an
 * AveragePool with ceil_mode (3), which keep their Pad. */
static void pad_fold_case(const char *name, int kind)
{
    int64_t xs[4] = {2, 8, 7, 9};
    float *x = rand_input(xs);
    float *W = rand_init("W", 4, 16, 8, 1, 1, 0.4f), *W2 = rand_init("W2", 4, 16, 16, 3, 3, 0.2f);
    node2("Conv", "x", "W", "c");
    static const int64_t pv[8] = {0, 0, 1, 2, 0, 0, 2, 1}, pd[1] = {8};
    mk_init_i64("pads", 1, pd, pv);
    const char *pin[2] = {"c", "pads"};
    mk_node("Pad", 2, pin, "p");
    geo g1 = G3, g3 = {3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0};
    g1.kh = g1.kw = 1, g1.pt = g1.pl = g1.pb = g1.pr = 0;
    t4 padded = d_pad(d_conv(t4_wrap(x, 2, 8, 7, 9), W, NULL, 16, g1), 1, 2, 2, 1), want;
    if (kind == 1) {
        node2("Conv", "p", "W2", "y");
        want = d_conv(padded, W2, NULL, 16, g3);
    } else {
        Onnx__NodeProto *q = node2(kind == 2 ? "MaxPool" : "AveragePool", "p", NULL, "y");
        attr_is(q, "kernel_shape", 2, 3, 3, 0, 0);
        if (kind == 3) {
            attr_is(q, "strides", 2, 2, 2, 0, 0);
            attr_i(q, "ceil_mode", 1);
            g3.sh = g3.sw = 2, g3.ceil = 1;
        }
        want = d_pool(padded, kind == 2, g3);
    }
    int fold = kind <= 1;
    {
        uint8_t *buf;
        int64_t decl[4] = {-1, xs[1], xs[2], xs[3]};
        size_t len = mk_model("x", 4, decl, "y", &buf);
        vl_onnx *m = NULL;
        if (vl_onnx_load_memory(buf, len, name, &m) == VL_OK) {
            int j = node_of(m, "y"), c = find_tensor(m, "c");
            CHECK(j >= 0 && (m->N[j].in[0] == c) == fold, "%s: the Pad was %sfolded into the %s", name, fold ? "not " : "",
                  vl_ops[j >= 0 ? m->N[j].op : 0].name);
            if (fold) {
                const float *o = NULL;
                int ond = 0;
                int64_t os[VL_ONNX_MAXDIM];
                vl_status st = vl_onnx_run(m, x, 4, xs, "p", &o, &ond, os);
                CHECK(st != VL_OK && strstr(vl_errmsg(), "folded"), "%s: tapping the folded Pad's output: %s", name,
                      st ? vl_errmsg() : "it ran");
            }
        } else {
            CHECK(0, "%s: %s", name, vl_errmsg());
        }
        vl_onnx_free(m);
    }
    const char *const low[] = {"c", kind == 2 || kind == 3 ? NULL : "y", NULL};
    run_case(name, xs, x, want, low);
}

/* x -> Conv (16 ch) -> c -> Slice(starts, ends, axes, steps) -> y: the
 * portable kernel (it copies contiguous runs) against a direct evaluation. */
static void slice_case(const char *name, int na, const int64_t *axes, const int64_t *st, const int64_t *en,
                       const int64_t *sp)
{
    int64_t xs[4] = {2, 8, 7, 9};
    float *x = rand_input(xs);
    float *W = rand_init("W", 4, 16, 8, 1, 1, 0.4f);
    node2("Conv", "x", "W", "c");
    int64_t d1[1] = {na};
    mk_init_i64("st", 1, d1, st);
    mk_init_i64("en", 1, d1, en);
    mk_init_i64("ax", 1, d1, axes);
    mk_init_i64("sp", 1, d1, sp);
    const char *in[5] = {"c", "st", "en", "ax", "sp"};
    mk_node("Slice", 5, in, "y");
    geo g1 = G3;
    g1.kh = g1.kw = 1, g1.pt = g1.pl = g1.pb = g1.pr = 0;
    t4 c = d_conv(t4_wrap(x, 2, 8, 7, 9), W, NULL, 16, g1);
    int64_t lo[4] = {0, 0, 0, 0}, step[4] = {1, 1, 1, 1}, cnt[4] = {c.n, c.c, c.h, c.w};
    for (int a = 0; a < na; a++) { /* the ONNX clamping rules, for the values used here */
        int64_t ax = axes[a], L = cnt[ax], b = st[a] < 0 ? st[a] + L : st[a], e = en[a] < 0 ? en[a] + L : en[a];
        if (sp[a] > 0) {
            b = b < 0 ? 0 : b > L ? L : b;
            e = e < 0 ? 0 : e > L ? L : e;
            cnt[ax] = e > b ? (e - b + sp[a] - 1) / sp[a] : 0;
        } else {
            b = b < 0 ? -1 : b > L - 1 ? L - 1 : b;
            e = e < -1 ? -1 : e > L - 1 ? L - 1 : e;
            cnt[ax] = b > e ? (b - e - sp[a] - 1) / -sp[a] : 0;
        }
        lo[ax] = b, step[ax] = sp[a];
    }
    t4 want = t4_new(cnt[0], cnt[1], cnt[2], cnt[3]);
    for (int64_t n = 0; n < cnt[0]; n++)
        for (int64_t ch = 0; ch < cnt[1]; ch++)
            for (int64_t i = 0; i < cnt[2]; i++)
                for (int64_t j = 0; j < cnt[3]; j++)
                    AT(want, n, ch, i, j) = AT(c, lo[0] + n * step[0], lo[1] + ch * step[1], lo[2] + i * step[2],
                                               lo[3] + j * step[3]);
    const char *const low[] = {"c", NULL};
    run_case(name, xs, x, want, low);
}

static void slice_cases(void)
{
    static const int64_t a1[1] = {1}, s1[1] = {4}, e1[1] = {12}, p1[1] = {1};
    slice_case("Slice channels 4:12 (one run per image)", 1, a1, s1, e1, p1);
    static const int64_t a2[1] = {3}, s2[1] = {1}, e2[1] = {9}, p2[1] = {2};
    slice_case("Slice width 1:9:2", 1, a2, s2, e2, p2);
    static const int64_t a3[1] = {2}, s3[1] = {-1}, e3[1] = {-100}, p3[1] = {-1};
    slice_case("Slice height reversed", 1, a3, s3, e3, p3);
    static const int64_t a4[2] = {1, 2}, s4[2] = {8, 2}, e4[2] = {16, 6}, p4[2] = {1, 1};
    slice_case("Slice channels 8:16, rows 2:6", 2, a4, s4, e4, p4);
    static const int64_t a5[2] = {0, 3}, s5[2] = {1, 0}, e5[2] = {2, 4}, p5[2] = {1, 1};
    slice_case("Slice batch 1:2, columns 0:4", 2, a5, s5, e5, p5);
}

/* ShuffleNet's channel shuffle: Concat(a, b) -> Reshape [N, g, C/g, H, W] ->
 * Transpose (0, 2, 1, 3, 4) -> Reshape [N, C, H, W], then a channel split and
 * a Conv on the second half. With oneDNN (fp32) the Concat writes the
 * shuffled tensor itself, reading each input in its layout: channel counts
 * filling 16-blocks, partial blocks, and a plain input (a through a portable
 * HardSigmoid). Without, the Reshapes take their input's buffer over and the
 * Transpose copies whole H x W planes. */
static void shuffle_case(const char *name, int64_t ca, int64_t cb, int64_t g, int plain_a)
{
    int64_t xs[4] = {2, 8, 7, 9}, C = ca + cb, h2 = C / 2;
    float *x = rand_input(xs);
    float *Wa = rand_init("Wa", 4, ca, 8, 1, 1, 0.4f), *Wb = rand_init("Wb", 4, cb, 8, 1, 1, 0.3f);
    float *Wy = rand_init("Wy", 4, 16, C - h2, 1, 1, 0.3f);
    node2("Conv", "x", "Wa", plain_a ? "a0" : "a");
    if (plain_a) node2("HardSigmoid", "a0", NULL, "a");
    node2("Conv", "x", "Wb", "b");
    const char *in[2] = {"a", "b"};
    attr_i(mk_node("Concat", 2, in, "c"), "axis", 1);
    const int64_t d5[1] = {5}, d4[1] = {4}, s5[5] = {2, g, C / g, 7, 9}, s4[4] = {2, C, 7, 9};
    mk_init_i64("s5", 1, d5, s5);
    mk_init_i64("s4", 1, d4, s4);
    node2("Reshape", "c", "s5", "r");
    mk_attr_ints(node2("Transpose", "r", NULL, "t"), "perm", 5, (const int64_t[]){0, 2, 1, 3, 4});
    node2("Reshape", "t", "s4", "u");
    const int64_t a1[1] = {1}, lo[1] = {h2}, hi[1] = {C}, st[1] = {1}, one[1] = {1};
    mk_init_i64("lo", 1, one, lo);
    mk_init_i64("hi", 1, one, hi);
    mk_init_i64("ax", 1, one, a1);
    mk_init_i64("sp", 1, one, st);
    const char *sl[5] = {"u", "lo", "hi", "ax", "sp"};
    mk_node("Slice", 5, sl, "h");
    const int64_t z[1] = {0};
    mk_init_i64("z", 1, one, z);
    const char *sl1[5] = {"u", "z", "lo", "ax", "sp"};
    mk_node("Slice", 5, sl1, "h1");
    node2("Conv", "h", "Wy", "hy");
    const char *yc[2] = {"hy", "h1"};
    attr_i(mk_node("Concat", 2, yc, "y"), "axis", 1);
    geo g1 = G3;
    g1.kh = g1.kw = 1, g1.pt = g1.pl = g1.pb = g1.pr = 0;
    t4 X = t4_wrap(x, 2, 8, 7, 9), A = d_conv(X, Wa, NULL, ca, g1);
    if (plain_a)
        for (int64_t i = 0; i < 2 * ca * 7 * 9; i++) {
            float v = 0.2f * A.v[i] + 0.5f;
            A.v[i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
    t4 c = d_concat(A, d_conv(X, Wb, NULL, cb, g1)), h = t4_new(2, C - h2, 7, 9), h1 = t4_new(2, h2, 7, 9);
    for (int64_t n = 0; n < 2; n++) /* shuffled channel k = concatenated channel (k % g) * (C/g) + k / g */
        for (int64_t k = 0; k < C; k++)
            for (int64_t i = 0; i < 7; i++)
                for (int64_t j = 0; j < 9; j++) {
                    float v = AT(c, n, (k % g) * (C / g) + k / g, i, j);
                    if (k < h2) AT(h1, n, k, i, j) = v;
                    else AT(h, n, k - h2, i, j) = v;
                }
    /* the Concat writes the shuffled tensor, the three nodes after it do not run (fp32 and bf16) */
    for (int p = 0; p < (!vl_dn_available() ? 0 : vl_dn_bf16_native() ? 2 : 1); p++) {
        vl_onnx *m = planned(name, xs, x, p ? VL_PREC_BF16 : VL_PREC_FP32);
        int jc = m ? node_of(m, "c") : -1, jr = m ? node_of(m, "r") : -1, jt = m ? node_of(m, "t") : -1,
            ju = m ? node_of(m, "u") : -1;
        CHECK(jc >= 0 && vl_dn_on(m, jc), "%s (%s): the Concat did not run on oneDNN", name, p ? "bf16" : "fp32");
        CHECK(jr >= 0 && jt >= 0 && ju >= 0 && !m->N[jr].live && !m->N[jt].live && !m->N[ju].live,
              "%s (%s): the Reshape/Transpose/Reshape still ran", name, p ? "bf16" : "fp32");
        vl_onnx_free(m);
    }
    const char *const low[] = {"b", "hy", NULL};
    run_case(name, xs, x, d_concat(d_conv(h, Wy, NULL, 16, g1), h1), low);
}

static void shuffle_cases(void)
{
    shuffle_case("shuffle 16 + 16 channels, 2 groups", 16, 16, 2, 0);
    shuffle_case("shuffle 12 + 12 channels (partial blocks)", 12, 12, 2, 0);
    shuffle_case("shuffle 20 + 28, 3 groups, a plain input", 20, 28, 3, 1);
}

/* The same pattern as PyTorch exports it (tests/fixtures/onnx/shuffle.onnx, a
 * small ShuffleNetV2 from gen_onnx.py: the Reshape shapes are computed from
 * Shape nodes reading each Concat): every shuffle is lowered and no Transpose
 * runs. Its values against PyTorch are test_onnx's. */
static void shuffle_fixture(const char *base)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/shuffle.onnx", base);
    vl_onnx *m = NULL;
    vl_npy x = {0};
    vl_status st = vl_onnx_load(path, &m);
    if (!st) {
        snprintf(path, sizeof path, "%s/shuffle.input.npy", base);
        st = vl_npy_read(path, &x);
    }
    const float *y = NULL;
    int nd = 0;
    int64_t shape[VL_ONNX_MAXDIM];
    if (!st) st = vl_onnx_run(m, x.data, x.ndim, x.shape, NULL, &y, &nd, shape);
    CHECK(st == VL_OK, "shuffle.onnx: %s", vl_errmsg());
    if (!st) {
        int lowered = 0, transposes = 0, cats = 0;
        for (int j = 0; j < m->nn; j++) {
            if (m->N[j].removed || !m->N[j].live) continue;
            lowered += m->N[j].op == OP_CONCAT && vl_dn_on(m, j);
            cats += m->N[j].op == OP_CONCAT;
            transposes += m->N[j].op == OP_TRANSPOSE;
        }
        printf("  shuffle.onnx (PyTorch's export): %d of %d Concats lowered, %d Transposes run\n", lowered, cats,
               transposes);
        CHECK(lowered == 3 && transposes == 0, "shuffle.onnx: %d of 3 shuffles lowered, %d Transposes still run",
              lowered, transposes);
    }
    vl_npy_free(&x);
    vl_onnx_free(m);
}

/* ReduceMean over H and W (torchvision's ShuffleNet ends x.mean([2, 3])):
 * the trailing-axes path, 63 values per output (eight lanes and a tail). */
static void reducemean_case(void)
{
    int64_t xs[4] = {2, 8, 7, 9};
    float *x = rand_input(xs);
    float *W = rand_init("W", 4, 24, 8, 1, 1, 0.4f);
    node2("Conv", "x", "W", "c");
    static const int64_t ax[2] = {2, 3};
    mk_attr_ints(node2("ReduceMean", "c", NULL, "y"), "axes", 2, ax); /* opset 13: an attribute */
    geo g1 = G3;
    g1.kh = g1.kw = 1, g1.pt = g1.pl = g1.pb = g1.pr = 0;
    t4 c = d_conv(t4_wrap(x, 2, 8, 7, 9), W, NULL, 24, g1);
    const char *const low[] = {"c", NULL};
    run_case("ReduceMean over H, W (keepdims)", xs, x, d_gap(c), low);
}

/* A Reshape whose input is read again later must not take its buffer over:
 * c -> Reshape r -> HardSigmoid s -> HardSigmoid t; y = t + c. Were r's
 * block (c's) released when r dies, t would be written over c. */
static void view_live_case(void)
{
    int64_t xs[4] = {2, 8, 7, 9};
    float *x = rand_input(xs);
    float *W = rand_init("W", 4, 16, 8, 1, 1, 0.4f);
    const char *in[2] = {"a", "a"};
    node2("Conv", "x", "W", "a");
    attr_i(mk_node("Concat", 2, in, "c"), "axis", 1);
    static const int64_t d4[1] = {4}, s4[4] = {2, 32, 7, 9};
    mk_init_i64("s4", 1, d4, s4);
    node2("Reshape", "c", "s4", "r");
    node2("HardSigmoid", "r", NULL, "s");
    node2("HardSigmoid", "s", NULL, "t");
    node2("Add", "t", "c", "y");
    geo g1 = G3;
    g1.kh = g1.kw = 1, g1.pt = g1.pl = g1.pb = g1.pr = 0;
    t4 a = d_conv(t4_wrap(x, 2, 8, 7, 9), W, NULL, 16, g1), c = d_concat(a, a), t = t4_new(2, 32, 7, 9);
    for (int64_t i = 0; i < 2 * 32 * 7 * 9; i++) {
        float v = 0.2f * c.v[i] + 0.5f;
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        v = 0.2f * v + 0.5f;
        t.v[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    const char *const low[] = {"a", NULL};
    run_case("Reshape of a tensor read later (copied)", xs, x, d_bin(t, c, '+'), low);
}

/* Conv -> c (also read by an Identity, so the BN cannot fold into the Conv)
 * -> BatchNormalization [-> Relu] -> y: oneDNN's inference kernel on the
 * blocked tensor, the Relu fused into it (DenseNet's pattern after a Concat). */
static void bn_case(const char *name, int relu)
{
    int64_t xs[4] = {2, 8, 7, 9};
    float *x = rand_input(xs);
    float *W = rand_init("W", 4, 16, 8, 3, 3, 0.4f);
    float *g = rand_init("g", 1, 16, 1, 1, 1, 1.0f), *b = rand_init("b", 1, 16, 1, 1, 1, 0.5f);
    float *mu = rand_init("mu", 1, 16, 1, 1, 1, 0.5f);
    static float var[16]; /* variances: positive, away from 0 */
    for (int k = 0; k < 16; k++) var[k] = 0.5f + fabsf(frand());
    static const int64_t vd[1] = {16};
    mk_init("var", 1, vd, var);
    Onnx__NodeProto *c = node2("Conv", "x", "W", "c");
    attr_is(c, "pads", 4, 1, 1, 1, 1);
    node2("Identity", "c", NULL, "side");
    const char *in[5] = {"c", "g", "b", "mu", "var"};
    mk_node("BatchNormalization", 5, in, relu ? "s" : "y");
    if (relu) node2("Relu", "s", NULL, "y");
    t4 cc = d_conv(t4_wrap(x, 2, 8, 7, 9), W, NULL, 16, G3), want = t4_new(cc.n, cc.c, cc.h, cc.w);
    for (int64_t n = 0; n < cc.n; n++)
        for (int64_t ch = 0; ch < cc.c; ch++)
            for (int64_t i = 0; i < cc.h * cc.w; i++) {
                double v = (AT(cc, n, ch, i / cc.w, i % cc.w) - mu[ch]) / sqrt(var[ch] + 1e-5) * g[ch] + b[ch];
                want.v[((n * cc.c + ch) * cc.h * cc.w) + i] = (float)(relu && v < 0 ? 0 : v);
            }
    const char *const low[] = {"c", relu ? "s" : "y", "y", NULL};
    run_case(name, xs, x, want, low);
}

static t4 d_swish(t4 x)
{
    t4 s = d_elt(x, E_SIGMOID, 0, 0);
    return d_bin(x, s, '*');
}

/* The graph built so far (output y, for input x of shape xs): the node
 * producing y must be a Conv carrying activation act after loading (a = -1:
 * not checked), and int8 (calibrated on x itself) must stay within 5% of
 * want where this CPU runs int8. */
static void fold_int8_check(const char *name, const int64_t *xs, const float *x, t4 want, int act, const char *gone)
{
    uint8_t *buf;
    int64_t decl[4] = {-1, xs[1], xs[2], xs[3]};
    size_t len = mk_model("x", 4, decl, "y", &buf);
    vl_onnx *m = NULL;
    if (vl_onnx_load_memory(buf, len, name, &m) != VL_OK) {
        CHECK(0, "%s: load: %s", name, vl_errmsg());
        return;
    }
    if (act >= 0) {
        int j = node_of(m, "y");
        CHECK(j >= 0 && m->N[j].op == OP_CONV && (int)m->N[j].act == act,
              "%s: the activation was not folded into the Conv (node %d, op %d, act %d)", name, j,
              j >= 0 ? (int)m->N[j].op : -1, j >= 0 ? (int)m->N[j].act : -1);
    }
    const float *o = NULL;
    int ond = 0;
    int64_t os[VL_ONNX_MAXDIM];
    if (gone) { /* a tensor the fold removed: one clear error, not stale memory */
        vl_status st = vl_onnx_run(m, x, 4, xs, gone, &o, &ond, os);
        CHECK(st != VL_OK && strstr(vl_errmsg(), "folded") && strstr(vl_errmsg(), gone),
              "%s: tapping the folded '%s' should fail naming it: %s", name, gone, st ? vl_errmsg() : "it ran");
    }
    CHECK(vl_onnx_calibrate(m, x, 4, xs) == VL_OK, "%s: calibrate: %s", name, vl_errmsg());
    CHECK(vl_onnx_set_precision(m, VL_PREC_INT8) == VL_OK, "%s: int8: %s", name, vl_errmsg());
    if (vl_onnx_precision(m) != VL_PREC_INT8) { /* no VNNI/AMX or no oneDNN here */
        printf("  %-38s int8: not on this CPU (%s)\n", name, vl_onnx_precision_note(m));
        vl_onnx_free(m);
        return;
    }
    vl_status st = vl_onnx_run(m, x, 4, xs, NULL, &o, &ond, os);
    CHECK(st == VL_OK, "%s: int8 run: %s", name, vl_errmsg());
    if (!st) {
        double e = norm_err(o, want.v, (size_t)(want.n * want.c * want.h * want.w));
        CHECK(e <= 0.05, "%s: int8 vs direct evaluation: normalised error %.3g > 0.05", name, e);
        printf("  %-38s int8 %.1e\n", name, e);
    }
    vl_onnx_free(m);
}

/* x -> Conv -> SiLU (Sigmoid and Mul, either order) or Sigmoid -> y: folded
 * into the Conv (oneDNN's swish / logistic post-op; EfficientNet). */
static void act_fold_case(const char *name, int swish, int swap)
{
    int64_t xs[4] = {2, 8, 7, 9};
    float *x = rand_input(xs);
    float *W = rand_init("W", 4, 16, 8, 3, 3, 0.4f), *B = rand_init("B", 1, 16, 1, 1, 1, 0.5f);
    const char *i0[3] = {"x", "W", "B"};
    Onnx__NodeProto *c = mk_node("Conv", 3, i0, "c");
    attr_is(c, "pads", 4, 1, 1, 1, 1);
    if (swish) {
        node2("Sigmoid", "c", NULL, "s");
        node2("Mul", swap ? "s" : "c", swap ? "c" : "s", "y");
    } else {
        node2("Sigmoid", "c", NULL, "y");
    }
    t4 cc = d_conv(t4_wrap(x, 2, 8, 7, 9), W, B, 16, G3);
    t4 want = swish ? d_swish(cc) : d_elt(cc, E_SIGMOID, 0, 0);
    fold_int8_check(name, xs, x, want, swish ? ACT_SWISH : ACT_SIGMOID, swish ? "s" : "c");
    const char *const low[] = {"y", NULL};
    run_case(name, xs, x, want, low);
}

/* EfficientNet's block: 1x1 Conv -> SiLU -> 3x3 depthwise Conv -> SiLU: both
 * activations folded, the pair fused where oneDNN can (dw post-op). */
static void dw_swish_case(void)
{
    int64_t xs[4] = {1, 16, 10, 10};
    float *x = rand_input(xs);
    float *W0 = rand_init("W0", 4, 32, 16, 1, 1, 0.3f), *B0 = rand_init("B0", 1, 32, 1, 1, 1, 0.5f);
    float *W1 = rand_init("W1", 4, 32, 1, 3, 3, 0.3f), *B1 = rand_init("B1", 1, 32, 1, 1, 1, 0.5f);
    const char *i0[3] = {"x", "W0", "B0"}, *i1[3] = {"e", "W1", "B1"};
    mk_node("Conv", 3, i0, "c0");
    node2("Sigmoid", "c0", NULL, "s0");
    node2("Mul", "c0", "s0", "e");
    Onnx__NodeProto *d = mk_node("Conv", 3, i1, "c1");
    attr_i(d, "group", 32);
    attr_is(d, "pads", 4, 1, 1, 1, 1);
    node2("Sigmoid", "c1", NULL, "s1");
    node2("Mul", "s1", "c1", "y");
    geo g0 = G3, g1 = G3;
    g0.kh = g0.kw = 1, g0.pt = g0.pl = g0.pb = g0.pr = 0;
    g1.group = 32;
    t4 want = d_swish(d_conv(d_swish(d_conv(t4_wrap(x, 1, 16, 10, 10), W0, B0, 32, g0)), W1, B1, 32, g1));
    fold_int8_check("1x1 + SiLU + depthwise + SiLU", xs, x, want, ACT_SWISH, "s0");
    const char *const low[] = {"e", "y", NULL};
    run_case("1x1 + SiLU + depthwise + SiLU", xs, x, want, low);
}

int main(int argc, char **argv)
{
    const char *fixtures = argc > 1 ? argv[1] : "tests/fixtures/onnx";
    printf("test_onnx_ops: reference kernels vs oneDNN%s (normalised error max|a-b|/max|ref|)\n",
           vl_dn_available() ? "" : " (not in this build: reference vs direct evaluation only)");
    conv_cases();
    residual_case("residual Conv + Add (sum post-op)", 0);
    residual_case("residual Conv + Add + Relu", 1);
    dw_fused_case(1);
    dw_fused_case(2);
    bn_case("BatchNormalization (not folded)", 0);
    bn_case("BatchNormalization + Relu (fused)", 1);
    slice_cases();
    shuffle_cases();
    if (vl_dn_available()) shuffle_fixture(fixtures);
    view_live_case();
    reducemean_case();
    pad_fold_case("Pad + AveragePool (folded)", 0);
    pad_fold_case("Pad + Conv (folded)", 1);
    pad_fold_case("Pad + MaxPool (kept)", 2);
    pad_fold_case("Pad + AveragePool ceil_mode (kept)", 3);
    concat_case("Concat 16 + 32 channels (nChw16c)", 16, 32, 1);
    concat_case("Concat 8 + 24 channels (nChw8c)", 8, 24, 1);
    concat_case("Concat read by a portable kernel", 16, 16, 0);
    act_fold_case("conv + SiLU (folded)", 1, 0);
    act_fold_case("conv + SiLU, Mul(sigmoid, x) (folded)", 1, 1);
    act_fold_case("conv + Sigmoid (folded)", 0, 0);
    dw_swish_case();
    pool_cases();
    elt_case("Relu", "Relu", E_RELU, 16);
    elt_case("Relu, 24 channels", "Relu", E_RELU, 24);
    elt_case("Clip", "Clip", E_CLIP, 16);
    elt_case("Sigmoid", "Sigmoid", E_SIGMOID, 16);
    bin_case("Add [1,C,1,1] bias", "Add", '+', 0, 1, 16, 1, 1);
    bin_case("Add two convolutions", "Add", '+', 0, 0, -1, 0, 0);
    bin_case("Add full constant [1,C,H,W]", "Add", '+', 0, 1, 16, 6, 7);
    bin_case("Mul [1,C,1,1] first (swapped)", "Mul", '*', 1, 1, 16, 1, 1);
    bin_case("Mul [N,1,H,W]", "Mul", '*', 0, 2, 1, 6, 7);
    bin_case("Sub [1,1,1,1]", "Sub", '-', 0, 1, 1, 1, 1);
    bin_case("Sub two convolutions", "Sub", '-', 0, 0, -1, 0, 0);
    bin_case("Div [1,C,1,1]", "Div", '/', 0, 1, 16, 1, 1);
    se_case();
    /* Every operator with a oneDNN lowering in the table was checked on it. */
    if (vl_dn_available())
        for (int k = 0; k < OP_COUNT; k++)
            if (vl_ops[k].dnnl != DN_NONE)
                CHECK(covered[k], "%s has a oneDNN lowering but no case ran it on oneDNN", vl_ops[k].name);
    return check_summary();
}
