/*
 * quantize_scalar.c -- the quantizer's inner loops in plain C: the reference that the
 * SIMD files must match, and the path for CPUs without AVX2.
 */
#include "coder/quantize_kernels.h"

static int scan_scalar(const float *x, uint32_t n, float *max)
{
    float m = x[0];
    int ok = 1;
    for (uint32_t i = 0; i < n; i++) {
        if (!(x[i] < INFINITY)) ok = 0;      /* NaN or +inf */
        if (x[i] > m) m = x[i];
    }
    *max = m;
    return ok;
}

static uint64_t exp_q_scalar(const float *x, uint32_t n, float m, uint32_t *q,
                             uint32_t *first_max)
{
    uint64_t sum = 0;
    uint32_t first = n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t qi = quant_q(x[i], m);
        if (q) q[i] = qi;
        if (x[i] == m && first == n) first = i;
        sum += qi;
    }
    *first_max = first;
    return sum;
}

static uint64_t exp_floor_sum_scalar(const float *x, uint32_t n, float m, uint32_t M)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) sum += ((uint64_t)quant_q(x[i], m) * M) >> 32;
    return sum;
}

static void freq_prefix_scalar(uint32_t *c, uint32_t n, uint32_t M)
{
    uint32_t acc = 0;
    for (uint32_t i = 0; i < n; i++) {
        acc += 1 + (uint32_t)(((uint64_t)c[i] * M) >> 32);
        c[i] = acc;
    }
}

const quant_kernels quant_kernels_scalar = {
    scan_scalar, exp_q_scalar, exp_floor_sum_scalar, freq_prefix_scalar
};
