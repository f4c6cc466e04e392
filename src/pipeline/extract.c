/* Feature extraction with a cache and parallel workers (see extract.h). */
#include "pipeline/extract.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backbone/builtin.h"
#include "backbone/registry.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/hash.h"
#include "core/atomic.h"
#include "core/csv.h"
#include "core/threads.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/npy.h"

/* A fused backbone ("A+B") has parts, each with its own backbone,
 * preprocessing (one decoding pass prepares every part's frames: video.h
 * planes) and cache entries; a plain backbone is the one-part case. */
#define MAX_PARTS VL_MAX_PLANES

typedef struct {
    char *spec, *tap;
    vl_backbone_desc desc;
    uint64_t key; /* hash of everything about the part and the sampling */
} part;

struct vl_extractor {
    char *cache;
    double fps;
    int every_k, jobs, batch;
    int np;
    part p[MAX_PARTS];
    vl_backbone *bb[MAX_PARTS]; /* for describe and streaming */
    vl_backbone_desc desc;      /* the whole: names and taps joined by '+', widths summed */
    int has_norm;               /* the user's input normalisation for the ONNX parts */
    vl_input_norm norm;
    vl_precision prec;          /* for the ONNX parts */
    void (*progress)(void *, int, int, int64_t, int);
    void *user;
    void (*note)(void *, const char *);
    int cross;                  /* every part stateless and sampled-only: batches may span clips */
    int released;               /* vl_extractor_release: bb[] closed, desc kept */
};

static uint64_t fnv_str(uint64_t h, const char *s) { return vl_fnv(h, s ? s : "", s ? strlen(s) + 1 : 1); }
#define FNV_V(h, v) ((h) = vl_fnv((h), &(v), sizeof(v)))

void vl_features_free(vl_features *f)
{
    if (!f)
        return;
    free(f->x);
    free(f->time);
    free(f->index);
    *f = (vl_features){0};
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++)
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            buf[i] = c;
        }
    return 0;
}

/* Splits "A+B" into at most MAX_PARTS parts (a readable file whose name has
 * a '+' is one part). Returns the count, or -1 with the error set. `buf`
 * receives the copies that parts[] point into. */
static int split_plus(const char *s, const char *what, int want, char *buf, size_t bufn, char **parts)
{
    if (snprintf(buf, bufn, "%s", s) >= (int)bufn) {
        vl_seterr(VL_ERR_ARG, "%s '%.80s...' is too long", what, s);
        return -1;
    }
    if (want == 0 && (!strchr(s, '+') || access(s, R_OK) == 0)) {
        parts[0] = buf;
        return 1;
    }
    int n = 0;
    for (char *q = buf;;) {
        char *e = strchr(q, '+');
        if (n == MAX_PARTS) {
            vl_seterr(VL_ERR_ARG, "%s '%s': at most %d backbones can be fused", what, s, MAX_PARTS);
            return -1;
        }
        parts[n++] = q;
        if (!e)
            break;
        *e = 0;
        q = e + 1;
    }
    if (want && n != want) {
        vl_seterr(VL_ERR_ARG, "%s '%s' has %d parts, but the backbone '+' joins %d (leave a part empty for its "
                              "default)",
                  what, s, n, want);
        return -1;
    }
    for (int i = 0; i < n && !want; i++)
        if (!parts[i][0]) {
            vl_seterr(VL_ERR_ARG, "backbone '%s': an empty part (write A+B)", s);
            return -1;
        }
    return n;
}

static uint64_t part_key(const vl_backbone_desc *d, double fps, int every_k)
{
    int builtin = strncmp(d->name, "builtin:", 8) == 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv_str(h, "vidlstm-features-v1");
    h = fnv_str(h, d->name);
    h = fnv_str(h, d->tap);
    if (builtin)
        h = fnv_str(h, VL_BUILTIN_REVISION);
    FNV_V(h, d->feature_dim);
    const vl_preproc *p = &d->pre;
    FNV_V(h, p->width);
    FNV_V(h, p->height);
    FNV_V(h, p->resize);
    FNV_V(h, p->resize_to);
    FNV_V(h, p->bgr);
    FNV_V(h, p->scale);
    h = vl_fnv(h, p->mean, sizeof p->mean);
    h = vl_fnv(h, p->std, sizeof p->std);
    FNV_V(h, p->nhwc);
    FNV_V(h, p->grey);
    if (!builtin) { /* the model file's identity: a re-exported model invalidates the cache */
        struct stat sb;
        if (stat(d->file[0] ? d->file : d->name, &sb) == 0) {
            int64_t sz = sb.st_size, mt = sb.st_mtim.tv_sec, mn = sb.st_mtim.tv_nsec;
            FNV_V(h, sz);
            FNV_V(h, mt);
            FNV_V(h, mn);
        }
    }
    FNV_V(h, fps);
    FNV_V(h, every_k);
    if (d->precision != VL_PREC_FP32) /* fp32 keys stay as they were */
        h = fnv_str(h, vl_precision_name(d->precision));
    if (d->precision == VL_PREC_INT8)
        h = fnv_str(h, VL_BACKBONE_INT8_CALIBRATION);
    return h;
}

/* "a" + "+" + "b" into dst[n]; 0 when it does not fit. */
static int join_plus(char *dst, size_t n, const char *a, const char *b, int first)
{
    size_t l = strlen(dst);
    return snprintf(dst + l, n - l, "%s%s", first ? "" : "+", b ? b : a) < (int)(n - l);
}

/* The model's record of its ONNX files' SHA-256 ("a+b": one per part, ""
 * for a built-in) against the files opened: a different file is refused. */
static vl_status verify_parts(const vl_extractor *x, const char *want)
{
    char buf[4 * 65 + 8], *h[MAX_PARTS];
    int n = split_plus(want, "backbone sha256", x->np > 1 ? x->np : 0, buf, sizeof buf, h);
    if (n < 0)
        return VL_ERR_FORMAT;
    if (n != x->np)
        return vl_seterr(VL_ERR_FORMAT, "the model records %d backbone hashes for %d backbones", n, x->np);
    for (int k = 0; k < n; k++) {
        vl_status st;
        if (x->p[k].desc.file[0] &&
            (st = vl_backbone_verify(x->p[k].desc.name, x->p[k].desc.file, x->p[k].desc.sha256, h[k])))
            return st;
    }
    return VL_OK;
}

/* An ONNX backbone's precision; the fallback note once, from the first instance. */
static vl_status set_prec(const vl_extractor *x, vl_backbone *b, vl_precision p, int tell)
{
    const char *why = NULL;
    vl_status st = vl_backbone_set_precision(b, p, &why);
    if (!st && why && tell && x->note) {
        char m[400];
        snprintf(m, sizeof m, "note: %s", why);
        x->note(x->user, m);
    }
    return st;
}

vl_status vl_extractor_open(const vl_extract_opts *o, vl_extractor **out)
{
    *out = NULL;
    vl_extractor *x = calloc(1, sizeof *x);
    if (!x)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    const char *spec = o->backbone ? o->backbone : "builtin:motion";
    x->cache = vl_strdup(o->cache);
    x->every_k = o->every_k > 0 ? o->every_k : 0;
    x->fps = o->fps > 0 ? o->fps : (x->every_k ? 0.0 : 10.0);
    x->batch = o->batch > 0 ? o->batch : 16;
    x->progress = o->progress;
    x->user = o->user;
    x->note = o->note;
    char sbuf[4096], tbuf[4096], *specs[MAX_PARTS], *taps[MAX_PARTS] = {0};
    vl_status st = VL_OK;
    int np = split_plus(spec, "backbone", 0, sbuf, sizeof sbuf, specs);
    if (np > 1 && o->tap && split_plus(o->tap, "--layer", np, tbuf, sizeof tbuf, taps) < 0)
        np = -1;
    if (np < 0) {
        vl_extractor_close(x);
        return VL_ERR_ARG;
    }
    if (np == 1)
        taps[0] = (char *)o->tap;
    x->np = np;
    int builtin = 1;
    vl_backbone_desc *w = &x->desc;
    for (int k = 0; k < np; k++) {
        part *pt = &x->p[k];
        /* an ONNX file by its absolute path: models record it and must find
         * it from wherever they are used later */
        const char *sp = specs[k];
        char *abs = strncmp(sp, "builtin:", 8) && access(sp, R_OK) == 0 ? realpath(sp, NULL) : NULL;
        pt->spec = vl_strdup(abs ? abs : sp);
        free(abs);
        pt->tap = taps[k] && taps[k][0] ? vl_strdup(taps[k]) : NULL;
        if ((st = vl_backbone_open(pt->spec, pt->tap, &x->bb[k])) ||
            (o->norm && vl_backbone_takes_input_norm(x->bb[k]) &&
             (st = vl_backbone_set_input_norm(x->bb[k], o->norm))) ||
            (vl_backbone_takes_precision(x->bb[k]) && (st = set_prec(x, x->bb[k], o->precision, 1)))) {
            vl_extractor_close(x);
            return st;
        }
        pt->desc = *vl_backbone_describe(x->bb[k]);
        pt->key = part_key(&pt->desc, x->fps, x->every_k);
        builtin &= strncmp(pt->desc.name, "builtin:", 8) == 0;
        if (k == 0) {
            *w = pt->desc;
            continue;
        }
        for (int j = 0; j < k; j++)
            if (!strcmp(x->p[j].desc.name, pt->desc.name) && !strcmp(x->p[j].desc.tap, pt->desc.tap)) {
                st = vl_seterr(VL_ERR_ARG, "backbone '%s': %s appears twice", spec, pt->desc.name);
                vl_extractor_close(x);
                return st;
            }
        int any_tap = 0;
        for (int j = 0; j <= k; j++)
            any_tap |= x->p[j].desc.tap[0] != 0;
        int any_sha = 0;
        for (int j = 0; j <= k; j++)
            any_sha |= x->p[j].desc.sha256[0] != 0;
        w->name[0] = w->tap[0] = w->sha256[0] = 0;
        int fits = 1;
        for (int j = 0; j <= k; j++) {
            fits &= join_plus(w->name, sizeof w->name, x->p[j].desc.name, NULL, j == 0);
            if (any_tap)
                fits &= join_plus(w->tap, sizeof w->tap, x->p[j].desc.tap, NULL, j == 0);
            if (any_sha) /* one hash per part, "" for a built-in */
                fits &= join_plus(w->sha256, sizeof w->sha256, x->p[j].desc.sha256, NULL, j == 0);
        }
        if (!fits) {
            st = vl_seterr(VL_ERR_ARG, "backbone '%s': the fused name is too long (move the models to a shorter path)",
                           spec);
            vl_extractor_close(x);
            return st;
        }
        w->feature_dim += pt->desc.feature_dim;
        w->dense |= pt->desc.dense;
    }
    if (o->precision != VL_PREC_FP32) {
        int any = 0;
        for (int k = 0; k < np; k++)
            any |= vl_backbone_takes_precision(x->bb[k]);
        if (!any) {
            st = vl_backbone_set_precision(x->bb[0], o->precision, NULL); /* the error naming the backbone */
            vl_extractor_close(x);
            return st;
        }
        x->prec = o->precision;
        for (int k = 0; k < np; k++)
            if (x->p[k].desc.precision != VL_PREC_FP32) w->precision = x->p[k].desc.precision;
    }
    if (o->norm) {
        for (int k = 0; k < np; k++)
            x->has_norm |= x->p[k].desc.has_norm;
        if (!x->has_norm) {
            st = vl_seterr(VL_ERR_ARG, "backbone '%s': input preprocessing options apply to ONNX image backbones; "
                                       "this one prepares its own frames", spec);
            vl_extractor_close(x);
            return st;
        }
        x->norm = *o->norm;
        w->has_norm = 1;
        w->norm = *o->norm;
    }
    if (o->sha256 && o->sha256[0] && (st = verify_parts(x, o->sha256))) {
        vl_extractor_close(x);
        return st;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    /* Built-in descriptors are cheap, so decoding dominates: one clip per
     * core. A CNN already uses every core (oneDNN threads) and its decoder
     * runs ahead on its own thread: one clip at a time. */
    x->jobs = o->jobs > 0 ? o->jobs : (builtin ? (int)(ncpu > 0 ? ncpu : 1) : 1);
    x->cross = 1;
    for (int k = 0; k < np; k++)
        x->cross &= vl_backbone_stateless(x->bb[k]) && !x->p[k].desc.dense;
    const char *pc = getenv("VL_EXTRACT_PER_CLIP"); /* bench/: the clip-by-clip path, for comparison */
    if (pc && pc[0] && strcmp(pc, "0"))
        x->cross = 0;
    if (x->cache && mkdir_p(x->cache) != 0) {
        st = vl_seterr(VL_ERR_IO, "%s: cannot create the feature cache folder: %s", x->cache, strerror(errno));
        vl_extractor_close(x);
        return st;
    }
    *out = x;
    return VL_OK;
}

void vl_extractor_close(vl_extractor *x)
{
    if (!x)
        return;
    for (int k = 0; k < MAX_PARTS; k++) {
        vl_backbone_close(x->bb[k]);
        free(x->p[k].spec);
        free(x->p[k].tap);
    }
    free(x->cache);
    free(x);
}

void vl_extractor_release(vl_extractor *x)
{
    if (!x)
        return;
    for (int k = 0; k < MAX_PARTS; k++) {
        vl_backbone_close(x->bb[k]);
        x->bb[k] = NULL;
    }
    x->released = 1;
}

static vl_status check_released(const vl_extractor *x)
{
    return x->released ? vl_seterr(VL_ERR_ARG, "the extractor's backbone %s was released (vl_extractor_release)",
                                   x->desc.name)
                       : VL_OK;
}

const vl_backbone_desc *vl_extractor_backbone(const vl_extractor *x) { return &x->desc; }

void vl_extractor_sampling(const vl_extractor *x, double *fps, int *every_k)
{
    *fps = x->fps;
    *every_k = x->every_k;
}

/* ---- profile (VL_PROFILE=1, video.h) -------------------------------------------------- */

typedef struct {
    double wall, cnn, cnn_new; /* worker seconds: all, in the backbones, in batches of a new size (planning) */
    int64_t batches, new_shape, frames;
    int threads; /* the backbone's threads in a worker (the most of any) */
} xprofile;

static pthread_mutex_t xprof_mu = PTHREAD_MUTEX_INITIALIZER;
static xprofile xprof;
static _Thread_local xprofile tprof; /* this worker's, added to xprof when it ends */
static _Thread_local int last_batch; /* this worker's previous batch size */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A backbone call of n frames (real ones; nrun with padding) that began at t0. */
static void prof_batch(double t0, int n, int nrun)
{
    double dt = now_s() - t0;
    tprof.cnn += dt;
    tprof.batches++;
    tprof.frames += n;
    n = nrun;
    if (n != last_batch) {
        tprof.new_shape++;
        tprof.cnn_new += dt;
        last_batch = n;
    }
}

static void prof_flush(double t_start)
{
    tprof.wall = now_s() - t_start;
    pthread_mutex_lock(&xprof_mu);
    xprof.wall += tprof.wall;
    xprof.cnn += tprof.cnn;
    xprof.cnn_new += tprof.cnn_new;
    xprof.batches += tprof.batches;
    xprof.new_shape += tprof.new_shape;
    xprof.frames += tprof.frames;
    if (tprof.threads > xprof.threads) xprof.threads = tprof.threads;
    pthread_mutex_unlock(&xprof_mu);
    tprof = (xprofile){0};
    last_batch = 0;
}

/* One line on standard error (VL_PROFILE=1 asks for it): where this call's time went. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

static void prof_report(const vl_extractor *x, int nclips, double wall, double cpu, const vl_video_profile *v0)
{
    vl_video_profile v;
    vl_video_profile_get(&v);
    pthread_mutex_lock(&xprof_mu);
    xprofile p = xprof;
    xprof = (xprofile){0};
    pthread_mutex_unlock(&xprof_mu);
    fprintf(stderr,
            "vidlstm profile: %s, %d clips, %lld frames in %.2f s (%.1f frames/s; process CPU %.2f s, %.2f ms a frame), "
            "jobs %d: workers %.2f s = "
            "backbone %.2f s (threads %d, %lld batches, %lld of a new size: %.2f s) + waiting/other %.2f s; decoding threads: "
            "open/close %.2f s, read %.2f s, decode %.2f s (%lld frames, %lld unsampled skipped), convert %.2f s (%lld frames), "
            "blocked %.2f s\n",
            x->cross ? "cross-clip batches" : "per-clip batches", nclips, (long long)p.frames, wall,
            wall > 0 ? (double)p.frames / wall : 0.0, cpu, p.frames ? 1e3 * cpu / (double)p.frames : 0.0, x->jobs, p.wall, p.cnn, p.threads, (long long)p.batches,
            (long long)p.new_shape, p.cnn_new, p.wall - p.cnn, v.open - v0->open, v.read - v0->read,
            v.decode - v0->decode, (long long)(v.decoded - v0->decoded), (long long)(v.skipped - v0->skipped),
            v.convert - v0->convert,
            (long long)(v.converted - v0->converted), v.wait - v0->wait);
}

/* ---- one clip -------------------------------------------------------------------- */

/* Extraction of some parts (which[0..n)) of one clip, or streaming of all. */
typedef struct {
    int n;                      /* parts being extracted */
    int which[MAX_PARTS];       /* their numbers */
    vl_backbone *bb[MAX_PARTS]; /* their backbones */
    int D[MAX_PARTS];
    vl_features *f[MAX_PARTS]; /* clip mode: one result per part */
    int cap[MAX_PARTS];
    int first;
    vl_status err;
    vl_feature_sink sink; /* streaming mode: the parts' vectors joined */
    void *user;
    float *tmp[MAX_PARTS], *cat;
    int tmp_cap, cat_cap;
    double *tt;
    int64_t *ti;
    double fps; /* sampling rate (0: every k-th frame) */
} clip_ctx;

static int grow(clip_ctx *c, int k, int need)
{
    if (need <= c->cap[k])
        return 0;
    int cap = c->cap[k] ? c->cap[k] : 256;
    while (cap < need)
        cap *= 2;
    vl_features *f = c->f[k];
    float *x = realloc(f->x, sizeof(float) * (size_t)cap * c->D[k]);
    if (x)
        f->x = x;
    double *t = realloc(f->time, sizeof(double) * (size_t)cap);
    if (t)
        f->time = t;
    int64_t *ix = realloc(f->index, sizeof(int64_t) * (size_t)cap);
    if (ix)
        f->index = ix;
    if (!x || !t || !ix)
        return -1;
    c->cap[k] = cap;
    return 0;
}

static int stream_room(clip_ctx *c, int ns)
{
    if (ns <= c->tmp_cap)
        return 0;
    int D = 0;
    for (int k = 0; k < c->n; k++) {
        float *t = realloc(c->tmp[k], sizeof(float) * (size_t)ns * c->D[k]);
        if (!t)
            return -1;
        c->tmp[k] = t;
        D += c->D[k];
    }
    float *cat = realloc(c->cat, sizeof(float) * (size_t)ns * D);
    double *tt = cat ? realloc(c->tt, sizeof(double) * (size_t)ns) : NULL;
    int64_t *ti = tt ? realloc(c->ti, sizeof(int64_t) * (size_t)ns) : NULL;
    if (cat)
        c->cat = cat;
    if (tt)
        c->tt = tt;
    if (ti)
        c->ti = ti;
    if (!ti)
        return -1;
    c->tmp_cap = ns;
    return 0;
}

/* One batch of frames through every part. Dense mode (b->steps, every
 * decoded frame): one vector per sampled step, step j of frame i at
 * time[i] + j / fps from source frame index[i]. */
static int on_frames(void *user, const vl_frame_batch *b)
{
    clip_ctx *c = user;
    int ns = 0;
    for (int i = 0; i < b->n; i++)
        ns += b->steps ? b->steps[i] : 1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double arrival = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    int T = c->sink ? 0 : c->f[0]->T;
    if (c->sink ? stream_room(c, ns) != 0 : 0) {
        c->err = vl_seterr(VL_ERR_NOMEM, "out of memory");
        return 1;
    }
    double *tt = c->tt;
    int64_t *ti = c->ti;
    for (int k = 0; k < c->n; k++) {
        float *out;
        if (c->sink) {
            out = c->tmp[k];
        } else {
            if (grow(c, k, T + ns)) {
                c->err = vl_seterr(VL_ERR_NOMEM, "out of memory for %d frames of features", T + ns);
                return 1;
            }
            out = c->f[k]->x + (size_t)T * c->D[k];
            tt = c->f[k]->time + T;
            ti = c->f[k]->index + T;
        }
        const float *px = b->nplanes > k ? b->planes[k] : b->pixels;
        double t0 = c->sink ? 0.0 : now_s();
        if ((c->err = b->steps ? vl_backbone_run_dense(c->bb[k], px, b->n, b->pts, b->steps, c->first, out)
                               : vl_backbone_run(c->bb[k], px, b->n, c->first, out)))
            return 1;
        if (!c->sink)
            prof_batch(t0, b->n, b->n);
        for (int i = 0, j0 = 0; i < b->n; i++)
            for (int j = 0; j < (b->steps ? b->steps[i] : 1); j++, j0++) {
                tt[j0] = b->steps && c->fps > 0 ? b->time[i] + j / c->fps : b->time[i];
                ti[j0] = b->index[i];
            }
        if (!c->sink)
            c->f[k]->T = T + ns;
    }
    c->first = 0;
    if (!c->sink || !ns)
        return 0;
    const float *x = c->tmp[0];
    if (c->n > 1) { /* fused: each step's vectors side by side, in the parts' order (which[]) */
        int D = 0, off[MAX_PARTS];
        for (int p = 0; p < c->n; p++)
            for (int k = 0; k < c->n; k++)
                if (c->which[k] == p) {
                    off[k] = D;
                    D += c->D[k];
                }
        for (int i = 0; i < ns; i++)
            for (int k = 0; k < c->n; k++)
                memcpy(c->cat + (size_t)i * D + off[k], c->tmp[k] + (size_t)i * c->D[k], sizeof(float) * c->D[k]);
        x = c->cat;
    }
    return c->sink(c->user, x, ns, tt, ti, arrival);
}

static void clip_ctx_free(clip_ctx *c)
{
    for (int k = 0; k < MAX_PARTS; k++)
        free(c->tmp[k]);
    free(c->cat);
    free(c->tt);
    free(c->ti);
}

/* Decodes the clip once for the parts which[0..n) (their backbones bb[]),
 * each into f[k]. */
static vl_status extract_parts(vl_extractor *x, vl_backbone **bb, const int *which, int n, const vl_clip *cl,
                               int dec_threads, vl_features *f)
{
    clip_ctx c = {.n = n, .first = 1, .fps = x->fps};
    const vl_preproc *pre[MAX_PARTS];
    int sampled_only[MAX_PARTS], dense = 0;
    for (int k = 0; k < n; k++) {
        const part *pt = &x->p[which[k]];
        c.which[k] = which[k];
        c.bb[k] = bb[which[k]];
        c.D[k] = pt->desc.feature_dim;
        c.f[k] = &f[k];
        f[k] = (vl_features){.D = pt->desc.feature_dim};
        pre[k] = &pt->desc.pre;
        sampled_only[k] = !pt->desc.dense;
        dense |= pt->desc.dense;
    }
    vl_sample_opts so = {.fps = x->fps, .every_k = x->every_k, .start = cl->start, .end = cl->end,
                         .all_frames = dense, .batch = x->batch, .threads = dec_threads};
    int64_t ns = 0;
    vl_status st = vl_video_stream_planes(cl->path, &so, pre, sampled_only, n, on_frames, &c, &ns);
    if (!st && c.err)
        st = c.err;
    if (!st && f[0].T == 0)
        st = vl_seterr(VL_ERR_FORMAT, "%s: no frames sampled from the clip", cl->path);
    if (st)
        for (int k = 0; k < n; k++)
            vl_features_free(&f[k]);
    return st;
}

/* ---- cache -------------------------------------------------------------------------- */

static uint64_t clip_key(const part *pt, const vl_clip *cl)
{
    uint64_t h = pt->key;
    h = fnv_str(h, cl->path);
    FNV_V(h, cl->start);
    FNV_V(h, cl->end);
    struct stat sb;
    if (stat(cl->path, &sb) == 0) {
        int64_t sz = sb.st_size, mt = sb.st_mtim.tv_sec, mn = sb.st_mtim.tv_nsec;
        FNV_V(h, sz);
        FNV_V(h, mt);
        FNV_V(h, mn);
    }
    return h;
}

/* Version 2 of the .frames file adds a checksum of the entry (features,
 * times, frame numbers): a cache entry that was damaged at the same size
 * (a flipped bit, a torn copy) must not be served. Version 1 entries have
 * none: they are recomputed and rewritten. */
#define FRAMES_MAGIC "VLFRM002"

/* 64-bit checksum, 8 bytes per step: each step ((h ^ w) * odd, then an
 * xorshift) is a bijection of h, so any change to one word changes the
 * result. About 2 GB/s against SHA-256's 140 MB/s here (BENCHMARKS.md):
 * the cache is read on every run, so this stays well under the npy read. */
static uint64_t sum64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (; n >= 8; n -= 8, b += 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, b, n);
    h = (h ^ w ^ ((uint64_t)n << 56)) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

static uint64_t entry_sum(int64_t T, int64_t D, const float *x, const double *time, const int64_t *index)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = sum64(h, &T, sizeof T);
    h = sum64(h, &D, sizeof D);
    h = sum64(h, x, sizeof(float) * (size_t)(T * D));
    h = sum64(h, time, sizeof(double) * (size_t)T);
    return sum64(h, index, sizeof(int64_t) * (size_t)T);
}

static void cache_note(const vl_extractor *x, const char *path, const char *why)
{
    if (!x->note)
        return;
    char m[4400];
    snprintf(m, sizeof m, "note: cached features %s %s: extracting them again", path, why);
    x->note(x->user, m);
}

static int cache_read(const vl_extractor *x, const part *pt, uint64_t key, vl_features *f)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%016llx.npy", x->cache, (unsigned long long)key);
    if (access(p, R_OK) != 0)
        return 0;
    vl_npy a;
    if (vl_npy_read(p, &a)) {
        cache_note(x, p, "cannot be read");
        return 0;
    }
    if (a.dtype != VL_NPY_F32 || a.ndim != 2 || a.shape[1] != pt->desc.feature_dim || a.shape[0] < 1) {
        vl_npy_free(&a);
        return 0;
    }
    int T = (int)a.shape[0];
    snprintf(p, sizeof p, "%s/%016llx.frames", x->cache, (unsigned long long)key);
    FILE *fp = fopen(p, "rb");
    char magic[8];
    int64_t t2 = -1;
    uint64_t sum = 0;
    double *time = malloc(sizeof(double) * (size_t)T);
    int64_t *index = malloc(sizeof(int64_t) * (size_t)T);
    int ok = fp && time && index && fread(magic, 1, 8, fp) == 8 && !memcmp(magic, FRAMES_MAGIC, 8) &&
             fread(&t2, sizeof t2, 1, fp) == 1 && t2 == T && fread(&sum, sizeof sum, 1, fp) == 1 &&
             fread(time, sizeof(double), (size_t)T, fp) == (size_t)T &&
             fread(index, sizeof(int64_t), (size_t)T, fp) == (size_t)T;
    if (fp)
        fclose(fp);
    if (ok && sum != entry_sum(T, pt->desc.feature_dim, a.data, time, index)) {
        snprintf(p, sizeof p, "%s/%016llx.{npy,frames}", x->cache, (unsigned long long)key);
        cache_note(x, p, "fail their checksum (damaged)");
        ok = 0;
    }
    if (!ok) {
        free(time);
        free(index);
        vl_npy_free(&a);
        return 0;
    }
    *f = (vl_features){.T = T, .D = pt->desc.feature_dim, .x = a.data, .time = time, .index = index, .cached = 1};
    return 1;
}

/* Best effort: a cache that cannot be written only costs time next run. */
static void cache_write(const vl_extractor *x, uint64_t key, const vl_features *f)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%016llx.frames", x->cache, (unsigned long long)key);
    /* no fsync: entries are checksummed, and a lost one costs only time */
    vl_atomic a;
    if (vl_atomic_open_ex(p, VL_ATOMIC_NO_SYNC, &a))
        return;
    FILE *fp = a.f;
    int64_t T = f->T;
    uint64_t sum = entry_sum(T, f->D, f->x, f->time, f->index);
    int ok = fwrite(FRAMES_MAGIC, 1, 8, fp) == 8 && fwrite(&T, sizeof T, 1, fp) == 1 &&
             fwrite(&sum, sizeof sum, 1, fp) == 1 && fwrite(f->time, sizeof(double), (size_t)T, fp) == (size_t)T &&
             fwrite(f->index, sizeof(int64_t), (size_t)T, fp) == (size_t)T;
    if (!ok) {
        vl_atomic_abort(&a);
        return;
    }
    if (vl_atomic_commit(&a))
        return;
    /* the .npy last: its presence marks a complete entry */
    snprintf(p, sizeof p, "%s/%016llx.npy", x->cache, (unsigned long long)key);
    int64_t shape[2] = {f->T, f->D};
    vl_npy_write_ex(p, VL_NPY_F32, 2, shape, f->x, VL_ATOMIC_NO_SYNC);
}

/* The parts' features pf[0..np) side by side into *f (pf[] is consumed). */
static vl_status join_parts(const vl_extractor *x, vl_features *pf, int cached, vl_features *f)
{
    vl_status st = VL_OK;
    if (x->np == 1) {
        *f = pf[0];
        f->cached = cached;
        pf[0] = (vl_features){0};
        return VL_OK;
    }
    int T = pf[0].T, D = x->desc.feature_dim;
    *f = (vl_features){.T = T, .D = D, .x = malloc(sizeof(float) * (size_t)T * D), .time = pf[0].time,
                       .index = pf[0].index, .cached = cached};
    pf[0].time = NULL;
    pf[0].index = NULL;
    if (!f->x)
        st = vl_seterr(VL_ERR_NOMEM, "out of memory for %d frames of features", T);
    for (int t = 0; !st && t < T; t++)
        for (int k = 0, o = 0; k < x->np; o += pf[k].D, k++)
            memcpy(f->x + (size_t)t * D + o, pf[k].x + (size_t)t * pf[k].D, sizeof(float) * (size_t)pf[k].D);
    if (st)
        vl_features_free(f);
    for (int k = 0; k < x->np; k++)
        vl_features_free(&pf[k]);
    return st;
}

/* Reads every part of a clip from the cache (key[] receives the keys): 1
 * when all were there and agree on their steps (pf[] then holds them), else
 * 0 with pf[] holding the parts found (*nmiss the count missing). */
static int cache_read_all(const vl_extractor *x, const vl_clip *cl, uint64_t *key, vl_features *pf, int *nmiss)
{
    *nmiss = 0;
    for (int k = 0; k < x->np; k++) {
        key[k] = x->cache ? clip_key(&x->p[k], cl) : 0;
        if (!(x->cache && cache_read(x, &x->p[k], key[k], &pf[k])))
            ++*nmiss;
    }
    if (*nmiss)
        return 0;
    for (int k = 1; k < x->np; k++)
        if (pf[k].T != pf[0].T || memcmp(pf[k].time, pf[0].time, sizeof(double) * (size_t)pf[0].T)) {
            for (int j = 0; j < x->np; j++)
                vl_features_free(&pf[j]);
            *nmiss = x->np;
            return 0;
        }
    return 1;
}

/* One clip: each part from the cache or, for the parts missing there, one
 * decoding pass (then cached); the parts joined into *f. bb[] are this
 * worker's backbones, opened when first needed. pf[] is scratch. */
static vl_status extract_clip(vl_extractor *x, vl_backbone **bb, const vl_clip *cl, int dec_threads,
                              vl_features *pf, vl_features *f)
{
    int miss[MAX_PARTS], nmiss = 0;
    uint64_t key[MAX_PARTS];
    vl_status st = VL_OK;
    for (int k = 0; k < x->np; k++) {
        key[k] = x->cache ? clip_key(&x->p[k], cl) : 0;
        if (!(x->cache && cache_read(x, &x->p[k], key[k], &pf[k])))
            miss[nmiss++] = k;
    }
    /* parts cached by runs with other partners must still agree on the steps */
    for (int k = 1; k < x->np && !nmiss; k++)
        if (pf[k].T != pf[0].T || memcmp(pf[k].time, pf[0].time, sizeof(double) * (size_t)pf[0].T)) {
            for (int j = 0; j < x->np; j++) {
                vl_features_free(&pf[j]);
                miss[j] = j;
            }
            nmiss = x->np;
        }
    if (nmiss) {
        /* a dense part first: plane 0 is prepared for every decoded frame */
        for (int k = 1; k < nmiss; k++)
            if (x->p[miss[k]].desc.dense && !x->p[miss[0]].desc.dense) {
                int t = miss[0];
                miss[0] = miss[k];
                miss[k] = t;
            }
        vl_features got[MAX_PARTS];
        for (int k = 0; k < nmiss && !st; k++)
            if (!bb[miss[k]])
                if (!(st = vl_backbone_open(x->p[miss[k]].spec, x->p[miss[k]].tap, &bb[miss[k]])) && x->has_norm &&
                    vl_backbone_takes_input_norm(bb[miss[k]]))
                    st = vl_backbone_set_input_norm(bb[miss[k]], &x->norm);
        for (int k = 0; k < nmiss && !st; k++)
            if (vl_backbone_takes_precision(bb[miss[k]]))
                st = set_prec(x, bb[miss[k]], x->prec, 0);
        if (!st)
            st = extract_parts(x, bb, miss, nmiss, cl, dec_threads, got);
        for (int k = 0; k < nmiss && !st; k++) {
            vl_features_free(&pf[miss[k]]);
            pf[miss[k]] = got[k];
            if (x->cache)
                cache_write(x, key[miss[k]], &got[k]);
        }
        if (!st && (pf[0].T != pf[miss[0]].T))
            st = vl_seterr(VL_ERR_FORMAT, "%s: cached features of one backbone have %d steps, new ones %d: clear the "
                                          "feature cache",
                           cl->path, pf[0].T, pf[miss[0]].T);
    }
    if (!st)
        st = join_parts(x, pf, !nmiss, f);
    for (int k = 0; k < x->np; k++)
        vl_features_free(&pf[k]);
    return st;
}

/* ---- parallel extraction ---------------------------------------------------------------- */

typedef struct {
    vl_extractor *x;
    const vl_clip *clips;
    int n, next, done, jobs;
    vl_features *out;
    int64_t frames;
    int ncached;
    vl_status err;
    char errmsg[1024];
    pthread_mutex_t mu;
    pthread_cond_t cv;
} job_ctx;

/* Clip i is finished: its features (*f, taken) or its error (st, msg). */
static void job_record(job_ctx *j, int i, vl_status st, const char *msg, vl_features *f)
{
    pthread_mutex_lock(&j->mu);
    if (st) {
        if (!j->err) {
            j->err = st;
            snprintf(j->errmsg, sizeof j->errmsg, "%s", msg);
        }
        vl_features_free(f);
    } else {
        j->out[i] = *f;
        j->frames += f->T;
        j->ncached += f->cached;
        *f = (vl_features){0};
    }
    j->done++;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* The next clip to extract, or -1 when none is left (or one failed). */
static int job_take(job_ctx *j)
{
    pthread_mutex_lock(&j->mu);
    int i = (j->err || j->next >= j->n) ? -1 : j->next++;
    pthread_mutex_unlock(&j->mu);
    return i;
}

/* Stateless backbones (every part an ONNX model reading sampled frames
 * only): a feeder thread runs through the clips, decoding each (FFmpeg's
 * own decoding thread beneath it) and packing the sampled frames into
 * batches of `batch` that span clip boundaries, while this worker runs the
 * backbones on the previous batch and scatters the features back to their
 * clips. So the backbone sees one batch size (the last batch aside) and
 * plans once, and the next clip's opening and decoding overlap the
 * inference of the previous one's frames. Clips found in the cache, and
 * clips with only some parts cached (fused backbones), pass through the
 * same queue as events, in order. */
enum { EV_END, EV_CACHED, EV_PARTIAL };

typedef struct {
    int clip, kind;
    vl_status st;              /* EV_END: the decoding's status */
    char *msg;                 /* ... and its message */
    vl_features pf[MAX_PARTS]; /* EV_CACHED: the parts */
} xevent;

typedef struct {
    float *px[MAX_PARTS]; /* [batch, frame size of part k] */
    int *clip;            /* [batch] the clip each frame is from */
    double *time;
    int64_t *index;
    int n;
    xevent *ev; /* clips that ended (or were found cached) after these frames, in order */
    int nev, evcap;
    int full, last;
} xbatch;

typedef struct {
    vl_features f[MAX_PARTS];
    int cap[MAX_PARTS];
} xclip;

typedef struct {
    job_ctx *j;
    int B, dec_threads;
    int64_t fs[MAX_PARTS];
    xbatch b[2];
    int fill;     /* the batch being filled */
    int feeders;  /* feeder threads still running */
    int abort;    /* the worker gave up (its backbone failed): stop decoding */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} xqueue;

typedef struct {
    xqueue *q;
    int cur; /* the clip this feeder decodes */
} xfeeder;

/* The batch being filled, once the worker has emptied it (lock held). */
static xbatch *xq_fillable(xqueue *q)
{
    while (q->b[q->fill].full)
        pthread_cond_wait(&q->cv, &q->mu);
    return &q->b[q->fill];
}

/* Hands the filled batch to the worker (lock held). */
static void xq_hand_over(xqueue *q, int last)
{
    q->b[q->fill].full = 1;
    q->b[q->fill].last = last;
    pthread_cond_broadcast(&q->cv);
    q->fill ^= 1;
}

static int feed_frames(void *user, const vl_frame_batch *b)
{
    xfeeder *fd = user;
    xqueue *q = fd->q;
    pthread_mutex_lock(&q->mu);
    for (int i = 0; i < b->n && !q->abort; i++) {
        xbatch *xb = xq_fillable(q);
        for (int k = 0; k < b->nplanes; k++)
            memcpy(xb->px[k] + (size_t)xb->n * q->fs[k], b->planes[k] + (size_t)i * q->fs[k],
                   sizeof(float) * (size_t)q->fs[k]);
        xb->clip[xb->n] = fd->cur;
        xb->time[xb->n] = b->time[i];
        xb->index[xb->n] = b->index[i];
        if (++xb->n == q->B)
            xq_hand_over(q, 0);
    }
    int a = q->abort;
    pthread_mutex_unlock(&q->mu);
    return a;
}

/* Appends an event to the batch being filled (after every frame of its clip);
 * when there is no room for it, the clip is recorded as failed here. */
static void xq_event(xqueue *q, xevent *ev)
{
    pthread_mutex_lock(&q->mu);
    xbatch *xb = xq_fillable(q);
    int ok = 1;
    if (xb->nev == xb->evcap) {
        int cap = xb->evcap ? 2 * xb->evcap : 16;
        xevent *e = realloc(xb->ev, sizeof *e * (size_t)cap);
        if (e) {
            xb->ev = e;
            xb->evcap = cap;
        } else {
            ok = 0;
        }
    }
    if (ok)
        xb->ev[xb->nev++] = *ev;
    pthread_mutex_unlock(&q->mu);
    if (!ok) {
        for (int k = 0; k < MAX_PARTS; k++)
            vl_features_free(&ev->pf[k]);
        free(ev->msg);
        vl_features none = {0};
        job_record(q->j, ev->clip, VL_ERR_NOMEM, "out of memory", &none);
    }
}

static int xq_abort(xqueue *q)
{
    pthread_mutex_lock(&q->mu);
    int a = q->abort;
    pthread_mutex_unlock(&q->mu);
    return a;
}

static void *feeder(void *arg)
{
    xfeeder *fd = arg;
    xqueue *q = fd->q;
    job_ctx *j = q->j;
    vl_extractor *x = j->x;
    const vl_preproc *pre[MAX_PARTS];
    for (int k = 0; k < x->np; k++)
        pre[k] = &x->p[k].desc.pre;
    for (;;) {
        int i = xq_abort(q) ? -1 : job_take(j);
        if (i < 0)
            break;
        const vl_clip *cl = &j->clips[i];
        xevent ev = {.clip = i, .kind = EV_END};
        uint64_t key[MAX_PARTS];
        int nmiss;
        if (cache_read_all(x, cl, key, ev.pf, &nmiss)) {
            ev.kind = EV_CACHED;
        } else if (nmiss < x->np) { /* some parts cached: the worker extracts the rest (extract_clip) */
            ev.kind = EV_PARTIAL;
            for (int k = 0; k < x->np; k++)
                vl_features_free(&ev.pf[k]);
        } else {
            fd->cur = i;
            vl_sample_opts so = {.fps = x->fps, .every_k = x->every_k, .start = cl->start, .end = cl->end,
                                 .batch = q->B, .threads = q->dec_threads};
            int64_t ns = 0;
            ev.st = vl_video_stream_planes(cl->path, &so, pre, NULL, x->np, feed_frames, fd, &ns);
            if (ev.st)
                ev.msg = vl_strdup(vl_errmsg());
        }
        xq_event(q, &ev);
    }
    pthread_mutex_lock(&q->mu);
    if (--q->feeders == 0) { /* the last one out hands over what is left */
        xq_fillable(q);
        xq_hand_over(q, 1);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* The worker's side of a finished clip: checks, caches and records it. */
static void xclip_finish(job_ctx *j, xclip **cs, const xevent *ev, vl_status failed, const char *failmsg)
{
    vl_extractor *x = j->x;
    xclip *c = cs[ev->clip];
    cs[ev->clip] = NULL;
    vl_features pf[MAX_PARTS] = {{0}}, f = {0};
    for (int k = 0; c && k < x->np; k++)
        pf[k] = c->f[k];
    free(c);
    const vl_clip *cl = &j->clips[ev->clip];
    vl_status st = failed ? failed : ev->st;
    const char *msg = failed ? failmsg : ev->msg;
    if (!st && pf[0].T == 0) {
        st = vl_seterr(VL_ERR_FORMAT, "%s: no frames sampled from the clip", cl->path);
        msg = vl_errmsg();
    }
    if (!st) {
        for (int k = 0; x->cache && k < x->np; k++)
            cache_write(x, clip_key(&x->p[k], cl), &pf[k]);
        if ((st = join_parts(x, pf, 0, &f)))
            msg = vl_errmsg();
    }
    for (int k = 0; k < x->np; k++)
        vl_features_free(&pf[k]);
    job_record(j, ev->clip, st, msg ? msg : "", &f);
}

/* Appends the batch's features (out[k]: [n, D_k]) to their clips. */
static vl_status xscatter(job_ctx *j, xclip **cs, const xbatch *xb, float *const *out)
{
    vl_extractor *x = j->x;
    for (int i = 0; i < xb->n; i++) {
        int ci = xb->clip[i];
        if (!cs[ci] && !(cs[ci] = calloc(1, sizeof(xclip))))
            return vl_seterr(VL_ERR_NOMEM, "out of memory");
        xclip *c = cs[ci];
        for (int k = 0; k < x->np; k++) {
            vl_features *f = &c->f[k];
            int D = x->p[k].desc.feature_dim;
            if (f->T == c->cap[k]) {
                int cap = c->cap[k] ? 2 * c->cap[k] : 64;
                float *nx = realloc(f->x, sizeof(float) * (size_t)cap * D);
                if (nx)
                    f->x = nx;
                double *nt = realloc(f->time, sizeof(double) * (size_t)cap);
                if (nt)
                    f->time = nt;
                int64_t *ni = realloc(f->index, sizeof(int64_t) * (size_t)cap);
                if (ni)
                    f->index = ni;
                if (!nx || !nt || !ni)
                    return vl_seterr(VL_ERR_NOMEM, "out of memory for %d frames of features", cap);
                c->cap[k] = cap;
            }
            f->D = D;
            memcpy(f->x + (size_t)f->T * D, out[k] + (size_t)i * D, sizeof(float) * (size_t)D);
            f->time[f->T] = xb->time[i];
            f->index[f->T] = xb->index[i];
            f->T++;
        }
    }
    return VL_OK;
}

static vl_status xqueue_init(xqueue *q, job_ctx *j)
{
    vl_extractor *x = j->x;
    q->j = j;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->B = x->batch;
    for (int k = 0; k < x->np; k++)
        q->fs[k] = vl_preproc_frame_size(&x->p[k].desc.pre);
    for (int s = 0; s < 2; s++) {
        xbatch *xb = &q->b[s];
        for (int k = 0; k < x->np; k++)
            if (!(xb->px[k] = vl_alloc(sizeof(float) * (size_t)q->fs[k] * q->B)))
                return VL_ERR_NOMEM;
        xb->clip = malloc(sizeof(int) * q->B);
        xb->time = malloc(sizeof(double) * q->B);
        xb->index = malloc(sizeof(int64_t) * q->B);
        if (!xb->clip || !xb->time || !xb->index)
            return VL_ERR_NOMEM;
    }
    return VL_OK;
}

static void xqueue_free(xqueue *q)
{
    for (int s = 0; s < 2; s++) {
        xbatch *xb = &q->b[s];
        for (int k = 0; k < MAX_PARTS; k++)
            vl_free(xb->px[k]);
        free(xb->clip);
        free(xb->time);
        free(xb->index);
        free(xb->ev);
    }
    if (q->j) {
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
    }
}

/* A worker of the cross-clip kind: returns 0, or -1 when it could not start
 * (the caller then runs the clip-by-clip worker). */
static int cross_worker(job_ctx *j, vl_backbone **bb)
{
    vl_extractor *x = j->x;
    xqueue q = {0};
    float *out[MAX_PARTS] = {0};
    xclip **cs = calloc((size_t)j->n, sizeof *cs);
    int ok = cs && xqueue_init(&q, j) == VL_OK;
    for (int k = 0; ok && k < x->np; k++)
        ok = (out[k] = malloc(sizeof(float) * (size_t)q.B * x->p[k].desc.feature_dim)) != NULL;
    /* --jobs feeders decode clips side by side into the one queue */
    int nf = x->jobs < j->n ? x->jobs : j->n;
    if (nf > 16)
        nf = 16;
    pthread_t th[16];
    xfeeder fd[16];
    q.dec_threads = nf > 1 ? 1 : 0;
    q.feeders = nf;
    int started = 0;
    for (int f = 0; ok && f < nf; f++) {
        fd[f] = (xfeeder){.q = &q, .cur = -1};
        if (pthread_create(&th[f], NULL, feeder, &fd[f]) == 0)
            started++;
    }
    if (ok && started < nf) { /* fewer threads than asked: the others are not coming */
        pthread_mutex_lock(&q.mu);
        q.feeders -= nf - started;
        if (started == 0)
            ok = 0;
        pthread_mutex_unlock(&q.mu);
    }
    if (!ok) {
        xqueue_free(&q);
        for (int k = 0; k < MAX_PARTS; k++)
            free(out[k]);
        free(cs);
        return -1;
    }
    vl_status failed = VL_OK; /* a backbone failed: every clip still open fails with it */
    int ran_full = bb[0] && vl_backbone_last_batch(bb[0]) == q.B; /* the backbones are planned for q.B frames */
    char failmsg[1024] = "";
    for (int take = 0;; take ^= 1) {
        xbatch *xb = &q.b[take];
        pthread_mutex_lock(&q.mu);
        while (!xb->full)
            pthread_cond_wait(&q.cv, &q.mu);
        pthread_mutex_unlock(&q.mu);
        /* A short batch (the last) after full ones is padded with blank
         * frames to the full size: the backbone is planned for that size,
         * and planning for another (oneDNN primitives, weight reorders)
         * costs more than computing up to batch - 1 frames more. */
        int nrun = xb->n > 0 && xb->n < q.B && ran_full ? q.B : xb->n;
        for (int k = 0; k < x->np && nrun > xb->n; k++)
            memset(xb->px[k] + (size_t)xb->n * q.fs[k], 0, sizeof(float) * (size_t)(nrun - xb->n) * q.fs[k]);
        for (int k = 0; k < x->np && xb->n > 0 && !failed; k++) {
            if (!bb[k] && !(failed = vl_backbone_open(x->p[k].spec, x->p[k].tap, &bb[k]))) {
                if (x->has_norm && vl_backbone_takes_input_norm(bb[k]))
                    failed = vl_backbone_set_input_norm(bb[k], &x->norm);
                if (!failed && vl_backbone_takes_precision(bb[k]))
                    failed = set_prec(x, bb[k], x->prec, 0);
            }
            double t0 = now_s();
            if (!failed)
                failed = vl_backbone_run(bb[k], xb->px[k], nrun, 1, out[k]);
            if (!failed)
                prof_batch(t0, xb->n, nrun);
        }
        ran_full |= xb->n == q.B;
        if (!failed && xb->n > 0)
            failed = xscatter(j, cs, xb, out);
        if (failed && !failmsg[0]) {
            snprintf(failmsg, sizeof failmsg, "%s", vl_errmsg());
            pthread_mutex_lock(&q.mu);
            q.abort = 1;
            pthread_mutex_unlock(&q.mu);
        }
        for (int e = 0; e < xb->nev; e++) {
            xevent *ev = &xb->ev[e];
            if (ev->kind == EV_END) {
                xclip_finish(j, cs, ev, failed, failmsg);
                free(ev->msg);
            } else if (ev->kind == EV_CACHED) {
                vl_features f = {0};
                vl_status st = join_parts(x, ev->pf, 1, &f);
                job_record(j, ev->clip, st, vl_errmsg(), &f);
            } else {
                vl_features f = {0}, pf[MAX_PARTS] = {{0}};
                vl_status st = failed ? failed
                                      : extract_clip(x, bb, &j->clips[ev->clip], q.dec_threads, pf, &f);
                job_record(j, ev->clip, st, failed ? failmsg : vl_errmsg(), &f);
            }
        }
        int last = xb->last;
        pthread_mutex_lock(&q.mu);
        xb->full = 0;
        xb->n = xb->nev = 0;
        pthread_cond_broadcast(&q.cv);
        pthread_mutex_unlock(&q.mu);
        if (last)
            break;
    }
    for (int f = 0; f < started; f++)
        pthread_join(th[f], NULL);
    for (int i = 0; i < j->n; i++) /* clips left open by a failure */
        if (cs[i]) {
            for (int k = 0; k < MAX_PARTS; k++)
                vl_features_free(&cs[i]->f[k]);
            free(cs[i]);
        }
    free(cs);
    for (int k = 0; k < MAX_PARTS; k++)
        free(out[k]);
    xqueue_free(&q);
    return 0;
}

static void *worker(void *arg)
{
    job_ctx *j = arg;
    vl_extractor *x = j->x;
    vl_backbone *bb[MAX_PARTS] = {0};
    double t_start = now_s();
#ifdef _OPENMP
    if (j->jobs > 1)
        omp_set_num_threads(1); /* this thread's regions only: the workers share the cores */
    else
        vl_threads_apply(); /* the caller's vl_set_threads (--threads) */
    tprof.threads = omp_get_max_threads();
#else
    tprof.threads = 1;
#endif
    /* one worker: the extractor's own backbones (no second copy of the model) */
    int shared = j->jobs == 1 && x->cross;
    if (shared)
        for (int k = 0; k < x->np; k++)
            bb[k] = x->bb[k];
    if (!(x->cross && cross_worker(j, bb) == 0))
        for (int i; (i = job_take(j)) >= 0;) {
            const vl_clip *cl = &j->clips[i];
            vl_features f = {0}, pf[MAX_PARTS] = {{0}};
            vl_status st = extract_clip(x, bb, cl, j->jobs > 1 ? 1 : 0, pf, &f);
            job_record(j, i, st, st ? vl_errmsg() : "", &f);
        }
    for (int k = 0; k < MAX_PARTS && !shared; k++)
        vl_backbone_close(bb[k]);
    prof_flush(t_start);
    return NULL;
}

vl_status vl_extract_clips(vl_extractor *x, const vl_clip *clips, int n, vl_features *out)
{
    memset(out, 0, sizeof *out * (size_t)n);
    if (check_released(x))
        return VL_ERR_ARG;
    job_ctx j = {.x = x, .clips = clips, .n = n, .out = out};
    /* cross-clip batches: one worker runs the backbone on every core while
     * x->jobs feeder threads decode clips side by side (one model in memory) */
    j.jobs = x->cross ? 1 : x->jobs < n ? x->jobs : n;
    if (j.jobs < 1)
        return VL_OK;
    int prof = vl_profile_enabled();
    vl_video_profile v0 = {0};
    if (prof)
        vl_video_profile_get(&v0);
    double t_start = now_s(), c_start = prof ? cpu_s() : 0.0;
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    pthread_t th[64];
    if (j.jobs > 64)
        j.jobs = 64;
    int started = 0;
    for (int k = 0; k < j.jobs; k++)
        if (pthread_create(&th[k], NULL, worker, &j) == 0)
            started++;
    if (!started) {
        pthread_mutex_destroy(&j.mu);
        pthread_cond_destroy(&j.cv);
        return vl_seterr(VL_ERR_NOMEM, "cannot start extraction threads");
    }
    /* Report progress here (the caller's thread) until every clip is done,
     * or, after an error, every clip already taken. */
    int reported = 0;
    pthread_mutex_lock(&j.mu);
    for (;;) {
        if (j.done > reported) {
            reported = j.done;
            int64_t fr = j.frames;
            int nc = j.ncached;
            if (x->progress && !j.err) {
                pthread_mutex_unlock(&j.mu);
                x->progress(x->user, reported, n, fr, nc);
                pthread_mutex_lock(&j.mu);
            }
        }
        if (j.done == n || (j.err && j.done == j.next))
            break;
        if (j.done == reported)
            pthread_cond_wait(&j.cv, &j.mu);
    }
    pthread_mutex_unlock(&j.mu);
    for (int k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    pthread_mutex_destroy(&j.mu);
    pthread_cond_destroy(&j.cv);
    if (prof)
        prof_report(x, n, now_s() - t_start, cpu_s() - c_start, &v0);
    if (j.err)
        return vl_seterr(j.err, "%s", j.errmsg);
    return VL_OK;
}

vl_status vl_extract_stream(vl_extractor *x, const char *path, vl_feature_sink sink, void *user)
{
    if (check_released(x))
        return VL_ERR_ARG;
    clip_ctx c = {.n = x->np, .first = 1, .sink = sink, .user = user, .fps = x->fps};
    const vl_preproc *pre[MAX_PARTS];
    int sampled_only[MAX_PARTS], order[MAX_PARTS];
    for (int k = 0; k < x->np; k++)
        order[k] = k;
    for (int k = 1; k < x->np; k++) /* a dense part first, as in extract_clip */
        if (x->p[k].desc.dense && !x->p[order[0]].desc.dense) {
            order[k] = order[0];
            order[0] = k;
        }
    for (int i = 0; i < x->np; i++) {
        int k = order[i];
        c.which[i] = k;
        c.bb[i] = x->bb[k];
        c.D[i] = x->p[k].desc.feature_dim;
        pre[i] = &x->p[k].desc.pre;
        sampled_only[i] = !x->p[k].desc.dense;
    }
    vl_sample_opts so = {.fps = x->fps, .every_k = x->every_k, .batch = 1, .all_frames = x->desc.dense};
    int64_t n = 0;
    vl_status st = vl_video_stream_planes(path, &so, pre, sampled_only, x->np, on_frames, &c, &n);
    if (!st && c.err)
        st = c.err;
    clip_ctx_free(&c);
    return st;
}
