/*
 * cm.h -- the adaptive models of a mixed stream (doc/coder.md section 4): byte-level
 * context models of orders 1-6 and a match model, learned from every byte the stream
 * has coded so far, mixed with the language model's prediction by a gated logistic
 * mixer and refined by an APM.  Everything is integer arithmetic, so the encoder and
 * the decoder compute the same probabilities on every machine.
 *
 * One cm_state spans a whole stream.  Each chunk being coded has a cm_lane: its own
 * recent bytes (the contexts), its own match, its own partial byte; the tables are
 * shared, and the lanes take turns in the order doc/format.md 6.5 fixes.
 *
 * The coder sees a token as a sequence of binary decisions (lm_mix.c): the bits of its
 * bytes, and after each complete byte, where the vocabulary allows both, whether the
 * token ends there.  For each decision the caller passes the LM's probability of a 1
 * (16 bits) and gets the mixed one back; then it reports the outcome.
 */
#ifndef LMZ_CM_H
#define LMZ_CM_H

#include <stddef.h>
#include <stdint.h>

#define CM_PROB_BITS 16        /* probabilities of a 1: 1 .. 65535 out of 65536 */
#define CM_ORDERS 12           /* context models per bit, at most (cm.c: orders 1,2,3,4,6,
                                  word, column, field; version 3 adds order 8, word pair,
                                  line start and order 0) */
#define CM_END_INPUTS 5        /* bias, LM, two token-prefix models, match */
#define CM_BIT_INPUTS (CM_ORDERS + 4)   /* the contexts, bias, LM, LM recalibrated, match */

typedef struct cm_state cm_state;

typedef struct cm_lane {
    uint32_t base;          /* first ring position of this chunk (virtual, mod 2^32) */
    uint32_t pos;           /* bytes written so far */
    uint32_t reserved;      /* ring positions reserved: the chunk's raw size */
    uint64_t hist;          /* last 8 bytes of this chunk, newest in the low byte */
    uint32_t word;          /* hash of the current run of letters and digits */
    uint32_t word_prev;     /* the hash of the run before it */
    uint32_t line_head;     /* hash of the current line's first 3 bytes (fewer so far) */
    uint32_t c0;            /* 1, then the bits of the byte so far after a leading 1 */
    uint32_t ctx[CM_ORDERS];/* the byte contexts' hashes, fixed for the byte */
    uint32_t line_start;    /* pos of the current line's first byte */
    uint32_t prev_line;     /* pos of the previous line's first byte (= line_start: none) */
    uint32_t field;         /* separators (, ; tab |) since the line began */
    uint32_t field_hash;    /* hash of the current field's bytes */
    uint32_t tok_hash;      /* hash of the current token's bytes so far */
    uint32_t tok_ctx;       /* order-2 context where the current token began */
    uint32_t tok_bytes;     /* bytes of the current token so far */
    uint32_t match_ptr;     /* ring position of the predicted byte; valid if match_len */
    uint32_t match_len;     /* verified length of the match, 0: none */
    int match_byte;         /* predicted byte, -1: none for this byte */
    uint32_t nibble[CM_ORDERS];   /* each model's bucket for the current nibble */
} cm_lane;

/* A trace of one decision, for tools (lmz --mix-trace): what each input said. */
typedef struct cm_trace {
    int is_end;             /* 0: a bit of a byte; 1: an end-of-token flag */
    uint32_t p_lm, p_mix, p_final;   /* probabilities of a 1, 16 bits */
    int32_t input[CM_BIT_INPUTS];    /* stretched inputs (1/256 units) */
    int n_inputs;
} cm_trace;

/* Versions of the models (doc/coder.md 4.7).  1: one bucket per context hash, a table
 * of 2^18 buckets.  2: two candidate buckets per hash, the one seen less often taken
 * over; 2^18 buckets in a compact stream, 2^20 in the full layout.  3: version 2 with
 * four more contexts, a third weight set (by the last byte) and a learned second layer
 * in place of the average of the sets.  A stream's version is in its header
 * (doc/format.md 3, 11). */
#define CM_VERSION_MAX 3
#define CM_BUCKET_BITS_SHORT 18      /* version 1, and versions 2-3 in compact streams */
#define CM_BUCKET_BITS_LONG 20       /* versions 2-3 in the full layout */

/* A state with a table of 2^bucket_bits buckets of 64 bytes, reset for CM_VERSION_MAX,
 * or NULL when out of memory.  cm_reset empties one for the next stream, of `version`. */
cm_state *cm_new(unsigned bucket_bits);
void cm_reset(cm_state *s, int version);
void cm_free(cm_state *s);
unsigned cm_bucket_bits(const cm_state *s);

/* The memory a state with 2^bucket_bits buckets holds, in bytes (cm_new writes it all). */
size_t cm_state_bytes(unsigned bucket_bits);

/* Start a chunk of `reserve` bytes in lane l: reserves its ring positions. */
void cm_lane_begin(cm_state *s, cm_lane *l, uint32_t reserve);

/* A token starts: the end-of-token models restart their prefix. */
void cm_token_begin(cm_lane *l);

/* The next bit of the current byte: the probability (1..65535) that it is 1, given the
 * LM's p_lm.  Then cm_bit_update with the bit.  A bit the vocabulary forces is not
 * coded: cm_bit_forced instead (the context models learn it, the mixer does not). */
uint32_t cm_bit_p(cm_state *s, cm_lane *l, uint32_t p_lm);
void cm_bit_update(cm_state *s, cm_lane *l, int bit);
void cm_bit_forced(cm_state *s, cm_lane *l, int bit);

/* Whether the current token ends after its complete bytes so far; cm_dup_p: whether
 * the token is the one of rank `rank` among equal pieces.  Both are then reported with
 * cm_end_update. */
uint32_t cm_end_p(cm_state *s, cm_lane *l, uint32_t p_lm);
uint32_t cm_dup_p(cm_state *s, cm_lane *l, uint32_t p_lm, uint32_t rank);
void cm_end_update(cm_state *s, cm_lane *l, int end);

/* The inputs of the last cm_bit_p or cm_end_p, for tracing. */
void cm_last_trace(const cm_state *s, cm_trace *t);

/* The stretch and squash tables' digests (tests pin them: they are format). */
uint64_t cm_tables_digest(void);

/* A digest of everything a state predicts from (an empty bucket's stale counters, never
 * read, left out): tests compare a reset state with a new one. */
uint64_t cm_state_digest(const cm_state *s);

#endif
