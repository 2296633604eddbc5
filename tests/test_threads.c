/*
 * test_threads.c -- the library used from several threads at once (issue 6).
 *
 * The API promises that a model is read-only once loaded and may be shared by any number
 * of contexts in any number of threads, and that contexts share nothing else.  Here
 * several pthreads, each with its own lmz_ctx (some with their own worker pools) on one
 * shared lmz_model, compress and decompress at the same time -- buffer and stream APIs,
 * LM chunks with a sliding window, ZSTD and RAW chunks, damaged streams -- and every
 * result is compared byte for byte with what one thread alone produced first.  Models are
 * also opened and closed concurrently.  `make test-tsan` runs this under ThreadSanitizer.
 *
 * cmocka is not thread-safe: workers only record what they saw; the main thread asserts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmz.h"
#include "shared_data.h"

#define MODEL_A "tests/fixtures/ref/llama-gqa-tied-gpt2.gguf"
#define MODEL_SPM "tests/fixtures/ref/llama-mqa-spm.gguf"

enum { N_INPUTS = 5, N_WORKERS = 4, ROUNDS = 1, MAX_MSGS = 8 };

typedef struct blob {
    uint8_t *p;
    size_t n;
} blob;

/* What every thread must reproduce: inputs, their single-threaded compressed streams, a
 * damaged stream and the error message it gives. */
typedef struct reference {
    const lmz_model *model;
    blob input[N_INPUTS];
    blob packed[N_INPUTS];
    blob damaged;
    char damaged_msg[512];
} reference;

typedef struct worker {
    pthread_t thread;
    int id;
    const reference *ref;
    pthread_barrier_t *start;
    int threads;                  /* the context's own worker pool */
    /* results */
    int ops, failures;
    char msg[MAX_MSGS][200];
} worker;

static void note(worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(worker *w, const char *fmt, ...)
{
    if (w->failures < MAX_MSGS) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->msg[w->failures], sizeof w->msg[0], fmt, ap);
        va_end(ap);
    }
    w->failures++;
}


/* lm_always with small chunks and a short window: every text chunk goes through the
 * model, several chunks per stream are coded side by side (lanes), the window slides. */
static lmz_params params_for(int threads)
{
    lmz_params p;
    lmz_params_default(&p);
    p.threads = threads;
    p.chunk_size = 256;
    p.context = 32;
    p.lm_always = 1;
    return p;
}

/* A reader handing out the bytes 1..17 at a time, and a writer appending to a buffer:
 * the stream API with callbacks, as a program with its own I/O would use it. */
typedef struct piece_in {
    const uint8_t *p;
    size_t n, at;
    unsigned step;
} piece_in;

static long long piece_read(void *user, void *buf, size_t n)
{
    piece_in *in = user;
    size_t k = 1 + (in->step++ * 7) % 17;
    if (k > n) k = n;
    if (k > in->n - in->at) k = in->n - in->at;
    memcpy(buf, in->p + in->at, k);
    in->at += k;
    return (long long)k;
}

typedef struct mem_out {
    uint8_t *p;
    size_t n, cap;
} mem_out;

static int mem_write(void *user, const void *buf, size_t n)
{
    mem_out *out = user;
    if (out->n + n > out->cap) {
        size_t cap = (out->n + n) * 2;
        uint8_t *p = realloc(out->p, cap);
        if (!p) return -1;
        out->p = p;
        out->cap = cap;
    }
    memcpy(out->p + out->n, buf, n);
    out->n += n;
    return 0;
}

static int same(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static void make_inputs(reference *r)
{
    static const char *files[] = { "llm-gpt-4o-2024-05-13.txt", "prose-canterbury-alice29.txt",
                                   "code-c-glibc-headers.txt" };
    for (int i = 0; i < 3; i++)
        r->input[i].p = shared_data(files[i], 600 + 100 * (size_t)i, &r->input[i].n);
    /* Random bytes (RAW chunks) and a run (ZSTD chunks) beside the text. */
    r->input[3].n = 300;
    r->input[3].p = malloc(r->input[3].n);
    uint32_t s = 6;
    for (size_t i = 0; i < r->input[3].n; i++) {
        s = s * 1103515245u + 12345u;
        r->input[3].p[i] = (uint8_t)(s >> 16);
    }
    r->input[4].n = 500;
    r->input[4].p = malloc(r->input[4].n);
    for (size_t i = 0; i < r->input[4].n; i++) r->input[4].p[i] = (uint8_t)"abcab\0"[i % 6];
}

/* Single-threaded references, made before any worker starts. */
static void make_reference(reference *r, const lmz_model *m)
{
    memset(r, 0, sizeof *r);
    r->model = m;
    make_inputs(r);
    lmz_params p = params_for(1);
    lmz_ctx *c = lmz_ctx_new(m, &p, NULL);
    assert_non_null(c);
    for (int i = 0; i < N_INPUTS; i++) {
        void *z;
        size_t zn;
        assert_int_equal(lmz_compress_buffer(c, r->input[i].p, r->input[i].n, &z, &zn), LMZ_OK);
        r->packed[i].p = z;
        r->packed[i].n = zn;
    }
    /* A flipped bit in the middle of the first stream's payloads. */
    r->damaged.n = r->packed[0].n;
    r->damaged.p = malloc(r->damaged.n);
    memcpy(r->damaged.p, r->packed[0].p, r->damaged.n);
    r->damaged.p[r->damaged.n / 2] ^= 0x10;
    void *d = NULL;
    size_t dn;
    assert_int_not_equal(lmz_decompress_buffer(c, r->damaged.p, r->damaged.n, &d, &dn), LMZ_OK);
    free(d);
    snprintf(r->damaged_msg, sizeof r->damaged_msg, "%s", lmz_ctx_error(c));
    assert_true(r->damaged_msg[0] != '\0');
    lmz_ctx_free(c);
}

static void free_reference(reference *r)
{
    for (int i = 0; i < N_INPUTS; i++) {
        free(r->input[i].p);
        free(r->packed[i].p);
    }
    free(r->damaged.p);
}

static void *work(void *arg)
{
    worker *w = arg;
    const reference *r = w->ref;
    lmz_params p = params_for(w->threads);
    lmz_error err;
    lmz_ctx *c = lmz_ctx_new(r->model, &p, &err);
    pthread_barrier_wait(w->start);
    if (!c) {
        note(w, "lmz_ctx_new: %s", err.message);
        return NULL;
    }
    for (int round = 0; round < ROUNDS; round++) {
        for (int k = 0; k < N_INPUTS; k++) {
            int i = (k + w->id + round) % N_INPUTS;    /* threads work on different inputs */
            const blob *in = &r->input[i], *ref = &r->packed[i];
            void *z = NULL, *d = NULL;
            size_t zn = 0, dn = 0;
            w->ops++;
            if (lmz_compress_buffer(c, in->p, in->n, &z, &zn) != LMZ_OK)
                note(w, "input %d: compress: %s", i, lmz_ctx_error(c));
            else if (!same(z, zn, ref->p, ref->n))
                note(w, "input %d: compressed bytes differ from one thread's (%zu vs %zu bytes)",
                     i, zn, ref->n);
            free(z);
            w->ops++;
            if (lmz_decompress_buffer(c, ref->p, ref->n, &d, &dn) != LMZ_OK)
                note(w, "input %d: decompress: %s", i, lmz_ctx_error(c));
            else if (!same(d, dn, in->p, in->n))
                note(w, "input %d: decompressed bytes differ", i);
            free(d);
        }
        /* The stream API, with short reads. */
        int i = (w->id + round) % N_INPUTS;
        piece_in src = { r->input[i].p, r->input[i].n, 0, (unsigned)w->id };
        mem_out packed = { 0 }, plain = { 0 };
        w->ops++;
        if (lmz_compress_stream(c, piece_read, &src, mem_write, &packed) != LMZ_OK)
            note(w, "stream %d: compress: %s", i, lmz_ctx_error(c));
        else if (!same(packed.p, packed.n, r->packed[i].p, r->packed[i].n))
            note(w, "stream %d: compressed bytes differ", i);
        piece_in zsrc = { r->packed[i].p, r->packed[i].n, 0, (unsigned)w->id + 3 };
        w->ops++;
        if (lmz_decompress_stream(c, piece_read, &zsrc, mem_write, &plain) != LMZ_OK)
            note(w, "stream %d: decompress: %s", i, lmz_ctx_error(c));
        else if (!same(plain.p, plain.n, r->input[i].p, r->input[i].n))
            note(w, "stream %d: decompressed bytes differ", i);
        free(packed.p);
        free(plain.p);
        /* Listing needs no context; it runs beside the others. */
        piece_in lsrc = { r->packed[i].p, r->packed[i].n, 0, 0 };
        lmz_stream_info info;
        w->ops++;
        if (lmz_stream_list(piece_read, &lsrc, &info, &err) != LMZ_OK ||
            info.original_size != r->input[i].n)
            note(w, "stream %d: listing: %s", i, err.message);
        /* A damaged stream fails with the same message as alone: errors stay per context. */
        void *d = NULL;
        size_t dn;
        w->ops++;
        lmz_status st = lmz_decompress_buffer(c, r->damaged.p, r->damaged.n, &d, &dn);
        free(d);
        if (st == LMZ_OK)
            note(w, "the damaged stream decoded");
        else if (strcmp(lmz_ctx_error(c), r->damaged_msg) != 0)
            note(w, "damaged stream: message \"%s\", alone \"%s\"", lmz_ctx_error(c),
                 r->damaged_msg);
    }
    lmz_ctx_free(c);
    return NULL;
}

/* Run n workers on their references (worker i uses refs[i % n_refs]); assert on the
 * results.  Returns the number of operations done. */
static int run_workers(const reference *refs, int n_refs, int n, const int *pool_threads)
{
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, (unsigned)n), 0);
    worker *w = calloc((size_t)n, sizeof *w);
    assert_non_null(w);
    for (int i = 0; i < n; i++) {
        w[i].id = i;
        w[i].ref = &refs[i % n_refs];
        w[i].start = &start;
        w[i].threads = pool_threads[i];
        assert_int_equal(pthread_create(&w[i].thread, NULL, work, &w[i]), 0);
    }
    int ops = 0, failures = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].thread, NULL);
        for (int k = 0; k < w[i].failures && k < MAX_MSGS; k++)
            print_error("worker %d (%d threads): %s\n", i, w[i].threads, w[i].msg[k]);
        ops += w[i].ops;
        failures += w[i].failures;
    }
    pthread_barrier_destroy(&start);
    free(w);
    print_message("%d workers, %d operations, %d different from one thread's\n", n, ops,
                  failures);
    assert_int_equal(failures, 0);
    return ops;
}

/* Four threads, one shared model, one context each (two of them with a pool of 2 worker
 * threads of their own): every byte as one thread alone made it. */
static void test_shared_model_many_contexts(void **state)
{
    (void)state;
    lmz_error err;
    lmz_model *m = lmz_model_open(MODEL_A, &err);
    if (!m) fail_msg("%s", err.message);
    reference ref;
    make_reference(&ref, m);
    const int pools[N_WORKERS] = { 1, 2, 1, 2 };
    run_workers(&ref, 1, N_WORKERS, pools);
    free_reference(&ref);
    lmz_model_close(m);
}

/* Two models (BPE and SentencePiece tokenizers), each shared by two threads at once. */
static void test_two_models_at_once(void **state)
{
    (void)state;
    lmz_error err;
    lmz_model *a = lmz_model_open(MODEL_A, &err);
    lmz_model *b = lmz_model_open(MODEL_SPM, &err);
    assert_non_null(a);
    assert_non_null(b);
    reference refs[2];
    make_reference(&refs[0], a);
    make_reference(&refs[1], b);
    /* Different models give different streams: the comparison means something. */
    assert_false(same(refs[0].packed[0].p, refs[0].packed[0].n, refs[1].packed[0].p,
                      refs[1].packed[0].n));
    const int pools[4] = { 1, 1, 2, 2 };
    run_workers(refs, 2, 4, pools);
    free_reference(&refs[0]);
    free_reference(&refs[1]);
    lmz_model_close(a);
    lmz_model_close(b);
}

/* Opening, using and closing models concurrently: loading has no shared state either. */
typedef struct opener {
    pthread_t thread;
    const char *path;
    uint8_t hash[16];
    int ok;
    char msg[sizeof ((lmz_error *)0)->message];
} opener;

static void *open_and_close(void *arg)
{
    opener *o = arg;
    for (int i = 0; i < 3; i++) {
        lmz_error err;
        lmz_model *m = lmz_model_open(o->path, &err);
        if (!m) {
            snprintf(o->msg, sizeof o->msg, "%s", err.message);
            return NULL;
        }
        lmz_model_info info;
        lmz_model_get_info(m, &info);
        if (i > 0 && memcmp(o->hash, info.model_hash, 16) != 0) {
            snprintf(o->msg, sizeof o->msg, "identity changed between loads");
            lmz_model_close(m);
            return NULL;
        }
        memcpy(o->hash, info.model_hash, 16);
        lmz_model_close(m);
    }
    o->ok = 1;
    return NULL;
}

static void test_concurrent_model_loading(void **state)
{
    (void)state;
    opener o[6];
    memset(o, 0, sizeof o);
    for (int i = 0; i < 6; i++) {
        o[i].path = i % 2 ? MODEL_SPM : MODEL_A;
        assert_int_equal(pthread_create(&o[i].thread, NULL, open_and_close, &o[i]), 0);
    }
    for (int i = 0; i < 6; i++) pthread_join(o[i].thread, NULL);
    for (int i = 0; i < 6; i++) {
        if (!o[i].ok) fail_msg("thread %d (%s): %s", i, o[i].path, o[i].msg);
        assert_memory_equal(o[i].hash, o[i % 2].hash, 16);
    }
    assert_memory_not_equal(o[0].hash, o[1].hash, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_model_many_contexts),
        cmocka_unit_test(test_two_models_at_once),
        cmocka_unit_test(test_concurrent_model_loading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
