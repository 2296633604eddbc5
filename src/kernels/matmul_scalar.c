/*
 * matmul_scalar.c -- the reference matrix products: portable C, one fmaf chain per output
 * exactly as kernels.h defines it.  The SIMD files must match these bit for bit.
 */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/f16.h"

/* W[r][k] of a panel at column k: f32, or f16 widened (exact). */
static float panel_weight(const void *wp, size_t at, int half)
{
    return half ? lmz_f16_to_f32(((const uint16_t *)wp)[at]) : ((const float *)wp)[at];
}

static void mm_panels(const void *w, int half, uint32_t n_in, uint32_t n_out, uint32_t p0,
                      uint32_t p1, const float *x, size_t ldx, uint32_t n_tok, float *y,
                      size_t ldy)
{
    for (uint32_t p = p0; p < p1; p++) {
        size_t panel = (size_t)p * n_in * LMZ_PANEL;
        uint32_t rows = n_out - p * LMZ_PANEL < LMZ_PANEL ? n_out - p * LMZ_PANEL : LMZ_PANEL;
        for (uint32_t t = 0; t < n_tok; t++) {
            const float *xt = x + t * ldx;
            float acc[LMZ_PANEL] = {0};
            for (uint32_t k = 0; k < n_in; k++)
                for (uint32_t r = 0; r < LMZ_PANEL; r++)
                    acc[r] = fmaf(panel_weight(w, panel + (size_t)k * LMZ_PANEL + r, half), xt[k],
                                  acc[r]);
            memcpy(y + t * ldy + (size_t)p * LMZ_PANEL, acc, rows * sizeof(float));
        }
    }
}

void lmz_mm_f32_scalar(const float *w, uint32_t n_in, uint32_t n_out, uint32_t p0, uint32_t p1,
                       const float *x, size_t ldx, uint32_t n_tok, float *y, size_t ldy)
{
    mm_panels(w, 0, n_in, n_out, p0, p1, x, ldx, n_tok, y, ldy);
}

void lmz_mm_f16_scalar(const uint16_t *w, uint32_t n_in, uint32_t n_out, uint32_t p0, uint32_t p1,
                       const float *x, size_t ldx, uint32_t n_tok, float *y, size_t ldy)
{
    mm_panels(w, 1, n_in, n_out, p0, p1, x, ldx, n_tok, y, ldy);
}

void lmz_mm_q8_scalar(const uint8_t *w, uint32_t n_in, uint32_t n_out, uint32_t p0, uint32_t p1,
                      const int8_t *xq, const float *xd, uint32_t n_tok, float *y, size_t ldy)
{
    uint32_t nb = n_in / LMZ_Q8_BLOCK;
    for (uint32_t p = p0; p < p1; p++) {
        const uint8_t *wp = w + (size_t)p * nb * LMZ_Q8_REC;
        uint32_t rows = n_out - p * LMZ_PANEL < LMZ_PANEL ? n_out - p * LMZ_PANEL : LMZ_PANEL;
        for (uint32_t t = 0; t < n_tok; t++) {
            const int8_t *xt = xq + (size_t)t * n_in;
            const float *dt = xd + (size_t)t * nb;
            float acc[LMZ_PANEL] = {0};
            for (uint32_t b = 0; b < nb; b++) {
                const uint8_t *rec = wp + (size_t)b * LMZ_Q8_REC;
                const int8_t *q = (const int8_t *)rec;
                float dw[LMZ_PANEL];
                memcpy(dw, rec + LMZ_Q8_BLOCK * LMZ_PANEL, sizeof dw);
                const int8_t *xb = xt + (size_t)b * LMZ_Q8_BLOCK;
                for (uint32_t r = 0; r < LMZ_PANEL; r++) {
                    int32_t isum = 0;
                    for (uint32_t k = 0; k < LMZ_Q8_BLOCK; k++)
                        isum += q[(k / 4) * (LMZ_PANEL * 4) + r * 4 + k % 4] * xb[k];
                    acc[r] = fmaf((float)isum, dw[r] * dt[b], acc[r]);
                }
            }
            memcpy(y + t * ldy + (size_t)p * LMZ_PANEL, acc, rows * sizeof(float));
        }
    }
}
