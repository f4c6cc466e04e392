/* Element-wise operators: activations, BatchNormalization, LRN, Softmax, the broadcasting binary ops, Sum. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/onnx/graph.h"
#include "backbone/onnx/ops.h"
#include "core/blas.h"
#include "core/mem.h"

/* out = a OP b with numpy broadcasting; shapes already right-aligned to nd dims. */
static void broadcast_binary(op_kind op, int nd, const int64_t *os, const float *a, const int64_t *as, const float *b,
                             const int64_t *bs, float *out)
{
    int64_t total = prod(os, 0, nd), na = prod(as, 0, nd), nb = prod(bs, 0, nd);
#define OPV(x, y) (op == OP_ADD ? (x) + (y) : op == OP_SUB ? (x) - (y) : op == OP_MUL ? (x) * (y) : (x) / (y))
    if (na == total && nb == total) {
#pragma omp parallel for simd schedule(static) if (total > 65536)
        for (int64_t i = 0; i < total; i++) out[i] = OPV(a[i], b[i]);
        return;
    }
    if (na == total && nb == 1) {
        float bv = b[0];
#pragma omp parallel for simd schedule(static) if (total > 65536)
        for (int64_t i = 0; i < total; i++) out[i] = OPV(a[i], bv);
        return;
    }
    int64_t ast[MAXD], bst[MAXD], sa = 1, sb = 1;
    for (int d = nd - 1; d >= 0; d--) {
        ast[d] = as[d] == 1 ? 0 : sa;
        bst[d] = bs[d] == 1 ? 0 : sb;
        sa *= as[d];
        sb *= bs[d];
    }
    /* Innermost run where both operands advance uniformly. */
    int64_t inner = os[nd - 1], outer = total / inner;
#pragma omp parallel for schedule(static) if (total > 65536)
    for (int64_t o = 0; o < outer; o++) {
        int64_t rem = o, ia = 0, ib = 0;
        for (int d = nd - 2; d >= 0; d--) {
            int64_t c = rem % os[d];
            rem /= os[d];
            ia += c * ast[d];
            ib += c * bst[d];
        }
        float *y = out + o * inner;
        for (int64_t j = 0; j < inner; j++)
            y[j] = OPV(a[ia + j * ast[nd - 1]], b[ib + j * bst[nd - 1]]);
    }
#undef OPV
}

vl_status onnx_shape_same(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    if (n->op == OP_BN && attr_int(n, "training_mode", 0))
        return plan_err(m, n, "training_mode=1 (batch statistics) is not supported");
    if (n->op == OP_BN) {
        if (X->ndim < 2 || n->nin < 5) return plan_err(m, n, "needs 5 inputs and at least 2 dimensions");
        for (int k = 1; k < 5; k++)
            if (n->in[k] < 0 || m->T[n->in[k]].is_int || m->T[n->in[k]].count != X->shape[1])
                return plan_err(m, n, "parameter sizes differ from the channel count");
    }
    if ((n->op == OP_LRN || n->op == OP_BN) && X->ndim < 2) return plan_err(m, n, "needs at least 2 dimensions");
    if (n->op == OP_LRN && attr_int(n, "size", 1) <= 0) return plan_err(m, n, "size must be positive");
    if (n->op == OP_SOFTMAX) {
        int64_t ax = norm_axis(attr_int(n, "axis", m->opset >= 13 ? -1 : 1), X->ndim);
        if (ax < 0 || ax >= (X->ndim ? X->ndim : 1)) return plan_err(m, n, "axis out of range");
    }
    if (n->op == OP_CLIP)
        for (int k = 1; k < n->nin; k++)
            if (n->in[k] >= 0 && (m->T[n->in[k]].is_int || m->T[n->in[k]].count < 1))
                return plan_err(m, n, "min/max must be float scalars");
    set_shape(Y, X->ndim, X->shape);
    if (X->is_int) {
        if (n->op != OP_IDENTITY) return plan_err(m, n, "integer tensors are only supported in shape arithmetic");
        return set_int_out(Y, X->ndim, X->shape, X->ival) ? VL_ERR_NOMEM : (n->folded = 1, VL_OK);
    }
    return VL_OK;
}

void onnx_run_bn(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t C = X->shape[1], HW = X->count / (X->shape[0] * C);
    float eps = attr_float(n, "epsilon", 1e-5f);
    const float *g = m->T[n->in[1]].data, *be = m->T[n->in[2]].data, *mu = m->T[n->in[3]].data,
                *var = m->T[n->in[4]].data;
    for (int64_t i = 0; i < X->count / HW; i++) {
        int64_t c = i % C;
        float s = g[c] / sqrtf(var[c] + eps), t = be[c] - mu[c] * s;
        for (int64_t j = 0; j < HW; j++) Y->data[i * HW + j] = X->data[i * HW + j] * s + t;
    }
}

void onnx_run_relu(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    for (int64_t i = 0; i < X->count; i++) Y->data[i] = X->data[i] > 0.0f ? X->data[i] : 0.0f;
}

void onnx_run_clip(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    float lo = -FLT_MAX, hi = FLT_MAX;
    if (m->opset < 11) {
        lo = attr_float(n, "min", lo);
        hi = attr_float(n, "max", hi);
    }
    if (n->nin > 1 && n->in[1] >= 0) lo = m->T[n->in[1]].data[0];
    if (n->nin > 2 && n->in[2] >= 0) hi = m->T[n->in[2]].data[0];
    for (int64_t i = 0; i < X->count; i++) Y->data[i] = X->data[i] < lo ? lo : (X->data[i] > hi ? hi : X->data[i]);
}

void onnx_run_sigmoid(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    for (int64_t i = 0; i < X->count; i++) Y->data[i] = 1.0f / (1.0f + expf(-X->data[i]));
}

void onnx_run_hardsigmoid(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    float a = attr_float(n, "alpha", 0.2f), b = attr_float(n, "beta", 0.5f);
    for (int64_t i = 0; i < X->count; i++) {
        float v = a * X->data[i] + b;
        Y->data[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
    }
}

void onnx_run_hardswish(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    for (int64_t i = 0; i < X->count; i++) {
        float x = X->data[i], v = x / 6.0f + 0.5f;
        Y->data[i] = x * (v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v));
    }
}

vl_status onnx_shape_binary(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t s[MAXD];
    tensor *B = &m->T[n->in[1]];
    int nd = X->ndim > B->ndim ? X->ndim : B->ndim;
    for (int d = 0; d < nd; d++) {
        int da = d - (nd - X->ndim), db = d - (nd - B->ndim);
        int64_t a = da >= 0 ? X->shape[da] : 1, b = db >= 0 ? B->shape[db] : 1;
        if (a != b && a != 1 && b != 1) return plan_err(m, n, "operand shapes do not broadcast");
        s[d] = a == 1 ? b : a;
    }
    set_shape(Y, nd, s);
    if (X->is_int || B->is_int) {
        if (!(X->is_int && B->is_int && X->is_const && B->is_const && (X->count == Y->count || X->count == 1) &&
              (B->count == Y->count || B->count == 1)))
            return plan_err(m, n, "unsupported integer arithmetic");
        int64_t v[64];
        if (Y->count > 64) return plan_err(m, n, "integer tensor too large");
        for (int64_t i = 0; i < Y->count; i++) {
            int64_t a = X->ival[X->count == 1 ? 0 : i], b = B->ival[B->count == 1 ? 0 : i];
            v[i] = n->op == OP_ADD ? a + b : n->op == OP_SUB ? a - b : n->op == OP_MUL ? a * b : (b ? a / b : 0);
        }
        n->folded = 1;
        return set_int_out(Y, nd, s, v);
    }
    return VL_OK;
}

void onnx_run_binary(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    tensor *B = &m->T[n->in[1]];
    int nd = Y->ndim ? Y->ndim : 1;
    int64_t as[MAXD], bs[MAXD], os[MAXD];
    for (int d = 0; d < nd; d++) {
        int da = d - (nd - X->ndim), db = d - (nd - B->ndim);
        as[d] = da >= 0 ? X->shape[da] : 1;
        bs[d] = db >= 0 ? B->shape[db] : 1;
        os[d] = Y->ndim ? Y->shape[d] : 1;
    }
    broadcast_binary(n->op, nd, os, X->data, as, B->data, bs, Y->data);
}

void onnx_run_lrn(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t size = attr_int(n, "size", 1);
    float alpha = attr_float(n, "alpha", 1e-4f), beta = attr_float(n, "beta", 0.75f), bias = attr_float(n, "bias", 1.0f);
    int64_t N = X->shape[0], C = X->shape[1], HW = X->count / (N * C);
    int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
#pragma omp parallel for schedule(static)
    for (int64_t bc = 0; bc < N * C; bc++) {
        int64_t b = bc / C, c = bc % C;
        for (int64_t q = 0; q < HW; q++) {
            float s = 0.0f;
            for (int64_t k = c - lo; k <= c + hi; k++)
                if (k >= 0 && k < C) {
                    float v = X->data[(b * C + k) * HW + q];
                    s += v * v;
                }
            Y->data[bc * HW + q] = X->data[bc * HW + q] / powf(bias + alpha / (float)size * s, beta);
        }
    }
}

void onnx_run_softmax(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t axis = norm_axis(attr_int(n, "axis", m->opset >= 13 ? -1 : 1), X->ndim);
    int64_t len = m->opset >= 13 ? X->shape[axis] : prod(X->shape, (int)axis, X->ndim);
    int64_t inner = m->opset >= 13 ? prod(X->shape, (int)axis + 1, X->ndim) : 1;
    int64_t outer = X->count / (len * inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            const float *x = X->data + o * len * inner + in;
            float *y = Y->data + o * len * inner + in, mx = -INFINITY;
            for (int64_t k = 0; k < len; k++) mx = x[k * inner] > mx ? x[k * inner] : mx;
            double s = 0.0;
            for (int64_t k = 0; k < len; k++) s += exp((double)x[k * inner] - mx);
            for (int64_t k = 0; k < len; k++) y[k * inner] = (float)(exp((double)x[k * inner] - mx) / s);
        }
}

vl_status onnx_shape_sum(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    for (int k = 0; k < n->nin; k++) {
        const tensor *I = n->in[k] >= 0 ? &m->T[n->in[k]] : NULL;
        if (!I || I->is_int || I->ndim != X->ndim || memcmp(I->shape, X->shape, sizeof(int64_t) * (size_t)X->ndim))
            return plan_err(m, n, "only float inputs of one shape are supported");
    }
    set_shape(Y, X->ndim, X->shape);
    return VL_OK;
}

void onnx_run_sum(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    if (Y->data != X->data) memcpy(Y->data, X->data, sizeof(float) * (size_t)X->count);
    for (int k = 1; k < n->nin; k++)
        for (int64_t i = 0; i < Y->count; i++) Y->data[i] += m->T[n->in[k]].data[i];
}
