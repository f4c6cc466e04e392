/* vidlstm train: feature sequences + labels -> a trained model file. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "cli/prep.h"
#include "core/atomic.h"
#include "core/outpath.h"
#include "dist/dist.h"
#include "model/layers_table.h"
#include "model/modelfile.h"
#include "pipeline/extract.h"
#include "pipeline/videodata.h"
#include "report/report.h"
#include "train/dataset.h"
#include "train/metrics.h"
#include "train/trainer.h"

void cli_help_train(FILE *f)
{
    fputs("usage: vidlstm train --data TRAIN.csv --out MODEL.safetensors [options]\n"
          "\n"
          "Trains a recurrent network on videos (features are extracted with a backbone and\n"
          "cached) or on feature sequences (.npy float32 [T, D]) listed in a manifest.\n"
          "See docs/train.md and docs/video.md.\n"
          "\n"
          "data:\n"
          "  --data DIR|FILE          videos: a folder per class (DIR/<class>/<video>), a folder of\n"
          "                           videos with same-named per-frame label .csv files (mode\n"
          "                           sequence), or a CSV of videos: path,label[,start,end]\n"
          "                           (mode sequence: path,labels.csv); features: a CSV of .npy\n"
          "                           files: path,label[,group]\n"
          "  --clips N                cut N random clips from each video ...\n"
          "  --clip-length MIN:MAX    ... of MIN to MAX seconds (default 2:5)\n"
          "video features:\n"
          "  --backbone SPEC          builtin:motion (default: camera motion at the source\n"
          "                           frame rate, no download), builtin:motion-grid, MODEL.onnx,\n"
          "                           or a pretrained CNN by name (resnet18, mobilenetv2, ...:\n"
          "                           vidlstm backbones; fetched once, checked by SHA-256), a\n"
          "                           person's pose (movenet-lightning, movenet-thunder);\n"
          "                           A+B fuses several (features side by side, one decoding pass)\n"
          "  --layer NAME             ONNX tensor to read features from (default: the input of\n"
          "                           the final classifier, e.g. ResNet's pooled 512-d vector;\n"
          "                           a model exported without one: its output); with A+B\n"
          "                           one per part, joined by '+'\n",
          f);
    cli_prep_help(f);
    fputs("  --fps F                  sampling rate (default 10), or\n"
          "  --every K                every K-th frame\n"
          "  --cache DIR              feature cache (default ~/.cache/vidlstm/features)\n"
          "  --no-cache               extract again, keep nothing\n"
          "  --jobs N                 videos decoded in parallel (default: automatic)\n"
          "  --val-data FILE          validation manifest, or\n"
          "  --val-fraction F         hold out about F of each class's source videos (groups;\n"
          "                           clips of one video never straddle the split), or\n"
          "  --split-file FILE        lines `path[,val|train]` naming the validation items\n"
          "                           (default: clip models --val-fraction 0.2 when every class\n"
          "                           has two or more groups, else no validation; per-frame\n"
          "                           models none)\n"
          "  --no-normalize           do not standardise features (default: per-dimension mean\n"
          "                           and std of the training set, stored in the model)\n"
          "network:\n"
          "  --layers SPEC            comma-separated: lstm:H bilstm:H gru:H bigru:H dropout:P\n"
          "                           mean (bag-of-frames baseline); default: clip models\n"
          "                           dropout:0.5,bilstm:128,dropout:0.2 (input dropout), per-frame\n"
          "                           models bilstm:128,dropout:0.2\n"
          "  --mode last|sequence     one label per clip or per frame (default: what the data\n"
          "                           has: sequence when its labels are per-frame label files)\n"
          "  --task classify|regress  (default classify)\n"
          "  --class-weights auto|none|W1,W2,...  loss weights per class (auto = balanced)\n"
          "training (MATLAB trainingOptions names in brackets):\n"
          "  --optimizer adam|sgdm|rmsprop          (default adam)\n"
          "  --lr R                   [InitialLearnRate] default 0.001 (sgdm 0.01)\n"
          "  --momentum M             sgdm momentum (0.9)\n"
          "  --l2 L                   [L2Regularization] default 0.0001\n"
          "  --lr-schedule none|piecewise|cosine\n"
          "  --lr-drop-period N --lr-drop-factor F   piecewise: every N epochs multiply by F\n"
          "                           (defaults 10, 0.1)\n"
          "  --min-lr R               cosine floor (0)\n"
          "  --gradient-threshold T   [GradientThreshold] (default: none)\n"
          "  --gradient-threshold-method global-l2norm|l2norm|absolute-value\n"
          "  --batch N                [MiniBatchSize] default 32 (per-frame models 4)\n"
          "  --epochs N               [MaxEpochs] default 30\n"
          "  --shuffle every-epoch|once|never\n"
          "  --sequence-length longest|shortest   pad to the batch's longest (default) or cut\n"
          "                           to its shortest\n"
          "  --no-bucket              do not batch sequences of similar length together\n"
          "  --val-frequency N        [ValidationFrequency] iterations (default: every epoch)\n"
          "  --patience N             [ValidationPatience] stop after N validations without a\n"
          "                           lower validation loss; the best network is kept\n"
          "  --output-network best-validation|last-iteration   [OutputNetwork] which weights\n"
          "                           to keep (default: best-validation for clip models with\n"
          "                           validation data, last-iteration for per-frame models)\n"
          "  --seed N                 initialisation, dropout, shuffling, split (default 1)\n"
          "  --ensemble K             train K networks (seeds N, N+1, ...; each with its own\n"
          "                           validation split) and average their probabilities\n"
          "                           (default: clip models 3, per-frame models 1)\n"
          "  --threads N              (default: all cores)\n"
          "  --rnn-precision fp32|bf16   GEMMs of the LSTM/GRU layers while training (default\n"
          "                           fp32); bf16 rounds their inputs to bfloat16 and\n"
          "                           accumulates in fp32 (weights, gradients and the\n"
          "                           optimiser stay fp32; prediction is fp32 either way).\n"
          "                           Needs AVX512-BF16 or AMX, else fp32 with a note\n"
          "  --no-memory-check        train even when the estimated memory (weights, optimiser\n"
          "                           state, activations) exceeds MemAvailable\n"
          "output:\n"
          "  --out FILE               the model (.safetensors)\n"
          "  --checkpoint FILE        written every epoch (default OUT.ckpt; removed on success)\n"
          "  --resume                 continue from the checkpoint of an interrupted run\n"
          "  --report DIR             training-progress, confusion and timeline charts + HTML\n"
          "  --json                   JSON lines on stdout: one per epoch, then a summary\n"
          "  --quiet                  no progress display\n"
          "several machines (an MPI build, -DVIDLSTM_MPI=ON; docs/cluster.md):\n"
          "  mpirun -np N vidlstm train ...   data-parallel: each rank takes its part of every\n"
          "                           --batch (the global batch), gradients are summed, and\n"
          "                           rank 0 alone prints and writes; --resume at any N\n",
          f);
}

typedef struct {
    const char *data, *val_data, *split_file, *out, *checkpoint, *report;
    double val_fraction;
    int normalize;
    const char *layers;
    cli_video_opts v;
    cli_prep prep;
    vl_input_norm norm; /* v.norm points here when the options chose one */
    vl_out_mode mode;
    vl_task task;
    const char *class_weights;
    vl_train_opts t;
    int lr_given, mode_given, layers_given, batch_given, epochs_given, output_given;
    int ensemble; /* members; 0 = the default for the mode */
    int threads, json, quiet, resume;
    int no_memcheck;
    int rnn_bf16;
} train_args;

/* ---- progress --------------------------------------------------------------------- */

typedef struct {
    int tty, json, quiet, regress;
    double last_draw;
    int log_every, line_open;
    int iter0; /* iteration before this run's first (resumed runs start later) */
    const char *metric_name;
    int member; /* ensembles: the member being trained (1-based), else 0 */
    int stdout_errno, stdout_epoch; /* --json lines could not be written (at that epoch) */
} progress;

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_time(char *b, size_t n, double s)
{
    if (!(s >= 0) || s > 359999)
        snprintf(b, n, "--:--");
    else if (s >= 3600)
        snprintf(b, n, "%d:%02d:%02d", (int)s / 3600, ((int)s / 60) % 60, (int)s % 60);
    else
        snprintf(b, n, "%02d:%02d", (int)s / 60, (int)s % 60);
}

/* A JSON number, or null when not finite (JSON has no inf/nan). */
static void jnum(const char *key, double v)
{
    if (isfinite(v))
        printf(",\"%s\":%.6g", key, v);
    else
        printf(",\"%s\":null", key);
}

static int on_event(void *user, const vl_train_event *e)
{
    progress *p = user;
    if (e->resumed_from && !p->quiet)
        fprintf(stderr, "resumed after epoch %d (iteration %d)\n", e->resumed_from, e->iteration - 1);
    if (p->iter0 < 0)
        p->iter0 = e->iteration - 1;
    double spi = e->elapsed / (double)(e->iteration - p->iter0);
    double left = spi * (double)(e->iterations - e->iteration);
    char tl[32], te[32];
    fmt_time(tl, sizeof tl, left);
    fmt_time(te, sizeof te, e->elapsed);
    char val[96] = "";
    if (!isnan(e->val_loss))
        snprintf(val, sizeof val, " | val loss %.4f %s %.4g", e->val_loss, p->metric_name, e->val_metric);
    if (p->json && (e->epoch_end || e->validated)) {
        printf("{\"event\":\"%s\",\"epoch\":%d,\"iteration\":%d", e->epoch_end ? "epoch" : "validation", e->epoch,
               e->iteration);
        if (p->member)
            printf(",\"member\":%d", p->member);
        jnum("loss", e->loss);
        jnum(p->regress ? "rmse" : "accuracy", e->metric);
        jnum("lr", e->lr);
        if (e->validated) {
            jnum("val_loss", e->val_loss);
            jnum(p->regress ? "val_rmse" : "val_accuracy", e->val_metric);
        }
        printf(",\"elapsed\":%.3f}\n", e->elapsed);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            /* nobody gets the progress (a full disk, a closed pipe): stop
             * now rather than after the whole run */
            p->stdout_errno = errno ? errno : EIO;
            p->stdout_epoch = e->epoch;
            return 1;
        }
    }
    if (p->quiet)
        return 0;
    if (p->tty) {
        double now = wall();
        int important = e->epoch_end || e->validated || e->iteration == e->iterations;
        if (!important && now - p->last_draw < 0.1)
            return 0;
        p->last_draw = now;
        int w = 20, fill = (int)((double)w * e->iteration / (e->iterations > 0 ? e->iterations : 1));
        char bar[32];
        for (int i = 0; i < w; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[w] = 0;
        fprintf(stderr, "\r\033[Kepoch %d/%d [%s] iter %d/%d loss %.4f %s %.4g%s lr %.3g %s left", e->epoch,
                e->epochs, bar, e->iteration, e->iterations, e->loss, p->metric_name, e->metric, val, e->lr, tl);
        p->line_open = 1;
        if (e->validated && e->epoch_end && (e->epoch % p->log_every == 0 || e->epoch == e->epochs)) {
            /* keep one line per validated epoch (at most ~50), like MATLAB's table */
            fputc('\n', stderr);
            p->line_open = 0;
        }
        fflush(stderr);
    } else if (e->epoch_end && (e->epoch % p->log_every == 0 || e->epoch == e->epochs)) {
        /* at most about 50 lines, validated or not (validation runs every epoch by default) */
        fprintf(stderr, "epoch %d/%d iter %d loss %.4f %s %.4g%s lr %.3g elapsed %s\n", e->epoch, e->epochs,
                e->iteration, e->loss, p->metric_name, e->metric, val, e->lr, te);
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------------- */

/* Defaults chosen on the quality suite (bench/quality, QUALITY.md): the
 * steadiest settings across seeds on scenes never seen in training (reduced
 * and full suites).
 * Clip models: dropout on the input features (each step's 41 motion numbers)
 * keeps the network from leaning on any one of them, which is how a small
 * dataset's scenes leak in; the best validation network is kept. Per-frame
 * models: a few long videos make few sequences, so small batches (more steps
 * per epoch), and the last iteration's weights: the validation loss of a
 * handful of long videos bottoms out early (overconfident at the segment
 * boundaries) while accuracy still rises, so picking by it kept
 * undertrained networks; with nothing to pick, no videos are held out by
 * default either (as MATLAB's ValidationData defaults to none). */
#define CLIP_LAYERS "dropout:0.5,bilstm:128,dropout:0.2"
#define SEQ_LAYERS "bilstm:128,dropout:0.2"
#define SEQ_BATCH 4
#define SEQ_EPOCHS 30
#define SEQ_LR 1e-3f
/* Clip models are an ensemble of three by default: single seeds scored
 * 93-100% on unseen scenes, three averaged 97.7-100% (QUALITY.md), and a
 * clip model trains in seconds. Per-frame models met their bars alone. */
#define CLIP_ENSEMBLE 3

static int parse(int argc, char **argv, train_args *A)
{
    *A = (train_args){.normalize = 1, .layers = CLIP_LAYERS, .mode = VL_OUT_LAST,
                      .task = VL_TASK_CLASSIFY, .val_fraction = -1};
    A->t = (vl_train_opts){.batch = 32, .epochs = 30, .shuffle = VL_SHUFFLE_EVERY_EPOCH,
                           .seqlen = VL_SEQLEN_LONGEST, .bucket = 1, .seed = 1};
    A->t.opt = (vl_optim_config){.kind = VL_OPT_ADAM, .lr = 1e-3f, .weight_decay = 1e-4f, .drop_period = 10,
                                 .drop_factor = 0.1f};
    cli_args a = {.argc = argc, .argv = argv, .cmd = "train"};
    for (a.i = 0; a.i < argc && !a.bad; a.i++) {
        if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) {
            cli_help_train(stdout);
            return -1;
        } else if (cli_opt(&a, "--data")) A->data = a.val;
        else if (cli_opt(&a, "--val-data")) A->val_data = a.val;
        else if (cli_opt(&a, "--val-fraction")) A->val_fraction = cli_num(&a, 0.0, 0.95);
        else if (cli_opt(&a, "--split-file")) A->split_file = a.val;
        else if (cli_opt(&a, "--backbone")) A->v.backbone = a.val;
        else if (cli_opt(&a, "--layer")) A->v.tap = a.val;
        else if (cli_prep_opt(&a, &A->prep)) continue;
        else if (cli_opt(&a, "--fps")) A->v.fps = cli_num(&a, 0.01, 1000);
        else if (cli_opt(&a, "--every")) A->v.every_k = cli_int(&a, 1, 100000);
        else if (cli_opt(&a, "--cache")) A->v.cache = a.val;
        else if (cli_flag(&a, "--no-cache")) A->v.cache = "";
        else if (cli_opt(&a, "--jobs")) A->v.jobs = cli_int(&a, 1, 64);
        else if (cli_opt(&a, "--clips")) A->v.clips_per_video = cli_int(&a, 1, 1000000);
        else if (cli_opt(&a, "--clip-length")) {
            char *e;
            A->v.clip_min = strtod(a.val, &e);
            A->v.clip_max = *e == ':' ? strtod(e + 1, &e) : A->v.clip_min;
            if (*e || !(A->v.clip_min > 0) || !(A->v.clip_max >= A->v.clip_min)) {
                cli_fail("train", "--clip-length: '%s' is not MIN:MAX seconds (0 < MIN <= MAX)", a.val);
                a.bad = 1;
            }
        }
        else if (cli_flag(&a, "--no-normalize")) A->normalize = 0;
        else if (cli_opt(&a, "--layers")) { A->layers = a.val; A->layers_given = 1; }
        else if (cli_opt(&a, "--mode")) {
            A->mode_given = 1;
            if (!strcmp(a.val, "last")) A->mode = VL_OUT_LAST;
            else if (!strcmp(a.val, "sequence")) A->mode = VL_OUT_SEQUENCE;
            else { cli_fail("train", "--mode: '%s' is not last or sequence", a.val); a.bad = 1; }
        } else if (cli_opt(&a, "--task")) {
            if (!strcmp(a.val, "classify")) A->task = VL_TASK_CLASSIFY;
            else if (!strcmp(a.val, "regress")) A->task = VL_TASK_REGRESS;
            else { cli_fail("train", "--task: '%s' is not classify or regress", a.val); a.bad = 1; }
        } else if (cli_opt(&a, "--class-weights")) A->class_weights = a.val;
        else if (cli_opt(&a, "--optimizer")) {
            if (!strcmp(a.val, "adam")) A->t.opt.kind = VL_OPT_ADAM;
            else if (!strcmp(a.val, "sgdm")) A->t.opt.kind = VL_OPT_SGDM;
            else if (!strcmp(a.val, "rmsprop")) A->t.opt.kind = VL_OPT_RMSPROP;
            else { cli_fail("train", "--optimizer: '%s' is not adam, sgdm or rmsprop", a.val); a.bad = 1; }
        } else if (cli_opt(&a, "--lr")) { A->t.opt.lr = (float)cli_num(&a, 1e-12, 1e30); A->lr_given = 1; }
        else if (cli_opt(&a, "--momentum")) A->t.opt.momentum = (float)cli_num(&a, 0, 0.9999);
        else if (cli_opt(&a, "--l2")) A->t.opt.weight_decay = (float)cli_num(&a, 0, 10);
        else if (cli_opt(&a, "--lr-schedule")) {
            if (!strcmp(a.val, "none")) A->t.opt.sched = VL_SCHED_NONE;
            else if (!strcmp(a.val, "piecewise")) A->t.opt.sched = VL_SCHED_PIECEWISE;
            else if (!strcmp(a.val, "cosine")) A->t.opt.sched = VL_SCHED_COSINE;
            else { cli_fail("train", "--lr-schedule: '%s' is not none, piecewise or cosine", a.val); a.bad = 1; }
        } else if (cli_opt(&a, "--lr-drop-period")) A->t.opt.drop_period = cli_int(&a, 1, 1000000);
        else if (cli_opt(&a, "--lr-drop-factor")) A->t.opt.drop_factor = (float)cli_num(&a, 0, 1);
        else if (cli_opt(&a, "--min-lr")) A->t.opt.min_lr = (float)cli_num(&a, 0, 100);
        else if (cli_opt(&a, "--gradient-threshold")) {
            A->t.opt.clip_threshold = (float)cli_num(&a, 1e-12, 1e12);
            if (A->t.opt.clip == VL_CLIP_NONE) A->t.opt.clip = VL_CLIP_GLOBAL_L2NORM;
        } else if (cli_opt(&a, "--gradient-threshold-method")) {
            if (!strcmp(a.val, "global-l2norm")) A->t.opt.clip = VL_CLIP_GLOBAL_L2NORM;
            else if (!strcmp(a.val, "l2norm")) A->t.opt.clip = VL_CLIP_L2NORM;
            else if (!strcmp(a.val, "absolute-value")) A->t.opt.clip = VL_CLIP_ABSVALUE;
            else { cli_fail("train", "--gradient-threshold-method: '%s' is not global-l2norm, l2norm or absolute-value", a.val); a.bad = 1; }
        } else if (cli_opt(&a, "--batch")) { A->t.batch = cli_int(&a, 1, 1 << 20); A->batch_given = 1; }
        else if (cli_opt(&a, "--epochs")) { A->t.epochs = cli_int(&a, 1, 1000000); A->epochs_given = 1; }
        else if (cli_opt(&a, "--shuffle")) {
            if (!strcmp(a.val, "every-epoch")) A->t.shuffle = VL_SHUFFLE_EVERY_EPOCH;
            else if (!strcmp(a.val, "once")) A->t.shuffle = VL_SHUFFLE_ONCE;
            else if (!strcmp(a.val, "never")) A->t.shuffle = VL_SHUFFLE_NEVER;
            else { cli_fail("train", "--shuffle: '%s' is not every-epoch, once or never", a.val); a.bad = 1; }
        } else if (cli_opt(&a, "--sequence-length")) {
            if (!strcmp(a.val, "longest")) A->t.seqlen = VL_SEQLEN_LONGEST;
            else if (!strcmp(a.val, "shortest")) A->t.seqlen = VL_SEQLEN_SHORTEST;
            else { cli_fail("train", "--sequence-length: '%s' is not longest or shortest", a.val); a.bad = 1; }
        } else if (cli_flag(&a, "--no-bucket")) A->t.bucket = 0;
        else if (cli_opt(&a, "--val-frequency")) A->t.val_every = cli_int(&a, 1, 1 << 30);
        else if (cli_opt(&a, "--patience")) A->t.patience = cli_int(&a, 1, 1 << 30);
        else if (cli_opt(&a, "--output-network")) {
            A->output_given = 1;
            if (!strcmp(a.val, "best-validation")) A->t.keep_last = 0;
            else if (!strcmp(a.val, "last-iteration")) A->t.keep_last = 1;
            else { cli_fail("train", "--output-network: '%s' is not best-validation or last-iteration", a.val); a.bad = 1; }
        }
        else if (cli_opt(&a, "--seed")) A->t.seed = (uint64_t)cli_num(&a, 0, 9007199254740992.0);
        else if (cli_opt(&a, "--ensemble")) A->ensemble = cli_int(&a, 1, 64);
        else if (cli_opt(&a, "--threads")) A->threads = cli_int(&a, 1, 1024);
        else if (cli_opt(&a, "--rnn-precision")) {
            if (!strcmp(a.val, "fp32")) A->rnn_bf16 = 0;
            else if (!strcmp(a.val, "bf16")) A->rnn_bf16 = 1;
            else { cli_fail("train", "--rnn-precision: '%s' is not fp32 or bf16", a.val); a.bad = 1; }
        }
        else if (cli_opt(&a, "--out")) A->out = a.val;
        else if (cli_opt(&a, "--checkpoint")) A->checkpoint = a.val;
        else if (cli_flag(&a, "--resume")) A->resume = 1;
        else if (cli_opt(&a, "--report")) A->report = a.val;
        else if (cli_flag(&a, "--json")) A->json = 1;
        else if (cli_flag(&a, "--quiet")) A->quiet = 1;
        else if (cli_flag(&a, "--no-memory-check")) A->no_memcheck = 1;
        else {
            cli_fail("train", "unknown option '%s' (see vidlstm train --help)", argv[a.i]);
            return 1;
        }
    }
    if (a.bad)
        return 1;
    int norm_set;
    if (cli_prep_finish("train", &A->prep, &A->norm, &norm_set) ||
        cli_prep_precision("train", A->prep.precision, &A->v.precision))
        return 1;
    if (norm_set)
        A->v.norm = &A->norm;
    if (!A->data)
        return cli_fail("train", "--data MANIFEST.csv is required (see vidlstm train --help)");
    if (!A->out)
        return cli_fail("train", "--out MODEL.safetensors is required");
    if ((A->val_data != NULL) + (A->split_file != NULL) + (A->val_fraction >= 0) > 1)
        return cli_fail("train", "give one of --val-data, --val-fraction and --split-file");
    if (A->v.clips_per_video && A->v.clip_min == 0) {
        A->v.clip_min = 2;
        A->v.clip_max = 5;
    }
    A->v.seed = A->t.seed;
    A->v.quiet = A->quiet;
    if (A->t.opt.kind == VL_OPT_SGDM && !A->lr_given)
        A->t.opt.lr = 0.01f;
    A->t.opt.total_epochs = A->t.epochs;
    return 0;
}

static int class_weights(const char *spec, const vl_dataset *d, const int *idx, int n, float *w)
{
    int C = d->nclasses;
    if (!strcmp(spec, "none"))
        return 0;
    if (!strcmp(spec, "auto")) {
        /* sklearn's "balanced": n_samples / (n_classes * n_c), over clips or frames */
        double *cnt = calloc((size_t)C, sizeof(double)), tot = 0;
        if (!cnt)
            return -1;
        for (int i = 0; i < n; i++) {
            const vl_seq *s = &d->items[idx[i]];
            if (d->mode == VL_OUT_LAST)
                cnt[s->label] += 1;
            else
                for (int t = 0; t < s->T; t++)
                    cnt[s->frame_labels[t]] += 1;
        }
        for (int c = 0; c < C; c++)
            tot += cnt[c];
        for (int c = 0; c < C; c++)
            w[c] = cnt[c] > 0 ? (float)(tot / (C * cnt[c])) : 0.0f;
        free(cnt);
        return 1;
    }
    const char *p = spec;
    for (int c = 0; c < C; c++) {
        char *e;
        double v = strtod(p, &e);
        if (e == p || !(v >= 0) || !isfinite(v) || (c < C - 1 && *e != ',') || (c == C - 1 && *e)) {
            cli_fail("train", "--class-weights: expected auto, none or %d non-negative numbers (one per class: %s%s)",
                     C, d->classes[0], C > 1 ? ", ..." : "");
            return -2;
        }
        w[c] = (float)v;
        p = e + 1;
    }
    return 1;
}

/* A single network with member 1's weights (net's first member). */
static vl_status clone_member0(vl_net *net, vl_net **out)
{
    vl_status st = vl_net_create(vl_net_get_config(net), 0, out);
    for (int i = 0; !st && i < vl_net_num_params(net); i++) {
        vl_param a, b;
        vl_net_param(net, i, &a);
        vl_net_param(*out, i, &b);
        memcpy(b.data, a.data, sizeof(float) * a.count);
    }
    return st;
}

/* Every file train writes (model, checkpoints, report folder) against every
 * file it reads and against each other: a clash would let the temp+rename
 * writers replace an input, or the final unlink of the checkpoint delete the
 * model just written. d/vd (NULL before loading) add the files they list.
 * Returns 0 or 1 (error printed). */
static int check_outputs(const train_args *A, const char *ckpt0, int K, const vl_dataset *d, const vl_dataset *vd)
{
    enum { NFIX = 16 };
    const char *in[NFIX + 2] = {A->data, A->val_data, A->split_file};
    int n = 3;
    char bb[NFIX][1024];
    int nbb = 0;
    /* a backbone given as a file (or A+B of files) is an input too */
    for (const char *p = A->v.backbone; p && *p && nbb < NFIX - 6;) {
        const char *e = strchr(p, '+');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        snprintf(bb[nbb], sizeof bb[nbb], "%.*s", (int)l, p);
        if (access(bb[nbb], F_OK) == 0)
            in[n++] = bb[nbb++];
        p = e ? e + 1 : p + l;
    }
    const int nin = n;
    char mck[4200];
    for (int k = 0; k < K; k++) {
        if (k)
            snprintf(mck, sizeof mck, "%s.member%d", ckpt0, k + 1);
        const char *ck = k ? mck : ckpt0;
        in[nin] = A->out;
        in[nin + 1] = A->report;
        n = nin + 2;
        if (vl_output_check("--checkpoint", ck, in, n))
            return cli_fail_status("train");
        for (const vl_dataset *s = d; s; s = s == d ? vd : NULL)
            for (int i = 0; i < s->n; i++)
                if (vl_output_check("--checkpoint", ck, (const char *const *)&s->items[i].path, 1))
                    return cli_fail_status("train");
    }
    in[nin] = ckpt0;
    in[nin + 1] = A->report;
    if (vl_output_check("--out", A->out, in, nin + 2))
        return cli_fail_status("train");
    for (const vl_dataset *s = d; s; s = s == d ? vd : NULL)
        for (int i = 0; i < s->n; i++)
            if (vl_output_check("--out", A->out, (const char *const *)&s->items[i].path, 1))
                return cli_fail_status("train");
    if (A->report) {
        in[nin] = ckpt0;
        in[nin + 1] = A->out;
        if (vl_output_dir_check("--report", A->report, in, nin + 2))
            return cli_fail_status("train");
    }
    return 0;
}

/* Roughly the bytes training will allocate, worked out before allocating
 * anything, so that a hidden size that cannot fit fails at once instead of
 * after filling the machine's memory: parameters, gradients, Adam's two
 * moments, the best-validation copy and the checkpoint buffer (6 copies),
 * the other ensemble members' weights, and the activations the backward
 * pass keeps for every step of a padded batch (LSTM: 4 gates plus cell,
 * hidden and their gradients per direction; GRU 3 gates). */
static double train_bytes(const vl_net_config *cfg, int batch, int tmax, int K)
{
    double P = (double)vl_arch_param_count(cfg), act = 0;
    int in = cfg->input;
    for (int i = 0; i < cfg->nlayers; i++) {
        const vl_layer_spec *L = &cfg->layer[i];
        const vl_layer_def *k = vl_layer_def_of(L->kind);
        if (k && k->gates)
            act += (L->bidirectional ? 2 : 1) * (2.0 * k->gates + 4) * L->hidden;
        else
            act += in; /* dropout masks, pooled values */
        in = vl_layer_out_width(L, in);
    }
    act += 2 * ((double)in + cfg->outputs);
    return 4.0 * (P * (6 + (K - 1)) + act * batch * (double)tmax);
}

/* MemAvailable from /proc/meminfo in bytes, or -1 where there is none. */
static double mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return -1;
    char line[256];
    double kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1)
            break;
    fclose(f);
    return kb >= 0 ? kb * 1024 : -1;
}

static int train_main(int argc, char **argv);

/* Describes --data (once) for its loading, and without --mode picks the
 * model its labels fit. */
static void describe_data(train_args *A, vl_data_desc *desc)
{
    vl_data_describe(A->data, desc);
    A->v.desc = desc;
    if (!A->mode_given && desc->per_frame) {
        /* the data has a label per frame: a per-frame model is the only one it fits */
        A->mode = VL_OUT_SEQUENCE;
        if (!A->quiet && !A->json)
            fprintf(stderr, "%s has per-frame labels: training a per-frame (sequence) model\n", A->data);
    }
}

/* Under an MPI launcher (an MPI build: docs/cluster.md) every rank runs the
 * whole command; the training itself is data-parallel and rank 0 alone
 * prints progress and writes the model, report and checkpoints. A rank that
 * fails ends the job (MPI_Abort) so that no other waits for it forever. */
int cmd_train(int argc, char **argv)
{
    return cli_dist_run("train", train_main, argc, argv);
}

static int train_main(int argc, char **argv)
{
    train_args A;
    int rc = parse(argc, argv, &A);
    if (rc)
        return rc < 0 ? 0 : rc;
    const int rank = vl_dist_rank(), nranks = vl_dist_size();
    if (nranks > 1) {
        /* rank 0's seed for all (they should agree anyway); the others quiet */
        uint64_t seed = A.t.seed;
        if (vl_dist_bcast(&seed, sizeof seed, 0))
            return cli_fail_status("train");
        A.t.seed = A.v.seed = seed;
        if (rank > 0) {
            A.quiet = A.v.quiet = 1;
            A.json = 0;
        } else if (!A.quiet) {
            fprintf(stderr, "data-parallel training on %d MPI ranks (%s)\n", nranks, vl_dist_library());
        }
    }
    if (A.threads)
        vl_set_threads(A.threads);
    char ckname[4200];
    snprintf(ckname, sizeof ckname, "%s%s", A.checkpoint ? A.checkpoint : A.out, A.checkpoint ? "" : ".ckpt");
    /* the ensemble size is not known before the mode is: check 64 member names (the most) */
    if (check_outputs(&A, ckname, A.ensemble ? A.ensemble : 64, NULL, NULL))
        return 1;
    { /* fail now, not after hours of training, when the model cannot be written */
        const char *sl = strrchr(A.out, '/');
        char od[4200];
        snprintf(od, sizeof od, "%.*s", sl ? (int)(sl - A.out) + 1 : 1, sl ? A.out : ".");
        if (access(od, W_OK) != 0)
            return cli_fail("train", "--out %s: cannot write into the folder %s: %s", A.out, od, strerror(errno));
    }
    vl_data_desc desc; /* one look at --data; loading it reads this too */
    describe_data(&A, &desc);
    if (A.mode == VL_OUT_SEQUENCE) { /* per-frame defaults, chosen on the quality suite (QUALITY.md) */
        if (!A.layers_given)
            A.layers = SEQ_LAYERS;
        if (!A.batch_given)
            A.t.batch = SEQ_BATCH;
        if (!A.epochs_given)
            A.t.epochs = SEQ_EPOCHS;
        if (!A.lr_given && A.t.opt.kind == VL_OPT_ADAM)
            A.t.opt.lr = SEQ_LR;
        if (!A.output_given)
            A.t.keep_last = 1;
        A.t.opt.total_epochs = A.t.epochs; /* the cosine schedule's length */
    }
    vl_net_config cfg = {.mode = A.mode, .task = A.task};
    if (vl_net_parse_layers(A.layers, &cfg)) {
        vl_data_desc_free(&desc);
        return cli_fail("train", "--layers: %s", vl_errmsg());
    }

    vl_dataset d = {0}, vd = {0};
    vl_dataset_opts dopt = {.task = A.task, .mode = A.mode};
    vl_extractor *xt = NULL;
    const int load_bad = cli_load_data("train", A.data, &dopt, &A.v, &xt, &d);
    vl_data_desc_free(&desc); /* what it listed is loaded now */
    A.v.desc = NULL;
    if (load_bad) {
        vl_extractor_close(xt);
        return 1;
    }
    int status = 1;
    const int K = A.ensemble ? A.ensemble : A.mode == VL_OUT_LAST ? CLIP_ENSEMBLE : 1;
    /* every member holds out its own videos (the default split), unless the
     * split is given: then they share it and the ensemble can be validated */
    const int shared_split = A.val_data || A.split_file;
    uint8_t *is_val = calloc((size_t)d.n, 1);
    int *train = malloc(sizeof(int) * (size_t)d.n), *val = malloc(sizeof(int) * (size_t)d.n);
    int *train0 = malloc(sizeof(int) * (size_t)d.n), *val0 = malloc(sizeof(int) * (size_t)d.n);
    float *mean = NULL, *stdv = NULL, *cw = NULL;
    vl_net *net = NULL, *eval_net = NULL;
    vl_train_result res = {0};
    char *ckpt = NULL, *mckpt = NULL;
    const char *ckpt0 = NULL;
    int ntrain = 0, nval = 0, ntrain0 = 0, nval0 = 0;
    const vl_dataset *vds = &d;
    if (!is_val || !train || !val || !train0 || !val0) {
        cli_fail("train", "out of memory");
        goto out;
    }
    if (A.val_data) {
        vl_dataset_opts vo = {.task = A.task, .mode = A.mode, .dim = d.D,
                              .classes = (const char *const *)d.classes, .nclasses = d.nclasses};
        cli_video_opts vv = A.v;
        vv.clips_per_video = 0; /* validation videos are used whole */
        vv.desc = NULL;         /* other data: described on loading */
        if (cli_load_data("train", A.val_data, &vo, &vv, &xt, &vd))
            goto out;
        vds = &vd;
    } else if (A.split_file) {
        if (vl_dataset_split_file(&d, A.split_file, is_val)) {
            cli_fail_status("train");
            goto out;
        }
    }
    /* every feature is in memory: the CNN's weights and buffers go back
     * before the networks' come (the run's peak is extraction's, not both) */
    vl_extractor_release(xt);
    if (A.task == VL_TASK_CLASSIFY && A.class_weights &&
        !(cw = malloc(sizeof(float) * (size_t)d.nclasses))) {
        cli_fail("train", "out of memory");
        goto out;
    }
    if (A.normalize && (!(mean = malloc(sizeof(float) * (size_t)d.D)) || !(stdv = malloc(sizeof(float) * (size_t)d.D)))) {
        cli_fail("train", "out of memory");
        goto out;
    }
    if (!A.checkpoint) {
        size_t n = strlen(A.out) + 6;
        ckpt = malloc(n);
        if (!ckpt) {
            cli_fail("train", "out of memory");
            goto out;
        }
        snprintf(ckpt, n, "%s.ckpt", A.out);
    }
    ckpt0 = A.checkpoint ? A.checkpoint : ckpt;
    if (!(mckpt = malloc(strlen(ckpt0) + 32))) {
        cli_fail("train", "out of memory");
        goto out;
    }
    if (check_outputs(&A, ckpt0, K, &d, A.val_data ? &vd : NULL))
        goto out;
    cfg.input = d.D;
    cfg.outputs = A.task == VL_TASK_CLASSIFY ? d.nclasses : 1;
    if (!A.no_memcheck) {
        int tmax = 1;
        for (int i = 0; i < d.n; i++)
            tmax = d.items[i].T > tmax ? d.items[i].T : tmax;
        for (int i = 0; i < vd.n; i++)
            tmax = vd.items[i].T > tmax ? vd.items[i].T : tmax;
        int bt = A.t.batch < d.n ? A.t.batch : d.n;
        double need = train_bytes(&cfg, bt, tmax, K), have = mem_available();
        if (have > 0 && need > have) {
            cli_fail("train", "--layers %s: training needs about %.1f GB (%d features, batch %d, up to %d steps%s), "
                              "this machine has %.1f GB available; use smaller layers or batches, or "
                              "--no-memory-check to try anyway",
                     A.layers, need / 1e9, d.D, bt, tmax, K > 1 ? ", an ensemble" : "", have / 1e9);
            goto out;
        }
    }
    progress pr = {.tty = isatty(2), .json = A.json, .quiet = A.quiet, .regress = A.task == VL_TASK_REGRESS,
                   /* about 50 lines in all, whatever the epochs and members */
                   .log_every = A.t.epochs * K > 50 ? (A.t.epochs * K + 49) / 50 : 1,
                   .metric_name = A.task == VL_TASK_REGRESS ? "rmse" : "acc"};
    for (int k = 0; k < K; k++) {
        vl_train_opts to = A.t;
        to.seed = A.t.seed + (uint64_t)k;
        if (!shared_split || k == 0) {
            ntrain = nval = 0;
            if (A.val_data) {
                for (int i = 0; i < vd.n; i++)
                    val[nval++] = i;
            } else if (!A.split_file) {
                /* per-frame models keep their last iteration (above), so a default
                 * hold-out would only cost them a fifth of their few videos */
                double f = A.val_fraction >= 0 ? A.val_fraction
                           : A.mode == VL_OUT_SEQUENCE && A.t.keep_last ? 0.0
                                                                        : 0.2;
                memset(is_val, 0, (size_t)d.n);
                if (f > 0 && vl_dataset_split(&d, f, to.seed, is_val)) {
                    if (A.val_fraction >= 0) { /* asked for explicitly: an error */
                        cli_fail_status("train");
                        goto out;
                    }
                    memset(is_val, 0, (size_t)d.n);
                    if (!A.quiet && k == 0)
                        fprintf(stderr, "note: no validation split (%s)\n", vl_errmsg());
                }
            }
            if (nranks > 1) { /* rank 0's split for all */
                int same = 0;
                if (vl_dist_same_u64((uint64_t)d.n, &same) || !same) {
                    cli_fail("train", "%s: the ranks read different numbers of sequences", A.data);
                    goto out;
                }
                if (vl_dist_bcast(is_val, (size_t)d.n, 0)) {
                    cli_fail_status("train");
                    goto out;
                }
            }
            for (int i = 0; i < d.n; i++) {
                if (A.val_data || !is_val[i])
                    train[ntrain++] = i;
                else if (!A.val_data)
                    val[nval++] = i;
            }
            if (ntrain == 0) {
                cli_fail("train", "%s: no training sequences left after the validation split", A.data);
                goto out;
            }
        }
        if (k == 0) {
            if (nval == 0 && !A.quiet && (A.t.patience > 0 || A.t.val_every > 0))
                fprintf(stderr, "note: --patience and --val-frequency have no effect without validation data\n");
            if (A.normalize) {
                /* one normalisation serves every member: with members holding
                 * out different videos, it comes from all the training data */
                if (K > 1 && !shared_split) {
                    int *all = train0; /* scratch until the split is copied below */
                    for (int i = 0; i < d.n; i++)
                        all[i] = i;
                    vl_dataset_stats(&d, all, d.n, mean, stdv);
                } else {
                    vl_dataset_stats(&d, train, ntrain, mean, stdv);
                }
                vl_dataset_normalize(&d, mean, stdv);
                if (vds != &d)
                    vl_dataset_normalize(&vd, mean, stdv);
            }
            memcpy(train0, train, sizeof(int) * (size_t)ntrain);
            memcpy(val0, val, sizeof(int) * (size_t)nval);
            ntrain0 = ntrain;
            nval0 = nval;
        }
        cfg.class_weights = NULL;
        if (cw) {
            int r = class_weights(A.class_weights, &d, train, ntrain, cw);
            if (r < 0)
                goto out;
            if (r > 0)
                cfg.class_weights = cw;
        }
        vl_net *m = NULL;
        if (vl_net_create(&cfg, to.seed, &m)) {
            cli_fail("train", "--layers %s: %s", A.layers, vl_errmsg());
            goto out;
        }
        if (A.rnn_bf16 && vl_net_set_rnn_precision(m, VL_RNN_BF16) != VL_RNN_BF16 && k == 0)
            fprintf(stderr, "note: --rnn-precision bf16: this CPU has no AVX512-BF16/AMX (as oneDNN sees it); "
                            "training in fp32\n");
        if (k == 0) {
            net = m;
        } else if (vl_net_add_member(net, m)) {
            vl_net_free(m);
            cli_fail_status("train");
            goto out;
        }
        /* member 1 keeps the plain checkpoint name, so K = 1 is unchanged */
        if (k)
            sprintf(mckpt, "%s.member%d", ckpt0, k + 1);
        to.checkpoint = k ? mckpt : ckpt0;
        to.resume = A.resume;
        if (A.resume && access(to.checkpoint, F_OK) != 0 && !A.quiet)
            fprintf(stderr, "note: no checkpoint %s yet: starting from the beginning\n", to.checkpoint);
        pr.iter0 = -1;
        pr.member = K > 1 ? k + 1 : 0;
        to.cb = on_event;
        to.user = &pr;
        to.dist = 1;
        if (!A.quiet) {
            if (K > 1)
                fprintf(stderr, "ensemble member %d of %d (seed %llu): ", k + 1, K, (unsigned long long)to.seed);
            fprintf(stderr, "training on %d sequences (%d validation), %d features, %s %s, %zu parameters\n", ntrain,
                    nval, d.D, A.layers, A.mode == VL_OUT_LAST ? "last" : "sequence", vl_net_param_count(m));
        }
        vl_train_result r1 = {0};
        vl_status st = vl_train(m, &d, train, ntrain, vds, val, nval, &to, &r1);
        if (pr.tty && !A.quiet)
            fputs("\r\033[K", stderr);
        if (!st && pr.stdout_errno) {
            cli_stdout_reported = 1;
            cli_fail("train", "cannot write to standard output: %s; stopped at epoch %d%s%s", strerror(pr.stdout_errno),
                     pr.stdout_epoch, access(to.checkpoint, F_OK) == 0 ? ", the last checkpoint is " : "",
                     access(to.checkpoint, F_OK) == 0 ? to.checkpoint : "");
            vl_train_result_free(&r1);
            goto out;
        }
        if (st) {
            vl_train_result_free(&r1);
            if (st == VL_ERR_NUMERIC && access(to.checkpoint, F_OK) == 0)
                cli_fail("train", "%s; the last good checkpoint is %s", vl_errmsg(), to.checkpoint);
            else if (st == VL_ERR_NUMERIC)
                cli_fail("train", "%s; no epoch completed, so there is no checkpoint", vl_errmsg());
            else
                cli_fail_status("train");
            goto out;
        }
        if (k == 0) {
            res = r1;
        } else {
            if (!A.quiet && !isnan(r1.best_val_metric))
                fprintf(stderr, "member %d: best validation %s %.4g\n", k + 1, pr.metric_name,
                        (double)r1.best_val_metric);
            vl_train_result_free(&r1);
        }
    }
    if (rank > 0) { /* rank 0 writes the model and reports */
        status = 0;
        goto out;
    }
    /* from here on, member 1's split describes the run */
    memcpy(train, train0, sizeof(int) * (size_t)ntrain0);
    memcpy(val, val0, sizeof(int) * (size_t)nval0);
    ntrain = ntrain0;
    nval = nval0;
    vl_status st;

    /* Save the model with everything needed to use it. */
    cli_train_summary sum = {.d = &d, .vd = vds, .val = val, .nval = nval, .res = &res, .args_layers = A.layers,
                             .epochs = A.t.epochs, .batch = A.t.batch, .lr = A.t.opt.lr, .seed = A.t.seed,
                             .ensemble = K};
    vl_model_meta meta = {0};
    if (A.task == VL_TASK_CLASSIFY) {
        meta.nclasses = d.nclasses;
        meta.class_names = d.classes;
    }
    meta.dim = d.D;
    meta.norm_mean = mean;
    meta.norm_std = stdv;
    meta.training_json = cli_training_json(&sum);
    if (!xt) { /* features from `vidlstm extract`: it left backbone.json beside the manifest */
        char bp[4200];
        const char *sl = strrchr(A.data, '/');
        snprintf(bp, sizeof bp, "%.*sbackbone.json", sl ? (int)(sl - A.data + 1) : 0, A.data);
        FILE *bf = fopen(bp, "r");
        if (bf) {
            char js[8192];
            size_t n = fread(js, 1, sizeof js - 1, bf);
            fclose(bf);
            js[n] = 0;
            if (vl_model_backbone_from_json(js, bp, &meta)) {
                cli_fail_status("train");
                free(meta.training_json);
                goto out;
            }
            if (meta.feature_dim != d.D) {
                cli_fail("train", "%s says %d features per frame, but the manifest's files have %d", bp,
                         meta.feature_dim, d.D);
                free(meta.training_json);
                goto out;
            }
        }
    }
    if (xt) { /* how the features were made, so predict can do the same on new video */
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
    }
    st = vl_model_save(A.out, net, &meta);
    free(meta.training_json);
    if (st) {
        cli_fail_status("train");
        goto out;
    }
    if (!A.quiet)
        fprintf(stderr, "trained %d epochs (%d iterations)%s; model written to %s\n", res.epochs_done, res.iterations,
                res.stopped_early ? ", stopped early (validation patience)" : "", A.out);
    /* Metrics of the kept network on the validation set (or, without one,
     * the training set, labelled as such). */
    {
        int on_val = nval > 0;
        char *ex = NULL;
        size_t exl = 0;
        FILE *mf = open_memstream(&ex, &exl);
        if (!mf) {
            cli_fail("train", "out of memory");
            goto out;
        }
        fputs("\"event\":\"done\",\"model\":", mf);
        vl_json_write_string(mf, A.out);
        /* members that held out different videos cannot be validated
         * together (each trained on the others' validation videos): the
         * figures are member 1's, on its own held-out videos */
        int one = K > 1 && !shared_split;
        fprintf(mf, ",\"evaluated_on\":\"%s\",\"epochs_done\":%d,\"iterations\":%d,\"stopped_early\":%s",
                on_val ? "validation" : "training", res.epochs_done, res.iterations,
                res.stopped_early ? "true" : "false");
        if (K > 1)
            fprintf(mf, ",\"ensemble\":%d,\"evaluated\":\"%s\"", K, one ? "member 1" : "ensemble");
        fclose(mf);
        if (one && (st = clone_member0(net, &eval_net))) {
            free(ex);
            cli_fail_status("train");
            goto out;
        }
        if (!A.json && !A.quiet)
            printf("%s set%s:\n", on_val ? "validation" : "training (no validation data)",
                   one ? " (ensemble member 1 alone; the members hold out different videos)" : "");
        cli_eval_opts eo = {.cmd = "train", .title = "vidlstm training report", .model = A.out, .report = A.report,
                            .json = A.json, .quiet = A.quiet, .progress = res.history, .nprogress = res.nhistory,
                            .extra_json = ex};
        int bad = cli_evaluate(one ? eval_net : net, on_val ? vds : &d, on_val ? val : train, on_val ? nval : ntrain, A.t.batch, &eo);
        free(ex);
        if (bad)
            goto out;
    }
    /* the run is complete: the model file supersedes the checkpoints (and the
     * temp files killed runs left mid-write: core/atomic.h) */
    for (int k = 0; k < K; k++) {
        size_t cap = strlen(ckpt0) + 32; /* mckpt's size: ".memberN" fits */
        if (k)
            snprintf(mckpt, cap, "%s.member%d", ckpt0, k + 1);
        else
            snprintf(mckpt, cap, "%s", ckpt0);
        unlink(mckpt);
        vl_atomic_remove_temps(mckpt);
    }
    status = 0;
out:
    vl_train_result_free(&res);
    vl_net_free(net);
    vl_net_free(eval_net);
    free(train0);
    free(val0);
    free(mckpt);
    vl_dataset_free(&d);
    vl_dataset_free(&vd);
    vl_extractor_close(xt);
    free(is_val);
    free(train);
    free(val);
    free(mean);
    free(stdv);
    free(ckpt);
    free(cw);
    return status;
}
