/* Packed variable-length batches (PyTorch's PackedSequence layout).
 *
 * Sequences are sorted by length, longest first (stable); `perm[j]` is the
 * original batch index of sorted slot j. At time step t the active sequences
 * are slots 0..bs[t]-1, and their rows are off[t] .. off[t]+bs[t]-1 of every
 * packed [N, *] array, N = sum of lengths. So a step's active rows are one
 * contiguous block, padded steps are never stored or computed, and the
 * recurrent GEMM at step t simply has bs[t] rows. */
#ifndef VL_NN_PACK_H
#define VL_NN_PACK_H

#include <stdint.h>

#include "vidlstm.h"

typedef struct {
    int B, T, N; /* batch, longest length, total valid steps */
    int *perm;   /* [B] sorted slot -> original index */
    int *len;    /* [B] lengths in sorted order */
    int *bs;     /* [T] active sequences at step t (non-increasing) */
    int *off;    /* [T+1] first packed row of step t; off[T] = N */
    int cap_B, cap_T;
} vl_pack;

/* Builds the plan; reuses the arrays when capacity allows. Lengths must be in
 * 1..tmax (error otherwise). */
vl_status vl_pack_plan(vl_pack *p, int B, int tmax, const int32_t *lengths);
void vl_pack_free(vl_pack *p);

/* Row of sorted slot j at step t (requires t < len[j]). */
static inline int vl_pack_row(const vl_pack *p, int t, int j) { return p->off[t] + j; }

/* x [B, tmax, D] batch-first padded -> packed [N, D]. */
void vl_pack_rows(const vl_pack *p, int tmax, int D, const float *x, float *packed);
/* packed [N, D] -> y [B, tmax, D], zeros at padded steps. */
void vl_unpack_rows(const vl_pack *p, int tmax, int D, const float *packed, float *y);
/* Per-sequence rows -> packed [N, D] in one pass: seqs[b] points at sequence
 * b's rows ([len_b, D], original batch order); no padding is read. */
void vl_pack_seqs(const vl_pack *p, int D, const float *const *seqs, float *packed);
/* packed [N, D] -> per-sequence rows seqs[b] ([len_b, D]). */
void vl_unpack_seqs(const vl_pack *p, int D, const float *packed, float *const *seqs);

#endif
