/*
 * train_gemm_avx512.c -- the trainer's AVX-512 matrix product block kernel: register
 * tiles of 8 rows x 32 columns of C (16 accumulators), A broadcast one element at a time
 * (so A may be any strided or transposed view).  K is cut in blocks of KC, and each
 * KC x 32 strip of B is first copied into a contiguous buffer (zero past column N), which
 * then stays in L1 while every row tile of the block uses it: B's rows may be far apart
 * (a 4096-wide matrix puts each row on another page).
 */
#include <immintrin.h>

#include "train/train_ops.h"

#define MR 8
#define NR 32
#define KC 128u

static inline __attribute__((always_inline)) void tile(const tr_gemm_args *g, const int mr,
                                                       uint32_t m, uint32_t n, uint32_t k0,
                                                       uint32_t k1, int load_c, __mmask16 mk0,
                                                       __mmask16 mk1, const float *bp)
{
    __m512 c0[MR], c1[MR];
    float *cp = g->C + (size_t)m * g->ldc + n;
    _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) {
        if (load_c) {
            c0[i] = _mm512_maskz_loadu_ps(mk0, cp + (size_t)i * g->ldc);
            c1[i] = _mm512_maskz_loadu_ps(mk1, cp + (size_t)i * g->ldc + 16);
        } else {
            c0[i] = _mm512_setzero_ps();
            c1[i] = _mm512_setzero_ps();
        }
    }
    const float *a = g->A + (size_t)m * g->a_rs + (size_t)k0 * g->a_cs;
    size_t a_rs = g->a_rs, a_cs = g->a_cs;
    for (uint32_t k = k0; k < k1; k++, bp += NR) {
        __m512 b0 = _mm512_load_ps(bp);
        __m512 b1 = _mm512_load_ps(bp + 16);
        _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) {
            __m512 ai = _mm512_set1_ps(a[(size_t)i * a_rs]);
            c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
        }
        a += a_cs;
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) {
        _mm512_mask_storeu_ps(cp + (size_t)i * g->ldc, mk0, c0[i]);
        _mm512_mask_storeu_ps(cp + (size_t)i * g->ldc + 16, mk1, c1[i]);
    }
}

static __mmask16 mask_of(uint32_t n_left)
{
    return n_left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n_left) - 1u);
}

void tr_gemm_block_avx512(const tr_gemm_args *g, uint32_t m0, uint32_t m1, uint32_t n0,
                          uint32_t n1)
{
    if (g->K == 0) {
        if (!g->accumulate)
            for (uint32_t m = m0; m < m1; m++)
                for (uint32_t n = n0; n < n1; n++) g->C[(size_t)m * g->ldc + n] = 0.0f;
        return;
    }
    float bp[KC * NR] __attribute__((aligned(64)));
    for (uint32_t k0 = 0; k0 < g->K; k0 += KC) {
        uint32_t k1 = k0 + KC < g->K ? k0 + KC : g->K;
        int load_c = g->accumulate || k0 > 0;
        for (uint32_t n = n0; n < n1; n += NR) {
            uint32_t left = n1 - n;
            __mmask16 mk0 = mask_of(left), mk1 = left > 16 ? mask_of(left - 16) : 0;
            const float *b = g->B + (size_t)k0 * g->ldb + n;
            for (uint32_t k = 0; k < k1 - k0; k++, b += g->ldb) {
                _mm512_store_ps(bp + k * NR, _mm512_maskz_loadu_ps(mk0, b));
                _mm512_store_ps(bp + k * NR + 16, _mm512_maskz_loadu_ps(mk1, b + 16));
            }
            uint32_t m = m0;
            for (; m + MR <= m1; m += MR) tile(g, MR, m, n, k0, k1, load_c, mk0, mk1, bp);
            switch (m1 - m) {
            case 7: tile(g, 7, m, n, k0, k1, load_c, mk0, mk1, bp); break;
            case 6: tile(g, 6, m, n, k0, k1, load_c, mk0, mk1, bp); break;
            case 5: tile(g, 5, m, n, k0, k1, load_c, mk0, mk1, bp); break;
            case 4: tile(g, 4, m, n, k0, k1, load_c, mk0, mk1, bp); break;
            case 3: tile(g, 3, m, n, k0, k1, load_c, mk0, mk1, bp); break;
            case 2: tile(g, 2, m, n, k0, k1, load_c, mk0, mk1, bp); break;
            case 1: tile(g, 1, m, n, k0, k1, load_c, mk0, mk1, bp); break;
            default: break;
            }
        }
    }
}
