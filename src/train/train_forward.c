/*
 * train_forward.c -- forward functions of the trainer's layers (train_ops.h).  Where the
 * inference has a canonical operation order (RMSNorm, SwiGLU, RoPE), the same operations
 * are used here, so a trained model's losses agree closely with the inference's.
 */
#include <math.h>
#include <string.h>

#include "train/train_ops.h"

/* ---------------------------------------------------------------- embedding */

void tr_embedding_fwd(float *x, const uint32_t *tokens, const float *table, uint32_t n,
                      uint32_t dim)
{
    for (uint32_t t = 0; t < n; t++)
        memcpy(x + (size_t)t * dim, table + (size_t)tokens[t] * dim, dim * sizeof(float));
}

/* ---------------------------------------------------------------- RMSNorm */

typedef struct norm_job {
    const tr_exec *x;
    float *y, *rstd;
    const float *in, *w;
    uint32_t dim;
    float eps;
} norm_job;

static void norm_rows(void *arg, uint32_t r0, uint32_t r1)
{
    const norm_job *j = arg;
    for (uint32_t t = r0; t < r1; t++) {
        const float *in = j->in + (size_t)t * j->dim;
        float *y = j->y + (size_t)t * j->dim;
        float mean = j->x->k->sumsq(in, j->dim) / (float)j->dim;
        float r = 1.0f / sqrtf(mean + j->eps);
        j->rstd[t] = r;
        for (uint32_t i = 0; i < j->dim; i++) y[i] = (in[i] * r) * j->w[i];
    }
}

void tr_rmsnorm_fwd(const tr_exec *x, float *y, float *rstd, const float *in, const float *w,
                    uint32_t n, uint32_t dim, float eps)
{
    norm_job j = {x, y, rstd, in, w, dim, eps};
    tr_parallel_rows(x, n, norm_rows, &j);
}

/* ---------------------------------------------------------------- linear */

void tr_linear_fwd(const tr_exec *x, float *y, const float *in, const float *W, uint32_t n,
                   uint32_t n_in, uint32_t n_out, float *wt)
{
    /* in 32 x 32 blocks, so that reads and writes both stay within a few cache lines */
    for (uint32_t o0 = 0; o0 < n_out; o0 += 32)
        for (uint32_t i0 = 0; i0 < n_in; i0 += 32) {
            uint32_t o1 = o0 + 32 < n_out ? o0 + 32 : n_out, i1 = i0 + 32 < n_in ? i0 + 32 : n_in;
            for (uint32_t o = o0; o < o1; o++)
                for (uint32_t i = i0; i < i1; i++)
                    wt[(size_t)i * n_out + o] = W[(size_t)o * n_in + i];
        }
    tr_gemm_args g = {.M = n, .N = n_out, .K = n_in, .A = in, .a_rs = n_in, .a_cs = 1,
                      .B = wt, .ldb = n_out, .C = y, .ldc = n_out, .accumulate = 0};
    tr_gemm(x, &g);
}

/* ---------------------------------------------------------------- RoPE */

void tr_rope_fwd(const rope_table *t, float *x, uint32_t n_seq, uint32_t seq_len,
                 uint32_t n_heads, uint32_t head_dim)
{
    for (uint32_t s = 0; s < n_seq; s++)
        for (uint32_t p = 0; p < seq_len; p++)
            rope_apply(t, x + ((size_t)s * seq_len + p) * n_heads * head_dim, n_heads, head_dim,
                       p, 0);
}

/* ---------------------------------------------------------------- attention */

#define ATTN_ROWS 64u     /* causal blocking: rows [r0, r1) need columns [0, r1) only */

size_t tr_attention_scratch(const tr_attn_shape *s)
{
    return (size_t)s->head_dim * s->seq_len + (size_t)s->seq_len * s->seq_len;
}

typedef struct attn_job {
    const tr_exec *x;
    const tr_attn_shape *s;
    float *out, *probs, *dq, *dk, *dv;
    const float *q, *k, *v, *dout, *cprobs;
    float *scratch;
} attn_job;

/* kv head h of sequence b, as a [head_dim][seq_len] matrix (the score product's B). */
static void transpose_head(float *dst, const float *src, size_t ld, uint32_t T, uint32_t hd)
{
    for (uint32_t t = 0; t < T; t++)
        for (uint32_t d = 0; d < hd; d++) dst[(size_t)d * T + t] = src[(size_t)t * ld + d];
}

static void attn_fwd_task(void *arg, uint32_t task, uint32_t thread)
{
    const attn_job *j = arg;
    const tr_attn_shape *s = j->s;
    uint32_t T = s->seq_len, hd = s->head_dim, group = s->n_head / s->n_head_kv;
    uint32_t b = task / s->n_head_kv, kvh = task % s->n_head_kv;
    size_t qd = (size_t)s->n_head * hd, kvd = (size_t)s->n_head_kv * hd;
    float *kt = j->scratch + (size_t)thread * tr_attention_scratch(s);
    float scale = 1.0f / sqrtf((float)hd);
    const float *kb = j->k + (size_t)b * T * kvd + (size_t)kvh * hd;
    const float *vb = j->v + (size_t)b * T * kvd + (size_t)kvh * hd;
    transpose_head(kt, kb, kvd, T, hd);
    for (uint32_t gi = 0; gi < group; gi++) {
        uint32_t h = kvh * group + gi;
        const float *qb = j->q + (size_t)b * T * qd + (size_t)h * hd;
        float *ob = j->out + (size_t)b * T * qd + (size_t)h * hd;
        float *p = j->probs + ((size_t)b * s->n_head + h) * T * T;
        for (uint32_t r0 = 0; r0 < T; r0 += ATTN_ROWS) {
            uint32_t r1 = r0 + ATTN_ROWS < T ? r0 + ATTN_ROWS : T;
            tr_gemm_args sc = {.M = r1 - r0, .N = r1, .K = hd, .A = qb + r0 * qd, .a_rs = qd,
                               .a_cs = 1, .B = kt, .ldb = T, .C = p + (size_t)r0 * T, .ldc = T};
            tr_gemm_local(j->x, &sc, thread);
            for (uint32_t t = r0; t < r1; t++) j->x->v->softmax_row(j->x->k, p + (size_t)t * T, t + 1, T, scale);
            tr_gemm_args pv = {.M = r1 - r0, .N = hd, .K = r1, .A = p + (size_t)r0 * T, .a_rs = T,
                               .a_cs = 1, .B = vb, .ldb = kvd, .C = ob + r0 * qd, .ldc = qd};
            tr_gemm_local(j->x, &pv, thread);
        }
    }
}

void tr_attention_fwd(const tr_exec *x, const tr_attn_shape *s, float *out, float *probs,
                      const float *q, const float *k, const float *v, float *scratch)
{
    attn_job j = {.x = x, .s = s, .out = out, .probs = probs, .q = q, .k = k, .v = v,
                  .scratch = scratch};
    tr_exec_run(x, s->n_seq * s->n_head_kv, attn_fwd_task, &j);
}

/* ---------------------------------------------------------------- SwiGLU */

typedef struct swiglu_job {
    const lmz_kernels *k;
    float *out;
    const float *g, *u;
} swiglu_job;

/* The inference's kernel (silu_mul: g / (1 + exp(-g)) * u, vectorized), on a copy of g. */
static void swiglu_rows(void *arg, uint32_t r0, uint32_t r1)
{
    const swiglu_job *j = arg;
    memcpy(j->out + r0, j->g + r0, (size_t)(r1 - r0) * sizeof(float));
    j->k->silu_mul(j->out + r0, j->u + r0, r1 - r0);
}

void tr_swiglu_fwd(const tr_exec *x, float *out, const float *g, const float *u, size_t n)
{
    swiglu_job j = {.k = x->k, .out = out, .g = g, .u = u};
    tr_parallel_rows(x, (uint32_t)n, swiglu_rows, &j);
}

/* ---------------------------------------------------------------- cross-entropy */

typedef struct ce_job {
    const tr_exec *x;
    float *logits, *loss;
    const uint32_t *targets;
    uint32_t n_vocab;
    float dscale;
} ce_job;

static void ce_rows(void *arg, uint32_t r0, uint32_t r1)
{
    const ce_job *j = arg;
    for (uint32_t t = r0; t < r1; t++)
        j->loss[t] = j->x->v->ce_row(j->x->k, j->logits + (size_t)t * j->n_vocab, j->n_vocab,
                                     j->targets[t], j->dscale);
}

double tr_cross_entropy(const tr_exec *x, float *logits, const uint32_t *targets, uint32_t n,
                        uint32_t n_vocab, float dscale, float *loss)
{
    ce_job j = {x, logits, loss, targets, n_vocab, dscale};
    tr_parallel_rows(x, n, ce_rows, &j);
    double total = 0.0;
    for (uint32_t t = 0; t < n; t++) total += loss[t];
    return total;
}
