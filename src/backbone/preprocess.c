/* Input normalisation presets (preprocess.h). */
#include "backbone/preprocess.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const names[] = {"torchvision", "keras-torch", "keras-caffe", "keras-tf", "raw", "matlab", NULL};

const char *const *vl_input_norm_presets(void) { return names; }

int vl_input_norm_preset(const char *name, vl_input_norm *n)
{
    static const vl_input_norm imagenet = {.lo = 0, .hi = 1, .mean = {0.485f, 0.456f, 0.406f},
                                           .std = {0.229f, 0.224f, 0.225f}};
    static const vl_input_norm plain = {.lo = 0, .hi = 255, .mean = {0, 0, 0}, .std = {1, 1, 1}};
    if (!strcmp(name, "torchvision") || !strcmp(name, "keras-torch")) {
        *n = imagenet; /* Keras preprocess_input(mode="torch") is torchvision's transform */
    } else if (!strcmp(name, "keras-caffe")) {
        /* Keras mode="caffe" (ResNet50, VGG): BGR, 0..255, ImageNet mean per
         * channel subtracted (Keras lists it B,G,R: 103.939, 116.779, 123.68), no std */
        *n = (vl_input_norm){.lo = 0, .hi = 255, .mean = {123.68f, 116.779f, 103.939f}, .std = {1, 1, 1}, .bgr = 1};
    } else if (!strcmp(name, "keras-tf")) {
        /* Keras mode="tf" (MobileNet, Inception, Xception): p / 127.5 - 1 */
        *n = (vl_input_norm){.lo = -1, .hi = 1, .mean = {0, 0, 0}, .std = {1, 1, 1}};
    } else if (!strcmp(name, "matlab") || !strcmp(name, "raw")) {
        /* MATLAB's exportONNXNetwork writes the imageInputLayer's
         * normalisation (zerocenter/zscore) into the graph, so the file
         * takes the network's raw 0..255 input (docs/backbones.md) */
        *n = plain;
    } else {
        return -1;
    }
    snprintf(n->preset, sizeof n->preset, "%s", name);
    return 0;
}

int vl_input_norm_check(const vl_input_norm *n, char *err, size_t errlen)
{
    if (!isfinite(n->lo) || !isfinite(n->hi) || !(n->lo < n->hi)) {
        snprintf(err, errlen, "input range %g,%g: need finite LO < HI", (double)n->lo, (double)n->hi);
        return -1;
    }
    for (int c = 0; c < 3; c++)
        if (!isfinite(n->mean[c]) || !isfinite(n->std[c]) || !(n->std[c] > 0)) {
            snprintf(err, errlen, "channel %c: mean %g, std %g (need finite, std > 0)", "RGB"[c], (double)n->mean[c],
                     (double)n->std[c]);
            return -1;
        }
    return 0;
}

void vl_input_norm_apply(const vl_input_norm *n, vl_preproc *p)
{
    /* (p * (hi - lo) / 255 + lo - mean) / std, in vl_preproc's terms
     * (p * scale - mean') / std with mean' = mean - lo */
    p->bgr = n->bgr;
    p->scale = (n->hi - n->lo) / 255.0f;
    for (int c = 0; c < 3; c++) {
        int src = n->bgr ? 2 - c : c; /* vl_preproc's mean/std follow the output channels */
        p->mean[c] = n->mean[src] - n->lo;
        p->std[c] = n->std[src];
    }
}

const char *vl_input_norm_match(const vl_preproc *p)
{
    if (p->grey)
        return NULL;
    for (const char *const *s = names; *s; s++) {
        vl_input_norm n;
        vl_preproc q = *p;
        vl_input_norm_preset(*s, &n);
        vl_input_norm_apply(&n, &q);
        if (q.bgr == p->bgr && q.scale == p->scale && !memcmp(q.mean, p->mean, sizeof q.mean) &&
            !memcmp(q.std, p->std, sizeof q.std))
            return *s;
    }
    return NULL;
}
