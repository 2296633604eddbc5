/*
 * test_mix.c -- mixed coding (src/coder/cm.c, src/lib/lm_mix.c; doc/format.md 6.5,
 * doc/coder.md 4): the token walk over the byte-sorted vocabulary, the adaptive models'
 * learning, and known answers that pin the format.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "coder/cm.h"
#include "coder/quantize.h"
#include "coder/rangecoder.h"
#include "lib/lm_mix.h"
#include "test_rng.h"


/* A test vocabulary: the 256 single bytes, 700 random pieces of 2-6 bytes over a small
 * alphabet (so that many are prefixes of others), a duplicate of "A" (SentencePiece's
 * byte tokens), and an empty piece (a control token). */
#define NV 958
typedef struct test_vocab {
    uint8_t bytes[NV][8];
    const uint8_t *piece[NV];
    uint32_t len[NV];
    vocab_order *order;
} test_vocab;

static test_vocab *vocab_make(void)
{
    test_vocab *tv = calloc(1, sizeof *tv);
    assert_non_null(tv);
    rng r = { 42 };
    for (uint32_t i = 0; i < 256; i++) { tv->bytes[i][0] = (uint8_t)i; tv->len[i] = 1; }
    for (uint32_t i = 256; i < 956; i++) {
        tv->len[i] = 2 + rng_below(&r, 5);
        for (uint32_t k = 0; k < tv->len[i]; k++) tv->bytes[i][k] = (uint8_t)("abcde \n"[rng_below(&r, 7)]);
    }
    tv->bytes[956][0] = 'A'; tv->len[956] = 1;      /* duplicate */
    tv->len[957] = 0;                               /* empty */
    for (uint32_t i = 0; i < NV; i++) tv->piece[i] = tv->bytes[i];
    tv->order = vocab_order_from_pieces(tv->piece, tv->len, NV);
    assert_non_null(tv->order);
    return tv;
}

static void vocab_drop(test_vocab *tv)
{
    vocab_order_free(tv->order);
    free(tv);
}

/* Logits for step i (deterministic, varied). */
static void logits_for(uint32_t i, float *row, uint32_t n)
{
    rng r = { 1000 + i };
    for (uint32_t j = 0; j < n; j++) row[j] = (float)rng_below(&r, 2000) / 200.0f - 5.0f;
}

static void test_order_sorted(void **state)
{
    (void)state;
    test_vocab *tv = vocab_make();
    vocab_order *v = tv->order;
    assert_int_equal(v->n, NV - 1);                 /* the empty piece is out */
    assert_int_equal(v->rank[957], UINT32_MAX);
    for (uint32_t r = 1; r < v->n; r++) {
        uint32_t la = v->len[r - 1], lb = v->len[r];
        int c = memcmp(v->piece[r - 1], v->piece[r], la < lb ? la : lb);
        assert_true(c < 0 || (c == 0 && (la < lb || (la == lb && v->id[r - 1] < v->id[r]))));
        assert_int_equal(v->rank[v->id[r]], r);
    }
    vocab_drop(tv);
}

/* Walking a token with the LM's probabilities alone spends -log2 of its quantized
 * probability, up to the 16-bit rounding of each decision. */
typedef struct cost { double bits; } cost;
static int add_cost(void *user, const walk_step *st)
{
    cost *c = user;
    double p = st->p_lm / 65536.0;
    if (st->kind == WALK_BIT && st->forced >= 0) return st->forced;
    c->bits -= log2(st->outcome ? p : 1.0 - p);
    return st->outcome;
}

static void test_walk_spends_the_lm_probability(void **state)
{
    (void)state;
    test_vocab *tv = vocab_make();
    vocab_order *v = tv->order;
    float *row = malloc(v->n * sizeof *row);
    uint32_t *cum = malloc((v->n + 1) * sizeof *cum);
    assert_non_null(row); assert_non_null(cum);
    int checked = 0;
    for (uint32_t i = 0; i < 20; i++) {
        logits_for(i, row, v->n);
        assert_int_equal(quant_cumfreq(row, v->n, cum), 0);
        for (uint32_t r = 0; r < v->n; r++) {
            cost c = { 0 };
            assert_int_equal(vocab_walk(v, cum, r, add_cost, &c), r);
            double want = -log2((double)(cum[r + 1] - cum[r]) / LMZ_FREQ_TOTAL);
            if (want < 10) {
                assert_true(fabs(c.bits - want) < 0.01);
                checked++;
            }
        }
    }
    assert_true(checked > 1000);
    free(row); free(cum);
    vocab_drop(tv);
}

/* The models' version and table size the helpers below make states for. */
static int models_version = 1;
static unsigned models_bits = CM_BUCKET_BITS_SHORT;

static cm_state *new_state(void)
{
    cm_state *cm = cm_new(models_bits);
    assert_non_null(cm);
    cm_reset(cm, models_version);
    return cm;
}

/* Code `n` tokens mixed, each under logits_for(i), with the state cm (NULL: a new one);
 * returns the payload (malloc'd). */
static uint8_t *encode_tokens_with(cm_state *given, const vocab_order *v,
                                   const uint32_t *ranks, size_t n, size_t *size)
{
    cm_state *cm = given ? given : new_state();
    cm_lane lane;
    cm_lane_begin(cm, &lane, 1u << 20);
    rc_encoder enc;
    rc_enc_init(&enc);
    float *row = malloc(v->n * sizeof *row);
    uint32_t *cum = malloc((v->n + 1) * sizeof *cum);
    mix_coder mc = { cm, &lane, &enc, NULL, NULL, 0, 0, NULL, NULL, 0 };
    for (size_t i = 0; i < n; i++) {
        logits_for((uint32_t)(i % 7), row, v->n);
        quant_cumfreq(row, v->n, cum);
        cm_token_begin(&lane);
        assert_int_equal(vocab_walk(v, cum, ranks[i], mix_code_decision, &mc), ranks[i]);
    }
    assert_int_equal(rc_enc_finish(&enc), 0);
    uint8_t *out = enc.buf;
    *size = enc.len;
    enc.buf = NULL;
    rc_enc_free(&enc);
    free(row); free(cum);
    if (!given) cm_free(cm);
    return out;
}

static uint8_t *encode_tokens(const vocab_order *v, const uint32_t *ranks, size_t n,
                              size_t *size)
{
    return encode_tokens_with(NULL, v, ranks, n, size);
}

static void decode_tokens(const vocab_order *v, const uint8_t *buf, size_t size,
                          uint32_t *ranks, size_t n)
{
    cm_state *cm = new_state();
    cm_lane lane;
    cm_lane_begin(cm, &lane, 1u << 20);
    rc_decoder dec;
    rc_dec_init(&dec, buf, size);
    float *row = malloc(v->n * sizeof *row);
    uint32_t *cum = malloc((v->n + 1) * sizeof *cum);
    mix_coder mc = { cm, &lane, NULL, &dec, NULL, 0, 0, NULL, NULL, 0 };
    for (size_t i = 0; i < n; i++) {
        logits_for((uint32_t)(i % 7), row, v->n);
        quant_cumfreq(row, v->n, cum);
        cm_token_begin(&lane);
        long r = vocab_walk(v, cum, -1, mix_code_decision, &mc);
        assert_true(r >= 0);
        ranks[i] = (uint32_t)r;
    }
    assert_int_equal(rc_dec_finish(&dec), 0);
    free(row); free(cum);
    cm_free(cm);
}

/* Tokens spelling a text that repeats: random tokens, then the same tokens again. */
static uint32_t *repeated_tokens(const vocab_order *v, size_t half)
{
    uint32_t *ranks = malloc(2 * half * sizeof *ranks);
    rng r = { 7 };
    for (size_t i = 0; i < half; i++) ranks[i] = ranks[half + i] = rng_below(&r, v->n);
    return ranks;
}

/* Every version, and a table small enough that version 2's second bucket is in play. */
static const struct { int version; unsigned bits; } setups[] = {
    { 1, CM_BUCKET_BITS_SHORT }, { 2, CM_BUCKET_BITS_SHORT }, { 2, CM_BUCKET_BITS_LONG },
    { 1, 10 }, { 2, 10 },
    { 3, CM_BUCKET_BITS_SHORT }, { 3, CM_BUCKET_BITS_LONG }, { 3, 10 },
};
#define N_SETUPS (sizeof setups / sizeof setups[0])

static void use_setup(size_t i)
{
    models_version = setups[i].version;
    models_bits = setups[i].bits;
}

static void roundtrip_one(void)
{
    test_vocab *tv = vocab_make();
    size_t n = 3000, size;
    uint32_t *ranks = repeated_tokens(tv->order, n / 2);
    ranks[5] = tv->order->rank[956];            /* the duplicate "A" */
    ranks[6] = tv->order->rank['A'];
    uint8_t *buf = encode_tokens(tv->order, ranks, n, &size);
    uint32_t *back = malloc(n * sizeof *back);
    decode_tokens(tv->order, buf, size, back, n);
    assert_memory_equal(back, ranks, n * sizeof *ranks);
    free(back); free(buf); free(ranks);
    vocab_drop(tv);
}

/* Run fn under every setup, then go back to the first (what streams use). */
static void for_each_setup(void (*fn)(void))
{
    for (size_t i = 0; i < N_SETUPS; i++) {
        use_setup(i);
        fn();
    }
    use_setup(0);
}

static void test_roundtrip(void **state)
{
    (void)state;
    for_each_setup(roundtrip_one);
}

/* The second copy of a random text costs a small fraction of the first: the match and
 * context models learn what the (here uninformative) LM cannot know. */
static void test_models_learn_repeats(void **state)
{
    (void)state;
    test_vocab *tv = vocab_make();
    size_t half = 2000, once, twice;
    uint32_t *ranks = repeated_tokens(tv->order, half);
    uint8_t *a = encode_tokens(tv->order, ranks, half, &once);
    uint8_t *b = encode_tokens(tv->order, ranks, 2 * half, &twice);
    print_message("once %zu bytes, twice %zu\n", once, twice);
    assert_true(twice - once < once / 8);
    free(a); free(b); free(ranks);
    vocab_drop(tv);
}

/* Known answers: these change only with the format (doc/coder.md 4).  Version 1 as
 * version-1 streams use it; every version with a table of 2^10 buckets, where 1000
 * tokens collide often, so that the choice of bucket of versions 2-3 is pinned too;
 * version 3 as compact streams use it. */
static void test_known_answers(void **state)
{
    (void)state;
    assert_int_equal(cm_tables_digest(), 0x8bdb8274d51ea45eull);
    test_vocab *tv = vocab_make();
    uint32_t *ranks = repeated_tokens(tv->order, 500);
    static const struct { size_t setup, size; uint64_t hash; } want[] = {
        { 0, 864, 0x06018676bbd599acull },
        { 3, 881, 0x2f07d2d7db11e3b0ull },
        { 4, 880, 0xb3153795fdbe7933ull },
        { 7, 826, 0x42546336fb725c91ull },
        { 5, 804, 0xb5cf509f8c345c5eull },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        use_setup(want[i].setup);
        size_t size;
        uint8_t *buf = encode_tokens(tv->order, ranks, 1000, &size);
        print_message("version %d, 2^%u buckets: %zu bytes, XXH64 0x%016llx\n",
                      models_version, models_bits, size,
                      (unsigned long long)XXH64(buf, size, 0));
        assert_int_equal(size, want[i].size);
        assert_int_equal(XXH64(buf, size, 0), want[i].hash);
        free(buf);
    }
    use_setup(0);
    free(ranks);
    vocab_drop(tv);
}

/* cm_reset after a short stream undoes just what the stream changed, after a long one
 * it clears everything: either way the state is a new state's, and a stream coded after
 * it comes out byte for byte as from a new state. */
static void reset_one(void)
{
    test_vocab *tv = vocab_make();
    const vocab_order *v = tv->order;
    cm_state *fresh = new_state(), *used = new_state();
    uint64_t want = cm_state_digest(fresh);
    size_t half = 3000;         /* 6000 tokens: past every table's dirty list */
    uint32_t *ranks = repeated_tokens(v, half);
    /* First a stream of another version: a decoder's lane states serve any version. */
    size_t other_size;
    cm_reset(used, models_version == CM_VERSION_MAX ? 1 : CM_VERSION_MAX);
    free(encode_tokens_with(used, v, ranks, 150, &other_size));
    cm_reset(used, models_version);
    if (cm_state_digest(used) != want)
        fail_msg("version %d after a stream of another: the reset state differs from a new one",
                 models_version);
    for (int pass = 0; pass < 3; pass++) {
        size_t n = pass == 1 ? 2 * half : 150;
        size_t a_size, b_size;
        uint8_t *a = encode_tokens_with(used, v, ranks, n, &a_size);
        assert_true(cm_state_digest(used) != want);
        cm_reset(used, models_version);
        if (cm_state_digest(used) != want)
            fail_msg("pass %d (%zu tokens): the reset state differs from a new one", pass, n);
        uint8_t *b = encode_tokens(v, ranks, n, &b_size);
        assert_int_equal(a_size, b_size);
        assert_memory_equal(a, b, a_size);
        free(a);
        free(b);
    }
    free(ranks);
    cm_free(fresh);
    cm_free(used);
    vocab_drop(tv);
}

static void test_reset_is_fresh(void **state)
{
    (void)state;
    for_each_setup(reset_one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_sorted),
        cmocka_unit_test(test_walk_spends_the_lm_probability),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_models_learn_repeats),
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_reset_is_fresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
