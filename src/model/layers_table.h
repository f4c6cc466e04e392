/* The layer kinds of a network, one table entry each: everything the network
 * (net.c), the model file (modelfile.c) and the layer-spec grammar
 * (vl_net_parse_layers) know about a kind lives in its entry.
 *
 * A new kind: add it to vl_layer_kind (vidlstm.h, at the end), write its
 * hooks in layers_table.c and add its entry to vl_layer_defs in enum order.
 * Nothing else dispatches on the kind: the spec parser, the model file's
 * architecture JSON and summary, the parameter count a model file is checked
 * against, the workspace plan and the forward/backward passes all go through
 * the entry. */
#ifndef VL_MODEL_LAYERS_TABLE_H
#define VL_MODEL_LAYERS_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vidlstm.h"

struct vl_net;
struct net_layer;

/* The one argument a kind takes, in a spec ("lstm:128", "dropout:0.5") and
 * in the model file's architecture JSON ("hidden"+"bidirectional", "p"). */
typedef enum {
    VL_LARG_NONE,   /* "mean" */
    VL_LARG_HIDDEN, /* units per direction; a "bi" prefix / "bidirectional" doubles the directions */
    VL_LARG_PROB,   /* a probability in [0, 1) */
} vl_layer_arg;

/* One tensor of a layer's parameter layout (PyTorch's name and shape). */
typedef struct {
    char name[40];
    int rows, cols; /* cols 0: a vector of `rows` */
} vl_tensor_desc;

#define VL_LAYER_MAX_TENSORS 8

/* The workspace plan: walked once to size the workspace (base NULL), then
 * to hand out its buffers (see net.c's plan_workspace). */
typedef struct {
    float *base;
    size_t off;
    size_t maxw, maxg, maxh; /* widest activation row, gate scratch per row, hidden size */
} vl_ws_plan;

static inline void vl_ws_take(vl_ws_plan *w, float **ptr, size_t n)
{
    if (w->base)
        *ptr = w->base + w->off;
    w->off += (n + 15) & ~(size_t)15;
}

/* What a layer's forward pass reads and leaves for the next layer. */
typedef struct {
    const vl_batch *b;
    int train;
    const float *in; /* input rows [N, *] and their stride: the next layer's input on return */
    int ldin;
    size_t soff; /* offset of this layer's first initial-state slot ([B, H] per direction) */
} vl_fwd_state;

/* What a layer's backward pass reads and leaves for the layer below. */
typedef struct {
    float *dtop, *dnext; /* gradient of this layer's output; spare buffer for its input's */
    size_t soff;         /* offset just past this layer's state slots (walked downwards) */
    int need_dx;         /* the layer below (or the caller) wants the input gradient */
} vl_bwd_state;

typedef struct {
    vl_layer_kind kind;
    const char *type;  /* spec keyword and the model file's "type": "lstm" */
    const char *title; /* in summaries: "LSTM" */
    vl_layer_arg arg;
    int gates;         /* recurrent: gate blocks per direction (LSTM 4, GRU 3); 0: no weights, no state */
    int cell_state;    /* recurrent with a cell state (takes a c0 slot) */

    /* vl_net_create: checks the spec (l: its 0-based position) and lays the
     * layer out (widths, parameters appended at *off). */
    vl_status (*setup)(struct vl_net *net, struct net_layer *L, const vl_layer_spec *s, int l, size_t *off);
    /* Takes the layer's per-batch buffers for N rows and B sequences. */
    void (*plan)(vl_ws_plan *w, struct net_layer *L, size_t N, size_t B);
    vl_status (*forward)(struct vl_net *net, struct net_layer *L, vl_fwd_state *f);
    void (*backward)(struct vl_net *net, struct net_layer *L, vl_bwd_state *g);
    /* `vidlstm info`: one line (no newline) for layer number l (1-based)
     * reading `width` features, rec = its index among recurrent layers. */
    void (*describe)(FILE *f, const vl_layer_spec *s, int l, int width, int rec);
} vl_layer_def;

#define VL_NUM_LAYER_KINDS 4
extern const vl_layer_def vl_layer_defs[VL_NUM_LAYER_KINDS];

/* The entry of a kind, or NULL for a value outside the enum. */
static inline const vl_layer_def *vl_layer_def_of(vl_layer_kind k)
{
    return (unsigned)k < VL_NUM_LAYER_KINDS ? &vl_layer_defs[k] : NULL;
}
/* The entry whose `type` is name, or NULL. */
const vl_layer_def *vl_layer_def_named(const char *name);
/* "lstm, gru, dropout or mean" into buf: the types, for messages. Returns buf. */
const char *vl_layer_type_list(char *buf, size_t n, const char *last_sep);

/* Width of the layer's output for an input of width din. */
int vl_layer_out_width(const vl_layer_spec *s, int din);
/* The layer's parameter tensors for input width din, as the k-th recurrent
 * layer of its stack (names weight_ih_l{k}...). Returns how many (0..8). */
int vl_layer_tensors(const vl_layer_spec *s, int din, int k, vl_tensor_desc *out);
/* Scalars every parameter of cfg holds, head included (0 for an unknown kind);
 * exact in 64 bits for widths < 2^25, hidden <= 2^20, 16 layers. */
uint64_t vl_arch_param_count(const vl_net_config *cfg);

#endif
