/*
 * dispatch.c -- which kernel path runs: CPU feature checks, the LMZ_SIMD override, and
 * the per-path tables.  The tables are constant; the only mutable thing is a remembered
 * CPUID answer (cpu_has_f16c).
 * A build has the scalar path plus its architecture's: AVX2 and AVX-512 on x86-64, NEON
 * on AArch64 (Advanced SIMD is part of the AArch64 base architecture, so it needs no
 * run-time check).  The other architecture's paths are known by name but unsupported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

#if defined(__x86_64__)
#include <cpuid.h>

/* F16C by CPUID (leaf 1, ECX): clang 14 (Debian 12) rejects "f16c" in
 * __builtin_cpu_supports.  The AVX2 check already covers the OS saving YMM registers.
 * The answer is remembered: CPUID traps to the hypervisor in a virtual machine (~1 us),
 * and the coder asks once per token.  The race between threads is benign (all store the
 * same value); relaxed atomics make it defined. */
static int cpu_has_f16c(void)
{
    static int known;   /* 0: not asked yet, 1: no, 2: yes */
    int v = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (v == 0) {
        unsigned a, b, c, d;
        v = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0 ? 2 : 1;
        __atomic_store_n(&known, v, __ATOMIC_RELAXED);
    }
    return v == 2;
}
#endif

#define TABLE(isa, id, quantize, f16isa)                                                  \
    static const lmz_kernels table_##isa = {                                              \
        id, #isa, lmz_mm_f32_##isa, lmz_mm_q8_##isa, quantize, lmz_exp_n_##isa,           \
        lmz_sumsq_##isa, lmz_softmax_##isa, lmz_silu_mul_##isa, lmz_attn_v_##isa,         \
        lmz_mm_f16_##f16isa, lmz_attn_v_f16_##f16isa, lmz_to_f16_##f16isa,                \
    };
TABLE(scalar, LMZ_SIMD_SCALAR, lmz_q8_quantize, scalar)
#if defined(__x86_64__)
TABLE(avx2, LMZ_SIMD_AVX2, lmz_q8_quantize, avx2)
TABLE(avx512, LMZ_SIMD_AVX512, lmz_q8_quantize_avx512, avx512)
#endif
#if defined(__aarch64__)
TABLE(neon, LMZ_SIMD_NEON, lmz_q8_quantize, neon)
#endif

int lmz_simd_supported(lmz_simd simd)
{
    switch (simd) {
    case LMZ_SIMD_AUTO:
    case LMZ_SIMD_SCALAR:
        return 1;
#if defined(__x86_64__)
    /* __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0). */
    case LMZ_SIMD_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               cpu_has_f16c();
    case LMZ_SIMD_AVX512:
        return lmz_simd_supported(LMZ_SIMD_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
#endif
#if defined(__aarch64__)
    case LMZ_SIMD_NEON:
        return 1;
#endif
    default:
        return 0;
    }
}

lmz_simd lmz_simd_best(void)
{
    if (lmz_simd_supported(LMZ_SIMD_NEON)) return LMZ_SIMD_NEON;
    if (lmz_simd_supported(LMZ_SIMD_AVX512)) return LMZ_SIMD_AVX512;
    if (lmz_simd_supported(LMZ_SIMD_AVX2)) return LMZ_SIMD_AVX2;
    return LMZ_SIMD_SCALAR;
}

const char *lmz_simd_path_name(lmz_simd simd)
{
    switch (simd) {
    case LMZ_SIMD_AUTO: return "auto";
    case LMZ_SIMD_SCALAR: return "scalar";
    case LMZ_SIMD_AVX2: return "avx2";
    case LMZ_SIMD_AVX512: return "avx512";
    case LMZ_SIMD_NEON: return "neon";
    }
    return "unknown";
}

int lmz_simd_resolve(lmz_simd requested, lmz_simd *out, char *err, size_t errlen)
{
    lmz_simd want = requested;
    const char *from = "requested";
    if (want == LMZ_SIMD_AUTO) {
        const char *env = getenv("LMZ_SIMD");
        if (!env || !*env || strcmp(env, "auto") == 0) {
            *out = lmz_simd_best();
            return 0;
        }
        if (strcmp(env, "scalar") == 0) want = LMZ_SIMD_SCALAR;
        else if (strcmp(env, "avx2") == 0) want = LMZ_SIMD_AVX2;
        else if (strcmp(env, "avx512") == 0) want = LMZ_SIMD_AVX512;
        else if (strcmp(env, "neon") == 0) want = LMZ_SIMD_NEON;
        else {
            snprintf(err, errlen,
                     "LMZ_SIMD=%s: unknown path (use scalar, avx2, avx512, neon or auto)",
                     env);
            return -1;
        }
        from = "LMZ_SIMD";
    }
    if (want != LMZ_SIMD_SCALAR && want != LMZ_SIMD_AVX2 && want != LMZ_SIMD_AVX512 &&
        want != LMZ_SIMD_NEON) {
        snprintf(err, errlen, "invalid SIMD path %d", (int)want);
        return -1;
    }
    if (!lmz_simd_supported(want)) {
        snprintf(err, errlen, "%s SIMD path %s is not supported by this CPU (best: %s)", from,
                 lmz_simd_path_name(want), lmz_simd_path_name(lmz_simd_best()));
        return -1;
    }
    *out = want;
    return 0;
}

const lmz_kernels *lmz_kernels_get(lmz_simd simd)
{
    if (!lmz_simd_supported(simd)) return NULL;
    switch (simd) {
    case LMZ_SIMD_SCALAR: return &table_scalar;
#if defined(__x86_64__)
    case LMZ_SIMD_AVX2: return &table_avx2;
    case LMZ_SIMD_AVX512: return &table_avx512;
#endif
#if defined(__aarch64__)
    case LMZ_SIMD_NEON: return &table_neon;
#endif
    default: return NULL;
    }
}
