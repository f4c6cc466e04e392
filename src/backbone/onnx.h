/* ONNX image models on the CPU.
 *
 * Loading: the file is parsed with protobuf-c code generated from ONNX's own
 * onnx.proto (third_party/onnx), initializers may live in external data
 * files. At load time every operator is checked (an unsupported one is an
 * error naming all of them) and BatchNormalization after a Conv is folded
 * into the Conv's weights.
 *
 * Planning, per input shape: shapes are inferred for every tensor, and
 * integer shape subgraphs (Shape -> Gather -> Unsqueeze -> Concat -> Reshape)
 * are evaluated then, so they never run per batch. Only the nodes the
 * requested output depends on run.
 *
 * Tensors are float32, NCHW as the model declares (an NHWC model simply
 * starts with a Transpose).
 *
 * The code is in onnx/: a front-end-neutral graph (onnx/graph.h) and a table
 * of operators (onnx/ops.c); docs/ARCHITECTURE.md, "ONNX backbones". */
#ifndef VL_BACKBONE_ONNX_H
#define VL_BACKBONE_ONNX_H

#include <stdint.h>
#include <stdio.h>

#include "vidlstm.h"

/* The API is public: see vidlstm.h (vl_onnx_*). */

#endif
