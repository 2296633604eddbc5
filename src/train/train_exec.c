/*
 * train_exec.c -- the trainer's execution context (threads, kernel choice) and its
 * matrix product: a portable block kernel, and the split of C into blocks among threads.
 * The AVX-512 block kernel is in train_gemm_avx512.c.
 */
#include <stdlib.h>
#include <string.h>

#include "train/train_ops.h"

/* Blocks of C handed to threads: the AVX-512 kernel's tiles are 8 rows x 32 columns. */
#define TASK_ROWS 64u
#define TASK_COLS 256u
/* Products smaller than this many multiply-adds run on the calling thread. */
#define PAR_MIN_MACS 65536.0

int tr_exec_init(tr_exec *x, int n_threads)
{
    memset(x, 0, sizeof *x);
    x->n_threads = n_threads < 1 ? 1u : (uint32_t)n_threads;
    x->pool = tp_new((int)x->n_threads);
    if (!x->pool) return -1;
#if defined(__x86_64__)
    int avx512 = lmz_simd_supported(LMZ_SIMD_AVX512);
    x->gemm_block = avx512 ? tr_gemm_block_avx512 : tr_gemm_block_portable;
    x->v = avx512 ? &tr_vec_avx512 : &tr_vec_portable;
#else
    x->gemm_block = tr_gemm_block_portable;
    x->v = &tr_vec_portable;
#endif
    x->k = lmz_kernels_get(lmz_simd_best());
    return 0;
}

void tr_exec_free(tr_exec *x)
{
    tp_free(x->pool);
    x->pool = NULL;
    free(x->bf16_scratch);
    x->bf16_scratch = NULL;
    x->bf16 = 0;
}

static int cpu_has_bf16(void)
{
#if defined(__x86_64__)
    return lmz_simd_supported(LMZ_SIMD_AVX512) && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

int tr_exec_set_bf16(tr_exec *x, int on)
{
    if (!on || !cpu_has_bf16()) {
        x->bf16 = 0;
        return 0;
    }
#if defined(__x86_64__)
    if (!x->bf16_scratch) {
        x->bf16_scratch = aligned_alloc(64, x->n_threads * tr_gemm_bf16_scratch_bytes());
        if (!x->bf16_scratch) return -1;
    }
#endif
    x->bf16 = 1;
    return 1;
}

void tr_exec_run(const tr_exec *x, uint32_t n_tasks, tp_task_fn fn, void *arg)
{
    if (x->n_threads == 1 || n_tasks == 1) {
        for (uint32_t t = 0; t < n_tasks; t++) fn(arg, t, 0);
        return;
    }
    tp_run(x->pool, n_tasks, fn, arg);
}

/* Portable kernel: per row, C's row segment accumulates a*B[k] row by row (independent
 * lanes, so the compiler may vectorize without reassociating). */
void tr_gemm_block_portable(const tr_gemm_args *g, uint32_t m0, uint32_t m1, uint32_t n0,
                            uint32_t n1)
{
    for (uint32_t m = m0; m < m1; m++) {
        float *c = g->C + (size_t)m * g->ldc;
        if (!g->accumulate)
            for (uint32_t n = n0; n < n1; n++) c[n] = 0.0f;
        for (uint32_t k = 0; k < g->K; k++) {
            float a = g->A[(size_t)m * g->a_rs + (size_t)k * g->a_cs];
            const float *b = g->B + (size_t)k * g->ldb;
            for (uint32_t n = n0; n < n1; n++) c[n] = c[n] + a * b[n];
        }
    }
}

typedef struct gemm_job {
    const tr_gemm_args *g;
    tr_gemm_fn fn;
    uint32_t n_col_blocks;
} gemm_job;

static void gemm_task(void *arg, uint32_t task, uint32_t thread)
{
    (void)thread;
    const gemm_job *j = arg;
    const tr_gemm_args *g = j->g;
    uint32_t m0 = task / j->n_col_blocks * TASK_ROWS, n0 = task % j->n_col_blocks * TASK_COLS;
    uint32_t m1 = m0 + TASK_ROWS < g->M ? m0 + TASK_ROWS : g->M;
    uint32_t n1 = n0 + TASK_COLS < g->N ? n0 + TASK_COLS : g->N;
    j->fn(g, m0, m1, n0, n1);
}

/* bf16 tasks: whole rows of C, so that each task packs its B panels once per K block;
 * about two tasks per thread for the balance. */
typedef struct bf16_job {
    const tr_gemm_args *g;
    unsigned char *scratch;
    uint32_t rows;
} bf16_job;

#if defined(__x86_64__)
static void bf16_task(void *arg, uint32_t task, uint32_t thread)
{
    const bf16_job *j = arg;
    uint32_t m0 = task * j->rows, m1 = m0 + j->rows < j->g->M ? m0 + j->rows : j->g->M;
    tr_gemm_block_bf16(j->g, m0, m1, 0, j->g->N,
                       j->scratch + (size_t)thread * tr_gemm_bf16_scratch_bytes());
}
#endif

static void gemm_bf16(const tr_exec *x, const tr_gemm_args *g)
{
#if !defined(__x86_64__)
    (void)x; (void)g;
    abort();   /* unreachable: tr_exec_set_bf16 turns bf16 on only on x86-64 */
#else
    uint32_t parts = x->n_threads == 1 ? 1 : 2 * x->n_threads;
    uint32_t rows = (g->M + parts - 1) / parts;
    rows = (rows + 15) / 16 * 16;
    bf16_job j = {g, x->bf16_scratch, rows};
    tr_exec_run(x, (g->M + rows - 1) / rows, bf16_task, &j);
#endif
}

void tr_gemm_local(const tr_exec *x, const tr_gemm_args *g, uint32_t thread)
{
#if defined(__x86_64__)
    if (x->bf16) {
        tr_gemm_block_bf16(g, 0, g->M, 0, g->N,
                           x->bf16_scratch + (size_t)thread * tr_gemm_bf16_scratch_bytes());
        return;
    }
#endif
    (void)thread;
    x->gemm_block(g, 0, g->M, 0, g->N);
}

void tr_gemm(const tr_exec *x, const tr_gemm_args *g)
{
    if (g->M == 0 || g->N == 0) return;
    if (x->bf16) {
        gemm_bf16(x, g);
        return;
    }
    double macs = (double)g->M * g->N * g->K;
    if (x->n_threads == 1 || macs < PAR_MIN_MACS) {
        x->gemm_block(g, 0, g->M, 0, g->N);
        return;
    }
    gemm_job j = {g, x->gemm_block, (g->N + TASK_COLS - 1) / TASK_COLS};
    uint32_t n_row_blocks = (g->M + TASK_ROWS - 1) / TASK_ROWS;
    tp_run(x->pool, n_row_blocks * j.n_col_blocks, gemm_task, &j);
}

typedef struct rows_job {
    tr_rows_fn fn;
    void *arg;
    uint32_t n, chunk;
} rows_job;

static void rows_task(void *arg, uint32_t task, uint32_t thread)
{
    (void)thread;
    const rows_job *j = arg;
    uint32_t r0 = task * j->chunk, r1 = r0 + j->chunk < j->n ? r0 + j->chunk : j->n;
    j->fn(j->arg, r0, r1);
}

void tr_parallel_rows(const tr_exec *x, uint32_t n, tr_rows_fn fn, void *arg)
{
    if (n == 0) return;
    uint32_t parts = x->n_threads * 4;
    rows_job j = {fn, arg, n, (n + parts - 1) / parts};
    tr_exec_run(x, (n + j.chunk - 1) / j.chunk, rows_task, &j);
}
