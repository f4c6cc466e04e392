#include "nn/layers.h"

#include <math.h>
#include <string.h>

#include "core/blas.h"
#include "nn/rnn.h"

void vl_linear_forward(int M, int I, int O, const float *x, int ldx, const float *w, const float *b, float *y)
{
    for (int m = 0; m < M; m++)
        memcpy(y + (size_t)m * O, b, sizeof(float) * (size_t)O);
    vl_sgemm(false, true, M, O, I, 1.0f, x, ldx, w, I, 1.0f, y, O);
}

void vl_linear_backward(int M, int I, int O, const float *x, int ldx, const float *w, const float *dy,
                        float *dx, int lddx, float *dw, float *db)
{
    vl_colsum_add(M, O, dy, O, db);
    vl_sgemm(true, false, O, I, M, 1.0f, dy, O, x, ldx, 1.0f, dw, I);
    if (dx)
        vl_sgemm(false, false, M, I, O, 1.0f, dy, O, w, I, 0.0f, dx, lddx);
}

void vl_dropout_forward(size_t n, float p, vl_rng *rng, const float *x, float *y, float *mask)
{
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = vl_rng_uniform(rng) < p ? 0.0f : keep;
        y[i] = x[i] * mask[i];
    }
}

void vl_dropout_backward(size_t n, const float *dy, const float *mask, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = dy[i] * mask[i];
}

/* Row maximum and sum of exp(z - max), in double: the stable pieces of a
 * softmax and its log-sum-exp. */
static double row_exp_sum(const float *z, int C, float *mx_out)
{
    float mx = z[0];
    for (int c = 1; c < C; c++)
        mx = z[c] > mx ? z[c] : mx;
    double se = 0.0;
    for (int c = 0; c < C; c++)
        se += exp((double)z[c] - mx);
    *mx_out = mx;
    return se;
}

float vl_softmax_xent(int M, int C, const float *logits, const int32_t *labels, const float *w, float *dlogits)
{
    double total = 0.0, wsum = 0.0;
    for (int m = 0; m < M; m++) {
        const float *z = logits + (size_t)m * C;
        float mx;
        double se = row_exp_sum(z, C, &mx);
        double lse = mx + log(se);
        double wy = w ? w[labels[m]] : 1.0;
        total += wy * (lse - z[labels[m]]);
        wsum += wy;
    }
    if (dlogits) {
        for (int m = 0; m < M; m++) {
            const float *z = logits + (size_t)m * C;
            float *d = dlogits + (size_t)m * C;
            float mx;
            double se = row_exp_sum(z, C, &mx);
            /* every step weighted 0 (a batch of zero-weight classes): no loss, no gradient */
            double scale = wsum > 0.0 ? (w ? w[labels[m]] : 1.0) / wsum : 0.0;
            for (int c = 0; c < C; c++)
                d[c] = (float)(scale * (exp((double)z[c] - mx) / se - (c == labels[m])));
        }
    }
    return wsum > 0.0 ? (float)(total / wsum) : 0.0f;
}

void vl_softmax_rows(int M, int C, const float *logits, float *probs)
{
    for (int m = 0; m < M; m++) {
        const float *z = logits + (size_t)m * C;
        float *pr = probs + (size_t)m * C;
        float mx;
        double se = row_exp_sum(z, C, &mx);
        for (int c = 0; c < C; c++)
            pr[c] = (float)(exp((double)z[c] - mx) / se);
    }
}

float vl_mse(int M, int C, const float *pred, const float *target, float *dpred)
{
    size_t n = (size_t)M * C;
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)pred[i] - target[i];
        total += d * d;
        if (dpred)
            dpred[i] = (float)(2.0 * d / (double)n);
    }
    return (float)(total / (double)n);
}
