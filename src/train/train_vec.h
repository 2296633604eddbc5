/*
 * train_vec.h -- the trainer's row kernels outside the matrix products (cross-entropy,
 * attention softmax forward and backward, RMSNorm backward, SwiGLU backward, AdamW), as a
 * table with a portable version (train_vec.c) and an AVX-512 one (train_vec_avx512.c),
 * picked at run time (tr_exec.v).  Both compute the same formulas; the AVX-512 one sums
 * in 16 lanes (training need not be bit-reproducible across machines).
 */
#ifndef LMZ_TRAIN_VEC_H
#define LMZ_TRAIN_VEC_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

typedef struct tr_adam_args {
    float *p, *m, *v;
    const float *g;
    float lr, b1, b2, eps, wd, scale, bc1, bc2;
} tr_adam_args;

typedef struct tr_vec {
    /* Returns logsumexp(row) - row[target]; when dscale != 0 the row becomes
     * dscale * (softmax(row) - onehot(target)). */
    float (*ce_row)(const lmz_kernels *k, float *row, uint32_t n, uint32_t target,
                    float dscale);
    /* row[0..len) * scale -> softmax; row[len..T) = 0. */
    void (*softmax_row)(const lmz_kernels *k, float *row, uint32_t len, uint32_t T,
                        float scale);
    /* d[u] = p[u] (d[u] - sum_u p d) scale for u < len; d[len..T) = 0. */
    void (*softmax_bwd_row)(float *d, const float *p, uint32_t len, uint32_t T, float scale);
    /* RMSNorm backward, one row: dx += r (dy w - xhat mean(dy w xhat)), xhat = x r. */
    void (*rmsnorm_bwd_row)(float *dx, const float *dy, const float *x, const float *w,
                            float r, uint32_t n);
    /* dw[i] += dy[i] (x[i] r) */
    void (*rmsnorm_dw_row)(float *dw, const float *dy, const float *x, float r, uint32_t n);
    /* e = exp(-g) on entry: du = dout silu(g), e = dout u silu'(g) (the gate's gradient). */
    void (*swiglu_bwd)(float *e, float *du, const float *dout, const float *g, const float *u,
                       uint32_t n);
    /* AdamW over elements [i0, i1) (optimizer.h). */
    void (*adam)(const tr_adam_args *a, size_t i0, size_t i1);
} tr_vec;

extern const tr_vec tr_vec_portable;
extern const tr_vec tr_vec_avx512;

#endif
