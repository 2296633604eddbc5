/*
 * bpe_train.h -- learning a byte-level BPE vocabulary (GPT-2 style) from text.
 *
 * Two stages, so that the text can be streamed:
 *   1. bpe_counter: split text with the same pre-tokenizer the encoder uses
 *      (pretokenize.h) and count every distinct pre-token ("word").  Memory is
 *      bounded: past max_words distinct words, the rarest are dropped.
 *   2. bpe_train: start from the 256 byte tokens and repeatedly merge the most frequent
 *      adjacent pair of tokens inside the words (ties: the pair whose left piece, then
 *      right piece, is smallest as bytes), with incremental pair counts, until the
 *      vocabulary has vocab_size tokens.  Deterministic: the same counts always give the
 *      same merges, whatever the machine.
 *
 * The result (bpe_vocab) is exactly the tokenizer.ggml.* metadata our tokenizer and
 * llama.cpp read: tokens 0..255 are the bytes 0..255 in GPT-2's byte->code point
 * spelling, then one token per new merge result, then <|endoftext|> (CONTROL), which is
 * both BOS and EOS and separates documents in token streams.
 */
#ifndef LMZ_TOKENIZER_BPE_TRAIN_H
#define LMZ_TOKENIZER_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "tokenizer/pretokenize.h"

#define BPE_EOT_TEXT "<|endoftext|>"
#define BPE_DEFAULT_MAX_WORD_LEN 64u         /* longer pre-tokens are not learned from */
#define BPE_DEFAULT_MAX_WORDS ((uint64_t)1 << 23)

/* ---------------------------------------------------------------- word counts */
typedef struct bpe_counter bpe_counter;

/* max_words: distinct words kept (0: BPE_DEFAULT_MAX_WORDS); when the table outgrows
 * it, the words of the smallest counts are dropped until it is 3/4 full.
 * max_word_len: 0 for BPE_DEFAULT_MAX_WORD_LEN.  NULL on out-of-memory. */
bpe_counter *bpe_counter_new(tok_pre pre, uint64_t max_words, uint32_t max_word_len);
void bpe_counter_free(bpe_counter *c);
/* Count the pre-tokens of one document (pre-tokens never span two calls).
 * 0, or -1 on out-of-memory (the counter is then unusable). */
int bpe_counter_add(bpe_counter *c, const uint8_t *text, size_t n);
/* Add every count of src into dst (same pre-tokenizer).  0 or -1 on out-of-memory. */
int bpe_counter_merge(bpe_counter *dst, const bpe_counter *src);

typedef struct bpe_counter_stats {
    uint64_t bytes;             /* text bytes seen */
    uint64_t words;             /* pre-tokens seen */
    uint64_t distinct;          /* distinct words in the table now */
    uint64_t long_words;        /* pre-tokens over max_word_len, not counted */
    uint64_t pruned;            /* distinct words dropped by the max_words cap */
} bpe_counter_stats;
void bpe_counter_get_stats(const bpe_counter *c, bpe_counter_stats *st);

/* ---------------------------------------------------------------- training */
typedef struct bpe_vocab {
    tok_pre pre;
    uint32_t n_tokens;
    char **tokens;              /* NUL-terminated, GPT-2 byte spelling (specials as is) */
    int32_t *types;             /* TOK_TYPE_NORMAL, TOK_TYPE_CONTROL for <|endoftext|> */
    uint32_t n_merges;
    char **merges;              /* "left right", rank = index */
    int32_t eot;                /* <|endoftext|>: BOS and EOS */
} bpe_vocab;

typedef struct bpe_train_opts {
    uint32_t vocab_size;        /* total tokens: 256 bytes + merges + 1 special; >= 257 */
    uint64_t min_count;         /* stop early when the best pair is rarer (0: 2) */
    int verbose;                /* progress lines on stderr */
} bpe_train_opts;

/* Learn merges from c's words.  Fewer tokens than asked if the words run out of pairs
 * occurring min_count times.  0, or -1 with a message in err. */
int bpe_train(const bpe_counter *c, const bpe_train_opts *opts, bpe_vocab *out,
              char *err, size_t errlen);
void bpe_vocab_free(bpe_vocab *v);

/* Set the tokenizer.ggml.* keys (model "gpt2", pre, tokens, token_type, merges,
 * bos/eos ids) of v in w.  A setter failure (out-of-memory) surfaces at write time. */
void bpe_vocab_to_gguf(const bpe_vocab *v, gguf_writer *w);

/* ---------------------------------------------------------------- tools */

/* Text files are split into documents at lines holding only the byte 0x1E (the
 * corpus's record separator); a file without one is one document.  Returns the end of
 * the document starting at pos (its final "\n" included) and sets *next to where the
 * following one starts. */
size_t bpe_doc_end(const uint8_t *s, size_t n, size_t pos, size_t *next);

#endif
