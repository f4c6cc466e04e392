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
 * gradients). The head and element-wise work are not counted.
 * That formula also counts the first layer's input gradient (2 * Nvalid * G *
 * D per direction), which neither we nor PyTorch compute (the input needs no
 * gradient), so "% of peak" on it overstates the work: the "done" figures
 * (gflops_done, frac_peak_done) subtract it. */
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

#ifdef _OPENMP
#include <omp.h>
#endif

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

/* The same with oneDNN's bf16 GEMM (fp32 accumulation): the machine's bf16
 * peak, 0 where the CPU has no native bf16. */
static double bf16_peak_gflops(void)
{
    if (!vl_gemm_bf16_available())
        return 0.0;
    const int n = 2048;
    uint16_t *a = vl_alloc(sizeof(uint16_t) * n * n), *b = vl_alloc(sizeof(uint16_t) * n * n);
    float *c = vl_alloc(sizeof(float) * n * n), *tmp = vl_alloc(sizeof(float) * n * n);
    for (size_t i = 0; i < (size_t)n * n; i++)
        tmp[i] = (float)(i % 7) * 0.1f;
    vl_bf16_from_f32((size_t)n * n, tmp, a);
    vl_bf16_from_f32((size_t)n * n, tmp, b);
    double t[7];
    for (int r = 0; r < 8; r++) {
        double t0 = now_s();
        vl_gemm_bf16(false, true, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        if (r > 0)
            t[r - 1] = now_s() - t0;
    }
    vl_free(a);
    vl_free(b);
    vl_free(c);
    vl_free(tmp);
    return 2.0 * n * (double)n * n / median(t, 7) / 1e9;
}

static int bf16_mode; /* --precision bf16 */

/* --gemm-shapes: the GEMMs of one training step of a one-layer configuration,
 * each timed alone (median of 15, after 2 warm-ups) with the engine's
 * threading, as GFLOP/s and fraction of the peak measured beside them: which
 * shapes lose against the 2048^3 peak. Per-step products run as the engine
 * runs them: one parallel region, each thread its column slice. */
typedef struct {
    const char *what;
    int ta, tb, M, N, K, split, calls; /* split: per-step product split by columns over threads */
} gemm_shape;

static double time_shape(const gemm_shape *g, const float *A, const float *B, float *C)
{
    double t[15];
    for (int r = 0; r < 17; r++) {
        double t0 = now_s();
        for (int c = 0; c < g->calls; c++) {
            if (!g->split) {
                vl_sgemm(g->ta, g->tb, g->M, g->N, g->K, 1.0f, A, g->ta ? g->M : g->K, B, g->tb ? g->K : g->N, 1.0f,
                         C, g->N);
                continue;
            }
#pragma omp parallel
            {
#ifdef _OPENMP
                int nt = omp_get_num_threads(), id = omp_get_thread_num();
#else
                int nt = 1, id = 0;
#endif
                int chunk = ((g->N + nt - 1) / nt + 15) / 16 * 16, a = id * chunk, b = a + chunk;
                b = b < g->N ? b : g->N;
                if (b > a)
                    vl_sgemm(false, false, g->M, b - a, g->K, 1.0f, A, g->K, B + a, g->N, 1.0f, C + a, g->N);
            }
        }
        if (r >= 2)
            t[r - 2] = now_s() - t0;
    }
    return 2.0 * g->M * (double)g->N * g->K * g->calls / median(t, 15) / 1e9;
}

static int gemm_shapes(const bench_cfg *bc, double peak)
{
    const int D = bc->input, H = bc->hidden, G = (bc->gru ? 3 : 4) * H, N = bc->batch * bc->steps, Bt = bc->batch;
    const gemm_shape sh[] = {
        {"input projection x W_ih^T (NT)", 0, 1, N, G, D, 0, 1},
        {"recurrent step h W_hh^T (NN, split)", 0, 0, Bt, G, H, 1, bc->steps},
        {"recurrent step h W_hh^T (NN, BLAS-threaded)", 0, 0, Bt, G, H, 0, bc->steps},
        {"backward step dG W_hh (NN, split)", 0, 0, Bt, H, G, 1, bc->steps},
        {"weight gradient dG^T x (TN)", 1, 0, G, D, N, 0, 1},
        {"weight gradient dG^T h (TN)", 1, 0, G, H, N, 0, 1},
    };
    size_t big = (size_t)(N > G ? N : G) * (size_t)(D > G ? (D > H ? D : H) : G);
    float *A = vl_alloc(sizeof(float) * big), *B = vl_alloc(sizeof(float) * big), *C = vl_alloc(sizeof(float) * big);
    for (size_t i = 0; i < big; i++) {
        A[i] = (float)(i % 7) * 0.01f;
        B[i] = (float)(i % 5) * 0.01f;
        C[i] = 0.0f;
    }
    printf("# (%s) GEMM shapes of a training step; peak %.1f GFLOP/s\n", bc->name, peak);
    for (size_t k = 0; k < sizeof sh / sizeof *sh; k++) {
        double gf = time_shape(&sh[k], A, B, C);
        printf("(%s) %-45s %5d x %5d x %5d  x%-3d %7.1f GFLOP/s  %5.1f%% of peak\n", bc->name, sh[k].what, sh[k].M,
               sh[k].N, sh[k].K, sh[k].calls, gf, peak > 0 ? 100.0 * gf / peak : 0.0);
    }
    vl_free(A);
    vl_free(B);
    vl_free(C);
    return 0;
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
    const char *prec = "fp32";
    if (bf16_mode)
        prec = vl_net_set_rnn_precision(net, VL_RNN_BF16) == VL_RNN_BF16 ? "bf16" : "fp32 (no bf16 here)";
    if (infer && bf16_mode)
        prec = "fp32 (inference is fp32)";
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
    double flops_done = flops;
    if (!infer) {
        flops *= 3.0;
        double g = (bc->gru ? 3.0 : 4.0) * bc->hidden;
        flops_done = flops - (bc->bidir ? 2.0 : 1.0) * 2.0 * (double)nvalid * g * bc->input;
    }

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
    double gf = flops / med / 1e9, gfd = flops_done / med / 1e9;
    if (json)
        printf("{\"impl\": \"vidlstm\", \"variant\": \"vidlstm\", \"config\": \"%s\", \"cell\": \"%s\", \"input\": %d, "
               "\"hidden\": %d, \"layers\": %d, \"bidirectional\": %d, \"batch\": %d, \"steps\": %d, \"classes\": %d, "
               "\"lengths\": \"%s\", \"threads\": %d, \"mode\": \"%s\", \"precision\": \"%s\", \"median_ms\": %.3f, \"seq_per_s\": %.1f, "
               "\"gflops\": %.1f, \"peak_gflops\": %.1f, \"frac_peak\": %.3f, \"gflops_done\": %.1f, \"frac_peak_done\": %.3f, "
               "\"peak_rss_mb\": %.1f}\n",
               bc->name, bc->gru ? "gru" : "lstm", bc->input, bc->hidden, bc->layers, bc->bidir, bc->batch, bc->steps,
               bc->classes, bc->len_hi ? "uniform" : "fixed", vl_get_threads(), infer ? "infer" : "train", prec, med * 1e3,
               bc->batch / med, gf, peak, peak > 0 ? gf / peak : 0.0, gfd, peak > 0 ? gfd / peak : 0.0, peak_rss_mb());
    else
        printf("(%s) %s in=%d hid=%d L=%d bi=%d B=%d T=%d C=%d%s %s %s: median %.2f ms  %.0f seq/s  %.1f GFLOP/s  "
               "(%.0f%% of peak; work done %.1f GFLOP/s, %.0f%%)  peak RSS %.0f MB\n",
               bc->name, bc->gru ? "GRU" : "LSTM", bc->input, bc->hidden, bc->layers, bc->bidir, bc->batch, bc->steps,
               bc->classes, bc->len_hi ? " lengths U[lo,hi]" : "", infer ? "infer" : "train", prec, med * 1e3,
               bc->batch / med, gf, peak > 0 ? 100.0 * gf / peak : 0.0, gfd, peak > 0 ? 100.0 * gfd / peak : 0.0,
               peak_rss_mb());
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
         "                 [--precision fp32|bf16]   bf16: the recurrent GEMMs in bf16 (training)\n"
         "       bench_rnn --gemm-shapes [--config a|b|d]   time each GEMM shape of a training step\n"
         "Without --config or --input, runs the standard configurations (a)-(e).");
}

int main(int argc, char **argv)
{
    bench_cfg one = {"custom", 0, 256, 1, 0, 0, 32, 60, 2, 0, 0};
    const char *only = NULL;
    int iters = 20, warmup = 3, threads = 2, json = 0, infer = 0, custom = 0, want_peak = 1, shapes = 0;
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
        if (!strcmp(a, "--gemm-shapes")) { shapes = 1; continue; }
        if (!strcmp(a, "--precision")) { bf16_mode = !strcmp(v, "bf16"); i++; continue; }
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
    double peak16 = want_peak ? bf16_peak_gflops() : 0.0;
    if (!json)
        printf("# vidlstm %s  BLAS: %s  threads: %d  OPENBLAS_CORETYPE=%s  sgemm peak (2048^3): %.1f GFLOP/s  "
               "bf16 GEMM peak (2048^3, fp32 accumulation): %.1f GFLOP/s%s\n"
               "# median over %d iterations after %d warm-up\n",
               vl_version(), vl_blas_name(), vl_get_threads(), ct ? ct : "(unset)", peak, peak16,
               vl_gemm_bf16_available() ? "" : " (no native bf16)", iters, warmup);
    if (bf16_mode && vl_gemm_bf16_available())
        peak = peak16; /* a bf16 run's fraction of peak is against the bf16 peak */
    if (shapes) {
        for (size_t k = 0; k < sizeof standard / sizeof *standard; k++)
            if ((!only || !strcmp(only, standard[k].name)) && standard[k].layers == 1 && !standard[k].len_hi)
                gemm_shapes(&standard[k], peak);
        return 0;
    }
    if (custom)
        return run(&one, iters, warmup, infer, json, peak);
    int rc = 0;
    for (size_t k = 0; k < sizeof standard / sizeof *standard; k++)
        if (!only || !strcmp(only, standard[k].name))
            rc |= run(&standard[k], iters, warmup, infer, json, peak);
    return rc;
}
