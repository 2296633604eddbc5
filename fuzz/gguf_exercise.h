/*
 * gguf_exercise.h -- after a successful gguf_parse, use everything the parser vouched
 * for: every key and tensor through the lookups, every getter on every key, every array
 * element, the first and last byte of every string and tensor.  Under ASan an
 * out-of-bounds read anywhere here is a parser bug.  Shared by fuzz/fuzz_gguf.c and
 * tests/test_gguf.c.
 *
 * Returns NULL, or a description of the first broken invariant.  *checksum accumulates
 * the bytes read so the compiler cannot drop the reads.
 */
#ifndef LMZ_GGUF_EXERCISE_H
#define LMZ_GGUF_EXERCISE_H

#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

static int gguf_ex_inside(const gguf_file *f, const void *p, uint64_t len)
{
    const uint8_t *b = p;
    return b >= f->base && (uint64_t)(b - f->base) <= f->size &&
           len <= f->size - (uint64_t)(b - f->base);
}

/* key as a NUL-terminated copy, or NULL if it holds a NUL (cannot be looked up). */
static char *gguf_ex_cstr(gguf_str s)
{
    if (memchr(s.ptr, 0, (size_t)s.len))
        return NULL;
    char *c = malloc((size_t)s.len + 1);
    if (c) {
        memcpy(c, s.ptr, (size_t)s.len);
        c[s.len] = '\0';
    }
    return c;
}

static uint64_t gguf_ex_touch(const void *p, uint64_t len)
{
    const uint8_t *b = p;
    return len ? (uint64_t)b[0] + b[len - 1] : 0;
}

static const char *gguf_ex_kv(const gguf_file *f, const gguf_kv *kv, uint64_t *checksum)
{
    if (!gguf_ex_inside(f, kv->key.ptr, kv->key.len) || kv->key.len == 0)
        return "key outside the file";
    *checksum += gguf_ex_touch(kv->key.ptr, kv->key.len);
    char *key = gguf_ex_cstr(kv->key);
    if (key) {
        uint32_t u32;
        uint64_t u64;
        int64_t i64;
        float f32;
        int b;
        gguf_str s;
        const gguf_kv *arr;
        if (gguf_find_kv(f, key) != kv) {
            free(key);
            return "gguf_find_kv does not find a key of the file";
        }
        *checksum += (uint64_t)!gguf_get_u32(f, key, &u32) + !gguf_get_u64(f, key, &u64) +
                     !gguf_get_i64(f, key, &i64) + !gguf_get_f32(f, key, &f32) +
                     !gguf_get_bool(f, key, &b);
        if (gguf_get_str(f, key, &s) == 0) {
            if (!gguf_ex_inside(f, s.ptr, s.len)) {
                free(key);
                return "string value outside the file";
            }
            *checksum += gguf_ex_touch(s.ptr, s.len);
        }
        if (gguf_get_arr(f, key, kv->arr_type, &arr) == 0 && arr != kv) {
            free(key);
            return "gguf_get_arr returns another entry";
        }
        free(key);
    }
    if (kv->type != GGUF_TYPE_ARRAY)
        return NULL;
    if (kv->arr_type == GGUF_TYPE_STRING) {
        for (uint64_t i = 0; i < kv->arr_len; i++) {
            gguf_str s = gguf_arr_str(kv, i);
            if (!s.ptr || !gguf_ex_inside(f, s.ptr, s.len))
                return "string array element outside the file";
            *checksum += gguf_ex_touch(s.ptr, s.len);
        }
        if (gguf_arr_str(kv, kv->arr_len).ptr)
            return "gguf_arr_str past the end returns a string";
    } else if (kv->arr_type == GGUF_TYPE_FLOAT32 || kv->arr_type == GGUF_TYPE_INT32) {
        if (!gguf_ex_inside(f, kv->data, kv->arr_len * 4))
            return "array payload outside the file";
        for (uint64_t i = 0; i < kv->arr_len; i++) {
            float v = gguf_arr_f32(kv, i);
            uint32_t u;
            memcpy(&u, &v, sizeof u);
            *checksum += u + (uint32_t)gguf_arr_i32(kv, i);
        }
    }
    return NULL;
}

static const char *gguf_ex_tensor(const gguf_file *f, const gguf_tensor *t, uint64_t *checksum)
{
    if (!gguf_ex_inside(f, t->name.ptr, t->name.len) || t->name.len == 0)
        return "tensor name outside the file";
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return "tensor n_dims out of range";
    if (t->size == 0 || t->size != ggml_tensor_bytes(t->type, t->ne))
        return "tensor size does not match its type and shape";
    if (!gguf_ex_inside(f, t->data, t->size))
        return "tensor data outside the file";
    if (t->offset % f->alignment ||
        (const uint8_t *)t->data != f->base + f->data_offset + t->offset)
        return "tensor offset inconsistent";
    *checksum += gguf_ex_touch(t->data, t->size) + gguf_ex_touch(t->name.ptr, t->name.len);
    char *name = gguf_ex_cstr(t->name);
    const char *bad = name && gguf_find_tensor(f, name) != t ? "gguf_find_tensor misses it" : NULL;
    free(name);
    return bad;
}

static const char *gguf_exercise(const gguf_file *f, uint64_t *checksum)
{
    const char *bad = NULL;
    if (f->version != 3 || !f->alignment || (f->alignment & (f->alignment - 1)) ||
        f->data_offset > f->size)
        return "header fields inconsistent";
    for (uint64_t i = 0; i < f->n_kv && !bad; i++)
        bad = gguf_ex_kv(f, &f->kv[i], checksum);
    for (uint64_t i = 0; i < f->n_tensors && !bad; i++)
        bad = gguf_ex_tensor(f, &f->tensors[i], checksum);
    if (!bad && (gguf_find_kv(f, "") || gguf_find_tensor(f, "")))
        return "empty name found";
    return bad;
}

#endif
