/* GRU, PyTorch formulation (gates r, z, n):
 *   r = s(W_ir x + b_ir + W_hr h + b_hr)   z = s(W_iz x + b_iz + W_hz h + b_hz)
 *   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *   h' = (1 - z) * n + z * h
 * b_hn sits inside the reset gate, so the recurrent projection is kept apart
 * from the input projection (unlike the LSTM, where they simply add).
 * Threading and bf16 as in lstm.c: one parallel region per time loop, split by
 * batch slots (no barrier) or by hidden units (one barrier per step). */
#include <string.h>

#include "core/blas.h"
#include "nn/act.h"
#include "nn/rnn.h"

static inline int imin(int a, int b) { return a < b ? a : b; }


/* The gate arithmetic of one row's columns [k0, k1), outside the OpenMP
 * region with restrict operands so that it vectorises (see lstm.c). */
static void gru_cell_fwd(int k0, int k1, int H, float *restrict a, const float *restrict b_ih,
                         const float *restrict b_hh, const float *restrict hj, const float *restrict hpj,
                         float *restrict ghn, float *restrict yj)
{
    for (int k = k0; k < k1; k++) {
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

static void gru_cell_bwd(int k0, int k1, int H, const float *restrict a, const float *restrict hpj,
                         const float *restrict ghn, const float *restrict dyj, float *restrict dhr,
                         float *restrict gx, float *restrict gh)
{
    for (int k = k0; k < k1; k++) {
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

void vl_gru_forward(const vl_pack *p, int reverse, int Din, int H, const float *x, int ldx,
                    const float *w_ih, const float *w_hh_t, const float *b_ih, const float *b_hh,
                    const float *h0, float *y, int ldy, const vl_rnn_cache *cache, float *scratch)
{
    const int G = 3 * H;
    float *gates = cache->gates;
    const vl_rnn_lp *lp = vl_rnn_lp_active(cache);
    const float *pan = vl_rnn_panels_forward(cache);
    vl_rnn_input_proj(p->N, G, Din, x, ldx, w_ih, lp, gates);
    const vl_rnn_plan pl = vl_rnn_plan_for(H, G, p->B);
#pragma omp parallel num_threads(pl.nt)
    {
        const vl_rnn_part q = vl_rnn_part_of(&pl, H, p->B);
        const int k0 = q.k0, k1 = q.k1;
        {
            int t = reverse ? p->T - 1 : 0, j1 = imin(q.j1, p->bs[t]);
            size_t r0 = (size_t)p->off[t];
            vl_rnn_init_cols(q.j0, j1, k0, k1, H, h0, cache->hprev + r0 * H);
            if (lp)
                vl_rnn_bf16_cols(j1 - q.j0, k0, k1, cache->hprev + (r0 + q.j0) * H, H, lp->hprev + (r0 + q.j0) * H,
                                 H);
        }
        if (!pl.rows) {
#pragma omp barrier /* step 0's GEMM reads every column of h0 */
        }
        for (int s = 0; s < p->T; s++) {
            int t = reverse ? p->T - 1 - s : s;
            int bt = p->bs[t], j0 = q.j0, j1 = imin(q.j1, bt);
            size_t r0 = (size_t)p->off[t];
            const float *hp = cache->hprev + r0 * H;
            float *gh = scratch; /* [B, 3H] = hprev W_hh^T, this thread's block */
            if (j1 > j0 && k1 > k0 && pan && !lp && !(s == 0 && !h0)) {
                size_t gsz = vl_rnn_panel_floats(H, H, H);
                for (int g = 0; g < 3; g++)
                    vl_rnn_gemm_panel(j1 - j0, H, hp + (size_t)j0 * H, H, pan + g * gsz, k0, k1, 0.0f,
                                      gh + (size_t)j0 * G + g * H + k0, G);
            } else if (j1 > j0 && k1 > k0) {
                int nb = (k0 == 0 && k1 == H) ? 1 : 3, w = nb == 1 ? G : k1 - k0;
                for (int g = 0; g < nb; g++) {
                    int c = nb == 1 ? 0 : g * H + k0;
                    float *o = gh + (size_t)j0 * G + c;
                    if (s == 0 && !h0)
                        vl_rnn_init_cols(0, j1 - j0, 0, w, G, NULL, o);
                    else if (lp)
                        vl_rnn_gemm16(false, false, j1 - j0, w, H, lp->hprev + (r0 + j0) * H, H, lp->w_hh_t + c, G,
                                      0.0f, o, G);
                    else
                        vl_rnn_gemm_st(false, false, j1 - j0, w, H, hp + (size_t)j0 * H, H, w_hh_t + c, G, 0.0f, o,
                                       G);
                }
            }
            for (int j = j0; j < j1; j++) {
                float *restrict a = gates + (r0 + j) * G;
                const float *restrict hj = gh + (size_t)j * G;
                const float *restrict hpj = hp + (size_t)j * H;
                float *restrict ghn = cache->ghn + (r0 + j) * H;
                float *restrict yj = y + (r0 + j) * ldy;
                gru_cell_fwd(k0, k1, H, a, b_ih, b_hh, hj, hpj, ghn, yj);
            }
            if (s + 1 < p->T) {
                vl_rnn_carry(p, &q, reverse, t, H, y, ldy, h0, NULL, NULL, cache);
                if (!pl.rows) {
#pragma omp barrier
                }
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
    const vl_rnn_lp *lp = vl_rnn_lp_active(cache);
    const float *pan = lp ? NULL : vl_rnn_panels_backward(cache);
    const vl_rnn_plan pl = vl_rnn_plan_for(H, G, p->B);
#pragma omp parallel num_threads(pl.nt)
    {
        const vl_rnn_part q = vl_rnn_part_of(&pl, H, p->B);
        const int k0 = q.k0, k1 = q.k1;
        vl_rnn_init_cols(q.j0, q.j1, k0, k1, H, NULL, dh_run);
        for (int s = 0; s < p->T; s++) {
            int t = reverse ? s : p->T - 1 - s;
            int bt = p->bs[t], j0 = q.j0, j1 = imin(q.j1, bt);
            size_t r0 = (size_t)p->off[t];
            for (int j = j0; j < j1; j++) {
                const float *restrict a = cache->gates + (r0 + j) * G;
                const float *restrict hpj = cache->hprev + (r0 + j) * H;
                const float *restrict ghn = cache->ghn + (r0 + j) * H;
                const float *restrict dyj = dy + (r0 + j) * lddy;
                float *restrict dhr = dh_run + (size_t)j * H;
                float *restrict gx = dgx + (r0 + j) * G;
                float *restrict gh = dgh + (r0 + j) * G;
                gru_cell_bwd(k0, k1, H, a, hpj, ghn, dyj, dhr, gx, gh);
            }
            if (lp && j1 > j0)
                for (int g = 0; g < 3; g++) {
                    vl_rnn_bf16_cols(j1 - j0, g * H + k0, g * H + k1, dgx + (r0 + j0) * G, G, lp->dg + (r0 + j0) * G,
                                     G);
                    vl_rnn_bf16_cols(j1 - j0, g * H + k0, g * H + k1, dgh + (r0 + j0) * G, G,
                                     lp->dgh + (r0 + j0) * G, G);
                }
            if (!pl.rows) {
#pragma omp barrier
            }
            if (j1 > j0 && k1 > k0) {
                if (lp)
                    vl_rnn_gemm16(false, false, j1 - j0, k1 - k0, G, lp->dgh + (r0 + j0) * G, G, lp->w_hh + k0, H,
                                  1.0f, dh_run + (size_t)j0 * H + k0, H);
                else if (pan)
                    vl_rnn_gemm_panel(j1 - j0, G, dgh + (r0 + j0) * G, G, pan, k0, k1, 1.0f,
                                      dh_run + (size_t)j0 * H + k0, H);
                else
                    vl_rnn_gemm_st(false, false, j1 - j0, k1 - k0, G, dgh + (r0 + j0) * G, G, w_hh + k0, H, 1.0f,
                                   dh_run + (size_t)j0 * H + k0, H);
            }
        }
    }
    vl_colsum_add(p->N, G, dgx, G, db_ih);
    vl_colsum_add(p->N, G, dgh, G, db_hh);
    if (lp) {
        vl_rnn_gemm16(true, false, G, Din, p->N, lp->dg, G, lp->x, Din, 1.0f, dw_ih, Din);
        vl_rnn_gemm16(true, false, G, H, p->N, lp->dgh, G, lp->hprev, H, 1.0f, dw_hh, H);
        if (dx)
            vl_rnn_gemm16(false, false, p->N, Din, G, lp->dg, G, lp->w_ih, Din, beta_dx, dx, lddx);
    } else {
        vl_rnn_gemm(true, false, G, Din, p->N, dgx, G, x, ldx, 1.0f, dw_ih, Din);
        vl_rnn_gemm(true, false, G, H, p->N, dgh, G, cache->hprev, H, 1.0f, dw_hh, H);
        if (dx)
            vl_rnn_gemm(false, false, p->N, Din, G, dgx, G, w_ih, Din, beta_dx, dx, lddx);
    }
    if (dh0)
        memcpy(dh0, dh_run, sizeof(float) * (size_t)p->B * H);
}
