/*
 * lm_coder.c -- the LM coder's driver: which lanes and runs code which chunks, on which
 * threads, within what KV-cache budget, and the progress callback.  None of it changes
 * an output byte (doc/determinism.md, section 3): the format-defined part, what the
 * model is fed and how each token is coded, is lm_lanes.c; only this file is tuned.
 *
 * Lanes: up to `lanes` chunks are in flight; each forward pass takes a batch assembled
 * from all of them.  The model's logits do not depend on batch composition, so batching
 * is invisible in the output.
 *
 * Runs: with several threads and several chunks, the chunks are shared out among
 * independent runs, one per thread (or group of threads), each with its own forward
 * pass and lanes; a run takes the next waiting chunk whenever a lane falls idle.  A
 * small model's forward pass is too short to split across threads without the
 * threads spending most of their time waiting for each other, and the quantizer and
 * the range coder, which run between forward passes, then run in parallel too.
 * Which run codes a chunk changes nothing in its output.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/lm_coder.h"
#include "lib/lm_lanes.h"
#include "lib/lm_mix.h"
#include "tokenizer/tokenizer.h"

struct lm_run;

/* What the runs of one call share. */
typedef struct lm_shared {
    lmz_ctx *ctx;
    int decoding;
    uint32_t context, keep;
    int kv_f16;
    lm_chunk *chunks;
    size_t n;
    int own_models;               /* mixed, decoding: each chunk is a stream of its own
                                   * and its lane codes it with its own models */
    atomic_size_t next_chunk;     /* the next chunk an idle lane takes */
    atomic_int stop;              /* a run failed or the caller interrupted: all stop */
    struct lm_run *runs;
    uint32_t n_runs;
    /* Mixed decoding (stepped_*): the runs' threads meet at the barrier twice a step. */
    pthread_barrier_t barrier;
    atomic_int go;                /* the barrier is ready: started threads may use it */
    int all_done;                 /* written by the caller's thread between barriers */
    /* Decoding: chunks [0, next_ready) were handed to ready (caller's thread only). */
    lm_ready_fn ready;
    void *ready_user;
    size_t next_ready;
    uint64_t base_out;            /* the context's progress_out when the call began */
    /* Run 0 waits on this for the other runs to finish (run_thread signals it). */
    pthread_mutex_t lock;
    pthread_cond_t run_finished;
} lm_shared;

typedef struct lm_run {
    lmz_ctx *ctx;
    lm_shared *sh;
    uint32_t index;           /* run 0 is the caller's thread: it reports progress */
    uint32_t lanes;
    lm_lane *lane;
    lm_batch b;               /* the forward pass, and the batch its lanes assemble */
    float *logits;            /* max_batch x n_vocab */
    uint64_t finished_bytes;  /* input (encode) or output (decode) bytes of done chunks */
    _Atomic uint64_t done;    /* those plus the coded share of active lanes: progress */
    double finished_out;      /* encode: output bytes of done chunks, or their estimate */
    _Atomic uint64_t out;     /* those plus the active lanes': the progress line's size */
    atomic_int finished;      /* run_loop has returned */
    int orphan;               /* mixed decoding: its thread did not start, the caller's
                               * thread evaluates its batches */
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

/* Encoding: the output a lane's chunk has so far, in bytes; mixed, what the LM alone
 * would have spent (the mixing pass comes later).  For the progress line only. */
static double lane_out(const lm_lane *ln)
{
    return ln->rec.n ? ln->rec.bits / 8 : (double)ln->enc.len;
}

/* A lane whose tokens are all coded: its chunk's output, and the run's tally. */
static void lane_finish(lm_run *r, lm_lane *ln)
{
    lm_chunk *c = ln->chunk;
    r->finished_bytes += r->b.decoding ? c->raw_size : c->in_size;
    if (!r->b.decoding) r->finished_out += lane_out(ln);
    lm_lane_finish(&r->b, ln);
    atomic_store_explicit(&c->done, 1, memory_order_release);
    /* Out of memory fails the call (lm_coder.h), not just the chunk. */
    if (c->status == LMZ_ERR_NOMEM)
        run_fail(r, LMZ_ERR_NOMEM, "out of memory for a chunk's output");
}

/* Publish how far this run is: its finished chunks, and its active ones by the fraction
 * of their tokens coded. */
static void publish_progress(lm_run *r)
{
    double done = (double)r->finished_bytes, out = r->finished_out;
    for (uint32_t i = 0; i < r->lanes; i++) {
        const lm_lane *ln = &r->lane[i];
        if (!ln->chunk || ln->total == 0) continue;
        double size = (double)(r->b.decoding ? ln->chunk->raw_size : ln->chunk->in_size);
        done += size * (double)ln->coded / (double)ln->total;
        if (!r->b.decoding) out += lane_out(ln);
    }
    atomic_store_explicit(&r->done, (uint64_t)done, memory_order_relaxed);
    atomic_store_explicit(&r->out, (uint64_t)out, memory_order_relaxed);
}

/* Run 0: tell the progress callback how far the whole stream is.  Returns non-zero to
 * stop. */
static int report_progress(const lm_run *r)
{
    lmz_ctx *ctx = r->ctx;
    if (!ctx->params.progress) return 0;
    uint64_t done = 0, coded = 0;
    for (uint32_t i = 0; i < r->sh->n_runs; i++) {
        done += atomic_load_explicit(&r->sh->runs[i].done, memory_order_relaxed);
        coded += atomic_load_explicit(&r->sh->runs[i].out, memory_order_relaxed);
    }
    uint64_t in = ctx->progress_in, out = ctx->progress_out;
    /* Decoding, the chunks written so far (progress_out, as the ready callback writes
     * them) are part of `done`. */
    if (r->b.decoding) out = r->sh->base_out + done > out ? r->sh->base_out + done : out;
    else in += done, out += coded;
    return lmz__progress(ctx, in, out);
}

static void run_free(lm_run *r)
{
    lm_batch *b = &r->b;
    if (r->lane)
        for (uint32_t i = 0; i < r->lanes; i++) lm_lane_free(b, &r->lane[i]);
    free(r->lane); free(b->tok_id); free(b->seq); free(b->want); free(b->lane);
    free(r->logits); free(b->cum); free(b->stats); free(b->sorted);
}

/* A run's forward pass and buffers, for `lanes` lanes on `threads` threads (with own
 * models: ctx->lane_cm[first_model ..] are its lanes').  On the
 * caller's thread: the context's forward passes and error are not thread-safe. */
static lmz_status run_setup(lm_run *r, lm_shared *sh, uint32_t index, uint32_t lanes,
                            uint32_t threads, uint32_t first_model)
{
    lmz_ctx *ctx = sh->ctx;
    memset(r, 0, sizeof *r);
    r->ctx = ctx;
    r->sh = sh;
    r->index = index;
    r->lanes = lanes;
    atomic_init(&r->done, 0);
    atomic_init(&r->out, 0);
    atomic_init(&r->finished, 0);
    lm_batch *b = &r->b;
    b->decoding = sh->decoding;
    b->tok = ctx->model->tok;
    b->bos = tok_bos(b->tok);
    b->n_vocab = tok_n_vocab(b->tok);
    b->context = sh->context;
    b->keep = sh->keep;
    b->qisa = quant_isa_for_simd(ctx->simd);
    /* Room for one slide refill plus one token of every lane, and for a useful
     * batch of encoder tokens.  A mixed decoder codes a token of every lane in every
     * pass, in lane order (doc/format.md 6.5), so all may slide at once. */
    b->max_batch = b->keep + r->lanes;
    if (ctx->mixing && b->decoding) b->max_batch = r->lanes * (b->keep + 1);
    if (b->max_batch < 64) b->max_batch = 64;
    if (ctx->mixing) {
        b->vocab = ctx->mix_vocab;
        b->cm = ctx->mix_cm;
        b->mix_version = ctx->mix_version;
        if (sh->own_models) b->lane_cm = ctx->lane_cm + first_model;
        b->sorted = malloc((size_t)b->n_vocab * sizeof *b->sorted);
        if (!b->sorted) return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory for the LM coder");
    }

    lmz_status st = lmz__forward(ctx, index, b->context, r->lanes, b->max_batch, threads,
                                 sh->kv_f16, &b->fwd);
    if (st != LMZ_OK) return st;

    r->lane = calloc(r->lanes, sizeof *r->lane);
    b->tok_id = malloc(b->max_batch * sizeof *b->tok_id);
    b->seq = malloc(b->max_batch * sizeof *b->seq);
    b->want = malloc(b->max_batch * sizeof *b->want);
    b->lane = malloc(b->max_batch * sizeof *b->lane);
    /* Only wanted rows get logits: a decoder wants one per lane. */
    size_t rows = b->decoding && r->lanes < b->max_batch ? r->lanes : b->max_batch;
    r->logits = malloc(rows * b->n_vocab * sizeof *r->logits);
    b->cum = malloc(((size_t)b->n_vocab + 1) * sizeof *b->cum);
    int want_stats = ctx->stats_entropy_bits && !b->decoding;
    if (want_stats) {
        b->kern = lmz_kernels_get(fwd_simd(b->fwd));
        b->stats = malloc((size_t)b->n_vocab * sizeof *b->stats);
    }
    if (!r->lane || !b->tok_id || !b->seq || !b->want || !b->lane || !r->logits ||
        !b->cum || (want_stats && (!b->kern || !b->stats)))
        return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory for the LM coder");
    return LMZ_OK;
}

/* Caller's thread: hand the chunks that are done, in order, to the ready callback. */
static void pass_ready(lm_run *r0)
{
    lm_shared *sh = r0->sh;
    while (sh->ready && sh->next_ready < sh->n && !atomic_load(&sh->stop) &&
           atomic_load_explicit(&sh->chunks[sh->next_ready].done, memory_order_acquire)) {
        if (sh->ready(sh->ready_user, sh->next_ready++) != 0) {
            run_fail(r0, LMZ_ERR_IO, "output failed");
            return;
        }
    }
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
    lm_batch *b = &r->b;
    size_t active = 0;
    uint32_t first_lane = 0;      /* rotates, so no lane starves for batch room */
    while (!atomic_load(&sh->stop)) {
        /* Fill idle lanes with waiting chunks; finish lanes that are done. */
        for (uint32_t i = 0; i < r->lanes; i++) {
            lm_lane *ln = &r->lane[i];
            while (ln->chunk && lm_lane_done(b, ln)) {
                lane_finish(r, ln);
                active--;
            }
            lm_chunk *c;
            while (!ln->chunk && (c = take_chunk(sh))) {
                if (lm_lane_begin(b, ln, i, c) != LMZ_OK) {
                    run_fail(r, LMZ_ERR_NOMEM, "out of memory for a chunk's tokens");
                    return;
                }
                active++;
                if (lm_lane_done(b, ln)) { lane_finish(r, ln); active--; }
            }
        }
        if (active == 0) break;

        b->n = 0;
        uint32_t share = b->max_batch / (uint32_t)active;
        if (share < 1) share = 1;
        for (uint32_t k = 0; k < r->lanes; k++) {
            lm_lane *ln = &r->lane[(first_lane + k) % r->lanes];
            if (!ln->chunk) continue;
            /* An encoding lane takes its share of the batch, at least enough for a
             * window slide; a decoding lane needs one row, or keep+1 when it slides. */
            uint32_t room = b->max_batch - b->n;
            uint32_t want = share > b->keep + 1 ? share : b->keep + 1;
            if (!b->decoding && room > want) room = want;
            lm_lane_schedule(b, ln, room);
        }
        if (!b->vocab) first_lane = (first_lane + 1) % r->lanes;
        if (b->n == 0) {
            run_fail(r, LMZ_ERR_CORRUPT, "LM coder made no progress");
            return;
        }
        if (fwd_eval_select(b->fwd, b->tok_id, b->seq, b->n, b->want, r->logits) != 0) {
            run_fail(r, LMZ_ERR_ARG, "forward pass rejected a batch");
            return;
        }
        const float *row = r->logits;      /* the wanted rows' logits, packed in order */
        for (uint32_t i = 0; i < b->n; i++) {
            if (!b->want[i]) continue;
            lm_lane_code(b, b->lane[i], row);
            row += b->n_vocab;
        }
        publish_progress(r);
        if (r->index == 0 && report_progress(r)) {
            run_fail(r, LMZ_ERR_INTERRUPTED, "interrupted");
            return;
        }
        if (r->index == 0) pass_ready(r);
    }
}

static void mark_finished(lm_run *r)
{
    pthread_mutex_lock(&r->sh->lock);
    atomic_store(&r->finished, 1);
    pthread_cond_signal(&r->sh->run_finished);
    pthread_mutex_unlock(&r->sh->lock);
}

static void *run_thread(void *arg)
{
    lm_run *r = arg;
    run_loop(r);
    mark_finished(r);
    return NULL;
}

static uint32_t runs_busy(lm_shared *sh)
{
    uint32_t busy = 0;
    for (uint32_t i = 1; i < sh->n_runs; i++) busy += !atomic_load(&sh->runs[i].finished);
    return busy;
}

/* Run 0, out of chunks while other runs still code theirs: keep the progress line
 * moving and the interruption checked until they are done.  It wakes as soon as the
 * last one finishes (a 20 ms poll cost each group of tiny chunks 20 ms). */
static void wait_for_runs(lm_run *r0)
{
    lm_shared *sh = r0->sh;
    pthread_mutex_lock(&sh->lock);
    while (runs_busy(sh)) {
        pthread_mutex_unlock(&sh->lock);
        if (r0->status == LMZ_OK && !atomic_load(&sh->stop) && report_progress(r0))
            run_fail(r0, LMZ_ERR_INTERRUPTED, "interrupted");
        pass_ready(r0);
        pthread_mutex_lock(&sh->lock);
        if (!runs_busy(sh)) break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 20 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&sh->run_finished, &sh->lock, &until);
    }
    pthread_mutex_unlock(&sh->lock);
}

/* ---- Mixed decoding: one step at a time, coding in chunk order ---- */

/* A mixed stream's adaptive models must see the decisions of a generation's chunks in
 * the format's order (doc/format.md 6.5): a token of each chunk in turn, in chunk
 * order.  The chunks are split in order among the runs; every step, each run evaluates
 * its lanes' next rows on its own thread, then the caller's thread codes every run's
 * rows, runs in order and lanes in order, which is chunk order. */

/* Phase A of a step for run r: finish its done lanes, assemble and evaluate its batch. */
static void stepped_eval(lm_run *r)
{
    lm_batch *b = &r->b;
    b->n = 0;
    for (uint32_t i = 0; i < r->lanes; i++) {
        lm_lane *ln = &r->lane[i];
        if (ln->chunk && !lm_lane_done(b, ln)) lm_lane_schedule(b, ln, b->max_batch - b->n);
    }
    if (b->n && fwd_eval_select(b->fwd, b->tok_id, b->seq, b->n, b->want, r->logits) != 0)
        run_fail(r, LMZ_ERR_ARG, "forward pass rejected a batch");
}

/* Phase B, on the caller's thread: code every wanted row; 1 when every lane is done. */
static int stepped_code(lm_shared *sh)
{
    int done = 1;
    uint32_t rows = 0;
    for (uint32_t q = 0; q < sh->n_runs; q++) {
        lm_run *r = &sh->runs[q];
        const float *row = r->logits;
        rows += r->b.n;
        for (uint32_t i = 0; i < r->b.n; i++) {
            if (!r->b.want[i]) continue;
            lm_lane_code(&r->b, r->b.lane[i], row);
            row += r->b.n_vocab;
        }
        r->b.n = 0;
        for (uint32_t i = 0; i < r->lanes; i++) {
            lm_lane *ln = &r->lane[i];
            if (ln->chunk && lm_lane_done(&r->b, ln)) lane_finish(r, ln);
            if (ln->chunk) done = 0;
        }
        publish_progress(r);
    }
    if (!done && rows == 0) {
        run_fail(&sh->runs[0], LMZ_ERR_CORRUPT, "LM coder made no progress");
        return 1;
    }
    if (report_progress(&sh->runs[0])) run_fail(&sh->runs[0], LMZ_ERR_INTERRUPTED, "interrupted");
    pass_ready(&sh->runs[0]);
    return done;
}

/* The step loop of one thread: its run (and, on the caller's thread, the orphans). */
static void stepped_loop(lm_shared *sh, lm_run *r)
{
    for (;;) {
        if (!atomic_load(&sh->stop)) {
            stepped_eval(r);
            if (r->index == 0)
                for (uint32_t q = 1; q < sh->n_runs; q++)
                    if (sh->runs[q].orphan) stepped_eval(&sh->runs[q]);
        }
        pthread_barrier_wait(&sh->barrier);
        if (r->index == 0) sh->all_done = atomic_load(&sh->stop) || stepped_code(sh);
        pthread_barrier_wait(&sh->barrier);
        if (sh->all_done) return;
    }
}

static void *stepped_thread(void *arg)
{
    lm_run *r = arg;
    while (!atomic_load(&r->sh->go))
        nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 }, NULL);
    stepped_loop(r->sh, r);
    return NULL;
}

/* Begin every chunk in chunk order (lm_lane_begin reserves the models' history), start
 * the runs' threads, and step until all are decoded. */
static lmz_status stepped_decode(lm_shared *sh, pthread_t *threads, int *started)
{
    size_t next = 0;
    for (uint32_t q = 0; q < sh->n_runs; q++) {
        lm_run *r = &sh->runs[q];
        for (uint32_t i = 0; i < r->lanes; i++, next++)
            if (lm_lane_begin(&r->b, &r->lane[i], i, &sh->chunks[next]) != LMZ_OK)
                return run_fail(r, LMZ_ERR_NOMEM, "out of memory for a chunk's tokens");
    }
    uint32_t n_threads = 1;
    for (uint32_t q = 1; q < sh->n_runs; q++) {
        started[q] = pthread_create(&threads[q], NULL, stepped_thread, &sh->runs[q]) == 0;
        sh->runs[q].orphan = !started[q];
        n_threads += (uint32_t)started[q];
    }
    if (pthread_barrier_init(&sh->barrier, NULL, n_threads) != 0) {
        atomic_store(&sh->stop, 1);
        for (uint32_t q = 1; q < sh->n_runs; q++) sh->runs[q].orphan = 1;
        n_threads = 1;
        pthread_barrier_init(&sh->barrier, NULL, 1);
    }
    sh->all_done = 0;
    atomic_store(&sh->go, 1);
    stepped_loop(sh, &sh->runs[0]);
    for (uint32_t q = 1; q < sh->n_runs; q++)
        if (started[q]) pthread_join(threads[q], NULL);
    pthread_barrier_destroy(&sh->barrier);
    return LMZ_OK;
}

/* Runs pay only with enough chunks each: a run cannot lend its thread to another, so
 * with few chunks (or one long and one short) the threads of a single run, splitting
 * each forward pass, finish sooner.  A model under TINY_PARAMS gains nothing from
 * threads inside a pass and always splits; larger ones split when every run gets
 * RUN_MIN_CHUNKS chunks.  The measurements: bench/results/tuning.md, "Runs". */
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

/* Decoding many one-chunk mixed streams, each lane holds a state of adaptive models
 * (cm_state_bytes: 53 MiB); all of them together stay under this.  Twice as much (8
 * lanes instead of 4 at -1 on two threads) decoded no faster: bench/results/
 * short-texts.md. */
#define MODELS_BUDGET ((size_t)256 << 20)

/* Bytes of KV cache (F16 or F32) one lane of `context` positions needs. */
static size_t kv_bytes_per_lane(const lmz_model_info *info, uint32_t context, int f16)
{
    size_t head_dim = info->n_head ? info->n_embd / info->n_head : info->n_embd;
    return (size_t)info->n_layer * info->n_head_kv * head_dim * 2 * (f16 ? 2 : 4) * context;
}

static lmz_status run_chunks(lmz_ctx *ctx, int decoding, const lmz_level_settings *w,
                             lm_chunk *chunks, size_t n, lm_ready_fn ready, void *ready_user,
                             int own_streams)
{
    if (n == 0) return LMZ_OK;
    uint32_t context = w->context, keep = w->keep;
    if (context < 2 || keep < 1 || keep >= context)
        return lmz__fail(ctx, LMZ_ERR_ARG, "invalid LM window: context %u, keep %u",
                         context, keep);
    lm_shared sh = { .ctx = ctx, .decoding = decoding, .context = context, .keep = keep,
                     .kv_f16 = w->kv_f16,
                     .chunks = chunks, .n = n, .ready = ready, .ready_user = ready_user,
                     .base_out = ctx->progress_out,
                     .own_models = ctx->mixing && decoding && own_streams };
    for (size_t i = 0; i < n; i++) atomic_init(&chunks[i].done, 0);
    atomic_init(&sh.next_chunk, 0);
    atomic_init(&sh.stop, 0);
    pthread_mutex_init(&sh.lock, NULL);
    pthread_cond_init(&sh.run_finished, NULL);
    /* params.threads is >= 1 (lmz__ctx_new). */
    uint32_t total_threads = (uint32_t)ctx->params.threads;
    lmz_model_info info;
    lmz_model_get_info(ctx->model, &info);
    /* A mixed stream's decoder steps its runs together (stepped_decode); streams of
     * their own need no common order. */
    int stepped = ctx->mixing && decoding && !sh.own_models;
    sh.n_runs = stepped ? (n < total_threads ? (uint32_t)n : total_threads)
                        : runs_for(&info, total_threads, n);
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
    size_t model_bytes = cm_state_bytes(CM_BUCKET_BITS_SHORT);
    if (sh.own_models && MODELS_BUDGET / model_bytes / sh.n_runs < affordable)
        affordable = MODELS_BUDGET / model_bytes / sh.n_runs;
    if (lanes > share) lanes = share;
    if (lanes > affordable) lanes = affordable > 0 ? affordable : 1;
    lmz_status st = sh.own_models ? lmz__lane_models(ctx, (uint32_t)(lanes * sh.n_runs))
                                  : LMZ_OK;
    uint32_t set_up = 0;
    atomic_init(&sh.go, 0);
    for (uint32_t i = 0; i < sh.n_runs && st == LMZ_OK; i++, set_up++) {
        uint32_t thr = total_threads / sh.n_runs + (i < total_threads % sh.n_runs);
        /* Stepped: one generation (n <= 8 chunks), split in order among the runs. */
        if (stepped) lanes = (i + 1) * n / sh.n_runs - i * n / sh.n_runs;
        st = run_setup(&sh.runs[i], &sh, i, (uint32_t)lanes, thr, (uint32_t)(i * lanes));
    }
    if (st == LMZ_OK && stepped) {
        stepped_decode(&sh, threads, started);
        for (uint32_t i = 0; i < sh.n_runs; i++)
            if (sh.runs[i].status != LMZ_OK) {
                st = lmz__fail(ctx, sh.runs[i].status, "%s", sh.runs[i].error);
                break;
            }
    } else if (st == LMZ_OK) {
        /* A run whose thread cannot start just takes no chunks: the others code them. */
        for (uint32_t i = 1; i < sh.n_runs; i++)
            started[i] = pthread_create(&threads[i], NULL, run_thread, &sh.runs[i]) == 0;
        for (uint32_t i = 1; i < sh.n_runs; i++)
            if (!started[i]) mark_finished(&sh.runs[i]);
        run_loop(&sh.runs[0]);
        wait_for_runs(&sh.runs[0]);
        pass_ready(&sh.runs[0]);
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
            if (ctx->stats_entropy_bits) *ctx->stats_entropy_bits += r->b.entropy_bits;
        }
    }
    for (uint32_t i = 0; i < set_up; i++) run_free(&sh.runs[i]);
    free(sh.runs); free(threads); free(started);
    pthread_cond_destroy(&sh.run_finished);
    pthread_mutex_destroy(&sh.lock);
    return st;
}

lmz_status lm_record_chunks(lmz_ctx *ctx, const lmz_level_settings *w, lm_chunk *chunks,
                            size_t n)
{
    return run_chunks(ctx, 0, w, chunks, n, NULL, NULL, 0);
}

lmz_status lm_encode_chunks(lmz_ctx *ctx, const lmz_level_settings *w, lm_chunk *chunks,
                            size_t n, int own_streams)
{
    lmz_status st = run_chunks(ctx, 0, w, chunks, n, NULL, NULL, 0);
    if (ctx->mixing) {
        for (size_t i = 0; st == LMZ_OK && i < n; i++)
            if (chunks[i].status != LMZ_OK)
                st = lmz__fail(ctx, chunks[i].status, "the LM pass failed on a chunk");
        for (size_t i = 0; st == LMZ_OK && i < n; i += own_streams ? 1 : n) {
            if (own_streams && i > 0) cm_reset(ctx->mix_cm, ctx->mix_version);
            st = lm_mix_encode(ctx->mix_cm, ctx->mix_vocab, ctx->model->tok, chunks + i,
                               own_streams ? 1 : n, NULL, NULL);
            if (st != LMZ_OK) lmz__fail(ctx, st, "the mixing pass failed");
        }
        /* What the LM pass handed to the mixing pass, on every path. */
        for (size_t i = 0; i < n; i++) {
            free(chunks[i].tokens); chunks[i].tokens = NULL;
            free(chunks[i].mixrec); chunks[i].mixrec = NULL;
        }
    }
    return st;
}

lmz_status lm_decode_chunks(lmz_ctx *ctx, const lmz_level_settings *w, lm_chunk *chunks,
                            size_t n, int own_streams, lm_ready_fn ready, void *ready_user)
{
    return run_chunks(ctx, 1, w, chunks, n, ready, ready_user, own_streams);
}
