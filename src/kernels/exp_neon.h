/*
 * exp_neon.h -- lmz_expf on 4 NEON lanes, shared by the model's vector kernels
 * (vec_neon.c) and the quantizer (coder/quantize_neon.c).  AArch64 only: include it from
 * *_neon.c files.
 *
 * The operation sequence is the one of detmath.h, step for step.  The mapping:
 *   x * y, x + y, x - y        vmulq_f32, vaddq_f32, vsubq_f32 (one rounding each)
 *   fmaf(a, b, c)              vfmaq_f32(c, a, b)  = c + a*b, ONE rounding (FMLA)
 *   fmaf(-a, b, c)             vfmsq_f32(c, a, b)  = c - a*b, ONE rounding (FMLS);
 *                              round(c + (-a)*b) is round(c - a*b), the same value
 * Never vmlaq_f32 / vmlsq_f32: they are not guaranteed to be fused (GCC may emit a
 * separate FMUL and FADD for them, and did on older cores), which breaks the rule.
 */
#ifndef LMZ_EXP_NEON_H
#define LMZ_EXP_NEON_H

#include <arm_neon.h>

#include "kernels/detmath.h"

/* lmz_expf's arithmetic on each lane, without its three special cases (NaN, below
 * LMZ_EXP_LO, above LMZ_EXP_HI): callers blend in the ones their inputs can reach. */
static inline __attribute__((always_inline)) float32x4_t lmz_exp4_core(float32x4_t x)
{
    const float32x4_t magic = vdupq_n_f32(LMZ_EXP_MAGIC);
    float32x4_t t = vmulq_f32(x, vdupq_n_f32(LMZ_EXP_LOG2E));
    t = vaddq_f32(t, magic);
    int32x4_t n = vsubq_s32(vreinterpretq_s32_f32(t), vreinterpretq_s32_f32(magic));
    float32x4_t nf = vsubq_f32(t, magic);
    float32x4_t r = vfmsq_f32(x, nf, vdupq_n_f32(LMZ_EXP_LN2_HI));
    r = vfmsq_f32(r, nf, vdupq_n_f32(LMZ_EXP_LN2_LO));
    float32x4_t p = vdupq_n_f32(LMZ_EXP_C5);
    p = vfmaq_f32(vdupq_n_f32(LMZ_EXP_C4), p, r);
    p = vfmaq_f32(vdupq_n_f32(LMZ_EXP_C3), p, r);
    p = vfmaq_f32(vdupq_n_f32(LMZ_EXP_C2), p, r);
    p = vfmaq_f32(vdupq_n_f32(LMZ_EXP_C1), p, r);
    p = vfmaq_f32(vdupq_n_f32(LMZ_EXP_C0), p, r);
    float32x4_t r2 = vmulq_f32(r, r);
    p = vfmaq_f32(r, p, r2);
    p = vaddq_f32(p, vdupq_n_f32(1.0f));
    int32x4_t scale = vshlq_n_s32(vaddq_s32(n, vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(scale));
}

/* Lanes with x < LMZ_EXP_LO (and -inf) set to +0: enough for arguments that are never
 * NaN and never above 0, such as the quantizer's x - max. */
static inline __attribute__((always_inline)) float32x4_t lmz_exp4_nonpos(float32x4_t x)
{
    uint32x4_t keep = vcgeq_f32(x, vdupq_n_f32(LMZ_EXP_LO));
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(lmz_exp4_core(x)), keep));
}

/* lmz_expf exactly, special cases included: x < LO -> +0, x > HI -> +inf, NaN -> x. */
static inline __attribute__((always_inline)) float32x4_t lmz_exp4(float32x4_t x)
{
    float32x4_t res = lmz_exp4_core(x);
    res = vbslq_f32(vcltq_f32(x, vdupq_n_f32(LMZ_EXP_LO)), vdupq_n_f32(0.0f), res);
    res = vbslq_f32(vcgtq_f32(x, vdupq_n_f32(LMZ_EXP_HI)), vdupq_n_f32(INFINITY), res);
    return vbslq_f32(vceqq_f32(x, x), res, x);
}

#endif
