/*
 * session.h -- a training run: trainer + optimizer state + data sampler, stepped one
 * optimizer step at a time, saved to and resumed from checkpoints (checkpoint.h).
 * Resuming with the same thread count continues bit for bit as if never interrupted.
 */
#ifndef LMZ_TRAIN_SESSION_H
#define LMZ_TRAIN_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "train/checkpoint.h"
#include "train/data.h"
#include "train/trainer.h"

typedef struct tr_session {
    trainer *t;
    tr_run_state st;
    float *m, *v;            /* AdamW moments */
    const tr_data *data;     /* not owned */
    uint32_t *batch;         /* batch * (seq_len + 1) token ids */
} tr_session;

typedef struct tr_step_info {
    double loss;             /* mean training loss of the step's batch (before the update) */
    double grad_norm;        /* before clipping */
    float lr;
} tr_step_info;

/* A fresh run: parameters initialized from st->seed; st->step, tokens_seen set to 0 and
 * the sampler seeded from st->seed.  NULL with a message. */
tr_session *tr_session_new(const tr_run_state *st, const tr_data *data, int n_threads,
                           char *err, size_t errlen);
/* Resume from a checkpoint (which must match data's size).  NULL with a message. */
tr_session *tr_session_resume(const char *path, const tr_data *data, int n_threads,
                              char *err, size_t errlen);
void tr_session_free(tr_session *s);

/* One optimizer step on a fresh batch. */
void tr_session_step(tr_session *s, tr_step_info *info);
/* Mean loss over up to max_windows held-out windows (0 windows: returns -1). */
double tr_session_eval(tr_session *s, uint32_t max_windows);
/* The same for any trainer and data: up to max_windows held-out windows of seq_len
 * tokens, `batch` per forward pass, through buf (batch * (seq_len + 1) ids). */
double tr_heldout_loss(trainer *t, const tr_data *d, uint32_t batch, uint32_t seq_len,
                       uint32_t max_windows, uint32_t *buf);
int tr_session_save(const tr_session *s, const char *path, char *err, size_t errlen);

#endif
