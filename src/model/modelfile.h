/* Model files: one .safetensors file holds a trained network and everything
 * needed to use it on new video (PRODUCT.md, "Interoperability promises").
 *
 * Layout: the standard safetensors container (8-byte little-endian header
 * length, a JSON header, raw little-endian tensor bytes). Tensors are the
 * network's parameters under PyTorch nn.LSTM / nn.GRU / nn.Linear names
 * (weight_ih_l0, ..._reverse, fc.weight, fc.bias), F32, plus the feature
 * normalisation as "norm.mean" and "norm.std" [D] when present. The header's
 * "__metadata__" (string -> string, as the format requires) holds:
 *   "format"        "vidlstm-model"      "format_version"  "1"
 *   "architecture"  JSON: {"input":D,"outputs":C,"mode":"last|sequence",
 *                   "task":"classify|regress","layers":[{"type":"lstm","hidden":128,
 *                   "bidirectional":true},{"type":"dropout","p":0.5},{"type":"mean"},...]}
 *   "classes"       JSON array of class names (classify)
 *   "backbone"      JSON: {"spec":"builtin:motion-grid","tap":"","feature_dim":240,
 *                   "preproc":{...vl_preproc fields...},"fps":10,"every_k":0}
 *   "training"      free-form JSON the trainer records (options, epochs, metrics)
 * Files written by PyTorch (safetensors.torch.save_file of a state_dict with
 * the same names, plus "architecture" metadata) load here too.
 *
 * Generic safetensors reading/writing lives in core/safetensors.h; this module
 * maps it onto vl_net. Checkpoints (train/) reuse the container with extra
 * tensors (optimiser state). */
#ifndef VL_MODEL_MODELFILE_H
#define VL_MODEL_MODELFILE_H

#include "video/video.h"
#include "vidlstm.h"

typedef struct {
    /* classify: class names, nclasses == cfg.outputs; regress: 0 / NULL */
    int nclasses;
    char **class_names;
    /* feature normalisation, (x - mean) / std per dimension; NULL = none */
    int dim;
    float *norm_mean, *norm_std;
    /* how features were made (empty spec = unknown, e.g. imported weights) */
    char backbone[512];
    char tap[256];
    int feature_dim;
    vl_preproc pre;
    double fps;  /* sampling rate used at extraction (0 = every_k) */
    int every_k;
    char *training_json; /* free-form JSON object or NULL */
} vl_model_meta;

/* Writes net + meta atomically (temp file in the same folder, then rename). */
vl_status vl_model_save(const char *path, vl_net *net, const vl_model_meta *meta);
/* Reads a model file: creates the network from the architecture metadata and
 * fills in its weights. Errors name the file: not safetensors, truncated,
 * missing/extra/mis-shaped tensors, unknown architecture, NaN weights. */
vl_status vl_model_load(const char *path, vl_net **net, vl_model_meta *meta);
void vl_model_meta_free(vl_model_meta *meta); /* frees the heap parts; zeroes *meta */
/* Human-readable summary (architecture, classes, parameter count, backbone,
 * preprocessing, training record) for `vidlstm info model.safetensors`. */
vl_status vl_model_describe(const char *path, FILE *f);

#endif
