/* Training loop, validation, checkpoints and batched inference (see trainer.h). */
#include "train/trainer.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "core/rng.h"
#include "dist/dist.h"
#include "model/modelfile.h"
#include "model/net.h"
#include "nn/layers.h"
#include "optim/optim.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- batches ------------------------------------------------------------------- */

/* A batch's per-item arrays: lengths, clip labels/targets and pointers to
 * the dataset's own sequences (no feature is copied: the network packs them
 * straight from there); `out` holds a training step's outputs. Grown to the
 * largest batch seen, then reused. */
typedef struct {
    int cap_b;
    size_t cap_bt;
    float *targets, *out;
    int32_t *lengths, *labels;
    const float **x;
    const int32_t **frame_labels;
    const float **frame_targets;
} batch_buf;

static void batch_buf_free(batch_buf *b)
{
    free(b->targets);
    free(b->out);
    free(b->lengths);
    free(b->labels);
    free(b->x);
    free(b->frame_labels);
    free(b->frame_targets);
    *b = (batch_buf){0};
}

/* Room for B items and, with out_steps > 0, B * out_steps rows of C outputs. */
static vl_status batch_buf_reserve(batch_buf *b, int B, int out_steps, int C)
{
    size_t bt = (size_t)B * (size_t)out_steps * (size_t)C;
    if (B <= b->cap_b && bt <= b->cap_bt)
        return VL_OK;
    int nb = B > b->cap_b ? B : b->cap_b;
    size_t nbt = bt > b->cap_bt ? bt : b->cap_bt;
    if (B > b->cap_b) {
        batch_buf n = {.cap_b = nb, .cap_bt = b->cap_bt, .out = b->out};
        n.targets = malloc(sizeof(float) * nb);
        n.lengths = malloc(sizeof(int32_t) * nb);
        n.labels = malloc(sizeof(int32_t) * nb);
        n.x = malloc(sizeof *n.x * nb);
        n.frame_labels = malloc(sizeof *n.frame_labels * nb);
        n.frame_targets = malloc(sizeof *n.frame_targets * nb);
        if (!n.targets || !n.lengths || !n.labels || !n.x || !n.frame_labels || !n.frame_targets) {
            n.out = NULL;
            batch_buf_free(&n);
            return vl_seterr(VL_ERR_NOMEM, "out of memory for a batch of %d", nb);
        }
        b->out = NULL;
        batch_buf_free(b);
        *b = n;
    }
    if (nbt > b->cap_bt) {
        float *o = malloc(sizeof(float) * nbt);
        if (!o)
            return vl_seterr(VL_ERR_NOMEM, "out of memory for the outputs of a batch of %d", B);
        free(b->out);
        b->out = o;
        b->cap_bt = nbt;
    }
    return VL_OK;
}

/* Shortest sequence among items it[0..nb). */
static int shortest(const vl_dataset *d, const int *it, int nb)
{
    int tmin = 1 << 30;
    for (int j = 0; j < nb; j++)
        tmin = d->items[it[j]].T < tmin ? d->items[it[j]].T : tmin;
    return tmin;
}

/* Points a batch at items it[0..nb); `cut` > 0 = truncate all to `cut`
 * steps (the shortest of the batch, or of the global batch this part belongs
 * to when data-parallel). out_steps > 0: room for the outputs of a training
 * step (vl_net_forward_backward's padded layout). */
static vl_status fill_batch(const vl_dataset *d, const int *it, int nb, int cut, int out_steps, int C, batch_buf *buf,
                            vl_batch *vb)
{
    int tmax = 0;
    for (int j = 0; j < nb; j++) {
        int T = d->items[it[j]].T;
        tmax = T > tmax ? T : tmax;
    }
    if (cut > 0)
        tmax = cut;
    vl_status st = batch_buf_reserve(buf, nb, out_steps ? tmax : 0, C);
    if (st)
        return st;
    const int seq = d->mode == VL_OUT_SEQUENCE, cls = d->task == VL_TASK_CLASSIFY;
    for (int j = 0; j < nb; j++) {
        const vl_seq *s = &d->items[it[j]];
        buf->lengths[j] = s->T < tmax ? s->T : tmax;
        buf->x[j] = s->x;
        buf->labels[j] = s->label;
        buf->targets[j] = s->target;
        buf->frame_labels[j] = s->frame_labels;
        buf->frame_targets[j] = s->frame_targets;
    }
    *vb = (vl_batch){.batch = nb, .tmax = tmax, .dim = d->D, .lengths = buf->lengths, .seq_x = buf->x};
    if (seq && cls)
        vb->seq_labels = buf->frame_labels;
    else if (seq)
        vb->seq_targets = buf->frame_targets;
    else if (cls)
        vb->labels = buf->labels;
    else
        vb->targets = buf->targets;
    return VL_OK;
}

/* Accuracy (classify) or sum of squared errors (regress) of a batch's
 * outputs, over clips or valid frames. Returns the count in *n. */
static double batch_score(const vl_dataset *d, const vl_batch *b, const float *out, int C, double *n)
{
    double good = 0.0;
    *n = 0.0;
    for (int j = 0; j < b->batch; j++) {
        int steps = d->mode == VL_OUT_LAST ? 1 : b->lengths[j];
        for (int t = 0; t < steps; t++) {
            const float *o = d->mode == VL_OUT_LAST ? out + (size_t)j * C : out + ((size_t)j * b->tmax + t) * C;
            if (d->task == VL_TASK_CLASSIFY) {
                int arg = 0;
                for (int c = 1; c < C; c++)
                    if (o[c] > o[arg])
                        arg = c;
                int y = d->mode == VL_OUT_LAST ? b->labels[j] : b->seq_labels[j][t];
                good += arg == y;
            } else {
                float y = d->mode == VL_OUT_LAST ? b->targets[j] : b->seq_targets[j][t];
                good += ((double)o[0] - y) * ((double)o[0] - y);
            }
            *n += 1.0;
        }
    }
    return good;
}

/* ---- inference -------------------------------------------------------------------- */

vl_status vl_infer(vl_net *net, const vl_dataset *d, const int *idx, int n, int batch, int probs, float **out,
                   size_t **off)
{
    *out = NULL;
    *off = NULL;
    const vl_net_config *cfg = vl_net_get_config(net);
    const int C = cfg->outputs, seq = cfg->mode == VL_OUT_SEQUENCE;
    if (d->D != cfg->input)
        return vl_seterr(VL_ERR_SHAPE, "%s: feature width %d, but the model expects %d",
                         d->source ? d->source : "features", d->D, cfg->input);
    if (batch < 1)
        batch = 32;
    size_t *o = malloc(sizeof(size_t) * ((size_t)n + 1));
    int *where = malloc(sizeof(int) * (size_t)(n ? n : 1));
    int *bit = malloc(sizeof(int) * (size_t)batch);
    size_t total = 0;
    for (int i = 0; o && i < n; i++) {
        o[i] = total;
        total += (size_t)C * (seq ? (size_t)d->items[idx[i]].T : 1);
    }
    float *res = malloc(sizeof(float) * (total ? total : 1));
    vl_status st = VL_OK;
    if (!o || !where || !bit || !res)
        st = vl_seterr(VL_ERR_NOMEM, "out of memory for %zu outputs", total);
    else {
        o[n] = total;
        /* Positions sorted by length, longest first, so each batch pads
         * little (shell sort; ties keep no particular order, which is fine:
         * inference is per sequence). */
        for (int i = 0; i < n; i++)
            where[i] = i;
        for (int gap = n / 2; gap > 0; gap /= 2)
            for (int i = gap; i < n; i++) {
                int v = where[i], j = i;
                while (j >= gap && d->items[idx[where[j - gap]]].T < d->items[idx[v]].T) {
                    where[j] = where[j - gap];
                    j -= gap;
                }
                where[j] = v;
            }
    }
    batch_buf buf = {0};
    float **dst = malloc(sizeof *dst * (size_t)batch);
    if (!st && !dst)
        st = vl_seterr(VL_ERR_NOMEM, "out of memory");
    for (int s0 = 0; !st && s0 < n; s0 += batch) {
        int nb = n - s0 < batch ? n - s0 : batch;
        for (int j = 0; j < nb; j++) {
            bit[j] = idx[where[s0 + j]];
            dst[j] = res + o[where[s0 + j]];
        }
        vl_batch vb;
        if ((st = fill_batch(d, bit, nb, 0, 0, C, &buf, &vb)))
            break;
        vb.seq_out = dst; /* each item's outputs straight to its place in res */
        if ((st = vl_net_forward(net, &vb, NULL)))
            break;
        if (probs && cfg->task == VL_TASK_CLASSIFY)
            for (int j = 0; j < nb; j++)
                vl_softmax_rows(seq ? vb.lengths[j] : 1, C, dst[j], dst[j]);
    }
    batch_buf_free(&buf);
    free(dst);
    free(bit);
    free(where);
    if (st) {
        free(res);
        free(o);
        return st;
    }
    *out = res;
    *off = o;
    return VL_OK;
}

/* Sums behind vl_evaluate_loss over items idx[0..n): s[0] loss numerator,
 * s[1] its denominator (class weights or counts), s[2] correct clips/frames
 * (classify) or squared error (regress), s[3] clips/frames. */
static vl_status eval_sums(vl_net *net, const vl_dataset *d, const int *idx, int n, int batch, double s[4])
{
    s[0] = s[1] = s[2] = s[3] = 0.0;
    if (n == 0)
        return VL_OK;
    float *out;
    size_t *off;
    vl_status st = vl_infer(net, d, idx, n, batch, 0, &out, &off);
    if (st)
        return st;
    const vl_net_config *cfg = vl_net_get_config(net);
    const int C = cfg->outputs, seq = cfg->mode == VL_OUT_SEQUENCE;
    double num = 0.0, den = 0.0, good = 0.0, cnt = 0.0;
    for (int i = 0; i < n; i++) {
        const vl_seq *q = &d->items[idx[i]];
        int steps = seq ? q->T : 1;
        for (int t = 0; t < steps; t++) {
            const float *o = out + off[i] + (size_t)t * C;
            if (cfg->task == VL_TASK_CLASSIFY) {
                int y = seq ? q->frame_labels[t] : q->label;
                float w = cfg->class_weights ? cfg->class_weights[y] : 1.0f;
                num += (double)w * vl_softmax_xent(1, C, o, &y, NULL, NULL);
                den += w;
                int arg = 0;
                for (int c = 1; c < C; c++)
                    if (o[c] > o[arg])
                        arg = c;
                good += arg == y;
            } else {
                float y = seq ? q->frame_targets[t] : q->target;
                double e = (double)o[0] - y;
                num += e * e;
                den += 1.0;
                good += e * e;
            }
            cnt += 1.0;
        }
    }
    free(out);
    free(off);
    s[0] = num;
    s[1] = den;
    s[2] = good;
    s[3] = cnt;
    return VL_OK;
}

static void eval_finish(const vl_net *net, const double s[4], float *loss, float *metric)
{
    const vl_net_config *cfg = vl_net_get_config(net);
    double cnt = s[3] > 0 ? s[3] : 1;
    *loss = (float)(s[1] > 0 ? s[0] / s[1] : 0.0);
    *metric = cfg->task == VL_TASK_CLASSIFY ? (float)(s[2] / cnt) : (float)sqrt(s[2] / cnt);
}

vl_status vl_evaluate_loss(vl_net *net, const vl_dataset *d, const int *idx, int n, int batch, float *loss,
                           float *metric)
{
    double s[4];
    vl_status st = eval_sums(net, d, idx, n, batch, s);
    if (st)
        return st;
    eval_finish(net, s, loss, metric);
    return VL_OK;
}

/* Data-parallel validation: each rank evaluates a contiguous part of idx
 * (balanced by steps) and the sums are added over the ranks. */
static vl_status evaluate_dist(vl_net *net, const vl_dataset *d, const int *idx, int n, int batch, int R, int P,
                               float *loss, float *metric)
{
    double tot = 0.0, acc = 0.0;
    for (int i = 0; i < n; i++)
        tot += d->items[idx[i]].T;
    int a = 0, b = 0;
    for (int i = 0; i < n; i++) { /* item i goes to the rank its midpoint falls in */
        double mid = acc + 0.5 * d->items[idx[i]].T;
        int r = tot > 0 ? (int)(mid * P / tot) : 0;
        r = r >= P ? P - 1 : r;
        if (r < R)
            a = i + 1;
        if (r <= R)
            b = i + 1;
        acc += d->items[idx[i]].T;
    }
    double s[5];
    vl_status st = eval_sums(net, d, idx + a, b - a, batch, s);
    if (st)
        s[0] = s[1] = s[2] = s[3] = 0.0;
    s[4] = st != VL_OK;
    vl_status cs = vl_dist_sum_f64(s, 5);
    if (st)
        return st;
    if (cs)
        return cs;
    if (s[4] > 0)
        return vl_seterr(VL_ERR_IO, "validation failed on another rank");
    eval_finish(net, s, loss, metric);
    return VL_OK;
}

/* ---- epoch order ------------------------------------------------------------------ */

static void shuffle_ints(int *v, int n, vl_rng *r)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)vl_rng_below(r, (uint64_t)i + 1);
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* The item order of epoch e, cut into batches: bstart[k]..bstart[k+1].
 * A pure function of (seed, e, options), so a resumed run sees the same
 * batches without saving any shuffling state. */
static int epoch_batches(const vl_dataset *d, const int *train, int n, const vl_train_opts *o, int e, int *order,
                         int *bstart, int *tmp)
{
    memcpy(order, train, sizeof(int) * (size_t)n);
    vl_rng r;
    if (o->shuffle == VL_SHUFFLE_ONCE) {
        vl_rng_seed(&r, o->seed * 0x9E3779B97F4A7C15ULL + 1);
        shuffle_ints(order, n, &r);
    }
    vl_rng_seed(&r, (o->seed + 0x632BE59BD9B4E019ULL) ^ ((uint64_t)(e + 1) * 0xD1B54A32D192ED03ULL));
    if (o->shuffle == VL_SHUFFLE_EVERY_EPOCH)
        shuffle_ints(order, n, &r);
    const int B = o->batch;
    int nb = (n + B - 1) / B;
    if (!o->bucket) {
        for (int k = 0; k <= nb; k++)
            bstart[k] = k * B < n ? k * B : n;
        return nb;
    }
    /* Sort chunks of 50 batches by length (stable: insertion sort keeps ties
     * in their shuffled order), then shuffle whole batches. */
    const int chunk = 50 * B;
    for (int c0 = 0; c0 < n; c0 += chunk) {
        int c1 = c0 + chunk < n ? c0 + chunk : n;
        for (int i = c0 + 1; i < c1; i++) {
            int v = order[i], j = i;
            while (j > c0 && d->items[order[j - 1]].T < d->items[v].T) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = v;
        }
    }
    int *perm = malloc(sizeof(int) * (size_t)nb);
    if (!perm) { /* unshuffled batches are still correct */
        for (int k = 0; k <= nb; k++)
            bstart[k] = k * B < n ? k * B : n;
        return nb;
    }
    for (int k = 0; k < nb; k++)
        perm[k] = k;
    if (o->shuffle != VL_SHUFFLE_NEVER)
        shuffle_ints(perm, nb, &r);
    int p = 0;
    for (int k = 0; k < nb; k++) {
        int a = perm[k] * B, b = a + B < n ? a + B : n;
        bstart[k] = p;
        memcpy(tmp + p, order + a, sizeof(int) * (size_t)(b - a));
        p += b - a;
    }
    bstart[nb] = p;
    memcpy(order, tmp, sizeof(int) * (size_t)n);
    free(perm);
    return nb;
}

/* ---- checkpoints ------------------------------------------------------------------ */

/* A checkpoint is a model file (docs/model-format.md: the weights under their
 * PyTorch names, "architecture" and the rest) plus the training state:
 * tensors "ckpt.optim.m0" / "ckpt.optim.m1" (the optimiser's moments, flat
 * [nscalars]), "ckpt.best" (the best weights so far, flat, when there are
 * any) and the history as columns "ckpt.history.<field>" [nhistory]; counters,
 * the dropout generator's state, the options/data fingerprint and the format
 * version in the metadata (CKPT_KEYS). The file carries a checksum of all its
 * tensor data (core/safetensors.h, "data_checksum"), verified on reading.
 * Formats 1 and 2 were raw host-endian dumps starting "VLCKPT01"/"VLCKPT02":
 * refused by name. */
#define CKPT_FORMAT "3"
#define CKPT_PREFIX "ckpt."

typedef struct {
    uint64_t fingerprint;
    uint64_t rng[4];
    int64_t optim_step;
    int32_t epochs_done, iteration, bad, best_iteration;
    float best_val_loss, best_val_metric;
    int32_t has_best, nhistory, stopped;
} ckpt_header;

#define FNV_FIELD(h, v) ((h) = vl_fnv((h), &(v), sizeof(v)))

static uint64_t fingerprint(const vl_net *net, const vl_dataset *d, const int *train, int ntrain, const int *val,
                            int nval, const vl_train_opts *o)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const vl_net_config *c = vl_net_get_config(net);
    FNV_FIELD(h, c->input);
    FNV_FIELD(h, c->outputs);
    FNV_FIELD(h, c->mode);
    FNV_FIELD(h, c->task);
    FNV_FIELD(h, c->nlayers);
    for (int l = 0; l < c->nlayers; l++) {
        FNV_FIELD(h, c->layer[l].kind);
        FNV_FIELD(h, c->layer[l].hidden);
        FNV_FIELD(h, c->layer[l].bidirectional);
        FNV_FIELD(h, c->layer[l].p);
    }
    if (c->class_weights)
        h = vl_fnv(h, c->class_weights, sizeof(float) * (size_t)c->outputs);
    const vl_optim_config *oc = &o->opt;
    FNV_FIELD(h, oc->kind);
    FNV_FIELD(h, oc->lr);
    FNV_FIELD(h, oc->weight_decay);
    FNV_FIELD(h, oc->momentum);
    FNV_FIELD(h, oc->clip);
    FNV_FIELD(h, oc->clip_threshold);
    FNV_FIELD(h, oc->sched);
    FNV_FIELD(h, oc->drop_period);
    FNV_FIELD(h, oc->drop_factor);
    FNV_FIELD(h, oc->total_epochs);
    FNV_FIELD(h, oc->min_lr);
    FNV_FIELD(h, oc->beta1);
    FNV_FIELD(h, oc->beta2);
    FNV_FIELD(h, oc->alpha);
    FNV_FIELD(h, oc->eps);
    FNV_FIELD(h, o->batch);
    FNV_FIELD(h, o->epochs);
    FNV_FIELD(h, o->shuffle);
    FNV_FIELD(h, o->seqlen);
    FNV_FIELD(h, o->bucket);
    FNV_FIELD(h, o->val_every);
    FNV_FIELD(h, o->patience);
    FNV_FIELD(h, o->keep_last);
    FNV_FIELD(h, o->seed);
    FNV_FIELD(h, ntrain);
    FNV_FIELD(h, nval);
    for (int i = 0; i < ntrain; i++) {
        h = vl_fnv(h, d->items[train[i]].path, strlen(d->items[train[i]].path));
        FNV_FIELD(h, d->items[train[i]].T);
    }
    for (int i = 0; i < nval; i++)
        FNV_FIELD(h, val[i]);
    return h;
}

/* The history's columns: name, int (1) or float (0), offset in the point. */
static const struct {
    const char *name;
    int is_int;
    size_t off;
} hist_cols[] = {
    {CKPT_PREFIX "history.iteration", 1, offsetof(vl_progress_point, iteration)},
    {CKPT_PREFIX "history.epoch", 1, offsetof(vl_progress_point, epoch)},
    {CKPT_PREFIX "history.loss", 0, offsetof(vl_progress_point, loss)},
    {CKPT_PREFIX "history.metric", 0, offsetof(vl_progress_point, metric)},
    {CKPT_PREFIX "history.val_loss", 0, offsetof(vl_progress_point, val_loss)},
    {CKPT_PREFIX "history.val_metric", 0, offsetof(vl_progress_point, val_metric)},
    {CKPT_PREFIX "history.lr", 0, offsetof(vl_progress_point, lr)},
};
#define NHCOL ((int)(sizeof hist_cols / sizeof hist_cols[0]))

/* The metadata keys, in the order written. Floats as C99 hex ("%a": exact),
 * 64-bit words as 16 hex digits. */
enum { K_FORMAT, K_FP, K_STEP, K_EPOCHS, K_ITER, K_BAD, K_BESTIT, K_BESTLOSS, K_BESTMETRIC, K_HASBEST, K_STOPPED,
       K_NHIST, K_RNG, NKEYS };
static const char *const ckpt_keys[NKEYS] = {
    "checkpoint_format", "checkpoint_fingerprint", "checkpoint_optim_step", "checkpoint_epochs_done",
    "checkpoint_iteration", "checkpoint_bad_validations", "checkpoint_best_iteration", "checkpoint_best_val_loss",
    "checkpoint_best_val_metric", "checkpoint_has_best", "checkpoint_stopped", "checkpoint_history",
    "checkpoint_rng"};

static vl_status ckpt_save(const char *path, const ckpt_header *hd, const vl_net *net, vl_optim *opt,
                           const float *best, const vl_progress_point *hist)
{
    const size_t n = vl_net_nscalars(net), nh = (size_t)hd->nhistory;
    /* the history's columns, each 4 bytes an entry */
    unsigned char *cols = malloc(4 * (nh ? nh : 1) * NHCOL);
    if (!cols)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    vl_st_entry t[3 + NHCOL];
    int nt = 0;
    t[nt++] = (vl_st_entry){CKPT_PREFIX "optim.m0", VL_ST_F32, 1, {(int64_t)n}, vl_optim_moment(opt, 0)};
    t[nt++] = (vl_st_entry){CKPT_PREFIX "optim.m1", VL_ST_F32, 1, {(int64_t)n}, vl_optim_moment(opt, 1)};
    if (hd->has_best)
        t[nt++] = (vl_st_entry){CKPT_PREFIX "best", VL_ST_F32, 1, {(int64_t)n}, best};
    for (int c = 0; c < NHCOL; c++) {
        unsigned char *col = cols + 4 * nh * (size_t)c;
        for (size_t i = 0; i < nh; i++)
            memcpy(col + 4 * i, (const char *)&hist[i] + hist_cols[c].off, 4);
        t[nt++] = (vl_st_entry){hist_cols[c].name, hist_cols[c].is_int ? VL_ST_I32 : VL_ST_F32, 1, {(int64_t)nh}, col};
    }
    char v[NKEYS][80];
    snprintf(v[K_FORMAT], 80, "%s", CKPT_FORMAT);
    snprintf(v[K_FP], 80, "%016llx", (unsigned long long)hd->fingerprint);
    snprintf(v[K_STEP], 80, "%lld", (long long)hd->optim_step);
    snprintf(v[K_EPOCHS], 80, "%d", hd->epochs_done);
    snprintf(v[K_ITER], 80, "%d", hd->iteration);
    snprintf(v[K_BAD], 80, "%d", hd->bad);
    snprintf(v[K_BESTIT], 80, "%d", hd->best_iteration);
    snprintf(v[K_BESTLOSS], 80, "%a", (double)hd->best_val_loss);
    snprintf(v[K_BESTMETRIC], 80, "%a", (double)hd->best_val_metric);
    snprintf(v[K_HASBEST], 80, "%d", hd->has_best);
    snprintf(v[K_STOPPED], 80, "%d", hd->stopped);
    snprintf(v[K_NHIST], 80, "%d", hd->nhistory);
    snprintf(v[K_RNG], 80, "%016llx%016llx%016llx%016llx", (unsigned long long)hd->rng[0],
             (unsigned long long)hd->rng[1], (unsigned long long)hd->rng[2], (unsigned long long)hd->rng[3]);
    const char *vals[NKEYS];
    for (int k = 0; k < NKEYS; k++)
        vals[k] = v[k];
    vl_status st = vl_model_save_ex(path, (vl_net *)net, NULL, t, nt, ckpt_keys, vals, NKEYS);
    free(cols);
    if (st) {
        char why[1024];
        snprintf(why, sizeof why, "%s", vl_errmsg());
        return vl_seterr(st, "cannot write the checkpoint: %s", why);
    }
    return VL_OK;
}

/* A whole decimal number (within [lo, hi]) or a 16-digit hex word from the
 * metadata; 0 when absent or malformed. */
static int meta_int(const vl_st_file *f, int key, long long lo, long long hi, long long *out)
{
    const char *s = vl_st_meta(f, ckpt_keys[key]);
    char *end;
    if (!s || !*s)
        return 0;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (*end || errno || x < lo || x > hi)
        return 0;
    *out = x;
    return 1;
}

static int meta_float(const vl_st_file *f, int key, float *out)
{
    const char *s = vl_st_meta(f, ckpt_keys[key]);
    char *end;
    if (!s || !*s)
        return 0;
    *out = (float)strtod(s, &end);
    return !*end;
}

static int hex_words(const char *s, uint64_t *w, int n)
{
    if (!s || strlen(s) != 16 * (size_t)n)
        return 0;
    for (int i = 0; i < n; i++) {
        char part[17], *end;
        memcpy(part, s + 16 * i, 16);
        part[16] = 0;
        w[i] = strtoull(part, &end, 16);
        if (*end)
            return 0;
    }
    return 1;
}

/* Reads the checkpoint's counters from its metadata into hd. */
static vl_status ckpt_read_header(const vl_st_file *f, const char *path, ckpt_header *hd)
{
    long long x[NKEYS] = {0};
    static const long long hi[NKEYS] = {[K_STEP] = LLONG_MAX, [K_EPOCHS] = INT32_MAX, [K_ITER] = INT32_MAX,
                                        [K_BAD] = INT32_MAX, [K_BESTIT] = INT32_MAX, [K_HASBEST] = 1,
                                        [K_STOPPED] = 1, [K_NHIST] = 1 << 28};
    for (int k = K_STEP; k < NKEYS; k++) {
        if (k == K_BESTLOSS || k == K_BESTMETRIC || k == K_RNG)
            continue;
        if (!meta_int(f, k, 0, hi[k], &x[k]))
            return vl_seterr(VL_ERR_FORMAT, "%s: checkpoint metadata \"%s\" missing or out of range", path,
                             ckpt_keys[k]);
    }
    if (!meta_float(f, K_BESTLOSS, &hd->best_val_loss) || !meta_float(f, K_BESTMETRIC, &hd->best_val_metric) ||
        !hex_words(vl_st_meta(f, ckpt_keys[K_RNG]), hd->rng, 4) ||
        !hex_words(vl_st_meta(f, ckpt_keys[K_FP]), &hd->fingerprint, 1))
        return vl_seterr(VL_ERR_FORMAT, "%s: checkpoint metadata (best loss, random state or fingerprint) malformed",
                         path);
    hd->optim_step = x[K_STEP];
    hd->epochs_done = (int32_t)x[K_EPOCHS];
    hd->iteration = (int32_t)x[K_ITER];
    hd->bad = (int32_t)x[K_BAD];
    hd->best_iteration = (int32_t)x[K_BESTIT];
    hd->has_best = (int32_t)x[K_HASBEST];
    hd->stopped = (int32_t)x[K_STOPPED];
    hd->nhistory = (int32_t)x[K_NHIST];
    return VL_OK;
}

/* A float tensor of count elements into dst; 0 if absent or of another size. */
static int read_tensor(const vl_st_file *f, const char *name, vl_st_dtype dt, size_t count, void *dst)
{
    const vl_st_tensor *t = vl_st_find(f, name);
    if (!t || t->dtype != dt || t->ndim != 1 || (size_t)t->count != count)
        return 0;
    if (t->nbytes)
        memcpy(dst, t->data, t->nbytes);
    return 1;
}

/* Restores the state from a checkpoint. Returns VL_OK with *found = 0 if the
 * file does not exist. */
static vl_status ckpt_load(const char *path, uint64_t fp, ckpt_header *hd, vl_net *net, vl_optim *opt, float *best,
                           vl_progress_point **hist, int *found)
{
    *found = 0;
    FILE *fh = fopen(path, "rb");
    if (!fh) {
        if (errno == ENOENT)
            return VL_OK;
        return vl_seterr(VL_ERR_IO, "%s: %s", path, strerror(errno));
    }
    char magic[8] = {0};
    size_t got = fread(magic, 1, 8, fh);
    fclose(fh);
    if (got == 8 && !memcmp(magic, "VLCKPT0", 7))
        return vl_seterr(VL_ERR_FORMAT,
                         "%s: a checkpoint of an older vidlstm (raw format %c), which this one cannot resume: "
                         "checkpoints are now safetensors files; delete it and retrain, or finish the run with "
                         "the vidlstm that wrote it",
                         path, magic[7]);
    vl_net *back = NULL;
    vl_st_file f;
    vl_status st = vl_model_load_ex(path, CKPT_PREFIX, &back, NULL, &f);
    if (st)
        return st;
    const char *fmt = vl_st_meta(&f, ckpt_keys[K_FORMAT]);
    const size_t n = vl_net_nscalars(net);
    ckpt_header h = *hd;
    vl_progress_point *pts = NULL;
    if (!fmt) {
        st = vl_seterr(VL_ERR_FORMAT, "%s: a model file, not a training checkpoint", path);
    } else if (strcmp(fmt, CKPT_FORMAT)) {
        st = vl_seterr(VL_ERR_FORMAT, "%s: checkpoint format %.20s, which this vidlstm (format " CKPT_FORMAT
                       ") does not read", path, fmt);
    } else if ((st = ckpt_read_header(&f, path, &h))) {
        /* message set */
    } else if (h.fingerprint != fp || vl_net_nscalars(back) != n) {
        st = vl_seterr(VL_ERR_ARG,
                       "%s: this checkpoint belongs to a run with other options, architecture or data; "
                       "resume with the same command line, or delete it to start over",
                       path);
    } else if (!(pts = calloc((size_t)h.nhistory + 1, sizeof *pts))) {
        st = vl_seterr(VL_ERR_NOMEM, "out of memory");
    } else {
        int ok = read_tensor(&f, CKPT_PREFIX "optim.m0", VL_ST_F32, n, vl_optim_moment(opt, 0)) &&
                 read_tensor(&f, CKPT_PREFIX "optim.m1", VL_ST_F32, n, vl_optim_moment(opt, 1)) &&
                 (!h.has_best || read_tensor(&f, CKPT_PREFIX "best", VL_ST_F32, n, best));
        const size_t nh = (size_t)h.nhistory;
        float *col = malloc(4 * (nh ? nh : 1));
        for (int c = 0; ok && c < NHCOL; c++) {
            ok = col && read_tensor(&f, hist_cols[c].name, hist_cols[c].is_int ? VL_ST_I32 : VL_ST_F32, nh, col);
            for (size_t i = 0; ok && i < nh; i++)
                memcpy((char *)&pts[i] + hist_cols[c].off, col + i, 4);
        }
        free(col);
        if (!ok)
            st = vl_seterr(VL_ERR_FORMAT, "%s: corrupt checkpoint: optimiser state, best weights or history missing "
                           "or of the wrong size", path);
    }
    if (!st) {
        *hd = h;
        memcpy(vl_net_params_block(net), vl_net_params_block(back), sizeof(float) * n);
        memcpy(vl_net_rng(net)->s, hd->rng, sizeof hd->rng);
        vl_optim_set_step(opt, hd->optim_step);
        *hist = pts;
        *found = 1;
    } else {
        free(pts);
    }
    vl_st_free(&f);
    vl_net_free(back);
    return st;
}

/* ---- data-parallel helpers --------------------------------------------------------- */

/* The denominator vl_net_forward_backward normalised a batch's loss by:
 * classification the sum of the targets' class weights (their count without
 * weights), regression the number of target values; over clips ('last') or
 * valid steps ('sequence'). */
static double batch_den(const vl_net_config *cfg, const vl_batch *b)
{
    const int seq = cfg->mode == VL_OUT_SEQUENCE;
    double den = 0.0;
    for (int j = 0; j < b->batch; j++) {
        int steps = seq ? b->lengths[j] : 1;
        if (cfg->task == VL_TASK_CLASSIFY && cfg->class_weights) {
            for (int t = 0; t < steps; t++)
                den += cfg->class_weights[seq ? b->seq_labels[j][t] : b->labels[j]];
        } else {
            den += (double)steps * (cfg->task == VL_TASK_CLASSIFY ? 1 : cfg->outputs);
        }
    }
    return den;
}

/* Rank r's dropout stream for an epoch, from the base state all ranks share
 * (which alone the checkpoint keeps). */
static void rank_rng(vl_rng *out, const vl_rng *base, int r)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = vl_fnv(h, base->s, sizeof base->s);
    h = vl_fnv(h, &r, sizeof r);
    vl_rng_seed(out, h);
}

/* Rank 0's outcome (status) to all; the others fail with `what` when rank 0
 * failed. */
static vl_status agree_root(vl_status st, int R, const char *what)
{
    int32_t v = (int32_t)st;
    vl_status cs = vl_dist_bcast(&v, sizeof v, 0);
    if (R == 0)
        return st ? st : cs;
    if (cs)
        return cs;
    return v ? vl_seterr((vl_status)v, "%s (rank 0 failed; its message says why)", what) : VL_OK;
}

/* Rank 0 loads the checkpoint (as ckpt_load) and sends the whole state. */
static vl_status ckpt_load_dist(const char *path, uint64_t fp, ckpt_header *hd, vl_net *net, vl_optim *opt,
                                float *best, vl_progress_point *hist, int maxhist, int R, int *found)
{
    vl_progress_point *h = NULL;
    vl_status st = VL_OK;
    *found = 0;
    if (R == 0) {
        st = ckpt_load(path, fp, hd, net, opt, best, &h, found);
        if (!st && *found && hd->nhistory > maxhist) {
            st = vl_seterr(VL_ERR_FORMAT, "%s: corrupt checkpoint header", path);
            free(h);
            h = NULL;
        }
        if (!st && *found) {
            memcpy(hist, h, sizeof *hist * (size_t)hd->nhistory);
            free(h);
        }
    }
    if ((st = agree_root(st, R, "cannot resume from the checkpoint")))
        return st;
    int32_t f = *found;
    if ((st = vl_dist_bcast(&f, sizeof f, 0)))
        return st;
    *found = f;
    if (!f)
        return VL_OK;
    const size_t n = vl_net_nscalars(net);
    if ((st = vl_dist_bcast(hd, sizeof *hd, 0)) || (st = vl_dist_bcast(vl_net_params_block(net), sizeof(float) * n, 0)) ||
        (st = vl_dist_bcast(vl_optim_moment(opt, 0), sizeof(float) * n, 0)) ||
        (st = vl_dist_bcast(vl_optim_moment(opt, 1), sizeof(float) * n, 0)) ||
        (hd->has_best && (st = vl_dist_bcast(best, sizeof(float) * n, 0))) ||
        (st = vl_dist_bcast(hist, sizeof *hist * (size_t)hd->nhistory, 0)))
        return st;
    memcpy(vl_net_rng(net)->s, hd->rng, sizeof hd->rng);
    vl_optim_set_step(opt, hd->optim_step);
    return VL_OK;
}

/* ---- training ---------------------------------------------------------------------- */

void vl_train_result_free(vl_train_result *r)
{
    free(r->history);
    *r = (vl_train_result){0};
}

vl_status vl_train(vl_net *net, const vl_dataset *d, const int *train, int ntrain, const vl_dataset *vd,
                   const int *val, int nval, const vl_train_opts *o, vl_train_result *res)
{
    *res = (vl_train_result){.best_val_loss = NAN, .best_val_metric = NAN};
    const vl_net_config *cfg = vl_net_get_config(net);
    const int C = cfg->outputs;
    if (ntrain < 1)
        return vl_seterr(VL_ERR_ARG, "no training sequences");
    if (o->batch < 1 || o->epochs < 1)
        return vl_seterr(VL_ERR_ARG, "mini-batch size and max epochs must be positive (got %d, %d)", o->batch,
                         o->epochs);
    if (d->D != cfg->input || (nval && vd->D != cfg->input))
        return vl_seterr(VL_ERR_SHAPE, "feature width %d does not match the network's input %d", d->D, cfg->input);
    if (d->task != cfg->task || d->mode != cfg->mode)
        return vl_seterr(VL_ERR_ARG, "the dataset was loaded for another task or output mode than the network's");
    if (cfg->task == VL_TASK_REGRESS && C != 1)
        return vl_seterr(VL_ERR_ARG, "regression from manifests has one target (the network has %d outputs)", C);
    /* data-parallel: P ranks, this is rank R (P = 1: the single-process path, unchanged) */
    const int P = o->dist ? vl_dist_size() : 1, R = P > 1 ? vl_dist_rank() : 0;

    vl_optim *opt = NULL;
    vl_status st = vl_optim_create(net, &o->opt, &opt);
    if (st)
        return st;
    const int nb_max = (ntrain + o->batch - 1) / o->batch;
    const int total_iters = nb_max * o->epochs;
    int *order = malloc(sizeof(int) * (size_t)ntrain);
    int *tmp = malloc(sizeof(int) * (size_t)ntrain);
    int *bstart = malloc(sizeof(int) * (size_t)(nb_max + 1));
    float *best = malloc(sizeof(float) * vl_net_nscalars(net));
    vl_progress_point *hist = malloc(sizeof *hist * (size_t)(total_iters + 1));
    batch_buf buf = {0};
    if (!order || !tmp || !bstart || !best || !hist) {
        st = vl_seterr(VL_ERR_NOMEM, "out of memory");
        goto done;
    }

    uint64_t fp = fingerprint(net, d, train, ntrain, val, nval, o);
    if (P > 1) {
        int same = 0;
        if ((st = vl_dist_same_u64(fp, &same)))
            goto done;
        if (!same) {
            st = vl_seterr(VL_ERR_ARG, "the ranks do not agree on the options, architecture, data or split (rank %d "
                                       "differs): every rank must see the same files and command line",
                           R);
            goto done;
        }
    }
    ckpt_header hd = {.fingerprint = fp, .best_val_loss = INFINITY, .best_val_metric = NAN};
    int found = 0;
    if (P > 1) {
        if (o->checkpoint && o->resume) {
            if ((st = ckpt_load_dist(o->checkpoint, fp, &hd, net, opt, best, hist, total_iters, R, &found)))
                goto done;
        }
        /* a fresh run: rank 0's initial weights and random state for all */
        if (!found && ((st = vl_dist_bcast(vl_net_params_block(net), sizeof(float) * vl_net_nscalars(net), 0)) ||
                       (st = vl_dist_bcast(vl_net_rng(net)->s, sizeof vl_net_rng(net)->s, 0))))
            goto done;
    } else if (o->checkpoint && o->resume) {
        vl_progress_point *h = NULL;
        if ((st = ckpt_load(o->checkpoint, fp, &hd, net, opt, best, &h, &found)))
            goto done;
        if (found) {
            memcpy(hist, h, sizeof *hist * (size_t)hd.nhistory);
            free(h);
        }
    }
    /* P > 1: the random state every rank shares; each draws its dropout
     * masks from its own stream derived from it, epoch by epoch */
    vl_rng base = *vl_net_rng(net);
    int epoch0 = found ? hd.epochs_done : 0, iter = found ? hd.iteration : 0, nhist = found ? hd.nhistory : 0;
    int stopped = found ? hd.stopped : 0;
    double t0 = now_s();
    int first_event = 1;
    float last_val_loss = NAN, last_val_metric = NAN;

    for (int e = epoch0; e < o->epochs && !stopped; e++) {
        vl_optim_set_epoch(opt, e);
        if (P > 1)
            rank_rng(vl_net_rng(net), &base, R);
        int nb = epoch_batches(d, train, ntrain, o, e, order, bstart, tmp);
        for (int k = 0; k < nb && !stopped; k++) {
            vl_batch vb;
            const int *git = order + bstart[k];
            const int gn = bstart[k + 1] - bstart[k];
            const int cut = o->seqlen == VL_SEQLEN_SHORTEST ? shortest(d, git, gn) : 0;
            float loss = 0.0f;
            double cnt = 0.0, score = 0.0;
            if (P == 1) {
                if ((st = fill_batch(d, git, gn, cut, 1, C, &buf, &vb)))
                    goto done;
                st = vl_net_forward_backward(net, &vb, &loss, buf.out);
                if (!st)
                    score = batch_score(d, &vb, buf.out, C, &cnt);
            } else {
                /* this rank's contiguous part of the global batch */
                const int a = (int)((long long)gn * R / P), b = (int)((long long)gn * (R + 1) / P);
                /* s: loss numerator and denominator, score, count, failed, diverged */
                double sm[6] = {0}, den = 0.0;
                if (b > a) {
                    st = fill_batch(d, git + a, b - a, cut, 1, C, &buf, &vb);
                    if (!st)
                        st = vl_net_forward_backward(net, &vb, &loss, buf.out);
                    if (!st) {
                        den = batch_den(cfg, &vb);
                        sm[0] = (double)loss * den;
                        sm[1] = den;
                        sm[2] = batch_score(d, &vb, buf.out, C, &sm[3]);
                    }
                } else {
                    memset(vl_net_grads_block(net), 0, sizeof(float) * vl_net_nscalars(net));
                }
                sm[4] = st != VL_OK;
                sm[5] = st == VL_ERR_NUMERIC;
                vl_status cs = vl_dist_sum_f64(sm, 6);
                if (!st && cs)
                    st = cs;
                if (!st && sm[4] > 0)
                    st = vl_seterr(sm[5] > 0 ? VL_ERR_NUMERIC : VL_ERR_IO, "%s on another rank",
                                   sm[5] > 0 ? "the loss is not finite" : "the step failed");
                if (!st) {
                    /* this rank's gradient is of its mean loss: weight it by its
                     * share of the global denominator, then sum over ranks */
                    float scale = sm[1] > 0 ? (float)(den / sm[1]) : 0.0f;
                    float *g = vl_net_grads_block(net);
                    const size_t n = vl_net_nscalars(net);
                    if (scale != 1.0f)
                        for (size_t i = 0; i < n; i++)
                            g[i] *= scale;
                    st = vl_dist_sum_f32(g, n);
                    loss = (float)(sm[1] > 0 ? sm[0] / sm[1] : 0.0);
                    score = sm[2];
                    cnt = sm[3];
                }
            }
            if (!st)
                st = vl_optim_step(opt, NULL);
            iter++;
            if (st) {
                if (st == VL_ERR_NUMERIC)
                    st = vl_seterr(VL_ERR_NUMERIC,
                                   "training diverged at epoch %d, iteration %d (%s); lower the learning rate "
                                   "or set a gradient threshold",
                                   e + 1, iter, vl_errmsg());
                goto done;
            }
            double cdiv = cnt > 0 ? cnt : 1;
            float metric = cfg->task == VL_TASK_CLASSIFY ? (float)(score / cdiv) : (float)sqrt(score / cdiv);
            int epoch_end = k == nb - 1;
            int validate = nval > 0 && ((o->val_every > 0 && iter % o->val_every == 0) ||
                                        (epoch_end && (o->val_every <= 0 || e == o->epochs - 1)));
            vl_progress_point pt = {.iteration = iter, .epoch = e + 1, .loss = loss, .metric = metric,
                                    .val_loss = NAN, .val_metric = NAN, .lr = vl_optim_lr(opt)};
            if (validate) {
                float vloss, vmetric;
                if ((st = P > 1 ? evaluate_dist(net, vd, val, nval, o->batch, R, P, &vloss, &vmetric)
                                : vl_evaluate_loss(net, vd, val, nval, o->batch, &vloss, &vmetric)))
                    goto done;
                pt.val_loss = last_val_loss = vloss;
                pt.val_metric = last_val_metric = vmetric;
                if (vloss < hd.best_val_loss) {
                    hd.best_val_loss = vloss;
                    hd.best_val_metric = vmetric;
                    hd.best_iteration = iter;
                    hd.has_best = 1;
                    hd.bad = 0;
                    memcpy(best, vl_net_params_block(net), sizeof(float) * vl_net_nscalars(net));
                } else if (o->patience > 0 && ++hd.bad >= o->patience) {
                    stopped = 1;
                }
            }
            hist[nhist++] = pt;
            if (o->cb) {
                vl_train_event ev = {.epoch = e + 1, .epochs = o->epochs, .iteration = iter,
                                     .iterations = total_iters, .iters_per_epoch = nb, .loss = loss,
                                     .metric = metric, .lr = pt.lr, .validated = validate,
                                     .val_loss = last_val_loss, .val_metric = last_val_metric,
                                     .best_val_loss = hd.has_best ? hd.best_val_loss : NAN,
                                     .elapsed = now_s() - t0, .epoch_end = epoch_end || stopped,
                                     .resumed_from = first_event ? epoch0 : 0};
                first_event = 0;
                int32_t stop = o->cb(o->user, &ev) != 0;
                if (P > 1 && (st = vl_dist_max_i32(&stop, 1))) /* one rank's stop stops all */
                    goto done;
                if (stop) {
                    res->interrupted = 1;
                    res->epochs_done = hd.epochs_done;
                    res->iterations = iter;
                    res->history = hist;
                    res->nhistory = nhist;
                    hist = NULL;
                    goto done;
                }
            }
        }
        hd.epochs_done = e + 1;
        hd.iteration = iter;
        hd.nhistory = nhist;
        hd.stopped = stopped;
        hd.optim_step = vl_optim_get_step(opt);
        if (P > 1) { /* the next epoch's shared state (rank streams derive from it) */
            vl_rng_seed(&base, vl_rng_next(&base));
            memcpy(hd.rng, base.s, sizeof hd.rng);
        } else {
            memcpy(hd.rng, vl_net_rng(net)->s, sizeof hd.rng);
        }
        if (o->checkpoint) {
            st = R == 0 ? ckpt_save(o->checkpoint, &hd, net, opt, best, hist) : VL_OK;
            if (P > 1)
                st = agree_root(st, R, "cannot write the checkpoint");
            if (st)
                goto done;
        }
    }
    if (hd.has_best && !o->keep_last)
        memcpy(vl_net_params_block(net), best, sizeof(float) * vl_net_nscalars(net));
    res->epochs_done = hd.epochs_done;
    res->iterations = hd.iteration;
    res->stopped_early = stopped;
    res->best_iteration = hd.has_best ? hd.best_iteration : 0;
    res->best_val_loss = hd.has_best ? hd.best_val_loss : NAN;
    res->best_val_metric = hd.has_best ? hd.best_val_metric : NAN;
    res->history = hist;
    res->nhistory = nhist;
    hist = NULL;
done:
    batch_buf_free(&buf);
    free(order);
    free(tmp);
    free(bstart);
    free(best);
    free(hist);
    vl_optim_free(opt);
    return st;
}
