/* Load-time rewriting of the graph. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backbone/onnx/graph.h"
#include "core/mem.h"

/* Conv's output y read only by a Sigmoid s and a Mul(y, s) (in either
 * order), s read only by that Mul: SiLU / swish. Returns the Mul (and the
 * Sigmoid in *sig), or -1. */
static int swish_mul(const vl_onnx *m, const node *c, int *sig)
{
    int y = c->out[0], a = -1, b = -1, k = -1;
    if (consumers(m, y, NULL) != 2)
        return -1;
    for (int j = 0; j < m->nn; j++) {
        const node *n = &m->N[j];
        if (n->removed) continue;
        for (int q = 0; q < n->nin; q++)
            if (n->in[q] == y) {
                if (n->op == OP_SIGMOID && n->nin == 1 && a < 0) a = j;
                else if (n->op == OP_MUL && n->nin == 2 && b < 0) b = j;
                break;
            }
    }
    if (a < 0 || b < 0 || consumers(m, m->N[a].out[0], &k) != 1 || k != b)
        return -1;
    const node *mu = &m->N[b];
    int sa = m->N[a].out[0];
    *sig = a;
    return (mu->in[0] == y && mu->in[1] == sa) || (mu->in[0] == sa && mu->in[1] == y) ? b : -1;
}

/* Pad (constant zeros, spatial only) read only by an AveragePool (without
 * ceil_mode) or a Conv: the padding moves into that node (the pool counts
 * it: count_include_pad), so no padded copy is made and oneDNN runs the
 * pool on its blocked input (InceptionV3's exporter writes every 3x3
 * average pool as Pad + AveragePool: 29% of its time ran in the two). */
static vl_status fold_pad(vl_onnx *m, node *p)
{
    int64_t pads[8] = {0}, cp[4] = {0, 0, 0, 0};
    const tensor *P = p->nin > 1 && p->in[1] >= 0 ? &m->T[p->in[1]] : NULL;
    if (P) {
        if (!P->is_const || !P->is_int || !P->ival || P->count != 8) return VL_OK;
        memcpy(pads, P->ival, sizeof pads);
    } else if (attr_ints(p, "pads", pads, 8) != 8) {
        return VL_OK;
    }
    char mb[16];
    const char *mode = attr_str(p, "mode", mb, sizeof mb);
    if (mode && strcmp(mode, "constant")) return VL_OK;
    if (p->nin > 2 && p->in[2] >= 0) {
        const tensor *V = &m->T[p->in[2]];
        if (!V->is_const || V->is_int || V->count < 1 || V->data[0] != 0.0f) return VL_OK;
    } else if (attr_float(p, "value", 0.0f) != 0.0f) {
        return VL_OK;
    }
    if (pads[0] || pads[1] || pads[4] || pads[5]) return VL_OK; /* batch or channels */
    for (int k = 0; k < 8; k++)
        if (pads[k] < 0) return VL_OK;
    int j = -1;
    if (p->out[0] == m->output || consumers(m, p->out[0], &j) != 1 || j < 0) return VL_OK;
    node *c = &m->N[j];
    if ((c->op != OP_AVGPOOL && c->op != OP_CONV) || c->in[0] != p->out[0]) return VL_OK;
    char ab[16];
    const char *ap = attr_str(c, "auto_pad", ab, sizeof ab);
    if (ap && strcmp(ap, "NOTSET")) return VL_OK;
    int64_t have = attr_ints(c, "pads", cp, 4);
    if (have != -1 && have != 4) return VL_OK;
    if (c->op == OP_AVGPOOL) {
        if (attr_int(c, "ceil_mode", 0)) return VL_OK;
        /* the pool's own padding, if any, must already count as values */
        if ((cp[0] || cp[1] || cp[2] || cp[3]) && !attr_int(c, "count_include_pad", 0)) return VL_OK;
    }
    int64_t np[4] = {cp[0] + pads[2], cp[1] + pads[3], cp[2] + pads[6], cp[3] + pads[7]};
    if (attr_set_ints(c, "pads", np, 4) || (c->op == OP_AVGPOOL && attr_set_int(c, "count_include_pad", 1)))
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
    c->in[0] = p->in[0];
    m->T[p->out[0]].producer = -1; /* the padded copy no longer exists */
    p->removed = 1;
    return VL_OK;
}

/* Conv -> BatchNormalization: scale the conv's weights and bias per output
 * channel. Then Conv -> Relu/Clip (Gemm too), Conv -> Sigmoid, Conv -> SiLU:
 * fuse the activation into the conv (EfficientNet's SiLU and
 * squeeze-excitation gates would otherwise each be two passes over memory). */
/* Conv/Gemm node i -> its activation (see fold_graph): folded into it. */
static void fold_act(vl_onnx *m, int i)
{
    node *c = &m->N[i];
    if (c->removed || (c->op != OP_CONV && c->op != OP_GEMM) || c->act != ACT_NONE)
        return;
    int j = -1, sig = -1, sw = c->op == OP_CONV && c->out[0] != m->output ? swish_mul(m, c, &sig) : -1;
    if (sw >= 0) {
        m->N[sig].removed = 1;
        m->T[m->N[sig].out[0]].producer = -1; /* the gate alone no longer exists either */
        c->act = ACT_SWISH;
        m->T[c->out[0]].producer = -1;
        c->out[0] = m->N[sw].out[0];
        m->T[c->out[0]].producer = i;
        m->N[sw].removed = 1;
        return;
    }
    if (consumers(m, c->out[0], &j) != 1 || j < 0)
        return;
    node *a = &m->N[j];
    if (a->op == OP_RELU) {
        c->act = ACT_RELU;
    } else if (a->op == OP_SIGMOID && c->op == OP_CONV) {
        c->act = ACT_SIGMOID;
    } else if (a->op == OP_CLIP) {
        float lo = -FLT_MAX, hi = FLT_MAX;
        if (m->opset < 11 || a->nin == 1) {
            lo = attr_float(a, "min", -FLT_MAX);
            hi = attr_float(a, "max", FLT_MAX);
        }
        if (a->nin > 1 && a->in[1] >= 0) {
            if (!m->T[a->in[1]].is_const || m->T[a->in[1]].is_int) return;
            lo = m->T[a->in[1]].data[0];
        }
        if (a->nin > 2 && a->in[2] >= 0) {
            if (!m->T[a->in[2]].is_const || m->T[a->in[2]].is_int) return;
            hi = m->T[a->in[2]].data[0];
        }
        c->act = ACT_CLIP;
        c->act_min = lo;
        c->act_max = hi;
    } else {
        return;
    }
    m->T[c->out[0]].producer = -1; /* the pre-activation value no longer exists */
    c->out[0] = a->out[0];
    m->T[c->out[0]].producer = i;
    a->removed = 1;
}

vl_status fold_graph(vl_onnx *m)
{
    for (int i = 0; i < m->nn; i++)
        if (!m->N[i].removed && m->N[i].op == OP_PAD) {
            vl_status st = fold_pad(m, &m->N[i]);
            if (st) return st;
        }
    for (int i = 0; i < m->nn; i++) {
        node *c = &m->N[i];
        if (c->removed || c->op != OP_CONV || !m->T[c->in[1]].is_const)
            continue;
        int j = -1;
        if (consumers(m, c->out[0], &j) != 1 || j < 0 || m->N[j].op != OP_BN)
            continue;
        node *b = &m->N[j];
        int ok = !attr_int(b, "training_mode", 0); /* batch statistics: planning refuses it */
        for (int k = 1; k < 5; k++)
            ok = ok && b->in[k] >= 0 && m->T[b->in[k]].is_const && !m->T[b->in[k]].is_int;
        if (!ok)
            continue;
        tensor *W = &m->T[c->in[1]];
        int64_t Co = W->ndim == 4 ? W->shape[0] : 0;
        int sizes_ok = !W->is_int && W->data && Co > 0 &&
                       (c->nin <= 2 || c->in[2] < 0 || (!m->T[c->in[2]].is_int && m->T[c->in[2]].count == Co));
        for (int k = 1; k < 5 && sizes_ok; k++)
            sizes_ok = m->T[b->in[k]].count == Co;
        if (!sizes_ok)
            continue; /* leave it to planning, which reports the mismatch */
        int64_t per = W->count / Co;
        const float *g = m->T[b->in[1]].data, *be = m->T[b->in[2]].data, *mu = m->T[b->in[3]].data,
                    *var = m->T[b->in[4]].data;
        float eps = attr_float(b, "epsilon", 1e-5f);
        float *bias = vl_calloc(sizeof(float) * (size_t)Co);
        if (!bias)
            return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
        if (c->nin > 2 && c->in[2] >= 0)
            memcpy(bias, m->T[c->in[2]].data, sizeof(float) * (size_t)Co);
        /* The conv's weights may be shared with another node: fold into a copy. */
        float *w = vl_alloc(sizeof(float) * (size_t)W->count);
        if (!w) {
            vl_free(bias);
            return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
        }
        for (int64_t o = 0; o < Co; o++) {
            float s = g[o] / sqrtf(var[o] + eps);
            for (int64_t k = 0; k < per; k++)
                w[o * per + k] = W->data[o * per + k] * s;
            bias[o] = (bias[o] - mu[o]) * s + be[o];
        }
        char name[512];
        snprintf(name, sizeof name, "%s/bn_folded_w", b->name);
        int wi = new_tensor(m, name);
        snprintf(name, sizeof name, "%s/bn_folded_b", b->name);
        int bi = new_tensor(m, name);
        if (wi < 0 || bi < 0) {
            vl_free(w);
            vl_free(bias);
            return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
        }
        W = &m->T[c->in[1]]; /* add_tensor may have moved the array */
        set_shape(&m->T[wi], W->ndim, W->shape);
        m->T[wi].data = w;
        m->T[wi].is_const = 1;
        int64_t bs[1] = {Co};
        set_shape(&m->T[bi], 1, bs);
        m->T[bi].data = bias;
        m->T[bi].is_const = 1;
        c->in[1] = wi;
        c->in[2] = bi;
        c->nin = 3;
        m->T[c->out[0]].producer = -1; /* the pre-BN value no longer exists */
        c->out[0] = b->out[0];
        m->T[c->out[0]].producer = i;
        b->removed = 1;
    }
    for (int i = 0; i < m->nn; i++)
        fold_act(m, i);
    return VL_OK;
}
