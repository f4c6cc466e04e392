/* Feature-sequence datasets (see dataset.h). */
#include "train/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/csv.h"
#include "core/error.h"
#include "core/utf8.h"
#include "core/rng.h"

/* Header names of per-frame label files (the same as video/clips.h's, which
 * this module may not include), matched case-insensitively. */
static const char *const FR_FRAME[] = {"frame", "frame_index", "frame_idx", "frame_id", "index", "idx",
                                       "frame_number", "frameno", NULL};
static const char *const FR_LABEL[] = {"label", "class", "action", "activity", "label_name", "class_name",
                                       "value", "target", NULL}; /* the last two: regression only */
#define FR_ACCEPTED                                                                                          \
    "`label` rows, or `frame,label` in either order with a header naming a frame column (frame, "          \
    "frame_index, frame_idx, frame_id, index, idx, frame_number, frameno) and a label column (label, class, " \
    "action, activity, label_name, class_name; value or target for regression)"

static int fr_name_in(const char *name, const char *const *list, int regress)
{
    for (int i = 0; list[i]; i++)
        if ((regress || list != FR_LABEL || i < 6) && vl_eq_nocase(name, list[i]))
            return 1;
    return 0;
}

static int parse_int(const char *s, long *v)
{
    if (!*s)
        return 0;
    char *e;
    errno = 0;
    long x = strtol(s, &e, 10);
    if (e == s || *e || errno == ERANGE)
        return 0;
    *v = x;
    return 1;
}

int vl_dataset_label_file(const char *manifest, const char *lab)
{
    size_t n = strlen(lab);
    if (n < 5 || !(vl_eq_nocase(lab + n - 4, ".csv") || vl_eq_nocase(lab + n - 4, ".npy") || vl_eq_nocase(lab + n - 4, ".txt")))
        return 0;
    char *p = vl_path_beside(manifest, lab);
    int yes = p && access(p, F_OK) == 0;
    free(p);
    return yes;
}

/* ---- classes --------------------------------------------------------------- */

int vl_dataset_class(const vl_dataset *d, const char *name)
{
    int lo = 0, hi = d->nclasses - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(d->classes[mid], name);
        if (!c)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

vl_status vl_dataset_add_class(vl_dataset *d, const char *name)
{
    if (vl_dataset_class(d, name) >= 0)
        return VL_OK;
    char **c = realloc(d->classes, sizeof *c * (size_t)(d->nclasses + 1));
    if (!c)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    d->classes = c;
    char *s = vl_strdup(name);
    if (!s)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    int i = d->nclasses;
    while (i > 0 && strcmp(c[i - 1], name) > 0) {
        c[i] = c[i - 1];
        i--;
    }
    c[i] = s;
    d->nclasses++;
    return VL_OK;
}

vl_status vl_dataset_set_classes(vl_dataset *d, const char *const *names, int n)
{
    for (int c = 0; c < n; c++) {
        vl_status st = vl_dataset_add_class(d, names[c]);
        if (st)
            return st;
    }
    if (d->nclasses != n)
        return vl_seterr(VL_ERR_ARG, "the class list has duplicate names");
    return VL_OK;
}

/* ---- items ----------------------------------------------------------------- */

static void seq_free(vl_seq *s)
{
    free(s->path);
    free(s->group);
    free(s->x);
    free(s->frame_labels);
    free(s->frame_targets);
}

void vl_dataset_free(vl_dataset *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->n; i++)
        seq_free(&d->items[i]);
    free(d->items);
    for (int c = 0; c < d->nclasses; c++)
        free(d->classes[c]);
    free(d->classes);
    free(d->source);
    *d = (vl_dataset){0};
}

static vl_seq *push(vl_dataset *d)
{
    if (d->n == d->cap) {
        int cap = d->cap ? 2 * d->cap : 64;
        vl_seq *it = realloc(d->items, sizeof *it * (size_t)cap);
        if (!it)
            return NULL;
        d->items = it;
        d->cap = cap;
    }
    vl_seq *s = &d->items[d->n++];
    *s = (vl_seq){.label = -1};
    return s;
}

/* Loads a .npy [T, D] float feature file and checks it. */
static vl_status load_features(vl_dataset *d, vl_seq *s, const char *mf, int line)
{
    vl_npy a;
    vl_status st = vl_npy_read(s->path, &a);
    if (st)
        return vl_seterr(st, "%s:%d: %s", mf, line, vl_errmsg());
    if (a.dtype != VL_NPY_F32 || a.ndim != 2 || a.shape[0] < 1 || a.shape[1] < 1 || a.shape[0] > (1 << 24) ||
        a.shape[1] > (1 << 20)) {
        vl_npy_free(&a);
        return vl_seterr(VL_ERR_FORMAT, "%s: features must be a float [T, D] array with T, D >= 1", s->path);
    }
    int T = (int)a.shape[0], D = (int)a.shape[1];
    if (d->D && D != d->D) {
        vl_npy_free(&a);
        return vl_seterr(VL_ERR_SHAPE, "%s: feature width %d differs from %d (%s)", s->path, D, d->D,
                         d->n > 1 ? d->items[0].path : "the model's input");
    }
    const float *x = a.data;
    for (int64_t i = 0; i < a.count; i++)
        if (!isfinite(x[i])) {
            vl_status bad = vl_seterr(VL_ERR_NUMERIC, "%s: feature [%lld, %lld] is %s", s->path,
                                      (long long)(i / D), (long long)(i % D), isnan(x[i]) ? "NaN" : "Inf");
            vl_npy_free(&a);
            return bad;
        }
    d->D = D;
    s->T = T;
    s->x = a.data; /* vl_npy data comes from vl_alloc, which free() releases */
    return VL_OK;
}

vl_status vl_dataset_add_features(vl_dataset *d, const char *path, int T, int D, float *x)
{
    if (d->D && D != d->D)
        return vl_seterr(VL_ERR_SHAPE, "%s: feature width %d differs from %d", path, D, d->D);
    vl_seq *s = push(d);
    if (!s)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    s->path = vl_strdup(path);
    s->group = vl_strdup(path);
    if (!s->path || !s->group) {
        d->n--;
        seq_free(s);
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    }
    s->T = T;
    s->x = x;
    d->D = D;
    return VL_OK;
}

/* Per-frame labels: names (classify) kept as strings until the class table
 * is complete, or numbers (regress). */
typedef struct {
    char **names; /* [T] (classify) */
    float *vals;  /* [T] (regress) */
} frame_rows;

static void frame_rows_free(frame_rows *f, int T)
{
    if (f->names)
        for (int t = 0; t < T; t++)
            free(f->names[t]);
    free(f->names);
    free(f->vals);
    *f = (frame_rows){0};
}

static vl_status load_frame_file(const vl_dataset *d, const char *file, int T, frame_rows *fr)
{
    *fr = (frame_rows){0};
    int regress = d->task == VL_TASK_REGRESS;
    size_t fl = strlen(file);
    if (fl > 4 && vl_eq_nocase(file + fl - 4, ".npy")) {
        if (!regress)
            return vl_seterr(VL_ERR_FORMAT, "%s: per-frame class labels must be a CSV file of class names", file);
        vl_npy a;
        vl_status st = vl_npy_read(file, &a);
        if (st)
            return st;
        if (a.count != T || a.dtype != VL_NPY_F32) {
            vl_npy_free(&a);
            return vl_seterr(VL_ERR_SHAPE, "%s: %lld per-frame targets for %d feature rows", file,
                             (long long)a.count, T);
        }
        fr->vals = a.data;
        for (int t = 0; t < T; t++)
            if (!isfinite(fr->vals[t])) {
                frame_rows_free(fr, T);
                return vl_seterr(VL_ERR_NUMERIC, "%s: target of frame %d is not finite", file, t);
            }
        return VL_OK;
    }
    vl_csv r;
    vl_status st = vl_csv_open(&r, file);
    if (st)
        return st;
    if (regress)
        fr->vals = malloc(sizeof(float) * (size_t)T);
    else
        fr->names = calloc((size_t)T, sizeof(char *));
    uint8_t *seen = calloc((size_t)T, 1);
    if ((!fr->vals && !fr->names) || !seen) {
        free(seen);
        vl_csv_close(&r);
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", file);
    }
    int rc, row = 0, cols = 0, first = 1, fcol = 0, lcol = 1;
    while ((rc = vl_csv_next(&r)) > 0) {
        if (first) {
            first = 0;
            cols = r.nf;
            if (cols < 1 || cols > 2) {
                st = vl_seterr(VL_ERR_FORMAT, "%s:%d: expected " FR_ACCEPTED "; got %d columns", file, r.rec_line,
                               r.nf);
                break;
            }
            long tmp;
            if (cols == 2 && !parse_int(r.f[0], &tmp)) { /* a header: which column is which */
                int f0 = fr_name_in(r.f[0], FR_FRAME, regress), f1 = fr_name_in(r.f[1], FR_FRAME, regress);
                int l0 = fr_name_in(r.f[0], FR_LABEL, regress), l1 = fr_name_in(r.f[1], FR_LABEL, regress);
                if (f0 && l1)
                    fcol = 0, lcol = 1;
                else if (l0 && f1)
                    fcol = 1, lcol = 0;
                else {
                    st = vl_seterr(VL_ERR_FORMAT, "%s:%d: unrecognised header '%s,%s'; expected " FR_ACCEPTED, file,
                                   r.rec_line, r.f[0], r.f[1]);
                    break;
                }
                continue;
            }
            double dv;
            if (cols == 1 && regress && !vl_parse_double(r.f[0], &dv))
                continue; /* a header */
            if (cols == 1 && !regress && fr_name_in(r.f[0], FR_LABEL, 0))
                continue; /* a header such as label or class */
        }
        if (r.nf != cols) {
            st = vl_seterr(VL_ERR_FORMAT, "%s:%d: %d columns where earlier rows have %d", file, r.rec_line, r.nf,
                           cols);
            break;
        }
        long t = row;
        if (cols == 2 && (!parse_int(r.f[fcol], &t) || t < 0 || t >= T)) {
            st = vl_seterr(VL_ERR_FORMAT, "%s:%d: frame '%s' is not a number in 0..%d (the features have %d rows)",
                           file, r.rec_line, r.f[fcol], T - 1, T);
            break;
        }
        if (cols == 1 && row >= T) {
            st = vl_seterr(VL_ERR_SHAPE, "%s:%d: more label rows than the %d feature rows", file, r.rec_line, T);
            break;
        }
        if (seen[t]) {
            st = vl_seterr(VL_ERR_FORMAT, "%s:%d: frame %ld is labelled twice", file, r.rec_line, t);
            break;
        }
        seen[t] = 1;
        const char *v = r.f[cols == 2 ? lcol : 0];
        if (regress) {
            double dv;
            if (!vl_parse_double(v, &dv)) {
                st = vl_seterr(VL_ERR_FORMAT, "%s:%d: '%s' is not a finite number", file, r.rec_line, v);
                break;
            }
            fr->vals[t] = (float)dv;
        } else {
            if (!*v) {
                st = vl_seterr(VL_ERR_FORMAT, "%s:%d: empty label", file, r.rec_line);
                break;
            }
            long bad = vl_utf8_invalid_at(v);
            if (bad >= 0) {
                st = vl_seterr(VL_ERR_FORMAT, "%s:%d: the label is not valid UTF-8 (byte %ld of the field is 0x%02X); "
                               "class names are stored in the model as JSON text: save the file as UTF-8",
                               file, r.rec_line, bad, (unsigned char)v[bad]);
                break;
            }
            if (!(fr->names[t] = vl_strdup(v))) {
                st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", file);
                break;
            }
        }
        row++;
    }
    if (rc < 0)
        st = r.err;
    if (!st)
        for (int t = 0; t < T; t++)
            if (!seen[t]) {
                st = vl_seterr(VL_ERR_SHAPE, "%s: no label for frame %d (%d label rows for %d feature rows)", file, t,
                               row, T);
                break;
            }
    free(seen);
    vl_csv_close(&r);
    if (st)
        frame_rows_free(fr, T);
    return st;
}

static vl_status finish_labels(vl_dataset *d, const vl_dataset_opts *o, char **clip_names, frame_rows *frames)
{
    if (!o->classes && d->task == VL_TASK_CLASSIFY && !o->unlabelled) {
        for (int i = 0; i < d->n; i++) {
            if (d->mode == VL_OUT_LAST) {
                if (vl_dataset_add_class(d, clip_names[i]))
                    return vl_seterr(VL_ERR_NOMEM, "out of memory");
            } else {
                for (int t = 0; t < d->items[i].T; t++)
                    if ((t == 0 || strcmp(frames[i].names[t], frames[i].names[t - 1])) &&
                        vl_dataset_add_class(d, frames[i].names[t]))
                        return vl_seterr(VL_ERR_NOMEM, "out of memory");
            }
        }
    }
    for (int i = 0; i < d->n; i++) {
        vl_seq *s = &d->items[i];
        if (o->unlabelled)
            continue;
        if (d->task == VL_TASK_CLASSIFY && d->mode == VL_OUT_LAST) {
            if ((s->label = vl_dataset_class(d, clip_names[i])) < 0)
                return vl_seterr(VL_ERR_ARG, "%s:%d: label '%s' is not one of the model's %d classes", d->source,
                                 s->line, clip_names[i], d->nclasses);
        } else if (d->task == VL_TASK_CLASSIFY) {
            s->frame_labels = malloc(sizeof(int32_t) * (size_t)s->T);
            if (!s->frame_labels)
                return vl_seterr(VL_ERR_NOMEM, "out of memory");
            for (int t = 0; t < s->T; t++)
                if ((s->frame_labels[t] = vl_dataset_class(d, frames[i].names[t])) < 0)
                    return vl_seterr(VL_ERR_ARG, "%s:%d: frame %d has label '%s', not one of the model's %d classes",
                                     d->source, s->line, t, frames[i].names[t], d->nclasses);
        } else if (d->mode == VL_OUT_SEQUENCE) {
            s->frame_targets = frames[i].vals;
            frames[i].vals = NULL;
        }
    }
    return VL_OK;
}

vl_status vl_dataset_load(const char *manifest, const vl_dataset_opts *o, vl_dataset *out)
{
    *out = (vl_dataset){.task = o->task, .mode = o->mode, .D = o->dim};
    vl_dataset *d = out;
    if (!(d->source = vl_strdup(manifest)))
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    if (o->classes) {
        vl_status cs = vl_dataset_set_classes(d, o->classes, o->nclasses);
        if (cs) {
            vl_dataset_free(d);
            return cs;
        }
    }
    vl_csv r;
    vl_status st = vl_csv_open(&r, manifest);
    if (st) {
        vl_dataset_free(d);
        return st;
    }
    int col_path = 0, col_label = 1, col_group = 2, ncols_min = o->unlabelled ? 1 : 2, header_seen = 0;
    char **clip_names = NULL; /* classify+last: label text per item */
    frame_rows *frames = NULL;
    int names_cap = 0;
    int rc;
    while ((rc = vl_csv_next(&r)) > 0) {
        if (!header_seen) {
            header_seen = 1;
            int is_header = 0; /* a row naming a `path` column, in any position */
            for (int k = 0; k < r.nf; k++)
                is_header |= vl_eq_nocase(r.f[k], "path");
            if (is_header) {
                col_label = col_group = -1;
                for (int k = 0; k < r.nf; k++) {
                    if (vl_eq_nocase(r.f[k], "path"))
                        col_path = k;
                    else if (vl_eq_nocase(r.f[k], "label") || vl_eq_nocase(r.f[k], "labels") || vl_eq_nocase(r.f[k], "target"))
                        col_label = k;
                    else if (vl_eq_nocase(r.f[k], "group") || vl_eq_nocase(r.f[k], "video") || vl_eq_nocase(r.f[k], "source"))
                        col_group = k;
                }
                if (col_label < 0 && !o->unlabelled) {
                    st = vl_seterr(VL_ERR_FORMAT, "%s:%d: the header has no label column", manifest, r.rec_line);
                    break;
                }
                continue;
            }
        }
        if (r.nf < ncols_min) {
            st = vl_seterr(VL_ERR_FORMAT, "%s:%d: expected path,label[,group] (got %d field%s)", manifest, r.rec_line,
                           r.nf, r.nf == 1 ? "" : "s");
            break;
        }
        if (col_path >= r.nf || !*r.f[col_path]) {
            st = vl_seterr(VL_ERR_FORMAT, "%s:%d: empty path", manifest, r.rec_line);
            break;
        }
        const char *lab = (col_label >= 0 && col_label < r.nf) ? r.f[col_label] : "";
        if (!o->unlabelled && !*lab) {
            st = vl_seterr(VL_ERR_FORMAT, "%s:%d: empty label", manifest, r.rec_line);
            break;
        }
        const char *grp = (col_group >= 0 && col_group < r.nf && *r.f[col_group]) ? r.f[col_group] : NULL;
        if (d->n == names_cap) {
            int cap = names_cap ? 2 * names_cap : 64;
            char **nn = realloc(clip_names, sizeof *nn * (size_t)cap);
            frame_rows *nf = nn ? realloc(frames, sizeof *nf * (size_t)cap) : NULL;
            if (nn)
                clip_names = nn;
            if (nf)
                frames = nf;
            if (!nn || !nf) {
                st = vl_seterr(VL_ERR_NOMEM, "out of memory");
                break;
            }
            names_cap = cap;
        }
        clip_names[d->n] = NULL;
        frames[d->n] = (frame_rows){0};
        vl_seq *s = push(d);
        if (!s) {
            st = vl_seterr(VL_ERR_NOMEM, "out of memory");
            break;
        }
        s->line = r.rec_line;
        s->path = vl_path_beside(manifest, r.f[col_path]);
        s->group = grp ? vl_strdup(grp) : vl_strdup(r.f[col_path]);
        if (!s->path || !s->group) {
            st = vl_seterr(VL_ERR_NOMEM, "out of memory");
            break;
        }
        if ((st = load_features(d, s, manifest, r.rec_line)))
            break;
        if (o->unlabelled)
            continue;
        if (d->mode == VL_OUT_SEQUENCE) {
            char *lf = vl_path_beside(manifest, lab);
            if (!lf) {
                st = vl_seterr(VL_ERR_NOMEM, "out of memory");
                break;
            }
            if (access(lf, F_OK) != 0) {
                st = vl_seterr(VL_ERR_ARG,
                               "%s:%d: '%s' is not a per-frame label file: a many-to-many (sequence) model needs one "
                               "label per frame; for one label per clip use mode last",
                               manifest, r.rec_line, lab);
                free(lf);
                break;
            }
            st = load_frame_file(d, lf, s->T, &frames[d->n - 1]);
            free(lf);
            if (st) {
                st = vl_seterr(st, "%s:%d: %s", manifest, r.rec_line, vl_errmsg());
                break;
            }
        } else if (d->task == VL_TASK_REGRESS) {
            double v;
            if (!vl_parse_double(lab, &v)) {
                st = vl_seterr(VL_ERR_FORMAT, "%s:%d: regression target '%s' is not a finite number", manifest,
                               r.rec_line, lab);
                break;
            }
            s->target = (float)v;
        } else if (vl_dataset_label_file(manifest, lab)) {
            st = vl_seterr(VL_ERR_ARG,
                           "%s:%d: the label '%s' is a per-frame label file, but the model is many-to-one (one label "
                           "per clip); for per-frame labels use mode sequence",
                           manifest, r.rec_line, lab);
            break;
        } else if (vl_utf8_invalid_at(lab) >= 0) {
            long bad = vl_utf8_invalid_at(lab);
            st = vl_seterr(VL_ERR_FORMAT, "%s:%d: the label is not valid UTF-8 (byte %ld of the field is 0x%02X); "
                           "class names are stored in the model as JSON text: save the manifest as UTF-8",
                           manifest, r.rec_line, bad, (unsigned char)lab[bad]);
            break;
        } else if (!(clip_names[d->n - 1] = vl_strdup(lab))) {
            st = vl_seterr(VL_ERR_NOMEM, "out of memory");
            break;
        }
    }
    if (rc < 0)
        st = r.err;
    vl_csv_close(&r);
    if (!st && d->n == 0)
        st = vl_seterr(VL_ERR_FORMAT, "%s: no sequences (an empty dataset)", manifest);
    if (!st)
        st = finish_labels(d, o, clip_names, frames);
    if (!st && !o->classes && !o->unlabelled && d->task == VL_TASK_CLASSIFY && d->nclasses < 2)
        st = vl_seterr(VL_ERR_ARG, "%s: every sequence has the label '%s': classification needs at least two classes",
                       manifest, d->classes[0]);
    for (int i = 0; i < d->n; i++) {
        free(clip_names ? clip_names[i] : NULL);
        if (frames)
            frame_rows_free(&frames[i], d->items[i].T);
    }
    free(clip_names);
    free(frames);
    if (st)
        vl_dataset_free(d);
    return st;
}

/* ---- splits -------------------------------------------------------------------- */

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

vl_status vl_dataset_split(const vl_dataset *d, double fraction, uint64_t seed, uint8_t *is_val)
{
    if (!(fraction > 0.0 && fraction < 1.0))
        return vl_seterr(VL_ERR_ARG, "validation fraction %g must be in (0, 1)", fraction);
    memset(is_val, 0, (size_t)d->n);
    /* Distinct groups, sorted (stable across runs), each with its class. */
    const char **g = malloc(sizeof *g * (size_t)d->n);
    if (!g)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < d->n; i++)
        g[i] = d->items[i].group;
    qsort(g, (size_t)d->n, sizeof *g, cmp_str_ptr);
    int ng = 0;
    for (int i = 0; i < d->n; i++)
        if (ng == 0 || strcmp(g[ng - 1], g[i]))
            g[ng++] = g[i];
    int *gcls = malloc(sizeof(int) * (size_t)ng);
    uint8_t *gval = calloc((size_t)ng, 1);
    int *pool = malloc(sizeof(int) * (size_t)ng);
    if (!gcls || !gval || !pool) {
        free(g);
        free(gcls);
        free(gval);
        free(pool);
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < ng; k++)
        gcls[k] = -2;
    int stratify = d->task == VL_TASK_CLASSIFY && d->mode == VL_OUT_LAST;
    for (int i = 0; i < d->n; i++) {
        const char *key = d->items[i].group;
        const char **hit = bsearch(&key, g, (size_t)ng, sizeof *g, cmp_str_ptr);
        int k = (int)(hit - g);
        if (gcls[k] == -2)
            gcls[k] = stratify ? d->items[i].label : 0;
    }
    vl_rng rng;
    vl_rng_seed(&rng, seed ^ 0x5eedda7a5eedULL);
    int nstrata = stratify ? d->nclasses : 1, held = 0;
    for (int c = 0; c < nstrata; c++) {
        int np = 0;
        for (int k = 0; k < ng; k++)
            if (gcls[k] == c)
                pool[np++] = k;
        if (np < 2)
            continue;
        for (int i = np - 1; i > 0; i--) { /* Fisher-Yates */
            int j = (int)vl_rng_below(&rng, (uint64_t)i + 1);
            int t = pool[i];
            pool[i] = pool[j];
            pool[j] = t;
        }
        int take = (int)floor(fraction * np + 0.5);
        if (take < 1)
            take = 1;
        if (take > np - 1)
            take = np - 1;
        for (int i = 0; i < take; i++)
            gval[pool[i]] = 1;
        held += take;
    }
    for (int i = 0; i < d->n; i++) {
        const char *key = d->items[i].group;
        const char **hit = bsearch(&key, g, (size_t)ng, sizeof *g, cmp_str_ptr);
        is_val[i] = gval[hit - g];
    }
    free(g);
    free(gcls);
    free(gval);
    free(pool);
    if (!held)
        return vl_seterr(VL_ERR_ARG,
                         "%s: cannot hold out validation data: no class has clips from two or more source videos "
                         "(groups); give --val-data or more videos",
                         d->source);
    return VL_OK;
}

vl_status vl_dataset_split_file(const vl_dataset *d, const char *file, uint8_t *is_val)
{
    memset(is_val, 0, (size_t)d->n);
    vl_csv r;
    vl_status st = vl_csv_open(&r, file);
    if (st)
        return st;
    int rc, nval = 0;
    while ((rc = vl_csv_next(&r)) > 0) {
        int val = 1;
        if (r.nf >= 2) {
            if (vl_eq_nocase(r.f[1], "val") || vl_eq_nocase(r.f[1], "validation") || vl_eq_nocase(r.f[1], "test"))
                val = 1;
            else if (vl_eq_nocase(r.f[1], "train") || vl_eq_nocase(r.f[1], "training"))
                val = 0;
            else if (vl_eq_nocase(r.f[0], "path"))
                continue; /* header */
            else {
                st = vl_seterr(VL_ERR_FORMAT, "%s:%d: second column must be train or val (got '%s')", file,
                               r.rec_line, r.f[1]);
                break;
            }
        }
        char *res = vl_path_beside(d->source, r.f[0]);
        int found = 0;
        for (int i = 0; i < d->n && res; i++)
            if (!strcmp(d->items[i].path, res) || !strcmp(d->items[i].path, r.f[0])) {
                is_val[i] = (uint8_t)val;
                found = 1;
            }
        free(res);
        if (!found) {
            st = vl_seterr(VL_ERR_ARG, "%s:%d: '%s' is not in the training manifest %s", file, r.rec_line, r.f[0],
                           d->source);
            break;
        }
        nval += val;
    }
    if (rc < 0)
        st = r.err;
    vl_csv_close(&r);
    if (!st && nval == 0)
        st = vl_seterr(VL_ERR_ARG, "%s: lists no validation items", file);
    return st;
}

/* ---- normalisation ----------------------------------------------------------- */

void vl_dataset_stats(const vl_dataset *d, const int *idx, int n, float *mean, float *std)
{
    const int D = d->D;
    double *s = calloc((size_t)D * 2, sizeof(double));
    if (!s) { /* fall back to identity */
        for (int k = 0; k < D; k++) {
            mean[k] = 0.0f;
            std[k] = 1.0f;
        }
        return;
    }
    double *s2 = s + D;
    double cnt = 0.0;
    /* Two passes (mean, then squared deviations) keep precision for features
     * with a large offset. */
    for (int i = 0; i < n; i++) {
        const vl_seq *q = &d->items[idx[i]];
        for (int t = 0; t < q->T; t++)
            for (int k = 0; k < D; k++)
                s[k] += q->x[(size_t)t * D + k];
        cnt += q->T;
    }
    for (int k = 0; k < D; k++)
        s[k] /= cnt > 0 ? cnt : 1.0;
    for (int i = 0; i < n; i++) {
        const vl_seq *q = &d->items[idx[i]];
        for (int t = 0; t < q->T; t++)
            for (int k = 0; k < D; k++) {
                double e = q->x[(size_t)t * D + k] - s[k];
                s2[k] += e * e;
            }
    }
    for (int k = 0; k < D; k++) {
        double sd = sqrt(s2[k] / (cnt > 0 ? cnt : 1.0));
        mean[k] = (float)s[k];
        std[k] = sd < 1e-6 ? 1.0f : (float)sd;
    }
    free(s);
}

void vl_normalize_rows(const float *x, size_t n, int D, const float *mean, const float *std, float *y)
{
    for (size_t t = 0; t < n; t++)
        for (int k = 0; k < D; k++)
            y[t * D + k] = (x[t * D + k] - mean[k]) / std[k];
}

void vl_dataset_normalize(vl_dataset *d, const float *mean, const float *std)
{
    for (int i = 0; i < d->n; i++)
        vl_normalize_rows(d->items[i].x, (size_t)d->items[i].T, d->D, mean, std, d->items[i].x);
}
