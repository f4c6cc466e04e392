/* Backbones: turn preprocessed frames into per-frame feature vectors.
 *
 * A backbone is either an ONNX image model tapped at a named tensor (like
 * MATLAB's activations(net, X, 'pool5')) or a built-in, weight-free frame
 * descriptor that needs no file. Each declares the preprocessing its frames
 * need (vl_preproc, applied by the video module) and its feature width.
 *
 * Frames go in batches: [n, 3, H, W] (or [n, H, W, 3] when pre.nhwc) floats,
 * consecutive sampled frames of one video. Backbones that look at motion
 * keep the previous frame between calls; `new_sequence` = 1 on a video's
 * first batch resets that state. Features come out as [n, feature_dim]. */
#ifndef VL_BACKBONE_BACKBONE_H
#define VL_BACKBONE_BACKBONE_H

#include "backbone/preprocess.h"
#include "video/video.h"
#include "vidlstm.h"

typedef struct {
    char name[256];      /* "builtin:<name>", the ONNX file path, or a known backbone's name (registry.h) */
    char file[512];      /* ONNX: the file opened (a known name's cached file), else "" */
    char sha256[4 * 65]; /* ONNX: that file's SHA-256 (hex), else ""; fused (extract.h): one per part,
                          * joined by '+' like name */
    char tap[256];       /* tapped tensor (ONNX) or "" */
    vl_preproc pre;      /* frames must be prepared like this */
    int feature_dim;
    int dense;           /* 1: wants every decoded frame (vl_sample_opts.all_frames) and vl_backbone_run_dense */
    int has_norm;        /* 1: pre's channel order, scale, mean and std come from `norm` (the user's) */
    vl_input_norm norm;
    vl_precision precision; /* ONNX: what its convolutions run in (vl_backbone_set_precision), else fp32 */
} vl_backbone_desc;

typedef struct vl_backbone vl_backbone;

/* spec: a path to an .onnx file, "builtin:NAME" / a bare built-in name, or
 * the name of a known pretrained backbone ("resnet18": fetched into the cache
 * when missing, checked by SHA-256, its tap and preprocessing from the table;
 * registry.h). A spec that is none of these is one error listing the names.
 * tap: ONNX tensor to read features from (NULL: the input of the final
 * classifier). */
vl_status vl_backbone_open(const char *spec, const char *tap, vl_backbone **out);
const vl_backbone_desc *vl_backbone_describe(const vl_backbone *b);
/* Replaces an ONNX backbone's input normalisation (channel order, range,
 * mean, std; not size or layout) with n. A built-in descriptor or a pose
 * backbone prepares its own frames: VL_ERR_ARG. */
vl_status vl_backbone_set_input_norm(vl_backbone *b, const vl_input_norm *n);
/* 1 when vl_backbone_set_input_norm applies to b (an ONNX image backbone). */
int vl_backbone_takes_input_norm(const vl_backbone *b);
/* Runs an ONNX backbone (image or pose) in precision p (vl_onnx_set_precision):
 * desc.precision becomes what it will run in, and *note (when not NULL) the
 * reason a bf16 or int8 request fell back to fp32, or NULL. A built-in
 * descriptor takes only fp32 (VL_ERR_ARG otherwise). */
vl_status vl_backbone_set_precision(vl_backbone *b, vl_precision p, const char **note);
/* int8 features depend on the built-in calibration (its images, headroom)
 * and on which layers run in int8 (fusions): feature caches key on this
 * name, so change it whenever either changes. 2: SiLU/Sigmoid folded into
 * int8 convolutions, 1x1 + depthwise fused in int8. */
#define VL_BACKBONE_INT8_CALIBRATION "int8-scheme-2"
/* 1 when vl_backbone_set_precision can change b (an ONNX backbone). */
int vl_backbone_takes_precision(const vl_backbone *b);
/* 1 when each frame's features depend on that frame alone (ONNX models:
 * image CNNs, pose): frames of different videos may share a batch and
 * new_sequence is ignored. Built-in descriptors keep the previous frame. */
int vl_backbone_stateless(const vl_backbone *b);
/* The frame count of the last batch an ONNX backbone ran (its plan is for
 * that size: another size plans again); 0 for others. */
int vl_backbone_last_batch(const vl_backbone *b);
vl_status vl_backbone_run(vl_backbone *b, const float *frames, int n, int new_sequence, float *features);
/* Every decoded frame (vl_sample_opts.all_frames): pts [n] in seconds, steps
 * [n] the sampled steps each frame stands for (vl_frame_batch.steps); writes
 * sum(steps) vectors. Works for every backbone; dense ones measure motion
 * between all consecutive frames, the others see the sampled frames only. */
vl_status vl_backbone_run_dense(vl_backbone *b, const float *frames, int n, const double *pts, const int *steps,
                                int new_sequence, float *features);
void vl_backbone_close(vl_backbone *b);

#endif
