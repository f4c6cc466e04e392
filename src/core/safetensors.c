#include "core/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/error.h"
#include "core/outpath.h"
#include "core/json.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[VL_ST_NDTYPES] = {
    [VL_ST_F32] = {"F32", 4},         [VL_ST_F64] = {"F64", 8},          [VL_ST_F16] = {"F16", 2},
    [VL_ST_BF16] = {"BF16", 2},       [VL_ST_I64] = {"I64", 8},          [VL_ST_I32] = {"I32", 4},
    [VL_ST_I16] = {"I16", 2},         [VL_ST_I8] = {"I8", 1},            [VL_ST_U64] = {"U64", 8},
    [VL_ST_U32] = {"U32", 4},         [VL_ST_U16] = {"U16", 2},          [VL_ST_U8] = {"U8", 1},
    [VL_ST_BOOL] = {"BOOL", 1},       [VL_ST_F8_E4M3] = {"F8_E4M3", 1}, [VL_ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *vl_st_dtype_name(vl_st_dtype t) { return (unsigned)t < VL_ST_NDTYPES ? dtypes[t].name : "?"; }
size_t vl_st_dtype_size(vl_st_dtype t) { return (unsigned)t < VL_ST_NDTYPES ? dtypes[t].size : 0; }

void vl_st_free(vl_st_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->ntensors; i++)
        free(f->tensors[i].name);
    for (int i = 0; i < f->nmeta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->buf);
    free(f->name);
    memset(f, 0, sizeof *f);
}

const vl_st_tensor *vl_st_find(const vl_st_file *f, const char *name)
{
    for (int i = 0; i < f->ntensors; i++)
        if (!strcmp(f->tensors[i].name, name))
            return &f->tensors[i];
    return NULL;
}

const char *vl_st_meta(const vl_st_file *f, const char *key)
{
    for (int i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta_keys[i], key))
            return f->meta_values[i];
    return NULL;
}

/* ---- reading -------------------------------------------------------------------- */

static int cmp_offsets(const void *a, const void *b)
{
    const vl_st_tensor *x = *(const vl_st_tensor *const *)a, *y = *(const vl_st_tensor *const *)b;
    const unsigned char *px = x->data, *py = y->data;
    if (px != py)
        return px < py ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static vl_status parse_tensor(vl_st_file *f, const char *name, const vl_json *e, const unsigned char *data,
                              size_t dlen, vl_st_tensor *t)
{
    const char *fn = f->name;
    if (e->type != VL_JSON_OBJECT)
        return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s': header entry is a %s, not an object", fn, name,
                         vl_json_type_name(e->type));
    for (size_t i = 0; i < e->count; i++)
        if (strcmp(e->keys[i], "dtype") && strcmp(e->keys[i], "shape") && strcmp(e->keys[i], "data_offsets"))
            return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s': unknown header field '%s'", fn, name, e->keys[i]);
    const char *dt = vl_json_str(vl_json_get(e, "dtype"));
    if (!dt)
        return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s': no dtype string", fn, name);
    int k = 0;
    while (k < VL_ST_NDTYPES && strcmp(dtypes[k].name, dt))
        k++;
    if (k == VL_ST_NDTYPES)
        return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%.32s'", fn, name, dt);
    t->dtype = (vl_st_dtype)k;
    const vl_json *sh = vl_json_get(e, "shape");
    if (!sh || sh->type != VL_JSON_ARRAY)
        return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s': no shape array", fn, name);
    if (sh->count > VL_ST_MAXDIM)
        return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s': %zu dimensions (at most %d supported)", fn, name,
                         sh->count, VL_ST_MAXDIM);
    t->ndim = (int)sh->count;
    uint64_t count = 1;
    for (int d = 0; d < t->ndim; d++) {
        int64_t v;
        if (!vl_json_int(&sh->items[d], 0, INT64_C(1) << 53, &v))
            return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer", fn, name, d);
        t->shape[d] = v;
        if (__builtin_mul_overflow(count, (uint64_t)v, &count))
            return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s': shape overflows", fn, name);
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(count, (uint64_t)dtypes[k].size, &nbytes) || nbytes > dlen)
        return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s': shape needs more bytes than the file holds", fn, name);
    const vl_json *off = vl_json_get(e, "data_offsets");
    int64_t b, en;
    if (!off || off->type != VL_JSON_ARRAY || off->count != 2 || !vl_json_int(&off->items[0], 0, INT64_MAX, &b) ||
        !vl_json_int(&off->items[1], 0, INT64_MAX, &en))
        return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s': data_offsets must be two non-negative integers", fn, name);
    if (b > en)
        return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s': data_offsets [%lld, %lld] end before they begin", fn,
                         name, (long long)b, (long long)en);
    if ((uint64_t)en > dlen)
        return vl_seterr(VL_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%lld, %lld] reach past the end of the data (%zu bytes; "
                         "file truncated?)",
                         fn, name, (long long)b, (long long)en, dlen);
    if ((uint64_t)(en - b) != nbytes)
        return vl_seterr(VL_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets cover %lld bytes but %s shape needs %llu", fn, name,
                         (long long)(en - b), dt, (unsigned long long)nbytes);
    t->count = (int64_t)count;
    t->nbytes = (size_t)nbytes;
    t->data = data + b;
    return VL_OK;
}

/* ---- the data checksum ------------------------------------------------------------ */

/* FNV-style, a 64-bit word at a time (a byte-wise FNV costs about as much as
 * a small training epoch's arithmetic); the last n % 8 bytes byte-wise. The
 * state carries a partial word so that data handed over in pieces of any
 * length hashes like one run of bytes. */
typedef struct {
    uint64_t h;
    unsigned char c[8];
    size_t nc;
} whash;

#define WH_PRIME 0x100000001b3ULL

static void wh_init(whash *w) { *w = (whash){.h = 0xcbf29ce484222325ULL}; }

static inline uint64_t wh_word(uint64_t h, const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    h = (h ^ v) * WH_PRIME;
    return h ^ (h >> 29);
}

static void wh_update(whash *w, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (w->nc && n) {
        w->c[w->nc & 7] = *p++, w->nc++, n--;
        if (w->nc == 8)
            w->h = wh_word(w->h, w->c), w->nc = 0;
    }
    uint64_t h = w->h;
    for (; n >= 8; p += 8, n -= 8)
        h = wh_word(h, p);
    w->h = h;
    if (n) { /* here n < 8 and the carry is empty */
        memcpy(w->c, p, n & 7);
        w->nc = n & 7;
    }
}

static uint64_t wh_final(const whash *w)
{
    uint64_t h = w->h;
    for (size_t i = 0; i < w->nc; i++)
        h = (h ^ w->c[i]) * WH_PRIME;
    return h;
}

/* Checks the data against a VL_ST_CHECKSUM_KEY entry, when there is one. */
static vl_status check_sum(const vl_st_file *f, const unsigned char *data, size_t dlen)
{
    const char *v = vl_st_meta(f, VL_ST_CHECKSUM_KEY);
    if (!v)
        return VL_OK;
    const size_t pl = strlen(VL_ST_CHECKSUM_ALGO);
    char *end = NULL;
    if (strncmp(v, VL_ST_CHECKSUM_ALGO, pl) || strlen(v + pl) != 16)
        return vl_seterr(VL_ERR_FORMAT, "%s: unknown data checksum '%s' (this vidlstm writes " VL_ST_CHECKSUM_ALGO
                         "<16 hex digits>)", f->name, v);
    unsigned long long want = strtoull(v + pl, &end, 16);
    if (*end)
        return vl_seterr(VL_ERR_FORMAT, "%s: malformed data checksum '%s'", f->name, v);
    whash w;
    wh_init(&w);
    wh_update(&w, data, dlen);
    if (wh_final(&w) != (uint64_t)want)
        return vl_seterr(VL_ERR_FORMAT, "%s: data checksum mismatch: the file is corrupt (damaged after it was written)",
                         f->name);
    return VL_OK;
}

static vl_status parse_file(vl_st_file *f)
{
    const char *fn = f->name;
    if (f->size < 8)
        return vl_seterr(VL_ERR_FORMAT, "%s: not a safetensors file (%zu bytes, shorter than the 8-byte header length)",
                         fn, f->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | f->buf[i];
    if (n > VL_ST_MAX_HEADER)
        return vl_seterr(VL_ERR_FORMAT, "%s: not a safetensors file (header length %llu exceeds the %llu-byte limit)",
                         fn, (unsigned long long)n, (unsigned long long)VL_ST_MAX_HEADER);
    if (n > f->size - 8)
        return vl_seterr(VL_ERR_FORMAT, "%s: truncated or not safetensors: header length %llu but only %zu bytes follow",
                         fn, (unsigned long long)n, f->size - 8);
    if (n < 2 || f->buf[8] != '{')
        return vl_seterr(VL_ERR_FORMAT, "%s: not a safetensors file (header does not start with '{')", fn);
    char label[4200];
    snprintf(label, sizeof label, "%s: header", fn);
    vl_json *h;
    vl_status st = vl_json_parse((const char *)f->buf + 8, (size_t)n, label, &h);
    if (st)
        return st;
    const unsigned char *data = f->buf + 8 + n;
    size_t dlen = f->size - 8 - (size_t)n;
    size_t nt = h->count;
    const vl_json *md = vl_json_get(h, "__metadata__");
    if (md)
        nt--;
    f->tensors = calloc(nt ? nt : 1, sizeof *f->tensors);
    vl_st_tensor **order = calloc(nt ? nt : 1, sizeof *order);
    if (!f->tensors || !order) {
        st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", fn);
        goto done;
    }
    if (md) {
        if (md->type != VL_JSON_OBJECT) {
            st = vl_seterr(VL_ERR_FORMAT, "%s: __metadata__ is a %s, not an object", fn, vl_json_type_name(md->type));
            goto done;
        }
        f->meta_keys = calloc(md->count ? md->count : 1, sizeof(char *));
        f->meta_values = calloc(md->count ? md->count : 1, sizeof(char *));
        if (!f->meta_keys || !f->meta_values) {
            st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", fn);
            goto done;
        }
        for (size_t i = 0; i < md->count; i++) {
            const vl_json *v = &md->items[i];
            if (v->type != VL_JSON_STRING) {
                st = vl_seterr(VL_ERR_FORMAT, "%s: __metadata__ value '%s' is a %s; the format requires strings", fn,
                               md->keys[i], vl_json_type_name(v->type));
                goto done;
            }
            if (strlen(v->str) != v->len) {
                st = vl_seterr(VL_ERR_FORMAT, "%s: __metadata__ value '%s' contains a NUL character", fn, md->keys[i]);
                goto done;
            }
            f->meta_keys[i] = strdup(md->keys[i]);
            f->meta_values[i] = strdup(v->str);
            f->nmeta++;
            if (!f->meta_keys[i] || !f->meta_values[i]) {
                st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", fn);
                goto done;
            }
        }
    }
    for (size_t i = 0; i < h->count; i++) {
        if (!strcmp(h->keys[i], "__metadata__"))
            continue;
        vl_st_tensor *t = &f->tensors[f->ntensors];
        if ((st = parse_tensor(f, h->keys[i], &h->items[i], data, dlen, t)))
            goto done;
        if (!(t->name = strdup(h->keys[i]))) {
            st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", fn);
            goto done;
        }
        order[f->ntensors++] = t;
    }
    /* The tensors must tile the data buffer: sorted by offset, each begins
     * where the previous ended, and the last ends at the end of the file. */
    qsort(order, nt, sizeof *order, cmp_offsets);
    size_t pos = 0;
    for (size_t i = 0; i < nt; i++) {
        size_t b = (size_t)((const unsigned char *)order[i]->data - data);
        if (b < pos) {
            st = vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s' overlaps tensor '%s' (data_offsets begin at %zu, before %zu)",
                           fn, order[i]->name, order[i - 1]->name, b, pos);
            goto done;
        }
        if (b > pos) {
            st = vl_seterr(VL_ERR_FORMAT, "%s: gap in the data before tensor '%s' (bytes %zu..%zu belong to no tensor)",
                           fn, order[i]->name, pos, b);
            goto done;
        }
        pos = b + order[i]->nbytes;
    }
    if (pos != dlen) {
        st = vl_seterr(VL_ERR_FORMAT, "%s: %zu bytes of data after the last tensor (the header accounts for %zu of %zu)",
                       fn, dlen - pos, pos, dlen);
        goto done;
    }
    st = check_sum(f, data, dlen);
done:
    free(order);
    vl_json_free(h);
    return st;
}

static vl_status read_common(vl_st_file *out)
{
    vl_status st = parse_file(out);
    if (st) {
        /* keep the message: vl_st_free does not touch it */
        vl_st_free(out);
    }
    return st;
}

vl_status vl_st_read_memory(const void *data, size_t len, const char *name, vl_st_file *out)
{
    memset(out, 0, sizeof *out);
    out->name = strdup(name ? name : "<memory>");
    out->buf = malloc(len ? len : 1);
    if (!out->name || !out->buf) {
        vl_st_free(out);
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", name ? name : "<memory>");
    }
    if (len)
        memcpy(out->buf, data, len);
    out->size = len;
    return read_common(out);
}

vl_status vl_st_read(const char *path, vl_st_file *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return vl_seterr(VL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return vl_seterr(VL_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    out->name = strdup(path);
    out->buf = malloc(size ? size : 1);
    if (!out->name || !out->buf) {
        fclose(f);
        vl_st_free(out);
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory for %zu bytes", path, size);
    }
    size_t got = fread(out->buf, 1, size, f);
    int err = ferror(f);
    fclose(f);
    if (got != size || err) {
        vl_st_free(out);
        return vl_seterr(VL_ERR_IO, "%s: read failed", path);
    }
    out->size = size;
    return read_common(out);
}

/* IEEE half -> float, exact (subnormals, Inf and NaN included). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023, bits;
    if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp == 0) {
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

vl_status vl_st_to_f32(const vl_st_file *f, const vl_st_tensor *t, float *dst)
{
    const unsigned char *s = t->data;
    switch (t->dtype) {
    case VL_ST_F32:
        if (t->nbytes)
            memcpy(dst, s, t->nbytes);
        return VL_OK;
    case VL_ST_F64:
        for (int64_t i = 0; i < t->count; i++) {
            double d;
            memcpy(&d, s + 8 * i, 8);
            dst[i] = (float)d;
        }
        return VL_OK;
    case VL_ST_F16:
        for (int64_t i = 0; i < t->count; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = half_to_float(h);
        }
        return VL_OK;
    case VL_ST_BF16:
        for (int64_t i = 0; i < t->count; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            uint32_t bits = (uint32_t)h << 16;
            memcpy(&dst[i], &bits, 4);
        }
        return VL_OK;
    default:
        return vl_seterr(VL_ERR_FORMAT, "%s: tensor '%s' has dtype %s; a floating-point type (F32, F64, F16, BF16) "
                                        "is required",
                         f->name, t->name, vl_st_dtype_name(t->dtype));
    }
}

/* ---- writing -------------------------------------------------------------------- */

vl_status vl_st_write(const char *path, const vl_st_entry *t, int n, const char *const *meta_keys,
                      const char *const *meta_values, int nmeta)
{
    return vl_st_write_ex(path, t, n, meta_keys, meta_values, nmeta, 0);
}

vl_status vl_st_write_ex(const char *path, const vl_st_entry *t, int n, const char *const *meta_keys,
                         const char *const *meta_values, int nmeta, unsigned flags)
{
    vl_jbuf h = {0};
    size_t *nbytes = calloc((size_t)(n > 0 ? n : 1), sizeof *nbytes);
    if (!nbytes)
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
    vl_status st = VL_OK;
    for (int i = 0; i < n; i++) {
        if (!t[i].name || !t[i].name[0] || !strcmp(t[i].name, "__metadata__")) {
            st = vl_seterr(VL_ERR_ARG, "%s: tensor %d has an empty or reserved name", path, i);
            goto done;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(t[j].name, t[i].name)) {
                st = vl_seterr(VL_ERR_ARG, "%s: two tensors named '%s'", path, t[i].name);
                goto done;
            }
        if ((unsigned)t[i].dtype >= VL_ST_NDTYPES || t[i].ndim < 0 || t[i].ndim > VL_ST_MAXDIM) {
            st = vl_seterr(VL_ERR_ARG, "%s: tensor '%s': bad dtype or rank", path, t[i].name);
            goto done;
        }
        uint64_t c = 1;
        for (int d = 0; d < t[i].ndim; d++)
            if (t[i].shape[d] < 0 || __builtin_mul_overflow(c, (uint64_t)t[i].shape[d], &c)) {
                st = vl_seterr(VL_ERR_ARG, "%s: tensor '%s': bad shape", path, t[i].name);
                goto done;
            }
        nbytes[i] = (size_t)(c * dtypes[t[i].dtype].size);
        if (nbytes[i] && !t[i].data) {
            st = vl_seterr(VL_ERR_ARG, "%s: tensor '%s' has no data", path, t[i].name);
            goto done;
        }
    }
    for (int i = 0; i < nmeta; i++)
        if ((flags & VL_ST_CHECKSUM) && !strcmp(meta_keys[i], VL_ST_CHECKSUM_KEY)) {
            st = vl_seterr(VL_ERR_ARG, "%s: metadata key '%s' is written by the checksum itself", path, meta_keys[i]);
            goto done;
        }
    char sum[64] = "";
    if (flags & VL_ST_CHECKSUM) {
        whash w;
        wh_init(&w);
        for (int i = 0; i < n; i++)
            if (nbytes[i])
                wh_update(&w, t[i].data, nbytes[i]);
        snprintf(sum, sizeof sum, VL_ST_CHECKSUM_ALGO "%016llx", (unsigned long long)wh_final(&w));
    }
    vl_jbuf_puts(&h, "{");
    int first = 1;
    if (nmeta > 0 || sum[0]) {
        vl_jbuf_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i)
                vl_jbuf_puts(&h, ",");
            vl_jbuf_string(&h, meta_keys[i]);
            vl_jbuf_puts(&h, ":");
            vl_jbuf_string(&h, meta_values[i]);
        }
        if (sum[0]) {
            if (nmeta)
                vl_jbuf_puts(&h, ",");
            vl_jbuf_string(&h, VL_ST_CHECKSUM_KEY);
            vl_jbuf_puts(&h, ":");
            vl_jbuf_string(&h, sum);
        }
        vl_jbuf_puts(&h, "}");
        first = 0;
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        if (!first)
            vl_jbuf_puts(&h, ",");
        first = 0;
        vl_jbuf_string(&h, t[i].name);
        vl_jbuf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", dtypes[t[i].dtype].name);
        for (int d = 0; d < t[i].ndim; d++)
            vl_jbuf_printf(&h, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        vl_jbuf_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                       (unsigned long long)(off + nbytes[i]));
        off += nbytes[i];
    }
    vl_jbuf_puts(&h, "}");
    while (h.len % 8)
        vl_jbuf_puts(&h, " ");
    if (h.failed) {
        st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory for the header", path);
        goto done;
    }

    /* the temp+rename below would replace a symlink or a device node with a regular file */
    if (vl_path_kind(path)) {
        st = vl_seterr(VL_ERR_ARG, "%s: exists and is %s, not a regular file: not replaced", path, vl_path_kind(path));
        goto done;
    }
    vl_atomic a;
    if ((st = vl_atomic_open(path, &a)))
        goto done;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    int ok = fwrite(len8, 1, 8, a.f) == 8 && fwrite(h.data, 1, h.len, a.f) == h.len;
    for (int i = 0; i < n && ok; i++)
        ok = !nbytes[i] || fwrite(t[i].data, 1, nbytes[i], a.f) == nbytes[i];
    if (!ok) {
        st = vl_seterr(VL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        vl_atomic_abort(&a);
        goto done;
    }
    st = vl_atomic_commit(&a);
done:
    vl_jbuf_free(&h);
    free(nbytes);
    return st;
}
