/*
 * decompress.c -- lmz_decompress_stream: container -> chunks -> content.
 *
 * LM chunks are gathered into groups of up to `lanes` and decoded side by side (one
 * token of each per forward pass); a ZSTD or RAW chunk first flushes the pending group
 * so that output stays in order.  Every chunk is checked (size and XXH32) before it is
 * written, and the whole content against the End record's content check (XXH32).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/container.h"
#include "format/fallback.h"
#include "lib/internal.h"
#include "lib/crlf.h"
#include "lib/lm_coder.h"
#include "lib/lm_mix.h"
#include "model/model.h"

typedef struct pending {
    lmzf_record rec;
    uint8_t *payload;
    uint8_t *raw;            /* a mixed stream's ZSTD or RAW chunk, decoded, waiting for
                              * the LM chunks of its generation before it */
} pending;

typedef struct dstate {
    lmz_ctx *ctx;
    lmzf_parser parser;
    lmz_write_fn write;
    void *write_user;
    pending *group;
    lm_chunk *lm;
    size_t n, cap;
    uint32_t lanes;          /* per thread, for the current stream: its level's */
    uint64_t index;          /* of the next chunk in the stream */
    /* Streaming out a group as it decodes: group[0, emitted) are written, and LM chunks
     * [0, lm_ready) decoded; the first failure is kept in emit_status. */
    size_t emitted, lm_ready, lm_emitted;
    lmz_status emit_status;
    char emit_msg[512];
} dstate;

static lmz_status fail_err(lmz_ctx *ctx, lmz_status st, const lmz_error *err)
{
    return lmz__fail(ctx, st, "%s", err->message);
}

/* Tell the progress callback the stream totals. */
static lmz_status report(lmz_ctx *ctx)
{
    if (lmz__progress(ctx, ctx->progress_in, ctx->progress_out))
        return lmz__fail(ctx, LMZ_ERR_INTERRUPTED, "interrupted");
    return LMZ_OK;
}

/* Check and write one chunk's content.  Progress is reported by the caller: after a
 * group of LM chunks, whose decoding already reported their bytes as it went, a report
 * per chunk would go backwards. */
static lmz_status emit(dstate *d, const lmzf_record *rec, const uint8_t *raw, size_t n)
{
    lmz_error err = { LMZ_OK, "" };
    lmz_status st = lmzf_check_raw(rec, raw, n, &err);
    if (st != LMZ_OK) return fail_err(d->ctx, st, &err);
    lmzf_parser_content(&d->parser, raw, n);
    if (d->write && d->write(d->write_user, raw, n) != 0)
        return lmz__fail(d->ctx, LMZ_ERR_IO, "write error");
    d->ctx->progress_out += n;
    d->ctx->progress_in = d->parser.reader.offset;
    return LMZ_OK;
}

static void clear_group(dstate *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->group[i].payload);
        free(d->group[i].raw);
        d->group[i].raw = NULL;
        free(d->lm[i].out);
    }
    memset(d->lm, 0, d->cap * sizeof *d->lm);
    d->n = 0;
}

/* An LM_CRLF chunk decodes to its text with every CR LF as LF (compress.c normalized
 * it): restore the CRs, which must give exactly the recorded raw size. */
static lmz_status expand_crlf(lm_chunk *c)
{
    uint8_t *raw = malloc(c->raw_size ? c->raw_size : 1);
    if (!raw) return LMZ_ERR_NOMEM;
    if (crlf_expand(c->out, c->out_size, raw, c->raw_size) != 0) {
        free(raw);
        return LMZ_ERR_CORRUPT;
    }
    free(c->out);
    c->out = raw;
    c->out_size = c->raw_size;
    return LMZ_OK;
}

/* Write the group's chunks that are ready, in order: fallback chunks (already decoded)
 * and LM chunks that lm_decode_chunks has finished.  Stops at the first failure. */
static lmz_status emit_ready(dstate *d)
{
    while (d->emit_status == LMZ_OK && d->emitted < d->n) {
        pending *p = &d->group[d->emitted];
        const lmzf_record *rec = &p->rec;
        if (p->raw) {
            d->emit_status = emit(d, rec, p->raw, rec->chunk.raw_size);
        } else {
            if (d->lm_emitted >= d->lm_ready) break;
            lm_chunk *c = &d->lm[d->lm_emitted++];
            if (c->status == LMZ_OK && c->crlf) c->status = expand_crlf(c);
            if (c->status != LMZ_OK) {
                char where[96];
                d->emit_status = lmz__fail(d->ctx, c->status == LMZ_ERR_NOMEM ? LMZ_ERR_NOMEM
                                                                              : LMZ_ERR_CORRUPT,
                                           "%s: LM payload does not decode to the recorded %u "
                                           "bytes", lmzf_record_where(rec, where, sizeof where),
                                           rec->chunk.raw_size);
                break;
            }
            d->emit_status = emit(d, rec, c->out, c->out_size);
            free(c->out);           /* written: no need to hold it */
            c->out = NULL;
        }
        d->emitted++;
    }
    if (d->emit_status != LMZ_OK)
        snprintf(d->emit_msg, sizeof d->emit_msg, "%s", lmz_ctx_error(d->ctx));
    return d->emit_status;
}

/* lm_decode_chunks' ready callback: LM chunk `index` of the group and all before it are
 * decoded. */
static int lm_ready(void *user, size_t index)
{
    dstate *d = user;
    d->lm_ready = index + 1;
    return emit_ready(d) != LMZ_OK;
}

/* Decode the pending LM chunks and emit the pending chunks in order, each as soon as it
 * and those before it are done. */
static lmz_status flush_group(dstate *d)
{
    if (d->n == 0) return LMZ_OK;
    const lmzf_header *h = &d->parser.header;
    size_t k = 0;                               /* the LM chunks, packed */
    for (size_t i = 0; i < d->n; i++) {
        if (d->group[i].raw) continue;
        const lmzf_chunk *c = &d->group[i].rec.chunk;
        d->lm[k].in = d->group[i].payload;
        d->lm[k].in_size = c->payload_size;
        d->lm[k].n_tokens = c->n_tokens;
        d->lm[k].raw_size = c->raw_size;
        d->lm[k].crlf = c->method == LMZF_METHOD_LM_CRLF;
        k++;
    }
    lmz_level_settings w = { .chunk_size = h->chunk_size, .context = h->context,
                             .keep = h->keep, .lanes = d->lanes,
                             .kv_f16 = (h->flags & LMZF_FLAG_KV_F16) != 0 };
    d->emitted = d->lm_ready = d->lm_emitted = 0;
    d->emit_status = LMZ_OK;
    emit_ready(d);                              /* fallback chunks that lead the group */
    lmz_status st = d->emit_status != LMZ_OK ? d->emit_status
                                              : lm_decode_chunks(d->ctx, &w, d->lm, k,
                                                                 lm_ready, d);
    if (d->emit_status != LMZ_OK) {             /* the reason, not "output failed" */
        st = lmz__fail(d->ctx, d->emit_status, "%s", d->emit_msg);
    } else if (st == LMZ_OK) {
        d->lm_ready = k;
        st = emit_ready(d);
    }
    clear_group(d);
    return st == LMZ_OK ? report(d->ctx) : st;
}

/* A ZSTD or RAW chunk's content into a new buffer (*raw), checked. */
static lmz_status decode_fallback(dstate *d, const lmzf_record *rec, const uint8_t *payload,
                                  uint8_t **raw)
{
    *raw = malloc(rec->chunk.raw_size ? rec->chunk.raw_size : 1);
    if (!*raw) return lmz__fail(d->ctx, LMZ_ERR_NOMEM, "out of memory");
    lmz_error err = { LMZ_OK, "" };
    lmz_status st = lmzf_fallback_decode(rec, payload, *raw, &err);
    if (st != LMZ_OK) {
        free(*raw);
        *raw = NULL;
        return fail_err(d->ctx, st, &err);
    }
    return LMZ_OK;
}

static lmz_status decode_direct(dstate *d, const lmzf_record *rec, const uint8_t *payload)
{
    uint8_t *raw;
    lmz_status st = decode_fallback(d, rec, payload, &raw);
    if (st != LMZ_OK) return st;
    st = emit(d, rec, raw, rec->chunk.raw_size);
    free(raw);
    return st == LMZ_OK ? report(d->ctx) : st;
}

static int model_made_stream(const lmz_model *model, const lmzf_header *h)
{
    lmz_model_info info;
    lmz_model_get_info(model, &info);
    return memcmp(info.model_hash, h->model_id, LMZF_ID_SIZE) == 0;
}

/* In built-in mode, switch to the built-in model that made this stream: the one named
 * in the header first (the usual case loads nothing more), then the others.  When none
 * did, the context keeps its model and check_model reports the mismatch. */
static lmz_status pick_builtin(dstate *d)
{
    lmz_ctx *ctx = d->ctx;
    const lmzf_header *h = &d->parser.header;
    if (!ctx->builtins || model_made_stream(ctx->model, h)) return LMZ_OK;
    const lmz_model *kept = ctx->model;
    for (int named = 1; named >= 0; named--) {
        for (int i = 0; i < LMZ_BUILTIN_COUNT; i++) {
            if (named != (strcmp(ctx->builtins->name(i), h->model_name) == 0)) continue;
            lmz_status st = lmz__use_builtin(ctx, i);
            if (st != LMZ_OK && named) return st;   /* it is this one, and not built in */
            if (st == LMZ_OK && model_made_stream(ctx->model, h)) {
                ctx->error[0] = '\0';   /* another one may have failed to load first */
                return LMZ_OK;
            }
        }
    }
    ctx->model = kept;
    ctx->error[0] = '\0';
    return LMZ_OK;
}

/* The adapter the stream names, among the context's, by identity. */
static lmz_status pick_adapter(dstate *d)
{
    lmz_ctx *ctx = d->ctx;
    const lmzf_header *h = &d->parser.header;
    for (size_t i = 0; i < ctx->n_adapters; i++) {
        lmz_adapter_info ai;
        lmz_adapter_get_info(ctx->adapters[i], &ai);
        if (memcmp(ai.adapter_hash, h->adapter_id, LMZF_ID_SIZE) != 0) continue;
        lmz_error err = { LMZ_OK, "" };
        if (lmz_adapter_check(ctx->adapters[i], ctx->model, &err) != LMZ_OK)
            return fail_err(ctx, err.status, &err);
        ctx->adapter = ctx->adapters[i];
        return LMZ_OK;
    }
    char name[LMZF_NAME_MAX + 1], id[2 * LMZF_ID_SIZE + 1];
    lmzf_printable_adapter_name(h, name);
    for (int i = 0; i < LMZF_ID_SIZE; i++) snprintf(id + 2 * i, 3, "%02x", h->adapter_id[i]);
    return lmz__fail(ctx, LMZ_ERR_MODEL_MISMATCH,
                     "stream was compressed with the adapter '%s' (adapter id %s), which %s",
                     name[0] ? name : "(name not stored)", id,
                     ctx->n_adapters ? "is not among the adapters given"
                                     : "was not given");
}

static lmz_status check_model(dstate *d)
{
    lmz_status pick = pick_builtin(d);
    if (pick != LMZ_OK) return pick;
    lmz_model_info info;
    lmz_model_get_info(d->ctx->model, &info);
    const lmzf_header *h = &d->parser.header;
    int adapted = (h->flags & LMZF_FLAG_ADAPTER) != 0;
    uint8_t stream_adapter[16] = {0};   /* the adapter is judged by pick_adapter */
    memcpy(stream_adapter, h->adapter_id, LMZF_ID_SIZE);
    lmz_error err = { LMZ_OK, "" };
    lmz_status st = lmzf_check_model(h, info.model_hash, info.tokenizer_hash,
                                     adapted ? stream_adapter : NULL, info.name, &err);
    if (st != LMZ_OK) return fail_err(d->ctx, st, &err);
    d->ctx->adapter = NULL;
    if (adapted && (st = pick_adapter(d)) != LMZ_OK) return st;
    d->ctx->mixing = 0;
    if ((h->flags & LMZF_FLAG_MIX) && (st = lmz__begin_mix(d->ctx)) != LMZ_OK) return st;
    /* The encoder never exceeds the model's training context; a stream of this model
     * that does is damaged or hostile, and would only make us allocate a huge cache. */
    uint32_t context = d->parser.header.context;
    if (info.n_ctx_train >= 2 && context > info.n_ctx_train)
        return lmz__fail(d->ctx, LMZ_ERR_CORRUPT,
                         "stream asks for a context of %u tokens, more than the model's %u",
                         context, info.n_ctx_train);
    return LMZ_OK;
}

/* Lanes as the stream's level uses them with its model (the context's own level may
 * be another, or its model another), and a group array that holds them. */
static lmz_status set_stream_lanes(dstate *d)
{
    lmz_ctx *ctx = d->ctx;
    d->lanes = lmz__stream_lanes(ctx, d->parser.header.level);
    size_t cap = lmz__group_chunks(ctx, d->lanes);
    if (cap < LM_MIX_GENERATION) cap = LM_MIX_GENERATION;
    if (cap <= d->cap) return LMZ_OK;
    pending *group = realloc(d->group, cap * sizeof *group);
    if (group) d->group = group;
    lm_chunk *lm = group ? realloc(d->lm, cap * sizeof *lm) : NULL;
    if (lm) d->lm = lm;
    if (!group || !lm) return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory");
    memset(d->group + d->cap, 0, (cap - d->cap) * sizeof *group);
    memset(d->lm + d->cap, 0, (cap - d->cap) * sizeof *lm);
    d->cap = cap;
    return LMZ_OK;
}

/* Decode one stream's records after its header. */
static lmz_status decode_records(dstate *d)
{
    lmz_error err = { LMZ_OK, "" };
    for (;;) {
        lmzf_record rec;
        lmz_status st = lmzf_parser_record(&d->parser, &rec, &err);
        if (st != LMZ_OK) return fail_err(d->ctx, st, &err);
        if (rec.is_end) {
            st = flush_group(d);
            if (st != LMZ_OK) return st;
            st = lmzf_parser_check_content(&d->parser, &err);
            return st == LMZ_OK ? LMZ_OK : fail_err(d->ctx, st, &err);
        }
        uint8_t *payload = malloc(rec.chunk.payload_size ? rec.chunk.payload_size : 1);
        if (!payload) return lmz__fail(d->ctx, LMZ_ERR_NOMEM, "out of memory");
        st = lmzf_parser_payload(&d->parser, &rec, payload, &err);
        if (st != LMZ_OK) {
            free(payload);
            return fail_err(d->ctx, st, &err);
        }
        if (d->ctx->mixing) {
            /* A generation at a time, its chunks in order (doc/format.md 6.5). */
            pending *p = &d->group[d->n];
            p->rec = rec;
            p->payload = payload;
            p->raw = NULL;
            d->n++;
            if (!lmzf_method_is_lm(rec.chunk.method) &&
                (st = decode_fallback(d, &rec, payload, &p->raw)) != LMZ_OK)
                return st;
            if (++d->index % LM_MIX_GENERATION == 0 && (st = flush_group(d)) != LMZ_OK)
                return st;
        } else if (lmzf_method_is_lm(rec.chunk.method)) {
            d->group[d->n].rec = rec;
            d->group[d->n].payload = payload;
            d->n++;
            if (d->n == d->cap && (st = flush_group(d)) != LMZ_OK) return st;
        } else {
            st = flush_group(d);
            if (st == LMZ_OK) st = decode_direct(d, &rec, payload);
            free(payload);
            if (st != LMZ_OK) return st;
        }
    }
}

lmz_status lmz_decompress_stream(lmz_ctx *ctx, lmz_read_fn read, void *read_user,
                                 lmz_write_fn write, void *write_user)
{
    if (!ctx || !read) return LMZ_ERR_ARG;
    ctx->error[0] = '\0';
    ctx->trailing_at = 0;
    ctx->progress_in = ctx->progress_out = ctx->progress_shown = 0;
    dstate *d = calloc(1, sizeof *d);
    if (!d) return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory");
    d->ctx = ctx;
    d->write = write;
    d->write_user = write_user;
    d->cap = lmz__group_chunks(ctx, ctx->level.lanes);
    d->group = calloc(d->cap, sizeof *d->group);
    d->lm = calloc(d->cap, sizeof *d->lm);
    lmz_status st = (d->group && d->lm) ? LMZ_OK
                                         : lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory");
    lmzf_parser_init(&d->parser, read, read_user);
    /* Streams may follow one another, like gzip members. */
    while (st == LMZ_OK) {
        int found = 0;
        lmz_error err = { LMZ_OK, "" };
        st = lmzf_parser_next_stream(&d->parser, &found, &err);
        if (st != LMZ_OK) {
            ctx->trailing_at = d->parser.trailing_at;
            fail_err(ctx, st, &err);
            break;
        }
        if (!found) break;
        d->index = 0;
        st = lmzf_parser_needs_model(&d->parser) ? check_model(d) : LMZ_OK;
        if (st == LMZ_OK) st = set_stream_lanes(d);
        if (st == LMZ_OK) st = decode_records(d);
        ctx->mixing = 0;
    }
    ctx->mixing = 0;
    if (d->group && d->lm) clear_group(d);
    free(d->group);
    free(d->lm);
    free(d);
    return st;
}
