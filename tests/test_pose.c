/* The pose backbone (src/backbone/pose.c, docs/backbones.md "Pose").
 *
 *   test_pose FIXTURES          decoding on synthetic heads, the feature layout, the
 *                               no-person fill, the missing-package error (always)
 *   test_pose FIXTURES parity   MoveNet Lightning and Thunder from the npm package
 *                               against TF.js running the whole original model
 *                               (tests/tfjs/pose_fixtures.js): exit 77 (skip) when
 *                               the package is absent
 *
 * Tolerances against TF.js: keypoint coordinates (0..1 of the input square)
 * 1e-3, scores 1e-4, absolute. Our heads differ from TF.js's by ~2.6e-5
 * relative (the converted trunk); the decoding picks cells by ArgMax, so two
 * cells within that much of each other could be picked differently (a jump of
 * at least one cell, 1/48 of the image: far outside the tolerance, so such a
 * tie would fail loudly rather than pass unnoticed). */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backbone/backbone.h"
#include "backbone/pose.h"
#include "backbone/registry.h"
#include "check.h"
#include "vidlstm.h"

#define NFRAMES 5

/* the frames pose_fixtures.js builds, as floats 0..255, NHWC */
static void make_frame(int k, int M, const uint8_t *S, float *px)
{
    memset(px, 0, sizeof(float) * (size_t)M * M * 3);
    for (int y = 0; y < M; y++)
        for (int x = 0; x < M; x++) {
            int sy = -1, sx = -1;
            if (k == 0)
                sy = y * 96 / M, sx = x * 96 / M;
            else if (k == 1)
                sy = y * 96 / M, sx = 95 - x * 96 / M;
            else if (k == 2)
                sy = 8 + y * 64 / M, sx = 16 + x * 64 / M;
            else if (k == 3) {
                const int H = M / 2, x0[2] = {0, M / 2}, y0[2] = {M / 8, M / 4};
                for (int j = 0; j < 2; j++)
                    if (x >= x0[j] && x < x0[j] + H && y >= y0[j] && y < y0[j] + H)
                        sy = (y - y0[j]) * 96 / H, sx = (x - x0[j]) * 96 / H;
            }
            if (sy >= 0)
                for (int c = 0; c < 3; c++)
                    px[((size_t)y * M + x) * 3 + c] = S[((size_t)sy * 96 + sx) * 3 + c];
        }
}

static int all_finite(const float *v, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

/* Heads with one person: centre at cell (20, 30), keypoint k regressed to
 * (10 + k, 5 + 2k) and its heatmap peaking there; a stronger heatmap peak far
 * from the regressed position must lose to the distance weighting. */
static void test_decode(void)
{
    const int G = 48;
    const size_t P = (size_t)G * G;
    float *h = calloc(VL_POSE_HEADS * P, sizeof(float));
    h[20 * G + 30] = 0.9f;
    h[2 * G + 2] = 0.5f; /* a weaker centre elsewhere */
    for (int k = 0; k < VL_POSE_KPTS; k++) {
        float *hm = h + (1 + k) * P, *rg = h + (18 + 2 * k) * P, *of = h + (52 + 2 * k) * P;
        rg[20 * G + 30] = (float)(10 + k) - 20.0f + 0.3f; /* dy from the centre */
        (rg + P)[20 * G + 30] = (float)(5 + 2 * k) - 30.0f - 0.2f;
        hm[(10 + k) * G + 5 + 2 * k] = 0.6f;
        hm[47 * G + 47] = 0.8f; /* stronger, but 30+ cells away */
        of[(10 + k) * G + 5 + 2 * k] = 0.25f;
        (of + P)[(10 + k) * G + 5 + 2 * k] = -0.5f;
    }
    float kp[3 * VL_POSE_KPTS];
    vl_pose_decode(h, G, 1.0f / 48, kp);
    int ok = 1;
    for (int k = 0; k < VL_POSE_KPTS; k++)
        ok &= fabsf(kp[3 * k] - (10 + k + 0.25f) / 48) < 1e-6f && fabsf(kp[3 * k + 1] - (5 + 2 * k - 0.5f) / 48) < 1e-6f &&
              kp[3 * k + 2] == 0.6f;
    CHECK(ok, "decoded keypoints: kp0 (%g, %g, %g)", kp[0], kp[1], kp[2]);
    free(h);
}

static void test_features(void)
{
    float kp[3 * VL_POSE_KPTS], f[VL_POSE_DIM];
    /* a person: keypoints on a line, all confident except keypoint 16 (far away) */
    for (int k = 0; k < VL_POSE_KPTS; k++) {
        kp[3 * k] = 0.2f + 0.025f * k;     /* y: 0.2 .. 0.6 */
        kp[3 * k + 1] = 0.4f + 0.005f * k; /* x: 0.4 .. 0.48 */
        kp[3 * k + 2] = 0.8f;
    }
    kp[3 * 16] = 0.95f, kp[3 * 16 + 1] = 0.95f, kp[3 * 16 + 2] = 0.1f; /* below VL_POSE_KP_MIN: not in the box */
    vl_pose_features(kp, f);
    const float x0 = 0.4f, x1 = 0.4f + 0.005f * 15, y0 = 0.2f, y1 = 0.2f + 0.025f * 15;
    const float cx = (x0 + x1) / 2, cy = (y0 + y1) / 2, s = y1 - y0;
    CHECK(fabsf(f[VL_POSE_BOX] - cx) < 1e-6f && fabsf(f[VL_POSE_BOX + 1] - cy) < 1e-6f &&
              fabsf(f[VL_POSE_BOX + 2] - (x1 - x0)) < 1e-6f && fabsf(f[VL_POSE_BOX + 3] - (y1 - y0)) < 1e-6f,
          "box %g %g %g %g", f[VL_POSE_BOX], f[VL_POSE_BOX + 1], f[VL_POSE_BOX + 2], f[VL_POSE_BOX + 3]);
    CHECK(fabsf(f[VL_POSE_XY] - (x0 - cx) / s) < 1e-5f && fabsf(f[VL_POSE_XY + 1] - (y0 - cy) / s) < 1e-5f,
          "keypoint 0 (%g, %g)", f[0], f[1]);
    CHECK(fabsf(f[VL_POSE_XY + 1] + 0.5f) < 1e-5f && fabsf(f[VL_POSE_XY + 2 * 15 + 1] - 0.5f) < 1e-5f,
          "box-normalised y spans -0.5 .. 0.5: %g %g", f[1], f[31]);
    CHECK(fabsf(f[VL_POSE_XY + 32] - (0.95f - cx) / s) < 1e-5f, "a weak keypoint keeps its position: %g", f[32]);
    CHECK(f[VL_POSE_SCORE] == 0.8f && f[VL_POSE_SCORE + 16] == 0.1f, "scores %g %g", f[VL_POSE_SCORE],
          f[VL_POSE_SCORE + 16]);
    CHECK(fabsf(f[VL_POSE_PERSON] - (16 * 0.8f + 0.1f) / 17) < 1e-6f, "person score %g", f[VL_POSE_PERSON]);
    /* the same pose elsewhere and larger: the person-relative block does not change */
    float g[VL_POSE_DIM], kp2[3 * VL_POSE_KPTS];
    for (int k = 0; k < VL_POSE_KPTS; k++)
        kp2[3 * k] = 0.1f + 1.5f * kp[3 * k], kp2[3 * k + 1] = -0.2f + 1.5f * kp[3 * k + 1], kp2[3 * k + 2] = kp[3 * k + 2];
    vl_pose_features(kp2, g);
    float d = 0;
    for (int i = 0; i < VL_POSE_SCORE; i++)
        d = fmaxf(d, fabsf(f[i] - g[i]));
    CHECK(d < 1e-5f && fabsf(g[VL_POSE_BOX + 3] - 1.5f * f[VL_POSE_BOX + 3]) < 1e-5f,
          "translation and scale invariance: %g", d);
    /* no person: all zero */
    for (int k = 0; k < VL_POSE_KPTS; k++)
        kp[3 * k + 2] = 0.1f;
    vl_pose_features(kp, f);
    int zero = 1;
    for (int i = 0; i < VL_POSE_DIM; i++)
        zero &= f[i] == 0.0f;
    CHECK(zero, "a person score of 0.1 gives the all-zero vector");
    /* a degenerate box (all keypoints at one point) and NaN: finite */
    for (int k = 0; k < VL_POSE_KPTS; k++)
        kp[3 * k] = 0.5f, kp[3 * k + 1] = 0.5f, kp[3 * k + 2] = 0.9f;
    vl_pose_features(kp, f);
    CHECK(all_finite(f, VL_POSE_DIM) && f[0] == 0.0f && f[VL_POSE_PERSON] > 0.8f, "one-point box: finite");
    kp[7] = NAN;
    vl_pose_features(kp, f);
    zero = 1;
    for (int i = 0; i < VL_POSE_DIM; i++)
        zero &= f[i] == 0.0f;
    CHECK(zero, "NaN keypoints give the no-person fill");
}

/* The names resolve from the npm cache; without the package, one error naming the script. */
static void test_missing(const char *tmp)
{
    char npm[600], cache[600];
    snprintf(npm, sizeof npm, "%s/npm-empty", tmp);
    snprintf(cache, sizeof cache, "%s/cache-empty", tmp);
    setenv("VIDLSTM_NPM_DIR", npm, 1);
    setenv("VIDLSTM_BACKBONE_CACHE", cache, 1);
    vl_backbone *b = NULL;
    vl_status st = vl_backbone_open("movenet-lightning", NULL, &b);
    CHECK(st != VL_OK && !b && strstr(vl_errmsg(), "get_npm_models.sh --movenet") &&
              strstr(vl_errmsg(), "movenet-lightning.json"),
          "missing package: %s", vl_errmsg());
    const vl_backbone_entry *e = vl_backbone_find("movenet-thunder");
    CHECK(e && e->feature_dim == VL_POSE_DIM && e->pre.width == 256 && e->pre.nhwc && !strcmp(e->decode, "movenet"),
          "table entry movenet-thunder");
    unsetenv("VIDLSTM_NPM_DIR");
    unsetenv("VIDLSTM_BACKBONE_CACHE");
}

static int parity(const char *fixtures, const char *tmp)
{
    char npm[4096], f[4200];
    vl_npm_dir(npm, sizeof npm);
    snprintf(f, sizeof f, "%s/human-models-3.0.4/movenet-lightning.json", npm);
    if (access(f, R_OK)) {
        printf("SKIP: %s not found (scripts/get_npm_models.sh --movenet, needs npm)\n", f);
        return 77;
    }
    char cache[600];
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    setenv("VIDLSTM_BACKBONE_CACHE", cache, 1); /* converted here on first use */
    uint8_t S[96 * 96 * 3];
    snprintf(f, sizeof f, "%s/astronaut96.rgb", fixtures);
    FILE *fp = fopen(f, "rb");
    CHECK(fp && fread(S, 1, sizeof S, fp) == sizeof S, "%s", f);
    if (fp)
        fclose(fp);
    const char *names[2] = {"movenet-lightning", "movenet-thunder"};
    for (int m = 0; m < 2; m++) {
        vl_npy ref;
        snprintf(f, sizeof f, "%s/%s.kp.npy", fixtures, names[m]);
        vl_status st = vl_npy_read(f, &ref);
        CHECK(!st && ref.ndim == 3 && ref.shape[0] == NFRAMES && ref.shape[1] == 17 && ref.shape[2] == 3, "%s: %s", f,
              st ? vl_errmsg() : "shape");
        if (st)
            continue;
        vl_backbone *b;
        st = vl_backbone_open(names[m], NULL, &b);
        CHECK(!st, "open %s: %s", names[m], vl_errmsg());
        if (st) {
            vl_npy_free(&ref);
            continue;
        }
        const vl_backbone_desc *d = vl_backbone_describe(b);
        const int M = m ? 256 : 192;
        CHECK(d->feature_dim == VL_POSE_DIM && d->pre.width == M && d->pre.height == M && d->pre.nhwc &&
                  d->pre.scale == 1.0f && d->pre.mean[0] == 0.0f && d->pre.std[0] == 1.0f &&
                  d->pre.resize == VL_RESIZE_EXACT,
              "%s: desc dim %d %dx%d", names[m], d->feature_dim, d->pre.width, d->pre.height);
        const size_t fs = (size_t)M * M * 3;
        float *px = malloc(sizeof(float) * fs * NFRAMES), kp[NFRAMES * 51], feat[NFRAMES * VL_POSE_DIM],
              one[VL_POSE_DIM];
        for (int k = 0; k < NFRAMES; k++)
            make_frame(k, M, S, px + (size_t)k * fs);
        /* the keypoints: the cached converted file through vl_pose */
        vl_onnx *onnx = NULL;
        vl_pose *pose = NULL;
        st = vl_onnx_load(d->file, &onnx);
        CHECK(!st && !(st = vl_pose_open(onnx, names[m], M, &pose)) && !(st = vl_pose_run(pose, px, NFRAMES, kp, NULL)),
              "%s: %s", names[m], vl_errmsg());
        if (!st) {
            const float *r = ref.data;
            double ec = 0, es = 0;
            for (int i = 0; i < NFRAMES * 17; i++) {
                ec = fmax(ec, fmax(fabs(kp[3 * i] - r[3 * i]), fabs(kp[3 * i + 1] - r[3 * i + 1])));
                es = fmax(es, fabs(kp[3 * i + 2] - r[3 * i + 2]));
            }
            printf("%s vs TF.js (5 frames x 17 keypoints): max |coordinate error| %.2e, max |score error| %.2e\n",
                   names[m], ec, es);
            CHECK(ec <= 1e-3 && es <= 1e-4, "%s: coordinates %g, scores %g", names[m], ec, es);
            /* several people: the one nearer the frame centre (the right copy) */
            CHECK(kp[3 * 17 * 3 + 1] > 0.5f, "%s: two people: nose x %g", names[m], kp[3 * 17 * 3 + 1]);
        }
        /* the backbone in one batch = vl_pose_features of those keypoints = frame by frame */
        st = vl_backbone_run(b, px, NFRAMES, 1, feat);
        CHECK(!st && all_finite(feat, NFRAMES * VL_POSE_DIM), "%s run: %s", names[m], vl_errmsg());
        int same = 1, same1 = 1;
        for (int k = 0; k < NFRAMES && !st; k++) {
            vl_pose_features(kp + 51 * k, one);
            same &= !memcmp(one, feat + k * VL_POSE_DIM, sizeof one);
            float single[VL_POSE_DIM];
            same1 &= !vl_backbone_run(b, px + (size_t)k * fs, 1, k == 0, single) &&
                     fabsf(single[VL_POSE_PERSON] - one[VL_POSE_PERSON]) < 1e-4f;
        }
        CHECK(same, "%s: backbone features = vl_pose_features(keypoints)", names[m]);
        CHECK(same1, "%s: batch of 5 = one frame at a time", names[m]);
        int blank0 = 1;
        for (int i = 0; i < VL_POSE_DIM; i++)
            blank0 &= feat[4 * VL_POSE_DIM + i] == 0.0f;
        CHECK(blank0, "%s: a blank frame gives the all-zero vector", names[m]);
        CHECK(feat[VL_POSE_PERSON] >= VL_POSE_PERSON_MIN && feat[VL_POSE_BOX + 2] > 0.1f,
              "%s: the photograph has a person (score %g)", names[m], feat[VL_POSE_PERSON]);
        vl_pose_free(pose);
        vl_onnx_free(onnx);
        free(px);
        vl_backbone_close(b);
        vl_npy_free(&ref);
    }
    unsetenv("VIDLSTM_BACKBONE_CACHE");
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_pose FIXTURES [parity]\n");
        return 2;
    }
    char tmp[] = "/tmp/vidlstm-pose-XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    int rc = -1;
    if (argc > 2 && !strcmp(argv[2], "parity")) {
        rc = parity(argv[1], tmp);
    } else {
        test_decode();
        test_features();
        test_missing(tmp);
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    if (rc == 77)
        return 77;
    return check_summary();
}
