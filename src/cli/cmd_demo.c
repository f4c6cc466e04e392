/* vidlstm demo: the whole job on videos it makes itself, with nothing
 * downloaded. Generates head-camera videos of someone standing, walking and
 * running along a street (src/demo), then extracts features, trains a clip
 * model (walk vs run: single frames look alike, only the dynamics differ) and
 * a per-frame model (long videos whose activity switches), evaluates both on
 * held-out videos, labels a new video and writes the reports. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <limits.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "cli/prep.h"
#include "core/atomic.h"
#include "core/outpath.h"
#include "demo/scene.h"
#include "model/modelfile.h"
#include "pipeline/extract.h"
#include "train/metrics.h"
#include "train/trainer.h"

void cli_help_demo(FILE *f)
{
    fputs("usage: vidlstm demo [--dir DIR] [--backbone NAME|MODEL.onnx] [options]\n"
          "\n"
          "Generates a sample dataset of real video files (a head-mounted camera while its\n"
          "wearer stands, walks or runs along a street; single frames look alike, only the\n"
          "dynamics differ), then extracts features, trains a clip model (walk vs run) and\n"
          "a per-frame model (stand/walk/run in long videos), evaluates both on held-out\n"
          "videos, labels a new video and writes HTML reports. Runs again in seconds: the\n"
          "videos and features are kept in DIR.\n"
          "\n"
          "  --dir DIR          where the videos, models and reports go (default vidlstm-demo)\n"
          "  --backbone SPEC    builtin:motion (default: the camera's own motion between every\n"
          "                     pair of decoded frames, which is what tells the activities\n"
          "                     apart), builtin:ego-motion, builtin:motion-grid, an ONNX CNN,\n"
          "                     or a pretrained one by name (resnet18, ...: vidlstm backbones);\n"
          "                     A+B fuses several\n"
          "  --layer NAME       ONNX tensor to read features from\n"
          "  --preprocess NAME, --input-range LO,HI, --mean R,G,B, --std R,G,B,\n"
          "  --channel-order rgb|bgr   an ONNX backbone's input preprocessing (as train)\n"
          "  --precision fp32|bf16|int8  an ONNX backbone's arithmetic (as train; default fp32)\n"
          "  --fps F            sampling rate (default 10)\n"
          "  --clips N          clips per class (default 40)\n"
          "  --long N           long videos with per-frame labels (default 12)\n"
          "  --epochs N         training epochs per model (default 40)\n"
          "  --seed N           dataset and training seed (default 1)\n"
          "  --threads N        (default: all cores)\n"
          "  --json             one JSON object: accuracy (clip model), frame_accuracy\n"
          "                     (per-frame model), and where everything is\n",
          f);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    int quiet, tty;
    const char *what;
    double last;
} demo_prog;

static int on_train(void *user, const vl_train_event *e)
{
    demo_prog *p = user;
    if (p->quiet)
        return 0;
    double now = mono();
    if (p->tty) {
        if (now - p->last < 0.1 && e->iteration != e->iterations)
            return 0;
        p->last = now;
        fprintf(stderr, "\r\033[Ktraining the %s: epoch %d/%d, loss %.3f", p->what, e->epoch, e->epochs, e->loss);
        if (!isnan(e->val_loss))
            fprintf(stderr, ", validation loss %.3f", e->val_loss);
        if (e->iteration == e->iterations)
            fputc('\n', stderr);
    } else if (e->epoch_end && (e->epoch % 10 == 0 || e->epoch == e->epochs)) {
        fprintf(stderr, "training the %s: epoch %d/%d, loss %.3f, validation loss %.3f\n", p->what, e->epoch,
                e->epochs, e->loss, e->val_loss);
    }
    return 0;
}

/* Split by video, normalise, train, save with the backbone, evaluate on the
 * held-out videos (printing the metrics and writing the report). */
static int train_eval(const char *what, vl_dataset *d, vl_extractor *xt, const char *layers, vl_out_mode mode,
                      int epochs, uint64_t seed, const char *model_path, const char *report, int json, double *result)
{
    int status = 1;
    uint8_t *isv = calloc((size_t)d->n, 1);
    int *tr = malloc(sizeof(int) * (size_t)d->n), *va = malloc(sizeof(int) * (size_t)d->n), ntr = 0, nva = 0;
    float *mean = malloc(sizeof(float) * (size_t)d->D), *sd = malloc(sizeof(float) * (size_t)d->D);
    vl_net *net = NULL;
    vl_train_result res = {0};
    if (!isv || !tr || !va || !mean || !sd) {
        cli_fail("demo", "out of memory");
        goto out;
    }
    if (vl_dataset_split(d, 0.25, seed, isv)) {
        cli_fail_status("demo");
        goto out;
    }
    for (int i = 0; i < d->n; i++) {
        if (isv[i])
            va[nva++] = i;
        else
            tr[ntr++] = i;
    }
    vl_dataset_stats(d, tr, ntr, mean, sd);
    vl_dataset_normalize(d, mean, sd);
    vl_net_config cfg = {.input = d->D, .outputs = d->nclasses, .mode = mode, .task = VL_TASK_CLASSIFY};
    if (vl_net_parse_layers(layers, &cfg)) {
        cli_fail("demo", "%s", vl_errmsg());
        goto out;
    }
    if (vl_net_create(&cfg, seed, &net)) {
        cli_fail_status("demo");
        goto out;
    }
    demo_prog pr = {.quiet = json, .tty = isatty(2), .what = what};
    vl_train_opts to = {.batch = 16, .epochs = epochs, .shuffle = VL_SHUFFLE_EVERY_EPOCH, .bucket = 1, .seed = seed,
                        .cb = on_train, .user = &pr};
    to.opt = (vl_optim_config){.kind = VL_OPT_ADAM, .lr = 3e-3f, .weight_decay = 1e-4f,
                               .clip = VL_CLIP_GLOBAL_L2NORM, .clip_threshold = 5.0f};
    if (vl_train(net, d, tr, ntr, d, va, nva, &to, &res)) {
        cli_fail_status("demo");
        goto out;
    }
    vl_model_meta meta = {.nclasses = d->nclasses, .class_names = d->classes, .dim = d->D, .norm_mean = mean,
                          .norm_std = sd};
    const vl_backbone_desc *bd = vl_extractor_backbone(xt);
    snprintf(meta.backbone, sizeof meta.backbone, "%s", bd->name);
    snprintf(meta.tap, sizeof meta.tap, "%s", bd->tap);
    snprintf(meta.backbone_sha256, sizeof meta.backbone_sha256, "%s", bd->sha256);
    meta.feature_dim = bd->feature_dim;
    meta.pre = bd->pre;
    meta.has_input_norm = bd->has_norm;
    meta.input_norm = bd->norm;
    meta.precision = bd->precision;
    vl_extractor_sampling(xt, &meta.fps, &meta.every_k);
    if (vl_model_save(model_path, net, &meta)) {
        cli_fail_status("demo");
        goto out;
    }
    if (!json)
        printf("\n%s, validated on %d held-out %s:\n", what, nva, mode == VL_OUT_LAST ? "clips" : "videos");
    cli_eval_opts eo = {.cmd = "demo", .title = what, .model = model_path, .report = report, .json = 0,
                        .quiet = json, .progress = res.history, .nprogress = res.nhistory, .result = result};
    status = cli_evaluate(net, d, va, nva, 64, &eo);
out:
    vl_train_result_free(&res);
    vl_net_free(net);
    free(isv);
    free(tr);
    free(va);
    free(mean);
    free(sd);
    return status;
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* How the user can run this binary again: "vidlstm" when PATH finds this very
 * file, else its path (relative to the current folder when under it, as
 * build/vidlstm after the README's first command). */
static void self_command(char *buf, size_t n)
{
    char exe[PATH_MAX];
    snprintf(buf, n, "vidlstm");
    if (!realpath("/proc/self/exe", exe))
        return;
    const char *path = getenv("PATH");
    for (const char *p = path; p && *p;) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char cand[PATH_MAX + 16], real[PATH_MAX];
        if (len > 0 && len < PATH_MAX) {
            snprintf(cand, sizeof cand, "%.*s/vidlstm", (int)len, p);
            if (access(cand, X_OK) == 0) { /* the first hit is what the shell runs */
                if (realpath(cand, real) && !strcmp(real, exe))
                    return;
                break; /* another vidlstm: name this one by its path */
            }
        }
        p = e ? e + 1 : NULL;
    }
    char cwd[PATH_MAX];
    size_t cl;
    if (getcwd(cwd, sizeof cwd) && (cl = strlen(cwd)) > 1 && !strncmp(exe, cwd, cl) && exe[cl] == '/')
        snprintf(buf, n, "%s", exe + cl + 1);
    else
        snprintf(buf, n, "%s", exe);
}

int cmd_demo(int argc, char **argv)
{
    const char *dir = "vidlstm-demo";
    /* The demo's classes differ only in how the camera moves (the scenes are
     * alike by design): the default backbone, builtin:motion, is made for that. */
    cli_video_opts v = {.fps = 10, .backbone = "builtin:motion"};
    int json = 0, threads = 0, clips = 40, nlong = 12, epochs = 40;
    uint64_t seed = 1;
    cli_prep prep = {0};
    vl_input_norm norm;
    int norm_set;
    cli_args a = {.argc = argc, .argv = argv, .cmd = "demo"};
    for (a.i = 0; a.i < argc && !a.bad; a.i++) {
        if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) {
            cli_help_demo(stdout);
            return 0;
        } else if (cli_opt(&a, "--dir")) dir = a.val;
        else if (cli_opt(&a, "--backbone")) v.backbone = a.val;
        else if (cli_opt(&a, "--layer")) v.tap = a.val;
        else if (cli_prep_opt(&a, &prep)) continue;
        else if (cli_opt(&a, "--fps")) v.fps = cli_num(&a, 0.5, 120);
        else if (cli_opt(&a, "--clips")) clips = cli_int(&a, 4, 100000);
        else if (cli_opt(&a, "--long")) nlong = cli_int(&a, 4, 100000);
        else if (cli_opt(&a, "--epochs")) epochs = cli_int(&a, 1, 100000);
        else if (cli_opt(&a, "--seed")) seed = (uint64_t)cli_num(&a, 0, 9007199254740992.0);
        else if (cli_opt(&a, "--threads")) threads = cli_int(&a, 1, 1024);
        else if (cli_flag(&a, "--json")) json = 1;
        else
            return cli_fail("demo", "unknown option '%s' (see vidlstm demo --help)", argv[a.i]);
    }
    if (a.bad || cli_prep_finish("demo", &prep, &norm, &norm_set) ||
        cli_prep_precision("demo", prep.precision, &v.precision))
        return 1;
    if (norm_set)
        v.norm = &norm;
    if (threads)
        vl_set_threads(threads);
    {
        const char *bb[] = {v.backbone};
        if (vl_output_dir_check("--dir", dir, bb, 1))
            return cli_fail_status("demo");
    }
    double t0 = mono();
    char p[4200], q[4200], cache[4200];

    /* 1. the videos (kept: a second run starts training at once) */
    snprintf(p, sizeof p, "%s/.complete-%d-%d-%llu", dir, clips, nlong, (unsigned long long)seed);
    vl_demo_summary sum = {0};
    if (!file_exists(p)) {
        if (!json)
            fprintf(stderr, "generating the demo videos in %s/ (%d walking and %d running clips, %d long videos)...\n",
                    dir, clips, clips, nlong);
        vl_demo_opts go = {.clips_per_class = clips, .long_videos = nlong, .seed = seed, .threads = threads};
        if (vl_demo_make_dataset(dir, &go, &sum))
            return cli_fail_status("demo");
        (void)vl_write_file_atomic(p, "", 0); /* the marker: best effort */
        if (!json)
            fprintf(stderr, "  %d videos, %.1f minutes of video, %lld frames, in %.1f s\n", sum.clips + sum.long_videos,
                    sum.video_seconds / 60, (long long)sum.frames, sum.wall_seconds);
    } else if (!json) {
        fprintf(stderr, "using the demo videos already in %s/\n", dir);
    }
    snprintf(cache, sizeof cache, "%s/.features", dir);
    v.cache = cache;
    v.quiet = json;
    v.seed = seed;

    /* 2. the clip model: walk vs run, folder per class */
    vl_extractor *xt = NULL;
    vl_dataset d = {0};
    double acc = NAN, facc = NAN;
    int status = 1;
    char clip_model[4200], seq_model[4200], rep1[4200], rep2[4200];
    snprintf(clip_model, sizeof clip_model, "%s/walk-run.safetensors", dir);
    snprintf(seq_model, sizeof seq_model, "%s/activity.safetensors", dir);
    snprintf(rep1, sizeof rep1, "%s/report-clips", dir);
    snprintf(rep2, sizeof rep2, "%s/report-frames", dir);
    {
        const char *bb[] = {v.backbone};
        if (vl_output_check("--dir", clip_model, bb, 1) || vl_output_check("--dir", seq_model, bb, 1) ||
            vl_output_dir_check("--dir", rep1, bb, 1) || vl_output_dir_check("--dir", rep2, bb, 1)) {
            cli_fail_status("demo");
            goto out;
        }
    }
    snprintf(p, sizeof p, "%s/clips", dir);
    vl_dataset_opts o = {.task = VL_TASK_CLASSIFY, .mode = VL_OUT_LAST};
    if (cli_load_data("demo", p, &o, &v, &xt, &d))
        goto out;
    if (train_eval("clip model (walk vs run, BiLSTM)", &d, xt, "bilstm:32,dropout:0.2", VL_OUT_LAST, epochs, seed,
                   clip_model, rep1, json, &acc))
        goto out;
    vl_dataset_free(&d);

    /* 3. the per-frame model: long videos, activity switching */
    snprintf(p, sizeof p, "%s/long", dir);
    o.mode = VL_OUT_SEQUENCE;
    if (cli_load_data("demo", p, &o, &v, &xt, &d))
        goto out;
    if (train_eval("per-frame model (stand/walk/run, two BiGRU layers)", &d, xt, "bigru:32,bigru:32",
                   VL_OUT_SEQUENCE, epochs, seed, seq_model, rep2, json, &facc))
        goto out;

    /* 4. labelling a new video with the per-frame model */
    if (!json) {
        snprintf(q, sizeof q, "%s/new-video.mp4", dir);
        if (!file_exists(q)) {
            vl_demo_segment segs[3] = {{0, 4, VL_DEMO_WALK}, {4, 8, VL_DEMO_RUN}, {8, 12, VL_DEMO_STAND}};
            vl_demo_clip c = {.width = 320, .height = 240, .fps = 25, .duration = 12, .seed = seed + 999,
                              .segments = segs, .nsegments = 3};
            if (vl_demo_render_clip(q, &c)) {
                cli_fail_status("demo");
                goto out;
            }
        }
        printf("\nlabelling a new video (truth: walk 0-4 s, run 4-8 s, stand 8-12 s):\n");
        fflush(stdout);
        char *pa[] = {"--model", seq_model, q, "--min-segment", "3"};
        if (cmd_predict(5, pa))
            goto out;
    }
    double secs = mono() - t0;
    if (json) {
        printf("{\"accuracy\":%.6g,\"frame_accuracy\":%.6g,\"seconds\":%.2f,\"dir\":", acc, facc, secs);
        vl_json_write_string(stdout, dir);
        printf(",\"clip_model\":");
        vl_json_write_string(stdout, clip_model);
        printf(",\"frame_model\":");
        vl_json_write_string(stdout, seq_model);
        printf(",\"reports\":[");
        vl_json_write_string(stdout, rep1);
        printf(",");
        vl_json_write_string(stdout, rep2);
        printf("]}\n");
    } else {
        char self[PATH_MAX];
        self_command(self, sizeof self);
        printf("\nclip model:      validation accuracy %.1f%%\n"
               "per-frame model: frame accuracy %.1f%%\n"
               "reports:         %s/report.html\n"
               "                 %s/report.html\n"
               "models:          %s, %s\n"
               "done in %.0f s; try: %s predict --model %s YOUR_VIDEO.mp4\n",
               100 * acc, 100 * facc, rep1, rep2, clip_model, seq_model, secs, self, seq_model);
    }
    status = 0;
out:
    vl_dataset_free(&d);
    vl_extractor_close(xt);
    return status;
}
