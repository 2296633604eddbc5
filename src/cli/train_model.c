/*
 * train_model.c -- `lmz --train-model`: options, the training loop, progress lines, periodic
 * evaluation, checkpoints and export.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/tools.h"
#include "gguf/gguf.h"
#include "train/export.h"
#include "train/session.h"

#define TOOL "lmz --train-model"

static const char usage[] =
    "usage: lmz --train-model --tokens FILE.u32 --tokenizer TOK.gguf --out MODEL.gguf [options]\n"
    "  --tokens FILE       training token stream (little-endian uint32 ids)\n"
    "  --tokenizer GGUF    tokenizer metadata to copy (its vocabulary size is the model's)\n"
    "  --out GGUF          the trained model (written at every evaluation and at the end)\n"
    "model (ignored with --resume):\n"
    "  --dim N (256) --layers N (4) --heads N (4) --kv-heads N (heads) --ff N (768)\n"
    "  --ctx N (256)       training sequence length = the model's context length\n"
    "  --untied            separate output.weight (default: tied to token_embd)\n"
    "  --rope-base F (10000) --norm-eps F (1e-5)\n"
    "optimization:\n"
    "  --batch N (16) --lr F (1e-3) --lr-min F (lr/10) --warmup N (100) --steps N (1000)\n"
    "  --weight-decay F (0.1) --clip F (1.0) --seed N (1) --threads N (2)\n"
    "  --heldout F (0.01)  fraction of the stream held out for evaluation\n"
    "  --fp32              fp32 matrix products (default: bf16 products with fp32 sums where\n"
    "                      the CPU has AVX512_BF16, ~2x faster)\n"
    "  --eval-every N (100) evaluate, save the checkpoint and export every N steps\n"
    "  --checkpoint FILE   training state (saved atomically)\n"
    "  --resume            continue from --checkpoint (--steps may extend the run)\n"
    "  --q8                export Q8_0 matrices (default F32)\n"
    "  --name NAME         general.name of the exported model\n";

typedef struct opts {
    const char *tokens, *tokenizer, *out, *checkpoint, *name;
    tr_run_state st;
    int threads, resume, q8, steps_set, lr_min_set, fp32;
    uint32_t eval_every;
    double heldout;
} opts;

static int parse_args(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    tm_config *c = &o->st.model;
    *c = (tm_config){.n_embd = 256, .n_layer = 4, .n_head = 4, .n_ff = 768, .n_ctx = 256,
                     .tied = 1, .norm_eps = 1e-5f, .rope_base = 10000.0f};
    tr_opt_defaults(&o->st.opt);
    o->st.batch = 16;
    o->st.seed = 1;
    o->threads = 2;
    o->eval_every = 100;
    o->heldout = 0.01;
    uint32_t seed = 1;
    float heldout = 0.01f;
    int untied = 0;
    uint32_t threads = 2;
    enum { STR, U32, FLT, FLAG } ;
    struct { const char *name; int kind; void *dst; uint32_t lo; int *set; } table[] = {
        {"--tokens", STR, &o->tokens, 0, NULL}, {"--tokenizer", STR, &o->tokenizer, 0, NULL},
        {"--out", STR, &o->out, 0, NULL}, {"--checkpoint", STR, &o->checkpoint, 0, NULL},
        {"--name", STR, &o->name, 0, NULL},
        {"--dim", U32, &c->n_embd, 1, NULL}, {"--layers", U32, &c->n_layer, 1, NULL},
        {"--heads", U32, &c->n_head, 1, NULL}, {"--kv-heads", U32, &c->n_head_kv, 1, NULL},
        {"--ff", U32, &c->n_ff, 1, NULL}, {"--ctx", U32, &c->n_ctx, 2, NULL},
        {"--batch", U32, &o->st.batch, 1, NULL}, {"--warmup", U32, &o->st.opt.warmup, 0, NULL},
        {"--steps", U32, &o->st.opt.total_steps, 1, &o->steps_set},
        {"--seed", U32, &seed, 0, NULL}, {"--eval-every", U32, &o->eval_every, 1, NULL},
        {"--threads", U32, &threads, 1, NULL},
        {"--lr", FLT, &o->st.opt.lr, 0, NULL}, {"--lr-min", FLT, &o->st.opt.lr_min, 0, &o->lr_min_set},
        {"--weight-decay", FLT, &o->st.opt.weight_decay, 0, NULL},
        {"--clip", FLT, &o->st.opt.clip, 0, NULL}, {"--rope-base", FLT, &c->rope_base, 0, NULL},
        {"--norm-eps", FLT, &c->norm_eps, 0, NULL}, {"--heldout", FLT, &heldout, 0, NULL},
        {"--resume", FLAG, &o->resume, 0, NULL}, {"--q8", FLAG, &o->q8, 0, NULL},
        {"--fp32", FLAG, &o->fp32, 0, NULL},
        {"--untied", FLAG, &untied, 0, NULL},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            exit(0);
        }
        size_t k = 0;
        while (k < sizeof table / sizeof *table && strcmp(a, table[k].name)) k++;
        if (k == sizeof table / sizeof *table) {
            fprintf(stderr, TOOL ": unknown option '%s'\n%s", a, usage);
            return -1;
        }
        if (table[k].set) *table[k].set = 1;
        if (table[k].kind == FLAG) {
            *(int *)table[k].dst = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, TOOL ": %s needs a value\n", a);
            return -1;
        }
        const char *v = argv[++i];
        int rc = 0;
        if (table[k].kind == STR) *(const char **)table[k].dst = v;
        else if (table[k].kind == U32) rc = arg_u32(TOOL, a, v, table[k].lo, UINT32_MAX, table[k].dst);
        else rc = arg_f32(TOOL, a, v, 0.0f, 1e30f, table[k].dst);
        if (rc) return -1;
    }
    if (untied) c->tied = 0;
    o->threads = threads > 256 ? 256 : (int)threads;
    if (!c->n_head_kv) c->n_head_kv = c->n_head;
    if (!o->lr_min_set) o->st.opt.lr_min = o->st.opt.lr / 10;
    if (o->st.opt.warmup > o->st.opt.total_steps) o->st.opt.warmup = o->st.opt.total_steps;
    o->st.seed = seed;
    o->st.seq_len = c->n_ctx;
    o->heldout = heldout;
    if (!o->tokens || !o->tokenizer || !o->out) {
        fprintf(stderr, TOOL ": --tokens, --tokenizer and --out are required\n%s", usage);
        return -1;
    }
    if (o->resume && !o->checkpoint) {
        fprintf(stderr, TOOL ": --resume needs --checkpoint FILE\n");
        return -1;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fmt_eta(char *buf, size_t n, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

/* Evaluate, save the checkpoint, export. */
static int milestone(tr_session *s, const opts *o, const gguf_file *tok, char *err, size_t errlen)
{
    double ev = tr_session_eval(s, 64);
    if (ev >= 0)
        fprintf(stderr, "step %llu  held-out loss %.4f (%.3f bits/token)\n",
                (unsigned long long)s->st.step, ev, ev / 0.6931471805599453);
    if (o->checkpoint && tr_session_save(s, o->checkpoint, err, errlen)) return -1;
    return tr_export_gguf(&s->st.model, trainer_params(s->t), tok, o->q8,
                          o->name ? o->name : "lmz-trained", o->out, err, errlen);
}

int lmz_train_main(int argc, char **argv)
{
    opts o;
    if (parse_args(argc, argv, &o)) return 2;
    char err[512];
    gguf_file tok;
    if (gguf_open(&tok, o.tokenizer, err, sizeof err)) {
        fprintf(stderr, TOOL ": tokenizer: %s\n", err);
        return 1;
    }
    int rc = 1;
    tr_data data = {0};
    tr_session *s = NULL;
    uint32_t n_vocab = tr_tokenizer_vocab(&tok);
    if (n_vocab == 0) {
        fprintf(stderr, TOOL ": '%s' has no tokenizer.ggml.tokens\n", o.tokenizer);
        goto out;
    }
    o.st.model.n_vocab = n_vocab;
    if (tr_data_load(&data, o.tokens, n_vocab, o.heldout, o.st.seq_len, err, sizeof err)) goto fail;
    if (o.resume) {
        s = tr_session_resume(o.checkpoint, &data, o.threads, err, sizeof err);
        if (s && s->st.model.n_vocab != n_vocab) {
            snprintf(err, sizeof err, "the checkpoint's vocabulary (%u) is not the tokenizer's (%u)",
                     s->st.model.n_vocab, n_vocab);
            goto fail;
        }
        if (s && o.steps_set) s->st.opt.total_steps = o.st.opt.total_steps;
    } else {
        s = tr_session_new(&o.st, &data, o.threads, err, sizeof err);
    }
    if (!s) goto fail;
    int bf16 = trainer_set_bf16(s->t, !o.fp32);
    if (bf16 < 0) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    const tm_config *c = &s->st.model;
    double flops_tok = trainer_flops_per_token(s->t, s->st.seq_len);
    fprintf(stderr, TOOL ": %zu parameters (vocab %u, dim %u, layers %u, heads %u/%u, ff %u, "
            "ctx %u, %s head); %zu training + %zu held-out tokens; batch %u x %u; %d threads; "
            "%s products; step %llu of %u\n", trainer_n_params(s->t), c->n_vocab, c->n_embd, c->n_layer,
            c->n_head, c->n_head_kv, c->n_ff, c->n_ctx, c->tied ? "tied" : "untied",
            data.n_train, data.n_tokens - data.n_train, s->st.batch, s->st.seq_len, o.threads,
            bf16 ? "bf16" : "fp32", (unsigned long long)s->st.step, s->st.opt.total_steps);
    double t0 = now_s(), t_last = t0;
    uint64_t step0 = s->st.step;
    while (s->st.step < s->st.opt.total_steps) {
        tr_step_info info;
        tr_session_step(s, &info);
        double t = now_s();
        int last = s->st.step == s->st.opt.total_steps;
        int eval = s->st.step % o.eval_every == 0 || last;
        if (t - t_last >= 1.0 || eval || s->st.step == step0 + 1) {
            double per_step = (t - t0) / (double)(s->st.step - step0);
            double tok_s = s->st.batch * (double)s->st.seq_len / per_step;
            char eta[32];
            fmt_eta(eta, sizeof eta, per_step * (double)(s->st.opt.total_steps - s->st.step));
            fprintf(stderr, "step %llu/%u  loss %.4f  lr %.3g  grad norm %.3g  %.0f tok/s  "
                    "%.1f GFLOP/s  ETA %s\n", (unsigned long long)s->st.step,
                    s->st.opt.total_steps, info.loss, info.lr, info.grad_norm, tok_s,
                    tok_s * flops_tok * 1e-9, eta);
            t_last = t;
        }
        if (eval && milestone(s, &o, &tok, err, sizeof err)) goto fail;
    }
    if (s->st.step == step0 && milestone(s, &o, &tok, err, sizeof err)) goto fail;
    fprintf(stderr, TOOL ": wrote %s\n", o.out);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, TOOL ": %s\n", err);
out:
    tr_session_free(s);
    tr_data_free(&data);
    gguf_close(&tok);
    return rc;
}
