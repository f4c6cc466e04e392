/* The vidlstm command: dispatch, the usage text, and the ONNX utilities
 * (info, infer). Each workflow command lives in its own file (cmd_*.c); the
 * options of each are documented by its --help and docs/cli.md. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/outpath.h"
#include "model/modelfile.h"
#include "vidlstm.h"

static void usage(FILE *f)
{
    fputs("usage: vidlstm <command> [options]\n"
          "\n"
          "commands:\n"
          "  demo     [--dir DIR] [--backbone NAME|MODEL.onnx] [--json]\n"
          "           make sample videos (head camera: stand, walk, run), train a clip model\n"
          "           and a per-frame model on them, evaluate, label a new video\n"
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
          "  backbones [--json]\n"
          "           the pretrained backbones you can name (--backbone resnet18): sources,\n"
          "           sizes, checksums, licences, and which are in the cache\n"
          "  fetch    NAME... [--cache DIR] [--mirror URL]\n"
          "           download named backbones into the cache, checked by SHA-256\n"
          "\n"
          "  info MODEL.onnx\n"
          "           inputs, outputs, operators and every tappable tensor with its shape\n"
          "  info MODEL.safetensors\n"
          "           a trained model: architecture, classes, parameters, backbone, preprocessing\n"
          "  infer MODEL.onnx --input X.npy [--tap NAME] --out Y.npy\n"
          "           run an ONNX model on a raw float32 tensor up to tensor NAME (default:\n"
          "           the graph output), to compare with your own framework\n"
          "  import-tfjs DIR|model.json OUT.onnx [--tap NAME] [--pool] [--input-range LO,HI]\n"
          "           convert a TensorFlow.js model (as npm packages ship them) to ONNX\n"
          "  export MODEL.safetensors OUT.onnx\n"
          "           the trained network as a standard ONNX graph (LSTM/GRU operators,\n"
          "           softmax, ensembles averaged) for ONNX Runtime, OpenVINO, TensorRT\n"
          "\n"
          "  --version  print the version and the GEMM backend\n"
          "  --help     this text\n",
          f);
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
    const char *ins[] = {model, in};
    if (vl_output_check("--out", out, ins, 2)) {
        fprintf(stderr, "vidlstm infer: %s\n", vl_errmsg());
        return 1;
    }
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

static int dispatch(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("vidlstm %s (%s)\n", vl_version(), vl_blas_name());
        return 0;
    }
    int quiet = 0; /* --quiet silences the messages of a backbone fetched on first use too */
    for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
        quiet |= !strcmp(argv[i], "--quiet");
    cli_fetch_setup(quiet);
    if (!strcmp(argv[1], "backbones"))
        return cmd_backbones(argc - 2, argv + 2);
    if (!strcmp(argv[1], "fetch"))
        return cmd_fetch(argc - 2, argv + 2);
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
    if (!strcmp(argv[1], "import-tfjs"))
        return cmd_import_tfjs(argc - 2, argv + 2);
    if (!strcmp(argv[1], "export"))
        return cmd_export(argc - 2, argv + 2);
    fprintf(stderr, "vidlstm: unknown command '%s' (see vidlstm --help)\n", argv[1]);
    return 2;
}

/* Results go to stdout: a full disk or a closed pipe there must not pass as
 * success with an empty file (stdio only reports it through ferror/fflush/
 * fclose, which nothing else checks). */
int main(int argc, char **argv)
{
    int rc = dispatch(argc, argv);
    int e = fflush(stdout) != 0 ? errno : 0;
    int bad = ferror(stdout) || e;
    if (fclose(stdout) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad && !cli_stdout_reported) {
        fprintf(stderr, "vidlstm%s%s: cannot write to standard output: %s\n", argc > 1 ? " " : "",
                argc > 1 ? argv[1] : "", e ? strerror(e) : "write error");
    }
    return bad && !rc ? 1 : rc;
}
