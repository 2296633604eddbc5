/*
 * container.c -- the field rules of doc/format.md and the encoders of the three
 * structures (header, chunk record, End record).  The decoders live in parser.c; both
 * sides use the same *_problem validators so a writer can never produce a stream the
 * reader refuses.
 */
#include "format/container.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "format/bytes.h"

lmz_status lmzf_fail(lmz_error *err, lmz_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

void lmzf_header_init(lmzf_header *h, const char *name)
{
    memset(h, 0, sizeof *h);
    h->format_version = LMZF_FORMAT_VERSION;
    size_t n = name ? strlen(name) : 0;
    if (n > LMZF_NAME_MAX) {
        n = LMZF_NAME_MAX;
        /* never cut a UTF-8 sequence: back off while the first byte dropped continues
         * the character before it */
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80) n--;
    }
    if (n) memcpy(h->model_name, name, n);
    h->model_name[n] = '\0';
    h->model_name_len = (uint8_t)n;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

const char *lmzf_header_problem(const lmzf_header *h, char *buf, size_t cap)
{
    if (h->format_version != LMZF_FORMAT_VERSION)
        snprintf(buf, cap, "format version %u is not supported (this build reads version %u)",
                 h->format_version, LMZF_FORMAT_VERSION);
    else if (h->flags & ~LMZF_FLAGS_KNOWN)
        snprintf(buf, cap, "unknown feature flags 0x%04x (this build knows 0x%04x)",
                 (unsigned)(h->flags & ~LMZF_FLAGS_KNOWN), LMZF_FLAGS_KNOWN);
    else if (h->model_name_len > LMZF_NAME_MAX)
        snprintf(buf, cap, "model name length %u exceeds %u", h->model_name_len,
                 LMZF_NAME_MAX);
    else if (!(h->flags & LMZF_FLAG_ADAPTER) && !all_zero(h->adapter_hash, 16))
        snprintf(buf, cap, "adapter hash set but the adapter flag is clear");
    else if ((h->flags & LMZF_FLAG_ADAPTER) && all_zero(h->adapter_hash, 16))
        snprintf(buf, cap, "adapter flag set but the adapter hash is zero");
    else if (h->chunk_size < 1 || h->chunk_size > LMZF_CHUNK_SIZE_MAX)
        snprintf(buf, cap, "chunk size %u outside 1..%u", h->chunk_size,
                 LMZF_CHUNK_SIZE_MAX);
    else if (h->context < 2 || h->context > LMZF_CONTEXT_MAX)
        snprintf(buf, cap, "context %u outside 2..%u", h->context, LMZF_CONTEXT_MAX);
    else if (h->keep < 1 || h->keep >= h->context)
        snprintf(buf, cap, "keep %u outside 1..%u (context - 1)", h->keep, h->context - 1);
    else
        return NULL;
    return buf;
}

uint64_t lmzf_payload_max(const lmzf_chunk *c)
{
    switch (c->method) {
    case LMZF_METHOD_RAW: return c->raw_size;
    case LMZF_METHOD_ZSTD: return (uint64_t)c->raw_size + (c->raw_size >> 8) + 64;
    case LMZF_METHOD_LM: return 4 * (uint64_t)c->n_tokens + 16;
    default: return 0;
    }
}

const char *lmzf_chunk_problem(const lmzf_header *h, const lmzf_chunk *c, char *buf,
                               size_t cap)
{
    uint64_t max = lmzf_payload_max(c);
    if (c->method != LMZF_METHOD_LM && c->method != LMZF_METHOD_ZSTD &&
        c->method != LMZF_METHOD_RAW)
        snprintf(buf, cap, "unknown method %u", c->method);
    else if (c->raw_size < 1 || c->raw_size > h->chunk_size)
        snprintf(buf, cap, "raw size %u outside 1..%u (the chunk size)", c->raw_size,
                 h->chunk_size);
    else if (c->method != LMZF_METHOD_LM && c->n_tokens != 0)
        snprintf(buf, cap, "token count %u in a non-LM chunk", c->n_tokens);
    else if (c->method == LMZF_METHOD_LM &&
             (c->n_tokens < 1 || c->n_tokens > (uint64_t)c->raw_size + 1))
        snprintf(buf, cap, "token count %u outside 1..%llu (raw size + 1)", c->n_tokens,
                 (unsigned long long)c->raw_size + 1);
    else if (c->method == LMZF_METHOD_RAW && c->payload_size != c->raw_size)
        snprintf(buf, cap, "RAW payload size %u differs from raw size %u", c->payload_size,
                 c->raw_size);
    else if (c->method == LMZF_METHOD_RAW && c->payload_check != c->raw_check)
        snprintf(buf, cap, "RAW payload check 0x%08x differs from raw check 0x%08x",
                 c->payload_check, c->raw_check);
    else if (c->method == LMZF_METHOD_ZSTD && c->payload_size < 1)
        snprintf(buf, cap, "empty ZSTD payload");
    else if (c->payload_size > max)
        snprintf(buf, cap, "payload size %u exceeds the limit %llu", c->payload_size,
                 (unsigned long long)max);
    else
        return NULL;
    return buf;
}

size_t lmzf_header_size(const lmzf_header *h)
{
    return LMZF_HEADER_MIN_SIZE + h->model_name_len;
}

int lmzf_encode_header(const lmzf_header *h, uint8_t *buf, size_t cap)
{
    char why[160];
    if (lmzf_header_problem(h, why, sizeof why)) return -1;
    size_t size = lmzf_header_size(h);
    if (cap < size) return -1;
    memset(buf, 0, size);
    memcpy(buf, LMZF_MAGIC, LMZF_MAGIC_SIZE);
    lmzf_put16(buf + 8, h->format_version);
    lmzf_put16(buf + 10, h->flags);
    buf[12] = h->level;
    /* 13..15 reserved, zero */
    lmzf_put32(buf + 16, h->chunk_size);
    lmzf_put32(buf + 20, h->context);
    lmzf_put32(buf + 24, h->keep);
    memcpy(buf + 28, h->model_hash, 16);
    memcpy(buf + 44, h->tokenizer_hash, 16);
    memcpy(buf + 60, h->adapter_hash, 16);
    buf[76] = h->model_name_len;
    memcpy(buf + 77, h->model_name, h->model_name_len);
    size_t body = 77 + (size_t)h->model_name_len;
    lmzf_put32(buf + body, XXH32(buf, body, 0));
    return (int)size;
}

int lmzf_encode_chunk(const lmzf_header *h, const lmzf_chunk *c, uint8_t *buf, size_t cap)
{
    char why[160];
    if (lmzf_chunk_problem(h, c, why, sizeof why) || cap < LMZF_RECORD_SIZE) return -1;
    buf[0] = c->method;
    lmzf_put32(buf + 1, c->raw_size);
    lmzf_put32(buf + 5, c->payload_size);
    lmzf_put32(buf + 9, c->n_tokens);
    lmzf_put32(buf + 13, c->raw_check);
    lmzf_put32(buf + 17, c->payload_check);
    lmzf_put32(buf + 21, XXH32(buf, 21, 0));
    return LMZF_RECORD_SIZE;
}

int lmzf_encode_end(const lmzf_end *e, uint8_t *buf, size_t cap)
{
    if (cap < LMZF_END_SIZE) return -1;
    buf[0] = LMZF_METHOD_END;
    lmzf_put64(buf + 1, e->total_size);
    lmzf_put64(buf + 9, e->n_chunks);
    lmzf_put64(buf + 17, e->content_check);
    lmzf_put32(buf + 25, XXH32(buf, 25, 0));
    return LMZF_END_SIZE;
}

void lmzf_printable_name(const lmzf_header *h, char out[LMZF_NAME_MAX + 1])
{
    size_t n = h->model_name_len <= LMZF_NAME_MAX ? h->model_name_len : LMZF_NAME_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)h->model_name[i];
        out[i] = (ch < 0x20 || ch == 0x7F) ? '?' : (char)ch;
    }
    out[n] = '\0';
}

static void hex16(const uint8_t *p, char out[33])
{
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", p[i]);
}

lmz_status lmzf_check_model(const lmzf_header *h, const uint8_t model_hash[16],
                            const uint8_t tokenizer_hash[16], const uint8_t *adapter_hash,
                            const char *loaded_name, lmz_error *err)
{
    static const uint8_t none[16];
    const uint8_t *want_adapter = (h->flags & LMZF_FLAG_ADAPTER) ? h->adapter_hash : none;
    const uint8_t *have_adapter = adapter_hash ? adapter_hash : none;
    const char *what;
    const uint8_t *want, *have;
    if (memcmp(h->model_hash, model_hash, 16)) {
        what = "model", want = h->model_hash, have = model_hash;
    } else if (memcmp(h->tokenizer_hash, tokenizer_hash, 16)) {
        what = "tokenizer", want = h->tokenizer_hash, have = tokenizer_hash;
    } else if (memcmp(want_adapter, have_adapter, 16)) {
        what = "adapter", want = want_adapter, have = have_adapter;
    } else {
        return LMZ_OK;
    }
    char name[LMZF_NAME_MAX + 1], want_hex[33], have_hex[33];
    lmzf_printable_name(h, name);
    hex16(want, want_hex);
    hex16(have, have_hex);
    return lmzf_fail(err, LMZ_ERR_MODEL_MISMATCH,
                     "stream was compressed with model '%s' (%s hash %s), but the loaded "
                     "model is '%s' (%s hash %s)",
                     name, what, all_zero(want, 16) ? "none" : want_hex,
                     loaded_name ? loaded_name : "?", what,
                     all_zero(have, 16) ? "none" : have_hex);
}
