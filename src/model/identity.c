/*
 * identity.c -- see identity.h.
 */
#include <string.h>

#include "model/identity.h"

void identity_bytes(XXH3_state_t *h, const void *p, size_t n)
{
    XXH3_128bits_update(h, p, n);
}

void identity_u32(XXH3_state_t *h, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    XXH3_128bits_update(h, b, 4);
}

void identity_u64(XXH3_state_t *h, uint64_t v)
{
    identity_u32(h, (uint32_t)v);
    identity_u32(h, (uint32_t)(v >> 32));
}

void identity_f32(XXH3_state_t *h, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    identity_u32(h, u);
}

void identity_tensor(XXH3_state_t *h, const gguf_tensor *t)
{
    identity_u64(h, t->name.len);
    XXH3_128bits_update(h, t->name.ptr, t->name.len);
    identity_u32(h, (uint32_t)t->type);
    for (int i = 0; i < GGUF_MAX_DIMS; i++) identity_u64(h, t->ne[i]);
    XXH3_128bits_update(h, t->data, t->size);
}

void identity_digest(XXH3_state_t *h, uint8_t out[16])
{
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(h));
    memcpy(out, canon.digest, 16);
}
