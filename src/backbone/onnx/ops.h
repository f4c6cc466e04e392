/* The operators' functions, by family (ops_*.c), for the table in ops.c. */
#ifndef VL_BACKBONE_ONNX_OPS_H
#define VL_BACKBONE_ONNX_OPS_H

#include "backbone/onnx/graph.h"

void onnx_run_conv(vl_onnx *m, node *n);
void onnx_run_pool(vl_onnx *m, node *n);
vl_status onnx_shape_conv(vl_onnx *m, node *n);
vl_status onnx_shape_pool(vl_onnx *m, node *n);
vl_status onnx_shape_gap(vl_onnx *m, node *n);
void onnx_run_gap(vl_onnx *m, node *n);
vl_status onnx_shape_resize(vl_onnx *m, node *n);
void onnx_run_resize(vl_onnx *m, node *n);
vl_status onnx_shape_same(vl_onnx *m, node *n);
void onnx_run_bn(vl_onnx *m, node *n);
void onnx_run_relu(vl_onnx *m, node *n);
void onnx_run_clip(vl_onnx *m, node *n);
void onnx_run_sigmoid(vl_onnx *m, node *n);
void onnx_run_hardsigmoid(vl_onnx *m, node *n);
void onnx_run_hardswish(vl_onnx *m, node *n);
vl_status onnx_shape_binary(vl_onnx *m, node *n);
void onnx_run_binary(vl_onnx *m, node *n);
void onnx_run_lrn(vl_onnx *m, node *n);
void onnx_run_softmax(vl_onnx *m, node *n);
vl_status onnx_shape_sum(vl_onnx *m, node *n);
void onnx_run_sum(vl_onnx *m, node *n);
void onnx_run_copy(vl_onnx *m, node *n);
vl_status onnx_shape_cast(vl_onnx *m, node *n);
vl_status onnx_shape_flatten(vl_onnx *m, node *n);
vl_status onnx_shape_reshape(vl_onnx *m, node *n);
vl_status onnx_shape_squeeze(vl_onnx *m, node *n);
vl_status onnx_shape_concat(vl_onnx *m, node *n);
void onnx_run_concat(vl_onnx *m, node *n);
vl_status onnx_shape_transpose(vl_onnx *m, node *n);
void onnx_run_transpose_op(vl_onnx *m, node *n);
vl_status onnx_shape_constantofshape(vl_onnx *m, node *n);
vl_status onnx_shape_pad(vl_onnx *m, node *n);
void onnx_run_pad(vl_onnx *m, node *n);
vl_status onnx_shape_shape(vl_onnx *m, node *n);
vl_status onnx_shape_gather(vl_onnx *m, node *n);
vl_status onnx_shape_slice(vl_onnx *m, node *n);
void onnx_run_slice(vl_onnx *m, node *n);
vl_status onnx_shape_range(vl_onnx *m, node *n);
vl_status onnx_shape_less(vl_onnx *m, node *n);
void onnx_run_reducesum(vl_onnx *m, node *n);
vl_status onnx_shape_gemm(vl_onnx *m, node *n);
void onnx_run_gemm(vl_onnx *m, node *n);
vl_status onnx_shape_matmul(vl_onnx *m, node *n);
void onnx_run_matmul(vl_onnx *m, node *n);
vl_status onnx_shape_reducemean(vl_onnx *m, node *n);
void onnx_run_reducemean(vl_onnx *m, node *n);
vl_status onnx_shape_reducesum(vl_onnx *m, node *n);
void onnx_run_rnn(vl_onnx *m, node *n);
vl_status onnx_shape_rnn(vl_onnx *m, node *n);
size_t onnx_scratch_conv(const vl_onnx *m, const node *n);
size_t onnx_scratch_resize(const vl_onnx *m, const node *n);
size_t onnx_scratch_rnn(const vl_onnx *m, const node *n);

#endif
