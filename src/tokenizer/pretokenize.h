/*
 * pretokenize.h -- the regex splits of byte-level BPE tokenizers, written by hand.
 *
 * BPE merges never cross a pre-token boundary, so the split decides which tokens can
 * appear; it must be the one the model was trained with (HF tokenizers / tiktoken
 * semantics: leftmost alternative first, greedy quantifiers).  Whatever the split, the
 * pre-tokens tile the input exactly, so losslessness never depends on it.
 */
#ifndef LMZ_TOKENIZER_PRETOKENIZE_H
#define LMZ_TOKENIZER_PRETOKENIZE_H

#include <stddef.h>
#include <stdint.h>

typedef enum tok_pre {
    /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    TOK_PRE_GPT2 = 0,
    /* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
     *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+     (also OpenAI cl100k) */
    TOK_PRE_LLAMA3 = 1,
    /* the Llama 3 pattern with \p{N} (one digit per pre-token) instead of \p{N}{1,3} */
    TOK_PRE_QWEN2 = 2,
    /* every \p{N} alone, then the GPT-2 pattern inside the pieces between digits */
    TOK_PRE_SMOLLM = 3
} tok_pre;

/* Map tokenizer.ggml.pre to a split (names as llama.cpp's llama-vocab.cpp uses them).
 * Unknown or missing names (NULL) give TOK_PRE_GPT2.  *ignore_merges is set to 1 for the
 * pre types whose tokenizers look a whole pre-token up in the vocabulary before merging
 * (the Llama 3 family, like tiktoken), else 0. */
tok_pre tok_pre_from_name(const char *name, size_t len, int *ignore_merges);
const char *tok_pre_name(tok_pre pre);

/* Iterator over the pre-tokens of text[0..n). */
typedef struct tok_pretok {
    tok_pre pre;
    const uint8_t *text;
    size_t n;
    size_t pos;         /* start of the next pre-token */
    size_t seg_end;     /* TOK_PRE_SMOLLM: end of the current digit-free segment */
} tok_pretok;

void tok_pretok_init(tok_pretok *it, tok_pre pre, const uint8_t *text, size_t n);
/* Next pre-token as [*start, *start + *len); returns 0 when the text is exhausted. */
int tok_pretok_next(tok_pretok *it, size_t *start, size_t *len);

#endif
