/*
 * fallback.h -- the ZSTD and RAW chunk methods (doc/format.md section 4): the payloads
 * the encoder falls back to when the LM does not win, and their decoding.
 */
#ifndef LMZ_FORMAT_FALLBACK_H
#define LMZ_FORMAT_FALLBACK_H

#include <stddef.h>
#include <stdint.h>

#include "format/container.h"

/* zstd level used when the caller has no preference.  Next to the LM, even level 19
 * (~1 MB/s per thread on text, 1 MiB chunks) costs little; lmzf_zstd_level picks the
 * faster level 9 for lmz levels 1..3. */
#define LMZF_ZSTD_LEVEL_DEFAULT 19

/* The zstd level for an lmz level 1..9 (0 = default). */
int lmzf_zstd_level(int lmz_level);

/* Compress src[0..n) into one zstd frame in dst.  Returns the frame size, or 0 when it
 * does not fit in dst_cap (pass cap = n - 1 to get a frame only if it saves a byte) or
 * zstd fails.  Output bytes are those of the linked libzstd version. */
size_t lmzf_zstd_compress(void *dst, size_t dst_cap, const void *src, size_t n,
                          int level);

/* The fallback payload of a chunk: ZSTD when its record (header and frame) is smaller
 * than the RAW record, and the frame fits dst_cap (payload in dst, which needs
 * raw_size - 1 bytes to allow every frame that could win), else RAW (the payload is raw
 * itself; dst unused).  Sets *method and *payload_size and returns LMZ_OK, or
 * LMZ_ERR_NOMEM (nothing set) if zstd ran out of memory. */
lmz_status lmzf_fallback_encode(const void *raw, uint32_t raw_size, int zstd_level,
                                void *dst, size_t dst_cap, lmzf_method *method,
                                uint32_t *payload_size);

/* Decode a ZSTD or RAW chunk whose payload was read and checked: its raw_size bytes go
 * to raw, and raw_check is verified.  LMZ_ERR_CORRUPT names the chunk; a frame that is
 * not exactly one dictionary-less zstd frame declaring raw_size bytes is corrupt.
 * LMZ_ERR_NOMEM if zstd ran out of memory.
 * Safe to call from any thread. */
lmz_status lmzf_fallback_decode(const lmzf_record *rec, const void *payload, void *raw,
                                lmz_error *err);

#endif
