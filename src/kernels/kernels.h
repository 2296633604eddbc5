/*
 * kernels.h -- the numeric kernels of the forward pass, in one scalar and several SIMD
 * versions that give bit-identical results (doc/determinism.md states the rules; every
 * kernel below says which canonical order it implements).
 *
 * Weight layout ("panels").  A weight matrix W of n_out rows and n_in columns (y = W x)
 * is repacked at load so that 16 consecutive rows are contiguous per column:
 *
 *   f32 panels:  W[r][k] is at w[(r / 16) * n_in * 16 + k * 16 + r % 16]
 *                (rows n_out .. 16*ceil(n_out/16) are zero padding)
 *
 *   Q8_0 panels: per panel of 16 rows, per block b of 32 columns, one record of
 *                LMZ_Q8_REC bytes:
 *                  int8  q[8][16][4]   q[j][r][m] = quant of W[r][32b + 4j + m]
 *                  float d[16]         the block's scale for row r (f16 widened, exact)
 *                  int32 s[16]         128 * (sum of row r's 32 quants in the block)
 *                Records of one panel are consecutive (block order); panels follow
 *                each other.  Padding rows have q = 0, d = 0, s = 0.
 *
 * The layout lets every SIMD width vectorize across rows (16 rows = one 512-bit or two
 * 256-bit registers) while each output stays one sequential chain over k.
 */
#ifndef LMZ_KERNELS_H
#define LMZ_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "lmz.h"

#define LMZ_PANEL 16
#define LMZ_Q8_BLOCK 32
#define LMZ_Q8_REC (LMZ_Q8_BLOCK * LMZ_PANEL + 4 * LMZ_PANEL + 4 * LMZ_PANEL)  /* 640 */

static inline uint32_t lmz_n_panels(uint32_t n_out) { return (n_out + LMZ_PANEL - 1) / LMZ_PANEL; }

/* Bytes of the packed form of an n_out x n_in matrix. */
static inline size_t lmz_f32_panels_bytes(uint32_t n_out, uint32_t n_in)
{
    return (size_t)lmz_n_panels(n_out) * n_in * LMZ_PANEL * sizeof(float);
}
static inline size_t lmz_q8_panels_bytes(uint32_t n_out, uint32_t n_in)
{
    return (size_t)lmz_n_panels(n_out) * (n_in / LMZ_Q8_BLOCK) * LMZ_Q8_REC;
}

/* ---------------------------------------------------------------- packing (pack.c) */

/* Row r of the source matrix as floats (converted exactly from F32/F16/BF16). */
typedef void (*lmz_row_fn)(const void *src, uint32_t r, uint32_t n_in, float *out);

/* The row reader of a weight type (F32, F16, BF16 or Q8_0; rows.c), or NULL for a type
 * lmz does not read. */
lmz_row_fn lmz_row_reader(ggml_type type);

/* Pack an n_out x n_in matrix whose rows `row` returns into f32 panels.
 * dst holds lmz_f32_panels_bytes(n_out, n_in) bytes.  tmp holds n_in floats. */
void lmz_pack_f32(float *dst, const void *src, lmz_row_fn row, uint32_t n_out, uint32_t n_in,
                  float *tmp);
/* Pack GGUF Q8_0 rows (34-byte blocks, n_in % 32 == 0) into Q8_0 panels. */
void lmz_pack_q8(uint8_t *dst, const void *src, uint32_t n_out, uint32_t n_in);

/* Quantize activations to Q8_0 the way llama.cpp's x86 CPU backend does, per block of 32:
 *   amax = max |x|;  d = f16(amax / 127);  id = amax != 0 ? 127 / amax : 0;
 *   q = round-half-even(x * id)   (all in float; NaN products give 0)
 * q gets n int8, d gets n/32 floats (the f16 value widened).  n % 32 == 0.
 * Exact operations only: the AVX-512 version (kernel table) repeats them lane by lane. */
void lmz_q8_quantize(const float *x, uint32_t n, int8_t *q, float *d);
void lmz_q8_quantize_avx512(const float *x, uint32_t n, int8_t *q, float *d);

/* ---------------------------------------------------------------- the kernel table */

typedef struct lmz_kernels {
    lmz_simd simd;
    const char *name;

    /* Matrix product over panels [p0, p1):
     *   y[t*ldy + r] = chain_k(W[r][k], x[t*ldx + k])   for t < n_tok, r < n_out
     * where chain_k(a, b) is acc = +0; for k = 0 .. n_in-1: acc = fmaf(a_k, b_k, acc).
     * Rows >= n_out are not written. */
    void (*mm_f32)(const float *w, uint32_t n_in, uint32_t n_out, uint32_t p0, uint32_t p1,
                   const float *x, size_t ldx, uint32_t n_tok, float *y, size_t ldy);

    /* Q8_0 product over panels [p0, p1), activations from lmz_q8_quantize (token t's
     * quants at xq + t*n_in, scales at xd + t*(n_in/32)):
     *   acc = +0; for block b in order:
     *       isum = sum of the 32 products q_w * q_x  (int32, exact in any order)
     *       acc = fmaf((float)isum, d_w[r][b] * d_x[t][b], acc)
     *   y[t*ldy + r] = acc */
    void (*mm_q8)(const uint8_t *w, uint32_t n_in, uint32_t n_out, uint32_t p0, uint32_t p1,
                  const int8_t *xq, const float *xd, uint32_t n_tok, float *y, size_t ldy);

    /* lmz_q8_quantize, bit-identical (the activations of every Q8_0 product pass
     * through it, so it must not cost more than a small part of the product). */
    void (*q8_quantize)(const float *x, uint32_t n, int8_t *q, float *d);

    /* y[i] = lmz_expf(x[i]) (bit-identical to the scalar function). */
    void (*exp_n)(float *y, const float *x, size_t n);

    /* Sum of squares in the canonical 16-lane order: lane l (0..15) starts at +0 and
     * takes x[i] for i = l, l+16, l+32, ... as lane = fmaf(x[i], x[i], lane); then the
     * fixed tree: for s = 8, 4, 2, 1: lane[l] = lane[l] + lane[l+s] (l < s); result lane[0]. */
    float (*sumsq)(const float *x, uint32_t n);

    /* In-place softmax of s[0..n) after scaling:
     *   s[j] = s[j] * scale;  m = max_j s[j] (NaNs ignored);  e[j] = lmz_expf(s[j] - m)
     *   sum = the 16-lane sum of e (as sumsq, with lane = lane + e[j], same tree)
     *   inv = 1.0f / sum;  s[j] = e[j] * inv */
    void (*softmax)(float *s, uint32_t n, float scale);

    /* SwiGLU: g[i] = (g[i] / (1.0f + lmz_expf(-g[i]))) * u[i]. */
    void (*silu_mul)(float *g, const float *u, uint32_t n);

    /* Attention output for n_q queries over n_pos positions of one value head:
     *   out[q*ldo + d] = chain_j(p[q*ldp + j], v[j*hd + d]),  j = 0 .. n_pos-1 in order
     * (acc = +0; acc = fmaf(p, v, acc)) for d < hd. */
    void (*attn_v)(const float *v, uint32_t hd, uint32_t n_pos, const float *p, size_t ldp,
                   uint32_t n_q, float *out, size_t ldo);

    /* The same two over an F16 KV cache (doc/format.md's KV_F16): mm_f32 over f16 panels
     * (the keys) and attn_v over f16 rows (the values), every f16 widened (exact). */
    void (*mm_f16)(const uint16_t *w, uint32_t n_in, uint32_t n_out, uint32_t p0, uint32_t p1,
                   const float *x, size_t ldx, uint32_t n_tok, float *y, size_t ldy);
    void (*attn_v_f16)(const uint16_t *v, uint32_t hd, uint32_t n_pos, const float *p,
                       size_t ldp, uint32_t n_q, float *out, size_t ldo);
    /* dst[i] = lmz_f32_to_f16(src[i]) (round to nearest even; f16.c), bit for bit. */
    void (*to_f16)(uint16_t *dst, const float *src, size_t n);
} lmz_kernels;

/* Is this path usable on this CPU?  (LMZ_SIMD_AUTO: always.) */
int lmz_simd_supported(lmz_simd simd);
/* The best path this CPU supports. */
lmz_simd lmz_simd_best(void);
/* Resolve a request: AUTO -> the LMZ_SIMD environment variable (scalar|avx2|avx512|neon) if
 * set, else the best path.  Returns -1 with a message if the request (or the variable)
 * names a path the CPU lacks or an unknown name. */
int lmz_simd_resolve(lmz_simd requested, lmz_simd *out, char *err, size_t errlen);
/* The kernel table of a concrete path (not AUTO); NULL if the CPU lacks it. */
const lmz_kernels *lmz_kernels_get(lmz_simd simd);
const char *lmz_simd_path_name(lmz_simd simd);

/* The per-path implementations (dispatch.c builds the tables from these). */
#define LMZ_KERNEL_PROTOTYPES(isa)                                                          \
    void lmz_mm_f32_##isa(const float *w, uint32_t n_in, uint32_t n_out, uint32_t p0,        \
                          uint32_t p1, const float *x, size_t ldx, uint32_t n_tok, float *y,  \
                          size_t ldy);                                                       \
    void lmz_mm_q8_##isa(const uint8_t *w, uint32_t n_in, uint32_t n_out, uint32_t p0,       \
                         uint32_t p1, const int8_t *xq, const float *xd, uint32_t n_tok,     \
                         float *y, size_t ldy);                                              \
    void lmz_exp_n_##isa(float *y, const float *x, size_t n);                                \
    float lmz_sumsq_##isa(const float *x, uint32_t n);                                       \
    void lmz_softmax_##isa(float *s, uint32_t n, float scale);                               \
    void lmz_silu_mul_##isa(float *g, const float *u, uint32_t n);                           \
    void lmz_attn_v_##isa(const float *v, uint32_t hd, uint32_t n_pos, const float *p,       \
                          size_t ldp, uint32_t n_q, float *out, size_t ldo);         \
    void lmz_mm_f16_##isa(const uint16_t *w, uint32_t n_in, uint32_t n_out, uint32_t p0,     \
                          uint32_t p1, const float *x, size_t ldx, uint32_t n_tok, float *y,  \
                          size_t ldy);                                                       \
    void lmz_attn_v_f16_##isa(const uint16_t *v, uint32_t hd, uint32_t n_pos, const float *p, \
                              size_t ldp, uint32_t n_q, float *out, size_t ldo);             \
    void lmz_to_f16_##isa(uint16_t *dst, const float *src, size_t n);
/* Each path's functions exist only in builds for its architecture (the Makefile compiles
 * *_avx2.c / *_avx512.c on x86-64 and *_neon.c on AArch64). */
LMZ_KERNEL_PROTOTYPES(scalar)
LMZ_KERNEL_PROTOTYPES(avx2)
LMZ_KERNEL_PROTOTYPES(avx512)
LMZ_KERNEL_PROTOTYPES(neon)

#endif
