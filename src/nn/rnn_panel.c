/* The recurrent step's GEMMs on pre-packed weight panels (rnn.h).
 *
 * Why: the step multiplies a few rows (a thread's share of the batch, 16 in
 * the 1500-unit configuration) by the whole recurrent weight matrix. A BLAS
 * packs its right operand on every call, which for so few rows costs as much
 * as the arithmetic: oneDNN reached 43-54% of the machine's FMA peak on
 * 16 x 6000 x 1500. The weights only change between passes, so they are
 * packed once per pass into panels of 16 columns (each panel K x 16 floats,
 * contiguous, zero-padded) and the kernel streams a panel once per tile of up
 * to 16 rows, with one 16-float accumulator per row in registers.
 *
 * Every output is beta * C plus the sums over k in chunks of 512, each chunk
 * summed in order and added in turn: the same numbers whatever the thread
 * count or the split of rows/columns. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "nn/rnn.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

static int panels_enabled = 1;

void vl_rnn_panels_enable(int on) { panels_enabled = on; }

int vl_rnn_panels_available(void)
{
#ifdef __AVX512F__
    return panels_enabled;
#else
    return 0;
#endif
}

size_t vl_rnn_panel_floats(int K, int N, int group)
{
    size_t ng = (size_t)(N / group), nb = (size_t)(group + 15) / 16;
    return ng * nb * (size_t)K * 16;
}

void vl_rnn_panel_pack(int K, int N, int group, const float *src, int lds, int trans, float *P)
{
    const int ng = N / group, nb = (group + 15) / 16, np = ng * nb;
#pragma omp parallel for schedule(static) if ((long)K * N >= 65536)
    for (int pi = 0; pi < np; pi++) {
        int grp = pi / nb, jb = pi % nb;
        float *dst = P + (size_t)pi * K * 16;
        int n0 = grp * group + jb * 16, w = group - jb * 16 < 16 ? group - jb * 16 : 16;
        if (trans) { /* B[k][n] = src[n][k]: read rows of src, write columns of the panel */
            for (int c = 0; c < 16; c++) {
                if (c < w) {
                    const float *s = src + (size_t)(n0 + c) * lds;
                    for (int k = 0; k < K; k++)
                        dst[(size_t)k * 16 + c] = s[k];
                } else {
                    for (int k = 0; k < K; k++)
                        dst[(size_t)k * 16 + c] = 0.0f;
                }
            }
        } else { /* B[k][n] = src[k][n] */
            for (int k = 0; k < K; k++) {
                const float *s = src + (size_t)k * lds + n0;
                float *d = dst + (size_t)k * 16;
                memcpy(d, s, sizeof(float) * (size_t)w);
                for (int c = w; c < 16; c++)
                    d[c] = 0.0f;
            }
        }
    }
}

#ifdef __AVX512F__
#ifndef PF
#define PF 64 /* rows of the panel fetched ahead */
#endif
/* One tile: MR rows of A against one panel; MR is a constant at every call
 * (always_inline), so the accumulators live in registers. */
static inline __attribute__((always_inline)) void tile(const int MR, int K, const float *ap, const float *Pp,
                                                       float beta, float *C, int ldc, __mmask16 m)
{
    __m512 acc[16];
    for (int i = 0; i < MR; i++)
        acc[i] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        _mm_prefetch((const char *)(Pp + (size_t)(k + PF) * 16), _MM_HINT_T0);
        __m512 b = _mm512_load_ps(Pp + (size_t)k * 16);
        for (int i = 0; i < MR; i++)
            acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(ap[(size_t)k * 16 + i]), b, acc[i]);
    }
    for (int i = 0; i < MR; i++) {
        float *c = C + (size_t)i * ldc;
        __m512 r = acc[i];
        if (beta != 0.0f) {
            __m512 old = _mm512_maskz_loadu_ps(m, c);
            r = beta == 1.0f ? _mm512_add_ps(old, r) : _mm512_fmadd_ps(old, _mm512_set1_ps(beta), r);
        }
        _mm512_mask_storeu_ps(c, m, r);
    }
}

static void tile16(int K, const float *ap, const float *P, float beta, float *C, int ldc, __mmask16 m)
{
    tile(16, K, ap, P, beta, C, ldc, m);
}
static void tile8(int K, const float *ap, const float *P, float beta, float *C, int ldc, __mmask16 m)
{
    tile(8, K, ap, P, beta, C, ldc, m);
}
static void tile4(int K, const float *ap, const float *P, float beta, float *C, int ldc, __mmask16 m)
{
    tile(4, K, ap, P, beta, C, ldc, m);
}
static void tile2(int K, const float *ap, const float *P, float beta, float *C, int ldc, __mmask16 m)
{
    tile(2, K, ap, P, beta, C, ldc, m);
}
static void tile1(int K, const float *ap, const float *P, float beta, float *C, int ldc, __mmask16 m)
{
    tile(1, K, ap, P, beta, C, ldc, m);
}
#endif

void vl_rnn_gemm_panel(int M, int K, const float *A, int lda, const float *P, int j0, int j1, float beta, float *C,
                       int ldc)
{
#ifdef __AVX512F__
    /* K in chunks; a tile's rows of A are copied k-major (16 floats, one
     * cache line per k: rows a power-of-two apart would share L1 sets) and
     * stay in L1 while the panels stream past; each chunk's sum is added to
     * C in turn. */
    enum { KC = 512 };
    _Alignas(64) float ap[KC * 16];
    for (int kc = 0; kc < K; kc += KC) {
        const int kl = K - kc < KC ? K - kc : KC;
        const float bt = kc == 0 ? beta : 1.0f;
        for (int i = 0; i < M;) {
            const int mr = M - i >= 16 ? 16 : M - i >= 8 ? 8 : M - i >= 4 ? 4 : M - i >= 2 ? 2 : 1;
            for (int r = 0; r < mr; r++) {
                const float *a = A + (size_t)(i + r) * lda + kc;
                for (int k = 0; k < kl; k++)
                    ap[k * 16 + r] = a[k];
            }
            for (int jb = j0 / 16; jb * 16 < j1; jb++) {
                int c0 = jb * 16, w = j1 - c0 < 16 ? j1 - c0 : 16;
                __mmask16 m = (__mmask16)((1u << w) - 1u);
                const float *Pp = P + ((size_t)jb * K + kc) * 16;
                float *Cp = C + (c0 - j0) + (size_t)i * ldc;
                switch (mr) {
                case 16: tile16(kl, ap, Pp, bt, Cp, ldc, m); break;
                case 8: tile8(kl, ap, Pp, bt, Cp, ldc, m); break;
                case 4: tile4(kl, ap, Pp, bt, Cp, ldc, m); break;
                case 2: tile2(kl, ap, Pp, bt, Cp, ldc, m); break;
                default: tile1(kl, ap, Pp, bt, Cp, ldc, m); break;
                }
            }
            i += mr;
        }
    }
#else
    (void)M, (void)K, (void)A, (void)lda, (void)P, (void)j0, (void)j1, (void)beta, (void)C, (void)ldc;
#endif
}

int vl_rnn_panels_used(int ngates, int H)
{
    /* Weights that fit in L2 (the row-split plan of vl_rnn_plan_for): the
     * BLAS's own small-GEMM path measured as fast or faster ((b), (d)). */
    return vl_rnn_panels_available() && (size_t)ngates * H * H * sizeof(float) > ((size_t)1 << 20);
}

vl_status vl_rnn_panels_prepare(vl_rnn_cache *c, int ngates, int H, const float *w_hh)
{
    if (!vl_rnn_panels_used(ngates, H)) {
        if (c->pan)
            c->pan->on = 0;
        return VL_OK;
    }
    const int G = ngates * H;
    size_t need = vl_rnn_panel_floats(H, G, H); /* forward: B = W_hh^T [H, G], one group per gate */
    size_t needb = vl_rnn_panel_floats(G, H, H); /* backward: B = W_hh [G, H] */
    if (!c->pan && !(c->pan = calloc(1, sizeof *c->pan)))
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    vl_rnn_pan *p = c->pan;
    if (p->cap < need + needb) {
        vl_free(p->f);
        p->f = vl_alloc_lasting(sizeof(float) * (need + needb));
        if (!p->f) {
            p->cap = 0;
            p->on = 0;
            return vl_seterr(VL_ERR_NOMEM, "out of memory for the recurrent weight panels (%zu floats)", need + needb);
        }
        p->cap = need + needb;
    }
    p->b = p->f + need;
    p->H = H;
    p->G = G;
    p->w_hh = w_hh;
    p->b_packed = 0;
    vl_rnn_panel_pack(H, G, H, w_hh, H, 1, p->f);
    p->on = 1;
    return VL_OK;
}

const float *vl_rnn_panels_backward(const vl_rnn_cache *c)
{
    vl_rnn_pan *p = c->pan;
    if (!p || !p->on)
        return NULL;
    if (!p->b_packed) { /* the weights of this pass, packed on the first backward */
        vl_rnn_panel_pack(p->G, p->H, p->H, p->w_hh, p->H, 0, p->b);
        p->b_packed = 1;
    }
    return p->b;
}

void vl_rnn_panels_free(vl_rnn_cache *c)
{
    if (c->pan) {
        vl_free(c->pan->f);
        free(c->pan);
        c->pan = NULL;
    }
}
