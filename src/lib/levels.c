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
 * the decoder many chunks to batch side by side (decompression 2.6x faster at 32 KiB).
 *
 * `keep` is a fraction of the window (in eighths), applied after the window is capped
 * to the model's context: every slide recomputes `keep` tokens to code `context - keep`
 * new ones, so keep = context/4 costs 1.33 forward passes per token and keep =
 * 3 context/4 costs 4, for more history on average.  Measured on the same text and
 * model (window 256, 1 thread): keep 32: 2.083 bpb, 37.5 KB/s; 64: 2.060, 35.0;
 * 128: 2.041, 24.7; 192: 2.029, 13.6. */
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
 * lmz-s2, 1024 for lmz-m1).  Measured with `lmz_bench -m MODEL -l ROW -T 1` (one
 * thread, another job beside it) on the first 128 KiB of llm-gpt-4o, llm-claude-3-opus,
 * prose-brown-sample-a and prose-canterbury-lcet10 (bpb, compress KB/s):
 *   lmz-s2 rows 1..9: 1.884 27.6, 1.838 28.2, 1.805 24.1, 1.768 21.9, 1.749 15.5,
 *                     1.743 13.3, 1.740 8.0, 1.737 7.7, 1.734 3.7
 * and on their first 32 KiB (shorter texts, so higher bpb):
 *   lmz-s2 row 5: 1.780 10.7, row 9: 1.769 3.5
 *   lmz-m1 row 3: 1.796 5.4, row 5: 1.735 4.2, row 7: 1.711 1.9, row 9: 1.710 0.9
 * lmz-m1 with a short window is no better than lmz-s2; from row 5 on it is ahead of
 * anything lmz-s2 does, and row 9 buys nothing over row 7 at half the speed. */
/*
 * Lanes change no output byte, only how many chunks share a forward pass; each thread
 * runs its own forward pass over its own lanes (lm_coder.c).  Decoding reads a lane's
 * whole KV cache for every token, so lanes pay only while every run's caches stay in
 * the L3 cache (32 MiB here, shared with other machines' work) beside the weights.
 * lmz-s2 stores 4 KiB per position (F16; 8 KiB in F32), and with its 512-token window
 * a lane averages ~1.5 MiB: decompressing the first 512 KiB of llm-gpt-4o at -5 (16
 * chunks, `lmz -T 2 -dc`) took 15.7-16.3 s with 1 lane per thread, 13.6-14.1 with 2 and
 * 13.9-16.4 with 4 (with the F32 cache: 18.3 s with 1 lane, 19.3-21.1 with 2, 25.3-26.3
 * with 4).  On the same text, 4 lanes against 8 at -2 decoded in 6.8 s against 7.9-8.9,
 * at -3 in 8.1-9.9 against 9.9-10.3; at -4, 2 lanes against 4: 10.8-11.2 s against
 * 10.4-13.2.  lmz-m1's cache outgrows L3 at any lane count (8 KiB a position); there
 * more lanes share its 31 MB of weight reads.
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
     * token, and half the bytes made `lmz -5 -T 2 -dc` of 512 KiB of llm-gpt-4o 13 %
     * faster (18.3 -> 16.0 s; compression 12.4 -> 11.6 s) for one byte more output
     * (108,831 against 108,830). */
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
