/*
 * tools.h -- the model-building tools behind `lmz --train-model`, `lmz --train`,
 * `lmz --train-tokenizer` and `lmz --tokenize` (doc/training.md), and what they share.
 * Each *_main takes argv[0] as the tool's name, the options after it, and returns the
 * process exit status (0 ok, 1 error, 2 usage).  Progress goes to stderr.
 */
#ifndef LMZ_CLI_TOOLS_H
#define LMZ_CLI_TOOLS_H

#include <stddef.h>
#include <stdint.h>

int lmz_train_main(int argc, char **argv);          /* train_model.c */
int lmz_lora_train_main(int argc, char **argv);     /* train_adapter.c */
int lmz_bpe_train_main(int argc, char **argv);      /* train_tokenizer.c */
int lmz_tokenize_main(int argc, char **argv);       /* tokenize.c */

/* A whole file, read-only (mmap; empty files give size 0).  0, or -1 with a message. */
typedef struct tool_mapped {
    const uint8_t *data;
    size_t size;
} tool_mapped;
int tool_map_file(const char *path, tool_mapped *m, char *err, size_t errlen);
void tool_unmap_file(tool_mapped *m);

/* Monotonic seconds, for the tools' progress lines. */
double tool_now_seconds(void);

#endif
