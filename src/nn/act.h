/* Activations shared by the recurrent cells, written branch-free so the
 * compiler vectorises the cells' inner loops (AVX-512 with -march=native):
 * libm's expf/tanhf are scalar calls and were ~10% of a training step.
 * exp: Cephes-style range reduction + degree-6 polynomial, ~1 ulp on
 * [-87, 88]. tanh: odd polynomial below 0.625, 1 - 2/(e^{2|x|}+1) above. */
#ifndef VL_NN_ACT_H
#define VL_NN_ACT_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float vl_expf(float x)
{
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = rintf(x * 1.44269504088896341f);
    n = n == n ? n : 0.0f; /* NaN: keep the int conversion defined; p stays NaN */
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r) + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float vl_sigmoidf(float x) { return 1.0f / (1.0f + vl_expf(-x)); }

static inline float vl_tanhf(float x)
{
    float ax = fabsf(x);
    float z = x * x;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                    1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
    float big = 1.0f - 2.0f / (vl_expf(2.0f * ax) + 1.0f);
    big = copysignf(big, x);
    return ax < 0.625f ? small : big;
}

#endif
