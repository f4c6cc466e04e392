/* vidlstm extract: videos -> feature files + a manifest, for training later
 * (or elsewhere: the .npy files load with numpy.load). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "cli/prep.h"
#include "core/json.h"
#include "core/outpath.h"
#include "model/modelfile.h"
#include "pipeline/extract.h"
#include "pipeline/videodata.h"
#include "train/metrics.h"

void cli_help_extract(FILE *f)
{
    fputs("usage: vidlstm extract --data DIR|FILE --out DIR [options]\n"
          "\n"
          "Extracts per-frame features from labelled videos (the layouts `train` takes) and\n"
          "writes them as OUT/features/*.npy (float32 [T, D]) with OUT/manifest.csv\n"
          "(path,label,group; sequence mode: per-frame label files in OUT/labels/) and\n"
          "OUT/backbone.json (how the features were made; `train --data OUT/manifest.csv`\n"
          "records it in the model so `predict` can run on videos).\n"
          "\n"
          "  --data DIR|FILE          class folders, a folder of videos with per-frame label\n"
          "                           CSVs (--mode sequence), or a CSV of videos\n"
          "  --out DIR                output folder (created)\n"
          "  --mode last|sequence     clip labels or per-frame labels (default: what the data\n"
          "                           has, as train decides)\n"
          "  --task classify|regress\n"
          "  --clips N --clip-length MIN:MAX   random clips from each video (seconds)\n"
          "  --seed N                 for random clips (default 1)\n"
          "  --backbone SPEC          builtin:motion (default), builtin:motion-grid, MODEL.onnx,\n"
          "                           a pretrained CNN by name (vidlstm backbones), or a pose:\n"
          "                           movenet-lightning / movenet-thunder (56 numbers: 17\n"
          "                           keypoints relative to the person, scores, box); A+B fuses\n"
          "                           several: their features side by side, one decoding pass,\n"
          "                           each cached on its own\n"
          "  --layer NAME             ONNX tensor to read (default: the classifier's input); with\n"
          "                           A+B one per part, joined by '+' (empty: the default)\n",
          f);
    cli_prep_help(f);
    fputs("  --fps F | --every K      sampling (default 10 fps)\n"
          "  --cache DIR | --no-cache feature cache (default ~/.cache/vidlstm/features)\n"
          "  --jobs N                 videos in parallel\n"
          "  --threads N              threads for a CNN backbone (default: all cores)\n"
          "  --quiet\n",
          f);
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    if (strlen(path) >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, strlen(path) + 1);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = c;
            if (!c)
                break;
        }
    }
    return 0;
}

/* "dir/walk/clip 01.mp4" -> "walk_clip_01" (file-system safe, readable) */
static void safe_name(const char *path, char *out, size_t n)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t o = 0;
    for (const char *p = base; *p && o + 1 < n; p++) {
        if (*p == '.' && !strchr(p + 1, '.'))
            break; /* drop the extension */
        char c = *p;
        out[o++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ? c : '_';
    }
    out[o] = 0;
}

static void csv_field(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\n\r") || s[0] == ' ' || s[0] == '#') {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
}

int cmd_extract(int argc, char **argv)
{
    const char *data = NULL, *outdir = NULL;
    vl_out_mode mode = VL_OUT_LAST;
    int mode_given = 0;
    vl_task task = VL_TASK_CLASSIFY;
    cli_video_opts v = {.seed = 1};
    cli_prep prep = {0};
    vl_input_norm norm;
    int norm_set;
    cli_args a = {.argc = argc, .argv = argv, .cmd = "extract"};
    for (a.i = 0; a.i < argc && !a.bad; a.i++) {
        if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) {
            cli_help_extract(stdout);
            return 0;
        } else if (cli_opt(&a, "--data")) data = a.val;
        else if (cli_opt(&a, "--out")) outdir = a.val;
        else if (cli_opt(&a, "--mode")) {
            mode_given = 1;
            if (!strcmp(a.val, "last")) mode = VL_OUT_LAST;
            else if (!strcmp(a.val, "sequence")) mode = VL_OUT_SEQUENCE;
            else { cli_fail("extract", "--mode: '%s' is not last or sequence", a.val); a.bad = 1; }
        } else if (cli_opt(&a, "--task")) {
            if (!strcmp(a.val, "classify")) task = VL_TASK_CLASSIFY;
            else if (!strcmp(a.val, "regress")) task = VL_TASK_REGRESS;
            else { cli_fail("extract", "--task: '%s' is not classify or regress", a.val); a.bad = 1; }
        } else if (cli_opt(&a, "--backbone")) v.backbone = a.val;
        else if (cli_opt(&a, "--layer")) v.tap = a.val;
        else if (cli_prep_opt(&a, &prep)) continue;
        else if (cli_opt(&a, "--fps")) v.fps = cli_num(&a, 0.01, 1000);
        else if (cli_opt(&a, "--every")) v.every_k = cli_int(&a, 1, 100000);
        else if (cli_opt(&a, "--cache")) v.cache = a.val;
        else if (cli_flag(&a, "--no-cache")) v.cache = "";
        else if (cli_opt(&a, "--jobs")) v.jobs = cli_int(&a, 1, 64);
        else if (cli_opt(&a, "--clips")) v.clips_per_video = cli_int(&a, 1, 1000000);
        else if (cli_opt(&a, "--seed")) v.seed = (uint64_t)cli_num(&a, 0, 9007199254740992.0);
        else if (cli_opt(&a, "--clip-length")) {
            char *e;
            v.clip_min = strtod(a.val, &e);
            v.clip_max = *e == ':' ? strtod(e + 1, &e) : v.clip_min;
            if (*e || !(v.clip_min > 0) || !(v.clip_max >= v.clip_min)) {
                cli_fail("extract", "--clip-length: '%s' is not MIN:MAX seconds", a.val);
                a.bad = 1;
            }
        } else if (cli_flag(&a, "--quiet")) v.quiet = 1;
        else if (cli_opt(&a, "--threads")) vl_set_threads(cli_int(&a, 1, 1024));
        else
            return cli_fail("extract", "unknown option '%s' (see vidlstm extract --help)", argv[a.i]);
    }
    if (a.bad || cli_prep_finish("extract", &prep, &norm, &norm_set) ||
        cli_prep_precision("extract", prep.precision, &v.precision))
        return 1;
    if (norm_set)
        v.norm = &norm;
    if (!data || !outdir)
        return cli_fail("extract", "--data and --out are required (see vidlstm extract --help)");
    if (v.clips_per_video && v.clip_min == 0) {
        v.clip_min = 2;
        v.clip_max = 5;
    }
    if (!vl_videodata_is_video(data))
        return cli_fail("extract", "%s: not video data (a folder or a CSV of videos); it looks like a manifest of "
                                   "feature files already", data);
    /* the output folder must not be (or hold the files of) the input: its
     * manifest.csv would replace a CSV of videos of the same name */
    char man0[4200], bj0[4200];
    snprintf(man0, sizeof man0, "%s/manifest.csv", outdir);
    snprintf(bj0, sizeof bj0, "%s/backbone.json", outdir);
    const char *ins[] = {data, v.backbone, v.cache && *v.cache ? v.cache : NULL};
    if (vl_output_dir_check("--out", outdir, ins, 3) || vl_output_check("--out", man0, ins, 3) ||
        vl_output_check("--out", bj0, ins, 3) ||
        (v.cache && *v.cache && vl_output_dir_check("--cache", v.cache, ins, 2)))
        return cli_fail_status("extract");
    if (!mode_given && vl_videodata_per_frame(data))
        mode = VL_OUT_SEQUENCE; /* per-frame label files: what `train` would build too */
    vl_dataset d = {0};
    vl_dataset_opts o = {.task = task, .mode = mode};
    vl_extractor *xt = NULL;
    int status = 1;
    char p[4200], q[4400], man[4200], tmp[4300] = "";
    FILE *mf = NULL;
    if (cli_load_data("extract", data, &o, &v, &xt, &d))
        goto out;
    snprintf(p, sizeof p, "%s/features", outdir);
    snprintf(q, sizeof q, "%s/labels", outdir);
    if (mkdir_p(p) || (mode == VL_OUT_SEQUENCE && mkdir_p(q))) {
        cli_fail("extract", "%s: cannot create: %s", outdir, strerror(errno));
        goto out;
    }
    snprintf(man, sizeof man, "%s/manifest.csv", outdir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", man, (long)getpid());
    if (!(mf = fopen(tmp, "w"))) {
        cli_fail("extract", "%s: %s", tmp, strerror(errno));
        goto out;
    }
    fprintf(mf, "path,label,group\n");
    for (int i = 0; i < d.n; i++) {
        const vl_seq *s = &d.items[i];
        char nm[200], rel[300];
        safe_name(s->path, nm, sizeof nm);
        snprintf(rel, sizeof rel, "features/%05d_%s.npy", i, nm);
        snprintf(p, sizeof p, "%s/%s", outdir, rel);
        int64_t shape[2] = {s->T, d.D};
        const char *src[] = {s->path, data};
        if (vl_output_check("--out", p, src, 2) || vl_npy_write(p, VL_NPY_F32, 2, shape, s->x)) {
            cli_fail_status("extract");
            goto out;
        }
        csv_field(mf, rel);
        fputc(',', mf);
        if (mode == VL_OUT_SEQUENCE) {
            char lrel[300];
            snprintf(lrel, sizeof lrel, "labels/%05d_%s.csv", i, nm);
            snprintf(q, sizeof q, "%s/%s", outdir, lrel);
            const char *lsrc[] = {s->path, data};
            if (vl_output_check("--out", q, lsrc, 2)) {
                cli_fail_status("extract");
                goto out;
            }
            FILE *lf = fopen(q, "w");
            if (!lf) {
                cli_fail("extract", "%s: %s", q, strerror(errno));
                goto out;
            }
            fprintf(lf, "frame,label\n");
            for (int t = 0; t < s->T; t++) {
                fprintf(lf, "%d,", t);
                csv_field(lf, d.classes[s->frame_labels[t]]);
                fputc('\n', lf);
            }
            if (fclose(lf) != 0) {
                cli_fail("extract", "%s: write failed", q);
                goto out;
            }
            csv_field(mf, lrel);
        } else if (task == VL_TASK_CLASSIFY) {
            csv_field(mf, d.classes[s->label]);
        } else {
            fprintf(mf, "%.9g", s->target);
        }
        fputc(',', mf);
        csv_field(mf, s->group);
        fputc('\n', mf);
    }
    if (fclose(mf) != 0) {
        mf = NULL;
        cli_fail("extract", "%s: write failed", tmp);
        goto out;
    }
    mf = NULL;
    /* how the features were made */
    vl_model_meta bm = {0};
    const vl_backbone_desc *bd = vl_extractor_backbone(xt);
    snprintf(bm.backbone, sizeof bm.backbone, "%s", bd->name);
    snprintf(bm.tap, sizeof bm.tap, "%s", bd->tap);
    snprintf(bm.backbone_sha256, sizeof bm.backbone_sha256, "%s", bd->sha256);
    bm.feature_dim = bd->feature_dim;
    bm.pre = bd->pre;
    bm.has_input_norm = bd->has_norm;
    bm.input_norm = bd->norm;
    bm.precision = bd->precision;
    vl_extractor_sampling(xt, &bm.fps, &bm.every_k);
    char *bj = vl_model_backbone_json(&bm);
    snprintf(p, sizeof p, "%s/backbone.json", outdir);
    snprintf(q, sizeof q, "%s.tmp.%ld", p, (long)getpid());
    FILE *bf = bj ? fopen(q, "w") : NULL;
    int bok = bf && fprintf(bf, "%s\n", bj) >= 0;
    if (bf && fclose(bf) != 0)
        bok = 0;
    if (!bok || rename(q, p) != 0) {
        free(bj);
        unlink(q);
        cli_fail("extract", "%s: cannot write", p);
        goto out;
    }
    free(bj);
    if (rename(tmp, man) != 0) {
        cli_fail("extract", "%s: %s", man, strerror(errno));
        goto out;
    }
    if (!v.quiet)
        fprintf(stderr, "wrote %d feature files (%d features per frame) and %s\n", d.n, d.D, man);
    status = 0;
out:
    if (mf)
        fclose(mf);
    if (status && tmp[0])
        unlink(tmp); /* nothing half-written */
    vl_dataset_free(&d);
    vl_extractor_close(xt);
    return status;
}
