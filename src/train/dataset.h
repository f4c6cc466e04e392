/* Datasets of feature sequences: what `vidlstm train/eval/predict` read.
 *
 * A manifest is a CSV file (see core/csv.h for quoting, comments, BOM),
 * one sequence a line:
 *     path,label[,group]
 * - path: a .npy float32 [T, D] feature file (relative to the manifest's folder);
 * - label: classify + last: the class name; regress + last: a number;
 *   sequence mode: a per-frame label file (relative path) with one row per
 *   feature row, either one column (the label) or two (frame,label with frame
 *   numbers 0..T-1, every frame listed once); a .npy file of T numbers works
 *   for regression;
 * - group: the source video the clip was cut from; clips of one group always
 *   land on the same side of a split (default: the path itself).
 * An optional header row names the columns (path, label, group; aliases
 * labels/target and video/source); with a header, columns may come in any
 * order and unknown columns are ignored.
 *
 * Classes are the distinct training labels sorted by strcmp (as MATLAB's
 * categorical does). Validation and evaluation sets take the model's class
 * list: a label outside it is an error naming the file and line. */
#ifndef VL_TRAIN_DATASET_H
#define VL_TRAIN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "vidlstm.h"

typedef struct {
    char *path;            /* feature file, resolved */
    char *group;           /* source video for grouped splits */
    int line;              /* manifest line */
    int T;                 /* steps */
    float *x;              /* [T, D] */
    int32_t label;         /* classify + last: class index; else -1 */
    int32_t *frame_labels; /* classify + sequence: [T] class indices */
    float target;          /* regress + last */
    float *frame_targets;  /* regress + sequence: [T] */
} vl_seq;

typedef struct {
    char *source; /* manifest path, for messages */
    int D;
    vl_task task;
    vl_out_mode mode;
    int nclasses;
    char **classes;
    int n, cap;
    vl_seq *items;
} vl_dataset;

typedef struct {
    vl_task task;
    vl_out_mode mode;
    /* Fixed class list (validation/eval against a model): unknown labels are
     * errors. NULL: collect the classes from the labels. */
    const char *const *classes;
    int nclasses;
    int dim;          /* required feature width, 0 = any (all files must agree) */
    int unlabelled;   /* prediction: no label column needed (labels ignored) */
} vl_dataset_opts;

/* Reads the manifest and every feature/label file it names. Errors name the
 * file (and line): missing or malformed files, NaN/Inf features, inconsistent
 * widths, label rows not matching the feature rows, unknown labels, an empty
 * dataset, a training set with fewer than two classes. */
vl_status vl_dataset_load(const char *manifest, const vl_dataset_opts *o, vl_dataset *out);
/* Adds one sequence directly (prediction on feature files given on the command
 * line): takes ownership of x [T, D]. */
vl_status vl_dataset_add_features(vl_dataset *d, const char *path, int T, int D, float *x);
void vl_dataset_free(vl_dataset *d);

/* The class table (classes sorted by strcmp, what every loader of labelled
 * data fills): the index of a class name, or -1. */
int vl_dataset_class(const vl_dataset *d, const char *name);
/* Adds a class name, keeping the table sorted (no-op when present). */
vl_status vl_dataset_add_class(vl_dataset *d, const char *name);
/* A fixed class list (a model's): VL_ERR_ARG when it has duplicate names. */
vl_status vl_dataset_set_classes(vl_dataset *d, const char *const *names, int n);

/* Grouped, stratified split: whole groups go to validation, class by class
 * (a group's class is the label of its first clip; sequence and regression
 * sets are split by groups without stratification), about `fraction` of
 * each class's groups, at least one when the class has two or more groups.
 * is_val[i] = 1 for validation items. Error when no group can be held out. */
vl_status vl_dataset_split(const vl_dataset *d, double fraction, uint64_t seed, uint8_t *is_val);

/* A split file: one line per validation item, `path` as written in the
 * manifest or resolved (or `path,val` / `path,train` rows). Items not listed
 * are training items; a listed path not in the dataset is an error. */
vl_status vl_dataset_split_file(const vl_dataset *d, const char *file, uint8_t *is_val);

/* Per-dimension mean and (population) std over all steps of the items
 * idx[0..n); a dimension with std below 1e-6 gets std 1 (constant features
 * are centred, not blown up). Accumulated in double. */
void vl_dataset_stats(const vl_dataset *d, const int *idx, int n, float *mean, float *std);
/* x = (x - mean) / std over every item, in place. */
void vl_dataset_normalize(vl_dataset *d, const float *mean, const float *std);
/* The same on n rows of D: y = (x - mean) / std per column (y may be x). The
 * one implementation of feature normalisation (datasets, vl_model_predict,
 * streams). */
void vl_normalize_rows(const float *x, size_t n, int D, const float *mean, const float *std, float *y);

/* 1 when a manifest's label names an existing .csv/.npy/.txt file beside
 * it: a per-frame label file (the classic mix-up when given to a clip model;
 * per-frame data for vl_data_describe). */
int vl_dataset_label_file(const char *manifest, const char *lab);

#endif
