/* Video ingestion end to end, on videos the test makes itself at run time
 * with vl_video_writer (into a mkdtemp folder, removed at the end):
 * - every frame carries its number in binary as 16x16 black/white blocks on
 *   the top row (8 bits, a parity block, a white and a black marker block)
 *   and three colour patches (red, green, blue, left to right) on a grey
 *   background, so decoded frames identify themselves and show the channel
 *   order;
 * - containers/codecs: MP4/H.264, MKV/VP9, WebM/VP8, AVI/MJPEG, MOV/MPEG-4;
 *   rates 30, 25, 24000/1001; a variable-frame-rate MKV with irregular gaps;
 *   an MP4 with rotation=90 metadata; a flat-colour MP4.
 * Checks:
 * - vl_video_probe: size, display size, rotation, fps, duration, frame count,
 *   codec and container names;
 * - vl_video_stream: frame counts, timestamps (within half a frame), frame
 *   identity read back from the pixels, index, sampling by rate (down and
 *   up, CFR and VFR: the frame on screen at each target time, computed here
 *   in exact arithmetic), every k-th frame, clip start/end (frame-accurate
 *   after a seek into the middle of a GOP, CFR and VFR), batches (sizes,
 *   `first`, early stop), max_frames;
 * - preprocessing: EXACT and SHORTER+centre-crop resizes against the known
 *   pattern, RGB vs BGR, NCHW vs NHWC, mean/std arithmetic, rotation;
 * - robustness (under a watchdog): missing file, directory, empty file,
 *   truncated MP4/MKV, garbage, audio-only WAV, clip end beyond the video,
 *   start beyond the end: an error naming the file (or, for the truncated
 *   MKV, fewer frames), never a crash or hang;
 * - a real-world video (OpenCV's vtest.avi from Debian's opencv-doc), when
 *   present: found in /usr/share/doc/opencv-doc (plain or .gz) or at argv[1]
 *   (tests/video_fetch_realworld.sh fetches it into the build folder);
 *   otherwise that part prints SKIP. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "video/encode.h"
#include "video/video.h"
#include "vidlstm.h"

static char tmpdir[256];
static char made[64][320];
static int nmade;

/* Path of `name` in the scratch folder; remembered for removal at the end. */
static const char *tfile(const char *name)
{
    for (int i = 0; i < nmade; i++) {
        const char *base = strrchr(made[i], '/');
        if (base && !strcmp(base + 1, name))
            return made[i];
    }
    snprintf(made[nmade], sizeof made[nmade], "%s/%s", tmpdir, name);
    return made[nmade++];
}

static int errmsg_has(const char *s) { return strstr(vl_errmsg(), s) != NULL; }

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL test_video: watchdog: a section ran over 60 s (hang?)\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    _exit(3);
}

/* ---- the pattern ------------------------------------------------------------------------ */

enum { PW = 176, PH = 144, BLK = 16, PATCH = 32, PATCH_Y = 64 };
static const uint8_t BG[3] = {128, 128, 128};
static const uint8_t PATCH_RGB[3][3] = {{230, 20, 20}, {20, 210, 30}, {25, 35, 220}}; /* red, green, blue */
static const int PATCH_X[3] = {16, 72, 128};

static int parity8(int v)
{
    int p = 0;
    for (int b = 0; b < 8; b++)
        p ^= (v >> b) & 1;
    return p;
}

/* Colour of pixel (x, y) of frame `fno` (coded orientation). */
static void pattern_px(int x, int y, int fno, uint8_t out[3])
{
    if (y < BLK) {
        int b = x / BLK, white;
        if (b < 8)
            white = (fno >> b) & 1;
        else if (b == 8)
            white = parity8(fno & 255);
        else
            white = b == 9; /* block 9 white, block 10 black: markers */
        out[0] = out[1] = out[2] = white ? 255 : 0;
        return;
    }
    for (int p = 0; p < 3; p++)
        if (y >= PATCH_Y && y < PATCH_Y + PATCH && x >= PATCH_X[p] && x < PATCH_X[p] + PATCH) {
            memcpy(out, PATCH_RGB[p], 3);
            return;
        }
    memcpy(out, BG, 3);
}

static void paint(uint8_t *rgb, int fno)
{
    for (int y = 0; y < PH; y++)
        for (int x = 0; x < PW; x++)
            pattern_px(x, y, fno, rgb + ((size_t)y * PW + x) * 3);
}

/* 1 when the square of half-size m around (x, y) lies in the frame and in one
 * region of the pattern (regions are rectangles >= 16 px, so corners suffice). */
static int pattern_interior(int x, int y, int m, int fno)
{
    if (x - m < 0 || y - m < 0 || x + m >= PW || y + m >= PH)
        return 0;
    uint8_t c[3], d[3];
    pattern_px(x, y, fno, c);
    const int dx[4] = {-m, m, -m, m}, dy[4] = {-m, -m, m, m};
    for (int i = 0; i < 4; i++) {
        pattern_px(x + dx[i], y + dy[i], fno, d);
        if (memcmp(c, d, 3))
            return 0;
    }
    return 1;
}

/* Frame number read from a raw (0..255, NHWC, RGB or BGR) frame of display
 * size W x H; rot 90 when the pattern was recorded with rotation=90.
 * -1: markers or parity wrong; -2: a block neither black nor white. */
static int read_fno(const float *px, int W, int rot)
{
    int bit[11];
    for (int b = 0; b < 11; b++) {
        int cx = BLK * b + BLK / 2, cy = BLK / 2, dx = cx, dy = cy;
        if (rot == 90) {
            dx = PH - 1 - cy;
            dy = cx;
        }
        const float *p = px + ((size_t)dy * W + dx) * 3;
        float lum = (p[0] + p[1] + p[2]) / 3.0f;
        if (lum > 200.0f)
            bit[b] = 1;
        else if (lum < 55.0f)
            bit[b] = 0;
        else
            return -2;
    }
    int v = 0;
    for (int b = 0; b < 8; b++)
        v |= bit[b] << b;
    if (bit[9] != 1 || bit[10] != 0 || bit[8] != parity8(v))
        return -1;
    return v;
}

/* Compares a raw NHWC frame (W x H, no rotation) against frame `fno`'s
 * pattern seen through a scale (sx, sy native px per output px) and crop
 * offset (ox, oy in scaled px), on output pixels whose source lies at least
 * `m` native px inside one region. */
static void pattern_error(const float *px, int W, int H, int bgr, double sx, double sy, int ox, int oy, int fno,
                          int m, double *worst, double *mean, int *count)
{
    double w = 0.0, sum = 0.0;
    int n = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int nx = (int)lround((x + ox + 0.5) * sx - 0.5), ny = (int)lround((y + oy + 0.5) * sy - 0.5);
            if (!pattern_interior(nx, ny, m, fno))
                continue;
            uint8_t e[3];
            pattern_px(nx, ny, fno, e);
            for (int c = 0; c < 3; c++) {
                double d = fabs(px[((size_t)y * W + x) * 3 + c] - e[bgr ? 2 - c : c]);
                w = d > w ? d : w;
                sum += d;
            }
            n++;
        }
    *worst = w;
    *mean = n ? sum / (3.0 * n) : 0.0;
    *count = n;
}

/* ---- making videos ---------------------------------------------------------------------- */

typedef struct {
    const char *name, *codec;
    int fnum, fden, n;
    const char *decoder;   /* expected substring of the probed codec name */
    const char *container; /* expected substring of the probed container name */
} vspec;

static const vspec VIDS[] = {
    {"h264.mp4", "libx264", 30, 1, 90, "h264", "mp4"},
    {"vp9.mkv", "libvpx-vp9", 25, 1, 50, "vp9", "matroska"},
    {"vp8.webm", "libvpx", 24000, 1001, 48, "vp8", "webm"},
    {"mjpeg.avi", "mjpeg", 25, 1, 40, "mjpeg", "avi"},
    {"mpeg4.mov", "mpeg4", 24000, 1001, 40, "mpeg4", "mov"},
};
enum { NVIDS = sizeof VIDS / sizeof VIDS[0] };
static int vid_ok[NVIDS];

/* Variable frame rate: irregular gaps, ms-exact (MKV stores milliseconds). */
static const double VFR_T[] = {0.000, 0.033, 0.087, 0.151, 0.270, 0.283, 0.455, 0.512, 0.698, 0.730,
                               0.962, 1.004, 1.231, 1.367, 1.399, 1.622, 1.840, 1.871, 2.050, 2.213};
enum { VFR_N = sizeof VFR_T / sizeof VFR_T[0] };
static int vfr_ok, rot_ok, flat_ok;
static const uint8_t FLAT[3] = {100, 150, 200};

/* Writes frames 0..n-1 (or the VFR times); flat != NULL: every pixel that colour. */
static int make_video(const char *path, const char *codec, int W, int H, int fnum, int fden, int n, int rotation,
                      const double *times, int gop, const uint8_t *flat)
{
    vl_writer_opts o = {.codec = codec, .width = W, .height = H, .fps_num = fnum, .fps_den = fden,
                        .vfr = times != NULL, .rotation = rotation, .gop = gop};
    vl_video_writer *w;
    vl_status st = vl_video_writer_open(path, &o, &w);
    CHECK(st == VL_OK, "writer open %s: %s", path, vl_errmsg());
    if (st)
        return 0;
    uint8_t *rgb = malloc((size_t)W * H * 3);
    for (int i = 0; i < n && !st; i++) {
        if (flat)
            for (int p = 0; p < W * H; p++)
                memcpy(rgb + 3 * p, flat, 3);
        else
            paint(rgb, i);
        st = vl_video_writer_add(w, rgb, times ? times[i] : (double)i * fden / fnum);
    }
    free(rgb);
    CHECK(st == VL_OK, "writer add %s: %s", path, vl_errmsg());
    if (st) {
        vl_video_writer_abort(w);
        return 0;
    }
    st = vl_video_writer_close(w);
    CHECK(st == VL_OK, "writer close %s: %s", path, vl_errmsg());
    return st == VL_OK && file_size(path) > 0;
}

static void make_videos(void)
{
    for (int i = 0; i < NVIDS; i++)
        vid_ok[i] = make_video(tfile(VIDS[i].name), VIDS[i].codec, PW, PH, VIDS[i].fnum, VIDS[i].fden, VIDS[i].n, 0,
                               NULL, 12, NULL);
    vfr_ok = make_video(tfile("vfr.mkv"), "libx264", PW, PH, 30, 1, VFR_N, 0, VFR_T, 12, NULL);
    rot_ok = make_video(tfile("rot90.mp4"), "libx264", PW, PH, 30, 1, 10, 90, NULL, 12, NULL);
    flat_ok = make_video(tfile("flat.mp4"), "mpeg4", 64, 48, 25, 1, 5, 0, NULL, 12, FLAT);
}

/* ---- collecting what a stream delivers ------------------------------------------------------ */

enum { MAXF = 1024, MAXB = 256 };
typedef struct {
    int W, H, rot, read;   /* read: decode the frame number from raw NHWC pixels */
    int nhwc;
    int64_t fsize;
    int stop_after;        /* return 1 after this many batches (0: never) */
    int64_t n;             /* frames received */
    int nb;                /* batches */
    int bn[MAXB];
    int bad_first;         /* batches whose `first` was not the running count */
    int bad_batch;         /* batches with n outside 1..batch */
    int batch;
    int fno[MAXF];
    double pts[MAXF], tim[MAXF];
    int64_t idx[MAXF];
    float *keep;           /* copy of frame number `keep_at` (sampled order) if non-NULL */
    int64_t keep_at;
    int flat_frames;       /* frames whose pixels are all equal */
    double vmin, vmax;
} collect;

static int sink(void *user, const vl_frame_batch *b)
{
    collect *c = user;
    if (b->first != c->n)
        c->bad_first++;
    if (b->n < 1 || b->n > c->batch)
        c->bad_batch++;
    if (c->nb < MAXB)
        c->bn[c->nb] = b->n;
    c->nb++;
    for (int i = 0; i < b->n; i++, c->n++) {
        const float *f = b->pixels + (size_t)i * c->fsize;
        if (c->n < MAXF) {
            c->fno[c->n] = c->read ? read_fno(f, c->W, c->rot) : -3;
            c->pts[c->n] = b->pts[i];
            c->tim[c->n] = b->time[i];
            c->idx[c->n] = b->index[i];
        }
        if (c->keep && c->n == c->keep_at)
            memcpy(c->keep, f, sizeof(float) * (size_t)c->fsize);
        float lo = f[0], hi = f[0];
        for (int64_t k = 1; k < c->fsize; k++) {
            lo = f[k] < lo ? f[k] : lo;
            hi = f[k] > hi ? f[k] : hi;
        }
        int flat = 1; /* every pixel the same colour */
        const int64_t P = c->fsize / 3;
        for (int64_t k = 1; k < P && flat; k++)
            for (int ch = 0; ch < 3; ch++)
                flat &= c->nhwc ? f[3 * k + ch] == f[ch] : f[ch * P + k] == f[ch * P];
        c->flat_frames += flat;
        c->vmin = lo < c->vmin ? lo : c->vmin;
        c->vmax = hi > c->vmax ? hi : c->vmax;
    }
    return c->stop_after && c->nb >= c->stop_after;
}

/* Raw pixels: EXACT resize to W x H, values 0..255, RGB, NHWC. */
static vl_preproc raw_pre(int W, int H)
{
    return (vl_preproc){.width = W, .height = H, .resize = VL_RESIZE_EXACT, .scale = 1.0f, .mean = {0, 0, 0},
                        .std = {1, 1, 1}, .nhwc = 1};
}

/* Runs a stream into *c (zeroed here; c->keep/keep_at/stop_after kept). */
static vl_status run(const char *path, vl_sample_opts o, const vl_preproc *p, int rot, collect *c, int64_t *ns)
{
    float *keep = c->keep;
    int64_t keep_at = c->keep_at;
    int stop_after = c->stop_after;
    memset(c, 0, sizeof *c);
    c->keep = keep;
    c->keep_at = keep_at;
    c->stop_after = stop_after;
    c->W = p->width;
    c->H = p->height;
    c->rot = rot;
    c->read = p->resize == VL_RESIZE_EXACT && p->nhwc && p->scale == 1.0f && p->mean[0] == 0.0f &&
              (rot ? p->width == PH && p->height == PW : p->width == PW && p->height == PH);
    c->fsize = vl_preproc_frame_size(p);
    c->nhwc = p->nhwc;
    c->batch = o.batch > 0 ? o.batch : 16;
    c->vmin = INFINITY;
    c->vmax = -INFINITY;
    int64_t dummy;
    return vl_video_stream(path, &o, p, sink, c, ns ? ns : &dummy);
}

/* Checks delivered frames against the expected source frames `want`
 * (frame numbers), the pattern, and, when cfr > 0, pts = frame / cfr. */
static void check_frames(const char *what, const collect *c, const int *want, int nwant, double cfr, const double *vfr_t,
                         int check_index)
{
    CHECK(c->n == nwant, "%s: %lld frames, want %d", what, (long long)c->n, nwant);
    int bad_fno = 0, bad_pts = 0, bad_idx = 0, first_bad = -1;
    for (int i = 0; i < nwant && i < c->n && i < MAXF; i++) {
        double want_pts = vfr_t ? vfr_t[want[i]] : want[i] / cfr;
        double tol = vfr_t ? 0.0015 : 0.5 / cfr;
        if (c->fno[i] != want[i])
            bad_fno++;
        if (!(fabs(c->pts[i] - want_pts) < tol))
            bad_pts++;
        if (check_index && c->idx[i] != want[i])
            bad_idx++;
        if ((c->fno[i] != want[i] || !(fabs(c->pts[i] - want_pts) < tol) || (check_index && c->idx[i] != want[i])) &&
            first_bad < 0)
            first_bad = i;
    }
    CHECK(bad_fno == 0, "%s: %d frames are not the expected source frame (first at #%d: got %d, want %d)", what,
          bad_fno, first_bad, first_bad >= 0 ? c->fno[first_bad] : 0, first_bad >= 0 ? want[first_bad] : 0);
    CHECK(bad_pts == 0, "%s: %d frames with pts off by >= half a frame (first at #%d: %.4f)", what, bad_pts, first_bad,
          first_bad >= 0 ? c->pts[first_bad] : 0.0);
    if (check_index)
        CHECK(bad_idx == 0, "%s: %d frames with a wrong index (first at #%d: got %lld, want %d)", what, bad_idx,
              first_bad, first_bad >= 0 ? (long long)c->idx[first_bad] : 0LL, first_bad >= 0 ? want[first_bad] : 0);
    CHECK(c->bad_first == 0 && c->bad_batch == 0, "%s: batch `first` or sizes wrong", what);
}

/* Frame on screen at target time num/den s in a CFR video of rate fnum/fden
 * with n frames: floor(t * fnum / fden), exact in integers. */
static int cfr_on_screen(int64_t num, int64_t den, int fnum, int fden)
{
    return (int)((num * fnum) / (den * fden));
}

static int vfr_on_screen(double t)
{
    int k = 0;
    for (int i = 0; i < VFR_N; i++)
        if (VFR_T[i] <= t + 1e-9)
            k = i;
    return k;
}

/* ---- 3. probing -------------------------------------------------------------------------- */

static void test_probe(void)
{
    for (int i = 0; i < NVIDS; i++) {
        if (!vid_ok[i])
            continue;
        const vspec *v = &VIDS[i];
        vl_video_info in;
        vl_status st = vl_video_probe(tfile(v->name), &in);
        CHECK(st == VL_OK, "probe %s: %s", v->name, vl_errmsg());
        if (st)
            continue;
        double fps = (double)v->fnum / v->fden;
        CHECK(in.width == PW && in.height == PH && in.display_width == PW && in.display_height == PH,
              "%s: size %dx%d display %dx%d", v->name, in.width, in.height, in.display_width, in.display_height);
        CHECK(in.rotation == 0, "%s: rotation %d", v->name, in.rotation);
        CHECK(fabs(in.fps - fps) < 0.01 * fps, "%s: fps %.4f, want %.4f", v->name, in.fps, fps);
        CHECK(fabs(in.duration - v->n / fps) <= 1.5 / fps, "%s: duration %.4f, want %.4f", v->name, in.duration,
              v->n / fps);
        CHECK(llabs(in.frames - v->n) <= 1, "%s: %lld frames, want %d", v->name, (long long)in.frames, v->n);
        CHECK(strstr(in.codec, v->decoder) != NULL, "%s: codec '%s', want '%s'", v->name, in.codec, v->decoder);
        CHECK(strstr(in.container, v->container) != NULL, "%s: container '%s', want '%s'", v->name, in.container,
              v->container);
    }
    /* containers that record the frame count exactly */
    vl_video_info in;
    if (vid_ok[0] && !vl_video_probe(tfile(VIDS[0].name), &in))
        CHECK(in.frames == 90 && fabs(in.duration - 3.0) < 1e-6, "mp4: frames %lld duration %.6f", (long long)in.frames,
              in.duration);
    if (vfr_ok) {
        vl_status st = vl_video_probe(tfile("vfr.mkv"), &in);
        CHECK(st == VL_OK, "probe vfr.mkv: %s", vl_errmsg());
        if (!st) {
            CHECK(in.width == PW && in.height == PH, "vfr.mkv: size %dx%d", in.width, in.height);
            CHECK(in.duration >= VFR_T[VFR_N - 1] && in.duration < VFR_T[VFR_N - 1] + 0.5, "vfr.mkv: duration %.4f",
                  in.duration);
            CHECK(!strcmp(in.codec, "h264"), "vfr.mkv: codec '%s'", in.codec);
        }
    }
    if (rot_ok) {
        vl_status st = vl_video_probe(tfile("rot90.mp4"), &in);
        CHECK(st == VL_OK, "probe rot90.mp4: %s", vl_errmsg());
        if (!st)
            CHECK(in.rotation == 90 && in.width == PW && in.height == PH && in.display_width == PH &&
                      in.display_height == PW,
                  "rot90.mp4: rotation %d size %dx%d display %dx%d", in.rotation, in.width, in.height,
                  in.display_width, in.display_height);
    }
}

/* ---- 2. decoding and sampling ------------------------------------------------------------ */

static collect C; /* large: static */

/* Every frame of every file: count, identity, pts, index, colours of frame 0. */
static void test_decode_all(void)
{
    vl_preproc p = raw_pre(PW, PH);
    float *f0 = malloc(sizeof(float) * (size_t)vl_preproc_frame_size(&p));
    int want[MAXF];
    for (int i = 0; i < MAXF; i++)
        want[i] = i;
    for (int i = 0; i < NVIDS; i++) {
        if (!vid_ok[i])
            continue;
        const vspec *v = &VIDS[i];
        C.keep = f0;
        C.keep_at = 0;
        int64_t ns = -1;
        vl_status st = run(tfile(v->name), (vl_sample_opts){.every_k = 1}, &p, 0, &C, &ns);
        CHECK(st == VL_OK, "%s: %s", v->name, vl_errmsg());
        CHECK(ns == v->n, "%s: nsampled %lld, want %d", v->name, (long long)ns, v->n);
        check_frames(v->name, &C, want, v->n, (double)v->fnum / v->fden, NULL, 1);
        int bad_time = 0;
        for (int k = 0; k < C.n && k < MAXF; k++)
            bad_time += C.tim[k] != C.pts[k];
        CHECK(bad_time == 0, "%s: every-k time differs from pts on %d frames", v->name, bad_time);
        double worst, mean;
        int cnt;
        pattern_error(f0, PW, PH, 0, 1.0, 1.0, 0, 0, 0, 3, &worst, &mean, &cnt);
        CHECK(cnt > PW * PH / 2 && worst < 24.0 && mean < 4.0,
              "%s: frame 0 vs pattern: worst %.1f mean %.2f over %d px", v->name, worst, mean, cnt);
        C.keep = NULL;
    }
    free(f0);
    if (vfr_ok) {
        int64_t ns = -1;
        vl_status st = run(tfile("vfr.mkv"), (vl_sample_opts){.every_k = 1}, &p, 0, &C, &ns);
        CHECK(st == VL_OK, "vfr.mkv: %s", vl_errmsg());
        check_frames("vfr.mkv all", &C, want, VFR_N, 0, VFR_T, 1);
    }
}

static void test_rate(void)
{
    vl_preproc p = raw_pre(PW, PH);
    int want[MAXF];
    if (vid_ok[0]) {
        const char *a = tfile(VIDS[0].name);
        /* 5 fps from 30 fps: frames 0, 6, 12, ..., 84 (targets fall exactly on frames) */
        const int rates[] = {5, 7, 60};
        for (int r = 0; r < 3; r++) {
            int n = 0;
            for (int j = 0; (double)j / rates[r] < 3.0 - 1e-9; j++)
                want[n++] = cfr_on_screen(j, rates[r], 30, 1);
            vl_status st = run(a, (vl_sample_opts){.fps = rates[r]}, &p, 0, &C, NULL);
            CHECK(st == VL_OK, "h264 at %d fps: %s", rates[r], vl_errmsg());
            char what[64];
            snprintf(what, sizeof what, "h264.mp4 at %d fps", rates[r]);
            check_frames(what, &C, want, n, 30.0, NULL, 1);
            int bad_time = 0;
            for (int j = 0; j < C.n && j < n; j++)
                bad_time += fabs(C.tim[j] - (double)j / rates[r]) > 1e-9;
            CHECK(bad_time == 0, "%s: %d target times wrong", what, bad_time);
        }
        /* off the frame grid: 12 fps with start 1/240 s (no target on a frame boundary) */
        int n = 0;
        for (int j = 0; 1.0 / 240 + (double)j / 12 < 3.0; j++)
            want[n++] = cfr_on_screen(1 + 20 * j, 240, 30, 1);
        vl_status st = run(a, (vl_sample_opts){.fps = 12, .start = 1.0 / 240}, &p, 0, &C, NULL);
        CHECK(st == VL_OK, "h264 at 12 fps off-grid: %s", vl_errmsg());
        check_frames("h264.mp4 at 12 fps, off grid", &C, want, n, 30.0, NULL, 1);
    }
    if (vid_ok[1]) { /* 5 fps from 25 fps */
        int n = 0;
        for (int j = 0; j < 10; j++)
            want[n++] = 5 * j;
        vl_status st = run(tfile(VIDS[1].name), (vl_sample_opts){.fps = 5}, &p, 0, &C, NULL);
        CHECK(st == VL_OK, "vp9 at 5 fps: %s", vl_errmsg());
        check_frames("vp9.mkv at 5 fps", &C, want, n, 25.0, NULL, 1);
    }
    if (vfr_ok) { /* the frame on screen at each target time */
        int n = 0;
        for (int j = 0; j < 22; j++)
            want[n++] = vfr_on_screen(j / 10.0);
        vl_status st = run(tfile("vfr.mkv"), (vl_sample_opts){.fps = 10, .end = 2.2}, &p, 0, &C, NULL);
        CHECK(st == VL_OK, "vfr at 10 fps: %s", vl_errmsg());
        check_frames("vfr.mkv at 10 fps", &C, want, n, 0, VFR_T, 1);
        /* 3 fps to the end: the last frame stays on screen, no target past the video */
        n = 0;
        for (int j = 0; j / 3.0 < VFR_T[VFR_N - 1] + 1e-9; j++)
            want[n++] = vfr_on_screen(j / 3.0);
        st = run(tfile("vfr.mkv"), (vl_sample_opts){.fps = 3}, &p, 0, &C, NULL);
        CHECK(st == VL_OK, "vfr at 3 fps: %s", vl_errmsg());
        /* the last frame's duration is not in the file: a target at 2.333 s may
         * still see it (video.h: it stays one frame duration), nothing later */
        if (C.n == n + 1 && C.fno[n] == VFR_N - 1)
            want[n++] = VFR_N - 1;
        check_frames("vfr.mkv at 3 fps", &C, want, n, 0, VFR_T, 1);
    }
}

/* all_frames: every decoded frame between the first and last sampled ones,
 * each with its step count. Expanding the steps must give exactly what plain
 * sampling gives (same source frames, same target times), and the delivered
 * frames must be consecutive source frames. */
typedef struct {
    int n, nsteps, bad_first, W, rot;
    int fno[MAXF], steps[MAXF];
    double tim[MAXF], pts[MAXF];
} dense_collect;
static dense_collect DC;

static int dense_sink(void *user, const vl_frame_batch *b)
{
    dense_collect *c = user;
    if (!b->steps || b->first != c->nsteps)
        c->bad_first++;
    for (int i = 0; i < b->n && c->n < MAXF; i++, c->n++) {
        c->fno[c->n] = read_fno(b->pixels + (size_t)i * 3 * PW * PH, c->W, c->rot);
        c->steps[c->n] = b->steps ? b->steps[i] : -1;
        c->tim[c->n] = b->time[i];
        c->pts[c->n] = b->pts[i];
        c->nsteps += b->steps ? b->steps[i] : 0;
    }
    return 0;
}

static void check_dense(const char *what, const char *path, vl_sample_opts o, double fps)
{
    vl_preproc p = raw_pre(PW, PH);
    vl_status st = run(path, o, &p, 0, &C, NULL);
    CHECK(st == VL_OK, "%s, sampled: %s", what, vl_errmsg());
    memset(&DC, 0, sizeof DC);
    DC.W = PW;
    o.all_frames = 1;
    int64_t ns = -1;
    st = vl_video_stream(path, &o, &p, dense_sink, &DC, &ns);
    CHECK(st == VL_OK, "%s, all frames: %s", what, vl_errmsg());
    CHECK(DC.bad_first == 0, "%s: batch steps missing or `first` not the running step count", what);
    CHECK(ns == C.n && DC.nsteps == C.n, "%s: %d steps (nsampled %lld), plain sampling gave %lld", what, DC.nsteps,
          (long long)ns, (long long)C.n);
    int k = 0, bad = 0, gaps = 0, zero_ends = 0;
    for (int i = 0; i < DC.n; i++) {
        if (i > 0 && DC.fno[i] != DC.fno[i - 1] + 1)
            gaps++;
        for (int j = 0; j < DC.steps[i]; j++, k++) {
            double t = fps > 0 ? DC.tim[i] + j / fps : DC.tim[i];
            if (k >= C.n || C.fno[k] != DC.fno[i] || fabs(C.tim[k] - t) > 1e-9 || C.pts[k] != DC.pts[i])
                bad++;
        }
    }
    zero_ends = DC.n > 0 && DC.steps[0] == 0;
    CHECK(bad == 0 && k == C.n, "%s: %d expanded steps differ from plain sampling", what, bad);
    CHECK(gaps == 0, "%s: %d gaps between delivered frames (every decoded frame must come)", what, gaps);
    CHECK(!zero_ends, "%s: the first delivered frame must be a sampled one", what);
}

static void test_all_frames(void)
{
    if (vid_ok[0]) {
        const char *a = tfile(VIDS[0].name);
        check_dense("h264 all frames at 7 fps", a, (vl_sample_opts){.fps = 7}, 7);
        check_dense("h264 all frames at 60 fps (repeats)", a, (vl_sample_opts){.fps = 60}, 60);
        check_dense("h264 all frames at 5 fps, clip 0.52-2.3 s, batch 4", a,
                    (vl_sample_opts){.fps = 5, .start = 0.52, .end = 2.3, .batch = 4}, 5);
        check_dense("h264 all frames, every 4th", a, (vl_sample_opts){.every_k = 4}, 0);
        check_dense("h264 all frames at 10 fps, max 7", a, (vl_sample_opts){.fps = 10, .max_frames = 7}, 10);
        CHECK(DC.n > 7 && DC.nsteps == 7, "max_frames counts steps in all-frames mode: %d frames, %d steps", DC.n,
              DC.nsteps);
    }
    if (vfr_ok)
        check_dense("vfr all frames at 10 fps", tfile("vfr.mkv"), (vl_sample_opts){.fps = 10}, 10);
}

static void test_every_k(void)
{
    vl_preproc p = raw_pre(PW, PH);
    int want[MAXF], n = 0;
    if (!vid_ok[0])
        return;
    const char *a = tfile(VIDS[0].name);
    for (int i = 0; i < 90; i += 4)
        want[n++] = i;
    vl_status st = run(a, (vl_sample_opts){.every_k = 4}, &p, 0, &C, NULL);
    CHECK(st == VL_OK, "every 4: %s", vl_errmsg());
    check_frames("h264.mp4 every 4th", &C, want, n, 30.0, NULL, 1);
    /* every_k 0 means 1 */
    st = run(a, (vl_sample_opts){0}, &p, 0, &C, NULL);
    CHECK(st == VL_OK && C.n == 90, "every_k 0: %s, %lld frames", vl_errmsg(), (long long)C.n);
    if (vid_ok[2]) {
        n = 0;
        for (int i = 0; i < 48; i += 5)
            want[n++] = i;
        st = run(tfile(VIDS[2].name), (vl_sample_opts){.every_k = 5}, &p, 0, &C, NULL);
        CHECK(st == VL_OK, "vp8 every 5: %s", vl_errmsg());
        check_frames("vp8.webm every 5th", &C, want, n, 24000.0 / 1001, NULL, 1);
    }
}

/* Clip boundaries, including frame-accurate seeks into the middle of a GOP (gop 12). */
static void test_clip(void)
{
    vl_preproc p = raw_pre(PW, PH);
    int want[MAXF], n;
    vl_status st;
    if (vid_ok[0]) {
        const char *a = tfile(VIDS[0].name);
        /* rate: first is the frame on screen at start (31 at 1.05 s), none at or after end */
        n = 0;
        for (int j = 0; 1.05 + 0.2 * j < 2.0; j++)
            want[n++] = (int)floor((1.05 + 0.2 * j) * 30.0);
        st = run(a, (vl_sample_opts){.fps = 5, .start = 1.05, .end = 2.0}, &p, 0, &C, NULL);
        CHECK(st == VL_OK, "clip rate: %s", vl_errmsg());
        check_frames("h264.mp4 5 fps [1.05, 2.0)", &C, want, n, 30.0, NULL, 1);
        CHECK(C.n > 0 && fabs(C.tim[0] - 1.05) < 1e-9, "first target time %.6f, want 1.05", C.n ? C.tim[0] : -1.0);
        /* every k: frames at or after start, before end: 32, 39, ..., 74 */
        n = 0;
        for (int i = 32; i < 75; i += 7)
            want[n++] = i;
        st = run(a, (vl_sample_opts){.every_k = 7, .start = 1.05, .end = 2.5}, &p, 0, &C, NULL);
        CHECK(st == VL_OK, "clip every 7: %s", vl_errmsg());
        check_frames("h264.mp4 every 7th [1.05, 2.5)", &C, want, n, 30.0, NULL, 1);
        /* boundaries on frame times: [0.5, 1.0) is frames 15..29 */
        n = 0;
        for (int i = 15; i < 30; i++)
            want[n++] = i;
        st = run(a, (vl_sample_opts){.every_k = 1, .start = 0.5, .end = 1.0}, &p, 0, &C, NULL);
        CHECK(st == VL_OK, "clip [0.5, 1.0): %s", vl_errmsg());
        check_frames("h264.mp4 all [0.5, 1.0)", &C, want, n, 30.0, NULL, 1);
        /* off the grid, mid-GOP: start 45.5 frames in; rate mode gives 45, every-k 46 */
        double s = 45.5 / 30.0;
        st = run(a, (vl_sample_opts){.fps = 30, .start = s, .max_frames = 3}, &p, 0, &C, NULL);
        CHECK(st == VL_OK, "seek rate: %s", vl_errmsg());
        check_frames("h264.mp4 30 fps from 45.5/30 s", &C, (int[]){45, 46, 47}, 3, 30.0, NULL, 1);
        st = run(a, (vl_sample_opts){.every_k = 1, .start = s, .max_frames = 3}, &p, 0, &C, NULL);
        CHECK(st == VL_OK, "seek every: %s", vl_errmsg());
        check_frames("h264.mp4 all from 45.5/30 s", &C, (int[]){46, 47, 48}, 3, 30.0, NULL, 1);
        /* the last frame: start inside it */
        st = run(a, (vl_sample_opts){.fps = 30, .start = 89.5 / 30.0}, &p, 0, &C, NULL);
        CHECK(st == VL_OK, "start in last frame: %s", vl_errmsg());
        check_frames("h264.mp4 30 fps from 89.5/30 s", &C, (int[]){89}, 1, 30.0, NULL, 1);
    }
    if (vid_ok[3]) { /* MJPEG in AVI: every frame a keyframe */
        n = 0;
        for (int i = 13; i < 30; i++)
            want[n++] = i;
        st = run(tfile(VIDS[3].name), (vl_sample_opts){.every_k = 1, .start = 12.5 / 25, .end = 29.5 / 25}, &p, 0, &C,
                 NULL);
        CHECK(st == VL_OK, "mjpeg clip: %s", vl_errmsg());
        check_frames("mjpeg.avi all [12.5, 29.5)/25 s", &C, want, n, 25.0, NULL, 1);
    }
    if (vfr_ok) { /* VFR after a seek: the frame on screen at each target. Its source frame number is not
                   * checked: this MKV has no per-frame index and declares a constant nominal rate, so after a
                   * seek the number is estimated from time (documented in video.h); frames, times and pixels
                   * are exact, and numbers are exact without a seek (checked above). */
        n = 0;
        for (int j = 0; 1.3 + 0.1 * j < 2.2 - 1e-9; j++)
            want[n++] = vfr_on_screen(1.3 + 0.1 * j);
        st = run(tfile("vfr.mkv"), (vl_sample_opts){.fps = 10, .start = 1.3, .end = 2.2}, &p, 0, &C, NULL);
        CHECK(st == VL_OK, "vfr clip: %s", vl_errmsg());
        check_frames("vfr.mkv 10 fps [1.3, 2.2)", &C, want, n, 0, VFR_T, 0);
    }
}

static void test_batches(void)
{
    if (!vid_ok[0])
        return;
    const char *a = tfile(VIDS[0].name);
    vl_preproc p = raw_pre(PW, PH);
    int64_t ns;
    /* batch 7 over 90 frames: 12 x 7 + 6 */
    vl_status st = run(a, (vl_sample_opts){.every_k = 1, .batch = 7}, &p, 0, &C, &ns);
    CHECK(st == VL_OK && ns == 90 && C.nb == 13 && C.bad_first == 0, "batch 7: %s ns %lld nb %d", vl_errmsg(),
          (long long)ns, C.nb);
    int sizes_ok = 1;
    for (int i = 0; i < C.nb && i < MAXB; i++)
        sizes_ok &= C.bn[i] == (i < 12 ? 7 : 6);
    CHECK(sizes_ok, "batch 7: sizes not 7,...,7,6");
    /* one batch larger than the video */
    st = run(a, (vl_sample_opts){.every_k = 1, .batch = 100}, &p, 0, &C, &ns);
    CHECK(st == VL_OK && ns == 90 && C.nb == 1 && C.bn[0] == 90, "batch 100: nb %d n0 %d", C.nb, C.bn[0]);
    /* default batch 16 */
    st = run(a, (vl_sample_opts){.every_k = 1}, &p, 0, &C, &ns);
    CHECK(st == VL_OK && C.nb == 6 && C.bn[0] == 16 && C.bn[5] == 10, "default batch: nb %d", C.nb);
    /* early stop: the sink returns 1 after the second batch */
    C.stop_after = 2;
    st = run(a, (vl_sample_opts){.every_k = 1, .batch = 5}, &p, 0, &C, &ns);
    CHECK(st == VL_OK && C.nb == 2 && ns == 10, "early stop: %s nb %d ns %lld", vl_errmsg(), C.nb, (long long)ns);
    /* stop on the very first batch, rate mode */
    C.stop_after = 1;
    st = run(a, (vl_sample_opts){.fps = 60, .batch = 3}, &p, 0, &C, &ns);
    CHECK(st == VL_OK && C.nb == 1 && ns == 3, "stop on first: %s nb %d ns %lld", vl_errmsg(), C.nb, (long long)ns);
    C.stop_after = 0;
    /* max_frames */
    st = run(a, (vl_sample_opts){.every_k = 1, .batch = 4, .max_frames = 10}, &p, 0, &C, &ns);
    CHECK(st == VL_OK && ns == 10 && C.nb == 3 && C.bn[0] == 4 && C.bn[1] == 4 && C.bn[2] == 2 && C.bad_first == 0,
          "max_frames 10 batch 4: ns %lld nb %d", (long long)ns, C.nb);
    check_frames("max_frames 10", &C, (int[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10, 30.0, NULL, 1);
    st = run(a, (vl_sample_opts){.fps = 5, .max_frames = 3}, &p, 0, &C, &ns);
    CHECK(st == VL_OK && ns == 3, "max_frames rate: ns %lld", (long long)ns);
    check_frames("max_frames 3 at 5 fps", &C, (int[]){0, 6, 12}, 3, 30.0, NULL, 1);
    /* max_frames exactly at a batch boundary */
    st = run(a, (vl_sample_opts){.every_k = 2, .batch = 4, .max_frames = 8}, &p, 0, &C, &ns);
    CHECK(st == VL_OK && ns == 8 && C.nb == 2, "max_frames 8 batch 4: ns %lld nb %d", (long long)ns, C.nb);
}

/* Pixel values through resizes, crops, channel orders, layouts and normalisation. */
static void test_pixels(void)
{
    double worst, mean;
    int cnt;
    vl_status st;
    if (vid_ok[0]) {
        const char *a = tfile(VIDS[0].name);
        /* EXACT, aspect not kept: 100 x 80 */
        vl_preproc p = raw_pre(100, 80);
        float *f = malloc(sizeof(float) * 3 * 200 * 200), *g = malloc(sizeof(float) * 3 * 200 * 200);
        C.keep = f;
        C.keep_at = 0;
        st = run(a, (vl_sample_opts){.every_k = 1, .max_frames = 1}, &p, 0, &C, NULL);
        CHECK(st == VL_OK && C.n == 1, "exact 100x80: %s", vl_errmsg());
        pattern_error(f, 100, 80, 0, PW / 100.0, PH / 80.0, 0, 0, 0, 5, &worst, &mean, &cnt);
        CHECK(cnt > 2000 && worst < 24.0 && mean < 4.0, "exact 100x80 vs pattern: worst %.1f mean %.2f over %d px",
              worst, mean, cnt);
        /* SHORTER to 72 (176x144 -> 88x72), centre crop 64x64: offset (12, 4) */
        p = raw_pre(64, 64);
        p.resize = VL_RESIZE_SHORTER;
        p.resize_to = 72;
        st = run(a, (vl_sample_opts){.every_k = 1, .max_frames = 1}, &p, 0, &C, NULL);
        CHECK(st == VL_OK && C.n == 1, "shorter 72 crop 64: %s", vl_errmsg());
        pattern_error(f, 64, 64, 0, 2.0, 2.0, 12, 4, 0, 5, &worst, &mean, &cnt);
        CHECK(cnt > 1500 && worst < 24.0 && mean < 4.0, "shorter+crop vs pattern: worst %.1f mean %.2f over %d px",
              worst, mean, cnt);
        /* an off-centre crop must not pass the same check (the check can fail) */
        pattern_error(f, 64, 64, 0, 2.0, 2.0, 0, 0, 0, 5, &worst, &mean, &cnt);
        CHECK(worst > 100.0, "pattern check cannot tell a misplaced crop (worst %.1f)", worst);
        /* SHORTER with the default resize_to (max(W,H)): 144 -> 120, 176 -> 147, crop 120x120 at (13, 0) */
        p = raw_pre(120, 120);
        p.resize = VL_RESIZE_SHORTER;
        p.resize_to = 0;
        st = run(a, (vl_sample_opts){.every_k = 1, .max_frames = 1}, &p, 0, &C, NULL);
        CHECK(st == VL_OK && C.n == 1, "shorter default: %s", vl_errmsg());
        pattern_error(f, 120, 120, 0, 144.0 / 120, 144.0 / 120, 13, 0, 0, 5, &worst, &mean, &cnt);
        CHECK(cnt > 4000 && worst < 24.0 && mean < 4.0, "shorter default vs pattern: worst %.1f mean %.2f over %d px",
              worst, mean, cnt);
        /* BGR: the same frame with channels reversed */
        p = raw_pre(PW, PH);
        st = run(a, (vl_sample_opts){.every_k = 1, .max_frames = 1}, &p, 0, &C, NULL);
        p.bgr = 1;
        C.keep = g;
        st |= run(a, (vl_sample_opts){.every_k = 1, .max_frames = 1}, &p, 0, &C, NULL);
        CHECK(st == VL_OK, "bgr: %s", vl_errmsg());
        int bad = 0;
        for (int i = 0; i < PW * PH; i++)
            for (int c = 0; c < 3; c++)
                bad += f[3 * i + c] != g[3 * i + 2 - c];
        CHECK(bad == 0, "BGR is not RGB reversed on %d values", bad);
        pattern_error(g, PW, PH, 1, 1.0, 1.0, 0, 0, 0, 3, &worst, &mean, &cnt);
        CHECK(worst < 24.0, "BGR vs pattern: worst %.1f", worst);
        /* the red patch is red: R high in RGB, the first channel low in BGR */
        const float *r = f + ((size_t)80 * PW + 32) * 3, *rb = g + ((size_t)80 * PW + 32) * 3;
        CHECK(r[0] > 200 && r[1] < 50 && r[2] < 50 && rb[2] > 200 && rb[0] < 50, "red patch RGB (%g %g %g) BGR (%g %g %g)",
              r[0], r[1], r[2], rb[0], rb[1], rb[2]);
        /* NCHW vs NHWC: same values transposed (normalised, cropped, BGR) */
        vl_preproc_imagenet(&p);
        p.width = 64;
        p.height = 48;
        p.resize_to = 72;
        p.bgr = 1;
        p.nhwc = 1;
        C.keep = f;
        st = run(a, (vl_sample_opts){.every_k = 1, .max_frames = 1, .start = 1.0}, &p, 0, &C, NULL);
        p.nhwc = 0;
        C.keep = g;
        st |= run(a, (vl_sample_opts){.every_k = 1, .max_frames = 1, .start = 1.0}, &p, 0, &C, NULL);
        CHECK(st == VL_OK, "layouts: %s", vl_errmsg());
        bad = 0;
        for (int y = 0; y < 48; y++)
            for (int x = 0; x < 64; x++)
                for (int c = 0; c < 3; c++)
                    bad += f[((size_t)y * 64 + x) * 3 + c] != g[(size_t)c * 48 * 64 + (size_t)y * 64 + x];
        CHECK(bad == 0, "NCHW is not NHWC transposed on %d values", bad);
        free(f);
        free(g);
        C.keep = NULL;
    }
    if (flat_ok) { /* mean/std arithmetic on a flat (100, 150, 200) frame */
        const char *fl = tfile("flat.mp4");
        vl_preproc raw = raw_pre(64, 48), nrm;
        vl_preproc_imagenet(&nrm);
        nrm.width = 64;
        nrm.height = 48;
        nrm.resize = VL_RESIZE_EXACT;
        float *f = malloc(sizeof(float) * 3 * 64 * 48), *g = malloc(sizeof(float) * 3 * 64 * 48);
        for (int bgr = 0; bgr < 2; bgr++) {
            raw.bgr = nrm.bgr = bgr;
            nrm.scale = bgr ? 1.0f : 1.0f / 255.0f; /* BGR: caffe-style 0..255 scale */
            if (bgr) {
                nrm.mean[0] = 103.94f, nrm.mean[1] = 116.78f, nrm.mean[2] = 123.68f;
                nrm.std[0] = 57.375f, nrm.std[1] = 57.12f, nrm.std[2] = 58.395f;
            }
            C.keep = f;
            C.keep_at = 2;
            st = run(fl, (vl_sample_opts){.every_k = 1}, &raw, 0, &C, NULL);
            CHECK(st == VL_OK && C.n == 5, "flat raw: %s", vl_errmsg());
            C.keep = g;
            st = run(fl, (vl_sample_opts){.every_k = 1}, &nrm, 0, &C, NULL);
            CHECK(st == VL_OK && C.n == 5, "flat normalised: %s", vl_errmsg());
            int bad_raw = 0, bad_arith = 0, bad_value = 0;
            const int P = 64 * 48;
            for (int i = 0; i < P; i++)
                for (int c = 0; c < 3; c++) {
                    float v = f[3 * i + c];
                    if (fabsf(v - FLAT[bgr ? 2 - c : c]) > 4.0f)
                        bad_raw++;
                    float want = (v * nrm.scale - nrm.mean[c]) / nrm.std[c];
                    float got = g[(size_t)c * P + i];
                    if (fabsf(got - want) > 1e-5f * (1.0f + fabsf(want)))
                        bad_arith++;
                    float ideal = ((float)FLAT[bgr ? 2 - c : c] * nrm.scale - nrm.mean[c]) / nrm.std[c];
                    if (fabsf(got - ideal) > 4.0f * nrm.scale / nrm.std[c] + 1e-5f)
                        bad_value++;
                }
            CHECK(bad_raw == 0, "flat frame (bgr %d): %d raw values not within 4 of (100,150,200)", bgr, bad_raw);
            CHECK(bad_arith == 0, "flat frame (bgr %d): %d values not (v*scale-mean)/std", bgr, bad_arith);
            CHECK(bad_value == 0, "flat frame (bgr %d): %d normalised values far from the ideal", bgr, bad_value);
            CHECK(C.flat_frames == 5, "flat frame (bgr %d): %d of 5 frames flat", bgr, C.flat_frames);
        }
        C.keep = NULL;
        free(f);
        free(g);
    }
}

/* Luma-only output (vl_preproc.grey): one plane, full range, the same
 * luminance the RGB output gives (Rec. 601 weights) within rounding. */
typedef struct {
    int n, at;
    float *keep;
    size_t fsize;
} grey_collect;

static int grey_sink(void *user, const vl_frame_batch *b)
{
    grey_collect *c = user;
    for (int i = 0; i < b->n; i++, c->n++)
        if (c->n == c->at)
            memcpy(c->keep, b->pixels + (size_t)i * c->fsize, sizeof(float) * c->fsize);
    return 0;
}

static void test_grey(void)
{
    const char *files[2] = {vid_ok[0] ? tfile(VIDS[0].name) : NULL, flat_ok ? tfile("flat.mp4") : NULL};
    for (int v = 0; v < 2; v++) {
        if (!files[v])
            continue;
        vl_preproc rgb = raw_pre(PW, PH), grey = rgb;
        rgb.nhwc = 0;
        grey.nhwc = 0;
        grey.grey = 1;
        CHECK(vl_preproc_frame_size(&grey) == PW * PH, "a grey frame is one plane");
        float *a = malloc(sizeof(float) * 3 * PW * PH), *g = malloc(sizeof(float) * PW * PH);
        grey_collect ca = {.at = 3, .keep = a, .fsize = 3 * PW * PH}, cg = {.at = 3, .keep = g, .fsize = PW * PH};
        vl_status st = vl_video_stream(files[v], &(vl_sample_opts){.every_k = 1}, &rgb, grey_sink, &ca, NULL);
        vl_status st2 = vl_video_stream(files[v], &(vl_sample_opts){.every_k = 1}, &grey, grey_sink, &cg, NULL);
        CHECK(st == VL_OK && st2 == VL_OK && ca.n == cg.n && cg.n > 3, "grey stream: %s", vl_errmsg());
        int bad = 0;
        float worst = 0;
        for (int i = 0; i < PW * PH; i++) {
            float y = 0.299f * a[i] + 0.587f * a[PW * PH + i] + 0.114f * a[2 * PW * PH + i];
            float e = fabsf(g[i] - y);
            worst = e > worst ? e : worst;
            bad += e > 4.0f;
        }
        CHECK(bad == 0, "%s: luma output within 4 of the RGB output's luminance (worst %.1f)", files[v], worst);
        if (v == 1) { /* flat (100, 150, 200): Y = 140.75 */
            int off = 0;
            for (int i = 0; i < PW * PH; i++)
                off += fabsf(g[i] - 140.75f) > 4.0f;
            CHECK(off == 0, "flat frame's luma is 140.75 within 4 (%d pixels off; first %.1f)", off, g[0]);
        }
        free(a);
        free(g);
    }
}

/* rotation=90: frames come out rotated clockwise to 144 x 176. */
static void test_rotation(void)
{
    if (!rot_ok)
        return;
    const char *r = tfile("rot90.mp4");
    vl_preproc p = raw_pre(PH, PW); /* display size */
    float *f = malloc(sizeof(float) * 3 * PW * PH);
    C.keep = f;
    C.keep_at = 5;
    int want[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    vl_status st = run(r, (vl_sample_opts){.every_k = 1}, &p, 90, &C, NULL);
    CHECK(st == VL_OK, "rot90: %s", vl_errmsg());
    check_frames("rot90.mp4 (bits read on the right edge)", &C, want, 10, 30.0, NULL, 1);
    /* coded (x, y) shows at display (PH-1-y, x): red patch centre (32, 80) -> (63, 32),
     * blue (144, 80) -> (63, 144); the top-left of the coded frame is the top-right */
    const float *red = f + ((size_t)32 * PH + 63) * 3, *blue = f + ((size_t)144 * PH + 63) * 3;
    CHECK(red[0] > 200 && red[1] < 50 && red[2] < 50, "rot90: red patch not at (63, 32): (%g %g %g)", red[0], red[1],
          red[2]);
    CHECK(blue[2] > 200 && blue[0] < 50, "rot90: blue patch not at (63, 144): (%g %g %g)", blue[0], blue[1], blue[2]);
    const float *mark = f + ((size_t)(9 * BLK + 8) * PH + (PH - 9)) * 3; /* white marker block 9 */
    CHECK(mark[0] > 200 && mark[1] > 200 && mark[2] > 200, "rot90: marker block not at the right edge");
    /* unrotated it would be 176 wide: an EXACT resize to the coded size reads no frame numbers */
    p = raw_pre(PW, PH);
    st = run(r, (vl_sample_opts){.every_k = 1, .max_frames = 1}, &p, 0, &C, NULL);
    CHECK(st == VL_OK && C.n == 1 && C.fno[0] < 0, "rot90 squeezed to coded size still reads as unrotated");
    free(f);
    C.keep = NULL;
}

/* ---- 6. robustness ----------------------------------------------------------------------- */

static int copy_prefix(const char *from, const char *to, double frac)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return 0;
    fseek(in, 0, SEEK_END);
    long n = ftell(in), keep = (long)(n * frac);
    fseek(in, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    size_t got = fread(buf, 1, (size_t)n, in);
    fclose(in);
    FILE *out = fopen(to, "wb");
    int ok = out && got == (size_t)n && fwrite(buf, 1, (size_t)keep, out) == (size_t)keep;
    if (out)
        fclose(out);
    free(buf);
    return ok;
}

static void put_le(FILE *f, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        fputc((v >> (8 * i)) & 255, f);
}

/* Expects an error naming `path` from both probe and stream. */
static void expect_error(const char *what, const char *path, vl_sample_opts o, int probe_too)
{
    vl_preproc p = raw_pre(PW, PH);
    vl_video_info in;
    if (probe_too) {
        vl_status st = vl_video_probe(path, &in);
        CHECK(st != VL_OK && errmsg_has(path), "%s: probe gave %s '%s'", what, vl_status_str(st), vl_errmsg());
    }
    int64_t ns = -1;
    vl_status st = run(path, o, &p, 0, &C, &ns);
    CHECK(st != VL_OK && errmsg_has(path), "%s: stream gave %s '%s' (%lld frames)", what, vl_status_str(st),
          vl_errmsg(), (long long)ns);
}

static void test_errors(void)
{
    vl_sample_opts all = {.every_k = 1};
    expect_error("missing file", tfile("no-such-file.mp4"), all, 1);
    expect_error("directory", tmpdir, all, 1);
    const char *empty = tfile("empty.mp4");
    FILE *f = fopen(empty, "wb");
    if (f)
        fclose(f);
    expect_error("zero-byte file", empty, all, 1);

    /* garbage bytes named .mp4 */
    const char *junk = tfile("garbage.mp4");
    f = fopen(junk, "wb");
    uint64_t s = 0x243F6A8885A308D3ULL;
    for (int i = 0; i < 65536 && f; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        fputc((int)(s >> 56), f);
    }
    if (f)
        fclose(f);
    expect_error("garbage .mp4", junk, all, 1);

    /* audio only: 0.5 s of 8 kHz 16-bit mono PCM in a hand-written WAV */
    const char *wav = tfile("audio.wav");
    f = fopen(wav, "wb");
    if (f) {
        const uint32_t n = 4000, bytes = 2 * n;
        fwrite("RIFF", 1, 4, f);
        put_le(f, 36 + bytes, 4);
        fwrite("WAVEfmt ", 1, 8, f);
        put_le(f, 16, 4);
        put_le(f, 1, 2);        /* PCM */
        put_le(f, 1, 2);        /* mono */
        put_le(f, 8000, 4);     /* rate */
        put_le(f, 16000, 4);    /* bytes per second */
        put_le(f, 2, 2);        /* block align */
        put_le(f, 16, 2);       /* bits */
        fwrite("data", 1, 4, f);
        put_le(f, bytes, 4);
        for (uint32_t i = 0; i < n; i++)
            put_le(f, (uint32_t)(int32_t)(8000.0 * sin(2.0 * 3.14159265358979 * 440.0 * i / 8000.0)) & 0xffff, 2);
        fclose(f);
    }
    expect_error("audio-only WAV", wav, all, 1);
    if (!errmsg_has("no video stream"))
        CHECK(0, "audio-only: message does not say there is no video stream: '%s'", vl_errmsg());

    if (vid_ok[0]) {
        const char *a = tfile(VIDS[0].name);
        /* MP4 cut to 40%. Our writer puts the index (moov) first, so the
         * header survives and only reading the frames can tell. */
        const char *t = tfile("trunc.mp4");
        CHECK(copy_prefix(a, t, 0.4), "cannot write %s", t);
        expect_error("MP4 (index first) cut to 40%", t, all, 0);
        CHECK(strstr(vl_errmsg(), "truncated"), "says truncated: %s", vl_errmsg());
        /* The same with the index at the end (ffmpeg's default): even the header is gone. */
        char cmd[1200];
        const char *tl = tfile("indexlast.mp4"), *tt = tfile("trunc_last.mp4");
        snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -i '%s' -c copy -f mp4 '%s'", a, tl);
        if (system(cmd) == 0) {
            CHECK(copy_prefix(tl, tt, 0.4), "cannot write %s", tt);
            expect_error("MP4 (index last) cut to 40%", tt, all, 1);
        } else {
            printf("skipped: the index-last MP4 case needs the ffmpeg command\n");
        }
        /* clip end beyond the video, start beyond the end */
        expect_error("clip end 5 s in a 3 s video", a, (vl_sample_opts){.every_k = 1, .end = 5.0}, 0);
        CHECK(errmsg_has("shorter"), "clip end: message '%s'", vl_errmsg());
        expect_error("clip end 5 s in a 3 s video, by rate", a, (vl_sample_opts){.fps = 10, .start = 2.0, .end = 5.0},
                     0);
        expect_error("start 10 s in a 3 s video", a, (vl_sample_opts){.every_k = 1, .start = 10.0}, 0);
        CHECK(errmsg_has("beyond"), "start beyond: message '%s'", vl_errmsg());
        expect_error("start 3.5 s in a 3 s video, by rate", a, (vl_sample_opts){.fps = 5, .start = 3.5}, 0);
        /* bad arguments also name the file */
        expect_error("end before start", a, (vl_sample_opts){.every_k = 1, .start = 2.0, .end = 1.0}, 0);
    }
    if (vid_ok[1]) {
        /* MKV cut to 60%: a clear error, or fewer frames than the whole file; never a crash */
        const char *t = tfile("trunc.mkv");
        CHECK(copy_prefix(tfile(VIDS[1].name), t, 0.6), "cannot write %s", t);
        vl_preproc p = raw_pre(PW, PH);
        int64_t ns = -1;
        vl_status st = run(t, all, &p, 0, &C, &ns);
        CHECK((st != VL_OK && errmsg_has(t)) || (st == VL_OK && ns > 0 && ns < VIDS[1].n),
              "MKV cut to 60%%: %s '%s', %lld frames of %d", vl_status_str(st), vl_errmsg(), (long long)ns, VIDS[1].n);
        if (st == VL_OK) { /* what it does deliver is the start of the video, in order */
            int ok = 1;
            for (int i = 0; i < C.n && i < MAXF; i++)
                ok &= C.fno[i] == i || (i == C.n - 1 && C.fno[i] < 0); /* the last may be damaged */
            CHECK(ok, "MKV cut to 60%%: delivered frames are not 0, 1, 2, ...");
        }
        vl_video_info in;
        st = vl_video_probe(t, &in);
        CHECK(st == VL_OK || errmsg_has(t), "MKV cut to 60%%: probe: '%s'", vl_errmsg());
    }
}

/* ---- 7. a real-world video --------------------------------------------------------------- */

static int exists(const char *p) { return file_size(p) > 0; }

static void test_realworld(const char *arg)
{
    static const char *sys = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
    char gz[512], path[512] = "";
    if (exists(sys))
        snprintf(path, sizeof path, "%s", sys);
    else if (arg && exists(arg))
        snprintf(path, sizeof path, "%s", arg);
    else {
        snprintf(gz, sizeof gz, "%s.gz", sys);
        if (!exists(gz) && arg)
            snprintf(gz, sizeof gz, "%s.gz", arg);
        if (exists(gz)) {
            const char *out = tfile("vtest.avi");
            char cmd[1400];
            snprintf(cmd, sizeof cmd, "gzip -dc '%.500s' > '%.400s'", gz, out);
            if (system(cmd) == 0 && exists(out))
                snprintf(path, sizeof path, "%.400s", out);
        }
    }
    if (!path[0]) {
        printf("SKIP real-world video: vtest.avi not found (install opencv-doc, or run "
               "tests/video_fetch_realworld.sh DIR and pass DIR/vtest.avi)\n");
        return;
    }
    vl_video_info in;
    vl_status st = vl_video_probe(path, &in);
    CHECK(st == VL_OK, "probe %s: %s", path, vl_errmsg());
    if (st)
        return;
    CHECK(in.width >= 160 && in.width <= 4096 && in.height >= 120 && in.height <= 4096, "vtest: size %dx%d", in.width,
          in.height);
    CHECK(in.fps >= 5 && in.fps <= 60, "vtest: fps %g", in.fps);
    CHECK(in.frames >= 100 && in.duration > 5, "vtest: %lld frames, %.2f s", (long long)in.frames, in.duration);
    vl_preproc p = raw_pre(96, 72);
    int64_t ns = -1;
    st = run(path, (vl_sample_opts){.every_k = 1, .batch = 32}, &p, 0, &C, &ns);
    CHECK(st == VL_OK, "decode %s: %s", path, vl_errmsg());
    CHECK(llabs(ns - in.frames) <= 1, "vtest: decoded %lld frames, header says %lld", (long long)ns,
          (long long)in.frames);
    CHECK(C.flat_frames == 0 && C.vmin < 40 && C.vmax > 200, "vtest: %d flat frames, range %g..%g", C.flat_frames,
          C.vmin, C.vmax);
    int mono = 1;
    for (int i = 1; i < C.n && i < MAXF; i++)
        mono &= C.pts[i] > C.pts[i - 1] && C.idx[i] == i;
    CHECK(mono, "vtest: timestamps not increasing or indices not 0, 1, 2, ...");
    CHECK(C.n > 1 && fabs(C.pts[C.n - 1] - (C.n - 1) / in.fps) < 0.5 / in.fps, "vtest: last pts %.3f for %lld frames",
          C.n ? C.pts[C.n - 1] : 0.0, (long long)C.n);
    printf("real-world video: %s: %dx%d, %.3f fps, %lld frames, codec %s\n", path, in.width, in.height, in.fps,
           (long long)ns, in.codec);
}

/* ---- main --------------------------------------------------------------------------------- */

static void section(void (*fn)(void))
{
    alarm(60);
    fn();
    alarm(0);
}

static const char *rw_arg;
static void realworld(void) { test_realworld(rw_arg); }

int main(int argc, char **argv)
{
    signal(SIGALRM, on_alarm);
    rw_arg = argc > 1 ? argv[1] : NULL;
    snprintf(tmpdir, sizeof tmpdir, "%s/vl_video_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    section(make_videos);
    section(test_probe);
    section(test_decode_all);
    section(test_rate);
    section(test_every_k);
    section(test_all_frames);
    section(test_clip);
    section(test_batches);
    section(test_pixels);
    section(test_grey);
    section(test_rotation);
    section(test_errors);
    section(realworld);
    if (getenv("VL_TEST_KEEP")) { /* debugging: keep the videos */
        printf("kept %s\n", tmpdir);
        return check_summary();
    }
    for (int i = 0; i < nmade; i++)
        remove(made[i]);
    CHECK(rmdir(tmpdir) == 0, "scratch folder %s not empty after the test (leftover temp files?)", tmpdir);
    return check_summary();
}
