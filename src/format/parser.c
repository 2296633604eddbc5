/*
 * parser.c -- reading streams: header, chunk records, payloads, End record, in the
 * order and with the checks of doc/format.md.  Every size is validated before anyone
 * allocates by it, every byte is covered by a check before it is trusted, and every
 * message names the chunk and the input offset.
 */
#include "format/container.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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
    p->first_raw_check = 0;
    XXH32_reset(&p->content, 0);
    XXH32_reset(&p->record, 0);
    p->phase = PH_START;
    p->compact = p->compact_chunk = 0;
    p->trailing_at = 0;
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

/* Read one varint of a `bits`-bit field (doc/format.md 1), appending its bytes to
 * buf[*len] for the structure's check.  `field` names it in messages, after `where`. */
static lmz_status read_varint(lmzf_parser *p, uint8_t *buf, size_t *len, unsigned bits,
                              uint64_t *value, const char *where, const char *field,
                              const char *what, lmz_error *err)
{
    *value = 0;
    for (size_t i = 0;; i++) {
        uint8_t *b = buf + *len;
        lmz_status st = read_exact(p, b, 1, NULL, what, err);
        if (st) return st;
        (*len)++;
        switch (lmzf_varint_byte(value, i, *b, bits)) {
        case LMZF_VARINT_MORE:
            continue;
        case LMZF_VARINT_DONE:
            return LMZ_OK;
        case LMZF_VARINT_TOO_LONG:
            return stop(p, err, LMZ_ERR_CORRUPT, "%s: %s: varint longer than %u bytes",
                        where, field, (bits + 6) / 7);
        case LMZF_VARINT_OVERLONG:
            return stop(p, err, LMZ_ERR_CORRUPT,
                        "%s: %s: overlong varint (not the shortest encoding)", where, field);
        case LMZF_VARINT_OVERFLOW:
            return stop(p, err, LMZ_ERR_CORRUPT, "%s: %s: varint exceeds %u bits", where,
                        field, bits);
        }
    }
}

static lmz_status read_varint32(lmzf_parser *p, uint8_t *buf, size_t *len, uint32_t *value,
                                const char *where, const char *field, const char *what,
                                lmz_error *err)
{
    uint64_t v;
    lmz_status st = read_varint(p, buf, len, 32, &v, where, field, what, err);
    *value = (uint32_t)v; /* read_varint refused anything wider */
    return st;
}

/* The magic (or a compact stream's tag, into *tag), or why the input does not start a
 * stream here. */
static lmz_status read_magic(lmzf_parser *p, int first, int *at_end, int *tag,
                             lmz_error *err)
{
    uint8_t magic[LMZF_MAGIC_SIZE];
    size_t got = 0;
    uint64_t at = p->reader.offset;
    *tag = -1;
    lmzf_got r = lmzf_reader_read(&p->reader, magic, 1, NULL, NULL);
    if (r == LMZF_GOT_ALL && lmzf_is_compact_tag(magic[0])) {
        *tag = magic[0];
        return LMZ_OK;
    }
    if (r == LMZF_GOT_ALL && magic[0] == (uint8_t)LMZF_MAGIC[0]) {
        r = lmzf_reader_read(&p->reader, magic + 1, sizeof magic - 1, NULL, &got);
        if (r == LMZF_GOT_NONE) r = LMZF_GOT_PART;
        got++;
    } else if (r == LMZF_GOT_ALL) {
        if (!first) goto trailing;
        return stop(p, err, LMZ_ERR_NOT_LMZ, "not an lmz stream (bad magic number)");
    }
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
    if (r == LMZF_GOT_PART && got < LMZF_MAGIC_SIZE && !memcmp(magic, LMZF_MAGIC, got))
        return stop(p, err, LMZ_ERR_CORRUPT,
                    "truncated: input ends at byte %llu, inside the magic number",
                    (unsigned long long)p->reader.offset);
    if (first)
        return stop(p, err, LMZ_ERR_NOT_LMZ, "not an lmz stream (bad magic number)");
trailing:
    p->trailing_at = at + 1;
    return stop(p, err, LMZ_ERR_CORRUPT,
                "trailing data at byte %llu after the end of stream %llu is not another "
                "lmz stream", (unsigned long long)at, (unsigned long long)p->stream);
}

/* A name field at b + *n (its length byte, min..LMZF_NAME_MAX, then the bytes) into
 * dst, NUL-terminated; *n moves past it. */
static lmz_status read_name(lmzf_parser *p, uint8_t *b, size_t *n, unsigned min, char *dst,
                            uint8_t *len, const char *label, const char *where,
                            const char *what, lmz_error *err)
{
    lmz_status st = read_exact(p, b + *n, 1, NULL, what, err);
    if (st) return st;
    unsigned k = b[(*n)++];
    if (k < min || k > LMZF_NAME_MAX)
        return stop(p, err, LMZ_ERR_CORRUPT, "%s: %s name length %u outside %u..%u", where,
                    label, k, min, LMZF_NAME_MAX);
    if ((st = read_exact(p, b + *n, k, NULL, what, err))) return st;
    memcpy(dst, b + *n, k);
    dst[k] = '\0';
    *len = (uint8_t)k;
    *n += k;
    return LMZ_OK;
}

/* The header after its magic, into *h; `prefix` is "" or "stream N: ". */
static lmz_status read_header(lmzf_parser *p, lmzf_header *h, const char *prefix,
                              const char *what, lmz_error *err)
{
    /* context and keep may take 5 bytes each while being read, 2 more than valid */
    uint8_t b[LMZF_HEADER_MAX_SIZE + 4];
    size_t n = LMZF_MAGIC_SIZE;
    memcpy(b, LMZF_MAGIC, LMZF_MAGIC_SIZE);
    memset(h, 0, sizeof *h);
    /* The version and the flags come first and are judged before the header check: a
     * later version or an unknown feature may lay out the rest differently. */
    lmz_status st = read_exact(p, b + n, 2, NULL, what, err);
    if (st) return st;
    h->format_version = b[n++];
    h->flags = b[n++];
    if (h->format_version != LMZF_FORMAT_VERSION)
        return stop(p, err, LMZ_ERR_VERSION,
                    "%sformat version %u is not supported (this build reads version %u); "
                    "the header may be damaged", prefix, h->format_version,
                    LMZF_FORMAT_VERSION);
    if (h->flags & ~LMZF_FLAGS_KNOWN)
        return stop(p, err, LMZ_ERR_VERSION,
                    "%sthe stream uses feature flags 0x%02x that this build (format version "
                    "%u) does not know; the header may be damaged", prefix,
                    (unsigned)(h->flags & ~LMZF_FLAGS_KNOWN), LMZF_FORMAT_VERSION);
    char where[96];
    snprintf(where, sizeof where, "%sheader damaged", prefix);
    if ((st = read_exact(p, b + n, 1, NULL, what, err))) return st;
    h->level = b[n++];
    if ((st = read_varint32(p, b, &n, &h->chunk_size, where, "chunk size", what, err)) ||
        (st = read_varint32(p, b, &n, &h->context, where, "context", what, err)) ||
        (st = read_varint32(p, b, &n, &h->keep, where, "keep", what, err)))
        return st;
    if (h->flags & LMZF_FLAG_MIX) h->mix_version = 1;
    if (h->flags & LMZF_FLAG_MIX_VERSION) {
        if ((st = read_exact(p, b + n, 1, NULL, what, err))) return st;
        h->mix_version = b[n++];
    }
    size_t ids = (h->flags & LMZF_FLAG_ADAPTER ? 3 : 2) * LMZF_ID_SIZE;
    if ((st = read_exact(p, b + n, ids, NULL, what, err))) return st;
    memcpy(h->model_id, b + n, LMZF_ID_SIZE);
    memcpy(h->tokenizer_id, b + n + LMZF_ID_SIZE, LMZF_ID_SIZE);
    if (h->flags & LMZF_FLAG_ADAPTER)
        memcpy(h->adapter_id, b + n + 2 * LMZF_ID_SIZE, LMZF_ID_SIZE);
    n += ids;
    if ((h->flags & LMZF_FLAG_NAME) &&
        (st = read_name(p, b, &n, 1, h->model_name, &h->model_name_len, "model", where, what,
                        err)))
        return st;
    if (h->flags & LMZF_FLAG_ADAPTER_NAME) {
        if (!(h->flags & LMZF_FLAG_ADAPTER))
            return stop(p, err, LMZ_ERR_CORRUPT, "%s: adapter name flag without an adapter",
                        where);
        if ((st = read_name(p, b, &n, 1, h->adapter_name, &h->adapter_name_len, "adapter", where,
                            what, err)))
            return st;
    }
    if ((st = read_exact(p, b + n, 4, NULL, what, err))) return st;
    uint32_t stored = lmzf_get32(b + n), computed = XXH32(b, n, 0);
    if (stored != computed)
        return stop(p, err, LMZ_ERR_CORRUPT,
                    "%sheader check mismatch (stored 0x%08x, computed 0x%08x)", prefix,
                    stored, computed);
    /* The header is intact: what is wrong now was written so. */
    if ((h->flags & LMZF_FLAG_MIX_VERSION) && (!(h->flags & LMZF_FLAG_MIX) || h->mix_version < 2))
        return stop(p, err, LMZ_ERR_CORRUPT, "%sinvalid header: mix version field %u%s",
                    prefix, h->mix_version,
                    h->flags & LMZF_FLAG_MIX ? " (1 is written without it)" : " without MIX");
    if (h->mix_version > LMZF_MIX_VERSION_MAX)
        return stop(p, err, LMZ_ERR_VERSION,
                    "%sthe stream's mixed coding is version %u; this build reads up to %u "
                    "(a newer lmz wrote it)", prefix, h->mix_version, LMZF_MIX_VERSION_MAX);
    char why[160];
    if (lmzf_header_problem(h, why, sizeof why))
        return stop(p, err, LMZ_ERR_CORRUPT, "%sinvalid header: %s", prefix, why);
    return LMZ_OK;
}

/* A compact stream's head (doc/format.md 11) after its tag: the header it stands for
 * into *h, its chunk (if any) into p->compact_rec; p->record is left hashing the head,
 * for the check's seed.  The empty content's check is verified here. */
static lmz_status read_compact(lmzf_parser *p, unsigned tag, lmzf_header *h,
                               const char *prefix, const char *what, lmz_error *err)
{
    uint8_t b[LMZF_COMPACT_HEAD_MAX + 8];
    size_t n = 0;
    unsigned d = tag - LMZF_COMPACT_TAG_MIN;
    lmzf_chunk *c = &p->compact_rec;
    memset(h, 0, sizeof *h);
    memset(c, 0, sizeof *c);
    b[n++] = (uint8_t)tag;
    h->format_version = LMZF_FORMAT_VERSION;
    h->chunk_size = LMZF_COMPACT_RAW_MAX;
    h->context = 2;         /* no model needed: any valid values */
    h->keep = 1;
    char where[96];
    snprintf(where, sizeof where, "%scompact stream damaged", prefix);
    const lmzf_profile *prof = NULL;
    lmz_status st;
    if (d == LMZF_COMPACT_RAW) {
        c->method = LMZF_METHOD_RAW;
    } else if (d == LMZF_COMPACT_ZSTD) {
        c->method = LMZF_METHOD_ZSTD;
    } else if ((d & ~7u) == LMZF_COMPACT_LM) {
        c->method = d & LMZF_COMPACT_LM_CRLF ? LMZF_METHOD_LM_CRLF : LMZF_METHOD_LM;
        if (d & LMZF_COMPACT_LM_MIX) h->flags |= LMZF_FLAG_MIX, h->mix_version = 1;
        if (d & LMZF_COMPACT_LM_ADAPTER) h->flags |= LMZF_FLAG_ADAPTER;
        if ((st = read_exact(p, b + n, 2, NULL, what, err))) return st;
        unsigned profile = b[n], second = b[n + 1];
        n += 2;
        if (profile) {
            if (!(prof = lmzf_profile_get(profile)))
                return stop(p, err, LMZ_ERR_VERSION,
                            "%sthe stream names built-in profile %u, which this build does "
                            "not have (a newer lmz wrote it, or it is damaged)", prefix, profile);
            if (second != prof->model_id[0])
                return stop(p, err, LMZ_ERR_MODEL_MISMATCH,
                            "%sthe stream was made with another model than this build's %s "
                            "under built-in profile %u (model check 0x%02x, expected 0x%02x)",
                            prefix, prof->model_name, profile, second, prof->model_id[0]);
            memcpy(h->model_id, prof->model_id, LMZF_ID_SIZE);
            memcpy(h->tokenizer_id, prof->tokenizer_id, LMZF_ID_SIZE);
            h->context = prof->context;
            h->keep = prof->keep;
            h->chunk_size = prof->chunk_size;
            h->level = prof->level;
            if (prof->kv_f16) h->flags |= LMZF_FLAG_KV_F16;
            if (h->mix_version) h->mix_version = prof->mix_version;
            h->model_name_len = (uint8_t)strlen(prof->model_name);
            memcpy(h->model_name, prof->model_name, h->model_name_len + 1u);
            h->flags |= LMZF_FLAG_NAME;
        } else {
            unsigned v2 = second & LMZF_COMPACT_EXT_MIX_V2, v3 = second & LMZF_COMPACT_EXT_MIX_V3;
            if (second & ~(LMZF_COMPACT_EXT_KV_F16 | LMZF_COMPACT_EXT_MIX_V2 |
                           LMZF_COMPACT_EXT_MIX_V3))
                return stop(p, err, LMZ_ERR_VERSION,
                            "%sthe stream uses model flags 0x%02x that this build does not "
                            "know; it may be damaged", prefix, second);
            if ((v2 || v3) && !(h->flags & LMZF_FLAG_MIX))
                return stop(p, err, LMZ_ERR_CORRUPT, "%s: mix version %d without MIX", where,
                            v3 ? 3 : 2);
            if (v2 && v3)
                return stop(p, err, LMZ_ERR_CORRUPT, "%s: mix versions 2 and 3 both", where);
            if (second & LMZF_COMPACT_EXT_KV_F16) h->flags |= LMZF_FLAG_KV_F16;
            if (v2) h->mix_version = 2;
            if (v3) h->mix_version = 3;
            if ((st = read_varint32(p, b, &n, &h->context, where, "context", what, err)) ||
                (st = read_varint32(p, b, &n, &h->keep, where, "keep", what, err)) ||
                (st = read_exact(p, b + n, 2 * LMZF_ID_SIZE, NULL, what, err)))
                return st;
            memcpy(h->model_id, b + n, LMZF_ID_SIZE);
            memcpy(h->tokenizer_id, b + n + LMZF_ID_SIZE, LMZF_ID_SIZE);
            n += 2 * LMZF_ID_SIZE;
            /* the name is optional here: length 0 stores none */
            if ((st = read_name(p, b, &n, 0, h->model_name, &h->model_name_len, "model", where,
                                what, err)))
                return st;
            if (h->model_name_len) h->flags |= LMZF_FLAG_NAME;
        }
        if (h->flags & LMZF_FLAG_ADAPTER) {
            if ((st = read_exact(p, b + n, LMZF_ID_SIZE, NULL, what, err))) return st;
            memcpy(h->adapter_id, b + n, LMZF_ID_SIZE);
            n += LMZF_ID_SIZE;
        }
    } else if (d != LMZF_COMPACT_EMPTY) {
        return stop(p, err, LMZ_ERR_VERSION,
                    "%scompact stream kind 0x%02x is not supported by this build (a newer "
                    "lmz wrote it, or the input is damaged)", prefix, tag);
    }
    char why[160];
    if (d != LMZF_COMPACT_EMPTY) {
        if ((st = read_varint32(p, b, &n, &c->raw_size, where, "raw size", what, err)))
            return st;
        c->payload_size = c->raw_size;
        if (c->method != LMZF_METHOD_RAW &&
            (st = read_varint32(p, b, &n, &c->payload_size, where, "payload size", what, err)))
            return st;
        /* The limits, before anyone allocates by these sizes. */
        if (lmzf_compact_problem((lmzf_method)c->method, c->raw_size, c->payload_size,
                                 h->chunk_size, why, sizeof why) ||
            lmzf_header_problem(h, why, sizeof why))
            return stop(p, err, LMZ_ERR_CORRUPT, "%s: %s", where, why);
    }
    XXH32_reset(&p->record, 0);
    XXH32_update(&p->record, b, n);
    if (d != LMZF_COMPACT_EMPTY) return LMZ_OK;
    if ((st = read_exact(p, b, 4, NULL, what, err))) return st;
    uint32_t stored = lmzf_get32(b), computed = XXH32("", 0, XXH32_digest(&p->record));
    if (stored != computed)
        return stop(p, err, LMZ_ERR_CORRUPT,
                    "%scompact stream check mismatch (stored 0x%08x, computed 0x%08x)",
                    prefix, stored, computed);
    return LMZ_OK;
}

lmz_status lmzf_parser_next_stream(lmzf_parser *p, int *found, lmz_error *err)
{
    int dummy;
    if (!found) found = &dummy;
    *found = 0;
    if (p->phase != PH_START && p->phase != PH_ENDED)
        return lmz_error_setf(err, LMZ_ERR_ARG, "lmzf_parser_next_stream called out of order");
    int first = p->phase == PH_START;
    uint64_t at = p->reader.offset;
    int at_end = 0, tag;
    lmz_status st = read_magic(p, first, &at_end, &tag, err);
    if (st != LMZ_OK || at_end) return st;

    uint64_t stream = first ? 0 : p->stream + 1;
    char what[96], prefix[48] = "";
    if (stream) snprintf(prefix, sizeof prefix, "stream %llu: ", (unsigned long long)stream);
    snprintf(what, sizeof what, "%sthe header (at byte %llu)", prefix,
             (unsigned long long)at);
    lmzf_header h;
    if (tag >= 0) snprintf(what, sizeof what, "%sthe compact stream (at byte %llu)", prefix,
                           (unsigned long long)at);
    if ((st = tag >= 0 ? read_compact(p, (unsigned)tag, &h, prefix, what, err)
                       : read_header(p, &h, prefix, what, err)))
        return st;
    p->compact = tag >= 0;
    p->compact_chunk = p->compact && tag != LMZF_COMPACT_TAG_MIN;

    p->header = h;
    p->stream = stream;
    p->stream_offset = at;
    p->n_chunks = 0;
    p->total_size = 0;
    p->first_raw_check = 0;
    memset(&p->end, 0, sizeof p->end);
    XXH32_reset(&p->content, 0);
    p->phase = PH_RECORDS;
    *found = 1;
    return LMZ_OK;
}

static lmz_status read_end(lmzf_parser *p, lmzf_record *rec, const char *where,
                           lmz_error *err)
{
    uint8_t b[LMZF_END_MAX_SIZE];
    size_t n = 1;
    b[0] = LMZF_METHOD_END;
    lmzf_end e = {0, 0, 0};
    lmz_status st;
    if ((st = read_varint(p, b, &n, 64, &e.total_size, where, "total size", where, err)) ||
        (st = read_varint(p, b, &n, 64, &e.n_chunks, where, "chunk count", where, err)))
        return st;
    size_t fields = n;
    if (lmzf_end_stores_content(e.n_chunks)) {
        if ((st = read_exact(p, b + n, 4, NULL, where, err))) return st;
        e.content_check = lmzf_get32(b + n);
        n += 4;
    } else {
        /* implied: XXH32 of nothing, or the only chunk's raw_check */
        e.content_check = e.n_chunks && p->n_chunks ? p->first_raw_check : XXH32("", 0, 0);
    }
    if ((st = read_exact(p, b + n, 4, NULL, where, err))) return st;
    char detail[200];
    uint32_t stored = lmzf_get32(b + n), computed = lmzf_end_check(b, fields, e.content_check);
    if (stored != computed)
        snprintf(detail, sizeof detail, "end check mismatch (stored 0x%08x, computed 0x%08x)%s",
                 stored, computed,
                 lmzf_end_stores_content(e.n_chunks)
                     ? "" : ": the End record is damaged or does not belong to its chunks");
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

/* The fields of a chunk record after its method byte, up to and including
 * record_check; b holds the record's bytes so far (*n of them). */
static lmz_status read_chunk_fields(lmzf_parser *p, lmzf_chunk *c, uint8_t *b, size_t *n,
                                    const char *where, const char *what, lmz_error *err)
{
    lmz_status st = read_varint32(p, b, n, &c->raw_size, where, "raw size", what, err);
    if (st) return st;
    if (c->method == LMZF_METHOD_RAW) {
        c->payload_size = c->raw_size; /* the payload is the content */
    } else if ((st = read_varint32(p, b, n, &c->payload_size, where, "payload size", what,
                                   err))) {
        return st;
    }
    if (lmzf_method_is_lm(c->method) &&
        (st = read_varint32(p, b, n, &c->n_tokens, where, "token count", what, err)))
        return st;
    if (c->method != LMZF_METHOD_RAW) {
        if ((st = read_exact(p, b + *n, 4, NULL, what, err))) return st;
        c->raw_check = lmzf_get32(b + *n);
        *n += 4;
    }
    if ((st = read_exact(p, b + *n, 4, NULL, what, err))) return st;
    c->record_check = lmzf_get32(b + *n);
    return LMZ_OK;
}

/* A compact stream's records: its chunk, if it has one, then an End record that
 * no byte stands for (its check covers the whole stream). */
static lmz_status compact_record(lmzf_parser *p, lmzf_record *rec)
{
    rec->offset = p->stream_offset;
    if (p->compact_chunk) {
        p->compact_chunk = 0;
        rec->chunk = p->compact_rec;
        p->n_chunks = 1;
        p->total_size = rec->chunk.raw_size;
        p->phase = PH_PAYLOAD;
        return LMZ_OK;
    }
    rec->is_end = 1;
    rec->end.total_size = p->total_size;
    rec->end.n_chunks = p->n_chunks;
    p->end = rec->end;
    p->phase = PH_ENDED;
    return LMZ_OK;
}

lmz_status lmzf_parser_record(lmzf_parser *p, lmzf_record *rec, lmz_error *err)
{
    if (p->phase != PH_RECORDS)
        return lmz_error_setf(err, LMZ_ERR_ARG, "lmzf_parser_record called out of order");
    memset(rec, 0, sizeof *rec);
    rec->index = p->n_chunks;
    rec->offset = p->reader.offset;
    rec->stream = p->stream;

    if (p->compact) return compact_record(p, rec);
    uint8_t b[LMZF_RECORD_MAX_SIZE];
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
    char detail[200];
    lmzf_chunk *c = &rec->chunk;
    c->method = b[0];
    /* the method decides which fields follow: an unknown one ends the parse */
    if (!lmzf_method_known(c->method)) {
        snprintf(detail, sizeof detail, "unknown method %u", c->method);
        return corrupt(p, err, where, detail);
    }
    snprintf(what, sizeof what, "the record of %s", where);
    size_t n = 1;
    lmz_status st = read_chunk_fields(p, c, b, &n, where, what, err);
    if (st) return st;
    /* The limits, before anyone allocates by these sizes.  record_check, which covers
     * the payload too, is verified once the payload has been read. */
    if (lmzf_chunk_problem(&p->header, c, detail, sizeof detail))
        return corrupt(p, err, where, detail);
    XXH32_reset(&p->record, 0);
    XXH32_update(&p->record, b, n);
    p->n_chunks++;
    p->total_size += c->raw_size;
    p->phase = PH_PAYLOAD;
    return LMZ_OK;
}

/* Read a payload of n bytes into dst (NULL: only hash it), feeding `record` and, when
 * not NULL, `raw`. */
static lmz_status read_payload(lmzf_parser *p, uint8_t *dst, size_t n, XXH32_state_t *record,
                               XXH32_state_t *raw, const char *what, lmz_error *err)
{
    uint8_t scratch[4096];
    for (size_t done = 0; done < n;) {
        size_t k = n - done;
        uint8_t *to = dst ? dst + done : scratch;
        if (!dst && k > sizeof scratch) k = sizeof scratch;
        lmz_status st = read_exact(p, to, k, record, what, err);
        if (st) return st;
        if (raw) XXH32_update(raw, to, k);
        done += k;
    }
    return LMZ_OK;
}

/* After a compact stream's payload: its check, and the seed it is computed with.
 * Only a RAW payload is the content, so only its check can be verified here. */
static lmz_status compact_check(lmzf_parser *p, lmzf_record *rec, const void *payload,
                                const char *where, lmz_error *err)
{
    lmzf_chunk *c = &rec->chunk;
    const lmzf_header *h = &p->header;
    if (lmzf_method_is_lm(c->method))
        lmzf_compact_bind(&p->record, h->model_id, h->tokenizer_id,
                          h->flags & LMZF_FLAG_ADAPTER ? h->adapter_id : NULL);
    uint8_t b[4];
    char what[160];
    snprintf(what, sizeof what, "the check of %s", where);
    lmz_status st = read_exact(p, b, 4, NULL, what, err);
    if (st) return st;
    c->raw_seed = XXH32_digest(&p->record);
    c->raw_check = lmzf_get32(b);
    if (c->method == LMZF_METHOD_RAW && payload) {
        uint32_t computed = XXH32(payload, c->raw_size, c->raw_seed);
        if (computed != c->raw_check) {
            char detail[96];
            snprintf(detail, sizeof detail, "check mismatch (stored 0x%08x, computed 0x%08x)",
                     c->raw_check, computed);
            return corrupt(p, err, where, detail);
        }
    }
    p->first_raw_check = c->raw_check;
    p->phase = PH_RECORDS;
    return LMZ_OK;
}

lmz_status lmzf_parser_payload(lmzf_parser *p, lmzf_record *rec, void *payload,
                               lmz_error *err)
{
    if (p->phase != PH_PAYLOAD || rec->is_end || rec->index + 1 != p->n_chunks ||
        rec->stream != p->stream)
        return lmz_error_setf(err, LMZ_ERR_ARG, "lmzf_parser_payload called out of order");
    lmzf_chunk *c = &rec->chunk;
    char where[128], what[240];
    lmzf_record_where(rec, where, sizeof where);
    /* A damaged size field is only caught by record_check, after the payload: a
     * truncation message cannot tell the two apart. */
    snprintf(what, sizeof what, "the payload of %s, %u bytes (or the record's sizes are "
             "damaged)", where, c->payload_size);
    XXH32_state_t raw;
    XXH32_reset(&raw, 0);
    int is_raw = c->method == LMZF_METHOD_RAW;
    /* A compact RAW stream's check is seeded by a hash of the payload itself, so a
     * listing that keeps no payload needs it for a moment (at most 4 MiB). */
    void *temp = NULL;
    if (p->compact && is_raw && !payload) {
        if (!(payload = temp = malloc(c->payload_size)))
            return stop(p, err, LMZ_ERR_NOMEM, "out of memory");
    }
    lmz_status st = read_payload(p, payload, c->payload_size, &p->record,
                                 is_raw ? &raw : NULL, what, err);
    if (st == LMZ_OK && p->compact) st = compact_check(p, rec, payload, where, err);
    free(temp);
    if (st || p->compact) return st;
    uint32_t computed = XXH32_digest(&p->record);
    if (computed != c->record_check) {
        char detail[96];
        snprintf(detail, sizeof detail,
                 "record check mismatch (stored 0x%08x, computed 0x%08x)", c->record_check,
                 computed);
        return corrupt(p, err, where, detail);
    }
    if (is_raw) c->raw_check = XXH32_digest(&raw);
    if (rec->index == 0) p->first_raw_check = c->raw_check;
    p->phase = PH_RECORDS;
    return LMZ_OK;
}

void lmzf_parser_content(lmzf_parser *p, const void *raw, size_t n)
{
    XXH32_update(&p->content, raw, n);
}

lmz_status lmzf_parser_check_content(lmzf_parser *p, lmz_error *err)
{
    if (p->phase != PH_ENDED)
        return lmz_error_setf(err, LMZ_ERR_ARG, "lmzf_parser_check_content before the End record");
    if (p->compact) return LMZ_OK;    /* its chunk's check covered the content */
    uint32_t computed = XXH32_digest(&p->content);
    if (computed == p->end.content_check) return LMZ_OK;
    char prefix[48] = "";
    if (p->stream) snprintf(prefix, sizeof prefix, "stream %llu: ",
                            (unsigned long long)p->stream);
    return lmz_error_setf(err, LMZ_ERR_CORRUPT,
                     "%scontent check mismatch (stored 0x%08x, computed 0x%08x): "
                     "chunks missing, duplicated or out of order", prefix,
                     p->end.content_check, computed);
}

lmz_status lmzf_check_raw(const lmzf_record *rec, const void *raw, size_t n,
                          lmz_error *err)
{
    char where[128];
    if (n != rec->chunk.raw_size)
        return lmz_error_setf(err, LMZ_ERR_CORRUPT, "%s: decoded %zu bytes, the record says %u",
                         lmzf_record_where(rec, where, sizeof where), n,
                         rec->chunk.raw_size);
    uint32_t computed = XXH32(raw, n, rec->chunk.raw_seed);
    if (computed != rec->chunk.raw_check)
        return lmz_error_setf(err, LMZ_ERR_CORRUPT,
                         "%s: raw check mismatch after decoding (stored 0x%08x, computed "
                         "0x%08x)", lmzf_record_where(rec, where, sizeof where),
                         rec->chunk.raw_check, computed);
    return LMZ_OK;
}
