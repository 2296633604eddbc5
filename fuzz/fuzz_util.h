/*
 * fuzz_util.h -- what the libFuzzer harnesses share: finding the repository's fixture
 * files, and stopping loudly when an invariant breaks.
 *
 * Fixtures are named relative to the repository root: $LMZ_FUZZ_ROOT if set, else the
 * current directory (`make fuzz` runs from the root and also sets the variable).
 */
#ifndef LMZ_FUZZ_UTIL_H
#define LMZ_FUZZ_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* An invariant broke: that is a bug, and libFuzzer saves the input on abort(). */
__attribute__((noreturn, format(printf, 1, 2)))
static inline void fuzz_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz invariant broken: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* root + "/" + rel into buf. */
static inline const char *fuzz_repo_path(const char *rel, char *buf, size_t cap)
{
    const char *root = getenv("LMZ_FUZZ_ROOT");
    snprintf(buf, cap, "%s/%s", root && *root ? root : ".", rel);
    return buf;
}

#endif
