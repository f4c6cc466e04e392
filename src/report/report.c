/* Training reports: SVG written by hand into growable buffers, then each file
 * written atomically. Layout uses estimated text widths (0.6 em per character,
 * wide enough for DejaVu Sans, the widest common fallback font). */
#include "report/report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/error.h"
#include "core/utf8.h"

#define FONT "Helvetica, Arial, &apos;Liberation Sans&apos;, &apos;DejaVu Sans&apos;, sans-serif"
#define MAX_PLOT_POINTS 1500 /* buckets for min/max decimation: at most 2x points drawn */
#define MAX_TIMELINES 60

/* ---- string buffer ------------------------------------------------------------ */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->n + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        sb_putn(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_putn(b, big, (size_t)n);
    free(big);
}

/* Coordinates: never NaN or Inf in the output, whatever the input. */
static double C(double v) { return isfinite(v) ? v : 0.0; }

static int utf8_chars(const char *s)
{
    int n = 0, len;
    uint32_t cp;
    while (s && (len = vl_utf8_next(s, &cp)) > 0) {
        s += len;
        n++;
    }
    return n;
}

/* XML/HTML-escaped text, at most maxchars characters (0 = all; a longer
 * string ends in an ellipsis). Invalid UTF-8 and characters XML forbids
 * become U+FFFD. */
static void sb_esc(sbuf *b, const char *s, int maxchars)
{
    if (!s)
        return;
    int total = maxchars > 0 ? utf8_chars(s) : 0, n = 0, len;
    uint32_t cp;
    char buf[4];
    while ((len = vl_utf8_next(s, &cp)) > 0) {
        if (maxchars > 0 && total > maxchars && n == maxchars - 1) {
            sb_puts(b, "\xE2\x80\xA6"); /* … */
            return;
        }
        switch (cp) {
        case '&': sb_puts(b, "&amp;"); break;
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '"': sb_puts(b, "&quot;"); break;
        case '\'': sb_puts(b, "&apos;"); break;
        default:
            if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0xFFFE || cp == 0xFFFF)
                cp = 0xFFFD;
            sb_putn(b, buf, (size_t)vl_utf8_put(buf, cp));
        }
        s += len;
        n++;
    }
}

/* Estimated rendered width of a string shown with at most maxchars
 * characters (0 = all; as sb_esc truncates it) at font size fs: Helvetica's
 * advance widths (Arial and Liberation Sans share them) plus 10% for wider
 * fallback fonts such as DejaVu Sans; 0.6 em for other Latin/Greek/Cyrillic
 * text and a full em for CJK and symbols. */
static double str_w(const char *s, int maxchars, double fs)
{
    static const unsigned short adv[95] = {
        278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
        556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
        611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
        667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
        222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584};
    if (!s)
        return 0;
    int total = maxchars > 0 ? utf8_chars(s) : 0, n = 0, len;
    double w = 0;
    uint32_t cp;
    while ((len = vl_utf8_next(s, &cp)) > 0) {
        if (maxchars > 0 && total > maxchars && n == maxchars - 1) {
            w += 1000; /* the ellipsis */
            break;
        }
        w += cp >= 32 && cp < 127 ? adv[cp - 32] : cp < 0x2E80 ? 600 : 1000;
        s += len;
        n++;
    }
    return w * 1.1e-3 * fs;
}

static void sb_text(sbuf *b, double x, double y, double fs, const char *anchor, const char *extra, const char *s,
                    int maxchars)
{
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\"%s%s%s%s>", C(x), C(y), C(fs),
              anchor ? " text-anchor=\"" : "", anchor ? anchor : "", anchor ? "\"" : "", extra ? extra : "");
    sb_esc(b, s, maxchars);
    sb_puts(b, "</text>\n");
}

/* ---- numbers and colours --------------------------------------------------------- */

/* A "nice" step (1, 2 or 5 times a power of ten) near range / target. */
static double nice_step(double range, int target)
{
    if (!(range > 0) || !isfinite(range))
        return 1.0;
    double raw = range / (target > 1 ? target : 1);
    double p = pow(10.0, floor(log10(raw)));
    double f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

/* Tick label for value v on an axis with tick spacing `step`: k/M/G
 * suffixes for large values when at most one decimal is needed (20k, 1.5M),
 * fixed decimals for ordinary values, else as many significant digits as
 * the spacing needs (so neighbouring ticks never print alike). */
static void fmt_tick(char *buf, size_t n, double v, double step)
{
    static const double div[3] = {1e9, 1e6, 1e3};
    static const char *const suf[3] = {"G", "M", "k"};
    double a = fabs(v);
    if (a < step * 1e-6)
        v = 0.0, a = 0.0;
    if (a >= 1e4 && a < 1e12)
        for (int i = 0; i < 3; i++)
            if (a >= div[i] && step / div[i] >= 0.1) {
                double s = step / div[i];
                int dec = s >= 1 ? 0 : (int)ceil(-log10(s) - 1e-9);
                snprintf(buf, n, "%.*f%s", dec, v / div[i], suf[i]);
                return;
            }
    if (a < 1e7 && step >= 1e-4) {
        int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
        snprintf(buf, n, "%.*f", dec, v);
        return;
    }
    int sig = a > 0 ? (int)ceil(log10(a / step)) + 1 : 1;
    sig = sig < 2 ? 2 : sig > 15 ? 15 : sig;
    snprintf(buf, n, "%.*g", sig, v);
}

typedef struct {
    unsigned char r, g, b;
} rgb;

static rgb lerp_rgb(rgb a, rgb b, double t)
{
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return (rgb){(unsigned char)lround(a.r + (b.r - a.r) * t), (unsigned char)lround(a.g + (b.g - a.g) * t),
                 (unsigned char)lround(a.b + (b.b - a.b) * t)};
}

static void hex(char out[8], rgb c) { snprintf(out, 8, "#%02x%02x%02x", c.r, c.g, c.b); }

/* Dark fills get white text, light ones near-black (relative luminance). */
static const char *text_on(rgb c)
{
    double l = 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
    return l < 140 ? "#ffffff" : "#1a1a1a";
}

static rgb hsl(double h, double s, double l)
{
    double c = (1 - fabs(2 * l - 1)) * s, hp = fmod(h, 360.0) / 60.0, x = c * (1 - fabs(fmod(hp, 2.0) - 1));
    double r = 0, g = 0, bl = 0;
    if (hp < 1) r = c, g = x;
    else if (hp < 2) r = x, g = c;
    else if (hp < 3) g = c, bl = x;
    else if (hp < 4) g = x, bl = c;
    else if (hp < 5) r = x, bl = c;
    else r = c, bl = x;
    double m = l - c / 2;
    return (rgb){(unsigned char)lround((r + m) * 255), (unsigned char)lround((g + m) * 255),
                 (unsigned char)lround((bl + m) * 255)};
}

/* A colour per class: Tableau 10, then golden-angle hues in three lightnesses. */
static rgb class_rgb(int32_t k)
{
    static const rgb tab10[10] = {{0x4e, 0x79, 0xa7}, {0xf2, 0x8e, 0x2b}, {0xe1, 0x57, 0x59}, {0x76, 0xb7, 0xb2},
                                  {0x59, 0xa1, 0x4f}, {0xed, 0xc9, 0x48}, {0xb0, 0x7a, 0xa1}, {0xff, 0x9d, 0xa7},
                                  {0x9c, 0x75, 0x5f}, {0xba, 0xb0, 0xac}};
    if (k < 0)
        return (rgb){0xe0, 0xe0, 0xe0};
    if (k < 10)
        return tab10[k];
    static const double light[3] = {0.45, 0.62, 0.35};
    return hsl(fmod((double)k * 137.508, 360.0), 0.6, light[(k / 7) % 3]);
}

static void class_label(char *buf, size_t n, const char *const *names, int nnames, int32_t k)
{
    if (k < 0)
        snprintf(buf, n, "unlabelled");
    else if (names && k < nnames && names[k])
        snprintf(buf, n, "%s", names[k]);
    else
        snprintf(buf, n, "class %d", (int)k);
}

/* ---- SVG documents --------------------------------------------------------------- */

static void svg_open(sbuf *b, double w, double h, const char *title)
{
    sb_printf(b,
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
              "font-family=\"" FONT "\" role=\"img\">\n<title>",
              C(w), C(h), C(w), C(h));
    sb_esc(b, title, 0);
    sb_printf(b, "</title>\n<rect width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", C(w), C(h));
}

/* ---- training progress --------------------------------------------------------- */

typedef struct {
    double x0, y0, w, h;         /* plot area in pixels */
    double xmin, xmax, ymin, ymax; /* data range */
} axes;

static double ax_x(const axes *a, double v) { return a->x0 + (v - a->xmin) / (a->xmax - a->xmin) * a->w; }
static double ax_y(const axes *a, double v) { return a->y0 + a->h - (v - a->ymin) / (a->ymax - a->ymin) * a->h; }

typedef struct {
    const vl_progress_point *p;
    int n;
    int which; /* 0: loss, 1: metric */
    double scale; /* 100 for accuracy in percent */
} series_src;

static double train_val(const series_src *s, int i)
{
    double v = s->which ? s->p[i].metric : s->p[i].loss;
    return v * s->scale;
}

static double valid_val(const series_src *s, int i)
{
    double v = s->which ? s->p[i].val_metric : s->p[i].val_loss;
    return v * s->scale;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A path through (x[i], y[i]) with a gap at every NaN y. */
static void path_points(sbuf *b, const axes *a, const double *x, const double *y, int n, const char *style)
{
    int pen = 0, any = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            pen = 0;
            continue;
        }
        if (!any)
            sb_printf(b, "<path %s d=\"", style);
        any = 1;
        sb_printf(b, "%c%.1f %.1f", pen ? 'L' : 'M', C(ax_x(a, x[i])), C(ax_y(a, y[i])));
        pen = 1;
    }
    if (any)
        sb_puts(b, "\"/>\n");
}

/* The next of 1, 2, 5, 10, 20, 50, ... */
static int next_nice(int k)
{
    int lead = k;
    while (lead >= 10)
        lead /= 10;
    return lead == 2 ? k / 2 * 5 : k * 2;
}

/* Epoch boundaries are drawn for every k-th epoch, k in 1, 2, 5, 10, 20, 50..
 * so that at most 25 lines show; 0 when the run has a single epoch. */
static int epoch_stride(const vl_progress_point *p, int n)
{
    int nep = 0;
    for (int i = 1; i < n; i++)
        nep += p[i].epoch != p[i - 1].epoch;
    if (nep == 0)
        return 0;
    int every = 1;
    while (nep / every > 25)
        every = next_nice(every);
    return every;
}

/* Draws one subplot: grid, epoch boundaries, the training curve (min/max
 * decimated), its smoothed line, validation points, axes and labels. */
static void progress_subplot(sbuf *b, const series_src *s, axes *a, const char *ylabel,
                             const char *clip_id, const char *train_col, const char *smooth_col)
{
    int n = s->n;
    const vl_progress_point *p = s->p;
    /* y range over finite values; robust top when a few early spikes would squash the rest */
    double lo = INFINITY, hi = -INFINITY, vhi = -INFINITY;
    int nfin = 0, nbad = 0, nval = 0;
    double *fin = malloc((size_t)(n > 0 ? n : 1) * sizeof *fin);
    double *sm = malloc((size_t)(n > 0 ? n : 1) * sizeof *sm);
    if (!fin || !sm) {
        free(fin);
        free(sm);
        b->oom = 1;
        return;
    }
    /* exponential moving average, debiased, with a window of about 1% of the
     * points (at least 2.5): smooth enough, and lagging trends by little */
    double wnd = n / 100.0 > 2.5 ? n / 100.0 : 2.5, wgt = 1.0 - 1.0 / wnd, acc = 0.0, bias = 1.0;
    for (int i = 0; i < n; i++) {
        double v = train_val(s, i), vv = valid_val(s, i);
        sm[i] = NAN;
        if (isfinite(v)) {
            fin[nfin++] = v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            acc = wgt * acc + (1 - wgt) * v;
            bias *= wgt;
            sm[i] = acc / (1 - bias);
        } else {
            nbad++;
        }
        if (isfinite(vv)) {
            lo = vv < lo ? vv : lo;
            vhi = vv > vhi ? vv : vhi;
            nval++;
        }
    }
    /* a NaN metric on every step just means "not recorded": not worth a note */
    if (nbad == n)
        nbad = 0;
    int clipped = 0;
    if (nfin > 20) {
        qsort(fin, (size_t)nfin, sizeof *fin, cmp_double);
        double q = fin[(size_t)(0.98 * (nfin - 1))];
        double keep = q > vhi ? q : vhi;
        if (hi > keep + 1.5 * (keep - (lo < 0 ? lo : 0)) && keep > lo) {
            hi = keep + 0.1 * (keep - lo);
            clipped = 1;
        }
    }
    hi = vhi > hi ? vhi : hi;
    free(fin);
    int empty = !(lo <= hi);
    if (s->scale == 100.0) { /* accuracy in percent */
        a->ymin = 0, a->ymax = 100;
    } else if (empty) {
        a->ymin = 0, a->ymax = 1;
    } else {
        if (lo > 0)
            lo = 0;
        if (hi <= lo)
            hi = lo + (fabs(lo) > 0 ? fabs(lo) : 1.0);
        hi += 0.03 * (hi - lo); /* headroom: a point at the top stays whole */
        double st = nice_step(hi - lo, 5);
        a->ymin = floor(lo / st) * st;
        a->ymax = ceil(hi / st - 1e-9) * st;
        if (a->ymax <= a->ymin)
            a->ymax = a->ymin + st;
    }
    char t[64];
    /* grid and y ticks */
    double yst = s->scale == 100.0 ? 20.0 : nice_step(a->ymax - a->ymin, 5);
    for (double v = a->ymin; v <= a->ymax + yst * 1e-6; v += yst) {
        double y = ax_y(a, v);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>\n", C(a->x0), C(y),
                  C(a->x0 + a->w), C(y));
        fmt_tick(t, sizeof t, v, yst);
        sb_text(b, a->x0 - 6, y + 4, 11, "end", " fill=\"#444\"", t, 0);
    }
    double xst = nice_step(a->xmax - a->xmin, (int)(a->w / 90));
    if (xst < 1)
        xst = 1;
    for (double v = ceil(a->xmin / xst) * xst; v <= a->xmax + xst * 1e-6; v += xst) {
        double x = ax_x(a, v);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>\n", C(x), C(a->y0),
                  C(x), C(a->y0 + a->h));
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", C(x),
                  C(a->y0 + a->h), C(x), C(a->y0 + a->h + 4));
        fmt_tick(t, sizeof t, v, xst);
        sb_text(b, x, a->y0 + a->h + 16, 11, "middle", " fill=\"#444\"", t, 0);
    }
    /* epoch boundaries: between the last point of an epoch and the first of the next;
     * thinned to every k-th so that they stay at least 6 px apart */
    int every = epoch_stride(p, n);
    if (every > 0) {
        for (int i = 1; i < n; i++)
            if (p[i].epoch != p[i - 1].epoch && (p[i].epoch - 1) % every == 0) {
                double x = ax_x(a, 0.5 * ((double)p[i - 1].iteration + p[i].iteration));
                sb_printf(b,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#9a9a9a\" "
                          "stroke-dasharray=\"3 3\"/>\n",
                          C(x), C(a->y0), C(x), C(a->y0 + a->h));
            }
    }
    sb_printf(b, "<clipPath id=\"%s\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath>\n",
              clip_id, C(a->x0 - 4), C(a->y0 - 4), C(a->w + 8), C(a->h + 8));
    sb_printf(b, "<g clip-path=\"url(#%s)\">\n", clip_id);
    /* the raw training curve: every point, or per bucket its min and max in order */
    if (n > 0) {
        int nb = n > 2 * MAX_PLOT_POINTS ? MAX_PLOT_POINTS : n;
        double *xs = malloc(sizeof(double) * 2 * (size_t)nb + 2), *ys = malloc(sizeof(double) * 2 * (size_t)nb + 2);
        double *sx = malloc(sizeof(double) * (size_t)nb + 1), *sy = malloc(sizeof(double) * (size_t)nb + 1);
        if (!xs || !ys || !sx || !sy) {
            b->oom = 1;
        } else {
            int k = 0, ks = 0;
            for (int bk = 0; bk < nb; bk++) {
                int i0 = (int)((int64_t)bk * n / nb), i1 = (int)((int64_t)(bk + 1) * n / nb);
                int imin = -1, imax = -1, gap = 0, last_sm = -1;
                for (int i = i0; i < i1; i++) {
                    double v = train_val(s, i);
                    if (!isfinite(v)) {
                        gap = 1;
                        continue;
                    }
                    if (imin < 0 || v < train_val(s, imin))
                        imin = i;
                    if (imax < 0 || v > train_val(s, imax))
                        imax = i;
                    last_sm = i;
                }
                if (gap || imin < 0) { /* a pen-up marker */
                    xs[k] = p[i0].iteration, ys[k++] = NAN;
                }
                if (imin >= 0) {
                    int f = imin < imax ? imin : imax, l = imin < imax ? imax : imin;
                    xs[k] = p[f].iteration, ys[k++] = train_val(s, f);
                    if (l != f)
                        xs[k] = p[l].iteration, ys[k++] = train_val(s, l);
                }
                if (last_sm >= 0)
                    sx[ks] = p[last_sm].iteration, sy[ks++] = sm[last_sm];
            }
            char style[160];
            snprintf(style, sizeof style, "fill=\"none\" stroke=\"%s\" stroke-width=\"1\" stroke-linejoin=\"round\"",
                     train_col);
            path_points(b, a, xs, ys, k, style);
            if (n <= 60) /* sparse runs: dots show where the points are */
                for (int i = 0; i < k; i++)
                    if (isfinite(ys[i]))
                        sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\"/>\n",
                                  C(ax_x(a, xs[i])), C(ax_y(a, ys[i])), ks == 1 ? "3.5" : "2",
                                  ks == 1 ? smooth_col : train_col);
            snprintf(style, sizeof style,
                     "fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-linejoin=\"round\" stroke-linecap=\"round\"",
                     smooth_col);
            path_points(b, a, sx, sy, ks, style);
        }
        free(xs);
        free(ys);
        free(sx);
        free(sy);
    }
    /* validation: dashed line through the points, markers when few */
    if (nval > 0) {
        int stride = nval > 2000 ? (nval + 1999) / 2000 : 1;
        double *vx = calloc((size_t)(nval / stride + 2), sizeof(double)),
               *vy = calloc((size_t)(nval / stride + 2), sizeof(double));
        if (!vx || !vy) {
            b->oom = 1;
        } else {
            int k = 0, seen = 0;
            for (int i = 0; i < n; i++) {
                double v = valid_val(s, i);
                if (!isfinite(v))
                    continue;
                if (seen++ % stride == 0 || seen == nval)
                    vx[k] = p[i].iteration, vy[k++] = v;
            }
            path_points(b, a, vx, vy, k,
                        "fill=\"none\" stroke=\"#1a1a1a\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"");
            if (k <= 150)
                for (int i = 0; i < k; i++)
                    sb_printf(b,
                              "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#1a1a1a\" stroke=\"#ffffff\" "
                              "stroke-width=\"1\"/>\n",
                              C(ax_x(a, vx[i])), C(ax_y(a, vy[i])));
        }
        free(vx);
        free(vy);
    }
    sb_puts(b, "</g>\n");
    free(sm);
    /* frame and axis title */
    sb_printf(b,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\" "
              "stroke-width=\"1\"/>\n",
              C(a->x0), C(a->y0), C(a->w), C(a->h));
    char tr[96];
    snprintf(tr, sizeof tr, " transform=\"rotate(-90 %.1f %.1f)\" fill=\"#222\"", C(a->x0 - 52),
             C(a->y0 + a->h / 2));
    sb_text(b, a->x0 - 52, a->y0 + a->h / 2, 13, "middle", tr, ylabel, 0);
    if (empty || (n > 0 && nfin == 0 && nval == 0))
        sb_text(b, a->x0 + a->w / 2, a->y0 + a->h / 2, 13, "middle", " fill=\"#888\"", "no data recorded", 0);
    if (nbad || clipped) {
        char note[160];
        if (nbad && clipped)
            snprintf(note, sizeof note, "%d non-finite training values not drawn; spikes above %.3g clipped", nbad,
                     a->ymax);
        else if (nbad)
            snprintf(note, sizeof note, "%d non-finite training value%s not drawn (gaps)", nbad, nbad > 1 ? "s" : "");
        else
            snprintf(note, sizeof note, "spikes above %.3g clipped", a->ymax);
        sb_text(b, a->x0 + a->w, a->y0 + a->h + 32, 11, "end", " fill=\"#b03030\"", note, 0);
    }
}

static void legend_item(sbuf *b, double *x, double y, const char *kind, const char *col, const char *label)
{
    if (!strcmp(kind, "line"))
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n", C(*x),
                  C(y - 4), C(*x + 22), C(y - 4), col);
    else if (!strcmp(kind, "thin"))
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1\"/>\n", C(*x),
                  C(y - 4), C(*x + 22), C(y - 4), col);
    else if (!strcmp(kind, "dash")) {
        sb_printf(b,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.5\" "
                  "stroke-dasharray=\"5 3\"/>\n",
                  C(*x), C(y - 4), C(*x + 22), C(y - 4), col);
        sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", C(*x + 11), C(y - 4), col);
    } else /* epoch boundary */
        sb_printf(b,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-dasharray=\"3 3\"/>\n",
                  C(*x + 11), C(y - 11), C(*x + 11), C(y + 3), col);
    sb_text(b, *x + 28, y, 12, NULL, " fill=\"#222\"", label, 0);
    *x += 28 + str_w(label, 0, 12) + 18;
}

static void svg_progress(sbuf *b, const vl_report *r)
{
    const double W = 960, H = 640;
    int n = r->nprogress > 0 && r->progress ? r->nprogress : 0;
    const vl_progress_point *p = r->progress;
    svg_open(b, W, H, "Training progress");
    sb_text(b, 20, 26, 16, NULL, " font-weight=\"bold\" fill=\"#111\"", "Training progress", 0);
    /* info line: iterations, epochs, learning rate, last validation */
    char info[400];
    int len = 0;
    if (n == 0) {
        len = snprintf(info, sizeof info, "no training progress recorded");
    } else {
        int itmax = p[0].iteration, epmax = p[0].epoch;
        double lr0 = NAN, lr1 = NAN, lv = NAN, lm = NAN;
        for (int i = 0; i < n; i++) {
            itmax = p[i].iteration > itmax ? p[i].iteration : itmax;
            epmax = p[i].epoch > epmax ? p[i].epoch : epmax;
            if (isfinite(p[i].lr) && p[i].lr > 0) {
                if (isnan(lr0))
                    lr0 = p[i].lr;
                lr1 = p[i].lr;
            }
            if (isfinite(p[i].val_loss))
                lv = p[i].val_loss;
            if (isfinite(p[i].val_metric))
                lm = p[i].val_metric;
        }
        len = snprintf(info, sizeof info, "%d iteration%s, %d epoch%s", itmax, itmax == 1 ? "" : "s", epmax,
                       epmax == 1 ? "" : "s");
        if (isfinite(lr0) && len < (int)sizeof info) {
            if (lr0 == lr1)
                len += snprintf(info + len, sizeof info - (size_t)len, "  \xC2\xB7  learning rate %.3g", lr0);
            else
                len += snprintf(info + len, sizeof info - (size_t)len,
                                "  \xC2\xB7  learning rate %.3g \xE2\x86\x92 %.3g", lr0, lr1);
        }
        if (isfinite(lm) && len < (int)sizeof info)
            len += snprintf(info + len, sizeof info - (size_t)len,
                            r->regress ? "  \xC2\xB7  last validation RMSE %.4g" : "  \xC2\xB7  last validation accuracy %.2f%%",
                            r->regress ? lm : 100.0 * lm);
        if (isfinite(lv) && len < (int)sizeof info)
            snprintf(info + len, sizeof info - (size_t)len, ", loss %.4g", lv);
    }
    sb_text(b, 20, 46, 12, NULL, " fill=\"#555\"", info, 0);
    /* legend row */
    double lx = 80, ly = 72;
    legend_item(b, &lx, ly, "line", "#f4a582", "Training loss");
    legend_item(b, &lx, ly, "line", "#d6604d", "smoothed");
    legend_item(b, &lx, ly, "line", "#92c5de", r->regress ? "Training RMSE" : "Training accuracy");
    legend_item(b, &lx, ly, "line", "#2166ac", "smoothed");
    legend_item(b, &lx, ly, "dash", "#1a1a1a", "Validation");
    legend_item(b, &lx, ly, "epoch", "#9a9a9a", "epoch boundary");

    axes a = {.x0 = 80, .y0 = 92, .w = W - 80 - 24, .h = 220};
    double xmin = 0, xmax = 1;
    if (n > 0) {
        xmin = xmax = p[0].iteration;
        for (int i = 0; i < n; i++) {
            xmin = p[i].iteration < xmin ? p[i].iteration : xmin;
            xmax = p[i].iteration > xmax ? p[i].iteration : xmax;
        }
        if (xmax - xmin < 1) /* one iteration: put it in the middle */
            xmax = xmin + 1;
        if (xmin > 0 && xmin <= 0.05 * xmax + 1) /* start at 0 when the run starts near it */
            xmin = 0;
    }
    a.xmin = xmin, a.xmax = xmax;
    series_src s = {p, n, 0, 1.0};
    progress_subplot(b, &s, &a, "Loss", "vl-clip-loss", "#f4a582", "#d6604d");
    axes a2 = a;
    a2.y0 = a.y0 + a.h + 52;
    s.which = 1;
    s.scale = r->regress ? 1.0 : 100.0;
    progress_subplot(b, &s, &a2, r->regress ? "RMSE" : "Accuracy (%)", "vl-clip-metric", "#92c5de", "#2166ac");
    sb_text(b, a2.x0 + a2.w / 2, a2.y0 + a2.h + 34, 13, "middle", " fill=\"#222\"", "Iteration", 0);
    /* epoch numbers along the top of the first subplot, where they fit */
    int every = epoch_stride(p, n);
    if (every > 0) {
        /* label every m-th drawn boundary, m growing like the stride until the labels fit */
        for (int mult = 1; mult <= 1000000; mult = next_nice(mult)) {
            int step = every * mult, fits = 1;
            double lastx = -1e9;
            sbuf lab = {0};
            for (int i = 0; i < n && fits; i++) {
                if ((i > 0 && p[i].epoch == p[i - 1].epoch) || (p[i].epoch - 1) % step != 0)
                    continue;
                double x0 = i == 0 ? a.x0 : ax_x(&a, 0.5 * ((double)p[i - 1].iteration + p[i].iteration));
                char t[32];
                snprintf(t, sizeof t, "epoch %d", p[i].epoch);
                double w = str_w(t, 0, 10);
                if (x0 + 3 + w > a.x0 + a.w)
                    break;
                if (x0 + 3 < lastx + 10)
                    fits = 0;
                sb_text(&lab, x0 + 3, a.y0 - 6, 10, NULL, " fill=\"#777\"", t, 0);
                lastx = x0 + 3 + w;
            }
            if (fits || lab.oom) {
                if (lab.n)
                    sb_putn(b, lab.p, lab.n);
                b->oom |= lab.oom;
                free(lab.p);
                break;
            }
            free(lab.p);
        }
    }
    sb_puts(b, "</svg>\n");
}

/* ---- confusion matrix -------------------------------------------------------------- */

static void fmt_pct(char *buf, size_t n, double v)
{
    if (v >= 0.9995 && v < 1.0) /* never show 100% for an imperfect class */
        snprintf(buf, n, "99.9%%");
    else
        snprintf(buf, n, "%.1f%%", 100.0 * v);
}

/* Returns the chart's width in pixels. */
static double svg_confusion(sbuf *b, const vl_report *r)
{
    const vl_cls_metrics *m = r->confusion;
    int n = m->nclasses;
    const char *const *names = r->class_names;
    char nm[512], nm2[512], t[160], col[8];
    /* cells shrink with the class count down to 12 px, where numbers no longer fit */
    double cs = floor(600.0 / n);
    cs = cs > 56 ? 56 : cs < 12 ? 12 : cs;
    double fs = cs * 0.75 > 12 ? 12 : cs * 0.75;
    const int maxname = 28;
    double namew = 0;
    int64_t maxcount = 0;
    for (int c = 0; c < n; c++) {
        class_label(nm, sizeof nm, names, n, c);
        double w = str_w(nm, maxname, fs);
        namew = w > namew ? w : namew;
        for (int k = 0; k < n; k++)
            if (m->confusion[(size_t)c * n + k] > maxcount)
                maxcount = m->confusion[(size_t)c * n + k];
    }
    int rotate = namew > cs - 4;
    int digits = 1;
    for (int64_t v = maxcount; v >= 10; v /= 10)
        digits++;
    double cfs = cs * 0.4;
    if (cfs > 14)
        cfs = 14;
    if (cfs > (cs - 6) / (0.62 * digits))
        cfs = (cs - 6) / (0.62 * digits);
    int numbers = cfs >= 7.5;
    double sfs = fs < 11 ? fs : 11;     /* summary text size */
    int vert_prec = cs < 40;            /* precision text rotated in its cell */
    int sum_text = cs >= 12;
    double sumw = 56, ph = vert_prec ? 44 : 24;

    double pl = str_w("Precision", 0, 11);
    double mx = 40 + (namew > pl ? namew : pl) + 10, my = 64;
    double mw = n * cs;
    double labh = rotate ? namew + 8 : fs + 8;
    double W = mx + mw + 8 + sumw + 16;
    if (W < 420)
        W = 420;
    double H = my + mw + 6 + ph + 6 + labh + 46;
    svg_open(b, W, H, "Confusion matrix");
    sb_text(b, 20, 26, 16, NULL, " font-weight=\"bold\" fill=\"#111\"", "Confusion matrix", 0);
    char acc[32];
    if (isfinite(m->accuracy))
        fmt_pct(acc, sizeof acc, m->accuracy);
    else
        snprintf(acc, sizeof acc, "n/a");
    char mf1[32];
    if (isfinite(m->macro_f1))
        snprintf(mf1, sizeof mf1, "%.3f", m->macro_f1);
    else
        snprintf(mf1, sizeof mf1, "n/a");
    snprintf(t, sizeof t, "accuracy %s  \xC2\xB7  macro F1 %s  \xC2\xB7  %lld item%s  \xC2\xB7  %d class%s", acc,
             mf1, (long long)m->n, m->n == 1 ? "" : "s", n, n == 1 ? "" : "es");
    sb_text(b, 20, 46, 12, NULL, " fill=\"#555\"", t, 0);

    /* grid for readable sizes, then the non-empty cells */
    sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ffffff\"/>\n", mx, my, mw, mw);
    if (cs >= 14) {
        sb_puts(b, "<g stroke=\"#ececec\" stroke-width=\"1\">\n");
        for (int i = 1; i < n; i++)
            sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                      mx + i * cs, my, mx + i * cs, my + mw, mx, my + i * cs, mx + mw, my + i * cs);
        sb_puts(b, "</g>\n");
    }
    const rgb white = {255, 255, 255}, blue = {8, 69, 148}, red = {165, 15, 21};
    for (int c = 0; c < n; c++) {
        int64_t row = m->support[c];
        for (int k = 0; k < n; k++) {
            int64_t v = m->confusion[(size_t)c * n + k];
            if (!v)
                continue;
            double frac = row ? (double)v / (double)row : 0;
            rgb fill = lerp_rgb(white, c == k ? blue : red, 0.1 + 0.9 * frac);
            hex(col, fill);
            double x = mx + k * cs, y = my + c * cs;
            sb_printf(b, "<g><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/><title>", x, y,
                      cs, cs, col);
            class_label(nm, sizeof nm, names, n, c);
            class_label(nm2, sizeof nm2, names, n, k);
            sb_puts(b, "true ");
            sb_esc(b, nm, 0);
            sb_puts(b, ", predicted ");
            sb_esc(b, nm2, 0);
            fmt_pct(t, sizeof t, frac);
            sb_printf(b, ": %lld (%s of the class)</title>", (long long)v, t);
            if (numbers) {
                snprintf(t, sizeof t, "%lld", (long long)v);
                char extra[64];
                snprintf(extra, sizeof extra, " fill=\"%s\"", text_on(fill));
                sb_puts(b, "\n");
                sb_text(b, x + cs / 2, y + cs / 2 + cfs * 0.36, cfs, "middle", extra, t, 0);
            }
            sb_puts(b, "</g>\n");
        }
    }
    sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n", mx, my,
              mw, mw);
    /* recall column (per true class) and precision row (per predicted class) */
    double sx = mx + mw + 8, py = my + mw + 6;
    sb_text(b, sx + sumw / 2, my - 6, 11, "middle", " fill=\"#333\" font-weight=\"bold\"", "Recall", 0);
    sb_text(b, mx - 8, py + ph / 2 + 4, 11, "end", " fill=\"#333\" font-weight=\"bold\"", "Precision", 0);
    for (int c = 0; c < n; c++) {
        int64_t colsum = 0;
        for (int k = 0; k < n; k++)
            colsum += m->confusion[(size_t)k * n + c];
        for (int pass = 0; pass < 2; pass++) {
            int defined = pass == 0 ? m->support[c] > 0 : colsum > 0;
            double v = pass == 0 ? m->recall[c] : m->precision[c];
            rgb fill = defined ? lerp_rgb(white, blue, 0.1 + 0.9 * v) : (rgb){0xf2, 0xf2, 0xf2};
            hex(col, fill);
            double x = pass == 0 ? sx : mx + c * cs, y = pass == 0 ? my + c * cs : py;
            double w = pass == 0 ? sumw : cs, h = pass == 0 ? cs : ph;
            sb_printf(b, "<g><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"#ffffff\"/><title>",
                      x, y, w, h, col);
            class_label(nm, sizeof nm, names, n, c);
            sb_puts(b, pass == 0 ? "recall of " : "precision of ");
            sb_esc(b, nm, 0);
            if (defined)
                fmt_pct(t, sizeof t, v);
            else
                snprintf(t, sizeof t, "%s (counted as 0)", pass == 0 ? "no true items" : "never predicted");
            sb_printf(b, ": %s</title>", t);
            if (sum_text) {
                if (defined)
                    fmt_pct(t, sizeof t, v);
                else
                    snprintf(t, sizeof t, "\xE2\x80\x93");
                char extra[96];
                if (pass == 1 && vert_prec)
                    snprintf(extra, sizeof extra, " fill=\"%s\" transform=\"rotate(-90 %.1f %.1f)\"", text_on(fill),
                             x + cs / 2 + sfs * 0.36, y + h / 2);
                else
                    snprintf(extra, sizeof extra, " fill=\"%s\"", text_on(fill));
                sb_puts(b, "\n");
                if (pass == 1 && vert_prec)
                    sb_text(b, x + cs / 2 + sfs * 0.36, y + h / 2, sfs, "middle", extra, t, 0);
                else
                    sb_text(b, x + w / 2, y + h / 2 + sfs * 0.36, sfs, "middle", extra, t, 0);
            }
            sb_puts(b, "</g>\n");
        }
    }
    /* class names: rows at the left, columns under the precision row */
    for (int c = 0; c < n; c++) {
        class_label(nm, sizeof nm, names, n, c);
        sb_text(b, mx - 6, my + c * cs + cs / 2 + fs * 0.36, fs, "end", " fill=\"#222\"", nm, maxname);
        double ly = py + ph + 6;
        if (rotate) {
            char tr[96];
            double x = mx + c * cs + cs / 2 + fs * 0.36;
            snprintf(tr, sizeof tr, " fill=\"#222\" transform=\"rotate(-90 %.1f %.1f)\"", x, ly);
            sb_text(b, x, ly, fs, "end", tr, nm, maxname);
        } else {
            sb_text(b, mx + c * cs + cs / 2, ly + fs, fs, "middle", " fill=\"#222\"", nm, maxname);
        }
    }
    double ty = py + ph + 6 + labh + 18;
    sb_text(b, mx + mw / 2, ty, 13, "middle", " fill=\"#222\"", "Predicted class", 0);
    char tr[96];
    snprintf(tr, sizeof tr, " fill=\"#222\" transform=\"rotate(-90 %.1f %.1f)\"", 18.0, my + mw / 2);
    sb_text(b, 18, my + mw / 2, 13, "middle", tr, "True class", 0);
    sb_text(b, 20, ty + 20, 11, NULL, " fill=\"#666\"",
            numbers ? "Cells: counts; colour: share of the true class (blue: correct, red: confused)."
                    : "Colour: share of the true class (blue: correct, red: confused); hover a cell for its count.",
            0);
    sb_puts(b, "</svg>\n");
    return W;
}

/* ---- per-frame timeline ---------------------------------------------------------------- */

/* Label majority over frames [a, b) (ties: the first seen). */
static int32_t majority(const int32_t *lab, int64_t a, int64_t b)
{
    int32_t keys[8];
    int64_t cnt[8];
    int nk = 0;
    int64_t t = a;
    while (t < b) {
        int64_t e = t + 1;
        while (e < b && lab[e] == lab[t])
            e++;
        int j = 0;
        while (j < nk && keys[j] != lab[t])
            j++;
        if (j == nk && nk < 8)
            keys[nk] = lab[t], cnt[nk++] = 0;
        if (j < nk)
            cnt[j] += e - t;
        t = e;
    }
    int best = 0;
    for (int j = 1; j < nk; j++)
        if (cnt[j] > cnt[best])
            best = j;
    return nk ? keys[best] : -1;
}

/* One band: rects of constant label, per frame run when frames are at least a
 * pixel wide, else per pixel column (majority label). */
static void band(sbuf *b, const int32_t *lab, int64_t T, double x0, double w, double y, double h)
{
    int64_t cols = T <= (int64_t)w ? T : (int64_t)w;
    double cw = w / (double)cols;
    int64_t start = 0;
    int32_t cur = 0;
    char col[8];
    for (int64_t j = 0; j <= cols; j++) {
        int32_t l = 0;
        if (j < cols)
            l = cols == T ? lab[j] : majority(lab, j * T / cols, (j + 1) * T / cols);
        if (j == 0) {
            cur = l;
            continue;
        }
        if (j == cols || l != cur) {
            hex(col, class_rgb(cur < 0 ? -1 : cur));
            sb_printf(b, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"/>\n", x0 + start * cw,
                      y, (j - start) * cw, h, col);
            start = j;
            cur = l;
        }
    }
}

static void svg_timeline(sbuf *b, const vl_report *r, int nnames)
{
    const double W = 960, x0 = 70, pw = W - 70 - 60;
    int nt = r->ntimelines > MAX_TIMELINES ? MAX_TIMELINES : r->ntimelines;
    const char *const *names = r->class_names;
    char nm[512], t[200];
    /* classes present, for the legend */
    int32_t maxl = -1;
    int has_unl = 0;
    for (int v = 0; v < nt; v++)
        for (int64_t i = 0; i < r->timelines[v].T; i++) {
            int32_t a = r->timelines[v].truth[i], p = r->timelines[v].pred[i];
            maxl = a > maxl ? a : maxl;
            maxl = p > maxl ? p : maxl;
            has_unl |= a < 0 || p < 0;
        }
    int nlab = maxl + 1 > 4096 ? 4096 : maxl + 1;
    unsigned char *present = calloc((size_t)nlab + 1, 1);
    if (!present) {
        b->oom = 1;
        return;
    }
    for (int v = 0; v < nt; v++)
        for (int64_t i = 0; i < r->timelines[v].T; i++) {
            int32_t a = r->timelines[v].truth[i], p = r->timelines[v].pred[i];
            if (a >= 0 && a < nlab)
                present[a] = 1;
            if (p >= 0 && p < nlab)
                present[p] = 1;
        }
    /* legend layout first (flowing rows), to know the height */
    const double lfs = 11;
    double lx = 20, ly = 70, rowh = 18;
    int nleg = 0;
    for (int k = -1; k < nlab; k++) {
        if ((k < 0 && !has_unl) || (k >= 0 && !present[k]))
            continue;
        class_label(nm, sizeof nm, names, nnames, k);
        double w = 16 + str_w(nm, 24, lfs) + 14;
        if (lx + w > W - 10 && lx > 20)
            lx = 20, ly += rowh;
        lx += w;
        nleg++;
    }
    double top = ly + 20, blockh = 88;
    double H = top + nt * blockh + (r->ntimelines > nt ? 24 : 0) + 10;
    svg_open(b, W, H, "Per-frame timeline");
    sb_text(b, 20, 26, 16, NULL, " font-weight=\"bold\" fill=\"#111\"", "Per-frame labels: truth and prediction", 0);
    sb_text(b, 20, 46, 12, NULL, " fill=\"#555\"",
            "For each video: the true label of every frame (top band), the predicted label (bottom band), and "
            "a red mark where they differ.",
            0);
    lx = 20, ly = 70;
    char col[8];
    for (int k = -1; k < nlab; k++) {
        if ((k < 0 && !has_unl) || (k >= 0 && !present[k]))
            continue;
        class_label(nm, sizeof nm, names, nnames, k);
        double w = 16 + str_w(nm, 24, lfs) + 14;
        if (lx + w > W - 10 && lx > 20)
            lx = 20, ly += rowh;
        hex(col, class_rgb(k));
        sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\" stroke=\"#666\" stroke-width=\"0.5\"/>\n",
                  lx, ly - 10, col);
        sb_text(b, lx + 16, ly, lfs, NULL, " fill=\"#222\"", nm, 24);
        lx += w;
    }
    free(present);
    for (int v = 0; v < nt; v++) {
        const vl_timeline *tl = &r->timelines[v];
        double y = top + v * blockh;
        int64_t lab = 0, ok = 0;
        for (int64_t i = 0; i < tl->T; i++)
            if (tl->truth[i] >= 0) {
                lab++;
                ok += tl->truth[i] == tl->pred[i];
            }
        char acc[224];
        if (lab) {
            fmt_pct(t, sizeof t, (double)ok / (double)lab);
            snprintf(acc, sizeof acc, "frame accuracy %s", t);
        } else {
            snprintf(acc, sizeof acc, "no labelled frames");
        }
        if (tl->name)
            snprintf(nm, sizeof nm, "%s", tl->name);
        else
            snprintf(nm, sizeof nm, "video %d", v + 1);
        double accw = str_w(acc, 0, 11);
        /* the longest head of the name that fits before the accuracy (bold: +8%) */
        int room = utf8_chars(nm) + 1;
        while (room > 8 && 1.08 * str_w(nm, room, 12) > pw - accw - 20)
            room--;
        sb_text(b, x0, y + 14, 12, NULL, " font-weight=\"bold\" fill=\"#222\"", nm, room > 8 ? room : 8);
        sb_text(b, x0 + pw, y + 14, 11, "end", " fill=\"#555\"", acc, 0);
        sb_text(b, x0 - 8, y + 31, 11, "end", " fill=\"#444\"", "truth", 0);
        sb_text(b, x0 - 8, y + 55, 11, "end", " fill=\"#444\"", "predicted", 0);
        if (tl->T <= 0) {
            sb_text(b, x0 + pw / 2, y + 44, 11, "middle", " fill=\"#888\"", "no frames", 0);
            continue;
        }
        band(b, tl->truth, tl->T, x0, pw, y + 20, 16);
        band(b, tl->pred, tl->T, x0, pw, y + 44, 16);
        /* errors between the bands, per pixel column: opacity in four steps by
         * the share of wrong labelled frames, so that a few errors stay visible */
        int64_t cols = tl->T <= (int64_t)pw ? tl->T : (int64_t)pw;
        double cw = pw / (double)cols;
        int64_t run = 0;
        int level = 0;
        for (int64_t j = 0; j <= cols; j++) {
            int lv = 0;
            if (j < cols) {
                int64_t bad = 0, all = 0;
                for (int64_t i = j * tl->T / cols; i < (j + 1) * tl->T / cols; i++) {
                    all += tl->truth[i] >= 0;
                    bad += tl->truth[i] >= 0 && tl->truth[i] != tl->pred[i];
                }
                lv = bad ? (int)ceil(4.0 * (double)bad / (double)all) : 0;
            }
            if (j == cols || lv != level) {
                if (level)
                    sb_printf(b,
                              "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"5\" fill=\"#d62728\" "
                              "fill-opacity=\"%.2f\"/>\n",
                              x0 + run * cw, y + 38, (j - run) * cw, 0.25 * level);
                run = j;
                level = lv;
            }
        }
        sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"40\" fill=\"none\" stroke=\"#999\" stroke-width=\"0.5\"/>\n",
                  x0, y + 20, pw);
        /* time axis */
        double span = tl->fps > 0 ? (double)tl->T / tl->fps : (double)tl->T;
        double st = nice_step(span, 8);
        if (tl->fps <= 0 && st < 1)
            st = 1;
        double ay = y + 62;
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#666\"/>\n", x0, ay, x0 + pw, ay);
        for (double tv = 0; tv <= span * (1 + 1e-9); tv += st) {
            double x = x0 + tv / span * pw;
            sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#666\"/>\n", C(x), ay, C(x),
                      ay + 4);
            fmt_tick(t, sizeof t, tv, st);
            sb_text(b, x, ay + 15, 10, "middle", " fill=\"#555\"", t, 0);
        }
        sb_text(b, x0 + pw + 20, ay + 15, 10, NULL, " fill=\"#555\"", tl->fps > 0 ? "s" : "frame", 0);
    }
    if (r->ntimelines > nt) {
        snprintf(t, sizeof t, "The first %d of %d videos are shown.", nt, r->ntimelines);
        sb_text(b, 20, top + nt * blockh + 12, 12, NULL, " fill=\"#555\"", t, 0);
    }
    sb_puts(b, "</svg>\n");
}

/* ---- files ----------------------------------------------------------------------- */

static vl_status mkdir_p(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path)
        return vl_seterr(VL_ERR_ARG, "report: %s: %s", n ? dir : "(empty)", n ? "path too long" : "no folder given");
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != 0)
            continue;
        char save = path[i];
        path[i] = 0;
        struct stat st;
        if (stat(path, &st) != 0) {
            if (mkdir(path, 0777) != 0 && errno != EEXIST)
                return vl_seterr(VL_ERR_IO, "report: %s: cannot create folder: %s", path, strerror(errno));
        } else if (!S_ISDIR(st.st_mode)) {
            return vl_seterr(VL_ERR_IO, "report: %s: exists and is not a folder", path);
        }
        path[i] = save;
    }
    return VL_OK;
}

static vl_status write_atomic(const char *dir, const char *name, const char *prefix, const sbuf *b)
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return vl_seterr(VL_ERR_ARG, "report: %s/%s: path too long", dir, name);
    vl_atomic a;
    vl_status st = vl_atomic_open(path, &a);
    if (!st) {
        size_t pl = prefix ? strlen(prefix) : 0;
        if ((!pl || fwrite(prefix, 1, pl, a.f) == pl) && fwrite(b->p, 1, b->n, a.f) == b->n) {
            st = vl_atomic_commit(&a);
        } else {
            st = vl_seterr(VL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
            vl_atomic_abort(&a);
        }
    }
    if (st) {
        char why[4400];
        snprintf(why, sizeof why, "%s", vl_errmsg());
        return vl_seterr(st, "report: %s", why);
    }
    return VL_OK;
}

static void remove_stale(const char *dir, const char *name)
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path)
        remove(path);
}

/* ---- HTML ----------------------------------------------------------------------- */

static const char *CSS =
    "body{font-family:Helvetica,Arial,'Liberation Sans','DejaVu Sans',sans-serif;color:#222;background:#fff;"
    "margin:0 auto;max-width:1040px;padding:24px 20px 48px;line-height:1.4}\n"
    "h1{font-size:26px;margin:0 0 4px}\n"
    "h2{font-size:19px;margin:36px 0 10px;padding-bottom:4px;border-bottom:1px solid #ddd}\n"
    ".meta{color:#666;font-size:13px;margin:0 0 12px}\n"
    "nav{font-size:14px;margin:0 0 8px}nav a{color:#2166ac;margin-right:14px;text-decoration:none}\n"
    "table{border-collapse:collapse;font-size:14px}\n"
    "th,td{padding:4px 12px 4px 0;border-bottom:1px solid #eee;text-align:left;vertical-align:top}\n"
    "table.kv th{color:#555;font-weight:600;white-space:nowrap;padding-right:24px}\n"
    "table.kv td{white-space:pre-wrap;word-break:break-word}\n"
    "table.num td.n,table.num th.n{text-align:right;font-variant-numeric:tabular-nums;padding-left:16px}\n"
    ".chart{overflow-x:auto;margin:8px 0 4px}.chart svg{display:block;max-width:none;height:auto}\n"
    ".note{color:#666;font-size:13px;margin:4px 0}\n"
    "details summary{cursor:pointer;color:#2166ac;margin:10px 0 6px;font-size:14px}\n"
    "footer{margin-top:40px;color:#888;font-size:12px}\n";

static void html_perclass(sbuf *h, const vl_report *r)
{
    const vl_cls_metrics *m = r->confusion;
    int n = m->nclasses;
    char nm[512];
    sb_printf(h, "<details%s><summary>Per-class precision, recall and F1 (%d class%s)</summary>\n",
              n <= 20 ? " open=\"open\"" : "", n, n == 1 ? "" : "es");
    sb_puts(h, "<table class=\"num\"><thead><tr><th>Class</th><th class=\"n\">Precision</th><th class=\"n\">Recall</th>"
               "<th class=\"n\">F1</th><th class=\"n\">Support</th></tr></thead>\n<tbody>\n");
    for (int c = 0; c < n; c++) {
        class_label(nm, sizeof nm, r->class_names, n, c);
        sb_puts(h, "<tr><td>");
        sb_esc(h, nm, 0);
        sb_printf(h, "</td><td class=\"n\">%.4f</td><td class=\"n\">%.4f</td><td class=\"n\">%.4f</td>"
                     "<td class=\"n\">%lld</td></tr>\n",
                  C(m->precision[c]), C(m->recall[c]), C(m->f1[c]), (long long)m->support[c]);
    }
    sb_puts(h, "</tbody><tfoot><tr><th>Macro average</th><td></td><td></td><td class=\"n\">");
    if (isfinite(m->macro_f1))
        sb_printf(h, "%.4f", m->macro_f1);
    else
        sb_puts(h, "\xE2\x80\x93");
    sb_printf(h, "</td><td class=\"n\">%lld</td></tr></tfoot></table>\n", (long long)m->n);
    sb_puts(h, "<p class=\"note\">Precision and recall of a class that was never predicted, or never occurs, are "
               "counted as 0. Macro F1 averages the classes that occur in truth or prediction.</p>\n</details>\n");
}

vl_status vl_report_write(const char *dir, const vl_report *r)
{
    if (!dir || !r)
        return vl_seterr(VL_ERR_ARG, "report: %s is NULL", dir ? "report" : "folder");
    if (r->nprogress < 0 || (r->nprogress > 0 && !r->progress))
        return vl_seterr(VL_ERR_ARG, "report: %s: bad progress array (%d points)", dir, r->nprogress);
    if (r->ntimelines < 0 || (r->ntimelines > 0 && !r->timelines))
        return vl_seterr(VL_ERR_ARG, "report: %s: bad timelines array (%d)", dir, r->ntimelines);
    if (r->nsummary < 0 || (r->nsummary > 0 && (!r->summary_keys || !r->summary_values)))
        return vl_seterr(VL_ERR_ARG, "report: %s: bad summary arrays (%d pairs)", dir, r->nsummary);
    for (int v = 0; v < r->ntimelines; v++) {
        const vl_timeline *t = &r->timelines[v];
        if (t->T < 0 || (t->T > 0 && (!t->truth || !t->pred)))
            return vl_seterr(VL_ERR_ARG, "report: %s: timeline %d (%s) has %s", dir, v, t->name ? t->name : "unnamed",
                             t->T < 0 ? "a negative length" : "no truth or prediction array");
    }
    const vl_cls_metrics *cm = r->regress ? NULL : r->confusion;
    if (cm && (cm->nclasses < 1 || !cm->confusion || !cm->support || !cm->precision || !cm->recall || !cm->f1))
        return vl_seterr(VL_ERR_ARG, "report: %s: confusion metrics are empty", dir);
    int nnames = r->confusion ? r->confusion->nclasses : r->nclasses;
    if (!r->class_names)
        nnames = 0;
    vl_status st = mkdir_p(dir);
    if (st)
        return st;

    const char *title = r->title && *r->title ? r->title : "vidlstm report";
    sbuf prog = {0}, conf = {0}, tl = {0}, html = {0};
    svg_progress(&prog, r);
    double conf_w = cm ? svg_confusion(&conf, r) : 0;
    if (r->ntimelines > 0)
        svg_timeline(&tl, r, nnames);

    time_t now = time(NULL);
    struct tm tmv;
    char when[64] = "";
    if (gmtime_r(&now, &tmv))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tmv);
    sb_puts(&html, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    sb_esc(&html, title, 0);
    sb_printf(&html, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", CSS);
    sb_esc(&html, title, 0);
    sb_printf(&html, "</h1>\n<p class=\"meta\">vidlstm %s \xC2\xB7 %s</p>\n<nav>", VIDLSTM_VERSION, when);
    if (r->nsummary > 0)
        sb_puts(&html, "<a href=\"#summary\">Summary</a>");
    sb_puts(&html, "<a href=\"#progress\">Training progress</a>");
    if (cm)
        sb_puts(&html, "<a href=\"#confusion\">Confusion matrix</a>");
    if (r->ntimelines > 0)
        sb_puts(&html, "<a href=\"#timeline\">Timeline</a>");
    sb_puts(&html, "</nav>\n");
    if (r->nsummary > 0) {
        sb_puts(&html, "<section id=\"summary\">\n<h2>Summary</h2>\n<table class=\"kv\">\n");
        for (int i = 0; i < r->nsummary; i++) {
            sb_puts(&html, "<tr><th>");
            sb_esc(&html, r->summary_keys[i] ? r->summary_keys[i] : "", 0);
            sb_puts(&html, "</th><td>");
            sb_esc(&html, r->summary_values[i] ? r->summary_values[i] : "", 0);
            sb_puts(&html, "</td></tr>\n");
        }
        sb_puts(&html, "</table>\n</section>\n");
    }
    sb_puts(&html, "<section id=\"progress\">\n<h2>Training progress</h2>\n<div class=\"chart\">\n");
    sb_putn(&html, prog.p ? prog.p : "", prog.n);
    sb_puts(&html, "</div>\n<p class=\"note\">Light lines: every recorded mini-batch; dark lines: smoothed "
                   "(exponential moving average); dashed: validation. Also saved as progress.svg.</p>\n</section>\n");
    if (cm) {
        sb_puts(&html, "<section id=\"confusion\">\n<h2>Confusion matrix</h2>\n<div class=\"chart\">\n");
        sb_putn(&html, conf.p ? conf.p : "", conf.n);
        sb_printf(&html, "</div>\n<p class=\"note\">Rows: true class; columns: predicted class.%s Also saved as "
                         "confusion.svg.</p>\n",
                  conf_w > 1000 ? " The chart is shown at full size so that every class stays readable: scroll "
                                  "sideways to see all of it." : "");
        html_perclass(&html, r);
        sb_puts(&html, "</section>\n");
    }
    if (r->ntimelines > 0) {
        sb_puts(&html, "<section id=\"timeline\">\n<h2>Per-frame timeline</h2>\n<div class=\"chart\">\n");
        sb_putn(&html, tl.p ? tl.p : "", tl.n);
        sb_puts(&html, "</div>\n<p class=\"note\">Also saved as timeline.svg.</p>\n</section>\n");
    }
    sb_puts(&html, "<footer>Generated by vidlstm. This page is self-contained: it loads nothing from elsewhere and "
                   "needs no scripts.</footer>\n</body>\n</html>\n");

    const char *xmldecl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    if (prog.oom || conf.oom || tl.oom || html.oom)
        st = vl_seterr(VL_ERR_NOMEM, "report: %s: out of memory while drawing the charts", dir);
    if (!st)
        st = write_atomic(dir, "progress.svg", xmldecl, &prog);
    if (!st && cm)
        st = write_atomic(dir, "confusion.svg", xmldecl, &conf);
    if (!st && r->ntimelines > 0)
        st = write_atomic(dir, "timeline.svg", xmldecl, &tl);
    if (!st)
        st = write_atomic(dir, "report.html", NULL, &html);
    if (!st && !cm)
        remove_stale(dir, "confusion.svg");
    if (!st && r->ntimelines == 0)
        remove_stale(dir, "timeline.svg");
    free(prog.p);
    free(conf.p);
    free(tl.p);
    free(html.p);
    return st;
}
