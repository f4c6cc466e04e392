/* Evaluation metrics and their text/JSON renderings, shared by `vidlstm eval`,
 * the trainer's validation and the report. Pure functions over label arrays;
 * nothing here knows about networks or files.
 *
 * Conventions: confusion rows = true class, columns = predicted class (as
 * MATLAB's confusionchart and sklearn). Precision/recall/F1 of a class with no
 * predictions / no support are 0 (sklearn's zero_division=0); macro F1 is the
 * unweighted mean over classes that occur in truth or prediction. Accuracy
 * and macro F1 are NaN when nothing was counted (no labelled item). */
#ifndef VL_TRAIN_METRICS_H
#define VL_TRAIN_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "vidlstm.h"

/* One iteration of a training run's history: what the trainer records
 * (vl_train_result) and the report plots. */
typedef struct {
    int iteration; /* 1-based global iteration */
    int epoch;     /* 1-based */
    float loss;    /* training mini-batch loss (NaN = none) */
    float metric;  /* training accuracy in [0,1] (classify) or RMSE (regress); NaN = none */
    float val_loss;   /* NaN when no validation at this point */
    float val_metric; /* NaN when none */
    float lr;
} vl_progress_point;

typedef struct {
    int nclasses;
    int64_t n;          /* labelled items counted */
    int64_t *confusion; /* [nclasses * nclasses], row = truth */
    double accuracy;
    double macro_f1;
    double *precision, *recall, *f1; /* [nclasses] */
    int64_t *support;                /* [nclasses] true count */
} vl_cls_metrics;

/* truth/pred: n labels in [0, nclasses); a truth < 0 is skipped (unlabelled
 * frame) whatever its prediction. Errors: a label out of range (the message
 * names its index), bad arguments. On error *out is zeroed and owns nothing.
 * Free the arrays with vl_cls_metrics_free (safe to call twice). */
vl_status vl_cls_metrics_compute(int nclasses, const int32_t *truth, const int32_t *pred, int64_t n,
                                 vl_cls_metrics *out);
void vl_cls_metrics_free(vl_cls_metrics *m);

typedef struct {
    int64_t n;   /* values */
    double rmse, mae, r2; /* r2 = 1 - SS_res/SS_tot over all values (NaN if SS_tot == 0) */
} vl_reg_metrics;

/* Sums in double. n == 0 gives NaN metrics; a NaN or Inf value is
 * VL_ERR_NUMERIC naming its index. */
vl_status vl_reg_metrics_compute(const float *truth, const float *pred, int64_t n, vl_reg_metrics *out);

/* Aligned text: accuracy, confusion matrix with class names as row/column
 * headers (truncated to a readable width keeping head and tail: "a_real~t_7";
 * more than 16 classes, or too wide a line: columns by class index), then
 * per-class precision, recall, F1, support, and macro F1. Alignment counts
 * UTF-8 characters; control characters print as '?'. class_names may be
 * NULL (indices are used). */
void vl_cls_metrics_print(FILE *f, const vl_cls_metrics *m, const char *const *class_names);
/* JSON members (no surrounding braces) so callers can add their own keys:
 *   "accuracy":..,"macro_f1":..,"n":..,"classes":[..],"confusion":[[..],..],
 *   "per_class":[{"class":..,"precision":..,"recall":..,"f1":..,"support":..},..]
 * Strings are JSON-escaped; NaN/Inf are written as null; class_names may be
 * NULL ("0", "1", ...). */
void vl_cls_metrics_json(FILE *f, const vl_cls_metrics *m, const char *const *class_names);

/* Per-frame labels merged into segments of constant label. */
typedef struct {
    int64_t start, end; /* frame indices, end exclusive */
    int32_t label;
    float confidence;   /* mean conf over the segment's frames predicted as `label` */
} vl_segment;

/* labels [T], conf [T] (probability of labels[t]; may be NULL -> 1).
 * min_len > 1 first absorbs runs shorter than min_len into the longer
 * neighbour (smoothing flicker): shortest runs first, left to right, the left
 * neighbour on a tie, neighbours of equal label joined; a single run is kept
 * whatever its length. O(T log T) at worst. *out is malloc'ed (NULL when
 * T == 0); free() it. */
vl_status vl_segments_from_frames(const int32_t *labels, const float *conf, int64_t T, int min_len,
                                  vl_segment **out, int64_t *nseg);

/* Action-segmentation metrics of per-frame predictions, as MS-TCN (Farha &
 * Gall, CVPR 2019; its eval.py) and ASFormer report them, on a 0-100 scale:
 * - Edit: 100 * (1 - d / max(|P|, |Y|)) with d the Levenshtein distance
 *   between the sequences of segment labels (P predicted, Y true), per video,
 *   then the mean over videos; two empty segment sequences score 100.
 * - F1@k for k in vl_seg_overlaps (10%, 25%, 50% IoU): each predicted
 *   segment, in order, takes the true segment of highest IoU (IoU counts
 *   only for equal labels, else 0; the first on ties); a true positive if
 *   that IoU >= k and the true segment is not yet matched, else a false
 *   positive; unmatched true segments are false negatives. TP/FP/FN are
 *   summed over all videos, then P = TP/(TP+FP), R = TP/(TP+FN),
 *   F1 = 2PR/(P+R), each 0 when its denominator is 0 (eval.py's
 *   nan_to_num).
 * Segments are runs of equal label, [start, end) with end exclusive (eval.py
 * ends each video's last segment one frame early, at T-1; here it ends at T,
 * which only changes the IoU of last segments). Runs of label `background`
 * (pass -1 for none) are not segments, in truth or prediction (eval.py's
 * bg_class). Frames whose truth is < 0 (unlabelled) count as background in
 * both truth and prediction.
 * truth/pred: the videos' frames concatenated; video v is frames
 * [offsets[v], offsets[v+1]) (offsets has nvideos + 1 ascending entries,
 * offsets[0] = 0). nvideos == 0 gives NaN scores. Errors: bad arguments,
 * out of memory. Time O(segments_P * segments_Y) per video. */
#define VL_SEG_NOVERLAPS 3
extern const double vl_seg_overlaps[VL_SEG_NOVERLAPS]; /* 0.10, 0.25, 0.50 */

typedef struct {
    int64_t videos;
    double edit;                                   /* 0-100 */
    double f1[VL_SEG_NOVERLAPS];                   /* 0-100 */
    double precision[VL_SEG_NOVERLAPS], recall[VL_SEG_NOVERLAPS]; /* 0-100 */
    int64_t tp[VL_SEG_NOVERLAPS], fp[VL_SEG_NOVERLAPS], fn[VL_SEG_NOVERLAPS];
} vl_seg_metrics;

vl_status vl_seg_metrics_compute(const int32_t *truth, const int32_t *pred, const int64_t *offsets, int64_t nvideos,
                                 int32_t background, vl_seg_metrics *out);

/* Smoothing of per-frame class scores (`--smooth N`): out[t] = the mean of
 * prob[u] over the window u in [t - (n-1)/2, t + n/2] clipped to [0, T)
 * (centred; an even n leans one frame right), summed in double; take the
 * argmax of out afterwards. prob and out are [T x C] row-major and must not
 * overlap; n <= 1 copies. Errors: bad arguments. O(T * C). */
vl_status vl_smooth_probs(const float *prob, int64_t T, int C, int n, float *out);

/* Writes s as a JSON string literal (quotes, backslash and control
 * characters escaped, invalid UTF-8 replaced by U+FFFD); NULL writes null. */
void vl_json_write_string(FILE *f, const char *s);

#endif
