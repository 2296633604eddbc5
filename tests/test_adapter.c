/*
 * test_adapter.c -- LoRA adapters: the forward pass with an adapter against llama.cpp's
 * (tests/fixtures/ref/lora, made by tools/make_lora_fixtures.sh), its determinism, the
 * loader's checks, streams that record and require their adapter, routing among
 * adapters, and the training samples' reader (.jsonl).
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
#include <unistd.h>

#include "kernels/kernels.h"
#include "model/adapter.h"
#include "format/container.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "ref_logp.h"
#include "shared_data.h"
#include "train/lora.h"
#include "train/optimizer.h"
#include "train/samples.h"

#define FIX "tests/fixtures/ref/lora"
#define BASE "tests/fixtures/ref/llama-gqa-tied-gpt2.gguf"     /* F32, tied, vocab 300 */
#define ADAPTER FIX "/llama-gqa-tied-gpt2-lora.lora.gguf"       /* all targets, rank 4 */
#define PARTIAL FIX "/llama-gqa-tied-gpt2-lora-partial.lora.gguf" /* 3 targets, layer 1 */

static lmz_model *open_model(const char *path)
{
    lmz_error err = {0};
    lmz_model *m = lmz_model_open(path, &err);
    if (!m) fail_msg("%s", err.message);
    return m;
}

static lmz_adapter *open_adapter(const char *path)
{
    lmz_error err = {0};
    lmz_adapter *a = lmz_adapter_open(path, &err);
    if (!a) fail_msg("%s", err.message);
    return a;
}

static float *run(const lmz_model *m, const lmz_adapter *a, const int32_t *tok, uint32_t n,
                  uint32_t batch, int threads, lmz_simd simd)
{
    return ref_run_tokens(m, a, tok, n, batch, threads, simd);
}

/* ---------------------------------------------------------------- llama.cpp agreement */

static void test_lora_matches_llamacpp(void **state)
{
    (void)state;
    FILE *fp = fopen(FIX "/MANIFEST.tsv", "r");
    if (!fp) fail_msg("cannot read " FIX "/MANIFEST.tsv (tools/make_lora_fixtures.sh)");
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, fp)) {
        char name[96], base[200], adapter[200], tokens[200], path[400];
        uint32_t n_tok, nv;
        double tol;
        if (sscanf(line, "%95s %199s %199s %199s %u %u %lf", name, base, adapter, tokens, &n_tok,
                   &nv, &tol) != 7)
            continue;
        snprintf(path, sizeof path, FIX "/%s", base);
        lmz_model *m = open_model(path);
        snprintf(path, sizeof path, FIX "/%s", adapter);
        lmz_adapter *a = open_adapter(path);
        snprintf(path, sizeof path, FIX "/%s", tokens);
        int32_t *tok = ref_read_tokens(path, n_tok);
        snprintf(path, sizeof path, FIX "/%s.logp.f32.zst", name);
        float *ref = ref_read_logp(path, n_tok, nv);
        float *with = run(m, a, tok, n_tok, n_tok, 2, LMZ_SIMD_AUTO);
        float *without = run(m, NULL, tok, n_tok, n_tok, 2, LMZ_SIMD_AUTO);
        uint32_t same, same_base;
        double worst = ref_logp_max_diff(with, ref, n_tok, nv, &same);
        double base_diff = ref_logp_max_diff(without, ref, n_tok, nv, &same_base);
        print_message("%-34s max |log p - llama.cpp| = %.3e (tolerance %g; without the adapter "
                      "%.3f), argmax agreement %.1f%%\n", name, worst, tol, base_diff,
                      100.0 * same / n_tok);
        if (!(worst <= tol)) fail_msg("%s: %.3e exceeds %g", name, worst, tol);
        /* the adapter matters by far more than the tolerance */
        assert_true(base_diff > 0.5 && base_diff > 20 * worst);
        free(tok); free(ref); free(with); free(without);
        lmz_adapter_close(a);
        lmz_model_close(m);
        n++;
    }
    fclose(fp);
    assert_int_equal(n, 4);
}

/* Bit-identical logits with an adapter: whole batch, one token per call, uneven batches,
 * 1 and 3 threads, every SIMD path the CPU has. */
static void test_lora_determinism(void **state)
{
    (void)state;
    lmz_model *m = open_model(BASE);
    lmz_adapter *a = open_adapter(ADAPTER);
    int32_t *tok = ref_read_tokens("tests/fixtures/ref/llama-gqa-tied-gpt2.tokens.u32", 256);
    uint32_t n = 96;
    size_t bytes = (size_t)n * m->hp.n_vocab * sizeof(float);
    float *ref = run(m, a, tok, n, n, 1, LMZ_SIMD_SCALAR);
    static const lmz_simd paths[] = {LMZ_SIMD_SCALAR, LMZ_SIMD_AVX2, LMZ_SIMD_AVX512,
                                     LMZ_SIMD_NEON};
    static const uint32_t batches[] = {96, 1, 7};
    int runs = 0;
    for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
        if (!lmz_simd_supported(paths[p])) continue;
        for (size_t b = 0; b < 3; b++)
            for (int threads = 1; threads <= 3; threads += 2) {
                float *out = run(m, a, tok, n, batches[b], threads, paths[p]);
                if (memcmp(out, ref, bytes) != 0)
                    fail_msg("%s, batch %u, %d threads: logits differ", lmz_simd_path_name(paths[p]),
                             batches[b], threads);
                free(out);
                runs++;
            }
    }
    print_message("%d runs bit-identical\n", runs);
    free(ref);
    free(tok);
    lmz_adapter_close(a);
    lmz_model_close(m);
}

/* ---------------------------------------------------------------- loading */

/* A one-pair adapter of blk.0.attn_q (64 -> 64 in the fixture model) in memory, with
 * what `what` asks to spoil. */
enum spoil { GOOD, NO_TYPE, IA3, NO_B, RANK, UNKNOWN, Q8, BAD_ALPHA, WIDE, LAYER, OTHER_BASE,
             RENAMED, CHANGED };

static uint8_t *make_adapter(enum spoil what, size_t *size)
{
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    if (what != NO_TYPE) gguf_writer_set_str(w, "general.type", "adapter");
    gguf_writer_set_str(w, "general.name", what == RENAMED ? "other" : "unit");
    gguf_writer_set_str(w, "adapter.type", what == IA3 ? "ia3" : "lora");
    gguf_writer_set_f32(w, "adapter.lora.alpha", what == BAD_ALPHA ? -1.0f : 4.0f);
    if (what == OTHER_BASE)
        gguf_writer_set_str(w, "lmz.base_model_hash", "00112233445566778899aabbccddeeff");
    uint32_t r = 2, n_in = what == WIDE ? 96 : 64;
    float a[2 * 96], b[64 * 2];
    for (uint32_t i = 0; i < r * n_in; i++) a[i] = 0.01f * (float)(i % 7);
    for (uint32_t i = 0; i < 64 * r; i++) b[i] = 0.02f * (float)(i % 5);
    if (what == CHANGED) b[3] += 0.5f;
    const char *layer = what == LAYER ? "blk.7" : "blk.0";
    char name[64];
    uint64_t ne_a[2] = {n_in, r}, ne_b[2] = {what == RANK ? 3 : r, 64};
    snprintf(name, sizeof name, "%s.attn_q.weight.lora_a", layer);
    if (what == Q8) {
        uint8_t q[2 * 2 * 34] = {0};
        gguf_writer_add_tensor(w, name, GGML_TYPE_Q8_0, 2, ne_a, q);
    } else {
        gguf_writer_add_tensor(w, name, GGML_TYPE_F32, 2, ne_a, a);
    }
    snprintf(name, sizeof name, "%s.attn_q.weight.lora_b", layer);
    float b3[64 * 3] = {0};
    if (what != NO_B) gguf_writer_add_tensor(w, name, GGML_TYPE_F32, 2, ne_b, what == RANK ? b3 : b);
    if (what == UNKNOWN) {
        uint64_t ne[1] = {64};
        gguf_writer_add_tensor(w, "blk.0.attn_norm.weight", GGML_TYPE_F32, 1, ne, b);
    }
    uint8_t *out = NULL;
    char err[200];
    if (gguf_writer_write_mem(w, &out, size, err, sizeof err)) fail_msg("%s", err);
    gguf_writer_free(w);
    return out;
}

/* The adapter's open error (NULL: it opened), checked to contain `needle`. */
static void expect_open(enum spoil what, const char *needle)
{
    size_t n;
    uint8_t *bytes = make_adapter(what, &n);
    lmz_error err = {0};
    lmz_adapter *a = lmz_adapter_from_memory(bytes, n, &err);
    if (!needle) {
        if (!a) fail_msg("spoil %d: %s", what, err.message);
    } else {
        if (a) fail_msg("spoil %d opened", what);
        assert_int_equal(err.status, LMZ_ERR_MODEL);
        if (!strstr(err.message, needle))
            fail_msg("spoil %d: '%s' lacks '%s'", what, err.message, needle);
    }
    lmz_adapter_close(a);
    free(bytes);
}

/* Opens, then fails lmz_adapter_check against the model with `needle`. */
static void expect_misfit(lmz_model *m, enum spoil what, const char *needle)
{
    size_t n;
    uint8_t *bytes = make_adapter(what, &n);
    lmz_error err = {0};
    lmz_adapter *a = lmz_adapter_from_memory(bytes, n, &err);
    if (!a) fail_msg("spoil %d: %s", what, err.message);
    assert_int_equal(lmz_adapter_check(a, m, &err), LMZ_ERR_MODEL_MISMATCH);
    if (!strstr(err.message, needle)) fail_msg("spoil %d: '%s' lacks '%s'", what, err.message, needle);
    char msg[400];
    char e2[400];
    forward_ctx *f = fwd_new(m, 8, 1, 8, 1, LMZ_SIMD_AUTO, e2, sizeof e2);
    assert_int_equal(fwd_set_adapter(f, a, msg, sizeof msg), -1);   /* nor can it be applied */
    fwd_free(f);
    lmz_adapter_close(a);
    free(bytes);
}

static void hash_of(enum spoil what, uint8_t out[16])
{
    size_t n;
    uint8_t *bytes = make_adapter(what, &n);
    lmz_error err = {0};
    lmz_adapter *a = lmz_adapter_from_memory(bytes, n, &err);
    if (!a) fail_msg("%s", err.message);
    lmz_adapter_info info;
    lmz_adapter_get_info(a, &info);
    memcpy(out, info.adapter_hash, 16);
    lmz_adapter_close(a);
    free(bytes);
}

static void test_adapter_loading(void **state)
{
    (void)state;
    expect_open(GOOD, NULL);
    expect_open(NO_TYPE, "general.type");
    expect_open(IA3, "not a LoRA adapter");
    expect_open(NO_B, "no lora_b");
    expect_open(RANK, "expected [n_in, r] and [r, n_out]");
    expect_open(UNKNOWN, "'blk.0.attn_norm.weight' is not a LoRA tensor");
    expect_open(Q8, "type Q8_0");
    expect_open(BAD_ALPHA, "adapter.lora.alpha");
    lmz_error err = {0};
    assert_null(lmz_adapter_open("/nonexistent/x.lora.gguf", &err));
    assert_non_null(strstr(err.message, "/nonexistent/x.lora.gguf"));
    assert_null(lmz_adapter_open(BASE, &err));                 /* a model, not an adapter */
    assert_non_null(strstr(err.message, "not an adapter"));

    lmz_model *m = open_model(BASE);
    expect_misfit(m, WIDE, "blk.0.attn_q.weight is 64 x 64");
    expect_misfit(m, LAYER, "has 2 layers");
    expect_misfit(m, OTHER_BASE, "trained for another model");

    /* identity: the weights and alpha, not the name */
    uint8_t good[16], renamed[16], changed[16];
    hash_of(GOOD, good);
    hash_of(RENAMED, renamed);
    hash_of(CHANGED, changed);
    assert_memory_equal(good, renamed, 16);
    assert_memory_not_equal(good, changed, 16);

    lmz_adapter *a = open_adapter(PARTIAL);
    lmz_adapter_info info;
    lmz_adapter_get_info(a, &info);
    assert_int_equal(info.n_matrices, 3);
    assert_int_equal(info.n_layers, 2);
    assert_int_equal(info.rank, 3);
    assert_true(info.alpha == 0.0f);
    assert_false(info.has_base_model_hash);
    assert_true(info.name[0] != 0);
    assert_int_equal(lmz_adapter_check(a, m, &err), LMZ_OK);
    lmz_adapter_close(a);
    lmz_model_close(m);
}

/* ---------------------------------------------------------------- streams */

static const char TEXT[] =
    "An adapter is a small set of weights trained on one domain; the stream records which "
    "one it was coded with, and decoding needs exactly that one.\n";

static lmz_ctx *new_ctx_layout(const lmz_model *m, int no_compact)
{
    lmz_params p;
    lmz_params_default(&p);
    p.lm_always = 1;
    p.no_compact = no_compact;
    lmz_error err = {0};
    lmz_ctx *c = lmz_ctx_new(m, &p, &err);
    if (!c) fail_msg("%s", err.message);
    return c;
}

static lmz_ctx *new_ctx(const lmz_model *m) { return new_ctx_layout(m, 0); }

typedef struct blob { void *p; size_t n; } blob;

/* TEXT's first len bytes compressed with these adapters. */
static blob pack_len(lmz_ctx *c, const lmz_adapter *const *a, size_t n_a, int route,
                     size_t len)
{
    assert_int_equal(lmz_ctx_set_adapters(c, a, n_a, route), LMZ_OK);
    blob b = {NULL, 0};
    if (lmz_compress_buffer(c, TEXT, len, &b.p, &b.n) != LMZ_OK)
        fail_msg("compress: %s", lmz_ctx_error(c));
    return b;
}

static blob pack(lmz_ctx *c, const lmz_adapter *const *a, size_t n_a, int route)
{
    return pack_len(c, a, n_a, route, sizeof TEXT - 1);
}

/* Decode b with these adapters: LMZ_OK and the text, or the status. */
static lmz_status unpack(lmz_ctx *c, blob b, const lmz_adapter *const *a, size_t n_a)
{
    assert_int_equal(lmz_ctx_set_adapters(c, a, n_a, 0), LMZ_OK);
    void *out = NULL;
    size_t n = 0;
    lmz_status st = lmz_decompress_buffer(c, b.p, b.n, &out, &n);
    if (st == LMZ_OK) {
        assert_int_equal(n, sizeof TEXT - 1);
        assert_memory_equal(out, TEXT, n);
    }
    free(out);
    return st;
}

/* In the full layout (no_compact) the stream names its adapter; a compact stream
 * stores only the adapter's id (doc/format.md 11), and messages give that. */
static void streams_need_their_adapter(int no_compact)
{
    lmz_model *m = open_model(BASE);
    lmz_adapter *a = open_adapter(ADAPTER), *p = open_adapter(PARTIAL);
    const lmz_adapter *just_a[] = {a}, *just_p[] = {p}, *both[] = {p, a};
    lmz_ctx *c = new_ctx_layout(m, no_compact);
    blob plain = pack(c, NULL, 0, 0), with_a = pack(c, just_a, 1, 0);
    assert_true(plain.n != with_a.n || memcmp(plain.p, with_a.p, plain.n) != 0);
    assert_int_equal(lmzf_is_compact_tag(((uint8_t *)with_a.p)[0]), !no_compact);

    mem_in in = {with_a.p, with_a.n, 0};
    lmz_stream_info info;
    lmz_error err = {0};
    assert_int_equal(lmz_stream_list(mem_read, &in, &info, &err), LMZ_OK);
    lmz_adapter_info ai;
    lmz_adapter_get_info(a, &ai);
    assert_string_equal(info.adapter_name, no_compact ? ai.name : "");
    assert_memory_equal(info.adapter_hash, ai.adapter_hash, LMZ_STREAM_ID_SIZE);

    assert_int_equal(unpack(c, with_a, just_a, 1), LMZ_OK);
    assert_int_equal(unpack(c, with_a, both, 2), LMZ_OK);       /* found by identity */
    assert_int_equal(unpack(c, plain, both, 2), LMZ_OK);        /* no adapter: none used */
    assert_int_equal(unpack(c, with_a, NULL, 0), LMZ_ERR_MODEL_MISMATCH);
    char quoted[80];
    snprintf(quoted, sizeof quoted, "'%s'", no_compact ? ai.name : "(name not stored)");
    assert_non_null(strstr(lmz_ctx_error(c), quoted));
    assert_non_null(strstr(lmz_ctx_error(c), "was not given"));
    assert_int_equal(unpack(c, with_a, just_p, 1), LMZ_ERR_MODEL_MISMATCH);
    assert_non_null(strstr(lmz_ctx_error(c), "not among the adapters given"));

    /* an adapter that does not fit the context's model is refused up front */
    size_t n;
    uint8_t *bytes = make_adapter(WIDE, &n);
    lmz_adapter *wide = lmz_adapter_from_memory(bytes, n, &err);
    const lmz_adapter *just_wide[] = {wide};
    assert_int_equal(lmz_ctx_set_adapters(c, just_wide, 1, 0), LMZ_ERR_MODEL_MISMATCH);
    lmz_adapter_close(wide);
    free(bytes);
    free(plain.p);
    free(with_a.p);
    lmz_ctx_free(c);
    lmz_adapter_close(a);
    lmz_adapter_close(p);
    lmz_model_close(m);
}

static void test_streams_need_their_adapter(void **state)
{
    (void)state;
    streams_need_their_adapter(1);
    streams_need_their_adapter(0);
}

/* An adapter of m overfitted on TEXT by the LoRA trainer (a few dozen full-batch
 * steps), written to path: one that routing must pick for TEXT. */
static lmz_adapter *adapter_for_text(lmz_model *m, const char *path)
{
    int32_t ids[256];
    long n = tok_encode(m->tok, (const uint8_t *)TEXT, sizeof TEXT - 1, ids + 1, 255);
    assert_true(n > 8 && n < 255);
    ids[0] = tok_bos(m->tok) >= 0 ? tok_bos(m->tok) : ids[1];
    uint32_t T = (uint32_t)n, tok[256];
    for (uint32_t i = 0; i <= T; i++) tok[i] = (uint32_t)ids[i];
    tm_config c;
    char err[400];
    if (tr_config_from_model(m, T, &c, err, sizeof err)) fail_msg("%s", err);
    trainer *t = trainer_new(&c, 1, 1, err, sizeof err);
    if (!t) fail_msg("%s", err);
    if (tr_load_model_params(m, &c, trainer_params(t), err, sizeof err) ||
        trainer_enable_lora(t, 8, 16.0f, 0x7f, 1, err, sizeof err))
        fail_msg("%s", err);
    tr_opt_config o;
    tr_opt_defaults(&o);
    o.lr = 1e-2f;
    o.weight_decay = 0;
    o.warmup = 1;
    size_t np = trainer_n_lora(t);
    float *mom = calloc(np, sizeof(float)), *var = calloc(np, sizeof(float));
    double first = 0, loss = 0;
    for (uint32_t step = 0; step < 40; step++) {
        assert_int_equal(trainer_forward(t, tok, 1, T, &loss), 0);
        if (step == 0) first = loss;
        trainer_backward(t);
        tr_adamw_step_flat(trainer_exec(t), &o, trainer_lora_params(t), trainer_lora_grads(t),
                           mom, var, np, step, o.lr, 1.0f);
    }
    print_message("adapter trained on the text: loss %.3f -> %.3f nats/token\n", first, loss);
    assert_true(loss < 0.5 * first);
    if (tr_export_lora(t, m, 16.0f, "fitted", path, err, sizeof err)) fail_msg("%s", err);
    free(mom);
    free(var);
    trainer_free(t);
    return open_adapter(path);
}

/* Routing picks, among no adapter and each adapter, the one whose stream is the
 * smallest (the text is shorter than the routing prefix, so fewest bits plus the
 * adapter's header bytes = smallest stream here), and the routed stream is the one that
 * adapter alone writes. */
static void route_and_check(lmz_model *m, const lmz_adapter *const *cand, int expect)
{
    lmz_ctx *c = new_ctx(m);
    blob alone[3] = {pack(c, NULL, 0, 0), pack(c, cand, 1, 0), pack(c, cand + 1, 1, 0)};
    blob routed = pack(c, cand, 2, 1);
    int best = 0;
    for (int i = 1; i < 3; i++)
        if (alone[i].n < alone[best].n) best = i;
    print_message("stream sizes: no adapter %zu, first %zu, second %zu; routed %zu\n",
                  alone[0].n, alone[1].n, alone[2].n, routed.n);
    assert_int_equal(best, expect);
    assert_int_equal(routed.n, alone[best].n);
    assert_memory_equal(routed.p, alone[best].p, routed.n);
    assert_int_equal(unpack(c, routed, cand, 2), LMZ_OK);
    for (int i = 0; i < 3; i++) free(alone[i].p);
    free(routed.p);
    lmz_ctx_free(c);
}

static void test_routing(void **state)
{
    (void)state;
    lmz_model *m = open_model(BASE);
    lmz_adapter *a = open_adapter(ADAPTER), *p = open_adapter(PARTIAL);
    char path[64];
    snprintf(path, sizeof path, "/tmp/lmz-test-fitted-%d.lora.gguf", (int)getpid());
    lmz_adapter *fitted = adapter_for_text(m, path);
    remove(path);
    const lmz_adapter *random_ones[] = {p, a}, *with_fitted[] = {p, fitted};
    route_and_check(m, random_ones, 0);      /* random adapters only hurt: none */
    route_and_check(m, with_fitted, 2);      /* the fitted one */
    /* Every prefix of the text, each a compact stream: routing weighs the compact
     * layout's 8 bytes for an adapter, so the routed stream is within a byte (the range
     * coder's rounding against the cross-entropy routing judges by) of the smallest.
     * Weighing the full layout's header (16 bytes here) made prefixes on which the
     * fitted adapter saves 9 to 16 bytes go without it. */
    lmz_ctx *c = new_ctx(m);
    const lmz_adapter *just_fitted[] = {fitted};
    for (size_t len = 4; len < sizeof TEXT; len += 4) {
        blob none = pack_len(c, NULL, 0, 0, len), with = pack_len(c, just_fitted, 1, 0, len);
        blob routed = pack_len(c, just_fitted, 1, 1, len);
        size_t best = none.n < with.n ? none.n : with.n;
        if (routed.n > best + 1)
            fail_msg("prefix of %zu bytes: no adapter %zu, fitted %zu, routed %zu", len,
                     none.n, with.n, routed.n);
        free(none.p); free(with.p); free(routed.p);
    }
    lmz_ctx_free(c);
    lmz_adapter_close(fitted);
    lmz_adapter_close(a);
    lmz_adapter_close(p);
    lmz_model_close(m);
}

/* ---------------------------------------------------------------- training samples */

static char *write_temp(const char *content)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/lmz-test-samples-%d.jsonl", (int)getpid());
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
    return path;
}

static void test_jsonl_samples(void **state)
{
    (void)state;
    tr_samples s = {0};
    char err[300];
    char *path = write_temp(
        "{\"id\": 1, \"meta\": {\"a\": [1, 2.5e3, null, true, {\"text\": \"nested\"}]}, "
        "\"text\": \"line\\none \\\"q\\\" \\\\ \\u00e9 \\ud83d\\ude00 \\/\"}\n"
        "\n"
        "  {\"text\": \"second\", \"model\": \"x\"}\r\n"
        "{\"text\": \"\"}\n");
    assert_int_equal(tr_samples_add_file(&s, path, err, sizeof err), 0);
    assert_int_equal(s.n, 2);                  /* the blank line and the empty text drop */
    static const char first[] = "line\none \"q\" \\ \xc3\xa9 \xf0\x9f\x98\x80 /";
    assert_int_equal(s.len[0], sizeof first - 1);
    assert_memory_equal(s.text[0], first, sizeof first - 1);
    assert_string_equal(s.text[1], "second");
    assert_int_equal(s.bytes, s.len[0] + s.len[1]);
    tr_samples_free(&s);

    static const struct { const char *content, *needle; } bad[] = {
        {"{\"text\": \"a\"}\n{\"txt\": \"b\"}\n", "line 2: the object has no \"text\""},
        {"{\"text\": \"a\\q\"}\n", "line 1: not a JSON object"},
        {"[\"text\"]\n", "line 1: not a JSON object"},
        {"{\"text\": \"unterminated}\n", "line 1: not a JSON object"},
        {"{\"text\": 5}\n", "no \"text\""},
        {"\n\n", "holds no sample"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        path = write_temp(bad[i].content);
        assert_int_equal(tr_samples_add_file(&s, path, err, sizeof err), -1);
        if (!strstr(err, bad[i].needle)) fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].needle);
        tr_samples_free(&s);
    }
    remove(path);
    /* a text file is one sample, whatever it holds */
    assert_int_equal(tr_samples_add_file(&s, "tests/fixtures/ref/README.md", err, sizeof err), 0);
    assert_int_equal(s.n, 1);
    tr_samples_free(&s);
    assert_int_equal(tr_samples_add_file(&s, "/nonexistent.jsonl", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent.jsonl"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lora_matches_llamacpp),
        cmocka_unit_test(test_lora_determinism),
        cmocka_unit_test(test_adapter_loading),
        cmocka_unit_test(test_streams_need_their_adapter),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_jsonl_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
