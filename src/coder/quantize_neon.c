/*
 * quantize_neon.c -- the quantizer's inner loops, 4 AArch64 NEON lanes.  The weights
 * use lmz_expf's operation sequence lane by lane (kernels/exp_neon.h), so each is
 * bit-identical to quant_q(); the leftover elements go through quant_q() itself.  Integer
 * sums do not depend on order.
 */
#include <arm_neon.h>

#include "coder/quantize_kernels.h"
#include "kernels/exp_neon.h"

/* quant_q() of 4 logits: x - m <= 0 and not NaN.  vcvtq_u32_f32 truncates and converts
 * 2^31 (e = 1) exactly; no weight exceeds 2^31. */
static inline uint32x4_t weights4(float32x4_t x, float32x4_t m)
{
    float32x4_t e = lmz_exp4_nonpos(vsubq_f32(x, m));
    return vcvtq_u32_f32(vmulq_f32(e, vdupq_n_f32(QUANT_Q_ONE)));
}

static int scan_neon(const float *x, uint32_t n, float *max)
{
    /* Max is exact and order-free for non-NaN values; NaN rows are rejected anyway. */
    const float32x4_t inf = vdupq_n_f32(INFINITY);
    float32x4_t m0 = vdupq_n_f32(-INFINITY), m1 = m0;
    uint32x4_t ok = vdupq_n_u32(~0u);
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + 4);
        /* x < inf is false for NaN and +inf */
        ok = vandq_u32(ok, vandq_u32(vcltq_f32(a, inf), vcltq_f32(b, inf)));
        m0 = vmaxq_f32(m0, a);
        m1 = vmaxq_f32(m1, b);
    }
    float m = vmaxvq_f32(vmaxq_f32(m0, m1));
    int good = vminvq_u32(ok) != 0;
    for (; i < n; i++) {
        if (!(x[i] < INFINITY)) good = 0;
        if (x[i] > m) m = x[i];
    }
    *max = m;
    return good;
}

static uint64_t exp_q_neon(const float *x, uint32_t n, float m, uint32_t *q,
                           uint32_t *first_max)
{
    const float32x4_t mv = vdupq_n_f32(m);
    uint64x2_t acc = vdupq_n_u64(0);
    uint32_t first = n, i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t xv = vld1q_f32(x + i);
        uint32x4_t qv = weights4(xv, mv);
        if (q) vst1q_u32(q + i, qv);
        if (first == n && vmaxvq_u32(vceqq_f32(xv, mv)) != 0)
            for (uint32_t l = 0; l < 4; l++)
                if (x[i + l] == m) { first = i + l; break; }
        acc = vpadalq_u32(acc, qv);
    }
    uint64_t sum = vaddvq_u64(acc);
    for (; i < n; i++) {
        uint32_t qi = quant_q(x[i], m);
        if (q) q[i] = qi;
        if (x[i] == m && first == n) first = i;
        sum += qi;
    }
    *first_max = first;
    return sum;
}

/* acc + the four (q * M) >> 32, in 64-bit lanes. */
static inline uint64x2_t add_floor4(uint64x2_t acc, uint32x4_t q, uint32x2_t M)
{
    acc = vsraq_n_u64(acc, vmull_u32(vget_low_u32(q), M), 32);
    return vsraq_n_u64(acc, vmull_u32(vget_high_u32(q), M), 32);
}

static uint64_t exp_floor_sum_neon(const float *x, uint32_t n, float m, uint32_t M)
{
    const float32x4_t mv = vdupq_n_f32(m);
    const uint32x2_t Mv = vdup_n_u32(M);
    uint64x2_t acc = vdupq_n_u64(0);
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) acc = add_floor4(acc, weights4(vld1q_f32(x + i), mv), Mv);
    uint64_t sum = vaddvq_u64(acc);
    for (; i < n; i++) sum += ((uint64_t)quant_q(x[i], m) * M) >> 32;
    return sum;
}

static void freq_prefix_neon(uint32_t *c, uint32_t n, uint32_t M)
{
    const uint32x2_t Mv = vdup_n_u32(M);
    const uint32x4_t zero = vdupq_n_u32(0), one = vdupq_n_u32(1);
    uint32x4_t offset = zero;
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32x4_t q = vld1q_u32(c + i);
        /* the high halves of the 64-bit products q * M, back in element order */
        uint32x4_t fl = vcombine_u32(vshrn_n_u64(vmull_u32(vget_low_u32(q), Mv), 32),
                                     vshrn_n_u64(vmull_u32(vget_high_u32(q), Mv), 32));
        uint32x4_t f = vaddq_u32(fl, one);
        /* inclusive prefix sum of 4 lanes: shift up by 1, then by 2 */
        f = vaddq_u32(f, vextq_u32(zero, f, 3));
        f = vaddq_u32(f, vextq_u32(zero, f, 2));
        f = vaddq_u32(f, offset);
        vst1q_u32(c + i, f);
        offset = vdupq_laneq_u32(f, 3);
    }
    uint32_t acc = i ? c[i - 1] : 0;
    for (; i < n; i++) {
        acc += 1 + (uint32_t)(((uint64_t)c[i] * M) >> 32);
        c[i] = acc;
    }
}

const quant_kernels quant_kernels_neon = {
    scan_neon, exp_q_neon, exp_floor_sum_neon, freq_prefix_neon
};
