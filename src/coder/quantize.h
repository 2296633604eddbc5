/*
 * quantize.h -- logits -> integer frequencies, the one fixed rule that encoder and
 * decoder both run.  Its output is part of the .lmz file format: doc/coder.md gives the
 * rule step by step, and tests/test_coder.c pins known answers.  Changing any step
 * makes every existing .lmz file undecodable.
 *
 * Every token gets a frequency >= 1 and the frequencies sum to exactly LMZ_FREQ_TOTAL
 * (2^28).  The result depends only on the logit values, never on the SIMD path: the
 * vector kernels do lmz_expf's operations lane by lane, and all sums are integer sums.
 *
 * Rows with a NaN or +inf logit, or with every logit -inf, are invalid model output;
 * they are coded as if every logit were equal (uniform frequencies), so that even a
 * broken model gives a decodable stream.
 */
#ifndef LMZ_QUANTIZE_H
#define LMZ_QUANTIZE_H

#include <stdint.h>

#include "coder/rangecoder.h"
#include "lmz.h"

#define LMZ_QUANT_MAX_VOCAB (UINT32_C(1) << 18)

/* Which code computes the rule; all give identical results. */
typedef enum quant_isa {
    QUANT_ISA_SCALAR = 0,
    QUANT_ISA_AVX2 = 1,      /* where lmz_simd_supported(LMZ_SIMD_AVX2) */
    QUANT_ISA_AVX512 = 2,    /* where lmz_simd_supported(LMZ_SIMD_AVX512) */
    QUANT_ISA_NEON = 3       /* where lmz_simd_supported(LMZ_SIMD_NEON) (AArch64) */
} quant_isa;

/* The best path this CPU runs. */
quant_isa quant_isa_best(void);
/* The quantizer path that goes with a model kernel path (AUTO: the best one). */
quant_isa quant_isa_for_simd(lmz_simd simd);

/* Cumulative frequencies: cum[0] = 0, cum[n_vocab] = LMZ_FREQ_TOTAL, and token i has
 * freq cum[i + 1] - cum[i] >= 1.  cum holds n_vocab + 1 entries.  Returns 0, or -1 if
 * n_vocab is 0 or above LMZ_QUANT_MAX_VOCAB (cum untouched). */
int quant_cumfreq(const float *logits, uint32_t n_vocab, uint32_t *cum);

/* The same numbers for one token, without an array: *start = cum[token] and
 * *freq = cum[token + 1] - cum[token].  Returns 0, or -1 for a bad n_vocab or
 * token >= n_vocab (outputs untouched). */
int quant_symbol(const float *logits, uint32_t n_vocab, uint32_t token,
                 uint32_t *start, uint32_t *freq);

/* The same on a chosen path (an unsupported one falls back to the nearest supported one
 * below it in this enum). */
int quant_cumfreq_isa(quant_isa isa, const float *logits, uint32_t n_vocab, uint32_t *cum);
int quant_symbol_isa(quant_isa isa, const float *logits, uint32_t n_vocab, uint32_t token,
                     uint32_t *start, uint32_t *freq);

/* The token i with cum[i] <= target < cum[i + 1]; target < cum[n_vocab]. */
uint32_t quant_find(const uint32_t *cum, uint32_t n_vocab, uint32_t target);

#endif
