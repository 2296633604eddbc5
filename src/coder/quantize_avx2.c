/*
 * quantize_avx2.c -- the quantizer's inner loops, 8 lanes.  exp8() is lmz_expf's
 * operation sequence lane by lane (detmath.h), so each weight is bit-identical to
 * quant_q(); the leftover elements go through quant_q() itself.  Integer sums do not
 * depend on order.
 */
#include <immintrin.h>

#include "coder/quantize_kernels.h"
#include "kernels/exp_avx2.h"

/* lmz_expf on each lane, for lanes that are not NaN and not above LMZ_EXP_HI. */
static inline __m256 exp8(__m256 x)
{
    __m256 keep = _mm256_cmp_ps(x, _mm256_set1_ps(LMZ_EXP_LO), _CMP_GE_OQ);
    return _mm256_and_ps(lmz_exp8_core(x), keep);      /* x < LMZ_EXP_LO (or -inf): +0 */
}

/* quant_q() of 8 logits.  AVX2 converts only to signed int32: weights below 2^31 convert
 * exactly, and 2^31 itself (e = 1) gives the "integer indefinite" 0x80000000, which is
 * 2^31 read as unsigned.  No weight exceeds 2^31. */
static inline __m256i weights8(__m256 x, __m256 m)
{
    __m256 e = exp8(_mm256_sub_ps(x, m));
    return _mm256_cvttps_epi32(_mm256_mul_ps(e, _mm256_set1_ps(QUANT_Q_ONE)));
}

/* The 8 weights summed into 4 64-bit lanes. */
static inline __m256i widen_add(__m256i acc, __m256i q)
{
    acc = _mm256_add_epi64(acc, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(q)));
    return _mm256_add_epi64(acc, _mm256_cvtepu32_epi64(_mm256_extracti128_si256(q, 1)));
}

static uint64_t hsum64(__m256i v)
{
    uint64_t lane[4];
    _mm256_storeu_si256((__m256i *)lane, v);
    return lane[0] + lane[1] + lane[2] + lane[3];
}

static int scan_avx2(const float *x, uint32_t n, float *max)
{
    /* Max is exact and order-free for non-NaN values; NaN rows are rejected anyway. */
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
    __m256 inf = _mm256_set1_ps(INFINITY);
    __m256 bad = _mm256_setzero_ps();
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, inf, _CMP_NLT_UQ));
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(b, inf, _CMP_NLT_UQ));
        m0 = _mm256_max_ps(m0, a);
        m1 = _mm256_max_ps(m1, b);
    }
    float lane[8];
    _mm256_storeu_ps(lane, _mm256_max_ps(m0, m1));
    float m = lane[0];
    for (int j = 1; j < 8; j++) if (lane[j] > m) m = lane[j];
    int ok = _mm256_movemask_ps(bad) == 0;
    for (; i < n; i++) {
        if (!(x[i] < INFINITY)) ok = 0;
        if (x[i] > m) m = x[i];
    }
    *max = m;
    return ok;
}

static uint64_t exp_q_avx2(const float *x, uint32_t n, float m, uint32_t *q,
                           uint32_t *first_max)
{
    __m256 mv = _mm256_set1_ps(m);
    __m256i acc = _mm256_setzero_si256();
    uint32_t first = n, i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xv = _mm256_loadu_ps(x + i);
        __m256i qv = weights8(xv, mv);
        if (q) _mm256_storeu_si256((__m256i *)(q + i), qv);
        int hit = _mm256_movemask_ps(_mm256_cmp_ps(xv, mv, _CMP_EQ_OQ));
        if (hit && first == n) first = i + (uint32_t)__builtin_ctz((unsigned)hit);
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

/* (q * M) >> 32 of 8 weights, in order: the high halves of the 64-bit products
 * (mul_epu32 multiplies the low 32 bits of each 64-bit lane: even, then odd weights). */
static inline __m256i floor8(__m256i q, __m256i Mv)
{
    __m256i even = _mm256_mul_epu32(q, Mv);
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(q, 32), Mv);
    return _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

static uint64_t exp_floor_sum_avx2(const float *x, uint32_t n, float m, uint32_t M)
{
    __m256 mv = _mm256_set1_ps(m);
    __m256i Mv = _mm256_set1_epi64x((long long)M);
    __m256i acc = _mm256_setzero_si256();
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8)
        acc = widen_add(acc, floor8(weights8(_mm256_loadu_ps(x + i), mv), Mv));
    uint64_t sum = hsum64(acc);
    for (; i < n; i++) sum += ((uint64_t)quant_q(x[i], m) * M) >> 32;
    return sum;
}

static void freq_prefix_avx2(uint32_t *c, uint32_t n, uint32_t M)
{
    __m256i Mv = _mm256_set1_epi64x((long long)M);
    __m256i one = _mm256_set1_epi32(1), last = _mm256_set1_epi32(7);
    __m256i offset = _mm256_setzero_si256();
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(c + i));
        __m256i f = _mm256_add_epi32(floor8(q, Mv), one);
        /* Prefix within each 128-bit half, then the low half's total into the high. */
        f = _mm256_add_epi32(f, _mm256_slli_si256(f, 4));
        f = _mm256_add_epi32(f, _mm256_slli_si256(f, 8));
        __m256i low_total = _mm256_shuffle_epi32(f, 0xFF);
        f = _mm256_add_epi32(f, _mm256_permute2x128_si256(low_total, low_total, 0x08));
        f = _mm256_add_epi32(f, offset);
        _mm256_storeu_si256((__m256i *)(c + i), f);
        offset = _mm256_permutevar8x32_epi32(f, last);
    }
    uint32_t acc = i ? c[i - 1] : 0;
    for (; i < n; i++) {
        acc += 1 + (uint32_t)(((uint64_t)c[i] * M) >> 32);
        c[i] = acc;
    }
}

const quant_kernels quant_kernels_avx2 = {
    scan_avx2, exp_q_avx2, exp_floor_sum_avx2, freq_prefix_avx2
};
