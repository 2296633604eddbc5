/*
 * tok_maps.c -- the two lookup tables of a tokenizer: piece bytes -> id, and BPE
 * (left, right) -> merge.  Open addressing with linear probing, at most half full.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tokenizer/tok_internal.h"

static uint64_t table_size(uint64_t n_keys)
{
    uint64_t size = 16;
    while (size < 2 * n_keys)
        size <<= 1;
    return size;
}

int tok_strmap_init(tok_strmap *m, uint64_t n_keys)
{
    uint64_t size = table_size(n_keys);
    m->slots = malloc(size * sizeof *m->slots);
    if (!m->slots)
        return -1;
    memset(m->slots, 0xFF, size * sizeof *m->slots);    /* -1 */
    m->mask = size - 1;
    return 0;
}

void tok_strmap_free(tok_strmap *m)
{
    free(m->slots);
    m->slots = NULL;
}

static inline int piece_equals(const tokenizer *t, int32_t id, const uint8_t *s, size_t len)
{
    uint64_t off = t->piece_off[id];
    return t->piece_off[id + 1] - off == len && memcmp(t->piece_bytes + off, s, len) == 0;
}

int32_t tok_strmap_insert(tok_strmap *m, const tokenizer *t, int32_t id)
{
    const uint8_t *s = t->piece_bytes + t->piece_off[id];
    size_t len = (size_t)(t->piece_off[id + 1] - t->piece_off[id]);
    uint64_t i = XXH3_64bits(s, len) & m->mask;
    while (m->slots[i] >= 0) {
        if (piece_equals(t, m->slots[i], s, len))
            return m->slots[i];
        i = (i + 1) & m->mask;
    }
    m->slots[i] = id;
    return id;
}

int32_t tok_strmap_find(const tok_strmap *m, const tokenizer *t, const uint8_t *s, size_t len)
{
    uint64_t i = XXH3_64bits(s, len) & m->mask;
    while (m->slots[i] >= 0) {
        if (piece_equals(t, m->slots[i], s, len))
            return m->slots[i];
        i = (i + 1) & m->mask;
    }
    return -1;
}

static inline uint64_t pair_hash(uint32_t left, uint32_t right)
{
    uint64_t x = ((uint64_t)left << 32) | right;
    x ^= x >> 33;           /* murmur3 finalizer */
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

int tok_pairmap_init(tok_pairmap *m, uint64_t n_keys)
{
    uint64_t size = table_size(n_keys);
    m->slots = malloc(size * sizeof *m->slots);
    if (!m->slots)
        return -1;
    for (uint64_t i = 0; i < size; i++)
        m->slots[i].left = UINT32_MAX;
    m->mask = size - 1;
    m->count = 0;
    return 0;
}

void tok_pairmap_free(tok_pairmap *m)
{
    free(m->slots);
    m->slots = NULL;
}

static tok_merge *pair_slot(const tok_pairmap *m, uint32_t left, uint32_t right)
{
    uint64_t i = pair_hash(left, right) & m->mask;
    while (m->slots[i].left != UINT32_MAX &&
           (m->slots[i].left != left || m->slots[i].right != right))
        i = (i + 1) & m->mask;
    return &m->slots[i];
}

int tok_pairmap_insert(tok_pairmap *m, uint32_t left, uint32_t right, uint32_t prio, int32_t result)
{
    if (2 * (m->count + 1) > m->mask + 1) {
        tok_pairmap bigger;
        if (tok_pairmap_init(&bigger, m->mask + 1))
            return -1;
        for (uint64_t i = 0; i <= m->mask; i++)
            if (m->slots[i].left != UINT32_MAX)
                *pair_slot(&bigger, m->slots[i].left, m->slots[i].right) = m->slots[i];
        bigger.count = m->count;
        free(m->slots);
        *m = bigger;
    }
    tok_merge *slot = pair_slot(m, left, right);
    if (slot->left != UINT32_MAX)
        return 0;
    slot->left = left;
    slot->right = right;
    slot->prio = prio;
    slot->result = result;
    m->count++;
    return 0;
}

const tok_merge *tok_pairmap_find(const tok_pairmap *m, uint32_t left, uint32_t right)
{
    const tok_merge *slot = pair_slot(m, left, right);
    return slot->left == UINT32_MAX ? NULL : slot;
}
