/*
 * gguf_write.c -- GGUF v3 writer: metadata and tensors collected in memory, then written
 * in one go, atomically when to a file (PATH.tmp, fsync, rename over PATH).
 *
 * Each metadata value is serialized when it is set (type code + little-endian value), so
 * writing is a concatenation.  Setters return nothing: the first problem (bad argument,
 * out of memory) is remembered and reported by the write, which then writes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"

/* ------------------------------------------------------------------ growable bytes */

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
    int oom;                  /* sticky: an append failed */
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
    if (b->oom)
        return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_le(bytes *b, uint64_t v, unsigned size)
{
    uint8_t le[8];
    for (unsigned i = 0; i < size; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    put(b, le, size);
}

static void put_str(bytes *b, const char *s, size_t len)
{
    put_le(b, len, 8);
    put(b, s, len);
}

/* ------------------------------------------------------------------ the writer */

typedef struct wkv {
    char *key;
    bytes val;                /* type code, then the value, as in the file */
} wkv;

typedef struct wtensor {
    char *name;
    ggml_type type;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    uint64_t size;
    uint8_t *data;
} wtensor;

struct gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    int failed;
    char err[256];            /* the first failure */
};

static void wfail(gguf_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wfail(gguf_writer *w, const char *fmt, ...)
{
    if (w->failed)
        return;
    w->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
}

gguf_writer *gguf_writer_new(void)
{
    return calloc(1, sizeof(gguf_writer));
}

void gguf_writer_free(gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val.p);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->kv);
    free(w->t);
    free(w);
}

/* Grow *arr (of elem-byte items, *cap of them) to hold one more. */
static int reserve_one(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    if (c > SIZE_MAX / elem)
        return -1;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

static wkv *find_kv(gguf_writer *w, const char *key)
{
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0)
            return &w->kv[i];
    return NULL;
}

/* Takes ownership of val's buffer; replaces an existing value of the same key. */
static void set_value(gguf_writer *w, const char *key, bytes *val)
{
    if (!key || !*key) {
        wfail(w, "metadata key is empty");
    } else if (val->oom) {
        wfail(w, "out of memory setting '%s'", key);
    } else {
        wkv *kv = find_kv(w, key);
        if (kv) {
            free(kv->val.p);
            kv->val = *val;
            return;
        }
        char *k = strdup(key);
        if (!k || reserve_one((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv)) {
            free(k);
            wfail(w, "out of memory setting '%s'", key);
        } else {
            w->kv[w->n_kv].key = k;
            w->kv[w->n_kv].val = *val;
            w->n_kv++;
            return;
        }
    }
    free(val->p);
}

/* bits: the value's two's-complement / IEEE bits, low `gguf_type_size(type)` bytes used. */
static void set_scalar(gguf_writer *w, const char *key, gguf_type type, uint64_t bits)
{
    bytes b = {0};
    if (!w)
        return;
    put_le(&b, (uint32_t)type, 4);
    put_le(&b, bits, (unsigned)gguf_type_size(type));
    set_value(w, key, &b);
}

void gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v)
{
    set_scalar(w, key, GGUF_TYPE_UINT8, v);
}

void gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v)
{
    set_scalar(w, key, GGUF_TYPE_INT8, (uint8_t)v);
}

void gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v)
{
    set_scalar(w, key, GGUF_TYPE_UINT16, v);
}

void gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v)
{
    set_scalar(w, key, GGUF_TYPE_INT16, (uint16_t)v);
}

void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v)
{
    set_scalar(w, key, GGUF_TYPE_UINT32, v);
}

void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v)
{
    set_scalar(w, key, GGUF_TYPE_INT32, (uint32_t)v);
}

void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v)
{
    set_scalar(w, key, GGUF_TYPE_UINT64, v);
}

void gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v)
{
    set_scalar(w, key, GGUF_TYPE_INT64, (uint64_t)v);
}

void gguf_writer_set_bool(gguf_writer *w, const char *key, int v)
{
    set_scalar(w, key, GGUF_TYPE_BOOL, v != 0);
}

void gguf_writer_set_f32(gguf_writer *w, const char *key, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    set_scalar(w, key, GGUF_TYPE_FLOAT32, u);
}

void gguf_writer_set_f64(gguf_writer *w, const char *key, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    set_scalar(w, key, GGUF_TYPE_FLOAT64, u);
}

void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v)
{
    bytes b = {0};
    if (!w)
        return;
    if (!v) {
        wfail(w, "NULL string for '%s'", key ? key : "");
        return;
    }
    put_le(&b, GGUF_TYPE_STRING, 4);
    put_str(&b, v, strlen(v));
    set_value(w, key, &b);
}

void gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type elem_type,
                         const void *v, uint64_t n)
{
    bytes b = {0};
    unsigned size = (unsigned)gguf_type_size(elem_type);
    if (!w)
        return;
    if (size == 0) {
        wfail(w, "'%s': array element type %d is not a scalar type", key ? key : "",
              (int)elem_type);
        return;
    }
    if (n && !v) {
        wfail(w, "'%s': NULL array data", key ? key : "");
        return;
    }
    if (n > SIZE_MAX / size) {
        wfail(w, "'%s': array of %" PRIu64 " elements is too large", key ? key : "", n);
        return;
    }
    put_le(&b, GGUF_TYPE_ARRAY, 4);
    put_le(&b, (uint32_t)elem_type, 4);
    put_le(&b, n, 8);
    const uint8_t *src = v;
    for (uint64_t i = 0; i < n && !b.oom; i++) {
        uint64_t bits = 0;
        /* Host-order element -> integer of the same width, then out little-endian. */
        switch (size) {
        case 1: bits = src[i]; break;
        case 2: { uint16_t x; memcpy(&x, src + 2 * i, 2); bits = x; break; }
        case 4: { uint32_t x; memcpy(&x, src + 4 * i, 4); bits = x; break; }
        default: memcpy(&bits, src + 8 * i, 8); break;
        }
        if (elem_type == GGUF_TYPE_BOOL)
            bits = bits != 0;
        put_le(&b, bits, size);
    }
    set_value(w, key, &b);
}

void gguf_writer_set_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n)
{
    gguf_writer_set_arr(w, key, GGUF_TYPE_FLOAT32, v, n);
}

void gguf_writer_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n)
{
    gguf_writer_set_arr(w, key, GGUF_TYPE_INT32, v, n);
}

void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n)
{
    bytes b = {0};
    if (!w)
        return;
    if (n && !v) {
        wfail(w, "'%s': NULL array data", key ? key : "");
        return;
    }
    put_le(&b, GGUF_TYPE_ARRAY, 4);
    put_le(&b, GGUF_TYPE_STRING, 4);
    put_le(&b, n, 8);
    for (uint64_t i = 0; i < n && !b.oom; i++) {
        if (!v[i]) {
            free(b.p);
            wfail(w, "'%s': string %" PRIu64 " of the array is NULL", key ? key : "", i);
            return;
        }
        put_str(&b, v[i], strlen(v[i]));
    }
    set_value(w, key, &b);
}

void gguf_writer_add_tensor(gguf_writer *w, const char *name, ggml_type type,
                            uint32_t n_dims, const uint64_t *ne, const void *data)
{
    uint64_t full_ne[GGUF_MAX_DIMS] = {1, 1, 1, 1};
    if (!w)
        return;
    if (!name || !*name) {
        wfail(w, "tensor name is empty");
        return;
    }
    if (n_dims == 0 || n_dims > GGUF_MAX_DIMS || !ne) {
        wfail(w, "tensor '%s': %" PRIu32 " dimensions (1..%d allowed)", name, n_dims,
              GGUF_MAX_DIMS);
        return;
    }
    memcpy(full_ne, ne, n_dims * sizeof *ne);
    uint64_t size = ggml_tensor_bytes(type, full_ne);
    if (size == 0 || size > SIZE_MAX) {
        wfail(w, "tensor '%s': type %s with shape [%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64
              "] is invalid (supported type? dims > 0? Q8_0 ne[0] %% 32 == 0?)", name,
              ggml_type_name(type), full_ne[0], full_ne[1], full_ne[2], full_ne[3]);
        return;
    }
    if (!data) {
        wfail(w, "tensor '%s': NULL data", name);
        return;
    }
    char *n = strdup(name);
    uint8_t *copy = malloc((size_t)size);
    if (!n || !copy || reserve_one((void **)&w->t, &w->cap_t, w->n_t, sizeof *w->t)) {
        free(n);
        free(copy);
        wfail(w, "out of memory adding tensor '%s' (%" PRIu64 " bytes)", name, size);
        return;
    }
    memcpy(copy, data, (size_t)size);
    wtensor *t = &w->t[w->n_t++];
    t->name = n;
    t->type = type;
    t->n_dims = n_dims;
    memcpy(t->ne, full_ne, sizeof full_ne);
    t->size = size;
    t->data = copy;
}

/* ------------------------------------------------------------------ serialization */

static uint64_t pad_to(uint64_t n, uint64_t align) { return (align - n % align) % align; }

/* The alignment the file will use: 32, or general.alignment if set (UINT32, power of 2,
 * as llama.cpp reads it). */
static int file_alignment(gguf_writer *w, uint64_t *align, char *err, size_t errlen)
{
    wkv *kv = find_kv(w, "general.alignment");
    *align = GGUF_DEFAULT_ALIGNMENT;
    if (!kv)
        return 0;
    const uint8_t *v = kv->val.p;      /* u32 type code, then the value */
    uint32_t a = gguf_le32(v) == GGUF_TYPE_UINT32 ? gguf_le32(v + 4) : 0;
    if (a == 0 || (a & (a - 1)))
        return gguf_errf(err, errlen, "general.alignment must be a UINT32 power of two");
    *align = a;
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Checked at write time by sorting, so adding n tensors stays O(n log n). */
static int check_tensor_names(gguf_writer *w, char *err, size_t errlen)
{
    int rc = 0;
    char **names = malloc((w->n_t ? w->n_t : 1) * sizeof *names);
    if (!names)
        return gguf_errf(err, errlen, "out of memory");
    for (size_t i = 0; i < w->n_t; i++)
        names[i] = w->t[i].name;
    qsort(names, w->n_t, sizeof *names, name_cmp);
    for (size_t i = 1; i < w->n_t && !rc; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            rc = gguf_errf(err, errlen, "duplicate tensor name '%s'", names[i]);
    free(names);
    return rc;
}

/* Header, metadata, tensor infos and the padding up to the data section. */
static int serialize_head(gguf_writer *w, bytes *b, uint64_t *align, uint64_t *total,
                          char *err, size_t errlen)
{
    if (!w)
        return gguf_errf(err, errlen, "no writer (gguf_writer_new failed?)");
    if (w->failed)
        return gguf_errf(err, errlen, "%s", w->err);
    if (file_alignment(w, align, err, errlen) || check_tensor_names(w, err, errlen))
        return -1;
    put(b, "GGUF", 4);
    put_le(b, 3, 4);
    put_le(b, w->n_t, 8);
    put_le(b, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(b, w->kv[i].key, strlen(w->kv[i].key));
        put(b, w->kv[i].val.p, w->kv[i].val.len);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(b, t->name, strlen(t->name));
        put_le(b, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++)
            put_le(b, t->ne[d], 8);
        put_le(b, (uint32_t)t->type, 4);
        put_le(b, offset, 8);
        offset += t->size + pad_to(t->size, *align);
    }
    uint8_t zero = 0;
    for (uint64_t n = pad_to(b->len, *align); n; n--)
        put(b, &zero, 1);
    if (b->oom)
        return gguf_errf(err, errlen, "out of memory serializing metadata");
    *total = b->len + offset;
    return 0;
}

/* A destination: returns 0, or an errno value. */
typedef int (*sink_fn)(void *ctx, const void *p, size_t n);

/* Everything after serialize_head: the head, then each tensor's data and padding. */
static int emit(gguf_writer *w, const bytes *head, uint64_t align, sink_fn sink, void *ctx)
{
    static const uint8_t zeros[256];
    int e = sink(ctx, head->p, head->len);
    for (size_t i = 0; i < w->n_t && !e; i++) {
        e = sink(ctx, w->t[i].data, (size_t)w->t[i].size);
        for (uint64_t n = pad_to(w->t[i].size, align); n && !e;) {
            size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
            e = sink(ctx, zeros, k);
            n -= k;
        }
    }
    return e;
}

typedef struct mem_sink { uint8_t *p; size_t len, cap; } mem_sink;

static int mem_write(void *ctx, const void *p, size_t n)
{
    mem_sink *m = ctx;
    if (n > m->cap - m->len)
        return EOVERFLOW;       /* cannot happen: sized from serialize_head's total */
    memcpy(m->p + m->len, p, n);
    m->len += n;
    return 0;
}

int gguf_writer_write_mem(gguf_writer *w, uint8_t **out, size_t *size, char *err, size_t errlen)
{
    bytes head = {0};
    uint64_t align, total;
    *out = NULL;
    *size = 0;
    if (serialize_head(w, &head, &align, &total, err, errlen)) {
        free(head.p);
        return -1;
    }
    mem_sink m = {total <= SIZE_MAX ? malloc((size_t)total) : NULL, 0, (size_t)total};
    int e = m.p ? emit(w, &head, align, mem_write, &m) : ENOMEM;
    free(head.p);
    if (e) {
        free(m.p);
        char ebuf[128];
        return gguf_errf(err, errlen, "writing to memory (%" PRIu64 " bytes): %s", total,
                         strerror_r(e, ebuf, sizeof ebuf));
    }
    *out = m.p;
    *size = m.len;
    return 0;
}

static int fd_write(void *ctx, const void *p, size_t n)
{
    int fd = *(int *)ctx;
    const uint8_t *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return errno;
        if (k == 0)
            return EIO;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Makes the rename itself durable.  Best effort: some filesystems refuse fsync on a
 * directory, and the data is already safe in the file. */
static void fsync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int gguf_writer_write_file(gguf_writer *w, const char *path, char *err, size_t errlen)
{
    bytes head = {0};
    uint64_t align, total;
    char ebuf[128];
    if (serialize_head(w, &head, &align, &total, err, errlen)) {
        free(head.p);
        return -1;
    }
    size_t n = strlen(path);
    char *tmp = malloc(n + 5);
    if (!tmp) {
        free(head.p);
        return gguf_errf(err, errlen, "out of memory");
    }
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);

    int rc = -1, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        gguf_errf(err, errlen, "cannot create '%s': %s", tmp, strerror_r(errno, ebuf, sizeof ebuf));
        goto out;
    }
    int e = emit(w, &head, align, fd_write, &fd);
    const char *step = "writing";
    if (!e && fsync(fd) != 0) {
        e = errno;
        step = "syncing";
    }
    if (close(fd) != 0 && !e) {     /* some filesystems report write errors only here */
        e = errno;
        step = "closing";
    }
    if (!e && rename(tmp, path) != 0) {
        e = errno;
        step = "renaming into place";
    }
    if (e) {
        unlink(tmp);
        gguf_errf(err, errlen, "%s '%s' (%" PRIu64 " bytes) failed: %s; '%s' left unchanged", step,
                  tmp, total, strerror_r(e, ebuf, sizeof ebuf), path);
        goto out;
    }
    fsync_parent_dir(path);
    rc = 0;
out:
    free(tmp);
    free(head.p);
    return rc;
}
