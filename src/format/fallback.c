/*
 * fallback.c -- ZSTD and RAW chunk payloads.
 *
 * The decoder is strict about the frame (one frame, declared size equal to raw_size,
 * no dictionary, nothing after it) so that a payload has exactly one meaning and a
 * damaged one cannot make libzstd write past the chunk's buffer.
 */
#include "format/fallback.h"

#include <stdio.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "format/bytes.h"

int lmzf_zstd_level(int lmz_level)
{
    /* zstd -19 is a few percent smaller than -9 and an order of magnitude slower; next
     * to the LM either is cheap, and the low lmz levels favour speed for the chunks
     * where the LM loses (bench/results/tuning.md, "zstd levels"). */
    if (lmz_level >= 1 && lmz_level <= 3) return 9;
    return LMZF_ZSTD_LEVEL_DEFAULT;
}

/* lmzf_zstd_compress, and whether zstd failed for lack of memory. */
static size_t zstd_frame(void *dst, size_t dst_cap, const void *src, size_t n, int level,
                         int *nomem)
{
    *nomem = 0;
    if (!dst_cap) return 0;
    size_t r = ZSTD_compress(dst, dst_cap, src, n, level);
    if (!ZSTD_isError(r)) return r;
    *nomem = ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation;
    return 0;
}

size_t lmzf_zstd_compress(void *dst, size_t dst_cap, const void *src, size_t n, int level)
{
    int nomem;
    return zstd_frame(dst, dst_cap, src, n, level, &nomem);
}

lmz_status lmzf_fallback_encode(const void *raw, uint32_t raw_size, int zstd_level,
                                void *dst, size_t dst_cap, lmzf_method *method,
                                uint32_t *payload_size)
{
    /* ZSTD's record stores payload_size and raw_check, RAW's does not: the frame must
     * save more than those bytes (varint(payload) <= varint(raw_size)) */
    size_t extra = 4 + lmzf_varint_size(raw_size);
    size_t cap = raw_size > extra ? raw_size - extra - 1 : 0;
    if (cap > dst_cap) cap = dst_cap;
    int nomem = 0;
    size_t z = dst ? zstd_frame(dst, cap, raw, raw_size, zstd_level, &nomem) : 0;
    if (nomem) return LMZ_ERR_NOMEM;    /* RAW instead would change the stream */
    *method = z ? LMZF_METHOD_ZSTD : LMZF_METHOD_RAW;
    *payload_size = z ? (uint32_t)z : raw_size;
    return LMZ_OK;
}

/* Why a ZSTD payload is not the single frame the format allows, or NULL. */
static const char *frame_problem(const void *src, size_t n, uint32_t raw_size, char *buf,
                                 size_t cap)
{
    if (n < 4 || lmzf_get32(src) != ZSTD_MAGICNUMBER) return "not a zstd frame (bad magic)";
    unsigned long long declared = ZSTD_getFrameContentSize(src, n);
    if (declared == ZSTD_CONTENTSIZE_ERROR) return "bad zstd frame header";
    if (declared == ZSTD_CONTENTSIZE_UNKNOWN) return "zstd frame does not declare its size";
    if (declared != raw_size) {
        snprintf(buf, cap, "zstd frame declares %llu bytes, the record says %u", declared,
                 raw_size);
        return buf;
    }
    if (ZSTD_getDictID_fromFrame(src, n) != 0) return "zstd frame needs a dictionary";
    size_t frame = ZSTD_findFrameCompressedSize(src, n);
    if (ZSTD_isError(frame)) {
        snprintf(buf, cap, "bad zstd frame: %s", ZSTD_getErrorName(frame));
        return buf;
    }
    if (frame != n) {
        snprintf(buf, cap, "zstd frame ends at byte %zu of the %zu-byte payload", frame, n);
        return buf;
    }
    return NULL;
}

lmz_status lmzf_fallback_decode(const lmzf_record *rec, const void *payload, void *raw,
                                lmz_error *err)
{
    const lmzf_chunk *c = &rec->chunk;
    char where[128], why[160];
    if (rec->is_end || (c->method != LMZF_METHOD_ZSTD && c->method != LMZF_METHOD_RAW))
        return lmz_error_setf(err, LMZ_ERR_ARG, "lmzf_fallback_decode: not a ZSTD or RAW chunk");
    if (c->method == LMZF_METHOD_RAW) {
        memmove(raw, payload, c->raw_size);
    } else {
        const char *problem = frame_problem(payload, c->payload_size, c->raw_size, why,
                                            sizeof why);
        if (problem)
            return lmz_error_setf(err, LMZ_ERR_CORRUPT, "%s: %s",
                             lmzf_record_where(rec, where, sizeof where), problem);
        size_t r = ZSTD_decompress(raw, c->raw_size, payload, c->payload_size);
        if (ZSTD_isError(r) && ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
            return lmz_error_setf(err, LMZ_ERR_NOMEM, "%s: zstd ran out of memory",
                                  lmzf_record_where(rec, where, sizeof where));
        if (ZSTD_isError(r) || r != c->raw_size)
            return lmz_error_setf(err, LMZ_ERR_CORRUPT, "%s: zstd decoding failed: %s",
                             lmzf_record_where(rec, where, sizeof where),
                             ZSTD_isError(r) ? ZSTD_getErrorName(r) : "short output");
    }
    return lmzf_check_raw(rec, raw, c->raw_size, err);
}
