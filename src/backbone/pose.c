/* MoveNet single-pose decoding and the pose feature vector (pose.h). */
#include "backbone/pose.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct vl_pose {
    vl_onnx *m;
    int size, G;
    float scale;
    char name[64];
};

/* MoveNet's graph, node by node (StatefulPartitionedCall/...):
 *   ArgMax over the weighted centre heatmap (truediv_2, first index on ties)
 *   -> centre cell (cy, cx) = (i / G, i % G)                  floordiv, sub_4
 *   regression at the centre: (cy + dy_k, cx + dx_k)          GatherNd, add_2, add_3
 *   per keypoint: heatmap / (sqrt((r - ry)^2 + (c - rx)^2) + 1.7998046875)
 *                                                             sub_5, sub_6, Sqrt_1, add_5, truediv_3
 *   ArgMax over the cells -> (kr, kc)                         ArgMax_1
 *   y = (kr + offset_dy) * scale, x = (kc + offset_dx) * scale, score = heatmap at (kr, kc)
 * in float32 like TF.js. The constants are those of the pinned model files
 * (add_5/y: 1.8 as float16; Reshape_13: 1/48 as float16 for Lightning, 1/64 for Thunder). */
void vl_pose_decode(const float *heads, int G, float scale, float *kp)
{
    const size_t P = (size_t)G * G;
    const float *ctr = heads, *heat = heads + P, *reg = heads + 18 * P, *off = heads + 52 * P;
    size_t ci = 0;
    for (size_t i = 1; i < P; i++)
        if (ctr[i] > ctr[ci])
            ci = i;
    const int cy = (int)(ci / (size_t)G), cx = (int)(ci % (size_t)G);
    for (int k = 0; k < VL_POSE_KPTS; k++) {
        const float ry = (float)cy + reg[(size_t)(2 * k) * P + ci], rx = (float)cx + reg[(size_t)(2 * k + 1) * P + ci];
        const float *h = heat + (size_t)k * P;
        size_t best = 0;
        float bv = -INFINITY;
        for (int r = 0; r < G; r++)
            for (int c = 0; c < G; c++) {
                float dy = (float)r - ry, dx = (float)c - rx;
                float d = sqrtf(dy * dy + dx * dx) + 1.7998046875f;
                float v = h[(size_t)r * G + c] / d;
                if (v > bv) {
                    bv = v;
                    best = (size_t)r * G + c;
                }
            }
        const int kr = (int)(best / (size_t)G), kc = (int)(best % (size_t)G);
        kp[3 * k + 0] = ((float)kr + off[(size_t)(2 * k) * P + best]) * scale;
        kp[3 * k + 1] = ((float)kc + off[(size_t)(2 * k + 1) * P + best]) * scale;
        kp[3 * k + 2] = h[best];
    }
}

void vl_pose_features(const float *kp, float *f)
{
    memset(f, 0, sizeof(float) * VL_POSE_DIM);
    float person = 0.0f;
    int ok = 1;
    for (int k = 0; k < VL_POSE_KPTS; k++) {
        person += kp[3 * k + 2];
        ok &= isfinite(kp[3 * k]) && isfinite(kp[3 * k + 1]) && isfinite(kp[3 * k + 2]);
    }
    person /= VL_POSE_KPTS;
    if (!ok || !(person >= VL_POSE_PERSON_MIN))
        return; /* no person: all zero */
    int strong = 0;
    for (int k = 0; k < VL_POSE_KPTS; k++)
        strong += kp[3 * k + 2] >= VL_POSE_KP_MIN;
    float x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int k = 0; k < VL_POSE_KPTS; k++) {
        if (strong >= 2 && kp[3 * k + 2] < VL_POSE_KP_MIN)
            continue;
        float y = kp[3 * k], x = kp[3 * k + 1];
        x0 = x < x0 ? x : x0;
        x1 = x > x1 ? x : x1;
        y0 = y < y0 ? y : y0;
        y1 = y > y1 ? y : y1;
    }
    const float cx = 0.5f * (x0 + x1), cy = 0.5f * (y0 + y1), w = x1 - x0, h = y1 - y0;
    float s = w > h ? w : h;
    if (s < 0.05f)
        s = 0.05f;
    for (int k = 0; k < VL_POSE_KPTS; k++) {
        f[VL_POSE_XY + 2 * k] = (kp[3 * k + 1] - cx) / s;
        f[VL_POSE_XY + 2 * k + 1] = (kp[3 * k] - cy) / s;
        f[VL_POSE_SCORE + k] = kp[3 * k + 2];
    }
    f[VL_POSE_BOX + 0] = cx;
    f[VL_POSE_BOX + 1] = cy;
    f[VL_POSE_BOX + 2] = w;
    f[VL_POSE_BOX + 3] = h;
    f[VL_POSE_PERSON] = person;
}

vl_status vl_pose_open(vl_onnx *m, const char *name, int size, vl_pose **out)
{
    *out = NULL;
    if (size != 192 && size != 256)
        return vl_seterr(VL_ERR_ARG, "%s: a MoveNet input is 192 or 256 pixels, not %d", name, size);
    vl_pose *p = calloc(1, sizeof *p);
    if (!p)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    p->m = m;
    p->size = size;
    p->G = size / 4;
    /* the graph's Reshape_13 constants (float16 of 1/48 and of 1/64) */
    p->scale = size == 192 ? 0.0208282470703125f : 0.015625f;
    snprintf(p->name, sizeof p->name, "%s", name);
    /* check the heads on a blank frame */
    float kp[3 * VL_POSE_KPTS];
    float *blank = calloc((size_t)size * size * 3, sizeof(float));
    vl_status st = blank ? vl_pose_run(p, blank, 1, kp, NULL) : vl_seterr(VL_ERR_NOMEM, "out of memory");
    free(blank);
    if (st) {
        free(p);
        return st;
    }
    *out = p;
    return VL_OK;
}

vl_status vl_pose_run(vl_pose *p, const float *frames, int n, float *kp, float *features)
{
    if (n <= 0)
        return VL_OK;
    int64_t shape[4] = {n, p->size, p->size, 3}, os[VL_ONNX_MAXDIM];
    const float *y;
    int nd;
    vl_status st = vl_onnx_run(p->m, frames, 4, shape, NULL, &y, &nd, os);
    if (st)
        return st;
    if (nd != 4 || os[0] != n || os[1] != VL_POSE_HEADS || os[2] != p->G || os[3] != p->G)
        return vl_seterr(VL_ERR_FORMAT,
                         "%s: the converted MoveNet gives [%lld, %lld, %lld, %lld], not the heads [%d, %d, %d, %d] "
                         "(convert it again: delete the cached file)",
                         p->name, (long long)os[0], (long long)(nd > 1 ? os[1] : 0), (long long)(nd > 2 ? os[2] : 0),
                         (long long)(nd > 3 ? os[3] : 0), n, VL_POSE_HEADS, p->G, p->G);
    const size_t per = (size_t)VL_POSE_HEADS * p->G * p->G;
    for (int i = 0; i < n; i++) {
        float k[3 * VL_POSE_KPTS];
        vl_pose_decode(y + (size_t)i * per, p->G, p->scale, k);
        if (kp)
            memcpy(kp + (size_t)i * 3 * VL_POSE_KPTS, k, sizeof k);
        if (features)
            vl_pose_features(k, features + (size_t)i * VL_POSE_DIM);
    }
    return VL_OK;
}

void vl_pose_free(vl_pose *p) { free(p); }
