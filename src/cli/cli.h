/*
 * cli.h -- the state the lmz command-line program carries from the options to each file.
 *
 * The program is a thin client of liblmz (include/lmz.h): it parses options, loads one
 * model, creates one context and runs it over each named file in turn.
 */
#ifndef LMZ_CLI_H
#define LMZ_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lmz.h"
#include "cli/progress.h"

#define LMZ_SUFFIX ".lmz"

/* Exit codes, as gzip: a warning (a skipped file) never hides an error. */
enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_WARNING = 2 };

enum cli_mode { MODE_COMPRESS, MODE_DECOMPRESS, MODE_TEST, MODE_LIST };

struct cli_options {
    enum cli_mode mode;
    bool to_stdout;         /* -c, or -o - */
    const char *output;     /* -o OUT (a file name, never "-") */
    bool keep;              /* -k */
    bool recursive;         /* -r */
    bool force;             /* -f */
    int verbosity;          /* -1 quiet, 0 normal, 1 verbose */
    int level;              /* 1..9, 0 = library default */
    int threads;            /* -T N; 0 = one per online CPU */
    const char *model_path; /* -m, else $LMZ_MODEL, else the built-in models */
    const char *adapter_path; /* -A: an adapter file, or a directory of them */
    lmz_simd simd;
    uint32_t chunk_size;
    uint32_t context;
    bool lm_always;         /* --lm-always: no zstd/raw fallback chunks */
    bool no_mix;            /* --no-mix: the LM alone (lmz_params.no_mix) */
    bool no_compact;        /* --no-compact: lmz_params.no_compact */
    int mix_version;        /* --mix-version: lmz_params.mix_version (0: newest) */
    bool no_names;          /* -n: no model or adapter name in the stream */
    bool help, version;
    char **files;           /* FILE operands; none means "-" */
    int n_files;
};

struct cli {
    struct cli_options opt;
    int status;             /* worst exit code so far */
    mode_t umask;           /* for outputs that have no input file to copy a mode from */
    lmz_model *model;       /* NULL for -l and with the built-in models */
    lmz_ctx *ctx;
    lmz_adapter **adapters; /* -A's, owned */
    size_t n_adapters;
    struct progress progress;
};

/* Open -A's adapters and give them to cli->ctx (adapters.c).  -1 after a message. */
int cli_load_adapters(struct cli *cli);
void cli_free_adapters(struct cli *cli);

/* "lmz: NAME: message" on stderr (NAME may be NULL).  An error sets the exit status to 1;
 * a warning sets it to 2 unless it is already 1, and -q silences it. */
void cli_error(struct cli *cli, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cli_warning(struct cli *cli, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parse argv into opt.  Returns 0, or prints the problem and returns -1. */
int cli_parse_options(struct cli_options *opt, int argc, char **argv);
void cli_print_help(void);

/* Compress, decompress or test one FILE operand ("-" = standard input). */
void cli_process(struct cli *cli, const char *name);

/* Compressing or decompressing to files, or testing: the operands' regular files of at
 * most max_size bytes coded side by side (lmz_compress_many, lmz_decompress_many), each
 * then written as cli_process writes it; the other operands, and those that fail to
 * decode, through cli_process. */
int cli_batchable(const struct cli *cli);
int cli_process_batch(struct cli *cli, char **operands, int n, uint64_t max_size);

/* -r: the operands with each directory replaced by the files under it that the mode
 * takes (recurse.c); NULL after a message.  Free with cli_free_expanded. */
char **cli_expand_recursive(struct cli *cli, char **operands, int n, int *n_out);
void cli_free_expanded(char **files, int n);

/* -l: one row per file, the header before the first row, a total after several. */
struct list_totals {
    int n_files;
    uint64_t compressed, uncompressed;
    uint64_t chunks, lm, zstd, raw;
};
void cli_list(struct cli *cli, const char *name, struct list_totals *totals);
void cli_list_totals(const struct list_totals *totals);

/* `lmz --train-tokenizer|--tokenize|--train-model ...`: if argv[1] names one, run it,
 * set *status to its exit status and return 1; else return 0. */
int cli_run_subcommand(int argc, char **argv, int *status);

#endif
