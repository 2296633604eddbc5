/*
 * train_gemm_bf16_avx512.c -- the trainer's bf16 matrix product (AVX512_BF16 vdpbf16ps):
 * A and B are rounded to bf16 (round to nearest even) while they are packed, products
 * are summed in fp32, C stays fp32.  vdpbf16ps does 32 multiply-adds per instruction,
 * twice the fp32 FMA's 16, at the same rate, so the product runs at ~2x the fp32 peak.
 *
 * Blocking (GotoBLAS style, per call): panels of NC columns of C; in each, K blocks of KC;
 * for each K block the B panel is packed once (strips of NR columns, [k pair][NR] pairs,
 * the strip in L1 while the tiles of an A block use it) and A in blocks of MC rows
 * ([row][k pair] when A's rows are contiguous, [k pair][row] when its columns are, as for
 * the dW products' transposed views).  The register tile is MR x 32 (2 x MR accumulators).
 *
 * Every C element sums its K pairs in order (K blocks in order, one vdpbf16ps per pair), so
 * the result does not depend on how C is split among threads.  Needs AVX512_BF16; the
 * caller checks (tr_exec_set_bf16).
 */
#include <immintrin.h>

#include "train/train_ops.h"

#define BF16_TARGET __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl,avx512dq")))

#define MR 8
#define NR 32u
#define KC 256u              /* K per block, floats (KC / 2 pairs) */
#define MC 128u              /* rows of A per packed block */
#define NC 1024u             /* columns of C per panel (the B panel: 512 KB, in L2) */
#define KP (KC / 2)
#define PREFETCH_ROWS 8u     /* rows ahead that the packing prefetches */

/* 32-bit lanes j = 0..15 of two 16-float rows x0, x1 -> bf16 pairs (x0[j], x1[j]). */
static inline BF16_TARGET __m512i pair_rows(__m512 x0, __m512 x1)
{
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                         24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1,
                                         16, 0);
    __m512i both = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);   /* x0 in the low half */
    return _mm512_permutexvar_epi16(idx, both);
}

static inline __mmask16 lanes(uint32_t n) { return n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1u); }

/* dst[kp * dst_ld + j] = (src(2kp, j), src(2kp+1, j)) for kp < ceil(kc/2), j < fill
 * (a multiple of 16; zero past width and past kc), src(k, j) = src[k * ld + j]. */
static BF16_TARGET void pack_pairs_by_rows(uint32_t *dst, size_t dst_ld, const float *src,
                                           size_t ld, uint32_t kc, uint32_t width, uint32_t fill)
{
    for (uint32_t k = 0; k < kc; k += 2) {
        const float *r0 = src + (size_t)k * ld, *r1 = r0 + ld;
        int has1 = k + 1 < kc, ahead = k + PREFETCH_ROWS + 1 < kc;
        uint32_t *d = dst + (size_t)(k / 2) * dst_ld;
        for (uint32_t j = 0; j < fill; j += 16) {
            if (ahead && j < width) {
                /* rows far apart (a token's logits, 16 KB): the hardware does not guess */
                _mm_prefetch((const char *)(r0 + PREFETCH_ROWS * ld + j), _MM_HINT_T0);
                _mm_prefetch((const char *)(r1 + PREFETCH_ROWS * ld + j), _MM_HINT_T0);
            }
            __mmask16 m = j < width ? lanes(width - j) : 0;
            __m512 x0 = _mm512_maskz_loadu_ps(m, r0 + j);
            __m512 x1 = has1 ? _mm512_maskz_loadu_ps(m, r1 + j) : _mm512_setzero_ps();
            _mm512_storeu_si512(d + j, pair_rows(x0, x1));
        }
    }
}

/* dst[i * dst_ld + kp] = (src[i*ld + 2kp], src[i*ld + 2kp+1]) for i < rows, kp < kc/2
 * rounded up to 16 (zero past kc): rows whose K run is contiguous. */
static BF16_TARGET void pack_pairs_along_rows(uint32_t *dst, size_t dst_ld, const float *src,
                                              size_t ld, uint32_t rows, uint32_t kc)
{
    for (uint32_t i = 0; i < rows; i++) {
        const float *s = src + (size_t)i * ld;
        uint32_t *d = dst + (size_t)i * dst_ld;
        for (uint32_t k = 0; k < kc; k += 32) {
            __m512 lo = _mm512_maskz_loadu_ps(lanes(kc - k), s + k);
            __m512 hi = k + 16 < kc ? _mm512_maskz_loadu_ps(lanes(kc - k - 16), s + k + 16)
                                    : _mm512_setzero_ps();
            _mm512_storeu_si512(d + k / 2, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
    }
}

/* Any other strides (not used by the trainer's products, kept for completeness). */
static BF16_TARGET void pack_pairs_strided(uint32_t *dst, size_t dst_ld, const float *src,
                                           size_t rs, size_t cs, uint32_t rows, uint32_t kc)
{
    for (uint32_t i = 0; i < rows; i++)
        for (uint32_t k = 0; k < kc; k += 32) {
            float lo[16] = {0}, hi[16] = {0};
            for (uint32_t q = 0; q < 16 && k + q < kc; q++) lo[q] = src[i * rs + (k + q) * cs];
            for (uint32_t q = 0; q < 16 && k + 16 + q < kc; q++)
                hi[q] = src[i * rs + (k + 16 + q) * cs];
            _mm512_storeu_si512(dst + (size_t)i * dst_ld + k / 2,
                                (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(hi),
                                                             _mm512_loadu_ps(lo)));
        }
}

/* C tile of mr rows x 32 columns += A pairs (a[i * ars + kp * acs]) . B strip pairs. */
static inline __attribute__((always_inline)) BF16_TARGET void
tile(const int mr, const uint32_t *a, size_t ars, size_t acs, const uint32_t *bp, uint32_t kp,
     float *c, size_t ldc, int load_c, __mmask16 mk0, __mmask16 mk1)
{
    __m512 c0[MR], c1[MR];
    _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) {
        if (load_c) {
            c0[i] = _mm512_maskz_loadu_ps(mk0, c + (size_t)i * ldc);
            c1[i] = _mm512_maskz_loadu_ps(mk1, c + (size_t)i * ldc + 16);
        } else {
            c0[i] = _mm512_setzero_ps();
            c1[i] = _mm512_setzero_ps();
        }
    }
    for (uint32_t p = 0; p < kp; p++, bp += NR, a += acs) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(bp);
        __m512bh b1 = (__m512bh)_mm512_load_si512(bp + 16);
        _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) {
            __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[(size_t)i * ars]);
            c0[i] = _mm512_dpbf16_ps(c0[i], ai, b0);
            c1[i] = _mm512_dpbf16_ps(c1[i], ai, b1);
        }
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) {
        _mm512_mask_storeu_ps(c + (size_t)i * ldc, mk0, c0[i]);
        _mm512_mask_storeu_ps(c + (size_t)i * ldc + 16, mk1, c1[i]);
    }
}

static BF16_TARGET void tiles(const uint32_t *a, size_t ars, size_t acs, uint32_t rows,
                              const uint32_t *bp, uint32_t kp, float *c, size_t ldc, int load_c,
                              __mmask16 mk0, __mmask16 mk1)
{
    uint32_t i = 0;
    for (; i + MR <= rows; i += MR)
        tile(MR, a + i * ars, ars, acs, bp, kp, c + i * ldc, ldc, load_c, mk0, mk1);
    a += i * ars;
    c += i * ldc;
    switch (rows - i) {
    case 7: tile(7, a, ars, acs, bp, kp, c, ldc, load_c, mk0, mk1); break;
    case 6: tile(6, a, ars, acs, bp, kp, c, ldc, load_c, mk0, mk1); break;
    case 5: tile(5, a, ars, acs, bp, kp, c, ldc, load_c, mk0, mk1); break;
    case 4: tile(4, a, ars, acs, bp, kp, c, ldc, load_c, mk0, mk1); break;
    case 3: tile(3, a, ars, acs, bp, kp, c, ldc, load_c, mk0, mk1); break;
    case 2: tile(2, a, ars, acs, bp, kp, c, ldc, load_c, mk0, mk1); break;
    case 1: tile(1, a, ars, acs, bp, kp, c, ldc, load_c, mk0, mk1); break;
    default: break;
    }
}

/* Packing buffers of one thread: B panel KP x NC pairs, A block MC x KP pairs. */
typedef struct bf16_bufs {
    uint32_t bp[KP * NC];
    uint32_t ap[MC * KP];
} bf16_bufs;

size_t tr_gemm_bf16_scratch_bytes(void) { return sizeof(bf16_bufs); }

BF16_TARGET void tr_gemm_block_bf16(const tr_gemm_args *g, uint32_t m0, uint32_t m1,
                                    uint32_t n0, uint32_t n1, void *scratch)
{
    if (g->K == 0) {
        if (!g->accumulate)
            for (uint32_t m = m0; m < m1; m++)
                for (uint32_t n = n0; n < n1; n++) g->C[(size_t)m * g->ldc + n] = 0.0f;
        return;
    }
    bf16_bufs *buf = scratch;
    int a_rows_contig = g->a_cs == 1;
    int a_cols_contig = !a_rows_contig && g->a_rs == 1;
    for (uint32_t np = n0; np < n1; np += NC) {
        uint32_t nc = n1 - np < NC ? n1 - np : NC;
        for (uint32_t k0 = 0; k0 < g->K; k0 += KC) {
            uint32_t kc = g->K - k0 < KC ? g->K - k0 : KC, kp = (kc + 1) / 2;
            int load_c = g->accumulate || k0 > 0;
            for (uint32_t s = 0; s < nc; s += NR) {
                uint32_t w = nc - s < NR ? nc - s : NR;
                pack_pairs_by_rows(buf->bp + (size_t)s * KP, NR,
                                   g->B + (size_t)k0 * g->ldb + np + s, g->ldb, kc, w, NR);
            }
            for (uint32_t mb = m0; mb < m1; mb += MC) {
                uint32_t mc = m1 - mb < MC ? m1 - mb : MC;
                const float *a = g->A + (size_t)mb * g->a_rs + (size_t)k0 * g->a_cs;
                size_t ars, acs;
                if (a_cols_contig) {
                    pack_pairs_by_rows(buf->ap, MC, a, g->a_cs, kc, mc, (mc + 15) / 16 * 16);
                    ars = 1;
                    acs = MC;
                } else {
                    if (a_rows_contig)
                        pack_pairs_along_rows(buf->ap, KP, a, g->a_rs, mc, kc);
                    else
                        pack_pairs_strided(buf->ap, KP, a, g->a_rs, g->a_cs, mc, kc);
                    ars = KP;
                    acs = 1;
                }
                for (uint32_t s = 0; s < nc; s += NR) {
                    uint32_t left = nc - s;
                    __mmask16 mk0 = lanes(left), mk1 = left > 16 ? lanes(left - 16) : 0;
                    tiles(buf->ap, ars, acs, mc, buf->bp + (size_t)s * KP, kp,
                          g->C + (size_t)mb * g->ldc + np + s, g->ldc, load_c, mk0, mk1);
                }
            }
        }
    }
}
