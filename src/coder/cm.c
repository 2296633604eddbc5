/*
 * cm.c -- the adaptive models and the mixer of a mixed stream (cm.h; doc/coder.md
 * section 4 is the normative description, this is its reference code).
 *
 * Design in one paragraph (after lpaq1 and paq8): probabilities are 16-bit integers,
 * the mixer works in the logistic ("stretch") domain in units of 1/256.  Each byte
 * context model maps a hash of the last n bytes and the partial byte to an adaptive
 * probability; the slots of one context's nibble share a 64-byte bucket with a 32-bit
 * check, so a byte costs each model two cache misses.  The match model follows the
 * longest recent repeat of the last MATCH_MIN bytes through a ring of the stream's
 * bytes, and remembers where the repeated text's tokens began.  Two weight sets, one
 * chosen by the match state, the LM's confidence and whether the byte starts a token,
 * one by the partial byte, combine them with the LM (and with the LM recalibrated by an
 * APM); version 3 adds a third, chosen by the last byte, and a second layer that learns
 * how to weigh the three.  Two APMs, on the order-1 and order-2 contexts, correct the
 * result.  Every step
 * is integer arithmetic, right shifts of signed values being arithmetic shifts (gcc
 * and clang on every target lmz supports).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "coder/cm.h"
#include "kernels/detmath.h"

/* ---- Constants: all of them are format (doc/coder.md 4.2). ---- */

#define SQ_LIM 3071                    /* stretch domain: -SQ_LIM .. SQ_LIM (±12) */
#define RING_BITS 23                   /* 8 Mi bytes of history */
#define MATCH_BITS 20                  /* 1 Mi match-table entries */
#define MATCH_MIN 6                    /* bytes hashed to find a match */
#define END_BITS 20                    /* end-of-token counters: 4 MiB */
/* Tunable with tools/mix_replay.c (-D overrides there; the library uses these values,
 * which are format like the rest; the measurements: bench/results/mix.md). */
#ifndef CM_COUNTER_LIMIT
#define CM_COUNTER_LIMIT 255           /* adaptation rate 1/(n+1.5), n capped here */
#endif
#ifndef CM_MIX_LR
#define CM_MIX_LR 36                   /* mixer learning rate (lpaq: 7), versions 1-2 */
#endif
#ifndef CM_MIX_LR_3
#define CM_MIX_LR_3 60                 /* version 3: more contexts, a faster rate */
#endif
#ifndef CM_FINAL_LR
#define CM_FINAL_LR 6                  /* version 3's second layer */
#endif
#ifndef CM_APM_RATE
#define CM_APM_RATE 5
#endif
#define COUNTER_LIMIT CM_COUNTER_LIMIT
#define APM_RATE CM_APM_RATE
#define APM_BINS 49
#define BIT_SETS (3 * 8 * 2)           /* match state x LM confidence x token start */
#define BYTE_SETS (256 * 8)            /* version 3: last byte x match x token start */
#define FINAL_SETS 256                 /* version 3's second layer: the partial byte */
#define CONTEXTS_2 8                   /* contexts of versions 1-2 (3: CM_ORDERS) */
#define END_SETS (17 * 2)              /* token length so far (16: dup) x match expected */
#define TOKEN_START 0x100u             /* ring cell flag: a token starts at this byte */
#define UNWRITTEN 0xFFFFu

#define N_ORDERS 5
static const unsigned order_of[N_ORDERS] = { 1, 2, 3, 4, 6 };   /* then word, column, field */
#define LINE_HEAD 3                    /* bytes of a line its line-start context hashes */

/* ---- Tables ---- */

static uint16_t squash_tab[2 * SQ_LIM + 1];
static int16_t stretch_tab[4096];
static uint32_t rate_tab[COUNTER_LIMIT + 1];
static uint16_t apm_fresh_row[APM_BINS];     /* every APM context's initial bins */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* 65536 / (1 + e^(-x/256)) rounded, from lmz_expf (basic IEEE operations only), made
 * monotone; stretch is its inverse on 4096 cells. */
static void tables_init(void)
{
    for (int x = -SQ_LIM; x <= 0; x++) {
        float e = lmz_expf((float)x / 256.0f);
        float p = 65536.0f * e / (1.0f + e);
        int v = (int)(p + 0.5f);
        if (v < 1) v = 1;
        squash_tab[x + SQ_LIM] = (uint16_t)v;
    }
    for (int x = 1; x <= SQ_LIM; x++) {
        int v = 65536 - squash_tab[SQ_LIM - x];
        if (v > 65535) v = 65535;
        squash_tab[x + SQ_LIM] = (uint16_t)v;
    }
    for (int i = 1; i <= 2 * SQ_LIM; i++)
        if (squash_tab[i] < squash_tab[i - 1]) squash_tab[i] = squash_tab[i - 1];
    int x = -SQ_LIM;
    for (int i = 0; i < 4096; i++) {
        uint32_t p = (uint32_t)i * 16 + 8;
        while (x < SQ_LIM && squash_tab[x + SQ_LIM] < p) x++;
        stretch_tab[i] = (int16_t)x;
    }
    for (uint32_t n = 0; n <= COUNTER_LIMIT; n++) rate_tab[n] = 131072u / (2 * n + 3);
    for (int j = 0; j < APM_BINS; j++) {      /* squash((j - 24) * 128), clamped as squash does */
        int v = (j - 24) * 128;
        v = v > SQ_LIM ? SQ_LIM : v < -SQ_LIM ? -SQ_LIM : v;
        apm_fresh_row[j] = squash_tab[v + SQ_LIM];
    }
}

static inline uint32_t squash(int32_t x)
{
    if (x > SQ_LIM) x = SQ_LIM;
    if (x < -SQ_LIM) x = -SQ_LIM;
    return squash_tab[x + SQ_LIM];
}

static inline int32_t stretch(uint32_t p) { return stretch_tab[p >> 4]; }

uint64_t cm_tables_digest(void)
{
    pthread_once(&tables_once, tables_init);
    uint64_t h = 1469598103934665603ull;                  /* FNV-1a over both tables */
    for (size_t i = 0; i < 2 * SQ_LIM + 1; i++) h = (h ^ squash_tab[i]) * 1099511628211ull;
    for (size_t i = 0; i < 4096; i++) h = (h ^ (uint16_t)stretch_tab[i]) * 1099511628211ull;
    return h;
}

static inline uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

/* ---- Adaptive probabilities: p (16 bits) << 16 | n ---- */

#define COUNTER_NEW (32768u << 16)

static inline uint32_t counter_p(uint32_t c)
{
    uint32_t p = c >> 16;
    return p ? p : 1;
}

static inline uint32_t counter_update(uint32_t c, int bit)
{
    int32_t p = (int32_t)(c >> 16);
    uint32_t n = c & 0xFFFFu;
    int32_t target = bit ? 65535 : 0;
    p += (int32_t)(((int64_t)(target - p) * rate_tab[n]) >> 16);
    if (n < COUNTER_LIMIT) n++;
    return ((uint32_t)p << 16) | n;
}

/* ---- The state ---- */

/* What a stream changed in a large table, so that cm_reset can undo just that: a short
 * stream (one chat answer) touches a few thousand of the 53 MiB, and clearing them all
 * cost 13 ms a stream.  Past DIRTY_MAX entries the table is cleared whole. */
#define DIRTY_MAX (1u << 16)
typedef struct dirty {
    uint32_t *at;
    uint32_t n;             /* DIRTY_MAX + 1: overflowed */
} dirty;

static inline void dirty_add(dirty *d, uint32_t i)
{
    if (d->n < DIRTY_MAX) d->at[d->n] = i;
    if (d->n <= DIRTY_MAX) d->n++;
}

/* An APM (adaptive probability map): per context, APM_BINS probabilities over the
 * stretch domain, interpolated; the bin nearer the input learns. */
typedef struct apm {
    uint16_t *t;
    uint32_t contexts;
    uint32_t idx, w;        /* the last lookup */
    uint8_t *touched;       /* per context: updated since the last reset */
    dirty rows;
} apm;

typedef struct mixer {
    int32_t *w;             /* sets x inputs, 16.16 */
    int n_inputs;
} mixer;

struct cm_state {
    uint32_t *bucket;       /* 2^bucket_bits x 16: [0] check, [1..15] counters */
    unsigned bucket_bits;   /* CM_BUCKET_BITS_SHORT or _LONG */
    int version;            /* of the models (cm.h): set by cm_reset */
    uint16_t *ring;         /* 2^RING_BITS bytes of history, UNWRITTEN where none */
    uint32_t *match;        /* 2^MATCH_BITS ring positions */
    uint32_t *end;          /* 2^END_BITS counters */
    apm sse1, sse2;         /* on the mixer's output: order-1, hashed order-2 */
    apm lm_sse;             /* the LM's probability, recalibrated: a mixer input */
    uint32_t match_sm[64 * 2];
    uint32_t end_sm[64 * 2];
    mixer bits, bits2, ends;     /* bits2: a second mixer, its weights chosen by c0 */
    mixer bits3;            /* version 3: a third, chosen by the last byte */
    int32_t *final;         /* version 3: FINAL_SETS x 3 weights of the second layer */
    int n_ctx;              /* context models of the version */
    int mix_lr;             /* the mixers' learning rate for the version */
    uint32_t next_base;     /* next ring position to reserve */
    dirty dirty_bucket, dirty_match, dirty_end;   /* entries changed since the reset */
    int fresh;              /* every table is in its reset state (cm_new's first reset) */

    /* The decision in progress. */
    uint32_t *slot[CM_ORDERS];
    uint32_t *end_slot[2];
    int32_t x[CM_BIT_INPUTS];
    int n_x;
    int32_t *w, *w2, *w3;   /* the chosen weight sets (w2, w3: NULL where unused) */
    uint32_t p1, p2, p3;    /* their outputs */
    int32_t *fw;            /* the second layer's weights, with w3 */
    int32_t fx[3];          /* its inputs: the sets' outputs, stretched */
    uint32_t p_lm, p_mix, p_final;
    int match_bit;          /* expected bit, -1: none */
    uint32_t match_idx;

    int is_end;
};

static void apm_reset_row(apm *a, uint32_t c)
{
    memcpy(&a->t[c * APM_BINS], apm_fresh_row, sizeof apm_fresh_row);
    a->touched[c] = 0;
}

static void apm_reset(apm *a, int whole)
{
    if (whole || a->rows.n > DIRTY_MAX) {
        for (uint32_t c = 0; c < a->contexts; c++) apm_reset_row(a, c);
    } else {
        for (uint32_t i = 0; i < a->rows.n; i++) apm_reset_row(a, a->rows.at[i]);
    }
    a->rows.n = 0;
}

static uint32_t apm_p(apm *a, uint32_t ctx, int32_t x)
{
    uint32_t xm = (uint32_t)(x + SQ_LIM + 1);                /* 1 .. 6143 */
    a->idx = ctx * APM_BINS + (xm >> 7);
    a->w = xm & 127;
    return (a->t[a->idx] * (128 - a->w) + a->t[a->idx + 1] * a->w) >> 7;
}

static void apm_update(apm *a, int bit)
{
    uint32_t row = a->idx / APM_BINS;
    if (!a->touched[row]) {
        a->touched[row] = 1;
        dirty_add(&a->rows, row);
    }
    uint16_t *t = &a->t[a->idx + (a->w >> 6)];
    int32_t target = bit ? 65535 : 0;
    *t = (uint16_t)(*t + ((target - *t) >> APM_RATE));
}

static void mixer_init(mixer *m, int sets, int n_inputs)
{
    m->n_inputs = n_inputs;
    for (int s = 0; s < sets; s++)
        for (int i = 0; i < n_inputs; i++) m->w[s * n_inputs + i] = i == 1 ? 65536 : 0;
}

/* Every table back to its reset state: whole, or (after a short stream) just what the
 * stream changed.  Both give the same state, which tests/test_mix.c checks. */
void cm_reset(cm_state *s, int version)
{
    int whole = !s->fresh;
    s->version = version;
    s->n_ctx = version >= 3 ? CM_ORDERS : CONTEXTS_2;
    s->mix_lr = version >= 3 ? CM_MIX_LR_3 : CM_MIX_LR;
    if (whole || s->dirty_bucket.n > DIRTY_MAX)
        memset(s->bucket, 0, ((size_t)16 << s->bucket_bits) * sizeof *s->bucket);
    else    /* a bucket with check 0 is empty: its counters are set when it is taken */
        for (uint32_t i = 0; i < s->dirty_bucket.n; i++) s->bucket[(size_t)s->dirty_bucket.at[i] << 4] = 0;
    /* The ring: the positions reserved, one past them (a match can read there) and the
     * 64 below 0 (a match verified backwards from a position near 0 wraps there). */
    size_t ring = (size_t)1 << RING_BITS;
    if (whole || (size_t)s->next_base + 64 >= ring - 64) {
        memset(s->ring, 0xFF, ring * sizeof *s->ring);
    } else {
        memset(s->ring, 0xFF, ((size_t)s->next_base + 64) * sizeof *s->ring);
        memset(s->ring + ring - 64, 0xFF, 64 * sizeof *s->ring);
    }
    if (whole || s->dirty_match.n > DIRTY_MAX)
        memset(s->match, 0, ((size_t)1 << MATCH_BITS) * sizeof *s->match);
    else
        for (uint32_t i = 0; i < s->dirty_match.n; i++) s->match[s->dirty_match.at[i]] = 0;
    if (whole || s->dirty_end.n > DIRTY_MAX)
        for (size_t i = 0; i < ((size_t)1 << END_BITS); i++) s->end[i] = COUNTER_NEW;
    else
        for (uint32_t i = 0; i < s->dirty_end.n; i++) s->end[s->dirty_end.at[i]] = COUNTER_NEW;
    s->dirty_bucket.n = s->dirty_match.n = s->dirty_end.n = 0;
    apm_reset(&s->sse1, whole);
    apm_reset(&s->sse2, whole);
    apm_reset(&s->lm_sse, 1);
    s->fresh = 1;
    for (int i = 0; i < 128; i++) s->match_sm[i] = s->end_sm[i] = COUNTER_NEW;
    mixer_init(&s->bits, BIT_SETS, s->n_ctx + 4);
    mixer_init(&s->bits2, 256, s->n_ctx + 4);
    mixer_init(&s->ends, END_SETS, CM_END_INPUTS);
    if (version >= 3) {
        mixer_init(&s->bits3, BYTE_SETS, s->n_ctx + 4);
        for (int i = 0; i < FINAL_SETS * 3; i++) s->final[i] = 65536 / 3;
    }
    s->next_base = 0;
}

cm_state *cm_new(unsigned bucket_bits)
{
    pthread_once(&tables_once, tables_init);
    cm_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->bucket_bits = bucket_bits;
    s->bucket = malloc(((size_t)16 << bucket_bits) * sizeof *s->bucket);
    s->ring = malloc(((size_t)1 << RING_BITS) * sizeof *s->ring);
    s->match = malloc(((size_t)1 << MATCH_BITS) * sizeof *s->match);
    s->end = malloc(((size_t)1 << END_BITS) * sizeof *s->end);
    s->sse1.contexts = s->sse2.contexts = 65536;
    s->lm_sse.contexts = 256 * 3;
    s->sse1.t = malloc((size_t)s->sse1.contexts * APM_BINS * sizeof *s->sse1.t);
    s->sse2.t = malloc((size_t)s->sse2.contexts * APM_BINS * sizeof *s->sse2.t);
    s->lm_sse.t = malloc((size_t)s->lm_sse.contexts * APM_BINS * sizeof *s->lm_sse.t);
    s->lm_sse.touched = calloc(s->lm_sse.contexts, 1);
    s->sse1.touched = calloc(s->sse1.contexts, 1);
    s->sse2.touched = calloc(s->sse2.contexts, 1);
    s->lm_sse.rows.at = malloc(DIRTY_MAX * sizeof(uint32_t));
    s->sse1.rows.at = malloc(DIRTY_MAX * sizeof(uint32_t));
    s->sse2.rows.at = malloc(DIRTY_MAX * sizeof(uint32_t));
    s->dirty_bucket.at = malloc(DIRTY_MAX * sizeof(uint32_t));
    s->dirty_match.at = malloc(DIRTY_MAX * sizeof(uint32_t));
    s->dirty_end.at = malloc(DIRTY_MAX * sizeof(uint32_t));
    s->bits.w = malloc((size_t)BIT_SETS * CM_BIT_INPUTS * sizeof *s->bits.w);
    s->bits2.w = malloc((size_t)256 * CM_BIT_INPUTS * sizeof *s->bits2.w);
    s->bits3.w = malloc((size_t)BYTE_SETS * CM_BIT_INPUTS * sizeof *s->bits3.w);
    s->final = malloc((size_t)FINAL_SETS * 3 * sizeof *s->final);
    s->ends.w = malloc((size_t)END_SETS * CM_END_INPUTS * sizeof *s->ends.w);
    if (!s->bucket || !s->ring || !s->match || !s->end || !s->sse1.t || !s->sse2.t ||
        !s->lm_sse.t || !s->bits.w || !s->bits2.w || !s->ends.w || !s->bits3.w || !s->final ||
        !s->lm_sse.touched ||
        !s->sse1.touched || !s->sse2.touched || !s->lm_sse.rows.at || !s->sse1.rows.at ||
        !s->sse2.rows.at || !s->dirty_bucket.at || !s->dirty_match.at || !s->dirty_end.at) {
        cm_free(s);
        return NULL;
    }
    cm_reset(s, CM_VERSION_MAX);
    return s;
}

unsigned cm_bucket_bits(const cm_state *s)
{
    return s->bucket_bits;
}

size_t cm_state_bytes(unsigned bucket_bits)
{
    size_t apm_rows = 65536 * 2 + 256 * 3;
    return ((size_t)16 << bucket_bits) * sizeof(uint32_t) + ((size_t)1 << RING_BITS) * 2 +
           ((size_t)1 << MATCH_BITS) * 4 + ((size_t)1 << END_BITS) * 4 +
           apm_rows * (APM_BINS * 2 + 1) + 6 * (size_t)DIRTY_MAX * 4 +
           ((size_t)BIT_SETS + 256 + BYTE_SETS) * CM_BIT_INPUTS * 4 +
           (size_t)END_SETS * CM_END_INPUTS * 4 + (size_t)FINAL_SETS * 3 * 4;
}

void cm_free(cm_state *s)
{
    if (!s) return;
    free(s->bucket); free(s->ring); free(s->match); free(s->end);
    free(s->sse1.t); free(s->sse2.t); free(s->lm_sse.t);
    free(s->bits.w); free(s->bits2.w); free(s->ends.w); free(s->bits3.w); free(s->final);
    free(s->lm_sse.touched); free(s->sse1.touched); free(s->sse2.touched);
    free(s->lm_sse.rows.at); free(s->sse1.rows.at); free(s->sse2.rows.at);
    free(s->dirty_bucket.at); free(s->dirty_match.at); free(s->dirty_end.at);
    free(s);
}

/* ---- Lanes and bytes ---- */

static inline uint16_t ring_at(const cm_state *s, uint32_t pos)
{
    return s->ring[pos & ((1u << RING_BITS) - 1)];
}

/* The hash of the last o bytes (o <= 8). */
static uint32_t order_hash(const cm_lane *l, unsigned o)
{
    uint64_t h = l->hist & (o >= 8 ? ~0ull : ((1ull << (8 * o)) - 1));
    if (o > l->pos) h |= 1ull << 63;            /* the chunk's start is a context too */
    h = (h + o) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32) ^ (uint32_t)h;
}

/* The byte contexts for the next byte, from the lane's last bytes. */
static void byte_contexts(const cm_state *s, cm_lane *l)
{
    for (int i = 0; i < N_ORDERS; i++) l->ctx[i] = order_hash(l, order_of[i]);
    uint32_t c1 = (uint32_t)(l->hist & 0xFF);
    l->ctx[N_ORDERS] = mix32(l->word * 0x2F0B3C49u + c1 + 7u);
    /* Column: the byte above (same column of the previous line) and the last byte. */
    uint32_t col = l->pos - l->line_start, above = 256;
    if (l->prev_line + col < l->line_start) above = ring_at(s, l->base + l->prev_line + col) & 0xFF;
    l->ctx[N_ORDERS + 1] = mix32((above << 8 | c1) + 0x51ED27u);
    /* Field: which separated field of the line, and its bytes so far. */
    l->ctx[N_ORDERS + 2] = mix32(l->field_hash * 0x1B873593u + (l->field < 63 ? l->field : 63) + 0x3C6EF372u);
    if (s->n_ctx == CONTEXTS_2) return;
    /* Version 3: order 8; the word and the one before it; how the line began (roff
     * requests, log fields, list items); and no context at all. */
    l->ctx[CONTEXTS_2] = order_hash(l, 8);
    l->ctx[CONTEXTS_2 + 1] = mix32((l->word ^ l->word_prev * 0x68E31DA4u) + c1 * 0x1B56C4E9u + 0x7F4A7C15u);
    l->ctx[CONTEXTS_2 + 2] = mix32(l->line_head * 0x85EBCA77u + c1 + 0x3C6EF372u);
    l->ctx[CONTEXTS_2 + 3] = 0x5BD1E995u;
}

/* The match model's prediction for the next byte: go on with the current match, or
 * look the last MATCH_MIN bytes up, verifying the candidate byte by byte. */
static void match_next(cm_state *s, cm_lane *l)
{
    l->match_byte = -1;
    if (l->pos < MATCH_MIN) return;
    uint32_t key = (uint32_t)(((l->hist & 0xFFFFFFFFFFFFull) * 0x9E3779B97F4A7C15ull) >> 40)
                   & ((1u << MATCH_BITS) - 1);
    uint32_t here = l->base + l->pos;
    if (l->match_len == 0) {
        uint32_t cand = s->match[key];
        uint32_t len = 0;
        while (len < 32 && len < l->pos) {
            uint16_t c = ring_at(s, cand - 1 - len);
            if (c == UNWRITTEN || (c & 0xFF) != (ring_at(s, here - 1 - len) & 0xFF)) break;
            len++;
        }
        if (len >= MATCH_MIN && cand != here) {
            l->match_len = len;
            l->match_ptr = cand;
        }
    }
    if (!s->match[key]) dirty_add(&s->dirty_match, key);    /* here >= MATCH_MIN > 0 */
    s->match[key] = here;
    if (l->match_len) {
        uint16_t c = ring_at(s, l->match_ptr);
        if (c == UNWRITTEN) l->match_len = 0;
        else l->match_byte = c & 0xFF;
    }
}

void cm_lane_begin(cm_state *s, cm_lane *l, uint32_t reserve)
{
    memset(l, 0, sizeof *l);
    l->base = s->next_base;
    l->reserved = reserve;
    s->next_base += reserve;
    uint32_t mask = (1u << RING_BITS) - 1;
    for (uint32_t i = 0; i < reserve && i <= mask; i++) s->ring[(l->base + i) & mask] = UNWRITTEN;
    l->c0 = 1;
    l->match_byte = -1;
    byte_contexts(s, l);
}

void cm_token_begin(cm_lane *l)
{
    l->tok_hash = 0;
    l->tok_bytes = 0;
    l->tok_ctx = l->ctx[1];
}

static void byte_done(cm_state *s, cm_lane *l, uint32_t b)
{
    if (l->pos < l->reserved)
        s->ring[(l->base + l->pos) & ((1u << RING_BITS) - 1)] =
            (uint16_t)(b | (l->tok_bytes == 0 ? TOKEN_START : 0));
    l->pos++;
    l->hist = (l->hist << 8) | b;
    int alnum = (b >= '0' && b <= '9') || ((b | 32) >= 'a' && (b | 32) <= 'z') || b >= 0x80;
    if (alnum) {
        l->word = (l->word + (b | 32) + 1) * 0x3D4D51CBu;
    } else if (l->word) {
        l->word_prev = l->word;
        l->word = 0;
    }
    if (l->pos - l->line_start <= LINE_HEAD) l->line_head = (l->line_head + b + 1) * 0x2F0B3C49u;
    if (b == '\n') {
        l->line_head = 0;
        l->prev_line = l->line_start;
        l->line_start = l->pos;
        l->field = 0;
        l->field_hash = 0;
    } else if (b == ',' || b == ';' || b == '\t' || b == '|') {
        l->field++;
        l->field_hash = 0;
    } else {
        l->field_hash = (l->field_hash + b + 1) * 0x6F4F2A35u;
    }
    l->tok_hash = (l->tok_hash + b + 1) * 0x2C1B3C6Du;
    l->tok_bytes++;
    if (l->match_len) {
        if (l->match_byte == (int)b) {
            l->match_len += l->match_len < 65535;
            l->match_ptr++;
        } else {
            l->match_len = 0;
        }
    }
    l->c0 = 1;
    byte_contexts(s, l);
    match_next(s, l);
}

/* ---- Mixing ---- */

/* A mixer's output in the stretch domain, clamped. */
static int32_t dot(const cm_state *s, const int32_t *w)
{
    int64_t d = 0;
    for (int i = 0; i < s->n_x; i++) d += (int64_t)w[i] * s->x[i];
    d >>= 16;
    return d > SQ_LIM ? SQ_LIM : d < -SQ_LIM ? -SQ_LIM : (int32_t)d;
}

static void train(const cm_state *s, int32_t *w, uint32_t p, int bit)
{
    int32_t err = (bit ? 65536 : 0) - (int32_t)p;
    for (int i = 0; i < s->n_x; i++)
        w[i] += (int32_t)(((int64_t)s->x[i] * err * s->mix_lr) >> 20);
}

/* A flag decision's mix: set `set` of m alone. */
static uint32_t mix_flag(cm_state *s, mixer *m, int set)
{
    s->w = m->w + set * m->n_inputs;
    s->w2 = s->w3 = NULL;
    s->p1 = squash(dot(s, s->w));
    return s->p1;
}

/* A bit's mix: set `set` of bits and set c0 of bits2, averaged in the stretch domain;
 * version 3 adds set `set3` of bits3 and weighs the three by the second layer's set c0. */
static uint32_t mix_bit(cm_state *s, int set, uint32_t c0, uint32_t set3)
{
    s->w = s->bits.w + set * s->bits.n_inputs;
    s->w2 = s->bits2.w + c0 * s->bits2.n_inputs;
    int32_t x1 = dot(s, s->w), x2 = dot(s, s->w2);
    s->p1 = squash(x1);
    s->p2 = squash(x2);
    s->w3 = NULL;
    if (s->version < 3) return squash((x1 + x2) >> 1);
    s->w3 = s->bits3.w + set3 * s->bits3.n_inputs;
    int32_t x3 = dot(s, s->w3);
    s->p3 = squash(x3);
    s->fx[0] = x1;
    s->fx[1] = x2;
    s->fx[2] = x3;
    s->fw = s->final + c0 * 3;
    int64_t d = ((int64_t)s->fw[0] * x1 + (int64_t)s->fw[1] * x2 + (int64_t)s->fw[2] * x3) >> 16;
    return squash(d > SQ_LIM ? SQ_LIM : d < -SQ_LIM ? -SQ_LIM : (int32_t)d);
}

/* Every weight set used learns the outcome from its own output; the second layer from
 * the final mix (p_mix). */
static void mix_update(cm_state *s, int bit)
{
    train(s, s->w, s->p1, bit);
    if (s->w2) train(s, s->w2, s->p2, bit);
    if (s->w3) {
        train(s, s->w3, s->p3, bit);
        int32_t err = (bit ? 65536 : 0) - (int32_t)s->p_mix;
        for (int i = 0; i < 3; i++)
            s->fw[i] += (int32_t)(((int64_t)s->fx[i] * err * CM_FINAL_LR) >> 20);
    }
}

static uint32_t len_bucket(uint32_t len)
{
    uint32_t b = len < 32 ? len : 32 + ((len - 32) >> 4);
    return b > 63 ? 63 : b;
}

static uint32_t clamp_p(uint32_t p) { return p < 1 ? 1 : p > 65535 ? 65535 : p; }

/* Bits of the byte so far (0..7), from c0's leading 1. */
static inline int bits_done(uint32_t c0) { return 31 - __builtin_clz(c0); }

/* The bucket of a context (hash x): version 1 looks at one bucket and takes it over
 * when its check differs; version 2 looks at two neighbours (index and index ^ 1) and,
 * when neither holds x, takes over the one whose context was seen less often (the
 * count of its first slot, which every visit updates).  Counters of a taken-over
 * bucket start afresh. */
static uint32_t *take_bucket(cm_state *s, uint32_t x)
{
    size_t idx = x >> (32 - s->bucket_bits);
    uint32_t *b = s->bucket + (idx << 4), chk = x | 1;
    if (b[0] == chk) return b;
    if (s->version >= 2) {
        uint32_t *other = s->bucket + ((idx ^ 1) << 4);
        if (other[0] == chk) return other;
        uint32_t seen = b[0] ? b[1] & 0xFFFFu : 0, seen_other = other[0] ? other[1] & 0xFFFFu : 0;
        if (seen_other < seen) b = other;
    }
    if (!b[0]) dirty_add(&s->dirty_bucket, (uint32_t)((b - s->bucket) >> 4));
    b[0] = chk;
    for (int k = 1; k < 16; k++) b[k] = COUNTER_NEW;
    return b;
}

/* Each context model's counter for the next bit (at a nibble's first bit, its bucket). */
static void select_slots(cm_state *s, cm_lane *l, int j)
{
    if (j == 0 || j == 4) {
        /* All the nibble's buckets (both candidates) are fetched before any is read:
         * the misses overlap, ~14% of the models' time. */
        uint32_t nib = j == 0 ? 0 : l->c0, x[CM_ORDERS];
        for (int i = 0; i < s->n_ctx; i++) {
            x[i] = mix32(l->ctx[i] + nib * 0x2545F491u);
            const uint32_t *b = s->bucket + (((size_t)(x[i] >> (32 - s->bucket_bits)) & ~(size_t)1) << 4);
            __builtin_prefetch(b);
            __builtin_prefetch(b + 16);
        }
        for (int i = 0; i < s->n_ctx; i++)
            l->nibble[i] = (uint32_t)(take_bucket(s, x[i]) - s->bucket);
    }
    uint32_t in_nib = j < 4 ? l->c0 : ((1u << (j - 4)) | (l->c0 & ((1u << (j - 4)) - 1)));
    for (int i = 0; i < s->n_ctx; i++) s->slot[i] = s->bucket + l->nibble[i] + in_nib;
}

/* The bit is known: the counters learn it, the byte moves on. */
static void bit_known(cm_state *s, cm_lane *l, int bit)
{
    for (int i = 0; i < s->n_ctx; i++) *s->slot[i] = counter_update(*s->slot[i], bit);
    l->c0 = (l->c0 << 1) | (uint32_t)bit;
    if (l->c0 >= 256) byte_done(s, l, l->c0 & 0xFF);
}

void cm_bit_forced(cm_state *s, cm_lane *l, int bit)
{
    select_slots(s, l, bits_done(l->c0));
    bit_known(s, l, bit);
}

uint32_t cm_bit_p(cm_state *s, cm_lane *l, uint32_t p_lm)
{
    int j = bits_done(l->c0);
    select_slots(s, l, j);
    s->is_end = 0;
    s->p_lm = p_lm;
    s->n_x = 0;
    s->x[s->n_x++] = 256;
    int32_t lm = stretch(p_lm);
    s->x[s->n_x++] = lm;
    /* The LM recalibrated by what followed its past predictions in this stream. */
    uint32_t where = l->tok_bytes == 0 ? 0 : l->tok_bytes == 1 ? 1 : 2;
    s->x[s->n_x++] = stretch(apm_p(&s->lm_sse, where * 256 + l->c0, lm));
    for (int i = 0; i < s->n_ctx; i++) {
        uint32_t c = *s->slot[i];
        s->x[s->n_x++] = (c & 0xFFFFu) ? stretch(counter_p(c)) : 0;
    }
    /* The match model: its expected bit, if the byte so far agrees with its byte. */
    s->match_bit = -1;
    int mstate = 0;
    if (l->match_byte >= 0 && (((uint32_t)l->match_byte | 256u) >> (8 - j)) == l->c0) {
        s->match_bit = (l->match_byte >> (7 - j)) & 1;
        s->match_idx = len_bucket(l->match_len) * 2 + (uint32_t)s->match_bit;
        s->x[s->n_x++] = stretch(counter_p(s->match_sm[s->match_idx]));
        mstate = l->match_len < 16 ? 1 : 2;
    } else {
        s->x[s->n_x++] = 0;
    }
    int conf = (lm < 0 ? -lm : lm) >> 8;
    if (conf > 7) conf = 7;
    int set = (mstate * 8 + conf) * 2 + (l->tok_bytes == 0);
    uint32_t set3 = (uint32_t)(l->hist & 0xFF) * 8 + (l->match_len ? (l->match_len < 16 ? 1u : 2u) : 0u) +
                    (l->tok_bytes == 0 ? 4u : 0u);
    s->p_mix = mix_bit(s, set, l->c0, set3);
    /* APMs on the order-1 and (hashed) order-2 contexts. */
    int32_t xm = stretch(s->p_mix);
    uint32_t pa1 = apm_p(&s->sse1, (uint32_t)((l->hist & 0xFF) << 8) | l->c0, xm);
    uint32_t h2 = mix32((uint32_t)(l->hist & 0xFFFF) * 0x9E3779B1u + l->c0) & 0xFFFF;
    uint32_t pa2 = apm_p(&s->sse2, h2, xm);
    s->p_final = clamp_p((2 * s->p_mix + 3 * pa1 + 3 * pa2) >> 3);
    return s->p_final;
}

void cm_bit_update(cm_state *s, cm_lane *l, int bit)
{
    mix_update(s, bit);
    if (s->match_bit >= 0)
        s->match_sm[s->match_idx] = counter_update(s->match_sm[s->match_idx], bit);
    apm_update(&s->sse1, bit);
    apm_update(&s->sse2, bit);
    apm_update(&s->lm_sse, bit);
    bit_known(s, l, bit);
}

/* A flag decision (end of token, or which of equal pieces): the LM, two adaptive
 * counters of the end table at hashes h0 and h1, and with `match`, where the matched
 * text's tokens began. */
static uint32_t flag_p(cm_state *s, cm_lane *l, uint32_t p_lm, uint32_t h0, uint32_t h1,
                       int set, int match)
{
    uint32_t mask = (1u << END_BITS) - 1;
    s->end_slot[0] = &s->end[mix32(h0) & mask];
    s->end_slot[1] = &s->end[mix32(h1) & mask];
    s->is_end = 1;
    s->p_lm = p_lm;
    s->n_x = 0;
    s->x[s->n_x++] = 256;
    s->x[s->n_x++] = stretch(p_lm);
    for (int i = 0; i < 2; i++) {
        uint32_t c = *s->end_slot[i];
        s->x[s->n_x++] = (c & 0xFFFFu) ? stretch(counter_p(c)) : 0;
    }
    s->match_bit = -1;
    if (match && l->match_len && l->match_byte >= 0) {
        s->match_bit = (ring_at(s, l->match_ptr) & TOKEN_START) != 0;
        s->match_idx = len_bucket(l->match_len) * 2 + (uint32_t)s->match_bit;
        s->x[s->n_x++] = stretch(counter_p(s->end_sm[s->match_idx]));
    } else {
        s->x[s->n_x++] = 0;
    }
    s->p_mix = mix_flag(s, &s->ends, set * 2 + (s->match_bit >= 0));
    s->p_final = clamp_p(s->p_mix);
    return s->p_final;
}

uint32_t cm_end_p(cm_state *s, cm_lane *l, uint32_t p_lm)
{
    uint32_t k = l->tok_bytes < 15 ? l->tok_bytes : 15;
    return flag_p(s, l, p_lm, l->tok_hash + k * 0x9E3779B1u,
                  l->tok_hash ^ l->tok_ctx * 0x85EBCA6Bu, (int)k, 1);
}

uint32_t cm_dup_p(cm_state *s, cm_lane *l, uint32_t p_lm, uint32_t rank)
{
    return flag_p(s, l, p_lm, rank * 0xC2B2AE35u + 0x165667B1u,
                  (rank * 0xC2B2AE35u) ^ l->tok_ctx * 0x27D4EB2Fu, 16, 0);
}

void cm_end_update(cm_state *s, cm_lane *l, int end)
{
    (void)l;
    for (int i = 0; i < 2; i++) {
        if (*s->end_slot[i] == COUNTER_NEW)
            dirty_add(&s->dirty_end, (uint32_t)(s->end_slot[i] - s->end));
        *s->end_slot[i] = counter_update(*s->end_slot[i], end);
    }
    if (s->match_bit >= 0)
        s->end_sm[s->match_idx] = counter_update(s->end_sm[s->match_idx], end);
    mix_update(s, end);
}

void cm_last_trace(const cm_state *s, cm_trace *t)
{
    t->is_end = s->is_end;
    t->p_lm = s->p_lm;
    t->p_mix = s->p_mix;
    t->p_final = s->p_final;
    t->n_inputs = s->n_x;
    for (int i = 0; i < s->n_x; i++) t->input[i] = s->x[i];
}

uint64_t cm_state_digest(const cm_state *s)
{
    XXH64_state_t *h = XXH64_createState();
    if (!h) return 0;
    XXH64_reset(h, 0);
    for (size_t b = 0; b < ((size_t)1 << s->bucket_bits); b++) {
        const uint32_t *bk = s->bucket + (b << 4);
        XXH64_update(h, bk, bk[0] ? 16 * sizeof *bk : sizeof *bk);
    }
    XXH64_update(h, s->ring, ((size_t)1 << RING_BITS) * sizeof *s->ring);
    XXH64_update(h, s->match, ((size_t)1 << MATCH_BITS) * sizeof *s->match);
    XXH64_update(h, s->end, ((size_t)1 << END_BITS) * sizeof *s->end);
    const apm *apms[3] = { &s->sse1, &s->sse2, &s->lm_sse };
    for (int i = 0; i < 3; i++)
        XXH64_update(h, apms[i]->t, (size_t)apms[i]->contexts * APM_BINS * sizeof *apms[i]->t);
    XXH64_update(h, s->match_sm, sizeof s->match_sm);
    XXH64_update(h, s->end_sm, sizeof s->end_sm);
    XXH64_update(h, s->bits.w, (size_t)BIT_SETS * s->bits.n_inputs * sizeof *s->bits.w);
    XXH64_update(h, s->bits2.w, (size_t)256 * s->bits2.n_inputs * sizeof *s->bits2.w);
    XXH64_update(h, s->ends.w, (size_t)END_SETS * CM_END_INPUTS * sizeof *s->ends.w);
    if (s->version >= 3) {
        XXH64_update(h, s->bits3.w, (size_t)BYTE_SETS * s->bits3.n_inputs * sizeof *s->bits3.w);
        XXH64_update(h, s->final, (size_t)FINAL_SETS * 3 * sizeof *s->final);
    }
    XXH64_update(h, &s->next_base, sizeof s->next_base);
    uint64_t d = XXH64_digest(h);
    XXH64_freeState(h);
    return d;
}
