/* Clip sources: turn a dataset on disk into a list of labelled clips
 * (video path, start and end in seconds, label, group), and per-frame label
 * files into one label per sampled frame.
 *
 * A clip's `start`/`end` map straight onto vl_sample_opts.start/.end:
 * end == 0 means "to the end of the video" (start 0, end 0 = whole video).
 * Every clip carries a `group` naming its source video, so a train/validation
 * split can keep all clips of one video on the same side.
 *
 * Sources append to a list, so several can be combined (one call per long
 * video, a folder tree plus a manifest, ...). On failure a source leaves the
 * list exactly as it was before the call and sets vl_errmsg(); file-based
 * errors read "FILE:LINE: problem". Nothing here prints or exits.
 *
 * Class names are kept sorted in byte order (strcmp, locale-independent), so
 * label ids depend only on the set of labels, not on the order clips were
 * added or the order a file system lists folders. */
#ifndef VL_VIDEO_CLIPS_H
#define VL_VIDEO_CLIPS_H

#include <stdint.h>

#include "core/rng.h"
#include "vidlstm.h"

typedef struct {
    char *path;        /* video file */
    double start, end; /* seconds; end == 0: to the end of the video */
    char *label;       /* class name; NULL for unlabelled clips (prediction windows) */
    int label_id;      /* index into the list's classes; -1 when label is NULL */
    char *group;       /* source video, for grouped splits */
} vl_clip;

/* A growable array of clips. Zero-initialised (`vl_clip_list l = {0};`) is
 * a valid empty list; release it with vl_clip_list_free. */
typedef struct {
    vl_clip *items;
    int n, cap;
    char **classes; /* distinct non-NULL labels, sorted by strcmp */
    int nclasses, ccap;
} vl_clip_list;

void vl_clip_list_free(vl_clip_list *l); /* frees everything; l becomes empty */

/* Appends one clip (strings are copied; label may be NULL; group NULL = path).
 * Inserting a new class renumbers label_id of existing clips to keep the
 * class table sorted. */
vl_status vl_clip_list_add(vl_clip_list *l, const char *path, double start, double end, const char *label,
                           const char *group);

/* dst (empty or not: it is freed first) becomes a copy of src. */
vl_status vl_clip_list_copy(vl_clip_list *dst, const vl_clip_list *src);

/* Index of a class name in l->classes, or -1. */
int vl_clip_list_class(const vl_clip_list *l, const char *name);

/* 1 if `name` ends in a video extension: mp4 mkv webm avi mov m4v mpg mpeg
 * wmv flv, in any letter case. */
int vl_is_video_file_name(const char *name);

/* (a) Folder per class: root/<class>/<video> (UCF101, HMDB51, KTH layout).
 * Each non-hidden sub-folder of root is a class; each non-hidden regular
 * file (symlinks followed) with a video extension inside it is one clip
 * (start 0, end 0), group = its path. Other files, nested folders and
 * anything hidden (leading '.') are skipped. Classes and files are sorted by
 * strcmp. Errors: root unreadable (VL_ERR_IO); no class folders, or a class
 * folder with no video files (VL_ERR_FORMAT). */
vl_status vl_clips_from_folders(vl_clip_list *l, const char *root);

/* (b) CSV manifest, one clip a line: path,label[,start,end]
 * - optional header: a first record whose fields are "path,label" or
 *   "path,label,start,end" (case-insensitive);
 * - RFC 4180 quoting ("a,b" and "say ""hi""", newlines inside quotes),
 *   spaces around unquoted fields trimmed, CRLF and a UTF-8 BOM accepted;
 * - blank lines and lines whose first non-space character is '#' skipped;
 * - relative paths are resolved against the manifest's folder; the file
 *   must exist (a regular file);
 * - start/end: seconds; both omitted = whole video; an empty start means 0
 *   and an empty end means "to the end" (0). An explicit end must be > start,
 *   start must be >= 0.
 * group = resolved path. Errors read "manifest:line: ..." (missing field, too
 * many fields, empty label, bad number, negative start, end <= start, video
 * not found) or "manifest: no clips". */
vl_status vl_clips_from_csv(vl_clip_list *l, const char *manifest);

/* (c) `n` random clips of one labelled video: each duration is uniform in
 * [min_len, min(max_len, D)], then its start is uniform in [0, D - duration],
 * so the clip lies inside the video. D = `duration` when > 0, else (0) taken
 * from vl_video_probe. Draws come from `rng` (seed it with vl_rng_seed; pass
 * the same rng through calls for several videos so their clips differ).
 * Clips are appended in draw order; group = path. Errors: n < 1,
 * min_len <= 0, max_len < min_len, duration < 0 or non-finite (VL_ERR_ARG);
 * a video shorter than min_len, or of unknown length (VL_ERR_FORMAT). */
vl_status vl_clips_random(vl_clip_list *l, const char *path, const char *label, double duration, int n,
                          double min_len, double max_len, vl_rng *rng);

/* (d) Sliding windows over one video (prediction timelines): windows
 * [k*stride, k*stride + len) for k = 0, 1, ... while k*stride + len <= D
 * (with 1e-9 s tolerance, so D = 10, len 2, stride 0.1 gives 81 windows), and,
 * if `cover_end` and the last window ends before D, one more window
 * [D - len, D). D as in vl_clips_random. label may be NULL; group = path.
 * Errors: len <= 0, stride <= 0 (VL_ERR_ARG); D < len (VL_ERR_ARG, naming
 * the video, its length and the window length). */
vl_status vl_clips_windows(vl_clip_list *l, const char *path, const char *label, double duration, double len,
                           double stride, int cover_end);

/* (e) Per-frame labels of one video, from a CSV file in one of three forms:
 *   frame,label        one row per labelled source frame (frame numbers as
 *                      vl_frame_batch.index counts them, from 0);
 *   start,end,label    segments in seconds, each covering [start, end);
 *   start_frame,end_frame,label  frame ranges, both ends inclusive (header
 *                      only; loaded as the frame form, one row per range).
 * With a header (a first record whose first field is not a number) the form
 * and the columns come from the header names, matched case-insensitively, in
 * any order; columns with other names are ignored:
 *   frame:  frame frame_index frame_idx frame_id index idx frame_number frameno
 *   label:  label class action activity label_name class_name
 *   start:  start start_s start_sec start_time t_start begin onset
 *   end:    end end_s end_sec end_time t_end offset
 *   ranges: start_frame end_frame
 * A header without a label column and exactly one of frame / start+end /
 * start_frame+end_frame is an error listing the accepted names; so is a
 * role named twice. Without a header the form comes from the column count
 * (2: frame,label; 3: start,end,label) of the first record. Every row has
 * as many fields as the first. Quoting, comments, blank lines as for
 * manifests. Errors read "file:line: ..." (wrong column count, bad number,
 * negative frame/start, end <= start, end frame < start frame, empty label,
 * a frame labelled twice, overlapping segments — naming both lines) or
 * "file: no labels". Rows may come in any order; they are kept sorted. */
typedef enum { VL_LABELS_FRAMES, VL_LABELS_SEGMENTS } vl_frame_label_kind;

typedef struct {
    vl_frame_label_kind kind;
    char *file;          /* as given, for messages */
    int n;               /* rows */
    int64_t *frame;      /* FRAMES: [n] ascending source frame numbers */
    int64_t *frame_last; /* FRAMES: [n] last frame of each row, inclusive (== frame but for ranges) */
    double *start, *end; /* SEGMENTS: [n] ascending, non-overlapping */
    int32_t *label;      /* [n] index into classes */
    int *line;           /* [n] line of each row in the file */
    char **classes;      /* distinct labels, sorted by strcmp */
    int nclasses;
} vl_frame_labels;

vl_status vl_frame_labels_load(const char *path, vl_frame_labels **out);
void vl_frame_labels_free(vl_frame_labels *fl);

/* One label per sampled frame, from the arrays a vl_frame_batch delivers
 * (time[] and index[], n frames; only the array the form needs must be
 * non-NULL): FRAMES form -> the row of source frame index[i]; SEGMENTS form
 * -> the segment containing time[i] (a time within 1e-9 s below a boundary
 * counts as past it, absorbing rounding in k/fps). So alignment follows the
 * video's clock, whatever the sampling rate.
 * out[i] is an index into `classes` (nclasses names, e.g. a vl_clip_list's
 * classes, so ids agree across videos) or, when classes is NULL, into
 * fl->classes; a label missing from `classes` is an error naming the file
 * and line.
 * A frame with no label is an error naming the file and the frame number or
 * time, unless `allow_unlabelled`, in which case out[i] = -1 (the network
 * rejects -1: drop or mask those steps before training). */
vl_status vl_frame_labels_align(const vl_frame_labels *fl, int n, const double *time, const int64_t *index,
                                const char *const *classes, int nclasses, int allow_unlabelled, int32_t *out);

#endif
