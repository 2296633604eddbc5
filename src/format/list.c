/*
 * list.c -- lmz_stream_list: what `lmz -l` shows, read from the headers and records
 * alone (doc/format.md section 8), verifying every check that needs no decoding.
 * Several concatenated streams are summed; the header fields are the first stream's.
 */
#include <stdlib.h>
#include <string.h>

#include "format/container.h"

static void take_header(lmz_stream_info *info, const lmzf_header *h)
{
    info->format_version = h->format_version;
    info->level = h->level;
    info->chunk_size = h->chunk_size;
    info->context = h->context;
    lmzf_printable_name(h, info->model_name);
    lmzf_printable_adapter_name(h, info->adapter_name);
    /* the stream stores 8-byte ids: the first bytes of the 16-byte hashes, the rest
     * stays zero (info was cleared) */
    memcpy(info->model_hash, h->model_id, LMZF_ID_SIZE);
    memcpy(info->tokenizer_hash, h->tokenizer_id, LMZF_ID_SIZE);
    memcpy(info->adapter_hash, h->adapter_id, LMZF_ID_SIZE);
}

static void count_chunk(lmz_stream_info *info, const lmzf_chunk *c)
{
    info->n_chunks++;
    info->n_tokens += c->n_tokens;
    if (lmzf_method_is_lm(c->method)) info->n_chunks_lm++;
    else if (c->method == LMZF_METHOD_ZSTD) info->n_chunks_zstd++;
    else info->n_chunks_raw++;
}

/* Walk the stream whose header p just read, up to and including its End record. */
static lmz_status walk_stream(lmzf_parser *p, lmz_stream_info *info, lmz_error *err)
{
    for (;;) {
        lmzf_record rec;
        lmz_status st = lmzf_parser_record(p, &rec, err);
        if (st != LMZ_OK) return st;
        if (rec.is_end) {
            info->original_size += rec.end.total_size;
            return LMZ_OK;
        }
        if ((st = lmzf_parser_payload(p, &rec, NULL, err)) != LMZ_OK) return st;
        count_chunk(info, &rec.chunk);
    }
}

lmz_status lmz_stream_list(lmz_read_fn read, void *read_user, lmz_stream_info *info,
                           lmz_error *err)
{
    if (!read || !info) return lmz_error_setf(err, LMZ_ERR_ARG, "lmz_stream_list: NULL argument");
    memset(info, 0, sizeof *info);
    lmzf_parser *p = malloc(sizeof *p);
    if (!p) return lmz_error_setf(err, LMZ_ERR_NOMEM, "out of memory");
    lmzf_parser_init(p, read, read_user);
    int found = 0;
    lmz_status st = lmzf_parser_next_stream(p, &found, err);
    if (st == LMZ_OK) take_header(info, &p->header);
    while (st == LMZ_OK && found) {
        st = walk_stream(p, info, err);
        if (st == LMZ_OK) st = lmzf_parser_next_stream(p, &found, err);
    }
    info->compressed_size = p->reader.offset;
    free(p);
    if (st == LMZ_OK && err) {
        err->status = LMZ_OK;
        err->message[0] = '\0';
    }
    return st;
}
