/* Labelled videos -> a training dataset of feature sequences.
 *
 * Where the data comes from (PRODUCT.md, "How users give data"):
 *   - a folder per class: DIR/<class>/<video>            (mode last)
 *   - a folder of videos, each with per-frame labels in a CSV of the same
 *     name (walk1.mp4 + walk1.csv)                         (mode sequence)
 *   - a CSV manifest of videos: path,label[,start,end] (mode last) or
 *     path,labels.csv (mode sequence: a per-frame label file per video,
 *     `frame,label` or `start,end,label` in seconds; see video/clips.h)
 *   - any of these cut into random clips: `clips_per_video` clips of
 *     clip_min..clip_max seconds from each (labelled) video, the MATLAB
 *     example's way.
 * Features come from the extractor (cached); per-frame labels are aligned to
 * the frames actually sampled, by timestamp. Every clip keeps its source
 * video as its group, so splits never put two clips of one video on both
 * sides. */
#ifndef VL_PIPELINE_VIDEODATA_H
#define VL_PIPELINE_VIDEODATA_H

#include "pipeline/extract.h"
#include "train/dataset.h"
#include "video/clips.h"

/* What a data argument holds, from one look at it (vl_data_describe): each
 * command describes its --data once and decides from this struct. */
typedef enum {
    VL_DATA_FEATURES,        /* a manifest of feature files (.npy): the first path is no video */
    VL_DATA_VIDEO_MANIFEST,  /* a CSV of videos: path,label[,start,end] or path,labels.csv */
    VL_DATA_CLASS_FOLDERS,   /* a folder holding a folder of videos per class */
    VL_DATA_LABELLED_VIDEOS, /* a folder of videos, each with a same-named .csv of per-frame labels */
    VL_DATA_VIDEO_FOLDER     /* any other folder: neither layout (loading it says why) */
} vl_data_kind;

typedef struct {
    vl_data_kind kind;
    int video;     /* any kind but VL_DATA_FEATURES: features come from a backbone */
    int per_frame; /* the labels are per-frame label files: what a command given no --mode builds */
    int items;     /* clips (folders, video manifests; 0 when unreadable) or data rows looked at
                      (feature manifests: at most 64) */
    vl_clip_list clips; /* the clips as listed (class folders, labelled videos, video manifests):
                           vl_videodata_clips copies them instead of reading the data again */
} vl_data_desc;

/* Describes `data` (a folder, or a CSV; a video manifest is parsed as clips
 * once, and those clips are kept). A file that cannot be opened is described
 * as a feature manifest, whose loading names the problem. Release with
 * vl_data_desc_free (a zeroed or freed desc may be freed again). */
void vl_data_describe(const char *data, vl_data_desc *desc);
void vl_data_desc_free(vl_data_desc *desc);

typedef struct {
    vl_task task;
    vl_out_mode mode;
    const char *const *classes; /* fixed class list (eval against a model), or NULL */
    int nclasses;
    int clips_per_video;        /* > 0: random clips from each video */
    double clip_min, clip_max;  /* seconds */
    uint64_t seed;              /* for random clips */
    /* Sharded extraction (docs/cluster.md): when `owner` is set (one entry
     * per clip of vl_videodata_clips), vl_videodata_load extracts only the
     * clips with owner[i] == shard; they become the items, in list order,
     * each with `line` = i + 1 (its place in the whole list). Classes still
     * come from every clip, so all shards share one class table. */
    const int *owner;
    int shard;
    const vl_data_desc *desc; /* data's description, or NULL: described here */
} vl_videodata_opts;

/* Builds the clip list for `data` (as above). For mode sequence, each clip's
 * label is the path of its per-frame label file. */
vl_status vl_videodata_clips(const char *data, const vl_videodata_opts *o, vl_clip_list *clips);

/* Extracts every clip and assembles the dataset (source = data). */
vl_status vl_videodata_load(vl_extractor *x, const char *data, const vl_videodata_opts *o, vl_dataset *out);

#endif
