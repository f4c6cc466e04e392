/* Video ingestion: decode any file FFmpeg reads, sample frames by time or by
 * count, preprocess them for a backbone, and stream them in fixed-size
 * batches to a consumer while the next batch decodes on another thread.
 * Memory stays bounded by the batch size, whatever the video's length.
 *
 * Sampling semantics (documented for users in docs/video.md):
 * - by rate: target times t_k = start + k / fps for k = 0, 1, ... while
 *   t_k < end; the frame delivered for t_k is the one on screen at t_k, i.e.
 *   the last frame whose presentation time is <= t_k (so variable frame
 *   rate is handled by timestamps, and a target rate above the source rate
 *   repeats frames, as ffmpeg's fps filter does);
 * - every k-th frame: decoded frames i = 0, k, 2k, ... counted from the
 *   first frame at or after `start`.
 * Times are seconds from the start of the stream (its first timestamp = 0).
 *
 * This module knows nothing about features or models. */
#ifndef VL_VIDEO_VIDEO_H
#define VL_VIDEO_VIDEO_H

#include <stdint.h>

#include "vidlstm.h"

typedef struct {
    int width, height;  /* coded size */
    int display_width;  /* after rotation */
    int display_height;
    int rotation;       /* clockwise degrees to apply for display: 0, 90, 180, 270 */
    double fps;         /* average frame rate (0 if unknown) */
    double duration;    /* seconds (0 if unknown) */
    int64_t frames;     /* frame count if the container says, else estimate or 0 */
    char codec[32];
    char container[32];
} vl_video_info;

/* Network inputs (URLs other than file:): give up when no data comes for
 * this many seconds (default 30; <= 0 restores the default). Process-wide:
 * set it before opening videos. */
void vl_video_set_timeout(double seconds);
double vl_video_timeout(void);

/* Probe a file: opens it, finds the video stream, reads the header. */
vl_status vl_video_probe(const char *path, vl_video_info *info);

typedef enum {
    VL_RESIZE_SHORTER, /* scale the shorter side to resize_to, keep aspect, centre-crop width x height */
    VL_RESIZE_EXACT,   /* scale to width x height (aspect not kept) */
} vl_resize_mode;

/* What a backbone wants its frames to look like. */
typedef struct {
    int width, height;     /* output size */
    vl_resize_mode resize;
    int resize_to;         /* VL_RESIZE_SHORTER: target shorter side (>= max(width, height)) */
    int bgr;               /* 1: channels B,G,R; 0: R,G,B */
    float scale;           /* pixel value multiplier: 1/255 -> [0,1], 1 -> [0,255] */
    float mean[3], std[3]; /* per output channel, after scaling: (v*scale - mean) / std */
    int nhwc;              /* 1: [n, H, W, 3]; 0: [n, 3, H, W] */
    int grey;              /* 1: one channel, luma (full range 0..255 before scale, mean[0], std[0]):
                            * [n, 1, H, W]; decoded from the Y plane alone (no colour conversion) */
} vl_preproc;

/* torchvision's ImageNet evaluation transform: shorter side 256, centre crop
 * 224x224, RGB, [0,1], mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), NCHW. */
void vl_preproc_imagenet(vl_preproc *p);
/* Floats per preprocessed frame. */
static inline int64_t vl_preproc_frame_size(const vl_preproc *p)
{
    return (int64_t)(p->grey ? 1 : 3) * p->width * p->height;
}

typedef struct {
    double fps;      /* > 0: sample at this rate by timestamps */
    int every_k;     /* when fps == 0: every k-th frame (1 = all) */
    double start;    /* seconds */
    double end;      /* seconds; <= 0: to the end of the video */
    int batch;       /* frames per delivered batch (default 16) */
    int threads;     /* decoder threads (0 = automatic) */
    int64_t max_frames; /* stop after this many sampled frames (0 = no limit) */
    int max_bad_packets; /* consecutive decode errors tolerated (default 32) */
    int all_frames;  /* 1: deliver every decoded frame from the first sampled one on (until the clip's end
                      * or the video's: a few after the last sampled one may come), not only the sampled ones, each with the number of sampled steps it stands for (batch.steps):
                      * for backbones that measure motion at the source rate */
} vl_sample_opts;

/* Preprocessings one decoding pass can deliver (fused backbones). */
#define VL_MAX_PLANES 4

/* A batch of sampled, preprocessed frames. */
typedef struct {
    int n;               /* frames in this batch */
    const float *pixels; /* n * vl_preproc_frame_size floats */
    const double *time;  /* [n] target time (rate sampling) or presentation time (every k-th) */
    const double *pts;   /* [n] presentation time of the source frame delivered */
    const int64_t *index;/* [n] source frame number counted from the start of the stream. Exact
                          * when the clip starts at 0, and after a seek in files with a full frame
                          * index (MP4, MOV, AVI) or a constant frame rate; for variable-rate files
                          * without one (some MKV/WebM) it is estimated from time after a seek, so
                          * label such clips by time (start,end,label segments). */
    int64_t first;       /* sampled-frame number of pixels[0] within this call (all_frames: sampled steps
                          * before this batch) */
    const int *steps;    /* all_frames only (else NULL: every frame is one step): [n] sampled steps frame i
                          * stands for: 0 for a frame between two sampled ones, 1 for a sampled frame, more
                          * when the sampling rate exceeds the source's. time[i] is then the first step's
                          * target time (step j at time[i] + j / fps), or the frame's pts when steps[i] = 0;
                          * max_frames and nsampled count steps. */
    int nplanes;         /* vl_video_stream_planes: planes[k] holds the frames prepared as pre[k]
                          * (planes[0] == pixels); 1 for vl_video_stream */
    const float *planes[VL_MAX_PLANES];
} vl_frame_batch;

/* Return non-zero to stop early (vl_video_stream then returns VL_OK). */
typedef int (*vl_frame_sink)(void *user, const vl_frame_batch *batch);

/* Decodes `path` and calls `sink` for each batch, in order, from the calling
 * thread; decoding runs ahead on a second thread (one batch of look-ahead).
 * `nsampled` (may be NULL) receives the number of frames delivered.
 * Errors name the file: missing, unreadable, not a video, no video stream,
 * corrupt beyond the error bound, start beyond the end, clip shorter than
 * requested. */
vl_status vl_video_stream(const char *path, const vl_sample_opts *opts, const vl_preproc *pre, vl_frame_sink sink,
                          void *user, int64_t *nsampled);
/* The same, decoding once and preparing every frame in `nplanes` ways
 * (1..VL_MAX_PLANES: batch.planes[k] as pre[k]), for backbones fused from
 * several. With all_frames, a plane k > 0 whose sampled_only[k] is set
 * (sampled_only may be NULL) is not prepared for frames of 0 steps: its
 * backbone reads only the sampled frames, and a CNN's 224x224 colour
 * conversion of every decoded frame would be wasted. */
vl_status vl_video_stream_planes(const char *path, const vl_sample_opts *opts, const vl_preproc *const *pre,
                                 const int *sampled_only, int nplanes, vl_frame_sink sink, void *user,
                                 int64_t *nsampled);

/* Where decoding time goes, summed over every stream of the process since it
 * started: wall seconds of each decoding thread in opening (demuxer, decoder,
 * converters), reading packets, decoding, converting selected frames, and
 * waiting for the consumer to take a batch. Counted only when the
 * environment has VL_PROFILE=1 (read once); else all zero. */
typedef struct {
    double open, read, decode, convert, wait;
    int64_t decoded, converted; /* frames */
    int64_t skipped;            /* frames left undecoded: no sampled time needed them (not in decoded) */
} vl_video_profile;
int vl_profile_enabled(void);
void vl_video_profile_get(vl_video_profile *p);

#endif
