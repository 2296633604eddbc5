/*
 * data.c -- see data.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/data.h"
#include "train/train_model.h"

static int split(tr_data *d, uint32_t n_vocab, double heldout_frac, uint32_t seq_len,
                 const char *what, char *err, size_t errlen)
{
    for (size_t i = 0; i < d->n_tokens; i++)
        if (d->tokens[i] >= n_vocab) {
            snprintf(err, errlen, "%s: token %zu is %u, outside the vocabulary of %u", what, i,
                     d->tokens[i], n_vocab);
            return -1;
        }
    size_t held = 0;
    if (heldout_frac > 0) {
        held = (size_t)((double)d->n_tokens * heldout_frac);
        if (held < (size_t)seq_len + 1) held = (size_t)seq_len + 1;
    }
    if (d->n_tokens < held + seq_len + 1) {
        snprintf(err, errlen, "%s: %zu tokens are too few for sequences of %u tokens plus a "
                 "held-out part of %zu", what, d->n_tokens, seq_len, held);
        return -1;
    }
    d->n_train = d->n_tokens - held;
    return 0;
}

int tr_data_from_tokens(tr_data *d, const uint32_t *tokens, size_t n, uint32_t n_vocab,
                        double heldout_frac, uint32_t seq_len, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    d->tokens = malloc((n ? n : 1) * sizeof *d->tokens);
    if (!d->tokens) {
        snprintf(err, errlen, "out of memory for %zu tokens", n);
        return -1;
    }
    memcpy(d->tokens, tokens, n * sizeof *tokens);
    d->n_tokens = n;
    if (split(d, n_vocab, heldout_frac, seq_len, "token stream", err, errlen)) {
        tr_data_free(d);
        return -1;
    }
    return 0;
}

int tr_data_load(tr_data *d, const char *path, uint32_t n_vocab, double heldout_frac,
                 uint32_t seq_len, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "cannot open token file '%s': %s", path, strerror(errno));
        return -1;
    }
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    if (size < 0 || fseek(fp, 0, SEEK_SET) != 0 || size % 4) {
        snprintf(err, errlen, "'%s' is not a file of uint32 token ids (size %ld is not a "
                 "multiple of 4)", path, size);
        fclose(fp);
        return -1;
    }
    d->n_tokens = (size_t)size / 4;
    d->tokens = malloc(d->n_tokens ? (size_t)size : 4);
    if (!d->tokens || fread(d->tokens, 4, d->n_tokens, fp) != d->n_tokens) {
        snprintf(err, errlen, "%s '%s'", d->tokens ? "cannot read" : "out of memory for", path);
        fclose(fp);
        tr_data_free(d);
        return -1;
    }
    fclose(fp);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < d->n_tokens; i++) d->tokens[i] = __builtin_bswap32(d->tokens[i]);
#endif
    if (split(d, n_vocab, heldout_frac, seq_len, path, err, errlen)) {
        tr_data_free(d);
        return -1;
    }
    return 0;
}

void tr_data_free(tr_data *d)
{
    free(d->tokens);
    memset(d, 0, sizeof *d);
}

void tr_data_train_batch(const tr_data *d, uint64_t *rng, uint32_t n_seq, uint32_t seq_len,
                         uint32_t *out)
{
    size_t span = d->n_train - seq_len;     /* offsets 0 .. n_train - seq_len - 1 */
    for (uint32_t s = 0; s < n_seq; s++) {
        size_t off = (size_t)(tm_rng_next(rng) % span);
        memcpy(out + (size_t)s * (seq_len + 1), d->tokens + off, (seq_len + 1) * sizeof *out);
    }
}

uint32_t tr_data_heldout_windows(const tr_data *d, uint32_t seq_len)
{
    size_t n = (d->n_tokens - d->n_train) / ((size_t)seq_len + 1);
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

void tr_data_heldout_window(const tr_data *d, uint32_t i, uint32_t seq_len, uint32_t *out)
{
    memcpy(out, d->tokens + d->n_train + (size_t)i * (seq_len + 1), (seq_len + 1) * sizeof *out);
}
