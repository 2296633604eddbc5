/*
 * lm_lanes.c -- one chunk's schedule and coding in the LM method (lm_lanes.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lm_lanes.h"
#include "tokenizer/tokenizer.h"

static size_t off_bos(const lm_batch *b) { return b->bos >= 0 ? 1 : 0; }

/* F[j] of a lane. */
static int32_t feed_token(const lm_batch *b, const lm_lane *ln, size_t j)
{
    if (b->bos >= 0) return j == 0 ? b->bos : ln->tok[j - 1];
    return ln->tok[j];
}

/* Number of entries of F that predict a token. */
static size_t n_feeds(const lm_batch *b, const lm_lane *ln)
{
    if (ln->total == 0) return 0;
    return ln->total - 1 + off_bos(b);
}

static void batch_push(lm_batch *b, lm_lane *ln, int32_t token, int has_target)
{
    b->tok_id[b->n] = token;
    b->seq[b->n] = ln->seq;
    b->lane[b->n] = ln;
    b->want[b->n] = has_target != 0;
    b->n++;
}

uint32_t lm_lane_schedule(lm_batch *b, lm_lane *ln, uint32_t room)
{
    size_t feeds = n_feeds(b, ln);
    size_t j = ln->next_feed;
    if (j >= feeds) return 0;
    /* Decoding: F[j] is a token decoded from an earlier batch's logits (BOS excepted). */
    if (b->decoding) {
        size_t need = (b->bos >= 0 && j == 0) ? 0 : j - off_bos(b) + 1;
        if (need > ln->coded) return 0;
    }

    uint32_t start = b->n;
    if (ln->cache_len == b->context) {           /* slide the window */
        size_t prefix = b->bos >= 0 ? 1 : 0;
        size_t k = b->keep - prefix;
        size_t lo = j > k ? j - k : 0;
        if (lo < off_bos(b)) lo = off_bos(b);
        if (prefix + (j - lo) + 1 > room) return 0;   /* wait for a batch with room */
        fwd_reset(b->fwd, ln->seq);
        ln->cache_len = 0;
        if (prefix) batch_push(b, ln, b->bos, 0);
        for (size_t i = lo; i < j; i++) batch_push(b, ln, feed_token(b, ln, i), 0);
        ln->cache_len = (uint32_t)(b->n - start);
    }
    uint32_t used = b->n - start;
    if (used >= room) return used;
    size_t m = room - used;
    if (m > b->context - ln->cache_len) m = b->context - ln->cache_len;
    if (m > feeds - j) m = feeds - j;
    if (b->decoding && m > 1) m = 1;
    for (size_t i = 0; i < m; i++) batch_push(b, ln, feed_token(b, ln, j + i), 1);
    ln->next_feed = j + m;
    ln->cache_len += (uint32_t)m;
    return b->n - start;
}

/* Cross-entropy of `token` under softmax(row), in bits: measurement only (benchmarks ask
 * for it), so libm's log is fine here; the exps go through the vector kernel, since a
 * libm exp per vocabulary entry and token cost a small model a quarter of its time. */
static double entropy_bits(lm_batch *b, const float *row, int32_t token)
{
    uint32_t n = b->n_vocab;
    float m = row[0];
    for (uint32_t i = 1; i < n; i++) if (row[i] > m) m = row[i];
    for (uint32_t i = 0; i < n; i++) b->stats[i] = row[i] - m;
    b->kern->exp_n(b->stats, b->stats, n);
    double s = 0;
    for (uint32_t i = 0; i < n; i++) s += b->stats[i];
    return (log(s) - ((double)row[token] - m)) / log(2.0);
}

/* The decoder's bookkeeping for a token just decoded. */
static void lane_decoded(lm_batch *b, lm_lane *ln, int32_t t)
{
    ln->tok[ln->coded] = t;
    size_t len = 0;
    const uint8_t *piece = tok_piece(b->tok, t, &len);
    ln->decoded_bytes += len;
    ln->spelled += len;
    if (ln->chunk->crlf && piece)
        for (size_t i = 0; i < len; i++) ln->spelled += piece[i] == '\n';
    ln->coded++;
    /* A corrupt payload can spell more text than the chunk holds, or need more bytes
     * than it has (the range decoder overran, which no valid payload does): stop early,
     * or a tiny hostile chunk claiming 2^30 bytes decodes for hours.  The chunk is
     * corrupt either way (rc_dec_finish fails on an overrun). */
    if (ln->spelled > ln->chunk->raw_size || ln->dec.overrun) {
        ln->coded = ln->total;
        ln->next_feed = n_feeds(b, ln);
    } else if (ln->by_bytes && ln->spelled == ln->chunk->raw_size) {
        ln->total = ln->coded;          /* the content is complete: no more tokens */
    }
}

/* Mixed: the token as decisions over the byte-sorted vocabulary (lm_mix.h). */
static void code_mixed(lm_batch *b, lm_lane *ln, const float *row)
{
    vocab_cumfreq(b->vocab, b->qisa, row, b->sorted, b->cum);
    if (!b->decoding) {
        int32_t t = ln->tok[ln->coded];
        uint32_t r = b->vocab->rank[t];
        if (r == UINT32_MAX) ln->failed = LMZ_ERR_ARG;       /* a token that spells nothing */
        else if (vocab_walk(b->vocab, b->cum, r, mix_record_decision, &ln->rec) < 0)
            ln->failed = LMZ_ERR_NOMEM;
        if (b->stats) b->entropy_bits += entropy_bits(b, row, t);
        ln->coded++;
        return;
    }
    mix_coder mc = { ln->models, &ln->cm, NULL, &ln->dec, NULL, 0, 0, NULL, NULL, 0 };
    cm_token_begin(&ln->cm);
    long r = vocab_walk(b->vocab, b->cum, -1, mix_code_decision, &mc);
    lane_decoded(b, ln, b->vocab->id[r < 0 ? 0 : r]);
}

void lm_lane_code(lm_batch *b, lm_lane *ln, const float *row)
{
    if (b->vocab) {
        code_mixed(b, ln, row);
        return;
    }
    size_t ti = ln->coded;    /* index of the token this row predicts */
    if (!b->decoding) {
        uint32_t start, freq;
        quant_symbol_isa(b->qisa, row, b->n_vocab, (uint32_t)ln->tok[ti], &start, &freq);
        rc_enc_encode(&ln->enc, start, freq);
        if (b->stats) b->entropy_bits += entropy_bits(b, row, ln->tok[ti]);
        ln->coded++;
        return;
    }
    quant_cumfreq_isa(b->qisa, row, b->n_vocab, b->cum);
    uint32_t t = quant_find(b->cum, b->n_vocab, rc_dec_target(&ln->dec));
    rc_dec_update(&ln->dec, b->cum[t], b->cum[t + 1] - b->cum[t]);
    lane_decoded(b, ln, (int32_t)t);
}

lmz_status lm_lane_begin(lm_batch *b, lm_lane *ln, uint32_t seq, lm_chunk *c)
{
    memset(ln, 0, sizeof *ln);
    ln->chunk = c;
    ln->seq = seq;
    fwd_reset(b->fwd, ln->seq);
    if (!b->decoding) {
        size_t cap = c->in_size + 2;
        ln->tok = malloc(cap * sizeof *ln->tok);
        if (!ln->tok) return LMZ_ERR_NOMEM;
        long n = tok_encode(b->tok, c->in, c->in_size, ln->tok, cap);
        if (n < 0 || (size_t)n > cap) return LMZ_ERR_NOMEM;
        ln->total = (size_t)n;
        rc_enc_init(&ln->enc);
        if (b->bos < 0 && ln->total > 0) {
            rc_enc_uniform(&ln->enc, (uint32_t)ln->tok[0], b->n_vocab);
            ln->coded = 1;
        }
    } else {
        ln->by_bytes = c->n_tokens == 0;
        ln->total = ln->by_bytes ? (size_t)c->raw_size + 1 : c->n_tokens;
        ln->tok = malloc((ln->total + 1) * sizeof *ln->tok);
        if (!ln->tok) return LMZ_ERR_NOMEM;
        rc_dec_init(&ln->dec, c->in, c->in_size);
        ln->models = b->cm;
        if (b->vocab && b->lane_cm) {
            ln->models = b->lane_cm[seq];    /* a stream of its own: fresh models */
            cm_reset(ln->models, b->mix_version);
        }
        if (b->vocab) cm_lane_begin(ln->models, &ln->cm, (uint32_t)c->raw_size);
        if (b->bos < 0 && ln->total > 0) {
            uint32_t t = rc_dec_uniform(&ln->dec, b->n_vocab);
            size_t len = 0;
            const uint8_t *p = tok_piece(b->tok, (int32_t)t, &len);
            if (b->vocab) lm_mix_feed_forced(ln->models, &ln->cm, p, len);
            lane_decoded(b, ln, (int32_t)t);
        }
    }
    return LMZ_OK;
}

int lm_lane_done(const lm_batch *b, const lm_lane *ln)
{
    return ln->coded >= ln->total && ln->next_feed >= n_feeds(b, ln);
}

/* The decoded tokens' bytes into c->out. */
static lmz_status decode_text(const lm_batch *b, const lm_lane *ln, lm_chunk *c)
{
    size_t n = ln->decoded_bytes;
    uint8_t *text = malloc(n ? n : 1);
    if (!text) return LMZ_ERR_NOMEM;
    if (tok_decode(b->tok, ln->tok, ln->total, text, n) != (long)n) {
        free(text);
        return LMZ_ERR_CORRUPT;
    }
    c->out = text;
    c->out_size = n;
    return LMZ_OK;
}

void lm_lane_finish(lm_batch *b, lm_lane *ln)
{
    lm_chunk *c = ln->chunk;
    if (!b->decoding && b->vocab) {
        /* The mixing pass (lm_mix_encode) codes the chunk: hand it what it needs. */
        c->status = ln->failed ? (lmz_status)ln->failed : LMZ_OK;
        c->n_tokens = (uint32_t)ln->total;
        c->tokens = ln->tok;
        ln->tok = NULL;
        c->mixrec = ln->rec.p;
        c->mixrec_n = ln->rec.n;
        ln->rec.p = NULL;
    } else if (!b->decoding) {
        if (rc_enc_finish(&ln->enc) != 0) {
            c->status = LMZ_ERR_NOMEM;
        } else {
            c->out = ln->enc.buf;            /* ownership moves to the chunk */
            c->out_size = ln->enc.len;
            ln->enc.buf = NULL;
            c->n_tokens = (uint32_t)ln->total;
            c->status = LMZ_OK;
        }
    } else if (rc_dec_finish(&ln->dec) != 0 || ln->spelled != c->raw_size) {
        c->status = LMZ_ERR_CORRUPT;
    } else {
        c->status = decode_text(b, ln, c);
    }
    lm_lane_free(b, ln);
}

void lm_lane_free(const lm_batch *b, lm_lane *ln)
{
    free(ln->tok);
    ln->tok = NULL;
    free(ln->rec.p);
    ln->rec = (mix_record){ 0 };
    if (!b->decoding) rc_enc_free(&ln->enc);
    ln->chunk = NULL;
}
