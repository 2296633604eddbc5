/*
 * kvcache.h -- the F32 key/value cache of the forward pass.
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
    size_t k_stride, v_stride;   /* floats per (layer, seq, kv head) block */
    float *k, *v;
} kv_cache;

/* 0, or -1 if the sizes overflow or memory is short. */
int kv_init(kv_cache *kv, uint32_t n_layer, uint32_t max_seqs, uint32_t n_kv, uint32_t head_dim,
            uint32_t n_ctx);
void kv_free(kv_cache *kv);

static inline float *kv_k(const kv_cache *kv, uint32_t layer, uint32_t seq, uint32_t h)
{
    return kv->k + (((size_t)layer * kv->max_seqs + seq) * kv->n_kv + h) * kv->k_stride;
}
static inline float *kv_v(const kv_cache *kv, uint32_t layer, uint32_t seq, uint32_t h)
{
    return kv->v + (((size_t)layer * kv->max_seqs + seq) * kv->n_kv + h) * kv->v_stride;
}

/* Store position pos of one sequence: k and v hold n_kv * head_dim floats (head-major). */
void kv_store(kv_cache *kv, uint32_t layer, uint32_t seq, uint32_t pos, const float *k,
              const float *v);

#endif
