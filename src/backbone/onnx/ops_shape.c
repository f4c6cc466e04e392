/* Shape operators and integer shape arithmetic (evaluated while planning): Reshape, Flatten, Squeeze, Unsqueeze, Concat, Transpose, Pad, Slice, Shape, Gather, Cast, ConstantOfShape, Range, Less. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/onnx/graph.h"
#include "backbone/onnx/ops.h"
#include "core/blas.h"
#include "core/mem.h"

static void run_transpose(const tensor *X, tensor *Y, const int64_t *perm)
{
    int nd = X->ndim;
    int64_t xst[MAXD], s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        xst[d] = s;
        s *= X->shape[d];
    }
    /* Trailing dimensions left in place are one contiguous run on both sides
     * (ShuffleNet's channel shuffle moves whole H x W planes): copied whole. */
    int keep = nd;
    int64_t run = 1;
    while (keep > 1 && perm[keep - 1] == keep - 1) run *= X->shape[--keep];
    if (keep < nd && run >= 16) {
        int64_t outer = Y->count / (run ? run : 1);
#pragma omp parallel for schedule(static) if (Y->count > 65536)
        for (int64_t o = 0; o < outer; o++) {
            int64_t rem = o, ix = 0;
            for (int d = keep - 1; d >= 0; d--) {
                ix += rem % Y->shape[d] * xst[perm[d]];
                rem /= Y->shape[d];
            }
            memcpy(Y->data + o * run, X->data + ix, sizeof(float) * (size_t)run);
        }
        return;
    }
    int64_t inner = Y->shape[nd - 1], outer = Y->count / (inner ? inner : 1), istr = xst[perm[nd - 1]];
#pragma omp parallel for schedule(static) if (Y->count > 65536)
    for (int64_t o = 0; o < outer; o++) {
        int64_t rem = o, ix = 0;
        for (int d = nd - 2; d >= 0; d--) {
            int64_t c = rem % Y->shape[d];
            rem /= Y->shape[d];
            ix += c * xst[perm[d]];
        }
        float *y = Y->data + o * inner;
        for (int64_t j = 0; j < inner; j++)
            y[j] = X->data[ix + j * istr];
    }
}

/* Slice's start and step per dimension and the output shape s (starts,
 * ends, axes, steps are constant int inputs since opset 10); -1 if invalid. */
static int slice_params(const vl_onnx *m, const node *n, const tensor *X, int64_t *st0, int64_t *step, int64_t *s)
{
    if (n->nin < 3) return -1;
    const tensor *S = &m->T[n->in[1]], *E = &m->T[n->in[2]];
    const tensor *A = n->nin > 3 && n->in[3] >= 0 ? &m->T[n->in[3]] : NULL;
    const tensor *P = n->nin > 4 && n->in[4] >= 0 ? &m->T[n->in[4]] : NULL;
    if (!S->is_int || !S->is_const || !E->is_int || !E->is_const || E->count != S->count) return -1;
    if ((A && (!A->is_int || !A->is_const || A->count != S->count)) ||
        (P && (!P->is_int || !P->is_const || P->count != S->count)))
        return -1;
    for (int d = 0; d < X->ndim; d++) { st0[d] = 0; step[d] = 1; s[d] = X->shape[d]; }
    for (int64_t k = 0; k < S->count; k++) {
        int64_t d = A ? norm_axis(A->ival[k], X->ndim) : k;
        if (d < 0 || d >= X->ndim) return -1;
        int64_t L = X->shape[d], b = S->ival[k], e = E->ival[k], t = P ? P->ival[k] : 1;
        if (t == 0) return -1;
        b = b < 0 ? b + L : b;
        e = e < 0 ? e + L : e;
        if (t > 0) {
            b = b < 0 ? 0 : (b > L ? L : b);
            e = e < 0 ? 0 : (e > L ? L : e);
            s[d] = e > b ? 1 + (e - b - 1) / t : 0; /* ceil((e - b) / t) without e - b + t overflowing (t up to INT64_MAX) */
        } else {
            b = b < 0 ? -1 : (b > L - 1 ? L - 1 : b);
            e = e < -1 ? -1 : (e > L - 1 ? L - 1 : e);
            const int64_t mt = t < -INT64_MAX ? INT64_MAX : -t; /* -INT64_MIN does not exist */
            s[d] = b > e ? 1 + (b - e - 1) / mt : 0;
        }
        st0[d] = b;
        step[d] = t;
    }
    return 0;
}

/* Reads axes for Squeeze/Unsqueeze (input since opset 13, else attribute). */
static int get_axes(const vl_onnx *m, const node *n, int64_t *ax)
{
    if (n->nin > 1 && n->in[1] >= 0) {
        const tensor *A = &m->T[n->in[1]];
        for (int64_t i = 0; i < A->count && i < MAXD; i++) ax[i] = A->ival[i];
        return (int)A->count;
    }
    return attr_ints(n, "axes", ax, MAXD);
}

void onnx_run_copy(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    if (Y->data != X->data)
        memcpy(Y->data, X->data, sizeof(float) * (size_t)X->count);
}

vl_status onnx_shape_cast(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t to = attr_int(n, "to", 1);
    set_shape(Y, X->ndim, X->shape);
    if (X->is_int && (to == 7 || to == 6)) {
        n->folded = 1;
        return set_int_out(Y, X->ndim, X->shape, X->ival);
    }
    if (!X->is_int && to == 1) return VL_OK;
    if (X->is_int && to == 1 && X->is_const) {
        Y->data = vl_alloc(sizeof(float) * (size_t)(X->count ? X->count : 1));
        for (int64_t i = 0; i < X->count; i++) Y->data[i] = (float)X->ival[i];
        Y->is_const = 1;
        n->folded = 1;
        return VL_OK;
    }
    return plan_err(m, n, "unsupported cast");
}

vl_status onnx_shape_flatten(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t axis = norm_axis(attr_int(n, "axis", 1), X->ndim);
    if (axis < 0 || axis > X->ndim) return plan_err(m, n, "axis out of range");
    int64_t o[2] = {prod(X->shape, 0, (int)axis), prod(X->shape, (int)axis, X->ndim)};
    set_shape(Y, 2, o);
    return VL_OK;
}

vl_status onnx_shape_reshape(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t s[MAXD];
    tensor *S = &m->T[n->in[1]];
    if (!S->is_int || S->count > MAXD) return plan_err(m, n, "shape must be an integer vector");
    int64_t known = 1, neg = -1;
    for (int64_t d = 0; d < S->count; d++) {
        int64_t v = S->ival[d];
        if (v == 0 && !attr_int(n, "allowzero", 0)) {
            if (d >= X->ndim) return plan_err(m, n, "0 refers to a missing dimension");
            v = X->shape[d];
        }
        if (v < -1 || (v == -1 && neg >= 0)) return plan_err(m, n, "invalid target shape");
        if (v == -1) { neg = d; v = 1; }
        s[d] = v;
        known *= v;
    }
    if (neg >= 0) s[neg] = known ? X->count / known : 0;
    if (prod(s, 0, (int)S->count) != X->count) return plan_err(m, n, "shape does not match the element count");
    set_shape(Y, (int)S->count, s);
    if (X->is_int) { n->folded = 1; return set_int_out(Y, Y->ndim, s, X->ival); }
    return VL_OK;
}

vl_status onnx_shape_squeeze(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t s[MAXD];
    int64_t ax[MAXD];
    int na = get_axes(m, n, ax), nd = 0;
    if (n->op == OP_SQUEEZE) {
        for (int d = 0; d < X->ndim; d++) {
            int drop = 0;
            for (int k = 0; k < na; k++) drop |= norm_axis(ax[k], X->ndim) == d;
            if (na < 0) drop = X->shape[d] == 1;
            if (drop && X->shape[d] != 1) return plan_err(m, n, "a squeezed dimension is not 1");
            if (!drop) s[nd++] = X->shape[d];
        }
    } else {
        nd = X->ndim + (na > 0 ? na : 0);
        if (nd > MAXD) return plan_err(m, n, "too many dimensions");
        /* each axis within the output rank, once: otherwise fewer dimensions
         * are inserted than counted and the shape reads past the input's */
        int hit = 0;
        for (int k = 0; k < na; k++) {
            int64_t a = norm_axis(ax[k], nd);
            if (a < 0 || a >= nd || (hit >> a & 1)) return plan_err(m, n, "axes out of range or repeated");
            hit |= 1 << a;
        }
        int src = 0;
        for (int d = 0; d < nd; d++) {
            int ins = 0;
            for (int k = 0; k < na; k++) ins |= norm_axis(ax[k], nd) == d;
            s[d] = ins ? 1 : X->shape[src++];
        }
    }
    set_shape(Y, nd, s);
    if (X->is_int) { n->folded = 1; return set_int_out(Y, nd, s, X->ival); }
    return VL_OK;
}

vl_status onnx_shape_concat(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t s[MAXD];
    int64_t axis = norm_axis(attr_int(n, "axis", 0), X->ndim), tot = 0;
    if (axis < 0 || axis >= X->ndim) return plan_err(m, n, "axis out of range");
    int allint = 1;
    for (int k = 0; k < n->nin; k++) {
        if (n->in[k] < 0) return plan_err(m, n, "an input is omitted");
        tensor *I = &m->T[n->in[k]];
        if (I->ndim != X->ndim || I->is_int != X->is_int) return plan_err(m, n, "inputs differ in rank or type");
        for (int d = 0; d < X->ndim; d++)
            if (d != axis && I->shape[d] != X->shape[d]) return plan_err(m, n, "inputs differ outside the axis");
        tot += I->shape[axis];
        allint &= I->is_int && I->is_const;
    }
    memcpy(s, X->shape, sizeof s);
    s[axis] = tot;
    set_shape(Y, X->ndim, s);
    if (X->is_int) {
        if (!allint || X->ndim != 1 || tot > 64) return plan_err(m, n, "unsupported integer concat");
        int64_t v[64], q = 0;
        for (int k = 0; k < n->nin; k++)
            for (int64_t i = 0; i < m->T[n->in[k]].count; i++) v[q++] = m->T[n->in[k]].ival[i];
        n->folded = 1;
        return set_int_out(Y, 1, s, v);
    }
    return VL_OK;
}

void onnx_run_concat(vl_onnx *m, node *n)
{
    tensor *Y = &m->T[n->out[0]];
    int64_t axis = norm_axis(attr_int(n, "axis", 0), Y->ndim);
    int64_t outer = prod(Y->shape, 0, (int)axis), yinner = prod(Y->shape, (int)axis, Y->ndim), off = 0;
    for (int k = 0; k < n->nin; k++) {
        tensor *I = &m->T[n->in[k]];
        int64_t inner = prod(I->shape, (int)axis, I->ndim);
        for (int64_t o = 0; o < outer; o++)
            memcpy(Y->data + o * yinner + off, I->data + o * inner, sizeof(float) * (size_t)inner);
        off += inner;
    }
}

vl_status onnx_shape_transpose(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t s[MAXD];
    int64_t perm[MAXD];
    if (attr_ints(n, "perm", perm, MAXD) != X->ndim)
        for (int d = 0; d < X->ndim; d++) perm[d] = X->ndim - 1 - d;
    int seen = 0;
    for (int d = 0; d < X->ndim; d++) {
        if (perm[d] < 0 || perm[d] >= X->ndim || (seen >> perm[d] & 1)) return plan_err(m, n, "invalid perm");
        seen |= 1 << perm[d];
    }
    for (int d = 0; d < X->ndim; d++) s[d] = X->shape[perm[d]];
    set_shape(Y, X->ndim, s);
    if (X->is_int) { /* shape arithmetic: small, evaluate now */
        if (X->count > 256) return plan_err(m, n, "integer tensor too large");
        int64_t v[256], xst[MAXD], q = 1;
        for (int d = X->ndim - 1; d >= 0; d--) { xst[d] = q; q *= X->shape[d]; }
        for (int64_t i = 0; i < Y->count; i++) {
            int64_t rem = i, ix = 0;
            for (int d = Y->ndim - 1; d >= 0; d--) { ix += (rem % s[d]) * xst[perm[d]]; rem /= s[d]; }
            v[i] = X->ival[ix];
        }
        n->folded = 1;
        return set_int_out(Y, X->ndim, s, v);
    }
    return VL_OK;
}

void onnx_run_transpose_op(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t perm[MAXD];
    if (attr_ints(n, "perm", perm, MAXD) != X->ndim)
        for (int d = 0; d < X->ndim; d++) perm[d] = X->ndim - 1 - d;
    run_transpose(X, Y, perm);
}

vl_status onnx_shape_constantofshape(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    if (!X->is_int || !X->is_const || X->count > MAXD) return plan_err(m, n, "shape must be a constant integer vector");
    const vl_attr *a = attr(n, "value"); /* its tensor was loaded with the graph */
    int isint = a && a->t && a->t->is_int;
    double val = 0.0;
    if (a && a->t)
        val = a->t->is_int ? (double)a->t->ival[0] : a->t->data[0];
    set_shape(Y, (int)X->count, X->ival);
    if (Y->count > ((int64_t)1 << 28)) return plan_err(m, n, "output too large");
    n->folded = 1;
    if (isint) {
        if (Y->count > 256) return plan_err(m, n, "integer tensor too large");
        int64_t v[256];
        for (int64_t i = 0; i < Y->count; i++) v[i] = (int64_t)val;
        return set_int_out(Y, Y->ndim, Y->shape, v);
    }
    Y->data = vl_alloc(sizeof(float) * (size_t)(Y->count ? Y->count : 1));
    if (!Y->data) return vl_seterr(VL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < Y->count; i++) Y->data[i] = (float)val;
    Y->is_const = 1;
    return VL_OK;
}

vl_status onnx_shape_pad(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t s[MAXD];
    int64_t pads[2 * MAXD] = {0};
    if (n->nin > 1 && n->in[1] >= 0) {
        if (m->T[n->in[1]].count != 2 * X->ndim) return plan_err(m, n, "pads has the wrong length");
        for (int d = 0; d < 2 * X->ndim; d++) pads[d] = m->T[n->in[1]].ival[d];
    } else {
        attr_ints(n, "pads", pads, 2 * MAXD);
    }
    for (int d = 0; d < X->ndim; d++) {
        if (pads[d] < 0 || pads[d + X->ndim] < 0 || pads[d] > 65536 || pads[d + X->ndim] > 65536)
            return plan_err(m, n, "negative or huge pads are not supported");
        s[d] = X->shape[d] + pads[d] + pads[d + X->ndim];
    }
    if (n->nin > 2 && n->in[2] >= 0 && (m->T[n->in[2]].is_int || m->T[n->in[2]].count < 1))
        return plan_err(m, n, "constant value must be a float scalar");
    char pm[16];
    const char *pmode = attr_str(n, "mode", pm, sizeof pm);
    if (pmode && !strcmp(pmode, "reflect"))
        for (int d = 0; d < X->ndim; d++)
            if (pads[d] >= X->shape[d] || pads[d + X->ndim] >= X->shape[d])
                return plan_err(m, n, "reflect pads must be smaller than the dimension");
    set_shape(Y, X->ndim, s);
    return VL_OK;
}

void onnx_run_pad(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int nd = X->ndim;
    int64_t pads[2 * MAXD] = {0};
    if (n->nin > 1 && n->in[1] >= 0)
        for (int d = 0; d < 2 * nd; d++) pads[d] = m->T[n->in[1]].ival[d];
    else
        attr_ints(n, "pads", pads, 2 * MAXD);
    float cval = (n->nin > 2 && n->in[2] >= 0) ? m->T[n->in[2]].data[0] : attr_float(n, "value", 0.0f);
    char mb[16];
    const char *mode = attr_str(n, "mode", mb, sizeof mb);
    int edge = mode && !strcmp(mode, "edge"), refl = mode && !strcmp(mode, "reflect");
    int64_t xst[MAXD], s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        xst[d] = s;
        s *= X->shape[d];
    }
    for (int64_t i = 0; i < Y->count; i++) {
        int64_t rem = i, ix = 0;
        int out = 0;
        for (int d = nd - 1; d >= 0; d--) {
            int64_t c = rem % Y->shape[d] - pads[d];
            rem /= Y->shape[d];
            int64_t L = X->shape[d];
            if (c < 0 || c >= L) {
                if (edge) c = c < 0 ? 0 : L - 1;
                else if (refl) c = c < 0 ? -c : 2 * (L - 1) - c;
                else out = 1;
            }
            ix += c * xst[d];
        }
        Y->data[i] = out ? cval : X->data[ix];
    }
}

vl_status onnx_shape_shape(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t st = norm_axis(attr_int(n, "start", 0), X->ndim), en = attr_int(n, "end", X->ndim);
    en = en < 0 ? en + X->ndim : (en > X->ndim ? X->ndim : en);
    int64_t cnt = en > st ? en - st : 0;
    n->folded = 1;
    return set_int_out(Y, 1, &cnt, X->shape + st);
}

vl_status onnx_shape_gather(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    tensor *I = &m->T[n->in[1]];
    if (!X->is_int || !X->is_const || !I->is_int || !I->is_const || X->ndim != 1)
        return plan_err(m, n, "Gather is supported on constant integer vectors (shape arithmetic) only");
    int64_t v[64];
    if (I->count > 64) return plan_err(m, n, "too many indices");
    for (int64_t i = 0; i < I->count; i++) {
        int64_t k = I->ival[i] < 0 ? I->ival[i] + X->count : I->ival[i];
        if (k < 0 || k >= X->count) return plan_err(m, n, "index out of range");
        v[i] = X->ival[k];
    }
    n->folded = 1;
    return set_int_out(Y, I->ndim, I->shape, v);
}

vl_status onnx_shape_slice(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t s[MAXD];
    int64_t st0[MAXD], step[MAXD];
    if (slice_params(m, n, X, st0, step, s))
        return plan_err(m, n, "starts, ends, axes and steps must be constant integers within the rank, steps not 0");
    if (!X->is_int) { /* float data (ShuffleNet's channel split): run by exec_node */
        set_shape(Y, X->ndim, s);
        return VL_OK;
    }
    if (X->count > 256) return plan_err(m, n, "integer tensor too large");
    int64_t v[256], xst[MAXD], q = 1, cnt = prod(s, 0, X->ndim);
    for (int d = X->ndim - 1; d >= 0; d--) { xst[d] = q; q *= X->shape[d]; }
    for (int64_t i = 0; i < cnt; i++) {
        int64_t rem = i, ix = 0;
        for (int d = X->ndim - 1; d >= 0; d--) { ix += (st0[d] + (rem % s[d]) * step[d]) * xst[d]; rem /= s[d]; }
        v[i] = X->ival[ix];
    }
    n->folded = 1;
    return set_int_out(Y, X->ndim, s, v);
}

void onnx_run_slice(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t st0[MAXD], step[MAXD], s[MAXD], xst[MAXD], q = 1;
    slice_params(m, n, X, st0, step, s); /* validated while planning */
    for (int d = X->ndim - 1; d >= 0; d--) { xst[d] = q; q *= X->shape[d]; }
    /* Copy contiguous runs: the trailing dimensions taken whole, then one
     * more taken with step 1 (ShuffleNet's channel split: one run of C/2 x H x W
     * per image; element by element it was a fifth of the model's time). */
    int k = X->ndim - 1;
    int64_t run = 1, base = 0;
    while (k >= 0 && step[k] == 1 && st0[k] == 0 && s[k] == X->shape[k]) run *= X->shape[k--];
    if (k >= 0 && step[k] == 1) {
        run *= s[k];
        base = st0[k] * xst[k];
        k--;
    }
    int64_t outer = run ? Y->count / run : 0;
#pragma omp parallel for schedule(static) if (Y->count > 65536)
    for (int64_t o = 0; o < outer; o++) {
        int64_t rem = o, ix = base;
        for (int d = k; d >= 0; d--) { ix += (st0[d] + (rem % s[d]) * step[d]) * xst[d]; rem /= s[d]; }
        memcpy(Y->data + o * run, X->data + ix, sizeof(float) * (size_t)run);
    }
}

vl_status onnx_shape_range(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    const tensor *A = X, *Bl = &m->T[n->in[1]], *D = &m->T[n->in[2]];
    if (!A->is_int || !Bl->is_int || !D->is_int || !A->is_const || !Bl->is_const || !D->is_const ||
        A->count != 1 || Bl->count != 1 || D->count != 1 || D->ival[0] == 0)
        return plan_err(m, n, "Range is supported on integer scalars (shape arithmetic) only");
    const int64_t st = A->ival[0], dl = D->ival[0], span = Bl->ival[0] - st;
    int64_t cnt = span / dl + (span % dl != 0 && (span > 0) == (dl > 0));
    cnt = cnt > 0 ? cnt : 0;
    if (cnt > (1 << 24)) return plan_err(m, n, "range too long");
    int64_t *v = malloc(sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
    if (!v) return vl_seterr(VL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < cnt; i++) v[i] = st + i * dl;
    vl_status rs = set_int_out(Y, 1, &cnt, v);
    free(v);
    n->folded = 1;
    return rs;
}

vl_status onnx_shape_less(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t s[MAXD];
    const tensor *Bv = &m->T[n->in[1]];
    if (!X->is_int || !Bv->is_int || !X->is_const || !Bv->is_const)
        return plan_err(m, n, "Less is supported on integer tensors (shape arithmetic) only");
    int nd = X->ndim > Bv->ndim ? X->ndim : Bv->ndim;
    int64_t as[MAXD], bs[MAXD];
    for (int d = 0; d < nd; d++) {
        int da = d - (nd - X->ndim), dbi = d - (nd - Bv->ndim);
        as[d] = da >= 0 ? X->shape[da] : 1;
        bs[d] = dbi >= 0 ? Bv->shape[dbi] : 1;
        if (as[d] != bs[d] && as[d] != 1 && bs[d] != 1) return plan_err(m, n, "operand shapes do not broadcast");
        s[d] = as[d] == 1 ? bs[d] : as[d];
    }
    int64_t cnt = prod(s, 0, nd);
    if (cnt > (1 << 24)) return plan_err(m, n, "integer tensor too large");
    int64_t *v = malloc(sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
    if (!v) return vl_seterr(VL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < cnt; i++) {
        int64_t rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
        for (int d = nd - 1; d >= 0; d--) {
            int64_t c = rem % s[d];
            rem /= s[d];
            ia += (as[d] == 1 ? 0 : c) * sa;
            ib += (bs[d] == 1 ? 0 : c) * sb;
            sa *= as[d];
            sb *= bs[d];
        }
        v[i] = X->ival[ia] < Bv->ival[ib];
    }
    vl_status rs = set_int_out(Y, nd, s, v);
    free(v);
    n->folded = 1;
    return rs;
}
