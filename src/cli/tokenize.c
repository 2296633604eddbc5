/*
 * tokenize.c -- `lmz --tokenize`: text files -> a stream of uint32 little-endian token
 * ids for the trainer.
 *
 * Each document (files are split at lines holding only 0x1E; see bpe_doc_end) is
 * written as the tokenizer's BOS id (<|endoftext|> for bpe-train's vocabularies), then
 * its tokens.  No header: the file is n_tokens * 4 bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/tools.h"
#include "train/bpe_train.h"
#include "tokenizer/tokenizer.h"

typedef struct out_stream {
    FILE *f;
    uint8_t buf[1 << 16];
    size_t used;
    uint64_t n_tokens;
    int failed;
} out_stream;

static void put_id(out_stream *o, uint32_t id)
{
    if (o->used + 4 > sizeof o->buf) {
        if (fwrite(o->buf, 1, o->used, o->f) != o->used)
            o->failed = 1;
        o->used = 0;
    }
    o->buf[o->used++] = (uint8_t)id;
    o->buf[o->used++] = (uint8_t)(id >> 8);
    o->buf[o->used++] = (uint8_t)(id >> 16);
    o->buf[o->used++] = (uint8_t)(id >> 24);
    o->n_tokens++;
}

/* Encode one document; ids is a growing scratch buffer.  0, or -1 on out-of-memory. */
static int put_doc(const tokenizer *t, const uint8_t *s, size_t n, int32_t sep,
                   int32_t **ids, size_t *cap, out_stream *o)
{
    if (*cap < n + 1) {
        size_t c = n + 1 > 2 * *cap ? n + 1 : 2 * *cap;
        int32_t *p = realloc(*ids, c * sizeof *p);
        if (!p)
            return -1;
        *ids = p;
        *cap = c;
    }
    long k = tok_encode(t, s, n, *ids, *cap);
    if (k < 0 || (size_t)k > *cap)
        return -1;
    if (sep >= 0)
        put_id(o, (uint32_t)sep);
    for (long i = 0; i < k; i++)
        put_id(o, (uint32_t)(*ids)[i]);
    return 0;
}

int lmz_tokenize_main(int argc, char **argv)
{
    const char *prog = argc > 0 ? argv[0] : "tokenize";
    const char *tok_path = NULL, *out_path = NULL;
    int quiet = 0, first = argc;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "--tokenizer") || !strcmp(argv[i], "--out")) && i + 1 < argc) {
            if (!strcmp(argv[i], "--tokenizer"))
                tok_path = argv[++i];
            else
                out_path = argv[++i];
        } else if (!strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if (!strcmp(argv[i], "--")) {
            first = i + 1;
            break;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "%s: unknown option or missing value: %s\n", prog, argv[i]);
            first = argc;
            tok_path = NULL;
            break;
        } else {
            first = i;
            break;
        }
    }
    if (!tok_path || !out_path || first >= argc) {
        fprintf(stderr, "usage: %s --tokenizer MODEL.gguf --out TOKENS.u32 [--quiet] FILES...\n"
                "Writes uint32 LE ids; each document (files split at lines holding only 0x1E)\n"
                "starts with the BOS id.\n", prog);
        return 2;
    }
    char err[512];
    gguf_file g;
    if (gguf_open(&g, tok_path, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 1;
    }
    tokenizer *t = tok_load_gguf(&g, err, sizeof err);
    if (!t) {
        fprintf(stderr, "%s: %s: %s\n", prog, tok_path, err);
        gguf_close(&g);
        return 1;
    }
    int32_t sep = tok_bos(t) >= 0 ? tok_bos(t) : tok_eos(t);
    int rc = 1, created = 0;
    uint64_t n_docs = 0;
    int32_t *ids = NULL;
    size_t cap = 0;
    uint64_t bytes = 0;
    out_stream *o = calloc(1, sizeof *o);
    if (!o || !(o->f = fopen(out_path, "wb"))) {
        fprintf(stderr, "%s: cannot write %s\n", prog, out_path);
        goto out;
    }
    created = 1;
    double t0 = tool_now_seconds();
    for (int i = first; i < argc; i++) {
        tool_mapped m;
        if (tool_map_file(argv[i], &m, err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", prog, err);
            goto out;
        }
        size_t pos = 0;
        int bad = 0;
        while (pos < m.size && !bad) {
            size_t next, end = bpe_doc_end(m.data, m.size, pos, &next);
            if (end > pos) {
                bad = put_doc(t, m.data + pos, end - pos, sep, &ids, &cap, o);
                n_docs++;
            }
            pos = next;
        }
        bytes += m.size;
        tool_unmap_file(&m);
        if (bad) {
            fprintf(stderr, "%s: out of memory\n", prog);
            goto out;
        }
    }
    if (o->used && fwrite(o->buf, 1, o->used, o->f) != o->used)
        o->failed = 1;
    if (fclose(o->f) || o->failed) {
        o->f = NULL;
        fprintf(stderr, "%s: write error on %s\n", prog, out_path);
        goto out;
    }
    o->f = NULL;
    double dt = tool_now_seconds() - t0;
    if (!quiet)
        fprintf(stderr, "tokenize: %.1f MB, %llu documents -> %llu tokens with separators "
                "(%.3f bytes/token of text) in %.1f s, %.1f MB/s\n",
                bytes / 1e6, (unsigned long long)n_docs, (unsigned long long)o->n_tokens,
                o->n_tokens > n_docs ? (double)bytes / (double)(o->n_tokens - n_docs) : 0.0,
                dt, dt > 0 ? bytes / 1e6 / dt : 0.0);
    rc = 0;
out:
    if (o && o->f)
        fclose(o->f);
    if (rc && created)
        remove(out_path);
    free(o);
    free(ids);
    tok_free(t);
    gguf_close(&g);
    return rc;
}
