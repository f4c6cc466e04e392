#include "core/csv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"


void vl_csv_close(vl_csv *r)
{
    free(r->buf);
    free(r->text);
    free(r->f);
    *r = (vl_csv){0};
}

vl_status vl_csv_open(vl_csv *r, const char *path)
{
    *r = (vl_csv){.file = path, .line = 1};
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return vl_seterr(VL_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 0;
    for (;;) {
        if (r->len == cap) {
            size_t nc = cap ? 2 * cap : 4096;
            char *b = realloc(r->buf, nc);
            if (!b) {
                fclose(fp);
                vl_csv_close(r);
                return vl_seterr(VL_ERR_NOMEM, "%s: out of memory reading the file", path);
            }
            r->buf = b;
            cap = nc;
        }
        size_t got = fread(r->buf + r->len, 1, cap - r->len, fp);
        r->len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(fp);
    int err = errno;
    fclose(fp);
    if (bad) {
        vl_csv_close(r);
        return vl_seterr(VL_ERR_IO, "%s: %s", path, strerror(err));
    }
    if (r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0)
        r->pos = 3; /* UTF-8 byte-order mark */
    r->text = malloc(r->len + 1);
    if (!r->text) {
        vl_csv_close(r);
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory reading the file", path);
    }
    r->file = path;
    return VL_OK;
}

/* Reads the next record, skipping blank and '#' lines: 1 = a record, 0 = end
 * of file, -1 = error (message set). */
int vl_csv_next(vl_csv *r)
{
    const char *b = r->buf;
    const size_t len = r->len;
    for (;;) {
        if (r->pos >= len)
            return 0;
        size_t p = r->pos;
        while (p < len && (b[p] == ' ' || b[p] == '\t'))
            p++;
        if (p < len && b[p] != '\n' && b[p] != '\r' && b[p] != '#')
            break;
        if (p < len && b[p] == '\r' && p + 1 < len && b[p + 1] != '\n')
            break; /* a stray CR starts a (malformed) record rather than vanishing */
        while (p < len && b[p] != '\n')
            p++;
        if (p < len) {
            p++;
            r->line++;
        }
        r->pos = p;
    }
    r->rec_line = r->line;
    r->nf = 0;
    size_t t = 0, pos = r->pos;
    for (;;) {
        while (pos < len && (b[pos] == ' ' || b[pos] == '\t'))
            pos++;
        if (r->nf == r->fcap) {
            int cap = r->fcap ? 2 * r->fcap : 8;
            char **f = realloc(r->f, sizeof *f * (size_t)cap);
            if (!f) {
                r->err = vl_seterr(VL_ERR_NOMEM, "%s: out of memory", r->file);
                return -1;
            }
            r->f = f;
            r->fcap = cap;
        }
        size_t start = t;
        if (pos < len && b[pos] == '"') {
            pos++;
            for (;;) {
                if (pos >= len) {
                    r->err = vl_seterr(VL_ERR_FORMAT, "%s:%d: unterminated quoted field", r->file, r->rec_line);
                    return -1;
                }
                char c = b[pos++];
                if (c == '"') {
                    if (pos < len && b[pos] == '"') {
                        r->text[t++] = '"';
                        pos++;
                    } else {
                        break;
                    }
                } else {
                    if (c == '\n')
                        r->line++;
                    if (c == '\0')
                        goto nul;
                    r->text[t++] = c;
                }
            }
            while (pos < len && (b[pos] == ' ' || b[pos] == '\t'))
                pos++;
            if (pos < len && b[pos] == '\r' && (pos + 1 >= len || b[pos + 1] == '\n'))
                pos++;
            if (pos < len && b[pos] != ',' && b[pos] != '\n') {
                r->err = vl_seterr(VL_ERR_FORMAT, "%s:%d: unexpected text after a closing quote", r->file, r->line);
                return -1;
            }
        } else {
            while (pos < len && b[pos] != ',' && b[pos] != '\n') {
                if (b[pos] == '\0')
                    goto nul;
                r->text[t++] = b[pos++];
            }
            while (t > start && (r->text[t - 1] == ' ' || r->text[t - 1] == '\t' || r->text[t - 1] == '\r'))
                t--;
        }
        r->text[t++] = '\0';
        r->f[r->nf++] = r->text + start;
        if (pos < len && b[pos] == ',') {
            pos++;
            continue;
        }
        if (pos < len) { /* '\n' */
            pos++;
            r->line++;
        }
        break;
    }
    r->pos = pos;
    return 1;
nul:
    /* C strings end at NUL: "r\0un" would silently become the label "r" */
    r->err = vl_seterr(VL_ERR_FORMAT, "%s:%d: field %d contains a NUL byte (is this a text file?)", r->file, r->line,
                       r->nf + 1);
    return -1;
}


char *vl_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int vl_eq_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        int ca = (*a >= 'A' && *a <= 'Z') ? *a + 32 : *a, cb = (*b >= 'A' && *b <= 'Z') ? *b + 32 : *b;
        if (ca != cb)
            return 0;
    }
    return *a == *b;
}

int vl_parse_double(const char *s, double *v)
{
    if (!*s)
        return 0;
    char *e;
    errno = 0;
    double x = strtod(s, &e);
    if (e == s || *e || errno == ERANGE || !isfinite(x))
        return 0;
    *v = x;
    return 1;
}

char *vl_path_beside(const char *manifest, const char *p)
{
    const char *slash = strrchr(manifest, '/');
    if (p[0] == '/' || !slash)
        return vl_strdup(p);
    size_t dl = (size_t)(slash - manifest) + 1, pl = strlen(p);
    char *r = malloc(dl + pl + 1);
    if (r) {
        memcpy(r, manifest, dl);
        memcpy(r + dl, p, pl + 1);
    }
    return r;
}
