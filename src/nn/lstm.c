/* LSTM, PyTorch formulation:
 *   i = s(W_ii x + b_ii + W_hi h + b_hi)     f = s(... f ...)
 *   g = tanh(W_ig x + b_ig + W_hg h + b_hg)  o = s(... o ...)
 *   c' = f*c + i*g                           h' = o*tanh(c')
 * The input projection for all N rows is one GEMM (the BLAS threads it); the
 * weight and input gradients are one GEMM each over all N rows.
 *
 * The time loop runs inside ONE OpenMP parallel region per layer direction,
 * shared by batch slots or by hidden units (vl_rnn_plan in rnn.h): each thread
 * computes its block of every step's recurrent GEMM (single-threaded BLAS
 * calls), its cell values and its block of the next step's state, so a step
 * costs at most one barrier instead of two fork/joins (the BLAS's and the
 * cell loop's). Every value is computed by the same formula as with one
 * thread; only the BLAS's blocking of the per-step products differs.
 *
 * bf16 mode (cache->lp, rnn_bf16.c): the same GEMMs on bf16 copies of their
 * inputs, accumulating in fp32; the cell's element-wise work stays fp32. */
#include <string.h>

#include "core/blas.h"
#include "nn/act.h"
#include "nn/rnn.h"

static inline int imin(int a, int b) { return a < b ? a : b; }


/* This thread's block of C[rows, gate columns] (+)= A[rows, K] * B[K, gate
 * columns]: one call when it owns every column, else one per gate block. */
static inline void step_gemm(const vl_rnn_lp *lp, const float *pan, int ngates, int H, int rows, int k0, int k1, int K,
                             const float *A, const uint16_t *A16, int lda, const float *Bm, const uint16_t *B16,
                             int ldb, float beta, float *C, int ldc)
{
    if (rows <= 0 || k1 <= k0)
        return;
    if (pan && !lp) { /* fp32 on packed panels: one call per gate block */
        size_t gsz = vl_rnn_panel_floats(K, H, H);
        for (int g = 0; g < ngates; g++)
            vl_rnn_gemm_panel(rows, K, A, lda, pan + g * gsz, k0, k1, beta, C + g * H + k0, ldc);
        return;
    }
    int nb = (k0 == 0 && k1 == H) ? 1 : ngates, w = nb == 1 ? ngates * H : k1 - k0;
    for (int g = 0; g < nb; g++) {
        int c = nb == 1 ? 0 : g * H + k0;
        if (lp)
            vl_rnn_gemm16(false, false, rows, w, K, A16, lda, B16 + c, ldb, beta, C + c, ldc);
        else
            vl_rnn_gemm_st(false, false, rows, w, K, A, lda, Bm + c, ldb, beta, C + c, ldc);
    }
}

/* The gate arithmetic of one row's columns [k0, k1), out of the OpenMP
 * region and with restrict operands so that it vectorises (inside the
 * outlined region GCC kept it scalar: 26% of a small configuration's step).
 * Same formulas, same order: results are bit-identical either way. */
static void lstm_cell_fwd(int k0, int k1, int H, float *restrict a, const float *restrict b_ih,
                          const float *restrict b_hh, const float *restrict cpj, float *restrict cj,
                          float *restrict yj)
{
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

static void lstm_cell_bwd(int k0, int k1, int H, const float *restrict a, const float *restrict cj,
                          const float *restrict cpj, const float *restrict dyj, const float *restrict dhr,
                          float *restrict dcr, float *restrict dg)
{
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

void vl_lstm_forward(const vl_pack *p, int reverse, int Din, int H, const float *x, int ldx,
                     const float *w_ih, const float *w_hh_t, const float *b_ih, const float *b_hh,
                     const float *h0, const float *c0, float *y, int ldy, const vl_rnn_cache *cache)
{
    const int G = 4 * H;
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
            vl_rnn_init_cols(q.j0, j1, k0, k1, H, c0, cache->cprev + r0 * H);
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
            float *gt = gates + r0 * G;
            /* The first step from a zero state has no recurrent term. */
            if (!(s == 0 && !h0))
                step_gemm(lp, pan, 4, H, j1 - j0, k0, k1, H, cache->hprev + (r0 + j0) * H,
                          lp ? lp->hprev + (r0 + j0) * H : NULL, H, w_hh_t, lp ? lp->w_hh_t : NULL, G, 1.0f,
                          gt + (size_t)j0 * G, G);
            const float *cp = cache->cprev + r0 * H;
            for (int j = j0; j < j1; j++) {
                float *restrict a = gt + (size_t)j * G;
                const float *restrict cpj = cp + (size_t)j * H;
                float *restrict cj = cache->c + (r0 + j) * H;
                float *restrict yj = y + (r0 + j) * ldy;
                lstm_cell_fwd(k0, k1, H, a, b_ih, b_hh, cpj, cj, yj);
            }
            if (s + 1 < p->T) {
                vl_rnn_carry(p, &q, reverse, t, H, y, ldy, h0, cache->c, c0, cache);
                if (!pl.rows) {
#pragma omp barrier
                }
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
    const float *pan = lp ? NULL : vl_rnn_panels_backward(cache);
    const vl_rnn_plan pl = vl_rnn_plan_for(H, G, p->B);
#pragma omp parallel num_threads(pl.nt)
    {
        const vl_rnn_part q = vl_rnn_part_of(&pl, H, p->B);
        const int k0 = q.k0, k1 = q.k1;
        vl_rnn_init_cols(q.j0, q.j1, k0, k1, H, NULL, dh_run);
        vl_rnn_init_cols(q.j0, q.j1, k0, k1, H, NULL, dc_run);
        /* Undo the forward walk: the forward direction backs up from T-1 to 0,
         * the reverse direction from 0 to T-1. */
        for (int s = 0; s < p->T; s++) {
            int t = reverse ? s : p->T - 1 - s;
            int bt = p->bs[t], j0 = q.j0, j1 = imin(q.j1, bt);
            size_t r0 = (size_t)p->off[t];
            for (int j = j0; j < j1; j++) {
                const float *restrict a = cache->gates + (r0 + j) * G;
                const float *restrict cj = cache->c + (r0 + j) * H;
                const float *restrict cpj = cache->cprev + (r0 + j) * H;
                const float *restrict dyj = dy + (r0 + j) * lddy;
                float *restrict dhr = dh_run + (size_t)j * H;
                float *restrict dcr = dc_run + (size_t)j * H;
                float *restrict dg = dgates + (r0 + j) * G;
                lstm_cell_bwd(k0, k1, H, a, cj, cpj, dyj, dhr, dcr, dg);
            }
            if (lp && j1 > j0) /* every gate row feeds the weight gradients */
                for (int g = 0; g < 4; g++)
                    vl_rnn_bf16_cols(j1 - j0, g * H + k0, g * H + k1, dgates + (r0 + j0) * G, G,
                                     lp->dg + (r0 + j0) * G, G);
            /* Gradient w.r.t. the state entering this step (by columns, this
             * thread's block needs every gate column: one barrier); slots that
             * started from h0 keep it (nothing later in the walk touches them). */
            if (!(s == p->T - 1 && !dh0)) {
                if (!pl.rows) {
#pragma omp barrier
                }
                if (j1 > j0 && k1 > k0) {
                    if (lp)
                        vl_rnn_gemm16(false, false, j1 - j0, k1 - k0, G, lp->dg + (r0 + j0) * G, G, lp->w_hh + k0, H,
                                      0.0f, dh_run + (size_t)j0 * H + k0, H);
                    else if (pan)
                        vl_rnn_gemm_panel(j1 - j0, G, dgates + (r0 + j0) * G, G, pan, k0, k1, 0.0f,
                                          dh_run + (size_t)j0 * H + k0, H);
                    else
                        vl_rnn_gemm_st(false, false, j1 - j0, k1 - k0, G, dgates + (r0 + j0) * G, G, w_hh + k0, H,
                                       0.0f, dh_run + (size_t)j0 * H + k0, H);
                }
            }
        }
    }
    vl_colsum_add2(p->N, G, dgates, G, db_ih, db_hh);
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
