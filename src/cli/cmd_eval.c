/* vidlstm eval: a trained model against a labelled manifest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "model/modelfile.h"
#include "train/dataset.h"

void cli_help_eval(FILE *f)
{
    fputs("usage: vidlstm eval --model MODEL.safetensors --data TEST.csv [options]\n"
          "\n"
          "Evaluates a model on a labelled manifest of feature files (the same format as\n"
          "for training): accuracy, confusion matrix (rows = true class), per-class\n"
          "precision/recall/F1 and macro F1; per-frame accuracy for sequence models;\n"
          "RMSE, MAE and R^2 for regression.\n"
          "\n"
          "  --model FILE     the model (.safetensors)\n"
          "  --data FILE      the manifest (path,label[,group])\n"
          "  --json           one JSON object: accuracy, macro_f1, classes, confusion,\n"
          "                   per_class, frame_accuracy (sequence), rmse/mae/r2 (regression)\n"
          "  --report DIR     confusion chart (and per-frame timelines) as SVG + report.html\n"
          "  --batch N        sequences per forward pass (default 64)\n"
          "  --threads N      (default: all cores)\n",
          f);
}

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *report = NULL;
    int json = 0, batch = 64, threads = 0;
    cli_args a = {.argc = argc, .argv = argv, .cmd = "eval"};
    for (a.i = 0; a.i < argc && !a.bad; a.i++) {
        if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) {
            cli_help_eval(stdout);
            return 0;
        } else if (cli_opt(&a, "--model")) model = a.val;
        else if (cli_opt(&a, "--data")) data = a.val;
        else if (cli_opt(&a, "--report")) report = a.val;
        else if (cli_flag(&a, "--json")) json = 1;
        else if (cli_opt(&a, "--batch")) batch = cli_int(&a, 1, 1 << 20);
        else if (cli_opt(&a, "--threads")) threads = cli_int(&a, 1, 1024);
        else
            return cli_fail("eval", "unknown option '%s' (see vidlstm eval --help)", argv[a.i]);
    }
    if (a.bad)
        return 1;
    if (!model || !data)
        return cli_fail("eval", "--model MODEL.safetensors and --data MANIFEST.csv are required");
    if (threads)
        vl_set_threads(threads);
    vl_net *net;
    vl_model_meta meta;
    if (vl_model_load(model, &net, &meta))
        return cli_fail_status("eval");
    const vl_net_config *cfg = vl_net_get_config(net);
    vl_dataset d;
    vl_dataset_opts o = {.task = cfg->task, .mode = cfg->mode, .dim = cfg->input,
                         .classes = (const char *const *)meta.class_names, .nclasses = meta.nclasses};
    int status = 1;
    if (vl_dataset_load(data, &o, &d)) {
        cli_fail_status("eval");
        goto out_model;
    }
    if (meta.norm_mean && meta.norm_std)
        vl_dataset_normalize(&d, meta.norm_mean, meta.norm_std);
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
                        .extra_json = ex};
    status = cli_evaluate(net, &d, idx, d.n, batch, &eo);
    free(ex);
    free(idx);
out_data:
    vl_dataset_free(&d);
out_model:
    vl_model_meta_free(&meta);
    vl_net_free(net);
    return status;
}
