/* oneDNN lowering (see the block comment below); the only file that depends on VL_BLAS_DNNL. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/onnx/graph.h"
#include "core/mem.h"

/* ---- oneDNN execution ---------------------------------------------------------------
 * With the oneDNN backend, planning hands Conv, the pools, Relu/Clip/Sigmoid and
 * the element-wise binary ops to oneDNN primitives, created once per planned
 * input shape. Convolutions pick their own (blocked, e.g. nChw16c) activation
 * layout; the ops after them keep it, so activations are reordered to plain
 * NCHW only where an operator of ours or the tapped output reads them. A Conv
 * whose output only feeds an Add (ResNet, MobileNetV2 shortcuts) accumulates
 * into the other operand (oneDNN's sum post-op), in its buffer where that
 * operand dies there, and takes a Relu after the Add along. Anything oneDNN
 * rejects runs on the reference kernels (ops_*.c).
 *
 * Which primitive an operator may become is its table entry's `dnnl` field
 * (ops.c); the lowerings below are indexed by it. */
#ifdef VL_BLAS_DNNL

#include <oneapi/dnnl/dnnl.h>

/* A Conv's weights in a primitive's layout; kept across plans (a new input
 * shape usually wants the same layout). */
typedef struct dn_weights_s {
    dnnl_memory_desc_t md;
    float *buf;
    float *wscale; /* int8: per output channel, max |w| / 127 (computed once) */
    float *qbias;  /* int8: the bias divided by input scale x weight scale (this plan's) */
} dn_weights;

typedef struct dn_tensor_s {
    int made;       /* written by a oneDNN step, in layout md */
    int blocked;    /* md is not plain NCHW: buf holds it; data is a plain copy when need_plain */
    int need_plain; /* read by a portable kernel or tapped */
    dnnl_memory_desc_t md;
    float *buf;
    int bufi;       /* arena block of buf */
    size_t bsize;   /* floats */
    dnnl_memory_t mem;  /* over buf (blocked) or data */
    dnnl_memory_t pmem; /* plain view over data, for to_plain */
    dnnl_primitive_t to_plain;
    float scale;    /* int8: the value of one step (real = scale * q); 0 for float tensors */
} dn_tensor;

typedef struct {
    int t;                 /* tensor */
    int arg;               /* DNNL_ARG_SRC, DNNL_ARG_SRC_1 */
    dnnl_memory_desc_t md; /* the layout the primitive reads */
    float scale;           /* int8: the scale it reads the tensor in (0: float) */
    int reorder;           /* md differs from the tensor's: reorder into buf first */
    float *buf;
    int bufi;
    dnnl_memory_t mem;
    dnnl_primitive_t prim;
} dn_in;

typedef struct dn_node_s {
    int on; /* runs as a oneDNN primitive */
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    int nin;
    dn_in *in; /* room for max(2, the node's inputs) (a Concat has many) */
    dnnl_memory_t wmem, bmem, smem;
    int dw; /* depthwise Conv node fused after this 1x1 one, or -1 */
    dnnl_memory_t dwmem, dwbmem;
    dnnl_primitive_t res_copy; /* residual -> destination, when not accumulated in place */
    dnnl_memory_t resmem;      /* int8: the destination's buffer in the residual's data type */
    int q8;                    /* an int8 convolution: weights quantised, bias scaled */
    int cat;                   /* our copy, no primitive: 1 a channel concatenation of blocked tensors,
                                * 2 a concatenation + channel shuffle (dn_shufcat) */
    int groups;                /* cat 2: the shuffle's groups */
    dnnl_memory_t bnm[4];      /* a BatchNormalization's scale, shift, mean, variance */
    dnnl_exec_arg_t *args; /* room for the inputs + 8 */
    int nargs;
} dn_node;

/* The activations' data type between oneDNN steps: bf16 in bf16 mode
 * (weights bf16, bias f32, accumulation f32 inside oneDNN), else f32. */
static dnnl_data_type_t dn_act_dt(const vl_onnx *m)
{
    return m->prec == VL_PREC_BF16 ? dnnl_bf16 : dnnl_f32;
}

static int dn_is_int8(dnnl_data_type_t t) { return t == dnnl_s8 || t == dnnl_u8; }

/* The value of one step of tensor t's representation (1 for float tensors). */
static float dn_tscale(const vl_onnx *m, int t) { return m->dt[t].scale > 0 ? m->dt[t].scale : 1.0f; }

/* Bytes -> floats of arena space, rounded up (a bf16 tensor of odd size). */
static size_t dn_floats(size_t bytes) { return (bytes + sizeof(float) - 1) / sizeof(float); }

static dnnl_memory_desc_t dn_plain_md(const tensor *t)
{
    static const dnnl_format_tag_t tags[7] = {dnnl_a, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde, dnnl_abcdef};
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {1};
    int nd = t->ndim ? t->ndim : 1;
    for (int i = 0; i < t->ndim; i++) d[i] = t->shape[i];
    if (nd > 6 || dnnl_memory_desc_init_by_tag(&md, nd, d, dnnl_f32, tags[nd]) != dnnl_success)
        memset(&md, 0, sizeof md);
    return md;
}

/* The layout tensor t is in: its producer's, else plain. */
static dnnl_memory_desc_t dn_md_of(const vl_onnx *m, int t)
{
    return m->dt[t].made ? m->dt[t].md : dn_plain_md(&m->T[t]);
}

/* int8 plans: tensor t's layout for a float step (pools other than max,
 * element-wise ops): int8 tensors are read back as f32, in the same layout. */
static dnnl_memory_desc_t dn_md_float(const vl_onnx *m, int t)
{
    dnnl_memory_desc_t md = dn_md_of(m, t);
    if (dn_is_int8(md.data_type)) md.data_type = dnnl_f32;
    return md;
}

/* Records what a created primitive descriptor writes to tensor y. */
static void dn_set_output(vl_onnx *m, dn_node *d, int y)
{
    dn_tensor *o = &m->dt[y];
    o->made = 1;
    o->md = *dnnl_primitive_desc_query_md(d->pd, dnnl_query_dst_md, 0);
    dnnl_memory_desc_t plain = dn_plain_md(&m->T[y]);
    o->blocked = !dnnl_memory_desc_equal(&o->md, &plain);
    o->bsize = dn_floats(dnnl_memory_desc_get_size(&o->md));
    d->on = 1;
}

static void dn_add_input(vl_onnx *m, dn_node *d, int t, int arg, const dnnl_memory_desc_t *want)
{
    dn_in *in = &d->in[d->nin++];
    in->t = t;
    in->arg = arg;
    in->md = *want;
    dnnl_memory_desc_t have = dn_md_of(m, t);
    in->reorder = !dnnl_memory_desc_equal(&have, want);
    in->bufi = -1;
}

static int dn_create_pd_scaled(vl_onnx *m, dn_node *d, const void *desc, const dnnl_post_ops_t po, int64_t nscale,
                               const float *scales)
{
    dnnl_primitive_attr_t attr;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success)
        return 0;
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (po)
        dnnl_primitive_attr_set_post_ops(attr, po);
    if (nscale)
        dnnl_primitive_attr_set_output_scales(attr, nscale, nscale > 1 ? 1 << 1 : 0, scales);
    dnnl_status_t s = dnnl_primitive_desc_create(&d->pd, desc, attr, m->eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        d->pd = NULL;
    return s == dnnl_success;
}

static int dn_create_pd(vl_onnx *m, dn_node *d, const void *desc, const dnnl_post_ops_t po)
{
    return dn_create_pd_scaled(m, d, desc, po, 0, NULL);
}

/* Clip's bounds (Clip nodes and Conv's fused Clip). 0 when not constant. */
static int clip_bounds(const vl_onnx *m, const node *a, float *lo, float *hi)
{
    *lo = -FLT_MAX;
    *hi = FLT_MAX;
    if (m->opset < 11) {
        *lo = attr_float(a, "min", *lo);
        *hi = attr_float(a, "max", *hi);
    }
    for (int k = 1; k < 3; k++)
        if (a->nin > k && a->in[k] >= 0) {
            const tensor *b = &m->T[a->in[k]];
            if (!b->is_const || b->is_int || b->count < 1) return 0;
            *(k == 1 ? lo : hi) = b->data[0];
        }
    return 1;
}

static void dn_append_act(dnnl_post_ops_t po, act_kind a, float lo, float hi)
{
    if (a == ACT_RELU) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    if (a == ACT_CLIP) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, lo, hi);
    if (a == ACT_SWISH) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.0f, 0.0f);
    if (a == ACT_SIGMOID) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_logistic, 0.0f, 0.0f);
}

static int same_shape(const tensor *a, const tensor *b)
{
    return a->ndim == b->ndim && !memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim);
}

/* A residual shortcut after Conv node n (index j, output Y): the output's
 * only reader is an Add (*add) whose other operand *res is ready by then and
 * has the same shape (with int8: already an int8 tensor), then maybe a Relu
 * or Clip (*relu, its kind and bounds). *res = -1: no shortcut. */
static void find_shortcut(vl_onnx *m, const node *n, int j, const tensor *Y, int tap, int int8, int *add, int *res,
                          int *relu, act_kind *act2, float *lo2, float *hi2)
{
    *add = -1, *res = -1, *relu = -1;
    *act2 = ACT_NONE;
    *lo2 = *hi2 = 0.0f;
    if (!(n->out[0] != tap && consumers(m, n->out[0], add) == 1 && *add >= 0 && m->N[*add].op == OP_ADD &&
          m->N[*add].live && m->N[*add].nin == 2))
        return;
    const node *a = &m->N[*add];
    int r = a->in[0] == n->out[0] ? a->in[1] : a->in[0];
    const tensor *R = &m->T[r], *A = &m->T[a->out[0]];
    if (r == n->out[0] || R->is_const || R->is_int || !same_shape(R, Y) || !same_shape(A, Y) ||
        (R->producer >= 0 && R->producer > j) || (int8 && (!m->dt[r].made || !dn_is_int8(m->dt[r].md.data_type))))
        return;
    *res = r;
    int k = -1;
    if (a->out[0] != tap && consumers(m, a->out[0], &k) == 1 && k >= 0 && m->N[k].live) {
        float lo, hi;
        if (m->N[k].op == OP_RELU) *relu = k, *act2 = ACT_RELU;
        else if (m->N[k].op == OP_CLIP && clip_bounds(m, &m->N[k], &lo, &hi))
            *relu = k, *act2 = ACT_CLIP, *lo2 = lo, *hi2 = hi;
    }
}

/* The convolution n now computes find_shortcut's Add (and its Relu/Clip,
 * relu >= 0) as post-ops: those nodes stop running, n writes their output. */
static void claim_shortcut(vl_onnx *m, node *n, int add, int res, int relu)
{
    m->N[add].live = 0;
    n->pout = m->N[add].out[0];
    if (relu >= 0) {
        m->N[relu].live = 0;
        n->pout = m->N[relu].out[0];
    }
    n->pres = res;
}

/* 3x3, stride 1, undilated, dense: where oneDNN has a Winograd kernel. */
static int wino_shape(const node *n, const win2d *w)
{
    return attr_int(n, "group", 1) == 1 && w->kh == 3 && w->kw == 3 && w->sh == 1 && w->sw == 1 && w->dh == 1 &&
           w->dw == 1;
}

/* Depthwise Conv k can run as a dw post-op after a 1x1 Conv producing X. */
static int dw_fusable(const vl_onnx *m, const node *k, const tensor *X)
{
    const tensor *W = &m->T[k->in[1]];
    win2d w;
    if (!W->is_const || W->is_int || W->ndim != 4 || X->ndim != 4 || k->nin < 3 || k->in[2] < 0 ||
        !m->T[k->in[2]].is_const || W->shape[0] != X->shape[1] || W->shape[1] != 1 ||
        attr_int(k, "group", 1) != X->shape[1] || conv_window(m, k, X->shape[2], X->shape[3], W->shape[2], W->shape[3], 0, &w))
        return 0;
    return w.kh == 3 && w.kw == 3 && w.sh == w.sw && (w.sh == 1 || w.sh == 2) && w.dh == 1 && w.dw == 1 && w.pt == 1 &&
           w.pl == 1 && w.pb == 1 && w.pr == 1;
}

/* MobileNet: a 1x1 Conv n (window w, groups g, output Y) whose only reader is
 * a 3x3 depthwise Conv (pad 1, stride 1 or 2) that can run inside it as
 * oneDNN's dw post-op, so the expanded tensor never goes to memory. Returns
 * the depthwise node, or -1. */
static int find_dw(vl_onnx *m, const node *n, const win2d *w, int64_t g, const tensor *Y, int tap)
{
    int dw = -1;
    if (!(w->kh == 1 && w->kw == 1 && w->sh == 1 && w->sw == 1 && !w->pt && !w->pl && !w->pb && !w->pr && g == 1 &&
          n->out[0] != tap && consumers(m, n->out[0], &dw) == 1 && dw >= 0 && m->N[dw].live &&
          m->N[dw].op == OP_CONV && dw_fusable(m, &m->N[dw], Y)))
        return -1;
    return dw;
}

/* The fused output must be the depthwise Conv's (oneDNN computes its shape). */
static int dw_out_matches(vl_onnx *m, const dn_node *d, int dw)
{
    const dnnl_memory_desc_t *o = dnnl_primitive_desc_query_md(d->pd, dnnl_query_dst_md, 0);
    const tensor *K = &m->T[m->N[dw].out[0]];
    return o->ndims == 4 && o->dims[0] == K->shape[0] && o->dims[1] == K->shape[1] && o->dims[2] == K->shape[2] &&
           o->dims[3] == K->shape[3];
}

static void dn_conv(vl_onnx *m, int j, int tap)
{
    node *n = &m->N[j];
    dn_node *d = &m->dn[j];
    tensor *X = &m->T[n->in[0]], *Wt = &m->T[n->in[1]], *Y = &m->T[n->out[0]];
    int hasb = n->nin > 2 && n->in[2] >= 0;
    if (!Wt->is_const || Wt->is_int || (hasb && !m->T[n->in[2]].is_const) || X->is_const)
        return;
    int64_t g = attr_int(n, "group", 1), Co = Wt->shape[0];
    win2d w;
    if (conv_window(m, n, X->shape[2], X->shape[3], Wt->shape[2], Wt->shape[3], 0, &w))
        return;
    dnnl_memory_desc_t src, wei, bia, dst;
    dnnl_dims_t sd = {X->shape[0], X->shape[1], X->shape[2], X->shape[3]};
    dnnl_dims_t dd = {Y->shape[0], Y->shape[1], Y->shape[2], Y->shape[3]};
    dnnl_dims_t wd = {g, Co / g, Wt->shape[1], w.kh, w.kw}, wd1 = {Co, Wt->shape[1], w.kh, w.kw}, bd = {Co};
    /* One activation layout for all convolutions, nChw16c: oneDNN's Winograd
     * kernels and the 1x1 + depthwise fusion need it, and switching layouts
     * between convolutions would cost reorders (see BENCHMARKS.md). Inputs
     * with fewer than 16 channels (the image) stay as they are; others whose
     * count is not a multiple of 16 (MoveNet's 24) are padded: left to
     * choose, oneDNN took nhwc for them, which its depthwise kernels lack
     * (its reference kernel ran instead, 27x slower). */
    dnnl_format_tag_t act = dnnl_nChw16c;
    /* Grouped (not depthwise) convolutions whose channels per group are not
     * a multiple of the 16-channel block have no JIT kernel on nChw16c: oneDNN
     * 2.6 ran its reference kernel (RegNetY-400MF, 8 per group: 16 convs took
     * 99% of the time). nChw8c has one when the groups are multiples of 8;
     * otherwise let oneDNN choose. Reorders around them cost far less. */
    int64_t cig = X->shape[1] / (g > 0 ? g : 1), cog = Co / (g > 0 ? g : 1);
    if (g > 1 && !(cig == 1 && cog == 1) && (cig % 16 || cog % 16))
        act = cig % 8 == 0 && cog % 8 == 0 ? dnnl_nChw8c : dnnl_format_tag_any;
    /* bf16: activations and weights in bf16 (the image is converted by the
     * first convolution's input reorder), bias f32. */
    dnnl_data_type_t adt = dn_act_dt(m);
    dnnl_memory_desc_init_by_tag(&src, 4, sd, adt,
                                 act != dnnl_nChw16c ? act : X->shape[1] >= 16 ? dnnl_nChw16c : dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dst, 4, dd, adt, act);
    if (g > 1) dnnl_memory_desc_init_by_tag(&wei, 5, wd, adt, dnnl_format_tag_any);
    else dnnl_memory_desc_init_by_tag(&wei, 4, wd1, adt, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&bia, 1, bd, dnnl_f32, dnnl_a);
    dnnl_dims_t st = {w.sh, w.sw}, dil = {w.dh - 1, w.dw - 1}, pl = {w.pt, w.pl}, pr = {w.pb, w.pr};
    dnnl_convolution_desc_t cd[2];
    int nalg = 0;
    /* (oneDNN's Winograd kernels are f32 only) */
    int wino = wino_shape(n, &w) && !getenv("VL_ONNX_NO_WINOGRAD") && adt == dnnl_f32;
    if (wino && dnnl_convolution_forward_desc_init(&cd[nalg], dnnl_forward_inference, dnnl_convolution_winograd, &src,
                                                   &wei, hasb ? &bia : NULL, &dst, st, pl, pr) == dnnl_success)
        nalg++;
    if (dnnl_dilated_convolution_forward_desc_init(&cd[nalg], dnnl_forward_inference, dnnl_convolution_direct, &src, &wei,
                                                   hasb ? &bia : NULL, &dst, st, dil, pl, pr) == dnnl_success)
        nalg++;
    if (!nalg)
        return;
    /* Shortcut: the only reader of the output is an Add whose other operand
     * is ready by now and has the same shape. */
    int add, res, relu;
    act_kind act2;
    float lo2, hi2;
    find_shortcut(m, n, j, Y, tap, 0, &add, &res, &relu, &act2, &lo2, &hi2);
    int dw = res < 0 ? find_dw(m, n, &w, g, Y, tap) : -1;
    for (int t = 0; t < 2 * nalg && !d->pd; t++) {
        int fuse = t % 2 == 0 && (res >= 0 || dw >= 0);
        if (t % 2 == 0 && !fuse) continue;
        dnnl_post_ops_t po;
        if (dnnl_post_ops_create(&po) != dnnl_success)
            return;
        dn_append_act(po, n->act, n->act_min, n->act_max);
        if (fuse && res >= 0) {
            dnnl_post_ops_append_sum(po, 1.0f);
            dn_append_act(po, act2, lo2, hi2);
        }
        if (fuse && dw >= 0) {
            node *k = &m->N[dw];
            int64_t v[2] = {1, 1};
            attr_ints(k, "strides", v, 2);
            dnnl_post_ops_append_dw(po, adt, dnnl_f32, adt, 3, v[0], 1, 0, 0, NULL);
            dn_append_act(po, k->act, k->act_min, k->act_max);
        }
        int ok = dn_create_pd(m, d, &cd[t / 2], po);
        if (ok && fuse && dw >= 0) {
            ok = dw_out_matches(m, d, dw);
            if (!ok) {
                dnnl_primitive_desc_destroy(d->pd);
                d->pd = NULL;
            } else {
                m->N[dw].live = 0;
                n->pout = m->N[dw].out[0];
                d->dw = dw;
            }
        }
        if (ok && fuse && res >= 0)
            claim_shortcut(m, n, add, res, relu);
        dnnl_post_ops_destroy(po);
    }
    if (!d->pd)
        return;
    dn_add_input(m, d, n->in[0], DNNL_ARG_SRC, dnnl_primitive_desc_query_md(d->pd, dnnl_query_src_md, 0));
    dn_set_output(m, d, n->pout);
}

/* ---- int8 convolutions ----
 * s8 weights with one scale per output channel (max |w| / 127), u8 or s8
 * activations with one static scale per tensor from calibration (run.c):
 * u8 (max / 255) where calibration saw no negative value (after Relu, or
 * Clip from 0), else s8 (max |x| / 127). oneDNN accumulates in s32, adds the
 * bias (divided by input scale x weight scale, as oneDNN 2.x adds it before
 * the output scale), multiplies by input scale x weight scale / output scale
 * per channel, applies the post-ops in output units (Clip bounds scaled) and
 * rounds to the output's int8 type. A residual Add becomes a sum post-op
 * scaled by residual scale / output scale. Returns 1 when node j became an
 * int8 primitive; 0 leaves it to the float lowering. */
static int dn_q_ok(const vl_onnx *m, int t) { return m->qmax && m->qmax[t] > 0.0f && m->qmax[t] < FLT_MAX; }

static dnnl_data_type_t dn_q_dt(const vl_onnx *m, int t) { return m->qmin[t] >= 0.0f ? dnnl_u8 : dnnl_s8; }

/* Headroom over the calibrated range: activations of real images beyond the
 * calibration images' maximum saturate, which costs more than the coarser
 * step (features' error on 15 photographs, built-in calibration, ResNet-18 /
 * MobileNetV2 / ResNet-50: 1.5 / 0.9 / 4.4 % at 1.0; 1.4 / 1.0 / 1.8 % at
 * 1.25-1.5; 1.6 / 1.2 / 1.9 % at 2.0; docs/precision.md). */
#define Q_HEADROOM 1.5f

static float dn_q_scale_as(const vl_onnx *m, int t, dnnl_data_type_t dt)
{
    return Q_HEADROOM * m->qmax[t] / (dt == dnnl_u8 ? 255.0f : 127.0f);
}

static void dn_append_act_scaled(dnnl_post_ops_t po, act_kind a, float lo, float hi, float s)
{
    if (a == ACT_RELU) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    if (a == ACT_CLIP) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, lo / s, hi / s);
    /* in output units y = x / s: swish(x) / s = y * sigmoid(s * y) (swish's alpha) */
    if (a == ACT_SWISH) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, s, 0.0f);
    if (a == ACT_SIGMOID) { /* sigmoid(s * y) / s */
        dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, s, 0.0f);
        dnnl_post_ops_append_eltwise(po, 1.0f / s, dnnl_eltwise_logistic, 0.0f, 0.0f);
    }
}

/* The last activation guarantees a non-negative output (u8 may hold it). */
static int dn_nonneg(act_kind a, float lo)
{
    return a == ACT_RELU || a == ACT_SIGMOID || (a == ACT_CLIP && lo >= 0.0f);
}

/* Per-output-channel weight scales (max |w| / 127), once per model. */
static int dn_wscales(dn_weights *wc, const tensor *Wt)
{
    if (wc->wscale) return 1;
    int64_t Co = Wt->shape[0], per = Wt->count / Co;
    if (!(wc->wscale = malloc(sizeof(float) * (size_t)Co))) return 0;
    for (int64_t c = 0; c < Co; c++) {
        float mx = 0.0f;
        for (int64_t i = 0; i < per; i++) mx = fmaxf(mx, fabsf(Wt->data[c * per + i]));
        wc->wscale[c] = mx > 0.0f ? mx / 127.0f : 1.0f;
    }
    return 1;
}

/* This plan's bias b[Co] divided by input scale sx x weight scale. */
static int dn_qbias(dn_weights *wc, const float *b, int64_t Co, float sx)
{
    free(wc->qbias);
    if (!(wc->qbias = malloc(sizeof(float) * (size_t)Co))) return 0;
    for (int64_t c = 0; c < Co; c++) wc->qbias[c] = b[c] / (sx * wc->wscale[c]);
    return 1;
}

static int dn_conv_int8(vl_onnx *m, int j, int tap)
{
    node *n = &m->N[j];
    dn_node *d = &m->dn[j];
    int xi = n->in[0];
    tensor *X = &m->T[xi], *Wt = &m->T[n->in[1]], *Y = &m->T[n->out[0]];
    int hasb = n->nin > 2 && n->in[2] >= 0;
    if (!Wt->is_const || Wt->is_int || (hasb && !m->T[n->in[2]].is_const) || X->is_const || X->ndim != 4)
        return 0;
    int64_t g = attr_int(n, "group", 1), Co = Wt->shape[0];
    win2d w;
    if (g < 1 || conv_window(m, n, X->shape[2], X->shape[3], Wt->shape[2], Wt->shape[3], 0, &w))
        return 0;
    /* the input: an int8 tensor as it is, else quantised by the input reorder */
    dnnl_data_type_t sdt;
    float sx;
    if (m->dt[xi].made && dn_is_int8(m->dt[xi].md.data_type)) {
        sdt = m->dt[xi].md.data_type;
        sx = m->dt[xi].scale;
    } else {
        if (!dn_q_ok(m, xi)) return 0;
        sdt = dn_q_dt(m, xi);
        sx = dn_q_scale_as(m, xi, sdt);
    }
    dn_weights *wc = &m->wcache[2 * j];
    if (!dn_wscales(wc, Wt)) return 0;
    /* Shortcut as in dn_conv; the residual must be an int8 tensor already. */
    int add, res, relu;
    act_kind act2;
    float lo2, hi2;
    find_shortcut(m, n, j, Y, tap, 1, &add, &res, &relu, &act2, &lo2, &hi2);
    /* 1x1 + depthwise as in dn_conv: the expanded tensor is quantised with
     * its own calibrated scale inside the primitive and never stored. */
    int dw = res < 0 && dn_q_ok(m, n->out[0]) ? find_dw(m, n, &w, g, Y, tap) : -1;
    dn_weights *wc2 = &m->wcache[2 * j + 1];
    const node *k = dw >= 0 ? &m->N[dw] : NULL;
    if (k && !dn_wscales(wc2, &m->T[k->in[1]])) dw = -1, k = NULL;
    int64_t Cdw = k ? m->T[k->in[1]].shape[0] : 0;
    float *dws = k ? malloc(sizeof(float) * (size_t)Cdw) : NULL;
    if (k && !dws) dw = -1, k = NULL;
    dnnl_dims_t sd = {X->shape[0], X->shape[1], X->shape[2], X->shape[3]};
    dnnl_dims_t dd = {Y->shape[0], Y->shape[1], Y->shape[2], Y->shape[3]};
    dnnl_dims_t wd = {g, Co / g, Wt->shape[1], w.kh, w.kw}, wd1 = {Co, Wt->shape[1], w.kh, w.kw}, bd = {Co};
    dnnl_dims_t st = {w.sh, w.sw}, dil = {w.dh - 1, w.dw - 1}, pl = {w.pt, w.pl}, pr = {w.pb, w.pr};
    float *os = malloc(sizeof(float) * (size_t)Co);
    if (!os) return 0;
    for (int t = 0; t < 2 && !d->pd; t++) {
        int fuse = t == 0, fdw = fuse && k;
        if (fuse && res < 0 && !k) continue;
        int pout = !fuse ? n->out[0] : k ? k->out[0] : relu >= 0 ? m->N[relu].out[0] : m->N[add].out[0];
        if (!dn_q_ok(m, pout)) continue;
        /* u8 only where the last activation guarantees it (Relu, Clip from
         * >= 0) and calibration agrees: a u8 output would clamp negatives */
        act_kind la = fdw ? k->act : fuse && act2 != ACT_NONE ? act2 : fuse ? ACT_NONE : n->act;
        float llo = fdw ? k->act_min : fuse && act2 != ACT_NONE ? lo2 : n->act_min;
        dnnl_data_type_t ddt = dn_nonneg(la, llo) ? dn_q_dt(m, pout) : dnnl_s8;
        float sdst = dn_q_scale_as(m, pout, ddt);
        /* with the depthwise post-op the convolution's own output is the
         * expanded tensor (its type and scale), the primitive's the dw one's */
        dnnl_data_type_t mdt = !fdw ? ddt : dn_nonneg(n->act, n->act_min) ? dn_q_dt(m, n->out[0]) : dnnl_s8;
        float smid = fdw ? dn_q_scale_as(m, n->out[0], mdt) : sdst;
        /* oneDNN picks the layouts (its int8 kernels want nhwc-like ones) */
        dnnl_memory_desc_t src, wei, bia, dst;
        dnnl_memory_desc_init_by_tag(&src, 4, sd, sdt, dnnl_format_tag_any);
        dnnl_memory_desc_init_by_tag(&dst, 4, dd, mdt, dnnl_format_tag_any);
        if (g > 1) dnnl_memory_desc_init_by_tag(&wei, 5, wd, dnnl_s8, dnnl_format_tag_any);
        else dnnl_memory_desc_init_by_tag(&wei, 4, wd1, dnnl_s8, dnnl_format_tag_any);
        dnnl_memory_desc_init_by_tag(&bia, 1, bd, dnnl_f32, dnnl_a);
        dnnl_convolution_desc_t cd;
        if (dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src, &wei,
                                                       hasb ? &bia : NULL, &dst, st, dil, pl, pr) != dnnl_success)
            continue;
        for (int64_t c = 0; c < Co; c++) os[c] = sx * wc->wscale[c] / smid;
        dnnl_post_ops_t po;
        if (dnnl_post_ops_create(&po) != dnnl_success) break;
        dn_append_act_scaled(po, n->act, n->act_min, n->act_max, smid);
        if (fuse && res >= 0) {
            dnnl_post_ops_append_sum_v2(po, m->dt[res].scale / sdst, m->dt[res].md.data_type);
            dn_append_act_scaled(po, act2, lo2, hi2, sdst);
        }
        if (fdw) { /* s8 weights, per-channel scales: expanded units -> output units */
            int64_t v[2] = {1, 1};
            attr_ints(k, "strides", v, 2);
            for (int64_t c = 0; c < Cdw; c++) dws[c] = smid * wc2->wscale[c] / sdst;
            dnnl_post_ops_append_dw(po, dnnl_s8, dnnl_f32, ddt, 3, v[0], 1, Cdw, 1 << 1, dws);
            dn_append_act_scaled(po, k->act, k->act_min, k->act_max, sdst);
        }
        int ok = dn_create_pd_scaled(m, d, &cd, po, Co, os);
        dnnl_post_ops_destroy(po);
        if (ok && fdw && !dw_out_matches(m, d, dw)) {
            dnnl_primitive_desc_destroy(d->pd);
            d->pd = NULL;
            ok = 0;
        }
        if (ok) { /* no reference kernels: the float path is faster */
            const char *impl = NULL;
            dnnl_primitive_desc_query(d->pd, dnnl_query_impl_info_str, 0, &impl);
            if (!impl || !strncmp(impl, "ref", 3)) {
                dnnl_primitive_desc_destroy(d->pd);
                d->pd = NULL;
                ok = 0;
            }
        }
        if (!ok) continue;
        /* biases in accumulator units (oneDNN 2.x adds them before the scales) */
        if ((hasb && !dn_qbias(wc, m->T[n->in[2]].data, Co, sx)) || (fdw && !dn_qbias(wc2, m->T[k->in[2]].data, Cdw, smid))) {
            dnnl_primitive_desc_destroy(d->pd);
            d->pd = NULL;
            break;
        }
        if (fuse && res >= 0)
            claim_shortcut(m, n, add, res, relu);
        if (fdw) {
            m->N[dw].live = 0;
            n->pout = k->out[0];
            d->dw = dw;
        }
        d->q8 = 1;
        dn_add_input(m, d, xi, DNNL_ARG_SRC, dnnl_primitive_desc_query_md(d->pd, dnnl_query_src_md, 0));
        d->in[0].scale = sx;
        dn_set_output(m, d, n->pout);
        m->dt[n->pout].scale = sdst;
    }
    free(os);
    free(dws);
    if (!d->pd) {
        /* a fusion attempt may have been made: undo nothing (only a success marks nodes) */
        return 0;
    }
    return 1;
}

static void dn_pool(vl_onnx *m, int j)
{
    node *n = &m->N[j];
    dn_node *d = &m->dn[j];
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    if (X->ndim != 4 || n->nout != 1)
        return;
    dnnl_dims_t st = {1, 1}, ks = {X->shape[2], X->shape[3]}, dil = {0, 0}, pl = {0, 0}, pr = {0, 0};
    dnnl_alg_kind_t alg = dnnl_pooling_avg_exclude_padding;
    if (n->op != OP_GAP) {
        int64_t k[2] = {1, 1};
        attr_ints(n, "kernel_shape", k, 2);
        win2d w;
        if (conv_window(m, n, X->shape[2], X->shape[3], k[0], k[1], 1, &w))
            return;
        int incl = (int)attr_int(n, "count_include_pad", 0);
        alg = n->op == OP_MAXPOOL ? dnnl_pooling_max : incl ? dnnl_pooling_avg_include_padding : alg;
        /* Bottom/right padding giving Ho, Wo with oneDNN's floor rule (ceil_mode
         * overhang becomes padding, which only include-padding averages count). */
        int64_t ekh = w.dh * (w.kh - 1) + 1, ekw = w.dw * (w.kw - 1) + 1;
        int64_t pb = (X->shape[2] + w.pt + w.pb - ekh) / w.sh + 1 == w.Ho ? w.pb : (w.Ho - 1) * w.sh + ekh - X->shape[2] - w.pt;
        int64_t pr2 = (X->shape[3] + w.pl + w.pr - ekw) / w.sw + 1 == w.Wo ? w.pr : (w.Wo - 1) * w.sw + ekw - X->shape[3] - w.pl;
        if (incl && (pb != w.pb || pr2 != w.pr))
            return;
        st[0] = w.sh, st[1] = w.sw, ks[0] = w.kh, ks[1] = w.kw, dil[0] = w.dh - 1, dil[1] = w.dw - 1;
        pl[0] = w.pt, pl[1] = w.pl, pr[0] = pb, pr[1] = pr2;
    }
    /* int8: max pooling stays in int8 (same scale); averages read f32 */
    int keep8 = n->op == OP_MAXPOOL;
    dnnl_memory_desc_t src = m->prec == VL_PREC_INT8 && !keep8 ? dn_md_float(m, n->in[0]) : dn_md_of(m, n->in[0]), dst;
    dnnl_dims_t dd = {Y->shape[0], Y->shape[1], Y->shape[2], Y->shape[3]};
    /* (bf16 in, bf16 out: oneDNN 2.6 has no bf16 -> f32 pooling) */
    dnnl_memory_desc_init_by_tag(&dst, 4, dd, src.data_type, dnnl_format_tag_any);
    dnnl_pooling_v2_desc_t pdsc;
    if (dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference, alg, &src, &dst, st, ks, dil, pl, pr) ||
        !dn_create_pd(m, d, &pdsc, NULL))
        return;
    dn_add_input(m, d, n->in[0], DNNL_ARG_SRC, &src);
    d->in[0].scale = m->dt[n->in[0]].scale * (dn_is_int8(src.data_type) ? 1.0f : 0.0f);
    dn_set_output(m, d, n->out[0]);
    if (dn_is_int8(src.data_type)) m->dt[n->out[0]].scale = m->dt[n->in[0]].scale;
}

/* Concat along the channels of blocked tensors (GoogLeNet's and
 * SqueezeNet's branches). Left to the portable kernel it needed every
 * branch reordered to plain NCHW, its readers reading plain tensors back and
 * pools on the portable kernel. With every channel count a multiple of the
 * block (16, or 8), each image of a nChw16c tensor is one contiguous run
 * [C/16][H][W][16], so the concatenation is one copy per input and image
 * (dn_cat_run; oneDNN's own concat took 0.66 ms per call on SqueezeNet at
 * batch 1, 5x the old reorders). Lowered only when every reader runs on
 * oneDNN too: DenseNet's concatenations feed a BatchNormalization on the
 * portable kernel, which would then pay a reorder to plain per
 * concatenation on top of the copy. */
static void dn_concat(vl_onnx *m, int j)
{
    node *n = &m->N[j];
    dn_node *d = &m->dn[j];
    tensor *Y = &m->T[n->out[0]];
    if (m->prec == VL_PREC_INT8 || Y->ndim != 4 || Y->is_int || norm_axis(attr_int(n, "axis", 0), 4) != 1 ||
        n->out[0] == m->output || n->nin > 64)
        return;
    for (int q = 0; q < m->nn; q++) {
        const node *c = &m->N[q];
        if (!c->live) continue;
        for (int k = 0; k < c->nin; k++)
            if (c->in[k] == n->out[0] && vl_ops[c->op].dnnl == DN_NONE) return;
    }
    int all16 = 1, all8 = 1;
    for (int k = 0; k < n->nin; k++) {
        const tensor *I = &m->T[n->in[k]];
        if (n->in[k] < 0 || I->ndim != 4 || I->is_int || I->is_const) return;
        all16 &= I->shape[1] % 16 == 0;
        all8 &= I->shape[1] % 8 == 0;
    }
    if (!all8) return;
    dnnl_format_tag_t tag = all16 ? dnnl_nChw16c : dnnl_nChw8c;
    dnnl_data_type_t dt = dn_act_dt(m);
    for (int k = 0; k < n->nin; k++) {
        const tensor *I = &m->T[n->in[k]];
        dnnl_dims_t dd = {I->shape[0], I->shape[1], I->shape[2], I->shape[3]};
        dnnl_memory_desc_t md;
        if (dnnl_memory_desc_init_by_tag(&md, 4, dd, dt, tag) != dnnl_success) {
            d->nin = 0;
            return;
        }
        dn_add_input(m, d, n->in[k], DNNL_ARG_MULTIPLE_SRC + k, &md);
    }
    dnnl_dims_t yd = {Y->shape[0], Y->shape[1], Y->shape[2], Y->shape[3]};
    dn_tensor *o = &m->dt[n->out[0]];
    if (dnnl_memory_desc_init_by_tag(&o->md, 4, yd, dt, tag) != dnnl_success) {
        d->nin = 0;
        return;
    }
    dnnl_memory_desc_t plain = dn_plain_md(Y);
    o->made = 1;
    o->blocked = !dnnl_memory_desc_equal(&o->md, &plain);
    o->bsize = dn_floats(dnnl_memory_desc_get_size(&o->md));
    d->cat = 1;
    d->on = 1;
}

/* Runs a lowered Concat: per image, each input's contiguous run after the
 * previous ones' (the layouts dn_concat chose). */
static dnnl_status_t dn_cat_run(vl_onnx *m, const dn_node *d, const node *n)
{
    void *yp = NULL;
    const tensor *Y = &m->T[n->out[0]];
    size_t es = m->dt[n->out[0]].md.data_type == dnnl_bf16 ? 2 : 4, hw = (size_t)(Y->shape[2] * Y->shape[3]);
    size_t yimg = (size_t)Y->shape[1] * hw * es;
    dnnl_status_t s = dnnl_memory_get_data_handle(m->dt[n->out[0]].mem, &yp);
    const void *xp[64];
    if (s || d->nin > 64)
        return s ? s : dnnl_unimplemented;
    for (int k = 0; k < d->nin && !s; k++)
        s = dnnl_memory_get_data_handle(d->in[k].mem, (void **)&xp[k]);
    if (s)
        return s;
    int64_t N = Y->shape[0];
#pragma omp parallel for schedule(static) if (N * d->nin > 1 && yimg * (size_t)N > ((size_t)1 << 18))
    for (int64_t i = 0; i < N * d->nin; i++) {
        int64_t img = i / d->nin;
        int k = (int)(i % d->nin);
        size_t off = 0;
        for (int q = 0; q < k; q++) off += (size_t)m->T[d->in[q].t].shape[1];
        size_t len = (size_t)m->T[d->in[k].t].shape[1] * hw * es;
        memcpy((char *)yp + (size_t)img * yimg + off * hw * es, (const char *)xp[k] + (size_t)img * len, len);
    }
    return dnnl_success;
}

/* The one live node reading tensor t (-1 if none, several, or t is the tap
 * or a graph output). Shape arithmetic on it (folded while planning, as
 * ShuffleNet's exporter computes every Reshape's shape) does not count. */
static int sole_reader(const vl_onnx *m, int t, int tap)
{
    int r = -1;
    if (t == tap || t == m->output)
        return -1;
    for (int j = 0; j < m->nn; j++) {
        const node *c = &m->N[j];
        if (!c->live) continue;
        for (int k = 0; k < c->nin; k++)
            if (c->in[k] == t) {
                if (r >= 0) return -1;
                r = j;
                break;
            }
    }
    return r;
}

/* Block size of a f32 or bf16 [N,C,H,W] layout ours can read (plain 1,
 * aBcd8b 8, aBcd16b 16), or 0. */
static int dn_cblock(const dnnl_memory_desc_t *md)
{
    static const dnnl_format_tag_t tags[3] = {dnnl_abcd, dnnl_aBcd8b, dnnl_aBcd16b};
    static const int blk[3] = {1, 8, 16};
    if (md->ndims != 4 || (md->data_type != dnnl_f32 && md->data_type != dnnl_bf16))
        return 0;
    for (int t = 0; t < 3; t++) {
        dnnl_memory_desc_t l;
        if (dnnl_memory_desc_init_by_tag(&l, 4, md->dims, md->data_type, tags[t]) == dnnl_success &&
            dnnl_memory_desc_equal(&l, md))
            return blk[t];
    }
    return 0;
}

/* bf16 (the upper half of a float) to float. */
static inline float dn_bf16f(uint16_t v)
{
    union {
        uint32_t u;
        float f;
    } c = {(uint32_t)v << 16};
    return c.f;
}

/* ShuffleNet's channel shuffle after a channel Concat: Concat -> Reshape
 * [N, g, C/g, H, W] -> Transpose (0, 2, 1, 3, 4) -> Reshape [N, C, H, W], each
 * the only reader of the one before. One pass of ours (dn_shuf_run) writes
 * the shuffled tensor in plain layout, reading each input in the layout it
 * has (a Conv's blocked output needs no reorder to plain first); the Reshapes
 * and the Transpose do not run. The result is f32 (bf16 plans: read by the
 * portable Slice after it, which wants f32). Not in int8 plans. Returns 1
 * when lowered. */
static int dn_shufcat(vl_onnx *m, int j, int tap)
{
    node *n = &m->N[j];
    dn_node *d = &m->dn[j];
    const tensor *Y = &m->T[n->out[0]];
    if (m->prec == VL_PREC_INT8 || Y->ndim != 4 || Y->is_int || norm_axis(attr_int(n, "axis", 0), 4) != 1 ||
        n->nin > 64)
        return 0;
    int r1 = sole_reader(m, n->out[0], tap), t = r1 >= 0 ? sole_reader(m, m->N[r1].out[0], tap) : -1;
    int r2 = t >= 0 ? sole_reader(m, m->N[t].out[0], tap) : -1;
    if (r2 < 0 || m->N[r1].op != OP_RESHAPE || m->N[t].op != OP_TRANSPOSE || m->N[r2].op != OP_RESHAPE ||
        m->N[r1].in[0] != n->out[0] || m->N[r2].in[0] != m->N[t].out[0])
        return 0;
    const tensor *R = &m->T[m->N[r1].out[0]], *U = &m->T[m->N[r2].out[0]];
    int64_t perm[MAXD];
    if (R->ndim != 5 || attr_ints(&m->N[t], "perm", perm, MAXD) != 5 || perm[0] != 0 || perm[1] != 2 || perm[2] != 1 ||
        perm[3] != 3 || perm[4] != 4 || U->ndim != 4)
        return 0;
    if (R->shape[1] < 1 || Y->count < 1 || R->shape[0] != Y->shape[0] || R->shape[1] * R->shape[2] != Y->shape[1] ||
        R->shape[3] != Y->shape[2] ||
        R->shape[4] != Y->shape[3] || U->shape[0] != Y->shape[0] || U->shape[1] != Y->shape[1] ||
        U->shape[2] != Y->shape[2] || U->shape[3] != Y->shape[3])
        return 0;
    for (int k = 0; k < n->nin; k++) {
        const tensor *I = &m->T[n->in[k]];
        if (n->in[k] < 0 || I->ndim != 4 || I->is_int || I->is_const) return 0;
        dnnl_memory_desc_t md = dn_md_of(m, n->in[k]);
        if (!dn_cblock(&md)) return 0;
    }
    for (int k = 0; k < n->nin; k++) {
        dnnl_memory_desc_t md = dn_md_of(m, n->in[k]);
        dn_add_input(m, d, n->in[k], DNNL_ARG_MULTIPLE_SRC + k, &md);
    }
    m->N[r1].live = m->N[t].live = m->N[r2].live = 0;
    n->pout = m->N[r2].out[0];
    dn_tensor *o = &m->dt[n->pout];
    o->md = dn_plain_md(U);
    o->made = 1;
    o->blocked = 0;
    d->groups = (int)R->shape[1];
    d->cat = 2;
    d->on = 1;
    return 1;
}

/* Runs a lowered shuffle (dn_shufcat): concatenated channel s goes to
 * channel (s % (C/g)) * g + s / (C/g). Each task copies one channel block of
 * one input of one image: reads it in order, writes one plane per channel. */
static dnnl_status_t dn_shuf_run(vl_onnx *m, const dn_node *d, const node *n)
{
    const tensor *Y = &m->T[n->pout];
    const int64_t N = Y->shape[0], C = Y->shape[1], HW = Y->shape[2] * Y->shape[3], Cg = C / d->groups;
    float *y = m->T[n->pout].data;
    const void *xp[64];
    int blk[64], half[64];
    int64_t nb[64], first[65], off[64], tasks = 0, choff = 0;
    for (int k = 0; k < d->nin; k++) {
        dnnl_status_t s = dnnl_memory_get_data_handle(d->in[k].mem, (void **)&xp[k]);
        if (s) return s;
        blk[k] = dn_cblock(&d->in[k].md);
        half[k] = d->in[k].md.data_type == dnnl_bf16;
        int64_t Ck = m->T[d->in[k].t].shape[1];
        nb[k] = (Ck + blk[k] - 1) / blk[k];
        first[k] = tasks;
        off[k] = choff;
        tasks += nb[k];
        choff += Ck;
    }
    first[d->nin] = tasks;
#pragma omp parallel for schedule(static) if (N * tasks > 1 && N * C * HW > (1 << 16))
    for (int64_t i = 0; i < N * tasks; i++) {
        int64_t img = i / tasks, q = i % tasks;
        int k = 0;
        while (q >= first[k + 1]) k++;
        const int64_t cb = q - first[k], Ck = m->T[d->in[k].t].shape[1], B = blk[k], at = (img * nb[k] + cb) * HW * B;
        float *dst[16];
        int nl = 0;
        for (int64_t l = 0; l < B && cb * B + l < Ck; l++, nl++) {
            int64_t sc = off[k] + cb * B + l;
            dst[l] = y + (img * C + (sc % Cg) * d->groups + sc / Cg) * HW;
        }
        if (half[k]) {
            const uint16_t *x = (const uint16_t *)xp[k] + at;
            for (int64_t p = 0; p < HW; p++)
                for (int l = 0; l < nl; l++) dst[l][p] = dn_bf16f(x[p * B + l]);
            continue;
        }
        const float *x = (const float *)xp[k] + at;
        if (B == 1) {
            memcpy(dst[0], x, sizeof(float) * (size_t)HW);
        } else if (nl == 16) {
            for (int64_t p = 0; p < HW; p++)
                for (int l = 0; l < 16; l++) dst[l][p] = x[p * 16 + l];
        } else {
            for (int64_t p = 0; p < HW; p++)
                for (int l = 0; l < nl; l++) dst[l][p] = x[p * B + l];
        }
    }
    return dnnl_success;
}

/* BatchNormalization not folded into a Conv (DenseNet's after each Concat):
 * oneDNN's inference kernel on the blocked tensor, with the Relu after it
 * when that is its only reader (fuse_norm_relu). */
static void dn_bnorm(vl_onnx *m, int j)
{
    node *n = &m->N[j];
    dn_node *d = &m->dn[j];
    const tensor *X = &m->T[n->in[0]];
    if (m->prec == VL_PREC_INT8 || X->ndim != 4 || X->is_int || attr_int(n, "training_mode", 0))
        return;
    for (int k = 1; k < 5; k++) {
        const tensor *V = &m->T[n->in[k]];
        if (n->in[k] < 0 || !V->is_const || V->is_int || V->count != X->shape[1]) return;
    }
    int r = -1;
    if (!(n->out[0] != m->output && consumers(m, n->out[0], &r) == 1 && r >= 0 && m->N[r].live &&
          m->N[r].op == OP_RELU))
        r = -1;
    dnnl_memory_desc_t src = dn_md_of(m, n->in[0]);
    unsigned flags = dnnl_use_global_stats | dnnl_use_scale | dnnl_use_shift | (r >= 0 ? dnnl_fuse_norm_relu : 0);
    dnnl_batch_normalization_desc_t bd;
    if (dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_inference, &src, attr_float(n, "epsilon", 1e-5f),
                                                   flags) != dnnl_success ||
        !dn_create_pd(m, d, &bd, NULL))
        return;
    const char *impl = NULL; /* its reference kernel is slower than ours */
    dnnl_primitive_desc_query(d->pd, dnnl_query_impl_info_str, 0, &impl);
    if (!impl || !strncmp(impl, "ref", 3)) {
        dnnl_primitive_desc_destroy(d->pd);
        d->pd = NULL;
        return;
    }
    if (r >= 0) {
        m->N[r].live = 0;
        n->pout = m->N[r].out[0];
    }
    dn_add_input(m, d, n->in[0], DNNL_ARG_SRC, &src);
    dn_set_output(m, d, n->pout);
}

static void dn_eltwise(vl_onnx *m, int j)
{
    node *n = &m->N[j];
    dn_node *d = &m->dn[j];
    float lo = 0.0f, hi = 0.0f;
    dnnl_alg_kind_t alg = n->op == OP_RELU ? dnnl_eltwise_relu : n->op == OP_SIGMOID ? dnnl_eltwise_logistic : dnnl_eltwise_clip;
    if (n->op == OP_CLIP && !clip_bounds(m, n, &lo, &hi))
        return;
    dnnl_memory_desc_t src = m->prec == VL_PREC_INT8 ? dn_md_float(m, n->in[0]) : dn_md_of(m, n->in[0]);
    dnnl_eltwise_desc_t ed;
    if (dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, alg, &src, lo, hi) || !dn_create_pd(m, d, &ed, NULL))
        return;
    dn_add_input(m, d, n->in[0], DNNL_ARG_SRC, &src);
    dn_set_output(m, d, n->out[0]);
}

static void dn_binary(vl_onnx *m, int j)
{
    node *n = &m->N[j];
    dn_node *d = &m->dn[j];
    int ia = n->in[0], ib = n->in[1];
    /* oneDNN broadcasts the second operand only: swap a commutative op's
     * (torchvision's SE blocks write scale * x). */
    if (!same_shape(&m->T[ia], &m->T[n->out[0]]) && (n->op == OP_MUL || n->op == OP_ADD)) {
        ia = n->in[1];
        ib = n->in[0];
    }
    tensor *A = &m->T[ia], *B = &m->T[ib], *Y = &m->T[n->out[0]];
    if (!same_shape(A, Y) || B->ndim != Y->ndim || A->is_int || B->is_int || Y->ndim < 1)
        return;
    /* The full-shape layout: the first operand's, or the second's when only it comes from oneDNN. */
    dnnl_memory_desc_t l = dn_md_of(m, ia), b = dn_md_of(m, ib), dst;
    if (m->prec == VL_PREC_INT8) l = dn_md_float(m, ia), b = dn_md_float(m, ib);
    if (same_shape(B, Y)) {
        if (!m->dt[ia].made) l = b;
        b = l;
    }
    dnnl_alg_kind_t alg = n->op == OP_ADD ? dnnl_binary_add : n->op == OP_SUB ? dnnl_binary_sub
                        : n->op == OP_MUL ? dnnl_binary_mul : dnnl_binary_div;
    if (!same_shape(B, Y) && Y->ndim == 4) {
        /* A broadcast operand blocked unlike the full one (SE: the scale from a
         * nChw16c 1x1 conv, x from a grouped conv's nChw8c) sends oneDNN to its
         * reference kernel: read it in the full operand's layout (C floats to reorder). */
        static const dnnl_format_tag_t tags[] = {dnnl_nChw16c, dnnl_nChw8c, dnnl_nhwc, dnnl_nchw};
        dnnl_dims_t yd = {Y->shape[0], Y->shape[1], Y->shape[2], Y->shape[3]};
        dnnl_dims_t bdims = {B->shape[0], B->shape[1], B->shape[2], B->shape[3]};
        for (size_t t = 0; t < sizeof tags / sizeof *tags; t++) {
            dnnl_memory_desc_t ly;
            if (dnnl_memory_desc_init_by_tag(&ly, 4, yd, l.data_type, tags[t]) == dnnl_success &&
                dnnl_memory_desc_equal(&ly, &l)) {
                dnnl_memory_desc_init_by_tag(&b, 4, bdims, l.data_type, tags[t]);
                break;
            }
        }
    }
    dst = l;
    dnnl_binary_desc_t bd;
    if (dnnl_binary_desc_init(&bd, alg, &l, &b, &dst) || !dn_create_pd(m, d, &bd, NULL)) {
        /* A broadcast operand (SE's [N,C,1,1] scale) in another blocking than
         * the full one (RegNetY: nChw16c against a grouped conv's nChw8c) is
         * refused: read it plain (C floats) rather than run the op on plain copies. */
        if (same_shape(B, Y))
            return;
        b = dn_plain_md(B);
        if (dnnl_binary_desc_init(&bd, alg, &l, &b, &dst) || !dn_create_pd(m, d, &bd, NULL))
            return;
    }
    /* oneDNN's reference binary (e.g. on nChw8c with AVX-512) is ~6x slower
     * than our kernel plus the reorders to plain (RegNetY's SE scaling). */
    const char *impl = NULL;
    dnnl_primitive_desc_query(d->pd, dnnl_query_impl_info_str, 0, &impl);
    if (!impl || !strncmp(impl, "ref", 3)) {
        dnnl_primitive_desc_destroy(d->pd);
        d->pd = NULL;
        return;
    }
    dn_add_input(m, d, ia, DNNL_ARG_SRC_0, &l);
    dn_add_input(m, d, ib, DNNL_ARG_SRC_1, &b);
    dn_set_output(m, d, n->out[0]);
}

/* Chooses the oneDNN steps for the live nodes (after liveness) and which
 * tensors need a plain copy. Returns nonzero on allocation failure. */
static int dn_decide(vl_onnx *m, int tap)
{
    if (!m->eng) {
        if (dnnl_engine_create(&m->eng, dnnl_cpu, 0) != dnnl_success) {
            m->eng = NULL;
            return 0; /* no oneDNN: everything runs on the portable kernels */
        }
        if (dnnl_stream_create(&m->strm, m->eng, dnnl_stream_default_flags) != dnnl_success) {
            dnnl_engine_destroy(m->eng);
            m->eng = NULL;
            m->strm = NULL;
            return 0;
        }
    }
    if (!m->wcache && !(m->wcache = calloc((size_t)m->nn * 2, sizeof(dn_weights))))
        return 1;
    m->dt = calloc((size_t)m->nt, sizeof(dn_tensor));
    m->dn = calloc((size_t)m->nn, sizeof(dn_node));
    if (!m->dt || !m->dn)
        return 1;
    for (int i = 0; i < m->nt; i++)
        m->dt[i].bufi = -1;
    for (int j = 0; j < m->nn; j++) {
        int cap = m->N[j].nin > 2 ? m->N[j].nin : 2;
        m->dn[j].dw = -1;
        m->dn[j].in = calloc((size_t)cap, sizeof(dn_in));
        m->dn[j].args = calloc((size_t)cap + 8, sizeof(dnnl_exec_arg_t));
        if (!m->dn[j].in || !m->dn[j].args)
            return 1;
    }
    for (int j = 0; j < m->nn; j++) {
        node *n = &m->N[j];
        if (!n->live) continue;
        int made = 0;
        for (int k = 0; k < n->nin; k++)
            made |= n->in[k] >= 0 && m->dt[n->in[k]].made;
        switch (vl_ops[n->op].dnnl) {
        case DN_CONV:
            if (m->prec != VL_PREC_INT8 || !dn_conv_int8(m, j, tap)) dn_conv(m, j, tap);
            break;
        case DN_POOL: if (made) dn_pool(m, j); break;
        case DN_ELTWISE: if (made) dn_eltwise(m, j); break;
        case DN_BINARY: if (made) dn_binary(m, j); break;
        case DN_CONCAT: if (made && !dn_shufcat(m, j, tap)) dn_concat(m, j); break;
        case DN_BNORM: if (made) dn_bnorm(m, j); break;
        case DN_NONE: break;
        }
    }
    for (int j = 0; j < m->nn; j++)
        if (m->N[j].live && !m->dn[j].on)
            for (int k = 0; k < m->N[j].nin; k++)
                if (m->N[j].in[k] >= 0) m->dt[m->N[j].in[k]].need_plain = 1;
    m->dt[tap].need_plain = 1;
    return 0;
}

static vl_status dn_fail(vl_onnx *m, const char *what)
{
    return vl_seterr(VL_ERR_NOMEM, "%s: oneDNN: cannot create %s", m->path, what);
}

/* A reorder a -> b multiplying by scales (count values along mask; count 0:
 * none, a plain copy or conversion). */
static vl_status dn_reorder_scaled(vl_onnx *m, const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b,
                                   dnnl_primitive_t *p, int64_t count, int mask, const float *scales)
{
    dnnl_primitive_desc_t pd;
    dnnl_primitive_attr_t attr = NULL;
    if (count && (dnnl_primitive_attr_create(&attr) != dnnl_success ||
                  dnnl_primitive_attr_set_output_scales(attr, count, mask, scales) != dnnl_success)) {
        if (attr) dnnl_primitive_attr_destroy(attr);
        return dn_fail(m, "a reorder");
    }
    dnnl_status_t rs = dnnl_reorder_primitive_desc_create(&pd, a, m->eng, b, m->eng, attr);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (rs != dnnl_success)
        return dn_fail(m, "a reorder");
    dnnl_status_t s = dnnl_primitive_create(p, pd);
    dnnl_primitive_desc_destroy(pd);
    return s == dnnl_success ? VL_OK : dn_fail(m, "a reorder");
}

/* A reorder multiplying by one scale (int8 <-> float); scale 1 is a plain
 * reorder, as fp32 and bf16 plans have everywhere. */
static vl_status dn_reorder_by(vl_onnx *m, const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b, dnnl_primitive_t *p,
                               float scale)
{
    return dn_reorder_scaled(m, a, b, p, scale != 1.0f, 0, &scale);
}

static vl_status dn_reorder(vl_onnx *m, const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b, dnnl_primitive_t *p)
{
    return dn_reorder_scaled(m, a, b, p, 0, 0, NULL);
}

/* Conv node n's weights (and bias) for primitive d, as argument base|WEIGHTS
 * (base|BIAS): base 0 for the convolution, DNNL_ARG_ATTR_POST_OP_DW for a
 * fused depthwise one. The weights are reordered into *buf (owned). */
static vl_status dn_conv_weights(vl_onnx *m, dn_node *d, const node *n, dn_weights *wc, int base,
                                 dnnl_memory_t *wmem, dnnl_memory_t *bmem)
{
    tensor *Wt = &m->T[n->in[1]];
    int64_t g = attr_int(n, "group", 1);
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(d->pd, dnnl_query_exec_arg_md, base | DNNL_ARG_WEIGHTS);
    dnnl_memory_desc_t wplain;
    dnnl_dims_t wd = {g, Wt->shape[0] / g, Wt->shape[1], Wt->shape[2], Wt->shape[3]};
    dnnl_dims_t wd1 = {Wt->shape[0], Wt->shape[1], Wt->shape[2], Wt->shape[3]};
    if (g > 1) dnnl_memory_desc_init_by_tag(&wplain, 5, wd, dnnl_f32, dnnl_goihw);
    else dnnl_memory_desc_init_by_tag(&wplain, 4, wd1, dnnl_f32, dnnl_oihw);
    /* int8: w / wscale[o], rounded to s8 by the reorder (with the s8 source
     * compensation oneDNN's layout may carry) */
    float *inv = NULL;
    if (d->q8) {
        if (!(inv = malloc(sizeof(float) * (size_t)Wt->shape[0])))
            return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
        for (int64_t c = 0; c < Wt->shape[0]; c++) inv[c] = 1.0f / wc->wscale[c];
    }
    if (!wmd || !dnnl_memory_desc_get_size(wmd))
        return dn_fail(m, "the convolution weights");
    int cached = wc->buf && dnnl_memory_desc_equal(&wc->md, wmd);
    if (!cached) { /* first plan, or a layout this plan's primitive wants differently */
        vl_free(wc->buf);
        wc->buf = vl_alloc(dnnl_memory_desc_get_size(wmd));
        if (!wc->buf) return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
        wc->md = *wmd;
    }
    dnnl_memory_t src;
    dnnl_primitive_t r;
    if (dnnl_memory_create(wmem, wmd, m->eng, wc->buf) != dnnl_success)
        return dn_fail(m, "a memory object");
    if (dnnl_memory_create(&src, &wplain, m->eng, Wt->data) != dnnl_success)
        return dn_fail(m, "a memory object");
    vl_status st = cached ? VL_OK
                 : dn_reorder_scaled(m, &wplain, wmd, &r, inv ? Wt->shape[0] : 0, g > 1 ? 3 : 1, inv);
    free(inv);
    if (!st && !cached) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, *wmem}};
        if (dnnl_primitive_execute(r, m->strm, 2, a) != dnnl_success || dnnl_stream_wait(m->strm) != dnnl_success)
            st = dn_fail(m, "the convolution weights");
        dnnl_primitive_destroy(r);
    }
    dnnl_memory_destroy(src);
    if (st) return st;
    d->args[d->nargs++] = (dnnl_exec_arg_t){base | DNNL_ARG_WEIGHTS, *wmem};
    if (n->nin > 2 && n->in[2] >= 0) {
        const dnnl_memory_desc_t *bmd = dnnl_primitive_desc_query_md(d->pd, dnnl_query_exec_arg_md, base | DNNL_ARG_BIAS);
        float *bias = d->q8 ? wc->qbias : m->T[n->in[2]].data;
        if (!bmd || dnnl_memory_create(bmem, bmd, m->eng, bias) != dnnl_success)
            return dn_fail(m, "a memory object");
        d->args[d->nargs++] = (dnnl_exec_arg_t){base | DNNL_ARG_BIAS, *bmem};
    }
    return VL_OK;
}

/* After allocation: memory objects, primitives, weights in their layouts. */
static vl_status dn_bind(vl_onnx *m)
{
    if (!m->dn)
        return VL_OK;
    for (int i = 0; i < m->nt; i++) {
        dn_tensor *t = &m->dt[i];
        tensor *T = &m->T[i];
        int used = t->made;
        for (int j = 0; j < m->nn && !used; j++)
            if (m->dn[j].on) {
                for (int k = 0; k < m->dn[j].nin; k++) used |= m->dn[j].in[k].t == i;
                used |= m->N[j].pres == i;
            }
        if (!used) continue;
        dnnl_memory_desc_t md = dn_md_of(m, i), plain = dn_plain_md(T);
        if (dnnl_memory_create(&t->mem, &md, m->eng, t->blocked ? (void *)t->buf : (void *)T->data) != dnnl_success)
            return dn_fail(m, "a memory object");
        if (t->blocked && t->need_plain) {
            if (dnnl_memory_create(&t->pmem, &plain, m->eng, T->data) != dnnl_success)
                return dn_fail(m, "a memory object");
            vl_status st = dn_reorder_by(m, &md, &plain, &t->to_plain, dn_tscale(m, i));
            if (st) return st;
        }
    }
    size_t scratch = 0;
    for (int j = 0; j < m->nn; j++) {
        dn_node *d = &m->dn[j];
        if (!d->on) continue;
        if (d->cat) continue;
        size_t s = dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(d->pd, dnnl_query_scratchpad_md, 0));
        if (s > scratch) scratch = s;
    }
    if (scratch) {
        m->dn_scratch = vl_alloc(scratch);
        if (!m->dn_scratch) return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
    }
    for (int j = 0; j < m->nn; j++) {
        dn_node *d = &m->dn[j];
        node *n = &m->N[j];
        if (!d->on) continue;
        dn_tensor *o = &m->dt[n->pout];
        vl_status st = VL_OK;
        if (!d->cat && dnnl_primitive_create(&d->prim, d->pd) != dnnl_success)
            return dn_fail(m, "a primitive");
        for (int k = 0; k < d->nin; k++) {
            dn_in *in = &d->in[k];
            if (!in->reorder) {
                in->mem = m->dt[in->t].mem;
            } else {
                dnnl_memory_desc_t have = dn_md_of(m, in->t);
                if (dnnl_memory_create(&in->mem, &in->md, m->eng, in->buf) != dnnl_success)
                    return dn_fail(m, "a memory object");
                float sc = dn_tscale(m, in->t) / (in->scale > 0 ? in->scale : 1.0f);
                if ((st = dn_reorder_by(m, &have, &in->md, &in->prim, sc))) return st;
            }
            d->args[d->nargs++] = (dnnl_exec_arg_t){in->arg, in->mem};
        }
        d->args[d->nargs++] = (dnnl_exec_arg_t){DNNL_ARG_DST, o->mem};
        const dnnl_memory_desc_t *smd = d->cat ? NULL : dnnl_primitive_desc_query_md(d->pd, dnnl_query_scratchpad_md, 0);
        if (smd && dnnl_memory_desc_get_size(smd)) {
            if (dnnl_memory_create(&d->smem, smd, m->eng, m->dn_scratch) != dnnl_success)
                return dn_fail(m, "a memory object");
            d->args[d->nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, d->smem};
        }
        if (n->op == OP_BN) { /* the constant per-channel vectors, read in place */
            static const int arg[4] = {DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE};
            for (int k = 0; k < 4; k++) {
                const dnnl_memory_desc_t *vmd = dnnl_primitive_desc_query_md(d->pd, dnnl_query_exec_arg_md, arg[k]);
                if (!vmd || dnnl_memory_create(&d->bnm[k], vmd, m->eng, m->T[n->in[k + 1]].data) != dnnl_success)
                    return dn_fail(m, "a memory object");
                d->args[d->nargs++] = (dnnl_exec_arg_t){arg[k], d->bnm[k]};
            }
            continue;
        }
        if (n->op != OP_CONV) continue;
        /* Weights: reordered once per plan into the primitive's layout. */
        if ((st = dn_conv_weights(m, d, n, &m->wcache[2 * j], 0, &d->wmem, &d->bmem)))
            return st;
        if (d->dw >= 0 && (st = dn_conv_weights(m, d, &m->N[d->dw], &m->wcache[2 * j + 1], DNNL_ARG_ATTR_POST_OP_DW,
                                                &d->dwmem, &d->dwbmem)))
            return st;
        if (n->pres >= 0 && !n->pinplace) {
            dnnl_memory_desc_t rmd = dn_md_of(m, n->pres);
            if (d->q8) { /* int8: copied as it is (the sum post-op scales it) into the destination's buffer */
                dnnl_memory_desc_t tmd = o->md;
                tmd.data_type = rmd.data_type;
                if (dnnl_memory_create(&d->resmem, &tmd, m->eng, o->blocked ? (void *)o->buf : (void *)m->T[n->pout].data) !=
                    dnnl_success)
                    return dn_fail(m, "a memory object");
                if ((st = dn_reorder(m, &rmd, &tmd, &d->res_copy))) return st;
            } else if ((st = dn_reorder_by(m, &rmd, &o->md, &d->res_copy, dn_tscale(m, n->pres)))) {
                return st;
            }
        }
    }
    return VL_OK;
}

static vl_status dn_exec(vl_onnx *m, int j)
{
    dn_node *d = &m->dn[j];
    node *n = &m->N[j];
    dnnl_status_t s = dnnl_success;
    for (int k = 0; k < d->nin && !s; k++)
        if (d->in[k].prim) {
            dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, m->dt[d->in[k].t].mem}, {DNNL_ARG_TO, d->in[k].mem}};
            s = dnnl_primitive_execute(d->in[k].prim, m->strm, 2, a);
        }
    if (!s && d->res_copy) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, m->dt[n->pres].mem}, {DNNL_ARG_TO, d->resmem ? d->resmem : m->dt[n->pout].mem}};
        s = dnnl_primitive_execute(d->res_copy, m->strm, 2, a);
    }
    if (!s)
        s = d->cat == 2 ? dn_shuf_run(m, d, n)
          : d->cat ? dn_cat_run(m, d, n) : dnnl_primitive_execute(d->prim, m->strm, d->nargs, d->args);
    dn_tensor *o = &m->dt[n->pout];
    if (!s && o->to_plain) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, o->mem}, {DNNL_ARG_TO, o->pmem}};
        s = dnnl_primitive_execute(o->to_plain, m->strm, 2, a);
    }
    if (s)
        return vl_seterr(VL_ERR_IO, "%s: node '%s' (%s): oneDNN execution failed (status %d)", m->path,
                         n->name, vl_ops[n->op].name, (int)s);
    return VL_OK;
}

static void dn_free_plan(vl_onnx *m)
{
    if (m->dn) {
        for (int j = 0; j < m->nn; j++) {
            dn_node *d = &m->dn[j];
            for (int k = 0; k < d->nin; k++) {
                if (d->in[k].prim) dnnl_primitive_destroy(d->in[k].prim);
                if (d->in[k].reorder && d->in[k].mem) dnnl_memory_destroy(d->in[k].mem);
            }
            if (d->prim) dnnl_primitive_destroy(d->prim);
            if (d->pd) dnnl_primitive_desc_destroy(d->pd);
            if (d->res_copy) dnnl_primitive_destroy(d->res_copy);
            if (d->wmem) dnnl_memory_destroy(d->wmem);
            if (d->bmem) dnnl_memory_destroy(d->bmem);
            if (d->smem) dnnl_memory_destroy(d->smem);
            if (d->dwmem) dnnl_memory_destroy(d->dwmem);
            if (d->dwbmem) dnnl_memory_destroy(d->dwbmem);
            if (d->resmem) dnnl_memory_destroy(d->resmem);
            for (int k = 0; k < 4; k++)
                if (d->bnm[k]) dnnl_memory_destroy(d->bnm[k]);
            free(d->in);
            free(d->args);
        }
    }
    if (m->dt) {
        for (int i = 0; i < m->nt; i++) {
            dn_tensor *t = &m->dt[i];
            if (t->mem) dnnl_memory_destroy(t->mem);
            if (t->pmem) dnnl_memory_destroy(t->pmem);
            if (t->to_plain) dnnl_primitive_destroy(t->to_plain);
        }
    }
    free(m->dn);
    free(m->dt);
    m->dn = NULL;
    m->dt = NULL;
    vl_free(m->dn_scratch);
    m->dn_scratch = NULL;
}

/* ---- what planning and running call ---- */

int vl_dn_available(void) { return 1; }

/* 1 when oneDNN can run bf16 convolutions natively here (AVX512-BF16 or
 * AMX); its effective ISA already honours ONEDNN_MAX_CPU_ISA. */
int vl_dn_bf16_native(void)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

/* 1 when oneDNN has int8 dot-product instructions here (AVX512-VNNI,
 * AVX-VNNI, or AMX, whose ISA includes VNNI). Without them int8 runs
 * (slowly) with 16-bit products, and oneDNN halves the weights' range. */
int vl_dn_int8_native(void)
{
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    unsigned vnni512 = (unsigned)dnnl_cpu_isa_avx512_core_vnni, vnni2 = (unsigned)dnnl_cpu_isa_avx2_vnni;
    return (isa & vnni512) == vnni512 || (isa & vnni2) == vnni2;
}

int vl_dn_decide(vl_onnx *m, int tap) { return m->no_dnnl ? 0 : dn_decide(m, tap); }

int vl_dn_on(const vl_onnx *m, int j) { return m->dn && m->dn[j].on; }

/* Buffers for node j's inputs that a primitive reads in another layout. */
vl_status vl_dn_plan_inputs(vl_onnx *m, int j, arena *a)
{
    dn_node *d = m->dn ? &m->dn[j] : NULL;
    vl_status st = VL_OK;
    for (int k = 0; d && d->on && k < d->nin && !st; k++)
        if (d->in[k].reorder) {
            d->in[k].bufi = arena_get(m, a, dn_floats(dnnl_memory_desc_get_size(&d->in[k].md)));
            if (d->in[k].bufi < 0) st = VL_ERR_NOMEM;
            else a->busy[d->in[k].bufi] = 1, d->in[k].buf = m->blocks[d->in[k].bufi];
        }
    return st;
}

void vl_dn_plan_inputs_done(vl_onnx *m, int j, arena *a)
{
    dn_node *d = m->dn ? &m->dn[j] : NULL;
    for (int k = 0; d && d->on && k < d->nin; k++)
        if (d->in[k].bufi >= 0) a->busy[d->in[k].bufi] = 0;
}

/* Output k (tensor ti) of node j: accumulating into the residual's block
 * (*from), a blocked-layout buffer. 1: no plain buffer needed, -1: out of memory. */
int vl_dn_plan_output(vl_onnx *m, int j, int k, int ti, arena *a, int *from)
{
    node *n = &m->N[j];
    if (k == 0 && n->pres >= 0 && m->T[n->pres].last_use == j && n->pres != m->input && n->pres != n->in[0]) {
        dn_tensor *r = &m->dt[n->pres];
        dnnl_memory_desc_t rmd = dn_md_of(m, n->pres);
        int rb = r->blocked ? r->bufi : m->T[n->pres].buf;
        /* (int8: an s8 residual under a u8 result is fine: the sum post-op reads it as s8) */
        dnnl_memory_desc_t omd = m->dt[ti].md;
        if (dn_is_int8(rmd.data_type) && dn_is_int8(omd.data_type) && m->dn[j].q8) omd.data_type = rmd.data_type;
        if (rb >= 0 && dnnl_memory_desc_equal(&rmd, &omd)) {
            n->pinplace = 1;
            *from = rb;
            if (r->blocked) r->bufi = -1;
            else m->T[n->pres].buf = -1;
        }
    }
    if (m->dt && m->dt[ti].blocked) {
        dn_tensor *o = &m->dt[ti];
        o->bufi = *from >= 0 ? *from : arena_get(m, a, o->bsize);
        if (o->bufi < 0) return -1;
        a->busy[o->bufi] = 1;
        o->buf = m->blocks[o->bufi];
        if (!o->need_plain) return 1;
        *from = -1;
    }
    return 0;
}

void vl_dn_release(vl_onnx *m, arena *a, int ti)
{
    if (m->dt && m->dt[ti].bufi >= 0) a->busy[m->dt[ti].bufi] = 0;
}

vl_status vl_dn_bind(vl_onnx *m) { return dn_bind(m); }

vl_status vl_dn_set_input(vl_onnx *m, const float *input)
{
    if (m->dt && m->dt[m->input].mem && dnnl_memory_set_data_handle(m->dt[m->input].mem, (void *)input) != dnnl_success)
        return vl_seterr(VL_ERR_IO, "%s: oneDNN: cannot set the input", m->path);
    return VL_OK;
}

vl_status vl_dn_exec(vl_onnx *m, int j) { return dn_exec(m, j); }

vl_status vl_dn_wait(vl_onnx *m)
{
    if (m->strm && dnnl_stream_wait(m->strm) != dnnl_success)
        return vl_seterr(VL_ERR_IO, "%s: oneDNN: stream failed", m->path);
    return VL_OK;
}

void vl_dn_free_plan(vl_onnx *m) { dn_free_plan(m); }

void vl_dn_free(vl_onnx *m)
{
    for (int j = 0; m->wcache && j < 2 * m->nn; j++) {
        vl_free(m->wcache[j].buf);
        free(m->wcache[j].wscale);
        free(m->wcache[j].qbias);
    }
    free(m->wcache);
    if (m->strm) dnnl_stream_destroy(m->strm);
    if (m->eng) dnnl_engine_destroy(m->eng);
}

#else /* no oneDNN: every node runs on its reference kernel */

int vl_dn_available(void) { return 0; }
int vl_dn_bf16_native(void) { return 0; }
int vl_dn_int8_native(void) { return 0; }
int vl_dn_decide(vl_onnx *m, int tap) { (void)m, (void)tap; return 0; }
int vl_dn_on(const vl_onnx *m, int j) { (void)m, (void)j; return 0; }
vl_status vl_dn_plan_inputs(vl_onnx *m, int j, arena *a) { (void)m, (void)j, (void)a; return VL_OK; }
void vl_dn_plan_inputs_done(vl_onnx *m, int j, arena *a) { (void)m, (void)j, (void)a; }
int vl_dn_plan_output(vl_onnx *m, int j, int k, int ti, arena *a, int *from)
{
    (void)m, (void)j, (void)k, (void)ti, (void)a, (void)from;
    return 0;
}
void vl_dn_release(vl_onnx *m, arena *a, int ti) { (void)m, (void)a, (void)ti; }
vl_status vl_dn_bind(vl_onnx *m) { (void)m; return VL_OK; }
vl_status vl_dn_set_input(vl_onnx *m, const float *input) { (void)m, (void)input; return VL_OK; }
vl_status vl_dn_exec(vl_onnx *m, int j) { (void)m, (void)j; return VL_OK; }
vl_status vl_dn_wait(vl_onnx *m) { (void)m; return VL_OK; }
void vl_dn_free_plan(vl_onnx *m) { (void)m; }
void vl_dn_free(vl_onnx *m) { (void)m; }

#endif /* VL_BLAS_DNNL */
