/* error.h -- filling an lmz_error, for every layer of the library. */
#ifndef LMZ_UTIL_ERROR_H
#define LMZ_UTIL_ERROR_H

#include "lmz.h"

/* Set err's status and printf-style message (err may be NULL); returns status. */
lmz_status lmz_error_setf(lmz_error *err, lmz_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
