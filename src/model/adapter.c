/*
 * adapter.c -- opening a LoRA adapter (adapter.h): every tensor must be a lora_a or
 * lora_b of a weight lmz adapts, in pairs of matching rank; both are repacked into F32
 * panels and the file is closed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "model/adapter.h"
#include "model/identity.h"
#include "util/error.h"

static const char *const gguf_names[LORA_N_TARGETS] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};
static const char *const short_names[LORA_N_TARGETS] = {
    "q", "k", "v", "o", "gate", "up", "down",
};

const char *lora_target_gguf_name(lora_target t) { return gguf_names[t]; }
const char *lora_target_short_name(lora_target t) { return short_names[t]; }

#define MAX_LAYERS 4096u
#define MAX_RANK 4096u

/* The file's tensors of one adapted weight, before packing. */
typedef struct found_pair { const gguf_tensor *a, *b; } found_pair;

typedef struct loader {
    lmz_adapter *ad;
    gguf_file file;
    found_pair *found;       /* MAX_LAYERS * LORA_N_TARGETS, indexed like ad->pairs */
    lmz_status status;
    char err[400];
} loader;

static int fail(loader *ld, lmz_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(loader *ld, lmz_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->err, sizeof ld->err, fmt, ap);
    va_end(ap);
    ld->status = st;
    return -1;
}

static int str_is(gguf_str s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

/* "blk.N.<target>.weight.lora_a|b" -> layer, target, is_b; -1 for anything else. */
static int parse_name(gguf_str s, uint32_t *layer, lora_target *target, int *is_b)
{
    char name[128];
    if (s.len >= sizeof name || memchr(s.ptr, 0, s.len)) return -1;
    memcpy(name, s.ptr, s.len);
    name[s.len] = 0;
    unsigned l;
    int n = 0;
    if (sscanf(name, "blk.%u.%n", &l, &n) != 1 || n == 0 || l >= MAX_LAYERS) return -1;
    const char *rest = name + n;
    for (int t = 0; t < LORA_N_TARGETS; t++) {
        size_t k = strlen(gguf_names[t]);
        if (strncmp(rest, gguf_names[t], k) != 0) continue;
        if (strcmp(rest + k, ".weight.lora_a") == 0) *is_b = 0;
        else if (strcmp(rest + k, ".weight.lora_b") == 0) *is_b = 1;
        else continue;
        *layer = l;
        *target = (lora_target)t;
        return 0;
    }
    return -1;
}

static int read_metadata(loader *ld)
{
    lmz_adapter *ad = ld->ad;
    gguf_str s;
    if (gguf_get_str(&ld->file, "general.type", &s) || !str_is(s, "adapter"))
        return fail(ld, LMZ_ERR_MODEL, "not an adapter (general.type is not \"adapter\")");
    if (gguf_get_str(&ld->file, "adapter.type", &s) || !str_is(s, "lora"))
        return fail(ld, LMZ_ERR_MODEL, "not a LoRA adapter (adapter.type is not \"lora\")");
    if (gguf_get_str(&ld->file, "general.architecture", &s) || s.len == 0 ||
        s.len >= sizeof ad->arch)
        return fail(ld, LMZ_ERR_MODEL, "general.architecture is missing or too long");
    memcpy(ad->arch, s.ptr, s.len);
    ad->alpha = 0.0f;
    if (gguf_find_kv(&ld->file, "adapter.lora.alpha") &&
        (gguf_get_f32(&ld->file, "adapter.lora.alpha", &ad->alpha) || !(ad->alpha >= 0.0f) ||
         ad->alpha > 1e6f))
        return fail(ld, LMZ_ERR_MODEL, "adapter.lora.alpha is not a number in 0..1e6");
    if (gguf_get_str(&ld->file, "lmz.base_model_hash", &s) == 0) {
        if (s.len != 32) return fail(ld, LMZ_ERR_MODEL, "lmz.base_model_hash is not 32 hex digits");
        for (int i = 0; i < 16; i++) {
            unsigned v;
            char hex[3] = {s.ptr[2 * i], s.ptr[2 * i + 1], 0};
            if (sscanf(hex, "%2x", &v) != 1)
                return fail(ld, LMZ_ERR_MODEL, "lmz.base_model_hash is not 32 hex digits");
            ad->base_hash[i] = (uint8_t)v;
        }
        ad->has_base_hash = 1;
    }
    return 0;
}

/* Every tensor into ld->found; checks shapes, types, pairing. */
static int collect(loader *ld)
{
    lmz_adapter *ad = ld->ad;
    for (uint64_t i = 0; i < ld->file.n_tensors; i++) {
        const gguf_tensor *t = &ld->file.tensors[i];
        uint32_t layer;
        lora_target target;
        int is_b;
        if (parse_name(t->name, &layer, &target, &is_b))
            return fail(ld, LMZ_ERR_MODEL, "tensor '%.*s' is not a LoRA tensor lmz applies "
                        "(blk.N.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}"
                        ".weight.lora_{a,b})", (int)(t->name.len > 120 ? 120 : t->name.len),
                        t->name.ptr);
        if (t->n_dims > 2 || t->ne[0] < 1 || t->ne[1] < 1 || t->ne[0] > (1u << 20) ||
            t->ne[1] > (1u << 20))
            return fail(ld, LMZ_ERR_MODEL, "tensor '%.*s' is not a matrix of a supported size",
                        (int)t->name.len, t->name.ptr);
        if (t->type == GGML_TYPE_Q8_0 || !lmz_row_reader(t->type))
            return fail(ld, LMZ_ERR_MODEL, "tensor '%.*s' has type %s; adapters may use F32, "
                        "F16 or BF16", (int)t->name.len, t->name.ptr, ggml_type_name(t->type));
        found_pair *fp = &ld->found[(size_t)layer * LORA_N_TARGETS + target];
        const gguf_tensor **slot = is_b ? &fp->b : &fp->a;
        if (*slot)
            return fail(ld, LMZ_ERR_MODEL, "tensor '%.*s' appears twice", (int)t->name.len,
                        t->name.ptr);
        *slot = t;
        if (layer + 1 > ad->n_layer) ad->n_layer = layer + 1;
    }
    for (uint32_t l = 0; l < ad->n_layer; l++)
        for (int k = 0; k < LORA_N_TARGETS; k++) {
            const found_pair *fp = &ld->found[(size_t)l * LORA_N_TARGETS + k];
            if (!fp->a && !fp->b) continue;
            if (!fp->a || !fp->b)
                return fail(ld, LMZ_ERR_MODEL, "blk.%u.%s.weight has a lora_%s but no lora_%s",
                            l, gguf_names[k], fp->a ? "a" : "b", fp->a ? "b" : "a");
            /* a: [n_in, r]; b: [r, n_out] */
            if (fp->a->ne[1] != fp->b->ne[0] || fp->a->ne[1] > MAX_RANK)
                return fail(ld, LMZ_ERR_MODEL, "blk.%u.%s.weight: lora_a is [%llu, %llu] and "
                            "lora_b [%llu, %llu]; expected [n_in, r] and [r, n_out] with r <= %u",
                            l, gguf_names[k], (unsigned long long)fp->a->ne[0],
                            (unsigned long long)fp->a->ne[1], (unsigned long long)fp->b->ne[0],
                            (unsigned long long)fp->b->ne[1], MAX_RANK);
        }
    return 0;
}

static int pack(loader *ld, const gguf_tensor *t, lmz_matrix *mx)
{
    uint32_t n_in = (uint32_t)t->ne[0], n_out = (uint32_t)t->ne[1];
    mx->type = GGML_TYPE_F32;
    mx->n_in = n_in;
    mx->n_out = n_out;
    mx->panels = aligned_alloc(64, (lmz_f32_panels_bytes(n_out, n_in) + 63) / 64 * 64);
    float *tmp = malloc((size_t)n_in * sizeof(float));
    if (!mx->panels || !tmp) {
        free(tmp);
        return fail(ld, LMZ_ERR_NOMEM, "out of memory for the adapter's weights");
    }
    lmz_pack_f32(mx->panels, t->data, lmz_row_reader(t->type), n_out, n_in, tmp);
    free(tmp);
    return 0;
}

/* Pack every pair and hash them in canonical order. */
static int build(loader *ld)
{
    lmz_adapter *ad = ld->ad;
    if (ad->n_layer == 0) return fail(ld, LMZ_ERR_MODEL, "the adapter has no tensors");
    ad->pairs = calloc((size_t)ad->n_layer * LORA_N_TARGETS, sizeof *ad->pairs);
    XXH3_state_t *h = XXH3_createState();
    if (!ad->pairs || !h) {
        XXH3_freeState(h);
        return fail(ld, LMZ_ERR_NOMEM, "out of memory");
    }
    static const char tag[] = "lmz-lora-1";
    XXH3_128bits_reset(h);
    identity_bytes(h, tag, sizeof tag - 1);
    identity_f32(h, ad->alpha);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < (size_t)ad->n_layer * LORA_N_TARGETS; i++) {
        const found_pair *fp = &ld->found[i];
        if (!fp->a) continue;
        lora_pair *p = &ad->pairs[i];
        uint32_t r = (uint32_t)fp->a->ne[1];
        p->scale = ad->alpha != 0.0f ? ad->alpha / (float)r : 1.0f;
        identity_tensor(h, fp->a);
        identity_tensor(h, fp->b);
        rc = pack(ld, fp->a, &p->a);
        if (rc == 0) rc = pack(ld, fp->b, &p->b);
        ad->n_pairs++;
        ad->n_params += fp->a->ne[0] * fp->a->ne[1] + fp->b->ne[0] * fp->b->ne[1];
        if (r > ad->max_rank) ad->max_rank = r;
    }
    identity_digest(h, ad->hash);
    XXH3_freeState(h);
    return rc;
}

static void set_name(lmz_adapter *ad, const gguf_file *f, const char *path)
{
    gguf_str s;
    if (gguf_get_str(f, "general.name", &s) == 0 && s.len > 0 && !memchr(s.ptr, 0, s.len)) {
        size_t n = s.len < sizeof ad->name - 1 ? s.len : sizeof ad->name - 1;
        memcpy(ad->name, s.ptr, n);
        return;
    }
    const char *base = path ? strrchr(path, '/') : NULL;
    base = base ? base + 1 : path ? path : "(memory)";
    size_t n = strlen(base);
    static const char ext[] = ".lora.gguf";
    if (n > sizeof ext - 1 && strcmp(base + n - (sizeof ext - 1), ext) == 0) n -= sizeof ext - 1;
    if (n > sizeof ad->name - 1) n = sizeof ad->name - 1;
    memcpy(ad->name, base, n);
}

static lmz_adapter *finish(loader *ld, const char *path, lmz_error *err)
{
    lmz_adapter *ad = ld->ad;
    ld->found = calloc((size_t)MAX_LAYERS * LORA_N_TARGETS, sizeof *ld->found);
    int rc = ld->found ? 0 : fail(ld, LMZ_ERR_NOMEM, "out of memory");
    if (rc == 0) rc = read_metadata(ld);
    if (rc == 0) rc = collect(ld);
    if (rc == 0) rc = build(ld);
    if (rc == 0) set_name(ad, &ld->file, path);
    free(ld->found);
    gguf_close(&ld->file);
    if (rc == 0) return ad;
    lmz_error_setf(err, ld->status, "adapter %s%s%s", path ? "'" : "", path ? path : "in memory",
                   path ? "'" : "");
    size_t used = strlen(err->message);
    snprintf(err->message + used, sizeof err->message - used, ": %s", ld->err);
    lmz_adapter_close(ad);
    return NULL;
}

/* From a file (path) or from memory (data, size). */
static lmz_adapter *load(const char *path, const void *data, size_t size, lmz_error *err)
{
    loader ld = {.status = LMZ_OK};
    ld.ad = calloc(1, sizeof *ld.ad);
    if (!ld.ad) {
        lmz_error_setf(err, LMZ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    char gerr[300];
    int rc = path ? gguf_open(&ld.file, path, gerr, sizeof gerr)
                  : gguf_parse(&ld.file, data, size, gerr, sizeof gerr);
    if (rc) {
        lmz_error_setf(err, rc == GGUF_NOMEM ? LMZ_ERR_NOMEM : LMZ_ERR_MODEL, "adapter%s: %s",
                       path ? "" : " in memory", gerr);
        free(ld.ad);
        return NULL;
    }
    return finish(&ld, path, err);
}

lmz_adapter *lmz_adapter_open(const char *path, lmz_error *err)
{
    if (!path) {
        lmz_error_setf(err, LMZ_ERR_ARG, "no adapter path given");
        return NULL;
    }
    if (access(path, R_OK) != 0) {
        lmz_error_setf(err, LMZ_ERR_MODEL, "cannot open adapter '%s': %s", path, strerror(errno));
        return NULL;
    }
    return load(path, NULL, 0, err);
}

lmz_adapter *lmz_adapter_from_memory(const void *data, size_t size, lmz_error *err)
{
    if (!data && size) {
        lmz_error_setf(err, LMZ_ERR_ARG, "no adapter data given");
        return NULL;
    }
    return load(NULL, data, size, err);
}

void lmz_adapter_close(lmz_adapter *ad)
{
    if (!ad) return;
    if (ad->pairs)
        for (size_t i = 0; i < (size_t)ad->n_layer * LORA_N_TARGETS; i++) {
            free(ad->pairs[i].a.panels);
            free(ad->pairs[i].b.panels);
        }
    free(ad->pairs);
    free(ad);
}

void lmz_adapter_get_info(const lmz_adapter *ad, lmz_adapter_info *info)
{
    memset(info, 0, sizeof *info);
    memcpy(info->name, ad->name, sizeof info->name);
    memcpy(info->arch, ad->arch, sizeof info->arch);
    memcpy(info->adapter_hash, ad->hash, 16);
    info->has_base_model_hash = ad->has_base_hash;
    memcpy(info->base_model_hash, ad->base_hash, 16);
    info->alpha = ad->alpha;
    info->rank = ad->max_rank;
    info->n_layers = ad->n_layer;
    info->n_matrices = ad->n_pairs;
    info->n_params = ad->n_params;
}

int lora_check_model(const lmz_adapter *ad, const lmz_model *m, char *err, size_t errlen)
{
    if (ad->has_base_hash && memcmp(ad->base_hash, m->model_hash, 16) != 0) {
        snprintf(err, errlen, "adapter '%s' was trained for another model than '%s'",
                 ad->name, m->name);
        return -1;
    }
    if (strcmp(ad->arch, m->arch) != 0) {
        snprintf(err, errlen, "adapter '%s' is for the %s architecture, the model '%s' is %s",
                 ad->name, ad->arch, m->name, m->arch);
        return -1;
    }
    if (ad->n_layer > m->hp.n_layer) {
        snprintf(err, errlen, "adapter '%s' adapts layer %u; the model '%s' has %u layers",
                 ad->name, ad->n_layer - 1, m->name, m->hp.n_layer);
        return -1;
    }
    for (uint32_t l = 0; l < ad->n_layer; l++) {
        const lmz_layer *L = &m->layers[l];
        const lmz_matrix *w[LORA_N_TARGETS] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->gate,
                                               &L->up, &L->down};
        for (int t = 0; t < LORA_N_TARGETS; t++) {
            const lora_pair *p = lora_pair_at(ad, l, (lora_target)t);
            if (p && (p->a.n_in != w[t]->n_in || p->b.n_out != w[t]->n_out)) {
                snprintf(err, errlen, "adapter '%s': blk.%u.%s.weight is %u x %u in the model "
                         "'%s' but the adapter's lora_a/lora_b make %u x %u", ad->name, l,
                         gguf_names[t], w[t]->n_out, w[t]->n_in, m->name, p->b.n_out, p->a.n_in);
                return -1;
            }
        }
    }
    return 0;
}

lmz_status lmz_adapter_check(const lmz_adapter *ad, const lmz_model *m, lmz_error *err)
{
    if (!ad || !m) return lmz_error_setf(err, LMZ_ERR_ARG, "no adapter or model given");
    char msg[400];
    if (lora_check_model(ad, m, msg, sizeof msg))
        return lmz_error_setf(err, LMZ_ERR_MODEL_MISMATCH, "%s", msg);
    return LMZ_OK;
}
