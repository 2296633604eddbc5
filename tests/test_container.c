/*
 * test_container.c -- the .lmz container (src/format, doc/format.md): round trips, the
 * spec's example byte for byte, and that damage of every kind is reported as the spec
 * says (every bit flip, every truncation, versions, flags, garbage, hostile sizes).
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

/* The header of the doc/format.md section 9 example. */
static void example_header(lmzf_header *h)
{
    lmzf_header_init(h, "tiny");
    h->level = 5;
    h->chunk_size = 1u << 20;
    h->context = 2048;
    h->keep = 1024;
    for (int i = 0; i < 16; i++) {
        h->model_hash[i] = (uint8_t)i;
        h->tokenizer_hash[i] = (uint8_t)(0x10 + i);
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

/* header + RAW chunk (noise) + ZSTD chunk (text) + End, with small chunks.  The
 * content is returned in content[] (at least 240 bytes). */
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
    assert_int_equal(lmzf_fallback_encode(noise, 40, 19, z, sizeof z, &zsize),
                     LMZF_METHOD_RAW);
    assert_int_equal(zsize, 40);
    assert_int_equal(lmzf_fallback_encode(text, 200, 19, z, sizeof z, &zsize),
                     LMZF_METHOD_ZSTD);
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
    assert_int_equal(s.size, 85 + 25 + 40 + 25 + zsize + 29);
    return s;
}

/* Decode every stream of buf as a decoder would (ZSTD and RAW chunks only): all checks,
 * the content hash included.  The content goes to *out (malloc'd) on success. */
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
                st = lmzf_fallback_decode(&rec, payload, content + len, err);
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

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Recompute the header check of a header of name length n at buf, after a patch. */
static void reseal_header(uint8_t *buf)
{
    size_t body = 77 + buf[76];
    put32(buf + body, XXH32(buf, body, 0));
}

static void reseal_record(uint8_t *rec)
{
    put32(rec + 21, XXH32(rec, 21, 0));
}

/* ------------------------------------------------------------ tests */

static const char EXAMPLE_HEX[] =
    "894c4d5a0d0a1a0a" "0100" "0000" "05" "000000" "00001000" "00080000" "00040000"
    "000102030405060708090a0b0c0d0e0f" "101112131415161718191a1b1c1d1e1f"
    "00000000000000000000000000000000" "04" "74696e79" "9b08a42d"
    "00" "0000000000000000" "0000000000000000" "99e9d85137db46ef" "8e609761";

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
    lmzf_header h;
    example_header(&h);
    sink s = sink_new();
    lmzf_writer w;
    lmz_error err;
    assert_int_equal(lmzf_writer_begin(&w, &h, sink_write, &s, &err), LMZ_OK);
    assert_int_equal(lmzf_writer_end(&w, &err), LMZ_OK);
    char hex[2 * 114 + 1];
    assert_int_equal(s.size, 114);
    for (size_t i = 0; i < s.size; i++) snprintf(hex + 2 * i, 3, "%02x", s.data[i]);
    assert_string_equal(hex, EXAMPLE_HEX);
    uint8_t spec[256];
    assert_int_equal(example_from_spec(spec, sizeof spec), 114);
    assert_memory_equal(spec, s.data, 114);

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
    assert_memory_equal(info.model_hash, h.model_hash, 16);
    assert_memory_equal(info.tokenizer_hash, h.tokenizer_hash, 16);
    assert_int_equal(info.original_size, 0);
    assert_int_equal(info.compressed_size, 114);
    assert_int_equal(info.n_chunks, 0);
    free(s.data);
}

static void test_header_round_trip(void **state)
{
    (void)state;
    lmzf_header h;
    lmzf_header_init(&h, "Qwen3-0.6B \xe2\x96\x81 test");
    h.flags = LMZF_FLAG_ADAPTER;
    h.level = 9;
    h.chunk_size = LMZF_CHUNK_SIZE_MAX;
    h.context = LMZF_CONTEXT_MAX;
    h.keep = LMZF_CONTEXT_MAX - 1;
    for (int i = 0; i < 16; i++) {
        h.model_hash[i] = (uint8_t)(0xA0 + i);
        h.tokenizer_hash[i] = (uint8_t)(0xB0 ^ i);
        h.adapter_hash[i] = (uint8_t)(0xC0 + 3 * i);
    }
    uint8_t buf[LMZF_HEADER_MAX_SIZE + LMZF_END_SIZE];
    int n = lmzf_encode_header(&h, buf, sizeof buf);
    assert_int_equal(n, (int)lmzf_header_size(&h));
    assert_int_equal(n, 81 + (int)strlen(h.model_name));
    assert_int_equal(lmzf_encode_header(&h, buf, (size_t)n - 1), -1); /* cap too small */
    lmzf_end e = {0, 0, XXH64("", 0, 0)};
    assert_int_equal(lmzf_encode_end(&e, buf + n, LMZF_END_SIZE), LMZF_END_SIZE);

    lmzf_memsrc src = {buf, (size_t)n + LMZF_END_SIZE, 0};
    lmzf_parser p;
    lmz_error err;
    int found = 0;
    lmzf_parser_init(&p, lmzf_mem_read, &src);
    assert_int_equal(lmzf_parser_next_stream(&p, &found, &err), LMZ_OK);
    assert_int_equal(found, 1);
    assert_int_equal(p.header.format_version, 1);
    assert_int_equal(p.header.flags, LMZF_FLAG_ADAPTER);
    assert_int_equal(p.header.level, 9);
    assert_int_equal(p.header.chunk_size, LMZF_CHUNK_SIZE_MAX);
    assert_int_equal(p.header.context, LMZF_CONTEXT_MAX);
    assert_int_equal(p.header.keep, LMZF_CONTEXT_MAX - 1);
    assert_memory_equal(p.header.model_hash, h.model_hash, 16);
    assert_memory_equal(p.header.tokenizer_hash, h.tokenizer_hash, 16);
    assert_memory_equal(p.header.adapter_hash, h.adapter_hash, 16);
    assert_int_equal(p.header.model_name_len, h.model_name_len);
    assert_string_equal(p.header.model_name, h.model_name);
    lmzf_record rec;
    assert_int_equal(lmzf_parser_record(&p, &rec, &err), LMZ_OK);
    assert_true(rec.is_end);
    assert_int_equal(rec.offset, (uint64_t)n);
    assert_int_equal(lmzf_parser_check_content(&p, &err), LMZ_OK);
    assert_int_equal(lmzf_parser_next_stream(&p, &found, &err), LMZ_OK);
    assert_int_equal(found, 0);

    /* invalid fields never encode */
    lmzf_header bad = h;
    bad.keep = bad.context;
    assert_int_equal(lmzf_encode_header(&bad, buf, sizeof buf), -1);
    bad = h;
    memset(bad.adapter_hash, 0, 16); /* adapter flag without a hash */
    assert_int_equal(lmzf_encode_header(&bad, buf, sizeof buf), -1);
    bad = h;
    bad.flags = 0; /* adapter hash without the flag */
    assert_int_equal(lmzf_encode_header(&bad, buf, sizeof buf), -1);
    bad = h;
    bad.chunk_size = 0;
    assert_int_equal(lmzf_encode_header(&bad, buf, sizeof buf), -1);
    bad = h;
    bad.context = 1;
    bad.keep = 0;
    assert_int_equal(lmzf_encode_header(&bad, buf, sizeof buf), -1);
}

static void test_name_truncation(void **state)
{
    (void)state;
    char name[300];
    /* 'a' then two-byte characters: byte 127 would split one of them */
    name[0] = 'a';
    for (int i = 1; i < 299; i += 2) {
        name[i] = (char)0xC3;
        name[i + 1] = (char)0xA9;
    }
    name[299] = '\0';
    lmzf_header h;
    lmzf_header_init(&h, name);
    assert_int_equal(h.model_name_len, 127);
    assert_memory_equal(h.model_name, name, 127);
    lmzf_header_init(&h, name + 1); /* starts with a pair: cut back to 126 */
    assert_int_equal(h.model_name_len, 126);
    assert_int_equal(h.model_name[126], '\0');
    lmzf_header_init(&h, NULL);
    assert_int_equal(h.model_name_len, 0);

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
    assert_int_equal(lmzf_fallback_encode(text, sizeof text, lmzf_zstd_level(0), z, sizeof z,
                                          &zsize), LMZF_METHOD_ZSTD);

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
    assert_int_equal(s.size, 85 + 3 * 25 + 300 + zsize + 1000 + 29);

    lmzf_memsrc src = {s.data, s.size, 0};
    lmzf_parser p;
    lmzf_parser_init(&p, lmzf_mem_read, &src);
    assert_int_equal(lmzf_parser_next_stream(&p, NULL, &err), LMZ_OK);
    const uint8_t methods[3] = {LMZF_METHOD_LM, LMZF_METHOD_ZSTD, LMZF_METHOD_RAW};
    const uint32_t raws[3] = {4096, 4096, 1000}, pays[3] = {300, zsize, 1000};
    const uint32_t toks[3] = {800, 0, 0};
    const uint8_t *contents[3] = {text, text, noise}, *payloads[3] = {lm_payload, z, noise};
    uint64_t offset = 85;
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
        assert_int_equal(rec.chunk.raw_check, XXH32(contents[i], raws[i], 0));
        assert_int_equal(rec.chunk.payload_check, XXH32(payloads[i], pays[i], 0));
        assert_int_equal(lmzf_parser_payload(&p, &rec, payload, &err), LMZ_OK);
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
        offset += 25 + pays[i];
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

/* Every single-bit flip anywhere in a small stream is an error, of the class the spec
 * gives for that byte, both for a full decode and for the model-free listing. */
static void test_every_bit_flip(void **state)
{
    (void)state;
    uint8_t content[256];
    size_t content_len;
    sink s = small_stream(content, &content_len);
    lmz_error err;
    uint8_t *out;
    size_t out_len;
    assert_int_equal(decode_all(s.data, s.size, &out, &out_len, &err), LMZ_OK);
    assert_int_equal(out_len, content_len);
    assert_memory_equal(out, content, content_len);
    free(out);
    lmz_stream_info info;
    assert_int_equal(list_buf(s.data, s.size, &info, &err), LMZ_OK);

    size_t flips = 0;
    for (size_t byte = 0; byte < s.size; byte++) {
        lmz_status want = byte < 8 ? LMZ_ERR_NOT_LMZ
                        : byte < 10 ? LMZ_ERR_VERSION : LMZ_ERR_CORRUPT;
        for (int bit = 0; bit < 8; bit++) {
            s.data[byte] ^= (uint8_t)(1u << bit);
            out = NULL;
            lmz_status st = decode_all(s.data, s.size, &out, &out_len, &err);
            if (st != want)
                fail_msg("flip of byte %zu bit %d: decode gave %d (%s), wanted %d", byte,
                         bit, st, st ? err.message : "", want);
            st = list_buf(s.data, s.size, &info, &err);
            if (st != want)
                fail_msg("flip of byte %zu bit %d: listing gave %d (%s), wanted %d", byte,
                         bit, st, st ? err.message : "", want);
            s.data[byte] ^= (uint8_t)(1u << bit);
            flips++;
        }
    }
    assert_int_equal(flips, 8 * s.size);
    free(s.data);
}

/* Every proper prefix is reported as a truncation (the empty one as not lmz). */
static void test_every_truncation(void **state)
{
    (void)state;
    uint8_t content[256];
    size_t content_len;
    sink s = small_stream(content, &content_len);
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

static void test_versions_and_flags(void **state)
{
    (void)state;
    uint8_t content[256];
    size_t content_len;
    sink s = small_stream(content, &content_len);
    lmz_error err;
    uint8_t *out;
    size_t out_len;
    lmz_stream_info info;

    /* a future version with an intact header check */
    s.data[8] = 2;
    reseal_header(s.data);
    assert_int_equal(decode_all(s.data, s.size, &out, &out_len, &err), LMZ_ERR_VERSION);
    assert_non_null(strstr(err.message, "format version 2"));
    assert_non_null(strstr(err.message, "reads version 1"));
    assert_int_equal(list_buf(s.data, s.size, &info, &err), LMZ_ERR_VERSION);
    s.data[8] = 0;
    s.data[9] = 1; /* 256 */
    assert_int_equal(decode_all(s.data, s.size, &out, &out_len, &err), LMZ_ERR_VERSION);
    assert_non_null(strstr(err.message, "format version 256"));
    s.data[9] = 0; /* 0 is no version either */
    assert_int_equal(decode_all(s.data, s.size, &out, &out_len, &err), LMZ_ERR_VERSION);
    s.data[8] = 1;
    reseal_header(s.data);
    assert_int_equal(decode_all(s.data, s.size, &out, &out_len, &err), LMZ_OK);
    free(out);

    /* unknown feature flags, validly sealed: a newer writer's feature */
    for (int bit = 1; bit < 16; bit++) {
        s.data[10] = (uint8_t)((1u << bit) & 0xFF);
        s.data[11] = (uint8_t)((1u << bit) >> 8);
        reseal_header(s.data);
        assert_int_equal(decode_all(s.data, s.size, &out, &out_len, &err), LMZ_ERR_VERSION);
        assert_non_null(strstr(err.message, "feature flags"));
    }
    /* the adapter flag without an adapter hash is inconsistent */
    s.data[10] = 1;
    s.data[11] = 0;
    reseal_header(s.data);
    assert_int_equal(decode_all(s.data, s.size, &out, &out_len, &err), LMZ_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "adapter"));
    s.data[10] = 0;
    /* reserved bytes */
    s.data[14] = 1;
    reseal_header(s.data);
    assert_int_equal(decode_all(s.data, s.size, &out, &out_len, &err), LMZ_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "reserved"));
    s.data[14] = 0;
    /* keep >= context */
    s.data[24] = s.data[20];
    s.data[25] = s.data[21];
    reseal_header(s.data);
    assert_int_equal(decode_all(s.data, s.size, &out, &out_len, &err), LMZ_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "keep"));
    free(s.data);
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
    /* text-mode damage: \r\n became \n */
    const uint8_t lf[] = {0x89, 'L', 'M', 'Z', '\n', 0x1a, '\n', 1, 0, 0, 0};
    assert_int_equal(decode_all(lf, sizeof lf, &out, &out_len, &err), LMZ_ERR_NOT_LMZ);
    /* a prefix of the magic is a truncated stream, not foreign data */
    assert_int_equal(decode_all((const uint8_t *)LMZF_MAGIC, 3, &out, &out_len, &err),
                     LMZ_ERR_CORRUPT);
    uint8_t noise[4096];
    fill_noise(noise, sizeof noise, 3);
    noise[0] = 0; /* not 0x89 */
    assert_int_equal(decode_all(noise, sizeof noise, &out, &out_len, &err), LMZ_ERR_NOT_LMZ);
}

/* A record whose fields break a limit is refused before its payload is read (nothing
 * of the payload is present here: reading it would say "truncated"). */
static void expect_refused(const uint8_t *stream, size_t n, const char *why)
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
    assert_non_null(strstr(err.message, "chunk 0 (record at byte 85)"));
    assert_int_equal(p.reader.offset, n); /* the record, and nothing after it */
    /* the parser stays failed */
    assert_int_equal(lmzf_parser_record(&p, &rec, &err), LMZ_ERR_ARG);
}

static void test_hostile_sizes(void **state)
{
    (void)state;
    lmzf_header h;
    example_header(&h);
    h.chunk_size = LMZF_CHUNK_SIZE_MAX;
    uint8_t b[85 + 25];
    assert_int_equal(lmzf_encode_header(&h, b, sizeof b), 85);
    uint8_t *rec = b + 85;
    struct {
        uint8_t method;
        uint32_t raw, payload, tokens;
        const char *why;
    } cases[] = {
        {LMZF_METHOD_RAW, 1u << 31, 1u << 31, 0, "raw size"},
        {LMZF_METHOD_RAW, 0xFFFFFFFFu, 0xFFFFFFFFu, 0, "raw size"},
        {LMZF_METHOD_ZSTD, 0, 10, 0, "raw size"},
        {LMZF_METHOD_RAW, 100, 0xFFFFFFFFu, 0, "payload size"},
        {LMZF_METHOD_ZSTD, 100, 0xFFFFFFFFu, 0, "payload size"},
        {LMZF_METHOD_ZSTD, 1000, 1000 + 3 + 64 + 1, 0, "payload size"},
        {LMZF_METHOD_ZSTD, 100, 0, 0, "empty ZSTD"},
        {LMZF_METHOD_LM, 1000, 0xFFFFFFFFu, 10, "payload size"},
        {LMZF_METHOD_LM, 1000, 57, 10, "payload size"},   /* 4 * 10 + 16 = 56 */
        {LMZF_METHOD_LM, 1000, 50, 1002, "token count"},
        {LMZF_METHOD_LM, 1000, 50, 0, "token count"},
        {LMZF_METHOD_ZSTD, 1000, 50, 3, "token count"},
        {7, 1000, 50, 0, "unknown method"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rec[0] = cases[i].method;
        put32(rec + 1, cases[i].raw);
        put32(rec + 5, cases[i].payload);
        put32(rec + 9, cases[i].tokens);
        put32(rec + 13, 0x12345678);
        put32(rec + 17, 0x12345678);
        reseal_record(rec);
        expect_refused(b, sizeof b, cases[i].why);
    }
    /* raw_size above the stream's own chunk size */
    h.chunk_size = 4096;
    assert_int_equal(lmzf_encode_header(&h, b, sizeof b), 85);
    rec[0] = LMZF_METHOD_RAW;
    put32(rec + 1, 4097);
    put32(rec + 5, 4097);
    reseal_record(rec);
    expect_refused(b, sizeof b, "chunk size");
    /* the same record is accepted with a fitting size: the limit, not the test, refused */
    put32(rec + 1, 4096);
    put32(rec + 5, 4096);
    reseal_record(rec);
    lmzf_memsrc src = {b, sizeof b, 0};
    lmzf_parser p;
    lmz_error err;
    lmzf_parser_init(&p, lmzf_mem_read, &src);
    assert_int_equal(lmzf_parser_next_stream(&p, NULL, &err), LMZ_OK);
    lmzf_record r;
    assert_int_equal(lmzf_parser_record(&p, &r, &err), LMZ_OK);
    assert_int_equal(lmzf_parser_payload(&p, &r, NULL, &err), LMZ_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "truncated"));

    /* the writer refuses what the parser would */
    example_header(&h);
    h.chunk_size = 100;
    sink s = sink_new();
    lmzf_writer w;
    uint8_t text[200];
    fill_text(text, sizeof text);
    assert_int_equal(lmzf_writer_begin(&w, &h, sink_write, &s, &err), LMZ_OK);
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
    assert_int_equal(s.size, 85); /* nothing but the header was written */
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

    /* damage in the second stream names it */
    both[a.size + 85 + 1] ^= 4;
    assert_int_equal(decode_all(both, total, &out, &out_len, &err), LMZ_ERR_CORRUPT);
    char where[80];
    snprintf(where, sizeof where, "stream 1, chunk 0 (record at byte %zu)", a.size + 85);
    assert_non_null(strstr(err.message, where));
    both[a.size + 85 + 1] ^= 4;

    /* trailing bytes that do not start a stream */
    const char *tails[] = {"\n", "\0", "garbage!", "\x89LMZ"};
    const size_t tail_len[] = {1, 1, 8, 4};
    for (int i = 0; i < 4; i++) {
        memcpy(both + total, tails[i], tail_len[i]);
        lmz_status st = decode_all(both, total + tail_len[i], &out, &out_len, &err);
        assert_int_equal(st, LMZ_ERR_CORRUPT);
        assert_non_null(strstr(err.message, i == 3 ? "truncated" : "trailing data"));
        assert_int_equal(list_buf(both, total + tail_len[i], &info, &err), LMZ_ERR_CORRUPT);
    }
    free(both);
    free(a.data);
    free(b.data);
}

/* Per-chunk checks cannot see two whole chunks swapped; the content check does. */
static void test_swapped_chunks(void **state)
{
    (void)state;
    lmzf_header h;
    example_header(&h);
    sink s = sink_new();
    lmzf_writer w;
    lmz_error err;
    assert_int_equal(lmzf_writer_begin(&w, &h, sink_write, &s, &err), LMZ_OK);
    assert_int_equal(lmzf_writer_chunk(&w, LMZF_METHOD_RAW, "AAAA", 4, NULL, 4, 0, &err), 0);
    assert_int_equal(lmzf_writer_chunk(&w, LMZF_METHOD_RAW, "BBBB", 4, NULL, 4, 0, &err), 0);
    assert_int_equal(lmzf_writer_end(&w, &err), LMZ_OK);
    uint8_t tmp[29];
    memcpy(tmp, s.data + 85, 29);
    memcpy(s.data + 85, s.data + 85 + 29, 29);
    memcpy(s.data + 85 + 29, tmp, 29);
    uint8_t *out;
    size_t out_len;
    assert_int_equal(decode_all(s.data, s.size, &out, &out_len, &err), LMZ_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "content check mismatch"));
    lmz_stream_info info;
    assert_int_equal(list_buf(s.data, s.size, &info, &err), LMZ_OK); /* needs decoding */
    free(s.data);
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
    /* a damaged frame (whose payload_check the parser would already have refused)
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
    assert_int_equal(lmzf_fallback_encode(noise, 3000, 19, frame, sizeof frame, &psize),
                     LMZF_METHOD_RAW);
    assert_int_equal(psize, 3000);
    assert_int_equal(lmzf_fallback_encode(text, 3000, 19, frame, sizeof frame, &psize),
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
    uint8_t model[16], tok[16], adapter[16];
    memcpy(model, h.model_hash, 16);
    memcpy(tok, h.tokenizer_hash, 16);
    memset(adapter, 0x5A, 16);
    lmz_error err;
    assert_int_equal(lmzf_check_model(&h, model, tok, NULL, "tiny", &err), LMZ_OK);
    model[3] ^= 1;
    assert_int_equal(lmzf_check_model(&h, model, tok, NULL, "other", &err),
                     LMZ_ERR_MODEL_MISMATCH);
    assert_non_null(strstr(err.message, "'tiny'"));
    assert_non_null(strstr(err.message, "'other'"));
    assert_non_null(strstr(err.message, "000102030405060708090a0b0c0d0e0f"));
    model[3] ^= 1;
    tok[0] ^= 1;
    assert_int_equal(lmzf_check_model(&h, model, tok, NULL, "x", &err),
                     LMZ_ERR_MODEL_MISMATCH);
    assert_non_null(strstr(err.message, "tokenizer"));
    tok[0] ^= 1;
    /* an adapter loaded, none in the stream; and the reverse */
    assert_int_equal(lmzf_check_model(&h, model, tok, adapter, "x", &err),
                     LMZ_ERR_MODEL_MISMATCH);
    assert_non_null(strstr(err.message, "adapter"));
    h.flags = LMZF_FLAG_ADAPTER;
    memcpy(h.adapter_hash, adapter, 16);
    assert_int_equal(lmzf_check_model(&h, model, tok, NULL, "x", &err),
                     LMZ_ERR_MODEL_MISMATCH);
    assert_int_equal(lmzf_check_model(&h, model, tok, adapter, "x", &err), LMZ_OK);
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
    fails.fail_after = 100;
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
        cmocka_unit_test(test_header_round_trip),
        cmocka_unit_test(test_name_truncation),
        cmocka_unit_test(test_chunk_round_trip),
        cmocka_unit_test(test_every_bit_flip),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_versions_and_flags),
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
