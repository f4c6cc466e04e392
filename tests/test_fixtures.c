/* Numerics against PyTorch: for every case in tests/fixtures (written by
 * gen_fixtures.py with torch.nn.LSTM/GRU), load the same weights and batch,
 * and compare outputs, loss, every gradient (parameters, input, initial
 * states), clipped gradients, and the weights after Adam (1 and 2 steps),
 * SGD-momentum and RMSProp steps. Tolerance: 1e-5 relative, where relative
 * error is measured against max(|ref|, 1e-3 * max|ref|) per tensor. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/npy.h"
#include "optim/optim.h"
#include "vidlstm.h"

#define TOL 1e-5

static const char *fixdir;

typedef struct {
    char cell[8], mode[16], task[16], clip[32];
    int layers, bidir, input, hidden, outputs, batch, tmax, has_h0, has_cw;
    float thr, lr, wd, b1, b2, aeps, mom, alpha, reps;
} meta;

static int read_meta(const char *dir, meta *m)
{
    char path[512], key[64], val[64];
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    memset(m, 0, sizeof *m);
    while (fscanf(f, "%63s %63s", key, val) == 2) {
#define S(k, dst) if (!strcmp(key, k)) snprintf(dst, sizeof dst, "%s", val);
#define I(k, dst) if (!strcmp(key, k)) dst = atoi(val);
#define F(k, dst) if (!strcmp(key, k)) dst = strtof(val, NULL);
        S("cell", m->cell) S("mode", m->mode) S("task", m->task) S("clip_method", m->clip)
        I("layers", m->layers) I("bidirectional", m->bidir) I("input", m->input) I("hidden", m->hidden)
        I("outputs", m->outputs) I("batch", m->batch) I("tmax", m->tmax) I("has_h0", m->has_h0)
        I("has_class_weights", m->has_cw)
        F("clip_threshold", m->thr) F("lr", m->lr) F("weight_decay", m->wd) F("adam_beta1", m->b1)
        F("adam_beta2", m->b2) F("adam_eps", m->aeps) F("sgdm_momentum", m->mom) F("rmsprop_alpha", m->alpha)
        F("rmsprop_eps", m->reps)
    }
    fclose(f);
    return 0;
}

static vl_npy load(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    vl_npy a;
    if (vl_npy_read(path, &a) != VL_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, vl_errmsg());
        exit(2);
    }
    return a;
}

static void compare(const char *cs, const char *what, const float *got, const float *ref, size_t n)
{
    double e = rel_err(got, ref, n);
    CHECK(e <= TOL, "%s: %s rel err %.3g", cs, what, e);
}

static void compare_file(const char *dir, const char *cs, const char *name, const float *got, size_t n)
{
    vl_npy r = load(dir, name);
    CHECK((size_t)r.count == n, "%s: %s has %lld values, expected %zu", cs, name, (long long)r.count, n);
    if ((size_t)r.count == n)
        compare(cs, name, got, r.data, n);
    vl_npy_free(&r);
}

static void load_params(vl_net *net, const char *dir)
{
    for (int i = 0; i < vl_net_num_params(net); i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        vl_npy a = load(dir, p.name);
        if ((size_t)a.count != p.count) {
            fprintf(stderr, "%s: %s size %lld != %zu\n", dir, p.name, (long long)a.count, p.count);
            exit(2);
        }
        memcpy(p.data, a.data, sizeof(float) * p.count);
        vl_npy_free(&a);
    }
}

static void run_optimiser(vl_net *net, const char *dir, const char *cs, const meta *m, vl_opt_kind kind,
                          const char *prefix, int steps)
{
    load_params(net, dir);
    /* gradients = PyTorch's clipped gradients (clipping is checked separately) */
    char name[128];
    for (int i = 0; i < vl_net_num_params(net); i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        snprintf(name, sizeof name, "clipped_grad_%s", p.name);
        vl_npy g = load(dir, name);
        memcpy(p.grad, g.data, sizeof(float) * p.count);
        vl_npy_free(&g);
    }
    vl_optim_config oc = {.kind = kind, .lr = m->lr, .weight_decay = m->wd, .momentum = m->mom,
                          .beta1 = m->b1, .beta2 = m->b2, .alpha = m->alpha,
                          .eps = kind == VL_OPT_ADAM ? m->aeps : m->reps};
    vl_optim *opt;
    CHECK(vl_optim_create(net, &oc, &opt) == VL_OK, "%s", vl_errmsg());
    for (int s = 0; s < steps; s++)
        CHECK(vl_optim_step(opt, NULL) == VL_OK, "%s", vl_errmsg());
    vl_optim_free(opt);
    for (int i = 0; i < vl_net_num_params(net); i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        snprintf(name, sizeof name, "%s%s", prefix, p.name);
        compare_file(dir, cs, name, p.data, p.count);
    }
}

static void run_case(const char *cs)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", fixdir, cs);
    meta m;
    if (read_meta(dir, &m))
        return;
    vl_npy cw = {0};
    if (m.has_cw)
        cw = load(dir, "class_weights");
    vl_net_config cfg = {.input = m.input, .outputs = m.outputs,
                         .mode = !strcmp(m.mode, "last") ? VL_OUT_LAST : VL_OUT_SEQUENCE,
                         .task = !strcmp(m.task, "classify") ? VL_TASK_CLASSIFY : VL_TASK_REGRESS,
                         .class_weights = m.has_cw ? cw.data : NULL};
    for (int l = 0; l < m.layers; l++)
        vl_net_add_layer(&cfg, !strcmp(m.cell, "lstm") ? VL_LAYER_LSTM : VL_LAYER_GRU, m.hidden, m.bidir);
    vl_net *net;
    vl_status st = vl_net_create(&cfg, 1, &net);
    CHECK(st == VL_OK, "%s: create: %s", cs, vl_errmsg());
    if (st)
        return;
    load_params(net, dir);

    vl_npy x = load(dir, "x"), len = load(dir, "lengths"), y = load(dir, "y"), h0 = {0}, c0 = {0};
    int lstm = !strcmp(m.cell, "lstm");
    if (m.has_h0) {
        h0 = load(dir, "h0");
        if (lstm)
            c0 = load(dir, "c0");
    }
    vl_batch b = {.batch = m.batch, .tmax = m.tmax, .dim = m.input, .x = x.data, .lengths = len.data,
                  .h0 = h0.data, .c0 = c0.data};
    if (cfg.task == VL_TASK_CLASSIFY)
        b.labels = y.data;
    else
        b.targets = y.data;

    size_t nout = vl_net_output_size(net, &b);
    float *out = calloc(nout, sizeof(float));
    float *out2 = calloc(nout, sizeof(float));
    float loss = 0;
    vl_net_want_input_grads(net, 1);
    st = vl_net_forward_backward(net, &b, &loss, out);
    CHECK(st == VL_OK, "%s: forward_backward: %s", cs, vl_errmsg());
    compare_file(dir, cs, "out", out, nout);
    compare_file(dir, cs, "loss", &loss, 1);

    char name[128];
    for (int i = 0; i < vl_net_num_params(net); i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        snprintf(name, sizeof name, "grad_%s", p.name);
        compare_file(dir, cs, name, p.grad, p.count);
    }
    size_t nx = (size_t)m.batch * m.tmax * m.input;
    float *dx = calloc(nx, sizeof(float));
    size_t nh = h0.data ? (size_t)h0.count : 1;
    float *dh0 = calloc(nh, sizeof(float)), *dc0 = calloc(nh, sizeof(float));
    CHECK(vl_net_input_grads(net, dx, h0.data ? dh0 : NULL, c0.data ? dc0 : NULL) == VL_OK, "%s", vl_errmsg());
    compare_file(dir, cs, "grad_x", dx, nx);
    if (h0.data)
        compare_file(dir, cs, "grad_h0", dh0, nh);
    if (c0.data)
        compare_file(dir, cs, "grad_c0", dc0, nh);

    /* Inference path gives the same outputs (after reading the input
     * gradients: a forward pass invalidates them). */
    CHECK(vl_net_forward(net, &b, out2) == VL_OK, "%s", vl_errmsg());
    compare(cs, "inference out", out2, out, nout);

    vl_clip_method cm = !strcmp(m.clip, "global-l2norm") ? VL_CLIP_GLOBAL_L2NORM
                        : !strcmp(m.clip, "l2norm")      ? VL_CLIP_L2NORM
                        : !strcmp(m.clip, "absolute-value") ? VL_CLIP_ABSVALUE
                                                            : VL_CLIP_NONE;
    vl_clip_grads(net, cm, m.thr);
    for (int i = 0; i < vl_net_num_params(net); i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        snprintf(name, sizeof name, "clipped_grad_%s", p.name);
        compare_file(dir, cs, name, p.grad, p.count);
    }

    run_optimiser(net, dir, cs, &m, VL_OPT_ADAM, "adam_", 1);
    run_optimiser(net, dir, cs, &m, VL_OPT_ADAM, "adam2_", 2);
    run_optimiser(net, dir, cs, &m, VL_OPT_SGDM, "sgdm_", 1);
    run_optimiser(net, dir, cs, &m, VL_OPT_RMSPROP, "rmsprop_", 1);

    printf("case %-22s ok so far: %d passed, %d failed\n", cs, check_pass, check_fail);
    free(out);
    free(out2);
    free(dx);
    free(dh0);
    free(dc0);
    vl_npy_free(&x);
    vl_npy_free(&len);
    vl_npy_free(&y);
    vl_npy_free(&h0);
    vl_npy_free(&c0);
    vl_npy_free(&cw);
    vl_net_free(net);
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
    fixdir = argc > 1 ? argv[1] : "tests/fixtures";
    vl_set_threads(1);
    DIR *d = opendir(fixdir);
    if (!d) {
        fprintf(stderr, "cannot open fixture folder %s\n", fixdir);
        return 2;
    }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (e->d_name[0] != '.' && !strchr(e->d_name, '.'))
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmpstr);
    CHECK(n >= 11, "expected at least 11 fixture cases, found %d", n);
    for (int i = 0; i < n; i++) {
        run_case(names[i]);
        free(names[i]);
    }
    return check_summary();
}
