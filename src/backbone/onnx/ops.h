/* The operators' functions, by family (ops_*.c), for the table in ops.c. */
#ifndef VL_BACKBONE_ONNX_OPS_H
#define VL_BACKBONE_ONNX_OPS_H

#include "backbone/onnx/graph.h"

void run_conv(vl_onnx *m, node *n);
void run_pool(vl_onnx *m, node *n);
vl_status shape_conv(vl_onnx *m, node *n);
vl_status shape_pool(vl_onnx *m, node *n);
vl_status shape_gap(vl_onnx *m, node *n);
void run_gap(vl_onnx *m, node *n);
vl_status shape_resize(vl_onnx *m, node *n);
void run_resize(vl_onnx *m, node *n);
vl_status shape_same(vl_onnx *m, node *n);
void run_bn(vl_onnx *m, node *n);
void run_relu(vl_onnx *m, node *n);
void run_clip(vl_onnx *m, node *n);
void run_sigmoid(vl_onnx *m, node *n);
void run_hardsigmoid(vl_onnx *m, node *n);
void run_hardswish(vl_onnx *m, node *n);
vl_status shape_binary(vl_onnx *m, node *n);
void run_binary(vl_onnx *m, node *n);
void run_lrn(vl_onnx *m, node *n);
void run_softmax(vl_onnx *m, node *n);
vl_status shape_sum(vl_onnx *m, node *n);
void run_sum(vl_onnx *m, node *n);
void run_copy(vl_onnx *m, node *n);
vl_status shape_cast(vl_onnx *m, node *n);
vl_status shape_flatten(vl_onnx *m, node *n);
vl_status shape_reshape(vl_onnx *m, node *n);
vl_status shape_squeeze(vl_onnx *m, node *n);
vl_status shape_concat(vl_onnx *m, node *n);
void run_concat(vl_onnx *m, node *n);
vl_status shape_transpose(vl_onnx *m, node *n);
void run_transpose_op(vl_onnx *m, node *n);
vl_status shape_constantofshape(vl_onnx *m, node *n);
vl_status shape_pad(vl_onnx *m, node *n);
void run_pad(vl_onnx *m, node *n);
vl_status shape_shape(vl_onnx *m, node *n);
vl_status shape_gather(vl_onnx *m, node *n);
vl_status shape_slice(vl_onnx *m, node *n);
void run_slice(vl_onnx *m, node *n);
vl_status shape_range(vl_onnx *m, node *n);
vl_status shape_less(vl_onnx *m, node *n);
void run_reducesum(vl_onnx *m, node *n);
vl_status shape_gemm(vl_onnx *m, node *n);
void run_gemm(vl_onnx *m, node *n);
vl_status shape_matmul(vl_onnx *m, node *n);
void run_matmul(vl_onnx *m, node *n);
vl_status shape_reducemean(vl_onnx *m, node *n);
void run_reducemean(vl_onnx *m, node *n);
vl_status shape_reducesum(vl_onnx *m, node *n);
void run_rnn(vl_onnx *m, node *n);
vl_status shape_rnn(vl_onnx *m, node *n);
size_t scratch_conv(const vl_onnx *m, const node *n);
size_t scratch_resize(const vl_onnx *m, const node *n);
size_t scratch_rnn(const vl_onnx *m, const node *n);

#endif
