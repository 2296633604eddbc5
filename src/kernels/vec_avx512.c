/*
 * vec_avx512.c -- AVX-512 versions of the vector kernels.  16 lanes = the 16 canonical
 * lanes of the sums, so the lane assignment (i mod 16) falls out of the loop; the fixed
 * tree is the halving of the register.  lmz_expf is replayed operation by operation.
 */
#include <immintrin.h>
#include <math.h>

#include "kernels/detmath.h"
#include "kernels/blocks.h"
#include "kernels/kernels.h"
#include "kernels/exp_avx512.h"
#include "kernels/f16.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE __mmask16 tail_mask(size_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

/* lmz_expf on 16 lanes: the same operations in the same order, then the three special
 * cases of the scalar code blended in (NaN -> x, x < LO -> +0, x > HI -> +inf). */
ALWAYS_INLINE __m512 exp16(__m512 x)
{
    __m512 res = lmz_exp16_core(x);
    res = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(LMZ_EXP_LO), _CMP_LT_OQ),
                               res, _mm512_setzero_ps());
    res = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(LMZ_EXP_HI), _CMP_GT_OQ),
                               res, _mm512_set1_ps(INFINITY));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), res, x);
}

void lmz_exp_n_avx512(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, exp16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

/* The fixed tree: lanes l and l+8, then l and l+4, l+2, l+1. */
ALWAYS_INLINE float tree16(__m512 v)
{
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    __m128 d = _mm_add_ss(c, _mm_movehdup_ps(c));
    return _mm_cvtss_f32(d);
}

float lmz_sumsq_avx512(const float *x, uint32_t n)
{
    /* Zero-filled tail lanes add fmaf(0, 0, lane) = lane: the sums are >= +0. */
    __m512 acc = _mm512_setzero_ps();
    for (uint32_t i = 0; i < n; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
        acc = _mm512_fmadd_ps(v, v, acc);
    }
    return tree16(acc);
}

void lmz_softmax_avx512(float *s, uint32_t n, float scale)
{
    __m512 vs = _mm512_set1_ps(scale);
    __m512 vm = _mm512_set1_ps(-INFINITY);
    for (uint32_t j = 0; j < n; j += 16) {
        __mmask16 m = tail_mask(n - j);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + j), vs);
        _mm512_mask_storeu_ps(s + j, m, v);
        /* max_ps returns its second operand when the first is NaN: NaNs are skipped,
         * as in the scalar `if (s > m)`; masked-off lanes keep the running max. */
        vm = _mm512_mask_max_ps(vm, m, v, vm);
    }
    __m256 m8 = _mm256_max_ps(_mm512_castps512_ps256(vm), _mm512_extractf32x8_ps(vm, 1));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    __m512 vmax = _mm512_set1_ps(_mm_cvtss_f32(m4));
    __m512 acc = _mm512_setzero_ps();
    for (uint32_t j = 0; j < n; j += 16) {
        __mmask16 m = tail_mask(n - j);
        __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + j), vmax));
        _mm512_mask_storeu_ps(s + j, m, e);
        acc = _mm512_mask_add_ps(acc, m, acc, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / tree16(acc));
    for (uint32_t j = 0; j < n; j += 16) {
        __mmask16 m = tail_mask(n - j);
        _mm512_mask_storeu_ps(s + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + j), inv));
    }
}

void lmz_silu_mul_avx512(float *g, const float *u, uint32_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (uint32_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 x = _mm512_maskz_loadu_ps(m, g + i);
        __m512 e = exp16(_mm512_xor_ps(x, sign));
        __m512 silu = _mm512_div_ps(x, _mm512_add_ps(one, e));
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

/* Up to QB queries x DB registers of 16 dims: QB*DB accumulators. */
#define QB 4
#define DB 4

/* 16 values of position j from column d: f32, or f16 widened (exact). */
ALWAYS_INLINE __m512 load_values(const void *vj, __mmask16 m, const int half)
{
    if (half) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, vj));
    return _mm512_maskz_loadu_ps(m, vj);
}

ALWAYS_INLINE void attn_v_block(const void *v, uint32_t hd, uint32_t n_pos, const float *p,
                                size_t ldp, float *out, size_t ldo, uint32_t d0,
                                const int nq, const int nd, __mmask16 last, const int half)
{
    __m512 acc[QB][DB];
    size_t esize = half ? 2 : 4;
#pragma GCC unroll 4
    for (int q = 0; q < nq; q++)
#pragma GCC unroll 4
        for (int c = 0; c < nd; c++) acc[q][c] = _mm512_setzero_ps();
    for (uint32_t j = 0; j < n_pos; j++) {
        const char *vj = (const char *)v + ((size_t)j * hd + d0) * esize;
        __m512 vv[DB];
#pragma GCC unroll 4
        for (int c = 0; c < nd; c++)
            vv[c] = load_values(vj + 16 * c * esize, c == nd - 1 ? last : (__mmask16)0xffff,
                                half);
#pragma GCC unroll 4
        for (int q = 0; q < nq; q++) {
            __m512 pj = _mm512_set1_ps(p[q * ldp + j]);
#pragma GCC unroll 4
            for (int c = 0; c < nd; c++) acc[q][c] = _mm512_fmadd_ps(pj, vv[c], acc[q][c]);
        }
    }
#pragma GCC unroll 4
    for (int q = 0; q < nq; q++)
#pragma GCC unroll 4
        for (int c = 0; c < nd; c++)
            _mm512_mask_storeu_ps(out + q * ldo + d0 + 16 * c,
                                  c == nd - 1 ? last : (__mmask16)0xffff, acc[q][c]);
}

#define ATTN_V_Q(nq, half, name)                                                            \
    static void name(const void *v, uint32_t hd, uint32_t n_pos, const float *p, size_t ldp, \
                     float *out, size_t ldo)                                                \
    {                                                                                       \
        for (uint32_t d0 = 0; d0 < hd; d0 += 16 * DB) {                                     \
            uint32_t left = hd - d0, nd = (left + 15) / 16;                                 \
            __mmask16 last = tail_mask(left - 16 * ((nd > DB ? DB : nd) - 1));              \
            switch (nd > DB ? DB : nd) {                                                    \
            case 1: attn_v_block(v, hd, n_pos, p, ldp, out, ldo, d0, nq, 1, last, half); break; \
            case 2: attn_v_block(v, hd, n_pos, p, ldp, out, ldo, d0, nq, 2, last, half); break; \
            case 3: attn_v_block(v, hd, n_pos, p, ldp, out, ldo, d0, nq, 3, last, half); break; \
            default: attn_v_block(v, hd, n_pos, p, ldp, out, ldo, d0, nq, 4, last, half); break; \
            }                                                                               \
        }                                                                                   \
    }
ATTN_V_Q(1, 0, attn_v_q1)
ATTN_V_Q(2, 0, attn_v_q2)
ATTN_V_Q(3, 0, attn_v_q3)
ATTN_V_Q(4, 0, attn_v_q4)
ATTN_V_Q(1, 1, attn_v16_q1)
ATTN_V_Q(2, 1, attn_v16_q2)
ATTN_V_Q(3, 1, attn_v16_q3)
ATTN_V_Q(4, 1, attn_v16_q4)

static const lmz_attn_v_fn attn_v_f32_blocks[4] = {attn_v_q1, attn_v_q2, attn_v_q3, attn_v_q4};
static const lmz_attn_v_fn attn_v_f16_blocks[4] = {attn_v16_q1, attn_v16_q2, attn_v16_q3, attn_v16_q4};

void lmz_attn_v_avx512(const float *v, uint32_t hd, uint32_t n_pos, const float *p, size_t ldp,
                     uint32_t n_q, float *out, size_t ldo)
{
    lmz_attn_v_run(v, hd, n_pos, p, ldp, n_q, out, ldo, attn_v_f32_blocks, 4);
}

void lmz_attn_v_f16_avx512(const uint16_t *v, uint32_t hd, uint32_t n_pos, const float *p,
                         size_t ldp, uint32_t n_q, float *out, size_t ldo)
{
    lmz_attn_v_run(v, hd, n_pos, p, ldp, n_q, out, ldo, attn_v_f16_blocks, 4);
}

/* F16C's conversion rounds to nearest even, keeps subnormals and quiets NaNs as
 * lmz_f32_to_f16 does (f16.c). */
void lmz_to_f16_avx512(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_mask_storeu_epi16(dst + i, m, h);
    }
}

/* lmz_q8_quantize, 16 lanes at a time.  max_ps returns its second operand when the first
 * is NaN, as the scalar `if (a > amax)` skips NaNs; the f16 rounding of the scale stays
 * scalar (one call per block of 32). */
void lmz_q8_quantize_avx512(const float *x, uint32_t n, int8_t *q, float *d)
{
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    const __m512 hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f);
    for (uint32_t b = 0; b < n / LMZ_Q8_BLOCK; b++) {
        const float *xb = x + (size_t)b * LMZ_Q8_BLOCK;
        __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
        __m512 m = _mm512_max_ps(_mm512_abs_ps(x0), _mm512_setzero_ps());
        m = _mm512_max_ps(_mm512_abs_ps(x1), m);
        float amax = _mm512_reduce_max_ps(m);
        d[b] = lmz_f16_to_f32(lmz_f32_to_f16(amax / 127.0f));
        __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
        for (int h = 0; h < 2; h++) {
            __m512 v = _mm512_mul_ps(h ? x1 : x0, id);
            __mmask16 num = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);   /* NaN -> 0 */
            v = _mm512_sub_ps(_mm512_add_ps(v, magic), magic);
            v = _mm512_max_ps(_mm512_min_ps(v, hi), lo);
            __m512i iv = _mm512_maskz_mov_epi32(num, _mm512_cvtps_epi32(v));
            _mm_storeu_si128((__m128i *)(q + (size_t)b * LMZ_Q8_BLOCK + 16 * h),
                             _mm512_cvtepi32_epi8(iv));
        }
    }
}
