/*
 * lm_lanes.h -- the LM chunk method as doc/format.md defines it: what the model is fed
 * for a chunk, when and how its window slides, and how each token is coded.  Every
 * stream ever written depends on this code, so it changes only with the format.
 *
 * A lane codes one chunk.  The lanes of one forward pass ("a run", lm_coder.c) add
 * their rows to a shared batch (lm_batch); what goes into which batch, how many lanes
 * and runs there are and on which threads is the driver's choice and changes no output
 * byte, because the model's logits do not depend on batch composition
 * (doc/determinism.md).
 *
 * The sequence the model is fed for a chunk of n tokens t[0..n) is
 *     F = [BOS, t0, t1, ..., t(n-2)]      (model with a BOS token: F[j] predicts t[j])
 *     F = [t0, t1, ..., t(n-2)]           (no BOS: t0 is coded uniformly, F[j] predicts t[j+1])
 * The KV cache holds a window of F.  When it is full (`context` tokens) it slides: the
 * cache is emptied and refilled with [BOS] + the last keep-1 fed tokens (or the last keep
 * without BOS), then feeding goes on.  Encoder and decoder share every line of it.
 */
#ifndef LMZ_LM_LANES_H
#define LMZ_LM_LANES_H

#include <stddef.h>
#include <stdint.h>

#include "coder/quantize.h"
#include "coder/rangecoder.h"
#include "kernels/kernels.h"
#include "lib/lm_coder.h"
#include "lib/lm_mix.h"
#include "model/model.h"

struct lm_lane;

/* What the lanes of one forward pass share: the model's side of the schedule, and the
 * batch being assembled. */
typedef struct lm_batch {
    int decoding;
    const tokenizer *tok;
    forward_ctx *fwd;
    int32_t bos;              /* -1: none */
    uint32_t n_vocab, context, keep;
    quant_isa qisa;           /* the quantizer's path, following the context's SIMD choice */
    uint32_t max_batch, n;    /* rows: room, and assembled so far */
    int32_t *tok_id;          /* per row: the token fed */
    uint32_t *seq;            /*          its forward-pass sequence (the lane's) */
    struct lm_lane **lane;    /*          the lane that fed it */
    uint8_t *want;            /*          1: its logits code a token (refill rows: 0) */
    uint32_t *cum;            /* n_vocab + 1: the decoder's cumulative frequencies */
    /* Mixed streams (lm_mix.h): the vocabulary order, the stream's adaptive models
     * (decoding only: the encoder mixes after the LM pass) and n_vocab scratch floats.
     * vocab NULL: the LM's frequencies code each token directly. */
    const vocab_order *vocab;
    cm_state *cm;
    int mix_version;          /* of the stream(s): lane_cm are reset for it */
    cm_state **lane_cm;       /* decoding streams of one chunk each (lmz_decompress_many):
                               * lane slot i's own models, reset for each chunk it takes;
                               * NULL: every lane shares cm */
    float *sorted;
    /* Measurement only (benchmarks): the model's cross-entropy of the coded tokens. */
    float *stats;             /* n_vocab, NULL when not measuring */
    const lmz_kernels *kern;  /* for its exps */
    double entropy_bits;
} lm_batch;

typedef struct lm_lane {
    lm_chunk *chunk;          /* NULL: idle */
    uint32_t seq;             /* forward-pass sequence slot */
    int32_t *tok;             /* encode: all tokens; decode: those decoded so far */
    size_t total;             /* tokens to code */
    size_t coded;             /* tokens coded so far */
    size_t next_feed;         /* index into F of the next token to feed */
    size_t decoded_bytes;     /* decode: bytes the decoded tokens spell */
    size_t spelled;           /* decode: those bytes as content (LM_CRLF: LF counts 2) */
    int by_bytes;             /* decode: the token count is not known; stop when the
                               * content is complete (doc/format.md 11) */
    uint32_t cache_len;       /* tokens in this lane's KV cache */
    rc_encoder enc;
    rc_decoder dec;
    cm_lane cm;               /* mixed, decoding: this chunk's view of the models */
    cm_state *models;         /* mixed, decoding: the models it codes with (b->cm, or
                               * its own: b->lane_cm) */
    mix_record rec;           /* mixed, encoding: the LM's probability of each decision */
    int failed;               /* mixed, encoding: 0, or the lmz_status that failed it */
} lm_lane;

/* Start coding chunk c in lane ln (sequence slot seq): tokenize it (encode) or set up
 * the range decoder (decode).  LMZ_ERR_NOMEM on failure (ln is then safe to free). */
lmz_status lm_lane_begin(lm_batch *b, lm_lane *ln, uint32_t seq, lm_chunk *c);

/* Add this lane's share of the next batch, at most `room` rows: a window refill when
 * the cache is full, then the next tokens of F (one at a time when decoding, since each
 * is known only after the previous row's logits).  Returns the rows added. */
uint32_t lm_lane_schedule(lm_batch *b, lm_lane *ln, uint32_t room);

/* Code the token that a wanted row's logits predict. */
void lm_lane_code(lm_batch *b, lm_lane *ln, const float *row);

/* All of the lane's tokens are coded (or decoding gave up on a corrupt payload). */
int lm_lane_done(const lm_batch *b, const lm_lane *ln);

/* Produce the chunk's output and status, and leave the lane idle. */
void lm_lane_finish(lm_batch *b, lm_lane *ln);

/* Free what an unfinished lane holds (after a failure). */
void lm_lane_free(const lm_batch *b, lm_lane *ln);

#endif
