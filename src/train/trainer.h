/*
 * trainer.h -- forward and backward of the whole model over a batch of sequences, with
 * all activations kept in one arena allocated once (nothing is allocated per step).
 *
 * A batch is n_seq sequences of seq_len + 1 tokens: tokens[s*(seq_len+1) + p] for
 * p = 0..seq_len; positions 0..seq_len-1 are the inputs, and position p+1 is the target
 * of position p.  The loss is the mean cross-entropy (nats) over n_seq * seq_len targets.
 */
#ifndef LMZ_TRAINER_H
#define LMZ_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "model/adapter.h"
#include "train/train_model.h"
#include "train/train_ops.h"

typedef struct trainer trainer;

/* Arena for up to max_seqs sequences of up to c->n_ctx tokens; parameters allocated
 * (zero; call tm_init_params on trainer_params, or load them).  The linear layers'
 * products run in bf16 where the CPU has AVX512_BF16 (trainer_set_bf16).  NULL with a
 * message. */
trainer *trainer_new(const tm_config *c, uint32_t max_seqs, int n_threads, char *err,
                     size_t errlen);
void trainer_free(trainer *t);

/* bf16 products (on: the default where the CPU has AVX512_BF16) or fp32 (exact enough for
 * finite-difference checks and for matching the inference's loss).  Returns the resulting
 * state: 1 bf16, 0 fp32, -1 out of memory (state unchanged). */
int trainer_set_bf16(trainer *t, int on);
const tm_config *trainer_config(const trainer *t);
const tr_exec *trainer_exec(const trainer *t);
size_t trainer_n_params(const trainer *t);
float *trainer_params(trainer *t);
float *trainer_grads(trainer *t);

/* Forward pass; the mean loss in *loss.  -1 (nothing done) if n_seq or seq_len exceed the
 * arena or a token is >= n_vocab. */
int trainer_forward(trainer *t, const uint32_t *tokens, uint32_t n_seq, uint32_t seq_len,
                    double *loss);
/* Gradients of the last forward's mean loss, written to trainer_grads (zeroed first). */
void trainer_backward(trainer *t);

/* LoRA mode: from now on the model's parameters are frozen (load them first), every
 * linear layer of a target in target_mask (bit i: lora_target i) of every layer gets an
 * adapter of the given rank, scale alpha / rank, and trainer_backward computes only the
 * adapters' gradients.  A ~ N(0, 1 / n_in) from seed, B = 0 (so training starts from the
 * model itself).  0, or -1 with a message. */
int trainer_enable_lora(trainer *t, uint32_t rank, float alpha, uint32_t target_mask,
                        uint64_t seed, char *err, size_t errlen);
size_t trainer_n_lora(const trainer *t);
float *trainer_lora_params(trainer *t);
float *trainer_lora_grads(trainer *t);
/* The adapter of (layer, target): A (rank x n_in) and B (n_out x rank) inside
 * trainer_lora_params; 0, or -1 if that target is not adapted. */
int trainer_lora_matrix(const trainer *t, uint32_t layer, lora_target target, const float **A,
                        const float **B, uint32_t *n_in, uint32_t *n_out);
uint32_t trainer_lora_rank(const trainer *t);

/* Floating-point operations of one forward + backward per token at seq_len (matrix
 * products and attention, causal half; 2 per multiply-add), for GFLOP/s figures. */
double trainer_flops_per_token(const trainer *t, uint32_t seq_len);

#endif
