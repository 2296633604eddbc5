/*
 * optimizer.h -- AdamW with linear warmup and cosine decay, and global-norm gradient
 * clipping.  The moments m, v have the parameter layout of train_model.h.
 */
#ifndef LMZ_TRAIN_OPTIMIZER_H
#define LMZ_TRAIN_OPTIMIZER_H

#include <stddef.h>
#include <stdint.h>

#include "train/train_model.h"
#include "train/train_ops.h"

typedef struct tr_opt_config {
    float lr;                /* peak learning rate */
    float lr_min;            /* end of the cosine (default lr / 10) */
    float beta1, beta2, eps;
    float weight_decay;      /* decoupled, matrices and embeddings only (not norms) */
    float clip;              /* global gradient norm limit (0: none) */
    uint32_t warmup;         /* steps of linear warmup */
    uint32_t total_steps;    /* the cosine reaches lr_min here, and stays */
} tr_opt_config;

/* lr 1e-3, lr_min 1e-4, betas 0.9 / 0.95, eps 1e-8, weight decay 0.1, clip 1,
 * warmup 100, total 1000. */
void tr_opt_defaults(tr_opt_config *o);

/* Learning rate of step `step` (0-based): (step+1)/warmup * lr during the warmup, then
 * lr_min + (lr - lr_min) (1 + cos(pi * progress)) / 2. */
float tr_lr_at(const tr_opt_config *o, uint64_t step);

/* sqrt(sum g^2), summed in double. */
double tr_grad_norm(const float *g, size_t n);

/* One AdamW update (bias correction for step+1 updates done), gradients multiplied by
 * grad_scale first (the clipping factor):
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= lr (m / (1-b1^t) / (sqrt(v / (1-b2^t)) + eps) + wd p) */
void tr_adamw_step(const tr_exec *x, const tm_config *c, const tr_opt_config *o,
                   float *params, const float *grads, float *m, float *v, uint64_t step,
                   float lr, float grad_scale);

/* The same over one flat array (a LoRA adapter's), o->weight_decay on every element. */
void tr_adamw_step_flat(const tr_exec *x, const tr_opt_config *o, float *params,
                        const float *grads, float *m, float *v, size_t n, uint64_t step,
                        float lr, float grad_scale);

#endif
