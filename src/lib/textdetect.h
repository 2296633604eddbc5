/* textdetect.h -- is a chunk text the model can help with? */
#ifndef LMZ_LIB_TEXTDETECT_H
#define LMZ_LIB_TEXTDETECT_H

#include <stddef.h>
#include <stdint.h>

/* Non-zero when at most 1% of the bytes are neither printable ASCII, whitespace, ESC,
 * nor part of well-formed UTF-8 (RFC 3629). */
int looks_like_text(const uint8_t *p, size_t n);

/* The same with at most 25% of such bytes: text with binary spans (tar headers, NUL
 * padding), which a mixed stream's adaptive models learn to code cheaply. */
int mostly_text(const uint8_t *p, size_t n);

#endif
