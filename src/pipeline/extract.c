/* Feature extraction with a cache and parallel workers (see extract.h). */
#include "pipeline/extract.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backbone/builtin.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/csv.h"
#include "core/error.h"

struct vl_extractor {
    char *backbone, *tap, *cache;
    double fps;
    int every_k, jobs, batch;
    vl_backbone *bb; /* for describe and single-job work */
    vl_backbone_desc desc;
    uint64_t bb_key; /* hash of everything about the backbone */
    void (*progress)(void *, int, int, int64_t, int);
    void *user;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
static uint64_t fnv_str(uint64_t h, const char *s) { return fnv(h, s ? s : "", s ? strlen(s) + 1 : 1); }
#define FNV_V(h, v) ((h) = fnv((h), &(v), sizeof(v)))

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

vl_status vl_extractor_open(const vl_extract_opts *o, vl_extractor **out)
{
    *out = NULL;
    vl_extractor *x = calloc(1, sizeof *x);
    if (!x)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    const char *spec = o->backbone ? o->backbone : "builtin:motion";
    /* an ONNX file by its absolute path: models record it and must find it
     * from wherever they are used later */
    char *abs = strncmp(spec, "builtin:", 8) && access(spec, R_OK) == 0 ? realpath(spec, NULL) : NULL;
    x->backbone = vl_strdup(abs ? abs : spec);
    free(abs);
    x->tap = vl_strdup(o->tap);
    x->cache = vl_strdup(o->cache);
    x->every_k = o->every_k > 0 ? o->every_k : 0;
    x->fps = o->fps > 0 ? o->fps : (x->every_k ? 0.0 : 10.0);
    x->batch = o->batch > 0 ? o->batch : 16;
    x->progress = o->progress;
    x->user = o->user;
    vl_status st = vl_backbone_open(x->backbone, x->tap, &x->bb);
    if (st) {
        vl_extractor_close(x);
        return st;
    }
    x->desc = *vl_backbone_describe(x->bb);
    int builtin = strncmp(x->desc.name, "builtin:", 8) == 0;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    /* Built-in descriptors are cheap, so decoding dominates: one clip per
     * core. A CNN already uses every core (oneDNN threads) and its decoder
     * runs ahead on its own thread: one clip at a time. */
    x->jobs = o->jobs > 0 ? o->jobs : (builtin ? (int)(ncpu > 0 ? ncpu : 1) : 1);
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv_str(h, "vidlstm-features-v1");
    h = fnv_str(h, x->desc.name);
    h = fnv_str(h, x->desc.tap);
    if (builtin)
        h = fnv_str(h, VL_BUILTIN_REVISION);
    FNV_V(h, x->desc.feature_dim);
    const vl_preproc *p = &x->desc.pre;
    FNV_V(h, p->width);
    FNV_V(h, p->height);
    FNV_V(h, p->resize);
    FNV_V(h, p->resize_to);
    FNV_V(h, p->bgr);
    FNV_V(h, p->scale);
    h = fnv(h, p->mean, sizeof p->mean);
    h = fnv(h, p->std, sizeof p->std);
    FNV_V(h, p->nhwc);
    FNV_V(h, p->grey);
    if (!builtin) { /* the model file's identity: a re-exported model invalidates the cache */
        struct stat sb;
        if (stat(x->desc.name, &sb) == 0) {
            int64_t sz = sb.st_size, mt = sb.st_mtim.tv_sec, mn = sb.st_mtim.tv_nsec;
            FNV_V(h, sz);
            FNV_V(h, mt);
            FNV_V(h, mn);
        }
    }
    FNV_V(h, x->fps);
    FNV_V(h, x->every_k);
    x->bb_key = h;
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
    vl_backbone_close(x->bb);
    free(x->backbone);
    free(x->tap);
    free(x->cache);
    free(x);
}

const vl_backbone_desc *vl_extractor_backbone(const vl_extractor *x) { return &x->desc; }

void vl_extractor_sampling(const vl_extractor *x, double *fps, int *every_k)
{
    *fps = x->fps;
    *every_k = x->every_k;
}

/* ---- one clip -------------------------------------------------------------------- */

typedef struct {
    vl_backbone *bb;
    int D, first;
    vl_features *f;
    int cap;
    vl_status err;
    vl_feature_sink sink; /* streaming mode */
    void *user;
    float *tmp;
    int tmp_cap;
    double fps; /* sampling rate (0: every k-th frame) */
} clip_ctx;

static int grow(clip_ctx *c, int need)
{
    if (need <= c->cap)
        return 0;
    int cap = c->cap ? c->cap : 256;
    while (cap < need)
        cap *= 2;
    float *x = realloc(c->f->x, sizeof(float) * (size_t)cap * c->D);
    if (x)
        c->f->x = x;
    double *t = realloc(c->f->time, sizeof(double) * (size_t)cap);
    if (t)
        c->f->time = t;
    int64_t *ix = realloc(c->f->index, sizeof(int64_t) * (size_t)cap);
    if (ix)
        c->f->index = ix;
    if (!x || !t || !ix)
        return -1;
    c->cap = cap;
    return 0;
}

/* Every decoded frame (dense backbones): one vector per sampled step, step j
 * of frame i at time[i] + j / fps from source frame index[i]. */
static int on_all_frames(clip_ctx *c, const vl_frame_batch *b)
{
    int ns = 0;
    for (int i = 0; i < b->n; i++)
        ns += b->steps[i];
    double *tt = NULL;
    int64_t *ti = NULL;
    float *out;
    int T = c->f ? c->f->T : 0;
    if (c->sink) {
        if (ns > c->tmp_cap) {
            float *t = realloc(c->tmp, sizeof(float) * (size_t)ns * c->D);
            if (!t) {
                c->err = vl_seterr(VL_ERR_NOMEM, "out of memory");
                return 1;
            }
            c->tmp = t;
            c->tmp_cap = ns;
        }
        out = c->tmp;
        tt = malloc(sizeof(double) * (size_t)(ns ? ns : 1));
        ti = malloc(sizeof(int64_t) * (size_t)(ns ? ns : 1));
        if (!tt || !ti) {
            free(tt);
            free(ti);
            c->err = vl_seterr(VL_ERR_NOMEM, "out of memory");
            return 1;
        }
    } else {
        if (grow(c, T + ns)) {
            c->err = vl_seterr(VL_ERR_NOMEM, "out of memory for %d frames of features", T + ns);
            return 1;
        }
        out = c->f->x + (size_t)T * c->D;
        tt = c->f->time + T;
        ti = c->f->index + T;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double arrival = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    if ((c->err = vl_backbone_run_dense(c->bb, b->pixels, b->n, b->pts, b->steps, c->first, out))) {
        if (c->sink) {
            free(tt);
            free(ti);
        }
        return 1;
    }
    c->first = 0;
    for (int i = 0, k = 0; i < b->n; i++)
        for (int j = 0; j < b->steps[i]; j++, k++) {
            tt[k] = c->fps > 0 ? b->time[i] + j / c->fps : b->time[i];
            ti[k] = b->index[i];
        }
    if (c->sink) {
        int r = ns ? c->sink(c->user, c->tmp, ns, tt, ti, arrival) : 0;
        free(tt);
        free(ti);
        return r;
    }
    c->f->T = T + ns;
    return 0;
}

static int on_frames(void *user, const vl_frame_batch *b)
{
    clip_ctx *c = user;
    if (b->steps)
        return on_all_frames(c, b);
    if (c->sink) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double arrival = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
        if (b->n > c->tmp_cap) {
            float *t = realloc(c->tmp, sizeof(float) * (size_t)b->n * c->D);
            if (!t) {
                c->err = vl_seterr(VL_ERR_NOMEM, "out of memory");
                return 1;
            }
            c->tmp = t;
            c->tmp_cap = b->n;
        }
        if ((c->err = vl_backbone_run(c->bb, b->pixels, b->n, c->first, c->tmp)))
            return 1;
        c->first = 0;
        return c->sink(c->user, c->tmp, b->n, b->time, b->index, arrival);
    }
    int T = c->f->T;
    if (grow(c, T + b->n)) {
        c->err = vl_seterr(VL_ERR_NOMEM, "out of memory for %d frames of features", T + b->n);
        return 1;
    }
    if ((c->err = vl_backbone_run(c->bb, b->pixels, b->n, c->first, c->f->x + (size_t)T * c->D)))
        return 1;
    c->first = 0;
    memcpy(c->f->time + T, b->time, sizeof(double) * (size_t)b->n);
    memcpy(c->f->index + T, b->index, sizeof(int64_t) * (size_t)b->n);
    c->f->T = T + b->n;
    return 0;
}

static vl_status extract_one(vl_extractor *x, vl_backbone *bb, const vl_clip *cl, int dec_threads, vl_features *f)
{
    *f = (vl_features){.D = x->desc.feature_dim};
    clip_ctx c = {.bb = bb, .D = x->desc.feature_dim, .first = 1, .f = f, .fps = x->fps};
    vl_sample_opts so = {.fps = x->fps, .every_k = x->every_k, .start = cl->start, .end = cl->end,
                         .all_frames = x->desc.dense,
                         .batch = x->batch, .threads = dec_threads};
    int64_t n = 0;
    vl_status st = vl_video_stream(cl->path, &so, &x->desc.pre, on_frames, &c, &n);
    if (!st && c.err)
        st = c.err;
    if (!st && f->T == 0)
        st = vl_seterr(VL_ERR_FORMAT, "%s: no frames sampled from the clip", cl->path);
    if (st)
        vl_features_free(f);
    return st;
}

/* ---- cache -------------------------------------------------------------------------- */

static uint64_t clip_key(const vl_extractor *x, const vl_clip *cl)
{
    uint64_t h = x->bb_key;
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

#define FRAMES_MAGIC "VLFRM001"

static int cache_read(const vl_extractor *x, uint64_t key, vl_features *f)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%016llx.npy", x->cache, (unsigned long long)key);
    if (access(p, R_OK) != 0)
        return 0;
    vl_npy a;
    if (vl_npy_read(p, &a))
        return 0;
    if (a.dtype != VL_NPY_F32 || a.ndim != 2 || a.shape[1] != x->desc.feature_dim || a.shape[0] < 1) {
        vl_npy_free(&a);
        return 0;
    }
    int T = (int)a.shape[0];
    snprintf(p, sizeof p, "%s/%016llx.frames", x->cache, (unsigned long long)key);
    FILE *fp = fopen(p, "rb");
    char magic[8];
    int64_t t2 = -1;
    double *time = malloc(sizeof(double) * (size_t)T);
    int64_t *index = malloc(sizeof(int64_t) * (size_t)T);
    int ok = fp && time && index && fread(magic, 1, 8, fp) == 8 && !memcmp(magic, FRAMES_MAGIC, 8) &&
             fread(&t2, sizeof t2, 1, fp) == 1 && t2 == T && fread(time, sizeof(double), (size_t)T, fp) == (size_t)T &&
             fread(index, sizeof(int64_t), (size_t)T, fp) == (size_t)T;
    if (fp)
        fclose(fp);
    if (!ok) {
        free(time);
        free(index);
        vl_npy_free(&a);
        return 0;
    }
    *f = (vl_features){.T = T, .D = x->desc.feature_dim, .x = a.data, .time = time, .index = index, .cached = 1};
    return 1;
}

/* Best effort: a cache that cannot be written only costs time next run. */
static void cache_write(const vl_extractor *x, uint64_t key, const vl_features *f)
{
    char p[4200], tmp[4300];
    snprintf(p, sizeof p, "%s/%016llx.frames", x->cache, (unsigned long long)key);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%lu", p, (long)getpid(), (unsigned long)pthread_self());
    FILE *fp = fopen(tmp, "wb");
    if (!fp)
        return;
    int64_t T = f->T;
    int ok = fwrite(FRAMES_MAGIC, 1, 8, fp) == 8 && fwrite(&T, sizeof T, 1, fp) == 1 &&
             fwrite(f->time, sizeof(double), (size_t)T, fp) == (size_t)T &&
             fwrite(f->index, sizeof(int64_t), (size_t)T, fp) == (size_t)T;
    if (fclose(fp) != 0 || !ok || rename(tmp, p) != 0) {
        unlink(tmp);
        return;
    }
    /* the .npy last: its presence marks a complete entry */
    snprintf(p, sizeof p, "%s/%016llx.npy", x->cache, (unsigned long long)key);
    int64_t shape[2] = {f->T, f->D};
    vl_npy_write(p, VL_NPY_F32, 2, shape, f->x);
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

static void *worker(void *arg)
{
    job_ctx *j = arg;
    vl_extractor *x = j->x;
    vl_backbone *bb = NULL;
#ifdef _OPENMP
    if (j->jobs > 1)
        omp_set_num_threads(1); /* this thread's regions only: the workers share the cores */
#endif
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int i = (j->err || j->next >= j->n) ? j->n : j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n)
            break;
        const vl_clip *cl = &j->clips[i];
        uint64_t key = x->cache ? clip_key(x, cl) : 0;
        vl_features f;
        vl_status st = VL_OK;
        int hit = x->cache && cache_read(x, key, &f);
        if (!hit) {
            if (!bb)
                st = vl_backbone_open(x->backbone, x->tap, &bb);
            if (!st)
                st = extract_one(x, bb, cl, j->jobs > 1 ? 1 : 0, &f);
            if (!st && x->cache)
                cache_write(x, key, &f);
        }
        pthread_mutex_lock(&j->mu);
        if (st) {
            if (!j->err) {
                j->err = st;
                snprintf(j->errmsg, sizeof j->errmsg, "%s", vl_errmsg());
            }
        } else {
            j->out[i] = f;
            j->frames += f.T;
            j->ncached += hit;
        }
        j->done++;
        pthread_cond_signal(&j->cv);
        pthread_mutex_unlock(&j->mu);
    }
    vl_backbone_close(bb);
    return NULL;
}

vl_status vl_extract_clips(vl_extractor *x, const vl_clip *clips, int n, vl_features *out)
{
    memset(out, 0, sizeof *out * (size_t)n);
    job_ctx j = {.x = x, .clips = clips, .n = n, .out = out};
    j.jobs = x->jobs < n ? x->jobs : n;
    if (j.jobs < 1)
        return VL_OK;
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
    if (j.err)
        return vl_seterr(j.err, "%s", j.errmsg);
    return VL_OK;
}

vl_status vl_extract_stream(vl_extractor *x, const char *path, vl_feature_sink sink, void *user)
{
    clip_ctx c = {.bb = x->bb, .D = x->desc.feature_dim, .first = 1, .sink = sink, .user = user, .fps = x->fps};
    vl_sample_opts so = {.fps = x->fps, .every_k = x->every_k, .batch = 1, .all_frames = x->desc.dense};
    int64_t n = 0;
    vl_status st = vl_video_stream(path, &so, &x->desc.pre, on_frames, &c, &n);
    if (!st && c.err)
        st = c.err;
    free(c.tmp);
    return st;
}
