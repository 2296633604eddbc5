/*
 * fuzz_model.c -- libFuzzer harness for the model loader: a hostile GGUF model file.
 *
 * The input is handed to lmz_model_from_memory (GGUF parse, hyperparameters, tensor
 * shapes and types, tokenizer).  A model it accepts must then work: a short fixed text
 * is compressed with the model forced on every chunk (forward pass, quantizer, range
 * coder, tokenizer; a small context so the window slides) and must decompress to the
 * same bytes -- whatever the weights hold, NaN and infinities included.
 * Invariants (a broken one aborts): a refused model has a message; an accepted one has
 * sane info and round-trips the text (only running out of memory may stop it).
 * Seeds: fuzz/corpus/model/ (tiny llama/qwen2/qwen3 models, F32/F16/BF16/Q8_0, BPE and
 * SPM tokenizers; fuzz/make_seeds.sh) and the models of tests/fixtures/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmz.h"
#include "../fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char text[] =
    "The model predicts each next token; a range coder spends -log2 p bits on it.\n"
    "Ünïcödé, digits 12345, tabs\tand \xff invalid bytes.\n";

static void roundtrip(lmz_model *model, const lmz_model_info *info)
{
    lmz_params params;
    lmz_params_default(&params);
    params.threads = 1;
    params.lm_always = 1;
    /* the window slides several times; contexts beyond the model's are refused */
    params.context = info->n_ctx_train >= 2 && info->n_ctx_train < 8 ? info->n_ctx_train : 8;
    params.chunk_size = 64;     /* two chunks, coded side by side */
    lmz_error err = { LMZ_OK, "" };
    lmz_ctx *ctx = lmz_ctx_new(model, &params, &err);
    if (!ctx) {
        if (err.status == LMZ_ERR_NOMEM) return;
        fuzz_die("lmz_ctx_new refuses a loaded model: %s", err.message);
    }
    void *packed = NULL, *back = NULL;
    size_t packed_n = 0, back_n = 0;
    lmz_status st = lmz_compress_buffer(ctx, text, sizeof text - 1, &packed, &packed_n);
    if (st == LMZ_OK) st = lmz_decompress_buffer(ctx, packed, packed_n, &back, &back_n);
    if (st != LMZ_OK && st != LMZ_ERR_NOMEM)
        fuzz_die("a loaded model fails to round-trip: %s: %s", lmz_status_string(st),
                 lmz_ctx_error(ctx));
    if (st == LMZ_OK && (back_n != sizeof text - 1 || memcmp(back, text, back_n) != 0))
        fuzz_die("round trip through a loaded model changed the text");
    free(packed);
    free(back);
    lmz_ctx_free(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lmz_error err = { LMZ_OK, "" };
    lmz_model *model = lmz_model_from_memory(data, size, &err);
    if (!model) {
        if (err.status == LMZ_OK || !err.message[0])
            fuzz_die("refused model without a status and message");
        return 0;
    }
    lmz_model_info info;
    lmz_model_get_info(model, &info);
    if (info.n_vocab == 0 || info.n_layer == 0 || info.n_embd == 0 || info.n_head == 0 ||
        info.n_head_kv == 0 || info.n_head % info.n_head_kv != 0 ||
        memchr(info.name, 0, sizeof info.name) == NULL ||
        memchr(info.arch, 0, sizeof info.arch) == NULL)
        fuzz_die("loaded model with inconsistent info: vocab %u, layers %u, embd %u, "
                 "heads %u/%u", info.n_vocab, info.n_layer, info.n_embd, info.n_head,
                 info.n_head_kv);
    roundtrip(model, &info);
    lmz_model_close(model);
    return 0;
}
