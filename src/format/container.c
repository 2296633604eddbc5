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

/* Copy up to LMZF_NAME_MAX bytes of name into dst (NUL-terminated); returns the length. */
static uint8_t copy_name(char *dst, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n > LMZF_NAME_MAX) {
        n = LMZF_NAME_MAX;
        /* never cut a UTF-8 sequence: back off while the first byte dropped continues
         * the character before it */
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80) n--;
    }
    if (n) memcpy(dst, name, n);
    dst[n] = '\0';
    return (uint8_t)n;
}

void lmzf_header_init(lmzf_header *h, const char *name)
{
    memset(h, 0, sizeof *h);
    h->format_version = LMZF_FORMAT_VERSION;
    h->model_name_len = copy_name(h->model_name, name);
    if (h->model_name_len) h->flags = LMZF_FLAG_NAME;
}

void lmzf_header_set_adapter(lmzf_header *h, const uint8_t hash[16], const char *name)
{
    memcpy(h->adapter_id, hash, LMZF_ID_SIZE);
    h->flags |= LMZF_FLAG_ADAPTER;
    h->adapter_name_len = copy_name(h->adapter_name, name);
    if (h->adapter_name_len) h->flags |= LMZF_FLAG_ADAPTER_NAME;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

const char *lmzf_header_problem(const lmzf_header *h, char *buf, size_t cap)
{
    int adapter = (h->flags & LMZF_FLAG_ADAPTER) != 0;
    if (h->format_version != LMZF_FORMAT_VERSION)
        snprintf(buf, cap, "format version %u is not supported (this build reads version %u)",
                 h->format_version, LMZF_FORMAT_VERSION);
    else if (h->flags & ~LMZF_FLAGS_KNOWN)
        snprintf(buf, cap, "unknown feature flags 0x%02x (this build knows 0x%02x)",
                 (unsigned)(h->flags & ~LMZF_FLAGS_KNOWN), LMZF_FLAGS_KNOWN);
    else if (h->model_name_len > LMZF_NAME_MAX)
        snprintf(buf, cap, "model name length %u exceeds %u", h->model_name_len,
                 LMZF_NAME_MAX);
    else if (!adapter && !all_zero(h->adapter_id, LMZF_ID_SIZE))
        snprintf(buf, cap, "adapter id set but the adapter flag is clear");
    else if (adapter && all_zero(h->adapter_id, LMZF_ID_SIZE))
        snprintf(buf, cap, "adapter flag set but the adapter id is zero");
    else if (h->adapter_name_len > LMZF_NAME_MAX)
        snprintf(buf, cap, "adapter name length %u exceeds %u", h->adapter_name_len,
                 LMZF_NAME_MAX);
    else if (!adapter && (h->adapter_name_len || (h->flags & LMZF_FLAG_ADAPTER_NAME)))
        snprintf(buf, cap, "adapter name without the adapter flag");
    else if (h->chunk_size < 1 || h->chunk_size > LMZF_CHUNK_SIZE_MAX)
        snprintf(buf, cap, "chunk size %u outside 1..%u", h->chunk_size,
                 LMZF_CHUNK_SIZE_MAX);
    else if (h->context < 2 || h->context > LMZF_CONTEXT_MAX)
        snprintf(buf, cap, "context %u outside 2..%u", h->context, LMZF_CONTEXT_MAX);
    else if (h->keep < 1 || h->keep >= h->context)
        snprintf(buf, cap, "keep %u outside 1..%u (context - 1)", h->keep, h->context - 1);
    else if ((h->flags & LMZF_FLAG_MIX) ? h->mix_version < 1 : h->mix_version != 0)
        snprintf(buf, cap, "mix version %u %s the MIX flag", h->mix_version,
                 h->flags & LMZF_FLAG_MIX ? "with" : "without");
    else
        return NULL;
    return buf;
}

uint64_t lmzf_payload_max(const lmzf_chunk *c)
{
    switch (c->method) {
    case LMZF_METHOD_RAW: return c->raw_size;
    case LMZF_METHOD_ZSTD: return (uint64_t)c->raw_size + (c->raw_size >> 8) + 64;
    case LMZF_METHOD_LM:
    case LMZF_METHOD_LM_CRLF: return 4 * (uint64_t)c->n_tokens + 16;
    default: return 0;
    }
}

const char *lmzf_chunk_problem(const lmzf_header *h, const lmzf_chunk *c, char *buf,
                               size_t cap)
{
    uint64_t max = lmzf_payload_max(c);
    if (!lmzf_method_known(c->method))
        snprintf(buf, cap, "unknown method %u", c->method);
    else if (c->raw_size < 1 || c->raw_size > h->chunk_size)
        snprintf(buf, cap, "raw size %u outside 1..%u (the chunk size)", c->raw_size,
                 h->chunk_size);
    else if (!lmzf_method_is_lm(c->method) && c->n_tokens != 0)
        snprintf(buf, cap, "token count %u in a non-LM chunk", c->n_tokens);
    else if (lmzf_method_is_lm(c->method) &&
             (c->n_tokens < 1 || c->n_tokens > (uint64_t)c->raw_size + 1))
        snprintf(buf, cap, "token count %u outside 1..%llu (raw size + 1)", c->n_tokens,
                 (unsigned long long)c->raw_size + 1);
    else if (c->method == LMZF_METHOD_RAW && c->payload_size != c->raw_size)
        snprintf(buf, cap, "RAW payload size %u differs from raw size %u", c->payload_size,
                 c->raw_size);
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
    size_t n = LMZF_MAGIC_SIZE + 3 + lmzf_varint_size(h->chunk_size) +
               lmzf_varint_size(h->context) + lmzf_varint_size(h->keep) +
               2 * LMZF_ID_SIZE + 4;
    if (h->mix_version >= 2) n += 1;
    if (h->flags & LMZF_FLAG_ADAPTER) n += LMZF_ID_SIZE;
    if (h->model_name_len) n += 1 + (size_t)h->model_name_len;
    if (h->adapter_name_len) n += 1 + (size_t)h->adapter_name_len;
    return n;
}

size_t lmzf_chunk_record_size(const lmzf_chunk *c)
{
    size_t n = 1 + lmzf_varint_size(c->raw_size) + 4;
    if (c->method != LMZF_METHOD_RAW) n += lmzf_varint_size(c->payload_size) + 4;
    if (lmzf_method_is_lm(c->method)) n += lmzf_varint_size(c->n_tokens);
    return n;
}

int lmzf_end_stores_content(uint64_t n_chunks)
{
    /* with 0 chunks content_check is XXH32 of nothing, with 1 the chunk's raw_check:
     * a decoder knows both without it */
    return n_chunks >= 2;
}

size_t lmzf_end_size(const lmzf_end *e)
{
    return 1 + lmzf_varint_size(e->total_size) + lmzf_varint_size(e->n_chunks) +
           (lmzf_end_stores_content(e->n_chunks) ? 4 : 0) + 4;
}

int lmzf_encode_header(const lmzf_header *h, uint8_t *buf, size_t cap)
{
    char why[160];
    if (lmzf_header_problem(h, why, sizeof why)) return -1;
    size_t size = lmzf_header_size(h);
    if (cap < size) return -1;
    uint8_t flags = (uint8_t)((h->flags & (LMZF_FLAG_ADAPTER | LMZF_FLAG_KV_F16 | LMZF_FLAG_MIX)) |
                              (h->mix_version >= 2 ? LMZF_FLAG_MIX_VERSION : 0) |
                              (h->model_name_len ? LMZF_FLAG_NAME : 0) |
                              (h->adapter_name_len ? LMZF_FLAG_ADAPTER_NAME : 0));
    size_t n = 0;
    memcpy(buf, LMZF_MAGIC, LMZF_MAGIC_SIZE);
    n += LMZF_MAGIC_SIZE;
    buf[n++] = h->format_version;
    buf[n++] = flags;
    buf[n++] = h->level;
    n += lmzf_put_varint(buf + n, h->chunk_size);
    n += lmzf_put_varint(buf + n, h->context);
    n += lmzf_put_varint(buf + n, h->keep);
    if (flags & LMZF_FLAG_MIX_VERSION) buf[n++] = h->mix_version;
    memcpy(buf + n, h->model_id, LMZF_ID_SIZE);
    memcpy(buf + n + LMZF_ID_SIZE, h->tokenizer_id, LMZF_ID_SIZE);
    n += 2 * LMZF_ID_SIZE;
    if (flags & LMZF_FLAG_ADAPTER) {
        memcpy(buf + n, h->adapter_id, LMZF_ID_SIZE);
        n += LMZF_ID_SIZE;
    }
    if (flags & LMZF_FLAG_NAME) {
        buf[n++] = h->model_name_len;
        memcpy(buf + n, h->model_name, h->model_name_len);
        n += h->model_name_len;
    }
    if (flags & LMZF_FLAG_ADAPTER_NAME) {
        buf[n++] = h->adapter_name_len;
        memcpy(buf + n, h->adapter_name, h->adapter_name_len);
        n += h->adapter_name_len;
    }
    lmzf_put32(buf + n, XXH32(buf, n, 0));
    return (int)(n + 4);
}

int lmzf_encode_chunk(const lmzf_header *h, const lmzf_chunk *c, const void *payload,
                      uint8_t *buf, size_t cap)
{
    char why[160];
    if (lmzf_chunk_problem(h, c, why, sizeof why) || !payload ||
        cap < lmzf_chunk_record_size(c))
        return -1;
    size_t n = 0;
    buf[n++] = c->method;
    n += lmzf_put_varint(buf + n, c->raw_size);
    if (c->method != LMZF_METHOD_RAW) n += lmzf_put_varint(buf + n, c->payload_size);
    if (lmzf_method_is_lm(c->method)) n += lmzf_put_varint(buf + n, c->n_tokens);
    if (c->method != LMZF_METHOD_RAW) {
        lmzf_put32(buf + n, c->raw_check);
        n += 4;
    }
    XXH32_state_t check;
    XXH32_reset(&check, 0);
    XXH32_update(&check, buf, n);
    XXH32_update(&check, payload, c->payload_size);
    lmzf_put32(buf + n, XXH32_digest(&check));
    return (int)(n + 4);
}

uint32_t lmzf_end_check(const uint8_t *fields, size_t n, uint32_t content_check)
{
    /* content_check is covered whether it is stored or implied, so a one-chunk stream's
     * End record is bound to its chunk's content too */
    uint8_t content[4];
    lmzf_put32(content, content_check);
    XXH32_state_t check;
    XXH32_reset(&check, 0);
    XXH32_update(&check, fields, n);
    XXH32_update(&check, content, 4);
    return XXH32_digest(&check);
}

int lmzf_encode_end(const lmzf_end *e, uint8_t *buf, size_t cap)
{
    if (cap < lmzf_end_size(e)) return -1;
    size_t n = 0;
    buf[n++] = LMZF_METHOD_END;
    n += lmzf_put_varint(buf + n, e->total_size);
    n += lmzf_put_varint(buf + n, e->n_chunks);
    uint32_t check = lmzf_end_check(buf, n, e->content_check);
    if (lmzf_end_stores_content(e->n_chunks)) {
        lmzf_put32(buf + n, e->content_check);
        n += 4;
    }
    lmzf_put32(buf + n, check);
    return (int)(n + 4);
}

static void printable(const char *name, size_t len, char out[LMZF_NAME_MAX + 1])
{
    size_t n = len <= LMZF_NAME_MAX ? len : LMZF_NAME_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        out[i] = (ch < 0x20 || ch == 0x7F) ? '?' : (char)ch;
    }
    out[n] = '\0';
}

void lmzf_printable_name(const lmzf_header *h, char out[LMZF_NAME_MAX + 1])
{
    printable(h->model_name, h->model_name_len, out);
}

void lmzf_printable_adapter_name(const lmzf_header *h, char out[LMZF_NAME_MAX + 1])
{
    printable(h->adapter_name, h->adapter_name_len, out);
}

/* An id as 16 hex digits, or "none" for the all-zero id of an absent adapter. */
static const char *id_hex(const uint8_t *id, char out[2 * LMZF_ID_SIZE + 1])
{
    if (all_zero(id, LMZF_ID_SIZE)) return "none";
    for (int i = 0; i < LMZF_ID_SIZE; i++) snprintf(out + 2 * i, 3, "%02x", id[i]);
    return out;
}

lmz_status lmzf_check_model(const lmzf_header *h, const uint8_t model_hash[16],
                            const uint8_t tokenizer_hash[16], const uint8_t *adapter_hash,
                            const char *loaded_name, lmz_error *err)
{
    static const uint8_t none[LMZF_ID_SIZE];
    const uint8_t *want_adapter = (h->flags & LMZF_FLAG_ADAPTER) ? h->adapter_id : none;
    const uint8_t *have_adapter = adapter_hash ? adapter_hash : none;
    const char *what;
    const uint8_t *want, *have;
    if (memcmp(h->model_id, model_hash, LMZF_ID_SIZE)) {
        what = "model", want = h->model_id, have = model_hash;
    } else if (memcmp(h->tokenizer_id, tokenizer_hash, LMZF_ID_SIZE)) {
        what = "tokenizer", want = h->tokenizer_id, have = tokenizer_hash;
    } else if (memcmp(want_adapter, have_adapter, LMZF_ID_SIZE)) {
        what = "adapter", want = want_adapter, have = have_adapter;
    } else {
        return LMZ_OK;
    }
    char name[LMZF_NAME_MAX + 1], want_hex[2 * LMZF_ID_SIZE + 1],
        have_hex[2 * LMZF_ID_SIZE + 1], model_hex[2 * LMZF_ID_SIZE + 1], stream[160];
    lmzf_printable_name(h, name);
    const char *want_id = id_hex(want, want_hex);
    /* Without a stored name the stream's model is known by its id alone. */
    if (h->model_name_len)
        snprintf(stream, sizeof stream, "model '%s' (%s id %s)", name, what, want_id);
    else if (want == h->model_id)
        snprintf(stream, sizeof stream, "the model of id %s (its name is not stored)",
                 want_id);
    else
        snprintf(stream, sizeof stream,
                 "the model of id %s (its name is not stored; %s id %s)",
                 id_hex(h->model_id, model_hex), what, want_id);
    return lmz_error_setf(err, LMZ_ERR_MODEL_MISMATCH,
                     "stream was compressed with %s, but the loaded model is '%s' (%s id %s)",
                     stream, loaded_name ? loaded_name : "?", what, id_hex(have, have_hex));
}
