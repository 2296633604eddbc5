/*
 * test_train.c -- the trainer (src/train).
 *
 *  1. Gradients: every layer's backward against central finite differences of its
 *     forward (embedding, RMSNorm weight and input, linear dX and dW with both gemm
 *     kernels, RoPE, causal GQA attention, SwiGLU, cross-entropy), then the whole model
 *     (tied and untied head) on sampled parameters of every tensor.  Each layer check
 *     uses the scalar L = sum(y * R) for a fixed random R, so dL/dy = R; the float forward
 *     is summed in double.  Bound: max |analytic - numeric| <= TOL * max |numeric| (TOL
 *     stated per check; float32 rounding in the forward limits it).
 *  2. A tiny model overfits a tiny text.
 *  3. Export -> lmz_model_open -> fwd_eval gives the trainer's loss (relative 1e-4).
 *  4. Checkpoint save -> load -> next step equals uninterrupted training exactly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model.h"
#include "train/export.h"
#include "train/session.h"
#include "train/train_model.h"
#include "train/train_ops.h"
#include "train/lora.h"
#include "train/trainer.h"

/* ---------------------------------------------------------------- helpers */

static uint64_t test_rng = 12345;

static float urand(void)   /* uniform in [-1, 1) */
{
    return (float)((double)(tm_rng_next(&test_rng) >> 11) * 0x1p-52 - 1.0);
}

static float *rand_vec(size_t n, float scale)
{
    float *v = malloc(n * sizeof(float));
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) v[i] = urand() * scale;
    return v;
}

static double dot_d(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

typedef double (*loss_fn)(void *ctx);

/* Compare grad[] with central differences of f over p[idx] for `count` indices
 * (every index when count >= n, else a random sample).  Returns the normalized error
 * max |g - num| / max |num|. */
static double fd_check(loss_fn f, void *ctx, float *p, const float *grad, size_t n,
                       size_t count, float eps, const char *what)
{
    double max_err = 0, max_num = 0;
    size_t k_max = count < n ? count : n;
    for (size_t k = 0; k < k_max; k++) {
        size_t i = count < n ? (size_t)(tm_rng_next(&test_rng) % n) : k;
        float save = p[i];
        p[i] = save + eps;
        double lp = f(ctx);
        p[i] = save - eps;
        double lm = f(ctx);
        p[i] = save;
        double num = (lp - lm) / (2.0 * (double)eps);
        double err = fabs(num - grad[i]);
        if (err > max_err) max_err = err;
        if (fabs(num) > max_num) max_num = fabs(num);
    }
    double rel = max_num > 0 ? max_err / max_num : max_err;
    print_message("  %-28s max|num| %.3e  normalized error %.2e\n", what, max_num, rel);
    return rel;
}

static tr_exec ex;

static int setup_exec(void **state)
{
    (void)state;
    return tr_exec_init(&ex, 2);
}

static int teardown_exec(void **state)
{
    (void)state;
    tr_exec_free(&ex);
    return 0;
}

/* ---------------------------------------------------------------- 1. layer gradients */

typedef struct emb_ctx { float *table, *y, *R; uint32_t *tok; uint32_t n, dim; } emb_ctx;
static double emb_loss(void *c_)
{
    emb_ctx *c = c_;
    tr_embedding_fwd(c->y, c->tok, c->table, c->n, c->dim);
    return dot_d(c->y, c->R, (size_t)c->n * c->dim);
}

static void test_grad_embedding(void **state)
{
    (void)state;
    uint32_t V = 5, dim = 4, n = 7;
    uint32_t tok[7] = {1, 3, 1, 0, 4, 1, 3};
    emb_ctx c = {rand_vec(V * dim, 1), rand_vec(n * dim, 1), rand_vec(n * dim, 1), tok, n, dim};
    float *g = calloc(V * dim, sizeof(float));
    tr_embedding_bwd(g, c.R, tok, n, dim);
    assert_true(fd_check(emb_loss, &c, c.table, g, V * dim, 1000, 1e-2f, "embedding") < 1e-4);
    free(c.table); free(c.y); free(c.R); free(g);
}

typedef struct norm_ctx { float *in, *w, *y, *rstd, *R; uint32_t n, dim; } norm_ctx;
static double norm_loss(void *c_)
{
    norm_ctx *c = c_;
    tr_rmsnorm_fwd(&ex, c->y, c->rstd, c->in, c->w, c->n, c->dim, 1e-5f);
    return dot_d(c->y, c->R, (size_t)c->n * c->dim);
}

static void test_grad_rmsnorm(void **state)
{
    (void)state;
    uint32_t n = 5, dim = 24;
    norm_ctx c = {rand_vec(n * dim, 1), rand_vec(dim, 1), rand_vec(n * dim, 1),
                  rand_vec(n, 1), rand_vec(n * dim, 1), n, dim};
    for (uint32_t i = 0; i < dim; i++) c.w[i] += 1.0f;
    float *din = calloc(n * dim, sizeof(float)), *dw = calloc(dim, sizeof(float));
    norm_loss(&c);
    tr_rmsnorm_bwd(&ex, din, dw, c.R, c.in, c.w, c.rstd, n, dim);
    assert_true(fd_check(norm_loss, &c, c.in, din, n * dim, 1000, 1e-2f, "rmsnorm input") < 2e-3);
    assert_true(fd_check(norm_loss, &c, c.w, dw, dim, 1000, 1e-2f, "rmsnorm weight") < 2e-3);
    free(c.in); free(c.w); free(c.y); free(c.rstd); free(c.R); free(din); free(dw);
}

typedef struct lin_ctx { float *in, *W, *y, *wt, *R; uint32_t n, n_in, n_out; } lin_ctx;
static double lin_loss(void *c_)
{
    lin_ctx *c = c_;
    tr_linear_fwd(&ex, c->y, c->in, c->W, c->n, c->n_in, c->n_out, c->wt);
    return dot_d(c->y, c->R, (size_t)c->n * c->n_out);
}

static void check_linear(uint32_t n, uint32_t n_in, uint32_t n_out)
{
    lin_ctx c = {rand_vec(n * n_in, 1), rand_vec(n_in * n_out, 1), rand_vec(n * n_out, 1),
                 rand_vec(n_in * n_out, 1), rand_vec(n * n_out, 1), n, n_in, n_out};
    float *din = rand_vec(n * n_in, 1), *dW = rand_vec(n_in * n_out, 1);
    float *din0 = malloc(n * n_in * sizeof(float)), *dW0 = malloc(n_in * n_out * sizeof(float));
    memcpy(din0, din, n * n_in * sizeof(float));
    memcpy(dW0, dW, n_in * n_out * sizeof(float));
    /* accumulate into random contents, then subtract them: checks the += contract */
    tr_linear_bwd_dx(&ex, din, c.R, c.W, n, n_in, n_out, 1);
    tr_linear_bwd_dw(&ex, dW, c.R, c.in, n, n_in, n_out);
    for (size_t i = 0; i < (size_t)n * n_in; i++) din[i] -= din0[i];
    for (size_t i = 0; i < (size_t)n_in * n_out; i++) dW[i] -= dW0[i];
    char what[64];
    snprintf(what, sizeof what, "linear dX %ux%u->%u", n, n_in, n_out);
    assert_true(fd_check(lin_loss, &c, c.in, din, n * n_in, 300, 1e-2f, what) < 1e-4);
    snprintf(what, sizeof what, "linear dW %ux%u->%u", n, n_in, n_out);
    assert_true(fd_check(lin_loss, &c, c.W, dW, n_in * n_out, 300, 1e-2f, what) < 1e-4);
    /* the overwrite form equals the accumulated one minus its start */
    tr_linear_bwd_dx(&ex, din0, c.R, c.W, n, n_in, n_out, 0);
    for (size_t i = 0; i < (size_t)n * n_in; i++) assert_true(fabsf(din0[i] - din[i]) < 1e-4f);
    free(c.in); free(c.W); free(c.y); free(c.wt); free(c.R); free(din); free(dW); free(din0); free(dW0);
}

static void test_grad_linear(void **state)
{
    (void)state;
    tr_gemm_fn saved = ex.gemm_block;
    tr_gemm_fn kernels[2] = {tr_gemm_block_portable, saved};
    for (int k = 0; k < 2; k++) {
        ex.gemm_block = kernels[k];
        check_linear(3, 5, 7);
        check_linear(37, 70, 41);     /* tile and mask edges, several threads' blocks */
    }
    ex.gemm_block = saved;
}

/* The AVX-512 block kernel against the portable one on big, odd, accumulated products
 * with transposed A (the shapes the backward uses). */
static void test_gemm_kernels_agree(void **state)
{
    (void)state;
    if (ex.gemm_block == tr_gemm_block_portable) skip();
    uint32_t M = 77, N = 300, K = 290;
    float *A = rand_vec((size_t)M * K, 1), *B = rand_vec((size_t)K * N, 1);
    float *C1 = rand_vec((size_t)M * N, 1), *C2 = malloc((size_t)M * N * sizeof(float));
    memcpy(C2, C1, (size_t)M * N * sizeof(float));
    for (int tr = 0; tr < 2; tr++) {
        tr_gemm_args g = {.M = M, .N = N, .K = K, .A = A, .a_rs = tr ? 1 : K, .a_cs = tr ? M : 1,
                          .B = B, .ldb = N, .C = C1, .ldc = N, .accumulate = tr};
        tr_gemm_block_portable(&g, 0, M, 0, N);
        g.C = C2;
        tr_gemm(&ex, &g);
        double max = 0;
        for (size_t i = 0; i < (size_t)M * N; i++) {
            /* A plain comparison: aarch64 gcc 12 crashes vectorizing an fmax reduction. */
            double d = fabs(C1[i] - C2[i]);
            if (d > max) max = d;
        }
        assert_true(max < 1e-3);
    }
    free(A); free(B); free(C1); free(C2);
}

/* The bf16 product (both operands rounded to bf16, fp32 sums) against the fp32 one, on
 * odd shapes, both A orientations, accumulated, two threads.  Each operand's rounding is
 * within 2^-9 relative, so each product within ~2^-8: the bound is 2^-7 of sum |a b|. */
static void test_gemm_bf16_agrees(void **state)
{
    (void)state;
    if (tr_exec_set_bf16(&ex, 1) != 1) skip();
    static const uint32_t shapes[][3] = {{77, 300, 290}, {3, 5, 7}, {1, 33, 1}, {130, 520, 257}};
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        uint32_t M = shapes[sh][0], N = shapes[sh][1], K = shapes[sh][2];
        float *A = rand_vec((size_t)M * K, 1), *B = rand_vec((size_t)K * N, 1);
        float *C1 = rand_vec((size_t)M * N, 1), *C2 = malloc((size_t)M * N * sizeof(float));
        memcpy(C2, C1, (size_t)M * N * sizeof(float));
        for (int tr = 0; tr < 2; tr++) {
            tr_gemm_args g = {.M = M, .N = N, .K = K, .A = A, .a_rs = tr ? 1 : K,
                              .a_cs = tr ? M : 1, .B = B, .ldb = N, .C = C1, .ldc = N,
                              .accumulate = tr};
            tr_gemm_block_portable(&g, 0, M, 0, N);
            g.C = C2;
            tr_gemm(&ex, &g);
            double worst = 0;
            for (uint32_t m = 0; m < M; m++)
                for (uint32_t n = 0; n < N; n++) {
                    double mag = 0;
                    for (uint32_t k = 0; k < K; k++)
                        mag += fabs((double)A[(size_t)m * g.a_rs + (size_t)k * g.a_cs] *
                                    B[(size_t)k * N + n]);
                    double d = fabs((double)C1[(size_t)m * N + n] - C2[(size_t)m * N + n]);
                    worst = fmax(worst, d / (mag + 1e-30));
                    assert_true(d <= mag / 128 + 1e-6);
                }
            print_message("  bf16 gemm %ux%ux%u %s: max error / sum|ab| %.2e\n", M, N, K,
                          tr ? "A^T, +=" : "A", worst);
            memcpy(C2, C1, (size_t)M * N * sizeof(float));
        }
        free(A); free(B); free(C1); free(C2);
    }
    assert_int_equal(tr_exec_set_bf16(&ex, 0), 0);
}

/* max |a - b| over n, relative to max |a| */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)a[i]));
    }
    return m > 0 ? d / m : d;
}

/* The AVX-512 row kernels (used by every other test on this machine) against the
 * portable ones, on lengths around the 16-lane tails: the same formulas, summed in
 * another order, so within 1e-5 relative (measured: ~1e-7). */
static void test_vec_kernels_agree(void **state)
{
    (void)state;
    if (ex.v == &tr_vec_portable) skip();
    const tr_vec *P = &tr_vec_portable, *V = ex.v;
    static const uint32_t lens[] = {1, 15, 17, 64, 300, 4096};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        uint32_t n = lens[li], T = n + 5;
        float *a = rand_vec(T, 4), *b = malloc(T * sizeof(float)), *p = rand_vec(T, 1);
        float *c = rand_vec(T, 1), *d = rand_vec(T, 1), *e = rand_vec(T, 1), *f = rand_vec(T, 1);
        float *g = rand_vec(T, 1);
        for (uint32_t i = 0; i < T; i++) p[i] = fabsf(p[i]);
        memcpy(b, a, T * sizeof(float));
        float la = P->ce_row(ex.k, a, n, n / 2, 0.25f), lb = V->ce_row(ex.k, b, n, n / 2, 0.25f);
        assert_true(fabs(la - lb) <= 1e-5 * fmax(1.0, fabs(la)));
        assert_true(rel_diff(a, b, n) < 1e-5);
        memcpy(b, a, T * sizeof(float));
        P->softmax_row(ex.k, a, n, T, 0.125f);
        V->softmax_row(ex.k, b, n, T, 0.125f);
        assert_true(rel_diff(a, b, T) < 1e-5);
        memcpy(b, a, T * sizeof(float));
        P->softmax_bwd_row(a, p, n, T, 0.125f);
        V->softmax_bwd_row(b, p, n, T, 0.125f);
        assert_true(rel_diff(a, b, T) < 1e-5);
        memcpy(b, a, T * sizeof(float));
        P->rmsnorm_bwd_row(a, c, d, e, 1.3f, n);
        V->rmsnorm_bwd_row(b, c, d, e, 1.3f, n);
        assert_true(rel_diff(a, b, n) < 1e-5);
        memcpy(b, a, T * sizeof(float));
        P->rmsnorm_dw_row(a, c, d, 1.3f, n);
        V->rmsnorm_dw_row(b, c, d, 1.3f, n);
        assert_true(rel_diff(a, b, n) < 1e-5);
        memcpy(a, p, T * sizeof(float));
        memcpy(b, p, T * sizeof(float));
        P->swiglu_bwd(a, f, c, d, e, n);
        V->swiglu_bwd(b, g, c, d, e, n);
        assert_true(rel_diff(a, b, n) < 1e-5 && rel_diff(f, g, n) < 1e-5);
        memcpy(b, a, T * sizeof(float));
        memcpy(g, f, T * sizeof(float));
        float *pc = malloc(T * sizeof(float));
        memcpy(pc, c, T * sizeof(float));
        tr_adam_args aa = {c, a, f, d, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.5f, 0.19f, 0.0975f};
        tr_adam_args ab = {pc, b, g, d, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.5f, 0.19f, 0.0975f};
        for (uint32_t i = 0; i < T; i++) f[i] = g[i] = fabsf(f[i]);
        P->adam(&aa, 0, n);
        V->adam(&ab, 0, n);
        assert_true(rel_diff(c, pc, n) < 1e-5 && rel_diff(a, b, n) < 1e-5 &&
                    rel_diff(f, g, n) < 1e-5);
        free(a); free(b); free(p); free(c); free(d); free(e); free(f); free(g); free(pc);
    }
}

typedef struct rope_ctx { rope_table t; float *in, *y, *R; uint32_t ns, T, nh, hd; } rope_ctx;
static double rope_loss(void *c_)
{
    rope_ctx *c = c_;
    size_t n = (size_t)c->ns * c->T * c->nh * c->hd;
    memcpy(c->y, c->in, n * sizeof(float));
    tr_rope_fwd(&c->t, c->y, c->ns, c->T, c->nh, c->hd);
    return dot_d(c->y, c->R, n);
}

static void test_grad_rope(void **state)
{
    (void)state;
    rope_ctx c = {.ns = 2, .T = 6, .nh = 3, .hd = 8};
    size_t n = (size_t)c.ns * c.T * c.nh * c.hd;
    assert_int_equal(rope_init(&c.t, c.T, c.hd, 10000.0f, 1.0f), 0);
    c.in = rand_vec(n, 1); c.y = rand_vec(n, 1); c.R = rand_vec(n, 1);
    float *g = malloc(n * sizeof(float));
    memcpy(g, c.R, n * sizeof(float));
    tr_rope_bwd(&c.t, g, c.ns, c.T, c.nh, c.hd);
    assert_true(fd_check(rope_loss, &c, c.in, g, n, 1000, 1e-2f, "rope") < 1e-4);
    /* adjacent pairs, as llama: position 1 rotates (x0, x1) by angle 1 rad */
    float v[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    rope_apply(&c.t, v, 1, 8, 1, 0);
    assert_true(fabsf(v[0] - cosf(1.0f)) < 1e-6f && fabsf(v[1] - sinf(1.0f)) < 1e-6f);
    rope_free(&c.t);
    free(c.in); free(c.y); free(c.R); free(g);
}

typedef struct attn_ctx {
    tr_attn_shape s;
    float *q, *k, *v, *out, *probs, *R, *scratch;
} attn_ctx;
static double attn_loss(void *c_)
{
    attn_ctx *c = c_;
    tr_attention_fwd(&ex, &c->s, c->out, c->probs, c->q, c->k, c->v, c->scratch);
    return dot_d(c->out, c->R, (size_t)c->s.n_seq * c->s.seq_len * c->s.n_head * c->s.head_dim);
}

static void check_attention(tr_attn_shape s, size_t samples)
{
    attn_ctx c = {.s = s};
    size_t rows = (size_t)s.n_seq * s.seq_len, qn = rows * s.n_head * s.head_dim;
    size_t kn = rows * s.n_head_kv * s.head_dim;
    c.q = rand_vec(qn, 1.5f); c.k = rand_vec(kn, 1.5f); c.v = rand_vec(kn, 1);
    c.out = rand_vec(qn, 1); c.R = rand_vec(qn, 1);
    c.probs = rand_vec((size_t)s.n_seq * s.n_head * s.seq_len * s.seq_len, 1);
    c.scratch = rand_vec(tr_attention_scratch(&s) * ex.n_threads, 1);
    float *dq = rand_vec(qn, 1), *dk = rand_vec(kn, 1), *dv = rand_vec(kn, 1);
    attn_loss(&c);
    /* causality: probabilities above the diagonal are zero, rows sum to 1 */
    for (uint32_t t = 0; t < s.seq_len; t++) {
        double sum = 0;
        for (uint32_t u = 0; u < s.seq_len; u++) {
            float p = c.probs[(size_t)t * s.seq_len + u];
            if (u > t) assert_true(p == 0.0f);
            sum += p;
        }
        assert_true(fabs(sum - 1) < 1e-5);
    }
    tr_attention_bwd(&ex, &s, dq, dk, dv, c.R, c.probs, c.q, c.k, c.v, c.scratch);
    char what[64];
    snprintf(what, sizeof what, "attention dQ T=%u %u/%u", s.seq_len, s.n_head, s.n_head_kv);
    assert_true(fd_check(attn_loss, &c, c.q, dq, qn, samples, 1e-2f, what) < 2e-3);
    snprintf(what, sizeof what, "attention dK T=%u %u/%u", s.seq_len, s.n_head, s.n_head_kv);
    assert_true(fd_check(attn_loss, &c, c.k, dk, kn, samples, 1e-2f, what) < 2e-3);
    snprintf(what, sizeof what, "attention dV T=%u %u/%u", s.seq_len, s.n_head, s.n_head_kv);
    assert_true(fd_check(attn_loss, &c, c.v, dv, kn, samples, 1e-2f, what) < 2e-3);
    free(c.q); free(c.k); free(c.v); free(c.out); free(c.R); free(c.probs); free(c.scratch);
    free(dq); free(dk); free(dv);
}

static void test_grad_attention(void **state)
{
    (void)state;
    check_attention((tr_attn_shape){2, 7, 4, 2, 8}, 100000);   /* GQA, every element */
    check_attention((tr_attn_shape){1, 5, 3, 3, 4}, 100000);   /* MHA */
    check_attention((tr_attn_shape){2, 70, 2, 1, 4}, 400);     /* MQA, past one 64-row block */
}

typedef struct glu_ctx { float *g, *u, *y, *R; size_t n; } glu_ctx;
static double glu_loss(void *c_)
{
    glu_ctx *c = c_;
    tr_swiglu_fwd(&ex, c->y, c->g, c->u, c->n);
    return dot_d(c->y, c->R, c->n);
}

static void test_grad_swiglu(void **state)
{
    (void)state;
    size_t n = 200;
    glu_ctx c = {rand_vec(n, 4), rand_vec(n, 2), rand_vec(n, 1), rand_vec(n, 1), n};
    float *dg = malloc(n * sizeof(float)), *du = malloc(n * sizeof(float));
    tr_swiglu_bwd(&ex, dg, du, c.R, c.g, c.u, n);
    assert_true(fd_check(glu_loss, &c, c.g, dg, n, 1000, 1e-2f, "swiglu gate") < 1e-3);
    assert_true(fd_check(glu_loss, &c, c.u, du, n, 1000, 1e-2f, "swiglu up") < 1e-4);
    free(c.g); free(c.u); free(c.y); free(c.R); free(dg); free(du);
}

typedef struct ce_ctx { float *logits, *work, *loss; uint32_t *tgt; uint32_t n, V; } ce_ctx;
static double ce_loss(void *c_)
{
    ce_ctx *c = c_;
    memcpy(c->work, c->logits, (size_t)c->n * c->V * sizeof(float));
    return tr_cross_entropy(&ex, c->work, c->tgt, c->n, c->V, 0.0f, c->loss);
}

static void test_grad_cross_entropy(void **state)
{
    (void)state;
    uint32_t n = 4, V = 11, tgt[4] = {0, 10, 3, 3};
    ce_ctx c = {rand_vec(n * V, 3), rand_vec(n * V, 1), rand_vec(n, 1), tgt, n, V};
    float *g = malloc(n * V * sizeof(float));
    memcpy(g, c.logits, n * V * sizeof(float));
    double total = tr_cross_entropy(&ex, g, tgt, n, V, 1.0f, c.loss);
    /* against a double log-softmax */
    double ref = 0;
    for (uint32_t t = 0; t < n; t++) {
        double s = 0;
        for (uint32_t i = 0; i < V; i++) s += exp(c.logits[t * V + i]);
        ref += log(s) - c.logits[t * V + tgt[t]];
    }
    assert_true(fabs(total - ref) < 1e-5 * fabs(ref));
    assert_true(fd_check(ce_loss, &c, c.logits, g, n * V, 1000, 1e-2f, "cross-entropy") < 1e-3);
    free(c.logits); free(c.work); free(c.loss); free(g);
}

/* ---------------------------------------------------------------- whole model */

static const tm_config tiny_cfg = {.n_vocab = 23, .n_embd = 16, .n_layer = 2, .n_head = 4,
                                   .n_head_kv = 2, .n_ff = 24, .n_ctx = 9, .tied = 0,
                                   .norm_eps = 1e-5f, .rope_base = 10000.0f};

typedef struct model_ctx { trainer *t; const uint32_t *tok; uint32_t n_seq, T; } model_ctx;
static double model_loss(void *c_)
{
    model_ctx *c = c_;
    double loss;
    assert_int_equal(trainer_forward(c->t, c->tok, c->n_seq, c->T, &loss), 0);
    return loss;
}

/* Parameters drawn larger than the init, so that every path carries gradient.  fp32
 * products: the finite-difference and inference comparisons need their precision. */
static trainer *make_trainer(const tm_config *c, uint32_t max_seqs, int threads, float scale)
{
    char err[256];
    trainer *t = trainer_new(c, max_seqs, threads, err, sizeof err);
    if (!t) fail_msg("%s", err);
    assert_int_equal(trainer_set_bf16(t, 0), 0);
    float *p = trainer_params(t);
    tm_init_params(c, p, 7);
    for (uint32_t i = 0; i < tm_n_tensors(c); i++) {
        tm_tensor ti;
        tm_tensor_at(c, i, &ti);
        for (size_t k = 0; k < (size_t)ti.n_out * ti.n_in; k++)
            p[ti.offset + k] = ti.is_matrix ? p[ti.offset + k] * scale : 1.0f + 0.3f * urand();
    }
    return t;
}

static void check_model(int tied)
{
    tm_config c = tiny_cfg;
    c.tied = (uint32_t)tied;
    trainer *t = make_trainer(&c, 2, 2, 15.0f);
    uint32_t T = 8, tok[2 * 9];
    for (int i = 0; i < 18; i++) tok[i] = (uint32_t)(tm_rng_next(&test_rng) % c.n_vocab);
    model_ctx mc = {t, tok, 2, T};
    model_loss(&mc);
    trainer_backward(t);
    size_t n = trainer_n_params(t);
    float *g = malloc(n * sizeof(float));
    memcpy(g, trainer_grads(t), n * sizeof(float));
    for (uint32_t i = 0; i < tm_n_tensors(&c); i++) {
        tm_tensor ti;
        tm_tensor_at(&c, i, &ti);
        char what[64];
        snprintf(what, sizeof what, "%s %s", tied ? "tied" : "untied", ti.name);
        size_t len = (size_t)ti.n_out * ti.n_in;
        double e = fd_check(model_loss, &mc, trainer_params(t) + ti.offset, g + ti.offset, len,
                            40, 1e-2f, what);
        assert_true(e < 1e-2);
    }
    free(g);
    trainer_free(t);
}

static void test_grad_model_untied(void **state) { (void)state; check_model(0); }
static void test_grad_model_tied(void **state) { (void)state; check_model(1); }

/* Whole-model gradients with bf16 products against fp32 ones, at the initialization's
 * scale, on shapes that cross the kernels' tile and block edges: the loss within 1e-3
 * relative and every tensor's gradient within 5e-2 in relative L2 norm (measured: see the
 * printed figures). */
static void test_bf16_model_grads_agree(void **state)
{
    (void)state;
    tm_config c = {.n_vocab = 301, .n_embd = 64, .n_layer = 2, .n_head = 4, .n_head_kv = 2,
                   .n_ff = 160, .n_ctx = 70, .tied = 1, .norm_eps = 1e-5f,
                   .rope_base = 10000.0f};
    trainer *t = make_trainer(&c, 3, 2, 1.0f);
    uint32_t T = 70, tok[3 * 71];
    for (int i = 0; i < 3 * 71; i++) tok[i] = (uint32_t)(tm_rng_next(&test_rng) % c.n_vocab);
    double l32, l16;
    assert_int_equal(trainer_forward(t, tok, 3, T, &l32), 0);
    trainer_backward(t);
    size_t n = trainer_n_params(t);
    float *g32 = malloc(n * sizeof(float));
    memcpy(g32, trainer_grads(t), n * sizeof(float));
    if (trainer_set_bf16(t, 1) != 1) {
        free(g32);
        trainer_free(t);
        skip();
    }
    assert_int_equal(trainer_forward(t, tok, 3, T, &l16), 0);
    trainer_backward(t);
    const float *g16 = trainer_grads(t);
    print_message("  loss fp32 %.6f bf16 %.6f, relative %.2e\n", l32, l16, fabs(l16 - l32) / l32);
    assert_true(fabs(l16 - l32) <= 1e-3 * l32);
    double worst = 0;
    for (uint32_t i = 0; i < tm_n_tensors(&c); i++) {
        tm_tensor ti;
        tm_tensor_at(&c, i, &ti);
        double dd = 0, nn = 0;
        for (size_t k = 0; k < (size_t)ti.n_out * ti.n_in; k++) {
            double a = g32[ti.offset + k], b = g16[ti.offset + k];
            dd += (a - b) * (a - b);
            nn += a * a;
        }
        double rel = sqrt(dd / (nn + 1e-300));
        worst = fmax(worst, rel);
        assert_true(rel < 5e-2);
    }
    print_message("  worst tensor gradient, relative L2 difference: %.2e\n", worst);
    free(g32);
    trainer_free(t);
}

/* ---------------------------------------------------------------- 2. overfitting */

static const char tiny_text[] =
    "It is a truth universally acknowledged, that a single man in possession of a good "
    "fortune, must be in want of a wife.";

static tr_run_state tiny_run(void)
{
    tr_run_state st;
    memset(&st, 0, sizeof st);
    st.model = (tm_config){.n_vocab = 128, .n_embd = 32, .n_layer = 2, .n_head = 4,
                           .n_head_kv = 2, .n_ff = 64, .n_ctx = 32, .tied = 1,
                           .norm_eps = 1e-5f, .rope_base = 10000.0f};
    tr_opt_defaults(&st.opt);
    st.opt.lr = 1e-2f;
    st.opt.lr_min = 1e-3f;
    st.opt.warmup = 10;
    st.opt.total_steps = 300;
    st.opt.weight_decay = 0.0f;
    st.batch = 8;
    st.seq_len = 32;
    st.seed = 3;
    return st;
}

static void text_data(tr_data *d, double heldout)
{
    size_t n = sizeof tiny_text - 1;
    uint32_t ids[sizeof tiny_text];
    for (size_t i = 0; i < n; i++) ids[i] = (uint8_t)tiny_text[i];
    char err[256];
    if (tr_data_from_tokens(d, ids, n, 128, heldout, 32, err, sizeof err)) fail_msg("%s", err);
}

/* 300 steps of 8 x 32 tokens on a 113-byte text: the loss must fall from ln(128) = 4.85
 * (uniform) to below 0.25 nats per token (measured: 0.066 fp32), with fp32 products and,
 * where the CPU has them, bf16 products. */
static void overfit(int bf16)
{
    tr_data d;
    text_data(&d, 0);
    tr_run_state st = tiny_run();
    char err[256];
    tr_session *s = tr_session_new(&st, &d, 2, err, sizeof err);
    if (!s) fail_msg("%s", err);
    if (trainer_set_bf16(s->t, bf16) != bf16) {
        tr_session_free(s);
        tr_data_free(&d);
        skip();
    }
    tr_step_info info, first = { 0 };
    for (uint32_t i = 0; i < st.opt.total_steps; i++) {
        tr_session_step(s, &info);
        if (i == 0) first = info;
    }
    print_message("  %s loss: first step %.4f, step %u %.4f\n", bf16 ? "bf16" : "fp32",
                  first.loss, st.opt.total_steps, info.loss);
    assert_true(first.loss > 4.0);
    assert_true(info.loss < 0.25);
    tr_session_free(s);
    tr_data_free(&d);
}

static void test_overfit_tiny_text(void **state) { (void)state; overfit(0); }
static void test_overfit_tiny_text_bf16(void **state) { (void)state; overfit(1); }

/* ---------------------------------------------------------------- 3. export -> inference */

static const char *shared_tok_gguf(void)
{
    return "tests/fixtures/ref/llama-mha-untied-gpt2.gguf";   /* gpt2 tokenizer, 265 tokens */
}

/* Mean -ln p(next token) from the inference's logits, in double; with the LoRA adapter
 * at adapter_path unless it is NULL. */
static double inference_loss(const char *path, const char *adapter_path, const uint32_t *tok,
                             uint32_t T)
{
    lmz_error e;
    lmz_model *m = lmz_model_open(path, &e);
    if (!m) fail_msg("%s", e.message);
    char err[400];
    forward_ctx *f = fwd_new(m, T, 1, T, 2, LMZ_SIMD_AUTO, err, sizeof err);
    if (!f) fail_msg("%s", err);
    lmz_adapter *a = NULL;
    if (adapter_path && !(a = lmz_adapter_open(adapter_path, &e))) fail_msg("%s", e.message);
    if (a && fwd_set_adapter(f, a, err, sizeof err)) fail_msg("%s", err);
    uint32_t V = m->hp.n_vocab;
    float *logits = malloc((size_t)T * V * sizeof(float));
    int32_t *ids = malloc(T * sizeof(int32_t));
    uint32_t *seq = calloc(T, sizeof(uint32_t));
    for (uint32_t i = 0; i < T; i++) ids[i] = (int32_t)tok[i];
    assert_int_equal(fwd_eval(f, ids, seq, T, logits), 0);
    double total = 0;
    for (uint32_t t = 0; t < T; t++) {
        const float *l = logits + (size_t)t * V;
        double mx = l[0], s = 0;
        for (uint32_t i = 1; i < V; i++) mx = fmax(mx, l[i]);
        for (uint32_t i = 0; i < V; i++) s += exp(l[i] - mx);
        total += log(s) + mx - l[tok[t + 1]];
    }
    free(logits); free(ids); free(seq);
    fwd_free(f);
    lmz_adapter_close(a);
    lmz_model_close(m);
    return total / T;
}

static void check_export(int tied)
{
    gguf_file tok;
    char err[300];
    if (gguf_open(&tok, shared_tok_gguf(), err, sizeof err)) fail_msg("%s", err);
    tm_config c = {.n_vocab = tr_tokenizer_vocab(&tok), .n_embd = 64, .n_layer = 2, .n_head = 4,
                   .n_head_kv = 2, .n_ff = 96, .n_ctx = 48, .tied = (uint32_t)tied,
                   .norm_eps = 1e-5f, .rope_base = 10000.0f};
    assert_int_equal(c.n_vocab, 265);
    trainer *t = make_trainer(&c, 1, 2, 6.0f);
    uint32_t T = 47, ids[48];
    for (uint32_t i = 0; i <= T; i++) ids[i] = (uint32_t)(tm_rng_next(&test_rng) % c.n_vocab);
    double loss;
    assert_int_equal(trainer_forward(t, ids, 1, T, &loss), 0);
    char path[128];
    snprintf(path, sizeof path, "/tmp/lmz-test-train-%d.gguf", (int)getpid());
    assert_int_equal(tr_export_gguf(&c, trainer_params(t), &tok, 0, "t", path, err, sizeof err), 0);
    double inf = inference_loss(path, NULL, ids, T);
    print_message("  %s F32: trainer loss %.7f, inference %.7f, relative %.2e\n",
                  tied ? "tied" : "untied", loss, inf, fabs(inf - loss) / loss);
    assert_true(fabs(inf - loss) <= 1e-4 * loss);
    assert_int_equal(tr_export_gguf(&c, trainer_params(t), &tok, 1, "t", path, err, sizeof err), 0);
    double inf8 = inference_loss(path, NULL, ids, T);
    print_message("  %s Q8_0: inference %.7f, relative %.2e\n", tied ? "tied" : "untied", inf8,
                  fabs(inf8 - loss) / loss);
    assert_true(fabs(inf8 - loss) <= 2e-2 * loss);
    remove(path);
    /* a vocabulary that does not match the tokenizer is refused */
    c.n_vocab = 300;
    assert_int_equal(tr_export_gguf(&c, trainer_params(t), &tok, 0, "t", path, err, sizeof err), -1);
    assert_non_null(strstr(err, "265"));
    trainer_free(t);
    gguf_close(&tok);
}

static void test_export_matches_inference_untied(void **state) { (void)state; check_export(0); }
static void test_export_matches_inference_tied(void **state) { (void)state; check_export(1); }

/* ---------------------------------------------------------------- LoRA */

/* Every adapter weight non-zero, so that every gradient path carries signal (training
 * itself starts from B = 0). */
static void randomize_lora(trainer *t, float scale)
{
    float *p = trainer_lora_params(t);
    for (size_t i = 0; i < trainer_n_lora(t); i++) p[i] = scale * urand();
}

/* dA and dB of every target by central differences, the model frozen; and a frozen
 * model's own gradients are not computed (trainer_grads stays zero). */
static void test_grad_lora(void **state)
{
    (void)state;
    tm_config c = tiny_cfg;
    trainer *t = make_trainer(&c, 2, 2, 15.0f);
    char err[256];
    assert_int_equal(trainer_enable_lora(t, 3, 6.0f, 0x7f, 5, err, sizeof err), 0);
    assert_int_equal(trainer_lora_rank(t), 3);
    /* 2 layers x (3 x (16 + 16) [q] + 3 x (16 + 8) x 2 [k, v] + 3 x (16 + 16) [o]
     *            + 3 x (16 + 24) x 2 [gate, up] + 3 x (24 + 16) [down]) */
    assert_int_equal(trainer_n_lora(t), 2 * 3 * (32 + 24 * 2 + 32 + 40 * 2 + 40));
    randomize_lora(t, 0.25f);
    uint32_t T = 8, tok[2 * 9];
    for (int i = 0; i < 18; i++) tok[i] = (uint32_t)(tm_rng_next(&test_rng) % c.n_vocab);
    model_ctx mc = {t, tok, 2, T};
    model_loss(&mc);
    memset(trainer_grads(t), 0, trainer_n_params(t) * sizeof(float));
    trainer_backward(t);
    size_t n = trainer_n_lora(t);
    float *g = malloc(n * sizeof(float));
    memcpy(g, trainer_lora_grads(t), n * sizeof(float));
    double e = fd_check(model_loss, &mc, trainer_lora_params(t), g, n, 300, 1e-2f, "LoRA A and B");
    assert_true(e < 1e-2);
    for (size_t i = 0; i < trainer_n_params(t); i++)
        if (trainer_grads(t)[i] != 0.0f) fail_msg("frozen parameter %zu got a gradient", i);
    /* one target only: the others are not adapted */
    trainer_free(t);
    t = make_trainer(&c, 2, 2, 15.0f);
    assert_int_equal(trainer_enable_lora(t, 2, 2.0f, 1u << LORA_DOWN, 5, err, sizeof err), 0);
    const float *A, *B;
    uint32_t n_in, n_out;
    assert_int_equal(trainer_lora_matrix(t, 1, LORA_DOWN, &A, &B, &n_in, &n_out), 0);
    assert_int_equal(n_in, 24);
    assert_int_equal(n_out, 16);
    assert_int_equal(trainer_lora_matrix(t, 1, LORA_Q, &A, &B, &n_in, &n_out), -1);
    for (uint32_t i = 0; i < n_out * 2; i++) assert_true(B[i] == 0.0f);
    /* bad settings are refused */
    assert_int_equal(trainer_enable_lora(t, 2, 2.0f, 1, 5, err, sizeof err), -1);
    free(g);
    trainer_free(t);
}

/* The trainer's LoRA forward, exported as a GGUF adapter, is what the inference computes
 * with lmz_adapter: the same loss within 1e-4 relative (F32 model, fp32 products). */
static void test_lora_export_matches_inference(void **state)
{
    (void)state;
    gguf_file tok;
    char err[400];
    if (gguf_open(&tok, shared_tok_gguf(), err, sizeof err)) fail_msg("%s", err);
    tm_config c = {.n_vocab = tr_tokenizer_vocab(&tok), .n_embd = 64, .n_layer = 2, .n_head = 4,
                   .n_head_kv = 2, .n_ff = 96, .n_ctx = 48, .tied = 1,
                   .norm_eps = 1e-5f, .rope_base = 10000.0f};
    trainer *t = make_trainer(&c, 1, 2, 6.0f);
    char path[128], apath[128];
    snprintf(path, sizeof path, "/tmp/lmz-test-lora-%d.gguf", (int)getpid());
    snprintf(apath, sizeof apath, "/tmp/lmz-test-lora-%d.lora.gguf", (int)getpid());
    assert_int_equal(tr_export_gguf(&c, trainer_params(t), &tok, 0, "t", path, err, sizeof err), 0);
    assert_int_equal(trainer_enable_lora(t, 4, 8.0f, 0x7f, 3, err, sizeof err), 0);
    randomize_lora(t, 0.3f);
    uint32_t T = 47, ids[48];
    for (uint32_t i = 0; i <= T; i++) ids[i] = (uint32_t)(tm_rng_next(&test_rng) % c.n_vocab);
    double loss;
    assert_int_equal(trainer_forward(t, ids, 1, T, &loss), 0);
    lmz_error e;
    lmz_model *m = lmz_model_open(path, &e);
    if (!m) fail_msg("%s", e.message);
    assert_int_equal(tr_export_lora(t, m, 8.0f, "unit", apath, err, sizeof err), 0);
    double base = inference_loss(path, NULL, ids, T), inf = inference_loss(path, apath, ids, T);
    print_message("  LoRA: trainer loss %.7f, inference with the adapter %.7f (relative %.2e), "
                  "without %.7f\n", loss, inf, fabs(inf - loss) / loss, base);
    assert_true(fabs(inf - loss) <= 1e-4 * loss);
    assert_true(fabs(base - loss) > 1e-2 * loss);     /* the adapter matters */
    lmz_adapter *a = lmz_adapter_open(apath, &e);
    if (!a) fail_msg("%s", e.message);
    lmz_adapter_info ai;
    lmz_adapter_get_info(a, &ai);
    assert_string_equal(ai.name, "unit");
    assert_int_equal(ai.rank, 4);
    assert_int_equal(ai.n_matrices, 14);
    assert_true(ai.has_base_model_hash);
    assert_int_equal(lmz_adapter_check(a, m, &e), LMZ_OK);
    lmz_adapter_close(a);
    lmz_model_close(m);
    remove(path);
    remove(apath);
    trainer_free(t);
    gguf_close(&tok);
}

/* ---------------------------------------------------------------- 4. checkpoints */

static void test_checkpoint_resume(void **state)
{
    (void)state;
    tr_data d;
    text_data(&d, 0.3);
    tr_run_state st = tiny_run();
    char err[300], path[128];
    snprintf(path, sizeof path, "/tmp/lmz-test-train-%d.ckpt", (int)getpid());
    tr_session *a = tr_session_new(&st, &d, 2, err, sizeof err);
    if (!a) fail_msg("%s", err);
    tr_step_info ia, ib;
    for (int i = 0; i < 5; i++) tr_session_step(a, &ia);
    assert_int_equal(tr_session_save(a, path, err, sizeof err), 0);
    tr_session_step(a, &ia);
    tr_session_step(a, &ia);
    tr_session *b = tr_session_resume(path, &d, 2, err, sizeof err);
    if (!b) fail_msg("%s", err);
    assert_int_equal(b->st.step, 5);
    tr_session_step(b, &ib);
    tr_session_step(b, &ib);
    print_message("  step 7 loss: uninterrupted %.9f, resumed %.9f\n", ia.loss, ib.loss);
    assert_true(ia.loss == ib.loss && ia.grad_norm == ib.grad_norm);
    size_t n = trainer_n_params(a->t);
    assert_memory_equal(trainer_params(a->t), trainer_params(b->t), n * sizeof(float));
    assert_memory_equal(a->m, b->m, n * sizeof(float));
    assert_true(tr_session_eval(a, 4) == tr_session_eval(b, 4));
    tr_session_free(b);

    /* a flipped byte is detected; another token stream is refused */
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 1000, SEEK_SET);
    int ch = fgetc(fp);
    fseek(fp, 1000, SEEK_SET);
    fputc(ch ^ 1, fp);
    fclose(fp);
    assert_null(tr_session_resume(path, &d, 2, err, sizeof err));
    assert_non_null(strstr(err, "checksum"));
    fp = fopen(path, "r+b");
    fseek(fp, 1000, SEEK_SET);
    fputc(ch, fp);
    fclose(fp);
    tr_data d2;
    uint32_t ids[100] = {0};
    assert_int_equal(tr_data_from_tokens(&d2, ids, 100, 128, 0, 32, err, sizeof err), 0);
    assert_null(tr_session_resume(path, &d2, 2, err, sizeof err));
    assert_non_null(strstr(err, "token stream"));
    tr_data_free(&d2);
    remove(path);
    tr_session_free(a);
    tr_data_free(&d);
}

/* Schedule: warmup ramps to lr, cosine ends at lr_min. */
static void test_lr_schedule(void **state)
{
    (void)state;
    tr_opt_config o;
    tr_opt_defaults(&o);
    o.lr = 1e-3f; o.lr_min = 1e-4f; o.warmup = 10; o.total_steps = 110;
    assert_true(fabsf(tr_lr_at(&o, 0) - 1e-4f) < 1e-9f);
    assert_true(fabsf(tr_lr_at(&o, 9) - 1e-3f) < 1e-9f);
    assert_true(fabsf(tr_lr_at(&o, 60) - 5.5e-4f) < 1e-8f);
    assert_true(fabsf(tr_lr_at(&o, 110) - 1e-4f) < 1e-9f);
    assert_true(fabsf(tr_lr_at(&o, 500) - 1e-4f) < 1e-9f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_embedding),
        cmocka_unit_test(test_grad_rmsnorm),
        cmocka_unit_test(test_grad_linear),
        cmocka_unit_test(test_gemm_kernels_agree),
        cmocka_unit_test(test_gemm_bf16_agrees),
        cmocka_unit_test(test_vec_kernels_agree),
        cmocka_unit_test(test_grad_rope),
        cmocka_unit_test(test_grad_attention),
        cmocka_unit_test(test_grad_swiglu),
        cmocka_unit_test(test_grad_cross_entropy),
        cmocka_unit_test(test_grad_model_untied),
        cmocka_unit_test(test_grad_model_tied),
        cmocka_unit_test(test_bf16_model_grads_agree),
        cmocka_unit_test(test_overfit_tiny_text),
        cmocka_unit_test(test_overfit_tiny_text_bf16),
        cmocka_unit_test(test_export_matches_inference_untied),
        cmocka_unit_test(test_export_matches_inference_tied),
        cmocka_unit_test(test_grad_lora),
        cmocka_unit_test(test_lora_export_matches_inference),
        cmocka_unit_test(test_checkpoint_resume),
        cmocka_unit_test(test_lr_schedule),
    };
    return cmocka_run_group_tests(tests, setup_exec, teardown_exec);
}
