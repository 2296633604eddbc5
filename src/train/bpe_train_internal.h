/*
 * bpe_train_internal.h -- the word table shared by bpe_count.c and bpe_train.c.
 */
#ifndef LMZ_TRAIN_BPE_TRAIN_INTERNAL_H
#define LMZ_TRAIN_BPE_TRAIN_INTERNAL_H

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

#endif
