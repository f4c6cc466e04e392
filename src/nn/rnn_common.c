#include <string.h>

#include "nn/rnn.h"

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

void vl_colsum_add(int rows, int cols, const float *a, int lda, float *acc)
{
    for (int r = 0; r < rows; r++) {
        const float *row = a + (size_t)r * lda;
        for (int c = 0; c < cols; c++)
            acc[c] += row[c];
    }
}
