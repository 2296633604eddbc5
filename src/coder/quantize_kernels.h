/*
 * quantize_kernels.h -- the per-ISA inner loops of the quantizer (private to src/coder).
 * Each ISA file fills one table; quantize.c holds the rule's integer steps and picks a
 * table.  Every kernel must give exactly quant_q()'s values, element by element.
 */
#ifndef LMZ_QUANTIZE_KERNELS_H
#define LMZ_QUANTIZE_KERNELS_H

#include <stdint.h>

#include "kernels/detmath.h"

/* q = 2^31 is the weight of the largest logit (lmz_expf(0) = 1 exactly) and no weight
 * is larger (lmz_expf(x) <= 1 for every x <= 0, checked over all floats).  A logit just
 * below the largest may also round to 2^31. */
#define QUANT_Q_ONE   2147483648.0f
#define QUANT_Q_TOP   (UINT32_C(1) << 31)

/* The integer weight of logit x in a row whose largest logit is m: x - m <= 0, not NaN.
 * The product by 2^31 is exact; the conversion truncates. */
static inline uint32_t quant_q(float x, float m)
{
    return (uint32_t)(lmz_expf(x - m) * QUANT_Q_ONE);
}

typedef struct quant_kernels {
    /* *max = the largest x[i] (n >= 1).  Returns 1 if no x[i] is NaN or +inf, else 0. */
    int (*scan)(const float *x, uint32_t n, float *max);
    /* The sum of quant_q(x[i], m) over i; stores each in q[i] unless q is NULL.
     * *first_max = the lowest i with x[i] == m, or n if none. */
    uint64_t (*exp_q)(const float *x, uint32_t n, float m, uint32_t *q, uint32_t *first_max);
    /* The sum over i of (quant_q(x[i], m) * M) >> 32, for M < 2^32. */
    uint64_t (*exp_floor_sum)(const float *x, uint32_t n, float m, uint32_t M);
    /* In place: c[i] holds weight q_i on entry and sum over j <= i of
     * 1 + ((q_j * M) >> 32) on return (the caller proves the sums fit in 32 bits). */
    void (*freq_prefix)(uint32_t *c, uint32_t n, uint32_t M);
} quant_kernels;

extern const quant_kernels quant_kernels_scalar;
extern const quant_kernels quant_kernels_avx2;     /* x86-64 builds only */
extern const quant_kernels quant_kernels_avx512;   /* x86-64 builds only */
extern const quant_kernels quant_kernels_neon;     /* AArch64 builds only */

#endif
