/*
 * quantize_avx512.c -- the quantizer's inner loops, 16 lanes.  exp16() is lmz_expf's
 * operation sequence lane by lane (detmath.h), so each weight is bit-identical to
 * quant_q(); the leftover elements go through quant_q() itself.  Integer sums do not
 * depend on order.
 */
#include <immintrin.h>

#include "coder/quantize_kernels.h"
#include "kernels/exp_avx512.h"

/* lmz_expf on each lane, for lanes that are not NaN and not above LMZ_EXP_HI. */
static inline __m512 exp16(__m512 x)
{
    __mmask16 flush = _mm512_cmp_ps_mask(x, _mm512_set1_ps(LMZ_EXP_LO), _CMP_LT_OQ);
    return _mm512_maskz_mov_ps((__mmask16)~flush, lmz_exp16_core(x));
}

/* quant_q() of 16 logits. */
static inline __m512i weights16(__m512 x, __m512 m)
{
    __m512 e = exp16(_mm512_sub_ps(x, m));
    return _mm512_cvttps_epu32(_mm512_mul_ps(e, _mm512_set1_ps(QUANT_Q_ONE)));
}

/* The 16 weights summed into 8 64-bit lanes. */
static inline __m512i widen_add(__m512i acc, __m512i q)
{
    acc = _mm512_add_epi64(acc, _mm512_cvtepu32_epi64(_mm512_castsi512_si256(q)));
    return _mm512_add_epi64(acc, _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(q, 1)));
}

static uint64_t hsum64(__m512i v)
{
    return (uint64_t)_mm512_reduce_add_epi64(v);
}

static int scan_avx512(const float *x, uint32_t n, float *max)
{
    /* Max is exact and order-free for non-NaN values; NaN rows are rejected anyway. */
    __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
    __m512 inf = _mm512_set1_ps(INFINITY);
    __mmask16 bad = 0;
    uint32_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        bad |= _mm512_cmp_ps_mask(a, inf, _CMP_NLT_UQ) | _mm512_cmp_ps_mask(b, inf, _CMP_NLT_UQ);
        m0 = _mm512_max_ps(m0, a);
        m1 = _mm512_max_ps(m1, b);
    }
    float m = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
    int ok = bad == 0;
    for (; i < n; i++) {
        if (!(x[i] < INFINITY)) ok = 0;
        if (x[i] > m) m = x[i];
    }
    *max = m;
    return ok;
}

static uint64_t exp_q_avx512(const float *x, uint32_t n, float m, uint32_t *q,
                             uint32_t *first_max)
{
    __m512 mv = _mm512_set1_ps(m);
    __m512i acc = _mm512_setzero_si512();
    uint32_t first = n, i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 xv = _mm512_loadu_ps(x + i);
        __m512i qv = weights16(xv, mv);
        if (q) _mm512_storeu_si512((void *)(q + i), qv);
        __mmask16 hit = _mm512_cmp_ps_mask(xv, mv, _CMP_EQ_OQ);
        if (hit && first == n) first = i + (uint32_t)__builtin_ctz(hit);
        acc = widen_add(acc, qv);
    }
    uint64_t sum = hsum64(acc);
    for (; i < n; i++) {
        uint32_t qi = quant_q(x[i], m);
        if (q) q[i] = qi;
        if (x[i] == m && first == n) first = i;
        sum += qi;
    }
    *first_max = first;
    return sum;
}

/* (q * M) >> 32 of 16 weights, in order: the high halves of the 64-bit products
 * (mul_epu32 multiplies the low 32 bits of each 64-bit lane: even, then odd weights). */
static inline __m512i floor16(__m512i q, __m512i Mv)
{
    __m512i even = _mm512_mul_epu32(q, Mv);
    __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(q, 32), Mv);
    return _mm512_mask_mov_epi32(_mm512_srli_epi64(even, 32), 0xAAAA, odd);
}

static uint64_t exp_floor_sum_avx512(const float *x, uint32_t n, float m, uint32_t M)
{
    __m512 mv = _mm512_set1_ps(m);
    __m512i Mv = _mm512_set1_epi64((long long)M);
    __m512i acc = _mm512_setzero_si512();
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16)
        acc = widen_add(acc, floor16(weights16(_mm512_loadu_ps(x + i), mv), Mv));
    uint64_t sum = hsum64(acc);
    for (; i < n; i++) sum += ((uint64_t)quant_q(x[i], m) * M) >> 32;
    return sum;
}

/* Shift 16 lanes up by k, zeros in. */
#define LANES_UP(v, k) _mm512_alignr_epi32((v), _mm512_setzero_si512(), 16 - (k))

static void freq_prefix_avx512(uint32_t *c, uint32_t n, uint32_t M)
{
    __m512i Mv = _mm512_set1_epi64((long long)M);
    __m512i one = _mm512_set1_epi32(1), last = _mm512_set1_epi32(15);
    __m512i offset = _mm512_setzero_si512();
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i q = _mm512_loadu_si512((const void *)(c + i));
        __m512i f = _mm512_add_epi32(floor16(q, Mv), one);
        f = _mm512_add_epi32(f, LANES_UP(f, 1));
        f = _mm512_add_epi32(f, LANES_UP(f, 2));
        f = _mm512_add_epi32(f, LANES_UP(f, 4));
        f = _mm512_add_epi32(f, LANES_UP(f, 8));
        f = _mm512_add_epi32(f, offset);
        _mm512_storeu_si512((void *)(c + i), f);
        offset = _mm512_permutexvar_epi32(last, f);
    }
    uint32_t acc = i ? c[i - 1] : 0;
    for (; i < n; i++) {
        acc += 1 + (uint32_t)(((uint64_t)c[i] * M) >> 32);
        c[i] = acc;
    }
}

const quant_kernels quant_kernels_avx512 = {
    scan_avx512, exp_q_avx512, exp_floor_sum_avx512, freq_prefix_avx512
};
