/* vidlstm export (vl_model_export_onnx) against ONNX Runtime.
 *
 * tests/fixtures/export holds small model files (gen_export_models.py: LSTM,
 * GRU, BiLSTM, BiGRU, stacks with dropout, mean pooling, clip and per-frame,
 * classification and regression, ensembles of 2 and 3) with a padded batch of
 * variable lengths (garbage past each length) and <case>.ort.npy: what ONNX
 * Runtime 1.30 computed on the exported files (make_fixtures.sh). Per case:
 *   - the model exports;
 *   - vidlstm's own predict, sequence by sequence, and vl_net_forward on the
 *     whole padded batch match the committed ORT outputs to 1e-5 relative;
 *   - when Node and onnxruntime-node are installed, the freshly exported file
 *     runs in ORT (tests/ort/ort_run.js) and matches too (else skipped, said so).
 * Errors: the model as its own output, a symlink to it, a file that is not a
 * model, a missing folder: one error naming the file, nothing written, an
 * existing output untouched, no temporary file left.
 * usage: test_export FIXTURE_DIR SCRATCH_DIR (run from the repo root) */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "model/modelfile.h"
#include "nn/layers.h"
#include "onnx.pb-c.h"
#include "vidlstm.h"

static const char *fix, *tmp;
static int have_ort = -1;

static const struct {
    const char *name;
    int members;
} CASES[] = {
    {"lstm_last_cls", 1},     {"gru_last_reg", 1},         {"bilstm_last_cls", 1},  {"stacked_seq_cls", 1},
    {"bigru_seq_reg", 1},     {"gru_mean_cls", 1},         {"mean_reg", 1},         {"stacked_last_reg", 1},
    {"ens3_bilstm_last_cls", 3}, {"ens2_gru_seq_reg", 2}, {"ens2_seq_cls", 2},
};

static int load_npy(const char *dir, const char *c, const char *what, vl_npy *a)
{
    char p[2048];
    snprintf(p, sizeof p, "%s/%s.%s.npy", dir, c, what);
    vl_status st = vl_npy_read(p, a);
    CHECK(st == VL_OK, "%s", vl_errmsg());
    return st == VL_OK;
}

static int ort_available(void)
{
    if (have_ort < 0) {
        have_ort = system("NODE_PATH=\"tests/ort/node_modules:tests/tfjs/node_modules${NODE_PATH:+:$NODE_PATH}\" "
                          "node -e \"require('onnxruntime-node')\" >/dev/null 2>&1") == 0;
        if (!have_ort)
            printf("skip: live ONNX Runtime runs (needs node and onnxruntime-node: cd tests/ort && "
                   "ONNXRUNTIME_NODE_INSTALL=skip npm install); the committed ORT outputs are still checked\n");
    }
    return have_ort;
}

/* Our outputs for the padded batch, laid out as the graph's: [B,C] or [B,T,C],
 * probabilities for classifiers, zeros at padded steps. */
static void ours_predict(vl_model *m, const vl_npy *x, const vl_npy *len, float *y)
{
    const vl_net_config *cfg = vl_net_get_config(vl_model_net(m));
    const int B = (int)x->shape[0], T = (int)x->shape[1], D = (int)x->shape[2], C = cfg->outputs;
    const int seq = cfg->mode == VL_OUT_SEQUENCE;
    memset(y, 0, sizeof(float) * (size_t)B * (seq ? T : 1) * C);
    for (int b = 0; b < B; b++) {
        int n = ((int32_t *)len->data)[b];
        CHECK(vl_model_predict(m, (float *)x->data + (size_t)b * T * D, n, y + (size_t)b * (seq ? T : 1) * C) ==
                  VL_OK,
              "%s", vl_errmsg());
    }
}

/* The same through vl_net_forward on the whole padded batch, normalised here
 * as the pipeline does (the statistics from the model file). */
static void ours_batch(const char *model, const vl_npy *x, const int32_t *len, float *y)
{
    vl_net *net;
    vl_model_meta meta;
    CHECK(vl_model_load(model, &net, &meta) == VL_OK, "%s", vl_errmsg());
    if (!net)
        return;
    const vl_net_config *cfg = vl_net_get_config(net);
    const int B = (int)x->shape[0], T = (int)x->shape[1], D = (int)x->shape[2], C = cfg->outputs;
    const int seq = cfg->mode == VL_OUT_SEQUENCE;
    float *xn = malloc(sizeof(float) * (size_t)B * T * D);
    for (size_t i = 0; i < (size_t)B * T * D; i++) {
        float v = ((float *)x->data)[i];
        xn[i] = meta.norm_mean ? (v - meta.norm_mean[i % D]) / meta.norm_std[i % D] : v;
    }
    vl_batch bt = {.batch = B, .tmax = T, .dim = D, .x = xn, .lengths = len};
    CHECK(vl_net_forward(net, &bt, y) == VL_OK, "%s: %s", model, vl_errmsg());
    if (cfg->task == VL_TASK_CLASSIFY)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < (seq ? len[b] : 1); t++) {
                float *r = y + ((size_t)b * (seq ? T : 1) + t) * C;
                vl_softmax_rows(1, C, r, r);
            }
    free(xn);
    vl_model_meta_free(&meta);
    vl_net_free(net);
}

static void one_case(const char *c, int members)
{
    char model[2048], onnx[2048];
    snprintf(model, sizeof model, "%s/%s.safetensors", fix, c);
    snprintf(onnx, sizeof onnx, "%s/%s.onnx", tmp, c);
    vl_export_info info;
    vl_status st = vl_model_export_onnx(model, onnx, &info);
    CHECK(st == VL_OK, "%s: %s", c, vl_errmsg());
    if (st)
        return;
    CHECK(info.members == members && info.nodes > 0 && info.bytes > 0, "%s: info %d members, %d nodes", c,
          info.members, info.nodes);
    vl_npy x, len, ref;
    if (!load_npy(fix, c, "x", &x) || !load_npy(fix, c, "lengths", &len) || !load_npy(fix, c, "ort", &ref))
        return;
    vl_model *m;
    CHECK(vl_model_open(model, &m) == VL_OK, "%s", vl_errmsg());
    const vl_net_config *cfg = vl_net_get_config(vl_model_net(m));
    CHECK(!strcmp(info.output, cfg->task == VL_TASK_CLASSIFY ? "probabilities" : "values"), "%s: output %s", c,
          info.output);
    const int seq = cfg->mode == VL_OUT_SEQUENCE;
    size_t n = (size_t)ref.count;
    CHECK(n == (size_t)x.shape[0] * (seq ? x.shape[1] : 1) * cfg->outputs, "%s: ORT output has %lld values", c,
          (long long)ref.count);
    float *y = calloc(n, sizeof(float));
    ours_predict(m, &x, &len, y);
    double e = rel_err(y, ref.data, n);
    CHECK(e <= 1e-5, "%s: predict vs ONNX Runtime: %.3g relative", c, e);
    printf("%-22s predict vs ORT %.2g", c, e);
    float *yb = calloc(n, sizeof(float));
    ours_batch(model, &x, len.data, yb);
    double eb = rel_err(yb, ref.data, n);
    CHECK(eb <= 1e-5, "%s: vl_net_forward (padded batch) vs ONNX Runtime: %.3g relative", c, eb);
    printf(", batch forward vs ORT %.2g", eb);

    /* our ONNX loader reads the exported file back: first every sequence at full
     * length (vl_onnx_run's default), then the real lengths (a new plan) */
    vl_onnx *ox;
    st = vl_onnx_load(onnx, &ox);
    CHECK(st == VL_OK, "%s: our ONNX loader: %s", c, vl_errmsg());
    if (!st) {
        const float *o;
        int ond;
        int64_t osh[VL_ONNX_MAXDIM];
        const int B = (int)x.shape[0], T = (int)x.shape[1];
        int32_t *full = malloc(sizeof(int32_t) * (size_t)B);
        for (int b = 0; b < B; b++)
            full[b] = T;
        ours_batch(model, &x, full, yb);
        st = vl_onnx_run(ox, x.data, 3, x.shape, NULL, &o, &ond, osh);
        CHECK(st == VL_OK && ond == (seq ? 3 : 2) && osh[0] == B && osh[ond - 1] == cfg->outputs,
              "%s: vl_onnx_run: %s", c, st ? vl_errmsg() : "wrong shape");
        if (!st) {
            double ef = rel_err(o, yb, n);
            CHECK(ef <= 1e-5, "%s: our ONNX runner, full lengths, vs vl_net_forward: %.3g relative", c, ef);
        }
        st = vl_onnx_run_lens(ox, x.data, 3, x.shape, len.data, NULL, &o, &ond, osh);
        CHECK(st == VL_OK, "%s: vl_onnx_run_lens: %s", c, vl_errmsg());
        if (!st) {
            double eo = rel_err(o, y, n);
            CHECK(eo <= 1e-5, "%s: our ONNX runner vs predict: %.3g relative", c, eo);
            printf(", our ONNX runner vs predict %.2g", eo);
        }
        free(full);
        vl_onnx_free(ox);
    }
    free(yb);
    if (seq) /* padded steps: zeros in both */
        for (int b = 0; b < x.shape[0]; b++)
            for (int t = ((int32_t *)len.data)[b]; t < x.shape[1]; t++)
                for (int k = 0; k < cfg->outputs; k++)
                    CHECK(((float *)ref.data)[((size_t)b * x.shape[1] + t) * cfg->outputs + k] == 0.0f,
                          "%s: ORT output at padded step %d of sequence %d is not zero", c, t, b);
    if (ort_available()) {
        char out[2048], cmd[8192];
        snprintf(out, sizeof out, "%s/%s.live.npy", tmp, c);
        snprintf(cmd, sizeof cmd,
                 "NODE_PATH=\"tests/ort/node_modules:tests/tfjs/node_modules${NODE_PATH:+:$NODE_PATH}\" "
                 "node tests/ort/ort_run.js '%s' '%s/%s.x.npy' '%s/%s.lengths.npy' '%s' 2>/dev/null",
                 onnx, fix, c, fix, c, out);
        CHECK(system(cmd) == 0, "%s: ONNX Runtime could not run the exported file", c);
        vl_npy live;
        if (vl_npy_read(out, &live) == VL_OK) {
            CHECK(live.count == ref.count, "%s: live ORT output size %lld", c, (long long)live.count);
            if (live.count == ref.count) {
                double el = rel_err(y, live.data, n);
                CHECK(el <= 1e-5, "%s: predict vs live ONNX Runtime: %.3g relative", c, el);
                printf(", vs live ORT %.2g", el);
            }
            vl_npy_free(&live);
        } else {
            CHECK(0, "%s: %s", c, vl_errmsg());
        }
    }
    printf("\n");
    free(y);
    vl_model_close(m);
    vl_npy_free(&x);
    vl_npy_free(&len);
    vl_npy_free(&ref);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static int no_temp_left(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 1;
    struct dirent *de;
    int ok = 1;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".tmp."))
            ok = 0;
    closedir(d);
    return ok;
}

static void errors(void)
{
    char model[2048], copy[2048], link[2048], out[2048], p[2048];
    snprintf(model, sizeof model, "%s/lstm_last_cls.safetensors", fix);
    snprintf(copy, sizeof copy, "%s/err_model.safetensors", tmp);
    size_t n0, n1;
    char *orig = slurp(model, &n0);
    FILE *f = fopen(copy, "wb");
    fwrite(orig, 1, n0, f);
    fclose(f);

    /* the model as its own output, directly and through a symlink: refused, unchanged */
    vl_status st = vl_model_export_onnx(copy, copy, NULL);
    CHECK(st == VL_ERR_ARG && strstr(vl_errmsg(), copy) && strstr(vl_errmsg(), "overwrite"), "self: %s",
          vl_errmsg());
    snprintf(link, sizeof link, "%s/err_link.onnx", tmp);
    unlink(link);
    CHECK(symlink("err_model.safetensors", link) == 0, "symlink");
    st = vl_model_export_onnx(copy, link, NULL);
    CHECK(st == VL_ERR_ARG, "symlink to the model: %s", vl_errmsg());
    char *after = slurp(copy, &n1);
    CHECK(after && n1 == n0 && !memcmp(after, orig, n0), "the model file changed");
    free(after);

    /* not a model file (an .npy), with an existing output: error names the input, output untouched */
    snprintf(out, sizeof out, "%s/err_keep.onnx", tmp);
    f = fopen(out, "wb");
    fputs("keep me", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/lstm_last_cls.x.npy", fix);
    st = vl_model_export_onnx(p, out, NULL);
    CHECK(st != VL_OK && strstr(vl_errmsg(), p), "not a model: %s", vl_errmsg());
    after = slurp(out, &n1);
    CHECK(after && n1 == 7 && !memcmp(after, "keep me", 7), "the existing output was touched");
    free(after);

    /* a truncated model file */
    snprintf(p, sizeof p, "%s/err_short.safetensors", tmp);
    f = fopen(p, "wb");
    fwrite(orig, 1, n0 - 10, f);
    fclose(f);
    st = vl_model_export_onnx(p, out, NULL);
    CHECK(st == VL_ERR_FORMAT && strstr(vl_errmsg(), p), "truncated: %s", vl_errmsg());

    /* an output folder that does not exist: I/O error naming the output, nothing created */
    snprintf(p, sizeof p, "%s/no/such/dir/m.onnx", tmp);
    st = vl_model_export_onnx(copy, p, NULL);
    CHECK(st == VL_ERR_IO && strstr(vl_errmsg(), p), "missing folder: %s", vl_errmsg());
    CHECK(access(p, F_OK) != 0, "a file appeared");
    CHECK(no_temp_left(tmp), "a temporary file was left in %s", tmp);

    /* and a good export overwrites an existing output in one step */
    st = vl_model_export_onnx(copy, out, NULL);
    CHECK(st == VL_OK, "%s", vl_errmsg());
    after = slurp(out, &n1);
    CHECK(after && n1 > 100, "the output was not replaced");
    free(after);
    CHECK(no_temp_left(tmp), "a temporary file was left in %s", tmp);
    free(orig);
}

/* Our loader's LSTM/GRU support is what vidlstm export writes; anything else
 * is one error naming the node and the problem (at planning, i.e. at the first
 * run). mutate() edits the first recurrent node of an exported file. */
typedef void (*mutator)(Onnx__NodeProto *n);
static Onnx__AttributeProto *find_attr(Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (!strcmp(n->attribute[i]->name, name))
            return n->attribute[i];
    return NULL;
}
static void set_layout(Onnx__NodeProto *n)
{
    static Onnx__AttributeProto a;
    static Onnx__AttributeProto *arr[8];
    onnx__attribute_proto__init(&a);
    a.name = "layout";
    a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a.has_type = a.has_i = 1;
    a.i = 1;
    for (size_t i = 0; i < n->n_attribute && i < 7; i++)
        arr[i] = n->attribute[i];
    arr[n->n_attribute] = &a;
    n->attribute = arr; /* the unpacked message is freed with the original array pointer below */
    n->n_attribute++;
}
static void lbr_zero(Onnx__NodeProto *n) { find_attr(n, "linear_before_reset")->i = 0; }
static void reverse_dir(Onnx__NodeProto *n)
{
    Onnx__AttributeProto *a = find_attr(n, "direction");
    memcpy(a->s.data, "sideways", 8); /* in place: "bidirectional" is longer */
    a->s.len = 8;
}

static void loader_rejects(const char *model_name, mutator mu, const char *want)
{
    char model[2048], onnx[2048];
    snprintf(model, sizeof model, "%s/%s.safetensors", fix, model_name);
    snprintf(onnx, sizeof onnx, "%s/%s.mut.onnx", tmp, model_name);
    CHECK(vl_model_export_onnx(model, onnx, NULL) == VL_OK, "%s", vl_errmsg());
    size_t len;
    char *bytes = slurp(onnx, &len);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, (const uint8_t *)bytes);
    CHECK(mp != NULL, "unpack");
    if (!mp) {
        free(bytes);
        return;
    }
    Onnx__NodeProto *rn = NULL;
    for (size_t i = 0; i < mp->graph->n_node && !rn; i++)
        if (!strcmp(mp->graph->node[i]->op_type, "LSTM") || !strcmp(mp->graph->node[i]->op_type, "GRU"))
            rn = mp->graph->node[i];
    Onnx__AttributeProto **keep = rn->attribute;
    size_t nkeep = rn->n_attribute;
    mu(rn);
    size_t n2 = onnx__model_proto__get_packed_size(mp);
    uint8_t *b2 = malloc(n2);
    onnx__model_proto__pack(mp, b2);
    rn->attribute = keep;
    rn->n_attribute = nkeep;
    onnx__model_proto__free_unpacked(mp, NULL);
    vl_onnx *m = NULL;
    vl_status st = vl_onnx_load_memory(b2, n2, "mutated.onnx", &m);
    if (!st) {
        vl_npy x, l;
        load_npy(fix, model_name, "x", &x);
        load_npy(fix, model_name, "lengths", &l);
        const float *o;
        int nd;
        int64_t sh[VL_ONNX_MAXDIM];
        st = vl_onnx_run_lens(m, x.data, 3, x.shape, l.data, NULL, &o, &nd, sh);
        vl_npy_free(&x);
        vl_npy_free(&l);
        vl_onnx_free(m);
    }
    CHECK(st != VL_OK && strstr(vl_errmsg(), "mutated.onnx") && strstr(vl_errmsg(), want), "%s: want '%s', got: %s",
          model_name, want, st ? vl_errmsg() : "success");
    free(b2);
    free(bytes);
}

static void loader_errors(void)
{
    loader_rejects("lstm_last_cls", set_layout, "layout 0");
    loader_rejects("gru_last_reg", lbr_zero, "linear_before_reset = 1");
    loader_rejects("bilstm_last_cls", reverse_dir, "direction must be");

    /* lengths outside 1..time, and lengths for a model without that input */
    char model[2048], onnx[2048];
    snprintf(model, sizeof model, "%s/stacked_seq_cls.safetensors", fix);
    snprintf(onnx, sizeof onnx, "%s/stacked_seq_cls.onnx", tmp);
    vl_onnx *m;
    if (vl_onnx_load(onnx, &m) == VL_OK) {
        vl_npy x;
        load_npy(fix, "stacked_seq_cls", "x", &x);
        int32_t bad[4] = {3, (int32_t)x.shape[1] + 1, 1, 2}, zero[4] = {3, 0, 1, 2};
        const float *o;
        int nd;
        int64_t sh[VL_ONNX_MAXDIM];
        vl_status st = vl_onnx_run_lens(m, x.data, 3, x.shape, bad, NULL, &o, &nd, sh);
        CHECK(st != VL_OK && strstr(vl_errmsg(), "outside 1..time"), "length > time: %s", vl_errmsg());
        st = vl_onnx_run_lens(m, x.data, 3, x.shape, zero, NULL, &o, &nd, sh);
        CHECK(st == VL_ERR_ARG && strstr(vl_errmsg(), "sequence_lens[1] is 0"), "length 0: %s", vl_errmsg());
        /* and it still runs after the errors */
        vl_npy l;
        load_npy(fix, "stacked_seq_cls", "lengths", &l);
        st = vl_onnx_run_lens(m, x.data, 3, x.shape, l.data, NULL, &o, &nd, sh);
        CHECK(st == VL_OK, "after errors: %s", vl_errmsg());
        vl_npy_free(&l);
        vl_npy_free(&x);
        vl_onnx_free(m);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_export FIXTURE_DIR SCRATCH_DIR\n");
        return 2;
    }
    fix = argv[1];
    tmp = argv[2];
    mkdir(tmp, 0755);
    ort_available(); /* says once whether the live runs are skipped */
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        one_case(CASES[i].name, CASES[i].members);
    errors();
    loader_errors();
    return check_summary();
}
