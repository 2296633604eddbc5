/*
 * f16.c -- IEEE binary16 and bfloat16 <-> binary32 conversions by bit manipulation.
 *
 * Exact and identical on every machine: widening is exact, narrowing rounds to nearest,
 * ties to even, with subnormals produced and consumed (never flushed).  NaN handling is
 * the one the x86 F16C instructions use, so a SIMD path built on them agrees bit for bit:
 * a NaN keeps its sign and the top bits of its payload and comes out quiet.
 * bf16 -> f32 is a plain shift (as in ggml), so a bf16 NaN widens unchanged; narrowing a
 * NaN to bf16 sets the quiet bit (as ggml's ggml_compute_fp32_to_bf16 does).
 */
#include <string.h>

#include "kernels/f16.h"

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }

float lmz_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;

    if (exp == 0x1f)                        /* inf, or NaN made quiet like F16C does */
        return bits_f32(sign | 0x7f800000u | (mant ? 0x400000u | (mant << 13) : 0));
    if (exp == 0) {
        if (mant == 0)
            return bits_f32(sign);
        /* Subnormal half: every one is a normal float.  Shift the leading 1 up to the
         * implicit-bit position, lowering the exponent once per shift. */
        uint32_t e32 = 127 - 15 + 1;
        while (!(mant & 0x400u)) {
            mant <<= 1;
            e32--;
        }
        return bits_f32(sign | (e32 << 23) | ((mant & 0x3ffu) << 13));
    }
    return bits_f32(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

/* Shift right by `shift` (1..31) rounding to nearest, ties to even. */
static uint32_t shift_round_even(uint32_t v, unsigned shift)
{
    uint32_t half = 1u << (shift - 1);
    uint32_t rem = v & ((half << 1) - 1);
    uint32_t q = v >> shift;
    if (rem > half || (rem == half && (q & 1u)))
        q++;
    return q;
}

uint16_t lmz_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;

    if (ax > 0x7f800000u)                   /* NaN: quiet, top 9 payload bits kept */
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    if (ax >= 0x477ff000u)                  /* >= 65520, the tie above 65504: rounds to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax >= 0x38800000u) {                /* normal half (>= 2^-14) */
        /* Rebias the exponent, then round the 23-bit mantissa to 10 bits; a carry out of
         * the mantissa correctly bumps the exponent (inf was excluded above). */
        uint32_t rebiased = ax - ((127u - 15u) << 23);
        return (uint16_t)(sign | shift_round_even(rebiased, 13));
    }
    if (ax <= 0x33000000u)                  /* <= 2^-25, half the smallest subnormal: 0 */
        return sign;
    /* Subnormal half: the value in units of 2^-24 is mant * 2^(exp - 126). */
    uint32_t exp = ax >> 23;
    uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
    return (uint16_t)(sign | shift_round_even(mant, 126u - exp));
}

float lmz_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

uint16_t lmz_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)    /* NaN: keep sign and top payload, quiet it */
        return (uint16_t)((x >> 16) | 0x40u);
    /* bf16 is the top half of an f32, so rounding is an add on the low half; overflow
     * carries into the exponent and reaches inf exactly when it should. */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
