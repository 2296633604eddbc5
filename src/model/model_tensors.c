/*
 * model_tensors.c -- finding, checking and converting the weights of a model: every
 * tensor the architecture needs must be present with the right type and shape, every
 * tensor in the file must be one the architecture uses (an unknown tensor means a model
 * feature we do not implement, and ignoring it would give wrong predictions, so it is
 * an error as in llama.cpp), and matrices are repacked into kernel panels.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "model/identity.h"
#include "model/model_internal.h"

int mt_fail(model_loader *ld, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->err, sizeof ld->err, fmt, ap);
    va_end(ap);
    if (ld->status == LMZ_OK) ld->status = LMZ_ERR_MODEL;
    return -1;
}

/* ---------------------------------------------------------------- lookup and checks */

static int shape_str(char *buf, size_t n, const uint64_t *ne, uint32_t n_dims)
{
    int len = snprintf(buf, n, "[");
    for (uint32_t i = 0; i < n_dims; i++)
        len += snprintf(buf + len, n - (size_t)len, "%s%llu", i ? ", " : "", (unsigned long long)ne[i]);
    return len + snprintf(buf + len, n - (size_t)len, "]");
}

/* Find `name`, check its shape against ne (n_dims entries; the tensor's further dims must
 * be 1) and its type against the allowed set, mark it used and hash it.  Returns NULL if
 * absent and optional (*missing = 1), or on error (message set). */
static const gguf_tensor *take(model_loader *ld, const char *name, uint32_t n_dims,
                               const uint64_t *ne, int matrix, int optional)
{
    const gguf_tensor *t = gguf_find_tensor(&ld->m->file, name);
    if (!t) {
        if (!optional) mt_fail(ld, "tensor '%s' is missing (needed by %s)", name, ld->m->arch);
        return NULL;
    }
    int ok = 1;
    for (uint32_t i = 0; i < GGUF_MAX_DIMS; i++)
        if (t->ne[i] != (i < n_dims ? ne[i] : 1)) ok = 0;
    if (!ok) {
        char want[96], got[96];
        shape_str(want, sizeof want, ne, n_dims);
        shape_str(got, sizeof got, t->ne, t->n_dims);
        mt_fail(ld, "tensor '%s' has shape %s, expected %s from the hyperparameters", name, got, want);
        return NULL;
    }
    /* Matrices may be F32/F16/BF16/Q8_0; norms and biases are used as floats, so Q8_0
     * (which llama.cpp does not produce for them) is refused. */
    if (!lmz_row_reader(t->type) || (!matrix && t->type == GGML_TYPE_Q8_0)) {
        mt_fail(ld, "tensor '%s' has type %s; supported: F32, F16, BF16%s", name,
                ggml_type_name(t->type), matrix ? ", Q8_0" : "");
        return NULL;
    }
    size_t idx = (size_t)(t - ld->m->file.tensors);
    ld->used[idx] = 1;
    identity_tensor(ld->hash, t);
    uint64_t elems = 1;
    for (uint32_t i = 0; i < GGUF_MAX_DIMS; i++) elems *= t->ne[i];
    ld->m->n_params += elems;
    return t;
}

static void *alloc64(size_t bytes)
{
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

/* A norm or bias vector of n floats, copied into the model's vector arena. */
int mt_vector(model_loader *ld, const char *name, uint32_t n, int optional, const float **out)
{
    uint64_t ne[1] = {n};
    *out = NULL;
    const gguf_tensor *t = take(ld, name, 1, ne, 0, optional);
    if (!t) return optional && ld->status == LMZ_OK ? 0 : -1;
    if (ld->vec_used + n > ld->vec_cap) return mt_fail(ld, "internal: vector arena too small");
    float *dst = ld->m->vectors + ld->vec_used;
    lmz_row_reader(t->type)(t->data, 0, n, dst);
    ld->vec_used += n;
    *out = dst;
    return 0;
}

/* Repack a tensor of GGUF shape [n_in, n_out] into panels. */
static int pack_matrix(model_loader *ld, const gguf_tensor *t, uint32_t n_in, uint32_t n_out,
                       lmz_matrix *mx)
{
    mx->n_in = n_in;
    mx->n_out = n_out;
    if (t->type == GGML_TYPE_Q8_0) {
        mx->type = GGML_TYPE_Q8_0;
        mx->panels = alloc64(lmz_q8_panels_bytes(n_out, n_in));
        if (!mx->panels) goto nomem;
        lmz_pack_q8(mx->panels, t->data, n_out, n_in);
        return 0;
    }
    mx->type = GGML_TYPE_F32;
    mx->panels = alloc64(lmz_f32_panels_bytes(n_out, n_in));
    float *tmp = malloc((size_t)n_in * sizeof(float));
    if (!mx->panels || !tmp) {
        free(tmp);
        goto nomem;
    }
    lmz_pack_f32(mx->panels, t->data, lmz_row_reader(t->type), n_out, n_in, tmp);
    free(tmp);
    return 0;
nomem:
    ld->status = LMZ_ERR_NOMEM;
    return mt_fail(ld, "out of memory repacking '%.*s' (%u x %u)", (int)t->name.len,
                   t->name.ptr, n_out, n_in);
}

int mt_matrix(model_loader *ld, const char *name, uint32_t n_in, uint32_t n_out, lmz_matrix *mx)
{
    uint64_t ne[2] = {n_in, n_out};
    const gguf_tensor *t = take(ld, name, 2, ne, 1, 0);
    if (!t) return -1;
    return pack_matrix(ld, t, n_in, n_out, mx);
}

int mt_load_all(model_loader *ld)
{
    lmz_model *m = ld->m;
    const lmz_hparams *hp = &m->hp;
    uint32_t hd = hp->head_dim, q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd;
    char name[96];

    /* Vector arena: output_norm + per layer 2 norms, 3 biases, 2 head norms. */
    ld->vec_cap = hp->n_embd + (size_t)hp->n_layer * (2 * hp->n_embd + q_dim + 2 * kv_dim + 2 * hd);
    m->vectors = malloc(ld->vec_cap * sizeof(float));
    m->layers = calloc(hp->n_layer, sizeof *m->layers);
    if (!m->vectors || !m->layers) {
        ld->status = LMZ_ERR_NOMEM;
        return mt_fail(ld, "out of memory for the model's layers");
    }

    uint64_t embd_ne[2] = {hp->n_embd, hp->n_vocab};
    const gguf_tensor *embd = take(ld, "token_embd.weight", 2, embd_ne, 1, 0);
    if (!embd) return -1;
    m->tok_embd.data = embd->data;
    m->tok_embd.row = lmz_row_reader(embd->type);
    if (mt_vector(ld, "output_norm.weight", hp->n_embd, 0, &m->output_norm)) return -1;
    const gguf_tensor *out = take(ld, "output.weight", 2, embd_ne, 1, 1);
    if (!out && ld->status != LMZ_OK) return -1;
    m->tied = out == NULL;
    if (pack_matrix(ld, out ? out : embd, hp->n_embd, hp->n_vocab, &m->output)) return -1;

    int biases = hp->arch == LMZ_ARCH_QWEN2 ? 1 : hp->arch == LMZ_ARCH_LLAMA ? 2 : 0; /* 2: optional */
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        lmz_layer *L = &m->layers[l];
#define NAME(s) (snprintf(name, sizeof name, "blk.%u." s, l), name)
        if (mt_vector(ld, NAME("attn_norm.weight"), hp->n_embd, 0, &L->attn_norm) ||
            mt_matrix(ld, NAME("attn_q.weight"), hp->n_embd, q_dim, &L->wq) ||
            mt_matrix(ld, NAME("attn_k.weight"), hp->n_embd, kv_dim, &L->wk) ||
            mt_matrix(ld, NAME("attn_v.weight"), hp->n_embd, kv_dim, &L->wv) ||
            mt_matrix(ld, NAME("attn_output.weight"), q_dim, hp->n_embd, &L->wo) ||
            mt_vector(ld, NAME("ffn_norm.weight"), hp->n_embd, 0, &L->ffn_norm) ||
            mt_matrix(ld, NAME("ffn_gate.weight"), hp->n_embd, hp->n_ff, &L->gate) ||
            mt_matrix(ld, NAME("ffn_up.weight"), hp->n_embd, hp->n_ff, &L->up) ||
            mt_matrix(ld, NAME("ffn_down.weight"), hp->n_ff, hp->n_embd, &L->down))
            return -1;
        if (biases &&
            (mt_vector(ld, NAME("attn_q.bias"), q_dim, biases == 2, &L->bq) ||
             mt_vector(ld, NAME("attn_k.bias"), kv_dim, biases == 2, &L->bk) ||
             mt_vector(ld, NAME("attn_v.bias"), kv_dim, biases == 2, &L->bv)))
            return -1;
        if (hp->arch == LMZ_ARCH_QWEN3 &&
            (mt_vector(ld, NAME("attn_q_norm.weight"), hd, 0, &L->q_norm) ||
             mt_vector(ld, NAME("attn_k_norm.weight"), hd, 0, &L->k_norm)))
            return -1;
#undef NAME
    }

    for (uint64_t i = 0; i < m->file.n_tensors; i++) {
        if (ld->used[i]) continue;
        const gguf_tensor *t = &m->file.tensors[i];
        const char *why = "";
        if (t->name.len == 17 && memcmp(t->name.ptr, "rope_freqs.weight", 17) == 0)
            why = " (per-frequency RoPE factors, llama3-style rope scaling, are not supported)";
        return mt_fail(ld, "tensor '%.*s' is not part of the %s architecture as lmz implements "
                       "it%s", (int)(t->name.len > 200 ? 200 : t->name.len), t->name.ptr, m->arch, why);
    }
    return 0;
}

void mt_free_matrices(lmz_model *m)
{
    free(m->output.panels);
    if (m->layers)
        for (uint32_t l = 0; l < m->hp.n_layer; l++) {
            lmz_layer *L = &m->layers[l];
            free(L->wq.panels); free(L->wk.panels); free(L->wv.panels); free(L->wo.panels);
            free(L->gate.panels); free(L->up.panels); free(L->down.panels);
        }
    free(m->layers);
    free(m->vectors);
}
