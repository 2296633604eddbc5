/*
 * test_bpe_train.c -- BPE training: a hand-computed case, agreement with a slow
 * independent implementation (merges and final segmentation), the GGUF written for the
 * tokenizer (loads, lossless, encodes like the reference), determinism, the word cap,
 * and the document splitter.
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
#include "train/bpe_train.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tok_internal.h"
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

/* Text with a Zipf-ish vocabulary of syllable words, digits, punctuation, newlines and
 * some multi-byte UTF-8, so that many pairs tie. */
static size_t make_text(uint8_t *buf, size_t cap, uint64_t seed)
{
    static const char *const syl[] = {"th", "e", "an", "re", "on", "ing", "a", "st", "é", "ß",
                                      "qu", "x", "ion", "日本", "er", "o"};
    static const char *const punct[] = {", ", ". ", "\n", "\n\n", "; ", "(", ") ", " 42 ",
                                        " 2024", "'s ", "  ", "\t"};
    uint64_t s = seed;
    size_t n = 0;
    while (n + 64 < cap) {
        uint64_t r = rng_next(&s);
        if (r % 7 == 0) {
            const char *p = punct[(r >> 8) % 12];
            memcpy(buf + n, p, strlen(p));
            n += strlen(p);
            continue;
        }
        /* word: 1-4 syllables, lower index more likely */
        int k = 1 + (int)((r >> 16) % 4);
        for (int i = 0; i < k; i++) {
            uint64_t q = rng_next(&s);
            const char *p = syl[(q % 16) * ((q >> 8) % 16) / 16];
            memcpy(buf + n, p, strlen(p));
            n += strlen(p);
        }
        buf[n++] = ' ';
    }
    return n;
}

static bpe_counter *count_text(tok_pre pre, const uint8_t *text, size_t n, uint64_t max_words)
{
    bpe_counter *c = bpe_counter_new(pre, max_words, 0);
    assert_non_null(c);
    assert_int_equal(bpe_counter_add(c, text, n), 0);
    return c;
}

static bpe_vocab train_text(tok_pre pre, const uint8_t *text, size_t n, uint32_t vocab,
                            uint64_t min_count)
{
    bpe_counter *c = count_text(pre, text, n, 0);
    bpe_train_opts o = {vocab, min_count, 0};
    bpe_vocab v;
    char err[256];
    assert_int_equal(bpe_train(c, &o, &v, err, sizeof err), 0);
    bpe_counter_free(c);
    return v;
}

static uint8_t *vocab_gguf(const bpe_vocab *v, size_t *size)
{
    gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    bpe_vocab_to_gguf(v, w);
    uint8_t *buf;
    char err[256];
    assert_int_equal(gguf_writer_write_mem(w, &buf, size, err, sizeof err), 0);
    gguf_writer_free(w);
    return buf;
}

/* GPT-2 spelling, independent of the trainer's. */
static void spell(const uint8_t *s, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = tok_gpt2_byte_to_cp(s[i]);
        if (cp < 0x80) {
            *out++ = (char)cp;
        } else {
            *out++ = (char)(0xC0 | (cp >> 6));
            *out++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    *out = 0;
}

/* ------------------------------------------------------------------ slow reference */

/* Words as lists of byte strings; every step recounts every pair from scratch. */
typedef struct ref_sym { uint32_t off, len; } ref_sym;     /* a span of the word */
typedef struct ref_word {
    const uint8_t *bytes;
    uint32_t len;
    uint64_t count;
    ref_sym *syms;
    uint32_t n_syms;
} ref_word;

typedef struct ref_bpe {
    ref_word *words;
    size_t n_words;
    char (*merges)[328];
    size_t n_merges;
} ref_bpe;

static int ref_sym_cmp(const ref_word *w, ref_sym a, const ref_word *x, ref_sym b)
{
    uint32_t n = a.len < b.len ? a.len : b.len;
    int c = memcmp(w->bytes + a.off, x->bytes + b.off, n);
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

static void ref_build_words(ref_bpe *r, tok_pre pre, const uint8_t *text, size_t n)
{
    tok_pretok it;
    size_t st, len;
    r->words = NULL;
    r->n_words = 0;
    tok_pretok_init(&it, pre, text, n);
    while (tok_pretok_next(&it, &st, &len)) {
        if (len > BPE_DEFAULT_MAX_WORD_LEN)
            continue;
        size_t i;
        for (i = 0; i < r->n_words; i++)
            if (r->words[i].len == len && !memcmp(r->words[i].bytes, text + st, len))
                break;
        if (i == r->n_words) {
            r->words = realloc(r->words, (r->n_words + 1) * sizeof *r->words);
            assert_non_null(r->words);
            ref_word *w = &r->words[r->n_words++];
            w->bytes = text + st;
            w->len = (uint32_t)len;
            w->count = 0;
            w->syms = malloc(len * sizeof *w->syms);
            assert_non_null(w->syms);
            w->n_syms = (uint32_t)len;
            for (uint32_t k = 0; k < len; k++)
                w->syms[k] = (ref_sym){k, 1};
        }
        r->words[i].count++;
    }
}

typedef struct ref_occ {
    const ref_word *w;
    ref_sym a, b;
} ref_occ;

static int ref_occ_cmp(const void *x, const void *y)
{
    const ref_occ *p = x, *q = y;
    int c = ref_sym_cmp(p->w, p->a, q->w, q->a);
    return c ? c : ref_sym_cmp(p->w, p->b, q->w, q->b);
}

/* Run merges until n_new_tokens new tokens exist (or no pair reaches min_count).
 * Every step lists every adjacent pair occurrence, sorts them by bytes and sums runs. */
static void ref_train(ref_bpe *r, size_t n_new_tokens, uint64_t min_count)
{
    r->merges = malloc(n_new_tokens * 4 * sizeof *r->merges);
    assert_non_null(r->merges);
    r->n_merges = 0;
    char (*made)[320] = malloc(n_new_tokens * sizeof *made);    /* tokens created */
    assert_non_null(made);
    size_t n_new = 0, n_occ_max = 0;
    for (size_t i = 0; i < r->n_words; i++)
        n_occ_max += r->words[i].len;
    ref_occ *occ = malloc(n_occ_max * sizeof *occ);
    assert_non_null(occ);
    while (n_new < n_new_tokens) {
        size_t n_occ = 0;
        for (size_t i = 0; i < r->n_words; i++)
            for (uint32_t k = 0; k + 1 < r->words[i].n_syms; k++)
                occ[n_occ++] = (ref_occ){&r->words[i], r->words[i].syms[k], r->words[i].syms[k + 1]};
        qsort(occ, n_occ, sizeof *occ, ref_occ_cmp);
        /* runs are in increasing byte order: the first run with the largest count wins */
        size_t best_at = 0;
        uint64_t best = 0;
        for (size_t i = 0; i < n_occ;) {
            size_t j = i;
            uint64_t cnt = 0;
            while (j < n_occ && !ref_occ_cmp(&occ[i], &occ[j]))
                cnt += occ[j++].w->count;
            if (cnt > best) {
                best = cnt;
                best_at = i;
            }
            i = j;
        }
        if (!best || best < min_count)
            break;
        const ref_word *bw = occ[best_at].w;
        ref_sym ba = occ[best_at].a, bb = occ[best_at].b;
        uint8_t la[BPE_DEFAULT_MAX_WORD_LEN], lb[BPE_DEFAULT_MAX_WORD_LEN], cat[160];
        uint32_t na = ba.len, nb = bb.len;
        memcpy(la, bw->bytes + ba.off, na);
        memcpy(lb, bw->bytes + bb.off, nb);
        char left[160], right[160], whole[320];
        spell(la, na, left);
        spell(lb, nb, right);
        memcpy(cat, la, na);
        memcpy(cat + na, lb, nb);
        spell(cat, na + nb, whole);
        assert_true(r->n_merges < n_new_tokens * 4);
        snprintf(r->merges[r->n_merges++], sizeof r->merges[0], "%s %s", left, right);
        /* a merge whose bytes are already a token adds no token (the trainer's rule) */
        int exists = 0;
        for (size_t i = 0; i < n_new; i++)
            exists |= !strcmp(made[i], whole);
        if (!exists)
            snprintf(made[n_new++], sizeof made[0], "%s", whole);
        for (size_t i = 0; i < r->n_words; i++) {   /* apply: left to right */
            ref_word *x = &r->words[i];
            uint32_t k = 0;
            for (uint32_t m = 0; m < x->n_syms; m++) {
                ref_sym s0 = x->syms[m];
                if (m + 1 < x->n_syms && s0.len == na && x->syms[m + 1].len == nb &&
                    !memcmp(x->bytes + s0.off, la, na) &&
                    !memcmp(x->bytes + x->syms[m + 1].off, lb, nb)) {
                    x->syms[k++] = (ref_sym){s0.off, na + nb};
                    m++;
                } else {
                    x->syms[k++] = s0;
                }
            }
            x->n_syms = k;
        }
    }
    free(occ);
    free(made);
}

static void ref_free(ref_bpe *r)
{
    for (size_t i = 0; i < r->n_words; i++)
        free(r->words[i].syms);
    free(r->words);
    free(r->merges);
}

/* ------------------------------------------------------------------ tests */

/* "ab ab ab ab cd", GPT-2 split: words "ab" x1, " ab" x3, " cd" x1.  Pairs: (a,b) 4,
 * (' ',a) 3, (' ',c) 1, (c,d) 1.  Merge a+b (4); then ' '+ab (3); then the tie at 1
 * between (' ',c) and (c,d) goes to the smaller left piece ' ' < 'c'; then Ġc + d. */
static void test_known_merges(void **state)
{
    (void)state;
    const char *text = "ab ab ab ab cd";
    bpe_vocab v = train_text(TOK_PRE_GPT2, (const uint8_t *)text, strlen(text), 261, 1);
    assert_int_equal(v.n_merges, 4);
    assert_string_equal(v.merges[0], "a b");
    assert_string_equal(v.merges[1], "\xc4\xa0 ab");       /* "Ġ ab" */
    assert_string_equal(v.merges[2], "\xc4\xa0 c");
    assert_string_equal(v.merges[3], "\xc4\xa0" "c d");
    assert_int_equal(v.n_tokens, 261);
    assert_string_equal(v.tokens[256], "ab");
    assert_string_equal(v.tokens[257], "\xc4\xa0" "ab");
    assert_string_equal(v.tokens[259], "\xc4\xa0" "cd");
    assert_string_equal(v.tokens[' '], "\xc4\xa0");
    assert_string_equal(v.tokens['a'], "a");
    assert_int_equal(v.eot, 260);
    assert_string_equal(v.tokens[260], BPE_EOT_TEXT);
    assert_int_equal(v.types[260], TOK_TYPE_CONTROL);
    assert_int_equal(v.types[0], TOK_TYPE_NORMAL);
    bpe_vocab_free(&v);

    /* min_count 2 (the default) stops before the pairs seen once */
    v = train_text(TOK_PRE_GPT2, (const uint8_t *)text, strlen(text), 300, 0);
    assert_int_equal(v.n_merges, 2);
    assert_int_equal(v.n_tokens, 259);
    bpe_vocab_free(&v);
}

/* Against the slow reference: the same merges, in the same order, on a text with many
 * ties, repeated letters ("aaa"-style overlaps) and multi-byte characters. */
static void test_matches_reference(void **state)
{
    (void)state;
    size_t cap = 12000;
    uint8_t *text = malloc(cap);
    assert_non_null(text);
    size_t n = make_text(text, cap, 7);
    memcpy(text + n, " aaaa aaa aaaaa aa aaaaaa", 25);     /* overlapping same-token pairs */
    n += 25;
    const uint32_t n_new = 120;
    bpe_vocab v = train_text(TOK_PRE_GPT2, text, n, 256 + n_new + 1, 2);
    ref_bpe r;
    ref_build_words(&r, TOK_PRE_GPT2, text, n);
    ref_train(&r, n_new, 2);
    assert_int_equal(v.n_merges, r.n_merges);
    for (size_t i = 0; i < r.n_merges; i++)
        assert_string_equal(v.merges[i], r.merges[i]);

    /* the written GGUF: loads, and encodes the text into exactly the reference's final
     * segmentation of each word */
    size_t size;
    uint8_t *buf = vocab_gguf(&v, &size);
    gguf_file g;
    char err[256];
    assert_int_equal(gguf_parse(&g, buf, size, err, sizeof err), 0);
    tokenizer *t = tok_load_gguf(&g, err, sizeof err);
    assert_non_null(t);
    assert_int_equal(tok_n_vocab(t), v.n_tokens);
    assert_int_equal(tok_bos(t), v.eot);
    assert_int_equal(tok_eos(t), v.eot);
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    assert_non_null(ids);
    long k = tok_encode(t, text, n, ids, n + 1);
    assert_true(k > 0 && (size_t)k <= n + 1);
    tok_pretok it;
    size_t st, len, at = 0;
    long pos = 0;
    tok_pretok_init(&it, TOK_PRE_GPT2, text, n);
    while (tok_pretok_next(&it, &st, &len)) {
        const ref_word *w = NULL;
        for (size_t i = 0; i < r.n_words; i++)
            if (r.words[i].len == len && !memcmp(r.words[i].bytes, text + st, len))
                w = &r.words[i];
        assert_non_null(w);
        for (uint32_t m = 0; m < w->n_syms; m++) {
            size_t plen;
            assert_true(pos < k);
            const uint8_t *p = tok_piece(t, ids[pos++], &plen);
            assert_non_null(p);
            assert_int_equal(plen, w->syms[m].len);
            assert_memory_equal(p, w->bytes + w->syms[m].off, plen);
        }
        at += len;
    }
    assert_int_equal(at, n);
    assert_int_equal(pos, k);
    free(ids);
    tok_free(t);
    gguf_close(&g);
    free(buf);
    ref_free(&r);
    bpe_vocab_free(&v);
    free(text);
}

/* Lossless on arbitrary bytes, with both pre-tokenizers, through the GGUF. */
static void test_gguf_lossless(void **state)
{
    (void)state;
    size_t cap = 40000;
    uint8_t *text = malloc(cap);
    assert_non_null(text);
    size_t n = make_text(text, cap, 11);
    tok_pre pres[2] = {TOK_PRE_LLAMA3, TOK_PRE_GPT2};
    for (int pi = 0; pi < 2; pi++) {
        bpe_vocab v = train_text(pres[pi], text, n, 600, 2);
        assert_true(v.n_tokens > 400);
        size_t size;
        uint8_t *buf = vocab_gguf(&v, &size);
        gguf_file g;
        char err[256];
        assert_int_equal(gguf_parse(&g, buf, size, err, sizeof err), 0);
        gguf_str pre;
        assert_int_equal(gguf_get_str(&g, "tokenizer.ggml.pre", &pre), 0);
        assert_int_equal(pre.len, strlen(tok_pre_name(pres[pi])));
        tokenizer *t = tok_load_gguf(&g, err, sizeof err);
        assert_non_null(t);
        uint64_t s = 99 + (uint64_t)pi;
        uint8_t in[3000], out[3000];
        int32_t ids[3001];
        for (int round = 0; round < 40; round++) {
            size_t len = rng_next(&s) % sizeof in;
            for (size_t i = 0; i < len; i++) {
                uint64_t r = rng_next(&s);
                /* half random bytes, half text from the training distribution */
                in[i] = round % 2 ? (uint8_t)r : text[r % n];
            }
            long k = tok_encode(t, in, len, ids, 3001);
            assert_true(k >= 0 && k <= (long)len + 1);
            for (long i = 0; i < k; i++)
                assert_int_not_equal(ids[i], v.eot);
            long m = tok_decode(t, ids, (size_t)k, out, sizeof out);
            assert_int_equal(m, len);
            assert_memory_equal(in, out, len);
        }
        /* the text it learned from compresses into fewer tokens than bytes */
        int32_t *all = malloc((n + 1) * sizeof *all);
        assert_non_null(all);
        long k = tok_encode(t, text, n, all, n + 1);
        assert_true(k > 0 && (size_t)k * 2 < n);
        free(all);
        tok_free(t);
        gguf_close(&g);
        free(buf);
        bpe_vocab_free(&v);
    }
    free(text);
}

/* Same input, same GGUF bytes; and counting in two parts then merging the counters
 * gives the same vocabulary as counting at once. */
static void test_deterministic(void **state)
{
    (void)state;
    size_t cap = 30000;
    uint8_t *text = malloc(cap);
    assert_non_null(text);
    size_t n = make_text(text, cap, 3);
    bpe_vocab a = train_text(TOK_PRE_LLAMA3, text, n, 500, 2);
    bpe_vocab b = train_text(TOK_PRE_LLAMA3, text, n, 500, 2);
    size_t sa, sb;
    uint8_t *ga = vocab_gguf(&a, &sa), *gb = vocab_gguf(&b, &sb);
    assert_int_equal(sa, sb);
    assert_memory_equal(ga, gb, sa);

    /* split at a newline, so no pre-token spans the cut */
    size_t cut = n / 2;
    while (text[cut] != '\n')
        cut++;
    cut++;
    bpe_counter *c1 = count_text(TOK_PRE_LLAMA3, text, cut, 0);
    bpe_counter *c2 = count_text(TOK_PRE_LLAMA3, text + cut, n - cut, 0);
    assert_int_equal(bpe_counter_merge(c1, c2), 0);
    bpe_train_opts o = {500, 2, 0};
    bpe_vocab m;
    char err[256];
    assert_int_equal(bpe_train(c1, &o, &m, err, sizeof err), 0);
    size_t sm;
    uint8_t *gm = vocab_gguf(&m, &sm);
    assert_int_equal(sm, sa);
    assert_memory_equal(gm, ga, sa);
    bpe_counter_stats st;
    bpe_counter_get_stats(c1, &st);
    assert_int_equal(st.bytes, n);
    free(gm);
    bpe_vocab_free(&m);
    bpe_counter_free(c1);
    bpe_counter_free(c2);
    free(ga);
    free(gb);
    bpe_vocab_free(&a);
    bpe_vocab_free(&b);
    free(text);
}

/* A word cap far below the distinct words: rare words are dropped, the frequent ones
 * survive, training still works. */
static void test_word_cap(void **state)
{
    (void)state;
    size_t cap = 200000;
    uint8_t *text = malloc(cap);
    assert_non_null(text);
    uint64_t s = 5;
    size_t n = 0;
    while (n + 40 < cap) {      /* "the" very often, plus many unique numbered words */
        n += (size_t)sprintf((char *)text + n, "the x%llu ", (unsigned long long)(rng_next(&s) % 1000000));
    }
    bpe_counter *c = count_text(TOK_PRE_GPT2, text, n, 64);
    bpe_counter_stats st;
    bpe_counter_get_stats(c, &st);
    assert_true(st.pruned > 1000);
    assert_true(st.distinct <= 64);
    bpe_train_opts o = {300, 2, 0};
    bpe_vocab v;
    char err[256];
    assert_int_equal(bpe_train(c, &o, &v, err, sizeof err), 0);
    int found = 0;
    for (uint32_t i = 256; i < v.n_tokens; i++)
        found |= !strcmp(v.tokens[i], "\xc4\xa0the");
    assert_true(found);
    bpe_vocab_free(&v);
    bpe_counter_free(c);
    free(text);

    bpe_vocab bad;
    bpe_counter *e = bpe_counter_new(TOK_PRE_GPT2, 0, 0);
    assert_non_null(e);
    bpe_train_opts small = {256, 0, 0};
    assert_int_equal(bpe_train(e, &small, &bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "257"));
    bpe_counter_free(e);
}

static void test_doc_split(void **state)
{
    (void)state;
    const uint8_t s[] = "one\n\x1e\ntwo\nlines\n\x1e\n\x1e\nlast";
    size_t n = sizeof s - 1, pos = 0, next;
    size_t end = bpe_doc_end(s, n, pos, &next);
    assert_int_equal(end, 4);                 /* "one\n" */
    assert_int_equal(next, 6);
    pos = next;
    end = bpe_doc_end(s, n, pos, &next);
    assert_memory_equal(s + pos, "two\nlines\n", end - pos);
    assert_int_equal(end - pos, 10);
    pos = next;
    end = bpe_doc_end(s, n, pos, &next);      /* an empty document */
    assert_int_equal(end, pos);
    pos = next;
    end = bpe_doc_end(s, n, pos, &next);
    assert_int_equal(end, n);
    assert_memory_equal(s + pos, "last", 4);
    assert_int_equal(next, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_merges),
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_gguf_lossless),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_word_cap),
        cmocka_unit_test(test_doc_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
