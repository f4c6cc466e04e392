/* safetensors files: reading with full validation, and atomic writing.
 *
 * The format (https://github.com/huggingface/safetensors):
 *   8 bytes   N, unsigned little-endian: length of the header
 *   N bytes   JSON object, UTF-8, usually padded with spaces to a multiple of 8:
 *               {"__metadata__": {"key": "value", ...},        (optional, string -> string)
 *                "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 *   rest      the byte buffer; each tensor's raw little-endian, row-major data
 *             lies at [begin, end) relative to the buffer's start.
 *
 * Reading checks everything the reference implementation checks: header
 * length within the file and below VL_ST_MAX_HEADER, strict JSON, known
 * dtype, shape of non-negative integers, end - begin == product(shape) *
 * item size with no overflow, tensors that tile the buffer exactly (no
 * overlaps, no gaps, nothing left over), metadata values that are strings.
 * Every error names the file (and the tensor).
 *
 * Writing lays tensors out in the order given, pads the header with spaces
 * to a multiple of 8 bytes (as the reference does) and writes atomically
 * (core/atomic.h: temp file beside it, fsync, rename, fsync the folder). On
 * any error the destination is untouched and the temporary file removed.
 *
 * Integrity: the format has none of its own. vl_st_write_ex(..., VL_ST_CHECKSUM)
 * adds the metadata entry "data_checksum": "w64fnv:<16 hex digits>", a hash
 * of the whole byte buffer (FNV-1a's prime applied a little-endian 64-bit
 * word at a time, h = (h ^ w) * p, then h ^= h >> 29, from FNV's offset basis;
 * the last size % 8 bytes one at a time as FNV-1a). Reading verifies it
 * whenever it is present (VL_ERR_FORMAT "... data checksum mismatch: the
 * file is corrupt"), so a damaged checkpoint or model is refused instead of
 * being used. Other readers see one more metadata string. */
#ifndef VL_CORE_SAFETENSORS_H
#define VL_CORE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "vidlstm.h"

#define VL_ST_MAXDIM 8
#define VL_ST_MAX_HEADER ((uint64_t)100 << 20) /* the reference's limit: 100 MB */

typedef enum {
    VL_ST_F32,
    VL_ST_F64,
    VL_ST_F16,
    VL_ST_BF16,
    VL_ST_I64,
    VL_ST_I32,
    VL_ST_I16,
    VL_ST_I8,
    VL_ST_U64,
    VL_ST_U32,
    VL_ST_U16,
    VL_ST_U8,
    VL_ST_BOOL,
    VL_ST_F8_E4M3,
    VL_ST_F8_E5M2,
    VL_ST_NDTYPES
} vl_st_dtype;

const char *vl_st_dtype_name(vl_st_dtype t); /* "F32", "BF16", ... as in the header */
size_t vl_st_dtype_size(vl_st_dtype t);      /* bytes per element */

typedef struct {
    char *name;
    vl_st_dtype dtype;
    int ndim;
    int64_t shape[VL_ST_MAXDIM];
    int64_t count;      /* product of shape (1 for a scalar, ndim == 0) */
    size_t nbytes;      /* count * item size */
    const void *data;   /* raw little-endian bytes inside the file's buffer; may be
                         * unaligned: read with memcpy or vl_st_to_f32 */
} vl_st_tensor;

typedef struct {
    char *name;          /* the path (or label) errors use */
    int ntensors;
    vl_st_tensor *tensors; /* in header order */
    int nmeta;
    char **meta_keys, **meta_values;
    unsigned char *buf;  /* the whole file */
    size_t size;
} vl_st_file;

/* Reads and validates a whole file. On failure *out is zeroed (safe to free). */
vl_status vl_st_read(const char *path, vl_st_file *out);
/* The same for bytes in memory (copied); `name` labels errors. */
vl_status vl_st_read_memory(const void *data, size_t len, const char *name, vl_st_file *out);
void vl_st_free(vl_st_file *f);

const vl_st_tensor *vl_st_find(const vl_st_file *f, const char *name);
const char *vl_st_meta(const vl_st_file *f, const char *key); /* NULL if absent */

/* Converts a floating-point tensor (F32, F64, F16, BF16) to float32 into
 * dst[t->count]. Other dtypes: VL_ERR_FORMAT naming the file and tensor.
 * F64 values outside float32's range become Inf (callers check finiteness). */
vl_status vl_st_to_f32(const vl_st_file *f, const vl_st_tensor *t, float *dst);

/* One tensor to write: `data` holds product(shape) elements of `dtype`,
 * little-endian (the host order on every platform we build for). */
typedef struct {
    const char *name;
    vl_st_dtype dtype;
    int ndim;
    int64_t shape[VL_ST_MAXDIM];
    const void *data;
} vl_st_entry;

/* Writes tensors [n] and metadata (nmeta key/value string pairs; may be 0)
 * atomically to path. Names must be unique, non-empty and not "__metadata__". */
vl_status vl_st_write(const char *path, const vl_st_entry *tensors, int n, const char *const *meta_keys,
                      const char *const *meta_values, int nmeta);

#define VL_ST_CHECKSUM 1u /* vl_st_write_ex flag: record a checksum of the data */
#define VL_ST_CHECKSUM_KEY "data_checksum"
#define VL_ST_CHECKSUM_ALGO "w64fnv:"
vl_status vl_st_write_ex(const char *path, const vl_st_entry *tensors, int n, const char *const *meta_keys,
                         const char *const *meta_values, int nmeta, unsigned flags);

#endif
