/*
 * subcommands.c -- the model-building tools behind `lmz --train-tokenizer`,
 * `lmz --tokenize` and `lmz --train-model` (doc/training.md).  They are options, not
 * words, so that no file name is ever taken for a command (zstd does the same with
 * --train).  Unlike the rest of the CLI they call the library's internal trainers.
 */
#include <string.h>

#include "cli/cli.h"
#include "cli/tools.h"

static const struct {
    const char *option;
    const char *name;      /* what the tool calls itself in its messages */
    int (*run)(int argc, char **argv);
} subcommands[] = {
    { "--train-tokenizer", "lmz --train-tokenizer", lmz_bpe_train_main },
    { "--tokenize", "lmz --tokenize", lmz_tokenize_main },
    { "--train-model", "lmz --train-model", lmz_train_main },
};

int cli_run_subcommand(int argc, char **argv, int *status)
{
    if (argc < 2) return 0;
    /* --train anywhere before "--" (lmz -9 --train FILES -o A.lora.gguf), like zstd */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--train") != 0) continue;
        memmove(argv + i, argv + i + 1, (size_t)(argc - i - 1) * sizeof *argv);
        argv[0] = (char *)"lmz --train";
        *status = lmz_lora_train_main(argc - 1, argv);
        return 1;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
        if (strcmp(argv[1], subcommands[i].option) == 0) {
            /* The tool sees its own name as argv[0] and its options after it. */
            argv[1] = (char *)subcommands[i].name;
            *status = subcommands[i].run(argc - 1, argv + 1);
            return 1;
        }
    }
    return 0;
}
