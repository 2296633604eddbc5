/*
 * levels.c -- what -1 .. -9 mean.  Each level trades speed for size through the model's
 * context window (attention cost and how much history predicts the next token) and the
 * chunk size (longer chunks lose less context at their starts, shorter ones give the
 * decoder more chunks to batch side by side).
 */
#include "lib/internal.h"

/* Chunks of 16-32 KiB cost little: a chunk loses only the context its first `context`
 * tokens would have had (measured with the 4.46M default model, ctx 256, on 300 KB of
 * GPT-4o text: 32 KiB chunks +0.25 % size against 128 KiB, 16 KiB +0.5 %), and they give
 * the decoder many chunks to batch side by side (decompression 2.6x faster at 32 KiB). */
static const lmz_level_settings level_table[LMZ_LEVEL_MAX] = {
    /* chunk_size  context  keep  lanes */
    {  16 << 10,    128,     64,   16 },   /* -1 */
    {  16 << 10,    192,     96,   16 },
    {  32 << 10,    256,    128,   16 },
    {  32 << 10,    384,    192,   16 },
    {  32 << 10,    512,    256,   16 },   /* -5, default */
    {  64 << 10,    768,    384,   16 },
    {  64 << 10,   1024,    512,   16 },
    { 128 << 10,   1536,    768,    8 },
    { 256 << 10,   2048,   1024,    8 },   /* -9 */
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
