/* The network as the rest of the library sees it beyond vidlstm.h: the flat
 * parameter and gradient blocks and the dropout generator, for the trainer
 * (data-parallel gradient sums, best-weight copies, checkpoints) without
 * reaching into net_internal.h. */
#ifndef VL_MODEL_NET_H
#define VL_MODEL_NET_H

#include <stddef.h>

#include "core/rng.h"
#include "vidlstm.h"

/* Floats in each flat block (every parameter, 64-byte aligned inside: the
 * padding between tensors is zero and stays zero). */
size_t vl_net_nscalars(const vl_net *net);
/* The live weights: vl_net_nscalars floats, the vl_param views' storage. */
float *vl_net_params_block(const vl_net *net);
/* The gradients of the last vl_net_forward_backward, same layout. */
float *vl_net_grads_block(const vl_net *net);
/* The generator dropout masks are drawn from (seeded by vl_net_create). */
vl_rng *vl_net_rng(vl_net *net);

#endif
