/* Recurrent operators: LSTM and GRU (what vidlstm export writes). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/onnx/graph.h"
#include "backbone/onnx/ops.h"
#include "core/blas.h"
#include "core/mem.h"

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

void onnx_run_rnn(vl_onnx *m, node *n)
{
    const int lstm = n->op == OP_LSTM, ng = lstm ? 4 : 3;
    const tensor *X = &m->T[n->in[0]], *W = &m->T[n->in[1]], *R = &m->T[n->in[2]];
    const tensor *Bt = n->nin > 3 && n->in[3] >= 0 ? &m->T[n->in[3]] : NULL;
    const tensor *L = n->nin > 4 && n->in[4] >= 0 ? &m->T[n->in[4]] : NULL;
    tensor *Y = &m->T[n->out[0]], *Yh = n->nout > 1 ? &m->T[n->out[1]] : NULL;
    tensor *Yc = lstm && n->nout > 2 ? &m->T[n->out[2]] : NULL;
    char db[32];
    const char *dir = attr_str(n, "direction", db, sizeof db);
    const int rev_only = dir && !strcmp(dir, "reverse");
    const int64_t T = X->shape[0], Bn = X->shape[1], I = X->shape[2], dirs = W->shape[0], H = R->shape[2], G = ng * H;
    float *g = m->scratch, *h = g + G, *c = h + H; /* sized in plan_shape */
    memset(Y->data, 0, sizeof(float) * (size_t)Y->count);
    for (int64_t d = 0; d < dirs; d++)
        for (int64_t b = 0; b < Bn; b++) {
            const int64_t len = L ? L->ival[b] : T;
            const float *w = W->data + d * G * I, *r = R->data + d * G * H;
            const float *wb = Bt ? Bt->data + d * 2 * G : NULL, *rb = wb ? wb + G : NULL;
            const int back = rev_only || d == 1;
            memset(h, 0, sizeof(float) * (size_t)H);
            memset(c, 0, sizeof(float) * (size_t)H);
            for (int64_t s = 0; s < len; s++) {
                const int64_t t = back ? len - 1 - s : s;
                const float *x = X->data + (t * Bn + b) * I;
                for (int64_t q = 0; q < G; q++) {
                    float a = wb ? wb[q] : 0.0f;
                    for (int64_t k = 0; k < I; k++) a += w[q * I + k] * x[k];
                    if (lstm || q < 2 * H) { /* GRU's h gate adds its recurrent part after the reset gate */
                        a += rb ? rb[q] : 0.0f;
                        for (int64_t k = 0; k < H; k++) a += r[q * H + k] * h[k];
                    }
                    g[q] = a;
                }
                if (lstm) {
                    for (int64_t j = 0; j < H; j++) {
                        float ig = sigm(g[j]), og = sigm(g[H + j]), fg = sigm(g[2 * H + j]), cc = tanhf(g[3 * H + j]);
                        c[j] = fg * c[j] + ig * cc;
                        h[j] = og * tanhf(c[j]);
                    }
                } else {
                    for (int64_t j = 0; j < H; j++) { /* r * (R_h h + Rb_h), from the old h */
                        float a = rb ? rb[2 * H + j] : 0.0f;
                        for (int64_t k = 0; k < H; k++) a += r[(2 * H + j) * H + k] * h[k];
                        c[j] = a;
                    }
                    for (int64_t j = 0; j < H; j++) {
                        float z = sigm(g[j]), rg = sigm(g[H + j]), hh = tanhf(g[2 * H + j] + rg * c[j]);
                        h[j] = (1.0f - z) * hh + z * h[j];
                    }
                }
                memcpy(Y->data + ((t * dirs + d) * Bn + b) * H, h, sizeof(float) * (size_t)H);
            }
            if (Yh) memcpy(Yh->data + (d * Bn + b) * H, h, sizeof(float) * (size_t)H);
            if (Yc) memcpy(Yc->data + (d * Bn + b) * H, c, sizeof(float) * (size_t)H);
        }
}

vl_status onnx_shape_rnn(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    const int lstm = n->op == OP_LSTM, ng = lstm ? 4 : 3;
    const tensor *W = &m->T[n->in[1]], *R = &m->T[n->in[2]];
    char db[32];
    const char *dir = attr_str(n, "direction", db, sizeof db);
    if (dir && strcmp(dir, "forward") && strcmp(dir, "reverse") && strcmp(dir, "bidirectional"))
        return plan_err(m, n, "direction must be forward, reverse or bidirectional");
    const int64_t H = attr_int(n, "hidden_size", 0), dirs = dir && !strcmp(dir, "bidirectional") ? 2 : 1;
    if (attr_int(n, "layout", 0) != 0) return plan_err(m, n, "only layout 0 ([time, batch, input]) is supported");
    if (attr(n, "activations") || attr(n, "activation_alpha") || attr(n, "activation_beta"))
        return plan_err(m, n, "only the default activations are supported");
    if (attr(n, "clip")) return plan_err(m, n, "clip is not supported");
    if (lstm && attr_int(n, "input_forget", 0)) return plan_err(m, n, "input_forget is not supported");
    if (!lstm && attr_int(n, "linear_before_reset", 0) != 1)
        return plan_err(m, n, "only linear_before_reset = 1 (PyTorch's GRU) is supported");
    if (n->nout > (lstm ? 3 : 2)) return plan_err(m, n, "too many outputs");
    if (X->is_int || X->is_const || X->ndim != 3)
        return plan_err(m, n, "X must be a computed 3-D float tensor [time, batch, input]");
    const int64_t T = X->shape[0], Bn = X->shape[1], I = X->shape[2];
    if (H <= 0 || H > 65536 || W->is_int || R->is_int || !W->is_const || !R->is_const || W->ndim != 3 ||
        R->ndim != 3 || W->shape[0] != dirs || W->shape[1] != ng * H || W->shape[2] != I || R->shape[0] != dirs ||
        R->shape[1] != ng * H || R->shape[2] != H)
        return plan_err(m, n, "W and R must be constants shaped for hidden_size, the direction and the input");
    if (n->nin > 3 && n->in[3] >= 0 &&
        (m->T[n->in[3]].is_int || !m->T[n->in[3]].is_const || m->T[n->in[3]].count != dirs * 2 * ng * H))
        return plan_err(m, n, "B must be a constant [directions, 2 * gates * hidden_size]");
    if (n->nin > 4 && n->in[4] >= 0) {
        const tensor *L = &m->T[n->in[4]];
        if (!L->is_int || !L->is_const || L->count != Bn)
            return plan_err(m, n, "sequence_lens must be the int32 [batch] graph input");
        for (int64_t b = 0; b < Bn; b++)
            if (L->ival[b] < 1 || L->ival[b] > T) return plan_err(m, n, "a sequence length is outside 1..time");
    }
    for (int k = 5; k < n->nin; k++)
        if (n->in[k] >= 0) return plan_err(m, n, "initial states and peepholes are not supported");
    const int64_t y[4] = {T, dirs, Bn, H}, yh[3] = {dirs, Bn, H};
    set_shape(Y, 4, y);
    for (int k = 1; k < n->nout; k++) set_shape(&m->T[n->out[k]], 3, yh);
    return VL_OK;
}

/* Scratch, in floats: the gates, h and c of one step. */
size_t onnx_scratch_rnn(const vl_onnx *m, const node *n)
{
    const tensor *R = &m->T[n->in[2]];
    return (size_t)(R->shape[1] + 2 * R->shape[2]);
}
