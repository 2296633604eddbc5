/*
 * tokenizer.h -- bytes <-> token ids, lossless for every byte string.
 *
 * Two kinds, as GGUF names them in tokenizer.ggml.model:
 *   "gpt2"  byte-level BPE: tokens spelled in GPT-2's byte->unicode alphabet, ranked
 *           merges, and a pre-tokenizer split chosen by tokenizer.ggml.pre.
 *   "llama" SentencePiece-style: pieces with scores, "\xe2\x96\x81" for space, and
 *           <0xXX> byte-fallback tokens for anything the pieces cannot spell.
 *
 * The contract lmz depends on: tok_decode(tok_encode(x)) == x for ANY bytes x (invalid
 * UTF-8, NUL, CR, 1 MB lines...).  The split should also be the one the model was
 * trained on, since another split costs bits, but exactness comes first.
 * A tokenizer is read-only after load and may be used from several threads.
 */
#ifndef LMZ_TOKENIZER_H
#define LMZ_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include "gguf/gguf.h"

typedef struct tokenizer tokenizer;

typedef enum tok_kind { TOK_BPE_GPT2, TOK_SPM_LLAMA } tok_kind;

/* Build from a GGUF's tokenizer.ggml.* metadata.  Return NULL with a message in err,
 * and errno ENOMEM if memory ran out, EINVAL if the metadata makes no tokenizer. */
tokenizer *tok_load_gguf(const gguf_file *f, char *err, size_t errlen);
void tok_free(tokenizer *t);

tok_kind tok_get_kind(const tokenizer *t);
uint32_t tok_n_vocab(const tokenizer *t);
int32_t tok_bos(const tokenizer *t);      /* -1 if the model has none */
int32_t tok_eos(const tokenizer *t);      /* -1 if none */

/* Encode n bytes.  Writes at most cap ids to out and returns the total count needed
 * (call again with a larger buffer if > cap).  Returns -1 only on out-of-memory.
 * n bytes never need more than n + 1 tokens. */
long tok_encode(const tokenizer *t, const uint8_t *text, size_t n, int32_t *out, size_t cap);

/* The bytes of one token (its exact contribution to the decoded text).  *len is set;
 * the pointer stays valid for the tokenizer's lifetime.  NULL for an invalid id. */
const uint8_t *tok_piece(const tokenizer *t, int32_t id, size_t *len);

/* Decode ids into out (capacity cap).  Returns bytes needed, or -1 on an invalid id. */
long tok_decode(const tokenizer *t, const int32_t *ids, size_t n, uint8_t *out, size_t cap);

/* 16-byte identity of the vocabulary, merges/scores, types and pre-tokenizer: two
 * tokenizers with equal hashes split every input identically. */
void tok_hash(const tokenizer *t, uint8_t out[16]);

#endif
