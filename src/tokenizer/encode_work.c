/*
 * encode_work.c -- the merge loop both tokenizer kinds share, and its scratch state.
 *
 * A list of symbols (spans of the input, each with the id of the token or character
 * spelling it) is merged pair by pair: a heap holds every adjacent pair the merge table
 * knows, best first; popping a pair that is still current merges it and queues the new
 * neighbours.  O(n log n) per list, n the number of symbols.
 */
#include <stdlib.h>

#include "tokenizer/tok_internal.h"

void tok_work_free(tok_work *w)
{
    free(w->syms);
    free(w->heap);
    w->syms = NULL;
    w->heap = NULL;
    w->syms_cap = w->heap_cap = w->heap_len = 0;
}

int tok_work_reserve(tok_work *w, size_t n_syms)
{
    if (n_syms <= w->syms_cap)
        return 0;
    size_t cap = w->syms_cap ? w->syms_cap : 64;
    while (cap < n_syms)
        cap *= 2;
    tok_sym *s = realloc(w->syms, cap * sizeof *s);
    if (!s)
        return -1;
    w->syms = s;
    w->syms_cap = cap;
    return 0;
}

static int heap_push(tok_work *w, const tok_cand *c)
{
    if (w->heap_len == w->heap_cap) {
        size_t cap = w->heap_cap ? 2 * w->heap_cap : 64;
        tok_cand *h = realloc(w->heap, cap * sizeof *h);
        if (!h)
            return -1;
        w->heap = h;
        w->heap_cap = cap;
    }
    tok_cand *h = w->heap;
    size_t i = w->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h[parent].key <= c->key)
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = *c;
    return 0;
}

static void heap_pop(tok_work *w, tok_cand *top)
{
    tok_cand *h = w->heap;
    *top = h[0];
    tok_cand last = h[--w->heap_len];
    size_t n = w->heap_len, i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && h[child + 1].key < h[child].key)
            child++;
        if (last.key <= h[child].key)
            break;
        h[i] = h[child];
        i = child;
    }
    if (n > 0)
        h[i] = last;
}

static int queue_pair(const tokenizer *t, tok_work *w, int32_t left, int32_t right)
{
    const tok_sym *l = &w->syms[left], *r = &w->syms[right];
    if (l->id < 0 || r->id < 0)
        return 0;
    const tok_merge *m = tok_pairmap_find(&t->merges, (uint32_t)l->id, (uint32_t)r->id);
    if (!m)
        return 0;
    tok_cand c = {
        .key = ((uint64_t)m->prio << 32) | (uint32_t)left,
        .left = left, .right = right, .size = l->len + r->len, .result = m->result,
    };
    return heap_push(w, &c);
}

int tok_merge_symbols(const tokenizer *t, tok_work *w, int32_t n)
{
    tok_sym *sy = w->syms;
    w->heap_len = 0;
    for (int32_t i = 1; i < n; i++) {
        if (queue_pair(t, w, i - 1, i))
            return -1;
    }
    while (w->heap_len) {
        tok_cand c;
        heap_pop(w, &c);
        tok_sym *l = &sy[c.left], *r = &sy[c.right];
        /* A symbol only grows, and only by absorbing its right neighbour, so equal
         * lengths and adjacency mean the same two spans, hence the same two ids. */
        if (!l->len || !r->len || l->next != c.right || l->len + r->len != c.size)
            continue;
        l->len += r->len;
        l->id = c.result;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            sy[r->next].prev = c.left;
        if ((l->prev >= 0 && queue_pair(t, w, l->prev, c.left)) ||
            (l->next >= 0 && queue_pair(t, w, c.left, l->next)))
            return -1;
    }
    return 0;
}
