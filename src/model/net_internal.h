/* Internal layout of vl_net, shared by the network and the optimiser (which
 * walks the same flat parameter/gradient arrays). Not part of the public API. */
#ifndef VL_MODEL_NET_INTERNAL_H
#define VL_MODEL_NET_INTERNAL_H

#include "core/rng.h"
#include "model/layers_table.h"
#include "nn/pack.h"
#include "nn/rnn.h"
#include "vidlstm.h"

#define VL_MAX_PARAMS (VL_MAX_LAYERS * 8 + 2)
#define VL_MAX_CLASSES 4096

typedef struct {
    char name[40];
    int ndim, shape[2];
    size_t count;
    size_t offset; /* into params/grads, 64-byte aligned */
} net_param;

typedef struct net_layer {
    vl_layer_kind kind;
    const vl_layer_def *def;   /* the kind's table entry */
    int din, width;            /* input and output widths */
    int H, dirs, G;            /* recurrent: hidden, directions, gate rows (4H or 3H) */
    float p;                   /* dropout */
    int rec_index, state_slot; /* recurrent layer number; first h0 slot */
    int first_param;           /* 4 params per direction */
    /* per batch (workspace pointers) */
    float *out;                /* [N, width] */
    float *mask;               /* dropout [N, width] */
    vl_rnn_cache cache[2];
    const float *in;           /* input this layer read, and its row stride */
    int ldin;
    int input_alias;           /* dropout skipped: out == in */
} net_layer;

struct vl_net {
    vl_net_config cfg;
    float class_weights[VL_MAX_CLASSES];
    int nl, last_rec, width, state_slots, fc_param;
    int nrec; /* recurrent layers */
    int mean_pool; /* last layer is VL_LAYER_MEAN */
    net_layer L[VL_MAX_LAYERS];
    int nparams;
    net_param P[VL_MAX_PARAMS];
    size_t nscalars; /* including alignment padding (always zero) */
    float *params, *grads;
    float *whh_t;          /* transposed copies of every weight_hh, [H, G] each */
    size_t whh_t_off[VL_MAX_PARAMS];
    vl_rng rng;

    /* workspace, sized for (cap_N, cap_B) */
    vl_pack pack;
    int cap_N, cap_B, tmax_last;
    float *ws;
    int32_t *ilabels;
    float *xin, *summary, *dsummary, *logits, *dlogits, *targets;
    float *gbuf[2], *scratch, *run_h, *run_c;
    float *h0s, *c0s, *dh0s, *dc0s;
    const float *top;
    float *dx_packed;
    int want_input_grads, grads_valid;
    int rnn_bf16; /* training passes run the recurrent GEMMs in bf16 (vl_net_set_rnn_precision) */

    /* ensemble: further members, owned; forward averages them (vidlstm.h) */
    vl_net **members;
    int nmembers;
    float *ens_acc, *ens_tmp;
    size_t ens_cap;
};

/* Appends a parameter tensor at *offset (vl_net_create and the layer table). */
void net_add_param(vl_net *net, const vl_tensor_desc *t, size_t *offset);

/* A kind with weights and a recurrent state (LSTM, GRU). */
static inline int is_rec(vl_layer_kind k) { return vl_layer_def_of(k)->gates > 0; }

#endif
