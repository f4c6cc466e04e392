/* The library's prediction calls (vidlstm.h, "prediction"), called directly:
 *   - vl_model_predict_clips: one row per clip (probabilities as
 *     vl_model_predict gives them), T rows and segments for per-frame models;
 *   - vl_model_predict_windows: the number of windows, their spans (the last
 *     flush with the end) and each window's probabilities equal to
 *     predicting that slice alone as a clip;
 *   - vl_model_stream: on a video file, the callback sequence equals the
 *     windows' results on the same file (spans, times, probabilities). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "model/modelfile.h"
#include "pipeline/predict.h"
#include "video/encode.h"
#include "vidlstm.h"

enum { D = 240, C = 3 };

static vl_model *make_model(const char *path, vl_out_mode mode, uint64_t seed)
{
    vl_net_config cfg = {.input = D, .outputs = C, .mode = mode, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, 8, 1);
    vl_net *net;
    CHECK(vl_net_create(&cfg, seed, &net) == VL_OK, "create");
    static float mean[D], sd[D];
    for (int k = 0; k < D; k++) {
        mean[k] = 0.05f * (float)(k % 5);
        sd[k] = 0.4f + 0.01f * (float)k;
    }
    char *names[C] = {"stand", "walk", "run"};
    vl_model_meta meta = {.nclasses = C, .class_names = names, .dim = D, .norm_mean = mean, .norm_std = sd,
                          .feature_dim = D, .fps = 5};
    snprintf(meta.backbone, sizeof meta.backbone, "builtin:motion-grid");
    vl_preproc_imagenet(&meta.pre);
    CHECK(vl_model_save(path, net, &meta) == VL_OK, "save: %s", vl_errmsg());
    vl_net_free(net);
    vl_model *m = NULL;
    CHECK(vl_model_open(path, &m) == VL_OK, "open: %s", vl_errmsg());
    return m;
}

static int argmax(const float *p)
{
    int a = 0;
    for (int c = 1; c < C; c++)
        if (p[c] > p[a])
            a = c;
    return a;
}

/* Segments over [0, n) in steps, in order, each with a valid label; per
 * frame they tile it, over overlapping windows a run spans its first
 * window's start to its last window's end. */
static int segments_tile(const vl_prediction *p, int64_t n, int windows)
{
    if (p->nseg < 1 || p->seg[0].start != 0 || p->seg[p->nseg - 1].end != n)
        return 0;
    for (int k = 0; k < p->nseg; k++)
        if (p->seg[k].label < 0 || p->seg[k].label >= C || (k && (windows ? p->seg[k].start <= p->seg[k - 1].start || p->seg[k].end <= p->seg[k - 1].end : p->seg[k].start != p->seg[k - 1].end)) ||
            fabs(p->seg[k].start_s - p->seg[k].start / 5.0) > 1e-12)
            return 0;
    return 1;
}

typedef struct {
    int n, cap;
    vl_prediction *w; /* copies: out (1 row), start_s/end_s */
} collected;

static int collect(void *user, const vl_prediction *w)
{
    collected *c = user;
    if (c->n == c->cap)
        return 1;
    vl_prediction *d = &c->w[c->n++];
    *d = *w;
    d->out = malloc(sizeof(float) * (size_t)w->rows * w->C);
    memcpy(d->out, w->out, sizeof(float) * (size_t)w->rows * w->C);
    d->label = NULL, d->confidence = NULL, d->seg = NULL, d->start = d->end = NULL, d->mean = NULL;
    return 0;
}

int main(void)
{
    char dir[64], clip_path[128], seq_path[128], vid[128];
    snprintf(dir, sizeof dir, "/tmp/vl_test_predict_api_%ld", (long)getpid());
    CHECK(mkdir(dir, 0755) == 0, "mkdir %s", dir);
    snprintf(clip_path, sizeof clip_path, "%s/clip.safetensors", dir);
    snprintf(seq_path, sizeof seq_path, "%s/seq.safetensors", dir);
    snprintf(vid, sizeof vid, "%s/v.mp4", dir);
    vl_model *m = make_model(clip_path, VL_OUT_LAST, 3);

    /* whole clips, batched, against vl_model_predict one by one */
    enum { T = 23 };
    static float x[T * D];
    for (int i = 0; i < T * D; i++)
        x[i] = sinf(0.011f * (float)i) + 0.3f * cosf(0.7f * (float)(i % D));
    const float *xs[3] = {x, x + 5 * D, x + 2 * D};
    int Ts[3] = {T, 9, 14};
    vl_prediction r[3];
    CHECK(vl_model_predict_clips(m, 3, xs, Ts, NULL, r) == VL_OK, "clips: %s", vl_errmsg());
    for (int i = 0; i < 3; i++) {
        float p[C];
        CHECK(vl_model_predict(m, xs[i], Ts[i], p) == VL_OK, "predict");
        double e = 0;
        for (int c = 0; c < C; c++)
            e = fmax(e, fabs(p[c] - r[i].out[c]));
        CHECK(r[i].rows == 1 && r[i].T == Ts[i] && r[i].C == C && e < 1e-6 && r[i].label[0] == argmax(r[i].out) &&
                  r[i].confidence[0] == r[i].out[r[i].label[0]] && !r[i].seg,
              "clip %d: one row, probabilities as vl_model_predict (err %g), its argmax", i, e);
        vl_prediction_free(&r[i]);
    }

    /* windows of 6 steps every 4 over 23 steps: starts 0 4 8 12 16 and 17 */
    vl_predict_opts wo = {.window = 6, .stride = 4, .batch = 1};
    vl_prediction w;
    CHECK(vl_model_predict_windows(m, x, T, 1.0, &wo, &w) == VL_OK, "windows: %s", vl_errmsg());
    const int64_t want_start[] = {0, 4, 8, 12, 16, 17};
    int spans = w.rows == 6;
    for (int k = 0; spans && k < 6; k++)
        spans = w.start[k] == want_start[k] && w.end[k] == want_start[k] + 6;
    CHECK(spans, "6 windows [0,6) [4,10) ... [16,22) and the last flush with the end [17,23) (%d)", w.rows);
    int same = 1;
    for (int k = 0; k < w.rows && spans; k++) {
        const float *xk = x + (size_t)w.start[k] * D;
        int Tk = 6;
        vl_prediction alone;
        CHECK(vl_model_predict_clips(m, 1, &xk, &Tk, &(vl_predict_opts){.batch = 1}, &alone) == VL_OK, "alone");
        same &= !memcmp(alone.out, w.out + (size_t)k * C, sizeof(float) * C) && w.label[k] == alone.label[0];
        vl_prediction_free(&alone);
    }
    CHECK(same, "every window's probabilities equal its slice predicted alone as a clip (bit for bit)");
    CHECK(segments_tile(&w, T, 1), "window segments span [0, 23) in order, seconds at 5 fps");
    vl_prediction wb;
    CHECK(vl_model_predict_windows(m, x, T, 1.0, &(vl_predict_opts){.window = 6, .stride = 4}, &wb) == VL_OK,
          "windows, batched");
    double e = 0;
    for (int i = 0; i < w.rows * C; i++)
        e = fmax(e, fabs(w.out[i] - wb.out[i]));
    CHECK(wb.rows == w.rows && e < 1e-6, "batched windows agree with one-by-one (err %g)", e);
    vl_prediction_free(&wb);
    vl_prediction_free(&w);
    CHECK(vl_model_predict_windows(m, x, T, 1.0, &(vl_predict_opts){0}, &w) == VL_ERR_ARG, "window 0 refused");
    /* one window of everything when the window is longer than the sequence */
    CHECK(vl_model_predict_windows(m, x, 9, 1.0, &(vl_predict_opts){.window = 50}, &w) == VL_OK && w.rows == 1 &&
              w.start[0] == 0 && w.end[0] == 9,
          "a long window: one window of all 9 steps");
    vl_prediction_free(&w);

    /* per-frame model: T rows, argmax labels, segments tiling [0, T) */
    vl_model *ms = make_model(seq_path, VL_OUT_SEQUENCE, 4);
    vl_prediction f;
    CHECK(vl_model_predict_clips(ms, 1, xs, Ts, &(vl_predict_opts){.min_segment = 3}, &f) == VL_OK, "frames: %s",
          vl_errmsg());
    float ref[T * C];
    CHECK(vl_model_predict(ms, x, T, ref) == VL_OK, "predict frames");
    e = 0;
    int lab = f.rows == T;
    for (int t = 0; lab && t < T; t++) {
        lab = f.label[t] == argmax(f.out + t * C);
        for (int c = 0; c < C; c++)
            e = fmax(e, fabs(f.out[t * C + c] - ref[t * C + c]));
    }
    CHECK(lab && e < 1e-6, "23 rows with their argmax, probabilities as vl_model_predict (err %g)", e);
    CHECK(segments_tile(&f, T, 0), "frame segments cover [0, 23) contiguously");
    for (int k = 0; k + 1 < f.nseg; k++)
        CHECK(f.seg[k].end - f.seg[k].start >= 3, "no segment under --min-segment 3 (segment %d)", k);
    CHECK(vl_model_predict_windows(ms, x, T, 1.0, &wo, &w) == VL_ERR_ARG, "windows refused for per-frame models");
    vl_prediction_free(&f);
    vl_model_close(ms);

    /* a 9-second video at 25 fps -> 45 frames at 5 fps */
    vl_writer_opts vo = {.codec = "mpeg4", .width = 160, .height = 120, .fps_num = 25, .fps_den = 1};
    vl_video_writer *vw;
    CHECK(vl_video_writer_open(vid, &vo, &vw) == VL_OK, "writer: %s", vl_errmsg());
    static uint8_t rgb[160 * 120 * 3];
    for (int fr = 0; fr < 225; fr++) {
        int dx = fr < 100 ? fr * 2 : 200 - (fr - 100) * 3; /* pans right, then back faster */
        for (int i = 0; i < 160 * 120; i++) {
            int xx = i % 160 + dx, yy = i / 160 + (fr > 150 ? fr - 150 : 0);
            rgb[3 * i] = (uint8_t)((xx / 8 + yy / 8) % 2 ? 220 : 30);
            rgb[3 * i + 1] = (uint8_t)(yy * 2);
            rgb[3 * i + 2] = (uint8_t)(xx * 3);
        }
        vl_video_writer_add(vw, rgb, fr / 25.0);
    }
    CHECK(vl_video_writer_close(vw) == VL_OK, "close: %s", vl_errmsg());
    vl_features ft;
    CHECK(vl_model_video_features(m, vid, &ft) == VL_OK && ft.T == 45, "45 sampled frames: %s (%d)", vl_errmsg(),
          ft.T);
    /* windows of 2 s (10 steps) every 0.8 s (4): starts 0..32 by 4, the last at 35 */
    vl_predict_opts so = {.window = 2, .stride = 0.8, .batch = 1};
    CHECK(vl_model_predict_windows(m, ft.x, ft.T, vl_model_fps(m), &so, &w) == VL_OK && w.rows == 10 &&
              w.start[9] == 35,
          "10 windows over the video (%d, last at %lld)", w.rows, w.rows ? (long long)w.start[w.rows - 1] : -1LL);
    collected col = {.cap = 64, .w = calloc(64, sizeof(vl_prediction))};
    CHECK(vl_model_stream(m, vid, &so, collect, &col) == VL_OK, "stream: %s", vl_errmsg());
    CHECK(col.n == w.rows, "the stream calls back once per window (%d, windows %d)", col.n, w.rows);
    double pe = 0;
    int times = 1, exact = 1;
    for (int k = 0; k < col.n && k < w.rows; k++) {
        times &= col.w[k].rows == 1 && col.w[k].T == 10 && col.w[k].start_s == ft.time[w.start[k]] &&
                 col.w[k].end_s == ft.time[w.end[k] - 1];
        for (int c = 0; c < C; c++)
            pe = fmax(pe, fabs(col.w[k].out[c] - w.out[(size_t)k * C + c]));
        exact &= !memcmp(col.w[k].out, w.out + (size_t)k * C, sizeof(float) * C);
    }
    CHECK(times, "each streamed window spans the times of its window's first and last frame");
    printf("stream vs windows: max difference %g (%s)\n", pe, exact ? "bit for bit" : "not bitwise");
    CHECK(pe < 1e-5, "streamed probabilities equal the windows' (err %g, %s)", pe, exact ? "bit for bit" : "not bitwise");
    /* a callback that stops: one window, VL_OK */
    collected one = {.cap = 1, .w = calloc(1, sizeof(vl_prediction))};
    CHECK(vl_model_stream(m, vid, &so, collect, &one) == VL_OK && one.n == 1, "a callback can stop the stream");
    for (int k = 0; k < col.n; k++)
        free(col.w[k].out);
    free(one.w[0].out);
    free(col.w);
    free(one.w);
    vl_prediction_free(&w);
    vl_features_free(&ft);
    vl_model_close(m);
    unlink(clip_path);
    unlink(seq_path);
    unlink(vid);
    rmdir(dir);
    return check_summary();
}
