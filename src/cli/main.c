/* The vidlstm command. Uses only the public API (vidlstm.h).
 *
 * Commands so far:
 *   vidlstm demo [--seed N] [--threads K] [--json]
 *   vidlstm info MODEL.onnx
 *   vidlstm infer MODEL.onnx --input X.npy [--tap NAME] --out Y.npy
 *   vidlstm --version | --help
 * The video pipeline (extract/train/eval/predict on video files) arrives
 * with the video and backbone modules; until then `demo` trains on
 * synthetic feature sequences whose classes differ only in their dynamics. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "model/modelfile.h"
#include "vidlstm.h"

static void usage(FILE *f)
{
    fputs("usage: vidlstm <command> [options]\n"
          "\n"
          "commands:\n"
          "  demo     train and evaluate a BiLSTM on synthetic feature sequences whose\n"
          "           classes differ only in their dynamics (gait-like oscillation\n"
          "           frequency); prints validation accuracy and a confusion matrix\n"
          "           options: --seed N (default 1)  --threads K (default: all cores)  --json\n"
          "\n"
          "  train    --data VIDEOS|MANIFEST --out MODEL.safetensors [options]\n"
          "           extract features from labelled videos (cached) and train, or train\n"
          "           on feature sequences listed in a manifest\n"
          "  eval     --model MODEL.safetensors --data VIDEOS|MANIFEST [--json] [--report DIR]\n"
          "           accuracy, confusion matrix, per-class P/R/F1 (or RMSE/MAE/R^2)\n"
          "  predict  --model MODEL.safetensors VIDEO|FEATURES.npy|- ... [--window L] [--json]\n"
          "           labels, probabilities, per-frame segments, window timelines, live streams\n"
          "  extract  --data VIDEOS --out DIR\n"
          "           per-frame features as .npy files + a manifest, to train on later\n"
          "           (each command: --help for its options)\n"
          "\n"
          "  info MODEL.onnx\n"
          "           inputs, outputs, operators and every tappable tensor with its shape\n"
          "  info MODEL.safetensors\n"
          "           a trained model: architecture, classes, parameters, backbone, preprocessing\n"
          "  infer MODEL.onnx --input X.npy [--tap NAME] --out Y.npy\n"
          "           run an ONNX model on a raw float32 tensor up to tensor NAME (default:\n"
          "           the graph output), to compare with your own framework\n"
          "\n"
          "  --version  print the version and the GEMM backend\n"
          "  --help     this text\n",
          f);
}

/* Synthetic clip: D features per step; class c oscillates at frequency
 * freq[c] (cycles per step) with random phase and amplitude, plus noise.
 * Every single frame has the same distribution in both classes: only the
 * temporal structure tells them apart, as with walking versus running seen
 * from a head-mounted camera. */
static uint64_t rng_state;
static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}

enum { D = 8, TMAX = 48, TMIN = 24 };

static void make_clip(int cls, float *x, int32_t *len)
{
    static const double freq[2] = {0.06, 0.11};
    int T = TMIN + (int)(urand() * (TMAX - TMIN + 1));
    double f = freq[cls] * (0.9 + 0.2 * urand());
    double phase[D], amp[D];
    for (int d = 0; d < D; d++) {
        phase[d] = 6.283185307 * urand();
        amp[d] = 0.5 + urand();
    }
    memset(x, 0, sizeof(float) * TMAX * D);
    for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++)
            x[t * D + d] = (float)(amp[d] * sin(6.283185307 * f * t + phase[d]) + 0.3 * (urand() - 0.5));
    *len = T;
}

static int cmd_demo(int argc, char **argv)
{
    uint64_t seed = 1;
    int json = 0, threads = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else {
            fprintf(stderr, "vidlstm demo: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (threads > 0)
        vl_set_threads(threads);
    rng_state = seed * 0x9e3779b97f4a7c15ULL + 1;
    const int ntrain = 512, nval = 256, batch = 32, epochs = 12, C = 2;
    int n = ntrain + nval;
    float *x = malloc(sizeof(float) * (size_t)n * TMAX * D);
    int32_t *len = malloc(sizeof(int32_t) * (size_t)n), *lab = malloc(sizeof(int32_t) * (size_t)n);
    float *out = malloc(sizeof(float) * (size_t)batch * C);
    if (!x || !len || !lab || !out) {
        fprintf(stderr, "vidlstm demo: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        lab[i] = i % 2;
        make_clip(lab[i], x + (size_t)i * TMAX * D, &len[i]);
    }

    vl_net_config cfg = {.input = D, .outputs = C, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, 32, 1);
    vl_net *net;
    vl_optim *opt;
    vl_optim_config oc = {.kind = VL_OPT_ADAM, .lr = 0.01f, .clip = VL_CLIP_GLOBAL_L2NORM, .clip_threshold = 1.0f,
                          .sched = VL_SCHED_COSINE, .total_epochs = epochs, .min_lr = 0.001f};
    if (vl_net_create(&cfg, seed, &net) || vl_optim_create(net, &oc, &opt)) {
        fprintf(stderr, "vidlstm demo: %s\n", vl_errmsg());
        return 1;
    }
    clock_t t0 = clock();
    float loss = 0.0f;
    for (int e = 0; e < epochs; e++) {
        vl_optim_set_epoch(opt, e);
        double sum = 0.0;
        int nb = 0;
        for (int s = 0; s + batch <= ntrain; s += batch, nb++) {
            vl_batch b = {.batch = batch, .tmax = TMAX, .dim = D, .x = x + (size_t)s * TMAX * D,
                          .lengths = len + s, .labels = lab + s};
            if (vl_net_forward_backward(net, &b, &loss, NULL) || vl_optim_step(opt, NULL)) {
                fprintf(stderr, "vidlstm demo: %s\n", vl_errmsg());
                return 1;
            }
            sum += loss;
        }
        if (!json)
            printf("epoch %2d  lr %.4f  train loss %.4f\n", e + 1, (double)vl_optim_lr(opt), sum / nb);
    }
    int conf[2][2] = {{0, 0}, {0, 0}};
    for (int s = ntrain; s < n; s += batch) {
        int bsz = n - s < batch ? n - s : batch;
        vl_batch b = {.batch = bsz, .tmax = TMAX, .dim = D, .x = x + (size_t)s * TMAX * D, .lengths = len + s};
        if (vl_net_forward(net, &b, out)) {
            fprintf(stderr, "vidlstm demo: %s\n", vl_errmsg());
            return 1;
        }
        for (int i = 0; i < bsz; i++)
            conf[lab[s + i]][out[i * C + 1] > out[i * C]]++;
    }
    double acc = (double)(conf[0][0] + conf[1][1]) / nval;
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    if (json)
        printf("{\"accuracy\": %.4f, \"confusion\": [[%d, %d], [%d, %d]], \"classes\": [\"slow\", \"fast\"], "
               "\"train_clips\": %d, \"val_clips\": %d}\n",
               acc, conf[0][0], conf[0][1], conf[1][0], conf[1][1], ntrain, nval);
    else
        printf("\nvalidation accuracy %.1f%% on %d clips (cpu %.1f s)\n"
               "confusion (rows = true):   slow  fast\n"
               "                   slow  %5d %5d\n"
               "                   fast  %5d %5d\n",
               100.0 * acc, nval, secs, conf[0][0], conf[0][1], conf[1][0], conf[1][1]);
    vl_optim_free(opt);
    vl_net_free(net);
    free(x);
    free(len);
    free(lab);
    free(out);
    return 0;
}

/* A safetensors file: 8-byte little-endian header length that fits in the
 * file, then '{'. (An ONNX protobuf starts with field tags; never this.) */
static int is_safetensors(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    unsigned char h[9];
    int ok = fread(h, 1, 9, f) == 9 && h[8] == '{';
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | h[i];
    ok = ok && fseek(f, 0, SEEK_END) == 0 && ftell(f) >= 8 && n <= (uint64_t)ftell(f) - 8;
    fclose(f);
    return ok;
}

static void help_info(FILE *f)
{
    fputs("usage: vidlstm info MODEL.onnx | MODEL.safetensors\n"
          "\n"
          "ONNX models: inputs, outputs, the default feature tensor, operator counts and\n"
          "every tappable tensor with its shape for one frame (docs/backbones.md).\n"
          "Model files: architecture, classes, parameters, feature normalisation, backbone,\n"
          "preprocessing, sampling and the training record (docs/model-format.md).\n",
          f);
}

static void help_infer(FILE *f)
{
    fputs("usage: vidlstm infer MODEL.onnx --input X.npy [--tap NAME] --out Y.npy\n"
          "\n"
          "Runs an ONNX model on a raw float32 tensor (numpy.save) up to tensor NAME\n"
          "(default: the graph output) and writes it as .npy, to compare with your own\n"
          "framework.\n",
          f);
}

static int cmd_info(int argc, char **argv)
{
    if (argc == 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        help_info(stdout);
        return 0;
    }
    if (argc != 1) {
        fputs("usage: vidlstm info MODEL.onnx | MODEL.safetensors\n", stderr);
        return 2;
    }
    size_t n = strlen(argv[0]);
    if ((n > 12 && !strcmp(argv[0] + n - 12, ".safetensors")) || is_safetensors(argv[0])) {
        if (vl_model_describe(argv[0], stdout)) {
            fprintf(stderr, "vidlstm info: %s\n", vl_errmsg());
            return 1;
        }
        return 0;
    }
    vl_onnx *m;
    if (vl_onnx_load(argv[0], &m) || vl_onnx_describe(m, stdout)) {
        fprintf(stderr, "vidlstm info: %s\n", vl_errmsg());
        return 1;
    }
    vl_onnx_free(m);
    return 0;
}

static int cmd_infer(int argc, char **argv)
{
    const char *model = NULL, *in = NULL, *out = NULL, *tap = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help_infer(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--input") && i + 1 < argc) in = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--tap") && i + 1 < argc) tap = argv[++i];
        else if (argv[i][0] != '-' && !model) model = argv[i];
        else {
            fprintf(stderr, "vidlstm infer: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!model || !in || !out) {
        fputs("usage: vidlstm infer MODEL.onnx --input X.npy [--tap NAME] --out Y.npy\n", stderr);
        return 2;
    }
    vl_npy x;
    vl_onnx *m;
    if (vl_npy_read(in, &x)) {
        fprintf(stderr, "vidlstm infer: %s\n", vl_errmsg());
        return 1;
    }
    if (x.dtype != VL_NPY_F32) {
        fprintf(stderr, "vidlstm infer: %s: input must be float32 or float64\n", in);
        vl_npy_free(&x);
        return 1;
    }
    const float *y;
    int nd;
    int64_t shape[VL_ONNX_MAXDIM];
    int rc = 0;
    if (vl_onnx_load(model, &m)) {
        fprintf(stderr, "vidlstm infer: %s\n", vl_errmsg());
        rc = 1;
    } else {
        if (vl_onnx_run(m, x.data, x.ndim, x.shape, tap, &y, &nd, shape) ||
            vl_npy_write(out, VL_NPY_F32, nd, shape, y)) {
            fprintf(stderr, "vidlstm infer: %s\n", vl_errmsg());
            rc = 1;
        }
        vl_onnx_free(m);
    }
    vl_npy_free(&x);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("vidlstm %s (%s)\n", vl_version(), vl_blas_name());
        return 0;
    }
    if (!strcmp(argv[1], "demo"))
        return cmd_demo(argc - 2, argv + 2);
    if (!strcmp(argv[1], "info"))
        return cmd_info(argc - 2, argv + 2);
    if (!strcmp(argv[1], "infer"))
        return cmd_infer(argc - 2, argv + 2);
    if (!strcmp(argv[1], "train"))
        return cmd_train(argc - 2, argv + 2);
    if (!strcmp(argv[1], "eval"))
        return cmd_eval(argc - 2, argv + 2);
    if (!strcmp(argv[1], "predict"))
        return cmd_predict(argc - 2, argv + 2);
    if (!strcmp(argv[1], "extract"))
        return cmd_extract(argc - 2, argv + 2);
    fprintf(stderr, "vidlstm: unknown command '%s' (see vidlstm --help)\n", argv[1]);
    return 2;
}
