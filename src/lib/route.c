/*
 * route.c -- which adapter a stream is compressed with.
 *
 * One adapter given: that one.  Several (a directory of them): the paper's routed
 * adapters.  Each candidate ("no adapter" first, then the adapters that fit the model,
 * in the caller's order) codes the stream's opening bytes, and the one that spends the
 * fewest bits wins; ties go to the earlier.  The choice is recorded in the stream, so
 * decoding never routes.  Cost: one extra LM pass over ROUTE_BYTES per candidate.
 */
#include <stdlib.h>
#include <string.h>

#include "format/container.h"
#include "lib/internal.h"
#include "lib/lm_coder.h"
#include "lib/textdetect.h"
#include "model/adapter.h"
#include "model/model.h"

/* Enough to tell domains apart (~500 tokens) while staying a small part of the work
 * on all but the shortest inputs. */
#define ROUTE_BYTES 2048u

/* What recording an adapter adds to the stream header, in bits: the routing judges
 * whole streams, and on a short text the header can outweigh the adapter's gain.  A
 * compact stream stores the adapter's id alone (doc/format.md 11). */
static double header_bits(const lmz_ctx *ctx, const lmz_adapter *a, int compact)
{
    if (compact) return 8.0 * LMZF_ID_SIZE;
    lmz_adapter_info info;
    lmz_adapter_get_info(a, &info);
    lmzf_header with, without;
    lmzf_header_init(&without, NULL);
    lmzf_header_init(&with, NULL);
    lmzf_header_set_adapter(&with, info.adapter_hash, ctx->params.no_names ? NULL : info.name);
    return 8.0 * (double)(lmzf_header_size(&with) - lmzf_header_size(&without));
}

/* Bits the LM spends on head with the context's current adapter. */
static lmz_status code_bits(lmz_ctx *ctx, const uint8_t *head, size_t n, double *bits)
{
    *bits = 0.0;
    double *kept = ctx->stats_entropy_bits;
    ctx->stats_entropy_bits = bits;
    lm_chunk c = { .in = head, .in_size = n };
    lmz_status st = lm_encode_chunks(ctx, &ctx->level, &c, 1, 0);
    ctx->stats_entropy_bits = kept;
    free(c.out);
    return st;
}

/* The cut of head at the last complete UTF-8 character within max bytes. */
static size_t utf8_cut(const uint8_t *head, size_t n, size_t max)
{
    if (n <= max) return n;
    size_t cut = max;
    while (cut > 0 && (head[cut] & 0xC0) == 0x80) cut--;
    return cut ? cut : max;
}

lmz_status lmz__choose_adapter(lmz_ctx *ctx, const uint8_t *head, size_t n, int compact)
{
    ctx->adapter = NULL;
    if (ctx->n_adapters == 0) return LMZ_OK;
    if (!ctx->route) {
        lmz_error err = { LMZ_OK, "" };
        if (lmz_adapter_check(ctx->adapters[0], ctx->model, &err) != LMZ_OK)
            return lmz__fail(ctx, err.status, "%s", err.message);
        ctx->adapter = ctx->adapters[0];
        return LMZ_OK;
    }
    n = utf8_cut(head, n, ROUTE_BYTES);
    if (n == 0 || !looks_like_text(head, n)) return LMZ_OK;
    double best, bits;
    lmz_status st = code_bits(ctx, head, n, &best);
    const lmz_adapter *choice = NULL;
    for (size_t i = 0; st == LMZ_OK && i < ctx->n_adapters; i++) {
        char why[400];
        if (lora_check_model(ctx->adapters[i], ctx->model, why, sizeof why)) continue;
        ctx->adapter = ctx->adapters[i];
        st = code_bits(ctx, head, n, &bits);
        bits += header_bits(ctx, ctx->adapters[i], compact);
        if (st == LMZ_OK && bits < best) best = bits, choice = ctx->adapters[i];
    }
    ctx->adapter = choice;
    return st;
}
