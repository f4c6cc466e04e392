/* Labelled videos -> feature-sequence datasets (see videodata.h). */
#include "pipeline/videodata.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/csv.h"
#include "core/error.h"
#include "core/utf8.h"
#include "core/rng.h"
#include "video/video.h"

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sequence mode with a folder: each video with a same-named .csv beside it. */
static vl_status clips_from_labelled_folder(const char *dir, vl_clip_list *l)
{
    DIR *d = opendir(dir);
    if (!d)
        return vl_seterr(VL_ERR_IO, "%s: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    vl_status st = VL_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !vl_is_video_file_name(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, sizeof *nn * (size_t)cap);
            if (!nn) {
                st = vl_seterr(VL_ERR_NOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = vl_strdup(e->d_name))) {
            st = vl_seterr(VL_ERR_NOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (!st && n == 0)
        st = vl_seterr(VL_ERR_FORMAT, "%s: no video files (a sequence model needs videos, each with a same-named "
                                      ".csv of per-frame labels)", dir);
    if (!st)
        qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n && !st; i++) {
        char vp[4096], lp[4096];
        snprintf(vp, sizeof vp, "%s/%s", dir, names[i]);
        snprintf(lp, sizeof lp, "%s", vp);
        char *dot = strrchr(lp, '.');
        if (dot)
            strcpy(dot, ".csv");
        struct stat sb;
        if (stat(lp, &sb) != 0) {
            st = vl_seterr(VL_ERR_FORMAT, "%s: no per-frame label file %s beside it", vp, lp);
            break;
        }
        st = vl_clip_list_add(l, vp, 0, 0, lp, vp);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return st;
}

/* Per-frame label files named in a video manifest are relative to it. */
static vl_status resolve_label_paths(const char *manifest, vl_clip_list *l)
{
    const char *slash = strrchr(manifest, '/');
    if (!slash)
        return VL_OK;
    size_t dl = (size_t)(slash - manifest) + 1;
    for (int i = 0; i < l->n; i++) {
        char *lab = l->items[i].label;
        if (!lab || lab[0] == '/')
            continue;
        size_t ll = strlen(lab);
        char *r = malloc(dl + ll + 1);
        if (!r)
            return vl_seterr(VL_ERR_NOMEM, "out of memory");
        memcpy(r, manifest, dl);
        memcpy(r + dl, lab, ll + 1);
        free(lab);
        l->items[i].label = r;
    }
    return VL_OK;
}

/* A clip's label names an existing file (not a folder): resolved beside the
 * manifest `data` when `beside` and relative, else as given. */
static int label_is_file(const char *data, const char *lab, int beside)
{
    char rp[4096];
    const char *slash = strrchr(data, '/');
    if (beside && lab[0] != '/' && slash && !is_dir(data))
        snprintf(rp, sizeof rp, "%.*s%s", (int)(slash - data + 1), data, lab);
    else
        snprintf(rp, sizeof rp, "%s", lab);
    return access(rp, F_OK) == 0 && !is_dir(rp);
}

static int ends_csv(const char *lab)
{
    size_t n = strlen(lab);
    return n > 4 && (!strcmp(lab + n - 4, ".csv") || !strcmp(lab + n - 4, ".CSV"));
}

/* The classic mix-ups, caught with a message that says which mode fits. */
static vl_status check_mode(const char *data, const vl_videodata_opts *o, const vl_clip_list *l)
{
    for (int i = 0; i < l->n; i++) {
        const char *lab = l->items[i].label;
        if (!lab)
            continue;
        /* clip labels are names; a file name among them is resolved as the
         * manifest would resolve it (sequence labels are resolved already) */
        int is_file = label_is_file(data, lab, o->mode == VL_OUT_LAST);
        int looks = ends_csv(lab);
        if (o->mode == VL_OUT_SEQUENCE && !is_file)
            return vl_seterr(VL_ERR_ARG,
                             "%s: '%s' (for %s) is not a per-frame label file: a per-frame (sequence) model needs one "
                             "label per frame; for one label per clip use a clip model (--mode last)",
                             data, lab, l->items[i].path);
        if (o->mode == VL_OUT_LAST && looks && is_file)
            return vl_seterr(VL_ERR_ARG,
                             "%s: the label of %s is a per-frame label file (%s), but the model is many-to-one (one "
                             "label per clip); for per-frame labels use --mode sequence",
                             data, l->items[i].path, lab);
    }
    return VL_OK;
}

/* ---- describing the data ------------------------------------------------------------ */

/* One pass over a CSV: video or features (the first row that is not a
 * `path` header), and for features whether the labels of the first 64 rows
 * all name label files (the label column: the second, or the header's
 * label/labels/target). */
static void describe_csv(const char *data, vl_data_desc *dd)
{
    vl_csv r;
    if (vl_csv_open(&r, data))
        return; /* loading it says why */
    int decided = 0, first = 1, col_label = 1, rows = 0, files = 0, pf_done = 0;
    while (vl_csv_next(&r) > 0) {
        if (!decided && !(r.nf >= 1 && !strcmp(r.f[0], "path"))) {
            decided = 1;
            if (vl_is_video_file_name(r.f[0])) {
                dd->kind = VL_DATA_VIDEO_MANIFEST;
                break;
            }
        }
        if (first) {
            first = 0;
            int is_header = 0;
            for (int k = 0; k < r.nf; k++)
                is_header |= vl_eq_nocase(r.f[k], "path");
            if (is_header) {
                col_label = -1;
                for (int k = 0; k < r.nf; k++)
                    if (vl_eq_nocase(r.f[k], "label") || vl_eq_nocase(r.f[k], "labels") ||
                        vl_eq_nocase(r.f[k], "target"))
                        col_label = k;
                continue;
            }
        }
        dd->items++;
        if (!pf_done && (rows >= 64 || col_label < 0 || col_label >= r.nf))
            pf_done = 1;
        if (!pf_done) {
            rows++;
            files += vl_dataset_label_file(data, r.f[col_label]);
        }
    }
    vl_csv_close(&r);
    if (dd->kind == VL_DATA_FEATURES) {
        dd->per_frame = rows > 0 && files == rows;
        return;
    }
    /* a video manifest: per-frame when every label is a .csv file beside it */
    vl_clip_list *l = &dd->clips;
    if (vl_clips_from_csv(l, data) != VL_OK)
        vl_clip_list_free(l); /* loading it says why */
    int yes = l->n > 0;
    for (int i = 0; yes && i < l->n; i++) {
        const char *lab = l->items[i].label;
        yes = lab && ends_csv(lab) && label_is_file(data, lab, 1);
    }
    dd->items = l->n;
    dd->per_frame = yes;
}

void vl_data_describe(const char *data, vl_data_desc *dd)
{
    *dd = (vl_data_desc){.kind = VL_DATA_FEATURES};
    if (!is_dir(data)) {
        describe_csv(data, dd);
    } else {
        vl_clip_list *t = &dd->clips;
        if (vl_clips_from_folders(t, data) == VL_OK) {
            dd->kind = VL_DATA_CLASS_FOLDERS;
        } else {
            vl_clip_list_free(t);
            dd->kind = clips_from_labelled_folder(data, t) == VL_OK && t->n > 0 ? VL_DATA_LABELLED_VIDEOS
                                                                                : VL_DATA_VIDEO_FOLDER;
        }
        if (dd->kind == VL_DATA_VIDEO_FOLDER)
            vl_clip_list_free(t);
        dd->per_frame = dd->kind == VL_DATA_LABELLED_VIDEOS;
        dd->items = t->n;
    }
    dd->video = dd->kind != VL_DATA_FEATURES;
}

void vl_data_desc_free(vl_data_desc *dd)
{
    if (dd)
        vl_clip_list_free(&dd->clips);
}

/* The description o carries, or one made now (keeping the error message
 * that is being worded). */
static const vl_data_desc *desc_of(const char *data, const vl_videodata_opts *o, vl_data_desc *own)
{
    if (o->desc)
        return o->desc;
    char keep[4400];
    snprintf(keep, sizeof keep, "%s", vl_errmsg());
    vl_data_describe(data, own);
    vl_seterr(VL_OK, "%s", keep);
    return own;
}

vl_status vl_videodata_clips(const char *data, const vl_videodata_opts *o, vl_clip_list *clips)
{
    vl_clip_list whole = {0};
    vl_status st;
    const int dir = is_dir(data);
    /* the description listed these clips already: the same reading of the same data */
    const vl_data_desc *dd = o->desc;
    const vl_data_kind listed = !dir ? VL_DATA_VIDEO_MANIFEST
                                : o->mode == VL_OUT_SEQUENCE ? VL_DATA_LABELLED_VIDEOS : VL_DATA_CLASS_FOLDERS;
    if (dd && dd->kind == listed && dd->clips.n > 0) {
        st = vl_clip_list_copy(&whole, &dd->clips);
        if (!st && !dir && o->mode == VL_OUT_SEQUENCE)
            st = resolve_label_paths(data, &whole);
    } else if (dir) {
        if (o->mode == VL_OUT_SEQUENCE) {
            st = clips_from_labelled_folder(data, &whole);
            vl_data_desc own = {0};
            if (st && desc_of(data, o, &own)->kind == VL_DATA_CLASS_FOLDERS)
                st = vl_seterr(VL_ERR_ARG,
                               "%s: a folder per class (one label per clip), but a per-frame (sequence) model "
                               "needs videos with per-frame label files; for clip labels use a clip model "
                               "(--mode last)",
                               data);
            vl_data_desc_free(&own);
        } else {
            st = vl_clips_from_folders(&whole, data);
            /* the folder scan's message (it names the empty class folder),
             * unless the data's kind explains more */
            vl_data_desc own = {0};
            if (st && desc_of(data, o, &own)->kind == VL_DATA_LABELLED_VIDEOS)
                st = vl_seterr(VL_ERR_ARG,
                               "%s: videos with per-frame label files (name.mp4 + name.csv), but the model is "
                               "many-to-one (one label per clip); for per-frame labels use --mode sequence",
                               data);
            vl_data_desc_free(&own);
        }
    } else {
        st = vl_clips_from_csv(&whole, data);
        if (!st && o->mode == VL_OUT_SEQUENCE)
            st = resolve_label_paths(data, &whole);
    }
    if (!st && o->task == VL_TASK_CLASSIFY)
        st = check_mode(data, o, &whole);
    if (st) {
        vl_clip_list_free(&whole);
        return st;
    }
    if (o->clips_per_video <= 0) {
        *clips = whole;
        return VL_OK;
    }
    if (o->mode == VL_OUT_SEQUENCE) {
        vl_clip_list_free(&whole);
        return vl_seterr(VL_ERR_ARG, "random clips apply to clip labels (mode last); sequence models train on whole "
                                     "videos with per-frame labels");
    }
    vl_rng rng;
    vl_rng_seed(&rng, o->seed ^ 0xc11b5ULL);
    *clips = (vl_clip_list){0};
    for (int i = 0; i < whole.n && !st; i++) {
        const vl_clip *c = &whole.items[i];
        double dur = c->end > 0 ? c->end - c->start : 0.0;
        if (!(c->end > 0) && c->start > 0) { /* open-ended: from start to the video's end */
            vl_video_info info;
            if ((st = vl_video_probe(c->path, &info)))
                break;
            if (!(info.duration > 0)) {
                st = vl_seterr(VL_ERR_FORMAT, "%s: the container does not give the video's length; give the clip's "
                                              "end time", c->path);
                break;
            }
            if (!(info.duration > c->start)) {
                st = vl_seterr(VL_ERR_FORMAT, "%s: start %g s is beyond the end of the video (%g s)", c->path,
                               c->start, info.duration);
                break;
            }
            dur = info.duration - c->start;
        }
        int n0 = clips->n;
        st = vl_clips_random(clips, c->path, c->label, dur, o->clips_per_video, o->clip_min, o->clip_max, &rng);
        for (int k = n0; !st && k < clips->n; k++)
            clips->items[k].start += c->start, clips->items[k].end += c->start;
    }
    vl_clip_list_free(&whole);
    if (st)
        vl_clip_list_free(clips);
    return st;
}


vl_status vl_videodata_load(vl_extractor *x, const char *data, const vl_videodata_opts *o, vl_dataset *out)
{
    *out = (vl_dataset){.task = o->task, .mode = o->mode};
    vl_dataset *d = out;
    vl_clip_list cl = {0};
    vl_frame_labels **fls = NULL;
    vl_features *f = NULL;
    int *sel = NULL, nsel = 0;
    vl_clip *sub = NULL; /* the clips to extract (all, or this shard's): shallow copies */
    vl_status st = vl_videodata_clips(data, o, &cl);
    if (st)
        return st;
    if (!(d->source = vl_strdup(data))) {
        st = vl_seterr(VL_ERR_NOMEM, "out of memory");
        goto done;
    }
    const int seq = o->mode == VL_OUT_SEQUENCE, cls = o->task == VL_TASK_CLASSIFY;
    /* Classes: fixed, or every label seen (clip labels or per-frame files). */
    if (seq) {
        fls = calloc((size_t)cl.n, sizeof *fls);
        if (!fls) {
            st = vl_seterr(VL_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int i = 0; i < cl.n && !st; i++) {
            if (!cl.items[i].label) {
                st = vl_seterr(VL_ERR_FORMAT, "%s: no per-frame label file", cl.items[i].path);
                break;
            }
            if (!cls) {
                st = vl_seterr(VL_ERR_UNSUPPORTED, "%s: per-frame regression from videos is not supported; extract "
                                                   "features and give per-frame targets in .npy files",
                               cl.items[i].path);
                break;
            }
            st = vl_frame_labels_load(cl.items[i].label, &fls[i]);
        }
    }
    if (st)
        goto done;
    if (cls && o->classes)
        st = vl_dataset_set_classes(d, o->classes, o->nclasses); else if (cls) {
        for (int i = 0; i < cl.n && !st; i++) {
            if (seq) {
                for (int c = 0; c < fls[i]->nclasses && !st; c++) {
                    long bad = vl_utf8_invalid_at(fls[i]->classes[c]);
                    if (bad >= 0)
                        st = vl_seterr(VL_ERR_FORMAT,
                                       "%s: a label is not valid UTF-8: byte %ld is 0x%02X; class names are stored "
                                       "in the model as JSON text: save the file as UTF-8",
                                       cl.items[i].label, bad, (unsigned char)fls[i]->classes[c][bad]);
                    else
                        st = vl_dataset_add_class(d, fls[i]->classes[c]);
                }
            } else if (cl.items[i].label && vl_utf8_invalid_at(cl.items[i].label) >= 0) {
                long bad = vl_utf8_invalid_at(cl.items[i].label);
                st = vl_seterr(VL_ERR_FORMAT,
                               "%s: its class name (its folder's name, or its label in %s) is not valid UTF-8: byte "
                               "%ld is 0x%02X; class names are stored in the model as JSON text: rename the folder "
                               "or save the CSV as UTF-8",
                               cl.items[i].path, data, bad, (unsigned char)cl.items[i].label[bad]);
            } else if (cl.items[i].label) {
                st = vl_dataset_add_class(d, cl.items[i].label);
            }
        }
        if (!st && d->nclasses < 2)
            st = vl_seterr(VL_ERR_ARG, "%s: every clip has the label '%s': classification needs at least two classes",
                           data, d->nclasses ? d->classes[0] : "");
    }
    if (st)
        goto done;
    /* Labels are checked before the (slow) extraction. */
    for (int i = 0; i < cl.n && !seq && cls; i++)
        if (vl_dataset_class(d, cl.items[i].label) < 0) {
            st = vl_seterr(VL_ERR_ARG, "%s: label '%s' is not one of the model's %d classes", cl.items[i].path,
                           cl.items[i].label, d->nclasses);
            goto done;
        }
    if (!(f = calloc((size_t)cl.n, sizeof *f)) || !(d->items = calloc((size_t)cl.n, sizeof *d->items)) ||
        !(sel = malloc(sizeof(int) * (size_t)(cl.n ? cl.n : 1))) ||
        !(sub = malloc(sizeof *sub * (size_t)(cl.n ? cl.n : 1)))) {
        st = vl_seterr(VL_ERR_NOMEM, "out of memory");
        goto done;
    }
    d->cap = cl.n;
    for (int i = 0; i < cl.n; i++)
        if (!o->owner || o->owner[i] == o->shard) {
            sub[nsel] = cl.items[i];
            sel[nsel++] = i;
        }
    if ((st = vl_extract_clips(x, sub, nsel, f)))
        goto done;
    d->D = vl_extractor_backbone(x)->feature_dim;
    for (int k = 0; k < nsel && !st; k++) {
        const int i = sel[k];
        const vl_clip *c = &cl.items[i];
        vl_seq *s = &d->items[d->n++];
        *s = (vl_seq){.label = -1, .T = f[k].T, .x = f[k].x, .line = i + 1};
        f[k].x = NULL;
        s->path = vl_strdup(c->path);
        s->group = vl_strdup(c->group ? c->group : c->path);
        if (!s->path || !s->group) {
            st = vl_seterr(VL_ERR_NOMEM, "out of memory");
            break;
        }
        if (seq) {
            if (!(s->frame_labels = malloc(sizeof(int32_t) * (size_t)s->T))) {
                st = vl_seterr(VL_ERR_NOMEM, "out of memory");
                break;
            }
            st = vl_frame_labels_align(fls[i], s->T, f[k].time, f[k].index, (const char *const *)d->classes,
                                       d->nclasses, 0, s->frame_labels);
        } else if (cls) {
            s->label = vl_dataset_class(d, c->label);
        } else {
            char *e;
            double v = c->label ? strtod(c->label, &e) : NAN;
            if (!c->label || *e || !isfinite(v))
                st = vl_seterr(VL_ERR_FORMAT, "%s: regression target '%s' is not a finite number", c->path,
                               c->label ? c->label : "");
            s->target = (float)v;
        }
    }
done:
    if (f)
        for (int i = 0; i < cl.n; i++)
            vl_features_free(&f[i]);
    free(f);
    free(sel);
    free(sub);
    if (fls)
        for (int i = 0; i < cl.n; i++)
            vl_frame_labels_free(fls[i]);
    free(fls);
    vl_clip_list_free(&cl);
    if (st)
        vl_dataset_free(d);
    return st;
}
