/* The operator table: one entry per operator, indexed by op_kind.
 * name, required inputs, flags, shape inference, reference kernel, scratch, oneDNN lowering.
 * Constant is read at load time; the shape-arithmetic operators have no kernel (planning evaluates them). */
#include <string.h>

#include "backbone/onnx/ops.h"

const vl_op vl_ops[OP_COUNT] = {
    [OP_CONV] = {"Conv", 2, 0, onnx_shape_conv, onnx_run_conv, onnx_scratch_conv, DN_CONV},
    [OP_BN] = {"BatchNormalization", 5, 0, onnx_shape_same, onnx_run_bn, NULL, DN_BNORM},
    [OP_RELU] = {"Relu", 1, 0, onnx_shape_same, onnx_run_relu, NULL, DN_ELTWISE},
    [OP_CLIP] = {"Clip", 1, 0, onnx_shape_same, onnx_run_clip, NULL, DN_ELTWISE},
    [OP_SIGMOID] = {"Sigmoid", 1, 0, onnx_shape_same, onnx_run_sigmoid, NULL, DN_ELTWISE},
    [OP_HARDSIGMOID] = {"HardSigmoid", 1, 0, onnx_shape_same, onnx_run_hardsigmoid, NULL, DN_NONE},
    [OP_HARDSWISH] = {"HardSwish", 1, 0, onnx_shape_same, onnx_run_hardswish, NULL, DN_NONE},
    [OP_MUL] = {"Mul", 2, 0, onnx_shape_binary, onnx_run_binary, NULL, DN_BINARY},
    [OP_ADD] = {"Add", 2, 0, onnx_shape_binary, onnx_run_binary, NULL, DN_BINARY},
    [OP_SUB] = {"Sub", 2, 0, onnx_shape_binary, onnx_run_binary, NULL, DN_BINARY},
    [OP_DIV] = {"Div", 2, 0, onnx_shape_binary, onnx_run_binary, NULL, DN_BINARY},
    [OP_MAXPOOL] = {"MaxPool", 1, 0, onnx_shape_pool, onnx_run_pool, NULL, DN_POOL},
    [OP_AVGPOOL] = {"AveragePool", 1, 0, onnx_shape_pool, onnx_run_pool, NULL, DN_POOL},
    [OP_GAP] = {"GlobalAveragePool", 1, 0, onnx_shape_gap, onnx_run_gap, NULL, DN_POOL},
    [OP_FLATTEN] = {"Flatten", 1, OPF_VIEW, onnx_shape_flatten, onnx_run_copy, NULL, DN_NONE},
    [OP_GEMM] = {"Gemm", 2, 0, onnx_shape_gemm, onnx_run_gemm, NULL, DN_NONE},
    [OP_MATMUL] = {"MatMul", 2, 0, onnx_shape_matmul, onnx_run_matmul, NULL, DN_NONE},
    [OP_RESHAPE] = {"Reshape", 2, OPF_CONST_PARAMS | OPF_VIEW, onnx_shape_reshape, onnx_run_copy, NULL, DN_NONE},
    [OP_CONCAT] = {"Concat", 1, 0, onnx_shape_concat, onnx_run_concat, NULL, DN_CONCAT},
    [OP_LRN] = {"LRN", 1, 0, onnx_shape_same, onnx_run_lrn, NULL, DN_NONE},
    [OP_DROPOUT] = {"Dropout", 1, OPF_VIEW, onnx_shape_same, onnx_run_copy, NULL, DN_NONE},
    [OP_SOFTMAX] = {"Softmax", 1, 0, onnx_shape_same, onnx_run_softmax, NULL, DN_NONE},
    [OP_TRANSPOSE] = {"Transpose", 1, 0, onnx_shape_transpose, onnx_run_transpose_op, NULL, DN_NONE},
    [OP_PAD] = {"Pad", 1, OPF_CONST_PARAMS, onnx_shape_pad, onnx_run_pad, NULL, DN_NONE},
    [OP_SQUEEZE] = {"Squeeze", 1, OPF_CONST_PARAMS | OPF_VIEW, onnx_shape_squeeze, onnx_run_copy, NULL, DN_NONE},
    [OP_UNSQUEEZE] = {"Unsqueeze", 1, OPF_CONST_PARAMS | OPF_VIEW, onnx_shape_squeeze, onnx_run_copy, NULL, DN_NONE},
    [OP_IDENTITY] = {"Identity", 1, OPF_VIEW, onnx_shape_same, onnx_run_copy, NULL, DN_NONE},
    [OP_CONSTANT] = {"Constant", 0, 0, NULL, NULL, NULL, DN_NONE},
    [OP_RESIZE] = {"Resize", 1, OPF_CONST_PARAMS, onnx_shape_resize, onnx_run_resize, onnx_scratch_resize, DN_NONE},
    [OP_REDUCEMEAN] = {"ReduceMean", 1, 0, onnx_shape_reducemean, onnx_run_reducemean, NULL, DN_NONE},
    [OP_SHAPE] = {"Shape", 1, 0, onnx_shape_shape, NULL, NULL, DN_NONE},
    [OP_GATHER] = {"Gather", 2, 0, onnx_shape_gather, NULL, NULL, DN_NONE},
    [OP_CAST] = {"Cast", 1, OPF_VIEW, onnx_shape_cast, onnx_run_copy, NULL, DN_NONE},
    [OP_SLICE] = {"Slice", 3, OPF_CONST_PARAMS, onnx_shape_slice, onnx_run_slice, NULL, DN_NONE},
    [OP_CONSTANTOFSHAPE] = {"ConstantOfShape", 1, 0, onnx_shape_constantofshape, NULL, NULL, DN_NONE},
    [OP_LSTM] = {"LSTM", 3, 0, onnx_shape_rnn, onnx_run_rnn, onnx_scratch_rnn, DN_NONE},
    [OP_GRU] = {"GRU", 3, 0, onnx_shape_rnn, onnx_run_rnn, onnx_scratch_rnn, DN_NONE},
    [OP_SUM] = {"Sum", 1, 0, onnx_shape_sum, onnx_run_sum, NULL, DN_NONE},
    [OP_REDUCESUM] = {"ReduceSum", 1, 0, onnx_shape_reducesum, onnx_run_reducesum, NULL, DN_NONE},
    [OP_RANGE] = {"Range", 3, 0, onnx_shape_range, NULL, NULL, DN_NONE},
    [OP_LESS] = {"Less", 2, 0, onnx_shape_less, NULL, NULL, DN_NONE},
};

int vl_op_find(const char *type)
{
    if (!type)
        return -1;
    for (int k = 0; k < OP_COUNT; k++)
        if (!strcmp(vl_ops[k].name, type))
            return k;
    return -1;
}
