/* Data-parallel training (issue 14): run under `mpirun -np N` (N = 1, 2, 3;
 * tests/CMakeLists.txt) in an MPI build. Every rank trains the same network
 * data-parallel (vl_train with .dist = 1) and, on its own, the reference: one
 * process over the same global batches (.dist = 0, the single-process trainer
 * that test_train/torch_train_step check against PyTorch). Checks:
 *  - weights after training agree with the reference to float rounding
 *    (relative 1e-3; measured <= 6e-5 with 3 ranks), and the per-iteration losses and validation losses;
 *  - the weights are bit-identical on every rank;
 * on configurations built to break a wrong implementation: class weights
 * that differ per class and batches that split unevenly over the ranks (a
 * loss normalised per rank instead of by the global batch's weight sum gives
 * other gradients), a global-norm clip threshold that every step hits (a
 * clip of the per-rank gradient before the sum gives other weights),
 * 'shortest' sequence length (each part must be cut to the global batch's
 * shortest sequence), a last batch with fewer items than ranks (a rank with
 * nothing to do), per-frame regression with per-tensor clipping and SGDM,
 * and split validation;
 *  - ranks that disagree on the data fail together with a clear error
 *    instead of hanging. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "dist/dist.h"
#include "train/dataset.h"
#include "train/trainer.h"
#include "vidlstm.h"

enum { DIM = 5 };

/* n sequences of 3..14 steps; classify: 3 classes that depend on the
 * sequence's drift; regress: per-frame targets = running mean of dim 0. */
static void make_set(vl_dataset *d, int n, vl_task task, vl_out_mode mode, uint64_t seed)
{
    static const char *cls[3] = {"a", "b", "c"};
    vl_rng r;
    vl_rng_seed(&r, seed);
    *d = (vl_dataset){.source = "synthetic", .D = DIM, .task = task, .mode = mode, .n = n, .cap = n,
                      .nclasses = task == VL_TASK_CLASSIFY ? 3 : 0, .classes = (char **)cls};
    d->items = calloc((size_t)n, sizeof *d->items);
    for (int i = 0; i < n; i++) {
        vl_seq *s = &d->items[i];
        s->T = 3 + (int)vl_rng_below(&r, 12);
        s->path = malloc(32);
        snprintf(s->path, 32, "seq%03d.npy", i);
        s->x = malloc(sizeof(float) * (size_t)s->T * DIM);
        s->label = (int32_t)vl_rng_below(&r, 3);
        double acc = 0;
        if (mode == VL_OUT_SEQUENCE)
            s->frame_targets = malloc(sizeof(float) * (size_t)s->T);
        for (int t = 0; t < s->T; t++) {
            for (int k = 0; k < DIM; k++)
                s->x[t * DIM + k] = (float)vl_rng_normal(&r) + (k == 0 ? 0.3f * (float)(s->label - 1) * t : 0.0f);
            acc += s->x[t * DIM];
            if (mode == VL_OUT_SEQUENCE)
                s->frame_targets[t] = (float)(acc / (t + 1));
        }
        s->target = (float)acc;
    }
}

static void free_set(vl_dataset *d)
{
    for (int i = 0; i < d->n; i++) {
        free(d->items[i].path);
        free(d->items[i].x);
        free(d->items[i].frame_targets);
    }
    free(d->items);
}

static void params_of(vl_net *net, float **out, size_t *n)
{
    size_t tot = 0;
    for (int i = 0; i < vl_net_num_params(net); i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        tot += p.count;
    }
    float *v = malloc(sizeof(float) * tot);
    size_t k = 0;
    for (int i = 0; i < vl_net_num_params(net); i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        memcpy(v + k, p.data, sizeof(float) * p.count);
        k += p.count;
    }
    *out = v;
    *n = tot;
}

static uint64_t hash_floats(const float *v, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const unsigned char *c = (const unsigned char *)v;
    for (size_t i = 0; i < n * sizeof(float); i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

typedef struct {
    const char *name;
    vl_task task;
    vl_out_mode mode;
    vl_layer_kind kind;
    int hidden, bi, batch, epochs, nitems, nval;
    vl_seqlen seqlen;
    vl_optim_config opt;
    int weighted;
} config;

static void run(const config *c)
{
    const int R = vl_dist_rank(), P = vl_dist_size();
    vl_dataset d;
    make_set(&d, c->nitems + c->nval, c->task, c->mode, 1234);
    static float cw[3] = {0.5f, 2.0f, 1.25f};
    vl_net_config cfg = {.input = DIM, .outputs = c->task == VL_TASK_CLASSIFY ? 3 : 1, .mode = c->mode,
                         .task = c->task, .class_weights = c->weighted ? cw : NULL};
    vl_net_add_layer(&cfg, c->kind, c->hidden, c->bi);
    int *tr = malloc(sizeof(int) * (size_t)c->nitems), *va = malloc(sizeof(int) * (size_t)(c->nval + 1));
    for (int i = 0; i < c->nitems; i++)
        tr[i] = i;
    for (int i = 0; i < c->nval; i++)
        va[i] = c->nitems + i;
    vl_train_opts o = {.batch = c->batch, .epochs = c->epochs, .shuffle = VL_SHUFFLE_EVERY_EPOCH, .bucket = 0,
                       .seqlen = c->seqlen, .seed = 5, .opt = c->opt, .keep_last = 1};
    vl_net *a = NULL, *b = NULL;
    CHECK(vl_net_create(&cfg, 11, &a) == VL_OK && vl_net_create(&cfg, 11, &b) == VL_OK, "%s: create: %s", c->name,
          vl_errmsg());
    vl_train_result ra = {0}, rb = {0};
    o.dist = 1;
    vl_status sa = vl_train(a, &d, tr, c->nitems, &d, va, c->nval, &o, &ra);
    CHECK(sa == VL_OK, "%s: data-parallel training: %s", c->name, vl_errmsg());
    o.dist = 0;
    vl_status sb = vl_train(b, &d, tr, c->nitems, &d, va, c->nval, &o, &rb);
    CHECK(sb == VL_OK, "%s: reference training: %s", c->name, vl_errmsg());
    if (!sa && !sb) {
        float *pa, *pb;
        size_t na, nb;
        params_of(a, &pa, &na);
        params_of(b, &pb, &nb);
        double e = rel_err(pa, pb, na);
        double moved = 0; /* the weights did change: the test is not comparing two initialisations */
        vl_net *init = NULL;
        vl_net_create(&cfg, 11, &init);
        float *p0;
        size_t n0;
        params_of(init, &p0, &n0);
        moved = rel_err(pb, p0, nb);
        if (R == 0)
            printf("%s: %d ranks, %d iterations: weights differ from one process by %.3g (relative), "
                   "training moved them by %.3g\n",
                   c->name, P, rb.iterations, e, moved);
        CHECK(e < 1e-3, "%s: %d ranks vs one process: weights differ by %.3g (relative)", c->name, P, e);
        CHECK(moved > 1e-2, "%s: training moved the weights by %.3g only", c->name, moved);
        CHECK(ra.nhistory == rb.nhistory, "%s: %d vs %d history points", c->name, ra.nhistory, rb.nhistory);
        for (int i = 0; i < ra.nhistory && i < rb.nhistory; i++) {
            CHECK(fabsf(ra.history[i].loss - rb.history[i].loss) <= 1e-3f * (1 + fabsf(rb.history[i].loss)),
                  "%s: iteration %d loss %.7g vs %.7g", c->name, i + 1, ra.history[i].loss, rb.history[i].loss);
            CHECK(fabsf(ra.history[i].metric - rb.history[i].metric) <= 1e-3f * (1 + fabsf(rb.history[i].metric)),
                  "%s: iteration %d metric %.7g vs %.7g", c->name, i + 1, ra.history[i].metric,
                  rb.history[i].metric);
            if (!isnan(rb.history[i].val_loss))
                CHECK(fabsf(ra.history[i].val_loss - rb.history[i].val_loss) <=
                          1e-3f * (1 + fabsf(rb.history[i].val_loss)),
                      "%s: iteration %d validation loss %.7g vs %.7g", c->name, i + 1, ra.history[i].val_loss,
                      rb.history[i].val_loss);
            else
                CHECK(isnan(ra.history[i].val_loss), "%s: validation at iteration %d only data-parallel", c->name,
                      i + 1);
        }
        int same = 0;
        CHECK(vl_dist_same_u64(hash_floats(pa, na), &same) == VL_OK && same,
              "%s: the ranks' weights are not bit-identical", c->name);
        free(pa);
        free(pb);
        free(p0);
        vl_net_free(init);
    }
    vl_train_result_free(&ra);
    vl_train_result_free(&rb);
    vl_net_free(a);
    vl_net_free(b);
    free(tr);
    free(va);
    free_set(&d);
}

/* Rank 1 (or the last) passes other data: every rank must fail, none hang. */
static void test_disagree(void)
{
    const int R = vl_dist_rank(), P = vl_dist_size();
    if (P < 2)
        return;
    vl_dataset d;
    make_set(&d, 20, VL_TASK_CLASSIFY, VL_OUT_LAST, 99);
    vl_net_config cfg = {.input = DIM, .outputs = 3, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, 4, 0);
    vl_net *a = NULL;
    vl_net_create(&cfg, 1, &a);
    int tr[20];
    for (int i = 0; i < 20; i++)
        tr[i] = i;
    vl_train_opts o = {.batch = 4, .epochs = 1, .seed = 5, .dist = 1,
                       .opt = {.kind = VL_OPT_ADAM, .lr = 0.01f}};
    vl_train_result r = {0};
    vl_status st = vl_train(a, &d, tr, R == P - 1 ? 19 : 20, &d, NULL, 0, &o, &r);
    CHECK(st == VL_ERR_ARG && strstr(vl_errmsg(), "do not agree"), "rank %d: mismatched data: status %d (%s)", R,
          (int)st, vl_errmsg());
    vl_train_result_free(&r);
    vl_net_free(a);
    free_set(&d);
}

int main(void)
{
    if (vl_dist_init()) {
        fprintf(stderr, "%s\n", vl_errmsg());
        return 1;
    }
    vl_set_threads(1);
    const config cfgs[] = {
        /* 23 items in batches of 7: 7,7,7,2 (the last has fewer items than 3 ranks) */
        {"classify/last, class weights, global-norm clip, shortest", VL_TASK_CLASSIFY, VL_OUT_LAST, VL_LAYER_LSTM, 8,
         0, 7, 2, 23, 0, VL_SEQLEN_SHORTEST,
         {.kind = VL_OPT_ADAM, .lr = 0.02f, .clip = VL_CLIP_GLOBAL_L2NORM, .clip_threshold = 0.05f}, 1},
        {"regress/sequence, BiGRU, SGDM, per-tensor clip, validation", VL_TASK_REGRESS, VL_OUT_SEQUENCE, VL_LAYER_GRU,
         6, 1, 5, 2, 17, 7, VL_SEQLEN_LONGEST,
         {.kind = VL_OPT_SGDM, .lr = 0.01f, .momentum = 0.9f, .weight_decay = 1e-3f, .clip = VL_CLIP_L2NORM,
          .clip_threshold = 0.5f},
         0},
        {"classify/last, BiLSTM, RMSProp, validation", VL_TASK_CLASSIFY, VL_OUT_LAST, VL_LAYER_LSTM, 6, 1, 8, 2, 26, 9,
         VL_SEQLEN_LONGEST, {.kind = VL_OPT_RMSPROP, .lr = 0.005f}, 1},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++)
        run(&cfgs[i]);
    test_disagree();
    int rc = check_summary();
    vl_dist_finalize();
    return rc;
}
