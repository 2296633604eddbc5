/*
 * rows.c -- one row of a GGUF weight matrix as floats, for every weight type lmz reads.
 * Each conversion is exact, so packing, the embedding lookup and the trainer all see the
 * same numbers whatever the file's type.
 */
#include <string.h>

#include "kernels/f16.h"
#include "kernels/kernels.h"


static void row_f32(const void *src, uint32_t r, uint32_t n, float *out)
{
    memcpy(out, (const float *)src + (size_t)r * n, (size_t)n * sizeof(float));
}

static void row_f16(const void *src, uint32_t r, uint32_t n, float *out)
{
    const uint8_t *s = (const uint8_t *)src + (size_t)r * n * 2;
    for (uint32_t i = 0; i < n; i++) out[i] = lmz_f16_to_f32((uint16_t)(s[2 * i] | s[2 * i + 1] << 8));
}

static void row_bf16(const void *src, uint32_t r, uint32_t n, float *out)
{
    const uint8_t *s = (const uint8_t *)src + (size_t)r * n * 2;
    for (uint32_t i = 0; i < n; i++) out[i] = lmz_bf16_to_f32((uint16_t)(s[2 * i] | s[2 * i + 1] << 8));
}

/* Q8_0 dequantization: q * d, exact in float (8-bit times 11-bit significands). */
static void row_q8(const void *src, uint32_t r, uint32_t n, float *out)
{
    const uint8_t *s = (const uint8_t *)src + (size_t)r * (n / 32) * 34;
    for (uint32_t b = 0; b < n / 32; b++, s += 34) {
        float d = lmz_f16_to_f32((uint16_t)(s[0] | s[1] << 8));
        for (int k = 0; k < 32; k++) out[b * 32 + k] = (float)(int8_t)s[2 + k] * d;
    }
}

lmz_row_fn lmz_row_reader(ggml_type type)
{
    switch (type) {
    case GGML_TYPE_F32: return row_f32;
    case GGML_TYPE_F16: return row_f16;
    case GGML_TYPE_BF16: return row_bf16;
    case GGML_TYPE_Q8_0: return row_q8;
    }
    return NULL;
}
