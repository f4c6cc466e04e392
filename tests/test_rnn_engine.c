/* The recurrent engine's threading: the time loop splits the hidden units
 * between threads (nn/lstm.c, nn/gru.c), so a network whose hidden sizes give
 * every thread work must produce the same outputs, loss and gradients with 1,
 * 2 and 3 threads up to float rounding (only the BLAS's blocking of the
 * per-step products changes). The 1-thread path is the one checked against
 * PyTorch by test_fixtures; this carries that check over to the split path.
 * Covers LSTM and GRU, both directions, unequal lengths, h0/c0, input and
 * initial-state gradients. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "nn/rnn.h"
#include "vidlstm.h"

typedef struct {
    float loss;
    float *out, *dx, *dh0, *dc0, *grads;
    size_t nout, ngrad;
} run_result;

enum { B = 5, T = 7, D = 24, C = 3 };

static void run_prec(int threads, vl_rnn_precision prec, const vl_net_config *cfg, const vl_batch *b, size_t nx,
                     size_t nh, size_t nc, run_result *r)
{
    vl_set_threads(threads);
    vl_net *net;
    CHECK(vl_net_create(cfg, 5, &net) == VL_OK, "%s", vl_errmsg());
    vl_net_set_rnn_precision(net, prec);
    vl_net_want_input_grads(net, 1);
    r->nout = vl_net_output_size(net, b);
    r->out = malloc(sizeof(float) * r->nout);
    CHECK(vl_net_forward_backward(net, b, &r->loss, r->out) == VL_OK, "%s", vl_errmsg());
    r->dx = malloc(sizeof(float) * nx);
    r->dh0 = malloc(sizeof(float) * nh);
    r->dc0 = malloc(sizeof(float) * nc);
    CHECK(vl_net_input_grads(net, r->dx, r->dh0, r->dc0) == VL_OK, "%s", vl_errmsg());
    r->ngrad = vl_net_param_count(net);
    r->grads = malloc(sizeof(float) * r->ngrad);
    size_t o = 0;
    for (int i = 0; i < vl_net_num_params(net); i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        memcpy(r->grads + o, p.grad, sizeof(float) * p.count);
        o += p.count;
    }
    vl_net_free(net);
}

static void run_once(int threads, const vl_net_config *cfg, const vl_batch *b, size_t nx, size_t nh, size_t nc,
                     run_result *r)
{
    run_prec(threads, VL_RNN_FP32, cfg, b, nx, nh, nc, r);
}

static void free_result(run_result *r)
{
    free(r->out);
    free(r->dx);
    free(r->dh0);
    free(r->dc0);
    free(r->grads);
}

/* The test network (LSTM h1 bidirectional, GRU h2 bidirectional, LSTM h3,
 * per-step classes) and a batch of nb random sequences (lengths len) with
 * h0/c0 and labels, from `seed`; free with free_case. */
static void make_case(int nb, const int32_t *len, int h1, int h2, int h3, uint64_t seed, vl_net_config *cfg,
                      vl_batch *b, size_t *nx, size_t *nh, size_t *nc)
{
    *cfg = (vl_net_config){.input = D, .outputs = C, .mode = VL_OUT_SEQUENCE, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(cfg, VL_LAYER_LSTM, h1, 1);
    vl_net_add_layer(cfg, VL_LAYER_GRU, h2, 1);
    vl_net_add_layer(cfg, VL_LAYER_LSTM, h3, 0);
    vl_rng rng;
    vl_rng_seed(&rng, seed);
    *nx = (size_t)nb * T * D, *nh = (size_t)nb * (2 * h1 + 2 * h2 + h3), *nc = (size_t)nb * (2 * h1 + h3);
    float *x = malloc(sizeof(float) * *nx), *h0 = malloc(sizeof(float) * *nh), *c0 = malloc(sizeof(float) * *nc);
    int32_t *lab = malloc(sizeof(int32_t) * nb * T);
    for (size_t i = 0; i < *nx; i++)
        x[i] = vl_rng_uniform_range(&rng, -1.0f, 1.0f);
    for (size_t i = 0; i < *nh; i++)
        h0[i] = vl_rng_uniform_range(&rng, -0.5f, 0.5f);
    for (size_t i = 0; i < *nc; i++)
        c0[i] = vl_rng_uniform_range(&rng, -0.5f, 0.5f);
    for (int i = 0; i < nb * T; i++)
        lab[i] = (int32_t)vl_rng_below(&rng, C);
    *b = (vl_batch){.batch = nb, .tmax = T, .dim = D, .x = x, .lengths = len, .labels = lab, .h0 = h0, .c0 = c0};
}

static void free_case(vl_batch *b)
{
    free((void *)b->x);
    free((void *)b->h0);
    free((void *)b->c0);
    free((void *)b->labels);
}

/* nb sequences (lengths len), layers LSTM h1 bidirectional, GRU h2
 * bidirectional, LSTM h3: the batch below 8 slots splits the hidden units
 * (columns), 8 and more with small W_hh split the slots (rows). */
static void test_thread_split(int nb, const int32_t *len, int h1, int h2, int h3, const char *what)
{
    vl_net_config cfg;
    vl_batch b;
    size_t nx, nh, nc;
    make_case(nb, len, h1, h2, h3, 11, &cfg, &b, &nx, &nh, &nc);
    int saved = vl_get_threads();
    run_result ref, r;
    run_once(1, &cfg, &b, nx, nh, nc, &ref);
    for (int th = 2; th <= 3; th++) {
        run_once(th, &cfg, &b, nx, nh, nc, &r);
        /* Float rounding of reordered sums only (measured: columns bit-identical,
         * rows <= 1.4e-6: the BLAS blocks fewer rows differently). */
        const double tol = 1e-5;
        CHECK(fabsf(r.loss - ref.loss) <= tol * fabsf(ref.loss), "%s, %d threads: loss %.9g vs %.9g", what, th,
              (double)r.loss, (double)ref.loss);
        double e;
        CHECK((e = rel_err(r.out, ref.out, r.nout)) <= tol, "%s, %d threads: outputs rel err %.3g", what, th, e);
        CHECK((e = rel_err(r.grads, ref.grads, r.ngrad)) <= tol, "%s, %d threads: weight grads rel err %.3g", what,
              th, e);
        CHECK((e = rel_err(r.dx, ref.dx, nx)) <= tol, "%s, %d threads: dx rel err %.3g", what, th, e);
        CHECK((e = rel_err(r.dh0, ref.dh0, nh)) <= tol, "%s, %d threads: dh0 rel err %.3g", what, th, e);
        CHECK((e = rel_err(r.dc0, ref.dc0, nc)) <= tol, "%s, %d threads: dc0 rel err %.3g", what, th, e);
        if (getenv("VL_VERBOSE"))
            printf("%s, %d threads: out %.3g grads %.3g dx %.3g dh0 %.3g dc0 %.3g\n", what, th,
                   rel_err(r.out, ref.out, r.nout), rel_err(r.grads, ref.grads, r.ngrad), rel_err(r.dx, ref.dx, nx),
                   rel_err(r.dh0, ref.dh0, nh), rel_err(r.dc0, ref.dc0, nc));
        free_result(&r);
    }
    free_result(&ref);
    vl_set_threads(saved);
    free_case(&b);
}

/* Recurrent weights over 1 MB run their step GEMMs on packed panels
 * (nn/rnn_panel.c) instead of the BLAS: both paths must agree to float
 * rounding (the BLAS path is the one carried to PyTorch above), at 1 and 2
 * threads, with hidden sizes that are not multiples of 16, LSTM and GRU,
 * both directions, and more slots than one 16-row tile (nb 19). */
static void test_panels(int nb, const int32_t *len)
{
#ifdef __AVX512F__
    CHECK(vl_rnn_panels_available(), "an AVX-512 build without the panel kernels");
#else
    printf("  (no AVX-512 in this build: the panel path is not compiled; comparing the BLAS path with itself)\n");
#endif
    const int h1 = 300, h2 = 320, h3 = 260;
    vl_net_config cfg;
    vl_batch b;
    size_t nx, nh, nc;
    make_case(nb, len, h1, h2, h3, 12, &cfg, &b, &nx, &nh, &nc);
    int saved = vl_get_threads();
    for (int th = 1; th <= 2; th++) {
        run_result blas, pan;
        vl_rnn_panels_enable(0);
        run_once(th, &cfg, &b, nx, nh, nc, &blas);
        vl_rnn_panels_enable(1);
        run_once(th, &cfg, &b, nx, nh, nc, &pan);
        const double tol = 1e-5;
        double e[5] = {rel_err(pan.out, blas.out, pan.nout), rel_err(pan.grads, blas.grads, pan.ngrad),
                       rel_err(pan.dx, blas.dx, nx), rel_err(pan.dh0, blas.dh0, nh), rel_err(pan.dc0, blas.dc0, nc)};
        CHECK(fabsf(pan.loss - blas.loss) <= tol * fabsf(blas.loss), "panels, %d slots, %d threads: loss %.9g vs %.9g",
              nb, th, (double)pan.loss, (double)blas.loss);
        CHECK(e[0] <= tol && e[1] <= tol && e[2] <= tol && e[3] <= tol && e[4] <= tol,
              "panels vs BLAS, %d slots, %d threads: out %.3g grads %.3g dx %.3g dh0 %.3g dc0 %.3g", nb, th, e[0], e[1],
              e[2], e[3], e[4]);
        printf("  panels vs BLAS, %2d slots, %d threads: out %.2g grads %.2g dx %.2g dh0 %.2g dc0 %.2g\n", nb, th, e[0],
               e[1], e[2], e[3], e[4]);
        free_result(&blas);
        free_result(&pan);
    }
    vl_set_threads(saved);
    free_case(&b);
}

/* Does this process expect bf16? The CPU must offer AVX512-BF16 (or AMX)
 * and oneDNN must not be capped below it (ctest runs this program a second
 * time with ONEDNN_MAX_CPU_ISA=AVX512_CORE to check the fall-back). */
static int expect_bf16(void)
{
    const char *cap = getenv("ONEDNN_MAX_CPU_ISA");
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && !(cap && !strcmp(cap, "AVX512_CORE"));
}

/* Max |a-b| over a tensor relative to max|b| (the whole-tensor scale). */
static double tensor_err(const float *a, const float *b, size_t n)
{
    double mx = 0, w = 0;
    for (size_t i = 0; i < n; i++) {
        mx = fmax(mx, fabs(b[i]));
        w = fmax(w, fabs((double)a[i] - b[i]));
    }
    return w / (mx + 1e-30);
}

/* bf16 GEMMs against fp32 on the same network and batch: outputs, loss and
 * every gradient tensor within a stated relative tolerance (max error over a
 * tensor / max magnitude of that tensor). bf16 keeps 8 significant bits
 * (relative rounding 2^-9 = 2e-3 per operand); measured worst with 2 threads
 * is at BF16_TOL. */
static void test_bf16_grads(void)
{
    const int want = expect_bf16();
    vl_net_config cfg = {.input = D, .outputs = C, .mode = VL_OUT_SEQUENCE, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, 40, 1);
    vl_net_add_layer(&cfg, VL_LAYER_GRU, 72, 0);
    vl_net *probe;
    vl_net_create(&cfg, 5, &probe);
    vl_rnn_precision got = vl_net_set_rnn_precision(probe, VL_RNN_BF16);
    CHECK(got == (want ? VL_RNN_BF16 : VL_RNN_FP32) && vl_net_rnn_precision(probe) == got,
          "bf16 requested: got %d, expected %d (CPU avx512bf16 and no ISA cap)", (int)got, want);
    CHECK(vl_net_set_rnn_precision(probe, VL_RNN_FP32) == VL_RNN_FP32, "fp32 request refused");
    vl_net_free(probe);
    if (!want)
        printf("note: no native bf16 here (or ISA capped): bf16 requests fall back to fp32\n");

    const int32_t len[B] = {7, 3, 7, 1, 5};
    vl_rng rng;
    vl_rng_seed(&rng, 12);
    size_t nx = (size_t)B * T * D, nh = (size_t)B * (2 * 40 + 72), nc = (size_t)B * 2 * 40;
    float *x = malloc(sizeof(float) * nx);
    int32_t lab[B * T];
    for (size_t i = 0; i < nx; i++)
        x[i] = vl_rng_uniform_range(&rng, -1.0f, 1.0f);
    for (int i = 0; i < B * T; i++)
        lab[i] = (int32_t)vl_rng_below(&rng, C);
    vl_batch b = {.batch = B, .tmax = T, .dim = D, .x = x, .lengths = len, .labels = lab};
    run_result f, h;
    run_prec(2, VL_RNN_FP32, &cfg, &b, nx, nh, nc, &f);
    run_prec(2, VL_RNN_BF16, &cfg, &b, nx, nh, nc, &h);
    if (!want) {
        CHECK(h.loss == f.loss && !memcmp(h.grads, f.grads, sizeof(float) * f.ngrad),
              "fp32 fall-back differs from fp32");
    } else {
        const double BF16_TOL = 0.02; /* measured 0.0045 (2026-12-04, Zen 5) */
        double worst = 0;
        vl_net *net;
        vl_net_create(&cfg, 5, &net);
        size_t o = 0;
        for (int i = 0; i < vl_net_num_params(net); i++) {
            vl_param p;
            vl_net_param(net, i, &p);
            double e = tensor_err(h.grads + o, f.grads + o, p.count);
            worst = fmax(worst, e);
            CHECK(e <= BF16_TOL, "bf16 gradient %s: rel err %.3g > %.3g", p.name, e, BF16_TOL);
            o += p.count;
        }
        vl_net_free(net);
        double eo = tensor_err(h.out, f.out, f.nout), edx = tensor_err(h.dx, f.dx, nx);
        CHECK(eo <= BF16_TOL && edx <= BF16_TOL, "bf16 outputs %.3g, dx %.3g", eo, edx);
        CHECK(fabsf(h.loss - f.loss) <= BF16_TOL * fabsf(f.loss), "bf16 loss %.6g vs %.6g", (double)h.loss,
              (double)f.loss);
        CHECK(memcmp(h.grads, f.grads, sizeof(float) * f.ngrad) != 0, "bf16 gradients identical to fp32");
        printf("bf16 vs fp32: worst gradient tensor rel err %.3g, outputs %.3g, dx %.3g, loss %.3g\n", worst, eo, edx,
               fabs(h.loss - f.loss) / f.loss);
    }
    free_result(&f);
    free_result(&h);
    free(x);
}

/* A short training curve: the same initialisation and batches trained with
 * Adam in fp32 and in bf16. Both must learn (loss falls below half its start)
 * and stay close at every checkpoint. */
static void test_bf16_curve(void)
{
    enum { TB = 16, TT = 12, TD = 8, STEPS = 120 };
    vl_net_config cfg = {.input = TD, .outputs = 2, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, 64, 0);
    float curve[2][STEPS];
    for (int prec = 0; prec < 2; prec++) {
        vl_set_threads(2);
        vl_net *net;
        vl_optim *opt;
        vl_net_create(&cfg, 9, &net);
        vl_net_set_rnn_precision(net, prec ? VL_RNN_BF16 : VL_RNN_FP32);
        vl_optim_config oc = {.kind = VL_OPT_ADAM, .lr = 3e-3f, .clip = VL_CLIP_GLOBAL_L2NORM, .clip_threshold = 1.0f};
        CHECK(vl_optim_create(net, &oc, &opt) == VL_OK, "%s", vl_errmsg());
        vl_rng rng;
        vl_rng_seed(&rng, 21);
        float x[TB * TT * TD];
        int32_t len[TB], lab[TB];
        for (int s = 0; s < STEPS; s++) {
            /* label: does feature 0 sum to more than 0 over the valid steps */
            for (int j = 0; j < TB; j++) {
                len[j] = 4 + (int)vl_rng_below(&rng, TT - 3);
                float sum = 0;
                for (int t = 0; t < TT; t++)
                    for (int k = 0; k < TD; k++) {
                        float v = vl_rng_uniform_range(&rng, -1.0f, 1.0f);
                        x[(j * TT + t) * TD + k] = v;
                        if (k == 0 && t < len[j])
                            sum += v;
                    }
                lab[j] = sum > 0;
            }
            vl_batch b = {.batch = TB, .tmax = TT, .dim = TD, .x = x, .lengths = len, .labels = lab};
            CHECK(vl_net_forward_backward(net, &b, &curve[prec][s], NULL) == VL_OK, "%s", vl_errmsg());
            vl_optim_step(opt, NULL);
        }
        vl_optim_free(opt);
        vl_net_free(net);
    }
    /* mean loss over windows of 20 steps */
    const double CURVE_TOL = 0.02; /* measured 0.0006 */
    double worst = 0, first[2] = {0, 0}, last[2] = {0, 0};
    for (int w = 0; w < STEPS / 20; w++) {
        double m[2] = {0, 0};
        for (int prec = 0; prec < 2; prec++)
            for (int s = w * 20; s < w * 20 + 20; s++)
                m[prec] += curve[prec][s] / 20.0;
        worst = fmax(worst, fabs(m[1] - m[0]));
        for (int prec = 0; prec < 2; prec++) {
            if (w == 0)
                first[prec] = m[prec];
            last[prec] = m[prec];
        }
    }
    CHECK(last[0] < 0.5 * first[0] && last[1] < 0.5 * first[1], "did not learn: fp32 %.3f -> %.3f, bf16 %.3f -> %.3f",
          first[0], last[0], first[1], last[1]);
    CHECK(worst <= CURVE_TOL, "bf16 curve departs from fp32 by %.3g (> %.3g) in a 20-step window", worst, CURVE_TOL);
    printf("training curve (20-step means): fp32 %.4f -> %.4f, bf16 %.4f -> %.4f, worst window gap %.4f\n", first[0],
           last[0], first[1], last[1], worst);
}

int main(void)
{
    /* 5 slots: hidden units split (2 threads: 32 + 8, 48 + 24, 32 + 18;
     * 3 threads: the GRU 32 + 32 + 8, the last LSTM 32 + 18 + 0) */
    const int32_t len5[5] = {7, 3, 7, 1, 5};
    test_thread_split(5, len5, 40, 72, 50, "columns");
    /* 13 slots, small W_hh: slots split (2 threads 6 + 7, 3 threads 4 + 4 + 5),
     * unequal lengths so threads' slots end at different steps */
    const int32_t len13[13] = {7, 2, 5, 7, 1, 3, 6, 7, 4, 2, 5, 1, 6};
    test_thread_split(13, len13, 24, 20, 32, "rows");
    test_panels(5, len5);
    const int32_t len19[19] = {7, 2, 5, 7, 1, 3, 6, 7, 4, 2, 5, 1, 6, 7, 7, 3, 2, 6, 4};
    test_panels(19, len19);
    test_bf16_grads();
    test_bf16_curve();
    return check_summary();
}
