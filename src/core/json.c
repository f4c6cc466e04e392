#include "core/json.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/utf8.h"

/* ---- parser ------------------------------------------------------------------- */

typedef struct {
    const char *s;
    size_t len, pos;
    const char *name;
    vl_status st; /* first error */
} parser;

static int fail(parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(parser *p, size_t at, const char *fmt, ...)
{
    if (p->st)
        return 0;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->st = vl_seterr(VL_ERR_FORMAT, "%s: invalid JSON at byte %zu: %s", p->name, at, msg);
    return 0;
}

static int nomem(parser *p)
{
    if (!p->st)
        p->st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory parsing JSON", p->name);
    return 0;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int peek(const parser *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }

static void describe_char(const parser *p, char *buf, size_t n)
{
    int c = peek(p);
    if (c < 0)
        snprintf(buf, n, "end of input");
    else if (c >= 0x20 && c < 0x7f)
        snprintf(buf, n, "'%c'", c);
    else
        snprintf(buf, n, "byte 0x%02x", c);
}

static int expect_literal(parser *p, const char *lit)
{
    size_t n = strlen(lit);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, lit, n) != 0)
        return fail(p, p->pos, "invalid literal (expected %s)", lit);
    p->pos += n;
    return 1;
}

static int hex4(parser *p, unsigned *out)
{
    if (p->len - p->pos < 4)
        return fail(p, p->pos, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos + (size_t)i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return fail(p, p->pos + (size_t)i, "invalid hex digit in \\u escape");
    }
    p->pos += 4;
    *out = v;
    return 1;
}

static size_t put_utf8(char *d, unsigned cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 if invalid
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t k;
    unsigned cp, min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) k = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) k = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) k = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return k;
}

/* Parses a string at p->pos (which is at the opening quote). The decoded
 * text is never longer than the source, so one allocation suffices. */
static int parse_string(parser *p, char **out, size_t *outlen)
{
    size_t start = p->pos++;
    size_t end = p->pos; /* find the closing quote to size the buffer */
    while (end < p->len && p->s[end] != '"') {
        if (p->s[end] == '\\')
            end++;
        end++;
    }
    if (end >= p->len)
        return fail(p, start, "unterminated string");
    char *d = malloc(end - p->pos + 1);
    if (!d)
        return nomem(p);
    size_t n = 0;
    while (1) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) {
            free(d);
            return fail(p, p->pos, "unescaped control character 0x%02x in a string", c);
        }
        if (c == '\\') {
            char e = p->s[p->pos + 1];
            p->pos += 2;
            switch (e) {
            case '"': d[n++] = '"'; break;
            case '\\': d[n++] = '\\'; break;
            case '/': d[n++] = '/'; break;
            case 'b': d[n++] = '\b'; break;
            case 'f': d[n++] = '\f'; break;
            case 'n': d[n++] = '\n'; break;
            case 'r': d[n++] = '\r'; break;
            case 't': d[n++] = '\t'; break;
            case 'u': {
                unsigned cp, lo;
                size_t at = p->pos - 2;
                if (!hex4(p, &cp)) {
                    free(d);
                    return 0;
                }
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    free(d);
                    return fail(p, at, "lone low surrogate \\u%04X", cp);
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                        free(d);
                        return fail(p, at, "high surrogate \\u%04X not followed by a low surrogate", cp);
                    }
                    p->pos += 2;
                    if (!hex4(p, &lo)) {
                        free(d);
                        return 0;
                    }
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        free(d);
                        return fail(p, at, "high surrogate \\u%04X not followed by a low surrogate", cp);
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                n += put_utf8(d + n, cp); /* <= the 6 or 12 source bytes */
                break;
            }
            default:
                free(d);
                return fail(p, p->pos - 2, "invalid escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?');
            }
            continue;
        }
        size_t k = utf8_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
        if (!k) {
            free(d);
            return fail(p, p->pos, "invalid UTF-8 in a string");
        }
        memcpy(d + n, p->s + p->pos, k);
        n += k;
        p->pos += k;
    }
    d[n] = 0;
    *out = d;
    *outlen = n;
    return 1;
}

static int parse_number(parser *p, double *out)
{
    size_t start = p->pos, i = p->pos;
    const char *s = p->s;
#define DIGIT(j) ((j) < p->len && s[j] >= '0' && s[j] <= '9')
    if (i < p->len && s[i] == '-')
        i++;
    if (!DIGIT(i))
        return fail(p, i, "invalid number");
    if (s[i] == '0') {
        i++;
        if (DIGIT(i))
            return fail(p, start, "number with a leading zero");
    } else {
        while (DIGIT(i)) i++;
    }
    if (i < p->len && s[i] == '.') {
        i++;
        if (!DIGIT(i))
            return fail(p, i, "digits expected after the decimal point");
        while (DIGIT(i)) i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (!DIGIT(i))
            return fail(p, i, "digits expected in the exponent");
        while (DIGIT(i)) i++;
    }
#undef DIGIT
    size_t n = i - start;
    char small[64], *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf)
        return nomem(p);
    memcpy(buf, s + start, n);
    buf[n] = 0;
    /* strtod follows the locale's decimal point: translate ours to it. */
    const char *dp = localeconv()->decimal_point;
    if (dp && dp[0] && dp[0] != '.' && !dp[1]) {
        char *q = strchr(buf, '.');
        if (q) *q = dp[0];
    }
    double v = strtod(buf, NULL);
    if (buf != small)
        free(buf);
    if (!isfinite(v))
        return fail(p, start, "number out of range");
    *out = v;
    p->pos = i;
    return 1;
}

static int parse_value(parser *p, vl_json *v, int depth);

static int grow(parser *p, void **arr, size_t elem, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 1;
    size_t nc = *cap ? *cap * 2 : 4;
    void *n = realloc(*arr, nc * elem);
    if (!n)
        return nomem(p);
    *arr = n;
    *cap = nc;
    return 1;
}

static int parse_array(parser *p, vl_json *v, int depth)
{
    size_t cap = 0;
    p->pos++; /* '[' */
    skip_ws(p);
    if (peek(p) == ']') {
        p->pos++;
        return 1;
    }
    while (1) {
        if (!grow(p, (void **)&v->items, sizeof *v->items, &cap, v->count + 1))
            return 0;
        vl_json *it = &v->items[v->count++]; /* counted now, so a partial value is freed */
        memset(it, 0, sizeof *it);
        if (!parse_value(p, it, depth + 1))
            return 0;
        skip_ws(p);
        int c = peek(p);
        if (c == ',') {
            p->pos++;
            skip_ws(p);
            continue;
        }
        if (c == ']') {
            p->pos++;
            return 1;
        }
        char what[32];
        describe_char(p, what, sizeof what);
        return fail(p, p->pos, "expected ',' or ']' in an array, found %s", what);
    }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Duplicate keys make a document ambiguous: reject them (sorting keeps this
 * O(n log n) for huge objects). */
static int check_duplicates(parser *p, const vl_json *v, size_t open)
{
    if (v->count < 2)
        return 1;
    char **k = malloc(v->count * sizeof *k);
    if (!k)
        return nomem(p);
    memcpy(k, v->keys, v->count * sizeof *k);
    qsort(k, v->count, sizeof *k, cmp_str);
    for (size_t i = 1; i < v->count; i++)
        if (!strcmp(k[i - 1], k[i])) {
            fail(p, open, "duplicate key \"%.60s\" in the object", k[i]);
            free(k);
            return 0;
        }
    free(k);
    return 1;
}

static int parse_object(parser *p, vl_json *v, int depth)
{
    size_t cap = 0, kcap = 0;
    size_t open = p->pos++;
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
        return 1;
    }
    while (1) {
        char what[32];
        if (peek(p) != '"') {
            describe_char(p, what, sizeof what);
            return fail(p, p->pos, "expected a string key in the object at byte %zu, found %s", open, what);
        }
        if (!grow(p, (void **)&v->items, sizeof *v->items, &cap, v->count + 1) ||
            !grow(p, (void **)&v->keys, sizeof *v->keys, &kcap, v->count + 1))
            return 0;
        size_t kat = p->pos, klen;
        char *key;
        if (!parse_string(p, &key, &klen))
            return 0;
        if (strlen(key) != klen) {
            free(key);
            return fail(p, kat, "object key contains a NUL character");
        }
        vl_json *it = &v->items[v->count];
        memset(it, 0, sizeof *it);
        v->keys[v->count++] = key; /* counted now, so vl_json_free releases it */
        skip_ws(p);
        if (peek(p) != ':') {
            describe_char(p, what, sizeof what);
            return fail(p, p->pos, "expected ':' after an object key, found %s", what);
        }
        p->pos++;
        skip_ws(p);
        if (!parse_value(p, it, depth + 1))
            return 0;
        skip_ws(p);
        int c = peek(p);
        if (c == ',') {
            p->pos++;
            skip_ws(p);
            continue;
        }
        if (c == '}') {
            p->pos++;
            return check_duplicates(p, v, open);
        }
        describe_char(p, what, sizeof what);
        return fail(p, p->pos, "expected ',' or '}' in an object, found %s", what);
    }
}

static int parse_value(parser *p, vl_json *v, int depth)
{
    if (depth > VL_JSON_MAX_DEPTH)
        return fail(p, p->pos, "nested deeper than %d levels", VL_JSON_MAX_DEPTH);
    skip_ws(p);
    v->offset = p->pos;
    int c = peek(p);
    switch (c) {
    case '{': v->type = VL_JSON_OBJECT; return parse_object(p, v, depth);
    case '[': v->type = VL_JSON_ARRAY; return parse_array(p, v, depth);
    case '"': v->type = VL_JSON_STRING; return parse_string(p, &v->str, &v->len);
    case 't': v->type = VL_JSON_BOOL; v->boolean = 1; return expect_literal(p, "true");
    case 'f': v->type = VL_JSON_BOOL; return expect_literal(p, "false");
    case 'n': v->type = VL_JSON_NULL; return expect_literal(p, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            v->type = VL_JSON_NUMBER;
            return parse_number(p, &v->number);
        }
        char what[32];
        describe_char(p, what, sizeof what);
        return fail(p, p->pos, "expected a value, found %s", what);
    }
}

static void free_contents(vl_json *v)
{
    if (v->type == VL_JSON_ARRAY || v->type == VL_JSON_OBJECT) {
        for (size_t i = 0; i < v->count; i++) {
            free_contents(&v->items[i]);
            if (v->keys)
                free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
    } else if (v->type == VL_JSON_STRING) {
        free(v->str);
    }
}

void vl_json_free(vl_json *v)
{
    if (!v)
        return;
    free_contents(v);
    free(v);
}

vl_status vl_json_parse(const char *text, size_t len, const char *name, vl_json **out)
{
    *out = NULL;
    if (!name)
        name = "JSON";
    if (len > VL_JSON_MAX_BYTES)
        return vl_seterr(VL_ERR_FORMAT, "%s: JSON text of %zu bytes exceeds the %zu-byte limit", name, len,
                         VL_JSON_MAX_BYTES);
    vl_json *root = calloc(1, sizeof *root);
    if (!root)
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory parsing JSON", name);
    parser p = {.s = text, .len = len, .name = name};
    if (parse_value(&p, root, 1)) {
        skip_ws(&p);
        if (p.pos != len)
            fail(&p, p.pos, "unexpected data after the JSON value");
    }
    if (p.st) {
        vl_json_free(root);
        return p.st;
    }
    *out = root;
    return VL_OK;
}

/* ---- lookup ------------------------------------------------------------------- */

const char *vl_json_type_name(vl_json_type t)
{
    switch (t) {
    case VL_JSON_NULL: return "null";
    case VL_JSON_BOOL: return "boolean";
    case VL_JSON_NUMBER: return "number";
    case VL_JSON_STRING: return "string";
    case VL_JSON_ARRAY: return "array";
    case VL_JSON_OBJECT: return "object";
    }
    return "?";
}

const vl_json *vl_json_get(const vl_json *v, const char *key)
{
    if (!v || v->type != VL_JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < v->count; i++)
        if (!strcmp(v->keys[i], key))
            return &v->items[i];
    return NULL;
}

const vl_json *vl_json_at(const vl_json *v, size_t i)
{
    if (!v || v->type != VL_JSON_ARRAY || i >= v->count)
        return NULL;
    return &v->items[i];
}

size_t vl_json_count(const vl_json *v)
{
    return v && (v->type == VL_JSON_ARRAY || v->type == VL_JSON_OBJECT) ? v->count : 0;
}

const char *vl_json_str(const vl_json *v) { return v && v->type == VL_JSON_STRING ? v->str : NULL; }

int vl_json_number(const vl_json *v, double *out)
{
    if (!v || v->type != VL_JSON_NUMBER)
        return 0;
    *out = v->number;
    return 1;
}

int vl_json_bool(const vl_json *v, int *out)
{
    if (!v || v->type != VL_JSON_BOOL)
        return 0;
    *out = v->boolean;
    return 1;
}

int vl_json_int(const vl_json *v, int64_t lo, int64_t hi, int64_t *out)
{
    double d;
    /* the 2^63 bounds keep the cast defined whatever lo and hi are */
    if (!vl_json_number(v, &d) || d != floor(d) || d < (double)lo || d > (double)hi || d >= 0x1p63 || d < -0x1p63)
        return 0;
    *out = (int64_t)d;
    return 1;
}

/* ---- writer ------------------------------------------------------------------- */

void vl_jbuf_append(vl_jbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *d = realloc(b->data, nc);
        if (!d) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = nc;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void vl_jbuf_puts(vl_jbuf *b, const char *s) { vl_jbuf_append(b, s, strlen(s)); }

void vl_jbuf_printf(vl_jbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        vl_jbuf_append(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    vl_jbuf_append(b, big, (size_t)n);
    free(big);
}

void vl_jbuf_string(vl_jbuf *b, const char *s)
{
    vl_jbuf_append(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7F) {
                snprintf(u, sizeof u, "\\u%04x", c);
                esc = u;
            } else if (c >= 0x80) {
                /* JSON text must be UTF-8: a malformed byte becomes U+FFFD, so
                 * whatever we write, our reader (and any other) can read back */
                uint32_t cp;
                int len = vl_utf8_next(s, &cp);
                if (cp == 0xFFFD && len == 1)
                    esc = "\xEF\xBF\xBD";
                else
                    s += len - 1;
            }
        }
        if (esc) {
            vl_jbuf_append(b, run, (size_t)(s - run));
            vl_jbuf_puts(b, esc);
            run = s + 1;
        }
    }
    vl_jbuf_append(b, run, (size_t)(s - run));
    vl_jbuf_append(b, "\"", 1);
}

/* The shortest %g (precision 1..maxprec) that strtod reads back as v, in
 * the C locale's notation whatever the process locale. */
static void shortest_g(char *buf, size_t n, double v, int maxprec, int as_float)
{
    for (int prec = 1; prec <= maxprec; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        double back = strtod(buf, NULL); /* same locale as snprintf */
        if (prec == maxprec || (as_float ? (float)back == (float)v : back == v))
            break;
    }
    const char *dp = localeconv()->decimal_point;
    if (dp && dp[0] && dp[0] != '.' && !dp[1]) {
        char *q = strchr(buf, dp[0]);
        if (q) *q = '.';
    }
}

void vl_jbuf_number(vl_jbuf *b, double v)
{
    if (!isfinite(v)) {
        vl_jbuf_puts(b, "null");
        return;
    }
    char buf[48];
    shortest_g(buf, sizeof buf, v, 17, 0);
    vl_jbuf_puts(b, buf);
}

void vl_jbuf_float(vl_jbuf *b, float v)
{
    if (!isfinite(v)) {
        vl_jbuf_puts(b, "null");
        return;
    }
    char buf[48];
    shortest_g(buf, sizeof buf, (double)v, 9, 1);
    vl_jbuf_puts(b, buf);
}

void vl_jbuf_free(vl_jbuf *b)
{
    free(b->data);
    *b = (vl_jbuf){0};
}

char *vl_jbuf_take(vl_jbuf *b)
{
    char *s = b->data ? b->data : calloc(1, 1);
    *b = (vl_jbuf){0};
    return s;
}
