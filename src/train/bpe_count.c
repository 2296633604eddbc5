/*
 * bpe_count.c -- pre-token ("word") frequencies for BPE training.
 *
 * An open-addressing table of (hash, count, bytes) with the bytes in one arena.  The
 * table is bounded: when it holds more than max_words words, those with the smallest
 * counts are dropped (a rare word contributes little to any pair count), and the
 * table is rebuilt.  Pruning depends only on the order of the input, so a given input
 * always gives the same counts.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "train/bpe_train.h"
#include "train/bpe_train_internal.h"

static int table_alloc(bpe_counter *c, uint64_t n_slots)
{
    c->slots = calloc((size_t)n_slots, sizeof *c->slots);
    if (!c->slots)
        return -1;
    c->mask = n_slots - 1;
    return 0;
}

bpe_counter *bpe_counter_new(tok_pre pre, uint64_t max_words, uint32_t max_word_len)
{
    bpe_counter *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->pre = pre;
    c->max_words = max_words ? max_words : BPE_DEFAULT_MAX_WORDS;
    if (c->max_words < 16)
        c->max_words = 16;
    c->max_word_len = max_word_len ? max_word_len : BPE_DEFAULT_MAX_WORD_LEN;
    if (table_alloc(c, 1024)) {
        free(c);
        return NULL;
    }
    return c;
}

void bpe_counter_free(bpe_counter *c)
{
    if (!c)
        return;
    free(c->slots);
    free(c->arena);
    free(c);
}

/* The slot holding word s, or the empty slot where it would go. */
static uint64_t slot_find(const bpe_counter *c, uint64_t h, const uint8_t *s, uint32_t len)
{
    uint64_t i = h & c->mask;
    for (;; i = (i + 1) & c->mask) {
        const bpe_count_slot *e = &c->slots[i];
        if (!e->count ||
            (e->hash == h && e->len == len && memcmp(c->arena + e->off, s, len) == 0))
            return i;
    }
}

static int arena_put(bpe_counter *c, const uint8_t *s, uint32_t len, uint64_t *off)
{
    if (c->arena_len + len > c->arena_cap) {
        uint64_t cap = c->arena_cap ? c->arena_cap * 2 : 1 << 20;
        while (cap < c->arena_len + len)
            cap *= 2;
        uint8_t *a = realloc(c->arena, (size_t)cap);
        if (!a)
            return -1;
        c->arena = a;
        c->arena_cap = cap;
    }
    memcpy(c->arena + c->arena_len, s, len);
    *off = c->arena_len;
    c->arena_len += len;
    return 0;
}

/* Move the kept words (count > floor) into a fresh table and a compacted arena. */
static int rebuild(bpe_counter *c, uint64_t n_slots, uint64_t floor)
{
    bpe_count_slot *old = c->slots;
    uint64_t old_n = c->mask + 1;
    uint8_t *old_arena = c->arena;
    uint64_t keep_bytes = 0;
    for (uint64_t i = 0; i < old_n; i++)
        if (old[i].count > floor)
            keep_bytes += old[i].len;
    uint8_t *arena = malloc((size_t)(keep_bytes ? keep_bytes : 1));
    if (!arena || table_alloc(c, n_slots)) {
        free(arena);
        c->slots = old;
        return -1;
    }
    uint64_t used = 0, n = 0;
    for (uint64_t i = 0; i < old_n; i++) {
        bpe_count_slot e = old[i];
        if (!e.count)
            continue;
        if (e.count <= floor) {
            c->pruned++;
            continue;
        }
        memcpy(arena + used, old_arena + e.off, e.len);
        e.off = used;
        used += e.len;
        uint64_t j = e.hash & c->mask;
        while (c->slots[j].count)
            j = (j + 1) & c->mask;
        c->slots[j] = e;
        n++;
    }
    free(old);
    free(old_arena);
    c->arena = arena;
    c->arena_cap = keep_bytes ? keep_bytes : 1;
    c->arena_len = used;
    c->n = n;
    return 0;
}

/* Drop the rarest words: the smallest count floor that brings the table to 3/4 of
 * max_words (counts above 64 are never pruned: then the table just stays larger). */
static int prune(bpe_counter *c)
{
    uint64_t hist[65] = {0};
    for (uint64_t i = 0; i <= c->mask; i++) {
        uint64_t n = c->slots[i].count;
        if (n)
            hist[n < 64 ? n : 64]++;
    }
    uint64_t left = c->n, floor = 0, goal = c->max_words / 4 * 3;
    while (floor < 63 && left > goal) {
        floor++;
        left -= hist[floor];
    }
    return rebuild(c, c->mask + 1, floor);
}

static int count_word(bpe_counter *c, const uint8_t *s, uint32_t len, uint64_t add)
{
    uint64_t h = XXH3_64bits(s, len);
    bpe_count_slot *e = &c->slots[slot_find(c, h, s, len)];
    if (e->count) {
        e->count += add;
        return 0;
    }
    if (arena_put(c, s, len, &e->off))
        return -1;
    e->hash = h;
    e->len = len;
    e->count = add;
    c->n++;
    if (c->n * 2 > c->mask + 1 && rebuild(c, (c->mask + 1) * 2, 0))
        return -1;
    if (c->n > c->max_words && prune(c))
        return -1;
    return 0;
}

int bpe_counter_add(bpe_counter *c, const uint8_t *text, size_t n)
{
    tok_pretok it;
    size_t start, len;
    tok_pretok_init(&it, c->pre, text, n);
    c->bytes += n;
    while (tok_pretok_next(&it, &start, &len)) {
        c->words++;
        if (len > c->max_word_len) {
            c->long_words++;
            continue;
        }
        if (count_word(c, text + start, (uint32_t)len, 1))
            return -1;
    }
    return 0;
}

int bpe_counter_merge(bpe_counter *dst, const bpe_counter *src)
{
    for (uint64_t i = 0; i <= src->mask; i++) {
        const bpe_count_slot *e = &src->slots[i];
        if (e->count && count_word(dst, src->arena + e->off, e->len, e->count))
            return -1;
    }
    dst->bytes += src->bytes;
    dst->words += src->words;
    dst->long_words += src->long_words;
    dst->pruned += src->pruned;
    return 0;
}

void bpe_counter_get_stats(const bpe_counter *c, bpe_counter_stats *st)
{
    st->bytes = c->bytes;
    st->words = c->words;
    st->distinct = c->n;
    st->long_words = c->long_words;
    st->pruned = c->pruned;
}

size_t bpe_doc_end(const uint8_t *s, size_t n, size_t pos, size_t *next)
{
    static const uint8_t sep[3] = {'\n', 0x1E, '\n'};
    if (pos + 2 <= n && s[pos] == 0x1E && s[pos + 1] == '\n') {
        /* a separator line right at pos: an empty document */
        *next = pos + 2;
        return pos;
    }
    const uint8_t *k = pos < n ? memmem(s + pos, n - pos, sep, sizeof sep) : NULL;
    if (!k) {
        *next = n;
        return n;
    }
    size_t end = (size_t)(k - s) + 1;
    *next = end + 2;
    return end;
}
