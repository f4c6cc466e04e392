/* Datasets and the training loop: loading manifests (and their errors),
 * grouped splits, batching, determinism and resuming, and learning quality on
 * tasks built so that only temporal structure carries the answer:
 *  (a) order task: every frame is one of three patterns, equally often in
 *      both classes; class "up" cycles 0->1->2, class "down" 0->2->1. An LSTM
 *      must reach >= 95% validation accuracy; mean pooling (bag of frames)
 *      must stay near chance;
 *  (b) per-frame task: sequences switch between up and down segments; a
 *      BiLSTM labels >= 95% of frames;
 *  (c) regression: the frequency of a noisy oscillation, R^2 >= 0.9. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "model/modelfile.h"
#include "train/dataset.h"
#include "nn/layers.h"
#include "train/trainer.h"
#include "vidlstm.h"

#include "seqdata.h"

static int *range(int n)
{
    int *v = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++)
        v[i] = i;
    return v;
}

static vl_train_opts default_opts(int epochs)
{
    vl_train_opts o = {.batch = 16, .epochs = epochs, .shuffle = VL_SHUFFLE_EVERY_EPOCH, .bucket = 1, .seed = 7};
    o.opt = (vl_optim_config){.kind = VL_OPT_ADAM, .lr = 0.01f, .clip = VL_CLIP_GLOBAL_L2NORM, .clip_threshold = 5.0f};
    return o;
}

static vl_net *make_net(const vl_dataset *d, vl_layer_kind kind, int hidden, int bi, vl_out_mode mode, vl_task task)
{
    vl_net_config cfg = {.input = d->D, .outputs = task == VL_TASK_CLASSIFY ? d->nclasses : 1, .mode = mode,
                         .task = task};
    if (kind == VL_LAYER_MEAN)
        cfg.layer[cfg.nlayers++] = (vl_layer_spec){.kind = VL_LAYER_MEAN};
    else
        vl_net_add_layer(&cfg, kind, hidden, bi);
    vl_net *net = NULL;
    if (vl_net_create(&cfg, 3, &net))
        fprintf(stderr, "create: %s\n", vl_errmsg());
    return net;
}

static void test_learning_order(void)
{
    make_order_set("order_train.csv", "otr", 240);
    make_order_set("order_val.csv", "ova", 80);
    char p[512], q[512];
    snprintf(p, sizeof p, "%s/order_train.csv", dir);
    snprintf(q, sizeof q, "%s/order_val.csv", dir);
    vl_dataset d, v;
    vl_dataset_opts o = {.task = VL_TASK_CLASSIFY, .mode = VL_OUT_LAST};
    CHECK(vl_dataset_load(p, &o, &d) == VL_OK, "load train: %s", vl_errmsg());
    CHECK(d.n == 240 && d.D == D && d.nclasses == 2 && !strcmp(d.classes[0], "down"), "train set shape");
    vl_dataset_opts vo = o;
    vo.classes = (const char *const *)d.classes;
    vo.nclasses = d.nclasses;
    CHECK(vl_dataset_load(q, &vo, &v) == VL_OK, "load val: %s", vl_errmsg());
    float mean[D], sd[D];
    int *ti = range(d.n), *vi = range(v.n);
    vl_dataset_stats(&d, ti, d.n, mean, sd);
    vl_dataset_normalize(&d, mean, sd);
    vl_dataset_normalize(&v, mean, sd);

    vl_net *lstm = make_net(&d, VL_LAYER_LSTM, 24, 0, VL_OUT_LAST, VL_TASK_CLASSIFY);
    vl_train_opts to = default_opts(25);
    vl_train_result r;
    CHECK(vl_train(lstm, &d, ti, d.n, &v, vi, v.n, &to, &r) == VL_OK, "train lstm: %s", vl_errmsg());
    float vl, acc;
    vl_evaluate_loss(lstm, &v, vi, v.n, 64, &vl, &acc);
    printf("order task: LSTM validation accuracy %.3f (loss %.3f), best at iteration %d of %d\n", acc, vl,
           r.best_iteration, r.iterations);
    CHECK(acc >= 0.95f, "LSTM reaches >= 95%% on the order task (got %.3f)", acc);
    CHECK(r.nhistory == r.iterations && r.iterations == 25 * 15, "history has one point per iteration (%d, %d)",
          r.nhistory, r.iterations);
    vl_train_result_free(&r);

    vl_net *bag = make_net(&d, VL_LAYER_MEAN, 0, 0, VL_OUT_LAST, VL_TASK_CLASSIFY);
    CHECK(vl_train(bag, &d, ti, d.n, &v, vi, v.n, &to, &r) == VL_OK, "train mean: %s", vl_errmsg());
    vl_evaluate_loss(bag, &v, vi, v.n, 64, &vl, &acc);
    printf("order task: bag-of-frames validation accuracy %.3f\n", acc);
    CHECK(acc <= 0.65f, "mean pooling stays near chance on the order task (got %.3f)", acc);
    vl_train_result_free(&r);
    vl_net_free(lstm);
    vl_net_free(bag);
    free(ti);
    free(vi);
    vl_dataset_free(&d);
    vl_dataset_free(&v);
}

/* (b) per-frame labels: segments of 10-25 frames switching direction. */
static void test_learning_frames(void)
{
    char path[512];
    make_frames_set("frames.csv", "fr", 160);
    snprintf(path, sizeof path, "%s/frames.csv", dir);
    vl_dataset d;
    vl_dataset_opts o = {.task = VL_TASK_CLASSIFY, .mode = VL_OUT_SEQUENCE};
    CHECK(vl_dataset_load(path, &o, &d) == VL_OK, "load frames: %s", vl_errmsg());
    uint8_t isv[160];
    CHECK(vl_dataset_split(&d, 0.25, 1, isv) == VL_OK, "split: %s", vl_errmsg());
    int ti[160], vi[160], nt = 0, nv = 0;
    for (int i = 0; i < d.n; i++) {
        if (isv[i])
            vi[nv++] = i;
        else
            ti[nt++] = i;
    }
    CHECK(nv == 40, "a quarter held out (%d)", nv);
    float mean[D], sd[D];
    vl_dataset_stats(&d, ti, nt, mean, sd);
    vl_dataset_normalize(&d, mean, sd);
    vl_net *net = make_net(&d, VL_LAYER_LSTM, 24, 1, VL_OUT_SEQUENCE, VL_TASK_CLASSIFY);
    vl_train_opts to = default_opts(30);
    vl_train_result r;
    CHECK(vl_train(net, &d, ti, nt, &d, vi, nv, &to, &r) == VL_OK, "train: %s", vl_errmsg());
    float vl, acc;
    vl_evaluate_loss(net, &d, vi, nv, 64, &vl, &acc);
    printf("per-frame task: BiLSTM frame accuracy %.4f\n", acc);
    CHECK(acc >= 0.95f, "per-frame accuracy >= 95%% (got %.4f)", acc);
    vl_train_result_free(&r);
    vl_net_free(net);
    vl_dataset_free(&d);
}

/* (c) regression: frequency of an oscillation. */
static void test_learning_regress(void)
{
    char path[512];
    make_regress_set("regress.csv", "rg", 300);
    snprintf(path, sizeof path, "%s/regress.csv", dir);
    vl_dataset d;
    vl_dataset_opts o = {.task = VL_TASK_REGRESS, .mode = VL_OUT_LAST};
    CHECK(vl_dataset_load(path, &o, &d) == VL_OK, "load regress: %s", vl_errmsg());
    int ti[300], vi[300], nt = 0, nv = 0;
    for (int i = 0; i < d.n; i++) {
        if (i % 5 == 0)
            vi[nv++] = i;
        else
            ti[nt++] = i;
    }
    vl_net *net = make_net(&d, VL_LAYER_LSTM, 32, 0, VL_OUT_LAST, VL_TASK_REGRESS);
    vl_train_opts to = default_opts(40);
    vl_train_result r;
    CHECK(vl_train(net, &d, ti, nt, &d, vi, nv, &to, &r) == VL_OK, "train: %s", vl_errmsg());
    float vloss, rmse;
    vl_evaluate_loss(net, &d, vi, nv, 64, &vloss, &rmse);
    double mu = 0, ss = 0;
    for (int i = 0; i < nv; i++)
        mu += d.items[vi[i]].target / nv;
    for (int i = 0; i < nv; i++)
        ss += (d.items[vi[i]].target - mu) * (d.items[vi[i]].target - mu);
    double r2 = 1.0 - (double)rmse * rmse * nv / ss;
    printf("regression task: validation RMSE %.4f, R^2 %.4f\n", rmse, r2);
    CHECK(r2 >= 0.9, "R^2 >= 0.9 (got %.4f)", r2);
    vl_train_result_free(&r);
    vl_net_free(net);
    vl_dataset_free(&d);
}

/* Resuming: an interrupted run continued from its checkpoint ends with the
 * same weights, bit for bit, as an uninterrupted one. */
static int stop_at;
static int stopper(void *user, const vl_train_event *e)
{
    (void)user;
    return e->iteration == stop_at;
}

static void test_resume(void)
{
    char p[512], ck[512];
    snprintf(p, sizeof p, "%s/order_train.csv", dir);
    snprintf(ck, sizeof ck, "%s/run.ckpt", dir);
    vl_dataset d;
    vl_dataset_opts o = {.task = VL_TASK_CLASSIFY, .mode = VL_OUT_LAST};
    CHECK(vl_dataset_load(p, &o, &d) == VL_OK, "load: %s", vl_errmsg());
    uint8_t *isv = calloc((size_t)d.n, 1);
    CHECK(vl_dataset_split(&d, 0.2, 5, isv) == VL_OK, "split: %s", vl_errmsg());
    /* grouped: the three clips of a source video are on one side */
    int straddle = 0;
    for (int i = 0; i + 2 < d.n; i += 3)
        straddle += !(isv[i] == isv[i + 1] && isv[i] == isv[i + 2]);
    CHECK(straddle == 0, "no source video straddles the split (%d do)", straddle);
    int ti[512], vi[512], nt = 0, nv = 0;
    for (int i = 0; i < d.n; i++) {
        if (isv[i])
            vi[nv++] = i;
        else
            ti[nt++] = i;
    }
    int nup = 0;
    for (int i = 0; i < nv; i++)
        nup += d.items[vi[i]].label == 1;
    CHECK(nup > nv / 3 && nup < 2 * nv / 3, "the split is stratified (%d of %d validation clips are 'up')", nup, nv);
    vl_train_opts to = default_opts(5);
    vl_net_config cfg = {.input = D, .outputs = 2, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&cfg, VL_LAYER_GRU, 12, 1);
    vl_net_add_dropout(&cfg, 0.3f);
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, 8, 0);
    vl_net *a, *b;
    vl_net_create(&cfg, 11, &a);
    vl_net_create(&cfg, 11, &b);
    vl_train_result ra, rb;
    to.val_every = 7;
    CHECK(vl_train(a, &d, ti, nt, &d, vi, nv, &to, &ra) == VL_OK, "uninterrupted: %s", vl_errmsg());
    /* interrupted mid-epoch 4 (12 iterations per epoch), then resumed */
    unlink(ck);
    to.checkpoint = ck;
    to.resume = 1;
    to.cb = stopper;
    stop_at = 3 * 12 + 5;
    CHECK(vl_train(b, &d, ti, nt, &d, vi, nv, &to, &rb) == VL_OK && rb.interrupted, "interrupted run");
    vl_train_result_free(&rb);
    vl_net_free(b);
    vl_net_create(&cfg, 99, &b); /* different init: everything must come from the checkpoint */
    stop_at = -1;
    CHECK(vl_train(b, &d, ti, nt, &d, vi, nv, &to, &rb) == VL_OK && !rb.interrupted, "resumed: %s", vl_errmsg());
    size_t n = vl_net_param_count(a);
    int same = 1;
    for (int i = 0; i < vl_net_num_params(a); i++) {
        vl_param pa, pb;
        vl_net_param(a, i, &pa);
        vl_net_param(b, i, &pb);
        same &= !memcmp(pa.data, pb.data, sizeof(float) * pa.count);
    }
    CHECK(same, "resumed run ends with bit-identical weights (%zu parameters)", n);
    CHECK(rb.nhistory == ra.nhistory && rb.best_iteration == ra.best_iteration &&
              rb.best_val_loss == ra.best_val_loss,
          "and the same history (%d/%d points) and best iteration (%d/%d)", rb.nhistory, ra.nhistory,
          rb.best_iteration, ra.best_iteration);
    /* a checkpoint from other settings is refused */
    vl_train_result_free(&rb);
    to.batch = 8;
    CHECK(vl_train(b, &d, ti, nt, &d, vi, nv, &to, &rb) == VL_ERR_ARG && strstr(vl_errmsg(), "other options"),
          "mismatched checkpoint refused: %s", vl_errmsg());
    /* patience stops early and keeps the best weights */
    vl_train_opts po = default_opts(200);
    po.patience = 2;
    po.opt.lr = 0.05f;
    vl_train_result rp;
    vl_net *c;
    vl_net_create(&cfg, 12, &c);
    CHECK(vl_train(c, &d, ti, nt, &d, vi, nv, &po, &rp) == VL_OK && rp.stopped_early && rp.epochs_done < 200,
          "patience stops early (after %d epochs)", rp.epochs_done);
    float vloss, vacc;
    vl_evaluate_loss(c, &d, vi, nv, 64, &vloss, &vacc);
    CHECK(fabsf(vloss - rp.best_val_loss) <= 1e-6f * (1 + fabsf(vloss)), "kept the best network (%g vs %g)", vloss,
          rp.best_val_loss);
    vl_train_result_free(&rp);
    vl_net_free(c);
    vl_train_result_free(&ra);
    vl_train_result_free(&rb);
    vl_net_free(a);
    vl_net_free(b);
    free(isv);
    vl_dataset_free(&d);
}

/* Diverging training stops with VL_ERR_NUMERIC and leaves the last
 * checkpoint as it was. */
static void test_diverge(void)
{
    char p[512], ck[512];
    snprintf(p, sizeof p, "%s/regress.csv", dir);
    snprintf(ck, sizeof ck, "%s/div.ckpt", dir);
    vl_dataset d;
    vl_dataset_opts o = {.task = VL_TASK_REGRESS, .mode = VL_OUT_LAST};
    CHECK(vl_dataset_load(p, &o, &d) == VL_OK, "load: %s", vl_errmsg());
    int ti[512];
    for (int i = 0; i < d.n; i++)
        ti[i] = i;
    vl_net *net = make_net(&d, VL_LAYER_LSTM, 8, 0, VL_OUT_LAST, VL_TASK_REGRESS);
    vl_train_opts to = default_opts(3);
    to.checkpoint = ck;
    unlink(ck);
    to.opt.clip = VL_CLIP_NONE;
    to.opt.kind = VL_OPT_SGDM;
    to.opt.lr = 1e10f; /* the squared error overflows within a few steps */
    vl_train_result r;
    vl_status st = vl_train(net, &d, ti, d.n, NULL, NULL, 0, &to, &r);
    CHECK(st == VL_ERR_NUMERIC && strstr(vl_errmsg(), "diverged at epoch 1"), "divergence reported: %s",
          vl_errmsg());
    CHECK(access(ck, F_OK) != 0, "no checkpoint written from a diverged first epoch");
    vl_net_free(net);
    vl_dataset_free(&d);
}

static void expect_load_error(const char *manifest_text, vl_out_mode mode, const char *want, const char *what)
{
    char p[512];
    snprintf(p, sizeof p, "%s/bad.csv", dir);
    write_text(p, manifest_text);
    vl_dataset d;
    vl_dataset_opts o = {.task = VL_TASK_CLASSIFY, .mode = mode};
    vl_status st = vl_dataset_load(p, &o, &d);
    CHECK(st != VL_OK && strstr(vl_errmsg(), want), "%s: error mentions '%s' (got: %s)", what, want, vl_errmsg());
    if (!st)
        vl_dataset_free(&d);
}

static void test_bad_input(void)
{
    float x[4 * 3] = {0};
    write_feats("w3.npy", 4, 3, x);
    float y[4 * 5] = {0};
    write_feats("w5.npy", 4, 5, y);
    x[5] = NAN;
    write_feats("nan.npy", 4, 3, x);
    x[5] = 0;
    expect_load_error("w3.npy,a\nw5.npy,b\n", VL_OUT_LAST, "feature width 5 differs from 3", "inconsistent widths");
    expect_load_error("w3.npy,a\nnan.npy,b\n", VL_OUT_LAST, "is NaN", "NaN feature");
    expect_load_error("# nothing\n", VL_OUT_LAST, "empty dataset", "empty manifest");
    expect_load_error("w3.npy,a\nw3.npy,a\n", VL_OUT_LAST, "at least two classes", "one class");
    expect_load_error("missing.npy,a\nw3.npy,b\n", VL_OUT_LAST, "missing.npy", "missing feature file");
    expect_load_error("w3.npy\n", VL_OUT_LAST, "bad.csv:1", "no label column");
    char lp[512];
    snprintf(lp, sizeof lp, "%s/short.csv", dir);
    write_text(lp, "a\nb\na\n");
    expect_load_error("w3.npy,short.csv\n", VL_OUT_SEQUENCE, "no label for frame 3", "too few frame labels");
    snprintf(lp, sizeof lp, "%s/long.csv", dir);
    write_text(lp, "a\nb\na\nb\na\n");
    expect_load_error("w3.npy,long.csv\n", VL_OUT_SEQUENCE, "more label rows", "too many frame labels");
    /* unknown label in validation data */
    char p[512];
    snprintf(p, sizeof p, "%s/val_unknown.csv", dir);
    write_text(p, "w3.npy,a\nw3.npy,zebra\n");
    const char *cls[] = {"a", "b"};
    vl_dataset d;
    vl_dataset_opts o = {.task = VL_TASK_CLASSIFY, .mode = VL_OUT_LAST, .classes = cls, .nclasses = 2};
    CHECK(vl_dataset_load(p, &o, &d) == VL_ERR_ARG && strstr(vl_errmsg(), "val_unknown.csv:2") &&
              strstr(vl_errmsg(), "zebra"),
          "unknown validation label: %s", vl_errmsg());
    /* width fixed by the model */
    o.dim = 5;
    snprintf(p, sizeof p, "%s/val_w.csv", dir);
    write_text(p, "w3.npy,a\n");
    CHECK(vl_dataset_load(p, &o, &d) == VL_ERR_SHAPE, "model width enforced: %s", vl_errmsg());
    /* a split without two groups in any class */
    snprintf(p, sizeof p, "%s/onegroup.csv", dir);
    write_text(p, "path,label,group\nw3.npy,a,g1\nw3.npy,b,g2\n");
    vl_dataset_opts oo = {.task = VL_TASK_CLASSIFY, .mode = VL_OUT_LAST};
    CHECK(vl_dataset_load(p, &oo, &d) == VL_OK, "load: %s", vl_errmsg());
    uint8_t isv[2];
    CHECK(vl_dataset_split(&d, 0.2, 1, isv) == VL_ERR_ARG && strstr(vl_errmsg(), "two or more source videos"),
          "impossible split explained: %s", vl_errmsg());
    vl_dataset_free(&d);
}

/* ---- review findings -------------------------------------------------------------- */

static int same_params(vl_net *a, vl_net *b)
{
    int same = 1;
    for (int i = 0; i < vl_net_num_params(a); i++) {
        vl_param pa, pb;
        vl_net_param(a, i, &pa);
        vl_net_param(b, i, &pb);
        same &= !memcmp(pa.data, pb.data, sizeof(float) * pa.count);
    }
    return same;
}

/* Resuming is bit-exact in more configurations than test_resume's: each
 * shuffle mode, bucketing off, schedules, every optimiser, 'shortest', a
 * sequence model with validation every few iterations and patience. */
static void test_resume_matrix(void)
{
    char p[512], pf[512], ck[512];
    snprintf(p, sizeof p, "%s/order_train.csv", dir);
    snprintf(pf, sizeof pf, "%s/frames.csv", dir);
    snprintf(ck, sizeof ck, "%s/matrix.ckpt", dir);
    vl_dataset dc, ds;
    vl_dataset_opts oc = {.task = VL_TASK_CLASSIFY, .mode = VL_OUT_LAST};
    vl_dataset_opts os = {.task = VL_TASK_CLASSIFY, .mode = VL_OUT_SEQUENCE};
    CHECK(vl_dataset_load(p, &oc, &dc) == VL_OK, "load: %s", vl_errmsg());
    CHECK(vl_dataset_load(pf, &os, &ds) == VL_OK, "load: %s", vl_errmsg());
    int ti[40], vi[12];
    for (int i = 0; i < 40; i++)
        ti[i] = i;
    for (int i = 0; i < 12; i++)
        vi[i] = 40 + i;
    for (int k = 0; k < 5; k++) {
        const vl_dataset *d = k == 4 ? &ds : &dc;
        vl_train_opts to = default_opts(3);
        to.batch = 8; /* 5 iterations per epoch */
        switch (k) {
        case 0:
            to.shuffle = VL_SHUFFLE_ONCE;
            to.opt.sched = VL_SCHED_PIECEWISE;
            to.opt.drop_period = 1;
            to.opt.drop_factor = 0.5f;
            break;
        case 1:
            to.shuffle = VL_SHUFFLE_NEVER;
            to.bucket = 0;
            to.opt.kind = VL_OPT_SGDM;
            to.opt.sched = VL_SCHED_COSINE;
            to.opt.total_epochs = 3;
            break;
        case 2:
            to.opt.kind = VL_OPT_RMSPROP;
            to.opt.lr = 0.003f;
            to.opt.clip = VL_CLIP_L2NORM;
            to.opt.clip_threshold = 0.5f;
            to.seqlen = VL_SEQLEN_SHORTEST;
            break;
        case 3:
            to.opt.clip = VL_CLIP_ABSVALUE;
            to.opt.clip_threshold = 0.05f;
            to.opt.weight_decay = 1e-3f;
            to.keep_last = 1;
            break;
        case 4:
            to.val_every = 3;
            to.patience = 3;
            break;
        }
        vl_net_config cfg = {.input = D, .outputs = 2, .mode = d->mode, .task = VL_TASK_CLASSIFY};
        vl_net_add_layer(&cfg, VL_LAYER_LSTM, 6, 1);
        vl_net_add_dropout(&cfg, 0.25f);
        vl_net_add_layer(&cfg, VL_LAYER_GRU, 5, 0);
        vl_net *a, *b;
        vl_net_create(&cfg, 4, &a);
        vl_net_create(&cfg, 4, &b);
        vl_train_result ra, rb;
        CHECK(vl_train(a, d, ti, 40, d, vi, 12, &to, &ra) == VL_OK, "config %d uninterrupted: %s", k, vl_errmsg());
        unlink(ck);
        to.checkpoint = ck;
        to.resume = 1;
        to.cb = stopper;
        stop_at = 5 + 3; /* mid-epoch 2 */
        CHECK(vl_train(b, d, ti, 40, d, vi, 12, &to, &rb) == VL_OK && rb.interrupted, "config %d interrupted", k);
        vl_train_result_free(&rb);
        vl_net_free(b);
        vl_net_create(&cfg, 77, &b);
        stop_at = -1;
        CHECK(vl_train(b, d, ti, 40, d, vi, 12, &to, &rb) == VL_OK, "config %d resumed: %s", k, vl_errmsg());
        CHECK(same_params(a, b), "config %d: resumed run ends with bit-identical weights", k);
        int hist_same = rb.nhistory == ra.nhistory;
        for (int i = 0; hist_same && i < ra.nhistory; i++)
            hist_same = ra.history[i].loss == rb.history[i].loss && ra.history[i].lr == rb.history[i].lr;
        CHECK(hist_same && rb.best_iteration == ra.best_iteration,
              "config %d: the same history (%d/%d points) and best iteration (%d/%d)", k, rb.nhistory, ra.nhistory,
              rb.best_iteration, ra.best_iteration);
        vl_train_result_free(&ra);
        vl_train_result_free(&rb);
        vl_net_free(a);
        vl_net_free(b);
    }
    unlink(ck);
    vl_dataset_free(&dc);
    vl_dataset_free(&ds);
}

/* A header may name the columns in any order (docs/train.md): a header that
 * does not start with `path` was read as a data row. */
static void test_header_any_order(void)
{
    float x[4 * 3] = {0};
    write_feats("h3.npy", 4, 3, x);
    char p[512];
    snprintf(p, sizeof p, "%s/swapped.csv", dir);
    write_text(p, "label,group,path\na,g1,h3.npy\nb,g2,h3.npy\nb,g2,h3.npy\n");
    vl_dataset d;
    vl_dataset_opts o = {.task = VL_TASK_CLASSIFY, .mode = VL_OUT_LAST};
    vl_status st = vl_dataset_load(p, &o, &d);
    CHECK(st == VL_OK, "header label,group,path: %s", vl_errmsg());
    if (st)
        return;
    CHECK(d.n == 3 && d.nclasses == 2 && d.items[0].label == 0 && d.items[1].label == 1 &&
              !strcmp(d.items[2].group, "g2") && strstr(d.items[0].path, "h3.npy"),
          "columns taken from the header (%d items, %d classes)", d.n, d.nclasses);
    vl_dataset_free(&d);
}

/* A batch whose every step has class weight 0 has no loss, not a NaN one
 * (0/0 stopped training as "diverged"). */
static void test_zero_weight_batch(void)
{
    float z[4] = {0.3f, -0.2f, 1.0f, 0.5f}, dz[4] = {1, 1, 1, 1}, w[2] = {0.0f, 1.0f};
    int32_t y[2] = {0, 0};
    float l = vl_softmax_xent(2, 2, z, y, w, dz);
    CHECK(l == 0.0f && dz[0] == 0.0f && dz[1] == 0.0f && dz[2] == 0.0f && dz[3] == 0.0f,
          "all-zero-weight batch: loss %g, gradients %g %g %g %g", l, dz[0], dz[1], dz[2], dz[3]);
    char p[512];
    snprintf(p, sizeof p, "%s/order_train.csv", dir);
    vl_dataset d;
    vl_dataset_opts o = {.task = VL_TASK_CLASSIFY, .mode = VL_OUT_LAST};
    CHECK(vl_dataset_load(p, &o, &d) == VL_OK, "load: %s", vl_errmsg());
    vl_net_config cfg = {.input = D, .outputs = 2, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY, .class_weights = w};
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, 4, 0);
    vl_net *net;
    vl_net_create(&cfg, 1, &net);
    vl_train_opts to = default_opts(1);
    to.batch = 1; /* single-clip batches: those of class 0 weigh nothing */
    int ti[24];
    for (int i = 0; i < 24; i++)
        ti[i] = i;
    vl_train_result r;
    CHECK(vl_train(net, &d, ti, 24, NULL, NULL, 0, &to, &r) == VL_OK, "zero class weight trains: %s", vl_errmsg());
    vl_train_result_free(&r);
    vl_net_free(net);
    vl_dataset_free(&d);
}

/* A checkpoint whose optimiser moments, best weights or history are damaged
 * is refused (the checksum covered only the header and the weights, so such
 * a file resumed silently with wrong state). */
static void test_ckpt_corrupt(void)
{
    char p[512], ck[512];
    snprintf(p, sizeof p, "%s/order_train.csv", dir);
    snprintf(ck, sizeof ck, "%s/corrupt.ckpt", dir);
    vl_dataset d;
    vl_dataset_opts o = {.task = VL_TASK_CLASSIFY, .mode = VL_OUT_LAST};
    CHECK(vl_dataset_load(p, &o, &d) == VL_OK, "load: %s", vl_errmsg());
    int ti[32], vi[8];
    for (int i = 0; i < 32; i++)
        ti[i] = i;
    for (int i = 0; i < 8; i++)
        vi[i] = 32 + i;
    vl_net *net = make_net(&d, VL_LAYER_LSTM, 4, 0, VL_OUT_LAST, VL_TASK_CLASSIFY);
    size_t n = vl_net_param_count(net);
    vl_train_opts to = default_opts(3);
    to.batch = 8;
    to.checkpoint = ck;
    to.resume = 1;
    to.cb = stopper;
    stop_at = 6; /* mid-epoch 2: the checkpoint of epoch 1 is there */
    unlink(ck);
    vl_train_result r;
    CHECK(vl_train(net, &d, ti, 32, &d, vi, 8, &to, &r) == VL_OK && r.interrupted, "interrupted: %s", vl_errmsg());
    vl_train_result_free(&r);
    stop_at = -1;
    /* another cosine floor is another run */
    to.opt.min_lr = 1e-4f;
    CHECK(vl_train(net, &d, ti, 32, &d, vi, 8, &to, &r) == VL_ERR_ARG && strstr(vl_errmsg(), "other options"),
          "a checkpoint from a run with another --min-lr is refused: %s", vl_errmsg());
    to.opt.min_lr = 0.0f;
    FILE *f = fopen(ck, "rb");
    CHECK(f != NULL, "checkpoint written");
    if (!f) {
        vl_net_free(net);
        vl_dataset_free(&d);
        return;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    unsigned char *buf = malloc((size_t)len);
    fseek(f, 0, SEEK_SET);
    CHECK(fread(buf, 1, (size_t)len, f) == (size_t)len, "read back");
    fclose(f);
    /* a safetensors file: a model file with the training state beside it */
    vl_st_file sf;
    long spots[4] = {0};
    const char *what[4] = {"ckpt.optim.m0", "ckpt.best", "ckpt.history.loss", "weight_ih_l0"};
    CHECK(vl_st_read(ck, &sf) == VL_OK, "the checkpoint is a safetensors file: %s", vl_errmsg());
    if (!sf.buf) {
        free(buf);
        vl_net_free(net);
        vl_dataset_free(&d);
        return;
    }
    CHECK(vl_st_meta(&sf, "checkpoint_format") && !strcmp(vl_st_meta(&sf, "checkpoint_format"), "3") &&
              vl_st_meta(&sf, "data_checksum"),
          "format 3 with a data checksum");
    for (int k = 0; k < 4; k++) {
        const vl_st_tensor *t = vl_st_find(&sf, what[k]);
        CHECK(t && t->nbytes >= 4, "tensor %s", what[k]);
        spots[k] = t ? (long)((const unsigned char *)t->data - sf.buf) + 2 : 0;
    }
    const vl_st_tensor *m0 = vl_st_find(&sf, "ckpt.optim.m0");
    CHECK(m0 && (size_t)m0->count >= n && vl_st_find(&sf, "ckpt.history.iteration"), "moments of all %zu parameters (and the zero alignment padding)", n);
    vl_st_free(&sf);
    /* it also opens as a model file: the weights of the last finished epoch */
    vl_net *as_model = NULL;
    CHECK(vl_model_load_ex(ck, "ckpt.", &as_model, NULL, NULL) == VL_OK, "loads as a model: %s", vl_errmsg());
    vl_net_free(as_model);
    /* damage anywhere in the tensor data: moments, best weights, history, weights */
    for (int k = 0; k < 4; k++) {
        unsigned char *b2 = malloc((size_t)len);
        memcpy(b2, buf, (size_t)len);
        b2[spots[k]] ^= 0x40;
        FILE *g = fopen(ck, "wb");
        fwrite(b2, 1, (size_t)len, g);
        fclose(g);
        free(b2);
        vl_status st = vl_train(net, &d, ti, 32, &d, vi, 8, &to, &r);
        CHECK(st == VL_ERR_FORMAT && strstr(vl_errmsg(), "corrupt"), "damage at byte %ld of %ld refused: %s",
              spots[k], len, st ? vl_errmsg() : "resumed");
        if (!st)
            vl_train_result_free(&r);
    }
    free(buf);
    unlink(ck);
    vl_net_free(net);
    vl_dataset_free(&d);
}

/* Per-frame label files of feature manifests: the header names people use,
 * in either order; an unknown header is one error listing what is accepted. */
static void test_frame_label_headers(void)
{
    float x[4 * 3] = {0};
    write_feats("fh.npy", 4, 3, x);
    static const char *const fnames[] = {"frame", "Frame_Index", "frame_idx", "frame_id", "INDEX",
                                         "idx", "frame_number", "frameno"};
    static const char *const lnames[] = {"label", "class", "action", "Activity", "label_name", "class_name"};
    char lp[512], mp[512], text[256];
    int k = 0;
    for (size_t f = 0; f < sizeof fnames / sizeof *fnames; f++)
        for (size_t l = 0; l < sizeof lnames / sizeof *lnames; l++, k++) {
            snprintf(lp, sizeof lp, "%s/fh%d.csv", dir, k);
            if (k % 2) /* label column first */
                snprintf(text, sizeof text, "%s,%s\nb,3\na,0\nb,1\na,2\n", lnames[l], fnames[f]);
            else
                snprintf(text, sizeof text, "%s,%s\n3,b\n0,a\n1,b\n2,a\n", fnames[f], lnames[l]);
            write_text(lp, text);
            snprintf(mp, sizeof mp, "%s/fhm%d.csv", dir, k);
            snprintf(text, sizeof text, "fh.npy,fh%d.csv\n", k);
            write_text(mp, text);
            vl_dataset d;
            vl_dataset_opts o = {.task = VL_TASK_CLASSIFY, .mode = VL_OUT_SEQUENCE};
            vl_status st = vl_dataset_load(mp, &o, &d);
            CHECK(st == VL_OK, "header %s/%s: %s", fnames[f], lnames[l], vl_errmsg());
            if (st)
                continue;
            const int32_t *y = d.items[0].frame_labels;
            CHECK(d.nclasses == 2 && y[0] == 0 && y[1] == 1 && y[2] == 0 && y[3] == 1, "header %s/%s: %d %d %d %d",
                  fnames[f], lnames[l], y[0], y[1], y[2], y[3]);
            vl_dataset_free(&d);
        }
    /* one column with a label-like header */
    snprintf(lp, sizeof lp, "%s/fh_one.csv", dir);
    write_text(lp, "Action\na\nb\na\nb\n");
    snprintf(mp, sizeof mp, "%s/fhm_one.csv", dir);
    write_text(mp, "fh.npy,fh_one.csv\n");
    vl_dataset d;
    vl_dataset_opts o = {.task = VL_TASK_CLASSIFY, .mode = VL_OUT_SEQUENCE};
    CHECK(vl_dataset_load(mp, &o, &d) == VL_OK && d.items[0].frame_labels[1] == 1, "one column 'Action': %s",
          vl_errmsg());
    vl_dataset_free(&d);
    /* regression: value/target as the value column, in either order */
    snprintf(lp, sizeof lp, "%s/fh_reg.csv", dir);
    write_text(lp, "target,frame\n0.5,1\n1.5,0\n2.5,3\n3.5,2\n");
    snprintf(mp, sizeof mp, "%s/fhm_reg.csv", dir);
    write_text(mp, "fh.npy,fh_reg.csv\n");
    vl_dataset_opts ro = {.task = VL_TASK_REGRESS, .mode = VL_OUT_SEQUENCE};
    vl_status st = vl_dataset_load(mp, &ro, &d);
    CHECK(st == VL_OK && d.items[0].frame_targets[0] == 1.5f && d.items[0].frame_targets[3] == 2.5f,
          "regression target,frame: %s", vl_errmsg());
    if (!st)
        vl_dataset_free(&d);
    /* unknown headers: one error naming the file and listing the names */
    snprintf(lp, sizeof lp, "%s/fh_bad.csv", dir);
    write_text(lp, "time,label\n0,a\n1,b\n2,a\n3,b\n");
    snprintf(mp, sizeof mp, "%s/fhm_bad.csv", dir);
    write_text(mp, "fh.npy,fh_bad.csv\n");
    st = vl_dataset_load(mp, &o, &d);
    CHECK(st == VL_ERR_FORMAT && strstr(vl_errmsg(), "fh_bad.csv:1") && strstr(vl_errmsg(), "'time,label'") &&
              strstr(vl_errmsg(), "frame_number") && strstr(vl_errmsg(), "class_name"),
          "unknown header: %d %s", st, vl_errmsg());
    if (!st)
        vl_dataset_free(&d);
    /* value/target name a class column only for regression */
    write_text(lp, "frame,target\n0,a\n1,b\n2,a\n3,b\n");
    st = vl_dataset_load(mp, &o, &d);
    CHECK(st == VL_ERR_FORMAT && strstr(vl_errmsg(), "unrecognised header"), "frame,target for classes: %s",
          vl_errmsg());
    if (!st)
        vl_dataset_free(&d);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/vl_test_train_%ld", (long)getpid());
    mkdir(dir, 0755);
    vl_rng_seed(&rng, 2024);
    vl_set_threads(getenv("VL_THREADS") ? atoi(getenv("VL_THREADS")) : 2);
    test_bad_input();
    test_learning_order();
    test_learning_frames();
    test_learning_regress();
    test_resume();
    test_diverge();
    test_resume_matrix();
    test_header_any_order();
    test_frame_label_headers();
    test_zero_weight_batch();
    test_ckpt_corrupt();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
