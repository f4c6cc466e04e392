/* Trained models and prediction (vidlstm.h, "trained models" and
 * "prediction"; pipeline/predict.h): a model file with its record, the
 * extractor it records, and every way of predicting with it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backbone/registry.h"
#include "core/error.h"
#include "core/npy.h"
#include "nn/layers.h"
#include "pipeline/predict.h"
#include "train/metrics.h"
#include "train/trainer.h"

struct vl_model {
    vl_net *net;
    vl_model_meta meta;
    vl_extractor *xt; /* opened on the first video */
    float *xn;        /* normalised copy of the input (vl_model_predict) */
    char *path;       /* the model file, for finding its backbone and for messages */
    size_t xn_cap;
    void (*note)(void *user, const char *msg);
    void *note_user;
};

/* ---- the model ----------------------------------------------------------------------- */

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
double vl_model_fps(const vl_model *m) { return m->meta.fps; }
vl_model_meta *vl_model_meta_of(vl_model *m) { return &m->meta; }

const char *vl_model_class_name(const vl_model *m, int c)
{
    return c >= 0 && c < m->meta.nclasses && m->meta.class_names ? m->meta.class_names[c] : NULL;
}

void vl_model_set_note(vl_model *m, void (*note)(void *user, const char *msg), void *user)
{
    m->note = note;
    m->note_user = user;
}

vl_status vl_model_extractor(vl_model *m, vl_extractor **xt)
{
    *xt = m->xt;
    if (m->xt)
        return VL_OK;
    const int input = vl_net_get_config(m->net)->input;
    vl_model_meta *mm = &m->meta;
    if (!mm->backbone[0])
        return vl_seterr(VL_ERR_ARG, "%s was trained on feature files and records no backbone: give it feature "
                                     "files (.npy) made the same way", m->path);
    if (!vl_model_find_backbone(mm, m->path) && !vl_backbone_locate(mm->backbone, sizeof mm->backbone,
                                                                    mm->backbone_sha256))
        return vl_seterr(VL_ERR_IO, "%s: its backbone %s is not there (nor beside the model): put the ONNX file back "
                                    "or next to the model", m->path, mm->backbone);
    vl_extract_opts eo = {.backbone = mm->backbone, .tap = mm->tap[0] ? mm->tap : NULL,
                          .sha256 = mm->backbone_sha256, .fps = mm->fps,
                          .norm = mm->has_input_norm ? &mm->input_norm : NULL, /* as the model was trained */
                          .precision = mm->precision, .note = m->note, .user = m->note_user,
                          .every_k = mm->every_k, .jobs = 1};
    vl_status st = vl_extractor_open(&eo, &m->xt);
    if (st)
        return st;
    int fd = vl_extractor_backbone(m->xt)->feature_dim;
    if (fd != input) {
        vl_extractor_close(m->xt);
        m->xt = NULL;
        return vl_seterr(VL_ERR_SHAPE, "backbone %s gives %d features, but %s expects %d", mm->backbone, fd, m->path,
                         input);
    }
    *xt = m->xt;
    return VL_OK;
}

vl_status vl_model_video_features(vl_model *m, const char *path, vl_features *f)
{
    memset(f, 0, sizeof *f);
    vl_extractor *xt;
    vl_status st = vl_model_extractor(m, &xt);
    if (st)
        return st;
    vl_clip c = {.path = (char *)path};
    if ((st = vl_extract_clips(xt, &c, 1, f)))
        vl_features_free(f);
    return st;
}

vl_status vl_model_read_features(vl_model *m, const char *path, float **x, int *T)
{
    *x = NULL;
    *T = 0;
    const int D = vl_net_get_config(m->net)->input;
    vl_npy a;
    vl_status st = vl_npy_read(path, &a);
    if (st)
        return st;
    if (a.dtype != VL_NPY_F32 || a.ndim != 2 || a.shape[0] < 1 || a.shape[1] != D) {
        char sh[160];
        int n = snprintf(sh, sizeof sh, "[");
        for (int k = 0; k < a.ndim && n < (int)sizeof sh - 24; k++)
            n += snprintf(sh + n, sizeof sh - (size_t)n, "%s%lld", k ? ", " : "", (long long)a.shape[k]);
        snprintf(sh + n, sizeof sh - (size_t)n, "]");
        st = vl_seterr(VL_ERR_SHAPE, "%s: expected float features [T, %d] for this model, got %s %s", path, D,
                       a.dtype == VL_NPY_F32 ? "float" : "int", sh);
        vl_npy_free(&a);
        return st;
    }
    for (int64_t k = 0; k < a.count; k++)
        if (!isfinite(((float *)a.data)[k])) {
            st = vl_seterr(VL_ERR_NUMERIC, "%s: feature [%lld, %lld] is not finite", path,
                           (long long)(k / a.shape[1]), (long long)(k % a.shape[1]));
            vl_npy_free(&a);
            return st;
        }
    *x = a.data;
    *T = (int)a.shape[0];
    return VL_OK;
}

void vl_model_normalize(vl_model *m, vl_dataset *d)
{
    if (m->meta.norm_mean && m->meta.norm_std)
        vl_dataset_normalize(d, m->meta.norm_mean, m->meta.norm_std);
}

/* ---- results ---------------------------------------------------------------------------- */

void vl_prediction_free(vl_prediction *p)
{
    if (!p)
        return;
    free(p->out);
    free(p->label);
    free(p->confidence);
    free(p->start);
    free(p->end);
    free(p->mean);
    free(p->seg);
    memset(p, 0, sizeof *p);
}

static int argmax(const float *p, int C)
{
    int a = 0;
    for (int c = 1; c < C; c++)
        if (p[c] > p[a])
            a = c;
    return a;
}

/* Any NaN/Inf among n outputs: passing them on would pass garbage on as a
 * result. */
static vl_status check_finite(const char *model, const char *name, const float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i]))
            return vl_seterr(VL_ERR_NUMERIC, "%s: the model %s gives a non-finite output (%s) here: its weights or "
                                             "normalisation overflow on this input", name, model,
                             isnan(p[i]) ? "NaN" : "Inf");
    return VL_OK;
}

/* label/confidence of every row of r->out (classify). */
static vl_status label_rows(vl_prediction *r)
{
    r->label = malloc(sizeof(int32_t) * (size_t)(r->rows ? r->rows : 1));
    r->confidence = malloc(sizeof(float) * (size_t)(r->rows ? r->rows : 1));
    if (!r->label || !r->confidence)
        return vl_seterr(VL_ERR_NOMEM, "out of memory for %d labels", r->rows);
    for (int t = 0; t < r->rows; t++) {
        r->label[t] = argmax(r->out + (size_t)t * r->C, r->C);
        r->confidence[t] = r->out[(size_t)t * r->C + r->label[t]];
    }
    return VL_OK;
}

/* Segments of r's rows (absorbing runs under min_len), their spans in steps
 * from start_of/end_of (windows) or the rows themselves, seconds from fps. */
static vl_status segment_rows(vl_prediction *r, int min_len, double fps)
{
    vl_segment *seg;
    int64_t ns;
    vl_status st = vl_segments_from_frames(r->label, r->confidence, r->rows, min_len, &seg, &ns);
    if (st)
        return st;
    r->seg = malloc(sizeof *r->seg * (size_t)(ns ? ns : 1));
    if (!r->seg) {
        free(seg);
        return vl_seterr(VL_ERR_NOMEM, "out of memory for %lld segments", (long long)ns);
    }
    for (int64_t k = 0; k < ns; k++) {
        int64_t s = r->start ? r->start[seg[k].start] : seg[k].start;
        int64_t e = r->end ? r->end[seg[k].end - 1] : seg[k].end;
        r->seg[k] = (vl_pred_segment){.start = s, .end = e, .start_s = fps > 0 ? s / fps : 0,
                                      .end_s = fps > 0 ? e / fps : 0, .label = seg[k].label,
                                      .confidence = seg[k].confidence};
    }
    r->nseg = (int)ns;
    free(seg);
    return VL_OK;
}

/* One result from `rows` rows of C outputs at p (probabilities or values). */
static vl_status make_result(vl_net *net, const float *p, int T, int rows, const vl_predict_opts *o,
                             vl_prediction *r)
{
    const vl_net_config *cfg = vl_net_get_config(net);
    const int C = cfg->outputs, cls = cfg->task == VL_TASK_CLASSIFY, seq = cfg->mode == VL_OUT_SEQUENCE;
    *r = (vl_prediction){.T = T, .C = C, .rows = rows};
    r->out = malloc(sizeof(float) * (size_t)rows * C);
    if (!r->out)
        return vl_seterr(VL_ERR_NOMEM, "out of memory for %d x %d outputs", rows, C);
    if (seq && cls && o->smooth > 1) /* averaged probabilities: labels and confidences from them */
        vl_smooth_probs(p, rows, C, o->smooth, r->out); /* arguments valid: cannot fail */
    else
        memcpy(r->out, p, sizeof(float) * (size_t)rows * C);
    if (cls)
        return label_rows(r);
    if (seq) { /* per-frame regression: the mean of each output */
        if (!(r->mean = malloc(sizeof(float) * (size_t)C)))
            return vl_seterr(VL_ERR_NOMEM, "out of memory");
        for (int j = 0; j < C; j++) {
            double mu = 0;
            for (int t = 0; t < rows; t++)
                mu += p[(size_t)t * C + j];
            r->mean[j] = (float)(mu / rows);
        }
    }
    return VL_OK;
}

static vl_predict_opts defaults(const vl_predict_opts *o)
{
    vl_predict_opts d = o ? *o : (vl_predict_opts){0};
    d.batch = d.batch > 0 ? d.batch : 64;
    d.min_segment = d.min_segment > 1 ? d.min_segment : 1;
    return d;
}

/* ---- whole sequences ---------------------------------------------------------------------- */

vl_status vl_net_predict_items(vl_net *net, const char *model, double fps, const vl_dataset *d, const int *idx,
                               int n, const vl_predict_opts *opts, vl_prediction *res)
{
    const vl_predict_opts o = defaults(opts);
    const vl_net_config *cfg = vl_net_get_config(net);
    const int C = cfg->outputs, seq = cfg->mode == VL_OUT_SEQUENCE, cls = cfg->task == VL_TASK_CLASSIFY;
    memset(res, 0, sizeof *res * (size_t)n);
    if (n == 0)
        return VL_OK;
    if (o.smooth > 1 && !(seq && cls))
        return vl_seterr(VL_ERR_ARG, "smoothing applies to per-frame classifiers; %s is a %s model", model,
                         cls ? "clip" : "regression");
    float *out = NULL;
    size_t *off = NULL;
    vl_status st = vl_infer(net, d, idx, n, o.batch, 1, &out, &off);
    for (int i = 0; !st && i < n; i++) {
        const vl_seq *s = &d->items[idx[i]];
        const int rows = seq ? s->T : 1;
        if (!(st = check_finite(model, s->path, out + off[i], (size_t)rows * C)) &&
            !(st = make_result(net, out + off[i], s->T, rows, &o, &res[i])) && seq && cls)
            st = segment_rows(&res[i], o.min_segment, fps);
    }
    free(out);
    free(off);
    if (st)
        for (int i = 0; i < n; i++)
            vl_prediction_free(&res[i]);
    return st;
}

vl_status vl_model_predict_dataset(vl_model *m, const vl_dataset *d, const vl_predict_opts *o, vl_prediction *res)
{
    int *idx = malloc(sizeof(int) * (size_t)(d->n ? d->n : 1));
    if (!idx) {
        memset(res, 0, sizeof *res * (size_t)d->n);
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < d->n; k++)
        idx[k] = k;
    vl_status st = vl_net_predict_items(m->net, m->path, m->meta.fps, d, idx, d->n, o, res);
    free(idx);
    return st;
}

/* A dataset of copies of x[0..n) (normalised), for the public calls whose
 * caller keeps its features. */
static vl_status copy_dataset(vl_model *m, int n, const float *const *x, const int *T, vl_dataset *d)
{
    const int D = vl_net_get_config(m->net)->input;
    *d = (vl_dataset){.D = D};
    for (int i = 0; i < n; i++) {
        if (T[i] < 1) {
            vl_dataset_free(d);
            return vl_seterr(VL_ERR_ARG, "sequence %d has %d steps: it needs at least one", i, T[i]);
        }
        float *c = malloc(sizeof(float) * (size_t)T[i] * D);
        char name[32];
        snprintf(name, sizeof name, "sequence %d", i);
        if (!c || vl_dataset_add_features(d, name, T[i], D, c)) {
            free(c);
            vl_dataset_free(d);
            return vl_seterr(VL_ERR_NOMEM, "out of memory for sequence %d", i);
        }
        memcpy(c, x[i], sizeof(float) * (size_t)T[i] * D);
    }
    vl_model_normalize(m, d);
    return VL_OK;
}

vl_status vl_model_predict_clips(vl_model *m, int n, const float *const *x, const int *T, const vl_predict_opts *o,
                                 vl_prediction *res)
{
    if (n < 0)
        return vl_seterr(VL_ERR_ARG, "vl_model_predict_clips: n = %d", n);
    vl_dataset d;
    vl_status st = copy_dataset(m, n, x, T, &d);
    if (!st)
        st = vl_model_predict_dataset(m, &d, o, res);
    vl_dataset_free(&d);
    return st;
}

/* ---- windows ---------------------------------------------------------------------------------- */

vl_status vl_model_predict_seq_windows(vl_model *m, const vl_seq *s, double rate, const vl_predict_opts *opts,
                                       vl_prediction *res)
{
    const vl_predict_opts o = defaults(opts);
    const vl_net_config *cfg = vl_net_get_config(m->net);
    const int C = cfg->outputs, D = cfg->input;
    memset(res, 0, sizeof *res);
    if (cfg->mode == VL_OUT_SEQUENCE)
        return vl_seterr(VL_ERR_ARG, "windows apply to clip models; %s labels every frame already", m->path);
    if (!(o.window > 0))
        return vl_seterr(VL_ERR_ARG, "windows need a length above 0 (got %g)", o.window);
    const double u = rate > 0 ? rate : 1.0;
    /* Windows [k*S, k*S + L) (the last one flush with the end); clamped in
     * double: window * u can exceed INT_MAX (--window 1e9) */
    int L = o.window * u >= s->T ? s->T : (int)lround(o.window * u);
    int S = o.stride > 0 ? (o.stride * u >= s->T ? s->T : (int)lround(o.stride * u)) : L / 2;
    L = L < 1 ? 1 : L;
    S = S < 1 ? 1 : S;
    const int nw = s->T <= L ? 1 : (s->T - L + S - 1) / S + 1;
    vl_dataset w = {.D = D, .task = cfg->task, .mode = cfg->mode};
    int *idx = malloc(sizeof(int) * (size_t)nw);
    res->start = malloc(sizeof(int64_t) * (size_t)nw);
    res->end = malloc(sizeof(int64_t) * (size_t)nw);
    vl_status st = idx && res->start && res->end ? VL_OK : vl_seterr(VL_ERR_NOMEM, "out of memory");
    for (int k = 0; !st && k < nw; k++) {
        int st0 = k * S;
        if (st0 + L > s->T)
            st0 = s->T - L;
        res->start[k] = st0;
        res->end[k] = st0 + L;
        idx[k] = k;
        float *x = malloc(sizeof(float) * (size_t)L * D);
        if (!x || vl_dataset_add_features(&w, s->path, L, D, x)) {
            free(x);
            st = vl_seterr(VL_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(x, s->x + (size_t)st0 * D, sizeof(float) * (size_t)L * D);
    }
    float *out = NULL;
    size_t *off = NULL;
    if (!st)
        st = vl_infer(m->net, &w, idx, nw, o.batch, 1, &out, &off);
    if (!st)
        st = check_finite(m->path, s->path, out, (size_t)nw * C);
    int64_t *ws = res->start, *we = res->end;
    res->start = res->end = NULL;
    if (!st) /* the windows' outputs are contiguous: off[k] = k * C */
        st = make_result(m->net, out, s->T, nw, &o, res);
    res->start = ws;
    res->end = we;
    if (!st && cfg->task == VL_TASK_CLASSIFY)
        st = segment_rows(res, 1, m->meta.fps);
    free(out);
    free(off);
    free(idx);
    vl_dataset_free(&w);
    if (st)
        vl_prediction_free(res);
    return st;
}

vl_status vl_model_predict_windows(vl_model *m, const float *x, int T, double rate, const vl_predict_opts *o,
                                   vl_prediction *res)
{
    vl_dataset d;
    vl_status st = copy_dataset(m, 1, &x, &T, &d);
    if (!st)
        st = vl_model_predict_seq_windows(m, &d.items[0], rate, o, res);
    vl_dataset_free(&d);
    return st;
}

/* ---- single sequences and videos ------------------------------------------------------------ */

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
    if (mu && sd)
        vl_normalize_rows(x, (size_t)T, D, mu, sd, m->xn);
    else
        memcpy(m->xn, x, sizeof(float) * n);
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
    vl_features f;
    vl_status st = vl_model_video_features(m, path, &f);
    if (st)
        return st;
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

/* ---- streams ----------------------------------------------------------------------------------- */

#define WINDOW_MAX_STEPS (1 << 20)

vl_status vl_model_stream_steps(vl_model *m, const vl_predict_opts *o, int *window, int *stride)
{
    const double fps = m->meta.fps, u = fps > 0 ? fps : 1.0;
    double wl = o && o->window > 0 ? o->window : (fps > 0 ? 2.0 : 20.0), sl = o && o->stride > 0 ? o->stride : 0;
    /* the ring holds a whole window: bound it before converting to int */
    if (wl * u > WINDOW_MAX_STEPS || sl * u > WINDOW_MAX_STEPS)
        return vl_seterr(VL_ERR_ARG, "--window/--stride of %g/%g s is over %d steps at %g steps per second", wl, sl,
                         WINDOW_MAX_STEPS, u);
    int L = (int)lround(wl * u);
    L = L < 1 ? 1 : L;
    int S = sl > 0 ? (int)lround(sl * u)
                   : (vl_net_get_config(m->net)->mode == VL_OUT_SEQUENCE ? L : (L / 2 > 0 ? L / 2 : 1));
    *window = L;
    *stride = S < 1 ? 1 : S;
    return VL_OK;
}

typedef struct {
    vl_model *m;
    const char *src;
    vl_stream_fn fn;
    void *user;
    int D, C, L, S, seq, cls;
    float *ring;   /* [L, D] window being filled, oldest first */
    double *times; /* [L] */
    float *x;      /* [L, D] the window, normalised */
    int have, since, nwin;
    int from; /* per-frame models: the first step of the window to segment */
    vl_prediction r; /* its out [L, C], label/confidence [L], seg [L] */
    double t0;
    vl_status err;
    int stopped;
} stream_ctx;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Per-frame labels of the window from step `from` on, as runs in time. */
static void stream_segments(stream_ctx *c, int steps)
{
    vl_prediction *r = &c->r;
    r->nseg = 0;
    int s0 = c->from;
    for (int t = s0 + 1; t <= steps; t++) {
        int a = r->label[t - 1], bnext = t < steps ? r->label[t] : -1;
        if (bnext != a) {
            double conf = 0;
            for (int k = s0; k < t; k++)
                conf += r->out[(size_t)k * c->C + a];
            r->seg[r->nseg++] = (vl_pred_segment){.start = s0, .end = t, .start_s = c->times[s0],
                                                  .end_s = c->times[t - 1], .label = a, .confidence = conf / (t - s0)};
            s0 = t;
        }
    }
}

static vl_status run_window(stream_ctx *c)
{
    const vl_model_meta *mt = &c->m->meta;
    if (mt->norm_mean && mt->norm_std)
        vl_normalize_rows(c->ring, (size_t)c->have, c->D, mt->norm_mean, mt->norm_std, c->x);
    else
        memcpy(c->x, c->ring, sizeof(float) * (size_t)c->have * c->D);
    int32_t len = c->have;
    vl_batch b = {.batch = 1, .tmax = c->have, .dim = c->D, .x = c->x, .lengths = &len};
    vl_prediction *r = &c->r;
    vl_status st = vl_net_forward(c->m->net, &b, r->out);
    if (st)
        return st;
    const int steps = c->seq ? c->have : 1;
    if ((st = check_finite(c->m->path, c->src, r->out, (size_t)steps * c->C)))
        return st;
    if (c->cls) {
        vl_softmax_rows(steps, c->C, r->out, r->out);
        for (int t = 0; t < steps; t++) {
            r->label[t] = argmax(r->out + (size_t)t * c->C, c->C);
            r->confidence[t] = r->out[(size_t)t * c->C + r->label[t]];
        }
    }
    r->T = c->have;
    r->rows = steps;
    r->start_s = c->times[0];
    r->end_s = c->times[c->have - 1];
    if (c->seq && c->cls)
        stream_segments(c, steps);
    r->latency_ms = 1e3 * (now_s() - c->t0);
    c->nwin++;
    if (c->fn(c->user, r))
        c->stopped = 1;
    return VL_OK;
}

static int on_stream(void *user, const float *x, int n, const double *time, const int64_t *index, double arrival)
{
    (void)index;
    stream_ctx *c = user;
    c->t0 = arrival; /* latency: from the decoded frame to the result */
    for (int i = 0; i < n; i++) {
        if (c->have == c->L) { /* slide by one step */
            memmove(c->ring, c->ring + c->D, sizeof(float) * (size_t)(c->L - 1) * c->D);
            memmove(c->times, c->times + 1, sizeof(double) * (size_t)(c->L - 1));
            c->have--;
        }
        memcpy(c->ring + (size_t)c->have * c->D, x + (size_t)i * c->D, sizeof(float) * (size_t)c->D);
        c->times[c->have++] = time[i];
        c->since++;
        if (c->have == c->L && c->since >= c->S) {
            c->since = 0;
            if ((c->err = run_window(c)) || c->stopped)
                return 1;
        }
    }
    return 0;
}

vl_status vl_model_stream(vl_model *m, const char *src, const vl_predict_opts *o, vl_stream_fn fn, void *user)
{
    const vl_net_config *cfg = vl_net_get_config(m->net);
    vl_extractor *xt;
    int L, S;
    vl_status st = vl_model_extractor(m, &xt);
    if (st || (st = vl_model_stream_steps(m, o, &L, &S)))
        return st;
    stream_ctx c = {.m = m, .src = src, .fn = fn, .user = user, .D = cfg->input, .C = cfg->outputs, .L = L, .S = S,
                    .seq = cfg->mode == VL_OUT_SEQUENCE, .cls = cfg->task == VL_TASK_CLASSIFY};
    c.r.C = c.C;
    c.ring = malloc(sizeof(float) * (size_t)L * c.D);
    c.x = malloc(sizeof(float) * (size_t)L * c.D);
    c.times = malloc(sizeof(double) * (size_t)L);
    c.r.out = malloc(sizeof(float) * (size_t)L * c.C);
    c.r.label = malloc(sizeof(int32_t) * (size_t)L);
    c.r.confidence = malloc(sizeof(float) * (size_t)L);
    c.r.seg = malloc(sizeof(vl_pred_segment) * (size_t)L);
    if (!c.ring || !c.x || !c.times || !c.r.out || !c.r.label || !c.r.confidence || !c.r.seg)
        st = vl_seterr(VL_ERR_NOMEM, "out of memory for a window of %d steps", L);
    if (!c.cls) { /* regression results carry no labels */
        free(c.r.label);
        free(c.r.confidence);
        c.r.label = NULL;
        c.r.confidence = NULL;
    }
    if (!(c.seq && c.cls)) {
        free(c.r.seg);
        c.r.seg = NULL;
    }
    if (!st) {
        vl_status xs = vl_extract_stream(xt, src, on_stream, &c);
        st = c.err ? c.err : c.stopped ? VL_OK : xs;
    }
    /* the tail; per-frame models segment only the steps no window covered */
    c.from = c.seq && c.nwin > 0 && c.since < c.have ? c.have - c.since : 0;
    if (!st && !c.stopped && c.have > 0 && (c.nwin == 0 || c.since > 0))
        st = run_window(&c);
    free(c.ring);
    free(c.x);
    free(c.times);
    vl_prediction_free(&c.r);
    return st;
}
