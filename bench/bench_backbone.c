/* CNN backbone throughput: frames/s of an ONNX model up to its feature tensor.
 *   bench_backbone MODEL.onnx [--batch 16] [--iters 10] [--size 224] [--threads 2] [--tap NAME] [--json]
 *                  [--precision fp32|bf16|int8] [--input X.npy]
 * Input is random (values don't change the work), or the images in X.npy
 * ([n, 3, size, size] float32, repeated to fill the batch). With a precision
 * other than fp32 it also reports the features' relative error
 * ||f - f_fp32|| / ||f_fp32|| against a second, fp32 instance on that input. bench/run_backbone_bench.sh
 * runs it next to PyTorch and ONNX Runtime on the same files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>

#include "vidlstm.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: bench_backbone MODEL.onnx [--batch B] [--iters N] [--size S] [--threads T] [--tap NAME] [--json]\n",
              stderr);
        return 2;
    }
    int batch = 16, iters = 10, size = 224, threads = 2, json = 0;
    const char *tap = NULL, *prec = "fp32", *input = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tap") && i + 1 < argc) tap = argv[++i];
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc) prec = argv[++i];
        else if (!strcmp(argv[i], "--input") && i + 1 < argc) input = argv[++i];
        else { fprintf(stderr, "bench_backbone: unknown option %s\n", argv[i]); return 2; }
    }
    if (iters < 1 || iters > 1000) iters = 10;
    vl_set_threads(threads);
    vl_onnx *m;
    if (vl_onnx_load(argv[1], &m)) {
        fprintf(stderr, "bench_backbone: %s\n", vl_errmsg());
        return 1;
    }
    vl_precision p;
    if (vl_precision_parse(prec, &p) || vl_onnx_set_precision(m, p)) {
        fprintf(stderr, "bench_backbone: %s\n", vl_errmsg());
        return 1;
    }
    if (vl_onnx_precision_note(m))
        fprintf(stderr, "bench_backbone: note: %s\n", vl_onnx_precision_note(m));
    if (!tap) tap = vl_onnx_default_tap(m);
    int64_t shape[4] = {batch, 3, size, size};
    int dnd;
    int64_t ds[VL_ONNX_MAXDIM];
    vl_onnx_input_name(m, &dnd, ds);
    if (dnd == 4 && ds[3] == 3 && ds[1] != 3) /* NHWC input (vidlstm import-tfjs) */
        shape[1] = size, shape[3] = 3;
    size_t n = (size_t)batch * 3 * size * size;
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    if (input) {
        vl_npy a;
        if (vl_npy_read(input, &a)) {
            fprintf(stderr, "bench_backbone: %s\n", vl_errmsg());
            return 1;
        }
        size_t per = (size_t)3 * size * size;
        if (a.dtype != VL_NPY_F32 || a.count < (int64_t)per || a.count % (int64_t)per) {
            fprintf(stderr, "bench_backbone: %s: expected float32 [n, 3, %d, %d]\n", input, size, size);
            return 1;
        }
        for (size_t i = 0; i < n; i++) x[i] = ((const float *)a.data)[i % (size_t)a.count];
        vl_npy_free(&a);
    }
    const float *y;
    int nd;
    int64_t os[VL_ONNX_MAXDIM];
    double t[1000];
    for (int i = -2; i < iters; i++) { /* two warm-up runs plan and touch all buffers */
        double t0 = now_s();
        if (vl_onnx_run(m, x, 4, shape, tap, &y, &nd, os)) {
            fprintf(stderr, "bench_backbone: %s\n", vl_errmsg());
            return 1;
        }
        if (i >= 0) t[i] = now_s() - t0;
    }
    qsort(t, (size_t)iters, sizeof *t, cmpd);
    double med = t[iters / 2];
    double relerr = -1.0; /* features against fp32 on the same input */
    if (vl_onnx_precision(m) != VL_PREC_FP32) {
        int64_t cnt = 1;
        for (int d = 0; d < nd; d++) cnt *= os[d];
        float *f = malloc(sizeof(float) * (size_t)cnt);
        memcpy(f, y, sizeof(float) * (size_t)cnt);
        vl_onnx *r;
        const float *y32;
        if (vl_onnx_load(argv[1], &r) || vl_onnx_run(r, x, 4, shape, tap, &y32, &nd, os)) {
            fprintf(stderr, "bench_backbone: %s\n", vl_errmsg());
            return 1;
        }
        double num = 0, den = 0;
        for (int64_t i = 0; i < cnt; i++) {
            double e = (double)f[i] - y32[i];
            num += e * e;
            den += (double)y32[i] * y32[i];
        }
        relerr = den > 0 ? sqrt(num / den) : 0.0;
        free(f);
        vl_onnx_free(r);
    }
    const char *pn = vl_precision_name(vl_onnx_precision(m));
    if (json) {
        printf("{\"impl\": \"vidlstm\", \"model\": \"%s\", \"batch\": %d, \"size\": %d, \"threads\": %d, \"tap\": \"%s\", "
               "\"precision\": \"%s\", \"median_ms\": %.2f, \"frames_per_s\": %.1f, \"min_ms\": %.2f", argv[1], batch, size,
               threads, tap, pn, med * 1e3, batch / med, t[0] * 1e3);
        if (relerr >= 0) printf(", \"relerr_vs_fp32\": %.3g", relerr);
        printf("}\n");
    } else {
        printf("vidlstm %s batch %d: median %.1f ms, %.1f frames/s (tap %s, %s, BLAS %s, %d threads)", argv[1], batch,
               med * 1e3, batch / med, tap, pn, vl_blas_name(), threads);
        if (relerr >= 0) printf(", features' relative error against fp32 %.3g", relerr);
        printf("\n");
    }
    free(x);
    vl_onnx_free(m);
    return 0;
}
