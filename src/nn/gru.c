/* GRU, PyTorch formulation (gates r, z, n):
 *   r = s(W_ir x + b_ir + W_hr h + b_hr)   z = s(W_iz x + b_iz + W_hz h + b_hz)
 *   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *   h' = (1 - z) * n + z * h
 * b_hn sits inside the reset gate, so the recurrent projection is kept apart
 * from the input projection (unlike the LSTM, where they simply add). */
#include <string.h>

#include "core/blas.h"
#include "nn/act.h"
#include "nn/rnn.h"

void vl_gru_forward(const vl_pack *p, int reverse, int Din, int H, const float *x, int ldx,
                    const float *w_ih, const float *w_hh_t, const float *b_ih, const float *b_hh,
                    const float *h0, float *y, int ldy, const vl_rnn_cache *cache, float *scratch)
{
    const int G = 3 * H;
    float *gates = cache->gates;
    vl_sgemm(false, true, p->N, G, Din, 1.0f, x, ldx, w_ih, Din, 0.0f, gates, G);
    for (int s = 0; s < p->T; s++) {
        int t = reverse ? p->T - 1 - s : s;
        int bt = p->bs[t];
        size_t r0 = (size_t)p->off[t];
        float *hp = cache->hprev + r0 * H;
        vl_rnn_gather_prev(p, reverse, t, H, y, ldy, h0, hp);
        float *gh = scratch; /* [bt, 3H] = hprev W_hh^T */
        if (s == 0 && !h0)
            memset(gh, 0, sizeof(float) * (size_t)bt * G);
        else
            vl_sgemm(false, false, bt, G, H, 1.0f, hp, H, w_hh_t, G, 0.0f, gh, G);
#pragma omp parallel for schedule(static) if ((long)bt * H >= 8192)
        for (int j = 0; j < bt; j++) {
            float *restrict a = gates + (r0 + j) * G;
            const float *restrict hj = gh + (size_t)j * G;
            const float *restrict hpj = hp + (size_t)j * H;
            float *restrict ghn = cache->ghn + (r0 + j) * H;
            float *restrict yj = y + (r0 + j) * ldy;
            for (int k = 0; k < H; k++) {
                float r = vl_sigmoidf(a[k] + b_ih[k] + hj[k] + b_hh[k]);
                float z = vl_sigmoidf(a[H + k] + b_ih[H + k] + hj[H + k] + b_hh[H + k]);
                float hn = hj[2 * H + k] + b_hh[2 * H + k];
                float n = vl_tanhf(a[2 * H + k] + b_ih[2 * H + k] + r * hn);
                a[k] = r;
                a[H + k] = z;
                a[2 * H + k] = n;
                ghn[k] = hn;
                yj[k] = (1.0f - z) * n + z * hpj[k];
            }
        }
    }
}

void vl_gru_backward(const vl_pack *p, int reverse, int Din, int H, const float *x, int ldx,
                     const float *w_ih, const float *w_hh, const vl_rnn_cache *cache,
                     const float *dy, int lddy, float *dx, int lddx, float beta_dx,
                     float *dw_ih, float *dw_hh, float *db_ih, float *db_hh, float *dh0,
                     float *dgx, float *dgh, float *dh_run)
{
    const int G = 3 * H;
    memset(dh_run, 0, sizeof(float) * (size_t)p->B * H);
    for (int s = 0; s < p->T; s++) {
        int t = reverse ? s : p->T - 1 - s;
        int bt = p->bs[t];
        size_t r0 = (size_t)p->off[t];
#pragma omp parallel for schedule(static) if ((long)bt * H >= 8192)
        for (int j = 0; j < bt; j++) {
            const float *restrict a = cache->gates + (r0 + j) * G;
            const float *restrict hpj = cache->hprev + (r0 + j) * H;
            const float *restrict ghn = cache->ghn + (r0 + j) * H;
            const float *restrict dyj = dy + (r0 + j) * lddy;
            float *restrict dhr = dh_run + (size_t)j * H;
            float *restrict gx = dgx + (r0 + j) * G;
            float *restrict gh = dgh + (r0 + j) * G;
            for (int k = 0; k < H; k++) {
                float r = a[k], z = a[H + k], n = a[2 * H + k];
                float dh = dyj[k] + dhr[k];
                float dn = dh * (1.0f - z) * (1.0f - n * n);
                float dz = dh * (hpj[k] - n) * z * (1.0f - z);
                float dr = dn * ghn[k] * r * (1.0f - r);
                gx[k] = dr;
                gx[H + k] = dz;
                gx[2 * H + k] = dn;
                gh[k] = dr;
                gh[H + k] = dz;
                gh[2 * H + k] = dn * r;
                dhr[k] = dh * z;
            }
        }
        vl_sgemm(false, false, bt, H, G, 1.0f, dgh + r0 * G, G, w_hh, H, 1.0f, dh_run, H);
    }
    vl_colsum_add(p->N, G, dgx, G, db_ih);
    vl_colsum_add(p->N, G, dgh, G, db_hh);
    vl_sgemm(true, false, G, Din, p->N, 1.0f, dgx, G, x, ldx, 1.0f, dw_ih, Din);
    vl_sgemm(true, false, G, H, p->N, 1.0f, dgh, G, cache->hprev, H, 1.0f, dw_hh, H);
    if (dx)
        vl_sgemm(false, false, p->N, Din, G, 1.0f, dgx, G, w_ih, Din, beta_dx, dx, lddx);
    if (dh0)
        memcpy(dh0, dh_run, sizeof(float) * (size_t)p->B * H);
}
