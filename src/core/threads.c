/* Public thread and version controls (vidlstm.h). */
#include "core/blas.h"
#include "vidlstm.h"

void vl_set_threads(int n) { vl_blas_set_threads(n); }
int vl_get_threads(void) { return vl_blas_threads(); }
const char *vl_blas_name(void) { return vl_blas_info(); }
const char *vl_version(void) { return VIDLSTM_VERSION; }
