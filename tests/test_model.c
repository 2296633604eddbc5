/*
 * test_model.c -- the forward pass against llama.cpp, its determinism, and model loading.
 *
 *  - Agreement: for every fixture of tests/fixtures/ref/MANIFEST.tsv (NAME arch dtype
 *    tokenizer n_head n_head_kv tied n_tokens n_vocab tolerance; made by
 *    tools/make_fixtures.sh from llama.cpp), our log-softmax (in double, from our float
 *    logits) must be within the tolerance of llama.cpp's log p at every position.
 *  - Determinism matrix: logits bit-identical (memcmp) across {one token per call, whole
 *    batch, random batch splits, two sequences interleaved} x {1, 2, 3 threads} x every
 *    SIMD path the CPU has.
 *  - Loading: unsupported architecture, missing / misshapen / unexpected tensors, bad
 *    metadata give messages, not crashes; the identity hash ignores general.name but not
 *    the weights.
 * LMZ_REF_FIXTURES overrides the fixture directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "kernels/kernels.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "ref_logp.h"

#define MAX_FIX 32

typedef struct fixture {
    char name[96], arch[16], dtype[16];
    uint32_t n_tokens, n_vocab;
    double tol;
} fixture;

static fixture fixtures[MAX_FIX];
static int n_fixtures;
static char fix_dir[512];

static void *read_file(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) { free(buf); buf = NULL; }
    fclose(fp);
    *size = (size_t)n;
    return buf;
}

static int setup_fixtures(void **state)
{
    (void)state;
    const char *d = getenv("LMZ_REF_FIXTURES");
    snprintf(fix_dir, sizeof fix_dir, "%s", d ? d : "tests/fixtures/ref");
    char path[600];
    snprintf(path, sizeof path, "%s/MANIFEST.tsv", fix_dir);
    FILE *fp = fopen(path, "r");
    if (!fp) {
        print_error("cannot read %s (run tools/make_fixtures.sh)\n", path);
        return -1;
    }
    char line[1024];
    while (fgets(line, sizeof line, fp) && n_fixtures < MAX_FIX) {
        fixture *f = &fixtures[n_fixtures];
        char tok[32];
        unsigned nh, nkv, tied;
        if (sscanf(line, "%95s %15s %15s %31s %u %u %u %u %u %lf", f->name, f->arch, f->dtype, tok,
                   &nh, &nkv, &tied, &f->n_tokens, &f->n_vocab, &f->tol) == 10)
            n_fixtures++;
    }
    fclose(fp);
    if (n_fixtures == 0) {
        print_error("%s lists no fixtures\n", path);
        return -1;
    }
    return 0;
}

static lmz_model *open_fixture(const fixture *fx)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s.gguf", fix_dir, fx->name);
    lmz_error err = {0};
    lmz_model *m = lmz_model_open(path, &err);
    if (!m) fail_msg("%s: %s", path, err.message);
    return m;
}

static int32_t *read_tokens(const fixture *fx)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s.tokens.u32", fix_dir, fx->name);
    return ref_read_tokens(path, fx->n_tokens);
}

static float *read_logp(const fixture *fx)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s.logp.f32.zst", fix_dir, fx->name);
    return ref_read_logp(path, fx->n_tokens, fx->n_vocab);
}

static float *run_tokens(const lmz_model *m, const int32_t *tok, uint32_t n, uint32_t batch,
                         int threads, lmz_simd simd)
{
    return ref_run_tokens(m, NULL, tok, n, batch, threads, simd);
}

/* ---------------------------------------------------------------- agreement */

static void test_fixtures_match_llamacpp(void **state)
{
    (void)state;
    for (int fi = 0; fi < n_fixtures; fi++) {
        const fixture *fx = &fixtures[fi];
        lmz_model *m = open_fixture(fx);
        assert_string_equal(m->arch, fx->arch);
        assert_int_equal(m->hp.n_vocab, fx->n_vocab);
        int32_t *tok = read_tokens(fx);
        float *ref = read_logp(fx);
        float *logits = run_tokens(m, tok, fx->n_tokens, fx->n_tokens, 1, LMZ_SIMD_AUTO);
        uint32_t argmax_same;
        double worst = ref_logp_max_diff(logits, ref, fx->n_tokens, fx->n_vocab, &argmax_same);
        print_message("%-24s %-5s %-5s max |log p - llama.cpp| = %.3e (tolerance %g), argmax "
                      "agreement %.1f%%\n", fx->name, fx->arch, fx->dtype, worst, fx->tol,
                      100.0 * argmax_same / fx->n_tokens);
        if (!(worst <= fx->tol)) fail_msg("%s: %.3e exceeds %g", fx->name, worst, fx->tol);
        free(tok); free(ref); free(logits);
        lmz_model_close(m);
    }
}

/* ---------------------------------------------------------------- determinism */

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

enum { MODE_ONE, MODE_WHOLE, MODE_SPLIT, MODE_TWO_SEQS, N_MODES };
static const char *mode_names[] = {"one at a time", "whole batch", "random splits", "two sequences"};

/* Logits of tok (sequence 0) and of tok2 (sequence 1, only in MODE_TWO_SEQS), with an
 * F32 or F16 (kv_f16) KV cache. */
static void run_mode(const lmz_model *m, const int32_t *tok, const int32_t *tok2, uint32_t n, int mode,
                     int threads, lmz_simd simd, int kv_f16, float *out, float *out2)
{
    char err[256];
    uint32_t max_batch = mode == MODE_ONE ? 1 : mode == MODE_TWO_SEQS ? 2 * n : n;
    forward_ctx *f = fwd_new(m, n, 2, max_batch, threads, simd, err, sizeof err);
    if (!f) fail_msg("fwd_new: %s", err);
    assert_int_equal(fwd_simd(f), simd);
    if (fwd_set_kv_f16(f, kv_f16, err, sizeof err)) fail_msg("fwd_set_kv_f16: %s", err);
    assert_int_equal(fwd_kv_f16(f), kv_f16);
    fwd_set_min_parallel_work(f, 0);      /* every job through the pool, split */
    uint32_t nv = m->hp.n_vocab;
    int32_t *bt = malloc(sizeof(int32_t) * 2 * n);
    uint32_t *bs = malloc(sizeof(uint32_t) * 2 * n);
    float *bl = malloc(sizeof(float) * 2 * n * nv);
    uint32_t i = 0, i2 = 0;
    while (i < n || (mode == MODE_TWO_SEQS && i2 < n)) {
        uint32_t k = 0;
        if (mode == MODE_ONE) k = 1;
        else if (mode == MODE_WHOLE) k = n;
        else k = 1 + rnd() % 40;
        /* Batch: up to k tokens of sequence 0; with two sequences also up to k of
         * sequence 1, the two interleaved token by token. */
        uint32_t b = 0, a0 = i, a1 = i2;
        for (uint32_t j = 0; j < k; j++) {
            if (i < n) { bt[b] = tok[i++]; bs[b++] = 0; }
            if (mode == MODE_TWO_SEQS && i2 < n && rnd() % 4) { bt[b] = tok2[i2++]; bs[b++] = 1; }
        }
        if (b == 0) continue;
        assert_int_equal(fwd_eval(f, bt, bs, b, bl), 0);
        for (uint32_t j = 0; j < b; j++) {
            float *dst = bs[j] == 0 ? out + (size_t)a0++ * nv : out2 + (size_t)a1++ * nv;
            memcpy(dst, bl + (size_t)j * nv, nv * sizeof(float));
        }
    }
    assert_int_equal(fwd_seq_len(f, 0), n);
    free(bt); free(bs); free(bl);
    fwd_free(f);
}

static void test_determinism_matrix(void **state)
{
    (void)state;
    static const lmz_simd paths[] = {LMZ_SIMD_SCALAR, LMZ_SIMD_AVX2, LMZ_SIMD_AVX512,
                                     LMZ_SIMD_NEON};
    const int n_paths = (int)(sizeof paths / sizeof paths[0]);
    for (int p = 0; p < n_paths; p++)
        if (!lmz_simd_supported(paths[p]))
            print_message("note: this CPU lacks the %s path: not part of the matrix here\n",
                          lmz_simd_path_name(paths[p]));
    /* Enough tokens for several K panels and random splits; small enough for ASan. */
    const uint32_t n = 70;
    size_t runs = 0;
    for (int fi = 0; fi < n_fixtures; fi++) {
        const fixture *fx = &fixtures[fi];
        lmz_model *m = open_fixture(fx);
        int32_t *tok = read_tokens(fx), *tok2 = malloc(n * sizeof(int32_t));
        for (uint32_t i = 0; i < n; i++) tok2[i] = tok[(i * 7 + 3) % fx->n_tokens];
        uint32_t nv = m->hp.n_vocab;
        size_t bytes = (size_t)n * nv * sizeof(float);
        float *ref = malloc(bytes), *ref2 = malloc(bytes), *out = malloc(bytes),
              *out2 = malloc(bytes), *ref_f32 = malloc(bytes);
        /* Both KV cache types: each against its own scalar whole-batch reference. */
        for (int kv_f16 = 0; kv_f16 <= 1; kv_f16++) {
            run_mode(m, tok, NULL, n, MODE_WHOLE, 1, LMZ_SIMD_SCALAR, kv_f16, ref, NULL);
            run_mode(m, tok2, NULL, n, MODE_WHOLE, 1, LMZ_SIMD_SCALAR, kv_f16, ref2, NULL);
            assert_memory_not_equal(ref, ref2, bytes);
            if (!kv_f16) {
                memcpy(ref_f32, ref, bytes);
            } else {
                /* F16 keys and values change the logits, without changing the model: the
                 * fixtures' random weights give large activations, so a rare token's
                 * log p moves a lot; the most likely token stays. */
                uint32_t argmax_same;
                double d = ref_logp_max_diff(ref, ref_f32, n, nv, &argmax_same);
                print_message("%-24s F16 KV cache: max |log p - F32's| = %.3e, argmax "
                              "agreement %.1f%%\n", fx->name, d, 100.0 * argmax_same / n);
                assert_memory_not_equal(ref, ref_f32, bytes);
                assert_true(argmax_same >= n * 9 / 10);
            }
            for (int p = 0; p < n_paths; p++) {
                if (!lmz_simd_supported(paths[p])) continue;
                for (int threads = 1; threads <= 3; threads++)
                    for (int mode = 0; mode < N_MODES; mode++) {
                        memset(out, 0xff, bytes);
                        memset(out2, 0xff, bytes);
                        run_mode(m, tok, tok2, n, mode, threads, paths[p], kv_f16, out, out2);
                        runs++;
                        if (memcmp(out, ref, bytes) != 0 ||
                            (mode == MODE_TWO_SEQS && memcmp(out2, ref2, bytes) != 0))
                            fail_msg("%s: logits differ with %s, %d threads, %s, %s KV cache",
                                     fx->name, lmz_simd_path_name(paths[p]), threads,
                                     mode_names[mode], kv_f16 ? "F16" : "F32");
                    }
            }
        }
        free(tok); free(tok2); free(ref); free(ref2); free(out); free(out2); free(ref_f32);
        lmz_model_close(m);
    }
    print_message("determinism: %zu runs over %d fixtures and both KV cache types bit-identical "
                  "to the scalar whole-batch reference\n", runs, n_fixtures);
}

static void test_fwd_api(void **state)
{
    (void)state;
    const fixture *fx = &fixtures[0];
    lmz_model *m = open_fixture(fx);
    int32_t *tok = read_tokens(fx);
    char err[256];
    uint32_t nv = m->hp.n_vocab, n = 20;
    float *ref = run_tokens(m, tok, n, n, 1, LMZ_SIMD_AUTO);
    forward_ctx *f = fwd_new(m, n, 3, 8, 2, LMZ_SIMD_AUTO, err, sizeof err);
    assert_non_null(f);
    assert_int_equal(fwd_max_batch(f), 8);
    assert_int_equal(fwd_n_ctx(f), n);
    assert_int_equal(fwd_max_seqs(f), 3);
    float *lg = malloc(sizeof(float) * 8 * nv);
    uint32_t seq[8] = {2, 2, 2, 2, 2, 2, 2, 2};
    /* Fill sequence 2, reset it, refill: the same logits as a fresh context. */
    for (int round = 0; round < 2; round++) {
        for (uint32_t i = 0; i < n; i += 5) {
            assert_int_equal(fwd_eval(f, tok + i, seq, 5, lg), 0);
            assert_memory_equal(lg, ref + (size_t)i * nv, sizeof(float) * 5 * nv);
        }
        assert_int_equal(fwd_seq_len(f, 2), n);
        assert_int_equal(fwd_seq_len(f, 0), 0);
        /* Full: one more token is refused and nothing changes. */
        assert_int_equal(fwd_eval(f, tok, seq, 1, lg), -1);
        assert_int_equal(fwd_seq_len(f, 2), n);
        fwd_reset(f, 2);
        assert_int_equal(fwd_seq_len(f, 2), 0);
    }
    int32_t bad_tok = (int32_t)nv;
    uint32_t bad_seq = 3;
    assert_int_equal(fwd_eval(f, &bad_tok, seq, 1, lg), -1);
    assert_int_equal(fwd_eval(f, tok, &bad_seq, 1, lg), -1);
    assert_int_equal(fwd_eval(f, tok, seq, 9, lg), -1);      /* > max_batch */
    assert_int_equal(fwd_eval(f, tok, seq, 0, lg), -1);
    assert_int_equal(fwd_seq_len(f, 2), 0);
    /* The KV cache type: F32 by default; a change empties every sequence, setting the
     * type it has keeps them. */
    assert_int_equal(fwd_kv_f16(f), 0);
    assert_int_equal(fwd_eval(f, tok, seq, 5, lg), 0);
    assert_int_equal(fwd_set_kv_f16(f, 0, err, sizeof err), 0);
    assert_int_equal(fwd_seq_len(f, 2), 5);
    assert_int_equal(fwd_set_kv_f16(f, 1, err, sizeof err), 0);
    assert_int_equal(fwd_kv_f16(f), 1);
    assert_int_equal(fwd_seq_len(f, 2), 0);
    assert_int_equal(fwd_eval(f, tok, seq, 5, lg), 0);
    assert_int_equal(fwd_set_kv_f16(f, 1, err, sizeof err), 0);
    assert_int_equal(fwd_seq_len(f, 2), 5);
    fwd_free(f);
    assert_null(fwd_new(m, 0, 1, 1, 1, LMZ_SIMD_AUTO, err, sizeof err));
    assert_non_null(strstr(err, "invalid sizes"));
    free(lg); free(ref); free(tok);
    lmz_model_close(m);
}

/* The caller's floating-point control register: an "odd" setting (round toward zero and
 * flush-to-zero, as a -ffast-math program may have), reading and writing it. */
#if defined(__x86_64__) || defined(__i386__)
#define HAVE_FP_CONTROL 1
typedef unsigned fp_control;
/* round toward zero, FTZ, DAZ */
static const fp_control odd_fp_control = 0x1f80u | 0x6000u | 0x8000u | 0x40u;
static fp_control get_fp_control(void) { return _mm_getcsr() & ~0x3fu; }   /* no sticky flags */
static void set_fp_control(fp_control c) { _mm_setcsr(c); }
#elif defined(__aarch64__)
#define HAVE_FP_CONTROL 1
typedef uint64_t fp_control;
/* FPCR: RMode = round toward zero (3 << 22), FZ (1 << 24); the flags live in FPSR */
static const fp_control odd_fp_control = (UINT64_C(3) << 22) | (UINT64_C(1) << 24);
static fp_control get_fp_control(void)
{
    fp_control c;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(c));
    return c;
}
static void set_fp_control(fp_control c) { __asm__ __volatile__("msr fpcr, %0" : : "r"(c)); }
#endif

/* A caller with another rounding mode and flush-to-zero / denormals-are-zero set (as a
 * -ffast-math program has) gets the same logits, and its environment back. */
static void test_caller_fp_environment(void **state)
{
    (void)state;
#if defined(HAVE_FP_CONTROL)
    const fixture *fx = &fixtures[0];
    lmz_model *m = open_fixture(fx);
    int32_t *tok = read_tokens(fx);
    uint32_t n = 40, nv = m->hp.n_vocab;
    float *ref = run_tokens(m, tok, n, n, 1, LMZ_SIMD_AUTO);
    fp_control saved = get_fp_control();
    set_fp_control(odd_fp_control);
    assert_true(get_fp_control() == odd_fp_control);
    char err[256];
    forward_ctx *f = fwd_new(m, n, 1, n, 2, LMZ_SIMD_AUTO, err, sizeof err);
    assert_non_null(f);
    fwd_set_min_parallel_work(f, 0);
    float *lg = malloc(sizeof(float) * n * nv);
    uint32_t *seq = calloc(n, sizeof *seq);
    int rc = fwd_eval(f, tok, seq, n, lg);
    fp_control after = get_fp_control();
    set_fp_control(saved);
    assert_int_equal(rc, 0);
    assert_true(after == odd_fp_control);
    assert_memory_equal(lg, ref, sizeof(float) * n * nv);
    fwd_free(f);
    free(lg); free(seq); free(ref); free(tok);
    lmz_model_close(m);
#else
    skip();
#endif
}

/* ---------------------------------------------------------------- loading errors */

/* A GGUF rebuilt from a fixture with edits: keys/tensors named in drop are left out,
 * then edit() may add or replace entries.  Returns the bytes (free them). */
typedef void (*edit_fn)(gguf_writer *w, const gguf_file *src);

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int dropped(const char *name, uint64_t len, const char *const *drop)
{
    for (; drop && *drop; drop++)
        if (strlen(*drop) == len && memcmp(*drop, name, len) == 0) return 1;
    return 0;
}

static char *cstr(gguf_str s)
{
    char *c = malloc(s.len + 1);
    memcpy(c, s.ptr, s.len);
    c[s.len] = 0;
    return c;
}

static uint8_t *rebuild(const char *path, const char *const *drop, edit_fn edit, size_t *size)
{
    gguf_file src;
    char err[300];
    if (gguf_open(&src, path, err, sizeof err)) fail_msg("%s", err);
    gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < src.n_kv; i++) {
        const gguf_kv *kv = &src.kv[i];
        if (dropped(kv->key.ptr, kv->key.len, drop)) continue;
        char *key = cstr(kv->key);
        switch (kv->type) {
        case GGUF_TYPE_UINT32: gguf_writer_set_u32(w, key, (uint32_t)le(kv->data, 4)); break;
        case GGUF_TYPE_INT32: gguf_writer_set_i32(w, key, (int32_t)le(kv->data, 4)); break;
        case GGUF_TYPE_UINT64: gguf_writer_set_u64(w, key, le(kv->data, 8)); break;
        case GGUF_TYPE_BOOL: gguf_writer_set_bool(w, key, kv->data[0]); break;
        case GGUF_TYPE_FLOAT32: {
            float v;
            memcpy(&v, kv->data, 4);
            gguf_writer_set_f32(w, key, v);
            break;
        }
        case GGUF_TYPE_STRING: {
            gguf_str s = {(const char *)kv->data + 8, le(kv->data, 8)};
            char *v = cstr(s);
            gguf_writer_set_str(w, key, v);
            free(v);
            break;
        }
        case GGUF_TYPE_ARRAY:
            if (kv->arr_type == GGUF_TYPE_STRING) {
                char **v = malloc(kv->arr_len * sizeof *v);
                for (uint64_t j = 0; j < kv->arr_len; j++) v[j] = cstr(gguf_arr_str(kv, j));
                gguf_writer_set_arr_str(w, key, (const char *const *)v, kv->arr_len);
                for (uint64_t j = 0; j < kv->arr_len; j++) free(v[j]);
                free(v);
            } else {
                gguf_writer_set_arr(w, key, kv->arr_type, kv->data, kv->arr_len);
            }
            break;
        default:
            fail_msg("rebuild: metadata type %d not handled", kv->type);
        }
        free(key);
    }
    for (uint64_t i = 0; i < src.n_tensors; i++) {
        const gguf_tensor *t = &src.tensors[i];
        if (dropped(t->name.ptr, t->name.len, drop)) continue;
        char *name = cstr(t->name);
        gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data);
        free(name);
    }
    if (edit) edit(w, &src);
    uint8_t *out;
    if (gguf_writer_write_mem(w, &out, size, err, sizeof err)) fail_msg("rebuild: %s", err);
    gguf_writer_free(w);
    gguf_close(&src);
    return out;
}

static void edit_arch(gguf_writer *w, const gguf_file *s) { (void)s; gguf_writer_set_str(w, "general.architecture", "gptj"); }
static void edit_kv_heads(gguf_writer *w, const gguf_file *s) { (void)s; gguf_writer_set_u32(w, "llama.attention.head_count_kv", 4); }
static void edit_kv_heads3(gguf_writer *w, const gguf_file *s) { (void)s; gguf_writer_set_u32(w, "llama.attention.head_count_kv", 3); }
static void edit_rope(gguf_writer *w, const gguf_file *s) { (void)s; gguf_writer_set_str(w, "llama.rope.scaling.type", "yarn"); }
static void edit_name(gguf_writer *w, const gguf_file *s) { (void)s; gguf_writer_set_str(w, "general.name", "renamed"); }
static void edit_ctx_u64(gguf_writer *w, const gguf_file *s) { (void)s; gguf_writer_set_u64(w, "llama.block_count", 2); }
static void edit_extra(gguf_writer *w, const gguf_file *s)
{
    (void)s;
    float b[64] = {0};
    uint64_t ne[1] = {64};
    gguf_writer_add_tensor(w, "blk.0.attn_output.bias", GGML_TYPE_F32, 1, ne, b);
}
static void edit_q8_norm(gguf_writer *w, const gguf_file *s)
{
    (void)s;
    uint8_t q[68] = {0};
    uint64_t ne[1] = {64};
    gguf_writer_add_tensor(w, "blk.1.ffn_norm.weight", GGML_TYPE_Q8_0, 1, ne, q);
}
static void edit_weight(gguf_writer *w, const gguf_file *s)
{
    const gguf_tensor *t = gguf_find_tensor(s, "blk.1.ffn_down.weight");
    float *d = malloc(t->size);
    memcpy(d, t->data, t->size);
    d[7] = nextafterf(d[7], 1.0f);       /* one ulp of one weight */
    gguf_writer_add_tensor(w, "blk.1.ffn_down.weight", t->type, t->n_dims, t->ne, d);
    free(d);
}

/* The first llama F32 fixture (64 wide, 4 heads). */
static const fixture *llama_f32(void)
{
    for (int i = 0; i < n_fixtures; i++)
        if (!strcmp(fixtures[i].arch, "llama") && !strcmp(fixtures[i].dtype, "f32")) return &fixtures[i];
    fail_msg("no llama f32 fixture");
    return NULL;
}

static void expect_error(const char *path, const char *const *drop, edit_fn edit, const char *want)
{
    size_t size;
    uint8_t *bytes = rebuild(path, drop, edit, &size);
    lmz_error err = {0};
    lmz_model *m = lmz_model_from_memory(bytes, size, &err);
    if (m) fail_msg("loaded a model that should fail with '%s'", want);
    assert_int_equal(err.status, LMZ_ERR_MODEL);
    if (!strstr(err.message, want)) fail_msg("error '%s' does not mention '%s'", err.message, want);
    print_message("  rejected: %s\n", err.message);
    free(bytes);
}

static void test_load_errors(void **state)
{
    (void)state;
    const fixture *fx = llama_f32();
    char path[700];
    snprintf(path, sizeof path, "%s/%s.gguf", fix_dir, fx->name);
    expect_error(path, NULL, edit_arch, "architecture 'gptj' is not supported (supported: llama, qwen2, qwen3)");
    const char *const no_up[] = {"blk.1.ffn_up.weight", NULL};
    expect_error(path, no_up, NULL, "tensor 'blk.1.ffn_up.weight' is missing");
    const char *const no_eps[] = {"llama.attention.layer_norm_rms_epsilon", NULL};
    expect_error(path, no_eps, NULL, "llama.attention.layer_norm_rms_epsilon is missing");
    const char *const no_embd[] = {"token_embd.weight", NULL};
    expect_error(path, no_embd, NULL, "'token_embd.weight' is missing");
    expect_error(path, NULL, edit_extra, "tensor 'blk.0.attn_output.bias' is not part of the llama architecture");
    expect_error(path, NULL, edit_rope, "RoPE scaling type 'yarn' is not supported");
    expect_error(path, NULL, edit_kv_heads3, "not a multiple of head_count_kv 3");
    const char *const no_norm[] = {"blk.1.ffn_norm.weight", NULL};
    expect_error(path, no_norm, edit_q8_norm, "'blk.1.ffn_norm.weight' has type Q8_0");
    /* The MHA/GQA fixture with kv heads changed: attn_k's shape no longer fits. */
    for (int i = 0; i < n_fixtures; i++)
        if (!strcmp(fixtures[i].arch, "llama") && !strcmp(fixtures[i].dtype, "f32")) {
            snprintf(path, sizeof path, "%s/%s.gguf", fix_dir, fixtures[i].name);
            gguf_file g;
            char e[300];
            assert_int_equal(gguf_open(&g, path, e, sizeof e), 0);
            uint32_t nkv = 0;
            gguf_get_u32(&g, "llama.attention.head_count_kv", &nkv);
            gguf_close(&g);
            if (nkv != 4) {
                expect_error(path, NULL, edit_kv_heads, "tensor 'blk.0.attn_k.weight' has shape");
                break;
            }
        }

    lmz_error err = {0};
    assert_null(lmz_model_open("/nonexistent/model.gguf", &err));
    assert_int_equal(err.status, LMZ_ERR_MODEL);       /* lmz.h: "model file missing" */
    assert_non_null(strstr(err.message, "/nonexistent/model.gguf"));
    /* Truncated file: the GGUF reader's error, no crash. */
    size_t size = 0;
    snprintf(path, sizeof path, "%s/%s.gguf", fix_dir, fx->name);
    uint8_t *bytes = read_file(path, &size);
    assert_null(lmz_model_from_memory(bytes, size / 2, &err));
    assert_int_equal(err.status, LMZ_ERR_MODEL);
    free(bytes);
}

static void test_model_identity(void **state)
{
    (void)state;
    const fixture *fx = llama_f32();
    char path[700];
    snprintf(path, sizeof path, "%s/%s.gguf", fix_dir, fx->name);
    lmz_model *a = open_fixture(fx);
    lmz_model_info info;
    lmz_model_get_info(a, &info);
    assert_string_equal(info.arch, "llama");
    assert_int_equal(info.n_vocab, fx->n_vocab);
    assert_true(info.n_params > 0 && info.n_layer > 0 && info.n_embd > 0);
    uint8_t zero[16] = {0};
    assert_memory_not_equal(info.model_hash, zero, 16);
    uint8_t th[16];
    tok_hash(a->tok, th);
    assert_memory_equal(info.tokenizer_hash, th, 16);

    size_t size;
    lmz_error err = {0};
    /* Same weights through a rebuilt file with another name (and u64 block_count): same identity. */
    uint8_t *renamed = rebuild(path, NULL, edit_name, &size);
    lmz_model *b = lmz_model_from_memory(renamed, size, &err);
    assert_non_null(b);
    assert_string_equal(b->name, "renamed");
    assert_memory_equal(a->model_hash, b->model_hash, 16);
    lmz_model_close(b);
    free(renamed);
    uint8_t *u64 = rebuild(path, NULL, edit_ctx_u64, &size);
    b = lmz_model_from_memory(u64, size, &err);
    assert_non_null(b);
    assert_memory_equal(a->model_hash, b->model_hash, 16);
    lmz_model_close(b);
    free(u64);
    /* One weight one ulp off: another identity. */
    const char *const no_down[] = {"blk.1.ffn_down.weight", NULL};
    uint8_t *changed = rebuild(path, no_down, edit_weight, &size);
    b = lmz_model_from_memory(changed, size, &err);
    assert_non_null(b);
    assert_memory_not_equal(a->model_hash, b->model_hash, 16);
    assert_memory_equal(a->tokenizer_hash, b->tokenizer_hash, 16);
    lmz_model_close(b);
    free(changed);
    /* Different fixtures differ. */
    for (int i = 0; i < n_fixtures; i++) {
        if (&fixtures[i] == fx) continue;
        lmz_model *c = open_fixture(&fixtures[i]);
        assert_memory_not_equal(a->model_hash, c->model_hash, 16);
        lmz_model_close(c);
    }
    lmz_model_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_match_llamacpp),
        cmocka_unit_test(test_determinism_matrix),
        cmocka_unit_test(test_fwd_api),
        cmocka_unit_test(test_caller_fp_environment),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_model_identity),
    };
    return cmocka_run_group_tests(tests, setup_fixtures, NULL);
}
