/*
 * mix_replay.c -- tune and inspect mixed coding (doc/coder.md 4) without rerunning the
 * model: `record` runs a level's LM pass over a file once and saves every token and the
 * LM's probability of every decision; `replay` codes them again through the adaptive
 * models and the mixer (src/coder/cm.c as compiled into this tool) and prints the size,
 * and with -t the decisions of some tokens: what the LM, each model and the mixer said.
 *
 *   mix_replay record [-l LEVEL] [-T THREADS] FILE CACHE
 *   mix_replay replay [-t CHUNK] CACHE...
 *
 * Chunks are cut as the encoder cuts them (lmz__chunk_end) and all go to the LM, as
 * text.  Build after `make`; to try other constants, compile cm.c in with -D overrides
 * (its #ifndef'd constants):
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Isrc -o /tmp/mix_replay tools/mix_replay.c \
 *       [src/coder/cm.c -DCM_MIX_LR=10] build/release/liblmz.a -lzstd -lxxhash -lm -pthread
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/internal.h"
#include "lib/lm_coder.h"
#include "lib/lm_mix.h"
#include "model/model.h"

static void die(const char *what)
{
    fprintf(stderr, "mix_replay: %s\n", what);
    exit(1);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) die("out of memory");
    *n = len;
    return buf;
}

/* The level's built-in model in a context set up for mixing. */
static lmz_ctx *open_level(int level, int threads)
{
    lmz_params p;
    lmz_params_default(&p);
    p.level = level;
    p.threads = threads;
    lmz_error err = { LMZ_OK, "" };
    lmz_ctx *ctx = lmz_ctx_new_builtin(&p, &err);
    if (!ctx || lmz__use_builtin(ctx, lmz_level_builtin(level)) != LMZ_OK) die(err.message);
    lmz_model_info info;
    lmz_model_get_info(ctx->model, &info);
    lmz_level_get_builtin(level, info.n_ctx_train, &ctx->level);
    if (lmz__begin_mix(ctx, CM_VERSION_MAX, CM_BUCKET_BITS_LONG) != LMZ_OK) die(ctx->error);
    return ctx;
}

static void put(FILE *f, const void *p, size_t n) { if (fwrite(p, 1, n, f) != n) die("write"); }
static void get(FILE *f, void *p, size_t n) { if (fread(p, 1, n, f) != n) die("short cache"); }

static int record(int level, int threads, const char *path, const char *cache)
{
    lmz_ctx *ctx = open_level(level, threads);
    size_t n;
    uint8_t *text = slurp(path, &n);
    size_t cs = ctx->level.chunk_size, nc = 0, cap = 16;
    lm_chunk *ch = calloc(cap, sizeof *ch);
    for (size_t off = 0; off < n; nc++) {
        size_t len = n - off < cs ? n - off : cs;
        len = lmz__chunk_end(ctx, text + off, len, off + len < n);
        if (nc == cap) ch = realloc(ch, (cap *= 2) * sizeof *ch);
        if (!ch) die("out of memory");
        ch[nc] = (lm_chunk){ .in = text + off, .in_size = len, .raw_size = len };
        off += len;
    }
    if (lm_record_chunks(ctx, &ctx->level, ch, nc) != LMZ_OK) die(ctx->error);
    FILE *f = fopen(cache, "wb");
    if (!f) die(cache);
    put(f, &level, sizeof level);
    put(f, &nc, sizeof nc);
    for (size_t i = 0; i < nc; i++) {
        put(f, &ch[i].raw_size, sizeof ch[i].raw_size);
        put(f, &ch[i].n_tokens, sizeof ch[i].n_tokens);
        put(f, ch[i].tokens, ch[i].n_tokens * sizeof *ch[i].tokens);
        put(f, &ch[i].mixrec_n, sizeof ch[i].mixrec_n);
        put(f, ch[i].mixrec, ch[i].mixrec_n * sizeof *ch[i].mixrec);
    }
    fclose(f);
    printf("%s: %zu bytes, %zu chunks recorded at level %d\n", path, n, nc, level);
    return 0;
}

typedef struct trace_range { size_t chunk; } trace_range;

static void print_decision(void *user, size_t chunk, const walk_step *st, int outcome,
                           const cm_trace *t)
{
    trace_range *r = user;
    if (chunk != r->chunk) return;
    static const char *kind[] = { "bit", "end", "dup" };
    printf("  %s %d  lm %5u  mix %5u  final %5u  inputs", kind[st->kind], outcome, t->p_lm,
           t->p_mix, t->p_final);
    for (int i = 0; i < t->n_inputs; i++) printf(" %5d", t->input[i]);
    printf("\n");
}

static int replay(int argc, char **argv)
{
    trace_range tr = { (size_t)-1 };
    int i = 0;
    if (argc > 1 && !strcmp(argv[0], "-t")) {
        tr.chunk = (size_t)atol(argv[1]);
        i = 2;
    }
    double all_bytes = 0, all_raw = 0;
    for (; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) die(argv[i]);
        int level;
        size_t nc;
        get(f, &level, sizeof level);
        get(f, &nc, sizeof nc);
        lmz_ctx *ctx = open_level(level, 1);
        lm_chunk *ch = calloc(nc, sizeof *ch);
        size_t raw = 0, out = 0;
        for (size_t c = 0; c < nc; c++) {
            get(f, &ch[c].raw_size, sizeof ch[c].raw_size);
            get(f, &ch[c].n_tokens, sizeof ch[c].n_tokens);
            ch[c].tokens = malloc((ch[c].n_tokens + 1) * sizeof *ch[c].tokens);
            get(f, ch[c].tokens, ch[c].n_tokens * sizeof *ch[c].tokens);
            get(f, &ch[c].mixrec_n, sizeof ch[c].mixrec_n);
            ch[c].mixrec = malloc((ch[c].mixrec_n + 1) * sizeof *ch[c].mixrec);
            get(f, ch[c].mixrec, ch[c].mixrec_n * sizeof *ch[c].mixrec);
            ch[c].gen = (uint32_t)(c / LM_MIX_GENERATION);
            raw += ch[c].raw_size;
        }
        fclose(f);
        if (lm_mix_encode(ctx->mix_cm, ctx->mix_vocab, ctx->model->tok, ch, nc,
                          tr.chunk != (size_t)-1 ? print_decision : NULL, &tr) != LMZ_OK)
            die("mixing failed");
        for (size_t c = 0; c < nc; c++) out += ch[c].out_size;
        printf("%-44s %9zu -> %8zu  %.4f bpb\n", argv[i], raw, out, 8.0 * out / raw);
        all_bytes += out;
        all_raw += raw;
        lmz_ctx_free(ctx);
    }
    if (all_raw > 0) printf("%-44s %9.0f -> %8.0f  %.4f bpb\n", "total", all_raw, all_bytes,
                            8 * all_bytes / all_raw);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "record")) {
        int level = 5, threads = 2, i = 2;
        for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
            if (!strcmp(argv[i], "-l")) level = atoi(argv[i + 1]);
            else if (!strcmp(argv[i], "-T")) threads = atoi(argv[i + 1]);
        }
        if (i + 2 != argc) die("usage: mix_replay record [-l L] [-T N] FILE CACHE");
        return record(level, threads, argv[i], argv[i + 1]);
    }
    if (argc >= 3 && !strcmp(argv[1], "replay")) return replay(argc - 2, argv + 2);
    die("usage: mix_replay record [-l L] [-T N] FILE CACHE | replay [-t CHUNK] CACHE...");
    return 2;
}
