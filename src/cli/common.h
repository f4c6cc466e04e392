/* What train, eval and predict share: evaluation
 * printing (text table or one JSON object) and the HTML report. */
#ifndef VL_CLI_COMMON_H
#define VL_CLI_COMMON_H

#include <stddef.h>

#include "pipeline/extract.h"
#include "pipeline/videodata.h"
#include "report/report.h"
#include "train/dataset.h"
#include "train/trainer.h"
#include "vidlstm.h"

typedef struct {
    const vl_dataset *d, *vd;
    const int *val;
    int nval;
    const vl_train_result *res;
    const char *args_layers;
    int epochs, batch;
    float lr;
    uint64_t seed;
    int ensemble; /* members (seeds seed, seed+1, ...); the rest describes member 1 */
} cli_train_summary;

/* The model file's "training" record (malloc'ed JSON object). */
char *cli_training_json(const cli_train_summary *s);

typedef struct {
    const char *cmd;      /* for error lines */
    const char *title;    /* report title */
    const char *model;    /* model file, for the summary */
    const char *report;   /* report folder or NULL */
    int json;             /* one JSON object on stdout instead of the text tables */
    int quiet;
    const vl_progress_point *progress; /* training history for the report (may be NULL) */
    int nprogress;
    const char *extra_json; /* extra members for the JSON object ("k":v,...) or NULL */
    double *result;         /* if set: accuracy (frame accuracy for sequence models) or R^2 */
    const char *background; /* sequence classifiers: class (name or index) left out of Edit/F1, or NULL */
    int smooth;             /* sequence classifiers: average probabilities over N frames first (<= 1: off) */
} cli_eval_opts;

/* Runs the network over items idx[0..n) of d and prints the metrics:
 * classify+last: accuracy, confusion matrix, per-class P/R/F1, macro F1;
 * classify+sequence: the same over frames (frame_accuracy) plus MS-TCN's
 * segmental Edit and F1@{10,25,50} (train/metrics.h); regress: RMSE,
 * MAE, R². Writes the report when asked. Returns 0 or 1 (error printed). */
int cli_evaluate(vl_net *net, const vl_dataset *d, const int *idx, int n, int batch, const cli_eval_opts *o);

/* ---- data: feature manifests or videos ---------------------------------------- */

typedef struct {
    const char *backbone; /* NULL: builtin:motion */
    const char *tap;
    const char *sha256; /* the ONNX file must have this SHA-256 (a model's record); NULL: any */
    const vl_input_norm *norm; /* --preprocess and friends, or a model's record; NULL: the backbone's own */
    vl_precision precision;    /* --precision, or a model's record (0 = fp32) */
    double fps;
    int every_k;
    const char *cache;    /* NULL: the default cache folder; "" = none */
    int jobs;
    int clips_per_video;
    double clip_min, clip_max;
    uint64_t seed;
    int quiet;
    const int *owner; /* sharded extraction: extract only clips with owner[i] == shard (cli/shard.h) */
    int shard;
    const vl_data_desc *desc; /* the data's description (vl_data_describe), or NULL: cli_load_data makes one */
} cli_video_opts;

/* The default feature cache: $XDG_CACHE_HOME/vidlstm/features or
 * ~/.cache/vidlstm/features (static buffer). */
const char *cli_default_cache(void);

/* Loads `data` as a feature manifest, or (folder, or CSV of videos: as
 * v->desc describes it) by extracting features with the backbone (opening *x on first use; the caller
 * closes it). o (dataset options) carries task, mode, fixed classes and width.
 * Prints extraction progress unless quiet. Under MPI with more than one rank
 * (vidlstm train under mpirun) and a cache, each rank first extracts its
 * shard of the clips into the shared cache; then all read everything from
 * it. Returns 0 or 1 (error printed). */
int cli_load_data(const char *cmd, const char *data, const vl_dataset_opts *o, const cli_video_opts *v,
                  vl_extractor **x, vl_dataset *out);

/* Runs a command's main under MPI (or alone): initialises the MPI layer, notes
 * an MPI launch of a build without MPI, and ends the whole job (MPI_Abort)
 * when this rank fails, so that no other rank waits for it. */
int cli_dist_run(const char *cmd, int (*main_fn)(int, char **), int argc, char **argv);

#endif
