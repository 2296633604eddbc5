/*
 * train_ops.h -- the layers of the llama architecture as separate forward and backward
 * functions (llm.c style), for training the default model and LoRA adapters (trainer.c).
 *
 * Conventions (the same as the inference, doc/determinism.md and src/model):
 *   - activations are row-major, one row per token: x[n][dim];
 *   - a weight matrix W has n_out rows of n_in floats (GGUF shape [n_in, n_out]) and
 *     y = W x, i.e. y[t][o] = sum_i W[o][i] x[t][i];
 *   - backward functions take dy (the loss gradient with respect to the output) and
 *     ACCUMULATE into parameter gradients (dW += ...), so gradients of several batches or
 *     of a tied weight add up; input gradients are written or accumulated as each
 *     function says.  A linear layer's dX and dW are separate calls, so a frozen weight
 *     (LoRA's base model) simply skips its dW.
 *
 * Training need not be bit-reproducible across machines, so these kernels may reassociate
 * (SIMD partial sums, blocking); each result is still independent of the thread count,
 * because threads split outputs, never a sum.
 */
#ifndef LMZ_TRAIN_OPS_H
#define LMZ_TRAIN_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "model/rope.h"
#include "train/train_vec.h"
#include "util/threadpool.h"

/* ---------------------------------------------------------------- execution */

/* C(m,n) (+)= sum_k A(m,k) B(k,n) with A(m,k) = A[m*a_rs + k*a_cs] (any strides, so A
 * may be a transposed view), B(k,n) = B[k*ldb + n], C(m,n) = C[m*ldc + n]. */
typedef struct tr_gemm_args {
    uint32_t M, N, K;
    const float *A;
    size_t a_rs, a_cs;
    const float *B;
    size_t ldb;
    float *C;
    size_t ldc;
    int accumulate;              /* 0: C = A B;  1: C += A B */
} tr_gemm_args;

/* Computes the block rows [m0, m1) x columns [n0, n1) of C. */
typedef void (*tr_gemm_fn)(const tr_gemm_args *g, uint32_t m0, uint32_t m1, uint32_t n0,
                           uint32_t n1);

void tr_gemm_block_portable(const tr_gemm_args *g, uint32_t m0, uint32_t m1, uint32_t n0,
                            uint32_t n1);
void tr_gemm_block_avx512(const tr_gemm_args *g, uint32_t m0, uint32_t m1, uint32_t n0,
                          uint32_t n1);

/* bf16 products (train_gemm_bf16_avx512.c, needs AVX512_BF16): A and B rounded to bf16,
 * sums in fp32.  scratch: tr_gemm_bf16_scratch_bytes() of packing buffers, 64-aligned. */
void tr_gemm_block_bf16(const tr_gemm_args *g, uint32_t m0, uint32_t m1, uint32_t n0,
                        uint32_t n1, void *scratch);
size_t tr_gemm_bf16_scratch_bytes(void);

/* Threads and kernels of one trainer. */
typedef struct tr_exec {
    tp_pool *pool;
    uint32_t n_threads;
    tr_gemm_fn gemm_block;       /* fp32: attention, and linear layers unless bf16 */
    int bf16;                    /* linear layers' products in bf16 (tr_exec_set_bf16) */
    unsigned char *bf16_scratch; /* n_threads x tr_gemm_bf16_scratch_bytes(), or NULL */
    const lmz_kernels *k;        /* exp_n for the softmaxes */
    const tr_vec *v;             /* row kernels: AVX-512 when the CPU has it */
} tr_exec;

/* n_threads < 1 means 1.  Picks the AVX-512 gemm when the CPU has it; products start in
 * fp32 (exact enough for the gradient checks).  0 or -1. */
int tr_exec_init(tr_exec *x, int n_threads);
void tr_exec_free(tr_exec *x);
/* Turns bf16 products (tr_gemm) on or off; on only where the CPU has AVX512_BF16.
 * Returns the resulting state (1 bf16, 0 fp32), or -1 out of memory. */
int tr_exec_set_bf16(tr_exec *x, int on);
/* fn(arg, task, thread) for every task, on the pool (inline with one thread). */
void tr_exec_run(const tr_exec *x, uint32_t n_tasks, tp_task_fn fn, void *arg);

/* fn(arg, r0, r1) over a split of [0, n) into contiguous ranges, on the pool. */
typedef void (*tr_rows_fn)(void *arg, uint32_t r0, uint32_t r1);
void tr_parallel_rows(const tr_exec *x, uint32_t n, tr_rows_fn fn, void *arg);

/* One product on the calling thread (thread: its index in the pool, for the bf16 packing
 * buffers), bf16 when x->bf16: the attention's per-(sequence, head) products. */
void tr_gemm_local(const tr_exec *x, const tr_gemm_args *g, uint32_t thread);

/* The whole product, split among the threads by blocks of C; bf16 when x->bf16. */
void tr_gemm(const tr_exec *x, const tr_gemm_args *g);

/* ---------------------------------------------------------------- embedding */

void tr_embedding_fwd(float *x, const uint32_t *tokens, const float *table, uint32_t n,
                      uint32_t dim);
/* dtable[tokens[t]] += dx[t] (in token order). */
void tr_embedding_bwd(float *dtable, const float *dx, const uint32_t *tokens, uint32_t n,
                      uint32_t dim);

/* ---------------------------------------------------------------- RMSNorm */

/* y = x * rstd * w with rstd = 1 / sqrtf(mean(x^2) + eps); rstd[t] is kept for backward. */
void tr_rmsnorm_fwd(const tr_exec *x, float *y, float *rstd, const float *in, const float *w,
                    uint32_t n, uint32_t dim, float eps);
/* din += dL/din (accumulated: the residual stream), dw += dL/dw. */
void tr_rmsnorm_bwd(const tr_exec *x, float *din, float *dw, const float *dy, const float *in,
                    const float *w, const float *rstd, uint32_t n, uint32_t dim);

/* ---------------------------------------------------------------- linear (y = W x) */

/* wt: scratch of n_in * n_out floats (W transposed, so the product streams rows). */
void tr_linear_fwd(const tr_exec *x, float *y, const float *in, const float *W, uint32_t n,
                   uint32_t n_in, uint32_t n_out, float *wt);
/* din (=, or += when accumulate) dy W */
void tr_linear_bwd_dx(const tr_exec *x, float *din, const float *dy, const float *W,
                      uint32_t n, uint32_t n_in, uint32_t n_out, int accumulate);
/* dW += dy^T in */
void tr_linear_bwd_dw(const tr_exec *x, float *dW, const float *dy, const float *in,
                      uint32_t n, uint32_t n_in, uint32_t n_out);

/* ---------------------------------------------------------------- RoPE ("llama": pairs 2i, 2i+1) */

/* Rows r = s * seq_len + p (sequence s, position p) of n_heads heads of head_dim; in place. */
void tr_rope_fwd(const rope_table *t, float *x, uint32_t n_seq, uint32_t seq_len,
                 uint32_t n_heads, uint32_t head_dim);
/* The transposed rotation (a rotation's inverse), applied to the gradient in place. */
void tr_rope_bwd(const rope_table *t, float *dx, uint32_t n_seq, uint32_t seq_len,
                 uint32_t n_heads, uint32_t head_dim);

/* ---------------------------------------------------------------- causal attention, GQA */

typedef struct tr_attn_shape {
    uint32_t n_seq, seq_len, n_head, n_head_kv, head_dim;
} tr_attn_shape;

/* Floats of per-thread scratch the attention needs (times n_threads). */
size_t tr_attention_scratch(const tr_attn_shape *s);
/* q [rows][n_head*hd], k, v [rows][n_head_kv*hd], out [rows][n_head*hd];
 * probs [n_seq][n_head][seq_len][seq_len] is written (kept for backward; zero above the
 * diagonal).  Query head h reads kv head h / (n_head / n_head_kv); scale 1/sqrt(hd). */
void tr_attention_fwd(const tr_exec *x, const tr_attn_shape *s, float *out, float *probs,
                      const float *q, const float *k, const float *v, float *scratch);
/* dq, dk, dv are written (not accumulated). */
void tr_attention_bwd(const tr_exec *x, const tr_attn_shape *s, float *dq, float *dk, float *dv,
                      const float *dout, const float *probs, const float *q, const float *k,
                      const float *v, float *scratch);

/* ---------------------------------------------------------------- SwiGLU */

/* out = silu(g) * u, silu(g) = g / (1 + exp(-g)) as in the inference */
void tr_swiglu_fwd(const tr_exec *x, float *out, const float *g, const float *u, size_t n);
/* dg, du written */
void tr_swiglu_bwd(const tr_exec *x, float *dg, float *du, const float *dout, const float *g,
                   const float *u, size_t n);

/* ---------------------------------------------------------------- cross-entropy */

/* For each row t: loss[t] = logsumexp(logits[t]) - logits[t][target[t]].  When dscale != 0
 * the logits are replaced by their gradient, dscale * (softmax(logits[t]) - onehot).
 * Returns the sum of the losses (double, in row order). */
double tr_cross_entropy(const tr_exec *x, float *logits, const uint32_t *targets, uint32_t n,
                        uint32_t n_vocab, float dscale, float *loss);

#endif
