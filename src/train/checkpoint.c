/*
 * checkpoint.c -- see checkpoint.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "train/checkpoint.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint.c writes float arrays as they are in memory: little-endian hosts only"
#endif

static const char magic[8] = {'L', 'M', 'Z', 'T', 'R', 'A', 'I', 'N'};

/* ---------------------------------------------------------------- header fields */

typedef struct hbuf { uint8_t b[256]; size_t n; } hbuf;

static void put32(hbuf *h, uint32_t v) { memcpy(h->b + h->n, &v, 4); h->n += 4; }
static void putf(hbuf *h, float v) { memcpy(h->b + h->n, &v, 4); h->n += 4; }
static void put64(hbuf *h, uint64_t v) { memcpy(h->b + h->n, &v, 8); h->n += 8; }
static uint32_t get32(const uint8_t **p) { uint32_t v; memcpy(&v, *p, 4); *p += 4; return v; }
static float getf(const uint8_t **p) { float v; memcpy(&v, *p, 4); *p += 4; return v; }
static uint64_t get64(const uint8_t **p) { uint64_t v; memcpy(&v, *p, 8); *p += 8; return v; }

/* Header without its first 16 bytes (magic, version, length). */
static void header_body(hbuf *h, const tr_run_state *s, uint64_t n_params)
{
    const tm_config *c = &s->model;
    const tr_opt_config *o = &s->opt;
    uint32_t u[] = {c->n_vocab, c->n_embd, c->n_layer, c->n_head, c->n_head_kv, c->n_ff,
                    c->n_ctx, c->tied};
    for (size_t i = 0; i < sizeof u / sizeof *u; i++) put32(h, u[i]);
    putf(h, c->norm_eps);
    putf(h, c->rope_base);
    float f[] = {o->lr, o->lr_min, o->beta1, o->beta2, o->eps, o->weight_decay, o->clip};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) putf(h, f[i]);
    put32(h, o->warmup);
    put32(h, o->total_steps);
    put32(h, s->batch);
    put32(h, s->seq_len);
    uint64_t w[] = {s->seed, s->step, s->rng, s->tokens_seen, s->data_tokens, n_params};
    for (size_t i = 0; i < sizeof w / sizeof *w; i++) put64(h, w[i]);
}

#define HEADER_BYTES (16 + 10 * 4 + 9 * 4 + 2 * 4 + 6 * 8)

/* ---------------------------------------------------------------- save */

typedef struct writer { FILE *fp; XXH3_state_t *hash; int failed; } writer;

static void wr(writer *w, const void *p, size_t n)
{
    if (w->failed) return;
    if (fwrite(p, 1, n, w->fp) != n) w->failed = 1;
    XXH3_64bits_update(w->hash, p, n);
}

int tr_checkpoint_save(const char *path, const tr_run_state *s, const float *params,
                       const float *m, const float *v, char *err, size_t errlen)
{
    uint64_t n = tm_n_params(&s->model);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    XXH3_state_t *hash = XXH3_createState();
    if (!tmp || !hash) {
        free(tmp);
        XXH3_freeState(hash);
        snprintf(err, errlen, "checkpoint: out of memory");
        return -1;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    XXH3_64bits_reset(hash);
    writer w = {fopen(tmp, "wb"), hash, 0};
    if (!w.fp) {
        snprintf(err, errlen, "checkpoint: cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        XXH3_freeState(hash);
        return -1;
    }
    hbuf h = {{0}, 0};
    memcpy(h.b, magic, 8);
    h.n = 8;
    put32(&h, TR_CHECKPOINT_VERSION);
    put32(&h, HEADER_BYTES);
    header_body(&h, s, n);
    wr(&w, h.b, h.n);
    wr(&w, params, n * sizeof(float));
    wr(&w, m, n * sizeof(float));
    wr(&w, v, n * sizeof(float));
    uint64_t sum = XXH3_64bits_digest(hash);
    if (!w.failed && fwrite(&sum, 8, 1, w.fp) != 1) w.failed = 1;
    int saved_errno = errno;
    if (fflush(w.fp) != 0 || fsync(fileno(w.fp)) != 0) w.failed = 1, saved_errno = errno;
    if (fclose(w.fp) != 0) w.failed = 1, saved_errno = errno;
    int rc = 0;
    if (w.failed) {
        snprintf(err, errlen, "checkpoint: cannot write '%s': %s", tmp, strerror(saved_errno));
        remove(tmp);
        rc = -1;
    } else if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "checkpoint: cannot rename '%s' to '%s': %s", tmp, path,
                 strerror(errno));
        remove(tmp);
        rc = -1;
    }
    free(tmp);
    XXH3_freeState(hash);
    return rc;
}

/* ---------------------------------------------------------------- load */

int tr_checkpoint_load(const char *path, tr_run_state *s, float **params, float **m,
                       float **v, char *err, size_t errlen)
{
    *params = *m = *v = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "checkpoint: cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    uint8_t head[HEADER_BYTES];
    if (fread(head, 1, HEADER_BYTES, fp) != HEADER_BYTES || memcmp(head, magic, 8) != 0) {
        snprintf(err, errlen, "checkpoint: '%s' is not an lmz training checkpoint", path);
        fclose(fp);
        return -1;
    }
    const uint8_t *p = head + 8;
    uint32_t version = get32(&p), hbytes = get32(&p);
    if (version != TR_CHECKPOINT_VERSION || hbytes != HEADER_BYTES) {
        snprintf(err, errlen, "checkpoint: '%s' has version %u (header %u bytes); this build "
                 "reads version %u", path, version, hbytes, TR_CHECKPOINT_VERSION);
        fclose(fp);
        return -1;
    }
    memset(s, 0, sizeof *s);
    tm_config *c = &s->model;
    uint32_t *u[] = {&c->n_vocab, &c->n_embd, &c->n_layer, &c->n_head, &c->n_head_kv,
                     &c->n_ff, &c->n_ctx, &c->tied};
    for (size_t i = 0; i < sizeof u / sizeof *u; i++) *u[i] = get32(&p);
    c->norm_eps = getf(&p);
    c->rope_base = getf(&p);
    tr_opt_config *o = &s->opt;
    float *f[] = {&o->lr, &o->lr_min, &o->beta1, &o->beta2, &o->eps, &o->weight_decay, &o->clip};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) *f[i] = getf(&p);
    o->warmup = get32(&p);
    o->total_steps = get32(&p);
    s->batch = get32(&p);
    s->seq_len = get32(&p);
    uint64_t *w[] = {&s->seed, &s->step, &s->rng, &s->tokens_seen, &s->data_tokens};
    for (size_t i = 0; i < sizeof w / sizeof *w; i++) *w[i] = get64(&p);
    uint64_t n = get64(&p);
    char cerr[200];
    if (tm_config_check(c, cerr, sizeof cerr) || n != tm_n_params(c)) {
        snprintf(err, errlen, "checkpoint: '%s' has an invalid model: %s", path,
                 n != tm_n_params(c) ? "parameter count mismatch" : cerr);
        fclose(fp);
        return -1;
    }
    *params = malloc(n * sizeof(float));
    *m = malloc(n * sizeof(float));
    *v = malloc(n * sizeof(float));
    uint64_t stored = 0;
    int ok = *params && *m && *v && fread(*params, sizeof(float), n, fp) == n &&
             fread(*m, sizeof(float), n, fp) == n && fread(*v, sizeof(float), n, fp) == n &&
             fread(&stored, 8, 1, fp) == 1 && fgetc(fp) == EOF;
    fclose(fp);
    if (ok) {
        XXH3_state_t *hash = XXH3_createState();
        if (hash) {
            XXH3_64bits_reset(hash);
            XXH3_64bits_update(hash, head, HEADER_BYTES);
            XXH3_64bits_update(hash, *params, n * sizeof(float));
            XXH3_64bits_update(hash, *m, n * sizeof(float));
            XXH3_64bits_update(hash, *v, n * sizeof(float));
            ok = XXH3_64bits_digest(hash) == stored;
            XXH3_freeState(hash);
            if (!ok) snprintf(err, errlen, "checkpoint: '%s' is corrupt (checksum mismatch)", path);
        } else {
            ok = 0;
            snprintf(err, errlen, "checkpoint: out of memory");
        }
    } else {
        snprintf(err, errlen, "checkpoint: '%s' is truncated, has trailing bytes or cannot be "
                 "read into memory", path);
    }
    if (!ok) {
        free(*params); free(*m); free(*v);
        *params = *m = *v = NULL;
        return -1;
    }
    return 0;
}
