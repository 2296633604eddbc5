/*
 * writer.c -- producing a stream: header, chunk records in content order, End record.
 * The writer computes every check and keeps the counters and the content hash the End
 * record needs, and validates each record with the decoder's own rules first.
 */
#include "format/container.h"

#include <string.h>

enum { PH_NEW, PH_CHUNKS, PH_DONE, PH_FAILED };

static lmz_status put(lmzf_writer *w, const void *buf, size_t n, lmz_error *err)
{
    if (n && w->write(w->user, buf, n) != 0) {
        w->phase = PH_FAILED;
        return lmz_error_setf(err, LMZ_ERR_IO, "write failed at output byte %llu",
                         (unsigned long long)w->bytes_out);
    }
    w->bytes_out += n;
    return LMZ_OK;
}

lmz_status lmzf_writer_begin(lmzf_writer *w, const lmzf_header *h, lmz_write_fn write,
                             void *user, lmz_error *err)
{
    memset(w, 0, sizeof *w);
    w->write = write;
    w->user = user;
    w->phase = PH_FAILED;
    XXH32_reset(&w->content, 0);
    char why[160];
    if (!write) return lmz_error_setf(err, LMZ_ERR_ARG, "no write function");
    if (lmzf_header_problem(h, why, sizeof why))
        return lmz_error_setf(err, LMZ_ERR_ARG, "invalid stream header: %s", why);
    uint8_t buf[LMZF_HEADER_MAX_SIZE];
    int n = lmzf_encode_header(h, buf, sizeof buf);
    if (n < 0) return lmz_error_setf(err, LMZ_ERR_ARG, "header does not encode");
    w->header = *h;
    w->phase = PH_CHUNKS;
    return put(w, buf, (size_t)n, err);
}

lmz_status lmzf_writer_chunk(lmzf_writer *w, lmzf_method method, const void *raw,
                             uint32_t raw_size, const void *payload, uint32_t payload_size,
                             uint32_t n_tokens, lmz_error *err)
{
    if (w->phase != PH_CHUNKS)
        return lmz_error_setf(err, LMZ_ERR_ARG, "lmzf_writer_chunk called out of order");
    if (method == LMZF_METHOD_RAW) payload = raw; /* the payload is the content */
    if (!raw || !payload)
        return lmz_error_setf(err, LMZ_ERR_ARG, "chunk %llu: no content or payload",
                         (unsigned long long)w->n_chunks);
    int is_raw = method == LMZF_METHOD_RAW;
    lmzf_chunk c = {
        .method = (uint8_t)method,
        .raw_size = raw_size,
        .payload_size = payload_size,
        .n_tokens = n_tokens,
        /* a RAW payload is the content, which record_check covers: no raw_check */
        .raw_check = is_raw ? 0 : XXH32(raw, raw_size, 0),
    };
    char why[160];
    if (lmzf_chunk_problem(&w->header, &c, why, sizeof why))
        return lmz_error_setf(err, LMZ_ERR_ARG, "chunk %llu: %s", (unsigned long long)w->n_chunks,
                         why);
    uint8_t rec[LMZF_RECORD_MAX_SIZE];
    int n = lmzf_encode_chunk(&w->header, &c, payload, rec, sizeof rec);
    if (n < 0) return lmz_error_setf(err, LMZ_ERR_ARG, "chunk record does not encode");
    lmz_status st = put(w, rec, (size_t)n, err);
    if (st == LMZ_OK) st = put(w, payload, payload_size, err);
    if (st != LMZ_OK) return st;
    XXH32_update(&w->content, raw, raw_size);
    w->n_chunks++;
    w->total_size += raw_size;
    return LMZ_OK;
}

lmz_status lmzf_writer_end(lmzf_writer *w, lmz_error *err)
{
    if (w->phase != PH_CHUNKS)
        return lmz_error_setf(err, LMZ_ERR_ARG, "lmzf_writer_end called out of order");
    lmzf_end e = {w->total_size, w->n_chunks, XXH32_digest(&w->content)};
    uint8_t buf[LMZF_END_MAX_SIZE];
    int n = lmzf_encode_end(&e, buf, sizeof buf);
    lmz_status st = n < 0 ? lmz_error_setf(err, LMZ_ERR_ARG, "End record does not encode")
                          : put(w, buf, (size_t)n, err);
    if (st == LMZ_OK) w->phase = PH_DONE;
    return st;
}
