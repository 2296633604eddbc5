/*
 * internal.h -- what the pieces of liblmz's pipeline share: the context object, error
 * reporting and the level table.
 */
#ifndef LMZ_LIB_INTERNAL_H
#define LMZ_LIB_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>
#include "lmz.h"
#include "coder/cm.h"
#include "util/error.h"

/* What a level decides.  Recorded in the stream header, so decoding never consults the
 * table: changing it changes only what new files use. */
typedef struct lmz_level_settings {
    uint32_t chunk_size;   /* bytes of input per independent chunk */
    uint32_t context;      /* model context window in tokens */
    uint32_t keep;         /* tokens retained when the window slides */
    uint32_t lanes;        /* chunks each run of the LM coder codes side by side, in one
                            * batched forward pass (lm_coder.c) */
    int kv_f16;            /* the KV cache holds F16 (the stream's flag KV_F16) */
} lmz_level_settings;

#define LMZ_LEVEL_MIN 1
#define LMZ_LEVEL_MAX 9
#define LMZ_LEVEL_DEFAULT 5
#define LMZ_MAX_CHUNK_SIZE (1u << 30)   /* the format's limit on a chunk's bytes */

/* The built-in models (builtin_models.c), by what they are; models/README.md. */
typedef enum lmz_builtin {
    LMZ_BUILTIN_S2,      /* 5.5M parameters: the fast and default levels */
    LMZ_BUILTIN_M1,      /* 29.4M parameters: the strongest levels */
    LMZ_BUILTIN_T1,      /* 0.6M parameters: the fastest level */
    LMZ_BUILTIN_COUNT
} lmz_builtin;

/* The built-in models as a context reaches them: only through these pointers, so that
 * a program that never calls lmz_ctx_new_builtin links none of the embedded bytes. */
typedef struct lmz_builtin_set {
    /* Built-in model number `index` (an lmz_builtin), or NULL with *err filled. */
    lmz_model *(*load)(int index, lmz_error *err);
    const char *(*name)(int index);
} lmz_builtin_set;

/* Settings of a level for one given model, clamped to what the model supports (its
 * training context). */
void lmz_level_get(int level, uint32_t n_ctx_train, lmz_level_settings *out);
/* With the built-in models: the model a level uses, and its settings for that model. */
lmz_builtin lmz_level_builtin(int level);
void lmz_level_get_builtin(int level, uint32_t n_ctx_train, lmz_level_settings *out);

struct forward_ctx;

struct lmz_ctx {
    const lmz_model *model;     /* the model in use: the caller's, or a built-in one */
    /* Built-in mode (lmz_ctx_new_builtin): the built-in models, and those loaded so far,
     * owned by the context.  NULL / empty when the caller gave a model. */
    const lmz_builtin_set *builtins;
    lmz_model *builtin[LMZ_BUILTIN_COUNT];
    lmz_params params;
    lmz_level_settings level;   /* from params.level, overridden by explicit params */
    lmz_simd simd;              /* resolved path */
    char error[512];
    uint64_t trailing_at;       /* lmz_ctx_trailing_data */
    /* LoRA adapters (lmz_ctx_set_adapters; the caller's), and the one in use for the
     * current stream (NULL: none). */
    const lmz_adapter **adapters;
    size_t n_adapters;
    int route;
    const lmz_adapter *adapter;
    /* Forward passes, one per run of the LM coder (lm_coder.c), created on first use and
     * kept with the settings they were made for. */
    struct lmz_fwd_slot *fwd;
    uint32_t n_fwd;
    /* Stream totals so far, for the progress callback. */
    uint64_t progress_in, progress_out;
    uint64_t progress_shown;    /* the largest out_bytes reported this call */
    /* Measurement hook for benchmarks: when non-NULL, the LM coder adds the model's
     * cross-entropy of every coded token (in bits, computed in double) here. */
    double *stats_entropy_bits;
    /* Mixed streams (lm_mix.h, doc/format.md 6.5): whether the stream being coded mixes
     * (0 between streams and while routing), its adaptive models, and the vocabulary
     * order of the tokenizer mix_tok, kept while the model stays. */
    int mixing;
    int mix_version;            /* of the stream being coded (cm.h) */
    struct cm_state *mix_cm;
    struct vocab_order *mix_vocab;
    const void *mix_tok;
    /* Decoding many one-chunk streams side by side (lmz_decompress_many): a state of
     * adaptive models per lane, made on first use and kept. */
    struct cm_state **lane_cm;
    uint32_t n_lane_cm;
};

/* Start mixing for a new stream with the context's model: fresh adaptive models of
 * `version` with 2^bucket_bits buckets (cm.h), the model's vocabulary order.
 * LMZ_ERR_NOMEM (with the message) on failure. */
lmz_status lmz__begin_mix(lmz_ctx *ctx, int version, unsigned bucket_bits);

/* The table size of a stream's models: by its version and layout (cm.h). */
static inline unsigned lmz__mix_bucket_bits(int version, int compact)
{
    return version >= 2 && !compact ? CM_BUCKET_BITS_LONG : CM_BUCKET_BITS_SHORT;
}

/* At least n states in ctx->lane_cm (for compact streams: CM_BUCKET_BITS_SHORT).
 * LMZ_ERR_NOMEM (with the message) on failure. */
lmz_status lmz__lane_models(lmz_ctx *ctx, uint32_t n);

/* lmz_ctx_new and lmz_ctx_new_builtin: with `model`, or, when it is NULL, with the
 * built-in models of `builtins`. */
lmz_ctx *lmz__ctx_new(const lmz_model *model, const lmz_builtin_set *builtins,
                      const lmz_params *params, lmz_error *err);

/* In built-in mode, make built-in model `index` the context's model (loading it on
 * first use).  On failure the context keeps its model and holds the message. */
lmz_status lmz__use_builtin(lmz_ctx *ctx, int index);

/* Compressing: choose the stream's adapter (ctx->adapter) for content that opens with
 * `head` (route.c), to be written in the compact layout or not (its cost differs). */
lmz_status lmz__choose_adapter(lmz_ctx *ctx, const uint8_t *head, size_t n, int compact);

/* compress.c: where the encoder ends the chunk that begins buf[0..have) (1..have);
 * `more`: input goes on after it.  After the last newline of the final eighth of a full
 * chunk, and, in mixed streams, early around NUL padding (textdetect.h padding_cut). */
size_t lmz__chunk_end(const lmz_ctx *ctx, const uint8_t *buf, size_t have, int more);

/* compress.c: n texts of one chunk each (at most the level's chunk size and the compact
 * layout's limit), coded side by side, each into its own compact stream (malloc'd
 * out[i]), byte for byte what lmz_compress_stream writes for it alone.  The caller
 * frees out[i] on failure too. */
lmz_status lmz__compress_compact_batch(lmz_ctx *ctx, size_t n, const uint8_t *const *src,
                                       const size_t *size, uint8_t **out, size_t *out_size);

/* decompress.c: streams src[0, n) into out[i] (malloc'd) with status[i] each; compact
 * LM streams with the same model and settings decode side by side (lm_decode_chunks'
 * own_streams), the others with `alone` (lmz_decompress_buffer: the caller's, as
 * buffer.c sits above this file).  Stops before the next stream after a failure when
 * stop_at_failure.  *fail_at: the first failed stream's index (n: none), whose status
 * is returned, and whose message, prefixed with its index, the context holds. */
typedef lmz_status (*lmz__decode_alone_fn)(lmz_ctx *ctx, const void *src, size_t n,
                                           void **dst, size_t *dst_n);
lmz_status lmz__decompress_many(lmz_ctx *ctx, size_t n, const void *const *src,
                                const size_t *src_size, void **out, size_t *out_size,
                                lmz_status *status, int stop_at_failure, size_t *fail_at,
                                lmz__decode_alone_fn alone);

/* Chunks read and coded as one group with `lanes` per thread: four times the lanes of
 * all threads, so that a run that finishes its chunks early takes others rather than
 * waiting for the group's slowest.  Memory is bounded by this many chunks. */
size_t lmz__group_chunks(const lmz_ctx *ctx, uint32_t lanes);

/* The lanes to decode a stream of `level` made by the context's current model with:
 * those its compressor used when the level's built-in model is that model, else the
 * level's generic row. */
uint32_t lmz__stream_lanes(const lmz_ctx *ctx, int level);

/* The largest content the context codes as one chunk in a compact stream (the CLI
 * batches files up to this size with lmz_compress_many). */
uint64_t lmz__level_chunk_size(const lmz_ctx *ctx);

/* Call the progress callback (if any) with in and out, out never below what it was
 * told before in this call (compressing, out is partly an estimate: lm_coder.c).
 * Returns its answer: non-zero to stop. */
int lmz__progress(lmz_ctx *ctx, uint64_t in, uint64_t out);

/* Record an error on the context and return its status. */
lmz_status lmz__fail(lmz_ctx *ctx, lmz_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Get the context's forward pass number `index` (one per run of the LM coder) for
 * `context` tokens, `lanes` sequences, batches of up to max_batch tokens, `threads`
 * threads and an F32 or F16 (kv_f16) KV cache, creating or re-creating it as needed. */
lmz_status lmz__forward(lmz_ctx *ctx, uint32_t index, uint32_t context, uint32_t lanes,
                        uint32_t max_batch, uint32_t threads, int kv_f16,
                        struct forward_ctx **out);

#endif
