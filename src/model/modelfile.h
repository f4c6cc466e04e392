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
 *                   plus, for an ONNX backbone, "sha256": the file's SHA-256 (optional: older
 *                   files have none); "spec" is then a path or a known backbone's name
 *   "training"      free-form JSON the trainer records (options, epochs, metrics)
 *   "writer"        "vidlstm 0.1.0" (informational)
 * "format" and "format_version" may be absent (files written by hand from
 * PyTorch); when present they must say "vidlstm-model" and "1".
 * Layer "type" is "lstm", "gru", "dropout" or "mean"; "bidirectional" is
 * optional (default false). The k-th recurrent layer of the stack owns
 * weight_ih_l{k} etc., whatever its width: in PyTorch, layers of different
 * widths or kinds are separate nn.LSTM/nn.GRU modules (docs/model-format.md).
 * The "preproc" object has the vl_preproc fields: width, height, resize
 * ("shorter" or "exact"), resize_to, bgr (bool), scale, mean [3], std [3],
 * nhwc (bool); floats are written in shortest round-trip form, so every
 * field reads back bit-identical.
 * Files written by PyTorch (safetensors.torch.save_file of a state_dict with
 * the same names, plus "architecture" metadata) load here too.
 *
 * Generic safetensors reading/writing lives in core/safetensors.h; this module
 * maps it onto vl_net. Checkpoints (train/) reuse the container with extra
 * tensors (optimiser state). */
#ifndef VL_MODEL_MODELFILE_H
#define VL_MODEL_MODELFILE_H

#include "core/safetensors.h"
#include "backbone/preprocess.h"
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
    char backbone_sha256[4 * 65]; /* ONNX: the file's SHA-256 (hex) when recorded, else ""; fused
                                   * backbones: one per part joined by '+' ("" for a built-in part) */
    int feature_dim;
    vl_preproc pre;
    /* the input normalisation chosen at extraction (--preprocess and friends;
     * backbone "preprocess" in docs/model-format.md): predict applies it to
     * every ONNX part; 0 = each backbone's own */
    int has_input_norm;
    vl_input_norm input_norm;
    /* what the ONNX backbone ran in at extraction (--precision; backbone
     * "precision", recorded when not fp32): predict and eval repeat it */
    vl_precision precision;
    double fps;  /* sampling rate used at extraction (0 = every_k) */
    int every_k;
    char *training_json; /* free-form JSON object or NULL */
} vl_model_meta;

/* Writes net + meta atomically (temp file in the same folder, fsync, then
 * rename). meta may be NULL (no classes, no backbone, no normalisation).
 * Classify models with class names need meta->nclasses == cfg.outputs;
 * normalisation needs meta->dim == cfg.input with both mean and std.
 * Only the architecture is saved from the config: class weights are a
 * training setting (record them in training_json if wanted). */
vl_status vl_model_save(const char *path, vl_net *net, const vl_model_meta *meta);
/* Reads a model file: creates the network from the architecture metadata and
 * fills in its weights. Errors name the file: not safetensors, truncated,
 * missing/extra/mis-shaped tensors, unknown architecture, NaN weights.
 * Status: VL_ERR_IO (cannot open), VL_ERR_FORMAT (malformed container or
 * metadata, missing or unexpected tensor, architecture this build cannot
 * create), VL_ERR_SHAPE (a tensor's shape disagrees with the architecture),
 * VL_ERR_NUMERIC (NaN/Inf weight or normalisation), VL_ERR_UNSUPPORTED
 * (a newer format_version). F64, F16 and BF16 tensors are converted to F32.
 * meta may be NULL. On failure *net is NULL and *meta zeroed. */
vl_status vl_model_load(const char *path, vl_net **net, vl_model_meta *meta);
void vl_model_meta_free(vl_model_meta *meta); /* frees the heap parts; zeroes *meta */
/* Human-readable summary (architecture, classes, parameter count, backbone,
 * preprocessing, training record) for `vidlstm info model.safetensors`.
 * The file is fully loaded and validated first; nothing is written to f on error. */
vl_status vl_model_describe(const char *path, FILE *f);

/* The "backbone" metadata on its own (the JSON object described above), for
 * `vidlstm extract`, which records how its features were made beside them
 * (backbone.json) so that a model trained on them later records it too.
 * The string is malloc'ed (NULL when out of memory). */
char *vl_model_backbone_json(const vl_model_meta *meta);
/* Finds the recorded ONNX backbone file when it is not where the model says
 * (models moved to another folder or machine): tries the recorded path, then
 * the same relative path and the bare file name in the model file's folder.
 * Built-in backbones are left alone. Updates meta->backbone when found;
 * returns 1 if the backbone can be opened by that name, else 0. */
int vl_model_find_backbone(vl_model_meta *meta, const char *model_path);

/* Fills meta's backbone fields from such JSON; errors name `name`. */
vl_status vl_model_backbone_from_json(const char *json, const char *name, vl_model_meta *meta);

/* ---- for checkpoints and tools --------------------------------------------------- */

/* vl_model_save plus extra tensors (appended after the model's; names must
 * not clash with them) and extra metadata pairs (keys must not be ones this
 * module writes). A file with extra tensors (a training checkpoint) also
 * records a checksum of its tensor data ("data_checksum", core/safetensors.h),
 * which every read verifies. */
vl_status vl_model_save_ex(const char *path, vl_net *net, const vl_model_meta *meta, const vl_st_entry *extra,
                           int nextra, const char *const *extra_keys, const char *const *extra_values, int nextra_meta);
/* vl_model_load, but tensors whose names start with extra_prefix (e.g.
 * "optim.") are tolerated; when st is not NULL the validated container stays
 * open there for the caller to read them and its other metadata (vl_st_free). */
vl_status vl_model_load_ex(const char *path, const char *extra_prefix, vl_net **net, vl_model_meta *meta,
                           vl_st_file *st);

/* The "architecture" metadata value: cfg -> JSON (malloc'd, caller frees),
 * and back. from_json checks types and ranges and rejects unknown keys; it
 * does not check that the stack is buildable (vl_net_create does). `name`
 * labels errors. class_weights is not part of the architecture (NULL). */
vl_status vl_arch_to_json(const vl_net_config *cfg, char **json);
vl_status vl_arch_from_json(const char *json, const char *name, vl_net_config *cfg);

#endif
