/*
 * pretokenize.c -- hand-written equivalents of the BPE split regexes (see pretokenize.h).
 *
 * Each rule below returns the end of the match that the regex engine would find at a
 * given position: alternatives are tried in pattern order and the first that matches
 * wins, quantifiers are greedy.  "end" bounds the text a match may look at (the end of
 * the input, or of a digit-free segment for TOK_PRE_SMOLLM); a lookahead past it sees
 * the end of the text, as the regex would on that segment alone.
 */
#include "tokenizer/pretokenize.h"

#include <string.h>

#include "tokenizer/unicode_cat.h"

#define CAT_END 4   /* peek past the end */

typedef struct uch {
    uint32_t cp;
    uint32_t len;
    int cat;        /* tok_ucat or CAT_END */
} uch;

static inline int ascii_cat(uint8_t b)
{
    if ((uint8_t)((b | 0x20) - 'a') < 26)
        return TOK_UCAT_LETTER;
    if ((uint8_t)(b - '0') < 10)
        return TOK_UCAT_NUMBER;
    if (b == ' ' || (b >= 9 && b <= 13))
        return TOK_UCAT_SPACE;
    return TOK_UCAT_OTHER;
}

static inline uch peek(const uint8_t *s, size_t pos, size_t end)
{
    uch c;
    if (pos >= end) {
        c.cp = TOK_CP_INVALID;
        c.len = 0;
        c.cat = CAT_END;
    } else if (s[pos] < 0x80) {
        c.cp = s[pos];
        c.len = 1;
        c.cat = ascii_cat(s[pos]);
    } else {
        c.len = (uint32_t)tok_utf8_decode(s + pos, end - pos, &c.cp);
        c.cat = (int)tok_ucat_of(c.cp);
    }
    return c;
}

/* End of the run of characters of class cat starting at q. */
static size_t run_end(const uint8_t *s, size_t q, size_t end, int cat)
{
    while (q < end) {
        uch c = peek(s, q, end);
        if (c.cat != cat)
            break;
        q += c.len;
    }
    return q;
}

static inline uint8_t ascii_lower(uint8_t b)
{
    return (b >= 'A' && b <= 'Z') ? (uint8_t)(b + 32) : b;
}

/* 's|'t|'re|'ve|'m|'ll|'d at s[p] == '\'': length of the match, or 0.  With icase, as
 * (?i:...): ASCII case and U+017F LATIN SMALL LETTER LONG S, which case-folds to 's'. */
static size_t contraction_len(const uint8_t *s, size_t p, size_t end, int icase)
{
    if (p + 1 >= end)
        return 0;
    uint8_t a = s[p + 1];
    if (icase) {
        a = ascii_lower(a);
        if (a == 0xC5 && p + 2 < end && s[p + 2] == 0xBF)
            return 3;
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (p + 2 >= end)
        return 0;
    uint8_t b = icase ? ascii_lower(s[p + 2]) : s[p + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* Whitespace at p: [\s*[\r\n]+ if crlf] | \s+(?!\S) | \s+ */
static size_t space_end(const uint8_t *s, size_t p, size_t end, int crlf)
{
    size_t q = p, last = p, crlf_end = 0;
    for (;;) {
        uch c = peek(s, q, end);
        if (c.cat != TOK_UCAT_SPACE)
            break;
        last = q;
        if (crlf && (c.cp == '\r' || c.cp == '\n'))
            crlf_end = q + 1;
        q += c.len;
    }
    if (crlf_end)
        return crlf_end;            /* \s*[\r\n]+ backtracks to the last CR/LF of the run */
    if (q >= end || last == p)
        return q;                   /* run at the end of the text, or a single \s */
    return last;                    /* \s+(?!\S): leave the last one before the \S */
}

static size_t gpt2_end(const uint8_t *s, size_t p, size_t end)
{
    uch c = peek(s, p, end);
    if (c.cp == '\'') {
        size_t k = contraction_len(s, p, end, 0);
        if (k)
            return p + k;
    }
    /*  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+  */
    size_t q = p;
    int cat = c.cat;
    if (c.cp == ' ') {
        uch d = peek(s, p + 1, end);
        if (d.cat != TOK_UCAT_SPACE && d.cat != CAT_END) {
            cat = d.cat;
            q = p + 1;
        }
    }
    if (cat != TOK_UCAT_SPACE)
        return run_end(s, q, end, cat);
    return space_end(s, p, end, 0);
}

static size_t llama3_end(const uint8_t *s, size_t p, size_t end, int max_digits)
{
    uch c = peek(s, p, end);
    if (c.cp == '\'') {
        size_t k = contraction_len(s, p, end, 1);
        if (k)
            return p + k;
    }
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (c.cp != '\r' && c.cp != '\n' && c.cat != TOK_UCAT_NUMBER) {
        if (c.cat == TOK_UCAT_LETTER)
            return run_end(s, p, end, TOK_UCAT_LETTER);
        if (peek(s, p + c.len, end).cat == TOK_UCAT_LETTER)
            return run_end(s, p + c.len, end, TOK_UCAT_LETTER);
    }
    /* \p{N}{1,max_digits} */
    if (c.cat == TOK_UCAT_NUMBER) {
        size_t q = p + c.len;
        for (int i = 1; i < max_digits; i++) {
            uch d = peek(s, q, end);
            if (d.cat != TOK_UCAT_NUMBER)
                break;
            q += d.len;
        }
        return q;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    size_t q = p;
    int cat = c.cat;
    if (c.cp == ' ' && peek(s, p + 1, end).cat == TOK_UCAT_OTHER) {
        cat = TOK_UCAT_OTHER;
        q = p + 1;
    }
    if (cat == TOK_UCAT_OTHER) {
        q = run_end(s, q, end, TOK_UCAT_OTHER);
        while (q < end && (s[q] == '\r' || s[q] == '\n'))
            q++;
        return q;
    }
    return space_end(s, p, end, 1);
}

void tok_pretok_init(tok_pretok *it, tok_pre pre, const uint8_t *text, size_t n)
{
    it->pre = pre;
    it->text = text;
    it->n = n;
    it->pos = 0;
    it->seg_end = 0;
}

int tok_pretok_next(tok_pretok *it, size_t *start, size_t *len)
{
    const uint8_t *s = it->text;
    size_t p = it->pos, e;
    if (p >= it->n)
        return 0;
    switch (it->pre) {
    case TOK_PRE_LLAMA3:
        e = llama3_end(s, p, it->n, 3);
        break;
    case TOK_PRE_QWEN2:
        e = llama3_end(s, p, it->n, 1);
        break;
    case TOK_PRE_SMOLLM: {
        uch c = peek(s, p, it->n);
        if (c.cat == TOK_UCAT_NUMBER) {
            e = p + c.len;
            break;
        }
        if (it->seg_end <= p) {
            size_t q = p;
            while (q < it->n) {
                uch d = peek(s, q, it->n);
                if (d.cat == TOK_UCAT_NUMBER)
                    break;
                q += d.len;
            }
            it->seg_end = q;
        }
        e = gpt2_end(s, p, it->seg_end);
        break;
    }
    case TOK_PRE_GPT2:
    default:
        e = gpt2_end(s, p, it->n);
        break;
    }
    *start = p;
    *len = e - p;
    it->pos = e;
    return 1;
}

typedef struct pre_name {
    const char *name;
    tok_pre pre;
    int ignore_merges;
} pre_name;

/* From llama.cpp's llama-vocab.cpp: which tokenizer.ggml.pre names use which pattern. */
static const pre_name pre_names[] = {
    {"gpt-2", TOK_PRE_GPT2, 0},      {"default", TOK_PRE_GPT2, 0},
    {"phi-2", TOK_PRE_GPT2, 0},      {"mpt", TOK_PRE_GPT2, 0},
    {"olmo", TOK_PRE_GPT2, 0},       {"jais", TOK_PRE_GPT2, 0},
    {"llama3", TOK_PRE_LLAMA3, 1},   {"llama-v3", TOK_PRE_LLAMA3, 1},
    {"llama-bpe", TOK_PRE_LLAMA3, 1}, {"falcon3", TOK_PRE_LLAMA3, 1},
    {"falcon-h1", TOK_PRE_LLAMA3, 1}, {"pixtral", TOK_PRE_LLAMA3, 1},
    {"midm-2.0", TOK_PRE_LLAMA3, 1}, {"lfm2", TOK_PRE_LLAMA3, 1},
    {"dbrx", TOK_PRE_LLAMA3, 0},     {"smaug-bpe", TOK_PRE_LLAMA3, 0},
    {"chatglm-bpe", TOK_PRE_LLAMA3, 0}, {"glm4", TOK_PRE_LLAMA3, 0},
    {"qwen2", TOK_PRE_QWEN2, 0},     {"deepseek-r1-qwen", TOK_PRE_QWEN2, 0},
    {"stablelm2", TOK_PRE_QWEN2, 0}, {"kormo", TOK_PRE_QWEN2, 0},
    {"smollm", TOK_PRE_SMOLLM, 0},   {"starcoder", TOK_PRE_SMOLLM, 0},
    {"refact", TOK_PRE_SMOLLM, 0},   {"command-r", TOK_PRE_SMOLLM, 0},
    {"codeshell", TOK_PRE_SMOLLM, 0}, {"exaone", TOK_PRE_SMOLLM, 0},
    {"minerva-7b", TOK_PRE_SMOLLM, 0},
};

tok_pre tok_pre_from_name(const char *name, size_t len, int *ignore_merges)
{
    *ignore_merges = 0;
    if (!name)
        return TOK_PRE_GPT2;
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++) {
        if (strlen(pre_names[i].name) == len && memcmp(pre_names[i].name, name, len) == 0) {
            *ignore_merges = pre_names[i].ignore_merges;
            return pre_names[i].pre;
        }
    }
    return TOK_PRE_GPT2;
}

const char *tok_pre_name(tok_pre pre)
{
    switch (pre) {
    case TOK_PRE_GPT2: return "gpt-2";
    case TOK_PRE_LLAMA3: return "llama3";
    case TOK_PRE_QWEN2: return "qwen2";
    case TOK_PRE_SMOLLM: return "smollm";
    }
    return "?";
}
