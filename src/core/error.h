/* Error reporting: every fallible function returns a vl_status and records a
 * one-line message in thread-local storage (vl_errmsg()). Nothing here prints
 * or exits; the caller decides. */
#ifndef VL_CORE_ERROR_H
#define VL_CORE_ERROR_H

#include "vidlstm.h"

/* Record a printf-style message for `code` and return `code`, so call sites
 * read `return vl_seterr(VL_ERR_SHAPE, "...", ...);`. */
vl_status vl_seterr(vl_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
