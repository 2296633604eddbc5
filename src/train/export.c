/*
 * export.c -- see export.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/f16.h"
#include "kernels/kernels.h"
#include "train/export.h"

uint32_t tr_tokenizer_vocab(const gguf_file *tok)
{
    const gguf_kv *kv;
    if (gguf_get_arr(tok, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &kv)) return 0;
    return kv->arr_len > UINT32_MAX ? 0 : (uint32_t)kv->arr_len;
}

/* NUL-terminated copy of a GGUF string; NULL if it holds a NUL byte or memory is out. */
static char *cstr(gguf_str s)
{
    if (memchr(s.ptr, 0, s.len)) return NULL;
    char *c = malloc(s.len + 1);
    if (!c) return NULL;
    memcpy(c, s.ptr, s.len);
    c[s.len] = 0;
    return c;
}

static int copy_scalar(gguf_writer *w, const char *key, gguf_type type, const uint8_t *d)
{
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            float f32; uint64_t u64; int64_t i64; double f64; } v;
    size_t size = gguf_type_size(type);
    if (size == 0 || size > sizeof v) return -1;
    memcpy(&v, d, size);
    switch (type) {
    case GGUF_TYPE_UINT8: gguf_writer_set_u8(w, key, v.u8); break;
    case GGUF_TYPE_INT8: gguf_writer_set_i8(w, key, v.i8); break;
    case GGUF_TYPE_UINT16: gguf_writer_set_u16(w, key, v.u16); break;
    case GGUF_TYPE_INT16: gguf_writer_set_i16(w, key, v.i16); break;
    case GGUF_TYPE_UINT32: gguf_writer_set_u32(w, key, v.u32); break;
    case GGUF_TYPE_INT32: gguf_writer_set_i32(w, key, v.i32); break;
    case GGUF_TYPE_FLOAT32: gguf_writer_set_f32(w, key, v.f32); break;
    case GGUF_TYPE_BOOL: gguf_writer_set_bool(w, key, v.u8); break;
    case GGUF_TYPE_UINT64: gguf_writer_set_u64(w, key, v.u64); break;
    case GGUF_TYPE_INT64: gguf_writer_set_i64(w, key, v.i64); break;
    case GGUF_TYPE_FLOAT64: gguf_writer_set_f64(w, key, v.f64); break;
    default: return -1;
    }
    return 0;
}

/* One tokenizer.* key/value, whatever its type. */
static int copy_kv(gguf_writer *w, const gguf_kv *kv, char *err, size_t errlen)
{
    char *key = cstr(kv->key);
    int rc = -1;
    if (!key) goto out;
    if (kv->type == GGUF_TYPE_STRING) {
        gguf_str s;
        uint64_t len;
        memcpy(&len, kv->data, 8);
        s.ptr = (const char *)kv->data + 8;
        s.len = len;
        char *val = cstr(s);
        if (val) gguf_writer_set_str(w, key, val), rc = 0;
        free(val);
    } else if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING) {
        char **v = calloc(kv->arr_len ? kv->arr_len : 1, sizeof *v);
        uint64_t i = 0;
        if (v)
            for (; i < kv->arr_len; i++)
                if (!(v[i] = cstr(gguf_arr_str(kv, i)))) break;
        if (v && i == kv->arr_len) gguf_writer_set_arr_str(w, key, (const char *const *)v, i), rc = 0;
        for (uint64_t k = 0; v && k < i; k++) free(v[k]);
        free(v);
    } else if (kv->type == GGUF_TYPE_ARRAY) {
        gguf_writer_set_arr(w, key, kv->arr_type, kv->data, kv->arr_len);
        rc = 0;
    } else {
        rc = copy_scalar(w, key, kv->type, kv->data);
    }
out:
    if (rc)
        snprintf(err, errlen, "export: cannot copy tokenizer key '%.*s' (NUL byte in a string, "
                 "unknown type or out of memory)", (int)(kv->key.len > 80 ? 80 : kv->key.len),
                 kv->key.ptr);
    free(key);
    return rc;
}

/* GGUF Q8_0 rows: per block of 32, the f16 scale then 32 int8, from lmz_q8_quantize. */
static uint8_t *to_q8(const float *m, uint32_t n_out, uint32_t n_in)
{
    uint32_t nb = n_in / QK8_0;
    uint8_t *out = malloc((size_t)n_out * nb * 34);
    int8_t *q = malloc(n_in);
    float *d = malloc(nb * sizeof(float));
    if (out && q && d)
        for (uint32_t r = 0; r < n_out; r++) {
            lmz_q8_quantize(m + (size_t)r * n_in, n_in, q, d);
            for (uint32_t b = 0; b < nb; b++) {
                uint8_t *blk = out + ((size_t)r * nb + b) * 34;
                uint16_t h = lmz_f32_to_f16(d[b]);
                blk[0] = (uint8_t)h;
                blk[1] = (uint8_t)(h >> 8);
                memcpy(blk + 2, q + (size_t)b * QK8_0, QK8_0);
            }
        }
    free(q);
    free(d);
    if (!q || !d) {
        free(out);
        return NULL;
    }
    return out;
}

int tr_export_gguf(const tm_config *c, const float *params, const gguf_file *tok, int q8,
                   const char *name, const char *path, char *err, size_t errlen)
{
    if (tm_config_check(c, err, errlen)) return -1;
    uint32_t tv = tr_tokenizer_vocab(tok);
    if (tv != c->n_vocab) {
        snprintf(err, errlen, "export: the tokenizer has %u tokens but the model's vocabulary "
                 "is %u", tv, c->n_vocab);
        return -1;
    }
    if (q8 && (c->n_embd % QK8_0 || c->n_ff % QK8_0)) {
        snprintf(err, errlen, "export: Q8_0 needs dim (%u) and ff (%u) to be multiples of 32",
                 c->n_embd, c->n_ff);
        return -1;
    }
    gguf_writer *w = gguf_writer_new();
    if (!w) {
        snprintf(err, errlen, "export: out of memory");
        return -1;
    }
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "general.name", name ? name : "lmz");
    gguf_writer_set_u32(w, "general.file_type", q8 ? 7u : 0u);   /* MOSTLY_Q8_0 / ALL_F32 */
    gguf_writer_set_u32(w, "llama.context_length", c->n_ctx);
    gguf_writer_set_u32(w, "llama.embedding_length", c->n_embd);
    gguf_writer_set_u32(w, "llama.block_count", c->n_layer);
    gguf_writer_set_u32(w, "llama.feed_forward_length", c->n_ff);
    gguf_writer_set_u32(w, "llama.attention.head_count", c->n_head);
    gguf_writer_set_u32(w, "llama.attention.head_count_kv", c->n_head_kv);
    gguf_writer_set_u32(w, "llama.rope.dimension_count", tm_head_dim(c));
    gguf_writer_set_u32(w, "llama.vocab_size", c->n_vocab);
    gguf_writer_set_f32(w, "llama.rope.freq_base", c->rope_base);
    gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", c->norm_eps);
    for (uint64_t i = 0; i < tok->n_kv; i++) {
        const gguf_kv *kv = &tok->kv[i];
        if (kv->key.len > 10 && memcmp(kv->key.ptr, "tokenizer.", 10) == 0 &&
            copy_kv(w, kv, err, errlen)) {
            gguf_writer_free(w);
            return -1;
        }
    }
    for (uint32_t i = 0; i < tm_n_tensors(c); i++) {
        tm_tensor t;
        tm_tensor_at(c, i, &t);
        const float *data = params + t.offset;
        if (t.n_out == 1) {
            uint64_t ne[1] = {t.n_in};
            gguf_writer_add_tensor(w, t.name, GGML_TYPE_F32, 1, ne, data);
            continue;
        }
        uint64_t ne[2] = {t.n_in, t.n_out};
        if (!q8) {
            gguf_writer_add_tensor(w, t.name, GGML_TYPE_F32, 2, ne, data);
            continue;
        }
        uint8_t *q = to_q8(data, t.n_out, t.n_in);
        if (!q) {
            snprintf(err, errlen, "export: out of memory");
            gguf_writer_free(w);
            return -1;
        }
        gguf_writer_add_tensor(w, t.name, GGML_TYPE_Q8_0, 2, ne, q);
        free(q);
    }
    int rc = gguf_writer_write_file(w, path, err, errlen);
    gguf_writer_free(w);
    return rc;
}
