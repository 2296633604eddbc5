/*
 * bpe_train_internal.h -- the word table shared by bpe_count.c and bpe_train.c.
 */
#ifndef LMZ_TOKENIZER_BPE_TRAIN_INTERNAL_H
#define LMZ_TOKENIZER_BPE_TRAIN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/pretokenize.h"

typedef struct bpe_count_slot {
    uint64_t hash;
    uint64_t count;             /* 0: empty slot */
    uint64_t off;               /* word bytes at arena + off */
    uint32_t len;
} bpe_count_slot;

struct bpe_counter {
    tok_pre pre;
    uint32_t max_word_len;
    uint64_t max_words;
    bpe_count_slot *slots;
    uint64_t mask;              /* slots - 1 (a power of two, at most half full) */
    uint64_t n;                 /* words in the table */
    uint8_t *arena;
    uint64_t arena_len, arena_cap;
    uint64_t bytes, words, long_words, pruned;
};

/* ---- the command-line tools' helpers (bpe_tool_util.c) */

/* A whole file, read-only (mmap; empty files give size 0).  0, or -1 with a message. */
typedef struct bpe_mapped {
    const uint8_t *data;
    size_t size;
} bpe_mapped;
int bpe_map_file(const char *path, bpe_mapped *m, char *err, size_t errlen);
void bpe_unmap_file(bpe_mapped *m);

/* Parse a byte count with an optional K/M/G suffix (powers of 1000).  0 or -1. */
int bpe_parse_size(const char *s, uint64_t *out);
double bpe_now_seconds(void);

#endif
