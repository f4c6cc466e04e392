/* LSTM, PyTorch formulation:
 *   i = s(W_ii x + b_ii + W_hi h + b_hi)     f = s(... f ...)
 *   g = tanh(W_ig x + b_ig + W_hg h + b_hg)  o = s(... o ...)
 *   c' = f*c + i*g                           h' = o*tanh(c')
 * The input projection for all N rows is one GEMM; each step then adds its
 * recurrent GEMM over just the bs[t] active rows. */
#include <string.h>

#include "core/blas.h"
#include "nn/act.h"
#include "nn/rnn.h"

void vl_lstm_forward(const vl_pack *p, int reverse, int Din, int H, const float *x, int ldx,
                     const float *w_ih, const float *w_hh_t, const float *b_ih, const float *b_hh,
                     const float *h0, const float *c0, float *y, int ldy, const vl_rnn_cache *cache)
{
    const int G = 4 * H;
    float *gates = cache->gates;
    vl_sgemm(false, true, p->N, G, Din, 1.0f, x, ldx, w_ih, Din, 0.0f, gates, G);
    for (int s = 0; s < p->T; s++) {
        int t = reverse ? p->T - 1 - s : s;
        int bt = p->bs[t];
        size_t r0 = (size_t)p->off[t];
        float *hp = cache->hprev + r0 * H;
        float *cp = cache->cprev + r0 * H;
        vl_rnn_gather_prev(p, reverse, t, H, y, ldy, h0, hp);
        vl_rnn_gather_prev(p, reverse, t, H, cache->c, H, c0, cp);
        float *gt = gates + r0 * G;
        /* The first step from a zero state has no recurrent term. */
        if (!(s == 0 && !h0))
            vl_sgemm(false, false, bt, G, H, 1.0f, hp, H, w_hh_t, G, 1.0f, gt, G);
#pragma omp parallel for schedule(static) if ((long)bt * H >= 8192)
        for (int j = 0; j < bt; j++) {
            float *restrict a = gt + (size_t)j * G;
            const float *restrict cpj = cp + (size_t)j * H;
            float *restrict cj = cache->c + (r0 + j) * H;
            float *restrict yj = y + (r0 + j) * ldy;
            for (int k = 0; k < H; k++) {
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
    }
}

void vl_lstm_backward(const vl_pack *p, int reverse, int Din, int H, const float *x, int ldx,
                      const float *w_ih, const float *w_hh, const vl_rnn_cache *cache,
                      const float *dy, int lddy, float *dx, int lddx, float beta_dx,
                      float *dw_ih, float *dw_hh, float *db_ih, float *db_hh, float *dh0, float *dc0,
                      float *dgates, float *dh_run, float *dc_run)
{
    const int G = 4 * H;
    memset(dh_run, 0, sizeof(float) * (size_t)p->B * H);
    memset(dc_run, 0, sizeof(float) * (size_t)p->B * H);
    /* Undo the forward walk: the forward direction backs up from T-1 to 0,
     * the reverse direction from 0 to T-1. */
    for (int s = 0; s < p->T; s++) {
        int t = reverse ? s : p->T - 1 - s;
        int bt = p->bs[t];
        size_t r0 = (size_t)p->off[t];
#pragma omp parallel for schedule(static) if ((long)bt * H >= 8192)
        for (int j = 0; j < bt; j++) {
            const float *restrict a = cache->gates + (r0 + j) * G;
            const float *restrict cj = cache->c + (r0 + j) * H;
            const float *restrict cpj = cache->cprev + (r0 + j) * H;
            const float *restrict dyj = dy + (r0 + j) * lddy;
            float *restrict dhr = dh_run + (size_t)j * H;
            float *restrict dcr = dc_run + (size_t)j * H;
            float *restrict dg = dgates + (r0 + j) * G;
            for (int k = 0; k < H; k++) {
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
        /* Gradient w.r.t. the state entering this step; slots that started
         * from h0 keep it (nothing later in the walk touches them). */
        if (!(s == p->T - 1 && !dh0))
            vl_sgemm(false, false, bt, H, G, 1.0f, dgates + r0 * G, G, w_hh, H, 0.0f, dh_run, H);
    }
    vl_colsum_add(p->N, G, dgates, G, db_ih);
    vl_colsum_add(p->N, G, dgates, G, db_hh);
    vl_sgemm(true, false, G, Din, p->N, 1.0f, dgates, G, x, ldx, 1.0f, dw_ih, Din);
    vl_sgemm(true, false, G, H, p->N, 1.0f, dgates, G, cache->hprev, H, 1.0f, dw_hh, H);
    if (dx)
        vl_sgemm(false, false, p->N, Din, G, 1.0f, dgates, G, w_ih, Din, beta_dx, dx, lddx);
    if (dh0)
        memcpy(dh0, dh_run, sizeof(float) * (size_t)p->B * H);
    if (dc0)
        memcpy(dc0, dc_run, sizeof(float) * (size_t)p->B * H);
}
