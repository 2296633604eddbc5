/*
 * ref_logp.h -- reading the llama.cpp reference fixtures (tests/fixtures/ref/README.md)
 * and comparing our logits with them.
 */
#ifndef LMZ_TESTS_REF_LOGP_H
#define LMZ_TESTS_REF_LOGP_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* n little-endian uint32 token ids from path (fails the running test otherwise). */
int32_t *ref_read_tokens(const char *path, uint32_t n);
/* n_tokens x n_vocab float32 log p from a zstd frame (fails the running test otherwise). */
float *ref_read_logp(const char *path, uint32_t n_tokens, uint32_t n_vocab);

/* The logits of tok[0..n) evaluated as one sequence in batches of `batch`, with the
 * adapter unless it is NULL; every job goes through the thread pool (results never
 * depend on that).  malloc'd, n x n_vocab. */
float *ref_run_tokens(const lmz_model *m, const lmz_adapter *adapter, const int32_t *tok,
                      uint32_t n, uint32_t batch, int threads, lmz_simd simd);

/* max over positions and vocabulary of |log_softmax(logits) - ref| (log_softmax in
 * double; entries where llama.cpp's probability underflowed are skipped), and in
 * *argmax_same the positions whose argmax agrees. */
double ref_logp_max_diff(const float *logits, const float *ref, uint32_t n_tokens,
                         uint32_t n_vocab, uint32_t *argmax_same);

#endif
