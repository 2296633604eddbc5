/*
 * model_internal.h -- what the loader's two files (model.c, model_tensors.c) share
 * beyond model.h.
 */
#ifndef LMZ_MODEL_INTERNAL_H
#define LMZ_MODEL_INTERNAL_H

#include <xxhash.h>

#include "kernels/kernels.h"
#include "model/model.h"

/* State of one model load. */
typedef struct model_loader {
    lmz_model *m;
    lmz_status status;        /* LMZ_OK until something fails */
    char err[400];
    uint8_t *used;            /* per file tensor: consumed by the architecture */
    size_t vec_cap, vec_used; /* floats in m->vectors */
    XXH3_state_t *hash;       /* model identity, fed in canonical order */
} model_loader;

/* Set the loader's error (status LMZ_ERR_MODEL unless already set); returns -1. */
int mt_fail(model_loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Load, check and convert every tensor of the architecture in ld->m->hp, in the
 * canonical order (which is also the hashing order).  0, or -1 with the error set. */
int mt_load_all(model_loader *ld);
int mt_vector(model_loader *ld, const char *name, uint32_t n, int optional, const float **out);
int mt_matrix(model_loader *ld, const char *name, uint32_t n_in, uint32_t n_out, lmz_matrix *mx);
void mt_free_matrices(lmz_model *m);

#endif
