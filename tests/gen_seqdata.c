/* Writes the synthetic datasets of seqdata.h into a folder, for the CLI
 * tests (cli_train.sh):
 *   order_train.csv (240 clips), order_val.csv (80), frames.csv (120
 *   sequences with per-frame labels), regress.csv (240).
 * usage: gen_seqdata DIR [SEED] */
#include <sys/stat.h>

#include "seqdata.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gen_seqdata DIR [SEED]\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    mkdir(dir, 0755);
    vl_rng_seed(&rng, argc > 2 ? strtoull(argv[2], NULL, 10) : 2024);
    make_order_set("order_train.csv", "otr", 240);
    make_order_set("order_val.csv", "ova", 80);
    make_frames_set("frames.csv", "fr", 120);
    make_regress_set("regress.csv", "rg", 240);
    /* bad inputs */
    float x[4 * D] = {0};
    write_feats("bad_w6.npy", 4, D, x);
    write_feats("bad_w5.npy", 4, 5, x);
    x[7] = NAN;
    write_feats("bad_nan.npy", 4, D, x);
    char p[600];
#define BAD(name, text) (snprintf(p, sizeof p, "%s/%s", dir, name), write_text(p, text))
    BAD("bad_width.csv", "bad_w6.npy,a\nbad_w5.npy,b\n");
    BAD("bad_nan.csv", "bad_w6.npy,a\nbad_nan.npy,b\n");
    BAD("bad_oneclass.csv", "bad_w6.npy,a\nbad_w6.npy,a\n");
    BAD("bad_empty.csv", "path,label\n");
    BAD("val_unknown.csv", "otr0000.npy,up\notr0001.npy,sideways\n");
    return 0;
}
