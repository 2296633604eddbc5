/*
 * args.c -- see args.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"

int arg_parse_u64(const char *s, uint64_t lo, uint64_t hi, arg_suffix suffix, uint64_t *out)
{
    if (*s < '0' || *s > '9')      /* strtoull would take a sign or leading space */
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    uint64_t mul = 1;
    if (suffix != ARG_NO_SUFFIX) {
        switch (*end) {
        case 'k': case 'K': mul = suffix; break;
        case 'm': case 'M': mul = (uint64_t)suffix * suffix; break;
        case 'g': case 'G': mul = (uint64_t)suffix * suffix * suffix; break;
        default: break;
        }
        if (mul > 1) end++;
        if (mul > 1 && suffix == ARG_IEC && (end[0] == 'i' || end[0] == 'I') &&
            (end[1] == 'B' || end[1] == 'b'))
            end += 2;
    }
    if (*end != '\0' || v > UINT64_MAX / mul)
        return -1;
    uint64_t x = (uint64_t)v * mul;
    if (x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

int arg_parse_f32(const char *s, float lo, float hi, float *out)
{
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v >= (double)lo && v <= (double)hi))
        return -1;
    *out = (float)v;
    return 0;
}

int arg_u32(const char *tool, const char *opt, const char *v, uint32_t lo, uint32_t hi,
            uint32_t *out)
{
    uint64_t x;
    if (arg_parse_u64(v, lo, hi, ARG_NO_SUFFIX, &x) != 0) {
        fprintf(stderr, "%s: %s needs an integer in %u..%u, not '%s'\n", tool, opt, lo, hi, v);
        return -1;
    }
    *out = (uint32_t)x;
    return 0;
}

int arg_f32(const char *tool, const char *opt, const char *v, float lo, float hi, float *out)
{
    if (arg_parse_f32(v, lo, hi, out) != 0) {
        fprintf(stderr, "%s: %s needs a number in %g..%g, not '%s'\n", tool, opt, (double)lo,
                (double)hi, v);
        return -1;
    }
    return 0;
}
