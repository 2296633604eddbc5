/*
 * checkpoint.h -- the whole training state in one file, so that an interrupted run
 * resumes exactly where it stopped.
 *
 * Format (version 1, all little-endian):
 *   "LMZTRAIN"  8 bytes magic
 *   u32 version (1), u32 header bytes (from the magic to the end of the header)
 *   model: u32 n_vocab n_embd n_layer n_head n_head_kv n_ff n_ctx tied, f32 norm_eps rope_base
 *   optimizer: f32 lr lr_min beta1 beta2 eps weight_decay clip, u32 warmup total_steps
 *   run: u32 batch seq_len, u64 seed step rng tokens_seen data_tokens n_params
 *   f32 params[n_params], f32 adam_m[n_params], f32 adam_v[n_params]
 *   u64 XXH3-64 of every byte before it
 * Written to PATH.tmp, flushed to disk (fsync), then renamed over PATH, so a crash
 * leaves the previous checkpoint intact.
 */
#ifndef LMZ_TRAIN_CHECKPOINT_H
#define LMZ_TRAIN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "train/optimizer.h"
#include "train/train_model.h"

#define TR_CHECKPOINT_VERSION 1u

typedef struct tr_run_state {
    tm_config model;
    tr_opt_config opt;
    uint32_t batch, seq_len;
    uint64_t seed;
    uint64_t step;           /* optimizer steps done */
    uint64_t rng;            /* batch sampler state after those steps */
    uint64_t tokens_seen;
    uint64_t data_tokens;    /* size of the token stream, to refuse another one on resume */
} tr_run_state;

/* params, m, v: tm_n_params(&s->model) floats each.  0, or -1 with a message. */
int tr_checkpoint_save(const char *path, const tr_run_state *s, const float *params,
                       const float *m, const float *v, char *err, size_t errlen);
/* Reads and verifies (magic, version, sizes, checksum); allocates *params, *m, *v. */
int tr_checkpoint_load(const char *path, tr_run_state *s, float **params, float **m,
                       float **v, char *err, size_t errlen);

#endif
