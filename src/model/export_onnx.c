/* vl_model_export_onnx: a trained model file as a standard ONNX graph for
 * serving runtimes (ONNX Runtime, OpenVINO, TensorRT). docs/deploy.md.
 *
 * Graph (per ensemble member m; norm and mask are shared):
 *   features [B,T,D] --Sub mean, Div std--> Transpose --> [T,B,D]
 *   --LSTM/GRU (ONNX operators, sequence_lens)--> Y [T,dirs,B,H]
 *   --Transpose [0,2,1,3], Reshape [T,B,dirs*H]--> next layer ...
 *   last:     Y_h [dirs,B,H] --Transpose, Reshape--> [B,W] --Gemm--> [B,C]
 *   mean:     sum_t(mask * h) / len                 --Gemm--> [B,C]
 *   sequence: [T,B,W] --Transpose, MatMul, Add--> [B,T,C], times the mask
 *   classify: Softmax; ensemble: Sum of the members, times 1/K.
 * Y_h is exactly what net.c's "last" summary takes: the forward state at each
 * sequence's last valid step and, for a bidirectional layer, the backward
 * direction's final state, i.e. its output at t = 0 (PyTorch's h_n).
 * Everything is built with the protobuf-c types generated from onnx.proto
 * (the ones the ONNX loader reads); every allocation is tracked in `eb` so
 * one free releases the whole model. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/atomic.h"
#include "core/json.h"
#include "model/modelfile.h"
#include "model/net_internal.h"
#include "onnx.pb-c.h"

#define OPSET 14 /* LSTM/GRU-14, Softmax-13 (last axis), Unsqueeze/ReduceSum-13 (axes as inputs) */

typedef struct {
    void **ptrs;
    size_t np, cap;
    int failed;
    Onnx__NodeProto **nodes;
    size_t nn, capn;
    Onnx__TensorProto **inits;
    size_t ni, capi;
    int64_t nparams;
} eb;

static void *track(eb *e, void *p)
{
    if (!p) {
        e->failed = 1;
        return NULL;
    }
    if (e->np == e->cap) {
        size_t nc = e->cap ? 2 * e->cap : 256;
        void **q = realloc(e->ptrs, nc * sizeof *q);
        if (!q) {
            free(p);
            e->failed = 1;
            return NULL;
        }
        e->ptrs = q;
        e->cap = nc;
    }
    e->ptrs[e->np++] = p;
    return p;
}

static void *ealloc(eb *e, size_t n) { return track(e, calloc(1, n ? n : 1)); }

static char *estr(eb *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *estr(eb *e, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return track(e, strdup(buf));
}

static void push(eb *e, void ***arr, size_t *n, size_t *cap, void *item)
{
    if (!item)
        return;
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        void **q = realloc(*arr, nc * sizeof *q);
        if (!q) {
            e->failed = 1;
            return;
        }
        *arr = q;
        *cap = nc;
    }
    (*arr)[(*n)++] = item;
}

/* A float initializer (raw little-endian bytes: the compact form every runtime reads). */
static const char *init_f(eb *e, const char *name, int nd, const int64_t *dims, const float *v)
{
    Onnx__TensorProto *t = ealloc(e, sizeof *t);
    if (!t)
        return "";
    onnx__tensor_proto__init(t);
    t->name = estr(e, "%s", name);
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->has_data_type = 1;
    t->n_dims = (size_t)nd;
    t->dims = ealloc(e, sizeof(int64_t) * (size_t)(nd ? nd : 1));
    int64_t c = 1;
    for (int i = 0; i < nd && t->dims; i++) {
        t->dims[i] = dims[i];
        c *= dims[i];
    }
    t->raw_data.data = ealloc(e, sizeof(float) * (size_t)c);
    if (t->raw_data.data && v)
        memcpy(t->raw_data.data, v, sizeof(float) * (size_t)c); /* the build is little-endian (modelfile.c too) */
    t->raw_data.len = sizeof(float) * (size_t)c;
    t->has_raw_data = 1;
    e->nparams += c;
    push(e, (void ***)&e->inits, &e->ni, &e->capi, t);
    return t->name ? t->name : "";
}

static const char *init_i64(eb *e, const char *name, int nd, int64_t n, const int64_t *v)
{
    Onnx__TensorProto *t = ealloc(e, sizeof *t);
    if (!t)
        return "";
    onnx__tensor_proto__init(t);
    t->name = estr(e, "%s", name);
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t->has_data_type = 1;
    t->n_dims = (size_t)nd; /* 0: a scalar, 1: a vector of n */
    t->dims = ealloc(e, sizeof(int64_t));
    if (t->dims)
        t->dims[0] = n;
    t->n_int64_data = (size_t)n;
    t->int64_data = ealloc(e, sizeof(int64_t) * (size_t)n);
    if (t->int64_data)
        memcpy(t->int64_data, v, sizeof(int64_t) * (size_t)n);
    push(e, (void ***)&e->inits, &e->ni, &e->capi, t);
    return t->name ? t->name : "";
}

static Onnx__NodeProto *node(eb *e, const char *op, const char *name, int nin, const char *const *in, int nout,
                             const char *const *out)
{
    Onnx__NodeProto *n = ealloc(e, sizeof *n);
    if (!n)
        return NULL;
    onnx__node_proto__init(n);
    n->op_type = estr(e, "%s", op);
    n->name = estr(e, "%s", name);
    n->n_input = (size_t)nin;
    n->input = ealloc(e, sizeof(char *) * (size_t)nin);
    for (int i = 0; i < nin && n->input; i++)
        n->input[i] = estr(e, "%s", in[i]);
    n->n_output = (size_t)nout;
    n->output = ealloc(e, sizeof(char *) * (size_t)nout);
    for (int i = 0; i < nout && n->output; i++)
        n->output[i] = estr(e, "%s", out[i]);
    push(e, (void ***)&e->nodes, &e->nn, &e->capn, n);
    return n;
}

/* One-output node whose output is named after the node. Returns the output's name. */
static const char *op1(eb *e, const char *op, const char *out, int nin, const char *const *in)
{
    const char *o[1] = {out};
    node(e, op, out, nin, in, 1, o);
    return out;
}

static Onnx__AttributeProto *add_attr(eb *e, Onnx__NodeProto *n, const char *name, Onnx__AttributeProto__AttributeType ty)
{
    if (!n)
        return NULL;
    Onnx__AttributeProto *a = ealloc(e, sizeof *a);
    Onnx__AttributeProto **q = realloc(n->attribute, sizeof *q * (n->n_attribute + 1));
    if (!a || !q) {
        free(q);
        e->failed = 1;
        return NULL;
    }
    /* the attribute array itself is realloc'ed: track only its final block (see eb_free) */
    n->attribute = q;
    onnx__attribute_proto__init(a);
    a->name = estr(e, "%s", name);
    a->type = ty;
    a->has_type = 1;
    n->attribute[n->n_attribute++] = a;
    return a;
}

static void attr_int(eb *e, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = add_attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a)
        a->i = v, a->has_i = 1;
}

static void attr_ints(eb *e, Onnx__NodeProto *n, const char *name, int cnt, const int64_t *v)
{
    Onnx__AttributeProto *a = add_attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    if (!a)
        return;
    a->ints = ealloc(e, sizeof(int64_t) * (size_t)cnt);
    if (a->ints) {
        memcpy(a->ints, v, sizeof(int64_t) * (size_t)cnt);
        a->n_ints = (size_t)cnt;
    }
}

static void attr_str(eb *e, Onnx__NodeProto *n, const char *name, const char *s)
{
    Onnx__AttributeProto *a = add_attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    if (!a)
        return;
    a->s.data = (uint8_t *)estr(e, "%s", s);
    a->s.len = a->s.data ? strlen(s) : 0;
    a->has_s = 1;
}

static void eb_free(eb *e)
{
    for (size_t i = 0; i < e->nn; i++)
        free(e->nodes[i]->attribute);
    for (size_t i = 0; i < e->np; i++)
        free(e->ptrs[i]);
    free(e->ptrs);
    free(e->nodes);
    free(e->inits);
}

/* ---- the network ------------------------------------------------------------------- */

static const char *transpose(eb *e, const char *x, const char *out, int nd, const int64_t *perm)
{
    const char *in[1] = {x};
    op1(e, "Transpose", out, 1, in);
    attr_ints(e, e->nodes[e->nn - 1], "perm", nd, perm);
    return out;
}

/* ONNX's gate blocks from PyTorch's: LSTM i,f,g,o -> i,o,f,c(=g); GRU r,z,n -> z,r,h(=n). */
static const int LSTM_FROM[4] = {0, 3, 1, 2}, GRU_FROM[3] = {1, 0, 2};

static void reorder_gates(const float *src, float *dst, int G, int H, size_t cols, int lstm)
{
    for (int g = 0; g < G; g++) {
        int from = lstm ? LSTM_FROM[g] : GRU_FROM[g];
        memcpy(dst + (size_t)g * H * cols, src + (size_t)from * H * cols, sizeof(float) * (size_t)H * cols);
    }
}

/* One recurrent layer: W [dirs,G*H,in], R [dirs,G*H,H], B [dirs,2*G*H] in ONNX's
 * gate order; returns the ONNX node (outputs Y and, when yh is given, Y_h). */
static Onnx__NodeProto *rnn_layer(eb *e, vl_net *net, const net_layer *L, const char *pre, const char *x,
                                  const char *y, const char *yh)
{
    const int lstm = L->def->cell_state, ng = L->def->gates, H = L->H, dirs = L->dirs, din = L->din;
    const size_t GH = (size_t)ng * H;
    float *w = malloc(sizeof(float) * (size_t)dirs * GH * (size_t)din);
    float *r = malloc(sizeof(float) * (size_t)dirs * GH * (size_t)H);
    float *b = malloc(sizeof(float) * (size_t)dirs * 2 * GH);
    if (!w || !r || !b) {
        free(w), free(r), free(b);
        e->failed = 1;
        return NULL;
    }
    for (int d = 0; d < dirs; d++) {
        const net_param *P = &net->P[L->first_param + 4 * d];
        reorder_gates(net->params + P[0].offset, w + (size_t)d * GH * din, ng, H, (size_t)din, lstm);
        reorder_gates(net->params + P[1].offset, r + (size_t)d * GH * H, ng, H, (size_t)H, lstm);
        reorder_gates(net->params + P[2].offset, b + (size_t)d * 2 * GH, ng, H, 1, lstm);
        reorder_gates(net->params + P[3].offset, b + (size_t)d * 2 * GH + GH, ng, H, 1, lstm);
    }
    char nm[128];
    int64_t dw[3] = {dirs, (int64_t)GH, din}, dr[3] = {dirs, (int64_t)GH, H}, db[2] = {dirs, 2 * (int64_t)GH};
    snprintf(nm, sizeof nm, "%sl%d.W", pre, L->rec_index);
    const char *wn = init_f(e, nm, 3, dw, w);
    snprintf(nm, sizeof nm, "%sl%d.R", pre, L->rec_index);
    const char *rn = init_f(e, nm, 3, dr, r);
    snprintf(nm, sizeof nm, "%sl%d.B", pre, L->rec_index);
    const char *bn = init_f(e, nm, 2, db, b);
    free(w), free(r), free(b);
    const char *in[5] = {x, wn, rn, bn, "sequence_lens"};
    const char *out[2] = {y, yh};
    Onnx__NodeProto *n = node(e, L->def->title, y, 5, in, yh ? 2 : 1, out); /* ONNX's LSTM / GRU */
    attr_int(e, n, "hidden_size", H);
    attr_str(e, n, "direction", dirs == 2 ? "bidirectional" : "forward");
    if (!lstm)
        attr_int(e, n, "linear_before_reset", 1); /* PyTorch applies r to (W_hn h + b_hn) */
    return n;
}

typedef struct {
    const char *x_tm;    /* normalised input, time-major [T,B,D] */
    const char *mask;    /* [T,B,1] 1 at valid steps, or NULL */
    const char *mask_bt; /* [B,T,1] */
    const char *lens_f;  /* [B,1] lengths as floats */
    const char *shape_tbw, *shape_bw, *axis0, *last2; /* constant operands */
} shared;

/* Member k's graph up to its probabilities (classify) or values (regress). */
static const char *member_graph(eb *e, vl_net *net, int k, shared *s)
{
    const vl_net_config *cfg = &net->cfg;
    char pre[32];
    snprintf(pre, sizeof pre, "m%d.", k);
    const char *h = s->x_tm, *summary = NULL;
    const int64_t p0213[4] = {0, 2, 1, 3}, p102[3] = {1, 0, 2};
    for (int l = 0; l < net->nl; l++) {
        const net_layer *L = &net->L[l];
        if (!is_rec(L->kind))
            continue; /* dropout: identity at inference; mean: below */
        /* a clip model's summary is the last recurrent layer's Y_h: its Y goes unused */
        const int summarise = l == net->last_rec && cfg->mode == VL_OUT_LAST && !net->mean_pool;
        const char *y = estr(e, "%sl%d.Y", pre, L->rec_index);
        const char *yh = summarise ? estr(e, "%sl%d.Y_h", pre, L->rec_index) : NULL;
        rnn_layer(e, net, L, pre, h, y, yh);
        if (summarise) {
            const char *ht = transpose(e, yh, estr(e, "%sl%d.Y_h_bdh", pre, L->rec_index), 3, p102);
            if (!s->shape_bw) {
                const int64_t bw[2] = {0, -1};
                s->shape_bw = init_i64(e, "shape_bw", 1, 2, bw);
            }
            const char *in2[2] = {ht, s->shape_bw};
            summary = op1(e, "Reshape", estr(e, "%ssummary", pre), 2, in2);
            continue;
        }
        const char *yt = transpose(e, y, estr(e, "%sl%d.Y_tbdh", pre, L->rec_index), 4, p0213);
        if (!s->shape_tbw) {
            const int64_t tbw[3] = {0, 0, -1};
            s->shape_tbw = init_i64(e, "shape_tbw", 1, 3, tbw);
        }
        const char *in[2] = {yt, s->shape_tbw};
        h = op1(e, "Reshape", estr(e, "%sl%d.out", pre, L->rec_index), 2, in);
    }
    const int C = cfg->outputs, W = net->width;
    const float *fw = net->params + net->P[net->fc_param].offset, *fb = net->params + net->P[net->fc_param + 1].offset;
    const char *out;
    if (net->mean_pool) {
        const char *in[2] = {h, s->mask};
        const char *hm = op1(e, "Mul", estr(e, "%smasked", pre), 2, in);
        const char *in2[2] = {hm, s->axis0};
        const char *sum = op1(e, "ReduceSum", estr(e, "%ssum", pre), 2, in2);
        attr_int(e, e->nodes[e->nn - 1], "keepdims", 0);
        const char *in3[2] = {sum, s->lens_f};
        summary = op1(e, "Div", estr(e, "%ssummary", pre), 2, in3);
    }
    if (summary) {
        int64_t dw[2] = {C, W}, db[1] = {C};
        const char *in[3] = {summary, init_f(e, estr(e, "%sfc.weight", pre), 2, dw, fw),
                             init_f(e, estr(e, "%sfc.bias", pre), 1, db, fb)};
        out = op1(e, "Gemm", estr(e, "%sfc", pre), 3, in);
        attr_int(e, e->nodes[e->nn - 1], "transB", 1);
    } else { /* sequence: [T,B,W] -> [B,T,W] @ fc.weight^T + fc.bias */
        const char *hb = transpose(e, h, estr(e, "%sbtw", pre), 3, p102);
        float *wt = malloc(sizeof(float) * (size_t)C * W);
        if (!wt) {
            e->failed = 1;
            return "";
        }
        for (int c = 0; c < C; c++)
            for (int j = 0; j < W; j++)
                wt[(size_t)j * C + c] = fw[(size_t)c * W + j];
        int64_t dw[2] = {W, C}, db[1] = {C};
        const char *in[2] = {hb, init_f(e, estr(e, "%sfc.weight_t", pre), 2, dw, wt)};
        free(wt);
        const char *mm = op1(e, "MatMul", estr(e, "%sfc.matmul", pre), 2, in);
        const char *in2[2] = {mm, init_f(e, estr(e, "%sfc.bias", pre), 1, db, fb)};
        out = op1(e, "Add", estr(e, "%sfc", pre), 2, in2);
    }
    if (cfg->task == VL_TASK_CLASSIFY) {
        const char *in[1] = {out};
        out = op1(e, "Softmax", estr(e, "%sprobabilities", pre), 1, in);
        attr_int(e, e->nodes[e->nn - 1], "axis", -1);
    }
    if (cfg->mode == VL_OUT_SEQUENCE) { /* padded steps are zeros, as vl_net_forward writes them */
        const char *in[2] = {out, s->mask_bt};
        out = op1(e, "Mul", estr(e, "%soutput", pre), 2, in);
    }
    return out;
}

static Onnx__ValueInfoProto *value_info(eb *e, const char *name, int elem, int nd, const char *const *dims,
                                        const int64_t *vals)
{
    Onnx__ValueInfoProto *vi = ealloc(e, sizeof *vi);
    Onnx__TypeProto *tp = ealloc(e, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = ealloc(e, sizeof *tt);
    Onnx__TensorShapeProto *sp = ealloc(e, sizeof *sp);
    Onnx__TensorShapeProto__Dimension **dd = ealloc(e, sizeof *dd * (size_t)nd);
    if (!vi || !tp || !tt || !sp || !dd)
        return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sp);
    vi->name = estr(e, "%s", name);
    for (int i = 0; i < nd; i++) {
        Onnx__TensorShapeProto__Dimension *d = ealloc(e, sizeof *d);
        if (!d)
            return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i]) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = estr(e, "%s", dims[i]);
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = vals[i];
        }
        dd[i] = d;
    }
    sp->n_dim = (size_t)nd;
    sp->dim = dd;
    tt->elem_type = elem;
    tt->has_elem_type = 1;
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    return vi;
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static vl_status write_atomic(const char *out, const uint8_t *buf, size_t len)
{
    return vl_write_file_atomic(out, buf, len);
}

static Onnx__StringStringEntryProto *prop(eb *e, const char *k, const char *v)
{
    Onnx__StringStringEntryProto *p = ealloc(e, sizeof *p);
    if (!p)
        return NULL;
    onnx__string_string_entry_proto__init(p);
    p->key = estr(e, "%s", k);
    p->value = track(e, strdup(v ? v : ""));
    return p;
}

static vl_status build(eb *e, vl_net *net, const vl_model_meta *meta, const char *path, uint8_t **buf, size_t *len,
                       vl_export_info *info)
{
    const vl_net_config *cfg = &net->cfg;
    const int K = vl_net_num_members(net), D = cfg->input, C = cfg->outputs;
    const int seq = cfg->mode == VL_OUT_SEQUENCE, cls = cfg->task == VL_TASK_CLASSIFY;
    shared s = {0};
    const char *x = "features";
    if (meta->norm_mean && meta->norm_std) {
        int64_t dd[1] = {D};
        const char *in[2] = {x, init_f(e, "norm.mean", 1, dd, meta->norm_mean)};
        x = op1(e, "Sub", "norm.centred", 2, in);
        const char *in2[2] = {x, init_f(e, "norm.std", 1, dd, meta->norm_std)};
        x = op1(e, "Div", "norm.out", 2, in2);
    }
    const int64_t p102[3] = {1, 0, 2};
    s.x_tm = transpose(e, x, "features_tbd", 3, p102);
    const int64_t zero = 0, one = 1, ax1 = 1, ax2 = 2;
    int mean_any = 0;
    for (int k = 0; k < K; k++)
        mean_any |= vl_net_member(net, k)->mean_pool;
    if (mean_any || seq) {
        /* mask[t,b] = t < sequence_lens[b], from standard shape operators */
        const char *sh = op1(e, "Shape", "mask.shape", 1, (const char *[]){"features"});
        const char *g = op1(e, "Gather", "mask.T", 2, (const char *[]){sh, init_i64(e, "mask.one", 0, 1, &one)});
        const char *r = op1(e, "Range", "mask.t", 3,
                            (const char *[]){init_i64(e, "mask.start", 0, 1, &zero), g, "mask.one"});
        const char *r2 = op1(e, "Unsqueeze", "mask.t_col", 2, (const char *[]){r, init_i64(e, "axes_1", 1, 1, &ax1)});
        const char *l64 = op1(e, "Cast", "mask.lens64", 1, (const char *[]){"sequence_lens"});
        attr_int(e, e->nodes[e->nn - 1], "to", ONNX__TENSOR_PROTO__DATA_TYPE__INT64);
        const char *lt = op1(e, "Less", "mask.valid", 2, (const char *[]){r2, l64});
        const char *mf = op1(e, "Cast", "mask.tb", 1, (const char *[]){lt});
        attr_int(e, e->nodes[e->nn - 1], "to", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
        s.mask = op1(e, "Unsqueeze", "mask.tb1", 2, (const char *[]){mf, init_i64(e, "axes_2", 1, 1, &ax2)});
        if (seq)
            s.mask_bt = transpose(e, s.mask, "mask.bt1", 3, p102);
        if (mean_any) {
            const char *lf = op1(e, "Cast", "lens.f", 1, (const char *[]){"sequence_lens"});
            attr_int(e, e->nodes[e->nn - 1], "to", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
            s.lens_f = op1(e, "Unsqueeze", "lens.f_col", 2, (const char *[]){lf, "axes_1"});
            s.axis0 = init_i64(e, "axes_0", 1, 1, &zero);
        }
    }
    const char *outs[64];
    for (int k = 0; k < K; k++)
        outs[k] = member_graph(e, vl_net_member(net, k), k, &s);
    const char *outname = cls ? "probabilities" : "values";
    if (K == 1) {
        op1(e, "Identity", outname, 1, outs);
    } else {
        const char *sum = op1(e, "Sum", "ensemble.sum", K, outs);
        float inv = 1.0f / (float)K;
        const char *in[2] = {sum, init_f(e, "ensemble.inv_k", 0, NULL, &inv)};
        op1(e, "Mul", outname, 2, in);
    }
    if (e->failed)
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory building the ONNX graph", path);

    Onnx__GraphProto *G = ealloc(e, sizeof *G);
    Onnx__ModelProto *M = ealloc(e, sizeof *M);
    Onnx__OperatorSetIdProto *os = ealloc(e, sizeof *os);
    Onnx__ValueInfoProto **gin = ealloc(e, 2 * sizeof *gin), **gout = ealloc(e, sizeof *gout);
    Onnx__StringStringEntryProto **props = ealloc(e, 8 * sizeof *props);
    if (e->failed)
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory building the ONNX graph", path);
    onnx__graph_proto__init(G);
    onnx__model_proto__init(M);
    onnx__operator_set_id_proto__init(os);
    const int64_t dv[3] = {0, 0, D}, cv[3] = {0, 0, C};
    gin[0] = value_info(e, "features", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 3,
                        (const char *const[]){"batch", "time", NULL}, dv);
    gin[1] = value_info(e, "sequence_lens", ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, (const char *const[]){"batch"},
                        dv);
    gout[0] = seq ? value_info(e, outname, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 3,
                               (const char *const[]){"batch", "time", NULL}, cv)
                  : value_info(e, outname, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2,
                               (const char *const[]){"batch", NULL}, cv + 1);
    G->name = estr(e, "vidlstm");
    G->doc_string = estr(e, "vidlstm %s network exported from %s", seq ? "per-frame" : "clip", path);
    G->n_node = e->nn;
    G->node = e->nodes;
    G->n_initializer = e->ni;
    G->initializer = e->inits;
    G->n_input = 2;
    G->input = gin;
    G->n_output = 1;
    G->output = gout;
    os->domain = estr(e, "%s", "");
    os->version = OPSET;
    os->has_version = 1;
    M->ir_version = 7;
    M->has_ir_version = 1;
    M->producer_name = estr(e, "vidlstm");
    M->producer_version = estr(e, VIDLSTM_VERSION);
    M->graph = G;
    M->n_opset_import = 1;
    M->opset_import = &os;
    /* what a server needs beside the numbers: class names, output kind, provenance */
    int np = 0;
    char *arch = NULL, *bb = vl_model_backbone_json(meta);
    vl_jbuf jb = {0};
    vl_jbuf_puts(&jb, "[");
    for (int i = 0; i < meta->nclasses; i++) {
        if (i)
            vl_jbuf_puts(&jb, ",");
        vl_jbuf_string(&jb, meta->class_names[i]);
    }
    vl_jbuf_puts(&jb, "]");
    char *classes = vl_jbuf_take(&jb);
    char kbuf[16];
    snprintf(kbuf, sizeof kbuf, "%d", K);
    vl_status st = vl_arch_to_json(cfg, &arch);
    if (!st && (!bb || !classes || jb.failed))
        st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
    if (!st) {
        props[np++] = prop(e, "vidlstm.architecture", arch);
        if (cls)
            props[np++] = prop(e, "vidlstm.classes", classes);
        props[np++] = prop(e, "vidlstm.backbone", bb);
        props[np++] = prop(e, "vidlstm.ensemble", kbuf);
        M->n_metadata_props = (size_t)np;
        M->metadata_props = props;
    }
    free(arch);
    free(bb);
    free(classes);
    if (st)
        return st;
    if (e->failed)
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory building the ONNX graph", path);
    *len = onnx__model_proto__get_packed_size(M);
    *buf = malloc(*len ? *len : 1);
    if (!*buf)
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, *len);
    onnx__model_proto__pack(M, *buf);
    if (info) {
        info->members = K;
        info->nodes = (int)e->nn;
        info->initializers = (int)e->ni;
        info->weights = e->nparams;
        info->bytes = (int64_t)*len;
        snprintf(info->output, sizeof info->output, "%s", outname);
    }
    return VL_OK;
}

vl_status vl_model_export_onnx(const char *model_path, const char *out_path, vl_export_info *info)
{
    if (info)
        memset(info, 0, sizeof *info);
    if (!model_path || !out_path || !*out_path)
        return vl_seterr(VL_ERR_ARG, "vl_model_export_onnx: a model path and an output path are needed");
    if (same_file(model_path, out_path))
        return vl_seterr(VL_ERR_ARG, "%s: the output is the model file itself; refusing to overwrite it", out_path);
    vl_net *net;
    vl_model_meta meta;
    vl_status st = vl_model_load(model_path, &net, &meta);
    if (st)
        return st;
    if (vl_net_num_members(net) > 64) {
        st = vl_seterr(VL_ERR_UNSUPPORTED, "%s: an ensemble of %d members (export handles up to 64)", model_path,
                       vl_net_num_members(net));
    } else {
        eb e = {0};
        uint8_t *buf = NULL;
        size_t len = 0;
        st = build(&e, net, &meta, model_path, &buf, &len, info);
        eb_free(&e);
        if (!st)
            st = write_atomic(out_path, buf, len);
        free(buf);
    }
    vl_model_meta_free(&meta);
    vl_net_free(net);
    return st;
}
