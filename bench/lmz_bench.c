/*
 * lmz_bench.c -- measures lmz on files: the model's cross-entropy and the size actually
 * coded (bits per byte), the coder's overhead over the cross-entropy, compression and
 * decompression speed (KB/s with KB = 1024 bytes), and peak memory.  Every figure is
 * measured on the run.
 *
 *   lmz_bench [-m MODEL.gguf] [-l LEVEL] [-T THREADS] [--lm-always] [--no-mix] [--per-response]
 *             [--no-ce] [--no-decode] FILE...
 *
 * A .jsonl file (one {"text": ...} object a line, as in ../shared/data) is measured on
 * its "text" fields: by default joined with "\n\n" plus a final "\n" (the layout of the
 * matching .txt files), with --per-response each text compressed on its own (the
 * paper's setting; sizes summed over the responses), all of a file's responses through
 * one lmz_compress_many call (side by side, as `lmz *.txt` codes many small files) and
 * decoded one by one.  The per-response table adds the container's bytes per response
 * (stream bytes less payload bytes).  --no-decode skips decoding (sizes are exact
 * either way; the decode speed column then shows "-").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "format/container.h"
#include "lib/internal.h"
#include "lmz.h"
#include "train/samples.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
    *n = buf ? fread(buf, 1, (size_t)size, f) : 0;
    fclose(f);
    return buf;
}

typedef struct totals {
    double raw, coded, entropy_bits, t_comp, t_decomp, container, items;
    int ok;
} totals;

static int want_decode = 1;
static int decode_alone = 0;     /* --decode-alone: per-response streams one by one */

/* Bytes of a stream that are not payload: headers, records, checks. */
static double container_bytes(const void *z, size_t zn)
{
    lmzf_memsrc src = { z, zn, 0 };
    lmzf_parser *p = malloc(sizeof *p);
    double payload = 0;
    int found = 0;
    lmzf_parser_init(p, lmzf_mem_read, &src);
    while (lmzf_parser_next_stream(p, &found, NULL) == LMZ_OK && found) {
        lmzf_record rec;
        while (lmzf_parser_record(p, &rec, NULL) == LMZ_OK && !rec.is_end) {
            payload += rec.chunk.payload_size;
            if (lmzf_parser_payload(p, &rec, NULL, NULL) != LMZ_OK) break;
        }
    }
    free(p);
    return (double)zn - payload;
}

/* Measure the model's cross-entropy while compressing (ce_bpb)?  It costs an exp per
 * vocabulary entry and token, timed with the compression: --no-ce leaves it out, for
 * speeds of fast models that it would distort. */
static int want_ce = 1;

/* Compress and decompress one piece, adding to the totals. */
static void measure(lmz_ctx *c, const uint8_t *p, size_t n, totals *t)
{
    void *z = NULL, *d = NULL;
    size_t zn = 0, dn = 0;
    double e = 0;
    c->stats_entropy_bits = want_ce ? &e : NULL;
    double t0 = now();
    if (lmz_compress_buffer(c, p, n, &z, &zn) != LMZ_OK) {
        fprintf(stderr, "compress: %s\n", lmz_ctx_error(c));
        t->ok = 0;
        return;
    }
    double t1 = now();
    c->stats_entropy_bits = NULL;
    if (want_decode &&
        (lmz_decompress_buffer(c, z, zn, &d, &dn) != LMZ_OK || dn != n || memcmp(d, p, n))) {
        fprintf(stderr, "decompress failed or differs: %s\n", lmz_ctx_error(c));
        t->ok = 0;
    }
    double t2 = now();
    t->raw += (double)n;
    t->coded += (double)zn;
    t->entropy_bits += e;
    t->t_comp += t1 - t0;
    t->t_decomp += t2 - t1;
    free(z);
    free(d);
}

/* Each text its own stream, all through one lmz_compress_many, decoded side by side
 * through one lmz_decompress_many (--decode-alone: one lmz_decompress_buffer each). */
static void measure_many(lmz_ctx *c, const tr_samples *s, totals *t)
{
    void **z = calloc(s->n, sizeof *z);
    size_t *zn = calloc(s->n, sizeof *zn);
    void **d = calloc(s->n, sizeof *d);
    size_t *dn = calloc(s->n, sizeof *dn);
    double e = 0;
    c->stats_entropy_bits = want_ce ? &e : NULL;
    double t0 = now();
    if (lmz_compress_many(c, s->n, (const void *const *)s->text, s->len, z, zn) != LMZ_OK) {
        fprintf(stderr, "compress_many: %s\n", lmz_ctx_error(c));
        t->ok = 0;
    }
    double t1 = now();
    c->stats_entropy_bits = NULL;
    if (t->ok && want_decode && !decode_alone &&
        lmz_decompress_many(c, s->n, (const void *const *)z, zn, d, dn, NULL) != LMZ_OK) {
        fprintf(stderr, "decompress_many: %s\n", lmz_ctx_error(c));
        t->ok = 0;
    }
    for (size_t i = 0; t->ok && want_decode && decode_alone && i < s->n; i++)
        if (lmz_decompress_buffer(c, z[i], zn[i], &d[i], &dn[i]) != LMZ_OK) {
            fprintf(stderr, "response %zu: %s\n", i, lmz_ctx_error(c));
            t->ok = 0;
        }
    double t2 = now();
    for (size_t i = 0; t->ok && i < s->n; i++) {
        if (want_decode && (dn[i] != s->len[i] || memcmp(d[i], s->text[i], dn[i]))) {
            fprintf(stderr, "response %zu: decompressed text differs\n", i);
            t->ok = 0;
        }
        t->raw += (double)s->len[i];
        t->coded += (double)zn[i];
        t->container += container_bytes(z[i], zn[i]);
        t->items += 1;
    }
    for (size_t i = 0; i < s->n; i++) free(d[i]);
    free(d);
    free(dn);
    t->t_comp += t1 - t0;
    t->t_decomp += t2 - t1;
    t->entropy_bits += e;
    for (size_t i = 0; i < s->n; i++) free(z[i]);
    free(z);
    free(zn);
}

/* The "text" of every line (src/train/samples.c reads them): each measured alone
 * (per_response) or all joined as the .txt files are and measured once. */
static int jsonl_texts(const char *path, lmz_ctx *c, int per_response, totals *t)
{
    tr_samples s = {0};
    char err[512];
    if (tr_samples_add_file(&s, path, err, sizeof err)) {
        fprintf(stderr, "lmz_bench: %s\n", err);
        return -1;
    }
    uint8_t *joined = per_response ? NULL : malloc(s.bytes + 2 * s.n + 1);
    size_t jn = 0;
    if (per_response) measure_many(c, &s, t);
    for (size_t i = 0; i < s.n && !per_response; i++) {
        if (jn) { joined[jn++] = '\n'; joined[jn++] = '\n'; }
        memcpy(joined + jn, s.text[i], s.len[i]);
        jn += s.len[i];
    }
    if (!per_response) {
        joined[jn++] = '\n';
        measure(c, joined, jn, t);
    }
    free(joined);
    tr_samples_free(&s);
    return 0;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL;
    lmz_params params;
    lmz_params_default(&params);
    int per_response = 0, first_file = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc) model_path = argv[++i];
        else if (!strcmp(argv[i], "-l") && i + 1 < argc) params.level = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-T") && i + 1 < argc) params.threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lm-always")) params.lm_always = 1;
        else if (!strcmp(argv[i], "--no-mix")) params.no_mix = 1;
        else if (!strcmp(argv[i], "--mix-version") && i + 1 < argc)
            params.mix_version = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--per-response")) per_response = 1;
        else if (!strcmp(argv[i], "--no-ce")) want_ce = 0;
        else if (!strcmp(argv[i], "--no-decode")) want_decode = 0;
        else if (!strcmp(argv[i], "--decode-alone")) decode_alone = 1;
        else { first_file = i; break; }
    }
    if (first_file >= argc) {
        fprintf(stderr, "usage: lmz_bench [-m MODEL] [-l LEVEL] [-T N] [--lm-always] [--no-mix] "
                        "[--mix-version N] "
                        "[--per-response] [--no-ce] [--no-decode] [--decode-alone] FILE...\n");
        return 2;
    }
    /* Without -m, the built-in models, as `lmz` uses them (the level picks the model). */
    lmz_error err;
    lmz_model *m = NULL;
    if (model_path && !(m = lmz_model_open(model_path, &err))) {
        fprintf(stderr, "lmz_bench: %s\n", err.message);
        return 1;
    }
    lmz_ctx *c = m ? lmz_ctx_new(m, &params, &err) : lmz_ctx_new_builtin(&params, &err);
    if (!c) {
        fprintf(stderr, "lmz_bench: %s\n", err.message);
        return 1;
    }
    lmz_model_info info;
    lmz_model_get_info(c->model, &info);
    printf("# model %s (%s, %llu params, vocab %u), level %d, %d thread(s), SIMD %s%s%s\n",
           info.name, info.arch, (unsigned long long)info.n_params, info.n_vocab,
           params.level, params.threads, lmz_simd_name(lmz_ctx_simd(c)),
           params.lm_always ? ", every chunk coded by the model" : "",
           per_response ? ", each .jsonl response on its own" : "");
    printf("%-52s %10s %8s %8s %9s %9s %9s%s\n", "file", "bytes", "ce_bpb", "bpb",
           "overhead", "comp_KB/s", "dec_KB/s", per_response ? "     coded  cont/resp" : "");
    int status = 0;
    for (int i = first_file; i < argc; i++) {
        size_t n;
        uint8_t *p = slurp(argv[i], &n);
        if (!p) {
            fprintf(stderr, "lmz_bench: cannot read %s\n", argv[i]);
            status = 1;
            continue;
        }
        totals t = { 0, 0, 0, 0, 0, 0, 0, 1 };
        size_t len = strlen(argv[i]);
        if (len > 6 && !strcmp(argv[i] + len - 6, ".jsonl")) {
            if (jsonl_texts(argv[i], c, per_response, &t) != 0) status = 1;
        } else {
            measure(c, p, n, &t);
        }
        if (!t.ok) status = 1;
        const char *name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
        if (t.raw == 0) {           /* no ratio or speed of nothing */
            printf("%-52s %10d %8s %8s %9s %9s %9s%s\n", name, 0, "-", "-", "-", "-", "-",
                   t.ok ? "" : "  FAILED");
            free(p);
            continue;
        }
        double ce = t.entropy_bits / t.raw, bpb = 8 * t.coded / t.raw;
        char ce_s[16] = "-", over_s[16] = "-";
        if (want_ce) {
            snprintf(ce_s, sizeof ce_s, "%.4f", ce);
            snprintf(over_s, sizeof over_s, "%.3f%%", 100.0 * (bpb - ce) / ce);
        }
        char dec_s[16] = "-", items_s[40] = "";
        if (want_decode) snprintf(dec_s, sizeof dec_s, "%.1f", t.raw / 1024 / t.t_decomp);
        if (t.items) snprintf(items_s, sizeof items_s, " %9.0f %10.2f", t.coded,
                              t.container / t.items);
        printf("%-52s %10.0f %8s %8.4f %9s %9.1f %9s%s%s\n", name, t.raw, ce_s, bpb, over_s,
               t.raw / 1024 / t.t_comp, dec_s, items_s, t.ok ? "" : "  FAILED");
        fflush(stdout);
        free(p);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("# peak RSS %.1f MiB\n", ru.ru_maxrss / 1024.0);
    lmz_ctx_free(c);
    lmz_model_close(m);
    return status;
}
