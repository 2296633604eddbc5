/*
 * builtin_models.c -- the models built into the library, so that `lmz FILE` works with
 * no model argument and no network, and lmz_ctx_new_builtin, the context that picks
 * among them: the level's model to compress, the stream's own model to decompress.
 *
 * The Makefile embeds each model whose file exists (models/README.md is their card) by
 * defining LMZ_BUILTIN_<NAME>_PATH; a build without one says so when it is asked for.
 * This file is the only one that refers to the embedded bytes, so a program that never
 * calls into it (the unit tests) links none of them.
 */
#include <string.h>

#include "lib/internal.h"

/* GGUF tensor data wants 32-byte alignment; the bytes are parsed in place, never copied. */
#define EMBED(sym, path)                                                                 \
    __asm__(".section .rodata\n.balign 64\n" #sym "_begin:\n.incbin \"" path "\"\n"      \
            #sym "_end:\n.previous\n");                                                  \
    extern const unsigned char sym##_begin[] __asm__(#sym "_begin");                     \
    extern const unsigned char sym##_end[] __asm__(#sym "_end")

#ifdef LMZ_BUILTIN_S2_PATH
EMBED(lmz_builtin_s2, LMZ_BUILTIN_S2_PATH);
#define S2_BYTES lmz_builtin_s2_begin, lmz_builtin_s2_end
#else
#define S2_BYTES NULL, NULL
#endif
#ifdef LMZ_BUILTIN_M1_PATH
EMBED(lmz_builtin_m1, LMZ_BUILTIN_M1_PATH);
#define M1_BYTES lmz_builtin_m1_begin, lmz_builtin_m1_end
#else
#define M1_BYTES NULL, NULL
#endif
#ifdef LMZ_BUILTIN_T1_PATH
EMBED(lmz_builtin_t1, LMZ_BUILTIN_T1_PATH);
#define T1_BYTES lmz_builtin_t1_begin, lmz_builtin_t1_end
#else
#define T1_BYTES NULL, NULL
#endif

typedef struct builtin_model {
    const char *name;   /* general.name of the file, what streams record */
    const unsigned char *begin, *end;
} builtin_model;

/* Indexed by lmz_builtin (internal.h). */
static const builtin_model builtins[LMZ_BUILTIN_COUNT] = {
    [LMZ_BUILTIN_S2] = { "lmz-s2", S2_BYTES },
    [LMZ_BUILTIN_M1] = { "lmz-m1", M1_BYTES },
    [LMZ_BUILTIN_T1] = { "lmz-t1", T1_BYTES },
};

/* index is an lmz_builtin: callers only ever pass valid ones. */
static lmz_model *load_builtin(int index, lmz_error *err)
{
    const builtin_model *b = &builtins[index];
    if (!b->begin) {
        lmz_error_setf(err, LMZ_ERR_MODEL,
                       "this lmz was built without its model %s (models/%s.gguf); give one "
                       "with -m MODEL.gguf", b->name, b->name);
        return NULL;
    }
    return lmz_model_from_memory(b->begin, (size_t)(b->end - b->begin), err);
}

const char *lmz_builtin_model_name(int index)
{
    return index >= 0 && index < LMZ_BUILTIN_COUNT ? builtins[index].name : NULL;
}

lmz_model *lmz_model_builtin(const char *name, lmz_error *err)
{
    for (int i = 0; i < LMZ_BUILTIN_COUNT; i++)
        if (name && strcmp(name, builtins[i].name) == 0) return load_builtin(i, err);
    lmz_error_setf(err, LMZ_ERR_ARG, "no built-in model is called '%s'", name ? name : "");
    return NULL;
}

lmz_model *lmz_model_default(lmz_error *err)
{
    return load_builtin(lmz_level_builtin(LMZ_LEVEL_DEFAULT), err);
}

static const lmz_builtin_set builtin_set = { load_builtin, lmz_builtin_model_name };

lmz_ctx *lmz_ctx_new_builtin(const lmz_params *params, lmz_error *err)
{
    return lmz__ctx_new(NULL, &builtin_set, params, err);
}
