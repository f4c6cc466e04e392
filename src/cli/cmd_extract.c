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
#include "core/atomic.h"
#include "core/json.h"
#include "core/outpath.h"
#include "core/sha256.h"
#include "dist/dist.h"
#include "cli/shard.h"
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
          "  --quiet\n"
          "several machines (docs/cluster.md): the clips are cut into shards balanced by\n"
          "their frame count; each shard writes its files and OUT/shards/part-I-of-N.csv\n"
          "(with SHA-256s), and the manifest is written once every part is there:\n"
          "  --shard I/N              this process extracts shard I (0-based) of N; without it,\n"
          "                           the MPI rank (mpirun -np N, an MPI build) or the Slurm\n"
          "                           array task (SLURM_ARRAY_TASK_ID/_COUNT) decides\n"
          "  --merge                  only check the parts in --out (every clip once, every\n"
          "                           checksum) and write OUT/manifest.csv\n",
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

static int extract_main(int argc, char **argv);

/* Describes --data (once) for its loading; features are no input here. */
static int describe_videos(const char *data, vl_data_desc *desc, cli_video_opts *v)
{
    vl_data_describe(data, desc);
    v->desc = desc;
    if (!desc->video)
        return cli_fail("extract", "%s: not video data (a folder or a CSV of videos); it looks like a manifest of "
                                   "feature files already", data);
    return 0;
}

/* Under mpirun every rank extracts its shard; a rank that fails ends the job
 * (MPI_Abort) so that no other waits for it. */
int cmd_extract(int argc, char **argv)
{
    return cli_dist_run("extract", extract_main, argc, argv);
}

/* SHA-256 of a file just written, for the shard list. */
static int file_hex(const char *path, char hex[VL_SHA256_HEX])
{
    if (vl_file_sha256(path, hex, NULL))
        return cli_fail_status("extract");
    return 0;
}

static int extract_main(int argc, char **argv)
{
    const char *data = NULL, *outdir = NULL, *shard_spec = NULL;
    int merge = 0;
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
        else if (cli_opt(&a, "--shard")) shard_spec = a.val;
        else if (cli_flag(&a, "--merge")) merge = 1;
        else
            return cli_fail("extract", "unknown option '%s' (see vidlstm extract --help)", argv[a.i]);
    }
    if (!a.bad && merge) {
        if (!outdir)
            return cli_fail("extract", "--merge needs --out DIR (the folder the shards wrote)");
        if (data || shard_spec)
            return cli_fail("extract", "--merge takes only --out (and --quiet): it merges what the shards wrote");
        int n = 0;
        if (cli_shard_merge("extract", outdir, 0, 0, &n))
            return 1;
        if (!v.quiet)
            fprintf(stderr, "merged the shard lists: %d clips, every file checked; wrote %s/manifest.csv\n", n,
                    outdir);
        return 0;
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
    vl_data_desc desc; /* one look at --data; loading it reads this too */
    if (describe_videos(data, &desc, &v)) {
        vl_data_desc_free(&desc);
        return 1;
    }
    /* the output folder must not be (or hold the files of) the input: its
     * manifest.csv would replace a CSV of videos of the same name */
    char man0[4200], bj0[4200];
    snprintf(man0, sizeof man0, "%s/manifest.csv", outdir);
    snprintf(bj0, sizeof bj0, "%s/backbone.json", outdir);
    const char *ins[] = {data, v.backbone, v.cache && *v.cache ? v.cache : NULL};
    if (vl_output_dir_check("--out", outdir, ins, 3) || vl_output_check("--out", man0, ins, 3) ||
        vl_output_check("--out", bj0, ins, 3) ||
        (v.cache && *v.cache && vl_output_dir_check("--cache", v.cache, ins, 2))) {
        vl_data_desc_free(&desc);
        return cli_fail_status("extract");
    }
    if (!mode_given && desc.per_frame)
        mode = VL_OUT_SEQUENCE; /* per-frame label files: what `train` would build too */
    vl_dataset d = {0};
    vl_dataset_opts o = {.task = task, .mode = mode};
    vl_extractor *xt = NULL;
    int status = 1;
    char p[4200], q[4400], man[4200];
    FILE *mf = NULL;
    vl_atomic ma = {0}; /* the manifest (unsharded) */
    char *rows = NULL;
    size_t rows_len = 0;
    cli_shard sh = {.count = 1};
    {
        /* what the shards of one run share: the clip list (in the key) and these */
        char okey[1024];
#define S_(x) ((x) ? (x) : "")
        snprintf(okey, sizeof okey, "%s|%s|%g|%d|%d|%d|%s|%s|%s|%s|%s|%d", S_(v.backbone), S_(v.tap), v.fps,
                 v.every_k, (int)mode, (int)task, S_(prep.preset), S_(prep.range), S_(prep.mean), S_(prep.std),
                 S_(prep.order), (int)v.precision);
#undef S_
        vl_videodata_opts vo = {.task = task, .mode = mode, .clips_per_video = v.clips_per_video,
                                .clip_min = v.clip_min, .clip_max = v.clip_max, .seed = v.seed, .desc = &desc};
        if (cli_shard_plan("extract", data, &vo, shard_spec, okey, &sh))
            goto out;
        if (sh.count > 1) {
            v.owner = sh.owner;
            v.shard = sh.index;
            if (vl_dist_rank() > 0)
                v.quiet = 1;
        }
    }
    if (cli_load_data("extract", data, &o, &v, &xt, &d))
        goto out;
    snprintf(p, sizeof p, "%s/features", outdir);
    snprintf(q, sizeof q, "%s/labels", outdir);
    if (mkdir_p(p) || (mode == VL_OUT_SEQUENCE && mkdir_p(q))) {
        cli_fail("extract", "%s: cannot create: %s", outdir, strerror(errno));
        goto out;
    }
    snprintf(man, sizeof man, "%s/manifest.csv", outdir);
    if (sh.count > 1) { /* this shard's rows go to its part list */
        if (!(mf = open_memstream(&rows, &rows_len))) {
            cli_fail("extract", "out of memory");
            goto out;
        }
    } else {
        if (vl_atomic_open(man, &ma)) {
            cli_fail_status("extract");
            goto out;
        }
        mf = ma.f;
        fprintf(mf, "path,label,group\n");
    }
    for (int k = 0; k < d.n; k++) {
        const vl_seq *s = &d.items[k];
        const int i = s->line - 1; /* the clip's place in the whole list (sharded or not) */
        char nm[200], rel[300], fhex[VL_SHA256_HEX] = "", lhex[VL_SHA256_HEX] = "";
        safe_name(s->path, nm, sizeof nm);
        snprintf(rel, sizeof rel, "features/%05d_%s.npy", i, nm);
        snprintf(p, sizeof p, "%s/%s", outdir, rel);
        int64_t shape[2] = {s->T, d.D};
        const char *src[] = {s->path, data};
        if (vl_output_check("--out", p, src, 2) || vl_npy_write(p, VL_NPY_F32, 2, shape, s->x)) {
            cli_fail_status("extract");
            goto out;
        }
        if (sh.count > 1) {
            if (file_hex(p, fhex))
                goto out;
            fprintf(mf, "%d,", i);
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
            vl_atomic la;
            if (vl_atomic_open(q, &la)) {
                cli_fail_status("extract");
                goto out;
            }
            fprintf(la.f, "frame,label\n");
            for (int t = 0; t < s->T; t++) {
                fprintf(la.f, "%d,", t);
                csv_field(la.f, d.classes[s->frame_labels[t]]);
                fputc('\n', la.f);
            }
            if (vl_atomic_commit(&la)) {
                cli_fail_status("extract");
                goto out;
            }
            if (sh.count > 1 && file_hex(q, lhex))
                goto out;
            csv_field(mf, lrel);
        } else if (task == VL_TASK_CLASSIFY) {
            csv_field(mf, d.classes[s->label]);
        } else {
            fprintf(mf, "%.9g", s->target);
        }
        fputc(',', mf);
        csv_field(mf, s->group);
        if (sh.count > 1)
            fprintf(mf, ",%d,%s,%s", s->T, fhex, lhex);
        fputc('\n', mf);
    }
    if (sh.count > 1 ? fclose(mf) != 0 : fflush(mf) != 0 || ferror(mf)) {
        mf = NULL;
        cli_fail("extract", "%s: write failed", sh.count > 1 ? "shard list" : man);
        goto out;
    }
    mf = NULL; /* the unsharded manifest stays open in ma until the end */
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
    if (!bj) {
        cli_fail("extract", "out of memory");
        goto out;
    }
    size_t bl = strlen(bj);
    bj[bl] = '\n'; /* the JSON and a newline (the string's NUL becomes it) */
    vl_status bst = vl_write_file_atomic(p, bj, bl + 1);
    free(bj);
    if (bst) {
        cli_fail_status("extract");
        goto out;
    }
    if (sh.count > 1) {
        /* this shard's list; then the manifest, once every shard's is there:
         * under MPI rank 0 after all ranks are done, else whichever shard
         * finishes last (or a later `extract --merge`) */
        if (cli_shard_write_part("extract", outdir, &sh, rows ? rows : ""))
            goto out;
        if (!v.quiet || vl_dist_size() > 1)
            fprintf(stderr, "shard %d/%d (%s): wrote %d of %d feature files\n", sh.index, sh.count, sh.from, d.n,
                    sh.nclips);
        int mpi = vl_dist_size() > 1 && !strcmp(sh.from, "MPI"), n = 0, rc = 2;
        if (mpi && vl_dist_barrier())
            goto out;
        if (!mpi || vl_dist_rank() == 0) {
            rc = cli_shard_merge("extract", outdir, sh.count, !mpi, &n);
            if (rc == 1)
                goto out;
        }
        if (rc == 0 && !v.quiet)
            fprintf(stderr, "all %d shards done: %d clips, every file checked; wrote %s\n", sh.count, n, man);
        else if (rc == 2 && !mpi && !v.quiet)
            fprintf(stderr, "the manifest is written when the last shard finishes (or by vidlstm extract --merge "
                            "--out %s)\n",
                    outdir);
        status = 0;
        goto out;
    }
    if (vl_atomic_commit(&ma)) {
        cli_fail_status("extract");
        goto out;
    }
    if (!v.quiet)
        fprintf(stderr, "wrote %d feature files (%d features per frame) and %s\n", d.n, d.D, man);
    status = 0;
out:
    if (mf && mf != ma.f)
        fclose(mf);
    vl_atomic_abort(&ma); /* nothing half-written (a no-op once committed) */
    vl_dataset_free(&d);
    vl_extractor_close(xt);
    cli_shard_free(&sh);
    free(rows);
    vl_data_desc_free(&desc);
    return status;
}
