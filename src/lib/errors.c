/* errors.c -- status strings and the error message plumbing of the library. */
#include <stdio.h>
#include <string.h>
#include "lib/internal.h"

const char *lmz_version_string(void)
{
    return LMZ_VERSION_STRING;
}

const char *lmz_status_string(lmz_status status)
{
    switch (status) {
    case LMZ_OK:                 return "success";
    case LMZ_ERR_ARG:            return "invalid argument";
    case LMZ_ERR_NOMEM:          return "out of memory";
    case LMZ_ERR_IO:             return "I/O error";
    case LMZ_ERR_MODEL:          return "bad or unsupported model";
    case LMZ_ERR_NOT_LMZ:        return "not in .lmz format";
    case LMZ_ERR_VERSION:        return "unsupported .lmz format version";
    case LMZ_ERR_CORRUPT:        return "corrupt .lmz data";
    case LMZ_ERR_MODEL_MISMATCH: return "stream was compressed with another model";
    case LMZ_ERR_INTERRUPTED:    return "interrupted";
    }
    return "unknown error";
}

lmz_status lmz__fail(lmz_ctx *ctx, lmz_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
    va_end(ap);
    return status;
}
