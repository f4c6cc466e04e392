/* JSON: a small strict parser into a tree, lookup helpers, and a writer.
 *
 * Parsing follows RFC 8259 exactly: objects, arrays, strings (escapes
 * including \uXXXX with surrogate pairs, decoded to UTF-8; the input must be
 * valid UTF-8; control characters must be escaped), numbers (no leading
 * zeros, no '+', no NaN/Infinity), true, false, null. Nothing else: no
 * comments, no trailing commas, no duplicate keys in one object, nothing but
 * whitespace after the value. Nesting is limited to VL_JSON_MAX_DEPTH and
 * input to VL_JSON_MAX_BYTES. Errors name the source and the byte offset:
 *     "model.safetensors: header JSON: byte 17: expected ':' after an object key"
 *
 *   vl_json *root;
 *   if (vl_json_parse(text, len, "config.json", &root)) return error;  // vl_errmsg() says why
 *   const vl_json *h = vl_json_get(root, "hidden");
 *   double v;  if (vl_json_number(h, &v)) ...
 *   vl_json_free(root);
 *
 * Numbers are parsed as double (exact for integers up to 2^53) whatever the
 * process locale. Lookup helpers accept NULL and return NULL / 0, so chains
 * like vl_json_str(vl_json_get(vl_json_get(root, "a"), "b")) are safe.
 *
 * Writing: vl_jbuf is a growable string; vl_jbuf_string appends a quoted,
 * escaped string, vl_jbuf_number / vl_jbuf_float the shortest decimal that
 * reads back to the same double / float. A failed allocation sets `failed`
 * and later appends do nothing, so callers check once at the end. */
#ifndef VL_CORE_JSON_H
#define VL_CORE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "vidlstm.h"

#define VL_JSON_MAX_DEPTH 64
#define VL_JSON_MAX_BYTES ((size_t)100 << 20)

typedef enum {
    VL_JSON_NULL,
    VL_JSON_BOOL,
    VL_JSON_NUMBER,
    VL_JSON_STRING,
    VL_JSON_ARRAY,
    VL_JSON_OBJECT,
} vl_json_type;

typedef struct vl_json vl_json;
struct vl_json {
    vl_json_type type;
    size_t offset;   /* byte offset of the value in the parsed text */
    int boolean;     /* VL_JSON_BOOL: 0 or 1 */
    double number;   /* VL_JSON_NUMBER */
    char *str;       /* VL_JSON_STRING: UTF-8, NUL-terminated */
    size_t len;      /* string length in bytes (a "\u0000" escape makes it differ from strlen) */
    size_t count;    /* VL_JSON_ARRAY / VL_JSON_OBJECT: number of elements / members */
    vl_json *items;  /* [count] elements or member values, in document order */
    char **keys;     /* VL_JSON_OBJECT: [count] member names (NUL-terminated) */
};

/* Parses text[0..len) (need not be NUL-terminated). `name` labels errors
 * (a file name, or "file: header"). On failure *out is NULL. */
vl_status vl_json_parse(const char *text, size_t len, const char *name, vl_json **out);
void vl_json_free(vl_json *v);

const char *vl_json_type_name(vl_json_type t); /* "null", "boolean", "number", ... */

/* Member `key` of an object (NULL if v is not an object or has no such member). */
const vl_json *vl_json_get(const vl_json *v, const char *key);
/* Element i of an array (NULL if v is not an array or i is out of range). */
const vl_json *vl_json_at(const vl_json *v, size_t i);
/* Elements of an array or members of an object; 0 for anything else. */
size_t vl_json_count(const vl_json *v);
/* The string of a string value, else NULL. */
const char *vl_json_str(const vl_json *v);
/* Return 1 and store the value when v has that type, else 0. */
int vl_json_number(const vl_json *v, double *out);
int vl_json_bool(const vl_json *v, int *out);
/* A number that is an integer within [lo, hi]. */
int vl_json_int(const vl_json *v, int64_t lo, int64_t hi, int64_t *out);

/* ---- writing ------------------------------------------------------------------ */

typedef struct {
    char *data; /* NUL-terminated (NULL while empty) */
    size_t len, cap;
    int failed; /* an allocation failed: contents are incomplete */
} vl_jbuf;

void vl_jbuf_append(vl_jbuf *b, const char *s, size_t n);
void vl_jbuf_puts(vl_jbuf *b, const char *s);
void vl_jbuf_printf(vl_jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal: quotes, \" \\ \b \f \n \r \t, \u00XX for other control characters. */
void vl_jbuf_string(vl_jbuf *b, const char *s);
/* Shortest round-tripping decimal; non-finite values are written as null (JSON has no NaN). */
void vl_jbuf_number(vl_jbuf *b, double v);
void vl_jbuf_float(vl_jbuf *b, float v);
void vl_jbuf_free(vl_jbuf *b);
/* Hands over the string (caller frees with free()); the buffer is reset. "" when empty. */
char *vl_jbuf_take(vl_jbuf *b);

#endif
