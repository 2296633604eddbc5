/*
 * lmz_logp.c -- lmz's own next-token log-probabilities for given token ids, with or
 * without a LoRA adapter: the counterpart of tools/check_lora_llamacpp.sh (llama.cpp's),
 * in the same layout, to compare the two on any model (e.g. models/lmz-s2.gguf and an
 * adapter that `lmz --train` made for it).
 *
 *   lmz_logp [-T THREADS] MODEL.gguf ADAPTER.lora.gguf|- TOKENS.u32 OUT.logp.f32
 *
 * TOKENS.u32: little-endian uint32 token ids, fed as they are (no BOS added), one
 * sequence at positions 0, 1, 2, ... (context = the number of tokens).  ADAPTER "-": no
 * adapter.  Writes OUT: n_tokens x n_vocab little-endian float32, row-major, row i =
 * log P(next token | tokens[0..i]) = log-softmax of lmz's logits, computed in double and
 * rounded to float32 (the layout of tests/fixtures/ref/NAME.logp.f32.zst, uncompressed).
 * Prints the code length of tokens[1..] in bits (from the double values).
 * THREADS: default 1 (the logits do not depend on it); LMZ_SIMD picks the SIMD path.
 *
 * Not part of the library or the Makefile; build it against the release library
 * (`make` first), from the repository root, as tools/compare_lora_llamacpp.sh does:
 *
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Isrc -o /tmp/lmz_logp tools/lmz_logp.c \
 *       build/release/liblmz.a -lzstd -lxxhash -lm -pthread
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmz.h"
#include "model/model.h"

static int32_t *read_tokens(const char *path, uint32_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return NULL;
    }
    int32_t *tok = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    rewind(f);
    if (size <= 0 || size % 4 != 0 || size / 4 > (1L << 20)) {
        fprintf(stderr, "%s: %ld bytes: not 1 .. 2^20 uint32 token ids\n", path, size);
        goto done;
    }
    *n = (uint32_t)(size / 4);
    uint8_t *raw = malloc((size_t)size);
    tok = malloc((size_t)*n * sizeof *tok);
    if (!raw || !tok || fread(raw, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "%s: read failed\n", path);
        free(tok);
        tok = NULL;
    } else {
        for (uint32_t i = 0; i < *n; i++) {
            const uint8_t *p = raw + 4 * (size_t)i;
            uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                         (uint32_t)p[3] << 24;
            if (v > INT32_MAX) {
                fprintf(stderr, "%s: token %u out of range: %u\n", path, i, v);
                free(tok);
                tok = NULL;
                break;
            }
            tok[i] = (int32_t)v;
        }
    }
    free(raw);
done:
    fclose(f);
    return tok;
}

/* little-endian float32, whatever the host */
static int write_f32(FILE *f, const float *v, size_t n)
{
    uint8_t buf[4096];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        buf[k++] = (uint8_t)u;
        buf[k++] = (uint8_t)(u >> 8);
        buf[k++] = (uint8_t)(u >> 16);
        buf[k++] = (uint8_t)(u >> 24);
        if (k == sizeof buf || i + 1 == n) {
            if (fwrite(buf, 1, k, f) != k)
                return -1;
            k = 0;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 1;
    if (argc == 7 && strcmp(argv[1], "-T") == 0) {
        threads = atoi(argv[2]);
        argv += 2;
        argc -= 2;
    }
    if (argc != 5 || threads < 1) {
        fprintf(stderr, "usage: %s [-T THREADS] MODEL.gguf ADAPTER.lora.gguf|- TOKENS.u32 "
                        "OUT.logp.f32\n", argv[0]);
        return 2;
    }
    const char *model_path = argv[1], *adapter_path = argv[2], *tokens_path = argv[3],
               *out_path = argv[4];
    int use_adapter = strcmp(adapter_path, "-") != 0;

    lmz_error err = {0};
    lmz_model *m = lmz_model_open(model_path, &err);
    if (!m) {
        fprintf(stderr, "%s: %s\n", model_path, err.message);
        return 1;
    }
    lmz_adapter *a = NULL;
    if (use_adapter) {
        a = lmz_adapter_open(adapter_path, &err);
        if (!a) {
            fprintf(stderr, "%s: %s\n", adapter_path, err.message);
            return 1;
        }
        if (lmz_adapter_check(a, m, &err) != LMZ_OK) {
            fprintf(stderr, "%s: %s\n", adapter_path, err.message);
            return 1;
        }
    }
    uint32_t n = 0;
    int32_t *tok = read_tokens(tokens_path, &n);
    if (!tok)
        return 1;
    const uint32_t nv = m->hp.n_vocab;
    for (uint32_t i = 0; i < n; i++) {
        if ((uint32_t)tok[i] >= nv) {
            fprintf(stderr, "%s: token %u = %d is outside the vocabulary (%u)\n", tokens_path, i,
                    tok[i], nv);
            return 1;
        }
    }

    uint32_t batch = n < 512 ? n : 512;
    char msg[512];
    forward_ctx *f = fwd_new(m, n, 1, batch, threads, LMZ_SIMD_AUTO, msg, sizeof msg);
    if (!f) {
        fprintf(stderr, "fwd_new: %s\n", msg);
        return 1;
    }
    if (a && fwd_set_adapter(f, a, msg, sizeof msg)) {
        fprintf(stderr, "%s: %s\n", adapter_path, msg);
        return 1;
    }
    float *logits = malloc((size_t)batch * nv * sizeof *logits);
    float *row = malloc((size_t)nv * sizeof *row);
    uint32_t *seq = calloc(batch, sizeof *seq);
    FILE *out = fopen(out_path, "wb");
    if (!logits || !row || !seq || !out) {
        fprintf(stderr, "%s: %s\n", out ? "out of memory" : out_path, strerror(errno));
        return 1;
    }
    double bits = 0;
    for (uint32_t i = 0; i < n; i += batch) {
        uint32_t k = n - i < batch ? n - i : batch;
        if (fwd_eval(f, tok + i, seq, k, logits) != 0) {
            fprintf(stderr, "fwd_eval failed at token %u\n", i);
            return 1;
        }
        for (uint32_t j = 0; j < k; j++) {
            const float *x = logits + (size_t)j * nv;
            double mx = -INFINITY, sum = 0;
            for (uint32_t v = 0; v < nv; v++)
                mx = x[v] > mx ? x[v] : mx;
            for (uint32_t v = 0; v < nv; v++)
                sum += exp((double)x[v] - mx);
            double lse = mx + log(sum);
            for (uint32_t v = 0; v < nv; v++)
                row[v] = (float)((double)x[v] - lse);
            if (i + j + 1 < n)
                bits -= ((double)x[tok[i + j + 1]] - lse) / log(2.0);
            if (write_f32(out, row, nv)) {
                fprintf(stderr, "%s: write failed\n", out_path);
                return 1;
            }
        }
    }
    if (fclose(out) != 0) {
        fprintf(stderr, "%s: %s\n", out_path, strerror(errno));
        return 1;
    }
    printf("lmz%s%s: %s: %u x %u log p; tokens[1..%u]: %.2f bits (%.3f bits/token)\n",
           a ? " with " : " without adapter", a ? adapter_path : "", out_path, n, nv, n - 1,
           bits, bits / (n > 1 ? n - 1 : 1));
    free(seq);
    free(row);
    free(logits);
    free(tok);
    fwd_free(f);
    lmz_adapter_close(a);
    lmz_model_close(m);
    return 0;
}
