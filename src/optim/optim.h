/* Optimisers (SGD with momentum, Adam, RMSProp), gradient clipping and
 * learning-rate schedules over a network's flat parameter arrays.
 * Semantics follow torch.optim and torch.nn.utils.clip_grad_*; MATLAB's
 * per-tensor 'l2norm' clipping is here too. The public entry points are in
 * vidlstm.h; these are the building blocks, exposed for tests. */
#ifndef VL_OPTIM_OPTIM_H
#define VL_OPTIM_OPTIM_H

#include "vidlstm.h"

/* Clips the gradients of `net` in place. Returns the global L2 norm of the
 * gradients before clipping. */
double vl_clip_grads(vl_net *net, vl_clip_method method, float threshold);

/* Global L2 norm over all gradients (no clipping). */
double vl_grad_norm(vl_net *net);

/* Learning rate for 0-based `epoch` under cfg's schedule. */
float vl_schedule_lr(const vl_optim_config *cfg, int epoch);

/* Checkpointing: the optimiser's whole state is the step count and the two
 * moment arrays (net->nscalars floats each, laid out like the parameters;
 * which = 0: first moment / momentum buffer, 1: second moment). */
float *vl_optim_moment(vl_optim *opt, int which);
long vl_optim_get_step(const vl_optim *opt);
void vl_optim_set_step(vl_optim *opt, long step);

#endif
