/* Writing video files with libavcodec: used by the test suite to make videos
 * with known content and by the demo to make its dataset. Frames go in as
 * packed RGB24 with explicit presentation times, so variable frame rates and
 * exact timestamps can be produced. */
#ifndef VL_VIDEO_ENCODE_H
#define VL_VIDEO_ENCODE_H

#include <stdint.h>

#include "vidlstm.h"

typedef struct vl_video_writer vl_video_writer;

typedef struct {
    const char *codec;   /* encoder name: "libx264", "mpeg4", "libvpx", "libvpx-vp9", "mjpeg", ... */
    int width, height;
    int fps_num, fps_den;/* nominal rate; also the time base is 1/(fps_num * 1000) s when vfr */
    int vfr;             /* 1: timestamps come from vl_video_writer_add's time argument */
    int rotation;        /* clockwise display rotation to record (0, 90, 180, 270) */
    int quality;         /* 0 = encoder default; else a codec-specific quantiser (crf/qscale) */
    int gop;             /* keyframe interval (0 = encoder default) */
    int bframes;         /* consecutive B-frames (0 = none); libx264 (ultrafast, B-pyramid: with 2 or more,
                          * the middle one a reference and the others not) and mpeg4 */
} vl_writer_opts;

/* Container chosen from the file name's extension (.mp4, .mkv, .webm, .avi, .mov).
 * The file appears only when vl_video_writer_close succeeds (temp + rename). */
vl_status vl_video_writer_open(const char *path, const vl_writer_opts *o, vl_video_writer **out);
/* rgb: [height, width, 3]; time in seconds (used when vfr, else frames are consecutive). */
vl_status vl_video_writer_add(vl_video_writer *w, const uint8_t *rgb, double time);
/* Flushes and finalises; frees w in all cases. */
vl_status vl_video_writer_close(vl_video_writer *w);
/* Discards the output (no file is left). */
void vl_video_writer_abort(vl_video_writer *w);

#endif
