/*
 * train_backward.c -- backward functions of the trainer's layers (train_ops.h).  Every
 * parallel split is over outputs (rows of an input gradient, columns of a weight
 * gradient, (sequence, kv head) pairs of the attention), so the results do not depend
 * on the thread count.
 */
#include <math.h>
#include <string.h>

#include "train/train_ops.h"

/* ---------------------------------------------------------------- embedding */

void tr_embedding_bwd(float *dtable, const float *dx, const uint32_t *tokens, uint32_t n,
                      uint32_t dim)
{
    for (uint32_t t = 0; t < n; t++) {
        float *d = dtable + (size_t)tokens[t] * dim;
        const float *s = dx + (size_t)t * dim;
        for (uint32_t i = 0; i < dim; i++) d[i] = d[i] + s[i];
    }
}

/* ---------------------------------------------------------------- RMSNorm */

typedef struct norm_bwd_job {
    const tr_vec *v;
    float *din, *dw;
    const float *dy, *in, *w, *rstd;
    uint32_t n, dim;
} norm_bwd_job;

/* y = x r w, r = (mean(x^2) + eps)^-1/2, xhat = x r, g = dy w:
 * dx = r (g - xhat mean(g xhat)) */
static void norm_bwd_rows(void *arg, uint32_t r0, uint32_t r1)
{
    const norm_bwd_job *j = arg;
    for (uint32_t t = r0; t < r1; t++)
        j->v->rmsnorm_bwd_row(j->din + (size_t)t * j->dim, j->dy + (size_t)t * j->dim,
                              j->in + (size_t)t * j->dim, j->w, j->rstd[t], j->dim);
}

/* Columns [c0, c1) of dw, summed over tokens in order. */
static void norm_bwd_cols(void *arg, uint32_t c0, uint32_t c1)
{
    const norm_bwd_job *j = arg;
    for (uint32_t t = 0; t < j->n; t++)
        j->v->rmsnorm_dw_row(j->dw + c0, j->dy + (size_t)t * j->dim + c0,
                             j->in + (size_t)t * j->dim + c0, j->rstd[t], c1 - c0);
}

void tr_rmsnorm_bwd(const tr_exec *x, float *din, float *dw, const float *dy, const float *in,
                    const float *w, const float *rstd, uint32_t n, uint32_t dim)
{
    norm_bwd_job j = {x->v, din, dw, dy, in, w, rstd, n, dim};
    tr_parallel_rows(x, n, norm_bwd_rows, &j);
    if (dw) tr_parallel_rows(x, dim, norm_bwd_cols, &j);
}

/* ---------------------------------------------------------------- linear */

void tr_linear_bwd_dx(const tr_exec *x, float *din, const float *dy, const float *W,
                      uint32_t n, uint32_t n_in, uint32_t n_out, int accumulate)
{
    tr_gemm_args g = {.M = n, .N = n_in, .K = n_out, .A = dy, .a_rs = n_out, .a_cs = 1,
                      .B = W, .ldb = n_in, .C = din, .ldc = n_in, .accumulate = accumulate};
    tr_gemm(x, &g);
}

void tr_linear_bwd_dw(const tr_exec *x, float *dW, const float *dy, const float *in,
                      uint32_t n, uint32_t n_in, uint32_t n_out)
{
    tr_gemm_args g = {.M = n_out, .N = n_in, .K = n, .A = dy, .a_rs = 1, .a_cs = n_out,
                      .B = in, .ldb = n_in, .C = dW, .ldc = n_in, .accumulate = 1};
    tr_gemm(x, &g);
}

/* ---------------------------------------------------------------- RoPE */

void tr_rope_bwd(const rope_table *t, float *dx, uint32_t n_seq, uint32_t seq_len,
                 uint32_t n_heads, uint32_t head_dim)
{
    uint32_t half = t->half;
    for (uint32_t s = 0; s < n_seq; s++)
        for (uint32_t p = 0; p < seq_len; p++) {
            const float *c = t->cos + (size_t)p * half, *sn = t->sin + (size_t)p * half;
            float *row = dx + ((size_t)s * seq_len + p) * n_heads * head_dim;
            for (uint32_t h = 0; h < n_heads; h++) {
                float *v = row + (size_t)h * head_dim;
                for (uint32_t i = 0; i < half; i++) {
                    float a = v[2 * i], b = v[2 * i + 1];
                    v[2 * i] = a * c[i] + b * sn[i];
                    v[2 * i + 1] = b * c[i] - a * sn[i];
                }
            }
        }
}

/* ---------------------------------------------------------------- attention */

#define ATTN_ROWS 64u

typedef struct attn_bwd_job {
    const tr_exec *x;
    const tr_attn_shape *s;
    float *dq, *dk, *dv;
    const float *dout, *probs, *q, *k, *v;
    float *scratch;
} attn_bwd_job;

/* Task (sequence b, kv head): for each query head of the group, with P the saved
 * probabilities, S = scale * Q K^T the scores:
 *   dP = dO V^T;  dS = P * (dP - rowsum(P * dP)) * scale   (softmax backward)
 *   dQ = dS K;    dK += dS^T Q;    dV += P^T dO
 * Everything is lower triangular, so only the causal part is computed. */
static void attn_bwd_task(void *arg, uint32_t task, uint32_t thread)
{
    const attn_bwd_job *j = arg;
    const tr_attn_shape *s = j->s;
    uint32_t T = s->seq_len, hd = s->head_dim, group = s->n_head / s->n_head_kv;
    uint32_t b = task / s->n_head_kv, kvh = task % s->n_head_kv;
    size_t qd = (size_t)s->n_head * hd, kvd = (size_t)s->n_head_kv * hd;
    float *vt = j->scratch + (size_t)thread * tr_attention_scratch(s);
    float *ds = vt + (size_t)hd * T;
    float scale = 1.0f / sqrtf((float)hd);
    size_t kv_off = (size_t)b * T * kvd + (size_t)kvh * hd;
    const float *kb = j->k + kv_off, *vb = j->v + kv_off;
    float *dkb = j->dk + kv_off, *dvb = j->dv + kv_off;
    for (uint32_t t = 0; t < T; t++)
        for (uint32_t d = 0; d < hd; d++) vt[(size_t)d * T + t] = vb[(size_t)t * kvd + d];
    for (uint32_t gi = 0; gi < group; gi++) {
        uint32_t h = kvh * group + gi;
        size_t q_off = (size_t)b * T * qd + (size_t)h * hd;
        const float *qb = j->q + q_off, *dob = j->dout + q_off;
        float *dqb = j->dq + q_off;
        const float *p = j->probs + ((size_t)b * s->n_head + h) * T * T;
        for (uint32_t r0 = 0; r0 < T; r0 += ATTN_ROWS) {
            uint32_t r1 = r0 + ATTN_ROWS < T ? r0 + ATTN_ROWS : T;
            tr_gemm_args dp = {.M = r1 - r0, .N = r1, .K = hd, .A = dob + r0 * qd, .a_rs = qd,
                               .a_cs = 1, .B = vt, .ldb = T, .C = ds + (size_t)r0 * T, .ldc = T};
            tr_gemm_local(j->x, &dp, thread);
            for (uint32_t t = r0; t < r1; t++)
                j->x->v->softmax_bwd_row(ds + (size_t)t * T, p + (size_t)t * T, t + 1, T, scale);
            tr_gemm_args dqg = {.M = r1 - r0, .N = hd, .K = r1, .A = ds + (size_t)r0 * T,
                                .a_rs = T, .a_cs = 1, .B = kb, .ldb = kvd, .C = dqb + r0 * qd,
                                .ldc = qd};
            tr_gemm_local(j->x, &dqg, thread);
        }
        /* Rows s0.. of dK and dV: only queries t >= s0 see position s0 and later. */
        for (uint32_t s0 = 0; s0 < T; s0 += ATTN_ROWS) {
            uint32_t s1 = s0 + ATTN_ROWS < T ? s0 + ATTN_ROWS : T;
            tr_gemm_args dkg = {.M = s1 - s0, .N = hd, .K = T - s0,
                                .A = ds + (size_t)s0 * T + s0, .a_rs = 1, .a_cs = T,
                                .B = qb + s0 * qd, .ldb = qd, .C = dkb + s0 * kvd, .ldc = kvd,
                                .accumulate = gi > 0};
            tr_gemm_local(j->x, &dkg, thread);
            tr_gemm_args dvg = dkg;
            dvg.A = p + (size_t)s0 * T + s0;
            dvg.B = dob + s0 * qd;
            dvg.C = dvb + s0 * kvd;
            tr_gemm_local(j->x, &dvg, thread);
        }
    }
}

void tr_attention_bwd(const tr_exec *x, const tr_attn_shape *s, float *dq, float *dk, float *dv,
                      const float *dout, const float *probs, const float *q, const float *k,
                      const float *v, float *scratch)
{
    attn_bwd_job j = {x, s, dq, dk, dv, dout, probs, q, k, v, scratch};
    tr_exec_run(x, s->n_seq * s->n_head_kv, attn_bwd_task, &j);
}

/* ---------------------------------------------------------------- SwiGLU */

typedef struct swiglu_bwd_job {
    const lmz_kernels *k;
    const tr_vec *v;
    float *dg, *du;
    const float *dout, *g, *u;
} swiglu_bwd_job;

/* exp(-g) from the vectorized exp_n, computed into dg first; then the row kernel. */
static void swiglu_bwd_rows(void *arg, uint32_t r0, uint32_t r1)
{
    const swiglu_bwd_job *j = arg;
    float *e = j->dg + r0;
    const float *g = j->g + r0, *u = j->u + r0, *dout = j->dout + r0;
    float *du = j->du + r0;
    uint32_t n = r1 - r0;
    for (uint32_t i = 0; i < n; i++) e[i] = -g[i];
    j->k->exp_n(e, e, n);
    j->v->swiglu_bwd(e, du, dout, g, u, n);
}

void tr_swiglu_bwd(const tr_exec *x, float *dg, float *du, const float *dout, const float *g,
                   const float *u, size_t n)
{
    swiglu_bwd_job j = {x->k, x->v, dg, du, dout, g, u};
    tr_parallel_rows(x, (uint32_t)n, swiglu_bwd_rows, &j);
}
