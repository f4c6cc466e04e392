/* TensorFlow.js models to ONNX (docs/tfjs.md).
 *
 * Reads a TF.js model folder (model.json + weight shards) in either format:
 *   - layers models (Keras config in modelTopology[.model_config]),
 *   - graph models (TF GraphDef nodes in modelTopology.node),
 * dequantises the weights (uint8/uint16 affine, float16), maps the layers or
 * ops to ONNX operators that the graph runner (src/backbone/onnx/) runs (opset 13), and writes
 * a standard ONNX file atomically (temporary file, fsync, rename; an input
 * file is never overwritten).
 *
 * Layout: TF.js is NHWC. The ONNX model keeps TF.js's input, [N, H, W, C],
 * and starts with a Transpose to NCHW; every image tensor inside is NCHW
 * (conv weights are rearranged at conversion), so 4-D outputs and taps are
 * NCHW. vl_backbone recognises the [N, H, W, 3] input and feeds NHWC frames.
 *
 * The library prints nothing: errors come back as a status and vl_errmsg()
 * naming the file and the problem (an unsupported layer or op names the op
 * and the node). */
#ifndef VL_BACKBONE_TFJS_H
#define VL_BACKBONE_TFJS_H

#include "vidlstm.h"

typedef struct {
    const char *tap; /* layer (layers model) or node (graph model) to end at; NULL: the model's output;
                      * "A,B,..." (graph models): 4-D nodes of one height and width, concatenated
                      * along the channels (NCHW axis 1) into one output named by the list */
    int pool;        /* 1: a 4-D output is global-average-pooled to [N, C] */
    /* The input range the TF.js model expects (e.g. -1..1 for Keras MobileNetV2,
     * 0..255 for MoveNet). When set, the ONNX file instead takes frames
     * normalised like torchvision's ImageNet transform (vidlstm's default for
     * ONNX backbones) and maps them to this range with one Mul and one Add. */
    int has_range;
    float range_lo, range_hi;
} vl_tfjs_opts;

typedef struct {
    char format[16];      /* "layers" or "graph" */
    char input[256];      /* ONNX input name */
    char output[256];     /* ONNX output name */
    int nodes;            /* ONNX nodes written */
    int weights;          /* initializers written */
    long long params;     /* floats in them */
} vl_tfjs_info;

/* in: a folder holding model.json, or the model.json path. out: the ONNX file. */
vl_status vl_tfjs_import(const char *in, const char *out, const vl_tfjs_opts *opts, vl_tfjs_info *info);

#endif
