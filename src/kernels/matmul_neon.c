/*
 * matmul_neon.c -- AArch64 NEON matrix products.  A panel of 16 rows is four 128-bit
 * registers (rows 0-3, 4-7, 8-11, 12-15); each lane is the scalar chain of
 * matmul_scalar.c (fma over k in order from +0, vfmaq_f32 being a true fused
 * multiply-add), so results are bit-identical.  Register blocking: R panels x T tokens x
 * 4 quarters accumulators, k innermost; NEON has 32 registers, so up to 24 accumulators.
 *
 * Q8_0 uses only baseline Advanced SIMD (no SDOT, an optional ARMv8.2 extension):
 * vmull_s8 forms exact int16 products (|w| <= 128, |x| <= 127) and vpadalq_s16 adds pairs
 * into int32; the int32 block sum is exact whatever the grouping.
 */
#include <arm_neon.h>
#include <string.h>

#include "kernels/blocks.h"
#include "kernels/kernels.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE uint32_t panel_rows(uint32_t n_out, uint32_t p)
{
    uint32_t left = n_out - p * LMZ_PANEL;
    return left < LMZ_PANEL ? left : LMZ_PANEL;
}

/* Store one panel's 16 outputs for one token; the last panel may be partial. */
ALWAYS_INLINE void store_rows(float *y, const float32x4_t v[4], uint32_t rows)
{
    if (rows >= LMZ_PANEL) {
        vst1q_f32(y, v[0]);
        vst1q_f32(y + 4, v[1]);
        vst1q_f32(y + 8, v[2]);
        vst1q_f32(y + 12, v[3]);
        return;
    }
    float tmp[LMZ_PANEL];
    for (int c = 0; c < 4; c++) vst1q_f32(tmp + 4 * c, v[c]);
    memcpy(y, tmp, rows * sizeof(float));
}

/* ------------------------------------------------------------------------- f32 */

/* Rows 4c .. 4c+3 of a panel at column k: f32, or f16 widened (exact; FPCR = 0 keeps
 * half subnormals and IEEE half format). */
ALWAYS_INLINE float32x4_t load4(const void *wp, size_t k, int c, const int half)
{
    size_t at = k * LMZ_PANEL + 4 * (size_t)c;
    if (half) return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)wp + at)));
    return vld1q_f32((const float *)wp + at);
}

/* R panels starting at p, T tokens starting at x; weights f32, or f16 if `half`. */
ALWAYS_INLINE void f32_block(const void *w, uint32_t n_in, uint32_t n_out, uint32_t p,
                             const float *x, size_t ldx, float *y, size_t ldy,
                             const int R, const int T, const int half)
{
    float32x4_t acc[2][6][4];
    const char *wp[2];
    size_t pstride = (size_t)n_in * LMZ_PANEL * (half ? 2 : 4);
#pragma GCC unroll 2
    for (int r = 0; r < R; r++) {
        wp[r] = (const char *)w + (size_t)(p + r) * pstride;
#pragma GCC unroll 6
        for (int t = 0; t < T; t++)
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) acc[r][t][c] = vdupq_n_f32(0.0f);
    }
    for (uint32_t k = 0; k < n_in; k++) {
        float32x4_t wv[2][4];
#pragma GCC unroll 2
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) wv[r][c] = load4(wp[r], k, c, half);
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            float32x4_t xb = vld1q_dup_f32(x + t * ldx + k);
#pragma GCC unroll 2
            for (int r = 0; r < R; r++)
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) acc[r][t][c] = vfmaq_f32(acc[r][t][c], wv[r][c], xb);
        }
    }
#pragma GCC unroll 2
    for (int r = 0; r < R; r++) {
        uint32_t rows = panel_rows(n_out, p + r);
#pragma GCC unroll 6
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
        case 3: if (TB > 3) f32_block(w, n_in, n_out, p, xt, ldx, yt, ldy, R, 3, HALF); break; \
        case 4: if (TB > 4) f32_block(w, n_in, n_out, p, xt, ldx, yt, ldy, R, 4, HALF); break; \
        case 5: if (TB > 5) f32_block(w, n_in, n_out, p, xt, ldx, yt, ldy, R, 5, HALF); break; \
        default: break;                                                                    \
        }                                                                                  \
    }
F32_TOKENS(f32_panels_1, 1, 5, 0)
F32_TOKENS(f32_panels_2, 2, 3, 0)
F32_TOKENS(f16_panels_1, 1, 5, 1)
F32_TOKENS(f16_panels_2, 2, 3, 1)

void lmz_mm_f32_neon(const float *w, uint32_t n_in, uint32_t n_out, uint32_t p0, uint32_t p1,
                     const float *x, size_t ldx, uint32_t n_tok, float *y, size_t ldy)
{
    lmz_panels_run(w, n_in, n_out, p0, p1, x, ldx, n_tok, y, ldy, NULL, 0, f32_panels_2, 2,
                   f32_panels_1);
}

void lmz_mm_f16_neon(const uint16_t *w, uint32_t n_in, uint32_t n_out, uint32_t p0,
                     uint32_t p1, const float *x, size_t ldx, uint32_t n_tok, float *y,
                     size_t ldy)
{
    lmz_panels_run(w, n_in, n_out, p0, p1, x, ldx, n_tok, y, ldy, NULL, 0, f16_panels_2, 2,
                   f16_panels_1);
}

/* ------------------------------------------------------------------------- Q8_0 */

/* One panel, T tokens.  A record's group j holds 64 bytes: rows 4c .. 4c+3 (4 quants
 * each) in bytes 16c .. 16c+15.  Multiplied by the broadcast quad x[4j .. 4j+3], the low
 * 8 bytes give rows 4c, 4c+1 and the high 8 bytes rows 4c+2, 4c+3; pairwise widening
 * adds leave two int32 per row, and a final pairwise add (vpaddq_s32) gives the four
 * row sums in row order. */
ALWAYS_INLINE void q8_block(const uint8_t *wp, uint32_t nb, uint32_t n_out, uint32_t p,
                            const int8_t *xq, const float *xd, uint32_t n_in, float *y,
                            size_t ldy, const int T)
{
    float32x4_t acc[2][4];
#pragma GCC unroll 2
    for (int t = 0; t < T; t++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) acc[t][c] = vdupq_n_f32(0.0f);
    for (uint32_t b = 0; b < nb; b++) {
        const uint8_t *rec = wp + (size_t)b * LMZ_Q8_REC;
        int32x4_t lo[2][4], hi[2][4];
#pragma GCC unroll 2
        for (int t = 0; t < T; t++)
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) lo[t][c] = hi[t][c] = vdupq_n_s32(0);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            int8x16_t wv[4];
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) wv[c] = vld1q_s8((const int8_t *)rec + j * 64 + 16 * c);
#pragma GCC unroll 2
            for (int t = 0; t < T; t++) {
                int32_t quad;
                memcpy(&quad, xq + (size_t)t * n_in + (size_t)b * LMZ_Q8_BLOCK + j * 4, 4);
                int8x16_t xb = vreinterpretq_s8_s32(vdupq_n_s32(quad));
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) {
                    lo[t][c] = vpadalq_s16(lo[t][c], vmull_s8(vget_low_s8(wv[c]), vget_low_s8(xb)));
                    hi[t][c] = vpadalq_s16(hi[t][c], vmull_high_s8(wv[c], xb));
                }
            }
        }
        float32x4_t dw[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            dw[c] = vld1q_f32((const float *)(rec + LMZ_Q8_BLOCK * LMZ_PANEL) + 4 * c);
#pragma GCC unroll 2
        for (int t = 0; t < T; t++) {
            float32x4_t dx = vdupq_n_f32(xd[(size_t)t * nb + b]);
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                float32x4_t isum = vcvtq_f32_s32(vpaddq_s32(lo[t][c], hi[t][c]));
                acc[t][c] = vfmaq_f32(acc[t][c], isum, vmulq_f32(dw[c], dx));
            }
        }
    }
    uint32_t rows = panel_rows(n_out, p);
#pragma GCC unroll 2
    for (int t = 0; t < T; t++) store_rows(y + t * ldy + (size_t)p * LMZ_PANEL, acc[t], rows);
}

void lmz_mm_q8_neon(const uint8_t *w, uint32_t n_in, uint32_t n_out, uint32_t p0, uint32_t p1,
                    const int8_t *xq, const float *xd, uint32_t n_tok, float *y, size_t ldy)
{
    uint32_t nb = n_in / LMZ_Q8_BLOCK;
    for (uint32_t p = p0; p < p1; p++) {
        const uint8_t *wp = w + (size_t)p * nb * LMZ_Q8_REC;
        uint32_t t = 0;
        for (; t + 2 <= n_tok; t += 2)
            q8_block(wp, nb, n_out, p, xq + (size_t)t * n_in, xd + (size_t)t * nb, n_in,
                     y + t * ldy, ldy, 2);
        if (t < n_tok)
            q8_block(wp, nb, n_out, p, xq + (size_t)t * n_in, xd + (size_t)t * nb, n_in,
                     y + t * ldy, ldy, 1);
    }
}
