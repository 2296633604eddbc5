/*
 * detmath.c -- double-precision exp, log, sin, cos, pow from IEEE basic operations only
 * (see detmath.h).  Used for tables built once per context (RoPE angles), where a few
 * microseconds per value do not matter but bit-reproducibility does.  Polynomials are
 * plain Taylor series, taken far enough that truncation is below 2^-60 on the reduced
 * range; only + - * / and bit manipulation appear.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/detmath.h"

static uint64_t dbits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static double bitsd(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

/* Round to the nearest integer (ties to even) for |x| < 2^51. */
static double round_int(double x)
{
    const double magic = 6755399441055744.0;   /* 1.5 * 2^52 */
    return (x + magic) - magic;
}

/* 2^n for -1022 <= n <= 1023. */
static double pow2i(int n) { return bitsd((uint64_t)(n + 1023) << 52); }

/* ln 2 split so that n * LN2_HI is exact for |n| < 2^20 (fdlibm's constants). */
#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10
#define INV_LN2 1.44269504088896338700e+00

double lmz_exp_d(double x)
{
    if (x != x) return x;
    if (x > 709.782712893384) return INFINITY;
    if (x < -745.1332191019412) return 0.0;
    double kd = round_int(x * INV_LN2);
    double r = (x - kd * LN2_HI) - kd * LN2_LO;       /* |r| <= 0.35 */
    /* e^r = sum r^i / i!, i <= 16: the first omitted term is < 2^-70 */
    double p = 1.0 / 20922789888000.0;                /* 1/16! */
    static const double inv_fact[16] = {
        1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
        1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600,
        1.0 / 6227020800.0, 1.0 / 87178291200.0, 1.0 / 1307674368000.0,
    };
    for (int i = 15; i >= 0; i--) p = p * r + inv_fact[i];
    int n = (int)kd;
    int n1 = n / 2;                                   /* two steps keep 2^n normal */
    return p * pow2i(n1) * pow2i(n - n1);
}

double lmz_log_d(double x)
{
    if (x != x || x < 0) return NAN;
    if (x == 0) return -INFINITY;
    if (x == INFINITY) return x;
    int e = 0;
    if (x < 0x1p-1022) {                              /* subnormal: scale into range */
        x *= 0x1p54;
        e = -54;
    }
    uint64_t u = dbits(x);
    e += (int)((u >> 52) & 0x7ff) - 1023;
    double m = bitsd((u & 0x000fffffffffffffull) | 0x3ff0000000000000ull);   /* [1, 2) */
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e += 1;
    }
    /* log m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716: 2 s sum z^i/(2i+1), z = s^2,
     * i <= 14 leaves less than 2^-70. */
    double f = m - 1.0;
    double s = f / (2.0 + f);
    double z = s * s;
    double p = 1.0 / 29.0;
    for (int i = 13; i >= 0; i--) p = p * z + 1.0 / (2 * i + 1);
    double lm = 2.0 * s * p;
    return (double)e * LN2_HI + ((double)e * LN2_LO + lm);
}

/* pi/2 in three 33-bit pieces (fdlibm): n * PIO2_k is exact for |n| < 2^20. */
#define PIO2_1 1.57079632673412561417e+00
#define PIO2_2 6.07710050630396597660e-11
#define PIO2_3 2.02226624871116645580e-21
#define TWO_OVER_PI 6.36619772367581382433e-01

/* x = n pi/2 + r with |r| <= ~pi/4; returns r, quadrant in *q. */
static double reduce_pio2(double x, int *q)
{
    double kd = round_int(x * TWO_OVER_PI);
    /* Converting kd to an integer is undefined past 2^63, and a hostile model's RoPE
     * angles get there; past 2^55 every double is a multiple of 4, so quadrant 0. */
    *q = kd > -0x1p55 && kd < 0x1p55 ? (int)((int64_t)kd & 3) : 0;
    return ((x - kd * PIO2_1) - kd * PIO2_2) - kd * PIO2_3;
}

/* sin r and cos r for |r| <= ~0.8: Taylor to r^23 / r^22 (omitted terms < 2^-75).
 * The coefficients are constant expressions: the compiler folds each division with IEEE
 * rounding, so they are the same bits everywhere. */
static const double sin_coef[11] = {   /* (-1)^i / (2i+3)!, i = 0 .. 10 */
    -1.0 / 6, 1.0 / 120, -1.0 / 5040, 1.0 / 362880, -1.0 / 39916800,
    1.0 / 6227020800.0, -1.0 / 1307674368000.0, 1.0 / 355687428096000.0,
    -1.0 / 121645100408832000.0, 1.0 / 51090942171709440000.0,
    -1.0 / 25852016738884976640000.0,
};
static const double cos_coef[11] = {   /* (-1)^(i+1) / (2i+2)!, i = 0 .. 10 */
    -1.0 / 2, 1.0 / 24, -1.0 / 720, 1.0 / 40320, -1.0 / 3628800, 1.0 / 479001600,
    -1.0 / 87178291200.0, 1.0 / 20922789888000.0, -1.0 / 6402373705728000.0,
    1.0 / 2432902008176640000.0, -1.0 / 1124000727777607680000.0,
};

static double sin_kernel(double r)
{
    double z = r * r, p = 0.0;
    for (int i = 10; i >= 0; i--) p = (p + sin_coef[i]) * z;
    return r + r * p;
}

static double cos_kernel(double r)
{
    double z = r * r, p = 0.0;
    for (int i = 10; i >= 0; i--) p = (p + cos_coef[i]) * z;
    return 1.0 + p;
}

double lmz_sin_d(double x)
{
    if (x != x || x == INFINITY || x == -INFINITY) return NAN;
    int q;
    double r = reduce_pio2(x, &q);
    switch (q) {
    case 0: return sin_kernel(r);
    case 1: return cos_kernel(r);
    case 2: return -sin_kernel(r);
    default: return -cos_kernel(r);
    }
}

double lmz_cos_d(double x)
{
    if (x != x || x == INFINITY || x == -INFINITY) return NAN;
    int q;
    double r = reduce_pio2(x, &q);
    switch (q) {
    case 0: return cos_kernel(r);
    case 1: return -sin_kernel(r);
    case 2: return -cos_kernel(r);
    default: return sin_kernel(r);
    }
}

double lmz_pow_d(double b, double e)
{
    if (e == 0) return 1.0;
    return lmz_exp_d(e * lmz_log_d(b));
}
