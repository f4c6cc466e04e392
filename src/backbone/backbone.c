/* One interface over the two kinds of backbone (backbone.h). */
#include "backbone/backbone.h"

#include <stdlib.h>
#include <string.h>

#include "backbone/builtin.h"
#include "backbone/pose.h"
#include "backbone/registry.h"
#include "core/error.h"

struct vl_backbone {
    vl_backbone_desc desc;
    vl_builtin *builtin;
    vl_onnx *onnx;
    vl_pose *pose; /* MoveNet: the ONNX file's heads decoded into a pose vector (pose.h) */
    float *gather, *gout; /* run_dense: the sampled frames together, and their features */
    int gcap;
    int last_batch; /* ONNX image model: frames in the last run */
};

static int is_builtin_name(const char *s)
{
    for (const char *const *n = vl_builtin_names(); *n; n++)
        if (!strcmp(*n, s))
            return 1;
    return 0;
}

vl_status vl_backbone_open(const char *spec, const char *tap, vl_backbone **out)
{
    *out = NULL;
    vl_backbone *b = calloc(1, sizeof *b);
    if (!b)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    const char *name = !strncmp(spec, "builtin:", 8) ? spec + 8 : spec;
    vl_status st;
    if (name != spec || is_builtin_name(name)) {
        if ((st = vl_builtin_open(name, &b->builtin))) {
            free(b);
            return st;
        }
        snprintf(b->desc.name, sizeof b->desc.name, "builtin:%s", name);
        vl_builtin_describe(b->builtin, &b->desc.pre, &b->desc.feature_dim);
        b->desc.dense = vl_builtin_dense(b->builtin);
        *out = b;
        return VL_OK;
    }
    /* a file, or a known name resolved to its verified cached file */
    const vl_backbone_entry *entry;
    if ((st = vl_backbone_resolve(spec, b->desc.file, sizeof b->desc.file, b->desc.sha256, &entry)) ||
        (st = vl_onnx_load(b->desc.file, &b->onnx))) {
        free(b);
        return st;
    }
    if (entry && !strcmp(entry->decode, "movenet")) {
        snprintf(b->desc.name, sizeof b->desc.name, "%s", spec);
        b->desc.pre = entry->pre;
        b->desc.feature_dim = VL_POSE_DIM;
        if (tap || (st = vl_pose_open(b->onnx, spec, entry->pre.width, &b->pose))) {
            if (tap)
                st = vl_seterr(VL_ERR_ARG, "%s: a pose backbone has no --layer/tap (it decodes the model's heads)",
                               spec);
            vl_onnx_free(b->onnx);
            free(b);
            return st;
        }
        *out = b;
        return VL_OK;
    }
    if (!tap && entry && entry->tap[0])
        tap = entry->tap;
    snprintf(b->desc.name, sizeof b->desc.name, "%s", spec);
    snprintf(b->desc.tap, sizeof b->desc.tap, "%s", tap ? tap : vl_onnx_default_tap(b->onnx));
    /* The model declares its input size; ImageNet normalisation by default.
     * A Keras-style model takes NHWC: [N, H, W, 3]. */
    int nd;
    int64_t s[VL_ONNX_MAXDIM];
    vl_onnx_input_name(b->onnx, &nd, s);
    vl_preproc *p = &b->desc.pre;
    vl_preproc_imagenet(p);
    if (nd == 4) {
        p->nhwc = s[3] == 3 && s[1] != 3;
        int64_t h = p->nhwc ? s[1] : s[2], w = p->nhwc ? s[2] : s[3];
        if (h > 0 && w > 0) {
            p->height = (int)h;
            p->width = (int)w;
            p->resize_to = (int)((h > w ? h : w) * 256 / 224);
        }
    } else if (nd != 0) {
        vl_onnx_free(b->onnx);
        free(b);
        return vl_seterr(VL_ERR_UNSUPPORTED, "%s: input has %d dimensions; an image model takes 4", spec, nd);
    }
    if (entry && entry->has_pre) /* the table knows how this model was trained */
        *p = entry->pre;
    /* Feature width: one run on a blank frame (also validates the tap). */
    size_t fs = (size_t)vl_preproc_frame_size(p);
    float *blank = calloc(fs, sizeof(float));
    int64_t shape[4] = {1, p->nhwc ? p->height : 3, p->nhwc ? p->width : p->height, p->nhwc ? 3 : p->width};
    const float *y;
    int ond;
    int64_t os[VL_ONNX_MAXDIM];
    st = blank ? vl_onnx_run(b->onnx, blank, 4, shape, b->desc.tap, &y, &ond, os)
               : vl_seterr(VL_ERR_NOMEM, "out of memory");
    free(blank);
    if (st) {
        vl_onnx_free(b->onnx);
        free(b);
        return st;
    }
    int64_t dim = 1;
    for (int d = 1; d < ond; d++)
        dim *= os[d];
    b->desc.feature_dim = (int)dim;
    b->last_batch = 1;
    *out = b;
    return VL_OK;
}

const vl_backbone_desc *vl_backbone_describe(const vl_backbone *b) { return &b->desc; }

int vl_backbone_takes_input_norm(const vl_backbone *b) { return b->onnx && !b->pose; }

vl_status vl_backbone_set_input_norm(vl_backbone *b, const vl_input_norm *n)
{
    if (!vl_backbone_takes_input_norm(b))
        return vl_seterr(VL_ERR_ARG, "%s prepares its own frames: input preprocessing options apply to ONNX image "
                                     "backbones", b->desc.name);
    char err[160];
    if (vl_input_norm_check(n, err, sizeof err))
        return vl_seterr(VL_ERR_ARG, "%s: %s", b->desc.name, err);
    vl_input_norm_apply(n, &b->desc.pre);
    b->desc.has_norm = 1;
    b->desc.norm = *n;
    return VL_OK;
}

int vl_backbone_takes_precision(const vl_backbone *b) { return b->onnx != NULL; }

vl_status vl_backbone_set_precision(vl_backbone *b, vl_precision p, const char **note)
{
    if (note)
        *note = NULL;
    if (!b->onnx) {
        if (p == VL_PREC_FP32)
            return VL_OK;
        return vl_seterr(VL_ERR_ARG, "%s: --precision %s applies to ONNX backbones; a built-in descriptor computes "
                         "in fp32", b->desc.name, vl_precision_name(p));
    }
    vl_status st = vl_onnx_set_precision(b->onnx, p);
    if (st)
        return st;
    b->desc.precision = vl_onnx_precision(b->onnx);
    if (note)
        *note = vl_onnx_precision_note(b->onnx);
    return VL_OK;
}
int vl_backbone_stateless(const vl_backbone *b) { return b->onnx != NULL && !b->builtin; }

int vl_backbone_last_batch(const vl_backbone *b) { return b->last_batch; }

vl_status vl_backbone_run(vl_backbone *b, const float *frames, int n, int new_sequence, float *features)
{
    if (n <= 0)
        return VL_OK;
    if (b->builtin)
        return vl_builtin_run(b->builtin, frames, n, new_sequence, features);
    if (b->pose)
        return vl_pose_run(b->pose, frames, n, NULL, features);
    const vl_preproc *p = &b->desc.pre;
    int64_t shape[4] = {n, p->nhwc ? p->height : 3, p->nhwc ? p->width : p->height, p->nhwc ? 3 : p->width};
    const float *y;
    int nd;
    int64_t os[VL_ONNX_MAXDIM];
    vl_status st = vl_onnx_run(b->onnx, frames, 4, shape, b->desc.tap, &y, &nd, os);
    b->last_batch = st ? 0 : n;
    if (st)
        return st;
    memcpy(features, y, sizeof(float) * (size_t)n * (size_t)b->desc.feature_dim);
    return VL_OK;
}

vl_status vl_backbone_run_dense(vl_backbone *b, const float *frames, int n, const double *pts, const int *steps,
                                int new_sequence, float *features)
{
    if (b->builtin)
        return vl_builtin_run_dense(b->builtin, frames, n, pts, steps, new_sequence, features);
    /* a CNN: the sampled frames in one batch (a CNN runs far faster on a
     * batch than frame by frame), then each repeated as asked */
    const int64_t fs = vl_preproc_frame_size(&b->desc.pre);
    const size_t D = (size_t)b->desc.feature_dim;
    int m = 0;
    for (int i = 0; i < n; i++)
        m += steps[i] > 0;
    if (m == 0)
        return VL_OK;
    if (m > b->gcap) {
        float *g = realloc(b->gather, sizeof(float) * (size_t)m * (size_t)fs);
        if (g)
            b->gather = g;
        float *go = g ? realloc(b->gout, sizeof(float) * (size_t)m * D) : NULL;
        if (!go)
            return vl_seterr(VL_ERR_NOMEM, "out of memory for %d frames", m);
        b->gout = go;
        b->gcap = m;
    }
    for (int i = 0, k = 0; i < n; i++)
        if (steps[i] > 0)
            memcpy(b->gather + (size_t)k++ * fs, frames + (size_t)i * fs, sizeof(float) * (size_t)fs);
    vl_status st = vl_backbone_run(b, b->gather, m, new_sequence, b->gout);
    if (st)
        return st;
    for (int i = 0, k = 0; i < n; i++) {
        if (steps[i] <= 0)
            continue;
        for (int j = 0; j < steps[i]; j++)
            memcpy(features + (size_t)j * D, b->gout + (size_t)k * D, sizeof(float) * D);
        features += (size_t)steps[i] * D;
        k++;
    }
    return VL_OK;
}

void vl_backbone_close(vl_backbone *b)
{
    if (!b)
        return;
    vl_builtin_free(b->builtin);
    vl_pose_free(b->pose);
    vl_onnx_free(b->onnx);
    free(b->gather);
    free(b->gout);
    free(b);
}
