/* Fused backbones ("A+B", issue #11): one decoding pass gives each part its
 * own preprocessing, and the fused features must be exactly each backbone's
 * own features side by side, in the order named, for built-in and ONNX parts,
 * dense (every decoded frame) and per-sampled-frame ones, rate and every-k
 * sampling; each part is cached on its own (a part extracted before is not
 * extracted again); live streaming gives the same vectors; bad specs are one
 * clear error. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/error.h"
#include "pipeline/extract.h"
#include "video/encode.h"

static char tmpdir[256];
static char vid[2][300];
static const char *TINY = "tests/fixtures/onnx/tiny.onnx";

/* A textured scene drifting and bobbing, so every descriptor sees motion. */
static int make_video(const char *path, const char *codec, int W, int H, int fps, int n)
{
    vl_writer_opts o = {.codec = codec, .width = W, .height = H, .fps_num = fps, .fps_den = 1};
    vl_video_writer *w;
    if (vl_video_writer_open(path, &o, &w))
        return 0;
    uint8_t *rgb = malloc((size_t)W * H * 3);
    vl_status st = VL_OK;
    for (int i = 0; i < n && !st; i++) {
        double dx = 2.0 * i, dy = 6.0 * sin(2 * M_PI * 2.0 * i / fps);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double u = x + dx, v = y + dy;
                uint8_t *p = rgb + 3 * ((size_t)y * W + x);
                p[0] = (uint8_t)(128 + 90 * sin(u * 0.21) * cos(v * 0.13));
                p[1] = (uint8_t)(128 + 80 * sin(u * 0.05 + v * 0.11));
                p[2] = (uint8_t)(((int)(u / 9) + (int)(v / 9)) % 2 ? 200 : 40);
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

static vl_status extract(const char *spec, const char *tap, double fps, int every_k, const char *cache,
                         vl_features *out, int *dim)
{
    vl_extract_opts o = {.backbone = spec, .tap = tap, .fps = fps, .every_k = every_k, .cache = cache, .jobs = 2};
    vl_extractor *x;
    vl_status st = vl_extractor_open(&o, &x);
    if (st)
        return st;
    *dim = vl_extractor_backbone(x)->feature_dim;
    vl_clip c[2] = {{.path = vid[0]}, {.path = vid[1], .start = 0.4, .end = 2.6}};
    st = vl_extract_clips(x, c, 2, out);
    vl_extractor_close(x);
    return st;
}

/* fused == the parts side by side (tol 0: bit-identical) */
static void check_joined(const char *what, const vl_features *fused, const vl_features *const *parts, int np,
                         double tol)
{
    int D = 0;
    for (int k = 0; k < np; k++)
        D += parts[k]->D;
    CHECK(fused->D == D, "%s: width %d, want %d", what, fused->D, D);
    int same_t = 1;
    for (int k = 0; k < np; k++)
        same_t &= parts[k]->T == fused->T;
    CHECK(same_t, "%s: %d steps, parts differ", what, fused->T);
    if (!same_t || fused->D != D)
        return;
    double worst = 0;
    int times_ok = 1;
    for (int t = 0; t < fused->T; t++) {
        for (int k = 0, o = 0; k < np; o += parts[k]->D, k++) {
            times_ok &= parts[k]->time[t] == fused->time[t] && parts[k]->index[t] == fused->index[t];
            for (int d = 0; d < parts[k]->D; d++) {
                double a = fused->x[(size_t)t * D + o + d], b = parts[k]->x[(size_t)t * parts[k]->D + d];
                double e = fabs(a - b) / (fabs(b) > 1 ? fabs(b) : 1);
                worst = e > worst ? e : worst;
            }
        }
    }
    CHECK(times_ok, "%s: step times or frame numbers differ from the parts'", what);
    CHECK(worst <= tol, "%s: features differ from the parts' by %.3g (tolerance %.3g)", what, worst, tol);
    printf("  %-44s T=%d D=%d max diff %.3g\n", what, fused->T, D, worst);
}

static int count_npy(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".npy") != NULL;
    if (d)
        closedir(d);
    return n;
}

typedef struct {
    float *x;
    int T, D, cap;
} streamed;

static int on_stream(void *user, const float *x, int n, const double *time, const int64_t *index, double arrival)
{
    (void)time, (void)index, (void)arrival;
    streamed *s = user;
    if (s->T + n > s->cap) {
        s->cap = (s->T + n) * 2;
        s->x = realloc(s->x, sizeof(float) * (size_t)s->cap * s->D);
    }
    memcpy(s->x + (size_t)s->T * s->D, x, sizeof(float) * (size_t)n * s->D);
    s->T += n;
    return 0;
}

static void test_fused(double fps, int every_k)
{
    const char *A = "builtin:motion", *B = "builtin:motion-grid";
    char AB[64], BA[64], AC[300], CA[300], what[200];
    snprintf(AB, sizeof AB, "%s+%s", A, B);
    snprintf(BA, sizeof BA, "%s+%s", B, A);
    snprintf(AC, sizeof AC, "%s+%s", A, TINY);
    snprintf(CA, sizeof CA, "%s+%s", TINY, A);
    vl_features fa[2], fb[2], fc[2], f[2];
    int da, db, dc, d;
    CHECK(extract(A, NULL, fps, every_k, NULL, fa, &da) == VL_OK, "%s: %s", A, vl_errmsg());
    CHECK(extract(B, NULL, fps, every_k, NULL, fb, &db) == VL_OK, "%s: %s", B, vl_errmsg());
    CHECK(extract(TINY, NULL, fps, every_k, NULL, fc, &dc) == VL_OK, "%s: %s", TINY, vl_errmsg());
    struct {
        const char *spec;
        const vl_features *p0, *p1;
        double tol;
    } cases[4] = {{AB, fa, fb, 0}, {BA, fb, fa, 0}, {AC, fa, fc, 1e-5}, {CA, fc, fa, 1e-5}};
    for (int c = 0; c < 4; c++) {
        vl_status st = extract(cases[c].spec, NULL, fps, every_k, NULL, f, &d);
        CHECK(st == VL_OK, "%s: %s", cases[c].spec, vl_errmsg());
        if (st)
            continue;
        CHECK(d == cases[c].p0[0].D + cases[c].p1[0].D, "%s: width %d", cases[c].spec, d);
        for (int i = 0; i < 2; i++) {
            const vl_features *parts[2] = {&cases[c].p0[i], &cases[c].p1[i]};
            snprintf(what, sizeof what, "%s clip %d (%s)", strncmp(cases[c].spec, "tests/", 6) ? cases[c].spec
                                                                                                 : "tiny.onnx+motion",
                     i, every_k ? "every k" : "rate");
            check_joined(what, &f[i], parts, 2, cases[c].tol);
            vl_features_free(&f[i]);
        }
    }
    for (int i = 0; i < 2; i++) {
        vl_features_free(&fa[i]);
        vl_features_free(&fb[i]);
        vl_features_free(&fc[i]);
    }
}

static void test_cache_and_stream(void)
{
    char cache[300];
    snprintf(cache, sizeof cache, "%s/cache", tmpdir);
    vl_features fa[2], f[2], g[2], fb[2];
    int d;
    CHECK(extract("builtin:motion", NULL, 10, 0, cache, fa, &d) == VL_OK, "motion: %s", vl_errmsg());
    CHECK(count_npy(cache) == 2, "motion alone cached %d entries, want 2", count_npy(cache));
    CHECK(extract("builtin:motion+builtin:motion-grid", NULL, 10, 0, cache, f, &d) == VL_OK, "fused: %s",
          vl_errmsg());
    CHECK(count_npy(cache) == 4, "fused: %d cache entries, want 4 (motion's reused, motion-grid's added)",
          count_npy(cache));
    CHECK(!f[0].cached && !f[1].cached, "a fused clip with one part extracted is not reported cached");
    CHECK(extract("builtin:motion+builtin:motion-grid", NULL, 10, 0, cache, g, &d) == VL_OK, "fused again: %s",
          vl_errmsg());
    CHECK(g[0].cached && g[1].cached && count_npy(cache) == 4, "the second fused run is all from the cache");
    CHECK(extract("builtin:motion-grid", NULL, 10, 0, NULL, fb, &d) == VL_OK, "motion-grid: %s", vl_errmsg());
    for (int i = 0; i < 2; i++) {
        const vl_features *parts[2] = {&fa[i], &fb[i]};
        check_joined("fused from the cache", &g[i], parts, 2, 0);
        check_joined("fused, one part from the cache", &f[i], parts, 2, 0);
    }
    /* live streaming (one frame at a time) of the first video */
    vl_extract_opts o = {.backbone = "builtin:motion+builtin:motion-grid", .fps = 10};
    vl_extractor *x;
    CHECK(vl_extractor_open(&o, &x) == VL_OK, "open: %s", vl_errmsg());
    streamed s = {.D = vl_extractor_backbone(x)->feature_dim};
    CHECK(vl_extract_stream(x, vid[0], on_stream, &s) == VL_OK, "stream: %s", vl_errmsg());
    vl_extractor_close(x);
    vl_features sf = {.T = s.T, .D = s.D, .x = s.x, .time = g[0].time, .index = g[0].index};
    const vl_features *parts[2] = {&fa[0], &fb[0]};
    check_joined("fused, streamed frame by frame", &sf, parts, 2, 0);
    free(s.x);
    for (int i = 0; i < 2; i++) {
        vl_features_free(&fa[i]);
        vl_features_free(&fb[i]);
        vl_features_free(&f[i]);
        vl_features_free(&g[i]);
    }
}

static void expect_open_error(const char *spec, const char *tap, const char *msg)
{
    vl_extract_opts o = {.backbone = spec, .tap = tap};
    vl_extractor *x = NULL;
    vl_status st = vl_extractor_open(&o, &x);
    CHECK(st != VL_OK && x == NULL, "'%s' was accepted", spec);
    CHECK(strstr(vl_errmsg(), msg) != NULL, "'%s': message '%s' lacks '%s'", spec, vl_errmsg(), msg);
    if (st)
        printf("  %-44s %s\n", spec, vl_errmsg());
    vl_extractor_close(x);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vl_fusion_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(vid[0], sizeof vid[0], "%s/a.avi", tmpdir);
    snprintf(vid[1], sizeof vid[1], "%s/b.mp4", tmpdir);
    int made = make_video(vid[0], "mpeg4", 160, 120, 30, 90) && make_video(vid[1], "libx264", 176, 144, 25, 75);
    CHECK(made, "cannot make the test videos: %s", vl_errmsg());
    if (made) {
        test_fused(10, 0);
        test_fused(0, 3);
        test_cache_and_stream();
    }
    expect_open_error("builtin:motion+", NULL, "empty part");
    expect_open_error("builtin:motion+builtin:motion", NULL, "appears twice");
    expect_open_error("builtin:motion+builtin:motion-grid+builtin:ego-motion+x.onnx+y.onnx", NULL, "at most 4");
    expect_open_error("builtin:motion+builtin:motion-grid", "a+b+c", "has 3 parts");
    expect_open_error("builtin:motion+no/such/model.onnx", NULL, "no/such/model.onnx");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
