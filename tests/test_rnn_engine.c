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
#include "vidlstm.h"

typedef struct {
    float loss;
    float *out, *dx, *dh0, *dc0, *grads;
    size_t nout, ngrad;
} run_result;

enum { B = 5, T = 7, D = 24, C = 3 };

static void run_once(int threads, const vl_net_config *cfg, const vl_batch *b, size_t nx, size_t nh, size_t nc,
                     run_result *r)
{
    vl_set_threads(threads);
    vl_net *net;
    CHECK(vl_net_create(cfg, 5, &net) == VL_OK, "%s", vl_errmsg());
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

static void free_result(run_result *r)
{
    free(r->out);
    free(r->dx);
    free(r->dh0);
    free(r->dc0);
    free(r->grads);
}

static void test_thread_split(void)
{
    vl_net_config cfg = {.input = D, .outputs = C, .mode = VL_OUT_SEQUENCE, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, 40, 1); /* 2 threads: 32 + 8 units */
    vl_net_add_layer(&cfg, VL_LAYER_GRU, 72, 1);  /* 2 threads: 48 + 24; 3 threads: 32 + 32 + 8 */
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, 50, 0);
    const int32_t len[B] = {7, 3, 7, 1, 5};
    vl_rng rng;
    vl_rng_seed(&rng, 11);
    size_t nx = (size_t)B * T * D, nh = (size_t)B * (2 * 40 + 2 * 72 + 50), nc = (size_t)B * (2 * 40 + 50);
    float *x = malloc(sizeof(float) * nx), *h0 = malloc(sizeof(float) * nh), *c0 = malloc(sizeof(float) * nc);
    int32_t lab[B * T];
    for (size_t i = 0; i < nx; i++)
        x[i] = vl_rng_uniform_range(&rng, -1.0f, 1.0f);
    for (size_t i = 0; i < nh; i++)
        h0[i] = vl_rng_uniform_range(&rng, -0.5f, 0.5f);
    for (size_t i = 0; i < nc; i++)
        c0[i] = vl_rng_uniform_range(&rng, -0.5f, 0.5f);
    for (int i = 0; i < B * T; i++)
        lab[i] = (int32_t)vl_rng_below(&rng, C);
    vl_batch b = {.batch = B, .tmax = T, .dim = D, .x = x, .lengths = len, .labels = lab, .h0 = h0, .c0 = c0};
    int saved = vl_get_threads();
    run_result ref, r;
    run_once(1, &cfg, &b, nx, nh, nc, &ref);
    for (int th = 2; th <= 3; th++) {
        run_once(th, &cfg, &b, nx, nh, nc, &r);
        /* Float rounding of reordered sums only: measured <= 3e-7 here. */
        const double tol = 1e-5;
        CHECK(fabsf(r.loss - ref.loss) <= tol * fabsf(ref.loss), "%d threads: loss %.9g vs %.9g", th,
              (double)r.loss, (double)ref.loss);
        double e;
        CHECK((e = rel_err(r.out, ref.out, r.nout)) <= tol, "%d threads: outputs rel err %.3g", th, e);
        CHECK((e = rel_err(r.grads, ref.grads, r.ngrad)) <= tol, "%d threads: weight grads rel err %.3g", th, e);
        CHECK((e = rel_err(r.dx, ref.dx, nx)) <= tol, "%d threads: dx rel err %.3g", th, e);
        CHECK((e = rel_err(r.dh0, ref.dh0, nh)) <= tol, "%d threads: dh0 rel err %.3g", th, e);
        CHECK((e = rel_err(r.dc0, ref.dc0, nc)) <= tol, "%d threads: dc0 rel err %.3g", th, e);
        if (getenv("VL_VERBOSE"))
            printf("%d threads: out %.3g grads %.3g dx %.3g dh0 %.3g dc0 %.3g\n", th, rel_err(r.out, ref.out, r.nout),
                   rel_err(r.grads, ref.grads, r.ngrad), rel_err(r.dx, ref.dx, nx), rel_err(r.dh0, ref.dh0, nh),
                   rel_err(r.dc0, ref.dc0, nc));
        free_result(&r);
    }
    free_result(&ref);
    vl_set_threads(saved);
    free(x);
    free(h0);
    free(c0);
}

int main(void)
{
    test_thread_split();
    return check_summary();
}
