/*
 * rangecoder.c -- see rangecoder.h and doc/coder.md.
 *
 * The coded number is a fraction in [0, 1) written in base 256, most significant byte
 * first.  The encoder's interval is [low, low + range) in units of 2^-56 of the current
 * byte position; bytes leave the top of the 56-bit window as the range shrinks.  A byte
 * that could still receive a carry (from low += r * start) is held in `cache`, followed
 * by `pending` bytes of 0xFF that the same carry would roll over.
 *
 * Bounds: range <= 2^56 and low < 2^56 after every normalization step, so
 * low + range < 2^57 and every sum fits in 64 bits; the carry is bit 56.
 */
#include <stdlib.h>
#include <string.h>

#include "coder/rangecoder.h"

#define RC_TOP   (UINT64_C(1) << 56)    /* window size; initial range */
#define RC_BOT   (UINT64_C(1) << 48)    /* normalize while range < RC_BOT */
#define RC_SHIFT 48                     /* the byte leaving the window: bits 48..55 */
#define RC_WINDOW_BYTES 7               /* bytes in the window: the decoder's first read */

static void emit(rc_encoder *e, uint8_t byte)
{
    if (e->len == e->cap) {
        if (e->oom) return;
        size_t cap = e->cap ? e->cap * 2 : 4096;
        uint8_t *p = realloc(e->buf, cap);
        if (!p) { e->oom = 1; return; }
        e->buf = p;
        e->cap = cap;
    }
    e->buf[e->len++] = byte;
}

/* Move the top byte of the window out (LZMA's ShiftLow).  A byte below 0xFF, or any byte
 * when a carry is present, settles the held cache byte and the 0xFF run behind it. */
static void shift_low(rc_encoder *e)
{
    if (e->low < (UINT64_C(0xFF) << RC_SHIFT) || e->low >= RC_TOP) {
        uint8_t carry = (uint8_t)(e->low >> 56);
        /* With no cache byte yet, nothing precedes the 0xFF run and carry is 0: the
         * coded fraction stays below 1, so the first byte never overflows.  That is
         * why the always-zero leading byte of LZMA's coder need not be written. */
        if (e->has_cache) emit(e, (uint8_t)(e->cache + carry));
        for (; e->pending; e->pending--) emit(e, (uint8_t)(0xFF + carry));
        e->cache = (uint8_t)(e->low >> RC_SHIFT);
        e->has_cache = 1;
    } else {
        e->pending++;
    }
    e->low = (e->low & (RC_BOT - 1)) << 8;
}

static void enc_normalize(rc_encoder *e)
{
    while (e->range < RC_BOT) {
        e->range <<= 8;
        shift_low(e);
    }
}

void rc_enc_init(rc_encoder *e)
{
    memset(e, 0, sizeof *e);
    e->range = RC_TOP;
}

void rc_enc_encode(rc_encoder *e, uint32_t start, uint32_t freq)
{
    if (freq == 0 || freq > LMZ_FREQ_TOTAL || start > LMZ_FREQ_TOTAL - freq) {
        e->misuse = 1;
        return;
    }
    /* range >= 2^48 so r >= 2^20 and the new range r * freq >= 2^20: at most 4 shifts.
     * r * (start + freq) <= r * 2^28 <= range: the symbol stays inside the interval. */
    uint64_t r = e->range >> LMZ_FREQ_BITS;
    e->low += r * start;
    e->range = r * freq;
    enc_normalize(e);
}

void rc_enc_uniform(rc_encoder *e, uint32_t value, uint32_t n)
{
    if (n == 0 || value >= n) {
        e->misuse = 1;
        return;
    }
    /* n < 2^32 so r >= 2^16: at most 4 shifts. */
    uint64_t r = e->range / n;
    e->low += r * value;
    e->range = r;
    enc_normalize(e);
}

int rc_enc_finish(rc_encoder *e)
{
    /* Pick the value in [low, low + range) with the most zero low-order bytes: a
     * multiple of 2^56 if there is one, else of 2^48 (there always is: range >= 2^48). */
    uint64_t mask = RC_TOP - 1;
    uint64_t v = (e->low + mask) & ~mask;
    if (v - e->low >= e->range) {
        mask = RC_BOT - 1;
        v = (e->low + mask) & ~mask;
    }
    e->low = v;
    /* Seven shifts move the whole window into cache/pending, the eighth settles them
     * (its own cache byte is the zero bits below the window and is dropped).  The output
     * now holds exactly the bytes the decoder will read. */
    for (int i = 0; i < RC_WINDOW_BYTES + 1; i++) shift_low(e);
    /* The decoder reads zeros past the end, so v's zero window bytes need not be stored:
     * all 7 if v is a multiple of 2^56, else the low 6 (the top one is then non-zero,
     * or v would be a multiple of 2^56).  rc_dec_finish checks exactly this. */
    for (int i = 0; i < RC_WINDOW_BYTES && e->len > 0 && e->buf[e->len - 1] == 0; i++)
        e->len--;
    return (e->oom || e->misuse) ? -1 : 0;
}

void rc_enc_free(rc_encoder *e)
{
    free(e->buf);
    e->buf = NULL;
    e->len = e->cap = 0;
}

static uint8_t next_byte(rc_decoder *d)
{
    uint8_t b = 0;
    if (d->p < d->end) {
        b = *d->p++;
    } else {
        d->past_end++;
        if (d->past_end > RC_WINDOW_BYTES) d->overrun = 1;
    }
    d->window = ((d->window << 8) | b) & (RC_TOP - 1);
    return b;
}

static void dec_normalize(rc_decoder *d)
{
    /* code < range < 2^48 here, so code << 8 stays below 2^56. */
    while (d->range < RC_BOT) {
        d->code = (d->code << 8) | next_byte(d);
        d->range <<= 8;
    }
}

void rc_dec_init(rc_decoder *d, const uint8_t *buf, size_t n)
{
    memset(d, 0, sizeof *d);
    d->p = buf;
    d->end = buf ? buf + n : buf;
    d->range = RC_TOP;
    for (int i = 0; i < RC_WINDOW_BYTES; i++) d->code = (d->code << 8) | next_byte(d);
}

uint32_t rc_dec_target(rc_decoder *d)
{
    uint64_t r = d->range >> LMZ_FREQ_BITS;
    uint64_t t = d->code / r;
    if (t >= LMZ_FREQ_TOTAL) {
        /* The encoder only produces code < r * 2^28; the slack above is unreachable. */
        d->overrun = 1;
        d->code = r * LMZ_FREQ_TOTAL - 1;
        t = LMZ_FREQ_TOTAL - 1;
    }
    return (uint32_t)t;
}

/* Narrow the decoder's interval to [r * start, r * start + new_range), as the encoder
 * did; a code outside it means the caller's symbol does not hold the target (corrupt
 * input or misuse).  The state is left valid either way. */
static void dec_narrow(rc_decoder *d, uint64_t lo, uint64_t new_range)
{
    if (d->code < lo || d->code - lo >= new_range) {
        d->overrun = 1;
        return;
    }
    d->code -= lo;
    d->range = new_range;
    dec_normalize(d);
}

void rc_dec_update(rc_decoder *d, uint32_t start, uint32_t freq)
{
    if (freq == 0 || freq > LMZ_FREQ_TOTAL || start > LMZ_FREQ_TOTAL - freq) {
        d->overrun = 1;
        return;
    }
    uint64_t r = d->range >> LMZ_FREQ_BITS;
    dec_narrow(d, r * start, r * freq);
}

uint32_t rc_dec_uniform(rc_decoder *d, uint32_t n)
{
    if (n == 0) {
        d->overrun = 1;
        return 0;
    }
    uint64_t r = d->range / n;
    uint64_t v = d->code / r;
    if (v >= n) {
        d->overrun = 1;
        v = n - 1;
    }
    dec_narrow(d, r * v, r);
    return (uint32_t)v;
}

/* After the last symbol, code = v - low, where v is the value rc_enc_finish picked and
 * `window` holds v's low 56 bits (v's last 7 bytes), so the decoder can redo the
 * encoder's choice:
 *   window = 0: v was the multiple of 2^56 (always a valid choice when present: code <
 *     range), and the 7 zero bytes were trimmed;
 *   else v must be the smallest multiple of 2^48 at or above low (code < 2^48), its low
 *     6 bytes zero and trimmed, and no multiple of 2^56 may lie in [low, low + range):
 *     the next one above low is (2^56 - low) mod 2^56 = (code - window) mod 2^56 away. */
int rc_dec_finish(const rc_decoder *d)
{
    if (d->overrun || d->p != d->end) return -1;
    if (d->window == 0) return d->past_end == RC_WINDOW_BYTES ? 0 : -1;
    int canonical = (d->window & (RC_BOT - 1)) == 0 && d->code < RC_BOT
                    && ((d->code - d->window) & (RC_TOP - 1)) >= d->range;
    return canonical && d->past_end == RC_WINDOW_BYTES - 1 ? 0 : -1;
}

void rc_enc_bit(rc_encoder *e, uint32_t p1, int bit)
{
    uint32_t f1 = p1 << (LMZ_FREQ_BITS - 16);
    if (bit) rc_enc_encode(e, 0, f1);
    else rc_enc_encode(e, f1, LMZ_FREQ_TOTAL - f1);
}

int rc_dec_bit(rc_decoder *d, uint32_t p1)
{
    uint32_t f1 = p1 << (LMZ_FREQ_BITS - 16);
    int bit = rc_dec_target(d) < f1;
    if (bit) rc_dec_update(d, 0, f1);
    else rc_dec_update(d, f1, LMZ_FREQ_TOTAL - f1);
    return bit;
}
