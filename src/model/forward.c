/*
 * forward.c -- the transformer forward pass over a batch of tokens from any mix of
 * sequences (llama / qwen2 / qwen3).
 *
 * Why the logits do not depend on batch composition, threads or SIMD path
 * (doc/determinism.md has the full rule):
 *   - every output element of a matrix product is one fma chain over its inputs in
 *     index order (kernels.h); batching only decides which chains run side by side;
 *   - threads split output panels or (token, kv head) attention tasks, never a sum;
 *   - per-token work (norms, RoPE, residual adds) is elementwise or a kernel with one
 *     canonical order;
 *   - token i attends to positions 0 .. pos[i] of its own sequence, each stored once,
 *     whichever batch stored it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "model/adapter.h"
#include "model/kvcache.h"
#include "model/model.h"
#include "model/rope.h"
#include "util/threadpool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
/* The floating-point environment the rule assumes (doc/determinism.md): round to nearest,
 * no flush-to-zero, no denormals-are-zero, all exceptions masked.  A host program may
 * have changed it (a -ffast-math executable sets FTZ/DAZ at startup), so the forward pass
 * sets it on entry and restores the caller's on exit; pool workers set it themselves. */
#define CANONICAL_MXCSR 0x1f80u
typedef unsigned fp_env;
static fp_env fp_enter(void) { fp_env e = _mm_getcsr(); _mm_setcsr(CANONICAL_MXCSR); return e; }
static void fp_leave(fp_env e) { _mm_setcsr(e); }
#elif defined(__aarch64__)
/* The same on AArch64: FPCR = 0 is round to nearest (RMode 0), no flush-to-zero (FZ,
 * FZ16, FIZ), no alternate handling (AH), no default-NaN, no exception traps. */
typedef uint64_t fp_env;
static fp_env fp_enter(void)
{
    fp_env e;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(e));
    __asm__ __volatile__("msr fpcr, %0" : : "r"((uint64_t)0));
    return e;
}
static void fp_leave(fp_env e) { __asm__ __volatile__("msr fpcr, %0" : : "r"(e)); }
#else
typedef int fp_env;
static fp_env fp_enter(void) { return 0; }
static void fp_leave(fp_env e) { (void)e; }
#endif

#define MAX_N_CTX (1u << 20)       /* detmath's sin/cos reduction is exact up to 2^20 rad */
#define MAX_BATCH 65536u
/* Jobs smaller than this many multiply-adds run on the calling thread: waking workers
 * costs more than they would save.  (Where a job runs never changes its results.) */
#define PAR_MIN_WORK_DEFAULT 262144.0

struct forward_ctx {
    const lmz_model *m;
    const lmz_kernels *k;
    tp_pool *pool;
    uint32_t n_threads, n_ctx, max_seqs, max_batch;
    kv_cache kv;
    rope_table rope;
    uint32_t *seq_len;       /* committed positions per sequence */
    uint32_t *seq_count;     /* scratch: tokens per sequence in the batch being checked */
    uint32_t *pos;           /* position of each batch token */
    const uint32_t *seq;     /* the batch's sequence ids (during fwd_eval) */
    float attn_scale;
    double par_min_work;     /* smaller jobs run inline (PAR_MIN_WORK_DEFAULT) */
    /* activations, max_batch rows each */
    float *x, *h, *tmp, *q, *kk, *vv, *att, *g, *u;
    int8_t *xq;              /* Q8_0 activations of the current matmul input */
    float *xd;
    float *scores;           /* per thread: group * n_ctx_pad */
    /* LoRA adapter (fwd_set_adapter), or NULL; its scratch: A x and B (A x) of a job */
    const struct lmz_adapter *adapter;
    float *lora_ax, *lora_bax;
};

/* ---------------------------------------------------------------- matrix products */

/* Up to MM_MAX matrices run as one thread-pool job: tasks are (matrix, range of
 * panels).  They read the job's input x (q/k/v, gate/up, and the LoRA A matrices of
 * those), or, for an F32 matrix, an input of its own (the LoRA B matrices). */
#define MM_MAX 6
typedef struct mm_job {
    forward_ctx *f;
    uint32_t n_mats, n_tok;
    const lmz_matrix *w[MM_MAX];
    float *y[MM_MAX];
    size_t ldy[MM_MAX];
    const float *xin[MM_MAX];     /* NULL: the job's x (rows of w->n_in floats) */
    size_t ldx[MM_MAX];           /* with xin: its row stride */
    uint32_t first_task[MM_MAX + 1]; /* task index where matrix i starts; [n_mats] = total */
    uint32_t chunk[MM_MAX];       /* panels per task */
    const float *x;               /* n_tok rows of n_in floats */
} mm_job;

static void mm_task(void *arg, uint32_t task, uint32_t thread)
{
    (void)thread;
    const mm_job *j = arg;
    uint32_t i = 0;
    while (task >= j->first_task[i + 1]) i++;
    const lmz_matrix *w = j->w[i];
    uint32_t np = lmz_n_panels(w->n_out);
    uint32_t p0 = (task - j->first_task[i]) * j->chunk[i];
    uint32_t p1 = p0 + j->chunk[i] < np ? p0 + j->chunk[i] : np;
    const lmz_kernels *k = j->f->k;
    if (w->type == GGML_TYPE_Q8_0)
        k->mm_q8(w->panels, w->n_in, w->n_out, p0, p1, j->f->xq, j->f->xd, j->n_tok, j->y[i], j->ldy[i]);
    else if (j->xin[i])
        k->mm_f32(w->panels, w->n_in, w->n_out, p0, p1, j->xin[i], j->ldx[i], j->n_tok, j->y[i], j->ldy[i]);
    else
        k->mm_f32(w->panels, w->n_in, w->n_out, p0, p1, j->x, w->n_in, j->n_tok, j->y[i], j->ldy[i]);
}

/* Run tasks [0, n_tasks) on the pool, or inline when the work is small. */
static void run_tasks(forward_ctx *f, uint32_t n_tasks, tp_task_fn fn, void *arg, double work)
{
    if (f->n_threads == 1 || work < f->par_min_work) {
        for (uint32_t t = 0; t < n_tasks; t++) fn(arg, t, 0);
        return;
    }
    tp_run(f->pool, n_tasks, fn, arg);
}

static void mm_run(forward_ctx *f, mm_job *j, const float *x, uint32_t n_tok)
{
    j->f = f;
    j->x = x;
    j->n_tok = n_tok;
    int any_q8 = 0;
    uint32_t total = 0;
    double work = 0;
    for (uint32_t i = 0; i < j->n_mats; i++) work += (double)n_tok * j->w[i]->n_in * j->w[i]->n_out;
    int parallel = f->n_threads > 1 && work >= f->par_min_work;
    for (uint32_t i = 0; i < j->n_mats; i++) {
        any_q8 |= j->w[i]->type == GGML_TYPE_Q8_0;
        uint32_t np = lmz_n_panels(j->w[i]->n_out);
        /* About 4 tasks per thread for balance, in even numbers of panels (the kernels'
         * register blocks); the split never changes a result. */
        uint32_t chunk = np;
        if (parallel) {
            chunk = (np + 4 * f->n_threads - 1) / (4 * f->n_threads);
            chunk = (chunk + 1) / 2 * 2;
        }
        j->chunk[i] = chunk;
        j->first_task[i] = total;
        total += (np + chunk - 1) / chunk;
    }
    j->first_task[j->n_mats] = total;
    if (any_q8) {
        uint32_t n_in = j->w[0]->n_in, nb = n_in / LMZ_Q8_BLOCK;
        for (uint32_t t = 0; t < n_tok; t++)
            f->k->q8_quantize(x + (size_t)t * n_in, n_in, f->xq + (size_t)t * n_in,
                              f->xd + (size_t)t * nb);
    }
    run_tasks(f, total, mm_task, j, work);
}

static void matmul1(forward_ctx *f, const lmz_matrix *w, const float *x, uint32_t n_tok, float *y,
                    size_t ldy)
{
    mm_job j = {.n_mats = 1, .w = {w}, .y = {y}, .ldy = {ldy}};
    mm_run(f, &j, x, n_tok);
}

/* LoRA: y += s * (B (A x)) for each adapted matrix of a job, as llama.cpp rounds it
 * (the two products, the scaling, the sum).  The A products join the model's own job,
 * since they read its input; the B products then run as one job of their own. */

/* Add the A matrices of the job's adapted targets (target[i] for matrix i) to it, their
 * outputs side by side in f->lora_ax; *width gets the floats per token. */
static void lora_add_a(forward_ctx *f, mm_job *j, uint32_t layer, const lora_target *target,
                       uint32_t *width)
{
    uint32_t n_base = j->n_mats, col = 0;
    for (uint32_t i = 0; i < n_base; i++) {
        const lora_pair *p = lora_pair_at(f->adapter, layer, target[i]);
        if (!p) continue;
        j->w[j->n_mats] = &p->a;
        j->y[j->n_mats] = f->lora_ax + col;
        j->n_mats++;
        col += p->a.n_out;
    }
    for (uint32_t i = n_base; i < j->n_mats; i++) j->ldy[i] = col;
    *width = col;
}

/* After the job: B (A x) for each adapted target, then y += s * that. */
static void lora_finish(forward_ctx *f, const mm_job *base, uint32_t layer,
                        const lora_target *target, uint32_t n_base, uint32_t width,
                        uint32_t n_tok)
{
    mm_job j = {.n_mats = 0};
    const lora_pair *pairs[MM_MAX];
    uint32_t dest[MM_MAX];           /* the base matrix each B product adds into */
    uint32_t col = 0, bcol = 0;
    for (uint32_t i = 0; i < n_base; i++) {
        const lora_pair *p = lora_pair_at(f->adapter, layer, target[i]);
        if (!p) continue;
        pairs[j.n_mats] = p;
        dest[j.n_mats] = i;
        j.w[j.n_mats] = &p->b;
        j.xin[j.n_mats] = f->lora_ax + col;
        j.ldx[j.n_mats] = width;
        j.y[j.n_mats] = f->lora_bax + (size_t)bcol * n_tok;
        j.ldy[j.n_mats] = p->b.n_out;
        j.n_mats++;
        col += p->a.n_out;
        bcol += p->b.n_out;
    }
    mm_run(f, &j, NULL, n_tok);
    for (uint32_t m = 0; m < j.n_mats; m++) {
        uint32_t n_out = pairs[m]->b.n_out;
        float s = pairs[m]->scale;
        for (uint32_t t = 0; t < n_tok; t++) {
            float *yt = base->y[dest[m]] + (size_t)t * base->ldy[dest[m]];
            const float *dt = j.y[m] + (size_t)t * n_out;
            for (uint32_t o = 0; o < n_out; o++) yt[o] = yt[o] + dt[o] * s;
        }
    }
}

/* The model's job over x, with the adapter's share when it adapts these matrices. */
static void mm_run_adapted(forward_ctx *f, mm_job *j, const float *x, uint32_t n_tok,
                           uint32_t layer, const lora_target *target)
{
    uint32_t n_base = j->n_mats, width = 0;
    if (f->adapter) lora_add_a(f, j, layer, target, &width);
    mm_run(f, j, x, n_tok);
    if (width) lora_finish(f, j, layer, target, n_base, width, n_tok);
}

/* ---------------------------------------------------------------- per-token pieces */

/* y = x / sqrt(mean(x^2) + eps) * w, with the canonical 16-lane sum of squares:
 *   scale = 1 / sqrtf(sumsq / n + eps);  y[i] = (x[i] * scale) * w[i] */
static void rmsnorm(const lmz_kernels *k, const float *x, const float *w, uint32_t n, float eps,
                    float *y)
{
    float mean = k->sumsq(x, n) / (float)n;
    float scale = 1.0f / sqrtf(mean + eps);
    for (uint32_t i = 0; i < n; i++) y[i] = (x[i] * scale) * w[i];
}

static void add_rows(float *y, const float *b, uint32_t n_rows, uint32_t n)
{
    for (uint32_t r = 0; r < n_rows; r++)
        for (uint32_t i = 0; i < n; i++) y[(size_t)r * n + i] = y[(size_t)r * n + i] + b[i];
}

static void add_into(float *x, const float *d, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = x[i] + d[i];
}

/* ---------------------------------------------------------------- attention */

typedef struct attn_job { forward_ctx *f; uint32_t layer; } attn_job;

/* Task (token i, kv head h): the scores of the kv head's group of query heads over
 * positions 0 .. pos[i] (one mm_f32 over the K panels), softmax, weighted V sum. */
static void attn_task(void *arg, uint32_t task, uint32_t thread)
{
    const attn_job *j = arg;
    forward_ctx *f = j->f;
    const lmz_hparams *hp = &f->m->hp;
    uint32_t i = task / hp->n_head_kv, h = task % hp->n_head_kv;
    uint32_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    uint32_t s = f->seq[i], n_pos = f->pos[i] + 1;
    size_t ld = f->kv.n_ctx_pad;
    float *scores = f->scores + (size_t)thread * group * ld;
    size_t off = (size_t)i * hp->n_head * hd + (size_t)h * group * hd;
    const void *kh = kv_k(&f->kv, j->layer, s, h), *vh = kv_v(&f->kv, j->layer, s, h);
    uint32_t np = lmz_n_panels(n_pos);
    if (f->kv.f16)
        f->k->mm_f16(kh, hd, n_pos, 0, np, f->q + off, hd, group, scores, ld);
    else
        f->k->mm_f32(kh, hd, n_pos, 0, np, f->q + off, hd, group, scores, ld);
    for (uint32_t g = 0; g < group; g++) f->k->softmax(scores + g * ld, n_pos, f->attn_scale);
    if (f->kv.f16)
        f->k->attn_v_f16(vh, hd, n_pos, scores, ld, group, f->att + off, hd);
    else
        f->k->attn_v(vh, hd, n_pos, scores, ld, group, f->att + off, hd);
}

/* ---------------------------------------------------------------- one layer */

static void layer_forward(forward_ctx *f, uint32_t l, uint32_t n)
{
    const lmz_model *m = f->m;
    const lmz_hparams *hp = &m->hp;
    const lmz_layer *L = &m->layers[l];
    const lmz_kernels *k = f->k;
    uint32_t E = hp->n_embd, hd = hp->head_dim;
    uint32_t q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd;

    for (uint32_t i = 0; i < n; i++)
        rmsnorm(k, f->x + (size_t)i * E, L->attn_norm, E, hp->norm_eps, f->h + (size_t)i * E);
    static const lora_target qkv_targets[3] = {LORA_Q, LORA_K, LORA_V};
    static const lora_target o_target[1] = {LORA_O}, down_target[1] = {LORA_DOWN};
    static const lora_target ffn_targets[2] = {LORA_GATE, LORA_UP};
    mm_job qkv = {.n_mats = 3, .w = {&L->wq, &L->wk, &L->wv}, .y = {f->q, f->kk, f->vv},
                  .ldy = {q_dim, kv_dim, kv_dim}};
    mm_run_adapted(f, &qkv, f->h, n, l, qkv_targets);
    if (L->bq) add_rows(f->q, L->bq, n, q_dim);
    if (L->bk) add_rows(f->kk, L->bk, n, kv_dim);
    if (L->bv) add_rows(f->vv, L->bv, n, kv_dim);

    for (uint32_t i = 0; i < n; i++) {
        float *qi = f->q + (size_t)i * q_dim, *ki = f->kk + (size_t)i * kv_dim;
        if (L->q_norm) {          /* qwen3: RMSNorm of every head before RoPE */
            for (uint32_t h = 0; h < hp->n_head; h++)
                rmsnorm(k, qi + (size_t)h * hd, L->q_norm, hd, hp->norm_eps, qi + (size_t)h * hd);
            for (uint32_t h = 0; h < hp->n_head_kv; h++)
                rmsnorm(k, ki + (size_t)h * hd, L->k_norm, hd, hp->norm_eps, ki + (size_t)h * hd);
        }
        rope_apply(&f->rope, qi, hp->n_head, hd, f->pos[i], hp->rope_neox);
        rope_apply(&f->rope, ki, hp->n_head_kv, hd, f->pos[i], hp->rope_neox);
        kv_store(&f->kv, k, l, f->seq[i], f->pos[i], ki, f->vv + (size_t)i * kv_dim);
    }

    attn_job aj = {f, l};
    double work = 0;
    for (uint32_t i = 0; i < n; i++) work += 2.0 * (f->pos[i] + 1) * q_dim;
    run_tasks(f, n * hp->n_head_kv, attn_task, &aj, work);
    mm_job wo = {.n_mats = 1, .w = {&L->wo}, .y = {f->tmp}, .ldy = {E}};
    mm_run_adapted(f, &wo, f->att, n, l, o_target);
    add_into(f->x, f->tmp, (size_t)n * E);

    for (uint32_t i = 0; i < n; i++)
        rmsnorm(k, f->x + (size_t)i * E, L->ffn_norm, E, hp->norm_eps, f->h + (size_t)i * E);
    mm_job ffn = {.n_mats = 2, .w = {&L->gate, &L->up}, .y = {f->g, f->u}, .ldy = {hp->n_ff, hp->n_ff}};
    mm_run_adapted(f, &ffn, f->h, n, l, ffn_targets);
    for (uint32_t i = 0; i < n; i++)
        k->silu_mul(f->g + (size_t)i * hp->n_ff, f->u + (size_t)i * hp->n_ff, hp->n_ff);
    mm_job down = {.n_mats = 1, .w = {&L->down}, .y = {f->tmp}, .ldy = {E}};
    mm_run_adapted(f, &down, f->g, n, l, down_target);
    add_into(f->x, f->tmp, (size_t)n * E);
}

/* ---------------------------------------------------------------- public API */

int fwd_eval(forward_ctx *f, const int32_t *tokens, const uint32_t *seq, uint32_t n, float *logits)
{
    return fwd_eval_select(f, tokens, seq, n, NULL, logits);
}

int fwd_eval_select(forward_ctx *f, const int32_t *tokens, const uint32_t *seq, uint32_t n,
                    const uint8_t *want, float *logits)
{
    const lmz_model *m = f->m;
    const lmz_hparams *hp = &m->hp;
    if (n == 0 || n > f->max_batch) return -1;
    int ok = 1;
    for (uint32_t i = 0; i < n && ok; i++) {
        if (seq[i] >= f->max_seqs || tokens[i] < 0 || (uint32_t)tokens[i] >= hp->n_vocab) ok = 0;
        else f->pos[i] = f->seq_len[seq[i]] + f->seq_count[seq[i]]++;
        if (ok && f->pos[i] >= f->n_ctx) ok = 0;
    }
    for (uint32_t i = 0; i < n; i++)
        if (seq[i] < f->max_seqs) f->seq_count[seq[i]] = 0;
    if (!ok) return -1;
    f->seq = seq;
    fp_env env = fp_enter();

    uint32_t E = hp->n_embd;
    for (uint32_t i = 0; i < n; i++) m->tok_embd.row(m->tok_embd.data, (uint32_t)tokens[i], E, f->x + (size_t)i * E);
    for (uint32_t l = 0; l < hp->n_layer; l++) layer_forward(f, l, n);
    uint32_t n_out = 0;      /* wanted rows, normalized into f->h in order */
    for (uint32_t i = 0; i < n; i++) {
        if (want && !want[i]) continue;
        rmsnorm(f->k, f->x + (size_t)i * E, m->output_norm, E, hp->norm_eps,
                f->h + (size_t)n_out++ * E);
    }
    if (n_out > 0) matmul1(f, &m->output, f->h, n_out, logits, hp->n_vocab);

    for (uint32_t i = 0; i < n; i++) f->seq_len[seq[i]] = f->pos[i] + 1;
    f->seq = NULL;
    fp_leave(env);
    return 0;
}

void fwd_free(forward_ctx *f)
{
    if (!f) return;
    tp_free(f->pool);
    kv_free(&f->kv);
    rope_free(&f->rope);
    free(f->seq_len); free(f->seq_count); free(f->pos);
    free(f->x); free(f->h); free(f->tmp); free(f->q); free(f->kk); free(f->vv); free(f->att);
    free(f->g); free(f->u); free(f->xq); free(f->xd); free(f->scores);
    free(f->lora_ax); free(f->lora_bax);
    free(f);
}

static float *falloc(size_t rows, size_t cols) { return malloc(rows * cols * sizeof(float) + 64); }

/* A KV cache for f's model, sequences and context, of F32 or F16 elements; -1 with a
 * message if memory is short. */
static int new_kv(const forward_ctx *f, int f16, kv_cache *out, char *err, size_t errlen)
{
    const lmz_hparams *hp = &f->m->hp;
    if (!kv_init(out, hp->n_layer, f->max_seqs, hp->n_head_kv, hp->head_dim, f->n_ctx, f16))
        return 0;
    snprintf(err, errlen, "forward pass: cannot allocate the KV cache for %u sequences x %u "
             "positions", f->max_seqs, f->n_ctx);
    return -1;
}

forward_ctx *fwd_new(const struct lmz_model *m, uint32_t n_ctx, uint32_t max_seqs,
                     uint32_t max_batch, int n_threads, lmz_simd simd, char *err, size_t errlen)
{
    if (n_ctx < 1 || n_ctx > MAX_N_CTX || max_seqs < 1 || max_batch < 1 || max_batch > MAX_BATCH) {
        snprintf(err, errlen, "forward pass: invalid sizes (context %u: 1..%u, sequences %u: >= 1, "
                 "batch %u: 1..%u)", n_ctx, MAX_N_CTX, max_seqs, max_batch, MAX_BATCH);
        return NULL;
    }
    lmz_simd path;
    if (lmz_simd_resolve(simd, &path, err, errlen)) return NULL;
    forward_ctx *f = calloc(1, sizeof *f);
    if (!f) goto nomem;
    const lmz_hparams *hp = &m->hp;
    f->m = m;
    f->k = lmz_kernels_get(path);
    f->n_ctx = n_ctx;
    f->max_seqs = max_seqs;
    f->max_batch = max_batch;
    f->n_threads = n_threads < 1 ? 1 : (uint32_t)n_threads;
    f->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    f->par_min_work = PAR_MIN_WORK_DEFAULT;
    f->pool = tp_new((int)f->n_threads);
    if (!f->pool) goto nomem;
    if (new_kv(f, 0, &f->kv, err, errlen)) {
        fwd_free(f);
        return NULL;
    }
    fp_env env = fp_enter();
    int rope_failed = rope_init(&f->rope, n_ctx, hp->n_rot, hp->rope_base, hp->rope_freq_scale);
    fp_leave(env);
    if (rope_failed) goto nomem;
    uint32_t q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    uint32_t max_in = hp->n_embd > q_dim ? hp->n_embd : q_dim;
    if (hp->n_ff > max_in) max_in = hp->n_ff;
    size_t B = max_batch;
    f->seq_len = calloc(max_seqs, sizeof *f->seq_len);
    f->seq_count = calloc(max_seqs, sizeof *f->seq_count);
    f->pos = calloc(B, sizeof *f->pos);
    f->x = falloc(B, hp->n_embd);
    f->h = falloc(B, hp->n_embd);
    f->tmp = falloc(B, hp->n_embd);
    f->q = falloc(B, q_dim);
    f->att = falloc(B, q_dim);
    f->kk = falloc(B, kv_dim);
    f->vv = falloc(B, kv_dim);
    f->g = falloc(B, hp->n_ff);
    f->u = falloc(B, hp->n_ff);
    f->xq = malloc(B * max_in + 64);
    f->xd = falloc(B, max_in / LMZ_Q8_BLOCK + 1);
    f->scores = falloc((size_t)f->n_threads * (hp->n_head / hp->n_head_kv), f->kv.n_ctx_pad);
    if (!f->seq_len || !f->seq_count || !f->pos || !f->x || !f->h || !f->tmp || !f->q || !f->att ||
        !f->kk || !f->vv || !f->g || !f->u || !f->xq || !f->xd || !f->scores)
        goto nomem;
    return f;
nomem:
    snprintf(err, errlen, "forward pass: out of memory");
    fwd_free(f);
    return NULL;
}

int fwd_set_adapter(forward_ctx *f, const struct lmz_adapter *a, char *err, size_t errlen)
{
    for (uint32_t s = 0; s < f->max_seqs; s++) f->seq_len[s] = 0;
    free(f->lora_ax);
    free(f->lora_bax);
    f->lora_ax = f->lora_bax = NULL;
    f->adapter = NULL;
    if (!a) return 0;
    if (lora_check_model(a, f->m, err, errlen)) return -1;
    /* A x of up to 3 matrices side by side (q, k, v); B (A x) of as many, one block
     * each: q + 2 kv or gate + up, whichever is wider. */
    const lmz_hparams *hp = &f->m->hp;
    uint32_t q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    uint32_t widest = q_dim + 2 * kv_dim;
    if (2 * hp->n_ff > widest) widest = 2 * hp->n_ff;
    if (hp->n_embd > widest) widest = hp->n_embd;
    f->lora_ax = falloc(f->max_batch, 3 * (size_t)a->max_rank);
    f->lora_bax = falloc(f->max_batch, widest);
    if (!f->lora_ax || !f->lora_bax) {
        snprintf(err, errlen, "forward pass: out of memory for the adapter");
        return FWD_NOMEM;
    }
    f->adapter = a;
    return 0;
}

const struct lmz_adapter *fwd_adapter(const forward_ctx *f) { return f->adapter; }

lmz_simd fwd_simd(const forward_ctx *f) { return f->k->simd; }
uint32_t fwd_max_batch(const forward_ctx *f) { return f->max_batch; }
uint32_t fwd_n_ctx(const forward_ctx *f) { return f->n_ctx; }
uint32_t fwd_max_seqs(const forward_ctx *f) { return f->max_seqs; }
void fwd_set_min_parallel_work(forward_ctx *f, double macs) { f->par_min_work = macs; }

int fwd_set_kv_f16(forward_ctx *f, int f16, char *err, size_t errlen)
{
    f16 = f16 != 0;
    if (f->kv.f16 == f16) return 0;
    kv_cache fresh;
    if (new_kv(f, f16, &fresh, err, errlen)) return -1;
    kv_free(&f->kv);
    f->kv = fresh;
    for (uint32_t s = 0; s < f->max_seqs; s++) f->seq_len[s] = 0;
    return 0;
}

int fwd_kv_f16(const forward_ctx *f) { return f->kv.f16; }

void fwd_reset(forward_ctx *f, uint32_t seq)
{
    if (seq < f->max_seqs) f->seq_len[seq] = 0;
}

uint32_t fwd_seq_len(const forward_ctx *f, uint32_t seq)
{
    return seq < f->max_seqs ? f->seq_len[seq] : 0;
}
