/*
 * rangecoder.h -- carry-propagating range coder (LZMA-style cache + pending 0xFF run)
 * with a 64-bit low, a range kept in [2^48, 2^56] and a fixed frequency total of 2^28.
 * doc/coder.md specifies the arithmetic, byte order and flushing bit for bit: the coded
 * bytes are part of the .lmz file format.
 *
 * Encoding: rc_enc_init, then rc_enc_encode / rc_enc_uniform per symbol, rc_enc_finish,
 * then the output is buf[0..len) (take it by setting buf = NULL), then rc_enc_free.
 * Decoding mirrors it symbol by symbol:
 *     t = rc_dec_target(d);             any value in [start, start + freq) of the symbol
 *     (find the symbol whose [start, start + freq) holds t)
 *     rc_dec_update(d, start, freq);
 *
 * The decoder never reads outside buf[0..n).  Past the end it is fed zero bytes: that is
 * how the encoder's trimmed flush is completed (at most 7 such bytes in a valid stream).
 * Corrupt or truncated input never crashes; it sets `overrun`, and rc_dec_finish checks
 * that the stream ended exactly where and how the encoder ended it.  Callers must still verify counts and checksums:
 * a range coder decodes some symbol sequence from any bytes.
 */
#ifndef LMZ_RANGECODER_H
#define LMZ_RANGECODER_H

#include <stddef.h>
#include <stdint.h>

/* Frequencies given to rc_enc_encode / rc_dec_update always sum to LMZ_FREQ_TOTAL. */
#define LMZ_FREQ_BITS  28
#define LMZ_FREQ_TOTAL (UINT32_C(1) << LMZ_FREQ_BITS)

typedef struct rc_encoder {
    uint64_t low;        /* bits 0..55: the window; bit 56: carry into emitted bytes */
    uint64_t range;      /* in [2^48, 2^56] between calls */
    uint64_t pending;    /* 0xFF bytes held after `cache`: a carry would turn them to 0x00 */
    uint8_t cache;       /* last byte out of the window, held back for a possible carry */
    int has_cache;
    uint8_t *buf;        /* output, malloc'd and grown as needed */
    size_t len, cap;
    int oom;             /* an allocation failed: the output is incomplete */
    int misuse;          /* a call had invalid arguments (freq 0, start + freq > total) */
} rc_encoder;

void rc_enc_init(rc_encoder *e);

/* Code the symbol [start, start + freq) out of LMZ_FREQ_TOTAL; freq >= 1. */
void rc_enc_encode(rc_encoder *e, uint32_t start, uint32_t freq);

/* Code value in [0, n) with probability 1/n each; 1 <= n <= 2^32 - 1. */
void rc_enc_uniform(rc_encoder *e, uint32_t value, uint32_t n);

/* Flush.  Returns 0, or -1 if memory ran out or a call had invalid arguments. */
int rc_enc_finish(rc_encoder *e);

/* Free buf (NULL it first to keep the output). */
void rc_enc_free(rc_encoder *e);

typedef struct rc_decoder {
    const uint8_t *p, *end;
    uint64_t code;       /* stream value minus the encoder's low, in the window: < range */
    uint64_t range;
    uint64_t window;     /* the last 7 bytes read (56 bits): the flush check needs them */
    uint64_t past_end;   /* zero bytes fed after the end of the input */
    int overrun;         /* the input is corrupt: more than 7 bytes were needed past its
                            end, or a code value appeared that no encoder produces */
} rc_decoder;

void rc_dec_init(rc_decoder *d, const uint8_t *buf, size_t n);

/* The next symbol's target, in [0, LMZ_FREQ_TOTAL). */
uint32_t rc_dec_target(rc_decoder *d);

/* Consume the symbol [start, start + freq) that holds the last target. */
void rc_dec_update(rc_decoder *d, uint32_t start, uint32_t freq);

/* Decode a value coded by rc_enc_uniform with the same n. */
uint32_t rc_dec_uniform(rc_decoder *d, uint32_t n);

/* After the last symbol: 0 if the input ends exactly as rc_enc_finish ends a stream
 * (every byte read, the flushed value and the trimmed zeros as the encoder picks them,
 * no overrun), else -1.  A stray byte appended or a byte cut off fails here. */
int rc_dec_finish(const rc_decoder *d);

/* A binary decision with probability p1 / 65536 of a 1 (1 <= p1 <= 65535): a 1 is the
 * symbol [0, p1 << 12), a 0 the rest (doc/coder.md 4.6). */
void rc_enc_bit(rc_encoder *e, uint32_t p1, int bit);
int rc_dec_bit(rc_decoder *d, uint32_t p1);

#endif
