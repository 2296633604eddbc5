/*
 * train_vec.c -- portable row kernels of the trainer (train_vec.h).
 */
#include <math.h>

#include "train/train_vec.h"

static float ce_row(const lmz_kernels *k, float *row, uint32_t n, uint32_t target, float dscale)
{
    float m = -INFINITY;
    for (uint32_t i = 0; i < n; i++) m = row[i] > m ? row[i] : m;
    float t = row[target] - m;
    for (uint32_t i = 0; i < n; i++) row[i] = row[i] - m;
    k->exp_n(row, row, n);
    double sum = 0.0;
    for (uint32_t i = 0; i < n; i++) sum += row[i];
    float loss = (float)(log(sum) - (double)t);
    if (dscale != 0.0f) {
        float f = (float)(dscale / sum);
        for (uint32_t i = 0; i < n; i++) row[i] = row[i] * f;
        row[target] -= dscale;
    }
    return loss;
}

static void softmax_row(const lmz_kernels *k, float *row, uint32_t len, uint32_t T, float scale)
{
    float m = -INFINITY;
    for (uint32_t s = 0; s < len; s++) {
        row[s] = row[s] * scale;
        if (row[s] > m) m = row[s];
    }
    for (uint32_t s = 0; s < len; s++) row[s] = row[s] - m;
    k->exp_n(row, row, len);
    double sum = 0.0;
    for (uint32_t s = 0; s < len; s++) sum += row[s];
    float inv = (float)(1.0 / sum);
    for (uint32_t s = 0; s < len; s++) row[s] = row[s] * inv;
    for (uint32_t s = len; s < T; s++) row[s] = 0.0f;
}

static void softmax_bwd_row(float *d, const float *p, uint32_t len, uint32_t T, float scale)
{
    double dot = 0.0;
    for (uint32_t u = 0; u < len; u++) dot += (double)(p[u] * d[u]);
    float c = (float)dot;
    for (uint32_t u = 0; u < len; u++) d[u] = p[u] * (d[u] - c) * scale;
    for (uint32_t u = len; u < T; u++) d[u] = 0.0f;
}

static void rmsnorm_bwd_row(float *dx, const float *dy, const float *x, const float *w, float r,
                            uint32_t n)
{
    double dot = 0.0;
    for (uint32_t i = 0; i < n; i++) dot += (double)(dy[i] * w[i]) * (x[i] * r);
    float c = (float)(dot / n);
    for (uint32_t i = 0; i < n; i++) dx[i] = dx[i] + r * (dy[i] * w[i] - (x[i] * r) * c);
}

static void rmsnorm_dw_row(float *dw, const float *dy, const float *x, float r, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) dw[i] = dw[i] + dy[i] * (x[i] * r);
}

/* silu(g) = g sig(g);  silu'(g) = sig(g) (1 + g (1 - sig(g))) */
static void swiglu_bwd(float *e, float *du, const float *dout, const float *g, const float *u,
                       uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        float sig = 1.0f / (1.0f + e[i]);
        du[i] = dout[i] * (g[i] * sig);
        e[i] = dout[i] * u[i] * (sig * (1.0f + g[i] * (1.0f - sig)));
    }
}

static void adam(const tr_adam_args *a, size_t i0, size_t i1)
{
    for (size_t i = i0; i < i1; i++) {
        float g = a->g[i] * a->scale;
        float m = a->b1 * a->m[i] + (1.0f - a->b1) * g;
        float v = a->b2 * a->v[i] + (1.0f - a->b2) * g * g;
        a->m[i] = m;
        a->v[i] = v;
        float update = (m / a->bc1) / (sqrtf(v / a->bc2) + a->eps) + a->wd * a->p[i];
        a->p[i] = a->p[i] - a->lr * update;
    }
}

const tr_vec tr_vec_portable = {ce_row, softmax_row, softmax_bwd_row, rmsnorm_bwd_row,
                                rmsnorm_dw_row, swiglu_bwd, adam};
