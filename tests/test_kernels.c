/*
 * test_kernels.c -- every SIMD kernel against the scalar reference, bit for bit; the
 * scalar kernels against their definitions in kernels.h; lmz_expf and the detmath double
 * functions against libm (allowed here: tests are not on the probability path); the
 * thread pool's task accounting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/detmath.h"
#include "kernels/kernels.h"
#include "kernels/f16.h"
#include "gguf/gguf.h"
#include "util/threadpool.h"

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static float rndf(void) { return ((float)(rnd() % 2000001) - 1000000.0f) / 1000000.0f; }

/* Every SIMD path; a build has those of its architecture (x86-64: AVX2, AVX-512;
 * AArch64: NEON) and skips the others. */
static const lmz_simd simd_paths[] = {LMZ_SIMD_AVX2, LMZ_SIMD_AVX512, LMZ_SIMD_NEON};
#define N_SIMD_PATHS (sizeof simd_paths / sizeof simd_paths[0])

/* The SIMD paths this CPU has; prints the ones it lacks once. */
static int have_path(lmz_simd s)
{
    if (lmz_kernels_get(s)) return 1;
    static int said[LMZ_SIMD_NEON + 1];
    if (!said[s]) print_message("note: CPU lacks the %s path; its checks are skipped\n",
                                lmz_simd_path_name(s));
    said[s] = 1;
    return 0;
}

static int same_bits(const float *a, const float *b, size_t n, size_t *where)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], 4) != 0) { *where = i; return 0; }
    return 1;
}

static void row_f32(const void *src, uint32_t r, uint32_t n_in, float *out)
{
    memcpy(out, (const float *)src + (size_t)r * n_in, n_in * sizeof(float));
}

/* ---------------------------------------------------------------- f32 matmul */

static const uint32_t mm_outs[] = {1, 5, 16, 17, 31, 32, 33, 48, 100};
static const uint32_t mm_ins[] = {1, 3, 16, 67, 130};
static const uint32_t mm_toks[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 16, 17, 64};

static void test_mm_f32_scalar_is_the_chain(void **state)
{
    (void)state;
    const lmz_kernels *ks = lmz_kernels_get(LMZ_SIMD_SCALAR);
    uint32_t n_out = 37, n_in = 53, n_tok = 5;
    float *w = malloc(sizeof(float) * n_out * n_in), *x = malloc(sizeof(float) * n_tok * n_in);
    float *wp = malloc(lmz_f32_panels_bytes(n_out, n_in)), *tmp = malloc(sizeof(float) * n_in);
    float *y = malloc(sizeof(float) * n_tok * n_out);
    for (uint32_t i = 0; i < n_out * n_in; i++) w[i] = rndf();
    for (uint32_t i = 0; i < n_tok * n_in; i++) x[i] = rndf();
    lmz_pack_f32(wp, w, row_f32, n_out, n_in, tmp);
    ks->mm_f32(wp, n_in, n_out, 0, lmz_n_panels(n_out), x, n_in, n_tok, y, n_out);
    double maxrel = 0;
    for (uint32_t t = 0; t < n_tok; t++)
        for (uint32_t r = 0; r < n_out; r++) {
            float acc = 0.0f;
            double ref = 0;
            for (uint32_t k = 0; k < n_in; k++) {
                acc = fmaf(w[r * n_in + k], x[t * n_in + k], acc);
                ref += (double)w[r * n_in + k] * x[t * n_in + k];
            }
            assert_memory_equal(&acc, &y[t * n_out + r], 4);
            double rel = fabs(acc - ref) / (fabs(ref) + 1e-3);
            if (rel > maxrel) maxrel = rel;
        }
    assert_true(maxrel < 1e-5);
    free(w); free(x); free(wp); free(tmp); free(y);
}

/* A product under test: mm_f32 or mm_f16 of one path. */
typedef void (*product_fn)(const lmz_kernels *k, const void *w, uint32_t n_in, uint32_t n_out,
                           uint32_t p0, uint32_t p1, const float *x, size_t ldx, uint32_t n_tok,
                           float *y, size_t ldy);
static void call_mm_f32(const lmz_kernels *k, const void *w, uint32_t n_in, uint32_t n_out,
                        uint32_t p0, uint32_t p1, const float *x, size_t ldx, uint32_t n_tok,
                        float *y, size_t ldy)
{
    k->mm_f32(w, n_in, n_out, p0, p1, x, ldx, n_tok, y, ldy);
}
static void call_mm_f16(const lmz_kernels *k, const void *w, uint32_t n_in, uint32_t n_out,
                        uint32_t p0, uint32_t p1, const float *x, size_t ldx, uint32_t n_tok,
                        float *y, size_t ldy)
{
    k->mm_f16(w, n_in, n_out, p0, p1, x, ldx, n_tok, y, ldy);
}

/* Over the whole range of panels and a sub-range (what one thread gets): `fn` of each of
 * the n_paths paths on w, bit for bit the scalar mm_f32 on the f32 panels wref.  y0, y1:
 * n_tok * ldy floats of scratch.  Returns the configurations checked. */
static size_t check_product(const char *what, product_fn fn, const lmz_simd *paths,
                            size_t n_paths, const void *w, const float *wref, uint32_t n_in,
                            uint32_t n_out, const float *x, size_t ldx, uint32_t n_tok,
                            float *y0, float *y1, size_t ldy)
{
    const lmz_kernels *ks = lmz_kernels_get(LMZ_SIMD_SCALAR);
    uint32_t np = lmz_n_panels(n_out);
    uint32_t ranges[2][2] = {{0, np}, {np / 3, np - np / 4}};
    size_t checked = 0;
    for (int rg = 0; rg < 2; rg++) {
        uint32_t p0 = ranges[rg][0], p1 = ranges[rg][1];
        memset(y0, 0x7f, sizeof(float) * n_tok * ldy);
        ks->mm_f32(wref, n_in, n_out, p0, p1, x, ldx, n_tok, y0, ldy);
        for (size_t s = 0; s < n_paths; s++) {
            if (!have_path(paths[s])) continue;
            const lmz_kernels *kv = lmz_kernels_get(paths[s]);
            memset(y1, 0x7f, sizeof(float) * n_tok * ldy);
            fn(kv, w, n_in, n_out, p0, p1, x, ldx, n_tok, y1, ldy);
            size_t where;
            if (!same_bits(y0, y1, (size_t)n_tok * ldy, &where))
                fail_msg("%s %s n_out=%u n_in=%u n_tok=%u panels [%u,%u): differs at %zu",
                         kv->name, what, n_out, n_in, n_tok, p0, p1, where);
            checked++;
        }
    }
    return checked;
}

static void test_mm_f32_simd_matches_scalar(void **state)
{
    (void)state;
    size_t checked = 0;
    for (size_t io = 0; io < sizeof mm_outs / sizeof *mm_outs; io++)
        for (size_t ii = 0; ii < sizeof mm_ins / sizeof *mm_ins; ii++) {
            uint32_t n_out = mm_outs[io], n_in = mm_ins[ii];
            size_t ldx = n_in + 3, ldy = n_out + 5;
            uint32_t max_tok = 64;
            float *w = malloc(sizeof(float) * n_out * n_in);
            float *wp = malloc(lmz_f32_panels_bytes(n_out, n_in));
            float *tmp = malloc(sizeof(float) * n_in);
            float *x = malloc(sizeof(float) * max_tok * ldx);
            float *y0 = malloc(sizeof(float) * max_tok * ldy), *y1 = malloc(sizeof(float) * max_tok * ldy);
            assert_non_null(w); assert_non_null(wp); assert_non_null(x);
            for (uint32_t i = 0; i < n_out * n_in; i++) w[i] = rndf();
            for (size_t i = 0; i < max_tok * ldx; i++) x[i] = rndf();
            lmz_pack_f32(wp, w, row_f32, n_out, n_in, tmp);
            for (size_t it = 0; it < sizeof mm_toks / sizeof *mm_toks; it++)
                checked += check_product("mm_f32", call_mm_f32, simd_paths, N_SIMD_PATHS, wp, wp,
                                         n_in, n_out, x, ldx, mm_toks[it], y0, y1, ldy);
            free(w); free(wp); free(tmp); free(x); free(y0); free(y1);
        }
    print_message("mm_f32: %zu SIMD configurations bit-identical to scalar\n", checked);
}

/* ---------------------------------------------------------------- Q8_0 matmul */

/* Random GGUF Q8_0 rows; includes -128 quants (legal in the format) and all-zero blocks. */
static uint8_t *make_q8_rows(uint32_t n_out, uint32_t n_in)
{
    uint32_t nb = n_in / 32;
    uint8_t *raw = malloc((size_t)n_out * nb * 34);
    for (size_t b = 0; b < (size_t)n_out * nb; b++) {
        uint8_t *blk = raw + b * 34;
        uint16_t d = lmz_f32_to_f16((float)(rnd() % 1000 + 1) * 1e-4f);
        blk[0] = (uint8_t)d; blk[1] = (uint8_t)(d >> 8);
        int zero = rnd() % 17 == 0;
        for (int k = 0; k < 32; k++) {
            int v = zero ? 0 : (int)(rnd() % 256) - 128;
            blk[2 + k] = (uint8_t)(int8_t)v;
        }
    }
    return raw;
}

static void test_mm_q8_scalar_is_the_definition(void **state)
{
    (void)state;
    const lmz_kernels *ks = lmz_kernels_get(LMZ_SIMD_SCALAR);
    uint32_t n_out = 21, n_in = 96, n_tok = 3, nb = n_in / 32;
    uint8_t *raw = make_q8_rows(n_out, n_in);
    uint8_t *wp = malloc(lmz_q8_panels_bytes(n_out, n_in));
    float *x = malloc(sizeof(float) * n_tok * n_in), *xd = malloc(sizeof(float) * n_tok * nb);
    int8_t *xq = malloc((size_t)n_tok * n_in);
    float *y = malloc(sizeof(float) * n_tok * n_out);
    for (uint32_t i = 0; i < n_tok * n_in; i++) x[i] = rndf() * 3;
    for (uint32_t t = 0; t < n_tok; t++) lmz_q8_quantize(x + t * n_in, n_in, xq + t * n_in, xd + t * nb);
    lmz_pack_q8(wp, raw, n_out, n_in);
    ks->mm_q8(wp, n_in, n_out, 0, lmz_n_panels(n_out), xq, xd, n_tok, y, n_out);
    for (uint32_t t = 0; t < n_tok; t++)
        for (uint32_t r = 0; r < n_out; r++) {
            float acc = 0.0f;
            double ref = 0, bound = 1e-3;
            for (uint32_t b = 0; b < nb; b++) {
                const uint8_t *blk = raw + ((size_t)r * nb + b) * 34;
                float dw = lmz_f16_to_f32((uint16_t)(blk[0] | blk[1] << 8));
                int32_t isum = 0;
                for (int k = 0; k < 32; k++) {
                    isum += (int8_t)blk[2 + k] * xq[t * n_in + b * 32 + k];
                    ref += (double)dw * (int8_t)blk[2 + k] * x[t * n_in + b * 32 + k];
                    /* x is off by at most half a step of its block's scale (+ f16 error) */
                    bound += fabs((double)dw * (int8_t)blk[2 + k]) * xd[t * nb + b] * 0.51;
                }
                acc = fmaf((float)isum, dw * xd[t * nb + b], acc);
            }
            assert_memory_equal(&acc, &y[t * n_out + r], 4);
            assert_true(fabs(acc - ref) < bound);
        }
    free(raw); free(wp); free(x); free(xd); free(xq); free(y);
}

static void test_mm_q8_simd_matches_scalar(void **state)
{
    (void)state;
    const lmz_kernels *ks = lmz_kernels_get(LMZ_SIMD_SCALAR);
    static const uint32_t q8_ins[] = {32, 64, 160};
    size_t checked = 0;
    for (size_t io = 0; io < sizeof mm_outs / sizeof *mm_outs; io++)
        for (size_t ii = 0; ii < sizeof q8_ins / sizeof *q8_ins; ii++) {
            uint32_t n_out = mm_outs[io], n_in = q8_ins[ii], nb = n_in / 32;
            uint32_t np = lmz_n_panels(n_out), max_tok = 64;
            size_t ldy = n_out + 2;
            uint8_t *raw = make_q8_rows(n_out, n_in);
            uint8_t *wp = malloc(lmz_q8_panels_bytes(n_out, n_in));
            float *x = malloc(sizeof(float) * max_tok * n_in), *xd = malloc(sizeof(float) * max_tok * nb);
            int8_t *xq = malloc((size_t)max_tok * n_in);
            float *y0 = malloc(sizeof(float) * max_tok * ldy), *y1 = malloc(sizeof(float) * max_tok * ldy);
            for (uint32_t i = 0; i < max_tok * n_in; i++) x[i] = rndf();
            for (uint32_t i = 0; i < 32; i++) x[i] = 0.0f;      /* an all-zero block: id = 0 */
            for (uint32_t t = 0; t < max_tok; t++)
                lmz_q8_quantize(x + t * n_in, n_in, xq + t * n_in, xd + t * nb);
            lmz_pack_q8(wp, raw, n_out, n_in);
            for (size_t it = 0; it < sizeof mm_toks / sizeof *mm_toks; it++) {
                uint32_t n_tok = mm_toks[it];
                uint32_t ranges[2][2] = {{0, np}, {np / 3, np - np / 4}};
                for (int rg = 0; rg < 2; rg++) {
                    uint32_t p0 = ranges[rg][0], p1 = ranges[rg][1];
                    memset(y0, 0x7f, sizeof(float) * max_tok * ldy);
                    ks->mm_q8(wp, n_in, n_out, p0, p1, xq, xd, n_tok, y0, ldy);
                    for (size_t s = 0; s < N_SIMD_PATHS; s++) {
                        if (!have_path(simd_paths[s])) continue;
                        const lmz_kernels *kv = lmz_kernels_get(simd_paths[s]);
                        memset(y1, 0x7f, sizeof(float) * max_tok * ldy);
                        kv->mm_q8(wp, n_in, n_out, p0, p1, xq, xd, n_tok, y1, ldy);
                        size_t where;
                        if (!same_bits(y0, y1, (size_t)n_tok * ldy, &where))
                            fail_msg("%s mm_q8 n_out=%u n_in=%u n_tok=%u panels [%u,%u): "
                                     "differs at %zu", kv->name, n_out, n_in, n_tok, p0, p1, where);
                        checked++;
                    }
                }
            }
            free(raw); free(wp); free(x); free(xd); free(xq); free(y0); free(y1);
        }
    print_message("mm_q8: %zu SIMD configurations bit-identical to scalar\n", checked);
}

static void test_q8_quantize_rule(void **state)
{
    (void)state;
    float x[64];
    int8_t q[64];
    float d[2];
    /* amax 127 -> id = 1: q = round-half-even(x). */
    for (int k = 0; k < 32; k++) x[k] = (float)k - 15.5f;     /* halves: -15.5 .. 15.5 */
    x[31] = 127.0f;
    for (int k = 32; k < 64; k++) x[k] = 0.0f;                /* zero block */
    lmz_q8_quantize(x, 64, q, d);
    assert_true(d[0] == 1.0f);
    assert_int_equal(q[0], -16);   /* -15.5 -> -16 (even) */
    assert_int_equal(q[1], -14);   /* -14.5 -> -14 */
    assert_int_equal(q[16], 0);    /* 0.5 -> 0 */
    assert_int_equal(q[17], 2);    /* 1.5 -> 2 */
    assert_int_equal(q[31], 127);
    assert_true(d[1] == 0.0f);
    for (int k = 32; k < 64; k++) assert_int_equal(q[k], 0);
    /* d is amax/127 rounded to f16; x * (127/amax) rounds to the nearest integer. */
    for (int k = 0; k < 32; k++) x[k] = rndf();
    lmz_q8_quantize(x, 32, q, d);
    float amax = 0;
    for (int k = 0; k < 32; k++) if (fabsf(x[k]) > amax) amax = fabsf(x[k]);
    assert_true(d[0] == lmz_f16_to_f32(lmz_f32_to_f16(amax / 127.0f)));
    for (int k = 0; k < 32; k++) assert_int_equal(q[k], (int)nearbyintf(x[k] * (127.0f / amax)));
}

/* Every path's q8_quantize equals lmz_q8_quantize bit for bit: ordinary rows of several
 * scales, and blocks with NaN, infinities, -0, subnormals, huge values and ties. */
static void test_q8_quantize_simd_matches_scalar(void **state)
{
    (void)state;
    enum { N = 32 * 40 };
    static float x[N], d0[N / 32], d1[N / 32];
    static int8_t q0[N], q1[N];
    static const float special[] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f, 1e-45f, -3e-39f,
                                    3.4e38f, -3.4e38f, 65504.0f * 127.0f, 0.5f, -1.5f, 2.5f};
    for (int i = 0; i < N; i++) {
        float scale = (float)(1 << (i / 32 % 20)) * 1e-3f;
        x[i] = rndf() * scale;
        if (i / 32 >= 30 && rnd() % 4 == 0) x[i] = special[rnd() % (sizeof special / sizeof *special)];
    }
    for (int i = 32 * 28; i < 32 * 29; i++) x[i] = 0.0f;          /* an all-zero block */
    for (int i = 32 * 29; i < 32 * 30; i++) x[i] = 1e-44f * (float)(i % 7);   /* subnormal */
    lmz_q8_quantize(x, N, q0, d0);
    for (size_t s = 0; s < N_SIMD_PATHS; s++) {
        if (!have_path(simd_paths[s])) continue;
        const lmz_kernels *kv = lmz_kernels_get(simd_paths[s]);
        memset(q1, 0x55, sizeof q1);
        kv->q8_quantize(x, N, q1, d1);
        for (int b = 0; b < N / 32; b++)
            if (memcmp(&d0[b], &d1[b], 4) != 0)
                fail_msg("%s q8_quantize block %d: scale %a, scalar %a", kv->name, b,
                         (double)d1[b], (double)d0[b]);
        for (int i = 0; i < N; i++)
            if (q0[i] != q1[i])
                fail_msg("%s q8_quantize x[%d] = %a: %d, scalar %d", kv->name, i,
                         (double)x[i], q1[i], q0[i]);
    }
}

/* ---------------------------------------------------------------- exp */

static int same_float(float a, float b) { return (a != a && b != b) || memcmp(&a, &b, 4) == 0; }

static void check_exp_paths(const float *x, size_t n, float *y)
{
    for (size_t s = 0; s < N_SIMD_PATHS; s++) {
        if (!have_path(simd_paths[s])) continue;
        const lmz_kernels *kv = lmz_kernels_get(simd_paths[s]);
        kv->exp_n(y, x, n);
        for (size_t i = 0; i < n; i++)
            if (!same_float(y[i], lmz_expf(x[i])))
                fail_msg("%s exp(%a) = %a, scalar %a", kv->name, (double)x[i], (double)y[i],
                         (double)lmz_expf(x[i]));
    }
    const lmz_kernels *ks = lmz_kernels_get(LMZ_SIMD_SCALAR);
    ks->exp_n(y, x, n);
    for (size_t i = 0; i < n; i++) assert_true(same_float(y[i], lmz_expf(x[i])));
}

static void test_exp_simd_matches_scalar(void **state)
{
    (void)state;
    /* Every 251st float bit pattern (17 million: all signs, exponents, NaNs, infs,
     * denormals), in slices so odd lengths exercise the tails. */
    enum { SLICE = 4099 };
    float x[SLICE], y[SLICE];
    uint64_t u = 0;
    size_t total = 0;
    while (u <= 0xffffffffull) {
        size_t n = 0;
        for (; n < SLICE && u <= 0xffffffffull; n++, u += 251) x[n] = lmz_bits_f32((uint32_t)u);
        check_exp_paths(x, n, y);
        total += n;
    }
    /* Edges: the cut-offs, their neighbours, zeros, infinities, a NaN. */
    float edges[] = {LMZ_EXP_LO, LMZ_EXP_HI, nextafterf(LMZ_EXP_LO, 0), nextafterf(LMZ_EXP_LO, -100),
                     nextafterf(LMZ_EXP_HI, 0), nextafterf(LMZ_EXP_HI, 100), 0.0f, -0.0f,
                     INFINITY, -INFINITY, NAN, 1e-30f, -1e-30f, 0.34657359f, -0.34657359f,
                     88.0f, -87.0f, 1.0f, -1.0f, 0x1p-149f};
    check_exp_paths(edges, sizeof edges / sizeof *edges, y);
    /* Note: at LMZ_EXP_HI itself x*log2e rounds to 127.5 -> n = 128 and the result is
     * already +inf; the largest finite result is just below it. */
    assert_true(lmz_expf(nextafterf(LMZ_EXP_HI, 0)) < INFINITY);
    assert_true(lmz_expf(nextafterf(LMZ_EXP_HI, 100)) == INFINITY);
    assert_true(lmz_expf(nextafterf(LMZ_EXP_LO, -100)) == 0.0f);
    assert_true(lmz_expf(0.0f) == 1.0f);
    print_message("exp: %zu + edge values bit-identical on every path\n", total);
}

static double ulp_of_float(double v)
{
    int e;
    frexp(v, &e);             /* v = m 2^e, 0.5 <= m < 1 */
    if (e < -125) e = -125;   /* denormal spacing */
    return ldexp(1.0, e - 24);
}

static void test_expf_accuracy(void **state)
{
    (void)state;
    double worst = 0, at = 0;
    for (uint32_t i = 0; i <= 4000000; i++) {
        float x = -87.0f + 175.0f * (float)i / 4000000.0f;
        double e = exp((double)x);
        double err = fabs((double)lmz_expf(x) - e) / ulp_of_float(e);
        if (err > worst) { worst = err; at = x; }
    }
    print_message("lmz_expf: max error %.3f ulp (at x = %.9g) on [-87, 88]\n", worst, at);
    assert_true(worst <= 2.0);
}

/* ---------------------------------------------------------------- detmath doubles */

static void test_detmath_double_functions(void **state)
{
    (void)state;
    double ws = 0, wc = 0, we = 0, wl = 0;
    long float_mismatch = 0, n = 0;
    for (int i = 0; i < 400000; i++) {
        /* sin/cos over the RoPE range (angles up to 2^20 rad) and small arguments */
        double x = i < 200000 ? (double)(float)(ldexp((double)(rnd() % 1000000) / 1e6, (int)(rnd() % 40) - 19))
                              : (double)i * 0.01 - 2000.0;
        if (rnd() & 1) x = -x;
        double s = lmz_sin_d(x), c = lmz_cos_d(x), rs = sin(x), rc = cos(x);
        /* absolute error relative to 1 (the reduction's error is absolute) */
        if (fabs(s - rs) > ws) ws = fabs(s - rs);
        if (fabs(c - rc) > wc) wc = fabs(c - rc);
        float_mismatch += ((float)s != (float)rs) + ((float)c != (float)rc);
        n += 2;
        /* exp/log relative error */
        double ex = ((double)(rnd() % 2000001) - 1000000.0) * 7e-4;
        double re = fabs(lmz_exp_d(ex) - exp(ex)) / exp(ex);
        if (re > we) we = re;
        double lx = ldexp(1.0 + (double)(rnd() % 1000000) / 1e6, (int)(rnd() % 200) - 100);
        double rl = fabs(lmz_log_d(lx) - log(lx)) / (fabs(log(lx)) + 1e-300);
        if (rl > wl) wl = rl;
    }
    print_message("detmath: sin abs err %.2e, cos %.2e, exp rel %.2e, log rel %.2e; "
                  "float(sin/cos) differs from float(libm) in %ld of %ld\n",
                  ws, wc, we, wl, float_mismatch, n);
    assert_true(ws < 1e-14 && wc < 1e-14);
    assert_true(we < 1e-14 && wl < 1e-14);
    assert_true(float_mismatch * 10000 < n);   /* only rare near-ties may round apart */
    assert_true(lmz_log_d(1.0) == 0.0);
    assert_true(lmz_exp_d(0.0) == 1.0);
    assert_true(lmz_cos_d(0.0) == 1.0 && lmz_sin_d(0.0) == 0.0);
    assert_true(fabs(lmz_pow_d(10000.0, -2.0 / 64) - pow(10000.0, -2.0 / 64)) < 1e-15);
    assert_true(lmz_exp_d(-800) == 0.0 && lmz_exp_d(800) == INFINITY);
    assert_true(fabs(lmz_exp_d(-740) - exp(-740)) <= 1e-5 * exp(-740));   /* subnormal */
    assert_true(fabs(lmz_log_d(0x1p-1070) - log(0x1p-1070)) < 1e-12);
}

/* ---------------------------------------------------------------- vector kernels */

static const uint32_t vec_lens[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 577, 1536};

static void test_vec_kernels_match_scalar(void **state)
{
    (void)state;
    const lmz_kernels *ks = lmz_kernels_get(LMZ_SIMD_SCALAR);
    enum { MAXN = 1600 };
    float *a = malloc(sizeof(float) * MAXN), *b = malloc(sizeof(float) * MAXN);
    float *u = malloc(sizeof(float) * MAXN), *r0 = malloc(sizeof(float) * MAXN);
    float *r1 = malloc(sizeof(float) * MAXN);
    for (size_t il = 0; il < sizeof vec_lens / sizeof *vec_lens; il++) {
        uint32_t n = vec_lens[il];
        for (uint32_t i = 0; i < n; i++) { a[i] = rndf() * 12; u[i] = rndf(); }
        if (n > 3) a[2] = -0.0f;
        /* sumsq: the literal definition */
        float lane[16] = {0};
        for (uint32_t i = 0; i < n; i++) lane[i % 16] = fmaf(a[i], a[i], lane[i % 16]);
        for (int s = 8; s >= 1; s /= 2)
            for (int l = 0; l < s; l++) lane[l] = lane[l] + lane[l + s];
        float ss = ks->sumsq(a, n);
        assert_memory_equal(&ss, &lane[0], 4);
        /* softmax sums to 1 */
        memcpy(r0, a, n * 4);
        ks->softmax(r0, n, 0.37f);
        double tot = 0;
        for (uint32_t i = 0; i < n; i++) tot += r0[i];
        assert_true(fabs(tot - 1) < 1e-5);
        for (size_t s = 0; s < N_SIMD_PATHS; s++) {
            if (!have_path(simd_paths[s])) continue;
            const lmz_kernels *kv = lmz_kernels_get(simd_paths[s]);
            float s1 = kv->sumsq(a, n);
            if (memcmp(&ss, &s1, 4)) fail_msg("%s sumsq n=%u", kv->name, n);
            memcpy(r1, a, n * 4);
            kv->softmax(r1, n, 0.37f);
            size_t where;
            if (!same_bits(r0, r1, n, &where)) fail_msg("%s softmax n=%u at %zu", kv->name, n, where);
            memcpy(b, a, n * 4);
            memcpy(r1, a, n * 4);
            ks->silu_mul(b, u, n);
            kv->silu_mul(r1, u, n);
            if (!same_bits(b, r1, n, &where)) fail_msg("%s silu_mul n=%u at %zu", kv->name, n, where);
        }
        /* silu_mul is its formula */
        memcpy(b, a, n * 4);
        ks->silu_mul(b, u, n);
        for (uint32_t i = 0; i < n; i++) {
            float want = (a[i] / (1.0f + lmz_expf(-a[i]))) * u[i];
            assert_memory_equal(&want, &b[i], 4);
        }
    }
    /* softmax with -inf scores (masked positions) and a huge range */
    float sc[20];
    for (int i = 0; i < 20; i++) sc[i] = i % 3 ? -INFINITY : (float)i * 10;
    memcpy(r0, sc, sizeof sc);
    ks->softmax(r0, 20, 1.0f);
    assert_true(r0[1] == 0.0f && r0[18] > 0.99f);
    for (size_t s = 0; s < N_SIMD_PATHS; s++) {
        if (!have_path(simd_paths[s])) continue;
        memcpy(r1, sc, sizeof sc);
        lmz_kernels_get(simd_paths[s])->softmax(r1, 20, 1.0f);
        assert_memory_equal(r0, r1, sizeof sc);
    }
    free(a); free(b); free(u); free(r0); free(r1);
}

static void test_attn_v_matches_scalar(void **state)
{
    (void)state;
    const lmz_kernels *ks = lmz_kernels_get(LMZ_SIMD_SCALAR);
    static const uint32_t hds[] = {1, 8, 12, 16, 40, 64, 72, 80, 128, 256};
    enum { MAXPOS = 70, MAXQ = 9, MAXHD = 256 };
    float *v = malloc(sizeof(float) * MAXPOS * MAXHD), *p = malloc(sizeof(float) * MAXQ * MAXPOS);
    float *o0 = malloc(sizeof(float) * MAXQ * (MAXHD + 3)), *o1 = malloc(sizeof(float) * MAXQ * (MAXHD + 3));
    for (size_t i = 0; i < (size_t)MAXPOS * MAXHD; i++) v[i] = rndf();
    for (size_t i = 0; i < (size_t)MAXQ * MAXPOS; i++) p[i] = fabsf(rndf()) / 10;
    for (size_t ih = 0; ih < sizeof hds / sizeof *hds; ih++)
        for (uint32_t nq = 1; nq <= MAXQ; nq++)
            for (uint32_t npos = 1; npos <= MAXPOS; npos += 23) {
                uint32_t hd = hds[ih];
                size_t ldo = hd + 3;
                memset(o0, 0, sizeof(float) * MAXQ * (MAXHD + 3));
                ks->attn_v(v, hd, npos, p, MAXPOS, nq, o0, ldo);
                /* the definition */
                for (uint32_t q = 0; q < nq; q++)
                    for (uint32_t d = 0; d < hd; d++) {
                        float acc = 0;
                        for (uint32_t j = 0; j < npos; j++) acc = fmaf(p[q * MAXPOS + j], v[j * hd + d], acc);
                        assert_memory_equal(&acc, &o0[q * ldo + d], 4);
                    }
                for (size_t s = 0; s < N_SIMD_PATHS; s++) {
                    if (!have_path(simd_paths[s])) continue;
                    const lmz_kernels *kv = lmz_kernels_get(simd_paths[s]);
                    memset(o1, 0, sizeof(float) * MAXQ * (MAXHD + 3));
                    kv->attn_v(v, hd, npos, p, MAXPOS, nq, o1, ldo);
                    size_t where;
                    if (!same_bits(o0, o1, (size_t)MAXQ * ldo, &where))
                        fail_msg("%s attn_v hd=%u nq=%u npos=%u at %zu", kv->name, hd, nq, npos, where);
                }
            }
    free(v); free(p); free(o0); free(o1);
}

/* ---------------------------------------------------------------- F16 KV cache kernels */

/* A finite half: mostly values of rndf's range, some subnormal halves and zeros (whose
 * widening the kernels must get exactly right). */
static uint16_t rnd_half(void)
{
    switch (rnd() % 16) {
    case 0: return (uint16_t)(rnd() % 0x400u | (rnd() & 0x8000u));   /* subnormal or zero */
    case 1: return (uint16_t)(rnd() & 0x8000u);                       /* +-0 */
    default: return lmz_f32_to_f16(rndf() * 4.0f);
    }
}

/* Values the rounding must get right: ties, the subnormal range, overflow, NaNs. */
static float hard_float(uint32_t i)
{
    static const uint32_t bits[] = {
        0x00000000u, 0x80000000u, 0x3f800000u, 0x33800000u, /* 2^-24: smallest half */
        0x33000000u, 0x33000001u, 0x33c00000u, 0x387fc000u, /* ties, halfway to subnormals */
        0x38800000u, 0x477fe000u, 0x477fefffu, 0x477ff000u, /* 65504, just below/at overflow */
        0x7f800000u, 0xff800000u, 0x7fc00001u, 0x7f800001u, /* inf, qNaN, sNaN */
        0xffa5a5a5u, 0x3f801000u, 0x3f803000u, 0x00000001u, /* ties to even, f32 subnormal */
    };
    uint32_t n = sizeof bits / sizeof *bits, u;
    if (i < n) u = bits[i];
    else u = rnd();                                       /* any float at all */
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void test_to_f16_matches_rounding(void **state)
{
    (void)state;
    enum { N = 4000 };
    float *x = malloc(sizeof(float) * N);
    uint16_t want[N], got[N];
    for (uint32_t i = 0; i < N; i++) x[i] = hard_float(i);
    for (uint32_t i = 0; i < N; i++) want[i] = lmz_f32_to_f16(x[i]);
    lmz_simd all[] = {LMZ_SIMD_SCALAR, LMZ_SIMD_AVX2, LMZ_SIMD_AVX512, LMZ_SIMD_NEON};
    for (size_t s = 0; s < sizeof all / sizeof *all; s++) {
        if (!have_path(all[s])) continue;
        const lmz_kernels *k = lmz_kernels_get(all[s]);
        /* every length up to 40 (SIMD tails), then the whole array */
        for (uint32_t n = 1; n <= 40; n++) {
            memset(got, 0xab, sizeof got);
            k->to_f16(got, x, n);
            assert_memory_equal(got, want, n * sizeof *got);
            assert_int_equal(got[n], 0xabab);         /* nothing written past n */
        }
        k->to_f16(got, x, N);
        for (uint32_t i = 0; i < N; i++)
            if (got[i] != want[i])
                fail_msg("%s to_f16(%a) = 0x%04x, want 0x%04x", k->name, (double)x[i], got[i],
                         want[i]);
    }
    free(x);
}

static void test_mm_f16_is_mm_f32_of_the_widened(void **state)
{
    (void)state;
    size_t checked = 0;
    for (size_t io = 0; io < sizeof mm_outs / sizeof *mm_outs; io++)
        for (size_t ii = 0; ii < sizeof mm_ins / sizeof *mm_ins; ii++) {
            uint32_t n_out = mm_outs[io], n_in = mm_ins[ii], np = lmz_n_panels(n_out);
            size_t ldx = n_in + 3, ldy = n_out + 5, panel_elems = (size_t)np * n_in * LMZ_PANEL;
            uint32_t max_tok = 17;
            uint16_t *wh = malloc(panel_elems * sizeof *wh);
            float *wf = malloc(panel_elems * sizeof *wf);
            float *x = malloc(sizeof(float) * max_tok * ldx);
            float *y0 = malloc(sizeof(float) * max_tok * ldy), *y1 = malloc(sizeof(float) * max_tok * ldy);
            /* The f16 panels and their exact widening (padding rows are 0 in both). */
            for (size_t i = 0; i < panel_elems; i++) {
                size_t row = (i / ((size_t)n_in * LMZ_PANEL)) * LMZ_PANEL + i % LMZ_PANEL;
                wh[i] = row < n_out ? rnd_half() : 0;
                wf[i] = lmz_f16_to_f32(wh[i]);
            }
            for (size_t i = 0; i < max_tok * ldx; i++) x[i] = rndf();
            static const lmz_simd all[] = {LMZ_SIMD_SCALAR, LMZ_SIMD_AVX2, LMZ_SIMD_AVX512,
                                           LMZ_SIMD_NEON};
            for (uint32_t n_tok = 1; n_tok <= max_tok; n_tok += 2)
                checked += check_product("mm_f16", call_mm_f16, all, sizeof all / sizeof *all, wh,
                                         wf, n_in, n_out, x, ldx, n_tok, y0, y1, ldy);
            free(wh); free(wf); free(x); free(y0); free(y1);
        }
    print_message("mm_f16: %zu configurations equal to mm_f32 of the widened panels\n", checked);
}

static void test_attn_v_f16_is_attn_v_of_the_widened(void **state)
{
    (void)state;
    const lmz_kernels *ks = lmz_kernels_get(LMZ_SIMD_SCALAR);
    static const uint32_t hds[] = {1, 7, 8, 12, 16, 40, 64, 72, 128};
    enum { MAXPOS = 70, MAXQ = 9, MAXHD = 128 };
    uint16_t *vh = malloc(sizeof *vh * MAXPOS * MAXHD);
    float *vf = malloc(sizeof(float) * MAXPOS * MAXHD), *p = malloc(sizeof(float) * MAXQ * MAXPOS);
    float *o0 = malloc(sizeof(float) * MAXQ * (MAXHD + 3)), *o1 = malloc(sizeof(float) * MAXQ * (MAXHD + 3));
    for (size_t i = 0; i < (size_t)MAXPOS * MAXHD; i++) {
        vh[i] = rnd_half();
        vf[i] = lmz_f16_to_f32(vh[i]);
    }
    for (size_t i = 0; i < (size_t)MAXQ * MAXPOS; i++) p[i] = fabsf(rndf()) / 10;
    lmz_simd all[] = {LMZ_SIMD_SCALAR, LMZ_SIMD_AVX2, LMZ_SIMD_AVX512, LMZ_SIMD_NEON};
    for (size_t ih = 0; ih < sizeof hds / sizeof *hds; ih++)
        for (uint32_t nq = 1; nq <= MAXQ; nq += 2)
            for (uint32_t npos = 1; npos <= MAXPOS; npos += 23) {
                uint32_t hd = hds[ih];
                size_t ldo = hd + 3;
                memset(o0, 0, sizeof(float) * MAXQ * (MAXHD + 3));
                ks->attn_v(vf, hd, npos, p, MAXPOS, nq, o0, ldo);
                for (size_t s = 0; s < sizeof all / sizeof *all; s++) {
                    if (!have_path(all[s])) continue;
                    const lmz_kernels *kv = lmz_kernels_get(all[s]);
                    memset(o1, 0, sizeof(float) * MAXQ * (MAXHD + 3));
                    kv->attn_v_f16(vh, hd, npos, p, MAXPOS, nq, o1, ldo);
                    size_t where;
                    if (!same_bits(o0, o1, (size_t)MAXQ * ldo, &where))
                        fail_msg("%s attn_v_f16 hd=%u nq=%u npos=%u at %zu", kv->name, hd, nq,
                                 npos, where);
                }
            }
    free(vh); free(vf); free(p); free(o0); free(o1);
}

/* ---------------------------------------------------------------- dispatch, thread pool */

static void test_simd_resolve(void **state)
{
    (void)state;
    char err[200];
    lmz_simd s;
    assert_int_equal(lmz_simd_resolve(LMZ_SIMD_SCALAR, &s, err, sizeof err), 0);
    assert_int_equal(s, LMZ_SIMD_SCALAR);
    setenv("LMZ_SIMD", "scalar", 1);
    assert_int_equal(lmz_simd_resolve(LMZ_SIMD_AUTO, &s, err, sizeof err), 0);
    assert_int_equal(s, LMZ_SIMD_SCALAR);
    setenv("LMZ_SIMD", "neon9", 1);
    assert_int_equal(lmz_simd_resolve(LMZ_SIMD_AUTO, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "neon9"));
    unsetenv("LMZ_SIMD");
    assert_int_equal(lmz_simd_resolve(LMZ_SIMD_AUTO, &s, err, sizeof err), 0);
    assert_int_equal(s, lmz_simd_best());
    assert_non_null(lmz_kernels_get(lmz_simd_best()));
    print_message("best SIMD path here: %s\n", lmz_simd_path_name(lmz_simd_best()));
}

typedef struct pool_job { atomic_uint *hits; uint32_t n_threads; atomic_uint bad_thread; } pool_job;

static void count_task(void *arg, uint32_t task, uint32_t thread)
{
    pool_job *j = arg;
    atomic_fetch_add(&j->hits[task], 1);
    if (thread >= j->n_threads) atomic_fetch_add(&j->bad_thread, 1);
}

static void test_threadpool_runs_every_task_once(void **state)
{
    (void)state;
    enum { MAXT = 1000 };
    atomic_uint hits[MAXT];
    for (int nt = 1; nt <= 3; nt++) {
        tp_pool *pool = tp_new(nt);
        assert_non_null(pool);
        assert_int_equal(tp_threads(pool), nt);
        for (uint32_t n = 0; n < MAXT; n = n * 3 + 1) {
            for (int rep = 0; rep < 20; rep++) {
                for (uint32_t i = 0; i < MAXT; i++) atomic_init(&hits[i], 0);
                pool_job j = {hits, (uint32_t)nt, 0};
                tp_run(pool, n, count_task, &j);
                for (uint32_t i = 0; i < MAXT; i++) assert_int_equal(atomic_load(&hits[i]), i < n);
                assert_int_equal(atomic_load(&j.bad_thread), 0);
            }
        }
        tp_free(pool);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mm_f32_scalar_is_the_chain),
        cmocka_unit_test(test_mm_f32_simd_matches_scalar),
        cmocka_unit_test(test_mm_q8_scalar_is_the_definition),
        cmocka_unit_test(test_mm_q8_simd_matches_scalar),
        cmocka_unit_test(test_q8_quantize_rule),
        cmocka_unit_test(test_q8_quantize_simd_matches_scalar),
        cmocka_unit_test(test_exp_simd_matches_scalar),
        cmocka_unit_test(test_expf_accuracy),
        cmocka_unit_test(test_detmath_double_functions),
        cmocka_unit_test(test_vec_kernels_match_scalar),
        cmocka_unit_test(test_attn_v_matches_scalar),
        cmocka_unit_test(test_to_f16_matches_rounding),
        cmocka_unit_test(test_mm_f16_is_mm_f32_of_the_widened),
        cmocka_unit_test(test_attn_v_f16_is_attn_v_of_the_widened),
        cmocka_unit_test(test_simd_resolve),
        cmocka_unit_test(test_threadpool_runs_every_task_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
