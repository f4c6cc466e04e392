/* The neutral graph: attributes, tensors, queries, freeing, precision. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/onnx/graph.h"
#include "core/mem.h"

/* ---- attributes ---------------------------------------------------------------------- */

const vl_attr *attr(const node *n, const char *name)
{
    for (int i = 0; i < n->nattr; i++)
        if (!strcmp(n->attr[i].name, name))
            return &n->attr[i];
    return NULL;
}

int64_t attr_int(const node *n, const char *name, int64_t def)
{
    const vl_attr *a = attr(n, name);
    return a ? a->i : def;
}

float attr_float(const node *n, const char *name, float def)
{
    const vl_attr *a = attr(n, name);
    return a ? a->f : def;
}

int attr_ints(const node *n, const char *name, int64_t *v, int maxn)
{
    const vl_attr *a = attr(n, name);
    if (!a)
        return -1;
    int k = (int)a->nints < maxn ? (int)a->nints : maxn;
    for (int i = 0; i < k; i++)
        v[i] = a->ints[i];
    return (int)a->nints;
}

const char *attr_str(const node *n, const char *name, char *buf, size_t len)
{
    const vl_attr *a = attr(n, name);
    if (!a || !a->s)
        return NULL;
    size_t k = a->slen < len - 1 ? a->slen : len - 1;
    memcpy(buf, a->s, k);
    buf[k] = 0;
    return buf;
}

static vl_attr *attr_add(node *n, const char *name)
{
    for (int i = 0; i < n->nattr; i++)
        if (!strcmp(n->attr[i].name, name))
            return &n->attr[i];
    vl_attr *a = realloc(n->attr, sizeof(vl_attr) * (size_t)(n->nattr + 1));
    if (!a)
        return NULL;
    n->attr = a;
    a = &n->attr[n->nattr];
    memset(a, 0, sizeof *a);
    if (!(a->name = strdup(name)))
        return NULL;
    n->nattr++;
    return a;
}

int attr_set_ints(node *n, const char *name, const int64_t *v, int cnt)
{
    vl_attr *a = attr_add(n, name);
    int64_t *w = a ? malloc(sizeof(int64_t) * (size_t)(cnt > 0 ? cnt : 1)) : NULL;
    if (!w)
        return -1;
    memcpy(w, v, sizeof(int64_t) * (size_t)cnt);
    free(a->ints);
    a->ints = w;
    a->nints = (size_t)cnt;
    a->type = VA_INTS;
    return 0;
}

int attr_set_int(node *n, const char *name, int64_t v)
{
    vl_attr *a = attr_add(n, name);
    if (!a)
        return -1;
    a->i = v;
    a->type = VA_INT;
    return 0;
}

/* ---- tensors ----------------------------------------------------------------------------- */

void free_tensor(tensor *t)
{
    free(t->name);
    if (t->is_const)
        vl_free(t->data);
    free(t->ival);
}

int find_tensor(const vl_onnx *m, const char *name)
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
int new_tensor(vl_onnx *m, const char *name)
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
int add_tensor(vl_onnx *m, const char *name)
{
    int i = find_tensor(m, name);
    return i >= 0 ? i : new_tensor(m, name);
}

/* Only readers of tensor i, excluding removed nodes. */
int consumers(const vl_onnx *m, int ti, int *first)
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

void vl_onnx_free(vl_onnx *m)
{
    if (!m)
        return;
    free_plan(m);
    free_spares(m);
    free(m->qmax);
    free(m->qmin);
    free(m->cal_data);
    for (int i = 0; i < m->nt; i++)
        free_tensor(&m->T[i]);
    vl_dn_free(m);
    free(m->T);
    for (int j = 0; m->N && j < m->nn_alloc; j++) {
        node *n = &m->N[j];
        free(n->in);
        free(n->name);
        for (int k = 0; k < n->nattr; k++) {
            vl_attr *a = &n->attr[k];
            free(a->name);
            free(a->ints);
            free(a->s);
            if (a->t) {
                a->t->is_const = 1; /* loaded values are owned */
                free_tensor(a->t);
                free(a->t);
            }
        }
        free(n->attr);
    }
    free(m->N);
    free(m);
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
    if (m->feature >= 0)
        return m->T[m->feature].name;
    int t = classifier_input(m);
    return m->T[t >= 0 ? t : m->output].name;
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
    for (int j = 0; j < m->nn; j++)
        counts[m->N[j].op]++;
    fprintf(f, "operators:");
    for (int k = 0; k < OP_COUNT; k++)
        if (counts[k]) fprintf(f, " %s x%d", vl_ops[k].name, counts[k]);
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
            fprintf(f, "  %-40s %-20s", t->name, vl_ops[n->op].name);
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

vl_status vl_onnx_set_precision(vl_onnx *m, vl_precision p)
{
    m->prec_note[0] = 0;
    if (p != VL_PREC_FP32 && p != VL_PREC_BF16 && p != VL_PREC_INT8)
        return vl_seterr(VL_ERR_ARG, "%s: unknown precision %d", m->path, (int)p);
    if (p == VL_PREC_BF16 && !vl_dn_bf16_native()) {
        if (vl_dn_available())
            snprintf(m->prec_note, sizeof m->prec_note, "%.200s: this CPU has no bfloat16 instructions (AVX512-BF16 or AMX) "
                     "that oneDNN may use: running in fp32", m->path);
        else
            snprintf(m->prec_note, sizeof m->prec_note, "%.200s: bfloat16 convolutions need oneDNN, and this build has none: running in fp32",
                     m->path);
        p = VL_PREC_FP32;
    }
    if (p == VL_PREC_INT8 && !vl_dn_int8_native()) {
        if (vl_dn_available())
            snprintf(m->prec_note, sizeof m->prec_note, "%.200s: this CPU has no int8 dot-product instructions (AVX512-VNNI, "
                     "AVX-VNNI or AMX) that oneDNN may use: running in fp32", m->path);
        else
            snprintf(m->prec_note, sizeof m->prec_note, "%.200s: int8 convolutions need oneDNN, and this build has none: running in fp32",
                     m->path);
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
