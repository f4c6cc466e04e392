/* ONNX loading, planning and execution (see onnx.h). */
#include "backbone/onnx.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/blas.h"
#include "core/error.h"
#include "core/mem.h"
#include "onnx.pb-c.h"

#ifdef VL_BLAS_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

#define MAXD VL_ONNX_MAXDIM

/* ---- operators ------------------------------------------------------------------- */

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

static const char *const op_names[OP_COUNT] = {
    "Conv", "BatchNormalization", "Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Mul", "Add", "Sub", "Div",
    "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Gemm", "MatMul", "Reshape", "Concat", "LRN", "Dropout",
    "Softmax", "Transpose", "Pad", "Squeeze", "Unsqueeze", "Identity", "Constant", "Resize",
    "ReduceMean",
    "Shape", "Gather", "Cast", "Slice", "ConstantOfShape",
    "LSTM", "GRU", "Sum", "ReduceSum", "Range", "Less",
};

typedef enum { ACT_NONE, ACT_RELU, ACT_CLIP } act_kind;

/* Convolutions with fewer output pixels than this run as one GEMM over the
 * batch (see run_conv). */
#define BATCHED_CONV_MAX_P 1024

typedef struct {
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

typedef struct {
    op_kind op;
    Onnx__NodeProto *proto;
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

#ifdef VL_BLAS_DNNL
/* A Conv's weights in a primitive's layout; kept across plans (a new input
 * shape usually wants the same layout). */
typedef struct dn_weights_s {
    dnnl_memory_desc_t md;
    float *buf;
} dn_weights;

#endif

struct vl_onnx {
    char path[4096];
    Onnx__ModelProto *proto;
    uint8_t *file;
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
#ifdef VL_BLAS_DNNL
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    struct dn_tensor_s *dt; /* per tensor, this plan */
    struct dn_node_s *dn;   /* per node, this plan */
    void *dn_scratch;       /* the primitives' shared scratchpad */
    struct dn_weights_s *wcache; /* per Conv node: [2j] its weights, [2j+1] a fused depthwise one's */
#endif
    vl_precision prec;   /* what the oneDNN convolutions run in (vl_onnx_set_precision) */
    char prec_note[320]; /* why a requested precision fell back to fp32, or "" */
};

/* ---- small helpers ------------------------------------------------------------------ */

/* proto2 strings are optional: absent ones read as NULL. */
static inline const char *str(const char *s) { return s ? s : ""; }

/* Product of dims a..b-1, saturating at 2^62 so corrupt shapes cannot overflow
 * (callers reject anything that large). */
static int64_t prod(const int64_t *s, int a, int b)
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

static Onnx__AttributeProto *attr(const node *n, const char *name)
{
    for (size_t i = 0; i < n->proto->n_attribute; i++)
        if (!strcmp(str(n->proto->attribute[i]->name), name))
            return n->proto->attribute[i];
    return NULL;
}

static int64_t attr_int(const node *n, const char *name, int64_t def)
{
    Onnx__AttributeProto *a = attr(n, name);
    return a ? a->i : def;
}

static float attr_float(const node *n, const char *name, float def)
{
    Onnx__AttributeProto *a = attr(n, name);
    return a ? a->f : def;
}

static int attr_ints(const node *n, const char *name, int64_t *v, int maxn)
{
    Onnx__AttributeProto *a = attr(n, name);
    if (!a)
        return -1;
    int k = (int)a->n_ints < maxn ? (int)a->n_ints : maxn;
    for (int i = 0; i < k; i++)
        v[i] = a->ints[i];
    return (int)a->n_ints;
}

static const char *attr_str(const node *n, const char *name, char *buf, size_t len)
{
    Onnx__AttributeProto *a = attr(n, name);
    if (!a || !a->s.data)
        return NULL;
    size_t k = a->s.len < len - 1 ? a->s.len : len - 1;
    memcpy(buf, a->s.data, k);
    buf[k] = 0;
    return buf;
}

static int find_tensor(const vl_onnx *m, const char *name)
{
    for (int i = 0; i < m->nt; i++)
        if (!strcmp(m->T[i].name, name))
            return i;
    return -1;
}

/* A tensor that is not yet in the graph, named `name` or, when a tensor of
 * that name exists (a crafted file can name anything "x/bn_folded_w"),
 * `name#N`. Tensors made by rewriting the graph must never alias one the file
 * declared: the rewrite would overwrite its data pointer and leak it. */
static int new_tensor(vl_onnx *m, const char *name)
{
    char buf[600];
    const char *nm = name;
    for (int k = 1; find_tensor(m, nm) >= 0; k++) {
        snprintf(buf, sizeof buf, "%.500s#%d", name, k);
        nm = buf;
    }
    if (m->nt == m->capt) {
        int cap = m->capt ? 2 * m->capt : 256;
        tensor *t = realloc(m->T, sizeof(tensor) * (size_t)cap);
        if (!t)
            return -1;
        m->T = t;
        m->capt = cap;
    }
    tensor *t = &m->T[m->nt];
    memset(t, 0, sizeof *t);
    t->name = strdup(nm);
    t->producer = -1;
    t->buf = -1;
    return t->name ? m->nt++ : -1;
}

/* The tensor called `name`, added when the graph has none. */
static int add_tensor(vl_onnx *m, const char *name)
{
    int i = find_tensor(m, name);
    return i >= 0 ? i : new_tensor(m, name);
}

static void set_shape(tensor *t, int ndim, const int64_t *s)
{
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = s[i];
    t->count = prod(s, 0, ndim);
}

/* ---- loading --------------------------------------------------------------------------- */

static vl_status read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return vl_seterr(VL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    /* fopen succeeds on a directory and ftell then reports LONG_MAX: check
     * the type before trusting the size. */
    struct stat sb = {0};
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int isdir = S_ISDIR(sb.st_mode);
        fclose(f);
        return vl_seterr(VL_ERR_IO, isdir ? "%s is a directory, not an ONNX file" : "%s is not a regular file", path);
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return vl_seterr(VL_ERR_IO, "%s: cannot read", path);
    }
    long n = ftell(f);
    rewind(f);
    if (n <= 0) {
        fclose(f);
        return vl_seterr(VL_ERR_FORMAT, "%s: empty file", path);
    }
    *data = malloc((size_t)n);
    if (!*data) {
        fclose(f);
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory (%ld bytes)", path, n);
    }
    if (fread(*data, 1, (size_t)n, f) != (size_t)n) {
        free(*data);
        fclose(f);
        return vl_seterr(VL_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    *len = (size_t)n;
    return VL_OK;
}

/* Loads a TensorProto's values (float32/float64/int64/int32, inline, raw or
 * external) into t. */
static vl_status load_tensor(vl_onnx *m, const Onnx__TensorProto *tp, tensor *t)
{
    int64_t dims[MAXD];
    if (tp->n_dims > MAXD)
        return vl_seterr(VL_ERR_UNSUPPORTED, "%s: tensor '%s' has %zu dimensions (max %d)", m->path, str(tp->name),
                         tp->n_dims, MAXD);
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0)
            return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s' has a negative dimension", m->path, str(tp->name));
        dims[i] = tp->dims[i];
    }
    set_shape(t, (int)tp->n_dims, dims);
    if (t->count > ((int64_t)1 << 31))
        return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s' claims %lld values", m->path, str(tp->name), (long long)t->count);
    int dt = tp->data_type;
    int esize = dt == 1 ? 4 : dt == 11 ? 8 : dt == 7 ? 8 : dt == 6 ? 4 : 0;
    if (!esize)
        return vl_seterr(VL_ERR_UNSUPPORTED, "%s: tensor '%s' has data type %d (supported: float, double, int32, int64)",
                         m->path, str(tp->name), dt);
    t->is_int = dt == 7 || dt == 6;
    t->is_const = 1;
    size_t nbytes = (size_t)t->count * (size_t)esize;
    const uint8_t *raw = NULL;
    uint8_t *ext = NULL;
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        const char *loc = NULL;
        long long off = 0, len = -1;
        for (size_t i = 0; i < tp->n_external_data; i++) {
            const char *k = str(tp->external_data[i]->key), *v = str(tp->external_data[i]->value);
            if (!strcmp(k, "location")) loc = v;
            else if (!strcmp(k, "offset")) off = atoll(v);
            else if (!strcmp(k, "length")) len = atoll(v);
        }
        if (!loc || !loc[0] || loc[0] == '/' || strstr(loc, ".."))
            return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s': external data location must be a relative path inside "
                             "the model's folder", m->path, str(tp->name));
        char full[8192];
        const char *slash = strrchr(m->path, '/');
        if (slash)
            snprintf(full, sizeof full, "%.*s/%s", (int)(slash - m->path), m->path, loc);
        else
            snprintf(full, sizeof full, "%s", loc);
        if (len >= 0 && (size_t)len != nbytes)
            return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s': external length %lld, expected %zu", m->path, str(tp->name), len,
                             nbytes);
        FILE *f = fopen(full, "rb");
        if (!f)
            return vl_seterr(VL_ERR_IO, "%s: tensor '%s': cannot open external data %s: %s", m->path, str(tp->name), full,
                             strerror(errno));
        ext = malloc(nbytes ? nbytes : 1);
        int ok = ext && fseek(f, (long)off, SEEK_SET) == 0 && fread(ext, 1, nbytes, f) == nbytes;
        fclose(f);
        if (!ok) {
            free(ext);
            return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s': external data %s is truncated", m->path, str(tp->name), full);
        }
        raw = ext;
    } else if (tp->has_raw_data) {
        if (tp->raw_data.len != nbytes)
            return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s' has %zu bytes of data, expected %zu", m->path, str(tp->name),
                             tp->raw_data.len, nbytes);
        raw = tp->raw_data.data;
    }
    size_t n = (size_t)t->count;
    if (t->is_int) {
        t->ival = malloc(sizeof(int64_t) * (n ? n : 1));
        if (!t->ival) {
            free(ext);
            return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
        }
        for (size_t i = 0; i < n; i++) {
            if (raw) {
                if (dt == 7) memcpy(&t->ival[i], raw + 8 * i, 8);
                else { int32_t v; memcpy(&v, raw + 4 * i, 4); t->ival[i] = v; }
            } else if (dt == 7 && i < tp->n_int64_data) t->ival[i] = tp->int64_data[i];
            else if (dt == 6 && i < tp->n_int32_data) t->ival[i] = tp->int32_data[i];
            else {
                free(ext);
                return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s' has too few values", m->path, str(tp->name));
            }
        }
    } else {
        t->data = vl_alloc(sizeof(float) * (n ? n : 1));
        if (!t->data) {
            free(ext);
            return vl_seterr(VL_ERR_NOMEM, "%s: out of memory for tensor '%s'", m->path, str(tp->name));
        }
        for (size_t i = 0; i < n; i++) {
            float v;
            if (raw) {
                if (dt == 1) memcpy(&v, raw + 4 * i, 4);
                else { double d; memcpy(&d, raw + 8 * i, 8); v = (float)d; }
            } else if (dt == 1 && i < tp->n_float_data) v = tp->float_data[i];
            else if (dt == 11 && i < tp->n_double_data) v = (float)tp->double_data[i];
            else {
                free(ext);
                return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s' has too few values", m->path, str(tp->name));
            }
            if (!isfinite(v)) {
                free(ext);
                return vl_seterr(VL_ERR_NUMERIC, "%s: weights '%s' contain %s at element %zu", m->path, str(tp->name),
                                 isnan(v) ? "NaN" : "Inf", i);
            }
            t->data[i] = v;
        }
    }
    free(ext);
    return VL_OK;
}

static int op_of(const char *type)
{
    if (!type)
        return -1;
    for (int k = 0; k < OP_COUNT; k++)
        if (!strcmp(op_names[k], type))
            return k;
    return -1;
}

/* Only readers of tensor i, excluding removed nodes. */
static int consumers(const vl_onnx *m, int ti, int *first)
{
    int c = 0;
    for (int j = 0; j < m->nn; j++) {
        if (m->N[j].removed)
            continue;
        for (int k = 0; k < m->N[j].nin; k++)
            if (m->N[j].in[k] == ti) {
                if (!c && first)
                    *first = j;
                c++;
            }
    }
    if (ti == m->output)
        c++; /* graph outputs count as readers */
    return c;
}

/* Conv -> BatchNormalization: scale the conv's weights and bias per output
 * channel. Then Conv -> Relu/Clip: fuse the activation into the conv. */
static vl_status fold_graph(vl_onnx *m)
{
    for (int i = 0; i < m->nn; i++) {
        node *c = &m->N[i];
        if (c->removed || c->op != OP_CONV || !m->T[c->in[1]].is_const)
            continue;
        int j = -1;
        if (consumers(m, c->out[0], &j) != 1 || j < 0 || m->N[j].op != OP_BN)
            continue;
        node *b = &m->N[j];
        int ok = !attr_int(b, "training_mode", 0); /* batch statistics: planning refuses it */
        for (int k = 1; k < 5; k++)
            ok = ok && b->in[k] >= 0 && m->T[b->in[k]].is_const && !m->T[b->in[k]].is_int;
        if (!ok)
            continue;
        tensor *W = &m->T[c->in[1]];
        int64_t Co = W->ndim == 4 ? W->shape[0] : 0;
        int sizes_ok = !W->is_int && W->data && Co > 0 &&
                       (c->nin <= 2 || c->in[2] < 0 || (!m->T[c->in[2]].is_int && m->T[c->in[2]].count == Co));
        for (int k = 1; k < 5 && sizes_ok; k++)
            sizes_ok = m->T[b->in[k]].count == Co;
        if (!sizes_ok)
            continue; /* leave it to planning, which reports the mismatch */
        int64_t per = W->count / Co;
        const float *g = m->T[b->in[1]].data, *be = m->T[b->in[2]].data, *mu = m->T[b->in[3]].data,
                    *var = m->T[b->in[4]].data;
        float eps = attr_float(b, "epsilon", 1e-5f);
        float *bias = vl_calloc(sizeof(float) * (size_t)Co);
        if (!bias)
            return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
        if (c->nin > 2 && c->in[2] >= 0)
            memcpy(bias, m->T[c->in[2]].data, sizeof(float) * (size_t)Co);
        /* The conv's weights may be shared with another node: fold into a copy. */
        float *w = vl_alloc(sizeof(float) * (size_t)W->count);
        if (!w) {
            vl_free(bias);
            return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
        }
        for (int64_t o = 0; o < Co; o++) {
            float s = g[o] / sqrtf(var[o] + eps);
            for (int64_t k = 0; k < per; k++)
                w[o * per + k] = W->data[o * per + k] * s;
            bias[o] = (bias[o] - mu[o]) * s + be[o];
        }
        char name[512];
        snprintf(name, sizeof name, "%s/bn_folded_w", b->proto->name ? b->proto->name : "");
        int wi = new_tensor(m, name);
        snprintf(name, sizeof name, "%s/bn_folded_b", b->proto->name ? b->proto->name : "");
        int bi = new_tensor(m, name);
        if (wi < 0 || bi < 0) {
            vl_free(w);
            vl_free(bias);
            return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
        }
        W = &m->T[c->in[1]]; /* add_tensor may have moved the array */
        set_shape(&m->T[wi], W->ndim, W->shape);
        m->T[wi].data = w;
        m->T[wi].is_const = 1;
        int64_t bs[1] = {Co};
        set_shape(&m->T[bi], 1, bs);
        m->T[bi].data = bias;
        m->T[bi].is_const = 1;
        c->in[1] = wi;
        c->in[2] = bi;
        c->nin = 3;
        m->T[c->out[0]].producer = -1; /* the pre-BN value no longer exists */
        c->out[0] = b->out[0];
        m->T[c->out[0]].producer = i;
        b->removed = 1;
    }
    for (int i = 0; i < m->nn; i++) {
        node *c = &m->N[i];
        if (c->removed || (c->op != OP_CONV && c->op != OP_GEMM) || c->act != ACT_NONE)
            continue;
        int j = -1;
        if (consumers(m, c->out[0], &j) != 1 || j < 0)
            continue;
        node *a = &m->N[j];
        if (a->op == OP_RELU) {
            c->act = ACT_RELU;
        } else if (a->op == OP_CLIP) {
            float lo = -FLT_MAX, hi = FLT_MAX;
            if (m->opset < 11 || a->nin == 1) {
                lo = attr_float(a, "min", -FLT_MAX);
                hi = attr_float(a, "max", FLT_MAX);
            }
            if (a->nin > 1 && a->in[1] >= 0) {
                if (!m->T[a->in[1]].is_const || m->T[a->in[1]].is_int) continue;
                lo = m->T[a->in[1]].data[0];
            }
            if (a->nin > 2 && a->in[2] >= 0) {
                if (!m->T[a->in[2]].is_const || m->T[a->in[2]].is_int) continue;
                hi = m->T[a->in[2]].data[0];
            }
            c->act = ACT_CLIP;
            c->act_min = lo;
            c->act_max = hi;
        } else {
            continue;
        }
        m->T[c->out[0]].producer = -1; /* the pre-activation value no longer exists */
        c->out[0] = a->out[0];
        m->T[c->out[0]].producer = i;
        a->removed = 1;
    }
    return VL_OK;
}

static void free_plan(vl_onnx *m);
static void free_spares(vl_onnx *m);

void vl_onnx_free(vl_onnx *m)
{
    if (!m)
        return;
    free_plan(m);
    free_spares(m);
    for (int i = 0; i < m->nt; i++) {
        free(m->T[i].name);
        if (m->T[i].is_const)
            vl_free(m->T[i].data);
        free(m->T[i].ival);
    }
#ifdef VL_BLAS_DNNL
    for (int j = 0; m->wcache && j < 2 * m->nn; j++)
        vl_free(m->wcache[j].buf);
    free(m->wcache);
    if (m->strm) dnnl_stream_destroy(m->strm);
    if (m->eng) dnnl_engine_destroy(m->eng);
#endif
    free(m->T);
    for (int j = 0; m->N && j < m->nn_alloc; j++)
        free(m->N[j].in);
    free(m->N);
    if (m->proto)
        onnx__model_proto__free_unpacked(m->proto, NULL);
    free(m->file);
    free(m);
}

static vl_status load_bytes(vl_onnx *m, size_t len, vl_onnx **out);

/* Frees m after the caller has formatted its message (which may quote
 * strings that live inside m). */
static vl_status fail_free(vl_onnx *m, vl_status st)
{
    vl_onnx_free(m);
    return st;
}

vl_status vl_onnx_load(const char *path, vl_onnx **out)
{
    *out = NULL;
    vl_onnx *m = calloc(1, sizeof *m);
    if (!m)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    snprintf(m->path, sizeof m->path, "%s", path);
    size_t len = 0;
    vl_status st = read_file(path, &m->file, &len);
    if (st) {
        free(m);
        return st;
    }
    return load_bytes(m, len, out);
}

vl_status vl_onnx_load_memory(const void *data, size_t len, const char *name, vl_onnx **out)
{
    *out = NULL;
    if (!data || len == 0)
        return vl_seterr(VL_ERR_FORMAT, "%s: empty model", name ? name : "(memory)");
    vl_onnx *m = calloc(1, sizeof *m);
    if (!m || !(m->file = malloc(len))) {
        free(m);
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    }
    memcpy(m->file, data, len);
    snprintf(m->path, sizeof m->path, "%s", name ? name : "(memory)");
    return load_bytes(m, len, out);
}

/* Parses m->file (len bytes) and builds the graph; frees m on failure. */
static vl_status load_bytes(vl_onnx *m, size_t len, vl_onnx **out)
{
    char path[sizeof m->path]; /* error messages outlive m on the failure paths */
    snprintf(path, sizeof path, "%s", m->path);
    vl_status st;
    m->proto = onnx__model_proto__unpack(NULL, len, m->file);
    if (!m->proto || !m->proto->graph || m->proto->graph->n_node == 0) {
        return fail_free(m, vl_seterr(VL_ERR_FORMAT, "%s: not an ONNX model (malformed or truncated protobuf, or no graph)", path));
    }
    m->opset = 13;
    for (size_t i = 0; i < m->proto->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->proto->opset_import[i];
        if (!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx"))
            m->opset = o->version;
    }
    Onnx__GraphProto *g = m->proto->graph;

    /* Every operator must be known: collect all unknown ones for one message. */
    char unknown[1024] = "";
    int nunknown = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const char *type = g->node[i]->op_type && g->node[i]->op_type[0] ? g->node[i]->op_type : "(no type)";
        const char *dom = g->node[i]->domain;
        if (op_of(type) >= 0 && (!dom || !dom[0] || !strcmp(dom, "ai.onnx")))
            continue;
        char one[160];
        snprintf(one, sizeof one, "%s%s%s", dom && dom[0] ? dom : "", dom && dom[0] ? "." : "", type);
        if (!strstr(unknown, one)) {
            size_t u = strlen(unknown);
            snprintf(unknown + u, sizeof unknown - u, "%s%s", nunknown ? ", " : "", one);
            nunknown++;
        }
    }
    if (nunknown) {
        return fail_free(m, vl_seterr(VL_ERR_UNSUPPORTED, "%s: unsupported operator%s: %s", path, nunknown > 1 ? "s" : "", unknown));
    }

    for (size_t i = 0; i < g->n_initializer; i++) {
        const char *iname = g->initializer[i]->name ? g->initializer[i]->name : "";
        if (find_tensor(m, iname) >= 0)
            return fail_free(m, vl_seterr(VL_ERR_FORMAT, "%s: initializer '%s' is defined twice", path, iname));
        int ti = add_tensor(m, iname);
        if (ti < 0 || (st = load_tensor(m, g->initializer[i], &m->T[ti]))) {
            if (ti < 0)
                st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
            vl_onnx_free(m);
            return st;
        }
    }
    m->input = m->lens = -1;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        int ti = add_tensor(m, str(vi->name));
        if (ti < 0) {
            return fail_free(m, vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path));
        }
        if (m->T[ti].is_const)
            continue; /* initializers may be listed as inputs (older exporters) */
        if (m->input >= 0) {
            const Onnx__TypeProto *tp = vi->type;
            if (m->lens < 0 && tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
                tp->tensor_type->elem_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 && tp->tensor_type->shape &&
                tp->tensor_type->shape->n_dim == 1)
                m->lens = ti;
            continue;
        }
        m->input = ti;
        tensor *t = &m->T[ti];
        if (vi->type && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && vi->type->tensor_type->shape) {
            const Onnx__TensorShapeProto *sp = vi->type->tensor_type->shape;
            t->ndim = (int)(sp->n_dim < MAXD ? sp->n_dim : MAXD);
            for (int d = 0; d < t->ndim; d++)
                t->shape[d] = sp->dim[d]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                                  ? sp->dim[d]->dim_value
                                  : -1;
        }
    }
    if (m->input < 0) {
        return fail_free(m, vl_seterr(VL_ERR_FORMAT, "%s: the graph has no (non-constant) input", path));
    }
    m->decl_nd = m->T[m->input].ndim;
    memcpy(m->decl_shape, m->T[m->input].shape, sizeof m->decl_shape);
    m->N = calloc(g->n_node, sizeof(node));
    if (!m->N) {
        return fail_free(m, vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path));
    }
    m->nn_alloc = (int)g->n_node;
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *np = g->node[i];
        node *n = &m->N[m->nn];
        n->proto = np;
        n->op = (op_kind)op_of(np->op_type);
        if (np->n_input > INT32_MAX / 2 || np->n_output > 4 || np->n_output < 1) {
            return fail_free(m, vl_seterr(VL_ERR_FORMAT, "%s: node '%s' (%s) has %zu inputs and %zu outputs", path,
                             np->name ? np->name : "", str(np->op_type), np->n_input, np->n_output));
        }
        n->nin = (int)np->n_input;
        n->in = malloc(sizeof(int) * (size_t)(n->nin > 3 ? n->nin : 3));
        if (!n->in)
            return fail_free(m, vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path));
        n->nout = (int)np->n_output;
        for (int k = 0; k < n->nin; k++) {
            if (!np->input[k][0]) {
                n->in[k] = -1; /* omitted optional input */
                continue;
            }
            n->in[k] = find_tensor(m, np->input[k]);
            if (n->in[k] < 0) {
                return fail_free(m, vl_seterr(VL_ERR_FORMAT, "%s: node '%s' (%s) reads '%s', which nothing produces", path,
                                 np->name ? np->name : "", str(np->op_type), np->input[k]));
            }
        }
        /* Required inputs must be present (an omitted optional input reads as -1). */
        static const int required[OP_COUNT] = {[OP_CONV] = 2, [OP_BN] = 5, [OP_MUL] = 2, [OP_ADD] = 2, [OP_SUB] = 2,
                                               [OP_DIV] = 2, [OP_GEMM] = 2, [OP_MATMUL] = 2, [OP_RESHAPE] = 2,
                                               [OP_GATHER] = 2, [OP_SLICE] = 3, [OP_CONSTANT] = 0,
                                               [OP_LSTM] = 3, [OP_GRU] = 3, [OP_RANGE] = 3, [OP_LESS] = 2};
        int req = n->op == OP_CONSTANT ? 0 : (required[n->op] ? required[n->op] : 1);
        for (int k = 0; k < req; k++)
            if (k >= n->nin || n->in[k] < 0)
                return fail_free(m, vl_seterr(VL_ERR_FORMAT, "%s: node '%s' (%s) lacks required input %d", path,
                                              str(np->name), str(np->op_type), k + 1));
        for (int k = 0; k < n->nout; k++) {
            int prev = find_tensor(m, np->output[k]);
            if (prev >= 0 && (m->T[prev].producer >= 0 || m->T[prev].is_const || prev == m->input))
                return fail_free(m, vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s' is defined twice (node '%s')", path,
                                              np->output[k], np->name ? np->name : ""));
            n->out[k] = add_tensor(m, np->output[k]);
            if (n->out[k] < 0) {
                return fail_free(m, vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path));
            }
            m->T[n->out[k]].producer = m->nn;
        }
        if (n->op == OP_CONSTANT) {
            Onnx__AttributeProto *a = attr(n, "value");
            tensor *t = &m->T[n->out[0]];
            if (a && a->t) {
                if ((st = load_tensor(m, a->t, t))) {
                    vl_onnx_free(m);
                    return st;
                }
            } else if ((a = attr(n, "value_float"))) {
                t->data = vl_alloc(sizeof(float));
                t->data[0] = a->f;
                t->is_const = 1;
                t->count = 1;
            } else if ((a = attr(n, "value_int")) || (a = attr(n, "value_ints"))) {
                int many = a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
                int64_t cnt = many ? (int64_t)a->n_ints : 1;
                t->ival = malloc(sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
                for (int64_t q = 0; q < cnt; q++)
                    t->ival[q] = many ? a->ints[q] : a->i;
                t->is_int = t->is_const = 1;
                t->ndim = many ? 1 : 0;
                t->shape[0] = cnt;
                t->count = cnt;
            } else {
                return fail_free(m, vl_seterr(VL_ERR_UNSUPPORTED, "%s: Constant node '%s' without a supported value", path,
                                 np->name ? np->name : ""));
            }
            n->removed = 1;
        }
        m->nn++;
    }
    m->output = g->n_output ? find_tensor(m, str(g->output[0]->name)) : -1;
    if (m->output < 0) {
        return fail_free(m, vl_seterr(VL_ERR_FORMAT, "%s: the graph output is not produced by any node", path));
    }
    if ((st = fold_graph(m))) {
        vl_onnx_free(m);
        return st;
    }
    *out = m;
    return VL_OK;
}

const char *vl_onnx_input_name(const vl_onnx *m, int *ndim, int64_t *shape)
{
    if (ndim)
        *ndim = m->decl_nd;
    if (shape)
        memcpy(shape, m->decl_shape, sizeof(int64_t) * (size_t)m->decl_nd);
    return m->T[m->input].name;
}

const char *vl_onnx_output_name(const vl_onnx *m) { return m->T[m->output].name; }

/* The input of the graph's final classifier, or -1 when it has none. Walks
 * back from the graph output through what may follow a classifier (reshapes,
 * softmax, dropout, constant scaling): a Gemm/MatMul with constant weights
 * reached that way is the classifier. A ReLU or pooling on the way means the
 * last layer computes features (a headless trunk, an embedding) unless it is a
 * fully convolutional classifier: a 1x1 Conv to 1000/1001 ImageNet classes
 * that is then pooled (SqueezeNet). Headless exports (PyTorch `fc = Identity`,
 * MATLAB's pool5 cut, Keras trunks) thus default to their output. */
static int classifier_input(const vl_onnx *m)
{
    int t = m->output, pooled = 0;
    for (int hops = 0; hops <= m->nn; hops++) {
        int p = m->T[t].producer;
        if (p < 0 || m->N[p].removed)
            return -1;
        const node *n = &m->N[p];
        const tensor *W = n->nin > 1 && n->in[1] >= 0 ? &m->T[n->in[1]] : NULL;
        switch (n->op) {
        case OP_GEMM:
        case OP_MATMUL:
            if (W && !W->is_const && W->producer >= 0 && m->N[W->producer].op == OP_TRANSPOSE)
                W = &m->T[m->N[W->producer].in[0]]; /* nn.Linear on 3-D input: Transpose(W) -> MatMul */
            return !pooled && n->act == ACT_NONE && W && W->is_const && !W->is_int ? n->in[0] : -1;
        case OP_CONV:
            return pooled && W && W->is_const && W->ndim == 4 && (W->shape[0] == 1000 || W->shape[0] == 1001) &&
                           W->shape[2] == 1 && W->shape[3] == 1
                       ? n->in[0]
                       : -1;
        case OP_RELU:
        case OP_CLIP:
        case OP_GAP:
        case OP_AVGPOOL:
        case OP_REDUCEMEAN:
            pooled = 1;
            t = n->in[0];
            break;
        case OP_FLATTEN:
        case OP_RESHAPE:
        case OP_SQUEEZE:
        case OP_UNSQUEEZE:
        case OP_IDENTITY:
        case OP_DROPOUT:
        case OP_SOFTMAX:
        case OP_SIGMOID:
            t = n->in[0];
            break;
        case OP_ADD:
        case OP_SUB:
        case OP_MUL:
        case OP_DIV: { /* a bias or a scale: the other operand constant */
            int a = n->in[0], b = n->in[1];
            if (m->T[b].is_const && !m->T[a].is_const)
                t = a;
            else if (m->T[a].is_const && !m->T[b].is_const && n->op != OP_DIV && n->op != OP_SUB)
                t = b;
            else
                return -1;
            break;
        }
        default:
            return -1;
        }
        if (t < 0)
            return -1;
    }
    return -1;
}

const char *vl_onnx_default_tap(const vl_onnx *m)
{
    /* A model can name its feature tensor (vidlstm import-tfjs writes this). */
    for (size_t i = 0; i < m->proto->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = m->proto->metadata_props[i];
        int t;
        if (e->key && e->value && !strcmp(e->key, "vidlstm.feature") && (t = find_tensor(m, e->value)) >= 0)
            return m->T[t].name;
    }
    int t = classifier_input(m);
    return m->T[t >= 0 ? t : m->output].name;
}


/* ---- kernels --------------------------------------------------------------------------- */

static inline float apply_act(float v, act_kind a, float lo, float hi)
{
    if (a == ACT_RELU)
        return v > 0.0f ? v : 0.0f;
    if (a == ACT_CLIP)
        return v < lo ? lo : (v > hi ? hi : v);
    return v;
}

typedef struct {
    int64_t kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, Ho, Wo;
} win2d;

/* Window geometry shared by Conv and the pools (2-D, NCHW). */
static vl_status window(const vl_onnx *m, const node *n, int64_t H, int64_t W, int64_t kh, int64_t kw, int ceil_ok,
                        win2d *w)
{
    int64_t v[8];
    w->kh = kh;
    w->kw = kw;
    w->sh = w->sw = w->dh = w->dw = 1;
    w->pt = w->pl = w->pb = w->pr = 0;
    if (attr_ints(n, "strides", v, 8) == 2) w->sh = v[0], w->sw = v[1];
    if (attr_ints(n, "dilations", v, 8) == 2) w->dh = v[0], w->dw = v[1];
    if (attr_ints(n, "pads", v, 8) == 4) w->pt = v[0], w->pl = v[1], w->pb = v[2], w->pr = v[3];
    char ap[32];
    const char *autopad = attr_str(n, "auto_pad", ap, sizeof ap);
    int64_t ekh = w->dh * (kh - 1) + 1, ekw = w->dw * (kw - 1) + 1;
    if (autopad && (!strcmp(autopad, "SAME_UPPER") || !strcmp(autopad, "SAME_LOWER"))) {
        int64_t oh = (H + w->sh - 1) / w->sh, ow = (W + w->sw - 1) / w->sw;
        int64_t th = (oh - 1) * w->sh + ekh - H, tw = (ow - 1) * w->sw + ekw - W;
        th = th > 0 ? th : 0;
        tw = tw > 0 ? tw : 0;
        int upper = !strcmp(autopad, "SAME_UPPER");
        w->pt = upper ? th / 2 : th - th / 2;
        w->pb = th - w->pt;
        w->pl = upper ? tw / 2 : tw - tw / 2;
        w->pr = tw - w->pl;
    } else if (autopad && !strcmp(autopad, "VALID")) {
        w->pt = w->pl = w->pb = w->pr = 0;
    }
    if (w->sh <= 0 || w->sw <= 0 || w->dh <= 0 || w->dw <= 0 || w->pt < 0 || w->pl < 0 || w->pb < 0 || w->pr < 0 ||
        kh <= 0 || kw <= 0 || w->sh > 4096 || w->sw > 4096 || w->dh > 4096 || w->dw > 4096 || w->pt > 4096 ||
        w->pl > 4096 || w->pb > 4096 || w->pr > 4096 || kh > 4096 || kw > 4096)
        return vl_seterr(VL_ERR_FORMAT, "%s: node '%s' (%s): invalid kernel, strides, dilations or pads", m->path,
                         str(n->proto->name), str(n->proto->op_type));
    int ceil_mode = ceil_ok && attr_int(n, "ceil_mode", 0);
    int64_t nh = H + w->pt + w->pb - ekh, nw = W + w->pl + w->pr - ekw;
    if (nh < 0 || nw < 0 || w->sh <= 0 || w->sw <= 0)
        return vl_seterr(VL_ERR_SHAPE, "%s: node '%s' (%s): window %lldx%lld does not fit input %lldx%lld", m->path,
                         n->proto->name ? n->proto->name : "", str(n->proto->op_type), (long long)ekh, (long long)ekw,
                         (long long)H, (long long)W);
    w->Ho = (ceil_mode ? (nh + w->sh - 1) / w->sh : nh / w->sh) + 1;
    w->Wo = (ceil_mode ? (nw + w->sw - 1) / w->sw : nw / w->sw) + 1;
    /* PyTorch's rule: the last window must start inside the input or left padding. */
    if (ceil_mode && (w->Ho - 1) * w->sh >= H + w->pt) w->Ho--;
    if (ceil_mode && (w->Wo - 1) * w->sw >= W + w->pl) w->Wo--;
    return VL_OK;
}

/* As im2col, with rows ld floats apart (ld >= Ho*Wo), so several images'
 * columns can sit side by side in one matrix. */
static void im2col_ld(const float *x, int64_t C, int64_t H, int64_t W, const win2d *w, float *col, int64_t ld)
{
#pragma omp parallel for schedule(static) if (C * w->kh * w->kw * w->Ho * w->Wo > 65536)
    for (int64_t r = 0; r < C * w->kh * w->kw; r++) {
        int64_t c = r / (w->kh * w->kw), ki = (r / w->kw) % w->kh, kj = r % w->kw;
        float *dst = col + r * ld;
        const float *src = x + c * H * W;
        for (int64_t i = 0; i < w->Ho; i++) {
            int64_t y = i * w->sh - w->pt + ki * w->dh;
            float *d = dst + i * w->Wo;
            if (y < 0 || y >= H) {
                memset(d, 0, sizeof(float) * (size_t)w->Wo);
                continue;
            }
            for (int64_t j = 0; j < w->Wo; j++) {
                int64_t xx = j * w->sw - w->pl + kj * w->dw;
                d[j] = (xx >= 0 && xx < W) ? src[y * W + xx] : 0.0f;
            }
        }
    }
}

static void im2col(const float *x, int64_t C, int64_t H, int64_t W, const win2d *w, float *col)
{
    im2col_ld(x, C, H, W, w, col, w->Ho * w->Wo);
}

static void run_conv(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Wt = &m->T[n->in[1]], *Y = &m->T[n->out[0]];
    const float *bias = n->nin > 2 && n->in[2] >= 0 ? m->T[n->in[2]].data : NULL;
    int64_t N = X->shape[0], C = X->shape[1], H = X->shape[2], W = X->shape[3];
    int64_t Co = Wt->shape[0], g = attr_int(n, "group", 1);
    win2d w;
    window(m, n, H, W, Wt->shape[2], Wt->shape[3], 0, &w);
    int64_t Cg = C / g, Cog = Co / g, K = Cg * w.kh * w.kw, P = w.Ho * w.Wo;
    if (Cg == 1 && g == C) { /* depthwise: direct, one output row at a time */
#pragma omp parallel for schedule(static)
        for (int64_t bo = 0; bo < N * Co; bo++) {
            int64_t b = bo / Co, o = bo % Co, c = o / Cog;
            const float *x = X->data + (b * C + c) * H * W, *k = Wt->data + o * w.kh * w.kw;
            float *y = Y->data + (b * Co + o) * P;
            float bv = bias ? bias[o] : 0.0f;
            for (int64_t i = 0; i < w.Ho; i++) {
                float *restrict yr = y + i * w.Wo;
                for (int64_t j = 0; j < w.Wo; j++)
                    yr[j] = bv;
                /* Taps in (ki, kj) order, as the straightforward loop sums them. Each
                 * tap adds a scaled input row over the outputs it reaches: a
                 * contiguous, vectorisable loop when the stride is 1. */
                for (int64_t ki = 0; ki < w.kh; ki++) {
                    int64_t yy = i * w.sh - w.pt + ki * w.dh;
                    if (yy < 0 || yy >= H)
                        continue;
                    const float *restrict xr = x + yy * W;
                    for (int64_t kj = 0; kj < w.kw; kj++) {
                        int64_t off = kj * w.dw - w.pl; /* input column of output j: j*sw + off */
                        int64_t j0 = off >= 0 ? 0 : (-off + w.sw - 1) / w.sw;
                        int64_t j1 = (W - 1 - off) < 0 ? 0 : (W - 1 - off) / w.sw + 1;
                        if (j1 > w.Wo) j1 = w.Wo;
                        float kv = k[ki * w.kw + kj];
                        if (w.sw == 1)
                            for (int64_t j = j0; j < j1; j++)
                                yr[j] += kv * xr[j + off];
                        else
                            for (int64_t j = j0; j < j1; j++)
                                yr[j] += kv * xr[j * w.sw + off];
                    }
                }
                if (n->act != ACT_NONE)
                    for (int64_t j = 0; j < w.Wo; j++)
                        yr[j] = apply_act(yr[j], n->act, n->act_min, n->act_max);
            }
        }
        return;
    }
    int direct = w.kh == 1 && w.kw == 1 && w.sh == 1 && w.sw == 1 && w.pt == 0 && w.pl == 0 && w.pb == 0 && w.pr == 0;
    if (g == 1 && N > 1 && P < BATCHED_CONV_MAX_P) {
        /* Small outputs: one GEMM over the whole batch, [Co, K] x [K, N*P],
         * then scatter to NCHW. Per-image GEMMs with few columns run far
         * below the BLAS's speed. */
        float *col = m->scratch, *tmp = m->scratch + (size_t)(K * N * P);
        for (int64_t b = 0; b < N; b++) {
            const float *x = X->data + b * C * H * W;
            if (direct)
                for (int64_t r = 0; r < K; r++)
                    memcpy(col + r * N * P + b * P, x + r * P, sizeof(float) * (size_t)P);
            else
                im2col_ld(x, C, H, W, &w, col + b * P, N * P);
        }
        vl_sgemm(false, false, (int)Co, (int)(N * P), (int)K, 1.0f, Wt->data, (int)K, col, (int)(N * P), 0.0f, tmp,
                 (int)(N * P));
#pragma omp parallel for schedule(static) if (Co * N * P > 65536)
        for (int64_t o = 0; o < Co; o++) {
            float bv = bias ? bias[o] : 0.0f;
            for (int64_t b = 0; b < N; b++) {
                const float *src = tmp + o * N * P + b * P;
                float *dst = Y->data + (b * Co + o) * P;
                for (int64_t q = 0; q < P; q++)
                    dst[q] = apply_act(src[q] + bv, n->act, n->act_min, n->act_max);
            }
        }
        return;
    }
    for (int64_t b = 0; b < N; b++)
        for (int64_t gi = 0; gi < g; gi++) {
            const float *x = X->data + (b * C + gi * Cg) * H * W;
            float *y = Y->data + (b * Co + gi * Cog) * P;
            const float *col = x;
            if (!direct) {
                im2col(x, Cg, H, W, &w, m->scratch);
                col = m->scratch;
            }
            vl_sgemm(false, false, (int)Cog, (int)P, (int)K, 1.0f, Wt->data + gi * Cog * K, (int)K, col, (int)P, 0.0f,
                     y, (int)P);
            if (bias || n->act != ACT_NONE) {
#pragma omp parallel for schedule(static) if (Cog * P > 65536)
                for (int64_t o = 0; o < Cog; o++) {
                    float bv = bias ? bias[gi * Cog + o] : 0.0f;
                    float *yo = y + o * P;
                    for (int64_t q = 0; q < P; q++)
                        yo[q] = apply_act(yo[q] + bv, n->act, n->act_min, n->act_max);
                }
            }
        }
}

static void run_pool(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t N = X->shape[0], C = X->shape[1], H = X->shape[2], W = X->shape[3];
    int64_t ks[2] = {1, 1};
    attr_ints(n, "kernel_shape", ks, 2);
    win2d w;
    window(m, n, H, W, ks[0], ks[1], 1, &w);
    int maxp = n->op == OP_MAXPOOL, incl = (int)attr_int(n, "count_include_pad", 0);
#pragma omp parallel for schedule(static)
    for (int64_t bc = 0; bc < N * C; bc++) {
        const float *x = X->data + bc * H * W;
        float *y = Y->data + bc * w.Ho * w.Wo;
        for (int64_t i = 0; i < w.Ho; i++)
            for (int64_t j = 0; j < w.Wo; j++) {
                float acc = maxp ? -INFINITY : 0.0f;
                int64_t cnt = 0;
                for (int64_t ki = 0; ki < w.kh; ki++) {
                    int64_t yy = i * w.sh - w.pt + ki * w.dh;
                    if (yy < 0 || yy >= H) continue;
                    for (int64_t kj = 0; kj < w.kw; kj++) {
                        int64_t xx = j * w.sw - w.pl + kj * w.dw;
                        if (xx < 0 || xx >= W) continue;
                        float v = x[yy * W + xx];
                        if (maxp) acc = v > acc ? v : acc;
                        else acc += v;
                        cnt++;
                    }
                }
                if (!maxp) {
                    if (incl) { /* padding counts, the ceil-mode overhang does not */
                        int64_t hs = i * w.sh - w.pt, ws = j * w.sw - w.pl;
                        int64_t he = hs + w.kh < H + w.pb ? hs + w.kh : H + w.pb;
                        int64_t we = ws + w.kw < W + w.pr ? ws + w.kw : W + w.pr;
                        cnt = (he - hs) * (we - ws);
                    }
                    acc = cnt ? acc / (float)cnt : 0.0f;
                }
                y[i * w.Wo + j] = acc;
            }
    }
}

/* out = a OP b with numpy broadcasting; shapes already right-aligned to nd dims. */
static void broadcast_binary(op_kind op, int nd, const int64_t *os, const float *a, const int64_t *as, const float *b,
                             const int64_t *bs, float *out)
{
    int64_t total = prod(os, 0, nd), na = prod(as, 0, nd), nb = prod(bs, 0, nd);
#define OPV(x, y) (op == OP_ADD ? (x) + (y) : op == OP_SUB ? (x) - (y) : op == OP_MUL ? (x) * (y) : (x) / (y))
    if (na == total && nb == total) {
#pragma omp parallel for simd schedule(static) if (total > 65536)
        for (int64_t i = 0; i < total; i++) out[i] = OPV(a[i], b[i]);
        return;
    }
    if (na == total && nb == 1) {
        float bv = b[0];
#pragma omp parallel for simd schedule(static) if (total > 65536)
        for (int64_t i = 0; i < total; i++) out[i] = OPV(a[i], bv);
        return;
    }
    int64_t ast[MAXD], bst[MAXD], sa = 1, sb = 1;
    for (int d = nd - 1; d >= 0; d--) {
        ast[d] = as[d] == 1 ? 0 : sa;
        bst[d] = bs[d] == 1 ? 0 : sb;
        sa *= as[d];
        sb *= bs[d];
    }
    /* Innermost run where both operands advance uniformly. */
    int64_t inner = os[nd - 1], outer = total / inner;
#pragma omp parallel for schedule(static) if (total > 65536)
    for (int64_t o = 0; o < outer; o++) {
        int64_t rem = o, ia = 0, ib = 0;
        for (int d = nd - 2; d >= 0; d--) {
            int64_t c = rem % os[d];
            rem /= os[d];
            ia += c * ast[d];
            ib += c * bst[d];
        }
        float *y = out + o * inner;
        for (int64_t j = 0; j < inner; j++)
            y[j] = OPV(a[ia + j * ast[nd - 1]], b[ib + j * bst[nd - 1]]);
    }
#undef OPV
}

static void run_transpose(const tensor *X, tensor *Y, const int64_t *perm)
{
    int nd = X->ndim;
    int64_t xst[MAXD], s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        xst[d] = s;
        s *= X->shape[d];
    }
    int64_t inner = Y->shape[nd - 1], outer = Y->count / (inner ? inner : 1), istr = xst[perm[nd - 1]];
#pragma omp parallel for schedule(static) if (Y->count > 65536)
    for (int64_t o = 0; o < outer; o++) {
        int64_t rem = o, ix = 0;
        for (int d = nd - 2; d >= 0; d--) {
            int64_t c = rem % Y->shape[d];
            rem /= Y->shape[d];
            ix += c * xst[perm[d]];
        }
        float *y = Y->data + o * inner;
        for (int64_t j = 0; j < inner; j++)
            y[j] = X->data[ix + j * istr];
    }
}

static int64_t norm_axis(int64_t a, int nd) { return a < 0 ? a + nd : a; }

/* Slice's start and step per dimension and the output shape s (starts,
 * ends, axes, steps are constant int inputs since opset 10); -1 if invalid. */
static int slice_params(const vl_onnx *m, const node *n, const tensor *X, int64_t *st0, int64_t *step, int64_t *s)
{
    if (n->nin < 3) return -1;
    const tensor *S = &m->T[n->in[1]], *E = &m->T[n->in[2]];
    const tensor *A = n->nin > 3 && n->in[3] >= 0 ? &m->T[n->in[3]] : NULL;
    const tensor *P = n->nin > 4 && n->in[4] >= 0 ? &m->T[n->in[4]] : NULL;
    if (!S->is_int || !S->is_const || !E->is_int || !E->is_const || E->count != S->count) return -1;
    if ((A && (!A->is_int || !A->is_const || A->count != S->count)) ||
        (P && (!P->is_int || !P->is_const || P->count != S->count)))
        return -1;
    for (int d = 0; d < X->ndim; d++) { st0[d] = 0; step[d] = 1; s[d] = X->shape[d]; }
    for (int64_t k = 0; k < S->count; k++) {
        int64_t d = A ? norm_axis(A->ival[k], X->ndim) : k;
        if (d < 0 || d >= X->ndim) return -1;
        int64_t L = X->shape[d], b = S->ival[k], e = E->ival[k], t = P ? P->ival[k] : 1;
        if (t == 0) return -1;
        b = b < 0 ? b + L : b;
        e = e < 0 ? e + L : e;
        if (t > 0) {
            b = b < 0 ? 0 : (b > L ? L : b);
            e = e < 0 ? 0 : (e > L ? L : e);
            s[d] = e > b ? (e - b + t - 1) / t : 0;
        } else {
            b = b < 0 ? -1 : (b > L - 1 ? L - 1 : b);
            e = e < -1 ? -1 : (e > L - 1 ? L - 1 : e);
            s[d] = b > e ? (b - e + (-t) - 1) / (-t) : 0;
        }
        st0[d] = b;
        step[d] = t;
    }
    return 0;
}

/* ReduceMean's reduced dimensions of an nd-dimensional input as a bit mask;
 * -1 when the axes are invalid. Axes are an attribute before opset 18 and an
 * optional constant input from 18 on; none means all, unless
 * noop_with_empty_axes (then the mask is 0: an identity). */
static int reduce_mask(const vl_onnx *m, const node *n, int nd)
{
    int64_t ax[MAXD];
    int na;
    if (n->nin > 1 && n->in[1] >= 0) {
        const tensor *A = &m->T[n->in[1]];
        if (!A->is_int || !A->is_const || A->count > MAXD) return -1;
        na = (int)A->count;
        for (int i = 0; i < na; i++) ax[i] = A->ival[i];
    } else if ((na = attr_ints(n, "axes", ax, MAXD)) > MAXD) {
        return -1;
    }
    if (na <= 0)
        return attr_int(n, "noop_with_empty_axes", 0) ? 0 : (1 << nd) - 1;
    int mask = 0;
    for (int i = 0; i < na; i++) {
        int64_t a = norm_axis(ax[i], nd);
        if (a < 0 || a >= nd || (mask >> a & 1)) return -1;
        mask |= 1 << a;
    }
    return mask;
}

/* Executes one node on the tensors' data pointers. Shapes are planned. */
/* ---- sequence models: LSTM, GRU, ReduceSum --------------------------------------------
 * Reference kernels for what vidlstm export writes: ONNX gate orders (LSTM
 * i,o,f,c; GRU z,r,h), layout 0, default activations, GRU with
 * linear_before_reset = 1, zero initial states. Steps past a sequence's length
 * are zeros in Y; Y_h/Y_c hold the state after its last valid step (for the
 * reverse direction: after t = 0). infer() rejects everything else. */

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

static void run_rnn(vl_onnx *m, const node *n)
{
    const int lstm = n->op == OP_LSTM, ng = lstm ? 4 : 3;
    const tensor *X = &m->T[n->in[0]], *W = &m->T[n->in[1]], *R = &m->T[n->in[2]];
    const tensor *Bt = n->nin > 3 && n->in[3] >= 0 ? &m->T[n->in[3]] : NULL;
    const tensor *L = n->nin > 4 && n->in[4] >= 0 ? &m->T[n->in[4]] : NULL;
    tensor *Y = &m->T[n->out[0]], *Yh = n->nout > 1 ? &m->T[n->out[1]] : NULL;
    tensor *Yc = lstm && n->nout > 2 ? &m->T[n->out[2]] : NULL;
    char db[32];
    const char *dir = attr_str(n, "direction", db, sizeof db);
    const int rev_only = dir && !strcmp(dir, "reverse");
    const int64_t T = X->shape[0], Bn = X->shape[1], I = X->shape[2], dirs = W->shape[0], H = R->shape[2], G = ng * H;
    float *g = m->scratch, *h = g + G, *c = h + H; /* sized in plan_shape */
    memset(Y->data, 0, sizeof(float) * (size_t)Y->count);
    for (int64_t d = 0; d < dirs; d++)
        for (int64_t b = 0; b < Bn; b++) {
            const int64_t len = L ? L->ival[b] : T;
            const float *w = W->data + d * G * I, *r = R->data + d * G * H;
            const float *wb = Bt ? Bt->data + d * 2 * G : NULL, *rb = wb ? wb + G : NULL;
            const int back = rev_only || d == 1;
            memset(h, 0, sizeof(float) * (size_t)H);
            memset(c, 0, sizeof(float) * (size_t)H);
            for (int64_t s = 0; s < len; s++) {
                const int64_t t = back ? len - 1 - s : s;
                const float *x = X->data + (t * Bn + b) * I;
                for (int64_t q = 0; q < G; q++) {
                    float a = wb ? wb[q] : 0.0f;
                    for (int64_t k = 0; k < I; k++) a += w[q * I + k] * x[k];
                    if (lstm || q < 2 * H) { /* GRU's h gate adds its recurrent part after the reset gate */
                        a += rb ? rb[q] : 0.0f;
                        for (int64_t k = 0; k < H; k++) a += r[q * H + k] * h[k];
                    }
                    g[q] = a;
                }
                if (lstm) {
                    for (int64_t j = 0; j < H; j++) {
                        float ig = sigm(g[j]), og = sigm(g[H + j]), fg = sigm(g[2 * H + j]), cc = tanhf(g[3 * H + j]);
                        c[j] = fg * c[j] + ig * cc;
                        h[j] = og * tanhf(c[j]);
                    }
                } else {
                    for (int64_t j = 0; j < H; j++) { /* r * (R_h h + Rb_h), from the old h */
                        float a = rb ? rb[2 * H + j] : 0.0f;
                        for (int64_t k = 0; k < H; k++) a += r[(2 * H + j) * H + k] * h[k];
                        c[j] = a;
                    }
                    for (int64_t j = 0; j < H; j++) {
                        float z = sigm(g[j]), rg = sigm(g[H + j]), hh = tanhf(g[2 * H + j] + rg * c[j]);
                        h[j] = (1.0f - z) * hh + z * h[j];
                    }
                }
                memcpy(Y->data + ((t * dirs + d) * Bn + b) * H, h, sizeof(float) * (size_t)H);
            }
            if (Yh) memcpy(Yh->data + (d * Bn + b) * H, h, sizeof(float) * (size_t)H);
            if (Yc) memcpy(Yc->data + (d * Bn + b) * H, c, sizeof(float) * (size_t)H);
        }
}

/* ReduceSum's reduced dimensions (red[d] = 1); -1 when the axes are invalid. */
static int reduce_dims(const vl_onnx *m, const node *n, int nd, int *red)
{
    int64_t ax[MAXD];
    int na = -1;
    if (n->nin > 1 && n->in[1] >= 0) {
        const tensor *A = &m->T[n->in[1]];
        if (!A->is_int || !A->is_const || A->count > MAXD) return -1;
        na = (int)A->count;
        for (int i = 0; i < na; i++) ax[i] = A->ival[i];
    } else if (m->opset < 13) {
        na = attr_ints(n, "axes", ax, MAXD);
    }
    for (int d = 0; d < nd; d++) red[d] = na <= 0; /* no axes: all of them */
    for (int i = 0; i < na; i++) {
        int64_t a = norm_axis(ax[i], nd);
        if (a < 0 || a >= nd) return -1;
        red[a] = 1;
    }
    return 0;
}

static void run_reducesum(vl_onnx *m, const node *n)
{
    const tensor *X = &m->T[n->in[0]];
    tensor *Y = &m->T[n->out[0]];
    int red[MAXD];
    reduce_dims(m, n, X->ndim, red);
    int64_t ost[MAXD], q = 1; /* output strides over the kept dimensions */
    for (int d = X->ndim - 1; d >= 0; d--) {
        ost[d] = red[d] ? 0 : q;
        q *= red[d] ? 1 : X->shape[d];
    }
    memset(Y->data, 0, sizeof(float) * (size_t)Y->count);
    for (int64_t i = 0; i < X->count; i++) {
        int64_t rem = i, o = 0;
        for (int d = X->ndim - 1; d >= 0; d--) {
            o += (rem % X->shape[d]) * ost[d];
            rem /= X->shape[d];
        }
        Y->data[o] += X->data[i];
    }
}

static void exec_node(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    switch (n->op) {
    case OP_CONV: run_conv(m, n); break;
    case OP_MAXPOOL:
    case OP_AVGPOOL: run_pool(m, n); break;
    case OP_SLICE: {
        int64_t st0[MAXD], step[MAXD], s[MAXD], xst[MAXD], q = 1;
        slice_params(m, n, X, st0, step, s); /* validated while planning */
        for (int d = X->ndim - 1; d >= 0; d--) { xst[d] = q; q *= X->shape[d]; }
#pragma omp parallel for schedule(static) if (Y->count > 65536)
        for (int64_t i = 0; i < Y->count; i++) {
            int64_t rem = i, ix = 0;
            for (int d = X->ndim - 1; d >= 0; d--) { ix += (st0[d] + (rem % s[d]) * step[d]) * xst[d]; rem /= s[d]; }
            Y->data[i] = X->data[ix];
        }
        break;
    }
    case OP_REDUCEMEAN: {
        /* Each output sums its reduced sub-block in double (like GAP), so
         * the order of the sum does not depend on the thread count. */
        int mask = reduce_mask(m, n, X->ndim), nk = 0, nr = 0;
        int64_t st[MAXD], kdim[MAXD], kst[MAXD], rdim[MAXD], rst[MAXD], q = 1, rcount = 1;
        for (int d = X->ndim - 1; d >= 0; d--) { st[d] = q; q *= X->shape[d]; }
        for (int d = 0; d < X->ndim; d++) {
            if (mask >> d & 1) { rdim[nr] = X->shape[d]; rst[nr++] = st[d]; rcount *= X->shape[d]; }
            else { kdim[nk] = X->shape[d]; kst[nk++] = st[d]; }
        }
#pragma omp parallel for schedule(static) if (X->count > 65536)
        for (int64_t o = 0; o < Y->count; o++) {
            int64_t base = 0, rem = o;
            for (int d = nk - 1; d >= 0; d--) { base += (rem % kdim[d]) * kst[d]; rem /= kdim[d]; }
            double sum = 0.0;
            for (int64_t r = 0; r < rcount; r++) {
                int64_t off = base, rr = r;
                for (int d = nr - 1; d >= 0; d--) { off += (rr % rdim[d]) * rst[d]; rr /= rdim[d]; }
                sum += X->data[off];
            }
            Y->data[o] = (float)(sum / (double)(rcount ? rcount : 1));
        }
        break;
    }
    case OP_GAP: {
        int64_t NC = X->shape[0] * X->shape[1], HW = X->count / (NC ? NC : 1);
        for (int64_t i = 0; i < NC; i++) {
            double s = 0.0;
            for (int64_t j = 0; j < HW; j++) s += X->data[i * HW + j];
            Y->data[i] = (float)(s / (double)HW);
        }
        break;
    }
    case OP_BN: {
        int64_t C = X->shape[1], HW = X->count / (X->shape[0] * C);
        float eps = attr_float(n, "epsilon", 1e-5f);
        const float *g = m->T[n->in[1]].data, *be = m->T[n->in[2]].data, *mu = m->T[n->in[3]].data,
                    *var = m->T[n->in[4]].data;
        for (int64_t i = 0; i < X->count / HW; i++) {
            int64_t c = i % C;
            float s = g[c] / sqrtf(var[c] + eps), t = be[c] - mu[c] * s;
            for (int64_t j = 0; j < HW; j++) Y->data[i * HW + j] = X->data[i * HW + j] * s + t;
        }
        break;
    }
    case OP_RELU:
        for (int64_t i = 0; i < X->count; i++) Y->data[i] = X->data[i] > 0.0f ? X->data[i] : 0.0f;
        break;
    case OP_CLIP: {
        float lo = -FLT_MAX, hi = FLT_MAX;
        if (m->opset < 11) {
            lo = attr_float(n, "min", lo);
            hi = attr_float(n, "max", hi);
        }
        if (n->nin > 1 && n->in[1] >= 0) lo = m->T[n->in[1]].data[0];
        if (n->nin > 2 && n->in[2] >= 0) hi = m->T[n->in[2]].data[0];
        for (int64_t i = 0; i < X->count; i++) Y->data[i] = X->data[i] < lo ? lo : (X->data[i] > hi ? hi : X->data[i]);
        break;
    }
    case OP_SIGMOID:
        for (int64_t i = 0; i < X->count; i++) Y->data[i] = 1.0f / (1.0f + expf(-X->data[i]));
        break;
    case OP_HARDSIGMOID: {
        float a = attr_float(n, "alpha", 0.2f), b = attr_float(n, "beta", 0.5f);
        for (int64_t i = 0; i < X->count; i++) {
            float v = a * X->data[i] + b;
            Y->data[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        }
        break;
    }
    case OP_HARDSWISH:
        for (int64_t i = 0; i < X->count; i++) {
            float x = X->data[i], v = x / 6.0f + 0.5f;
            Y->data[i] = x * (v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v));
        }
        break;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV: {
        tensor *B = &m->T[n->in[1]];
        int nd = Y->ndim ? Y->ndim : 1;
        int64_t as[MAXD], bs[MAXD], os[MAXD];
        for (int d = 0; d < nd; d++) {
            int da = d - (nd - X->ndim), db = d - (nd - B->ndim);
            as[d] = da >= 0 ? X->shape[da] : 1;
            bs[d] = db >= 0 ? B->shape[db] : 1;
            os[d] = Y->ndim ? Y->shape[d] : 1;
        }
        broadcast_binary(n->op, nd, os, X->data, as, B->data, bs, Y->data);
        break;
    }
    case OP_GEMM: {
        tensor *B = &m->T[n->in[1]];
        int ta = (int)attr_int(n, "transA", 0), tb = (int)attr_int(n, "transB", 0);
        float alpha = attr_float(n, "alpha", 1.0f), beta = attr_float(n, "beta", 1.0f);
        int64_t M = ta ? X->shape[1] : X->shape[0], K = ta ? X->shape[0] : X->shape[1];
        int64_t Nn = tb ? B->shape[0] : B->shape[1];
        float b2 = 0.0f;
        if (n->nin > 2 && n->in[2] >= 0 && beta != 0.0f) {
            tensor *Cb = &m->T[n->in[2]];
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < Nn; j++) {
                    int64_t ci = Cb->count == 1 ? 0
                                 : Cb->count == M * Nn ? i * Nn + j
                                 : (Cb->ndim == 2 && Cb->shape[1] == 1 && Nn != 1) ? i
                                                                                    : j;
                    Y->data[i * Nn + j] = beta * Cb->data[ci];
                }
            b2 = 1.0f;
        }
        vl_sgemm(ta, tb, (int)M, (int)Nn, (int)K, alpha, X->data, (int)X->shape[1], B->data, (int)B->shape[1], b2,
                 Y->data, (int)Nn);
        if (n->act != ACT_NONE)
            for (int64_t i = 0; i < Y->count; i++) Y->data[i] = apply_act(Y->data[i], n->act, n->act_min, n->act_max);
        break;
    }
    case OP_MATMUL: {
        tensor *B = &m->T[n->in[1]];
        int64_t K = X->shape[X->ndim - 1], Nn = B->shape[B->ndim - 1];
        int64_t M = X->ndim >= 2 ? X->shape[X->ndim - 2] : 1;
        int64_t mn = M * Nn, batches = Y->count / (mn > 0 ? mn : 1);
        int64_t bb = B->count / (K * Nn), ab = X->count / (M * K);
        if (bb == 1 && X->ndim >= 2) /* B is a matrix: one GEMM over all rows of A */
            vl_sgemm(false, false, (int)(ab * M), (int)Nn, (int)K, 1.0f, X->data, (int)K, B->data, (int)Nn, 0.0f,
                     Y->data, (int)Nn);
        else
            for (int64_t q = 0; q < batches; q++)
                vl_sgemm(false, false, (int)M, (int)Nn, (int)K, 1.0f, X->data + (ab == 1 ? 0 : q) * M * K, (int)K,
                         B->data + (bb == 1 ? 0 : q) * K * Nn, (int)Nn, 0.0f, Y->data + q * M * Nn, (int)Nn);
        break;
    }
    case OP_FLATTEN:
    case OP_RESHAPE:
    case OP_SQUEEZE:
    case OP_UNSQUEEZE:
    case OP_IDENTITY:
    case OP_DROPOUT:
    case OP_CAST:
        if (Y->data != X->data)
            memcpy(Y->data, X->data, sizeof(float) * (size_t)X->count);
        break;
    case OP_CONCAT: {
        int64_t axis = norm_axis(attr_int(n, "axis", 0), Y->ndim);
        int64_t outer = prod(Y->shape, 0, (int)axis), yinner = prod(Y->shape, (int)axis, Y->ndim), off = 0;
        for (int k = 0; k < n->nin; k++) {
            tensor *I = &m->T[n->in[k]];
            int64_t inner = prod(I->shape, (int)axis, I->ndim);
            for (int64_t o = 0; o < outer; o++)
                memcpy(Y->data + o * yinner + off, I->data + o * inner, sizeof(float) * (size_t)inner);
            off += inner;
        }
        break;
    }
    case OP_LRN: {
        int64_t size = attr_int(n, "size", 1);
        float alpha = attr_float(n, "alpha", 1e-4f), beta = attr_float(n, "beta", 0.75f), bias = attr_float(n, "bias", 1.0f);
        int64_t N = X->shape[0], C = X->shape[1], HW = X->count / (N * C);
        int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
#pragma omp parallel for schedule(static)
        for (int64_t bc = 0; bc < N * C; bc++) {
            int64_t b = bc / C, c = bc % C;
            for (int64_t q = 0; q < HW; q++) {
                float s = 0.0f;
                for (int64_t k = c - lo; k <= c + hi; k++)
                    if (k >= 0 && k < C) {
                        float v = X->data[(b * C + k) * HW + q];
                        s += v * v;
                    }
                Y->data[bc * HW + q] = X->data[bc * HW + q] / powf(bias + alpha / (float)size * s, beta);
            }
        }
        break;
    }
    case OP_SOFTMAX: {
        int64_t axis = norm_axis(attr_int(n, "axis", m->opset >= 13 ? -1 : 1), X->ndim);
        int64_t len = m->opset >= 13 ? X->shape[axis] : prod(X->shape, (int)axis, X->ndim);
        int64_t inner = m->opset >= 13 ? prod(X->shape, (int)axis + 1, X->ndim) : 1;
        int64_t outer = X->count / (len * inner);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t in = 0; in < inner; in++) {
                const float *x = X->data + o * len * inner + in;
                float *y = Y->data + o * len * inner + in, mx = -INFINITY;
                for (int64_t k = 0; k < len; k++) mx = x[k * inner] > mx ? x[k * inner] : mx;
                double s = 0.0;
                for (int64_t k = 0; k < len; k++) s += exp((double)x[k * inner] - mx);
                for (int64_t k = 0; k < len; k++) y[k * inner] = (float)(exp((double)x[k * inner] - mx) / s);
            }
        break;
    }
    case OP_TRANSPOSE: {
        int64_t perm[MAXD];
        if (attr_ints(n, "perm", perm, MAXD) != X->ndim)
            for (int d = 0; d < X->ndim; d++) perm[d] = X->ndim - 1 - d;
        run_transpose(X, Y, perm);
        break;
    }
    case OP_PAD: {
        int nd = X->ndim;
        int64_t pads[2 * MAXD] = {0};
        if (n->nin > 1 && n->in[1] >= 0)
            for (int d = 0; d < 2 * nd; d++) pads[d] = m->T[n->in[1]].ival[d];
        else
            attr_ints(n, "pads", pads, 2 * MAXD);
        float cval = (n->nin > 2 && n->in[2] >= 0) ? m->T[n->in[2]].data[0] : attr_float(n, "value", 0.0f);
        char mb[16];
        const char *mode = attr_str(n, "mode", mb, sizeof mb);
        int edge = mode && !strcmp(mode, "edge"), refl = mode && !strcmp(mode, "reflect");
        int64_t xst[MAXD], s = 1;
        for (int d = nd - 1; d >= 0; d--) {
            xst[d] = s;
            s *= X->shape[d];
        }
        for (int64_t i = 0; i < Y->count; i++) {
            int64_t rem = i, ix = 0;
            int out = 0;
            for (int d = nd - 1; d >= 0; d--) {
                int64_t c = rem % Y->shape[d] - pads[d];
                rem /= Y->shape[d];
                int64_t L = X->shape[d];
                if (c < 0 || c >= L) {
                    if (edge) c = c < 0 ? 0 : L - 1;
                    else if (refl) c = c < 0 ? -c : 2 * (L - 1) - c;
                    else out = 1;
                }
                ix += c * xst[d];
            }
            Y->data[i] = out ? cval : X->data[ix];
        }
        break;
    }
    case OP_RESIZE: {
        char cb[32];
        const char *ct = attr_str(n, "coordinate_transformation_mode", cb, sizeof cb);
        int mode = !ct || !strcmp(ct, "half_pixel") ? 0 : !strcmp(ct, "align_corners") ? 1 : 2;
        int64_t NC = X->shape[0] * X->shape[1], H = X->shape[2], W = X->shape[3], Ho = Y->shape[2], Wo = Y->shape[3];
        /* the source coordinate of output o along an axis of length L -> Lo (ONNX Resize, clamped) */
        int64_t *lo = (int64_t *)(void *)m->scratch; /* sized in infer: 2(Ho+Wo) int64 + (Ho+Wo) floats */
        float *fr = (float *)(lo + 2 * (Ho + Wo));
        for (int a = 0; a < 2; a++) {
            int64_t L = a ? W : H, Lo = a ? Wo : Ho, base = a ? Ho : 0;
            /* Given scales, ONNX maps coordinates with L * scale, not the
             * floored output length (they differ when downsampling by 0.6). */
            const tensor *Sc = n->nin > 2 && n->in[2] >= 0 ? &m->T[n->in[2]] : NULL;
            int sizes = n->nin > 3 && n->in[3] >= 0;
            double Lf = !sizes && Sc && Sc->count == 4 && !Sc->is_int ? (double)L * Sc->data[2 + a] : (double)Lo;
            for (int64_t o = 0; o < Lo; o++) {
                double x = mode == 0 ? (o + 0.5) * (double)L / Lf - 0.5
                         : mode == 1 ? (Lf > 1 ? (double)o * (double)(L - 1) / (Lf - 1) : 0.0)
                                     : (double)o * (double)L / Lf;
                if (x < 0) x = 0;
                if (x > (double)(L - 1)) x = (double)(L - 1);
                int64_t i0 = (int64_t)x;
                lo[2 * (base + o)] = i0;
                lo[2 * (base + o) + 1] = i0 + 1 < L ? i0 + 1 : L - 1;
                fr[base + o] = (float)(x - (double)i0);
            }
        }
        for (int64_t p = 0; p < NC; p++) {
            const float *xp = X->data + p * H * W;
            float *yp = Y->data + p * Ho * Wo;
            for (int64_t y = 0; y < Ho; y++) {
                const float *r0 = xp + lo[2 * y] * W, *r1 = xp + lo[2 * y + 1] * W;
                float fy = fr[y];
                for (int64_t x = 0; x < Wo; x++) {
                    int64_t c0 = lo[2 * (Ho + x)], c1 = lo[2 * (Ho + x) + 1];
                    float fx = fr[Ho + x];
                    float top = r0[c0] + (r0[c1] - r0[c0]) * fx, bot = r1[c0] + (r1[c1] - r1[c0]) * fx;
                    yp[y * Wo + x] = top + (bot - top) * fy;
                }
            }
        }
        break;
    }
    case OP_LSTM:
    case OP_GRU: run_rnn(m, n); break;
    case OP_REDUCESUM: run_reducesum(m, n); break;
    case OP_SUM:
        if (Y->data != X->data) memcpy(Y->data, X->data, sizeof(float) * (size_t)X->count);
        for (int k = 1; k < n->nin; k++)
            for (int64_t i = 0; i < Y->count; i++) Y->data[i] += m->T[n->in[k]].data[i];
        break;
    default: break; /* Constant, Shape, Gather, Slice, Range, Less: handled while planning */
    }
}

/* ---- oneDNN execution ---------------------------------------------------------------
 * With the oneDNN backend, planning hands Conv, the pools, Relu/Clip/Sigmoid and
 * the element-wise binary ops to oneDNN primitives, created once per planned
 * input shape. Convolutions pick their own (blocked, e.g. nChw16c) activation
 * layout; the ops after them keep it, so activations are reordered to plain
 * NCHW only where an operator of ours or the tapped output reads them. A Conv
 * whose output only feeds an Add (ResNet, MobileNetV2 shortcuts) accumulates
 * into the other operand (oneDNN's sum post-op), in its buffer where that
 * operand dies there, and takes a Relu after the Add along. Anything oneDNN
 * rejects runs on the portable kernels above. */
#ifdef VL_BLAS_DNNL

typedef struct dn_tensor_s {
    int made;       /* written by a oneDNN step, in layout md */
    int blocked;    /* md is not plain NCHW: buf holds it; data is a plain copy when need_plain */
    int need_plain; /* read by a portable kernel or tapped */
    dnnl_memory_desc_t md;
    float *buf;
    int bufi;       /* arena block of buf */
    size_t bsize;   /* floats */
    dnnl_memory_t mem;  /* over buf (blocked) or data */
    dnnl_memory_t pmem; /* plain view over data, for to_plain */
    dnnl_primitive_t to_plain;
} dn_tensor;

typedef struct {
    int t;                 /* tensor */
    int arg;               /* DNNL_ARG_SRC, DNNL_ARG_SRC_1 */
    dnnl_memory_desc_t md; /* the layout the primitive reads */
    int reorder;           /* md differs from the tensor's: reorder into buf first */
    float *buf;
    int bufi;
    dnnl_memory_t mem;
    dnnl_primitive_t prim;
} dn_in;

typedef struct dn_node_s {
    int on; /* runs as a oneDNN primitive */
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    int nin;
    dn_in in[2];
    dnnl_memory_t wmem, bmem, smem;
    int dw; /* depthwise Conv node fused after this 1x1 one, or -1 */
    dnnl_memory_t dwmem, dwbmem;
    dnnl_primitive_t res_copy; /* residual -> destination, when not accumulated in place */
    dnnl_exec_arg_t args[8];
    int nargs;
} dn_node;

/* The activations' data type between oneDNN steps: bf16 in bf16 mode
 * (weights bf16, bias f32, accumulation f32 inside oneDNN), else f32. */
static dnnl_data_type_t dn_act_dt(const vl_onnx *m)
{
    return m->prec == VL_PREC_BF16 ? dnnl_bf16 : dnnl_f32;
}

/* Bytes -> floats of arena space, rounded up (a bf16 tensor of odd size). */
static size_t dn_floats(size_t bytes) { return (bytes + sizeof(float) - 1) / sizeof(float); }

static dnnl_memory_desc_t dn_plain_md(const tensor *t)
{
    static const dnnl_format_tag_t tags[7] = {dnnl_a, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde, dnnl_abcdef};
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {1};
    int nd = t->ndim ? t->ndim : 1;
    for (int i = 0; i < t->ndim; i++) d[i] = t->shape[i];
    if (nd > 6 || dnnl_memory_desc_init_by_tag(&md, nd, d, dnnl_f32, tags[nd]) != dnnl_success)
        memset(&md, 0, sizeof md);
    return md;
}

/* The layout tensor t is in: its producer's, else plain. */
static dnnl_memory_desc_t dn_md_of(const vl_onnx *m, int t)
{
    return m->dt[t].made ? m->dt[t].md : dn_plain_md(&m->T[t]);
}

/* Records what a created primitive descriptor writes to tensor y. */
static void dn_set_output(vl_onnx *m, dn_node *d, int y)
{
    dn_tensor *o = &m->dt[y];
    o->made = 1;
    o->md = *dnnl_primitive_desc_query_md(d->pd, dnnl_query_dst_md, 0);
    dnnl_memory_desc_t plain = dn_plain_md(&m->T[y]);
    o->blocked = !dnnl_memory_desc_equal(&o->md, &plain);
    o->bsize = dn_floats(dnnl_memory_desc_get_size(&o->md));
    d->on = 1;
}

static void dn_add_input(vl_onnx *m, dn_node *d, int t, int arg, const dnnl_memory_desc_t *want)
{
    dn_in *in = &d->in[d->nin++];
    in->t = t;
    in->arg = arg;
    in->md = *want;
    dnnl_memory_desc_t have = dn_md_of(m, t);
    in->reorder = !dnnl_memory_desc_equal(&have, want);
    in->bufi = -1;
}

static int dn_create_pd(vl_onnx *m, dn_node *d, const void *desc, const dnnl_post_ops_t po)
{
    dnnl_primitive_attr_t attr;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success)
        return 0;
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (po)
        dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_status_t s = dnnl_primitive_desc_create(&d->pd, desc, attr, m->eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        d->pd = NULL;
    return s == dnnl_success;
}

/* Clip's bounds (Clip nodes and Conv's fused Clip). 0 when not constant. */
static int clip_bounds(const vl_onnx *m, const node *a, float *lo, float *hi)
{
    *lo = -FLT_MAX;
    *hi = FLT_MAX;
    if (m->opset < 11) {
        *lo = attr_float(a, "min", *lo);
        *hi = attr_float(a, "max", *hi);
    }
    for (int k = 1; k < 3; k++)
        if (a->nin > k && a->in[k] >= 0) {
            const tensor *b = &m->T[a->in[k]];
            if (!b->is_const || b->is_int || b->count < 1) return 0;
            *(k == 1 ? lo : hi) = b->data[0];
        }
    return 1;
}

static void dn_append_act(dnnl_post_ops_t po, act_kind a, float lo, float hi)
{
    if (a == ACT_RELU) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    if (a == ACT_CLIP) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, lo, hi);
}

static int same_shape(const tensor *a, const tensor *b)
{
    return a->ndim == b->ndim && !memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim);
}

/* 3x3, stride 1, undilated, dense: where oneDNN has a Winograd kernel. */
static int wino_shape(const node *n, const win2d *w)
{
    return attr_int(n, "group", 1) == 1 && w->kh == 3 && w->kw == 3 && w->sh == 1 && w->sw == 1 && w->dh == 1 &&
           w->dw == 1;
}

/* Depthwise Conv k can run as a dw post-op after a 1x1 Conv producing X. */
static int dw_fusable(const vl_onnx *m, const node *k, const tensor *X)
{
    const tensor *W = &m->T[k->in[1]];
    win2d w;
    if (!W->is_const || W->is_int || W->ndim != 4 || X->ndim != 4 || k->nin < 3 || k->in[2] < 0 ||
        !m->T[k->in[2]].is_const || W->shape[0] != X->shape[1] || W->shape[1] != 1 ||
        attr_int(k, "group", 1) != X->shape[1] || window(m, k, X->shape[2], X->shape[3], W->shape[2], W->shape[3], 0, &w))
        return 0;
    return w.kh == 3 && w.kw == 3 && w.sh == w.sw && (w.sh == 1 || w.sh == 2) && w.dh == 1 && w.dw == 1 && w.pt == 1 &&
           w.pl == 1 && w.pb == 1 && w.pr == 1;
}

static void dn_conv(vl_onnx *m, int j, int tap)
{
    node *n = &m->N[j];
    dn_node *d = &m->dn[j];
    tensor *X = &m->T[n->in[0]], *Wt = &m->T[n->in[1]], *Y = &m->T[n->out[0]];
    int hasb = n->nin > 2 && n->in[2] >= 0;
    if (!Wt->is_const || Wt->is_int || (hasb && !m->T[n->in[2]].is_const) || X->is_const)
        return;
    int64_t g = attr_int(n, "group", 1), Co = Wt->shape[0];
    win2d w;
    if (window(m, n, X->shape[2], X->shape[3], Wt->shape[2], Wt->shape[3], 0, &w))
        return;
    dnnl_memory_desc_t src, wei, bia, dst;
    dnnl_dims_t sd = {X->shape[0], X->shape[1], X->shape[2], X->shape[3]};
    dnnl_dims_t dd = {Y->shape[0], Y->shape[1], Y->shape[2], Y->shape[3]};
    dnnl_dims_t wd = {g, Co / g, Wt->shape[1], w.kh, w.kw}, wd1 = {Co, Wt->shape[1], w.kh, w.kw}, bd = {Co};
    /* One activation layout for all convolutions, nChw16c: oneDNN's Winograd
     * kernels and the 1x1 + depthwise fusion need it, and switching layouts
     * between convolutions would cost reorders (see BENCHMARKS.md). Inputs
     * with fewer than 16 channels (the image) stay as they are; others whose
     * count is not a multiple of 16 (MoveNet's 24) are padded: left to
     * choose, oneDNN took nhwc for them, which its depthwise kernels lack
     * (its reference kernel ran instead, 27x slower). */
    dnnl_format_tag_t act = dnnl_nChw16c;
    /* Grouped (not depthwise) convolutions whose channels per group are not
     * a multiple of the 16-channel block have no JIT kernel on nChw16c: oneDNN
     * 2.6 ran its reference kernel (RegNetY-400MF, 8 per group: 16 convs took
     * 99% of the time). nChw8c has one when the groups are multiples of 8;
     * otherwise let oneDNN choose. Reorders around them cost far less. */
    int64_t cig = X->shape[1] / (g > 0 ? g : 1), cog = Co / (g > 0 ? g : 1);
    if (g > 1 && !(cig == 1 && cog == 1) && (cig % 16 || cog % 16))
        act = cig % 8 == 0 && cog % 8 == 0 ? dnnl_nChw8c : dnnl_format_tag_any;
    /* bf16: activations and weights in bf16 (the image is converted by the
     * first convolution's input reorder), bias f32. */
    dnnl_data_type_t adt = dn_act_dt(m);
    dnnl_memory_desc_init_by_tag(&src, 4, sd, adt,
                                 act != dnnl_nChw16c ? act : X->shape[1] >= 16 ? dnnl_nChw16c : dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dst, 4, dd, adt, act);
    if (g > 1) dnnl_memory_desc_init_by_tag(&wei, 5, wd, adt, dnnl_format_tag_any);
    else dnnl_memory_desc_init_by_tag(&wei, 4, wd1, adt, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&bia, 1, bd, dnnl_f32, dnnl_a);
    dnnl_dims_t st = {w.sh, w.sw}, dil = {w.dh - 1, w.dw - 1}, pl = {w.pt, w.pl}, pr = {w.pb, w.pr};
    dnnl_convolution_desc_t cd[2];
    int nalg = 0;
    /* (oneDNN's Winograd kernels are f32 only) */
    int wino = wino_shape(n, &w) && !getenv("VL_ONNX_NO_WINOGRAD") && adt == dnnl_f32;
    if (wino && dnnl_convolution_forward_desc_init(&cd[nalg], dnnl_forward_inference, dnnl_convolution_winograd, &src,
                                                   &wei, hasb ? &bia : NULL, &dst, st, pl, pr) == dnnl_success)
        nalg++;
    if (dnnl_dilated_convolution_forward_desc_init(&cd[nalg], dnnl_forward_inference, dnnl_convolution_direct, &src, &wei,
                                                   hasb ? &bia : NULL, &dst, st, dil, pl, pr) == dnnl_success)
        nalg++;
    if (!nalg)
        return;
    /* Shortcut: the only reader of the output is an Add whose other operand
     * is ready by now and has the same shape. */
    int add = -1, res = -1, relu = -1;
    act_kind act2 = ACT_NONE;
    float lo2 = 0.0f, hi2 = 0.0f;
    if (n->out[0] != tap && consumers(m, n->out[0], &add) == 1 && add >= 0 && m->N[add].op == OP_ADD &&
        m->N[add].live && m->N[add].nin == 2) {
        node *a = &m->N[add];
        res = a->in[0] == n->out[0] ? a->in[1] : a->in[0];
        tensor *R = &m->T[res], *A = &m->T[a->out[0]];
        if (res == n->out[0] || R->is_const || R->is_int || !same_shape(R, Y) || !same_shape(A, Y) ||
            (R->producer >= 0 && R->producer > j))
            res = -1;
        int r = -1;
        if (res >= 0 && a->out[0] != tap && consumers(m, a->out[0], &r) == 1 && r >= 0 && m->N[r].live) {
            float lo, hi;
            if (m->N[r].op == OP_RELU) relu = r, act2 = ACT_RELU;
            else if (m->N[r].op == OP_CLIP && clip_bounds(m, &m->N[r], &lo, &hi))
                relu = r, act2 = ACT_CLIP, lo2 = lo, hi2 = hi;
        }
    }
    /* MobileNet: a 1x1 Conv whose only reader is a 3x3 depthwise Conv (pad 1,
     * stride 1 or 2): the depthwise one runs inside it (oneDNN's dw post-op),
     * so the expanded tensor never goes to memory. */
    int dw = -1;
    if (!(res < 0 && w.kh == 1 && w.kw == 1 && w.sh == 1 && w.sw == 1 && !w.pt && !w.pl && !w.pb && !w.pr && g == 1 &&
          n->out[0] != tap && consumers(m, n->out[0], &dw) == 1 && dw >= 0 && m->N[dw].live &&
          m->N[dw].op == OP_CONV && dw_fusable(m, &m->N[dw], Y)))
        dw = -1;
    for (int t = 0; t < 2 * nalg && !d->pd; t++) {
        int fuse = t % 2 == 0 && (res >= 0 || dw >= 0);
        if (t % 2 == 0 && !fuse) continue;
        dnnl_post_ops_t po;
        if (dnnl_post_ops_create(&po) != dnnl_success)
            return;
        dn_append_act(po, n->act, n->act_min, n->act_max);
        if (fuse && res >= 0) {
            dnnl_post_ops_append_sum(po, 1.0f);
            dn_append_act(po, act2, lo2, hi2);
        }
        if (fuse && dw >= 0) {
            node *k = &m->N[dw];
            int64_t v[2] = {1, 1};
            attr_ints(k, "strides", v, 2);
            dnnl_post_ops_append_dw(po, adt, dnnl_f32, adt, 3, v[0], 1, 0, 0, NULL);
            dn_append_act(po, k->act, k->act_min, k->act_max);
        }
        int ok = dn_create_pd(m, d, &cd[t / 2], po);
        if (ok && fuse && dw >= 0) { /* the fused output must be the depthwise Conv's */
            const dnnl_memory_desc_t *o = dnnl_primitive_desc_query_md(d->pd, dnnl_query_dst_md, 0);
            tensor *K = &m->T[m->N[dw].out[0]];
            ok = o->ndims == 4 && o->dims[0] == K->shape[0] && o->dims[1] == K->shape[1] && o->dims[2] == K->shape[2] &&
                 o->dims[3] == K->shape[3];
            if (!ok) {
                dnnl_primitive_desc_destroy(d->pd);
                d->pd = NULL;
            } else {
                m->N[dw].live = 0;
                n->pout = m->N[dw].out[0];
                d->dw = dw;
            }
        }
        if (ok && fuse && res >= 0) {
            m->N[add].live = 0;
            n->pout = m->N[add].out[0];
            if (relu >= 0) {
                m->N[relu].live = 0;
                n->pout = m->N[relu].out[0];
            }
            n->pres = res;
        }
        dnnl_post_ops_destroy(po);
    }
    if (!d->pd)
        return;
    dn_add_input(m, d, n->in[0], DNNL_ARG_SRC, dnnl_primitive_desc_query_md(d->pd, dnnl_query_src_md, 0));
    dn_set_output(m, d, n->pout);
}

static void dn_pool(vl_onnx *m, int j)
{
    node *n = &m->N[j];
    dn_node *d = &m->dn[j];
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    if (X->ndim != 4 || n->nout != 1)
        return;
    dnnl_dims_t st = {1, 1}, ks = {X->shape[2], X->shape[3]}, dil = {0, 0}, pl = {0, 0}, pr = {0, 0};
    dnnl_alg_kind_t alg = dnnl_pooling_avg_exclude_padding;
    if (n->op != OP_GAP) {
        int64_t k[2] = {1, 1};
        attr_ints(n, "kernel_shape", k, 2);
        win2d w;
        if (window(m, n, X->shape[2], X->shape[3], k[0], k[1], 1, &w))
            return;
        int incl = (int)attr_int(n, "count_include_pad", 0);
        alg = n->op == OP_MAXPOOL ? dnnl_pooling_max : incl ? dnnl_pooling_avg_include_padding : alg;
        /* Bottom/right padding giving Ho, Wo with oneDNN's floor rule (ceil_mode
         * overhang becomes padding, which only include-padding averages count). */
        int64_t ekh = w.dh * (w.kh - 1) + 1, ekw = w.dw * (w.kw - 1) + 1;
        int64_t pb = (X->shape[2] + w.pt + w.pb - ekh) / w.sh + 1 == w.Ho ? w.pb : (w.Ho - 1) * w.sh + ekh - X->shape[2] - w.pt;
        int64_t pr2 = (X->shape[3] + w.pl + w.pr - ekw) / w.sw + 1 == w.Wo ? w.pr : (w.Wo - 1) * w.sw + ekw - X->shape[3] - w.pl;
        if (incl && (pb != w.pb || pr2 != w.pr))
            return;
        st[0] = w.sh, st[1] = w.sw, ks[0] = w.kh, ks[1] = w.kw, dil[0] = w.dh - 1, dil[1] = w.dw - 1;
        pl[0] = w.pt, pl[1] = w.pl, pr[0] = pb, pr[1] = pr2;
    }
    dnnl_memory_desc_t src = dn_md_of(m, n->in[0]), dst;
    dnnl_dims_t dd = {Y->shape[0], Y->shape[1], Y->shape[2], Y->shape[3]};
    /* (bf16 in, bf16 out: oneDNN 2.6 has no bf16 -> f32 pooling) */
    dnnl_memory_desc_init_by_tag(&dst, 4, dd, src.data_type, dnnl_format_tag_any);
    dnnl_pooling_v2_desc_t pdsc;
    if (dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference, alg, &src, &dst, st, ks, dil, pl, pr) ||
        !dn_create_pd(m, d, &pdsc, NULL))
        return;
    dn_add_input(m, d, n->in[0], DNNL_ARG_SRC, &src);
    dn_set_output(m, d, n->out[0]);
}

static void dn_eltwise(vl_onnx *m, int j)
{
    node *n = &m->N[j];
    dn_node *d = &m->dn[j];
    float lo = 0.0f, hi = 0.0f;
    dnnl_alg_kind_t alg = n->op == OP_RELU ? dnnl_eltwise_relu : n->op == OP_SIGMOID ? dnnl_eltwise_logistic : dnnl_eltwise_clip;
    if (n->op == OP_CLIP && !clip_bounds(m, n, &lo, &hi))
        return;
    dnnl_memory_desc_t src = dn_md_of(m, n->in[0]);
    dnnl_eltwise_desc_t ed;
    if (dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, alg, &src, lo, hi) || !dn_create_pd(m, d, &ed, NULL))
        return;
    dn_add_input(m, d, n->in[0], DNNL_ARG_SRC, &src);
    dn_set_output(m, d, n->out[0]);
}

static void dn_binary(vl_onnx *m, int j)
{
    node *n = &m->N[j];
    dn_node *d = &m->dn[j];
    int ia = n->in[0], ib = n->in[1];
    /* oneDNN broadcasts the second operand only: swap a commutative op's
     * (torchvision's SE blocks write scale * x). */
    if (!same_shape(&m->T[ia], &m->T[n->out[0]]) && (n->op == OP_MUL || n->op == OP_ADD)) {
        ia = n->in[1];
        ib = n->in[0];
    }
    tensor *A = &m->T[ia], *B = &m->T[ib], *Y = &m->T[n->out[0]];
    if (!same_shape(A, Y) || B->ndim != Y->ndim || A->is_int || B->is_int || Y->ndim < 1)
        return;
    /* The full-shape layout: the first operand's, or the second's when only it comes from oneDNN. */
    dnnl_memory_desc_t l = dn_md_of(m, ia), b = dn_md_of(m, ib), dst;
    if (same_shape(B, Y)) {
        if (!m->dt[ia].made) l = b;
        b = l;
    }
    dnnl_alg_kind_t alg = n->op == OP_ADD ? dnnl_binary_add : n->op == OP_SUB ? dnnl_binary_sub
                        : n->op == OP_MUL ? dnnl_binary_mul : dnnl_binary_div;
    if (!same_shape(B, Y) && Y->ndim == 4) {
        /* A broadcast operand blocked unlike the full one (SE: the scale from a
         * nChw16c 1x1 conv, x from a grouped conv's nChw8c) sends oneDNN to its
         * reference kernel: read it in the full operand's layout (C floats to reorder). */
        static const dnnl_format_tag_t tags[] = {dnnl_nChw16c, dnnl_nChw8c, dnnl_nhwc, dnnl_nchw};
        dnnl_dims_t yd = {Y->shape[0], Y->shape[1], Y->shape[2], Y->shape[3]};
        dnnl_dims_t bdims = {B->shape[0], B->shape[1], B->shape[2], B->shape[3]};
        for (size_t t = 0; t < sizeof tags / sizeof *tags; t++) {
            dnnl_memory_desc_t ly;
            if (dnnl_memory_desc_init_by_tag(&ly, 4, yd, l.data_type, tags[t]) == dnnl_success &&
                dnnl_memory_desc_equal(&ly, &l)) {
                dnnl_memory_desc_init_by_tag(&b, 4, bdims, l.data_type, tags[t]);
                break;
            }
        }
    }
    dst = l;
    dnnl_binary_desc_t bd;
    if (dnnl_binary_desc_init(&bd, alg, &l, &b, &dst) || !dn_create_pd(m, d, &bd, NULL)) {
        /* A broadcast operand (SE's [N,C,1,1] scale) in another blocking than
         * the full one (RegNetY: nChw16c against a grouped conv's nChw8c) is
         * refused: read it plain (C floats) rather than run the op on plain copies. */
        if (same_shape(B, Y))
            return;
        b = dn_plain_md(B);
        if (dnnl_binary_desc_init(&bd, alg, &l, &b, &dst) || !dn_create_pd(m, d, &bd, NULL))
            return;
    }
    /* oneDNN's reference binary (e.g. on nChw8c with AVX-512) is ~6x slower
     * than our kernel plus the reorders to plain (RegNetY's SE scaling). */
    const char *impl = NULL;
    dnnl_primitive_desc_query(d->pd, dnnl_query_impl_info_str, 0, &impl);
    if (!impl || !strncmp(impl, "ref", 3)) {
        dnnl_primitive_desc_destroy(d->pd);
        d->pd = NULL;
        return;
    }
    dn_add_input(m, d, ia, DNNL_ARG_SRC_0, &l);
    dn_add_input(m, d, ib, DNNL_ARG_SRC_1, &b);
    dn_set_output(m, d, n->out[0]);
}

/* Chooses the oneDNN steps for the live nodes (after liveness) and which
 * tensors need a plain copy. Returns nonzero on allocation failure. */
static int dn_decide(vl_onnx *m, int tap)
{
    if (!m->eng) {
        if (dnnl_engine_create(&m->eng, dnnl_cpu, 0) != dnnl_success) {
            m->eng = NULL;
            return 0; /* no oneDNN: everything runs on the portable kernels */
        }
        if (dnnl_stream_create(&m->strm, m->eng, dnnl_stream_default_flags) != dnnl_success) {
            dnnl_engine_destroy(m->eng);
            m->eng = NULL;
            m->strm = NULL;
            return 0;
        }
    }
    if (!m->wcache && !(m->wcache = calloc((size_t)m->nn * 2, sizeof(dn_weights))))
        return 1;
    m->dt = calloc((size_t)m->nt, sizeof(dn_tensor));
    m->dn = calloc((size_t)m->nn, sizeof(dn_node));
    if (!m->dt || !m->dn)
        return 1;
    for (int i = 0; i < m->nt; i++)
        m->dt[i].bufi = -1;
    for (int j = 0; j < m->nn; j++)
        m->dn[j].dw = -1;
    for (int j = 0; j < m->nn; j++) {
        node *n = &m->N[j];
        if (!n->live) continue;
        int made = 0;
        for (int k = 0; k < n->nin; k++)
            made |= n->in[k] >= 0 && m->dt[n->in[k]].made;
        switch (n->op) {
        case OP_CONV: dn_conv(m, j, tap); break;
        case OP_MAXPOOL: case OP_AVGPOOL: case OP_GAP: if (made) dn_pool(m, j); break;
        case OP_RELU: case OP_CLIP: case OP_SIGMOID: if (made) dn_eltwise(m, j); break;
        case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: if (made) dn_binary(m, j); break;
        default: break;
        }
    }
    for (int j = 0; j < m->nn; j++)
        if (m->N[j].live && !m->dn[j].on)
            for (int k = 0; k < m->N[j].nin; k++)
                if (m->N[j].in[k] >= 0) m->dt[m->N[j].in[k]].need_plain = 1;
    m->dt[tap].need_plain = 1;
    return 0;
}

static vl_status dn_fail(vl_onnx *m, const char *what)
{
    return vl_seterr(VL_ERR_NOMEM, "%s: oneDNN: cannot create %s", m->path, what);
}

static vl_status dn_reorder(vl_onnx *m, const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b, dnnl_primitive_t *p)
{
    dnnl_primitive_desc_t pd;
    if (dnnl_reorder_primitive_desc_create(&pd, a, m->eng, b, m->eng, NULL) != dnnl_success)
        return dn_fail(m, "a reorder");
    dnnl_status_t s = dnnl_primitive_create(p, pd);
    dnnl_primitive_desc_destroy(pd);
    return s == dnnl_success ? VL_OK : dn_fail(m, "a reorder");
}

/* Conv node n's weights (and bias) for primitive d, as argument base|WEIGHTS
 * (base|BIAS): base 0 for the convolution, DNNL_ARG_ATTR_POST_OP_DW for a
 * fused depthwise one. The weights are reordered into *buf (owned). */
static vl_status dn_conv_weights(vl_onnx *m, dn_node *d, const node *n, dn_weights *wc, int base,
                                 dnnl_memory_t *wmem, dnnl_memory_t *bmem)
{
    tensor *Wt = &m->T[n->in[1]];
    int64_t g = attr_int(n, "group", 1);
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(d->pd, dnnl_query_exec_arg_md, base | DNNL_ARG_WEIGHTS);
    dnnl_memory_desc_t wplain;
    dnnl_dims_t wd = {g, Wt->shape[0] / g, Wt->shape[1], Wt->shape[2], Wt->shape[3]};
    dnnl_dims_t wd1 = {Wt->shape[0], Wt->shape[1], Wt->shape[2], Wt->shape[3]};
    if (g > 1) dnnl_memory_desc_init_by_tag(&wplain, 5, wd, dnnl_f32, dnnl_goihw);
    else dnnl_memory_desc_init_by_tag(&wplain, 4, wd1, dnnl_f32, dnnl_oihw);
    if (!wmd || !dnnl_memory_desc_get_size(wmd))
        return dn_fail(m, "the convolution weights");
    int cached = wc->buf && dnnl_memory_desc_equal(&wc->md, wmd);
    if (!cached) { /* first plan, or a layout this plan's primitive wants differently */
        vl_free(wc->buf);
        wc->buf = vl_alloc(dnnl_memory_desc_get_size(wmd));
        if (!wc->buf) return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
        wc->md = *wmd;
    }
    dnnl_memory_t src;
    dnnl_primitive_t r;
    if (dnnl_memory_create(wmem, wmd, m->eng, wc->buf) != dnnl_success)
        return dn_fail(m, "a memory object");
    if (dnnl_memory_create(&src, &wplain, m->eng, Wt->data) != dnnl_success)
        return dn_fail(m, "a memory object");
    vl_status st = cached ? VL_OK : dn_reorder(m, &wplain, wmd, &r);
    if (!st && !cached) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, *wmem}};
        if (dnnl_primitive_execute(r, m->strm, 2, a) != dnnl_success || dnnl_stream_wait(m->strm) != dnnl_success)
            st = dn_fail(m, "the convolution weights");
        dnnl_primitive_destroy(r);
    }
    dnnl_memory_destroy(src);
    if (st) return st;
    d->args[d->nargs++] = (dnnl_exec_arg_t){base | DNNL_ARG_WEIGHTS, *wmem};
    if (n->nin > 2 && n->in[2] >= 0) {
        const dnnl_memory_desc_t *bmd = dnnl_primitive_desc_query_md(d->pd, dnnl_query_exec_arg_md, base | DNNL_ARG_BIAS);
        if (!bmd || dnnl_memory_create(bmem, bmd, m->eng, m->T[n->in[2]].data) != dnnl_success)
            return dn_fail(m, "a memory object");
        d->args[d->nargs++] = (dnnl_exec_arg_t){base | DNNL_ARG_BIAS, *bmem};
    }
    return VL_OK;
}

/* After allocation: memory objects, primitives, weights in their layouts. */
static vl_status dn_bind(vl_onnx *m)
{
    if (!m->dn)
        return VL_OK;
    for (int i = 0; i < m->nt; i++) {
        dn_tensor *t = &m->dt[i];
        tensor *T = &m->T[i];
        int used = t->made;
        for (int j = 0; j < m->nn && !used; j++)
            if (m->dn[j].on) {
                for (int k = 0; k < m->dn[j].nin; k++) used |= m->dn[j].in[k].t == i;
                used |= m->N[j].pres == i;
            }
        if (!used) continue;
        dnnl_memory_desc_t md = dn_md_of(m, i), plain = dn_plain_md(T);
        if (dnnl_memory_create(&t->mem, &md, m->eng, t->blocked ? (void *)t->buf : (void *)T->data) != dnnl_success)
            return dn_fail(m, "a memory object");
        if (t->blocked && t->need_plain) {
            if (dnnl_memory_create(&t->pmem, &plain, m->eng, T->data) != dnnl_success)
                return dn_fail(m, "a memory object");
            vl_status st = dn_reorder(m, &md, &plain, &t->to_plain);
            if (st) return st;
        }
    }
    size_t scratch = 0;
    for (int j = 0; j < m->nn; j++) {
        dn_node *d = &m->dn[j];
        if (!d->on) continue;
        size_t s = dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(d->pd, dnnl_query_scratchpad_md, 0));
        if (s > scratch) scratch = s;
    }
    if (scratch) {
        m->dn_scratch = vl_alloc(scratch);
        if (!m->dn_scratch) return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
    }
    for (int j = 0; j < m->nn; j++) {
        dn_node *d = &m->dn[j];
        node *n = &m->N[j];
        if (!d->on) continue;
        dn_tensor *o = &m->dt[n->pout];
        vl_status st = VL_OK;
        if (dnnl_primitive_create(&d->prim, d->pd) != dnnl_success)
            return dn_fail(m, "a primitive");
        for (int k = 0; k < d->nin; k++) {
            dn_in *in = &d->in[k];
            if (!in->reorder) {
                in->mem = m->dt[in->t].mem;
            } else {
                dnnl_memory_desc_t have = dn_md_of(m, in->t);
                if (dnnl_memory_create(&in->mem, &in->md, m->eng, in->buf) != dnnl_success)
                    return dn_fail(m, "a memory object");
                if ((st = dn_reorder(m, &have, &in->md, &in->prim))) return st;
            }
            d->args[d->nargs++] = (dnnl_exec_arg_t){in->arg, in->mem};
        }
        d->args[d->nargs++] = (dnnl_exec_arg_t){DNNL_ARG_DST, o->mem};
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(d->pd, dnnl_query_scratchpad_md, 0);
        if (dnnl_memory_desc_get_size(smd)) {
            if (dnnl_memory_create(&d->smem, smd, m->eng, m->dn_scratch) != dnnl_success)
                return dn_fail(m, "a memory object");
            d->args[d->nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, d->smem};
        }
        if (n->op != OP_CONV) continue;
        /* Weights: reordered once per plan into the primitive's layout. */
        if ((st = dn_conv_weights(m, d, n, &m->wcache[2 * j], 0, &d->wmem, &d->bmem)))
            return st;
        if (d->dw >= 0 && (st = dn_conv_weights(m, d, &m->N[d->dw], &m->wcache[2 * j + 1], DNNL_ARG_ATTR_POST_OP_DW,
                                                &d->dwmem, &d->dwbmem)))
            return st;
        if (n->pres >= 0 && !n->pinplace) {
            dnnl_memory_desc_t rmd = dn_md_of(m, n->pres);
            if ((st = dn_reorder(m, &rmd, &o->md, &d->res_copy))) return st;
        }
    }
    return VL_OK;
}

static vl_status dn_exec(vl_onnx *m, int j)
{
    dn_node *d = &m->dn[j];
    node *n = &m->N[j];
    dnnl_status_t s = dnnl_success;
    for (int k = 0; k < d->nin && !s; k++)
        if (d->in[k].prim) {
            dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, m->dt[d->in[k].t].mem}, {DNNL_ARG_TO, d->in[k].mem}};
            s = dnnl_primitive_execute(d->in[k].prim, m->strm, 2, a);
        }
    if (!s && d->res_copy) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, m->dt[n->pres].mem}, {DNNL_ARG_TO, m->dt[n->pout].mem}};
        s = dnnl_primitive_execute(d->res_copy, m->strm, 2, a);
    }
    if (!s)
        s = dnnl_primitive_execute(d->prim, m->strm, d->nargs, d->args);
    dn_tensor *o = &m->dt[n->pout];
    if (!s && o->to_plain) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, o->mem}, {DNNL_ARG_TO, o->pmem}};
        s = dnnl_primitive_execute(o->to_plain, m->strm, 2, a);
    }
    if (s)
        return vl_seterr(VL_ERR_IO, "%s: node '%s' (%s): oneDNN execution failed (status %d)", m->path,
                         str(n->proto->name), str(n->proto->op_type), (int)s);
    return VL_OK;
}

static void dn_free_plan(vl_onnx *m)
{
    if (m->dn) {
        for (int j = 0; j < m->nn; j++) {
            dn_node *d = &m->dn[j];
            for (int k = 0; k < d->nin; k++) {
                if (d->in[k].prim) dnnl_primitive_destroy(d->in[k].prim);
                if (d->in[k].reorder && d->in[k].mem) dnnl_memory_destroy(d->in[k].mem);
            }
            if (d->prim) dnnl_primitive_destroy(d->prim);
            if (d->pd) dnnl_primitive_desc_destroy(d->pd);
            if (d->res_copy) dnnl_primitive_destroy(d->res_copy);
            if (d->wmem) dnnl_memory_destroy(d->wmem);
            if (d->bmem) dnnl_memory_destroy(d->bmem);
            if (d->smem) dnnl_memory_destroy(d->smem);
            if (d->dwmem) dnnl_memory_destroy(d->dwmem);
            if (d->dwbmem) dnnl_memory_destroy(d->dwbmem);
        }
    }
    if (m->dt) {
        for (int i = 0; i < m->nt; i++) {
            dn_tensor *t = &m->dt[i];
            if (t->mem) dnnl_memory_destroy(t->mem);
            if (t->pmem) dnnl_memory_destroy(t->pmem);
            if (t->to_plain) dnnl_primitive_destroy(t->to_plain);
        }
    }
    free(m->dn);
    free(m->dt);
    m->dn = NULL;
    m->dt = NULL;
    vl_free(m->dn_scratch);
    m->dn_scratch = NULL;
}

#endif /* VL_BLAS_DNNL */

/* ---- planning ------------------------------------------------------------------------------ */

static vl_status plan_err(const vl_onnx *m, const node *n, const char *what)
{
    return vl_seterr(VL_ERR_SHAPE, "%s: node '%s' (%s): %s", m->path, n->proto->name ? n->proto->name : "",
                     str(n->proto->op_type), what);
}

static vl_status set_int_out(tensor *Y, int ndim, const int64_t *shape, const int64_t *vals)
{
    free(Y->ival);
    set_shape(Y, ndim, shape);
    Y->ival = malloc(sizeof(int64_t) * (size_t)(Y->count ? Y->count : 1));
    if (!Y->ival)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    memcpy(Y->ival, vals, sizeof(int64_t) * (size_t)Y->count);
    Y->is_int = Y->is_const = 1;
    return VL_OK;
}

/* Reads axes for Squeeze/Unsqueeze (input since opset 13, else attribute). */
static int get_axes(const vl_onnx *m, const node *n, int64_t *ax)
{
    if (n->nin > 1 && n->in[1] >= 0) {
        const tensor *A = &m->T[n->in[1]];
        for (int64_t i = 0; i < A->count && i < MAXD; i++) ax[i] = A->ival[i];
        return (int)A->count;
    }
    return attr_ints(n, "axes", ax, MAXD);
}

/* Output shapes of node n; integer-valued nodes are evaluated here. Sets
 * n->folded when the node needs no run. */
/* Grows the im2col scratch to scratch_size (constant folding may run a Conv
 * before a later, larger Conv has raised the requirement). */
static vl_status ensure_scratch(vl_onnx *m)
{
    if (m->scratch_size <= m->scratch_cap)
        return VL_OK;
    vl_free(m->scratch);
    m->scratch = vl_alloc(sizeof(float) * m->scratch_size);
    m->scratch_cap = m->scratch ? m->scratch_size : 0;
    return m->scratch ? VL_OK : vl_seterr(VL_ERR_NOMEM, "%s: out of memory for convolution scratch", m->path);
}

/* Floats of im2col scratch run_conv needs for node n (shapes planned). */
static size_t conv_scratch_need(const vl_onnx *m, const node *n)
{
    const tensor *X = &m->T[n->in[0]], *W = &m->T[n->in[1]], *Y = &m->T[n->out[0]];
    int64_t g = attr_int(n, "group", 1), P = Y->shape[2] * Y->shape[3], K = W->shape[1] * W->shape[2] * W->shape[3];
    if (g == 1 && X->shape[0] > 1 && P < BATCHED_CONV_MAX_P) /* batched: columns + GEMM result */
        return (size_t)((K + W->shape[0]) * P * X->shape[0]);
    return (size_t)(K * P);
}

static vl_status infer(vl_onnx *m, node *n)
{
    tensor *X = &m->T[n->in[0]], *Y = &m->T[n->out[0]];
    int64_t s[MAXD];
    for (int k = 1; k < n->nin; k++)
        if (n->in[k] >= 0 && (n->op == OP_RESHAPE || n->op == OP_PAD || n->op == OP_SQUEEZE || n->op == OP_UNSQUEEZE ||
                              n->op == OP_SLICE || n->op == OP_RESIZE) && !m->T[n->in[k]].is_const)
            return plan_err(m, n, "shape/pads/axes input is not computable before running");
    n->folded = 0;
    switch (n->op) {
    case OP_CONV: {
        tensor *W = &m->T[n->in[1]];
        if (X->ndim != 4 || W->ndim != 4)
            return plan_err(m, n, "only 2-D convolution on 4-D tensors is supported");
        int64_t g = attr_int(n, "group", 1);
        if (g <= 0 || X->shape[1] != W->shape[1] * g || W->shape[0] % g)
            return plan_err(m, n, "input channels do not match the weights and groups");
        if (n->nin > 2 && n->in[2] >= 0 && (m->T[n->in[2]].is_int || m->T[n->in[2]].count != W->shape[0]))
            return plan_err(m, n, "bias size differs from the output channels");
        if (W->is_int || W->count == 0) return plan_err(m, n, "bad weights");
        win2d w;
        vl_status st = window(m, n, X->shape[2], X->shape[3], W->shape[2], W->shape[3], 0, &w);
        if (st) return st;
        int64_t o[4] = {X->shape[0], W->shape[0], w.Ho, w.Wo};
        set_shape(Y, 4, o);
        size_t need = conv_scratch_need(m, n);
        if (need > m->scratch_size) m->scratch_size = need;
        break;
    }
    case OP_MAXPOOL:
    case OP_AVGPOOL: {
        if (X->ndim != 4) return plan_err(m, n, "only 2-D pooling on 4-D tensors is supported");
        int64_t ks[2] = {1, 1};
        if (attr_ints(n, "kernel_shape", ks, 2) != 2) return plan_err(m, n, "needs a 2-D kernel_shape");
        win2d w;
        vl_status st = window(m, n, X->shape[2], X->shape[3], ks[0], ks[1], 1, &w);
        if (st) return st;
        int64_t o[4] = {X->shape[0], X->shape[1], w.Ho, w.Wo};
        set_shape(Y, 4, o);
        break;
    }
    case OP_RESIZE: {
        /* linear (bilinear) resizing of H and W: TF's ResizeBilinear, Keras UpSampling2D(interpolation='bilinear') */
        if (X->ndim != 4 || X->is_int) return plan_err(m, n, "only 4-D float tensors (resizing H and W)");
        if (X->shape[2] < 1 || X->shape[3] < 1) return plan_err(m, n, "empty input");
        char mb[32], cb[32];
        const char *mode = attr_str(n, "mode", mb, sizeof mb);
        const char *ct = attr_str(n, "coordinate_transformation_mode", cb, sizeof cb);
        if (!mode || strcmp(mode, "linear")) return plan_err(m, n, "only mode 'linear' is supported");
        if (ct && strcmp(ct, "half_pixel") && strcmp(ct, "align_corners") && strcmp(ct, "asymmetric"))
            return plan_err(m, n, "coordinate_transformation_mode must be half_pixel, align_corners or asymmetric");
        memcpy(s, X->shape, sizeof s);
        const tensor *Sz = n->nin > 3 && n->in[3] >= 0 ? &m->T[n->in[3]] : NULL;
        const tensor *Sc = n->nin > 2 && n->in[2] >= 0 ? &m->T[n->in[2]] : NULL;
        if (Sz && Sz->count > 0) {
            if (!Sz->is_int || Sz->count != 4) return plan_err(m, n, "sizes must be 4 integers");
            for (int d = 0; d < 4; d++) s[d] = Sz->ival[d];
        } else if (Sc && Sc->count > 0) {
            if (Sc->is_int || Sc->count != 4) return plan_err(m, n, "scales must be 4 floats");
            for (int d = 0; d < 4; d++) {
                double v = (double)X->shape[d] * Sc->data[d];
                if (!(v >= 0 && v <= 65536)) return plan_err(m, n, "bad scales");
                s[d] = (int64_t)floor(v);
            }
        } else
            return plan_err(m, n, "needs scales or sizes");
        if (s[0] != X->shape[0] || s[1] != X->shape[1]) return plan_err(m, n, "only H and W may be resized");
        if (s[2] < 1 || s[3] < 1 || s[2] > 65536 || s[3] > 65536) return plan_err(m, n, "bad output size");
        set_shape(Y, 4, s);
        size_t need = (size_t)(5 * (s[2] + s[3])); /* index tables (also while constant folding) */
        if (need > m->scratch_size) m->scratch_size = need;
        break;
    }
    case OP_REDUCEMEAN: {
        int mask = reduce_mask(m, n, X->ndim), nd = 0;
        if (mask < 0) return plan_err(m, n, "axes must be distinct constant integers within the rank");
        if (X->is_int) return plan_err(m, n, "integer input is not supported");
        for (int d = 0; d < X->ndim; d++)
            if (!(mask >> d & 1)) s[nd++] = X->shape[d];
            else if (attr_int(n, "keepdims", 1)) s[nd++] = 1;
        set_shape(Y, nd, s);
        break;
    }
    case OP_GAP: {
        if (X->ndim < 3) return plan_err(m, n, "needs at least 3 dimensions");
        memcpy(s, X->shape, sizeof s);
        for (int d = 2; d < X->ndim; d++) s[d] = 1;
        set_shape(Y, X->ndim, s);
        break;
    }
    case OP_BN: case OP_RELU: case OP_CLIP: case OP_SIGMOID: case OP_HARDSIGMOID: case OP_HARDSWISH:
    case OP_IDENTITY: case OP_DROPOUT: case OP_LRN: case OP_SOFTMAX:
        if (n->op == OP_BN && attr_int(n, "training_mode", 0))
            return plan_err(m, n, "training_mode=1 (batch statistics) is not supported");
        if (n->op == OP_BN) {
            if (X->ndim < 2 || n->nin < 5) return plan_err(m, n, "needs 5 inputs and at least 2 dimensions");
            for (int k = 1; k < 5; k++)
                if (n->in[k] < 0 || m->T[n->in[k]].is_int || m->T[n->in[k]].count != X->shape[1])
                    return plan_err(m, n, "parameter sizes differ from the channel count");
        }
        if ((n->op == OP_LRN || n->op == OP_BN) && X->ndim < 2) return plan_err(m, n, "needs at least 2 dimensions");
        if (n->op == OP_LRN && attr_int(n, "size", 1) <= 0) return plan_err(m, n, "size must be positive");
        if (n->op == OP_SOFTMAX) {
            int64_t ax = norm_axis(attr_int(n, "axis", m->opset >= 13 ? -1 : 1), X->ndim);
            if (ax < 0 || ax >= (X->ndim ? X->ndim : 1)) return plan_err(m, n, "axis out of range");
        }
        if (n->op == OP_CLIP)
            for (int k = 1; k < n->nin; k++)
                if (n->in[k] >= 0 && (m->T[n->in[k]].is_int || m->T[n->in[k]].count < 1))
                    return plan_err(m, n, "min/max must be float scalars");
        set_shape(Y, X->ndim, X->shape);
        if (X->is_int) {
            if (n->op != OP_IDENTITY) return plan_err(m, n, "integer tensors are only supported in shape arithmetic");
            return set_int_out(Y, X->ndim, X->shape, X->ival) ? VL_ERR_NOMEM : (n->folded = 1, VL_OK);
        }
        break;
    case OP_CAST: {
        int64_t to = attr_int(n, "to", 1);
        set_shape(Y, X->ndim, X->shape);
        if (X->is_int && (to == 7 || to == 6)) {
            n->folded = 1;
            return set_int_out(Y, X->ndim, X->shape, X->ival);
        }
        if (!X->is_int && to == 1) break;
        if (X->is_int && to == 1 && X->is_const) {
            Y->data = vl_alloc(sizeof(float) * (size_t)(X->count ? X->count : 1));
            for (int64_t i = 0; i < X->count; i++) Y->data[i] = (float)X->ival[i];
            Y->is_const = 1;
            n->folded = 1;
            return VL_OK;
        }
        return plan_err(m, n, "unsupported cast");
    }
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: {
        tensor *B = &m->T[n->in[1]];
        int nd = X->ndim > B->ndim ? X->ndim : B->ndim;
        for (int d = 0; d < nd; d++) {
            int da = d - (nd - X->ndim), db = d - (nd - B->ndim);
            int64_t a = da >= 0 ? X->shape[da] : 1, b = db >= 0 ? B->shape[db] : 1;
            if (a != b && a != 1 && b != 1) return plan_err(m, n, "operand shapes do not broadcast");
            s[d] = a == 1 ? b : a;
        }
        set_shape(Y, nd, s);
        if (X->is_int || B->is_int) {
            if (!(X->is_int && B->is_int && X->is_const && B->is_const && (X->count == Y->count || X->count == 1) &&
                  (B->count == Y->count || B->count == 1)))
                return plan_err(m, n, "unsupported integer arithmetic");
            int64_t v[64];
            if (Y->count > 64) return plan_err(m, n, "integer tensor too large");
            for (int64_t i = 0; i < Y->count; i++) {
                int64_t a = X->ival[X->count == 1 ? 0 : i], b = B->ival[B->count == 1 ? 0 : i];
                v[i] = n->op == OP_ADD ? a + b : n->op == OP_SUB ? a - b : n->op == OP_MUL ? a * b : (b ? a / b : 0);
            }
            n->folded = 1;
            return set_int_out(Y, nd, s, v);
        }
        break;
    }
    case OP_FLATTEN: {
        int64_t axis = norm_axis(attr_int(n, "axis", 1), X->ndim);
        if (axis < 0 || axis > X->ndim) return plan_err(m, n, "axis out of range");
        int64_t o[2] = {prod(X->shape, 0, (int)axis), prod(X->shape, (int)axis, X->ndim)};
        set_shape(Y, 2, o);
        break;
    }
    case OP_GEMM: {
        tensor *B = &m->T[n->in[1]];
        if (X->ndim != 2 || B->ndim != 2) return plan_err(m, n, "Gemm needs 2-D operands");
        int ta = (int)attr_int(n, "transA", 0), tb = (int)attr_int(n, "transB", 0);
        int64_t K1 = ta ? X->shape[0] : X->shape[1], K2 = tb ? B->shape[1] : B->shape[0];
        if (K1 != K2) return plan_err(m, n, "inner dimensions differ");
        int64_t o[2] = {ta ? X->shape[1] : X->shape[0], tb ? B->shape[0] : B->shape[1]};
        if (n->nin > 2 && n->in[2] >= 0) {
            const tensor *Cb = &m->T[n->in[2]];
            if (Cb->is_int || !(Cb->count == 1 || Cb->count == o[1] || Cb->count == o[0] * o[1] ||
                                (Cb->ndim == 2 && Cb->shape[0] == o[0] && Cb->shape[1] == 1)))
                return plan_err(m, n, "C does not broadcast to the output");
        }
        set_shape(Y, 2, o);
        break;
    }
    case OP_MATMUL: {
        tensor *B = &m->T[n->in[1]];
        if (X->ndim < 1 || B->ndim < 2 || X->shape[X->ndim - 1] != B->shape[B->ndim - 2])
            return plan_err(m, n, "inner dimensions differ");
        int nd = X->ndim > B->ndim ? X->ndim : B->ndim;
        for (int d = 0; d < nd - 2; d++) {
            int da = d - (nd - X->ndim), db = d - (nd - B->ndim);
            int64_t a = da >= 0 ? X->shape[da] : 1, b = db >= 0 ? B->shape[db] : 1;
            if (a != b && a != 1 && b != 1) return plan_err(m, n, "batch dimensions do not broadcast");
            if (a != b && (prod(X->shape, 0, X->ndim - 2) != 1 && prod(B->shape, 0, B->ndim - 2) != 1))
                return plan_err(m, n, "partially broadcast batch dimensions are not supported");
            s[d] = a == 1 ? b : a;
        }
        s[nd - 2] = X->ndim >= 2 ? X->shape[X->ndim - 2] : 1;
        s[nd - 1] = B->shape[B->ndim - 1];
        set_shape(Y, nd, s);
        break;
    }
    case OP_RESHAPE: {
        tensor *S = &m->T[n->in[1]];
        if (!S->is_int || S->count > MAXD) return plan_err(m, n, "shape must be an integer vector");
        int64_t known = 1, neg = -1;
        for (int64_t d = 0; d < S->count; d++) {
            int64_t v = S->ival[d];
            if (v == 0 && !attr_int(n, "allowzero", 0)) {
                if (d >= X->ndim) return plan_err(m, n, "0 refers to a missing dimension");
                v = X->shape[d];
            }
            if (v < -1 || (v == -1 && neg >= 0)) return plan_err(m, n, "invalid target shape");
            if (v == -1) { neg = d; v = 1; }
            s[d] = v;
            known *= v;
        }
        if (neg >= 0) s[neg] = known ? X->count / known : 0;
        if (prod(s, 0, (int)S->count) != X->count) return plan_err(m, n, "shape does not match the element count");
        set_shape(Y, (int)S->count, s);
        if (X->is_int) { n->folded = 1; return set_int_out(Y, Y->ndim, s, X->ival); }
        break;
    }
    case OP_SQUEEZE:
    case OP_UNSQUEEZE: {
        int64_t ax[MAXD];
        int na = get_axes(m, n, ax), nd = 0;
        if (n->op == OP_SQUEEZE) {
            for (int d = 0; d < X->ndim; d++) {
                int drop = 0;
                for (int k = 0; k < na; k++) drop |= norm_axis(ax[k], X->ndim) == d;
                if (na < 0) drop = X->shape[d] == 1;
                if (drop && X->shape[d] != 1) return plan_err(m, n, "a squeezed dimension is not 1");
                if (!drop) s[nd++] = X->shape[d];
            }
        } else {
            nd = X->ndim + (na > 0 ? na : 0);
            if (nd > MAXD) return plan_err(m, n, "too many dimensions");
            /* each axis within the output rank, once: otherwise fewer dimensions
             * are inserted than counted and the shape reads past the input's */
            int hit = 0;
            for (int k = 0; k < na; k++) {
                int64_t a = norm_axis(ax[k], nd);
                if (a < 0 || a >= nd || (hit >> a & 1)) return plan_err(m, n, "axes out of range or repeated");
                hit |= 1 << a;
            }
            int src = 0;
            for (int d = 0; d < nd; d++) {
                int ins = 0;
                for (int k = 0; k < na; k++) ins |= norm_axis(ax[k], nd) == d;
                s[d] = ins ? 1 : X->shape[src++];
            }
        }
        set_shape(Y, nd, s);
        if (X->is_int) { n->folded = 1; return set_int_out(Y, nd, s, X->ival); }
        break;
    }
    case OP_CONCAT: {
        int64_t axis = norm_axis(attr_int(n, "axis", 0), X->ndim), tot = 0;
        if (axis < 0 || axis >= X->ndim) return plan_err(m, n, "axis out of range");
        int allint = 1;
        for (int k = 0; k < n->nin; k++) {
            if (n->in[k] < 0) return plan_err(m, n, "an input is omitted");
            tensor *I = &m->T[n->in[k]];
            if (I->ndim != X->ndim || I->is_int != X->is_int) return plan_err(m, n, "inputs differ in rank or type");
            for (int d = 0; d < X->ndim; d++)
                if (d != axis && I->shape[d] != X->shape[d]) return plan_err(m, n, "inputs differ outside the axis");
            tot += I->shape[axis];
            allint &= I->is_int && I->is_const;
        }
        memcpy(s, X->shape, sizeof s);
        s[axis] = tot;
        set_shape(Y, X->ndim, s);
        if (X->is_int) {
            if (!allint || X->ndim != 1 || tot > 64) return plan_err(m, n, "unsupported integer concat");
            int64_t v[64], q = 0;
            for (int k = 0; k < n->nin; k++)
                for (int64_t i = 0; i < m->T[n->in[k]].count; i++) v[q++] = m->T[n->in[k]].ival[i];
            n->folded = 1;
            return set_int_out(Y, 1, s, v);
        }
        break;
    }
    case OP_TRANSPOSE: {
        int64_t perm[MAXD];
        if (attr_ints(n, "perm", perm, MAXD) != X->ndim)
            for (int d = 0; d < X->ndim; d++) perm[d] = X->ndim - 1 - d;
        int seen = 0;
        for (int d = 0; d < X->ndim; d++) {
            if (perm[d] < 0 || perm[d] >= X->ndim || (seen >> perm[d] & 1)) return plan_err(m, n, "invalid perm");
            seen |= 1 << perm[d];
        }
        for (int d = 0; d < X->ndim; d++) s[d] = X->shape[perm[d]];
        set_shape(Y, X->ndim, s);
        if (X->is_int) { /* shape arithmetic: small, evaluate now */
            if (X->count > 256) return plan_err(m, n, "integer tensor too large");
            int64_t v[256], xst[MAXD], q = 1;
            for (int d = X->ndim - 1; d >= 0; d--) { xst[d] = q; q *= X->shape[d]; }
            for (int64_t i = 0; i < Y->count; i++) {
                int64_t rem = i, ix = 0;
                for (int d = Y->ndim - 1; d >= 0; d--) { ix += (rem % s[d]) * xst[perm[d]]; rem /= s[d]; }
                v[i] = X->ival[ix];
            }
            n->folded = 1;
            return set_int_out(Y, X->ndim, s, v);
        }
        break;
    }
    case OP_CONSTANTOFSHAPE: {
        if (!X->is_int || !X->is_const || X->count > MAXD) return plan_err(m, n, "shape must be a constant integer vector");
        Onnx__AttributeProto *a = attr(n, "value");
        int isint = a && a->t && (a->t->data_type == 7 || a->t->data_type == 6);
        double val = 0.0;
        if (a && a->t) {
            tensor tmp;
            memset(&tmp, 0, sizeof tmp);
            vl_status st2 = load_tensor(m, a->t, &tmp);
            if (st2) return st2;
            val = tmp.is_int ? (double)tmp.ival[0] : tmp.data[0];
            free(tmp.ival);
            vl_free(tmp.data);
        }
        set_shape(Y, (int)X->count, X->ival);
        if (Y->count > ((int64_t)1 << 28)) return plan_err(m, n, "output too large");
        n->folded = 1;
        if (isint) {
            if (Y->count > 256) return plan_err(m, n, "integer tensor too large");
            int64_t v[256];
            for (int64_t i = 0; i < Y->count; i++) v[i] = (int64_t)val;
            return set_int_out(Y, Y->ndim, Y->shape, v);
        }
        Y->data = vl_alloc(sizeof(float) * (size_t)(Y->count ? Y->count : 1));
        if (!Y->data) return vl_seterr(VL_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < Y->count; i++) Y->data[i] = (float)val;
        Y->is_const = 1;
        return VL_OK;
    }
    case OP_PAD: {
        int64_t pads[2 * MAXD] = {0};
        if (n->nin > 1 && n->in[1] >= 0) {
            if (m->T[n->in[1]].count != 2 * X->ndim) return plan_err(m, n, "pads has the wrong length");
            for (int d = 0; d < 2 * X->ndim; d++) pads[d] = m->T[n->in[1]].ival[d];
        } else {
            attr_ints(n, "pads", pads, 2 * MAXD);
        }
        for (int d = 0; d < X->ndim; d++) {
            if (pads[d] < 0 || pads[d + X->ndim] < 0 || pads[d] > 65536 || pads[d + X->ndim] > 65536)
                return plan_err(m, n, "negative or huge pads are not supported");
            s[d] = X->shape[d] + pads[d] + pads[d + X->ndim];
        }
        if (n->nin > 2 && n->in[2] >= 0 && (m->T[n->in[2]].is_int || m->T[n->in[2]].count < 1))
            return plan_err(m, n, "constant value must be a float scalar");
        char pm[16];
        const char *pmode = attr_str(n, "mode", pm, sizeof pm);
        if (pmode && !strcmp(pmode, "reflect"))
            for (int d = 0; d < X->ndim; d++)
                if (pads[d] >= X->shape[d] || pads[d + X->ndim] >= X->shape[d])
                    return plan_err(m, n, "reflect pads must be smaller than the dimension");
        set_shape(Y, X->ndim, s);
        break;
    }
    case OP_SHAPE: {
        int64_t st = norm_axis(attr_int(n, "start", 0), X->ndim), en = attr_int(n, "end", X->ndim);
        en = en < 0 ? en + X->ndim : (en > X->ndim ? X->ndim : en);
        int64_t cnt = en > st ? en - st : 0;
        n->folded = 1;
        return set_int_out(Y, 1, &cnt, X->shape + st);
    }
    case OP_GATHER: {
        tensor *I = &m->T[n->in[1]];
        if (!X->is_int || !X->is_const || !I->is_int || !I->is_const || X->ndim != 1)
            return plan_err(m, n, "Gather is supported on constant integer vectors (shape arithmetic) only");
        int64_t v[64];
        if (I->count > 64) return plan_err(m, n, "too many indices");
        for (int64_t i = 0; i < I->count; i++) {
            int64_t k = I->ival[i] < 0 ? I->ival[i] + X->count : I->ival[i];
            if (k < 0 || k >= X->count) return plan_err(m, n, "index out of range");
            v[i] = X->ival[k];
        }
        n->folded = 1;
        return set_int_out(Y, I->ndim, I->shape, v);
    }
    case OP_SLICE: {
        int64_t st0[MAXD], step[MAXD];
        if (slice_params(m, n, X, st0, step, s))
            return plan_err(m, n, "starts, ends, axes and steps must be constant integers within the rank, steps not 0");
        if (!X->is_int) { /* float data (ShuffleNet's channel split): run by exec_node */
            set_shape(Y, X->ndim, s);
            break;
        }
        if (X->count > 256) return plan_err(m, n, "integer tensor too large");
        int64_t v[256], xst[MAXD], q = 1, cnt = prod(s, 0, X->ndim);
        for (int d = X->ndim - 1; d >= 0; d--) { xst[d] = q; q *= X->shape[d]; }
        for (int64_t i = 0; i < cnt; i++) {
            int64_t rem = i, ix = 0;
            for (int d = X->ndim - 1; d >= 0; d--) { ix += (st0[d] + (rem % s[d]) * step[d]) * xst[d]; rem /= s[d]; }
            v[i] = X->ival[ix];
        }
        n->folded = 1;
        return set_int_out(Y, X->ndim, s, v);
    }
    case OP_LSTM:
    case OP_GRU: {
        const int lstm = n->op == OP_LSTM, ng = lstm ? 4 : 3;
        const tensor *W = &m->T[n->in[1]], *R = &m->T[n->in[2]];
        char db[32];
        const char *dir = attr_str(n, "direction", db, sizeof db);
        if (dir && strcmp(dir, "forward") && strcmp(dir, "reverse") && strcmp(dir, "bidirectional"))
            return plan_err(m, n, "direction must be forward, reverse or bidirectional");
        const int64_t H = attr_int(n, "hidden_size", 0), dirs = dir && !strcmp(dir, "bidirectional") ? 2 : 1;
        if (attr_int(n, "layout", 0) != 0) return plan_err(m, n, "only layout 0 ([time, batch, input]) is supported");
        if (attr(n, "activations") || attr(n, "activation_alpha") || attr(n, "activation_beta"))
            return plan_err(m, n, "only the default activations are supported");
        if (attr(n, "clip")) return plan_err(m, n, "clip is not supported");
        if (lstm && attr_int(n, "input_forget", 0)) return plan_err(m, n, "input_forget is not supported");
        if (!lstm && attr_int(n, "linear_before_reset", 0) != 1)
            return plan_err(m, n, "only linear_before_reset = 1 (PyTorch's GRU) is supported");
        if (n->nout > (lstm ? 3 : 2)) return plan_err(m, n, "too many outputs");
        if (X->is_int || X->is_const || X->ndim != 3)
            return plan_err(m, n, "X must be a computed 3-D float tensor [time, batch, input]");
        const int64_t T = X->shape[0], Bn = X->shape[1], I = X->shape[2];
        if (H <= 0 || H > 65536 || W->is_int || R->is_int || !W->is_const || !R->is_const || W->ndim != 3 ||
            R->ndim != 3 || W->shape[0] != dirs || W->shape[1] != ng * H || W->shape[2] != I || R->shape[0] != dirs ||
            R->shape[1] != ng * H || R->shape[2] != H)
            return plan_err(m, n, "W and R must be constants shaped for hidden_size, the direction and the input");
        if (n->nin > 3 && n->in[3] >= 0 &&
            (m->T[n->in[3]].is_int || !m->T[n->in[3]].is_const || m->T[n->in[3]].count != dirs * 2 * ng * H))
            return plan_err(m, n, "B must be a constant [directions, 2 * gates * hidden_size]");
        if (n->nin > 4 && n->in[4] >= 0) {
            const tensor *L = &m->T[n->in[4]];
            if (!L->is_int || !L->is_const || L->count != Bn)
                return plan_err(m, n, "sequence_lens must be the int32 [batch] graph input");
            for (int64_t b = 0; b < Bn; b++)
                if (L->ival[b] < 1 || L->ival[b] > T) return plan_err(m, n, "a sequence length is outside 1..time");
        }
        for (int k = 5; k < n->nin; k++)
            if (n->in[k] >= 0) return plan_err(m, n, "initial states and peepholes are not supported");
        const int64_t y[4] = {T, dirs, Bn, H}, yh[3] = {dirs, Bn, H};
        set_shape(Y, 4, y);
        for (int k = 1; k < n->nout; k++) set_shape(&m->T[n->out[k]], 3, yh);
        break;
    }
    case OP_SUM:
        for (int k = 0; k < n->nin; k++) {
            const tensor *I = n->in[k] >= 0 ? &m->T[n->in[k]] : NULL;
            if (!I || I->is_int || I->ndim != X->ndim || memcmp(I->shape, X->shape, sizeof(int64_t) * (size_t)X->ndim))
                return plan_err(m, n, "only float inputs of one shape are supported");
        }
        set_shape(Y, X->ndim, X->shape);
        break;
    case OP_REDUCESUM: {
        int red[MAXD], nd = 0;
        if (X->is_int) return plan_err(m, n, "integer tensors are only supported in shape arithmetic");
        if (attr_int(n, "noop_with_empty_axes", 0)) return plan_err(m, n, "noop_with_empty_axes is not supported");
        if (reduce_dims(m, n, X->ndim, red)) return plan_err(m, n, "axes must be constant integers within the rank");
        const int keep = (int)attr_int(n, "keepdims", 1);
        for (int d = 0; d < X->ndim; d++)
            if (!red[d] || keep) s[nd++] = red[d] ? 1 : X->shape[d];
        set_shape(Y, nd, s);
        break;
    }
    case OP_RANGE: {
        const tensor *A = X, *Bl = &m->T[n->in[1]], *D = &m->T[n->in[2]];
        if (!A->is_int || !Bl->is_int || !D->is_int || !A->is_const || !Bl->is_const || !D->is_const ||
            A->count != 1 || Bl->count != 1 || D->count != 1 || D->ival[0] == 0)
            return plan_err(m, n, "Range is supported on integer scalars (shape arithmetic) only");
        const int64_t st = A->ival[0], dl = D->ival[0], span = Bl->ival[0] - st;
        int64_t cnt = span / dl + (span % dl != 0 && (span > 0) == (dl > 0));
        cnt = cnt > 0 ? cnt : 0;
        if (cnt > (1 << 24)) return plan_err(m, n, "range too long");
        int64_t *v = malloc(sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
        if (!v) return vl_seterr(VL_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < cnt; i++) v[i] = st + i * dl;
        vl_status rs = set_int_out(Y, 1, &cnt, v);
        free(v);
        n->folded = 1;
        return rs;
    }
    case OP_LESS: {
        const tensor *Bv = &m->T[n->in[1]];
        if (!X->is_int || !Bv->is_int || !X->is_const || !Bv->is_const)
            return plan_err(m, n, "Less is supported on integer tensors (shape arithmetic) only");
        int nd = X->ndim > Bv->ndim ? X->ndim : Bv->ndim;
        int64_t as[MAXD], bs[MAXD];
        for (int d = 0; d < nd; d++) {
            int da = d - (nd - X->ndim), dbi = d - (nd - Bv->ndim);
            as[d] = da >= 0 ? X->shape[da] : 1;
            bs[d] = dbi >= 0 ? Bv->shape[dbi] : 1;
            if (as[d] != bs[d] && as[d] != 1 && bs[d] != 1) return plan_err(m, n, "operand shapes do not broadcast");
            s[d] = as[d] == 1 ? bs[d] : as[d];
        }
        int64_t cnt = prod(s, 0, nd);
        if (cnt > (1 << 24)) return plan_err(m, n, "integer tensor too large");
        int64_t *v = malloc(sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
        if (!v) return vl_seterr(VL_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < cnt; i++) {
            int64_t rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
            for (int d = nd - 1; d >= 0; d--) {
                int64_t c = rem % s[d];
                rem /= s[d];
                ia += (as[d] == 1 ? 0 : c) * sa;
                ib += (bs[d] == 1 ? 0 : c) * sb;
                sa *= as[d];
                sb *= bs[d];
            }
            v[i] = X->ival[ia] < Bv->ival[ib];
        }
        vl_status rs = set_int_out(Y, nd, s, v);
        free(v);
        n->folded = 1;
        return rs;
    }
    default:
        return plan_err(m, n, "cannot infer shape");
    }
    if (Y->count > ((int64_t)1 << 28)) /* 1 GiB of floats: a corrupt shape, or a batch far too large */
        return plan_err(m, n, "output too large (over 2^28 values); use smaller batches");
    /* Generic constant folding: every float input known -> compute now. */
    int allconst = 1;
    for (int k = 0; k < n->nin; k++)
        if (n->in[k] >= 0 && !m->T[n->in[k]].is_const) allconst = 0;
    if (allconst) {
        vl_free(Y->is_const ? Y->data : NULL);
        Y->data = vl_alloc(sizeof(float) * (size_t)(Y->count ? Y->count : 1));
        if (!Y->data) return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
        vl_status sst = ensure_scratch(m);
        if (sst) return sst;
        exec_node(m, n);
        Y->is_const = 1;
        n->folded = 1;
    }
    return VL_OK;
}

static void free_plan(vl_onnx *m)
{
#ifdef VL_BLAS_DNNL
    dn_free_plan(m);
#endif
    /* The blocks become spares for the next plan: fresh pages cost more than
     * the computation on them (11-15 us each here). */
    size_t nsp = (size_t)(m->nspare + m->nblocks + 1);
    float **sp = realloc(m->spare, sizeof(float *) * nsp);
    size_t *ss = sp ? realloc(m->spare_size, sizeof(size_t) * nsp) : NULL;
    if (sp) m->spare = sp;
    if (ss) m->spare_size = ss;
    for (int b = 0; b < m->nblocks; b++) {
        if (sp && ss) {
            m->spare[m->nspare] = m->blocks[b];
            m->spare_size[m->nspare++] = m->block_size[b];
        } else {
            vl_free(m->blocks[b]);
        }
    }
    free(m->blocks);
    free(m->block_size);
    m->blocks = NULL;
    m->block_size = NULL;
    m->nblocks = 0;
    vl_free(m->scratch);
    m->scratch = NULL;
    m->scratch_size = m->scratch_cap = 0;
    /* Drop values computed by the previous plan (they depend on the input shape). */
    for (int j = 0; j < m->nn; j++)
        if (!m->N[j].removed && m->N[j].folded)
            for (int k = 0; k < m->N[j].nout; k++) {
                tensor *t = &m->T[m->N[j].out[k]];
                if (t->is_const) vl_free(t->data);
                free(t->ival);
                t->data = NULL;
                t->ival = NULL;
                t->is_const = t->is_int = 0;
            }
    for (int i = 0; i < m->nt; i++)
        if (!m->T[i].is_const)
            m->T[i].data = NULL;
    m->planned_ndim = 0;
}

/* The activation arena while planning: which blocks are in use. */
typedef struct {
    int *busy;
    int cap;
} arena;

/* The smallest free block of at least need floats, or a new one; -1 when out
 * of memory. The caller marks it busy. */
static int arena_get(vl_onnx *m, arena *a, size_t need)
{
    int best = -1;
    for (int b = 0; b < m->nblocks; b++)
        if (!a->busy[b] && m->block_size[b] >= need && (best < 0 || m->block_size[b] < m->block_size[best]))
            best = b;
    if (best >= 0)
        return best;
    if (m->nblocks >= a->cap) {
        int cap = a->cap ? a->cap * 2 : 64;
        int *nb = realloc(a->busy, sizeof(int) * (size_t)cap);
        if (nb) a->busy = nb;
        float **bl = realloc(m->blocks, sizeof(float *) * (size_t)cap);
        if (bl) m->blocks = bl;
        size_t *bs = realloc(m->block_size, sizeof(size_t) * (size_t)cap);
        if (bs) m->block_size = bs;
        if (!nb || !bl || !bs) return -1;
        a->cap = cap;
    }
    int sp = -1;
    for (int b = 0; b < m->nspare; b++)
        if (m->spare_size[b] >= need && (sp < 0 || m->spare_size[b] < m->spare_size[sp]))
            sp = b;
    if (sp >= 0) {
        m->blocks[m->nblocks] = m->spare[sp];
        m->block_size[m->nblocks] = m->spare_size[sp];
        m->spare[sp] = m->spare[--m->nspare];
        m->spare_size[sp] = m->spare_size[m->nspare];
    } else {
        m->blocks[m->nblocks] = vl_alloc(sizeof(float) * need);
        if (!m->blocks[m->nblocks]) return -1;
        m->block_size[m->nblocks] = need;
    }
    a->busy[m->nblocks] = 0;
    return m->nblocks++;
}

/* Tensor ti is dead: its blocks go back to the arena. */
static void arena_release(vl_onnx *m, arena *a, int ti)
{
    if (m->T[ti].buf >= 0) a->busy[m->T[ti].buf] = 0;
#ifdef VL_BLAS_DNNL
    if (m->dt && m->dt[ti].bufi >= 0) a->busy[m->dt[ti].bufi] = 0;
#else
    (void)m;
#endif
}

static int dn_on(const vl_onnx *m, int j)
{
#ifdef VL_BLAS_DNNL
    return m->dn && m->dn[j].on;
#else
    (void)m, (void)j;
    return 0;
#endif
}

static void free_spares(vl_onnx *m)
{
    for (int b = 0; b < m->nspare; b++)
        vl_free(m->spare[b]);
    free(m->spare);
    free(m->spare_size);
    m->spare = NULL;
    m->spare_size = NULL;
    m->nspare = 0;
}

static vl_status plan_shape(vl_onnx *m, int ndim, const int64_t *shape, int tap);

/* Plans for this input shape and tap unless already planned. */
static vl_status plan(vl_onnx *m, int ndim, const int64_t *shape, int tap)
{
    if (m->planned_ndim == ndim && !memcmp(m->planned_shape, shape, sizeof(int64_t) * (size_t)ndim) &&
        m->planned_tap == tap)
        return VL_OK;
    vl_status st = plan_shape(m, ndim, shape, tap);
    free_spares(m);
    return st;
}

static vl_status plan_shape(vl_onnx *m, int ndim, const int64_t *shape, int tap)
{
    free_plan(m);
    tensor *in = &m->T[m->input];
    if (m->decl_nd && m->decl_nd != ndim)
        return vl_seterr(VL_ERR_SHAPE, "%s: input '%s' has %d dimensions, the model expects %d", m->path, in->name, ndim,
                         m->decl_nd);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] <= 0)
            return vl_seterr(VL_ERR_SHAPE, "%s: input dimension %d is %lld", m->path, d, (long long)shape[d]);
        if (m->decl_nd && m->decl_shape[d] > 0 && m->decl_shape[d] != shape[d] && d > 0)
            return vl_seterr(VL_ERR_SHAPE, "%s: input '%s' dimension %d is %lld, the model expects %lld", m->path,
                             in->name, d, (long long)shape[d], (long long)m->decl_shape[d]);
    }
    set_shape(in, ndim, shape);
    for (int j = 0; j < m->nn; j++) {
        m->N[j].pout = m->N[j].out[0];
        m->N[j].pres = -1;
        m->N[j].pinplace = 0;
    }
    vl_status st = VL_OK;
    for (int j = 0; j < m->nn && !st; j++)
        if (!m->N[j].removed)
            st = infer(m, &m->N[j]);
    if (st) {
        free_plan(m);
        return st;
    }

    /* Liveness: nodes the tap depends on. */
    for (int j = 0; j < m->nn; j++) m->N[j].live = 0;
    int *stack = malloc(sizeof(int) * (size_t)(m->nn + 1)), sp = 0;
    if (!stack) return vl_seterr(VL_ERR_NOMEM, "out of memory");
    /* Marked when pushed, so each node is pushed once and the stack (nn
     * entries) cannot overflow however many consumers a tensor has. */
#define PUSH_LIVE(p)                                                                  \
    do {                                                                              \
        node *q_ = &m->N[p];                                                          \
        if (!q_->live && !q_->removed && !q_->folded) { q_->live = 1; stack[sp++] = (p); } \
    } while (0)
    if (m->T[tap].producer >= 0) PUSH_LIVE(m->T[tap].producer);
    while (sp) {
        node *n = &m->N[stack[--sp]];
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0 && m->T[n->in[k]].producer >= 0 && !m->T[n->in[k]].is_const)
                PUSH_LIVE(m->T[n->in[k]].producer);
    }
#undef PUSH_LIVE
    free(stack);
#ifdef VL_BLAS_DNNL
    if (dn_decide(m, tap)) {
        free_plan(m);
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    }
#endif
    /* im2col scratch for the convolutions the portable kernels run */
    m->scratch_size = 0;
    for (int j = 0; j < m->nn; j++)
        if (m->N[j].live && m->N[j].op == OP_CONV && !dn_on(m, j)) {
            size_t need = conv_scratch_need(m, &m->N[j]);
            if (need > m->scratch_size) m->scratch_size = need;
        } else if (m->N[j].live && (m->N[j].op == OP_LSTM || m->N[j].op == OP_GRU)) { /* gates, h, c */
            const tensor *R = &m->T[m->N[j].in[2]];
            size_t need = (size_t)(R->shape[1] + 2 * R->shape[2]);
            if (need > m->scratch_size) m->scratch_size = need;
        } else if (m->N[j].live && m->N[j].op == OP_RESIZE) { /* its index tables */
            const tensor *Y = &m->T[m->N[j].out[0]];
            size_t need = (size_t)(5 * (Y->shape[2] + Y->shape[3]));
            if (need > m->scratch_size) m->scratch_size = need;
        }
    /* Buffers: first fit among free blocks, freed after each tensor's last use. */
    for (int i = 0; i < m->nt; i++) {
        m->T[i].last_use = -1;
        m->T[i].buf = -1;
    }
    for (int j = 0; j < m->nn; j++)
        if (m->N[j].live) {
            for (int k = 0; k < m->N[j].nin; k++)
                if (m->N[j].in[k] >= 0) m->T[m->N[j].in[k]].last_use = j;
            if (m->N[j].pres >= 0) m->T[m->N[j].pres].last_use = j;
        }
    m->T[tap].last_use = m->nn; /* the tap outlives the run */
    arena a = {0};
    for (int j = 0; j < m->nn && !st; j++) {
        node *n = &m->N[j];
        if (!n->live) continue;
#ifdef VL_BLAS_DNNL
        dn_node *d = m->dn ? &m->dn[j] : NULL;
        for (int k = 0; d && d->on && k < d->nin && !st; k++)
            if (d->in[k].reorder) {
                d->in[k].bufi = arena_get(m, &a, dn_floats(dnnl_memory_desc_get_size(&d->in[k].md)));
                if (d->in[k].bufi < 0) st = VL_ERR_NOMEM;
                else a.busy[d->in[k].bufi] = 1, d->in[k].buf = m->blocks[d->in[k].bufi];
            }
#endif
        for (int k = 0; k < n->nout && !st; k++) {
            int ti = k ? n->out[k] : n->pout;
            tensor *t = &m->T[ti];
            int from = -1; /* block taken over from the residual */
#ifdef VL_BLAS_DNNL
            if (k == 0 && n->pres >= 0 && m->T[n->pres].last_use == j && n->pres != m->input && n->pres != n->in[0]) {
                dn_tensor *r = &m->dt[n->pres];
                dnnl_memory_desc_t rmd = dn_md_of(m, n->pres);
                int rb = r->blocked ? r->bufi : m->T[n->pres].buf;
                if (rb >= 0 && dnnl_memory_desc_equal(&rmd, &m->dt[ti].md)) {
                    n->pinplace = 1;
                    from = rb;
                    if (r->blocked) r->bufi = -1;
                    else m->T[n->pres].buf = -1;
                }
            }
            if (m->dt && m->dt[ti].blocked) {
                dn_tensor *o = &m->dt[ti];
                o->bufi = from >= 0 ? from : arena_get(m, &a, o->bsize);
                if (o->bufi < 0) { st = VL_ERR_NOMEM; break; }
                a.busy[o->bufi] = 1;
                o->buf = m->blocks[o->bufi];
                if (!o->need_plain) continue;
                from = -1;
            }
#endif
            t->buf = from >= 0 ? from : arena_get(m, &a, (size_t)(t->count ? t->count : 1));
            if (t->buf < 0) { st = VL_ERR_NOMEM; break; }
            a.busy[t->buf] = 1;
            t->data = m->blocks[t->buf];
        }
        if (st) break;
        for (int k = 0; k <= n->nin; k++) {
            int ti = k < n->nin ? n->in[k] : n->pres;
            if (ti >= 0 && m->T[ti].last_use == j) arena_release(m, &a, ti);
        }
#ifdef VL_BLAS_DNNL
        for (int k = 0; d && d->on && k < d->nin; k++)
            if (d->in[k].bufi >= 0) a.busy[d->in[k].bufi] = 0;
#endif
        /* Outputs nobody reads (e.g. Dropout's mask) are free at once. */
        for (int k = 0; k < n->nout; k++) {
            int ti = k ? n->out[k] : n->pout;
            if (m->T[ti].last_use < 0) arena_release(m, &a, ti);
        }
    }
    free(a.busy);
    if (st == VL_ERR_NOMEM)
        st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory for activations", m->path);
#ifdef VL_BLAS_DNNL
    if (!st)
        st = dn_bind(m);
#endif
    if (!st)
        st = ensure_scratch(m);
    if (st) {
        free_plan(m);
        return st;
    }
    m->planned_ndim = ndim;
    memcpy(m->planned_shape, shape, sizeof(int64_t) * (size_t)ndim);
    m->planned_tap = tap;
    return VL_OK;
}

/* The lengths for this run into the sequence_lens input (default: the whole
 * time axis, input dimension 1). They are constants to the plan (the masks
 * built from them fold), so new lengths mean a new plan. */
static vl_status set_lens(vl_onnx *m, int ndim, const int64_t *shape, const int32_t *lens)
{
    if (m->lens < 0) {
        if (lens)
            return vl_seterr(VL_ERR_ARG, "%s: the model has no sequence_lens input", m->path);
        return VL_OK;
    }
    int64_t B = shape[0], T = ndim > 1 ? shape[1] : 1;
    if (B < 1 || B > (1 << 24))
        return vl_seterr(VL_ERR_SHAPE, "%s: batch of %lld", m->path, (long long)B);
    int64_t *v = malloc(sizeof(int64_t) * (size_t)B);
    if (!v)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < B; b++) {
        v[b] = lens ? lens[b] : T;
        if (v[b] < 1) {
            free(v);
            return vl_seterr(VL_ERR_ARG, "%s: %s[%lld] is %lld: lengths start at 1", m->path, m->T[m->lens].name,
                             (long long)b, (long long)lens[b]);
        }
    }
    tensor *t = &m->T[m->lens];
    if (t->ival && t->count == B && !memcmp(t->ival, v, sizeof(int64_t) * (size_t)B)) {
        free(v);
        return VL_OK;
    }
    free(t->ival);
    t->ival = v;
    set_shape(t, 1, &B);
    t->is_int = t->is_const = 1;
    m->planned_ndim = 0; /* plan again */
    return VL_OK;
}

vl_status vl_onnx_run(vl_onnx *m, const float *input, int ndim, const int64_t *shape, const char *tapname,
                      const float **out, int *out_ndim, int64_t *out_shape)
{
    return vl_onnx_run_lens(m, input, ndim, shape, NULL, tapname, out, out_ndim, out_shape);
}

vl_status vl_onnx_run_lens(vl_onnx *m, const float *input, int ndim, const int64_t *shape, const int32_t *lens,
                           const char *tapname, const float **out, int *out_ndim, int64_t *out_shape)
{
    int tap = tapname ? find_tensor(m, tapname) : m->output;
    if (tap < 0)
        return vl_seterr(VL_ERR_ARG, "%s: no tensor named '%s' (vidlstm info lists them)", m->path, tapname);
    if (m->T[tap].producer < 0 && !m->T[tap].is_const && tap != m->input)
        return vl_seterr(VL_ERR_ARG, "%s: tensor '%s' was folded into the next operator at load time and is not "
                         "available; tap its output instead", m->path, tapname);
    if (ndim < 1 || ndim > MAXD)
        return vl_seterr(VL_ERR_SHAPE, "%s: input has %d dimensions", m->path, ndim);
    vl_status st = set_lens(m, ndim, shape, lens);
    if (st)
        return st;
    st = plan(m, ndim, shape, tap);
    if (st)
        return st;
    m->T[m->input].data = (float *)input; /* read only */
#ifdef VL_BLAS_DNNL
    if (m->dt && m->dt[m->input].mem && dnnl_memory_set_data_handle(m->dt[m->input].mem, (void *)input) != dnnl_success)
        return vl_seterr(VL_ERR_IO, "%s: oneDNN: cannot set the input", m->path);
#endif
    for (int j = 0; j < m->nn && !st; j++) {
        if (!m->N[j].live) continue;
#ifdef VL_BLAS_DNNL
        if (dn_on(m, j)) {
            st = dn_exec(m, j);
            continue;
        }
#endif
        exec_node(m, &m->N[j]);
    }
#ifdef VL_BLAS_DNNL
    if (!st && m->strm && dnnl_stream_wait(m->strm) != dnnl_success)
        st = vl_seterr(VL_ERR_IO, "%s: oneDNN: stream failed", m->path);
#endif
    if (st)
        return st;
    const tensor *t = &m->T[tap];
    if (t->is_int)
        return vl_seterr(VL_ERR_ARG, "%s: tensor '%s' holds integers (shape arithmetic), not features", m->path, tapname);
    *out = t->data;
    *out_ndim = t->ndim;
    memcpy(out_shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    return VL_OK;
}

vl_status vl_onnx_describe(vl_onnx *m, FILE *f)
{
    tensor *in = &m->T[m->input];
    int64_t shape[MAXD];
    int nd = m->decl_nd ? m->decl_nd : 4;
    for (int d = 0; d < nd; d++)
        shape[d] = (m->decl_nd && m->decl_shape[d] > 0) ? m->decl_shape[d] : (d == 1 && nd == 4 ? 3 : 224);
    shape[0] = 1;
    vl_status st = set_lens(m, nd, shape, NULL);
    if (!st)
        st = plan(m, nd, shape, m->output);
    if (st)
        return st;
    fprintf(f, "model: %s\nopset: %lld\n", m->path, (long long)m->opset);
    fprintf(f, "input: %s [", in->name);
    for (int d = 0; d < m->decl_nd; d++) {
        if (m->decl_shape[d] > 0) fprintf(f, d ? ", %lld" : "%lld", (long long)m->decl_shape[d]);
        else fprintf(f, d ? ", ?" : "?");
    }
    fprintf(f, "]\n");
    if (m->lens >= 0)
        fprintf(f, "input: %s [?] int32 sequence lengths (infer: the whole time axis)\n", m->T[m->lens].name);
    fprintf(f, "output: %s\ndefault feature tensor: %s\n", m->T[m->output].name, vl_onnx_default_tap(m));
    int counts[OP_COUNT] = {0};
    for (size_t i = 0; i < m->proto->graph->n_node; i++)
        counts[op_of(m->proto->graph->node[i]->op_type)]++;
    fprintf(f, "operators:");
    for (int k = 0; k < OP_COUNT; k++)
        if (counts[k]) fprintf(f, " %s x%d", op_names[k], counts[k]);
    fprintf(f, "\ntensors (shapes for one %lldx%lldx%lld input; * = folded into the next operator at load time):\n",
            (long long)(nd > 1 ? shape[1] : 1), (long long)(nd > 2 ? shape[2] : 1), (long long)(nd > 3 ? shape[3] : 1));
    for (int j = 0; j < m->nn; j++) {
        node *n = &m->N[j];
        if (n->op == OP_CONSTANT) continue;
        for (int k = 0; k < n->nout; k++) {
            tensor *t = &m->T[n->out[k]];
            if (t->is_int || t->is_const) continue; /* shape arithmetic, folded constants */
            if (n->removed && t->producer >= 0)
                continue; /* listed under the node that now computes it */
            fprintf(f, "  %-40s %-20s", t->name, str(n->proto->op_type));
            if (t->producer < 0) {
                fprintf(f, " * (folded away)\n");
                continue;
            }
            fprintf(f, " [");
            for (int d = 0; d < t->ndim; d++) fprintf(f, d ? ", %lld" : "%lld", (long long)t->shape[d]);
            fprintf(f, "]\n");
        }
    }
    return VL_OK;
}

/* ---- precision ------------------------------------------------------------------------------ */

static const char *const prec_names[] = {"fp32", "bf16", "int8"};

vl_status vl_precision_parse(const char *s, vl_precision *out)
{
    for (int p = 0; p < 3; p++)
        if (s && !strcmp(s, prec_names[p])) {
            *out = (vl_precision)p;
            return VL_OK;
        }
    return vl_seterr(VL_ERR_ARG, "precision '%s': expected fp32, bf16 or int8", s ? s : "");
}

const char *vl_precision_name(vl_precision p)
{
    return (unsigned)p < 3 ? prec_names[p] : "?";
}

/* 1 when oneDNN can run bf16 convolutions natively here (AVX512-BF16 or
 * AMX); its effective ISA already honours ONEDNN_MAX_CPU_ISA. */
static int bf16_native(void)
{
#ifdef VL_BLAS_DNNL
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16;
#else
    return 0;
#endif
}

vl_status vl_onnx_set_precision(vl_onnx *m, vl_precision p)
{
    m->prec_note[0] = 0;
    if (p == VL_PREC_INT8)
        return vl_seterr(VL_ERR_UNSUPPORTED, "%s: precision int8 is not offered yet: it needs calibrated "
                         "activation scales, which this version does not have (docs/precision.md); use bf16 or fp32",
                         m->path);
    if (p != VL_PREC_FP32 && p != VL_PREC_BF16)
        return vl_seterr(VL_ERR_ARG, "%s: unknown precision %d", m->path, (int)p);
    if (p == VL_PREC_BF16 && !bf16_native()) {
#ifdef VL_BLAS_DNNL
        snprintf(m->prec_note, sizeof m->prec_note, "%.200s: this CPU has no bfloat16 instructions (AVX512-BF16 or AMX) "
                 "that oneDNN may use: running in fp32", m->path);
#else
        snprintf(m->prec_note, sizeof m->prec_note, "%.200s: bfloat16 convolutions need oneDNN, and this build has none: running in fp32",
                 m->path);
#endif
        p = VL_PREC_FP32;
    }
    if (p != m->prec) {
        m->prec = p;
        m->planned_ndim = 0; /* plan again, in the new precision */
    }
    return VL_OK;
}

vl_precision vl_onnx_precision(const vl_onnx *m) { return m->prec; }

const char *vl_onnx_precision_note(const vl_onnx *m) { return m->prec_note[0] ? m->prec_note : NULL; }
