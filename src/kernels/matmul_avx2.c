/*
 * matmul_avx2.c -- AVX2/FMA matrix products.  A panel of 16 rows is two ymm registers
 * (rows 0-7, rows 8-15); each lane is the scalar chain of matmul_scalar.c, so results are
 * bit-identical.  Register blocking: R panels x T tokens x 2 halves accumulators.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/blocks.h"
#include "kernels/kernels.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE uint32_t panel_rows(uint32_t n_out, uint32_t p)
{
    uint32_t left = n_out - p * LMZ_PANEL;
    return left < LMZ_PANEL ? left : LMZ_PANEL;
}

/* Store 16 outputs (two halves) of one panel for one token; the last panel may be partial. */
ALWAYS_INLINE void store_rows(float *y, __m256 lo, __m256 hi, uint32_t rows)
{
    if (rows >= LMZ_PANEL) {
        _mm256_storeu_ps(y, lo);
        _mm256_storeu_ps(y + 8, hi);
        return;
    }
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i n = _mm256_set1_epi32((int)rows);
    _mm256_maskstore_ps(y, _mm256_cmpgt_epi32(n, idx), lo);
    _mm256_maskstore_ps(y + 8, _mm256_cmpgt_epi32(n, _mm256_add_epi32(idx, _mm256_set1_epi32(8))), hi);
}

/* 8 weights of a panel at column k from row `half8` * 8: f32, or f16 widened (exact). */
ALWAYS_INLINE __m256 load8(const void *wp, size_t k, int half8, const int half)
{
    size_t at = k * LMZ_PANEL + (size_t)half8 * 8;
    if (half) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)wp + at)));
    return _mm256_loadu_ps((const float *)wp + at);
}

/* R panels starting at p, T tokens starting at x; weights f32, or f16 if `half`. */
ALWAYS_INLINE void f32_block(const void *w, uint32_t n_in, uint32_t n_out, uint32_t p,
                             const float *x, size_t ldx, float *y, size_t ldy,
                             const int R, const int T, const int half)
{
    __m256 acc[2][6][2];
    const char *wp[2];
    size_t pstride = (size_t)n_in * LMZ_PANEL * (half ? 2 : 4);
#pragma GCC unroll 2
    for (int r = 0; r < R; r++) {
        wp[r] = (const char *)w + (size_t)(p + r) * pstride;
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) acc[r][t][0] = acc[r][t][1] = _mm256_setzero_ps();
    }
    for (uint32_t k = 0; k < n_in; k++) {
        __m256 wv[2][2];
#pragma GCC unroll 2
        for (int r = 0; r < R; r++) {
            wv[r][0] = load8(wp[r], k, 0, half);
            wv[r][1] = load8(wp[r], k, 1, half);
        }
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            __m256 xb = _mm256_broadcast_ss(x + t * ldx + k);
#pragma GCC unroll 2
            for (int r = 0; r < R; r++) {
                acc[r][t][0] = _mm256_fmadd_ps(wv[r][0], xb, acc[r][t][0]);
                acc[r][t][1] = _mm256_fmadd_ps(wv[r][1], xb, acc[r][t][1]);
            }
        }
    }
#pragma GCC unroll 2
    for (int r = 0; r < R; r++) {
        uint32_t rows = panel_rows(n_out, p + r);
#pragma GCC unroll 6
        for (int t = 0; t < T; t++)
            store_rows(y + t * ldy + (size_t)(p + r) * LMZ_PANEL, acc[r][t][0], acc[r][t][1], rows);
    }
}

#define F32_TOKENS(NAME, R, TB, HALF)                                                      \
    static void NAME(const void *w, uint32_t n_in, uint32_t n_out, uint32_t p,             \
                     const float *x, size_t ldx, uint32_t n_tok, float *y, size_t ldy)     \
    {                                                                                      \
        uint32_t t = 0;                                                                    \
        for (; t + TB <= n_tok; t += TB)                                                   \
            f32_block(w, n_in, n_out, p, x + t * ldx, ldx, y + t * ldy, ldy, R, TB, HALF);  \
        const float *xt = x + t * ldx;                                                     \
        float *yt = y + t * ldy;                                                           \
        switch (n_tok - t) {                                                               \
        case 1: f32_block(w, n_in, n_out, p, xt, ldx, yt, ldy, R, 1, HALF); break;         \
        case 2: f32_block(w, n_in, n_out, p, xt, ldx, yt, ldy, R, 2, HALF); break;         \
        case 3: if (TB > 3) f32_block(w, n_in, n_out, p, xt, ldx, yt, ldy, R, 3, HALF); break; \
        case 4: if (TB > 4) f32_block(w, n_in, n_out, p, xt, ldx, yt, ldy, R, 4, HALF); break; \
        case 5: if (TB > 5) f32_block(w, n_in, n_out, p, xt, ldx, yt, ldy, R, 5, HALF); break; \
        default: break;                                                                    \
        }                                                                                  \
    }
F32_TOKENS(f32_panels_1, 1, 6, 0)
F32_TOKENS(f32_panels_2, 2, 3, 0)
F32_TOKENS(f16_panels_1, 1, 6, 1)
F32_TOKENS(f16_panels_2, 2, 3, 1)

void lmz_mm_f32_avx2(const float *w, uint32_t n_in, uint32_t n_out, uint32_t p0, uint32_t p1,
                     const float *x, size_t ldx, uint32_t n_tok, float *y, size_t ldy)
{
    lmz_panels_run(w, n_in, n_out, p0, p1, x, ldx, n_tok, y, ldy, NULL, 0, f32_panels_2, 2,
                   f32_panels_1);
}

void lmz_mm_f16_avx2(const uint16_t *w, uint32_t n_in, uint32_t n_out, uint32_t p0,
                     uint32_t p1, const float *x, size_t ldx, uint32_t n_tok, float *y,
                     size_t ldy)
{
    lmz_panels_run(w, n_in, n_out, p0, p1, x, ldx, n_tok, y, ldy, NULL, 0, f16_panels_2, 2,
                   f16_panels_1);
}

/* ------------------------------------------------------------------------- Q8_0 */

/* Rows' 4 quants times the broadcast 4 activation quants, summed per row into int32:
 * maddubs needs an unsigned operand, so it gets |w| and the activations take w's sign
 * (sign_epi8).  |w| <= 128 and |x| <= 127, so a pair sum stays below 2^15: no saturation,
 * and the result is the exact integer of the scalar code. */
ALWAYS_INLINE __m256i dot4(__m256i w, __m256i xb)
{
    __m256i prod = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(xb, w));
    return _mm256_madd_epi16(prod, _mm256_set1_epi16(1));
}

ALWAYS_INLINE void q8_block(const uint8_t *wp, uint32_t nb, uint32_t n_out, uint32_t p,
                            const int8_t *xq, const float *xd, uint32_t n_in, float *y,
                            size_t ldy, const int T)
{
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (uint32_t b = 0; b < nb; b++) {
        const uint8_t *rec = wp + (size_t)b * LMZ_Q8_REC;
        __m256i isum[4][2];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) isum[t][0] = isum[t][1] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            __m256i w0 = _mm256_loadu_si256((const __m256i *)(rec + j * 64));
            __m256i w1 = _mm256_loadu_si256((const __m256i *)(rec + j * 64 + 32));
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) {
                int32_t quad;
                memcpy(&quad, xq + (size_t)t * n_in + (size_t)b * LMZ_Q8_BLOCK + j * 4, 4);
                __m256i xb = _mm256_set1_epi32(quad);
                isum[t][0] = _mm256_add_epi32(isum[t][0], dot4(w0, xb));
                isum[t][1] = _mm256_add_epi32(isum[t][1], dot4(w1, xb));
            }
        }
        const float *dw = (const float *)(rec + LMZ_Q8_BLOCK * LMZ_PANEL);
        __m256 d0 = _mm256_loadu_ps(dw), d1 = _mm256_loadu_ps(dw + 8);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            __m256 dx = _mm256_set1_ps(xd[(size_t)t * nb + b]);
            acc[t][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t][0]), _mm256_mul_ps(d0, dx), acc[t][0]);
            acc[t][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t][1]), _mm256_mul_ps(d1, dx), acc[t][1]);
        }
    }
    uint32_t rows = panel_rows(n_out, p);
#pragma GCC unroll 4
    for (int t = 0; t < T; t++)
        store_rows(y + t * ldy + (size_t)p * LMZ_PANEL, acc[t][0], acc[t][1], rows);
}

void lmz_mm_q8_avx2(const uint8_t *w, uint32_t n_in, uint32_t n_out, uint32_t p0, uint32_t p1,
                    const int8_t *xq, const float *xd, uint32_t n_tok, float *y, size_t ldy)
{
    uint32_t nb = n_in / LMZ_Q8_BLOCK;
    for (uint32_t p = p0; p < p1; p++) {
        const uint8_t *wp = w + (size_t)p * nb * LMZ_Q8_REC;
        uint32_t t = 0;
        for (; t + 4 <= n_tok; t += 4)
            q8_block(wp, nb, n_out, p, xq + (size_t)t * n_in, xd + (size_t)t * nb, n_in,
                     y + t * ldy, ldy, 4);
        const int8_t *qt = xq + (size_t)t * n_in;
        const float *dt = xd + (size_t)t * nb;
        float *yt = y + t * ldy;
        switch (n_tok - t) {
        case 1: q8_block(wp, nb, n_out, p, qt, dt, n_in, yt, ldy, 1); break;
        case 2: q8_block(wp, nb, n_out, p, qt, dt, n_in, yt, ldy, 2); break;
        case 3: q8_block(wp, nb, n_out, p, qt, dt, n_in, yt, ldy, 3); break;
        default: break;
        }
    }
}
