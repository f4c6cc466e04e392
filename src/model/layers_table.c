/* The table of layer kinds (layers_table.h) and the layer-spec grammar. */
#include "model/layers_table.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/net_internal.h"
#include "nn/layers.h"
#include "nn/rnn.h"

/* ---- parameter layout ------------------------------------------------------------ */

int vl_layer_out_width(const vl_layer_spec *s, int din)
{
    const vl_layer_def *k = vl_layer_def_of(s->kind);
    return k && k->gates ? s->hidden * (s->bidirectional ? 2 : 1) : din;
}

int vl_layer_tensors(const vl_layer_spec *s, int din, int k, vl_tensor_desc *out)
{
    const vl_layer_def *def = vl_layer_def_of(s->kind);
    if (!def || !def->gates)
        return 0;
    const int H = s->hidden, G = def->gates * H, dirs = s->bidirectional ? 2 : 1;
    int n = 0;
    for (int d = 0; d < dirs; d++) {
        const char *sfx = d ? "_reverse" : "";
        static const char *const what[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
        const int cols[4] = {din, H, 0, 0};
        for (int i = 0; i < 4; i++, n++) {
            snprintf(out[n].name, sizeof out[n].name, "%s_l%d%s", what[i], k, sfx);
            out[n].rows = G;
            out[n].cols = cols[i];
        }
    }
    return n;
}

uint64_t vl_arch_param_count(const vl_net_config *cfg)
{
    uint64_t n = 0;
    int width = cfg->input, k = 0;
    vl_tensor_desc t[VL_LAYER_MAX_TENSORS];
    for (int l = 0; l < cfg->nlayers; l++) {
        const vl_layer_spec *s = &cfg->layer[l];
        if (!vl_layer_def_of(s->kind))
            return 0;
        int nt = vl_layer_tensors(s, width, k, t);
        for (int i = 0; i < nt; i++)
            n += (uint64_t)t[i].rows * (uint64_t)(t[i].cols ? t[i].cols : 1);
        k += nt > 0;
        width = vl_layer_out_width(s, width);
    }
    return n + (uint64_t)cfg->outputs * ((uint64_t)width + 1);
}

/* ---- recurrent layers (LSTM, GRU) ------------------------------------------------- */

static vl_status rec_setup(vl_net *net, net_layer *L, const vl_layer_spec *s, int l, size_t *off)
{
    if (s->hidden <= 0)
        return vl_seterr(VL_ERR_ARG, "layer %d: hidden size must be positive (got %d)", l + 1, s->hidden);
    L->H = s->hidden;
    L->dirs = s->bidirectional ? 2 : 1;
    L->G = L->def->gates * L->H;
    L->width = L->dirs * L->H;
    L->rec_index = net->nrec;
    L->state_slot = net->state_slots;
    L->first_param = net->nparams;
    vl_tensor_desc t[VL_LAYER_MAX_TENSORS];
    int nt = vl_layer_tensors(s, L->din, net->nrec, t);
    for (int i = 0; i < nt; i++)
        net_add_param(net, &t[i], off);
    net->state_slots += L->dirs;
    net->nrec++;
    net->last_rec = l;
    return VL_OK;
}

/* The output rows, then per direction the cache backward reads. */
static void rec_plan(vl_ws_plan *w, net_layer *L, size_t N, size_t g)
{
    vl_ws_take(w, &L->out, N * (size_t)L->width);
    w->maxw = L->width > (int)w->maxw ? (size_t)L->width : w->maxw;
    size_t H = (size_t)L->H;
    w->maxh = H > w->maxh ? H : w->maxh;
    w->maxg = g > w->maxg ? g : w->maxg;
}

static void lstm_plan(vl_ws_plan *w, net_layer *L, size_t N, size_t B)
{
    (void)B;
    size_t H = (size_t)L->H;
    rec_plan(w, L, N, 4 * H);
    for (int d = 0; d < L->dirs; d++) {
        vl_rnn_cache *c = &L->cache[d];
        vl_ws_take(w, &c->gates, N * (size_t)L->G);
        vl_ws_take(w, &c->hprev, N * H);
        vl_ws_take(w, &c->c, N * H);
        vl_ws_take(w, &c->cprev, N * H);
    }
}

static void gru_plan(vl_ws_plan *w, net_layer *L, size_t N, size_t B)
{
    (void)B;
    size_t H = (size_t)L->H;
    rec_plan(w, L, N, 6 * H); /* dgx + dgh */
    for (int d = 0; d < L->dirs; d++) {
        vl_rnn_cache *c = &L->cache[d];
        vl_ws_take(w, &c->gates, N * (size_t)L->G);
        vl_ws_take(w, &c->hprev, N * H);
        vl_ws_take(w, &c->ghn, N * H);
    }
}

static const float *param(const vl_net *net, const net_layer *L, int d, int i)
{
    return net->params + net->P[L->first_param + 4 * d + i].offset;
}

static float *grad(vl_net *net, const net_layer *L, int d, int i)
{
    return net->grads + net->P[L->first_param + 4 * d + i].offset;
}

static vl_status rec_forward(vl_net *net, net_layer *L, vl_fwd_state *f)
{
    const vl_pack *p = &net->pack;
    const vl_batch *b = f->b;
    const int gru = !L->def->cell_state;
    for (int d = 0; d < L->dirs; d++) {
        const float *w = param(net, L, d, 0);
        const float *u = net->whh_t + net->whh_t_off[L->first_param + 4 * d + 1];
        const float *bi = param(net, L, d, 2), *bh = param(net, L, d, 3);
        const float *h0 = b->h0 ? net->h0s + f->soff : NULL;
        const float *c0 = (b->c0 && !gru) ? net->c0s + f->soff : NULL;
        float *y = L->out + (size_t)d * L->H;
        if (f->train && net->rnn_bf16) {
            vl_status st = vl_rnn_lp_prepare(&L->cache[d], gru, p->N, L->din, L->H, w, param(net, L, d, 1), u);
            if (st)
                return st;
        } else {
            vl_rnn_lp_off(&L->cache[d]);
            vl_status st = vl_rnn_panels_prepare(&L->cache[d], L->def->gates, L->H, param(net, L, d, 1));
            if (st)
                return st;
        }
        if (!gru)
            vl_lstm_forward(p, d, L->din, L->H, f->in, f->ldin, w, u, bi, bh, h0, c0, y, L->width, &L->cache[d]);
        else
            vl_gru_forward(p, d, L->din, L->H, f->in, f->ldin, w, u, bi, bh, h0, y, L->width, &L->cache[d],
                           net->scratch);
        f->soff += (size_t)p->B * L->H;
    }
    L->in = f->in;
    L->ldin = f->ldin;
    f->in = L->out;
    f->ldin = L->width;
    return VL_OK;
}

static void rec_backward(vl_net *net, net_layer *L, vl_bwd_state *g)
{
    const vl_pack *p = &net->pack;
    for (int d = L->dirs - 1; d >= 0; d--) {
        g->soff -= (size_t)p->B * L->H;
        const float *w = param(net, L, d, 0), *u = param(net, L, d, 1);
        float *dw = grad(net, L, d, 0), *du = grad(net, L, d, 1), *dbi = grad(net, L, d, 2), *dbh = grad(net, L, d, 3);
        float *dx = g->need_dx ? g->dnext : NULL;
        float beta = (d == L->dirs - 1) ? 0.0f : 1.0f;
        const float *dy = g->dtop + (size_t)d * L->H;
        if (L->def->cell_state)
            vl_lstm_backward(p, d, L->din, L->H, L->in, L->ldin, w, u, &L->cache[d], dy, L->width, dx, L->din, beta,
                             dw, du, dbi, dbh, net->dh0s + g->soff, net->dc0s + g->soff, net->scratch, net->run_h,
                             net->run_c);
        else
            vl_gru_backward(p, d, L->din, L->H, L->in, L->ldin, w, u, &L->cache[d], dy, L->width, dx, L->din, beta,
                            dw, du, dbi, dbh, net->dh0s + g->soff, net->scratch, net->scratch + (size_t)p->N * L->G,
                            net->run_h);
    }
    float *tmp = g->dtop;
    g->dtop = g->dnext;
    g->dnext = tmp;
}

static void rec_describe(FILE *f, const vl_layer_spec *s, int l, int width, int rec)
{
    const vl_layer_def *k = vl_layer_def_of(s->kind);
    fprintf(f, "  %2d. %s%s  %d -> %d (%d units%s; weight_*_l%d%s)", l, s->bidirectional ? "Bi" : "", k->title, width,
            vl_layer_out_width(s, width), s->hidden, s->bidirectional ? " per direction" : "", rec,
            s->bidirectional ? "[_reverse]" : "");
}

/* ---- dropout ------------------------------------------------------------------------ */

static vl_status dropout_setup(vl_net *net, net_layer *L, const vl_layer_spec *s, int l, size_t *off)
{
    (void)net;
    (void)off;
    if (!(s->p >= 0.0f && s->p < 1.0f))
        return vl_seterr(VL_ERR_ARG, "layer %d: dropout probability %g must be in [0, 1)", l + 1, (double)s->p);
    L->p = s->p;
    L->width = L->din;
    return VL_OK;
}

static void dropout_plan(vl_ws_plan *w, net_layer *L, size_t N, size_t B)
{
    (void)B;
    vl_ws_take(w, &L->out, N * (size_t)L->width);
    w->maxw = L->width > (int)w->maxw ? (size_t)L->width : w->maxw;
    vl_ws_take(w, &L->mask, N * (size_t)L->width);
}

static vl_status dropout_forward(vl_net *net, net_layer *L, vl_fwd_state *f)
{
    if (f->train && L->p > 0.0f) {
        vl_dropout_forward((size_t)net->pack.N * L->width, L->p, &net->rng, f->in, L->out, L->mask);
        L->input_alias = 0;
        f->in = L->out;
    } else {
        L->input_alias = 1; /* identity: pass the input through */
    }
    return VL_OK;
}

static void dropout_backward(vl_net *net, net_layer *L, vl_bwd_state *g)
{
    if (!L->input_alias) /* the gradient passes through in place */
        vl_dropout_backward((size_t)net->pack.N * L->width, g->dtop, L->mask, g->dtop);
}

static void dropout_describe(FILE *f, const vl_layer_spec *s, int l, int width, int rec)
{
    (void)width;
    (void)rec;
    fprintf(f, "  %2d. dropout p=%g (training only)", l, (double)s->p);
}

/* ---- mean pooling ---------------------------------------------------------------------- */

/* The pooling itself is the network's summary step (net.c): the layer only
 * marks the network as a bag of frames. */
static vl_status mean_setup(vl_net *net, net_layer *L, const vl_layer_spec *s, int l, size_t *off)
{
    (void)s;
    (void)off;
    if (l != net->cfg.nlayers - 1 || net->cfg.mode != VL_OUT_LAST)
        return vl_seterr(VL_ERR_ARG, "layer %d: mean pooling must be the last layer of a many-to-one "
                                     "(mode last) network", l + 1);
    L->width = L->din;
    net->mean_pool = 1;
    return VL_OK;
}

static void mean_plan(vl_ws_plan *w, net_layer *L, size_t N, size_t B)
{
    (void)w;
    (void)L;
    (void)N;
    (void)B;
}

static vl_status mean_forward(vl_net *net, net_layer *L, vl_fwd_state *f)
{
    (void)net;
    (void)L;
    (void)f;
    return VL_OK;
}

static void mean_backward(vl_net *net, net_layer *L, vl_bwd_state *g)
{
    (void)net;
    (void)L;
    (void)g; /* its gradient was spread over the steps by the summary's backward */
}

static void mean_describe(FILE *f, const vl_layer_spec *s, int l, int width, int rec)
{
    (void)s;
    (void)width;
    (void)rec;
    fprintf(f, "  %2d. mean over valid steps", l);
}

/* ---- the table ------------------------------------------------------------------------ */

const vl_layer_def vl_layer_defs[VL_NUM_LAYER_KINDS] = {
    [VL_LAYER_LSTM] = {VL_LAYER_LSTM, "lstm", "LSTM", VL_LARG_HIDDEN, 4, 1, rec_setup, lstm_plan, rec_forward,
                       rec_backward, rec_describe},
    [VL_LAYER_GRU] = {VL_LAYER_GRU, "gru", "GRU", VL_LARG_HIDDEN, 3, 0, rec_setup, gru_plan, rec_forward,
                      rec_backward, rec_describe},
    [VL_LAYER_DROPOUT] = {VL_LAYER_DROPOUT, "dropout", "dropout", VL_LARG_PROB, 0, 0, dropout_setup, dropout_plan,
                          dropout_forward, dropout_backward, dropout_describe},
    [VL_LAYER_MEAN] = {VL_LAYER_MEAN, "mean", "mean", VL_LARG_NONE, 0, 0, mean_setup, mean_plan, mean_forward,
                       mean_backward, mean_describe},
};

const vl_layer_def *vl_layer_def_named(const char *name)
{
    for (int k = 0; k < VL_NUM_LAYER_KINDS; k++)
        if (!strcmp(vl_layer_defs[k].type, name))
            return &vl_layer_defs[k];
    return NULL;
}

const char *vl_layer_type_list(char *buf, size_t n, const char *last_sep)
{
    size_t o = 0;
    buf[0] = 0;
    for (int k = 0; k < VL_NUM_LAYER_KINDS && o < n; k++)
        o += (size_t)snprintf(buf + o, n - o, "%s%s", k == 0 ? "" : k == VL_NUM_LAYER_KINDS - 1 ? last_sep : ", ",
                              vl_layer_defs[k].type);
    return buf;
}

/* ---- the layer-spec grammar ---------------------------------------------------------- */

/* One token "kind[:arg]" (kind may carry a "bi" prefix when recurrent). */
static vl_status parse_token(char *tok, vl_layer_spec *L)
{
    char *colon = strchr(tok, ':');
    const char *arg = colon ? colon + 1 : NULL;
    if (colon)
        *colon = 0;
    *L = (vl_layer_spec){0};
    const vl_layer_def *k = vl_layer_def_named(tok);
    if (!k && !strncmp(tok, "bi", 2) && (k = vl_layer_def_named(tok + 2)) && !k->gates)
        k = NULL;
    if (!k) {
        char list[160];
        size_t o = 0;
        for (int i = 0; i < VL_NUM_LAYER_KINDS; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s%s%s", i ? ", " : "", vl_layer_defs[i].type,
                                  vl_layer_defs[i].gates ? ", bi" : "", vl_layer_defs[i].gates ? vl_layer_defs[i].type : "");
        return vl_seterr(VL_ERR_ARG, "unknown layer '%s' (%s)", tok, list);
    }
    L->kind = k->kind;
    char *e = NULL;
    switch (k->arg) {
    case VL_LARG_NONE:
        if (arg)
            return vl_seterr(VL_ERR_ARG, "'%s' takes no size", k->type);
        break;
    case VL_LARG_PROB: {
        double v = arg ? strtod(arg, &e) : -1;
        if (!arg || *e || !(v >= 0 && v < 1))
            return vl_seterr(VL_ERR_ARG, "%s needs a probability in [0, 1), e.g. %s:0.5", k->type, k->type);
        L->p = (float)v;
        break;
    }
    case VL_LARG_HIDDEN: {
        long h = arg ? strtol(arg, &e, 10) : 0;
        if (!arg || *e || e == arg)
            return vl_seterr(VL_ERR_ARG, "%s needs a hidden size, e.g. %s:128", tok, tok);
        if (h < 1 || h > 65536)
            return vl_seterr(VL_ERR_ARG, "%s:%s: the hidden size must be 1 to 65536 (the most a layer supports)", tok,
                             arg);
        L->hidden = (int)h;
        L->bidirectional = k != vl_layer_def_named(tok);
        break;
    }
    }
    return VL_OK;
}

vl_status vl_net_parse_layers(const char *spec, vl_net_config *cfg)
{
    cfg->nlayers = 0;
    const char *p = spec;
    if (!*p)
        return vl_seterr(VL_ERR_ARG, "empty layer list");
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char tok[64];
        if (n == 0 || n >= sizeof tok)
            return vl_seterr(VL_ERR_ARG, "bad layer '%.*s' in '%s'", (int)n, p, spec);
        memcpy(tok, p, n);
        tok[n] = 0;
        if (cfg->nlayers >= VL_MAX_LAYERS)
            return vl_seterr(VL_ERR_ARG, "at most %d layers", VL_MAX_LAYERS);
        vl_status st = parse_token(tok, &cfg->layer[cfg->nlayers]);
        if (st)
            return st;
        cfg->nlayers++;
        p += n;
        if (*p == ',')
            p++;
    }
    return VL_OK;
}
