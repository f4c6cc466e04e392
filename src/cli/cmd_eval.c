/* vidlstm eval: a trained model against a labelled manifest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/registry.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "cli/prep.h"
#include "core/outpath.h"
#include "model/modelfile.h"
#include "pipeline/extract.h"
#include "pipeline/predict.h"
#include "pipeline/videodata.h"
#include "train/dataset.h"

void cli_help_eval(FILE *f)
{
    fputs("usage: vidlstm eval --model MODEL.safetensors --data TEST.csv [options]\n"
          "\n"
          "Evaluates a model on labelled videos (the layouts `train` takes; features are\n"
          "extracted with the backbone and sampling recorded in the model) or on a manifest\n"
          "of feature files: accuracy, confusion matrix (rows = true class), per-class\n"
          "precision/recall/F1 and macro F1; for sequence models per-frame accuracy and\n"
          "the action-segmentation scores of MS-TCN / ASFormer on a 0-100 scale: segmental\n"
          "Edit (normalised Levenshtein distance of the segment label sequences, mean over\n"
          "videos) and F1@{10,25,50} (segments matched at IoU >= 0.10/0.25/0.50, TP/FP/FN\n"
          "summed over videos); RMSE, MAE and R^2 for regression.\n"
          "\n"
          "  --model FILE     the model (.safetensors)\n"
          "  --data DIR|FILE  videos (class folders, labelled folder, CSV) or a feature manifest\n"
          "  --cache DIR      feature cache (default ~/.cache/vidlstm/features); --no-cache\n"
          "  --jobs N         videos decoded in parallel\n"
          "  --json           one JSON object: accuracy, macro_f1, classes, confusion,\n"
          "                   per_class; sequence models also frame_accuracy, edit, f1_10,\n"
          "                   f1_25, f1_50; regression rmse, mae, r2\n"
          "  --background CLASS  sequence models: leave this class's segments out of Edit\n"
          "                   and F1 (MS-TCN's bg_class; a class name or index)\n"
          "  --smooth N       sequence models: average each frame's class probabilities\n"
          "                   over a centred window of N frames before the argmax (default\n"
          "                   off); changes every per-frame metric\n"
          "  --report DIR     confusion chart (and per-frame timelines) as SVG + report.html\n"
          "  --batch N        sequences per forward pass (default 64)\n"
          "  --precision fp32|bf16|int8  the ONNX backbone's arithmetic on videos (default: what\n"
          "                   the model records, i.e. what train used)\n"
          "  --threads N      (default: all cores)\n",
          f);
}

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *report = NULL, *cache = NULL, *background = NULL, *prec = NULL;
    vl_precision prec_v = VL_PREC_FP32;
    int json = 0, batch = 64, threads = 0, jobs = 0, smooth = 0;
    cli_args a = {.argc = argc, .argv = argv, .cmd = "eval"};
    for (a.i = 0; a.i < argc && !a.bad; a.i++) {
        if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) {
            cli_help_eval(stdout);
            return 0;
        } else if (cli_opt(&a, "--model")) model = a.val;
        else if (cli_opt(&a, "--data")) data = a.val;
        else if (cli_opt(&a, "--report")) report = a.val;
        else if (cli_flag(&a, "--json")) json = 1;
        else if (cli_opt(&a, "--background")) background = a.val;
        else if (cli_opt(&a, "--smooth")) smooth = cli_int(&a, 1, 1 << 24);
        else if (cli_opt(&a, "--batch")) batch = cli_int(&a, 1, 1 << 20);
        else if (cli_opt(&a, "--threads")) threads = cli_int(&a, 1, 1024);
        else if (cli_opt(&a, "--cache")) cache = a.val;
        else if (cli_flag(&a, "--no-cache")) cache = "";
        else if (cli_opt(&a, "--jobs")) jobs = cli_int(&a, 1, 64);
        else if (cli_opt(&a, "--precision")) prec = a.val;
        else
            return cli_fail("eval", "unknown option '%s' (see vidlstm eval --help)", argv[a.i]);
    }
    if (a.bad || cli_prep_precision("eval", prec, &prec_v))
        return 1;
    if (!model || !data)
        return cli_fail("eval", "--model MODEL.safetensors and --data MANIFEST.csv are required");
    if (threads)
        vl_set_threads(threads);
    const char *ins[] = {model, data, cache && *cache ? cache : NULL};
    if ((report && vl_output_dir_check("--report", report, ins, 3)) ||
        (cache && *cache && vl_output_dir_check("--cache", cache, ins, 2)))
        return cli_fail_status("eval");
    vl_model *m;
    if (vl_model_open(model, &m))
        return cli_fail_status("eval");
    vl_model_meta *meta = vl_model_meta_of(m);
    const vl_net_config *cfg = vl_net_get_config(vl_model_net(m));
    int status = 1;
    if ((background || smooth > 1) && !(cfg->mode == VL_OUT_SEQUENCE && cfg->task == VL_TASK_CLASSIFY)) {
        cli_fail("eval", "%s applies to per-frame classifiers; %s labels %s", background ? "--background" : "--smooth",
                 model, cfg->task == VL_TASK_CLASSIFY ? "whole clips" : "nothing (a regression model)");
        goto out_model;
    }
    vl_dataset d;
    vl_dataset_opts o = {.task = cfg->task, .mode = cfg->mode, .dim = cfg->input,
                         .classes = (const char *const *)meta->class_names, .nclasses = meta->nclasses};
    vl_extractor *xt = NULL;
    vl_data_desc desc; /* one look at --data */
    vl_data_describe(data, &desc);
    if (desc.video && !meta->backbone[0]) {
        cli_fail("eval", "%s was trained on feature files and records no backbone: evaluate it on a manifest of "
                         "feature files made the same way", model);
        vl_data_desc_free(&desc);
        goto out_model;
    }
    if (desc.video && !vl_model_find_backbone(meta, model) &&
        !vl_backbone_locate(meta->backbone, sizeof meta->backbone, meta->backbone_sha256)) {
        cli_fail("eval", "%s: its backbone %s is not there (nor beside the model): put the ONNX file back or next to "
                         "the model", model, meta->backbone);
        vl_data_desc_free(&desc);
        goto out_model;
    }
    /* Videos: the backbone, layer and sampling recorded in the model. */
    cli_video_opts v = {.backbone = meta->backbone, .tap = meta->tap[0] ? meta->tap : NULL,
                        .sha256 = meta->backbone_sha256, .fps = meta->fps,
                        .norm = meta->has_input_norm ? &meta->input_norm : NULL, /* as the model was trained */
                        .precision = prec ? prec_v : meta->precision, /* likewise, unless --precision */
                        .every_k = meta->every_k, .cache = cache, .jobs = jobs, .desc = &desc};
    int bad = cli_load_data("eval", data, &o, &v, &xt, &d);
    vl_data_desc_free(&desc);
    vl_extractor_close(xt);
    if (bad)
        goto out_model;
    vl_model_normalize(m, &d);
    int *idx = malloc(sizeof(int) * (size_t)d.n);
    if (!idx) {
        cli_fail("eval", "out of memory");
        goto out_data;
    }
    for (int i = 0; i < d.n; i++)
        idx[i] = i;
    char *ex = NULL;
    size_t exl = 0;
    FILE *mf = open_memstream(&ex, &exl);
    if (mf) {
        fputs("\"model\":", mf);
        vl_json_write_string(mf, model);
        fputs(",\"data\":", mf);
        vl_json_write_string(mf, data);
        fclose(mf);
    }
    cli_eval_opts eo = {.cmd = "eval", .title = "vidlstm evaluation", .model = model, .report = report, .json = json,
                        .extra_json = ex, .background = background, .smooth = smooth};
    status = cli_evaluate(vl_model_net(m), &d, idx, d.n, batch, &eo);
    free(ex);
    free(idx);
out_data:
    vl_dataset_free(&d);
out_model:
    vl_model_close(m);
    return status;
}
