/*
 * levels.c -- what -1 .. -9 mean.  Each level trades speed for size through the model's
 * context window (attention cost and how much history predicts the next token) and the
 * chunk size (longer chunks lose less context at their starts, shorter ones give the
 * decoder more chunks to batch side by side).
 */
#include "lib/internal.h"

static const lmz_level_settings level_table[LMZ_LEVEL_MAX] = {
    /* chunk_size  context  keep  lanes */
    {  64 << 10,    128,     64,   16 },   /* -1 */
    {  64 << 10,    192,     96,   16 },
    { 128 << 10,    256,    128,   16 },
    { 128 << 10,    384,    192,   16 },
    { 128 << 10,    512,    256,   16 },   /* -5, default */
    { 256 << 10,    768,    384,    8 },
    { 256 << 10,   1024,    512,    8 },
    { 512 << 10,   1536,    768,    8 },
    {   1 << 20,   2048,   1024,    8 },   /* -9 */
};

void lmz_level_get(int level, uint32_t n_ctx_train, lmz_level_settings *out)
{
    if (level < LMZ_LEVEL_MIN || level > LMZ_LEVEL_MAX) level = LMZ_LEVEL_DEFAULT;
    *out = level_table[level - 1];
    if (n_ctx_train >= 2 && out->context > n_ctx_train) {
        out->context = n_ctx_train;
        out->keep = n_ctx_train / 2;
    }
}
