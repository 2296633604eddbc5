/*
 * detmath.h -- transcendental functions built only from IEEE-754 basic operations
 * (+ - * / sqrt, fma) and integer bit manipulation, so that they give the same bits on
 * every machine, compiler and SIMD width.  libm's expf/logf/sinf differ between glibc
 * versions, CPUs and vector libraries; nothing on the probability path may call them.
 *
 * Every SIMD version of a function here must perform exactly the same sequence of
 * operations as the scalar one below, lane by lane; tests compare them bit for bit.
 * The whole library is compiled with -ffp-contract=off, so `a * b + c` is two roundings
 * and only explicit fmaf() calls fuse.
 */
#ifndef LMZ_DETMATH_H
#define LMZ_DETMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t lmz_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float lmz_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Constants of lmz_expf, shared with the SIMD versions. */
#define LMZ_EXP_LO      (-87.33654022216796875f)   /* below: result flushed to +0 */
#define LMZ_EXP_HI      (88.37626647949218750f)    /* above: +inf */
#define LMZ_EXP_LOG2E   (1.44269502162933349609375f)
#define LMZ_EXP_MAGIC   (12582912.0f)              /* 1.5 * 2^23: round-to-nearest trick */
#define LMZ_EXP_LN2_HI  (0.693359375f)
#define LMZ_EXP_LN2_LO  (-2.12194440e-4f)
#define LMZ_EXP_C5      (1.9875691500e-4f)
#define LMZ_EXP_C4      (1.3981999507e-3f)
#define LMZ_EXP_C3      (8.3334519073e-3f)
#define LMZ_EXP_C2      (4.1665795894e-2f)
#define LMZ_EXP_C1      (1.6666665459e-1f)
#define LMZ_EXP_C0      (5.0000001201e-1f)

/* e^x in float, about 1 ulp.  x < LMZ_EXP_LO gives +0 (no denormals), x > LMZ_EXP_HI
 * gives +inf, NaN gives NaN.  Steps (a SIMD version must do exactly these):
 *   t = x * LOG2E;  t = t + MAGIC;  n = bits(t) - bits(MAGIC)   (n = round-half-even)
 *   nf = t - MAGIC
 *   r = fma(-nf, LN2_HI, x);  r = fma(-nf, LN2_LO, r)
 *   p = C5; p = fma(p,r,C4); p = fma(p,r,C3); p = fma(p,r,C2); p = fma(p,r,C1); p = fma(p,r,C0)
 *   r2 = r * r;  p = fma(p, r2, r);  p = p + 1
 *   result = p * float_from_bits((n + 127) << 23)
 */
static inline float lmz_expf(float x)
{
    if (x != x) return x;
    if (x < LMZ_EXP_LO) return 0.0f;
    if (x > LMZ_EXP_HI) return INFINITY;
    float t = x * LMZ_EXP_LOG2E;
    t = t + LMZ_EXP_MAGIC;
    int32_t n = (int32_t)(lmz_f32_bits(t) - lmz_f32_bits(LMZ_EXP_MAGIC));
    float nf = t - LMZ_EXP_MAGIC;
    float r = fmaf(-nf, LMZ_EXP_LN2_HI, x);
    r = fmaf(-nf, LMZ_EXP_LN2_LO, r);
    float p = LMZ_EXP_C5;
    p = fmaf(p, r, LMZ_EXP_C4);
    p = fmaf(p, r, LMZ_EXP_C3);
    p = fmaf(p, r, LMZ_EXP_C2);
    p = fmaf(p, r, LMZ_EXP_C1);
    p = fmaf(p, r, LMZ_EXP_C0);
    float r2 = r * r;
    p = fmaf(p, r2, r);
    p = p + 1.0f;
    return p * lmz_bits_f32((uint32_t)(n + 127) << 23);
}

/* Double-precision functions (detmath.c) for tables computed once, such as the RoPE
 * angles: plain IEEE double operations only (no fma, no libm), correct to a few double
 * ulps, so that rounding their results to float gives the correctly rounded float value
 * except in rare near-tie cases -- and the same bits on every machine in every case.
 *   lmz_sin_d, lmz_cos_d: argument reduction by a 3-part pi/2 (Cody-Waite), accurate for
 *                         |x| <= 2^20; beyond that the error grows with |x|.
 *   lmz_exp_d: any x (overflow -> +inf, underflow -> 0);  lmz_log_d: x >= 0
 *   lmz_pow_d(b, e) = exp(e * log(b)) for b > 0: relative error ~ |e log b| * 2^-52. */
double lmz_exp_d(double x);
double lmz_log_d(double x);
double lmz_sin_d(double x);
double lmz_cos_d(double x);
double lmz_pow_d(double b, double e);

/* silu(x) = x / (1 + e^-x), with lmz_expf. */
static inline float lmz_siluf(float x)
{
    return x / (1.0f + lmz_expf(-x));
}

#endif
