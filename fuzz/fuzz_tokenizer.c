/*
 * fuzz_tokenizer.c -- libFuzzer harness for the tokenizers' losslessness contract.
 *
 * Tokenizers, built once:
 *   - the two fixture models' (tests/fixtures/ref/: byte-level BPE with 8 merges, and
 *     SentencePiece with byte fallback), loaded from GGUF as lmz loads them;
 *   - a byte-level BPE of ~1000 tokens learned at start-up (bpe_train) from a fixed
 *     generated text, written to GGUF and loaded back once per pre-tokenizer name:
 *     gpt-2, llama3 (whole pre-token lookup first), dbrx (the llama3 split without it),
 *     qwen2 and smollm -- every split and both merge modes the code has.
 * For each, on the input bytes x (a bug aborts):
 *   - decode(encode(x)) == x, every id valid and spelling at least one byte (so at
 *     most len(x) tokens);
 *   - counting (no output buffer) and a half-size output buffer give the same count and
 *     the same leading ids;
 * and for each pre-tokenizer split, the pre-tokens tile x exactly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "train/bpe_train.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"
#include "../fuzz/fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_TOKENIZERS 8

/* Built once for the whole run; a harness cannot avoid this process-wide state. */
static tokenizer *toks[MAX_TOKENIZERS];
static const char *tok_names[MAX_TOKENIZERS];
static int n_toks;

static void add_tokenizer(const char *name, const void *gguf, size_t size)
{
    gguf_file f;
    char err[512];
    if (gguf_parse(&f, gguf, size, err, sizeof err) != 0) fuzz_die("%s: %s", name, err);
    tokenizer *t = tok_load_gguf(&f, err, sizeof err);
    if (!t) fuzz_die("%s: %s", name, err);
    gguf_close(&f);
    toks[n_toks] = t;
    tok_names[n_toks] = name;
    n_toks++;
}

static void add_fixture(const char *rel)
{
    char path[4096];
    fuzz_repo_path(rel, path, sizeof path);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "fuzz_tokenizer: cannot open %s (run from the repository root or "
                "set LMZ_FUZZ_ROOT)\n", path);
        exit(1);
    }
    uint8_t *buf = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            cap = cap ? 2 * cap : 1 << 20;
            buf = realloc(buf, cap);
            if (!buf) fuzz_die("out of memory reading %s", path);
        }
        size_t k = fread(buf + size, 1, cap - size, fp);
        if (k == 0) break;
        size += k;
    }
    fclose(fp);
    add_tokenizer(rel, buf, size);
    free(buf);
}

/* A fixed pseudo-random text of English-like words, numbers, punctuation, contractions,
 * non-ASCII letters and line ends, to learn merges from. */
static size_t make_training_text(uint8_t *buf, size_t cap)
{
    static const char *const parts[] = {
        "th", "e", "an", "re", "on", "ing", "a", "st", "er", "in", "ou", "é", "ß", "ö", "ñ",
        "дa", "мир", "中文", "の", "x", "q", "z",
    };
    static const char *const seps[] = {
        " ", " ", " ", " ", ", ", ". ", "\n", "\r\n", "\t", "'s ", "'re ", " 2024 ", " 7 ",
        " 3.14 ", "!? ", "  ", " (", ") ", " -> ", " \xe2\x80\x94 ",
    };
    uint64_t s = 0x9e3779b97f4a7c15u;
    size_t n = 0;
    while (n + 64 < cap) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        int syl = 1 + (int)((s >> 33) % 4);
        for (int i = 0; i < syl; i++) {
            s = s * 6364136223846793005u + 1442695040888963407u;
            const char *p = parts[(s >> 33) % (sizeof parts / sizeof parts[0])];
            size_t k = strlen(p);
            memcpy(buf + n, p, k);
            n += k;
        }
        s = s * 6364136223846793005u + 1442695040888963407u;
        const char *sep = seps[(s >> 33) % (sizeof seps / sizeof seps[0])];
        memcpy(buf + n, sep, strlen(sep));
        n += strlen(sep);
    }
    return n;
}

static void add_trained(void)
{
    static const char *const pre_names[] = { "gpt-2", "llama3", "dbrx", "qwen2", "smollm" };
    size_t cap = 60000;
    uint8_t *text = malloc(cap);
    if (!text) fuzz_die("out of memory");
    size_t n = make_training_text(text, cap);
    bpe_counter *c = bpe_counter_new(TOK_PRE_LLAMA3, 0, 0);
    if (!c || bpe_counter_add(c, text, n) != 0) fuzz_die("bpe_counter failed");
    bpe_train_opts opts = { 1000, 2, 0 };
    bpe_vocab v;
    char err[512];
    if (bpe_train(c, &opts, &v, err, sizeof err) != 0) fuzz_die("bpe_train: %s", err);
    if (v.n_merges < 500) fuzz_die("bpe_train learned only %u merges", v.n_merges);
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++) {
        gguf_writer *w = gguf_writer_new();
        if (!w) fuzz_die("out of memory");
        bpe_vocab_to_gguf(&v, w);
        gguf_writer_set_str(w, "tokenizer.ggml.pre", pre_names[i]);
        uint8_t *buf;
        size_t size;
        if (gguf_writer_write_mem(w, &buf, &size, err, sizeof err) != 0)
            fuzz_die("gguf_writer: %s", err);
        gguf_writer_free(w);
        add_tokenizer(pre_names[i], buf, size);
        free(buf);
    }
    bpe_vocab_free(&v);
    bpe_counter_free(c);
    free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    add_fixture("tests/fixtures/ref/llama-gqa-tied-gpt2.gguf");
    add_fixture("tests/fixtures/ref/llama-mqa-spm.gguf");
    add_trained();
    return 0;
}

static void check_roundtrip(int which, const uint8_t *x, size_t n, int32_t *ids,
                            int32_t *ids2, uint8_t *back)
{
    const tokenizer *t = toks[which];
    const char *name = tok_names[which];
    long k = tok_encode(t, x, n, ids, n + 1);
    if (k < 0 || (size_t)k > n) fuzz_die("%s: %ld tokens for %zu bytes", name, k, n);
    for (long i = 0; i < k; i++) {
        size_t len = 0;
        if (!tok_piece(t, ids[i], &len) || len == 0)
            fuzz_die("%s: token %ld is id %d, which spells no bytes", name, i, (int)ids[i]);
    }
    long m = tok_decode(t, ids, (size_t)k, back, n);
    if (m != (long)n || memcmp(back, x, n) != 0)
        fuzz_die("%s: decode(encode(x)) differs from x (%ld bytes back for %zu)", name, m, n);
    if (tok_encode(t, x, n, NULL, 0) != k)
        fuzz_die("%s: counting gives another token count", name);
    size_t half = (size_t)k / 2;
    if (tok_encode(t, x, n, ids2, half) != k || memcmp(ids2, ids, half * sizeof *ids) != 0)
        fuzz_die("%s: a short output buffer changes the tokens", name);
}

static void check_pretokens(tok_pre pre, const uint8_t *x, size_t n)
{
    tok_pretok it;
    tok_pretok_init(&it, pre, x, n);
    size_t start, len, end = 0;
    while (tok_pretok_next(&it, &start, &len)) {
        if (start != end || len == 0 || len > n - start)
            fuzz_die("%s split: piece [%zu, +%zu) after %zu of %zu bytes", tok_pre_name(pre),
                     start, len, end, n);
        end = start + len;
    }
    if (end != n) fuzz_die("%s split covers %zu of %zu bytes", tok_pre_name(pre), end, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exact-size copies, so that ASan sees any read past the input or the outputs */
    uint8_t *x = malloc(size ? size : 1), *back = malloc(size ? size : 1);
    int32_t *ids = malloc((size + 1) * sizeof *ids), *ids2 = malloc((size + 1) * sizeof *ids2);
    if (!x || !back || !ids || !ids2) fuzz_die("out of memory");
    memcpy(x, data, size);
    for (int i = 0; i < n_toks; i++) check_roundtrip(i, x, size, ids, ids2, back);
    static const tok_pre pres[] = { TOK_PRE_GPT2, TOK_PRE_LLAMA3, TOK_PRE_QWEN2, TOK_PRE_SMOLLM };
    for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++) check_pretokens(pres[i], x, size);
    free(x);
    free(back);
    free(ids);
    free(ids2);
    return 0;
}
