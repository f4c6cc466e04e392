/* Clip sources and per-frame label alignment (see clips.h). */
#include "video/clips.h"

#include "core/csv.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "video/video.h"

/* Times closer than this to a boundary count as on it (rounding in k/fps, k*stride). */
#define TIME_EPS 1e-9

/* ---- small helpers ----------------------------------------------------------- */

/* a + "/" + b (no doubled slash when a ends in one); NULL on allocation failure. */
static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int slash = la > 0 && a[la - 1] != '/';
    char *p = malloc(la + (size_t)slash + lb + 1);
    if (!p)
        return NULL;
    memcpy(p, a, la);
    if (slash)
        p[la] = '/';
    memcpy(p + la + slash, b, lb + 1);
    return p;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int parse_int64(const char *s, int64_t *v)
{
    if (!*s)
        return 0;
    char *e;
    errno = 0;
    long long x = strtoll(s, &e, 10);
    if (e == s || *e || errno == ERANGE)
        return 0;
    *v = (int64_t)x;
    return 1;
}

int vl_is_video_file_name(const char *name)
{
    static const char *const ext[] = {"mp4", "mkv", "webm", "avi", "mov", "m4v", "mpg", "mpeg", "wmv", "flv"};
    const char *dot = name ? strrchr(name, '.') : NULL;
    if (!dot || dot == name)
        return 0;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (vl_eq_nocase(dot + 1, ext[i]))
            return 1;
    return 0;
}

/* ---- the clip list ------------------------------------------------------------ */

static void clip_free(vl_clip *c)
{
    free(c->path);
    free(c->label);
    free(c->group);
}

void vl_clip_list_free(vl_clip_list *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->n; i++)
        clip_free(&l->items[i]);
    for (int i = 0; i < l->nclasses; i++)
        free(l->classes[i]);
    free(l->items);
    free(l->classes);
    *l = (vl_clip_list){0};
}

/* Position of name in the sorted table, or -(insertion point) - 1. */
static int class_search(char *const *classes, int n, const char *name)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(classes[mid], name);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -lo - 1;
}

int vl_clip_list_class(const vl_clip_list *l, const char *name)
{
    if (!l || !name)
        return -1;
    int i = class_search(l->classes, l->nclasses, name);
    return i >= 0 ? i : -1;
}

/* Finds or inserts a class, renumbering clips after it; -1 on allocation failure. */
static int class_insert(vl_clip_list *l, const char *name)
{
    int i = class_search(l->classes, l->nclasses, name);
    if (i >= 0)
        return i;
    int pos = -i - 1;
    if (l->nclasses == l->ccap) {
        int cap = l->ccap ? 2 * l->ccap : 16;
        char **c = realloc(l->classes, sizeof *c * (size_t)cap);
        if (!c)
            return -1;
        l->classes = c;
        l->ccap = cap;
    }
    char *d = vl_strdup(name);
    if (!d)
        return -1;
    memmove(l->classes + pos + 1, l->classes + pos, sizeof *l->classes * (size_t)(l->nclasses - pos));
    l->classes[pos] = d;
    l->nclasses++;
    for (int k = 0; k < l->n; k++)
        if (l->items[k].label_id >= pos)
            l->items[k].label_id++;
    return pos;
}

/* Undo a source's partial work: drop clips from n0 on and classes no clip uses
 * any more. Allocates nothing (it runs on error paths). */
static void list_truncate(vl_clip_list *l, int n0)
{
    for (int i = n0; i < l->n; i++)
        clip_free(&l->items[i]);
    l->n = n0;
    for (int c = l->nclasses - 1; c >= 0; c--) {
        int used = 0;
        for (int i = 0; i < l->n && !used; i++)
            used = l->items[i].label_id == c;
        if (used)
            continue;
        free(l->classes[c]);
        memmove(l->classes + c, l->classes + c + 1, sizeof *l->classes * (size_t)(l->nclasses - c - 1));
        l->nclasses--;
        for (int i = 0; i < l->n; i++)
            if (l->items[i].label_id > c)
                l->items[i].label_id--;
    }
}

vl_status vl_clip_list_add(vl_clip_list *l, const char *path, double start, double end, const char *label,
                           const char *group)
{
    if (!l || !path || !*path)
        return vl_seterr(VL_ERR_ARG, "vl_clip_list_add: no list or empty path");
    if (label && !*label)
        return vl_seterr(VL_ERR_ARG, "%s: empty label (pass NULL for an unlabelled clip)", path);
    if (!isfinite(start) || !isfinite(end) || start < 0 || (end != 0 && end <= start))
        return vl_seterr(VL_ERR_ARG, "%s: bad clip times start %g s, end %g s (need 0 <= start < end, or end 0)",
                         path, start, end);
    if (l->n == l->cap) {
        if (l->cap > INT_MAX / 2)
            return vl_seterr(VL_ERR_NOMEM, "clip list too long");
        int cap = l->cap ? 2 * l->cap : 64;
        vl_clip *it = realloc(l->items, sizeof *it * (size_t)cap);
        if (!it)
            return vl_seterr(VL_ERR_NOMEM, "out of memory growing the clip list");
        l->items = it;
        l->cap = cap;
    }
    vl_clip c = {.path = vl_strdup(path), .start = start, .end = end, .label_id = -1,
                 .group = vl_strdup(group ? group : path)};
    if (label)
        c.label = vl_strdup(label);
    if (!c.path || !c.group || (label && !c.label) || (label && (c.label_id = class_insert(l, label)) < 0)) {
        clip_free(&c);
        return vl_seterr(VL_ERR_NOMEM, "out of memory adding a clip");
    }
    l->items[l->n++] = c;
    return VL_OK;
}

vl_status vl_clip_list_copy(vl_clip_list *dst, const vl_clip_list *src)
{
    vl_clip_list_free(dst);
    for (int i = 0; i < src->n; i++) {
        const vl_clip *c = &src->items[i];
        vl_status st = vl_clip_list_add(dst, c->path, c->start, c->end, c->label, c->group);
        if (st) {
            vl_clip_list_free(dst);
            return st;
        }
    }
    return VL_OK;
}

/* ---- (a) folder per class ------------------------------------------------------ */

static void free_names(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Sorted non-hidden entries of a folder. */
static vl_status list_dir(const char *path, char ***out, int *count)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(path);
    if (!d)
        return vl_seterr(VL_ERR_IO, "%s: %s", path, strerror(errno));
    char **v = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            int nc = cap ? 2 * cap : 64;
            char **nv = realloc(v, sizeof *nv * (size_t)nc);
            if (!nv)
                goto nomem;
            v = nv;
            cap = nc;
        }
        if (!(v[n] = vl_strdup(e->d_name)))
            goto nomem;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    *count = n;
    return VL_OK;
nomem:
    closedir(d);
    free_names(v, n);
    return vl_seterr(VL_ERR_NOMEM, "%s: out of memory listing the folder", path);
}

vl_status vl_clips_from_folders(vl_clip_list *l, const char *root)
{
    if (!l || !root)
        return vl_seterr(VL_ERR_ARG, "vl_clips_from_folders: no list or root");
    struct stat st;
    if (stat(root, &st) != 0)
        return vl_seterr(VL_ERR_IO, "%s: %s", root, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return vl_seterr(VL_ERR_IO, "%s: not a folder", root);
    char **classes;
    int nc;
    vl_status s = list_dir(root, &classes, &nc);
    if (s)
        return s;
    const int n0 = l->n;
    int nclass_dirs = 0;
    for (int c = 0; c < nc && !s; c++) {
        char *cdir = join(root, classes[c]);
        if (!cdir) {
            s = vl_seterr(VL_ERR_NOMEM, "out of memory");
            break;
        }
        if (stat(cdir, &st) != 0 || !S_ISDIR(st.st_mode)) { /* loose files at the top level are not classes */
            free(cdir);
            continue;
        }
        nclass_dirs++;
        char **files;
        int nfiles;
        s = list_dir(cdir, &files, &nfiles);
        int found = 0;
        for (int i = 0; i < nfiles && !s; i++) {
            if (!vl_is_video_file_name(files[i]))
                continue;
            char *p = join(cdir, files[i]);
            if (!p) {
                s = vl_seterr(VL_ERR_NOMEM, "out of memory");
                break;
            }
            if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
                s = vl_clip_list_add(l, p, 0, 0, classes[c], p);
                found++;
            }
            free(p);
        }
        if (!s && !found)
            s = vl_seterr(VL_ERR_FORMAT,
                          "%s: class folder has no video files (.mp4 .mkv .webm .avi .mov .m4v .mpg .mpeg .wmv .flv)",
                          cdir);
        free_names(files, nfiles);
        free(cdir);
    }
    free_names(classes, nc);
    if (!s && nclass_dirs == 0)
        s = vl_seterr(VL_ERR_FORMAT, "%s: no class folders (expected %s/<class>/<video>)", root, root);
    if (s)
        list_truncate(l, n0);
    return s;
}

/* ---- (b) CSV manifest ---------------------------------------------------------- */

/* Column positions of a manifest: from its header, or path,label[,start,end]. */
typedef struct {
    int path, label, start, end, group; /* -1: absent */
    int named;                          /* from a header: any order, columns of other names ignored */
    int nhdr;                           /* the header's column count: no row may have more */
} manifest_cols;

static vl_status manifest_record(vl_clip_list *l, const vl_csv *r, const manifest_cols *c)
{
    const char *m = r->file;
    int ln = r->rec_line;
    if (!c->named && r->nf != 2 && r->nf != 4)
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: %d field%s; expected path,label or path,label,start,end", m, ln,
                         r->nf, r->nf == 1 ? "" : "s");
    int need = c->path > c->label ? c->path : c->label;
    if (c->named && (r->nf <= need || r->nf > c->nhdr))
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: %d field%s; the header names %d columns", m, ln, r->nf,
                         r->nf == 1 ? "" : "s", c->nhdr);
    const char *fs = c->start >= 0 && c->start < r->nf ? r->f[c->start] : "";
    const char *fe = c->end >= 0 && c->end < r->nf ? r->f[c->end] : "";
    const char *fg = c->group >= 0 && c->group < r->nf && r->f[c->group][0] ? r->f[c->group] : NULL;
    if (!c->named && r->nf == 4) {
        fs = r->f[2];
        fe = r->f[3];
    }
    const char *fp = r->f[c->path], *fl = r->f[c->label];
    if (!fp[0])
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: missing path", m, ln);
    if (!fl[0])
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: missing label", m, ln);
    double start = 0, end = 0;
    if (fs[0] && !vl_parse_double(fs, &start))
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: bad start time '%s'", m, ln, fs);
    if (fe[0] && !vl_parse_double(fe, &end))
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: bad end time '%s'", m, ln, fe);
    if (start < 0)
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: negative start time %g", m, ln, start);
    if (fe[0] && end <= start)
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: end %g <= start %g", m, ln, end, start);
    char *p = vl_path_beside(m, fp);
    if (!p)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    struct stat st;
    vl_status s = VL_OK;
    if (stat(p, &st) != 0)
        s = vl_seterr(VL_ERR_IO, "%s:%d: %s: %s", m, ln, p, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        s = vl_seterr(VL_ERR_FORMAT, "%s:%d: %s: not a file", m, ln, p);
    else
        s = vl_clip_list_add(l, p, start, end, fl, fg ? fg : p);
    free(p);
    return s;
}

/* A header field (blanks around it ignored) among `names`, any case. */
static int name_in(const char *s, const char *const *names)
{
    s += strspn(s, " \t");
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    char buf[64];
    if (n >= sizeof buf)
        return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    for (; *names; names++)
        if (vl_eq_nocase(buf, *names))
            return 1;
    return 0;
}

/* A header row: 1 (and *c filled) if the first field names a path column. */
static vl_status manifest_header(const vl_csv *r, manifest_cols *c, int *is_header)
{
    static const char *const P[] = {"path", "video", "file", "filename", NULL};
    static const char *const L[] = {"label", "labels", "class", "action", "activity", NULL};
    static const char *const S[] = {"start", "start_s", "start_sec", "start_time", "t_start", "begin", NULL};
    static const char *const E[] = {"end", "end_s", "end_sec", "end_time", "t_end", "stop", NULL};
    static const char *const G[] = {"group", "source", "scene", "subject", "video_id", "source_video", NULL};
    *c = (manifest_cols){.path = -1, .label = -1, .start = -1, .end = -1, .group = -1, .named = 1, .nhdr = r->nf};
    *is_header = 0;
    int any = 0;
    for (int i = 0; i < r->nf; i++)
        any |= name_in(r->f[i], P);
    if (!any)
        return VL_OK;
    *is_header = 1;
    for (int i = 0; i < r->nf; i++) {
        int *slot = name_in(r->f[i], P) ? &c->path : name_in(r->f[i], L) ? &c->label : name_in(r->f[i], S) ? &c->start
                  : name_in(r->f[i], E) ? &c->end : name_in(r->f[i], G) ? &c->group : NULL;
        if (!slot)
            continue; /* other columns (notes, durations) are the user's */
        if (*slot >= 0)
            return vl_seterr(VL_ERR_FORMAT, "%s:%d: two columns for the same role ('%s' and '%s')", r->file,
                             r->rec_line, r->f[*slot], r->f[i]);
        *slot = i;
    }
    if (c->label < 0)
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: a video manifest's header needs path and label columns "
                                        "(path|video|file, label|labels|class|action|activity; optional "
                                        "start|start_s|..., end|end_s|..., group|source|scene|subject)",
                         r->file, r->rec_line);
    return VL_OK;
}

vl_status vl_clips_from_csv(vl_clip_list *l, const char *manifest)
{
    if (!l || !manifest)
        return vl_seterr(VL_ERR_ARG, "vl_clips_from_csv: no list or manifest");
    vl_csv r;
    vl_status s = vl_csv_open(&r, manifest);
    if (s)
        return s;
    const int n0 = l->n;
    int rc, first = 1;
    manifest_cols cols = {.path = 0, .label = 1, .start = -1, .end = -1, .group = -1, .named = 0};
    while ((rc = vl_csv_next(&r)) > 0) {
        if (first) {
            first = 0;
            int hdr;
            manifest_cols hc;
            if ((s = manifest_header(&r, &hc, &hdr)))
                break;
            if (hdr) {
                cols = hc;
                continue;
            }
        }
        if ((s = manifest_record(l, &r, &cols)))
            break;
    }
    if (rc < 0)
        s = r.err;
    if (!s && l->n == n0)
        s = vl_seterr(VL_ERR_FORMAT, "%s: no clips", manifest);
    if (s)
        list_truncate(l, n0);
    vl_csv_close(&r);
    return s;
}

/* ---- (c) random clips, (d) sliding windows ------------------------------------ */

/* The video's length: `duration` when > 0, else probed. */
static vl_status video_length(const char *path, double duration, double *D)
{
    if (!isfinite(duration) || duration < 0)
        return vl_seterr(VL_ERR_ARG, "%s: bad duration %g (pass > 0, or 0 to probe the file)", path, duration);
    if (duration > 0) {
        *D = duration;
        return VL_OK;
    }
    vl_video_info info;
    vl_status s = vl_video_probe(path, &info);
    if (s)
        return s;
    if (!(info.duration > 0))
        return vl_seterr(VL_ERR_FORMAT, "%s: the container does not give the video's length; pass the duration", path);
    *D = info.duration;
    return VL_OK;
}

/* Uniform in [0, 1) with 53 random bits. */
static double uniform53(vl_rng *rng) { return (double)(vl_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0); }

vl_status vl_clips_random(vl_clip_list *l, const char *path, const char *label, double duration, int n,
                          double min_len, double max_len, vl_rng *rng)
{
    if (!l || !path || !rng)
        return vl_seterr(VL_ERR_ARG, "vl_clips_random: no list, path or rng");
    if (n < 1)
        return vl_seterr(VL_ERR_ARG, "%s: clip count %d must be >= 1", path, n);
    if (!isfinite(min_len) || !isfinite(max_len) || !(min_len > 0) || max_len < min_len)
        return vl_seterr(VL_ERR_ARG, "%s: bad clip lengths min %g s, max %g s (need 0 < min <= max)", path, min_len,
                         max_len);
    double D = 0;
    vl_status s = video_length(path, duration, &D);
    if (s)
        return s;
    if (D < min_len)
        return vl_seterr(VL_ERR_FORMAT, "%s: video is %g s long, shorter than the minimum clip length %g s", path, D,
                         min_len);
    double hi = max_len < D ? max_len : D;
    const int n0 = l->n;
    for (int i = 0; i < n && !s; i++) {
        double len = min_len + (hi - min_len) * uniform53(rng);
        double start = (D - len) * uniform53(rng);
        double end = start + len;
        if (end > D) /* rounding */
            end = D;
        s = vl_clip_list_add(l, path, start, end, label, path);
    }
    if (s)
        list_truncate(l, n0);
    return s;
}

vl_status vl_clips_windows(vl_clip_list *l, const char *path, const char *label, double duration, double len,
                           double stride, int cover_end)
{
    if (!l || !path)
        return vl_seterr(VL_ERR_ARG, "vl_clips_windows: no list or path");
    if (!isfinite(len) || !(len > 0))
        return vl_seterr(VL_ERR_ARG, "%s: window length %g s must be > 0", path, len);
    if (!isfinite(stride) || !(stride > 0))
        return vl_seterr(VL_ERR_ARG, "%s: window stride %g s must be > 0", path, stride);
    double D = 0;
    vl_status s = video_length(path, duration, &D);
    if (s)
        return s;
    if (D + TIME_EPS < len)
        return vl_seterr(VL_ERR_ARG, "%s: video is %g s long, shorter than the window length %g s", path, D, len);
    double last = floor((D - len + TIME_EPS) / stride);
    if (last < 0)
        last = 0;
    if (last > INT_MAX - 2)
        return vl_seterr(VL_ERR_ARG, "%s: %g windows are too many (stride %g s)", path, last + 1, stride);
    const int n0 = l->n;
    for (int k = 0; k <= (int)last && !s; k++) {
        double a = k * stride, e = a + len;
        if (e > D)
            e = D;
        s = vl_clip_list_add(l, path, a, e, label, path);
    }
    if (!s && cover_end && last * stride + len < D - TIME_EPS)
        s = vl_clip_list_add(l, path, D - len > 0 ? D - len : 0, D, label, path);
    if (s)
        list_truncate(l, n0);
    return s;
}

/* ---- (e) per-frame labels ----------------------------------------------------- */

typedef struct {
    int64_t frame, frame_last; /* FRAMES: first and last (inclusive) source frame of the row */
    double start, end;
    char *label;
    int line;
} label_row;

/* Header names, matched case-insensitively (surrounding blanks ignored). */
static const char *const HDR_FRAME[] = {"frame", "frame_index", "frame_idx", "frame_id", "index", "idx",
                                        "frame_number", "frameno", NULL};
static const char *const HDR_LABEL[] = {"label", "class", "action", "activity", "label_name", "class_name", NULL};
static const char *const HDR_START[] = {"start", "start_s", "start_sec", "start_time", "t_start", "begin", "onset",
                                        NULL};
static const char *const HDR_END[] = {"end", "end_s", "end_sec", "end_time", "t_end", "offset", NULL};
static const char *const HDR_FSTART[] = {"start_frame", NULL};
static const char *const HDR_FEND[] = {"end_frame", NULL};
#define HDR_ACCEPTED                                                                                              \
    "a label column (label, class, action, activity, label_name, class_name) with either a frame column (frame, " \
    "frame_index, frame_idx, frame_id, index, idx, frame_number, frameno), or start and end times in seconds "    \
    "(start/start_s/start_sec/start_time/t_start/begin/onset and end/end_s/end_sec/end_time/t_end/offset), or "   \
    "start_frame and end_frame (inclusive frame ranges)"

enum { COL_FRAME, COL_LABEL, COL_START, COL_END, COL_FSTART, COL_FEND, NCOL };

/* Where each field of a label row is: col[role] = field index or -1; nf =
 * fields per row (0: any); ranges = frame ranges (start_frame,end_frame). */
typedef struct {
    int col[NCOL], nf, ranges;
} label_cols;

static int hdr_in(const char *name, const char *const *list)
{
    while (*name == ' ' || *name == '\t')
        name++;
    size_t n = strlen(name);
    while (n && (name[n - 1] == ' ' || name[n - 1] == '\t'))
        n--;
    for (; *list; list++) {
        size_t i = 0;
        while (i < n && (*list)[i] && tolower((unsigned char)name[i]) == (unsigned char)(*list)[i])
            i++;
        if (i == n && !(*list)[i])
            return 1;
    }
    return 0;
}

/* Header row -> columns and kind. Columns it does not know are ignored. */
static vl_status label_header(const vl_csv *r, label_cols *lc, vl_frame_label_kind *kind)
{
    static const char *const *const lists[NCOL] = {HDR_FRAME, HDR_LABEL, HDR_START, HDR_END, HDR_FSTART, HDR_FEND};
    static const char *const what[NCOL] = {"frame", "label", "start", "end", "start_frame", "end_frame"};
    for (int k = 0; k < NCOL; k++)
        lc->col[k] = -1;
    lc->nf = r->nf;
    for (int i = 0; i < r->nf; i++)
        for (int k = 0; k < NCOL; k++)
            if (hdr_in(r->f[i], lists[k])) {
                if (lc->col[k] >= 0)
                    return vl_seterr(VL_ERR_FORMAT, "%s:%d: header has two %s columns ('%s' and '%s')", r->file,
                                     r->rec_line, what[k], r->f[lc->col[k]], r->f[i]);
                lc->col[k] = i;
            }
    int fr = lc->col[COL_FRAME] >= 0, tm = lc->col[COL_START] >= 0 && lc->col[COL_END] >= 0,
        rg = lc->col[COL_FSTART] >= 0 && lc->col[COL_FEND] >= 0;
    if (lc->col[COL_LABEL] < 0 || fr + tm + rg != 1)
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: unrecognised header%s; expected " HDR_ACCEPTED
                                        " (any order, other columns ignored)",
                         r->file, r->rec_line, fr + tm + rg > 1 ? " (both frame and segment columns)" : "");
    *kind = tm ? VL_LABELS_SEGMENTS : VL_LABELS_FRAMES;
    lc->ranges = rg;
    return VL_OK;
}

static int cmp_row_frame(const void *a, const void *b)
{
    const label_row *x = a, *y = b;
    if (x->frame != y->frame)
        return x->frame < y->frame ? -1 : 1;
    return x->line - y->line;
}

static int cmp_row_start(const void *a, const void *b)
{
    const label_row *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->line - y->line;
}

void vl_frame_labels_free(vl_frame_labels *fl)
{
    if (!fl)
        return;
    free(fl->file);
    free(fl->frame);
    free(fl->frame_last);
    free(fl->start);
    free(fl->end);
    free(fl->label);
    free(fl->line);
    for (int i = 0; i < fl->nclasses; i++)
        free(fl->classes[i]);
    free(fl->classes);
    free(fl);
}

/* Parses one row into *row (label borrowed from the reader). */
static vl_status label_record(const vl_csv *r, vl_frame_label_kind kind, const label_cols *lc, label_row *row)
{
    const char *file = r->file;
    int ln = r->rec_line;
    if (r->nf != lc->nf)
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: %d field%s; this file is in %s form (%d fields)", file, ln, r->nf,
                         r->nf == 1 ? "" : "s",
                         lc->ranges ? "start_frame,end_frame,label"
                                    : kind == VL_LABELS_FRAMES ? "frame,label" : "start,end,label",
                         lc->nf);
    const char *lab = r->f[lc->col[COL_LABEL]];
    if (!lab[0])
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: missing label", file, ln);
    row->line = ln;
    row->label = (char *)lab;
    if (kind == VL_LABELS_FRAMES && lc->ranges) {
        const char *a = r->f[lc->col[COL_FSTART]], *b = r->f[lc->col[COL_FEND]];
        if (!parse_int64(a, &row->frame))
            return vl_seterr(VL_ERR_FORMAT, "%s:%d: bad start frame '%s'", file, ln, a);
        if (!parse_int64(b, &row->frame_last))
            return vl_seterr(VL_ERR_FORMAT, "%s:%d: bad end frame '%s'", file, ln, b);
        if (row->frame < 0)
            return vl_seterr(VL_ERR_FORMAT, "%s:%d: negative frame number %lld", file, ln, (long long)row->frame);
        if (row->frame_last < row->frame)
            return vl_seterr(VL_ERR_FORMAT, "%s:%d: end frame %lld < start frame %lld (ranges are inclusive)", file,
                             ln, (long long)row->frame_last, (long long)row->frame);
        return VL_OK;
    }
    if (kind == VL_LABELS_FRAMES) {
        const char *a = r->f[lc->col[COL_FRAME]];
        if (!parse_int64(a, &row->frame))
            return vl_seterr(VL_ERR_FORMAT, "%s:%d: bad frame number '%s'", file, ln, a);
        if (row->frame < 0)
            return vl_seterr(VL_ERR_FORMAT, "%s:%d: negative frame number %lld", file, ln, (long long)row->frame);
        row->frame_last = row->frame;
        return VL_OK;
    }
    const char *a = r->f[lc->col[COL_START]], *b = r->f[lc->col[COL_END]];
    if (!vl_parse_double(a, &row->start))
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: bad start time '%s'", file, ln, a);
    if (!vl_parse_double(b, &row->end))
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: bad end time '%s'", file, ln, b);
    if (row->start < 0)
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: negative start time %g", file, ln, row->start);
    if (row->end <= row->start)
        return vl_seterr(VL_ERR_FORMAT, "%s:%d: end %g <= start %g", file, ln, row->end, row->start);
    return VL_OK;
}

vl_status vl_frame_labels_load(const char *path, vl_frame_labels **out)
{
    if (!path || !out)
        return vl_seterr(VL_ERR_ARG, "vl_frame_labels_load: no path or output");
    *out = NULL;
    vl_csv r;
    vl_status s = vl_csv_open(&r, path);
    if (s)
        return s;
    label_row *rows = NULL;
    int n = 0, cap = 0, rc, first = 1;
    vl_frame_label_kind kind = VL_LABELS_FRAMES;
    label_cols lc = {{0, 1, -1, -1, -1, -1}, 2, 0};
    vl_frame_labels *fl = NULL;
    while ((rc = vl_csv_next(&r)) > 0) {
        if (first) {
            first = 0;
            double dummy;
            if (!vl_parse_double(r.f[0], &dummy)) { /* a header */
                if ((s = label_header(&r, &lc, &kind)))
                    break;
                continue;
            }
            if (r.nf == 2) {
                kind = VL_LABELS_FRAMES;
            } else if (r.nf == 3) {
                kind = VL_LABELS_SEGMENTS;
                lc = (label_cols){{-1, 2, 0, 1, -1, -1}, 3, 0};
            } else {
                s = vl_seterr(VL_ERR_FORMAT, "%s:%d: %d fields; expected frame,label or start,end,label (or a header: "
                                             HDR_ACCEPTED ")",
                              path, r.rec_line, r.nf);
                break;
            }
        }
        label_row row = {0};
        if ((s = label_record(&r, kind, &lc, &row)))
            break;
        if (n == cap) {
            int nc = cap ? 2 * cap : 256;
            label_row *nr = cap > INT_MAX / 2 ? NULL : realloc(rows, sizeof *nr * (size_t)nc);
            if (!nr) {
                s = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            rows = nr;
            cap = nc;
        }
        if (!(row.label = vl_strdup(row.label))) {
            s = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        rows[n++] = row;
    }
    if (rc < 0)
        s = r.err;
    if (!s && n == 0)
        s = vl_seterr(VL_ERR_FORMAT, "%s: no labels", path);
    if (s)
        goto done;

    qsort(rows, (size_t)n, sizeof *rows, kind == VL_LABELS_FRAMES ? cmp_row_frame : cmp_row_start);
    for (int i = 1; i < n && !s; i++) {
        const label_row *a = &rows[i - 1], *b = &rows[i];
        if (kind == VL_LABELS_FRAMES && b->frame <= a->frame_last)
            s = vl_seterr(VL_ERR_FORMAT, "%s:%d: frame %lld is already labelled on line %d", path, b->line,
                          (long long)b->frame, a->line);
        else if (kind == VL_LABELS_SEGMENTS && b->start < a->end)
            s = vl_seterr(VL_ERR_FORMAT, "%s:%d: segment [%g, %g) overlaps [%g, %g) on line %d", path,
                          a->line > b->line ? a->line : b->line, b->start, b->end, a->start, a->end,
                          a->line > b->line ? b->line : a->line);
    }
    if (s)
        goto done;

    fl = calloc(1, sizeof *fl);
    if (!fl)
        goto nomem;
    fl->kind = kind;
    fl->n = n;
    fl->file = vl_strdup(path);
    fl->label = malloc(sizeof *fl->label * (size_t)n);
    fl->line = malloc(sizeof *fl->line * (size_t)n);
    fl->classes = malloc(sizeof *fl->classes * (size_t)n);
    if (kind == VL_LABELS_FRAMES) {
        fl->frame = malloc(sizeof *fl->frame * (size_t)n);
        fl->frame_last = malloc(sizeof *fl->frame_last * (size_t)n);
    } else {
        fl->start = malloc(sizeof *fl->start * (size_t)n);
        fl->end = malloc(sizeof *fl->end * (size_t)n);
    }
    if (!fl->file || !fl->label || !fl->line || !fl->classes ||
        (kind == VL_LABELS_FRAMES ? (!fl->frame || !fl->frame_last) : (!fl->start || !fl->end)))
        goto nomem;
    /* classes: sorted distinct labels (the rows' strings move into the table) */
    char **names = malloc(sizeof *names * (size_t)n);
    if (!names)
        goto nomem;
    for (int i = 0; i < n; i++)
        names[i] = rows[i].label;
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++)
        if (fl->nclasses == 0 || strcmp(fl->classes[fl->nclasses - 1], names[i]) != 0)
            fl->classes[fl->nclasses++] = names[i];
    free(names);
    for (int i = 0; i < n; i++) {
        int c = class_search(fl->classes, fl->nclasses, rows[i].label);
        fl->label[i] = c;
        if (fl->classes[c] != rows[i].label) {
            free(rows[i].label); /* a duplicate of a class name already owned by the table */
        }
        rows[i].label = NULL;
        fl->line[i] = rows[i].line;
        if (kind == VL_LABELS_FRAMES) {
            fl->frame[i] = rows[i].frame;
            fl->frame_last[i] = rows[i].frame_last;
        } else {
            fl->start[i] = rows[i].start;
            fl->end[i] = rows[i].end;
        }
    }
    *out = fl;
    fl = NULL;
    goto done;
nomem:
    s = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
done:
    for (int i = 0; i < n; i++)
        free(rows ? rows[i].label : NULL);
    free(rows);
    vl_frame_labels_free(fl);
    vl_csv_close(&r);
    return s;
}

/* Row labelling source frame `idx` (its range [frame, frame_last] holds
 * idx), or -1. */
static int find_frame(const vl_frame_labels *fl, int64_t idx)
{
    int lo = 0, hi = fl->n; /* first row with frame > idx */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (fl->frame[mid] <= idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    int i = lo - 1;
    return i >= 0 && idx <= fl->frame_last[i] ? i : -1;
}

/* Segment containing time t, or -1. */
static int find_segment(const vl_frame_labels *fl, double t)
{
    t += TIME_EPS;
    int lo = 0, hi = fl->n; /* first segment with start > t */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (fl->start[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    int i = lo - 1;
    return i >= 0 && t < fl->end[i] ? i : -1;
}

vl_status vl_frame_labels_align(const vl_frame_labels *fl, int n, const double *time, const int64_t *index,
                                const char *const *classes, int nclasses, int allow_unlabelled, int32_t *out)
{
    if (!fl || n < 0 || (n > 0 && !out) || (classes && nclasses < 0))
        return vl_seterr(VL_ERR_ARG, "vl_frame_labels_align: bad arguments");
    int frames = fl->kind == VL_LABELS_FRAMES;
    if (n > 0 && frames && !index)
        return vl_seterr(VL_ERR_ARG, "%s: frame,label rows need the sampled frames' source indices", fl->file);
    if (n > 0 && !frames && !time)
        return vl_seterr(VL_ERR_ARG, "%s: start,end,label segments need the sampled frames' times", fl->file);
    for (int i = 0; i < n; i++) {
        int row;
        if (frames) {
            row = find_frame(fl, index[i]);
        } else {
            if (!isfinite(time[i]))
                return vl_seterr(VL_ERR_ARG, "%s: sampled frame %d has a non-finite time", fl->file, i);
            row = find_segment(fl, time[i]);
        }
        if (row < 0) {
            if (allow_unlabelled) {
                out[i] = -1;
                continue;
            }
            if (frames)
                return vl_seterr(VL_ERR_FORMAT, "%s: no label for source frame %lld (sampled frame %d)", fl->file,
                                 (long long)index[i], i);
            return vl_seterr(VL_ERR_FORMAT, "%s: no label at %.6g s (sampled frame %d)", fl->file, time[i], i);
        }
        int32_t id = fl->label[row];
        if (classes) {
            const char *name = fl->classes[id];
            id = -1;
            for (int c = 0; c < nclasses && id < 0; c++)
                if (classes[c] && strcmp(classes[c], name) == 0)
                    id = c;
            if (id < 0)
                return vl_seterr(VL_ERR_FORMAT, "%s:%d: label '%s' is not one of the %d classes", fl->file,
                                 fl->line[row], name, nclasses);
        }
        out[i] = id;
    }
    return VL_OK;
}
