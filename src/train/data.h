/*
 * data.h -- training data: a stream of token ids (a file of little-endian uint32), split
 * into a training part and a held-out tail, served as batches of sequences.
 */
#ifndef LMZ_TRAIN_DATA_H
#define LMZ_TRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

typedef struct tr_data {
    uint32_t *tokens;
    size_t n_tokens;
    size_t n_train;          /* tokens [0, n_train) train; [n_train, n_tokens) held out */
} tr_data;

/* Load FILE.u32; every id must be < n_vocab.  The held-out part is the last
 * heldout_frac of the stream (at least seq_len + 1 tokens when heldout_frac > 0); the
 * training part must hold at least seq_len + 1 tokens.  0, or -1 with a message. */
int tr_data_load(tr_data *d, const char *path, uint32_t n_vocab, double heldout_frac,
                 uint32_t seq_len, char *err, size_t errlen);
/* The same from ids in memory (copied). */
int tr_data_from_tokens(tr_data *d, const uint32_t *tokens, size_t n, uint32_t n_vocab,
                        double heldout_frac, uint32_t seq_len, char *err, size_t errlen);
void tr_data_free(tr_data *d);

/* n_seq windows of seq_len + 1 tokens at uniformly random offsets of the training part
 * (the rng state advances by n_seq draws), as trainer_forward takes them. */
void tr_data_train_batch(const tr_data *d, uint64_t *rng, uint32_t n_seq, uint32_t seq_len,
                         uint32_t *out);

/* Held-out windows: consecutive, non-overlapping windows of seq_len + 1 tokens. */
uint32_t tr_data_heldout_windows(const tr_data *d, uint32_t seq_len);
void tr_data_heldout_window(const tr_data *d, uint32_t i, uint32_t seq_len, uint32_t *out);

#endif
