/*
 * spm.c -- SentencePiece BPE with byte fallback (tokenizer.ggml.model "llama"), as
 * llama.cpp's llm_tokenizer_spm: start from one symbol per character, repeatedly merge
 * the adjacent pair whose concatenation is the vocabulary piece with the highest score
 * (ties: leftmost), then emit each symbol's piece or, for a character no piece spells,
 * one <0xXX> token per byte.
 *
 * Pieces are matched by their decoded bytes ("\xe2\x96\x81" already turned into ' '), on
 * the raw input: no space is escaped and no dummy prefix is added, so a literal U+2581
 * in the input stays three bytes and decode(encode(x)) == x.
 *
 * Speed.  A symbol is always one character or a whole piece, so at load every way of
 * cutting a piece into two such symbols becomes an entry of an id-pair merge table, and
 * encoding runs the same integer-keyed merge loop as byte-level BPE.  And one merge list
 * over a whole text would mean a heap of millions of candidates; but two neighbouring
 * characters a, b can only ever end up in one symbol if some piece has a directly
 * followed by b.  Where none does, the text splits into independent segments with
 * exactly the same result; in real vocabularies that is before every word.
 */
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode_cat.h"

size_t tok_spm_char(const uint8_t *s, size_t n, uint32_t *key)
{
    if (s[0] < 0x80) {
        *key = s[0];
        return 1;
    }
    size_t len = tok_utf8_decode(s, n, key);
    if (*key == TOK_CP_INVALID)
        *key = 0x110000u + s[0];
    return len;
}

/* Symbol id of the character with this key, or -1 if no piece contains it. */
static int32_t char_symbol(const tokenizer *t, uint32_t key)
{
    if (key < 128)
        return t->ascii_sym[key];
    const tok_merge *m = tok_pairmap_find(&t->char_sym, key, 0);
    return m ? m->result : -1;
}

/* Order scores descending as unsigned integers: larger score -> smaller priority. */
static uint32_t score_prio(float score)
{
    uint32_t u;
    if (score == 0.0f)
        score = 0.0f;           /* -0 == +0 */
    memcpy(&u, &score, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);     /* monotone in the float */
    return ~u;
}

/* The symbol id spelling s[0..n): a character's, or a whole piece's; -1 if neither. */
static int32_t symbol_of(const tokenizer *t, const uint8_t *s, size_t n)
{
    uint32_t key;
    if (tok_spm_char(s, n, &key) == n)
        return char_symbol(t, key);
    return tok_strmap_find(&t->pieces, t, s, n);
}

static int is_canonical_piece(const tokenizer *t, uint32_t id, const uint8_t **p, size_t *n)
{
    *p = t->piece_bytes + t->piece_off[id];
    *n = (size_t)(t->piece_off[id + 1] - t->piece_off[id]);
    return *n > 0 && tok_strmap_find(&t->pieces, t, *p, *n) == (int32_t)id;
}

int tok_spm_build_tables(tokenizer *t)
{
    if (tok_pairmap_init(&t->char_sym, 0) || tok_pairmap_init(&t->adjacent, 0) ||
        tok_pairmap_init(&t->merges, 0))
        return -1;
    memset(t->ascii_adjacent, 0, sizeof t->ascii_adjacent);
    for (int c = 0; c < 128; c++)
        t->ascii_sym[c] = -1;
    int64_t next_pseudo = t->n_vocab;
    const uint8_t *p;
    size_t n;
    for (uint32_t id = 0; id < t->n_vocab; id++) {
        if (!is_canonical_piece(t, id, &p, &n))
            continue;
        uint32_t prev = 0;
        for (size_t i = 0; i < n;) {
            uint32_t key;
            size_t len = tok_spm_char(p + i, n - i, &key);
            if (char_symbol(t, key) < 0) {
                int32_t sym = tok_strmap_find(&t->pieces, t, p + i, len);
                if (sym < 0) {
                    if (next_pseudo > INT32_MAX)
                        return -1;
                    sym = (int32_t)next_pseudo++;
                }
                if (key < 128)
                    t->ascii_sym[key] = sym;
                else if (tok_pairmap_insert(&t->char_sym, key, 0, 0, sym))
                    return -1;
            }
            if (i > 0) {
                if (prev < 128 && key < 128)
                    t->ascii_adjacent[prev][key >> 6] |= 1ull << (key & 63);
                else if (tok_pairmap_insert(&t->adjacent, prev, key, 0, 0))
                    return -1;
            }
            prev = key;
            i += len;
        }
    }
    /* every cut of a piece into two symbols merges back into it */
    for (uint32_t id = 0; id < t->n_vocab; id++) {
        if (!is_canonical_piece(t, id, &p, &n))
            continue;
        uint32_t key;
        for (size_t cut = tok_spm_char(p, n, &key); cut < n; cut += tok_spm_char(p + cut, n - cut, &key)) {
            int32_t left = symbol_of(t, p, cut), right = symbol_of(t, p + cut, n - cut);
            if (left >= 0 && right >= 0 &&
                tok_pairmap_insert(&t->merges, (uint32_t)left, (uint32_t)right,
                                   score_prio(t->scores[id]), (int32_t)id))
                return -1;
        }
    }
    return 0;
}

/* Whether some piece has character a directly followed by b. */
static int adjacent_in_piece(const tokenizer *t, uint32_t a, uint32_t b)
{
    if (a < 128 && b < 128)
        return (int)((t->ascii_adjacent[a][b >> 6] >> (b & 63)) & 1);
    return tok_pairmap_find(&t->adjacent, a, b) != NULL;
}

/* Merge and emit one segment text[0..n), n >= 1. */
static int encode_segment(const tokenizer *t, tok_work *w, const uint8_t *text, size_t n,
                          tok_sink *sink)
{
    if (tok_work_reserve(w, n))
        return -1;
    tok_sym *sy = w->syms;
    int32_t k = 0;
    for (size_t pos = 0; pos < n; k++) {
        uint32_t key;
        size_t len = tok_spm_char(text + pos, n - pos, &key);
        sy[k].start = (uint32_t)pos;
        sy[k].len = (uint32_t)len;
        sy[k].prev = k - 1;
        sy[k].next = k + 1;
        sy[k].id = char_symbol(t, key);
        pos += len;
    }
    sy[k - 1].next = -1;
    if (tok_merge_symbols(t, w, k))
        return -1;
    for (int32_t i = 0; i >= 0; i = sy[i].next) {
        if (sy[i].id >= 0 && (uint32_t)sy[i].id < t->n_vocab) {
            tok_sink_put(sink, sy[i].id);
        } else {        /* a character that is no piece on its own: byte fallback */
            for (uint32_t j = 0; j < sy[i].len; j++)
                tok_sink_put(sink, t->byte_token[text[sy[i].start + j]]);
        }
    }
    return 0;
}

int tok_spm_encode(const tokenizer *t, tok_work *w, const uint8_t *text, size_t n, tok_sink *sink)
{
    for (size_t pos = 0; pos < n;) {
        uint32_t prev;
        size_t end = pos + tok_spm_char(text + pos, n - pos, &prev);
        while (end < n) {
            uint32_t key;
            size_t len = tok_spm_char(text + end, n - end, &key);
            if (!adjacent_in_piece(t, prev, key))
                break;          /* no piece joins these two characters */
            prev = key;
            end += len;
        }
        if (encode_segment(t, w, text + pos, end - pos, sink))
            return -1;
        pos = end;
    }
    return 0;
}
