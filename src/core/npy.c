#include "core/npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/atomic.h"
#include "core/outpath.h"
#include "core/mem.h"

/* Finds `'key':` in the header dict and returns a pointer just past the colon. */
static const char *dict_value(const char *hdr, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(hdr, pat);
    if (!p)
        return NULL;
    p = strchr(p + strlen(pat), ':');
    return p ? p + 1 : NULL;
}

/* What a file that is not .npy looks like, from its first bytes: a named
 * format beats "bad magic" when someone passes an image or a video. */
static const char *npy_sniff(const unsigned char *b, size_t n)
{
    if (n == 0)
        return "empty";
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8))
        return "an image (PNG)";
    if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6)))
        return "an image (GIF)";
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return "an image (JPEG)";
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4))
        return "an image (WebP)";
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "AVI ", 4))
        return "a video (AVI)";
    if (n >= 8 && !memcmp(b + 4, "ftyp", 4))
        return "a video (MP4/MOV)";
    if (n >= 4 && !memcmp(b, "\x1a\x45\xdf\xa3", 4))
        return "a video (Matroska/WebM)";
    if (n >= 9 && b[8] == '{')
        return "a safetensors file (a model?)";
    if (n >= 4 && !memcmp(b, "PK\x03\x04", 4))
        return "a zip archive (.npz? save each array with numpy.save)";
    int text = 1;
    for (size_t i = 0; i < n; i++)
        if (b[i] < 0x09 || (b[i] > 0x0d && b[i] < 0x20))
            text = 0;
    return text ? "a text file" : NULL;
}

vl_status vl_npy_read(const char *path, vl_npy *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return vl_seterr(VL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    vl_status st = VL_OK;
    char *hdr = NULL;
    unsigned char pre[16] = {0};
    size_t got = fread(pre, 1, 16, f);
    if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        const char *what = npy_sniff(pre, got);
        if (what)
            st = vl_seterr(VL_ERR_FORMAT, "%s: is %s, not a .npy feature file (numpy.save's float32 [T, D])%s", path,
                           what, strstr(what, "video") ? "; pass a video as a video (a folder per class, or a CSV of "
                                                         "videos), so its features are extracted" : "");
        else
            st = vl_seterr(VL_ERR_FORMAT, "%s: not a .npy feature file (it does not start with numpy's \\x93NUMPY)",
                           path);
        goto done;
    }
    if (fseek(f, 10, SEEK_SET) != 0) {
        st = vl_seterr(VL_ERR_IO, "%s: cannot seek", path);
        goto done;
    }
    size_t hlen;
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
    } else if (pre[6] == 2 || pre[6] == 3) {
        unsigned char b[2];
        if (fread(b, 1, 2, f) != 2) {
            st = vl_seterr(VL_ERR_FORMAT, "%s: truncated header", path);
            goto done;
        }
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8) | ((size_t)b[0] << 16) | ((size_t)b[1] << 24);
    } else {
        st = vl_seterr(VL_ERR_FORMAT, "%s: unsupported .npy version %d", path, pre[6]);
        goto done;
    }
    if (hlen > (1u << 20)) {
        st = vl_seterr(VL_ERR_FORMAT, "%s: header too large", path);
        goto done;
    }
    hdr = malloc(hlen + 1);
    if (!hdr) {
        st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (fread(hdr, 1, hlen, f) != hlen) {
        st = vl_seterr(VL_ERR_FORMAT, "%s: truncated header", path);
        goto done;
    }
    hdr[hlen] = 0;

    const char *v = dict_value(hdr, "descr");
    char descr[8] = {0};
    if (!v || sscanf(v, " '%7[^']'", descr) != 1) {
        st = vl_seterr(VL_ERR_FORMAT, "%s: header has no dtype", path);
        goto done;
    }
    int esize;
    int isfloat;
    if (!strcmp(descr, "<f4")) esize = 4, isfloat = 1;
    else if (!strcmp(descr, "<f8")) esize = 8, isfloat = 1;
    else if (!strcmp(descr, "<i4")) esize = 4, isfloat = 0;
    else if (!strcmp(descr, "<i8")) esize = 8, isfloat = 0;
    else {
        st = vl_seterr(VL_ERR_FORMAT, "%s: unsupported dtype '%s' (want float32, float64, int32 or int64)", path, descr);
        goto done;
    }
    v = dict_value(hdr, "fortran_order");
    int fortran = v && !strncmp(v + strspn(v, " "), "True", 4);
    if (!v || (!fortran && strncmp(v + strspn(v, " "), "False", 5) != 0)) {
        st = vl_seterr(VL_ERR_FORMAT, "%s: header has no valid fortran_order", path);
        goto done;
    }
    v = dict_value(hdr, "shape");
    if (!v || !(v = strchr(v, '('))) {
        st = vl_seterr(VL_ERR_FORMAT, "%s: header has no shape", path);
        goto done;
    }
    v++;
    out->count = 1;
    while (1) {
        v += strspn(v, " ,");
        if (*v == ')')
            break;
        char *end;
        long long d = strtoll(v, &end, 10);
        if (end == v || d < 0 || out->ndim == VL_NPY_MAXDIM) {
            st = vl_seterr(VL_ERR_FORMAT, "%s: malformed shape", path);
            goto done;
        }
        out->shape[out->ndim++] = d;
        /* divide first: a dimension near 2^63 would overflow the product */
        if (d > 0 && out->count > ((int64_t)1 << 34) / d) {
            st = vl_seterr(VL_ERR_FORMAT, "%s: array too large", path);
            goto done;
        }
        out->count *= d;
        if (out->count > ((int64_t)1 << 34)) {
            st = vl_seterr(VL_ERR_FORMAT, "%s: array too large", path);
            goto done;
        }
        v = end;
    }
    size_t nbytes = (size_t)out->count * (size_t)esize;
    /* a few bytes can promise up to 128 GiB: check the file holds the data
     * before allocating it */
    long here = ftell(f);
    if (here >= 0 && fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        if (end < here || (uint64_t)(end - here) < nbytes || fseek(f, here, SEEK_SET) != 0) {
            st = vl_seterr(VL_ERR_FORMAT, "%s: truncated data (expected %zu bytes)", path, nbytes);
            goto done;
        }
    }
    void *raw = vl_alloc(nbytes);
    if (!raw) {
        st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory for %zu bytes", path, nbytes);
        goto done;
    }
    if (fread(raw, 1, nbytes, f) != nbytes) {
        vl_free(raw);
        st = vl_seterr(VL_ERR_FORMAT, "%s: truncated data (expected %zu bytes)", path, nbytes);
        goto done;
    }
    out->dtype = isfloat ? VL_NPY_F32 : VL_NPY_I32;
    if (esize == 8) { /* narrow in place: the 4-byte result fits in the front half */
        for (int64_t i = 0; i < out->count; i++) {
            if (isfloat) {
                double d;
                memcpy(&d, (char *)raw + 8 * i, 8);
                ((float *)raw)[i] = (float)d;
            } else {
                int64_t d;
                memcpy(&d, (char *)raw + 8 * i, 8);
                if (d < INT32_MIN || d > INT32_MAX) {
                    vl_free(raw);
                    st = vl_seterr(VL_ERR_FORMAT, "%s: int64 value %lld out of int32 range", path, (long long)d);
                    goto done;
                }
                ((int32_t *)raw)[i] = (int32_t)d;
            }
        }
    }
    if (fortran && out->ndim > 1 && out->count > 0) {
        /* numpy writes a transposed (column-major) array as is: reorder to
         * row-major, walking the row-major index like an odometer */
        int32_t *src = raw, *dst = vl_alloc(sizeof(int32_t) * (size_t)out->count);
        if (!dst) {
            vl_free(raw);
            st = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        int64_t idx[VL_NPY_MAXDIM] = {0}, fstride[VL_NPY_MAXDIM];
        fstride[0] = 1;
        for (int d = 1; d < out->ndim; d++)
            fstride[d] = fstride[d - 1] * out->shape[d - 1];
        int64_t off = 0;
        for (int64_t i = 0; i < out->count; i++) {
            dst[i] = src[off];
            for (int d = out->ndim - 1; d >= 0; d--) {
                off += fstride[d];
                if (++idx[d] < out->shape[d])
                    break;
                off -= fstride[d] * out->shape[d];
                idx[d] = 0;
            }
        }
        vl_free(raw);
        raw = dst;
    }
    out->data = raw;
done:
    free(hdr);
    fclose(f);
    return st;
}

void vl_npy_free(vl_npy *a)
{
    vl_free(a->data);
    a->data = NULL;
}

vl_status vl_npy_write(const char *path, vl_npy_dtype dtype, int ndim, const int64_t *shape, const void *data)
{
    return vl_npy_write_ex(path, dtype, ndim, shape, data, 0);
}

vl_status vl_npy_write_ex(const char *path, vl_npy_dtype dtype, int ndim, const int64_t *shape, const void *data,
                          unsigned atomic_flags)
{
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     dtype == VL_NPY_F32 ? "<f4" : "<i4");
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%lld,%s", (long long)shape[i], (i + 1 < ndim) ? " " : "");
        count *= shape[i];
    }
    if (ndim > 1) /* numpy writes (3,) for 1-D but (3, 4) without trailing comma */
        n--;
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "), }");
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    /* the temp+rename below would replace a symlink or a device node with a regular file */
    if (vl_path_kind(path))
        return vl_seterr(VL_ERR_ARG, "%s: exists and is %s, not a regular file: not replaced", path, vl_path_kind(path));
    vl_atomic a;
    vl_status st = vl_atomic_open_ex(path, atomic_flags, &a);
    if (st)
        return st;
    FILE *f = a.f;
    unsigned hl = (unsigned)(n + pad + 1);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 255), (unsigned char)(hl >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)n, f) == (size_t)n;
    for (int i = 0; i < pad && ok; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && fwrite(data, 4, (size_t)count, f) == (size_t)count;
    if (!ok) {
        int e = errno;
        vl_atomic_abort(&a);
        return vl_seterr(VL_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return vl_atomic_commit(&a);
}
