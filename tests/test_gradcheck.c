/* Finite-difference gradient checks through the public API.
 *
 * For every layer type and network shape the library supports (LSTM, GRU,
 * bidirectional, 2-layer stacks, mixed LSTM/GRU stacks, dropout between,
 * before and after the recurrent layers), both output modes (last, sequence),
 * both losses (softmax cross-entropy with and without class weights, MSE),
 * variable lengths in unsorted order and given h0/c0, the analytic gradients
 * from vl_net_forward_backward / vl_net_input_grads are compared with central
 * differences of the loss returned by vl_net_forward_backward:
 *
 *     num = (L(v + h) - L(v - h)) / ((v + h) - (v - h))   (both steps rounded to float)
 *
 * for every parameter tensor, for x (valid steps; padded steps must get an
 * exact zero) and for h0/c0. The comparison is normwise per tensor:
 *
 *     err = ||a - n|| / max(||a||, ||n||)
 *
 * over the checked elements (all of them when a tensor has at most MAX_SAMPLES,
 * else MAX_SAMPLES distinct random ones).
 *
 * Step and tolerance (float32 kernels, loss returned as float):
 * - Rounding: each loss value is the end of a float32 computation, so it is
 *   off by about one ulp, FLT_EPSILON * |L| (~1.2e-7 at L ~ 1). The central
 *   difference divides the difference of two such values by 2h, so each
 *   numeric element carries a noise of up to sigma = FLT_EPSILON * |L| / (2h)
 *   (6e-6 at h = 1e-2; measured: about half of that, scaling as 1/h).
 * - Truncation: central differences are exact up to h^2/6 * L''', ~2e-5
 *   relative at h = 1e-2 for weights, inputs and states of order 1 (measured:
 *   tripling h to 3e-2 still lowers every error, so truncation is below the
 *   noise here; at h = 3e-3 and below the smallest tensors become too noisy
 *   to check, see TOL_MAX).
 * So, per tensor, with rms = the rms of its numeric gradient elements:
 *
 *     tol = TOL_TRUNC + NOISE_K * sigma / rms,   TOL_TRUNC = 2e-3, NOISE_K = 3
 *
 * (a noise of rms sigma on k elements gives a normwise error of sigma / rms;
 * NOISE_K = 3 covers the one-ulp model with margin; TOL_TRUNC covers the
 * truncation with a 100x margin). In these nets fc.* and the biases (rms
 * 2e-3..1) get 2e-3..1e-2, input weights and input/state gradients (rms
 * >= 6e-4) at most 4e-2, and W_hh at initialisation (rms down to 2.6e-4) at
 * most 8.3e-2; a tensor whose tolerance would exceed TOL_MAX = 0.1 counts as
 * a failure (too small to check). Observed: every error is below 0.13 of its
 * tolerance (the last line prints the worst ratio), and the err/tol ratios
 * stay below 0.3 for h = 1e-3..3e-2, as the model predicts. A real
 * bug (a wrong sign, a missing term, a wrong index or a skipped step) changes
 * a gradient by O(1) relative; the negative control below shows that a single
 * wrong element (sign flip of the largest one, or an additive error of
 * 3 * tol * ||a||) fails the check, and mutating the kernels (e.g. a 1% error
 * in the forget-gate gradient, a missing dropout mask in backward, or the
 * reverse direction's dx overwriting the forward one's) fails it too.
 *
 * VL_GC_STEP=<h> overrides the step and VL_GC_VERBOSE=1 prints one line per
 * tensor (rms, error, tolerance), for studying the error against the step.
 *
 * Dropout: the masks come from the net's RNG, which vl_net_create seeds and
 * then advances through the initialisation (a fixed number of draws for a
 * given configuration). So a net freshly created from the same seed draws
 * exactly the same masks on its first forward_backward, whatever weight
 * values are copied into it afterwards (the masks depend only on the RNG
 * state and the number of values N*width, fixed by the batch). For nets with
 * dropout every loss evaluation therefore creates a fresh net from the seed,
 * copies the (perturbed) weights in and runs forward_backward once. The test
 * first checks that premise: two fresh nets give bit-identical losses and
 * gradients, and a second call on the same net (next masks) gives a
 * different loss. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vidlstm.h"

#define STEP_DEFAULT 1e-2
#define TOL_TRUNC 2e-3
#define NOISE_K 3.0
#define TOL_MAX 0.1
#define MAX_SAMPLES 160

/* ---- a tiny deterministic generator for test data (independent of the library's) ---- */

static uint64_t trng = 0x243F6A8885A308D3ULL;
static uint32_t tnext(void)
{
    trng ^= trng << 13;
    trng ^= trng >> 7;
    trng ^= trng << 17;
    return (uint32_t)(trng >> 32);
}
static float tunif(float lo, float hi) { return lo + (hi - lo) * (float)(tnext() >> 8) * (1.0f / 16777216.0f); }

/* ---- cases -------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int D, C;
    vl_out_mode mode;
    vl_task task;
    int nl;
    vl_layer_spec layer[4];
    int use_cw;
    int B, T;
    int32_t len[4];
    int use_h0, use_c0;
    uint64_t seed;
} gc_spec;

#define LSTM(h, bi) {.kind = VL_LAYER_LSTM, .hidden = (h), .bidirectional = (bi)}
#define GRU(h, bi) {.kind = VL_LAYER_GRU, .hidden = (h), .bidirectional = (bi)}
#define DROP(pp) {.kind = VL_LAYER_DROPOUT, .p = (pp)}
#define MEAN {.kind = VL_LAYER_MEAN}

static const gc_spec cases[] = {
    {"lstm_last_xent", 3, 3, VL_OUT_LAST, VL_TASK_CLASSIFY, 1, {LSTM(4, 0)}, 0, 3, 6, {3, 6, 1}, 0, 0, 11},
    {"gru_last_xent", 3, 3, VL_OUT_LAST, VL_TASK_CLASSIFY, 1, {GRU(4, 0)}, 0, 3, 6, {3, 6, 1}, 0, 0, 12},
    {"lstm_seq_mse", 3, 2, VL_OUT_SEQUENCE, VL_TASK_REGRESS, 1, {LSTM(4, 0)}, 0, 3, 6, {3, 6, 1}, 0, 0, 13},
    {"gru_seq_wxent", 3, 3, VL_OUT_SEQUENCE, VL_TASK_CLASSIFY, 1, {GRU(4, 0)}, 1, 3, 6, {3, 6, 1}, 0, 0, 14},
    {"bilstm_last_mse", 3, 2, VL_OUT_LAST, VL_TASK_REGRESS, 1, {LSTM(3, 1)}, 0, 3, 6, {3, 6, 1}, 0, 0, 15},
    {"bilstm_seq_wxent", 3, 3, VL_OUT_SEQUENCE, VL_TASK_CLASSIFY, 1, {LSTM(3, 1)}, 1, 3, 6, {3, 6, 1}, 0, 0, 16},
    {"bigru_last_wxent_h0", 3, 3, VL_OUT_LAST, VL_TASK_CLASSIFY, 1, {GRU(3, 1)}, 1, 3, 6, {3, 6, 1}, 1, 0, 17},
    {"bigru_seq_mse", 3, 2, VL_OUT_SEQUENCE, VL_TASK_REGRESS, 1, {GRU(3, 1)}, 0, 3, 6, {3, 6, 1}, 0, 0, 18},
    {"lstm2_last_xent_h0c0", 3, 3, VL_OUT_LAST, VL_TASK_CLASSIFY, 2, {LSTM(4, 0), LSTM(3, 0)}, 0, 3, 6, {3, 6, 1},
     1, 1, 19},
    {"gru2_seq_mse_h0", 3, 2, VL_OUT_SEQUENCE, VL_TASK_REGRESS, 2, {GRU(4, 0), GRU(3, 0)}, 0, 3, 6, {3, 6, 1}, 1, 0,
     20},
    {"bilstm2_seq_xent_h0c0", 3, 3, VL_OUT_SEQUENCE, VL_TASK_CLASSIFY, 2, {LSTM(3, 1), LSTM(2, 1)}, 0, 3, 5,
     {2, 5, 4}, 1, 1, 21},
    /* mixed stacks: the c0 layout has slots for LSTM layers only */
    {"bilstm_gru_last_wxent_h0c0", 3, 3, VL_OUT_LAST, VL_TASK_CLASSIFY, 2, {LSTM(3, 1), GRU(3, 0)}, 1, 3, 6,
     {3, 6, 1}, 1, 1, 22},
    {"gru_bilstm_seq_mse_h0c0", 3, 2, VL_OUT_SEQUENCE, VL_TASK_REGRESS, 2, {GRU(3, 0), LSTM(3, 1)}, 0, 3, 6,
     {3, 6, 1}, 1, 1, 23},
    /* dropout between, before and after the recurrent layers */
    {"lstm_drop_bigru_seq_xent", 3, 3, VL_OUT_SEQUENCE, VL_TASK_CLASSIFY, 3, {LSTM(4, 0), DROP(0.5f), GRU(3, 1)},
     0, 3, 6, {3, 6, 1}, 0, 0, 24},
    {"drop_lstm_drop_last_mse_h0c0", 3, 2, VL_OUT_LAST, VL_TASK_REGRESS, 3, {DROP(0.5f), LSTM(4, 0), DROP(0.5f)},
     0, 3, 6, {3, 6, 1}, 1, 1, 25},
    {"bilstm_drop_last_wxent", 3, 3, VL_OUT_LAST, VL_TASK_CLASSIFY, 2, {LSTM(3, 1), DROP(0.5f)}, 1, 3, 6,
     {3, 6, 1}, 0, 0, 26},
    /* equal lengths and a single sequence */
    {"lstm_eqlen_seq_xent", 3, 3, VL_OUT_SEQUENCE, VL_TASK_CLASSIFY, 1, {LSTM(4, 0)}, 0, 3, 4, {4, 4, 4}, 0, 0, 27},
    {"bigru_b1_last_mse_h0", 3, 2, VL_OUT_LAST, VL_TASK_REGRESS, 1, {GRU(4, 1)}, 0, 1, 5, {5}, 1, 0, 28},
    /* mean pooling: alone (the bag-of-frames baseline), after a recurrent layer, after dropout */
    {"mean_last_wxent", 3, 3, VL_OUT_LAST, VL_TASK_CLASSIFY, 1, {MEAN}, 1, 3, 6, {3, 6, 1}, 0, 0, 29},
    {"bilstm_mean_last_mse_h0c0", 3, 2, VL_OUT_LAST, VL_TASK_REGRESS, 2, {LSTM(3, 1), MEAN}, 0, 3, 6, {3, 6, 1}, 1, 1,
     30},
    {"gru_drop_mean_last_xent", 3, 3, VL_OUT_LAST, VL_TASK_CLASSIFY, 3, {GRU(4, 0), DROP(0.5f), MEAN}, 0, 3, 6,
     {3, 6, 1}, 0, 0, 31},
};

/* ---- per-case state ----------------------------------------------------------- */

typedef struct {
    const gc_spec *s;
    vl_net_config cfg;
    float cw[8];
    int has_dropout;
    vl_net *eval; /* persistent loss evaluator when there is no dropout */
    int np;
    float *w[40]; /* working copies of the weights, perturbed one element at a time */
    size_t cnt[40];
    char pname[40][48];
    float *x, *h0, *c0, *targets;
    int32_t *labels;
    size_t nx, nh, nc;
    vl_batch b;
    int evals;
    float loss0; /* loss at the unperturbed point */
} gc_ctx;

static double STEP = STEP_DEFAULT; /* VL_GC_STEP overrides, for studying the error vs the step */
static int verbose;                /* VL_GC_VERBOSE=1: one line per tensor */
static double worst_ratio = 0.0; /* largest error / tolerance */
static char worst_what[200];

static float eval_loss(gc_ctx *c)
{
    vl_net *net = c->eval;
    if (c->has_dropout && vl_net_create(&c->cfg, c->s->seed, &net) != VL_OK) {
        fprintf(stderr, "create: %s\n", vl_errmsg());
        exit(2);
    }
    for (int i = 0; i < c->np; i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        memcpy(p.data, c->w[i], sizeof(float) * p.count);
    }
    float loss = NAN;
    if (vl_net_forward_backward(net, &c->b, &loss, NULL) != VL_OK) {
        fprintf(stderr, "%s: forward_backward: %s\n", c->s->name, vl_errmsg());
        exit(2);
    }
    if (c->has_dropout)
        vl_net_free(net);
    c->evals++;
    return loss;
}

static double numdiff(gc_ctx *c, float *v)
{
    const float v0 = *v, vp = (float)(v0 + STEP), vm = (float)(v0 - STEP);
    *v = vp;
    float lp = eval_loss(c);
    *v = vm;
    float lm = eval_loss(c);
    *v = v0;
    return ((double)lp - (double)lm) / ((double)vp - (double)vm);
}

/* ||a - n|| / max(||a||, ||n||) over k values. */
static double normwise(const double *a, const double *n, size_t k)
{
    double d = 0, na = 0, nn = 0;
    for (size_t i = 0; i < k; i++) {
        d += (a[i] - n[i]) * (a[i] - n[i]);
        na += a[i] * a[i];
        nn += n[i] * n[i];
    }
    double den = sqrt(na > nn ? na : nn);
    if (den == 0.0)
        return d == 0.0 ? 0.0 : INFINITY;
    double e = sqrt(d) / den;
    return isnan(e) ? INFINITY : e;
}

/* Chooses up to MAX_SAMPLES distinct indices out of the n in `pool` (in place). */
static size_t sample(size_t *pool, size_t n)
{
    size_t k = n < MAX_SAMPLES ? n : MAX_SAMPLES;
    for (size_t i = 0; i < k; i++) {
        size_t j = i + tnext() % (n - i);
        size_t t = pool[i];
        pool[i] = pool[j];
        pool[j] = t;
    }
    return k;
}

/* Tolerance for a tensor whose numeric gradient has rms `rms` (see the top). */
static double tolerance(const gc_ctx *c, double rms)
{
    double sigma = FLT_EPSILON * fabs((double)c->loss0) / (2.0 * STEP);
    return TOL_TRUNC + NOISE_K * sigma / (rms > 0 ? rms : 1e-300);
}

/* Compares analytic gradient `grad` of the values `vals` (n of them, or the
 * subset `pool` of n_pool) with central differences. Returns the error and
 * the tolerance; optionally hands back the analytic/numeric vectors (caller frees). */
static double check_values(gc_ctx *c, const char *what, float *vals, const float *grad, const size_t *pool_in,
                           size_t n_pool, double *tol_out, double **a_out, double **n_out, size_t *k_out)
{
    size_t *pool = malloc(sizeof(size_t) * n_pool);
    for (size_t i = 0; i < n_pool; i++)
        pool[i] = pool_in ? pool_in[i] : i;
    size_t k = sample(pool, n_pool);
    double *a = malloc(sizeof(double) * k), *n = malloc(sizeof(double) * k);
    for (size_t i = 0; i < k; i++) {
        a[i] = grad[pool[i]];
        n[i] = numdiff(c, &vals[pool[i]]);
    }
    double e = normwise(a, n, k);
    double nn = 0;
    for (size_t i = 0; i < k; i++)
        nn += n[i] * n[i];
    double rms = sqrt(nn / (double)k), tol = tolerance(c, rms);
    CHECK(tol <= TOL_MAX, "%s: %s: numeric gradient rms %.3g too small to check against float32 noise (tol %.3g)",
          c->s->name, what, rms, tol);
    CHECK(e <= tol, "%s: %s: normwise error %.3g over %zu values (tolerance %.3g)", c->s->name, what, e, k, tol);
    if (verbose)
        printf("    %-24s %4zu values  rms %.2e  err %.3e  tol %.3e  (err/tol %.2f)\n", what, k, rms, e, tol, e / tol);
    if (e / tol > worst_ratio || isnan(e)) {
        worst_ratio = isnan(e) ? INFINITY : e / tol;
        snprintf(worst_what, sizeof worst_what, "%s: %s, err %.2e, tol %.2e", c->s->name, what, e, tol);
    }
    free(pool);
    if (tol_out)
        *tol_out = tol;
    if (a_out) {
        *a_out = a;
        *n_out = n;
        *k_out = k;
    } else {
        free(a);
        free(n);
    }
    return e;
}

static vl_net *make_net(gc_ctx *c)
{
    vl_net *net;
    vl_status st = vl_net_create(&c->cfg, c->s->seed, &net);
    if (st != VL_OK) {
        fprintf(stderr, "%s: create: %s\n", c->s->name, vl_errmsg());
        exit(2);
    }
    return net;
}

/* Negative control: the check must reject a gradient with one wrong element. */
static void negative_control(const char *what, const double *a, const double *n, size_t k, double tol)
{
    double *bad = malloc(sizeof(double) * k);
    size_t imax = 0;
    double na = 0;
    for (size_t i = 0; i < k; i++) {
        na += a[i] * a[i];
        if (fabs(a[i]) > fabs(a[imax]))
            imax = i;
    }
    na = sqrt(na);
    double e0 = normwise(a, n, k);
    CHECK(e0 <= tol, "negative control baseline (%s) should pass", what);
    memcpy(bad, a, sizeof(double) * k);
    bad[imax] = -bad[imax]; /* a sign error in one element */
    double e1 = normwise(bad, n, k);
    CHECK(e1 > tol, "%s: sign flip of one element not caught (err %.3g, tol %.3g)", what, e1, tol);
    memcpy(bad, a, sizeof(double) * k);
    bad[k / 2] += 3.0 * tol * na; /* one element off by 3*tol of the tensor norm */
    double e2 = normwise(bad, n, k);
    CHECK(e2 > tol, "%s: additive error in one element not caught (err %.3g, tol %.3g)", what, e2, tol);
    printf("  negative control %-14s tol %.1e: clean %.1e, one sign flipped %.1e, one off by 3*tol*||a|| %.1e\n",
           what, tol, e0, e1, e2);
    free(bad);
}

static void run_case(const gc_spec *s, int with_negative_control)
{
    gc_ctx c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.cfg = (vl_net_config){.input = s->D, .outputs = s->C, .mode = s->mode, .task = s->task};
    for (int l = 0; l < s->nl; l++) {
        if (s->layer[l].kind == VL_LAYER_DROPOUT) {
            vl_net_add_dropout(&c.cfg, s->layer[l].p);
            c.has_dropout = 1;
        } else {
            vl_net_add_layer(&c.cfg, s->layer[l].kind, s->layer[l].hidden, s->layer[l].bidirectional);
        }
    }
    if (s->use_cw) {
        for (int k = 0; k < s->C; k++)
            c.cw[k] = 0.5f + 0.75f * (float)k; /* 0.5, 1.25, 2.0 */
        c.cfg.class_weights = c.cw;
    }
    /* H of each recurrent layer, for the state sizes */
    int hsum = 0, hsum_lstm = 0;
    for (int l = 0; l < s->nl; l++) {
        int dirs = s->layer[l].bidirectional ? 2 : 1;
        if (s->layer[l].kind == VL_LAYER_LSTM)
            hsum_lstm += dirs * s->layer[l].hidden;
        if (s->layer[l].kind != VL_LAYER_DROPOUT)
            hsum += dirs * s->layer[l].hidden;
    }

    /* data: x ~ U(-1, 1) on valid steps, 0 at padding; states ~ U(-0.8, 0.8) */
    const int B = s->B, T = s->T, D = s->D, C = s->C;
    c.nx = (size_t)B * T * D;
    c.x = calloc(c.nx, sizeof(float));
    for (int i = 0; i < B; i++)
        for (int t = 0; t < s->len[i]; t++)
            for (int d = 0; d < D; d++)
                c.x[((size_t)i * T + t) * D + d] = tunif(-1.0f, 1.0f);
    if (s->use_h0) {
        c.nh = (size_t)hsum * B;
        c.h0 = malloc(sizeof(float) * c.nh);
        for (size_t i = 0; i < c.nh; i++)
            c.h0[i] = tunif(-0.8f, 0.8f);
    }
    if (s->use_c0) {
        c.nc = (size_t)hsum_lstm * B;
        c.c0 = malloc(sizeof(float) * c.nc);
        for (size_t i = 0; i < c.nc; i++)
            c.c0[i] = tunif(-0.8f, 0.8f);
    }
    int seq = s->mode == VL_OUT_SEQUENCE;
    if (s->task == VL_TASK_CLASSIFY) {
        size_t nl = seq ? (size_t)B * T : (size_t)B;
        c.labels = malloc(sizeof(int32_t) * nl);
        for (size_t i = 0; i < nl; i++)
            c.labels[i] = (int32_t)(tnext() % (uint32_t)C);
        if (seq) /* padded steps hold -1, as PyTorch's ignore_index convention */
            for (int i = 0; i < B; i++)
                for (int t = s->len[i]; t < T; t++)
                    c.labels[(size_t)i * T + t] = -1;
    } else {
        size_t nt = (seq ? (size_t)B * T : (size_t)B) * C;
        c.targets = malloc(sizeof(float) * nt);
        for (size_t i = 0; i < nt; i++)
            c.targets[i] = tunif(-1.0f, 1.0f);
    }
    c.b = (vl_batch){.batch = B, .tmax = T, .dim = D, .x = c.x, .lengths = s->len, .labels = c.labels,
                     .targets = c.targets, .h0 = c.h0, .c0 = c.c0};

    /* analytic gradients from a fresh net (the first forward_backward: the
     * dropout masks every fresh evaluation net will draw too) */
    vl_net *net = make_net(&c);
    c.np = vl_net_num_params(net);
    for (int i = 0; i < c.np; i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        c.cnt[i] = p.count;
        c.w[i] = malloc(sizeof(float) * p.count);
        memcpy(c.w[i], p.data, sizeof(float) * p.count);
        snprintf(c.pname[i], sizeof c.pname[i], "%s", p.name);
    }
    vl_net_want_input_grads(net, 1);
    float loss0;
    vl_status st = vl_net_forward_backward(net, &c.b, &loss0, NULL);
    c.loss0 = loss0;
    CHECK(st == VL_OK, "%s: forward_backward: %s", s->name, vl_errmsg());
    if (st != VL_OK)
        exit(2);
    float *grad[40];
    for (int i = 0; i < c.np; i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        grad[i] = malloc(sizeof(float) * p.count);
        memcpy(grad[i], p.grad, sizeof(float) * p.count);
    }
    float *dx = malloc(sizeof(float) * c.nx);
    float *dh0 = c.nh ? malloc(sizeof(float) * c.nh) : NULL;
    float *dc0 = c.nc ? malloc(sizeof(float) * c.nc) : NULL;
    for (size_t i = 0; i < c.nx; i++)
        dx[i] = NAN; /* must be overwritten everywhere */
    st = vl_net_input_grads(net, dx, dh0, dc0);
    CHECK(st == VL_OK, "%s: input_grads: %s", s->name, vl_errmsg());

    if (c.has_dropout) {
        /* premise of the dropout FD: a fresh net from the same seed reproduces
         * the loss and gradients bit for bit; a second call on one net draws new masks */
        vl_net *n2 = make_net(&c);
        float l2, l3;
        CHECK(vl_net_forward_backward(n2, &c.b, &l2, NULL) == VL_OK, "%s", vl_errmsg());
        CHECK(memcmp(&l2, &loss0, sizeof l2) == 0, "%s: same seed, different dropout loss %.9g vs %.9g", s->name,
              (double)l2, (double)loss0);
        int same = 1;
        for (int i = 0; i < c.np; i++) {
            vl_param p;
            vl_net_param(n2, i, &p);
            same &= memcmp(p.grad, grad[i], sizeof(float) * p.count) == 0;
        }
        CHECK(same, "%s: same seed, different dropout gradients", s->name);
        CHECK(vl_net_forward_backward(n2, &c.b, &l3, NULL) == VL_OK, "%s", vl_errmsg());
        CHECK(l3 != l2, "%s: second call on the same net reused the dropout masks (loss %.9g)", s->name, (double)l3);
        vl_net_free(n2);
        /* and the evaluator agrees with the reference at the unperturbed point */
        float le = eval_loss(&c);
        CHECK(memcmp(&le, &loss0, sizeof le) == 0, "%s: evaluator loss %.9g != %.9g", s->name, (double)le,
              (double)loss0);
    } else {
        c.eval = make_net(&c);
        float le = eval_loss(&c);
        CHECK(memcmp(&le, &loss0, sizeof le) == 0, "%s: evaluator loss %.9g != %.9g", s->name, (double)le,
              (double)loss0);
    }

    double case_worst = 0;
    for (int i = 0; i < c.np; i++) {
        double *a, *n, tol;
        size_t k;
        double e = check_values(&c, c.pname[i], c.w[i], grad[i], NULL, c.cnt[i], &tol, &a, &n, &k);
        case_worst = e / tol > case_worst ? e / tol : case_worst;
        if (with_negative_control)
            negative_control(c.pname[i], a, n, k, tol);
        free(a);
        free(n);
    }

    /* dx: valid steps against differences; padded steps exactly zero */
    size_t *pool = malloc(sizeof(size_t) * c.nx), np = 0;
    int pad_ok = 1;
    for (int i = 0; i < B; i++)
        for (int t = 0; t < T; t++)
            for (int d = 0; d < D; d++) {
                size_t idx = ((size_t)i * T + t) * D + d;
                if (t < s->len[i])
                    pool[np++] = idx;
                else
                    pad_ok &= dx[idx] == 0.0f;
            }
    CHECK(pad_ok, "%s: dx is not zero at padded steps", s->name);
    double tol, e = check_values(&c, "dx", c.x, dx, pool, np, &tol, NULL, NULL, NULL);
    case_worst = e / tol > case_worst ? e / tol : case_worst;
    free(pool);
    if (c.h0) {
        e = check_values(&c, "dh0", c.h0, dh0, NULL, c.nh, &tol, NULL, NULL, NULL);
        case_worst = e / tol > case_worst ? e / tol : case_worst;
    }
    if (c.c0) {
        e = check_values(&c, "dc0", c.c0, dc0, NULL, c.nc, &tol, NULL, NULL, NULL);
        case_worst = e / tol > case_worst ? e / tol : case_worst;
    }
    printf("case %-30s loss %.5f  %2d tensors + inputs, %5d loss evaluations, worst err/tol %.2f\n", s->name,
           (double)loss0, c.np, c.evals, case_worst);

    for (int i = 0; i < c.np; i++) {
        free(c.w[i]);
        free(grad[i]);
    }
    free(dx);
    free(dh0);
    free(dc0);
    free(c.x);
    free(c.h0);
    free(c.c0);
    free(c.labels);
    free(c.targets);
    vl_net_free(c.eval);
    vl_net_free(net);
}

int main(void)
{
    vl_set_threads(1);
    if (getenv("VL_GC_STEP"))
        STEP = atof(getenv("VL_GC_STEP"));
    verbose = getenv("VL_GC_VERBOSE") != NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], i == 0);
    printf("h = %.0e; worst error/tolerance %.2f (%s)\n", STEP, worst_ratio, worst_what);
    return check_summary();
}
