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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer.h"

typedef struct layer_acts {
    float *x, *h1, *rstd1, *q, *k, *v, *probs, *att, *x_mid, *h2, *rstd2, *g, *u, *s;
} layer_acts;

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
        tr_linear_fwd(x, a->q, a->h1, W->wq, N, E, qd, t->wt);
        tr_linear_fwd(x, a->k, a->h1, W->wk, N, E, kvd, t->wt);
        tr_linear_fwd(x, a->v, a->h1, W->wv, N, E, kvd, t->wt);
        tr_rope_fwd(&t->rope, a->q, n_seq, seq_len, c->n_head, hd);
        tr_rope_fwd(&t->rope, a->k, n_seq, seq_len, c->n_head_kv, hd);
        tr_attention_fwd(x, &shape, a->att, a->probs, a->q, a->k, a->v, t->attn_scratch);
        tr_linear_fwd(x, a->x_mid, a->att, W->wo, N, qd, E, t->wt);
        add_rows(a->x_mid, a->x, (size_t)N * E);
        tr_rmsnorm_fwd(x, a->h2, a->rstd2, a->x_mid, W->ffn_norm, N, E, c->norm_eps);
        tr_linear_fwd(x, a->g, a->h2, W->gate, N, E, F, t->wt);
        tr_linear_fwd(x, a->u, a->h2, W->up, N, E, F, t->wt);
        tr_swiglu_fwd(x, a->s, a->g, a->u, (size_t)N * F);
        tr_linear_fwd(x, x_out, a->s, W->down, N, F, E, t->wt);
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
    memset(t->grads, 0, t->n_params * sizeof(float));

    /* head: logits already hold dlogits */
    tr_linear_bwd_dw(x, t->dw.output, t->logits, t->h_final, N, E, c->n_vocab);
    tr_linear_bwd_dx(x, t->dh, t->logits, t->w.output, N, E, c->n_vocab, 0);
    memset(t->dres, 0, (size_t)N * E * sizeof(float));
    tr_rmsnorm_bwd(x, t->dres, t->dw.output_norm, t->dh, t->x_final, t->w.output_norm,
                   t->rstd_final, N, E);

    for (uint32_t l = c->n_layer; l-- > 0;) {
        layer_acts *a = &t->acts[l];
        const tm_layer *W = &t->w.layers[l];
        tm_layer *dW = &t->dw.layers[l];
        /* x_{l+1} = x_mid + Wdown s: dres flows to x_mid unchanged */
        tr_linear_bwd_dw(x, dW->down, t->dres, a->s, N, F, E);
        tr_linear_bwd_dx(x, t->ds, t->dres, W->down, N, F, E, 0);
        tr_swiglu_bwd(x, t->dg, t->du, t->ds, a->g, a->u, (size_t)N * F);
        tr_linear_bwd_dw(x, dW->gate, t->dg, a->h2, N, E, F);
        tr_linear_bwd_dw(x, dW->up, t->du, a->h2, N, E, F);
        tr_linear_bwd_dx(x, t->dh, t->dg, W->gate, N, E, F, 0);
        tr_linear_bwd_dx(x, t->dh, t->du, W->up, N, E, F, 1);
        tr_rmsnorm_bwd(x, t->dres, dW->ffn_norm, t->dh, a->x_mid, W->ffn_norm, a->rstd2, N, E);
        /* x_mid = x_l + Wo att */
        tr_linear_bwd_dw(x, dW->wo, t->dres, a->att, N, qd, E);
        tr_linear_bwd_dx(x, t->datt, t->dres, W->wo, N, qd, E, 0);
        tr_attention_bwd(x, &shape, t->dq, t->dk, t->dv, t->datt, a->probs, a->q, a->k, a->v,
                         t->attn_scratch);
        tr_rope_bwd(&t->rope, t->dq, n_seq, seq_len, c->n_head, hd);
        tr_rope_bwd(&t->rope, t->dk, n_seq, seq_len, c->n_head_kv, hd);
        tr_linear_bwd_dw(x, dW->wq, t->dq, a->h1, N, E, qd);
        tr_linear_bwd_dw(x, dW->wk, t->dk, a->h1, N, E, kvd);
        tr_linear_bwd_dw(x, dW->wv, t->dv, a->h1, N, E, kvd);
        tr_linear_bwd_dx(x, t->dh, t->dq, W->wq, N, E, qd, 0);
        tr_linear_bwd_dx(x, t->dh, t->dk, W->wk, N, E, kvd, 1);
        tr_linear_bwd_dx(x, t->dh, t->dv, W->wv, N, E, kvd, 1);
        tr_rmsnorm_bwd(x, t->dres, dW->attn_norm, t->dh, a->x, W->attn_norm, a->rstd1, N, E);
    }
    tr_embedding_bwd(t->dw.tok_embd, t->dres, t->inputs, N, E);
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
