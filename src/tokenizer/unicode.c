/*
 * unicode.c -- strict UTF-8 decoding and character classes for the pre-tokenizer.
 */
#include "tokenizer/unicode_cat.h"

size_t tok_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    size_t len;
    uint32_t c, min;
    if (b0 >= 0xC2 && b0 <= 0xDF) {          /* 0xC0, 0xC1 could only start overlongs */
        len = 2; c = b0 & 0x1Fu; min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3; c = b0 & 0x0Fu; min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4; c = b0 & 0x07u; min = 0x10000;
    } else {
        *cp = TOK_CP_INVALID;
        return 1;
    }
    if (n < len) {
        *cp = TOK_CP_INVALID;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = TOK_CP_INVALID;
            return 1;
        }
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        *cp = TOK_CP_INVALID;
        return 1;
    }
    *cp = c;
    return len;
}

tok_ucat tok_ucat_of(uint32_t cp)
{
    if (cp > 0x10FFFF)
        return TOK_UCAT_OTHER;
    /* last run whose first code point is <= cp */
    size_t lo = 0, hi = tok_ucat_n_runs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((tok_ucat_runs[mid] >> 2) <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return (tok_ucat)(tok_ucat_runs[lo] & 3u);
}
