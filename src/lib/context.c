/* context.c -- lmz_ctx: parameters, its model(s), the lazily created forward pass, errors. */
#include <stdlib.h>
#include <string.h>

#include "format/container.h"
#include "lib/internal.h"
#include "lib/lm_mix.h"
#include "kernels/kernels.h"
#include "model/adapter.h"
#include "model/model.h"

void lmz_params_default(lmz_params *p)
{
    memset(p, 0, sizeof *p);
    p->level = LMZ_LEVEL_DEFAULT;
    p->threads = 1;
    p->simd = LMZ_SIMD_AUTO;
}

lmz_ctx *lmz_ctx_new(const lmz_model *model, const lmz_params *params, lmz_error *err)
{
    if (!model) {
        lmz_error_setf(err, LMZ_ERR_ARG, "no model given (lmz_ctx_new_builtin uses the "
                       "built-in models)");
        return NULL;
    }
    return lmz__ctx_new(model, NULL, params, err);
}

/* A forward pass and what it was made for. */
struct lmz_fwd_slot {
    struct forward_ctx *fwd;
    const lmz_model *model;
    uint32_t context, lanes, max_batch, threads;
};

static void free_builtins(lmz_ctx *ctx)
{
    for (int i = 0; i < LMZ_BUILTIN_COUNT; i++) lmz_model_close(ctx->builtin[i]);
}

lmz_ctx *lmz__ctx_new(const lmz_model *model, const lmz_builtin_set *builtins,
                      const lmz_params *params, lmz_error *err)
{
    lmz_params p;
    if (params) p = *params; else lmz_params_default(&p);
    if (p.level == 0) p.level = LMZ_LEVEL_DEFAULT;
    if (p.level < LMZ_LEVEL_MIN || p.level > LMZ_LEVEL_MAX) {
        lmz_error_setf(err, LMZ_ERR_ARG, "level %d is out of range %d..%d",
                       p.level, LMZ_LEVEL_MIN, LMZ_LEVEL_MAX);
        return NULL;
    }
    if (p.threads <= 0) p.threads = 1;
    if (p.threads > LMZ_THREADS_MAX) {
        lmz_error_setf(err, LMZ_ERR_ARG, "%d threads is too many (%d at most)", p.threads,
                       LMZ_THREADS_MAX);
        return NULL;
    }
    if (p.mix_version < 0 || p.mix_version > CM_VERSION_MAX) {
        lmz_error_setf(err, LMZ_ERR_ARG, "mix version %d is out of range 0..%d",
                       p.mix_version, CM_VERSION_MAX);
        return NULL;
    }
    lmz_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        lmz_error_setf(err, LMZ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    ctx->model = model;
    ctx->params = p;
    ctx->builtins = builtins;
    if (!model) {
        int index = lmz_level_builtin(p.level);
        ctx->builtin[index] = builtins->load(index, err);
        if (!ctx->builtin[index]) {
            free(ctx);
            return NULL;
        }
        ctx->model = ctx->builtin[index];
    }
    lmz_model_info info;
    lmz_model_get_info(ctx->model, &info);
    if (model)
        lmz_level_get(p.level, info.n_ctx_train, &ctx->level);
    else
        lmz_level_get_builtin(p.level, info.n_ctx_train, &ctx->level);
    if (p.chunk_size) ctx->level.chunk_size = p.chunk_size;
    if (p.context) {
        if (info.n_ctx_train >= 2 && p.context > info.n_ctx_train) {
            lmz_error_setf(err, LMZ_ERR_ARG,
                           "context %u tokens is more than the model was trained for (%u)",
                           p.context, info.n_ctx_train);
            lmz_ctx_free(ctx);
            return NULL;
        }
        ctx->level.context = p.context;
        ctx->level.keep = p.context / 2;
    }
    if (ctx->level.context < 2 || ctx->level.chunk_size < 1 ||
        ctx->level.chunk_size > LMZ_MAX_CHUNK_SIZE) {
        lmz_error_setf(err, LMZ_ERR_ARG, "invalid settings: context %u tokens, chunk %u bytes",
                       ctx->level.context, ctx->level.chunk_size);
        lmz_ctx_free(ctx);
        return NULL;
    }
    char msg[256] = "";
    if (lmz_simd_resolve(p.simd, &ctx->simd, msg, sizeof msg) != 0) {
        lmz_error_setf(err, LMZ_ERR_ARG, "%s", msg);
        lmz_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

void lmz_ctx_free(lmz_ctx *ctx)
{
    if (!ctx) return;
    for (uint32_t i = 0; i < ctx->n_fwd; i++) fwd_free(ctx->fwd[i].fwd);
    free(ctx->fwd);
    cm_free(ctx->mix_cm);
    for (uint32_t i = 0; i < ctx->n_lane_cm; i++) cm_free(ctx->lane_cm[i]);
    free(ctx->lane_cm);
    vocab_order_free(ctx->mix_vocab);
    free_builtins(ctx);
    free(ctx->adapters);
    free(ctx);
}

size_t lmz__group_chunks(const lmz_ctx *ctx, uint32_t lanes)
{
    return 4 * (size_t)(lanes ? lanes : 1) * (size_t)ctx->params.threads;
}

uint32_t lmz__stream_lanes(const lmz_ctx *ctx, int level)
{
    lmz_model_info info;
    lmz_model_get_info(ctx->model, &info);
    lmz_level_settings s;
    if (ctx->builtins && ctx->model == ctx->builtin[lmz_level_builtin(level)])
        lmz_level_get_builtin(level, info.n_ctx_train, &s);
    else
        lmz_level_get(level, info.n_ctx_train, &s);
    return s.lanes;
}

lmz_status lmz__use_builtin(lmz_ctx *ctx, int index)
{
    if (!ctx->builtin[index]) {
        lmz_error err = { LMZ_OK, "" };
        ctx->builtin[index] = ctx->builtins->load(index, &err);
        if (!ctx->builtin[index]) return lmz__fail(ctx, err.status, "%s", err.message);
    }
    ctx->model = ctx->builtin[index];
    return LMZ_OK;
}

lmz_status lmz_ctx_set_adapters(lmz_ctx *ctx, const lmz_adapter *const *adapters, size_t n,
                                int route)
{
    if (!ctx || (n && !adapters)) return LMZ_ERR_ARG;
    for (size_t i = 0; i < n; i++)
        if (!adapters[i]) return lmz__fail(ctx, LMZ_ERR_ARG, "adapter %zu is NULL", i);
    if (n && !route) {
        lmz_error err = { LMZ_OK, "" };
        if (lmz_adapter_check(adapters[0], ctx->model, &err) != LMZ_OK)
            return lmz__fail(ctx, err.status, "%s", err.message);
    }
    const lmz_adapter **copy = NULL;
    if (n && !(copy = malloc(n * sizeof *copy))) return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) copy[i] = adapters[i];
    free(ctx->adapters);
    ctx->adapters = copy;
    ctx->n_adapters = n;
    ctx->route = route && n > 0;
    ctx->adapter = NULL;
    return LMZ_OK;
}

uint64_t lmz__level_chunk_size(const lmz_ctx *ctx)
{
    uint64_t n = ctx->level.chunk_size;
    return n < LMZF_COMPACT_RAW_MAX ? n : LMZF_COMPACT_RAW_MAX;
}

int lmz__progress(lmz_ctx *ctx, uint64_t in, uint64_t out)
{
    if (!ctx->params.progress) return 0;
    if (out < ctx->progress_shown) out = ctx->progress_shown;
    ctx->progress_shown = out;
    return ctx->params.progress(ctx->params.progress_user, in, out);
}

uint64_t lmz_ctx_trailing_data(const lmz_ctx *ctx)
{
    return ctx ? ctx->trailing_at : 0;
}

const char *lmz_ctx_error(const lmz_ctx *ctx)
{
    return ctx ? ctx->error : "no context";
}

lmz_simd lmz_ctx_simd(const lmz_ctx *ctx)
{
    return ctx->simd;
}

const char *lmz_simd_name(lmz_simd simd)
{
    return lmz_simd_path_name(simd);
}

lmz_status lmz__forward(lmz_ctx *ctx, uint32_t index, uint32_t context, uint32_t lanes,
                        uint32_t max_batch, uint32_t threads, int kv_f16,
                        struct forward_ctx **out)
{
    if (index >= ctx->n_fwd) {
        struct lmz_fwd_slot *grown = realloc(ctx->fwd, (index + 1) * sizeof *grown);
        if (!grown) return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory");
        memset(grown + ctx->n_fwd, 0, (index + 1 - ctx->n_fwd) * sizeof *grown);
        ctx->fwd = grown;
        ctx->n_fwd = index + 1;
    }
    struct lmz_fwd_slot *s = &ctx->fwd[index];
    if (s->fwd && (s->model != ctx->model || s->context != context || s->lanes < lanes ||
                   s->max_batch < max_batch || s->threads != threads)) {
        fwd_free(s->fwd);
        s->fwd = NULL;
    }
    if (!s->fwd) {
        char msg[256] = "";
        s->fwd = fwd_new(ctx->model, context, lanes, max_batch, (int)threads, ctx->simd, msg,
                         sizeof msg);
        if (!s->fwd) return lmz__fail(ctx, LMZ_ERR_NOMEM, "cannot set up the model: %s", msg);
        s->model = ctx->model;
        s->context = context;
        s->lanes = lanes;
        s->max_batch = max_batch;
        s->threads = threads;
    }
    char why[256] = "";
    if (fwd_set_kv_f16(s->fwd, kv_f16, why, sizeof why))
        return lmz__fail(ctx, LMZ_ERR_NOMEM, "cannot set up the model: %s", why);
    if (fwd_adapter(s->fwd) != ctx->adapter) {
        char msg[400] = "";
        int rc = fwd_set_adapter(s->fwd, ctx->adapter, msg, sizeof msg);
        if (rc)
            return lmz__fail(ctx, rc == FWD_NOMEM ? LMZ_ERR_NOMEM : LMZ_ERR_MODEL_MISMATCH,
                             "%s", msg);
    }
    *out = s->fwd;
    return LMZ_OK;
}

_Static_assert(CM_VERSION_MAX == LMZF_MIX_VERSION_MAX, "the format reads what the models are");

lmz_status lmz__begin_mix(lmz_ctx *ctx, int version, unsigned bucket_bits)
{
    const tokenizer *tok = ctx->model->tok;
    if (ctx->mix_tok != tok) {
        vocab_order_free(ctx->mix_vocab);
        ctx->mix_tok = NULL;
        if (!(ctx->mix_vocab = vocab_order_new(tok)))
            return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory for the vocabulary order");
        ctx->mix_tok = tok;
    }
    if (ctx->mix_cm && cm_bucket_bits(ctx->mix_cm) != bucket_bits) {
        cm_free(ctx->mix_cm);
        ctx->mix_cm = NULL;
    }
    if (!ctx->mix_cm && !(ctx->mix_cm = cm_new(bucket_bits)))
        return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory for the adaptive models");
    cm_reset(ctx->mix_cm, version);
    ctx->mix_version = version;
    ctx->mixing = 1;
    return LMZ_OK;
}

lmz_status lmz__lane_models(lmz_ctx *ctx, uint32_t n)
{
    if (n <= ctx->n_lane_cm) return LMZ_OK;
    cm_state **more = realloc(ctx->lane_cm, n * sizeof *more);
    if (!more) return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory for the adaptive models");
    ctx->lane_cm = more;
    while (ctx->n_lane_cm < n) {
        if (!(more[ctx->n_lane_cm] = cm_new(CM_BUCKET_BITS_SHORT)))
            return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory for the adaptive models");
        ctx->n_lane_cm++;
    }
    return LMZ_OK;
}
