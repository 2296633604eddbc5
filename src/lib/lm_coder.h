/*
 * lm_coder.h -- codes chunks of text with the language model (the LM method of
 * doc/format.md).  Several chunks ("lanes") are coded side by side: each forward pass
 * evaluates one batch holding tokens of every active lane, so that decoding, which is
 * sequential within a chunk, is still matrix-matrix work across chunks.  With several
 * threads, each thread runs its own forward pass over its own lanes.
 *
 * Encoder and decoder run the very same schedule (lm_lanes.c, the part doc/format.md
 * defines), so the model sees the same contexts on both sides by construction; this
 * driver (lm_coder.c) only decides who codes which chunk when.
 */
#ifndef LMZ_LM_CODER_H
#define LMZ_LM_CODER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/internal.h"

typedef struct lm_chunk {
    /* encode: in = the chunk's bytes; out = payload (malloc'd), n_tokens set.
     * decode: in = payload, n_tokens and raw_size given; out = the bytes (malloc'd). */
    const uint8_t *in;
    size_t in_size;
    uint8_t *out;
    size_t out_size;
    uint32_t n_tokens;
    size_t raw_size;       /* decode: the chunk's recorded size */
    int crlf;              /* LM_CRLF: the tokens spell the content with CR LF as LF
                            * (compress.c transforms `in`, decompress.c expands `out`);
                            * decoding then checks only that out fits in raw_size */
    lmz_status status;     /* per chunk: LMZ_OK or why it failed */
    _Atomic int done;      /* set (last) when out and status are final */
    /* Mixed streams (lm_mix.h).  gen: the chunk's generation, its stream index / 8.
     * Encoding, between the LM pass and the mixing pass: the tokens, and the LM's
     * probability of each coded decision (owned by the chunk). */
    uint32_t gen;
    int32_t *tokens;
    uint16_t *mixrec;
    size_t mixrec_n;
} lm_chunk;

/* Code n chunks (n may exceed the lane count: they are taken in turn) with the window
 * of `w` (context, keep: from the stream header when decoding) and w->lanes per thread.
 * Returns LMZ_OK or the first failure that is not a per-chunk one (out of memory,
 * interruption); per-chunk failures (corrupt payload) are in chunks[i].status.
 * Mixed, with own_streams each chunk is the only one of its stream (lmz_compress_many):
 * the adaptive models start afresh for each. */
lmz_status lm_encode_chunks(lmz_ctx *ctx, const lmz_level_settings *w, lm_chunk *chunks,
                            size_t n, int own_streams);
/* Mixed streams: the LM pass alone (the chunks' tokens and mixrec, for lm_mix_encode);
 * tools replay the mixing from it. */
lmz_status lm_record_chunks(lmz_ctx *ctx, const lmz_level_settings *w, lm_chunk *chunks,
                            size_t n);
/* Decoding: called on the caller's thread, in chunk order, for each chunk as soon as it
 * and every chunk before it are done (so output can stream); non-zero stops the call
 * (which then fails with LMZ_ERR_IO: the callback keeps its own reason). */
typedef int (*lm_ready_fn)(void *user, size_t index);
/* own_streams as for lm_encode_chunks: mixed, each lane then decodes with models of its
 * own (at most a few hundred MiB of them: lm_coder.c), and the chunks are decoded in
 * any order, each on one thread. */
lmz_status lm_decode_chunks(lmz_ctx *ctx, const lmz_level_settings *w, lm_chunk *chunks,
                            size_t n, int own_streams, lm_ready_fn ready, void *ready_user);

#endif
