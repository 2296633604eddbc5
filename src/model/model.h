/*
 * model.h -- a loaded transformer (llama / qwen2 / qwen3 from GGUF) and its deterministic
 * forward pass.
 *
 * Loading (model.c, model_tensors.c) reads the hyperparameters from the GGUF metadata,
 * checks every tensor's presence, type and shape, and repacks the matrices into the
 * panel layouts of kernels/kernels.h (F16/BF16 widened to F32 exactly; Q8_0 kept as
 * Q8_0).  A model is read-only afterwards and may be shared by any number of forward
 * contexts in any number of threads.
 *
 * The forward pass (forward.c, kvcache.c) gives bit-identical logits whatever the batch
 * composition, thread count or SIMD path; doc/determinism.md states how.
 */
#ifndef LMZ_MODEL_H
#define LMZ_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "lmz.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "tokenizer/tokenizer.h"

typedef enum lmz_arch { LMZ_ARCH_LLAMA, LMZ_ARCH_QWEN2, LMZ_ARCH_QWEN3 } lmz_arch;

typedef struct lmz_hparams {
    lmz_arch arch;
    uint32_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, n_ff;
    uint32_t head_dim;       /* {arch}.attention.key_length, default n_embd / n_head */
    uint32_t n_rot;          /* rope.dimension_count, default head_dim (even, <= head_dim) */
    float rope_base;         /* rope.freq_base, default 10000 */
    float rope_freq_scale;   /* 1 / rope.scaling.factor for linear scaling, else 1 */
    float norm_eps;          /* attention.layer_norm_rms_epsilon */
    int rope_neox;           /* pairs (i, i + n_rot/2) instead of (2i, 2i+1) */
} lmz_hparams;

/* A weight matrix of n_out rows x n_in columns (y = W x), repacked into panels. */
typedef struct lmz_matrix {
    ggml_type type;          /* GGML_TYPE_F32 (f32 panels) or GGML_TYPE_Q8_0 (q8 panels) */
    uint32_t n_out, n_in;
    void *panels;            /* 64-byte aligned, owned by the model */
} lmz_matrix;

typedef struct lmz_layer {
    const float *attn_norm, *ffn_norm;          /* n_embd */
    lmz_matrix wq, wk, wv, wo, gate, up, down;
    const float *bq, *bk, *bv;                  /* qwen2 biases (NULL if absent) */
    const float *q_norm, *k_norm;               /* qwen3 per-head norms, head_dim (or NULL) */
} lmz_layer;

struct lmz_model {
    gguf_file file;
    tokenizer *tok;
    char name[128];
    char arch[32];
    uint8_t model_hash[16];
    uint8_t tokenizer_hash[16];

    lmz_hparams hp;
    uint64_t n_params;
    struct {                       /* the token embedding's rows, read straight from the */
        const void *data;          /* file (any weight type) and widened by `row` */
        lmz_row_fn row;
    } tok_embd;
    const float *output_norm;
    lmz_matrix output;             /* output.weight, or token_embd when tied */
    int tied;
    lmz_layer *layers;
    float *vectors;                /* norms and biases, widened to float */
};

/* ---------------------------------------------------------------- forward pass */

/* Scratch + KV caches for up to max_seqs sequences + a thread pool.  One thread uses a
 * forward_ctx at a time; several may share one model. */
typedef struct forward_ctx forward_ctx;

/* n_ctx: positions per sequence (1 .. 2^20); max_batch: tokens per fwd_eval;
 * n_threads < 1 means 1; simd AUTO honours the LMZ_SIMD environment variable.
 * NULL on failure with a message in err (unsupported SIMD path, out of memory). */
forward_ctx *fwd_new(const struct lmz_model *m, uint32_t n_ctx, uint32_t max_seqs,
                     uint32_t max_batch, int n_threads, lmz_simd simd, char *err, size_t errlen);
void fwd_free(forward_ctx *f);

/* Apply a LoRA adapter (NULL: none) from now on.  Every sequence is emptied, since the
 * cached keys and values depend on it.  -1 with a message if it does not fit the model,
 * FWD_NOMEM if memory is out (the context then has no adapter). */
#define FWD_NOMEM (-2)
int fwd_set_adapter(forward_ctx *f, const struct lmz_adapter *a, char *err, size_t errlen);
const struct lmz_adapter *fwd_adapter(const forward_ctx *f);

lmz_simd fwd_simd(const forward_ctx *f);     /* the path in use (never AUTO) */
uint32_t fwd_max_batch(const forward_ctx *f);
uint32_t fwd_n_ctx(const forward_ctx *f);
uint32_t fwd_max_seqs(const forward_ctx *f);

/* Jobs (a matrix product, a layer's attention) of fewer multiply-adds than this run on
 * the calling thread (default 262144).  Tests set 0 to push every job through the
 * thread pool; results never depend on it. */
void fwd_set_min_parallel_work(forward_ctx *f, double macs);

/* The KV cache's element type from now on: F32 (the default, f16 = 0) or F16, every
 * key and value rounded to nearest even when stored (doc/format.md's KV_F16).  A change
 * empties every sequence.  -1 with a message if memory is out (nothing changed). */
int fwd_set_kv_f16(forward_ctx *f, int f16, char *err, size_t errlen);
int fwd_kv_f16(const forward_ctx *f);

void fwd_reset(forward_ctx *f, uint32_t seq);          /* empty sequence seq's KV cache */
uint32_t fwd_seq_len(const forward_ctx *f, uint32_t seq);

/* Evaluate n (1 .. max_batch) tokens.  Token i is appended to sequence seq[i] at that
 * sequence's next position; tokens of one sequence are taken in batch order.  Writes
 * logits[i * n_vocab .. + n_vocab) for every token.  Returns 0; or -1, with nothing
 * evaluated or changed, if a sequence would exceed n_ctx, a seq[i] >= max_seqs, a token
 * is outside [0, n_vocab), or n is 0 or > max_batch. */
int fwd_eval(forward_ctx *f, const int32_t *tokens, const uint32_t *seq, uint32_t n,
             float *logits);

/* fwd_eval computing the logits of the tokens with want[i] != 0 only (want NULL: all),
 * packed: the k-th wanted token's row is logits[k * n_vocab ..].  A row's logits do not
 * depend on which other rows are computed.  The coder's window refills need no logits,
 * and the output head is a large part of a small model's work. */
int fwd_eval_select(forward_ctx *f, const int32_t *tokens, const uint32_t *seq, uint32_t n,
                    const uint8_t *want, float *logits);

#endif
