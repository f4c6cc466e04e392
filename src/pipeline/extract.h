/* Feature extraction: video clips -> per-frame feature sequences, through a
 * backbone, with an on-disk cache. The one module that joins video/ and
 * backbone/; train/ only ever sees the resulting sequences.
 *
 * A clip (file, start, end) is decoded and sampled (video.h), each sampled
 * frame is preprocessed as the backbone asks and turned into a feature
 * vector. Results are cached as `<cache>/<key>.npy` ([T, D] float32, readable
 * by numpy) plus `<key>.frames` (sampled times and source frame numbers, for
 * aligning per-frame labels, and a 64-bit checksum of both files' data:
 * an entry that fails it is recomputed), where the key hashes the backbone (spec, tap,
 * preprocessing, model file size and time), the sampling settings, the clip's
 * bounds and the video file's identity (path, size, modification time). A
 * second run with the same settings decodes nothing.
 *
 * Built-in backbones (state from frame to frame): clips are processed in
 * parallel by `jobs` workers, each with its own backbone instance and
 * decoder. ONNX backbones (stateless): `jobs` threads decode clips side by
 * side into batches that span clips, run by one backbone instance on every
 * core; features are what clip-by-clip extraction gives (times and frame
 * numbers exactly; features within float rounding: a CNN's results can
 * depend on the batch's size). The callback reports progress from the
 * calling thread. VL_PROFILE=1 in the environment: each vl_extract_clips
 * prints one line on standard error splitting its time. */
#ifndef VL_PIPELINE_EXTRACT_H
#define VL_PIPELINE_EXTRACT_H

#include <stdint.h>

#include "backbone/backbone.h"
#include "video/clips.h"
#include "vidlstm.h"

typedef struct {
    const char *backbone; /* "builtin:motion" (default when NULL), another built-in or an .onnx path */
    const char *tap;      /* ONNX tensor (NULL: the classifier's input) */
    const char *sha256;   /* ONNX: the SHA-256 the file must have (a model's record); NULL/"": not checked */
    /* the input normalisation for every ONNX part (built-in parts keep
     * theirs; an error when no part is ONNX); NULL: each backbone's own */
    const vl_input_norm *norm;
    /* what the ONNX parts' convolutions run in (vl_onnx_set_precision; 0 =
     * fp32); a fallback to fp32 is reported through `note`. Part of the cache
     * key (the effective precision, so a fallback reuses fp32 entries) */
    vl_precision precision;
    double fps;           /* sampling rate (default 10 when 0 and every_k == 0) */
    int every_k;          /* or every k-th frame */
    const char *cache;    /* cache folder (created); NULL = no cache */
    int jobs;             /* clips in parallel (ONNX: clips decoded in parallel); 0 = automatic */
    int batch;            /* frames per backbone call (default 16) */
    /* progress: called from the calling thread after each clip */
    void (*progress)(void *user, int done, int total, int64_t frames, int cached);
    void *user;
    /* a cache entry failed its checksum and is being recomputed (message
     * names the file); may be called from worker threads. NULL: silent */
    void (*note)(void *user, const char *msg);
} vl_extract_opts;

/* One extracted clip. */
typedef struct {
    int T, D;
    float *x;        /* [T, D] */
    double *time;    /* [T] sampled times (seconds from the stream start) */
    int64_t *index;  /* [T] source frame numbers */
    int cached;      /* 1 if read from the cache */
} vl_features;

void vl_features_free(vl_features *f);

typedef struct vl_extractor vl_extractor;

/* Opens the backbone once to describe it (errors here name the model file). */
vl_status vl_extractor_open(const vl_extract_opts *o, vl_extractor **out);
void vl_extractor_close(vl_extractor *x);
const vl_backbone_desc *vl_extractor_backbone(const vl_extractor *x);
/* Frees the backbones (a CNN's weights and planned buffers, hundreds of MB)
 * and keeps what describes them (vl_extractor_backbone,
 * vl_extractor_sampling): for a caller done extracting, e.g. `train` before
 * its training loop. Extracting afterwards fails with VL_ERR_ARG. */
void vl_extractor_release(vl_extractor *x);
/* The effective sampling: fps (0 if every_k) and every_k. */
void vl_extractor_sampling(const vl_extractor *x, double *fps, int *every_k);

/* Extracts clips[0..n) into out[0..n) (zeroed first). On error, every
 * successfully extracted clip is still freed by the caller via
 * vl_features_free; the message names the video. */
vl_status vl_extract_clips(vl_extractor *x, const vl_clip *clips, int n, vl_features *out);

/* Streams one video (a path, "-" for standard input, or anything FFmpeg
 * opens), calling `sink` with each frame's features as soon as it is
 * computed (batches of one frame: no waiting for a batch to fill; bounded
 * memory, for live prediction). `arrival` is the CLOCK_MONOTONIC time in
 * seconds at which the decoded frame reached the backbone, for latency
 * figures. Not cached. */
typedef int (*vl_feature_sink)(void *user, const float *x, int n, const double *time, const int64_t *index,
                               double arrival);
vl_status vl_extract_stream(vl_extractor *x, const char *path, vl_feature_sink sink, void *user);

#endif
