/*
 * vec_avx2.c -- AVX2/FMA versions of the vector kernels.  The 16 canonical lanes of the
 * sums are two ymm registers (lanes 0-7 and 8-15), so the first tree step is their sum;
 * lmz_expf is replayed operation by operation.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/detmath.h"
#include "kernels/blocks.h"
#include "kernels/kernels.h"
#include "kernels/exp_avx2.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Lane mask for the first `left` of 8 lanes (maskload/maskstore use the sign bit). */
ALWAYS_INLINE __m256i tail_mask(size_t left)
{
    int n = left >= 8 ? 8 : (int)left;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

ALWAYS_INLINE __m256 exp8(__m256 x)
{
    __m256 res = lmz_exp8_core(x);
    res = _mm256_blendv_ps(res, _mm256_setzero_ps(),
                           _mm256_cmp_ps(x, _mm256_set1_ps(LMZ_EXP_LO), _CMP_LT_OQ));
    res = _mm256_blendv_ps(res, _mm256_set1_ps(INFINITY),
                           _mm256_cmp_ps(x, _mm256_set1_ps(LMZ_EXP_HI), _CMP_GT_OQ));
    return _mm256_blendv_ps(res, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

void lmz_exp_n_avx2(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, exp8(_mm256_maskload_ps(x + i, m)));
    }
}

/* The fixed tree over lanes (lo = 0-7, hi = 8-15): l+8, then l+4, l+2, l+1. */
ALWAYS_INLINE float tree16(__m256 lo, __m256 hi)
{
    __m256 a = _mm256_add_ps(lo, hi);
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    __m128 d = _mm_add_ss(c, _mm_movehdup_ps(c));
    return _mm_cvtss_f32(d);
}

/* Load 16 floats from x + i, lanes past n zero (lo = first 8, hi = next 8). */
ALWAYS_INLINE void load16(const float *x, size_t i, size_t n, __m256 *lo, __m256 *hi)
{
    if (i + 16 <= n) {
        *lo = _mm256_loadu_ps(x + i);
        *hi = _mm256_loadu_ps(x + i + 8);
        return;
    }
    *lo = _mm256_maskload_ps(x + i, tail_mask(n - i));
    *hi = n - i > 8 ? _mm256_maskload_ps(x + i + 8, tail_mask(n - i - 8)) : _mm256_setzero_ps();
}

ALWAYS_INLINE void store16(float *x, size_t i, size_t n, __m256 lo, __m256 hi)
{
    if (i + 16 <= n) {
        _mm256_storeu_ps(x + i, lo);
        _mm256_storeu_ps(x + i + 8, hi);
        return;
    }
    _mm256_maskstore_ps(x + i, tail_mask(n - i), lo);
    if (n - i > 8) _mm256_maskstore_ps(x + i + 8, tail_mask(n - i - 8), hi);
}

float lmz_sumsq_avx2(const float *x, uint32_t n)
{
    /* Zero-filled tail lanes add fmaf(0, 0, lane) = lane: the sums are >= +0. */
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (uint32_t i = 0; i < n; i += 16) {
        __m256 lo, hi;
        load16(x, i, n, &lo, &hi);
        a0 = _mm256_fmadd_ps(lo, lo, a0);
        a1 = _mm256_fmadd_ps(hi, hi, a1);
    }
    return tree16(a0, a1);
}

/* Active-lane masks of a 16-lane step as float masks (for blendv / and). */
ALWAYS_INLINE void mask16(size_t i, size_t n, __m256 *lo, __m256 *hi)
{
    size_t left = n - i;
    *lo = _mm256_castsi256_ps(tail_mask(left));
    *hi = _mm256_castsi256_ps(left > 8 ? tail_mask(left - 8) : _mm256_setzero_si256());
}

void lmz_softmax_avx2(float *s, uint32_t n, float scale)
{
    __m256 vs = _mm256_set1_ps(scale);
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
    for (uint32_t j = 0; j < n; j += 16) {
        __m256 lo, hi, k0, k1;
        load16(s, j, n, &lo, &hi);
        lo = _mm256_mul_ps(lo, vs);
        hi = _mm256_mul_ps(hi, vs);
        store16(s, j, n, lo, hi);
        mask16(j, n, &k0, &k1);
        /* max_ps(v, m) returns m when v is NaN (scalar: `if (s > m)`); inactive lanes
         * keep m through the blend. */
        m0 = _mm256_blendv_ps(m0, _mm256_max_ps(lo, m0), k0);
        m1 = _mm256_blendv_ps(m1, _mm256_max_ps(hi, m1), k1);
    }
    __m256 m8 = _mm256_max_ps(m0, m1);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    __m256 vmax = _mm256_set1_ps(_mm_cvtss_f32(m4));
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (uint32_t j = 0; j < n; j += 16) {
        __m256 lo, hi, k0, k1;
        load16(s, j, n, &lo, &hi);
        lo = exp8(_mm256_sub_ps(lo, vmax));
        hi = exp8(_mm256_sub_ps(hi, vmax));
        store16(s, j, n, lo, hi);
        mask16(j, n, &k0, &k1);
        a0 = _mm256_blendv_ps(a0, _mm256_add_ps(a0, lo), k0);
        a1 = _mm256_blendv_ps(a1, _mm256_add_ps(a1, hi), k1);
    }
    __m256 inv = _mm256_set1_ps(1.0f / tree16(a0, a1));
    for (uint32_t j = 0; j < n; j += 16) {
        __m256 lo, hi;
        load16(s, j, n, &lo, &hi);
        store16(s, j, n, _mm256_mul_ps(lo, inv), _mm256_mul_ps(hi, inv));
    }
}

void lmz_silu_mul_avx2(float *g, const float *u, uint32_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 silu = _mm256_div_ps(x, _mm256_add_ps(one, exp8(_mm256_xor_ps(x, sign))));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(silu, _mm256_loadu_ps(u + i)));
    }
    if (i < n) {
        __m256i m = tail_mask(n - i);
        __m256 x = _mm256_maskload_ps(g + i, m);
        __m256 silu = _mm256_div_ps(x, _mm256_add_ps(one, exp8(_mm256_xor_ps(x, sign))));
        _mm256_maskstore_ps(g + i, m, _mm256_mul_ps(silu, _mm256_maskload_ps(u + i, m)));
    }
}

/* Up to QB queries x DB registers of 8 dims. */
#define QB 3
#define DB 4

/* The values j's dims [d, d + 8) (fewer at a tail: `left`, the rest 0): f32, or f16
 * widened (exact).  AVX2 has no 16-bit masked load, so an f16 tail goes through a copy. */
ALWAYS_INLINE __m256 load_values(const void *v, size_t at, uint32_t left, __m256i mask,
                                 const int half)
{
    if (!half) return _mm256_maskload_ps((const float *)v + at, mask);
    const uint16_t *h = (const uint16_t *)v + at;
    if (left >= 8) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
    uint16_t tail[8] = {0};
    memcpy(tail, h, left * sizeof *h);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tail));
}

ALWAYS_INLINE void attn_v_block(const void *v, uint32_t hd, uint32_t n_pos, const float *p,
                                size_t ldp, float *out, size_t ldo, uint32_t d0,
                                const int nq, const int nd, uint32_t left, const int half)
{
    __m256 acc[QB][DB];
    const __m256i full = _mm256_set1_epi32(-1), last = tail_mask(left - 8 * (nd - 1));
#pragma GCC unroll 3
    for (int q = 0; q < nq; q++)
#pragma GCC unroll 4
        for (int c = 0; c < nd; c++) acc[q][c] = _mm256_setzero_ps();
    for (uint32_t j = 0; j < n_pos; j++) {
        size_t vj = (size_t)j * hd + d0;
        __m256 vv[DB];
#pragma GCC unroll 4
        for (int c = 0; c < nd; c++)
            vv[c] = load_values(v, vj + 8 * c, left - 8 * c, c == nd - 1 ? last : full, half);
#pragma GCC unroll 3
        for (int q = 0; q < nq; q++) {
            __m256 pj = _mm256_broadcast_ss(p + q * ldp + j);
#pragma GCC unroll 4
            for (int c = 0; c < nd; c++) acc[q][c] = _mm256_fmadd_ps(pj, vv[c], acc[q][c]);
        }
    }
#pragma GCC unroll 3
    for (int q = 0; q < nq; q++)
#pragma GCC unroll 4
        for (int c = 0; c < nd; c++)
            _mm256_maskstore_ps(out + q * ldo + d0 + 8 * c, c == nd - 1 ? last : full, acc[q][c]);
}

#define ATTN_V_Q(nq, half, name)                                                            \
    static void name(const void *v, uint32_t hd, uint32_t n_pos, const float *p, size_t ldp, \
                     float *out, size_t ldo)                                                \
    {                                                                                       \
        for (uint32_t d0 = 0; d0 < hd; d0 += 8 * DB) {                                      \
            uint32_t left = hd - d0, nd = (left + 7) / 8;                                   \
            if (nd > DB) nd = DB;                                                           \
            switch (nd) {                                                                   \
            case 1: attn_v_block(v, hd, n_pos, p, ldp, out, ldo, d0, nq, 1, left, half); break; \
            case 2: attn_v_block(v, hd, n_pos, p, ldp, out, ldo, d0, nq, 2, left, half); break; \
            case 3: attn_v_block(v, hd, n_pos, p, ldp, out, ldo, d0, nq, 3, left, half); break; \
            default: attn_v_block(v, hd, n_pos, p, ldp, out, ldo, d0, nq, 4, left, half); break; \
            }                                                                               \
        }                                                                                   \
    }
ATTN_V_Q(1, 0, attn_v_q1)
ATTN_V_Q(2, 0, attn_v_q2)
ATTN_V_Q(3, 0, attn_v_q3)
ATTN_V_Q(1, 1, attn_v16_q1)
ATTN_V_Q(2, 1, attn_v16_q2)
ATTN_V_Q(3, 1, attn_v16_q3)

static const lmz_attn_v_fn attn_v_f32_blocks[3] = {attn_v_q1, attn_v_q2, attn_v_q3};
static const lmz_attn_v_fn attn_v_f16_blocks[3] = {attn_v16_q1, attn_v16_q2, attn_v16_q3};

void lmz_attn_v_avx2(const float *v, uint32_t hd, uint32_t n_pos, const float *p, size_t ldp,
                     uint32_t n_q, float *out, size_t ldo)
{
    lmz_attn_v_run(v, hd, n_pos, p, ldp, n_q, out, ldo, attn_v_f32_blocks, 3);
}

void lmz_attn_v_f16_avx2(const uint16_t *v, uint32_t hd, uint32_t n_pos, const float *p,
                         size_t ldp, uint32_t n_q, float *out, size_t ldo)
{
    lmz_attn_v_run(v, hd, n_pos, p, ldp, n_q, out, ldo, attn_v_f16_blocks, 3);
}

/* F16C's conversion rounds to nearest even, keeps subnormals and quiets NaNs as
 * lmz_f32_to_f16 does (f16.c). */
void lmz_to_f16_avx2(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    if (i < n) {
        float in[8] = {0};
        uint16_t out[8];
        memcpy(in, src + i, (n - i) * sizeof *in);
        _mm_storeu_si128((__m128i *)out,
                         _mm256_cvtps_ph(_mm256_loadu_ps(in), _MM_FROUND_TO_NEAREST_INT));
        memcpy(dst + i, out, (n - i) * sizeof *out);
    }
}
