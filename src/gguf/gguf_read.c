/*
 * gguf_read.c -- GGUF v3 reader: validation, lookup indexes, typed getters.
 *
 * The file is read in two passes over the same bytes.  Pass 1 only walks and validates
 * the header, metadata and tensor infos, counting what needs storing; pass 2 repeats the
 * walk with arrays allocated to the exact counts.  So a hostile count or length is always
 * rejected before anything is allocated from it, and the allocations are proportional to
 * metadata that really is in the file.  Checks that need the whole picture (duplicates,
 * alignment, offsets, overlaps) come after pass 2, using sorted indexes (O(n log n), so a
 * file with many entries cannot make them quadratic).
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"

#define GGUF_VERSION 3
#define HEADER_BYTES 24               /* magic, u32 version, u64 n_tensors, u64 n_kv */
/* The smallest encodings of one metadata entry (key length, type, 1-byte value) and one
 * tensor info (name length, n_dims, one dim, type, offset), to bound the counts. */
#define MIN_KV_BYTES (8 + 4 + 1)
#define MIN_TENSOR_INFO_BYTES (8 + 4 + 8 + 4 + 8)

/* ------------------------------------------------------------------ errors */

int gguf_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        int n = snprintf(err, errlen, "GGUF: ");
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < errlen)
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A file's string made safe to print: at most 64 bytes, non-printables as '?'.  Returned
 * by value so it can be used inline as show(s).s within one printf call. */
typedef struct shown { char s[72]; } shown;

static shown show(gguf_str str)
{
    shown out;
    size_t n = str.len < 64 ? (size_t)str.len : 64, i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)str.ptr[i];
        out.s[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (str.len > 64) {
        memcpy(out.s + i, "...", 3);
        i += 3;
    }
    out.s[i] = '\0';
    return out;
}

/* ------------------------------------------------------------------ the cursor */

typedef struct reader {
    const uint8_t *base;
    uint64_t size, pos;
    char *err;
    size_t errlen;
    /* What is being read, for messages: "metadata entry #3 ('general.name')".  Formatted
     * only when an error is reported, since parsing walks every entry twice. */
    const char *kind;
    uint64_t index;
    gguf_str name;            /* ptr NULL until the key / tensor name has been read */
} reader;

static void reading(reader *r, const char *kind, uint64_t index)
{
    r->kind = kind;
    r->index = index;
    r->name.ptr = NULL;
}

static int rfail(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rfail(reader *r, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* The file header (version, counts) is read before any entry: no kind to name, and
     * printing the NULL kind with %s is undefined (glibc wrote "(null) #0: ..."). */
    if (!r->kind)
        return gguf_errf(r->err, r->errlen, "%s", msg);
    if (r->name.ptr)
        return gguf_errf(r->err, r->errlen, "%s #%" PRIu64 " ('%s'): %s", r->kind, r->index,
                         show(r->name).s, msg);
    return gguf_errf(r->err, r->errlen, "%s #%" PRIu64 ": %s", r->kind, r->index, msg);
}

static uint64_t remaining(const reader *r) { return r->size - r->pos; }

static int need(reader *r, uint64_t n, const char *what)
{
    if (n <= remaining(r))
        return 0;
    return rfail(r, "%s at offset %" PRIu64 " needs %" PRIu64 " bytes, only %" PRIu64
                 " remain (file is %" PRIu64 " bytes)", what, r->pos, n, remaining(r), r->size);
}

static int rd_u32(reader *r, const char *what, uint32_t *out)
{
    if (need(r, 4, what))
        return -1;
    *out = gguf_le32(r->base + r->pos);
    r->pos += 4;
    return 0;
}

static int rd_u64(reader *r, const char *what, uint64_t *out)
{
    if (need(r, 8, what))
        return -1;
    *out = gguf_le64(r->base + r->pos);
    r->pos += 8;
    return 0;
}

static int rd_str(reader *r, const char *what, gguf_str *out)
{
    uint64_t at = r->pos, len;
    if (rd_u64(r, what, &len))
        return -1;
    if (len > remaining(r))
        return rfail(r, "%s: length %" PRIu64 " at offset %" PRIu64 " runs past end of file (%"
                     PRIu64 " bytes)", what, len, at, r->size);
    out->ptr = (const char *)r->base + r->pos;
    out->len = len;
    r->pos += len;
    return 0;
}

/* ------------------------------------------------------------------ metadata */

size_t gguf_type_size(gguf_type type)
{
    switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

const char *gguf_type_name(gguf_type type)
{
    static const char *const names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    return (unsigned)type < sizeof names / sizeof names[0] ? names[type] : "?";
}

static int check_bools(reader *r, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (r->base[r->pos + i] > 1)
            return rfail(r, "bool value %u at offset %" PRIu64 " is not 0 or 1",
                         r->base[r->pos + i], r->pos + i);
    return 0;
}

/* One metadata entry.  kv == NULL in pass 1.  String-array element offsets go to
 * str_index[*n_str ...] when str_index is given; *n_str counts them in both passes. */
static int parse_kv(reader *r, uint64_t i, gguf_kv *kv, uint64_t *str_index, uint64_t *n_str)
{
    gguf_str key;
    uint32_t type, elem = 0;
    uint64_t count = 0;

    reading(r, "metadata entry", i);
    if (rd_str(r, "key", &key))
        return -1;
    r->name = key;
    if (key.len == 0)
        return rfail(r, "empty key");
    if (rd_u32(r, "value type", &type))
        return -1;
    if (type > GGUF_TYPE_FLOAT64)
        return rfail(r, "invalid value type %" PRIu32 " (valid: 0..12)", type);
    if (type == GGUF_TYPE_ARRAY) {
        if (rd_u32(r, "array element type", &elem) || rd_u64(r, "array length", &count))
            return -1;
        if (elem == GGUF_TYPE_ARRAY)
            return rfail(r, "arrays of arrays are not supported");
        if (elem > GGUF_TYPE_FLOAT64)
            return rfail(r, "invalid array element type %" PRIu32 " (valid: 0..12)", elem);
    }
    const uint8_t *data = r->base + r->pos;
    uint64_t *offsets = str_index ? str_index + *n_str : NULL;

    if (type == GGUF_TYPE_STRING) {
        gguf_str s;
        if (rd_str(r, "string value", &s))
            return -1;
    } else if (type == GGUF_TYPE_ARRAY && elem == GGUF_TYPE_STRING) {
        if (count > remaining(r) / 8)
            return rfail(r, "array of %" PRIu64 " strings at offset %" PRIu64 " cannot fit in "
                         "the %" PRIu64 " bytes left", count, r->pos, remaining(r));
        for (uint64_t j = 0; j < count; j++) {
            gguf_str s;
            if (offsets)
                offsets[j] = (uint64_t)(r->base + r->pos - data);
            if (rd_str(r, "string array element", &s))
                return -1;
        }
        *n_str += count;
    } else {
        uint64_t elem_size = gguf_type_size((gguf_type)(type == GGUF_TYPE_ARRAY ? elem : type));
        uint64_t n = type == GGUF_TYPE_ARRAY ? count : 1;
        if (n > remaining(r) / elem_size)
            return rfail(r, "%" PRIu64 " value(s) of type %s (%" PRIu64 " bytes each) at offset %"
                         PRIu64 " run past end of file (%" PRIu64 " bytes)", n,
                         gguf_type_name((gguf_type)(type == GGUF_TYPE_ARRAY ? elem : type)),
                         elem_size, r->pos, r->size);
        if ((type == GGUF_TYPE_ARRAY ? elem : type) == GGUF_TYPE_BOOL && check_bools(r, n))
            return -1;
        r->pos += n * elem_size;
    }
    if (kv) {
        kv->key = key;
        kv->type = (gguf_type)type;
        kv->arr_type = (gguf_type)elem;
        kv->arr_len = count;
        kv->data = data;
        kv->str_offsets = offsets && elem == GGUF_TYPE_STRING ? offsets : NULL;
    }
    return 0;
}

/* ------------------------------------------------------------------ tensors */

const char *ggml_type_name(ggml_type type)
{
    /* ggml's numbering; the gaps are types ggml has removed. */
    static const char *const names[] = {
        "F32", "F16", "Q4_0", "Q4_1", NULL, NULL, "Q5_0", "Q5_1", "Q8_0", "Q8_1",
        "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS",
        "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64",
        "IQ1_M", "BF16", NULL, NULL, NULL, "TQ1_0", "TQ2_0", NULL, NULL, NULL, "MXFP4"};
    unsigned t = (unsigned)type;
    return t < sizeof names / sizeof names[0] && names[t] ? names[t] : "unknown";
}

static int type_supported(uint32_t type)
{
    return type == GGML_TYPE_F32 || type == GGML_TYPE_F16 || type == GGML_TYPE_BF16 ||
           type == GGML_TYPE_Q8_0;
}

uint64_t ggml_tensor_bytes(ggml_type type, const uint64_t ne[GGUF_MAX_DIMS])
{
    uint64_t n = 1, bytes;
    for (int i = 0; i < GGUF_MAX_DIMS; i++)
        if (ne[i] == 0 || __builtin_mul_overflow(n, ne[i], &n))
            return 0;
    if (n > (uint64_t)INT64_MAX)     /* ggml counts elements in int64_t */
        return 0;
    switch (type) {
    case GGML_TYPE_F32:
        return __builtin_mul_overflow(n, 4, &bytes) ? 0 : bytes;
    case GGML_TYPE_F16:
    case GGML_TYPE_BF16:
        return __builtin_mul_overflow(n, 2, &bytes) ? 0 : bytes;
    case GGML_TYPE_Q8_0:
        return ne[0] % QK8_0 ? 0 : n / QK8_0 * (2 + QK8_0);
    default:
        return 0;
    }
}

/* One tensor info.  t == NULL in pass 1.  Everything that needs only this entry is
 * checked here; offsets are checked once the data section's start is known. */
static int parse_tensor_info(reader *r, uint64_t i, gguf_tensor *t)
{
    gguf_str name;
    uint32_t n_dims, type;
    uint64_t ne[GGUF_MAX_DIMS] = {1, 1, 1, 1}, offset;

    reading(r, "tensor", i);
    if (rd_str(r, "name", &name))
        return -1;
    r->name = name;
    if (name.len == 0)
        return rfail(r, "empty name");
    if (rd_u32(r, "n_dims", &n_dims))
        return -1;
    if (n_dims == 0 || n_dims > GGUF_MAX_DIMS)
        return rfail(r, "has %" PRIu32 " dimensions (1..%d allowed)", n_dims, GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < n_dims; d++) {
        if (rd_u64(r, "dimension", &ne[d]))
            return -1;
        if (ne[d] == 0)
            return rfail(r, "dimension %" PRIu32 " is 0", d);
    }
    if (rd_u32(r, "type", &type) || rd_u64(r, "offset", &offset))
        return -1;
    if (!type_supported(type))
        return rfail(r, "has ggml type %" PRIu32 " (%s); lmz reads only F32, F16, BF16 and Q8_0",
                     type, ggml_type_name((ggml_type)type));
    uint64_t size = ggml_tensor_bytes((ggml_type)type, ne);
    if (size == 0) {
        if (type == GGML_TYPE_Q8_0 && ne[0] % QK8_0)
            return rfail(r, "Q8_0 needs ne[0] to be a multiple of %d, got %" PRIu64, QK8_0, ne[0]);
        return rfail(r, "shape [%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64 "] is too large "
                     "(element count or byte size overflows)", ne[0], ne[1], ne[2], ne[3]);
    }
    if (t) {
        t->name = name;
        t->n_dims = n_dims;
        memcpy(t->ne, ne, sizeof ne);
        t->type = (ggml_type)type;
        t->offset = offset;
        t->size = size;
    }
    return 0;
}

/* ------------------------------------------------------------------ indexes */

static int str_cmp(gguf_str a, gguf_str b)
{
    int c = memcmp(a.ptr, b.ptr, a.len < b.len ? (size_t)a.len : (size_t)b.len);
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

static int kv_cmp(const void *a, const void *b)
{
    return str_cmp((*(gguf_kv *const *)a)->key, (*(gguf_kv *const *)b)->key);
}

static int tensor_name_cmp(const void *a, const void *b)
{
    return str_cmp((*(gguf_tensor *const *)a)->name, (*(gguf_tensor *const *)b)->name);
}

static int tensor_offset_cmp(const void *a, const void *b)
{
    uint64_t x = (*(gguf_tensor *const *)a)->offset, y = (*(gguf_tensor *const *)b)->offset;
    return (x > y) - (x < y);
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key)
{
    if (!f || !f->kv_by_key || !key)
        return NULL;
    gguf_str k = {key, strlen(key)};
    uint64_t lo = 0, hi = f->n_kv;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = str_cmp(f->kv_by_key[mid]->key, k);
        if (c == 0)
            return f->kv_by_key[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    if (!f || !f->tensors_by_name || !name)
        return NULL;
    gguf_str k = {name, strlen(name)};
    uint64_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = str_cmp(f->tensors_by_name[mid]->name, k);
        if (c == 0)
            return f->tensors_by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ------------------------------------------------------------------ typed getters */

/* The integer value of kv as sign + magnitude, so every type converts without loss. */
static int kv_integer(const gguf_kv *kv, int *negative, uint64_t *magnitude)
{
    int64_t s;
    switch (kv->type) {
    case GGUF_TYPE_UINT8: *negative = 0; *magnitude = kv->data[0]; return 0;
    case GGUF_TYPE_UINT16: *negative = 0; *magnitude = gguf_le16(kv->data); return 0;
    case GGUF_TYPE_UINT32: *negative = 0; *magnitude = gguf_le32(kv->data); return 0;
    case GGUF_TYPE_UINT64: *negative = 0; *magnitude = gguf_le64(kv->data); return 0;
    case GGUF_TYPE_INT8: s = (int8_t)kv->data[0]; break;
    case GGUF_TYPE_INT16: s = (int16_t)gguf_le16(kv->data); break;
    case GGUF_TYPE_INT32: s = (int32_t)gguf_le32(kv->data); break;
    case GGUF_TYPE_INT64: s = (int64_t)gguf_le64(kv->data); break;
    default: return -1;
    }
    *negative = s < 0;
    *magnitude = s < 0 ? 0 - (uint64_t)s : (uint64_t)s;
    return 0;
}

int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    int negative;
    uint64_t m;
    if (!kv || kv_integer(kv, &negative, &m) || negative)
        return -1;
    *out = m;
    return 0;
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out)
{
    uint64_t v;
    if (gguf_get_u64(f, key, &v) || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    int negative;
    uint64_t m;
    if (!kv || kv_integer(kv, &negative, &m))
        return -1;
    if (negative ? m > (uint64_t)INT64_MAX + 1 : m > (uint64_t)INT64_MAX)
        return -1;
    *out = negative ? (m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m) : (int64_t)m;
    return 0;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return -1;
    if (kv->type == GGUF_TYPE_FLOAT32) {
        uint32_t u = gguf_le32(kv->data);
        memcpy(out, &u, sizeof u);
        return 0;
    }
    if (kv->type == GGUF_TYPE_FLOAT64) {
        uint64_t u = gguf_le64(kv->data);
        double d;
        memcpy(&d, &u, sizeof d);
        if (isfinite(d) && (d > FLT_MAX || d < -FLT_MAX))
            return -1;
        *out = (float)d;
        return 0;
    }
    return -1;
}

int gguf_get_bool(const gguf_file *f, const char *key, int *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_TYPE_BOOL)
        return -1;
    *out = kv->data[0];
    return 0;
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_TYPE_STRING)
        return -1;
    out->len = gguf_le64(kv->data);
    out->ptr = (const char *)kv->data + 8;
    return 0;
}

int gguf_get_arr(const gguf_file *f, const char *key, gguf_type elem_type, const gguf_kv **out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_TYPE_ARRAY || kv->arr_type != elem_type)
        return -1;
    *out = kv;
    return 0;
}

static int is_array_of(const gguf_kv *kv, gguf_type elem_type, uint64_t i)
{
    return kv && kv->type == GGUF_TYPE_ARRAY && kv->arr_type == elem_type && i < kv->arr_len;
}

gguf_str gguf_arr_str(const gguf_kv *kv, uint64_t i)
{
    gguf_str s = {NULL, 0};
    if (is_array_of(kv, GGUF_TYPE_STRING, i) && kv->str_offsets) {
        const uint8_t *p = kv->data + kv->str_offsets[i];
        s.len = gguf_le64(p);
        s.ptr = (const char *)p + 8;
    }
    return s;
}

float gguf_arr_f32(const gguf_kv *kv, uint64_t i)
{
    float v = 0.0f;
    if (is_array_of(kv, GGUF_TYPE_FLOAT32, i)) {
        uint32_t u = gguf_le32(kv->data + 4 * i);
        memcpy(&v, &u, sizeof v);
    }
    return v;
}

int32_t gguf_arr_i32(const gguf_kv *kv, uint64_t i)
{
    return is_array_of(kv, GGUF_TYPE_INT32, i) ? (int32_t)gguf_le32(kv->data + 4 * i) : 0;
}

/* ------------------------------------------------------------------ whole-file checks */

static int check_alignment(gguf_file *f, char *err, size_t errlen)
{
    const gguf_kv *kv = gguf_find_kv(f, "general.alignment");
    int negative;
    uint64_t a;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!kv)
        return 0;
    if (kv_integer(kv, &negative, &a))
        return gguf_errf(err, errlen, "general.alignment has type %s, not an integer",
                         gguf_type_name(kv->type));
    if (negative || a == 0 || (a & (a - 1)))
        return gguf_errf(err, errlen, "general.alignment = %s%" PRIu64 " is not a power of two",
                         negative ? "-" : "", a);
    f->alignment = a;
    return 0;
}

static int check_duplicates(gguf_file *f, char *err, size_t errlen)
{
    qsort(f->kv_by_key, f->n_kv, sizeof *f->kv_by_key, kv_cmp);
    for (uint64_t i = 1; i < f->n_kv; i++)
        if (kv_cmp(&f->kv_by_key[i - 1], &f->kv_by_key[i]) == 0)
            return gguf_errf(err, errlen, "duplicate key '%s' (metadata entries #%td and #%td)",
                             show(f->kv_by_key[i]->key).s, f->kv_by_key[i - 1] - f->kv,
                             f->kv_by_key[i] - f->kv);
    qsort(f->tensors_by_name, f->n_tensors, sizeof *f->tensors_by_name, tensor_name_cmp);
    for (uint64_t i = 1; i < f->n_tensors; i++)
        if (tensor_name_cmp(&f->tensors_by_name[i - 1], &f->tensors_by_name[i]) == 0)
            return gguf_errf(err, errlen, "duplicate tensor name '%s' (tensors #%td and #%td)",
                             show(f->tensors_by_name[i]->name).s,
                             f->tensors_by_name[i - 1] - f->tensors,
                             f->tensors_by_name[i] - f->tensors);
    return 0;
}

/* Offsets, bounds and overlaps.  Sorts tensors_by_name by offset as scratch; the caller
 * sorts it by name afterwards. */
static int check_tensor_data(gguf_file *f, uint64_t info_end, char *err, size_t errlen)
{
    uint64_t a = f->alignment, size = f->size;
    if (info_end > UINT64_MAX - (a - 1))
        return gguf_errf(err, errlen, "alignment %" PRIu64 " overflows the data section offset", a);
    f->data_offset = (info_end + (a - 1)) & ~(a - 1);
    if (f->data_offset > size)
        return gguf_errf(err, errlen, "data section would start at offset %" PRIu64
                         " (tensor infos end at %" PRIu64 ", aligned to %" PRIu64
                         "), past end of file (%" PRIu64 " bytes)",
                         f->data_offset, info_end, a, size);
    uint64_t room = size - f->data_offset;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (t->offset % a)
            return gguf_errf(err, errlen, "tensor '%s' offset %" PRIu64 " is not a multiple "
                             "of the alignment %" PRIu64, show(t->name).s, t->offset, a);
        if (t->offset > room || t->size > room - t->offset)
            return gguf_errf(err, errlen, "tensor '%s' data [offset %" PRIu64 ", %" PRIu64
                             " bytes] runs past end of file (%" PRIu64 " bytes, data section "
                             "at %" PRIu64 ")", show(t->name).s, t->offset, t->size, size,
                             f->data_offset);
        t->data = f->base + f->data_offset + t->offset;
        /* With alignment >= 4 and a page-aligned map this always holds; it matters for
         * general.alignment 1 or 2 and for buffers given to gguf_parse. */
        uintptr_t elem_align = t->type == GGML_TYPE_F32 ? 4 : 2;
        if ((uintptr_t)t->data % elem_align)
            return gguf_errf(err, errlen, "tensor '%s' data at file offset %" PRIu64 " is not "
                             "%u-byte aligned in memory", show(t->name).s,
                             f->data_offset + t->offset, (unsigned)elem_align);
    }
    qsort(f->tensors_by_name, f->n_tensors, sizeof *f->tensors_by_name, tensor_offset_cmp);
    for (uint64_t i = 1; i < f->n_tensors; i++) {
        const gguf_tensor *p = f->tensors_by_name[i - 1], *t = f->tensors_by_name[i];
        if (t->offset < p->offset + p->size)
            return gguf_errf(err, errlen, "tensors '%s' [offset %" PRIu64 ", %" PRIu64
                             " bytes] and '%s' [offset %" PRIu64 ", %" PRIu64 " bytes] overlap",
                             show(p->name).s, p->offset, p->size, show(t->name).s, t->offset,
                             t->size);
    }
    return 0;
}

/* ------------------------------------------------------------------ parse, open, close */

static int parse_header(reader *r, uint64_t *n_tensors, uint64_t *n_kv)
{
    uint32_t version;
    if (r->size < 4 || memcmp(r->base, "GGUF", 4) != 0)
        return gguf_errf(r->err, r->errlen, "not a GGUF file (no \"GGUF\" magic at offset 0; "
                         "file is %" PRIu64 " bytes)", r->size);
    r->pos = 4;
    if (rd_u32(r, "version", &version))
        return -1;
    if (version == 0x03000000u)
        return gguf_errf(r->err, r->errlen, "big-endian GGUF files are not supported");
    if (version != GGUF_VERSION)
        return gguf_errf(r->err, r->errlen, "version %" PRIu32 " is not supported (lmz reads "
                         "GGUF version 3)", version);
    if (rd_u64(r, "tensor count", n_tensors) || rd_u64(r, "metadata count", n_kv))
        return -1;
    uint64_t left = remaining(r);
    if (*n_kv > left / MIN_KV_BYTES)
        return gguf_errf(r->err, r->errlen, "metadata count %" PRIu64 " cannot fit in the %" PRIu64
                         " bytes after the header", *n_kv, left);
    if (*n_tensors > left / MIN_TENSOR_INFO_BYTES ||
        *n_tensors * MIN_TENSOR_INFO_BYTES > left - *n_kv * MIN_KV_BYTES)
        return gguf_errf(r->err, r->errlen, "tensor count %" PRIu64 " cannot fit in the %" PRIu64
                         " bytes after the header", *n_tensors, left);
    return 0;
}

/* Walks metadata and tensor infos; f's arrays are filled when allocated (pass 2). */
static int parse_sections(reader *r, gguf_file *f, uint64_t *n_str)
{
    *n_str = 0;
    r->pos = HEADER_BYTES;
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (parse_kv(r, i, f->kv ? &f->kv[i] : NULL, f->str_offsets_all, n_str))
            return -1;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (parse_tensor_info(r, i, f->tensors ? &f->tensors[i] : NULL))
            return -1;
    return 0;
}

static void *alloc_array(uint64_t n, size_t elem)
{
    return n <= SIZE_MAX / elem ? calloc(n ? (size_t)n : 1, elem) : NULL;
}

int gguf_parse(gguf_file *f, const void *data, size_t size, char *err, size_t errlen)
{
    reader r = {.base = data, .size = size, .err = err, .errlen = errlen};
    uint64_t n_str;
    int rc = -1;

    memset(f, 0, sizeof *f);
    if (!data && size)
        return gguf_errf(err, errlen, "no data");
    if (parse_header(&r, &f->n_tensors, &f->n_kv))
        goto fail;
    f->base = data;
    f->size = size;
    f->version = GGUF_VERSION;
    if (parse_sections(&r, f, &n_str))                  /* pass 1: validate, count */
        goto fail;
    uint64_t info_end = r.pos;
    f->kv = alloc_array(f->n_kv, sizeof *f->kv);
    f->kv_by_key = alloc_array(f->n_kv, sizeof *f->kv_by_key);
    f->tensors = alloc_array(f->n_tensors, sizeof *f->tensors);
    f->tensors_by_name = alloc_array(f->n_tensors, sizeof *f->tensors_by_name);
    f->str_offsets_all = alloc_array(n_str, sizeof *f->str_offsets_all);
    if (!f->kv || !f->kv_by_key || !f->tensors || !f->tensors_by_name || !f->str_offsets_all) {
        gguf_errf(err, errlen, "out of memory for %" PRIu64 " metadata entries, %" PRIu64
                  " tensors, %" PRIu64 " strings", f->n_kv, f->n_tensors, n_str);
        rc = GGUF_NOMEM;
        goto fail;
    }
    if (parse_sections(&r, f, &n_str))                  /* pass 2: fill */
        goto fail;
    for (uint64_t i = 0; i < f->n_kv; i++)
        f->kv_by_key[i] = &f->kv[i];
    for (uint64_t i = 0; i < f->n_tensors; i++)
        f->tensors_by_name[i] = &f->tensors[i];
    if (check_duplicates(f, err, errlen) || check_alignment(f, err, errlen) ||
        check_tensor_data(f, info_end, err, errlen))
        goto fail;
    qsort(f->tensors_by_name, f->n_tensors, sizeof *f->tensors_by_name, tensor_name_cmp);
    return 0;
fail:
    gguf_close(f);              /* owns_map is 0: the caller unmaps what it mapped */
    return rc;
}

int gguf_open(gguf_file *f, const char *path, char *err, size_t errlen)
{
    char ebuf[128];
    struct stat st;

    memset(f, 0, sizeof *f);
    /* O_NONBLOCK: opening a FIFO (LMZ_MODEL naming one) must not wait for a writer
     * forever before it is found not to be a regular file; regular files ignore it. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return gguf_errf(err, errlen, "cannot open '%s': %s", path,
                         strerror_r(errno, ebuf, sizeof ebuf));
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return gguf_errf(err, errlen, "cannot stat '%s': %s", path,
                         strerror_r(e, ebuf, sizeof ebuf));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return gguf_errf(err, errlen, "'%s' is not a regular file", path);
    }
    if (st.st_size == 0) {          /* mmap cannot map 0 bytes */
        close(fd);
        return gguf_errf(err, errlen, "'%s' is empty (0 bytes), not a GGUF file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return gguf_errf(err, errlen, "'%s' is too large to map", path);
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return gguf_errf(err, errlen, "cannot map '%s': %s", path,
                         strerror_r(e, ebuf, sizeof ebuf));
    int rc = gguf_parse(f, map, size, err, errlen);
    if (rc != 0) {
        munmap(map, size);
        if (err && errlen) {    /* name the file after the parser's message */
            size_t n = strlen(err);
            snprintf(err + n, errlen - n, " (in '%s')", path);
        }
        return rc;
    }
    f->owns_map = 1;
    return 0;
}

void gguf_close(gguf_file *f)
{
    if (!f)
        return;
    if (f->owns_map && f->base)
        munmap((void *)f->base, f->size);
    free(f->kv);
    free(f->kv_by_key);
    free(f->tensors);
    free(f->tensors_by_name);
    free(f->str_offsets_all);
    memset(f, 0, sizeof *f);
}
