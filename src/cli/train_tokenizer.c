/*
 * train_tokenizer.c -- `lmz --train-tokenizer`: learn a byte-level BPE from text files and write
 * a GGUF holding only the tokenizer metadata.
 *
 * With --max-bytes below the input size, the text is sampled evenly: the files are cut
 * into ~1 MB blocks at line ends and every k-th share of them is read, so each file
 * contributes in proportion to its size.  Counting runs on two fixed halves of the
 * blocks (even, odd) in two threads, merged in that order: the result never depends on
 * the machine's core count.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/tools.h"
#include "train/bpe_train.h"

#define BLOCK_BYTES ((size_t)1 << 20)
#define N_PARTS 2

typedef struct block {
    const uint8_t *data;
    size_t len;
} block;

typedef struct count_job {
    const block *blocks;
    size_t n_blocks, first;     /* blocks first, first + N_PARTS, ... */
    bpe_counter *counter;
    int failed;
} count_job;

static void *count_part(void *arg)
{
    count_job *job = arg;
    for (size_t b = job->first; b < job->n_blocks && !job->failed; b += N_PARTS) {
        const uint8_t *s = job->blocks[b].data;
        size_t n = job->blocks[b].len, pos = 0;
        while (pos < n) {
            size_t next, end = bpe_doc_end(s, n, pos, &next);
            if (end > pos && bpe_counter_add(job->counter, s + pos, end - pos))
                job->failed = 1;
            pos = next;
        }
    }
    return NULL;
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [--vocab N] [--pre NAME] [--max-bytes N] [--max-words N]\n"
            "          [--max-word-len N] [--min-count N] [--quiet] --out TOKENIZER.gguf FILES...\n"
            "  --vocab N       tokens in all: 256 bytes + merges + <|endoftext|> (default 8192)\n"
            "  --pre NAME      pre-tokenizer: llama3 (default), gpt-2, qwen2, smollm\n"
            "  --max-bytes N   read at most about N bytes, sampled evenly (K/M/G suffixes)\n"
            "  --max-words N   distinct pre-tokens kept while counting (default %llu)\n"
            "Text files are split into documents at lines holding only the byte 0x1E.\n",
            prog, (unsigned long long)BPE_DEFAULT_MAX_WORDS);
}

/* Cut the files into blocks ending at line ends and keep an even share of them. */
static block *plan_blocks(const tool_mapped *files, int n_files, uint64_t max_bytes,
                          size_t *n_out)
{
    uint64_t total = 0, n_all = 0;
    for (int i = 0; i < n_files; i++) {
        total += files[i].size;
        n_all += files[i].size / BLOCK_BYTES + 1;
    }
    block *blocks = malloc((size_t)n_all * sizeof *blocks);
    if (!blocks)
        return NULL;
    uint64_t j = 0;
    size_t n = 0;
    for (int i = 0; i < n_files; i++) {
        const uint8_t *s = files[i].data;
        size_t size = files[i].size, pos = 0;
        while (pos < size) {
            size_t end = pos + BLOCK_BYTES < size ? pos + BLOCK_BYTES : size;
            const uint8_t *nl = end < size ? memchr(s + end, '\n', size - end) : NULL;
            end = nl ? (size_t)(nl - s) + 1 : size;
            /* keep block j when the running share max_bytes/total crosses an integer */
            int keep = !max_bytes || max_bytes >= total ||
                       (unsigned __int128)(j + 1) * max_bytes / total >
                       (unsigned __int128)j * max_bytes / total;
            if (keep && n < n_all)
                blocks[n++] = (block){s + pos, end - pos};
            j++;
            pos = end;
        }
    }
    *n_out = n;
    return blocks;
}

int lmz_bpe_train_main(int argc, char **argv)
{
    const char *prog = argc > 0 ? argv[0] : "bpe-train";
    const char *out_path = NULL, *pre_name = "llama3";
    uint64_t vocab = 8192, max_bytes = 0, max_words = 0, max_word_len = 0, min_count = 0;
    int quiet = 0, first_file = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t *num = NULL;
        if (!strcmp(a, "--vocab"))
            num = &vocab;
        else if (!strcmp(a, "--max-bytes"))
            num = &max_bytes;
        else if (!strcmp(a, "--max-words"))
            num = &max_words;
        else if (!strcmp(a, "--max-word-len"))
            num = &max_word_len;
        else if (!strcmp(a, "--min-count"))
            num = &min_count;
        if (num || !strcmp(a, "--pre") || !strcmp(a, "--out")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value\n", prog, a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--pre"))
                pre_name = v;
            else if (!strcmp(a, "--out"))
                out_path = v;
            else if (arg_parse_u64(v, 0, UINT64_MAX, ARG_SI, num)) {
                fprintf(stderr, "%s: %s: '%s' is not a number\n", prog, a, v);
                return 2;
            }
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(prog);
            return 0;
        } else if (!strcmp(a, "--")) {
            first_file = i + 1;
            break;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "%s: unknown option %s\n", prog, a);
            usage(prog);
            return 2;
        } else {
            first_file = i;
            break;
        }
    }
    int dummy;
    tok_pre pre = tok_pre_from_name(pre_name, strlen(pre_name), &dummy);
    if (strcmp(tok_pre_name(pre), pre_name)) {
        fprintf(stderr, "%s: unknown pre-tokenizer '%s' (llama3, gpt-2, qwen2, smollm)\n",
                prog, pre_name);
        return 2;
    }
    if (!out_path || first_file >= argc) {
        usage(prog);
        return 2;
    }
    if (vocab < 257 || vocab > (1u << 24)) {
        fprintf(stderr, "%s: --vocab must be in 257..16777216\n", prog);
        return 2;
    }
    if (max_word_len > 4096) {
        fprintf(stderr, "%s: --max-word-len must be at most 4096\n", prog);
        return 2;
    }

    int n_files = argc - first_file, rc = 1;
    char err[512];
    double t0 = tool_now_seconds();
    tool_mapped *files = calloc((size_t)n_files, sizeof *files);
    block *blocks = NULL;
    count_job jobs[N_PARTS];
    memset(jobs, 0, sizeof jobs);
    bpe_vocab v;
    memset(&v, 0, sizeof v);
    gguf_writer *w = NULL;
    if (!files)
        goto out;
    for (int i = 0; i < n_files; i++)
        if (tool_map_file(argv[first_file + i], &files[i], err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", prog, err);
            goto out;
        }
    size_t n_blocks;
    if (!(blocks = plan_blocks(files, n_files, max_bytes, &n_blocks)))
        goto oom;
    pthread_t th[N_PARTS];
    int started[N_PARTS] = {0};
    for (int k = 0; k < N_PARTS; k++) {
        jobs[k] = (count_job){blocks, n_blocks, (size_t)k,
                              bpe_counter_new(pre, max_words, (uint32_t)max_word_len), 0};
        if (!jobs[k].counter)
            goto oom;
    }
    for (int k = 0; k < N_PARTS; k++)
        started[k] = pthread_create(&th[k], NULL, count_part, &jobs[k]) == 0;
    for (int k = 0; k < N_PARTS; k++) {
        if (started[k])
            pthread_join(th[k], NULL);
        else
            count_part(&jobs[k]);
    }
    for (int k = 0; k < N_PARTS; k++)
        if (jobs[k].failed)
            goto oom;
    for (int k = 1; k < N_PARTS; k++)
        if (bpe_counter_merge(jobs[0].counter, jobs[k].counter))
            goto oom;
    bpe_counter_stats st;
    bpe_counter_get_stats(jobs[0].counter, &st);
    double t1 = tool_now_seconds();
    if (!quiet)
        fprintf(stderr, "bpe-train: counted %.1f MB, %llu pre-tokens, %llu distinct words kept "
                "(%llu dropped by --max-words, %llu longer than the word limit) in %.1f s\n",
                st.bytes / 1e6, (unsigned long long)st.words, (unsigned long long)st.distinct,
                (unsigned long long)st.pruned, (unsigned long long)st.long_words, t1 - t0);

    bpe_train_opts opts = {(uint32_t)vocab, min_count, !quiet};
    if (bpe_train(jobs[0].counter, &opts, &v, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        goto out;
    }
    double t2 = tool_now_seconds();
    if (!quiet)
        fprintf(stderr, "bpe-train: %u merges, %u tokens (pre %s) in %.1f s of merging, "
                "%.1f s in all\n", v.n_merges, v.n_tokens, tok_pre_name(pre), t2 - t1, t2 - t0);
    if (v.n_tokens < vocab)
        fprintf(stderr, "%s: warning: only %u tokens: no pair left occurring often enough\n",
                prog, v.n_tokens);
    if (!(w = gguf_writer_new()))
        goto oom;
    bpe_vocab_to_gguf(&v, w);
    if (gguf_writer_write_file(w, out_path, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        goto out;
    }
    rc = 0;
    goto out;
oom:
    fprintf(stderr, "%s: out of memory\n", prog);
out:
    gguf_writer_free(w);
    bpe_vocab_free(&v);
    for (int k = 0; k < N_PARTS; k++)
        bpe_counter_free(jobs[k].counter);
    free(blocks);
    if (files)
        for (int i = 0; i < n_files; i++)
            tool_unmap_file(&files[i]);
    free(files);
    return rc;
}
