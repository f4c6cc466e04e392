/* vl_data_describe (pipeline/videodata.h): what each data layout is
 * described as (kind, video, per-frame, items), and that the loading words
 * its layout errors from the description, given or made, without losing the
 * scan's own message. Files are made at run time in a scratch folder; the
 * videos are empty files (only their names are looked at here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/error.h"
#include "pipeline/videodata.h"
#include "scratch.h"

/* vl_videodata_clips gives the same list from the description's clips as
 * from reading the data again. */
static void same_clips(const char *rel, const vl_data_desc *d, vl_out_mode mode)
{
    vl_clip_list a = {0}, b = {0};
    vl_videodata_opts o = {.task = VL_TASK_CLASSIFY, .mode = mode};
    vl_status sa = vl_videodata_clips(tpath(rel), &o, &a);
    o.desc = d;
    vl_status sb = vl_videodata_clips(tpath(rel), &o, &b);
    int same = sa == sb && a.n == b.n && a.nclasses == b.nclasses;
    for (int i = 0; same && i < a.n; i++) {
        const vl_clip *x = &a.items[i], *y = &b.items[i];
        same = !strcmp(x->path, y->path) && x->start == y->start && x->end == y->end &&
               (x->label && y->label ? !strcmp(x->label, y->label) : x->label == y->label) &&
               x->label_id == y->label_id && !strcmp(x->group, y->group);
    }
    CHECK(same, "%s: clips from the description (%d, status %d) differ from a fresh reading (%d, status %d)", rel, b.n,
          (int)sb, a.n, (int)sa);
    vl_clip_list_free(&a);
    vl_clip_list_free(&b);
}

static void expect(const char *rel, vl_data_kind kind, int per_frame, int items)
{
    vl_data_desc d;
    memset(&d, 0x5a, sizeof d); /* every field must be set */
    vl_data_describe(tpath(rel), &d);
    CHECK(d.kind == kind, "%s: kind %d, expected %d", rel, (int)d.kind, (int)kind);
    CHECK(d.video == (kind != VL_DATA_FEATURES), "%s: video %d", rel, d.video);
    CHECK(d.per_frame == per_frame, "%s: per_frame %d, expected %d", rel, d.per_frame, per_frame);
    CHECK(d.items == items, "%s: items %d, expected %d", rel, d.items, items);
    const int listed = kind == VL_DATA_CLASS_FOLDERS || kind == VL_DATA_LABELLED_VIDEOS || kind == VL_DATA_VIDEO_MANIFEST;
    CHECK(d.clips.n == (listed ? items : 0), "%s: %d clips kept, expected %d", rel, d.clips.n, listed ? items : 0);
    if (listed)
        same_clips(rel, &d, per_frame ? VL_OUT_SEQUENCE : VL_OUT_LAST);
    vl_data_desc_free(&d);
}

/* vl_videodata_clips on rel fails, its message containing `want`, whether the
 * description is given or made inside. */
static void expect_clips_error(const char *rel, vl_out_mode mode, const char *want)
{
    vl_data_desc d;
    vl_data_describe(tpath(rel), &d);
    for (int given = 0; given < 2; given++) {
        vl_videodata_opts o = {.task = VL_TASK_CLASSIFY, .mode = mode, .desc = given ? &d : NULL};
        vl_clip_list l = {0};
        vl_status st = vl_videodata_clips(tpath(rel), &o, &l);
        CHECK(st != VL_OK && strstr(vl_errmsg(), want), "%s (mode %d, description %s): '%s', expected '%s'", rel,
              (int)mode, given ? "given" : "made", vl_errmsg(), want);
        vl_clip_list_free(&l);
    }
    vl_data_desc_free(&d);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/vl_datadesc_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    /* folders */
    put("classes/run/a.mp4", "");
    put("classes/run/b.mp4", "");
    put("classes/walk/c.mkv", "");
    expect("classes", VL_DATA_CLASS_FOLDERS, 0, 3);
    put("long/v1.mp4", "");
    put("long/v1.csv", "frame,label\n0,run\n");
    put("long/v2.mp4", "");
    put("long/v2.csv", "frame,label\n0,walk\n");
    expect("long", VL_DATA_LABELLED_VIDEOS, 1, 2);
    mkdir(tpath("empty"), 0755);
    expect("empty", VL_DATA_VIDEO_FOLDER, 0, 0);
    put("half/v1.mp4", ""); /* a video without its label file, no class folders */
    expect("half", VL_DATA_VIDEO_FOLDER, 0, 0);

    /* video manifests (the first row that is not a `path` header decides) */
    put("videos.csv", "path,label\nclasses/run/a.mp4,run\nclasses/walk/c.mkv,walk\n");
    expect("videos.csv", VL_DATA_VIDEO_MANIFEST, 0, 2);
    put("vlong.csv", "long/v1.mp4,long/v1.csv\nlong/v2.mp4,long/v2.csv\n");
    expect("vlong.csv", VL_DATA_VIDEO_MANIFEST, 1, 2);
    put("vmixed.csv", "long/v1.mp4,long/v1.csv\nlong/v2.mp4,walk\n"); /* one clip label: not per-frame */
    expect("vmixed.csv", VL_DATA_VIDEO_MANIFEST, 0, 2);

    /* feature manifests */
    put("feats.csv", "a.npy,up\nb.npy,down\nc.npy,up\n");
    expect("feats.csv", VL_DATA_FEATURES, 0, 3);
    put("fa.csv", "frame,label\n0,up\n");
    put("fb.csv", "frame,label\n0,down\n");
    put("frames.csv", "path,group,labels\na.npy,g1,fa.csv\nb.npy,g2,fb.csv\n"); /* the header's label column */
    expect("frames.csv", VL_DATA_FEATURES, 1, 2);
    put("frames_gone.csv", "a.npy,fa.csv\nb.npy,nothere.csv\n");
    expect("frames_gone.csv", VL_DATA_FEATURES, 0, 2);
    put("nolabel.csv", "path,group\na.npy,g\n"); /* no label column: not per-frame */
    expect("nolabel.csv", VL_DATA_FEATURES, 0, 1);
    {
        /* the per-frame check looks at the first 64 rows; items counts all */
        char big[8192];
        int n = 0;
        for (int i = 0; i < 70; i++)
            n += snprintf(big + n, sizeof big - (size_t)n, "x%d.npy,%s\n", i, i < 64 ? "fa.csv" : "up");
        put("big.csv", big);
        expect("big.csv", VL_DATA_FEATURES, 1, 70);
    }
    expect("missing.csv", VL_DATA_FEATURES, 0, 0); /* loading it names the problem */

    /* the loading words layout errors from the description */
    expect_clips_error("classes", VL_OUT_SEQUENCE, "a folder per class (one label per clip)");
    expect_clips_error("long", VL_OUT_LAST, "videos with per-frame label files (name.mp4 + name.csv)");
    expect_clips_error("empty", VL_OUT_SEQUENCE, "no video files (a sequence model needs videos");
    expect_clips_error("half", VL_OUT_SEQUENCE, "no per-frame label file");

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
