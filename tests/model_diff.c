/* Compares the weights of two model files (tests/cli_mpi.sh): prints the
 * largest relative difference (check.h's rel_err, tensor by tensor) and exits
 * 0 when it is at most TOL (0: the files' weights must be bit-identical),
 * 1 when larger, 2 on bad input.
 * usage: model_diff A.safetensors B.safetensors TOL */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/modelfile.h"
#include "vidlstm.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: model_diff A B TOL\n");
        return 2;
    }
    vl_net *a = NULL, *b = NULL;
    vl_model_meta ma = {0}, mb = {0};
    if (vl_model_load(argv[1], &a, &ma) || vl_model_load(argv[2], &b, &mb)) {
        fprintf(stderr, "model_diff: %s\n", vl_errmsg());
        return 2;
    }
    if (vl_net_num_params(a) != vl_net_num_params(b)) {
        fprintf(stderr, "model_diff: different architectures\n");
        return 2;
    }
    double worst = 0.0;
    int differ = 0;
    for (int i = 0; i < vl_net_num_params(a); i++) {
        vl_param p, q;
        vl_net_param(a, i, &p);
        vl_net_param(b, i, &q);
        if (p.count != q.count) {
            fprintf(stderr, "model_diff: tensor %d has %zu vs %zu values\n", i, p.count, q.count);
            return 2;
        }
        differ |= memcmp(p.data, q.data, sizeof(float) * p.count) != 0;
        double e = rel_err(p.data, q.data, p.count);
        worst = e > worst ? e : worst;
    }
    double tol = atof(argv[3]);
    printf("%s vs %s: largest relative difference %.3g%s\n", argv[1], argv[2], worst,
           differ ? "" : " (bit-identical)");
    return tol == 0.0 ? differ : !(worst <= tol);
}
