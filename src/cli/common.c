#include "cli/common.h"
#include "cli/shard.h"
#include "dist/dist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/extract.h"
#include "pipeline/predict.h"
#include "pipeline/videodata.h"
#include "train/metrics.h"
#include <time.h>
#include <unistd.h>

/* JSON numbers: non-finite values become null. */
static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("null", f);
}

char *cli_training_json(const cli_train_summary *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fputs("{\"layers\":", f);
    vl_json_write_string(f, s->args_layers);
    fprintf(f, ",\"epochs\":%d,\"epochs_done\":%d,\"iterations\":%d,\"batch\":%d,\"initial_lr\":", s->epochs,
            s->res->epochs_done, s->res->iterations, s->batch);
    json_num(f, s->lr);
    fprintf(f, ",\"seed\":%llu,\"train_sequences\":%d,\"val_sequences\":%d,\"best_iteration\":%d,\"stopped_early\":%s",
            (unsigned long long)s->seed, s->d->n - (s->vd == s->d ? s->nval : 0), s->nval, s->res->best_iteration,
            s->res->stopped_early ? "true" : "false");
    if (s->ensemble > 1)
        fprintf(f, ",\"ensemble\":%d", s->ensemble);
    fputs(",\"val_loss\":", f);
    json_num(f, s->res->best_val_loss);
    fputs(",\"val_metric\":", f);
    json_num(f, s->res->best_val_metric);
    fputs(",\"data\":", f);
    vl_json_write_string(f, s->d->source ? s->d->source : "");
    fputs("}", f);
    fclose(f);
    return buf;
}

/* What one evaluation measured, for the printers. */
typedef struct {
    int cls, seq, n;
    int64_t total;   /* frames (sequence models) or sequences */
    int32_t bg;      /* the background class, or -1 */
    vl_cls_metrics cm;
    vl_reg_metrics rm;
    vl_seg_metrics sg;
} eval_figures;

/* --background as a class index (a class name of d, or an index below C);
 * -1 when not given; -2 (error printed) when it is neither. */
static int32_t background_class(const vl_dataset *d, int C, const cli_eval_opts *o)
{
    if (!o->background)
        return -1;
    for (int c = 0; c < d->nclasses; c++)
        if (d->classes && d->classes[c] && !strcmp(d->classes[c], o->background))
            return c;
    char *e = NULL;
    long v = strtol(o->background, &e, 10);
    if (e != o->background && !*e && v >= 0 && v < C)
        return (int32_t)v;
    cli_fail(o->cmd, "--background '%s' is neither a class name of the model nor a class index 0..%d", o->background,
             C - 1);
    return -2;
}

static void print_figures(const eval_figures *f, const vl_dataset *d, const cli_eval_opts *o)
{
    const char *const *names = (const char *const *)d->classes;
    const char *bgname = f->bg >= 0 ? (names ? names[f->bg] : o->background) : NULL;
    if (o->json) {
        printf("{");
        if (o->extra_json)
            printf("%s,", o->extra_json);
        printf("\"sequences\":%d", f->n);
        if (f->cls) {
            printf(",");
            vl_cls_metrics_json(stdout, &f->cm, names);
            if (f->seq) {
                printf(",\"frame_accuracy\":");
                json_num(stdout, f->cm.accuracy);
                printf(",\"frames\":%lld,\"edit\":", (long long)f->total);
                json_num(stdout, f->sg.edit);
                for (int j = 0; j < VL_SEG_NOVERLAPS; j++) {
                    printf(",\"f1_%d\":", (int)(100 * vl_seg_overlaps[j] + 0.5));
                    json_num(stdout, f->sg.f1[j]);
                }
                printf(",\"background\":");
                vl_json_write_string(stdout, bgname);
                printf(",\"smooth\":%d", o->smooth > 1 ? o->smooth : 1);
            }
        } else {
            printf(",\"rmse\":");
            json_num(stdout, f->rm.rmse);
            printf(",\"mae\":");
            json_num(stdout, f->rm.mae);
            printf(",\"r2\":");
            json_num(stdout, f->rm.r2);
        }
        printf("}\n");
    } else if (!o->quiet && f->cls) {
        if (f->seq)
            printf("per-frame results over %lld frames of %d sequences (frame accuracy %.2f%%)\n",
                   (long long)f->total, f->n, 100.0 * f->cm.accuracy);
        else
            printf("results over %d sequences\n", f->n);
        vl_cls_metrics_print(stdout, &f->cm, names);
        if (f->seq) {
            printf("segments (MS-TCN): Edit %.2f  F1@10 %.2f  F1@25 %.2f  F1@50 %.2f", f->sg.edit, f->sg.f1[0],
                   f->sg.f1[1], f->sg.f1[2]);
            if (bgname)
                printf("  (background '%s' left out)", bgname);
            if (o->smooth > 1)
                printf("  (probabilities smoothed over %d frames)", o->smooth);
            printf("\n");
        }
    } else if (!o->quiet) {
        printf("regression over %lld %s: RMSE %.6g  MAE %.6g  R^2 %.4f\n", (long long)f->total,
               f->seq ? "frames" : "sequences", f->rm.rmse, f->rm.mae, f->rm.r2);
    }
}

static int write_report(const eval_figures *f, const vl_dataset *d, const vl_timeline *tl, int ntl,
                        const cli_eval_opts *o)
{
    char nseq[32], nmodel[600], metric[64], segm[96];
    snprintf(nseq, sizeof nseq, "%d", f->n);
    snprintf(nmodel, sizeof nmodel, "%s", o->model ? o->model : "");
    if (f->cls)
        snprintf(metric, sizeof metric, "%.2f%%", 100.0 * f->cm.accuracy);
    else
        snprintf(metric, sizeof metric, "RMSE %.4g, R^2 %.4f", f->rm.rmse, f->rm.r2);
    snprintf(segm, sizeof segm, "%.2f / %.2f / %.2f / %.2f", f->sg.edit, f->sg.f1[0], f->sg.f1[1], f->sg.f1[2]);
    const char *keys[] = {"model", "data", "sequences",
                          f->cls ? (f->seq ? "frame accuracy" : "accuracy") : "regression",
                          "Edit / F1@10 / F1@25 / F1@50"};
    const char *vals[] = {nmodel, d->source ? d->source : "", nseq, metric, segm};
    vl_report r = {.title = o->title, .regress = !f->cls, .progress = o->progress, .nprogress = o->nprogress,
                   .confusion = f->cls ? &f->cm : NULL, .class_names = (const char *const *)d->classes,
                   .timelines = tl, .ntimelines = ntl, .summary_keys = keys, .summary_values = vals,
                   .nsummary = f->seq && f->cls ? 5 : 4};
    if (vl_report_write(o->report, &r))
        return cli_fail_status(o->cmd);
    if (!o->quiet && !o->json)
        printf("report: %s/report.html\n", o->report);
    return 0;
}

int cli_evaluate(vl_net *net, const vl_dataset *d, const int *idx, int n, int batch, const cli_eval_opts *o)
{
    const vl_net_config *cfg = vl_net_get_config(net);
    const int C = cfg->outputs;
    eval_figures f = {.cls = cfg->task == VL_TASK_CLASSIFY, .seq = cfg->mode == VL_OUT_SEQUENCE, .n = n, .bg = -1};
    if (f.seq && f.cls && (f.bg = background_class(d, C, o)) == -2)
        return 1;
    /* the library's prediction (pipeline/predict.h): softmax, smoothing, argmax */
    vl_predict_opts po = {.batch = batch, .smooth = f.seq && f.cls ? o->smooth : 0};
    vl_prediction *res = calloc((size_t)(n ? n : 1), sizeof *res);
    if (!res)
        return cli_fail(o->cmd, "out of memory");
    if (vl_net_predict_items(net, o->model ? o->model : "", 0, d, idx, n, &po, res)) {
        free(res);
        return cli_fail_status(o->cmd);
    }
    for (int i = 0; i < n; i++)
        f.total += res[i].rows;
    const size_t cap = (size_t)(f.total ? f.total : 1);
    int32_t *truth = malloc(sizeof(int32_t) * cap), *pred = malloc(sizeof(int32_t) * cap);
    float *yt = malloc(sizeof(float) * cap), *yp = malloc(sizeof(float) * cap);
    vl_timeline *tl = calloc(12, sizeof *tl);
    int64_t *voff = calloc((size_t)n + 1, sizeof *voff); /* sequence classifiers: each item's first frame */
    int status = 1, ntl = 0;
    if (!truth || !pred || !yt || !yp || !tl || !voff) {
        cli_fail(o->cmd, "out of memory");
        goto done;
    }
    int64_t k = 0;
    for (int i = 0; i < n; i++) {
        const vl_seq *s = &d->items[idx[i]];
        const vl_prediction *r = &res[i];
        if (f.seq && f.cls && ntl < 12)
            tl[ntl++] = (vl_timeline){.name = s->path, .T = s->T, .truth = truth + k, .pred = pred + k};
        for (int t = 0; t < r->rows; t++, k++) {
            if (f.cls) {
                pred[k] = r->label[t];
                truth[k] = f.seq ? s->frame_labels[t] : s->label;
            } else {
                yp[k] = r->out[(size_t)t * C];
                yt[k] = f.seq ? s->frame_targets[t] : s->target;
            }
        }
        voff[i + 1] = k;
    }
    if (f.cls ? vl_cls_metrics_compute(C, truth, pred, f.total, &f.cm)
              : vl_reg_metrics_compute(yt, yp, f.total, &f.rm)) {
        cli_fail_status(o->cmd);
        goto done;
    }
    if (f.seq && f.cls && vl_seg_metrics_compute(truth, pred, voff, n, f.bg, &f.sg)) {
        cli_fail_status(o->cmd);
        goto done;
    }
    print_figures(&f, d, o);
    if (o->report && write_report(&f, d, tl, ntl, o))
        goto done;
    if (o->result)
        *o->result = f.cls ? f.cm.accuracy : f.rm.r2;
    status = 0;
done:
    if (f.cls)
        vl_cls_metrics_free(&f.cm);
    for (int i = 0; i < n; i++)
        vl_prediction_free(&res[i]);
    free(res);
    free(truth);
    free(pred);
    free(yt);
    free(yp);
    free(tl);
    free(voff);
    return status;
}

/* ---- data ------------------------------------------------------------------------- */

const char *cli_default_cache(void)
{
    static char buf[4096];
    const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (x && *x)
        snprintf(buf, sizeof buf, "%s/vidlstm/features", x);
    else if (h && *h)
        snprintf(buf, sizeof buf, "%s/.cache/vidlstm/features", h);
    else
        snprintf(buf, sizeof buf, ".vidlstm-cache");
    return buf;
}

typedef struct {
    int tty, quiet;
    double t0, last;
} xprog;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void on_extract(void *user, int done, int total, int64_t frames, int cached)
{
    xprog *p = user;
    if (p->quiet)
        return;
    double now = mono();
    int last = done == total;
    if (p->tty) {
        if (!last && now - p->last < 0.1)
            return;
        fprintf(stderr, "\r\033[Kextracting features: %d/%d clips, %lld frames (%d cached), %.1f s", done, total,
                (long long)frames, cached, now - p->t0);
        if (last)
            fputc('\n', stderr);
    } else {
        /* at most about ten lines per extraction */
        if (!last && (int)((long)done * 10 / total) == (int)((long)(done - 1) * 10 / total))
            return;
        fprintf(stderr, "extracting features: %d/%d clips, %lld frames (%d cached), %.1f s\n", done, total,
                (long long)frames, cached, now - p->t0);
    }
    p->last = now;
}

/* From extraction workers: one whole line per call (stdio locks the stream). */
static void on_note(void *user, const char *msg)
{
    (void)user;
    fprintf(stderr, "%s\n", msg);
}

static int load_described(const char *cmd, const char *data, const vl_data_desc *dd, const vl_dataset_opts *o,
                          const cli_video_opts *v, vl_extractor **x, vl_dataset *out)
{
    if (!dd->video) {
        if (vl_dataset_load(data, o, out))
            return cli_fail_status(cmd);
        return 0;
    }
    static xprog pr;
    pr = (xprog){.tty = isatty(2), .quiet = v->quiet, .t0 = mono()};
    if (!*x) {
        const char *cache = v->cache ? (*v->cache ? v->cache : NULL) : cli_default_cache();
        vl_extract_opts eo = {.backbone = v->backbone, .tap = v->tap, .sha256 = v->sha256, .norm = v->norm,
                              .precision = v->precision, .fps = v->fps,
                              .every_k = v->every_k,
                              .cache = cache, .jobs = v->jobs, .progress = on_extract, .user = &pr,
                              .note = v->quiet ? NULL : on_note};
        if (vl_extractor_open(&eo, x))
            return cli_fail_status(cmd);
    }
    vl_videodata_opts vo = {.task = o->task, .mode = o->mode, .classes = o->classes, .nclasses = o->nclasses,
                            .clips_per_video = v->clips_per_video, .clip_min = v->clip_min,
                            .clip_max = v->clip_max, .seed = v->seed, .owner = v->owner, .shard = v->shard,
                            .desc = dd};
    if (!v->owner && vl_dist_size() > 1 && !(v->cache && !*v->cache)) {
        /* data-parallel training: the ranks share the extraction through the
         * cache, each its balanced shard; every rank then reads all of it */
        cli_shard sh;
        if (cli_shard_plan(cmd, data, &vo, NULL, "", &sh))
            return 1;
        vo.owner = sh.owner;
        vo.shard = sh.index;
        vl_dataset part = {0};
        int32_t bad = vl_videodata_load(*x, data, &vo, &part) != VL_OK;
        if (bad)
            cli_fail_status(cmd);
        vl_dataset_free(&part);
        cli_shard_free(&sh);
        vo.owner = NULL;
        if (vl_dist_max_i32(&bad, 1) || bad)
            return 1; /* a rank failed: it said why */
    }
    if (vl_videodata_load(*x, data, &vo, out))
        return cli_fail_status(cmd);
    return 0;
}

int cli_load_data(const char *cmd, const char *data, const vl_dataset_opts *o, const cli_video_opts *v,
                  vl_extractor **x, vl_dataset *out)
{
    if (v->desc)
        return load_described(cmd, data, v->desc, o, v, x, out);
    vl_data_desc own;
    vl_data_describe(data, &own);
    int rc = load_described(cmd, data, &own, o, v, x, out);
    vl_data_desc_free(&own);
    return rc;
}

int cli_dist_run(const char *cmd, int (*main_fn)(int, char **), int argc, char **argv)
{
    if (vl_dist_init())
        return cli_fail_status(cmd);
    if (!vl_dist_compiled() && vl_dist_launched())
        fprintf(stderr, "note: started by an MPI launcher, but this vidlstm was built without MPI "
                        "(-DVIDLSTM_MPI=ON, docs/cluster.md): every process works alone on everything\n");
    int rc = main_fn(argc, argv);
    if (rc && vl_dist_size() > 1) {
        fflush(stdout);
        fflush(stderr);
        vl_dist_abort(rc);
    }
    vl_dist_finalize();
    return rc;
}
