/*
 * rope.h -- rotary position embedding: the angle table and its application.
 *
 * The table reproduces llama.cpp's angles: theta_scale = powf(base, -2.0f / n_rot)
 * (here: the double detmath pow rounded to float), and for each position p the float
 * running product theta_0 = p, theta_{i+1} = theta_i * theta_scale, each angle scaled by
 * freq_scale (linear RoPE scaling) in float, then cos and sin rounded from double
 * (lmz_cos_d, lmz_sin_d) to float.
 */
#ifndef LMZ_ROPE_H
#define LMZ_ROPE_H

#include <stdint.h>

typedef struct rope_table {
    uint32_t n_pos, half;     /* half = n_rot / 2 */
    float *cos, *sin;         /* [n_pos][half] */
} rope_table;

int rope_init(rope_table *t, uint32_t n_pos, uint32_t n_rot, float base, float freq_scale);
void rope_free(rope_table *t);

/* Rotate n_heads heads of head_dim floats at position pos, in place.  Pairs are
 * (2i, 2i+1) (llama, "normal") or (i, i + n_rot/2) (neox); dims >= n_rot are kept:
 *   a' = a*cos - b*sin;  b' = a*sin + b*cos   (products rounded, then the sum) */
void rope_apply(const rope_table *t, float *x, uint32_t n_heads, uint32_t head_dim,
                uint32_t pos, int neox);

#endif
