/*
 * samples.h -- the training samples of `lmz --train`: a text file is one sample; a
 * .jsonl file gives one sample per line, the string of the line's object's "text"
 * member (other members are ignored, blank lines skipped, empty texts dropped).
 */
#ifndef LMZ_TRAIN_SAMPLES_H
#define LMZ_TRAIN_SAMPLES_H

#include <stddef.h>

typedef struct tr_samples {
    char **text;             /* NUL-terminated, text[i][len[i]] == 0 */
    size_t *len;
    size_t n, cap;
    size_t bytes;            /* sum of len */
} tr_samples;

/* Append the samples of one file.  0, or -1 with a message naming the file (and line). */
int tr_samples_add_file(tr_samples *s, const char *path, char *err, size_t errlen);
void tr_samples_free(tr_samples *s);

#endif
