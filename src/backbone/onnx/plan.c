/* Planning, per input shape: shape inference, constant evaluation, liveness, first-fit buffers. */
#include <stdlib.h>
#include <string.h>

#include "backbone/onnx/graph.h"
#include "core/mem.h"

vl_status plan_err(const vl_onnx *m, const node *n, const char *what)
{
    return vl_seterr(VL_ERR_SHAPE, "%s: node '%s' (%s): %s", m->path, n->name, vl_ops[n->op].name, what);
}

vl_status set_int_out(tensor *Y, int ndim, const int64_t *shape, const int64_t *vals)
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

/* Output shapes of node n through its table entry; integer-valued nodes are
 * evaluated there (n->folded set), nodes whose inputs are all constant here. */
static vl_status infer(vl_onnx *m, node *n)
{
    const vl_op *op = &vl_ops[n->op];
    if (op->flags & OPF_CONST_PARAMS)
        for (int k = 1; k < n->nin; k++)
            if (n->in[k] >= 0 && !m->T[n->in[k]].is_const)
                return plan_err(m, n, "shape/pads/axes input is not computable before running");
    n->folded = 0;
    if (!op->shape)
        return plan_err(m, n, "cannot infer shape");
    vl_status st = op->shape(m, n);
    if (st || n->folded)
        return st;
    tensor *Y = &m->T[n->out[0]];
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

void free_plan(vl_onnx *m)
{
    vl_dn_free_plan(m);
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

/* The smallest free block of at least need floats, or a new one; -1 when out
 * of memory. The caller marks it busy. */
int arena_get(vl_onnx *m, arena *a, size_t need)
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
    vl_dn_release(m, a, ti);
}

void free_spares(vl_onnx *m)
{
    for (int b = 0; b < m->nspare; b++)
        vl_free(m->spare[b]);
    free(m->spare);
    free(m->spare_size);
    m->spare = NULL;
    m->spare_size = NULL;
    m->nspare = 0;
}

/* Plans for this input shape and tap unless already planned. */
static vl_status plan_shape(vl_onnx *m, int ndim, const int64_t *shape, int tap);

vl_status plan(vl_onnx *m, int ndim, const int64_t *shape, int tap)
{
    if (m->planned_ndim == ndim && !memcmp(m->planned_shape, shape, sizeof(int64_t) * (size_t)ndim) &&
        m->planned_tap == tap)
        return VL_OK;
    vl_status st = plan_shape(m, ndim, shape, tap);
    free_spares(m);
    return st;
}

/* Liveness: marks the nodes the tap depends on; -1 when out of memory. */
static int mark_live(vl_onnx *m, int tap)
{
    for (int j = 0; j < m->nn; j++) m->N[j].live = 0;
    int *stack = malloc(sizeof(int) * (size_t)(m->nn + 1)), sp = 0;
    if (!stack) return -1;
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
    return 0;
}

/* Buffers: first fit among free blocks, freed after each tensor's last use. */
static vl_status assign_buffers(vl_onnx *m, int tap)
{
    vl_status st = VL_OK;
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
        st = vl_dn_plan_inputs(m, j, &a);
        for (int k = 0; k < n->nout && !st; k++) {
            int ti = k ? n->out[k] : n->pout;
            tensor *t = &m->T[ti];
            int from = -1; /* block taken over from the residual */
            int dn = vl_dn_plan_output(m, j, k, ti, &a, &from);
            if (dn < 0) { st = VL_ERR_NOMEM; break; }
            if (dn > 0) continue;
            /* A Reshape (or another view) of a tensor that dies here takes its
             * block over: no copy (ShuffleNet reshapes every block's output twice). */
            int xi = n->in[0];
            if (k == 0 && from < 0 && (vl_ops[n->op].flags & OPF_VIEW) && xi >= 0 && m->T[xi].buf >= 0 &&
                m->T[xi].last_use == j && m->T[xi].count == t->count && !m->T[xi].is_int) {
                from = m->T[xi].buf;
                m->T[xi].buf = -1;
            }
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
        vl_dn_plan_inputs_done(m, j, &a);
        /* Outputs nobody reads (e.g. Dropout's mask) are free at once. */
        for (int k = 0; k < n->nout; k++) {
            int ti = k ? n->out[k] : n->pout;
            if (m->T[ti].last_use < 0) arena_release(m, &a, ti);
        }
    }
    free(a.busy);
    if (st == VL_ERR_NOMEM)
        st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory for activations", m->path);
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

    if (mark_live(m, tap))
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    if (vl_dn_decide(m, tap)) {
        free_plan(m);
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    }
    /* scratch for the kernels that run here (im2col, gates, index tables) */
    m->scratch_size = 0;
    for (int j = 0; j < m->nn; j++)
        if (m->N[j].live && vl_ops[m->N[j].op].scratch && !vl_dn_on(m, j)) {
            size_t need = vl_ops[m->N[j].op].scratch(m, &m->N[j]);
            if (need > m->scratch_size) m->scratch_size = need;
        }
    st = assign_buffers(m, tap);
    if (!st)
        st = vl_dn_bind(m);
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
vl_status set_lens(vl_onnx *m, int ndim, const int64_t *shape, const int32_t *lens)
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
