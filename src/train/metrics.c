#include "train/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/utf8.h"

/* ---- classification ------------------------------------------------------------ */

void vl_cls_metrics_free(vl_cls_metrics *m)
{
    if (!m)
        return;
    free(m->confusion);
    free(m->precision);
    free(m->recall);
    free(m->f1);
    free(m->support);
    memset(m, 0, sizeof *m);
}

vl_status vl_cls_metrics_compute(int nclasses, const int32_t *truth, const int32_t *pred, int64_t n,
                                 vl_cls_metrics *out)
{
    if (!out)
        return vl_seterr(VL_ERR_ARG, "metrics: out is NULL");
    memset(out, 0, sizeof *out);
    if (nclasses < 1)
        return vl_seterr(VL_ERR_ARG, "metrics: nclasses must be >= 1 (got %d)", nclasses);
    if (n < 0 || (n > 0 && (!truth || !pred)))
        return vl_seterr(VL_ERR_ARG, "metrics: %s", n < 0 ? "negative label count" : "truth or pred is NULL");
    size_t C = (size_t)nclasses;
    if (C > 46340) /* C*C must fit comfortably */
        return vl_seterr(VL_ERR_ARG, "metrics: too many classes (%d)", nclasses);
    vl_cls_metrics m = {.nclasses = nclasses};
    m.confusion = calloc(C * C, sizeof *m.confusion);
    m.precision = calloc(C, sizeof *m.precision);
    m.recall = calloc(C, sizeof *m.recall);
    m.f1 = calloc(C, sizeof *m.f1);
    m.support = calloc(C, sizeof *m.support);
    if (!m.confusion || !m.precision || !m.recall || !m.f1 || !m.support) {
        vl_cls_metrics_free(&m);
        return vl_seterr(VL_ERR_NOMEM, "metrics: out of memory for %d classes", nclasses);
    }
    for (int64_t i = 0; i < n; i++) {
        int32_t t = truth[i], p = pred[i];
        if (t < 0)
            continue;
        if (t >= nclasses || p < 0 || p >= nclasses) {
            vl_cls_metrics_free(&m);
            return vl_seterr(VL_ERR_ARG, "metrics: %s label %" PRId32 " at index %" PRId64 " is outside [0, %d)",
                             t >= nclasses ? "true" : "predicted", t >= nclasses ? t : p, i, nclasses);
        }
        m.confusion[(size_t)t * C + (size_t)p]++;
        m.n++;
    }
    int64_t correct = 0;
    double f1sum = 0.0;
    int present = 0;
    for (size_t c = 0; c < C; c++) {
        int64_t tp = m.confusion[c * C + c], row = 0, col = 0;
        for (size_t k = 0; k < C; k++) {
            row += m.confusion[c * C + k];
            col += m.confusion[k * C + c];
        }
        correct += tp;
        m.support[c] = row;
        m.precision[c] = col ? (double)tp / (double)col : 0.0;
        m.recall[c] = row ? (double)tp / (double)row : 0.0;
        /* 2tp / (2tp + fp + fn) = 2PR/(P+R) whenever both are defined, 0 when tp = 0 */
        int64_t den = 2 * tp + (col - tp) + (row - tp);
        m.f1[c] = den ? 2.0 * (double)tp / (double)den : 0.0;
        if (row || col) {
            f1sum += m.f1[c];
            present++;
        }
    }
    m.accuracy = m.n ? (double)correct / (double)m.n : NAN;
    m.macro_f1 = present ? f1sum / present : NAN;
    *out = m;
    return VL_OK;
}

/* ---- regression ----------------------------------------------------------------- */

vl_status vl_reg_metrics_compute(const float *truth, const float *pred, int64_t n, vl_reg_metrics *out)
{
    if (!out)
        return vl_seterr(VL_ERR_ARG, "metrics: out is NULL");
    *out = (vl_reg_metrics){.n = 0, .rmse = NAN, .mae = NAN, .r2 = NAN};
    if (n < 0 || (n > 0 && (!truth || !pred)))
        return vl_seterr(VL_ERR_ARG, "metrics: %s", n < 0 ? "negative value count" : "truth or pred is NULL");
    double mean = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(truth[i]) || !isfinite(pred[i]))
            return vl_seterr(VL_ERR_NUMERIC, "metrics: %s value at index %" PRId64 " is not finite",
                             isfinite(truth[i]) ? "predicted" : "true", i);
        mean += truth[i];
    }
    if (n == 0)
        return VL_OK;
    mean /= (double)n;
    double se = 0.0, ae = 0.0, ss = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)pred[i] - (double)truth[i], t = (double)truth[i] - mean;
        se += d * d;
        ae += fabs(d);
        ss += t * t;
    }
    out->n = n;
    out->rmse = sqrt(se / (double)n);
    out->mae = ae / (double)n;
    out->r2 = ss > 0.0 ? 1.0 - se / ss : NAN;
    return VL_OK;
}

/* ---- text ----------------------------------------------------------------------- */

/* A class name fitted to at most `width` characters (not bytes): control
 * characters become '?', a longer name keeps its head and tail around a '~'
 * (class names often differ only at the end: "clip_part_1", "clip_part_2").
 * Returns the character count; buf needs 4 * width + 1 bytes. */
static int fit_name(const char *s, int width, char *buf)
{
    uint32_t cps[512];
    int n = 0, len;
    uint32_t cp;
    while (n < 512 && (len = vl_utf8_next(s, &cp)) > 0) {
        cps[n++] = (cp < 0x20 || cp == 0x7F) ? '?' : cp;
        s += len;
    }
    if (*s) /* longer than we kept: force truncation */
        n = 512;
    int head = n, tail = 0;
    if (n > width) {
        tail = (width - 1) / 3;
        head = width - 1 - tail;
    }
    char *o = buf;
    for (int i = 0; i < head; i++)
        o += vl_utf8_put(o, cps[i]);
    if (n > width) {
        *o++ = '~';
        for (int i = n - tail; i < n; i++)
            o += vl_utf8_put(o, cps[i]);
    }
    *o = 0;
    return n > width ? width : n;
}

static int name_chars(const char *s)
{
    int n = 0, len;
    uint32_t cp;
    while ((len = vl_utf8_next(s, &cp)) > 0) {
        s += len;
        n++;
    }
    return n;
}

static const char *class_name(const char *const *names, int c, char *tmp)
{
    if (names && names[c])
        return names[c];
    sprintf(tmp, "%d", c);
    return tmp;
}

/* Prints a fitted name padded to `width` characters, right- or left-aligned. */
static void put_name(FILE *f, const char *name, int width, int right)
{
    char buf[4 * 64 + 1];
    int w = width > 64 ? 64 : width;
    int n = fit_name(name, w, buf);
    if (right)
        fprintf(f, "%*s%s", width - n, "", buf);
    else
        fprintf(f, "%s%*s", buf, width - n, "");
}

static int digits64(int64_t v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* Four decimals, or more where four would round an imperfect score to 1 (or a
 * non-zero one to 0). */
static void put_ratio(FILE *f, double v, int width)
{
    int dec = 4;
    while (dec < 8 && ((v < 1 && v * pow(10, dec) > pow(10, dec) - 0.5) || (v > 0 && v * pow(10, dec) < 0.5)))
        dec++;
    if (isfinite(v))
        fprintf(f, "%*.*f", width, dec, v);
    else
        fprintf(f, "%*s", width, "-");
}

void vl_cls_metrics_print(FILE *f, const vl_cls_metrics *m, const char *const *class_names)
{
    if (!f || !m || m->nclasses < 1 || !m->confusion)
        return;
    int C = m->nclasses;
    char tmp[16];
    int64_t correct = 0, maxcount = 0;
    int maxname = 5;
    for (int c = 0; c < C; c++) {
        correct += m->confusion[(size_t)c * C + c];
        for (int k = 0; k < C; k++)
            if (m->confusion[(size_t)c * C + k] > maxcount)
                maxcount = m->confusion[(size_t)c * C + k];
        int l = name_chars(class_name(class_names, c, tmp));
        maxname = l > maxname ? l : maxname;
    }
    fprintf(f, "accuracy  ");
    put_ratio(f, m->accuracy, 0);
    fprintf(f, "  (%" PRId64 " of %" PRId64 ")\nmacro F1  ", correct, m->n);
    put_ratio(f, m->macro_f1, 0);
    fprintf(f, "\n\n");

    /* Columns are headed by names when they fit in a readable line, else by
     * class index, with the index repeated before each row's name. */
    int rowname = maxname < 20 ? maxname : 20;
    int cw = digits64(maxcount);
    int namecw = maxname < 10 ? maxname : 10;
    int by_name = C <= 16 && (rowname + C * ((namecw > cw ? namecw : cw) + 2)) <= 160;
    int iw = digits64(C - 1);
    if (by_name)
        cw = namecw > cw ? namecw : cw;
    else
        cw = iw > cw ? iw : cw;
    int lead = by_name ? rowname : iw + 1 + rowname;
    fprintf(f, "confusion matrix (rows: true class, columns: predicted class%s)\n",
            by_name ? "" : ", by index");
    fprintf(f, "%*s", lead, "");
    for (int k = 0; k < C; k++) {
        fputs("  ", f);
        if (by_name)
            put_name(f, class_name(class_names, k, tmp), cw, 1);
        else
            fprintf(f, "%*d", cw, k);
    }
    fputc('\n', f);
    for (int c = 0; c < C; c++) {
        if (!by_name)
            fprintf(f, "%*d ", iw, c);
        put_name(f, class_name(class_names, c, tmp), rowname, !by_name ? 0 : 1);
        for (int k = 0; k < C; k++)
            fprintf(f, "  %*" PRId64, cw, m->confusion[(size_t)c * C + k]);
        fputc('\n', f);
    }

    /* per-class table */
    int pw = maxname < 24 ? maxname : 24;
    int sw = digits64(m->n) > 7 ? digits64(m->n) : 7;
    fputc('\n', f);
    if (!by_name)
        fprintf(f, "%*s ", iw, "#");
    fprintf(f, "%-*s  %9s  %9s  %9s  %*s\n", pw, "class", "precision", "recall", "F1", sw, "support");
    for (int c = 0; c < C; c++) {
        if (!by_name)
            fprintf(f, "%*d ", iw, c);
        put_name(f, class_name(class_names, c, tmp), pw, 0);
        fputs("  ", f);
        put_ratio(f, m->precision[c], 9);
        fputs("  ", f);
        put_ratio(f, m->recall[c], 9);
        fputs("  ", f);
        put_ratio(f, m->f1[c], 9);
        fprintf(f, "  %*" PRId64 "\n", sw, m->support[c]);
    }
    if (!by_name)
        fprintf(f, "%*s ", iw, "");
    fprintf(f, "%-*s  %9s  %9s  ", pw, "macro", "", "");
    put_ratio(f, m->macro_f1, 9);
    fprintf(f, "  %*" PRId64 "\n", sw, m->n);
}

/* ---- JSON ----------------------------------------------------------------------- */

void vl_json_write_string(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    uint32_t cp;
    int len;
    char buf[4];
    while ((len = vl_utf8_next(s, &cp)) > 0) {
        switch (cp) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (cp < 0x20 || cp == 0x7F)
                fprintf(f, "\\u%04x", (unsigned)cp);
            else
                fwrite(buf, 1, (size_t)vl_utf8_put(buf, cp), f); /* invalid bytes became U+FFFD */
        }
        s += len;
    }
    fputc('"', f);
}

/* A number, or null where JSON has no token for it (NaN, Inf). */
static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.10g", v);
    else
        fputs("null", f);
}

void vl_cls_metrics_json(FILE *f, const vl_cls_metrics *m, const char *const *class_names)
{
    if (!f || !m || m->nclasses < 1 || !m->confusion)
        return;
    int C = m->nclasses;
    char tmp[16];
    fputs("\"accuracy\":", f);
    json_num(f, m->accuracy);
    fputs(",\"macro_f1\":", f);
    json_num(f, m->macro_f1);
    fprintf(f, ",\"n\":%" PRId64 ",\"classes\":[", m->n);
    for (int c = 0; c < C; c++) {
        if (c)
            fputc(',', f);
        vl_json_write_string(f, class_name(class_names, c, tmp));
    }
    fputs("],\"confusion\":[", f);
    for (int c = 0; c < C; c++) {
        fputs(c ? ",[" : "[", f);
        for (int k = 0; k < C; k++)
            fprintf(f, k ? ",%" PRId64 : "%" PRId64, m->confusion[(size_t)c * C + k]);
        fputc(']', f);
    }
    fputs("],\"per_class\":[", f);
    for (int c = 0; c < C; c++) {
        fputs(c ? ",{\"class\":" : "{\"class\":", f);
        vl_json_write_string(f, class_name(class_names, c, tmp));
        fputs(",\"precision\":", f);
        json_num(f, m->precision[c]);
        fputs(",\"recall\":", f);
        json_num(f, m->recall[c]);
        fputs(",\"f1\":", f);
        json_num(f, m->f1[c]);
        fprintf(f, ",\"support\":%" PRId64 "}", m->support[c]);
    }
    fputc(']', f);
}

/* ---- segments --------------------------------------------------------------------- */

typedef struct {
    int64_t start, end;
    int32_t label;
    int prev, next; /* doubly linked list of live runs; -1 = none */
} run_t;

/* Merges run b into its left neighbour a (a.next == b): a takes b's frames. */
static void absorb_right(run_t *r, int a, int b)
{
    r[a].end = r[b].end;
    r[a].next = r[b].next;
    if (r[b].next >= 0)
        r[r[b].next].prev = a;
    r[b].start = r[b].end = -1; /* dead */
}

vl_status vl_segments_from_frames(const int32_t *labels, const float *conf, int64_t T, int min_len,
                                  vl_segment **out, int64_t *nseg)
{
    if (!out || !nseg)
        return vl_seterr(VL_ERR_ARG, "segments: out or nseg is NULL");
    *out = NULL;
    *nseg = 0;
    if (T < 0 || (T > 0 && !labels))
        return vl_seterr(VL_ERR_ARG, "segments: %s", T < 0 ? "negative frame count" : "labels is NULL");
    if (T == 0)
        return VL_OK;
    int64_t nr = 1;
    for (int64_t t = 1; t < T; t++)
        nr += labels[t] != labels[t - 1];
    if (nr > (int64_t)0x7fffffff)
        return vl_seterr(VL_ERR_ARG, "segments: too many runs (%" PRId64 ")", nr);
    run_t *r = malloc((size_t)nr * sizeof *r);
    if (!r)
        return vl_seterr(VL_ERR_NOMEM, "segments: out of memory for %" PRId64 " runs", nr);
    int k = 0;
    r[0] = (run_t){0, 1, labels[0], -1, -1};
    for (int64_t t = 1; t < T; t++) {
        if (labels[t] == labels[t - 1]) {
            r[k].end = t + 1;
        } else {
            k++;
            r[k] = (run_t){t, t + 1, labels[t], k - 1, -1};
            r[k - 1].next = k;
        }
    }
    int live = (int)nr, head = 0;
    /* Shortest runs first: pass L absorbs every run of length L, left to
     * right, into its longer neighbour (the left one on a tie), and joins the
     * grown run with a neighbour of the same label. Runs only grow, so after
     * pass L no run shorter than L + 1 is left (unless it is the only run). */
    for (int64_t L = 1; L < min_len && live > 1; L++) {
        int cur = head;
        while (cur >= 0 && live > 1) {
            if (r[cur].end - r[cur].start != L) {
                cur = r[cur].next;
                continue;
            }
            int p = r[cur].prev, q = r[cur].next, grown;
            int64_t lp = p >= 0 ? r[p].end - r[p].start : -1, lq = q >= 0 ? r[q].end - r[q].start : -1;
            if (p >= 0 && lp >= lq) {
                absorb_right(r, p, cur);
                grown = p;
            } else if (q >= 0) { /* the right neighbour takes this run's frames */
                r[q].start = r[cur].start;
                r[q].prev = p;
                if (p >= 0)
                    r[p].next = q;
                else
                    head = q;
                r[cur].start = r[cur].end = -1;
                grown = q;
            } else {
                break; /* unreachable: live > 1 means a neighbour exists */
            }
            live--;
            int a = r[grown].prev, b = r[grown].next;
            if (b >= 0 && r[b].label == r[grown].label) {
                absorb_right(r, grown, b);
                live--;
            }
            if (a >= 0 && r[a].label == r[grown].label) {
                absorb_right(r, a, grown);
                live--;
                grown = a;
            }
            cur = r[grown].next; /* the grown run is longer than L now */
        }
    }
    vl_segment *seg = malloc((size_t)live * sizeof *seg);
    if (!seg) {
        free(r);
        return vl_seterr(VL_ERR_NOMEM, "segments: out of memory for %d segments", live);
    }
    int64_t ns = 0;
    for (int i = head; i >= 0; i = r[i].next) {
        double sum = 0.0;
        int64_t cnt = 0;
        for (int64_t t = r[i].start; t < r[i].end; t++)
            if (labels[t] == r[i].label) {
                sum += conf ? conf[t] : 1.0;
                cnt++;
            }
        seg[ns++] = (vl_segment){r[i].start, r[i].end, r[i].label, cnt ? (float)(sum / (double)cnt) : 0.0f};
    }
    free(r);
    *out = seg;
    *nseg = ns;
    return VL_OK;
}

/* ---- action segmentation (MS-TCN's Edit and F1@k) ------------------------------- */

const double vl_seg_overlaps[VL_SEG_NOVERLAPS] = {0.10, 0.25, 0.50};

typedef struct {
    int64_t start, end; /* end exclusive */
    int32_t label;
} seg_run;

/* Runs of labels[0..T) that are not background (label == bg or < 0), where
 * frames with truth[t] < 0 count as background too. Returns the count. */
static int64_t seg_runs(const int32_t *labels, const int32_t *truth, int64_t T, int32_t bg, seg_run *out)
{
    int64_t n = 0;
    int32_t prev = -1;
    for (int64_t t = 0; t < T; t++) {
        int32_t l = truth[t] < 0 ? -1 : labels[t];
        if (l == bg)
            l = -1;
        if (l != prev || t == 0) {
            if (n && out[n - 1].end < 0)
                out[n - 1].end = t;
            if (l >= 0)
                out[n++] = (seg_run){t, -1, l};
        }
        prev = l;
    }
    if (n && out[n - 1].end < 0)
        out[n - 1].end = T;
    return n;
}

/* Levenshtein distance between the label sequences of a[na] and b[nb]; row
 * is scratch of nb + 1 entries. */
static int64_t seg_levenshtein(const seg_run *a, int64_t na, const seg_run *b, int64_t nb, int64_t *row)
{
    for (int64_t j = 0; j <= nb; j++)
        row[j] = j;
    for (int64_t i = 1; i <= na; i++) {
        int64_t diag = row[0];
        row[0] = i;
        for (int64_t j = 1; j <= nb; j++) {
            int64_t up = row[j], best;
            if (a[i - 1].label == b[j - 1].label)
                best = diag;
            else {
                best = diag + 1;
                if (up + 1 < best)
                    best = up + 1;
                if (row[j - 1] + 1 < best)
                    best = row[j - 1] + 1;
            }
            diag = up;
            row[j] = best;
        }
    }
    return row[nb];
}

vl_status vl_seg_metrics_compute(const int32_t *truth, const int32_t *pred, const int64_t *offsets, int64_t nvideos,
                                 int32_t background, vl_seg_metrics *out)
{
    if (!out)
        return vl_seterr(VL_ERR_ARG, "segment metrics: out is NULL");
    memset(out, 0, sizeof *out);
    if (nvideos < 0 || (nvideos > 0 && !offsets))
        return vl_seterr(VL_ERR_ARG, "segment metrics: %s", nvideos < 0 ? "negative video count" : "offsets is NULL");
    int64_t maxT = 0;
    for (int64_t v = 0; v < nvideos; v++) {
        int64_t T = offsets[v + 1] - offsets[v];
        if ((v == 0 && offsets[0] != 0) || T < 0)
            return vl_seterr(VL_ERR_ARG, "segment metrics: offsets of video %" PRId64 " are not ascending from 0", v);
        if (T > maxT)
            maxT = T;
    }
    if (maxT > 0 && (!truth || !pred))
        return vl_seterr(VL_ERR_ARG, "segment metrics: truth or pred is NULL");
    if (nvideos == 0) {
        out->edit = NAN;
        for (int k = 0; k < VL_SEG_NOVERLAPS; k++)
            out->f1[k] = out->precision[k] = out->recall[k] = NAN;
        return VL_OK;
    }
    size_t cap = (size_t)(maxT ? maxT : 1);
    seg_run *P = malloc(cap * sizeof *P), *Y = malloc(cap * sizeof *Y);
    int64_t *row = malloc((cap + 1) * sizeof *row);
    unsigned char *hit = malloc(cap);
    if (!P || !Y || !row || !hit) {
        free(P);
        free(Y);
        free(row);
        free(hit);
        return vl_seterr(VL_ERR_NOMEM, "segment metrics: out of memory for %" PRId64 " frames", maxT);
    }
    double edit_sum = 0.0;
    for (int64_t v = 0; v < nvideos; v++) {
        const int64_t o = offsets[v], T = offsets[v + 1] - o;
        int64_t np = seg_runs(pred + o, truth + o, T, background, P);
        int64_t ny = seg_runs(truth + o, truth + o, T, background, Y);
        int64_t mx = np > ny ? np : ny;
        edit_sum += mx ? 100.0 * (1.0 - (double)seg_levenshtein(P, np, Y, ny, row) / (double)mx) : 100.0;
        for (int k = 0; k < VL_SEG_NOVERLAPS; k++) {
            memset(hit, 0, (size_t)(ny ? ny : 1));
            int64_t tp = 0;
            for (int64_t i = 0; i < np; i++) {
                int64_t best = -1;
                double best_iou = 0.0;
                for (int64_t j = 0; j < ny; j++) {
                    double iou = 0.0;
                    if (P[i].label == Y[j].label) {
                        int64_t lo = P[i].start > Y[j].start ? P[i].start : Y[j].start;
                        int64_t hi = P[i].end < Y[j].end ? P[i].end : Y[j].end;
                        int64_t ulo = P[i].start < Y[j].start ? P[i].start : Y[j].start;
                        int64_t uhi = P[i].end > Y[j].end ? P[i].end : Y[j].end;
                        iou = (double)(hi - lo) / (double)(uhi - ulo);
                    }
                    if (best < 0 || iou > best_iou) {
                        best = j;
                        best_iou = iou;
                    }
                }
                if (best >= 0 && best_iou >= vl_seg_overlaps[k] && !hit[best]) {
                    tp++;
                    hit[best] = 1;
                } else {
                    out->fp[k]++;
                }
            }
            out->tp[k] += tp;
            out->fn[k] += ny - tp;
        }
    }
    free(P);
    free(Y);
    free(row);
    free(hit);
    out->videos = nvideos;
    out->edit = edit_sum / (double)nvideos;
    for (int k = 0; k < VL_SEG_NOVERLAPS; k++) {
        double tp = (double)out->tp[k], pd = tp + (double)out->fp[k], rd = tp + (double)out->fn[k];
        double p = pd > 0 ? tp / pd : 0.0, r = rd > 0 ? tp / rd : 0.0;
        out->precision[k] = 100.0 * p;
        out->recall[k] = 100.0 * r;
        out->f1[k] = p + r > 0 ? 100.0 * (2.0 * p * r / (p + r)) : 0.0;
    }
    return VL_OK;
}

vl_status vl_smooth_probs(const float *prob, int64_t T, int C, int n, float *out)
{
    if (T < 0 || C < 1 || (T > 0 && (!prob || !out)))
        return vl_seterr(VL_ERR_ARG, "smooth: bad arguments (T %" PRId64 ", C %d)", T, C);
    if (T > 0 && prob < out + T * (int64_t)C && out < prob + T * (int64_t)C)
        return vl_seterr(VL_ERR_ARG, "smooth: input and output overlap");
    if (n <= 1) {
        if (T > 0)
            memcpy(out, prob, sizeof(float) * (size_t)T * (size_t)C);
        return VL_OK;
    }
    double *acc = calloc((size_t)C, sizeof *acc);
    if (!acc)
        return vl_seterr(VL_ERR_NOMEM, "smooth: out of memory");
    const int64_t back = (n - 1) / 2, ahead = n / 2;
    int64_t lo = 0, hi = -1; /* window [lo, hi] currently summed */
    for (int64_t t = 0; t < T; t++) {
        int64_t want_lo = t - back > 0 ? t - back : 0, want_hi = t + ahead < T - 1 ? t + ahead : T - 1;
        while (hi < want_hi) {
            hi++;
            for (int c = 0; c < C; c++)
                acc[c] += prob[hi * C + c];
        }
        while (lo < want_lo) {
            for (int c = 0; c < C; c++)
                acc[c] -= prob[lo * C + c];
            lo++;
        }
        double cnt = (double)(hi - lo + 1);
        for (int c = 0; c < C; c++)
            out[t * C + c] = (float)(acc[c] / cnt);
    }
    free(acc);
    return VL_OK;
}
