/*
 * container.h -- the .lmz container: byte layout, validation, reading and writing.
 * doc/format.md is the specification; every rule it states is enforced here.
 *
 * Three layers:
 *   - encoders (lmzf_encode_*) turn a header / chunk record / End record into bytes and
 *     validators (lmzf_*_problem) say what is wrong with one;
 *   - lmzf_reader, a buffered byte source over lmz_read_fn that tells a clean end of
 *     input from a truncation and an I/O error, and counts input offsets for messages;
 *   - lmzf_parser and lmzf_writer, which walk / produce whole streams and keep the
 *     counters and the content hash the End record needs.
 * Nothing here needs a model; LM payloads are opaque bytes to this layer.
 *
 * Errors are lmz_status codes with a message in an lmz_error (err may be NULL).
 */
#ifndef LMZ_FORMAT_CONTAINER_H
#define LMZ_FORMAT_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#define XXH_STATIC_LINKING_ONLY /* the hash states live inside our structs */
#include <xxhash.h>

#include "lmz.h"
#include "util/error.h"

#define LMZF_MAGIC            "\x89LMZ"
#define LMZF_MAGIC_SIZE       4
#define LMZF_FORMAT_VERSION   1
#define LMZF_FLAG_ADAPTER     0x01u /* an adapter id follows the tokenizer id */
#define LMZF_FLAG_NAME        0x02u /* a model name follows */
#define LMZF_FLAG_ADAPTER_NAME 0x04u /* an adapter name follows (with LMZF_FLAG_ADAPTER) */
#define LMZF_FLAG_KV_F16      0x08u /* the LM coder's KV cache holds F16 (6.2) */
#define LMZF_FLAG_MIX         0x10u /* LM chunks are coded mixed with adaptive models (6.5) */
#define LMZF_FLAG_MIX_VERSION 0x20u /* a mix_version byte follows keep (6.5; written by the
                                     * encoder from mix_version >= 2) */
#define LMZF_FLAGS_KNOWN      (LMZF_FLAG_ADAPTER | LMZF_FLAG_NAME | LMZF_FLAG_ADAPTER_NAME | \
                               LMZF_FLAG_KV_F16 | LMZF_FLAG_MIX | LMZF_FLAG_MIX_VERSION)
#define LMZF_MIX_VERSION_MAX  3     /* the newest mixed coding this build reads (6.5) */
#define LMZF_ID_SIZE          8     /* stored model / tokenizer / adapter identity */
#define LMZF_NAME_MAX         63
#define LMZF_HEADER_MAX_SIZE  174   /* the largest valid header */
#define LMZF_RECORD_MAX_SIZE  24    /* the largest chunk record header (LM) */
#define LMZF_END_MAX_SIZE     29
#define LMZF_CHUNK_SIZE_MAX   (1u << 30)
#define LMZF_CONTEXT_MAX      (1u << 20)

typedef enum lmzf_method {
    LMZF_METHOD_END = 0, /* the method byte of the End record */
    LMZF_METHOD_LM = 1,
    LMZF_METHOD_ZSTD = 2,
    LMZF_METHOD_RAW = 3,
    LMZF_METHOD_LM_CRLF = 4  /* LM over the content with CR LF turned into LF (4.1) */
} lmzf_method;

/* Methods whose payload the language model codes (the record stores n_tokens). */
static inline int lmzf_method_is_lm(unsigned method)
{
    return method == LMZF_METHOD_LM || method == LMZF_METHOD_LM_CRLF;
}
/* Methods this format version defines. */
static inline int lmzf_method_known(unsigned method)
{
    return method >= LMZF_METHOD_LM && method <= LMZF_METHOD_LM_CRLF;
}

/* The ids are the first LMZF_ID_SIZE bytes of the 16-byte hashes the library computes
 * (lmz_model_info); only those are stored and compared. */
typedef struct lmzf_header {
    uint8_t format_version;  /* LMZF_FORMAT_VERSION */
    uint8_t flags;           /* LMZF_FLAG_ADAPTER, _KV_F16 and _MIX are the caller's to set; the encoder
                              * writes LMZF_FLAG_NAME from model_name_len (the parser
                              * reports it as read) */
    uint8_t level;
    uint32_t chunk_size;     /* 1 .. 2^30 */
    uint32_t context;        /* 2 .. 2^20 */
    uint32_t keep;           /* 1 .. context-1 */
    uint8_t mix_version;     /* with MIX: the mixed coding's version, 1 ..
                              * LMZF_MIX_VERSION_MAX (the encoder writes the flag
                              * MIX_VERSION and the byte for 2 and up); 0 without MIX */
    uint8_t model_id[LMZF_ID_SIZE];
    uint8_t tokenizer_id[LMZF_ID_SIZE];
    uint8_t adapter_id[LMZF_ID_SIZE]; /* all zero unless flags has LMZF_FLAG_ADAPTER */
    uint8_t model_name_len;  /* 0 (no name stored) .. LMZF_NAME_MAX */
    char model_name[LMZF_NAME_MAX + 1]; /* the raw bytes, NUL-terminated after name_len */
    uint8_t adapter_name_len; /* 0 (none stored) .. LMZF_NAME_MAX; only with an adapter */
    char adapter_name[LMZF_NAME_MAX + 1];
} lmzf_header;

typedef struct lmzf_chunk {
    uint8_t method;          /* lmzf_method, not END */
    uint32_t raw_size;
    uint32_t payload_size;   /* RAW: not stored, equals raw_size */
    uint32_t n_tokens;       /* stored for LM and LM_CRLF only; 0 for ZSTD and RAW */
    uint32_t raw_check;      /* XXH32 of the content; RAW: not stored, computed from the
                              * payload by lmzf_parser_payload */
    uint32_t record_check;   /* as read: XXH32 of the record bytes before it and the
                              * payload (verified by lmzf_parser_payload) */
    uint32_t raw_seed;       /* raw_check is XXH32 of the content with this seed: 0, or a
                              * compact stream's seed (doc/format.md 11) */
} lmzf_chunk;

typedef struct lmzf_end {
    uint64_t total_size;
    uint64_t n_chunks;
    uint32_t content_check;  /* XXH32 of the stream's whole content; stored only when
                              * n_chunks >= 2, else implied (doc/format.md section 5) */
} lmzf_end;

/* ------------------------------------------------------------ fields and bytes */

/* A header with the version set and the name set from `name` (truncated to
 * LMZF_NAME_MAX bytes at a UTF-8 character boundary; NULL or "" = no name stored).
 * The caller fills the sizes and ids. */
void lmzf_header_init(lmzf_header *h, const char *name);

/* Record an adapter: its id (the first LMZF_ID_SIZE bytes of its hash) and its name
 * (truncated like the model's; NULL or "" = none stored). */
void lmzf_header_set_adapter(lmzf_header *h, const uint8_t hash[16], const char *name);

/* What is wrong with a header's or a chunk's fields, as the decoder would report it
 * (format version and flags included), or NULL if nothing.  `buf` holds the text. */
const char *lmzf_header_problem(const lmzf_header *h, char *buf, size_t cap);
const char *lmzf_chunk_problem(const lmzf_header *h, const lmzf_chunk *c, char *buf,
                               size_t cap);

/* The largest payload_size a chunk's method, raw_size and n_tokens allow. */
uint64_t lmzf_payload_max(const lmzf_chunk *c);

/* Encoded sizes: the header, a chunk record without its payload, the End record. */
size_t lmzf_header_size(const lmzf_header *h);
size_t lmzf_chunk_record_size(const lmzf_chunk *c);
size_t lmzf_end_size(const lmzf_end *e);

/* Serialize into buf, computing the check fields.  Return the bytes written, or -1 if
 * the fields are invalid (see the *_problem functions) or cap is too small.
 * lmzf_encode_chunk writes the record without its payload; record_check covers the
 * payload too, so it takes it (payload_size bytes; for RAW the content); c->raw_check
 * must be set for LM and ZSTD, c->record_check is ignored. */
int lmzf_encode_header(const lmzf_header *h, uint8_t *buf, size_t cap);
int lmzf_encode_chunk(const lmzf_header *h, const lmzf_chunk *c, const void *payload,
                      uint8_t *buf, size_t cap);
int lmzf_encode_end(const lmzf_end *e, uint8_t *buf, size_t cap);

/* The End record's layout and check: content_check is stored only when this says so,
 * and end_check is XXH32 of the End record's bytes before content_check (`fields`, n
 * bytes) followed by content_check, stored or implied. */
int lmzf_end_stores_content(uint64_t n_chunks);
uint32_t lmzf_end_check(const uint8_t *fields, size_t n, uint32_t content_check);

/* The model identity check of doc/format.md 6.4.  The hashes are the library's 16-byte
 * ones (lmz_model_info); their first LMZF_ID_SIZE bytes are compared with the stream's
 * ids.  adapter_hash NULL = no adapter.  LMZ_ERR_MODEL_MISMATCH with both models named
 * (the stream's by its id when it stores no name), or LMZ_OK. */
lmz_status lmzf_check_model(const lmzf_header *h, const uint8_t model_hash[16],
                            const uint8_t tokenizer_hash[16], const uint8_t *adapter_hash,
                            const char *loaded_name, lmz_error *err);

/* Copy a stored model name for display: control bytes become '?'. */
void lmzf_printable_name(const lmzf_header *h, char out[LMZF_NAME_MAX + 1]);
void lmzf_printable_adapter_name(const lmzf_header *h, char out[LMZF_NAME_MAX + 1]);


/* ------------------------------------------------------------ compact streams */

/* doc/format.md 11: a stream of one chunk (or none) in a few bytes. */
#define LMZF_COMPACT_TAG_MIN    0xA0u
#define LMZF_COMPACT_TAG_MAX    0xBFu
#define LMZF_COMPACT_EMPTY      0x00u   /* tag - LMZF_COMPACT_TAG_MIN */
#define LMZF_COMPACT_RAW        0x01u
#define LMZF_COMPACT_ZSTD       0x02u
#define LMZF_COMPACT_LM         0x08u   /* | CRLF | MIX | ADAPTER */
#define LMZF_COMPACT_LM_CRLF    0x01u
#define LMZF_COMPACT_LM_MIX     0x02u
#define LMZF_COMPACT_LM_ADAPTER 0x04u
#define LMZF_COMPACT_RAW_MAX    (1u << 22)
#define LMZF_COMPACT_EXT_KV_F16 0x01u
#define LMZF_COMPACT_EXT_MIX_V2 0x02u   /* with MIX: the mixed coding's version is 2 */
#define LMZF_COMPACT_EXT_MIX_V3 0x04u   /* with MIX: it is 3 (never with MIX_V2) */
#define LMZF_COMPACT_HEAD_MAX   (48 + 1 + LMZF_NAME_MAX) /* tag .. payload_size, the largest */

static inline int lmzf_is_compact_tag(unsigned byte)
{
    return byte >= LMZF_COMPACT_TAG_MIN && byte <= LMZF_COMPACT_TAG_MAX;
}

/* A built-in profile: a model and one level's parameters (doc/format.md 11). */
typedef struct lmzf_profile {
    const char *model_name;
    uint8_t model_id[LMZF_ID_SIZE];
    uint8_t tokenizer_id[LMZF_ID_SIZE];
    uint32_t context, keep, chunk_size;
    uint8_t kv_f16, level;
    uint8_t mix_version;     /* of a mixed stream under this profile */
} lmzf_profile;

/* Profile n (1..), or NULL if this build's table has none such. */
const lmzf_profile *lmzf_profile_get(unsigned n);

/* The profile whose model, tokenizer, context, keep and KV_F16 are the header's, and
 * whose mix version is the header's (version 1 for a stream without MIX), or 0. */
unsigned lmzf_profile_find(const lmzf_header *h);

/* What is wrong with a compact stream's sizes (doc/format.md 11, rule 3), or NULL. */
const char *lmzf_compact_problem(lmzf_method method, uint32_t raw_size, uint32_t payload_size,
                                 uint32_t chunk_size, char *buf, size_t cap);

/* Feed I of the check's seed: the ids of an LM stream (adapter_id NULL: none). */
void lmzf_compact_bind(XXH32_state_t *seed, const uint8_t *model_id,
                       const uint8_t *tokenizer_id, const uint8_t *adapter_id);

/* A whole compact stream for content raw[0, raw_size) coded with `method` (RAW: payload
 * NULL, the content is stored; LM and LM_CRLF: the model is h's, named by `profile`
 * when not 0, and h's MIX and ADAPTER flags are the tag's).  Returns a malloc'd buffer
 * of *size bytes, or NULL with err set (invalid fields, or no memory). */
uint8_t *lmzf_compact_encode(const lmzf_header *h, unsigned profile, lmzf_method method,
                             const void *raw, uint32_t raw_size, const void *payload,
                             uint32_t payload_size, size_t *size, lmz_error *err);

/* ------------------------------------------------------------ reader */

#define LMZF_READER_BUF 16384

typedef enum lmzf_got {
    LMZF_GOT_ALL = 0,   /* all n bytes */
    LMZF_GOT_NONE,      /* clean end of input: not one byte was left */
    LMZF_GOT_PART,      /* the input ended after *got < n bytes: truncated */
    LMZF_GOT_IOERR      /* the read function failed (also for a nonsense return value) */
} lmzf_got;

typedef struct lmzf_reader {
    lmz_read_fn read;
    void *user;
    uint64_t offset;      /* input offset of the next byte handed out */
    size_t pos, len;      /* unread bytes are buf[pos, len) */
    int at_eof;           /* read returned 0 */
    int failed;           /* read returned an error; sticky */
    uint8_t buf[LMZF_READER_BUF];
} lmzf_reader;

void lmzf_reader_init(lmzf_reader *r, lmz_read_fn read, void *user);

/* Read exactly n bytes into dst (or, with dst NULL, consume them).  When hash is not
 * NULL the bytes obtained are also fed to it.  *got (may be NULL) = bytes obtained. */
lmzf_got lmzf_reader_read(lmzf_reader *r, void *dst, size_t n, XXH32_state_t *hash,
                          size_t *got);

/* A read function over a memory buffer, for lmz_decompress_buffer and tests. */
typedef struct lmzf_memsrc {
    const uint8_t *data;
    size_t size, pos;
} lmzf_memsrc;
long long lmzf_mem_read(void *memsrc, void *buf, size_t n);

/* ------------------------------------------------------------ parser */

/* Where a record lies: everything a message about it, or a worker decoding it, needs. */
typedef struct lmzf_record {
    int is_end;          /* 1: the End record (then `end` is set), 0: a chunk */
    lmzf_chunk chunk;
    lmzf_end end;
    uint64_t index;      /* chunk index in its stream (for the End record: n_chunks) */
    uint64_t offset;     /* input offset of the record's first byte */
    uint64_t stream;     /* index of the stream in the input, 0 for the first */
} lmzf_record;

typedef struct lmzf_parser {
    lmzf_reader reader;
    lmzf_header header;        /* of the current stream */
    uint64_t stream;           /* index of the current stream */
    uint64_t stream_offset;    /* input offset of the current stream's header */
    uint64_t n_chunks;         /* chunk records read so far in the current stream */
    uint64_t total_size;       /* sum of their raw_size */
    uint32_t first_raw_check;  /* raw_check of chunk 0: a one-chunk stream's content
                                * check (doc/format.md section 5) */
    lmzf_end end;              /* the End record, once read */
    XXH32_state_t content;     /* fed by lmzf_parser_content */
    XXH32_state_t record;      /* private: record_check of the chunk being read */
    int phase;                 /* private: what may be read next */
    uint64_t trailing_at;      /* after a "trailing data" error: its offset + 1, else 0 */
    int compact;               /* the current stream is compact (doc/format.md 11) */
    int compact_chunk;         /* private: its chunk is still to be returned */
    lmzf_chunk compact_rec;    /* private: that chunk, as read from its head */
} lmzf_parser;

void lmzf_parser_init(lmzf_parser *p, lmz_read_fn read, void *user);

/* Read the next stream's header into p->header.  At the start of the input an empty
 * input is LMZ_ERR_NOT_LMZ; after an End record a clean end of input sets *found = 0
 * and returns LMZ_OK, and anything but another header is corrupt ("trailing data").
 * found may be NULL when only one stream is wanted (then *found would always be 1). */
lmz_status lmzf_parser_next_stream(lmzf_parser *p, int *found, lmz_error *err);

/* Whether the stream just begun needs the model its header names: a compact stream
 * that is not coded by the LM does not (doc/format.md 11). */
static inline int lmzf_parser_needs_model(const lmzf_parser *p)
{
    return !p->compact || (p->compact_chunk && lmzf_method_is_lm(p->compact_rec.method));
}

/* Read the next record header.  A chunk record's fields are checked against every
 * limit before this returns, so its sizes may be allocated; its payload must then be
 * read with lmzf_parser_payload before the next record, which verifies record_check
 * (it covers the record header and the payload).  The End record is checked against
 * the chunks counted (end_check, n_chunks, total_size); content_check is left to
 * lmzf_parser_check_content once the content has been decoded. */
lmz_status lmzf_parser_record(lmzf_parser *p, lmzf_record *rec, lmz_error *err);

/* Read the payload of the chunk record just read into payload (payload_size bytes;
 * NULL = only verify it) and verify record_check.  For a RAW chunk it also sets
 * rec->chunk.raw_check (computed from the payload, which is the content). */
lmz_status lmzf_parser_payload(lmzf_parser *p, lmzf_record *rec, void *payload,
                               lmz_error *err);

/* Feed decoded content, in order, for the content check. */
void lmzf_parser_content(lmzf_parser *p, const void *raw, size_t n);

/* After the End record and all content: XXH32 of the content fed == content_check. */
lmz_status lmzf_parser_check_content(lmzf_parser *p, lmz_error *err);

/* Verify a decoded chunk: n == raw_size and XXH32 == raw_check (LMZ_ERR_CORRUPT naming
 * the chunk otherwise).  Safe to call from any thread. */
lmz_status lmzf_check_raw(const lmzf_record *rec, const void *raw, size_t n,
                          lmz_error *err);

/* "chunk 3 (record at byte 1234)", with "stream 2, " in front for later streams. */
const char *lmzf_record_where(const lmzf_record *rec, char *buf, size_t cap);

/* ------------------------------------------------------------ writer */

typedef struct lmzf_writer {
    lmz_write_fn write;
    void *user;
    lmzf_header header;
    uint64_t bytes_out;     /* bytes written so far */
    uint64_t n_chunks;
    uint64_t total_size;
    XXH32_state_t content;
    int phase;              /* private */
} lmzf_writer;

/* Validate the header and write it. */
lmz_status lmzf_writer_begin(lmzf_writer *w, const lmzf_header *h, lmz_write_fn write,
                             void *user, lmz_error *err);

/* Write one chunk record and its payload.  raw is the chunk's content (it feeds
 * raw_check and the content hash, so chunks must come in order); for RAW the payload
 * is raw (pass NULL; payload_size must be raw_size).  Fields are validated as a decoder
 * would. */
lmz_status lmzf_writer_chunk(lmzf_writer *w, lmzf_method method, const void *raw,
                             uint32_t raw_size, const void *payload, uint32_t payload_size,
                             uint32_t n_tokens, lmz_error *err);

/* Write the End record.  The writer is finished afterwards. */
lmz_status lmzf_writer_end(lmzf_writer *w, lmz_error *err);

#endif
