/* Training-step and inference benchmark for the recurrent engine.
 *
 *   bench_rnn                  run the standard configurations (a)-(e)
 *   bench_rnn --input 512 --hidden 256 --batch 32 --steps 60 [...]   one configuration
 *
 * One training step = forward + backward + global-norm clipping (1.0) + Adam,
 * many-to-one, cross-entropy: the same work as bench/torch_ref.py does with
 * nn.LSTM, so the two can be run side by side (bench/run_bench.sh does).
 *
 * FLOPs counted (same formula as torch_ref.py): per recurrent layer and
 * direction, forward = 2 * Nvalid * G * (Din + H) with G = 4H (LSTM) or 3H
 * (GRU) and Nvalid the number of valid (unpadded) steps in the batch;
 * a training step counts 3x forward (forward, input/state gradients, weight
 * gradients). The head and element-wise work are not counted. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/blas.h"
#include "core/mem.h"
#include "core/rng.h"
#include "vidlstm.h"

typedef struct {
    const char *name;
    int input, hidden, layers, bidir, gru, batch, steps, classes;
    int len_lo, len_hi; /* 0: all lengths = steps */
} bench_cfg;

static const bench_cfg standard[] = {
    {"a", 512, 1500, 1, 0, 0, 16, 60, 2, 0, 0},
    {"b", 512, 256, 1, 0, 0, 32, 60, 2, 0, 0},
    {"c", 512, 512, 2, 1, 0, 16, 60, 2, 0, 0},
    {"d", 128, 128, 1, 0, 0, 64, 20, 3, 0, 0},
    {"e", 512, 1500, 1, 0, 0, 16, 60, 2, 20, 60},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* sgemm throughput on a large square product: the machine's attainable peak
 * with the BLAS we use. */
static double sgemm_peak_gflops(void)
{
    const int n = 2048;
    float *a = vl_alloc(sizeof(float) * n * n), *b = vl_alloc(sizeof(float) * n * n),
          *c = vl_alloc(sizeof(float) * n * n);
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
        c[i] = 0.0f;
    }
    double t[7];
    for (int r = 0; r < 8; r++) {
        double t0 = now_s();
        vl_sgemm(false, true, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        if (r > 0)
            t[r - 1] = now_s() - t0;
    }
    vl_free(a);
    vl_free(b);
    vl_free(c);
    return 2.0 * n * (double)n * n / median(t, 7) / 1e9;
}

static int run(const bench_cfg *bc, int iters, int warmup, int infer, int json, double peak)
{
    vl_net_config cfg = {.input = bc->input, .outputs = bc->classes, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    for (int l = 0; l < bc->layers; l++)
        vl_net_add_layer(&cfg, bc->gru ? VL_LAYER_GRU : VL_LAYER_LSTM, bc->hidden, bc->bidir);
    vl_net *net;
    if (vl_net_create(&cfg, 1, &net) != VL_OK) {
        fprintf(stderr, "bench_rnn: %s\n", vl_errmsg());
        return 1;
    }
    vl_optim *opt;
    vl_optim_config oc = {.kind = VL_OPT_ADAM, .lr = 1e-3f, .clip = VL_CLIP_GLOBAL_L2NORM, .clip_threshold = 1.0f};
    if (vl_optim_create(net, &oc, &opt) != VL_OK) {
        fprintf(stderr, "bench_rnn: %s\n", vl_errmsg());
        return 1;
    }
    size_t nx = (size_t)bc->batch * bc->steps * bc->input;
    float *x = malloc(sizeof(float) * nx);
    int32_t *len = malloc(sizeof(int32_t) * (size_t)bc->batch);
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)bc->batch);
    float *out = malloc(sizeof(float) * (size_t)bc->batch * bc->classes);
    vl_rng rng;
    vl_rng_seed(&rng, 7);
    for (size_t i = 0; i < nx; i++)
        x[i] = vl_rng_uniform_range(&rng, -1.0f, 1.0f);
    long nvalid = 0;
    for (int b = 0; b < bc->batch; b++) {
        len[b] = bc->len_hi ? bc->len_lo + (int)vl_rng_below(&rng, (uint64_t)(bc->len_hi - bc->len_lo + 1)) : bc->steps;
        lab[b] = (int32_t)vl_rng_below(&rng, (uint64_t)bc->classes);
        nvalid += len[b];
    }
    vl_batch batch = {.batch = bc->batch, .tmax = bc->steps, .dim = bc->input, .x = x, .lengths = len, .labels = lab};

    double flops = 0.0;
    int din = bc->input;
    for (int l = 0; l < bc->layers; l++) {
        double g = (bc->gru ? 3.0 : 4.0) * bc->hidden;
        flops += (bc->bidir ? 2.0 : 1.0) * 2.0 * (double)nvalid * g * (din + bc->hidden);
        din = bc->hidden * (bc->bidir ? 2 : 1);
    }
    if (!infer)
        flops *= 3.0;

    double *t = malloc(sizeof(double) * (size_t)iters);
    float loss = 0.0f;
    for (int i = 0; i < warmup + iters; i++) {
        double t0 = now_s();
        vl_status st = infer ? vl_net_forward(net, &batch, out) : vl_net_forward_backward(net, &batch, &loss, NULL);
        if (!st && !infer)
            st = vl_optim_step(opt, NULL);
        if (st) {
            fprintf(stderr, "bench_rnn: %s\n", vl_errmsg());
            return 1;
        }
        if (i >= warmup)
            t[i - warmup] = now_s() - t0;
    }
    double med = median(t, iters);
    double gf = flops / med / 1e9;
    if (json)
        printf("{\"impl\": \"vidlstm\", \"variant\": \"vidlstm\", \"config\": \"%s\", \"cell\": \"%s\", \"input\": %d, "
               "\"hidden\": %d, \"layers\": %d, \"bidirectional\": %d, \"batch\": %d, \"steps\": %d, \"classes\": %d, "
               "\"lengths\": \"%s\", \"threads\": %d, \"mode\": \"%s\", \"median_ms\": %.3f, \"seq_per_s\": %.1f, "
               "\"gflops\": %.1f, \"peak_gflops\": %.1f, \"frac_peak\": %.3f, \"peak_rss_mb\": %.1f}\n",
               bc->name, bc->gru ? "gru" : "lstm", bc->input, bc->hidden, bc->layers, bc->bidir, bc->batch, bc->steps,
               bc->classes, bc->len_hi ? "uniform" : "fixed", vl_get_threads(), infer ? "infer" : "train", med * 1e3,
               bc->batch / med, gf, peak, peak > 0 ? gf / peak : 0.0, peak_rss_mb());
    else
        printf("(%s) %s in=%d hid=%d L=%d bi=%d B=%d T=%d C=%d%s %s: median %.2f ms  %.0f seq/s  %.1f GFLOP/s  "
               "(%.0f%% of sgemm peak)  peak RSS %.0f MB\n",
               bc->name, bc->gru ? "GRU" : "LSTM", bc->input, bc->hidden, bc->layers, bc->bidir, bc->batch, bc->steps,
               bc->classes, bc->len_hi ? " lengths U[lo,hi]" : "", infer ? "infer" : "train", med * 1e3,
               bc->batch / med, gf, peak > 0 ? 100.0 * gf / peak : 0.0, peak_rss_mb());
    fflush(stdout);
    free(t);
    free(x);
    free(len);
    free(lab);
    free(out);
    vl_optim_free(opt);
    vl_net_free(net);
    return 0;
}

static void usage(void)
{
    puts("usage: bench_rnn [--config a|b|c|d|e] [--input D --hidden H --layers L --bidirectional 0|1\n"
         "                 --cell lstm|gru --batch B --steps T --classes C --lengths-uniform LO HI]\n"
         "                 [--mode train|infer] [--iters N] [--warmup W] [--threads K] [--json] [--no-peak]\n"
         "Without --config or --input, runs the standard configurations (a)-(e).");
}

int main(int argc, char **argv)
{
    bench_cfg one = {"custom", 0, 256, 1, 0, 0, 32, 60, 2, 0, 0};
    const char *only = NULL;
    int iters = 20, warmup = 3, threads = 2, json = 0, infer = 0, custom = 0, want_peak = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "0";
#define INT_OPT(flag, dst) if (!strcmp(a, flag)) { dst = atoi(v); i++; continue; }
        INT_OPT("--input", one.input)
        INT_OPT("--hidden", one.hidden)
        INT_OPT("--layers", one.layers)
        INT_OPT("--bidirectional", one.bidir)
        INT_OPT("--batch", one.batch)
        INT_OPT("--steps", one.steps)
        INT_OPT("--classes", one.classes)
        INT_OPT("--iters", iters)
        INT_OPT("--warmup", warmup)
        INT_OPT("--threads", threads)
        if (!strcmp(a, "--cell")) { one.gru = !strcmp(v, "gru"); i++; continue; }
        if (!strcmp(a, "--mode")) { infer = !strcmp(v, "infer"); i++; continue; }
        if (!strcmp(a, "--config")) { only = v; i++; continue; }
        if (!strcmp(a, "--lengths-uniform") && i + 2 < argc) {
            one.len_lo = atoi(argv[i + 1]);
            one.len_hi = atoi(argv[i + 2]);
            i += 2;
            continue;
        }
        if (!strcmp(a, "--json")) { json = 1; continue; }
        if (!strcmp(a, "--no-peak")) { want_peak = 0; continue; }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(); return 0; }
        fprintf(stderr, "bench_rnn: unknown option '%s'\n", a);
        usage();
        return 2;
    }
    custom = one.input > 0;
    if (iters < 1 || one.batch < 1 || one.steps < 1 || one.hidden < 1 || one.layers < 1 || one.classes < 2 ||
        (one.len_hi && (one.len_lo < 1 || one.len_hi > one.steps || one.len_lo > one.len_hi))) {
        fprintf(stderr, "bench_rnn: invalid configuration\n");
        return 2;
    }
    vl_set_threads(threads);
    const char *ct = getenv("OPENBLAS_CORETYPE");
    double peak = want_peak ? sgemm_peak_gflops() : 0.0; /* 0 = not measured (JSON has no NaN) */
    if (!json)
        printf("# vidlstm %s  BLAS: %s  threads: %d  OPENBLAS_CORETYPE=%s  sgemm peak (2048^3): %.1f GFLOP/s\n"
               "# median over %d iterations after %d warm-up\n",
               vl_version(), vl_blas_name(), vl_get_threads(), ct ? ct : "(unset)", peak, iters, warmup);
    if (custom)
        return run(&one, iters, warmup, infer, json, peak);
    int rc = 0;
    for (size_t k = 0; k < sizeof standard / sizeof *standard; k++)
        if (!only || !strcmp(only, standard[k].name))
            rc |= run(&standard[k], iters, warmup, infer, json, peak);
    return rc;
}
