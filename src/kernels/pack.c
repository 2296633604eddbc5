/*
 * pack.c -- weights into the panel layouts of kernels.h, and the Q8_0 quantization of
 * activations.  Everything here is exact (copies, integer sums, exact conversions) or a
 * single IEEE operation per value, so one portable implementation serves every path.
 */
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/f16.h"

void lmz_pack_f32(float *dst, const void *src, lmz_row_fn row, uint32_t n_out, uint32_t n_in,
                  float *tmp)
{
    memset(dst, 0, lmz_f32_panels_bytes(n_out, n_in));
    for (uint32_t r = 0; r < n_out; r++) {
        row(src, r, n_in, tmp);
        float *panel = dst + (size_t)(r / LMZ_PANEL) * n_in * LMZ_PANEL + r % LMZ_PANEL;
        for (uint32_t k = 0; k < n_in; k++) panel[(size_t)k * LMZ_PANEL] = tmp[k];
    }
}

/* GGUF Q8_0 block: f16 scale, then 32 int8. */
#define GGUF_Q8_BYTES (2 + LMZ_Q8_BLOCK)

void lmz_pack_q8(uint8_t *dst, const void *src, uint32_t n_out, uint32_t n_in)
{
    const uint8_t *s = src;
    uint32_t nb = n_in / LMZ_Q8_BLOCK;
    memset(dst, 0, lmz_q8_panels_bytes(n_out, n_in));
    for (uint32_t r = 0; r < n_out; r++) {
        uint32_t rr = r % LMZ_PANEL;
        for (uint32_t b = 0; b < nb; b++) {
            const uint8_t *blk = s + ((size_t)r * nb + b) * GGUF_Q8_BYTES;
            uint8_t *rec = dst + ((size_t)(r / LMZ_PANEL) * nb + b) * LMZ_Q8_REC;
            int8_t *q = (int8_t *)rec;
            float d = lmz_f16_to_f32((uint16_t)(blk[0] | blk[1] << 8));
            int32_t sum = 0;
            for (uint32_t k = 0; k < LMZ_Q8_BLOCK; k++) {
                int8_t v = (int8_t)blk[2 + k];
                q[(k / 4) * (LMZ_PANEL * 4) + rr * 4 + k % 4] = v;
                sum += v;
            }
            memcpy(rec + LMZ_Q8_BLOCK * LMZ_PANEL + rr * 4, &d, 4);
            int32_t s128 = sum * 128;
            memcpy(rec + LMZ_Q8_BLOCK * LMZ_PANEL + LMZ_PANEL * 4 + rr * 4, &s128, 4);
        }
    }
}

void lmz_q8_quantize(const float *x, uint32_t n, int8_t *q, float *d)
{
    const float magic = 12582912.0f;   /* 1.5 * 2^23: adding it rounds |v| < 2^22 half-even */
    for (uint32_t b = 0; b < n / LMZ_Q8_BLOCK; b++) {
        const float *xb = x + (size_t)b * LMZ_Q8_BLOCK;
        float amax = 0.0f;
        for (uint32_t k = 0; k < LMZ_Q8_BLOCK; k++) {
            float a = xb[k] < 0 ? -xb[k] : xb[k];
            if (a > amax) amax = a;
        }
        d[b] = lmz_f16_to_f32(lmz_f32_to_f16(amax / 127.0f));
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        for (uint32_t k = 0; k < LMZ_Q8_BLOCK; k++) {
            float v = xb[k] * id;
            int32_t iv = 0;
            if (v == v) {                 /* NaN (inf * 0) quantizes to 0 */
                v = (v + magic) - magic;
                iv = v > 127.0f ? 127 : v < -127.0f ? -127 : (int32_t)v;
            }
            q[(size_t)b * LMZ_Q8_BLOCK + k] = (int8_t)iv;
        }
    }
}
