#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

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

void vl_free(void *p) { free(p); }
