/* vidlstm predict: labels for new feature sequences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "model/modelfile.h"
#include "train/dataset.h"
#include "train/metrics.h"
#include "train/trainer.h"

void cli_help_predict(FILE *f)
{
    fputs("usage: vidlstm predict --model MODEL.safetensors FEATURES.npy... [options]\n"
          "\n"
          "Labels feature sequences (.npy float32 [T, D]) with a trained model:\n"
          "  clip models (mode last): the label and every class probability per file, or\n"
          "    with --window a timeline of windows over each (long) sequence;\n"
          "  sequence models: per-frame labels merged into segments (start, end, label,\n"
          "    mean confidence); regression models: the value (per frame: summary).\n"
          "\n"
          "  --model FILE       the model (.safetensors)\n"
          "  --data FILE        a manifest (path[,label[,group]]) instead of / besides files\n"
          "  --window L         clip models: windows of L steps ...\n"
          "  --stride S         ... every S steps (default L/2)\n"
          "  --min-segment N    sequence models: absorb segments shorter than N frames (1)\n"
          "  --json             one JSON object with a `predictions` array\n"
          "  --batch N          sequences per forward pass (default 64)\n"
          "  --threads N        (default: all cores)\n",
          f);
}

typedef struct {
    int json, first;
    double fps;
    const vl_model_meta *meta;
} out_ctx;

static const char *cname(const vl_model_meta *m, int c)
{
    return m->class_names && c >= 0 && c < m->nclasses ? m->class_names[c] : "?";
}

static void print_probs_json(const out_ctx *o, const float *p, int C)
{
    printf("\"probabilities\":{");
    for (int c = 0; c < C; c++) {
        if (c)
            putchar(',');
        vl_json_write_string(stdout, cname(o->meta, c));
        printf(":%.6g", p[c]);
    }
    putchar('}');
}

static int argmax(const float *p, int C)
{
    int a = 0;
    for (int c = 1; c < C; c++)
        if (p[c] > p[a])
            a = c;
    return a;
}

/* Segments of per-frame predictions (sequence models or window timelines). */
static int print_segments(const out_ctx *o, const char *file, const int32_t *lab, const float *conf, int64_t T,
                          int min_len, const int64_t *start_of, const int64_t *end_of)
{
    vl_segment *seg;
    int64_t ns;
    if (vl_segments_from_frames(lab, conf, T, min_len, &seg, &ns))
        return cli_fail_status("predict");
    if (o->json) {
        printf("\"segments\":[");
        for (int64_t k = 0; k < ns; k++) {
            int64_t s = start_of ? start_of[seg[k].start] : seg[k].start;
            int64_t e = end_of ? end_of[seg[k].end - 1] : seg[k].end;
            printf("%s{\"start\":%lld,\"end\":%lld,", k ? "," : "", (long long)s, (long long)e);
            if (o->fps > 0)
                printf("\"start_s\":%.4f,\"end_s\":%.4f,", s / o->fps, e / o->fps);
            printf("\"label\":");
            vl_json_write_string(stdout, cname(o->meta, seg[k].label));
            printf(",\"confidence\":%.4f}", seg[k].confidence);
        }
        printf("]");
    } else {
        printf("%s\n  %10s %10s  %-20s %s\n", file, "start", "end", "label", "confidence");
        for (int64_t k = 0; k < ns; k++) {
            int64_t s = start_of ? start_of[seg[k].start] : seg[k].start;
            int64_t e = end_of ? end_of[seg[k].end - 1] : seg[k].end;
            if (o->fps > 0)
                printf("  %9.2fs %9.2fs  %-20s %.3f\n", s / o->fps, e / o->fps, cname(o->meta, seg[k].label),
                       seg[k].confidence);
            else
                printf("  %10lld %10lld  %-20s %.3f\n", (long long)s, (long long)e, cname(o->meta, seg[k].label),
                       seg[k].confidence);
        }
    }
    free(seg);
    return 0;
}

int cmd_predict(int argc, char **argv)
{
    const char *model = NULL, *data = NULL;
    int json = 0, batch = 64, threads = 0, window = 0, stride = 0, min_seg = 1;
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    int nfiles = 0;
    if (!files)
        return cli_fail("predict", "out of memory");
    cli_args a = {.argc = argc, .argv = argv, .cmd = "predict"};
    for (a.i = 0; a.i < argc && !a.bad; a.i++) {
        if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) {
            cli_help_predict(stdout);
            free(files);
            return 0;
        } else if (cli_opt(&a, "--model")) model = a.val;
        else if (cli_opt(&a, "--data")) data = a.val;
        else if (cli_opt(&a, "--window")) window = cli_int(&a, 1, 1 << 24);
        else if (cli_opt(&a, "--stride")) stride = cli_int(&a, 1, 1 << 24);
        else if (cli_opt(&a, "--min-segment")) min_seg = cli_int(&a, 1, 1 << 24);
        else if (cli_flag(&a, "--json")) json = 1;
        else if (cli_opt(&a, "--batch")) batch = cli_int(&a, 1, 1 << 20);
        else if (cli_opt(&a, "--threads")) threads = cli_int(&a, 1, 1024);
        else if (argv[a.i][0] == '-' && argv[a.i][1]) {
            free(files);
            return cli_fail("predict", "unknown option '%s' (see vidlstm predict --help)", argv[a.i]);
        } else
            files[nfiles++] = argv[a.i];
    }
    if (a.bad || !model || (!nfiles && !data)) {
        free(files);
        return a.bad ? 1 : cli_fail("predict", "--model MODEL.safetensors and feature files (or --data) are required");
    }
    if (threads)
        vl_set_threads(threads);
    vl_net *net;
    vl_model_meta meta;
    if (vl_model_load(model, &net, &meta)) {
        free(files);
        return cli_fail_status("predict");
    }
    const vl_net_config *cfg = vl_net_get_config(net);
    const int C = cfg->outputs, seq = cfg->mode == VL_OUT_SEQUENCE, cls = cfg->task == VL_TASK_CLASSIFY;
    int status = 1;
    vl_dataset d = {0}, w = {0};
    float *out = NULL;
    size_t *off = NULL;
    int *idx = NULL;
    int32_t *lab = NULL;
    float *conf = NULL;
    int64_t *ws = NULL, *we = NULL;
    if (window && seq) {
        cli_fail("predict", "--window applies to clip models; %s labels every frame already", model);
        goto out;
    }
    if (data) {
        vl_dataset_opts o = {.task = cfg->task, .mode = cfg->mode, .dim = cfg->input, .unlabelled = 1};
        if (vl_dataset_load(data, &o, &d)) {
            cli_fail_status("predict");
            goto out;
        }
    }
    d.D = d.D ? d.D : cfg->input;
    for (int i = 0; i < nfiles; i++) {
        vl_npy x;
        if (vl_npy_read(files[i], &x)) {
            cli_fail_status("predict");
            goto out;
        }
        if (x.dtype != VL_NPY_F32 || x.ndim != 2 || x.shape[0] < 1 || x.shape[1] != cfg->input) {
            cli_fail("predict", "%s: expected float features [T, %d] for this model, got %s [%lld%s%lld]", files[i],
                     cfg->input, x.dtype == VL_NPY_F32 ? "float" : "int", (long long)x.shape[0],
                     x.ndim > 1 ? ", " : "", x.ndim > 1 ? (long long)x.shape[1] : 0LL);
            vl_npy_free(&x);
            goto out;
        }
        for (int64_t k = 0; k < x.count; k++)
            if (!isfinite(((float *)x.data)[k])) {
                cli_fail("predict", "%s: feature [%lld, %lld] is not finite", files[i], (long long)(k / x.shape[1]),
                         (long long)(k % x.shape[1]));
                vl_npy_free(&x);
                goto out;
            }
        if (vl_dataset_add_features(&d, files[i], (int)x.shape[0], (int)x.shape[1], x.data)) {
            vl_npy_free(&x);
            cli_fail_status("predict");
            goto out;
        }
    }
    if (meta.norm_mean && meta.norm_std)
        vl_dataset_normalize(&d, meta.norm_mean, meta.norm_std);
    out_ctx oc = {.json = json, .fps = meta.fps, .meta = &meta};
    if (json)
        printf("{\"model\":%s", "");
    if (json) {
        vl_json_write_string(stdout, model);
        printf(",\"predictions\":[");
    }
    for (int i = 0; i < d.n; i++) {
        const vl_seq *s = &d.items[i];
        if (json)
            printf("%s{\"file\":", i ? "," : ""), vl_json_write_string(stdout, s->path), printf(",\"steps\":%d,", s->T);
        if (window) {
            /* Windows [k*S, k*S + L) (the last one flush with the end). */
            int L = window < s->T ? window : s->T, S = stride ? stride : (L / 2 > 0 ? L / 2 : 1);
            int nw = s->T <= L ? 1 : (s->T - L + S - 1) / S + 1;
            vl_dataset_free(&w);
            w = (vl_dataset){.D = d.D, .task = d.task, .mode = d.mode};
            free(ws);
            free(we);
            ws = malloc(sizeof(int64_t) * (size_t)nw);
            we = malloc(sizeof(int64_t) * (size_t)nw);
            if (!ws || !we) {
                cli_fail("predict", "out of memory");
                goto out;
            }
            for (int k = 0; k < nw; k++) {
                int st0 = k * S;
                if (st0 + L > s->T)
                    st0 = s->T - L;
                ws[k] = st0;
                we[k] = st0 + L;
                float *x = malloc(sizeof(float) * (size_t)L * d.D);
                if (!x || vl_dataset_add_features(&w, s->path, L, d.D, x)) {
                    free(x);
                    cli_fail("predict", "out of memory");
                    goto out;
                }
                memcpy(x, s->x + (size_t)st0 * d.D, sizeof(float) * (size_t)L * d.D);
            }
            free(idx);
            idx = malloc(sizeof(int) * (size_t)nw);
            if (!idx) {
                cli_fail("predict", "out of memory");
                goto out;
            }
            for (int k = 0; k < nw; k++)
                idx[k] = k;
            free(out);
            free(off);
            out = NULL;
            off = NULL;
            if (vl_infer(net, &w, idx, nw, batch, 1, &out, &off)) {
                cli_fail_status("predict");
                goto out;
            }
            if (!cls) {
                if (json)
                    printf("\"windows\":[");
                else
                    printf("%s\n  %10s %10s  %s\n", s->path, "start", "end", "value");
                for (int k = 0; k < nw; k++) {
                    if (json)
                        printf("%s{\"start\":%lld,\"end\":%lld,\"value\":%.6g}", k ? "," : "", (long long)ws[k],
                               (long long)we[k], out[off[k]]);
                    else
                        printf("  %10lld %10lld  %.6g\n", (long long)ws[k], (long long)we[k], out[off[k]]);
                }
                if (json)
                    printf("]}");
                continue;
            }
            free(lab);
            free(conf);
            lab = malloc(sizeof(int32_t) * (size_t)nw);
            conf = malloc(sizeof(float) * (size_t)nw);
            if (!lab || !conf) {
                cli_fail("predict", "out of memory");
                goto out;
            }
            if (json)
                printf("\"windows\":[");
            for (int k = 0; k < nw; k++) {
                const float *p = out + off[k];
                lab[k] = argmax(p, C);
                conf[k] = p[lab[k]];
                if (json) {
                    printf("%s{\"start\":%lld,\"end\":%lld,\"label\":", k ? "," : "", (long long)ws[k],
                           (long long)we[k]);
                    vl_json_write_string(stdout, cname(&meta, lab[k]));
                    printf(",\"confidence\":%.4f}", conf[k]);
                }
            }
            if (json)
                printf("],");
            if (print_segments(&oc, s->path, lab, conf, nw, 1, ws, we))
                goto out;
            if (json)
                printf("}");
            continue;
        }
        /* Whole sequences (batched over all of them once). */
        if (!out) {
            idx = malloc(sizeof(int) * (size_t)d.n);
            if (!idx) {
                cli_fail("predict", "out of memory");
                goto out;
            }
            for (int k = 0; k < d.n; k++)
                idx[k] = k;
            if (vl_infer(net, &d, idx, d.n, batch, 1, &out, &off)) {
                cli_fail_status("predict");
                goto out;
            }
        }
        const float *p = out + off[i];
        if (!seq && cls) {
            int c = argmax(p, C);
            if (json) {
                printf("\"label\":");
                vl_json_write_string(stdout, cname(&meta, c));
                printf(",\"confidence\":%.6g,", p[c]);
                print_probs_json(&oc, p, C);
                printf("}");
            } else {
                printf("%s: %s (%.1f%%)", s->path, cname(&meta, c), 100.0 * p[c]);
                for (int k = 0; k < C; k++)
                    if (k != c)
                        printf("  %s %.1f%%", cname(&meta, k), 100.0 * p[k]);
                printf("\n");
            }
        } else if (!seq) {
            if (json)
                printf("\"value\":%.6g}", p[0]);
            else
                printf("%s: %.6g\n", s->path, p[0]);
        } else if (cls) {
            free(lab);
            free(conf);
            lab = malloc(sizeof(int32_t) * (size_t)s->T);
            conf = malloc(sizeof(float) * (size_t)s->T);
            if (!lab || !conf) {
                cli_fail("predict", "out of memory");
                goto out;
            }
            for (int t = 0; t < s->T; t++) {
                lab[t] = argmax(p + (size_t)t * C, C);
                conf[t] = p[(size_t)t * C + lab[t]];
            }
            if (json) {
                printf("\"frames\":[");
                for (int t = 0; t < s->T; t++) {
                    if (t)
                        putchar(',');
                    vl_json_write_string(stdout, cname(&meta, lab[t]));
                }
                printf("],");
            }
            if (print_segments(&oc, s->path, lab, conf, s->T, min_seg, NULL, NULL))
                goto out;
            if (json)
                printf("}");
        } else {
            double mean = 0;
            for (int t = 0; t < s->T; t++)
                mean += p[t];
            mean /= s->T;
            if (json) {
                printf("\"values\":[");
                for (int t = 0; t < s->T; t++)
                    printf("%s%.6g", t ? "," : "", p[t]);
                printf("],\"mean\":%.6g}", mean);
            } else {
                printf("%s: %d frames, mean %.6g, first %.6g, last %.6g\n", s->path, s->T, mean, p[0], p[s->T - 1]);
            }
        }
    }
    if (json)
        printf("]}\n");
    status = 0;
out:
    vl_model_meta_free(&meta);
    vl_net_free(net);
    vl_dataset_free(&d);
    vl_dataset_free(&w);
    free(out);
    free(off);
    free(idx);
    free(lab);
    free(conf);
    free(ws);
    free(we);
    free(files);
    return status;
}
