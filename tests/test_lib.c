/*
 * test_lib.c -- the public API end to end: round trips through the LM, ZSTD and RAW
 * methods, the determinism matrix on compressed bytes (SIMD path x threads x window),
 * model identity, damaged streams and the size bound for incompressible input.
 *
 * The fixture models have random weights, so on their own they lose to zstd; the tests
 * set lm_always to make every chunk go through the model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lmz.h"
#include "shared_data.h"
#include "format/container.h"
#include "kernels/kernels.h"
#include "lib/crlf.h"
#include "lib/textdetect.h"

#define MODEL_A "tests/fixtures/ref/llama-gqa-tied-gpt2.gguf"
#define MODEL_SPM "tests/fixtures/ref/llama-mqa-spm.gguf"
#define MODEL_QWEN3 "tests/fixtures/ref/qwen3-gqa-gpt2.gguf"


static lmz_model *open_model(const char *path)
{
    lmz_error err;
    lmz_model *m = lmz_model_open(path, &err);
    if (!m) fail_msg("cannot open %s: %s", path, err.message);
    return m;
}

/* Every text chunk through the model (lm_always), with these chunks and window. */
static lmz_params test_params(lmz_simd simd, int threads, uint32_t chunk, uint32_t context)
{
    lmz_params p;
    lmz_params_default(&p);
    p.simd = simd;
    p.threads = threads;
    p.chunk_size = chunk;
    p.context = context;
    p.lm_always = 1;
    return p;
}

static lmz_ctx *new_ctx(const lmz_model *m, lmz_simd simd, int threads, uint32_t chunk,
                        uint32_t context)
{
    lmz_params p = test_params(simd, threads, chunk, context);
    lmz_error err;
    lmz_ctx *c = lmz_ctx_new(m, &p, &err);
    if (!c) fail_msg("lmz_ctx_new: %s", err.message);
    return c;
}

/* Compress, check the stream lists right, decompress, compare.  Returns the compressed
 * stream (caller frees). */
static uint8_t *round_trip(lmz_ctx *c, const uint8_t *src, size_t n, size_t *out_n)
{
    void *z = NULL, *d = NULL;
    size_t zn = 0, dn = 0;
    lmz_status st = lmz_compress_buffer(c, src, n, &z, &zn);
    if (st != LMZ_OK) fail_msg("compress: %s", lmz_ctx_error(c));
    st = lmz_decompress_buffer(c, z, zn, &d, &dn);
    if (st != LMZ_OK) fail_msg("decompress: %s", lmz_ctx_error(c));
    assert_int_equal(dn, n);
    if (n) assert_memory_equal(d, src, n);
    free(d);
    *out_n = zn;
    return z;
}

static void test_round_trip_inputs(void **state)
{
    (void)state;
    lmz_model *m = open_model(MODEL_A);
    lmz_ctx *c = new_ctx(m, LMZ_SIMD_AUTO, 1, 4096, 64);
    size_t n, zn;
    static const char *files[] = {
        "llm-gpt-4o-2024-05-13.txt", "prose-canterbury-alice29.txt",
        "code-c-glibc-headers.txt", "llm-Qwen1.5-72B-Chat.jsonl",
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        uint8_t *text = shared_data(files[i], 6000, &n);
        free(round_trip(c, text, n, &zn));
        free(text);
    }
    uint8_t small[3] = { 'a', 0, 0xFF };
    free(round_trip(c, small, 0, &zn));
    free(round_trip(c, small, 1, &zn));
    free(round_trip(c, small, 3, &zn));
    uint8_t rnd[5000];
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof rnd; i++) { s = s * 1103515245u + 12345u; rnd[i] = (uint8_t)(s >> 16); }
    free(round_trip(c, rnd, sizeof rnd, &zn));
    lmz_ctx_free(c);
    lmz_model_close(m);
}

/* How many chunks of each method a stream has (LM, LM_CRLF), by parsing it; returns
 * how many chunks it has in all. */
static int count_lm_methods(const uint8_t *z, size_t zn, int *lm, int *lm_crlf)
{
    int chunks = 0;
    lmzf_memsrc src = {z, zn, 0};
    lmzf_parser p;
    lmz_error err;
    lmzf_parser_init(&p, lmzf_mem_read, &src);
    assert_int_equal(lmzf_parser_next_stream(&p, NULL, &err), LMZ_OK);
    *lm = *lm_crlf = 0;
    for (;;) {
        lmzf_record rec;
        assert_int_equal(lmzf_parser_record(&p, &rec, &err), LMZ_OK);
        if (rec.is_end) break;
        chunks++;
        *lm += rec.chunk.method == LMZF_METHOD_LM;
        *lm_crlf += rec.chunk.method == LMZF_METHOD_LM_CRLF;
        uint8_t *payload = malloc(rec.chunk.payload_size + 1);
        assert_int_equal(lmzf_parser_payload(&p, &rec, payload, &err), LMZ_OK);
        free(payload);
    }
    return chunks;
}

/* crlf_normalize / crlf_expand on random strings over {a, CR, LF}: whenever normalize
 * accepts, expand gives back the input exactly, and rejects every other target size. */
static void test_crlf_transform_inverts(void **state)
{
    (void)state;
    uint8_t in[40], lf[40], back[41];
    uint32_t s = 7;
    int accepted = 0;
    for (int trial = 0; trial < 20000; trial++) {
        size_t n = 1 + trial % 39;
        for (size_t i = 0; i < n; i++) {
            s = s * 1103515245u + 12345u;
            in[i] = "a\r\n\r"[(s >> 16) % 4];
        }
        size_t k = crlf_normalize(in, n, lf);
        int bare_lf = 0, pairs = 0;
        for (size_t i = 0; i < n; i++)
            if (in[i] == '\n') { if (i && in[i - 1] == '\r') pairs++; else bare_lf = 1; }
        assert_int_equal(k != 0, !bare_lf && pairs > 0);
        if (!k) continue;
        accepted++;
        assert_int_equal(k, n - (size_t)pairs);
        assert_int_equal(crlf_expand(lf, k, back, n), 0);
        assert_memory_equal(back, in, n);
        assert_int_equal(crlf_expand(lf, k, back, n - 1), -1);
        assert_int_equal(crlf_expand(lf, k, back, n + 1), -1);
    }
    assert_true(accepted > 1000);
}

/* CR LF text is coded as LF text (LM_CRLF) exactly when that is invertible: every LF
 * follows a CR.  CRs elsewhere (alone, doubled, at a chunk's end) survive. */
static void test_crlf_chunks(void **state)
{
    (void)state;
    static const struct { const char *text; int crlf; } cases[] = {
        {"one\r\ntwo\r\nthree\r\n", 1},
        {"no line end at all", 0},
        {"bare\nLF\r\nmixed in\r\n", 0},
        {"\r\r\ndouble CR\r\n\r\n", 1},
        {"lone CR\r inside\r\nand at the end\r", 1},
        {"\n", 0},
        {"\r\n", 1},
        {"\r", 0},
    };
    lmz_model *m = open_model(MODEL_A);
    lmz_ctx *c = new_ctx(m, LMZ_SIMD_AUTO, 1, 4096, 64);
    size_t zn;
    int lm, lm_crlf;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *t = cases[i].text;
        uint8_t *z = round_trip(c, (const uint8_t *)t, strlen(t), &zn);
        count_lm_methods(z, zn, &lm, &lm_crlf);
        if (lm_crlf != cases[i].crlf || lm + lm_crlf != 1)
            fail_msg("case %zu: %d LM and %d LM_CRLF chunks, wanted LM_CRLF %d", i, lm,
                     lm_crlf, cases[i].crlf);
        free(z);
    }
    /* A whole CR LF file of ../shared/data, in several chunks (cut inside CR LF too). */
    size_t n;
    uint8_t *text = shared_data("prose-canterbury-alice29.txt", 20000, &n);
    lmz_ctx_free(c);
    c = new_ctx(m, LMZ_SIMD_AUTO, 2, 1001, 64);
    uint8_t *z = round_trip(c, text, n, &zn);
    count_lm_methods(z, zn, &lm, &lm_crlf);
    assert_true(lm_crlf >= 10);
    free(z);
    free(text);
    lmz_ctx_free(c);
    lmz_model_close(m);
}

/* Text with NUL padding (tar headers and padding, issue 17): the NULs do not count
 * against the text, and runs of >= 4 KiB get chunks of their own, so the model's time
 * goes to the text and zstd codes the padding. */
static void test_nul_padding(void **state)
{
    (void)state;
    enum { TEXT = 3000, HEADER = 512, PAD = 6000, N = TEXT + HEADER + TEXT + PAD };
    uint8_t *buf = calloc(N, 1);
    size_t tn;
    uint8_t *text = shared_data("llm-gpt-4o-2024-05-13.txt", 2 * TEXT, &tn);
    assert_true(tn == 2 * TEXT);
    /* text, a tar-like header (a name, octal fields, NULs), text, padding */
    memcpy(buf, text, TEXT);
    memcpy(buf + TEXT, "answers.txt", 11);
    memcpy(buf + TEXT + 100, "0000644\0" "0001750\0" "0001750\0" "00000005670\0"
                             "15133350652\0" "013275\0 0", 57);
    memcpy(buf + TEXT + 257, "ustar  \0root", 12);
    memcpy(buf + TEXT + 297, "root", 4);
    memcpy(buf + TEXT + HEADER, text + TEXT, TEXT);

    /* The share of text leaves NULs out, up to 7/8 of the bytes. */
    assert_true(mostly_text(buf + TEXT, HEADER));                 /* a lone header */
    assert_true(mostly_text(buf, N));                             /* 56 % NUL */
    assert_true(mostly_text(buf + 2 * TEXT + HEADER - 800, 800 + 5600));   /* 87.5 % */
    assert_false(mostly_text(buf + 2 * TEXT + HEADER - 700, 700 + 5600));  /* 88.9 % */
    assert_false(looks_like_text(buf, N));
    uint8_t noisy[400];
    memcpy(noisy, text, sizeof noisy);
    for (size_t i = 0; i < sizeof noisy; i += 3) noisy[i] = 0x01;  /* a third binary */
    assert_false(mostly_text(noisy, sizeof noisy));

    /* Long runs at either end are cut off; shorter ones and inner ones stay. */
    assert_int_equal(padding_cut(buf, N), 2 * TEXT + HEADER);
    assert_int_equal(padding_cut(buf, N - PAD + 4095), N - PAD + 4095);
    assert_int_equal(padding_cut(buf, TEXT + HEADER), TEXT + HEADER);
    assert_int_equal(padding_cut(buf + N - PAD, PAD), PAD);      /* all NUL: one chunk */
    memset(buf, 0, 4096);
    assert_int_equal(padding_cut(buf, N), 4096);
    assert_int_equal(padding_cut(buf + 1, N - PAD - 1), N - PAD - 1);  /* 4095: stays */
    memcpy(buf, text, TEXT);

    /* In a stream: the text and header in one chunk, the padding in another, and it
     * comes back.  --no-mix keeps the whole-chunk rule (1 % of non-text at most). */
    lmz_model *m = open_model(MODEL_A);
    lmz_params p = test_params(LMZ_SIMD_AUTO, 2, 64 << 10, 64);
    p.lm_always = 0;
    for (int no_mix = 0; no_mix <= 1; no_mix++) {
        p.no_mix = no_mix;
        lmz_ctx *c = lmz_ctx_new(m, &p, NULL);
        assert_non_null(c);
        size_t zn;
        int lm, lm_crlf;
        uint8_t *z = round_trip(c, buf, N, &zn);
        assert_int_equal(count_lm_methods(z, zn, &lm, &lm_crlf), no_mix ? 1 : 2);
        free(z);
        lmz_ctx_free(c);
    }
    lmz_model_close(m);
    free(text);
    free(buf);
}

/* The head of every file of ../shared/data, through the automatic method choice (which
 * picks zstd over this random model) and through the model. */
static void test_round_trip_every_shared_file(void **state)
{
    (void)state;
    const char *shared = getenv("LMZ_SHARED");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/data", shared ? shared : "../shared");
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    lmz_model *m = open_model(MODEL_A);
    lmz_params p;
    lmz_params_default(&p);
    p.chunk_size = 8192;
    lmz_ctx *auto_ctx = lmz_ctx_new(m, &p, NULL);
    lmz_ctx *lm_ctx = new_ctx(m, LMZ_SIMD_AUTO, 2, 4096, 128);
    assert_non_null(auto_ctx);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || (strcmp(e->d_name + len - 4, ".txt") && strcmp(e->d_name + len - 6, ".jsonl")))
            continue;
        size_t n, zn;
        uint8_t *text = shared_data(e->d_name, 20000, &n);
        uint8_t *z = round_trip(auto_ctx, text, n, &zn);
        assert_true(zn < n);       /* zstd at least compresses text */
        free(z);
        free(round_trip(lm_ctx, text, 3000, &zn));
        free(text);
        files++;
    }
    closedir(d);
    print_message("%d files of %s round-tripped\n", files, dir);
    assert_true(files >= 18);
    lmz_ctx_free(auto_ctx);
    lmz_ctx_free(lm_ctx);
    lmz_model_close(m);
}

static void test_round_trip_spm_and_qwen3(void **state)
{
    (void)state;
    const char *models[] = { MODEL_SPM, MODEL_QWEN3 };
    size_t n, zn;
    uint8_t *text = shared_data("llm-claude-3-opus-20240229.txt", 3000, &n);
    for (size_t i = 0; i < 2; i++) {
        lmz_model *m = open_model(models[i]);
        lmz_ctx *c = new_ctx(m, LMZ_SIMD_AUTO, 2, 1000, 48);
        free(round_trip(c, text, n, &zn));
        lmz_ctx_free(c);
        lmz_model_close(m);
    }
    free(text);
}

/* The same bytes from every SIMD path, thread count and window, and every one of them
 * decodes with any other configuration. */
static void test_determinism_matrix(void **state)
{
    (void)state;
    lmz_model *m = open_model(MODEL_A);
    size_t n;
    uint8_t *text = shared_data("llm-gpt-4o-2024-05-13.txt", 5000, &n);
    const lmz_simd paths[] = { LMZ_SIMD_SCALAR, LMZ_SIMD_AVX2, LMZ_SIMD_AVX512, LMZ_SIMD_NEON };
    uint8_t *ref = NULL;
    size_t ref_n = 0;
    int tried = 0;
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        if (!lmz_simd_supported(paths[p])) {
            print_message("SIMD path %s not on this CPU: skipped\n", lmz_simd_name(paths[p]));
            continue;
        }
        for (int threads = 1; threads <= 3; threads++) {
            /* chunk 1500 bytes: several chunks, so several lanes; context 40: the window
             * slides many times within a chunk. */
            lmz_ctx *c = new_ctx(m, paths[p], threads, 1500, 40);
            size_t zn;
            uint8_t *z = round_trip(c, text, n, &zn);
            if (!ref) {
                ref = z;
                ref_n = zn;
            } else {
                assert_int_equal(zn, ref_n);
                assert_memory_equal(z, ref, zn);
                free(z);
            }
            tried++;
            lmz_ctx_free(c);
        }
    }
    assert_true(tried >= 3);
    /* Decoding with another path/thread count than the encoder's. */
    lmz_ctx *c = new_ctx(m, LMZ_SIMD_SCALAR, 3, 1500, 40);
    void *d = NULL;
    size_t dn = 0;
    assert_int_equal(lmz_decompress_buffer(c, ref, ref_n, &d, &dn), LMZ_OK);
    assert_int_equal(dn, n);
    assert_memory_equal(d, text, n);
    free(d);
    lmz_ctx_free(c);
    free(ref);
    free(text);
    lmz_model_close(m);
}

/* The progress callback, with the LM coder split into runs or not: called from the
 * caller's thread only, never going backwards, ending at the whole input; and a non-zero
 * return stops the call with LMZ_ERR_INTERRUPTED and no output. */
typedef struct progress_log {
    pthread_t caller;
    int calls, other_thread, backwards, stop_after;
    uint64_t last_in, last_out;
} progress_log;

static int log_progress(void *user, uint64_t in, uint64_t out)
{
    progress_log *l = user;
    if (!pthread_equal(pthread_self(), l->caller)) l->other_thread++;
    if (in < l->last_in || out < l->last_out) l->backwards++;
    l->last_in = in;
    l->last_out = out;
    l->calls++;
    return l->stop_after && l->calls >= l->stop_after;
}

static void test_progress_and_interrupt(void **state)
{
    (void)state;
    lmz_model *m = open_model(MODEL_A);
    size_t n;
    uint8_t *text = shared_data("llm-gpt-4o-2024-05-13.txt", 6000, &n);
    for (int threads = 1; threads <= 3; threads++) {
        for (int decoding = 0; decoding <= 1; decoding++) {
            lmz_ctx *c = new_ctx(m, LMZ_SIMD_AUTO, threads, 1000, 40);
            void *z = NULL, *d = NULL;
            size_t zn = 0, dn = 0;
            assert_int_equal(lmz_compress_buffer(c, text, n, &z, &zn), LMZ_OK);
            lmz_ctx_free(c);

            progress_log log = { .caller = pthread_self() };
            lmz_params p = test_params(LMZ_SIMD_AUTO, threads, 1000, 40);
            p.progress = log_progress;
            p.progress_user = &log;
            lmz_error err;
            c = lmz_ctx_new(m, &p, &err);
            assert_non_null(c);
            lmz_status st = decoding ? lmz_decompress_buffer(c, z, zn, &d, &dn)
                                     : lmz_compress_buffer(c, text, n, &d, &dn);
            assert_int_equal(st, LMZ_OK);
            assert_true(log.calls > 2);
            assert_int_equal(log.other_thread, 0);
            assert_int_equal(log.backwards, 0);
            if (decoding) assert_int_equal(log.last_out, n);
            else assert_int_equal(log.last_in, n);
            free(d);
            d = NULL;

            progress_log stop = { .caller = pthread_self(), .stop_after = 2 };
            p.progress_user = &stop;
            lmz_ctx_free(c);
            c = lmz_ctx_new(m, &p, &err);
            assert_non_null(c);
            st = decoding ? lmz_decompress_buffer(c, z, zn, &d, &dn)
                          : lmz_compress_buffer(c, text, n, &d, &dn);
            assert_int_equal(st, LMZ_ERR_INTERRUPTED);
            assert_null(d);
            assert_int_equal(stop.calls, 2);
            assert_string_equal(lmz_ctx_error(c), "interrupted");
            lmz_ctx_free(c);
            free(z);
        }
    }
    free(text);
    lmz_model_close(m);
}

static void test_wrong_model(void **state)
{
    (void)state;
    lmz_model *a = open_model(MODEL_A), *b = open_model(MODEL_SPM);
    lmz_ctx *ca = new_ctx(a, LMZ_SIMD_AUTO, 1, 0, 0), *cb = new_ctx(b, LMZ_SIMD_AUTO, 1, 0, 0);
    const char *text = "The quick brown fox jumps over the lazy dog.";
    void *z = NULL, *d = NULL;
    size_t zn = 0, dn = 0;
    assert_int_equal(lmz_compress_buffer(ca, text, strlen(text), &z, &zn), LMZ_OK);
    assert_int_equal(lmz_decompress_buffer(cb, z, zn, &d, &dn), LMZ_ERR_MODEL_MISMATCH);
    assert_null(d);
    lmz_model_info ia, ib;
    lmz_model_get_info(a, &ia);
    lmz_model_get_info(b, &ib);
    assert_non_null(strstr(lmz_ctx_error(cb), ia.name));
    assert_non_null(strstr(lmz_ctx_error(cb), ib.name));
    free(z);
    lmz_ctx_free(ca);
    lmz_ctx_free(cb);
    lmz_model_close(a);
    lmz_model_close(b);
}

/* Every single-byte change and every truncation of an LM stream fails cleanly. */
static void test_damage(void **state)
{
    (void)state;
    lmz_model *m = open_model(MODEL_A);
    lmz_ctx *c = new_ctx(m, LMZ_SIMD_AUTO, 1, 200, 32);
    const char *text = "Damage must never decode to wrong output reported as success.\n"
                       "Every chunk carries its own checks.\n";
    void *z = NULL, *d = NULL;
    size_t zn = 0, dn = 0;
    assert_int_equal(lmz_compress_buffer(c, text, strlen(text), &z, &zn), LMZ_OK);
    uint8_t *bad = malloc(zn);
    for (size_t i = 0; i < zn; i++) {
        memcpy(bad, z, zn);
        bad[i] ^= 0x20;
        lmz_status st = lmz_decompress_buffer(c, bad, zn, &d, &dn);
        if (st == LMZ_OK) fail_msg("flip at byte %zu of %zu decoded as success", i, zn);
        assert_null(d);
    }
    for (size_t len = 0; len < zn; len++) {
        lmz_status st = lmz_decompress_buffer(c, z, len, &d, &dn);
        if (st == LMZ_OK) fail_msg("truncation to %zu of %zu bytes decoded as success", len, zn);
    }
    free(bad);
    free(z);
    lmz_ctx_free(c);
    lmz_model_close(m);
}

/* Incompressible input grows by at most a small constant plus 0.1%. */
static void test_expansion_bound(void **state)
{
    (void)state;
    lmz_model *m = open_model(MODEL_A);
    lmz_ctx *c;
    lmz_params p;
    lmz_params_default(&p);
    p.chunk_size = 64 << 10;
    c = lmz_ctx_new(m, &p, NULL);
    assert_non_null(c);
    size_t n = 300000;
    uint8_t *rnd = malloc(n);
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        rnd[i] = (uint8_t)s;
    }
    size_t zn;
    free(round_trip(c, rnd, n, &zn));
    print_message("random %zu bytes -> %zu bytes\n", n, zn);
    assert_true(zn <= n + n / 1000 + 256);
    free(rnd);
    lmz_ctx_free(c);
    lmz_model_close(m);
}

/* Two streams back to back decode as the concatenation, like gzip members. */
static void test_concatenated_streams(void **state)
{
    (void)state;
    lmz_model *m = open_model(MODEL_A);
    lmz_ctx *c = new_ctx(m, LMZ_SIMD_AUTO, 1, 0, 0);
    void *z1, *z2, *d;
    size_t n1, n2, dn;
    assert_int_equal(lmz_compress_buffer(c, "first ", 6, &z1, &n1), LMZ_OK);
    assert_int_equal(lmz_compress_buffer(c, "second", 6, &z2, &n2), LMZ_OK);
    uint8_t *both = malloc(n1 + n2);
    memcpy(both, z1, n1);
    memcpy(both + n1, z2, n2);
    assert_int_equal(lmz_decompress_buffer(c, both, n1 + n2, &d, &dn), LMZ_OK);
    assert_int_equal(dn, 12);
    assert_memory_equal(d, "first second", 12);
    free(d); free(both); free(z1); free(z2);
    lmz_ctx_free(c);
    lmz_model_close(m);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    lmz_error err;
    assert_null(lmz_model_open("tests/fixtures/does-not-exist.gguf", &err));
    assert_int_equal(err.status, LMZ_ERR_MODEL);
    assert_non_null(strstr(err.message, "does-not-exist"));
    lmz_model *m = open_model(MODEL_A);
    lmz_params p;
    lmz_params_default(&p);
    p.level = 12;
    assert_null(lmz_ctx_new(m, &p, &err));
    assert_int_equal(err.status, LMZ_ERR_ARG);
    /* A context beyond what the model was trained for (the fixtures say 512). */
    lmz_params_default(&p);
    p.context = 100000;
    assert_null(lmz_ctx_new(m, &p, &err));
    assert_int_equal(err.status, LMZ_ERR_ARG);
    assert_non_null(strstr(err.message, "trained"));
    lmz_model_close(m);
}

/* lmz_compress_many: each stream byte for byte what lmz_compress_buffer writes for that
 * text alone, whatever the batch and thread count, mixed or not, for empty, one-byte,
 * CR LF, binary and multi-chunk texts among short ones; lmz_decompress_many gives them
 * back, and names a damaged one in its status without losing the others. */
static void many_case(lmz_model *m, int threads, int no_mix, int lm_always)
{
    enum { N = 11 };
    static uint8_t bin[300], big[3000];
    for (size_t i = 0; i < sizeof bin; i++) bin[i] = (uint8_t)(i * 131 + 7);
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)"the quick brown fox\n"[i % 20];
    const char *texts[N] = {
        "", "x", "Short answer.", "Line one\r\nline two\r\n", NULL, NULL,
        "The range coder spends -log2 p bits on each token.",
        "Another, slightly longer text: the model predicts each next token, and a range "
        "coder spends -log2 p bits on the one that comes.",
        "a", "zz\n", "The end.\n",
    };
    const void *src[N];
    size_t size[N];
    for (int i = 0; i < N; i++) {
        src[i] = texts[i];
        size[i] = texts[i] ? strlen(texts[i]) : 0;
    }
    src[4] = bin; size[4] = sizeof bin;
    src[5] = big; size[5] = sizeof big;        /* two chunks of 2048: the full layout */
    lmz_params p = test_params(LMZ_SIMD_AUTO, threads, 2048, 0);
    p.no_mix = no_mix;
    p.lm_always = lm_always;  /* 0: the fallbacks compete, as by default (this tiny test
                               * model loses to them); 1: every stream is the LM's */
    lmz_error err;
    lmz_ctx *c = lmz_ctx_new(m, &p, &err);
    if (!c) fail_msg("%s", err.message);
    void *out[N];
    size_t out_size[N];
    if (lmz_compress_many(c, N, src, size, out, out_size) != LMZ_OK)
        fail_msg("compress_many: %s", lmz_ctx_error(c));
    for (int i = 0; i < N; i++) {
        void *alone = NULL;
        size_t alone_n = 0;
        assert_int_equal(lmz_compress_buffer(c, src[i], size[i], &alone, &alone_n), LMZ_OK);
        if (alone_n != out_size[i] || memcmp(alone, out[i], alone_n) != 0)
            fail_msg("text %d (threads %d, no_mix %d): %zu bytes alone, %zu in the batch", i,
                     threads, no_mix, alone_n, out_size[i]);
        free(alone);
    }
    assert_true(((uint8_t *)out[0])[0] == 0xA0 && out_size[0] == 5);
    assert_true(((uint8_t *)out[5])[0] == 0x89);            /* two chunks */

    ((uint8_t *)out[7])[out_size[7] - 1] ^= 1;             /* damage one */
    /* Among them: a stream of another context (the batch decoding side by side must
     * break there), and one with a byte of trailing data. */
    enum { M = N + 2 };
    const void *in[M];
    size_t in_size[M];
    void *extra[2];
    size_t extra_size[2];
    lmz_params p2 = p;
    p2.context = 64;
    lmz_ctx *c2 = lmz_ctx_new(m, &p2, &err);
    if (!c2) fail_msg("%s", err.message);
    assert_int_equal(lmz_compress_buffer(c2, src[6], size[6], &extra[0], &extra_size[0]),
                     LMZ_OK);
    lmz_ctx_free(c2);
    extra_size[1] = out_size[2] + 1;
    extra[1] = malloc(extra_size[1]);
    memcpy(extra[1], out[2], out_size[2]);
    ((uint8_t *)extra[1])[out_size[2]] = 0xA5;
    const size_t from[M] = { 0, 1, 2, N, 3, 4, 5, 6, 7, 8, 9, 10, N + 1 };
    for (int j = 0; j < M; j++) {
        in[j] = from[j] < N ? out[from[j]] : extra[from[j] - N];
        in_size[j] = from[j] < N ? out_size[from[j]] : extra_size[from[j] - N];
    }
    void *back[M];
    size_t back_size[M];
    lmz_status status[M];
    lmz_status first = lmz_decompress_many(c, M, in, in_size, back, back_size, status);
    char first_msg[600];
    snprintf(first_msg, sizeof first_msg, "%s", lmz_ctx_error(c));
    /* Stream by stream, what lmz_decompress_buffer says of it alone. */
    int fails = 0;
    for (int j = 0; j < M; j++) {
        void *alone = NULL;
        size_t alone_n = 0;
        lmz_status st = lmz_decompress_buffer(c, in[j], in_size[j], &alone, &alone_n);
        if (status[j] != st)
            fail_msg("stream %d (threads %d, no_mix %d): %s in the batch, %s alone", j, threads,
                     no_mix, lmz_status_string(status[j]), lmz_status_string(st));
        if (st != LMZ_OK && fails++ == 0) {
            char want[600];
            snprintf(want, sizeof want, "stream %d: %s", j, lmz_ctx_error(c));
            assert_string_equal(first_msg, want);
            assert_int_equal(first, st);
        }
        if (st == LMZ_OK) {
            assert_int_equal(back_size[j], alone_n);
            assert_memory_equal(back[j], alone, alone_n);
            size_t t = from[j] < N ? from[j] : 6;
            assert_int_equal(back_size[j], size[t]);
            if (size[t]) assert_memory_equal(back[j], src[t], size[t]);
        } else {
            assert_null(back[j]);
        }
        free(alone);
        free(back[j]);
    }
    assert_int_equal(fails, 2);                     /* the damaged one, the trailing byte */
    assert_int_equal(status[8], LMZ_ERR_CORRUPT);
    /* without a status array, all or nothing */
    assert_int_equal(lmz_decompress_many(c, M, in, in_size, back, back_size, NULL),
                     LMZ_ERR_CORRUPT);
    for (int j = 0; j < M; j++) assert_null(back[j]);
    free(extra[0]);
    free(extra[1]);
    for (int i = 0; i < N; i++) free(out[i]);
    lmz_ctx_free(c);
}

static void test_compress_many(void **state)
{
    (void)state;
    lmz_model *m = open_model(MODEL_A);
    many_case(m, 1, 0, 0);
    many_case(m, 2, 0, 0);
    many_case(m, 2, 1, 0);
    many_case(m, 1, 0, 1);
    many_case(m, 2, 0, 1);
    many_case(m, 2, 1, 1);
    lmz_model_close(m);
}

/* Decompression streams: a chunk is written as soon as it and those before it are
 * decoded, not when its whole group is.  20 chunks, 8 lanes: the first write comes while
 * the decoder has done about the first round, far from the whole content.  (Mixed
 * streams decode a generation of 8 chunks in lockstep and stream a generation at a
 * time.) */
typedef struct stream_watch {
    uint64_t progress_out, at_first_write;
    size_t writes, bytes;
} stream_watch;

static int watch_progress(void *user, uint64_t in, uint64_t out)
{
    (void)in;
    ((stream_watch *)user)->progress_out = out;
    return 0;
}

static int watch_write(void *user, const void *buf, size_t n)
{
    (void)buf;
    stream_watch *w = user;
    if (w->writes++ == 0) w->at_first_write = w->progress_out;
    w->bytes += n;
    return 0;
}

static void test_decompression_streams(void **state)
{
    (void)state;
    lmz_model *m = open_model(MODEL_A);
    size_t n;
    uint8_t *text = shared_data("llm-gpt-4o-2024-05-13.txt", 6000, &n);
    lmz_params p = test_params(LMZ_SIMD_AUTO, 1, 300, 0);
    p.no_mix = 1;
    stream_watch w = { 0, 0, 0, 0 };
    p.progress = watch_progress;
    p.progress_user = &w;
    lmz_error err;
    lmz_ctx *c = lmz_ctx_new(m, &p, &err);
    assert_non_null(c);
    void *z = NULL;
    size_t zn = 0;
    assert_int_equal(lmz_compress_buffer(c, text, n, &z, &zn), LMZ_OK);
    w = (stream_watch){ 0, 0, 0, 0 };
    lmzf_memsrc src = { z, zn, 0 };
    assert_int_equal(lmz_decompress_stream(c, lmzf_mem_read, &src, watch_write, &w), LMZ_OK);
    assert_int_equal(w.bytes, n);
    assert_true(w.writes >= 20);
    if (w.at_first_write * 2 > n)
        fail_msg("first write after %llu of %zu bytes were decoded",
                 (unsigned long long)w.at_first_write, n);
    free(z);
    free(text);
    lmz_ctx_free(c);
    lmz_model_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_inputs),
        cmocka_unit_test(test_crlf_transform_inverts),
        cmocka_unit_test(test_crlf_chunks),
        cmocka_unit_test(test_nul_padding),
        cmocka_unit_test(test_round_trip_every_shared_file),
        cmocka_unit_test(test_round_trip_spm_and_qwen3),
        cmocka_unit_test(test_determinism_matrix),
        cmocka_unit_test(test_progress_and_interrupt),
        cmocka_unit_test(test_wrong_model),
        cmocka_unit_test(test_damage),
        cmocka_unit_test(test_expansion_bound),
        cmocka_unit_test(test_concatenated_streams),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_compress_many),
        cmocka_unit_test(test_decompression_streams),
    };
    /* TEST_FILTER=test_compress_many runs one (a pattern, as cmocka takes it). */
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
