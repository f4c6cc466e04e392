/* bf16 mode of the recurrent engine (issue 13 item 4): the GEMMs of the
 * LSTM/GRU step take bf16 operands and accumulate in fp32 (oneDNN's
 * gemm_bf16bf16f32, AVX512-BF16/AMX kernels); master weights, gradients,
 * element-wise cell work and the optimiser stay fp32. */
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/error.h"
#include "core/mem.h"
#include "nn/rnn.h"

void vl_rnn_bf16_cols(int n, int k0, int k1, const float *src, int lds, uint16_t *dst, int ldd)
{
    for (int j = 0; j < n; j++)
        vl_bf16_from_f32((size_t)(k1 - k0), src + (size_t)j * lds + k0, dst + (size_t)j * ldd + k0);
}

void vl_rnn_bf16_rows(int N, int D, const float *src, int lds, uint16_t *dst)
{
    if (lds == D) {
        size_t n = (size_t)N * D, per = 1 << 15;
        long nch = (long)((n + per - 1) / per);
#pragma omp parallel for schedule(static) if (nch > 1)
        for (long c = 0; c < nch; c++) {
            size_t a = (size_t)c * per, b = a + per < n ? a + per : n;
            vl_bf16_from_f32(b - a, src + a, dst + a);
        }
        return;
    }
#pragma omp parallel for schedule(static) if ((long)N * D > 65536)
    for (int r = 0; r < N; r++)
        vl_bf16_from_f32((size_t)D, src + (size_t)r * lds, dst + (size_t)r * D);
}

static void lp_release(vl_rnn_lp *lp)
{
    vl_free(lp->w_ih);
    vl_free(lp->w_hh);
    vl_free(lp->w_hh_t);
    vl_free(lp->x);
    vl_free(lp->hprev);
    vl_free(lp->dg);
    vl_free(lp->dgh);
}

vl_status vl_rnn_lp_prepare(vl_rnn_cache *c, int gru, int N, int Din, int H, const float *w_ih, const float *w_hh,
                            const float *w_hh_t)
{
    vl_rnn_lp *lp = c->lp;
    const size_t G = (size_t)(gru ? 3 : 4) * H;
    if (!lp) {
        if (!(lp = calloc(1, sizeof *lp)))
            return vl_seterr(VL_ERR_NOMEM, "out of memory for the bf16 recurrent state");
        c->lp = lp;
    }
    if (!lp->w_ih || lp->gru != gru || lp->Din != Din || lp->H != H) {
        lp_release(lp);
        memset(lp, 0, sizeof *lp);
        lp->gru = gru;
        lp->Din = Din;
        lp->H = H;
        lp->w_ih = vl_alloc(sizeof(uint16_t) * G * Din);
        lp->w_hh = vl_alloc(sizeof(uint16_t) * G * H);
        lp->w_hh_t = vl_alloc(sizeof(uint16_t) * G * H);
        if (!lp->w_ih || !lp->w_hh || !lp->w_hh_t)
            return vl_seterr(VL_ERR_NOMEM, "out of memory for bf16 weight copies");
    }
    if ((size_t)N > lp->capN) {
        vl_free(lp->x);
        vl_free(lp->hprev);
        vl_free(lp->dg);
        vl_free(lp->dgh);
        lp->x = vl_alloc(sizeof(uint16_t) * (size_t)N * Din);
        lp->hprev = vl_alloc(sizeof(uint16_t) * (size_t)N * H);
        lp->dg = vl_alloc(sizeof(uint16_t) * (size_t)N * G);
        lp->dgh = gru ? vl_alloc(sizeof(uint16_t) * (size_t)N * G) : NULL;
        lp->capN = 0;
        if (!lp->x || !lp->hprev || !lp->dg || (gru && !lp->dgh))
            return vl_seterr(VL_ERR_NOMEM, "out of memory for bf16 activations (%d steps)", N);
        lp->capN = (size_t)N;
    }
    vl_rnn_bf16_rows((int)G, Din, w_ih, Din, lp->w_ih);
    vl_rnn_bf16_rows((int)G, H, w_hh, H, lp->w_hh);
    vl_rnn_bf16_rows(H, (int)G, w_hh_t, (int)G, lp->w_hh_t);
    lp->on = 1;
    return VL_OK;
}

void vl_rnn_lp_off(vl_rnn_cache *c)
{
    if (c->lp)
        c->lp->on = 0;
}

void vl_rnn_lp_free(vl_rnn_cache *c)
{
    if (c->lp) {
        lp_release(c->lp);
        free(c->lp);
        c->lp = NULL;
    }
}
