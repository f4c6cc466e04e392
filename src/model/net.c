/* The sequence network: a stack of recurrent and dropout layers, a summary
 * (last valid step or every step), a fully connected head and a loss.
 *
 * Data flow for one batch (N = valid steps, B = sequences, W = layer width):
 *   x [B,T,D] --pack--> xin [N,D] --layer 0--> act0 [N,W0] --...--> top [N,W]
 *   top --summary--> S [B,W] (last) or top itself (sequence)
 *   S --fc--> logits [M,C] --loss--> scalar       (M = B or N)
 * Backward walks the same buffers in reverse. All buffers live in one
 * workspace sized for the largest (N, B) seen so far: allocated once, reused
 * every step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/rng.h"
#include "model/net.h"
#include "model/net_internal.h"
#include "nn/layers.h"
#include "nn/rnn.h"

vl_status vl_net_add_layer(vl_net_config *cfg, vl_layer_kind kind, int hidden, int bidirectional)
{
    if (cfg->nlayers >= VL_MAX_LAYERS)
        return vl_seterr(VL_ERR_ARG, "too many layers (at most %d)", VL_MAX_LAYERS);
    cfg->layer[cfg->nlayers++] = (vl_layer_spec){.kind = kind, .hidden = hidden, .bidirectional = bidirectional};
    return VL_OK;
}

vl_status vl_net_add_dropout(vl_net_config *cfg, float p)
{
    if (cfg->nlayers >= VL_MAX_LAYERS)
        return vl_seterr(VL_ERR_ARG, "too many layers (at most %d)", VL_MAX_LAYERS);
    cfg->layer[cfg->nlayers++] = (vl_layer_spec){.kind = VL_LAYER_DROPOUT, .p = p};
    return VL_OK;
}

void net_add_param(vl_net *net, const vl_tensor_desc *t, size_t *offset)
{
    net_param *p = &net->P[net->nparams++];
    snprintf(p->name, sizeof p->name, "%s", t->name);
    p->ndim = t->cols ? 2 : 1;
    p->shape[0] = t->rows;
    p->shape[1] = t->cols;
    p->count = (size_t)t->rows * (t->cols ? (size_t)t->cols : 1);
    p->offset = *offset;
    *offset += vl_pad16(p->count);
}

/* PyTorch's defaults: recurrent U(-1/sqrt(H), 1/sqrt(H)); nn.Linear
 * kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), ...) for weight and bias. */
static void init_weights(vl_net *net, uint64_t seed)
{
    const int width = net->width;
    vl_rng_seed(&net->rng, seed);
    for (int i = 0; i < net->nparams; i++) {
        net_param *p = &net->P[i];
        float k;
        if (i >= net->fc_param)
            k = 1.0f / sqrtf((float)width);
        else {
            int l = 0;
            while (!(is_rec(net->L[l].kind) && i >= net->L[l].first_param &&
                     i < net->L[l].first_param + 4 * net->L[l].dirs))
                l++;
            k = 1.0f / sqrtf((float)net->L[l].H);
        }
        float *w = net->params + p->offset;
        for (size_t j = 0; j < p->count; j++)
            w[j] = vl_rng_uniform_range(&net->rng, -k, k);
    }
}

vl_status vl_net_create(const vl_net_config *cfg, uint64_t seed, vl_net **out)
{
    *out = NULL;
    if (cfg->input <= 0)
        return vl_seterr(VL_ERR_ARG, "input width must be positive (got %d)", cfg->input);
    if (cfg->outputs <= 0)
        return vl_seterr(VL_ERR_ARG, "number of outputs must be positive (got %d)", cfg->outputs);
    if (cfg->task == VL_TASK_CLASSIFY && cfg->outputs < 2)
        return vl_seterr(VL_ERR_ARG, "classification needs at least 2 classes (got %d)", cfg->outputs);
    if (cfg->nlayers < 1 || cfg->nlayers > VL_MAX_LAYERS)
        return vl_seterr(VL_ERR_ARG, "a network needs 1..%d layers (got %d)", VL_MAX_LAYERS, cfg->nlayers);
    if (cfg->outputs > VL_MAX_CLASSES)
        return vl_seterr(VL_ERR_ARG, "at most %d outputs supported (got %d)", VL_MAX_CLASSES, cfg->outputs);
    vl_net *net = calloc(1, sizeof *net);
    if (!net)
        return vl_seterr(VL_ERR_NOMEM, "out of memory creating the network");
    net->cfg = *cfg;
    if (cfg->class_weights) {
        if (cfg->task != VL_TASK_CLASSIFY) {
            free(net);
            return vl_seterr(VL_ERR_ARG, "class weights only apply to classification");
        }
        memcpy(net->class_weights, cfg->class_weights, sizeof(float) * (size_t)cfg->outputs);
        for (int c = 0; c < cfg->outputs; c++)
            if (!(cfg->class_weights[c] >= 0.0f) || !isfinite(cfg->class_weights[c])) {
                free(net);
                return vl_seterr(VL_ERR_ARG, "class weight %d is %g: must be finite and >= 0", c,
                                 (double)cfg->class_weights[c]);
            }
        net->cfg.class_weights = net->class_weights;
    }

    size_t off = 0;
    int width = cfg->input;
    for (int l = 0; l < cfg->nlayers; l++) {
        const vl_layer_spec *s = &cfg->layer[l];
        net_layer *L = &net->L[l];
        L->kind = s->kind;
        L->def = vl_layer_def_of(s->kind);
        L->din = width;
        if (!L->def) {
            free(net);
            return vl_seterr(VL_ERR_ARG, "layer %d: unknown layer kind %d", l + 1, (int)s->kind);
        }
        vl_status st = L->def->setup(net, L, s, l, &off);
        if (st) {
            free(net);
            return st;
        }
        width = L->width;
    }
    if (net->nrec == 0 && !net->mean_pool) {
        free(net);
        return vl_seterr(VL_ERR_ARG, "the network needs a recurrent layer (or mean pooling)");
    }
    net->nl = cfg->nlayers;
    net->width = width;
    net->fc_param = net->nparams;
    net_add_param(net, &(vl_tensor_desc){"fc.weight", cfg->outputs, width}, &off);
    net_add_param(net, &(vl_tensor_desc){"fc.bias", cfg->outputs, 0}, &off);
    net->nscalars = off;
    net->params = vl_calloc_lasting(sizeof(float) * off);
    net->grads = vl_calloc_lasting(sizeof(float) * off);
    size_t toff = 0;
    for (int i = 0; i < net->fc_param; i++)
        if (strstr(net->P[i].name, "weight_hh")) {
            net->whh_t_off[i] = toff;
            toff += vl_pad16(net->P[i].count);
        }
    net->whh_t = vl_alloc_lasting(sizeof(float) * (toff ? toff : 1));
    if (!net->params || !net->grads || !net->whh_t) {
        vl_net_free(net);
        return vl_seterr(VL_ERR_NOMEM, "out of memory for %zu parameters", off);
    }
    init_weights(net, seed);
    *out = net;
    return VL_OK;
}

void vl_net_free(vl_net *net)
{
    if (!net)
        return;
    vl_free(net->params);
    vl_free(net->grads);
    vl_free(net->whh_t);
    for (int l = 0; l < net->nl; l++)
        for (int d = 0; d < 2; d++) {
            vl_rnn_lp_free(&net->L[l].cache[d]);
            vl_rnn_panels_free(&net->L[l].cache[d]);
        }
    vl_free(net->ws);
    free(net->ilabels);
    vl_pack_free(&net->pack);
    for (int k = 0; k < net->nmembers; k++)
        vl_net_free(net->members[k]);
    free(net->members);
    free(net->ens_acc);
    free(net->ens_tmp);
    free(net);
}

const vl_net_config *vl_net_get_config(const vl_net *net) { return &net->cfg; }
size_t vl_net_nscalars(const vl_net *net) { return net->nscalars; }
float *vl_net_params_block(const vl_net *net) { return net->params; }
float *vl_net_grads_block(const vl_net *net) { return net->grads; }
vl_rng *vl_net_rng(vl_net *net) { return &net->rng; }
int vl_net_num_params(const vl_net *net) { return net->nparams; }
size_t vl_net_param_count(const vl_net *net)
{
    size_t n = 0;
    for (int i = 0; i < net->nparams; i++)
        n += net->P[i].count;
    return n;
}

vl_status vl_net_param(vl_net *net, int i, vl_param *out)
{
    if (i < 0 || i >= net->nparams)
        return vl_seterr(VL_ERR_ARG, "parameter index %d outside 0..%d", i, net->nparams - 1);
    const net_param *p = &net->P[i];
    *out = (vl_param){.name = p->name, .ndim = p->ndim, .shape = {p->shape[0], p->shape[1]},
                      .count = p->count, .data = net->params + p->offset, .grad = net->grads + p->offset};
    return VL_OK;
}

vl_status vl_net_find_param(vl_net *net, const char *name, vl_param *out)
{
    for (int i = 0; i < net->nparams; i++)
        if (!strcmp(net->P[i].name, name))
            return vl_net_param(net, i, out);
    return vl_seterr(VL_ERR_ARG, "no parameter named '%s'", name);
}

size_t vl_net_output_size(const vl_net *net, const vl_batch *b)
{
    size_t per = (size_t)net->cfg.outputs * (size_t)b->batch;
    return net->cfg.mode == VL_OUT_LAST ? per : per * (size_t)b->tmax;
}

void vl_net_want_input_grads(vl_net *net, int on) { net->want_input_grads = on; }

vl_rnn_precision vl_net_set_rnn_precision(vl_net *net, vl_rnn_precision p)
{
    net->rnn_bf16 = p == VL_RNN_BF16 && vl_gemm_bf16_available();
    return vl_net_rnn_precision(net);
}

vl_rnn_precision vl_net_rnn_precision(const vl_net *net) { return net->rnn_bf16 ? VL_RNN_BF16 : VL_RNN_FP32; }

/* ---- workspace ---------------------------------------------------------------- */

/* Walks the buffer plan for (N, B): with base == NULL it only sizes it. */
static size_t plan_workspace(vl_net *net, size_t N, size_t B, float *base)
{
    vl_ws_plan w = {.base = base};
    const int D = net->cfg.input, C = net->cfg.outputs;
    w.maxw = (size_t)D;
    vl_ws_take(&w, &net->xin, N * D);
    for (int l = 0; l < net->nl; l++)
        net->L[l].def->plan(&w, &net->L[l], N, B);
    size_t M = net->cfg.mode == VL_OUT_LAST ? B : N;
    const size_t maxw = w.maxw, maxg = w.maxg, maxh = w.maxh;
    vl_ws_take(&w, &net->summary, B * (size_t)net->width);
    vl_ws_take(&w, &net->dsummary, B * (size_t)net->width);
    vl_ws_take(&w, &net->logits, M * C);
    vl_ws_take(&w, &net->dlogits, M * C);
    vl_ws_take(&w, &net->targets, M * C);
    vl_ws_take(&w, &net->gbuf[0], N * maxw);
    vl_ws_take(&w, &net->gbuf[1], N * maxw);
    vl_ws_take(&w, &net->scratch, N * maxg > 3 * B * maxh ? N * maxg : 3 * B * maxh);
    vl_ws_take(&w, &net->run_h, B * maxh);
    vl_ws_take(&w, &net->run_c, B * maxh);
    size_t states = 0;
    for (int l = 0; l < net->nl; l++)
        if (is_rec(net->L[l].kind))
            states += (size_t)net->L[l].dirs * B * (size_t)net->L[l].H;
    vl_ws_take(&w, &net->h0s, states);
    vl_ws_take(&w, &net->c0s, states);
    vl_ws_take(&w, &net->dh0s, states);
    vl_ws_take(&w, &net->dc0s, states);
    return w.off;
}

static vl_status ensure_workspace(vl_net *net, int N, int B)
{
    if (N <= net->cap_N && B <= net->cap_B)
        return VL_OK;
    size_t n = (size_t)(N > net->cap_N ? N : net->cap_N);
    size_t b = (size_t)(B > net->cap_B ? B : net->cap_B);
    size_t total = plan_workspace(net, n, b, NULL);
    float *ws = vl_alloc_lasting(sizeof(float) * total);
    int32_t *lab = malloc(sizeof(int) * (n > b ? n : b));
    if (!ws || !lab) {
        vl_free(ws);
        free(lab);
        return vl_seterr(VL_ERR_NOMEM, "out of memory for a workspace of %zu floats (%zu steps)", total, n);
    }
    vl_free(net->ws);
    free(net->ilabels);
    net->ws = ws;
    net->ilabels = lab;
    plan_workspace(net, n, b, ws);
    net->cap_N = (int)n;
    net->cap_B = (int)b;
    return VL_OK;
}

/* ---- forward -------------------------------------------------------------------- */

/* Moves initial states between the user's layout (original batch order,
 * [sum_k dirs_k, B, H_k]; c0 has slots for LSTM layers only) and sorted slots
 * (every recurrent layer has a slot). to_sorted: user -> sorted, else back. */
static void permute_states(const vl_net *net, const float *src, float *dst, int lstm_only, int to_sorted)
{
    const vl_pack *p = &net->pack;
    size_t user = 0, sorted = 0;
    for (int l = 0; l < net->nl; l++) {
        const net_layer *L = &net->L[l];
        if (!is_rec(L->kind))
            continue;
        size_t blk = (size_t)p->B * L->H;
        for (int d = 0; d < L->dirs; d++) {
            if (!lstm_only || L->def->cell_state) {
                for (int j = 0; j < p->B; j++) {
                    size_t u = user + (size_t)p->perm[j] * L->H, s = sorted + (size_t)j * L->H;
                    memcpy(dst + (to_sorted ? s : u), src + (to_sorted ? u : s), sizeof(float) * (size_t)L->H);
                }
                user += blk;
            }
            sorted += blk;
        }
    }
}

static vl_status check_batch(const vl_net *net, const vl_batch *b)
{
    if ((!b->x && !b->seq_x) || !b->lengths)
        return vl_seterr(VL_ERR_ARG, "batch needs x (or seq_x) and lengths");
    if (b->dim != net->cfg.input)
        return vl_seterr(VL_ERR_SHAPE, "feature width %d does not match the network's input width %d", b->dim,
                         net->cfg.input);
    return VL_OK;
}

static vl_status forward(vl_net *net, const vl_batch *b, int train)
{
    /* Whatever the last backward left is stale from here on (the pack and
     * the workspace change). */
    net->grads_valid = 0;
    net->dx_packed = NULL;
    vl_status st = check_batch(net, b);
    if (st) return st;
    vl_pack *p = &net->pack;
    if ((st = vl_pack_plan(p, b->batch, b->tmax, b->lengths)))
        return st;
    if ((st = ensure_workspace(net, p->N, p->B)))
        return st;
    const int D = net->cfg.input;
    net->tmax_last = b->tmax;
    if (b->seq_x)
        vl_pack_seqs(p, D, b->seq_x, net->xin);
    else
        vl_pack_rows(p, b->tmax, D, b->x, net->xin);
    if (b->h0)
        permute_states(net, b->h0, net->h0s, 0, 1);
    if (b->c0)
        permute_states(net, b->c0, net->c0s, 1, 1);

    /* Refresh the transposed W_hh on every pass: weights are writable through
     * any vl_param the caller holds, so no cheaper test can prove them unchanged.
     * It costs one read of W_hh, against 2*T reads by the recurrent GEMMs.
     * An fp32 pass on weight panels (nn/rnn_panel.c) packs its own instead. */
    for (int i = 0; i < net->fc_param; i++)
        if (net->P[i].ndim == 2 && strstr(net->P[i].name, "weight_hh") &&
            ((train && net->rnn_bf16) ||
             !vl_rnn_panels_used(net->P[i].shape[0] / net->P[i].shape[1], net->P[i].shape[1])))
            vl_transpose(net->P[i].shape[0], net->P[i].shape[1], net->params + net->P[i].offset,
                         net->P[i].shape[1], net->whh_t + net->whh_t_off[i], net->P[i].shape[0]);
    vl_fwd_state f = {.b = b, .train = train, .in = net->xin, .ldin = D};
    for (int l = 0; l < net->nl; l++)
        if ((st = net->L[l].def->forward(net, &net->L[l], &f)))
            return st;
    const float *in = f.in;
    net->top = in;

    /* Summary and head. */
    const int W = net->width, C = net->cfg.outputs;
    const float *fw = net->params + net->P[net->fc_param].offset;
    const float *fb = net->params + net->P[net->fc_param + 1].offset;
    if (net->mean_pool) {
        /* Bag of frames: the mean of each sequence's valid steps. */
        for (int j = 0; j < p->B; j++) {
            float *s = net->summary + (size_t)j * W;
            memset(s, 0, sizeof(float) * (size_t)W);
            for (int t = 0; t < p->len[j]; t++) {
                const float *r = in + (size_t)vl_pack_row(p, t, j) * W;
                for (int k = 0; k < W; k++)
                    s[k] += r[k];
            }
            float inv = 1.0f / (float)p->len[j];
            for (int k = 0; k < W; k++)
                s[k] *= inv;
        }
        vl_linear_forward(p->B, W, C, net->summary, W, fw, fb, net->logits);
    } else if (net->cfg.mode == VL_OUT_LAST) {
        const net_layer *R = &net->L[net->last_rec];
        for (int j = 0; j < p->B; j++) {
            float *s = net->summary + (size_t)j * W;
            const float *last = in + (size_t)vl_pack_row(p, p->len[j] - 1, j) * W;
            memcpy(s, last, sizeof(float) * (size_t)R->H);
            if (R->dirs == 2) /* backward direction: its final state is at step 0 */
                memcpy(s + R->H, in + (size_t)j * W + R->H, sizeof(float) * (size_t)R->H);
        }
        vl_linear_forward(p->B, W, C, net->summary, W, fw, fb, net->logits);
    } else {
        vl_linear_forward(p->N, W, C, in, W, fw, fb, net->logits);
    }
    return VL_OK;
}

/* The head's outputs to out (padded batch layout) or, out NULL, to the
 * batch's per-sequence seq_out. */
static void write_outputs(const vl_net *net, const vl_batch *b, float *out)
{
    const vl_pack *p = &net->pack;
    const int C = net->cfg.outputs;
    if (net->cfg.mode == VL_OUT_LAST) {
        for (int j = 0; j < p->B; j++)
            memcpy(out ? out + (size_t)p->perm[j] * C : b->seq_out[p->perm[j]], net->logits + (size_t)j * C,
                   sizeof(float) * (size_t)C);
    } else if (out) {
        vl_unpack_rows(p, b->tmax, C, net->logits, out);
    } else {
        vl_unpack_seqs(p, C, net->logits, b->seq_out);
    }
}

static vl_status forward_one(vl_net *net, const vl_batch *b, float *out)
{
    vl_status st = forward(net, b, 0);
    if (st)
        return st;
    write_outputs(net, b, out);
    return VL_OK;
}

/* ---- ensembles -------------------------------------------------------------------- */

static int same_shape(const vl_net_config *a, const vl_net_config *b)
{
    return a->input == b->input && a->outputs == b->outputs && a->mode == b->mode && a->task == b->task;
}

vl_status vl_net_add_member(vl_net *net, vl_net *member)
{
    if (!member || member == net || member->nmembers)
        return vl_seterr(VL_ERR_ARG, "vl_net_add_member: the member must be a separate single network");
    if (!same_shape(&net->cfg, &member->cfg))
        return vl_seterr(VL_ERR_ARG, "vl_net_add_member: members must agree on input width, outputs, mode and task");
    vl_net **m = realloc(net->members, sizeof *m * (size_t)(net->nmembers + 1));
    if (!m)
        return vl_seterr(VL_ERR_NOMEM, "out of memory");
    net->members = m;
    m[net->nmembers++] = member;
    return VL_OK;
}

int vl_net_num_members(const vl_net *net) { return 1 + net->nmembers; }

vl_net *vl_net_member(vl_net *net, int k)
{
    return k == 0 ? net : k > 0 && k <= net->nmembers ? net->members[k - 1] : NULL;
}

/* Members' outputs as probabilities (classify) or values (regress), summed
 * over valid rows; padded rows stay zero as in a single network's output. */
static void ens_accumulate(const vl_net *net, const vl_batch *b, const float *o, float *acc, int first)
{
    const int C = net->cfg.outputs, cls = net->cfg.task == VL_TASK_CLASSIFY;
    const int seq = net->cfg.mode == VL_OUT_SEQUENCE, T = seq ? b->tmax : 1;
    float pr[VL_MAX_CLASSES];
    for (int j = 0; j < b->batch; j++)
        for (int t = 0; t < (seq ? b->lengths[j] : 1); t++) {
            size_t r = ((size_t)j * T + t) * C;
            const float *src = o + r;
            if (cls) {
                vl_softmax_rows(1, C, src, pr);
                src = pr;
            }
            for (int c = 0; c < C; c++)
                acc[r + c] = first ? src[c] : acc[r + c] + src[c];
        }
}

vl_status vl_net_forward(vl_net *net, const vl_batch *b, float *out)
{
    if (!out && !b->seq_out)
        return vl_seterr(VL_ERR_ARG, "vl_net_forward: no output buffer (out or the batch's seq_out)");
    if (!net->nmembers)
        return forward_one(net, b, out);
    size_t n = vl_net_output_size(net, b);
    if (n > net->ens_cap) {
        float *a = realloc(net->ens_acc, sizeof(float) * n), *t = a ? realloc(net->ens_tmp, sizeof(float) * n) : NULL;
        if (a)
            net->ens_acc = a;
        if (!t)
            return vl_seterr(VL_ERR_NOMEM, "out of memory for the ensemble's outputs");
        net->ens_tmp = t;
        net->ens_cap = n;
    }
    memset(net->ens_acc, 0, sizeof(float) * n);
    for (int k = 0; k <= net->nmembers; k++) {
        vl_net *m = k ? net->members[k - 1] : net;
        vl_status st = forward_one(m, b, net->ens_tmp);
        if (st)
            return st;
        ens_accumulate(net, b, net->ens_tmp, net->ens_acc, k == 0);
    }
    /* averaged probabilities go out as their logarithm, so that softmax
     * (which every consumer applies to logits) gives them back exactly */
    const int cls = net->cfg.task == VL_TASK_CLASSIFY, seq = net->cfg.mode == VL_OUT_SEQUENCE;
    const int C = net->cfg.outputs, T = seq ? b->tmax : 1;
    const float inv = 1.0f / (float)(net->nmembers + 1);
    if (out)
        memset(out, 0, sizeof(float) * n);
    for (int j = 0; j < b->batch; j++)
        for (int t = 0; t < (seq ? b->lengths[j] : 1); t++)
            for (int c = 0; c < C; c++) {
                size_t r = ((size_t)j * T + t) * C + c;
                float v = net->ens_acc[r] * inv;
                float *dst = out ? out + r : b->seq_out[j] + (size_t)t * C + c;
                *dst = cls ? logf(v > 1e-30f ? v : 1e-30f) : v;
            }
    return VL_OK;
}

/* ---- loss and backward ------------------------------------------------------------ */

static vl_status gather_targets(vl_net *net, const vl_batch *b, int *M)
{
    const vl_pack *p = &net->pack;
    const int C = net->cfg.outputs;
    int seq = net->cfg.mode == VL_OUT_SEQUENCE;
    *M = seq ? p->N : p->B;
    if (net->cfg.task == VL_TASK_CLASSIFY) {
        const int32_t *const *sl = seq ? b->seq_labels : NULL;
        if (!b->labels && !sl)
            return vl_seterr(VL_ERR_ARG, "classification batch has no labels");
        for (int t = 0; t < (seq ? p->T : 1); t++)
            for (int j = 0; j < (seq ? p->bs[t] : p->B); j++) {
                int orig = p->perm[j];
                if (sl && !sl[orig])
                    return vl_seterr(VL_ERR_ARG, "sequence %d of the batch has no labels", orig);
                int y = sl ? sl[orig][t] : seq ? b->labels[(size_t)orig * b->tmax + t] : b->labels[orig];
                if (y < 0 || y >= C) {
                    if (seq)
                        return vl_seterr(VL_ERR_ARG, "label %d of sequence %d at step %d is outside 0..%d", y, orig,
                                         t, C - 1);
                    return vl_seterr(VL_ERR_ARG, "label %d of sequence %d is outside 0..%d", y, orig, C - 1);
                }
                net->ilabels[seq ? p->off[t] + j : j] = y;
            }
    } else {
        if (seq && b->seq_targets) {
            for (int j = 0; j < p->B; j++)
                if (!b->seq_targets[j])
                    return vl_seterr(VL_ERR_ARG, "sequence %d of the batch has no targets", j);
            vl_pack_seqs(p, C, b->seq_targets, net->targets);
        } else if (!b->targets)
            return vl_seterr(VL_ERR_ARG, "regression batch has no targets");
        else if (seq)
            vl_pack_rows(p, b->tmax, C, b->targets, net->targets);
        else
            for (int j = 0; j < p->B; j++)
                memcpy(net->targets + (size_t)j * C, b->targets + (size_t)p->perm[j] * C, sizeof(float) * (size_t)C);
    }
    return VL_OK;
}

vl_status vl_net_forward_backward(vl_net *net, const vl_batch *b, float *loss, float *out)
{
    if (net->nmembers)
        return vl_seterr(VL_ERR_ARG, "an ensemble is not trained as one network: train each member on its own");
    vl_status st = forward(net, b, 1);
    if (st)
        return st;
    int M;
    if ((st = gather_targets(net, b, &M)))
        return st;
    const vl_pack *p = &net->pack;
    const int W = net->width, C = net->cfg.outputs;
    float lossv;
    if (net->cfg.task == VL_TASK_CLASSIFY)
        lossv = vl_softmax_xent(M, C, net->logits, net->ilabels, net->cfg.class_weights, net->dlogits);
    else
        lossv = vl_mse(M, C, net->logits, net->targets, net->dlogits);
    if (!isfinite(lossv))
        return vl_seterr(VL_ERR_NUMERIC, "loss is %s (diverged or non-finite inputs)", isnan(lossv) ? "NaN" : "Inf");
    *loss = lossv;
    if (out || b->seq_out)
        write_outputs(net, b, out);

    memset(net->grads, 0, sizeof(float) * net->nscalars);
    float *dfw = net->grads + net->P[net->fc_param].offset;
    float *dfb = net->grads + net->P[net->fc_param + 1].offset;
    const float *fw = net->params + net->P[net->fc_param].offset;
    float *dtop = net->gbuf[0], *dnext = net->gbuf[1];
    if (net->mean_pool) {
        vl_linear_backward(p->B, W, C, net->summary, W, fw, net->dlogits, net->dsummary, W, dfw, dfb);
        for (int j = 0; j < p->B; j++) {
            const float *ds = net->dsummary + (size_t)j * W;
            float inv = 1.0f / (float)p->len[j];
            for (int t = 0; t < p->len[j]; t++) {
                float *r = dtop + (size_t)vl_pack_row(p, t, j) * W;
                for (int k = 0; k < W; k++)
                    r[k] = ds[k] * inv;
            }
        }
    } else if (net->cfg.mode == VL_OUT_LAST) {
        vl_linear_backward(p->B, W, C, net->summary, W, fw, net->dlogits, net->dsummary, W, dfw, dfb);
        memset(dtop, 0, sizeof(float) * (size_t)p->N * W);
        const net_layer *R = &net->L[net->last_rec];
        for (int j = 0; j < p->B; j++) {
            const float *ds = net->dsummary + (size_t)j * W;
            memcpy(dtop + (size_t)vl_pack_row(p, p->len[j] - 1, j) * W, ds, sizeof(float) * (size_t)R->H);
            if (R->dirs == 2)
                memcpy(dtop + (size_t)j * W + R->H, ds + R->H, sizeof(float) * (size_t)R->H);
        }
    } else {
        vl_linear_backward(p->N, W, C, net->top, W, fw, net->dlogits, dtop, W, dfw, dfb);
    }

    vl_bwd_state g = {.dtop = dtop, .dnext = dnext};
    int first_rec = net->nl;
    for (int l = 0; l < net->nl; l++)
        if (is_rec(net->L[l].kind)) {
            g.soff += (size_t)net->L[l].dirs * p->B * net->L[l].H;
            first_rec = l < first_rec ? l : first_rec;
        }
    for (int l = net->nl - 1; l >= 0; l--) {
        g.need_dx = l > first_rec || net->want_input_grads;
        net->L[l].def->backward(net, &net->L[l], &g);
    }
    dtop = g.dtop;
    net->dx_packed = net->want_input_grads ? dtop : NULL;
    net->grads_valid = 1;
    return VL_OK;
}

vl_status vl_net_input_grads(vl_net *net, float *dx, float *dh0, float *dc0)
{
    if (!net->grads_valid || !net->dx_packed)
        return vl_seterr(VL_ERR_ARG, "input gradients need vl_net_want_input_grads(net, 1) before forward_backward");
    if (dx)
        vl_unpack_rows(&net->pack, net->tmax_last, net->cfg.input, net->dx_packed, dx);
    if (dh0)
        permute_states(net, net->dh0s, dh0, 0, 0);
    if (dc0)
        permute_states(net, net->dc0s, dc0, 1, 0);
    return VL_OK;
}
