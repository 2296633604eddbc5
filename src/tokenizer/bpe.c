/*
 * bpe.c -- byte-level BPE (tokenizer.ggml.model "gpt2"): pre-tokenize, then in each
 * pre-token start from one token per byte and apply the lowest-ranked merge first
 * (ties: leftmost), as llama.cpp's llm_tokenizer_bpe and HF tokenizers do.
 *
 * Every symbol is always a token (a byte token, or the result of a merge whose result
 * is in the vocabulary), so the output spells the input exactly.
 */
#include "tokenizer/tok_internal.h"

static int encode_word(const tokenizer *t, tok_work *w, const uint8_t *word, size_t n,
                       tok_sink *sink)
{
    if (n == 1) {
        tok_sink_put(sink, t->byte_token[word[0]]);
        return 0;
    }
    if (t->ignore_merges && n <= t->max_piece_len) {
        int32_t id = tok_strmap_find(&t->pieces, t, word, n);
        if (id >= 0) {
            tok_sink_put(sink, id);
            return 0;
        }
    }
    if (tok_work_reserve(w, n))
        return -1;
    tok_sym *sy = w->syms;
    for (size_t i = 0; i < n; i++) {
        sy[i].start = (uint32_t)i;
        sy[i].len = 1;
        sy[i].prev = (int32_t)i - 1;
        sy[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
        sy[i].id = t->byte_token[word[i]];
    }
    if (tok_merge_symbols(t, w, (int32_t)n))
        return -1;
    for (int32_t i = 0; i >= 0; i = sy[i].next)
        tok_sink_put(sink, sy[i].id);
    return 0;
}

int tok_bpe_encode(const tokenizer *t, tok_work *w, const uint8_t *text, size_t n, tok_sink *sink)
{
    tok_pretok it;
    size_t start, len;
    tok_pretok_init(&it, t->pre, text, n);
    while (tok_pretok_next(&it, &start, &len)) {
        if (encode_word(t, w, text + start, len, sink))
            return -1;
    }
    return 0;
}
