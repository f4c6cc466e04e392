/* Built-in, weight-free backbones: frame descriptors computed in plain C that
 * need no file, so a first run works with nothing downloaded.
 *
 * Two names: "motion-grid" (240 numbers: motion, sharpness and appearance,
 * below) and "ego-motion" (its first 16: the motion and sharpness blocks
 * alone, for tasks where the camera's own movement is the signal, e.g. gait
 * from a head-worn camera; leaving appearance out keeps small datasets from
 * fitting the scenery instead of the dynamics).
 *
 * They are NOT pretrained CNNs and do not pretend to be. The one built-in,
 * "motion-grid", describes each frame by
 *   - how the whole image moved since the previous sampled frame of the same
 *     video (global shift, zoom, roll, shear from phase correlation; frame
 *     difference energy), and
 *   - what it looks like at a coarse scale (luminance and colour grids,
 *     gradient-orientation histograms, sharpness / blur),
 * so that an LSTM on top can learn ego-motion and gait dynamics (step rate,
 * bob and sway, forward speed, motion blur) and coarse scene appearance.
 * docs/builtin-backbone.md documents every feature, its scale and sign.
 *
 * Frames follow the backbone convention (backbone.h): [n, 3, H, W] floats
 * prepared as vl_builtin_describe says (RGB in [0, 1]); the motion block of
 * frame i compares it with frame i-1 of the same batch, or with the last frame
 * of the previous call unless new_sequence = 1. The first frame of a sequence
 * gets an all-zero motion block. Output is deterministic and does not depend
 * on how a sequence is split into batches (bit-identical). */
#ifndef VL_BACKBONE_BUILTIN_H
#define VL_BACKBONE_BUILTIN_H

#include "video/video.h"
#include "vidlstm.h"

/* ---- motion-grid feature layout (offsets into one frame's feature vector) ---- */
enum {
    /* motion block: vs the previous frame of the sequence; all 0 on its first frame */
    VL_MG_DX = 0,        /* global horizontal shift, input pixels / 8 (+ = content moved right) */
    VL_MG_DY = 1,        /* global vertical shift, input pixels / 8 (+ = content moved down) */
    VL_MG_SPEED = 2,     /* sqrt(dx^2 + dy^2), input pixels / 8 */
    VL_MG_PEAK = 3,      /* global phase-correlation peak strength, 0 (no match) .. 1 (perfect) */
    VL_MG_ZOOM = 4,      /* divergence: relative scale change x 10 (+ = content expands, moving forward) */
    VL_MG_ROT = 5,       /* curl: roll in radians x 10 (+ = content turns clockwise on screen) */
    VL_MG_SHEAR1 = 6,    /* (d u/d x - d v/d y) / 2 x 10: stretch along x vs y */
    VL_MG_SHEAR2 = 7,    /* (d u/d y + d v/d x) / 2 x 10: diagonal stretch */
    VL_MG_QPEAK = 8,     /* mean peak strength of the four quadrant correlations, 0 .. 1 */
    VL_MG_QRESID = 9,    /* RMS misfit of the quadrant shifts to the affine motion, input pixels / 8 */
    VL_MG_DIFF = 10,     /* RMS luminance difference vs the previous frame x 4 */
    VL_MG_DIFF_COMP = 11,/* the same after undoing the global shift (to the nearest 2 px) x 4 */
    VL_MG_MOTION_DIM = 12,
    /* sharpness block: this frame only */
    VL_MG_GRAD = 12,     /* RMS luminance gradient (contrast x sharpness), per pixel x 4 */
    VL_MG_SHARP_X = 13,  /* ln(1-px / (2-px / 4) difference energy) along x: 0 smooth .. 1.4 pixel
                          * noise; drops with horizontal blur */
    VL_MG_SHARP_Y = 14,  /* the same along y: drops with vertical (bob) motion blur */
    VL_MG_ANISO = 15,    /* log(x / y 1-px difference energy) / 2: falls with x blur, rises with y blur */
    /* appearance blocks */
    VL_MG_LUMA = 16,     /* 8 x 8 grid of mean luminance, row-major, 2 * (Y - 0.5) in [-1, 1] */
    VL_MG_CHROMA = 80,   /* 4 x 4 grid x (R - G, B - (R + G) / 2), cell-major, x 2 */
    VL_MG_HOG = 112,     /* 4 x 4 cells x 8 unsigned gradient orientations, cell-major, sqrt of the
                          * L1-normalised histogram (bin b centred at b * 22.5 degrees from +x towards
                          * +y, i.e. clockwise on screen; 0 = horizontal gradient = vertical edge) */
    VL_MG_DIM = 240,
    /* "ego-motion": the motion and sharpness blocks alone (offsets 0..15) */
    VL_EM_DIM = 16,
};
/* ---- "motion" feature layout: one vector per sampled step, from the motion
 * between every pair of consecutive decoded frames (rates per second, so the
 * frame rate does not matter). Chosen on bench/quality (QUALITY.md): only
 * numbers that do not scale with the scene's depth or the lens (frequencies,
 * shares of power, amplitudes relative to the recent past), plus the window's
 * log power, which tells a still camera from a moving one. Rates are in
 * motion-grid's units (shift / 8 input pixels, affine x 10) per second, times
 * VL_MO_RATE_SCALE. ---- */
enum {
    VL_MO_NBANDS = 12,   /* frequencies of the spectra: log-spaced 0.7 .. 4.5 Hz */
    VL_MO_SPEC_Y = 0,    /* 12: share of the vertical velocity's power per frequency over VL_MO_WINDOW */
    VL_MO_SPEC_X = 12,   /* 12: the same for the horizontal velocity */
    VL_MO_LOGPOW = 24,   /* 4: ln(1e-3 + mean square) over the window of dx, dy, zoom, roll velocity */
    VL_MO_REL = 28,      /* 4: ln((1e-4 + the step's mean square) / (1e-3 + the window's)), same order: a
                          * change of motion energy relative to the last seconds (starts, stops) */
    VL_MO_CENTROID = 32, /* 2: power-weighted mean frequency of dy, dx over the window, Hz / 5 */
    VL_MO_PEAKF = 34,    /* 2: frequency of the strongest component over VL_MO_PEAK_WINDOW (0.05 Hz grid,
                          * interpolated), Hz / 5: of dy within 1.2 .. 4.8 Hz (the step rate) and of dx
                          * within 0.6 .. 2.4 Hz (the stride rate) */
    VL_MO_PEAKSHARE = 36,/* 2: that component's share of the power on the grid (how clean a tone) */
    VL_MO_BLUR = 38,     /* 3: step mean minus window max of sharpness x, sharpness y, ln gradient
                          * (<= 0; falls with motion blur, relative to the scene's own sharpness) */
    VL_MO_DIM = 41,
};
/* Changes whenever a built-in's numbers change: cached features are keyed by it. */
#define VL_BUILTIN_REVISION "builtin-7"
#define VL_MO_WINDOW 2.0       /* seconds of motion history behind the spectra */
#define VL_MO_PEAK_WINDOW 3.0  /* ... and behind the peak frequencies (finer resolution) */
#define VL_MO_RATE_SCALE 0.1f  /* per-second rates times this */

#define VL_MG_SHIFT_SCALE 8.0f /* input pixels per unit of VL_MG_DX / DY / SPEED / QRESID */
#define VL_MG_AFFINE_SCALE 10.0f /* ZOOM / ROT / SHEAR = coefficient x this */

typedef struct vl_builtin vl_builtin;

/* "motion" (dense): frames are every decoded frame (vl_sample_opts.all_frames),
 * one luma channel each ([n, 1, 128, 128], vl_preproc.grey, values in [0, 1]),
 * with their presentation times in seconds and the number of sampled steps
 * each stands for (vl_frame_batch.steps); writes sum(steps) feature vectors of
 * VL_MO_DIM. The other built-ins take this too (steps > 1 repeats a frame's
 * vector, steps = 0 skips it, pts unused). vl_builtin_run on "motion" fails:
 * it needs the frames in between. */
int vl_builtin_dense(const vl_builtin *b);
vl_status vl_builtin_run_dense(vl_builtin *b, const float *frames, int n, const double *pts, const int *steps,
                               int new_sequence, float *features);

/* NULL-terminated list of the built-in names. */
const char *const *vl_builtin_names(void);

/* name: one of vl_builtin_names() (a "builtin:" prefix is accepted). Unknown
 * names fail with VL_ERR_ARG and a message listing the known ones. */
vl_status vl_builtin_open(const char *name, vl_builtin **out);

/* The preprocessing frames need and the features per frame. */
void vl_builtin_describe(const vl_builtin *b, vl_preproc *pre, int *feature_dim);

/* frames: [n, 3, H, W] as described; features: [n, feature_dim].
 * new_sequence = 1 forgets the previous frame first. Fails with
 * VL_ERR_NUMERIC on non-finite pixels (the sequence state is then reset),
 * VL_ERR_ARG on n < 0 or NULL buffers. */
vl_status vl_builtin_run(vl_builtin *b, const float *frames, int n, int new_sequence, float *features);

void vl_builtin_free(vl_builtin *b);

#endif
