#include "core/mem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void *vl_alloc(size_t bytes)
{
    if (bytes == 0)
        bytes = 64;
    bytes = (bytes + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes);
}

void *vl_calloc(size_t bytes)
{
    void *p = vl_alloc(bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void *vl_alloc_lasting(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes < 2 * huge)
        return vl_alloc(bytes);
    bytes = (bytes + huge - 1) & ~(huge - 1);
    void *p = aligned_alloc(huge, bytes);
#ifdef MADV_HUGEPAGE
    if (p)
        (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: refused or not, p is ordinary memory */
#endif
    return p;
}

void *vl_calloc_lasting(size_t bytes)
{
    void *p = vl_alloc_lasting(bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void vl_free(void *p) { free(p); }
