/* NumPy .npy files (format 1.0/2.0/3.0, C order, little-endian):
 * the feature and fixture exchange format, readable by numpy.load. */
#ifndef VL_CORE_NPY_H
#define VL_CORE_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "vidlstm.h"

#define VL_NPY_MAXDIM 8

typedef enum { VL_NPY_F32, VL_NPY_I32 } vl_npy_dtype;

typedef struct {
    vl_npy_dtype dtype; /* after conversion: f4/f8 load as F32, i4/i8 as I32 */
    int ndim;
    int64_t shape[VL_NPY_MAXDIM];
    int64_t count; /* product of shape */
    void *data;    /* float* or int32_t*, vl_alloc'd; free with vl_npy_free */
} vl_npy;

/* Reads `path`. Float64 is narrowed to float32 and int64 to int32 (values out
 * of range are an error). Errors name the file. */
vl_status vl_npy_read(const char *path, vl_npy *out);
void vl_npy_free(vl_npy *a);

/* Writes float32 or int32 data atomically (temp file in the same folder, then
 * rename), so a crash never leaves a half-written file. */
vl_status vl_npy_write(const char *path, vl_npy_dtype dtype, int ndim, const int64_t *shape, const void *data);

#endif
