/* The graph runner's internals (see ../onnx.h for the public side).
 *
 * A model is a front-end-neutral graph: tensors (initializers carry their
 * values), nodes with an operator index into the table vl_ops[], their inputs,
 * outputs and attributes. A front-end (load.c reads ONNX protobuf) fills it;
 * fold.c rewrites it at load time (BatchNormalization into Conv, Relu/Clip into
 * Conv/Gemm); plan.c infers shapes per input shape, evaluates constants and
 * assigns buffers; run.c executes. Each operator's shape inference and
 * reference kernel live in its family file (ops_*.c) and one vl_ops[] entry
 * (ops.c); dnnl.c lowers some of them to oneDNN primitives when built with
 * VL_BLAS_DNNL, and is the only file that depends on that macro.
 *
 * Adding an operator: an op_kind value, its entry in ops.c, its shape function
 * (and kernel unless it is shape arithmetic) in the family file. */
#ifndef VL_BACKBONE_ONNX_GRAPH_H
#define VL_BACKBONE_ONNX_GRAPH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "backbone/onnx.h"
#include "core/error.h"

#define MAXD VL_ONNX_MAXDIM

typedef enum {
    OP_CONV, OP_BN, OP_RELU, OP_CLIP, OP_SIGMOID, OP_HARDSIGMOID, OP_HARDSWISH, OP_MUL, OP_ADD, OP_SUB, OP_DIV,
    OP_MAXPOOL, OP_AVGPOOL, OP_GAP, OP_FLATTEN, OP_GEMM, OP_MATMUL, OP_RESHAPE, OP_CONCAT, OP_LRN, OP_DROPOUT,
    OP_SOFTMAX, OP_TRANSPOSE, OP_PAD, OP_SQUEEZE, OP_UNSQUEEZE, OP_IDENTITY, OP_CONSTANT, OP_RESIZE,
    OP_REDUCEMEAN,
    /* integer shape arithmetic, evaluated while planning */
    OP_SHAPE, OP_GATHER, OP_CAST, OP_SLICE, OP_CONSTANTOFSHAPE,
    /* sequence models (what vidlstm export writes); Range/Less are shape arithmetic */
    OP_LSTM, OP_GRU, OP_SUM, OP_REDUCESUM, OP_RANGE, OP_LESS,
    OP_COUNT
} op_kind;

/* Activations fused into a Conv/Gemm (fold.c): SWISH is x * sigmoid(x)
 * (SiLU: a Sigmoid and a Mul reading the same tensor), SIGMOID the logistic
 * function (the squeeze-excitation gate); both on Conv only. */
typedef enum { ACT_NONE, ACT_RELU, ACT_CLIP, ACT_SWISH, ACT_SIGMOID } act_kind;

/* Convolutions with fewer output pixels than this run as one GEMM over the
 * batch (see onnx_run_conv). */
#define BATCHED_CONV_MAX_P 1024

typedef struct tensor_s {
    char *name;
    int ndim;
    int64_t shape[MAXD];
    int64_t count;
    int is_int;      /* int64 values (shape arithmetic) */
    int is_const;    /* value known before running (initializer, Constant, folded) */
    float *data;     /* constant floats (owned) or activation buffer (arena) */
    int64_t *ival;   /* int values (owned) */
    int producer;    /* node index, -1 for inputs/initializers */
    int last_use;    /* planning: last node reading it */
    int buf;         /* planning: arena block */
} tensor;

/* An attribute, front-end neutral; the type numbers are ONNX's. Every field
 * the front-end had is copied (readers pick by name, as ONNX's do). */
enum { VA_FLOAT = 1, VA_INT = 2, VA_STRING = 3, VA_TENSOR = 4, VA_FLOATS = 6, VA_INTS = 7 };
typedef struct {
    char *name;
    int type;
    int64_t i;
    float f;
    int64_t *ints;
    size_t nints;
    char *s; /* NULL when absent */
    size_t slen;
    tensor *t; /* a tensor value, loaded (NULL when absent) */
} vl_attr;

typedef struct {
    op_kind op;
    char *name; /* the node's name ("" when unnamed) */
    vl_attr *attr;
    int nattr;
    int nin, nout;
    int *in;      /* nin entries (at least 3: folding may add a Conv bias); Concat has any number */
    int out[4];
    int removed;  /* folded into another node at load */
    int folded;   /* evaluated while planning */
    int live;     /* needed for the requested output */
    act_kind act; /* fused activation (Conv, Gemm) */
    float act_min, act_max;
    /* planning: a Conv that absorbed the Add (and Relu) after it writes pout
     * and accumulates into tensor pres (in its buffer when pinplace) */
    int pout, pres, pinplace;
} node;

struct dnnl_engine;
struct dnnl_stream;

struct vl_onnx {
    char path[4096];
    void *proto;   /* the front-end's parsed file, while loading */
    uint8_t *file; /* its bytes, while loading */
    int64_t opset;
    tensor *T;
    int nt, capt;
    node *N;
    int nn;
    int nn_alloc; /* nodes calloc'ed (their `in` arrays are freed) */
    int input;  /* graph input tensor */
    int decl_nd;               /* its declared shape (-1 = dynamic) */
    int64_t decl_shape[MAXD];
    int output; /* first graph output */
    int feature; /* the tensor the model names as its features (vidlstm.feature), or -1 */
    int lens;   /* a second graph input, int32 [batch]: LSTM/GRU sequence_lens, given per run
                 * and treated as a constant while planning (-1: none) */
    int64_t *planned_lens;
    /* plan */
    int planned_ndim;
    int64_t planned_shape[MAXD];
    int planned_tap;
    float **blocks;
    size_t *block_size;
    int nblocks;
    float **spare;       /* the previous plan's blocks, while planning for a new shape */
    size_t *spare_size;
    int nspare;
    float *scratch;
    size_t scratch_size; /* floats the planned convolutions need */
    size_t scratch_cap;  /* floats allocated */
    /* oneDNN state (dnnl.c; unused without it) */
    int no_dnnl;            /* tests: run every node on the reference kernels */
    struct dnnl_engine *eng;
    struct dnnl_stream *strm;
    struct dn_tensor_s *dt; /* per tensor, this plan */
    struct dn_node_s *dn;   /* per node, this plan */
    void *dn_scratch;       /* the primitives' shared scratchpad */
    struct dn_weights_s *wcache; /* per Conv node: [2j] its weights, [2j+1] a fused depthwise one's */
    vl_precision prec;   /* what the oneDNN convolutions run in (vl_onnx_set_precision) */
    char prec_note[320]; /* why a requested precision fell back to fp32, or "" */
    /* int8: static per-tensor activation ranges from an fp32 calibration pass
     * (run.c, calibrate), indexed by tensor; what they were made from */
    float *qmax, *qmin;   /* max |x| and min x over the calibration images (NULL: not calibrated) */
    int qcal_ndim;        /* input shape the default calibration images had (0: none) */
    int64_t qcal_shape[MAXD];
    int qcal_tap;         /* the tap the calibration pass ran to */
    int calibrating;      /* running the calibration pass: record ranges */
    float *cal_data;      /* the caller's calibration images (vl_onnx_calibrate; owned), or NULL */
    int cal_ndim;
    int64_t cal_shape[MAXD];
};

/* ---- the operator table (ops.c) ---------------------------------------------------- */

/* oneDNN lowerings (dnnl.c): which primitive an operator may become. */
typedef enum { DN_NONE, DN_CONV, DN_POOL, DN_ELTWISE, DN_BINARY, DN_CONCAT, DN_BNORM } dn_lowering;

enum {
    OPF_CONST_PARAMS = 1, /* inputs after the first must be known while planning */
    OPF_VIEW = 2,         /* output 0 holds input 0's values in the same order: may share its buffer */
};

typedef struct {
    const char *name; /* the ONNX op_type */
    int min_inputs;   /* required (present) inputs */
    unsigned flags;
    /* output shapes of n (and, for shape arithmetic, their values: then n->folded = 1) */
    vl_status (*shape)(vl_onnx *m, node *n);
    /* the reference kernel (NULL: always evaluated while planning) */
    void (*run)(vl_onnx *m, node *n);
    /* floats of m->scratch the kernel needs, shapes planned (NULL: none) */
    size_t (*scratch)(const vl_onnx *m, const node *n);
    dn_lowering dnnl;
} vl_op;

extern const vl_op vl_ops[OP_COUNT];
int vl_op_find(const char *type); /* the op_kind of an op_type, or -1 */

/* ---- small helpers ------------------------------------------------------------------ */

/* proto2 strings are optional: absent ones read as NULL. */
static inline const char *str(const char *s) { return s ? s : ""; }

/* Product of dims a..b-1, saturating at 2^62 so corrupt shapes cannot overflow
 * (callers reject anything that large). */
static inline int64_t prod(const int64_t *s, int a, int b)
{
    const int64_t cap = (int64_t)1 << 62;
    int64_t p = 1;
    for (int i = a; i < b; i++) {
        if (s[i] < 0)
            return cap;
        if (s[i] && p > cap / s[i])
            return cap;
        p *= s[i];
    }
    return p;
}

static inline int64_t norm_axis(int64_t a, int nd) { return a < 0 ? a + nd : a; }

static inline float apply_act(float v, act_kind a, float lo, float hi)
{
    if (a == ACT_RELU)
        return v > 0.0f ? v : 0.0f;
    if (a == ACT_CLIP)
        return v < lo ? lo : (v > hi ? hi : v);
    if (a == ACT_SWISH) /* as the unfused Sigmoid and Mul compute it */
        return v * (1.0f / (1.0f + expf(-v)));
    if (a == ACT_SIGMOID)
        return 1.0f / (1.0f + expf(-v));
    return v;
}

static inline void set_shape(tensor *t, int ndim, const int64_t *s)
{
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = s[i];
    t->count = prod(s, 0, ndim);
}

/* attributes (graph.c) */
const vl_attr *attr(const node *n, const char *name);
int64_t attr_int(const node *n, const char *name, int64_t def);
float attr_float(const node *n, const char *name, float def);
int attr_ints(const node *n, const char *name, int64_t *v, int maxn);
const char *attr_str(const node *n, const char *name, char *buf, size_t len);
/* Load-time rewrites (fold.c): set or add an integer (list) attribute; 0, or
 * -1 out of memory. */
int attr_set_ints(node *n, const char *name, const int64_t *v, int cnt);
int attr_set_int(node *n, const char *name, int64_t v);

/* tensors (graph.c) */
int find_tensor(const vl_onnx *m, const char *name);
int new_tensor(vl_onnx *m, const char *name);
int add_tensor(vl_onnx *m, const char *name);
void free_tensor(tensor *t);
int consumers(const vl_onnx *m, int ti, int *first);

/* load-time rewriting (fold.c) */
vl_status fold_graph(vl_onnx *m);

/* planning (plan.c) */
vl_status plan_err(const vl_onnx *m, const node *n, const char *what);
vl_status set_int_out(tensor *Y, int ndim, const int64_t *shape, const int64_t *vals);
vl_status plan(vl_onnx *m, int ndim, const int64_t *shape, int tap);
vl_status set_lens(vl_onnx *m, int ndim, const int64_t *shape, const int32_t *lens);
void free_plan(vl_onnx *m);
void free_spares(vl_onnx *m);

/* The activation arena while planning: which blocks are in use. */
typedef struct {
    int *busy;
    int cap;
} arena;
int arena_get(vl_onnx *m, arena *a, size_t need);

/* running (run.c) */
void exec_node(vl_onnx *m, node *n);

/* shared by the operator families */
typedef struct {
    int64_t kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, Ho, Wo;
} win2d;
vl_status conv_window(const vl_onnx *m, const node *n, int64_t H, int64_t W, int64_t kh, int64_t kw, int ceil_ok,
                      win2d *w);
size_t conv_scratch_need(const vl_onnx *m, const node *n);

/* ---- oneDNN (dnnl.c; without VL_BLAS_DNNL these do nothing) ------------------------- */

int vl_dn_available(void);
int vl_dn_bf16_native(void);
int vl_dn_int8_native(void);
int vl_dn_decide(vl_onnx *m, int tap);   /* 1: out of memory */
int vl_dn_on(const vl_onnx *m, int j);   /* node j runs as a primitive in this plan */
vl_status vl_dn_plan_inputs(vl_onnx *m, int j, arena *a);
int vl_dn_plan_output(vl_onnx *m, int j, int k, int ti, arena *a, int *from); /* -1 nomem, 1 done */
void vl_dn_plan_inputs_done(vl_onnx *m, int j, arena *a);
void vl_dn_release(vl_onnx *m, arena *a, int ti);
vl_status vl_dn_bind(vl_onnx *m);
vl_status vl_dn_set_input(vl_onnx *m, const float *input);
vl_status vl_dn_exec(vl_onnx *m, int j);
vl_status vl_dn_wait(vl_onnx *m);
void vl_dn_free_plan(vl_onnx *m);
void vl_dn_free(vl_onnx *m);

#endif
