/*
 * compact.c -- the compact layout of doc/format.md 11 (a stream of one chunk or none in
 * a few bytes): the profile table and the encoder.  parser.c reads compact streams.
 */
#include "format/container.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/bytes.h"

#define S2_IDS { 0x90, 0xd6, 0x3d, 0x45, 0x39, 0x54, 0x00, 0x9d }
#define BPE_IDS { 0x88, 0xaf, 0x80, 0x6b, 0x33, 0xb3, 0x02, 0x9c }
#define M1_IDS { 0x42, 0x9b, 0xb0, 0xfd, 0x01, 0x99, 0xdf, 0x65 }

/* Append-only: a released entry never changes (doc/format.md 11 is the same table;
 * tests/test_profiles.c checks both against the built-in models and levels). */
#define T1_IDS { 0xcb, 0x91, 0x18, 0x23, 0x48, 0x1c, 0x05, 0xbf }
#define T1_TOK_IDS { 0xe4, 0xd9, 0xa8, 0xe3, 0xab, 0x35, 0x91, 0x99 }

/* Profiles 10..18 are 1..9 with mixed coding version 2, 19..27 with version 3. */
static const lmzf_profile profiles[] = {
    /* model     model_id  tokenizer_id  context keep  chunk_size kv level mix */
    { "lmz-t1", T1_IDS, T1_TOK_IDS, 128, 32, 16384, 1, 1, 1 },
    { "lmz-s2", S2_IDS, BPE_IDS, 192, 48, 16384, 1, 2, 1 },
    { "lmz-s2", S2_IDS, BPE_IDS, 256, 64, 32768, 1, 3, 1 },
    { "lmz-s2", S2_IDS, BPE_IDS, 384, 144, 32768, 1, 4, 1 },
    { "lmz-s2", S2_IDS, BPE_IDS, 512, 256, 32768, 1, 5, 1 },
    { "lmz-s2", S2_IDS, BPE_IDS, 512, 320, 65536, 1, 6, 1 },
    { "lmz-s2", S2_IDS, BPE_IDS, 512, 384, 65536, 1, 7, 1 },
    { "lmz-m1", M1_IDS, BPE_IDS, 512, 256, 32768, 1, 8, 1 },
    { "lmz-m1", M1_IDS, BPE_IDS, 1024, 768, 65536, 1, 9, 1 },
    { "lmz-t1", T1_IDS, T1_TOK_IDS, 128, 32, 16384, 1, 1, 2 },
    { "lmz-s2", S2_IDS, BPE_IDS, 192, 48, 16384, 1, 2, 2 },
    { "lmz-s2", S2_IDS, BPE_IDS, 256, 64, 32768, 1, 3, 2 },
    { "lmz-s2", S2_IDS, BPE_IDS, 384, 144, 32768, 1, 4, 2 },
    { "lmz-s2", S2_IDS, BPE_IDS, 512, 256, 32768, 1, 5, 2 },
    { "lmz-s2", S2_IDS, BPE_IDS, 512, 320, 65536, 1, 6, 2 },
    { "lmz-s2", S2_IDS, BPE_IDS, 512, 384, 65536, 1, 7, 2 },
    { "lmz-m1", M1_IDS, BPE_IDS, 512, 256, 32768, 1, 8, 2 },
    { "lmz-m1", M1_IDS, BPE_IDS, 1024, 768, 65536, 1, 9, 2 },
    { "lmz-t1", T1_IDS, T1_TOK_IDS, 128, 32, 16384, 1, 1, 3 },
    { "lmz-s2", S2_IDS, BPE_IDS, 192, 48, 16384, 1, 2, 3 },
    { "lmz-s2", S2_IDS, BPE_IDS, 256, 64, 32768, 1, 3, 3 },
    { "lmz-s2", S2_IDS, BPE_IDS, 384, 144, 32768, 1, 4, 3 },
    { "lmz-s2", S2_IDS, BPE_IDS, 512, 256, 32768, 1, 5, 3 },
    { "lmz-s2", S2_IDS, BPE_IDS, 512, 320, 65536, 1, 6, 3 },
    { "lmz-s2", S2_IDS, BPE_IDS, 512, 384, 65536, 1, 7, 3 },
    { "lmz-m1", M1_IDS, BPE_IDS, 512, 256, 32768, 1, 8, 3 },
    { "lmz-m1", M1_IDS, BPE_IDS, 1024, 768, 65536, 1, 9, 3 },
};
#define N_PROFILES (sizeof profiles / sizeof profiles[0])

const lmzf_profile *lmzf_profile_get(unsigned n)
{
    return n >= 1 && n <= N_PROFILES ? &profiles[n - 1] : NULL;
}

unsigned lmzf_profile_find(const lmzf_header *h)
{
    unsigned mix_version = h->mix_version ? h->mix_version : 1;
    for (unsigned i = 0; i < N_PROFILES; i++) {
        const lmzf_profile *p = &profiles[i];
        if (p->mix_version == mix_version && !memcmp(p->model_id, h->model_id, LMZF_ID_SIZE) &&
            !memcmp(p->tokenizer_id, h->tokenizer_id, LMZF_ID_SIZE) &&
            p->context == h->context && p->keep == h->keep &&
            p->kv_f16 == ((h->flags & LMZF_FLAG_KV_F16) != 0))
            return i + 1;
    }
    return 0;
}

const char *lmzf_compact_problem(lmzf_method method, uint32_t raw_size, uint32_t payload_size,
                                 uint32_t chunk_size, char *buf, size_t cap)
{
    uint32_t max_raw = chunk_size < LMZF_COMPACT_RAW_MAX ? chunk_size : LMZF_COMPACT_RAW_MAX;
    uint64_t max_payload = method == LMZF_METHOD_ZSTD ? (uint64_t)raw_size + (raw_size >> 8) + 64
                                                      : 18 * (uint64_t)raw_size + 16;
    if (raw_size < 1 || raw_size > max_raw)
        snprintf(buf, cap, "raw size %u outside 1..%u", raw_size, max_raw);
    else if (method != LMZF_METHOD_RAW && (payload_size < 1 || payload_size > max_payload))
        snprintf(buf, cap, "payload size %u outside 1..%llu", payload_size,
                 (unsigned long long)max_payload);
    else
        return NULL;
    return buf;
}

/* The stream's tag value d (doc/format.md 11). */
static unsigned tag_of(const lmzf_header *h, lmzf_method method, uint32_t raw_size)
{
    if (raw_size == 0) return LMZF_COMPACT_EMPTY;
    if (method == LMZF_METHOD_RAW) return LMZF_COMPACT_RAW;
    if (method == LMZF_METHOD_ZSTD) return LMZF_COMPACT_ZSTD;
    return LMZF_COMPACT_LM | (method == LMZF_METHOD_LM_CRLF ? LMZF_COMPACT_LM_CRLF : 0) |
           (h->flags & LMZF_FLAG_MIX ? LMZF_COMPACT_LM_MIX : 0) |
           (h->flags & LMZF_FLAG_ADAPTER ? LMZF_COMPACT_LM_ADAPTER : 0);
}

uint8_t *lmzf_compact_encode(const lmzf_header *h, unsigned profile, lmzf_method method,
                             const void *raw, uint32_t raw_size, const void *payload,
                             uint32_t payload_size, size_t *size, lmz_error *err)
{
    int lm = lmzf_method_is_lm(method);
    const lmzf_profile *prof = profile ? lmzf_profile_get(profile) : NULL;
    char why[160];
    unsigned mix_version = h->mix_version ? h->mix_version : 1;
    if (raw_size > LMZF_COMPACT_RAW_MAX || (profile && !prof) ||
        (lm && (mix_version > 3 || (prof && prof->mix_version != mix_version))) ||
        (raw_size && !lmzf_method_known(method)) || (lm && lmzf_header_problem(h, why, sizeof why)))
        return lmz_error_setf(err, LMZ_ERR_ARG, "no compact stream for these fields%s%s",
                              lm ? ": " : "", lm ? why : ""), NULL;
    if (method == LMZF_METHOD_RAW) {
        payload = raw;
        payload_size = raw_size;
    }
    if (raw_size && lmzf_compact_problem(method, raw_size, payload_size,
                                         prof ? prof->chunk_size : LMZF_COMPACT_RAW_MAX,
                                         why, sizeof why))
        return lmz_error_setf(err, LMZ_ERR_ARG, "compact stream: %s", why), NULL;
    uint8_t head[LMZF_COMPACT_HEAD_MAX];
    size_t n = 0;
    unsigned d = tag_of(h, method, raw_size);
    head[n++] = (uint8_t)(LMZF_COMPACT_TAG_MIN + d);
    if (lm) {
        head[n++] = (uint8_t)profile;
        if (prof) {
            head[n++] = prof->model_id[0];
        } else {
            head[n++] = (uint8_t)(((h->flags & LMZF_FLAG_KV_F16) ? LMZF_COMPACT_EXT_KV_F16 : 0) |
                                  (h->mix_version == 2 ? LMZF_COMPACT_EXT_MIX_V2 : 0) |
                                  (h->mix_version == 3 ? LMZF_COMPACT_EXT_MIX_V3 : 0));
            n += lmzf_put_varint(head + n, h->context);
            n += lmzf_put_varint(head + n, h->keep);
            memcpy(head + n, h->model_id, LMZF_ID_SIZE);
            memcpy(head + n + LMZF_ID_SIZE, h->tokenizer_id, LMZF_ID_SIZE);
            n += 2 * LMZF_ID_SIZE;
            head[n++] = h->model_name_len;
            memcpy(head + n, h->model_name, h->model_name_len);
            n += h->model_name_len;
        }
        if (h->flags & LMZF_FLAG_ADAPTER) {
            memcpy(head + n, h->adapter_id, LMZF_ID_SIZE);
            n += LMZF_ID_SIZE;
        }
    }
    if (raw_size) n += lmzf_put_varint(head + n, raw_size);
    if (raw_size && method != LMZF_METHOD_RAW) n += lmzf_put_varint(head + n, payload_size);

    size_t total = n + (raw_size ? payload_size : 0) + 4;
    uint8_t *out = malloc(total);
    if (!out) return lmz_error_setf(err, LMZ_ERR_NOMEM, "out of memory"), NULL;
    memcpy(out, head, n);
    if (raw_size) memcpy(out + n, payload, payload_size);
    XXH32_state_t seed;
    XXH32_reset(&seed, 0);
    XXH32_update(&seed, out, total - 4);
    if (lm) lmzf_compact_bind(&seed, prof ? prof->model_id : h->model_id,
                              prof ? prof->tokenizer_id : h->tokenizer_id,
                              h->flags & LMZF_FLAG_ADAPTER ? h->adapter_id : NULL);
    lmzf_put32(out + total - 4, XXH32(raw, raw_size, XXH32_digest(&seed)));
    *size = total;
    return out;
}

void lmzf_compact_bind(XXH32_state_t *seed, const uint8_t *model_id,
                       const uint8_t *tokenizer_id, const uint8_t *adapter_id)
{
    XXH32_update(seed, model_id, LMZF_ID_SIZE);
    XXH32_update(seed, tokenizer_id, LMZF_ID_SIZE);
    if (adapter_id) XXH32_update(seed, adapter_id, LMZF_ID_SIZE);
}
