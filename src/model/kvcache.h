/*
 * kvcache.h -- the key/value cache of the forward pass: F32, or F16 (each value rounded to
 * nearest even when stored, widened exactly when read; doc/format.md's KV_F16).  Half
 * the bytes halve what decoding reads per token, which is most of what attention costs.
 *
 * Per (layer, sequence, kv head):
 *   K: panels of 16 positions, [n_ctx_pad/16][head_dim][16]: the layout of a weight
 *      matrix whose rows are positions (kernels.h), so the attention scores q.k_j are
 *      one mm_f32 call: one fma chain over head_dim per (query, position).
 *   V: [n_ctx][head_dim], row j = position j, read by attn_v.
 * Memory is calloc'd, so pages of positions never reached are never touched.
 */
#ifndef LMZ_KVCACHE_H
#define LMZ_KVCACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct kv_cache {
    uint32_t n_layer, max_seqs, n_kv, head_dim, n_ctx, n_ctx_pad;
    int f16;                     /* elements are uint16_t halves, else floats */
    size_t k_stride, v_stride;   /* elements per (layer, seq, kv head) block */
    void *k, *v;
} kv_cache;

/* 0, or -1 if the sizes overflow or memory is short. */
int kv_init(kv_cache *kv, uint32_t n_layer, uint32_t max_seqs, uint32_t n_kv, uint32_t head_dim,
            uint32_t n_ctx, int f16);
void kv_free(kv_cache *kv);

static inline size_t kv_elem_size(const kv_cache *kv) { return kv->f16 ? 2 : 4; }

/* The K panels and V rows of (layer, seq, kv head): float * or uint16_t * by kv->f16. */
static inline void *kv_k(const kv_cache *kv, uint32_t layer, uint32_t seq, uint32_t h)
{
    size_t block = ((size_t)layer * kv->max_seqs + seq) * kv->n_kv + h;
    return (char *)kv->k + block * kv->k_stride * kv_elem_size(kv);
}
static inline void *kv_v(const kv_cache *kv, uint32_t layer, uint32_t seq, uint32_t h)
{
    size_t block = ((size_t)layer * kv->max_seqs + seq) * kv->n_kv + h;
    return (char *)kv->v + block * kv->v_stride * kv_elem_size(kv);
}

struct lmz_kernels;
/* Store position pos of one sequence: k and v hold n_kv * head_dim floats (head-major).
 * An F16 cache rounds them with the kernels' to_f16 (bit-identical on every path). */
void kv_store(kv_cache *kv, const struct lmz_kernels *kern, uint32_t layer, uint32_t seq,
              uint32_t pos, const float *k, const float *v);

#endif
