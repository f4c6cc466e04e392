/* Prediction with a trained model (the public vl_model_* calls of
 * vidlstm.h are implemented in predict.c) and the module-level calls the
 * command line uses on top of them: the model's record, its extractor, and
 * prediction on a vl_dataset without copying it.
 *
 * Every way of predicting lives here: whole sequences (clip models: one row;
 * per-frame models: T rows, optionally smoothed, merged into segments),
 * sliding windows over a long sequence (one row per window, segments over
 * the windows), and live streams (a window every stride as frames arrive,
 * one callback per window). Results are vl_prediction structs (vidlstm.h);
 * nothing here prints. */
#ifndef VL_PIPELINE_PREDICT_H
#define VL_PIPELINE_PREDICT_H

#include "model/modelfile.h"
#include "pipeline/extract.h"
#include "train/dataset.h"
#include "vidlstm.h"

/* The model's record (classes, normalisation, backbone, sampling). Writable
 * until the first video is read, e.g. `precision` for `--precision`. */
vl_model_meta *vl_model_meta_of(vl_model *m);

/* Notes the extractor reports (a bf16 model on a CPU without bf16 runs fp32),
 * one line each; NULL (the default) drops them. Before the first video. */
void vl_model_set_note(vl_model *m, void (*note)(void *user, const char *msg), void *user);

/* The extractor the model records (backbone, layer, input normalisation,
 * precision, sampling), opened on first use and owned by m. Errors: the model
 * records no backbone, the backbone file is missing, or its width differs
 * from the model's input. */
vl_status vl_model_extractor(vl_model *m, vl_extractor **xt);

/* A video's features [T, D] (raw), extracted as the model records; on error
 * *f holds nothing. */
vl_status vl_model_video_features(vl_model *m, const char *path, vl_features *f);

/* Reads a .npy feature file for the model: float [T, D] with D the model's
 * input width and every value finite, else one error naming the file.
 * *x (malloc'ed) receives the raw (unnormalised) features. */
vl_status vl_model_read_features(vl_model *m, const char *path, float **x, int *T);

/* The model's stored feature normalisation applied to every item of d, in
 * place (nothing when the model stores none). */
void vl_model_normalize(vl_model *m, vl_dataset *d);

/* Whole sequences of d (already normalised by vl_model_normalize), batched as
 * o->batch: res[0..d->n) as vl_model_predict_clips describes. A non-finite
 * output is VL_ERR_NUMERIC naming the item's path and the model. On error
 * nothing is left in res. */
vl_status vl_model_predict_dataset(vl_model *m, const vl_dataset *d, const vl_predict_opts *o, vl_prediction *res);

/* Items idx[0..n) of d (already normalised) through a bare network, as
 * vl_model_predict_dataset (which calls this): `model` names it in errors,
 * fps turns segment boundaries into seconds (0: none). For callers that hold
 * a network rather than a model file: train's and demo's held-out
 * evaluation (cli_evaluate). */
vl_status vl_net_predict_items(vl_net *net, const char *model, double fps, const vl_dataset *d, const int *idx,
                               int n, const vl_predict_opts *o, vl_prediction *res);

/* Windows over one normalised sequence s (width the model's input), `rate`
 * steps per unit of o->window/o->stride: as vl_model_predict_windows. */
vl_status vl_model_predict_seq_windows(vl_model *m, const vl_seq *s, double rate, const vl_predict_opts *o,
                                       vl_prediction *res);

/* A stream's window and stride in steps (what vl_model_stream uses), or
 * VL_ERR_ARG when they exceed the window limit. */
vl_status vl_model_stream_steps(vl_model *m, const vl_predict_opts *o, int *window, int *stride);

#endif
