/*
 * gguf_internal.h -- helpers shared by gguf_read.c and gguf_write.c (not for other code).
 */
#ifndef LMZ_GGUF_INTERNAL_H
#define LMZ_GGUF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Writes "GGUF: " + the formatted message to err (if err && errlen); returns -1. */
int gguf_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Little-endian loads, whatever the host's byte order or the pointer's alignment. */
static inline uint16_t gguf_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t gguf_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t gguf_le64(const uint8_t *p)
{
    return gguf_le32(p) | (uint64_t)gguf_le32(p + 4) << 32;
}

#endif
