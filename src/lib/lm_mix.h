/*
 * lm_mix.h -- mixed coding of LM chunks (doc/format.md 6.5, doc/coder.md 4): each token
 * is coded as binary decisions over the vocabulary sorted by its bytes, and each
 * decision's probability is the LM's, mixed with the stream's adaptive models (cm.h).
 *
 * The vocabulary order: tokens with a non-empty piece, sorted by their bytes (a prefix
 * before its extensions).  Then the tokens that start with given bytes are a range of
 * ranks, and the range narrows bit by bit as a token's bytes are coded.  Coding token t
 * ("the walk"): for each of its bytes, the 8 bits, most significant first (a bit is
 * forced, and not coded, when the range has tokens on one side only); after each
 * complete byte, if some token of the range ends there and others go on, whether t ends.
 * Tokens with equal bytes (SentencePiece's <0x41> and "A") are then told apart by a
 * DUP decision each.  The LM's probability of each decision is the ratio of its
 * quantized frequencies (doc/coder.md section 1, over the logits in vocabulary order).
 */
#ifndef LMZ_LM_MIX_H
#define LMZ_LM_MIX_H

#include <stddef.h>
#include <stdint.h>

#include "coder/cm.h"
#include "coder/quantize.h"
#include "coder/rangecoder.h"
#include "lib/lm_coder.h"
#include "tokenizer/tokenizer.h"

/* Chunks per generation: the chunks of a stream are taken G at a time by index, and the
 * LM chunks among them are coded side by side, a token of each in turn (format). */
#define LM_MIX_GENERATION 8u

typedef struct vocab_order {
    uint32_t n;              /* ranks: tokens with a non-empty piece */
    int32_t *id;             /* rank -> token id */
    uint32_t *rank;          /* token id -> rank, UINT32_MAX for an empty piece */
    const uint8_t **piece;   /* rank -> its bytes */
    uint32_t *len;           /* rank -> their count */
} vocab_order;

typedef enum walk_kind { WALK_BIT, WALK_END, WALK_DUP } walk_kind;

typedef struct walk_step {
    walk_kind kind;
    int forced;              /* WALK_BIT only: -1 coded, or the bit the vocabulary forces */
    int outcome;             /* the target's answer when walking a known token, else -1 */
    uint32_t p_lm;           /* the LM's probability of a 1 (1..65535), 0 without cum */
    uint32_t rank;           /* WALK_DUP: the candidate asked about */
} walk_step;

/* Called for every decision of a walk (forced bits included): returns the outcome, or
 * -1 to stop the walk. */
typedef int (*walk_fn)(void *user, const walk_step *st);

/* The order of t's vocabulary, or NULL when out of memory.  _from_pieces: of the nv
 * pieces given (pieces[id] NULL or lens[id] 0: not in the order); they must outlive it. */
vocab_order *vocab_order_new(const tokenizer *t);
vocab_order *vocab_order_from_pieces(const uint8_t *const *pieces, const uint32_t *lens,
                                     uint32_t nv);
void vocab_order_free(vocab_order *v);

/* Walk one token: target_rank >= 0 to code a known token, -1 to decode one.  cum: the
 * quantized cumulative frequencies over ranks (n + 1 entries), or NULL (p_lm is then 0:
 * the caller has the probabilities recorded).  Returns the token's rank, or -1 when fn
 * stopped. */
long vocab_walk(const vocab_order *v, const uint32_t *cum, long target_rank, walk_fn fn,
                void *user);

/* The quantized frequencies over ranks (doc/coder.md 1 applied to the logits in rank
 * order): sorted is n scratch floats, cum gets n + 1 entries. */
void vocab_cumfreq(const vocab_order *v, quant_isa isa, const float *row, float *sorted,
                   uint32_t *cum);

/* The bytes of a token fed to a lane's models without coding (the uniformly coded
 * first token of a model without BOS). */
void lm_mix_feed_forced(cm_state *cm, cm_lane *l, const uint8_t *bytes, size_t n);

/* A walk_fn that codes each decision, mixed, with a lane's range coder: enc to encode
 * (the walk's outcomes), else dec.  Without cum, the LM's probabilities come from rec,
 * which the LM pass filled (mix_record_decision). */
typedef void (*mix_trace_fn)(void *user, size_t chunk, const walk_step *st, int outcome,
                             const cm_trace *t);
typedef struct mix_coder {
    cm_state *cm;
    cm_lane *lane;
    rc_encoder *enc;
    rc_decoder *dec;
    const uint16_t *rec;
    size_t rec_i, rec_n;
    mix_trace_fn trace;       /* tools: every coded decision, NULL in the library */
    void *trace_user;
    size_t chunk;             /* for the trace */
} mix_coder;
int mix_code_decision(void *user, const walk_step *st);

/* A walk_fn that records the LM's probability of every coded decision (the encoder's LM
 * pass: the mixing waits until every chunk of the generation has its tokens). */
typedef struct mix_record {
    uint16_t *p;
    size_t n, cap;
    double bits;            /* what the LM alone would spend on them: progress only */
} mix_record;
int mix_record_decision(void *user, const walk_step *st);

/* The encoder's mixing pass over chunks whose LM pass recorded their tokens and
 * decisions (lm_encode_chunks): by generation (consecutive chunks with the same gen),
 * a token of each chunk in turn, each chunk with its own range coder; fills out.
 * LMZ_ERR_NOMEM, or LMZ_ERR_ARG for a token the order cannot spell. */
lmz_status lm_mix_encode(cm_state *cm, const vocab_order *v, const tokenizer *tok,
                         lm_chunk *ch, size_t n, mix_trace_fn trace, void *trace_user);

#endif
