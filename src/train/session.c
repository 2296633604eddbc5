/*
 * session.c -- see session.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/session.h"

static tr_session *session_alloc(const tr_run_state *st, const tr_data *data, int n_threads,
                                 char *err, size_t errlen)
{
    if (st->batch < 1 || st->seq_len < 1 || st->seq_len > st->model.n_ctx) {
        snprintf(err, errlen, "training: batch %u and sequence length %u (1 .. ctx %u) are "
                 "invalid", st->batch, st->seq_len, st->model.n_ctx);
        return NULL;
    }
    if (data->n_train < (size_t)st->seq_len + 1) {
        snprintf(err, errlen, "training: the training data (%zu tokens) is shorter than one "
                 "sequence of %u tokens", data->n_train, st->seq_len);
        return NULL;
    }
    tr_session *s = calloc(1, sizeof *s);
    if (!s) goto nomem;
    s->st = *st;
    s->data = data;
    s->t = trainer_new(&st->model, st->batch, n_threads, err, errlen);
    if (!s->t) {
        free(s);
        return NULL;
    }
    size_t n = trainer_n_params(s->t);
    s->m = calloc(n, sizeof(float));
    s->v = calloc(n, sizeof(float));
    s->batch = malloc((size_t)st->batch * (st->seq_len + 1) * sizeof *s->batch);
    if (!s->m || !s->v || !s->batch) {
        tr_session_free(s);
        goto nomem;
    }
    return s;
nomem:
    snprintf(err, errlen, "training: out of memory");
    return NULL;
}

tr_session *tr_session_new(const tr_run_state *st, const tr_data *data, int n_threads,
                           char *err, size_t errlen)
{
    tr_session *s = session_alloc(st, data, n_threads, err, errlen);
    if (!s) return NULL;
    s->st.step = 0;
    s->st.tokens_seen = 0;
    s->st.rng = st->seed ^ 0x6c6d7a2d74726169ull;      /* "lmz-trai": sampler != init stream */
    s->st.data_tokens = data->n_tokens;
    tm_init_params(&st->model, trainer_params(s->t), st->seed);
    return s;
}

tr_session *tr_session_resume(const char *path, const tr_data *data, int n_threads,
                              char *err, size_t errlen)
{
    tr_run_state st;
    float *p, *m, *v;
    if (tr_checkpoint_load(path, &st, &p, &m, &v, err, errlen)) return NULL;
    tr_session *s = NULL;
    if (st.data_tokens != data->n_tokens)
        snprintf(err, errlen, "checkpoint '%s' was made on a token stream of %llu tokens, not "
                 "this one of %zu", path, (unsigned long long)st.data_tokens, data->n_tokens);
    else
        s = session_alloc(&st, data, n_threads, err, errlen);
    if (s) {
        size_t n = trainer_n_params(s->t);
        memcpy(trainer_params(s->t), p, n * sizeof(float));
        memcpy(s->m, m, n * sizeof(float));
        memcpy(s->v, v, n * sizeof(float));
    }
    free(p); free(m); free(v);
    return s;
}

void tr_session_free(tr_session *s)
{
    if (!s) return;
    trainer_free(s->t);
    free(s->m);
    free(s->v);
    free(s->batch);
    free(s);
}

void tr_session_step(tr_session *s, tr_step_info *info)
{
    tr_run_state *st = &s->st;
    tr_data_train_batch(s->data, &st->rng, st->batch, st->seq_len, s->batch);
    double loss;
    trainer_forward(s->t, s->batch, st->batch, st->seq_len, &loss);  /* ids checked at load */
    trainer_backward(s->t);
    size_t n = trainer_n_params(s->t);
    double norm = tr_grad_norm(trainer_grads(s->t), n);
    float scale = st->opt.clip > 0 && norm > st->opt.clip ? (float)(st->opt.clip / norm) : 1.0f;
    float lr = tr_lr_at(&st->opt, st->step);
    tr_adamw_step(trainer_exec(s->t), &st->model, &st->opt, trainer_params(s->t),
                  trainer_grads(s->t), s->m, s->v, st->step, lr, scale);
    st->step++;
    st->tokens_seen += (uint64_t)st->batch * st->seq_len;
    if (info) *info = (tr_step_info){loss, norm, lr};
}

double tr_heldout_loss(trainer *t, const tr_data *d, uint32_t batch, uint32_t seq_len,
                       uint32_t max_windows, uint32_t *buf)
{
    uint32_t n = tr_data_heldout_windows(d, seq_len);
    if (n > max_windows) n = max_windows;
    if (n == 0) return -1;
    double total = 0;
    for (uint32_t i = 0; i < n; i += batch) {
        uint32_t k = n - i < batch ? n - i : batch;
        for (uint32_t j = 0; j < k; j++)
            tr_data_heldout_window(d, i + j, seq_len, buf + (size_t)j * (seq_len + 1));
        double loss;
        trainer_forward(t, buf, k, seq_len, &loss);
        total += loss * k;
    }
    return total / n;
}

double tr_session_eval(tr_session *s, uint32_t max_windows)
{
    return tr_heldout_loss(s->t, s->data, s->st.batch, s->st.seq_len, max_windows, s->batch);
}

int tr_session_save(const tr_session *s, const char *path, char *err, size_t errlen)
{
    return tr_checkpoint_save(path, &s->st, trainer_params(s->t), s->m, s->v, err, errlen);
}
