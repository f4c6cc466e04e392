/* Feed-forward pieces around the recurrent layers: fully connected, dropout,
 * losses. Plain arrays, explicit shapes; backward ACCUMULATES weight
 * gradients (+=) and overwrites input gradients. */
#ifndef VL_NN_LAYERS_H
#define VL_NN_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"

/* y[M, O] = x[M, I] (row stride ldx) W[O, I]^T + b[O] */
void vl_linear_forward(int M, int I, int O, const float *x, int ldx, const float *w, const float *b, float *y);
/* dW[O, I] += dy^T x; db[O] += column sums of dy; dx[M, I] (stride lddx) = dy W, skipped when NULL. */
void vl_linear_backward(int M, int I, int O, const float *x, int ldx, const float *w, const float *dy,
                        float *dx, int lddx, float *dw, float *db);

/* Inverted dropout over n values: mask[i] = 0 with probability p, else
 * 1/(1-p); y = x * mask. In-place (y == x) is allowed. */
void vl_dropout_forward(size_t n, float p, vl_rng *rng, const float *x, float *y, float *mask);
void vl_dropout_backward(size_t n, const float *dy, const float *mask, float *dx);

/* Softmax cross-entropy over M rows of C logits, averaged as PyTorch's
 * CrossEntropyLoss: sum_i w[y_i] * nll_i / sum_i w[y_i] (w = 1 when NULL).
 * dlogits (may be NULL) receives d(loss)/d(logits). Labels must be in 0..C-1. */
float vl_softmax_xent(int M, int C, const float *logits, const int32_t *labels, const float *w, float *dlogits);

/* Row-wise softmax, for reporting probabilities. */
void vl_softmax_rows(int M, int C, const float *logits, float *probs);

/* Mean squared error over M*C values; dpred (may be NULL) receives its gradient. */
float vl_mse(int M, int C, const float *pred, const float *target, float *dpred);

#endif
