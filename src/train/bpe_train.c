/*
 * bpe_train.c -- learning BPE merges from word counts.
 *
 * The standard fast algorithm: every word is an array of token ids with a count; a
 * pair table holds, for each adjacent (left, right) pair, its total count over all
 * words and the list of words it occurs in; a max-heap orders the pairs.
 *
 * Merging pair (a, b) into t only touches the words in (a, b)'s list: each one has its
 * pairs' counts subtracted, is rewritten (left to right, as the encoder does), and has
 * its new pairs' counts added.  Counts of pairs without t can then only go down, so
 * their heap entries are upper bounds, refreshed lazily when they reach the top; pairs
 * with t are new (or, when t's bytes were already a token, grown) and pushed afresh.
 * The top entry whose stored count equals the pair's count is therefore the true
 * maximum.  Ties go to the smallest (left bytes, right bytes), so the result depends
 * only on the counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "train/bpe_train.h"
#include "train/bpe_train_internal.h"
#include "tokenizer/tok_internal.h"

typedef struct pair {
    uint32_t a, b;
    uint64_t count;
    uint32_t *words;            /* words where the pair occurs (or occurred), no repeats
                                 * in a row */
    uint32_t n_words, cap_words;
    uint32_t touched;           /* last merge step that pushed it */
} pair;

typedef struct heap_ent {
    uint64_t count;
    uint32_t pair;
} heap_ent;

typedef struct merge_state {
    /* tokens: their bytes, and bytes -> id */
    uint8_t *tok_bytes;
    uint64_t tok_len_used, tok_cap;
    uint64_t *tok_off;          /* n_tokens + 1 */
    uint32_t n_tokens, max_tokens;
    int32_t *tok_slots;         /* open addressing over token bytes, -1 empty */
    uint64_t tok_mask;
    /* words */
    uint32_t n_words;
    uint32_t *syms;             /* all words' symbols */
    uint64_t *w_off;
    uint32_t *w_len;
    uint64_t *w_count;
    uint32_t *w_step;           /* last merge step that rewrote the word */
    /* pairs */
    pair *pairs;
    uint32_t n_pairs, cap_pairs;
    uint32_t *pair_slots;       /* index + 1, 0 empty */
    uint64_t pair_mask;
    heap_ent *heap;
    size_t heap_len, heap_cap;
    uint32_t *changed;          /* pairs to push after the current merge */
    size_t n_changed, cap_changed;
    /* merges: (left, right) per rank */
    uint32_t *m_left, *m_right;
    uint32_t n_merges, cap_merges;
} merge_state;

/* ---------------------------------------------------------------- tokens */

static const uint8_t *tok_bytes_of(const merge_state *tr, uint32_t id, size_t *len)
{
    *len = (size_t)(tr->tok_off[id + 1] - tr->tok_off[id]);
    return tr->tok_bytes + tr->tok_off[id];
}

static uint64_t tok_slot(const merge_state *tr, const uint8_t *s, size_t len)
{
    uint64_t i = XXH3_64bits(s, len) & tr->tok_mask;
    for (;; i = (i + 1) & tr->tok_mask) {
        int32_t id = tr->tok_slots[i];
        size_t l;
        if (id < 0)
            return i;
        const uint8_t *p = tok_bytes_of(tr, (uint32_t)id, &l);
        if (l == len && memcmp(p, s, len) == 0)
            return i;
    }
}

/* The token spelling left + right, added if new.  UINT32_MAX on out-of-memory. */
static uint32_t tok_concat(merge_state *tr, uint32_t left, uint32_t right)
{
    size_t la, lb;
    const uint8_t *pa = tok_bytes_of(tr, left, &la);
    const uint8_t *pb = tok_bytes_of(tr, right, &lb);
    if (tr->tok_len_used + la + lb > tr->tok_cap) {
        uint64_t cap = tr->tok_cap * 2 + la + lb;
        uint8_t *nb = realloc(tr->tok_bytes, (size_t)cap);
        if (!nb)
            return UINT32_MAX;
        tr->tok_bytes = nb;
        tr->tok_cap = cap;
        pa = tok_bytes_of(tr, left, &la);
        pb = tok_bytes_of(tr, right, &lb);
    }
    uint8_t *dst = tr->tok_bytes + tr->tok_len_used;
    memcpy(dst, pa, la);
    memcpy(dst + la, pb, lb);
    uint64_t slot = tok_slot(tr, dst, la + lb);
    if (tr->tok_slots[slot] >= 0)
        return (uint32_t)tr->tok_slots[slot];
    uint32_t id = tr->n_tokens++;
    tr->tok_len_used += la + lb;
    tr->tok_off[id + 1] = tr->tok_len_used;
    tr->tok_slots[slot] = (int32_t)id;
    return id;
}

/* ---------------------------------------------------------------- pairs */

static int cmp_bytes(const uint8_t *x, size_t lx, const uint8_t *y, size_t ly)
{
    int c = memcmp(x, y, lx < ly ? lx : ly);
    if (c)
        return c;
    return (lx > ly) - (lx < ly);
}

/* Does heap entry x come before y: larger count, then smaller left bytes, then
 * smaller right bytes. */
static int ent_before(const merge_state *tr, const heap_ent *x, const heap_ent *y)
{
    if (x->count != y->count)
        return x->count > y->count;
    const pair *p = &tr->pairs[x->pair], *q = &tr->pairs[y->pair];
    size_t l1, l2;
    const uint8_t *s1 = tok_bytes_of(tr, p->a, &l1), *s2 = tok_bytes_of(tr, q->a, &l2);
    int c = cmp_bytes(s1, l1, s2, l2);
    if (c)
        return c < 0;
    s1 = tok_bytes_of(tr, p->b, &l1);
    s2 = tok_bytes_of(tr, q->b, &l2);
    return cmp_bytes(s1, l1, s2, l2) < 0;
}

static void heap_down(merge_state *tr, size_t i)
{
    heap_ent *h = tr->heap;
    size_t n = tr->heap_len;
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        if (l < n && ent_before(tr, &h[l], &h[best]))
            best = l;
        if (l + 1 < n && ent_before(tr, &h[l + 1], &h[best]))
            best = l + 1;
        if (best == i)
            return;
        heap_ent t = h[i];
        h[i] = h[best];
        h[best] = t;
        i = best;
    }
}

static int heap_push(merge_state *tr, uint32_t p)
{
    if (tr->heap_len == tr->heap_cap) {
        size_t cap = tr->heap_cap ? tr->heap_cap * 2 : 4096;
        heap_ent *nh = realloc(tr->heap, cap * sizeof *nh);
        if (!nh)
            return -1;
        tr->heap = nh;
        tr->heap_cap = cap;
    }
    size_t i = tr->heap_len++;
    tr->heap[i] = (heap_ent){tr->pairs[p].count, p};
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!ent_before(tr, &tr->heap[i], &tr->heap[up]))
            break;
        heap_ent t = tr->heap[i];
        tr->heap[i] = tr->heap[up];
        tr->heap[up] = t;
        i = up;
    }
    return 0;
}

static heap_ent heap_pop(merge_state *tr)
{
    heap_ent top = tr->heap[0];
    tr->heap[0] = tr->heap[--tr->heap_len];
    heap_down(tr, 0);
    return top;
}

static uint64_t pair_hash(uint32_t a, uint32_t b)
{
    uint64_t k = ((uint64_t)a << 32 | b) * 0x9E3779B97F4A7C15ULL;
    return k ^ (k >> 29);
}

static int pairs_grow_table(merge_state *tr)
{
    uint64_t n = (tr->pair_mask + 1) * 2;
    uint32_t *slots = calloc((size_t)n, sizeof *slots);
    if (!slots)
        return -1;
    for (uint32_t p = 0; p < tr->n_pairs; p++) {
        uint64_t i = pair_hash(tr->pairs[p].a, tr->pairs[p].b) & (n - 1);
        while (slots[i])
            i = (i + 1) & (n - 1);
        slots[i] = p + 1;
    }
    free(tr->pair_slots);
    tr->pair_slots = slots;
    tr->pair_mask = n - 1;
    return 0;
}

/* Index of pair (a, b), created with count 0 if new; UINT32_MAX on out-of-memory. */
static uint32_t pair_get(merge_state *tr, uint32_t a, uint32_t b)
{
    uint64_t i = pair_hash(a, b) & tr->pair_mask;
    for (;; i = (i + 1) & tr->pair_mask) {
        uint32_t s = tr->pair_slots[i];
        if (!s)
            break;
        if (tr->pairs[s - 1].a == a && tr->pairs[s - 1].b == b)
            return s - 1;
    }
    if (tr->n_pairs == tr->cap_pairs) {
        uint32_t cap = tr->cap_pairs ? tr->cap_pairs * 2 : 65536;
        pair *np = realloc(tr->pairs, (size_t)cap * sizeof *np);
        if (!np)
            return UINT32_MAX;
        tr->pairs = np;
        tr->cap_pairs = cap;
    }
    uint32_t p = tr->n_pairs++;
    tr->pairs[p] = (pair){a, b, 0, NULL, 0, 0, UINT32_MAX};
    tr->pair_slots[i] = p + 1;
    if ((uint64_t)tr->n_pairs * 2 > tr->pair_mask + 1 && pairs_grow_table(tr))
        return UINT32_MAX;
    return p;
}

static int pair_note_word(pair *p, uint32_t w)
{
    if (p->n_words && p->words[p->n_words - 1] == w)
        return 0;
    if (p->n_words == p->cap_words) {
        uint32_t cap = p->cap_words ? p->cap_words * 2 : 4;
        uint32_t *nw = realloc(p->words, (size_t)cap * sizeof *nw);
        if (!nw)
            return -1;
        p->words = nw;
        p->cap_words = cap;
    }
    p->words[p->n_words++] = w;
    return 0;
}

static int note_changed(merge_state *tr, uint32_t p, uint32_t step)
{
    if (tr->pairs[p].touched == step)
        return 0;
    tr->pairs[p].touched = step;
    if (tr->n_changed == tr->cap_changed) {
        size_t cap = tr->cap_changed ? tr->cap_changed * 2 : 1024;
        uint32_t *nc = realloc(tr->changed, cap * sizeof *nc);
        if (!nc)
            return -1;
        tr->changed = nc;
        tr->cap_changed = cap;
    }
    tr->changed[tr->n_changed++] = p;
    return 0;
}

/* ---------------------------------------------------------------- setup */

static void merge_state_free(merge_state *tr)
{
    free(tr->tok_bytes);
    free(tr->tok_off);
    free(tr->tok_slots);
    free(tr->syms);
    free(tr->w_off);
    free(tr->w_len);
    free(tr->w_count);
    free(tr->w_step);
    for (uint32_t p = 0; p < tr->n_pairs; p++)
        free(tr->pairs[p].words);
    free(tr->pairs);
    free(tr->pair_slots);
    free(tr->heap);
    free(tr->changed);
    free(tr->m_left);
    free(tr->m_right);
}

static int merge_state_init(merge_state *tr, const bpe_counter *c, uint32_t max_tokens)
{
    memset(tr, 0, sizeof *tr);
    tr->max_tokens = max_tokens;
    uint64_t tok_slots = 1024;
    while (tok_slots < (uint64_t)max_tokens * 2)
        tok_slots *= 2;
    tr->tok_cap = 4096;
    tr->tok_bytes = malloc((size_t)tr->tok_cap);
    tr->tok_off = calloc((size_t)max_tokens + 1, sizeof *tr->tok_off);
    tr->tok_slots = malloc((size_t)tok_slots * sizeof *tr->tok_slots);
    tr->cap_merges = max_tokens;
    tr->m_left = malloc((size_t)max_tokens * sizeof *tr->m_left);
    tr->m_right = malloc((size_t)max_tokens * sizeof *tr->m_right);
    if (c->n > UINT32_MAX - 1)
        return -1;
    tr->n_words = (uint32_t)c->n;
    uint64_t n_syms = 0;
    for (uint64_t i = 0; i <= c->mask; i++)
        if (c->slots[i].count)
            n_syms += c->slots[i].len;
    size_t nw = tr->n_words ? tr->n_words : 1;
    tr->syms = malloc((size_t)(n_syms ? n_syms : 1) * sizeof *tr->syms);
    tr->w_off = malloc(nw * sizeof *tr->w_off);
    tr->w_len = malloc(nw * sizeof *tr->w_len);
    tr->w_count = malloc(nw * sizeof *tr->w_count);
    tr->w_step = malloc(nw * sizeof *tr->w_step);
    tr->pair_slots = calloc(1 << 16, sizeof *tr->pair_slots);
    tr->pair_mask = (1 << 16) - 1;
    if (!tr->tok_bytes || !tr->tok_off || !tr->tok_slots || !tr->m_left || !tr->m_right ||
        !tr->syms || !tr->w_off || !tr->w_len || !tr->w_count || !tr->w_step ||
        !tr->pair_slots)
        return -1;
    tr->tok_mask = tok_slots - 1;
    memset(tr->tok_slots, 0xFF, (size_t)tok_slots * sizeof *tr->tok_slots);
    for (uint32_t b = 0; b < 256; b++) {
        tr->tok_bytes[b] = (uint8_t)b;
        tr->tok_off[b + 1] = b + 1;
        tr->tok_slots[tok_slot(tr, tr->tok_bytes + b, 1)] = (int32_t)b;
    }
    tr->n_tokens = 256;
    tr->tok_len_used = 256;

    uint64_t used = 0;
    uint32_t w = 0;
    for (uint64_t i = 0; i <= c->mask; i++) {
        const bpe_count_slot *e = &c->slots[i];
        if (!e->count)
            continue;
        tr->w_off[w] = used;
        tr->w_len[w] = e->len;
        tr->w_count[w] = e->count;
        tr->w_step[w] = UINT32_MAX;
        for (uint32_t k = 0; k < e->len; k++)
            tr->syms[used + k] = c->arena[e->off + k];
        for (uint32_t k = 0; k + 1 < e->len; k++) {
            uint32_t p = pair_get(tr, tr->syms[used + k], tr->syms[used + k + 1]);
            if (p == UINT32_MAX || pair_note_word(&tr->pairs[p], w))
                return -1;
            tr->pairs[p].count += e->count;
        }
        used += e->len;
        w++;
    }
    for (uint32_t p = 0; p < tr->n_pairs; p++)
        if (heap_push(tr, p))
            return -1;
    return 0;
}

/* ---------------------------------------------------------------- merging */

/* Add sign * count to every adjacent pair of word w; when adding, note w in the
 * lists of the pairs that contain t and queue those pairs for a push. */
static int word_pairs(merge_state *tr, uint32_t w, int add, uint32_t t, uint32_t step)
{
    const uint32_t *s = tr->syms + tr->w_off[w];
    uint64_t cnt = tr->w_count[w];
    for (uint32_t k = 0; k + 1 < tr->w_len[w]; k++) {
        uint32_t p = pair_get(tr, s[k], s[k + 1]);
        if (p == UINT32_MAX)
            return -1;
        if (!add) {
            tr->pairs[p].count -= cnt;
            continue;
        }
        tr->pairs[p].count += cnt;
        if ((s[k] == t || s[k + 1] == t) &&
            (pair_note_word(&tr->pairs[p], w) || note_changed(tr, p, step)))
            return -1;
    }
    return 0;
}

static void word_merge(merge_state *tr, uint32_t w, uint32_t a, uint32_t b, uint32_t t)
{
    uint32_t *s = tr->syms + tr->w_off[w];
    uint32_t n = tr->w_len[w], k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            s[k++] = t;
            i++;
        } else {
            s[k++] = s[i];
        }
    }
    tr->w_len[w] = k;
}

static int word_has(const merge_state *tr, uint32_t w, uint32_t a, uint32_t b)
{
    const uint32_t *s = tr->syms + tr->w_off[w];
    for (uint32_t k = 0; k + 1 < tr->w_len[w]; k++)
        if (s[k] == a && s[k + 1] == b)
            return 1;
    return 0;
}

static int merge_pair(merge_state *tr, uint32_t p, uint32_t step)
{
    uint32_t a = tr->pairs[p].a, b = tr->pairs[p].b;
    uint32_t t = tok_concat(tr, a, b);
    if (t == UINT32_MAX)
        return -1;
    if (tr->n_merges == tr->cap_merges) {   /* merges that reuse a token's bytes */
        uint32_t cap = tr->cap_merges * 2;
        uint32_t *l = realloc(tr->m_left, (size_t)cap * sizeof *l);
        if (l)
            tr->m_left = l;
        uint32_t *r = realloc(tr->m_right, (size_t)cap * sizeof *r);
        if (r)
            tr->m_right = r;
        if (!l || !r)
            return -1;
        tr->cap_merges = cap;
    }
    tr->m_left[tr->n_merges] = a;
    tr->m_right[tr->n_merges] = b;
    tr->n_merges++;
    /* The list is taken over: every word in it is rewritten now, and the pair (a, b)
     * can only reappear if t's bytes were already a token (then it is re-noted). */
    uint32_t *words = tr->pairs[p].words;
    uint32_t n_words = tr->pairs[p].n_words;
    tr->pairs[p].words = NULL;
    tr->pairs[p].n_words = tr->pairs[p].cap_words = 0;
    tr->n_changed = 0;
    int rc = 0;
    for (uint32_t i = 0; i < n_words && !rc; i++) {
        uint32_t w = words[i];
        if (tr->w_step[w] == step || !word_has(tr, w, a, b))
            continue;
        tr->w_step[w] = step;
        if (word_pairs(tr, w, 0, t, step)) {
            rc = -1;
            break;
        }
        word_merge(tr, w, a, b, t);
        rc = word_pairs(tr, w, 1, t, step);
    }
    free(words);
    for (size_t i = 0; i < tr->n_changed && !rc; i++)
        if (tr->pairs[tr->changed[i]].count)
            rc = heap_push(tr, tr->changed[i]);
    return rc;
}

/* GPT-2 spelling of bytes as a NUL-terminated string. */
static char *spell(const uint8_t *s, size_t n)
{
    char *out = malloc(2 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = tok_gpt2_byte_to_cp(s[i]);
        if (cp < 0x80) {
            *o++ = (char)cp;
        } else {
            *o++ = (char)(0xC0 | (cp >> 6));
            *o++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    *o = 0;
    return out;
}

static int export_vocab(const merge_state *tr, tok_pre pre, bpe_vocab *v)
{
    memset(v, 0, sizeof *v);
    v->pre = pre;
    v->n_tokens = tr->n_tokens + 1;
    v->n_merges = tr->n_merges;
    v->eot = (int32_t)tr->n_tokens;
    v->tokens = calloc(v->n_tokens, sizeof *v->tokens);
    v->types = malloc(v->n_tokens * sizeof *v->types);
    v->merges = calloc(v->n_merges ? v->n_merges : 1, sizeof *v->merges);
    if (!v->tokens || !v->types || !v->merges)
        return -1;
    for (uint32_t i = 0; i < tr->n_tokens; i++) {
        size_t len;
        const uint8_t *s = tok_bytes_of(tr, i, &len);
        if (!(v->tokens[i] = spell(s, len)))
            return -1;
        v->types[i] = TOK_TYPE_NORMAL;
    }
    if (!(v->tokens[v->eot] = strdup(BPE_EOT_TEXT)))
        return -1;
    v->types[v->eot] = TOK_TYPE_CONTROL;
    for (uint32_t r = 0; r < tr->n_merges; r++) {
        size_t la, lb;
        const uint8_t *sa = tok_bytes_of(tr, tr->m_left[r], &la);
        const uint8_t *sb = tok_bytes_of(tr, tr->m_right[r], &lb);
        char *l = spell(sa, la), *rt = spell(sb, lb);
        char *m = l && rt ? malloc(strlen(l) + strlen(rt) + 2) : NULL;
        if (m)
            sprintf(m, "%s %s", l, rt);
        free(l);
        free(rt);
        if (!(v->merges[r] = m))
            return -1;
    }
    return 0;
}

int bpe_train(const bpe_counter *c, const bpe_train_opts *opts, bpe_vocab *out,
              char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (opts->vocab_size < 257) {
        snprintf(err, errlen, "bpe: vocabulary size %u is below 257 (256 bytes + "
                 "<|endoftext|>)", opts->vocab_size);
        return -1;
    }
    uint64_t min_count = opts->min_count ? opts->min_count : 2;
    uint32_t max_tokens = opts->vocab_size - 1;     /* the last id is <|endoftext|> */
    merge_state tr;
    int rc = merge_state_init(&tr, c, max_tokens);
    uint32_t step = 0;
    while (!rc && tr.n_tokens < max_tokens && tr.heap_len) {
        heap_ent top = heap_pop(&tr);
        pair *p = &tr.pairs[top.pair];
        if (top.count != p->count) {
            if (p->count)
                rc = heap_push(&tr, top.pair);
            continue;
        }
        if (top.count < min_count)
            break;
        rc = merge_pair(&tr, top.pair, step++);
        if (opts->verbose && tr.n_merges % 1000 == 0)
            fprintf(stderr, "bpe: %u merges, %u tokens, last count %llu\n", tr.n_merges,
                    tr.n_tokens, (unsigned long long)top.count);
    }
    if (!rc)
        rc = export_vocab(&tr, c->pre, out);
    merge_state_free(&tr);
    if (rc) {
        bpe_vocab_free(out);
        snprintf(err, errlen, "bpe: out of memory while training");
    }
    return rc;
}

void bpe_vocab_free(bpe_vocab *v)
{
    if (v->tokens)
        for (uint32_t i = 0; i < v->n_tokens; i++)
            free(v->tokens[i]);
    if (v->merges)
        for (uint32_t r = 0; r < v->n_merges; r++)
            free(v->merges[r]);
    free(v->tokens);
    free(v->types);
    free(v->merges);
    memset(v, 0, sizeof *v);
}

void bpe_vocab_to_gguf(const bpe_vocab *v, gguf_writer *w)
{
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", tok_pre_name(v->pre));
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens,
                            v->n_tokens);
    gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", v->types, v->n_tokens);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges,
                            v->n_merges);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->eot);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eot);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 0);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", 0);
}
