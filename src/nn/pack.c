#include "nn/pack.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

vl_status vl_pack_plan(vl_pack *p, int B, int tmax, const int32_t *lengths)
{
    if (B <= 0 || tmax <= 0)
        return vl_seterr(VL_ERR_ARG, "batch (%d) and tmax (%d) must be positive", B, tmax);
    int T = 0;
    for (int b = 0; b < B; b++) {
        if (lengths[b] < 1 || lengths[b] > tmax)
            return vl_seterr(VL_ERR_SHAPE, "sequence %d has length %d, outside 1..%d", b, lengths[b], tmax);
        if (lengths[b] > T)
            T = lengths[b];
    }
    if (B > p->cap_B) {
        int *perm = realloc(p->perm, sizeof(int) * (size_t)B);
        if (perm) p->perm = perm;
        int *len = realloc(p->len, sizeof(int) * (size_t)B);
        if (len) p->len = len;
        if (!perm || !len)
            return vl_seterr(VL_ERR_NOMEM, "out of memory packing a batch of %d", B);
        p->cap_B = B;
    }
    if (T > p->cap_T) {
        int *bs = realloc(p->bs, sizeof(int) * (size_t)T);
        if (bs) p->bs = bs;
        int *off = realloc(p->off, sizeof(int) * (size_t)(T + 1));
        if (off) p->off = off;
        if (!bs || !off)
            return vl_seterr(VL_ERR_NOMEM, "out of memory packing %d steps", T);
        p->cap_T = T;
    }
    p->B = B;
    p->T = T;
    /* Stable insertion sort by length, descending: batches are small and this
     * keeps equal lengths in input order, as PyTorch's sort does. */
    for (int b = 0; b < B; b++) {
        int j = b;
        while (j > 0 && lengths[p->perm[j - 1]] < lengths[b]) {
            p->perm[j] = p->perm[j - 1];
            j--;
        }
        p->perm[j] = b;
    }
    for (int j = 0; j < B; j++)
        p->len[j] = lengths[p->perm[j]];
    int n = 0, active = B;
    for (int t = 0; t < T; t++) {
        while (active > 0 && p->len[active - 1] <= t)
            active--;
        p->bs[t] = active;
        p->off[t] = n;
        n += active;
    }
    p->off[T] = n;
    p->N = n;
    return VL_OK;
}

void vl_pack_free(vl_pack *p)
{
    free(p->perm);
    free(p->len);
    free(p->bs);
    free(p->off);
    memset(p, 0, sizeof *p);
}

void vl_pack_rows(const vl_pack *p, int tmax, int D, const float *x, float *packed)
{
    for (int t = 0; t < p->T; t++)
        for (int j = 0; j < p->bs[t]; j++)
            memcpy(packed + (size_t)(p->off[t] + j) * D, x + ((size_t)p->perm[j] * tmax + t) * D,
                   sizeof(float) * (size_t)D);
}

void vl_unpack_rows(const vl_pack *p, int tmax, int D, const float *packed, float *y)
{
    memset(y, 0, sizeof(float) * (size_t)p->B * tmax * D);
    for (int t = 0; t < p->T; t++)
        for (int j = 0; j < p->bs[t]; j++)
            memcpy(y + ((size_t)p->perm[j] * tmax + t) * D, packed + (size_t)(p->off[t] + j) * D,
                   sizeof(float) * (size_t)D);
}

void vl_pack_seqs(const vl_pack *p, int D, const float *const *seqs, float *packed)
{
    for (int t = 0; t < p->T; t++)
        for (int j = 0; j < p->bs[t]; j++)
            memcpy(packed + (size_t)(p->off[t] + j) * D, seqs[p->perm[j]] + (size_t)t * D, sizeof(float) * (size_t)D);
}

void vl_unpack_seqs(const vl_pack *p, int D, const float *packed, float *const *seqs)
{
    for (int t = 0; t < p->T; t++)
        for (int j = 0; j < p->bs[t]; j++)
            memcpy(seqs[p->perm[j]] + (size_t)t * D, packed + (size_t)(p->off[t] + j) * D, sizeof(float) * (size_t)D);
}
