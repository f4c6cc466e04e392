/* Execution: every live node of the plan, on oneDNN or its reference kernel. */
#include <string.h>

#include "backbone/onnx/graph.h"

void exec_node(vl_onnx *m, node *n)
{
    void (*run)(vl_onnx *, node *) = vl_ops[n->op].run;
    if (run) /* the rest (Constant, Shape, Gather, Range, Less) is handled while planning */
        run(m, n);
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
    if ((st = vl_dn_set_input(m, input)))
        return st;
    for (int j = 0; j < m->nn && !st; j++) {
        if (!m->N[j].live) continue;
        if (vl_dn_on(m, j)) {
            st = vl_dn_exec(m, j);
            continue;
        }
        exec_node(m, &m->N[j]);
    }
    if (!st)
        st = vl_dn_wait(m);
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
