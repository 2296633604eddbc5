/*
 * default_model.c -- the model built into the library, so that `lmz FILE` works with no
 * model argument and no network.  The Makefile embeds models/default.gguf when that file
 * exists (defining LMZ_DEFAULT_MODEL_PATH); otherwise there is no built-in model and
 * lmz_model_default says so.
 */
#include "lib/internal.h"

#ifdef LMZ_DEFAULT_MODEL_PATH
/* GGUF tensor data wants 32-byte alignment; the model is used in place, never copied. */
__asm__(".section .rodata\n"
        ".balign 64\n"
        "lmz_default_model_begin:\n"
        ".incbin \"" LMZ_DEFAULT_MODEL_PATH "\"\n"
        "lmz_default_model_end:\n"
        ".previous\n");
extern const unsigned char lmz_default_model_begin[] __asm__("lmz_default_model_begin");
extern const unsigned char lmz_default_model_end[] __asm__("lmz_default_model_end");

lmz_model *lmz_model_default(lmz_error *err)
{
    return lmz_model_from_memory(lmz_default_model_begin,
                                 (size_t)(lmz_default_model_end - lmz_default_model_begin), err);
}
#else
lmz_model *lmz_model_default(lmz_error *err)
{
    lmz_error_setf(err, LMZ_ERR_MODEL,
                   "this lmz was built without a default model; give one with -m MODEL.gguf");
    return NULL;
}
#endif
