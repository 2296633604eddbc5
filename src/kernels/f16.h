/*
 * f16.h -- IEEE binary16 and bfloat16 <-> binary32, exact and the same on every machine
 * (f16.c says how NaNs and subnormals go).  The weights' F16/BF16 types and the F16 KV
 * cache are read and written through these.
 */
#ifndef LMZ_KERNELS_F16_H
#define LMZ_KERNELS_F16_H

#include <stdint.h>

float lmz_f16_to_f32(uint16_t h);
uint16_t lmz_f32_to_f16(float f);          /* round to nearest even */
float lmz_bf16_to_f32(uint16_t h);
uint16_t lmz_f32_to_bf16(float f);         /* round to nearest even */

#endif
