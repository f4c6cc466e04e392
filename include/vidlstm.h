/* vidlstm: recurrent networks (LSTM, BiLSTM, GRU) for video sequences.
 *
 * The public C API. A quick tour (tests/tutorial.cmake cuts the program
 * between the two marker lines out of this comment; the test `tutorial`
 * compiles and runs it, so it stays true):
 *
 * ---- tutorial ----
 * #include <stdio.h>
 * #include "vidlstm.h"
 *
 * int main(void)
 * {
 *     // a BiLSTM (16 units each way) over 8 features per step, 2 classes
 *     vl_net_config cfg = {.input = 8, .outputs = 2, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
 *     vl_net_add_layer(&cfg, VL_LAYER_LSTM, 16, 1);
 *     vl_net *net;
 *     if (vl_net_create(&cfg, 42, &net) != VL_OK) {
 *         fprintf(stderr, "%s\n", vl_errmsg());
 *         return 1;
 *     }
 *     // 4 sequences of up to 10 steps, batch-first and padded; class 1
 *     // where the features rise over time
 *     float x[4 * 10 * 8] = {0};
 *     int32_t len[4] = {10, 7, 10, 3}, y[4] = {0, 1, 1, 0};
 *     for (int j = 0; j < 4; j++)
 *         for (int t = 0; t < len[j]; t++)
 *             for (int k = 0; k < 8; k++)
 *                 x[(j * 10 + t) * 8 + k] = y[j] ? 0.1f * t : 0.5f - 0.05f * t;
 *     vl_batch b = {.batch = 4, .tmax = 10, .dim = 8, .x = x, .lengths = len, .labels = y};
 *
 *     vl_optim *opt;
 *     if (vl_optim_create(net, &(vl_optim_config){.kind = VL_OPT_ADAM, .lr = 1e-2f}, &opt) != VL_OK) {
 *         fprintf(stderr, "%s\n", vl_errmsg());
 *         return 1;
 *     }
 *     float loss = 0, first = 0;
 *     for (int step = 0; step < 30; step++) {
 *         vl_net_forward_backward(net, &b, &loss, NULL); // the loss, then the gradients
 *         vl_optim_step(opt, NULL);                      // NULL: no gradient norm wanted
 *         if (step == 0)
 *             first = loss;
 *     }
 *     float logit[4 * 2]; // [batch, classes]: vl_net_output_size(net, &b) floats
 *     vl_net_forward(net, &b, logit);
 *     for (int j = 0; j < 4; j++)
 *         printf("sequence %d: class %d (label %d)\n", j, logit[2 * j + 1] > logit[2 * j], y[j]);
 *     printf("loss %.4f -> %.4f\n", first, loss);
 *     vl_optim_free(opt);
 *     vl_net_free(net);
 *     return loss < first ? 0 : 1;
 * }
 * ---- end of tutorial ----
 *
 * Conventions
 * - Every fallible call returns vl_status; on failure vl_errmsg() holds one line
 *   naming the file or argument and the problem (thread-local). The library never
 *   prints and never exits.
 * - Tensors are plain row-major float arrays with shapes in the comments.
 * - Parameter names and gate order follow PyTorch nn.LSTM / nn.GRU:
 *   weight_ih_l{k}[_reverse] [G*H, in], weight_hh_l{k} [G*H, H], bias_ih_l{k}, bias_hh_l{k}
 *   with gates i,f,g,o (LSTM, G=4) or r,z,n (GRU, G=3); the head is fc.weight [C, in], fc.bias [C].
 */
#ifndef VIDLSTM_H
#define VIDLSTM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VIDLSTM_VERSION "0.1.0"

/* ---- errors ---------------------------------------------------------------- */

typedef enum {
    VL_OK = 0,
    VL_ERR_ARG,         /* invalid argument or configuration */
    VL_ERR_NOMEM,       /* allocation failed */
    VL_ERR_IO,          /* file could not be opened, read or written */
    VL_ERR_FORMAT,      /* file exists but is malformed */
    VL_ERR_SHAPE,       /* sizes disagree */
    VL_ERR_NUMERIC,     /* NaN or Inf where finite numbers are required */
    VL_ERR_UNSUPPORTED, /* valid request this build cannot serve */
} vl_status;

const char *vl_errmsg(void);            /* message of the last failure on this thread */
const char *vl_status_str(vl_status s); /* short name of a status code */
const char *vl_version(void);

/* ---- threads --------------------------------------------------------------- */

/* Threads used by the numerics (BLAS, CNN backbones and element-wise kernels)
 * on the calling thread and on the threads the library starts (extraction runs
 * the CNN on its own). OpenMP keeps the count per thread: another thread of
 * the application that calls the library runs with OpenMP's default unless it
 * calls vl_set_threads too. <= 0 changes nothing. Results are bit-identical
 * for a given seed and thread count. */
void vl_set_threads(int n);
int vl_get_threads(void);
const char *vl_blas_name(void); /* BLAS library and kernel family in use */

/* ---- the network ------------------------------------------------------------ */

#define VL_MAX_LAYERS 16

typedef enum {
    VL_LAYER_LSTM,
    VL_LAYER_GRU,
    VL_LAYER_DROPOUT, /* inverted dropout on the previous layer's output (training only) */
    VL_LAYER_MEAN,    /* mean over each sequence's valid steps: the bag-of-frames baseline
                       * (mean-pooled features + the linear head); last layer, mode last */
} vl_layer_kind;

typedef struct {
    vl_layer_kind kind;
    int hidden;        /* units per direction (recurrent layers) */
    int bidirectional; /* 0 or 1 (recurrent layers) */
    float p;           /* drop probability (dropout layers) */
} vl_layer_spec;

typedef enum {
    VL_OUT_LAST,     /* many-to-one: each sequence's last valid step (h_n for BiLSTM) */
    VL_OUT_SEQUENCE, /* many-to-many: every valid step */
} vl_out_mode;

typedef enum { VL_TASK_CLASSIFY, VL_TASK_REGRESS } vl_task;

typedef struct {
    int input;   /* feature width D */
    int outputs; /* classes (classify) or regression targets per step/clip */
    vl_out_mode mode;
    vl_task task;
    int nlayers;
    vl_layer_spec layer[VL_MAX_LAYERS];
    const float *class_weights; /* [outputs] or NULL; copied at creation */
} vl_net_config;

/* Appends a recurrent layer (VL_LAYER_LSTM or VL_LAYER_GRU) with `hidden`
 * units per direction, or a dropout layer with drop probability p. Both return
 * VL_ERR_ARG when the stack is full (VL_MAX_LAYERS). */
vl_status vl_net_add_layer(vl_net_config *cfg, vl_layer_kind kind, int hidden, int bidirectional);
vl_status vl_net_add_dropout(vl_net_config *cfg, float p);
/* Appends the layers of a spec to cfg (replacing any it had): comma-separated
 * "lstm:H", "bilstm:H", "gru:H", "bigru:H" (H = units per direction,
 * 1..65536), "dropout:P" (0 <= P < 1) and "mean", e.g. "bilstm:128,dropout:0.5,lstm:64".
 * VL_ERR_ARG with a message naming the bad token. */
vl_status vl_net_parse_layers(const char *spec, vl_net_config *cfg);

typedef struct vl_net vl_net;

/* Creates a network with PyTorch's default initialisation
 * (U(-1/sqrt(H), 1/sqrt(H)) for recurrent layers, nn.Linear's for the head),
 * drawn from `seed`. */
vl_status vl_net_create(const vl_net_config *cfg, uint64_t seed, vl_net **out);
void vl_net_free(vl_net *net);
const vl_net_config *vl_net_get_config(const vl_net *net);

/* Parameters, in PyTorch's named_parameters() order. */
typedef struct {
    const char *name; /* e.g. "weight_ih_l0_reverse", "fc.weight" */
    int ndim;         /* 1 or 2 */
    int shape[2];
    size_t count;
    float *data; /* live weights: writable */
    float *grad; /* gradient of the last vl_net_forward_backward */
} vl_param;

int vl_net_num_params(const vl_net *net);
vl_status vl_net_param(vl_net *net, int i, vl_param *out);
vl_status vl_net_find_param(vl_net *net, const char *name, vl_param *out);
size_t vl_net_param_count(const vl_net *net); /* total scalars */

/* One mini-batch of padded sequences. */
typedef struct {
    int batch, tmax, dim;
    const float *x;       /* [batch, tmax, dim], batch-first; padded steps ignored */
    const int32_t *lengths; /* [batch], 1 <= length <= tmax, any order */
    /* Targets (only for forward_backward):
     *   classify+last: labels [batch]; classify+sequence: labels [batch, tmax]
     *   regress+last: targets [batch, outputs]; regress+sequence: targets [batch, tmax, outputs] */
    const int32_t *labels;
    const float *targets;
    /* Optional initial states, PyTorch layout per recurrent layer k and direction d,
     * concatenated: [sum_k dirs_k, batch, H_k] (h0 for all cells, c0 for LSTM layers
     * only — GRU layers take no c0 slot). NULL = zeros. */
    const float *h0;
    const float *c0;
    /* Optional, for batches drawn from stored sequences without padding them:
     * seq_x[j] points at sequence j's first lengths[j] rows ([lengths[j], dim],
     * row-major) and replaces x, which may then be NULL; the network packs them
     * straight into its time-major layout. In sequence mode seq_labels[j]
     * (lengths[j] labels) and seq_targets[j] ([lengths[j], outputs]) replace
     * labels and targets likewise. tmax must still be >= every length. */
    const float *const *seq_x;
    const int32_t *const *seq_labels;
    const float *const *seq_targets;
    /* Optional: vl_net_forward / _forward_backward called with out == NULL
     * write sequence j's outputs to seq_out[j] (outputs floats, or
     * lengths[j] x outputs in sequence mode) instead. */
    float *const *seq_out;
} vl_batch;

/* Output size in floats for a batch: last -> batch*outputs, sequence -> batch*tmax*outputs. */
size_t vl_net_output_size(const vl_net *net, const vl_batch *b);

/* Inference: out = head outputs (logits for classify, values for regress),
 * [batch, outputs] or [batch, tmax, outputs] with zeros at padded steps;
 * out NULL: to the batch's seq_out. Dropout is off. */
vl_status vl_net_forward(vl_net *net, const vl_batch *b, float *out);

/* Training forward + backward: returns the mean loss and overwrites every
 * parameter's gradient. Dropout is on. `out` may be NULL or receive the outputs
 * as vl_net_forward lays them out. Optional input gradients: see vl_net_input_grads. */
vl_status vl_net_forward_backward(vl_net *net, const vl_batch *b, float *loss, float *out);

/* After vl_net_forward_backward with `want_input_grads` enabled: gradients for
 * the input x [batch, tmax, dim] and, when given, h0/c0 (layouts as vl_batch).
 * They stay available until the next vl_net_forward or forward_backward. */
void vl_net_want_input_grads(vl_net *net, int on);

/* Precision of the recurrent layers' GEMMs in training passes
 * (vl_net_forward_backward). VL_RNN_BF16: bf16 operands with fp32
 * accumulation (weights rounded to bf16 copies refreshed every pass, GEMM
 * inputs rounded to bf16); master weights, gradients, the cell's element-wise
 * work and the optimiser stay fp32. Inference (vl_net_forward) is always fp32,
 * so a model trained either way is saved and predicts the same way. bf16 needs
 * a CPU with AVX512-BF16 or AMX (as oneDNN detects it); elsewhere the request
 * falls back to fp32. Returns the precision in effect. */
typedef enum { VL_RNN_FP32 = 0, VL_RNN_BF16 = 1 } vl_rnn_precision;
vl_rnn_precision vl_net_set_rnn_precision(vl_net *net, vl_rnn_precision p);
vl_rnn_precision vl_net_rnn_precision(const vl_net *net);
vl_status vl_net_input_grads(vl_net *net, float *dx, float *dh0, float *dc0);

/* Ensembles. A network can carry further members of the same input width,
 * outputs, mode and task (the layers may differ); vl_net_add_member takes
 * ownership of `member` (vl_net_free frees them all). vl_net_forward then runs
 * every member and combines them: regression outputs are averaged;
 * classification outputs are the logarithm of the members' averaged softmax
 * probabilities, so a softmax of them gives exactly that average.
 * vl_net_forward_backward refuses an ensemble (train members one by one);
 * the parameter functions see the first member only: vl_net_member(net, k)
 * returns member k (0 is net itself, NULL past the end). */
vl_status vl_net_add_member(vl_net *net, vl_net *member);
int vl_net_num_members(const vl_net *net);
vl_net *vl_net_member(vl_net *net, int k);

/* ---- optimisation ------------------------------------------------------------ */

typedef enum { VL_OPT_SGDM, VL_OPT_ADAM, VL_OPT_RMSPROP } vl_opt_kind;

typedef enum {
    VL_CLIP_NONE,
    VL_CLIP_GLOBAL_L2NORM, /* all gradients scaled together (PyTorch clip_grad_norm_) */
    VL_CLIP_L2NORM,        /* each parameter tensor on its own (MATLAB's default) */
    VL_CLIP_ABSVALUE,      /* element-wise clamp (PyTorch clip_grad_value_) */
} vl_clip_method;

typedef enum { VL_SCHED_NONE, VL_SCHED_PIECEWISE, VL_SCHED_COSINE } vl_sched_kind;

typedef struct {
    vl_opt_kind kind;
    float lr;
    float weight_decay;  /* L2 added to the gradient, as PyTorch's weight_decay */
    float momentum;      /* sgdm; default 0.9 when 0 and kind is SGDM */
    float beta1, beta2;  /* adam; defaults 0.9, 0.999 when 0 */
    float alpha;         /* rmsprop squared-gradient decay; default 0.99 when 0 */
    float eps;           /* adam/rmsprop; default 1e-8 when 0 */
    vl_clip_method clip;
    float clip_threshold;
    /* Learning-rate schedule, evaluated per epoch by vl_optim_set_epoch. */
    vl_sched_kind sched;
    int drop_period;     /* piecewise: multiply by drop_factor every drop_period epochs */
    float drop_factor;
    int total_epochs;    /* cosine: lr * 0.5 * (1 + cos(pi * epoch / total_epochs)) */
    float min_lr;        /* cosine floor */
} vl_optim_config;

typedef struct vl_optim vl_optim;

vl_status vl_optim_create(vl_net *net, const vl_optim_config *cfg, vl_optim **out);
void vl_optim_free(vl_optim *opt);
/* Clips the gradients (per cfg), adds weight decay and updates the weights.
 * Returns the global L2 norm of the gradients before clipping in *gnorm if not NULL. */
vl_status vl_optim_step(vl_optim *opt, float *gnorm);
void vl_optim_set_epoch(vl_optim *opt, int epoch); /* 0-based; applies the schedule */
float vl_optim_lr(const vl_optim *opt);


/* ---- .npy files ----------------------------------------------------------------- */

#define VL_NPY_MAXDIM 8

typedef enum { VL_NPY_F32, VL_NPY_I32 } vl_npy_dtype;

typedef struct {
    vl_npy_dtype dtype; /* after conversion: f4/f8 load as F32, i4/i8 as I32 */
    int ndim;
    int64_t shape[VL_NPY_MAXDIM];
    int64_t count; /* product of shape */
    void *data;    /* float* or int32_t*; free with vl_npy_free */
} vl_npy;

/* Reads a NumPy .npy file (C order, little-endian; float64 narrows to float32,
 * int64 to int32). Errors name the file. */
vl_status vl_npy_read(const char *path, vl_npy *out);
void vl_npy_free(vl_npy *a);
/* Writes float32 or int32 data atomically (temp file, fsync, rename). */
vl_status vl_npy_write(const char *path, vl_npy_dtype dtype, int ndim, const int64_t *shape, const void *data);

/* ---- ONNX models ------------------------------------------------------------------ */

#define VL_ONNX_MAXDIM 8

typedef struct vl_onnx vl_onnx;

/* Loads an ONNX model (initializers may be external data files). Every
 * operator is checked at load time; an unsupported one is an error that names
 * all of them. NaN/Inf weights are an error. */
vl_status vl_onnx_load(const char *path, vl_onnx **out);
/* The same from bytes in memory; `name` labels errors and anchors external
 * data files (relative to its folder). */
vl_status vl_onnx_load_memory(const void *data, size_t len, const char *name, vl_onnx **out);
void vl_onnx_free(vl_onnx *m);
/* The graph's input: name and declared shape (-1 = dynamic). */
const char *vl_onnx_input_name(const vl_onnx *m, int *ndim, int64_t *shape);
const char *vl_onnx_output_name(const vl_onnx *m);
/* Default feature tensor: the one the model's metadata names under
 * "vidlstm.feature" (vidlstm import-tfjs writes it), else the input of the
 * final classifier (a Gemm/MatMul at the end of the graph, followed by no
 * more than reshapes, softmax or a constant bias; for fully convolutional
 * ImageNet classifiers such as SqueezeNet, the 1x1 Conv to 1000 classes),
 * else, for a model with no classifier (a headless export: PyTorch
 * `fc = Identity`, MATLAB's pool5 cut, an embedding), the graph's output. */
const char *vl_onnx_default_tap(const vl_onnx *m);
/* Runs the graph on `input` up to tensor `tap` (NULL = graph output); only the
 * nodes it depends on run. *out points into the model (valid until the next
 * run or free), its shape in out_ndim/out_shape. */
vl_status vl_onnx_run(vl_onnx *m, const float *input, int ndim, const int64_t *shape, const char *tap,
                      const float **out, int *out_ndim, int64_t *out_shape);
/* vl_onnx_run for graphs with a second input, int32 sequence lengths [batch]
 * (the `sequence_lens` of LSTM/GRU operators, as vidlstm export writes them):
 * lens has shape[0] values. vl_onnx_run gives such graphs the whole time axis
 * (input dimension 1) for every sequence. */
vl_status vl_onnx_run_lens(vl_onnx *m, const float *input, int ndim, const int64_t *shape, const int32_t *lens,
                           const char *tap, const float **out, int *out_ndim, int64_t *out_shape);
/* Writes inputs, outputs, operator counts and every tensor with its shape
 * (for a batch of one) to f. */
vl_status vl_onnx_describe(vl_onnx *m, FILE *f);

/* Numeric precision of an ONNX backbone's convolutions (and of the pooling
 * and element-wise steps oneDNN runs between them). fp32 is the default. */
typedef enum { VL_PREC_FP32 = 0, VL_PREC_BF16 = 1, VL_PREC_INT8 = 2 } vl_precision;
/* "fp32", "bf16" or "int8" -> *out; anything else is VL_ERR_ARG naming the
 * value and the choices. */
vl_status vl_precision_parse(const char *s, vl_precision *out);
const char *vl_precision_name(vl_precision p); /* "fp32", "bf16", "int8" */
/* Runs m in precision p from the next vl_onnx_run on (it re-plans). bf16:
 * activations and weights in bfloat16 between oneDNN steps, bias and
 * accumulation in float32; the input is converted once and the tapped output
 * comes back as float32. It needs a CPU with AVX512-BF16 or AMX (checked at
 * run time through oneDNN's effective ISA, which the environment variable
 * ONEDNN_MAX_CPU_ISA can lower): without one, or in a build without oneDNN,
 * m stays in fp32, the call succeeds and vl_onnx_precision_note says why.
 * int8: convolutions with int8 weights (one scale per output channel) and
 * int8 activations (u8 where calibration saw no negative value, else s8;
 * one static scale per tensor), int32 accumulation; the tapped output and
 * whatever vidlstm's own kernels read come back as float32. The activation
 * scales come from one fp32 pass over calibration images made when the
 * first int8 run plans (see vl_onnx_calibrate), so results do not depend on
 * the batch size or on the other images in a batch. It needs AVX512-VNNI,
 * AVX-VNNI or AMX-INT8 (oneDNN's effective ISA), else the same fallback to
 * fp32 with a note. docs/precision.md. */
vl_status vl_onnx_set_precision(vl_onnx *m, vl_precision p);
/* The images int8 calibration runs on (copied; NCHW as vl_onnx_run takes, any
 * batch). Without this call, 8 built-in deterministic photograph-like
 * synthetic images at the run's input size, normalised with ImageNet's mean
 * and std. Resets the scales: the next int8 run calibrates again. */
vl_status vl_onnx_calibrate(vl_onnx *m, const float *images, int ndim, const int64_t *shape);
vl_precision vl_onnx_precision(const vl_onnx *m); /* the precision m runs in */
/* Why the last vl_onnx_set_precision fell back to fp32 (one sentence naming
 * the file), or NULL. */
const char *vl_onnx_precision_note(const vl_onnx *m);

/* ---- trained models ------------------------------------------------------------------ */

/* A model file written by `vidlstm train` (or PyTorch weights saved in the
 * same format, docs/model-format.md), ready to label new data: the network,
 * its class names, the feature normalisation and, when recorded, the backbone
 * and sampling its features came from. */
typedef struct vl_model vl_model;

vl_status vl_model_open(const char *path, vl_model **out);
void vl_model_close(vl_model *m);
vl_net *vl_model_net(vl_model *m); /* owned by the model */
int vl_model_num_classes(const vl_model *m); /* 0 for regression */
const char *vl_model_class_name(const vl_model *m, int c);
int vl_model_feature_dim(const vl_model *m);

/* One feature sequence x [T, D] (raw features: the stored normalisation is
 * applied here). out: class probabilities [C] (many-to-one) or [T, C]
 * (many-to-many); for regression the values, [outputs] or [T, outputs]. */
vl_status vl_model_predict(vl_model *m, const float *x, int T, float *out);

/* A video file: features are extracted with the backbone, layer and sampling
 * recorded in the model, then as vl_model_predict. *out (malloc'ed; free())
 * holds [C] or [T, C]; *T receives the number of sampled frames and, when
 * `times` is not NULL, *times (malloc'ed) their times in seconds. A backbone
 * recorded by name (`resnet18`) is taken from the backbone cache, and
 * downloaded there first when missing (docs/backbones.md); an ONNX file whose
 * SHA-256 differs from the one the model records is refused (VL_ERR_FORMAT,
 * the message names both hashes). */
vl_status vl_model_predict_video(vl_model *m, const char *path, float **out, int *T, double **times);

/* ---- prediction ---------------------------------------------------------------------- */

/* Options of the vl_model_predict_* calls and vl_model_stream; zeros are the
 * defaults. */
typedef struct {
    int batch;          /* sequences per forward pass (<= 0: 64) */
    int smooth;         /* per-frame classifiers: each frame's probabilities averaged over a
                         * centred window of `smooth` frames before the argmax (<= 1: off) */
    int min_segment;    /* per-frame classifiers: segments shorter than this many frames are
                         * absorbed by a neighbour (<= 1: none) */
    double window;      /* windows: length in units of `rate` (seconds for videos, with rate =
                         * vl_model_fps); streams: seconds (<= 0: 2 s, or 20 steps for a model
                         * that records no fps) */
    double stride;      /* step between window starts (<= 0: window / 2; streams of
                         * per-frame models: the window) */
} vl_predict_opts;

/* A run of one label. start/end: steps [start, end) of the input;
 * start_s/end_s: start / fps and end / fps for whole sequences and windows
 * (0 when the model records no fps), the times of the run's first and last
 * frame for streams. */
typedef struct {
    int64_t start, end;
    double start_s, end_s;
    int label;
    double confidence; /* mean probability of `label` over the run's steps */
} vl_pred_segment;

/* One result. `rows` rows of C outputs:
 *   whole sequence, clip model (many-to-one): 1 row;
 *   whole sequence, per-frame model (many-to-many): T rows;
 *   windows: one row per window, steps [start[r], end[r]) of the input;
 *   stream: the window's rows as for a whole sequence of its steps.
 * out holds class probabilities (softmax; smoothed when asked) or, for
 * regression, the values. label/confidence: the argmax of each row and its
 * probability (classify; NULL for regression). seg: the rows merged into runs
 * of one label (per-frame classifiers and windows of clip classifiers; NULL
 * otherwise). Every pointer is owned by the result: vl_prediction_free
 * (results passed to a stream callback belong to the stream and are valid
 * during the call only). */
typedef struct {
    int T;                /* steps of the input (the window's, for streams) */
    int C;                /* outputs per row: classes or regression targets */
    int rows;
    float *out;           /* [rows, C] */
    int32_t *label;       /* [rows] */
    float *confidence;    /* [rows] */
    int64_t *start, *end; /* [rows], windows only */
    float *mean;          /* [C]: per-frame regression, the mean over the T steps */
    vl_pred_segment *seg;
    int nseg;
    double start_s, end_s; /* streams: times of the window's first and last frame */
    double latency_ms;     /* streams: from the newest frame's decoding to this result */
} vl_prediction;

void vl_prediction_free(vl_prediction *p); /* frees what p holds; zeroes it */

/* The sampling rate the model's features were extracted at (0: every k-th
 * frame, or a model trained on feature files): the `rate` for windows in
 * seconds. */
double vl_model_fps(const vl_model *m);

/* Whole sequences: x[i] [T[i], D] raw features (the stored normalisation is
 * applied to a copy), n of them run in batches of o->batch; res[0..n) receive
 * one result each (clip models one row, per-frame models T[i] rows with
 * segments). o may be NULL. A non-finite output is VL_ERR_NUMERIC. */
vl_status vl_model_predict_clips(vl_model *m, int n, const float *const *x, const int *T, const vl_predict_opts *o,
                                 vl_prediction *res);

/* Sliding windows over one long sequence x [T, D] (clip models): windows of
 * L = round(o->window * rate) steps starting every S = round(o->stride *
 * rate) (default L / 2), the last one flush with the end (one window of all
 * T steps when T <= L). Each window is predicted as its own clip, exactly as
 * vl_model_predict_clips would on that slice. res: one row per window with
 * its span, and segments over the windows (seconds from the model's fps). */
vl_status vl_model_predict_windows(vl_model *m, const float *x, int T, double rate, const vl_predict_opts *o,
                                   vl_prediction *res);

/* Live prediction: reads `src` (a video file, "-" for standard input,
 * pipe:N, a FIFO or a URL) with the model's backbone as frames arrive and,
 * every stride, predicts the last `window` (vl_predict_opts) and calls
 * fn(user, result): clip models one row, per-frame models a row per step of
 * the window with its segments. A window that is not full at the end is
 * reported too when no window was or steps arrived since the last one (a
 * per-frame model's segments then cover only those steps). Memory stays bounded by the window. fn
 * returns nonzero to stop (vl_model_stream then returns VL_OK). */
typedef int (*vl_stream_fn)(void *user, const vl_prediction *window);
vl_status vl_model_stream(vl_model *m, const char *src, const vl_predict_opts *o, vl_stream_fn fn, void *user);

/* ---- export for deployment ------------------------------------------------------------ */

typedef struct {
    int members;      /* ensemble members averaged in the graph (1 = a single network) */
    int nodes, initializers;
    int64_t weights;  /* scalars in the initializers */
    int64_t bytes;    /* size of the written file */
    char output[32];  /* the graph output's name: "probabilities" or "values" */
} vl_export_info;

/* Writes a model file (vidlstm train's output) as a standard ONNX graph (opset 14)
 * for ONNX Runtime, OpenVINO, TensorRT (docs/deploy.md). Inputs: "features"
 * [batch, time, D] float32, raw features (the model's normalisation is in the
 * graph) with padded steps past each length, and "sequence_lens" [batch] int32,
 * 1..time. Output "probabilities" (classify: softmax, the ensemble's average) or
 * "values" (regress): [batch, C] for clip models (mode last), [batch, time, C]
 * with zeros at padded steps for per-frame models. Recurrent layers are ONNX's
 * LSTM and GRU operators. Written atomically (temp file, fsync, rename); the
 * model file itself is never overwritten. info may be NULL. */
vl_status vl_model_export_onnx(const char *model_path, const char *out_path, vl_export_info *info);

#ifdef __cplusplus
}
#endif
#endif
