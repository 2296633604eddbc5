/*
 * lm_mix.c -- a token as binary decisions over the byte-sorted vocabulary, and the
 * mixed coding of those decisions (lm_mix.h; doc/format.md 6.5).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lm_mix.h"

/* ---- The vocabulary order ---- */

/* Piece x before piece y: by bytes, a prefix first; equal bytes by token id. */
static int before(const uint8_t *const *piece, const uint32_t *len, uint32_t x, uint32_t y)
{
    uint32_t lx = len[x], ly = len[y];
    int c = memcmp(piece[x], piece[y], lx < ly ? lx : ly);
    if (c) return c < 0;
    if (lx != ly) return lx < ly;
    return x < y;
}

/* Merge sort of idx[0..n) (tmp: n scratch): qsort's comparison could not see the
 * pieces without a global, and two contexts may build orders at once. */
static void sort_ids(uint32_t *idx, uint32_t *tmp, uint32_t n, const uint8_t *const *piece,
                     const uint32_t *len)
{
    for (uint32_t w = 1; w < n; w *= 2) {
        for (uint32_t a = 0; a < n; a += 2 * w) {
            uint32_t m = a + w < n ? a + w : n, b = a + 2 * w < n ? a + 2 * w : n;
            uint32_t i = a, j = m, k = a;
            while (i < m && j < b) tmp[k++] = before(piece, len, idx[j], idx[i]) ? idx[j++] : idx[i++];
            while (i < m) tmp[k++] = idx[i++];
            while (j < b) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

vocab_order *vocab_order_from_pieces(const uint8_t *const *pieces, const uint32_t *lens,
                                     uint32_t nv)
{
    vocab_order *v = calloc(1, sizeof *v);
    uint32_t *idx = malloc((size_t)(nv ? nv : 1) * sizeof *idx);
    uint32_t *tmp = malloc((size_t)(nv ? nv : 1) * sizeof *tmp);
    if (v) {
        v->id = malloc((size_t)(nv ? nv : 1) * sizeof *v->id);
        v->rank = malloc((size_t)(nv ? nv : 1) * sizeof *v->rank);
        v->piece = malloc((size_t)(nv ? nv : 1) * sizeof *v->piece);
        v->len = malloc((size_t)(nv ? nv : 1) * sizeof *v->len);
    }
    if (!v || !idx || !tmp || !v->id || !v->rank || !v->piece || !v->len) {
        free(idx); free(tmp);
        vocab_order_free(v);
        return NULL;
    }
    uint32_t n = 0;
    for (uint32_t id = 0; id < nv; id++) {
        v->rank[id] = UINT32_MAX;
        if (pieces[id] && lens[id] > 0) idx[n++] = id;
    }
    sort_ids(idx, tmp, n, pieces, lens);
    v->n = n;
    for (uint32_t r = 0; r < n; r++) {
        v->id[r] = (int32_t)idx[r];
        v->rank[idx[r]] = r;
        v->piece[r] = pieces[idx[r]];
        v->len[r] = lens[idx[r]];
    }
    free(idx); free(tmp);
    return v;
}

vocab_order *vocab_order_new(const tokenizer *t)
{
    uint32_t nv = tok_n_vocab(t);
    const uint8_t **piece = malloc((size_t)(nv ? nv : 1) * sizeof *piece);
    uint32_t *len = malloc((size_t)(nv ? nv : 1) * sizeof *len);
    vocab_order *v = NULL;
    if (piece && len) {
        for (uint32_t id = 0; id < nv; id++) {
            size_t l = 0;
            piece[id] = tok_piece(t, (int32_t)id, &l);
            len[id] = piece[id] ? (uint32_t)l : 0;
        }
        v = vocab_order_from_pieces(piece, len, nv);
    }
    free(piece); free(len);
    return v;
}

void vocab_order_free(vocab_order *v)
{
    if (!v) return;
    free(v->id); free(v->rank); free(v->piece); free(v->len);
    free(v);
}

/* ---- The walk ---- */

/* P(rank in [a, b) | rank in [lo, hi)) in 16 bits, clamped to 1..65535. */
static uint32_t p_ratio(const uint32_t *cum, uint32_t a, uint32_t b, uint32_t lo, uint32_t hi)
{
    if (!cum) return 0;
    uint64_t num = cum[b] - cum[a], den = cum[hi] - cum[lo];
    uint64_t p = (num << 16) / den;
    return p < 1 ? 1 : p > 65535 ? 65535 : (uint32_t)p;
}

/* The first rank of [lo, hi) whose byte k is >= x (the range shares bytes 0..k-1 and
 * every piece in it is longer than k). */
static uint32_t first_at_least(const vocab_order *v, uint32_t lo, uint32_t hi, uint32_t k,
                               uint32_t x)
{
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v->piece[mid][k] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

long vocab_walk(const vocab_order *v, const uint32_t *cum, long target, walk_fn fn,
                void *user)
{
    uint32_t lo = 0, hi = v->n;
    const uint8_t *tp = target >= 0 ? v->piece[target] : NULL;
    uint32_t tl = target >= 0 ? v->len[target] : 0;
    for (uint32_t k = 0;; k++) {
        if (k > 0 && v->len[lo] == k) {
            /* [lo, e): the range's tokens that end here, all with the same bytes. */
            uint32_t e = lo + 1;
            while (e < hi && v->len[e] == k) e++;
            int end = 1;
            if (e < hi) {
                walk_step st = { WALK_END, -1, target >= 0 ? tl == k : -1,
                                 p_ratio(cum, lo, e, lo, hi), 0 };
                if ((end = fn(user, &st)) < 0) return -1;
            }
            if (end) {
                for (uint32_t i = lo; i + 1 < e; i++) {
                    walk_step st = { WALK_DUP, -1, target >= 0 ? (long)i == target : -1,
                                     p_ratio(cum, i, i + 1, i, e), i };
                    int r = fn(user, &st);
                    if (r < 0) return -1;
                    if (r) return i;
                }
                return e - 1;
            }
            lo = e;
        }
        uint32_t val = 0;                        /* the bits of byte k so far */
        for (int j = 7; j >= 0; j--) {
            uint32_t mid = first_at_least(v, lo, hi, k, (val << (j + 1)) | (1u << j));
            int forced = mid == lo ? 1 : mid == hi ? 0 : -1;
            walk_step st = { WALK_BIT, forced, target >= 0 ? (tp[k] >> j) & 1 : -1,
                             forced < 0 ? p_ratio(cum, mid, hi, lo, hi) : 0, 0 };
            int bit = fn(user, &st);
            if (bit < 0) return -1;
            if (forced >= 0) bit = forced;
            if (bit) lo = mid;
            else hi = mid;
            val = (val << 1) | (uint32_t)bit;
        }
    }
}

void vocab_cumfreq(const vocab_order *v, quant_isa isa, const float *row, float *sorted,
                   uint32_t *cum)
{
    for (uint32_t r = 0; r < v->n; r++) sorted[r] = row[v->id[r]];
    quant_cumfreq_isa(isa, sorted, v->n, cum);
}

/* ---- Coding the decisions ---- */

void lm_mix_feed_forced(cm_state *cm, cm_lane *l, const uint8_t *bytes, size_t n)
{
    cm_token_begin(l);
    for (size_t i = 0; i < n; i++)
        for (int j = 7; j >= 0; j--) cm_bit_forced(cm, l, (bytes[i] >> j) & 1);
}

static int code_bit(mix_coder *c, uint32_t p, int outcome)
{
    if (c->enc) {
        rc_enc_bit(c->enc, p, outcome);
        return outcome;
    }
    return rc_dec_bit(c->dec, p);
}

/* One decision, before any trace. */
static int code_decision(mix_coder *c, const walk_step *st)
{
    int coded = st->kind != WALK_BIT || st->forced < 0;
    uint32_t p_lm = st->p_lm;
    if (coded && !p_lm) {
        if (c->rec_i >= c->rec_n) return -1;
        p_lm = c->rec[c->rec_i++];
    }
    int bit;
    switch (st->kind) {
    case WALK_BIT:
        if (!coded) {
            cm_bit_forced(c->cm, c->lane, st->forced);
            return st->forced;
        }
        bit = code_bit(c, cm_bit_p(c->cm, c->lane, p_lm), st->outcome);
        cm_bit_update(c->cm, c->lane, bit);
        return bit;
    case WALK_END:
        bit = code_bit(c, cm_end_p(c->cm, c->lane, p_lm), st->outcome);
        cm_end_update(c->cm, c->lane, bit);
        return bit;
    case WALK_DUP:
        bit = code_bit(c, cm_dup_p(c->cm, c->lane, p_lm, st->rank), st->outcome);
        cm_end_update(c->cm, c->lane, bit);
        return bit;
    }
    return -1;
}

int mix_code_decision(void *user, const walk_step *st)
{
    mix_coder *c = user;
    int bit = code_decision(c, st);
    if (c->trace && bit >= 0 && (st->kind != WALK_BIT || st->forced < 0)) {
        cm_trace t;
        cm_last_trace(c->cm, &t);
        c->trace(c->trace_user, c->chunk, st, bit, &t);
    }
    return bit;
}

int mix_record_decision(void *user, const walk_step *st)
{
    mix_record *r = user;
    if (st->kind == WALK_BIT && st->forced >= 0) return st->forced;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 1024;
        uint16_t *p = realloc(r->p, cap * sizeof *p);
        if (!p) return -1;
        r->p = p;
        r->cap = cap;
    }
    r->p[r->n++] = (uint16_t)st->p_lm;
    r->bits += 16.0 - log2((double)(st->outcome ? st->p_lm : 65536 - st->p_lm));
    return st->outcome;
}

/* ---- The encoder's mixing pass ---- */

lmz_status lm_mix_encode(cm_state *cm, const vocab_order *v, const tokenizer *tok,
                         lm_chunk *ch, size_t n, mix_trace_fn trace, void *trace_user)
{
    int32_t bos = tok_bos(tok);
    uint32_t n_vocab = tok_n_vocab(tok);
    lmz_status st = LMZ_OK;
    for (size_t g0 = 0; g0 < n && st == LMZ_OK;) {
        size_t g1 = g0 + 1;
        while (g1 < n && ch[g1].gen == ch[g0].gen) g1++;
        size_t m = g1 - g0;
        if (m > LM_MIX_GENERATION) return LMZ_ERR_ARG;
        rc_encoder enc[LM_MIX_GENERATION];
        cm_lane lane[LM_MIX_GENERATION];
        mix_coder mc[LM_MIX_GENERATION];
        size_t next[LM_MIX_GENERATION];
        for (size_t i = 0; i < m; i++) {
            lm_chunk *c = &ch[g0 + i];
            rc_enc_init(&enc[i]);
            cm_lane_begin(cm, &lane[i], (uint32_t)c->raw_size);
            mc[i] = (mix_coder){ cm, &lane[i], &enc[i], NULL, c->mixrec, 0, c->mixrec_n,
                                 trace, trace_user, g0 + i };
            next[i] = 0;
            if (bos < 0 && c->n_tokens > 0) {
                size_t len = 0;
                const uint8_t *p = tok_piece(tok, c->tokens[0], &len);
                rc_enc_uniform(&enc[i], (uint32_t)c->tokens[0], n_vocab);
                lm_mix_feed_forced(cm, &lane[i], p, len);
                next[i] = 1;
            }
        }
        /* A token of each chunk in turn, in chunk order, until all are coded. */
        for (int busy = 1; busy && st == LMZ_OK;) {
            busy = 0;
            for (size_t i = 0; i < m; i++) {
                lm_chunk *c = &ch[g0 + i];
                if (next[i] >= c->n_tokens) continue;
                busy = 1;
                uint32_t r = v->rank[c->tokens[next[i]++]];
                cm_token_begin(&lane[i]);
                if (vocab_walk(v, NULL, r, mix_code_decision, &mc[i]) != (long)r) st = LMZ_ERR_ARG;
            }
        }
        for (size_t i = 0; i < m; i++) {
            lm_chunk *c = &ch[g0 + i];
            if (st == LMZ_OK && rc_enc_finish(&enc[i]) != 0) st = LMZ_ERR_NOMEM;
            if (st == LMZ_OK) {
                c->out = enc[i].buf;
                c->out_size = enc[i].len;
                enc[i].buf = NULL;
            }
            rc_enc_free(&enc[i]);
        }
        g0 = g1;
    }
    return st;
}
