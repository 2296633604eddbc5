/*
 * matmul_avx512.c -- AVX-512 matrix products.  One zmm register = one panel of 16 rows at
 * one token; each lane is the scalar chain of matmul_scalar.c (fma over k in order from
 * +0), so results are bit-identical.  Register blocking: R panels x T tokens accumulators,
 * k innermost; the R*T chains are independent, which hides the FMA latency.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/blocks.h"
#include "kernels/kernels.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Store one panel's 16 outputs for one token; the last panel may be partial. */
ALWAYS_INLINE void store_rows(float *y, __m512 v, uint32_t rows)
{
    if (rows >= LMZ_PANEL) _mm512_storeu_ps(y, v);
    else _mm512_mask_storeu_ps(y, (__mmask16)((1u << rows) - 1), v);
}

ALWAYS_INLINE uint32_t panel_rows(uint32_t n_out, uint32_t p)
{
    uint32_t left = n_out - p * LMZ_PANEL;
    return left < LMZ_PANEL ? left : LMZ_PANEL;
}

/* One panel's 16 weights at column k: f32, or f16 widened (exact). */
ALWAYS_INLINE __m512 load_panel(const void *wp, uint32_t k, const int half)
{
    if (half)
        return _mm512_cvtph_ps(
            _mm256_loadu_si256((const __m256i *)((const uint16_t *)wp + (size_t)k * LMZ_PANEL)));
    return _mm512_loadu_ps((const float *)wp + (size_t)k * LMZ_PANEL);
}

/* R panels starting at p, T tokens starting at x; weights f32, or f16 if `half`. */
ALWAYS_INLINE void f32_block(const void *w, uint32_t n_in, uint32_t n_out, uint32_t p,
                             const float *x, size_t ldx, float *y, size_t ldy,
                             const int R, const int T, const int half)
{
    __m512 acc[4][8];
    const char *wp[4];
    size_t pstride = (size_t)n_in * LMZ_PANEL * (half ? 2 : 4);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        wp[r] = (const char *)w + (size_t)(p + r) * pstride;
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    }
    for (uint32_t k = 0; k < n_in; k++) {
        __m512 wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) wv[r] = load_panel(wp[r], k, half);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            __m512 xb = _mm512_set1_ps(x[t * ldx + k]);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r][t] = _mm512_fmadd_ps(wv[r], xb, acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        uint32_t rows = panel_rows(n_out, p + r);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            store_rows(y + t * ldy + (size_t)(p + r) * LMZ_PANEL, acc[r][t], rows);
    }
}

/* All n_tok tokens for R panels at p: blocks of TB tokens, then the remainder. */
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
        case 3: f32_block(w, n_in, n_out, p, xt, ldx, yt, ldy, R, 3, HALF); break;         \
        case 4: if (TB > 4) f32_block(w, n_in, n_out, p, xt, ldx, yt, ldy, R, 4, HALF); break; \
        case 5: if (TB > 5) f32_block(w, n_in, n_out, p, xt, ldx, yt, ldy, R, 5, HALF); break; \
        case 6: if (TB > 6) f32_block(w, n_in, n_out, p, xt, ldx, yt, ldy, R, 6, HALF); break; \
        case 7: if (TB > 7) f32_block(w, n_in, n_out, p, xt, ldx, yt, ldy, R, 7, HALF); break; \
        default: break;                                                                    \
        }                                                                                  \
    }
F32_TOKENS(f32_panels_1, 1, 8, 0)
F32_TOKENS(f32_panels_2, 2, 8, 0)
F32_TOKENS(f32_panels_4, 4, 4, 0)
F32_TOKENS(f16_panels_1, 1, 8, 1)
F32_TOKENS(f16_panels_2, 2, 8, 1)
F32_TOKENS(f16_panels_4, 4, 4, 1)

void lmz_mm_f32_avx512(const float *w, uint32_t n_in, uint32_t n_out, uint32_t p0, uint32_t p1,
                       const float *x, size_t ldx, uint32_t n_tok, float *y, size_t ldy)
{
    lmz_panels_run(w, n_in, n_out, p0, p1, x, ldx, n_tok, y, ldy, f32_panels_4, 3, f32_panels_2,
                   UINT32_MAX, f32_panels_1);
}

void lmz_mm_f16_avx512(const uint16_t *w, uint32_t n_in, uint32_t n_out, uint32_t p0,
                       uint32_t p1, const float *x, size_t ldx, uint32_t n_tok, float *y,
                       size_t ldy)
{
    lmz_panels_run(w, n_in, n_out, p0, p1, x, ldx, n_tok, y, ldy, f16_panels_4, 3, f16_panels_2,
                   UINT32_MAX, f16_panels_1);
}

/* ------------------------------------------------------------------------- Q8_0 */

/* Q8_0 with VNNI: vpdpbusd multiplies unsigned by signed bytes, so the activations are
 * offset to x + 128 (x ^ 0x80) and 128 * sum(w), stored in the record, is subtracted:
 * the int32 block sum is exact, as in the scalar code.  Each block sum is built in two
 * partial sums (even and odd groups of 4 columns) so that few-token blocks still have
 * enough independent vpdpbusd chains; integer addition makes the split invisible. */
ALWAYS_INLINE void q8_block(const uint8_t *w, uint32_t nb, uint32_t n_out, uint32_t p,
                            const int8_t *xq, const float *xd, uint32_t n_in, float *y,
                            size_t ldy, const int R, const int T)
{
    __m512 acc[4][8];
    const uint8_t *wp[4];
    const __m512i flip = _mm512_set1_epi32((int)0x80808080u);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        wp[r] = w + (size_t)(p + r) * nb * LMZ_Q8_REC;
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    }
    for (uint32_t b = 0; b < nb; b++) {
        __m512i isum[4][8][2];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const uint8_t *rec = wp[r] + (size_t)b * LMZ_Q8_REC;
            __m512i s128 = _mm512_loadu_si512(rec + LMZ_Q8_BLOCK * LMZ_PANEL + 4 * LMZ_PANEL);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                isum[r][t][0] = _mm512_sub_epi32(_mm512_setzero_si512(), s128);
                isum[r][t][1] = _mm512_setzero_si512();
            }
        }
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            __m512i wv[4];
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                wv[r] = _mm512_loadu_si512(wp[r] + (size_t)b * LMZ_Q8_REC + j * 64);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                int32_t quad;
                memcpy(&quad, xq + (size_t)t * n_in + (size_t)b * LMZ_Q8_BLOCK + j * 4, 4);
                __m512i xb = _mm512_xor_si512(_mm512_set1_epi32(quad), flip);
#pragma GCC unroll 4
                for (int r = 0; r < R; r++)
                    isum[r][t][j & 1] = _mm512_dpbusd_epi32(isum[r][t][j & 1], xb, wv[r]);
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            __m512 dw = _mm512_loadu_ps((const float *)(wp[r] + (size_t)b * LMZ_Q8_REC +
                                                        LMZ_Q8_BLOCK * LMZ_PANEL));
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                __m512i is = _mm512_add_epi32(isum[r][t][0], isum[r][t][1]);
                __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(xd[(size_t)t * nb + b]));
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), scale, acc[r][t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        uint32_t rows = panel_rows(n_out, p + r);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            store_rows(y + t * ldy + (size_t)(p + r) * LMZ_PANEL, acc[r][t], rows);
    }
}

#define Q8_TOKENS(R, TB)                                                                   \
    static void q8_panels_##R(const uint8_t *w, uint32_t nb, uint32_t n_out, uint32_t p,    \
                              const int8_t *xq, const float *xd, uint32_t n_in,            \
                              uint32_t n_tok, float *y, size_t ldy)                        \
    {                                                                                      \
        uint32_t t = 0;                                                                    \
        for (; t + TB <= n_tok; t += TB)                                                   \
            q8_block(w, nb, n_out, p, xq + (size_t)t * n_in, xd + (size_t)t * nb, n_in,    \
                     y + t * ldy, ldy, R, TB);                                             \
        const int8_t *qt = xq + (size_t)t * n_in;                                          \
        const float *dt = xd + (size_t)t * nb;                                             \
        float *yt = y + t * ldy;                                                           \
        switch (n_tok - t) {                                                               \
        case 1: q8_block(w, nb, n_out, p, qt, dt, n_in, yt, ldy, R, 1); break;             \
        case 2: q8_block(w, nb, n_out, p, qt, dt, n_in, yt, ldy, R, 2); break;             \
        case 3: q8_block(w, nb, n_out, p, qt, dt, n_in, yt, ldy, R, 3); break;             \
        case 4: if (TB > 4) q8_block(w, nb, n_out, p, qt, dt, n_in, yt, ldy, R, 4); break; \
        case 5: if (TB > 5) q8_block(w, nb, n_out, p, qt, dt, n_in, yt, ldy, R, 5); break; \
        case 6: if (TB > 6) q8_block(w, nb, n_out, p, qt, dt, n_in, yt, ldy, R, 6); break; \
        case 7: if (TB > 7) q8_block(w, nb, n_out, p, qt, dt, n_in, yt, ldy, R, 7); break; \
        default: break;                                                                    \
        }                                                                                  \
    }
Q8_TOKENS(1, 8)
Q8_TOKENS(2, 4)
Q8_TOKENS(4, 2)

void lmz_mm_q8_avx512(const uint8_t *w, uint32_t n_in, uint32_t n_out, uint32_t p0, uint32_t p1,
                      const int8_t *xq, const float *xd, uint32_t n_tok, float *y, size_t ldy)
{
    uint32_t nb = n_in / LMZ_Q8_BLOCK;
    uint32_t p = p0;
    if (n_tok <= 2)
        for (; p + 4 <= p1; p += 4) q8_panels_4(w, nb, n_out, p, xq, xd, n_in, n_tok, y, ldy);
    if (n_tok <= 4)
        for (; p + 2 <= p1; p += 2) q8_panels_2(w, nb, n_out, p, xq, xd, n_in, n_tok, y, ldy);
    for (; p < p1; p++) q8_panels_1(w, nb, n_out, p, xq, xd, n_in, n_tok, y, ldy);
}
