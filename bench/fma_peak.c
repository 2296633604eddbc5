/*
 * fma_peak.c -- the machine's fp32 multiply-add peak, for judging the kernels against it:
 * 12 independent accumulators of 16-lane (AVX-512) or 8-lane (AVX2) fused multiply-adds,
 * so that the loop is bound by the FMA units, not by the latency of a chain.
 *
 *   fma_peak [THREADS]       GFLOP/s with 1 .. THREADS threads running at once
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <immintrin.h>

#define ITERS (4000000000L / 12)     /* ~1 s per thread at ~100 GFLOP/s */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Returns a value that depends on every accumulator, so nothing is optimized away. */
__attribute__((target("avx512f"))) static float loop_avx512(long iters)
{
    __m512 a[12], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < iters; k++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
    for (int i = 1; i < 12; i++) a[0] = _mm512_add_ps(a[0], a[i]);
    return _mm512_reduce_add_ps(a[0]);
}

__attribute__((target("avx2,fma"))) static float loop_avx2(long iters)
{
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < iters; k++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
    float out[8];
    for (int i = 1; i < 12; i++) a[0] = _mm256_add_ps(a[0], a[i]);
    _mm256_storeu_ps(out, a[0]);
    return out[0];
}

static int wide;
static void *run(void *arg)
{
    float *sink = arg;
    *sink = wide ? loop_avx512(ITERS) : loop_avx2(ITERS);
    return NULL;
}

int main(int argc, char **argv)
{
    int max_threads = argc > 1 ? atoi(argv[1]) : 2;
    wide = __builtin_cpu_supports("avx512f");
    if (!wide && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
        fprintf(stderr, "fma_peak: needs AVX2+FMA or AVX-512\n");
        return 1;
    }
    double flops_per_thread = (double)ITERS * 12 * (wide ? 16 : 8) * 2;
    for (int n = 1; n <= max_threads; n++) {
        pthread_t th[64];
        float sink[64];
        double t0 = now();
        for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, run, &sink[i]);
        for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
        double t = now() - t0;
        printf("%s fp32 FMA, %d thread(s): %.1f GFLOP/s in all (checksum %g)\n",
               wide ? "AVX-512" : "AVX2", n, n * flops_per_thread / t * 1e-9, (double)sink[0]);
    }
    return 0;
}
