/*
 * rope.c -- see rope.h.
 */
#include <stdlib.h>

#include "kernels/detmath.h"
#include "model/rope.h"

int rope_init(rope_table *t, uint32_t n_pos, uint32_t n_rot, float base, float freq_scale)
{
    t->n_pos = n_pos;
    t->half = n_rot / 2;
    size_t n = (size_t)n_pos * t->half;
    t->cos = malloc((n ? n : 1) * sizeof(float));
    t->sin = malloc((n ? n : 1) * sizeof(float));
    if (!t->cos || !t->sin) {
        rope_free(t);
        return -1;
    }
    float exponent = -2.0f / (float)n_rot;
    float theta_scale = (float)lmz_pow_d((double)base, (double)exponent);
    for (uint32_t p = 0; p < n_pos; p++) {
        float theta = (float)p;
        for (uint32_t i = 0; i < t->half; i++) {
            float angle = freq_scale * theta;
            t->cos[(size_t)p * t->half + i] = (float)lmz_cos_d((double)angle);
            t->sin[(size_t)p * t->half + i] = (float)lmz_sin_d((double)angle);
            theta = theta * theta_scale;
        }
    }
    return 0;
}

void rope_free(rope_table *t)
{
    free(t->cos);
    free(t->sin);
    t->cos = t->sin = NULL;
}

void rope_apply(const rope_table *t, float *x, uint32_t n_heads, uint32_t head_dim,
                uint32_t pos, int neox)
{
    const float *c = t->cos + (size_t)pos * t->half;
    const float *s = t->sin + (size_t)pos * t->half;
    uint32_t half = t->half;
    for (uint32_t h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        for (uint32_t i = 0; i < half; i++) {
            uint32_t ia = neox ? i : 2 * i, ib = neox ? i + half : 2 * i + 1;
            float a = v[ia], b = v[ib];
            v[ia] = a * c[i] - b * s[i];
            v[ib] = a * s[i] + b * c[i];
        }
    }
}
