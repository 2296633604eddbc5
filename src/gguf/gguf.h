/*
 * gguf.h -- GGUF version 3 reader and writer (the llama.cpp model file format).
 *
 * The reader validates everything before it is used: every count, string length, array
 * length, tensor dimension, type, offset and size is checked against the file size, so a
 * truncated or hostile file gives an error message, never an out-of-bounds read.
 * Tensor data is not copied: gguf_tensor.data points into the mapped file.
 *
 * What the reader accepts (checked by tests/test_gguf.c):
 *   - version 3 only, little-endian; metadata types 0..12; arrays of arrays are rejected;
 *     BOOL bytes must be 0 or 1; keys and tensor names non-empty; duplicates rejected.
 *   - general.alignment: any integer type, nonzero power of two (default 32).
 *   - tensors: 1..4 dims, every ne > 0, element count <= INT64_MAX; types F32, F16,
 *     BF16, Q8_0 (ne[0] % 32 == 0); offset a multiple of the alignment; data inside the
 *     file and not overlapping another tensor's; the data pointer aligned for the element
 *     (4 bytes for F32, 2 for the others), so kernels may load it directly.  Tensors may
 *     come in any order, with gaps.  The padding between the tensor infos and the data
 *     section must be present; like llama.cpp, the padding after the last tensor's data
 *     may be missing.
 * Parsing reads only the header, metadata and tensor infos, never tensor pages, and
 * costs O(metadata bytes + n log n) time; it allocates nothing before the counts have
 * been checked against the bytes that could hold them.
 * Lookups by key or tensor name are binary searches over indexes built at parse time.
 */
#ifndef LMZ_GGUF_H
#define LMZ_GGUF_H

#include <stddef.h>
#include <stdint.h>

typedef enum gguf_type {
    GGUF_TYPE_UINT8 = 0, GGUF_TYPE_INT8 = 1, GGUF_TYPE_UINT16 = 2, GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4, GGUF_TYPE_INT32 = 5, GGUF_TYPE_FLOAT32 = 6, GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8, GGUF_TYPE_ARRAY = 9, GGUF_TYPE_UINT64 = 10, GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12
} gguf_type;

/* ggml tensor types lmz reads.  Others are rejected with a message naming the type. */
typedef enum ggml_type {
    GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q8_0 = 8, GGML_TYPE_BF16 = 30
} ggml_type;

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32
#define QK8_0 32          /* Q8_0 block: fp16 scale then 32 int8, 34 bytes */

typedef struct gguf_str { const char *ptr; uint64_t len; } gguf_str; /* not NUL-terminated */

typedef struct gguf_kv {
    gguf_str key;
    gguf_type type;
    gguf_type arr_type;      /* for GGUF_TYPE_ARRAY */
    uint64_t arr_len;        /* for GGUF_TYPE_ARRAY */
    const uint8_t *data;     /* scalar value, or array payload (strings: len-prefixed) */
    /* STRING arrays: element i's length prefix is at data + str_offsets[i] (parse-time
     * index, owned by the gguf_file).  NULL for other types. */
    const uint64_t *str_offsets;
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];  /* ne[0] is the fastest-varying axis; unused dims are 1 */
    ggml_type type;
    uint64_t offset;             /* relative to the data section */
    uint64_t size;               /* bytes */
    const void *data;            /* into the file */
} gguf_tensor;

typedef struct gguf_file {
    const uint8_t *base;     /* whole file */
    size_t size;
    int owns_map;            /* munmap on close */
    uint32_t version;
    uint64_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset;
    /* private to gguf_read.c: lookup indexes sorted by key / name, and the string-array
     * offsets that gguf_kv.str_offsets point into */
    gguf_kv **kv_by_key;
    gguf_tensor **tensors_by_name;
    uint64_t *str_offsets_all;
} gguf_file;

/* Open with mmap / parse a buffer.  Return 0, or -1 with a message in err[0..errlen)
 * (GGUF_NOMEM, also with a message, when it was for lack of memory).
 * gguf_parse keeps pointers into `data`, which must outlive f; tensor data alignment is
 * then checked against the buffer's real addresses.  On failure *f is left zeroed, so
 * gguf_close(f) is always safe (and idempotent). */
#define GGUF_NOMEM (-2)
int gguf_open(gguf_file *f, const char *path, char *err, size_t errlen);
int gguf_parse(gguf_file *f, const void *data, size_t size, char *err, size_t errlen);
void gguf_close(gguf_file *f);

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters.  Integer getters accept any integer type whose value fits (llama.cpp
 * writes UINT32, the GGUF spec suggests UINT64).  Return 0 on success, -1 if the key is
 * missing or has an incompatible type or value. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out);
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
/* FLOAT32, or FLOAT64 whose value is within float range (rounded to nearest even;
 * inf and NaN pass through); a finite FLOAT64 beyond FLT_MAX is rejected. */
int gguf_get_f32(const gguf_file *f, const char *key, float *out);
int gguf_get_bool(const gguf_file *f, const char *key, int *out);   /* BOOL only */
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);
/* Array accessors: element count and element i (bounds-checked at parse time).
 * gguf_get_arr requires the element type to match exactly.  The element getters expect
 * kv of that array type and i < kv->arr_len; otherwise they return {NULL, 0} / 0. */
int gguf_get_arr(const gguf_file *f, const char *key, gguf_type elem_type, const gguf_kv **out);
gguf_str gguf_arr_str(const gguf_kv *kv, uint64_t i);   /* O(1) after parse */
float gguf_arr_f32(const gguf_kv *kv, uint64_t i);
int32_t gguf_arr_i32(const gguf_kv *kv, uint64_t i);

const char *gguf_type_name(gguf_type type);     /* "u32", "string", ...; "?" if invalid */
size_t gguf_type_size(gguf_type type);          /* bytes of a scalar; 0 for string/array */

/* Bytes of a tensor of this type and shape, or 0 if invalid (e.g. ne[0] % 32 for Q8_0). */
uint64_t ggml_tensor_bytes(ggml_type type, const uint64_t ne[GGUF_MAX_DIMS]);
const char *ggml_type_name(ggml_type type);    /* any ggml type number; "unknown" else */

/* ---------------------------------------------------------------- writer */

/* Setters write exactly the GGUF type their name says (llama.cpp checks metadata types
 * exactly).  Setting a key again replaces its value.  Setters cannot fail visibly: a bad
 * argument (empty key, NULL string, invalid tensor shape, duplicate tensor name) or an
 * out-of-memory is remembered and reported by the next write, which then writes nothing.
 * Alignment is 32 unless general.alignment is set (it must then be a UINT32 power of 2).
 */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
void gguf_writer_set_bool(gguf_writer *w, const char *key, int v);
void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n);
void gguf_writer_set_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n);
void gguf_writer_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
void gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v);
void gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v);
void gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v);
void gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v);
void gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v);
void gguf_writer_set_f64(gguf_writer *w, const char *key, double v);
/* Array of any scalar element type; v holds n values of the matching C type (uint8_t,
 * int8_t, ..., float, double; BOOL as uint8_t 0/1).  Strings: gguf_writer_set_arr_str. */
void gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type elem_type,
                         const void *v, uint64_t n);
/* Data is copied.  ne as in gguf_tensor (ne[0] fastest). */
void gguf_writer_add_tensor(gguf_writer *w, const char *name, ggml_type type,
                            uint32_t n_dims, const uint64_t *ne, const void *data);
/* Write atomically: to path.tmp, fsync, rename.  Return 0, or -1 with a message. */
int gguf_writer_write_file(gguf_writer *w, const char *path, char *err, size_t errlen);
/* The same bytes into a malloc'd buffer (*out, *size; free() it).  Return 0 or -1. */
int gguf_writer_write_mem(gguf_writer *w, uint8_t **out, size_t *size, char *err, size_t errlen);

#endif
