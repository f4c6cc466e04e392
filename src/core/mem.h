/* Aligned allocation. Buffers are 64-byte aligned so AVX-512 loads never split
 * cache lines; callers allocate once per shape and reuse (fresh pages cost
 * 11-15 us each on the target machines). */
#ifndef VL_CORE_MEM_H
#define VL_CORE_MEM_H

#include <stddef.h>

void *vl_alloc(size_t bytes);   /* 64-byte aligned, uninitialised; NULL on failure */
void *vl_calloc(size_t bytes);  /* as vl_alloc, zero-filled */
void vl_free(void *p);
/* For buffers that live as long as a network (the recurrent net's parameters,
 * gradients, workspace and packed weight panels): from 4 MB on, 2 MB aligned
 * with transparent huge pages requested (madvise): fewer TLB misses in the
 * recurrent GEMMs ((a) 7% faster). Not for per-call or per-clip buffers (they
 * would fault 2 MB at a time: extraction 4.7% slower), and not for the ONNX
 * runner's arena (no gain measured, +24 MB). Freed with vl_free. */
void *vl_alloc_lasting(size_t bytes);
void *vl_calloc_lasting(size_t bytes); /* as vl_alloc_lasting, zero-filled */

/* Round a float count up so consecutive sub-buffers stay 64-byte aligned. */
static inline size_t vl_pad16(size_t nfloats) { return (nfloats + 15) & ~(size_t)15; }

#endif
