/*
 * gguf.h -- GGUF version 3 reader and writer (the llama.cpp model file format).
 *
 * The reader validates everything before it is used: every count, string length, array
 * length, tensor dimension, type, offset and size is checked against the file size, so a
 * truncated or hostile file gives an error message, never an out-of-bounds read.
 * Tensor data is not copied: gguf_tensor.data points into the mapped file.
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
} gguf_file;

/* Open with mmap / parse a buffer.  Return 0, or -1 with a message in err[0..errlen). */
int gguf_open(gguf_file *f, const char *path, char *err, size_t errlen);
int gguf_parse(gguf_file *f, const void *data, size_t size, char *err, size_t errlen);
void gguf_close(gguf_file *f);

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters.  Integer getters accept any integer type whose value fits (llama.cpp
 * writes UINT32, the GGUF spec suggests UINT64).  Return 0 on success, -1 if the key is
 * missing or has an incompatible type or value. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
int gguf_get_f32(const gguf_file *f, const char *key, float *out);
int gguf_get_bool(const gguf_file *f, const char *key, int *out);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);
/* Array accessors: element count and element i (bounds-checked at parse time). */
int gguf_get_arr(const gguf_file *f, const char *key, gguf_type elem_type, const gguf_kv **out);
gguf_str gguf_arr_str(const gguf_kv *kv, uint64_t i);   /* O(1) after parse */
float gguf_arr_f32(const gguf_kv *kv, uint64_t i);
int32_t gguf_arr_i32(const gguf_kv *kv, uint64_t i);

/* Bytes of a tensor of this type and shape, or 0 if invalid (e.g. ne[0] % 32 for Q8_0). */
uint64_t ggml_tensor_bytes(ggml_type type, const uint64_t ne[GGUF_MAX_DIMS]);
const char *ggml_type_name(ggml_type type);

/* fp16 / bf16 conversion, exact. */
float lmz_f16_to_f32(uint16_t h);
uint16_t lmz_f32_to_f16(float f);          /* round to nearest even */
float lmz_bf16_to_f32(uint16_t h);
uint16_t lmz_f32_to_bf16(float f);         /* round to nearest even */

/* ---------------------------------------------------------------- writer */

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
/* Data is copied.  ne as in gguf_tensor (ne[0] fastest). */
void gguf_writer_add_tensor(gguf_writer *w, const char *name, ggml_type type,
                            uint32_t n_dims, const uint64_t *ne, const void *data);
/* Write atomically: to path.tmp, fsync, rename.  Return 0, or -1 with a message. */
int gguf_writer_write_file(gguf_writer *w, const char *path, char *err, size_t errlen);

#endif
