/*
 * test_coder.c -- the range coder and the probability -> frequency quantizer
 * (src/coder, doc/coder.md).
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

#include "coder/quantize.h"
#include "coder/rangecoder.h"
#include "kernels/detmath.h"
#include "coder_overhead.h"
#include "test_rng.h"

#define T LMZ_FREQ_TOTAL

/* ------------------------------------------------------------ helpers */

static double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * 0x1p-53; }
static double rng_gauss(rng *r)
{
    double u = rng_unit(r), v = rng_unit(r);
    return sqrt(-2.0 * log(u + 0x1p-60)) * cos(6.283185307179586 * v);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

typedef enum row_kind {
    ROW_FLAT,        /* nearly equal logits */
    ROW_PEAKED,      /* one token far above N(0, 1) noise */
    ROW_ZIPF,        /* logit = -s ln(rank) + noise, ranks shuffled */
    ROW_GAUSS,       /* N(0, sigma) */
    ROW_WILD,        /* -inf, huge, tiny, subnormal, ties, values at the exp cut-off */
    ROW_KINDS
} row_kind;

/* Zipf-like logits with exponent s over shuffled ranks (the shape of LM outputs). */
static void fill_zipf(float *row, uint32_t n, double s, rng *r)
{
    for (uint32_t i = 0; i < n; i++) row[i] = (float)(-s * log((double)i + 1.0) + 0.3 * rng_gauss(r));
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = rng_below(r, i);
        float t = row[i - 1]; row[i - 1] = row[j]; row[j] = t;
    }
}

static void fill_row(float *row, uint32_t n, row_kind kind, rng *r)
{
    switch (kind) {
    case ROW_FLAT:
        for (uint32_t i = 0; i < n; i++) row[i] = (float)(1e-3 * rng_gauss(r));
        break;
    case ROW_PEAKED:
        for (uint32_t i = 0; i < n; i++) row[i] = (float)rng_gauss(r);
        row[rng_below(r, n)] = 25.0f;
        break;
    case ROW_ZIPF:
        fill_zipf(row, n, 0.8 + 2.0 * rng_unit(r), r);
        break;
    case ROW_GAUSS: {
        double sigma = 0.5 + 6.0 * rng_unit(r);
        for (uint32_t i = 0; i < n; i++) row[i] = (float)(sigma * rng_gauss(r));
        break;
    }
    default: {
        float m = (float)(20.0 * rng_gauss(r));
        for (uint32_t i = 0; i < n; i++) {
            switch (rng_below(r, 10)) {
            case 0: row[i] = -INFINITY; break;
            case 1: row[i] = -1e30f; break;
            case 2: row[i] = m; break;                                   /* ties at the max */
            case 3: row[i] = m + LMZ_EXP_LO + (float)(rng_unit(r) - 0.5) * 1e-3f; break;
            case 4: row[i] = 0x1p-140f * (float)rng_below(r, 100); break;  /* subnormal */
            case 5: row[i] = nextafterf(m, -INFINITY); break;             /* q may round to 2^31 */
            default: row[i] = m - (float)(40.0 * rng_unit(r)); break;
            }
        }
        row[rng_below(r, n)] = m;
        break;
    }
    }
}

static uint32_t n_isas(void) { return (uint32_t)quant_isa_best() + 1; }

/* ------------------------------------------------------------ quantizer */

/* The rule rests on lmz_expf(0) = 1 exactly (the largest logit weighs 2^31). */
static void test_expf_anchor(void **state)
{
    (void)state;
    assert_true(lmz_expf(0.0f) == 1.0f);
    assert_true(lmz_expf(-0.0f) == 1.0f);
    assert_true(lmz_expf(-INFINITY) == 0.0f);
}

static void check_cum_valid(const uint32_t *cum, uint32_t n)
{
    assert_int_equal(cum[0], 0);
    assert_int_equal(cum[n], T);
    for (uint32_t i = 0; i < n; i++) assert_true(cum[i + 1] > cum[i]);   /* freq >= 1 */
}

typedef struct logit_freq { float logit; uint32_t freq; } logit_freq;

static int by_logit(const void *a, const void *b)
{
    float x = ((const logit_freq *)a)->logit, y = ((const logit_freq *)b)->logit;
    return (x > y) - (x < y);
}

/* A strictly larger logit never gets a smaller frequency. */
static void check_monotone(const float *row, const uint32_t *cum, uint32_t n)
{
    logit_freq *lf = xmalloc(n * sizeof *lf);
    for (uint32_t i = 0; i < n; i++) { lf[i].logit = row[i]; lf[i].freq = cum[i + 1] - cum[i]; }
    qsort(lf, n, sizeof *lf, by_logit);
    uint32_t below = 0, group = 0;     /* max freq of smaller logits / of the current logit */
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0 && lf[i].logit > lf[i - 1].logit) {
            if (group > below) below = group;
            group = 0;
        }
        assert_true(lf[i].freq >= below);
        if (lf[i].freq > group) group = lf[i].freq;
    }
    free(lf);
}

static void test_quant_invariants(void **state)
{
    (void)state;
    rng r = { 1 };
    uint32_t sizes[] = { 1, 2, 3, 15, 16, 17, 100, 1000, 4099, 49152 };
    size_t max_n = 49152;
    float *row = xmalloc(max_n * sizeof *row);
    uint32_t *cum = xmalloc((max_n + 1) * sizeof *cum);
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        for (int kind = 0; kind < ROW_KINDS; kind++) {
            uint32_t n = sizes[si];
            fill_row(row, n, (row_kind)kind, &r);
            assert_int_equal(quant_cumfreq(row, n, cum), 0);
            check_cum_valid(cum, n);
            check_monotone(row, cum, n);
        }
    }
    free(row); free(cum);
}

/* The largest vocabulary, and one above it. */
static void test_quant_vocab_limits(void **state)
{
    (void)state;
    rng r = { 2 };
    uint32_t n = LMZ_QUANT_MAX_VOCAB;
    float *row = xmalloc(n * sizeof *row);
    uint32_t *cum = xmalloc((n + 1) * sizeof *cum);
    fill_row(row, n, ROW_ZIPF, &r);
    assert_int_equal(quant_cumfreq(row, n, cum), 0);
    check_cum_valid(cum, n);
    check_monotone(row, cum, n);
    fill_row(row, n, ROW_FLAT, &r);
    assert_int_equal(quant_cumfreq(row, n, cum), 0);
    check_cum_valid(cum, n);

    uint32_t start = 7, freq = 7;
    cum[0] = 12345;
    assert_int_equal(quant_cumfreq(row, n + 1, cum), -1);
    assert_int_equal(quant_cumfreq(row, 0, cum), -1);
    assert_int_equal(cum[0], 12345);
    assert_int_equal(quant_symbol(row, n + 1, 0, &start, &freq), -1);
    assert_int_equal(quant_symbol(row, 0, 0, &start, &freq), -1);
    assert_int_equal(quant_symbol(row, 10, 10, &start, &freq), -1);
    assert_int_equal(start, 7);
    assert_int_equal(freq, 7);
    free(row); free(cum);
}

/* NaN, +inf or all -inf: coded as if all logits were equal. */
static void test_quant_invalid_rows(void **state)
{
    (void)state;
    enum { N = 37 };
    float row[N], zero[N] = { 0 };
    uint32_t cum[N + 1], want[N + 1];
    assert_int_equal(quant_cumfreq(zero, N, want), 0);
    check_cum_valid(want, N);
    float bad[] = { NAN, -NAN, INFINITY };
    for (size_t b = 0; b < 3; b++) {
        for (uint32_t pos = 0; pos < N; pos += 9) {
            for (uint32_t i = 0; i < N; i++) row[i] = (float)i - 10.0f;
            row[pos] = bad[b];
            for (uint32_t isa = 0; isa < n_isas(); isa++) {
                assert_int_equal(quant_cumfreq_isa((quant_isa)isa, row, N, cum), 0);
                assert_memory_equal(cum, want, sizeof want);
                uint32_t start, freq;
                assert_int_equal(quant_symbol_isa((quant_isa)isa, row, N, 5, &start, &freq), 0);
                assert_int_equal(start, want[5]);
                assert_int_equal(freq, want[6] - want[5]);
            }
        }
    }
    for (uint32_t i = 0; i < N; i++) row[i] = -INFINITY;
    assert_int_equal(quant_cumfreq(row, N, cum), 0);
    assert_memory_equal(cum, want, sizeof want);
    /* Some -inf logits are a valid row: those tokens get the minimum frequency. */
    row[3] = 1.0f;
    assert_int_equal(quant_cumfreq(row, N, cum), 0);
    check_cum_valid(cum, N);
    assert_int_equal(cum[1] - cum[0], 1);
    assert_int_equal(cum[4] - cum[3], T - (N - 1));
}

/* Pinned outputs.  These numbers ARE the file format: if this test fails, the rule
 * changed and every existing .lmz file became undecodable.  Do not update the numbers
 * unless the format version changes too (doc/coder.md, doc/format.md). */
static void test_quant_known_answer(void **state)
{
    (void)state;
    const float row[12] = { 3.5f, -1.25f, 0.0f, 3.5f, -INFINITY, 10.0f,
                            9.99999904632568359375f /* the float below 10 */,
                            -80.0f, -100.0f, 2.0f, -0.5f, 7.25f };
    const uint32_t want[13] = { 0, 195214, 196903, 202798, 398012, 398013, 130242879,
                                260087615, 260087616, 260087617, 260131176, 260134752,
                                268435456 };
    uint32_t cum[13];
    for (uint32_t isa = 0; isa < n_isas(); isa++) {
        assert_int_equal(quant_cumfreq_isa((quant_isa)isa, row, 12, cum), 0);
        assert_memory_equal(cum, want, sizeof want);
    }

    /* Uniform rule: 3 equal logits. */
    const float flat[3] = { 0, 0, 0 };
    const uint32_t want_flat[4] = { 0, 89478486, 178956971, 268435456 };
    assert_int_equal(quant_cumfreq(flat, 3, cum), 0);
    assert_memory_equal(cum, want_flat, sizeof want_flat);

    /* A 5000-token row from an exact integer formula, pinned by a hash of cum
     * serialized little-endian. */
    enum { N = 5000 };
    float *big = xmalloc(N * sizeof *big);
    uint32_t *bc = xmalloc((N + 1) * sizeof *bc);
    uint8_t *bytes = xmalloc((N + 1) * 4);
    for (uint32_t i = 0; i < N; i++) big[i] = (float)((i * 7919u) % 2003u) / 64.0f - 20.0f;
    for (uint32_t isa = 0; isa < n_isas(); isa++) {
        assert_int_equal(quant_cumfreq_isa((quant_isa)isa, big, N, bc), 0);
        for (uint32_t i = 0; i <= N; i++)
            for (int b = 0; b < 4; b++) bytes[4 * i + b] = (uint8_t)(bc[i] >> (8 * b));
        assert_int_equal(XXH64(bytes, (N + 1) * 4, 0), UINT64_C(0xb0b335e74771d47d));
    }
    free(big); free(bc); free(bytes);
}

/* Every path gives the same bits, and quant_symbol agrees with quant_cumfreq. */
static void test_quant_paths_agree(void **state)
{
    (void)state;
    rng r = { 3 };
    uint32_t max_n = 70000;
    float *row = xmalloc(max_n * sizeof *row);
    uint32_t *ref = xmalloc((max_n + 1) * sizeof *ref);
    uint32_t *cum = xmalloc((max_n + 1) * sizeof *cum);
    print_message("quantizer paths compared: %u (best %d)\n", n_isas(), (int)quant_isa_best());
    for (int it = 0; it < 300; it++) {
        uint32_t n = it < 250 ? 1 + rng_below(&r, 600) : 1 + rng_below(&r, max_n);
        fill_row(row, n, (row_kind)(it % ROW_KINDS), &r);
        if (it % 7 == 0) {    /* spread over the whole range of lmz_expf */
            for (uint32_t i = 0; i < n; i++) row[i] = (float)(-90.0 * rng_unit(&r));
        }
        assert_int_equal(quant_cumfreq_isa(QUANT_ISA_SCALAR, row, n, ref), 0);
        check_cum_valid(ref, n);
        for (uint32_t isa = 0; isa < n_isas(); isa++) {
            assert_int_equal(quant_cumfreq_isa((quant_isa)isa, row, n, cum), 0);
            assert_memory_equal(cum, ref, (n + 1) * sizeof *ref);
            for (int k = 0; k < 6; k++) {
                uint32_t tok = k == 0 ? 0 : k == 1 ? n - 1 : rng_below(&r, n);
                if (k == 2) {     /* the token holding the remainder */
                    for (uint32_t i = 0; i < n; i++)
                        if (ref[i + 1] - ref[i] > ref[tok + 1] - ref[tok]) tok = i;
                }
                uint32_t start, freq;
                assert_int_equal(quant_symbol_isa((quant_isa)isa, row, n, tok, &start, &freq), 0);
                assert_int_equal(start, ref[tok]);
                assert_int_equal(freq, ref[tok + 1] - ref[tok]);
            }
        }
    }
    free(row); free(ref); free(cum);
}

static void test_quant_find(void **state)
{
    (void)state;
    rng r = { 4 };
    enum { N = 1000 };
    float row[N];
    uint32_t cum[N + 1];
    for (int it = 0; it < 20; it++) {
        uint32_t n = 1 + rng_below(&r, N);
        fill_row(row, n, ROW_ZIPF, &r);
        assert_int_equal(quant_cumfreq(row, n, cum), 0);
        for (uint32_t i = 0; i < n; i++) {
            assert_int_equal(quant_find(cum, n, cum[i]), i);
            assert_int_equal(quant_find(cum, n, cum[i + 1] - 1), i);
        }
        for (int k = 0; k < 1000; k++) {
            uint32_t t = rng_below(&r, T), i = quant_find(cum, n, t);
            assert_true(cum[i] <= t && t < cum[i + 1]);
        }
    }
}

/* ------------------------------------------------------------ range coder */

/* A coded symbol: modeled (start, freq) or uniform (value of n). */
typedef struct sym { uint32_t a, b; int uniform; } sym;

static void encode_syms(const sym *s, size_t n, rc_encoder *e)
{
    rc_enc_init(e);
    for (size_t i = 0; i < n; i++) {
        if (s[i].uniform) rc_enc_uniform(e, s[i].a, s[i].b);
        else rc_enc_encode(e, s[i].a, s[i].b);
    }
    assert_int_equal(rc_enc_finish(e), 0);
}

/* Decodes n symbols shaped like s (the decoder is told each symbol's distribution
 * only, here: the symbol's own interval, checked against the target). Returns how many
 * decoded equal s; *finish = rc_dec_finish. */
static size_t decode_syms(const sym *s, size_t n, const uint8_t *buf, size_t len, int *finish)
{
    rc_decoder d;
    rc_dec_init(&d, buf, len);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i].uniform) {
            same += rc_dec_uniform(&d, s[i].b) == s[i].a;
        } else {
            uint32_t t = rc_dec_target(&d);
            assert_true(t < T);
            int hit = s[i].a <= t && t - s[i].a < s[i].b;
            same += hit;
            /* On a miss, stand in the symbol [t, t + 1): the decoder must stay sane. */
            if (hit) rc_dec_update(&d, s[i].a, s[i].b);
            else rc_dec_update(&d, t, 1);
        }
    }
    *finish = rc_dec_finish(&d);
    return same;
}

/* The most bytes n symbols may take: 8 * bytes <= C + 8, where C is the symbols' cost
 * -log2(freq / T) or log2(n), plus the range truncation: < 2^-20 / ln 2 bits for a
 * modeled symbol (r = range >> 28 loses < 2^28 of range >= 2^48), < 2^-16 / ln 2 for a
 * uniform one (range / n loses < n <= 2^32).  doc/coder.md derives it. */
static double max_bits_of(const sym *s, size_t n)
{
    double bits = 8.0 + 1e-6;
    for (size_t i = 0; i < n; i++)
        bits += s[i].uniform ? log2((double)s[i].b) + 2.3e-5
                             : LMZ_FREQ_BITS - log2((double)s[i].b) + 1.4e-6;
    return bits;
}

static void roundtrip(const sym *s, size_t n)
{
    rc_encoder e;
    encode_syms(s, n, &e);
    int fin;
    assert_int_equal(decode_syms(s, n, e.buf, e.len, &fin), n);
    assert_int_equal(fin, 0);
    assert_true((double)e.len * 8.0 <= max_bits_of(s, n));
    rc_enc_free(&e);
}

/* Draw symbols from quantized rows of the given vocabulary, tokens sampled from the
 * quantized distribution itself. */
static sym *model_syms(size_t n, uint32_t n_vocab, row_kind kind, rng *r)
{
    enum { ROWS = 4 };
    float *row = xmalloc(n_vocab * sizeof *row);
    uint32_t *cum = xmalloc(ROWS * ((size_t)n_vocab + 1) * sizeof *cum);
    for (int k = 0; k < ROWS; k++) {
        fill_row(row, n_vocab, kind, r);
        assert_int_equal(quant_cumfreq(row, n_vocab, cum + k * ((size_t)n_vocab + 1)), 0);
    }
    sym *s = xmalloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++) {
        const uint32_t *c = cum + rng_below(r, ROWS) * ((size_t)n_vocab + 1);
        uint32_t tok = rng_below(r, 50) == 0 ? rng_below(r, n_vocab)   /* rare tokens too */
                                              : quant_find(c, n_vocab, rng_below(r, T));
        s[i].a = c[tok];
        s[i].b = c[tok + 1] - c[tok];
        s[i].uniform = 0;
    }
    free(row); free(cum);
    return s;
}

static void test_rc_roundtrip_models(void **state)
{
    (void)state;
    rng r = { 5 };
    struct { uint32_t n_vocab; row_kind kind; size_t n; } cases[] = {
        { 2, ROW_GAUSS, 100000 }, { 2, ROW_PEAKED, 50000 },
        { 1000, ROW_PEAKED, 100000 }, { 1000, ROW_FLAT, 50000 },
        { 49152, ROW_ZIPF, 100000 }, { 5000, ROW_WILD, 50000 },
        { LMZ_QUANT_MAX_VOCAB, ROW_ZIPF, 30000 }, { LMZ_QUANT_MAX_VOCAB, ROW_FLAT, 30000 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sym *s = model_syms(cases[c].n, cases[c].n_vocab, cases[c].kind, &r);
        roundtrip(s, cases[c].n);
        free(s);
    }
}

/* Extreme frequencies (1 and T), random ones, and uniform values of every size. */
static void test_rc_roundtrip_extremes(void **state)
{
    (void)state;
    rng r = { 6 };
    const uint32_t ns[] = { 1, 2, 3, 255, 256, 65537, 262144, T, T + 1, 1u << 31, UINT32_MAX };
    size_t n = 200000;
    sym *s = xmalloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++) {
        switch (rng_below(&r, 6)) {
        case 0: s[i].a = rng_below(&r, T); s[i].b = 1; s[i].uniform = 0; break;
        case 1: s[i].a = 0; s[i].b = T; s[i].uniform = 0; break;
        case 2: s[i].b = ns[rng_below(&r, sizeof ns / sizeof ns[0])];
                s[i].a = rng_below(&r, s[i].b); s[i].uniform = 1; break;
        case 3: s[i].a = T - 1 - rng_below(&r, 3); s[i].b = T - s[i].a; s[i].uniform = 0; break;
        default: s[i].b = 1 + rng_below(&r, T); s[i].a = rng_below(&r, T - s[i].b + 1);
                 s[i].uniform = 0; break;
        }
    }
    roundtrip(s, n);
    free(s);

    /* Nothing coded, or only certain symbols: no bytes at all. */
    sym certain[3] = { { 0, T, 0 }, { 0, 1, 1 }, { 0, T, 0 } };
    rc_encoder e;
    encode_syms(certain, 0, &e);
    assert_int_equal(e.len, 0);
    rc_enc_free(&e);
    encode_syms(certain, 3, &e);
    assert_int_equal(e.len, 0);
    int fin;
    assert_int_equal(decode_syms(certain, 3, NULL, 0, &fin), 3);
    assert_int_equal(fin, 0);
    rc_enc_free(&e);
}

/* Short streams end in both ways rc_enc_finish has (a multiple of 2^56 or of 2^48 in
 * the interval), and rc_dec_finish accepts them; it accepts nothing else that decodes
 * to the same symbols (the accepted input is exactly the encoding of what it decoded). */
static void test_rc_flush(void **state)
{
    (void)state;
    rng r = { 12 };
    int endings[2] = { 0, 0 };
    for (int it = 0; it < 3000; it++) {
        size_t n = rng_below(&r, 12);
        sym s[12];
        for (size_t i = 0; i < n; i++) {
            s[i].b = 1 + (uint32_t)(rng_next(&r) >> (36 + rng_below(&r, 28)));
            s[i].a = rng_below(&r, T - s[i].b + 1);
            s[i].uniform = 0;
        }
        rc_encoder e;
        encode_syms(s, n, &e);
        assert_true((double)e.len * 8.0 <= max_bits_of(s, n));
        uint8_t *b = xmalloc(e.len + 1);
        memcpy(b, e.buf, e.len);
        rc_decoder d;
        rc_dec_init(&d, b, e.len);
        for (size_t i = 0; i < n; i++) {
            uint32_t t = rc_dec_target(&d);
            assert_true(s[i].a <= t && t - s[i].a < s[i].b);
            rc_dec_update(&d, s[i].a, s[i].b);
        }
        assert_int_equal(rc_dec_finish(&d), 0);
        endings[d.window != 0]++;
        /* A byte more or less may decode as another valid stream, never as this one. */
        int fin;
        b[e.len] = (uint8_t)rng_below(&r, 256);
        assert_true(decode_syms(s, n, b, e.len + 1, &fin) < n || fin != 0);
        if (e.len > 0) assert_true(decode_syms(s, n, b, e.len - 1, &fin) < n || fin != 0);
        free(b);
        rc_enc_free(&e);
    }
    assert_true(endings[0] > 0 && endings[1] > 0);
}

/* The converse: whatever bytes rc_dec_finish accepts are exactly the encoding of the
 * symbols decoded from them (random short inputs, a coarse table so some are accepted). */
static void test_rc_accepts_only_encodings(void **state)
{
    (void)state;
    rng r = { 13 };
    const float row[4] = { 1.0f, 0.0f, 2.0f, -1.0f };
    uint32_t cum[5];
    assert_int_equal(quant_cumfreq(row, 4, cum), 0);
    int accepted = 0;
    for (int it = 0; it < 20000; it++) {
        uint8_t in[4];
        size_t len = rng_below(&r, 4), n = rng_below(&r, 12);
        for (size_t i = 0; i < len; i++) in[i] = (uint8_t)rng_below(&r, 256);
        rc_decoder d;
        rc_dec_init(&d, in, len);
        rc_encoder e;
        rc_enc_init(&e);
        for (size_t i = 0; i < n; i++) {
            uint32_t tok = quant_find(cum, 4, rc_dec_target(&d));
            rc_dec_update(&d, cum[tok], cum[tok + 1] - cum[tok]);
            rc_enc_encode(&e, cum[tok], cum[tok + 1] - cum[tok]);
        }
        assert_int_equal(rc_enc_finish(&e), 0);
        if (rc_dec_finish(&d) == 0) {
            accepted++;
            assert_int_equal(e.len, len);
            assert_memory_equal(e.buf, in, len);
        }
        rc_enc_free(&e);
    }
    print_message("random inputs accepted: %d of 20000\n", accepted);
    assert_true(accepted > 100);
}

/* Longest run of `byte` in buf. */
static size_t longest_run(const uint8_t *buf, size_t len, uint8_t byte)
{
    size_t best = 0, run = 0;
    for (size_t i = 0; i < len; i++) {
        run = buf[i] == byte ? run + 1 : 0;
        if (run > best) best = run;
    }
    return best;
}

/* A carry rolling over a long run of 0xFF bytes, built on purpose: each symbol's
 * interval straddles the carry boundary (2^56 in the encoder's window), so every byte
 * leaving the window is 0xFF and stays pending; the last symbol lands just above the
 * boundary (the run becomes 0x00 bytes) or just below (it is written as 0xFF). */
static void test_rc_carry(void **state)
{
    (void)state;
    rng r = { 7 };
    const uint64_t boundary = UINT64_C(1) << 56;
    for (int variant = 0; variant < 2; variant++) {   /* 0: carry; 1: no carry */
        enum { N = 400 };
        sym s[N];
        rc_encoder e;
        rc_enc_init(&e);
        uint64_t max_pending = 0;
        for (size_t i = 0; i < N; i++) {
            uint64_t rr = e.range >> LMZ_FREQ_BITS;
            uint64_t k = e.low < boundary ? (boundary - e.low) / rr : T; /* symbol at it */
            if (i < 5 || !e.has_cache || k < 1 || k + 1 >= T) {
                s[i].a = rng_below(&r, T / 2);
                s[i].b = 1 + rng_below(&r, T / 4);
            } else if (i < N - 1) {
                s[i].a = (uint32_t)k;
                s[i].b = 1;
            } else {
                s[i].a = (uint32_t)(variant == 0 ? k + 1 : k - 1);
                s[i].b = 1;
            }
            s[i].uniform = 0;
            rc_enc_encode(&e, s[i].a, s[i].b);
            if (e.pending > max_pending) max_pending = e.pending;
        }
        assert_int_equal(rc_enc_finish(&e), 0);
        assert_true(max_pending >= 100);
        assert_true(longest_run(e.buf, e.len, variant == 0 ? 0x00 : 0xFF) >= max_pending);
        int fin;
        assert_int_equal(decode_syms(s, N, e.buf, e.len, &fin), N);
        assert_int_equal(fin, 0);
        rc_enc_free(&e);
    }
}

/* Truncated, extended, corrupted or random input: never out of bounds (ASan checks),
 * never the original symbols without a complaint. */
static void test_rc_corrupt_input(void **state)
{
    (void)state;
    rng r = { 8 };
    size_t n = 3000;
    sym *s = model_syms(n, 1000, ROW_ZIPF, &r);
    rc_encoder e;
    encode_syms(s, n, &e);
    size_t len = e.len;
    assert_true(len > 100);
    int fin;

    size_t cuts[] = { 0, 1, 2, 7, len / 4, len / 2, len - 8, len - 2, len - 1 };
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        uint8_t *b = xmalloc(cuts[c]);          /* exact size: ASan sees any over-read */
        memcpy(b, e.buf, cuts[c]);
        size_t same = decode_syms(s, n, b, cuts[c], &fin);
        assert_true(same < n || fin != 0);
        free(b);
    }

    uint8_t *b = xmalloc(len + 1);              /* a stray byte after the stream */
    memcpy(b, e.buf, len);
    b[len] = 0x5A;
    assert_int_equal(decode_syms(s, n, b, len + 1, &fin), n);
    assert_int_equal(fin, -1);

    for (int k = 0; k < 200; k++) {             /* single bit flips */
        memcpy(b, e.buf, len);
        size_t pos = rng_below(&r, (uint32_t)(len * 9 / 10));
        b[pos] ^= (uint8_t)(1u << rng_below(&r, 8));
        size_t same = decode_syms(s, n, b, len, &fin);
        assert_true(same < n || fin != 0);
    }
    free(b);

    /* Random bytes decoded with real tables: targets stay in range, no crash. */
    enum { NB = 4096, V = 1000 };
    uint8_t *junk = xmalloc(NB);
    for (size_t i = 0; i < NB; i++) junk[i] = (uint8_t)rng_next(&r);
    float row[V];
    uint32_t cum[V + 1];
    fill_row(row, V, ROW_FLAT, &r);            /* about 10 bits a symbol */
    assert_int_equal(quant_cumfreq(row, V, cum), 0);
    rc_decoder d;
    rc_dec_init(&d, junk, NB);
    for (int i = 0; i < 20000; i++) {
        uint32_t t = rc_dec_target(&d);
        assert_true(t < T);
        uint32_t tok = quant_find(cum, V, t);
        assert_true(tok < V);
        rc_dec_update(&d, cum[tok], cum[tok + 1] - cum[tok]);
        assert_true(d.code < d.range);
    }
    assert_int_equal(d.overrun, 1);               /* they need 25 KB: the input ran out */
    assert_int_equal(rc_dec_finish(&d), -1);
    free(junk);

    free(s);
    rc_enc_free(&e);
}

/* Invalid calls are flagged, never hang or crash. */
static void test_rc_misuse(void **state)
{
    (void)state;
    rc_encoder e;
    rc_enc_init(&e);
    rc_enc_encode(&e, 0, 0);
    rc_enc_encode(&e, T - 1, 2);
    rc_enc_uniform(&e, 5, 5);
    rc_enc_uniform(&e, 0, 0);
    assert_int_equal(rc_enc_finish(&e), -1);
    rc_enc_free(&e);

    uint8_t buf[16] = { 0x12, 0x34 };
    rc_decoder d;
    rc_dec_init(&d, buf, sizeof buf);
    uint32_t t = rc_dec_target(&d);
    rc_dec_update(&d, t + 1, 1);             /* a symbol that does not hold the target */
    assert_int_equal(d.overrun, 1);
    rc_dec_init(&d, buf, sizeof buf);
    rc_dec_update(&d, 0, 0);
    assert_int_equal(d.overrun, 1);
    rc_dec_init(&d, buf, sizeof buf);
    (void)rc_dec_uniform(&d, 0);
    assert_int_equal(d.overrun, 1);
}

/* ------------------------------------------------------------ overhead */

enum { ROWS = 10 };

/* Synthetic model rows: Zipf-shaped logits, one exponent s_of[k] per row.  Tokens are
 * drawn from the exact (double) softmax of each row, and the coder's bytes are compared
 * with the ideal sum of -log2 p.  Returns the overhead; *entropy = the rows' mean. */
static double measure_overhead(uint32_t n_vocab, size_t n_tokens, const double *s_of,
                               double *mean_entropy, rng *r)
{
    size_t stride = (size_t)n_vocab + 1;
    float *rows = xmalloc(ROWS * (size_t)n_vocab * sizeof *rows);
    uint32_t *cum = xmalloc(ROWS * stride * sizeof *cum);
    double *cdf = xmalloc(ROWS * stride * sizeof *cdf);
    double *lse = xmalloc(ROWS * sizeof *lse);
    double entropy = 0;
    for (int k = 0; k < ROWS; k++) {
        float *row = rows + (size_t)k * n_vocab;
        fill_zipf(row, n_vocab, s_of[k], r);
        assert_int_equal(quant_cumfreq(row, n_vocab, cum + k * stride), 0);
        double m = -INFINITY, sum = 0, h = 0;
        for (uint32_t i = 0; i < n_vocab; i++) if (row[i] > m) m = row[i];
        double *c = cdf + k * stride;
        c[0] = 0;
        for (uint32_t i = 0; i < n_vocab; i++) { sum += exp((double)row[i] - m); c[i + 1] = sum; }
        lse[k] = m + log(sum);
        for (uint32_t i = 0; i < n_vocab; i++) {
            double p = (c[i + 1] - c[i]) / sum;
            if (p > 0) h -= p * log2(p);
        }
        entropy += h / ROWS;
    }
    *mean_entropy = entropy;

    coder_meter meter;
    coder_meter_init(&meter, n_vocab);
    uint32_t *toks = xmalloc(n_tokens * sizeof *toks);
    uint8_t *row_of = xmalloc(n_tokens);
    for (size_t t = 0; t < n_tokens; t++) {
        int k = (int)rng_below(r, ROWS);
        const double *c = cdf + k * stride;
        double u = rng_unit(r) * c[n_vocab];
        uint32_t lo = 0, hi = n_vocab;               /* c[lo] <= u < c[hi] */
        while (hi - lo > 1) { uint32_t mid = (lo + hi) / 2; if (c[mid] <= u) lo = mid; else hi = mid; }
        const float *row = rows + (size_t)k * n_vocab;
        double bits = (lse[k] - (double)row[lo]) / log(2.0);
        coder_meter_add_quantized(&meter, cum + k * stride, lo, bits);
        toks[t] = lo;
        row_of[t] = (uint8_t)k;
    }
    assert_int_equal(coder_meter_finish(&meter), 0);
    double overhead = coder_meter_overhead(&meter);
    print_message("overhead V=%u: %zu tokens, model entropy %.3f bits/token, ideal %.1f bits, "
                  "coded %zu bytes = %.4f bits/token, overhead %.4f%%\n",
                  n_vocab, n_tokens, entropy, meter.ideal_bits, meter.coded_bytes,
                  (double)meter.coded_bytes * 8.0 / (double)n_tokens, overhead * 100.0);

    /* And the stream decodes back. */
    rc_decoder d;
    rc_dec_init(&d, meter.enc.buf, meter.enc.len);
    for (size_t t = 0; t < n_tokens; t++) {
        const uint32_t *c = cum + row_of[t] * stride;
        uint32_t tok = quant_find(c, n_vocab, rc_dec_target(&d));
        assert_int_equal(tok, toks[t]);
        rc_dec_update(&d, c[tok], c[tok + 1] - c[tok]);
    }
    assert_int_equal(rc_dec_finish(&d), 0);

    coder_meter_free(&meter);
    free(rows); free(cum); free(cdf); free(lse); free(toks); free(row_of);
    return overhead;
}

/* Exponents giving entropies from about 6 down to about 2 bits a token. */
static const double s_typical[ROWS] = { 1.3, 1.35, 1.4, 1.45, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0 };
/* Confident predictions, about 2 bits down to 0.3: the hardest case in relative terms,
 * as every token pays the same small absolute cost for the minimum frequencies. */
static const double s_confident[ROWS] = { 2.0, 2.2, 2.4, 2.6, 2.8, 3.0, 3.3, 3.6, 4.0, 4.5 };

/* The requirement: under 0.5% at 2-6 bits a token. */
static void test_overhead_49152(void **state)
{
    (void)state;
    rng r = { 9 };
    double h, o = measure_overhead(49152, 100000, s_typical, &h, &r);
    assert_true(h > 2.0 && h < 6.0);
    assert_true(o < 0.005);
}

static void test_overhead_262144(void **state)
{
    (void)state;
    rng r = { 10 };
    double h, o = measure_overhead(LMZ_QUANT_MAX_VOCAB, 100000, s_typical, &h, &r);
    assert_true(h > 2.0 && h < 6.0);
    assert_true(o < 0.005);
}

static void test_overhead_confident(void **state)
{
    (void)state;
    rng r = { 14 };
    double h, o = measure_overhead(LMZ_QUANT_MAX_VOCAB, 100000, s_confident, &h, &r);
    assert_true(h > 0.3 && h < 2.0);
    assert_true(o < 0.01);
}

/* The meter's per-row path (as used with a real model) agrees with the precomputed one. */
static void test_meter_add(void **state)
{
    (void)state;
    rng r = { 11 };
    enum { V = 3000, N = 200 };
    float *row = xmalloc(V * sizeof *row);
    uint32_t cum[V + 1];
    coder_meter a, b;
    coder_meter_init(&a, V);
    coder_meter_init(&b, V);
    for (int t = 0; t < N; t++) {
        fill_row(row, V, ROW_ZIPF, &r);
        assert_int_equal(quant_cumfreq(row, V, cum), 0);
        uint32_t tok = quant_find(cum, V, rng_below(&r, T));
        assert_int_equal(coder_meter_add(&a, row, tok), 0);
        coder_meter_add_quantized(&b, cum, tok, coder_ideal_bits(row, V, tok));
    }
    assert_int_equal(coder_meter_add(&a, row, V), -1);
    assert_int_equal(coder_meter_finish(&a), 0);
    assert_int_equal(coder_meter_finish(&b), 0);
    assert_int_equal(a.coded_bytes, b.coded_bytes);
    assert_memory_equal(a.enc.buf, b.enc.buf, a.coded_bytes);
    assert_true(a.ideal_bits == b.ideal_bits);
    assert_true(fabs(coder_meter_overhead(&a)) < 0.05);
    coder_meter_free(&a);
    coder_meter_free(&b);
    free(row);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expf_anchor),
        cmocka_unit_test(test_quant_invariants),
        cmocka_unit_test(test_quant_vocab_limits),
        cmocka_unit_test(test_quant_invalid_rows),
        cmocka_unit_test(test_quant_known_answer),
        cmocka_unit_test(test_quant_paths_agree),
        cmocka_unit_test(test_quant_find),
        cmocka_unit_test(test_rc_roundtrip_models),
        cmocka_unit_test(test_rc_roundtrip_extremes),
        cmocka_unit_test(test_rc_flush),
        cmocka_unit_test(test_rc_accepts_only_encodings),
        cmocka_unit_test(test_rc_carry),
        cmocka_unit_test(test_rc_corrupt_input),
        cmocka_unit_test(test_rc_misuse),
        cmocka_unit_test(test_overhead_49152),
        cmocka_unit_test(test_overhead_262144),
        cmocka_unit_test(test_overhead_confident),
        cmocka_unit_test(test_meter_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
