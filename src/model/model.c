/*
 * model.c -- opening a GGUF model: architecture and hyperparameters from the metadata,
 * the tokenizer, the weights (model_tensors.c) and the model's identity hash.
 *
 * Identity (identity.h).  model_hash = XXH3-128 of "lmz-model-1", then the
 *   hyperparameters that change the computation (arch, n_vocab, n_embd, n_layer, n_head,
 *   n_head_kv, head_dim, n_rot, n_ff as u32; rope_base, rope_freq_scale, norm_eps as f32;
 *   rope_neox as u32), then every tensor in the order the architecture consumes them
 *   (token_embd, output_norm, output if present, then per layer attn_norm, attn_q,
 *   attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down, [biases], [q/k
 *   norms]).  Hashing reads every weight once
 * (XXH3 runs at many GB/s; a 540 MB F32 model costs ~50 ms, small next to repacking).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/identity.h"
#include "model/model_internal.h"
#include "util/error.h"

/* ---------------------------------------------------------------- identity hash */

static void hash_hparams(XXH3_state_t *h, const lmz_hparams *hp)
{
    static const char tag[] = "lmz-model-1";
    identity_bytes(h, tag, sizeof tag - 1);
    uint32_t u[] = {(uint32_t)hp->arch, hp->n_vocab, hp->n_embd, hp->n_layer, hp->n_head,
                    hp->n_head_kv, hp->head_dim, hp->n_rot, hp->n_ff};
    for (size_t i = 0; i < sizeof u / sizeof *u; i++) identity_u32(h, u[i]);
    identity_f32(h, hp->rope_base);
    identity_f32(h, hp->rope_freq_scale);
    identity_f32(h, hp->norm_eps);
    identity_u32(h, (uint32_t)hp->rope_neox);
}

/* ---------------------------------------------------------------- hyperparameters */

static const struct { const char *name; lmz_arch arch; } archs[] = {
    {"llama", LMZ_ARCH_LLAMA}, {"qwen2", LMZ_ARCH_QWEN2}, {"qwen3", LMZ_ARCH_QWEN3},
};

/* Integer key {arch}.suffix: required, or def when absent.  A present key of the wrong
 * type or out of [lo, hi] is an error. */
static int hp_u32(model_loader *ld, const char *suffix, int required, uint32_t def,
                  uint32_t lo, uint32_t hi, uint32_t *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", ld->m->arch, suffix);
    if (!gguf_find_kv(&ld->m->file, key)) {
        if (required) return mt_fail(ld, "metadata key %s is missing", key);
        *out = def;
        return 0;
    }
    if (gguf_get_u32(&ld->m->file, key, out))
        return mt_fail(ld, "metadata key %s is not an unsigned 32-bit integer (per-layer arrays "
                       "are not supported)", key);
    if (*out < lo || *out > hi)
        return mt_fail(ld, "metadata key %s = %u is out of the supported range [%u, %u]", key,
                       *out, lo, hi);
    return 0;
}

static int hp_f32(model_loader *ld, const char *suffix, int required, float def, float *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", ld->m->arch, suffix);
    if (!gguf_find_kv(&ld->m->file, key)) {
        if (required) return mt_fail(ld, "metadata key %s is missing", key);
        *out = def;
        return 0;
    }
    if (gguf_get_f32(&ld->m->file, key, out)) return mt_fail(ld, "metadata key %s is not a float", key);
    if (!(*out == *out) || *out == INFINITY || *out == -INFINITY)
        return mt_fail(ld, "metadata key %s is not finite", key);
    return 0;
}

static int read_rope_scaling(model_loader *ld, lmz_hparams *hp)
{
    char key[128];
    gguf_str type = {0};
    hp->rope_freq_scale = 1.0f;
    snprintf(key, sizeof key, "%s.rope.scaling.type", ld->m->arch);
    if (gguf_find_kv(&ld->m->file, key)) {
        if (gguf_get_str(&ld->m->file, key, &type)) return mt_fail(ld, "metadata key %s is not a string", key);
        if (type.len == 4 && memcmp(type.ptr, "none", 4) == 0) return 0;
        if (!(type.len == 6 && memcmp(type.ptr, "linear", 6) == 0))
            return mt_fail(ld, "RoPE scaling type '%.*s' is not supported (supported: none, linear)",
                           (int)(type.len > 64 ? 64 : type.len), type.ptr);
    }
    float factor = 0.0f;
    if (hp_f32(ld, "rope.scaling.factor", 0, 0.0f, &factor)) return -1;
    if (factor == 0.0f && hp_f32(ld, "rope.scale_linear", 0, 0.0f, &factor)) return -1;
    if (factor < 0.0f) return mt_fail(ld, "negative RoPE scaling factor %g", (double)factor);
    /* llama.cpp: freq_scale = 1 / factor (factor 0 meaning none) */
    if (factor != 0.0f) hp->rope_freq_scale = 1.0f / factor;
    return 0;
}

static int read_hparams(model_loader *ld)
{
    lmz_model *m = ld->m;
    lmz_hparams *hp = &m->hp;
    gguf_str arch;
    if (gguf_get_str(&m->file, "general.architecture", &arch))
        return mt_fail(ld, "metadata key general.architecture is missing or not a string");
    size_t i = 0;
    for (; i < sizeof archs / sizeof *archs; i++)
        if (arch.len == strlen(archs[i].name) && memcmp(arch.ptr, archs[i].name, arch.len) == 0) break;
    if (i == sizeof archs / sizeof *archs)
        return mt_fail(ld, "model architecture '%.*s' is not supported (supported: llama, qwen2, qwen3)",
                       (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
    hp->arch = archs[i].arch;
    snprintf(m->arch, sizeof m->arch, "%s", archs[i].name);

    /* Generous bounds that keep every size product far from overflow. */
    if (hp_u32(ld, "context_length", 1, 0, 1, UINT32_MAX, &hp->n_ctx_train) ||
        hp_u32(ld, "embedding_length", 1, 0, 1, 1u << 16, &hp->n_embd) ||
        hp_u32(ld, "block_count", 1, 0, 1, 4096, &hp->n_layer) ||
        hp_u32(ld, "feed_forward_length", 1, 0, 1, 1u << 20, &hp->n_ff) ||
        hp_u32(ld, "attention.head_count", 1, 0, 1, 4096, &hp->n_head) ||
        hp_u32(ld, "attention.head_count_kv", 0, hp->n_head, 1, hp->n_head, &hp->n_head_kv))
        return -1;
    if (hp->n_head % hp->n_head_kv)
        return mt_fail(ld, "%s.attention.head_count %u is not a multiple of head_count_kv %u",
                       m->arch, hp->n_head, hp->n_head_kv);
    uint32_t hd_default = hp->n_embd % hp->n_head ? 0 : hp->n_embd / hp->n_head;
    uint32_t vlen;
    if (hp_u32(ld, "attention.key_length", hd_default == 0, hd_default, 1, 4096, &hp->head_dim) ||
        hp_u32(ld, "attention.value_length", 0, hp->head_dim, 1, 4096, &vlen))
        return -1;
    if (vlen != hp->head_dim)
        return mt_fail(ld, "%s.attention.value_length %u differs from key_length %u (not supported)",
                       m->arch, vlen, hp->head_dim);
    if (hp_u32(ld, "rope.dimension_count", 0, hp->head_dim, 2, hp->head_dim, &hp->n_rot)) return -1;
    if (hp->n_rot % 2) return mt_fail(ld, "%s.rope.dimension_count %u is odd", m->arch, hp->n_rot);
    if (hp_f32(ld, "rope.freq_base", 0, 10000.0f, &hp->rope_base) ||
        hp_f32(ld, "attention.layer_norm_rms_epsilon", 1, 0.0f, &hp->norm_eps) ||
        read_rope_scaling(ld, hp))
        return -1;
    if (hp->rope_base <= 0.0f) return mt_fail(ld, "%s.rope.freq_base must be positive", m->arch);
    if (hp->norm_eps < 0.0f) return mt_fail(ld, "%s.attention.layer_norm_rms_epsilon is negative", m->arch);
    hp->rope_neox = hp->arch != LMZ_ARCH_LLAMA;

    /* The vocabulary is the embedding's row count; the tokenizer and vocab_size must agree. */
    const gguf_tensor *embd = gguf_find_tensor(&m->file, "token_embd.weight");
    if (!embd) return mt_fail(ld, "tensor 'token_embd.weight' is missing (needed by %s)", m->arch);
    if (embd->ne[1] < 1 || embd->ne[1] > (1u << 24))
        return mt_fail(ld, "token_embd.weight has %llu rows: unsupported vocabulary size",
                       (unsigned long long)embd->ne[1]);
    hp->n_vocab = (uint32_t)embd->ne[1];
    uint32_t vs;
    if (hp_u32(ld, "vocab_size", 0, hp->n_vocab, 1, UINT32_MAX, &vs)) return -1;
    if (vs != hp->n_vocab)
        return mt_fail(ld, "%s.vocab_size %u differs from token_embd.weight's %u rows", m->arch, vs,
                       hp->n_vocab);
    return 0;
}

/* ---------------------------------------------------------------- open / close */

static void set_name(lmz_model *m, const char *path)
{
    gguf_str name;
    if (gguf_get_str(&m->file, "general.name", &name) == 0 && name.len > 0) {
        size_t n = name.len < sizeof m->name - 1 ? name.len : sizeof m->name - 1;
        memcpy(m->name, name.ptr, n);
        m->name[n] = 0;
        return;
    }
    const char *base = path ? strrchr(path, '/') : NULL;
    snprintf(m->name, sizeof m->name, "%s", base ? base + 1 : path ? path : "(memory)");
}

/* Everything after the GGUF parse.  On failure the model is closed. */
static lmz_model *finish_load(lmz_model *m, const char *path, lmz_error *err)
{
    model_loader ld = {0};
    ld.m = m;
    ld.status = LMZ_OK;
    ld.used = calloc(m->file.n_tensors ? m->file.n_tensors : 1, 1);
    ld.hash = XXH3_createState();
    if (!ld.used || !ld.hash) {
        ld.status = LMZ_ERR_NOMEM;
        snprintf(ld.err, sizeof ld.err, "out of memory");
        goto fail;
    }
    XXH3_128bits_reset(ld.hash);
    set_name(m, path);
    if (read_hparams(&ld)) goto fail;

    char terr[300];
    m->tok = tok_load_gguf(&m->file, terr, sizeof terr);
    if (!m->tok) {
        if (errno == ENOMEM) ld.status = LMZ_ERR_NOMEM;
        mt_fail(&ld, "%s", terr);    /* it names the tokenizer */
        goto fail;
    }
    if (tok_n_vocab(m->tok) != m->hp.n_vocab) {
        mt_fail(&ld, "the tokenizer has %u tokens but token_embd.weight has %u rows",
                tok_n_vocab(m->tok), m->hp.n_vocab);
        goto fail;
    }
    tok_hash(m->tok, m->tokenizer_hash);

    hash_hparams(ld.hash, &m->hp);
    if (mt_load_all(&ld)) goto fail;
    identity_digest(ld.hash, m->model_hash);

    free(ld.used);
    XXH3_freeState(ld.hash);
    return m;
fail:
    lmz_error_setf(err, ld.status == LMZ_OK ? LMZ_ERR_MODEL : ld.status, "%s%s%s",
              path ? path : "", path ? ": " : "", ld.err);
    free(ld.used);
    if (ld.hash) XXH3_freeState(ld.hash);
    lmz_model_close(m);
    return NULL;
}

lmz_model *lmz_model_open(const char *path, lmz_error *err)
{
    if (!path) {
        lmz_error_setf(err, LMZ_ERR_ARG, "no model path given");
        return NULL;
    }
    /* lmz.h: a missing model file is LMZ_ERR_MODEL like a corrupt one. */
    if (access(path, R_OK) != 0) {
        lmz_error_setf(err, LMZ_ERR_MODEL, "cannot open model '%s': %s", path, strerror(errno));
        return NULL;
    }
    lmz_model *m = calloc(1, sizeof *m);
    if (!m) {
        lmz_error_setf(err, LMZ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    char gerr[300];
    int rc = gguf_open(&m->file, path, gerr, sizeof gerr);
    if (rc) {
        lmz_error_setf(err, rc == GGUF_NOMEM ? LMZ_ERR_NOMEM : LMZ_ERR_MODEL, "%s", gerr);
        free(m);
        return NULL;
    }
    return finish_load(m, path, err);
}

lmz_model *lmz_model_from_memory(const void *data, size_t size, lmz_error *err)
{
    if (!data && size) {
        lmz_error_setf(err, LMZ_ERR_ARG, "no model data given");
        return NULL;
    }
    lmz_model *m = calloc(1, sizeof *m);
    if (!m) {
        lmz_error_setf(err, LMZ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    char gerr[300];
    int rc = gguf_parse(&m->file, data, size, gerr, sizeof gerr);
    if (rc) {
        lmz_error_setf(err, rc == GGUF_NOMEM ? LMZ_ERR_NOMEM : LMZ_ERR_MODEL,
                       "model in memory: %s", gerr);
        free(m);
        return NULL;
    }
    return finish_load(m, NULL, err);
}

void lmz_model_close(lmz_model *m)
{
    if (!m) return;
    mt_free_matrices(m);
    tok_free(m->tok);
    gguf_close(&m->file);
    free(m);
}

void lmz_model_get_info(const lmz_model *m, lmz_model_info *info)
{
    memset(info, 0, sizeof *info);
    memcpy(info->name, m->name, sizeof info->name);
    memcpy(info->arch, m->arch, sizeof info->arch);
    memcpy(info->model_hash, m->model_hash, 16);
    memcpy(info->tokenizer_hash, m->tokenizer_hash, 16);
    info->n_vocab = m->hp.n_vocab;
    info->n_layer = m->hp.n_layer;
    info->n_embd = m->hp.n_embd;
    info->n_head = m->hp.n_head;
    info->n_head_kv = m->hp.n_head_kv;
    info->n_ff = m->hp.n_ff;
    info->n_ctx_train = m->hp.n_ctx_train;
    info->n_params = m->n_params;
}
