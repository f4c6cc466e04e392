/* Model files: vl_net + vl_model_meta <-> one .safetensors file (see modelfile.h). */
#include "model/modelfile.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/json.h"
#include "core/sha256.h"
#include "model/layers_table.h"

#define FORMAT_NAME "vidlstm-model"
#define FORMAT_VERSION 1

/* ---- architecture JSON ----------------------------------------------------------- */

vl_status vl_arch_to_json(const vl_net_config *cfg, char **json)
{
    *json = NULL;
    vl_jbuf b = {0};
    vl_jbuf_printf(&b, "{\"input\":%d,\"outputs\":%d,\"mode\":\"%s\",\"task\":\"%s\",\"layers\":[", cfg->input,
                   cfg->outputs, cfg->mode == VL_OUT_SEQUENCE ? "sequence" : "last",
                   cfg->task == VL_TASK_REGRESS ? "regress" : "classify");
    if (cfg->nlayers < 0 || cfg->nlayers > VL_MAX_LAYERS) {
        vl_jbuf_free(&b);
        return vl_seterr(VL_ERR_ARG, "architecture: %d layers (at most %d)", cfg->nlayers, VL_MAX_LAYERS);
    }
    for (int l = 0; l < cfg->nlayers; l++) {
        const vl_layer_spec *s = &cfg->layer[l];
        if (l)
            vl_jbuf_puts(&b, ",");
        const vl_layer_def *k = vl_layer_def_of(s->kind);
        if (!k) {
            vl_jbuf_free(&b);
            return vl_seterr(VL_ERR_ARG, "architecture: layer %d has unknown kind %d", l + 1, (int)s->kind);
        }
        vl_jbuf_printf(&b, "{\"type\":\"%s\"", k->type);
        if (k->arg == VL_LARG_HIDDEN)
            vl_jbuf_printf(&b, ",\"hidden\":%d,\"bidirectional\":%s", s->hidden, s->bidirectional ? "true" : "false");
        else if (k->arg == VL_LARG_PROB) {
            vl_jbuf_puts(&b, ",\"p\":");
            vl_jbuf_float(&b, s->p);
        }
        vl_jbuf_puts(&b, "}");
    }
    vl_jbuf_puts(&b, "]}");
    if (b.failed) {
        vl_jbuf_free(&b);
        return vl_seterr(VL_ERR_NOMEM, "out of memory writing the architecture");
    }
    *json = vl_jbuf_take(&b);
    return VL_OK;
}

/* Rejects members of object o other than those listed (NULL-terminated). */
static vl_status only_keys(const vl_json *o, const char *name, const char *where, const char *const *allowed)
{
    for (size_t i = 0; i < o->count; i++) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(o->keys[i], *a);
        if (!ok)
            return vl_seterr(VL_ERR_FORMAT, "%s: %s: unknown key \"%.60s\"", name, where, o->keys[i]);
    }
    return VL_OK;
}

static vl_status get_int(const vl_json *o, const char *key, int required, int lo, int hi, int *out, const char *name,
                         const char *where)
{
    const vl_json *v = vl_json_get(o, key);
    int64_t x;
    if (!v) {
        if (required)
            return vl_seterr(VL_ERR_FORMAT, "%s: %s: \"%s\" is missing", name, where, key);
        return VL_OK;
    }
    if (!vl_json_int(v, lo, hi, &x))
        return vl_seterr(VL_ERR_FORMAT, "%s: %s: \"%s\" must be an integer in %d..%d", name, where, key, lo, hi);
    *out = (int)x;
    return VL_OK;
}

static vl_status get_bool(const vl_json *o, const char *key, int *out, const char *name, const char *where)
{
    const vl_json *v = vl_json_get(o, key);
    if (v && !vl_json_bool(v, out))
        return vl_seterr(VL_ERR_FORMAT, "%s: %s: \"%s\" must be true or false", name, where, key);
    return VL_OK;
}

static vl_status get_choice(const vl_json *o, const char *key, const char *a, const char *b, int *out,
                            const char *name, const char *where)
{
    const vl_json *v = vl_json_get(o, key);
    if (!v)
        return vl_seterr(VL_ERR_FORMAT, "%s: %s: \"%s\" is missing", name, where, key);
    const char *s = vl_json_str(v);
    if (s && !strcmp(s, a))
        *out = 0;
    else if (s && !strcmp(s, b))
        *out = 1;
    else
        return vl_seterr(VL_ERR_FORMAT, "%s: %s: \"%s\" must be \"%s\" or \"%s\"", name, where, key, a, b);
    return VL_OK;
}

static vl_status arch_from_tree(const vl_json *a, const char *name, vl_net_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    const char *where = "architecture";
    if (a->type != VL_JSON_OBJECT)
        return vl_seterr(VL_ERR_FORMAT, "%s: architecture is a %s, not an object", name, vl_json_type_name(a->type));
    static const char *const top[] = {"input", "outputs", "mode", "task", "layers", NULL};
    vl_status st;
    int mode, task;
    if ((st = only_keys(a, name, where, top)) || (st = get_int(a, "input", 1, 1, 1 << 24, &cfg->input, name, where)) ||
        (st = get_int(a, "outputs", 1, 1, 1 << 24, &cfg->outputs, name, where)) ||
        (st = get_choice(a, "mode", "last", "sequence", &mode, name, where)) ||
        (st = get_choice(a, "task", "classify", "regress", &task, name, where)))
        return st;
    cfg->mode = mode ? VL_OUT_SEQUENCE : VL_OUT_LAST;
    cfg->task = task ? VL_TASK_REGRESS : VL_TASK_CLASSIFY;
    const vl_json *layers = vl_json_get(a, "layers");
    if (!layers || layers->type != VL_JSON_ARRAY || layers->count < 1 || layers->count > VL_MAX_LAYERS)
        return vl_seterr(VL_ERR_FORMAT, "%s: architecture: \"layers\" must be an array of 1..%d layers", name,
                         VL_MAX_LAYERS);
    for (size_t l = 0; l < layers->count; l++) {
        const vl_json *L = &layers->items[l];
        vl_layer_spec *s = &cfg->layer[l];
        char lw[64];
        snprintf(lw, sizeof lw, "architecture layer %zu", l + 1);
        const char *type = vl_json_str(vl_json_get(L, "type"));
        if (L->type != VL_JSON_OBJECT || !type)
            return vl_seterr(VL_ERR_FORMAT, "%s: %s: must be an object with a \"type\" string", name, lw);
        const vl_layer_def *k = vl_layer_def_named(type);
        char types[128];
        if (!k)
            return vl_seterr(VL_ERR_FORMAT, "%s: %s: unknown type \"%.40s\" (%s)", name, lw, type,
                             vl_layer_type_list(types, sizeof types, " or "));
        s->kind = k->kind;
        static const char *const keys[][4] = {[VL_LARG_NONE] = {"type", NULL},
                                              [VL_LARG_HIDDEN] = {"type", "hidden", "bidirectional", NULL},
                                              [VL_LARG_PROB] = {"type", "p", NULL}};
        if ((st = only_keys(L, name, lw, keys[k->arg])))
            return st;
        if (k->arg == VL_LARG_HIDDEN) {
            if ((st = get_int(L, "hidden", 1, 1, 1 << 20, &s->hidden, name, lw)) ||
                (st = get_bool(L, "bidirectional", &s->bidirectional, name, lw)))
                return st;
        } else if (k->arg == VL_LARG_PROB) {
            double p;
            if (!vl_json_number(vl_json_get(L, "p"), &p) || !(p >= 0.0 && p < 1.0))
                return vl_seterr(VL_ERR_FORMAT, "%s: %s: %s needs \"p\", a number in [0, 1)", name, lw, k->type);
            s->p = (float)p;
        }
    }
    cfg->nlayers = (int)layers->count;
    return VL_OK;
}

vl_status vl_arch_from_json(const char *json, const char *name, vl_net_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    vl_json *a;
    vl_status st = vl_json_parse(json, strlen(json), name, &a);
    if (st)
        return st;
    st = arch_from_tree(a, name, cfg);
    vl_json_free(a);
    return st;
}

/* ---- backbone and preprocessing JSON ------------------------------------------------ */

static void floats_json(vl_jbuf *b, const float *v, int n)
{
    vl_jbuf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        if (i)
            vl_jbuf_puts(b, ",");
        vl_jbuf_float(b, v[i]);
    }
    vl_jbuf_puts(b, "]");
}

static void backbone_json(vl_jbuf *b, const vl_model_meta *m)
{
    const vl_preproc *p = &m->pre;
    vl_jbuf_puts(b, "{\"spec\":");
    vl_jbuf_string(b, m->backbone);
    vl_jbuf_puts(b, ",\"tap\":");
    vl_jbuf_string(b, m->tap);
    vl_jbuf_printf(b, ",\"feature_dim\":%d,\"preproc\":{\"width\":%d,\"height\":%d,\"resize\":\"%s\",\"resize_to\":%d,"
                      "\"bgr\":%s,\"scale\":",
                   m->feature_dim, p->width, p->height, p->resize == VL_RESIZE_EXACT ? "exact" : "shorter",
                   p->resize_to, p->bgr ? "true" : "false");
    vl_jbuf_float(b, p->scale);
    vl_jbuf_puts(b, ",\"mean\":");
    floats_json(b, p->mean, 3);
    vl_jbuf_puts(b, ",\"std\":");
    floats_json(b, p->std, 3);
    vl_jbuf_printf(b, ",\"nhwc\":%s%s},\"fps\":", p->nhwc ? "true" : "false", p->grey ? ",\"grey\":true" : "");
    vl_jbuf_number(b, m->fps);
    vl_jbuf_printf(b, ",\"every_k\":%d", m->every_k);
    if (m->has_input_norm) { /* optional: the user's choice, which predict must repeat */
        const vl_input_norm *n = &m->input_norm;
        vl_jbuf_puts(b, ",\"preprocess\":{\"preset\":");
        vl_jbuf_string(b, n->preset);
        float r[2] = {n->lo, n->hi};
        vl_jbuf_puts(b, ",\"range\":");
        floats_json(b, r, 2);
        vl_jbuf_puts(b, ",\"mean\":");
        floats_json(b, n->mean, 3);
        vl_jbuf_puts(b, ",\"std\":");
        floats_json(b, n->std, 3);
        vl_jbuf_printf(b, ",\"channel_order\":\"%s\"}", n->bgr ? "bgr" : "rgb");
    }
    if (m->precision != VL_PREC_FP32) /* optional: bf16 features, which predict repeats */
        vl_jbuf_printf(b, ",\"precision\":\"%s\"", vl_precision_name(m->precision));
    if (m->backbone_sha256[0]) { /* optional: the ONNX file's identity */
        vl_jbuf_puts(b, ",\"sha256\":");
        vl_jbuf_string(b, m->backbone_sha256);
    }
    vl_jbuf_puts(b, "}");
}

static vl_status get_float(const vl_json *o, const char *key, float *out, const char *name, const char *where)
{
    const vl_json *v = vl_json_get(o, key);
    double d;
    if (!v)
        return VL_OK;
    if (!vl_json_number(v, &d) || !isfinite((float)d))
        return vl_seterr(VL_ERR_FORMAT, "%s: %s: \"%s\" must be a finite number", name, where, key);
    *out = (float)d;
    return VL_OK;
}

static vl_status get_floats3(const vl_json *o, const char *key, float *out, const char *name, const char *where)
{
    const vl_json *v = vl_json_get(o, key);
    if (!v)
        return VL_OK;
    double d;
    if (v->type != VL_JSON_ARRAY || v->count != 3)
        return vl_seterr(VL_ERR_FORMAT, "%s: %s: \"%s\" must be an array of 3 numbers", name, where, key);
    for (int i = 0; i < 3; i++) {
        if (!vl_json_number(&v->items[i], &d) || !isfinite((float)d))
            return vl_seterr(VL_ERR_FORMAT, "%s: %s: \"%s\" must be an array of 3 finite numbers", name, where, key);
        out[i] = (float)d;
    }
    return VL_OK;
}

static vl_status get_string(const vl_json *o, const char *key, char *out, size_t cap, const char *name,
                            const char *where);

/* backbone "preprocess": the user's input normalisation (preprocess.h) */
static vl_status get_input_norm(const vl_json *o, vl_model_meta *m, const char *name)
{
    static const char *const keys[] = {"preset", "range", "mean", "std", "channel_order", NULL};
    const char *w = "backbone preprocess";
    const vl_json *r = vl_json_get(o, "range");
    vl_input_norm *n = &m->input_norm;
    int bgr = 0;
    double lo, hi;
    vl_status st;
    if (o->type != VL_JSON_OBJECT)
        return vl_seterr(VL_ERR_FORMAT, "%s: backbone: \"preprocess\" must be an object", name);
    *n = (vl_input_norm){0};
    if ((st = only_keys(o, name, w, keys)) || (st = get_string(o, "preset", n->preset, sizeof n->preset, name, w)) ||
        (st = get_floats3(o, "mean", n->mean, name, w)) || (st = get_floats3(o, "std", n->std, name, w)) ||
        (st = get_choice(o, "channel_order", "rgb", "bgr", &bgr, name, w)))
        return st;
    if (!r || r->type != VL_JSON_ARRAY || r->count != 2 || !vl_json_number(&r->items[0], &lo) ||
        !vl_json_number(&r->items[1], &hi) || !vl_json_get(o, "mean") || !vl_json_get(o, "std") || !n->preset[0])
        return vl_seterr(VL_ERR_FORMAT, "%s: %s: needs \"preset\", \"range\" [lo, hi], \"mean\" and \"std\"", name,
                         w);
    n->lo = (float)lo;
    n->hi = (float)hi;
    n->bgr = bgr;
    char err[160];
    if (vl_input_norm_check(n, err, sizeof err))
        return vl_seterr(VL_ERR_FORMAT, "%s: %s: %s", name, w, err);
    m->has_input_norm = 1;
    return VL_OK;
}

static vl_status get_string(const vl_json *o, const char *key, char *out, size_t cap, const char *name,
                            const char *where)
{
    const vl_json *v = vl_json_get(o, key);
    if (!v)
        return VL_OK;
    if (v->type != VL_JSON_STRING || v->len != strlen(v->str))
        return vl_seterr(VL_ERR_FORMAT, "%s: %s: \"%s\" must be a string", name, where, key);
    if (v->len >= cap)
        return vl_seterr(VL_ERR_FORMAT, "%s: %s: \"%s\" is longer than %zu bytes", name, where, key, cap - 1);
    memcpy(out, v->str, v->len + 1);
    return VL_OK;
}

/* "sha256": 64 hex digits (stored lowercase); fused backbones: one per part
 * joined by '+', empty for a built-in part */
static vl_status get_sha256(const vl_json *b, char *out, size_t cap, const char *name)
{
    vl_status st = get_string(b, "sha256", out, cap, name, "backbone");
    if (st || !out[0])
        return st;
    for (char *c = out; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    int ok = 1;
    for (const char *p = out;;) {
        const char *e = strchr(p, '+');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char one[65];
        if (n == 64) {
            memcpy(one, p, 64);
            one[64] = 0;
            ok &= vl_sha256_valid_hex(one);
        } else {
            ok &= n == 0 && (e || p != out);
        }
        if (!e)
            break;
        p = e + 1;
    }
    if (!ok) {
        out[0] = 0;
        return vl_seterr(VL_ERR_FORMAT,
                         "%s: backbone: \"sha256\" must be 64 hex digits (fused backbones: one per part, joined by '+')",
                         name);
    }
    return VL_OK;
}

static vl_status backbone_from_json(const char *json, const char *name, vl_model_meta *m)
{
    char label[4200];
    snprintf(label, sizeof label, "%s: backbone metadata", name);
    vl_json *b;
    vl_status st = vl_json_parse(json, strlen(json), label, &b);
    if (st)
        return st;
    static const char *const keys[] = {"spec", "tap", "feature_dim", "preproc", "fps", "every_k", "sha256",
                                       "preprocess", "precision", NULL};
    char prec[16] = "";
    static const char *const pkeys[] = {"width", "height", "resize", "resize_to", "bgr", "scale", "mean", "std",
                                        "nhwc", "grey", NULL};
    const char *w = "backbone", *pw = "backbone preproc";
    const vl_json *p = vl_json_get(b, "preproc");
    const vl_json *fps = vl_json_get(b, "fps");
    if (b->type != VL_JSON_OBJECT) {
        st = vl_seterr(VL_ERR_FORMAT, "%s: backbone metadata is a %s, not an object", name, vl_json_type_name(b->type));
        goto done;
    }
    if ((st = only_keys(b, name, w, keys)) || (st = get_string(b, "spec", m->backbone, sizeof m->backbone, name, w)) ||
        (st = get_string(b, "tap", m->tap, sizeof m->tap, name, w)) ||
        (st = get_int(b, "feature_dim", 0, 0, 1 << 24, &m->feature_dim, name, w)) ||
        (st = get_int(b, "every_k", 0, 0, 100000, &m->every_k, name, w)) ||
        (st = get_sha256(b, m->backbone_sha256, sizeof m->backbone_sha256, name)) ||
        (vl_json_get(b, "preprocess") && (st = get_input_norm(vl_json_get(b, "preprocess"), m, name))) ||
        (st = get_string(b, "precision", prec, sizeof prec, name, w)))
        goto done;
    if (prec[0] && vl_precision_parse(prec, &m->precision)) {
        st = vl_seterr(VL_ERR_FORMAT, "%s: backbone: \"precision\" must be \"fp32\", \"bf16\" or \"int8\", not \"%s\"", name, prec);
        goto done;
    }
    /* The bounds `train --fps/--every` accept: a model edited past them (fps
     * 1e9) would make predict decode a frame per nanosecond of video. */
    if (fps && (!vl_json_number(fps, &m->fps) || !(m->fps == 0.0 || (m->fps >= 0.01 && m->fps <= 1000.0)))) {
        st = vl_seterr(VL_ERR_FORMAT, "%s: backbone: \"fps\" must be 0 (unused) or in [0.01, 1000]", name);
        goto done;
    }
    if (p) {
        int resize = 0;
        if (p->type != VL_JSON_OBJECT) {
            st = vl_seterr(VL_ERR_FORMAT, "%s: backbone: \"preproc\" must be an object", name);
            goto done;
        }
        if ((st = only_keys(p, name, pw, pkeys)) || (st = get_int(p, "width", 0, 0, 8192, &m->pre.width, name, pw)) ||
            (st = get_int(p, "height", 0, 0, 8192, &m->pre.height, name, pw)) ||
            (vl_json_get(p, "resize") && (st = get_choice(p, "resize", "shorter", "exact", &resize, name, pw))) ||
            (st = get_int(p, "resize_to", 0, 0, 8192, &m->pre.resize_to, name, pw)) ||
            (st = get_bool(p, "bgr", &m->pre.bgr, name, pw)) || (st = get_float(p, "scale", &m->pre.scale, name, pw)) ||
            (st = get_floats3(p, "mean", m->pre.mean, name, pw)) || (st = get_floats3(p, "std", m->pre.std, name, pw)) ||
            (st = get_bool(p, "nhwc", &m->pre.nhwc, name, pw)) ||
            (vl_json_get(p, "grey") && (st = get_bool(p, "grey", &m->pre.grey, name, pw))))
            goto done;
        m->pre.resize = resize ? VL_RESIZE_EXACT : VL_RESIZE_SHORTER;
        /* the pixel lookup divides by std: 0 means "none", anything else must
         * keep 255 * scale / std finite */
        for (int c = 0; c < 3 && !st; c++)
            if (m->pre.std[c] != 0.0f && !(fabsf(m->pre.std[c]) >= 1e-6f))
                st = vl_seterr(VL_ERR_FORMAT, "%s: backbone preproc: \"std\" element %d is %g: must be 0 (none) or "
                                              "at least 1e-6 in magnitude", name, c, (double)m->pre.std[c]);
        if (!st && !(fabsf(m->pre.scale) <= 1e6f))
            st = vl_seterr(VL_ERR_FORMAT, "%s: backbone preproc: \"scale\" %g is out of range (|scale| <= 1e6)", name,
                           (double)m->pre.scale);
    }
done:
    vl_json_free(b);
    return st;
}

/* ---- saving ------------------------------------------------------------------------- */

void vl_model_meta_free(vl_model_meta *meta)
{
    if (!meta)
        return;
    for (int i = 0; i < meta->nclasses && meta->class_names; i++)
        free(meta->class_names[i]);
    free(meta->class_names);
    free(meta->norm_mean);
    free(meta->norm_std);
    free(meta->training_json);
    memset(meta, 0, sizeof *meta);
}

static const char *const reserved_meta[] = {"format", "format_version", "writer", "architecture",
                                            "classes", "backbone", "training", "ensemble", NULL};

/* Ensemble members after the first keep their tensors under this prefix,
 * "ensemble.<k>.<PyTorch name>", k = 1..K-1, so that member 0's names stay
 * the plain PyTorch ones (docs/model-format.md). */
#define ENS_PREFIX "ensemble."
#define ENS_MAX 64

vl_status vl_model_save_ex(const char *path, vl_net *net, const vl_model_meta *meta, const vl_st_entry *extra,
                           int nextra, const char *const *extra_keys, const char *const *extra_values, int nextra_meta)
{
    const vl_net_config *cfg = vl_net_get_config(net);
    int np = vl_net_num_params(net);
    if (nextra < 0 || nextra_meta < 0 || (nextra && !extra) || (nextra_meta && (!extra_keys || !extra_values)))
        return vl_seterr(VL_ERR_ARG, "%s: bad extra tensors or metadata", path);
    if (meta) {
        if (meta->nclasses && (cfg->task != VL_TASK_CLASSIFY || meta->nclasses != cfg->outputs || !meta->class_names))
            return vl_seterr(VL_ERR_ARG, "%s: %d class names for a %s network with %d outputs", path, meta->nclasses,
                             cfg->task == VL_TASK_CLASSIFY ? "classification" : "regression", cfg->outputs);
        for (int i = 0; i < meta->nclasses; i++)
            if (!meta->class_names[i])
                return vl_seterr(VL_ERR_ARG, "%s: class name %d is NULL", path, i);
        if ((meta->norm_mean || meta->norm_std) && (!meta->norm_mean || !meta->norm_std || meta->dim != cfg->input))
            return vl_seterr(VL_ERR_ARG, "%s: normalisation needs mean and std of the input width %d (dim is %d)", path,
                             cfg->input, meta->dim);
        if (meta->norm_mean)
            for (int i = 0; i < meta->dim; i++)
                if (!isfinite(meta->norm_mean[i]) || !isfinite(meta->norm_std[i]) || !(meta->norm_std[i] > 0.0f))
                    return vl_seterr(VL_ERR_NUMERIC, "%s: normalisation dimension %d: mean %g, std %g (need finite, std > 0)",
                                     path, i, (double)meta->norm_mean[i], (double)meta->norm_std[i]);
        if (meta->training_json) {
            vl_json *j;
            char label[4200];
            snprintf(label, sizeof label, "%s: training record", path);
            if (vl_json_parse(meta->training_json, strlen(meta->training_json), label, &j))
                return VL_ERR_ARG;
            vl_json_free(j);
        }
    }
    for (int i = 0; i < nextra_meta; i++)
        for (const char *const *r = reserved_meta; *r; r++)
            if (!strcmp(extra_keys[i], *r))
                return vl_seterr(VL_ERR_ARG, "%s: extra metadata key '%s' is reserved", path, *r);

    vl_status st = VL_OK;
    const int K = vl_net_num_members(net);
    int nt = K * np + 2 + nextra;
    vl_st_entry *t = calloc((size_t)nt, sizeof *t);
    char **names = calloc((size_t)nt, sizeof *names); /* ensemble members' tensor names */
    const char **keys = calloc((size_t)(9 + nextra_meta), sizeof *keys);
    const char **vals = calloc((size_t)(9 + nextra_meta), sizeof *vals);
    char *arch = NULL, *classes = NULL, *backbone = NULL, *march = NULL, kstr[16];
    if (!t || !names || !keys || !vals) {
        st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if ((st = vl_arch_to_json(cfg, &arch))) {
        char why[1024];
        snprintf(why, sizeof why, "%s", vl_errmsg());
        st = vl_seterr(st, "%s: %s", path, why);
        goto done;
    }
    if (K > ENS_MAX) {
        st = vl_seterr(VL_ERR_ARG, "%s: an ensemble of %d members (at most %d)", path, K, ENS_MAX);
        goto done;
    }
    int n = 0;
    for (int k = 0; k < K; k++) {
        vl_net *m = vl_net_member(net, k);
        if (k) { /* one "architecture" describes every member */
            free(march);
            march = NULL;
            if ((st = vl_arch_to_json(vl_net_get_config(m), &march)))
                goto done;
            if (strcmp(march, arch)) {
                st = vl_seterr(VL_ERR_ARG, "%s: ensemble member %d has another architecture than member 0", path, k);
                goto done;
            }
        }
        for (int i = 0; i < np; i++) {
            vl_param p;
            vl_net_param(m, i, &p);
            for (size_t j = 0; j < p.count; j++)
                if (!isfinite(p.data[j])) {
                    char who[48] = "";
                    if (K > 1)
                        snprintf(who, sizeof who, " (ensemble member %d)", k + 1);
                    st = vl_seterr(VL_ERR_NUMERIC, "%s: parameter '%s' element %zu is %s%s: not saving a diverged network",
                                   path, p.name, j, isnan(p.data[j]) ? "NaN" : "Inf", who);
                    goto done;
                }
            const char *name = p.name;
            if (k) {
                size_t len = strlen(p.name) + 32;
                if (!(names[n] = malloc(len))) {
                    st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
                    goto done;
                }
                snprintf(names[n], len, ENS_PREFIX "%d.%s", k, p.name);
                name = names[n];
            }
            t[n++] = (vl_st_entry){.name = name, .dtype = VL_ST_F32, .ndim = p.ndim,
                                   .shape = {p.shape[0], p.ndim == 2 ? p.shape[1] : 0}, .data = p.data};
        }
    }
    if (meta && meta->norm_mean) {
        t[n++] = (vl_st_entry){.name = "norm.mean", .dtype = VL_ST_F32, .ndim = 1, .shape = {meta->dim},
                               .data = meta->norm_mean};
        t[n++] = (vl_st_entry){.name = "norm.std", .dtype = VL_ST_F32, .ndim = 1, .shape = {meta->dim},
                               .data = meta->norm_std};
    }
    for (int i = 0; i < nextra; i++)
        t[n++] = extra[i];

    int nm = 0;
    keys[nm] = "format", vals[nm++] = FORMAT_NAME;
    keys[nm] = "format_version", vals[nm++] = "1";
    keys[nm] = "writer", vals[nm++] = "vidlstm " VIDLSTM_VERSION;
    keys[nm] = "architecture", vals[nm++] = arch;
    if (K > 1) {
        snprintf(kstr, sizeof kstr, "%d", K);
        keys[nm] = "ensemble", vals[nm++] = kstr;
    }
    if (meta) {
        vl_jbuf b = {0};
        if (meta->nclasses) {
            vl_jbuf_puts(&b, "[");
            for (int i = 0; i < meta->nclasses; i++) {
                if (i)
                    vl_jbuf_puts(&b, ",");
                vl_jbuf_string(&b, meta->class_names[i]);
            }
            vl_jbuf_puts(&b, "]");
            if (b.failed) {
                vl_jbuf_free(&b);
                st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
            classes = vl_jbuf_take(&b);
            keys[nm] = "classes", vals[nm++] = classes;
        }
        backbone_json(&b, meta);
        if (b.failed) {
            vl_jbuf_free(&b);
            st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        backbone = vl_jbuf_take(&b);
        keys[nm] = "backbone", vals[nm++] = backbone;
        if (meta->training_json)
            keys[nm] = "training", vals[nm++] = meta->training_json;
    }
    for (int i = 0; i < nextra_meta; i++)
        keys[nm] = extra_keys[i], vals[nm++] = extra_values[i];
    st = vl_st_write_ex(path, t, n, keys, vals, nm, nextra ? VL_ST_CHECKSUM : 0);
done:
    for (int i = 0; names && i < nt; i++)
        free(names[i]);
    free(names);
    free(march);
    free(t);
    free(keys);
    free(vals);
    free(arch);
    free(classes);
    free(backbone);
    return st;
}

vl_status vl_model_save(const char *path, vl_net *net, const vl_model_meta *meta)
{
    return vl_model_save_ex(path, net, meta, NULL, 0, NULL, NULL, 0);
}

/* ---- loading ------------------------------------------------------------------------- */

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
}

/* Which layer owns parameter i, for messages ("layer 2: gru, hidden 8, input 16"). */
static void param_owner(vl_net *net, const char *pname, char *buf, size_t n)
{
    const vl_net_config *cfg = vl_net_get_config(net);
    if (!strncmp(pname, "fc.", 3)) {
        vl_param w;
        vl_net_find_param(net, "fc.weight", &w);
        snprintf(buf, n, "the head: %d outputs from width %d", cfg->outputs, w.shape[1]);
        return;
    }
    int k = -1;
    const char *l = strstr(pname, "_l");
    if (l)
        k = atoi(l + 2);
    int width = cfg->input;
    for (int i = 0, rec = 0; i < cfg->nlayers; i++) {
        const vl_layer_spec *s = &cfg->layer[i];
        if (!vl_layer_def_of(s->kind)->gates)
            continue;
        if (rec++ == k) {
            snprintf(buf, n, "layer %d: %s%s, hidden %d, input %d", i + 1, s->bidirectional ? "bidirectional " : "",
                     vl_layer_def_of(s->kind)->type, s->hidden, width);
            return;
        }
        width = vl_layer_out_width(s, width);
    }
    snprintf(buf, n, "the architecture");
}

static vl_status check_finite(const char *path, const char *tname, const float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return vl_seterr(VL_ERR_NUMERIC, "%s: tensor '%s' element %lld is %s", path, tname, (long long)i,
                             isnan(v[i]) ? "NaN" : "Inf");
    return VL_OK;
}

static vl_status load_norm(const vl_st_file *st, const char *path, int D, vl_model_meta *meta)
{
    const vl_st_tensor *m = vl_st_find(st, "norm.mean"), *s = vl_st_find(st, "norm.std");
    if (!m && !s)
        return VL_OK;
    if (!m || !s)
        return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s' without '%s' (normalisation needs both)", path,
                         m ? "norm.mean" : "norm.std", m ? "norm.std" : "norm.mean");
    const vl_st_tensor *t2[2] = {m, s};
    for (int i = 0; i < 2; i++)
        if (t2[i]->ndim != 1 || t2[i]->shape[0] != D) {
            char sh[128];
            shape_str(sh, sizeof sh, t2[i]->ndim, t2[i]->shape);
            return vl_seterr(VL_ERR_SHAPE, "%s: tensor '%s' has shape %s but the input width is %d (want [%d])", path,
                             t2[i]->name, sh, D, D);
        }
    float *mean = malloc(sizeof(float) * (size_t)D), *sd = malloc(sizeof(float) * (size_t)D);
    vl_status r = VL_OK;
    if (!mean || !sd)
        r = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
    if (!r)
        r = vl_st_to_f32(st, m, mean);
    if (!r)
        r = vl_st_to_f32(st, s, sd);
    if (!r)
        r = check_finite(path, "norm.mean", mean, D);
    if (!r)
        r = check_finite(path, "norm.std", sd, D);
    /* A denormal std (1e-45) passes "> 0" but makes (x - mean) / std overflow
     * to Inf and the outputs NaN: a normal float is the least we accept. */
    for (int i = 0; i < D && !r; i++)
        if (!(sd[i] >= FLT_MIN))
            r = vl_seterr(VL_ERR_NUMERIC, "%s: tensor 'norm.std' element %d is %g: must be positive (>= %g)", path,
                          i, (double)sd[i], (double)FLT_MIN);
    if (r) {
        free(mean);
        free(sd);
        return r;
    }
    if (meta) {
        meta->dim = D;
        meta->norm_mean = mean;
        meta->norm_std = sd;
    } else {
        free(mean);
        free(sd);
    }
    return VL_OK;
}

static vl_status load_classes(const vl_st_file *st, const char *path, const vl_net_config *cfg, vl_model_meta *meta)
{
    const char *cj = vl_st_meta(st, "classes");
    if (!cj)
        return VL_OK;
    char label[4200];
    snprintf(label, sizeof label, "%s: classes metadata", path);
    vl_json *c;
    vl_status r = vl_json_parse(cj, strlen(cj), label, &c);
    if (r)
        return r;
    if (c->type != VL_JSON_ARRAY) {
        r = vl_seterr(VL_ERR_FORMAT, "%s: classes metadata must be an array of strings", path);
    } else if (cfg->task != VL_TASK_CLASSIFY || (int)c->count != cfg->outputs) {
        r = vl_seterr(VL_ERR_FORMAT, "%s: %zu class names for a %s network with %d outputs", path, c->count,
                      cfg->task == VL_TASK_CLASSIFY ? "classification" : "regression", cfg->outputs);
    } else {
        for (size_t i = 0; i < c->count && !r; i++)
            if (c->items[i].type != VL_JSON_STRING || c->items[i].len != strlen(c->items[i].str))
                r = vl_seterr(VL_ERR_FORMAT, "%s: class name %zu is not a string", path, i);
    }
    if (!r && meta) {
        meta->class_names = calloc(c->count, sizeof(char *));
        if (!meta->class_names)
            r = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
        for (size_t i = 0; i < c->count && !r; i++) {
            meta->class_names[i] = c->items[i].str; /* steal */
            c->items[i].str = NULL;
            c->items[i].type = VL_JSON_NULL;
            meta->nclasses = (int)i + 1;
        }
    }
    vl_json_free(c);
    return r;
}

/* Fills net's parameters from the tensors named prefix + PyTorch name
 * (prefix NULL for member 0 of a model). */
static vl_status fill_params(const vl_st_file *st, vl_net *net, const char *prefix)
{
    const char *path = st->name;
    vl_status r = VL_OK;
    int np = vl_net_num_params(net);
    char full[256];
    for (int i = 0; i < np && !r; i++) {
        vl_param p;
        vl_net_param(net, i, &p);
        snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", p.name);
        const vl_st_tensor *t = vl_st_find(st, full);
        char own[160];
        param_owner(net, p.name, own, sizeof own);
        int64_t want[2] = {p.shape[0], p.shape[1]};
        char ws[64];
        shape_str(ws, sizeof ws, p.ndim, want);
        if (!t) {
            r = vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s' %s is missing (%s needs it): the architecture metadata does "
                                         "not match the tensors",
                          path, full, ws, own);
            break;
        }
        if (t->ndim != p.ndim || t->shape[0] != p.shape[0] || (p.ndim == 2 && t->shape[1] != p.shape[1])) {
            char hs[128];
            shape_str(hs, sizeof hs, t->ndim, t->shape);
            r = vl_seterr(VL_ERR_SHAPE, "%s: tensor '%s' has shape %s but %s needs %s: the architecture metadata does "
                                        "not match the tensors",
                          path, full, hs, own, ws);
            break;
        }
        if (!(r = vl_st_to_f32(st, t, p.data)))
            r = check_finite(path, full, p.data, (int64_t)p.count);
    }
    return r;
}

/* A tensor name "ensemble.<k>.<param>" of a K-member model: the member k
 * (1..K-1) and the parameter name, or 0 when it is not one. */
static int ens_member_of(const char *n, int K, const char **rest)
{
    if (strncmp(n, ENS_PREFIX, strlen(ENS_PREFIX)))
        return 0;
    char *e;
    long k = strtol(n + strlen(ENS_PREFIX), &e, 10);
    if (e == n + strlen(ENS_PREFIX) || *e != '.' || k < 1 || k >= K || n[strlen(ENS_PREFIX)] == '0')
        return 0;
    *rest = e + 1;
    return (int)k;
}

static vl_status load_from(const vl_st_file *st, const char *extra_prefix, vl_net **pnet, vl_model_meta *meta)
{
    const char *path = st->name;
    const char *fmt = vl_st_meta(st, "format"), *ver = vl_st_meta(st, "format_version");
    if (fmt && strcmp(fmt, FORMAT_NAME))
        return vl_seterr(VL_ERR_FORMAT, "%s: not a vidlstm model (format is \"%.60s\")", path, fmt);
    if (ver) {
        char *end;
        long v = strtol(ver, &end, 10);
        if (end == ver || *end || v < 1)
            return vl_seterr(VL_ERR_FORMAT, "%s: bad format_version \"%.20s\"", path, ver);
        if (v > FORMAT_VERSION)
            return vl_seterr(VL_ERR_UNSUPPORTED, "%s: format_version %ld is newer than this build reads (%d); upgrade vidlstm",
                             path, v, FORMAT_VERSION);
    }
    const char *aj = vl_st_meta(st, "architecture");
    if (!aj)
        return vl_seterr(VL_ERR_FORMAT, "%s: no \"architecture\" in the metadata: not a vidlstm model "
                                        "(see docs/model-format.md to export PyTorch weights)",
                         path);
    char label[4200];
    snprintf(label, sizeof label, "%s: architecture metadata", path);
    vl_net_config cfg;
    vl_status r = vl_arch_from_json(aj, label, &cfg);
    if (r)
        return r;
    /* A tiny file must not make us allocate gigabytes: an architecture that
     * needs far more parameters (16M) than the file holds values is refused
     * here. Smaller mismatches are left to the per-tensor checks below,
     * whose messages name the tensor and layer. */
    uint64_t needed = vl_arch_param_count(&cfg), have = 0;
    for (int i = 0; i < st->ntensors; i++)
        have += (uint64_t)st->tensors[i].count;
    if (needed > have + ((uint64_t)1 << 24))
        return vl_seterr(VL_ERR_FORMAT, "%s: the architecture needs %llu parameters but the file holds %llu values: "
                                        "the architecture metadata does not match the tensors",
                         path, (unsigned long long)needed, (unsigned long long)have);
    vl_net *net;
    if ((r = vl_net_create(&cfg, 0, &net))) {
        char why[1024];
        snprintf(why, sizeof why, "%s", vl_errmsg());
        return vl_seterr(r == VL_ERR_NOMEM ? r : VL_ERR_FORMAT, "%s: the architecture cannot be built: %s", path, why);
    }
    int np = vl_net_num_params(net);
    r = fill_params(st, net, NULL);
    (void)np;
    int K = 1;
    const char *ks = vl_st_meta(st, "ensemble");
    if (!r && ks) {
        char *e;
        long v = strtol(ks, &e, 10);
        if (e == ks || *e || v < 1 || v > ENS_MAX)
            r = vl_seterr(VL_ERR_FORMAT, "%s: \"ensemble\" metadata must be a member count 1..%d, not \"%.20s\"", path,
                          ENS_MAX, ks);
        else
            K = (int)v;
    }
    if (!r && K > 1 && needed * (uint64_t)K > have + ((uint64_t)1 << 24))
        r = vl_seterr(VL_ERR_FORMAT, "%s: %d ensemble members need %llu parameters but the file holds %llu values", path,
                      K, (unsigned long long)(needed * (uint64_t)K), (unsigned long long)have);
    for (int k = 1; k < K && !r; k++) {
        vl_net *m;
        char prefix[32];
        snprintf(prefix, sizeof prefix, ENS_PREFIX "%d.", k);
        if ((r = vl_net_create(&cfg, 0, &m)))
            break;
        if ((r = fill_params(st, m, prefix)) || (r = vl_net_add_member(net, m))) {
            vl_net_free(m);
            break;
        }
    }
    for (int i = 0; i < st->ntensors && !r; i++) {
        const char *n = st->tensors[i].name, *pn = n;
        vl_param p;
        if (!strcmp(n, "norm.mean") || !strcmp(n, "norm.std") ||
            (extra_prefix && extra_prefix[0] && !strncmp(n, extra_prefix, strlen(extra_prefix))))
            continue;
        if (ens_member_of(n, K, &pn) && vl_net_find_param(net, pn, &p) == VL_OK)
            continue;
        if (vl_net_find_param(net, n, &p) != VL_OK) {
            char arch_short[256];
            snprintf(arch_short, sizeof arch_short, "%.200s", aj);
            r = vl_seterr(VL_ERR_FORMAT, "%s: unexpected tensor '%s': the architecture %s has no such parameter "
                                         "(architecture metadata and tensors disagree)",
                          path, n, arch_short);
        }
    }
    if (meta)
        memset(meta, 0, sizeof *meta);
    if (!r)
        r = load_norm(st, path, cfg.input, meta);
    if (!r)
        r = load_classes(st, path, &cfg, meta);
    const char *bj = vl_st_meta(st, "backbone");
    if (!r && bj && meta)
        r = backbone_from_json(bj, path, meta);
    const char *tj = vl_st_meta(st, "training");
    if (!r && tj && meta && !(meta->training_json = strdup(tj)))
        r = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
    if (r) {
        vl_net_free(net);
        vl_model_meta_free(meta);
        return r;
    }
    *pnet = net;
    return VL_OK;
}

vl_status vl_model_load_ex(const char *path, const char *extra_prefix, vl_net **net, vl_model_meta *meta,
                           vl_st_file *stout)
{
    *net = NULL;
    if (meta)
        memset(meta, 0, sizeof *meta);
    if (stout)
        memset(stout, 0, sizeof *stout);
    vl_st_file st;
    vl_status r = vl_st_read(path, &st);
    if (r)
        return r;
    r = load_from(&st, extra_prefix, net, meta);
    if (r || !stout)
        vl_st_free(&st);
    else
        *stout = st;
    return r;
}

vl_status vl_model_load(const char *path, vl_net **net, vl_model_meta *meta)
{
    return vl_model_load_ex(path, NULL, net, meta, NULL);
}

/* ---- describe ------------------------------------------------------------------------- */

static const char *ordinal_suffix(int k)
{
    if (k % 100 >= 11 && k % 100 <= 13)
        return "th";
    return k % 10 == 1 ? "st" : k % 10 == 2 ? "nd" : k % 10 == 3 ? "rd" : "th";
}

vl_status vl_model_describe(const char *path, FILE *f)
{
    vl_net *net;
    vl_model_meta m;
    vl_st_file st;
    vl_status r = vl_model_load_ex(path, NULL, &net, &m, &st);
    if (r)
        return r;
    const vl_net_config *cfg = vl_net_get_config(net);
    const char *fmt = vl_st_meta(&st, "format"), *ver = vl_st_meta(&st, "format_version");
    const char *writer = vl_st_meta(&st, "writer");
    fprintf(f, "model: %s\n", path);
    fprintf(f, "format: %s %s%s%s%s\n", fmt ? fmt : "safetensors (no format tag)", ver ? "version " : "",
            ver ? ver : "", writer ? ", written by " : "", writer ? writer : "");
    fprintf(f, "task: %s, %s\n", cfg->task == VL_TASK_CLASSIFY ? "classification" : "regression",
            cfg->mode == VL_OUT_LAST ? "one output per clip (mode last, many-to-one)"
                                     : "one output per step (mode sequence, many-to-many)");
    fprintf(f, "input: %d features per step\n", cfg->input);
    fprintf(f, "layers:\n");
    int width = cfg->input, rec = 0;
    for (int l = 0; l < cfg->nlayers; l++) {
        const vl_layer_spec *s = &cfg->layer[l];
        const vl_layer_def *k = vl_layer_def_of(s->kind);
        k->describe(f, s, l + 1, width, rec);
        fputc('\n', f);
        width = vl_layer_out_width(s, width);
        rec += k->gates > 0;
    }
    fprintf(f, "  head: fully connected %d -> %d%s\n", width, cfg->outputs,
            cfg->task == VL_TASK_CLASSIFY ? ", softmax" : "");
    if (vl_net_num_members(net) > 1)
        fprintf(f, "ensemble: %d members of this architecture (trained with seeds in turn); predictions average "
                   "their probabilities\n",
                vl_net_num_members(net));
    fprintf(f, "parameters: %zu in %d tensors%s\n", vl_net_param_count(net), vl_net_num_params(net),
            vl_net_num_members(net) > 1 ? " per member" : "");
    if (m.nclasses) {
        fprintf(f, "classes (%d):", m.nclasses);
        for (int i = 0; i < m.nclasses; i++)
            fprintf(f, "%s %d=%s", i ? "," : "", i, m.class_names[i]);
        fputc('\n', f);
    } else if (cfg->task == VL_TASK_CLASSIFY) {
        fprintf(f, "classes: %d (no names recorded)\n", cfg->outputs);
    }
    fprintf(f, "feature normalisation: %s\n", m.norm_mean ? "per-dimension (x - mean) / std, stored in the file" : "none");
    if (m.backbone[0]) {
        fprintf(f, "backbone: %s", m.backbone);
        if (m.tap[0])
            fprintf(f, ", tap %s", m.tap);
        fprintf(f, ", %d features\n", m.feature_dim);
        if (m.backbone_sha256[0])
            fprintf(f, "backbone SHA-256: %s\n", m.backbone_sha256);
        if (m.pre.width) {
            const vl_preproc *p = &m.pre;
            fprintf(f, "preprocessing: %dx%d, ", p->width, p->height);
            if (p->resize == VL_RESIZE_EXACT)
                fprintf(f, "resize to exactly that size");
            else
                fprintf(f, "shorter side to %d then centre crop", p->resize_to);
            if (p->grey)
                fprintf(f, ", luma only, scale %g, mean %g, std %g\n", (double)p->scale, (double)p->mean[0],
                        (double)p->std[0]);
            else
                fprintf(f, ", %s, scale %g, mean (%g, %g, %g), std (%g, %g, %g), %s\n", p->bgr ? "BGR" : "RGB",
                        (double)p->scale, (double)p->mean[0], (double)p->mean[1], (double)p->mean[2],
                        (double)p->std[0], (double)p->std[1], (double)p->std[2], p->nhwc ? "NHWC" : "NCHW");
        }
        if (m.has_input_norm) {
            const vl_input_norm *n = &m.input_norm;
            fprintf(f, "input preprocessing: %s (pixels to %g..%g, %s, mean R,G,B (%g, %g, %g), std (%g, %g, %g)), "
                       "chosen at extraction and repeated by predict\n",
                    n->preset, (double)n->lo, (double)n->hi, n->bgr ? "BGR" : "RGB", (double)n->mean[0],
                    (double)n->mean[1], (double)n->mean[2], (double)n->std[0], (double)n->std[1], (double)n->std[2]);
        } else if (m.pre.width && !m.pre.grey && strncmp(m.backbone, "builtin:", 8)) { /* an ONNX first part */
            const char *pn = vl_input_norm_match(&m.pre);
            fprintf(f, "input preprocessing: the backbone's own%s%s%s\n", pn ? " (" : "", pn ? pn : "", pn ? ")" : "");
        }
        if (m.precision != VL_PREC_FP32)
            fprintf(f, "backbone precision: %s (chosen at extraction and repeated by predict)\n",
                    vl_precision_name(m.precision));
        if (m.fps > 0)
            fprintf(f, "sampling: %g frames per second\n", m.fps);
        else if (m.every_k > 0)
            fprintf(f, "sampling: every %d%s frame\n", m.every_k, ordinal_suffix(m.every_k));
    } else {
        fprintf(f, "backbone: not recorded (features must come from the same extractor as in training)\n");
    }
    if (m.training_json)
        fprintf(f, "training: %s\n", m.training_json);
    vl_st_free(&st);
    vl_model_meta_free(&m);
    vl_net_free(net);
    return VL_OK;
}

char *vl_model_backbone_json(const vl_model_meta *meta)
{
    vl_jbuf b = {0};
    backbone_json(&b, meta);
    return vl_jbuf_take(&b);
}

vl_status vl_model_backbone_from_json(const char *json, const char *name, vl_model_meta *meta)
{
    return backbone_from_json(json, name, meta);
}

static int find_one_backbone(char *b, size_t bsize, const char *model_path);

int vl_model_find_backbone(vl_model_meta *meta, const char *model_path)
{
    char *b = meta->backbone;
    if (!strchr(b, '+') || access(b, R_OK) == 0)
        return find_one_backbone(b, sizeof meta->backbone, model_path);
    /* fused ("A+B"): each part on its own, then joined again */
    char parts[sizeof meta->backbone], out[sizeof meta->backbone] = "";
    memcpy(parts, b, strlen(b) + 1);
    int ok = 1;
    for (char *q = parts, *e; q; q = e ? e + 1 : NULL) {
        e = strchr(q, '+');
        if (e)
            *e = 0;
        char one[sizeof meta->backbone];
        snprintf(one, sizeof one, "%s", q);
        ok &= find_one_backbone(one, sizeof one, model_path);
        size_t l = strlen(out);
        if (snprintf(out + l, sizeof out - l, "%s%s", l ? "+" : "", one) >= (int)(sizeof out - l))
            return 0;
    }
    if (ok)
        memcpy(b, out, strlen(out) + 1);
    return ok;
}

static int find_one_backbone(char *b, size_t bsize, const char *model_path)
{
    if (!b[0] || !strncmp(b, "builtin:", 8))
        return 1;
    if (access(b, R_OK) == 0)
        return 1;
    const char *slash = strrchr(model_path, '/');
    int dl = slash ? (int)(slash - model_path + 1) : 0;
    const char *base = strrchr(b, '/');
    base = base ? base + 1 : b;
    const char *tries[2] = {b[0] != '/' ? b : NULL, base};
    for (int k = 0; k < 2; k++) {
        if (!tries[k])
            continue;
        char p[4096];
        if (snprintf(p, sizeof p, "%.*s%s", dl, model_path, tries[k]) >= (int)sizeof p || strlen(p) >= bsize)
            continue;
        if (access(p, R_OK) == 0) {
            memcpy(b, p, strlen(p) + 1);
            return 1;
        }
    }
    return 0;
}
