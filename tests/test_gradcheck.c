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
 * - Rounding: the loss L ~ 1 is the end of a float32 computation, so it
 *   carries a relative rounding noise of a few ulps, eps_L ~ 2e-7 (one
 *   rounding of the result is 6e-8; the GEMM sums, the recurrence and the
 *   activations add a few more). The difference of two such values divided by
 *   2h has an absolute noise of about eps_L * |L| / h = 2e-5 at h = 1e-2.
 * - Truncation: central differences are exact up to h^2/6 * |L'''|; with
 *   weights, inputs and states of order 1 and derivatives of the sigmoid/tanh
 *   of order 1, that is ~2e-5 at h = 1e-2 (h = 3e-3 would cut this tenfold
 *   but raise the rounding term threefold: 1e-2 balances the two).
 * So each numeric element is within ~4e-5 of the truth. The gradients of
 * these small nets have an rms of ~1e-2 per element (input and state
 * gradients of early steps are smaller, ~3e-3), so the normwise error
 * expected from noise alone is 4e-5 / 3e-3 ~ 1.3e-2 in the worst tensors and
 * ~4e-3 in typical ones. TOL = 5e-2 leaves a margin of ~4x over that
 * (observed worst case: see the printed "worst" line), yet a real bug — a
 * wrong sign, a missing term, a wrong index or a missed step — changes the
 * gradient by O(1) relative and fails by an order of magnitude; the negative
 * control below shows a single wrong element (sign flip of the largest one, or
 * an additive error of 3*TOL*||a||) is caught.
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
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vidlstm.h"

#define STEP_DEFAULT 1e-2
#define TOL 5e-2
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
} gc_ctx;

static double STEP = STEP_DEFAULT; /* VL_GC_STEP overrides, for studying the error vs the step */
static int verbose;                /* VL_GC_VERBOSE=1: one line per tensor */
static double worst_err = 0.0;
static char worst_what[160];

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

/* Compares analytic gradient `grad` of the values `vals` (n of them, or the
 * subset `pool` of n_pool) with central differences. Returns the error;
 * optionally hands back the analytic/numeric vectors (caller frees). */
static double check_values(gc_ctx *c, const char *what, float *vals, const float *grad, const size_t *pool_in,
                           size_t n_pool, double **a_out, double **n_out, size_t *k_out)
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
    double na = 0;
    for (size_t i = 0; i < k; i++)
        na += n[i] * n[i];
    CHECK(na > 0.0, "%s: %s: the numeric gradient is zero: the check would be vacuous", c->s->name, what);
    CHECK(e <= TOL, "%s: %s: normwise error %.3g over %zu values (tolerance %.3g)", c->s->name, what, e, k, TOL);
    if (verbose)
        printf("    %-24s %4zu values  ||n|| %.3e  rms %.2e  err %.3e\n", what, k, sqrt(na), sqrt(na / (double)k), e);
    if (e > worst_err) {
        worst_err = e;
        snprintf(worst_what, sizeof worst_what, "%s: %s", c->s->name, what);
    }
    free(pool);
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
static void negative_control(gc_ctx *c, const char *what, const double *a, const double *n, size_t k)
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
    CHECK(normwise(a, n, k) <= TOL, "negative control baseline (%s) should pass", what);
    memcpy(bad, a, sizeof(double) * k);
    bad[imax] = -bad[imax]; /* a sign error in one element */
    double e1 = normwise(bad, n, k);
    CHECK(e1 > TOL, "%s: sign flip of one element not caught (err %.3g)", what, e1);
    memcpy(bad, a, sizeof(double) * k);
    bad[k / 2] += 3.0 * TOL * na; /* one element off by 3*TOL of the tensor norm */
    double e2 = normwise(bad, n, k);
    CHECK(e2 > TOL, "%s: additive error in one element not caught (err %.3g)", what, e2);
    printf("  negative control on %s: clean %.2e, sign flip %.2e, +3*TOL*||a|| %.2e (all flagged above %.0e)\n",
           what, normwise(a, n, k), e1, e2, TOL);
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
    char what[96];
    for (int i = 0; i < c.np; i++) {
        double *a, *n;
        size_t k;
        double e = check_values(&c, c.pname[i], c.w[i], grad[i], NULL, c.cnt[i], &a, &n, &k);
        case_worst = e > case_worst ? e : case_worst;
        if (with_negative_control && !strcmp(c.pname[i], "weight_hh_l0")) {
            snprintf(what, sizeof what, "%s weight_hh_l0", s->name);
            negative_control(&c, what, a, n, k);
        }
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
    double e = check_values(&c, "dx", c.x, dx, pool, np, NULL, NULL, NULL);
    case_worst = e > case_worst ? e : case_worst;
    free(pool);
    if (c.h0) {
        e = check_values(&c, "dh0", c.h0, dh0, NULL, c.nh, NULL, NULL, NULL);
        case_worst = e > case_worst ? e : case_worst;
    }
    if (c.c0) {
        e = check_values(&c, "dc0", c.c0, dc0, NULL, c.nc, NULL, NULL, NULL);
        case_worst = e > case_worst ? e : case_worst;
    }
    printf("case %-30s loss %.5f  %2d tensors + inputs, %5d loss evaluations, worst normwise err %.2e\n", s->name,
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
    printf("worst normwise error %.2e (%s), tolerance %.0e\n", worst_err, worst_what, TOL);
    return check_summary();
}
