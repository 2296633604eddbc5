/*
 * quantize.c -- the frequency rule of doc/coder.md ("Quantizer"), its dispatch to the
 * per-ISA kernels, and the decoder's symbol search.
 *
 * The rule, for a valid row of V logits (T = 2^28):
 *   m   = max logit
 *   q_i = (uint32_t)(lmz_expf(l_i - m) * 2^31)        0 <= q_i <= 2^31
 *   Q   = sum q_i                                      2^31 <= Q <= V * 2^31 <= 2^49
 *   M   = floor((T - V) * 2^32 / Q)                    M < 2^60 / 2^31 = 2^29
 *   f_i = 1 + ((q_i * M) >> 32)                        q_i * M < 2^60
 *   the lowest i with l_i = m gets T - sum f as well.
 * sum f <= V + floor(Q * M / 2^32) <= V + (T - V) = T, so the remainder is >= 0.
 * The remainder goes to the largest logit rather than to the largest q_i: a logit just
 * below m can also have q_i = 2^31, and favouring it would give a smaller logit a larger
 * frequency.  This way f is monotone in the logit.
 * An invalid row (NaN or +inf anywhere, or every logit -inf) uses q_i = 2^31 for all i.
 */
#include "coder/quantize.h"
#include "coder/quantize_kernels.h"
#include "kernels/kernels.h"

/* The same CPU test as the model's kernels: the *_avx2.c / *_avx512.c / *_neon.c files
 * of both are built with the same ISA flags. */
static lmz_simd simd_of(quant_isa isa)
{
    switch (isa) {
    case QUANT_ISA_AVX2:   return LMZ_SIMD_AVX2;
    case QUANT_ISA_AVX512: return LMZ_SIMD_AVX512;
    case QUANT_ISA_NEON:   return LMZ_SIMD_NEON;
    default:               return LMZ_SIMD_SCALAR;
    }
}

quant_isa quant_isa_for_simd(lmz_simd simd)
{
    switch (simd) {
    case LMZ_SIMD_AVX2:   return QUANT_ISA_AVX2;
    case LMZ_SIMD_AVX512: return QUANT_ISA_AVX512;
    case LMZ_SIMD_NEON:   return QUANT_ISA_NEON;
    case LMZ_SIMD_SCALAR: return QUANT_ISA_SCALAR;
    default:              return quant_isa_best();
    }
}

quant_isa quant_isa_best(void)
{
    return quant_isa_for_simd(lmz_simd_best());
}

static const quant_kernels *kernels_for(quant_isa isa)
{
    /* An unsupported path falls back to the nearest supported one below it. */
    while (isa > QUANT_ISA_SCALAR && !lmz_simd_supported(simd_of(isa)))
        isa = (quant_isa)(isa - 1);
    switch (isa) {
#if defined(__x86_64__)
    case QUANT_ISA_AVX512: return &quant_kernels_avx512;
    case QUANT_ISA_AVX2:   return &quant_kernels_avx2;
#endif
#if defined(__aarch64__)
    case QUANT_ISA_NEON:   return &quant_kernels_neon;
#endif
    default:               return &quant_kernels_scalar;
    }
}

/* The row's weights summed, and what they determine. */
typedef struct row_weights {
    int valid;
    float m;
    uint64_t Q;
    uint32_t top;      /* lowest index with the largest logit: receives the remainder */
    uint32_t M;
} row_weights;

static uint32_t scale_for(uint32_t n, uint64_t Q)
{
    /* (T - n) * 2^32 < 2^60: no overflow; Q >= 2^31 so the quotient is < 2^29. */
    return (uint32_t)((((uint64_t)(LMZ_FREQ_TOTAL - n)) << 32) / Q);
}

/* Weights of a row; stores them in q (n entries) unless q is NULL. */
static void weigh_row(const quant_kernels *k, const float *logits, uint32_t n, uint32_t *q,
                      row_weights *w)
{
    w->valid = k->scan(logits, n, &w->m) && w->m > -INFINITY;
    if (w->valid) {
        w->Q = k->exp_q(logits, n, w->m, q, &w->top);
    } else {
        if (q) for (uint32_t i = 0; i < n; i++) q[i] = QUANT_Q_TOP;
        w->Q = (uint64_t)n * QUANT_Q_TOP;
        w->top = 0;
    }
    w->M = scale_for(n, w->Q);
}

int quant_cumfreq_isa(quant_isa isa, const float *logits, uint32_t n_vocab, uint32_t *cum)
{
    if (n_vocab == 0 || n_vocab > LMZ_QUANT_MAX_VOCAB) return -1;
    const quant_kernels *k = kernels_for(isa);
    row_weights w;
    weigh_row(k, logits, n_vocab, cum + 1, &w);
    /* cum[i + 1] holds q_i until it is replaced by the running total, <= T. */
    k->freq_prefix(cum + 1, n_vocab, w.M);
    cum[0] = 0;
    uint32_t rem = LMZ_FREQ_TOTAL - cum[n_vocab];
    for (uint32_t i = w.top + 1; i <= n_vocab; i++) cum[i] += rem;
    return 0;
}

int quant_symbol_isa(quant_isa isa, const float *logits, uint32_t n_vocab, uint32_t token,
                     uint32_t *start, uint32_t *freq)
{
    if (n_vocab == 0 || n_vocab > LMZ_QUANT_MAX_VOCAB || token >= n_vocab) return -1;
    const quant_kernels *k = kernels_for(isa);
    row_weights w;
    weigh_row(k, logits, n_vocab, NULL, &w);
    /* Floors of q_i * M / 2^32 below the token, at it, and above it. */
    uint64_t below, at, above;
    if (w.valid) {
        below = k->exp_floor_sum(logits, token, w.m, w.M);
        at = ((uint64_t)quant_q(logits[token], w.m) * w.M) >> 32;
        above = k->exp_floor_sum(logits + token + 1, n_vocab - token - 1, w.m, w.M);
    } else {
        at = ((uint64_t)QUANT_Q_TOP * w.M) >> 32;
        below = at * token;
        above = at * (n_vocab - 1 - token);
    }
    uint32_t rem = (uint32_t)(LMZ_FREQ_TOTAL - (n_vocab + below + at + above));
    *start = (uint32_t)(token + below) + (w.top < token ? rem : 0);
    *freq = (uint32_t)(1 + at) + (w.top == token ? rem : 0);
    return 0;
}

int quant_cumfreq(const float *logits, uint32_t n_vocab, uint32_t *cum)
{
    return quant_cumfreq_isa(quant_isa_best(), logits, n_vocab, cum);
}

int quant_symbol(const float *logits, uint32_t n_vocab, uint32_t token,
                 uint32_t *start, uint32_t *freq)
{
    return quant_symbol_isa(quant_isa_best(), logits, n_vocab, token, start, freq);
}

uint32_t quant_find(const uint32_t *cum, uint32_t n_vocab, uint32_t target)
{
    /* Invariant: cum[lo] <= target < cum[hi]. */
    uint32_t lo = 0, hi = n_vocab;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cum[mid] <= target) lo = mid; else hi = mid;
    }
    return lo;
}
