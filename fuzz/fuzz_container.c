/*
 * fuzz_container.c -- libFuzzer harness for the .lmz decoder.
 *
 * Each input goes to lmz_stream_list (no model; fed through a reader that hands out
 * small odd-sized pieces, so the reader's buffering is exercised too) and to
 * lmz_decompress_buffer with a tiny fixture model (tests/fixtures/ref/, loaded once;
 * LMZ_FUZZ_MODEL and LMZ_FUZZ_MODEL2 override the paths).  Streams of the second model
 * (the SentencePiece one) are decoded with it, so both tokenizer kinds' LM decoding is
 * reached.
 *
 * Structure-aware: LLVMFuzzerCustomMutator repairs the XXH32 checks after libFuzzer's
 * mutation (container_fixup.h) for 7 mutations in 8, so mutated streams get past the
 * checks into the field limits, the zstd decoder and the LM decoder; the 8th keeps the
 * check-mismatch paths covered.  Seeds: fuzz/corpus/container/ (fuzz/make_seeds.sh).
 *
 * Invariants (a broken one aborts: it is a bug):
 *   - every failure has a status of the API and a message;
 *   - a stream that decodes is one the lister accepts, with the listed content size,
 *     and the listing covers the whole input;
 *   - both agree on "not an lmz stream", and a version the decoder refuses, the lister
 *     refuses too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmz.h"
#include "../fuzz/container_fixup.h"
#include "../fuzz/fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

#define N_MODELS 2
static const char *const model_default[N_MODELS] = {
    "tests/fixtures/ref/llama-gqa-tied-gpt2.gguf",  /* byte-level BPE */
    "tests/fixtures/ref/llama-mqa-spm.gguf",        /* SentencePiece */
};
static const char *const model_env[N_MODELS] = { "LMZ_FUZZ_MODEL", "LMZ_FUZZ_MODEL2" };

/* Loaded once for the whole run; a harness cannot avoid this process-wide state. */
static lmz_model *models[N_MODELS];
static lmz_ctx *ctxs[N_MODELS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (int i = 0; i < N_MODELS; i++) {
        char buf[4096];
        const char *path = getenv(model_env[i]);
        if (!path || !*path) path = fuzz_repo_path(model_default[i], buf, sizeof buf);
        lmz_error err = { LMZ_OK, "" };
        models[i] = lmz_model_open(path, &err);
        if (!models[i]) {
            fprintf(stderr, "fuzz_container: cannot load %s: %s\n(run from the repository "
                    "root, or set LMZ_FUZZ_ROOT or %s)\n", path, err.message, model_env[i]);
            exit(1);
        }
        lmz_params params;
        lmz_params_default(&params);
        params.threads = 1;
        ctxs[i] = lmz_ctx_new(models[i], &params, &err);
        if (!ctxs[i]) {
            fprintf(stderr, "fuzz_container: lmz_ctx_new: %s\n", err.message);
            exit(1);
        }
    }
    return 0;
}

/* A reader over the input that returns 1..13 bytes per call. */
typedef struct piece_reader {
    const uint8_t *data;
    size_t size, pos;
    unsigned step;
} piece_reader;

static long long piece_read(void *user, void *buf, size_t n)
{
    piece_reader *r = user;
    size_t k = 1 + (r->step++ * 7) % 13;
    if (k > n) k = n;
    if (k > r->size - r->pos) k = r->size - r->pos;
    memcpy(buf, r->data + r->pos, k);
    r->pos += k;
    return (long long)k;
}

static int is_status(lmz_status st)
{
    return st >= LMZ_OK && st <= LMZ_ERR_INTERRUPTED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lmz_stream_info info;
    lmz_error err = { LMZ_OK, "" };
    piece_reader reader = { data, size, 0, 0 };
    lmz_status listed = lmz_stream_list(piece_read, &reader, &info, &err);
    if (!is_status(listed) || (listed != LMZ_OK && !err.message[0]))
        fuzz_die("lmz_stream_list: status %d without a message", (int)listed);
    if (listed == LMZ_OK &&
        (info.compressed_size != size ||
         info.n_chunks != info.n_chunks_lm + info.n_chunks_zstd + info.n_chunks_raw))
        fuzz_die("listing inconsistent: %llu of %zu bytes, %llu chunks",
                 (unsigned long long)info.compressed_size, size,
                 (unsigned long long)info.n_chunks);

    lmz_status st = LMZ_ERR_MODEL_MISMATCH;
    void *out = NULL;
    size_t out_n = 0;
    lmz_ctx *ctx = NULL;
    for (int i = 0; i < N_MODELS && st == LMZ_ERR_MODEL_MISMATCH; i++) {
        ctx = ctxs[i];
        st = lmz_decompress_buffer(ctx, data, size, &out, &out_n);
    }
    if (!is_status(st) || (st != LMZ_OK && (!lmz_ctx_error(ctx)[0] || out)))
        fuzz_die("lmz_decompress_buffer: status %d, message \"%s\", output %p", (int)st,
                 lmz_ctx_error(ctx), out);
    if (st == LMZ_OK && (listed != LMZ_OK || !out || out_n != info.original_size))
        fuzz_die("decoded %zu bytes that the lister rejects (%s) or sizes at %llu", out_n,
                 err.message, (unsigned long long)info.original_size);
    /* The decoder may stop earlier than the lister (a raw_check only it verifies), never
     * later: a header the decoder found unsupported, the lister found so too. */
    if ((listed == LMZ_ERR_NOT_LMZ) != (st == LMZ_ERR_NOT_LMZ) ||
        (st == LMZ_ERR_VERSION && listed != LMZ_ERR_VERSION))
        fuzz_die("lister says %s (%s), decoder says %s (%s)", lmz_status_string(listed),
                 err.message, lmz_status_string(st), lmz_ctx_error(ctx));
    free(out);
    return 0;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed)
{
    size = LLVMFuzzerMutate(data, size, max_size);
    if (seed % 8 != 0) fixup_container(data, size);
    return size;
}
