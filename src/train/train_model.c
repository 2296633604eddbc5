/*
 * train_model.c -- see train_model.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/detmath.h"
#include "train/train_model.h"

int tm_config_check(const tm_config *c, char *err, size_t errlen)
{
    const char *why = NULL;
    if (!c->n_vocab || !c->n_embd || !c->n_layer || !c->n_head || !c->n_head_kv || !c->n_ff ||
        !c->n_ctx)
        why = "every size must be positive";
    else if (c->n_vocab > (1u << 24) || c->n_embd > 65536 || c->n_layer > 1024 ||
             c->n_ff > (1u << 20) || c->n_ctx > 65536 || c->n_head > c->n_embd)
        why = "a size is out of range (vocab <= 2^24, dim <= 65536, layers <= 1024, "
              "ff <= 2^20, ctx <= 65536)";
    else if (c->n_embd % c->n_head)
        why = "dim must be a multiple of heads";
    else if (c->n_head % c->n_head_kv)
        why = "heads must be a multiple of kv-heads";
    else if (tm_head_dim(c) % 2)
        why = "dim / heads (the head size) must be even for RoPE";
    else if (!(c->norm_eps >= 0.0f) || !(c->rope_base > 0.0f))
        why = "norm eps must be >= 0 and rope base > 0";
    if (why) {
        snprintf(err, errlen, "model shape (vocab %u, dim %u, layers %u, heads %u, kv-heads %u, "
                 "ff %u, ctx %u): %s", c->n_vocab, c->n_embd, c->n_layer, c->n_head,
                 c->n_head_kv, c->n_ff, c->n_ctx, why);
        return -1;
    }
    return 0;
}

enum { L_ATTN_NORM, L_Q, L_K, L_V, L_O, L_FFN_NORM, L_GATE, L_UP, L_DOWN, L_COUNT };
static const char *const layer_names[L_COUNT] = {
    "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
    "ffn_up", "ffn_down",
};

static void layer_shape(const tm_config *c, int which, uint32_t *n_out, uint32_t *n_in)
{
    uint32_t E = c->n_embd, q = c->n_head * tm_head_dim(c), kv = c->n_head_kv * tm_head_dim(c);
    uint32_t outs[L_COUNT] = {1, q, kv, kv, E, 1, c->n_ff, c->n_ff, E};
    uint32_t ins[L_COUNT] = {E, E, E, E, q, E, E, E, c->n_ff};
    *n_out = outs[which];
    *n_in = ins[which];
}

static size_t layer_floats(const tm_config *c)
{
    size_t n = 0;
    for (int i = 0; i < L_COUNT; i++) {
        uint32_t o, in;
        layer_shape(c, i, &o, &in);
        n += (size_t)o * in;
    }
    return n;
}

static uint32_t n_head_tensors(const tm_config *c) { return c->tied ? 2 : 3; }

uint32_t tm_n_tensors(const tm_config *c) { return n_head_tensors(c) + c->n_layer * L_COUNT; }

size_t tm_n_params(const tm_config *c)
{
    size_t head = (size_t)c->n_vocab * c->n_embd * (c->tied ? 1 : 2) + c->n_embd;
    return head + (size_t)c->n_layer * layer_floats(c);
}

void tm_tensor_at(const tm_config *c, uint32_t i, tm_tensor *t)
{
    size_t VE = (size_t)c->n_vocab * c->n_embd;
    memset(t, 0, sizeof *t);
    if (i < n_head_tensors(c)) {
        static const char *const names[3] = {"token_embd.weight", "output_norm.weight",
                                             "output.weight"};
        static const size_t rows_are_vocab[3] = {1, 0, 1};
        snprintf(t->name, sizeof t->name, "%s", names[i]);
        t->n_out = rows_are_vocab[i] ? c->n_vocab : 1;
        t->n_in = c->n_embd;
        t->offset = i == 0 ? 0 : i == 1 ? VE : VE + c->n_embd;
        t->is_matrix = i != 1;
        return;
    }
    uint32_t j = i - n_head_tensors(c), l = j / L_COUNT, which = j % L_COUNT;
    size_t off = VE * (c->tied ? 1 : 2) + c->n_embd + (size_t)l * layer_floats(c);
    for (uint32_t k = 0; k < which; k++) {
        uint32_t o, in;
        layer_shape(c, (int)k, &o, &in);
        off += (size_t)o * in;
    }
    snprintf(t->name, sizeof t->name, "blk.%u.%s.weight", l, layer_names[which]);
    layer_shape(c, (int)which, &t->n_out, &t->n_in);
    t->offset = off;
    t->is_matrix = which != L_ATTN_NORM && which != L_FFN_NORM;
}

int tm_weights_bind(tm_weights *w, const tm_config *c, float *base)
{
    memset(w, 0, sizeof *w);
    w->layers = calloc(c->n_layer, sizeof *w->layers);
    if (!w->layers) return -1;
    tm_tensor t;
    tm_tensor_at(c, 0, &t);
    w->tok_embd = base + t.offset;
    tm_tensor_at(c, 1, &t);
    w->output_norm = base + t.offset;
    w->output = w->tok_embd;
    if (!c->tied) {
        tm_tensor_at(c, 2, &t);
        w->output = base + t.offset;
    }
    for (uint32_t l = 0; l < c->n_layer; l++) {
        float **f[L_COUNT] = {&w->layers[l].attn_norm, &w->layers[l].wq, &w->layers[l].wk,
                              &w->layers[l].wv, &w->layers[l].wo, &w->layers[l].ffn_norm,
                              &w->layers[l].gate, &w->layers[l].up, &w->layers[l].down};
        for (uint32_t k = 0; k < L_COUNT; k++) {
            tm_tensor_at(c, n_head_tensors(c) + l * L_COUNT + k, &t);
            *f[k] = base + t.offset;
        }
    }
    return 0;
}

void tm_weights_free(tm_weights *w)
{
    free(w->layers);
    w->layers = NULL;
}

/* Standard normal from two uniforms (Box-Muller with the deterministic double math). */
double tm_normal(uint64_t *rng)
{
    double u1 = ((double)(tm_rng_next(rng) >> 11) + 1.0) * 0x1p-53;   /* (0, 1] */
    double u2 = (double)(tm_rng_next(rng) >> 11) * 0x1p-53;
    return sqrt(-2.0 * lmz_log_d(u1)) * lmz_cos_d(6.283185307179586 * u2);
}

void tm_init_params(const tm_config *c, float *params, uint64_t seed)
{
    uint64_t rng = seed;
    double resid_scale = 1.0 / sqrt(2.0 * c->n_layer);
    for (uint32_t i = 0; i < tm_n_tensors(c); i++) {
        tm_tensor t;
        tm_tensor_at(c, i, &t);
        float *p = params + t.offset;
        size_t n = (size_t)t.n_out * t.n_in;
        if (!t.is_matrix) {
            for (size_t k = 0; k < n; k++) p[k] = 1.0f;
            continue;
        }
        int resid = strstr(t.name, "attn_output") || strstr(t.name, "ffn_down");
        double std = 0.02 * (resid ? resid_scale : 1.0);
        for (size_t k = 0; k < n; k++) p[k] = (float)(std * tm_normal(&rng));
    }
}
