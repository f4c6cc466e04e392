/* Regression tests for bugs found by review and fuzzing. Each case failed
 * (ASan error or wrong result) before its fix. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "onnx_mk.h"
#include "vidlstm.h"

/* Conv, then a node folded at planning time, then a Conv with a larger im2col:
 * the scratch buffer allocated during folding must grow (was: heap overflow). */
static void scratch_grows_after_folding(void)
{
    nn = ni = 0;
    float w1[4] = {1, 0, 0, 1};
    int64_t d1[4] = {2, 2, 1, 1};
    mk_init("W1", 4, d1, w1);
    float w2[72];
    for (int i = 0; i < 72; i++) w2[i] = 0.01f * i;
    int64_t d2[4] = {4, 2, 3, 3};
    mk_init("W2", 4, d2, w2);
    float a = 1, b = 2;
    int64_t d0[1] = {1};
    mk_init("A", 1, d0, &a);
    mk_init("B", 1, d0, &b);
    const char *i1[] = {"X", "W1"}, *i2[] = {"A", "B"}, *i3[] = {"Y1", "W2"}, *i4[] = {"Y2", "C"};
    mk_node("Conv", 2, i1, "Y1");
    mk_node("Add", 2, i2, "C");
    Onnx__NodeProto *c2 = mk_node("Conv", 2, i3, "Y2");
    int64_t p[4] = {1, 1, 1, 1};
    mk_attr_ints(c2, "pads", 4, p);
    mk_node("Add", 2, i4, "Z");
    uint8_t *buf;
    int64_t sh[4] = {-1, 2, 8, 8};
    size_t len = mk_model("X", 4, sh, "Z", &buf);
    vl_onnx *m;
    vl_status st = vl_onnx_load_memory(buf, len, "scratch.onnx", &m);
    CHECK(st == VL_OK, "load: %s", vl_errmsg());
    if (st) { mk_free_all(); return; }
    float x[128];
    for (int i = 0; i < 128; i++) x[i] = (float)(i % 7);
    int64_t s[4] = {1, 2, 8, 8}, os[VL_ONNX_MAXDIM];
    const float *o;
    int ond;
    st = vl_onnx_run(m, x, 4, s, NULL, &o, &ond, os);
    CHECK(st == VL_OK && ond == 4 && os[1] == 4 && os[2] == 8 && os[3] == 8, "run: %s", vl_errmsg());
    if (!st) {
        /* Y1 = X (identity 1x1 conv); Z[0,0,0,0] = 3 + sum over the in-bounds 2x2 taps of W2 */
        double want = 3.0;
        for (int c = 0; c < 2; c++)
            for (int ki = 1; ki < 3; ki++)
                for (int kj = 1; kj < 3; kj++)
                    want += w2[(c * 3 + ki) * 3 + kj] * x[c * 64 + (ki - 1) * 8 + (kj - 1)];
        CHECK(fabs(o[0] - want) < 1e-4, "value %g, want %g", o[0], want);
    }
    vl_onnx_free(m);
    mk_free_all();
}

/* BatchNormalization whose parameters do not match the Conv's channels:
 * must be an error at planning, not an over-read while folding. */
static void bn_fold_checks_sizes(void)
{
    nn = ni = 0;
    float w[128];
    for (int i = 0; i < 128; i++) w[i] = 1;
    int64_t d1[4] = {32, 4, 1, 1}, d0[1] = {1};
    mk_init("W", 4, d1, w);
    float one = 1;
    mk_init("g", 1, d0, &one);
    mk_init("b", 1, d0, &one);
    mk_init("mu", 1, d0, &one);
    mk_init("var", 1, d0, &one);
    const char *i1[] = {"X", "W"}, *i2[] = {"Y", "g", "b", "mu", "var"};
    mk_node("Conv", 2, i1, "Y");
    mk_node("BatchNormalization", 5, i2, "Z");
    uint8_t *buf;
    int64_t sh[4] = {-1, 4, 4, 4};
    size_t len = mk_model("X", 4, sh, "Z", &buf);
    vl_onnx *m;
    vl_status st = vl_onnx_load_memory(buf, len, "bn.onnx", &m);
    if (st == VL_OK) {
        float x[64] = {0};
        int64_t s[4] = {1, 4, 4, 4}, os[VL_ONNX_MAXDIM];
        const float *o;
        int ond;
        st = vl_onnx_run(m, x, 4, s, NULL, &o, &ond, os);
        vl_onnx_free(m);
    }
    CHECK(st != VL_OK && strstr(vl_errmsg(), "bn.onnx"), "mismatched BN accepted: %s", vl_errmsg());
    mk_free_all();
}

/* Squeeze of an axis that is not 1 is an error (was: a smaller output and
 * a copy of the whole input into it, a heap overflow). */
static void squeeze_checks_size(void)
{
    nn = ni = 0;
    int64_t ax[1] = {0};
    const char *in[] = {"X"};
    mk_attr_ints(mk_node("Squeeze", 1, in, "Z"), "axes", 1, ax);
    uint8_t *buf;
    int64_t sh[4] = {-1, 3, 4, 4};
    size_t len = mk_model("X", 4, sh, "Z", &buf);
    vl_onnx *m;
    vl_status st = vl_onnx_load_memory(buf, len, "sq.onnx", &m);
    CHECK(st == VL_OK, "%s", vl_errmsg());
    if (st == VL_OK) {
        float x[96] = {0};
        int64_t s1[4] = {1, 3, 4, 4}, s2[4] = {2, 3, 4, 4}, os[VL_ONNX_MAXDIM];
        const float *o;
        int ond;
        st = vl_onnx_run(m, x, 4, s1, NULL, &o, &ond, os);
        CHECK(st == VL_OK && ond == 3 && os[0] == 3, "squeeze of a 1: %s", vl_errmsg());
        st = vl_onnx_run(m, x, 4, s2, NULL, &o, &ond, os);
        CHECK(st != VL_OK && strstr(vl_errmsg(), "not 1"), "squeeze of a 2 accepted: %s", vl_errmsg());
        vl_onnx_free(m);
    }
    mk_free_all();
}

/* Unsqueeze axes beyond the output rank, or repeated, are an error (was: fewer
 * dimensions inserted than counted, the shape read past the input's and the
 * copy overflowed; found by fuzzing an exported LSTM graph). */
static void unsqueeze_checks_axes(void)
{
    const int64_t bad[2][2] = {{7, 0}, {1, 1}};
    for (int c = 0; c < 2; c++) {
        nn = ni = 0;
        const char *in[] = {"X"};
        mk_attr_ints(mk_node("Unsqueeze", 1, in, "Z"), "axes", c ? 2 : 1, bad[c]);
        uint8_t *buf;
        int64_t sh[2] = {-1, 3};
        size_t len = mk_model("X", 2, sh, "Z", &buf);
        vl_onnx *m;
        vl_status st = vl_onnx_load_memory(buf, len, "unsq.onnx", &m);
        CHECK(st == VL_OK, "%s", vl_errmsg());
        if (st == VL_OK) {
            float x[6] = {0};
            int64_t s1[2] = {2, 3}, os[VL_ONNX_MAXDIM];
            const float *o;
            int ond;
            st = vl_onnx_run(m, x, 2, s1, NULL, &o, &ond, os);
            CHECK(st != VL_OK && strstr(vl_errmsg(), "unsq.onnx") && strstr(vl_errmsg(), "axes out of range"),
                  "unsqueeze axes %lld,%lld: %s", (long long)bad[c][0], (long long)bad[c][1],
                  st ? vl_errmsg() : "accepted");
            vl_onnx_free(m);
        }
        mk_free_all();
    }
}

/* Concat takes any number of inputs (was: more than 8 refused as malformed,
 * DenseNet-121 has 33), and an omitted one is an error (was: read T[-1]). */
static void concat_many_inputs(void)
{
    for (int c = 0; c < 2; c++) {
        nn = ni = 0;
        const char *in[12];
        for (int k = 0; k < 12; k++) in[k] = c && k == 7 ? "" : "X";
        Onnx__NodeProto *cat = mk_node("Concat", 12, in, "Z");
        Onnx__AttributeProto *a = calloc(1, sizeof *a);
        onnx__attribute_proto__init(a);
        a->name = strdup("axis");
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_type = a->has_i = 1;
        a->i = 1;
        cat->attribute = calloc(1, sizeof(void *)); /* freed below: onnx_mk.h does not track these */
        cat->attribute[cat->n_attribute++] = a;
        uint8_t *buf;
        int64_t sh[2] = {-1, 3};
        size_t len = mk_model("X", 2, sh, "Z", &buf);
        vl_onnx *m;
        vl_status st = vl_onnx_load_memory(buf, len, "cat.onnx", &m);
        CHECK(st == VL_OK, "concat of 12: %s", vl_errmsg());
        if (st == VL_OK) {
            float x[6] = {1, 2, 3, 4, 5, 6};
            int64_t s1[2] = {2, 3}, os[VL_ONNX_MAXDIM];
            const float *o;
            int ond;
            st = vl_onnx_run(m, x, 2, s1, NULL, &o, &ond, os);
            if (!c)
                CHECK(st == VL_OK && ond == 2 && os[0] == 2 && os[1] == 36 && o[35] == 3 && o[36] == 4 && o[71] == 6,
                      "concat of 12: %s", st ? vl_errmsg() : "wrong output");
            else
                CHECK(st != VL_OK && strstr(vl_errmsg(), "omitted"), "omitted concat input: %s",
                      st ? vl_errmsg() : "accepted");
            vl_onnx_free(m);
        }
        free(a->name);
        free(a);
        free(cat->attribute);
        cat->attribute = NULL;
        cat->n_attribute = 0;
        mk_free_all();
    }
}

/* A tensor read several times by each of many nodes: the liveness walk
 * pushed a producer once per read and overflowed its stack of (nodes + 1)
 * entries (found with ShuffleNetV2's float Slices; a double free after). */
static void liveness_many_reads(void)
{
    nn = ni = 0;
    const char *x[] = {"X"};
    mk_node("Relu", 1, x, "A");
    char names[10][8];
    for (int k = 0; k < 10; k++) {
        snprintf(names[k], sizeof names[k], "B%d", k);
        const char *in[4] = {"A", "A", "A", k ? names[k - 1] : "A"};
        mk_node("Sum", 4, in, names[k]);
    }
    uint8_t *buf;
    int64_t sh[2] = {-1, 3};
    size_t len = mk_model("X", 2, sh, "B9", &buf);
    vl_onnx *m;
    vl_status st = vl_onnx_load_memory(buf, len, "sum.onnx", &m);
    CHECK(st == VL_OK, "%s", vl_errmsg());
    if (st == VL_OK) {
        float xv[6] = {1, -2, 3, 0.5f, -1, 2};
        int64_t s1[2] = {2, 3}, os[VL_ONNX_MAXDIM];
        const float *o;
        int ond, ok = 1;
        st = vl_onnx_run(m, xv, 2, s1, NULL, &o, &ond, os);
        for (int i = 0; !st && i < 6; i++) ok &= fabsf(o[i] - 31.0f * (xv[i] > 0 ? xv[i] : 0)) < 1e-4f;
        CHECK(st == VL_OK && ok, "31 relu(x): %s", st ? vl_errmsg() : "wrong values");
        vl_onnx_free(m);
    }
    mk_free_all();
}

/* Input gradients after a forward-only call on another batch are gone, not
 * stale (was: use-after-free of a reallocated workspace). */
static void input_grads_invalidated(void)
{
    vl_net_config cfg = {.input = 4, .outputs = 2, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, 8, 0);
    vl_net *net;
    if (vl_net_create(&cfg, 1, &net)) { CHECK(0, "%s", vl_errmsg()); return; }
    vl_net_want_input_grads(net, 1);
    float x1[8] = {0};
    int32_t len1[1] = {2}, lab1[1] = {1};
    vl_batch b1 = {.x = x1, .dim = 4, .batch = 1, .tmax = 2, .lengths = len1, .labels = lab1};
    float loss, dx1[8];
    CHECK(vl_net_forward_backward(net, &b1, &loss, NULL) == VL_OK, "%s", vl_errmsg());
    CHECK(vl_net_input_grads(net, dx1, NULL, NULL) == VL_OK, "grads after backward: %s", vl_errmsg());
    int B = 8, T = 200;
    float *x2 = calloc((size_t)B * T * 4, sizeof(float)), out[16];
    int32_t len2[8];
    for (int i = 0; i < B; i++) len2[i] = T;
    vl_batch b2 = {.x = x2, .dim = 4, .batch = B, .tmax = T, .lengths = len2};
    CHECK(vl_net_forward(net, &b2, out) == VL_OK, "%s", vl_errmsg());
    float *dx = malloc(sizeof(float) * (size_t)B * T * 4);
    CHECK(vl_net_input_grads(net, dx, NULL, NULL) == VL_ERR_ARG, "stale input gradients were returned");
    free(x2);
    free(dx);
    vl_net_free(net);
}

int main(void)
{
    scratch_grows_after_folding();
    bn_fold_checks_sizes();
    squeeze_checks_size();
    unsqueeze_checks_axes();
    concat_many_inputs();
    liveness_many_reads();
    input_grads_invalidated();
    return check_summary();
}
