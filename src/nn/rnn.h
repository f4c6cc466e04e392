/* One direction of one recurrent layer (LSTM or GRU) over a packed batch.
 *
 * Shapes (N packed rows, B sequences, H hidden, G gates: 4 for LSTM, 3 for GRU):
 *   x      [N, Din] packed input, row stride ldx
 *   w_ih   [G*H, Din]   w_hh [G*H, H]   b_ih, b_hh [G*H]
 *   w_hh_t [H, G*H] = w_hh transposed: the forward pass multiplies by it so
 *          its per-step GEMM is in the NN layout, several times faster than
 *          NT for a skinny [bs[t], H] left operand (BENCHMARKS.md)
 *          gates in PyTorch order: LSTM i,f,g,o; GRU r,z,n
 *   h0, c0 [B, H] initial states in SORTED slot order, or NULL for zeros
 *   y      [N, H] output h per row, row stride ldy (a bidirectional layer passes
 *          ldy = 2H and y + H for the reverse direction, so no copies are needed)
 *
 * The reverse direction walks each sequence from its own last valid step down
 * to step 0, starting from h0 (PyTorch's packed semantics): at step t, slots
 * below bs[t+1] continue from step t+1 and the rest start fresh.
 *
 * Forward saves what backward needs in a vl_rnn_cache; backward ACCUMULATES
 * into the weight gradients (+=) so callers zero them once per batch. */
#ifndef VL_NN_RNN_H
#define VL_NN_RNN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nn/pack.h"

/* bf16 state of one layer direction (rnn_bf16.c): weight copies refreshed
 * at the start of every training pass, and bf16 copies of the GEMM inputs. */
typedef struct vl_rnn_lp {
    int on; /* this pass runs its GEMMs in bf16 */
    int gru, Din, H;
    size_t capN;
    uint16_t *w_ih;   /* [G, Din] */
    uint16_t *w_hh;   /* [G, H] */
    uint16_t *w_hh_t; /* [H, G] */
    uint16_t *x;      /* [N, Din] the layer's input */
    uint16_t *hprev;  /* [N, H] */
    uint16_t *dg;     /* [N, G] LSTM dgates, GRU dgx */
    uint16_t *dgh;    /* GRU [N, G] */
} vl_rnn_lp;

/* fp32 recurrent weights packed for the step GEMMs (rnn_panel.c): panels of
 * 16 columns, K x 16 floats each, zero-padded. Forward: B = W_hh^T [H, G],
 * one group of panels per gate; backward: B = W_hh [G, H]. */
typedef struct vl_rnn_pan {
    int on; /* this pass uses them */
    int H, G;
    size_t cap;
    float *f, *b;       /* forward panels; backward panels (packed on the first backward) */
    const float *w_hh;  /* [G, H] the pass's weights, for the backward packing */
    int b_packed;
} vl_rnn_pan;

typedef struct {
    float *gates; /* [N, G*H] activated gates (GRU: r, z, n) */
    float *hprev; /* [N, H] state entering each row's step */
    float *c;     /* LSTM [N, H] cell state after the step */
    float *cprev; /* LSTM [N, H] cell state entering the step */
    float *ghn;   /* GRU [N, H] W_hn h + b_hn (inside the reset gate) */
    vl_rnn_lp *lp; /* bf16 mode (NULL or lp->on == 0: fp32); owned, vl_rnn_lp_free */
    vl_rnn_pan *pan; /* fp32 weight panels (NULL or pan->on == 0: BLAS); owned, vl_rnn_panels_free */
} vl_rnn_cache;

/* Packs W_hh ([ngates * H, H]) into the direction's forward panels for the
 * next pass (the backward ones follow on the first backward). Without
 * AVX-512, or after vl_rnn_panels_enable(0), the BLAS path is used. */
vl_status vl_rnn_panels_prepare(vl_rnn_cache *c, int ngates, int H, const float *w_hh);
/* The backward panels of this pass (packed now if not yet), or NULL. */
const float *vl_rnn_panels_backward(const vl_rnn_cache *c);
void vl_rnn_panels_free(vl_rnn_cache *c);
static inline const float *vl_rnn_panels_forward(const vl_rnn_cache *c)
{
    return c->pan && c->pan->on ? c->pan->f : NULL;
}
/* 1 when an fp32 pass of a direction with this W_hh uses panels (the
 * forward then needs no transposed W_hh). */
int vl_rnn_panels_used(int ngates, int H);
/* Global switch (tests compare both paths); 1 by default. */
void vl_rnn_panels_enable(int on);
int vl_rnn_panels_available(void);
/* Floats of the panels of B [K, N] cut into groups of `group` columns. */
size_t vl_rnn_panel_floats(int K, int N, int group);
/* B[k][n] = trans ? src[n * lds + k] : src[k * lds + n] -> panels P. */
void vl_rnn_panel_pack(int K, int N, int group, const float *src, int lds, int trans, float *P);
/* C[M, j0..j1) = A[M, K] B[K, j0..j1) + beta C, B from one group's panels P
 * (j0 a multiple of 16; C points at column j0). */
void vl_rnn_gemm_panel(int M, int K, const float *A, int lda, const float *P, int j0, int j1, float beta, float *C,
                       int ldc);

/* bf16 GEMMs with fp32 accumulation for the next pass of this layer
 * direction: converts the weights (w_hh_t = w_hh transposed, [H, G]) and sizes
 * the activation copies for N rows. fp32 master weights, fp32 element-wise
 * work and fp32 gradients are unchanged; only the GEMM inputs are rounded.
 * vl_rnn_lp_off returns the direction to fp32. */
vl_status vl_rnn_lp_prepare(vl_rnn_cache *c, int gru, int N, int Din, int H, const float *w_ih, const float *w_hh,
                            const float *w_hh_t);
void vl_rnn_lp_off(vl_rnn_cache *c);
void vl_rnn_lp_free(vl_rnn_cache *c);
static inline const vl_rnn_lp *vl_rnn_lp_active(const vl_rnn_cache *c) { return c->lp && c->lp->on ? c->lp : NULL; }
/* Rows [0,n) of columns [k0,k1) of src (stride lds) -> bf16 dst (stride ldd). */
void vl_rnn_bf16_cols(int n, int k0, int k1, const float *src, int lds, uint16_t *dst, int ldd);
/* dst[N, D] (contiguous) = bf16 of src rows (stride lds); threaded. */
void vl_rnn_bf16_rows(int N, int D, const float *src, int lds, uint16_t *dst);

/* Scratch floats each kernel needs beyond the cache. */
#define VL_GRU_FWD_SCRATCH(B, H) ((size_t)(B) * 3 * (H)) /* [B, 3H] recurrent projections */

void vl_lstm_forward(const vl_pack *p, int reverse, int Din, int H, const float *x, int ldx,
                     const float *w_ih, const float *w_hh_t, const float *b_ih, const float *b_hh,
                     const float *h0, const float *c0, float *y, int ldy, const vl_rnn_cache *cache);

/* dy [N, H] (stride lddy) is the gradient of the loss w.r.t. y; dx (stride
 * lddx, may be NULL) receives beta_dx*dx + dL/dx. dh0/dc0 [B, H] sorted slots
 * (may be NULL). Scratch: dgates [N, 4H], dh_run and dc_run [B, H]. */
void vl_lstm_backward(const vl_pack *p, int reverse, int Din, int H, const float *x, int ldx,
                      const float *w_ih, const float *w_hh, const vl_rnn_cache *cache,
                      const float *dy, int lddy, float *dx, int lddx, float beta_dx,
                      float *dw_ih, float *dw_hh, float *db_ih, float *db_hh, float *dh0, float *dc0,
                      float *dgates, float *dh_run, float *dc_run);

/* scratch: VL_GRU_FWD_SCRATCH(B, H) floats. */
void vl_gru_forward(const vl_pack *p, int reverse, int Din, int H, const float *x, int ldx,
                    const float *w_ih, const float *w_hh_t, const float *b_ih, const float *b_hh,
                    const float *h0, float *y, int ldy, const vl_rnn_cache *cache, float *scratch);

/* Scratch: dgx and dgh [N, 3H], dh_run [B, H]. */
void vl_gru_backward(const vl_pack *p, int reverse, int Din, int H, const float *x, int ldx,
                     const float *w_ih, const float *w_hh, const vl_rnn_cache *cache,
                     const float *dy, int lddy, float *dx, int lddx, float beta_dx,
                     float *dw_ih, float *dw_hh, float *db_ih, float *db_hh, float *dh0,
                     float *dgx, float *dgh, float *dh_run);

/* Shared by both cells: gather the state entering step t into a contiguous
 * [bs[t], H] block. `src` is the per-row state array (stride lds) the previous
 * step wrote; `init` the [B, H] initial state or NULL for zeros. */
void vl_rnn_gather_prev(const vl_pack *p, int reverse, int t, int H, const float *src, int lds,
                        const float *init, float *dst);

/* Column sums of a [rows, cols] block added into acc[cols]. */
void vl_colsum_add(int rows, int cols, const float *a, int lda, float *acc);
/* The same sums added into two accumulators in one pass (the LSTM's two bias
 * gradients); each is formed exactly as by vl_colsum_add. */
void vl_colsum_add2(int rows, int cols, const float *a, int lda, float *acc, float *acc2);

/* How a layer direction's time loop is shared between threads (one OpenMP
 * region for the whole loop, rnn_common.c):
 *  - rows: each thread owns a contiguous range of batch slots and runs their
 *    sequences start to end on its own (one GEMM call per step, no barrier at
 *    all); chosen when W_hh is small enough to stay in each core's cache
 *    (every thread reads all of it each step) and the batch gives each thread
 *    at least 4 slots;
 *  - columns: each thread owns a slice of the hidden units (multiples of 16)
 *    and computes those GEMM columns, cell values and next-state columns; one
 *    barrier per step; each thread reads only its slice of W_hh (large H). */
typedef struct {
    int nt;   /* threads */
    int rows; /* 1: split the batch slots, 0: split the hidden units */
} vl_rnn_plan;
vl_rnn_plan vl_rnn_plan_for(int H, int G, int B);
/* Inside the region: this thread's slots [j0,j1) and hidden units [k0,k1). */
typedef struct {
    int j0, j1, k0, k1;
} vl_rnn_part;
vl_rnn_part vl_rnn_part_of(const vl_rnn_plan *pl, int H, int B);

/* Columns [k0,k1) of rows [j0,j1) (strides lds/ldd). */
static inline void vl_rnn_copy_cols(int j0, int j1, int k0, int k1, const float *src, int lds, float *dst, int ldd)
{
    for (int j = j0; j < j1; j++)
        memcpy(dst + (size_t)j * ldd + k0, src + (size_t)j * lds + k0, sizeof(float) * (size_t)(k1 - k0));
}

/* Columns [k0,k1) of rows [j0,j1) of an initial state (or zeros). */
static inline void vl_rnn_init_cols(int j0, int j1, int k0, int k1, int H, const float *init, float *dst)
{
    for (int j = j0; j < j1; j++) {
        if (init)
            memcpy(dst + (size_t)j * H + k0, init + (size_t)j * H + k0, sizeof(float) * (size_t)(k1 - k0));
        else
            memset(dst + (size_t)j * H + k0, 0, sizeof(float) * (size_t)(k1 - k0));
    }
}

/* This thread's block (q's rows and columns) of the state entering the step
 * after t: slots that continue copy step t's output (y, and the LSTM's cell
 * state c when not NULL), the others start from h0 / c0 (NULL: zeros); the
 * bf16 copy of h follows when lp is on (PyTorch's packed semantics). */
void vl_rnn_carry(const vl_pack *p, const vl_rnn_part *q, int reverse, int t, int H, const float *y, int ldy,
                  const float *h0, const float *c, const float *c0, const vl_rnn_cache *cache);


/* C = A*B + beta*C (row major, vl_sgemm's conventions, alpha 1): the GEMMs
 * over all N rows (threaded by the BLAS), and _st the per-step ones inside
 * the time loop's parallel region (one thread each). */
void vl_rnn_gemm(bool ta, bool tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc);
/* The same with bf16 operands (vl_gemm_bf16). */
void vl_rnn_gemm16(bool ta, bool tb, int M, int N, int K, const uint16_t *A, int lda, const uint16_t *B, int ldb,
                   float beta, float *C, int ldc);
/* The input projection of every packed row at once: gates [N, G] = x [N, Din]
 * W_ih^T, in bf16 (x rounded into lp->x) when lp is set (vl_rnn_lp_active). */
void vl_rnn_input_proj(int N, int G, int Din, const float *x, int ldx, const float *w_ih, const vl_rnn_lp *lp,
                       float *gates);
void vl_rnn_gemm_st(bool ta, bool tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                    float beta, float *C, int ldc);

#endif
