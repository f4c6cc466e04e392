/* NumPy .npy files (format 1.0/2.0/3.0, C order, little-endian):
 * the feature and fixture exchange format, readable by numpy.load. */
#ifndef VL_CORE_NPY_H
#define VL_CORE_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "vidlstm.h"

/* The API is public: see vidlstm.h (vl_npy_read, vl_npy_write). */

/* vl_npy_write with core/atomic.h flags (VL_ATOMIC_NO_SYNC for caches). */
vl_status vl_npy_write_ex(const char *path, vl_npy_dtype dtype, int ndim, const int64_t *shape, const void *data,
                          unsigned atomic_flags);

#endif
