/*
 * lm_coder.c -- the LM chunk method: tokens coded with the model's probabilities.
 *
 * The sequence the model is fed for a chunk of n tokens t[0..n) is
 *     F = [BOS, t0, t1, ..., t(n-2)]      (model with a BOS token: F[j] predicts t[j])
 *     F = [t0, t1, ..., t(n-2)]           (no BOS: t0 is coded uniformly, F[j] predicts t[j+1])
 * The KV cache holds a window of F.  When it is full (`context` tokens) it slides: the
 * cache is emptied and refilled with [BOS] + the last keep-1 fed tokens (or the last keep
 * without BOS), then feeding goes on.  doc/format.md specifies this; encoder and decoder
 * share every line of the schedule below, so they cannot drift apart.
 *
 * Lanes: up to `lanes` chunks are in flight; each forward pass takes a batch assembled
 * from all of them.  The model's logits do not depend on batch composition (doc/
 * determinism.md), so batching is invisible in the output.
 *
 * Runs: with several threads and several chunks, the chunks are shared out among
 * independent runs, one per thread (or group of threads), each with its own forward
 * pass and lanes; a run takes the next waiting chunk whenever a lane falls idle.  A
 * small model's forward pass is too short to split across threads without the
 * threads spending most of their time waiting for each other, and the quantizer and
 * the range coder, which run between forward passes, then run in parallel too.
 * Which run codes a chunk changes nothing in its output.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/crlf.h"
#include "lib/lm_coder.h"
#include "coder/quantize.h"
#include "coder/rangecoder.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

typedef struct lane {
    lm_chunk *chunk;          /* NULL: idle */
    uint32_t seq;             /* forward-pass sequence slot */
    int32_t *tok;             /* encode: all tokens; decode: those decoded so far */
    size_t total;             /* tokens to code */
    size_t coded;             /* tokens coded so far */
    size_t next_feed;         /* index into F of the next token to feed */
    size_t decoded_bytes;     /* decode: bytes the decoded tokens spell */
    uint32_t cache_len;       /* tokens in this lane's KV cache */
    rc_encoder enc;
    rc_decoder dec;
} lane;

struct lm_run;

/* What the runs of one call share. */
typedef struct lm_shared {
    lmz_ctx *ctx;
    int decoding;
    uint32_t context, keep;
    int kv_f16;
    lm_chunk *chunks;
    size_t n;
    atomic_size_t next_chunk;     /* the next chunk an idle lane takes */
    atomic_int stop;              /* a run failed or the caller interrupted: all stop */
    struct lm_run *runs;
    uint32_t n_runs;
} lm_shared;

typedef struct lm_run {
    lmz_ctx *ctx;
    lm_shared *sh;
    uint32_t index;           /* run 0 is the caller's thread: it reports progress */
    forward_ctx *fwd;
    const tokenizer *tok;
    int decoding;
    int32_t bos;              /* -1: none */
    uint32_t n_vocab, context, keep, lanes, max_batch;
    lane *lane;
    int32_t *b_tok;           /* batch being assembled */
    uint32_t *b_seq;
    lane **b_lane;            /* the lane that fed each row */
    uint8_t *b_want;          /* 1: the row's logits code a token (refill rows: 0); the
                               * forward pass computes logits for these rows only */
    uint32_t b_n;
    float *logits;            /* max_batch x n_vocab */
    uint32_t *cum;            /* n_vocab + 1 */
    float *stats;             /* n_vocab, only when the context asks for the entropy */
    const lmz_kernels *kern;  /* for the entropy's exps */
    quant_isa qisa;           /* the quantizer's path, following the context's SIMD choice */
    double entropy_bits;      /* with stats: the model's cross-entropy of its tokens */
    uint64_t finished_bytes;  /* input (encode) or output (decode) bytes of done chunks */
    _Atomic uint64_t done;    /* those plus the coded share of active lanes: progress */
    atomic_int finished;      /* run_loop has returned */
    lmz_status status;
    char error[256];
} lm_run;

/* Record a run's failure; the caller passes the first one on to the context. */
__attribute__((format(printf, 3, 4)))
static lmz_status run_fail(lm_run *r, lmz_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    r->status = st;
    atomic_store(&r->sh->stop, 1);
    return st;
}

static size_t off_bos(const lm_run *r) { return r->bos >= 0 ? 1 : 0; }

/* F[j] of a lane. */
static int32_t feed_token(const lm_run *r, const lane *ln, size_t j)
{
    if (r->bos >= 0) return j == 0 ? r->bos : ln->tok[j - 1];
    return ln->tok[j];
}

/* Number of entries of F that predict a token. */
static size_t n_feeds(const lm_run *r, const lane *ln)
{
    if (ln->total == 0) return 0;
    return ln->total - 1 + off_bos(r);
}

static void batch_push(lm_run *r, lane *ln, int32_t token, int has_target)
{
    r->b_tok[r->b_n] = token;
    r->b_seq[r->b_n] = ln->seq;
    r->b_lane[r->b_n] = ln;
    r->b_want[r->b_n] = has_target != 0;
    r->b_n++;
}

/* Add this lane's share of the next batch, at most `room` rows.  Returns rows added. */
static uint32_t lane_schedule(lm_run *r, lane *ln, uint32_t room)
{
    size_t feeds = n_feeds(r, ln);
    size_t j = ln->next_feed;
    if (j >= feeds) return 0;
    /* Decoding: F[j] is a token decoded from an earlier batch's logits (BOS excepted). */
    if (r->decoding) {
        size_t need = (r->bos >= 0 && j == 0) ? 0 : j - off_bos(r) + 1;
        if (need > ln->coded) return 0;
    }

    uint32_t start = r->b_n;
    if (ln->cache_len == r->context) {           /* slide the window */
        size_t prefix = r->bos >= 0 ? 1 : 0;
        size_t k = r->keep - prefix;
        size_t lo = j > k ? j - k : 0;
        if (lo < off_bos(r)) lo = off_bos(r);
        if (prefix + (j - lo) + 1 > room) return 0;   /* wait for a batch with room */
        fwd_reset(r->fwd, ln->seq);
        ln->cache_len = 0;
        if (prefix) batch_push(r, ln, r->bos, 0);
        for (size_t i = lo; i < j; i++) batch_push(r, ln, feed_token(r, ln, i), 0);
        ln->cache_len = (uint32_t)(r->b_n - start);
    }
    uint32_t used = r->b_n - start;
    if (used >= room) return used;
    size_t m = room - used;
    if (m > r->context - ln->cache_len) m = r->context - ln->cache_len;
    if (m > feeds - j) m = feeds - j;
    if (r->decoding && m > 1) m = 1;
    for (size_t i = 0; i < m; i++) batch_push(r, ln, feed_token(r, ln, j + i), 1);
    ln->next_feed = j + m;
    ln->cache_len += (uint32_t)m;
    return r->b_n - start;
}

/* Cross-entropy of `token` under softmax(row), in bits: measurement only (benchmarks ask
 * for it), so libm's log is fine here; the exps go through the vector kernel, since a
 * libm exp per vocabulary entry and token cost a small model a quarter of its time. */
static double entropy_bits(lm_run *r, const float *row, int32_t token)
{
    uint32_t n = r->n_vocab;
    float m = row[0];
    for (uint32_t i = 1; i < n; i++) if (row[i] > m) m = row[i];
    for (uint32_t i = 0; i < n; i++) r->stats[i] = row[i] - m;
    r->kern->exp_n(r->stats, r->stats, n);
    double s = 0;
    for (uint32_t i = 0; i < n; i++) s += r->stats[i];
    return (log(s) - ((double)row[token] - m)) / log(2.0);
}

/* Consume the logits row of one target entry. */
static void lane_code(lm_run *r, lane *ln, const float *row)
{
    size_t ti = ln->coded;    /* index of the token this row predicts */
    if (!r->decoding) {
        uint32_t start, freq;
        quant_symbol_isa(r->qisa, row, r->n_vocab, (uint32_t)ln->tok[ti], &start, &freq);
        rc_enc_encode(&ln->enc, start, freq);
        if (r->stats) r->entropy_bits += entropy_bits(r, row, ln->tok[ti]);
    } else {
        quant_cumfreq_isa(r->qisa, row, r->n_vocab, r->cum);
        uint32_t t = quant_find(r->cum, r->n_vocab, rc_dec_target(&ln->dec));
        rc_dec_update(&ln->dec, r->cum[t], r->cum[t + 1] - r->cum[t]);
        ln->tok[ti] = (int32_t)t;
        size_t len = 0;
        tok_piece(r->tok, (int32_t)t, &len);
        ln->decoded_bytes += len;
    }
    ln->coded++;
}

static lmz_status lane_begin(lm_run *r, lane *ln, lm_chunk *c)
{
    memset(ln, 0, sizeof *ln);
    ln->chunk = c;
    ln->seq = (uint32_t)(ln - r->lane);
    fwd_reset(r->fwd, ln->seq);
    if (!r->decoding) {
        size_t cap = c->in_size + 2;
        ln->tok = malloc(cap * sizeof *ln->tok);
        if (!ln->tok) return LMZ_ERR_NOMEM;
        long n = tok_encode(r->tok, c->in, c->in_size, ln->tok, cap);
        if (n < 0 || (size_t)n > cap) return LMZ_ERR_NOMEM;
        ln->total = (size_t)n;
        rc_enc_init(&ln->enc);
        if (r->bos < 0 && ln->total > 0) {
            rc_enc_uniform(&ln->enc, (uint32_t)ln->tok[0], r->n_vocab);
            ln->coded = 1;
        }
    } else {
        ln->total = c->n_tokens;
        ln->tok = malloc((ln->total + 1) * sizeof *ln->tok);
        if (!ln->tok) return LMZ_ERR_NOMEM;
        rc_dec_init(&ln->dec, c->in, c->in_size);
        if (r->bos < 0 && ln->total > 0) {
            uint32_t t = rc_dec_uniform(&ln->dec, r->n_vocab);
            ln->tok[0] = (int32_t)t;
            size_t len = 0;
            tok_piece(r->tok, (int32_t)t, &len);
            ln->decoded_bytes = len;
            ln->coded = 1;
        }
    }
    return LMZ_OK;
}

/* The decoded tokens' bytes, CR LF restored for LM_CRLF, into c->out (raw_size). */
static lmz_status decode_text(const lm_run *r, const lane *ln, lm_chunk *c)
{
    size_t n = ln->decoded_bytes;
    uint8_t *text = malloc(n ? n : 1);
    if (!text) return LMZ_ERR_NOMEM;
    if (tok_decode(r->tok, ln->tok, ln->total, text, n) != (long)n) {
        free(text);
        return LMZ_ERR_CORRUPT;
    }
    if (!c->crlf) {
        c->out = text;
        c->out_size = n;
        return LMZ_OK;
    }
    c->out = malloc(c->raw_size ? c->raw_size : 1);
    if (!c->out) {
        free(text);
        return LMZ_ERR_NOMEM;
    }
    int bad = crlf_expand(text, n, c->out, c->raw_size);
    free(text);
    c->out_size = c->raw_size;
    return bad ? LMZ_ERR_CORRUPT : LMZ_OK;
}

/* A lane whose tokens are all coded: produce the chunk's output. */
static void lane_finish(lm_run *r, lane *ln)
{
    lm_chunk *c = ln->chunk;
    r->finished_bytes += r->decoding ? c->raw_size : c->in_size;
    if (!r->decoding) {
        if (rc_enc_finish(&ln->enc) != 0) {
            c->status = LMZ_ERR_NOMEM;
        } else {
            c->out = ln->enc.buf;            /* ownership moves to the chunk */
            c->out_size = ln->enc.len;
            ln->enc.buf = NULL;
            c->n_tokens = (uint32_t)ln->total;
            c->status = LMZ_OK;
        }
        rc_enc_free(&ln->enc);
    } else if (rc_dec_finish(&ln->dec) != 0 ||
               (c->crlf ? ln->decoded_bytes > c->raw_size : ln->decoded_bytes != c->raw_size)) {
        c->status = LMZ_ERR_CORRUPT;
    } else {
        c->status = decode_text(r, ln, c);
    }
    free(ln->tok);
    ln->tok = NULL;
    ln->chunk = NULL;
}

static int lane_done(const lm_run *r, const lane *ln)
{
    return ln->coded >= ln->total && ln->next_feed >= n_feeds(r, ln);
}

/* Publish how far this run is: its finished chunks, and its active ones by the fraction
 * of their tokens coded. */
static void publish_progress(lm_run *r)
{
    double done = (double)r->finished_bytes;
    for (uint32_t i = 0; i < r->lanes; i++) {
        const lane *ln = &r->lane[i];
        if (!ln->chunk || ln->total == 0) continue;
        double size = (double)(r->decoding ? ln->chunk->raw_size : ln->chunk->in_size);
        done += size * (double)ln->coded / (double)ln->total;
    }
    atomic_store_explicit(&r->done, (uint64_t)done, memory_order_relaxed);
}

/* Run 0: tell the progress callback how far the whole stream is.  Returns non-zero to
 * stop. */
static int report_progress(const lm_run *r)
{
    lmz_ctx *ctx = r->ctx;
    if (!ctx->params.progress) return 0;
    uint64_t done = 0;
    for (uint32_t i = 0; i < r->sh->n_runs; i++)
        done += atomic_load_explicit(&r->sh->runs[i].done, memory_order_relaxed);
    uint64_t in = ctx->progress_in, out = ctx->progress_out;
    if (r->decoding) out += done; else in += done;
    return ctx->params.progress(ctx->params.progress_user, in, out);
}

static void run_free(lm_run *r)
{
    if (r->lane) {
        for (uint32_t i = 0; i < r->lanes; i++) {
            free(r->lane[i].tok);
            if (!r->decoding) rc_enc_free(&r->lane[i].enc);
        }
    }
    free(r->lane); free(r->b_tok); free(r->b_seq); free(r->b_want); free(r->b_lane);
    free(r->logits); free(r->cum); free(r->stats);
}

/* A run's forward pass and buffers, for `lanes` lanes on `threads` threads.  On the
 * caller's thread: the context's forward passes and error are not thread-safe. */
static lmz_status run_setup(lm_run *r, lm_shared *sh, uint32_t index, uint32_t lanes,
                            uint32_t threads)
{
    lmz_ctx *ctx = sh->ctx;
    memset(r, 0, sizeof *r);
    r->ctx = ctx;
    r->sh = sh;
    r->index = index;
    r->decoding = sh->decoding;
    r->tok = ctx->model->tok;
    r->bos = tok_bos(r->tok);
    r->n_vocab = tok_n_vocab(r->tok);
    r->context = sh->context;
    r->keep = sh->keep;
    r->qisa = quant_isa_for_simd(ctx->simd);
    r->lanes = lanes;
    atomic_init(&r->done, 0);
    atomic_init(&r->finished, 0);
    /* Room for one slide refill plus one token of every lane, and for a useful
     * batch of encoder tokens. */
    r->max_batch = r->keep + r->lanes;
    if (r->max_batch < 64) r->max_batch = 64;

    lmz_status st = lmz__forward(ctx, index, r->context, r->lanes, r->max_batch, threads,
                                 sh->kv_f16, &r->fwd);
    if (st != LMZ_OK) return st;

    r->lane = calloc(r->lanes, sizeof *r->lane);
    r->b_tok = malloc(r->max_batch * sizeof *r->b_tok);
    r->b_seq = malloc(r->max_batch * sizeof *r->b_seq);
    r->b_want = malloc(r->max_batch * sizeof *r->b_want);
    r->b_lane = malloc(r->max_batch * sizeof *r->b_lane);
    r->logits = malloc((size_t)r->max_batch * r->n_vocab * sizeof *r->logits);
    r->cum = malloc(((size_t)r->n_vocab + 1) * sizeof *r->cum);
    int want_stats = ctx->stats_entropy_bits && !r->decoding;
    if (want_stats) {
        r->kern = lmz_kernels_get(fwd_simd(r->fwd));
        r->stats = malloc((size_t)r->n_vocab * sizeof *r->stats);
    }
    if (!r->lane || !r->b_tok || !r->b_seq || !r->b_want || !r->b_lane || !r->logits ||
        !r->cum || (want_stats && (!r->kern || !r->stats)))
        return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory for the LM coder");
    return LMZ_OK;
}

/* The next chunk for an idle lane, or NULL when none is left. */
static lm_chunk *take_chunk(lm_shared *sh)
{
    size_t i = atomic_fetch_add(&sh->next_chunk, 1);
    return i < sh->n ? &sh->chunks[i] : NULL;
}

/* Code chunks until none is left, or another run failed. */
static void run_loop(lm_run *r)
{
    lm_shared *sh = r->sh;
    size_t active = 0;
    uint32_t first_lane = 0;      /* rotates, so no lane starves for batch room */
    while (!atomic_load(&sh->stop)) {
        /* Fill idle lanes with waiting chunks; finish lanes that are done. */
        for (uint32_t i = 0; i < r->lanes; i++) {
            lane *ln = &r->lane[i];
            while (ln->chunk && lane_done(r, ln)) {
                lane_finish(r, ln);
                active--;
            }
            lm_chunk *c;
            while (!ln->chunk && (c = take_chunk(sh))) {
                if (lane_begin(r, ln, c) != LMZ_OK) {
                    run_fail(r, LMZ_ERR_NOMEM, "out of memory for a chunk's tokens");
                    return;
                }
                active++;
                if (lane_done(r, ln)) { lane_finish(r, ln); active--; }
            }
        }
        if (active == 0) break;

        r->b_n = 0;
        uint32_t share = r->max_batch / (uint32_t)active;
        if (share < 1) share = 1;
        for (uint32_t k = 0; k < r->lanes; k++) {
            lane *ln = &r->lane[(first_lane + k) % r->lanes];
            if (!ln->chunk) continue;
            /* An encoding lane takes its share of the batch, at least enough for a
             * window slide; a decoding lane needs one row, or keep+1 when it slides. */
            uint32_t room = r->max_batch - r->b_n;
            uint32_t want = share > r->keep + 1 ? share : r->keep + 1;
            if (!r->decoding && room > want) room = want;
            lane_schedule(r, ln, room);
        }
        first_lane = (first_lane + 1) % r->lanes;
        if (r->b_n == 0) {
            run_fail(r, LMZ_ERR_CORRUPT, "LM coder made no progress");
            return;
        }
        if (fwd_eval_select(r->fwd, r->b_tok, r->b_seq, r->b_n, r->b_want, r->logits) != 0) {
            run_fail(r, LMZ_ERR_ARG, "forward pass rejected a batch");
            return;
        }
        const float *row = r->logits;      /* the target rows' logits, packed in order */
        for (uint32_t i = 0; i < r->b_n; i++) {
            if (!r->b_want[i]) continue;
            lane *ln = r->b_lane[i];
            lane_code(r, ln, row);
            row += r->n_vocab;
            /* A corrupt payload can spell more text than the chunk holds, or need more
             * bytes than it has (the range decoder overran, which no valid payload does):
             * stop early, or a tiny hostile chunk claiming 2^30 bytes decodes for hours.
             * The chunk is corrupt either way (rc_dec_finish fails on an overrun). */
            if (r->decoding && (ln->decoded_bytes > ln->chunk->raw_size || ln->dec.overrun)) {
                ln->coded = ln->total;
                ln->next_feed = n_feeds(r, ln);
            }
        }
        publish_progress(r);
        if (r->index == 0 && report_progress(r)) {
            run_fail(r, LMZ_ERR_INTERRUPTED, "interrupted");
            return;
        }
    }
}

static void *run_thread(void *arg)
{
    lm_run *r = arg;
    run_loop(r);
    atomic_store(&r->finished, 1);
    return NULL;
}

/* Run 0, out of chunks while other runs still code theirs: keep the progress line
 * moving and the interruption checked until they are done. */
static void wait_for_runs(lm_run *r0)
{
    lm_shared *sh = r0->sh;
    for (;;) {
        uint32_t busy = 0;
        for (uint32_t i = 1; i < sh->n_runs; i++) busy += !atomic_load(&sh->runs[i].finished);
        if (!busy) return;
        if (r0->status == LMZ_OK && !atomic_load(&sh->stop) && report_progress(r0))
            run_fail(r0, LMZ_ERR_INTERRUPTED, "interrupted");
        nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
    }
}

/* Runs pay only with enough chunks each: a run cannot lend its thread to another, so
 * with few chunks (or one long and one short) the threads of a single run, splitting
 * each forward pass, finish sooner.  A model under TINY_PARAMS gains nothing from
 * threads inside a pass (lmz-t1: `-T 2` was no faster than `-T 1`) and always splits;
 * larger ones split when every run gets RUN_MIN_CHUNKS chunks.  Measured with `lmz -T 2`:
 * lmz-m1 at -9 on 64 KiB (one 64 KiB chunk and a short one): 30.8 s to compress in two
 * runs against 21.7 s in one; at -8 (3 chunks) 40.1 s to decompress in two runs against
 * 24.4-28.0 s in one, and on 384 KiB (12 chunks) 4.6 KB/s in two against 3.6 in one;
 * lmz-s2 at -5 on 256 KiB (8 chunks): 6.7 s to compress and 13.3 s to decompress in two
 * runs against 9.2 s and 15.0-16.2 s in one. */
#define TINY_PARAMS 2000000u
#define RUN_MIN_CHUNKS 4u

/* How many runs share the n chunks: one per thread while there are chunks enough for
 * them all (threads left over join the runs' forward passes). */
static uint32_t runs_for(const lmz_model_info *info, uint32_t threads, size_t n)
{
    size_t runs = info->n_params < TINY_PARAMS ? n : n / RUN_MIN_CHUNKS;
    if (runs < 1) runs = 1;
    return runs < threads ? (uint32_t)runs : threads;
}

/* The KV caches of all runs together stay under this, whatever the thread count: with
 * one run per CPU on a large machine, lmz-m1's 8 MiB per lane (F16; 16 MiB in F32) and
 * 8 lanes per run would otherwise ask for 64 MiB per CPU. */
#define KV_BUDGET ((size_t)256 << 20)

/* Bytes of KV cache (F16 or F32) one lane of `context` positions needs. */
static size_t kv_bytes_per_lane(const lmz_model_info *info, uint32_t context, int f16)
{
    size_t head_dim = info->n_head ? info->n_embd / info->n_head : info->n_embd;
    return (size_t)info->n_layer * info->n_head_kv * head_dim * 2 * (f16 ? 2 : 4) * context;
}

static lmz_status run_chunks(lmz_ctx *ctx, int decoding, const lmz_level_settings *w,
                             lm_chunk *chunks, size_t n)
{
    if (n == 0) return LMZ_OK;
    uint32_t context = w->context, keep = w->keep;
    if (context < 2 || keep < 1 || keep >= context)
        return lmz__fail(ctx, LMZ_ERR_ARG, "invalid LM window: context %u, keep %u",
                         context, keep);
    lm_shared sh = { .ctx = ctx, .decoding = decoding, .context = context, .keep = keep,
                     .kv_f16 = w->kv_f16,
                     .chunks = chunks, .n = n };
    atomic_init(&sh.next_chunk, 0);
    atomic_init(&sh.stop, 0);
    /* params.threads is >= 1 (lmz__ctx_new). */
    uint32_t total_threads = (uint32_t)ctx->params.threads;
    lmz_model_info info;
    lmz_model_get_info(ctx->model, &info);
    sh.n_runs = runs_for(&info, total_threads, n);
    sh.runs = calloc(sh.n_runs, sizeof *sh.runs);
    pthread_t *threads = calloc(sh.n_runs, sizeof *threads);
    int *started = calloc(sh.n_runs, sizeof *started);
    if (!sh.runs || !threads || !started) {
        free(sh.runs); free(threads); free(started);
        return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory for the LM coder");
    }
    /* The level's lanes per thread, shared out among the runs (no more per run than its
     * share of the chunks needs, nor than the KV budget allows, but at least one), and
     * the threads with them. */
    size_t per_thread = w->lanes > 0 ? w->lanes : 1;
    size_t lanes = (per_thread * total_threads + sh.n_runs - 1) / sh.n_runs;
    size_t share = (n + sh.n_runs - 1) / sh.n_runs;
    size_t per_lane = kv_bytes_per_lane(&info, context, w->kv_f16);
    size_t affordable = per_lane ? KV_BUDGET / per_lane / sh.n_runs : lanes;
    if (lanes > share) lanes = share;
    if (lanes > affordable) lanes = affordable > 0 ? affordable : 1;
    lmz_status st = LMZ_OK;
    uint32_t set_up = 0;
    for (uint32_t i = 0; i < sh.n_runs && st == LMZ_OK; i++, set_up++) {
        uint32_t thr = total_threads / sh.n_runs + (i < total_threads % sh.n_runs);
        st = run_setup(&sh.runs[i], &sh, i, (uint32_t)lanes, thr);
    }
    if (st == LMZ_OK) {
        /* A run whose thread cannot start just takes no chunks: the others code them. */
        for (uint32_t i = 1; i < sh.n_runs; i++)
            started[i] = pthread_create(&threads[i], NULL, run_thread, &sh.runs[i]) == 0;
        for (uint32_t i = 1; i < sh.n_runs; i++)
            if (!started[i]) atomic_store(&sh.runs[i].finished, 1);
        run_loop(&sh.runs[0]);
        wait_for_runs(&sh.runs[0]);
        for (uint32_t i = 1; i < sh.n_runs; i++)
            if (started[i]) pthread_join(threads[i], NULL);
        for (uint32_t i = 0; i < sh.n_runs; i++) {
            lm_run *r = &sh.runs[i];
            if (r->status != LMZ_OK) {
                /* The cause, not another run's reaction to it: a run that stopped
                 * because another failed reports nothing. */
                st = lmz__fail(ctx, r->status, "%s", r->error);
                break;
            }
            if (ctx->stats_entropy_bits) *ctx->stats_entropy_bits += r->entropy_bits;
        }
    }
    for (uint32_t i = 0; i < set_up; i++) run_free(&sh.runs[i]);
    free(sh.runs); free(threads); free(started);
    return st;
}
lmz_status lm_encode_chunks(lmz_ctx *ctx, const lmz_level_settings *w, lm_chunk *chunks,
                            size_t n)
{
    return run_chunks(ctx, 0, w, chunks, n);
}

lmz_status lm_decode_chunks(lmz_ctx *ctx, const lmz_level_settings *w, lm_chunk *chunks,
                            size_t n)
{
    return run_chunks(ctx, 1, w, chunks, n);
}
