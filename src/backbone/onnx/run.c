/* Execution: every live node of the plan, on oneDNN or its reference kernel. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/onnx/graph.h"

void exec_node(vl_onnx *m, node *n)
{
    void (*run)(vl_onnx *, node *) = vl_ops[n->op].run;
    if (run) /* the rest (Constant, Shape, Gather, Range, Less) is handled while planning */
        run(m, n);
}

vl_status vl_onnx_run(vl_onnx *m, const float *input, int ndim, const int64_t *shape, const char *tapname,
                      const float **out, int *out_ndim, int64_t *out_shape)
{
    return vl_onnx_run_lens(m, input, ndim, shape, NULL, tapname, out, out_ndim, out_shape);
}

/* ---- int8 calibration ---------------------------------------------------------------
 * int8 needs one scale per activation tensor. They are static: one fp32 pass
 * (reference kernels, every tensor materialised) over a fixed set of images
 * records each tensor's max |x| and min x, and the int8 plan derives its
 * scales from those. A clip's features then depend on the model, the input
 * size and the calibration images only, never on the batch or its
 * neighbours. The images are the caller's (vl_onnx_calibrate) or, by
 * default, CAL_N synthetic ones made here (below). */
#define CAL_N 8

static uint32_t cal_rand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}
static float cal_unit(uint32_t *s) { return (float)cal_rand(s) / 16777216.0f; }

/* Deterministic photograph-like images (smooth colour gradients, flat-coloured
 * rectangles and discs with edges, a few gratings and fine grain), in pixel
 * range [0, 1], normalised with ImageNet's mean and std (the backbones'
 * default preprocessing), NCHW, or NHWC when the last dimension is the
 * smallest and at most 4. */
static void cal_images(float *x, int ndim, const int64_t *shape)
{
    int nhwc = ndim == 4 && shape[3] <= 4 && shape[1] > 4;
    int64_t N = shape[0], C = ndim == 4 ? (nhwc ? shape[3] : shape[1]) : 1;
    int64_t H = ndim == 4 ? (nhwc ? shape[1] : shape[2]) : 1, W = ndim == 4 ? (nhwc ? shape[2] : shape[3]) : 1;
    int64_t per = 1;
    for (int d = 1; d < ndim; d++) per *= shape[d];
    if (ndim != 4) { /* not an image: standard normal values */
        uint32_t s = 12345u;
        for (int64_t i = 0; i < N * per; i++) {
            float u = cal_unit(&s) + 1e-7f, v = cal_unit(&s);
            x[i] = sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
        }
        return;
    }
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    float *px = malloc(sizeof(float) * (size_t)(H * W * 3));
    if (!px) {
        memset(x, 0, sizeof(float) * (size_t)(N * per));
        return;
    }
    for (int64_t n = 0; n < N; n++) {
        uint32_t s = 0x9e3779b9u * (uint32_t)(n + 1);
        float c0[3], c1[3], ang = 6.2831853f * cal_unit(&s);
        for (int k = 0; k < 3; k++) c0[k] = cal_unit(&s), c1[k] = cal_unit(&s);
        float ca = cosf(ang), sa = sinf(ang);
        for (int64_t y = 0; y < H; y++)
            for (int64_t xx = 0; xx < W; xx++) {
                float t = 0.5f + 0.5f * (ca * ((float)xx / (float)W - 0.5f) + sa * ((float)y / (float)H - 0.5f)) * 1.4f;
                for (int k = 0; k < 3; k++) px[(y * W + xx) * 3 + k] = c0[k] + (c1[k] - c0[k]) * t;
            }
        int shapes = 6 + (int)(cal_rand(&s) % 10);
        for (int q = 0; q < shapes; q++) {
            float cx = cal_unit(&s) * (float)W, cy = cal_unit(&s) * (float)H;
            float rx = (0.05f + 0.3f * cal_unit(&s)) * (float)W, ry = (0.05f + 0.3f * cal_unit(&s)) * (float)H;
            float col[3], grat = cal_unit(&s) < 0.3f ? 0.05f + 0.4f * cal_unit(&s) : 0.0f, ga = 6.2831853f * cal_unit(&s);
            int disc = cal_rand(&s) & 1;
            for (int k = 0; k < 3; k++) col[k] = cal_unit(&s);
            for (int64_t y = 0; y < H; y++)
                for (int64_t xx = 0; xx < W; xx++) {
                    float dx = ((float)xx - cx) / rx, dy = ((float)y - cy) / ry;
                    if (disc ? dx * dx + dy * dy > 1.0f : fabsf(dx) > 1.0f || fabsf(dy) > 1.0f) continue;
                    float g = grat > 0 ? 0.5f + 0.5f * sinf(grat * ((float)xx * cosf(ga) + (float)y * sinf(ga))) : 1.0f;
                    for (int k = 0; k < 3; k++) px[(y * W + xx) * 3 + k] = col[k] * (0.6f + 0.4f * g);
                }
        }
        for (int64_t i = 0; i < H * W * 3; i++) {
            float v = px[i] + 0.04f * (cal_unit(&s) - 0.5f);
            px[i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
        float *o = x + n * per;
        for (int64_t k = 0; k < C; k++)
            for (int64_t i = 0; i < H * W; i++) {
                int kk = (int)(k < 3 ? k : 2);
                float v = (px[i * 3 + kk] - mean[kk]) / sd[kk];
                if (nhwc) o[i * C + k] = v;
                else o[k * H * W + i] = v;
            }
    }
    free(px);
}

static vl_status run_plan(vl_onnx *m, const float *input, int ndim, const int64_t *shape, const int32_t *lens, int tap)
{
    vl_status st = set_lens(m, ndim, shape, lens);
    if (st)
        return st;
    st = plan(m, ndim, shape, tap);
    if (st)
        return st;
    m->T[m->input].data = (float *)input; /* read only */
    if ((st = vl_dn_set_input(m, input)))
        return st;
    for (int j = 0; j < m->nn && !st; j++) {
        if (!m->N[j].live) continue;
        if (vl_dn_on(m, j)) {
            st = vl_dn_exec(m, j);
            continue;
        }
        exec_node(m, &m->N[j]);
        if (m->calibrating) /* record the ranges of what this node wrote */
            for (int k = 0; k < m->N[j].nout; k++) {
                int t = m->N[j].out[k];
                const tensor *T = &m->T[t];
                if (t < 0 || T->is_int || !T->data) continue;
                for (int64_t i = 0; i < T->count; i++) {
                    float v = T->data[i];
                    if (fabsf(v) > m->qmax[t]) m->qmax[t] = fabsf(v);
                    if (v < m->qmin[t]) m->qmin[t] = v;
                }
            }
    }
    if (!st)
        st = vl_dn_wait(m);
    return st;
}

/* The fp32 calibration pass for an int8 plan of this input shape and tap. */
static vl_status calibrate(vl_onnx *m, int ndim, const int64_t *shape, int tap)
{
    int64_t cs[MAXD];
    int cnd = m->cal_data ? m->cal_ndim : ndim;
    memcpy(cs, m->cal_data ? m->cal_shape : shape, sizeof(int64_t) * (size_t)cnd);
    if (!m->cal_data) cs[0] = CAL_N;
    int64_t cnt = prod(cs, 0, cnd);
    float *own = NULL;
    if (!m->cal_data) {
        if (!(own = malloc(sizeof(float) * (size_t)cnt)))
            return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
        cal_images(own, cnd, cs);
    }
    free(m->qmax);
    free(m->qmin);
    m->qmax = malloc(sizeof(float) * (size_t)m->nt);
    m->qmin = malloc(sizeof(float) * (size_t)m->nt);
    if (!m->qmax || !m->qmin) {
        free(own);
        free(m->qmax), free(m->qmin);
        m->qmax = m->qmin = NULL;
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
    }
    for (int i = 0; i < m->nt; i++) m->qmax[i] = -1.0f, m->qmin[i] = FLT_MAX;
    const float *x = own ? own : m->cal_data;
    int in = m->input;
    m->qmax[in] = 0.0f;
    for (int64_t i = 0; i < cnt; i++) {
        if (fabsf(x[i]) > m->qmax[in]) m->qmax[in] = fabsf(x[i]);
        if (x[i] < m->qmin[in]) m->qmin[in] = x[i];
    }
    /* seen tensors start at 0 (run_plan raises them) */
    for (int i = 0; i < m->nt; i++)
        if (i != in && m->T[i].producer >= 0) m->qmax[i] = 0.0f;
    vl_precision p = m->prec;
    int nd = m->no_dnnl;
    m->prec = VL_PREC_FP32;
    m->no_dnnl = 1;
    m->calibrating = 1;
    m->planned_ndim = 0;
    vl_status st = run_plan(m, x, cnd, cs, NULL, tap);
    m->prec = p;
    m->no_dnnl = nd;
    m->calibrating = 0;
    m->planned_ndim = 0; /* the int8 plan is made next */
    free(own);
    if (st) {
        free(m->qmax), free(m->qmin);
        m->qmax = m->qmin = NULL;
        return st;
    }
    m->qcal_ndim = ndim;
    memcpy(m->qcal_shape, shape, sizeof(int64_t) * (size_t)ndim);
    m->qcal_tap = tap;
    return VL_OK;
}

/* Whether an int8 run of this shape and tap needs a (new) calibration: none
 * yet, another tap, or (default images) another image size. */
static int needs_calibration(const vl_onnx *m, int ndim, const int64_t *shape, int tap)
{
    if (m->prec != VL_PREC_INT8 || m->no_dnnl)
        return 0;
    if (!m->qmax || m->qcal_tap != tap)
        return 1;
    if (m->cal_data)
        return 0;
    return m->qcal_ndim != ndim || memcmp(m->qcal_shape + 1, shape + 1, sizeof(int64_t) * (size_t)(ndim - 1));
}

vl_status vl_onnx_calibrate(vl_onnx *m, const float *images, int ndim, const int64_t *shape)
{
    if (!images || ndim < 1 || ndim > MAXD)
        return vl_seterr(VL_ERR_ARG, "%s: calibration images: %d dimensions", m->path, ndim);
    int64_t cnt = prod(shape, 0, ndim);
    if (cnt <= 0 || cnt > ((int64_t)1 << 34))
        return vl_seterr(VL_ERR_SHAPE, "%s: calibration images: bad shape", m->path);
    float *c = malloc(sizeof(float) * (size_t)cnt);
    if (!c)
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
    memcpy(c, images, sizeof(float) * (size_t)cnt);
    free(m->cal_data);
    m->cal_data = c;
    m->cal_ndim = ndim;
    memcpy(m->cal_shape, shape, sizeof(int64_t) * (size_t)ndim);
    free(m->qmax), free(m->qmin);
    m->qmax = m->qmin = NULL; /* calibrate again at the next int8 run */
    if (m->prec == VL_PREC_INT8) m->planned_ndim = 0;
    return VL_OK;
}

vl_status vl_onnx_run_lens(vl_onnx *m, const float *input, int ndim, const int64_t *shape, const int32_t *lens,
                           const char *tapname, const float **out, int *out_ndim, int64_t *out_shape)
{
    int tap = tapname ? find_tensor(m, tapname) : m->output;
    if (tap < 0)
        return vl_seterr(VL_ERR_ARG, "%s: no tensor named '%s' (vidlstm info lists them)", m->path, tapname);
    if (m->T[tap].producer < 0 && !m->T[tap].is_const && tap != m->input)
        return vl_seterr(VL_ERR_ARG, "%s: tensor '%s' was folded into the next operator at load time and is not "
                         "available; tap its output instead", m->path, tapname);
    if (ndim < 1 || ndim > MAXD)
        return vl_seterr(VL_ERR_SHAPE, "%s: input has %d dimensions", m->path, ndim);
    vl_status st = VL_OK;
    if (needs_calibration(m, ndim, shape, tap) && (st = calibrate(m, ndim, shape, tap)))
        return st;
    if ((st = run_plan(m, input, ndim, shape, lens, tap)))
        return st;
    const tensor *t = &m->T[tap];
    if (t->is_int)
        return vl_seterr(VL_ERR_ARG, "%s: tensor '%s' holds integers (shape arithmetic), not features", m->path, tapname);
    *out = t->data;
    *out_ndim = t->ndim;
    memcpy(out_shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    return VL_OK;
}
