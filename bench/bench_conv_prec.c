/* Kernel-level ceiling for reduced precision: the convolutions of ResNet-18
 * (224x224 input; the network's FLOPs are >98% in them) timed as lone oneDNN
 * primitives in f32 (Winograd where vidlstm's fp32 path takes it, else
 * direct), bf16 (bf16 src/weights/dst, f32 bias) and int8 (u8 src, s8
 * weights with per-channel scales, u8 dst, as a calibrated int8 network would
 * run them), every layout left to oneDNN. Conversions between layers,
 * calibration and the fused residual additions are NOT included: the int8
 * figure is an upper bound on what an int8 mode could gain (issue 13 item 3).
 *   bench_conv_prec [--batch 16] [--iters 10] [--threads 2] [--json]
 * Prints per-layer medians and the totals with ratios. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>

#include "vidlstm.h"

typedef struct {
    const char *name;
    int ic, oc, ih, k, s, p, count; /* count: how many such layers */
} layer;

static const layer R18[] = {
    {"conv1 7x7/2", 3, 64, 224, 7, 2, 3, 1},      {"layer1 3x3", 64, 64, 56, 3, 1, 1, 4},
    {"layer2 3x3/2", 64, 128, 56, 3, 2, 1, 1},    {"layer2 3x3", 128, 128, 28, 3, 1, 1, 3},
    {"layer2 ds 1x1/2", 64, 128, 56, 1, 2, 0, 1}, {"layer3 3x3/2", 128, 256, 28, 3, 2, 1, 1},
    {"layer3 3x3", 256, 256, 14, 3, 1, 1, 3},     {"layer3 ds 1x1/2", 128, 256, 28, 1, 2, 0, 1},
    {"layer4 3x3/2", 256, 512, 14, 3, 2, 1, 1},   {"layer4 3x3", 512, 512, 7, 3, 1, 1, 3},
    {"layer4 ds 1x1/2", 256, 512, 14, 1, 2, 0, 1},
};

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

/* Median seconds of one convolution in the given types; 0 when oneDNN has no
 * implementation. impl receives its name. */
static double time_conv(dnnl_engine_t eng, dnnl_stream_t strm, const layer *L, int N, dnnl_data_type_t sdt,
                        dnnl_data_type_t wdt, dnnl_data_type_t ddt, int wino, int iters, char *impl, size_t implen)
{
    int oh = (L->ih + 2 * L->p - L->k) / L->s + 1;
    dnnl_dims_t sd = {N, L->ic, L->ih, L->ih}, wd = {L->oc, L->ic, L->k, L->k}, bd = {L->oc}, dd = {N, L->oc, oh, oh};
    dnnl_dims_t st = {L->s, L->s}, pad = {L->p, L->p}, dil = {0, 0};
    dnnl_memory_desc_t src, wei, bia, dst;
    dnnl_memory_desc_init_by_tag(&src, 4, sd, sdt, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&wei, 4, wd, wdt, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&bia, 1, bd, dnnl_f32, dnnl_a);
    dnnl_memory_desc_init_by_tag(&dst, 4, dd, ddt, dnnl_format_tag_any);
    dnnl_convolution_desc_t cd;
    if (wino ? dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_winograd, &src, &wei,
                                                  &bia, &dst, st, pad, pad)
             : dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src,
                                                          &wei, &bia, &dst, st, dil, pad, pad))
        return 0;
    dnnl_primitive_attr_t attr;
    dnnl_primitive_attr_create(&attr);
    float *scales = NULL;
    if (sdt == dnnl_u8) { /* per-output-channel requantisation, as calibration would give */
        scales = malloc(sizeof(float) * (size_t)L->oc);
        for (int c = 0; c < L->oc; c++) scales[c] = 0.01f + 0.0001f * (float)c;
        dnnl_primitive_attr_set_output_scales(attr, L->oc, 1 << 1, scales);
    }
    dnnl_post_ops_t po;
    dnnl_post_ops_create(&po);
    dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_desc_t pd;
    dnnl_status_t s = dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    free(scales);
    if (s != dnnl_success)
        return 0;
    const char *in = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &in);
    snprintf(impl, implen, "%s", in ? in : "?");
    const dnnl_memory_desc_t *mds[4] = {dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
                                        dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0),
                                        dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1),
                                        dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0)};
    int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST};
    dnnl_memory_t mem[5];
    dnnl_exec_arg_t ea[5];
    for (int i = 0; i < 4; i++) {
        dnnl_memory_create(&mem[i], mds[i], eng, DNNL_MEMORY_ALLOCATE);
        void *h;
        dnnl_memory_get_data_handle(mem[i], &h);
        memset(h, 1, dnnl_memory_desc_get_size(mds[i])); /* values don't change the work */
        ea[i] = (dnnl_exec_arg_t){args[i], mem[i]};
    }
    int na = 4;
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && dnnl_memory_desc_get_size(smd)) {
        dnnl_memory_create(&mem[4], smd, eng, DNNL_MEMORY_ALLOCATE);
        ea[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mem[4]};
    }
    dnnl_primitive_t prim;
    dnnl_primitive_create(&prim, pd);
    double t[1000];
    for (int i = -2; i < iters; i++) {
        double t0 = now_s();
        dnnl_primitive_execute(prim, strm, na, ea);
        dnnl_stream_wait(strm);
        if (i >= 0) t[i] = now_s() - t0;
    }
    qsort(t, (size_t)iters, sizeof *t, cmpd);
    dnnl_primitive_destroy(prim);
    dnnl_primitive_desc_destroy(pd);
    for (int i = 0; i < na; i++) dnnl_memory_destroy(mem[i]);
    return t[iters / 2];
}

int main(int argc, char **argv)
{
    int batch = 16, iters = 10, threads = 2, json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json")) json = 1;
        else {
            fprintf(stderr, "usage: bench_conv_prec [--batch B] [--iters N] [--threads T] [--json]\n");
            return 2;
        }
    }
    if (iters < 1 || iters > 1000) iters = 10;
    vl_set_threads(threads); /* OpenMP threads, as the library sets them */
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) || dnnl_stream_create(&strm, eng, dnnl_stream_default_flags)) {
        fprintf(stderr, "bench_conv_prec: no oneDNN CPU engine\n");
        return 1;
    }
    double tot[3] = {0, 0, 0};
    int missing[3] = {0, 0, 0};
    if (!json)
        printf("# ResNet-18 convolutions, batch %d, %d threads, oneDNN effective ISA 0x%x; ms per layer (median of %d)\n",
               batch, threads, (unsigned)dnnl_get_effective_cpu_isa(), iters);
    for (size_t l = 0; l < sizeof R18 / sizeof *R18; l++) {
        const layer *L = &R18[l];
        double t[3];
        char impl[3][128];
        int wino = L->k == 3 && L->s == 1 && !getenv("VL_ONNX_NO_WINOGRAD");
        t[0] = wino ? time_conv(eng, strm, L, batch, dnnl_f32, dnnl_f32, dnnl_f32, 1, iters, impl[0], sizeof impl[0]) : 0;
        if (!t[0]) t[0] = time_conv(eng, strm, L, batch, dnnl_f32, dnnl_f32, dnnl_f32, 0, iters, impl[0], sizeof impl[0]);
        t[1] = time_conv(eng, strm, L, batch, dnnl_bf16, dnnl_bf16, dnnl_bf16, 0, iters, impl[1], sizeof impl[1]);
        /* the first layer sees the signed, normalised image: s8 there */
        t[2] = time_conv(eng, strm, L, batch, l == 0 ? dnnl_s8 : dnnl_u8, dnnl_s8, dnnl_u8, 0, iters, impl[2],
                         sizeof impl[2]);
        if (l == 0 && !t[2])
            t[2] = time_conv(eng, strm, L, batch, dnnl_u8, dnnl_s8, dnnl_u8, 0, iters, impl[2], sizeof impl[2]);
        for (int k = 0; k < 3; k++) {
            if (t[k]) tot[k] += t[k] * L->count;
            else missing[k]++, snprintf(impl[k], sizeof impl[k], "none");
        }
        if (json)
            printf("{\"layer\": \"%s\", \"count\": %d, \"batch\": %d, \"f32_ms\": %.3f, \"bf16_ms\": %.3f, "
                   "\"int8_ms\": %.3f, \"f32_impl\": \"%s\", \"bf16_impl\": \"%s\", \"int8_impl\": \"%s\"}\n",
                   L->name, L->count, batch, t[0] * 1e3, t[1] * 1e3, t[2] * 1e3, impl[0], impl[1], impl[2]);
        else
            printf("%-16s x%d  f32 %8.3f (%s)  bf16 %8.3f (%s)  int8 %8.3f (%s)\n", L->name, L->count, t[0] * 1e3,
                   impl[0], t[1] * 1e3, impl[1], t[2] * 1e3, impl[2]);
    }
    if (json)
        printf("{\"total\": true, \"batch\": %d, \"threads\": %d, \"f32_ms\": %.2f, \"bf16_ms\": %.2f, \"int8_ms\": %.2f}\n",
               batch, threads, tot[0] * 1e3, tot[1] * 1e3, tot[2] * 1e3);
    else
        printf("total (all %s convolutions): f32 %.2f ms, bf16 %.2f ms, int8 %.2f ms; bf16/f32 speed %.2fx, int8/f32 "
               "%.2fx, int8/bf16 %.2fx%s\n",
               "20", tot[0] * 1e3, tot[1] * 1e3, tot[2] * 1e3, tot[0] / tot[1], tot[0] / tot[2], tot[1] / tot[2],
               missing[0] + missing[1] + missing[2] ? " (some layers had no implementation: see 'none')" : "");
    dnnl_stream_destroy(strm);
    dnnl_engine_destroy(eng);
    return 0;
}
