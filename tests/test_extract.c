/* Cross-clip batching (issue 13): for stateless (ONNX) backbones the
 * extractor packs sampled frames of consecutive clips into shared batches
 * and scatters the features back. Each clip's features, step times and
 * frame numbers must be what clip-by-clip extraction gives (the previous
 * code path, VL_EXTRACT_PER_CLIP=1, and each clip extracted alone): times
 * and frame numbers exactly, features within 1e-5 relative (oneDNN's
 * results may depend on the batch size). Also: one and two workers, fused
 * ONNX backbones, the cache (a second run reads every clip; a fused run
 * with one part cached extracts the other), and a bad clip in the middle of
 * the list (one error naming it, no hang). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/error.h"
#include "pipeline/extract.h"
#include "video/encode.h"

static char tmpdir[256];
#define NV 4
static char vid[NV][300];
static const char *CNN = "tests/fixtures/onnx/headless_resnet.onnx";
static const char *TINY = "tests/fixtures/onnx/tiny.onnx";

/* A textured scene drifting, different per video (seed). */
static int make_video(const char *path, const char *codec, int W, int H, int fps, int n, int seed)
{
    vl_writer_opts o = {.codec = codec, .width = W, .height = H, .fps_num = fps, .fps_den = 1};
    vl_video_writer *w;
    if (vl_video_writer_open(path, &o, &w))
        return 0;
    uint8_t *rgb = malloc((size_t)W * H * 3);
    vl_status st = VL_OK;
    for (int i = 0; i < n && !st; i++) {
        double dx = (2.0 + seed) * i, dy = 6.0 * sin(2 * M_PI * 2.0 * i / fps + seed);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double u = x + dx, v = y + dy;
                uint8_t *p = rgb + 3 * ((size_t)y * W + x);
                p[0] = (uint8_t)(128 + 90 * sin(u * (0.21 + 0.03 * seed)) * cos(v * 0.13));
                p[1] = (uint8_t)(128 + 80 * sin(u * 0.05 + v * 0.11 * (1 + seed)));
                p[2] = (uint8_t)(((int)(u / (9 + seed)) + (int)(v / 9)) % 2 ? 200 : 40);
            }
        st = vl_video_writer_add(w, rgb, (double)i / fps);
    }
    free(rgb);
    if (st) {
        vl_video_writer_abort(w);
        return 0;
    }
    return vl_video_writer_close(w) == VL_OK;
}

/* Clips of uneven lengths (at 10 fps: 16, 14, 7, 21, 3 and 13 steps), so
 * batches of 4 start and end in the middle of clips. */
#define NC 6
static vl_clip clips[NC];

static void set_clips(void)
{
    clips[0] = (vl_clip){.path = vid[0]};
    clips[1] = (vl_clip){.path = vid[1]};
    clips[2] = (vl_clip){.path = vid[2], .start = 0.25, .end = 0.9};
    clips[3] = (vl_clip){.path = vid[3]};
    clips[4] = (vl_clip){.path = vid[0], .start = 1.0, .end = 1.3};
    clips[5] = (vl_clip){.path = vid[1], .start = 0.1};
}

static vl_status run(const char *spec, int per_clip, int jobs, const char *cache, const vl_clip *c, int n,
                     vl_features *out)
{
    if (per_clip)
        setenv("VL_EXTRACT_PER_CLIP", "1", 1);
    else
        unsetenv("VL_EXTRACT_PER_CLIP");
    vl_extract_opts o = {.backbone = spec, .fps = 10, .batch = 4, .jobs = jobs, .cache = cache};
    vl_extractor *x;
    vl_status st = vl_extractor_open(&o, &x);
    unsetenv("VL_EXTRACT_PER_CLIP");
    if (st)
        return st;
    st = vl_extract_clips(x, c, n, out);
    vl_extractor_close(x);
    return st;
}

static void free_all(vl_features *f, int n)
{
    for (int i = 0; i < n; i++)
        vl_features_free(&f[i]);
}

/* got == want: steps, times and frame numbers exactly, features within tol. */
static double compare(const char *what, const vl_features *got, const vl_features *want, int n, double tol)
{
    double worst = 0;
    for (int i = 0; i < n; i++) {
        const vl_features *a = &got[i], *b = &want[i];
        CHECK(a->T == b->T && a->D == b->D && a->T > 0, "%s clip %d: %dx%d, want %dx%d", what, i, a->T, a->D, b->T,
              b->D);
        if (a->T != b->T || a->D != b->D || a->T == 0)
            continue;
        CHECK(!memcmp(a->time, b->time, sizeof(double) * (size_t)a->T), "%s clip %d: step times differ", what, i);
        CHECK(!memcmp(a->index, b->index, sizeof(int64_t) * (size_t)a->T), "%s clip %d: frame numbers differ", what,
              i);
        double e = rel_err(a->x, b->x, (size_t)a->T * a->D);
        worst = e > worst ? e : worst;
    }
    CHECK(worst <= tol, "%s: features differ by %.3g relative (tolerance %.3g)", what, worst, tol);
    printf("  %-58s max rel diff %.3g\n", what, worst);
    return worst;
}

static void test_same_as_per_clip(const char *spec)
{
    vl_features ref[NC], alone[NC], got[NC];
    char what[200];
    vl_status st = run(spec, 1, 1, NULL, clips, NC, ref);
    CHECK(st == VL_OK, "%s clip by clip: %s", spec, vl_errmsg());
    if (st)
        return;
    int steps[NC] = {16, 14, 7, 21, 3, 13};
    for (int i = 0; i < NC; i++)
        CHECK(ref[i].T == steps[i], "%s clip %d: %d steps, want %d", spec, i, ref[i].T, steps[i]);
    /* each clip alone: batches never span clips */
    for (int i = 0; i < NC; i++) {
        st = run(spec, 0, 1, NULL, &clips[i], 1, &alone[i]);
        CHECK(st == VL_OK, "%s clip %d alone: %s", spec, i, vl_errmsg());
    }
    snprintf(what, sizeof what, "%s: each clip alone vs clip by clip", spec);
    compare(what, alone, ref, NC, 1e-5);
    for (int jobs = 1; jobs <= 2; jobs++) {
        st = run(spec, 0, jobs, NULL, clips, NC, got);
        CHECK(st == VL_OK, "%s cross-clip, %d jobs: %s", spec, jobs, vl_errmsg());
        snprintf(what, sizeof what, "%s: cross-clip batches, %d job%s", spec, jobs, jobs > 1 ? "s" : "");
        if (!st)
            compare(what, got, ref, NC, 1e-5);
        int cached = 0;
        for (int i = 0; i < NC; i++)
            cached += got[i].cached;
        CHECK(cached == 0, "%d clips reported cached without a cache", cached);
        free_all(got, NC);
    }
    free_all(alone, NC);
    free_all(ref, NC);
}

static void test_cache(void)
{
    char cache[400];
    snprintf(cache, sizeof cache, "%s/cache", tmpdir);
    vl_features a[NC], b[NC], ref[NC];
    vl_status st = run(CNN, 0, 1, cache, clips, NC, a);
    CHECK(st == VL_OK, "first cached run: %s", vl_errmsg());
    st = st ? st : run(CNN, 0, 1, cache, clips, NC, b);
    CHECK(st == VL_OK, "second cached run: %s", vl_errmsg());
    if (st)
        return;
    int hits = 0;
    for (int i = 0; i < NC; i++)
        hits += b[i].cached && !a[i].cached;
    CHECK(hits == NC, "second run: %d of %d clips from the cache", hits, NC);
    compare("cache: second run (read back) vs first", b, a, NC, 0.0);
    free_all(b, NC);
    /* fused with the CNN cached: the other part is extracted, the CNN's read */
    char fused[600];
    snprintf(fused, sizeof fused, "%s+%s", CNN, TINY);
    st = run(fused, 0, 1, cache, clips, NC, b);
    CHECK(st == VL_OK, "fused, one part cached: %s", vl_errmsg());
    vl_status st2 = run(fused, 1, 1, NULL, clips, NC, ref);
    CHECK(st2 == VL_OK, "fused clip by clip: %s", vl_errmsg());
    if (!st && !st2) {
        int hits2 = 0;
        for (int i = 0; i < NC; i++)
            hits2 += b[i].cached;
        CHECK(hits2 == 0, "fused with one part new: %d clips reported cached", hits2);
        compare("fused, CNN part from the cache vs clip by clip", b, ref, NC, 1e-5);
        free_all(ref, NC);
        free_all(b, NC);
        /* now both parts are cached: read back exactly */
        st = run(fused, 0, 1, cache, clips, NC, ref);
        st2 = st ? st : run(fused, 0, 2, cache, clips, NC, b);
        CHECK(st == VL_OK && st2 == VL_OK, "fused, all cached: %s", vl_errmsg());
        if (!st && !st2) {
            hits2 = 0;
            for (int i = 0; i < NC; i++)
                hits2 += b[i].cached;
            CHECK(hits2 == NC, "fused, all cached: %d of %d clips from the cache", hits2, NC);
            compare("fused, all cached, 2 jobs vs 1", b, ref, NC, 0.0);
        }
    }
    free_all(ref, NC);
    free_all(b, NC);
    free_all(a, NC);
}

/* A missing video among good ones: one error naming it; the run ends. */
static void test_bad_clip(void)
{
    char missing[400];
    snprintf(missing, sizeof missing, "%s/no_such_video.mp4", tmpdir);
    vl_clip c[NC];
    memcpy(c, clips, sizeof c);
    c[2].path = missing;
    for (int jobs = 1; jobs <= 2; jobs++) {
        vl_features f[NC];
        vl_status st = run(CNN, 0, jobs, NULL, c, NC, f);
        CHECK(st != VL_OK, "a missing video was not an error (%d jobs)", jobs);
        CHECK(strstr(vl_errmsg(), "no_such_video.mp4") != NULL, "error does not name the file: %s", vl_errmsg());
        free_all(f, NC);
    }
    /* a clip that starts past the video's end */
    memcpy(c, clips, sizeof c);
    c[4].start = 50.0;
    c[4].end = 0;
    vl_features f[NC];
    vl_status st = run(CNN, 0, 1, NULL, c, NC, f);
    CHECK(st != VL_OK && strstr(vl_errmsg(), "beyond the end"), "start past the end: %s", vl_errmsg());
    free_all(f, NC);
}

/* vl_extractor_release: the description and sampling stay, extraction is refused. */
static void test_release(void)
{
    vl_extract_opts o = {.backbone = CNN, .fps = 10, .batch = 4};
    vl_extractor *x;
    CHECK(vl_extractor_open(&o, &x) == VL_OK, "open: %s", vl_errmsg());
    if (!x)
        return;
    vl_backbone_desc before = *vl_extractor_backbone(x);
    vl_extractor_release(x);
    const vl_backbone_desc *after = vl_extractor_backbone(x);
    CHECK(!strcmp(after->name, before.name) && after->feature_dim == before.feature_dim && after->feature_dim > 0,
          "the description changed on release: %s %d", after->name, after->feature_dim);
    double fps;
    int every_k;
    vl_extractor_sampling(x, &fps, &every_k);
    CHECK(fps == 10, "sampling after release: %g fps", fps);
    vl_features f[1];
    vl_status st = vl_extract_clips(x, clips, 1, f);
    CHECK(st == VL_ERR_ARG && strstr(vl_errmsg(), "released"), "extracting after release: %d %s", st, vl_errmsg());
    free_all(f, 1);
    vl_extractor_close(x);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vl_extract_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    const char *names[NV] = {"a.avi", "b.mp4", "c.avi", "d.mp4"};
    for (int i = 0; i < NV; i++)
        snprintf(vid[i], sizeof vid[i], "%s/%s", tmpdir, names[i]);
    int made = make_video(vid[0], "mpeg4", 160, 120, 30, 48, 0) && make_video(vid[1], "libx264", 176, 144, 25, 33, 1) &&
               make_video(vid[2], "mpeg4", 128, 96, 30, 40, 2) && make_video(vid[3], "libx264", 200, 112, 20, 42, 3);
    CHECK(made, "cannot make the test videos: %s", vl_errmsg());
    if (made) {
        set_clips();
        test_same_as_per_clip(CNN);
        char fused[600];
        snprintf(fused, sizeof fused, "%s+%s", CNN, TINY);
        test_same_as_per_clip(fused);
        test_cache();
        test_bad_clip();
        test_release();
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
