/* Convolution, pooling and resizing: Conv, MaxPool, AveragePool, GlobalAveragePool, Resize. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/onnx/graph.h"
#include "backbone/onnx/ops.h"
#include "core/blas.h"
#include "core/mem.h"

/* Window geometry shared by Conv and the pools (2-D, NCHW). */
vl_status conv_window(const vl_onnx *m, const node *n, int64_t H, int64_t W, int64_t kh, int64_t kw, int ceil_ok,
                        win2d *w)
{
    int64_t v[8];
    w->kh = kh;
    w->kw = kw;
    w->sh = w->sw = w->dh = w->dw = 1;
    w->pt = w->pl = w->pb = w->pr = 0;
    if (attr_ints(n, "strides", v, 8) == 2) w->sh = v[0], w->sw = v[1];
    if (attr_ints(n, "dilations", v, 8) == 2) w->dh = v[0], w->dw = v[1];
    if (attr_ints(n, "pads", v, 8) == 4) w->pt = v[0], w->pl = v[1], w->pb = v[2], w->pr = v[3];
    char ap[32];
    const char *autopad = attr_str(n, "auto_pad", ap, sizeof ap);
    int64_t ekh = w->dh * (kh - 1) + 1, ekw = w->dw * (kw - 1) + 1;
    if (autopad && (!strcmp(autopad, "SAME_UPPER") || !strcmp(autopad, "SAME_LOWER"))) {
        int64_t oh = (H + w->sh - 1) / w->sh, ow = (W + w->sw - 1) / w->sw;
        int64_t th = (oh - 1) * w->sh + ekh - H, tw = (ow - 1) * w->sw + ekw - W;
        th = th > 0 ? th : 0;
        tw = tw > 0 ? tw : 0;
        int upper = !strcmp(autopad, "SAME_UPPER");
        w->pt = upper ? th / 2 : th - th / 2;
        w->pb = th - w->pt;
        w->pl = upper ? tw / 2 : tw - tw / 2;
        w->pr = tw - w->pl;
    } else if (autopad && !strcmp(autopad, "VALID")) {
        w->pt = w->pl = w->pb = w->pr = 0;
    }
    if (w->sh <= 0 || w->sw <= 0 || w->dh <= 0 || w->dw <= 0 || w->pt < 0 || w->pl < 0 || w->pb < 0 || w->pr < 0 ||
        kh <= 0 || kw <= 0 || w->sh > 4096 || w->sw > 4096 || w->dh > 4096 || w->dw > 4096 || w->pt > 4096 ||
        w->pl > 4096 || w->pb > 4096 || w->pr > 4096 || kh > 4096 || kw > 4096)
        return vl_seterr(VL_ERR_FORMAT, "%s: node '%s' (%s): invalid kernel, strides, dilations or pads", m->path,
                         n->name, vl_ops[n->op].name);
    int ceil_mode = ceil_ok && attr_int(n, "ceil_mode", 0);
    int64_t nh = H + w->pt + w->pb - ekh, nw = W + w->pl + w->pr - ekw;
    if (nh < 0 || nw < 0 || w->sh <= 0 || w->sw <= 0)
        return vl_seterr(VL_ERR_SHAPE, "%s: node '%s' (%s): window %lldx%lld does not fit input %lldx%lld", m->path,
                         n->name, vl_ops[n->op].name, (long long)ekh, (long long)ekw,
                         (long long)H, (long long)W);
    w->Ho = (ceil_mode ? (nh + w->sh - 1) / w->sh : nh / w->sh) + 1;
    w->Wo = (ceil_mode ? (nw + w->sw - 1) / w->sw : nw / w->sw) + 1;
    /* PyTorch's rule: the last window must start inside the input or left padding. */
    if (ceil_mode && (w->Ho - 1) * w->sh >= H + w->pt) w->Ho--;
    if (ceil_mode && (w->Wo - 1) * w->sw >= W + w->pl) w->Wo--;
    return VL_OK;
}

/* As im2col, with rows ld floats apart (ld >= Ho*Wo), so several images'
 * columns can sit side by side in one matrix. */
static void im2col_ld(const float *x, int64_t C, int64_t H, int64_t W, const win2d *w, float *col, int64_t ld)
{
#pragma omp parallel for schedule(static) if (C * w->kh * w->kw * w->Ho * w->Wo > 65536)
    for (int64_t r = 0; r < C * w->kh * w->kw; r++) {
        int64_t c = r / (w->kh * w->kw), ki = (r / w->kw) % w->kh, kj = r % w->kw;
        float *dst = col + r * ld;
        const float *src = x + c * H * W;
        for (int64_t i = 0; i < w->Ho; i++) {
            int64_t y = i * w->sh - w->pt + ki * w->dh;
            float *d = dst + i * w->Wo;
            if (y < 0 || y >= H) {
                memset(d, 0, sizeof(float) * (size_t)w->Wo);
                continue;
            }
            for (int64_t j = 0; j < w->Wo; j++) {
                int64_t xx = j * w->sw - w->pl + kj * w->dw;
                d[j] = (xx >= 0 && xx < W) ? src[y * W + xx] : 0.0f;
            }
        }
    }
}

static void im2col(const float *x, int64_t C, int64_t H, int64_t W, const win2d *w, float *col)
{
    im2col_ld(x, C, H, W, w, col, w->Ho * w->Wo);
}

void onnx_run_conv(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Wt = &m->T[n->in[1]], *Y = &m->T[n->out[0]];
    const float *bias = n->nin > 2 && n->in[2] >= 0 ? m->T[n->in[2]].data : NULL;
    int64_t N = X->shape[0], C = X->shape[1], H = X->shape[2], W = X->shape[3];
    int64_t Co = Wt->shape[0], g = attr_int(n, "group", 1);
    win2d w;
    conv_window(m, n, H, W, Wt->shape[2], Wt->shape[3], 0, &w);
    int64_t Cg = C / g, Cog = Co / g, K = Cg * w.kh * w.kw, P = w.Ho * w.Wo;
    if (Cg == 1 && g == C) { /* depthwise: direct, one output row at a time */
#pragma omp parallel for schedule(static)
        for (int64_t bo = 0; bo < N * Co; bo++) {
            int64_t b = bo / Co, o = bo % Co, c = o / Cog;
            const float *x = X->data + (b * C + c) * H * W, *k = Wt->data + o * w.kh * w.kw;
            float *y = Y->data + (b * Co + o) * P;
            float bv = bias ? bias[o] : 0.0f;
            for (int64_t i = 0; i < w.Ho; i++) {
                float *restrict yr = y + i * w.Wo;
                for (int64_t j = 0; j < w.Wo; j++)
                    yr[j] = bv;
                /* Taps in (ki, kj) order, as the straightforward loop sums them. Each
                 * tap adds a scaled input row over the outputs it reaches: a
                 * contiguous, vectorisable loop when the stride is 1. */
                for (int64_t ki = 0; ki < w.kh; ki++) {
                    int64_t yy = i * w.sh - w.pt + ki * w.dh;
                    if (yy < 0 || yy >= H)
                        continue;
                    const float *restrict xr = x + yy * W;
                    for (int64_t kj = 0; kj < w.kw; kj++) {
                        int64_t off = kj * w.dw - w.pl; /* input column of output j: j*sw + off */
                        int64_t j0 = off >= 0 ? 0 : (-off + w.sw - 1) / w.sw;
                        int64_t j1 = (W - 1 - off) < 0 ? 0 : (W - 1 - off) / w.sw + 1;
                        if (j1 > w.Wo) j1 = w.Wo;
                        float kv = k[ki * w.kw + kj];
                        if (w.sw == 1)
                            for (int64_t j = j0; j < j1; j++)
                                yr[j] += kv * xr[j + off];
                        else
                            for (int64_t j = j0; j < j1; j++)
                                yr[j] += kv * xr[j * w.sw + off];
                    }
                }
                if (n->act != ACT_NONE)
                    for (int64_t j = 0; j < w.Wo; j++)
                        yr[j] = apply_act(yr[j], n->act, n->act_min, n->act_max);
            }
        }
        return;
    }
    int direct = w.kh == 1 && w.kw == 1 && w.sh == 1 && w.sw == 1 && w.pt == 0 && w.pl == 0 && w.pb == 0 && w.pr == 0;
    if (g == 1 && N > 1 && P < BATCHED_CONV_MAX_P) {
        /* Small outputs: one GEMM over the whole batch, [Co, K] x [K, N*P],
         * then scatter to NCHW. Per-image GEMMs with few columns run far
         * below the BLAS's speed. */
        float *col = m->scratch, *tmp = m->scratch + (size_t)(K * N * P);
        for (int64_t b = 0; b < N; b++) {
            const float *x = X->data + b * C * H * W;
            if (direct)
                for (int64_t r = 0; r < K; r++)
                    memcpy(col + r * N * P + b * P, x + r * P, sizeof(float) * (size_t)P);
            else
                im2col_ld(x, C, H, W, &w, col + b * P, N * P);
        }
        vl_sgemm(false, false, (int)Co, (int)(N * P), (int)K, 1.0f, Wt->data, (int)K, col, (int)(N * P), 0.0f, tmp,
                 (int)(N * P));
#pragma omp parallel for schedule(static) if (Co * N * P > 65536)
        for (int64_t o = 0; o < Co; o++) {
            float bv = bias ? bias[o] : 0.0f;
            for (int64_t b = 0; b < N; b++) {
                const float *src = tmp + o * N * P + b * P;
                float *dst = Y->data + (b * Co + o) * P;
                for (int64_t q = 0; q < P; q++)
                    dst[q] = apply_act(src[q] + bv, n->act, n->act_min, n->act_max);
            }
        }
        return;
    }
    for (int64_t b = 0; b < N; b++)
        for (int64_t gi = 0; gi < g; gi++) {
            const float *x = X->data + (b * C + gi * Cg) * H * W;
            float *y = Y->data + (b * Co + gi * Cog) * P;
            const float *col = x;
            if (!direct) {
                im2col(x, Cg, H, W, &w, m->scratch);
                col = m->scratch;
            }
            vl_sgemm(false, false, (int)Cog, (int)P, (int)K, 1.0f, Wt->data + gi * Cog * K, (int)K, col, (int)P, 0.0f,
                     y, (int)P);
            if (bias || n->act != ACT_NONE) {
#pragma omp parallel for schedule(static) if (Cog * P > 65536)
                for (int64_t o = 0; o < Cog; o++) {
                    float bv = bias ? bias[gi * Cog + o] : 0.0f;
                    float *yo = y + o * P;
                    for (int64_t q = 0; q < P; q++)
                        yo[q] = apply_act(yo[q] + bv, n->act, n->act_min, n->act_max);
                }
            }
        }
}

void onnx_run_pool(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t N = X->shape[0], C = X->shape[1], H = X->shape[2], W = X->shape[3];
    int64_t ks[2] = {1, 1};
    attr_ints(n, "kernel_shape", ks, 2);
    win2d w;
    conv_window(m, n, H, W, ks[0], ks[1], 1, &w);
    int maxp = n->op == OP_MAXPOOL, incl = (int)attr_int(n, "count_include_pad", 0);
#pragma omp parallel for schedule(static)
    for (int64_t bc = 0; bc < N * C; bc++) {
        const float *x = X->data + bc * H * W;
        float *y = Y->data + bc * w.Ho * w.Wo;
        for (int64_t i = 0; i < w.Ho; i++)
            for (int64_t j = 0; j < w.Wo; j++) {
                float acc = maxp ? -INFINITY : 0.0f;
                int64_t cnt = 0;
                for (int64_t ki = 0; ki < w.kh; ki++) {
                    int64_t yy = i * w.sh - w.pt + ki * w.dh;
                    if (yy < 0 || yy >= H) continue;
                    for (int64_t kj = 0; kj < w.kw; kj++) {
                        int64_t xx = j * w.sw - w.pl + kj * w.dw;
                        if (xx < 0 || xx >= W) continue;
                        float v = x[yy * W + xx];
                        if (maxp) acc = v > acc ? v : acc;
                        else acc += v;
                        cnt++;
                    }
                }
                if (!maxp) {
                    if (incl) { /* padding counts, the ceil-mode overhang does not */
                        int64_t hs = i * w.sh - w.pt, ws = j * w.sw - w.pl;
                        int64_t he = hs + w.kh < H + w.pb ? hs + w.kh : H + w.pb;
                        int64_t we = ws + w.kw < W + w.pr ? ws + w.kw : W + w.pr;
                        cnt = (he - hs) * (we - ws);
                    }
                    acc = cnt ? acc / (float)cnt : 0.0f;
                }
                y[i * w.Wo + j] = acc;
            }
    }
}

/* Floats of im2col scratch onnx_run_conv needs for node n (shapes planned). */
size_t conv_scratch_need(const vl_onnx *m, const node *n)
{
    const tensor *X = &m->T[n->in[0]], *W = &m->T[n->in[1]], *Y = &m->T[n->out[0]];
    int64_t g = attr_int(n, "group", 1), P = Y->shape[2] * Y->shape[3], K = W->shape[1] * W->shape[2] * W->shape[3];
    if (g == 1 && X->shape[0] > 1 && P < BATCHED_CONV_MAX_P) /* batched: columns + GEMM result */
        return (size_t)((K + W->shape[0]) * P * X->shape[0]);
    return (size_t)(K * P);
}

vl_status onnx_shape_conv(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    tensor *W = &m->T[n->in[1]];
    if (X->ndim != 4 || W->ndim != 4)
        return plan_err(m, n, "only 2-D convolution on 4-D tensors is supported");
    int64_t g = attr_int(n, "group", 1);
    if (g <= 0 || X->shape[1] != W->shape[1] * g || W->shape[0] % g)
        return plan_err(m, n, "input channels do not match the weights and groups");
    if (n->nin > 2 && n->in[2] >= 0 && (m->T[n->in[2]].is_int || m->T[n->in[2]].count != W->shape[0]))
        return plan_err(m, n, "bias size differs from the output channels");
    if (W->is_int || W->count == 0) return plan_err(m, n, "bad weights");
    win2d w;
    vl_status st = conv_window(m, n, X->shape[2], X->shape[3], W->shape[2], W->shape[3], 0, &w);
    if (st) return st;
    int64_t o[4] = {X->shape[0], W->shape[0], w.Ho, w.Wo};
    set_shape(Y, 4, o);
    size_t need = conv_scratch_need(m, n);
    if (need > m->scratch_size) m->scratch_size = need;
    return VL_OK;
}

vl_status onnx_shape_pool(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    if (X->ndim != 4) return plan_err(m, n, "only 2-D pooling on 4-D tensors is supported");
    int64_t ks[2] = {1, 1};
    if (attr_ints(n, "kernel_shape", ks, 2) != 2) return plan_err(m, n, "needs a 2-D kernel_shape");
    win2d w;
    vl_status st = conv_window(m, n, X->shape[2], X->shape[3], ks[0], ks[1], 1, &w);
    if (st) return st;
    int64_t o[4] = {X->shape[0], X->shape[1], w.Ho, w.Wo};
    set_shape(Y, 4, o);
    return VL_OK;
}

vl_status onnx_shape_gap(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t s[MAXD];
    if (X->ndim < 3) return plan_err(m, n, "needs at least 3 dimensions");
    memcpy(s, X->shape, sizeof s);
    for (int d = 2; d < X->ndim; d++) s[d] = 1;
    set_shape(Y, X->ndim, s);
    return VL_OK;
}

void onnx_run_gap(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t NC = X->shape[0] * X->shape[1], HW = X->count / (NC ? NC : 1);
    for (int64_t i = 0; i < NC; i++) {
        double s = 0.0;
        for (int64_t j = 0; j < HW; j++) s += X->data[i * HW + j];
        Y->data[i] = (float)(s / (double)HW);
    }
}

vl_status onnx_shape_resize(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t s[MAXD];
    /* linear (bilinear) resizing of H and W: TF's ResizeBilinear, Keras UpSampling2D(interpolation='bilinear') */
    if (X->ndim != 4 || X->is_int) return plan_err(m, n, "only 4-D float tensors (resizing H and W)");
    if (X->shape[2] < 1 || X->shape[3] < 1) return plan_err(m, n, "empty input");
    char mb[32], cb[32];
    const char *mode = attr_str(n, "mode", mb, sizeof mb);
    const char *ct = attr_str(n, "coordinate_transformation_mode", cb, sizeof cb);
    if (!mode || strcmp(mode, "linear")) return plan_err(m, n, "only mode 'linear' is supported");
    if (ct && strcmp(ct, "half_pixel") && strcmp(ct, "align_corners") && strcmp(ct, "asymmetric"))
        return plan_err(m, n, "coordinate_transformation_mode must be half_pixel, align_corners or asymmetric");
    memcpy(s, X->shape, sizeof s);
    const tensor *Sz = n->nin > 3 && n->in[3] >= 0 ? &m->T[n->in[3]] : NULL;
    const tensor *Sc = n->nin > 2 && n->in[2] >= 0 ? &m->T[n->in[2]] : NULL;
    if (Sz && Sz->count > 0) {
        if (!Sz->is_int || Sz->count != 4) return plan_err(m, n, "sizes must be 4 integers");
        for (int d = 0; d < 4; d++) s[d] = Sz->ival[d];
    } else if (Sc && Sc->count > 0) {
        if (Sc->is_int || Sc->count != 4) return plan_err(m, n, "scales must be 4 floats");
        for (int d = 0; d < 4; d++) {
            double v = (double)X->shape[d] * Sc->data[d];
            if (!(v >= 0 && v <= 65536)) return plan_err(m, n, "bad scales");
            s[d] = (int64_t)floor(v);
        }
    } else
        return plan_err(m, n, "needs scales or sizes");
    if (s[0] != X->shape[0] || s[1] != X->shape[1]) return plan_err(m, n, "only H and W may be resized");
    if (s[2] < 1 || s[3] < 1 || s[2] > 65536 || s[3] > 65536) return plan_err(m, n, "bad output size");
    set_shape(Y, 4, s);
    size_t need = (size_t)(5 * (s[2] + s[3])); /* index tables (also while constant folding) */
    if (need > m->scratch_size) m->scratch_size = need;
    return VL_OK;
}

void onnx_run_resize(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    char cb[32];
    const char *ct = attr_str(n, "coordinate_transformation_mode", cb, sizeof cb);
    int mode = !ct || !strcmp(ct, "half_pixel") ? 0 : !strcmp(ct, "align_corners") ? 1 : 2;
    int64_t NC = X->shape[0] * X->shape[1], H = X->shape[2], W = X->shape[3], Ho = Y->shape[2], Wo = Y->shape[3];
    /* the source coordinate of output o along an axis of length L -> Lo (ONNX Resize, clamped) */
    int64_t *lo = (int64_t *)(void *)m->scratch; /* sized in infer: 2(Ho+Wo) int64 + (Ho+Wo) floats */
    float *fr = (float *)(lo + 2 * (Ho + Wo));
    for (int a = 0; a < 2; a++) {
        int64_t L = a ? W : H, Lo = a ? Wo : Ho, base = a ? Ho : 0;
        /* Given scales, ONNX maps coordinates with L * scale, not the
         * floored output length (they differ when downsampling by 0.6). */
        const tensor *Sc = n->nin > 2 && n->in[2] >= 0 ? &m->T[n->in[2]] : NULL;
        int sizes = n->nin > 3 && n->in[3] >= 0;
        double Lf = !sizes && Sc && Sc->count == 4 && !Sc->is_int ? (double)L * Sc->data[2 + a] : (double)Lo;
        for (int64_t o = 0; o < Lo; o++) {
            double x = mode == 0 ? (o + 0.5) * (double)L / Lf - 0.5
                     : mode == 1 ? (Lf > 1 ? (double)o * (double)(L - 1) / (Lf - 1) : 0.0)
                                 : (double)o * (double)L / Lf;
            if (x < 0) x = 0;
            if (x > (double)(L - 1)) x = (double)(L - 1);
            int64_t i0 = (int64_t)x;
            lo[2 * (base + o)] = i0;
            lo[2 * (base + o) + 1] = i0 + 1 < L ? i0 + 1 : L - 1;
            fr[base + o] = (float)(x - (double)i0);
        }
    }
    for (int64_t p = 0; p < NC; p++) {
        const float *xp = X->data + p * H * W;
        float *yp = Y->data + p * Ho * Wo;
        for (int64_t y = 0; y < Ho; y++) {
            const float *r0 = xp + lo[2 * y] * W, *r1 = xp + lo[2 * y + 1] * W;
            float fy = fr[y];
            for (int64_t x = 0; x < Wo; x++) {
                int64_t c0 = lo[2 * (Ho + x)], c1 = lo[2 * (Ho + x) + 1];
                float fx = fr[Ho + x];
                float top = r0[c0] + (r0[c1] - r0[c0]) * fx, bot = r1[c0] + (r1[c1] - r1[c0]) * fx;
                yp[y * Wo + x] = top + (bot - top) * fy;
            }
        }
    }
}

/* Scratch, in floats: im2col columns (Conv), index tables (Resize). */
size_t onnx_scratch_conv(const vl_onnx *m, const node *n) { return conv_scratch_need(m, n); }

size_t onnx_scratch_resize(const vl_onnx *m, const node *n)
{
    const tensor *Y = &m->T[n->out[0]];
    return (size_t)(5 * (Y->shape[2] + Y->shape[3]));
}
