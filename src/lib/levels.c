/*
 * levels.c -- what -1 .. -9 mean.  Each level trades speed for size through the model's
 * context window (attention cost and how much history predicts the next token) and the
 * chunk size (longer chunks lose less context at their starts, shorter ones give the
 * decoder more chunks to batch side by side).
 */
#include "lib/internal.h"

/* Chunks of 16-32 KiB cost little: a chunk loses only the context its first `context`
 * tokens would have had, and short chunks give the decoder many to batch side by side.
 *
 * `keep` is a fraction of the window (in eighths), applied after the window is capped
 * to the model's context: every slide recomputes `keep` tokens to code `context - keep`
 * new ones, so keep = context/4 costs 1.33 forward passes per token and keep =
 * 3 context/4 costs 4, for more history on average.
 *
 * The measurements behind every number of this file: bench/results/tuning.md. */
typedef struct level_row {
    uint32_t chunk_size, context, keep_eighths, lanes;
} level_row;

static const level_row level_table[LMZ_LEVEL_MAX] = {
    /* chunk_size  context  keep/8  lanes per run */
    {  16 << 10,    128,     2,      8 },   /* -1 */
    {  16 << 10,    192,     2,      8 },
    {  32 << 10,    256,     2,      8 },
    {  32 << 10,    384,     3,      8 },
    {  32 << 10,    512,     4,      8 },   /* -5, default */
    {  64 << 10,    768,     5,      8 },
    {  64 << 10,   1024,     6,      8 },
    { 128 << 10,   1536,     6,      4 },
    { 256 << 10,   2048,     7,      4 },   /* -9 */
};

/* With the built-in models, a level is a model and one row of the table above (the
 * row's window is then clamped to that model's training context: 512 tokens for
 * lmz-s2, 1024 for lmz-m1).  lmz-m1 with a short window is no better than lmz-s2; from
 * row 5 on it is ahead of anything lmz-s2 does, and row 9 buys nothing over row 7.
 *
 * Lanes change no output byte, only how many chunks share a forward pass; each thread
 * runs its own forward pass over its own lanes (lm_coder.c).  Decoding reads a lane's
 * whole KV cache for every token, so lanes pay only while every run's caches stay in L3
 * beside the weights: lmz-s2 takes 2-4 per thread, while lmz-m1's cache outgrows L3 at
 * any lane count and more lanes share its weight reads instead.
 */
typedef struct builtin_level {
    lmz_builtin model;
    int row;                /* 1-based, as the levels */
    uint32_t lanes;         /* per thread; 0: the row's */
} builtin_level;

static const builtin_level builtin_table[LMZ_LEVEL_MAX] = {
    { LMZ_BUILTIN_T1, 1, 0 },  /* -1 */
    { LMZ_BUILTIN_S2, 2, 4 },
    { LMZ_BUILTIN_S2, 3, 4 },
    { LMZ_BUILTIN_S2, 4, 2 },
    { LMZ_BUILTIN_S2, 5, 2 },  /* -5, default */
    { LMZ_BUILTIN_S2, 6, 2 },
    { LMZ_BUILTIN_S2, 7, 2 },
    { LMZ_BUILTIN_M1, 5, 8 },
    { LMZ_BUILTIN_M1, 7, 8 },  /* -9 */
};

static int valid_level(int level)
{
    return level < LMZ_LEVEL_MIN || level > LMZ_LEVEL_MAX ? LMZ_LEVEL_DEFAULT : level;
}

static void row_settings(int row_number, uint32_t n_ctx_train, lmz_level_settings *out)
{
    const level_row *row = &level_table[row_number - 1];
    out->chunk_size = row->chunk_size;
    out->context = row->context;
    out->lanes = row->lanes;
    if (n_ctx_train >= 2 && out->context > n_ctx_train) out->context = n_ctx_train;
    out->keep = (uint32_t)((uint64_t)out->context * row->keep_eighths / 8);
    if (out->keep < 1) out->keep = 1;
    /* Every level keeps its KV cache in F16: decoding reads the whole cache for every
     * token, and half the bytes decode faster for about a byte more output. */
    out->kv_f16 = 1;
}

void lmz_level_get(int level, uint32_t n_ctx_train, lmz_level_settings *out)
{
    row_settings(valid_level(level), n_ctx_train, out);
}

lmz_builtin lmz_level_builtin(int level)
{
    return builtin_table[valid_level(level) - 1].model;
}

void lmz_level_get_builtin(int level, uint32_t n_ctx_train, lmz_level_settings *out)
{
    const builtin_level *b = &builtin_table[valid_level(level) - 1];
    row_settings(b->row, n_ctx_train, out);
    if (b->lanes) out->lanes = b->lanes;
}
