/* The built-in "motion-grid" frame descriptor (builtin.h, docs/builtin-backbone.md).
 *
 * Per frame, from the 128x128 RGB input:
 *   Y128  luminance (Rec. 601 weights)          -> sharpness, colour grid
 *   Y64   2x2 box average of Y128                -> luminance grid, orientation
 *                                                   histograms, phase correlation
 * Motion is measured by phase correlation of Y64 against the previous frame:
 * once over the whole 64x64 image (global shift) and once per 32x32 quadrant
 * (four local shifts, fitted with an affine motion field -> zoom, roll,
 * shear). Each frame's Hann-windowed spectra are computed once and kept for
 * the next frame.
 *
 * Phase correlation: the cross-power spectrum X = A conj(B) of the current (A)
 * and previous (B) window is weighted by G(k) / (|X|^(1/2) + eps): "square
 * root" whitening rather than full phase-only normalisation, because on
 * smooth (blurred, low-texture) frames the high-frequency bins hold mostly
 * Hann-window leakage of strong low frequencies, whose phase does not follow
 * the shift; giving them full weight pulls the estimate towards zero (by 25%
 * and more in tests), square-root weighting keeps them in proportion. G is a
 * Gaussian that makes the inverse transform's peak a sampled Gaussian of
 * sigma ~1.2 px and damps the noisiest frequencies; a 3-point log-parabola
 * per axis then gives the sub-pixel position. Peak strength is the peak
 * height over the sum of the weighted cross-power magnitudes (1: every
 * frequency agrees on one shift).
 * When a window's shift is a pixel or more, it is measured again with windows
 * that follow the content (the previous frame's block displaced by the rounded
 * shift, both cut to what stays in view), so that the bias of fixed windows
 * scales with the sub-pixel residual, not the whole shift.
 *
 * FFTs: radix-2, split real/imaginary arrays. A 2-D transform is "transform
 * every column at once" (butterflies between whole rows, so the inner loop is
 * contiguous and vectorises), transpose, and the same again. The forward
 * spectrum therefore comes out transposed; that is harmless because spectra
 * are only multiplied elementwise with each other and with a symmetric
 * Gaussian, and the inverse (same three steps) comes back in image layout.
 *
 * Reductions use fixed 16-lane partial sums. Every frame goes through exactly
 * the same arithmetic whether it arrives first in a batch or last, so batch
 * splitting cannot change a bit, and the output is deterministic for a given
 * build. */
#include "backbone/builtin.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"

#define IN 128 /* input side */
#define LO 64  /* phase-correlation / orientation resolution */
#define QN 32  /* quadrant window side */
#define PI_F 3.14159265358979f

#define PC_SIGMA 1.2f      /* spatial sigma of the correlation peak after Gaussian weighting, pixels */
#define PC_EPS_REL 1e-3f   /* cross-power regulariser relative to its mean (square-root) magnitude */
#define HOG_EPS 0.5f       /* per-bin floor of the orientation histograms (a flat cell -> uniform) */
#define SHARP_EPS 1e-5f    /* floor of the gradient energies in the sharpness ratios */

static const char *const k_names[] = {"motion", "motion-grid", "ego-motion", NULL};

typedef struct {
    _Alignas(64) float gre[LO * LO];
    _Alignas(64) float gim[LO * LO];          /* global window spectrum (transposed layout) */
    _Alignas(64) float qre[4][QN * QN];
    _Alignas(64) float qim[4][QN * QN];       /* quadrant window spectra */
    _Alignas(64) float y64[LO * LO];          /* luminance, 64x64 */
} frame_state;

#define MO_CAP 1024 /* motion history entries (VL_MO_PEAK_WINDOW s at up to 340 frames/s) */

/* Per decoded frame pair, for the "motion" descriptor: the frame's time and
 * its velocities (motion since the previous decoded frame, per second). */
typedef struct {
    double t, dt;
    float v[4];       /* dx, dy, zoom, roll rates */
    float sharp[3];   /* sharpness x, y, ln gradient of the frame */
} mo_sample;

struct vl_builtin {
    int dense;         /* "motion": every decoded frame, one vector per sampled step */
    int dim;           /* features written per frame: VL_MG_DIM, or VL_EM_DIM for ego-motion */
    _Alignas(64) float full[VL_MG_DIM]; /* one frame's whole descriptor */
    frame_state fs[2]; /* fs[cur] is filled for the frame being described; fs[cur ^ 1] is the previous one */
    int cur;
    int has_prev;
    /* "motion" state: history ring, the current step's sums, the last vector */
    mo_sample hist[MO_CAP];
    int hn, hhead;     /* entries, index of the oldest */
    double prev_pts;
    double acc_t;      /* seconds of motion in the current step */
    int acc_n;         /* frame pairs in it */
    double acc_v2[4], acc_sharp[3];
    int acc_ns;        /* frames whose sharpness is in acc_sharp */
    float last[VL_MO_DIM];
    float freq[VL_MO_NBANDS];
    _Alignas(64) float y128[IN * IN];
    _Alignas(64) float wre[LO * LO]; /* correlation scratch */
    _Alignas(64) float wim[LO * LO];
    _Alignas(64) float tmp[LO * LO];
    _Alignas(64) float mag[LO * LO]; /* orientation histogram scratch */
    _Alignas(64) float pos[LO * LO];
    _Alignas(64) float gauss64[LO * LO];
    _Alignas(64) float gauss32[QN * QN];
    _Alignas(64) float are[LO * LO]; /* spectra of content-following windows */
    _Alignas(64) float aim[LO * LO];
    _Alignas(64) float bre[LO * LO];
    _Alignas(64) float bim[LO * LO];
    float hann[LO + 1][LO];               /* hann[L]: Hann window of length L */
    float hsum[LO + 1];                   /* its sum */
    float cost[LO / 2], sint[LO / 2];     /* twiddles cos/sin(2 pi m / 64) */
    int rev64[LO], rev32[QN];             /* bit reversal */
};

/* ---- small numeric helpers -------------------------------------------------- */

/* Sum of n floats (n a multiple of 16) in a fixed order: 16 partial sums. */
static float vsum(const float *restrict x, int n)
{
    float acc[16] = {0};
    for (int i = 0; i < n; i += 16)
        for (int j = 0; j < 16; j++)
            acc[j] += x[i + j];
    for (int w = 8; w >= 1; w >>= 1)
        for (int j = 0; j < w; j++)
            acc[j] += acc[j + w];
    return acc[0];
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- FFT -------------------------------------------------------------------- */

static void make_rev(int *rev, int n)
{
    int bits = 0;
    while ((1 << bits) < n)
        bits++;
    for (int i = 0; i < n; i++) {
        int r = 0;
        for (int b = 0; b < bits; b++)
            r |= ((i >> b) & 1) << (bits - 1 - b);
        rev[i] = r;
    }
}

/* Unnormalised DFT along axis 0 of an n x n array (every column at once):
 * X[k][x] = sum_j x[j][x] exp(sign * 2 pi i j k / n). */
static void fft_cols(const vl_builtin *b, float *re, float *im, int n, const int *rev, float sign)
{
    for (int i = 0; i < n; i++) {
        int j = rev[i];
        if (j > i) {
            float *a = re + (size_t)i * n, *c = re + (size_t)j * n;
            float *d = im + (size_t)i * n, *e = im + (size_t)j * n;
            for (int x = 0; x < n; x++) {
                float t = a[x];
                a[x] = c[x];
                c[x] = t;
                t = d[x];
                d[x] = e[x];
                e[x] = t;
            }
        }
    }
    for (int len = 2; len <= n; len <<= 1) {
        int half = len >> 1, step = LO / len;
        for (int i = 0; i < n; i += len)
            for (int k = 0; k < half; k++) {
                float wr = b->cost[k * step], wi = sign * b->sint[k * step];
                float *restrict ar = re + (size_t)(i + k) * n, *restrict ai = im + (size_t)(i + k) * n;
                float *restrict br = re + (size_t)(i + k + half) * n, *restrict bi = im + (size_t)(i + k + half) * n;
                for (int x = 0; x < n; x++) {
                    float tr = br[x] * wr - bi[x] * wi;
                    float ti = br[x] * wi + bi[x] * wr;
                    br[x] = ar[x] - tr;
                    bi[x] = ai[x] - ti;
                    ar[x] = ar[x] + tr;
                    ai[x] = ai[x] + ti;
                }
            }
    }
}

static void transpose(float *a, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            float t = a[i * n + j];
            a[i * n + j] = a[j * n + i];
            a[j * n + i] = t;
        }
}

/* 2-D DFT; the forward result is transposed ([kx][ky]); the inverse of such a
 * spectrum comes back as [y][x]. */
static void fft2(const vl_builtin *b, float *re, float *im, int n, float sign)
{
    const int *rev = n == LO ? b->rev64 : b->rev32;
    fft_cols(b, re, im, n, rev, sign);
    transpose(re, n);
    transpose(im, n);
    fft_cols(b, re, im, n, rev, sign);
}

/* ---- phase correlation -------------------------------------------------------- */

/* Spectrum of an n x n window: the lx x ly block of Y64 at (sx, sy), placed at
 * (dx, dy) in an otherwise zero n x n array, minus its window-weighted mean,
 * times a separable Hann window of the block's size. */
static void windowed_fft(vl_builtin *b, const float *y64, int sx, int sy, int dx, int dy, int lx, int ly, int n,
                         float *re, float *im)
{
    const float *hx = b->hann[lx], *hy = b->hann[ly];
    float *restrict t = b->tmp;
    int full = lx == n && ly == n;
    if (!full)
        memset(t, 0, sizeof(float) * (size_t)n * n);
    for (int i = 0; i < ly; i++) {
        const float *restrict src = y64 + (size_t)(sy + i) * LO + sx;
        float *restrict o = t + (size_t)(dy + i) * n + dx;
        for (int j = 0; j < lx; j++)
            o[j] = src[j] * (hy[i] * hx[j]);
    }
    float mean = vsum(t, n * n) / (b->hsum[lx] * b->hsum[ly]);
    memset(re, 0, sizeof(float) * (size_t)n * n);
    memset(im, 0, sizeof(float) * (size_t)n * n);
    for (int i = 0; i < ly; i++) {
        const float *restrict src = y64 + (size_t)(sy + i) * LO + sx;
        float *restrict o = re + (size_t)(dy + i) * n + dx;
        for (int j = 0; j < lx; j++)
            o[j] = (src[j] - mean) * (hy[i] * hx[j]);
    }
    fft2(b, re, im, n, -1.0f);
}

/* Sub-pixel offset of a peak from its samples at -1, 0, +1 (c0 the largest):
 * log-parabola (exact for a Gaussian peak), else parabola. *gain: height of
 * the fitted peak relative to c0. */
static float refine(float cm, float c0, float cp, float *gain)
{
    *gain = 1.0f;
    if (!(c0 > 0.0f))
        return 0.0f;
    if (cm > 0.0f && cp > 0.0f) {
        float lm = logf(cm / c0), lp = logf(cp / c0);
        float den = lm + lp;
        if (den < 0.0f) {
            *gain = expf(-(lp - lm) * (lp - lm) / (8.0f * den));
            return clampf(0.5f * (lm - lp) / den, -0.5f, 0.5f);
        }
        return 0.0f;
    }
    float den = cm - 2.0f * c0 + cp;
    if (den < 0.0f) {
        *gain = 1.0f - (cp - cm) * (cp - cm) / (8.0f * den * c0);
        return clampf(0.5f * (cm - cp) / den, -0.5f, 0.5f);
    }
    return 0.0f;
}

typedef struct {
    float dx, dy, peak; /* in Y64 pixels; content moved by (+dx, +dy) from B to A */
} pc_result;

static pc_result phase_corr(vl_builtin *b, const float *are, const float *aim, const float *bre, const float *bim,
                            int n)
{
    pc_result r = {0.0f, 0.0f, 0.0f};
    int nn = n * n;
    const float *g = n == LO ? b->gauss64 : b->gauss32;
    float *restrict xr = b->wre, *restrict xi = b->wim, *restrict m = b->tmp;
    for (int k = 0; k < nn; k++) {
        float pr = are[k] * bre[k] + aim[k] * bim[k];
        float pi = aim[k] * bre[k] - are[k] * bim[k];
        xr[k] = pr;
        xi[k] = pi;
        m[k] = sqrtf(sqrtf(pr * pr + pi * pi)); /* |X|^(1/2) */
    }
    float eps = PC_EPS_REL * vsum(m, nn) / (float)nn + 1e-30f;
    for (int k = 0; k < nn; k++) {
        float s = g[k] / (m[k] + eps);
        xr[k] *= s;
        xi[k] *= s;
        m[k] = sqrtf(xr[k] * xr[k] + xi[k] * xi[k]);
    }
    xr[0] = xi[0] = m[0] = 0.0f;
    float total = vsum(m, nn); /* the peak height if every frequency agreed on one shift */
    fft2(b, xr, xi, n, 1.0f);

    int best = 0;
    for (int k = 1; k < nn; k++)
        if (xr[k] > xr[best])
            best = k;
    int py = best / n, px = best % n;
    float c0 = xr[best];
    if (!(c0 > 0.0f) || !isfinite(c0) || !(total > 0.0f))
        return r;
    float gx, gy;
    float fx = refine(xr[py * n + (px + n - 1) % n], c0, xr[py * n + (px + 1) % n], &gx);
    float fy = refine(xr[((py + n - 1) % n) * n + px], c0, xr[((py + 1) % n) * n + px], &gy);
    r.dx = (float)(px >= n / 2 ? px - n : px) + fx;
    r.dy = (float)(py >= n / 2 ? py - n : py) + fy;
    r.peak = clampf(c0 * gx * gy / total, 0.0f, 1.0f);
    return r;
}

/* Motion of the n x n window at (ox, oy) of Y64. First against the previous
 * frame's cached spectrum of the same window; then, when that found a shift of
 * a pixel or more, again with windows that follow the content: the current
 * frame's block and the previous frame's block displaced by the rounded shift,
 * both cut to the part that stays inside the image, so the residual is under
 * a pixel and the window's pull towards zero shift (content entering and
 * leaving a fixed window, leakage of strong low frequencies) scales with the
 * residual instead of the whole shift. */
static pc_result window_motion(vl_builtin *b, const float *ca, const float *cb, const float *pa, const float *pb,
                               const float *ycur, const float *yprev, int ox, int oy, int n)
{
    pc_result r = phase_corr(b, ca, cb, pa, pb, n);
    int sx = (int)lrintf(r.dx), sy = (int)lrintf(r.dy);
    if (sx == 0 && sy == 0)
        return r;
    int x0 = ox > sx ? ox : sx, x1 = ox + n < LO + sx ? ox + n : LO + sx;
    int y0 = oy > sy ? oy : sy, y1 = oy + n < LO + sy ? oy + n : LO + sy;
    int lx = x1 - x0, ly = y1 - y0;
    if (lx < n / 2 || ly < n / 2)
        return r;
    windowed_fft(b, ycur, x0, y0, x0 - ox, y0 - oy, lx, ly, n, b->are, b->aim);
    windowed_fft(b, yprev, x0 - sx, y0 - sy, x0 - ox, y0 - oy, lx, ly, n, b->bre, b->bim);
    pc_result q = phase_corr(b, b->are, b->aim, b->bre, b->bim, n);
    q.dx += (float)sx;
    q.dy += (float)sy;
    return q;
}

/* ---- opening ------------------------------------------------------------------ */

const char *const *vl_builtin_names(void) { return k_names; }

static void make_gauss(int n, float *gauss)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float ki = (float)(i < n / 2 ? i : i - n) / (float)n, kj = (float)(j < n / 2 ? j : j - n) / (float)n;
            gauss[i * n + j] = expf(-2.0f * PI_F * PI_F * PC_SIGMA * PC_SIGMA * (ki * ki + kj * kj));
        }
}

vl_status vl_builtin_open(const char *name, vl_builtin **out)
{
    if (!out)
        return vl_seterr(VL_ERR_ARG, "vl_builtin_open: out is NULL");
    *out = NULL;
    if (!name)
        return vl_seterr(VL_ERR_ARG, "built-in backbone: no name given (known: motion, motion-grid, ego-motion)");
    const char *bare = strncmp(name, "builtin:", 8) ? name : name + 8;
    if (strcmp(bare, "motion-grid") && strcmp(bare, "ego-motion") && strcmp(bare, "motion")) {
        char known[256] = "";
        for (int i = 0; k_names[i]; i++) {
            if (i)
                strncat(known, ", ", sizeof known - strlen(known) - 1);
            strncat(known, k_names[i], sizeof known - strlen(known) - 1);
        }
        return vl_seterr(VL_ERR_ARG, "unknown built-in backbone '%s' (known: %s)", name, known);
    }
    vl_builtin *b = vl_calloc(sizeof *b);
    if (!b)
        return vl_seterr(VL_ERR_NOMEM, "built-in backbone '%s': out of memory", bare);
    b->dense = !strcmp(bare, "motion");
    b->dim = b->dense ? VL_MO_DIM : strcmp(bare, "ego-motion") ? VL_MG_DIM : VL_EM_DIM;
    for (int i = 0; i < VL_MO_NBANDS; i++)
        b->freq[i] = (float)(0.7 * pow(4.5 / 0.7, (double)i / (VL_MO_NBANDS - 1)));
    for (int m = 0; m < LO / 2; m++) {
        b->cost[m] = (float)cos(2.0 * 3.14159265358979323846 * m / LO);
        b->sint[m] = (float)sin(2.0 * 3.14159265358979323846 * m / LO);
    }
    make_rev(b->rev64, LO);
    make_rev(b->rev32, QN);
    make_gauss(LO, b->gauss64);
    make_gauss(QN, b->gauss32);
    for (int L = 1; L <= LO; L++) {
        double sum = 0.0;
        for (int i = 0; i < L; i++) {
            b->hann[L][i] = (float)(0.5 - 0.5 * cos(2.0 * 3.14159265358979323846 * (i + 0.5) / L));
            sum += b->hann[L][i];
        }
        b->hsum[L] = (float)sum;
    }
    *out = b;
    return VL_OK;
}

void vl_builtin_describe(const vl_builtin *b, vl_preproc *pre, int *feature_dim)
{
    if (pre)
        *pre = (vl_preproc){.width = IN, .height = IN, .resize = VL_RESIZE_EXACT, .resize_to = IN, .bgr = 0,
                            .scale = 1.0f / 255.0f, .mean = {0.0f, 0.0f, 0.0f}, .std = {1.0f, 1.0f, 1.0f},
                            .nhwc = 0, .grey = b->dense};
    if (feature_dim)
        *feature_dim = b->dim;
}

void vl_builtin_free(vl_builtin *b) { vl_free(b); }

/* ---- per-frame description ------------------------------------------------------ */

/* Unsigned gradient orientation in [0, 8) bins of 22.5 degrees, measured from
 * +x towards +y (image rows, i.e. clockwise on screen). Branch-free so the
 * loop vectorises; max error ~1e-5 rad. */
static inline float orient_bins(float gx, float gy)
{
    float sx = gy < 0.0f ? -gx : gx, sy = fabsf(gy); /* fold to the upper half plane */
    float ax = fabsf(sx);
    float mx = ax > sy ? ax : sy, mn = ax > sy ? sy : ax;
    float a = mn / (mx + 1e-30f), s = a * a;
    float t = ((((0.0208351f * s - 0.085133f) * s + 0.180141f) * s - 0.3302995f) * s + 0.999866f) * a;
    t = sy > ax ? 0.5f * PI_F - t : t;
    t = sx < 0.0f ? PI_F - t : t;
    return t * (8.0f / PI_F);
}

/* Luminance, colour cells and sharpness always; the luminance grid and the
 * orientation histograms only when `full` ("motion" needs neither). */
static void appearance(vl_builtin *b, const float *img, float *f, int full)
{
    /* grey input ("motion") is one plane: G and B exist only for RGB */
    const float *R = img, *G = b->dense ? img : img + IN * IN, *B = b->dense ? img : img + 2 * IN * IN;
    float *restrict y = b->y128;
    float *restrict y64 = b->fs[b->cur].y64;

    /* luminance; colour cell sums via per-column accumulators over 32-row bands */
    _Alignas(64) float cr[IN], cg[IN], cb[IN];
    if (b->dense) /* "motion" takes luma alone (vl_preproc.grey) */
        memcpy(y, img, sizeof(float) * IN * IN);
    for (int band = 0; band < 4 && !b->dense; band++) {
        memset(cr, 0, sizeof cr);
        memset(cg, 0, sizeof cg);
        memset(cb, 0, sizeof cb);
        for (int i = band * 32; i < band * 32 + 32; i++) {
            const float *restrict r = R + i * IN, *restrict g = G + i * IN, *restrict bl = B + i * IN;
            float *restrict yr = y + i * IN;
            for (int j = 0; j < IN; j++) {
                yr[j] = 0.299f * r[j] + 0.587f * g[j] + 0.114f * bl[j];
                cr[j] += r[j];
                cg[j] += g[j];
                cb[j] += bl[j];
            }
        }
        for (int c = 0; c < 4; c++) {
            float sr = vsum(cr + c * 32, 32) / 1024.0f, sg = vsum(cg + c * 32, 32) / 1024.0f,
                  sb = vsum(cb + c * 32, 32) / 1024.0f;
            float *o = f + VL_MG_CHROMA + (band * 4 + c) * 2;
            o[0] = 2.0f * (sr - sg);
            o[1] = 2.0f * (sb - 0.5f * (sr + sg));
        }
    }

    /* 2x2 box average -> Y64 */
    for (int i = 0; i < LO; i++) {
        const float *restrict a = y + 2 * i * IN, *restrict c = a + IN;
        float *restrict o = y64 + i * LO;
        for (int j = 0; j < LO; j++)
            o[j] = 0.25f * ((a[2 * j] + a[2 * j + 1]) + (c[2 * j] + c[2 * j + 1]));
    }

    /* sharpness: energy of 1-pixel vs 2-pixel differences along each axis. For
     * content smooth at the pixel scale the two agree (ratio 1, log 0); fine
     * detail raises the 1-pixel energy; blur along an axis removes it along that
     * axis only. */
    _Alignas(64) float ax1[IN], ax2[IN], ay1[IN], ay2[IN];
    memset(ax1, 0, sizeof ax1);
    memset(ax2, 0, sizeof ax2);
    memset(ay1, 0, sizeof ay1);
    memset(ay2, 0, sizeof ay2);
    for (int i = 0; i < IN; i++) {
        const float *restrict r = y + i * IN;
        for (int j = 0; j < IN - 2; j++) {
            float d1 = r[j + 1] - r[j], d2 = r[j + 2] - r[j];
            ax1[j] += d1 * d1;
            ax2[j] += d2 * d2;
        }
        if (i + 2 < IN) {
            const float *restrict s1 = r + IN, *restrict s2 = r + 2 * IN;
            for (int j = 0; j < IN; j++) {
                float d1 = s1[j] - r[j], d2 = s2[j] - r[j];
                ay1[j] += d1 * d1;
                ay2[j] += d2 * d2;
            }
        }
    }
    const float npair = (float)(IN * (IN - 2));
    float ex1 = vsum(ax1, IN) / npair, ex2 = vsum(ax2, IN) / npair;
    float ey1 = vsum(ay1, IN) / npair, ey2 = vsum(ay2, IN) / npair;
    f[VL_MG_GRAD] = 4.0f * sqrtf(ex1 + ey1);
    f[VL_MG_SHARP_X] = logf((ex1 + SHARP_EPS) / (0.25f * ex2 + SHARP_EPS));
    f[VL_MG_SHARP_Y] = logf((ey1 + SHARP_EPS) / (0.25f * ey2 + SHARP_EPS));
    f[VL_MG_ANISO] = 0.5f * logf((ex1 + SHARP_EPS) / (ey1 + SHARP_EPS));
    if (!full)
        return;

    /* luminance grid: 8x8 cells of 8x8 Y64 pixels */
    for (int band = 0; band < 8; band++) {
        _Alignas(64) float acc[LO];
        memset(acc, 0, sizeof acc);
        for (int i = band * 8; i < band * 8 + 8; i++)
            for (int j = 0; j < LO; j++)
                acc[j] += y64[i * LO + j];
        for (int c = 0; c < 8; c++) {
            float s = 0.0f;
            for (int j = 0; j < 8; j++)
                s += acc[c * 8 + j];
            f[VL_MG_LUMA + band * 8 + c] = 2.0f * (s / 64.0f - 0.5f);
        }
    }

    /* gradient orientation histograms on Y64: central differences (one-sided at
     * the border), magnitude-weighted, linear interpolation between the two
     * nearest of 8 orientation bins, 4x4 cells of 16x16 pixels */
    float *restrict mag = b->mag, *restrict pos = b->pos;
    for (int i = 0; i < LO; i++) {
        const float *up = y64 + (i > 0 ? i - 1 : i) * LO, *dn = y64 + (i < LO - 1 ? i + 1 : i) * LO;
        const float *r = y64 + i * LO;
        float vs = (i > 0 && i < LO - 1) ? 0.5f : 1.0f;
        _Alignas(64) float gx[LO], gy[LO];
        gx[0] = r[1] - r[0];
        for (int j = 1; j < LO - 1; j++)
            gx[j] = 0.5f * (r[j + 1] - r[j - 1]);
        gx[LO - 1] = r[LO - 1] - r[LO - 2];
        for (int j = 0; j < LO; j++)
            gy[j] = (dn[j] - up[j]) * vs;
        float *restrict mo = mag + i * LO, *restrict po = pos + i * LO;
        for (int j = 0; j < LO; j++) {
            mo[j] = sqrtf(gx[j] * gx[j] + gy[j] * gy[j]);
            po[j] = orient_bins(gx[j], gy[j]);
        }
    }
    for (int cy = 0; cy < 4; cy++)
        for (int cx = 0; cx < 4; cx++) {
            float h[8] = {0};
            for (int i = cy * 16; i < cy * 16 + 16; i++)
                for (int j = cx * 16; j < cx * 16 + 16; j++) {
                    float p = pos[i * LO + j], m = mag[i * LO + j];
                    int b0 = (int)p;
                    float fr = p - (float)b0;
                    b0 &= 7;
                    h[b0] += m * (1.0f - fr);
                    h[(b0 + 1) & 7] += m * fr;
                }
            float tot = 8.0f * HOG_EPS;
            for (int k = 0; k < 8; k++)
                tot += h[k];
            float *o = f + VL_MG_HOG + (cy * 4 + cx) * 8;
            for (int k = 0; k < 8; k++)
                o[k] = sqrtf((h[k] + HOG_EPS) / tot);
        }
}

/* RMS of cur - prev over the overlap after moving prev by (sx, sy) Y64 pixels. */
static float diff_rms(const float *cur, const float *prev, int sx, int sy)
{
    int x0 = sx > 0 ? sx : 0, x1 = sx < 0 ? LO + sx : LO;
    int y0 = sy > 0 ? sy : 0, y1 = sy < 0 ? LO + sy : LO;
    if (x1 - x0 < 8 || y1 - y0 < 8)
        return -1.0f;
    _Alignas(64) float acc[LO];
    memset(acc, 0, sizeof acc);
    for (int i = y0; i < y1; i++) {
        const float *restrict c = cur + i * LO, *restrict p = prev + (i - sy) * LO - sx;
        for (int j = x0; j < x1; j++) {
            float d = c[j] - p[j];
            acc[j] += d * d;
        }
    }
    return sqrtf(vsum(acc, LO) / (float)((x1 - x0) * (y1 - y0)));
}

static void motion(vl_builtin *b, float *f)
{
    frame_state *cur = &b->fs[b->cur], *prev = &b->fs[b->cur ^ 1];
    windowed_fft(b, cur->y64, 0, 0, 0, 0, LO, LO, LO, cur->gre, cur->gim);
    for (int q = 0; q < 4; q++)
        windowed_fft(b, cur->y64, (q & 1) * QN, (q >> 1) * QN, 0, 0, QN, QN, QN, cur->qre[q], cur->qim[q]);
    memset(f, 0, sizeof(float) * VL_MG_MOTION_DIM);
    if (!b->has_prev)
        return;

    /* Y64 pixels are 2 input pixels */
    const float to_feat = 2.0f / VL_MG_SHIFT_SCALE;
    pc_result g = window_motion(b, cur->gre, cur->gim, prev->gre, prev->gim, cur->y64, prev->y64, 0, 0, LO);
    f[VL_MG_DX] = g.dx * to_feat;
    f[VL_MG_DY] = g.dy * to_feat;
    f[VL_MG_SPEED] = sqrtf(g.dx * g.dx + g.dy * g.dy) * to_feat;
    f[VL_MG_PEAK] = g.peak;

    /* affine fit u = tx + a x + b y, v = ty + c x + d y to the quadrant shifts at
     * their centres (+-16, +-16) Y64 pixels from the image centre */
    float u[4], v[4], pk = 0.0f;
    for (int q = 0; q < 4; q++) {
        pc_result r = window_motion(b, cur->qre[q], cur->qim[q], prev->qre[q], prev->qim[q], cur->y64, prev->y64,
                                    (q & 1) * QN, (q >> 1) * QN, QN);
        u[q] = r.dx;
        v[q] = r.dy;
        pk += r.peak;
    }
    static const float sx[4] = {-1, 1, -1, 1}, sy[4] = {-1, -1, 1, 1};
    float tx = 0, ty = 0, a = 0, bb = 0, c = 0, d = 0;
    for (int q = 0; q < 4; q++) {
        tx += u[q] * 0.25f;
        ty += v[q] * 0.25f;
        a += u[q] * sx[q];
        bb += u[q] * sy[q];
        c += v[q] * sx[q];
        d += v[q] * sy[q];
    }
    const float r0 = (float)(QN / 2), inv = 1.0f / (4.0f * r0);
    a *= inv;
    bb *= inv;
    c *= inv;
    d *= inv;
    float res = 0.0f;
    for (int q = 0; q < 4; q++) {
        float eu = u[q] - (tx + a * sx[q] * r0 + bb * sy[q] * r0);
        float ev = v[q] - (ty + c * sx[q] * r0 + d * sy[q] * r0);
        res += eu * eu + ev * ev;
    }
    f[VL_MG_ZOOM] = 0.5f * (a + d) * VL_MG_AFFINE_SCALE;
    f[VL_MG_ROT] = 0.5f * (c - bb) * VL_MG_AFFINE_SCALE;
    f[VL_MG_SHEAR1] = 0.5f * (a - d) * VL_MG_AFFINE_SCALE;
    f[VL_MG_SHEAR2] = 0.5f * (bb + c) * VL_MG_AFFINE_SCALE;
    f[VL_MG_QPEAK] = 0.25f * pk;
    f[VL_MG_QRESID] = sqrtf(res / 8.0f) * to_feat;

    float raw = diff_rms(cur->y64, prev->y64, 0, 0);
    float comp = diff_rms(cur->y64, prev->y64, (int)lrintf(g.dx), (int)lrintf(g.dy));
    f[VL_MG_DIFF] = 4.0f * raw;
    f[VL_MG_DIFF_COMP] = 4.0f * (comp >= 0.0f ? comp : raw);
}

vl_status vl_builtin_run(vl_builtin *b, const float *frames, int n, int new_sequence, float *features)
{
    if (!b)
        return vl_seterr(VL_ERR_ARG, "built-in backbone: handle is NULL");
    if (b->dense)
        return vl_seterr(VL_ERR_ARG, "built-in backbone 'motion' needs every decoded frame and its time "
                                     "(vl_builtin_run_dense), not only the sampled frames");
    if (n < 0)
        return vl_seterr(VL_ERR_ARG, "built-in backbone: negative frame count %d", n);
    if (new_sequence)
        b->has_prev = 0;
    if (n == 0)
        return VL_OK;
    if (!frames || !features)
        return vl_seterr(VL_ERR_ARG, "built-in backbone: NULL %s buffer", frames ? "feature" : "frame");
    const int64_t fsz = 3 * IN * IN;
    for (int i = 0; i < n; i++) {
        /* ego-motion keeps the leading blocks of the same descriptor */
        float *f = b->dim == VL_MG_DIM ? features + (size_t)i * VL_MG_DIM : b->full;
        appearance(b, frames + (size_t)i * fsz, f, 1);
        /* colour cell sums cover every pixel of every channel: a NaN or Inf
         * anywhere makes one of them non-finite */
        int ok = 1;
        for (int k = VL_MG_CHROMA; k < VL_MG_CHROMA + 32; k++)
            ok &= isfinite(f[k]) != 0;
        if (!ok) {
            b->has_prev = 0;
            return vl_seterr(VL_ERR_NUMERIC, "built-in backbone: frame %d of the batch has non-finite pixels", i);
        }
        motion(b, f);
        if (f == b->full)
            memcpy(features + (size_t)i * b->dim, f, sizeof(float) * (size_t)b->dim);
        b->cur ^= 1;
        b->has_prev = 1;
    }
    return VL_OK;
}

/* ---- "motion": every decoded frame, one vector per sampled step ------------------ */

int vl_builtin_dense(const vl_builtin *b) { return b && b->dense; }

static void mo_reset_step(vl_builtin *b)
{
    b->acc_t = 0.0;
    b->acc_n = b->acc_ns = 0;
    for (int k = 0; k < 4; k++)
        b->acc_v2[k] = 0.0;
    b->acc_sharp[0] = b->acc_sharp[1] = b->acc_sharp[2] = 0.0;
}

static const mo_sample *mo_at(const vl_builtin *b, int i) { return &b->hist[(b->hhead + i) % MO_CAP]; }

/* The oldest history entry inside the window that starts at t0. */
static int mo_window_first(const vl_builtin *b, double t0)
{
    int first = 0;
    while (first < b->hn && mo_at(b, first)->t <= t0)
        first++;
    return first;
}

/* A sample's weight in a window [t0, t0 + W]: Hann times its duration. */
static double mo_weight(const mo_sample *m, double t0, double W)
{
    return (0.5 - 0.5 * cos(2.0 * 3.14159265358979323846 * (m->t - t0) / W)) * m->dt;
}

/* The strongest frequency of velocity component `comp` over the `W` seconds
 * ending at `now`: power on a 0.05 Hz grid (phasors advanced by rotation,
 * one sin/cos pair per sample), the peak refined by a parabola through its
 * neighbours. Writes Hz and the peak's share of the grid's power. */
#define PK_F0 0.6
#define PK_DF 0.05
#define PK_N 85
static void mo_peak(const vl_builtin *b, double now, double W, int comp, double fmin, double fmax, float *hz,
                    float *share)
{
    double t0 = now - W, wsum = 0.0, mean = 0.0, re[PK_N] = {0}, im[PK_N] = {0};
    const int first = mo_window_first(b, t0);
    for (int i = first; i < b->hn; i++) {
        const mo_sample *m = mo_at(b, i);
        double w = mo_weight(m, t0, W);
        wsum += w;
        mean += w * m->v[comp];
    }
    *hz = *share = 0.0f;
    if (wsum <= 0.0)
        return;
    mean /= wsum;
    for (int i = first; i < b->hn; i++) {
        const mo_sample *m = mo_at(b, i);
        double u = m->t - t0;
        double w = mo_weight(m, t0, W);
        double v = w * (m->v[comp] - mean);
        double ph = -2.0 * 3.14159265358979323846 * PK_F0 * u, dph = -2.0 * 3.14159265358979323846 * PK_DF * u;
        double c = cos(ph), sn = sin(ph), dc = cos(dph), ds = sin(dph);
        for (int q = 0; q < PK_N; q++) {
            re[q] += v * c;
            im[q] += v * sn;
            double c2 = c * dc - sn * ds;
            sn = c * ds + sn * dc;
            c = c2;
        }
    }
    double p[PK_N], tot = 0.0;
    int best = -1;
    for (int q = 0; q < PK_N; q++) {
        p[q] = re[q] * re[q] + im[q] * im[q];
        tot += p[q];
        double f = PK_F0 + PK_DF * q;
        if (f >= fmin - 1e-9 && f <= fmax + 1e-9 && (best < 0 || p[q] > p[best]))
            best = q;
    }
    double floor_ = 0.02 * wsum * wsum * PK_N / VL_MO_NBANDS; /* as the band spectra's, per grid point */
    /* refine only a true local maximum (the largest point inside the band
     * can sit on the shoulder of a stronger peak outside it) */
    double d = 0.0;
    if (best > 0 && best < PK_N - 1 && p[best] >= p[best - 1] && p[best] >= p[best + 1]) {
        double den = p[best - 1] - 2.0 * p[best] + p[best + 1];
        d = den < 0.0 ? 0.5 * (p[best - 1] - p[best + 1]) / den : 0.0;
        d = d < -0.5 ? -0.5 : d > 0.5 ? 0.5 : d;
    }
    *hz = (float)(PK_F0 + PK_DF * (best + d));
    *share = (float)(p[best] / (tot + floor_));
}

/* Relative blur: the step's mean sharpness minus the window's maximum. */
static void mo_blur(const vl_builtin *b, int first, float *f)
{
    if (b->acc_ns <= 0)
        return;
    float mx[3] = {-1e30f, -1e30f, -1e30f};
    for (int i = first; i < b->hn; i++)
        for (int k = 0; k < 3; k++)
            mx[k] = mo_at(b, i)->sharp[k] > mx[k] ? mo_at(b, i)->sharp[k] : mx[k];
    for (int k = 0; k < 3; k++)
        f[VL_MO_BLUR + k] = mx[k] > -1e29f ? (float)(b->acc_sharp[k] / b->acc_ns) - mx[k] : 0.0f;
}

/* The step's vector from its sums and the history window ending at `now`. */
static void mo_describe(vl_builtin *b, double now, float *f)
{
    memset(f, 0, sizeof(float) * VL_MO_DIM);
    if (b->acc_n == 0 && b->hn > 0) {
        /* a repeated step (sampling above the source rate): the motion of the last one */
        memcpy(f, b->last, sizeof(float) * VL_MO_DIM);
        return;
    }
    /* window: Hann-weighted, mean-removed velocities; power per frequency by
     * a direct (non-uniform) Fourier sum over the samples' own times, so
     * variable frame rates and dropped frames need no resampling */
    double t0 = now - VL_MO_WINDOW, wsum = 0.0, mean[4] = {0}, ms[4] = {0};
    const int first = mo_window_first(b, t0);
    for (int i = first; i < b->hn; i++) {
        const mo_sample *m = mo_at(b, i);
        double w = mo_weight(m, t0, VL_MO_WINDOW);
        wsum += w;
        for (int k = 0; k < 4; k++) {
            mean[k] += w * m->v[k];
            ms[k] += m->dt * (double)m->v[k] * m->v[k];
        }
    }
    double span = 0.0;
    for (int i = first; i < b->hn; i++)
        span += mo_at(b, i)->dt;
    if (span <= 0.0)
        return;
    /* powers need no window weights (the newest sample's Hann weight is 0,
     * so a window holding one sample has wsum 0 but a power) */
    for (int k = 0; k < 4; k++) {
        const double sc2 = (double)VL_MO_RATE_SCALE * VL_MO_RATE_SCALE;
        double r = ms[k] / span * sc2;
        f[VL_MO_LOGPOW + k] = (float)log(1e-3 + r);
        double step = b->acc_t > 0.0 ? b->acc_v2[k] / b->acc_t * sc2 : 0.0;
        f[VL_MO_REL + k] = (float)log((1e-4 + step) / (1e-3 + r));
    }
    mo_blur(b, first, f);
    if (wsum <= 0.0)
        return;
    for (int k = 0; k < 4; k++)
        mean[k] /= wsum;
    const int comp[2] = {1, 0}, off[2] = {VL_MO_SPEC_Y, VL_MO_SPEC_X};
    for (int c = 0; c < 2; c++) {
        double p[VL_MO_NBANDS], tot = 0.0, cen = 0.0;
        for (int q = 0; q < VL_MO_NBANDS; q++) {
            double re = 0.0, im = 0.0, om = 2.0 * 3.14159265358979323846 * b->freq[q];
            for (int i = first; i < b->hn; i++) {
                const mo_sample *m = mo_at(b, i);
                double w = mo_weight(m, t0, VL_MO_WINDOW);
                double v = w * (m->v[comp[c]] - mean[comp[c]]);
                re += v * cos(om * (m->t - t0));
                im -= v * sin(om * (m->t - t0));
            }
            p[q] = re * re + im * im;
            tot += p[q];
            cen += p[q] * b->freq[q];
        }
        /* a floor so that a still camera's noise does not look like a clean
         * tone: a sinusoid of amplitude a gives p ~ (a wsum / 2)^2; the floor
         * is that of a = 0.28 units/s (about 2 px/s of the 128 px frame),
         * above the frame-to-frame noise of the shift estimates */
        double floor_ = 0.02 * wsum * wsum;
        for (int q = 0; q < VL_MO_NBANDS; q++)
            f[off[c] + q] = (float)(p[q] / (tot + floor_));
        f[VL_MO_CENTROID + c] = (float)(tot > 0.0 ? cen / (tot + floor_) / 5.0 : 0.0);
    }
    for (int c = 0; c < 2; c++) {
        /* human gait: steps (vertical bob) at 1.2-4.8 per second, strides (sway) at half that */
        float hz, sh;
        mo_peak(b, now, VL_MO_PEAK_WINDOW, comp[c], c ? 0.6 : 1.2, c ? 2.4 : 4.8, &hz, &sh);
        f[VL_MO_PEAKF + c] = hz / 5.0f;
        f[VL_MO_PEAKSHARE + c] = sh;
    }
}

vl_status vl_builtin_run_dense(vl_builtin *b, const float *frames, int n, const double *pts, const int *steps,
                               int new_sequence, float *features)
{
    if (!b)
        return vl_seterr(VL_ERR_ARG, "built-in backbone: handle is NULL");
    if (n < 0)
        return vl_seterr(VL_ERR_ARG, "built-in backbone: negative frame count %d", n);
    if (new_sequence) {
        b->has_prev = 0;
        b->hn = b->hhead = 0;
        mo_reset_step(b);
    }
    if (n == 0)
        return VL_OK;
    if (!frames || !features || !steps || (b->dense && !pts))
        return vl_seterr(VL_ERR_ARG, "built-in backbone: NULL buffer");
    const int64_t fsz = (b->dense ? 1 : 3) * IN * IN;
    if (!b->dense) { /* a per-frame descriptor: sampled frames only, repeated as asked */
        for (int i = 0; i < n; i++) {
            if (steps[i] <= 0)
                continue;
            vl_status st = vl_builtin_run(b, frames + (size_t)i * fsz, 1, 0, features);
            if (st)
                return st;
            for (int j = 1; j < steps[i]; j++)
                memcpy(features + (size_t)j * b->dim, features, sizeof(float) * (size_t)b->dim);
            features += (size_t)steps[i] * b->dim;
        }
        return VL_OK;
    }
    for (int i = 0; i < n; i++) {
        float *f = b->full;
        appearance(b, frames + (size_t)i * fsz, f, 0);
        /* the luma sum covers every pixel: a NaN or Inf anywhere makes it non-finite */
        if (!isfinite(vsum(b->fs[b->cur].y64, LO * LO))) {
            b->has_prev = 0;
            b->hn = b->hhead = 0;
            mo_reset_step(b);
            return vl_seterr(VL_ERR_NUMERIC, "built-in backbone: frame %d of the batch has non-finite pixels", i);
        }
        motion(b, f);
        float sharp[3] = {f[VL_MG_SHARP_X], f[VL_MG_SHARP_Y], logf(f[VL_MG_GRAD] + 1e-3f)};
        if (!isfinite(pts[i])) {
            b->has_prev = 0;
            b->hn = b->hhead = 0;
            mo_reset_step(b);
            return vl_seterr(VL_ERR_ARG, "built-in backbone: frame %d of the batch has a non-finite time", i);
        }
        /* time only moves forward (the history is kept in time order); repeated
         * or broken timestamps still give a finite rate: at most 240 frames
         * per second count as such (faster sources read as slowed to 240) */
        double t = b->has_prev && pts[i] < b->prev_pts + 1.0 / 240.0 ? b->prev_pts + 1.0 / 240.0 : pts[i];
        if (b->has_prev) {
            double dt = t - b->prev_pts;
            dt = dt > 1.0 ? 1.0 : dt;
            const float q[4] = {f[VL_MG_DX], f[VL_MG_DY], f[VL_MG_ZOOM], f[VL_MG_ROT]};
            mo_sample *m;
            if (b->hn < MO_CAP)
                m = &b->hist[(b->hhead + b->hn++) % MO_CAP];
            else {
                m = &b->hist[b->hhead];
                b->hhead = (b->hhead + 1) % MO_CAP;
            }
            m->t = t;
            m->dt = dt;
            for (int k = 0; k < 4; k++) {
                m->v[k] = (float)(q[k] / dt);
                b->acc_v2[k] += (double)q[k] * q[k] / dt;
            }
            for (int k = 0; k < 3; k++)
                m->sharp[k] = sharp[k];
            b->acc_t += dt;
            b->acc_n++;
        }
        for (int k = 0; k < 3; k++)
            b->acc_sharp[k] += sharp[k];
        b->acc_ns++;
        b->prev_pts = t;
        b->cur ^= 1;
        b->has_prev = 1;
        for (int j = 0; j < steps[i]; j++) {
            mo_describe(b, t, features);
            memcpy(b->last, features, sizeof(float) * VL_MO_DIM);
            features += VL_MO_DIM;
            mo_reset_step(b);
        }
    }
    return VL_OK;
}
