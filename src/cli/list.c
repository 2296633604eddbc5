/* list.c -- lmz -l: what an .lmz file holds, read from its headers and records alone. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/fdio.h"

#define ROW_FORMAT "%12s %14s %7s %7s %7s %-13s %-20s %s\n"

static void print_header(void)
{
    printf(ROW_FORMAT, "compressed", "uncompressed", "ratio", "bpb", "chunks",
           "lm/zstd/raw", "model", "name");
}

static void print_row(uint64_t compressed, uint64_t uncompressed, uint64_t chunks,
                      uint64_t lm, uint64_t zstd, uint64_t raw, const char *model,
                      const char *name)
{
    char c[24], u[24], ratio[24] = "-", bpb[24] = "-", n[24], methods[72];
    snprintf(c, sizeof c, "%llu", (unsigned long long)compressed);
    snprintf(u, sizeof u, "%llu", (unsigned long long)uncompressed);
    if (uncompressed && compressed)
        snprintf(ratio, sizeof ratio, "%.2f", (double)uncompressed / (double)compressed);
    if (uncompressed)
        snprintf(bpb, sizeof bpb, "%.3f", bits_per_byte(compressed, uncompressed));
    snprintf(n, sizeof n, "%llu", (unsigned long long)chunks);
    snprintf(methods, sizeof methods, "%llu/%llu/%llu", (unsigned long long)lm,
             (unsigned long long)zstd, (unsigned long long)raw);
    printf(ROW_FORMAT, c, u, ratio, bpb, n, methods, model, name);
}

/* A stream stores the first LMZ_STREAM_ID_SIZE bytes of each identity. */
static void print_id(const char *before, const char *label, const uint8_t hash[16])
{
    printf("%s%s id ", before, label);
    for (int i = 0; i < LMZ_STREAM_ID_SIZE; i++)
        printf("%02x", hash[i]);
}

static void print_details(const lmz_stream_info *info)
{
    static const uint8_t no_adapter[16];
    printf("    format version %u, level %u, chunk size %u bytes, context %u tokens, %llu tokens",
           info->format_version, info->level, info->chunk_size, info->context,
           (unsigned long long)info->n_tokens);
    if (info->n_tokens)
        printf(" (%.2f bytes/token)", (double)info->original_size / (double)info->n_tokens);
    printf("\n");
    print_id("    ", "model", info->model_hash);
    print_id(", ", "tokenizer", info->tokenizer_hash);
    if (memcmp(info->adapter_hash, no_adapter, sizeof no_adapter) == 0)
        printf(", no adapter");
    else {
        print_id(", ", "adapter", info->adapter_hash);
        if (info->adapter_name[0]) printf(" (%s)", info->adapter_name);
    }
    printf("\n");
}

static void add_stream(lmz_stream_info *info, const lmz_stream_info *next)
{
    info->original_size += next->original_size;
    info->compressed_size += next->compressed_size;
    info->n_chunks += next->n_chunks;
    info->n_chunks_lm += next->n_chunks_lm;
    info->n_chunks_zstd += next->n_chunks_zstd;
    info->n_chunks_raw += next->n_chunks_raw;
    info->n_tokens += next->n_tokens;
}

void cli_list(struct cli *cli, const char *operand, struct list_totals *totals)
{
    bool from_stdin = strcmp(operand, "-") == 0;
    const char *name = from_stdin ? "(stdin)" : operand;
    int fd = STDIN_FILENO;

    if (from_stdin) {
        if (isatty(fd) && !cli->opt.force) {
            cli_error(cli, NULL, "compressed data not read from a terminal (use -f to force)");
            return;
        }
    } else {
        struct stat st;
        fd = open(operand, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
            cli_error(cli, name, "%s", strerror(errno));
            return;
        }
        if (fstat(fd, &st) != 0) {
            cli_error(cli, name, "%s", strerror(errno));
            close(fd);
            return;
        }
        if (!S_ISREG(st.st_mode)) {
            cli_warning(cli, name, "%s -- ignored",
                        S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file");
            close(fd);
            return;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    }

    struct fd_reader r;
    fd_reader_init(&r, fd, false);
    lmz_stream_info info;
    lmz_error err = { 0 };
    lmz_status st = lmz_stream_list(fd_reader_read, &r, &info, &err);
    /* Concatenated streams are listed as one file, as they decompress to one. */
    int more = 0;
    while (st == LMZ_OK && (more = fd_reader_peek(&r)) == 1) {
        lmz_stream_info next;
        if ((st = lmz_stream_list(fd_reader_read, &r, &next, &err)) == LMZ_OK)
            add_stream(&info, &next);
    }
    if (more < 0)
        st = LMZ_ERR_IO;
    if (!from_stdin)
        close(fd);
    if (st != LMZ_OK) {
        if (r.error && r.error != EINTR)
            cli_error(cli, name, "read error: %s", strerror(r.error));
        else if (!r.error)
            cli_error(cli, name, "%s", err.message[0] ? err.message : lmz_status_string(st));
        return;
    }

    if (totals->n_files == 0)
        print_header();
    /* The compressed size is the whole file, whatever the streams' own fields say. */
    print_row(r.bytes, info.original_size, info.n_chunks, info.n_chunks_lm,
              info.n_chunks_zstd, info.n_chunks_raw, info.model_name, name);
    if (cli->opt.verbosity > 0)
        print_details(&info);
    totals->n_files++;
    totals->compressed += r.bytes;
    totals->uncompressed += info.original_size;
    totals->chunks += info.n_chunks;
    totals->lm += info.n_chunks_lm;
    totals->zstd += info.n_chunks_zstd;
    totals->raw += info.n_chunks_raw;
}

void cli_list_totals(const struct list_totals *t)
{
    if (t->n_files < 2)
        return;
    char label[48];
    snprintf(label, sizeof label, "(totals, %d files)", t->n_files);
    print_row(t->compressed, t->uncompressed, t->chunks, t->lm, t->zstd, t->raw, "", label);
}
