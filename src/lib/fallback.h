/*
 * fallback.h -- what codes a chunk the model cannot help with: zstd (Debian's libzstd),
 * and the test that decides a chunk is not worth running the model on.
 */
#ifndef LMZ_LIB_FALLBACK_H
#define LMZ_LIB_FALLBACK_H

#include <stddef.h>
#include <stdint.h>

/* The zstd level of ZSTD chunks: strong, yet far faster than the model. */
#define FALLBACK_ZSTD_LEVEL 19

/* Non-zero when the bytes look like text: almost all of them are printable ASCII,
 * whitespace, or part of well-formed UTF-8.  Binary, random and already-compressed
 * data is not, and goes straight to the fallback. */
int fallback_looks_like_text(const uint8_t *p, size_t n);

/* One zstd frame of src into a malloc'd *dst.  0, or -1 on failure. */
int fallback_zstd_compress(const void *src, size_t n, void **dst, size_t *dst_n);

/* Decode one zstd frame that must hold exactly `expect` bytes into dst.  0, or -1 if
 * the frame is damaged or holds another size. */
int fallback_zstd_decompress(const void *src, size_t n, void *dst, size_t expect);

#endif
