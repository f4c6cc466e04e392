/* vidlstm export: a trained model file as a standard ONNX graph for serving
 * runtimes (docs/deploy.md); the work is vl_model_export_onnx. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

void cli_help_export(FILE *f)
{
    fputs("usage: vidlstm export MODEL.safetensors OUT.onnx\n"
          "\n"
          "Writes the trained network as a standard ONNX file (opset 14) that ONNX\n"
          "Runtime, OpenVINO or TensorRT can serve: the feature normalisation, the\n"
          "recurrent layers as ONNX LSTM/GRU operators, mean pooling, the head and, for\n"
          "classifiers, the softmax; an ensemble becomes one graph averaging its\n"
          "members. Batch and time are dynamic.\n"
          "  inputs:  features [batch, time, D] float32 (raw features, padded past each\n"
          "           sequence's length), sequence_lens [batch] int32 (1..time)\n"
          "  output:  probabilities (classify) or values (regress): [batch, C] for clip\n"
          "           models, [batch, time, C] for per-frame models (zeros when padded)\n"
          "Class names and the backbone are in the file's metadata (vidlstm.classes,\n"
          "vidlstm.backbone). Written atomically; the model file is never overwritten.\n"
          "See docs/deploy.md for running it from Python, Node and C++.\n",
          f);
}

int cmd_export(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_help_export(stdout);
            return 0;
        }
        if (argv[i][0] != '-' && !in)
            in = argv[i];
        else if (argv[i][0] != '-' && !out)
            out = argv[i];
        else {
            fprintf(stderr, "vidlstm export: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!in || !out) {
        fputs("usage: vidlstm export MODEL.safetensors OUT.onnx\n", stderr);
        return 2;
    }
    vl_export_info info;
    if (vl_model_export_onnx(in, out, &info))
        return cli_fail_status("export");
    printf("wrote %s: %d member%s, %d ONNX nodes, %lld weights, %lld bytes; output '%s'\n", out, info.members,
           info.members == 1 ? "" : "s", info.nodes, (long long)info.weights, (long long)info.bytes, info.output);
    return 0;
}
