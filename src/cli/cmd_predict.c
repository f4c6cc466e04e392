/* vidlstm predict: options in, the library's predictions (pipeline/predict.h)
 * out, printed by one of two emitters (text or JSON). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "cli/prep.h"
#include "pipeline/predict.h"
#include "pipeline/videodata.h"
#include "video/clips.h"

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
          "  --precision fp32|bf16|int8  the ONNX backbone's arithmetic on videos (default:\n"
          "                     what the model records, i.e. what train used)\n"
          "  --threads N        (default: all cores)\n",
          f);
}

/* ---- emitters --------------------------------------------------------------------- */

typedef struct emitter emitter;

/* What every emitter function sees. */
typedef struct {
    const emitter *e;
    vl_model *m;
    const char *model;
    double fps; /* the model's sampling rate: segment times in seconds when > 0 */
} pctx;

/* The kinds of result, one emitter function each. */
enum { CLIP_CLASS, CLIP_VALUE, FRAME_CLASS, FRAME_VALUE, WINDOW_CLASS, WINDOW_VALUE, NKINDS };

typedef void (*item_fn)(const pctx *c, const char *file, const vl_prediction *p);

struct emitter {
    void (*begin)(const pctx *c);
    void (*item_begin)(const pctx *c, int i, const char *file, const vl_prediction *p);
    item_fn item[NKINDS];
    void (*end)(const pctx *c);
    void (*stream_begin)(const pctx *c, const char *src, int window, int stride);
    void (*stream_window)(const pctx *c, const vl_prediction *w);
};

/* A class's name, or its index when the model has no class list (allowed by
 * docs/model-format.md): "?" for every class made JSON keys collide. The
 * index lands in one of a few rotating buffers so a printf may hold several. */
static const char *cname(const pctx *c, int k)
{
    static char buf[4][16];
    static int r;
    const char *s = vl_model_class_name(c->m, k);
    if (s)
        return s;
    r = (r + 1) % 4;
    snprintf(buf[r], sizeof buf[r], "%d", k);
    return buf[r];
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

static void nothing(const pctx *c) { (void)c; }

/* -- text -- */

static void text_segments(const pctx *c, const char *file, const vl_prediction *p)
{
    printf("%s\n  %10s %10s  %-20s %s\n", file, "start", "end", "label", "confidence");
    for (int k = 0; k < p->nseg; k++) {
        const vl_pred_segment *g = &p->seg[k];
        if (c->fps > 0)
            printf("  %9.2fs %9.2fs  %-20s %.3f\n", g->start_s, g->end_s, cname(c, g->label), g->confidence);
        else
            printf("  %10lld %10lld  %-20s %.3f\n", (long long)g->start, (long long)g->end, cname(c, g->label),
                   g->confidence);
    }
}

static void text_item_begin(const pctx *c, int i, const char *file, const vl_prediction *p)
{
    (void)c, (void)i, (void)file, (void)p;
}

static void text_clip_class(const pctx *c, const char *file, const vl_prediction *p)
{
    int a = p->label[0];
    printf("%s: %s (%.1f%%)", file, cname(c, a), 100.0 * p->out[a]);
    for (int k = 0; k < p->C; k++)
        if (k != a)
            printf("  %s %.1f%%", cname(c, k), 100.0 * p->out[k]);
    printf("\n");
}

static void text_clip_value(const pctx *c, const char *file, const vl_prediction *p)
{
    (void)c;
    printf("%s: ", file);
    print_values(0, p->out, p->C);
    printf("\n");
}

static void text_frame_value(const pctx *c, const char *file, const vl_prediction *p)
{
    (void)c;
    printf("%s: %d frames, mean ", file, p->T);
    print_values(0, p->mean, p->C);
    printf(", first ");
    print_values(0, p->out, p->C);
    printf(", last ");
    print_values(0, p->out + (size_t)(p->rows - 1) * p->C, p->C);
    printf("\n");
}

static void text_window_value(const pctx *c, const char *file, const vl_prediction *p)
{
    (void)c;
    printf("%s\n  %10s %10s  %s\n", file, "start", "end", "value");
    for (int k = 0; k < p->rows; k++) {
        printf("  %10lld %10lld  ", (long long)p->start[k], (long long)p->end[k]);
        print_values(0, p->out + (size_t)k * p->C, p->C);
        printf("\n");
    }
}

static void text_stream_begin(const pctx *c, const char *src, int window, int stride)
{
    (void)c;
    printf("streaming %s: windows of %d steps every %d\n%10s %10s  %-20s %s\n", src, window, stride, "start", "end",
           "label", "confidence");
}

static void text_stream_window(const pctx *c, const vl_prediction *w)
{
    if (w->seg) /* per-frame labels of the window, as segments in time */
        for (int k = 0; k < w->nseg; k++)
            printf("%9.2fs %9.2fs  %-20s %.3f  (latency %.0f ms)\n", w->seg[k].start_s, w->seg[k].end_s,
                   cname(c, w->seg[k].label), w->seg[k].confidence, w->latency_ms);
    else if (w->label)
        printf("%9.2fs %9.2fs  %-20s %.3f  (latency %.0f ms)\n", w->start_s, w->end_s, cname(c, w->label[0]),
               w->confidence[0], w->latency_ms);
    else { /* the window's last step: all C outputs of it */
        printf("%9.2fs %9.2fs  ", w->start_s, w->end_s);
        print_values(0, w->out + (size_t)(w->rows - 1) * w->C, w->C);
        printf("  (latency %.0f ms)\n", w->latency_ms);
    }
}

static const emitter text_emitter = {
    .begin = nothing, .item_begin = text_item_begin, .end = nothing,
    .item = {[CLIP_CLASS] = text_clip_class, [CLIP_VALUE] = text_clip_value, [FRAME_CLASS] = text_segments,
             [FRAME_VALUE] = text_frame_value, [WINDOW_CLASS] = text_segments, [WINDOW_VALUE] = text_window_value},
    .stream_begin = text_stream_begin, .stream_window = text_stream_window};

/* -- JSON: {"model":..., "predictions":[{"file":..., "steps":T, ...}, ...]} -- */

static void json_str(const char *s) { vl_json_write_string(stdout, s); }

static void json_segments(const pctx *c, const vl_prediction *p)
{
    printf("\"segments\":[");
    for (int k = 0; k < p->nseg; k++) {
        const vl_pred_segment *g = &p->seg[k];
        printf("%s{\"start\":%lld,\"end\":%lld,", k ? "," : "", (long long)g->start, (long long)g->end);
        if (c->fps > 0)
            printf("\"start_s\":%.4f,\"end_s\":%.4f,", g->start_s, g->end_s);
        printf("\"label\":");
        json_str(cname(c, g->label));
        printf(",\"confidence\":%.4f}", g->confidence);
    }
    printf("]}");
}

static void json_begin(const pctx *c)
{
    printf("{\"model\":");
    json_str(c->model);
    printf(",\"predictions\":[");
}

static void json_item_begin(const pctx *c, int i, const char *file, const vl_prediction *p)
{
    (void)c;
    printf("%s{\"file\":", i ? "," : "");
    json_str(file);
    printf(",\"steps\":%d,", p->T);
}

static void json_clip_class(const pctx *c, const char *file, const vl_prediction *p)
{
    (void)file;
    int a = p->label[0];
    printf("\"label\":");
    json_str(cname(c, a));
    printf(",\"confidence\":%.6g,\"probabilities\":{", p->out[a]);
    for (int k = 0; k < p->C; k++) {
        if (k)
            putchar(',');
        json_str(cname(c, k));
        printf(":%.6g", p->out[k]);
    }
    printf("}}");
}

static void json_clip_value(const pctx *c, const char *file, const vl_prediction *p)
{
    (void)c, (void)file;
    printf("\"value\":");
    print_values(1, p->out, p->C);
    printf("}");
}

static void json_frame_class(const pctx *c, const char *file, const vl_prediction *p)
{
    (void)file;
    printf("\"frames\":[");
    for (int t = 0; t < p->rows; t++) {
        if (t)
            putchar(',');
        json_str(cname(c, p->label[t]));
    }
    /* full precision: consumers re-threshold or re-smooth these */
    printf("],\"frame_probabilities\":[");
    for (int t = 0; t < p->rows; t++) {
        printf(t ? ",[" : "[");
        for (int k = 0; k < p->C; k++)
            printf(k ? ",%.9g" : "%.9g", p->out[(size_t)t * p->C + k]);
        putchar(']');
    }
    printf("],");
    json_segments(c, p);
}

static void json_frame_value(const pctx *c, const char *file, const vl_prediction *p)
{
    (void)c, (void)file;
    printf("\"values\":[");
    for (int t = 0; t < p->rows; t++) {
        if (t)
            putchar(',');
        print_values(1, p->out + (size_t)t * p->C, p->C);
    }
    printf("],\"mean\":");
    print_values(1, p->mean, p->C);
    printf("}");
}

static void json_window_class(const pctx *c, const char *file, const vl_prediction *p)
{
    (void)file;
    printf("\"windows\":[");
    for (int k = 0; k < p->rows; k++) {
        printf("%s{\"start\":%lld,\"end\":%lld,\"label\":", k ? "," : "", (long long)p->start[k],
               (long long)p->end[k]);
        json_str(cname(c, p->label[k]));
        printf(",\"confidence\":%.4f}", p->confidence[k]);
    }
    printf("],");
    json_segments(c, p);
}

static void json_window_value(const pctx *c, const char *file, const vl_prediction *p)
{
    (void)c, (void)file;
    printf("\"windows\":[");
    for (int k = 0; k < p->rows; k++) {
        printf("%s{\"start\":%lld,\"end\":%lld,\"value\":", k ? "," : "", (long long)p->start[k],
               (long long)p->end[k]);
        print_values(1, p->out + (size_t)k * p->C, p->C);
        printf("}");
    }
    printf("]}");
}

static void json_end(const pctx *c)
{
    (void)c;
    printf("]}\n");
}

static void json_stream_begin(const pctx *c, const char *src, int window, int stride)
{
    (void)c, (void)src, (void)window, (void)stride;
}

static void json_stream_window(const pctx *c, const vl_prediction *w)
{
    if (w->seg)
        for (int k = 0; k < w->nseg; k++) {
            printf("{\"start_s\":%.3f,\"end_s\":%.3f,\"label\":", w->seg[k].start_s, w->seg[k].end_s);
            json_str(cname(c, w->seg[k].label));
            printf(",\"confidence\":%.4f,\"latency_ms\":%.1f}\n", w->seg[k].confidence, w->latency_ms);
        }
    else if (w->label) {
        printf("{\"start_s\":%.3f,\"end_s\":%.3f,\"label\":", w->start_s, w->end_s);
        json_str(cname(c, w->label[0]));
        printf(",\"confidence\":%.4f,\"latency_ms\":%.1f}\n", w->confidence[0], w->latency_ms);
    } else {
        printf("{\"start_s\":%.3f,\"end_s\":%.3f,\"value\":", w->start_s, w->end_s);
        print_values(1, w->out + (size_t)(w->rows - 1) * w->C, w->C);
        printf(",\"latency_ms\":%.1f}\n", w->latency_ms);
    }
}

static const emitter json_emitter = {
    .begin = json_begin, .item_begin = json_item_begin, .end = json_end,
    .item = {[CLIP_CLASS] = json_clip_class, [CLIP_VALUE] = json_clip_value, [FRAME_CLASS] = json_frame_class,
             [FRAME_VALUE] = json_frame_value, [WINDOW_CLASS] = json_window_class,
             [WINDOW_VALUE] = json_window_value},
    .stream_begin = json_stream_begin, .stream_window = json_stream_window};

/* ---- the command -------------------------------------------------------------------- */

typedef struct {
    const char *model, *data, *prec;
    int json, threads;
    double timeout;
    vl_predict_opts po;
    const char **files;
    int nfiles;
} opts;

static int is_stream(const char *p)
{
    if (!strcmp(p, "-") || !strncmp(p, "pipe:", 5) || strstr(p, "://"))
        return 1;
    struct stat sb;
    return stat(p, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode); /* a FIFO or device */
}

/* The backbone's notes (a bf16 model on a CPU without bf16: fp32 instead). */
static void on_note(void *user, const char *msg)
{
    (void)user;
    fprintf(stderr, "%s\n", msg);
}

/* 0: go on, 1: failed (said why), 2: --help printed. */
static int parse(int argc, char **argv, opts *o)
{
    *o = (opts){.po = {.batch = 64, .min_segment = 1}};
    if (!(o->files = calloc((size_t)argc + 1, sizeof *o->files)))
        return cli_fail("predict", "out of memory");
    cli_args a = {.argc = argc, .argv = argv, .cmd = "predict"};
    for (a.i = 0; a.i < argc && !a.bad; a.i++) {
        if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) {
            cli_help_predict(stdout);
            return 2;
        } else if (cli_opt(&a, "--model")) o->model = a.val;
        else if (cli_opt(&a, "--data")) o->data = a.val;
        else if (cli_opt(&a, "--window")) o->po.window = cli_num(&a, 1e-3, 1e9);
        else if (cli_opt(&a, "--stride")) o->po.stride = cli_num(&a, 1e-3, 1e9);
        else if (cli_opt(&a, "--min-segment")) o->po.min_segment = cli_int(&a, 1, 1 << 24);
        else if (cli_opt(&a, "--smooth")) o->po.smooth = cli_int(&a, 1, 1 << 24);
        else if (cli_flag(&a, "--json")) o->json = 1;
        else if (cli_opt(&a, "--batch")) o->po.batch = cli_int(&a, 1, 1 << 20);
        else if (cli_opt(&a, "--threads")) o->threads = cli_int(&a, 1, 1024);
        else if (cli_opt(&a, "--timeout")) o->timeout = cli_num(&a, 0.1, 1e6);
        else if (cli_opt(&a, "--precision")) o->prec = a.val;
        else if (argv[a.i][0] == '-' && argv[a.i][1] && argv[a.i][1] != '\0')
            return cli_fail("predict", "unknown option '%s' (see vidlstm predict --help)", argv[a.i]);
        else
            o->files[o->nfiles++] = argv[a.i];
    }
    if (a.bad || !o->model || (!o->nfiles && !o->data))
        return a.bad ? 1 : cli_fail("predict", "--model MODEL.safetensors and feature files (or --data) are required");
    if (!o->timeout && getenv("VIDLSTM_TIMEOUT")) {
        char *end;
        const char *e = getenv("VIDLSTM_TIMEOUT");
        o->timeout = strtod(e, &end);
        if (end == e || *end || !(o->timeout >= 0.1 && o->timeout <= 1e6))
            return cli_fail("predict", "VIDLSTM_TIMEOUT='%s' is not a number of seconds in [0.1, 1e6]", e);
    }
    return 0;
}

/* The options that do not fit the model, or a stream among other inputs. */
static int check_opts(const opts *o, const vl_net_config *cfg)
{
    const int seq = cfg->mode == VL_OUT_SEQUENCE, cls = cfg->task == VL_TASK_CLASSIFY;
    if (o->po.stride > 0 && o->po.window <= 0)
        return cli_fail("predict", "--stride needs --window");
    if (o->po.smooth > 1 && !(seq && cls))
        return cli_fail("predict", "--smooth applies to per-frame classifiers; %s is a %s model", o->model,
                        cls ? "clip" : "regression");
    if (o->po.window && seq)
        return cli_fail("predict", "--window applies to clip models; %s labels every frame already", o->model);
    return 0;
}

/* The --data manifest (feature files, or the video data eval takes) into d;
 * rate[i]: steps per second of --window for item i. */
static int load_data(vl_model *m, const opts *o, const vl_data_desc *desc, const vl_net_config *cfg, vl_dataset *d)
{
    if (o->data && desc->video) {
        /* the video data eval takes, extracted the way the model records */
        const vl_model_meta *meta = vl_model_meta_of(m);
        vl_extractor *xt;
        if (vl_model_extractor(m, &xt))
            return cli_fail_status("predict");
        vl_dataset_opts lo = {.task = cfg->task, .mode = cfg->mode, .dim = cfg->input};
        cli_video_opts v = {.backbone = meta->backbone, .tap = meta->tap[0] ? meta->tap : NULL,
                            .sha256 = meta->backbone_sha256, .fps = meta->fps, .every_k = meta->every_k, .quiet = 1,
                            .precision = meta->precision, .desc = desc};
        return cli_load_data("predict", o->data, &lo, &v, &xt, d);
    } else if (o->data) {
        vl_dataset_opts lo = {.task = cfg->task, .mode = cfg->mode, .dim = cfg->input, .unlabelled = 1};
        if (vl_dataset_load(o->data, &lo, d))
            return cli_fail_status("predict");
    }
    return 0;
}

/* Each file argument (a video or a .npy) appended to d, its window rate in
 * rate[]. A stream is left for predict_stream: *stream names it. */
static int load_files(vl_model *m, const opts *o, vl_dataset *d, double *rate, const char **stream)
{
    const double u = vl_model_fps(m) > 0 ? vl_model_fps(m) : 1.0;
    for (int i = 0; i < o->nfiles; i++) {
        const char *f = o->files[i];
        if (is_stream(f)) {
            if (o->nfiles > 1 || o->data)
                return cli_fail("predict", "a stream (%s) must be the only input", f);
            if (o->po.smooth > 1)
                return cli_fail("predict", "--smooth needs whole sequences; it does not apply to a stream (%s)", f);
            *stream = f;
            return 0;
        }
        float *x = NULL;
        int T = 0;
        vl_features ft;
        const int video = vl_is_video_file_name(f);
        vl_status st = video ? vl_model_video_features(m, f, &ft) : vl_model_read_features(m, f, &x, &T);
        if (video && !st) {
            x = ft.x;
            T = ft.T;
            ft.x = NULL;
            vl_features_free(&ft);
        }
        if (st)
            return cli_fail_status("predict");
        if (vl_dataset_add_features(d, f, T, vl_model_feature_dim(m), x)) {
            free(x);
            return cli_fail_status("predict");
        }
        rate[d->n - 1] = video ? u : 1.0;
    }
    return 0;
}

static int on_window(void *user, const vl_prediction *w)
{
    const pctx *c = user;
    c->e->stream_window(c, w);
    fflush(stdout);
    return 0;
}

static int predict_stream(const pctx *c, const char *src, const vl_predict_opts *po)
{
    int L, S;
    vl_extractor *xt;
    if (vl_model_extractor(c->m, &xt) || vl_model_stream_steps(c->m, po, &L, &S))
        return cli_fail_status("predict");
    c->e->stream_begin(c, src, L, S);
    if (vl_model_stream(c->m, src, po, on_window, (void *)c))
        return cli_fail_status("predict");
    return 0;
}

/* The kind of result the model gives (windows: clip models only). */
static int kind_of(const vl_net_config *cfg, int windows)
{
    const int cls = cfg->task == VL_TASK_CLASSIFY;
    if (windows)
        return cls ? WINDOW_CLASS : WINDOW_VALUE;
    if (cfg->mode == VL_OUT_SEQUENCE)
        return cls ? FRAME_CLASS : FRAME_VALUE;
    return cls ? CLIP_CLASS : CLIP_VALUE;
}

/* Every input's result, then all of them printed. */
static int predict_all(const pctx *c, const opts *o, const vl_net_config *cfg, vl_dataset *d, const double *rate)
{
    vl_prediction *res = calloc((size_t)d->n + 1, sizeof *res);
    if (!res)
        return cli_fail("predict", "out of memory");
    vl_model_normalize(c->m, d);
    vl_status st = VL_OK;
    if (o->po.window)
        for (int i = 0; !st && i < d->n; i++)
            st = vl_model_predict_seq_windows(c->m, &d->items[i], rate[i], &o->po, &res[i]);
    else
        st = vl_model_predict_dataset(c->m, d, &o->po, res);
    if (!st) {
        const int kind = kind_of(cfg, o->po.window > 0);
        c->e->begin(c);
        for (int i = 0; i < d->n; i++) {
            c->e->item_begin(c, i, d->items[i].path, &res[i]);
            c->e->item[kind](c, d->items[i].path, &res[i]);
        }
        c->e->end(c);
    }
    for (int i = 0; i < d->n; i++)
        vl_prediction_free(&res[i]);
    free(res);
    return st ? cli_fail_status("predict") : 0;
}

int cmd_predict(int argc, char **argv)
{
    opts o;
    int status = parse(argc, argv, &o);
    if (status) {
        free(o.files);
        return status == 2 ? 0 : 1;
    }
    if (o.threads)
        vl_set_threads(o.threads);
    vl_video_set_timeout(o.timeout);
    vl_model *m = NULL;
    vl_dataset d = {0};
    double *rate = NULL;
    const char *stream = NULL;
    vl_precision prec;
    status = 1;
    if (vl_model_open(o.model, &m)) {
        cli_fail_status("predict");
        goto out;
    }
    vl_model_set_note(m, on_note, NULL);
    const vl_net_config *cfg = vl_net_get_config(vl_model_net(m));
    if (o.prec && cli_prep_precision("predict", o.prec, &prec))
        goto out;
    if (o.prec) /* instead of the model's record */
        vl_model_meta_of(m)->precision = prec;
    vl_data_desc desc = {0}; /* one look at --data */
    if (o.data)
        vl_data_describe(o.data, &desc);
    const int bad = check_opts(&o, cfg) || load_data(m, &o, &desc, cfg, &d);
    const int data_video = desc.video;
    vl_data_desc_free(&desc);
    if (bad)
        goto out;
    if (!(rate = calloc((size_t)(d.n + o.nfiles) + 1, sizeof *rate))) {
        cli_fail("predict", "out of memory");
        goto out;
    }
    for (int i = 0; i < d.n; i++) /* --data videos: windows in seconds, as for video arguments */
        rate[i] = data_video && vl_model_fps(m) > 0 ? vl_model_fps(m) : 1.0;
    if (load_files(m, &o, &d, rate, &stream))
        goto out;
    pctx c = {.e = o.json ? &json_emitter : &text_emitter, .m = m, .model = o.model, .fps = vl_model_fps(m)};
    status = stream ? predict_stream(&c, stream, &o.po) : predict_all(&c, &o, cfg, &d, rate);
out:
    vl_dataset_free(&d);
    vl_model_close(m);
    free(rate);
    free(o.files);
    return status;
}
