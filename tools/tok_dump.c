/*
 * tok_dump.c -- encode text files with lmz's tokenizer, for tools/tok_compare.sh.
 *
 *   tok_dump VOCAB.gguf TEXT OUT.bin    each line of TEXT (up to and including '\n')
 *                                       encoded alone; OUT gets, per line, a uint32
 *                                       count then the int32 ids (little-endian)
 *   tok_dump VOCAB.gguf TEXT            only time whole-file encoding
 * Always prints the whole-file encode speed (best of 3) and checks the round trip.
 * Built by tools/tok_compare.sh against the library sources; not part of the library.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);   /* the machine may be shared */
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = (size_t)size;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s VOCAB.gguf TEXT [OUT.bin]\n", argv[0]);
        return 2;
    }
    char err[512];
    gguf_file gf;
    if (gguf_open(&gf, argv[1], err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", argv[1], err);
        return 1;
    }
    double t0 = now();
    tokenizer *t = tok_load_gguf(&gf, err, sizeof err);
    double t_load = now() - t0;
    if (!t) {
        fprintf(stderr, "%s: %s\n", argv[1], err);
        return 1;
    }
    size_t n;
    uint8_t *text = read_file(argv[2], &n);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    uint8_t *back = malloc(n + 1);
    if (!ids || !back)
        return 1;
    double best = 1e30;
    long count = 0;
    for (int rep = 0; rep < 3; rep++) {
        t0 = now();
        count = tok_encode(t, text, n, ids, n + 1);
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    if (count < 0 || tok_decode(t, ids, (size_t)count, back, n + 1) != (long)n ||
        memcmp(back, text, n) != 0) {
        fprintf(stderr, "%s: ROUND TRIP FAILED\n", argv[2]);
        return 1;
    }
    fprintf(stderr, "%s: %zu bytes -> %ld tokens (%.3f bytes/token), encode %.1f MB per CPU-second, "
            "vocab load %.0f ms\n", argv[2], n, count, (double)n / (double)(count ? count : 1),
            (double)n / best / 1e6, t_load * 1e3);
    if (argc == 4) {
        FILE *out = fopen(argv[3], "wb");
        if (!out)
            return 1;
        for (size_t start = 0; start < n;) {
            size_t end = start;
            while (end < n && text[end] != '\n')
                end++;
            if (end < n)
                end++;
            long k = tok_encode(t, text + start, end - start, ids, n + 1);
            uint32_t c = (uint32_t)k;
            fwrite(&c, sizeof c, 1, out);
            fwrite(ids, sizeof *ids, (size_t)k, out);
            start = end;
        }
        fclose(out);
    }
    free(ids);
    free(back);
    free(text);
    tok_free(t);
    gguf_close(&gf);
    return 0;
}
