/*
 * tok_internal.h -- the tokenizer's private structure and its parts (not for other modules).
 *
 * tok_build() constructs a tokenizer from plain arrays, exactly the tokenizer.ggml.*
 * metadata of a GGUF; tok_load_gguf() is a thin reader on top of it.
 */
#ifndef LMZ_TOKENIZER_TOK_INTERNAL_H
#define LMZ_TOKENIZER_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

/* tokenizer.ggml.token_type values */
enum {
    TOK_TYPE_NORMAL = 1, TOK_TYPE_UNKNOWN = 2, TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER_DEFINED = 4, TOK_TYPE_UNUSED = 5, TOK_TYPE_BYTE = 6
};

/* Everything a tokenizer is built from; strings are not NUL-terminated (gguf_str). */
typedef struct tok_spec {
    tok_kind kind;
    gguf_str pre;               /* tokenizer.ggml.pre; ptr NULL when absent */
    uint32_t n_tokens;
    const gguf_str *tokens;
    const int32_t *types;       /* NULL: every token NORMAL */
    const float *scores;        /* TOK_SPM_LLAMA; NULL: all 0 */
    uint64_t n_merges;          /* TOK_BPE_GPT2: "left right" strings, rank = index */
    const gguf_str *merges;
    int32_t bos, eos;           /* -1: none */
} tok_spec;

/* NULL on failure, with a message and errno as tok_load_gguf (tokenizer.h). */
tokenizer *tok_build(const tok_spec *spec, char *err, size_t errlen);

/* Bytes -> id for the tokens encode may produce, keyed by their decoded bytes
 * (open addressing over the piece table). */
typedef struct tok_strmap {
    int32_t *slots;             /* id, or -1 for empty */
    uint64_t mask;
} tok_strmap;

/* Merge table: (left symbol id, right symbol id) -> (priority, merged id).  Lower prio
 * merges first: the merge rank for gpt2, the piece score's order for llama. */
typedef struct tok_merge {
    uint32_t left, right;       /* left == UINT32_MAX: empty slot */
    uint32_t prio;
    int32_t result;
} tok_merge;

typedef struct tok_pairmap {
    tok_merge *slots;
    uint64_t mask;
    uint64_t count;             /* grows to stay at most half full */
} tok_pairmap;

struct tokenizer {
    tok_kind kind;
    tok_pre pre;
    int ignore_merges;          /* look a whole pre-token up before merging (Llama 3) */
    uint32_t n_vocab;
    int32_t bos, eos;
    uint8_t *piece_bytes;       /* decoded bytes of every token, back to back */
    uint64_t *piece_off;        /* n_vocab + 1 offsets into piece_bytes */
    float *scores;              /* TOK_SPM_LLAMA: merge priority of each token */
    size_t max_piece_len;       /* longest mergeable piece (ignore_merges lookups) */
    int32_t byte_token[256];    /* the token that spells each single byte */
    tok_strmap pieces;          /* mergeable tokens by their bytes */
    tok_pairmap merges;         /* pairs of symbol ids that merge */
    /* TOK_SPM_LLAMA: the symbol id of each character that occurs in a piece (the piece's
     * id if the character alone is one, else an id >= n_vocab), ASCII in a table, the
     * rest keyed by code point (right = 0); and the character pairs adjacent in a piece */
    int32_t ascii_sym[128];
    tok_pairmap char_sym;
    uint64_t ascii_adjacent[128][2];    /* bit b of [a]: ASCII a then b (L1-resident) */
    tok_pairmap adjacent;               /* the other pairs */
    uint8_t hash[16];
};

/* ---- maps (tok_maps.c) */
int tok_strmap_init(tok_strmap *m, uint64_t n_keys);
void tok_strmap_free(tok_strmap *m);
/* Insert id under its piece bytes; returns the id already there if any, else id. */
int32_t tok_strmap_insert(tok_strmap *m, const tokenizer *t, int32_t id);
int32_t tok_strmap_find(const tok_strmap *m, const tokenizer *t, const uint8_t *s, size_t len);

int tok_pairmap_init(tok_pairmap *m, uint64_t n_keys);
void tok_pairmap_free(tok_pairmap *m);
/* Keeps the first entry for a pair inserted twice.  0, or -1 on out-of-memory. */
int tok_pairmap_insert(tok_pairmap *m, uint32_t left, uint32_t right, uint32_t prio, int32_t result);
const tok_merge *tok_pairmap_find(const tok_pairmap *m, uint32_t left, uint32_t right);

/* ---- GPT-2 byte alphabet (byte_alphabet.c) */
/* The code point that spells byte b in GPT-2's byte-level vocabularies. */
uint32_t tok_gpt2_byte_to_cp(uint8_t b);
/* Inverse table: inv[cp] = the byte code point cp spells, or -1 (cp < TOK_GPT2_CP_END;
 * every larger code point is outside the alphabet). */
#define TOK_GPT2_CP_END 0x144
void tok_gpt2_inverse(int16_t inv[TOK_GPT2_CP_END]);

/* ---- encoding work shared by both kinds (encode_work.c) */
typedef struct tok_sink {
    int32_t *out;
    size_t cap;
    size_t count;
} tok_sink;

static inline void tok_sink_put(tok_sink *s, int32_t id)
{
    if (s->count < s->cap)
        s->out[s->count] = id;
    s->count++;
}

/* Encode works on windows of at most this many bytes (int32 symbol indices); only
 * inputs above 1 GiB are cut, at arbitrary bytes: a few merges lost, still lossless. */
#define TOK_MAX_WINDOW ((size_t)1 << 30)

/* A symbol is a span of the input that is being merged; symbols form a linked list. */
typedef struct tok_sym {
    uint32_t start, len;        /* lists never exceed TOK_MAX_WINDOW bytes */
    int32_t prev, next;         /* indices, -1 at the ends */
    int32_t id;                 /* token spelling the span, an SPM character id >= n_vocab,
                                 * or -1: a character in no piece */
} tok_sym;

/* Merge candidates, smallest key first (priority, then the left symbol's index: ties go
 * to the leftmost pair, as in llama.cpp and HF tokenizers). */
typedef struct tok_cand {
    uint64_t key;
    int32_t left, right;
    uint32_t size;              /* left.len + right.len when queued: stale if changed */
    int32_t result;
} tok_cand;

typedef struct tok_work {
    tok_sym *syms;
    size_t syms_cap;
    tok_cand *heap;
    size_t heap_len, heap_cap;
} tok_work;

void tok_work_free(tok_work *w);
int tok_work_reserve(tok_work *w, size_t n_syms);
/* Apply t->merges to the list w->syms[0..n), best pair first, until none applies.
 * 0, or -1 on out-of-memory. */
int tok_merge_symbols(const tokenizer *t, tok_work *w, int32_t n);

/* Encoders of the two kinds: append ids for text[0..n) to sink; 0, or -1 on OOM. */
int tok_bpe_encode(const tokenizer *t, tok_work *w, const uint8_t *text, size_t n, tok_sink *sink);
int tok_spm_encode(const tokenizer *t, tok_work *w, const uint8_t *text, size_t n, tok_sink *sink);

/* A failure's message in err[0..errlen), and errno = e (EINVAL, or ENOMEM for lack of
 * memory), as tokenizer.h promises its callers. */
void tok_fail(int e, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* SPM: the character at s[0..n) as a key for tokenizer.adjacent (invalid bytes get keys
 * above U+10FFFF); returns its length. */
size_t tok_spm_char(const uint8_t *s, size_t n, uint32_t *key);
/* Build char_sym, adjacent and merges from the mergeable pieces and their scores.
 * 0, or -1 on out-of-memory. */
int tok_spm_build_tables(tokenizer *t);

#endif
