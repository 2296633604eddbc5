/*
 * train_vec_avx512.c -- AVX-512 row kernels of the trainer (train_vec.h): the same
 * formulas as train_vec.c, 16 lanes at a time, sums in 16 fp32 lanes reduced at the end.
 */
#include <immintrin.h>
#include <math.h>

#include "train/train_vec.h"

static inline __mmask16 lanes(uint32_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
}

static inline float vmax(const float *x, uint32_t n)
{
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (uint32_t i = 0; i < n; i += 16)
        m = _mm512_max_ps(m, _mm512_mask_loadu_ps(m, lanes(n - i), x + i));
    return _mm512_reduce_max_ps(m);
}

/* x[i] = (x[i] - sub) * mul over i < n */
static inline void sub_mul(float *x, uint32_t n, float sub, float mul)
{
    __m512 s = _mm512_set1_ps(sub), f = _mm512_set1_ps(mul);
    for (uint32_t i = 0; i < n; i += 16) {
        __mmask16 k = lanes(n - i);
        _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), s), f));
    }
}

static inline double vsum(const float *x, uint32_t n)
{
    __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
    uint32_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a = _mm512_add_ps(a, _mm512_loadu_ps(x + i));
        b = _mm512_add_ps(b, _mm512_loadu_ps(x + i + 16));
    }
    for (; i < n; i += 16) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(lanes(n - i), x + i));
    return (double)_mm512_reduce_add_ps(a) + (double)_mm512_reduce_add_ps(b);
}

static inline void zero(float *x, uint32_t n)
{
    for (uint32_t i = 0; i < n; i += 16) _mm512_mask_storeu_ps(x + i, lanes(n - i), _mm512_setzero_ps());
}

static float ce_row(const lmz_kernels *k, float *row, uint32_t n, uint32_t target, float dscale)
{
    float m = vmax(row, n);
    float t = row[target] - m;
    sub_mul(row, n, m, 1.0f);
    k->exp_n(row, row, n);
    double sum = vsum(row, n);
    float loss = (float)(log(sum) - (double)t);
    if (dscale != 0.0f) {
        sub_mul(row, n, 0.0f, (float)(dscale / sum));
        row[target] -= dscale;
    }
    return loss;
}

static void softmax_row(const lmz_kernels *k, float *row, uint32_t len, uint32_t T, float scale)
{
    sub_mul(row, len, vmax(row, len), scale);   /* max(x scale) = max(x) scale: scale > 0 */
    k->exp_n(row, row, len);
    sub_mul(row, len, 0.0f, (float)(1.0 / vsum(row, len)));
    zero(row + len, T - len);
}

static void softmax_bwd_row(float *d, const float *p, uint32_t len, uint32_t T, float scale)
{
    __m512 acc = _mm512_setzero_ps();
    for (uint32_t u = 0; u < len; u += 16) {
        __mmask16 k = lanes(len - u);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, p + u), _mm512_maskz_loadu_ps(k, d + u), acc);
    }
    __m512 c = _mm512_set1_ps(_mm512_reduce_add_ps(acc)), s = _mm512_set1_ps(scale);
    for (uint32_t u = 0; u < len; u += 16) {
        __mmask16 k = lanes(len - u);
        __m512 dd = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, d + u), c);
        _mm512_mask_storeu_ps(d + u, k, _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, p + u), dd), s));
    }
    zero(d + len, T - len);
}

static void rmsnorm_bwd_row(float *dx, const float *dy, const float *x, const float *w, float r,
                            uint32_t n)
{
    __m512 vr = _mm512_set1_ps(r), acc = _mm512_setzero_ps();
    for (uint32_t i = 0; i < n; i += 16) {
        __mmask16 k = lanes(n - i);
        __m512 gw = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, dy + i), _mm512_maskz_loadu_ps(k, w + i));
        acc = _mm512_fmadd_ps(gw, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), vr), acc);
    }
    __m512 c = _mm512_set1_ps(_mm512_reduce_add_ps(acc) / (float)n);
    for (uint32_t i = 0; i < n; i += 16) {
        __mmask16 k = lanes(n - i);
        __m512 gw = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, dy + i), _mm512_maskz_loadu_ps(k, w + i));
        __m512 xh = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), vr);
        __m512 d = _mm512_mul_ps(vr, _mm512_sub_ps(gw, _mm512_mul_ps(xh, c)));
        _mm512_mask_storeu_ps(dx + i, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, dx + i), d));
    }
}

static void rmsnorm_dw_row(float *dw, const float *dy, const float *x, float r, uint32_t n)
{
    __m512 vr = _mm512_set1_ps(r);
    for (uint32_t i = 0; i < n; i += 16) {
        __mmask16 k = lanes(n - i);
        __m512 xh = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), vr);
        _mm512_mask_storeu_ps(dw + i, k, _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, dy + i), xh,
                                                         _mm512_maskz_loadu_ps(k, dw + i)));
    }
}

static void swiglu_bwd(float *e, float *du, const float *dout, const float *g, const float *u,
                       uint32_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (uint32_t i = 0; i < n; i += 16) {
        __mmask16 k = lanes(n - i);
        __m512 sig = _mm512_div_ps(one, _mm512_add_ps(one, _mm512_maskz_loadu_ps(k, e + i)));
        __m512 gi = _mm512_maskz_loadu_ps(k, g + i), di = _mm512_maskz_loadu_ps(k, dout + i);
        _mm512_mask_storeu_ps(du + i, k, _mm512_mul_ps(di, _mm512_mul_ps(gi, sig)));
        __m512 dsilu = _mm512_mul_ps(sig, _mm512_add_ps(one, _mm512_mul_ps(gi, _mm512_sub_ps(one, sig))));
        _mm512_mask_storeu_ps(e + i, k, _mm512_mul_ps(_mm512_mul_ps(di, _mm512_maskz_loadu_ps(k, u + i)), dsilu));
    }
}

static void adam(const tr_adam_args *a, size_t i0, size_t i1)
{
    const __m512 b1 = _mm512_set1_ps(a->b1), b2 = _mm512_set1_ps(a->b2);
    const __m512 c1 = _mm512_set1_ps(1.0f - a->b1), c2 = _mm512_set1_ps(1.0f - a->b2);
    const __m512 sc = _mm512_set1_ps(a->scale), bc1 = _mm512_set1_ps(a->bc1);
    const __m512 bc2 = _mm512_set1_ps(a->bc2), eps = _mm512_set1_ps(a->eps);
    const __m512 wd = _mm512_set1_ps(a->wd), lr = _mm512_set1_ps(a->lr);
    for (size_t i = i0; i < i1; i += 16) {
        __mmask16 k = lanes((uint32_t)(i1 - i < 16 ? i1 - i : 16));
        __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, a->g + i), sc);
        __m512 m = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_maskz_loadu_ps(k, a->m + i)), _mm512_mul_ps(c1, g));
        __m512 v = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_maskz_loadu_ps(k, a->v + i)),
                                 _mm512_mul_ps(_mm512_mul_ps(c2, g), g));
        _mm512_mask_storeu_ps(a->m + i, k, m);
        _mm512_mask_storeu_ps(a->v + i, k, v);
        __m512 p = _mm512_maskz_loadu_ps(k, a->p + i);
        __m512 den = _mm512_add_ps(_mm512_sqrt_ps(_mm512_div_ps(v, bc2)), eps);
        __m512 upd = _mm512_add_ps(_mm512_div_ps(_mm512_div_ps(m, bc1), den), _mm512_mul_ps(wd, p));
        _mm512_mask_storeu_ps(a->p + i, k, _mm512_sub_ps(p, _mm512_mul_ps(lr, upd)));
    }
}

const tr_vec tr_vec_avx512 = {ce_row, softmax_row, softmax_bwd_row, rmsnorm_bwd_row,
                              rmsnorm_dw_row, swiglu_bwd, adam};
