/* textdetect.h -- is a chunk text the model can help with? */
#ifndef LMZ_LIB_TEXTDETECT_H
#define LMZ_LIB_TEXTDETECT_H

#include <stddef.h>
#include <stdint.h>

/* Non-zero when at most 1% of the bytes are neither printable ASCII, whitespace, ESC,
 * nor part of well-formed UTF-8 (RFC 3629). */
int looks_like_text(const uint8_t *p, size_t n);

/* Text with binary spans, which a mixed stream's adaptive models learn to code cheaply:
 * at most 25% of the bytes other than NUL are not text, and at most 7/8 are NUL (a
 * tar's headers and padding). */
int mostly_text(const uint8_t *p, size_t n);

/* Where to end a chunk of p[0..n) early (1..n; n: no early end), so that text and NUL
 * padding are each coded the way that suits them: a run of >= 4 KiB of NULs at either
 * end of it is a chunk of its own, which zstd codes for a few bytes while the model
 * would spend a token on every NUL. */
size_t padding_cut(const uint8_t *p, size_t n);

#endif
