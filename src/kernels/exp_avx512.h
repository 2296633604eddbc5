/*
 * exp_avx512.h -- lmz_expf's arithmetic on 16 AVX-512 lanes, shared by the model's vector
 * kernels (vec_avx512.c) and the quantizer (coder/quantize_avx512.c).  Include it only from
 * *_avx512.c files (compiled with -mavx512f).
 *
 * The operation sequence is detmath.h's, step for step; fnmadd(a, b, c) = -(a*b) + c
 * with one rounding, which is fmaf(-a, b, c).
 */
#ifndef LMZ_EXP_AVX512_H
#define LMZ_EXP_AVX512_H

#include <immintrin.h>

#include "kernels/detmath.h"

/* lmz_expf's arithmetic on each lane, without its three special cases (NaN, below
 * LMZ_EXP_LO, above LMZ_EXP_HI): callers blend in the ones their inputs can reach. */
static inline __attribute__((always_inline)) __m512 lmz_exp16_core(__m512 x)
{
    const __m512 magic = _mm512_set1_ps(LMZ_EXP_MAGIC);
    __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(LMZ_EXP_LOG2E));
    t = _mm512_add_ps(t, magic);
    __m512i n = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(magic));
    __m512 nf = _mm512_sub_ps(t, magic);
    __m512 r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(LMZ_EXP_LN2_HI), x);
    r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(LMZ_EXP_LN2_LO), r);
    __m512 p = _mm512_set1_ps(LMZ_EXP_C5);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LMZ_EXP_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LMZ_EXP_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LMZ_EXP_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LMZ_EXP_C1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LMZ_EXP_C0));
    __m512 r2 = _mm512_mul_ps(r, r);
    p = _mm512_fmadd_ps(p, r2, r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    __m512i scale = _mm512_slli_epi32(_mm512_add_epi32(n, _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(scale));
}

#endif
