/* Training loop, validation, checkpoints and batched inference (see trainer.h). */
#include "train/trainer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/rng.h"
#include "dist/dist.h"
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

#define CKPT_MAGIC "VLCKPT02" /* 01: payload summed byte by byte (refused) */

typedef struct {
    char magic[8];
    uint64_t fingerprint;
    uint64_t nscalars;
    uint64_t rng[4];
    int64_t optim_step;
    int32_t epochs_done, iteration, bad, best_iteration;
    float best_val_loss, best_val_metric;
    int32_t has_best, nhistory, stopped;
    int32_t pad;
} ckpt_header;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
#define FNV_FIELD(h, v) ((h) = fnv((h), &(v), sizeof(v)))

/* The checkpoint's payload checksum, a word at a time: the byte-wise FNV
 * above cost 14% of a small training run, which checkpoints every epoch. */
static uint64_t wsum(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, c + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return fnv(h, c + i, n - i);
}

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
        h = fnv(h, c->class_weights, sizeof(float) * (size_t)c->outputs);
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
        h = fnv(h, d->items[train[i]].path, strlen(d->items[train[i]].path));
        FNV_FIELD(h, d->items[train[i]].T);
    }
    for (int i = 0; i < nval; i++)
        FNV_FIELD(h, val[i]);
    return h;
}

static int write_all(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }

static vl_status ckpt_save(const char *path, const ckpt_header *hd, const vl_net *net, vl_optim *opt,
                           const float *best, const vl_progress_point *hist)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    /* a fixed name (not per process): a run killed mid-write leaves one stale
     * temp file, which the next save replaces and a finished run removes */
    snprintf(tmp, pl + 32, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        vl_status st = vl_seterr(VL_ERR_IO, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    size_t n = vl_net_nscalars(net);
    uint64_t sum = fnv(0xcbf29ce484222325ULL, hd, sizeof *hd);
    int ok = write_all(f, hd, sizeof *hd) && write_all(f, vl_net_params_block(net), sizeof(float) * n) &&
             write_all(f, vl_optim_moment(opt, 0), sizeof(float) * n) &&
             write_all(f, vl_optim_moment(opt, 1), sizeof(float) * n) &&
             (!hd->has_best || write_all(f, best, sizeof(float) * n)) &&
             write_all(f, hist, sizeof *hist * (size_t)hd->nhistory);
    /* the checksum covers everything: weights, moments, best weights, history */
    sum = wsum(sum, vl_net_params_block(net), sizeof(float) * n);
    sum = wsum(sum, vl_optim_moment(opt, 0), sizeof(float) * n);
    sum = wsum(sum, vl_optim_moment(opt, 1), sizeof(float) * n);
    if (hd->has_best)
        sum = wsum(sum, best, sizeof(float) * n);
    sum = wsum(sum, hist, sizeof *hist * (size_t)hd->nhistory);
    if (ok)
        ok = write_all(f, &sum, sizeof sum);
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        vl_status st = vl_seterr(VL_ERR_IO, "%s: cannot write the checkpoint: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return VL_OK;
}

static int read_all(FILE *f, void *p, size_t n) { return n == 0 || fread(p, 1, n, f) == n; }

/* Restores the state from a checkpoint. Returns VL_OK with *found = 0 if the
 * file does not exist. */
static vl_status ckpt_load(const char *path, uint64_t fp, ckpt_header *hd, vl_net *net, vl_optim *opt, float *best,
                           vl_progress_point **hist, int *found)
{
    *found = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return VL_OK;
        return vl_seterr(VL_ERR_IO, "%s: %s", path, strerror(errno));
    }
    size_t n = vl_net_nscalars(net);
    vl_status st = VL_OK;
    int whole = read_all(f, hd, sizeof *hd);
    if (whole && !memcmp(hd->magic, "VLCKPT01", 8)) {
        st = vl_seterr(VL_ERR_FORMAT, "%s: a checkpoint of an older vidlstm (format 1), which this one cannot "
                       "resume: delete it to start over", path);
    } else if (!whole || memcmp(hd->magic, CKPT_MAGIC, 8)) {
        st = vl_seterr(VL_ERR_FORMAT, "%s: not a vidlstm checkpoint (or truncated)", path);
    } else if (hd->fingerprint != fp || hd->nscalars != n) {
        st = vl_seterr(VL_ERR_ARG,
                       "%s: this checkpoint belongs to a run with other options, architecture or data; "
                       "resume with the same command line, or delete it to start over",
                       path);
    } else if (hd->nhistory < 0 || hd->nhistory > (1 << 28)) {
        st = vl_seterr(VL_ERR_FORMAT, "%s: corrupt checkpoint header", path);
    } else {
        vl_progress_point *h = malloc(sizeof *h * (size_t)(hd->nhistory + 1));
        float *params = malloc(sizeof(float) * n);
        uint64_t sum = 0, want = fnv(0xcbf29ce484222325ULL, hd, sizeof *hd);
        if (!h || !params) {
            st = vl_seterr(VL_ERR_NOMEM, "out of memory");
        } else if (!read_all(f, params, sizeof(float) * n) || !read_all(f, vl_optim_moment(opt, 0), sizeof(float) * n) ||
                   !read_all(f, vl_optim_moment(opt, 1), sizeof(float) * n) ||
                   (hd->has_best && !read_all(f, best, sizeof(float) * n)) ||
                   !read_all(f, h, sizeof *h * (size_t)hd->nhistory) || !read_all(f, &sum, sizeof sum)) {
            st = vl_seterr(VL_ERR_FORMAT, "%s: truncated checkpoint", path);
        } else {
            want = wsum(want, params, sizeof(float) * n);
            want = wsum(want, vl_optim_moment(opt, 0), sizeof(float) * n);
            want = wsum(want, vl_optim_moment(opt, 1), sizeof(float) * n);
            if (hd->has_best)
                want = wsum(want, best, sizeof(float) * n);
            want = wsum(want, h, sizeof *h * (size_t)hd->nhistory);
            if (sum != want)
                st = vl_seterr(VL_ERR_FORMAT, "%s: checkpoint checksum mismatch (corrupt file)", path);
        }
        if (!st) {
            memcpy(vl_net_params_block(net), params, sizeof(float) * n);
            memcpy(vl_net_rng(net)->s, hd->rng, sizeof hd->rng);
            vl_optim_set_step(opt, hd->optim_step);
            *hist = h;
            *found = 1;
        } else {
            free(h);
        }
        free(params);
    }
    fclose(f);
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
    h = fnv(h, base->s, sizeof base->s);
    h = fnv(h, &r, sizeof r);
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
    ckpt_header hd = {.fingerprint = fp, .nscalars = vl_net_nscalars(net), .best_val_loss = INFINITY,
                      .best_val_metric = NAN};
    memcpy(hd.magic, CKPT_MAGIC, 8);
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
