/* libFuzzer target for the JSON parser (src/core/json.c) and the readers on
 * top of it that take user JSON (model architecture, backbone record): any
 * text must give VL_OK or an error, never a crash, a hang or a leak (ASan +
 * UBSan). Parsed trees are walked through the accessors and re-serialised;
 * each string and number written back must parse to the same value.
 * Seeds: tests/fuzz/json/seeds. See run_fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "model/modelfile.h"

/* What the writer makes of a parsed string or number must parse back to
 * the same bytes / the same double: model files and reports carry it. */
static void roundtrip(const vl_json *v)
{
    if (v->type == VL_JSON_STRING && strlen(v->str) != v->len)
        return; /* "\u0000": the writer takes C strings */
    vl_jbuf w = {0};
    if (v->type == VL_JSON_STRING)
        vl_jbuf_string(&w, v->str);
    else
        vl_jbuf_number(&w, v->number);
    vl_json *back;
    if (!w.failed) {
        if (vl_json_parse(w.data, w.len, "roundtrip", &back) != VL_OK || back->type != v->type)
            abort(); /* the writer made JSON its own parser refuses */
        if (v->type == VL_JSON_STRING ? back->len != v->len || memcmp(back->str, v->str, v->len)
                                      : back->number != v->number) /* == : -0 may come back as 0 */
            abort();
        vl_json_free(back);
    }
    vl_jbuf_free(&w);
}

static void walk(const vl_json *v, vl_jbuf *b, int depth)
{
    if (v->type == VL_JSON_STRING || v->type == VL_JSON_NUMBER)
        roundtrip(v);
    double d;
    int bo;
    int64_t i64;
    switch (v->type) {
    case VL_JSON_STRING:
        vl_jbuf_string(b, vl_json_str(v));
        break;
    case VL_JSON_NUMBER:
        vl_json_number(v, &d);
        vl_json_int(v, -1000, 1000, &i64);
        vl_jbuf_number(b, d);
        break;
    case VL_JSON_BOOL:
        vl_json_bool(v, &bo);
        vl_jbuf_puts(b, bo ? "true" : "false");
        break;
    case VL_JSON_ARRAY:
    case VL_JSON_OBJECT:
        for (size_t k = 0; k < vl_json_count(v); k++) {
            if (v->type == VL_JSON_ARRAY && vl_json_at(v, k) != &v->items[k])
                abort();
            if (v->type == VL_JSON_OBJECT) {
                vl_jbuf_string(b, v->keys[k]);
                if (vl_json_get(v, v->keys[k]) == NULL)
                    abort(); /* a member the parser returned must be found */
            }
            walk(&v->items[k], b, depth + 1);
        }
        break;
    default:
        vl_jbuf_puts(b, vl_json_type_name(v->type));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vl_json *root;
    if (vl_json_parse((const char *)data, size, "fuzz.json", &root) == VL_OK) {
        vl_jbuf b = {0};
        walk(root, &b, 0);
        vl_jbuf_free(&b);
        vl_json_free(root);
    }
    /* The readers take NUL-terminated text. */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    vl_net_config cfg;
    if (vl_arch_from_json(s, "fuzz.json", &cfg) == VL_OK) {
        char *j = NULL;
        if (vl_arch_to_json(&cfg, &j) == VL_OK)
            free(j);
    }
    vl_model_meta meta = {0};
    vl_model_backbone_from_json(s, "fuzz.json", &meta);
    vl_model_meta_free(&meta);
    free(s);
    return 0;
}
