/*
 * vec_scalar.c -- the reference vector kernels (exp, sum of squares, softmax, SwiGLU,
 * attention-weighted value sum), written as the canonical orders of kernels.h literally.
 */
#include <math.h>

#include "kernels/detmath.h"
#include "kernels/kernels.h"
#include "kernels/f16.h"

#define LANES 16

void lmz_exp_n_scalar(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = lmz_expf(x[i]);
}

/* The fixed tree of the 16-lane sums. */
static float lane_tree(float lane[LANES])
{
    for (uint32_t s = LANES / 2; s >= 1; s /= 2)
        for (uint32_t l = 0; l < s; l++) lane[l] = lane[l] + lane[l + s];
    return lane[0];
}

float lmz_sumsq_scalar(const float *x, uint32_t n)
{
    float lane[LANES] = {0};
    for (uint32_t i = 0; i < n; i++) lane[i % LANES] = fmaf(x[i], x[i], lane[i % LANES]);
    return lane_tree(lane);
}

void lmz_softmax_scalar(float *s, uint32_t n, float scale)
{
    float m = -INFINITY;
    for (uint32_t j = 0; j < n; j++) {
        s[j] = s[j] * scale;
        if (s[j] > m) m = s[j];
    }
    float lane[LANES] = {0};
    for (uint32_t j = 0; j < n; j++) {
        s[j] = lmz_expf(s[j] - m);
        lane[j % LANES] = lane[j % LANES] + s[j];
    }
    float inv = 1.0f / lane_tree(lane);
    for (uint32_t j = 0; j < n; j++) s[j] = s[j] * inv;
}

void lmz_silu_mul_scalar(float *g, const float *u, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) g[i] = lmz_siluf(g[i]) * u[i];
}

/* Value d of row j: f32, or f16 widened (exact). */
static float value_at(const void *v, size_t at, int half)
{
    return half ? lmz_f16_to_f32(((const uint16_t *)v)[at]) : ((const float *)v)[at];
}

static void attn_v(const void *v, int half, uint32_t hd, uint32_t n_pos, const float *p,
                   size_t ldp, uint32_t n_q, float *out, size_t ldo)
{
    for (uint32_t q = 0; q < n_q; q++) {
        float *o = out + q * ldo;
        const float *pq = p + q * ldp;
        for (uint32_t d = 0; d < hd; d++) o[d] = 0.0f;
        for (uint32_t j = 0; j < n_pos; j++)
            for (uint32_t d = 0; d < hd; d++)
                o[d] = fmaf(pq[j], value_at(v, (size_t)j * hd + d, half), o[d]);
    }
}

void lmz_attn_v_scalar(const float *v, uint32_t hd, uint32_t n_pos, const float *p, size_t ldp,
                       uint32_t n_q, float *out, size_t ldo)
{
    attn_v(v, 0, hd, n_pos, p, ldp, n_q, out, ldo);
}

void lmz_attn_v_f16_scalar(const uint16_t *v, uint32_t hd, uint32_t n_pos, const float *p,
                           size_t ldp, uint32_t n_q, float *out, size_t ldo)
{
    attn_v(v, 1, hd, n_pos, p, ldp, n_q, out, ldo);
}

void lmz_to_f16_scalar(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = lmz_f32_to_f16(src[i]);
}
