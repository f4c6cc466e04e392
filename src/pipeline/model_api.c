/* The public trained-model API (vidlstm.h, "trained models"): a model file,
 * its metadata, and prediction on features or on video. */
#include <stdlib.h>
#include <string.h>

#include "backbone/registry.h"
#include "core/error.h"
#include "model/modelfile.h"
#include "nn/layers.h"
#include "pipeline/extract.h"
#include "vidlstm.h"

struct vl_model {
    vl_net *net;
    vl_model_meta meta;
    vl_extractor *xt; /* opened on the first video */
    float *xn;        /* normalised copy of the input */
    char *path;       /* the model file, for finding its backbone */
    size_t xn_cap;
};

vl_status vl_model_open(const char *path, vl_model **out)
{
    *out = NULL;
    vl_model *m = calloc(1, sizeof *m);
    if (!m)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    vl_status st = vl_model_load(path, &m->net, &m->meta);
    if (st) {
        free(m);
        return st;
    }
    size_t pl = strlen(path) + 1;
    if (!(m->path = malloc(pl))) {
        vl_model_close(m);
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    }
    memcpy(m->path, path, pl);
    *out = m;
    return VL_OK;
}

void vl_model_close(vl_model *m)
{
    if (!m)
        return;
    vl_net_free(m->net);
    vl_model_meta_free(&m->meta);
    vl_extractor_close(m->xt);
    free(m->xn);
    free(m->path);
    free(m);
}

vl_net *vl_model_net(vl_model *m) { return m->net; }
int vl_model_num_classes(const vl_model *m) { return m->meta.nclasses; }
int vl_model_feature_dim(const vl_model *m) { return vl_net_get_config(m->net)->input; }

const char *vl_model_class_name(const vl_model *m, int c)
{
    return c >= 0 && c < m->meta.nclasses && m->meta.class_names ? m->meta.class_names[c] : NULL;
}

vl_status vl_model_predict(vl_model *m, const float *x, int T, float *out)
{
    const vl_net_config *cfg = vl_net_get_config(m->net);
    const int D = cfg->input;
    if (T < 1)
        return vl_seterr(VL_ERR_ARG, "vl_model_predict: a sequence needs at least one step (T = %d)", T);
    size_t n = (size_t)T * D;
    if (n > m->xn_cap) {
        float *p = realloc(m->xn, sizeof(float) * n);
        if (!p)
            return vl_seterr(VL_ERR_NOMEM, "out of memory for %d steps", T);
        m->xn = p;
        m->xn_cap = n;
    }
    const float *mu = m->meta.norm_mean, *sd = m->meta.norm_std;
    for (int t = 0; t < T; t++)
        for (int k = 0; k < D; k++) {
            float v = x[(size_t)t * D + k];
            m->xn[(size_t)t * D + k] = mu && sd ? (v - mu[k]) / sd[k] : v;
        }
    int32_t len = T;
    vl_batch b = {.batch = 1, .tmax = T, .dim = D, .x = m->xn, .lengths = &len};
    vl_status st = vl_net_forward(m->net, &b, out);
    if (st)
        return st;
    if (cfg->task == VL_TASK_CLASSIFY)
        vl_softmax_rows(cfg->mode == VL_OUT_SEQUENCE ? T : 1, cfg->outputs, out, out);
    return VL_OK;
}

vl_status vl_model_predict_video(vl_model *m, const char *path, float **out, int *T, double **times)
{
    *out = NULL;
    *T = 0;
    if (times)
        *times = NULL;
    const vl_net_config *cfg = vl_net_get_config(m->net);
    if (!m->meta.backbone[0])
        return vl_seterr(VL_ERR_ARG, "the model records no backbone (it was trained on feature files): run it on "
                                     "features with vl_model_predict");
    vl_status st;
    if (!m->xt && !vl_model_find_backbone(&m->meta, m->path) &&
        !vl_backbone_locate(m->meta.backbone, sizeof m->meta.backbone, m->meta.backbone_sha256))
        return vl_seterr(VL_ERR_IO, "%s: its backbone %s is not there (nor beside the model)", m->path,
                         m->meta.backbone);
    if (!m->xt) {
        vl_extract_opts eo = {.backbone = m->meta.backbone, .tap = m->meta.tap[0] ? m->meta.tap : NULL,
                              .sha256 = m->meta.backbone_sha256,
                              .norm = m->meta.has_input_norm ? &m->meta.input_norm : NULL,
                              .precision = m->meta.precision,
                              .fps = m->meta.fps, .every_k = m->meta.every_k, .jobs = 1};
        if ((st = vl_extractor_open(&eo, &m->xt)))
            return st;
        int fd = vl_extractor_backbone(m->xt)->feature_dim;
        if (fd != cfg->input) {
            vl_extractor_close(m->xt);
            m->xt = NULL;
            return vl_seterr(VL_ERR_SHAPE, "backbone %s gives %d features; the model expects %d", m->meta.backbone,
                             fd, cfg->input);
        }
    }
    vl_clip c = {.path = (char *)path};
    vl_features f;
    if ((st = vl_extract_clips(m->xt, &c, 1, &f))) {
        vl_features_free(&f);
        return st;
    }
    size_t outs = (size_t)cfg->outputs * (cfg->mode == VL_OUT_SEQUENCE ? (size_t)f.T : 1);
    float *o = malloc(sizeof(float) * outs);
    if (!o) {
        vl_features_free(&f);
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    }
    if ((st = vl_model_predict(m, f.x, f.T, o))) {
        free(o);
        vl_features_free(&f);
        return st;
    }
    *out = o;
    *T = f.T;
    if (times) {
        *times = f.time;
        f.time = NULL;
    }
    vl_features_free(&f);
    return VL_OK;
}
