/*
 * train_model.h -- the trainable llama model: its configuration, the list of its tensors
 * (names and shapes as the GGUF has them), and their layout in one flat float array.
 * Parameters, gradients and both AdamW moments all use this same layout, so optimizer,
 * checkpoint and export simply walk the tensor list.
 *
 * Conventions shared with the inference (src/model): RMSNorm weights applied after the
 * normalization; RoPE on adjacent pairs (2i, 2i+1) over the whole head ("llama" arch),
 * angles from src/model/rope.c; tied head = no output.weight, logits = token_embd h.
 */
#ifndef LMZ_TRAIN_MODEL_H
#define LMZ_TRAIN_MODEL_H

#include <stddef.h>
#include <stdint.h>

typedef struct tm_config {
    uint32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff;
    uint32_t n_ctx;          /* longest training sequence (= llama.context_length) */
    uint32_t tied;           /* 1: logits = token_embd h */
    float norm_eps;          /* default 1e-5 */
    float rope_base;         /* default 10000 */
} tm_config;

/* 0, or -1 with a message: sizes zero or too large, n_embd % n_head, n_head % n_head_kv,
 * odd head_dim. */
int tm_config_check(const tm_config *c, char *err, size_t errlen);
static inline uint32_t tm_head_dim(const tm_config *c) { return c->n_embd / c->n_head; }

typedef struct tm_tensor {
    char name[48];           /* GGUF name, e.g. "blk.3.ffn_up.weight" */
    uint32_t n_out, n_in;    /* rows x columns (GGUF ne = [n_in, n_out]); vectors: 1 x n */
    size_t offset;           /* in floats, into the flat array */
    int is_matrix;           /* weight decay and Q8_0 apply to matrices (embedding included) */
} tm_tensor;

/* Tensors in GGUF order: token_embd, output_norm, [output], then per layer attn_norm,
 * attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down. */
uint32_t tm_n_tensors(const tm_config *c);
void tm_tensor_at(const tm_config *c, uint32_t i, tm_tensor *t);
size_t tm_n_params(const tm_config *c);

typedef struct tm_layer {
    float *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *gate, *up, *down;
} tm_layer;

/* Named views into a flat array (parameters or gradients). */
typedef struct tm_weights {
    float *tok_embd, *output_norm;
    float *output;           /* == tok_embd when tied */
    tm_layer *layers;        /* n_layer, owned */
} tm_weights;

int tm_weights_bind(tm_weights *w, const tm_config *c, float *base);   /* -1: out of memory */
void tm_weights_free(tm_weights *w);

/* Random initialization: matrices N(0, 0.02), the residual outputs (attn_output,
 * ffn_down) scaled by 1/sqrt(2 n_layer), norms 1.  Same values on every machine. */
void tm_init_params(const tm_config *c, float *params, uint64_t seed);

/* splitmix64: the trainer's random numbers (init, batch sampling). */
static inline uint64_t tm_rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A standard normal draw (Box-Muller over two splitmix64 draws, deterministic math). */
double tm_normal(uint64_t *rng);

#endif
