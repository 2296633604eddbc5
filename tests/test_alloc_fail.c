/*
 * test_alloc_fail.c -- out of memory, as SQLite tests it (issue 18): for N = 1, 2, 3...
 * the Nth allocation of one API call fails, until the call completes without reaching
 * its Nth.  Every time, the call must report LMZ_ERR_NOMEM (constructors: NULL with
 * err.status LMZ_ERR_NOMEM), never crash, never report another status, never succeed
 * with other output than without the failure; the same context must then work again
 * and give exactly the bytes it gives without injection (and a fresh one, after all the
 * failures, the bytes it gave before them); and nothing may leak (under the asan build
 * LeakSanitizer checks after every run, and again at exit).
 * Each run is also repeated with every allocation from the Nth on failing
 * ("persistent", as SQLite's malloc tests do), so that cleanup paths which allocate
 * meet failures too.
 *
 * How: the Makefile links this program with -Wl,--wrap=malloc,... so that every
 * reference to those functions from liblmz.a (and from this file) goes to __wrap_X
 * below, which counts the calls while a run is armed and fails the Nth; __real_X is the
 * C library's.  XXH3_createState, ZSTD_compress and ZSTD_decompress allocate inside their
 * own shared libraries, where --wrap does not reach: they are wrapped as whole calls and
 * fail as they do out of memory (NULL; zstd's memory_allocation error).  The counters
 * are atomic: the LM coder's runs and the forward pass's pool allocate from their own
 * threads.
 *
 * The runs use the small fixture models (never the built-in ones) and about 1 KB of
 * text, so that the whole program takes about 35 s under ASan on two cores (6 s in the
 * release build).  ALLOC_FAIL_VERBOSE=1 prints each N before its run, to find the one
 * that crashes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "lmz.h"
#include "shared_data.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() __lsan_do_recoverable_leak_check()
#else
#define LEAK_CHECK() 0
#endif

#define MODEL_A "tests/fixtures/ref/llama-gqa-tied-gpt2.gguf"   /* gpt2 BPE, F32 */
#define MODEL_SPM "tests/fixtures/ref/llama-mqa-spm.gguf"       /* SentencePiece */
/* The smallest models, for the runs that code text: 1 layer, n_embd 32. */
#define MODEL_Q8 "tests/fixtures/gguf/tiny-q8_0.gguf"           /* gpt2 BPE, Q8_0 */
#define MODEL_F16 "tests/fixtures/gguf/tiny-f16-llama-tied.gguf" /* SentencePiece, F16 */
#define ADAPTER "tests/fixtures/ref/lora/llama-gqa-tied-gpt2-lora.lora.gguf"
#define PARTIAL "tests/fixtures/ref/lora/llama-gqa-tied-gpt2-lora-partial.lora.gguf"
#define TEXT "tests/fixtures/streams/alice-1000.txt"

/* ---------------------------------------------------------------- injection */

static atomic_int armed;          /* counting the calls of the run under test */
static atomic_long fail_at;       /* the allocation number to fail (1-based; 0: none) */
static atomic_long n_allocs;      /* allocations counted since arming */
static atomic_int injected;       /* a failure was injected since arming */
static int persistent;            /* fail every allocation from fail_at on */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
XXH3_state_t *__real_XXH3_createState(void);
size_t __real_ZSTD_compress(void *dst, size_t cap, const void *src, size_t n, int level);
size_t __real_ZSTD_decompress(void *dst, size_t cap, const void *src, size_t n);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
int __wrap_posix_memalign(void **p, size_t align, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
XXH3_state_t *__wrap_XXH3_createState(void);
size_t __wrap_ZSTD_compress(void *dst, size_t cap, const void *src, size_t n, int level);
size_t __wrap_ZSTD_decompress(void *dst, size_t cap, const void *src, size_t n);

/* Whether this allocation is to fail. */
static int inject(void)
{
    if (!atomic_load(&armed)) return 0;
    long k = atomic_fetch_add(&n_allocs, 1) + 1, at = atomic_load(&fail_at);
    if (at == 0 || (persistent ? k < at : k != at)) return 0;
    atomic_store(&injected, 1);
    errno = ENOMEM;
    return 1;
}

void *__wrap_malloc(size_t n) { return inject() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { return inject() ? NULL : __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { return inject() ? NULL : __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t align, size_t n)
{
    return inject() ? NULL : __real_aligned_alloc(align, n);
}
int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    return inject() ? ENOMEM : __real_posix_memalign(p, align, n);
}
char *__wrap_strdup(const char *s) { return inject() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return inject() ? NULL : __real_strndup(s, n); }
XXH3_state_t *__wrap_XXH3_createState(void)
{
    return inject() ? NULL : __real_XXH3_createState();
}
size_t __wrap_ZSTD_compress(void *dst, size_t cap, const void *src, size_t n, int level)
{
    if (inject()) return (size_t)-(int)ZSTD_error_memory_allocation;
    return __real_ZSTD_compress(dst, cap, src, n, level);
}
size_t __wrap_ZSTD_decompress(void *dst, size_t cap, const void *src, size_t n)
{
    if (inject()) return (size_t)-(int)ZSTD_error_memory_allocation;
    return __real_ZSTD_decompress(dst, cap, src, n);
}

/* A run may arm several calls: they count as one sequence of allocations. */
static void arm(void) { atomic_store(&armed, 1); }

static void disarm(void) { atomic_store(&armed, 0); }

/* A run: one armed call and the checks of its result.  Returns the call's status (a
 * constructor's err.status; LMZ_OK when it succeeded with the right result). */
typedef lmz_status (*run_fn)(const void *arg);

/* Fail allocation 1, 2, 3... of the run until it completes without reaching it, in both
 * modes; the failed calls must say LMZ_ERR_NOMEM.  Returns the allocations the run
 * makes when nothing fails. */
static long every_allocation(const char *name, run_fn run, const void *arg)
{
    long points = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int verbose = getenv("ALLOC_FAIL_VERBOSE") != NULL;   /* to find a crash's N */
    for (int mode = 0; mode < 2; mode++) {
        persistent = mode;
        for (long n = 1;; n++) {
            if (verbose) fprintf(stderr, "%s: allocation %ld%s fails\n", name, n,
                                 persistent ? " and on" : "");
            atomic_store(&fail_at, n);
            atomic_store(&n_allocs, 0);
            atomic_store(&injected, 0);
            lmz_status st = run(arg);
            disarm();
            if (!atomic_load(&injected)) {
                if (st != LMZ_OK)
                    fail_msg("%s: status %d (%s) with no allocation failed", name, (int)st,
                             lmz_status_string(st));
                points = n - 1;
                break;
            }
            if (st != LMZ_ERR_NOMEM)
                fail_msg("%s: allocation %ld%s failed, and the call returned %d (%s), not "
                         "LMZ_ERR_NOMEM", name, n, persistent ? " and on" : "", (int)st,
                         lmz_status_string(st));
        }
    }
    atomic_store(&fail_at, 0);
    persistent = 0;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("%-28s %4ld allocation points  %6.2f s\n", name, points,
                  (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    assert_int_equal(LEAK_CHECK(), 0);
    return points;
}

/* ---------------------------------------------------------------- fixtures */

typedef struct blob {
    uint8_t *p;
    size_t n;
} blob;

static lmz_model *model_a, *model_q8, *model_f16;
static lmz_adapter *adapter_full, *adapter_partial;
static blob text, text_short, text_tiny;  /* ~1 KB; its first 200 and 64 bytes */

static blob read_whole(const char *path)
{
    blob b;
    b.p = read_file_head(path, 1 << 20, &b.n);
    if (!b.p) fail_msg("cannot read %s", path);
    return b;
}

/* About 1 KB that takes every chunk path in CHUNK-byte chunks: plain text, text with
 * CR LF (LM_CRLF), bytes that are not text (ZSTD or RAW unless lm_always), and text
 * again.  Small, since under ASan every run codes it once or twice per allocation. */
#define CHUNK 256
static blob make_text(void)
{
    blob alice = read_whole(TEXT);
    const uint8_t *a = alice.p + 400;     /* past the title's spaces */
    blob t = { malloc(1024), 0 };
    memcpy(t.p, a, 300);
    t.n = 300;
    for (size_t i = 0; i < 250; i++) {
        if (a[i] == '\n') t.p[t.n++] = '\r';
        t.p[t.n++] = a[i];
    }
    uint32_t s = 99;
    for (int i = 0; i < 100; i++) { s = s * 1103515245u + 12345u; t.p[t.n++] = (uint8_t)(s >> 16); }
    memcpy(t.p + t.n, a + 300, 200);
    t.n += 200;
    free(alice.p);
    return t;
}

static int setup(void **state)
{
    (void)state;
    lmz_error err = { LMZ_OK, "" };
    model_a = lmz_model_open(MODEL_A, &err);
    model_q8 = lmz_model_open(MODEL_Q8, &err);
    model_f16 = lmz_model_open(MODEL_F16, &err);
    adapter_full = lmz_adapter_open(ADAPTER, &err);
    adapter_partial = lmz_adapter_open(PARTIAL, &err);
    if (!model_a || !model_q8 || !model_f16 || !adapter_full || !adapter_partial) {
        fprintf(stderr, "setup: %s\n", err.message);
        return -1;
    }
    text = make_text();
    text_short = (blob){ text.p, 200 };
    text_tiny = (blob){ text.p, 64 };
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lmz_model_close(model_a);
    lmz_model_close(model_q8);
    lmz_model_close(model_f16);
    lmz_adapter_close(adapter_full);
    lmz_adapter_close(adapter_partial);
    free(text.p);
    return 0;
}

static void assert_same(const void *got, size_t got_n, const void *want, size_t want_n,
                        const char *what)
{
    if (got_n != want_n || (want_n && memcmp(got, want, want_n) != 0))
        fail_msg("%s: %zu bytes differ from the %zu expected", what, got_n, want_n);
}

/* ---------------------------------------------------------------- models, adapters */

typedef struct open_arg {
    const char *path;
    blob bytes;               /* from memory when p is set */
    lmz_model_info want;
} open_arg;

static lmz_status run_model_open(const void *varg)
{
    const open_arg *a = varg;
    lmz_error err = { LMZ_OK, "" };
    arm();
    lmz_model *m = a->bytes.p ? lmz_model_from_memory(a->bytes.p, a->bytes.n, &err)
                              : lmz_model_open(a->path, &err);
    disarm();
    if (!m) {
        assert_true(err.message[0] != '\0');
        return err.status;
    }
    lmz_model_info info;
    lmz_model_get_info(m, &info);
    assert_memory_equal(&info, &a->want, sizeof info);
    lmz_model_close(m);
    return LMZ_OK;
}

static void model_runs(const char *path, const char *name)
{
    open_arg a = { .path = path };
    lmz_error err;
    lmz_model *m = lmz_model_open(path, &err);
    assert_non_null(m);
    lmz_model_get_info(m, &a.want);
    lmz_model_close(m);
    char what[64];
    snprintf(what, sizeof what, "model_open %s", name);
    every_allocation(what, run_model_open, &a);
    a.bytes = read_whole(path);
    snprintf(what, sizeof what, "model_from_memory %s", name);
    every_allocation(what, run_model_open, &a);
    free(a.bytes.p);
}

static void test_model_open(void **state)
{
    (void)state;
    model_runs(MODEL_A, "gpt2");
    model_runs(MODEL_SPM, "spm");
    model_runs(MODEL_Q8, "q8_0");
    model_runs(MODEL_F16, "f16");
}

typedef struct adapter_arg {
    const char *path;
    blob bytes;
    lmz_adapter_info want;
} adapter_arg;

static lmz_status run_adapter_open(const void *varg)
{
    const adapter_arg *a = varg;
    lmz_error err = { LMZ_OK, "" };
    arm();
    lmz_adapter *ad = a->bytes.p ? lmz_adapter_from_memory(a->bytes.p, a->bytes.n, &err)
                                 : lmz_adapter_open(a->path, &err);
    disarm();
    if (!ad) {
        assert_true(err.message[0] != '\0');
        return err.status;
    }
    lmz_adapter_info info;
    lmz_adapter_get_info(ad, &info);
    if (a->bytes.p) memcpy(info.name, a->want.name, sizeof info.name);   /* from the path */
    assert_memory_equal(&info, &a->want, sizeof info);
    lmz_adapter_close(ad);
    return LMZ_OK;
}

static void test_adapter_open(void **state)
{
    (void)state;
    adapter_arg a = { .path = ADAPTER };
    lmz_adapter_get_info(adapter_full, &a.want);
    every_allocation("adapter_open", run_adapter_open, &a);
    a.bytes = read_whole(ADAPTER);
    every_allocation("adapter_from_memory", run_adapter_open, &a);
    free(a.bytes.p);
}

/* ---------------------------------------------------------------- tokenizer */

typedef struct tok_arg {
    const char *path;
    uint8_t hash[16];
    int32_t *ids;
    long n_ids;
} tok_arg;

static lmz_status run_tok_load(const void *varg)
{
    const tok_arg *a = varg;
    gguf_file f;
    char err[300];
    if (gguf_open(&f, a->path, err, sizeof err)) fail_msg("%s", err);
    errno = 0;
    arm();
    tokenizer *t = tok_load_gguf(&f, err, sizeof err);
    disarm();
    int e = errno;
    lmz_status st = LMZ_OK;
    if (!t) {
        st = e == ENOMEM ? LMZ_ERR_NOMEM : LMZ_ERR_MODEL;
    } else {
        uint8_t hash[16];
        tok_hash(t, hash);
        assert_memory_equal(hash, a->hash, 16);
        int32_t *ids = malloc((text.n + 2) * sizeof *ids);
        assert_int_equal(tok_encode(t, text.p, text.n, ids, text.n + 2), a->n_ids);
        assert_memory_equal(ids, a->ids, (size_t)a->n_ids * sizeof *ids);
        free(ids);
        tok_free(t);
    }
    gguf_close(&f);
    return st;
}

static lmz_status run_tok_encode(const void *varg)
{
    const tok_arg *a = varg;
    gguf_file f;
    char err[300];
    if (gguf_open(&f, a->path, err, sizeof err)) fail_msg("%s", err);
    tokenizer *tk = tok_load_gguf(&f, err, sizeof err);
    assert_non_null(tk);
    int32_t *ids = malloc((text.n + 2) * sizeof *ids);
    arm();
    long n = tok_encode(tk, text.p, text.n, ids, text.n + 2);
    disarm();
    lmz_status st = LMZ_OK;
    if (n < 0) {
        st = LMZ_ERR_NOMEM;       /* tok_encode fails only for memory */
    } else {
        assert_int_equal(n, a->n_ids);
        assert_memory_equal(ids, a->ids, (size_t)n * sizeof *ids);
    }
    free(ids);
    tok_free(tk);
    gguf_close(&f);
    return st;
}

static void tokenizer_runs(const char *path, const char *name)
{
    tok_arg a = { .path = path };
    gguf_file f;
    char err[300];
    if (gguf_open(&f, path, err, sizeof err)) fail_msg("%s", err);
    tokenizer *t = tok_load_gguf(&f, err, sizeof err);
    assert_non_null(t);
    tok_hash(t, a.hash);
    a.ids = malloc((text.n + 2) * sizeof *a.ids);
    a.n_ids = tok_encode(t, text.p, text.n, a.ids, text.n + 2);
    assert_true(a.n_ids > 0);
    tok_free(t);
    gguf_close(&f);
    char what[64];
    snprintf(what, sizeof what, "tok_load_gguf %s", name);
    every_allocation(what, run_tok_load, &a);
    snprintf(what, sizeof what, "tok_encode %s", name);
    every_allocation(what, run_tok_encode, &a);
    free(a.ids);
}

static void test_tokenizer(void **state)
{
    (void)state;
    tokenizer_runs(MODEL_A, "gpt2");
    tokenizer_runs(MODEL_SPM, "spm");
}

/* ---------------------------------------------------------------- contexts */

static lmz_params params_for(int level, int threads, int lm_always)
{
    lmz_params p;
    lmz_params_default(&p);
    p.level = level;
    p.threads = threads;
    p.chunk_size = CHUNK;
    p.context = 32;
    p.lm_always = lm_always;
    return p;
}

static lmz_status run_ctx_new(const void *varg)
{
    (void)varg;
    lmz_params p = params_for(8, 2, 1);
    lmz_error err = { LMZ_OK, "" };
    arm();
    lmz_ctx *c = lmz_ctx_new(model_a, &p, &err);
    disarm();
    if (!c) return err.status;
    const lmz_adapter *ads[2] = { adapter_full, adapter_partial };
    arm();
    lmz_status st = lmz_ctx_set_adapters(c, ads, 2, 1);
    disarm();
    lmz_ctx_free(c);
    return st;
}

static void test_ctx_new(void **state)
{
    (void)state;
    every_allocation("ctx_new, set_adapters", run_ctx_new, NULL);
}

/* ---------------------------------------------------------------- compress, decompress */

typedef struct job {
    const char *name;
    const lmz_model *model;
    const blob *input;
    int level, threads, lm_always;
    int n_adapters, route;
    int stream_api;           /* lmz_*_stream with a fixed output buffer, else lmz_*_buffer */
    int dlevel;               /* the decompressing context's level */
    blob packed;              /* what compression gives without injection */
} job;

static lmz_ctx *job_ctx(const job *j, int level)
{
    lmz_params p = params_for(level, j->threads, j->lm_always);
    lmz_error err = { LMZ_OK, "" };
    lmz_ctx *c = lmz_ctx_new(j->model, &p, &err);
    if (!c) fail_msg("lmz_ctx_new: %s", err.message);
    const lmz_adapter *ads[2] = { adapter_full, adapter_partial };
    if (j->n_adapters && lmz_ctx_set_adapters(c, ads, (size_t)j->n_adapters, j->route) != LMZ_OK)
        fail_msg("lmz_ctx_set_adapters: %s", lmz_ctx_error(c));
    return c;
}

/* An lmz_write_fn into a buffer of fixed size: it allocates nothing. */
typedef struct fixed_out {
    uint8_t *p;
    size_t n, cap;
} fixed_out;

static int fixed_write(void *user, const void *buf, size_t n)
{
    fixed_out *o = user;
    if (n > o->cap - o->n) return -1;
    memcpy(o->p + o->n, buf, n);
    o->n += n;
    return 0;
}

/* One compression or decompression on c; the result in *out (malloc'd), if LMZ_OK. */
static lmz_status code(lmz_ctx *c, const job *j, int decompress, const blob *in, blob *out)
{
    typedef lmz_status (*stream_fn)(lmz_ctx *, lmz_read_fn, void *, lmz_write_fn, void *);
    typedef lmz_status (*buffer_fn)(lmz_ctx *, const void *, size_t, void **, size_t *);
    out->p = NULL;
    out->n = 0;
    lmz_status st;
    if (j->stream_api) {
        stream_fn fn = decompress ? lmz_decompress_stream : lmz_compress_stream;
        fixed_out o = { malloc(2 * text.n + 4096), 0, 2 * text.n + 4096 };
        mem_in r = { in->p, in->n, 0 };
        arm();
        st = fn(c, mem_read, &r, fixed_write, &o);
        disarm();
        if (st == LMZ_OK) *out = (blob){ o.p, o.n };
        else free(o.p);
    } else {
        buffer_fn fn = decompress ? lmz_decompress_buffer : lmz_compress_buffer;
        void *p = (void *)1;
        size_t n = 1;
        arm();
        st = fn(c, in->p, in->n, &p, &n);
        disarm();
        if (st == LMZ_OK) {
            *out = (blob){ p, n };
        } else {
            assert_null(p);            /* lmz.h: nothing to free on failure */
            assert_int_equal(n, 0);
        }
    }
    if (st != LMZ_OK) assert_true(lmz_ctx_error(c)[0] != '\0');
    return st;
}

/* After a failure, the same context must work, and give the same bytes. */
static lmz_status run_code(const job *j, int decompress)
{
    lmz_ctx *c = job_ctx(j, decompress ? j->dlevel : j->level);
    const blob *in = decompress ? &j->packed : j->input;
    const blob *want = decompress ? j->input : &j->packed;
    blob out;
    lmz_status st = code(c, j, decompress, in, &out);
    if (st != LMZ_OK && persistent) {
        lmz_ctx_free(c);                      /* checked after the one-shot failures */
        return st;
    }
    if (st != LMZ_OK) {
        long n = atomic_load(&fail_at);
        atomic_store(&fail_at, 0);            /* fail nothing this time */
        lmz_status again = code(c, j, decompress, in, &out);
        atomic_store(&fail_at, n);
        if (again != LMZ_OK)
            fail_msg("%s: after a failure, the context fails again: %s", j->name,
                     lmz_ctx_error(c));
    }
    char what[128];
    snprintf(what, sizeof what, "%s %s, allocation %ld%s failing (status %s)",
             decompress ? "decompress" : "compress", j->name, atomic_load(&fail_at),
             persistent ? " and on" : "", lmz_status_string(st));
    assert_same(out.p, out.n, want->p, want->n, what);
    free(out.p);
    lmz_ctx_free(c);
    return st;
}

static lmz_status run_compress(const void *j) { return run_code(j, 0); }
static lmz_status run_decompress(const void *j) { return run_code(j, 1); }

static void job_runs(job *j)
{
    /* the reference, with nothing failing */
    atomic_store(&fail_at, 0);
    lmz_ctx *c = job_ctx(j, j->level);
    j->packed = (blob){ NULL, 0 };
    if (code(c, j, 0, j->input, &j->packed) != LMZ_OK) fail_msg("%s", lmz_ctx_error(c));
    lmz_ctx_free(c);
    char what[64];
    snprintf(what, sizeof what, "compress %s", j->name);
    every_allocation(what, run_compress, j);
    snprintf(what, sizeof what, "decompress %s", j->name);
    every_allocation(what, run_decompress, j);
    /* The golden rule: what compression gives is what it gave before any injection. */
    c = job_ctx(j, j->level);
    blob again;
    assert_int_equal(code(c, j, 0, j->input, &again), LMZ_OK);
    assert_same(again.p, again.n, j->packed.p, j->packed.n, j->name);
    free(again.p);
    lmz_ctx_free(c);
}

static void test_code_buffer(void **state)
{
    (void)state;
    /* compressed at level 5 (8 lanes), decompressed by a level-8 context (4 lanes):
     * decompression grows its group for the stream's lanes */
    job j = { "buffer", model_q8, &text, 5, 1, 1, 0, 0, 0, 8, { NULL, 0 } };
    job_runs(&j);
    free(j.packed.p);
}

static void test_code_stream(void **state)
{
    (void)state;
    job j = { "stream", model_q8, &text, 8, 1, 1, 0, 0, 1, 8, { NULL, 0 } };
    job_runs(&j);
    free(j.packed.p);
}

static void test_code_zstd(void **state)
{
    (void)state;
    /* without lm_always the random-weight model loses to zstd and raw */
    job j = { "zstd+raw", model_q8, &text, 8, 1, 0, 0, 0, 0, 8, { NULL, 0 } };
    job_runs(&j);
    free(j.packed.p);
}

static void test_code_threads(void **state)
{
    (void)state;
    /* several chunks: one run per thread, each in its own pthread */
    job runs = { "2 runs", model_q8, &text, 8, 2, 1, 0, 0, 0, 8, { NULL, 0 } };
    job_runs(&runs);
    free(runs.packed.p);
    /* one chunk: one run whose forward pass has a pool of 2 threads */
    job pool = { "2-thread pool", model_q8, &text_short, 8, 2, 1, 0, 0, 0, 8, { NULL, 0 } };
    job_runs(&pool);
    free(pool.packed.p);
}

static void test_code_adapters(void **state)
{
    (void)state;
    job one = { "adapter", model_a, &text_short, 8, 1, 1, 1, 0, 0, 8, { NULL, 0 } };
    job_runs(&one);
    free(one.packed.p);
    job routed = { "routed", model_a, &text_tiny, 8, 1, 1, 2, 1, 0, 8, { NULL, 0 } };
    job_runs(&routed);
    free(routed.packed.p);
}

static void test_code_spm(void **state)
{
    (void)state;
    job j = { "spm", model_f16, &text, 8, 1, 1, 0, 0, 0, 8, { NULL, 0 } };
    job_runs(&j);
    free(j.packed.p);
}

/* ---------------------------------------------------------------- listing */

typedef struct list_arg {
    blob packed;
    lmz_stream_info want;
} list_arg;

static lmz_status run_list(const void *varg)
{
    const list_arg *a = varg;
    mem_in r = { a->packed.p, a->packed.n, 0 };
    lmz_stream_info info;
    lmz_error err = { LMZ_OK, "" };
    arm();
    lmz_status st = lmz_stream_list(mem_read, &r, &info, &err);
    disarm();
    if (st == LMZ_OK) assert_memory_equal(&info, &a->want, sizeof info);
    else assert_int_equal(err.status, st);
    return st;
}

static void test_stream_list(void **state)
{
    (void)state;
    list_arg a;
    lmz_params p = params_for(8, 1, 1);
    lmz_ctx *c = lmz_ctx_new(model_a, &p, NULL);
    assert_non_null(c);
    void *z;
    assert_int_equal(lmz_compress_buffer(c, text.p, text.n, &z, &a.packed.n), LMZ_OK);
    a.packed.p = z;
    lmz_ctx_free(c);
    mem_in r = { a.packed.p, a.packed.n, 0 };
    assert_int_equal(lmz_stream_list(mem_read, &r, &a.want, NULL), LMZ_OK);
    every_allocation("stream_list", run_list, &a);
    free(a.packed.p);
}

/* ---------------------------------------------------------------- GGUF writer */

/* A small GGUF through the writer; its setters remember a failed allocation and the
 * write reports it: -1 and "out of memory".  gguf_writer_new itself may return NULL. */
static int write_sample(uint8_t **out, size_t *n, char *err, size_t errlen)
{
    static const char *const strs[] = { "a", "bc", "def" };
    float data[64];
    for (int i = 0; i < 64; i++) data[i] = (float)i;
    uint64_t ne[2] = { 16, 4 };
    gguf_writer *w = gguf_writer_new();
    if (!w) return -2;
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "llama.block_count", 1);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", strs, 3);
    gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", data, 3);
    gguf_writer_add_tensor(w, "blk.0.attn_q.weight", GGML_TYPE_F32, 2, ne, data);
    gguf_writer_add_tensor(w, "output_norm.weight", GGML_TYPE_F32, 1, ne, data);
    int rc = gguf_writer_write_mem(w, out, n, err, errlen);
    gguf_writer_free(w);
    return rc;
}

static lmz_status run_gguf_write(const void *varg)
{
    const blob *want = varg;
    uint8_t *out = NULL;
    size_t n = 0;
    char err[200] = "";
    arm();
    int rc = write_sample(&out, &n, err, sizeof err);
    disarm();
    if (rc == -2) return LMZ_ERR_NOMEM;
    if (rc != 0) {
        if (!strstr(err, "out of memory") && !strstr(err, "Cannot allocate memory"))
            fail_msg("gguf writer: %s", err);
        return LMZ_ERR_NOMEM;
    }
    assert_same(out, n, want->p, want->n, "gguf writer");
    free(out);
    return LMZ_OK;
}

static void test_gguf_writer(void **state)
{
    (void)state;
    blob want = { NULL, 0 };
    char err[200];
    atomic_store(&fail_at, 0);
    if (write_sample(&want.p, &want.n, err, sizeof err)) fail_msg("%s", err);
    every_allocation("gguf_writer", run_gguf_write, &want);
    free(want.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_open),
        cmocka_unit_test(test_adapter_open),
        cmocka_unit_test(test_tokenizer),
        cmocka_unit_test(test_ctx_new),
        cmocka_unit_test(test_code_buffer),
        cmocka_unit_test(test_code_stream),
        cmocka_unit_test(test_code_zstd),
        cmocka_unit_test(test_code_threads),
        cmocka_unit_test(test_code_adapters),
        cmocka_unit_test(test_code_spm),
        cmocka_unit_test(test_stream_list),
        cmocka_unit_test(test_gguf_writer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
