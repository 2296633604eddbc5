/*
 * optimizer.c -- see optimizer.h.
 */
#include <math.h>

#include "kernels/detmath.h"
#include "train/optimizer.h"

void tr_opt_defaults(tr_opt_config *o)
{
    *o = (tr_opt_config){.lr = 1e-3f, .lr_min = 1e-4f, .beta1 = 0.9f, .beta2 = 0.95f,
                         .eps = 1e-8f, .weight_decay = 0.1f, .clip = 1.0f, .warmup = 100,
                         .total_steps = 1000};
}

float tr_lr_at(const tr_opt_config *o, uint64_t step)
{
    if (step < o->warmup) return o->lr * (float)(step + 1) / (float)o->warmup;
    double span = o->total_steps > o->warmup ? (double)(o->total_steps - o->warmup) : 1.0;
    double progress = (double)(step - o->warmup) / span;
    if (progress > 1.0) progress = 1.0;
    double cosine = 0.5 * (1.0 + lmz_cos_d(3.141592653589793 * progress));
    return (float)(o->lr_min + (o->lr - o->lr_min) * cosine);
}

double tr_grad_norm(const float *g, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

typedef struct adam_job {
    const tr_exec *x;
    tr_adam_args a;
} adam_job;

static void adam_rows(void *arg, uint32_t i0, uint32_t i1)
{
    const adam_job *j = arg;
    j->x->v->adam(&j->a, i0, i1);
}

/* One AdamW update of n parameters with one weight decay. */
static void adam_range(const tr_exec *x, const tr_opt_config *o, float *p, float *m, float *v,
                       const float *g, size_t n, uint64_t step, float lr, float wd,
                       float grad_scale)
{
    double t = (double)step + 1.0;
    float bc1 = (float)(1.0 - lmz_pow_d(o->beta1, t));
    float bc2 = (float)(1.0 - lmz_pow_d(o->beta2, t));
    adam_job j = {x, {p, m, v, g, lr, o->beta1, o->beta2, o->eps, wd, grad_scale, bc1, bc2}};
    tr_parallel_rows(x, (uint32_t)n, adam_rows, &j);
}

void tr_adamw_step(const tr_exec *x, const tm_config *c, const tr_opt_config *o,
                   float *params, const float *grads, float *m, float *v, uint64_t step,
                   float lr, float grad_scale)
{
    for (uint32_t i = 0; i < tm_n_tensors(c); i++) {
        tm_tensor ti;
        tm_tensor_at(c, i, &ti);
        adam_range(x, o, params + ti.offset, m + ti.offset, v + ti.offset, grads + ti.offset,
                   (size_t)ti.n_out * ti.n_in, step, lr,
                   ti.is_matrix ? o->weight_decay : 0.0f, grad_scale);
    }
}

void tr_adamw_step_flat(const tr_exec *x, const tr_opt_config *o, float *params,
                        const float *grads, float *m, float *v, size_t n, uint64_t step,
                        float lr, float grad_scale)
{
    adam_range(x, o, params, m, v, grads, n, step, lr, o->weight_decay, grad_scale);
}
