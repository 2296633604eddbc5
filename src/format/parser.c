/*
 * parser.c -- reading streams: header, chunk records, payloads, End record, in the
 * order and with the checks of doc/format.md.  Every size is validated before anyone
 * allocates by it, every byte is covered by a check before it is trusted, and every
 * message names the chunk and the input offset.
 */
#include "format/container.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "format/bytes.h"

enum {
    PH_START,    /* nothing read: the first header comes next */
    PH_RECORDS,  /* a record header comes next */
    PH_PAYLOAD,  /* the payload of the last chunk record comes next */
    PH_ENDED,    /* the End record was read: another stream or the end of input */
    PH_FAILED    /* an error was reported; the position in the input is unknown */
};

void lmzf_parser_init(lmzf_parser *p, lmz_read_fn read, void *user)
{
    memset(&p->header, 0, sizeof p->header);
    memset(&p->end, 0, sizeof p->end);
    lmzf_reader_init(&p->reader, read, user);
    p->stream = 0;
    p->stream_offset = 0;
    p->n_chunks = 0;
    p->total_size = 0;
    XXH64_reset(&p->content, 0);
    p->phase = PH_START;
}

const char *lmzf_record_where(const lmzf_record *rec, char *buf, size_t cap)
{
    char stream[48] = "";
    if (rec->stream) snprintf(stream, sizeof stream, "stream %llu, ",
                              (unsigned long long)rec->stream);
    if (rec->is_end)
        snprintf(buf, cap, "%sEnd record (at byte %llu)", rec->stream ? stream : "the ",
                 (unsigned long long)rec->offset);
    else
        snprintf(buf, cap, "%schunk %llu (record at byte %llu)", stream,
                 (unsigned long long)rec->index, (unsigned long long)rec->offset);
    return buf;
}

/* Report an error and stop: after one, the position in the input means nothing. */
static lmz_status __attribute__((format(printf, 4, 5)))
stop(lmzf_parser *p, lmz_error *err, lmz_status status, const char *fmt, ...)
{
    p->phase = PH_FAILED;
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

/* A corrupt record: "<where>: <detail>". */
static lmz_status corrupt(lmzf_parser *p, lmz_error *err, const char *where,
                          const char *detail)
{
    return stop(p, err, LMZ_ERR_CORRUPT, "%s: %s", where, detail);
}

/* Read exactly n bytes of the structure `what`; anything short is an error naming the
 * offset where the input ended. */
static lmz_status read_exact(lmzf_parser *p, void *dst, size_t n, XXH32_state_t *hash,
                             const char *what, lmz_error *err)
{
    switch (lmzf_reader_read(&p->reader, dst, n, hash, NULL)) {
    case LMZF_GOT_ALL:
        return LMZ_OK;
    case LMZF_GOT_IOERR:
        return stop(p, err, LMZ_ERR_IO, "read error at byte %llu, reading %s",
                    (unsigned long long)p->reader.offset, what);
    default:
        return stop(p, err, LMZ_ERR_CORRUPT, "truncated: input ends at byte %llu, inside %s",
                    (unsigned long long)p->reader.offset, what);
    }
}

static void decode_header(const uint8_t *b, lmzf_header *h)
{
    memset(h, 0, sizeof *h);
    h->format_version = lmzf_get16(b + 8);
    h->flags = lmzf_get16(b + 10);
    h->level = b[12];
    h->chunk_size = lmzf_get32(b + 16);
    h->context = lmzf_get32(b + 20);
    h->keep = lmzf_get32(b + 24);
    memcpy(h->model_hash, b + 28, 16);
    memcpy(h->tokenizer_hash, b + 44, 16);
    memcpy(h->adapter_hash, b + 60, 16);
    h->model_name_len = b[76];
    memcpy(h->model_name, b + 77, h->model_name_len);
    h->model_name[h->model_name_len] = '\0';
}

/* The magic, or why the input does not start a stream here. */
static lmz_status read_magic(lmzf_parser *p, int first, int *at_end, lmz_error *err)
{
    uint8_t magic[LMZF_MAGIC_SIZE];
    size_t got;
    uint64_t at = p->reader.offset;
    lmzf_got r = lmzf_reader_read(&p->reader, magic, sizeof magic, NULL, &got);
    if (r == LMZF_GOT_ALL && !memcmp(magic, LMZF_MAGIC, LMZF_MAGIC_SIZE)) return LMZ_OK;
    if (r == LMZF_GOT_IOERR)
        return stop(p, err, LMZ_ERR_IO, "read error at byte %llu, reading a header",
                    (unsigned long long)p->reader.offset);
    if (r == LMZF_GOT_NONE && !first) {
        *at_end = 1;
        return LMZ_OK;
    }
    if (r == LMZF_GOT_NONE)
        return stop(p, err, LMZ_ERR_NOT_LMZ, "empty input: not an lmz stream");
    if (r == LMZF_GOT_PART && !memcmp(magic, LMZF_MAGIC, got))
        return stop(p, err, LMZ_ERR_CORRUPT,
                    "truncated: input ends at byte %llu, inside the magic number",
                    (unsigned long long)p->reader.offset);
    if (first)
        return stop(p, err, LMZ_ERR_NOT_LMZ, "not an lmz stream (bad magic number)");
    return stop(p, err, LMZ_ERR_CORRUPT,
                "trailing data at byte %llu after the end of stream %llu is not another "
                "lmz stream", (unsigned long long)at, (unsigned long long)p->stream);
}

lmz_status lmzf_parser_next_stream(lmzf_parser *p, int *found, lmz_error *err)
{
    int dummy;
    if (!found) found = &dummy;
    *found = 0;
    if (p->phase != PH_START && p->phase != PH_ENDED)
        return lmzf_fail(err, LMZ_ERR_ARG, "lmzf_parser_next_stream called out of order");
    int first = p->phase == PH_START;
    uint64_t at = p->reader.offset;
    int at_end = 0;
    lmz_status st = read_magic(p, first, &at_end, err);
    if (st != LMZ_OK || at_end) return st;

    uint64_t stream = first ? 0 : p->stream + 1;
    char what[96], prefix[48] = "";
    if (stream) snprintf(prefix, sizeof prefix, "stream %llu: ", (unsigned long long)stream);
    snprintf(what, sizeof what, "%sthe header (at byte %llu)", prefix,
             (unsigned long long)at);

    uint8_t b[LMZF_HEADER_MAX_SIZE + 4];
    memcpy(b, LMZF_MAGIC, LMZF_MAGIC_SIZE);
    /* The version first: a later version may lay out the rest differently. */
    if ((st = read_exact(p, b + 8, 2, NULL, what, err))) return st;
    unsigned version = lmzf_get16(b + 8);
    if (version != LMZF_FORMAT_VERSION)
        return stop(p, err, LMZ_ERR_VERSION,
                    "%sformat version %u is not supported (this build reads version %u); "
                    "the header may be damaged", prefix, version, LMZF_FORMAT_VERSION);
    if ((st = read_exact(p, b + 10, 67, NULL, what, err))) return st;
    unsigned name_len = b[76];
    if (name_len > LMZF_NAME_MAX)
        return stop(p, err, LMZ_ERR_CORRUPT,
                    "%sheader damaged: model name length %u exceeds %u", prefix, name_len,
                    LMZF_NAME_MAX);
    if ((st = read_exact(p, b + 77, name_len + 4, NULL, what, err))) return st;
    size_t body = 77 + name_len;
    uint32_t stored = lmzf_get32(b + body), computed = XXH32(b, body, 0);
    if (stored != computed)
        return stop(p, err, LMZ_ERR_CORRUPT,
                    "%sheader check mismatch (stored 0x%08x, computed 0x%08x)", prefix,
                    stored, computed);

    /* The header is intact: what is wrong now was written so. */
    lmzf_header h;
    decode_header(b, &h);
    char why[160];
    if (h.flags & ~LMZF_FLAGS_KNOWN)
        return stop(p, err, LMZ_ERR_VERSION,
                    "%sthe stream uses feature flags 0x%04x that this build (format "
                    "version %u) does not know", prefix,
                    (unsigned)(h.flags & ~LMZF_FLAGS_KNOWN), LMZF_FORMAT_VERSION);
    if (b[13] | b[14] | b[15])
        return stop(p, err, LMZ_ERR_CORRUPT, "%sreserved header bytes are not zero", prefix);
    if (lmzf_header_problem(&h, why, sizeof why))
        return stop(p, err, LMZ_ERR_CORRUPT, "%sinvalid header: %s", prefix, why);

    p->header = h;
    p->stream = stream;
    p->stream_offset = at;
    p->n_chunks = 0;
    p->total_size = 0;
    memset(&p->end, 0, sizeof p->end);
    XXH64_reset(&p->content, 0);
    p->phase = PH_RECORDS;
    *found = 1;
    return LMZ_OK;
}

static lmz_status read_end(lmzf_parser *p, lmzf_record *rec, const char *where,
                           lmz_error *err)
{
    uint8_t b[LMZF_END_SIZE];
    b[0] = LMZF_METHOD_END;
    lmz_status st = read_exact(p, b + 1, LMZF_END_SIZE - 1, NULL, where, err);
    if (st) return st;
    char detail[160];
    uint32_t stored = lmzf_get32(b + 25), computed = XXH32(b, 25, 0);
    lmzf_end e = {lmzf_get64(b + 1), lmzf_get64(b + 9), lmzf_get64(b + 17)};
    if (stored != computed)
        snprintf(detail, sizeof detail, "end check mismatch (stored 0x%08x, computed 0x%08x)",
                 stored, computed);
    else if (e.n_chunks != p->n_chunks)
        snprintf(detail, sizeof detail, "it counts %llu chunks, the stream has %llu",
                 (unsigned long long)e.n_chunks, (unsigned long long)p->n_chunks);
    else if (e.total_size != p->total_size)
        snprintf(detail, sizeof detail, "total size %llu differs from the chunks' sum %llu",
                 (unsigned long long)e.total_size, (unsigned long long)p->total_size);
    else {
        rec->end = e;
        p->end = e;
        p->phase = PH_ENDED;
        return LMZ_OK;
    }
    return corrupt(p, err, where, detail);
}

lmz_status lmzf_parser_record(lmzf_parser *p, lmzf_record *rec, lmz_error *err)
{
    if (p->phase != PH_RECORDS)
        return lmzf_fail(err, LMZ_ERR_ARG, "lmzf_parser_record called out of order");
    memset(rec, 0, sizeof *rec);
    rec->index = p->n_chunks;
    rec->offset = p->reader.offset;
    rec->stream = p->stream;

    uint8_t b[LMZF_RECORD_SIZE];
    char where[128], what[160];
    lmzf_record_where(rec, where, sizeof where);
    lmzf_got got = lmzf_reader_read(&p->reader, b, 1, NULL, NULL);
    if (got == LMZF_GOT_IOERR)
        return stop(p, err, LMZ_ERR_IO, "read error at byte %llu, reading the record of %s",
                    (unsigned long long)rec->offset, where);
    if (got != LMZF_GOT_ALL)
        return stop(p, err, LMZ_ERR_CORRUPT,
                    "truncated: input ends at byte %llu, where %s or the End record "
                    "should start", (unsigned long long)rec->offset, where);
    if (b[0] == LMZF_METHOD_END) {
        rec->is_end = 1;
        lmzf_record_where(rec, where, sizeof where);
        return read_end(p, rec, where, err);
    }
    snprintf(what, sizeof what, "the record of %s", where);
    lmz_status st = read_exact(p, b + 1, LMZF_RECORD_SIZE - 1, NULL, what, err);
    if (st) return st;

    char detail[200];
    uint32_t stored = lmzf_get32(b + 21), computed = XXH32(b, 21, 0);
    if (stored != computed) {
        snprintf(detail, sizeof detail,
                 "record check mismatch (stored 0x%08x, computed 0x%08x)", stored, computed);
        return corrupt(p, err, where, detail);
    }
    lmzf_chunk *c = &rec->chunk;
    c->method = b[0];
    c->raw_size = lmzf_get32(b + 1);
    c->payload_size = lmzf_get32(b + 5);
    c->n_tokens = lmzf_get32(b + 9);
    c->raw_check = lmzf_get32(b + 13);
    c->payload_check = lmzf_get32(b + 17);
    if (lmzf_chunk_problem(&p->header, c, detail, sizeof detail))
        return corrupt(p, err, where, detail);

    p->n_chunks++;
    p->total_size += c->raw_size;
    p->phase = PH_PAYLOAD;
    return LMZ_OK;
}

lmz_status lmzf_parser_payload(lmzf_parser *p, const lmzf_record *rec, void *payload,
                               lmz_error *err)
{
    if (p->phase != PH_PAYLOAD || rec->is_end || rec->index + 1 != p->n_chunks ||
        rec->stream != p->stream)
        return lmzf_fail(err, LMZ_ERR_ARG, "lmzf_parser_payload called out of order");
    char where[128], what[200];
    lmzf_record_where(rec, where, sizeof where);
    snprintf(what, sizeof what, "the payload of %s, %u bytes", where,
             rec->chunk.payload_size);
    XXH32_state_t hash;
    XXH32_reset(&hash, 0);
    lmz_status st = read_exact(p, payload, rec->chunk.payload_size, &hash, what, err);
    if (st) return st;
    uint32_t computed = XXH32_digest(&hash);
    if (computed != rec->chunk.payload_check) {
        char detail[96];
        snprintf(detail, sizeof detail,
                 "payload check mismatch (stored 0x%08x, computed 0x%08x)",
                 rec->chunk.payload_check, computed);
        return corrupt(p, err, where, detail);
    }
    p->phase = PH_RECORDS;
    return LMZ_OK;
}

void lmzf_parser_content(lmzf_parser *p, const void *raw, size_t n)
{
    XXH64_update(&p->content, raw, n);
}

lmz_status lmzf_parser_check_content(lmzf_parser *p, lmz_error *err)
{
    if (p->phase != PH_ENDED)
        return lmzf_fail(err, LMZ_ERR_ARG, "lmzf_parser_check_content before the End record");
    uint64_t computed = XXH64_digest(&p->content);
    if (computed == p->end.content_check) return LMZ_OK;
    char prefix[48] = "";
    if (p->stream) snprintf(prefix, sizeof prefix, "stream %llu: ",
                            (unsigned long long)p->stream);
    return lmzf_fail(err, LMZ_ERR_CORRUPT,
                     "%scontent check mismatch (stored 0x%016llx, computed 0x%016llx): "
                     "chunks missing, duplicated or out of order", prefix,
                     (unsigned long long)p->end.content_check,
                     (unsigned long long)computed);
}

lmz_status lmzf_check_raw(const lmzf_record *rec, const void *raw, size_t n,
                          lmz_error *err)
{
    char where[128];
    if (n != rec->chunk.raw_size)
        return lmzf_fail(err, LMZ_ERR_CORRUPT, "%s: decoded %zu bytes, the record says %u",
                         lmzf_record_where(rec, where, sizeof where), n,
                         rec->chunk.raw_size);
    uint32_t computed = XXH32(raw, n, 0);
    if (computed != rec->chunk.raw_check)
        return lmzf_fail(err, LMZ_ERR_CORRUPT,
                         "%s: raw check mismatch after decoding (stored 0x%08x, computed "
                         "0x%08x)", lmzf_record_where(rec, where, sizeof where),
                         rec->chunk.raw_check, computed);
    return LMZ_OK;
}
