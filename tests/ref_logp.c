/*
 * ref_logp.c -- see ref_logp.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

#include "ref_logp.h"

/* A whole file, malloc'd; NULL if it cannot be read. */
static uint8_t *read_whole(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    long n = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    uint8_t *buf = n >= 0 && fseek(fp, 0, SEEK_SET) == 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *size = buf ? (size_t)n : 0;
    return buf;
}

int32_t *ref_read_tokens(const char *path, uint32_t n)
{
    size_t size;
    uint8_t *raw = read_whole(path, &size);
    if (!raw) fail_msg("cannot read %s", path);
    assert_int_equal(size, (size_t)n * 4);
    int32_t *t = malloc(size);
    for (uint32_t i = 0; i < n; i++)
        t[i] = (int32_t)(raw[4 * i] | raw[4 * i + 1] << 8 | raw[4 * i + 2] << 16 |
                         (uint32_t)raw[4 * i + 3] << 24);
    free(raw);
    return t;
}

float *ref_read_logp(const char *path, uint32_t n_tokens, uint32_t n_vocab)
{
    size_t size;
    void *z = read_whole(path, &size);
    if (!z) fail_msg("cannot read %s", path);
    size_t want = (size_t)n_tokens * n_vocab * 4;
    assert_true(ZSTD_getFrameContentSize(z, size) == want);
    float *lp = malloc(want);
    assert_int_equal(ZSTD_decompress(lp, want, z, size), want);
    free(z);
    return lp;
}

float *ref_run_tokens(const lmz_model *m, const lmz_adapter *adapter, const int32_t *tok,
                      uint32_t n, uint32_t batch, int threads, lmz_simd simd)
{
    char err[400];
    forward_ctx *f = fwd_new(m, n, 1, batch, threads, simd, err, sizeof err);
    if (!f) fail_msg("fwd_new: %s", err);
    fwd_set_min_parallel_work(f, 0);
    if (adapter && fwd_set_adapter(f, adapter, err, sizeof err)) fail_msg("%s", err);
    uint32_t nv = m->hp.n_vocab;
    float *logits = malloc((size_t)n * nv * sizeof(float));
    uint32_t *seq = calloc(batch, sizeof *seq);
    for (uint32_t i = 0; i < n; i += batch) {
        uint32_t k = n - i < batch ? n - i : batch;
        assert_int_equal(fwd_eval(f, tok + i, seq, k, logits + (size_t)i * nv), 0);
    }
    assert_int_equal(fwd_seq_len(f, 0), n);
    free(seq);
    fwd_free(f);
    return logits;
}

double ref_logp_max_diff(const float *logits, const float *ref, uint32_t n_tokens,
                         uint32_t nv, uint32_t *argmax_same)
{
    double worst = 0;
    *argmax_same = 0;
    for (uint32_t i = 0; i < n_tokens; i++) {
        const float *z = logits + (size_t)i * nv;
        const float *r = ref + (size_t)i * nv;
        double mx = -INFINITY, sum = 0;
        uint32_t am = 0, ar = 0;
        for (uint32_t v = 0; v < nv; v++) {
            if (z[v] > mx) { mx = z[v]; am = v; }
            if (r[v] > r[ar]) ar = v;
        }
        for (uint32_t v = 0; v < nv; v++) sum += exp((double)z[v] - mx);
        double lse = mx + log(sum);
        for (uint32_t v = 0; v < nv; v++) {
            if (!isfinite(r[v])) continue;     /* llama.cpp probability underflowed to 0 */
            double d = fabs(((double)z[v] - lse) - r[v]);
            if (d > worst) worst = d;
        }
        *argmax_same += am == ar;
    }
    return worst;
}
