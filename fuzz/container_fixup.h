/*
 * container_fixup.h -- make a mutated .lmz stream's checks agree with its bytes again.
 *
 * A random mutation almost never survives header_check, record_check and end_check
 * (XXH32), so the decoder would only ever exercise its check-mismatch paths.  This walks
 * the bytes as doc/format.md lays them out, as far as they still look like streams, and
 * rewrites every check it can compute without decoding:
 *   header_check   over the header bytes before it;
 *   record_check   over the record bytes before it and the payload;
 *   end_check      over the End record's fields and content_check (stored, or implied by
 *                  n_chunks: XXH32("") or chunk 0's raw_check);
 *   n_chunks, total_size   set to what the records hold, when the new value's varint
 *                  has the old one's length (a fix must not move any later byte).
 * raw_check and a stored content_check need decoding and are left as they are, as is
 * everything else: the limits and field rules stay the parser's to enforce.  The walk
 * stops at the first structure that is cut short or unreadable.
 */
#ifndef LMZ_FUZZ_CONTAINER_FIXUP_H
#define LMZ_FUZZ_CONTAINER_FIXUP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "format/container.h" /* first: it asks xxhash.h for the hash state's layout */
#include "format/bytes.h"

/* A varint of a `bits`-bit field at data[*pos]; 0 and *pos past it, or -1 if invalid or
 * cut short. */
static int fixup_varint(const uint8_t *data, size_t size, size_t *pos, unsigned bits,
                        uint64_t *value)
{
    *value = 0;
    for (size_t i = 0; *pos < size; i++) {
        lmzf_varint_step step = lmzf_varint_byte(value, i, data[(*pos)++], bits);
        if (step == LMZF_VARINT_DONE) return 0;
        if (step != LMZF_VARINT_MORE) return -1;
    }
    return -1;
}

/* Overwrite the varint at data[at, end) with v if v's shortest encoding has that length. */
static void fixup_put_varint_same_size(uint8_t *data, size_t at, size_t end, uint64_t v)
{
    if (lmzf_varint_size(v) == end - at) lmzf_put_varint(data + at, v);
}

/* The header at data[pos] (magic already matched).  Returns the offset after it, or 0. */
static size_t fixup_header(uint8_t *data, size_t size, size_t pos)
{
    size_t p = pos + LMZF_MAGIC_SIZE;
    uint64_t v;
    if (size - p < 3) return 0;
    uint8_t flags = data[p + 1];
    p += 3;                                          /* version, flags, level */
    for (int i = 0; i < 3; i++)                      /* chunk_size, context, keep */
        if (fixup_varint(data, size, &p, 32, &v)) return 0;
    p += (flags & LMZF_FLAG_ADAPTER ? 3 : 2) * LMZF_ID_SIZE;
    if (p < size && (flags & LMZF_FLAG_NAME)) p += 1 + (size_t)data[p];
    if (p > size || size - p < 4) return 0;
    lmzf_put32(data + p, XXH32(data + pos, p - pos, 0));
    return p + 4;
}

/* The records of one stream from data[p].  Returns the offset after the End record, or
 * 0 if the walk cannot go on. */
static size_t fixup_records(uint8_t *data, size_t size, size_t p)
{
    uint64_t n_chunks = 0, total = 0;
    uint32_t first_raw_check = 0;
    while (p < size) {
        size_t start = p;
        uint8_t method = data[p++];
        uint64_t raw_size, payload_size = 0, v, stored_total, stored_n;
        if (method == LMZF_METHOD_END) {
            size_t total_at = p;
            if (fixup_varint(data, size, &p, 64, &stored_total)) return 0;
            size_t n_at = p;
            if (fixup_varint(data, size, &p, 64, &stored_n)) return 0;
            fixup_put_varint_same_size(data, total_at, n_at, total);
            fixup_put_varint_same_size(data, n_at, p, n_chunks);
            fixup_varint(data, size, &n_at, 64, &stored_n);   /* as now stored */
            size_t fields = p - start;
            uint32_t content = stored_n == 0 ? XXH32("", 0, 0) : first_raw_check;
            if (lmzf_end_stores_content(stored_n)) {
                if (size - p < 4) return 0;
                content = lmzf_get32(data + p);
                p += 4;
            }
            if (size - p < 4) return 0;
            lmzf_put32(data + p, lmzf_end_check(data + start, fields, content));
            return p + 4;
        }
        if (!lmzf_method_known(method)) return 0;
        if (fixup_varint(data, size, &p, 32, &raw_size)) return 0;
        payload_size = raw_size;
        if (method != LMZF_METHOD_RAW && fixup_varint(data, size, &p, 32, &payload_size))
            return 0;
        if (lmzf_method_is_lm(method) && fixup_varint(data, size, &p, 32, &v)) return 0;
        uint32_t raw_check = 0;
        if (method != LMZF_METHOD_RAW) {
            if (size - p < 4) return 0;
            raw_check = lmzf_get32(data + p);
            p += 4;
        }
        if (size - p < 4 || size - p - 4 < payload_size) return 0;
        const uint8_t *payload = data + p + 4;
        if (method == LMZF_METHOD_RAW) raw_check = XXH32(payload, (size_t)payload_size, 0);
        XXH32_state_t st;
        XXH32_reset(&st, 0);
        XXH32_update(&st, data + start, p - start);
        XXH32_update(&st, payload, (size_t)payload_size);
        lmzf_put32(data + p, XXH32_digest(&st));
        if (n_chunks == 0) first_raw_check = raw_check;
        n_chunks++;
        total += raw_size;
        p += 4 + (size_t)payload_size;
    }
    return 0;
}

/* Fix every stream of data[0..size) in place, as far as it can be followed. */
static void fixup_container(uint8_t *data, size_t size)
{
    size_t pos = 0;
    while (size - pos >= LMZF_MAGIC_SIZE &&
           memcmp(data + pos, LMZF_MAGIC, LMZF_MAGIC_SIZE) == 0) {
        size_t p = fixup_header(data, size, pos);
        if (!p || !(pos = fixup_records(data, size, p))) return;
    }
}

#endif
