/*
 * vec_neon.c -- AArch64 NEON versions of the vector kernels.  The 16 canonical lanes of
 * the sums are four 128-bit registers (lanes 0-3, 4-7, 8-11, 12-15), so the first two
 * tree steps add registers (q0+q2, q1+q3, then the two results) and the last two add
 * within one register; lmz_expf is replayed operation by operation (exp_neon.h).
 * Partial 16-lane steps go through a small buffer, padded so that padding lanes leave
 * the canonical lanes unchanged.
 */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "kernels/exp_neon.h"
#include "kernels/blocks.h"
#include "kernels/kernels.h"
#include "kernels/f16.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

void lmz_exp_n_neon(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, lmz_exp4(vld1q_f32(x + i)));
    if (i < n) {
        float buf[4] = {0};
        memcpy(buf, x + i, (n - i) * sizeof(float));
        vst1q_f32(buf, lmz_exp4(vld1q_f32(buf)));
        memcpy(y + i, buf, (n - i) * sizeof(float));
    }
}

/* 16 consecutive floats as the four registers of the canonical lanes. */
typedef struct lanes16 { float32x4_t q[4]; } lanes16;

/* x[i .. i+16) or, past n, `pad`. */
ALWAYS_INLINE lanes16 load16(const float *x, size_t i, size_t n, float pad)
{
    lanes16 v;
    if (i + 16 <= n) {
        for (int c = 0; c < 4; c++) v.q[c] = vld1q_f32(x + i + 4 * c);
        return v;
    }
    float buf[16];
    for (int l = 0; l < 16; l++) buf[l] = pad;
    memcpy(buf, x + i, (n - i) * sizeof(float));
    for (int c = 0; c < 4; c++) v.q[c] = vld1q_f32(buf + 4 * c);
    return v;
}

ALWAYS_INLINE void store16(float *x, size_t i, size_t n, lanes16 v)
{
    if (i + 16 <= n) {
        for (int c = 0; c < 4; c++) vst1q_f32(x + i + 4 * c, v.q[c]);
        return;
    }
    float buf[16];
    for (int c = 0; c < 4; c++) vst1q_f32(buf + 4 * c, v.q[c]);
    memcpy(x + i, buf, (n - i) * sizeof(float));
}

/* The fixed tree: lanes l and l+8, then l+4, l+2, l+1. */
ALWAYS_INLINE float tree16(lanes16 v)
{
    float32x4_t a = vaddq_f32(vaddq_f32(v.q[0], v.q[2]), vaddq_f32(v.q[1], v.q[3]));
    float32x2_t b = vadd_f32(vget_low_f32(a), vget_high_f32(a));
    return vget_lane_f32(b, 0) + vget_lane_f32(b, 1);
}

float lmz_sumsq_neon(const float *x, uint32_t n)
{
    /* Zero-padded lanes add fmaf(0, 0, lane) = lane: the sums are >= +0. */
    lanes16 acc;
    for (int c = 0; c < 4; c++) acc.q[c] = vdupq_n_f32(0.0f);
    for (uint32_t i = 0; i < n; i += 16) {
        lanes16 v = load16(x, i, n, 0.0f);
        for (int c = 0; c < 4; c++) acc.q[c] = vfmaq_f32(acc.q[c], v.q[c], v.q[c]);
    }
    return tree16(acc);
}

/* Lane-wise running max that skips NaN as the scalar `if (s > m) m = s` does (vmaxq_f32
 * would propagate a NaN). */
ALWAYS_INLINE float32x4_t max_skip_nan(float32x4_t m, float32x4_t v)
{
    return vbslq_f32(vcgtq_f32(v, m), v, m);
}

void lmz_softmax_neon(float *s, uint32_t n, float scale)
{
    const float32x4_t vs = vdupq_n_f32(scale);
    float32x4_t vm = vdupq_n_f32(-INFINITY);
    for (uint32_t j = 0; j < n; j += 16) {
        lanes16 v = load16(s, j, n, 0.0f);
        for (int c = 0; c < 4; c++) v.q[c] = vmulq_f32(v.q[c], vs);
        store16(s, j, n, v);
        /* Padding lanes must not take part: -inf never beats the running max. */
        if (j + 16 > n) v = load16(s, j, n, -INFINITY);
        for (int c = 0; c < 4; c++) vm = max_skip_nan(vm, v.q[c]);
    }
    float lane_max[4], m = -INFINITY;
    vst1q_f32(lane_max, vm);
    for (int l = 0; l < 4; l++)
        if (lane_max[l] > m) m = lane_max[l];
    const float32x4_t vmax = vdupq_n_f32(m);
    lanes16 acc;
    for (int c = 0; c < 4; c++) acc.q[c] = vdupq_n_f32(0.0f);
    for (uint32_t j = 0; j < n; j += 16) {
        lanes16 v = load16(s, j, n, 0.0f);
        for (int c = 0; c < 4; c++) v.q[c] = lmz_exp4(vsubq_f32(v.q[c], vmax));
        store16(s, j, n, v);
        /* Padding lanes must add +0 (as if absent), not exp(0 - m). */
        if (j + 16 > n) v = load16(s, j, n, 0.0f);
        for (int c = 0; c < 4; c++) acc.q[c] = vaddq_f32(acc.q[c], v.q[c]);
    }
    const float32x4_t inv = vdupq_n_f32(1.0f / tree16(acc));
    for (uint32_t j = 0; j < n; j += 16) {
        lanes16 v = load16(s, j, n, 0.0f);
        for (int c = 0; c < 4; c++) v.q[c] = vmulq_f32(v.q[c], inv);
        store16(s, j, n, v);
    }
}

void lmz_silu_mul_neon(float *g, const float *u, uint32_t n)
{
    const float32x4_t one = vdupq_n_f32(1.0f);
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t x = vld1q_f32(g + i);
        float32x4_t silu = vdivq_f32(x, vaddq_f32(one, lmz_exp4(vnegq_f32(x))));
        vst1q_f32(g + i, vmulq_f32(silu, vld1q_f32(u + i)));
    }
    for (; i < n; i++) g[i] = lmz_siluf(g[i]) * u[i];
}

/* Up to QB queries x DB registers of 4 dims: QB*DB accumulators. */
#define QB 4
#define DB 4

/* Dims [d, d + 4) of a value row: f32, or f16 widened (exact, FPCR = 0). */
ALWAYS_INLINE float32x4_t load_values(const void *v, size_t at, const int half)
{
    if (half) return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)v + at)));
    return vld1q_f32((const float *)v + at);
}

ALWAYS_INLINE float value_at(const void *v, size_t at, const int half)
{
    return half ? lmz_f16_to_f32(((const uint16_t *)v)[at]) : ((const float *)v)[at];
}

ALWAYS_INLINE void attn_v_block(const void *v, uint32_t hd, uint32_t n_pos, const float *p,
                                size_t ldp, float *out, size_t ldo, uint32_t d0,
                                const int nq, const int nd, const int half)
{
    float32x4_t acc[QB][DB];
#pragma GCC unroll 4
    for (int q = 0; q < nq; q++)
#pragma GCC unroll 4
        for (int c = 0; c < nd; c++) acc[q][c] = vdupq_n_f32(0.0f);
    for (uint32_t j = 0; j < n_pos; j++) {
        size_t vj = (size_t)j * hd + d0;
        float32x4_t vv[DB];
#pragma GCC unroll 4
        for (int c = 0; c < nd; c++) vv[c] = load_values(v, vj + 4 * c, half);
#pragma GCC unroll 4
        for (int q = 0; q < nq; q++) {
            float32x4_t pj = vld1q_dup_f32(p + q * ldp + j);
#pragma GCC unroll 4
            for (int c = 0; c < nd; c++) acc[q][c] = vfmaq_f32(acc[q][c], pj, vv[c]);
        }
    }
#pragma GCC unroll 4
    for (int q = 0; q < nq; q++)
#pragma GCC unroll 4
        for (int c = 0; c < nd; c++) vst1q_f32(out + q * ldo + d0 + 4 * c, acc[q][c]);
}

/* nq queries: the dims in blocks of 16 and 4, the last hd % 4 as scalar chains (the same
 * fmaf sequence per output). */
ALWAYS_INLINE void attn_v_queries(const void *v, uint32_t hd, uint32_t n_pos, const float *p,
                                  size_t ldp, float *out, size_t ldo, const int nq,
                                  const int half)
{
    uint32_t d0 = 0;
    for (; d0 + 4 * DB <= hd; d0 += 4 * DB)
        attn_v_block(v, hd, n_pos, p, ldp, out, ldo, d0, nq, DB, half);
    for (; d0 + 4 <= hd; d0 += 4) attn_v_block(v, hd, n_pos, p, ldp, out, ldo, d0, nq, 1, half);
    for (; d0 < hd; d0++)
        for (int q = 0; q < nq; q++) {
            float acc = 0.0f;
            for (uint32_t j = 0; j < n_pos; j++)
                acc = fmaf(p[q * ldp + j], value_at(v, (size_t)j * hd + d0, half), acc);
            out[q * ldo + d0] = acc;
        }
}

#define ATTN_V_Q(nq, half, name)                                                           \
    static void name(const void *v, uint32_t hd, uint32_t n_pos, const float *p,          \
                     size_t ldp, float *out, size_t ldo)                                   \
    {                                                                                      \
        attn_v_queries(v, hd, n_pos, p, ldp, out, ldo, nq, half);                          \
    }
ATTN_V_Q(1, 0, attn_v_q1)
ATTN_V_Q(2, 0, attn_v_q2)
ATTN_V_Q(3, 0, attn_v_q3)
ATTN_V_Q(4, 0, attn_v_q4)
ATTN_V_Q(1, 1, attn_v16_q1)
ATTN_V_Q(2, 1, attn_v16_q2)
ATTN_V_Q(3, 1, attn_v16_q3)
ATTN_V_Q(4, 1, attn_v16_q4)

static const lmz_attn_v_fn attn_v_f32_blocks[4] = {attn_v_q1, attn_v_q2, attn_v_q3, attn_v_q4};
static const lmz_attn_v_fn attn_v_f16_blocks[4] = {attn_v16_q1, attn_v16_q2, attn_v16_q3, attn_v16_q4};

void lmz_attn_v_neon(const float *v, uint32_t hd, uint32_t n_pos, const float *p, size_t ldp,
                     uint32_t n_q, float *out, size_t ldo)
{
    lmz_attn_v_run(v, hd, n_pos, p, ldp, n_q, out, ldo, attn_v_f32_blocks, 4);
}

void lmz_attn_v_f16_neon(const uint16_t *v, uint32_t hd, uint32_t n_pos, const float *p,
                         size_t ldp, uint32_t n_q, float *out, size_t ldo)
{
    lmz_attn_v_run(v, hd, n_pos, p, ldp, n_q, out, ldo, attn_v_f16_blocks, 4);
}

/* FCVTN with FPCR = 0 rounds to nearest even, keeps subnormals and quiets NaNs keeping
 * their top payload bits, as lmz_f32_to_f16 does (f16.c). */
void lmz_to_f16_neon(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(dst + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
    for (; i < n; i++) dst[i] = lmz_f32_to_f16(src[i]);
}
