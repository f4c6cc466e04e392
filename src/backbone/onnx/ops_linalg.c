/* Matrix products and reductions: Gemm, MatMul, ReduceMean, ReduceSum. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/onnx/graph.h"
#include "backbone/onnx/ops.h"
#include "core/blas.h"
#include "core/mem.h"

/* ReduceMean's reduced dimensions of an nd-dimensional input as a bit mask;
 * -1 when the axes are invalid. Axes are an attribute before opset 18 and an
 * optional constant input from 18 on; none means all, unless
 * noop_with_empty_axes (then the mask is 0: an identity). */
static int reduce_mask(const vl_onnx *m, const node *n, int nd)
{
    int64_t ax[MAXD];
    int na;
    if (n->nin > 1 && n->in[1] >= 0) {
        const tensor *A = &m->T[n->in[1]];
        if (!A->is_int || !A->is_const || A->count > MAXD) return -1;
        na = (int)A->count;
        for (int i = 0; i < na; i++) ax[i] = A->ival[i];
    } else if ((na = attr_ints(n, "axes", ax, MAXD)) > MAXD) {
        return -1;
    }
    if (na <= 0)
        return attr_int(n, "noop_with_empty_axes", 0) ? 0 : (1 << nd) - 1;
    int mask = 0;
    for (int i = 0; i < na; i++) {
        int64_t a = norm_axis(ax[i], nd);
        if (a < 0 || a >= nd || (mask >> a & 1)) return -1;
        mask |= 1 << a;
    }
    return mask;
}

/* ReduceSum's reduced dimensions (red[d] = 1); -1 when the axes are invalid. */
static int reduce_dims(const vl_onnx *m, const node *n, int nd, int *red)
{
    int64_t ax[MAXD];
    int na = -1;
    if (n->nin > 1 && n->in[1] >= 0) {
        const tensor *A = &m->T[n->in[1]];
        if (!A->is_int || !A->is_const || A->count > MAXD) return -1;
        na = (int)A->count;
        for (int i = 0; i < na; i++) ax[i] = A->ival[i];
    } else if (m->opset < 13) {
        na = attr_ints(n, "axes", ax, MAXD);
    }
    for (int d = 0; d < nd; d++) red[d] = na <= 0; /* no axes: all of them */
    for (int i = 0; i < na; i++) {
        int64_t a = norm_axis(ax[i], nd);
        if (a < 0 || a >= nd) return -1;
        red[a] = 1;
    }
    return 0;
}

void onnx_run_reducesum(vl_onnx *m, node *n)
{
    const tensor *X = &m->T[n->in[0]];
    tensor *Y = &m->T[n->out[0]];
    int red[MAXD];
    reduce_dims(m, n, X->ndim, red);
    int64_t ost[MAXD], q = 1; /* output strides over the kept dimensions */
    for (int d = X->ndim - 1; d >= 0; d--) {
        ost[d] = red[d] ? 0 : q;
        q *= red[d] ? 1 : X->shape[d];
    }
    memset(Y->data, 0, sizeof(float) * (size_t)Y->count);
    for (int64_t i = 0; i < X->count; i++) {
        int64_t rem = i, o = 0;
        for (int d = X->ndim - 1; d >= 0; d--) {
            o += (rem % X->shape[d]) * ost[d];
            rem /= X->shape[d];
        }
        Y->data[o] += X->data[i];
    }
}

vl_status onnx_shape_gemm(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    tensor *B = &m->T[n->in[1]];
    if (X->ndim != 2 || B->ndim != 2) return plan_err(m, n, "Gemm needs 2-D operands");
    int ta = (int)attr_int(n, "transA", 0), tb = (int)attr_int(n, "transB", 0);
    int64_t K1 = ta ? X->shape[0] : X->shape[1], K2 = tb ? B->shape[1] : B->shape[0];
    if (K1 != K2) return plan_err(m, n, "inner dimensions differ");
    int64_t o[2] = {ta ? X->shape[1] : X->shape[0], tb ? B->shape[0] : B->shape[1]};
    if (n->nin > 2 && n->in[2] >= 0) {
        const tensor *Cb = &m->T[n->in[2]];
        if (Cb->is_int || !(Cb->count == 1 || Cb->count == o[1] || Cb->count == o[0] * o[1] ||
                            (Cb->ndim == 2 && Cb->shape[0] == o[0] && Cb->shape[1] == 1)))
            return plan_err(m, n, "C does not broadcast to the output");
    }
    set_shape(Y, 2, o);
    return VL_OK;
}

void onnx_run_gemm(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    tensor *B = &m->T[n->in[1]];
    int ta = (int)attr_int(n, "transA", 0), tb = (int)attr_int(n, "transB", 0);
    float alpha = attr_float(n, "alpha", 1.0f), beta = attr_float(n, "beta", 1.0f);
    int64_t M = ta ? X->shape[1] : X->shape[0], K = ta ? X->shape[0] : X->shape[1];
    int64_t Nn = tb ? B->shape[0] : B->shape[1];
    float b2 = 0.0f;
    if (n->nin > 2 && n->in[2] >= 0 && beta != 0.0f) {
        tensor *Cb = &m->T[n->in[2]];
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < Nn; j++) {
                int64_t ci = Cb->count == 1 ? 0
                             : Cb->count == M * Nn ? i * Nn + j
                             : (Cb->ndim == 2 && Cb->shape[1] == 1 && Nn != 1) ? i
                                                                                : j;
                Y->data[i * Nn + j] = beta * Cb->data[ci];
            }
        b2 = 1.0f;
    }
    vl_sgemm(ta, tb, (int)M, (int)Nn, (int)K, alpha, X->data, (int)X->shape[1], B->data, (int)B->shape[1], b2,
             Y->data, (int)Nn);
    if (n->act != ACT_NONE)
        for (int64_t i = 0; i < Y->count; i++) Y->data[i] = apply_act(Y->data[i], n->act, n->act_min, n->act_max);
}

vl_status onnx_shape_matmul(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t s[MAXD];
    tensor *B = &m->T[n->in[1]];
    if (X->ndim < 1 || B->ndim < 2 || X->shape[X->ndim - 1] != B->shape[B->ndim - 2])
        return plan_err(m, n, "inner dimensions differ");
    int nd = X->ndim > B->ndim ? X->ndim : B->ndim;
    for (int d = 0; d < nd - 2; d++) {
        int da = d - (nd - X->ndim), db = d - (nd - B->ndim);
        int64_t a = da >= 0 ? X->shape[da] : 1, b = db >= 0 ? B->shape[db] : 1;
        if (a != b && a != 1 && b != 1) return plan_err(m, n, "batch dimensions do not broadcast");
        if (a != b && (prod(X->shape, 0, X->ndim - 2) != 1 && prod(B->shape, 0, B->ndim - 2) != 1))
            return plan_err(m, n, "partially broadcast batch dimensions are not supported");
        s[d] = a == 1 ? b : a;
    }
    s[nd - 2] = X->ndim >= 2 ? X->shape[X->ndim - 2] : 1;
    s[nd - 1] = B->shape[B->ndim - 1];
    set_shape(Y, nd, s);
    return VL_OK;
}

void onnx_run_matmul(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    tensor *B = &m->T[n->in[1]];
    int64_t K = X->shape[X->ndim - 1], Nn = B->shape[B->ndim - 1];
    int64_t M = X->ndim >= 2 ? X->shape[X->ndim - 2] : 1;
    int64_t mn = M * Nn, batches = Y->count / (mn > 0 ? mn : 1);
    int64_t bb = B->count / (K * Nn), ab = X->count / (M * K);
    if (bb == 1 && X->ndim >= 2) /* B is a matrix: one GEMM over all rows of A */
        vl_sgemm(false, false, (int)(ab * M), (int)Nn, (int)K, 1.0f, X->data, (int)K, B->data, (int)Nn, 0.0f,
                 Y->data, (int)Nn);
    else
        for (int64_t q = 0; q < batches; q++)
            vl_sgemm(false, false, (int)M, (int)Nn, (int)K, 1.0f, X->data + (ab == 1 ? 0 : q) * M * K, (int)K,
                     B->data + (bb == 1 ? 0 : q) * K * Nn, (int)Nn, 0.0f, Y->data + q * M * Nn, (int)Nn);
}

vl_status onnx_shape_reducemean(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t s[MAXD];
    int mask = reduce_mask(m, n, X->ndim), nd = 0;
    if (mask < 0) return plan_err(m, n, "axes must be distinct constant integers within the rank");
    if (X->is_int) return plan_err(m, n, "integer input is not supported");
    for (int d = 0; d < X->ndim; d++)
        if (!(mask >> d & 1)) s[nd++] = X->shape[d];
        else if (attr_int(n, "keepdims", 1)) s[nd++] = 1;
    set_shape(Y, nd, s);
    return VL_OK;
}

void onnx_run_reducemean(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    /* Each output sums its reduced sub-block in double (like GAP), so
     * the order of the sum does not depend on the thread count. */
    int mask = reduce_mask(m, n, X->ndim), nk = 0, nr = 0;
    int64_t st[MAXD], kdim[MAXD], kst[MAXD], rdim[MAXD], rst[MAXD], q = 1, rcount = 1;
    for (int d = X->ndim - 1; d >= 0; d--) { st[d] = q; q *= X->shape[d]; }
    for (int d = 0; d < X->ndim; d++) {
        if (mask >> d & 1) { rdim[nr] = X->shape[d]; rst[nr++] = st[d]; rcount *= X->shape[d]; }
        else { kdim[nk] = X->shape[d]; kst[nk++] = st[d]; }
    }
    if (nr && mask == ((1 << X->ndim) - (1 << (X->ndim - nr)))) {
        /* The reduced dimensions are the trailing ones (a spatial mean, as
         * torchvision's ShuffleNet and Keras exports end): each output is one
         * contiguous run, summed in eight double lanes. */
#pragma omp parallel for schedule(static) if (X->count > 65536)
        for (int64_t o = 0; o < Y->count; o++) {
            const float *p = X->data + o * rcount;
            double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            int64_t r = 0;
            for (; r + 8 <= rcount; r += 8)
                for (int l = 0; l < 8; l++) a[l] += p[r + l];
            double sum = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
            for (; r < rcount; r++) sum += p[r];
            Y->data[o] = (float)(sum / (double)(rcount ? rcount : 1));
        }
        return;
    }
#pragma omp parallel for schedule(static) if (X->count > 65536)
    for (int64_t o = 0; o < Y->count; o++) {
        int64_t base = 0, rem = o;
        for (int d = nk - 1; d >= 0; d--) { base += (rem % kdim[d]) * kst[d]; rem /= kdim[d]; }
        double sum = 0.0;
        for (int64_t r = 0; r < rcount; r++) {
            int64_t off = base, rr = r;
            for (int d = nr - 1; d >= 0; d--) { off += (rr % rdim[d]) * rst[d]; rr /= rdim[d]; }
            sum += X->data[off];
        }
        Y->data[o] = (float)(sum / (double)(rcount ? rcount : 1));
    }
}

vl_status onnx_shape_reducesum(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t s[MAXD];
    int red[MAXD], nd = 0;
    if (X->is_int) return plan_err(m, n, "integer tensors are only supported in shape arithmetic");
    if (attr_int(n, "noop_with_empty_axes", 0)) return plan_err(m, n, "noop_with_empty_axes is not supported");
    if (reduce_dims(m, n, X->ndim, red)) return plan_err(m, n, "axes must be constant integers within the rank");
    const int keep = (int)attr_int(n, "keepdims", 1);
    for (int d = 0; d < X->ndim; d++)
        if (!red[d] || keep) s[nd++] = red[d] ? 1 : X->shape[d];
    set_shape(Y, nd, s);
    return VL_OK;
}
