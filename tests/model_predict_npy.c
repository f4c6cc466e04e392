/* vl_model_predict on feature files, for tests that compare vidlstm's output
 * with another implementation (doc_torch_snippet.py): for each X.npy [T, D]
 * writes OUTDIR/<basename of X>.out.npy, the probabilities [C] or [T, C]
 * (regression: the values) exactly as the library returns them.
 * usage: model_predict_npy MODEL OUTDIR X.npy ... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vidlstm.h"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: model_predict_npy MODEL OUTDIR X.npy ...\n");
        return 2;
    }
    vl_model *m;
    if (vl_model_open(argv[1], &m)) {
        fprintf(stderr, "model_predict_npy: %s\n", vl_errmsg());
        return 1;
    }
    vl_net *net = vl_model_net(m);
    const vl_net_config *cfg = vl_net_get_config(net);
    int rc = 0;
    for (int i = 3; i < argc && !rc; i++) {
        vl_npy x;
        if (vl_npy_read(argv[i], &x) || x.dtype != VL_NPY_F32 || x.ndim != 2) {
            fprintf(stderr, "model_predict_npy: %s: not a float [T, D] array\n", argv[i]);
            rc = 1;
            break;
        }
        int T = (int)x.shape[0];
        int64_t rows = cfg->mode == VL_OUT_SEQUENCE ? T : 1;
        float *out = malloc(sizeof(float) * (size_t)rows * (size_t)cfg->outputs);
        const char *base = strrchr(argv[i], '/');
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.out.npy", argv[2], base ? base + 1 : argv[i]);
        int64_t shape[2] = {rows, cfg->outputs};
        if (!out || vl_model_predict(m, x.data, T, out) ||
            vl_npy_write(path, VL_NPY_F32, cfg->mode == VL_OUT_SEQUENCE ? 2 : 1,
                         cfg->mode == VL_OUT_SEQUENCE ? shape : shape + 1, out)) {
            fprintf(stderr, "model_predict_npy: %s: %s\n", argv[i], vl_errmsg());
            rc = 1;
        }
        free(out);
        vl_npy_free(&x);
    }
    vl_model_close(m);
    return rc;
}
