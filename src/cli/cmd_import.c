/* vidlstm import-tfjs: a TensorFlow.js model (layers or graph format, as npm
 * packages ship them) to a standard ONNX file (docs/tfjs.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/tfjs.h"
#include "cli/cli.h"
#include "cli/prep.h"
#include "core/outpath.h"

void cli_help_import_tfjs(FILE *f)
{
    fputs("usage: vidlstm import-tfjs DIR|model.json OUT.onnx [--tap NAME] [--pool] [--input-range LO,HI]\n"
          "\n"
          "Converts a TensorFlow.js model (model.json + weight shards; layers models from\n"
          "Keras/tfjs-layers and graph models from tfjs-converter) to a standard ONNX file\n"
          "that --backbone, info, infer and ONNX Runtime read. Quantised weights (uint8,\n"
          "uint16, float16) are dequantised. The ONNX input is TF.js's own [N, H, W, C];\n"
          "tensors inside, 4-D outputs and taps are NCHW. Written atomically; an input\n"
          "file is never overwritten. See docs/tfjs.md.\n"
          "\n"
          "  --tap NAME           end the model at this layer (layers model) or node (graph\n"
          "                       model); only what it depends on is converted. A,B,...\n"
          "                       (graph models): several 4-D nodes of one height and width,\n"
          "                       concatenated along the channels into one output\n"
          "  --pool               global-average-pool a 4-D output to [N, C]: the feature\n"
          "                       vector of a convolutional trunk\n"
          "  --input-range LO,HI  the pixel range the TF.js model expects (e.g. -1,1 for\n"
          "                       Keras MobileNetV2, 0,1 for nsfwjs, 0,255 for MoveNet); the\n"
          "                       ONNX file then takes frames normalised like torchvision's\n"
          "                       ImageNet transform (what vidlstm feeds ONNX backbones)\n"
          "                       and maps them to LO..HI. Default: the input as TF.js takes it\n",
          f);
}

int cmd_import_tfjs(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    vl_tfjs_opts o = {0};
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_help_import_tfjs(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--tap") && i + 1 < argc)
            o.tap = argv[++i];
        else if (!strcmp(argv[i], "--pool"))
            o.pool = 1;
        else if (!strcmp(argv[i], "--input-range") && i + 1 < argc) {
            /* the same LO,HI as train/extract --input-range (cli/prep.h) */
            const char *v = argv[++i];
            float r[2];
            if (cli_parse_floats(v, r, 2))
                return cli_fail("import-tfjs", "--input-range '%s': expected LO,HI (e.g. -1,1)", v);
            if (!(r[1] > r[0]))
                return cli_fail("import-tfjs", "--input-range '%s': expected LO,HI with LO < HI", v);
            o.range_lo = r[0];
            o.range_hi = r[1];
            o.has_range = 1;
        } else if (argv[i][0] != '-' && !in)
            in = argv[i];
        else if (argv[i][0] != '-' && !out)
            out = argv[i];
        else {
            fprintf(stderr, "vidlstm import-tfjs: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!in || !out) {
        fputs("usage: vidlstm import-tfjs DIR|model.json OUT.onnx [--tap NAME] [--pool] [--input-range LO,HI]\n", stderr);
        return 2;
    }
    vl_tfjs_info info;
    if (vl_output_check("import-tfjs: output", out, &in, 1))
        return cli_fail_status("import-tfjs");
    if (vl_tfjs_import(in, out, &o, &info))
        return cli_fail_status("import-tfjs");
    printf("wrote %s: TF.js %s model, %d ONNX nodes, %d initializers (%lld weights), input '%s', output '%s'\n", out,
           info.format, info.nodes, info.weights, info.params, info.input, info.output);
    return 0;
}
