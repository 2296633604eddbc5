/*
 * train_adapter.c -- `lmz --train FILES... -o NAME.lora.gguf`: a LoRA adapter for a model
 * (the built-in model of the level, or -m), the way `zstd --train` makes a dictionary.
 *
 * Data: every sample (samples.h) becomes [BOS] + its tokens, as the coder sees a chunk;
 * the samples are packed back to back into one stream.  With 20 samples or more, every
 * 20th is held out (5 %); with fewer (whole text files) the last 5 % of the stream is.
 * Training: AdamW on the adapter only, warmup then cosine; every --eval-every steps the
 * held-out loss is measured, the best adapter so far kept, and training stops when it
 * has not improved by 0.1 % for --patience evaluations, at --steps, or at --max-time.
 * The adapter written is the best one.  For a given seed and thread count the result is
 * the same on every run.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/tools.h"
#include "lib/internal.h"
#include "model/adapter.h"
#include "model/model.h"
#include "train/data.h"
#include "train/lora.h"
#include "train/optimizer.h"
#include "train/samples.h"
#include "train/session.h"

#define TOOL "lmz --train"

static const char usage[] =
    "usage: lmz --train [options] FILE... -o NAME.lora.gguf\n"
    "Trains a LoRA adapter of the model on FILEs (text files; .jsonl: one sample per line,\n"
    "its \"text\" member).  Use it with `lmz -A NAME.lora.gguf`.\n"
    "  -o FILE            the adapter (llama.cpp GGUF adapter format)\n"
    "  -m MODEL.gguf      adapt this model (default: the built-in model of the level)\n"
    "  -1 .. -9           the level whose built-in model to adapt (default 5)\n"
    "  --rank N (16)  --alpha F (2 x rank)  --targets q,k,v,o,gate,up,down (all)\n"
    "  --steps N          optimizer steps (default: --epochs over the training part)\n"
    "  --epochs F (4)     passes over the training tokens\n"
    "  --lr F (1e-3)  --weight-decay F (0)  --batch N (16)  --ctx N (256, tokens)\n"
    "  --max-time S (600) stop after S seconds (the best adapter so far is written)\n"
    "  --eval-every N     steps between held-out evaluations (default: steps / 20)\n"
    "  --patience N (3)   stop after N evaluations without improvement\n"
    "  --seed N (1)  -T N, --threads N (2)  --name NAME  -f (overwrite)  -q (quiet)\n";

typedef struct opts {
    const char *out, *model_path, *name;
    const char **files;
    int n_files, level, threads, force, quiet, steps_set;
    uint32_t rank, batch, ctx, steps, eval_every, patience, seed, targets;
    float alpha, lr, epochs, max_time, weight_decay;
} opts;

static int bad(const char *opt, const char *v, const char *want)
{
    fprintf(stderr, TOOL ": %s needs %s, not '%s'\n", opt, want, v);
    return -1;
}

static int parse_targets(const char *v, uint32_t *mask)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", v);
    *mask = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < LORA_N_TARGETS && strcmp(tok, lora_target_short_name((lora_target)k))) k++;
        if (k == LORA_N_TARGETS) return bad("--targets", v, "a list of q,k,v,o,gate,up,down");
        *mask |= 1u << k;
    }
    return *mask ? 0 : bad("--targets", v, "a list of q,k,v,o,gate,up,down");
}

static int parse_args(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->level = LMZ_LEVEL_DEFAULT;
    o->threads = 2;
    o->rank = 16;
    o->batch = 16;
    o->ctx = 256;
    o->patience = 3;
    o->seed = 1;
    o->targets = (1u << LORA_N_TARGETS) - 1;
    o->lr = 1e-3f;
    o->epochs = 4.0f;
    o->max_time = 600.0f;
    o->files = calloc((size_t)argc, sizeof *o->files);
    if (!o->files) return -1;
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_files || a[0] != '-' || !a[1]) {
            o->files[o->n_files++] = a;
            continue;
        }
        if (!strcmp(a, "--")) { only_files = 1; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); exit(0); }
        if (a[1] >= '1' && a[1] <= '9' && !a[2]) { o->level = a[1] - '0'; continue; }
        if (!strcmp(a, "-f") || !strcmp(a, "--force")) { o->force = 1; continue; }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        if (i + 1 >= argc) {
            fprintf(stderr, TOOL ": %s needs a value (or is unknown)\n%s", a, usage);
            return -1;
        }
        const char *v = argv[++i];
        uint32_t threads;
        int rc = 0;
        if (!strcmp(a, "-o")) o->out = v;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model_path = v;
        else if (!strcmp(a, "--name")) o->name = v;
        else if (!strcmp(a, "--rank")) rc = arg_u32(TOOL, a, v, 1, 1024, &o->rank);
        else if (!strcmp(a, "--alpha")) rc = arg_f32(TOOL, a, v, 1e-6f, 1e6f, &o->alpha);
        else if (!strcmp(a, "--targets")) rc = parse_targets(v, &o->targets);
        else if (!strcmp(a, "--steps")) rc = arg_u32(TOOL, a, v, 1, 100000000, &o->steps), o->steps_set = 1;
        else if (!strcmp(a, "--epochs")) rc = arg_f32(TOOL, a, v, 1e-3f, 1e4f, &o->epochs);
        else if (!strcmp(a, "--lr")) rc = arg_f32(TOOL, a, v, 0.0f, 1.0f, &o->lr);
        else if (!strcmp(a, "--weight-decay")) rc = arg_f32(TOOL, a, v, 0.0f, 10.0f, &o->weight_decay);
        else if (!strcmp(a, "--batch")) rc = arg_u32(TOOL, a, v, 1, 4096, &o->batch);
        else if (!strcmp(a, "--ctx")) rc = arg_u32(TOOL, a, v, 2, 65536, &o->ctx);
        else if (!strcmp(a, "--max-time")) rc = arg_f32(TOOL, a, v, 0.0f, 1e7f, &o->max_time);
        else if (!strcmp(a, "--eval-every")) rc = arg_u32(TOOL, a, v, 1, 100000000, &o->eval_every);
        else if (!strcmp(a, "--patience")) rc = arg_u32(TOOL, a, v, 1, 1000000, &o->patience);
        else if (!strcmp(a, "--seed")) rc = arg_u32(TOOL, a, v, 0, UINT32_MAX, &o->seed);
        else if (!strcmp(a, "-T") || !strcmp(a, "--threads")) {
            rc = arg_u32(TOOL, a, v, 1, 256, &threads);
            o->threads = (int)threads;
        } else {
            fprintf(stderr, TOOL ": unknown option '%s'\n%s", a, usage);
            return -1;
        }
        if (rc) return -1;
    }
    if (!o->out || o->n_files == 0) {
        fprintf(stderr, TOOL ": give the training FILEs and -o NAME.lora.gguf\n%s", usage);
        return -1;
    }
    if (o->alpha == 0.0f) o->alpha = 2.0f * (float)o->rank;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- data */

typedef struct dataset {
    tr_data d;               /* [0, n_train) training stream, [n_train, n) held out */
    size_t held_bytes, n_held;   /* of the held-out part; n_held 0: the stream's tail */
} dataset;

/* Append [BOS] + tokens of one sample. */
static int append_sample(const tokenizer *tok, const char *text, size_t len, uint32_t **ids,
                         size_t *n, size_t *cap)
{
    size_t need = *n + len + 2;
    if (need > *cap) {
        size_t c = *cap ? *cap : 1 << 16;
        while (c < need) c *= 2;
        uint32_t *p = realloc(*ids, c * sizeof *p);
        if (!p) return -1;
        *ids = p;
        *cap = c;
    }
    int32_t bos = tok_bos(tok);
    if (bos >= 0) (*ids)[(*n)++] = (uint32_t)bos;
    long k = tok_encode(tok, (const uint8_t *)text, len, (int32_t *)(*ids + *n), *cap - *n);
    if (k < 0 || (size_t)k > *cap - *n) return -1;
    *n += (size_t)k;
    return 0;
}

static int build_dataset(const tr_samples *s, const lmz_model *m, uint32_t seq_len, dataset *ds,
                         char *err, size_t errlen)
{
    memset(ds, 0, sizeof *ds);
    uint32_t *ids = NULL;
    size_t n = 0, cap = 0, n_train = 0;
    int every20 = s->n >= 20;
    /* training samples first, then the held-out ones */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) n_train = n;
        for (size_t i = 0; i < s->n; i++) {
            int held = every20 && i % 20 == 19;
            if (held != pass) continue;
            if (append_sample(m->tok, s->text[i], s->len[i], &ids, &n, &cap)) {
                free(ids);
                snprintf(err, errlen, "out of memory tokenizing the samples");
                return -1;
            }
            if (held) ds->held_bytes += s->len[i], ds->n_held++;
        }
    }
    /* The last 5 % of the stream: with fewer than 20 samples, or when every 20th is
     * still too little for one held-out window (many short samples). */
    if (!every20 || n - n_train < (size_t)seq_len + 1) {
        ds->n_held = 0;
        size_t held = n / 20 > seq_len + 1 ? n / 20 : (size_t)seq_len + 1;
        n_train = n > held ? n - held : 0;
        ds->held_bytes = (size_t)((double)s->bytes * (double)held / (double)(n ? n : 1));
    }
    if (n_train < (size_t)seq_len + 1 || n - n_train < (size_t)seq_len + 1) {
        free(ids);
        snprintf(err, errlen, "the training text is too short: %zu tokens, with 5 %% held out; "
                 "it needs at least %u tokens on each side (or a smaller --ctx)", n,
                 seq_len + 1);
        return -1;
    }
    int rc = tr_data_from_tokens(&ds->d, ids, n, m->hp.n_vocab, 0.0, seq_len, err, errlen);
    free(ids);
    if (rc) return -1;
    ds->d.n_train = n_train;
    return 0;
}

/* Mean held-out loss (nats per token) over at most 64 consecutive windows: build_dataset
 * guarantees at least one. */
static double heldout_loss(trainer *t, const dataset *ds, uint32_t batch, uint32_t seq_len,
                           uint32_t *buf)
{
    return tr_heldout_loss(t, &ds->d, batch, seq_len, 64, buf);
}

/* ---------------------------------------------------------------- main */

static lmz_model *load_model(const opts *o, lmz_error *err)
{
    if (o->model_path) return lmz_model_open(o->model_path, err);
    return lmz_model_builtin(lmz_builtin_model_name(lmz_level_builtin(o->level)), err);
}

int lmz_lora_train_main(int argc, char **argv)
{
    opts o;
    if (parse_args(argc, argv, &o)) {
        free(o.files);
        return 2;
    }
    if (!o.force && access(o.out, F_OK) == 0) {
        fprintf(stderr, TOOL ": %s already exists (use -f to overwrite)\n", o.out);
        free(o.files);
        return 1;
    }
    char err[512] = "";
    int rc = 1;
    lmz_error lerr = { LMZ_OK, "" };
    tr_samples samples = {0};
    dataset ds = {0};
    trainer *t = NULL;
    float *m1 = NULL, *v1 = NULL, *best = NULL;
    uint32_t *buf = NULL;
    lmz_model *model = load_model(&o, &lerr);
    if (!model) {
        snprintf(err, sizeof err, "%s", lerr.message);
        goto fail;
    }
    for (int i = 0; i < o.n_files; i++)
        if (tr_samples_add_file(&samples, o.files[i], err, sizeof err)) goto fail;
    tm_config c;
    uint32_t seq_len = o.ctx < model->hp.n_ctx_train || !model->hp.n_ctx_train ? o.ctx : model->hp.n_ctx_train;
    if (tr_config_from_model(model, seq_len, &c, err, sizeof err) ||
        build_dataset(&samples, model, seq_len, &ds, err, sizeof err))
        goto fail;
    if (!(t = trainer_new(&c, o.batch, o.threads, err, sizeof err))) goto fail;
    if (tr_load_model_params(model, &c, trainer_params(t), err, sizeof err) ||
        trainer_enable_lora(t, o.rank, o.alpha, o.targets, o.seed, err, sizeof err))
        goto fail;
    size_t n_lora = trainer_n_lora(t);
    m1 = calloc(n_lora, sizeof(float));
    v1 = calloc(n_lora, sizeof(float));
    best = malloc(n_lora * sizeof(float));
    buf = malloc((size_t)o.batch * (seq_len + 1) * sizeof *buf);
    if (!m1 || !v1 || !best || !buf) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }

    size_t tok_per_step = (size_t)o.batch * seq_len;
    uint32_t steps = o.steps_set ? o.steps
                   : (uint32_t)ceil(o.epochs * (double)ds.d.n_train / (double)tok_per_step);
    if (steps < 1) steps = 1;
    uint32_t eval_every = o.eval_every ? o.eval_every : (steps / 20 > 5 ? steps / 20 : 5);
    tr_opt_config opt;
    tr_opt_defaults(&opt);
    opt.lr = o.lr;
    opt.lr_min = o.lr / 10;
    opt.weight_decay = o.weight_decay;
    opt.total_steps = steps;
    opt.warmup = steps / 20 > 1 ? steps / 20 : 1;
    size_t held_tokens = ds.d.n_tokens - ds.d.n_train;
    double tok_per_byte = ds.held_bytes ? (double)held_tokens / (double)ds.held_bytes : 0;
    double to_bpb = tok_per_byte / log(2.0);

    lmz_model_info mi;
    lmz_model_get_info(model, &mi);
    if (!o.quiet)
        fprintf(stderr, TOOL ": model %s; %zu samples (%zu bytes), %zu held out; %zu "
                "training + %zu held-out tokens; rank %u, alpha %g, %zu adapter parameters; "
                "batch %u x %u tokens, %u steps, %d threads\n", mi.name, samples.n,
                samples.bytes, ds.n_held, ds.d.n_train, held_tokens, o.rank, (double)o.alpha,
                n_lora, o.batch, seq_len, steps, o.threads);
    double base = heldout_loss(t, &ds, o.batch, seq_len, buf);
    double best_loss = base, t0 = now_s(), t_print = 0;
    uint32_t since_best = 0, step = 0, best_step = 0;
    memcpy(best, trainer_lora_params(t), n_lora * sizeof(float));
    uint64_t rng = (uint64_t)o.seed ^ 0x6c6d7a2d6c6f7261ull;      /* "lmz-lora" */
    const char *stop = "the step limit";
    int tty = isatty(2);
    while (step < steps) {
        tr_data_train_batch(&ds.d, &rng, o.batch, seq_len, buf);
        double loss;
        trainer_forward(t, buf, o.batch, seq_len, &loss);
        trainer_backward(t);
        double norm = tr_grad_norm(trainer_lora_grads(t), n_lora);
        float scale = opt.clip > 0 && norm > opt.clip ? (float)(opt.clip / norm) : 1.0f;
        tr_adamw_step_flat(trainer_exec(t), &opt, trainer_lora_params(t), trainer_lora_grads(t),
                           m1, v1, n_lora, step, tr_lr_at(&opt, step), scale);
        step++;
        double el = now_s() - t0;
        int eval = step % eval_every == 0 || step == steps;
        double held = -1;
        if (eval) {
            held = heldout_loss(t, &ds, o.batch, seq_len, buf);
            if (held < best_loss * (1 - 1e-3)) {
                best_loss = held;
                best_step = step;
                since_best = 0;
                memcpy(best, trainer_lora_params(t), n_lora * sizeof(float));
            } else {
                since_best++;
            }
        }
        if (!o.quiet && (eval || el - t_print >= 1.0)) {
            double eta = el / step * (steps - step);
            if (o.max_time > 0 && eta > o.max_time - el) eta = o.max_time - el;
            fprintf(stderr, "%sstep %u/%u  loss %.4f  held-out %.4f bpb (base %.4f, best %.4f)  "
                    "%.0f s, ETA %.0f s%s", tty ? "\r" : "", step, steps, loss,
                    (held >= 0 ? held : best_loss) * to_bpb, base * to_bpb, best_loss * to_bpb,
                    el, eta > 0 ? eta : 0, tty && !eval ? "  " : "\n");
            t_print = el;
        }
        if (eval && since_best >= o.patience) { stop = "early stopping"; break; }
        if (o.max_time > 0 && el >= o.max_time) { stop = "--max-time"; break; }
    }
    memcpy(trainer_lora_params(t), best, n_lora * sizeof(float));
    char name[64];
    if (o.name) snprintf(name, sizeof name, "%s", o.name);
    else {
        const char *b = strrchr(o.out, '/');
        snprintf(name, sizeof name, "%s", b ? b + 1 : o.out);
        char *dot = strstr(name, ".lora.gguf");
        if (!dot) dot = strstr(name, ".gguf");
        if (dot && dot != name) *dot = 0;
    }
    if (tr_export_lora(t, model, o.alpha, name, o.out, err, sizeof err)) goto fail;
    if (!o.quiet)
        fprintf(stderr, "%slmz --train: wrote %s (adapter '%s', step %u of %u, stopped by %s "
                "after %.0f s); held-out %.4f bpb, base model %.4f bpb (%.1f %% smaller)\n",
                tty ? "\n" : "", o.out, name, best_step, step, stop, now_s() - t0, best_loss * to_bpb,
                base * to_bpb, 100.0 * (1.0 - best_loss / base));
    rc = 0;
    goto out;
fail:
    fprintf(stderr, TOOL ": %s\n", err);
out:
    free(m1); free(v1); free(best); free(buf);
    trainer_free(t);
    tr_data_free(&ds.d);
    tr_samples_free(&samples);
    lmz_model_close(model);
    free(o.files);
    return rc;
}
