/*
 * lora.c -- see lora.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "train/lora.h"

int tr_config_from_model(const lmz_model *m, uint32_t seq_len, tm_config *c, char *err,
                         size_t errlen)
{
    const lmz_hparams *hp = &m->hp;
    const char *why = NULL;
    if (hp->arch != LMZ_ARCH_LLAMA)
        why = "only the llama architecture can be trained (not qwen2 / qwen3)";
    else if (hp->rope_neox || hp->n_rot != hp->head_dim || hp->rope_freq_scale != 1.0f)
        why = "its RoPE (NEOX pairs, partial rotation or scaling) is not the trainer's";
    else if (hp->head_dim * hp->n_head != hp->n_embd)
        why = "its head size is not dim / heads";
    else if (m->layers && (m->layers[0].bq || m->layers[0].q_norm))
        why = "it has attention biases or head norms";
    if (why) {
        snprintf(err, errlen, "model '%s' cannot be trained: %s", m->name, why);
        return -1;
    }
    *c = (tm_config){.n_vocab = hp->n_vocab, .n_embd = hp->n_embd, .n_layer = hp->n_layer,
                     .n_head = hp->n_head, .n_head_kv = hp->n_head_kv, .n_ff = hp->n_ff,
                     .n_ctx = seq_len, .tied = (uint32_t)m->tied, .norm_eps = hp->norm_eps,
                     .rope_base = hp->rope_base};
    return tm_config_check(c, err, errlen);
}

int tr_load_model_params(const lmz_model *m, const tm_config *c, float *params, char *err,
                         size_t errlen)
{
    for (uint32_t i = 0; i < tm_n_tensors(c); i++) {
        tm_tensor ti;
        tm_tensor_at(c, i, &ti);
        const gguf_tensor *t = gguf_find_tensor(&m->file, ti.name);
        lmz_row_fn row = t ? lmz_row_reader(t->type) : NULL;
        if (!t || !row || t->ne[0] != ti.n_in || t->ne[1] != ti.n_out) {
            snprintf(err, errlen, "model '%s': tensor '%s' is missing or not %u x %u", m->name,
                     ti.name, ti.n_out, ti.n_in);
            return -1;
        }
        for (uint32_t r = 0; r < ti.n_out; r++)
            row(t->data, r, ti.n_in, params + ti.offset + (size_t)r * ti.n_in);
    }
    return 0;
}

int tr_export_lora(const trainer *t, const lmz_model *m, float alpha, const char *name,
                   const char *path, char *err, size_t errlen)
{
    gguf_writer *w = gguf_writer_new();
    if (!w) {
        snprintf(err, errlen, "export: out of memory");
        return -1;
    }
    char hex[33];
    for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", m->model_hash[i]);
    gguf_writer_set_str(w, "general.architecture", m->arch);
    gguf_writer_set_str(w, "general.type", "adapter");
    gguf_writer_set_str(w, "general.name", name);
    gguf_writer_set_str(w, "adapter.type", "lora");
    gguf_writer_set_f32(w, "adapter.lora.alpha", alpha);
    gguf_writer_set_str(w, "lmz.base_model_name", m->name);
    gguf_writer_set_str(w, "lmz.base_model_hash", hex);
    const tm_config *c = trainer_config(t);
    uint32_t r = trainer_lora_rank(t);
    for (uint32_t l = 0; l < c->n_layer; l++)
        for (int k = 0; k < LORA_N_TARGETS; k++) {
            const float *A, *B;
            uint32_t n_in, n_out;
            if (trainer_lora_matrix(t, l, (lora_target)k, &A, &B, &n_in, &n_out)) continue;
            char tname[96];
            uint64_t ne_a[2] = {n_in, r}, ne_b[2] = {r, n_out};
            snprintf(tname, sizeof tname, "blk.%u.%s.weight.lora_a", l,
                     lora_target_gguf_name((lora_target)k));
            gguf_writer_add_tensor(w, tname, GGML_TYPE_F32, 2, ne_a, A);
            snprintf(tname, sizeof tname, "blk.%u.%s.weight.lora_b", l,
                     lora_target_gguf_name((lora_target)k));
            gguf_writer_add_tensor(w, tname, GGML_TYPE_F32, 2, ne_b, B);
        }
    int rc = gguf_writer_write_file(w, path, err, errlen);
    gguf_writer_free(w);
    return rc;
}
