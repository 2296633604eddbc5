/*
 * fuzz_adapter.c -- libFuzzer harness for the LoRA adapter loader: a hostile GGUF
 * adapter file.
 *
 * The input is handed to lmz_adapter_from_memory (GGUF parse, adapter keys, tensor
 * names, pairing, ranks, types).  An accepted adapter must have sane info, and if it fits
 * the fixture model (tests/fixtures/ref/llama-gqa-tied-gpt2.gguf, loaded once) a short
 * text compressed with it must decompress to the same bytes -- whatever its weights
 * hold -- and must fail cleanly, naming the adapter, without it.
 * Seeds: the adapters of tests/fixtures/ref/lora/ (fuzz/run.sh).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmz.h"
#include "../fuzz/fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char text[] = "Adapters change the model's predictions, never the text.\n";
static lmz_model *model;
static lmz_ctx *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char buf[4096];
    const char *path = fuzz_repo_path("tests/fixtures/ref/llama-gqa-tied-gpt2.gguf", buf, sizeof buf);
    lmz_error err = { LMZ_OK, "" };
    model = lmz_model_open(path, &err);
    if (!model) {
        fprintf(stderr, "fuzz_adapter: cannot load %s: %s\n", path, err.message);
        exit(1);
    }
    lmz_params params;
    lmz_params_default(&params);
    params.threads = 1;
    params.lm_always = 1;
    params.context = 8;        /* the window slides */
    ctx = lmz_ctx_new(model, &params, &err);
    if (!ctx) {
        fprintf(stderr, "fuzz_adapter: lmz_ctx_new: %s\n", err.message);
        exit(1);
    }
    return 0;
}

static void roundtrip(const lmz_adapter *a)
{
    const lmz_adapter *list[1] = { a };
    if (lmz_ctx_set_adapters(ctx, list, 1, 0) != LMZ_OK)
        fuzz_die("an adapter that fits is refused: %s", lmz_ctx_error(ctx));
    void *packed = NULL, *back = NULL;
    size_t packed_n = 0, back_n = 0;
    lmz_status st = lmz_compress_buffer(ctx, text, sizeof text - 1, &packed, &packed_n);
    if (st == LMZ_OK) st = lmz_decompress_buffer(ctx, packed, packed_n, &back, &back_n);
    if (st != LMZ_OK && st != LMZ_ERR_NOMEM)
        fuzz_die("an adapter fails to round-trip: %s: %s", lmz_status_string(st),
                 lmz_ctx_error(ctx));
    if (st == LMZ_OK && (back_n != sizeof text - 1 || memcmp(back, text, back_n) != 0))
        fuzz_die("round trip with an adapter changed the text");
    free(back);
    back = NULL;
    if (st == LMZ_OK) {
        lmz_ctx_set_adapters(ctx, NULL, 0, 0);
        st = lmz_decompress_buffer(ctx, packed, packed_n, &back, &back_n);
        if (st != LMZ_ERR_MODEL_MISMATCH || !strstr(lmz_ctx_error(ctx), "adapter"))
            fuzz_die("a stream decoded without its adapter: %s", lmz_status_string(st));
    }
    free(back);
    free(packed);
    lmz_ctx_set_adapters(ctx, NULL, 0, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lmz_error err = { LMZ_OK, "" };
    lmz_adapter *a = lmz_adapter_from_memory(data, size, &err);
    if (!a) {
        if (err.status == LMZ_OK || !err.message[0]) fuzz_die("refused without a message");
        return 0;
    }
    lmz_adapter_info info;
    lmz_adapter_get_info(a, &info);
    if (info.n_matrices == 0 || info.rank == 0 || info.n_layers == 0 ||
        memchr(info.name, 0, sizeof info.name) == NULL || !(info.alpha >= 0))
        fuzz_die("accepted adapter with insane info");
    if (lmz_adapter_check(a, model, &err) == LMZ_OK) roundtrip(a);
    else if (err.status != LMZ_ERR_MODEL_MISMATCH || !err.message[0])
        fuzz_die("lmz_adapter_check failed without a mismatch message");
    lmz_adapter_close(a);
    return 0;
}
