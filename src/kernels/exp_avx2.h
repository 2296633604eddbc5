/*
 * exp_avx2.h -- lmz_expf's arithmetic on 8 AVX2/FMA lanes, shared by the model's vector
 * kernels (vec_avx2.c) and the quantizer (coder/quantize_avx2.c).  Include it only from
 * *_avx2.c files (they are compiled with -mavx2 -mfma).
 *
 * The operation sequence is detmath.h's, step for step; fnmadd(a, b, c) = -(a*b) + c
 * with one rounding, which is fmaf(-a, b, c).
 */
#ifndef LMZ_EXP_AVX2_H
#define LMZ_EXP_AVX2_H

#include <immintrin.h>

#include "kernels/detmath.h"

/* lmz_expf's arithmetic on each lane, without its three special cases (NaN, below
 * LMZ_EXP_LO, above LMZ_EXP_HI): callers blend in the ones their inputs can reach. */
static inline __attribute__((always_inline)) __m256 lmz_exp8_core(__m256 x)
{
    const __m256 magic = _mm256_set1_ps(LMZ_EXP_MAGIC);
    __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(LMZ_EXP_LOG2E));
    t = _mm256_add_ps(t, magic);
    __m256i n = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(magic));
    __m256 nf = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(LMZ_EXP_LN2_HI), x);
    r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(LMZ_EXP_LN2_LO), r);
    __m256 p = _mm256_set1_ps(LMZ_EXP_C5);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LMZ_EXP_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LMZ_EXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LMZ_EXP_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LMZ_EXP_C1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LMZ_EXP_C0));
    __m256 r2 = _mm256_mul_ps(r, r);
    p = _mm256_fmadd_ps(p, r2, r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    __m256i scale = _mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(scale));
}

#endif
