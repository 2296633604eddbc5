/*
 * c_logits.c -- the C inference's logits for a token sequence, for comparison with
 * PyTorch (tools/gpu/check_torch_vs_c.sh):
 *
 *   c_logits MODEL.gguf TOKENS.u32 OUT.f32 [THREADS]
 *
 * Feeds the tokens as one sequence from position 0 (no BOS added: the caller's
 * sequence is used as is), in batches of up to 64 tokens, and writes the float32
 * logits of every position (n_tokens x n_vocab, little-endian) as fwd_eval returns
 * them.  Built against liblmz.a and the internal model header by the check script.
 */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/kernels.h"
#include "model/model.h"

enum { BATCH = 64 };

static int32_t *read_tokens(const char *path, uint32_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    int32_t *t = size > 0 && size % 4 == 0 ? malloc((size_t)size) : NULL;
    if (t && fread(t, 4, (size_t)size / 4, f) != (size_t)size / 4) {
        free(t);
        t = NULL;
    }
    fclose(f);
    *n = t ? (uint32_t)(size / 4) : 0;
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: c_logits MODEL.gguf TOKENS.u32 OUT.f32 [THREADS]\n");
        return 2;
    }
    lmz_error err;
    lmz_model *m = lmz_model_open(argv[1], &err);
    if (!m) {
        fprintf(stderr, "c_logits: %s: %s\n", argv[1], err.message);
        return 1;
    }
    uint32_t n, nv = m->hp.n_vocab;
    int32_t *tok = read_tokens(argv[2], &n);
    if (!tok) {
        fprintf(stderr, "c_logits: cannot read tokens from %s\n", argv[2]);
        return 1;
    }
    char e[256];
    forward_ctx *f = fwd_new(m, n, 1, BATCH, argc > 4 ? atoi(argv[4]) : 1, LMZ_SIMD_AUTO, e, sizeof e);
    float *logits = malloc((size_t)n * nv * sizeof *logits);
    uint32_t seq[BATCH] = {0};
    if (!f || !logits) {
        fprintf(stderr, "c_logits: %s\n", f ? "out of memory" : e);
        return 1;
    }
    for (uint32_t i = 0; i < n; i += BATCH) {
        uint32_t k = n - i < BATCH ? n - i : BATCH;
        if (fwd_eval(f, tok + i, seq, k, logits + (size_t)i * nv)) {
            fprintf(stderr, "c_logits: evaluation failed at token %u (id outside the vocabulary, "
                    "or beyond the context?)\n", i);
            return 1;
        }
    }
    FILE *o = fopen(argv[3], "wb");
    if (!o || fwrite(logits, sizeof *logits, (size_t)n * nv, o) != (size_t)n * nv || fclose(o)) {
        fprintf(stderr, "c_logits: cannot write %s\n", argv[3]);
        return 1;
    }
    fprintf(stderr, "c_logits: %s (%s, vocab %u, simd %s): %u positions -> %s\n", argv[1], m->name, nv,
            lmz_simd_path_name(fwd_simd(f)), n, argv[3]);
    fwd_free(f);
    free(logits);
    free(tok);
    lmz_model_close(m);
    return 0;
}
