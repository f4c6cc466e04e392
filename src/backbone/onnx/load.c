/* The ONNX front-end: protobuf-c -> the neutral graph (graph.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backbone/onnx/graph.h"
#include "core/mem.h"
#include "onnx.pb-c.h"

#define PROTO(m) ((Onnx__ModelProto *)(m)->proto)

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

static vl_status load_bytes(vl_onnx *m, size_t len, vl_onnx **out);

/* Frees m after the caller has formatted its message (which may quote
 * strings that live inside m). */
static vl_status fail_free(vl_onnx *m, vl_status st)
{
    if (m->proto)
        onnx__model_proto__free_unpacked(PROTO(m), NULL);
    m->proto = NULL;
    free(m->file);
    m->file = NULL;
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

/* A node's attributes into the neutral form (tensor values loaded). */
static vl_status load_attrs(vl_onnx *m, const Onnx__NodeProto *np, node *n)
{
    if (!np->n_attribute)
        return VL_OK;
    n->attr = calloc(np->n_attribute, sizeof(vl_attr));
    if (!n->attr)
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
    for (size_t i = 0; i < np->n_attribute; i++) {
        const Onnx__AttributeProto *p = np->attribute[i];
        vl_attr *a = &n->attr[n->nattr++];
        a->type = (int)p->type;
        a->i = p->i;
        a->f = p->f;
        if (!(a->name = strdup(str(p->name))))
            return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
        if (p->n_ints) {
            if (!(a->ints = malloc(sizeof(int64_t) * p->n_ints)))
                return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
            memcpy(a->ints, p->ints, sizeof(int64_t) * p->n_ints);
            a->nints = p->n_ints;
        }
        if (p->s.data) {
            if (!(a->s = malloc(p->s.len + 1)))
                return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
            memcpy(a->s, p->s.data, p->s.len);
            a->s[p->s.len] = 0;
            a->slen = p->s.len;
        }
        if (p->t) {
            vl_status st;
            if (!(a->t = calloc(1, sizeof(tensor))))
                return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", m->path);
            a->t->producer = a->t->buf = -1;
            if ((st = load_tensor(m, p->t, a->t)))
                return st;
        }
    }
    return VL_OK;
}

/* Every operator must be known: all unknown ones in one message. */
static vl_status check_ops(const Onnx__GraphProto *g, const char *path)
{
    char unknown[1024] = "";
    int nunknown = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const char *type = g->node[i]->op_type && g->node[i]->op_type[0] ? g->node[i]->op_type : "(no type)";
        const char *dom = g->node[i]->domain;
        if (vl_op_find(type) >= 0 && (!dom || !dom[0] || !strcmp(dom, "ai.onnx")))
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
        return vl_seterr(VL_ERR_UNSUPPORTED, "%s: unsupported operator%s: %s", path, nunknown > 1 ? "s" : "", unknown);
    }
    return VL_OK;
}

/* Initializers, then the graph inputs: the image (its declared shape) and an
 * optional int32 [batch] sequence_lens. */
static vl_status load_inputs(vl_onnx *m, const Onnx__GraphProto *g, const char *path)
{
    vl_status st;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const char *iname = g->initializer[i]->name ? g->initializer[i]->name : "";
        if (find_tensor(m, iname) >= 0)
            return vl_seterr(VL_ERR_FORMAT, "%s: initializer '%s' is defined twice", path, iname);
        int ti = add_tensor(m, iname);
        if (ti < 0 || (st = load_tensor(m, g->initializer[i], &m->T[ti]))) {
            if (ti < 0)
                st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
            return st;
        }
    }
    m->input = m->lens = -1;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        int ti = add_tensor(m, str(vi->name));
        if (ti < 0) {
            return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
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
        return vl_seterr(VL_ERR_FORMAT, "%s: the graph has no (non-constant) input", path);
    }
    m->decl_nd = m->T[m->input].ndim;
    memcpy(m->decl_shape, m->T[m->input].shape, sizeof m->decl_shape);
    return VL_OK;
}

/* A Constant node's value into its output tensor. */
static vl_status constant_value(vl_onnx *m, node *n, const Onnx__NodeProto *np, const char *path)
{
    const vl_attr *a = attr(n, "value");
    tensor *t = &m->T[n->out[0]];
    if (a && a->t) { /* the loaded value moves to the output tensor */
        char *nm = t->name;
        int producer = t->producer;
        *t = *a->t;
        t->name = nm;
        t->producer = producer;
        memset(a->t, 0, sizeof *a->t);
    } else if ((a = attr(n, "value_float"))) {
        t->data = vl_alloc(sizeof(float));
        t->data[0] = a->f;
        t->is_const = 1;
        t->count = 1;
    } else if ((a = attr(n, "value_int")) || (a = attr(n, "value_ints"))) {
        int many = a->type == VA_INTS;
        int64_t cnt = many ? (int64_t)a->nints : 1;
        t->ival = malloc(sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
        for (int64_t q = 0; q < cnt; q++)
            t->ival[q] = many ? a->ints[q] : a->i;
        t->is_int = t->is_const = 1;
        t->ndim = many ? 1 : 0;
        t->shape[0] = cnt;
        t->count = cnt;
    } else {
        return vl_seterr(VL_ERR_UNSUPPORTED, "%s: Constant node '%s' without a supported value", path,
                         np->name ? np->name : "");
    }
    return VL_OK;
}

/* Node np becomes m->N[m->nn]: operator, name, attributes, tensors. */
static vl_status load_node(vl_onnx *m, Onnx__NodeProto *np, const char *path)
{
    vl_status st;
    node *n = &m->N[m->nn];
    n->op = (op_kind)vl_op_find(np->op_type);
    n->name = strdup(str(np->name));
    if (!n->name || (st = load_attrs(m, np, n)))
        return n->name ? st : vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
    if (np->n_input > INT32_MAX / 2 || np->n_output > 4 || np->n_output < 1) {
        return vl_seterr(VL_ERR_FORMAT, "%s: node '%s' (%s) has %zu inputs and %zu outputs", path,
                         np->name ? np->name : "", str(np->op_type), np->n_input, np->n_output);
    }
    n->nin = (int)np->n_input;
    n->in = malloc(sizeof(int) * (size_t)(n->nin > 3 ? n->nin : 3));
    if (!n->in)
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
    n->nout = (int)np->n_output;
    for (int k = 0; k < n->nin; k++) {
        if (!np->input[k][0]) {
            n->in[k] = -1; /* omitted optional input */
            continue;
        }
        n->in[k] = find_tensor(m, np->input[k]);
        if (n->in[k] < 0) {
            return vl_seterr(VL_ERR_FORMAT, "%s: node '%s' (%s) reads '%s', which nothing produces", path,
                             np->name ? np->name : "", str(np->op_type), np->input[k]);
        }
    }
    /* Required inputs must be present (an omitted optional input reads as -1). */
    int req = vl_ops[n->op].min_inputs;
    for (int k = 0; k < req; k++)
        if (k >= n->nin || n->in[k] < 0)
            return vl_seterr(VL_ERR_FORMAT, "%s: node '%s' (%s) lacks required input %d", path,
                                          str(np->name), str(np->op_type), k + 1);
    for (int k = 0; k < n->nout; k++) {
        int prev = find_tensor(m, np->output[k]);
        if (prev >= 0 && (m->T[prev].producer >= 0 || m->T[prev].is_const || prev == m->input))
            return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s' is defined twice (node '%s')", path,
                                          np->output[k], np->name ? np->name : "");
        n->out[k] = add_tensor(m, np->output[k]);
        if (n->out[k] < 0) {
            return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
        }
        m->T[n->out[k]].producer = m->nn;
    }
    if (n->op == OP_CONSTANT) {
        if ((st = constant_value(m, n, np, path)))
            return st;
        n->removed = 1;
    }
    return VL_OK;
}

/* Parses m->file (len bytes) and builds the graph; frees m on failure. */
static vl_status load_bytes(vl_onnx *m, size_t len, vl_onnx **out)
{
    char path[sizeof m->path]; /* error messages outlive m on the failure paths */
    snprintf(path, sizeof path, "%s", m->path);
    vl_status st;
    m->proto = onnx__model_proto__unpack(NULL, len, m->file);
    if (!PROTO(m) || !PROTO(m)->graph || PROTO(m)->graph->n_node == 0) {
        return fail_free(m, vl_seterr(VL_ERR_FORMAT, "%s: not an ONNX model (malformed or truncated protobuf, or no graph)", path));
    }
    m->opset = 13;
    for (size_t i = 0; i < PROTO(m)->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = PROTO(m)->opset_import[i];
        if (!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx"))
            m->opset = o->version;
    }
    Onnx__GraphProto *g = PROTO(m)->graph;
    if ((st = check_ops(g, path)) || (st = load_inputs(m, g, path)))
        return fail_free(m, st);
    m->N = calloc(g->n_node, sizeof(node));
    if (!m->N) {
        return fail_free(m, vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path));
    }
    m->nn_alloc = (int)g->n_node;
    for (size_t i = 0; i < g->n_node; i++) {
        if ((st = load_node(m, g->node[i], path)))
            return fail_free(m, st);
        m->nn++;
    }
    m->output = g->n_output ? find_tensor(m, str(g->output[0]->name)) : -1;
    if (m->output < 0) {
        return fail_free(m, vl_seterr(VL_ERR_FORMAT, "%s: the graph output is not produced by any node", path));
    }
    m->feature = -1; /* a model can name its feature tensor (vidlstm import-tfjs writes this) */
    for (size_t i = 0; i < PROTO(m)->n_metadata_props && m->feature < 0; i++) {
        const Onnx__StringStringEntryProto *e = PROTO(m)->metadata_props[i];
        if (e->key && e->value && !strcmp(e->key, "vidlstm.feature"))
            m->feature = find_tensor(m, e->value);
    }
    /* The graph holds everything now: the protobuf and the file go. */
    onnx__model_proto__free_unpacked(PROTO(m), NULL);
    m->proto = NULL;
    free(m->file);
    m->file = NULL;
    if ((st = fold_graph(m))) {
        return fail_free(m, st);
    }
    *out = m;
    return VL_OK;
}
