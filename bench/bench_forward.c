/*
 * bench_forward.c -- tokens per second of the forward pass alone (logits for every
 * token), best of REPS runs:
 *   bench_forward MODEL.gguf N_TOKENS BATCH THREADS SIMD [REPS]
 * SIMD: 0 auto, 1 scalar, 2 avx2, 3 avx512, 4 neon.  BATCH 1 is the decoder's case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "model/model.h"
#include "kernels/kernels.h"

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(int argc, char **argv)
{
    if (argc < 6) return 2;
    lmz_error err;
    double t0 = now();
    lmz_model *m = lmz_model_open(argv[1], &err);
    if (!m) { fprintf(stderr, "%s\n", err.message); return 1; }
    double tl = now() - t0;
    uint32_t n = atoi(argv[2]), batch = atoi(argv[3]);
    int threads = atoi(argv[4]), simd = atoi(argv[5]), reps = argc > 6 ? atoi(argv[6]) : 3;
    char e[256];
    forward_ctx *f = fwd_new(m, n, 1, batch, threads, (lmz_simd)simd, e, sizeof e);
    if (!f) { fprintf(stderr, "%s\n", e); return 1; }
    uint32_t nv = m->hp.n_vocab;
    float *lg = malloc((size_t)batch * nv * 4);
    int32_t *tok = malloc(n * 4);
    uint32_t *seq = calloc(batch, 4);
    for (uint32_t i = 0; i < n; i++) tok[i] = (i * 7919) % nv;
    double best = 1e9, bestc = 1e9;
    for (int r = 0; r < reps; r++) {
        fwd_reset(f, 0);
        double a = now(), c = cpu();
        for (uint32_t i = 0; i < n; i += batch) {
            uint32_t k = n - i < batch ? n - i : batch;
            if (fwd_eval(f, tok + i, seq, k, lg)) { fprintf(stderr, "eval failed\n"); return 1; }
        }
        double d = now() - a, dc = cpu() - c;
        if (d < best) best = d;
        if (dc < bestc) bestc = dc;
    }
    /* Floating-point work per token: 2 per multiply-add of every matrix (the head
     * included), plus the attention's scores and weighted sum over the positions seen
     * (n/2 on average). */
    const lmz_hparams *hp = &m->hp;
    double qkvo = (double)hp->n_embd * hp->head_dim * (2.0 * hp->n_head + 2.0 * hp->n_head_kv);
    double ffn = 3.0 * hp->n_embd * hp->n_ff;
    double attn = 2.0 * hp->n_head * hp->head_dim * (n / 2.0);
    double flops = 2.0 * (hp->n_layer * (qkvo + ffn + attn) + (double)hp->n_vocab * hp->n_embd);
    printf("%s: load %.2fs; %u tokens batch %u threads %d simd %s: %.1f tok/s wall (best of %d), %.1f tok/CPU-s, %.1f GFLOP/s; checksum %a\n",
           m->name, tl, n, batch, threads, lmz_simd_path_name(fwd_simd(f)), n / best, reps, n / bestc,
           flops * n / best * 1e-9, (double)lg[0]);
    fwd_free(f);
    lmz_model_close(m);
    return 0;
}
