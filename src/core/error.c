#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char errbuf[1024];

vl_status vl_seterr(vl_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return code;
}

const char *vl_errmsg(void) { return errbuf; }

const char *vl_status_str(vl_status s)
{
    switch (s) {
    case VL_OK: return "ok";
    case VL_ERR_ARG: return "invalid argument";
    case VL_ERR_NOMEM: return "out of memory";
    case VL_ERR_IO: return "i/o error";
    case VL_ERR_FORMAT: return "malformed file";
    case VL_ERR_SHAPE: return "shape mismatch";
    case VL_ERR_NUMERIC: return "non-finite value";
    case VL_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown error";
}
