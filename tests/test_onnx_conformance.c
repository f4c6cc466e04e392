/* ONNX's backend node tests (Debian's libonnx-testdata: data/node/test_* with
 * model.onnx and test_data_set_0/{input,output}_K.pb, made by ONNX's reference
 * implementation) run through our loader. Graph inputs after the first become
 * initializers holding the test's values (our runtime feeds one input), and
 * graph output 0 is compared with |ours - want| <= 1e-5 + 1e-3 |want| (ONNX's
 * own backend tests use rtol 1e-3). Every case listed in
 * tests/onnx_conformance_pass.txt must pass; any other case is reported as
 * skipped with its reason (the first error or mismatch), and one that now
 * passes is reported so it can be added to the list.
 *   test_onnx_conformance [DATA_NODE_DIR] [PASS_LIST]
 * Skips (exit 0, a message) when the package is not installed. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "onnx.pb-c.h"
#include "vidlstm.h"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            uint8_t *nb = realloc(b, cap *= 2);
            if (!nb) { free(b); b = NULL; }
            else b = nb;
        }
    }
    fclose(f);
    *len = n;
    return b;
}

/* A float32 TensorProto's values (raw or float_data); NULL otherwise. */
static float *tensor_floats(const Onnx__TensorProto *t, int64_t *count)
{
    if (t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) return NULL;
    int64_t n = 1;
    for (size_t d = 0; d < t->n_dims; d++) n *= t->dims[d];
    float *v = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!v) return NULL;
    if (n == 0) {
        /* empty tensor: nothing to copy */
    } else if (t->has_raw_data && t->raw_data.len == sizeof(float) * (size_t)n) memcpy(v, t->raw_data.data, t->raw_data.len);
    else if ((int64_t)t->n_float_data == n) memcpy(v, t->float_data, sizeof(float) * (size_t)n);
    else { free(v); return NULL; }
    *count = n;
    return v;
}

static Onnx__TensorProto *read_pb(const char *dir, const char *kind, int k)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/test_data_set_0/%s_%d.pb", dir, kind, k);
    size_t len;
    uint8_t *b = slurp(path, &len);
    if (!b) return NULL;
    Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, len, b);
    free(b);
    return t;
}

/* Runs one case. 1 = pass; 0 = not run or wrong, with the reason in why. */
static int run_case(const char *dir, char *why, size_t wlen)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    size_t len;
    uint8_t *bytes = slurp(path, &len);
    Onnx__ModelProto *mp = bytes ? onnx__model_proto__unpack(NULL, len, bytes) : NULL;
    free(bytes);
    if (!mp || !mp->graph) { snprintf(why, wlen, "model.onnx unreadable"); if (mp) onnx__model_proto__free_unpacked(mp, NULL); return 0; }
    Onnx__GraphProto *g = mp->graph;
    int ok = 0;
    size_t nin = g->n_input;
    Onnx__TensorProto **extra = calloc(nin + 1, sizeof *extra), *in0 = NULL, *want = NULL;
    Onnx__TensorProto **inits = NULL;
    size_t saved_ninit = g->n_initializer;
    Onnx__TensorProto **saved_init = g->initializer;
    uint8_t *packed = NULL;
    float *x = NULL, *w = NULL;
    vl_onnx *m = NULL;
    if (nin < 1 || g->n_output < 1) { snprintf(why, wlen, "no input or output"); goto done; }
    if (g->n_output > 1) { snprintf(why, wlen, "%zu graph outputs (only the first is compared)", g->n_output); }
    if (!(in0 = read_pb(dir, "input", 0)) || !(want = read_pb(dir, "output", 0))) {
        snprintf(why, wlen, "test data unreadable");
        goto done;
    }
    for (size_t k = 1; k < nin; k++) {
        if (!(extra[k] = read_pb(dir, "input", (int)k))) { snprintf(why, wlen, "input_%zu.pb missing", k); goto done; }
        free(extra[k]->name);
        extra[k]->name = strdup(g->input[k]->name); /* the .pb's name may differ */
    }
    /* Inputs 1.. become initializers (still listed as inputs, which the loader allows). */
    inits = malloc(sizeof *inits * (saved_ninit + nin));
    if (!inits) { snprintf(why, wlen, "out of memory"); goto done; }
    if (saved_ninit) memcpy(inits, saved_init, sizeof *inits * saved_ninit);
    for (size_t k = 1; k < nin; k++) inits[saved_ninit + k - 1] = extra[k];
    g->initializer = inits;
    g->n_initializer = saved_ninit + nin - 1;
    size_t plen = onnx__model_proto__get_packed_size(mp);
    packed = malloc(plen ? plen : 1);
    if (packed) onnx__model_proto__pack(mp, packed);
    g->initializer = saved_init;
    g->n_initializer = saved_ninit;
    if (!packed) { snprintf(why, wlen, "out of memory"); goto done; }
    if (vl_onnx_load_memory(packed, plen, "model.onnx", &m)) { snprintf(why, wlen, "load: %s", vl_errmsg()); goto done; }
    int64_t xn, wn, shape[8];
    if (!(x = tensor_floats(in0, &xn)) || !(w = tensor_floats(want, &wn))) {
        snprintf(why, wlen, "input 0 or output 0 is not float32");
        goto done;
    }
    if (in0->n_dims > 8) { snprintf(why, wlen, "rank > 8"); goto done; }
    for (size_t d = 0; d < in0->n_dims; d++) shape[d] = in0->dims[d];
    const float *y;
    int nd;
    int64_t ys[VL_ONNX_MAXDIM];
    if (vl_onnx_run(m, x, (int)in0->n_dims, shape, NULL, &y, &nd, ys)) { snprintf(why, wlen, "run: %s", vl_errmsg()); goto done; }
    int64_t yn = 1;
    for (int d = 0; d < nd; d++) yn *= ys[d];
    if (yn != wn || nd != (int)want->n_dims) { snprintf(why, wlen, "output shape differs"); goto done; }
    for (int d = 0; d < nd; d++)
        if (ys[d] != want->dims[d]) { snprintf(why, wlen, "output shape differs"); goto done; }
    for (int64_t i = 0; i < wn; i++)
        if (!(fabsf(y[i] - w[i]) <= 1e-5f + 1e-3f * fabsf(w[i])) && !(isnan(y[i]) && isnan(w[i]))) {
            snprintf(why, wlen, "value %lld: %g, want %g", (long long)i, (double)y[i], (double)w[i]);
            goto done;
        }
    ok = 1;
done:
    vl_onnx_free(m);
    free(x);
    free(w);
    free(packed);
    free(inits);
    for (size_t k = 1; k < nin; k++)
        if (extra[k]) onnx__tensor_proto__free_unpacked(extra[k], NULL);
    free(extra);
    if (in0) onnx__tensor_proto__free_unpacked(in0, NULL);
    if (want) onnx__tensor_proto__free_unpacked(want, NULL);
    onnx__model_proto__free_unpacked(mp, NULL);
    return ok;
}

static int cmps(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : "/usr/share/libonnx-testdata/data/node";
    const char *list = argc > 2 ? argv[2] : "tests/onnx_conformance_pass.txt";
    int write = argc > 3 && !strcmp(argv[3], "--write");
    DIR *d = opendir(base);
    if (!d) {
        printf("SKIP: %s not found (apt-get install libonnx-testdata)\n", base);
        return 0;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "test_", 5)) {
            names = realloc(names, sizeof *names * (n + 1));
            names[n++] = strdup(e->d_name);
        }
    closedir(d);
    qsort(names, n, sizeof *names, cmps);
    /* the expected-pass list: one case name per line, '#' comments */
    char **expect = NULL, line[512];
    size_t ne = 0;
    FILE *f = write ? NULL : fopen(list, "r");
    CHECK(write || f, "cannot read %s", list);
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n# ")] = 0;
        if (!line[0]) continue;
        expect = realloc(expect, sizeof *expect * (ne + 1));
        expect[ne++] = strdup(line);
    }
    if (f) fclose(f);
    if (ne) qsort(expect, ne, sizeof *expect, cmps);
    FILE *out = write ? fopen(list, "w") : NULL;
    if (out) fprintf(out, "# ONNX backend node tests (libonnx-testdata) that test_onnx_conformance expects to pass.\n"
                          "# Regenerate: build/tests/test_onnx_conformance DIR tests/onnx_conformance_pass.txt --write\n");
    int passed = 0, skipped = 0, newpass = 0;
    for (size_t i = 0; i < n; i++) {
        char dir[2048], why[512] = "";
        snprintf(dir, sizeof dir, "%s/%s", base, names[i]);
        int listed = bsearch(&names[i], expect, ne, sizeof *expect, cmps) != NULL;
        int ok = run_case(dir, why, sizeof why);
        if (ok) {
            passed++;
            if (out) fprintf(out, "%s\n", names[i]);
            if (!listed && !write) { newpass++; printf("NEW PASS %s (add it to %s)\n", names[i], list); }
        } else {
            skipped++;
            if (!write) {
                CHECK(!listed, "%s regressed: %s", names[i], why);
                if (!listed) printf("skip %s: %s\n", names[i], why);
            }
        }
    }
    for (size_t k = 0; k < ne; k++) {
        char *key = expect[k];
        CHECK(bsearch(&key, names, n, sizeof *names, cmps), "%s is listed but not in %s", key, base);
    }
    printf("ONNX node tests in %s: %zu cases, %d pass (%zu expected, %d new), %d not run or failing (tolerance "
           "|d| <= 1e-5 + 1e-3 |want|)\n", base, n, passed, ne, newpass, skipped);
    if (out) fclose(out);
    for (size_t i = 0; i < n; i++) free(names[i]);
    for (size_t k = 0; k < ne; k++) free(expect[k]);
    free(names);
    free(expect);
    return check_summary();
}
