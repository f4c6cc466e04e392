/* The operator table: one entry per operator, indexed by op_kind.
 * name, required inputs, flags, shape inference, reference kernel, scratch, oneDNN lowering.
 * Constant is read at load time; the shape-arithmetic operators have no kernel (planning evaluates them). */
#include <string.h>

#include "backbone/onnx/ops.h"

const vl_op vl_ops[OP_COUNT] = {
    [OP_CONV] = {"Conv", 2, 0, shape_conv, run_conv, scratch_conv, DN_CONV},
    [OP_BN] = {"BatchNormalization", 5, 0, shape_same, run_bn, NULL, DN_NONE},
    [OP_RELU] = {"Relu", 1, 0, shape_same, run_relu, NULL, DN_ELTWISE},
    [OP_CLIP] = {"Clip", 1, 0, shape_same, run_clip, NULL, DN_ELTWISE},
    [OP_SIGMOID] = {"Sigmoid", 1, 0, shape_same, run_sigmoid, NULL, DN_ELTWISE},
    [OP_HARDSIGMOID] = {"HardSigmoid", 1, 0, shape_same, run_hardsigmoid, NULL, DN_NONE},
    [OP_HARDSWISH] = {"HardSwish", 1, 0, shape_same, run_hardswish, NULL, DN_NONE},
    [OP_MUL] = {"Mul", 2, 0, shape_binary, run_binary, NULL, DN_BINARY},
    [OP_ADD] = {"Add", 2, 0, shape_binary, run_binary, NULL, DN_BINARY},
    [OP_SUB] = {"Sub", 2, 0, shape_binary, run_binary, NULL, DN_BINARY},
    [OP_DIV] = {"Div", 2, 0, shape_binary, run_binary, NULL, DN_BINARY},
    [OP_MAXPOOL] = {"MaxPool", 1, 0, shape_pool, run_pool, NULL, DN_POOL},
    [OP_AVGPOOL] = {"AveragePool", 1, 0, shape_pool, run_pool, NULL, DN_POOL},
    [OP_GAP] = {"GlobalAveragePool", 1, 0, shape_gap, run_gap, NULL, DN_POOL},
    [OP_FLATTEN] = {"Flatten", 1, 0, shape_flatten, run_copy, NULL, DN_NONE},
    [OP_GEMM] = {"Gemm", 2, 0, shape_gemm, run_gemm, NULL, DN_NONE},
    [OP_MATMUL] = {"MatMul", 2, 0, shape_matmul, run_matmul, NULL, DN_NONE},
    [OP_RESHAPE] = {"Reshape", 2, OPF_CONST_PARAMS, shape_reshape, run_copy, NULL, DN_NONE},
    [OP_CONCAT] = {"Concat", 1, 0, shape_concat, run_concat, NULL, DN_NONE},
    [OP_LRN] = {"LRN", 1, 0, shape_same, run_lrn, NULL, DN_NONE},
    [OP_DROPOUT] = {"Dropout", 1, 0, shape_same, run_copy, NULL, DN_NONE},
    [OP_SOFTMAX] = {"Softmax", 1, 0, shape_same, run_softmax, NULL, DN_NONE},
    [OP_TRANSPOSE] = {"Transpose", 1, 0, shape_transpose, run_transpose_op, NULL, DN_NONE},
    [OP_PAD] = {"Pad", 1, OPF_CONST_PARAMS, shape_pad, run_pad, NULL, DN_NONE},
    [OP_SQUEEZE] = {"Squeeze", 1, OPF_CONST_PARAMS, shape_squeeze, run_copy, NULL, DN_NONE},
    [OP_UNSQUEEZE] = {"Unsqueeze", 1, OPF_CONST_PARAMS, shape_squeeze, run_copy, NULL, DN_NONE},
    [OP_IDENTITY] = {"Identity", 1, 0, shape_same, run_copy, NULL, DN_NONE},
    [OP_CONSTANT] = {"Constant", 0, 0, NULL, NULL, NULL, DN_NONE},
    [OP_RESIZE] = {"Resize", 1, OPF_CONST_PARAMS, shape_resize, run_resize, scratch_resize, DN_NONE},
    [OP_REDUCEMEAN] = {"ReduceMean", 1, 0, shape_reducemean, run_reducemean, NULL, DN_NONE},
    [OP_SHAPE] = {"Shape", 1, 0, shape_shape, NULL, NULL, DN_NONE},
    [OP_GATHER] = {"Gather", 2, 0, shape_gather, NULL, NULL, DN_NONE},
    [OP_CAST] = {"Cast", 1, 0, shape_cast, run_copy, NULL, DN_NONE},
    [OP_SLICE] = {"Slice", 3, OPF_CONST_PARAMS, shape_slice, run_slice, NULL, DN_NONE},
    [OP_CONSTANTOFSHAPE] = {"ConstantOfShape", 1, 0, shape_constantofshape, NULL, NULL, DN_NONE},
    [OP_LSTM] = {"LSTM", 3, 0, shape_rnn, run_rnn, scratch_rnn, DN_NONE},
    [OP_GRU] = {"GRU", 3, 0, shape_rnn, run_rnn, scratch_rnn, DN_NONE},
    [OP_SUM] = {"Sum", 1, 0, shape_sum, run_sum, NULL, DN_NONE},
    [OP_REDUCESUM] = {"ReduceSum", 1, 0, shape_reducesum, run_reducesum, NULL, DN_NONE},
    [OP_RANGE] = {"Range", 3, 0, shape_range, NULL, NULL, DN_NONE},
    [OP_LESS] = {"Less", 2, 0, shape_less, NULL, NULL, DN_NONE},
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
