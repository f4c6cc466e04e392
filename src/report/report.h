/* Training reports: SVG charts and one self-contained HTML page (no scripts
 * or files fetched from elsewhere; the SVGs are inlined and also written next
 * to it), like MATLAB's training-progress plot and confusionchart.
 *
 * vl_report_write(dir, r) creates dir if needed and writes, atomically:
 *   progress.svg   training loss and accuracy (or RMSE for regression)
 *                  against iteration, validation points overlaid, epoch
 *                  boundaries marked, learning rate noted
 *   confusion.svg  confusion matrix (classify): counts and row-normalised
 *                  colour, class names on both axes, per-class recall/precision
 *   timeline.svg   per-frame truth against prediction, one band per video
 *                  (sequence models; omitted when ntimelines == 0)
 *   report.html    title, summary table (key/value pairs), the charts, and
 *                  the per-class precision/recall/F1 table (classify)
 *
 * A confusion.svg or timeline.svg left in dir by an earlier report is removed
 * when this report has no such chart, so the folder always matches report.html.
 * Every user string (title, names, summary) is escaped; NaN progress values
 * leave gaps; long runs are decimated to a few thousand plotted points; errors
 * name the file that could not be written. */
#ifndef VL_REPORT_REPORT_H
#define VL_REPORT_REPORT_H

#include <stdint.h>

#include "train/metrics.h" /* vl_cls_metrics, vl_progress_point */
#include "vidlstm.h"

typedef struct {
    const char *name; /* video or clip name */
    int64_t T;
    const int32_t *truth; /* [T], < 0 = unlabelled */
    const int32_t *pred;  /* [T] */
    double fps;           /* for a time axis; 0 = frames */
} vl_timeline;

typedef struct {
    const char *title;
    int regress; /* 1: metric is RMSE, no confusion chart */
    const vl_progress_point *progress;
    int nprogress;
    const vl_cls_metrics *confusion; /* validation/eval metrics or NULL */
    const char *const *class_names;  /* [nclasses] or NULL (classes are then shown by index) */
    const vl_timeline *timelines;
    int ntimelines;
    const char *const *summary_keys; /* nsummary key/value pairs for the summary table */
    const char *const *summary_values;
    int nsummary;
    /* Length of class_names when confusion is NULL (timelines only); 0 means
     * confusion->nclasses, or no names when confusion is NULL too. */
    int nclasses;
} vl_report;

vl_status vl_report_write(const char *dir, const vl_report *r);

#endif
