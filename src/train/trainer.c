/*
 * trainer.c -- the model's forward and backward passes from the layer functions of
 * train_ops.h.  Per layer l, with N = n_seq * seq_len rows:
 *
 *   h1 = RMSNorm(x_l, attn_norm);  q, k, v = Wq h1, Wk h1, Wv h1;  RoPE(q, k)
 *   a  = attention(q, k, v);       x_mid = x_l + Wo a
 *   h2 = RMSNorm(x_mid, ffn_norm); g, u = Wgate h2, Wup h2;  s = silu(g) u
 *   x_{l+1} = x_mid + Wdown s
 *   logits = Woutput RMSNorm(x_L, output_norm)
 *
 * Everything the backward pass reads is kept: x_l, h1, rstd1, q, k (after RoPE), v,
 * probabilities, a, x_mid, h2, rstd2, g, u, s, and the final x, h, rstd.  The logits
 * buffer becomes dlogits in place.
 *
 * LoRA mode (trainer_enable_lora): the model is frozen and each adapted linear layer
 * computes y = W x + s B (A x), s = alpha / r, keeping A x for the backward pass:
 *   dB = s dy^T (A x);   g = s dy B;   dA = g^T x;   dx += g A
 * and the backward pass computes only the adapter's gradients and the input gradients
 * that carry them down (no weight gradient of the frozen model).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/detmath.h"
#include "train/trainer.h"

typedef struct layer_acts {
    float *x, *h1, *rstd1, *q, *k, *v, *probs, *att, *x_mid, *h2, *rstd2, *g, *u, *s;
    float *lora_ax[LORA_N_TARGETS];      /* A x of each adapted target (LoRA mode) */
} layer_acts;

/* One adapted matrix: views into the LoRA parameter and gradient arrays. */
typedef struct lora_view {
    float *A, *B, *dA, *dB;              /* r x n_in, n_out x r */
    uint32_t n_in, n_out;
} lora_view;

struct trainer {
    tm_config c;
    tr_exec x;
    rope_table rope;
    uint32_t max_seqs;
    size_t n_params;
    float *params, *grads;
    tm_weights w, dw;
    /* arena */
    float *arena;
    layer_acts *acts;        /* n_layer */
    float *x_final, *h_final, *rstd_final, *logits, *loss;
    float *dres, *dh, *dq, *dk, *dv, *datt, *dg, *du, *ds, *wt, *attn_scratch;
    uint32_t *inputs, *targets;
    /* LoRA mode */
    int lora;
    uint32_t lora_rank;
    float lora_scale;
    size_t n_lora;
    float *lora_params, *lora_grads, *lora_arena, *lora_tmp, *lora_g;
    lora_view *lora_views;               /* n_layer * LORA_N_TARGETS; A NULL: not adapted */
    /* the last forward */
    uint32_t n_seq, seq_len;
};

const tm_config *trainer_config(const trainer *t) { return &t->c; }
int trainer_set_bf16(trainer *t, int on) { return tr_exec_set_bf16(&t->x, on); }
const tr_exec *trainer_exec(const trainer *t) { return &t->x; }
size_t trainer_n_params(const trainer *t) { return t->n_params; }
float *trainer_params(trainer *t) { return t->params; }
float *trainer_grads(trainer *t) { return t->grads; }

void trainer_free(trainer *t)
{
    if (!t) return;
    tr_exec_free(&t->x);
    rope_free(&t->rope);
    tm_weights_free(&t->w);
    tm_weights_free(&t->dw);
    free(t->params);
    free(t->grads);
    free(t->arena);
    free(t->acts);
    free(t->inputs);
    free(t->targets);
    free(t->lora_params);
    free(t->lora_grads);
    free(t->lora_arena);
    free(t->lora_views);
    free(t);
}

/* Hands out consecutive pieces of the arena (64-byte aligned); with base NULL it only
 * counts, so the same code sizes and carves the arena. */
typedef struct carver { float *base; size_t used; } carver;

static float *carve(carver *cv, size_t n)
{
    float *p = cv->base ? cv->base + cv->used : NULL;
    cv->used += (n + 15) / 16 * 16;
    return p;
}

static void carve_all(trainer *t, carver *cv)
{
    const tm_config *c = &t->c;
    size_t N = (size_t)t->max_seqs * c->n_ctx, E = c->n_embd, F = c->n_ff, T = c->n_ctx;
    size_t qd = (size_t)c->n_head * tm_head_dim(c), kvd = (size_t)c->n_head_kv * tm_head_dim(c);
    for (uint32_t l = 0; l < c->n_layer; l++) {
        layer_acts *a = &t->acts[l];
        a->x = carve(cv, N * E);
        a->h1 = carve(cv, N * E);
        a->rstd1 = carve(cv, N);
        a->q = carve(cv, N * qd);
        a->k = carve(cv, N * kvd);
        a->v = carve(cv, N * kvd);
        a->probs = carve(cv, (size_t)t->max_seqs * c->n_head * T * T);
        a->att = carve(cv, N * qd);
        a->x_mid = carve(cv, N * E);
        a->h2 = carve(cv, N * E);
        a->rstd2 = carve(cv, N);
        a->g = carve(cv, N * F);
        a->u = carve(cv, N * F);
        a->s = carve(cv, N * F);
    }
    t->x_final = carve(cv, N * E);
    t->h_final = carve(cv, N * E);
    t->rstd_final = carve(cv, N);
    t->logits = carve(cv, N * c->n_vocab);
    t->loss = carve(cv, N);
    t->dres = carve(cv, N * E);
    t->dh = carve(cv, N * E);
    t->dq = carve(cv, N * qd);
    t->dk = carve(cv, N * kvd);
    t->dv = carve(cv, N * kvd);
    t->datt = carve(cv, N * qd);
    t->dg = carve(cv, N * F);
    t->du = carve(cv, N * F);
    t->ds = carve(cv, N * F);
    size_t wt = (size_t)c->n_vocab * E;
    if (F * E > wt) wt = F * E;
    if (qd * E > wt) wt = qd * E;
    t->wt = carve(cv, wt);
    tr_attn_shape s = {t->max_seqs, c->n_ctx, c->n_head, c->n_head_kv, tm_head_dim(c)};
    t->attn_scratch = carve(cv, tr_attention_scratch(&s) * t->x.n_threads);
}

trainer *trainer_new(const tm_config *c, uint32_t max_seqs, int n_threads, char *err,
                     size_t errlen)
{
    if (tm_config_check(c, err, errlen)) return NULL;
    if (max_seqs < 1 || (uint64_t)max_seqs * c->n_ctx > (1u << 24)) {
        snprintf(err, errlen, "trainer: batch of %u sequences x %u tokens is out of range",
                 max_seqs, c->n_ctx);
        return NULL;
    }
    trainer *t = calloc(1, sizeof *t);
    if (!t) goto nomem;
    t->c = *c;
    t->max_seqs = max_seqs;
    if (tr_exec_init(&t->x, n_threads)) {
        snprintf(err, errlen, "trainer: cannot start %d threads", n_threads);
        trainer_free(t);
        return NULL;
    }
    t->n_params = tm_n_params(c);
    t->params = calloc(t->n_params, sizeof(float));
    t->grads = calloc(t->n_params, sizeof(float));
    t->acts = calloc(c->n_layer, sizeof *t->acts);
    size_t N = (size_t)max_seqs * c->n_ctx;
    t->inputs = malloc(N * sizeof *t->inputs);
    t->targets = malloc(N * sizeof *t->targets);
    if (!t->params || !t->grads || !t->acts || !t->inputs || !t->targets ||
        tm_weights_bind(&t->w, c, t->params) || tm_weights_bind(&t->dw, c, t->grads) ||
        rope_init(&t->rope, c->n_ctx, tm_head_dim(c), c->rope_base, 1.0f))
        goto nomem;
    carver cv = {NULL, 0};
    carve_all(t, &cv);
    t->arena = aligned_alloc(64, cv.used * sizeof(float));
    if (!t->arena) {
        snprintf(err, errlen, "trainer: out of memory for the activations (%.1f MB; use a "
                 "smaller batch or context)", (double)cv.used * 4 / 1e6);
        trainer_free(t);
        return NULL;
    }
    cv = (carver){t->arena, 0};
    carve_all(t, &cv);
    if (tr_exec_set_bf16(&t->x, 1) < 0) goto nomem;
    return t;
nomem:
    snprintf(err, errlen, "trainer: out of memory");
    trainer_free(t);
    return NULL;
}

static void add_rows(float *y, const float *a, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = y[i] + a[i];
}

/* Which weight matrix a target adapts, its shape, and the view into the flat arrays. */
static void target_shape(const tm_config *c, int target, uint32_t *n_in, uint32_t *n_out)
{
    uint32_t E = c->n_embd, q = c->n_head * tm_head_dim(c), kv = c->n_head_kv * tm_head_dim(c);
    static const int in_is[LORA_N_TARGETS] = {0, 0, 0, 1, 0, 0, 2};   /* E, q, ff */
    uint32_t outs[LORA_N_TARGETS] = {q, kv, kv, E, c->n_ff, c->n_ff, E};
    uint32_t ins[3] = {E, q, c->n_ff};
    *n_in = ins[in_is[target]];
    *n_out = outs[target];
}

int trainer_enable_lora(trainer *t, uint32_t rank, float alpha, uint32_t target_mask,
                        uint64_t seed, char *err, size_t errlen)
{
    const tm_config *c = &t->c;
    if (t->lora || rank < 1 || rank > 1024 || !(target_mask & ((1u << LORA_N_TARGETS) - 1)) ||
        !(alpha > 0.0f)) {
        snprintf(err, errlen, "LoRA: rank %u (1..1024), alpha %g (> 0) or targets 0x%x are "
                 "invalid", rank, (double)alpha, target_mask);
        return -1;
    }
    size_t n_views = (size_t)c->n_layer * LORA_N_TARGETS, total = 0, widest = 0;
    for (int k = 0; k < LORA_N_TARGETS; k++) {
        uint32_t n_in, n_out;
        target_shape(c, k, &n_in, &n_out);
        if (target_mask >> k & 1) total += (size_t)rank * (n_in + n_out);
        if (n_out > widest) widest = n_out;
    }
    total *= c->n_layer;
    size_t N = (size_t)t->max_seqs * c->n_ctx;
    size_t n_acts = (size_t)c->n_layer * __builtin_popcount(target_mask & ((1u << LORA_N_TARGETS) - 1));
    t->lora_views = calloc(n_views, sizeof *t->lora_views);
    t->lora_params = calloc(total, sizeof(float));
    t->lora_grads = calloc(total, sizeof(float));
    t->lora_arena = malloc((n_acts * N * rank + N * widest + N * rank) * sizeof(float));
    if (!t->lora_views || !t->lora_params || !t->lora_grads || !t->lora_arena) {
        snprintf(err, errlen, "LoRA: out of memory");
        return -1;
    }
    uint64_t rng = seed ^ 0x6c6f72612d696e69ull;    /* "lora-ini" */
    size_t off = 0;
    float *act = t->lora_arena;
    for (uint32_t l = 0; l < c->n_layer; l++)
        for (int k = 0; k < LORA_N_TARGETS; k++) {
            if (!(target_mask >> k & 1)) continue;
            lora_view *v = &t->lora_views[(size_t)l * LORA_N_TARGETS + k];
            target_shape(c, k, &v->n_in, &v->n_out);
            v->A = t->lora_params + off;
            v->dA = t->lora_grads + off;
            off += (size_t)rank * v->n_in;
            v->B = t->lora_params + off;
            v->dB = t->lora_grads + off;
            off += (size_t)rank * v->n_out;
            double std = 1.0 / sqrt((double)v->n_in);
            for (size_t i = 0; i < (size_t)rank * v->n_in; i++) v->A[i] = (float)(std * tm_normal(&rng));
            t->acts[l].lora_ax[k] = act;
            act += N * rank;
        }
    t->lora_tmp = act;
    t->lora_g = act + N * widest;
    t->n_lora = total;
    t->lora_rank = rank;
    t->lora_scale = alpha / (float)rank;
    t->lora = 1;
    return 0;
}

size_t trainer_n_lora(const trainer *t) { return t->n_lora; }
float *trainer_lora_params(trainer *t) { return t->lora_params; }
float *trainer_lora_grads(trainer *t) { return t->lora_grads; }
uint32_t trainer_lora_rank(const trainer *t) { return t->lora_rank; }

int trainer_lora_matrix(const trainer *t, uint32_t layer, lora_target target, const float **A,
                        const float **B, uint32_t *n_in, uint32_t *n_out)
{
    if (!t->lora || layer >= t->c.n_layer) return -1;
    const lora_view *v = &t->lora_views[(size_t)layer * LORA_N_TARGETS + target];
    if (!v->A) return -1;
    *A = v->A;
    *B = v->B;
    *n_in = v->n_in;
    *n_out = v->n_out;
    return 0;
}

static const lora_view *lora_at(const trainer *t, uint32_t layer, int target)
{
    if (!t->lora) return NULL;
    const lora_view *v = &t->lora_views[(size_t)layer * LORA_N_TARGETS + target];
    return v->A ? v : NULL;
}

/* y = W in, plus the adapter's s B (A in) in LoRA mode. */
static void linear_fwd(trainer *t, uint32_t layer, int target, float *y, const float *in,
                       const float *W, uint32_t N, uint32_t n_in, uint32_t n_out)
{
    tr_linear_fwd(&t->x, y, in, W, N, n_in, n_out, t->wt);
    const lora_view *v = lora_at(t, layer, target);
    if (!v) return;
    float *ax = t->acts[layer].lora_ax[target];
    tr_linear_fwd(&t->x, ax, in, v->A, N, n_in, t->lora_rank, t->wt);
    tr_linear_fwd(&t->x, t->lora_tmp, ax, v->B, N, t->lora_rank, n_out, t->wt);
    size_t n = (size_t)N * n_out;
    for (size_t i = 0; i < n; i++) y[i] = y[i] + t->lora_tmp[i] * t->lora_scale;
}

/* The backward pass of linear_fwd: din (=, or += when accumulate) dy W (+ the adapter's
 * share), and the weight gradients: dW of the model when it trains, dA and dB of the
 * adapter in LoRA mode. */
static void linear_bwd(trainer *t, uint32_t layer, int target, float *din, int accumulate,
                       const float *dy, const float *in, const float *W, float *dW, uint32_t N,
                       uint32_t n_in, uint32_t n_out)
{
    const tr_exec *x = &t->x;
    if (!t->lora) tr_linear_bwd_dw(x, dW, dy, in, N, n_in, n_out);
    tr_linear_bwd_dx(x, din, dy, W, N, n_in, n_out, accumulate);
    const lora_view *v = lora_at(t, layer, target);
    if (!v) return;
    uint32_t r = t->lora_rank;
    float s = t->lora_scale;
    tr_linear_bwd_dw(x, v->dB, dy, t->acts[layer].lora_ax[target], N, r, n_out);
    for (size_t i = 0; i < (size_t)n_out * r; i++) v->dB[i] = v->dB[i] * s;
    tr_linear_bwd_dx(x, t->lora_g, dy, v->B, N, r, n_out, 0);
    for (size_t i = 0; i < (size_t)N * r; i++) t->lora_g[i] = t->lora_g[i] * s;
    tr_linear_bwd_dw(x, v->dA, t->lora_g, in, N, n_in, r);
    tr_linear_bwd_dx(x, din, t->lora_g, v->A, N, n_in, r, 1);
}

int trainer_forward(trainer *t, const uint32_t *tokens, uint32_t n_seq, uint32_t seq_len,
                    double *loss)
{
    const tm_config *c = &t->c;
    if (n_seq < 1 || n_seq > t->max_seqs || seq_len < 1 || seq_len > c->n_ctx) return -1;
    for (size_t i = 0; i < (size_t)n_seq * (seq_len + 1); i++)
        if (tokens[i] >= c->n_vocab) return -1;
    uint32_t N = n_seq * seq_len, E = c->n_embd, F = c->n_ff, hd = tm_head_dim(c);
    uint32_t qd = c->n_head * hd, kvd = c->n_head_kv * hd;
    for (uint32_t s = 0; s < n_seq; s++) {
        memcpy(t->inputs + (size_t)s * seq_len, tokens + (size_t)s * (seq_len + 1),
               seq_len * sizeof *tokens);
        memcpy(t->targets + (size_t)s * seq_len, tokens + (size_t)s * (seq_len + 1) + 1,
               seq_len * sizeof *tokens);
    }
    t->n_seq = n_seq;
    t->seq_len = seq_len;
    const tr_exec *x = &t->x;
    tr_attn_shape shape = {n_seq, seq_len, c->n_head, c->n_head_kv, hd};

    tr_embedding_fwd(t->acts[0].x, t->inputs, t->w.tok_embd, N, E);
    for (uint32_t l = 0; l < c->n_layer; l++) {
        layer_acts *a = &t->acts[l];
        const tm_layer *W = &t->w.layers[l];
        float *x_out = l + 1 < c->n_layer ? t->acts[l + 1].x : t->x_final;
        tr_rmsnorm_fwd(x, a->h1, a->rstd1, a->x, W->attn_norm, N, E, c->norm_eps);
        linear_fwd(t, l, LORA_Q, a->q, a->h1, W->wq, N, E, qd);
        linear_fwd(t, l, LORA_K, a->k, a->h1, W->wk, N, E, kvd);
        linear_fwd(t, l, LORA_V, a->v, a->h1, W->wv, N, E, kvd);
        tr_rope_fwd(&t->rope, a->q, n_seq, seq_len, c->n_head, hd);
        tr_rope_fwd(&t->rope, a->k, n_seq, seq_len, c->n_head_kv, hd);
        tr_attention_fwd(x, &shape, a->att, a->probs, a->q, a->k, a->v, t->attn_scratch);
        linear_fwd(t, l, LORA_O, a->x_mid, a->att, W->wo, N, qd, E);
        add_rows(a->x_mid, a->x, (size_t)N * E);
        tr_rmsnorm_fwd(x, a->h2, a->rstd2, a->x_mid, W->ffn_norm, N, E, c->norm_eps);
        linear_fwd(t, l, LORA_GATE, a->g, a->h2, W->gate, N, E, F);
        linear_fwd(t, l, LORA_UP, a->u, a->h2, W->up, N, E, F);
        tr_swiglu_fwd(x, a->s, a->g, a->u, (size_t)N * F);
        linear_fwd(t, l, LORA_DOWN, x_out, a->s, W->down, N, F, E);
        add_rows(x_out, a->x_mid, (size_t)N * E);
    }
    tr_rmsnorm_fwd(x, t->h_final, t->rstd_final, t->x_final, t->w.output_norm, N, E, c->norm_eps);
    tr_linear_fwd(x, t->logits, t->h_final, t->w.output, N, E, c->n_vocab, t->wt);
    double total = tr_cross_entropy(x, t->logits, t->targets, N, c->n_vocab, 1.0f / (float)N,
                                    t->loss);
    *loss = total / N;
    return 0;
}

void trainer_backward(trainer *t)
{
    const tm_config *c = &t->c;
    const tr_exec *x = &t->x;
    uint32_t n_seq = t->n_seq, seq_len = t->seq_len;
    uint32_t N = n_seq * seq_len, E = c->n_embd, F = c->n_ff, hd = tm_head_dim(c);
    uint32_t qd = c->n_head * hd, kvd = c->n_head_kv * hd;
    tr_attn_shape shape = {n_seq, seq_len, c->n_head, c->n_head_kv, hd};
    int frozen = t->lora;     /* the model's own weights get no gradient */
    if (frozen) memset(t->lora_grads, 0, t->n_lora * sizeof(float));
    else memset(t->grads, 0, t->n_params * sizeof(float));

    /* head: logits already hold dlogits */
    if (!frozen) tr_linear_bwd_dw(x, t->dw.output, t->logits, t->h_final, N, E, c->n_vocab);
    tr_linear_bwd_dx(x, t->dh, t->logits, t->w.output, N, E, c->n_vocab, 0);
    memset(t->dres, 0, (size_t)N * E * sizeof(float));
    tr_rmsnorm_bwd(x, t->dres, frozen ? NULL : t->dw.output_norm, t->dh, t->x_final,
                   t->w.output_norm, t->rstd_final, N, E);

    for (uint32_t l = c->n_layer; l-- > 0;) {
        layer_acts *a = &t->acts[l];
        const tm_layer *W = &t->w.layers[l];
        tm_layer *dW = &t->dw.layers[l];
        /* x_{l+1} = x_mid + Wdown s: dres flows to x_mid unchanged */
        linear_bwd(t, l, LORA_DOWN, t->ds, 0, t->dres, a->s, W->down, dW->down, N, F, E);
        tr_swiglu_bwd(x, t->dg, t->du, t->ds, a->g, a->u, (size_t)N * F);
        linear_bwd(t, l, LORA_GATE, t->dh, 0, t->dg, a->h2, W->gate, dW->gate, N, E, F);
        linear_bwd(t, l, LORA_UP, t->dh, 1, t->du, a->h2, W->up, dW->up, N, E, F);
        tr_rmsnorm_bwd(x, t->dres, frozen ? NULL : dW->ffn_norm, t->dh, a->x_mid, W->ffn_norm,
                       a->rstd2, N, E);
        /* x_mid = x_l + Wo att */
        linear_bwd(t, l, LORA_O, t->datt, 0, t->dres, a->att, W->wo, dW->wo, N, qd, E);
        tr_attention_bwd(x, &shape, t->dq, t->dk, t->dv, t->datt, a->probs, a->q, a->k, a->v,
                         t->attn_scratch);
        tr_rope_bwd(&t->rope, t->dq, n_seq, seq_len, c->n_head, hd);
        tr_rope_bwd(&t->rope, t->dk, n_seq, seq_len, c->n_head_kv, hd);
        linear_bwd(t, l, LORA_Q, t->dh, 0, t->dq, a->h1, W->wq, dW->wq, N, E, qd);
        linear_bwd(t, l, LORA_K, t->dh, 1, t->dk, a->h1, W->wk, dW->wk, N, E, kvd);
        linear_bwd(t, l, LORA_V, t->dh, 1, t->dv, a->h1, W->wv, dW->wv, N, E, kvd);
        tr_rmsnorm_bwd(x, t->dres, frozen ? NULL : dW->attn_norm, t->dh, a->x, W->attn_norm,
                       a->rstd1, N, E);
    }
    if (!frozen) tr_embedding_bwd(t->dw.tok_embd, t->dres, t->inputs, N, E);
}

double trainer_flops_per_token(const trainer *t, uint32_t seq_len)
{
    const tm_config *c = &t->c;
    double E = c->n_embd, F = c->n_ff, qd = (double)c->n_head * tm_head_dim(c);
    double kvd = (double)c->n_head_kv * tm_head_dim(c);
    double linear = c->n_layer * (E * (qd + 2 * kvd) + qd * E + 3 * E * F) + E * c->n_vocab;
    /* scores and P V: 2 products of seq_len/2 (causal mean) x qd per token and layer */
    double attn = c->n_layer * 2.0 * (seq_len / 2.0) * qd;
    return 6.0 * linear + 6.0 * attn;   /* forward 2 flops/MAC, backward twice that */
}
