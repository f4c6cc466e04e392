/* vidlstm predict: labels for new feature sequences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/registry.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "cli/prep.h"
#include "model/modelfile.h"
#include "nn/layers.h"
#include "pipeline/extract.h"
#include "pipeline/videodata.h"
#include "video/clips.h"
#include <sys/stat.h>
#include <time.h>
#include "train/dataset.h"
#include "train/metrics.h"
#include "train/trainer.h"

void cli_help_predict(FILE *f)
{
    fputs("usage: vidlstm predict --model MODEL.safetensors VIDEO|FEATURES.npy|- ... [options]\n"
          "\n"
          "Labels videos (features are extracted with the backbone and sampling recorded in\n"
          "the model) or feature sequences (.npy float32 [T, D]) with a trained model:\n"
          "  clip models (mode last): the label and every class probability per file, or\n"
          "    with --window a timeline of windows over each (long) sequence;\n"
          "  sequence models: per-frame labels merged into segments (start, end, label,\n"
          "    mean confidence); regression models: the value (per frame: summary).\n"
          "\n"
          "  --model FILE       the model (.safetensors)\n"
          "  --data FILE        a manifest of feature files (path[,label[,group]]) or the\n"
          "                     video data eval takes, instead of / besides files\n"
          "  --window L         clip models: windows of L seconds (videos) or steps (.npy) ...\n"
          "  --stride S         ... every S (default L/2)\n"
          "  -, pipe:N, URLs    stream: read video as it arrives (e.g. `cat a.mp4 | vidlstm\n"
          "                     predict --model m -`), print each window when it completes\n"
          "                     (default window: 2 s) with its latency; memory stays bounded\n"
          "  --timeout S        URLs: give up after S seconds without data (default 30,\n"
          "                     or $VIDLSTM_TIMEOUT)\n"
          "  --min-segment N    sequence models: absorb segments shorter than N frames (1)\n"
          "  --smooth N         sequence classifiers: average each frame's class\n"
          "                     probabilities over a centred window of N frames, then\n"
          "                     take the argmax (default off; not for streams)\n"
          "  --json             one JSON object with a `predictions` array\n"
          "  --batch N          sequences per forward pass (default 64)\n"
          "  --precision fp32|bf16   the ONNX backbone's arithmetic on videos (default:\n"
          "                     what the model records, i.e. what train used)\n"
          "  --threads N        (default: all cores)\n",
          f);
}

typedef struct {
    int json, first;
    double fps;
    const vl_model_meta *meta;
} out_ctx;

/* A class's name, or its index when the model has no class list (allowed by
 * docs/model-format.md): "?" for every class made JSON keys collide. The
 * index lands in one of a few rotating buffers so a printf may hold several. */
static const char *cname(const vl_model_meta *m, int c)
{
    static char buf[4][16];
    static int k;
    if (m->class_names && c >= 0 && c < m->nclasses)
        return m->class_names[c];
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%d", c);
    return buf[k];
}

/* Any NaN/Inf among n outputs: printing them with exit 0 would pass garbage
 * on as a result. */
static int outputs_finite(const char *model, const char *file, const float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i])) {
            cli_fail("predict", "%s: the model %s gives a non-finite output (%s) here: its weights or "
                                "normalisation overflow on this input", file, model, isnan(p[i]) ? "NaN" : "Inf");
            return 0;
        }
    return 1;
}

/* Regression outputs: one number, or [a,b,...] for several (JSON) / "a b ..."
 * (text). */
static void print_values(int json, const float *p, int C)
{
    if (C == 1) {
        printf("%.6g", p[0]);
        return;
    }
    if (json)
        putchar('[');
    for (int j = 0; j < C; j++)
        printf(j ? (json ? ",%.6g" : " %.6g") : "%.6g", p[j]);
    if (json)
        putchar(']');
}

static void print_probs_json(const out_ctx *o, const float *p, int C)
{
    printf("\"probabilities\":{");
    for (int c = 0; c < C; c++) {
        if (c)
            putchar(',');
        vl_json_write_string(stdout, cname(o->meta, c));
        printf(":%.6g", p[c]);
    }
    putchar('}');
}

static int argmax(const float *p, int C)
{
    int a = 0;
    for (int c = 1; c < C; c++)
        if (p[c] > p[a])
            a = c;
    return a;
}

/* Segments of per-frame predictions (sequence models or window timelines). */
static int print_segments(const out_ctx *o, const char *file, const int32_t *lab, const float *conf, int64_t T,
                          int min_len, const int64_t *start_of, const int64_t *end_of)
{
    vl_segment *seg;
    int64_t ns;
    if (vl_segments_from_frames(lab, conf, T, min_len, &seg, &ns))
        return cli_fail_status("predict");
    if (o->json) {
        printf("\"segments\":[");
        for (int64_t k = 0; k < ns; k++) {
            int64_t s = start_of ? start_of[seg[k].start] : seg[k].start;
            int64_t e = end_of ? end_of[seg[k].end - 1] : seg[k].end;
            printf("%s{\"start\":%lld,\"end\":%lld,", k ? "," : "", (long long)s, (long long)e);
            if (o->fps > 0)
                printf("\"start_s\":%.4f,\"end_s\":%.4f,", s / o->fps, e / o->fps);
            printf("\"label\":");
            vl_json_write_string(stdout, cname(o->meta, seg[k].label));
            printf(",\"confidence\":%.4f}", seg[k].confidence);
        }
        printf("]");
    } else {
        printf("%s\n  %10s %10s  %-20s %s\n", file, "start", "end", "label", "confidence");
        for (int64_t k = 0; k < ns; k++) {
            int64_t s = start_of ? start_of[seg[k].start] : seg[k].start;
            int64_t e = end_of ? end_of[seg[k].end - 1] : seg[k].end;
            if (o->fps > 0)
                printf("  %9.2fs %9.2fs  %-20s %.3f\n", s / o->fps, e / o->fps, cname(o->meta, seg[k].label),
                       seg[k].confidence);
            else
                printf("  %10lld %10lld  %-20s %.3f\n", (long long)s, (long long)e, cname(o->meta, seg[k].label),
                       seg[k].confidence);
        }
    }
    free(seg);
    return 0;
}

static int is_stream(const char *p)
{
    if (!strcmp(p, "-") || !strncmp(p, "pipe:", 5) || strstr(p, "://"))
        return 1;
    struct stat sb;
    return stat(p, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode); /* a FIFO or device */
}

/* The extractor recorded in the model: same backbone, layer and sampling as
 * in training. */
/* The backbone's notes (a bf16 model on a CPU without bf16: fp32 instead). */
static void on_note(void *user, const char *msg)
{
    (void)user;
    fprintf(stderr, "%s\n", msg);
}

static int open_model_extractor(const vl_model_meta *meta, const char *model, int input, vl_extractor **xt)
{
    if (*xt)
        return 0;
    if (!meta->backbone[0])
        return cli_fail("predict", "%s was trained on feature files and records no backbone: give it feature files "
                                   "(.npy) made the same way", model);
    vl_model_meta *mm = (vl_model_meta *)meta;
    if (!vl_model_find_backbone(mm, model) && !vl_backbone_locate(mm->backbone, sizeof mm->backbone, mm->backbone_sha256))
        return cli_fail("predict", "%s: its backbone %s is not there (nor beside the model): put the ONNX file back "
                                   "or next to the model", model, meta->backbone);
    vl_extract_opts eo = {.backbone = meta->backbone, .tap = meta->tap[0] ? meta->tap : NULL,
                          .sha256 = meta->backbone_sha256, .fps = meta->fps,
                          .norm = meta->has_input_norm ? &meta->input_norm : NULL, /* as the model was trained */
                          .precision = meta->precision, .note = on_note,
                          .every_k = meta->every_k, .jobs = 1};
    if (vl_extractor_open(&eo, xt))
        return cli_fail_status("predict");
    if (vl_extractor_backbone(*xt)->feature_dim != input)
        return cli_fail("predict", "backbone %s gives %d features, but %s expects %d", meta->backbone,
                        vl_extractor_backbone(*xt)->feature_dim, model, input);
    return 0;
}

static int extract_video(const vl_model_meta *meta, const char *model, const char *path, int input, vl_extractor **xt,
                         float **x, int *T)
{
    if (open_model_extractor(meta, model, input, xt))
        return 1;
    vl_clip c = {.path = (char *)path};
    vl_features f;
    if (vl_extract_clips(*xt, &c, 1, &f)) {
        vl_features_free(&f);
        return cli_fail_status("predict");
    }
    *x = f.x;
    *T = f.T;
    f.x = NULL;
    vl_features_free(&f);
    return 0;
}

#define WINDOW_MAX_STEPS (1 << 20)

/* ---- streaming ------------------------------------------------------------------ */

typedef struct {
    vl_net *net;
    const vl_model_meta *meta;
    const char *model, *src;
    int D, C, L, S, json, seq, cls, batch;
    float *ring;   /* [L, D] window being filled, oldest first */
    double *times; /* [L] */
    int have, since, nwin;
    int from; /* per-frame output: the first step of the window to print */
    float *out;
    double t0;
    int err;
} stream_ctx;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int run_window(stream_ctx *c)
{
    float *x = malloc(sizeof(float) * (size_t)c->L * c->D);
    if (!x)
        return -1;
    memcpy(x, c->ring, sizeof(float) * (size_t)c->have * c->D);
    if (c->meta->norm_mean && c->meta->norm_std)
        for (int t = 0; t < c->have; t++)
            for (int k = 0; k < c->D; k++)
                x[(size_t)t * c->D + k] = (x[(size_t)t * c->D + k] - c->meta->norm_mean[k]) / c->meta->norm_std[k];
    int32_t len = c->have;
    vl_batch b = {.batch = 1, .tmax = c->have, .dim = c->D, .x = x, .lengths = &len};
    vl_status st = vl_net_forward(c->net, &b, c->out);
    free(x);
    if (st)
        return -1;
    if (!outputs_finite(c->model, c->src, c->out, (size_t)(c->seq ? c->have : 1) * c->C))
        return -2;
    double t0 = c->times[0], t1 = c->times[c->have - 1];
    int steps = c->seq ? c->have : 1;
    if (c->cls)
        vl_softmax_rows(steps, c->C, c->out, c->out);
    double lat = 1e3 * (now_s() - c->t0);
    const vl_model_meta *m = c->meta;
    if (c->seq && c->cls) {
        /* per-frame labels of the window, as segments in time */
        int s0 = c->from;
        for (int t = s0 + 1; t <= steps; t++) {
            int a = argmax(c->out + (size_t)(t - 1) * c->C, c->C);
            int bnext = t < steps ? argmax(c->out + (size_t)t * c->C, c->C) : -1;
            if (bnext != a) {
                double conf = 0;
                for (int k = s0; k < t; k++)
                    conf += c->out[(size_t)k * c->C + a];
                conf /= (t - s0);
                if (c->json) {
                    printf("{\"start_s\":%.3f,\"end_s\":%.3f,\"label\":", c->times[s0], c->times[t - 1]);
                    vl_json_write_string(stdout, cname(m, a));
                    printf(",\"confidence\":%.4f,\"latency_ms\":%.1f}\n", conf, lat);
                } else {
                    printf("%9.2fs %9.2fs  %-20s %.3f  (latency %.0f ms)\n", c->times[s0], c->times[t - 1], cname(m, a),
                           conf, lat);
                }
                s0 = t;
            }
        }
    } else if (c->cls) {
        int a = argmax(c->out, c->C);
        if (c->json) {
            printf("{\"start_s\":%.3f,\"end_s\":%.3f,\"label\":", t0, t1);
            vl_json_write_string(stdout, cname(m, a));
            printf(",\"confidence\":%.4f,\"latency_ms\":%.1f}\n", c->out[a], lat);
        } else {
            printf("%9.2fs %9.2fs  %-20s %.3f  (latency %.0f ms)\n", t0, t1, cname(m, a), c->out[a], lat);
        }
    } else { /* the window's last step: all C outputs of it */
        const float *v = c->out + (size_t)(steps - 1) * c->C;
        if (c->json) {
            printf("{\"start_s\":%.3f,\"end_s\":%.3f,\"value\":", t0, t1);
            print_values(1, v, c->C);
            printf(",\"latency_ms\":%.1f}\n", lat);
        } else {
            printf("%9.2fs %9.2fs  ", t0, t1);
            print_values(0, v, c->C);
            printf("  (latency %.0f ms)\n", lat);
        }
    }
    fflush(stdout);
    c->nwin++;
    return 0;
}

static int on_stream(void *user, const float *x, int n, const double *time, const int64_t *index, double arrival)
{
    (void)index;
    stream_ctx *c = user;
    c->t0 = arrival; /* latency: from the decoded frame to the printed prediction */
    for (int i = 0; i < n; i++) {
        if (c->have == c->L) { /* slide by one step */
            memmove(c->ring, c->ring + c->D, sizeof(float) * (size_t)(c->L - 1) * c->D);
            memmove(c->times, c->times + 1, sizeof(double) * (size_t)(c->L - 1));
            c->have--;
        }
        memcpy(c->ring + (size_t)c->have * c->D, x + (size_t)i * c->D, sizeof(float) * (size_t)c->D);
        c->times[c->have++] = time[i];
        c->since++;
        if (c->have == c->L && c->since >= c->S) {
            c->since = 0;
            int r = run_window(c);
            if (r) {
                c->err = r; /* -2: already printed */
                return 1;
            }
        }
    }
    return 0;
}

static int predict_stream(vl_net *net, const vl_model_meta *meta, const char *model, const char *src, double window,
                          double stride, int json, int batch)
{
    (void)batch;
    const vl_net_config *cfg = vl_net_get_config(net);
    vl_extractor *xt = NULL;
    if (open_model_extractor(meta, model, cfg->input, &xt)) {
        vl_extractor_close(xt);
        return 1;
    }
    double u = meta->fps > 0 ? meta->fps : 1.0;
    if (window <= 0)
        window = meta->fps > 0 ? 2.0 : 20.0;
    /* the ring holds a whole window: bound it before converting to int */
    if (window * u > WINDOW_MAX_STEPS || stride * u > WINDOW_MAX_STEPS) {
        vl_extractor_close(xt);
        return cli_fail("predict", "--window/--stride of %g/%g s is over %d steps at %g steps per second", window,
                        stride, WINDOW_MAX_STEPS, u);
    }
    int L = (int)lround(window * u);
    L = L < 1 ? 1 : L;
    int S = stride > 0 ? (int)lround(stride * u) : (cfg->mode == VL_OUT_SEQUENCE ? L : (L / 2 > 0 ? L / 2 : 1));
    stream_ctx c = {.net = net, .meta = meta, .model = model, .src = src, .D = cfg->input, .C = cfg->outputs,
                    .L = L, .S = S < 1 ? 1 : S, .json = json, .seq = cfg->mode == VL_OUT_SEQUENCE, .cls = cfg->task == VL_TASK_CLASSIFY};
    c.ring = malloc(sizeof(float) * (size_t)L * c.D);
    c.times = malloc(sizeof(double) * (size_t)L);
    c.out = malloc(sizeof(float) * (size_t)L * c.C);
    int rc = 0;
    if (!c.ring || !c.times || !c.out)
        rc = cli_fail("predict", "out of memory");
    else if (!json)
        printf("streaming %s: windows of %d steps every %d\n%10s %10s  %-20s %s\n", src, L, c.S, "start", "end",
               "label", "confidence");
    if (!rc) {
        vl_status xs = vl_extract_stream(xt, src, on_stream, &c);
        if (c.err)
            rc = c.err == -2 ? 1 : cli_fail_status("predict");
        else if (xs)
            rc = cli_fail_status("predict");
    }
    /* the tail; per-frame output prints only the steps no window printed */
    c.from = c.seq && c.nwin > 0 && c.since < c.have ? c.have - c.since : 0;
    if (!rc && c.have > 0 && (c.nwin == 0 || c.since > 0)) {
        int r = run_window(&c);
        if (r)
            rc = r == -2 ? 1 : cli_fail_status("predict");
    }
    free(c.ring);
    free(c.times);
    free(c.out);
    vl_extractor_close(xt);
    return rc;
}

int cmd_predict(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *prec = NULL;
    int json = 0, batch = 64, threads = 0, min_seg = 1, smooth = 0;
    double window = 0, stride = 0, timeout = 0;
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    double *unit = calloc((size_t)argc + 1, sizeof *unit); /* steps per window unit, per input */
    int nfiles = 0, nunit = argc + 1;
    vl_extractor *xt = NULL;
    if (!files || !unit)
        return cli_fail("predict", "out of memory");
    cli_args a = {.argc = argc, .argv = argv, .cmd = "predict"};
    for (a.i = 0; a.i < argc && !a.bad; a.i++) {
        if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) {
            cli_help_predict(stdout);
            free(files);
            free(unit);
            return 0;
        } else if (cli_opt(&a, "--model")) model = a.val;
        else if (cli_opt(&a, "--data")) data = a.val;
        else if (cli_opt(&a, "--window")) window = cli_num(&a, 1e-3, 1e9);
        else if (cli_opt(&a, "--stride")) stride = cli_num(&a, 1e-3, 1e9);
        else if (cli_opt(&a, "--min-segment")) min_seg = cli_int(&a, 1, 1 << 24);
        else if (cli_opt(&a, "--smooth")) smooth = cli_int(&a, 1, 1 << 24);
        else if (cli_flag(&a, "--json")) json = 1;
        else if (cli_opt(&a, "--batch")) batch = cli_int(&a, 1, 1 << 20);
        else if (cli_opt(&a, "--threads")) threads = cli_int(&a, 1, 1024);
        else if (cli_opt(&a, "--timeout")) timeout = cli_num(&a, 0.1, 1e6);
        else if (cli_opt(&a, "--precision")) prec = a.val;
        else if (argv[a.i][0] == '-' && argv[a.i][1] && argv[a.i][1] != '\0') {
            free(files);
            free(unit);
            return cli_fail("predict", "unknown option '%s' (see vidlstm predict --help)", argv[a.i]);
        } else
            files[nfiles++] = argv[a.i];
    }
    if (a.bad || !model || (!nfiles && !data)) {
        free(files);
        free(unit);
        return a.bad ? 1 : cli_fail("predict", "--model MODEL.safetensors and feature files (or --data) are required");
    }
    if (threads)
        vl_set_threads(threads);
    if (!timeout && getenv("VIDLSTM_TIMEOUT")) {
        char *end;
        const char *e = getenv("VIDLSTM_TIMEOUT");
        timeout = strtod(e, &end);
        if (end == e || *end || !(timeout >= 0.1 && timeout <= 1e6)) {
            free(files);
            free(unit);
            return cli_fail("predict", "VIDLSTM_TIMEOUT='%s' is not a number of seconds in [0.1, 1e6]", e);
        }
    }
    vl_video_set_timeout(timeout);
    vl_net *net;
    vl_model_meta meta;
    if (vl_model_load(model, &net, &meta)) {
        free(files);
        free(unit);
        return cli_fail_status("predict");
    }
    const vl_net_config *cfg = vl_net_get_config(net);
    const int C = cfg->outputs, seq = cfg->mode == VL_OUT_SEQUENCE, cls = cfg->task == VL_TASK_CLASSIFY;
    int status = 1;
    vl_dataset d = {0}, w = {0};
    float *out = NULL;
    size_t *off = NULL;
    int *idx = NULL;
    int32_t *lab = NULL;
    float *conf = NULL;
    int64_t *ws = NULL, *we = NULL;
    vl_precision prec_v;
    if (prec && cli_prep_precision("predict", prec, &prec_v))
        goto out;
    if (prec) /* instead of the model's record */
        meta.precision = prec_v;
    if (stride > 0 && window <= 0) {
        cli_fail("predict", "--stride needs --window");
        goto out;
    }
    if (smooth > 1 && !(seq && cls)) {
        cli_fail("predict", "--smooth applies to per-frame classifiers; %s is a %s model", model,
                 cls ? "clip" : "regression");
        goto out;
    }
    if (window && seq) {
        cli_fail("predict", "--window applies to clip models; %s labels every frame already", model);
        goto out;
    }
    if (data && vl_videodata_is_video(data)) {
        /* the video data eval takes, extracted the way the model records */
        if (open_model_extractor(&meta, model, cfg->input, &xt))
            goto out;
        vl_dataset_opts o = {.task = cfg->task, .mode = cfg->mode, .dim = cfg->input};
        cli_video_opts v = {.backbone = meta.backbone, .tap = meta.tap[0] ? meta.tap : NULL,
                            .sha256 = meta.backbone_sha256, .fps = meta.fps, .every_k = meta.every_k, .quiet = 1,
                            .precision = meta.precision};
        if (cli_load_data("predict", data, &o, &v, &xt, &d))
            goto out;
    } else if (data) {
        vl_dataset_opts o = {.task = cfg->task, .mode = cfg->mode, .dim = cfg->input, .unlabelled = 1};
        if (vl_dataset_load(data, &o, &d)) {
            cli_fail_status("predict");
            goto out;
        }
    }
    d.D = d.D ? d.D : cfg->input;
    if (d.n > 0) { /* one unit per item: the manifest's come first */
        double *u2 = calloc((size_t)(d.n + nfiles) + 1, sizeof *u2);
        if (!u2) {
            cli_fail("predict", "out of memory");
            goto out;
        }
        free(unit);
        unit = u2;
        nunit = d.n + nfiles + 1;
        if (data && vl_videodata_is_video(data)) /* windows in seconds, as for video arguments */
            for (int i = 0; i < d.n; i++)
                unit[i] = meta.fps > 0 ? meta.fps : 1.0;
    }
    for (int i = 0; i < nfiles; i++) {
        if (is_stream(files[i])) {
            if (nfiles > 1 || data) {
                cli_fail("predict", "a stream (%s) must be the only input", files[i]);
                goto out;
            }
            if (smooth > 1) {
                cli_fail("predict", "--smooth needs whole sequences; it does not apply to a stream (%s)", files[i]);
                goto out;
            }
            status = predict_stream(net, &meta, model, files[i], window, stride, json, batch);
            goto out;
        }
        if (vl_is_video_file_name(files[i])) {
            float *fx = NULL;
            int T = 0;
            if (extract_video(&meta, model, files[i], cfg->input, &xt, &fx, &T))
                goto out;
            if (vl_dataset_add_features(&d, files[i], T, cfg->input, fx)) {
                free(fx);
                cli_fail_status("predict");
                goto out;
            }
            unit[d.n - 1] = meta.fps > 0 ? meta.fps : 1.0;
            continue;
        }
        vl_npy x;
        if (vl_npy_read(files[i], &x)) {
            cli_fail_status("predict");
            goto out;
        }
        if (x.dtype != VL_NPY_F32 || x.ndim != 2 || x.shape[0] < 1 || x.shape[1] != cfg->input) {
            char sh[160];
            int n = snprintf(sh, sizeof sh, "[");
            for (int k = 0; k < x.ndim && n < (int)sizeof sh - 24; k++)
                n += snprintf(sh + n, sizeof sh - (size_t)n, "%s%lld", k ? ", " : "", (long long)x.shape[k]);
            snprintf(sh + n, sizeof sh - (size_t)n, "]");
            cli_fail("predict", "%s: expected float features [T, %d] for this model, got %s %s", files[i],
                     cfg->input, x.dtype == VL_NPY_F32 ? "float" : "int", sh);
            vl_npy_free(&x);
            goto out;
        }
        for (int64_t k = 0; k < x.count; k++)
            if (!isfinite(((float *)x.data)[k])) {
                cli_fail("predict", "%s: feature [%lld, %lld] is not finite", files[i], (long long)(k / x.shape[1]),
                         (long long)(k % x.shape[1]));
                vl_npy_free(&x);
                goto out;
            }
        if (vl_dataset_add_features(&d, files[i], (int)x.shape[0], (int)x.shape[1], x.data)) {
            vl_npy_free(&x);
            cli_fail_status("predict");
            goto out;
        }
        unit[d.n - 1] = 1.0;
    }
    if (meta.norm_mean && meta.norm_std)
        vl_dataset_normalize(&d, meta.norm_mean, meta.norm_std);
    out_ctx oc = {.json = json, .fps = meta.fps, .meta = &meta};
    if (json)
        printf("{\"model\":%s", "");
    if (json) {
        vl_json_write_string(stdout, model);
        printf(",\"predictions\":[");
    }
    for (int i = 0; i < d.n; i++) {
        const vl_seq *s = &d.items[i];
        if (json)
            printf("%s{\"file\":", i ? "," : ""), vl_json_write_string(stdout, s->path), printf(",\"steps\":%d,", s->T);
        if (window) {
            /* Windows [k*S, k*S + L) (the last one flush with the end). */
            double u = i < nunit && unit[i] > 0 ? unit[i] : 1.0;
            /* clamp in double: window * u can exceed INT_MAX (--window 1e9) */
            int L = window * u >= s->T ? s->T : (int)lround(window * u);
            int S = stride > 0 ? (stride * u >= s->T ? s->T : (int)lround(stride * u)) : L / 2;
            L = L < 1 ? 1 : L;
            S = S < 1 ? 1 : S;
            int nw = s->T <= L ? 1 : (s->T - L + S - 1) / S + 1;
            vl_dataset_free(&w);
            w = (vl_dataset){.D = d.D, .task = d.task, .mode = d.mode};
            free(ws);
            free(we);
            ws = malloc(sizeof(int64_t) * (size_t)nw);
            we = malloc(sizeof(int64_t) * (size_t)nw);
            if (!ws || !we) {
                cli_fail("predict", "out of memory");
                goto out;
            }
            for (int k = 0; k < nw; k++) {
                int st0 = k * S;
                if (st0 + L > s->T)
                    st0 = s->T - L;
                ws[k] = st0;
                we[k] = st0 + L;
                float *x = malloc(sizeof(float) * (size_t)L * d.D);
                if (!x || vl_dataset_add_features(&w, s->path, L, d.D, x)) {
                    free(x);
                    cli_fail("predict", "out of memory");
                    goto out;
                }
                memcpy(x, s->x + (size_t)st0 * d.D, sizeof(float) * (size_t)L * d.D);
            }
            free(idx);
            idx = malloc(sizeof(int) * (size_t)nw);
            if (!idx) {
                cli_fail("predict", "out of memory");
                goto out;
            }
            for (int k = 0; k < nw; k++)
                idx[k] = k;
            free(out);
            free(off);
            out = NULL;
            off = NULL;
            if (vl_infer(net, &w, idx, nw, batch, 1, &out, &off)) {
                cli_fail_status("predict");
                goto out;
            }
            if (!outputs_finite(model, s->path, out, (size_t)nw * C))
                goto out;
            if (!cls) {
                if (json)
                    printf("\"windows\":[");
                else
                    printf("%s\n  %10s %10s  %s\n", s->path, "start", "end", "value");
                for (int k = 0; k < nw; k++) {
                    if (json)
                        printf("%s{\"start\":%lld,\"end\":%lld,\"value\":", k ? "," : "", (long long)ws[k],
                               (long long)we[k]);
                    else
                        printf("  %10lld %10lld  ", (long long)ws[k], (long long)we[k]);
                    print_values(json, out + off[k], C);
                    printf(json ? "}" : "\n");
                }
                if (json)
                    printf("]}");
                continue;
            }
            free(lab);
            free(conf);
            lab = malloc(sizeof(int32_t) * (size_t)nw);
            conf = malloc(sizeof(float) * (size_t)nw);
            if (!lab || !conf) {
                cli_fail("predict", "out of memory");
                goto out;
            }
            if (json)
                printf("\"windows\":[");
            for (int k = 0; k < nw; k++) {
                const float *p = out + off[k];
                lab[k] = argmax(p, C);
                conf[k] = p[lab[k]];
                if (json) {
                    printf("%s{\"start\":%lld,\"end\":%lld,\"label\":", k ? "," : "", (long long)ws[k],
                           (long long)we[k]);
                    vl_json_write_string(stdout, cname(&meta, lab[k]));
                    printf(",\"confidence\":%.4f}", conf[k]);
                }
            }
            if (json)
                printf("],");
            if (print_segments(&oc, s->path, lab, conf, nw, 1, ws, we))
                goto out;
            if (json)
                printf("}");
            continue;
        }
        /* Whole sequences (batched over all of them once). */
        if (!out) {
            idx = malloc(sizeof(int) * (size_t)d.n);
            if (!idx) {
                cli_fail("predict", "out of memory");
                goto out;
            }
            for (int k = 0; k < d.n; k++)
                idx[k] = k;
            if (vl_infer(net, &d, idx, d.n, batch, 1, &out, &off)) {
                cli_fail_status("predict");
                goto out;
            }
        }
        const float *p = out + off[i];
        if (!outputs_finite(model, s->path, p, (size_t)(seq ? s->T : 1) * C))
            goto out;
        if (!seq && cls) {
            int c = argmax(p, C);
            if (json) {
                printf("\"label\":");
                vl_json_write_string(stdout, cname(&meta, c));
                printf(",\"confidence\":%.6g,", p[c]);
                print_probs_json(&oc, p, C);
                printf("}");
            } else {
                printf("%s: %s (%.1f%%)", s->path, cname(&meta, c), 100.0 * p[c]);
                for (int k = 0; k < C; k++)
                    if (k != c)
                        printf("  %s %.1f%%", cname(&meta, k), 100.0 * p[k]);
                printf("\n");
            }
        } else if (!seq) {
            if (json)
                printf("\"value\":");
            else
                printf("%s: ", s->path);
            print_values(json, p, C);
            printf(json ? "}" : "\n");
        } else if (cls) {
            free(lab);
            free(conf);
            lab = malloc(sizeof(int32_t) * (size_t)s->T);
            conf = malloc(sizeof(float) * (size_t)s->T);
            if (!lab || !conf) {
                cli_fail("predict", "out of memory");
                goto out;
            }
            float *sp = NULL;
            if (smooth > 1) { /* averaged probabilities: labels and confidences from them */
                sp = malloc(sizeof(float) * (size_t)s->T * (size_t)C);
                if (!sp) {
                    cli_fail("predict", "out of memory");
                    goto out;
                }
                vl_smooth_probs(p, s->T, C, smooth, sp); /* arguments valid: cannot fail */
                p = sp;
            }
            for (int t = 0; t < s->T; t++) {
                lab[t] = argmax(p + (size_t)t * C, C);
                conf[t] = p[(size_t)t * C + lab[t]];
            }
            if (json) {
                printf("\"frames\":[");
                for (int t = 0; t < s->T; t++) {
                    if (t)
                        putchar(',');
                    vl_json_write_string(stdout, cname(&meta, lab[t]));
                }
                /* full precision: consumers re-threshold or re-smooth these */
                printf("],\"frame_probabilities\":[");
                for (int t = 0; t < s->T; t++) {
                    printf(t ? ",[" : "[");
                    for (int c = 0; c < C; c++)
                        printf(c ? ",%.9g" : "%.9g", p[(size_t)t * C + c]);
                    putchar(']');
                }
                printf("],");
            }
            free(sp);
            if (print_segments(&oc, s->path, lab, conf, s->T, min_seg, NULL, NULL))
                goto out;
            if (json)
                printf("}");
        } else { /* per-frame regression: p is [T, C], frame-major */
            float mean[64], *mp = C <= 64 ? mean : malloc(sizeof(float) * (size_t)C);
            if (!mp) {
                cli_fail("predict", "out of memory");
                goto out;
            }
            for (int j = 0; j < C; j++) {
                double m = 0;
                for (int t = 0; t < s->T; t++)
                    m += p[(size_t)t * C + j];
                mp[j] = (float)(m / s->T);
            }
            if (json) {
                printf("\"values\":[");
                for (int t = 0; t < s->T; t++) {
                    if (t)
                        putchar(',');
                    print_values(1, p + (size_t)t * C, C);
                }
                printf("],\"mean\":");
                print_values(1, mp, C);
                printf("}");
            } else {
                printf("%s: %d frames, mean ", s->path, s->T);
                print_values(0, mp, C);
                printf(", first ");
                print_values(0, p, C);
                printf(", last ");
                print_values(0, p + (size_t)(s->T - 1) * C, C);
                printf("\n");
            }
            if (mp != mean)
                free(mp);
        }
    }
    if (json)
        printf("]}\n");
    status = 0;
out:
    vl_model_meta_free(&meta);
    vl_net_free(net);
    vl_dataset_free(&d);
    vl_dataset_free(&w);
    free(out);
    free(off);
    free(idx);
    free(lab);
    free(conf);
    free(ws);
    free(we);
    free(files);
    free(unit);
    vl_extractor_close(xt);
    return status;
}
