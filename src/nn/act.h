/* Scalar activations shared by the recurrent cells. Kept in one place so a
 * vectorised version can replace them without touching the cells. */
#ifndef VL_NN_ACT_H
#define VL_NN_ACT_H

#include <math.h>

static inline float vl_sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float vl_tanhf(float x) { return tanhf(x); }

#endif
