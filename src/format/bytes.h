/*
 * bytes.h -- the container's integer encodings (private to src/format): little-endian
 * u32 for checks, unsigned LEB128 varints for sizes and counts.  Byte by byte, so they
 * work at any alignment on any host.
 */
#ifndef LMZ_FORMAT_BYTES_H
#define LMZ_FORMAT_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* Longest varint of a value below 2^32 (sizes, chunk counts in a header field) and of
 * any u64 (the End record's totals). */
#define LMZF_VARINT32_MAX 5
#define LMZF_VARINT64_MAX 10

static inline void lmzf_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t lmzf_get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Bytes of the shortest (the only valid) LEB128 encoding of v. */
static inline size_t lmzf_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Write v as LEB128: 7 bits per byte, low bits first, high bit set on all but the last
 * byte.  Returns the bytes written (lmzf_varint_size(v)). */
static inline size_t lmzf_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* The state of a varint being decoded byte by byte. */
typedef enum lmzf_varint_step {
    LMZF_VARINT_MORE,     /* a continuation bit: another byte follows */
    LMZF_VARINT_DONE,     /* the last byte: *value is complete */
    LMZF_VARINT_TOO_LONG, /* the longest allowed byte still continues */
    LMZF_VARINT_OVERLONG, /* a final zero group after the first byte: not the shortest */
    LMZF_VARINT_OVERFLOW  /* the value does not fit `bits` bits */
} lmzf_varint_step;

/* Feed byte number i (0-based) of a varint of a `bits`-bit field (32 or 64: at most 5
 * or 10 bytes) into *value (0 before the first byte).  Only the shortest encoding of a
 * value is valid, so every value has exactly one. */
static inline lmzf_varint_step lmzf_varint_byte(uint64_t *value, size_t i, uint8_t b,
                                                unsigned bits)
{
    size_t last = (bits + 6) / 7 - 1; /* index of the longest encoding's last byte */
    if (i == last) {
        if (b & 0x80) return LMZF_VARINT_TOO_LONG;
        if ((b & 0x7F) >> (bits - 7 * last)) return LMZF_VARINT_OVERFLOW;
    }
    *value |= (uint64_t)(b & 0x7F) << (7 * i);
    if (b & 0x80) return LMZF_VARINT_MORE;
    if (i > 0 && b == 0) return LMZF_VARINT_OVERLONG;
    return LMZF_VARINT_DONE;
}

#endif
