/*
 * test_tokenizer.c -- the tokenizers: known-answer pre-token splits and merges, the
 * lossless property on random and hostile bytes for both kinds, vocabulary checks,
 * the identity hash and the GGUF glue.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode_cat.h"
#include "tokenizer/tokenizer.h"

/* ------------------------------------------------------------------ helpers */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;        /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint32_t rng_below(uint64_t *s, uint32_t n)
{
    return (uint32_t)(rng_next(s) % n);
}

static size_t put_utf8(uint8_t *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* GPT-2's byte -> code point table, written independently of the library's
 * (reference/make_model.py gpt2_byte_to_unicode). */
static uint32_t gpt2_cp(uint8_t b)
{
    int keep[256] = {0};
    for (int c = '!'; c <= '~'; c++) keep[c] = 1;
    for (int c = 0xA1; c <= 0xAC; c++) keep[c] = 1;
    for (int c = 0xAE; c <= 0xFF; c++) keep[c] = 1;
    if (keep[b])
        return b;
    uint32_t extra = 0;
    for (int c = 0; c < b; c++)
        extra += !keep[c];
    return 256 + extra;
}

/* Spell bytes in the GPT-2 alphabet into a new string. */
static char *gpt2_spell(const uint8_t *s, size_t n)
{
    char *out = malloc(4 * n + 1);
    assert_non_null(out);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += put_utf8((uint8_t *)out + k, gpt2_cp(s[i]));
    out[k] = 0;
    return out;
}

/* A growable vocabulary under construction. */
typedef struct vocab {
    char **tokens;
    int32_t *types;
    float *scores;
    size_t n, cap;
    char **merges;
    size_t n_merges, cap_merges;
} vocab;

static int32_t vocab_find(const vocab *v, const char *text)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->tokens[i], text) == 0)
            return (int32_t)i;
    return -1;
}

static int32_t vocab_add(vocab *v, const char *text, int32_t type, float score)
{
    int32_t id = vocab_find(v, text);
    if (id >= 0)
        return id;
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 512;
        v->tokens = realloc(v->tokens, v->cap * sizeof *v->tokens);
        v->types = realloc(v->types, v->cap * sizeof *v->types);
        v->scores = realloc(v->scores, v->cap * sizeof *v->scores);
        assert_non_null(v->tokens);
        assert_non_null(v->types);
        assert_non_null(v->scores);
    }
    v->tokens[v->n] = strdup(text);
    assert_non_null(v->tokens[v->n]);
    v->types[v->n] = type;
    v->scores[v->n] = score;
    return (int32_t)v->n++;
}

static void vocab_add_merge(vocab *v, const char *left, const char *right)
{
    if (v->n_merges == v->cap_merges) {
        v->cap_merges = v->cap_merges ? 2 * v->cap_merges : 512;
        v->merges = realloc(v->merges, v->cap_merges * sizeof *v->merges);
        assert_non_null(v->merges);
    }
    char *m = malloc(strlen(left) + strlen(right) + 2);
    assert_non_null(m);
    sprintf(m, "%s %s", left, right);
    v->merges[v->n_merges++] = m;
}

static void vocab_free(vocab *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->tokens[i]);
    for (size_t i = 0; i < v->n_merges; i++)
        free(v->merges[i]);
    free(v->tokens);
    free(v->types);
    free(v->scores);
    free(v->merges);
    memset(v, 0, sizeof *v);
}

typedef struct built {
    gguf_str *tokens;
    gguf_str *merges;
    tok_spec spec;
} built;

static gguf_str str_of(const char *s)
{
    gguf_str g = {s, strlen(s)};
    return g;
}

static tokenizer *vocab_build(const vocab *v, tok_kind kind, const char *pre, int32_t bos,
                              int32_t eos, char *err, size_t errlen)
{
    gguf_str *tokens = malloc((v->n ? v->n : 1) * sizeof *tokens);
    gguf_str *merges = malloc((v->n_merges ? v->n_merges : 1) * sizeof *merges);
    assert_non_null(tokens);
    assert_non_null(merges);
    for (size_t i = 0; i < v->n; i++)
        tokens[i] = str_of(v->tokens[i]);
    for (size_t i = 0; i < v->n_merges; i++)
        merges[i] = str_of(v->merges[i]);
    tok_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.kind = kind;
    if (pre)
        spec.pre = str_of(pre);
    spec.n_tokens = (uint32_t)v->n;
    spec.tokens = tokens;
    spec.types = v->types;
    spec.scores = kind == TOK_SPM_LLAMA ? v->scores : NULL;
    spec.n_merges = kind == TOK_BPE_GPT2 ? v->n_merges : 0;
    spec.merges = merges;
    spec.bos = bos;
    spec.eos = eos;
    tokenizer *t = tok_build(&spec, err, errlen);
    free(tokens);
    free(merges);
    return t;
}

/* Words the test vocabularies know, so that merges really happen on the test inputs. */
static const char *const words[] = {
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on",
    "be", "at", "by", "this", "have", "from", "or", "one", "had", "not", "but", "what",
    "all", "were", "when", "we", "there", "can", "an", "your", "which", "their", "said",
    "if", "do", "will", "each", "about", "how", "up", "out", "them", "then", "she", "many",
    "some", "so", "these", "would", "other", "into", "has", "more", "her", "two", "like",
    "Hello", "world", "token", "lossless", "compress", "ing", "er", "ed", "'s", "'t", "\n\n",
    "  ", "    ", "\t", "123", "2024", "caf\xc3\xa9", "na\xc3\xafve", "\xe4\xbd\xa0\xe5\xa5\xbd",
    "\xe4\xb8\x96\xe7\x95\x8c", "\xf0\x9f\x98\x80", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
    "\xd9\xa1\xd9\xa2\xd9\xa3", "r\xc3\xa9sum\xc3\xa9", "<|end", "()", "{}", "==", "->",
};
#define N_WORDS (sizeof words / sizeof words[0])

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* 256 byte tokens in the GPT-2 alphabet, then merges learned by real BPE training on the
 * word list (each word and ' ' + word once): repeatedly merge the most frequent adjacent
 * pair (ties: smallest ids), so the merges are consistent the way real vocabularies'
 * are, until every word is one token; then <|endoftext|> as a control token. */
static void gpt2_vocab(vocab *v)
{
    memset(v, 0, sizeof *v);
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        char *s = gpt2_spell(&byte, 1);
        vocab_add(v, s, TOK_TYPE_NORMAL, 0);
        free(s);
    }
    enum { MAXW = 2 * N_WORDS, MAXL = 64 };
    int32_t sym[MAXW][MAXL];
    size_t len[MAXW], n_words = 0, total = 0;
    for (size_t i = 0; i < N_WORDS; i++) {
        for (int space = 0; space < 2; space++) {
            size_t k = 0;
            if (space)
                sym[n_words][k++] = ' ';
            for (const char *c = words[i]; *c; c++)
                sym[n_words][k++] = (uint8_t)*c;
            len[n_words++] = k;
            total += k;
        }
    }
    uint64_t *pairs = malloc(total * sizeof *pairs);
    assert_non_null(pairs);
    for (;;) {
        size_t np = 0;
        for (size_t w = 0; w < n_words; w++)
            for (size_t k = 1; k < len[w]; k++)
                pairs[np++] = ((uint64_t)sym[w][k - 1] << 32) | (uint32_t)sym[w][k];
        if (np == 0)
            break;
        qsort(pairs, np, sizeof *pairs, cmp_u64);
        uint64_t best = pairs[0];
        size_t best_count = 0;
        for (size_t i = 0; i < np;) {
            size_t j = i;
            while (j < np && pairs[j] == pairs[i])
                j++;
            if (j - i > best_count) {
                best_count = j - i;
                best = pairs[i];
            }
            i = j;
        }
        int32_t left = (int32_t)(best >> 32), right = (int32_t)(uint32_t)best;
        char *joined = malloc(strlen(v->tokens[left]) + strlen(v->tokens[right]) + 1);
        assert_non_null(joined);
        sprintf(joined, "%s%s", v->tokens[left], v->tokens[right]);
        vocab_add_merge(v, v->tokens[left], v->tokens[right]);
        int32_t id = vocab_add(v, joined, TOK_TYPE_NORMAL, 0);
        free(joined);
        for (size_t w = 0; w < n_words; w++) {
            size_t out = 0;
            for (size_t k = 0; k < len[w]; k++) {
                if (k + 1 < len[w] && sym[w][k] == left && sym[w][k + 1] == right) {
                    sym[w][out++] = id;
                    k++;
                } else {
                    sym[w][out++] = sym[w][k];
                }
            }
            len[w] = out;
        }
    }
    free(pairs);
    vocab_add(v, "<|endoftext|>", TOK_TYPE_CONTROL, 0);
}

/* <unk> <s> </s>, 256 <0xXX>, then every prefix of the words (and of "▁" + word) with a
 * score that prefers longer pieces. */
static void spm_vocab(vocab *v)
{
    memset(v, 0, sizeof *v);
    vocab_add(v, "<unk>", TOK_TYPE_UNKNOWN, 0);
    vocab_add(v, "<s>", TOK_TYPE_CONTROL, 0);
    vocab_add(v, "</s>", TOK_TYPE_CONTROL, 0);
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        vocab_add(v, s, TOK_TYPE_BYTE, 0);
    }
    for (size_t i = 0; i < N_WORDS; i++) {
        for (int space = 0; space < 2; space++) {
            char w[80];
            snprintf(w, sizeof w, "%s%s", space ? "\xe2\x96\x81" : "", words[i]);
            size_t n = strlen(w);
            for (size_t k = 1; k <= n; k++) {
                if (k < n && (w[k] & 0xC0) == 0x80)
                    continue;       /* whole characters only */
                char piece[80];
                memcpy(piece, w, k);
                piece[k] = 0;
                vocab_add(v, piece, TOK_TYPE_NORMAL, -10.0f / (float)k - 0.001f * (float)i);
            }
        }
    }
}

static tokenizer *make_gpt2(const char *pre)
{
    vocab v;
    char err[256] = "";
    gpt2_vocab(&v);
    int32_t eot = (int32_t)v.n - 1;
    tokenizer *t = vocab_build(&v, TOK_BPE_GPT2, pre, eot, eot, err, sizeof err);
    if (!t)
        fail_msg("tok_build gpt2: %s", err);
    vocab_free(&v);
    return t;
}

static tokenizer *make_spm(void)
{
    vocab v;
    char err[256] = "";
    spm_vocab(&v);
    tokenizer *t = vocab_build(&v, TOK_SPM_LLAMA, NULL, 1, 2, err, sizeof err);
    if (!t)
        fail_msg("tok_build llama: %s", err);
    vocab_free(&v);
    return t;
}

/* Encode into the n + 1 ids the contract promises are enough, decode, compare; also
 * checks the id range. */
static void check_roundtrip(const tokenizer *t, const uint8_t *text, size_t n)
{
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    assert_non_null(ids);
    long need = tok_encode(t, text, n, ids, n + 1);
    assert_true(need >= 0);
    assert_true((size_t)need <= n + 1);
    for (long i = 0; i < need; i++) {
        assert_true(ids[i] >= 0 && (uint32_t)ids[i] < tok_n_vocab(t));
        size_t len;
        assert_non_null(tok_piece(t, ids[i], &len));
        assert_true(len > 0);       /* no empty (control) token is ever produced */
    }
    long back = tok_decode(t, ids, (size_t)need, NULL, 0);
    assert_int_equal(back, (long)n);
    uint8_t *out = malloc(n + 1);
    assert_non_null(out);
    assert_int_equal(tok_decode(t, ids, (size_t)need, out, n), (long)n);
    if (n && memcmp(out, text, n) != 0) {
        size_t i = 0;
        while (out[i] == text[i])
            i++;
        fail_msg("roundtrip differs at byte %zu of %zu", i, n);
    }
    free(out);
    free(ids);
}

/* Ids of text, written to a fresh array (*n_ids). */
static int32_t *encode_all(const tokenizer *t, const char *text, size_t n, size_t *n_ids)
{
    long need = tok_encode(t, (const uint8_t *)text, n, NULL, 0);
    assert_true(need >= 0);
    int32_t *ids = malloc(((size_t)need + 1) * sizeof *ids);
    assert_non_null(ids);
    assert_int_equal(tok_encode(t, (const uint8_t *)text, n, ids, (size_t)need), need);
    *n_ids = (size_t)need;
    return ids;
}

/* The pieces of the encoding of text, joined with '|'. */
static void pieces_of(const tokenizer *t, const char *text, char *out, size_t cap)
{
    size_t n_ids, k = 0;
    int32_t *ids = encode_all(t, text, strlen(text), &n_ids);
    for (size_t i = 0; i < n_ids; i++) {
        size_t len;
        const uint8_t *p = tok_piece(t, ids[i], &len);
        assert_true(k + len + 2 < cap);
        if (i)
            out[k++] = '|';
        memcpy(out + k, p, len);
        k += len;
    }
    out[k] = 0;
    free(ids);
}

/* ------------------------------------------------------ characters, classes */

static void test_utf8_and_classes(void **state)
{
    (void)state;
    static const struct { const char *s; size_t n, len; uint32_t cp; } dec[] = {
        {"A", 1, 1, 'A'},
        {"\xc3\xa9", 2, 2, 0xE9},
        {"\xe2\x96\x81", 3, 3, 0x2581},
        {"\xf0\x9f\x98\x80", 4, 4, 0x1F600},
        {"\xf4\x8f\xbf\xbf", 4, 4, 0x10FFFF},
        {"\xc0\x80", 2, 1, TOK_CP_INVALID},          /* overlong NUL */
        {"\xc1\xbf", 2, 1, TOK_CP_INVALID},
        {"\xe0\x80\x80", 3, 1, TOK_CP_INVALID},      /* overlong */
        {"\xf0\x80\x80\x80", 4, 1, TOK_CP_INVALID},
        {"\xed\xa0\x80", 3, 1, TOK_CP_INVALID},      /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, 1, TOK_CP_INVALID}, /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 4, 1, TOK_CP_INVALID},
        {"\xff", 1, 1, TOK_CP_INVALID},
        {"\x80", 1, 1, TOK_CP_INVALID},                /* lone continuation */
        {"\xe4\xbd", 2, 1, TOK_CP_INVALID},            /* truncated */
        {"\xe4\xbdx", 3, 1, TOK_CP_INVALID},
    };
    for (size_t i = 0; i < sizeof dec / sizeof dec[0]; i++) {
        uint32_t cp;
        assert_int_equal(tok_utf8_decode((const uint8_t *)dec[i].s, dec[i].n, &cp), dec[i].len);
        assert_int_equal(cp, dec[i].cp);
    }
    static const struct { uint32_t cp; tok_ucat cat; } cls[] = {
        {'a', TOK_UCAT_LETTER}, {'Z', TOK_UCAT_LETTER}, {'7', TOK_UCAT_NUMBER},
        {'_', TOK_UCAT_OTHER}, {' ', TOK_UCAT_SPACE}, {'\t', TOK_UCAT_SPACE},
        {0x0B, TOK_UCAT_SPACE}, {0x1C, TOK_UCAT_OTHER}, {0x85, TOK_UCAT_SPACE},
        {0xA0, TOK_UCAT_SPACE}, {0xAA, TOK_UCAT_LETTER}, {0xBD, TOK_UCAT_NUMBER},
        {0x301, TOK_UCAT_OTHER} /* combining mark */, {0x660, TOK_UCAT_NUMBER},
        {0x2163, TOK_UCAT_NUMBER}, {0x3000, TOK_UCAT_SPACE}, {0x4E2D, TOK_UCAT_LETTER},
        {0xAC00, TOK_UCAT_LETTER}, {0xFEFF, TOK_UCAT_OTHER}, {0xE000, TOK_UCAT_OTHER},
        {0x1F600, TOK_UCAT_OTHER}, {0x20000, TOK_UCAT_LETTER}, {0x10FFFF, TOK_UCAT_OTHER},
        {TOK_CP_INVALID, TOK_UCAT_OTHER},
    };
    for (size_t i = 0; i < sizeof cls / sizeof cls[0]; i++) {
        if (tok_ucat_of(cls[i].cp) != cls[i].cat)
            fail_msg("class of U+%04X", cls[i].cp);
    }
}

/* ------------------------------------------------------- pre-tokenizer splits */

/* The pre-tokens of text under pre, joined with '|'. */
static void split(tok_pre pre, const char *text, size_t n, char *out, size_t cap)
{
    tok_pretok it;
    size_t start, len, k = 0, expect = 0;
    tok_pretok_init(&it, pre, (const uint8_t *)text, n);
    while (tok_pretok_next(&it, &start, &len)) {
        assert_int_equal(start, expect);    /* pieces tile the text */
        assert_true(len > 0);
        assert_true(k + len + 2 < cap);
        if (start)
            out[k++] = '|';
        memcpy(out + k, text + start, len);
        k += len;
        expect = start + len;
    }
    assert_int_equal(expect, n);
    out[k] = 0;
}

static void expect_split(tok_pre pre, const char *text, const char *expected)
{
    char got[1024];
    split(pre, text, strlen(text), got, sizeof got);
    if (strcmp(got, expected) != 0)
        fail_msg("%s split of \"%s\": got \"%s\", expected \"%s\"", tok_pre_name(pre), text,
                 got, expected);
}

static void test_split_gpt2(void **state)
{
    (void)state;
    expect_split(TOK_PRE_GPT2, "Hello world's 123  \n", "Hello| world|'s| 123|  \n");
    expect_split(TOK_PRE_GPT2, "a  b", "a| | b");
    expect_split(TOK_PRE_GPT2, "a\tb", "a|\t|b");
    expect_split(TOK_PRE_GPT2, "a \t b", "a| \t| b");
    expect_split(TOK_PRE_GPT2, "x!!  y", "x|!!| | y");
    expect_split(TOK_PRE_GPT2, "I'M can't we'll they're", "I|'|M| can|'t| we|'ll| they|'re");
    expect_split(TOK_PRE_GPT2, "x 'sup", "x| '|sup");
    expect_split(TOK_PRE_GPT2, "abc123def", "abc|123|def");
    expect_split(TOK_PRE_GPT2, "end.  ", "end|.|  ");
    /* \s+(?!\S) backtracks: "\r\n" before a letter is two pre-tokens */
    expect_split(TOK_PRE_GPT2, "line1\r\nline2\n", "line|1|\r|\n|line|2|\n");
    expect_split(TOK_PRE_GPT2, "   lead", "  | lead");
    /* letters and digits beyond ASCII; emoji and punctuation are "other" */
    expect_split(TOK_PRE_GPT2, "\xe4\xbd\xa0\xe5\xa5\xbd \xe4\xb8\x96\xe7\x95\x8c",
                 "\xe4\xbd\xa0\xe5\xa5\xbd| \xe4\xb8\x96\xe7\x95\x8c");
    expect_split(TOK_PRE_GPT2, "caf\xc3\xa9 x\xd9\xa1\xd9\xa2", "caf\xc3\xa9| x|\xd9\xa1\xd9\xa2");
    expect_split(TOK_PRE_GPT2, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80! ok", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80!| ok");
    /* U+00A0 is \s but not ' ': it does not attach to the next word */
    expect_split(TOK_PRE_GPT2, "a\xc2\xa0" "b", "a|\xc2\xa0|b");
    /* invalid bytes are "other" characters, one byte each */
    expect_split(TOK_PRE_GPT2, "a\xff\xfe" "b \x80", "a|\xff\xfe|b| \x80");
    expect_split(TOK_PRE_GPT2, "\xe4\xbd", "\xe4\xbd");
}

static void test_split_llama3_qwen2_smollm(void **state)
{
    (void)state;
    expect_split(TOK_PRE_LLAMA3, "Hello world's 123  \n", "Hello| world|'s| |123|  \n");
    expect_split(TOK_PRE_LLAMA3, "I'M WE'LL x'Re", "I|'M| WE|'LL| x|'Re");
    expect_split(TOK_PRE_LLAMA3, "1234567", "123|456|7");
    expect_split(TOK_PRE_LLAMA3, "(hello) \"x\"", "(hello|)| \"|x|\"");
    expect_split(TOK_PRE_LLAMA3, "a \n\n b", "a| \n\n| b");
    expect_split(TOK_PRE_LLAMA3, "!!!\n\nabc", "!!!\n\n|abc");
    expect_split(TOK_PRE_LLAMA3, "x\t\ty", "x|\t|\ty");
    expect_split(TOK_PRE_LLAMA3, "x   ", "x|   ");
    expect_split(TOK_PRE_LLAMA3, "\r\n\r\nx", "\r\n\r\n|x");
    expect_split(TOK_PRE_LLAMA3, "3.14", "3|.|14");
    expect_split(TOK_PRE_LLAMA3, "it\xc5\xbf 'S '\xc5\xbf", "it\xc5\xbf| '|S| '|\xc5\xbf");
    expect_split(TOK_PRE_LLAMA3, "don'\xc5\xbf", "don|'\xc5\xbf");
    expect_split(TOK_PRE_QWEN2, "x 2024!", "x| |2|0|2|4|!");
    expect_split(TOK_PRE_QWEN2, "I'M", "I|'M");
    expect_split(TOK_PRE_SMOLLM, "abc 123 x", "abc| |1|2|3| x");
    expect_split(TOK_PRE_SMOLLM, "a  1", "a|  |1");
    expect_split(TOK_PRE_SMOLLM, "v2.0's", "v|2|.|0|'s");
}

static void test_pre_names(void **state)
{
    (void)state;
    int im;
    assert_int_equal(tok_pre_from_name("gpt-2", 5, &im), TOK_PRE_GPT2);
    assert_int_equal(im, 0);
    assert_int_equal(tok_pre_from_name("llama-bpe", 9, &im), TOK_PRE_LLAMA3);
    assert_int_equal(im, 1);
    assert_int_equal(tok_pre_from_name("qwen2", 5, &im), TOK_PRE_QWEN2);
    assert_int_equal(tok_pre_from_name("smollm", 6, &im), TOK_PRE_SMOLLM);
    assert_int_equal(tok_pre_from_name("no-such-pre", 11, &im), TOK_PRE_GPT2);
    assert_int_equal(im, 0);
    assert_int_equal(tok_pre_from_name(NULL, 0, &im), TOK_PRE_GPT2);
    assert_int_equal(tok_pre_from_name("qwen", 4, &im), TOK_PRE_GPT2);   /* exact names only */
}

/* ------------------------------------------------------------ known answers */

static void test_gpt2_known_answers(void **state)
{
    (void)state;
    tokenizer *t = make_gpt2("gpt-2");
    char got[512];
    pieces_of(t, "Hello world's 123  \n", got, sizeof got);
    assert_string_equal(got, "Hello| world|'s| 123|  |\n");
    pieces_of(t, " the thex caf\xc3\xa9", got, sizeof got);
    assert_string_equal(got, " the| the|x| caf\xc3\xa9");
    assert_int_equal(tok_get_kind(t), TOK_BPE_GPT2);
    assert_int_equal(tok_bos(t), (int32_t)tok_n_vocab(t) - 1);
    /* the space byte is spelled U+0120 and decodes to ' '; control tokens decode to nothing */
    size_t n_ids;
    int32_t *ids = encode_all(t, " ", 1, &n_ids);
    assert_int_equal(n_ids, 1);
    size_t len;
    const uint8_t *p = tok_piece(t, ids[0], &len);
    assert_int_equal(len, 1);
    assert_int_equal(p[0], ' ');
    free(ids);
    p = tok_piece(t, tok_eos(t), &len);
    assert_non_null(p);
    assert_int_equal(len, 0);
    assert_null(tok_piece(t, -1, &len));
    assert_null(tok_piece(t, (int32_t)tok_n_vocab(t), &len));
    /* literal special-token text is plain text, never the control token */
    ids = encode_all(t, "<|endoftext|>", 13, &n_ids);
    for (size_t i = 0; i < n_ids; i++)
        assert_int_not_equal(ids[i], tok_eos(t));
    free(ids);
    tok_free(t);
}

/* Build a byte-level vocab with extra (left, right) merges in the given order. */
static tokenizer *gpt2_with_merges(const char *const *merge_pairs, size_t n_pairs, const char *pre)
{
    vocab v;
    memset(&v, 0, sizeof v);
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        char *s = gpt2_spell(&byte, 1);
        vocab_add(&v, s, TOK_TYPE_NORMAL, 0);
        free(s);
    }
    for (size_t i = 0; i < n_pairs; i++) {
        char joined[64];
        snprintf(joined, sizeof joined, "%s%s", merge_pairs[2 * i], merge_pairs[2 * i + 1]);
        vocab_add(&v, joined, TOK_TYPE_NORMAL, 0);
        vocab_add_merge(&v, merge_pairs[2 * i], merge_pairs[2 * i + 1]);
    }
    vocab_add(&v, "abc", TOK_TYPE_NORMAL, 0);        /* reachable by no merge */
    char err[256];
    tokenizer *t = vocab_build(&v, TOK_BPE_GPT2, pre, -1, -1, err, sizeof err);
    if (!t)
        fail_msg("%s", err);
    vocab_free(&v);
    return t;
}

static void test_gpt2_merge_order(void **state)
{
    (void)state;
    char got[256];
    const char *ab_first[] = {"a", "b", "b", "c"};
    tokenizer *t = gpt2_with_merges(ab_first, 2, "gpt-2");
    pieces_of(t, "abc", got, sizeof got);
    assert_string_equal(got, "ab|c");
    tok_free(t);
    const char *bc_first[] = {"b", "c", "a", "b"};
    t = gpt2_with_merges(bc_first, 2, "gpt-2");
    pieces_of(t, "abc", got, sizeof got);
    assert_string_equal(got, "a|bc");
    pieces_of(t, "abab", got, sizeof got);      /* equal ranks: leftmost first */
    assert_string_equal(got, "ab|ab");
    tok_free(t);
    /* a chain where a later merge needs an earlier one's result */
    const char *chain[] = {"a", "a", "aa", "aa", "aaaa", "a"};
    t = gpt2_with_merges(chain, 3, "gpt-2");
    pieces_of(t, "aaaaa", got, sizeof got);
    assert_string_equal(got, "aaaaa");
    pieces_of(t, "aaaaaaa", got, sizeof got);   /* aa|aa|aa|a -> aaaa|aa|a, no (aaaa, aa) merge */
    assert_string_equal(got, "aaaa|aa|a");
    tok_free(t);
    /* ignore_merges (Llama 3 family): a whole pre-token that is a token is taken as is */
    t = gpt2_with_merges(ab_first, 2, "llama-bpe");
    pieces_of(t, "abc", got, sizeof got);
    assert_string_equal(got, "abc");
    tok_free(t);
    t = gpt2_with_merges(ab_first, 2, "llama3");
    pieces_of(t, "abcabc\nabc", got, sizeof got);
    assert_string_equal(got, "ab|c|ab|c|\n|abc");
    tok_free(t);
}

static void test_spm_known_answers(void **state)
{
    (void)state;
    tokenizer *t = make_spm();
    char got[512];
    assert_int_equal(tok_get_kind(t), TOK_SPM_LLAMA);
    assert_int_equal(tok_bos(t), 1);
    assert_int_equal(tok_eos(t), 2);
    /* no dummy prefix: "the" is not " the" */
    pieces_of(t, "the the", got, sizeof got);
    assert_string_equal(got, "the| the");
    /* 'q' and 'z' are in no piece: byte fallback, one token per byte */
    size_t n_ids;
    int32_t *ids = encode_all(t, "qz", 2, &n_ids);
    assert_int_equal(n_ids, 2);
    assert_int_equal(ids[0], 3 + 'q');
    assert_int_equal(ids[1], 3 + 'z');
    free(ids);
    /* a literal U+2581 in the input is not a space: it stays three bytes */
    ids = encode_all(t, "\xe2\x96\x81the", 6, &n_ids);
    assert_true(n_ids >= 4);
    assert_int_equal(ids[0], 3 + 0xE2);
    assert_int_equal(ids[1], 3 + 0x96);
    assert_int_equal(ids[2], 3 + 0x81);
    free(ids);
    /* a multi-byte character no piece covers: all its bytes */
    ids = encode_all(t, "\xe2\x82\xac", 3, &n_ids);
    assert_int_equal(n_ids, 3);
    assert_int_equal(ids[0], 3 + 0xE2);
    free(ids);
    size_t len;
    const uint8_t *p = tok_piece(t, 3 + 0x0A, &len);
    assert_int_equal(len, 1);
    assert_int_equal(p[0], '\n');
    p = tok_piece(t, 1, &len);      /* <s> */
    assert_int_equal(len, 0);
    tok_free(t);
}

static void test_spm_score_order(void **state)
{
    (void)state;
    for (int ab_better = 0; ab_better < 2; ab_better++) {
        vocab v;
        memset(&v, 0, sizeof v);
        for (int b = 0; b < 256; b++) {
            char s[8];
            snprintf(s, sizeof s, "<0x%02X>", b);
            vocab_add(&v, s, TOK_TYPE_BYTE, 0);
        }
        vocab_add(&v, "a", TOK_TYPE_NORMAL, -5);
        vocab_add(&v, "b", TOK_TYPE_NORMAL, -5);
        vocab_add(&v, "c", TOK_TYPE_NORMAL, -5);
        vocab_add(&v, "ab", TOK_TYPE_NORMAL, ab_better ? -1.0f : -2.0f);
        vocab_add(&v, "bc", TOK_TYPE_NORMAL, ab_better ? -2.0f : -1.0f);
        vocab_add(&v, "\xe2\x96\x81" "a", TOK_TYPE_NORMAL, -0.5f);
        char err[256];
        tokenizer *t = vocab_build(&v, TOK_SPM_LLAMA, NULL, -1, -1, err, sizeof err);
        assert_non_null(t);
        assert_int_equal(tok_bos(t), -1);
        char got[64];
        pieces_of(t, "abc", got, sizeof got);
        assert_string_equal(got, ab_better ? "ab|c" : "a|bc");
        pieces_of(t, "x abc", got, sizeof got);
        assert_string_equal(got, "x| a|bc");     /* "\xe2\x96\x81" "a" scores best */
        tok_free(t);
        vocab_free(&v);
    }
}

/* ------------------------------------------------------------------ lossless */

/* Random text: ASCII words and punctuation, whitespace of all kinds, valid multi-byte
 * UTF-8 and every kind of invalid byte sequence. */
static size_t random_text(uint64_t *rng, uint8_t *out, size_t max)
{
    static const char *const junk[] = {
        "\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80", "\xed\xbf\xbf",
        "\xf4\x90\x80\x80", "\xf5", "\xf8\x88\x80\x80\x80", "\xfe", "\xff", "\xe4\xbd",
        "\xf0\x9f\x98", "\xc3", "\x00", "\r\n", "\r", "\t", "\x0b\x0c", "\xe2\x96\x81",
        "\xc2\xa0", "\xe3\x80\x80", "'s", "'LL", "<|endoftext|>", "<0x41>", "\xc5\xbf",
    };
    size_t n = 0;
    size_t target = rng_below(rng, (uint32_t)max + 1);
    while (n + 16 < target) {
        switch (rng_below(rng, 8)) {
        case 0:
        case 1: {
            const char *w = words[rng_below(rng, N_WORDS)];
            if (rng_below(rng, 2))
                out[n++] = ' ';
            size_t l = strlen(w);
            if (n + l < target) {
                memcpy(out + n, w, l);
                n += l;
            }
            break;
        }
        case 2:
            out[n++] = (uint8_t)(0x20 + rng_below(rng, 95));
            break;
        case 3: {
            static const char ws[] = " \t\n\r\x0b\x0c";
            size_t k = 1 + rng_below(rng, 4);
            for (size_t i = 0; i < k; i++)
                out[n++] = (uint8_t)ws[rng_below(rng, 6)];
            break;
        }
        case 4: {       /* a valid code point from any plane, no surrogates */
            uint32_t cp;
            switch (rng_below(rng, 4)) {
            case 0: cp = 0x80 + rng_below(rng, 0x780); break;
            case 1: cp = 0x800 + rng_below(rng, 0xF800); break;
            case 2: cp = 0x4E00 + rng_below(rng, 0x5000); break;
            default: cp = 0x10000 + rng_below(rng, 0x100000); break;
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD;
            n += put_utf8(out + n, cp);
            break;
        }
        case 5: {
            const char *j = junk[rng_below(rng, sizeof junk / sizeof junk[0])];
            size_t l = j[0] ? strlen(j) : 1;
            memcpy(out + n, j, l);
            n += l;
            break;
        }
        case 6:
            out[n++] = (uint8_t)('0' + rng_below(rng, 10));
            break;
        default:
            out[n++] = (uint8_t)rng_next(rng);
            break;
        }
    }
    return n;
}

static void roundtrip_random(const tokenizer *t, uint64_t seed, int iterations)
{
    uint8_t buf[600];
    uint64_t rng = seed;
    for (int it = 0; it < iterations; it++) {
        size_t n = random_text(&rng, buf, sizeof buf - 16);
        check_roundtrip(t, buf, n);
    }
    /* pure random bytes too */
    for (int it = 0; it < iterations / 4; it++) {
        size_t n = rng_below(&rng, 200);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rng_next(&rng);
        check_roundtrip(t, buf, n);
    }
}

static const char *const edge_cases[] = {
    "", " ", "  ", "\n", "\r\n", "\r\n\r\n", "\t", " \t \n", "a", "a ", " a", "a  b  ", "\xff",
    "\x80\x80", "\xe2\x96\x81", "\xe2\x96", "\xf0\x9f\x98\x80", "'", "''s", "'s'", "1", " 1",
    "<s>", "</s>", "<unk>", "<0x00>",
};

static void test_lossless_gpt2(void **state)
{
    (void)state;
    static const char *const pres[] = {"gpt-2", "llama3", "qwen2", "smollm", "unknown-pre", NULL};
    for (size_t p = 0; p < sizeof pres / sizeof pres[0]; p++) {
        tokenizer *t = make_gpt2(pres[p]);
        for (size_t i = 0; i < sizeof edge_cases / sizeof edge_cases[0]; i++)
            check_roundtrip(t, (const uint8_t *)edge_cases[i], strlen(edge_cases[i]));
        const uint8_t nul[3] = {0, 'a', 0};
        check_roundtrip(t, nul, 3);
        roundtrip_random(t, 0x1234 + p, 600);
        tok_free(t);
    }
}

static void test_lossless_spm(void **state)
{
    (void)state;
    tokenizer *t = make_spm();
    for (size_t i = 0; i < sizeof edge_cases / sizeof edge_cases[0]; i++)
        check_roundtrip(t, (const uint8_t *)edge_cases[i], strlen(edge_cases[i]));
    const uint8_t nul[3] = {0, 'a', 0};
    check_roundtrip(t, nul, 3);
    roundtrip_random(t, 0x9876, 2000);
    tok_free(t);
}

/* Every single byte and every byte pair, for both kinds. */
static void test_lossless_all_bytes(void **state)
{
    (void)state;
    tokenizer *ts[2] = {make_gpt2("llama3"), make_spm()};
    for (int k = 0; k < 2; k++) {
        for (int a = 0; a < 256; a++) {
            uint8_t one = (uint8_t)a;
            check_roundtrip(ts[k], &one, 1);
            size_t n_ids;
            int32_t *ids = encode_all(ts[k], (const char *)&one, 1, &n_ids);
            assert_int_equal(n_ids, 1);
            free(ids);
        }
        for (int a = 0; a < 256; a += 3) {
            for (int b = 0; b < 256; b += 5) {
                uint8_t two[2] = {(uint8_t)a, (uint8_t)b};
                check_roundtrip(ts[k], two, 2);
            }
        }
        tok_free(ts[k]);
    }
}

/* 1 MB lines: with spaces, without any whitespace, one repeated letter (the worst case
 * for merging), random bytes, and spaces then a letter; all must stay fast (O(n log n)). */
static void test_lossless_megabyte(void **state)
{
    (void)state;
    const size_t n = 1 << 20;
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    tokenizer *ts[3] = {make_gpt2("gpt-2"), make_gpt2("llama3"), make_spm()};
    uint64_t rng = 42;
    for (int variant = 0; variant < 5; variant++) {
        for (size_t i = 0; i < n; i++) {
            if (variant == 0)
                buf[i] = (i % 7 == 6) ? ' ' : (uint8_t)('a' + rng_below(&rng, 26));
            else if (variant == 1)
                buf[i] = (uint8_t)('a' + rng_below(&rng, 26));
            else if (variant == 2)
                buf[i] = 'a';
            else if (variant == 3)
                buf[i] = (uint8_t)rng_next(&rng);
            else
                buf[i] = i + 1 < n ? ' ' : 'x';
        }
        for (int k = 0; k < 3; k++)
            check_roundtrip(ts[k], buf, n);
    }
    for (int k = 0; k < 3; k++)
        tok_free(ts[k]);
    free(buf);
}

/* A slice of real text from the shared data, if present. */
static void test_lossless_real_text(void **state)
{
    (void)state;
    const char *shared = getenv("LMZ_SHARED") ? getenv("LMZ_SHARED") : "../shared";
    char path[1024];
    snprintf(path, sizeof path, "%s/data/llm-gpt-4o-2024-05-13.txt", shared);
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_message("skipping: %s not found\n", path);
        skip();
    }
    uint8_t *buf = malloc(200000);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 200000, f);
    fclose(f);
    assert_true(n > 0);
    tokenizer *ts[3] = {make_gpt2("gpt-2"), make_gpt2("llama3"), make_spm()};
    for (int k = 0; k < 3; k++) {
        check_roundtrip(ts[k], buf, n);
        size_t n_ids;
        int32_t *ids = encode_all(ts[k], (const char *)buf, n, &n_ids);
        print_message("kind %d: %zu bytes -> %zu tokens\n", k, n, n_ids);
        assert_true(n_ids < n * 8 / 10);   /* the word merges do fire on real text */
        free(ids);
    }
    for (int k = 0; k < 3; k++)
        tok_free(ts[k]);
    free(buf);
}

/* ------------------------------------------- agreement with naive references */

/* Quadratic reference of llama.cpp's SPM: chars as symbols, repeatedly merge the
 * leftmost adjacent pair whose concatenation is the best-scoring piece, then byte
 * fallback.  Looks pieces up by their bytes: no merge table, no segmentation. */
static size_t spm_reference(const tokenizer *t, const uint8_t *s, size_t n, int32_t *out)
{
    size_t *start = malloc((n + 1) * sizeof *start), k = 0;
    assert_non_null(start);
    for (size_t pos = 0; pos < n; k++) {
        uint32_t key;
        start[k] = pos;
        pos += tok_spm_char(s + pos, n - pos, &key);
    }
    start[k] = n;       /* symbol i spans start[i]..start[i + 1] */
    for (;;) {
        size_t best = SIZE_MAX;
        float best_score = 0;
        for (size_t i = 0; i + 1 < k; i++) {
            int32_t id = tok_strmap_find(&t->pieces, t, s + start[i], start[i + 2] - start[i]);
            if (id >= 0 && (best == SIZE_MAX || t->scores[id] > best_score)) {
                best = i;
                best_score = t->scores[id];
            }
        }
        if (best == SIZE_MAX)
            break;
        memmove(start + best + 1, start + best + 2, (k - best - 1) * sizeof *start);
        k--;
    }
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        int32_t id = tok_strmap_find(&t->pieces, t, s + start[i], start[i + 1] - start[i]);
        if (id >= 0) {
            out[m++] = id;
        } else {
            for (size_t j = start[i]; j < start[i + 1]; j++)
                out[m++] = t->byte_token[s[j]];
        }
    }
    free(start);
    return m;
}

/* Quadratic reference of byte-level BPE on one pre-token: bytes as symbols, repeatedly
 * apply the lowest-ranked merge at its leftmost place. */
static size_t bpe_reference_word(const tokenizer *t, const uint8_t *s, size_t n, int32_t *out)
{
    if (t->ignore_merges) {
        int32_t id = tok_strmap_find(&t->pieces, t, s, n);
        if (id >= 0) {
            out[0] = id;
            return 1;
        }
    }
    size_t *start = malloc((n + 1) * sizeof *start), k = n;
    assert_non_null(start);
    for (size_t i = 0; i <= n; i++)
        start[i] = i;
    for (;;) {
        size_t best = SIZE_MAX;
        uint32_t best_rank = 0;
        for (size_t i = 0; i + 1 < k; i++) {
            int32_t l = tok_strmap_find(&t->pieces, t, s + start[i], start[i + 1] - start[i]);
            int32_t r = tok_strmap_find(&t->pieces, t, s + start[i + 1], start[i + 2] - start[i + 1]);
            const tok_merge *m = tok_pairmap_find(&t->merges, (uint32_t)l, (uint32_t)r);
            if (m && (best == SIZE_MAX || m->prio < best_rank)) {
                best = i;
                best_rank = m->prio;
            }
        }
        if (best == SIZE_MAX)
            break;
        memmove(start + best + 1, start + best + 2, (k - best - 1) * sizeof *start);
        k--;
    }
    for (size_t i = 0; i < k; i++)
        out[i] = tok_strmap_find(&t->pieces, t, s + start[i], start[i + 1] - start[i]);
    free(start);
    return k;
}

static size_t bpe_reference(const tokenizer *t, const uint8_t *s, size_t n, int32_t *out)
{
    tok_pretok it;
    size_t start, len, m = 0;
    tok_pretok_init(&it, t->pre, s, n);
    while (tok_pretok_next(&it, &start, &len))
        m += bpe_reference_word(t, s + start, len, out + m);
    return m;
}

static void compare_with_reference(const tokenizer *t, uint64_t seed, int iterations)
{
    uint8_t buf[300];
    int32_t ref[300], got[301];
    uint64_t rng = seed;
    for (int it = 0; it < iterations; it++) {
        size_t n = random_text(&rng, buf, sizeof buf - 16);
        size_t m = tok_get_kind(t) == TOK_SPM_LLAMA ? spm_reference(t, buf, n, ref)
                                                    : bpe_reference(t, buf, n, ref);
        long k = tok_encode(t, buf, n, got, 301);
        assert_int_equal(k, (long)m);
        assert_memory_equal(got, ref, m * sizeof *ref);
    }
}

static void test_matches_reference(void **state)
{
    (void)state;
    static const char *const pres[] = {"gpt-2", "llama3", "qwen2", "smollm"};
    for (size_t p = 0; p < 4; p++) {
        tokenizer *t = make_gpt2(pres[p]);
        compare_with_reference(t, 77 + p, 300);
        tok_free(t);
    }
    tokenizer *t = make_spm();
    compare_with_reference(t, 99, 1000);
    tok_free(t);
}

/* SPM segmentation must not cut where a piece joins two characters, and characters that
 * only occur inside pieces must still merge. */
static void test_spm_pieces_across_spaces(void **state)
{
    (void)state;
    vocab v;
    memset(&v, 0, sizeof v);
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        vocab_add(&v, s, TOK_TYPE_BYTE, 0);
    }
    int32_t xy = vocab_add(&v, "x\xe2\x96\x81y", TOK_TYPE_NORMAL, -1);    /* "x y" */
    vocab_add(&v, "x\xe2\x96\x81", TOK_TYPE_NORMAL, -2);
    vocab_add(&v, "x", TOK_TYPE_NORMAL, -3);
    int32_t ab = vocab_add(&v, "ab", TOK_TYPE_NORMAL, -1);   /* neither "a" nor "b" is a piece */
    int32_t ee = vocab_add(&v, "\xc3\xa9\xe2\x96\x81\xc3\xa9", TOK_TYPE_NORMAL, -1);
    vocab_add(&v, "\xc3\xa9\xe2\x96\x81", TOK_TYPE_NORMAL, -2);
    char err[256];
    tokenizer *t = vocab_build(&v, TOK_SPM_LLAMA, NULL, -1, -1, err, sizeof err);
    assert_non_null(t);
    size_t n_ids;
    int32_t *ids = encode_all(t, "x y", 3, &n_ids);
    assert_int_equal(n_ids, 1);
    assert_int_equal(ids[0], xy);
    free(ids);
    ids = encode_all(t, "ab a", 4, &n_ids);
    assert_int_equal(n_ids, 3);
    assert_int_equal(ids[0], ab);
    assert_int_equal(ids[1], ' ');          /* byte tokens are ids 0..255 here */
    assert_int_equal(ids[2], 'a');
    free(ids);
    ids = encode_all(t, "z\xc3\xa9 \xc3\xa9!", 7, &n_ids);
    assert_int_equal(n_ids, 3);
    assert_int_equal(ids[0], 'z');
    assert_int_equal(ids[1], ee);
    assert_int_equal(ids[2], '!');
    free(ids);
    compare_with_reference(t, 5, 200);
    tok_free(t);
    vocab_free(&v);
}

/* ------------------------------------------------------------ API semantics */

static void test_encode_decode_buffers(void **state)
{
    (void)state;
    tokenizer *t = make_gpt2("gpt-2");
    const char *text = "the cat sat on the mat";
    size_t n = strlen(text);
    long need = tok_encode(t, (const uint8_t *)text, n, NULL, 0);
    assert_true(need > 2);
    int32_t full[64], part[64];
    assert_int_equal(tok_encode(t, (const uint8_t *)text, n, full, 64), need);
    for (int i = 0; i < 64; i++)
        part[i] = -7;
    assert_int_equal(tok_encode(t, (const uint8_t *)text, n, part, 2), need);
    assert_int_equal(part[0], full[0]);
    assert_int_equal(part[1], full[1]);
    assert_int_equal(part[2], -7);          /* nothing written past cap */
    assert_int_equal(tok_encode(t, NULL, 0, NULL, 0), 0);
    uint8_t out[64];
    memset(out, 0, sizeof out);
    assert_int_equal(tok_decode(t, full, (size_t)need, out, 5), (long)n);
    assert_memory_equal(out, text, 5);
    assert_int_equal(out[5], 0);
    int32_t bad[2] = {full[0], (int32_t)tok_n_vocab(t)};
    assert_int_equal(tok_decode(t, bad, 2, out, sizeof out), -1);
    bad[1] = -1;
    assert_int_equal(tok_decode(t, bad, 2, out, sizeof out), -1);
    /* BOS decodes to nothing, so BOS + ids decodes to the text */
    int32_t with_bos[65];
    with_bos[0] = tok_bos(t);
    memcpy(with_bos + 1, full, (size_t)need * sizeof *full);
    assert_int_equal(tok_decode(t, with_bos, (size_t)need + 1, out, sizeof out), (long)n);
    assert_memory_equal(out, text, n);
    tok_free(t);
}

/* ------------------------------------------------------------- load errors */

static void test_missing_byte_tokens(void **state)
{
    (void)state;
    char err[256] = "";
    vocab v;
    gpt2_vocab(&v);
    free(v.tokens[0x41]);
    v.tokens[0x41] = strdup("<not-a-byte>");    /* the vocab loses 'A' */
    assert_null(vocab_build(&v, TOK_BPE_GPT2, "gpt-2", -1, -1, err, sizeof err));
    assert_non_null(strstr(err, "0x41"));
    vocab_free(&v);

    spm_vocab(&v);
    v.types[3 + 0x7F] = TOK_TYPE_NORMAL;        /* <0x7F> no longer a byte token */
    err[0] = 0;
    assert_null(vocab_build(&v, TOK_SPM_LLAMA, NULL, 1, 2, err, sizeof err));
    assert_non_null(strstr(err, "<0x7F>"));
    vocab_free(&v);

    spm_vocab(&v);
    v.types[10] = 9;                            /* no such token type */
    err[0] = 0;
    assert_null(vocab_build(&v, TOK_SPM_LLAMA, NULL, 1, 2, err, sizeof err));
    assert_non_null(strstr(err, "type"));
    vocab_free(&v);

    spm_vocab(&v);
    free(v.tokens[5]);
    v.tokens[5] = strdup("<0xZZ>");             /* BYTE type with a bad spelling */
    err[0] = 0;
    assert_null(vocab_build(&v, TOK_SPM_LLAMA, NULL, 1, 2, err, sizeof err));
    assert_non_null(strstr(err, "<0xZZ>"));
    vocab_free(&v);

    spm_vocab(&v);
    v.types[300] = 0;                           /* UNDEFINED (old converters): normal */
    tokenizer *t = vocab_build(&v, TOK_SPM_LLAMA, NULL, 1, 2, err, sizeof err);
    assert_non_null(t);
    size_t len;
    assert_non_null(tok_piece(t, 300, &len));
    assert_true(len > 0);
    tok_free(t);
    err[0] = 0;
    assert_null(vocab_build(&v, TOK_SPM_LLAMA, NULL, (int32_t)v.n, 2, err, sizeof err));
    assert_true(err[0] != 0);
    vocab_free(&v);
}

/* Merges that cannot fire (malformed, parts or result not in the vocab) are ignored. */
static void test_bad_merges_ignored(void **state)
{
    (void)state;
    vocab v;
    gpt2_vocab(&v);
    vocab_add_merge(&v, "q", "z");          /* "qz" is no token */
    vocab_add_merge(&v, "nospace", "");
    v.merges[v.n_merges - 1][7] = 0;        /* "nospace" without a separator */
    vocab_add_merge(&v, "\xe2\x82\xac", "x"); /* not in the byte alphabet */
    char err[256];
    tokenizer *t = vocab_build(&v, TOK_BPE_GPT2, "gpt-2", -1, -1, err, sizeof err);
    assert_non_null(t);
    char got[64];
    pieces_of(t, "qz the", got, sizeof got);
    assert_string_equal(got, "q|z| the");
    tok_free(t);
    vocab_free(&v);
}

/* ------------------------------------------------------------------- hash */

static void hash_of_gpt2(vocab *v, const char *pre, int32_t bos, uint8_t out[16])
{
    char err[256];
    tokenizer *t = vocab_build(v, TOK_BPE_GPT2, pre, bos, bos, err, sizeof err);
    if (!t)
        fail_msg("%s", err);
    tok_hash(t, out);
    tok_free(t);
}

static void test_hash(void **state)
{
    (void)state;
    vocab v;
    uint8_t h0[16], h1[16];
    gpt2_vocab(&v);
    int32_t eot = (int32_t)v.n - 1;
    hash_of_gpt2(&v, "gpt-2", eot, h0);
    hash_of_gpt2(&v, "gpt-2", eot, h1);
    assert_memory_equal(h0, h1, 16);
    hash_of_gpt2(&v, "mpt", eot, h1);           /* another name for the same split */
    assert_memory_equal(h0, h1, 16);
    hash_of_gpt2(&v, "llama3", eot, h1);
    assert_memory_not_equal(h0, h1, 16);
    hash_of_gpt2(&v, "gpt-2", -1, h1);
    assert_memory_not_equal(h0, h1, 16);
    /* swap two merges */
    char *m = v.merges[3];
    v.merges[3] = v.merges[4];
    v.merges[4] = m;
    hash_of_gpt2(&v, "gpt-2", eot, h1);
    assert_memory_not_equal(h0, h1, 16);
    v.merges[4] = v.merges[3];
    v.merges[3] = m;
    v.types[300] = TOK_TYPE_USER_DEFINED;
    hash_of_gpt2(&v, "gpt-2", eot, h1);
    assert_memory_not_equal(h0, h1, 16);
    v.types[300] = TOK_TYPE_NORMAL;
    v.tokens[300][0] ^= 1;
    hash_of_gpt2(&v, "gpt-2", eot, h1);
    assert_memory_not_equal(h0, h1, 16);
    vocab_free(&v);

    char err[256];
    spm_vocab(&v);
    tokenizer *a = vocab_build(&v, TOK_SPM_LLAMA, NULL, 1, 2, err, sizeof err);
    v.scores[300] += 0.5f;
    tokenizer *b = vocab_build(&v, TOK_SPM_LLAMA, NULL, 1, 2, err, sizeof err);
    assert_non_null(a);
    assert_non_null(b);
    tok_hash(a, h0);
    tok_hash(b, h1);
    assert_memory_not_equal(h0, h1, 16);
    tok_free(a);
    tok_free(b);
    vocab_free(&v);
}

/* ------------------------------------------------------------------- GGUF */

static tokenizer *load_from_writer(gguf_writer *w, gguf_file *f, uint8_t **mem, char *err,
                                   size_t errlen)
{
    size_t size;
    assert_int_equal(gguf_writer_write_mem(w, mem, &size, err, errlen), 0);
    assert_int_equal(gguf_parse(f, *mem, size, err, errlen), 0);
    return tok_load_gguf(f, err, errlen);
}

static void test_gguf_load(void **state)
{
    (void)state;
    char err[256] = "";
    for (int kind = 0; kind < 2; kind++) {
        vocab v;
        if (kind == 0)
            gpt2_vocab(&v);
        else
            spm_vocab(&v);
        gguf_writer *w = gguf_writer_new();
        assert_non_null(w);
        gguf_writer_set_str(w, "general.architecture", "llama");
        gguf_writer_set_str(w, "tokenizer.ggml.model", kind == 0 ? "gpt2" : "llama");
        gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.tokens, v.n);
        gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", v.types, v.n);
        int32_t bos = kind == 0 ? (int32_t)v.n - 1 : 1, eos = kind == 0 ? bos : 2;
        if (kind == 0) {
            gguf_writer_set_str(w, "tokenizer.ggml.pre", "llama-bpe");
            gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v.merges,
                                    v.n_merges);
        } else {
            gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", v.scores, v.n);
        }
        gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
        gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
        gguf_file f;
        uint8_t *mem = NULL;
        tokenizer *t = load_from_writer(w, &f, &mem, err, sizeof err);
        if (!t)
            fail_msg("tok_load_gguf: %s", err);
        tokenizer *ref = vocab_build(&v, kind == 0 ? TOK_BPE_GPT2 : TOK_SPM_LLAMA,
                                     kind == 0 ? "llama-bpe" : NULL, bos, eos, err, sizeof err);
        assert_non_null(ref);
        uint8_t h0[16], h1[16];
        tok_hash(t, h0);
        tok_hash(ref, h1);
        assert_memory_equal(h0, h1, 16);
        assert_int_equal(tok_n_vocab(t), v.n);
        assert_int_equal(tok_bos(t), bos);
        assert_int_equal(tok_get_kind(t), kind == 0 ? TOK_BPE_GPT2 : TOK_SPM_LLAMA);
        const char *text = "Hello world's 123 caf\xc3\xa9 \xff!";
        size_t na, nb;
        int32_t *ia = encode_all(t, text, strlen(text), &na);
        int32_t *ib = encode_all(ref, text, strlen(text), &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(ia, ib, na * sizeof *ia);
        free(ia);
        free(ib);
        tok_free(t);
        tok_free(ref);
        gguf_close(&f);
        free(mem);

        /* the same file with an unsupported model, or without merges: clear errors */
        gguf_writer_set_str(w, "tokenizer.ggml.model", "bert");
        err[0] = 0;
        assert_null(load_from_writer(w, &f, &mem, err, sizeof err));
        assert_non_null(strstr(err, "bert"));
        gguf_close(&f);
        free(mem);
        gguf_writer_free(w);
        vocab_free(&v);
    }
    gguf_writer *w = gguf_writer_new();
    const char *toks[] = {"a"};
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 1);
    gguf_file f;
    uint8_t *mem = NULL;
    err[0] = 0;
    assert_null(load_from_writer(w, &f, &mem, err, sizeof err));
    assert_non_null(strstr(err, "merges"));
    gguf_close(&f);
    free(mem);
    gguf_writer_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_and_classes),
        cmocka_unit_test(test_split_gpt2),
        cmocka_unit_test(test_split_llama3_qwen2_smollm),
        cmocka_unit_test(test_pre_names),
        cmocka_unit_test(test_gpt2_known_answers),
        cmocka_unit_test(test_gpt2_merge_order),
        cmocka_unit_test(test_spm_known_answers),
        cmocka_unit_test(test_spm_score_order),
        cmocka_unit_test(test_lossless_gpt2),
        cmocka_unit_test(test_lossless_spm),
        cmocka_unit_test(test_lossless_all_bytes),
        cmocka_unit_test(test_lossless_megabyte),
        cmocka_unit_test(test_lossless_real_text),
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_spm_pieces_across_spaces),
        cmocka_unit_test(test_encode_decode_buffers),
        cmocka_unit_test(test_missing_byte_tokens),
        cmocka_unit_test(test_bad_merges_ignored),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_gguf_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
