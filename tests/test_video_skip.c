/* Skipping unsampled frames (issue 13): vl_video_stream leaves undecoded the
 * frames no sampled time needs (H.264 non-reference frames through
 * AVDISCARD_NONREF; intra-only codecs' packets not sent at all). What it
 * delivers must be exactly what decoding every frame (VL_DECODE_ALL=1)
 * delivers: every batch's size and `first`, each frame's pixels, target time,
 * pts, index and steps, the sampled count and the status, compared byte for
 * byte, on videos the test makes (vl_video_writer, in a mkdtemp folder):
 * - H.264 with B-frames (3, B-pyramid: non-reference B-frames to skip), MP4,
 *   30 fps, keyframe every 30; and at 25 fps, where the rates 5 and 12.5 put
 *   sample times exactly on frame boundaries;
 * - H.264 with B-frames, variable frame rate (MKV, irregular gaps);
 * - the first one cut mid-GOP by `ffmpeg -ss 1.3 -c copy` (when the command
 *   is there): an MP4 edit list whose leading packets the demuxer flags
 *   AV_PKT_FLAG_DISCARD (decoded, their frames dropped);
 * - H.264 without B-frames (every frame a reference: nothing to skip);
 * - HEVC (x265, 4 B-frames, one temporal sub-layer) in MP4, when FFmpeg has
 *   libx265 (else SKIP);
 * - MJPEG in AVI (intra-only: unneeded packets are not decoded at all);
 * - VP9 (skips nothing: invisible frames) as a control;
 * with rates below, at and above the source's (by timestamps), every k-th
 * frame, clips starting mid-GOP (after a seek) and ending mid-video or
 * exactly at the end of the stream, max_frames, batch sizes 1 and 7, one
 * decoding thread and automatic threads, and all_frames mode (nothing may be
 * skipped there). The profiler (VL_PROFILE=1) must report skipped frames
 * where skipping pays (else the test would pass with skipping broken off),
 * none with VL_DECODE_ALL=1 or in all_frames mode. The real-world video
 * (argv[1], tests/video_fetch_realworld.sh) and any files given after it
 * (e.g. the benchmark's clips) go through the same comparison. */
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
static char made[24][320];
static int nmade;

static const char *tfile(const char *name)
{
    snprintf(made[nmade], sizeof made[nmade], "%s/%s", tmpdir, name);
    return made[nmade++];
}

/* ---- videos ---------------------------------------------------------------------------- */

enum { W = 96, H = 64 };

/* Moving gradient, a frame-dependent block and noise: every frame differs,
 * and inter prediction has work to do. */
static void paint(uint8_t *rgb, int fno)
{
    uint32_t s = 2654435761u * (uint32_t)(fno + 1);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            s = s * 1664525u + 1013904223u;
            uint8_t *p = rgb + 3 * (y * W + x);
            int bx = (fno * 3) % W, in = x >= bx && x < bx + 16 && y >= 20 && y < 36;
            p[0] = (uint8_t)((x * 2 + fno * 5) & 255);
            p[1] = (uint8_t)(in ? 240 : (y * 3 + fno) & 255);
            p[2] = (uint8_t)((128 + (int)(s >> 28)) & 255);
        }
}

static int make(const char *path, const char *codec, int fps, int n, int bframes, const double *times)
{
    vl_writer_opts o = {.codec = codec, .width = W, .height = H, .fps_num = fps, .fps_den = 1, .vfr = times != NULL,
                        .gop = 30, .bframes = bframes};
    vl_video_writer *w;
    vl_status st = vl_video_writer_open(path, &o, &w);
    if (st == VL_ERR_UNSUPPORTED && !strcmp(codec, "libx265")) { /* an FFmpeg built without x265 */
        printf("SKIP %s: %s\n", path, vl_errmsg());
        return 0;
    }
    CHECK(st == VL_OK, "writer open %s: %s", path, vl_errmsg());
    if (st)
        return 0;
    uint8_t *rgb = malloc((size_t)W * H * 3);
    for (int i = 0; i < n && !st; i++) {
        paint(rgb, i);
        st = vl_video_writer_add(w, rgb, times ? times[i] : (double)i / fps);
    }
    free(rgb);
    if (st) {
        CHECK(0, "writer add %s: %s", path, vl_errmsg());
        vl_video_writer_abort(w);
        return 0;
    }
    st = vl_video_writer_close(w);
    CHECK(st == VL_OK, "writer close %s: %s", path, vl_errmsg());
    return st == VL_OK;
}

/* ---- one stream, everything it delivers ------------------------------------------------- */

enum { MAXF = 4096 };
typedef struct {
    int64_t fsize;
    int64_t n, nsampled;
    int nb;
    uint64_t batch_hash;   /* n and first of every batch, in order */
    uint64_t h[MAXF];      /* per delivered frame: pixels, time, pts, index, steps */
    vl_status st;
    char err[512];
    int64_t skipped;       /* frames the profiler counts as skipped in this run */
} result;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int sink(void *user, const vl_frame_batch *b)
{
    result *r = user;
    r->batch_hash = fnv(r->batch_hash, &b->n, sizeof b->n);
    r->batch_hash = fnv(r->batch_hash, &b->first, sizeof b->first);
    r->nb++;
    for (int i = 0; i < b->n; i++, r->n++) {
        uint64_t h = 1469598103934665603ull;
        h = fnv(h, b->pixels + (size_t)i * r->fsize, sizeof(float) * (size_t)r->fsize);
        h = fnv(h, &b->time[i], sizeof(double));
        h = fnv(h, &b->pts[i], sizeof(double));
        h = fnv(h, &b->index[i], sizeof(int64_t));
        int steps = b->steps ? b->steps[i] : -1;
        h = fnv(h, &steps, sizeof steps);
        if (r->n < MAXF)
            r->h[r->n] = h;
    }
    return 0;
}

static result RA, RB; /* large: static */

static void run(const char *path, const vl_sample_opts *o, const vl_preproc *pre, int all, result *r)
{
    memset(r, 0, sizeof *r);
    r->fsize = vl_preproc_frame_size(pre);
    r->batch_hash = 1469598103934665603ull;
    if (all)
        setenv("VL_DECODE_ALL", "1", 1);
    else
        unsetenv("VL_DECODE_ALL");
    vl_video_profile p0, p1;
    vl_video_profile_get(&p0);
    r->st = vl_video_stream(path, o, pre, sink, r, &r->nsampled);
    vl_video_profile_get(&p1);
    unsetenv("VL_DECODE_ALL");
    r->skipped = p1.skipped - p0.skipped;
    if (r->st)
        snprintf(r->err, sizeof r->err, "%s", vl_errmsg());
}

static int64_t total_skipped;

/* Decodes `path` both ways with `o`; everything delivered must be equal.
 * Returns the frames skipped. */
static int64_t same(const char *path, const char *what, vl_sample_opts o)
{
    vl_preproc pre = {.width = 40, .height = 30, .resize = VL_RESIZE_SHORTER, .resize_to = 36, .scale = 1.0f / 255.0f,
                      .mean = {0.5f, 0.4f, 0.3f}, .std = {0.2f, 0.25f, 0.3f}};
    run(path, &o, &pre, 1, &RA);
    run(path, &o, &pre, 0, &RB);
    int64_t first_diff = -1;
    for (int64_t i = 0; i < RA.n && i < RB.n && i < MAXF && first_diff < 0; i++)
        if (RA.h[i] != RB.h[i])
            first_diff = i;
    CHECK(RA.st == RB.st && !strcmp(RA.err, RB.err), "%s %s: status %d '%s' decoding all, %d '%s' skipping", path, what,
          RA.st, RA.err, RB.st, RB.err);
    CHECK(RA.n == RB.n && RA.nsampled == RB.nsampled && RA.nb == RB.nb && RA.batch_hash == RB.batch_hash,
          "%s %s: %lld frames in %d batches (%lld sampled) decoding all, %lld in %d (%lld) skipping", path, what,
          (long long)RA.n, RA.nb, (long long)RA.nsampled, (long long)RB.n, RB.nb, (long long)RB.nsampled);
    CHECK(first_diff < 0, "%s %s: delivered frame %lld differs (pixels, time, pts, index or steps)", path, what,
          (long long)first_diff);
    CHECK(RA.skipped == 0, "%s %s: %lld frames skipped with VL_DECODE_ALL=1", path, what, (long long)RA.skipped);
    CHECK(RA.n > 0 || RA.st != VL_OK, "%s %s: nothing delivered", path, what);
    total_skipped += RB.skipped;
    return RB.skipped;
}

static vl_sample_opts rate(double fps) { return (vl_sample_opts){.fps = fps, .batch = 16}; }

/* The sampling settings every video goes through; returns the frames skipped. */
static int64_t all_settings(const char *path, double duration)
{
    int64_t sk = 0;
    static const double rates[] = {0.5, 1, 2, 3, 5, 7.3, 10, 12.5, 15, 24, 25, 29.97, 30, 60};
    char what[128];
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        snprintf(what, sizeof what, "fps %g", rates[i]);
        sk += same(path, what, rate(rates[i]));
    }
    for (int k = 2; k <= 7; k += (k < 3 ? 1 : 2)) { /* 2, 3, 5, 7 */
        snprintf(what, sizeof what, "every %d", k);
        sk += same(path, what, (vl_sample_opts){.every_k = k, .batch = 16});
    }
    vl_sample_opts o = rate(4);
    o.threads = 1;
    sk += same(path, "fps 4, 1 decoder thread", o);
    o = rate(3);
    o.batch = 1;
    sk += same(path, "fps 3, batch 1", o);
    o = rate(6);
    o.batch = 7;
    o.max_frames = 9;
    sk += same(path, "fps 6, batch 7, max 9", o);
    /* clips: start mid-GOP (a seek where the container allows), end mid-video, end exactly at the end */
    o = rate(5);
    o.start = 1.37;
    o.end = duration - 0.41;
    sk += same(path, "fps 5, clip 1.37 to end-0.41", o);
    o.start = 0.4;
    o.end = duration;
    sk += same(path, "fps 5, clip 0.4 to the end exactly", o);
    o = rate(2);
    o.start = 1.0;
    sk += same(path, "fps 2, from 1.0 s", o);
    o = (vl_sample_opts){.every_k = 4, .start = 1.1, .end = duration - 0.3, .batch = 5};
    sk += same(path, "every 4, clip 1.1 to end-0.3", o);
    o = rate(8);
    o.start = duration - 0.5;
    sk += same(path, "fps 8, the last 0.5 s", o);
    /* all_frames: every frame decoded; nothing may be skipped */
    o = rate(3);
    o.all_frames = 1;
    int64_t af = same(path, "fps 3, all_frames", o);
    CHECK(af == 0, "%s: %lld frames skipped in all_frames mode", path, (long long)af);
    return sk;
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && sb.st_size > 0;
}

int main(int argc, char **argv)
{
    setenv("VL_PROFILE", "1", 1); /* read once, at the first stream */
    if (!vl_profile_enabled()) {
        CHECK(0, "VL_PROFILE=1 did not turn the profiler on");
        return check_summary();
    }
    snprintf(tmpdir, sizeof tmpdir, "%s/vl_vskip_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    static const double vfr_t[] = {0.000, 0.033, 0.087, 0.151, 0.270, 0.283, 0.455, 0.512, 0.698, 0.730, 0.962,
                                   1.004, 1.231, 1.367, 1.399, 1.622, 1.840, 1.871, 2.050, 2.213, 2.250, 2.301,
                                   2.433, 2.467, 2.600, 2.690, 2.702, 2.850, 2.999, 3.100, 3.180, 3.333, 3.401,
                                   3.500, 3.620, 3.700, 3.790, 3.850, 3.990, 4.050};
    const int nvfr = sizeof vfr_t / sizeof vfr_t[0];
    const char *b30 = tfile("bframes30.mp4"), *b25 = tfile("bframes25.mp4"), *vfr = tfile("bframes_vfr.mkv"),
               *nob = tfile("nobframes.mp4"), *mj = tfile("mjpeg.avi"), *vp9 = tfile("vp9.mkv"),
               *hevc = tfile("hevc.mp4");
    int ok30 = make(b30, "libx264", 30, 120, 3, NULL);
    int ok25 = make(b25, "libx264", 25, 100, 3, NULL);
    int okv = make(vfr, "libx264", 30, nvfr, 3, vfr_t);
    int okn = make(nob, "libx264", 30, 75, 0, NULL);
    int okm = make(mj, "mjpeg", 25, 80, 0, NULL);
    int ok9 = make(vp9, "libvpx-vp9", 25, 60, 0, NULL);
    int okh = make(hevc, "libx265", 30, 90, 4, NULL);

    if (ok30) {
        int64_t sk = all_settings(b30, 4.0);
        CHECK(sk > 0, "H.264 with B-frames: no frame skipped in any setting");
        /* 1 of 30 frames sampled: most non-reference B-frames (2 of every 4 frames) need no decoding */
        same(b30, "fps 1 (count)", rate(1));
        CHECK(RB.skipped >= 40, "H.264 with B-frames at 1 fps: %lld of 120 frames skipped (want >= 40)",
              (long long)RB.skipped);
        printf("H.264 B-frames 30 fps: %lld frames skipped over all settings; at 1 fps %lld of 120\n", (long long)sk,
               (long long)RB.skipped);
        /* cut mid-GOP by stream copy: an MP4 edit list, its first packets flagged
         * AV_PKT_FLAG_DISCARD (decoded for reference, their frames dropped) */
        const char *cut = tfile("cut_editlist.mp4");
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -ss 1.3 -i '%s' -c copy '%s' 2>/dev/null", b30, cut);
        vl_video_info in;
        if (system(cmd) == 0 && vl_video_probe(cut, &in) == VL_OK) {
            int64_t skc = all_settings(cut, in.duration);
            CHECK(skc > 0, "H.264 cut with an edit list: no frame skipped");
            printf("H.264 cut with an edit list (%.2f s): %lld skipped\n", in.duration, (long long)skc);
        } else {
            printf("SKIP the edit-list case: needs the ffmpeg command\n");
            remove(cut);
        }
    }
    if (ok25) {
        /* 5 and 12.5 fps: every sample time is exactly a frame's pts (k/5 = frame 5k, k/12.5 = frame 2k) */
        int64_t sk = all_settings(b25, 4.0);
        CHECK(sk > 0, "H.264 25 fps: no frame skipped");
        same(b25, "fps 5 (on frame boundaries)", rate(5));
        CHECK(RB.skipped > 0, "H.264 25 fps at 5 fps: nothing skipped");
        vl_sample_opts o = rate(5);
        o.start = 0.8; /* a frame boundary too */
        o.end = 3.2;
        same(b25, "fps 5, clip 0.8 to 3.2 (boundaries)", o);
    }
    if (okv) {
        int64_t sk = all_settings(vfr, vfr_t[nvfr - 1] + 0.05);
        CHECK(sk > 0, "VFR H.264 with B-frames: no frame skipped");
        /* sample times exactly at frame times */
        vl_sample_opts o = rate(1000.0 / 33.0); /* t = k * 0.033: hits 0.033, 0.231 ... */
        same(vfr, "VFR fps 1000/33", o);
        printf("VFR H.264 B-frames: %lld skipped\n", (long long)sk);
    }
    if (okn) {
        int64_t sk = all_settings(nob, 2.5);
        CHECK(sk == 0, "H.264 without B-frames: %lld frames skipped (all are references)", (long long)sk);
    }
    if (okm) {
        int64_t sk = all_settings(mj, 3.2);
        CHECK(sk > 0, "MJPEG: no frame skipped");
        same(mj, "MJPEG fps 1 (count)", rate(1));
        CHECK(RB.skipped >= 70, "MJPEG at 1 fps: %lld of 80 frames skipped (want >= 70)", (long long)RB.skipped);
    }
    if (okh) { /* x265: one temporal sub-layer, B-frames as TRAIL_N */
        int64_t sk = all_settings(hevc, 3.0);
        CHECK(sk > 0, "HEVC with B-frames: no frame skipped");
        printf("HEVC B-frames: %lld skipped\n", (long long)sk);
    }
    if (ok9) {
        int64_t sk = all_settings(vp9, 2.4);
        CHECK(sk == 0, "VP9: %lld frames skipped (should skip nothing)", (long long)sk);
    }
    for (int i = 1; i < argc; i++) { /* the real-world video, benchmark clips */
        if (!exists(argv[i])) {
            printf("SKIP %s: not present\n", argv[i]);
            continue;
        }
        vl_video_info in;
        if (vl_video_probe(argv[i], &in) != VL_OK) {
            CHECK(0, "%s: %s", argv[i], vl_errmsg());
            continue;
        }
        int64_t before = total_skipped;
        all_settings(argv[i], in.duration);
        printf("%s (%s): %lld frames skipped over all settings\n", argv[i], in.codec,
               (long long)(total_skipped - before));
    }
    if (getenv("VL_TEST_KEEP")) { /* debugging: keep the videos */
        printf("kept %s\n", tmpdir);
        return check_summary();
    }
    for (int i = 0; i < nmade; i++)
        remove(made[i]);
    CHECK(rmdir(tmpdir) == 0, "scratch folder %s not empty", tmpdir);
    printf("%lld frames skipped in all\n", (long long)total_skipped);
    return check_summary();
}
