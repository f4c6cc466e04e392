#include <string.h>

#include "nn/rnn.h"

#include "core/blas.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void vl_rnn_gather_prev(const vl_pack *p, int reverse, int t, int H, const float *src, int lds,
                        const float *init, float *dst)
{
    int bt = p->bs[t];
    int prev_t = reverse ? t + 1 : t - 1;
    int ncont = (prev_t >= 0 && prev_t < p->T) ? p->bs[prev_t] : 0;
    if (ncont > bt)
        ncont = bt;
    size_t rowbytes = sizeof(float) * (size_t)H;
    if (ncont > 0) {
        const float *s = src + (size_t)p->off[prev_t] * lds;
        if (lds == H)
            memcpy(dst, s, rowbytes * (size_t)ncont);
        else
            for (int j = 0; j < ncont; j++)
                memcpy(dst + (size_t)j * H, s + (size_t)j * lds, rowbytes);
    }
    if (ncont < bt) {
        if (init)
            memcpy(dst + (size_t)ncont * H, init + (size_t)ncont * H, rowbytes * (size_t)(bt - ncont));
        else
            memset(dst + (size_t)ncont * H, 0, rowbytes * (size_t)(bt - ncont));
    }
}

/* Columns [c0, c1) of the rows added into acc (and acc2 when not NULL), row
 * after row; restrict operands so that it vectorises. */
static void colsum_block(int rows, int c0, int c1, const float *restrict a, int lda, float *restrict acc,
                         float *restrict acc2)
{
    for (int r = 0; r < rows; r++) {
        const float *restrict row = a + (size_t)r * lda;
        if (acc2)
            for (int c = c0; c < c1; c++) {
                acc[c] += row[c];
                acc2[c] += row[c];
            }
        else
            for (int c = c0; c < c1; c++)
                acc[c] += row[c];
    }
}

/* Threads take column blocks and add the rows in order, so every sum is
 * formed exactly as by one thread. */
void vl_colsum_add2(int rows, int cols, const float *a, int lda, float *acc, float *acc2)
{
    enum { CB = 256 };
    int nb = (cols + CB - 1) / CB;
#pragma omp parallel for schedule(static) if ((long)rows * cols >= 65536 && nb > 1)
    for (int b = 0; b < nb; b++) {
        int c0 = b * CB, c1 = c0 + CB < cols ? c0 + CB : cols;
        colsum_block(rows, c0, c1, a, lda, acc, acc2);
    }
}

void vl_colsum_add(int rows, int cols, const float *a, int lda, float *acc)
{
    vl_colsum_add2(rows, cols, a, lda, acc, NULL);
}

void vl_rnn_carry(const vl_pack *p, const vl_rnn_part *q, int reverse, int t, int H, const float *y, int ldy,
                  const float *h0, const float *c, const float *c0, const vl_rnn_cache *cache)
{
    const int k0 = q->k0, k1 = q->k1, bt = p->bs[t];
    int tn = reverse ? t - 1 : t + 1;
    int bn = p->bs[tn], ncont = bn < bt ? bn : bt;
    size_t r0 = (size_t)p->off[t], rn = (size_t)p->off[tn];
    int ce = q->j1 < ncont ? q->j1 : ncont, ib = q->j0 > ncont ? q->j0 : ncont, ie = q->j1 < bn ? q->j1 : bn;
    vl_rnn_copy_cols(q->j0, ce, k0, k1, y + r0 * ldy, ldy, cache->hprev + rn * H, H);
    if (c)
        vl_rnn_copy_cols(q->j0, ce, k0, k1, c + r0 * H, H, cache->cprev + rn * H, H);
    vl_rnn_init_cols(ib, ie, k0, k1, H, h0, cache->hprev + rn * H);
    if (c)
        vl_rnn_init_cols(ib, ie, k0, k1, H, c0, cache->cprev + rn * H);
    const vl_rnn_lp *lp = vl_rnn_lp_active(cache);
    if (lp && ie > q->j0)
        vl_rnn_bf16_cols(ie - q->j0, k0, k1, cache->hprev + (rn + q->j0) * H, H, lp->hprev + (rn + q->j0) * H, H);
}

vl_rnn_plan vl_rnn_plan_for(int H, int G, int B)
{
    vl_rnn_plan pl = {1, 0};
#ifdef _OPENMP
    int mt = omp_get_max_threads();
    if ((size_t)G * H * sizeof(float) <= ((size_t)1 << 20) && B >= 8 && mt > 1) {
        pl.rows = 1;
        pl.nt = B / 4 < mt ? B / 4 : mt;
        return pl;
    }
    pl.nt = mt;
    while (pl.nt > 1 && H / pl.nt < 16)
        pl.nt--;
#else
    (void)H, (void)G, (void)B;
#endif
    return pl;
}

vl_rnn_part vl_rnn_part_of(const vl_rnn_plan *pl, int H, int B)
{
#ifdef _OPENMP
    int nt = omp_get_num_threads(), id = omp_get_thread_num();
#else
    int nt = 1, id = 0;
#endif
    vl_rnn_part q = {0, B, 0, H};
    if (nt <= 1)
        return q;
    if (pl->rows) {
        q.j0 = (int)((long)B * id / nt);
        q.j1 = (int)((long)B * (id + 1) / nt);
    } else {
        /* Slices of ceil(H / nt) rounded up to 16 (a 512-bit vector of floats). */
        int chunk = ((H + nt - 1) / nt + 15) / 16 * 16;
        int a = id * chunk, b = a + chunk;
        q.k0 = a < H ? a : H;
        q.k1 = b < H ? b : H;
    }
    return q;
}

void vl_rnn_gemm(bool ta, bool tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc)
{
    vl_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

/* oneDNN runs a GEMM called from inside an active parallel region on the
 * calling thread alone (nested regions are inactive by default). */
void vl_rnn_gemm_st(bool ta, bool tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                    float beta, float *C, int ldc)
{
    vl_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

void vl_rnn_gemm16(bool ta, bool tb, int M, int N, int K, const uint16_t *A, int lda, const uint16_t *B, int ldb,
                   float beta, float *C, int ldc)
{
    vl_gemm_bf16(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

void vl_rnn_input_proj(int N, int G, int Din, const float *x, int ldx, const float *w_ih, const vl_rnn_lp *lp,
                       float *gates)
{
    if (lp) {
        vl_rnn_bf16_rows(N, Din, x, ldx, lp->x);
        vl_rnn_gemm16(false, true, N, G, Din, lp->x, Din, lp->w_ih, Din, 0.0f, gates, G);
    } else {
        vl_rnn_gemm(false, true, N, G, Din, x, ldx, w_ih, Din, 0.0f, gates, G);
    }
}
