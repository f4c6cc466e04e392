/* Data-parallel training throughput and communication (issue 14; BENCHMARKS.md).
 * Run it as one process or under mpirun (an MPI build):
 *
 *   bench_mpi [--hidden 256] [--input 512] [--batch 32] [--items 512] [--epochs 2] [--repeats 3] [--threads T]
 *
 * Trains an LSTM (config (b) of bench_rnn: input 512, hidden 256, clips of
 * 20-60 steps, 2 classes) with vl_train's data-parallel path (.dist = 1) on
 * an in-memory set, and prints one JSON line (rank 0): ranks, threads, global
 * batch, the median over repeats of ms per step and clips per second, the
 * gradient bytes each rank sends into MPI_Allreduce per step and the time
 * spent inside it per step (that includes waiting for the slowest rank),
 * and the allreduce alone: the median of 50 reductions of the gradient
 * buffer right after a barrier (no waiting, just the transfer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "dist/dist.h"
#include "train/dataset.h"
#include "train/trainer.h"
#include "vidlstm.h"

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

int main(int argc, char **argv)
{
    int input = 512, hidden = 256, batch = 32, items = 512, epochs = 2, repeats = 3, threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--input")) input = v;
        else if (!strcmp(argv[i], "--hidden")) hidden = v;
        else if (!strcmp(argv[i], "--batch")) batch = v;
        else if (!strcmp(argv[i], "--items")) items = v;
        else if (!strcmp(argv[i], "--epochs")) epochs = v;
        else if (!strcmp(argv[i], "--repeats")) repeats = v;
        else if (!strcmp(argv[i], "--threads")) threads = v;
        else {
            fprintf(stderr, "bench_mpi: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (vl_dist_init()) {
        fprintf(stderr, "bench_mpi: %s\n", vl_errmsg());
        return 1;
    }
    if (threads)
        vl_set_threads(threads);
    const int R = vl_dist_rank(), P = vl_dist_size();
    static const char *cls[2] = {"a", "b"};
    vl_dataset d = {.source = "bench", .D = input, .task = VL_TASK_CLASSIFY, .mode = VL_OUT_LAST, .n = items,
                    .cap = items, .nclasses = 2, .classes = (char **)cls};
    d.items = calloc((size_t)items, sizeof *d.items);
    vl_rng r;
    vl_rng_seed(&r, 1);
    int *tr = malloc(sizeof(int) * (size_t)items);
    for (int i = 0; i < items; i++) {
        vl_seq *s = &d.items[i];
        s->T = 20 + (int)vl_rng_below(&r, 41);
        s->path = malloc(16);
        snprintf(s->path, 16, "c%d", i);
        s->x = malloc(sizeof(float) * (size_t)s->T * input);
        for (size_t k = 0; k < (size_t)s->T * input; k++)
            s->x[k] = (float)vl_rng_normal(&r);
        s->label = (int32_t)vl_rng_below(&r, 2);
        tr[i] = i;
    }
    vl_net_config cfg = {.input = input, .outputs = 2, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, hidden, 0);
    vl_train_opts o = {.batch = batch, .epochs = epochs, .shuffle = VL_SHUFFLE_EVERY_EPOCH, .bucket = 1, .seed = 3,
                       .keep_last = 1, .dist = 1,
                       .opt = {.kind = VL_OPT_ADAM, .lr = 1e-3f, .clip = VL_CLIP_GLOBAL_L2NORM, .clip_threshold = 1}};
    double *ms = malloc(sizeof(double) * (size_t)repeats), *cps = malloc(sizeof(double) * (size_t)repeats);
    double *comm_ms = malloc(sizeof(double) * (size_t)repeats);
    double bytes_step = 0;
    size_t nscalars = 0;
    for (int rep = -1; rep < repeats; rep++) { /* rep -1: warm-up */
        vl_net *net = NULL;
        if (vl_net_create(&cfg, 7, &net)) {
            fprintf(stderr, "bench_mpi: %s\n", vl_errmsg());
            return 1;
        }
        nscalars = vl_net_param_count(net);
        vl_train_result res = {0};
        vl_dist_barrier();
        vl_dist_reset_stats();
        double t0 = now_s();
        if (vl_train(net, &d, tr, items, &d, NULL, 0, &o, &res)) {
            fprintf(stderr, "bench_mpi: %s\n", vl_errmsg());
            return 1;
        }
        double dt = now_s() - t0;
        vl_dist_stats st;
        vl_dist_get_stats(&st);
        if (rep >= 0) {
            ms[rep] = 1e3 * dt / res.iterations;
            cps[rep] = (double)items * epochs / dt;
            comm_ms[rep] = 1e3 * st.seconds / res.iterations;
            bytes_step = st.calls ? st.bytes / st.calls : 0;
        }
        vl_train_result_free(&res);
        vl_net_free(net);
    }
    /* the transfer alone: the gradient buffer's size, after a barrier */
    double ar[50];
    float *g = calloc(nscalars + 64, sizeof(float));
    for (int k = 0; k < 50; k++) {
        vl_dist_barrier();
        double t0 = now_s();
        vl_dist_sum_f32(g, nscalars);
        ar[k] = 1e3 * (now_s() - t0);
    }
    if (R == 0)
        printf("{\"bench\":\"mpi_train\",\"ranks\":%d,\"threads\":%d,\"input\":%d,\"hidden\":%d,\"batch\":%d,"
               "\"params\":%zu,\"step_ms\":%.3f,\"clips_per_s\":%.1f,\"allreduce_bytes_per_step\":%.0f,"
               "\"allreduce_ms_per_step_in_training\":%.3f,\"allreduce_ms_alone\":%.4f,\"mpi\":\"%s\"}\n",
               P, vl_get_threads(), input, hidden, batch, nscalars, median(ms, repeats), median(cps, repeats),
               bytes_step, median(comm_ms, repeats), P > 1 ? median(ar, 50) : 0.0, vl_dist_library());
    free(g);
    vl_dist_finalize();
    return 0;
}
