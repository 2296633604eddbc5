/*
 * many.c -- lmz_compress_many and lmz_decompress_many: many short texts (issue 15), each
 * its own stream.  Compressing, texts of one chunk go through the LM side by side in
 * batches (lmz__compress_compact_batch), and decompressing (lmz__decompress_many).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/container.h"
#include "lib/internal.h"

/* A text the batch takes: one chunk, in the compact layout. */
static int batchable(const lmz_ctx *ctx, size_t n)
{
    return !ctx->params.no_compact && n <= ctx->level.chunk_size && n <= LMZF_COMPACT_RAW_MAX;
}

static void free_all(size_t n, void **out, size_t *out_size)
{
    for (size_t i = 0; i < n; i++) {
        free(out[i]);
        out[i] = NULL;
        out_size[i] = 0;
    }
}

/* Prefix the context's message with the text's index. */
static lmz_status name_item(lmz_ctx *ctx, lmz_status st, const char *what, size_t i)
{
    char msg[sizeof ctx->error];
    snprintf(msg, sizeof msg, "%s", ctx->error[0] ? ctx->error : lmz_status_string(st));
    return lmz__fail(ctx, st, "%s %zu: %s", what, i, msg);
}

lmz_status lmz_compress_many(lmz_ctx *ctx, size_t n, const void *const *src,
                             const size_t *src_size, void **out, size_t *out_size)
{
    if (!ctx || (n && (!src || !src_size || !out || !out_size))) return LMZ_ERR_ARG;
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        out_size[i] = 0;
        if (!src[i] && src_size[i]) return lmz__fail(ctx, LMZ_ERR_ARG, "text %zu: NULL", i);
    }
    ctx->error[0] = '\0';
    /* Routing picks an adapter per text: those cannot share a forward pass. */
    int one_by_one = ctx->route && ctx->n_adapters > 1;
    /* Four groups' worth at a time: the lanes idle only at a batch's end, while its
     * longest texts finish, and short texts hold little memory. */
    size_t group = 4 * lmz__group_chunks(ctx, ctx->level.lanes);
    const uint8_t **batch = malloc((group ? group : 1) * sizeof *batch);
    size_t *batch_size = malloc((group ? group : 1) * sizeof *batch_size);
    size_t *index = malloc((group ? group : 1) * sizeof *index);
    uint8_t **batch_out = malloc((group ? group : 1) * sizeof *batch_out);
    size_t *batch_out_size = malloc((group ? group : 1) * sizeof *batch_out_size);
    lmz_status st = batch && batch_size && index && batch_out && batch_out_size
                        ? LMZ_OK : lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; st == LMZ_OK && i <= n; i++) {
        if (i < n && !one_by_one && batchable(ctx, src_size[i])) {
            batch[k] = src[i];
            batch_size[k] = src_size[i];
            index[k++] = i;
            if (k < group) continue;
        } else if (i < n) {
            st = lmz_compress_buffer(ctx, src[i], src_size[i], &out[i], &out_size[i]);
            if (st != LMZ_OK) st = name_item(ctx, st, "text", i);
            continue;
        }
        if (k == 0) continue;
        memset(batch_out, 0, k * sizeof *batch_out);
        st = lmz__compress_compact_batch(ctx, k, batch, batch_size, batch_out, batch_out_size);
        for (size_t j = 0; j < k; j++) {
            out[index[j]] = batch_out[j];
            out_size[index[j]] = batch_out_size[j];
        }
        if (st != LMZ_OK) st = name_item(ctx, st, "texts from", index[0]);
        k = 0;
    }
    free(batch); free(batch_size); free(index); free(batch_out); free(batch_out_size);
    if (st != LMZ_OK) free_all(n, out, out_size);
    return st;
}

lmz_status lmz_decompress_many(lmz_ctx *ctx, size_t n, const void *const *src,
                               const size_t *src_size, void **out, size_t *out_size,
                               lmz_status *status)
{
    if (!ctx || (n && (!src || !src_size || !out || !out_size))) return LMZ_ERR_ARG;
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        out_size[i] = 0;
        if (!src[i] && src_size[i]) return lmz__fail(ctx, LMZ_ERR_ARG, "stream %zu: NULL", i);
    }
    ctx->error[0] = '\0';
    lmz_status *st = status ? status : calloc(n ? n : 1, sizeof *st);
    if (!st) return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory");
    size_t fail_at = n;
    lmz_status first = lmz__decompress_many(ctx, n, src, src_size, out, out_size, st,
                                            !status, &fail_at, lmz_decompress_buffer);
    if (!status) free(st);
    /* Without statuses, a failure fails the call: nothing is handed out. */
    if (first != LMZ_OK && !status) free_all(n, out, out_size);
    return first;
}
