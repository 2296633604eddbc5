/*
 * test_gguf.c -- the GGUF reader and writer (src/gguf/gguf_*.c) and the fp16/bf16
 * conversions (src/kernels/f16.c).
 *
 * Files come from three independent sources: our writer (round trips), the Python writer
 * in ../shared/reference (tests/fixtures/gguf, see its README), and a byte-level builder
 * below that can also write everything the format forbids (hostile cases).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "kernels/f16.h"
#include "../fuzz/gguf_exercise.h"

/* Under ASan the bytes after a prefix can be poisoned, so that reading them is reported
 * without copying each prefix into an allocation of its own. */
#if defined(__SANITIZE_ADDRESS__)
#define LMZ_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LMZ_TEST_ASAN 1
#endif
#endif
#ifdef LMZ_TEST_ASAN
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

#define FIXTURE_Q8 "tests/fixtures/gguf/tiny-q8_0.gguf"
#define FIXTURE_F16 "tests/fixtures/gguf/tiny-f16-llama-tied.gguf"

/* ------------------------------------------------------------------ helpers */

typedef struct rng { uint64_t s; } rng;

static uint64_t rnd(rng *r)                      /* splitmix64 */
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Byte builder for hand-made (often invalid) files. */
typedef struct buf { uint8_t *p; size_t len, cap; } buf;

static void b_put(buf *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}
static void b_u8(buf *b, uint8_t v) { b_put(b, &v, 1); }
static void b_u32(buf *b, uint32_t v) { for (int i = 0; i < 4; i++) b_u8(b, (uint8_t)(v >> 8 * i)); }
static void b_u64(buf *b, uint64_t v) { for (int i = 0; i < 8; i++) b_u8(b, (uint8_t)(v >> 8 * i)); }
static void b_str(buf *b, const char *s) { b_u64(b, strlen(s)); b_put(b, s, strlen(s)); }
static void b_zeros(buf *b, size_t n) { while (n--) b_u8(b, 0); }
static void b_pad(buf *b, size_t align) { b_zeros(b, (align - b->len % align) % align); }

static void b_header(buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    b_put(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}

static void b_kv_u32(buf *b, const char *key, uint32_t v)
{
    b_str(b, key);
    b_u32(b, GGUF_TYPE_UINT32);
    b_u32(b, v);
}

typedef struct tinfo { const char *name; uint32_t n_dims; uint64_t ne[4]; uint32_t type; uint64_t offset; } tinfo;

static void b_tinfo(buf *b, const tinfo *t)
{
    b_str(b, t->name);
    b_u32(b, t->n_dims);
    for (uint32_t d = 0; d < t->n_dims && d < 8; d++)     /* hostile n_dims up to 8 */
        b_u64(b, d < 4 ? t->ne[d] : 1);
    b_u32(b, t->type);
    b_u64(b, t->offset);
}

/* v3 header, one metadata entry, the tensor infos, padding to 32, data_bytes zeros. */
static void build_tensors(buf *b, const tinfo *t, size_t n, size_t data_bytes)
{
    b_header(b, 3, n, 1);
    b_kv_u32(b, "general.file_type", 0);
    for (size_t i = 0; i < n; i++)
        b_tinfo(b, &t[i]);
    b_pad(b, 32);
    b_zeros(b, data_bytes);
}

/* Parses a copy in an allocation of exactly `size` bytes, so ASan catches any read past
 * the end.  *copy must be freed after gguf_close. */
static int parse_copy(const uint8_t *data, size_t size, gguf_file *f, uint8_t **copy,
                      char *err, size_t errlen)
{
    *copy = malloc(size ? size : 1);
    assert_non_null(*copy);
    if (size)
        memcpy(*copy, data, size);
    return gguf_parse(f, *copy, size, err, errlen);
}

static void expect_error_at(const buf *b, const char *needle, int line)
{
    gguf_file f;
    uint8_t *copy;
    char err[512] = "";
    int rc = parse_copy(b->p, b->len, &f, &copy, err, sizeof err);
    print_message("    line %d: %s\n", line, err);
    if (rc != -1)
        fail_msg("line %d: hostile file parsed (wanted an error containing \"%s\")", line, needle);
    if (!strstr(err, needle) || strncmp(err, "GGUF: ", 6) != 0)
        fail_msg("line %d: error \"%s\" does not contain \"%s\"", line, err, needle);
    assert_null(f.kv);
    assert_null(f.tensors);
    gguf_close(&f);                 /* safe after a failure */
    free(copy);
}
#define expect_error(b, needle) expect_error_at(b, needle, __LINE__)

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *size = (size_t)n;
    return p;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static int str_is(gguf_str s, const char *want)
{
    return s.ptr && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* Per-test scratch directory (group state). */
typedef struct scratch { char dir[256]; } scratch;

static void scratch_path(void **state, char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", ((scratch *)*state)->dir, name);
}

static int group_setup(void **state)
{
    scratch *s = calloc(1, sizeof *s);
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/lmz-test-gguf-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s->dir))
        return -1;
    *state = s;
    return 0;
}

static int group_teardown(void **state)
{
    scratch *s = *state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    int rc = system(cmd);
    free(s);
    return rc == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ fp16 / bf16 */

/* Independent references: decode from the fields with ldexp, encode by rounding the
 * scaled significand with nearbyint (round-half-even in the default mode) in double. */
static float ref_f16_value(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
    return (float)((h & 0x8000) ? -v : v);
}

static float ref_bf16_value(uint16_t h)
{
    int e = (h >> 7) & 0xff, m = h & 0x7f;
    double v = e ? ldexp(128 + m, e - 134) : ldexp(m, -133);
    return (float)((h & 0x8000) ? -v : v);
}

/* Round a finite or infinite float to a format with `mant_bits` stored mantissa bits,
 * exponent bias `bias`, max biased exponent `emax_biased` (all ones = inf). */
static uint16_t ref_narrow(float x, int mant_bits, int bias, int emax_biased)
{
    uint16_t sign = (uint16_t)((fbits(x) >> 16) & 0x8000);
    uint16_t inf = (uint16_t)(sign | emax_biased << mant_bits);
    double d = fabs((double)x);
    if (isinf(x))
        return inf;
    double min_normal = ldexp(1.0, 1 - bias);
    if (d < min_normal)        /* subnormal unit is 2^(1 - bias - mant_bits) */
        return (uint16_t)(sign | (uint16_t)nearbyint(ldexp(d, bias - 1 + mant_bits)));
    int ex;
    double fr = frexp(d, &ex);                              /* d = fr * 2^ex, fr in [0.5, 1) */
    double n = nearbyint(ldexp(fr, mant_bits + 1));         /* in [2^m, 2^(m+1)] */
    if (n == ldexp(1.0, mant_bits + 1)) {
        n = ldexp(1.0, mant_bits);
        ex++;
    }
    int e = ex - 1 + bias;
    if (e >= emax_biased)
        return inf;
    return (uint16_t)(sign | e << mant_bits | ((uint32_t)n - (1u << mant_bits)));
}

static void check_narrow_f16(float x)
{
    uint16_t got = lmz_f32_to_f16(x);
    if (isnan(x)) {
        uint16_t want = (uint16_t)(((fbits(x) >> 16) & 0x8000) | 0x7e00 | ((fbits(x) >> 13) & 0x3ff));
        if (got != want)
            fail_msg("f32->f16 NaN %08x: got %04x want %04x", fbits(x), got, want);
        return;
    }
    uint16_t want = ref_narrow(x, 10, 15, 31);
    if (got != want)
        fail_msg("f32->f16 %a (%08x): got %04x want %04x", (double)x, fbits(x), got, want);
}

static void check_narrow_bf16(float x)
{
    uint16_t got = lmz_f32_to_bf16(x);
    if (isnan(x)) {
        uint16_t want = (uint16_t)((fbits(x) >> 16) | 0x40);
        if (got != want)
            fail_msg("f32->bf16 NaN %08x: got %04x want %04x", fbits(x), got, want);
        return;
    }
    uint16_t want = ref_narrow(x, 7, 127, 255);
    if (got != want)
        fail_msg("f32->bf16 %a (%08x): got %04x want %04x", (double)x, fbits(x), got, want);
}

static void test_f16_all_values(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float v = lmz_f16_to_f32((uint16_t)h);
        int e = (h >> 10) & 0x1f, m = h & 0x3ff;
        if (e == 31 && m) {                     /* NaN: sign and payload kept, made quiet */
            assert_true(isnan(v));
            assert_int_equal(fbits(v), ((h & 0x8000u) << 16) | 0x7fc00000u | ((uint32_t)m << 13));
            assert_int_equal(lmz_f32_to_f16(v), h | 0x200);
            continue;
        }
        float want = e == 31 ? ((h & 0x8000) ? -INFINITY : INFINITY) : ref_f16_value((uint16_t)h);
        if (fbits(v) != fbits(want))
            fail_msg("f16 %04x -> %08x, want %08x", h, fbits(v), fbits(want));
        if (lmz_f32_to_f16(v) != h)
            fail_msg("f16 %04x does not round-trip (got %04x)", h, lmz_f32_to_f16(v));
    }
}

static void test_f16_rounding(void **state)
{
    (void)state;
    rng r = {1};
    long n = 0;
    for (uint32_t h = 0; h < 0x7c00; h++) {     /* each value, its neighbours, midpoints */
        for (int s = 0; s < 2; s++) {
            float v = lmz_f16_to_f32((uint16_t)(h | s << 15));
            float next = h + 1 < 0x7c00 ? lmz_f16_to_f32((uint16_t)((h + 1) | s << 15))
                                        : (s ? -65536.0f : 65536.0f);
            float mid = (float)(((double)v + next) / 2);    /* exact: 12 significant bits */
            float probes[] = {v, nextafterf(v, INFINITY), nextafterf(v, -INFINITY), mid,
                              nextafterf(mid, INFINITY), nextafterf(mid, -INFINITY)};
            for (size_t i = 0; i < sizeof probes / sizeof *probes; i++, n++)
                check_narrow_f16(probes[i]);
        }
    }
    float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, FLT_MIN,
                       FLT_TRUE_MIN, 65504.0f, 65519.99f, 65520.0f, -65520.0f, 1e10f,
                       0x1p-24f, 0x1p-25f, nextafterf(0x1p-25f, 1.0f), 0x1p-26f, 0x1.8p-25f,
                       0x1p-14f, nextafterf(0x1p-14f, 0.0f), 0x1.ffcp-15f, 0x1.ffep-15f,
                       bitsf(0x7fc00000u), bitsf(0xffc00001u), bitsf(0x7f800001u), bitsf(0x7f802000u)};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++, n++)
        check_narrow_f16(special[i]);
    for (int i = 0; i < 2000000; i++, n++)
        check_narrow_f16(bitsf((uint32_t)rnd(&r)));
    print_message("    %ld f32->f16 conversions agree with the reference\n", n);
}

static void test_bf16(void **state)
{
    (void)state;
    rng r = {2};
    for (uint32_t h = 0; h < 65536; h++) {
        float v = lmz_bf16_to_f32((uint16_t)h);
        int e = (h >> 7) & 0xff, m = h & 0x7f;
        assert_int_equal(fbits(v), h << 16);   /* bf16 is the top half of an f32 */
        if (e == 255 && m) {
            assert_true(isnan(v));
            assert_int_equal(lmz_f32_to_bf16(v), h | 0x40);
            continue;
        }
        float want = e == 255 ? ((h & 0x8000) ? -INFINITY : INFINITY) : ref_bf16_value((uint16_t)h);
        if (fbits(v) != fbits(want))
            fail_msg("bf16 %04x -> %08x, want %08x", h, fbits(v), fbits(want));
        if (lmz_f32_to_bf16(v) != h)
            fail_msg("bf16 %04x does not round-trip", h);
        if (e < 254 || (e == 254 && m < 127)) {     /* above the largest: FLT_MAX below */
            float next = lmz_bf16_to_f32((uint16_t)(h + 1));
            float mid = (float)(((double)v + next) / 2);
            check_narrow_bf16(mid);
            check_narrow_bf16(nextafterf(mid, INFINITY));
            check_narrow_bf16(nextafterf(mid, -INFINITY));
        }
    }
    for (int i = 0; i < 2000000; i++)
        check_narrow_bf16(bitsf((uint32_t)rnd(&r)));
    assert_int_equal(lmz_f32_to_bf16(FLT_MAX), 0x7f80);          /* rounds up to inf */
    assert_int_equal(lmz_f32_to_bf16(FLT_TRUE_MIN), 0x0000);     /* below half a unit */
    assert_int_equal(lmz_f32_to_bf16(0x1p-133f), 0x0001);        /* smallest bf16 subnormal */
}

/* ------------------------------------------------------------------ writer -> reader */

/* Writes one of everything: each metadata type, each tensor type, shapes of 1..4 dims. */
static gguf_writer *make_everything_writer(void)
{
    gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    gguf_writer_set_u8(w, "t.u8", 200);
    gguf_writer_set_i8(w, "t.i8", -100);
    gguf_writer_set_u16(w, "t.u16", 60000);
    gguf_writer_set_i16(w, "t.i16", -30000);
    gguf_writer_set_u32(w, "t.u32", 4000000000u);
    gguf_writer_set_i32(w, "t.i32", -2000000000);
    gguf_writer_set_f32(w, "t.f32", 3.25f);
    gguf_writer_set_bool(w, "t.bool", 7);              /* any nonzero -> true (1) */
    gguf_writer_set_bool(w, "t.false", 0);
    gguf_writer_set_str(w, "t.str", "hello, gguf");
    gguf_writer_set_str(w, "t.empty_str", "");
    gguf_writer_set_u64(w, "t.u64", (1ull << 40) + 5);
    gguf_writer_set_i64(w, "t.i64", INT64_MIN);
    gguf_writer_set_f64(w, "t.f64", -2.5);
    gguf_writer_set_f64(w, "t.f64_big", 1e300);
    gguf_writer_set_u32(w, "t.replaced", 1);
    gguf_writer_set_u32(w, "t.replaced", 2);           /* second set wins */

    const uint8_t a_u8[] = {0, 1, 255};
    const int8_t a_i8[] = {-128, 0, 127};
    const uint16_t a_u16[] = {0, 1, 65535};
    const int16_t a_i16[] = {-32768, 0, 32767};
    const uint32_t a_u32[] = {0, 1, UINT32_MAX};
    const int32_t a_i32[] = {INT32_MIN, -1, INT32_MAX};
    const float a_f32[] = {-1.5f, 0.0f, 1e-30f};
    const uint8_t a_bool[] = {1, 0, 1};
    const uint64_t a_u64[] = {0, 1, UINT64_MAX};
    const int64_t a_i64[] = {INT64_MIN, -1, INT64_MAX};
    const double a_f64[] = {-1e300, 0.0, 0.1};
    const char *a_str[] = {"alpha", "", "\xc4\xa0t", "last"};
    gguf_writer_set_arr(w, "a.u8", GGUF_TYPE_UINT8, a_u8, 3);
    gguf_writer_set_arr(w, "a.i8", GGUF_TYPE_INT8, a_i8, 3);
    gguf_writer_set_arr(w, "a.u16", GGUF_TYPE_UINT16, a_u16, 3);
    gguf_writer_set_arr(w, "a.i16", GGUF_TYPE_INT16, a_i16, 3);
    gguf_writer_set_arr(w, "a.u32", GGUF_TYPE_UINT32, a_u32, 3);
    gguf_writer_set_arr_i32(w, "a.i32", a_i32, 3);
    gguf_writer_set_arr_f32(w, "a.f32", a_f32, 3);
    gguf_writer_set_arr(w, "a.bool", GGUF_TYPE_BOOL, a_bool, 3);
    gguf_writer_set_arr(w, "a.u64", GGUF_TYPE_UINT64, a_u64, 3);
    gguf_writer_set_arr(w, "a.i64", GGUF_TYPE_INT64, a_i64, 3);
    gguf_writer_set_arr(w, "a.f64", GGUF_TYPE_FLOAT64, a_f64, 3);
    gguf_writer_set_arr_str(w, "a.str", a_str, 4);
    gguf_writer_set_arr_str(w, "a.str_empty", NULL, 0);
    gguf_writer_set_arr_i32(w, "a.i32_empty", NULL, 0);

    float f32[15];
    uint16_t f16[7], bf16[16];
    uint8_t q8[2 * 2 * 34];
    float last[6];
    for (int i = 0; i < 15; i++)
        f32[i] = (float)i * 0.5f - 3.0f;
    for (int i = 0; i < 7; i++)
        f16[i] = lmz_f32_to_f16((float)i / 3.0f);
    for (int i = 0; i < 16; i++)
        bf16[i] = lmz_f32_to_bf16((float)i * 1.25f);
    for (int i = 0; i < (int)sizeof q8; i++)
        q8[i] = (uint8_t)(i * 7 + 3);
    for (int i = 0; i < 6; i++)
        last[i] = (float)i;
    gguf_writer_add_tensor(w, "w.f32", GGML_TYPE_F32, 2, (const uint64_t[]){5, 3}, f32);
    gguf_writer_add_tensor(w, "w.f16", GGML_TYPE_F16, 1, (const uint64_t[]){7}, f16);
    gguf_writer_add_tensor(w, "w.bf16", GGML_TYPE_BF16, 3, (const uint64_t[]){4, 2, 2}, bf16);
    gguf_writer_add_tensor(w, "w.q8_0", GGML_TYPE_Q8_0, 2, (const uint64_t[]){64, 2}, q8);
    /* 24 bytes: the file ends with 8 bytes of padding, which a reader may do without. */
    gguf_writer_add_tensor(w, "w.4d", GGML_TYPE_F32, 4, (const uint64_t[]){1, 3, 1, 2}, last);
    return w;
}

static void check_kv_type(const gguf_file *f, const char *key, gguf_type type, gguf_type arr_type)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        fail_msg("key %s missing", key);
    if (kv->type != type || (type == GGUF_TYPE_ARRAY && kv->arr_type != arr_type))
        fail_msg("key %s has type %s/%s", key, gguf_type_name(kv->type), gguf_type_name(kv->arr_type));
}

static void check_everything(const gguf_file *f)
{
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f32;
    int b;
    gguf_str s;
    const gguf_kv *arr;

    assert_int_equal(f->version, 3);
    assert_int_equal(f->n_kv, 30);
    assert_int_equal(f->n_tensors, 5);
    assert_int_equal(f->alignment, 32);
    assert_int_equal(f->data_offset % 32, 0);
    /* The exact GGUF types, as llama.cpp checks them. */
    check_kv_type(f, "t.u8", GGUF_TYPE_UINT8, 0);
    check_kv_type(f, "t.i8", GGUF_TYPE_INT8, 0);
    check_kv_type(f, "t.u16", GGUF_TYPE_UINT16, 0);
    check_kv_type(f, "t.i16", GGUF_TYPE_INT16, 0);
    check_kv_type(f, "t.u32", GGUF_TYPE_UINT32, 0);
    check_kv_type(f, "t.i32", GGUF_TYPE_INT32, 0);
    check_kv_type(f, "t.f32", GGUF_TYPE_FLOAT32, 0);
    check_kv_type(f, "t.bool", GGUF_TYPE_BOOL, 0);
    check_kv_type(f, "t.str", GGUF_TYPE_STRING, 0);
    check_kv_type(f, "t.u64", GGUF_TYPE_UINT64, 0);
    check_kv_type(f, "t.i64", GGUF_TYPE_INT64, 0);
    check_kv_type(f, "t.f64", GGUF_TYPE_FLOAT64, 0);
    check_kv_type(f, "a.i32", GGUF_TYPE_ARRAY, GGUF_TYPE_INT32);
    check_kv_type(f, "a.f32", GGUF_TYPE_ARRAY, GGUF_TYPE_FLOAT32);
    check_kv_type(f, "a.str", GGUF_TYPE_ARRAY, GGUF_TYPE_STRING);
    check_kv_type(f, "a.f64", GGUF_TYPE_ARRAY, GGUF_TYPE_FLOAT64);

    /* Scalar values through the getters, including the cross-type integer rules. */
    assert_int_equal(gguf_get_u32(f, "t.u8", &u32), 0);
    assert_int_equal(u32, 200);
    assert_int_equal(gguf_get_i64(f, "t.i8", &i64), 0);
    assert_int_equal(i64, -100);
    assert_int_equal(gguf_get_u32(f, "t.i8", &u32), -1);           /* negative */
    assert_int_equal(gguf_get_u32(f, "t.u16", &u32), 0);
    assert_int_equal(u32, 60000);
    assert_int_equal(gguf_get_i64(f, "t.i16", &i64), 0);
    assert_int_equal(i64, -30000);
    assert_int_equal(gguf_get_u32(f, "t.u32", &u32), 0);
    assert_int_equal(u32, 4000000000u);
    assert_int_equal(gguf_get_i64(f, "t.i32", &i64), 0);
    assert_int_equal(i64, -2000000000);
    assert_int_equal(gguf_get_u32(f, "t.u64", &u32), -1);          /* does not fit */
    assert_int_equal(gguf_get_u64(f, "t.u64", &u64), 0);
    assert_int_equal(u64, (1ull << 40) + 5);
    assert_int_equal(gguf_get_i64(f, "t.i64", &i64), 0);
    assert_true(i64 == INT64_MIN);
    assert_int_equal(gguf_get_u64(f, "t.i64", &u64), -1);
    assert_int_equal(gguf_get_u32(f, "t.replaced", &u32), 0);
    assert_int_equal(u32, 2);
    assert_int_equal(gguf_get_u32(f, "t.f32", &u32), -1);          /* not an integer */
    assert_int_equal(gguf_get_u32(f, "t.bool", &u32), -1);
    assert_int_equal(gguf_get_u32(f, "no.such.key", &u32), -1);
    assert_int_equal(gguf_get_f32(f, "t.f32", &f32), 0);
    assert_true(f32 == 3.25f);
    assert_int_equal(gguf_get_f32(f, "t.f64", &f32), 0);           /* FLOAT64 in range */
    assert_true(f32 == -2.5f);
    assert_int_equal(gguf_get_f32(f, "t.f64_big", &f32), -1);      /* beyond FLT_MAX */
    assert_int_equal(gguf_get_f32(f, "t.u32", &f32), -1);
    assert_int_equal(gguf_get_bool(f, "t.bool", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(gguf_get_bool(f, "t.false", &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(gguf_get_bool(f, "t.u8", &b), -1);
    assert_int_equal(gguf_get_str(f, "t.str", &s), 0);
    assert_true(str_is(s, "hello, gguf"));
    assert_int_equal(gguf_get_str(f, "t.empty_str", &s), 0);
    assert_int_equal(s.len, 0);
    assert_int_equal(gguf_get_str(f, "t.u32", &s), -1);

    /* Arrays: raw payloads, accessors, bounds. */
    static const struct { const char *key; gguf_type type; size_t size; uint8_t bytes[24]; } raw[] = {
        {"a.u8", GGUF_TYPE_UINT8, 3, {0, 1, 255}},
        {"a.i8", GGUF_TYPE_INT8, 3, {0x80, 0, 0x7f}},
        {"a.u16", GGUF_TYPE_UINT16, 6, {0, 0, 1, 0, 255, 255}},
        {"a.i16", GGUF_TYPE_INT16, 6, {0, 0x80, 0, 0, 255, 0x7f}},
        {"a.u32", GGUF_TYPE_UINT32, 12, {0, 0, 0, 0, 1, 0, 0, 0, 255, 255, 255, 255}},
        {"a.bool", GGUF_TYPE_BOOL, 3, {1, 0, 1}},
        {"a.u64", GGUF_TYPE_UINT64, 24, {0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
                                         255, 255, 255, 255, 255, 255, 255, 255}},
        {"a.i64", GGUF_TYPE_INT64, 24, {0, 0, 0, 0, 0, 0, 0, 0x80, 255, 255, 255, 255, 255, 255,
                                        255, 255, 255, 255, 255, 255, 255, 255, 255, 0x7f}},
    };
    for (size_t i = 0; i < sizeof raw / sizeof *raw; i++) {
        assert_int_equal(gguf_get_arr(f, raw[i].key, raw[i].type, &arr), 0);
        assert_int_equal(arr->arr_len, 3);
        assert_memory_equal(arr->data, raw[i].bytes, raw[i].size);
    }
    assert_int_equal(gguf_get_arr(f, "a.f64", GGUF_TYPE_FLOAT64, &arr), 0);
    double d;
    memcpy(&d, arr->data + 16, 8);
    assert_true(d == 0.1);
    assert_int_equal(gguf_get_arr(f, "a.i32", GGUF_TYPE_UINT32, &arr), -1);   /* exact type */
    assert_int_equal(gguf_get_arr(f, "t.u32", GGUF_TYPE_UINT32, &arr), -1);   /* not an array */
    assert_int_equal(gguf_get_arr(f, "a.i32", GGUF_TYPE_INT32, &arr), 0);
    assert_int_equal(gguf_arr_i32(arr, 0), INT32_MIN);
    assert_int_equal(gguf_arr_i32(arr, 1), -1);
    assert_int_equal(gguf_arr_i32(arr, 2), INT32_MAX);
    assert_int_equal(gguf_arr_i32(arr, 3), 0);                 /* out of range */
    assert_true(gguf_arr_f32(arr, 0) == 0.0f);                 /* wrong element type */
    assert_int_equal(gguf_get_arr(f, "a.f32", GGUF_TYPE_FLOAT32, &arr), 0);
    assert_true(gguf_arr_f32(arr, 0) == -1.5f && gguf_arr_f32(arr, 2) == 1e-30f);
    assert_int_equal(gguf_get_arr(f, "a.str", GGUF_TYPE_STRING, &arr), 0);
    assert_int_equal(arr->arr_len, 4);
    assert_true(str_is(gguf_arr_str(arr, 0), "alpha"));
    assert_int_equal(gguf_arr_str(arr, 1).len, 0);
    assert_true(str_is(gguf_arr_str(arr, 2), "\xc4\xa0t"));
    assert_true(str_is(gguf_arr_str(arr, 3), "last"));
    assert_null(gguf_arr_str(arr, 4).ptr);
    assert_int_equal(gguf_get_arr(f, "a.str_empty", GGUF_TYPE_STRING, &arr), 0);
    assert_int_equal(arr->arr_len, 0);
    assert_null(gguf_arr_str(arr, 0).ptr);
    assert_int_equal(gguf_get_arr(f, "a.i32_empty", GGUF_TYPE_INT32, &arr), 0);
    assert_int_equal(arr->arr_len, 0);

    /* Tensors: file order, shapes, types, sizes, alignment and bytes. */
    static const struct { const char *name; ggml_type type; uint32_t n_dims; uint64_t ne[4]; uint64_t size; } want[] = {
        {"w.f32", GGML_TYPE_F32, 2, {5, 3, 1, 1}, 60},
        {"w.f16", GGML_TYPE_F16, 1, {7, 1, 1, 1}, 14},
        {"w.bf16", GGML_TYPE_BF16, 3, {4, 2, 2, 1}, 32},
        {"w.q8_0", GGML_TYPE_Q8_0, 2, {64, 2, 1, 1}, 136},
        {"w.4d", GGML_TYPE_F32, 4, {1, 3, 1, 2}, 24},
    };
    for (size_t i = 0; i < 5; i++) {
        const gguf_tensor *t = &f->tensors[i];
        assert_true(str_is(t->name, want[i].name));
        assert_ptr_equal(gguf_find_tensor(f, want[i].name), t);
        assert_int_equal(t->type, want[i].type);
        assert_int_equal(t->n_dims, want[i].n_dims);
        assert_memory_equal(t->ne, want[i].ne, sizeof want[i].ne);
        assert_int_equal(t->size, want[i].size);
        assert_int_equal(t->offset % 32, 0);
        assert_int_equal(((const uint8_t *)t->data - f->base) % 32, 0);
    }
    const float *w32 = f->tensors[0].data;
    assert_true(w32[0] == -3.0f && w32[14] == 4.0f);
    assert_true(lmz_f16_to_f32(((const uint16_t *)f->tensors[1].data)[3]) == lmz_f16_to_f32(lmz_f32_to_f16(1.0f)));
    assert_true(lmz_bf16_to_f32(((const uint16_t *)f->tensors[2].data)[15]) == 18.75f);
    const uint8_t *q = f->tensors[3].data;
    for (int i = 0; i < 136; i++)
        assert_int_equal(q[i], (uint8_t)(i * 7 + 3));
    assert_true(((const float *)f->tensors[4].data)[5] == 5.0f);
    assert_null(gguf_find_tensor(f, "w.f3"));
    assert_null(gguf_find_kv(f, "t.u3"));

    uint64_t checksum = 0;
    assert_null(gguf_exercise(f, &checksum));
}

static void test_writer_roundtrip(void **state)
{
    char path[300], tmp[310];
    char err[512] = "";
    gguf_file f;
    uint8_t *mem;
    size_t mem_size, file_size;

    scratch_path(state, path, sizeof path, "roundtrip.gguf");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    gguf_writer *w = make_everything_writer();
    if (gguf_writer_write_file(w, path, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(access(tmp, F_OK), -1);            /* the temp file was renamed */
    assert_int_equal(gguf_writer_write_mem(w, &mem, &mem_size, err, sizeof err), 0);
    gguf_writer_free(w);

    uint8_t *disk = read_file(path, &file_size);
    assert_int_equal(file_size, mem_size);
    assert_memory_equal(disk, mem, mem_size);           /* both writers give the same bytes */
    assert_memory_equal(disk, "GGUF\3\0\0\0\5\0\0\0\0\0\0\0\36\0\0\0\0\0\0\0", 24);
    free(disk);

    if (gguf_open(&f, path, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(f.owns_map, 1);
    assert_int_equal(f.size, file_size);
    check_everything(&f);
    gguf_close(&f);
    gguf_close(&f);                                      /* idempotent */

    gguf_file g;
    assert_int_equal(gguf_parse(&g, mem, mem_size, err, sizeof err), 0);
    assert_int_equal(g.owns_map, 0);
    check_everything(&g);
    gguf_close(&g);
    free(mem);
}

static void test_writer_alignment(void **state)
{
    (void)state;
    char err[512] = "";
    uint8_t *mem;
    size_t size;
    gguf_file f;
    float v[3] = {1, 2, 3};

    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_u32(w, "general.alignment", 64);
    gguf_writer_add_tensor(w, "a", GGML_TYPE_F32, 1, (const uint64_t[]){3}, v);
    gguf_writer_add_tensor(w, "b", GGML_TYPE_F32, 1, (const uint64_t[]){3}, v);
    assert_int_equal(gguf_writer_write_mem(w, &mem, &size, err, sizeof err), 0);
    assert_int_equal(gguf_parse(&f, mem, size, err, sizeof err), 0);
    assert_int_equal(f.alignment, 64);
    assert_int_equal(f.data_offset % 64, 0);
    assert_int_equal(f.tensors[1].offset, 64);
    assert_true(((const float *)gguf_find_tensor(&f, "b")->data)[2] == 3.0f);
    gguf_close(&f);
    free(mem);

    gguf_writer_set_u8(w, "general.alignment", 64);      /* llama.cpp reads it as u32 only */
    assert_int_equal(gguf_writer_write_mem(w, &mem, &size, err, sizeof err), -1);
    assert_non_null(strstr(err, "general.alignment"));
    assert_null(mem);
    gguf_writer_set_u32(w, "general.alignment", 48);
    assert_int_equal(gguf_writer_write_mem(w, &mem, &size, err, sizeof err), -1);
    assert_non_null(strstr(err, "power of two"));
    gguf_writer_free(w);
}

static void test_writer_errors(void **state)
{
    char path[300], tmp[310], err[512] = "";
    uint8_t data[64 * 34] = {0};
    uint8_t *mem;
    size_t size;

    /* Invalid arguments are remembered and reported at write time; nothing is written. */
    scratch_path(state, path, sizeof path, "bad.gguf");
    gguf_writer *w = gguf_writer_new();
    gguf_writer_add_tensor(w, "q", GGML_TYPE_Q8_0, 1, (const uint64_t[]){16}, data);
    assert_int_equal(gguf_writer_write_file(w, path, err, sizeof err), -1);
    print_message("    %s\n", err);
    assert_non_null(strstr(err, "tensor 'q'"));
    assert_int_equal(access(path, F_OK), -1);
    gguf_writer_free(w);

    static const struct { ggml_type type; uint32_t n_dims; uint64_t ne0; const char *name; } bad[] = {
        {(ggml_type)2, 1, 32, "q4"}, {GGML_TYPE_F32, 0, 4, "nodims"},
        {GGML_TYPE_F32, 5, 4, "fivedims"}, {GGML_TYPE_F32, 1, 0, "zero"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        w = gguf_writer_new();
        uint64_t ne[5] = {bad[i].ne0, 1, 1, 1, 1};
        gguf_writer_add_tensor(w, bad[i].name, bad[i].type, bad[i].n_dims, ne, data);
        assert_int_equal(gguf_writer_write_mem(w, &mem, &size, err, sizeof err), -1);
        assert_non_null(strstr(err, bad[i].name));
        gguf_writer_free(w);
    }
    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "same", GGML_TYPE_F32, 1, (const uint64_t[]){4}, data);
    gguf_writer_add_tensor(w, "same", GGML_TYPE_F32, 1, (const uint64_t[]){4}, data);
    assert_int_equal(gguf_writer_write_mem(w, &mem, &size, err, sizeof err), -1);
    assert_non_null(strstr(err, "duplicate tensor name 'same'"));
    gguf_writer_free(w);
    w = gguf_writer_new();
    gguf_writer_set_str(w, "k", NULL);
    gguf_writer_set_u32(w, "", 1);
    assert_int_equal(gguf_writer_write_mem(w, &mem, &size, err, sizeof err), -1);
    assert_non_null(strstr(err, "NULL string"));      /* the first problem is reported */
    gguf_writer_free(w);
    assert_int_equal(gguf_writer_write_mem(NULL, &mem, &size, err, sizeof err), -1);

    /* A directory that does not exist. */
    w = gguf_writer_new();
    gguf_writer_set_u32(w, "k", 1);
    gguf_writer_add_tensor(w, "big", GGML_TYPE_Q8_0, 1, (const uint64_t[]){64 * 32}, data);
    scratch_path(state, path, sizeof path, "no/such/dir/x.gguf");
    assert_int_equal(gguf_writer_write_file(w, path, err, sizeof err), -1);
    print_message("    %s\n", err);
    assert_non_null(strstr(err, "cannot create"));

    /* rename() fails (the target is a directory): the temp file is removed. */
    scratch_path(state, path, sizeof path, "a_dir");
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(gguf_writer_write_file(w, path, err, sizeof err), -1);
    print_message("    %s\n", err);
    assert_non_null(strstr(err, "renaming"));
    assert_int_equal(access(tmp, F_OK), -1);

    /* A write error in the middle (EFBIG from RLIMIT_FSIZE, as ENOSPC would be): the temp
     * file is removed and the previous file at PATH is untouched. */
    scratch_path(state, path, sizeof path, "keep.gguf");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    write_bytes(path, "previous contents", 17);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1000;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = gguf_writer_write_file(w, path, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    print_message("    %s\n", err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "writing"));
    assert_non_null(strstr(err, strerror(EFBIG)));
    assert_int_equal(access(tmp, F_OK), -1);
    size_t n;
    uint8_t *kept = read_file(path, &n);
    assert_int_equal(n, 17);
    assert_memory_equal(kept, "previous contents", 17);
    free(kept);

    /* And the same writer then succeeds, replacing the file. */
    assert_int_equal(gguf_writer_write_file(w, path, err, sizeof err), 0);
    gguf_file f;
    assert_int_equal(gguf_open(&f, path, err, sizeof err), 0);
    assert_int_equal(gguf_find_tensor(&f, "big")->size, 64 * 34);
    gguf_close(&f);
    gguf_writer_free(w);
}

/* ------------------------------------------------------------------ Python-written fixtures */

/* Sum and sum of |x| of a tensor's values, dequantized, in double. */
static double tensor_sum(const gguf_tensor *t, double *abs_sum, float first[3])
{
    uint64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    const uint8_t *p = t->data;
    double s = 0, a = 0;
    for (uint64_t i = 0; i < n; i++) {
        float v;
        uint16_t h;
        switch (t->type) {
        case GGML_TYPE_F32: memcpy(&v, p + 4 * i, 4); break;
        case GGML_TYPE_F16: memcpy(&h, p + 2 * i, 2); v = lmz_f16_to_f32(h); break;
        case GGML_TYPE_BF16: memcpy(&h, p + 2 * i, 2); v = lmz_bf16_to_f32(h); break;
        default: {      /* Q8_0: per 32 values, an f16 scale then 32 int8 */
            const uint8_t *blk = p + i / 32 * 34;
            memcpy(&h, blk, 2);
            v = lmz_f16_to_f32(h) * (float)(int8_t)blk[2 + i % 32];
        }
        }
        if (i < 3)
            first[i] = v;
        s += v;
        a += fabs(v);
    }
    *abs_sum = a;
    return s;
}

/* Values computed by gguf_min.GGUFReader (tests/fixtures/gguf/README.md). */
typedef struct tensor_expect {
    const char *name;
    ggml_type type;
    uint32_t n_dims;
    uint64_t ne0, ne1;
    double sum, abs_sum;
    float first[3];
} tensor_expect;

static void check_fixture_tensors(const gguf_file *f, const tensor_expect *te, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const gguf_tensor *t = gguf_find_tensor(f, te[i].name);
        double abs_sum;
        float first[3];
        if (!t)
            fail_msg("tensor %s missing", te[i].name);
        assert_int_equal(t->type, te[i].type);
        assert_int_equal(t->n_dims, te[i].n_dims);
        assert_int_equal(t->ne[0], te[i].ne0);
        assert_int_equal(t->ne[1], te[i].ne1);
        double sum = tensor_sum(t, &abs_sum, first);
        if (fabs(sum - te[i].sum) > 1e-9 * abs_sum || fabs(abs_sum - te[i].abs_sum) > 1e-9 * abs_sum)
            fail_msg("%s: sum %.17g |sum| %.17g, want %.17g %.17g", te[i].name, sum, abs_sum,
                     te[i].sum, te[i].abs_sum);
        assert_memory_equal(first, te[i].first, sizeof first);
    }
}

static void test_fixture_q8_0(void **state)
{
    (void)state;
    gguf_file f;
    char err[512];
    uint32_t u32;
    float f32;
    int b;
    gguf_str s;
    const gguf_kv *arr;

    if (gguf_open(&f, FIXTURE_Q8, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(f.n_kv, 23);
    assert_int_equal(f.n_tensors, 12);
    assert_int_equal(f.data_offset, 5408);
    assert_int_equal(gguf_get_str(&f, "general.architecture", &s), 0);
    assert_true(str_is(s, "llama"));
    assert_int_equal(gguf_get_str(&f, "general.name", &s), 0);
    assert_true(str_is(s, "random-llama-32x1-q8_0"));
    static const struct { const char *key; uint32_t v; } u32s[] = {
        {"general.file_type", 7}, {"general.quantization_version", 2}, {"llama.vocab_size", 265},
        {"llama.context_length", 512}, {"llama.embedding_length", 32}, {"llama.block_count", 1},
        {"llama.feed_forward_length", 64}, {"llama.attention.head_count", 2},
        {"llama.attention.head_count_kv", 1}, {"llama.rope.dimension_count", 16},
        {"tokenizer.ggml.bos_token_id", 264}, {"tokenizer.ggml.eos_token_id", 264}};
    for (size_t i = 0; i < sizeof u32s / sizeof *u32s; i++) {
        check_kv_type(&f, u32s[i].key, GGUF_TYPE_UINT32, 0);
        assert_int_equal(gguf_get_u32(&f, u32s[i].key, &u32), 0);
        assert_int_equal(u32, u32s[i].v);
    }
    assert_int_equal(gguf_get_f32(&f, "llama.rope.freq_base", &f32), 0);
    assert_true(f32 == 10000.0f);
    assert_int_equal(gguf_get_f32(&f, "llama.attention.layer_norm_rms_epsilon", &f32), 0);
    assert_true(f32 == 1e-5f);
    assert_int_equal(gguf_get_bool(&f, "tokenizer.ggml.add_bos_token", &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(gguf_get_str(&f, "tokenizer.ggml.model", &s), 0);
    assert_true(str_is(s, "gpt2"));
    assert_int_equal(gguf_get_str(&f, "tokenizer.ggml.pre", &s), 0);
    assert_true(str_is(s, "gpt-2"));
    assert_int_equal(gguf_get_arr(&f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &arr), 0);
    assert_int_equal(arr->arr_len, 265);
    assert_true(str_is(gguf_arr_str(arr, 0), "\xc4\x80"));        /* byte 0 spelled U+0100 */
    assert_true(str_is(gguf_arr_str(arr, 33), "!"));
    assert_true(str_is(gguf_arr_str(arr, 256), "\xc4\xa0t"));     /* first merge result */
    assert_true(str_is(gguf_arr_str(arr, 264), "<|endoftext|>"));
    assert_int_equal(gguf_get_arr(&f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &arr), 0);
    assert_int_equal(arr->arr_len, 265);
    assert_int_equal(gguf_arr_i32(arr, 0), 1);
    assert_int_equal(gguf_arr_i32(arr, 264), 3);
    assert_int_equal(gguf_get_arr(&f, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &arr), 0);
    assert_int_equal(arr->arr_len, 8);
    assert_true(str_is(gguf_arr_str(arr, 0), "\xc4\xa0 t"));
    assert_true(str_is(gguf_arr_str(arr, 7), "\xc4\xa0 a"));

    static const char *order[] = {
        "token_embd.weight", "output_norm.weight", "output.weight", "blk.0.attn_norm.weight",
        "blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight",
        "blk.0.attn_output.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_gate.weight",
        "blk.0.ffn_up.weight", "blk.0.ffn_down.weight"};
    static const uint64_t offsets[] = {0, 9024, 9152, 18176, 18304, 19392, 19936, 20480,
                                       21568, 21696, 23872, 26048};
    for (size_t i = 0; i < 12; i++) {
        assert_true(str_is(f.tensors[i].name, order[i]));
        assert_int_equal(f.tensors[i].offset, offsets[i]);
    }
    static const tensor_expect te[] = {
        {"token_embd.weight", GGML_TYPE_Q8_0, 2, 32, 265, -37.89286422729492, 3386.380397796631,
         {-0x1.9afap-1f, 0x1.19dp-5f, 0x1.77cp-2f}},
        {"output_norm.weight", GGML_TYPE_F32, 1, 32, 1, 32.37231123447418, 32.37231123447418,
         {0x1.3bc61ep+0f, 0x1.11fa5ep+0f, 0x1.0486a4p+0f}},
        {"blk.0.ffn_down.weight", GGML_TYPE_Q8_0, 2, 64, 32, 0.9580650329589844, 202.02853775024414,
         {-0x1.236p-4f, -0x1.2f84p-3f, 0x1.785cp-4f}},
        {"blk.0.attn_k.weight", GGML_TYPE_Q8_0, 2, 32, 16, 0, 0, {0, 0, 0}},
    };
    check_fixture_tensors(&f, te, 3);
    const gguf_tensor *k = gguf_find_tensor(&f, te[3].name);
    assert_int_equal(k->ne[0], 32);
    assert_int_equal(k->ne[1], 16);                 /* n_head_kv * head_dim rows */
    assert_int_equal(k->size, 16 * 34);
    uint64_t checksum = 0;
    assert_null(gguf_exercise(&f, &checksum));
    gguf_close(&f);
}

static void test_fixture_f16_llama(void **state)
{
    (void)state;
    gguf_file f;
    char err[512];
    uint32_t u32;
    const gguf_kv *arr;

    if (gguf_open(&f, FIXTURE_F16, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(f.n_kv, 23);
    assert_int_equal(f.n_tensors, 11);
    assert_int_equal(gguf_get_u32(&f, "general.file_type", &u32), 0);
    assert_int_equal(u32, 1);
    assert_int_equal(gguf_get_u32(&f, "tokenizer.ggml.unknown_token_id", &u32), 0);
    assert_int_equal(u32, 0);
    assert_int_equal(gguf_get_arr(&f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &arr), 0);
    assert_true(str_is(gguf_arr_str(arr, 0), "<unk>"));
    assert_true(str_is(gguf_arr_str(arr, 3), "<0x00>"));
    assert_true(str_is(gguf_arr_str(arr, 258), "<0xFF>"));
    assert_true(str_is(gguf_arr_str(arr, 259), "\xe2\x96\x81"));
    assert_true(str_is(gguf_arr_str(arr, 264), "in"));
    assert_int_equal(gguf_get_arr(&f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, &arr), 0);
    assert_int_equal(arr->arr_len, 265);
    assert_true(gguf_arr_f32(arr, 0) == 0.0f && gguf_arr_f32(arr, 259) == -1.0f &&
                gguf_arr_f32(arr, 264) == -6.0f);
    assert_int_equal(gguf_get_arr(&f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &arr), 0);
    assert_int_equal(gguf_arr_i32(arr, 3), 6);                      /* byte-fallback token */
    assert_null(gguf_find_tensor(&f, "output.weight"));             /* tied head */
    static const tensor_expect te[] = {
        {"token_embd.weight", GGML_TYPE_F16, 2, 32, 265, -37.60610890388489, 3386.356390476227,
         {-0x1.9a8p-1f, 0x1.068p-5f, 0x1.7b4p-2f}},
        {"output_norm.weight", GGML_TYPE_F32, 1, 32, 1, 32.37231123447418, 32.37231123447418,
         {0x1.3bc61ep+0f, 0x1.11fa5ep+0f, 0x1.0486a4p+0f}},
        {"blk.0.ffn_down.weight", GGML_TYPE_F16, 2, 64, 32, -5.943562150001526, 202.7380131483078,
         {0x1.c4p-6f, -0x1.d88p-5f, -0x1.65p-3f}},
    };
    check_fixture_tensors(&f, te, 3);
    uint64_t checksum = 0;
    assert_null(gguf_exercise(&f, &checksum));
    gguf_close(&f);
}

/* ------------------------------------------------------------------ hostile input */

/* Where a valid file may end: after the last tensor's data (padding after it optional). */
static size_t min_valid_size(const gguf_file *f)
{
    uint64_t end = f->data_offset;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (f->data_offset + f->tensors[i].offset + f->tensors[i].size > end)
            end = f->data_offset + f->tensors[i].offset + f->tensors[i].size;
    return (size_t)end;
}

/* Is cutting the file to n bytes a distinct case?  Every cut inside the metadata is; in
 * the data section only those near a tensor's end differ, the rest are sampled. */
static int cut_of_interest(const gguf_file *f, size_t n)
{
    if (n <= f->data_offset + 8)
        return 1;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        uint64_t end = f->data_offset + f->tensors[i].offset + f->tensors[i].size;
        if (n + 40 >= end && n <= end + 40)
            return 1;
    }
    return (n - f->data_offset) % 61 == 0;
}

/* Every cut of the file (or, with !every, each cut of interest) must be rejected, up to
 * the end of the last tensor's data. */
static void check_truncations(const uint8_t *data, size_t size, const char *what, int every)
{
    gguf_file f, full;
    uint8_t *copy;
    char err[512];
    assert_int_equal(parse_copy(data, size, &full, &copy, err, sizeof err), 0);
    size_t min_ok = min_valid_size(&full);
    assert_true(min_ok <= size);
    size_t rejected = 0;
    for (size_t n = 0; n < size; n++) {
        if (!every && !cut_of_interest(&full, n))
            continue;
        err[0] = '\0';
        ASAN_POISON_MEMORY_REGION(copy + n, size - n);
        int rc = gguf_parse(&f, copy, n, err, sizeof err);
        ASAN_UNPOISON_MEMORY_REGION(copy + n, size - n);
        if (n < min_ok) {
            if (rc != -1)
                fail_msg("%s truncated to %zu bytes parsed", what, n);
            if (strncmp(err, "GGUF: ", 6) != 0)
                fail_msg("%s truncated to %zu bytes: bad message \"%s\"", what, n, err);
            rejected++;
        } else {
            assert_int_equal(rc, 0);
        }
        gguf_close(&f);
    }
    gguf_close(&full);
    free(copy);
    print_message("    %s: %zu%s truncations rejected (%zu bytes of final padding optional)\n",
                  what, rejected, every ? " (all)" : "", size - min_ok);
}

static void test_truncation(void **state)
{
    char path[300], err[512];
    uint8_t *mem;
    size_t size;
    gguf_writer *w = make_everything_writer();
    assert_int_equal(gguf_writer_write_mem(w, &mem, &size, err, sizeof err), 0);
    gguf_writer_free(w);
    check_truncations(mem, size, "writer file", 1);
    free(mem);
    const char *fixtures[] = {FIXTURE_Q8, FIXTURE_F16};
    for (int i = 0; i < 2; i++) {
        mem = read_file(fixtures[i], &size);
        check_truncations(mem, size, fixtures[i], 0);
        /* The mmap path too, at a few cut points. */
        size_t cuts[] = {0, 3, 23, 24, 1000, 5400, size - 1};
        for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
            gguf_file f;
            scratch_path(state, path, sizeof path, "cut.gguf");
            write_bytes(path, mem, cuts[c]);
            assert_int_equal(gguf_open(&f, path, err, sizeof err), -1);
            assert_non_null(strstr(err, cuts[c] ? "(in '" : "empty"));
        }
        free(mem);
    }
}

static void check_parse_or_reject(const uint8_t *data, size_t size, long *ok, long *bad)
{
    gguf_file f;
    uint8_t *copy;
    char err[512] = "";
    if (parse_copy(data, size, &f, &copy, err, sizeof err) == 0) {
        uint64_t checksum = 0;
        const char *broken = gguf_exercise(&f, &checksum);
        if (broken)
            fail_msg("parsed file breaks an invariant: %s", broken);
        (*ok)++;
    } else {
        if (strncmp(err, "GGUF: ", 6) != 0)
            fail_msg("rejected without a message: \"%s\"", err);
        (*bad)++;
    }
    gguf_close(&f);
    free(copy);
}

static void test_random_corruption(void **state)
{
    (void)state;
    char err[512];
    uint8_t *files[2];
    size_t sizes[2], meta_end[2];
    gguf_writer *w = make_everything_writer();
    assert_int_equal(gguf_writer_write_mem(w, &files[0], &sizes[0], err, sizeof err), 0);
    gguf_writer_free(w);
    files[1] = read_file(FIXTURE_Q8, &sizes[1]);
    for (int i = 0; i < 2; i++) {
        gguf_file f;
        assert_int_equal(gguf_parse(&f, files[i], sizes[i], err, sizeof err), 0);
        meta_end[i] = (size_t)f.data_offset;
        gguf_close(&f);
    }
    rng r = {3};
    long ok = 0, bad = 0;
    uint8_t *work = malloc(sizes[1] > sizes[0] ? sizes[1] : sizes[0]);
    assert_non_null(work);
    for (int it = 0; it < 12000; it++) {
        int which = (int)(rnd(&r) % 2);
        memcpy(work, files[which], sizes[which]);
        int n_changes = 1 + (int)(rnd(&r) % 3);
        for (int c = 0; c < n_changes; c++) {
            /* Mostly in the metadata, where a byte can change the structure. */
            size_t range = rnd(&r) % 8 ? meta_end[which] : sizes[which];
            size_t pos = (size_t)(rnd(&r) % range);
            switch (rnd(&r) % 4) {
            case 0: work[pos] = (uint8_t)rnd(&r); break;
            case 1: work[pos] ^= (uint8_t)(1u << (rnd(&r) % 8)); break;
            case 2: work[pos] = 0xff; break;
            default: work[pos] = 0; break;
            }
        }
        check_parse_or_reject(work, sizes[which], &ok, &bad);
    }
    print_message("    corrupted files: %ld parsed (and were read in bounds), %ld rejected\n", ok, bad);
    assert_true(ok > 0 && bad > 0);
    free(work);
    free(files[0]);
    free(files[1]);
}

/* Structurally plausible random files: right magic and version, small random fields, so
 * the checks deep inside are reached, not just the first. */
static void random_file(rng *r, buf *b)
{
    uint64_t n_kv = rnd(r) % 5, n_t = rnd(r) % 4;
    /* One rnd() per statement, so the sequence does not depend on evaluation order. */
    uint32_t version = rnd(r) % 32 ? 3 : (uint32_t)rnd(r);
    uint64_t hdr_t = rnd(r) % 32 ? n_t : rnd(r);
    uint64_t hdr_kv = rnd(r) % 32 ? n_kv : rnd(r);
    b_header(b, version, hdr_t, hdr_kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        char key[32];
        int klen = (int)(rnd(r) % 4);
        for (int k = 0; k < klen; k++)
            key[k] = (char)('a' + rnd(r) % 3);
        key[klen] = '\0';
        if (rnd(r) % 8 == 0)
            strcpy(key, "general.alignment");
        b_str(b, key);
        uint32_t type = (uint32_t)(rnd(r) % 14);
        b_u32(b, type);
        uint64_t count = 1;
        uint32_t elem = type;
        if (type == GGUF_TYPE_ARRAY) {
            elem = (uint32_t)(rnd(r) % 14);
            count = rnd(r) % 16 ? rnd(r) % 5 : rnd(r);
            b_u32(b, elem);
            b_u64(b, count);
            count = count > 5 ? 5 : count;
        }
        for (uint64_t c = 0; c < count; c++) {
            if (elem == GGUF_TYPE_STRING) {
                uint64_t len = rnd(r) % 16 ? rnd(r) % 4 : rnd(r);
                b_u64(b, len);
                b_zeros(b, len < 4 ? len : 4);
            } else {
                int n = elem == GGUF_TYPE_UINT8 || elem == GGUF_TYPE_BOOL ? 1 : 1 << (rnd(r) % 4);
                for (int k = 0; k < n; k++)
                    b_u8(b, (uint8_t)(rnd(r) % 4 ? rnd(r) % 3 : rnd(r)));
            }
        }
    }
    static const uint32_t types[] = {0, 1, 8, 30, 0, 1, 8, 30, 2, 12, 99};
    for (uint64_t i = 0; i < n_t; i++) {
        char name[4] = {(char)('x' + rnd(r) % 3), (char)('0' + i), 0, 0};
        tinfo t = {name, (uint32_t)(rnd(r) % 8 ? 1 + rnd(r) % 3 : rnd(r) % 6), {0}, 0, 0};
        for (int d = 0; d < 4; d++)
            if (rnd(r) % 16 == 0) {
                t.ne[d] = rnd(r);
            } else {
                t.ne[d] = 32 * (rnd(r) % 3);
                if (rnd(r) % 4 == 0)
                    t.ne[d] += rnd(r) % 5;
            }
        t.type = types[rnd(r) % (sizeof types / sizeof *types)];
        t.offset = rnd(r) % 8 ? 32 * (rnd(r) % 6) : rnd(r) % 300;
        b_tinfo(b, &t);
    }
    if (rnd(r) % 8)
        b_pad(b, 32);
    b_zeros(b, (size_t)(rnd(r) % 600));
    if (b->len && rnd(r) % 4 == 0) {
        size_t pos = (size_t)(rnd(r) % b->len);
        b->p[pos] = (uint8_t)rnd(r);
    }
}

static void test_random_garbage(void **state)
{
    (void)state;
    rng r = {4};
    long ok = 0, bad = 0, ok_tensors = 0;
    uint8_t noise[700];
    for (int it = 0; it < 20000; it++) {
        buf b = {0};
        random_file(&r, &b);
        long before = ok;
        check_parse_or_reject(b.p, b.len, &ok, &bad);
        if (ok > before && b.p[8])        /* n_tensors (low byte) nonzero and it parsed */
            ok_tensors++;
        free(b.p);
    }
    for (int it = 0; it < 5000; it++) {      /* and plain noise, sometimes with a header */
        size_t n = (size_t)(rnd(&r) % sizeof noise);
        for (size_t i = 0; i < n; i++)
            noise[i] = (uint8_t)rnd(&r);
        if (n >= 8 && rnd(&r) % 2)
            memcpy(noise, "GGUF\3\0\0\0", 8);
        check_parse_or_reject(noise, n, &ok, &bad);
    }
    print_message("    random files: %ld parsed (%ld with tensors), %ld rejected\n", ok, ok_tensors, bad);
    assert_true(ok_tensors > 0 && bad > 0);
}

static void test_hostile_header(void **state)
{
    (void)state;
    buf b = {0};
    b_header(&b, 2, 0, 0);
    expect_error(&b, "version 2 is not supported");
    b.len = 0;
    b_header(&b, 1, 0, 0);
    expect_error(&b, "version 1");
    b.len = 0;
    b_header(&b, 0x03000000u, 0, 0);
    expect_error(&b, "big-endian");
    b.len = 0;
    b_put(&b, "GGML", 4);
    b_zeros(&b, 40);
    expect_error(&b, "not a GGUF file");
    b.len = 0;
    expect_error(&b, "not a GGUF file");          /* 0 bytes */
    b_header(&b, 3, 1ull << 60, 0);
    b_zeros(&b, 100);
    expect_error(&b, "tensor count 1152921504606846976 cannot fit");
    b.len = 0;
    b_header(&b, 3, 0, UINT64_MAX);
    b_zeros(&b, 100);
    expect_error(&b, "metadata count 18446744073709551615 cannot fit");
    b.len = 0;
    b_header(&b, 3, 3, 3);         /* each count fits alone, not both together */
    b_zeros(&b, 3 * 13 + 2 * 32);
    expect_error(&b, "tensor count 3 cannot fit");
    free(b.p);
}

static void test_hostile_metadata(void **state)
{
    (void)state;
    buf b = {0};

    b_header(&b, 3, 0, 1);                           /* huge key length */
    b_u64(&b, 1ull << 63);
    b_zeros(&b, 64);
    expect_error(&b, "key: length 9223372036854775808 at offset 24 runs past end of file");
    b.len = 0;
    b_header(&b, 3, 0, 1);                           /* huge string value length */
    b_str(&b, "general.name");
    b_u32(&b, GGUF_TYPE_STRING);
    b_u64(&b, UINT64_MAX - 3);
    b_zeros(&b, 64);
    expect_error(&b, "metadata entry #0 ('general.name'): string value: length 18446744073709551612");
    b.len = 0;
    b_header(&b, 3, 0, 1);                           /* count * 4 overflows to 4 */
    b_str(&b, "a");
    b_u32(&b, GGUF_TYPE_ARRAY);
    b_u32(&b, GGUF_TYPE_UINT32);
    b_u64(&b, (1ull << 62) + 1);
    b_zeros(&b, 64);
    expect_error(&b, "4611686018427387905 value(s) of type u32 (4 bytes each)");
    b.len = 0;
    b_header(&b, 3, 0, 1);                           /* more strings than bytes */
    b_str(&b, "a");
    b_u32(&b, GGUF_TYPE_ARRAY);
    b_u32(&b, GGUF_TYPE_STRING);
    b_u64(&b, 1ull << 61);
    b_zeros(&b, 64);
    expect_error(&b, "array of 2305843009213693952 strings");
    b.len = 0;
    b_header(&b, 3, 0, 1);                           /* a string element past the end */
    b_str(&b, "a");
    b_u32(&b, GGUF_TYPE_ARRAY);
    b_u32(&b, GGUF_TYPE_STRING);
    b_u64(&b, 2);
    b_str(&b, "ok");
    b_u64(&b, 1000);
    b_zeros(&b, 8);
    expect_error(&b, "string array element: length 1000");
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_str(&b, "a");
    b_u32(&b, GGUF_TYPE_ARRAY);
    b_u32(&b, GGUF_TYPE_ARRAY);
    b_u64(&b, 1);
    b_zeros(&b, 32);
    expect_error(&b, "arrays of arrays");
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_str(&b, "a");
    b_u32(&b, 13);
    b_zeros(&b, 32);
    expect_error(&b, "invalid value type 13");
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_str(&b, "a");
    b_u32(&b, GGUF_TYPE_ARRAY);
    b_u32(&b, 77);
    b_u64(&b, 1);
    b_zeros(&b, 32);
    expect_error(&b, "invalid array element type 77");
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_str(&b, "flag");
    b_u32(&b, GGUF_TYPE_BOOL);
    b_u8(&b, 2);
    b_pad(&b, 32);
    expect_error(&b, "bool value 2");
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_str(&b, "");
    b_u32(&b, GGUF_TYPE_UINT8);
    b_u8(&b, 2);
    b_pad(&b, 32);
    expect_error(&b, "empty key");
    b.len = 0;
    b_header(&b, 3, 0, 3);
    b_kv_u32(&b, "x.dup", 1);
    b_kv_u32(&b, "x.other", 1);
    b_kv_u32(&b, "x.dup", 2);
    b_pad(&b, 32);
    expect_error(&b, "duplicate key 'x.dup' (metadata entries #0 and #2)");
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_kv_u32(&b, "general.alignment", 48);
    b_pad(&b, 64);
    expect_error(&b, "general.alignment = 48 is not a power of two");
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_kv_u32(&b, "general.alignment", 0);
    b_pad(&b, 64);
    expect_error(&b, "general.alignment = 0 is not a power of two");
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_str(&b, "general.alignment");
    b_u32(&b, GGUF_TYPE_STRING);
    b_str(&b, "32");
    b_pad(&b, 64);
    expect_error(&b, "general.alignment has type string");
    b.len = 0;
    b_header(&b, 3, 0, 1);                            /* no padding before the data section */
    b_kv_u32(&b, "general.file_type", 0);
    expect_error(&b, "data section would start at offset 64");
    free(b.p);
}

static void test_hostile_tensors(void **state)
{
    (void)state;
    buf b = {0};
#define T1(...) ((tinfo[]){__VA_ARGS__})
    build_tensors(&b, T1({"blk.0.attn_q.weight", 1, {16}, GGML_TYPE_F32, 1024}), 1, 64);
    expect_error(&b, "tensor 'blk.0.attn_q.weight' data [offset 1024, 64 bytes] runs past end of file");
    b.len = 0;
    build_tensors(&b, T1({"w", 1, {16}, GGML_TYPE_F32, UINT64_MAX - 31}), 1, 64);
    expect_error(&b, "runs past end of file");        /* offset + size wraps around */
    b.len = 0;
    build_tensors(&b, T1({"w", 1, {8}, GGML_TYPE_F32, 16}), 1, 64);
    expect_error(&b, "tensor 'w' offset 16 is not a multiple of the alignment 32");
    b.len = 0;
    build_tensors(&b, T1({"w", 1, {32}, 2, 0}), 1, 64);
    expect_error(&b, "tensor #0 ('w'): has ggml type 2 (Q4_0)");
    b.len = 0;
    build_tensors(&b, T1({"w", 1, {32}, 12, 0}), 1, 64);
    expect_error(&b, "ggml type 12 (Q4_K)");
    b.len = 0;
    build_tensors(&b, T1({"w", 1, {32}, 1000, 0}), 1, 64);
    expect_error(&b, "ggml type 1000 (unknown)");
    b.len = 0;
    build_tensors(&b, T1({"w", 0, {0}, GGML_TYPE_F32, 0}), 1, 64);
    expect_error(&b, "tensor #0 ('w'): has 0 dimensions (1..4 allowed)");
    b.len = 0;
    build_tensors(&b, T1({"w", 5, {1, 1, 1, 1}, GGML_TYPE_F32, 0}), 1, 64);
    expect_error(&b, "tensor #0 ('w'): has 5 dimensions (1..4 allowed)");
    b.len = 0;
    build_tensors(&b, T1({"w", 2, {4, 0}, GGML_TYPE_F32, 0}), 1, 64);
    expect_error(&b, "dimension 1 is 0");
    b.len = 0;
    build_tensors(&b, T1({"w", 3, {1ull << 32, 1ull << 32, 4}, GGML_TYPE_F32, 0}), 1, 64);
    expect_error(&b, "is too large");
    b.len = 0;
    build_tensors(&b, T1({"w", 2, {1ull << 31, 1ull << 31}, GGML_TYPE_F16, 0}), 1, 64);
    expect_error(&b, "runs past end of file");        /* 2^63 bytes fit 64 bits, not the file */
    b.len = 0;
    build_tensors(&b, T1({"w", 1, {16}, GGML_TYPE_Q8_0, 0}), 1, 64);
    expect_error(&b, "Q8_0 needs ne[0] to be a multiple of 32, got 16");
    b.len = 0;
    build_tensors(&b, T1({"a", 1, {16}, GGML_TYPE_F32, 0}, {"b", 1, {16}, GGML_TYPE_F32, 32}), 2, 128);
    expect_error(&b, "tensors 'a' [offset 0, 64 bytes] and 'b' [offset 32, 64 bytes] overlap");
    b.len = 0;     /* overlap found whatever the order in the file */
    build_tensors(&b, T1({"c", 1, {8}, GGML_TYPE_F32, 64}, {"a", 1, {64}, GGML_TYPE_F32, 0},
                         {"b", 1, {8}, GGML_TYPE_F32, 320}), 3, 512);
    expect_error(&b, "tensors 'a' [offset 0, 256 bytes] and 'c' [offset 64, 32 bytes] overlap");
    b.len = 0;
    build_tensors(&b, T1({"same", 1, {8}, GGML_TYPE_F32, 0}, {"same", 1, {8}, GGML_TYPE_F32, 32}), 2, 64);
    expect_error(&b, "duplicate tensor name 'same'");
    b.len = 0;
    build_tensors(&b, T1({"", 1, {8}, GGML_TYPE_F32, 0}), 1, 64);
    expect_error(&b, "empty name");
    b.len = 0;
    build_tensors(&b, T1({"bad\001name", 1, {8}, 3, 0}), 1, 64);
    expect_error(&b, "tensor #0 ('bad?name')");             /* unprintable bytes masked */
#undef T1

    /* Valid: gaps and any order, and a custom alignment. */
    gguf_file f;
    char err[512];
    uint8_t *copy;
    b.len = 0;
    build_tensors(&b, (tinfo[]){{"late", 1, {8}, GGML_TYPE_F32, 256}, {"early", 1, {8}, GGML_TYPE_BF16, 0}}, 2, 288);
    assert_int_equal(parse_copy(b.p, b.len, &f, &copy, err, sizeof err), 0);
    assert_ptr_equal(gguf_find_tensor(&f, "early"), &f.tensors[1]);
    gguf_close(&f);
    free(copy);
    b.len = 0;
    b_header(&b, 3, 1, 1);
    b_kv_u32(&b, "general.alignment", 256);
    b_tinfo(&b, &(tinfo){"w", 1, {8}, GGML_TYPE_F32, 256});
    b_pad(&b, 256);
    size_t data_offset = b.len;
    b_zeros(&b, 256 + 32);
    assert_int_equal(parse_copy(b.p, b.len, &f, &copy, err, sizeof err), 0);
    assert_int_equal(f.alignment, 256);
    assert_int_equal(f.data_offset, data_offset);
    assert_ptr_equal(f.tensors[0].data, copy + data_offset + 256);
    gguf_close(&f);
    free(copy);

    /* Tensor data must be aligned in memory for its element type. */
    b.len = 0;
    build_tensors(&b, (tinfo[]){{"w", 1, {8}, GGML_TYPE_F32, 0}}, 1, 32);
    uint8_t *shifted = malloc(b.len + 1);
    assert_non_null(shifted);
    memcpy(shifted + 1, b.p, b.len);
    assert_int_equal(gguf_parse(&f, shifted + 1, b.len, err, sizeof err), -1);
    assert_non_null(strstr(err, "not 4-byte aligned in memory"));
    free(shifted);
    free(b.p);
}

static void test_open_errors(void **state)
{
    char path[300], err[512];
    gguf_file f;
    scratch_path(state, path, sizeof path, "empty.gguf");
    write_bytes(path, "", 0);
    assert_int_equal(gguf_open(&f, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "is empty (0 bytes)"));
    scratch_path(state, path, sizeof path, "missing.gguf");
    assert_int_equal(gguf_open(&f, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
    assert_non_null(strstr(err, strerror(ENOENT)));
    scratch_path(state, path, sizeof path, "");
    assert_int_equal(gguf_open(&f, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    assert_null(f.kv);
    gguf_close(&f);
    assert_int_equal(gguf_open(&f, FIXTURE_Q8, err, 0), 0);     /* errlen 0 is fine */
    gguf_close(&f);
}

/* Regression (issue 6): a file cut inside its fixed header (version, counts) was reported
 * as "(null) #0: version at offset 4 ..." -- a NULL %s argument, undefined behaviour. */
static void test_truncated_file_header_message(void **state)
{
    (void)state;
    buf b = {0};
    b_header(&b, 3, 0, 0);
    for (size_t cut = 4; cut < b.len; cut++) {
        buf t = {b.p, cut, cut};
        expect_error(&t, "at offset");
        gguf_file f;
        uint8_t *copy;
        char err[512] = "";
        assert_int_equal(parse_copy(b.p, cut, &f, &copy, err, sizeof err), -1);
        if (strstr(err, "(null)"))
            fail_msg("cut at %zu: %s", cut, err);
        free(copy);
    }
    free(b.p);
}

/* Regression (issue 6): opening a FIFO as a model waited for a writer forever before
 * finding it is not a regular file (LMZ_MODEL=/path/to/fifo hung lmz).  The alarm turns a
 * hang back into a failure. */
static void test_open_fifo_does_not_block(void **state)
{
    char path[300], err[512];
    gguf_file f;
    scratch_path(state, path, sizeof path, "fifo.gguf");
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(20);
    assert_int_equal(gguf_open(&f, path, err, sizeof err), -1);
    alarm(0);
    assert_non_null(strstr(err, "not a regular file"));
    unlink(path);
}

/* ------------------------------------------------------------------ scale */

/* n keys and n tensors, in the order perm gives; with dup_last the last key repeats the first. */
static void build_many(buf *b, const uint32_t *perm, uint32_t n, int dup_last)
{
    char name[32];
    b_header(b, 3, n, n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = dup_last && i == n - 1 ? perm[0] : perm[i];
        snprintf(name, sizeof name, "key.%u", k);
        b_kv_u32(b, name, k * 3);
    }
    for (uint32_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "t.%u", perm[i]);
        b_tinfo(b, &(tinfo){name, 1, {8}, GGML_TYPE_F32, (uint64_t)perm[i] * 32});
    }
    b_pad(b, 32);
    b_zeros(b, (size_t)n * 32);
}

static void test_many_entries(void **state)
{
    (void)state;
    enum { N = 40000 };
    buf b = {0};
    rng r = {5};
    char name[32], err[512];
    gguf_file f;
    uint32_t *perm = malloc(N * sizeof *perm);
    assert_non_null(perm);
    for (uint32_t i = 0; i < N; i++)
        perm[i] = i;
    for (uint32_t i = N - 1; i > 0; i--) {          /* keys in random order in the file */
        uint32_t j = (uint32_t)(rnd(&r) % (i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    build_many(&b, perm, N, 0);
    double t0 = now_s();
    if (gguf_parse(&f, b.p, b.len, err, sizeof err) != 0)
        fail_msg("%s", err);
    double t1 = now_s();
    for (uint32_t i = 0; i < N; i++) {
        uint32_t v;
        snprintf(name, sizeof name, "key.%u", i);
        assert_int_equal(gguf_get_u32(&f, name, &v), 0);
        assert_int_equal(v, i * 3);
        snprintf(name, sizeof name, "t.%u", i);
        const gguf_tensor *t = gguf_find_tensor(&f, name);
        assert_non_null(t);
        assert_int_equal(t->offset, (uint64_t)i * 32);
    }
    double t2 = now_s();
    print_message("    %d keys + %d tensors (%zu bytes): parse %.1f ms, %d lookups %.1f ms\n",
                  N, N, b.len, (t1 - t0) * 1e3, 2 * N, (t2 - t1) * 1e3);
    assert_true(t1 - t0 < 2.0);        /* n log n: ~10 ms in release; quadratic would be minutes */
    gguf_close(&f);

    b.len = 0;
    build_many(&b, perm, N, 1);
    assert_int_equal(gguf_parse(&f, b.p, b.len, err, sizeof err), -1);
    char want[96];
    snprintf(want, sizeof want, "duplicate key 'key.%u' (metadata entries #0 and #%d)", perm[0], N - 1);
    assert_non_null(strstr(err, want));
    free(perm);
    free(b.p);
}

/* Opening a 100 MB model maps it and reads only the metadata: the tensor pages are never
 * touched (counted in page faults; the file is sparse, so none is in the page cache). */
static void test_open_does_not_touch_tensors(void **state)
{
    enum { N_TENSORS = 25, N_ELEMS = 1 << 20 };    /* 25 x 4 MiB F32 = 100 MiB */
    char path[300], err[512];
    buf b = {0};
    b_header(&b, 3, N_TENSORS, 1);
    b_kv_u32(&b, "general.file_type", 0);
    for (int i = 0; i < N_TENSORS; i++) {
        char name[32];
        snprintf(name, sizeof name, "blk.%d.weight", i);
        b_tinfo(&b, &(tinfo){name, 2, {1024, 1024}, GGML_TYPE_F32, (uint64_t)i * N_ELEMS * 4});
    }
    b_pad(&b, 32);
    off_t total = (off_t)b.len + (off_t)N_TENSORS * N_ELEMS * 4;
    scratch_path(state, path, sizeof path, "big.gguf");
    write_bytes(path, b.p, b.len);
    assert_int_equal(truncate(path, total), 0);
    free(b.p);

    struct rusage r0, r1, r2;
    gguf_file f;
    getrusage(RUSAGE_SELF, &r0);
    double t0 = now_s();
    if (gguf_open(&f, path, err, sizeof err) != 0)
        fail_msg("%s", err);
    double t1 = now_s();
    getrusage(RUSAGE_SELF, &r1);
    long open_faults = (r1.ru_minflt - r0.ru_minflt) + (r1.ru_majflt - r0.ru_majflt);
    uint64_t sum = 0;                               /* now touch every page: the control */
    for (uint64_t i = 0; i < f.n_tensors; i++)
        for (uint64_t k = 0; k < f.tensors[i].size; k += 4096)
            sum += ((const uint8_t *)f.tensors[i].data)[k];
    getrusage(RUSAGE_SELF, &r2);
    long touch_faults = (r2.ru_minflt - r1.ru_minflt) + (r2.ru_majflt - r1.ru_majflt);
    print_message("    100 MiB model: open %.2f ms, %ld page faults; touching the tensors: %ld faults\n",
                  (t1 - t0) * 1e3, open_faults, touch_faults);
    assert_int_equal(sum, 0);
    assert_int_equal(f.size, (size_t)total);
    assert_true(open_faults < 64);
    assert_true(touch_faults > 10 * (open_faults + 1));   /* the count does see tensor reads */
    gguf_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_all_values),
        cmocka_unit_test(test_f16_rounding),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_writer_roundtrip),
        cmocka_unit_test(test_writer_alignment),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_fixture_q8_0),
        cmocka_unit_test(test_fixture_f16_llama),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_random_corruption),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_hostile_header),
        cmocka_unit_test(test_hostile_metadata),
        cmocka_unit_test(test_hostile_tensors),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_truncated_file_header_message),
        cmocka_unit_test(test_open_fifo_does_not_block),
        cmocka_unit_test(test_many_entries),
        cmocka_unit_test(test_open_does_not_touch_tensors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
