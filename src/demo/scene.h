/* The demo dataset: real video files of a head-mounted camera on a person who
 * stands, walks or runs along a street, rendered and encoded here, so the demo
 * needs nothing downloaded (issue #6, point 3).
 *
 * The scene is procedural 3-D, ray cast per pixel from a pinhole camera: a
 * paved street with grass strips, building facades on both sides (brick
 * ground floors, plastered upper floors with windows, per-building heights
 * and colours), lamp posts, trees, bins and benches, a sky gradient, distance
 * shading and fog. The path is one long (720 m, repeating) street; a clip
 * starts at a random point of it. Its layout (street width, buildings, object
 * placement, materials) comes from a scene seed, and light and weather (sun,
 * sky, haze, clouds) from the clip's own seed; the camera applies auto
 * exposure and white balance. A dataset shares a few streets among all
 * classes, so the scene never tells the class. Single frames therefore look alike across activities; only
 * the camera dynamics tell them apart:
 *   stand: no forward motion, breathing bob (~0.5 cm), slow body sway, head turns;
 *   walk:  1.2-1.6 m/s, steps at 1.6-2.1 Hz, vertical bob 2-4 cm peak to peak,
 *          lateral sway and roll at half the step rate, pitch nod ~0.5-1 degree;
 *   run:   2.8-4 m/s, steps at 2.6-3.2 Hz, bob 6-10 cm, larger sway, roll and
 *          pitch oscillation (1.5-3 degrees).
 * All draw per-clip random parameters, plus slow yaw drift and head turns,
 * per-clip lighting (gain, tint, sun direction), slow light flicker, sensor
 * noise and motion blur (each frame is averaged along the path the centre of
 * view travels during the shutter time, 45-55% of the frame interval).
 * docs/demo-data.md describes the generator.
 *
 * Rendering is deterministic: the same spec gives the same frames. */
#ifndef VL_DEMO_SCENE_H
#define VL_DEMO_SCENE_H

#include <stdint.h>

#include "vidlstm.h"

typedef enum { VL_DEMO_STAND, VL_DEMO_WALK, VL_DEMO_RUN, VL_DEMO_NACTIVITIES } vl_demo_activity;

/* "stand", "walk", "run" (NULL for an out-of-range value). */
const char *vl_demo_activity_name(vl_demo_activity a);

/* One stretch of an activity schedule, [start, end) in seconds. The camera's
 * dynamics change smoothly (time constant ~0.25 s) from the boundary on. */
typedef struct {
    double start, end;
    vl_demo_activity activity;
} vl_demo_segment;

typedef struct {
    int width, height;   /* even, >= 16 */
    int fps;             /* frames per second, constant rate */
    double duration;     /* seconds (> 0); frames at k / fps for k / fps < duration */
    const char *codec;   /* encoder name as vl_writer_opts (NULL: "libx264") */
    int quality;         /* encoder quantiser (0: the writer's default) */
    uint64_t seed;       /* start point, gait parameters, camera, lighting, noise (and the
                          * street when scene == 0) */
    uint64_t scene;      /* the street: layout, buildings, materials (0: drawn from seed) */
    vl_demo_activity activity; /* used when nsegments == 0 */
    const vl_demo_segment *segments; /* else: the schedule, contiguous from 0, covering duration */
    int nsegments;
} vl_demo_clip;

/* Renders and encodes one video to `path` (container from the extension; the
 * file appears only on success). Errors: invalid spec (VL_ERR_ARG), encoder
 * or file problems (as vl_video_writer_*), out of memory. */
vl_status vl_demo_render_clip(const char *path, const vl_demo_clip *spec);

/* Renders frames without encoding: calls sink(user, k, time, rgb) for each
 * frame k (rgb: [height, width, 3]); a non-zero return stops (VL_OK). For
 * tests and previews. */
typedef int (*vl_demo_frame_sink)(void *user, int k, double time, const uint8_t *rgb);
vl_status vl_demo_render_frames(const vl_demo_clip *spec, vl_demo_frame_sink sink, void *user);

/* Options of vl_demo_make_dataset; 0 / NULL fields take the defaults shown. */
typedef struct {
    int clips_per_class;   /* 40 (negative: none) */
    int with_stand;        /* 0: classes walk, run; 1: stand, walk, run */
    double clip_min, clip_max; /* clip lengths in seconds: 3, 6 */
    int long_videos;       /* 12 (negative: none) */
    double long_min, long_max; /* long video lengths: 20, 40 s */
    double seg_min, seg_max;   /* activity stretches in long videos: 3, 8 s */
    int width, height;     /* 0: each video draws 320x240, 384x216 or 256x192; else this size */
    double scale;          /* frame size multiplier (1) */
    int fps;               /* 0: each video draws 24, 25 or 30 fps; else this rate */
    const char *codec;     /* "libx264" */
    int quality;           /* encoder quantiser (0: crf 23 for libx264, else the writer's default) */
    int scenes;            /* streets (scene seeds) shared by all classes: 1. Clip k of
                            * every class walks street k % scenes from a random point, so
                            * no street belongs to one class */
    uint64_t seed;         /* 0 is a valid seed */
    int threads;           /* videos rendered in parallel (0: online CPUs) */
} vl_demo_opts;

/* What vl_demo_make_dataset made. */
typedef struct {
    int clips, long_videos;
    int64_t frames;        /* all frames encoded */
    double video_seconds;  /* total duration */
    double wall_seconds;   /* time taken */
} vl_demo_summary;

/* Writes
 *   dir/clips/<class>/<class>_NNN.mp4   one activity per clip (folder-per-class layout);
 *   dir/long/long_NN.mp4 + long_NN.csv  videos whose activity switches between stand, walk
 *                                       and run, labelled by a `start,end,label` segments CSV
 *                                       (seconds; vl_frame_labels_load reads it);
 * creating folders as needed. Each video draws its size, frame rate, length
 * and seed from o->seed, so the dataset is the same whatever the thread
 * count. Clip k of each class shares no seed with any other video. `summary`
 * may be NULL. On error, the videos already written stay (each file is
 * complete or absent). */
vl_status vl_demo_make_dataset(const char *dir, const vl_demo_opts *o, vl_demo_summary *summary);

#endif
