#include "optim/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "model/net_internal.h"

struct vl_optim {
    vl_net *net;
    vl_optim_config cfg;
    float lr;
    long step;
    float *m, *v; /* moments mirroring net->params (v unused by SGD) */
};

/* Sum of squares in double. Partial sums over fixed 4096-element chunks are
 * added in chunk order, so the result is the same for any thread count. */
static double tensor_sumsq(const float *g, size_t n)
{
    enum { CH = 4096 };
    size_t nch = (n + CH - 1) / CH;
    double part[256];
    if (nch > 256) { /* big tensors: split into 256 fixed pieces */
        size_t per = (n + 255) / 256;
        double tot = 0.0;
#pragma omp parallel for schedule(static)
        for (int c = 0; c < 256; c++) {
            size_t a = (size_t)c * per, b = a + per < n ? a + per : n;
            double s = 0.0;
            for (size_t i = a; i < b; i++)
                s += (double)g[i] * g[i];
            part[c] = s;
        }
        for (int c = 0; c < 256; c++)
            tot += part[c];
        return tot;
    }
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return s;
}

double vl_grad_norm(vl_net *net)
{
    double s = 0.0;
    for (int i = 0; i < net->nparams; i++)
        s += tensor_sumsq(net->grads + net->P[i].offset, net->P[i].count);
    return sqrt(s);
}

double vl_clip_grads(vl_net *net, vl_clip_method method, float thr)
{
    double total = vl_grad_norm(net);
    switch (method) {
    case VL_CLIP_NONE:
        break;
    case VL_CLIP_GLOBAL_L2NORM: {
        /* torch.nn.utils.clip_grad_norm_: coefficient thr / (norm + 1e-6), capped at 1. */
        float coef = (float)((double)thr / (total + 1e-6));
        if (coef < 1.0f) {
            float *g = net->grads;
            const size_t n = net->nscalars; /* padding is zero: scaling it is harmless */
#pragma omp parallel for simd schedule(static)
            for (size_t j = 0; j < n; j++)
                g[j] *= coef;
        }
        break;
    }
    case VL_CLIP_L2NORM:
        for (int i = 0; i < net->nparams; i++) {
            float *g = net->grads + net->P[i].offset;
            double norm = sqrt(tensor_sumsq(g, net->P[i].count));
            if (norm > thr) {
                float coef = (float)(thr / norm);
                for (size_t j = 0; j < net->P[i].count; j++)
                    g[j] *= coef;
            }
        }
        break;
    case VL_CLIP_ABSVALUE:
        for (int i = 0; i < net->nparams; i++) {
            float *g = net->grads + net->P[i].offset;
            for (size_t j = 0; j < net->P[i].count; j++)
                g[j] = g[j] > thr ? thr : (g[j] < -thr ? -thr : g[j]);
        }
        break;
    }
    return total;
}

float vl_schedule_lr(const vl_optim_config *cfg, int epoch)
{
    switch (cfg->sched) {
    case VL_SCHED_PIECEWISE:
        if (cfg->drop_period > 0)
            return cfg->lr * powf(cfg->drop_factor, (float)(epoch / cfg->drop_period));
        return cfg->lr;
    case VL_SCHED_COSINE: {
        if (cfg->total_epochs <= 0)
            return cfg->lr;
        int e = epoch > cfg->total_epochs ? cfg->total_epochs : epoch;
        double c = 0.5 * (1.0 + cos(M_PI * (double)e / cfg->total_epochs));
        return (float)(cfg->min_lr + (cfg->lr - cfg->min_lr) * c);
    }
    case VL_SCHED_NONE:
        break;
    }
    return cfg->lr;
}

vl_status vl_optim_create(vl_net *net, const vl_optim_config *cfg, vl_optim **out)
{
    *out = NULL;
    if (!(cfg->lr > 0.0f) || !isfinite(cfg->lr))
        return vl_seterr(VL_ERR_ARG, "learning rate must be positive (got %g)", (double)cfg->lr);
    if (cfg->weight_decay < 0.0f)
        return vl_seterr(VL_ERR_ARG, "L2 regularisation must be >= 0 (got %g)", (double)cfg->weight_decay);
    if (cfg->clip != VL_CLIP_NONE && !(cfg->clip_threshold > 0.0f))
        return vl_seterr(VL_ERR_ARG, "gradient threshold must be positive (got %g)", (double)cfg->clip_threshold);
    if (cfg->kind != VL_OPT_SGDM && cfg->kind != VL_OPT_ADAM && cfg->kind != VL_OPT_RMSPROP)
        return vl_seterr(VL_ERR_ARG, "unknown optimiser %d", (int)cfg->kind);
    vl_optim *o = calloc(1, sizeof *o);
    if (!o)
        return vl_seterr(VL_ERR_NOMEM, "out of memory creating the optimiser");
    o->net = net;
    o->cfg = *cfg;
    if (o->cfg.kind == VL_OPT_SGDM && o->cfg.momentum == 0.0f)
        o->cfg.momentum = 0.9f;
    if (o->cfg.beta1 == 0.0f) o->cfg.beta1 = 0.9f;
    if (o->cfg.beta2 == 0.0f) o->cfg.beta2 = 0.999f;
    if (o->cfg.alpha == 0.0f) o->cfg.alpha = 0.99f;
    if (o->cfg.eps == 0.0f) o->cfg.eps = 1e-8f;
    o->lr = cfg->lr;
    o->m = vl_calloc(sizeof(float) * net->nscalars);
    o->v = vl_calloc(sizeof(float) * net->nscalars);
    if (!o->m || !o->v) {
        vl_optim_free(o);
        return vl_seterr(VL_ERR_NOMEM, "out of memory for optimiser state");
    }
    *out = o;
    return VL_OK;
}

void vl_optim_free(vl_optim *o)
{
    if (!o)
        return;
    vl_free(o->m);
    vl_free(o->v);
    free(o);
}

float *vl_optim_moment(vl_optim *o, int which) { return which ? o->v : o->m; }
long vl_optim_get_step(const vl_optim *o) { return o->step; }
void vl_optim_set_step(vl_optim *o, long step) { o->step = step; }

void vl_optim_set_epoch(vl_optim *o, int epoch) { o->lr = vl_schedule_lr(&o->cfg, epoch); }
float vl_optim_lr(const vl_optim *o) { return o->lr; }

vl_status vl_optim_step(vl_optim *o, float *gnorm)
{
    vl_net *net = o->net;
    double norm = vl_clip_grads(net, o->cfg.clip, o->cfg.clip_threshold);
    if (gnorm)
        *gnorm = (float)norm;
    if (!isfinite(norm))
        return vl_seterr(VL_ERR_NUMERIC, "gradient norm is not finite: training diverged");
    o->step++;
    const float lr = o->lr, wd = o->cfg.weight_decay;
    float *restrict p = net->params, *restrict g = net->grads, *restrict m = o->m, *restrict v = o->v;
    /* Padding between tensors is zero in params and grads, so one flat loop
     * over nscalars updates every tensor and leaves padding at zero. */
    const size_t n = net->nscalars;
    switch (o->cfg.kind) {
    case VL_OPT_ADAM: {
        const float b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
        double bc1 = 1.0 - pow(b1, (double)o->step), bc2 = 1.0 - pow(b2, (double)o->step);
        const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            m[i] = b1 * m[i] + (1.0f - b1) * gi;
            v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
            float denom = sqrtf(v[i]) / bc2_sqrt + eps;
            p[i] -= step_size * (m[i] / denom);
        }
        break;
    }
    case VL_OPT_SGDM: {
        const float mu = o->cfg.momentum;
        const int first = o->step == 1;
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            m[i] = first ? gi : mu * m[i] + gi;
            p[i] -= lr * m[i];
        }
        break;
    }
    case VL_OPT_RMSPROP: {
        const float a = o->cfg.alpha, eps = o->cfg.eps;
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            v[i] = a * v[i] + (1.0f - a) * gi * gi;
            p[i] -= lr * gi / (sqrtf(v[i]) + eps);
        }
        break;
    }
    }
    return VL_OK;
}
