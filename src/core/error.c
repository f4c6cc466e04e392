#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char errbuf[1024];

vl_status vl_seterr(vl_status code, const char *fmt, ...)
{
    /* Format into a scratch buffer first: callers may pass vl_errmsg() as an
     * argument to prefix context to the previous message. */
    char tmp[sizeof errbuf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(errbuf, tmp, sizeof errbuf);
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
