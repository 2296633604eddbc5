/*
 * mix_sim.c -- what an adaptive match model mixed with the LM would save (issue 17),
 * measured offline before any format change.
 *
 * For each file: chunks as a level codes them (chunk size, window, keep), the model's
 * integer frequencies for every token (the coder's own quantizer, so "lm" is the code
 * length lmz's LM payloads have, to within the range coder's ~0.1 %), and beside it a
 * token-level match model:
 *   the longest earlier occurrence of the last MINLEN+ tokens (hash of the last MINLEN
 *   tokens -> last position, verified, extended backwards to a length L) predicts the
 *   token that followed it, p.  "Is the next token p?" is a binary event whose
 *   probability is a logistic mix of stretch(p_LM(p)) and stretch(hit rate of matches of
 *   that length), with weights selected by the length bucket (lpaq's mixer), followed by
 *   the LM's distribution without p when it is not.
 * Code length: hit -log2 P; miss -log2(1-P) - log2(f_LM(t) / (T - f_LM(p))): an exact
 * distribution, every token still codable.  Floating point here: this is a measurement;
 * the format would use lpaq's integer stretch/squash tables.
 *
 *   mix_sim [-l LEVEL] [-T THREADS] [-g] FILE...
 *     -g: the match model's history spans the whole file (else each chunk alone)
 *
 * Not part of the library; build after `make`:
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Isrc -o /tmp/mix_sim tools/mix_sim.c \
 *       build/release/liblmz.a -lzstd -lxxhash -lm -pthread
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coder/quantize.h"
#include "lib/internal.h"
#include "model/model.h"

#define MINLEN 3                 /* tokens hashed to find a match */
#define HASH_BITS 20
#define MAXLEN 63
#define N_BUCKETS 16

static double stretch(double p) { return log(p / (1 - p)); }
static double squash(double x) { return 1 / (1 + exp(-x)); }
static double clampp(double p) { return p < 1e-6 ? 1e-6 : p > 1 - 1e-6 ? 1 - 1e-6 : p; }

typedef struct matcher {
    int32_t *hist;               /* tokens seen so far */
    size_t n, cap;
    uint32_t *table;             /* hash of MINLEN tokens -> position after them + 1 */
    size_t ptr;                  /* the predicted token is hist[ptr] (0 = no match) */
    uint32_t len;
    double conf[N_BUCKETS][2];   /* hits, tries per length bucket */
    double w[N_BUCKETS][3];      /* mixer weights per bucket: LM, confidence, bias */
    uint64_t tries, hits;
} matcher;

static uint32_t bucket(uint32_t len)
{
    if (len < 8) return len;                       /* 0..7 (0 unused) */
    uint32_t b = 8;
    for (uint32_t l = 8; l * 2 <= len && b < N_BUCKETS - 1; l *= 2) b++;
    return b;
}

static uint32_t hash_at(const int32_t *h, size_t end)
{
    uint32_t x = 0;
    for (size_t i = end - MINLEN; i < end; i++) x = (x ^ (uint32_t)h[i]) * 2654435761u;
    return x >> (32 - HASH_BITS);
}

static void matcher_reset_history(matcher *m)
{
    m->n = 0;
    m->ptr = 0;
    m->len = 0;
    memset(m->table, 0, sizeof(uint32_t) << HASH_BITS);
}

/* After token t was coded: extend or find the match for the next position. */
static void matcher_update(matcher *m, int32_t t)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 1 << 16;
        m->hist = realloc(m->hist, m->cap * sizeof *m->hist);
    }
    if (m->ptr && m->hist[m->ptr] == t) {
        m->ptr++;
        if (m->len < MAXLEN) m->len++;
    } else {
        m->ptr = 0;
        m->len = 0;
    }
    m->hist[m->n++] = t;
    if (m->n < MINLEN) return;
    uint32_t h = hash_at(m->hist, m->n);
    if (!m->ptr) {
        size_t cand = m->table[h];
        if (cand && cand < m->n) {
            uint32_t l = 0;
            while (l < MAXLEN && l < cand && m->hist[cand - 1 - l] == m->hist[m->n - 1 - l]) l++;
            if (l >= MINLEN) {
                m->ptr = cand;
                m->len = l;
            }
        }
    }
    m->table[h] = (uint32_t)m->n;
}

/* Bits to code token `t` given the LM's frequency of t and of the predicted token. */
static double matcher_code(matcher *m, int32_t t, double f_t, double f_p)
{
    const double T = (double)LMZ_FREQ_TOTAL;
    int32_t p = m->hist[m->ptr];
    uint32_t b = bucket(m->len);
    double x[3] = { stretch(clampp(f_p / T)),
                    stretch(clampp((m->conf[b][0] + 0.5) / (m->conf[b][1] + 1))), 0.3 };
    double dot = 0;
    for (int i = 0; i < 3; i++) dot += m->w[b][i] * x[i];
    double P = clampp(squash(dot));
    int hit = t == p;
    double bits = hit ? -log2(P) : -log2(1 - P) - log2(f_t / (T - f_p));
    double err = hit - P;
    for (int i = 0; i < 3; i++) m->w[b][i] += 0.02 * err * x[i];
    m->conf[b][0] += hit;
    m->conf[b][1] += 1;
    m->tries++;
    m->hits += hit;
    return bits;
}

static void matcher_init(matcher *m)
{
    memset(m, 0, sizeof *m);
    m->table = calloc((size_t)1 << HASH_BITS, sizeof(uint32_t));
    for (int b = 0; b < N_BUCKETS; b++) { m->w[b][0] = 0.3; m->w[b][1] = 0.7; m->w[b][2] = 0; }
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
    *n = fread(buf, 1, (size_t)size, f);
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    int level = 5, threads = 2, global = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-l") && i + 1 < argc) level = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-T") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-g")) global = 1;
        else { fprintf(stderr, "usage: mix_sim [-l LEVEL] [-T N] [-g] FILE...\n"); return 2; }
    }
    lmz_error err = {0};
    lmz_model *m = lmz_model_builtin(lmz_builtin_model_name(lmz_level_builtin(level)), &err);
    if (!m) { fprintf(stderr, "model: %s\n", err.message); return 1; }
    lmz_level_settings w;
    lmz_level_get_builtin(level, 1u << 20, &w);
    uint32_t ctx = w.context, keep = w.keep, n_vocab = tok_n_vocab(m->tok);
    int32_t bos = tok_bos(m->tok);
    char msg[256];
    uint32_t max_batch = ctx;
    forward_ctx *f = fwd_new(m, ctx, 1, max_batch, threads, LMZ_SIMD_AUTO, msg, sizeof msg);
    if (!f || fwd_set_kv_f16(f, w.kv_f16, msg, sizeof msg)) { fprintf(stderr, "%s\n", msg); return 1; }
    float *logits = malloc((size_t)max_batch * n_vocab * sizeof *logits);
    printf("%-40s %9s %8s %7s %7s %7s %6s\n", "file", "bytes", "tokens", "lm", "mixed", "gain", "hit%");
    for (; i < argc; i++) {
        size_t n;
        uint8_t *text = read_file(argv[i], &n);
        if (!text) { perror(argv[i]); continue; }
        matcher mt;
        matcher_init(&mt);
        double lm_bits = 0, mix_bits = 0;
        size_t n_tok_all = 0;
        for (size_t off = 0; off < n; off += w.chunk_size) {
            size_t len = n - off < w.chunk_size ? n - off : w.chunk_size;
            int32_t *tok = malloc((len + 2) * sizeof *tok);
            long nt = tok_encode(m->tok, text + off, len, tok, len + 2);
            if (!global) matcher_reset_history(&mt);
            /* F = [BOS, t0 .. t(n-2)]; F[j] predicts t[j].  Feed windows of ctx. */
            int32_t *feed = malloc((size_t)(nt + 1) * sizeof *feed);
            size_t nf = 0;
            feed[nf++] = bos >= 0 ? bos : 0;
            for (long k = 0; k + 1 < nt; k++) feed[nf++] = tok[k];
            uint32_t seq0[1] = {0};
            size_t j = 0;                            /* next F index to predict from */
            fwd_reset(f, 0);
            uint32_t cache = 0;
            while (j < (size_t)nt) {
                if (cache == ctx) {                  /* slide: BOS + last keep-1 */
                    fwd_reset(f, 0);
                    size_t lo = j > keep - 1 ? j - (keep - 1) : 1;
                    int32_t rb[4096];
                    uint32_t r = 0;
                    rb[r++] = feed[0];
                    for (size_t q = lo; q < j; q++) rb[r++] = feed[q];
                    uint32_t zs[4096] = {0};
                    uint8_t none[4096] = {0};
                    (void)seq0;
                    fwd_eval_select(f, rb, zs, r, none, logits);
                    cache = r;
                }
                uint32_t room = ctx - cache;
                size_t b = (size_t)nt - j < room ? (size_t)nt - j : room;
                uint32_t seqs[4096] = {0};
                if (fwd_eval(f, feed + j, seqs, (uint32_t)b, logits) != 0) { fprintf(stderr, "eval\n"); return 1; }
                for (size_t q = 0; q < b; q++) {
                    const float *row = logits + q * n_vocab;
                    int32_t t = tok[j + q];
                    uint32_t st, ft;
                    quant_symbol(row, n_vocab, (uint32_t)t, &st, &ft);
                    double lb = -log2((double)ft / (double)LMZ_FREQ_TOTAL);
                    lm_bits += lb;
                    if (mt.ptr) {
                        uint32_t sp, fp;
                        quant_symbol(row, n_vocab, (uint32_t)mt.hist[mt.ptr], &sp, &fp);
                        mix_bits += matcher_code(&mt, t, ft, fp);
                    } else {
                        mix_bits += lb;
                    }
                    matcher_update(&mt, t);
                }
                j += b;
                cache += (uint32_t)b;
            }
            n_tok_all += (size_t)nt;
            free(feed);
            free(tok);
        }
        const char *base = strrchr(argv[i], '/');
        printf("%-40s %9zu %8zu %7.3f %7.3f %6.1f%% %5.1f\n", base ? base + 1 : argv[i], n,
               n_tok_all, lm_bits / n, mix_bits / n, 100 * (1 - mix_bits / lm_bits),
               mt.tries ? 100.0 * (double)mt.hits / (double)mt.tries : 0.0);
        fflush(stdout);
        free(mt.hist);
        free(mt.table);
        free(text);
    }
    return 0;
}
