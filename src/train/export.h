/*
 * export.h -- write a trained model as a GGUF that lmz_model_open (and llama.cpp) loads:
 * architecture "llama", the llama.* hyperparameters with the types llama.cpp requires
 * (counts UINT32, rope.freq_base and layer_norm_rms_epsilon FLOAT32), the tokenizer
 * metadata (every tokenizer.* key) copied from a tokenizer GGUF, and the tensors of
 * train_model.h: F32, or Q8_0 for the matrices (norms stay F32) with the rounding of
 * lmz_q8_quantize.
 */
#ifndef LMZ_TRAIN_EXPORT_H
#define LMZ_TRAIN_EXPORT_H

#include <stddef.h>

#include "gguf/gguf.h"
#include "train/train_model.h"

/* The vocabulary size of a tokenizer GGUF (length of tokenizer.ggml.tokens); 0 if none. */
uint32_t tr_tokenizer_vocab(const gguf_file *tok);

/* Write atomically to path.  tok: the GGUF whose tokenizer.* metadata is copied (its
 * vocabulary must have c->n_vocab tokens).  q8: Q8_0 matrices (every matrix's n_in must
 * be a multiple of 32).  name: general.name.  0, or -1 with a message. */
int tr_export_gguf(const tm_config *c, const float *params, const gguf_file *tok, int q8,
                   const char *name, const char *path, char *err, size_t errlen);

#endif
