/* The built-in "motion-grid" backbone on synthetic frames: deterministic
 * analytic textures, defined everywhere (so moved frames have real texture
 * beyond the crop, not a circular wrap), rendered under known shifts, zooms
 * and rotations. Two textures: smooth (a few long waves + Gaussian blobs, no
 * fine detail: the hard case for phase correlation) and broadband (1/f-like
 * sum of waves from 2.5 to 200 px, like a natural image, + the blobs). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backbone/builtin.h"
#include "check.h"

#define S 128
#define FSZ (3 * S * S)
#define D VL_MG_DIM

/* ---- the texture ----------------------------------------------------------- */

static uint64_t rng = 12345;
static double urand(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng >> 11) / 9007199254740992.0;
}

#define NSIN 10
#define NBLOB 70
#define NBROAD 150
static double sk[NSIN][2], sph[NSIN], sa[NSIN];
static double bx[NBLOB], by[NBLOB], bs[NBLOB], ba[NBLOB];
static double wk[NBROAD][2], wph[NBROAD], wa[NBROAD];
static int broadband; /* which texture render() draws */

static void texture_init(void)
{
    for (int i = 0; i < NSIN; i++) {
        double th = urand() * 3.14159265358979, lam = 10.0 + 30.0 * urand();
        sk[i][0] = cos(th) * 6.283185307 / lam;
        sk[i][1] = sin(th) * 6.283185307 / lam;
        sph[i] = urand() * 6.283185307;
        sa[i] = 0.03 + 0.03 * urand();
    }
    for (int i = 0; i < NBLOB; i++) {
        bx[i] = -120.0 + 240.0 * urand();
        by[i] = -120.0 + 240.0 * urand();
        bs[i] = 3.0 + 6.0 * urand();
        ba[i] = (urand() - 0.5) * 0.6;
    }
    for (int i = 0; i < NBROAD; i++) {
        double th = urand() * 6.283185307, lam = exp(log(2.5) + urand() * log(200.0 / 2.5));
        wk[i][0] = cos(th) * 6.283185307 / lam;
        wk[i][1] = sin(th) * 6.283185307 / lam;
        wph[i] = urand() * 6.283185307;
        wa[i] = 0.05 * sqrt(lam / 200.0);
    }
}

static double texture(double x, double y)
{
    double v = 0.5;
    if (broadband)
        for (int i = 0; i < NBROAD; i++)
            v += wa[i] * sin(wk[i][0] * x + wk[i][1] * y + wph[i]);
    else
        for (int i = 0; i < NSIN; i++)
            v += sa[i] * sin(sk[i][0] * x + sk[i][1] * y + sph[i]);
    for (int i = 0; i < NBLOB; i++) {
        double dx = x - bx[i], dy = y - by[i], r2 = dx * dx + dy * dy, s2 = bs[i] * bs[i];
        if (r2 < 25.0 * s2)
            v += ba[i] * exp(-0.5 * r2 / s2);
    }
    return v;
}

static float clamp01(double v) { return (float)(v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v); }

/* Frame whose content is the texture moved by: scale s about the centre, then
 * rotation by `deg` (clockwise on screen, i.e. from +x towards +y with y down),
 * then shift (dx, dy) in pixels (+x right, +y down). Pixel (i, j) sits at
 * x = j - 63.5, y = i - 63.5 and shows texture at the inverse-mapped point. */
static void render(float *img, double dx, double dy, double s, double deg)
{
    double th = deg * 3.14159265358979 / 180.0, c = cos(th), sn = sin(th);
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            double x = j - 63.5 - dx, y = i - 63.5 - dy;
            double xr = (c * x + sn * y) / s, yr = (-sn * x + c * y) / s; /* R(-th) / s */
            double t = texture(xr, yr);
            double tint = 0.1 * sin(0.02 * xr) * cos(0.015 * yr);
            img[i * S + j] = clamp01(t + tint);
            img[S * S + i * S + j] = clamp01(0.85 * t + 0.05);
            img[2 * S * S + i * S + j] = clamp01(0.7 * t + 0.15 - tint);
        }
}

/* Features of the pair (a, b) on a fresh handle: writes frame b's features. */
static void pair(const float *a, const float *b, float *fb)
{
    vl_builtin *bb;
    vl_builtin_open("motion-grid", &bb);
    float *two = malloc(sizeof(float) * 2 * FSZ), f[2 * D];
    memcpy(two, a, sizeof(float) * FSZ);
    memcpy(two + FSZ, b, sizeof(float) * FSZ);
    vl_status st = vl_builtin_run(bb, two, 2, 1, f);
    CHECK(st == VL_OK, "%s", vl_errmsg());
    memcpy(fb, f + D, sizeof(float) * D);
    free(two);
    vl_builtin_free(bb);
}

static int all_finite(const float *f, size_t n, float bound)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(f[i]) || fabsf(f[i]) > bound)
            return 0;
    return 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* "ego-motion" is motion-grid's first VL_EM_DIM numbers, frame for frame. */
static void test_ego_motion(void)
{
    vl_builtin *mg, *em;
    CHECK(vl_builtin_open("motion-grid", &mg) == VL_OK && vl_builtin_open("builtin:ego-motion", &em) == VL_OK,
          "open both: %s", vl_errmsg());
    int dim;
    vl_builtin_describe(em, NULL, &dim);
    CHECK(dim == VL_EM_DIM, "ego-motion has %d features (got %d)", VL_EM_DIM, dim);
    static float frames[4 * FSZ], fm[4 * D], fe[4 * VL_EM_DIM];
    for (int k = 0; k < 4; k++)
        render(frames + (size_t)k * FSZ, 1.5 * k, -0.7 * k, 1.0 + 0.01 * k, 0.5 * k);
    CHECK(vl_builtin_run(mg, frames, 4, 1, fm) == VL_OK && vl_builtin_run(em, frames, 4, 1, fe) == VL_OK, "run");
    int same = 1;
    for (int k = 0; k < 4; k++)
        same &= !memcmp(fe + k * VL_EM_DIM, fm + (size_t)k * D, sizeof(float) * VL_EM_DIM);
    CHECK(same, "ego-motion equals the first %d motion-grid features", VL_EM_DIM);
    CHECK(fabsf(fe[VL_EM_DIM + VL_MG_DX]) > 0.05f, "and carries the motion (dx %g)", fe[VL_EM_DIM + VL_MG_DX]);
    vl_builtin *x;
    CHECK(vl_builtin_open("grid", &x) == VL_ERR_ARG && strstr(vl_errmsg(), "ego-motion"),
          "unknown names list both built-ins: %s", vl_errmsg());
    vl_builtin_free(mg);
    vl_builtin_free(em);
}

/* ---- "motion": every decoded frame, one vector per sampled step ---------------- */

#define MO_SECONDS 4.0
#define MO_MAXSTEPS 64
typedef struct {
    int nsteps;
    float f[MO_MAXSTEPS][VL_MO_DIM];
} mo_out;

/* A head-bob-like sequence at `fps` decoded frames per second: vertical shift
 * A sin(2 pi hz t) px, a steady horizontal drift vx px/s with a 2 px sway at
 * hz / 2; sampled at 10 steps
 * per second the way the video module does (a frame stands for the targets
 * k / 10 in [its time, the next frame's)). Fed in batches of `batch`. */
static void mo_run(double fps, double hz, double A, double vx, int batch, mo_out *o)
{
    int n = (int)(MO_SECONDS * fps);
    float *frames = malloc(sizeof(float) * S * S * (size_t)n), *rgb = malloc(sizeof(float) * FSZ);
    double *pts = malloc(sizeof(double) * (size_t)n);
    int *steps = malloc(sizeof(int) * (size_t)n);
    int k = 0;
    for (int i = 0; i < n; i++) {
        double t = i / fps, tn = (i + 1) / fps;
        /* + a sway of 2 px at half the bob's rate (once per stride) */
        render(rgb, vx * t + 2.0 * sin(3.14159265358979 * hz * t), A * sin(2.0 * 3.14159265358979 * hz * t), 1, 0);
        for (int p = 0; p < S * S; p++) /* "motion" takes luma (vl_preproc.grey) */
            frames[(size_t)i * S * S + p] = 0.299f * rgb[p] + 0.587f * rgb[S * S + p] + 0.114f * rgb[2 * S * S + p];
        pts[i] = t;
        steps[i] = 0;
        while (k / 10.0 < tn - 1e-9 && k / 10.0 < MO_SECONDS - 1e-9) {
            steps[i]++;
            k++;
        }
    }
    vl_builtin *b;
    CHECK(vl_builtin_open("builtin:motion", &b) == VL_OK, "open motion: %s", vl_errmsg());
    o->nsteps = k;
    int done = 0, at = 0;
    while (done < n) {
        int m = n - done < batch ? n - done : batch, ns = 0;
        for (int i = 0; i < m; i++)
            ns += steps[done + i];
        vl_status st = vl_builtin_run_dense(b, frames + (size_t)done * S * S, m, pts + done, steps + done, done == 0,
                                            o->f[at]);
        CHECK(st == VL_OK, "motion run: %s", vl_errmsg());
        done += m;
        at += ns;
    }
    vl_builtin_free(b);
    free(frames);
    free(rgb);
    free(pts);
    free(steps);
}

static double mo_mean(const mo_out *o, int off, int from)
{
    double s = 0.0;
    for (int k = from; k < o->nsteps; k++)
        s += o->f[k][off];
    return s / (o->nsteps - from);
}

static void test_motion(void)
{
    static mo_out a, b, c, d;
    broadband = 0;
    const double U = 1.0 / VL_MG_SHIFT_SCALE * VL_MO_RATE_SCALE; /* px/s -> feature units */
    /* walking-like: 2 Hz bob of 3 px amplitude, 20 px/s drift, at 30 fps */
    mo_run(30.0, 2.0, 3.0, 20.0, 7, &a);
    CHECK(a.nsteps == 40, "4 s at 10 steps/s: %d steps", a.nsteps);
    int late = 30; /* every window is full after 3 s */
    double cen = mo_mean(&a, VL_MO_CENTROID, late) * 5.0, pk = mo_mean(&a, VL_MO_PEAKF, late) * 5.0;
    CHECK(fabs(cen - 2.0) < 0.35, "2 Hz bob: spectral centroid %.2f Hz", cen);
    CHECK(fabs(pk - 2.0) < 0.1, "2 Hz bob: peak frequency %.2f Hz", pk);
    double pkx = mo_mean(&a, VL_MO_PEAKF + 1, late) * 5.0;
    CHECK(fabs(pkx - 1.0) < 0.1, "1 Hz sway: peak frequency %.2f Hz", pkx);
    /* window powers: the bob's velocity amplitude A 2 pi f, mean square half its square; the drift's square */
    double vy = 3.0 * 2.0 * 3.14159265 * 2.0 * U, vs = 2.0 * 3.14159265 * 2.0 * U;
    double want_y = log(1e-3 + vy * vy / 2.0), want_x = log(1e-3 + 400.0 * U * U + vs * vs / 2.0);
    double got_y = mo_mean(&a, VL_MO_LOGPOW + 1, late), got_x = mo_mean(&a, VL_MO_LOGPOW + 0, late);
    CHECK(fabs(got_y - want_y) < 0.3, "bob: ln power %.2f, want %.2f", got_y, want_y);
    CHECK(fabs(got_x - want_x) < 0.2, "drift + sway: ln power %.2f, want %.2f", got_x, want_x);
    /* steady motion: a step's power varies with the phase of the sway and bob,
     * but is the window's on average */
    for (int j = 0; j < 2; j++) {
        double r = 0.0;
        for (int k = late; k < a.nsteps; k++)
            r += exp(a.f[k][VL_MO_REL + j]);
        r /= a.nsteps - late;
        CHECK(fabs(r - 1.0) < 0.2, "steady motion: step power / window power %.2f on average (want 1)", r);
    }
    /* running-like: 3 Hz: centroid and peak move up */
    mo_run(30.0, 3.0, 3.0, 20.0, 16, &b);
    double cen3 = mo_mean(&b, VL_MO_CENTROID, late) * 5.0, pk3 = mo_mean(&b, VL_MO_PEAKF, late) * 5.0;
    CHECK(fabs(cen3 - 3.0) < 0.35, "3 Hz bob: spectral centroid %.2f Hz", cen3);
    CHECK(fabs(pk3 - 3.0) < 0.1, "3 Hz bob: peak frequency %.2f Hz", pk3);
    /* motion below the gait bands (a 0.8 Hz bob, 0.4 Hz sway): the peaks stay
     * inside their bands (the band's largest point sits on the shoulder of the
     * stronger peak outside it and must not be extrapolated past the edge) */
    static mo_out slow;
    mo_run(30.0, 0.8, 3.0, 0.0, 9, &slow);
    int out_of_band = 0;
    for (int k = 0; k < slow.nsteps; k++) {
        float fy = slow.f[k][VL_MO_PEAKF] * 5.0f, fx = slow.f[k][VL_MO_PEAKF + 1] * 5.0f;
        out_of_band += (fy != 0.0f && (fy < 1.2f - 0.03f || fy > 4.8f + 0.03f)) ||
                       (fx != 0.0f && (fx < 0.6f - 0.03f || fx > 2.4f + 0.03f));
    }
    CHECK(out_of_band == 0, "slow motion: %d steps with a peak frequency outside its band", out_of_band);

    /* the frame rate does not matter: the same motion at 24 fps */
    mo_run(24.0, 2.0, 3.0, 20.0, 5, &c);
    double worst = 0.0;
    int wstep = 0, wj = 0;
    for (int k = late; k < a.nsteps && k < c.nsteps; k++)
        for (int j = 0; j < VL_MO_BLUR; j++) { /* window features, step by step */
            if (j >= VL_MO_REL && j < VL_MO_REL + 4)
                continue;
            /* log powers: a quarter of the tolerance (the shift estimates'
             * noise, which sets the floor of a still component, is per frame
             * pair, so its rate grows with the frame rate) */
            int lg = j >= VL_MO_LOGPOW && j < VL_MO_LOGPOW + 4;
            double e = fabs(a.f[k][j] - c.f[k][j]) * (lg ? 0.25 : 1.0);
            if (e > worst) {
                worst = e;
                wstep = k;
                wj = j;
            }
        }
    /* a step's own power covers the frames since the previous step, which lie
     * up to a frame apart at 24 and 30 fps: compare it on average */
    for (int j = VL_MO_REL; j < VL_MO_REL + 4; j++) {
        double e = 0.25 * fabs(mo_mean(&a, j, late) - mo_mean(&c, j, late));
        if (e > worst) {
            worst = e;
            wstep = -1;
            wj = j;
        }
    }
    CHECK(worst < 0.1,
          "30 fps vs 24 fps: features differ by at most %.3f (logs / 4) (step %d, feature %d: %.3f vs %.3f)", worst,
          wstep, wj, a.f[wstep < 0 ? 0 : wstep][wj], c.f[wstep < 0 ? 0 : wstep][wj]);
    /* batches do not matter: bit-identical */
    mo_run(30.0, 2.0, 3.0, 20.0, 1, &d);
    CHECK(d.nsteps == a.nsteps && !memcmp(d.f, a.f, sizeof(float) * VL_MO_DIM * (size_t)a.nsteps),
          "batch size 1 and 7 give identical features");
    int finite = 1;
    for (int k = 0; k < a.nsteps; k++)
        finite &= all_finite(a.f[k], VL_MO_DIM, 50.0f);
    CHECK(finite, "motion features finite and bounded");
    /* it needs every frame: the per-frame entry point refuses */
    vl_builtin *m;
    vl_builtin_open("motion", &m);
    float f1[VL_MO_DIM];
    CHECK(vl_builtin_run(m, a.f[0], 1, 1, f1) == VL_ERR_ARG && strstr(vl_errmsg(), "every decoded frame"),
          "vl_builtin_run on motion: %s", vl_errmsg());
    vl_builtin_free(m);
}

int main(void)
{
    texture_init();
    test_ego_motion();
    test_motion();
    const float px = VL_MG_SHIFT_SCALE;
    float *base = malloc(sizeof(float) * FSZ), *mov = malloc(sizeof(float) * FSZ);
    float f[D], g[D];
    render(base, 0, 0, 1, 0);

    /* names, describe */
    const char *const *names = vl_builtin_names();
    CHECK(names[0] && !strcmp(names[0], "motion") && names[1] && !strcmp(names[1], "motion-grid") && names[2] &&
              !strcmp(names[2], "ego-motion") && names[3] == NULL,
          "names");
    vl_builtin *b = NULL;
    CHECK(vl_builtin_open("motion-grid", &b) == VL_OK && b, "%s", vl_errmsg());
    vl_preproc pre;
    int dim = 0;
    vl_builtin_describe(b, &pre, &dim);
    CHECK(dim == D && dim == 240, "dim %d", dim);
    CHECK(pre.width == S && pre.height == S && vl_preproc_frame_size(&pre) == FSZ, "size %dx%d", pre.width, pre.height);
    CHECK(pre.resize == VL_RESIZE_EXACT && !pre.bgr && !pre.nhwc, "layout");
    CHECK(fabsf(pre.scale - 1.0f / 255.0f) < 1e-9f && pre.mean[0] == 0.0f && pre.std[2] == 1.0f, "scaling");

    /* first frame of a sequence: zero motion block; appearance present */
    CHECK(vl_builtin_run(b, base, 1, 1, f) == VL_OK, "%s", vl_errmsg());
    int zero = 1;
    for (int k = 0; k < VL_MG_MOTION_DIM; k++)
        zero &= f[k] == 0.0f;
    CHECK(zero, "first frame motion block not zero");
    CHECK(f[VL_MG_GRAD] > 0.05f && all_finite(f, D, 10.0f), "grad %g", f[VL_MG_GRAD]);

    /* identical frame next: zero motion, zero difference energy, perfect peak */
    CHECK(vl_builtin_run(b, base, 1, 0, f) == VL_OK, "%s", vl_errmsg());
    CHECK(fabsf(f[VL_MG_DX]) < 1e-4f && fabsf(f[VL_MG_DY]) < 1e-4f, "identical: shift %g %g", f[VL_MG_DX] * px,
          f[VL_MG_DY] * px);
    CHECK(fabsf(f[VL_MG_ZOOM]) < 1e-4f && fabsf(f[VL_MG_ROT]) < 1e-4f && fabsf(f[VL_MG_SHEAR1]) < 1e-4f &&
              fabsf(f[VL_MG_SHEAR2]) < 1e-4f && fabsf(f[VL_MG_QRESID]) < 1e-4f,
          "identical: affine %g %g %g %g", f[VL_MG_ZOOM], f[VL_MG_ROT], f[VL_MG_SHEAR1], f[VL_MG_SHEAR2]);
    CHECK(f[VL_MG_DIFF] == 0.0f && f[VL_MG_DIFF_COMP] == 0.0f, "identical: diff %g %g", f[VL_MG_DIFF],
          f[VL_MG_DIFF_COMP]);
    CHECK(f[VL_MG_PEAK] > 0.99f && f[VL_MG_QPEAK] > 0.99f, "identical: peak %g %g", f[VL_MG_PEAK], f[VL_MG_QPEAK]);

    /* new_sequence resets: a different frame after a reset still gets zero motion */
    render(mov, 3, -2, 1, 0);
    CHECK(vl_builtin_run(b, mov, 1, 1, f) == VL_OK, "%s", vl_errmsg());
    zero = 1;
    for (int k = 0; k < VL_MG_MOTION_DIM; k++)
        zero &= f[k] == 0.0f;
    CHECK(zero, "motion block not zero after new_sequence");
    vl_builtin_free(b);

    for (broadband = 0; broadband <= 1; broadband++) {
        printf("%s texture\n", broadband ? "broadband" : "smooth");
        render(base, 0, 0, 1, 0);
        /* integer and sub-pixel shifts: +dx = content moves right, +dy = down */
        static const double shifts[][2] = {{3, -2}, {1.5, 0}, {0, 1.5}, {-0.7, 1.3}, {-6, 4}, {10.25, -7.5}};
        for (size_t t = 0; t < sizeof shifts / sizeof shifts[0]; t++) {
            render(mov, shifts[t][0], shifts[t][1], 1, 0);
            pair(base, mov, f);
            float ex = f[VL_MG_DX] * px - (float)shifts[t][0], ey = f[VL_MG_DY] * px - (float)shifts[t][1];
            CHECK(fabsf(ex) < 0.3f && fabsf(ey) < 0.3f, "shift (%g, %g): got (%g, %g)", shifts[t][0], shifts[t][1],
                  f[VL_MG_DX] * px, f[VL_MG_DY] * px);
            CHECK(fabsf(f[VL_MG_SPEED] * px - hypotf(f[VL_MG_DX] * px, f[VL_MG_DY] * px)) < 1e-4f, "speed");
            CHECK(fabsf(f[VL_MG_ZOOM]) < 0.1f && fabsf(f[VL_MG_ROT]) < 0.1f, "shift (%g, %g): zoom %g rot %g",
                  shifts[t][0], shifts[t][1], f[VL_MG_ZOOM], f[VL_MG_ROT]);
            CHECK(f[VL_MG_PEAK] > 0.3f && f[VL_MG_DIFF] > 0.0f, "shift: peak %g diff %g", f[VL_MG_PEAK], f[VL_MG_DIFF]);
            /* undoing the (rounded) global shift leaves less difference */
            if (fabs(shifts[t][0]) >= 3 || fabs(shifts[t][1]) >= 3)
                CHECK(f[VL_MG_DIFF_COMP] < 0.7f * f[VL_MG_DIFF], "shift (%g, %g): diff %g comp %g", shifts[t][0],
                      shifts[t][1], f[VL_MG_DIFF], f[VL_MG_DIFF_COMP]);
            printf("shift (%5.2f, %5.2f) -> (%6.3f, %6.3f)  peak %.3f\n", shifts[t][0], shifts[t][1],
                       f[VL_MG_DX] * px, f[VL_MG_DY] * px, f[VL_MG_PEAK]);
        }

        /* zoom: 5% in -> positive, out -> negative; ~no shift */
        for (int sgn = -1; sgn <= 1; sgn += 2) {
            double s = sgn > 0 ? 1.05 : 1.0 / 1.05;
            render(mov, 0, 0, s, 0);
            pair(base, mov, f);
            printf("zoom %.4f -> zoom %.3f (expect %.3f) rot %.3f shift (%.3f, %.3f)\n", s, f[VL_MG_ZOOM],
                   (s - 1) * VL_MG_AFFINE_SCALE, f[VL_MG_ROT], f[VL_MG_DX] * px, f[VL_MG_DY] * px);
            CHECK(fabsf(f[VL_MG_ZOOM] / ((float)(s - 1) * VL_MG_AFFINE_SCALE) - 1.0f) < 0.25f, "zoom %g: %g", s,
                  f[VL_MG_ZOOM]);
            CHECK(fabsf(f[VL_MG_DX] * px) < 0.3f && fabsf(f[VL_MG_DY] * px) < 0.3f, "zoom %g: shift %g %g", s,
                  f[VL_MG_DX] * px, f[VL_MG_DY] * px);
            CHECK(fabsf(f[VL_MG_ROT]) < 0.1f, "zoom %g: rot %g", s, f[VL_MG_ROT]);
        }

        /* rotation: +3 degrees clockwise on screen -> positive curl */
        for (int sgn = -1; sgn <= 1; sgn += 2) {
            render(mov, 0, 0, 1, 3.0 * sgn);
            pair(base, mov, f);
            double expect = 3.0 * sgn * 3.14159265358979 / 180.0 * VL_MG_AFFINE_SCALE;
            printf("rot %+.0f deg -> rot %.3f (expect %.3f) zoom %.3f shift (%.3f, %.3f)\n", 3.0 * sgn, f[VL_MG_ROT],
                   expect, f[VL_MG_ZOOM], f[VL_MG_DX] * px, f[VL_MG_DY] * px);
            CHECK(fabs(f[VL_MG_ROT] / expect - 1.0) < 0.25, "rot %d: %g", sgn, f[VL_MG_ROT]);
            CHECK(fabsf(f[VL_MG_ZOOM]) < 0.1f, "rot: zoom %g", f[VL_MG_ZOOM]);
            CHECK(fabsf(f[VL_MG_DX] * px) < 0.3f && fabsf(f[VL_MG_DY] * px) < 0.3f, "rot: shift %g %g",
                  f[VL_MG_DX] * px, f[VL_MG_DY] * px);
        }
    }
    broadband = 1; /* base stays the broadband texture from here on */

    /* motion blur along x lowers horizontal sharpness more than vertical */
    {
        float *blur = malloc(sizeof(float) * FSZ);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < S; i++)
                for (int j = 0; j < S; j++) {
                    float s = 0;
                    for (int k = -3; k <= 3; k++)
                        s += base[c * S * S + i * S + (j + k < 0 ? 0 : j + k >= S ? S - 1 : j + k)];
                    blur[c * S * S + i * S + j] = s / 7.0f;
                }
        pair(base, base, f);
        pair(blur, blur, g);
        printf("sharp x/y: sharp %.3f %.3f, x-blurred %.3f %.3f; grad %.3f -> %.3f; aniso %.3f -> %.3f\n",
               f[VL_MG_SHARP_X], f[VL_MG_SHARP_Y], g[VL_MG_SHARP_X], g[VL_MG_SHARP_Y], f[VL_MG_GRAD], g[VL_MG_GRAD],
               f[VL_MG_ANISO], g[VL_MG_ANISO]);
        CHECK(g[VL_MG_SHARP_X] < 0.5f * f[VL_MG_SHARP_X], "blur x: %g vs %g", g[VL_MG_SHARP_X], f[VL_MG_SHARP_X]);
        /* blurring along x also removes oblique detail, so y sharpness drops too, but less */
        CHECK(g[VL_MG_SHARP_Y] / f[VL_MG_SHARP_Y] > g[VL_MG_SHARP_X] / f[VL_MG_SHARP_X], "blur x vs y: %g %g",
              f[VL_MG_SHARP_Y], g[VL_MG_SHARP_Y]);
        CHECK(g[VL_MG_ANISO] < f[VL_MG_ANISO] - 0.2f, "blur x: aniso %g -> %g", f[VL_MG_ANISO], g[VL_MG_ANISO]);
        CHECK(g[VL_MG_GRAD] < f[VL_MG_GRAD], "blur grad");
        free(blur);
    }

    /* appearance on plain frames: uniform red; vertical / horizontal stripes */
    {
        float *img = calloc(FSZ, sizeof(float));
        for (int p = 0; p < S * S; p++)
            img[p] = 1.0f; /* red */
        pair(img, img, f);
        CHECK(fabsf(f[VL_MG_CHROMA] - 2.0f) < 1e-5f && fabsf(f[VL_MG_CHROMA + 1] + 1.0f) < 1e-5f, "red chroma %g %g",
              f[VL_MG_CHROMA], f[VL_MG_CHROMA + 1]);
        CHECK(fabsf(f[VL_MG_LUMA + 27] - 2.0f * (0.299f - 0.5f)) < 1e-5f, "red luma %g", f[VL_MG_LUMA + 27]);
        CHECK(fabsf(f[VL_MG_HOG + 40] - sqrtf(0.125f)) < 1e-5f && f[VL_MG_GRAD] == 0.0f, "flat hog %g",
              f[VL_MG_HOG + 40]);
        for (int dir = 0; dir < 2; dir++) {
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < S; i++)
                    for (int j = 0; j < S; j++)
                        img[c * S * S + i * S + j] = 0.5f + 0.4f * sinf(0.3f * (float)(dir ? i : j));
            pair(img, img, f);
            const float *h = f + VL_MG_HOG + 5 * 8; /* an interior cell */
            int arg = 0;
            for (int k = 1; k < 8; k++)
                if (h[k] > h[arg])
                    arg = k;
            CHECK(arg == (dir ? 4 : 0) && h[arg] > 0.9f, "stripes %d: bin %d (%g)", dir, arg, h[arg]);
        }
        free(img);
    }

    /* batch splitting: 10 frames of a bobbing, swaying, advancing walk, as one
     * batch and as 3 + 3 + 4 */
    {
        const int T = 10;
        float *seq = malloc(sizeof(float) * FSZ * T), *fa = malloc(sizeof(float) * D * T),
              *fb = malloc(sizeof(float) * D * T);
        for (int t = 0; t < T; t++)
            render(seq + (size_t)t * FSZ, 2.0 * sin(0.9 * t), 3.0 * sin(1.8 * t), 1.0 + 0.02 * t, 0.5 * sin(0.9 * t));
        vl_builtin *b1, *b2;
        vl_builtin_open("motion-grid", &b1);
        vl_builtin_open("builtin:motion-grid", &b2);
        CHECK(b1 && b2, "open");
        /* b2 first sees unrelated frames, so its reset must work */
        CHECK(vl_builtin_run(b2, base, 1, 1, fb) == VL_OK, "%s", vl_errmsg());
        double t0 = now();
        CHECK(vl_builtin_run(b1, seq, T, 1, fa) == VL_OK, "%s", vl_errmsg());
        double dt = now() - t0;
        CHECK(vl_builtin_run(b2, seq, 3, 1, fb) == VL_OK, "%s", vl_errmsg());
        CHECK(vl_builtin_run(b2, seq + 3 * FSZ, 3, 0, fb + 3 * D) == VL_OK, "%s", vl_errmsg());
        CHECK(vl_builtin_run(b2, seq + 6 * FSZ, 4, 0, fb + 6 * D) == VL_OK, "%s", vl_errmsg());
        CHECK(!memcmp(fa, fb, sizeof(float) * D * T), "batch split changes features");
        CHECK(all_finite(fa, (size_t)D * T, 10.0f), "walk features not finite / O(1)");
        for (int t = 1; t < T; t++) {
            float ex = 2.0f * (sinf(0.9f * t) - sinf(0.9f * (t - 1)));
            float ey = 3.0f * (sinf(1.8f * t) - sinf(1.8f * (t - 1)));
            const float *ft = fa + t * D;
            CHECK(fabsf(ft[VL_MG_DX] * px - ex) < 0.3f && fabsf(ft[VL_MG_DY] * px - ey) < 0.3f,
                  "walk step %d: (%g, %g) vs (%g, %g)", t, ft[VL_MG_DX] * px, ft[VL_MG_DY] * px, ex, ey);
            CHECK(fa[t * D + VL_MG_ZOOM] > 0.0f, "walk step %d: zoom %g", t, fa[t * D + VL_MG_ZOOM]);
        }
        /* deterministic across handles and runs */
        CHECK(vl_builtin_run(b1, seq, T, 1, fb) == VL_OK && !memcmp(fa, fb, sizeof(float) * D * T), "rerun differs");

        /* speed: many frames through one handle */
        const int reps = 30;
        t0 = now();
        for (int r = 0; r < reps; r++)
            vl_builtin_run(b1, seq, T, r == 0, fb);
        double us = (now() - t0) / (reps * T) * 1e6;
        printf("motion-grid: %.1f us/frame (first batch %.1f us/frame)\n", us, dt / T * 1e6);
        vl_builtin_free(b1);
        vl_builtin_free(b2);
        free(seq);
        free(fa);
        free(fb);
    }

    /* black frames and noise: finite, bounded */
    {
        const int T = 4;
        float *fr = calloc((size_t)FSZ * T, sizeof(float)), *out = malloc(sizeof(float) * D * T);
        vl_builtin_open("motion-grid", &b);
        CHECK(vl_builtin_run(b, fr, T, 1, out) == VL_OK, "%s", vl_errmsg());
        CHECK(all_finite(out, (size_t)D * T, 10.0f), "black frames");
        CHECK(out[D + VL_MG_DX] == 0.0f && out[D + VL_MG_PEAK] == 0.0f && out[D + VL_MG_DIFF] == 0.0f, "black motion");
        for (size_t i = 0; i < (size_t)FSZ * T; i++)
            fr[i] = (float)urand();
        CHECK(vl_builtin_run(b, fr, T, 0, out) == VL_OK, "%s", vl_errmsg());
        CHECK(all_finite(out, (size_t)D * T, 10.0f), "noise frames");
        CHECK(out[D + VL_MG_PEAK] < 0.3f, "noise peak %g", out[D + VL_MG_PEAK]);
        /* white frame after noise, then a frame of a single bright pixel */
        for (size_t i = 0; i < (size_t)FSZ; i++)
            fr[i] = 1.0f;
        memset(fr + FSZ, 0, sizeof(float) * FSZ);
        fr[FSZ + 64 * S + 64] = 1.0f;
        CHECK(vl_builtin_run(b, fr, 2, 0, out) == VL_OK && all_finite(out, (size_t)D * 2, 10.0f), "white / dot");

        /* errors */
        fr[FSZ + 5] = NAN;
        CHECK(vl_builtin_run(b, fr, 2, 1, out) == VL_ERR_NUMERIC && strstr(vl_errmsg(), "frame 1"), "NaN: %s",
              vl_errmsg());
        fr[FSZ + 5] = 0.0f;
        /* the failure reset the sequence: the next frame starts a new one */
        CHECK(vl_builtin_run(b, fr + FSZ, 1, 0, out) == VL_OK && out[VL_MG_DIFF] == 0.0f && out[VL_MG_PEAK] == 0.0f,
              "state after error");
        fr[2 * S * S + 7] = INFINITY;
        CHECK(vl_builtin_run(b, fr, 1, 1, out) == VL_ERR_NUMERIC, "Inf");
        fr[2 * S * S + 7] = 0.0f;
        /* n = 0 with new_sequence also resets */
        CHECK(vl_builtin_run(b, fr, 1, 1, out) == VL_OK && vl_builtin_run(b, NULL, 0, 1, NULL) == VL_OK &&
                  vl_builtin_run(b, fr + FSZ, 1, 0, out) == VL_OK && out[VL_MG_DIFF] == 0.0f,
              "reset with n = 0");
        CHECK(vl_builtin_run(b, fr, -1, 1, out) == VL_ERR_ARG, "n < 0");
        CHECK(vl_builtin_run(b, NULL, 1, 1, out) == VL_ERR_ARG, "NULL frames");
        CHECK(vl_builtin_run(b, NULL, 0, 1, NULL) == VL_OK, "n = 0");
        vl_builtin_free(b);
        free(fr);
        free(out);
    }

    /* unknown name */
    b = (vl_builtin *)1;
    CHECK(vl_builtin_open("resnet50", &b) == VL_ERR_ARG && b == NULL, "unknown name accepted");
    CHECK(strstr(vl_errmsg(), "resnet50") && strstr(vl_errmsg(), "motion-grid"), "message: %s", vl_errmsg());
    CHECK(vl_builtin_open(NULL, &b) == VL_ERR_ARG, "NULL name");
    vl_builtin_free(NULL);

    free(base);
    free(mov);
    return check_summary();
}
