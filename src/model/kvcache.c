/*
 * kvcache.c -- allocation and writes of the KV cache; layout in kvcache.h.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "model/kvcache.h"

static int mul_ok(size_t *acc, size_t v)
{
    return !__builtin_mul_overflow(*acc, v, acc);
}

int kv_init(kv_cache *kv, uint32_t n_layer, uint32_t max_seqs, uint32_t n_kv, uint32_t head_dim,
            uint32_t n_ctx, int f16)
{
    memset(kv, 0, sizeof *kv);
    kv->n_layer = n_layer;
    kv->max_seqs = max_seqs;
    kv->n_kv = n_kv;
    kv->head_dim = head_dim;
    kv->n_ctx = n_ctx;
    kv->f16 = f16 != 0;
    kv->n_ctx_pad = lmz_n_panels(n_ctx) * LMZ_PANEL;
    kv->k_stride = (size_t)kv->n_ctx_pad * head_dim;
    kv->v_stride = (size_t)n_ctx * head_dim;
    size_t blocks = n_layer;
    if (!mul_ok(&blocks, max_seqs) || !mul_ok(&blocks, n_kv)) return -1;
    size_t nk = blocks, nv = blocks;
    if (!mul_ok(&nk, kv->k_stride) || !mul_ok(&nk, kv_elem_size(kv)) ||
        !mul_ok(&nv, kv->v_stride) || !mul_ok(&nv, kv_elem_size(kv)))
        return -1;
    kv->k = calloc(1, nk);
    kv->v = calloc(1, nv);
    if (!kv->k || !kv->v) {
        kv_free(kv);
        return -1;
    }
    return 0;
}

void kv_free(kv_cache *kv)
{
    free(kv->k);
    free(kv->v);
    kv->k = kv->v = NULL;
}

/* Keys go into panels of 16 positions: element (pos, d) of a head is at
 * (pos / 16) * head_dim * 16 + d * 16 + pos % 16 (kvcache.h). */
void kv_store(kv_cache *kv, const lmz_kernels *kern, uint32_t layer, uint32_t seq,
              uint32_t pos, const float *k, const float *v)
{
    uint32_t hd = kv->head_dim;
    size_t at = (size_t)(pos / LMZ_PANEL) * hd * LMZ_PANEL + pos % LMZ_PANEL;
    for (uint32_t h = 0; h < kv->n_kv; h++) {
        const float *kh = k + (size_t)h * hd, *vh = v + (size_t)h * hd;
        if (kv->f16) {
            uint16_t half[256], *kp = (uint16_t *)kv_k(kv, layer, seq, h) + at;
            for (uint32_t d0 = 0; d0 < hd; d0 += 256) {
                uint32_t n = hd - d0 < 256 ? hd - d0 : 256;
                kern->to_f16(half, kh + d0, n);
                for (uint32_t d = 0; d < n; d++) kp[(size_t)(d0 + d) * LMZ_PANEL] = half[d];
            }
            kern->to_f16((uint16_t *)kv_v(kv, layer, seq, h) + (size_t)pos * hd, vh, hd);
        } else {
            float *kp = (float *)kv_k(kv, layer, seq, h) + at;
            for (uint32_t d = 0; d < hd; d++) kp[(size_t)d * LMZ_PANEL] = kh[d];
            memcpy((float *)kv_v(kv, layer, seq, h) + (size_t)pos * hd, vh, hd * sizeof(float));
        }
    }
}
