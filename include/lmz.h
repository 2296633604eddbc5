/*
 * lmz.h -- the public API of liblmz, lossless text compression with a transformer
 * language model.
 *
 * Objects:
 *   lmz_model  a loaded GGUF model (weights + tokenizer).  Read-only once loaded: one
 *              model may be shared by any number of contexts in any number of threads.
 *   lmz_ctx    a compression/decompression context: parameters, thread pool, scratch
 *              buffers and the last error message.  One thread uses a context at a time.
 *
 * There is no global state: two contexts never share anything but a model.
 *
 * Output is deterministic: the same input, model and parameters give the same bytes on
 * any machine, SIMD path and thread count, and any build decodes any other's output.
 */
#ifndef LMZ_H
#define LMZ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What liblmz.so exports: the library is built with -fvisibility=hidden, so only the
 * declarations marked here are reachable from outside (tests/test_exports.sh checks). */
#if defined(__GNUC__) || defined(__clang__)
#define LMZ_API __attribute__((visibility("default")))
#else
#define LMZ_API
#endif

#define LMZ_VERSION_MAJOR 0
#define LMZ_VERSION_MINOR 1
#define LMZ_VERSION_PATCH 0
#define LMZ_VERSION_STRING "0.1.0"

/* The library's version at run time (LMZ_VERSION_STRING is the header's). */
LMZ_API const char *lmz_version_string(void);

typedef enum lmz_status {
    LMZ_OK = 0,
    LMZ_ERR_ARG,            /* invalid argument or parameter */
    LMZ_ERR_NOMEM,          /* out of memory */
    LMZ_ERR_IO,             /* read or write failed (errno is in the message) */
    LMZ_ERR_MODEL,          /* model file missing, corrupt or unsupported */
    LMZ_ERR_NOT_LMZ,        /* input is not an .lmz stream (bad magic) */
    LMZ_ERR_VERSION,        /* .lmz stream of a format version this build cannot read */
    LMZ_ERR_CORRUPT,        /* .lmz stream damaged: bad field, truncated, checksum mismatch */
    LMZ_ERR_MODEL_MISMATCH, /* stream was made with another model/tokenizer/adapter */
    LMZ_ERR_INTERRUPTED     /* a callback asked to stop */
} lmz_status;

/* A short fixed description of a status code. */
LMZ_API const char *lmz_status_string(lmz_status status);

/* Detailed error report for functions that have no context yet. */
typedef struct lmz_error {
    lmz_status status;
    char message[512];
} lmz_error;

/* ---------------------------------------------------------------- models */

typedef struct lmz_model lmz_model;

/* Open a GGUF model file (memory-mapped).  On failure returns NULL and fills *err
 * (err may be NULL). */
LMZ_API lmz_model *lmz_model_open(const char *path, lmz_error *err);

/* Load a GGUF model from memory; the bytes must outlive the model. */
LMZ_API lmz_model *lmz_model_from_memory(const void *data, size_t size, lmz_error *err);

/* The models built into this library (models/README.md): the default level's, or one
 * by name; NULL (with *err filled) if it was not built in.  lmz_builtin_model_name
 * gives their names, index 0 up, and NULL past the last. */
LMZ_API lmz_model *lmz_model_default(lmz_error *err);
LMZ_API lmz_model *lmz_model_builtin(const char *name, lmz_error *err);
LMZ_API const char *lmz_builtin_model_name(int index);

LMZ_API void lmz_model_close(lmz_model *model);

typedef struct lmz_model_info {
    char name[128];           /* general.name, or the file name */
    char arch[32];            /* llama, qwen2, qwen3 */
    uint8_t model_hash[16];   /* identity of weights + hyperparameters */
    uint8_t tokenizer_hash[16];
    uint32_t n_vocab, n_layer, n_embd, n_head, n_head_kv, n_ff, n_ctx_train;
    uint64_t n_params;
} lmz_model_info;

LMZ_API void lmz_model_get_info(const lmz_model *model, lmz_model_info *info);

/* ---------------------------------------------------------------- adapters */

/* A LoRA adapter in llama.cpp's GGUF convention (general.type "adapter", adapter.type
 * "lora", adapter.lora.alpha, tensors blk.N.<weight>.weight.lora_a / .lora_b), as
 * `lmz --train` writes and llama.cpp loads.  Applied as llama.cpp does:
 * y = W x + alpha/r * B (A x), deterministically like the model itself. */
typedef struct lmz_adapter lmz_adapter;

LMZ_API lmz_adapter *lmz_adapter_open(const char *path, lmz_error *err);
LMZ_API lmz_adapter *lmz_adapter_from_memory(const void *data, size_t size, lmz_error *err);
LMZ_API void lmz_adapter_close(lmz_adapter *adapter);

typedef struct lmz_adapter_info {
    char name[64];             /* general.name, or the file name without .lora.gguf */
    char arch[32];             /* the architecture it adapts */
    uint8_t adapter_hash[16];  /* identity of its weights and alpha */
    int has_base_model_hash;   /* lmz's adapters record the model they were trained on */
    uint8_t base_model_hash[16];
    float alpha;
    uint32_t rank;             /* the largest rank of its matrices */
    uint32_t n_layers;         /* 1 + the highest layer it adapts */
    uint32_t n_matrices;       /* weight matrices adapted */
    uint64_t n_params;
} lmz_adapter_info;

LMZ_API void lmz_adapter_get_info(const lmz_adapter *adapter, lmz_adapter_info *info);

/* LMZ_OK if the adapter fits the model (its recorded base model, architecture, layers
 * and every matrix shape); else LMZ_ERR_MODEL_MISMATCH with the reason. */
LMZ_API lmz_status lmz_adapter_check(const lmz_adapter *adapter, const lmz_model *model,
                             lmz_error *err);

/* ---------------------------------------------------------------- contexts */

typedef enum lmz_simd {
    LMZ_SIMD_AUTO = 0, /* best the CPU has; the LMZ_SIMD environment variable overrides */
    LMZ_SIMD_SCALAR,
    LMZ_SIMD_AVX2,
    LMZ_SIMD_AVX512,
    LMZ_SIMD_NEON      /* AArch64 Advanced SIMD */
} lmz_simd;

/* Progress callback: bytes of input consumed and output produced so far.  Return
 * non-zero to interrupt (the call then returns LMZ_ERR_INTERRUPTED).  It is called only
 * from the thread that called the library.  Neither count goes down within a call.
 * Compressing, out_bytes includes an estimate for the chunks being coded (what the
 * model alone would spend), so it can run a little ahead of the bytes written. */
typedef int (*lmz_progress_fn)(void *user, uint64_t in_bytes, uint64_t out_bytes);

#define LMZ_THREADS_MAX 256   /* lmz_params.threads at most */

typedef struct lmz_params {
    int level;             /* 1..9; 0 = default */
    int threads;           /* worker threads; 0 = 1 */
    uint32_t chunk_size;   /* bytes of input per independent chunk; 0 = from level */
    uint32_t context;      /* model context in tokens; 0 = from level / model */
    lmz_simd simd;
    int no_names;          /* store no model or adapter name in the stream (their ids
                              identify them; messages then show the ids): 7 to 130
                              bytes less per stream, for many short streams */
    int lm_always;         /* code every chunk with the model even where zstd or raw
                              would be smaller (for tests and measurements) */
    int no_mix;            /* code with the model's probabilities alone, without the
                              adaptive models of the stream (doc/format.md 6.5): every
                              chunk decodes on its own, for about 10-50% more bytes */
    int no_compact;        /* write a content of one chunk (or none) in the full layout
                              too, not the compact one (doc/format.md 11): ~50 bytes
                              more, for a stream `lmz -l` can verify without the model */
    int mix_version;       /* the mixed coding to write (doc/format.md 6.5): 0 = the
                              newest (3); 1 = the first, which lmz before the version
                              field reads; 2 = the second (1-3% larger on long files) */
    lmz_progress_fn progress;
    void *progress_user;
} lmz_params;

LMZ_API void lmz_params_default(lmz_params *params);

typedef struct lmz_ctx lmz_ctx;

/* model must outlive the context.  Returns NULL on failure with *err filled. */
LMZ_API lmz_ctx *lmz_ctx_new(const lmz_model *model, const lmz_params *params, lmz_error *err);

/* A context that uses the built-in models: compressing, the model of params->level
 * (the fast levels a small model, the strongest a larger one); decompressing, the
 * built-in model that made each stream, whatever its level. */
LMZ_API lmz_ctx *lmz_ctx_new_builtin(const lmz_params *params, lmz_error *err);
LMZ_API void lmz_ctx_free(lmz_ctx *ctx);

/* The adapters a context may use; they must outlive it (n = 0: none).
 *   Compressing: with route = 0 every stream uses adapters[0]; with route = 1 each
 *   stream uses whichever of "no adapter" and the adapters fitting the model codes its
 *   opening bytes in the fewest bits (ties: the earlier; no adapter first).  The
 *   stream records the adapter's identity and name.
 *   Decompressing: each stream's adapter is found among them by identity; a stream
 *   whose adapter is not there fails with LMZ_ERR_MODEL_MISMATCH naming it.
 * LMZ_ERR_MODEL_MISMATCH if route = 0 and adapters[0] does not fit the context's model
 * (built-in mode: the model of its level). */
LMZ_API lmz_status lmz_ctx_set_adapters(lmz_ctx *ctx, const lmz_adapter *const *adapters, size_t n,
                                int route);

/* The message of the last failed call on this context ("" if none). */
LMZ_API const char *lmz_ctx_error(const lmz_ctx *ctx);

/* After a decompression that failed with LMZ_ERR_CORRUPT only because the input goes on
 * after its last complete stream with bytes that do not start another one (every
 * stream before them decoded, checked and written): the input offset of those bytes
 * plus 1.  0 otherwise.  gzip decodes such files with a warning; lmz -d does too. */
LMZ_API uint64_t lmz_ctx_trailing_data(const lmz_ctx *ctx);

/* The SIMD path this context actually uses. */
LMZ_API lmz_simd lmz_ctx_simd(const lmz_ctx *ctx);
LMZ_API const char *lmz_simd_name(lmz_simd simd);

/* ---------------------------------------------------------------- many short texts */

/* Compress n independent texts, each into its own stream (out[i], malloc'd, of
 * out_size[i] bytes), byte for byte what lmz_compress_buffer gives for that text alone.
 * Texts of one chunk are coded side by side, as lanes of one forward pass, which is
 * what makes many short texts (a row per message) fast; longer ones one after another.
 * With routing among several adapters (lmz_ctx_set_adapters, route) the texts are
 * coded one by one, each with its own choice.  On failure every out[i] is NULL and the
 * message (lmz_ctx_error) names the text. */
LMZ_API lmz_status lmz_compress_many(lmz_ctx *ctx, size_t n, const void *const *src,
                                     const size_t *src_size, void **out, size_t *out_size);

/* Decompress n independent streams (each a whole .lmz stream, or several concatenated)
 * into out[i] (malloc'd, out_size[i] bytes).  Compact streams of one LM chunk (what
 * lmz_compress_many writes for short texts) that share a model and level are decoded
 * side by side, as lanes of one forward pass, each lane with adaptive models of its own
 * (53 MiB a lane, 256 MiB at most in all); the others one after another.  status, when
 * not NULL, gets each one's result, and out[i] is NULL for one that failed; the call
 * returns LMZ_OK when all decoded, else the first failure's status (its message names
 * the stream, and says what lmz_decompress_buffer would of it alone).  Without status,
 * the call stops at the first failure and every out[i] is NULL. */
LMZ_API lmz_status lmz_decompress_many(lmz_ctx *ctx, size_t n, const void *const *src,
                                       const size_t *src_size, void **out, size_t *out_size,
                                       lmz_status *status);

/* ---------------------------------------------------------------- streams */

/* Read up to n bytes into buf.  Returns the number read (0 at end of input) or -1 on
 * error (the callee may leave a message in errno). */
typedef long long (*lmz_read_fn)(void *user, void *buf, size_t n);
/* Write exactly n bytes.  Returns 0, or -1 on error. */
typedef int (*lmz_write_fn)(void *user, const void *buf, size_t n);

/* Compress everything `read` yields into a complete .lmz stream.  Memory is bounded by
 * the chunk size and thread count, not by the input size. */
LMZ_API lmz_status lmz_compress_stream(lmz_ctx *ctx, lmz_read_fn read, void *read_user,
                               lmz_write_fn write, void *write_user);

/* Decompress an .lmz input: one stream, or several back to back (decoded in turn, like
 * gzip members).  Every chunk's checksum and the content checksum are verified; write
 * may be NULL to only test.  Nothing written before an error is valid.  It never reads
 * past the end of the last stream's End record. */
LMZ_API lmz_status lmz_decompress_stream(lmz_ctx *ctx, lmz_read_fn read, void *read_user,
                                 lmz_write_fn write, void *write_user);

/* ---------------------------------------------------------------- buffers */

/* Compress src[0..n) into a buffer allocated with malloc; the caller frees *dst. */
LMZ_API lmz_status lmz_compress_buffer(lmz_ctx *ctx, const void *src, size_t n,
                               void **dst, size_t *dst_n);
LMZ_API lmz_status lmz_decompress_buffer(lmz_ctx *ctx, const void *src, size_t n,
                                 void **dst, size_t *dst_n);

/* ---------------------------------------------------------------- listing */

/* A stream records the first 8 bytes of the model, tokenizer and adapter identities;
 * lmz_stream_info's 16-byte fields hold those 8 bytes followed by zeros. */
#define LMZ_STREAM_ID_SIZE 8

typedef struct lmz_stream_info {
    uint32_t format_version;
    uint32_t level;
    uint32_t chunk_size;
    uint32_t context;
    char model_name[128];
    uint8_t model_hash[16];
    uint8_t tokenizer_hash[16];
    uint8_t adapter_hash[16];      /* all zero: no adapter */
    char adapter_name[64];         /* "" when none is stored */
    uint64_t original_size;
    uint64_t compressed_size;
    uint64_t n_chunks;
    uint64_t n_chunks_lm, n_chunks_zstd, n_chunks_raw;
    uint64_t n_tokens;
} lmz_stream_info;

/* Read headers and chunk records without decoding (no model needed). */
LMZ_API lmz_status lmz_stream_list(lmz_read_fn read, void *read_user, lmz_stream_info *info,
                           lmz_error *err);

#ifdef __cplusplus
}
#endif
#endif /* LMZ_H */
