/*
 * test_container.c -- the .lmz container (src/format, doc/format.md): round trips, the
 * spec's example byte for byte, the sizes the compact layout promises, and that damage
 * of every kind is reported as the spec says (every bit flip, every truncation,
 * versions, flags, garbage, hostile varints and sizes, spliced and reordered chunks).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "format/bytes.h"
#include "format/container.h"
#include "format/fallback.h"

/* ------------------------------------------------------------ helpers */

typedef struct sink {
    uint8_t *data;
    size_t size, cap;
    int fail_after; /* fail the write that would pass this many bytes; <0 = never */
} sink;

static int sink_write(void *user, const void *buf, size_t n)
{
    sink *s = user;
    if (s->fail_after >= 0 && s->size + n > (size_t)s->fail_after) return -1;
    if (s->size + n > s->cap) {
        size_t cap = (s->size + n) * 2 + 64;
        uint8_t *d = realloc(s->data, cap);
        assert_non_null(d);
        s->data = d;
        s->cap = cap;
    }
    memcpy(s->data + s->size, buf, n);
    s->size += n;
    return 0;
}

static sink sink_new(void)
{
    sink s = {NULL, 0, 0, -1};
    return s;
}

/* The header of the doc/format.md section 9 example: 39 bytes. */
static void example_header(lmzf_header *h)
{
    lmzf_header_init(h, "tiny");
    h->level = 5;
    h->chunk_size = 1u << 20;
    h->context = 2048;
    h->keep = 1024;
    for (int i = 0; i < LMZF_ID_SIZE; i++) {
        h->model_id[i] = (uint8_t)i;
        h->tokenizer_id[i] = (uint8_t)(0x10 + i);
    }
}

/* Some text that zstd compresses well, and bytes it cannot. */
static void fill_text(uint8_t *buf, size_t n)
{
    static const char words[] = "the quick brown fox jumps over the lazy dog while ";
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)words[(i * 7 + i / 50) % 50];
}

static void fill_noise(uint8_t *buf, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        buf[i] = (uint8_t)(seed >> 24);
    }
}

/* lmzf_fallback_encode's method (it fails only out of memory). */
static lmzf_method fallback(const void *raw, uint32_t n, int level, void *dst, size_t cap,
                            uint32_t *payload_size)
{
    lmzf_method method;
    assert_int_equal(lmzf_fallback_encode(raw, n, level, dst, cap, &method, payload_size),
                     LMZ_OK);
    return method;
}

/* Header (name "tiny", chunk size 256: 38 bytes) + RAW chunk (noise) + ZSTD chunk
 * (text) + End (content check stored).  The content goes to content[] (240 bytes). */
static sink small_stream(uint8_t *content, size_t *content_len)
{
    lmzf_header h;
    example_header(&h);
    h.chunk_size = 256;
    uint8_t *noise = content, *text = content + 40, z[256];
    fill_noise(noise, 40, 7);
    fill_text(text, 200);
    *content_len = 240;
    uint32_t zsize;
    assert_int_equal(fallback(noise, 40, 19, z, sizeof z, &zsize), LMZF_METHOD_RAW);
    assert_int_equal(zsize, 40);
    assert_int_equal(fallback(text, 200, 19, z, sizeof z, &zsize), LMZF_METHOD_ZSTD);
    assert_true(zsize < 100);

    sink s = sink_new();
    lmzf_writer w;
    lmz_error err;
    assert_int_equal(lmzf_writer_begin(&w, &h, sink_write, &s, &err), LMZ_OK);
    assert_int_equal(lmzf_writer_chunk(&w, LMZF_METHOD_RAW, noise, 40, NULL, 40, 0, &err),
                     LMZ_OK);
    assert_int_equal(lmzf_writer_chunk(&w, LMZF_METHOD_ZSTD, text, 200, z, zsize, 0, &err),
                     LMZ_OK);
    assert_int_equal(lmzf_writer_end(&w, &err), LMZ_OK);
    assert_int_equal(w.bytes_out, s.size);
    /* RAW record 1+1+4, ZSTD record 1+2+1+4+4, End 1+2+1+4+4 */
    assert_int_equal(s.size, 38 + (6 + 40) + (12 + zsize) + 12);
    return s;
}

/* The tests' LM chunks use an identity "coder" (payload = content, n_tokens = raw_size):
 * the container treats LM payloads as opaque bytes, and this lets a full decode of
 * them run here without a model. */
static void write_identity_lm(lmzf_writer *w, const void *raw, uint32_t n)
{
    lmz_error err;
    assert_int_equal(lmzf_writer_chunk(w, LMZF_METHOD_LM, raw, n, raw, n, n, &err), LMZ_OK);
}

/* Header without a name but with an adapter (chunk size 256: 42 bytes) + one LM
 * chunk (30 bytes) + End (content check implied: the chunk's raw check). */
static sink one_chunk_stream(void)
{
    lmzf_header h;
    example_header(&h);
    lmzf_header_init(&h, NULL);
    h.chunk_size = 256;
    h.context = 64;
    h.keep = 32;
    h.flags |= LMZF_FLAG_ADAPTER;
    memset(h.model_id, 0xA5, LMZF_ID_SIZE);
    memset(h.tokenizer_id, 0x3C, LMZF_ID_SIZE);
    memset(h.adapter_id, 0x77, LMZF_ID_SIZE);
    sink s = sink_new();
    lmzf_writer w;
    lmz_error err;
    assert_int_equal(lmzf_writer_begin(&w, &h, sink_write, &s, &err), LMZ_OK);
    write_identity_lm(&w, "one chunk, checked end to end.", 30);
    assert_int_equal(lmzf_writer_end(&w, &err), LMZ_OK);
    /* header 4+3+2+1+1+24+4, LM record 1+1+1+1+4+4, End 1+1+1+4 */
    assert_int_equal(s.size, 39 + (12 + 30) + 7);
    return s;
}

/* The section 9 example: the empty content, 46 bytes. */
static sink empty_stream(void)
{
    lmzf_header h;
    example_header(&h);
    sink s = sink_new();
    lmzf_writer w;
    lmz_error err;
    assert_int_equal(lmzf_writer_begin(&w, &h, sink_write, &s, &err), LMZ_OK);
    assert_int_equal(lmzf_writer_end(&w, &err), LMZ_OK);
    return s;
}

/* Decode every stream of buf as a decoder would (ZSTD, RAW and identity-LM chunks): all
 * checks, the content check included.  The content goes to *out (malloc'd) on success. */
static lmz_status decode_all(const uint8_t *buf, size_t n, uint8_t **out, size_t *out_len,
                             lmz_error *err)
{
    lmzf_memsrc src = {buf, n, 0};
    lmzf_parser *p = malloc(sizeof *p);
    assert_non_null(p);
    lmzf_parser_init(p, lmzf_mem_read, &src);
    uint8_t *content = NULL;
    size_t len = 0;
    int found = 0;
    lmz_status st = lmzf_parser_next_stream(p, &found, err);
    while (st == LMZ_OK && found) {
        for (;;) {
            lmzf_record rec;
            if ((st = lmzf_parser_record(p, &rec, err)) != LMZ_OK || rec.is_end) break;
            uint8_t *payload = malloc(rec.chunk.payload_size + 1);
            assert_non_null(payload);
            st = lmzf_parser_payload(p, &rec, payload, err);
            if (st == LMZ_OK) {
                uint8_t *grown = realloc(content, len + rec.chunk.raw_size);
                assert_non_null(grown);
                content = grown;
                if (rec.chunk.method != LMZF_METHOD_LM) {
                    st = lmzf_fallback_decode(&rec, payload, content + len, err);
                } else {
                    st = lmzf_check_raw(&rec, payload, rec.chunk.payload_size, err);
                    if (st == LMZ_OK) memcpy(content + len, payload, rec.chunk.raw_size);
                }
            }
            free(payload);
            if (st != LMZ_OK) break;
            lmzf_parser_content(p, content + len, rec.chunk.raw_size);
            len += rec.chunk.raw_size;
        }
        if (st == LMZ_OK) st = lmzf_parser_check_content(p, err);
        if (st == LMZ_OK) st = lmzf_parser_next_stream(p, &found, err);
    }
    free(p);
    if (st != LMZ_OK) {
        free(content);
        return st;
    }
    *out = content;
    *out_len = len;
    return LMZ_OK;
}

static lmz_status list_buf(const uint8_t *buf, size_t n, lmz_stream_info *info,
                           lmz_error *err)
{
    lmzf_memsrc src = {buf, n, 0};
    return lmz_stream_list(lmzf_mem_read, &src, info, err);
}

/* Bytes from hex digits; spaces are ignored.  Returns the count. */
static size_t from_hex(uint8_t *out, const char *hex)
{
    size_t n = 0;
    unsigned byte;
    for (const char *p = hex; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        assert_int_equal(sscanf(p, "%2x", &byte), 1);
        out[n++] = (uint8_t)byte;
        p += 2;
    }
    return n;
}

/* Append XXH32 of b[0, n) at b + n, as the header and End checks are; returns n + 4. */
static size_t seal(uint8_t *b, size_t n)
{
    uint32_t h = XXH32(b, n, 0);
    for (int i = 0; i < 4; i++) b[n + i] = (uint8_t)(h >> (8 * i));
    return n + 4;
}

/* A chunk record from its header fields (hex, before record_check) and payload, with a
 * right record_check; returns its size. */
static size_t sealed_record(uint8_t *b, const char *fields_hex, const void *payload,
                            size_t payload_size)
{
    size_t n = from_hex(b, fields_hex);
    memcpy(b + n + 4, payload, payload_size);
    XXH32_state_t st;
    XXH32_reset(&st, 0);
    XXH32_update(&st, b, n);
    XXH32_update(&st, payload, payload_size);
    uint32_t h = XXH32_digest(&st);
    for (int i = 0; i < 4; i++) b[n + i] = (uint8_t)(h >> (8 * i));
    return n + 4 + payload_size;
}

/* An End record of 0 or 1 chunks from its fields (hex): end_check covers the implied
 * content check that is not stored.  Returns its size. */
static size_t sealed_end(uint8_t *b, const char *fields_hex, uint32_t content_check)
{
    uint8_t logical[32];
    size_t n = from_hex(logical, fields_hex);
    for (int i = 0; i < 4; i++) logical[n + i] = (uint8_t)(content_check >> (8 * i));
    uint32_t check = XXH32(logical, n + 4, 0);
    memcpy(b, logical, n);
    for (int i = 0; i < 4; i++) b[n + i] = (uint8_t)(check >> (8 * i));
    return n + 4;
}

/* A header (hex, without its check) sealed, followed by an empty stream's End record. */
static size_t sealed_header_and_end(uint8_t *b, const char *header_hex)
{
    size_t n = seal(b, from_hex(b, header_hex));
    return n + sealed_end(b + n, "00 00 00", XXH32("", 0, 0));
}

/* The example header's bytes without its check: version 1, flags NAME, level 5, chunk
 * size 2^20, context 2048, keep 1024, ids, "tiny". */
#define EXAMPLE_FIELDS_HEX \
    "894c4d5a 01 02 05 808040 8010 8008 0001020304050607 1011121314151617 04 74696e79"

/* ------------------------------------------------------------ tests */

static const char EXAMPLE_HEX[] =
    "894c4d5a" "01" "02" "05" "808040" "8010" "8008" "0001020304050607"
    "1011121314151617" "04" "74696e79" "3a4f22a2" "00" "00" "00" "604f18a1";

/* The hex dump of doc/format.md section 9 ("0000: 89 4c ..." lines), so the spec and
 * the code cannot drift apart.  Returns the byte count. */
static size_t example_from_spec(uint8_t *out, size_t cap)
{
    FILE *f = fopen("doc/format.md", "r");
    if (!f) fail_msg("doc/format.md not found: run the tests from the repository root");
    char line[256];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned off;
        int used;
        if (sscanf(line, "%4x: %n", &off, &used) != 1 || used != 6 || off != n) continue;
        const char *p = line + used;
        unsigned byte;
        /* at most 16 bytes, separated by one space; the comment follows three */
        for (int i = 0; i < 16 && sscanf(p, "%2x", &byte) == 1; i++) {
            assert_true(n < cap);
            out[n++] = (uint8_t)byte;
            p += 2;
            if (p[0] != ' ' || p[1] == ' ') break;
            p++;
        }
    }
    fclose(f);
    return n;
}

static void test_example_bytes(void **state)
{
    (void)state;
    sink s = empty_stream();
    lmz_error err;
    char hex[2 * 46 + 1];
    assert_int_equal(s.size, 46);
    for (size_t i = 0; i < s.size; i++) snprintf(hex + 2 * i, 3, "%02x", s.data[i]);
    assert_string_equal(hex, EXAMPLE_HEX);
    uint8_t spec[256];
    assert_int_equal(example_from_spec(spec, sizeof spec), 46);
    assert_memory_equal(spec, s.data, 46);
    /* the helpers that build hostile streams agree with the writer */
    uint8_t built[64];
    assert_int_equal(sealed_header_and_end(built, EXAMPLE_FIELDS_HEX), 46);
    assert_memory_equal(built, s.data, 46);
    assert_int_equal(XXH32("", 0, 0), 0x02cc5d05);

    uint8_t *content = (uint8_t *)"x";
    size_t len = 99;
    assert_int_equal(decode_all(s.data, s.size, &content, &len, &err), LMZ_OK);
    assert_int_equal(len, 0);
    free(content);
    lmz_stream_info info;
    assert_int_equal(list_buf(s.data, s.size, &info, &err), LMZ_OK);
    assert_int_equal(info.format_version, 1);
    assert_int_equal(info.level, 5);
    assert_int_equal(info.chunk_size, 1u << 20);
    assert_int_equal(info.context, 2048);
    assert_string_equal(info.model_name, "tiny");
    /* the 8 stored id bytes, then zeros */
    const uint8_t model[16] = {0, 1, 2, 3, 4, 5, 6, 7};
    const uint8_t tok[16] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17};
    const uint8_t none[16] = {0};
    assert_memory_equal(info.model_hash, model, 16);
    assert_memory_equal(info.tokenizer_hash, tok, 16);
    assert_memory_equal(info.adapter_hash, none, 16);
    assert_int_equal(info.original_size, 0);
    assert_int_equal(info.compressed_size, 46);
    assert_int_equal(info.n_chunks, 0);
    free(s.data);
}

/* The sizes the layout exists for: short texts compressed one by one. */
static void test_overhead(void **state)
{
    (void)state;
    lmzf_header h;
    lmz_error err;
    lmzf_writer w;
    /* the empty content without a name: 34-byte header + 7-byte End */
    example_header(&h);
    lmzf_header_init(&h, NULL);
    h.chunk_size = 1u << 20;
    h.context = 2048;
    h.keep = 1024;
    assert_int_equal(lmzf_header_size(&h), 34);
    sink s = sink_new();
    assert_int_equal(lmzf_writer_begin(&w, &h, sink_write, &s, &err), LMZ_OK);
    assert_int_equal(lmzf_writer_end(&w, &err), LMZ_OK);
    assert_int_equal(s.size, 41);
    free(s.data);

    /* a ~1.9 KB response coded by the LM into ~400 bytes, one chunk, name "tiny":
     * 39 header + 15 record (1+2+2+2+4+4) + 8 End (1+2+1+4) */
    static const char *names[] = {"tiny", "Qwen3-0.6B"};
    static const size_t overhead[] = {62, 68};
    uint8_t text[1900], payload[400];
    fill_text(text, sizeof text);
    fill_noise(payload, sizeof payload, 3);
    for (int i = 0; i < 2; i++) {
        example_header(&h);
        lmzf_header_init(&h, names[i]);
        h.chunk_size = 1u << 20;
        h.context = 2048;
        h.keep = 1024;
        s = sink_new();
        assert_int_equal(lmzf_writer_begin(&w, &h, sink_write, &s, &err), LMZ_OK);
        assert_int_equal(lmzf_writer_chunk(&w, LMZF_METHOD_LM, text, sizeof text, payload,
                                           sizeof payload, 450, &err), LMZ_OK);
        assert_int_equal(lmzf_writer_end(&w, &err), LMZ_OK);
        print_message("one chunk, model name '%s': %zu bytes of container overhead\n",
                      names[i], s.size - sizeof payload);
        assert_int_equal(s.size - sizeof payload, overhead[i]);
        lmz_stream_info info;
        assert_int_equal(list_buf(s.data, s.size, &info, &err), LMZ_OK);
        assert_int_equal(info.n_tokens, 450);
        assert_int_equal(info.original_size, sizeof text);
        free(s.data);
    }
    lmzf_chunk c = {LMZF_METHOD_RAW, 100, 100, 0, 0, 0, 0};
    assert_int_equal(lmzf_chunk_record_size(&c), 6);
    c.method = LMZF_METHOD_ZSTD;
    assert_int_equal(lmzf_chunk_record_size(&c), 11);
    lmzf_end e = {UINT64_MAX, UINT64_MAX, 0};
    assert_int_equal(lmzf_end_size(&e), LMZF_END_MAX_SIZE);
}

static void test_varints(void **state)
{
    (void)state;
    const uint64_t values[] = {0, 1, 127, 128, 300, 16383, 16384, 1u << 20, (1u << 30),
                               0xFFFFFFFFu, 1ull << 35, UINT64_MAX};
    const size_t sizes[] = {1, 1, 1, 2, 2, 2, 3, 3, 5, 5, 6, 10};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        uint8_t b[10];
        size_t n = lmzf_put_varint(b, values[i]);
        assert_int_equal(n, sizes[i]);
        assert_int_equal(lmzf_varint_size(values[i]), n);
        uint64_t v = 0;
        unsigned bits = values[i] > 0xFFFFFFFFu ? 64 : 32;
        for (size_t k = 0; k < n; k++)
            assert_int_equal(lmzf_varint_byte(&v, k, b[k], bits),
                             k + 1 < n ? LMZF_VARINT_MORE : LMZF_VARINT_DONE);
        assert_true(v == values[i]);
    }
    /* what the decoder refuses: the hostile and the non-canonical */
    struct {
        const char *hex;
        unsigned bits;
        lmzf_varint_step last;
    } bad[] = {
        {"8080808080", 32, LMZF_VARINT_TOO_LONG},       /* 80 80 80 80 80 01: 6 bytes */
        {"ffffffff1f", 32, LMZF_VARINT_OVERFLOW},       /* 2^33 - 1 */
        {"8080808010", 32, LMZF_VARINT_OVERFLOW},       /* 2^32 */
        {"8000", 32, LMZF_VARINT_OVERLONG},             /* 0 in two bytes */
        {"ff00", 32, LMZF_VARINT_OVERLONG},             /* 127 in two bytes */
        {"8080808000", 32, LMZF_VARINT_OVERLONG},
        {"80808080808080808080", 64, LMZF_VARINT_TOO_LONG},
        {"ffffffffffffffffff02", 64, LMZF_VARINT_OVERFLOW}, /* 2^65 - 1 */
        {"80808080808080808000", 64, LMZF_VARINT_OVERLONG},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t b[16];
        size_t n = from_hex(b, bad[i].hex);
        uint64_t v = 0;
        for (size_t k = 0; k + 1 < n; k++)
            assert_int_equal(lmzf_varint_byte(&v, k, b[k], bad[i].bits), LMZF_VARINT_MORE);
        assert_int_equal(lmzf_varint_byte(&v, n - 1, b[n - 1], bad[i].bits), bad[i].last);
    }
    /* the largest values of each width decode */
    uint8_t b[16];
    size_t n = from_hex(b, "ffffffff0f");
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++) lmzf_varint_byte(&v, k, b[k], 32);
    assert_true(v == 0xFFFFFFFFu);
}

static void test_header_round_trip(void **state)
{
    (void)state;
    lmzf_header h;
    lmzf_header_init(&h, "Qwen3-0.6B \xe2\x96\x81 test");
    h.flags |= LMZF_FLAG_ADAPTER;
    h.level = 9;
    h.chunk_size = LMZF_CHUNK_SIZE_MAX;
    h.context = LMZF_CONTEXT_MAX;
    h.keep = LMZF_CONTEXT_MAX - 1;
    for (int i = 0; i < LMZF_ID_SIZE; i++) {
        h.model_id[i] = (uint8_t)(0xA0 + i);
        h.tokenizer_id[i] = (uint8_t)(0xB0 ^ i);
        h.adapter_id[i] = (uint8_t)(0xC0 + 3 * i);
    }
    uint8_t buf[LMZF_HEADER_MAX_SIZE + LMZF_END_MAX_SIZE];
    int n = lmzf_encode_header(&h, buf, sizeof buf);
    assert_int_equal(n, (int)lmzf_header_size(&h));
    /* magic, version, flags, level, varints 5+3+3, three ids, name, check */
    assert_int_equal(n, 4 + 3 + 11 + 24 + 1 + (int)strlen(h.model_name) + 4);
    assert_int_equal(buf[5], LMZF_FLAG_ADAPTER | LMZF_FLAG_NAME);
    assert_int_equal(lmzf_encode_header(&h, buf, (size_t)n - 1), -1); /* cap too small */
    lmzf_end e = {0, 0, XXH32("", 0, 0)};
    int end = lmzf_encode_end(&e, buf + n, LMZF_END_MAX_SIZE);
    assert_int_equal(end, 7);

    lmzf_memsrc src = {buf, (size_t)(n + end), 0};
    lmzf_parser p;
    lmz_error err;
    int found = 0;
    lmzf_parser_init(&p, lmzf_mem_read, &src);
    assert_int_equal(lmzf_parser_next_stream(&p, &found, &err), LMZ_OK);
    assert_int_equal(found, 1);
    assert_int_equal(p.header.format_version, 1);
    assert_int_equal(p.header.flags, LMZF_FLAG_ADAPTER | LMZF_FLAG_NAME);
    assert_int_equal(p.header.level, 9);
    assert_int_equal(p.header.chunk_size, LMZF_CHUNK_SIZE_MAX);
    assert_int_equal(p.header.context, LMZF_CONTEXT_MAX);
    assert_int_equal(p.header.keep, LMZF_CONTEXT_MAX - 1);
    assert_memory_equal(p.header.model_id, h.model_id, LMZF_ID_SIZE);
    assert_memory_equal(p.header.tokenizer_id, h.tokenizer_id, LMZF_ID_SIZE);
    assert_memory_equal(p.header.adapter_id, h.adapter_id, LMZF_ID_SIZE);
    assert_int_equal(p.header.model_name_len, h.model_name_len);
    assert_string_equal(p.header.model_name, h.model_name);
    lmzf_record rec;
    assert_int_equal(lmzf_parser_record(&p, &rec, &err), LMZ_OK);
    assert_true(rec.is_end);
    assert_int_equal(rec.offset, (uint64_t)n);
    assert_int_equal(lmzf_parser_check_content(&p, &err), LMZ_OK);
    assert_int_equal(lmzf_parser_next_stream(&p, &found, &err), LMZ_OK);
    assert_int_equal(found, 0);

    /* no name, no adapter: the flags byte says so and the fields are absent; the NAME
     * flag follows the name whatever the caller left in flags */
    lmzf_header bare = h;
    bare.flags = LMZF_FLAG_NAME;
    bare.model_name_len = 0;
    bare.model_name[0] = '\0';
    memset(bare.adapter_id, 0, LMZF_ID_SIZE);
    n = lmzf_encode_header(&bare, buf, sizeof buf);
    assert_int_equal(n, 4 + 3 + 11 + 16 + 4);
    assert_int_equal(buf[5], 0);
    bare = h;
    bare.flags = LMZF_FLAG_ADAPTER; /* NAME bit cleared by the caller: still written */
    assert_int_equal(lmzf_encode_header(&bare, buf, sizeof buf), (int)lmzf_header_size(&h));
    assert_int_equal(buf[5], LMZF_FLAG_ADAPTER | LMZF_FLAG_NAME);
    bare.flags |= LMZF_FLAG_KV_F16;   /* the caller's, like ADAPTER; no field of its own */
    assert_int_equal(lmzf_encode_header(&bare, buf, sizeof buf), (int)lmzf_header_size(&h));
    assert_int_equal(buf[5], LMZF_FLAG_ADAPTER | LMZF_FLAG_NAME | LMZF_FLAG_KV_F16);

    /* invalid fields never encode */
    lmzf_header bad = h;
    bad.keep = bad.context;
    assert_int_equal(lmzf_encode_header(&bad, buf, sizeof buf), -1);
    bad = h;
    memset(bad.adapter_id, 0, LMZF_ID_SIZE); /* adapter flag without an id */
    assert_int_equal(lmzf_encode_header(&bad, buf, sizeof buf), -1);
    bad = h;
    bad.flags = LMZF_FLAG_NAME; /* adapter id without the flag */
    assert_int_equal(lmzf_encode_header(&bad, buf, sizeof buf), -1);
    bad = h;
    bad.flags |= 0x40; /* a flag this version does not know */
    assert_int_equal(lmzf_encode_header(&bad, buf, sizeof buf), -1);
    bad = h;
    bad.flags = LMZF_FLAG_NAME;             /* an adapter name without the adapter */
    memset(bad.adapter_id, 0, LMZF_ID_SIZE);
    bad.adapter_name_len = 1;
    assert_int_equal(lmzf_encode_header(&bad, buf, sizeof buf), -1);
    bad = h;
    bad.chunk_size = 0;
    assert_int_equal(lmzf_encode_header(&bad, buf, sizeof buf), -1);
    bad = h;
    bad.chunk_size = LMZF_CHUNK_SIZE_MAX + 1;
    assert_int_equal(lmzf_encode_header(&bad, buf, sizeof buf), -1);
    bad = h;
    bad.context = 1;
    bad.keep = 0;
    assert_int_equal(lmzf_encode_header(&bad, buf, sizeof buf), -1);
    bad = h;
    bad.model_name_len = LMZF_NAME_MAX + 1;
    assert_int_equal(lmzf_encode_header(&bad, buf, sizeof buf), -1);
}

/* The adapter's name (flag ADAPTER_NAME) after the model's: written, read back, and
 * truncated like the model's. */
static void test_adapter_name_round_trip(void **state)
{
    (void)state;
    lmzf_header h;
    lmzf_header_init(&h, "lmz-s2");
    h.chunk_size = 1u << 15;
    h.context = 512;
    h.keep = 256;
    uint8_t hash[16];
    for (int i = 0; i < 16; i++) hash[i] = (uint8_t)(0x51 + i);
    lmzf_header_set_adapter(&h, hash, "mixtral-chat");
    assert_int_equal(h.flags, LMZF_FLAG_NAME | LMZF_FLAG_ADAPTER | LMZF_FLAG_ADAPTER_NAME);
    uint8_t buf[LMZF_HEADER_MAX_SIZE + LMZF_END_MAX_SIZE];
    int n = lmzf_encode_header(&h, buf, sizeof buf);
    /* magic, version, flags, level, varints 3+2+2, three ids, 2 names, check */
    assert_int_equal(n, 4 + 3 + 7 + 24 + 1 + 6 + 1 + 12 + 4);
    lmzf_end e = {0, 0, XXH32("", 0, 0)};
    int end = lmzf_encode_end(&e, buf + n, LMZF_END_MAX_SIZE);
    lmzf_memsrc src = {buf, (size_t)(n + end), 0};
    lmzf_parser p;
    lmz_error err;
    int found = 0;
    lmzf_parser_init(&p, lmzf_mem_read, &src);
    assert_int_equal(lmzf_parser_next_stream(&p, &found, &err), LMZ_OK);
    assert_string_equal(p.header.adapter_name, "mixtral-chat");
    assert_string_equal(p.header.model_name, "lmz-s2");
    assert_memory_equal(p.header.adapter_id, hash, LMZF_ID_SIZE);
    /* names of 63 bytes at most, cut at a character boundary */
    char long_name[80];
    memset(long_name, 'a', sizeof long_name);
    memcpy(long_name + 62, "\xc3\xa9", 2);           /* an e-acute across byte 63 */
    long_name[79] = 0;
    lmzf_header_set_adapter(&h, hash, long_name);
    assert_int_equal(h.adapter_name_len, 62);
    /* no name: the id alone, flag clear */
    lmzf_header_init(&h, NULL);
    lmzf_header_set_adapter(&h, hash, "");
    assert_int_equal(h.flags, LMZF_FLAG_ADAPTER);
}

static void test_name_truncation(void **state)
{
    (void)state;
    char name[300];
    /* 'a' then two-byte characters: byte 63 would split one of them */
    name[0] = 'a';
    for (int i = 1; i < 299; i += 2) {
        name[i] = (char)0xC3;
        name[i + 1] = (char)0xA9;
    }
    name[299] = '\0';
    lmzf_header h;
    lmzf_header_init(&h, name);
    assert_int_equal(h.model_name_len, 63);
    assert_memory_equal(h.model_name, name, 63);
    assert_int_equal(h.flags, LMZF_FLAG_NAME);
    lmzf_header_init(&h, name + 1); /* starts with a pair: cut back to 62 */
    assert_int_equal(h.model_name_len, 62);
    assert_int_equal(h.model_name[62], '\0');
    lmzf_header_init(&h, NULL);
    assert_int_equal(h.model_name_len, 0);
    assert_int_equal(h.flags, 0);
    lmzf_header_init(&h, "");
    assert_int_equal(h.model_name_len, 0);
    assert_int_equal(h.flags, 0);

    /* control bytes are shown as '?' */
    lmzf_header_init(&h, "a\tb\x7f" "c");
    char shown[LMZF_NAME_MAX + 1];
    lmzf_printable_name(&h, shown);
    assert_string_equal(shown, "a?b?c");
}

static void test_chunk_round_trip(void **state)
{
    (void)state;
    lmzf_header h;
    example_header(&h);
    h.chunk_size = 4096;
    uint8_t text[4096], noise[1000], lm_payload[300], z[4096];
    fill_text(text, sizeof text);
    fill_noise(noise, sizeof noise, 99);
    fill_noise(lm_payload, sizeof lm_payload, 5);
    uint32_t zsize;
    assert_int_equal(fallback(text, sizeof text, lmzf_zstd_level(0), z, sizeof z, &zsize),
                     LMZF_METHOD_ZSTD);
    assert_true(zsize < 128); /* one varint byte */

    sink s = sink_new();
    lmzf_writer w;
    lmz_error err;
    assert_int_equal(lmzf_writer_begin(&w, &h, sink_write, &s, &err), LMZ_OK);
    assert_int_equal(lmzf_writer_chunk(&w, LMZF_METHOD_LM, text, 4096, lm_payload, 300, 800,
                                       &err), LMZ_OK);
    assert_int_equal(lmzf_writer_chunk(&w, LMZF_METHOD_ZSTD, text, 4096, z, zsize, 0, &err),
                     LMZ_OK);
    assert_int_equal(lmzf_writer_chunk(&w, LMZF_METHOD_RAW, noise, 1000, NULL, 1000, 0, &err),
                     LMZ_OK);
    assert_int_equal(lmzf_writer_end(&w, &err), LMZ_OK);
    assert_int_equal(w.n_chunks, 3);
    assert_int_equal(w.total_size, 4096 + 4096 + 1000);
    /* records: LM 1+2+2+2+4+4, ZSTD 1+2+1+4+4, RAW 1+2+4; End 1+2+1+4+4 */
    const uint64_t records[3] = {15, 12, 7};
    assert_int_equal(s.size, 38 + 15 + 300 + 12 + zsize + 7 + 1000 + 12);

    lmzf_memsrc src = {s.data, s.size, 0};
    lmzf_parser p;
    lmzf_parser_init(&p, lmzf_mem_read, &src);
    assert_int_equal(lmzf_parser_next_stream(&p, NULL, &err), LMZ_OK);
    const uint8_t methods[3] = {LMZF_METHOD_LM, LMZF_METHOD_ZSTD, LMZF_METHOD_RAW};
    const uint32_t raws[3] = {4096, 4096, 1000}, pays[3] = {300, zsize, 1000};
    const uint32_t toks[3] = {800, 0, 0};
    const uint8_t *contents[3] = {text, text, noise}, *payloads[3] = {lm_payload, z, noise};
    uint64_t offset = 38;
    uint8_t payload[4096], raw[4096];
    for (int i = 0; i < 3; i++) {
        lmzf_record rec;
        assert_int_equal(lmzf_parser_record(&p, &rec, &err), LMZ_OK);
        assert_false(rec.is_end);
        assert_int_equal(rec.index, (uint64_t)i);
        assert_int_equal(rec.offset, offset);
        assert_int_equal(rec.stream, 0);
        assert_int_equal(rec.chunk.method, methods[i]);
        assert_int_equal(rec.chunk.raw_size, raws[i]);
        assert_int_equal(rec.chunk.payload_size, pays[i]);
        assert_int_equal(rec.chunk.n_tokens, toks[i]);
        assert_int_equal(lmzf_chunk_record_size(&rec.chunk), records[i]);
        /* RAW stores no raw check: the parser computes it from the payload */
        assert_int_equal(rec.chunk.raw_check,
                         methods[i] == LMZF_METHOD_RAW ? 0 : XXH32(contents[i], raws[i], 0));
        assert_int_equal(lmzf_parser_payload(&p, &rec, payload, &err), LMZ_OK);
        assert_int_equal(rec.chunk.raw_check, XXH32(contents[i], raws[i], 0));
        assert_memory_equal(payload, payloads[i], pays[i]);
        if (rec.chunk.method == LMZF_METHOD_LM) {
            /* LM decoding is the pipeline's; here the content is known */
            assert_int_equal(lmzf_fallback_decode(&rec, payload, raw, &err), LMZ_ERR_ARG);
            memcpy(raw, contents[i], raws[i]);
        } else {
            assert_int_equal(lmzf_fallback_decode(&rec, payload, raw, &err), LMZ_OK);
        }
        assert_int_equal(lmzf_check_raw(&rec, raw, raws[i], &err), LMZ_OK);
        assert_memory_equal(raw, contents[i], raws[i]);
        lmzf_parser_content(&p, raw, raws[i]);
        offset += records[i] + pays[i];
    }
    lmzf_record end;
    assert_int_equal(lmzf_parser_record(&p, &end, &err), LMZ_OK);
    assert_true(end.is_end);
    assert_int_equal(end.offset, offset);
    assert_int_equal(end.end.n_chunks, 3);
    assert_int_equal(end.end.total_size, 9192);
    assert_int_equal(lmzf_parser_check_content(&p, &err), LMZ_OK);

    /* a decoded chunk that differs from the original is caught by raw_check */
    lmzf_record third = {0};
    third.chunk.raw_size = 1000;
    third.chunk.raw_check = XXH32(noise, 1000, 0);
    third.index = 2;
    third.offset = 1234;
    noise[500] ^= 1;
    assert_int_equal(lmzf_check_raw(&third, noise, 1000, &err), LMZ_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "chunk 2 (record at byte 1234)"));
    assert_non_null(strstr(err.message, "raw check mismatch"));
    assert_int_equal(lmzf_check_raw(&third, noise, 999, &err), LMZ_ERR_CORRUPT);

    lmz_stream_info info;
    assert_int_equal(list_buf(s.data, s.size, &info, &err), LMZ_OK);
    assert_int_equal(info.original_size, 9192);
    assert_int_equal(info.compressed_size, s.size);
    assert_int_equal(info.n_chunks, 3);
    assert_int_equal(info.n_chunks_lm, 1);
    assert_int_equal(info.n_chunks_zstd, 1);
    assert_int_equal(info.n_chunks_raw, 1);
    assert_int_equal(info.n_tokens, 800);
    free(s.data);
}

/* The status the spec gives a damaged byte of a stream's header: the magic -> not lmz;
 * the version, and the flag bits this version does not know (4..7) -> version; the rest
 * (KV_F16, bit 3, included: it changes no layout, so the header check catches it) ->
 * corrupt. */
static lmz_status damage_class(size_t byte, int bit)
{
    /* 0x89 ^ 0x20 is the compact tag 0xA9 (LM), whose profile byte is then 'L' = 76,
     * which no build has: a version problem. */
    if (byte == 0 && bit == 5) return LMZ_ERR_VERSION;
    if (byte < 4) return LMZ_ERR_NOT_LMZ;
    /* flags: bits 6 and 7 are unknown; bit 5 (MIX_VERSION) moves the fields after keep,
     * which the header check then refuses */
    if (byte == 4 || (byte == 5 && bit >= 6)) return LMZ_ERR_VERSION;
    return LMZ_ERR_CORRUPT;
}

/* Every single-bit flip anywhere in a stream is an error of the class the spec gives
 * that byte, both for a full decode and for the model-free listing. */
static void flip_every_bit(sink s, const uint8_t *content, size_t content_len)
{
    lmz_error err;
    uint8_t *out;
    size_t out_len;
    assert_int_equal(decode_all(s.data, s.size, &out, &out_len, &err), LMZ_OK);
    assert_int_equal(out_len, content_len);
    if (content_len) assert_memory_equal(out, content, content_len);
    free(out);
    lmz_stream_info info;
    assert_int_equal(list_buf(s.data, s.size, &info, &err), LMZ_OK);

    for (size_t byte = 0; byte < s.size; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            lmz_status want = damage_class(byte, bit);
            s.data[byte] ^= (uint8_t)(1u << bit);
            out = NULL;
            lmz_status st = decode_all(s.data, s.size, &out, &out_len, &err);
            if (st != want)
                fail_msg("flip of byte %zu bit %d of %zu: decode gave %d (%s), wanted %d",
                         byte, bit, s.size, st, st ? err.message : "", want);
            st = list_buf(s.data, s.size, &info, &err);
            if (st != want)
                fail_msg("flip of byte %zu bit %d of %zu: listing gave %d (%s), wanted %d",
                         byte, bit, s.size, st, st ? err.message : "", want);
            s.data[byte] ^= (uint8_t)(1u << bit);
        }
    }
    free(s.data);
}

static void test_every_bit_flip(void **state)
{
    (void)state;
    uint8_t content[256];
    size_t content_len;
    sink small = small_stream(content, &content_len);
    flip_every_bit(small, content, content_len);
    flip_every_bit(one_chunk_stream(), (const uint8_t *)"one chunk, checked end to end.", 30);
    flip_every_bit(empty_stream(), NULL, 0);
}

/* Every proper prefix is reported as a truncation (the empty one as not lmz). */
static void truncate_everywhere(sink s)
{
    lmz_error err;
    uint8_t *out;
    size_t out_len;
    lmz_stream_info info;
    assert_int_equal(decode_all(s.data, 0, &out, &out_len, &err), LMZ_ERR_NOT_LMZ);
    assert_int_equal(list_buf(s.data, 0, &info, &err), LMZ_ERR_NOT_LMZ);
    for (size_t n = 1; n < s.size; n++) {
        lmz_status st = decode_all(s.data, n, &out, &out_len, &err);
        if (st != LMZ_ERR_CORRUPT || !strstr(err.message, "truncated"))
            fail_msg("prefix of %zu bytes: decode gave %d (%s)", n, st, err.message);
        char at[48];
        snprintf(at, sizeof at, "ends at byte %zu", n);
        assert_non_null(strstr(err.message, at));
        st = list_buf(s.data, n, &info, &err);
        if (st != LMZ_ERR_CORRUPT || !strstr(err.message, "truncated"))
            fail_msg("prefix of %zu bytes: listing gave %d (%s)", n, st, err.message);
    }
    free(s.data);
}

static void test_every_truncation(void **state)
{
    (void)state;
    uint8_t content[256];
    size_t content_len;
    truncate_everywhere(small_stream(content, &content_len));
    truncate_everywhere(one_chunk_stream());
    truncate_everywhere(empty_stream());
}

/* Decode a stream that must fail with `want` and a message containing `why`. */
static void expect_failure(const uint8_t *b, size_t n, lmz_status want, const char *why)
{
    lmz_error err;
    uint8_t *out = NULL;
    size_t out_len;
    lmz_status st = decode_all(b, n, &out, &out_len, &err);
    if (st != want || !strstr(err.message, why))
        fail_msg("wanted status %d with '%s', got %d: %s", want, why, st,
                 st ? err.message : "success");
    lmz_stream_info info;
    assert_int_equal(list_buf(b, n, &info, &err), want);
}

/* ---------------------------------------------------------------- compact streams */

/* The mixed coding version compact_stream gives an external model's stream. */
static uint8_t external_mix_version = 1;

/* A compact stream of `content` (doc/format.md 11); LM is the identity here, as in
 * decode_all, with profile 5's model or, for profile 0, an external one named "tiny". */
static sink compact_stream(lmzf_method method, unsigned profile, const void *content,
                           uint32_t n)
{
    lmzf_header h;
    example_header(&h);     /* named "tiny" */
    h.flags |= LMZF_FLAG_KV_F16 | LMZF_FLAG_MIX;
    h.mix_version = external_mix_version;
    if (profile) {
        const lmzf_profile *pr = lmzf_profile_get(profile);
        h.mix_version = pr->mix_version;
        memcpy(h.model_id, pr->model_id, LMZF_ID_SIZE);
        memcpy(h.tokenizer_id, pr->tokenizer_id, LMZF_ID_SIZE);
        h.context = pr->context;
        h.keep = pr->keep;
        assert_int_equal(lmzf_profile_find(&h), profile);
    }
    uint8_t z[4096];
    const void *payload = method == LMZF_METHOD_LM ? content : NULL;
    uint32_t payload_size = method == LMZF_METHOD_LM ? n : 0;
    if (method == LMZF_METHOD_ZSTD) {
        lmzf_method got;
        assert_int_equal(lmzf_fallback_encode(content, n, 19, z, sizeof z, &got, &payload_size),
                         LMZ_OK);
        assert_int_equal(got, LMZF_METHOD_ZSTD);
        payload = z;
    }
    lmz_error err = {0};
    size_t size = 0;
    uint8_t *b = lmzf_compact_encode(&h, profile, method, content, n, payload, payload_size,
                                     &size, &err);
    if (!b) fail_msg("%s", err.message);
    sink s = sink_new();
    assert_int_equal(sink_write(&s, b, size), 0);
    free(b);
    return s;
}

/* Round trip, the size expected, every bit flip an error (and, where the check needs no
 * decoding, in the listing too), every truncation reported as one. */
static void compact_case(lmzf_method method, unsigned profile, const char *content,
                         size_t want_size)
{
    uint32_t n = (uint32_t)strlen(content);
    sink s = compact_stream(method, profile, content, n);
    assert_int_equal(s.size, want_size);
    assert_true(lmzf_is_compact_tag(s.data[0]));
    lmz_error err;
    uint8_t *out = NULL;
    size_t out_len;
    lmz_stream_info info;
    assert_int_equal(decode_all(s.data, s.size, &out, &out_len, &err), LMZ_OK);
    assert_int_equal(out_len, n);
    if (n) assert_memory_equal(out, content, n);
    free(out);
    assert_int_equal(list_buf(s.data, s.size, &info, &err), LMZ_OK);
    assert_int_equal(info.original_size, n);
    assert_int_equal(info.compressed_size, s.size);
    int listing_checks = method == LMZF_METHOD_RAW || n == 0;
    for (size_t byte = 0; byte < s.size; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            s.data[byte] ^= (uint8_t)(1u << bit);
            out = NULL;
            lmz_status st = decode_all(s.data, s.size, &out, &out_len, &err);
            if (st == LMZ_OK)
                fail_msg("flip of byte %zu bit %d of a compact stream decoded", byte, bit);
            if (listing_checks && byte > 0 && list_buf(s.data, s.size, &info, &err) == LMZ_OK)
                fail_msg("flip of byte %zu bit %d of a compact stream listed", byte, bit);
            s.data[byte] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(decode_all(s.data, 0, &out, &out_len, &err), LMZ_ERR_NOT_LMZ);
    for (size_t k = 1; k < s.size; k++) {
        lmz_status st = decode_all(s.data, k, &out, &out_len, &err);
        if (st != LMZ_ERR_CORRUPT || !strstr(err.message, "truncated"))
            fail_msg("prefix of %zu bytes: decode gave %d (%s)", k, st, err.message);
    }
    free(s.data);
}

static void test_compact_streams(void **state)
{
    (void)state;
    compact_case(LMZF_METHOD_RAW, 0, "", 5);                 /* tag, check */
    compact_case(LMZF_METHOD_RAW, 0, "x", 7);                /* tag, size, byte, check */
    char aaa[2001];
    memset(aaa, 'a', 2000);
    aaa[2000] = '\0';
    sink z = compact_stream(LMZF_METHOD_ZSTD, 0, aaa, 2000);
    size_t zsize = z.size;
    free(z.data);
    assert_true(zsize < 40);
    compact_case(LMZF_METHOD_ZSTD, 0, aaa, zsize);
    /* 96 bytes "coded" by profile 5: tag, profile, model check, 1-byte sizes, check */
    const char *text = "A compact stream takes eleven bytes plus its payload for a short text "
                       "coded by a built-in level.";
    size_t n = strlen(text);
    assert_int_equal(n, 96);
    compact_case(LMZF_METHOD_LM, 5, text, 3 + 2 + n + 4);
    /* external model: tag, profile 0, flags, context 2048 and keep 1024 (2 bytes each),
     * two ids, the name "tiny" with its length, sizes, payload, check */
    compact_case(LMZF_METHOD_LM, 0, text, 3 + 2 + 2 + 16 + 5 + 2 + n + 4);
    /* Mixed coding versions 2 and 3: profiles 14 and 23 (-5's) and an external model's
     * ext_flags bit 1 or 2 carry them, in the same bytes. */
    for (int v = 2; v <= 3; v++) {
        unsigned five = (unsigned)(v - 1) * 9 + 5;
        uint8_t bit = v == 2 ? LMZF_COMPACT_EXT_MIX_V2 : LMZF_COMPACT_EXT_MIX_V3;
        external_mix_version = (uint8_t)v;
        compact_case(LMZF_METHOD_LM, five, text, 3 + 2 + n + 4);
        compact_case(LMZF_METHOD_LM, 0, text, 3 + 2 + 2 + 16 + 5 + 2 + n + 4);
        for (unsigned profile = 0; profile <= five; profile += five) {
            sink c = compact_stream(LMZF_METHOD_LM, profile, text, (uint32_t)n);
            if (profile == 0) assert_int_equal(c.data[2], LMZF_COMPACT_EXT_KV_F16 | bit);
            lmzf_memsrc src = {c.data, c.size, 0};
            lmzf_parser p;
            lmzf_parser_init(&p, lmzf_mem_read, &src);
            lmz_error err;
            int found = 0;
            assert_int_equal(lmzf_parser_next_stream(&p, &found, &err), LMZ_OK);
            assert_int_equal(p.header.mix_version, v);
            if (profile == 0) {
                /* both version bits, or one without MIX (tag 0xA8 instead of 0xAA), is
                 * damage */
                c.data[2] |= LMZF_COMPACT_EXT_MIX_V2 | LMZF_COMPACT_EXT_MIX_V3;
                expect_failure(c.data, c.size, LMZ_ERR_CORRUPT, "mix versions 2 and 3 both");
                c.data[2] = LMZF_COMPACT_EXT_KV_F16 | bit;
                c.data[0] = 0xA8;
                expect_failure(c.data, c.size, LMZ_ERR_CORRUPT,
                               v == 2 ? "mix version 2 without MIX" : "mix version 3 without MIX");
            }
            free(c.data);
        }
    }
    external_mix_version = 1;
    /* a profile of the other version than the header's is refused by the encoder */
    lmzf_header h;
    example_header(&h);
    const lmzf_profile *pr = lmzf_profile_get(5);
    memcpy(h.model_id, pr->model_id, LMZF_ID_SIZE);
    memcpy(h.tokenizer_id, pr->tokenizer_id, LMZF_ID_SIZE);
    h.context = pr->context;
    h.keep = pr->keep;
    h.flags |= LMZF_FLAG_KV_F16 | LMZF_FLAG_MIX;
    h.mix_version = 2;
    assert_int_equal(lmzf_profile_find(&h), 14);
    lmz_error err;
    size_t size;
    assert_null(lmzf_compact_encode(&h, 5, LMZF_METHOD_LM, text, (uint32_t)n, text,
                                    (uint32_t)n, &size, &err));
}

/* The empty content's compact stream, byte for byte: the tag, then XXH32 of nothing
 * seeded with XXH32 of the tag. */
static void test_compact_empty_bytes(void **state)
{
    (void)state;
    sink s = compact_stream(LMZF_METHOD_RAW, 0, "", 0);
    uint8_t tag = 0xA0;
    uint32_t check = XXH32("", 0, XXH32(&tag, 1, 0));
    uint8_t want[5] = {0xA0, (uint8_t)check, (uint8_t)(check >> 8), (uint8_t)(check >> 16),
                       (uint8_t)(check >> 24)};
    assert_int_equal(s.size, 5);
    assert_memory_equal(s.data, want, 5);
    /* an unknown profile and a reserved tag are version problems; a model check that
     * is not the profile's model is a model mismatch */
    uint8_t lm[] = {0xA8, 0xEE, 0x00, 0x01, 0x01, 'x', 0, 0, 0, 0};
    expect_failure(lm, sizeof lm, LMZ_ERR_VERSION, "profile 238");
    lm[1] = 5;
    lm[2] = 0x91;
    expect_failure(lm, sizeof lm, LMZ_ERR_MODEL_MISMATCH, "another model");
    uint8_t reserved[] = {0xA3, 0, 0, 0, 0};
    expect_failure(reserved, sizeof reserved, LMZ_ERR_VERSION, "not supported");
    free(s.data);
}

static void test_versions_and_flags(void **state)
{
    (void)state;
    uint8_t b[128];
    uint8_t *out;
    size_t out_len;
    lmz_error err;
    size_t n = sealed_header_and_end(b, EXAMPLE_FIELDS_HEX);
    assert_int_equal(decode_all(b, n, &out, &out_len, &err), LMZ_OK);
    free(out);

    /* a future version, sealed or not: the version is judged before the check */
    b[4] = 2;
    expect_failure(b, n, LMZ_ERR_VERSION, "format version 2");
    expect_failure(b, n, LMZ_ERR_VERSION, "reads version 1");
    n = sealed_header_and_end(b, "894c4d5a 02 02 05 808040 8010 8008 0001020304050607 "
                                 "1011121314151617 04 74696e79");
    expect_failure(b, n, LMZ_ERR_VERSION, "format version 2");
    b[4] = 0; /* 0 is no version either */
    expect_failure(b, n, LMZ_ERR_VERSION, "format version 0");
    b[4] = 0xFF;
    expect_failure(b, n, LMZ_ERR_VERSION, "format version 255");

    /* unknown feature flags: a newer writer's feature, maybe with more fields */
    for (int bit = 6; bit < 8; bit++) {
        n = sealed_header_and_end(b, EXAMPLE_FIELDS_HEX);
        b[5] |= (uint8_t)(1u << bit);
        expect_failure(b, n, LMZ_ERR_VERSION, "feature flags");
    }
    /* MIX_VERSION (bit 5): a byte after keep, the mixed coding's version (6.5): 2 and 3
     * are read; 4 is a newer encoder's; 1 is written without the flag, and the flag
     * needs MIX.  MIX alone is version 1. */
    static const struct {
        const char *flags_and_version;
        lmz_status want;
        int version;
        const char *why;
    } mixv[] = {
        { "12", LMZ_OK, 1, NULL },
        { "32 02", LMZ_OK, 2, NULL },
        { "32 03", LMZ_OK, 3, NULL },
        { "32 04", LMZ_ERR_VERSION, 0, "mixed coding is version 4" },
        { "32 01", LMZ_ERR_CORRUPT, 0, "(1 is written without it)" },
        { "32 00", LMZ_ERR_CORRUPT, 0, "(1 is written without it)" },
        { "22 02", LMZ_ERR_CORRUPT, 0, "without MIX" },
    };
    for (size_t i = 0; i < sizeof mixv / sizeof mixv[0]; i++) {
        char hex[200], fl[3] = { mixv[i].flags_and_version[0], mixv[i].flags_and_version[1] };
        snprintf(hex, sizeof hex, "894c4d5a 01 %s 05 808040 8010 8008 %s 0001020304050607 "
                 "1011121314151617 04 74696e79", fl, mixv[i].flags_and_version + 2);
        n = sealed_header_and_end(b, hex);
        if (mixv[i].want != LMZ_OK) {
            expect_failure(b, n, mixv[i].want, mixv[i].why);
            continue;
        }
        lmzf_memsrc src = {b, n, 0};
        lmzf_parser p;
        lmzf_parser_init(&p, lmzf_mem_read, &src);
        int found = 0;
        assert_int_equal(lmzf_parser_next_stream(&p, &found, &err), LMZ_OK);
        assert_int_equal(p.header.mix_version, mixv[i].version);
        /* and the encoder writes the same bytes */
        uint8_t again[LMZF_HEADER_MAX_SIZE];
        int len = lmzf_encode_header(&p.header, again, sizeof again);
        assert_true(len > 0);
        assert_memory_equal(again, b, (size_t)len);
    }
    /* the adapter flag with an all-zero adapter id, validly sealed */
    n = sealed_header_and_end(b, "894c4d5a 01 03 05 808040 8010 8008 0001020304050607 "
                                 "1011121314151617 0000000000000000 04 74696e79");
    expect_failure(b, n, LMZ_ERR_CORRUPT, "adapter id is zero");
    /* the same header with an adapter id is fine */
    n = sealed_header_and_end(b, "894c4d5a 01 03 05 808040 8010 8008 0001020304050607 "
                                 "1011121314151617 0100000000000000 04 74696e79");
    assert_int_equal(decode_all(b, n, &out, &out_len, &err), LMZ_OK);
    free(out);
    /* KV_F16 (bit 3) adds no field: the example with it, validly sealed, is read, and the
     * flag is reported as stored */
    n = sealed_header_and_end(b, "894c4d5a 01 0a 05 808040 8010 8008 0001020304050607 "
                                 "1011121314151617 04 74696e79");
    assert_int_equal(decode_all(b, n, &out, &out_len, &err), LMZ_OK);
    free(out);
    {
        lmzf_memsrc src = {b, n, 0};
        lmzf_parser p;
        lmzf_parser_init(&p, lmzf_mem_read, &src);
        int found = 0;
        assert_int_equal(lmzf_parser_next_stream(&p, &found, &err), LMZ_OK);
        assert_int_equal(found, 1);
        assert_int_equal(p.header.flags, LMZF_FLAG_NAME | LMZF_FLAG_KV_F16);
    }
    /* no flags: neither an adapter id nor a name */
    n = sealed_header_and_end(b, "894c4d5a 01 00 05 808040 8010 8008 0001020304050607 "
                                 "1011121314151617");
    assert_int_equal(n, 34 + 7);
    assert_int_equal(decode_all(b, n, &out, &out_len, &err), LMZ_OK);
    free(out);

    /* header fields out of range, validly sealed */
    static const struct {
        const char *hex, *why;
    } cases[] = {
        {"894c4d5a 01 00 05 00 8010 8008", "chunk size 0 outside"},
        {"894c4d5a 01 00 05 8180808004 8010 8008", "chunk size 1073741825 outside"},
        {"894c4d5a 01 00 05 ffffffff0f 8010 8008", "chunk size 4294967295 outside"},
        {"894c4d5a 01 00 05 808040 01 00", "context 1 outside"},
        {"894c4d5a 01 00 05 808040 818040 01", "context 1048577 outside"},
        {"894c4d5a 01 00 05 808040 8010 8010", "keep 2048 outside"},
        {"894c4d5a 01 00 05 808040 8010 00", "keep 0 outside"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hex[200];
        snprintf(hex, sizeof hex, "%s 0001020304050607 1011121314151617", cases[i].hex);
        n = sealed_header_and_end(b, hex);
        expect_failure(b, n, LMZ_ERR_CORRUPT, "invalid header");
        expect_failure(b, n, LMZ_ERR_CORRUPT, cases[i].why);
    }
    /* hostile and non-canonical varints are refused as damage, sealed or not */
    static const struct {
        const char *hex, *why;
    } varints[] = {
        {"894c4d5a 01 00 05 808080808001 8010 8008", "chunk size: varint longer than 5"},
        {"894c4d5a 01 00 05 8000 8010 8008", "chunk size: overlong varint"},
        {"894c4d5a 01 00 05 80808080808080808001 8010 8008", "longer than 5 bytes"},
        {"894c4d5a 01 00 05 8080808010 8010 8008", "chunk size: varint exceeds 32 bits"},
        {"894c4d5a 01 00 05 808040 808000 8008", "context: overlong varint"},
        {"894c4d5a 01 00 05 808040 8010 888000", "keep: overlong varint"},
    };
    for (size_t i = 0; i < sizeof varints / sizeof varints[0]; i++) {
        char hex[200];
        snprintf(hex, sizeof hex, "%s 0001020304050607 1011121314151617", varints[i].hex);
        n = sealed_header_and_end(b, hex);
        expect_failure(b, n, LMZ_ERR_CORRUPT, "header damaged");
        expect_failure(b, n, LMZ_ERR_CORRUPT, varints[i].why);
    }
    /* the NAME flag with a name length of 0 or above 63 */
    n = sealed_header_and_end(b, "894c4d5a 01 02 05 808040 8010 8008 0001020304050607 "
                                 "1011121314151617 00");
    expect_failure(b, n, LMZ_ERR_CORRUPT, "model name length 0 outside 1..63");
    n = sealed_header_and_end(b, "894c4d5a 01 02 05 808040 8010 8008 0001020304050607 "
                                 "1011121314151617 40 74696e79");
    expect_failure(b, n, LMZ_ERR_CORRUPT, "model name length 64 outside 1..63");
}

static void test_not_lmz(void **state)
{
    (void)state;
    lmz_error err;
    uint8_t *out;
    size_t out_len;
    lmz_stream_info info;
    const char *text = "Hello, world.  This is a plain text file, not a compressed one.\n";
    assert_int_equal(decode_all((const uint8_t *)text, strlen(text), &out, &out_len, &err),
                     LMZ_ERR_NOT_LMZ);
    assert_non_null(strstr(err.message, "not an lmz stream"));
    assert_int_equal(list_buf((const uint8_t *)text, strlen(text), &info, &err),
                     LMZ_ERR_NOT_LMZ);
    const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
    assert_int_equal(decode_all(png, sizeof png, &out, &out_len, &err), LMZ_ERR_NOT_LMZ);
    assert_int_equal(decode_all((const uint8_t *)"ab", 2, &out, &out_len, &err),
                     LMZ_ERR_NOT_LMZ);
    /* 7-bit transfer damage: the high bit of the first byte lost */
    const uint8_t seven[] = {0x09, 'L', 'M', 'Z', 1, 0, 5};
    assert_int_equal(decode_all(seven, sizeof seven, &out, &out_len, &err), LMZ_ERR_NOT_LMZ);
    /* a prefix of the magic is a truncated stream, not foreign data */
    assert_int_equal(decode_all((const uint8_t *)LMZF_MAGIC, 3, &out, &out_len, &err),
                     LMZ_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "truncated"));
    uint8_t noise[4096];
    fill_noise(noise, sizeof noise, 3);
    noise[0] = 0; /* not 0x89 */
    assert_int_equal(decode_all(noise, sizeof noise, &out, &out_len, &err), LMZ_ERR_NOT_LMZ);
}

/* A record whose fields are invalid is refused before its payload is read (nothing of
 * the payload is present here: reading it would say "truncated"), after `consumed`
 * bytes of the input. */
static void expect_refused(const uint8_t *stream, size_t n, size_t consumed, size_t at,
                           const char *why)
{
    lmzf_memsrc src = {stream, n, 0};
    lmzf_parser p;
    lmz_error err;
    lmzf_parser_init(&p, lmzf_mem_read, &src);
    assert_int_equal(lmzf_parser_next_stream(&p, NULL, &err), LMZ_OK);
    lmzf_record rec;
    assert_int_equal(lmzf_parser_record(&p, &rec, &err), LMZ_ERR_CORRUPT);
    if (!strstr(err.message, why) || strstr(err.message, "truncated"))
        fail_msg("wanted '%s', got: %s", why, err.message);
    char where[64];
    snprintf(where, sizeof where, "chunk 0 (record at byte %zu)", at);
    assert_non_null(strstr(err.message, where));
    assert_int_equal(p.reader.offset, consumed);
    /* the parser stays failed */
    assert_int_equal(lmzf_parser_record(&p, &rec, &err), LMZ_ERR_ARG);
}

static void test_hostile_sizes(void **state)
{
    (void)state;
    lmzf_header h;
    example_header(&h);
    h.chunk_size = LMZF_CHUNK_SIZE_MAX;
    uint8_t b[128];
    const int hs = 41; /* chunk size 2^30 takes a 5-byte varint */
    assert_int_equal(lmzf_encode_header(&h, b, sizeof b), hs);
    uint8_t *rec = b + hs;
    /* record fields after the method byte, and the bytes the parser reads before it
     * refuses them (the whole record header: the limits come before the payload) */
    struct {
        const char *hex;
        const char *why;
    } cases[] = {
        {"03 8080808008", "raw size 2147483648 outside 1..1073741824"},
        {"03 ffffffff0f", "raw size 4294967295 outside"},
        {"02 00 0a 00000000", "raw size 0 outside"},
        {"02 64 ffffffff0f 00000000", "payload size 4294967295 exceeds the limit 164"},
        {"02 e807 cc08 00000000", "payload size 1100 exceeds the limit 1067"},
        {"02 64 00 00000000", "empty ZSTD"},
        {"01 e807 ffffffff0f 0a 00000000", "payload size"},
        {"01 e807 39 0a 00000000", "payload size 57 exceeds the limit 56"},
        {"01 e807 32 ea07 00000000", "token count 1002 outside 1..1001"},
        {"01 e807 32 00 00000000", "token count 0 outside"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = hs + from_hex(rec, cases[i].hex);
        memset(b + n, 0x5A, 4); /* record_check: not looked at before the limits */
        expect_refused(b, n + 4, n + 4, hs, cases[i].why);
    }
    /* what ends the parse inside the record: an unknown method, bad varints */
    struct {
        const char *hex;
        size_t consumed;
        const char *why;
    } early[] = {
        {"05 e807 32 00000000", 1, "unknown method 5"},
        {"07 e807 32 00000000", 1, "unknown method 7"},
        {"ff e807 32 00000000", 1, "unknown method 255"},
        {"03 808080808001", 6, "raw size: varint longer than 5 bytes"},
        {"03 8080808010", 6, "raw size: varint exceeds 32 bits"},
        {"03 8000", 3, "raw size: overlong varint"},
        {"02 64 e400 00000000", 4, "payload size: overlong varint"},
        {"01 e807 32 808080808001", 9, "token count: varint longer than 5 bytes"},
        {"04 e807 32 808080808001", 9, "token count: varint longer than 5 bytes"}, /* LM_CRLF */
    };
    for (size_t i = 0; i < sizeof early / sizeof early[0]; i++) {
        size_t n = hs + from_hex(rec, early[i].hex);
        expect_refused(b, n + 4, hs + early[i].consumed, hs, early[i].why);
    }
    /* raw_size above the stream's own chunk size */
    h.chunk_size = 4096;
    enum { hs2 = 38 };
    assert_int_equal(lmzf_encode_header(&h, b, sizeof b), hs2);
    uint8_t payload[4097] = {0};
    uint8_t big[hs2 + 16 + sizeof payload];
    memcpy(big, b, hs2);
    size_t n = hs2 + sealed_record(big + hs2, "03 8120", payload, 4097);
    expect_refused(big, n, hs2 + 7, hs2, "raw size 4097 outside 1..4096 (the chunk size)");
    /* the same record is accepted with a fitting size: the limit, not the test, refused */
    n = hs2 + sealed_record(big + hs2, "03 8020", payload, 4096);
    lmzf_memsrc src = {big, n - 1, 0};
    lmzf_parser p;
    lmz_error err;
    lmzf_parser_init(&p, lmzf_mem_read, &src);
    assert_int_equal(lmzf_parser_next_stream(&p, NULL, &err), LMZ_OK);
    lmzf_record r;
    assert_int_equal(lmzf_parser_record(&p, &r, &err), LMZ_OK);
    assert_int_equal(lmzf_parser_payload(&p, &r, NULL, &err), LMZ_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "truncated"));
    /* a size damaged within the limits is caught by record_check, naming the chunk */
    big[hs2 + 1] = 0x81; /* 4096 -> 4097 */
    big[hs2 + 2] = 0x1f; /* -> 3969: the payload then ends early */
    src = (lmzf_memsrc){big, n, 0};
    lmzf_parser_init(&p, lmzf_mem_read, &src);
    assert_int_equal(lmzf_parser_next_stream(&p, NULL, &err), LMZ_OK);
    assert_int_equal(lmzf_parser_record(&p, &r, &err), LMZ_OK);
    assert_int_equal(lmzf_parser_payload(&p, &r, NULL, &err), LMZ_ERR_CORRUPT);
    char where[64];
    snprintf(where, sizeof where, "chunk 0 (record at byte %d): record check mismatch", hs2);
    assert_non_null(strstr(err.message, where));

    /* hostile End records: sizes past 64 bits, bad varints, impossible counts */
    example_header(&h);
    int eh = lmzf_encode_header(&h, b, sizeof b);
    struct {
        const char *hex;
        const char *why;
    } ends[] = {
        {"00 8080808080808080808001", "total size: varint longer than 10 bytes"},
        {"00 ffffffffffffffffff02", "total size: varint exceeds 64 bits"},
        {"00 8000 00", "total size: overlong varint"},
        {"00 00 8000", "chunk count: overlong varint"},
    };
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        size_t k = eh + from_hex(b + eh, ends[i].hex);
        memset(b + k, 0, 8);
        expect_failure(b, k + 8, LMZ_ERR_CORRUPT, "End record (at byte 39)");
        expect_failure(b, k + 8, LMZ_ERR_CORRUPT, ends[i].why);
    }
    /* validly sealed but false: the largest total size, a count of chunks not there */
    size_t k = eh + sealed_end(b + eh, "00 ffffffffffffffffff01 00", XXH32("", 0, 0));
    expect_failure(b, k, LMZ_ERR_CORRUPT, "total size 18446744073709551615 differs");
    k = eh + sealed_end(b + eh, "00 00 01", XXH32("", 0, 0));
    expect_failure(b, k, LMZ_ERR_CORRUPT, "it counts 1 chunks, the stream has 0");
    k = eh + from_hex(b + eh, "00 00 ffffffffffffffffff01 055dcc02");
    k = seal(b, k) ; /* wrong on purpose: the check must cover only the End record */
    expect_failure(b, k, LMZ_ERR_CORRUPT, "end check mismatch");

    /* the writer refuses what the parser would */
    example_header(&h);
    h.chunk_size = 100;
    sink s = sink_new();
    lmzf_writer w;
    uint8_t text[200];
    fill_text(text, sizeof text);
    assert_int_equal(lmzf_writer_begin(&w, &h, sink_write, &s, &err), LMZ_OK);
    size_t header_size = s.size;
    assert_int_equal(lmzf_writer_chunk(&w, LMZF_METHOD_RAW, text, 101, NULL, 101, 0, &err),
                     LMZ_ERR_ARG);
    assert_int_equal(lmzf_writer_chunk(&w, LMZF_METHOD_RAW, text, 50, text, 49, 0, &err),
                     LMZ_ERR_ARG);
    assert_int_equal(lmzf_writer_chunk(&w, LMZF_METHOD_ZSTD, text, 50, text, 10, 1, &err),
                     LMZ_ERR_ARG);
    assert_int_equal(lmzf_writer_chunk(&w, LMZF_METHOD_LM, text, 50, text, 10, 0, &err),
                     LMZ_ERR_ARG);
    assert_int_equal(lmzf_writer_chunk(&w, LMZF_METHOD_END, text, 50, text, 10, 0, &err),
                     LMZ_ERR_ARG);
    assert_int_equal(s.size, header_size); /* nothing but the header was written */
    h.keep = 0;
    assert_int_equal(lmzf_writer_begin(&w, &h, sink_write, &s, &err), LMZ_ERR_ARG);
    assert_int_equal(lmzf_writer_end(&w, &err), LMZ_ERR_ARG);
    free(s.data);
}

static void test_concatenated_streams(void **state)
{
    (void)state;
    uint8_t c1[256], c2[256];
    size_t n1, n2;
    sink a = small_stream(c1, &n1), b = small_stream(c2, &n2);
    size_t total = a.size + b.size;
    uint8_t *both = malloc(total + 8);
    assert_non_null(both);
    memcpy(both, a.data, a.size);
    memcpy(both + a.size, b.data, b.size);
    lmz_error err;
    uint8_t *out;
    size_t out_len;
    assert_int_equal(decode_all(both, total, &out, &out_len, &err), LMZ_OK);
    assert_int_equal(out_len, n1 + n2);
    assert_memory_equal(out, c1, n1);
    assert_memory_equal(out + n1, c2, n2);
    free(out);
    lmz_stream_info info;
    assert_int_equal(list_buf(both, total, &info, &err), LMZ_OK);
    assert_int_equal(info.original_size, n1 + n2);
    assert_int_equal(info.compressed_size, total);
    assert_int_equal(info.n_chunks, 4);
    assert_int_equal(info.n_chunks_raw, 2);
    assert_int_equal(info.n_chunks_zstd, 2);

    /* damage in the second stream names it: its first record's raw size 40 -> 44 */
    both[a.size + 38 + 1] ^= 4;
    assert_int_equal(decode_all(both, total, &out, &out_len, &err), LMZ_ERR_CORRUPT);
    char where[96];
    snprintf(where, sizeof where,
             "stream 1, chunk 0 (record at byte %zu): record check mismatch", a.size + 38);
    assert_non_null(strstr(err.message, where));
    both[a.size + 38 + 1] ^= 4;
    both[a.size + 20] ^= 1; /* its header */
    assert_int_equal(decode_all(both, total, &out, &out_len, &err), LMZ_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "stream 1: header check mismatch"));
    both[a.size + 20] ^= 1;

    /* trailing bytes that do not start a stream */
    const char *tails[] = {"\n", "\0", "garbage!", "\x89LMZ", "\x89L"};
    const size_t tail_len[] = {1, 1, 8, 4, 2};
    for (int i = 0; i < 5; i++) {
        memcpy(both + total, tails[i], tail_len[i]);
        lmz_status st = decode_all(both, total + tail_len[i], &out, &out_len, &err);
        assert_int_equal(st, LMZ_ERR_CORRUPT);
        assert_non_null(strstr(err.message, i >= 3 ? "truncated" : "trailing data"));
        assert_int_equal(list_buf(both, total + tail_len[i], &info, &err), LMZ_ERR_CORRUPT);
    }
    free(both);
    free(a.data);
    free(b.data);
}

/* A stream of RAW chunks of 4 bytes each (records of 10 bytes after the 39-byte
 * header), in this order. */
static sink raw_chunks(const char *const *chunks, int n)
{
    lmzf_header h;
    example_header(&h);
    sink s = sink_new();
    lmzf_writer w;
    lmz_error err;
    assert_int_equal(lmzf_writer_begin(&w, &h, sink_write, &s, &err), LMZ_OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(lmzf_writer_chunk(&w, LMZF_METHOD_RAW, chunks[i], 4, NULL, 4, 0,
                                           &err), LMZ_OK);
    assert_int_equal(lmzf_writer_end(&w, &err), LMZ_OK);
    assert_int_equal(s.size, 39 + 10 * (size_t)n + lmzf_end_size(&(lmzf_end){
                                                       4 * (uint64_t)n, (uint64_t)n, 0}));
    return s;
}

/* Per-chunk checks cannot see whole chunks swapped, dropped, duplicated or taken from
 * another stream; the End record's counts and content check do. */
static void test_swapped_chunks(void **state)
{
    (void)state;
    const char *const ab[] = {"AAAA", "BBBB"};
    sink s = raw_chunks(ab, 2);
    uint8_t tmp[10];
    memcpy(tmp, s.data + 39, 10);
    memcpy(s.data + 39, s.data + 49, 10);
    memcpy(s.data + 49, tmp, 10);
    uint8_t *out;
    size_t out_len;
    lmz_error err;
    assert_int_equal(decode_all(s.data, s.size, &out, &out_len, &err), LMZ_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "content check mismatch"));
    lmz_stream_info info;
    assert_int_equal(list_buf(s.data, s.size, &info, &err), LMZ_OK); /* needs decoding */
    free(s.data);

    /* a chunk dropped, or repeated */
    const char *const abc[] = {"AAAA", "BBBB", "CCCC"};
    s = raw_chunks(abc, 3);
    memmove(s.data + 49, s.data + 59, s.size - 59);
    expect_failure(s.data, s.size - 10, LMZ_ERR_CORRUPT, "it counts 3 chunks, the stream has 2");
    free(s.data);
    s = raw_chunks(abc, 3);
    uint8_t *longer = malloc(s.size + 10);
    assert_non_null(longer);
    memcpy(longer, s.data, 59);
    memcpy(longer + 59, s.data + 49, s.size - 49);
    expect_failure(longer, s.size + 10, LMZ_ERR_CORRUPT, "it counts 3 chunks, the stream has 4");
    free(longer);
    free(s.data);

    /* One-chunk streams do not store the content check, but their End record's check
     * covers it (the chunk's raw check): a chunk of the same size from another stream
     * does not pass, even in the listing. */
    const char *const a1[] = {"AAAA"}, *const b1[] = {"BBBB"};
    sink x = raw_chunks(a1, 1), y = raw_chunks(b1, 1);
    assert_int_equal(x.size, 39 + 10 + 7);
    memcpy(x.data + 39, y.data + 39, 10);
    expect_failure(x.data, x.size, LMZ_ERR_CORRUPT, "end check mismatch");
    expect_failure(x.data, x.size, LMZ_ERR_CORRUPT, "does not belong to its chunks");
    /* the genuine stream decodes */
    assert_int_equal(decode_all(y.data, y.size, &out, &out_len, &err), LMZ_OK);
    assert_int_equal(out_len, 4);
    assert_memory_equal(out, "BBBB", 4);
    free(out);
    free(x.data);
    free(y.data);
}

static void test_zstd_frames(void **state)
{
    (void)state;
    uint8_t text[3000], frame[3200], raw[3000];
    fill_text(text, sizeof text);
    size_t fsize = lmzf_zstd_compress(frame, sizeof frame, text, sizeof text, 3);
    assert_true(fsize > 0 && fsize < 3000);
    assert_int_equal(lmzf_zstd_compress(frame, 5, text, sizeof text, 3), 0); /* no room */
    lmzf_record rec = {0};
    rec.index = 4;
    rec.offset = 999;
    rec.chunk.method = LMZF_METHOD_ZSTD;
    rec.chunk.raw_size = 3000;
    rec.chunk.payload_size = (uint32_t)fsize;
    rec.chunk.raw_check = XXH32(text, 3000, 0);
    lmz_error err;
    assert_int_equal(lmzf_fallback_decode(&rec, frame, raw, &err), LMZ_OK);
    assert_memory_equal(raw, text, 3000);

    /* a frame that claims another size than the record */
    rec.chunk.raw_size = 2999;
    assert_int_equal(lmzf_fallback_decode(&rec, frame, raw, &err), LMZ_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "declares 3000 bytes"));
    assert_non_null(strstr(err.message, "chunk 4 (record at byte 999)"));
    rec.chunk.raw_size = 3000;
    /* bytes after the frame */
    frame[fsize] = 0;
    rec.chunk.payload_size = (uint32_t)fsize + 1;
    assert_int_equal(lmzf_fallback_decode(&rec, frame, raw, &err), LMZ_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "frame ends"));
    /* a cut frame */
    rec.chunk.payload_size = (uint32_t)fsize - 1;
    assert_int_equal(lmzf_fallback_decode(&rec, frame, raw, &err), LMZ_ERR_CORRUPT);
    rec.chunk.payload_size = (uint32_t)fsize;
    /* not a frame */
    assert_int_equal(lmzf_fallback_decode(&rec, text, raw, &err), LMZ_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "bad magic"));
    /* a frame without its content size */
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    assert_non_null(cctx);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
    ZSTD_inBuffer in = {text, sizeof text, 0};
    ZSTD_outBuffer outb = {frame, sizeof frame, 0};
    assert_int_equal(ZSTD_compressStream2(cctx, &outb, &in, ZSTD_e_end), 0);
    ZSTD_freeCCtx(cctx);
    rec.chunk.payload_size = (uint32_t)outb.pos;
    assert_int_equal(lmzf_fallback_decode(&rec, frame, raw, &err), LMZ_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "does not declare"));
    /* a damaged frame (whose record_check the parser would already have refused)
     * never decodes to wrong content: zstd or raw_check refuses it.  A few bits (block
     * padding, unused header bits) do not change the content and decode fine. */
    fsize = lmzf_zstd_compress(frame, sizeof frame, text, sizeof text, 3);
    rec.chunk.payload_size = (uint32_t)fsize;
    int refused = 0;
    for (size_t i = 0; i < fsize; i++) {
        for (int bit = 0; bit < 8; bit++) {
            frame[i] ^= (uint8_t)(1u << bit);
            memset(raw, 0, sizeof raw);
            if (lmzf_fallback_decode(&rec, frame, raw, &err) == LMZ_OK)
                assert_memory_equal(raw, text, 3000);
            else
                refused++;
            frame[i] ^= (uint8_t)(1u << bit);
        }
    }
    printf("zstd frame of %zu bytes: %d of %zu bit flips refused, the rest decode "
           "correctly\n", fsize, refused, 8 * fsize);
    assert_true(refused * 10 >= (int)(9 * 8 * fsize));

    /* incompressible bytes fall back to RAW, text to ZSTD */
    uint8_t noise[3000];
    uint32_t psize;
    fill_noise(noise, sizeof noise, 11);
    assert_int_equal(fallback(noise, 3000, 19, frame, sizeof frame, &psize),
                     LMZF_METHOD_RAW);
    assert_int_equal(psize, 3000);
    assert_int_equal(fallback(text, 3000, 19, frame, sizeof frame, &psize),
                     LMZF_METHOD_ZSTD);
    assert_true(psize < 3000);
    assert_int_equal(lmzf_zstd_level(1), 9);
    assert_int_equal(lmzf_zstd_level(0), LMZF_ZSTD_LEVEL_DEFAULT);
}


static void test_model_identity(void **state)
{
    (void)state;
    lmzf_header h;
    example_header(&h);
    /* the library's 16-byte hashes: only their first 8 bytes are the stored ids */
    uint8_t model[16], tok[16], adapter[16];
    memcpy(model, h.model_id, 8);
    memset(model + 8, 0xEE, 8);
    memcpy(tok, h.tokenizer_id, 8);
    memset(tok + 8, 0xDD, 8);
    memset(adapter, 0x5A, 16);
    lmz_error err;
    assert_int_equal(lmzf_check_model(&h, model, tok, NULL, "tiny", &err), LMZ_OK);
    model[3] ^= 1;
    assert_int_equal(lmzf_check_model(&h, model, tok, NULL, "other", &err),
                     LMZ_ERR_MODEL_MISMATCH);
    assert_non_null(strstr(err.message, "model 'tiny' (model id 0001020304050607)"));
    assert_non_null(strstr(err.message, "'other' (model id 0001020204050607)"));
    model[3] ^= 1;
    tok[0] ^= 1;
    assert_int_equal(lmzf_check_model(&h, model, tok, NULL, "x", &err),
                     LMZ_ERR_MODEL_MISMATCH);
    assert_non_null(strstr(err.message, "tokenizer id 1011121314151617"));
    tok[0] ^= 1;
    /* an adapter loaded, none in the stream; and the reverse */
    assert_int_equal(lmzf_check_model(&h, model, tok, adapter, "x", &err),
                     LMZ_ERR_MODEL_MISMATCH);
    assert_non_null(strstr(err.message, "adapter id none"));
    h.flags |= LMZF_FLAG_ADAPTER;
    memcpy(h.adapter_id, adapter, 8);
    assert_int_equal(lmzf_check_model(&h, model, tok, NULL, "x", &err),
                     LMZ_ERR_MODEL_MISMATCH);
    assert_int_equal(lmzf_check_model(&h, model, tok, adapter, "x", &err), LMZ_OK);

    /* no name stored: the stream's model is given by its id */
    lmzf_header_init(&h, NULL);
    memset(h.model_id, 0xAB, 8);
    memcpy(h.tokenizer_id, tok, 8);
    assert_int_equal(lmzf_check_model(&h, model, tok, NULL, "Qwen3-0.6B", &err),
                     LMZ_ERR_MODEL_MISMATCH);
    assert_string_equal(err.message,
                        "stream was compressed with the model of id abababababababab (its "
                        "name is not stored), but the loaded model is 'Qwen3-0.6B' (model "
                        "id 0001020304050607)");
    memcpy(h.model_id, model, 8);
    h.tokenizer_id[7] ^= 0x80;
    assert_int_equal(lmzf_check_model(&h, model, tok, NULL, "Qwen3-0.6B", &err),
                     LMZ_ERR_MODEL_MISMATCH);
    assert_non_null(strstr(err.message, "the model of id 0001020304050607 (its name is not "
                                        "stored; tokenizer id 1011121314151697)"));
}

/* Read functions that return one byte at a time, fail, or misbehave. */
typedef struct dribble {
    const uint8_t *data;
    size_t size, pos;
    size_t fail_at; /* return -1 once pos reaches this */
    int overclaim;  /* return n + 1 */
} dribble;

static long long dribble_read(void *user, void *buf, size_t n)
{
    dribble *d = user;
    if (d->pos >= d->fail_at) return -1;
    if (d->overclaim) return (long long)n + 1;
    if (d->pos == d->size || n == 0) return 0;
    memcpy(buf, d->data + d->pos, 1);
    d->pos++;
    return 1;
}

static void test_reader(void **state)
{
    (void)state;
    uint8_t content[256];
    size_t content_len;
    sink s = small_stream(content, &content_len);
    lmz_error err;
    lmz_stream_info info;
    dribble d = {s.data, s.size, 0, (size_t)-1, 0};
    assert_int_equal(lmz_stream_list(dribble_read, &d, &info, &err), LMZ_OK);
    assert_int_equal(info.original_size, content_len);
    assert_int_equal(info.compressed_size, s.size);
    for (size_t at = 0; at < s.size; at += 37) {
        dribble bad = {s.data, s.size, 0, at, 0};
        assert_int_equal(lmz_stream_list(dribble_read, &bad, &info, &err), LMZ_ERR_IO);
        assert_non_null(strstr(err.message, "read error"));
    }
    dribble over = {s.data, s.size, 0, (size_t)-1, 1};
    assert_int_equal(lmz_stream_list(dribble_read, &over, &info, &err), LMZ_ERR_IO);
    assert_int_equal(lmz_stream_list(NULL, &d, &info, NULL), LMZ_ERR_ARG);

    /* big reads bypass the buffer; exact results either way */
    size_t big = 3 * LMZF_READER_BUF + 5;
    uint8_t *src = malloc(big), *dst = malloc(big);
    assert_non_null(src);
    assert_non_null(dst);
    fill_noise(src, big, 1);
    lmzf_memsrc m = {src, big, 0};
    lmzf_reader r;
    lmzf_reader_init(&r, lmzf_mem_read, &m);
    size_t got;
    assert_int_equal(lmzf_reader_read(&r, dst, 3, NULL, &got), LMZF_GOT_ALL);
    XXH32_state_t hs;
    XXH32_reset(&hs, 0);
    assert_int_equal(lmzf_reader_read(&r, dst + 3, big - 3, &hs, &got), LMZF_GOT_ALL);
    assert_int_equal(got, big - 3);
    assert_memory_equal(dst, src, big);
    assert_int_equal(XXH32_digest(&hs), XXH32(src + 3, big - 3, 0));
    assert_int_equal(r.offset, big);
    assert_int_equal(lmzf_reader_read(&r, dst, 1, NULL, &got), LMZF_GOT_NONE);
    lmzf_reader_init(&r, lmzf_mem_read, &(lmzf_memsrc){src, 10, 0});
    assert_int_equal(lmzf_reader_read(&r, dst, 11, NULL, &got), LMZF_GOT_PART);
    assert_int_equal(got, 10);
    free(src);
    free(dst);

    /* write errors */
    lmzf_header h;
    example_header(&h);
    sink fails = sink_new();
    fails.fail_after = 60; /* the 39-byte header passes, the 46-byte RAW record not */
    lmzf_writer w;
    assert_int_equal(lmzf_writer_begin(&w, &h, sink_write, &fails, &err), LMZ_OK);
    assert_int_equal(lmzf_writer_chunk(&w, LMZF_METHOD_RAW, content, 40, NULL, 40, 0, &err),
                     LMZ_ERR_IO);
    assert_int_equal(lmzf_writer_end(&w, &err), LMZ_ERR_ARG);
    free(fails.data);
    free(s.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_bytes),
        cmocka_unit_test(test_overhead),
        cmocka_unit_test(test_varints),
        cmocka_unit_test(test_header_round_trip),
        cmocka_unit_test(test_name_truncation),
        cmocka_unit_test(test_chunk_round_trip),
        cmocka_unit_test(test_every_bit_flip),
        cmocka_unit_test(test_compact_streams),
        cmocka_unit_test(test_compact_empty_bytes),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_versions_and_flags),
        cmocka_unit_test(test_adapter_name_round_trip),
        cmocka_unit_test(test_not_lmz),
        cmocka_unit_test(test_hostile_sizes),
        cmocka_unit_test(test_concatenated_streams),
        cmocka_unit_test(test_swapped_chunks),
        cmocka_unit_test(test_zstd_frames),
        cmocka_unit_test(test_model_identity),
        cmocka_unit_test(test_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
