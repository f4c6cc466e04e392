/* libFuzzer target for the CSV reader (src/core/csv.c) and every parser of
 * user-supplied manifests, label files and split files on top of it: the
 * feature-dataset manifest (src/train/dataset.c, in each task and output
 * mode), split files, video-clip manifests (src/video/clips.c, via
 * src/pipeline/videodata.c) and per-frame label files. Any text must give
 * VL_OK or an error, never a crash, a hang or a leak (ASan + UBSan).
 * The first byte picks the parser, the rest is the file. Manifests can name
 * the feature files a.npy / b.npy (3x2 floats) and per-frame label files
 * a.csv / b.csv written once beside them, so rows that resolve get past the
 * path check. Seeds: tests/fuzz/manifest/seeds. See run_fuzz.sh. */
#include "fuzz_util.h"

#include "core/csv.h"
#include "pipeline/videodata.h"
#include "train/dataset.h"
#include "video/clips.h"

static vl_dataset fixed; /* for split files: a.npy (x), b.npy (y) */

static void setup(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    const int64_t shape[2] = {3, 2};
    const float x[6] = {1, 2, 3, 4, 5, 6};
    char p[128];
    snprintf(p, sizeof p, "%s/a.npy", fz_tmpdir());
    if (vl_npy_write(p, VL_NPY_F32, 2, shape, x))
        abort();
    snprintf(p, sizeof p, "%s/b.npy", fz_tmpdir());
    if (vl_npy_write(p, VL_NPY_F32, 2, shape, x))
        abort();
    static const char labels[] = "x\ny\nx\n";
    fz_write("a.csv", labels, sizeof labels - 1);
    fz_write("b.csv", labels, sizeof labels - 1);
    static const char man[] = "path,label,group\na.npy,x,g1\nb.npy,y,g2\n";
    const char *mp = fz_write("fixed.csv", man, sizeof man - 1);
    vl_dataset_opts o = {.task = VL_TASK_CLASSIFY, .mode = VL_OUT_LAST};
    if (vl_dataset_load(mp, &o, &fixed))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size < 1)
        return 0;
    int which = data[0] % 10;
    const char *path = fz_write("in.csv", data + 1, size - 1);
    switch (which) {
    case 0: { /* the reader itself: every record, every field */
        vl_csv r;
        if (vl_csv_open(&r, path))
            break;
        volatile size_t sum = 0;
        while (vl_csv_next(&r) > 0)
            for (int k = 0; k < r.nf; k++)
                sum += strlen(r.f[k]);
        (void)sum;
        vl_csv_close(&r);
        break;
    }
    case 1:
    case 2:
    case 3:
    case 4:
    case 5: { /* feature manifests: task x mode, a fixed class list, unlabelled */
        static const char *const classes[] = {"x", "y"};
        vl_dataset_opts o = {.task = which == 3 || which == 4 ? VL_TASK_REGRESS : VL_TASK_CLASSIFY,
                             .mode = which == 2 || which == 4 ? VL_OUT_SEQUENCE : VL_OUT_LAST};
        if (which == 5) {
            o.classes = classes;
            o.nclasses = 2;
            o.dim = 2;
        }
        vl_dataset d;
        if (vl_dataset_load(path, &o, &d) == VL_OK) {
            uint8_t *is_val = calloc((size_t)d.n, 1);
            if (is_val)
                vl_dataset_split(&d, 0.5, 1, is_val);
            free(is_val);
            vl_dataset_free(&d);
        }
        break;
    }
    case 6: { /* split files */
        uint8_t is_val[2];
        vl_dataset_split_file(&fixed, path, is_val);
        break;
    }
    case 7: { /* video-clip manifests */
        vl_clip_list l = {0};
        vl_clips_from_csv(&l, path);
        vl_clip_list_free(&l);
        break;
    }
    case 8: { /* per-frame label files */
        vl_frame_labels *fl;
        if (vl_frame_labels_load(path, &fl) == VL_OK)
            vl_frame_labels_free(fl);
        break;
    }
    case 9: { /* the video-data front end (CSV of clips, classes fixed or collected) */
        static const char *const classes[] = {"x", "y"};
        vl_videodata_opts o = {.task = VL_TASK_CLASSIFY, .mode = (size & 1) ? VL_OUT_SEQUENCE : VL_OUT_LAST,
                               .classes = (size & 2) ? classes : NULL, .nclasses = (size & 2) ? 2 : 0};
        vl_clip_list l = {0};
        vl_videodata_clips(path, &o, &l);
        vl_clip_list_free(&l);
        break;
    }
    }
    return 0;
}
