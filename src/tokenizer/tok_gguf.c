/*
 * tok_gguf.c -- tok_load_gguf: read tokenizer.ggml.* and hand it to tok_build.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

static int str_is(gguf_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, (size_t)s.len) == 0;
}

/* Optional special token id: -1 when absent. */
static int get_special(const gguf_file *f, const char *key, uint32_t n, int32_t *out,
                       char *err, size_t errlen)
{
    uint32_t v;
    *out = -1;
    if (!gguf_find_kv(f, key))
        return 0;
    if (gguf_get_u32(f, key, &v) || v >= n) {
        tok_fail(EINVAL, err, errlen, "tokenizer: %s is not a token id below %u", key, n);
        return -1;
    }
    *out = (int32_t)v;
    return 0;
}

tokenizer *tok_load_gguf(const gguf_file *f, char *err, size_t errlen)
{
    tok_spec spec;
    memset(&spec, 0, sizeof spec);
    gguf_str model;
    if (gguf_get_str(f, "tokenizer.ggml.model", &model)) {
        tok_fail(EINVAL, err, errlen,
                 "tokenizer: the model has no tokenizer.ggml.model string");
        return NULL;
    }
    if (str_is(model, "gpt2")) {
        spec.kind = TOK_BPE_GPT2;
    } else if (str_is(model, "llama")) {
        spec.kind = TOK_SPM_LLAMA;
    } else {
        tok_fail(EINVAL, err, errlen,
                 "tokenizer: unsupported tokenizer.ggml.model '%.*s' (lmz reads "
                 "'gpt2' and 'llama')", (int)(model.len > 64 ? 64 : model.len), model.ptr);
        return NULL;
    }
    const gguf_kv *tokens, *types = NULL, *scores = NULL, *merges = NULL;
    if (gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens) ||
        tokens->arr_len == 0 || tokens->arr_len > INT32_MAX) {
        tok_fail(EINVAL, err, errlen,
                 "tokenizer: tokenizer.ggml.tokens missing, empty, too long or "
                 "not a string array");
        return NULL;
    }
    uint32_t n = (uint32_t)tokens->arr_len;
    if (gguf_find_kv(f, "tokenizer.ggml.token_type") &&
        (gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &types) ||
         types->arr_len != n)) {
        tok_fail(EINVAL, err, errlen,
                 "tokenizer: tokenizer.ggml.token_type must be an int32 array "
                 "of %u entries", n);
        return NULL;
    }
    if (gguf_find_kv(f, "tokenizer.ggml.scores") &&
        (gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, &scores) ||
         scores->arr_len != n)) {
        tok_fail(EINVAL, err, errlen,
                 "tokenizer: tokenizer.ggml.scores must be a float32 array "
                 "of %u entries", n);
        return NULL;
    }
    if (spec.kind == TOK_BPE_GPT2 &&
        gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &merges)) {
        tok_fail(EINVAL, err, errlen,
                 "tokenizer: gpt2 tokenizer without a tokenizer.ggml.merges "
                 "string array");
        return NULL;
    }
    if (gguf_find_kv(f, "tokenizer.ggml.pre") &&
        gguf_get_str(f, "tokenizer.ggml.pre", &spec.pre)) {
        tok_fail(EINVAL, err, errlen, "tokenizer: tokenizer.ggml.pre is not a string");
        return NULL;
    }
    if (get_special(f, "tokenizer.ggml.bos_token_id", n, &spec.bos, err, errlen) ||
        get_special(f, "tokenizer.ggml.eos_token_id", n, &spec.eos, err, errlen))
        return NULL;

    tokenizer *t = NULL;
    gguf_str *tok_strs = malloc((size_t)n * sizeof *tok_strs);
    int32_t *type_vals = types ? malloc((size_t)n * sizeof *type_vals) : NULL;
    float *score_vals = scores ? malloc((size_t)n * sizeof *score_vals) : NULL;
    uint64_t n_merges = merges ? merges->arr_len : 0;
    gguf_str *merge_strs = malloc((size_t)(n_merges ? n_merges : 1) * sizeof *merge_strs);
    if (!tok_strs || (types && !type_vals) || (scores && !score_vals) || !merge_strs) {
        tok_fail(ENOMEM, err, errlen, "tokenizer: out of memory for %u tokens", n);
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        tok_strs[i] = gguf_arr_str(tokens, i);
        if (types)
            type_vals[i] = gguf_arr_i32(types, i);
        if (scores)
            score_vals[i] = gguf_arr_f32(scores, i);
    }
    for (uint64_t r = 0; r < n_merges; r++)
        merge_strs[r] = gguf_arr_str(merges, r);
    spec.n_tokens = n;
    spec.tokens = tok_strs;
    spec.types = type_vals;
    spec.scores = score_vals;
    spec.n_merges = n_merges;
    spec.merges = merge_strs;
    t = tok_build(&spec, err, errlen);
out:
    free(tok_strs);
    free(type_vals);
    free(score_vals);
    free(merge_strs);
    return t;
}
