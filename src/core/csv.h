/* CSV reading (RFC 4180 basics), shared by every module that reads manifests
 * and label files: quoted fields with "" escapes and newlines, spaces around
 * unquoted fields trimmed, CRLF and a UTF-8 BOM accepted, blank lines and
 * lines starting with '#' skipped. The whole file is read at open. */
#ifndef VL_CORE_CSV_H
#define VL_CORE_CSV_H

#include <stddef.h>

#include "vidlstm.h"

typedef struct {
    const char *file;
    char *buf;
    size_t len, pos;
    int line;     /* line at pos, 1-based */
    int rec_line; /* line where the last record started */
    char *text;   /* field text of the current record (capacity len + 1 always suffices) */
    char **f;     /* field pointers into text */
    int nf, fcap;
    vl_status err; /* why csv_next returned -1 */
} vl_csv;

/* Reads `path` into memory; errors name the file. */
vl_status vl_csv_open(vl_csv *r, const char *path);
/* Next record: 1 = one (fields in r->f[0..nf), line r->rec_line), 0 = end of
 * file, -1 = error (message set, status in r->err). */
int vl_csv_next(vl_csv *r);
void vl_csv_close(vl_csv *r);

/* Helpers every reader of manifests and label files needs. */
char *vl_strdup(const char *s);                       /* NULL for NULL or out of memory */
int vl_eq_nocase(const char *a, const char *b);       /* ASCII case-insensitive equality */
int vl_parse_double(const char *s, double *v);        /* a finite number filling all of s: 1, else 0 */
char *vl_path_beside(const char *manifest, const char *p); /* p relative to manifest's folder (absolute p as is) */

#endif
