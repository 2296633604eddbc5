/*
 * bpe_tool.c -- standalone driver for the tokenizer-training commands until they are
 * wired into `lmz`:  bpe_tool train ARGS...  |  bpe_tool tokenize ARGS...
 * Built by tools/bpe/measure_vocab.sh from the library sources.
 */
#include <stdio.h>
#include <string.h>

#include "tokenizer/bpe_train.h"

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "train"))
        return lmz_bpe_train_main(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "tokenize"))
        return lmz_tokenize_main(argc - 1, argv + 1);
    fprintf(stderr, "usage: bpe_tool train|tokenize ARGS... (--help)\n");
    return 2;
}
