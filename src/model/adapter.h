/*
 * adapter.h -- LoRA adapters in llama.cpp's GGUF convention, and how the forward pass
 * applies them.
 *
 * File: general.type = "adapter", adapter.type = "lora", adapter.lora.alpha (f32), and
 * for each adapted weight blk.N.<target>.weight two tensors, .lora_a of GGUF shape
 * [n_in, r] and .lora_b of shape [r, n_out] (F32, F16 or BF16).  The adapted product is
 *     y = W x + scale * (B (A x)),   scale = alpha / r   (1 when alpha is 0)
 * exactly as llama.cpp computes it (llm_build_lora_mm): the two small products, then the
 * scaling, then the sum.  A and B are repacked into F32 panels, so the products are the
 * kernels' canonical fma chains and the result is as deterministic as the base model's.
 *
 * Identity (adapter_hash): XXH3-128 of "lmz-lora-1", alpha's f32 bits, then for each
 * adapted weight in canonical order (layer, then q k v o gate up down): the a and b
 * tensors' name, type, shape and raw bytes, as model_hash does for a model.  Metadata
 * (names, lmz.base_model) is not part of it.
 */
#ifndef LMZ_ADAPTER_H
#define LMZ_ADAPTER_H

#include <stdint.h>

#include "lmz.h"
#include "model/model.h"

/* The weights an adapter may adapt, in the canonical order. */
typedef enum lora_target {
    LORA_Q, LORA_K, LORA_V, LORA_O, LORA_GATE, LORA_UP, LORA_DOWN, LORA_N_TARGETS
} lora_target;

/* "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down". */
const char *lora_target_gguf_name(lora_target t);
/* The short names of --targets: "q", "k", "v", "o", "gate", "up", "down". */
const char *lora_target_short_name(lora_target t);

typedef struct lora_pair {
    lmz_matrix a;            /* r x n_in  (F32 panels); a.panels NULL: not adapted */
    lmz_matrix b;            /* n_out x r */
    float scale;             /* alpha / r, or 1 */
} lora_pair;

struct lmz_adapter {
    char name[64];
    char arch[32];
    uint8_t hash[16];
    uint8_t base_hash[16];   /* lmz.base_model_hash, when the file has it */
    int has_base_hash;
    float alpha;
    uint32_t n_layer;        /* 1 + the highest layer adapted */
    uint32_t max_rank;
    uint32_t n_pairs;
    uint64_t n_params;
    lora_pair *pairs;        /* n_layer * LORA_N_TARGETS, [layer][target] */
};

static inline const lora_pair *lora_pair_at(const struct lmz_adapter *a, uint32_t layer,
                                            lora_target t)
{
    if (!a || layer >= a->n_layer) return NULL;
    const lora_pair *p = &a->pairs[(size_t)layer * LORA_N_TARGETS + t];
    return p->a.panels ? p : NULL;
}

/* Does the adapter fit the model (architecture, layer count, every shape)?  0, or -1
 * with a message. */
int lora_check_model(const struct lmz_adapter *a, const struct lmz_model *m, char *err,
                     size_t errlen);

#endif
