/* Synthetic feature-sequence datasets shared by test_train.c and
 * gen_seqdata.c (the CLI tests' data): tasks where single frames carry no
 * answer and only temporal structure does. Writes .npy files and manifests
 * under `dir`; everything is drawn from `rng` (seed it first). */
#ifndef VL_TESTS_SEQDATA_H
#define VL_TESTS_SEQDATA_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/rng.h"
#include "vidlstm.h"

static char dir[256];
static vl_rng rng;

static inline float gauss(void) { return (float)vl_rng_normal(&rng); }
static inline double unif(void) { return vl_rng_uniform(&rng); }

static inline void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static inline void write_feats(const char *name, int T, int D, const float *x)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int64_t shape[2] = {T, D};
    if (vl_npy_write(p, VL_NPY_F32, 2, shape, x))
        fprintf(stderr, "write %s: %s\n", p, vl_errmsg());
}

enum { D = 6 };

/* One frame showing pattern k (one-hot on 3 dims + 3 noise dims). */
static inline void frame(float *x, int k)
{
    for (int d = 0; d < D; d++)
        x[d] = 0.35f * gauss();
    x[k] += 1.0f;
}

/* Order task: cycle up (0,1,2) or down (0,2,1), each pattern held 1-3
 * frames, random start. */
static inline int order_seq(float *x, int up, int32_t *frame_lab, int tmin, int tmax)
{
    int T = tmin + (int)(unif() * (tmax - tmin + 1));
    int pos = (int)(unif() * 3), hold = 0;
    for (int t = 0; t < T; t++) {
        if (hold == 0) {
            pos = (pos + (up ? 1 : 2)) % 3;
            hold = 1 + (int)(unif() * 3);
        }
        hold--;
        frame(x + (size_t)t * D, pos);
        if (frame_lab)
            frame_lab[t] = up;
    }
    return T;
}

/* Order task: n clips (alternating classes), three clips per source video
 * (group), manifest with a header. */
static inline void make_order_set(const char *manifest, const char *prefix, int n)
{
    char path[512], line[256];
    snprintf(path, sizeof path, "%s/%s", dir, manifest);
    FILE *m = fopen(path, "w");
    fprintf(m, "path,label,group\n");
    float *x = malloc(sizeof(float) * 64 * D);
    for (int i = 0; i < n; i++) {
        int up = i % 2;
        int T = order_seq(x, up, NULL, 16, 40);
        snprintf(line, sizeof line, "%s%04d.npy", prefix, i);
        write_feats(line, T, D, x);
        fprintf(m, "%s,%s,vid%03d\n", line, up ? "up" : "down", i / 3); /* 3 clips per source video */
    }
    free(x);
    fclose(m);
}

/* Per-frame task: sequences of 60-100 frames made of 10-25-frame segments
 * that alternate between the up and down cycles; per-frame label files. */
static inline void make_frames_set(const char *manifest, const char *prefix, int n)
{
    char path[512], name[64], lab[64];
    snprintf(path, sizeof path, "%s/%s", dir, manifest);
    FILE *m = fopen(path, "w");
    float *x = malloc(sizeof(float) * 200 * D);
    int32_t fl[200];
    for (int i = 0; i < n; i++) {
        int T = 0, up = (int)(unif() * 2);
        while (T < 60) {
            int L = 10 + (int)(unif() * 16);
            if (T + L > 100)
                L = 100 - T;
            int got = 0, pos = (int)(unif() * 3);
            for (; got < L; got++) {
                pos = (pos + (up ? 1 : 2)) % 3;
                frame(x + (size_t)(T + got) * D, pos);
                fl[T + got] = up;
            }
            T += L;
            up = !up;
        }
        snprintf(name, sizeof name, "%s%03d.npy", prefix, i);
        write_feats(name, T, D, x);
        snprintf(lab, sizeof lab, "%s%03d.csv", prefix, i);
        char lp[512];
        snprintf(lp, sizeof lp, "%s/%s", dir, lab);
        FILE *lf = fopen(lp, "w");
        fprintf(lf, "frame,label\n");
        for (int t = 0; t < T; t++)
            fprintf(lf, "%d,%s\n", t, fl[t] ? "up" : "down");
        fclose(lf);
        fprintf(m, "%s,%s\n", name, lab);
    }
    fclose(m);
    free(x);
}

/* Regression: the frequency (x10) of a noisy sine/cosine pair, 30-49 steps. */
static inline void make_regress_set(const char *manifest, const char *prefix, int n)
{
    char path[512], name[64];
    snprintf(path, sizeof path, "%s/%s", dir, manifest);
    FILE *m = fopen(path, "w");
    float *x = malloc(sizeof(float) * 64 * D);
    for (int i = 0; i < n; i++) {
        double f = 0.03 + 0.17 * unif(), ph = 6.2831853 * unif();
        int T = 30 + (int)(unif() * 20);
        for (int t = 0; t < T; t++) {
            for (int d = 0; d < D; d++)
                x[t * D + d] = 0.1f * gauss();
            x[t * D + 0] += (float)sin(6.2831853 * f * t + ph);
            x[t * D + 1] += (float)cos(6.2831853 * f * t + ph);
        }
        snprintf(name, sizeof name, "%s%03d.npy", prefix, i);
        write_feats(name, T, D, x);
        fprintf(m, "%s,%.6f\n", name, 10.0 * f);
    }
    fclose(m);
    free(x);
}

#endif
