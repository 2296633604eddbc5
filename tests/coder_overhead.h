/*
 * coder_overhead.h -- measures what the quantizer + range coder cost above the model's
 * ideal cross-entropy.  Feed it each token with the logits that predicted it; at the
 * end compare the bytes actually written with sum(-log2 softmax(logits)[token]).
 *
 * The ideal is computed in double with libm: it is a measurement, never on the
 * probability path.  Usable with synthetic rows (tests/test_coder.c) or with a real
 * model's logits, one row at a time.
 */
#ifndef LMZ_TESTS_CODER_OVERHEAD_H
#define LMZ_TESTS_CODER_OVERHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "coder/rangecoder.h"

typedef struct coder_meter {
    rc_encoder enc;         /* after coder_meter_finish: the coded stream, enc.buf[0..len) */
    uint32_t n_vocab;
    double ideal_bits;      /* sum of -log2 softmax(logits)[token] */
    uint64_t n_tokens;
    size_t coded_bytes;     /* set by coder_meter_finish */
} coder_meter;

/* -log2 of softmax(logits)[token], in double (libm). */
double coder_ideal_bits(const float *logits, uint32_t n_vocab, uint32_t token);

void coder_meter_init(coder_meter *m, uint32_t n_vocab);

/* One token under the model's logits: quantizes with quant_symbol (the encoder's path),
 * codes it and adds its ideal cost.  Returns 0, or -1 for a bad token or vocabulary. */
int coder_meter_add(coder_meter *m, const float *logits, uint32_t token);

/* The same for a row already quantized (cum from quant_cumfreq) whose ideal cost for
 * this token the caller knows: for reusing rows. */
void coder_meter_add_quantized(coder_meter *m, const uint32_t *cum, uint32_t token,
                               double ideal_bits);

/* Flushes the coder.  Returns 0, or -1 if the coder failed (out of memory). */
int coder_meter_finish(coder_meter *m);

/* Coded bits / ideal bits - 1, after coder_meter_finish. */
double coder_meter_overhead(const coder_meter *m);

void coder_meter_free(coder_meter *m);

#endif
