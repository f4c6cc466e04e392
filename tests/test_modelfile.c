/* Model files: JSON and safetensors building blocks, save/load round trips,
 * PyTorch-written fixtures, and malformed files.
 *
 * usage: test_modelfile FIXTURE_DIR [OUT_DIR]
 *   FIXTURE_DIR  tests/fixtures/model (made by gen_model_fixtures.py)
 *   OUT_DIR      where the round-trip models, inputs and our logits are left
 *                for tests/torch_load_model.py (the PyTorch direction) */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/json.h"
#include "core/npy.h"
#include "core/safetensors.h"
#include "model/modelfile.h"
#include "nn/layers.h"

static char tmpdir[256];

static const char *tpath(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static uint64_t rs = 12345;
static float frand(void)
{
    rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(rs >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (n)
        fwrite(p, 1, n, f);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n + 1);
    if (fread(b, 1, *n, f) != *n)
        *n = 0;
    fclose(f);
    return b;
}

/* A safetensors file from a header string and raw data (header padded to 8). */
static void craft(const char *path, const char *header, const void *data, size_t dlen)
{
    size_t hl = strlen(header), pad = (8 - hl % 8) % 8;
    size_t n = 8 + hl + pad + dlen;
    unsigned char *b = malloc(n);
    uint64_t L = hl + pad;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(L >> (8 * i));
    memcpy(b + 8, header, hl);
    memset(b + 8 + hl, ' ', pad);
    if (dlen)
        memcpy(b + 8 + hl + pad, data, dlen);
    write_bytes(path, b, n);
    free(b);
}

static int count_tmp_leftovers(void)
{
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp."))
            n++;
    closedir(d);
    return n;
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlink(tpath(e->d_name));
    closedir(d);
    rmdir(tmpdir);
}

/* ---- JSON --------------------------------------------------------------------- */

static vl_status parse(const char *s, vl_json **j) { return vl_json_parse(s, strlen(s), "t.json", j); }

static void test_json(void)
{
    vl_json *j;
    CHECK(parse("{\"a\": [1, -2.5e3, true, false, null, \"x\\\"\\\\\\/\\b\\f\\n\\r\\t\"], \"b\": {}}", &j) == VL_OK,
          "%s", vl_errmsg());
    const vl_json *a = vl_json_get(j, "a");
    double d;
    int b;
    CHECK(vl_json_count(a) == 6, "count %zu", vl_json_count(a));
    CHECK(vl_json_number(vl_json_at(a, 1), &d) && d == -2500.0, "number");
    CHECK(vl_json_bool(vl_json_at(a, 2), &b) && b == 1, "true");
    CHECK(vl_json_at(a, 4)->type == VL_JSON_NULL, "null");
    CHECK(!strcmp(vl_json_str(vl_json_at(a, 5)), "x\"\\/\b\f\n\r\t"), "escapes");
    CHECK(vl_json_at(a, 6) == NULL && vl_json_get(j, "zz") == NULL && vl_json_get(a, "a") == NULL, "lookups");
    CHECK(vl_json_count(vl_json_get(j, "b")) == 0 && vl_json_get(j, "b")->type == VL_JSON_OBJECT, "empty object");
    vl_json_free(j);

    /* \u escapes: BMP, surrogate pair, \u0000 inside a string */
    CHECK(parse("\"\\u00e9\\u2603\\ud83d\\ude00a\\u0000b\"", &j) == VL_OK, "%s", vl_errmsg());
    CHECK(j && j->len == 12 && !memcmp(j->str, "\xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80" "a\0b", 12), "utf-8 %zu",
          j ? j->len : 0);
    vl_json_free(j);
    int64_t iv;
    CHECK(parse(" 9007199254740992 ", &j) == VL_OK && vl_json_int(j, 0, INT64_MAX, &iv) && iv == 9007199254740992LL,
          "big int");
    vl_json_free(j);

    static const struct {
        const char *text;
        const char *want; /* substring of the message */
    } bad[] = {
        {"", "byte 0"},
        {"{\"a\":1,}", "byte 7"},
        {"[1 2]", "byte 3"},
        {"01", "leading zero"},
        {"1.", "decimal point"},
        {"+1", "byte 0"},
        {"NaN", "byte 0"},
        {"\"abc", "unterminated"},
        {"\"a\tb\"", "control character"},
        {"\"\\x\"", "invalid escape"},
        {"\"\\ud800\"", "surrogate"},
        {"\"\\udc00\"", "surrogate"},
        {"\"\xc3\x28\"", "UTF-8"},
        {"\"\xc0\xaf\"", "UTF-8"},
        {"{\"a\":1,\"a\":2}", "duplicate key \"a\""},
        {"{\"a\" 1}", "':'"},
        {"{1:2}", "string key"},
        {"[1] x", "after the JSON value"},
        {"tru", "true"},
        {"1e999", "out of range"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vl_status st = parse(bad[i].text, &j);
        CHECK(st == VL_ERR_FORMAT && j == NULL, "'%s' accepted", bad[i].text);
        CHECK(strstr(vl_errmsg(), "t.json: invalid JSON at byte") && strstr(vl_errmsg(), bad[i].want),
              "'%s': message '%s' lacks '%s'", bad[i].text, vl_errmsg(), bad[i].want);
    }
    /* depth limit */
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    CHECK(vl_json_parse(deep, 200, "deep", &j) == VL_ERR_FORMAT && strstr(vl_errmsg(), "deeper"), "depth: %s",
          vl_errmsg());
    CHECK(vl_json_parse(deep + 100 - 64, 128, "deep", &j) == VL_OK, "64 levels: %s", vl_errmsg());
    vl_json_free(j);
    /* not NUL-terminated: only len bytes are read */
    CHECK(vl_json_parse("[1]xyz", 3, "n", &j) == VL_OK, "length-bounded");
    vl_json_free(j);

    /* writer: escaping and shortest numbers read back exactly */
    vl_jbuf w = {0};
    vl_jbuf_puts(&w, "[");
    vl_jbuf_string(&w, "q\"\\\n\x01\xc3\xa9");
    vl_jbuf_puts(&w, ",");
    vl_jbuf_float(&w, 0.485f);
    vl_jbuf_puts(&w, ",");
    vl_jbuf_float(&w, 1.0f / 255.0f);
    vl_jbuf_puts(&w, ",");
    vl_jbuf_number(&w, 0.1);
    vl_jbuf_puts(&w, ",");
    vl_jbuf_number(&w, NAN);
    vl_jbuf_puts(&w, "]");
    CHECK(!w.failed && !strcmp(w.data, "[\"q\\\"\\\\\\n\\u0001\xc3\xa9\",0.485,0.003921569,0.1,null]"), "writer: %s",
          w.data);
    CHECK(parse(w.data, &j) == VL_OK, "%s", vl_errmsg());
    CHECK(j && !strcmp(vl_json_str(vl_json_at(j, 0)), "q\"\\\n\x01\xc3\xa9"), "string round trip");
    CHECK(j && vl_json_number(vl_json_at(j, 2), &d) && (float)d == 1.0f / 255.0f, "float round trip");
    vl_json_free(j);
    vl_jbuf_free(&w);
}

/* ---- safetensors ---------------------------------------------------------------- */

static void test_safetensors(void)
{
    const char *p = tpath("st.safetensors");
    float a[6] = {1, 2, 3, 4, 5, 6};
    double b[2] = {0.5, -1.25};
    int32_t c[3] = {7, -8, 9};
    uint16_t h[3] = {0x3C00, 0xC000, 0x7BFF};  /* F16: 1, -2, 65504 */
    uint16_t bf[2] = {0x3F80, 0x4049};           /* BF16: 1, 3.140625 */
    vl_st_entry e[] = {
        {.name = "a", .dtype = VL_ST_F32, .ndim = 2, .shape = {2, 3}, .data = a},
        {.name = "b", .dtype = VL_ST_F64, .ndim = 1, .shape = {2}, .data = b},
        {.name = "c", .dtype = VL_ST_I32, .ndim = 1, .shape = {3}, .data = c},
        {.name = "h", .dtype = VL_ST_F16, .ndim = 1, .shape = {3}, .data = h},
        {.name = "bf", .dtype = VL_ST_BF16, .ndim = 1, .shape = {2}, .data = bf},
        {.name = "empty", .dtype = VL_ST_F32, .ndim = 2, .shape = {0, 4}, .data = NULL},
        {.name = "scalar", .dtype = VL_ST_F32, .ndim = 0, .data = a},
    };
    const char *mk[] = {"k", "quote\"d"}, *mv[] = {"v", "line\nbreak"};
    CHECK(vl_st_write(p, e, 7, mk, mv, 2) == VL_OK, "%s", vl_errmsg());
    size_t n;
    unsigned char *raw = read_bytes(p, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | raw[i];
    CHECK(hl % 8 == 0 && raw[8] == '{', "header padded to 8 (%llu)", (unsigned long long)hl);
    free(raw);
    vl_st_file f;
    CHECK(vl_st_read(p, &f) == VL_OK, "%s", vl_errmsg());
    CHECK(f.ntensors == 7 && f.nmeta == 2, "counts %d %d", f.ntensors, f.nmeta);
    CHECK(vl_st_meta(&f, "quote\"d") && !strcmp(vl_st_meta(&f, "quote\"d"), "line\nbreak"), "metadata");
    float out[8];
    const vl_st_tensor *t = vl_st_find(&f, "a");
    CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && vl_st_to_f32(&f, t, out) == VL_OK &&
              !memcmp(out, a, sizeof a),
          "F32");
    t = vl_st_find(&f, "b");
    CHECK(t && vl_st_to_f32(&f, t, out) == VL_OK && out[0] == 0.5f && out[1] == -1.25f, "F64");
    t = vl_st_find(&f, "h");
    CHECK(t && vl_st_to_f32(&f, t, out) == VL_OK && out[0] == 1.0f && out[1] == -2.0f && out[2] == 65504.0f, "F16");
    t = vl_st_find(&f, "bf");
    CHECK(t && vl_st_to_f32(&f, t, out) == VL_OK && out[0] == 1.0f && out[1] == 3.140625f, "BF16");
    t = vl_st_find(&f, "c");
    CHECK(t && t->dtype == VL_ST_I32 && vl_st_to_f32(&f, t, out) == VL_ERR_FORMAT && strstr(vl_errmsg(), p) &&
              strstr(vl_errmsg(), "'c'"),
          "I32 to f32: %s", vl_errmsg());
    t = vl_st_find(&f, "empty");
    CHECK(t && t->count == 0 && t->nbytes == 0, "empty tensor");
    t = vl_st_find(&f, "scalar");
    CHECK(t && t->ndim == 0 && t->count == 1, "scalar");
    vl_st_free(&f);
    CHECK(count_tmp_leftovers() == 0, "temporary files left behind");

    /* writing refuses bad input and leaves nothing behind */
    vl_st_entry dup[2] = {e[0], e[0]};
    CHECK(vl_st_write(tpath("dup.safetensors"), dup, 2, NULL, NULL, 0) == VL_ERR_ARG, "duplicate names");
    CHECK(vl_st_write("/nonexistent-dir/x.safetensors", e, 1, NULL, NULL, 0) == VL_ERR_IO &&
              strstr(vl_errmsg(), "/nonexistent-dir/x.safetensors"),
          "unwritable: %s", vl_errmsg());
    CHECK(access(tpath("dup.safetensors"), F_OK) != 0 && count_tmp_leftovers() == 0, "nothing written");

    /* an 8-byte empty-header file is valid; a bare 2-byte header too */
    craft(tpath("min.safetensors"), "{}", NULL, 0);
    CHECK(vl_st_read(tpath("min.safetensors"), &f) == VL_OK && f.ntensors == 0, "{}: %s", vl_errmsg());
    vl_st_free(&f);

    /* malformed containers (the model-level ones are in test_bad_files) */
    static const struct {
        const char *header;
        size_t dlen;
        const char *want;
    } bad[] = {
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlaps"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "after the last tensor"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "end before"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "past the end"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[0]"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "shape[0]"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
         "overflow"},
        {"{\"x\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'F33'"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", 8, "unknown header field"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e19]}}", 8, "data_offsets"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,9223372036854775807]}}", 8, "data_offsets"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets"},
        {"{\"x\":[1,2]}", 0, "not an object"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "strings"},
        {"{\"__metadata__\":[]}", 0, "not an object"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"x\":{}}", 8, "duplicate key"},
    };
    float zeros[4] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *bp = tpath("bad_st.safetensors");
        craft(bp, bad[i].header, zeros, bad[i].dlen);
        vl_status st = vl_st_read(bp, &f);
        CHECK(st == VL_ERR_FORMAT && strstr(vl_errmsg(), bp) && strstr(vl_errmsg(), bad[i].want),
              "case %zu: status %d, '%s' (want '%s')", i, st, vl_errmsg(), bad[i].want);
        CHECK(f.ntensors == 0 && f.buf == NULL, "freed on error");
    }
    /* from memory */
    CHECK(vl_st_read_memory("\x02\0\0\0\0\0\0\0{}", 10, "mem", &f) == VL_OK, "%s", vl_errmsg());
    vl_st_free(&f);
    CHECK(vl_st_read_memory("\x02\0\0\0\0\0\0\0{", 9, "mem", &f) == VL_ERR_FORMAT && strstr(vl_errmsg(), "mem:"),
          "%s", vl_errmsg());
}

/* ---- architectures -------------------------------------------------------------- */

static int same_config(const vl_net_config *a, const vl_net_config *b)
{
    if (a->input != b->input || a->outputs != b->outputs || a->mode != b->mode || a->task != b->task ||
        a->nlayers != b->nlayers)
        return 0;
    for (int l = 0; l < a->nlayers; l++) {
        const vl_layer_spec *x = &a->layer[l], *y = &b->layer[l];
        if (x->kind != y->kind)
            return 0;
        if ((x->kind == VL_LAYER_LSTM || x->kind == VL_LAYER_GRU) &&
            (x->hidden != y->hidden || !x->bidirectional != !y->bidirectional))
            return 0;
        if (x->kind == VL_LAYER_DROPOUT && x->p != y->p)
            return 0;
    }
    return 1;
}

static void test_arch_json(void)
{
    vl_net_config c = {.input = 240, .outputs = 5, .mode = VL_OUT_SEQUENCE, .task = VL_TASK_REGRESS};
    vl_net_add_layer(&c, VL_LAYER_LSTM, 128, 1);
    vl_net_add_dropout(&c, 0.1f);
    vl_net_add_layer(&c, VL_LAYER_GRU, 7, 0);
    char *js;
    vl_net_config back;
    CHECK(vl_arch_to_json(&c, &js) == VL_OK, "%s", vl_errmsg());
    CHECK(!strcmp(js, "{\"input\":240,\"outputs\":5,\"mode\":\"sequence\",\"task\":\"regress\",\"layers\":["
                      "{\"type\":\"lstm\",\"hidden\":128,\"bidirectional\":true},{\"type\":\"dropout\",\"p\":0.1},"
                      "{\"type\":\"gru\",\"hidden\":7,\"bidirectional\":false}]}"),
          "arch json: %s", js);
    CHECK(vl_arch_from_json(js, "a", &back) == VL_OK && same_config(&c, &back), "round trip: %s", vl_errmsg());
    free(js);

    /* the bag-of-frames baseline: JSON only (vl_net_create may not build it yet) */
    vl_net_config m = {.input = 16, .outputs = 3, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    m.layer[m.nlayers++] = (vl_layer_spec){.kind = VL_LAYER_MEAN};
    CHECK(vl_arch_to_json(&m, &js) == VL_OK && strstr(js, "{\"type\":\"mean\"}"), "mean: %s", js);
    CHECK(vl_arch_from_json(js, "a", &back) == VL_OK && same_config(&m, &back) && back.layer[0].kind == VL_LAYER_MEAN,
          "mean round trip: %s", vl_errmsg());
    free(js);

    /* defaults and strictness */
    CHECK(vl_arch_from_json("{\"input\":4,\"outputs\":2,\"mode\":\"last\",\"task\":\"classify\","
                            "\"layers\":[{\"type\":\"lstm\",\"hidden\":3}]}",
                            "a", &back) == VL_OK &&
              back.layer[0].bidirectional == 0,
          "bidirectional defaults to false: %s", vl_errmsg());
    static const struct {
        const char *js, *want;
    } bad[] = {
        {"{\"input\":4,\"outputs\":2,\"mode\":\"last\",\"task\":\"classify\",\"layers\":[{\"type\":\"rnn\"}]}",
         "unknown type \"rnn\""},
        {"{\"input\":4,\"outputs\":2,\"mode\":\"last\",\"task\":\"classify\",\"layers\":[{\"type\":\"lstm\",\"hiden\":3}]}",
         "unknown key \"hiden\""},
        {"{\"input\":4,\"outputs\":2,\"mode\":\"all\",\"task\":\"classify\",\"layers\":[]}", "\"mode\" must be"},
        {"{\"input\":0,\"outputs\":2,\"mode\":\"last\",\"task\":\"classify\",\"layers\":[]}", "\"input\" must be"},
        {"{\"input\":4,\"outputs\":2,\"mode\":\"last\",\"task\":\"classify\",\"layers\":[]}", "1..16 layers"},
        {"{\"input\":4,\"outputs\":2,\"mode\":\"last\",\"task\":\"classify\",\"layers\":[{\"type\":\"dropout\",\"p\":1}]}",
         "[0, 1)"},
        {"{\"input\":4,\"mode\":\"last\",\"task\":\"classify\",\"layers\":[]}", "\"outputs\" is missing"},
        {"[]", "not an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vl_status st = vl_arch_from_json(bad[i].js, "arch", &back);
        CHECK(st == VL_ERR_FORMAT && strstr(vl_errmsg(), "arch") && strstr(vl_errmsg(), bad[i].want),
              "case %zu: %d '%s' (want '%s')", i, st, vl_errmsg(), bad[i].want);
    }
}

/* ---- round trips ---------------------------------------------------------------------- */

typedef struct {
    int B, T;
    float *x;
    int32_t *len;
} batch_data;

static batch_data make_batch(int B, int T, int D)
{
    batch_data b = {B, T, calloc((size_t)B * T * D, sizeof(float)), calloc((size_t)B, sizeof(int32_t))};
    for (int i = 0; i < B; i++) {
        b.len[i] = 1 + (int)((frand() + 1.0f) * 0.5f * (float)(T - 1) + 0.5f);
        if (b.len[i] > T) b.len[i] = T;
        for (int t = 0; t < b.len[i]; t++)
            for (int d = 0; d < D; d++)
                b.x[((size_t)i * T + t) * D + d] = frand();
    }
    b.len[0] = T;
    return b;
}

static float *run_forward(vl_net *net, const batch_data *b)
{
    vl_batch vb = {.batch = b->B, .tmax = b->T, .dim = vl_net_get_config(net)->input, .x = b->x, .lengths = b->len};
    float *out = calloc(vl_net_output_size(net, &vb), sizeof(float));
    vl_status st = vl_net_forward(net, &vb, out);
    CHECK(st == VL_OK, "forward: %s", vl_errmsg());
    return out;
}

static void save_npy_case(const char *outdir, const char *name, vl_net *net, const batch_data *b, const float *out)
{
    if (!outdir)
        return;
    char p[1024];
    const vl_net_config *c = vl_net_get_config(net);
    int64_t xs[3] = {b->B, b->T, c->input}, ls[1] = {b->B}, ys[3] = {b->B, b->T, c->outputs};
    int64_t ys2[2] = {b->B, c->outputs};
    snprintf(p, sizeof p, "%s/%s.x.npy", outdir, name);
    CHECK(vl_npy_write(p, VL_NPY_F32, 3, xs, b->x) == VL_OK, "%s", vl_errmsg());
    snprintf(p, sizeof p, "%s/%s.lengths.npy", outdir, name);
    CHECK(vl_npy_write(p, VL_NPY_I32, 1, ls, b->len) == VL_OK, "%s", vl_errmsg());
    snprintf(p, sizeof p, "%s/%s.logits.npy", outdir, name);
    CHECK(vl_npy_write(p, VL_NPY_F32, c->mode == VL_OUT_LAST ? 2 : 3, c->mode == VL_OUT_LAST ? ys2 : ys, out) == VL_OK,
          "%s", vl_errmsg());
}

static int same_meta(const vl_model_meta *a, const vl_model_meta *b)
{
    if (a->nclasses != b->nclasses || a->dim != b->dim || strcmp(a->backbone, b->backbone) || strcmp(a->tap, b->tap) ||
        a->feature_dim != b->feature_dim || memcmp(&a->pre, &b->pre, sizeof a->pre) || a->fps != b->fps ||
        a->every_k != b->every_k)
        return 0;
    for (int i = 0; i < a->nclasses; i++)
        if (strcmp(a->class_names[i], b->class_names[i]))
            return 0;
    if (!a->norm_mean != !b->norm_mean || !a->training_json != !b->training_json)
        return 0;
    if (a->norm_mean && (memcmp(a->norm_mean, b->norm_mean, sizeof(float) * (size_t)a->dim) ||
                         memcmp(a->norm_std, b->norm_std, sizeof(float) * (size_t)a->dim)))
        return 0;
    if (a->training_json && strcmp(a->training_json, b->training_json))
        return 0;
    return 1;
}

static void round_trip(const char *name, const vl_net_config *cfg, const vl_model_meta *meta, const char *outdir)
{
    vl_net *net, *back = NULL;
    vl_model_meta got;
    CHECK(vl_net_create(cfg, 7, &net) == VL_OK, "%s: %s", name, vl_errmsg());
    if (!net)
        return;
    char path[1024];
    if (outdir)
        snprintf(path, sizeof path, "%s/%s.safetensors", outdir, name);
    else
        snprintf(path, sizeof path, "%s", tpath(name));
    CHECK(vl_model_save(path, net, meta) == VL_OK, "%s: save: %s", name, vl_errmsg());
    CHECK(vl_model_load(path, &back, &got) == VL_OK, "%s: load: %s", name, vl_errmsg());
    if (!back) {
        vl_net_free(net);
        return;
    }
    CHECK(same_config(cfg, vl_net_get_config(back)), "%s: config differs", name);
    CHECK(vl_net_num_params(back) == vl_net_num_params(net), "%s: parameter count", name);
    for (int i = 0; i < vl_net_num_params(net); i++) {
        vl_param p, q;
        vl_net_param(net, i, &p);
        vl_net_param(back, i, &q);
        CHECK(!strcmp(p.name, q.name) && p.count == q.count && !memcmp(p.data, q.data, sizeof(float) * p.count),
              "%s: parameter %s differs", name, p.name);
    }
    batch_data b = make_batch(5, 9, cfg->input);
    float *y0 = run_forward(net, &b), *y1 = run_forward(back, &b);
    vl_batch vb = {.batch = b.B, .tmax = b.T, .dim = cfg->input};
    CHECK(!memcmp(y0, y1, sizeof(float) * vl_net_output_size(net, &vb)), "%s: outputs differ after save+load", name);
    save_npy_case(outdir, name, net, &b, y0);
    vl_model_meta empty = {0};
    CHECK(same_meta(meta ? meta : &empty, &got), "%s: metadata differs", name);
    free(y0);
    free(y1);
    free(b.x);
    free(b.len);
    vl_model_meta_free(&got);
    CHECK(got.class_names == NULL && got.norm_mean == NULL && got.nclasses == 0, "meta_free zeroes");
    vl_net_free(back);
    vl_net_free(net);
}

static void test_round_trips(const char *outdir)
{
    char *names[3] = {"walking", "running \"fast\"", "caf\xc3\xa9 \xe2\x98\x83 \\ / \t"};
    float mean[6], sd[6];
    for (int i = 0; i < 6; i++)
        mean[i] = frand(), sd[i] = 0.5f + frand() * frand();
    vl_model_meta full = {.nclasses = 3, .class_names = names, .dim = 6, .norm_mean = mean, .norm_std = sd,
                          .feature_dim = 6, .fps = 7.5, .training_json = "{\"epochs\":3,\"optimizer\":\"adam\"}"};
    snprintf(full.backbone, sizeof full.backbone, "onnx:models/resnet18.onnx");
    snprintf(full.tap, sizeof full.tap, "/avgpool/GlobalAveragePool_output_0");
    vl_preproc_imagenet(&full.pre);

    vl_net_config a = {.input = 6, .outputs = 3, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&a, VL_LAYER_LSTM, 5, 0);
    round_trip("c_lstm_last_cls", &a, &full, outdir);

    vl_net_config bc = {.input = 5, .outputs = 4, .mode = VL_OUT_SEQUENCE, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&bc, VL_LAYER_LSTM, 6, 1);
    vl_net_add_layer(&bc, VL_LAYER_LSTM, 4, 1);
    round_trip("c_bilstm2_seq_cls", &bc, NULL, outdir);

    vl_net_config bl = {.input = 5, .outputs = 3, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&bl, VL_LAYER_LSTM, 6, 1);
    vl_net_add_layer(&bl, VL_LAYER_LSTM, 4, 1);
    vl_model_meta every = {.backbone = "builtin:motion-grid", .feature_dim = 240, .every_k = 3};
    every.pre = (vl_preproc){.width = 64, .height = 48, .resize = VL_RESIZE_EXACT, .bgr = 1, .scale = 1.0f,
                             .mean = {1.5f, 2.25f, 0.1f}, .std = {3.0f, 1e-3f, 7.0f}, .nhwc = 1};
    round_trip("c_bilstm2_last_cls", &bl, &every, outdir);

    vl_net_config g = {.input = 4, .outputs = 2, .mode = VL_OUT_LAST, .task = VL_TASK_REGRESS};
    vl_net_add_layer(&g, VL_LAYER_GRU, 5, 0);
    round_trip("c_gru_last_reg", &g, NULL, outdir);

    vl_net_config d = {.input = 7, .outputs = 3, .mode = VL_OUT_SEQUENCE, .task = VL_TASK_REGRESS};
    vl_net_add_layer(&d, VL_LAYER_LSTM, 8, 0);
    vl_net_add_dropout(&d, 0.25f);
    vl_net_add_layer(&d, VL_LAYER_GRU, 3, 1);
    vl_net_add_dropout(&d, 0.5f);
    round_trip("c_lstm_drop_bigru_seq_reg", &d, NULL, outdir);

    vl_net_config mix = {.input = 6, .outputs = 3, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&mix, VL_LAYER_GRU, 4, 1);
    vl_net_add_layer(&mix, VL_LAYER_LSTM, 5, 0);
    round_trip("c_bigru_lstm_last_cls", &mix, NULL, outdir);

    /* class names for a regression net, or the wrong count, are refused */
    vl_net *net;
    vl_net_create(&g, 1, &net);
    vl_model_meta wrong = {.nclasses = 3, .class_names = names};
    CHECK(vl_model_save(tpath("wrong.safetensors"), net, &wrong) == VL_ERR_ARG, "class names on a regression net");
    vl_net_free(net);

    /* class names that are not UTF-8 or hold control characters (DEL too):
     * whatever the library is given, the file it writes must read back
     * (malformed bytes become U+FFFD, control characters are escaped) */
    vl_net_create(&a, 3, &net);
    char *odd[3] = {"a\xff" "b", "c\x01\x7f" "d", "e\xc3"};
    vl_model_meta om = {.nclasses = 3, .class_names = odd}, og = {0};
    const char *op = tpath("odd_names.safetensors");
    CHECK(vl_model_save(op, net, &om) == VL_OK, "save odd class names: %s", vl_errmsg());
    vl_net *ob = NULL;
    vl_status ost = vl_model_load(op, &ob, &og);
    CHECK(ost == VL_OK, "a model saved with malformed class names reads back: %s", vl_errmsg());
    if (ost == VL_OK) {
        CHECK(og.nclasses == 3 && !strcmp(og.class_names[0], "a\xef\xbf\xbd" "b") &&
                  !strcmp(og.class_names[1], "c\x01\x7f" "d") && !strcmp(og.class_names[2], "e\xef\xbf\xbd"),
              "odd names: U+FFFD for malformed bytes, control characters kept");
        vl_model_meta_free(&og);
        vl_net_free(ob);
    }
    vl_net_free(net);

    /* checkpoints: extra tensors and metadata */
    vl_net_create(&a, 3, &net);
    float mom[4] = {1, 2, 3, 4};
    vl_st_entry ex = {.name = "optim.m0", .dtype = VL_ST_F32, .ndim = 1, .shape = {4}, .data = mom};
    const char *ek[] = {"step"}, *ev[] = {"42"};
    const char *cp = tpath("ckpt.safetensors");
    CHECK(vl_model_save_ex(cp, net, NULL, &ex, 1, ek, ev, 1) == VL_OK, "%s", vl_errmsg());
    vl_net *back;
    CHECK(vl_model_load(cp, &back, NULL) == VL_ERR_FORMAT && strstr(vl_errmsg(), "unexpected tensor 'optim.m0'"),
          "extra tensor rejected by plain load: %s", vl_errmsg());
    vl_st_file st;
    CHECK(vl_model_load_ex(cp, "optim.", &back, NULL, &st) == VL_OK, "%s", vl_errmsg());
    CHECK(vl_st_find(&st, "optim.m0") && !strcmp(vl_st_meta(&st, "step"), "42"), "checkpoint extras");
    vl_st_free(&st);
    vl_net_free(back);
    const char *rk[] = {"architecture"};
    CHECK(vl_model_save_ex(cp, net, NULL, NULL, 0, rk, ev, 1) == VL_ERR_ARG, "reserved key");
    vl_net_free(net);
}

/* ---- PyTorch-written fixtures ------------------------------------------------------ */

static void test_pytorch_fixtures(const char *dir)
{
    static const char *cases[] = {"lstm_last_cls", "bilstm2_last_cls", "gru_seq_reg", "mixed_last_cls",
                                  "bigru_seq_cls_f16"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char p[1024];
        vl_net *net;
        vl_model_meta m;
        vl_npy x, len, ref;
        snprintf(p, sizeof p, "%s/%s.safetensors", dir, cases[c]);
        vl_status st = vl_model_load(p, &net, &m);
        CHECK(st == VL_OK, "%s: %s", cases[c], vl_errmsg());
        if (st)
            continue;
        snprintf(p, sizeof p, "%s/%s.x.npy", dir, cases[c]);
        CHECK(vl_npy_read(p, &x) == VL_OK, "%s", vl_errmsg());
        snprintf(p, sizeof p, "%s/%s.lengths.npy", dir, cases[c]);
        CHECK(vl_npy_read(p, &len) == VL_OK, "%s", vl_errmsg());
        snprintf(p, sizeof p, "%s/%s.logits.npy", dir, cases[c]);
        CHECK(vl_npy_read(p, &ref) == VL_OK, "%s", vl_errmsg());
        vl_batch b = {.batch = (int)x.shape[0], .tmax = (int)x.shape[1], .dim = (int)x.shape[2], .x = x.data,
                      .lengths = len.data};
        size_t n = vl_net_output_size(net, &b);
        float *out = calloc(n, sizeof(float));
        CHECK(n == (size_t)ref.count, "%s: output size %zu vs %lld", cases[c], n, (long long)ref.count);
        CHECK(vl_net_forward(net, &b, out) == VL_OK, "%s", vl_errmsg());
        double e = rel_err(out, ref.data, n);
        CHECK(e < 1e-5, "%s: logits differ from PyTorch's: rel err %.3g", cases[c], e);
        printf("pytorch fixture %-18s rel err %.2g\n", cases[c], e);
        if (!strcmp(cases[c], "lstm_last_cls")) {
            CHECK(m.nclasses == 3 && !strcmp(m.class_names[2], "jump \"high\" \xc3\xbc\xe2\x98\x83"), "classes");
            CHECK(!strcmp(m.backbone, "onnx:resnet18.onnx") && !strcmp(m.tap, "/avgpool/GlobalAveragePool_output_0") &&
                      m.feature_dim == 6 && m.fps == 10.0 && m.every_k == 0,
                  "backbone");
            vl_preproc ref_pre;
            vl_preproc_imagenet(&ref_pre);
            CHECK(!memcmp(&ref_pre, &m.pre, sizeof ref_pre), "preprocessing from Python equals vl_preproc_imagenet");
            CHECK(m.dim == 6 && m.norm_mean && m.norm_std && m.norm_std[0] >= 0.5f, "normalisation");
            CHECK(m.training_json && strstr(m.training_json, "pytorch"), "training record");
        }
        free(out);
        vl_npy_free(&x);
        vl_npy_free(&len);
        vl_npy_free(&ref);
        vl_model_meta_free(&m);
        vl_net_free(net);
    }
}

/* ---- malformed model files ----------------------------------------------------------- */

/* A model file from net's parameters with one change: skip a tensor, give it
 * another shape, poison it with NaN, change its dtype, or use another
 * architecture string. */
typedef struct {
    const char *skip, *reshape, *nan, *as_i32, *extra;
    const char *arch; /* NULL: the net's own */
    const char *format_version;
} variant;

static void write_variant(const char *path, vl_net *net, variant v)
{
    vl_st_entry e[VL_MAX_LAYERS * 8 + 4];
    float *copies[VL_MAX_LAYERS * 8 + 4] = {0};
    int n = 0;
    static float extra[3];
    for (int i = 0; i < vl_net_num_params(net); i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        if (v.skip && !strcmp(p.name, v.skip))
            continue;
        e[n] = (vl_st_entry){.name = p.name, .dtype = VL_ST_F32, .ndim = p.ndim, .shape = {p.shape[0], p.shape[1]},
                             .data = p.data};
        if (v.reshape && !strcmp(p.name, v.reshape)) {
            e[n].ndim = 2;
            e[n].shape[0] = p.ndim == 2 ? p.shape[1] : 1;
            e[n].shape[1] = p.ndim == 2 ? p.shape[0] : (int64_t)p.count;
        }
        if ((v.nan && !strcmp(p.name, v.nan)) || (v.as_i32 && !strcmp(p.name, v.as_i32))) {
            copies[n] = malloc(sizeof(float) * p.count);
            memcpy(copies[n], p.data, sizeof(float) * p.count);
            if (v.nan)
                copies[n][p.count / 2] = NAN;
            else
                e[n].dtype = VL_ST_I32;
            e[n].data = copies[n];
        }
        n++;
    }
    if (v.extra)
        e[n++] = (vl_st_entry){.name = v.extra, .dtype = VL_ST_F32, .ndim = 1, .shape = {3}, .data = extra};
    char *arch = NULL;
    vl_arch_to_json(vl_net_get_config(net), &arch);
    const char *k[3] = {"architecture", "format", "format_version"};
    const char *val[3] = {v.arch ? v.arch : arch, "vidlstm-model", v.format_version ? v.format_version : "1"};
    vl_status st = vl_st_write(path, e, n, k, val, 3);
    CHECK(st == VL_OK, "write_variant: %s", vl_errmsg());
    free(arch);
    for (int i = 0; i < n; i++)
        free(copies[i]);
}

static void expect_load_error(const char *what, const char *path, vl_status want, const char *msg)
{
    vl_net *net = (vl_net *)1;
    vl_model_meta m;
    memset(&m, 0x5a, sizeof m);
    vl_status st = vl_model_load(path, &net, &m);
    CHECK(st == want, "%s: status %s, want %s (%s)", what, vl_status_str(st), vl_status_str(want), vl_errmsg());
    CHECK(strstr(vl_errmsg(), path) != NULL, "%s: message does not name the file: %s", what, vl_errmsg());
    CHECK(!msg || strstr(vl_errmsg(), msg), "%s: message '%s' lacks '%s'", what, vl_errmsg(), msg);
    CHECK(net == NULL && m.class_names == NULL && m.norm_mean == NULL && m.training_json == NULL,
          "%s: outputs not cleared", what);
    CHECK(strchr(vl_errmsg(), '\n') == NULL, "%s: message is more than one line", what);
    if (st == want)
        printf("  %-30s %s\n", what, vl_errmsg());
}

static void test_bad_files(void)
{
    vl_net_config cfg = {.input = 5, .outputs = 3, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, 4, 1);
    vl_net_add_layer(&cfg, VL_LAYER_GRU, 3, 0);
    vl_net *net;
    vl_net_create(&cfg, 5, &net);
    const char *good = tpath("good.safetensors");
    char *names[3] = {"a", "b", "c"};
    vl_model_meta meta = {.nclasses = 3, .class_names = names};
    CHECK(vl_model_save(good, net, &meta) == VL_OK, "%s", vl_errmsg());
    size_t n;
    unsigned char *raw = read_bytes(good, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | raw[i];

    expect_load_error("missing file", tpath("nonexistent.safetensors"), VL_ERR_IO, "cannot open");
    const char *p = tpath("empty.safetensors");
    write_bytes(p, "", 0);
    expect_load_error("empty file", p, VL_ERR_FORMAT, "not a safetensors file");
    p = tpath("trunc_header.safetensors");
    write_bytes(p, raw, 8 + (size_t)hl / 2);
    expect_load_error("truncated in the header", p, VL_ERR_FORMAT, "truncated");
    p = tpath("trunc_data.safetensors");
    write_bytes(p, raw, n - 5);
    expect_load_error("truncated in the data", p, VL_ERR_FORMAT, "past the end");
    p = tpath("hlen.safetensors");
    unsigned char *big = malloc(n);
    memcpy(big, raw, n);
    big[3] = 1; /* header length += 16 MiB */
    write_bytes(p, big, n);
    expect_load_error("header length > file", p, VL_ERR_FORMAT, "header length");
    memcpy(big, raw, n);
    big[7] = 0x80;
    write_bytes(p, big, n);
    expect_load_error("header length huge", p, VL_ERR_FORMAT, "limit");
    p = tpath("garbage.safetensors");
    memcpy(big, raw, n);
    memcpy(big + 8 + 15, "@@@", 3);
    write_bytes(p, big, n);
    expect_load_error("garbage JSON", p, VL_ERR_FORMAT, "invalid JSON at byte 15");
    p = tpath("notjson.safetensors");
    static const char zip[] = "PK\x03\x04 this is a zip file, not a model";
    write_bytes(p, zip, sizeof zip - 1);
    expect_load_error("not safetensors", p, VL_ERR_FORMAT, NULL);
    /* random corruption: every mutant loads or fails cleanly with the file named
     * (the sanitizer build checks memory safety) */
    const char *mp = tpath("mutant.safetensors");
    int mutant_ok = 0, mutant_named = 1;
    for (int it = 0; it < 1500; it++) {
        memcpy(big, raw, n);
        size_t len = n;
        int kind = it % 3;
        if (kind == 0) /* a few random bytes anywhere */
            for (int k = 0; k < 1 + it % 4; k++)
                big[(size_t)((frand() + 1.0f) * 0.5f * (float)(n - 1))] = (unsigned char)(frand() * 128.0f + 128.0f);
        else if (kind == 1) /* a byte in the header */
            big[8 + (size_t)((frand() + 1.0f) * 0.5f * (float)(hl - 1))] = (unsigned char)(frand() * 128.0f + 128.0f);
        else /* truncation */
            len = (size_t)((frand() + 1.0f) * 0.5f * (float)(n - 1));
        write_bytes(mp, big, len);
        vl_net *mn;
        vl_model_meta mm;
        vl_status st = vl_model_load(mp, &mn, &mm);
        if (st == VL_OK) {
            mutant_ok++;
            vl_net_free(mn);
            vl_model_meta_free(&mm);
        } else if (!strstr(vl_errmsg(), mp)) {
            mutant_named = 0;
            fprintf(stderr, "mutant %d: %s\n", it, vl_errmsg());
        }
    }
    CHECK(mutant_named, "some corrupt files gave messages without the file name");
    printf("  corrupted files: %d of 1500 still load (changed weight bytes), the rest fail cleanly\n", mutant_ok);
    free(big);
    free(raw);
    float z[4] = {0};
    p = tpath("dtype.safetensors");
    craft(p, "{\"fc.bias\":{\"dtype\":\"Q8\",\"shape\":[4],\"data_offsets\":[0,16]}}", z, 16);
    expect_load_error("bad dtype", p, VL_ERR_FORMAT, "unknown dtype 'Q8'");
    p = tpath("overlap.safetensors");
    craft(p, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
          z, 12);
    expect_load_error("overlapping offsets", p, VL_ERR_FORMAT, "overlaps");

    p = tpath("missing.safetensors");
    write_variant(p, net, (variant){.skip = "weight_hh_l1"});
    expect_load_error("missing tensor", p, VL_ERR_FORMAT, "'weight_hh_l1' [9, 3] is missing");
    p = tpath("shape.safetensors");
    write_variant(p, net, (variant){.reshape = "weight_ih_l1"});
    expect_load_error("wrong shape", p, VL_ERR_SHAPE, "has shape [8, 9] but layer 2: gru, hidden 3, input 8 needs [9, 8]");
    p = tpath("nan.safetensors");
    write_variant(p, net, (variant){.nan = "bias_hh_l0_reverse"});
    expect_load_error("NaN weight", p, VL_ERR_NUMERIC, "'bias_hh_l0_reverse' element 8 is NaN");
    p = tpath("i32.safetensors");
    write_variant(p, net, (variant){.as_i32 = "fc.weight"});
    expect_load_error("integer weight", p, VL_ERR_FORMAT, "dtype I32");
    p = tpath("extra.safetensors");
    write_variant(p, net, (variant){.extra = "weight_ih_l2"});
    expect_load_error("unexpected tensor", p, VL_ERR_FORMAT, "unexpected tensor 'weight_ih_l2'");
    p = tpath("normfoo.safetensors");
    write_variant(p, net, (variant){.extra = "norm.mean"});
    expect_load_error("norm.mean without std", p, VL_ERR_FORMAT, "normalisation needs both");

    /* architecture metadata that does not match the tensors */
    p = tpath("arch_hidden.safetensors");
    write_variant(p, net, (variant){.arch = "{\"input\":5,\"outputs\":3,\"mode\":\"last\",\"task\":\"classify\",\"layers\":"
                                            "[{\"type\":\"lstm\",\"hidden\":8,\"bidirectional\":true},"
                                            "{\"type\":\"gru\",\"hidden\":3}]}"});
    expect_load_error("arch: other hidden size", p, VL_ERR_SHAPE, "does not match the tensors");
    p = tpath("arch_fewer.safetensors");
    write_variant(p, net, (variant){.arch = "{\"input\":5,\"outputs\":3,\"mode\":\"last\",\"task\":\"classify\",\"layers\":"
                                            "[{\"type\":\"lstm\",\"hidden\":4,\"bidirectional\":true}]}"});
    expect_load_error("arch: fewer layers", p, VL_ERR_SHAPE, "needs [3, 8]");
    p = tpath("arch_unidir.safetensors");
    write_variant(p, net, (variant){.arch = "{\"input\":5,\"outputs\":3,\"mode\":\"last\",\"task\":\"classify\",\"layers\":"
                                            "[{\"type\":\"lstm\",\"hidden\":4},{\"type\":\"gru\",\"hidden\":3}]}"});
    expect_load_error("arch: not bidirectional", p, VL_ERR_SHAPE, "'weight_ih_l1'");
    p = tpath("arch_kind.safetensors");
    write_variant(p, net, (variant){.arch = "{\"input\":5,\"outputs\":3,\"mode\":\"last\",\"task\":\"classify\",\"layers\":"
                                            "[{\"type\":\"lstm\",\"hidden\":4,\"bidirectional\":true},"
                                            "{\"type\":\"lstm\",\"hidden\":3}]}"});
    expect_load_error("arch: gru saved as lstm", p, VL_ERR_SHAPE, "needs [12, 8]");
    p = tpath("arch_bad.safetensors");
    write_variant(p, net, (variant){.arch = "{\"input\":5,\"outputs\":3,\"mode\":\"last\",\"task\":\"classify\",\"layers\":"
                                            "[{\"type\":\"transformer\"}]}"});
    expect_load_error("arch: unknown layer type", p, VL_ERR_FORMAT, "unknown type \"transformer\"");
    p = tpath("arch_garbage.safetensors");
    write_variant(p, net, (variant){.arch = "lstm 4 bidirectional"});
    expect_load_error("arch: not JSON", p, VL_ERR_FORMAT, "architecture metadata: invalid JSON at byte 0");
    p = tpath("arch_nodrop.safetensors");
    write_variant(p, net, (variant){.arch = "{\"input\":5,\"outputs\":3,\"mode\":\"last\",\"task\":\"classify\",\"layers\":"
                                            "[{\"type\":\"dropout\",\"p\":0.5}]}"});
    expect_load_error("arch: no recurrent layer", p, VL_ERR_FORMAT, "cannot be built");
    p = tpath("arch_huge.safetensors");
    write_variant(p, net, (variant){.arch = "{\"input\":16000000,\"outputs\":3,\"mode\":\"last\",\"task\":\"classify\","
                                            "\"layers\":[{\"type\":\"lstm\",\"hidden\":1000000,\"bidirectional\":true}]}"});
    expect_load_error("arch: huge (no allocation)", p, VL_ERR_FORMAT, "needs 136000022000003 parameters");
    p = tpath("version.safetensors");
    write_variant(p, net, (variant){.format_version = "2"});
    expect_load_error("newer format_version", p, VL_ERR_UNSUPPORTED, "format_version 2");
    p = tpath("noarch.safetensors");
    craft(p, "{\"__metadata__\":{\"format\":\"pt\"},\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", z,
          4);
    expect_load_error("another format", p, VL_ERR_FORMAT, "not a vidlstm model");
    craft(p, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", z, 4);
    expect_load_error("no architecture", p, VL_ERR_FORMAT, "no \"architecture\"");

    /* saving: a diverged network is refused; the existing file stays intact */
    size_t n0, n1;
    unsigned char *before = read_bytes(good, &n0);
    vl_param w;
    vl_net_find_param(net, "fc.bias", &w);
    w.data[1] = INFINITY;
    CHECK(vl_model_save(good, net, NULL) == VL_ERR_NUMERIC && strstr(vl_errmsg(), good) &&
              strstr(vl_errmsg(), "'fc.bias' element 1 is Inf"),
          "save Inf: %s", vl_errmsg());
    unsigned char *after = read_bytes(good, &n1);
    CHECK(n0 == n1 && !memcmp(before, after, n0), "failed save changed the file");
    w.data[1] = 0.0f;
    CHECK(vl_model_save(tpath("no/such/dir.safetensors"), net, NULL) == VL_ERR_IO, "unwritable folder: %s", vl_errmsg());
    CHECK(count_tmp_leftovers() == 0, "temporary files left behind");
    free(before);
    free(after);
    vl_net_free(net);
}

/* ---- describe ------------------------------------------------------------------------- */

static void test_describe(const char *fixdir)
{
    char p[1024], *text = NULL;
    size_t len = 0;
    snprintf(p, sizeof p, "%s/mixed_last_cls.safetensors", fixdir);
    FILE *f = open_memstream(&text, &len);
    CHECK(vl_model_describe(p, f) == VL_OK, "%s", vl_errmsg());
    fclose(f);
    CHECK(text && strstr(text, "BiLSTM  6 -> 12") && strstr(text, "dropout p=0.3") && strstr(text, "GRU  12 -> 4") &&
              strstr(text, "head: fully connected 4 -> 3") && strstr(text, "parameters: "),
          "describe:\n%s", text);
    free(text);
    snprintf(p, sizeof p, "%s/lstm_last_cls.safetensors", fixdir);
    f = open_memstream(&text, &len);
    CHECK(vl_model_describe(p, f) == VL_OK, "%s", vl_errmsg());
    fclose(f);
    CHECK(text && strstr(text, "2=jump \"high\"") && strstr(text, "tap /avgpool/GlobalAveragePool_output_0") &&
              strstr(text, "shorter side to 256") && strstr(text, "10 frames per second") &&
              strstr(text, "feature normalisation: per-dimension"),
          "describe:\n%s", text);
    fputs(text, stdout);
    free(text);
    f = open_memstream(&text, &len);
    CHECK(vl_model_describe(tpath("nonexistent"), f) == VL_ERR_IO, "describe missing file");
    fclose(f);
    CHECK(len == 0, "describe wrote output on error");
    free(text);
}

/* ---- ensembles ------------------------------------------------------------------------- */

/* Rewrites a model file with tensors dropped/renamed and "ensemble" set to
 * kval (NULL: left out), for the loader's error paths. */
static void write_ensemble_variant(const char *src, const char *dst, const char *kval, const char *drop,
                                   const char *rename_from, const char *rename_to)
{
    vl_st_file f;
    vl_status st = vl_st_read(src, &f);
    CHECK(st == VL_OK, "read %s: %s", src, vl_errmsg());
    if (st)
        return;
    vl_st_entry *e = calloc((size_t)f.ntensors, sizeof *e);
    const char **keys = calloc((size_t)f.nmeta + 1, sizeof *keys), **vals = calloc((size_t)f.nmeta + 1, sizeof *vals);
    int n = 0, nm = 0;
    for (int i = 0; i < f.ntensors; i++) {
        const vl_st_tensor *t = &f.tensors[i];
        if (drop && !strcmp(t->name, drop))
            continue;
        e[n] = (vl_st_entry){.name = rename_from && !strcmp(t->name, rename_from) ? rename_to : t->name,
                             .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
        memcpy(e[n].shape, t->shape, sizeof e[n].shape);
        n++;
    }
    for (int i = 0; i < f.nmeta; i++)
        if (strcmp(f.meta_keys[i], "ensemble"))
            keys[nm] = f.meta_keys[i], vals[nm++] = f.meta_values[i];
    if (kval)
        keys[nm] = "ensemble", vals[nm++] = kval;
    st = vl_st_write(dst, e, n, keys, vals, nm);
    CHECK(st == VL_OK, "write %s: %s", dst, vl_errmsg());
    free(e);
    free(keys);
    free(vals);
    vl_st_free(&f);
}

/* For torch_load_model.py: PyTorch averages the members on its own. */
static const char *ens_outdir;

static void test_ensemble_case(vl_out_mode mode, vl_task task)
{
    const int D = 5, C = task == VL_TASK_CLASSIFY ? 3 : 2, K = 3;
    const int seq = mode == VL_OUT_SEQUENCE, cls = task == VL_TASK_CLASSIFY;
    vl_net_config cfg = {.input = D, .outputs = C, .mode = mode, .task = task};
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, 4, 1);
    vl_net_add_dropout(&cfg, 0.3f);
    batch_data b = make_batch(4, 6, D);
    vl_net *m[3];
    float *single[3];
    for (int k = 0; k < K; k++) {
        CHECK(vl_net_create(&cfg, 100 + k, &m[k]) == VL_OK, "create: %s", vl_errmsg());
        single[k] = run_forward(m[k], &b);
    }
    for (int k = 1; k < K; k++)
        CHECK(vl_net_add_member(m[0], m[k]) == VL_OK, "add member: %s", vl_errmsg());
    CHECK(vl_net_num_members(m[0]) == K && vl_net_member(m[0], 2) == m[2] && vl_net_member(m[0], 3) == NULL,
          "members: %d", vl_net_num_members(m[0]));
    vl_net *other;
    vl_net_config bad = cfg;
    bad.outputs = C + 1;
    vl_net_create(&bad, 1, &other);
    CHECK(vl_net_add_member(m[0], other) == VL_ERR_ARG, "a member with other outputs was accepted");
    vl_net_free(other);
    float *ens = run_forward(m[0], &b);
    /* expected: each member's probabilities (or values), averaged over members */
    int T = seq ? b.T : 1;
    double worst = 0;
    int zeros_ok = 1;
    for (int j = 0; j < b.B; j++)
        for (int t = 0; t < T; t++) {
            size_t r = ((size_t)j * T + t) * C;
            int valid = !seq || t < b.len[j];
            float got[8], want[8] = {0};
            if (!valid) {
                for (int c = 0; c < C; c++)
                    zeros_ok &= ens[r + c] == 0.0f;
                continue;
            }
            for (int k = 0; k < K; k++) {
                float p[8];
                if (cls)
                    vl_softmax_rows(1, C, single[k] + r, p);
                else
                    memcpy(p, single[k] + r, sizeof(float) * C);
                for (int c = 0; c < C; c++)
                    want[c] += p[c] / K;
            }
            if (cls)
                vl_softmax_rows(1, C, ens + r, got);
            else
                memcpy(got, ens + r, sizeof(float) * C);
            for (int c = 0; c < C; c++) {
                double e = fabs(got[c] - want[c]) / (fabs(want[c]) > 1e-3 ? fabs(want[c]) : 1e-3);
                worst = e > worst ? e : worst;
            }
        }
    CHECK(worst < 1e-5, "ensemble average off by %.3g relative", worst);
    CHECK(zeros_ok, "padded steps of an ensemble's output are not zero");
    float loss;
    int32_t labels[4 * 6] = {0};
    float targets[4 * 6 * 2] = {0};
    vl_batch vb = {.batch = b.B, .tmax = b.T, .dim = D, .x = b.x, .lengths = b.len, .labels = labels,
                   .targets = targets};
    CHECK(vl_net_forward_backward(m[0], &vb, &loss, NULL) == VL_ERR_ARG, "an ensemble was trained as one network");

    /* file round trip: members come back with identical outputs; member 0
     * keeps the plain PyTorch names */
    const char *p = tpath("ens.safetensors");
    CHECK(vl_model_save(p, m[0], NULL) == VL_OK, "save ensemble: %s", vl_errmsg());
    if (ens_outdir) {
        char name[64], mp[1024];
        snprintf(name, sizeof name, "ensemble_%s_%s", seq ? "sequence" : "last", cls ? "cls" : "reg");
        snprintf(mp, sizeof mp, "%s/%s.safetensors", ens_outdir, name);
        CHECK(vl_model_save(mp, m[0], NULL) == VL_OK, "save %s: %s", mp, vl_errmsg());
        save_npy_case(ens_outdir, name, m[0], &b, ens);
    }
    vl_net *back = NULL;
    CHECK(vl_model_load(p, &back, NULL) == VL_OK, "load ensemble: %s", vl_errmsg());
    if (back) {
        CHECK(vl_net_num_members(back) == K, "loaded %d members", vl_net_num_members(back));
        float *o2 = run_forward(back, &b);
        CHECK(!memcmp(o2, ens, sizeof(float) * vl_net_output_size(back, &vb)), "loaded ensemble differs");
        free(o2);
        vl_net_free(back);
    }
    vl_st_file f;
    if (vl_st_read(p, &f) == VL_OK) {
        CHECK(vl_st_find(&f, "weight_ih_l0") && vl_st_find(&f, "ensemble.1.weight_ih_l0_reverse") &&
                  vl_st_find(&f, "ensemble.2.fc.bias") && !vl_st_find(&f, "ensemble.0.fc.bias") &&
                  !vl_st_find(&f, "ensemble.3.fc.bias"),
              "tensor names of an ensemble file");
        CHECK(vl_st_meta(&f, "ensemble") && !strcmp(vl_st_meta(&f, "ensemble"), "3"), "ensemble metadata");
        vl_st_free(&f);
    }
    if (seq && cls) { /* the loader's errors, once */
        const char *q = tpath("ens_bad.safetensors");
        write_ensemble_variant(p, q, "3", "ensemble.2.weight_hh_l0", NULL, NULL);
        expect_load_error("ensemble member missing", q, VL_ERR_FORMAT, "ensemble.2.weight_hh_l0");
        write_ensemble_variant(p, q, "2", NULL, NULL, NULL);
        expect_load_error("ensemble count too small", q, VL_ERR_FORMAT, "unexpected tensor 'ensemble.2.");
        write_ensemble_variant(p, q, "0", NULL, NULL, NULL);
        expect_load_error("ensemble count 0", q, VL_ERR_FORMAT, "member count");
        write_ensemble_variant(p, q, "3x", NULL, NULL, NULL);
        expect_load_error("ensemble count not a number", q, VL_ERR_FORMAT, "member count");
        write_ensemble_variant(p, q, "3", NULL, "ensemble.1.fc.bias", "ensemble.01.fc.bias");
        expect_load_error("ensemble member name", q, VL_ERR_FORMAT, "ensemble.1.fc.bias");
        write_ensemble_variant(p, q, NULL, NULL, NULL, NULL);
        expect_load_error("ensemble tensors, no count", q, VL_ERR_FORMAT, "unexpected tensor 'ensemble.1.");
        unlink(q);
    }
    unlink(p);
    for (int k = 0; k < K; k++)
        free(single[k]);
    free(ens);
    vl_net_free(m[0]);
    free(b.x);
    free(b.len);
}

static void test_ensembles(void)
{
    test_ensemble_case(VL_OUT_LAST, VL_TASK_CLASSIFY);
    test_ensemble_case(VL_OUT_SEQUENCE, VL_TASK_CLASSIFY);
    test_ensemble_case(VL_OUT_LAST, VL_TASK_REGRESS);
    test_ensemble_case(VL_OUT_SEQUENCE, VL_TASK_REGRESS);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_modelfile FIXTURE_DIR [OUT_DIR]\n");
        return 2;
    }
    const char *outdir = argc > 2 ? argv[2] : NULL;
    if (outdir)
        mkdir(outdir, 0777);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vl_modelfile_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_json();
    test_safetensors();
    test_arch_json();
    test_round_trips(outdir);
    test_pytorch_fixtures(argv[1]);
    test_bad_files();
    test_describe(argv[1]);
    ens_outdir = outdir;
    test_ensembles();
    remove_tmpdir();
    return check_summary();
}
