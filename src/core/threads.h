/* Thread counts across the library's own threads (vl_set_threads in vidlstm.h). */
#ifndef VL_CORE_THREADS_H
#define VL_CORE_THREADS_H

/* Applies the count vl_set_threads asked for to the calling thread (OpenMP's
 * count is per thread): the first call of a thread the library starts that
 * runs numerics. Nothing when none was asked for. */
void vl_threads_apply(void);

#endif
