/* Public thread and version controls (vidlstm.h). */
#include <stdatomic.h>

#include "core/blas.h"
#include "core/threads.h"
#include "vidlstm.h"

/* The count asked for (0: the default). OpenMP keeps its thread count per
 * calling thread, so a count set on the caller's thread would not reach the
 * threads the library starts (extraction's worker runs the CNN on its own):
 * those call vl_threads_apply() first. */
static atomic_int asked;

void vl_set_threads(int n)
{
    if (n <= 0)
        return;
    atomic_store(&asked, n);
    vl_blas_set_threads(n);
}

int vl_get_threads(void)
{
    int n = atomic_load(&asked);
    return n > 0 ? n : vl_blas_threads();
}

void vl_threads_apply(void)
{
    int n = atomic_load(&asked);
    if (n > 0)
        vl_blas_set_threads(n);
}

const char *vl_blas_name(void) { return vl_blas_info(); }
const char *vl_version(void) { return VIDLSTM_VERSION; }
