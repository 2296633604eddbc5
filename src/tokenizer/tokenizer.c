/*
 * tokenizer.c -- building a tokenizer from its vocabulary, and the public API.
 *
 * Losslessness is structural, not tested into existence: encode only ever emits
 *   - byte tokens, checked at build to spell exactly their byte, and
 *   - tokens found by looking up the very bytes they stand for (merge results, SPM
 *     pieces, whole pre-tokens), in a map keyed by each token's decoded piece,
 * and the symbols they come from tile the input.  So decode(encode(x)) == x for any x.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode_cat.h"

void tok_fail(int e, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    errno = e;
}

void tok_free(tokenizer *t)
{
    if (!t)
        return;
    free(t->piece_bytes);
    free(t->piece_off);
    free(t->scores);
    tok_strmap_free(&t->pieces);
    tok_pairmap_free(&t->merges);
    tok_pairmap_free(&t->adjacent);
    tok_pairmap_free(&t->char_sym);
    free(t);
}

/* Decode GPT-2 alphabet text into bytes; -1 if a character is not in the alphabet. */
static int gpt2_decode(const int16_t inv[TOK_GPT2_CP_END], const uint8_t *s, size_t n,
                       uint8_t *out, size_t *out_len)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += tok_utf8_decode(s + i, n - i, &cp);
        if (cp >= TOK_GPT2_CP_END || inv[cp] < 0)
            return -1;
        out[k++] = (uint8_t)inv[cp];
    }
    *out_len = k;
    return 0;
}

/* SentencePiece text: U+2581 stands for a space. */
static size_t spm_unescape(const uint8_t *s, size_t n, uint8_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && s[i] == 0xE2 && s[i + 1] == 0x96 && s[i + 2] == 0x81) {
            out[k++] = ' ';
            i += 3;
        } else {
            out[k++] = s[i++];
        }
    }
    return k;
}

static int hex_digit(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* "<0xXX>" -> XX, else -1. */
static int parse_byte_token(const uint8_t *s, size_t n)
{
    if (n != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>')
        return -1;
    int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
    return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

static const char *kind_name(tok_kind kind)
{
    return kind == TOK_BPE_GPT2 ? "gpt2" : "llama";
}

/* Piece of token i into t->piece_bytes at *used; sets *mergeable.  0, or -1 + message. */
static int build_piece(tokenizer *t, const tok_spec *spec, const int16_t inv[TOK_GPT2_CP_END],
                       uint32_t i, uint64_t *used, int *mergeable, char *err, size_t errlen)
{
    const uint8_t *raw = (const uint8_t *)spec->tokens[i].ptr;
    size_t n = (size_t)spec->tokens[i].len;
    int32_t type = spec->types ? spec->types[i] : TOK_TYPE_NORMAL;
    uint8_t *out = t->piece_bytes + *used;
    size_t len = 0;
    *mergeable = 0;
    if (n && !raw) {
        tok_fail(EINVAL, err, errlen, "tokenizer: token %u has no text", i);
        return -1;
    }
    switch (type) {
    case 0:                 /* LLAMA_TOKEN_TYPE_UNDEFINED of old converters: as normal */
    case TOK_TYPE_NORMAL:
        if (spec->kind == TOK_BPE_GPT2) {
            if (gpt2_decode(inv, raw, n, out, &len) == 0) {
                *mergeable = len > 0;
            } else {        /* not byte-level text: never produced, decodes as written */
                memcpy(out, raw, n);
                len = n;
            }
        } else {
            len = spm_unescape(raw, n, out);
            *mergeable = len > 0;
        }
        break;
    case TOK_TYPE_UNUSED:
        if (spec->kind == TOK_SPM_LLAMA)
            len = spm_unescape(raw, n, out);
        break;
    case TOK_TYPE_USER_DEFINED:
        memcpy(out, raw, n);
        len = n;
        break;
    case TOK_TYPE_BYTE: {
        int b = parse_byte_token(raw, n);
        if (b < 0) {
            tok_fail(EINVAL, err, errlen,
                     "tokenizer: token %u has type BYTE but its text '%.*s' is not <0xXX>",
                     i, (int)(n > 32 ? 32 : n), (const char *)raw);
            return -1;
        }
        out[0] = (uint8_t)b;
        len = 1;
        if (spec->kind == TOK_SPM_LLAMA && t->byte_token[b] < 0)
            t->byte_token[b] = (int32_t)i;
        break;
    }
    case TOK_TYPE_CONTROL:
    case TOK_TYPE_UNKNOWN:
        break;      /* BOS, EOS, <unk>...: contribute nothing to the text */
    default:
        tok_fail(EINVAL, err, errlen,
                 "tokenizer: token %u has unknown token type %d", i, (int)type);
        return -1;
    }
    *used += len;
    t->piece_off[i + 1] = *used;
    return 0;
}

static int build_pieces(tokenizer *t, const tok_spec *spec, char *err, size_t errlen)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < spec->n_tokens; i++)
        total += spec->tokens[i].len;   /* a decoded piece is never longer than its text */
    t->piece_bytes = malloc(total ? total : 1);
    t->piece_off = malloc(((size_t)spec->n_tokens + 1) * sizeof *t->piece_off);
    uint8_t *mergeable = malloc(spec->n_tokens);
    int rc = -1;
    if (!t->piece_bytes || !t->piece_off || !mergeable) {
        tok_fail(ENOMEM, err, errlen, "tokenizer: out of memory for %u tokens", spec->n_tokens);
        goto out;
    }
    int16_t inv[TOK_GPT2_CP_END];
    tok_gpt2_inverse(inv);
    uint64_t used = 0, n_mergeable = 0;
    t->piece_off[0] = 0;
    for (uint32_t i = 0; i < spec->n_tokens; i++) {
        int m;
        if (build_piece(t, spec, inv, i, &used, &m, err, errlen))
            goto out;
        mergeable[i] = (uint8_t)m;
        n_mergeable += (uint64_t)m;
    }
    if (tok_strmap_init(&t->pieces, n_mergeable)) {
        tok_fail(ENOMEM, err, errlen, "tokenizer: out of memory for the piece map");
        goto out;
    }
    for (uint32_t i = 0; i < spec->n_tokens; i++) {
        if (!mergeable[i])
            continue;
        tok_strmap_insert(&t->pieces, t, (int32_t)i);     /* a duplicate keeps the first id */
        size_t len = (size_t)(t->piece_off[i + 1] - t->piece_off[i]);
        if (len > t->max_piece_len)
            t->max_piece_len = len;
    }
    rc = 0;
out:
    free(mergeable);
    return rc;
}

static int check_byte_tokens(tokenizer *t, char *err, size_t errlen)
{
    for (int b = 0; b < 256; b++) {
        if (t->kind == TOK_BPE_GPT2) {
            uint8_t byte = (uint8_t)b;
            t->byte_token[b] = tok_strmap_find(&t->pieces, t, &byte, 1);
        }
        if (t->byte_token[b] < 0) {
            if (t->kind == TOK_BPE_GPT2)
                tok_fail(EINVAL, err, errlen,
                         "tokenizer: gpt2 vocabulary has no token for byte 0x%02X "
                         "(a byte-level BPE vocabulary needs all 256 to encode any input)", b);
            else
                tok_fail(EINVAL, err, errlen,
                         "tokenizer: llama vocabulary has no <0x%02X> byte token "
                         "(lmz needs byte fallback for all 256 bytes to encode any input)", b);
            return -1;
        }
    }
    return 0;
}

static int build_merges(tokenizer *t, const tok_spec *spec, char *err, size_t errlen)
{
    if (spec->n_merges > INT32_MAX) {
        tok_fail(EINVAL, err, errlen, "tokenizer: %llu merges is too many",
                 (unsigned long long)spec->n_merges);
        return -1;
    }
    if (tok_pairmap_init(&t->merges, spec->n_merges)) {
        tok_fail(ENOMEM, err, errlen, "tokenizer: out of memory for %llu merges",
                 (unsigned long long)spec->n_merges);
        return -1;
    }
    int16_t inv[TOK_GPT2_CP_END];
    tok_gpt2_inverse(inv);
    uint8_t *buf = NULL;
    size_t buf_cap = 0;
    for (uint64_t r = 0; r < spec->n_merges; r++) {
        const uint8_t *s = (const uint8_t *)spec->merges[r].ptr;
        size_t n = (size_t)spec->merges[r].len;
        if (n > buf_cap) {
            uint8_t *nb = realloc(buf, n);
            if (!nb) {
                free(buf);
                tok_fail(ENOMEM, err, errlen, "tokenizer: out of memory reading merges");
                return -1;
            }
            buf = nb;
            buf_cap = n;
        }
        /* "left right": ' ' is not in the GPT-2 alphabet, so the first one (searched from
         * index 1, as llama.cpp does) separates the two parts */
        size_t sp = 1;
        while (sp < n && s[sp] != ' ')
            sp++;
        size_t la, lb;
        if (sp >= n || gpt2_decode(inv, s, sp, buf, &la) ||
            gpt2_decode(inv, s + sp + 1, n - sp - 1, buf + la, &lb) || la == 0 || lb == 0)
            continue;           /* malformed: cannot fire, as in llama.cpp */
        int32_t left = tok_strmap_find(&t->pieces, t, buf, la);
        int32_t right = tok_strmap_find(&t->pieces, t, buf + la, lb);
        int32_t result = tok_strmap_find(&t->pieces, t, buf, la + lb);
        if (left < 0 || right < 0 || result < 0)
            continue;           /* a merge must join two tokens into a token */
        if (tok_pairmap_insert(&t->merges, (uint32_t)left, (uint32_t)right, (uint32_t)r, result)) {
            free(buf);
            tok_fail(ENOMEM, err, errlen, "tokenizer: out of memory for the merge table");
            return -1;
        }
    }
    free(buf);
    return 0;
}

/* Little-endian serialization into the identity hash. */
static void hash_u64(XXH3_state_t *st, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    XXH3_128bits_update(st, b, sizeof b);
}

static void hash_bytes(XXH3_state_t *st, const void *p, uint64_t n)
{
    hash_u64(st, n);
    if (n)
        XXH3_128bits_update(st, p, (size_t)n);
}

static int compute_hash(tokenizer *t, const tok_spec *spec)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return -1;
    XXH3_128bits_reset(st);
    static const char tag[] = "lmz tokenizer v1";
    hash_bytes(st, tag, sizeof tag - 1);
    /* the character classes decide the split too */
    hash_bytes(st, tok_ucat_unicode_version, strlen(tok_ucat_unicode_version));
    hash_u64(st, (uint64_t)t->kind);
    hash_u64(st, t->kind == TOK_BPE_GPT2 ? (uint64_t)t->pre : 0);
    hash_u64(st, (uint64_t)t->ignore_merges);
    hash_u64(st, spec->n_tokens);
    for (uint32_t i = 0; i < spec->n_tokens; i++) {
        hash_bytes(st, spec->tokens[i].ptr, spec->tokens[i].len);
        hash_u64(st, (uint64_t)(uint32_t)(spec->types ? spec->types[i] : TOK_TYPE_NORMAL));
        if (t->kind == TOK_SPM_LLAMA) {
            uint32_t bits;
            memcpy(&bits, &t->scores[i], sizeof bits);
            hash_u64(st, bits);
        }
    }
    if (t->kind == TOK_BPE_GPT2) {
        hash_u64(st, spec->n_merges);
        for (uint64_t r = 0; r < spec->n_merges; r++)
            hash_bytes(st, spec->merges[r].ptr, spec->merges[r].len);
    }
    hash_u64(st, (uint64_t)(int64_t)t->bos);
    hash_u64(st, (uint64_t)(int64_t)t->eos);
    XXH128_hash_t h = XXH3_128bits_digest(st);
    XXH3_freeState(st);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    memcpy(t->hash, c.digest, 16);
    return 0;
}

tokenizer *tok_build(const tok_spec *spec, char *err, size_t errlen)
{
    if (spec->kind != TOK_BPE_GPT2 && spec->kind != TOK_SPM_LLAMA) {
        tok_fail(EINVAL, err, errlen, "tokenizer: unknown kind %d", (int)spec->kind);
        return NULL;
    }
    if (spec->n_tokens == 0 || !spec->tokens || spec->n_tokens > INT32_MAX) {
        tok_fail(EINVAL, err, errlen,
                 "tokenizer: %s vocabulary with %u tokens", kind_name(spec->kind),
                 spec->n_tokens);
        return NULL;
    }
    if (spec->kind == TOK_BPE_GPT2 && spec->n_merges && !spec->merges) {
        tok_fail(EINVAL, err, errlen, "tokenizer: merges missing");
        return NULL;
    }
    if ((spec->bos < -1 || spec->bos >= (int64_t)spec->n_tokens) ||
        (spec->eos < -1 || spec->eos >= (int64_t)spec->n_tokens)) {
        tok_fail(EINVAL, err, errlen,
                 "tokenizer: bos %d / eos %d outside the vocabulary of %u tokens",
                 (int)spec->bos, (int)spec->eos, spec->n_tokens);
        return NULL;
    }
    tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        tok_fail(ENOMEM, err, errlen, "tokenizer: out of memory");
        return NULL;
    }
    t->kind = spec->kind;
    t->n_vocab = spec->n_tokens;
    t->bos = spec->bos;
    t->eos = spec->eos;
    t->pre = TOK_PRE_GPT2;
    if (spec->kind == TOK_BPE_GPT2)
        t->pre = tok_pre_from_name(spec->pre.ptr, (size_t)spec->pre.len, &t->ignore_merges);
    for (int b = 0; b < 256; b++)
        t->byte_token[b] = -1;
    if (spec->kind == TOK_SPM_LLAMA) {
        t->scores = calloc(spec->n_tokens, sizeof *t->scores);
        if (!t->scores) {
            tok_fail(ENOMEM, err, errlen, "tokenizer: out of memory");
            goto fail;
        }
        if (spec->scores)
            memcpy(t->scores, spec->scores, spec->n_tokens * sizeof *t->scores);
    }
    if (build_pieces(t, spec, err, errlen) || check_byte_tokens(t, err, errlen))
        goto fail;
    if (spec->kind == TOK_BPE_GPT2 && build_merges(t, spec, err, errlen))
        goto fail;
    if (spec->kind == TOK_SPM_LLAMA && tok_spm_build_tables(t)) {
        tok_fail(ENOMEM, err, errlen, "tokenizer: out of memory");
        goto fail;
    }
    if (compute_hash(t, spec)) {
        tok_fail(ENOMEM, err, errlen, "tokenizer: out of memory");
        goto fail;
    }
    return t;
fail:
    tok_free(t);
    return NULL;
}

tok_kind tok_get_kind(const tokenizer *t) { return t->kind; }
uint32_t tok_n_vocab(const tokenizer *t) { return t->n_vocab; }
int32_t tok_bos(const tokenizer *t) { return t->bos; }
int32_t tok_eos(const tokenizer *t) { return t->eos; }

long tok_encode(const tokenizer *t, const uint8_t *text, size_t n, int32_t *out, size_t cap)
{
    tok_sink sink = {out, out ? cap : 0, 0};
    tok_work w = {0};
    int rc = 0;
    for (size_t off = 0; off < n && rc == 0;) {
        size_t len = n - off > TOK_MAX_WINDOW ? TOK_MAX_WINDOW : n - off;
        rc = t->kind == TOK_BPE_GPT2 ? tok_bpe_encode(t, &w, text + off, len, &sink)
                                     : tok_spm_encode(t, &w, text + off, len, &sink);
        off += len;
    }
    tok_work_free(&w);
    return rc ? -1 : (long)sink.count;
}

const uint8_t *tok_piece(const tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || (uint32_t)id >= t->n_vocab) {
        *len = 0;
        return NULL;
    }
    *len = (size_t)(t->piece_off[id + 1] - t->piece_off[id]);
    return t->piece_bytes + t->piece_off[id];
}

long tok_decode(const tokenizer *t, const int32_t *ids, size_t n, uint8_t *out, size_t cap)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const uint8_t *p = tok_piece(t, ids[i], &len);
        if (!p)
            return -1;
        if (total < cap)
            memcpy(out + total, p, len <= cap - total ? len : cap - total);
        total += len;
    }
    return (long)total;
}

void tok_hash(const tokenizer *t, uint8_t out[16])
{
    memcpy(out, t->hash, 16);
}
