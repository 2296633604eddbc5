/* error.c -- filling an lmz_error. */
#include <stdarg.h>
#include <stdio.h>

#include "util/error.h"

lmz_status lmz_error_setf(lmz_error *err, lmz_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}
