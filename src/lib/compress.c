/*
 * compress.c -- lmz_compress_stream: input -> chunks -> (LM | ZSTD | RAW) -> container.
 *
 * Input is read a group of chunks at a time (lmz__group_chunks: a few per lane of every
 * thread), so memory is bounded by that many chunks whatever the input size.  The LM
 * codes the group's text chunks side by side; each chunk then keeps whichever of LM,
 * ZSTD and RAW is smallest, so no chunk ever costs more than its raw size plus its
 * record.
 */
#include <stdlib.h>
#include <string.h>

#include "format/container.h"
#include "format/fallback.h"
#include "lib/crlf.h"
#include "lib/internal.h"
#include "lib/lm_coder.h"
#include "lib/lm_mix.h"
#include "lib/textdetect.h"
#include "model/model.h"

typedef struct chunk_slot {
    uint8_t *data;
    size_t size;
    int texty;
    uint8_t *lf_text;        /* the content with CR LF as LF, when that is invertible */
    size_t lf_size;          /* 0: the chunk is coded as it is */
} chunk_slot;

typedef struct input {
    lmz_read_fn read;
    void *user;
    uint8_t *carry;          /* bytes read past the last cut, for the next chunk */
    size_t carry_len;
    int eof;
} input;

/* Read up to n bytes, retrying short reads.  Returns bytes read or -1. */
static long long read_full(input *in, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n && !in->eof) {
        long long r = in->read(in->user, buf + got, n - got);
        if (r < 0 || (unsigned long long)r > n - got) return -1;
        if (r == 0) in->eof = 1;
        got += (size_t)r;
    }
    return (long long)got;
}

/* Where to end a full chunk: after the last newline in its final eighth, so that lines
 * (and tokens) are not split between chunks; else at a UTF-8 character boundary. */
static size_t cut_point(const uint8_t *buf, size_t n)
{
    size_t floor = n - n / 8;
    for (size_t i = n; i > floor; i--)
        if (buf[i - 1] == '\n') return i;
    for (size_t i = n; i > n - 4 && i > 1; i--)
        if ((buf[i - 1] & 0xC0) != 0x80) return (buf[i - 1] & 0x80) ? i - 1 : i;
    return n;
}

size_t lmz__chunk_end(const lmz_ctx *ctx, const uint8_t *buf, size_t have, int more)
{
    size_t cut = more ? cut_point(buf, have) : have;
    if (cut == 0) cut = have;
    return ctx->params.no_mix ? cut : padding_cut(buf, cut);
}

/* Whether the LM should code a chunk (the rest goes to zstd or stays raw): mixed, a
 * chunk that is mostly text, for the adaptive models to take the rest. */
static int is_texty(const lmz_ctx *ctx, const uint8_t *data, size_t n)
{
    return ctx->params.no_mix ? looks_like_text(data, n) : mostly_text(data, n);
}

/* Fill slot with the next chunk (size 0 at the end of input). */
static lmz_status next_chunk(lmz_ctx *ctx, input *in, chunk_slot *slot, size_t chunk_size)
{
    memcpy(slot->data, in->carry, in->carry_len);
    size_t have = in->carry_len;
    in->carry_len = 0;
    long long r = read_full(in, slot->data + have, chunk_size - have);
    if (r < 0) return lmz__fail(ctx, LMZ_ERR_IO, "read error");
    have += (size_t)r;
    size_t cut = lmz__chunk_end(ctx, slot->data, have, have == chunk_size && !in->eof);
    in->carry_len = have - cut;
    memcpy(in->carry, slot->data + cut, in->carry_len);
    slot->size = cut;
    slot->texty = is_texty(ctx, slot->data, cut);
    return LMZ_OK;
}

/* Set up the LM's view of a text chunk: its bytes, with CR LF as LF when that is
 * invertible (slot->lf_text holds them then). */
static void prepare_lm(chunk_slot *s, lm_chunk *lm, uint32_t gen)
{
    s->lf_size = crlf_normalize(s->data, s->size, s->lf_text);
    lm->crlf = s->lf_size > 0;
    lm->in = s->lf_size ? s->lf_text : s->data;
    lm->in_size = s->lf_size ? s->lf_size : s->size;
    lm->raw_size = s->size;
    lm->gen = gen;
}

/* Bytes a chunk costs in the stream: its record header plus its payload. */
static size_t record_cost(lmzf_method method, size_t raw_size, size_t payload_size,
                          uint32_t n_tokens)
{
    lmzf_chunk c = { .method = (uint8_t)method, .raw_size = (uint32_t)raw_size,
                     .payload_size = (uint32_t)payload_size, .n_tokens = n_tokens };
    return lmzf_chunk_record_size(&c) + payload_size;
}

/* The chunk as zstd's frame in zbuf (*method ZSTD) or, when that saves nothing, RAW. */
static lmz_status encode_fallback(lmz_ctx *ctx, const chunk_slot *s, uint8_t *zbuf,
                                  lmzf_method *method, uint32_t *size)
{
    if (lmzf_fallback_encode(s->data, (uint32_t)s->size, lmzf_zstd_level(ctx->params.level),
                             zbuf, s->size - 1, method, size) != LMZ_OK)
        return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory in zstd");
    return LMZ_OK;
}

/* Write the group's chunks in order, each with the cheapest method: the LM's payload
 * if it has one and it is smaller than the fallback's ZSTD or RAW.  The fallback is
 * computed for every chunk: a weak model can lose to zstd even on text, and zstd -19
 * costs a few percent of the model's time (bench/results/tuning.md). */
static lmz_status write_group(lmz_ctx *ctx, lmzf_writer *w, chunk_slot *slots,
                              lm_chunk *lm, size_t n, uint8_t *zbuf)
{
    lmz_error err = { LMZ_OK, "" };
    for (size_t i = 0; i < n; i++) {
        const chunk_slot *s = &slots[i];
        uint32_t fb_size = 0;
        lmzf_method method;
        if (encode_fallback(ctx, s, zbuf, &method, &fb_size) != LMZ_OK) return LMZ_ERR_NOMEM;
        const void *payload = method == LMZF_METHOD_ZSTD ? zbuf : NULL;
        size_t payload_size = fb_size;
        uint32_t n_tokens = 0;
        lmzf_method lm_method = lm[i].crlf ? LMZF_METHOD_LM_CRLF : LMZF_METHOD_LM;
        /* A mixed stream's models have learned from the chunk: the decoder must see it
         * as the encoder did, so an LM chunk stays one (doc/format.md 6.5). */
        if (lm[i].out &&
            (ctx->params.lm_always || ctx->mixing ||
             record_cost(lm_method, s->size, lm[i].out_size, lm[i].n_tokens) <
                 record_cost(method, s->size, payload_size, 0))) {
            method = lm_method;
            payload = lm[i].out;
            payload_size = lm[i].out_size;
            n_tokens = lm[i].n_tokens;
        }
        lmz_status st = lmzf_writer_chunk(w, method, s->data, (uint32_t)s->size, payload,
                                          (uint32_t)payload_size, n_tokens, &err);
        if (st != LMZ_OK) return lmz__fail(ctx, st, "%s", err.message);
        ctx->progress_in += s->size;
        ctx->progress_out = w->bytes_out;
    }
    if (lmz__progress(ctx, ctx->progress_in, ctx->progress_out))
        return lmz__fail(ctx, LMZ_ERR_INTERRUPTED, "interrupted");
    return LMZ_OK;
}

/* The stream's header, from the context's model, level and adapter; mixing is set up
 * when the stream will be mixed (its models' table by the layout: compact or not). */
static lmz_status make_header(lmz_ctx *ctx, lmzf_header *h, int compact)
{
    lmz_model_info info;
    lmz_model_get_info(ctx->model, &info);
    lmzf_header_init(h, ctx->params.no_names ? NULL : info.name);
    h->level = (uint8_t)ctx->params.level;
    h->chunk_size = ctx->level.chunk_size;
    h->context = ctx->level.context;
    h->keep = ctx->level.keep;
    if (ctx->level.kv_f16) h->flags |= LMZF_FLAG_KV_F16;
    if (!ctx->params.no_mix) {
        int version = ctx->params.mix_version ? ctx->params.mix_version : CM_VERSION_MAX;
        lmz_status st = lmz__begin_mix(ctx, version, lmz__mix_bucket_bits(version, compact));
        if (st != LMZ_OK) return st;
        h->flags |= LMZF_FLAG_MIX;
        h->mix_version = (uint8_t)version;
    }
    memcpy(h->model_id, info.model_hash, LMZF_ID_SIZE);
    memcpy(h->tokenizer_id, info.tokenizer_hash, LMZF_ID_SIZE);
    if (ctx->adapter) {
        lmz_adapter_info ai;
        lmz_adapter_get_info(ctx->adapter, &ai);
        lmzf_header_set_adapter(h, ai.adapter_hash, ctx->params.no_names ? NULL : ai.name);
    }
    return LMZ_OK;
}

/* A content of one chunk (or none) as a compact stream (doc/format.md 11): the
 * smallest of the LM's stream and the fallback's. */
static lmz_status write_compact(lmz_ctx *ctx, const lmzf_header *h, const chunk_slot *s,
                                const lm_chunk *lm, uint8_t *zbuf, lmz_write_fn write,
                                void *user)
{
    lmz_error err = { LMZ_OK, "" };
    uint8_t *best = NULL, *other = NULL;
    size_t best_size = 0, other_size = 0;
    if (s) {
        uint32_t fb_size = 0;
        lmzf_method method;
        if (encode_fallback(ctx, s, zbuf, &method, &fb_size) != LMZ_OK) return LMZ_ERR_NOMEM;
        if (!ctx->params.lm_always || !lm->out)
            best = lmzf_compact_encode(h, 0, method, s->data, (uint32_t)s->size,
                                       method == LMZF_METHOD_ZSTD ? zbuf : NULL, fb_size,
                                       &best_size, &err);
        if (lm->out && err.status == LMZ_OK) {
            other = lmzf_compact_encode(h, lmzf_profile_find(h),
                                        lm->crlf ? LMZF_METHOD_LM_CRLF : LMZF_METHOD_LM,
                                        s->data, (uint32_t)s->size, lm->out,
                                        (uint32_t)lm->out_size, &other_size, &err);
            if (other && (!best || other_size < best_size)) {
                uint8_t *t = best; best = other; other = t;
                size_t n = best_size; best_size = other_size; other_size = n;
            }
        }
    } else {
        best = lmzf_compact_encode(h, 0, LMZF_METHOD_RAW, NULL, 0, NULL, 0, &best_size, &err);
    }
    free(other);
    if (!best) return lmz__fail(ctx, err.status, "%s", err.message);
    lmz_status st = write(user, best, best_size) == 0 ? LMZ_OK
                                                      : lmz__fail(ctx, LMZ_ERR_IO, "write error");
    free(best);
    ctx->progress_in = s ? s->size : 0;
    ctx->progress_out = best_size;
    if (st == LMZ_OK && lmz__progress(ctx, ctx->progress_in, ctx->progress_out))
        return lmz__fail(ctx, LMZ_ERR_INTERRUPTED, "interrupted");
    return st;
}

lmz_status lmz_compress_stream(lmz_ctx *ctx, lmz_read_fn read, void *read_user,
                               lmz_write_fn write, void *write_user)
{
    if (!ctx || !read || !write) return LMZ_ERR_ARG;
    ctx->error[0] = '\0';
    ctx->progress_in = ctx->progress_out = ctx->progress_shown = 0;
    size_t chunk_size = ctx->level.chunk_size;
    /* In built-in mode a decompression may have switched to another stream's model. */
    lmz_status st = ctx->builtins
                        ? lmz__use_builtin(ctx, lmz_level_builtin(ctx->params.level))
                        : LMZ_OK;
    if (st != LMZ_OK) return st;
    size_t lanes = lmz__group_chunks(ctx, ctx->level.lanes);   /* chunks per group */
    /* Mixed: whole generations per group. */
    if (!ctx->params.no_mix) lanes = (lanes + LM_MIX_GENERATION - 1) / LM_MIX_GENERATION * LM_MIX_GENERATION;
    uint64_t chunk_index = 0;      /* of the group's first chunk in the stream */
    ctx->mixing = 0;               /* routing codes without the stream's models */

    lmzf_writer w;
    lmzf_header h;
    int begun = 0, compact = 0;
    input in = { read, read_user, malloc(chunk_size), 0, 0 };
    chunk_slot *slots = calloc(lanes, sizeof *slots);
    lm_chunk *lm = calloc(lanes, sizeof *lm);
    uint8_t *zbuf = malloc(chunk_size);      /* a ZSTD payload, smaller than its chunk */
    st = (in.carry && slots && lm && zbuf) ? LMZ_OK : LMZ_ERR_NOMEM;
    for (size_t i = 0; st == LMZ_OK && i < lanes; i++)
        if (!(slots[i].data = malloc(chunk_size)) || !(slots[i].lf_text = malloc(chunk_size)))
            st = LMZ_ERR_NOMEM;
    if (st != LMZ_OK) {
        lmz__fail(ctx, st, "out of memory for %zu chunks of %zu bytes", lanes, chunk_size);
        goto out;
    }

    for (;;) {
        size_t n = 0, n_lm = 0;
        while (n < lanes) {
            st = next_chunk(ctx, &in, &slots[n], chunk_size);
            if (st != LMZ_OK) goto out;
            if (slots[n].size == 0) break;
            n++;
        }
        /* The header follows the first group: routing picks the adapter from it, and a
         * content of one chunk takes the compact layout. */
        if (!begun) {
            compact = !ctx->params.no_compact && n <= 1 && in.eof && in.carry_len == 0 &&
                      (n == 0 || slots[0].size <= LMZF_COMPACT_RAW_MAX);
            st = lmz__choose_adapter(ctx, slots[0].data, n ? slots[0].size : 0, compact);
            if (st == LMZ_OK) st = make_header(ctx, &h, compact);
            if (st != LMZ_OK) goto out;
            if (!compact) {
                lmz_error err = { LMZ_OK, "" };
                st = lmzf_writer_begin(&w, &h, write, write_user, &err);
                if (st != LMZ_OK) {
                    lmz__fail(ctx, st, "%s", err.message);
                    goto out;
                }
            }
            begun = 1;
        }
        if (n == 0 && compact) st = write_compact(ctx, &h, NULL, NULL, zbuf, write, write_user);
        if (n == 0) break;
        /* The LM codes the text chunks of the group together. */
        memset(lm, 0, lanes * sizeof *lm);
        for (size_t i = 0; i < n; i++) {
            if (!slots[i].texty && !ctx->params.lm_always) continue;
            prepare_lm(&slots[i], &lm[n_lm++], (uint32_t)((chunk_index + i) / LM_MIX_GENERATION));
        }
        st = lm_encode_chunks(ctx, &ctx->level, lm, n_lm, 0);
        if (st != LMZ_OK) goto out;
        /* Spread the LM results back to their slots' positions. */
        for (size_t i = n, k = n_lm; i-- > 0;) {
            if (slots[i].texty || ctx->params.lm_always) lm[i] = lm[--k];
            else memset(&lm[i], 0, sizeof lm[i]);
        }
        st = compact ? write_compact(ctx, &h, &slots[0], &lm[0], zbuf, write, write_user)
                     : write_group(ctx, &w, slots, lm, n, zbuf);
        for (size_t i = 0; i < n; i++) { free(lm[i].out); lm[i].out = NULL; }
        chunk_index += n;
        if (st != LMZ_OK || compact) goto out;
        if (in.eof && in.carry_len == 0) break;
    }
    if (!compact) {
        lmz_error err = { LMZ_OK, "" };
        st = lmzf_writer_end(&w, &err);
        if (st != LMZ_OK) lmz__fail(ctx, st, "%s", err.message);
    }
out:
    ctx->mixing = 0;
    if (lm) for (size_t i = 0; i < lanes; i++) free(lm[i].out);
    if (slots)
        for (size_t i = 0; i < lanes; i++) {
            free(slots[i].data);
            free(slots[i].lf_text);
        }
    free(slots);
    free(lm);
    free(in.carry);
    free(zbuf);
    return st;
}

/* ---- Many short texts side by side (lmz_compress_many) ---- */

typedef struct captured { uint8_t *buf; size_t n; } captured;

static int capture(void *user, const void *buf, size_t n)
{
    captured *c = user;
    if (c->buf || !(c->buf = malloc(n ? n : 1))) return -1;   /* one write per stream */
    memcpy(c->buf, buf, n);
    c->n = n;
    return 0;
}

lmz_status lmz__compress_compact_batch(lmz_ctx *ctx, size_t n, const uint8_t *const *src,
                                       const size_t *size, uint8_t **out, size_t *out_size)
{
    lmz_status st = ctx->builtins ? lmz__use_builtin(ctx, lmz_level_builtin(ctx->params.level))
                                  : LMZ_OK;
    if (st != LMZ_OK) return st;
    ctx->mixing = 0;
    lmzf_header h;
    chunk_slot *slots = calloc(n, sizeof *slots);
    lm_chunk *lm = calloc(n, sizeof *lm);
    size_t *of = calloc(n, sizeof *of);        /* lm index of text i, or n: none */
    uint8_t *zbuf = malloc(ctx->level.chunk_size);
    st = slots && lm && of && zbuf ? LMZ_OK : lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory");
    /* The same adapter for all (lmz_compress_many routes none), so one header. */
    if (st == LMZ_OK) st = lmz__choose_adapter(ctx, n ? src[0] : NULL, n ? size[0] : 0, 1);
    if (st == LMZ_OK) st = make_header(ctx, &h, 1);
    size_t n_lm = 0;
    for (size_t i = 0; st == LMZ_OK && i < n; i++) {
        chunk_slot *s = &slots[i];
        s->data = (uint8_t *)src[i];            /* only read */
        s->size = size[i];
        of[i] = n;
        if (!size[i]) continue;
        s->texty = is_texty(ctx, s->data, s->size);
        if (!s->texty && !ctx->params.lm_always) continue;
        if (!(s->lf_text = malloc(s->size))) {
            st = lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory");
            break;
        }
        of[i] = n_lm;
        prepare_lm(s, &lm[n_lm++], 0);
    }
    if (st == LMZ_OK) st = lm_encode_chunks(ctx, &ctx->level, lm, n_lm, 1);
    static const lm_chunk none;
    for (size_t i = 0; st == LMZ_OK && i < n; i++) {
        captured c = { NULL, 0 };
        st = write_compact(ctx, &h, size[i] ? &slots[i] : NULL, of[i] < n ? &lm[of[i]] : &none,
                           zbuf, capture, &c);
        out[i] = c.buf;
        out_size[i] = c.n;
    }
    ctx->mixing = 0;
    for (size_t i = 0; lm && i < n_lm; i++) free(lm[i].out);
    for (size_t i = 0; slots && i < n; i++) free(slots[i].lf_text);
    free(slots); free(lm); free(of); free(zbuf);
    return st;
}
