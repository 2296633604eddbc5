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

/* A decoded LM chunk: its CRs restored, checked, and written. */
static lmz_status check_lm(dstate *d, const lmzf_record *rec, lm_chunk *c)
{
    if (c->status == LMZ_OK && c->crlf) c->status = expand_crlf(c);
    if (c->status != LMZ_OK) {
        char where[96];
        return lmz__fail(d->ctx, c->status == LMZ_ERR_NOMEM ? LMZ_ERR_NOMEM : LMZ_ERR_CORRUPT,
                         "%s: LM payload does not decode to the recorded %u bytes",
                         lmzf_record_where(rec, where, sizeof where), rec->chunk.raw_size);
    }
    return emit(d, rec, c->out, c->out_size);
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
            d->emit_status = check_lm(d, rec, c);
            if (d->emit_status != LMZ_OK) break;
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
                                              : lm_decode_chunks(d->ctx, &w, d->lm, k, 0,
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
    if ((h->flags & LMZF_FLAG_MIX) &&
        (st = lmz__begin_mix(d->ctx, h->mix_version,
                             lmz__mix_bucket_bits(h->mix_version, d->parser.compact))) != LMZ_OK)
        return st;
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

/* ---- Many one-chunk streams side by side (lmz_decompress_many) ---- */

/* A stream of a batch, read up to its End record, its chunk's payload in hand. */
typedef struct many_item {
    dstate d;                /* its parser; write NULL: the content stays in lm_chunk.out */
    lmzf_memsrc src;
    lmzf_record rec;
    uint8_t *payload;
    size_t index;            /* in the caller's arrays */
} many_item;

typedef struct many_job {
    lmz_ctx *ctx;
    void **out;
    size_t *out_size;
    lmz_status *status;
    size_t fail_at;          /* the first failed stream's index (n: none yet) */
    char fail_msg[sizeof ((lmz_ctx *)0)->error + 32];
} many_job;

static void many_done(many_job *m, size_t i, lmz_status st)
{
    m->status[i] = st;
    if (st == LMZ_OK || i >= m->fail_at) return;
    m->fail_at = i;
    snprintf(m->fail_msg, sizeof m->fail_msg, "stream %zu: %s", i,
             m->ctx->error[0] ? m->ctx->error : lmz_status_string(st));
}

/* Read stream src[i] for a batch: 1 when it is a compact LM stream (one chunk) with
 * nothing after it; 0 for anything else, which is then decoded alone, so that its
 * message is the one lmz_decompress_buffer gives.  Nothing here touches the context. */
static int many_take(many_item *it, lmz_ctx *ctx, const void *src, size_t n, size_t i)
{
    memset(it, 0, sizeof *it);
    it->d.ctx = ctx;
    it->src = (lmzf_memsrc){ src, n, 0 };
    it->index = i;
    lmzf_parser_init(&it->d.parser, lmzf_mem_read, &it->src);
    lmzf_parser *p = &it->d.parser;
    lmzf_record end;
    int found = 0;
    if (lmzf_parser_next_stream(p, &found, NULL) != LMZ_OK || !found || !p->compact ||
        !lmzf_parser_needs_model(p) || lmzf_parser_record(p, &it->rec, NULL) != LMZ_OK ||
        it->rec.is_end)
        return 0;
    it->payload = malloc(it->rec.chunk.payload_size ? it->rec.chunk.payload_size : 1);
    if (it->payload && lmzf_parser_payload(p, &it->rec, it->payload, NULL) == LMZ_OK &&
        lmzf_parser_record(p, &end, NULL) == LMZ_OK && end.is_end &&
        lmzf_parser_next_stream(p, &found, NULL) == LMZ_OK && !found)
        return 1;
    free(it->payload);
    it->payload = NULL;
    return 0;
}

/* Whether two streams decode with the same model, adapter and LM settings. */
static int many_same(const lmzf_header *a, const lmzf_header *b)
{
    const uint8_t f = LMZF_FLAG_ADAPTER | LMZF_FLAG_KV_F16 | LMZF_FLAG_MIX;
    return a->level == b->level && a->context == b->context && a->keep == b->keep &&
           (a->flags & f) == (b->flags & f) && a->mix_version == b->mix_version &&
           memcmp(a->model_id, b->model_id, LMZF_ID_SIZE) == 0 &&
           memcmp(a->tokenizer_id, b->tokenizer_id, LMZF_ID_SIZE) == 0 &&
           memcmp(a->adapter_id, b->adapter_id, LMZF_ID_SIZE) == 0 &&
           strcmp(a->model_name, b->model_name) == 0;
}

/* Decode the batch's k streams side by side (the first one's model is checked and in
 * place), check each, and hand out their contents. */
static void many_flush(many_job *m, many_item *items, size_t k)
{
    lmz_ctx *ctx = m->ctx;
    lm_chunk *lm = k ? calloc(k, sizeof *lm) : NULL;
    lmz_status st = k == 0 || lm ? LMZ_OK : lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory");
    for (size_t j = 0; st == LMZ_OK && j < k; j++) {
        const lmzf_chunk *c = &items[j].rec.chunk;
        lm[j] = (lm_chunk){ .in = items[j].payload, .in_size = c->payload_size,
                            .n_tokens = c->n_tokens, .raw_size = c->raw_size,
                            .crlf = c->method == LMZF_METHOD_LM_CRLF };
    }
    if (k && st == LMZ_OK) {
        const lmzf_header *h = &items[0].d.parser.header;
        lmz_level_settings w = { .chunk_size = h->chunk_size, .context = h->context,
                                 .keep = h->keep, .lanes = lmz__stream_lanes(ctx, h->level),
                                 .kv_f16 = (h->flags & LMZF_FLAG_KV_F16) != 0 };
        st = lm_decode_chunks(ctx, &w, lm, k, 1, NULL, NULL);
    }
    for (size_t j = 0; j < k; j++) {
        many_item *it = &items[j];
        lmz_status s = st;
        if (s == LMZ_OK) {
            ctx->error[0] = '\0';
            lmz_error err = { LMZ_OK, "" };
            s = check_lm(&it->d, &it->rec, &lm[j]);
            if (s == LMZ_OK && (s = lmzf_parser_check_content(&it->d.parser, &err)) != LMZ_OK)
                fail_err(ctx, s, &err);
        }
        if (s == LMZ_OK) {
            m->out[it->index] = lm[j].out ? lm[j].out : malloc(1);
            m->out_size[it->index] = lm[j].out ? lm[j].out_size : 0;
            lm[j].out = NULL;
            if (!m->out[it->index]) s = lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory");
        }
        many_done(m, it->index, s);
        if (lm) free(lm[j].out);
        free(it->payload);
        it->payload = NULL;
    }
    free(lm);
    ctx->mixing = 0;
}

lmz_status lmz__decompress_many(lmz_ctx *ctx, size_t n, const void *const *src,
                                const size_t *src_size, void **out, size_t *out_size,
                                lmz_status *status, int stop_at_failure, size_t *fail_at,
                                lmz__decode_alone_fn alone)
{
    many_job m = { .ctx = ctx, .out = out, .out_size = out_size, .status = status,
                   .fail_at = n };
    size_t cap = 4 * lmz__group_chunks(ctx, ctx->level.lanes);
    many_item *items = calloc(cap ? cap : 1, sizeof *items);
    if (!items) return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory");
    ctx->trailing_at = 0;
    ctx->progress_in = ctx->progress_out = ctx->progress_shown = 0;
    size_t k = 0;
    for (size_t i = 0; i < n && !(stop_at_failure && m.fail_at < n); i++) {
        int batched = many_take(&items[k], ctx, src[i], src_size[i], i);
        if (batched && k > 0 &&
            !many_same(&items[0].d.parser.header, &items[k].d.parser.header)) {
            free(items[k].payload);
            many_flush(&m, items, k);
            k = 0;
            batched = many_take(&items[0], ctx, src[i], src_size[i], i);
        }
        if (!batched) {               /* alone, after the batch before it */
            free(items[k].payload);
            many_flush(&m, items, k);
            k = 0;
            ctx->error[0] = '\0';
            many_done(&m, i, alone(ctx, src[i], src_size[i], &out[i], &out_size[i]));
            continue;
        }
        if (k == 0) {                 /* the batch's model, adapter and mixing */
            ctx->error[0] = '\0';
            lmz_status st = check_model(&items[0].d);
            if (st != LMZ_OK) {
                ctx->mixing = 0;
                free(items[0].payload);
                many_done(&m, i, st);
                continue;
            }
        }
        if (++k == cap) {
            many_flush(&m, items, k);
            k = 0;
        }
    }
    many_flush(&m, items, k);
    free(items);
    *fail_at = m.fail_at;
    if (m.fail_at < n)
        lmz__fail(ctx, status[m.fail_at], "%.*s", (int)sizeof ctx->error - 1, m.fail_msg);
    return m.fail_at < n ? status[m.fail_at] : LMZ_OK;
}
