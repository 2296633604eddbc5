/*
 * blocks.h -- the loops every SIMD path wraps around its register blocks: which block
 * function covers which panels of a product, or which queries of attention.  Static
 * inline, so that each path's file compiles them with its own ISA flags.
 */
#ifndef LMZ_KERNELS_BLOCKS_H
#define LMZ_KERNELS_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

/* All n_tok tokens for the block's panels starting at p (f32 or f16 weights). */
typedef void (*lmz_panels_fn)(const void *w, uint32_t n_in, uint32_t n_out, uint32_t p,
                              const float *x, size_t ldx, uint32_t n_tok, float *y,
                              size_t ldy);

/* Panels [p0, p1): by 4 while few tokens (n_tok <= few4; by4 may be NULL), by 2 while
 * n_tok <= few2, then one at a time.  Few tokens want more panels per block, so that
 * enough independent chains are in flight. */
static inline void lmz_panels_run(const void *w, uint32_t n_in, uint32_t n_out, uint32_t p0,
                                  uint32_t p1, const float *x, size_t ldx, uint32_t n_tok,
                                  float *y, size_t ldy, lmz_panels_fn by4, uint32_t few4,
                                  lmz_panels_fn by2, uint32_t few2, lmz_panels_fn by1)
{
    uint32_t p = p0;
    if (by4 && n_tok <= few4)
        for (; p + 4 <= p1; p += 4) by4(w, n_in, n_out, p, x, ldx, n_tok, y, ldy);
    if (n_tok <= few2)
        for (; p + 2 <= p1; p += 2) by2(w, n_in, n_out, p, x, ldx, n_tok, y, ldy);
    for (; p < p1; p++) by1(w, n_in, n_out, p, x, ldx, n_tok, y, ldy);
}

/* Attention's value sum for the block's queries (f32 or f16 values). */
typedef void (*lmz_attn_v_fn)(const void *v, uint32_t hd, uint32_t n_pos, const float *p,
                              size_t ldp, float *out, size_t ldo);

/* n_q queries: blocks of `most` (by_count[most - 1]), then the rest in one block. */
static inline void lmz_attn_v_run(const void *v, uint32_t hd, uint32_t n_pos, const float *p,
                                  size_t ldp, uint32_t n_q, float *out, size_t ldo,
                                  const lmz_attn_v_fn *by_count, uint32_t most)
{
    uint32_t q = 0;
    for (; q + most <= n_q; q += most)
        by_count[most - 1](v, hd, n_pos, p + q * ldp, ldp, out + q * ldo, ldo);
    if (q < n_q) by_count[n_q - q - 1](v, hd, n_pos, p + q * ldp, ldp, out + q * ldo, ldo);
}

#endif
