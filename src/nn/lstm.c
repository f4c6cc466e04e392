/* LSTM, PyTorch formulation:
 *   i = s(W_ii x + b_ii + W_hi h + b_hi)     f = s(... f ...)
 *   g = tanh(W_ig x + b_ig + W_hg h + b_hg)  o = s(... o ...)
 *   c' = f*c + i*g                           h' = o*tanh(c')
 * The input projection for all N rows is one GEMM (the BLAS threads it); the
 * weight and input gradients are one GEMM each over all N rows.
 *
 * The time loop runs inside ONE OpenMP parallel region per layer direction
 * (rnn_common.c, vl_rnn_split): each thread owns a slice of the hidden units
 * and computes the recurrent GEMM columns of its slice (single-threaded BLAS
 * calls), its cell update, and its slice of the next step's state, so a step
 * costs one barrier instead of two fork/joins (the BLAS's and the cell loop's).
 * Every value is computed by the same formula as with one thread; only the
 * BLAS's blocking of the recurrent products differs (float rounding). */
#include <string.h>

#include "core/blas.h"
#include "nn/act.h"
#include "nn/rnn.h"

/* Copies columns [k0,k1) of rows [0,n) (n rows, strides lds/ldd). */
static inline void copy_cols(int n, int k0, int k1, const float *src, int lds, float *dst, int ldd)
{
    for (int j = 0; j < n; j++)
        memcpy(dst + (size_t)j * ldd + k0, src + (size_t)j * lds + k0, sizeof(float) * (size_t)(k1 - k0));
}

/* Columns [k0,k1) of rows [j0,j1) of an initial state (or zeros). */
static inline void init_cols(int j0, int j1, int k0, int k1, int H, const float *init, float *dst)
{
    for (int j = j0; j < j1; j++) {
        if (init)
            memcpy(dst + (size_t)j * H + k0, init + (size_t)j * H + k0, sizeof(float) * (size_t)(k1 - k0));
        else
            memset(dst + (size_t)j * H + k0, 0, sizeof(float) * (size_t)(k1 - k0));
    }
}

void vl_lstm_forward(const vl_pack *p, int reverse, int Din, int H, const float *x, int ldx,
                     const float *w_ih, const float *w_hh_t, const float *b_ih, const float *b_hh,
                     const float *h0, const float *c0, float *y, int ldy, const vl_rnn_cache *cache)
{
    const int G = 4 * H;
    float *gates = cache->gates;
    const vl_rnn_lp *lp = vl_rnn_lp_active(cache);
    if (lp) {
        vl_rnn_bf16_rows(p->N, Din, x, ldx, lp->x);
        vl_rnn_gemm16(false, true, p->N, G, Din, lp->x, Din, lp->w_ih, Din, 0.0f, gates, G);
    } else {
        vl_rnn_gemm(false, true, p->N, G, Din, x, ldx, w_ih, Din, 0.0f, gates, G);
    }
    const int nt = vl_rnn_threads(H, p->B);
#pragma omp parallel num_threads(nt)
    {
        int k0, k1;
        vl_rnn_split(H, &k0, &k1);
        {
            int t = reverse ? p->T - 1 : 0;
            size_t r0 = (size_t)p->off[t];
            init_cols(0, p->bs[t], k0, k1, H, h0, cache->hprev + r0 * H);
            init_cols(0, p->bs[t], k0, k1, H, c0, cache->cprev + r0 * H);
            if (lp)
                vl_rnn_bf16_cols(p->bs[t], k0, k1, cache->hprev + r0 * H, H, lp->hprev + r0 * H, H);
        }
#pragma omp barrier /* step 0's GEMM reads every column of h0 */
        for (int s = 0; s < p->T; s++) {
            int t = reverse ? p->T - 1 - s : s;
            int bt = p->bs[t];
            size_t r0 = (size_t)p->off[t];
            const float *hp = cache->hprev + r0 * H;
            const float *cp = cache->cprev + r0 * H;
            float *gt = gates + r0 * G;
            /* The first step from a zero state has no recurrent term. */
            if (!(s == 0 && !h0) && k1 > k0)
                for (int g = 0; g < 4; g++) {
                    if (lp)
                        vl_rnn_gemm16(false, false, bt, k1 - k0, H, lp->hprev + r0 * H, H, lp->w_hh_t + g * H + k0,
                                      G, 1.0f, gt + g * H + k0, G);
                    else
                        vl_rnn_gemm_st(false, false, bt, k1 - k0, H, hp, H, w_hh_t + g * H + k0, G, 1.0f,
                                       gt + g * H + k0, G);
                }
            for (int j = 0; j < bt; j++) {
                float *restrict a = gt + (size_t)j * G;
                const float *restrict cpj = cp + (size_t)j * H;
                float *restrict cj = cache->c + (r0 + j) * H;
                float *restrict yj = y + (r0 + j) * ldy;
                for (int k = k0; k < k1; k++) {
                    float ig = vl_sigmoidf(a[k] + b_ih[k] + b_hh[k]);
                    float fg = vl_sigmoidf(a[H + k] + b_ih[H + k] + b_hh[H + k]);
                    float gg = vl_tanhf(a[2 * H + k] + b_ih[2 * H + k] + b_hh[2 * H + k]);
                    float og = vl_sigmoidf(a[3 * H + k] + b_ih[3 * H + k] + b_hh[3 * H + k]);
                    float c = fg * cpj[k] + ig * gg;
                    a[k] = ig;
                    a[H + k] = fg;
                    a[2 * H + k] = gg;
                    a[3 * H + k] = og;
                    cj[k] = c;
                    yj[k] = og * vl_tanhf(c);
                }
            }
            if (s + 1 < p->T) {
                /* This thread's slice of the state entering the next step:
                 * continuing slots copy this step's output, the rest start
                 * from h0/c0 (PyTorch's packed semantics, see rnn.h). */
                int tn = reverse ? t - 1 : t + 1;
                int bn = p->bs[tn], ncont = bn < bt ? bn : bt;
                size_t rn = (size_t)p->off[tn];
                copy_cols(ncont, k0, k1, y + r0 * ldy, ldy, cache->hprev + rn * H, H);
                copy_cols(ncont, k0, k1, cache->c + r0 * H, H, cache->cprev + rn * H, H);
                init_cols(ncont, bn, k0, k1, H, h0, cache->hprev + rn * H);
                init_cols(ncont, bn, k0, k1, H, c0, cache->cprev + rn * H);
                if (lp)
                    vl_rnn_bf16_cols(bn, k0, k1, cache->hprev + rn * H, H, lp->hprev + rn * H, H);
#pragma omp barrier
            }
        }
    }
}

void vl_lstm_backward(const vl_pack *p, int reverse, int Din, int H, const float *x, int ldx,
                      const float *w_ih, const float *w_hh, const vl_rnn_cache *cache,
                      const float *dy, int lddy, float *dx, int lddx, float beta_dx,
                      float *dw_ih, float *dw_hh, float *db_ih, float *db_hh, float *dh0, float *dc0,
                      float *dgates, float *dh_run, float *dc_run)
{
    const int G = 4 * H;
    const vl_rnn_lp *lp = vl_rnn_lp_active(cache);
    const int nt = vl_rnn_threads(H, p->B);
#pragma omp parallel num_threads(nt)
    {
        int k0, k1;
        vl_rnn_split(H, &k0, &k1);
        init_cols(0, p->B, k0, k1, H, NULL, dh_run);
        init_cols(0, p->B, k0, k1, H, NULL, dc_run);
        /* Undo the forward walk: the forward direction backs up from T-1 to 0,
         * the reverse direction from 0 to T-1. */
        for (int s = 0; s < p->T; s++) {
            int t = reverse ? s : p->T - 1 - s;
            int bt = p->bs[t];
            size_t r0 = (size_t)p->off[t];
            for (int j = 0; j < bt; j++) {
                const float *restrict a = cache->gates + (r0 + j) * G;
                const float *restrict cj = cache->c + (r0 + j) * H;
                const float *restrict cpj = cache->cprev + (r0 + j) * H;
                const float *restrict dyj = dy + (r0 + j) * lddy;
                float *restrict dhr = dh_run + (size_t)j * H;
                float *restrict dcr = dc_run + (size_t)j * H;
                float *restrict dg = dgates + (r0 + j) * G;
                for (int k = k0; k < k1; k++) {
                    float ig = a[k], fg = a[H + k], gg = a[2 * H + k], og = a[3 * H + k];
                    float tc = vl_tanhf(cj[k]);
                    float dh = dyj[k] + dhr[k];
                    float dc = dcr[k] + dh * og * (1.0f - tc * tc);
                    dg[k] = dc * gg * ig * (1.0f - ig);
                    dg[H + k] = dc * cpj[k] * fg * (1.0f - fg);
                    dg[2 * H + k] = dc * ig * (1.0f - gg * gg);
                    dg[3 * H + k] = dh * tc * og * (1.0f - og);
                    dcr[k] = dc * fg;
                }
            }
            /* Gradient w.r.t. the state entering this step (this thread's
             * columns of it need every gate column: one barrier); slots that
             * started from h0 keep it (nothing later in the walk touches them). */
            if (lp) /* every gate row feeds the weight gradients */
                for (int g = 0; g < 4; g++)
                    vl_rnn_bf16_cols(bt, g * H + k0, g * H + k1, dgates + r0 * G, G, lp->dg + r0 * G, G);
            if (!(s == p->T - 1 && !dh0)) {
#pragma omp barrier
                if (k1 > k0 && lp)
                    vl_rnn_gemm16(false, false, bt, k1 - k0, G, lp->dg + r0 * G, G, lp->w_hh + k0, H, 0.0f,
                                  dh_run + k0, H);
                else if (k1 > k0)
                    vl_rnn_gemm_st(false, false, bt, k1 - k0, G, dgates + r0 * G, G, w_hh + k0, H, 0.0f,
                                   dh_run + k0, H);
            }
        }
    }
    vl_colsum_add(p->N, G, dgates, G, db_ih);
    vl_colsum_add(p->N, G, dgates, G, db_hh);
    if (lp) {
        vl_rnn_gemm16(true, false, G, Din, p->N, lp->dg, G, lp->x, Din, 1.0f, dw_ih, Din);
        vl_rnn_gemm16(true, false, G, H, p->N, lp->dg, G, lp->hprev, H, 1.0f, dw_hh, H);
        if (dx)
            vl_rnn_gemm16(false, false, p->N, Din, G, lp->dg, G, lp->w_ih, Din, beta_dx, dx, lddx);
    } else {
        vl_rnn_gemm(true, false, G, Din, p->N, dgates, G, x, ldx, 1.0f, dw_ih, Din);
        vl_rnn_gemm(true, false, G, H, p->N, dgates, G, cache->hprev, H, 1.0f, dw_hh, H);
        if (dx)
            vl_rnn_gemm(false, false, p->N, Din, G, dgates, G, w_ih, Din, beta_dx, dx, lddx);
    }
    if (dh0)
        memcpy(dh0, dh_run, sizeof(float) * (size_t)p->B * H);
    if (dc0)
        memcpy(dc0, dc_run, sizeof(float) * (size_t)p->B * H);
}
