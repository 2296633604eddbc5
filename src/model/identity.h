/*
 * identity.h -- the bytes behind every stream's model id and adapter id.
 *
 * A stream records the XXH3-128 digest (canonical, big-endian) of a serialization of the
 * model it was made with, and of its adapter; decoding refuses any other.  Both
 * serializations are built from these pieces, so that they can never drift apart:
 *   model:   "lmz-model-1", the hyperparameters that change the computation (model.c
 *            lists them), then every tensor in the order the architecture consumes them;
 *   adapter: "lmz-lora-1", alpha's f32 bit pattern, then each (lora_a, lora_b) pair in
 *            layer-major, target order (adapter.c).
 * A tensor is its name's length (u64) and bytes, its ggml type (u32), its four dims
 * (u64 each) and its raw data bytes; every integer little-endian.  Metadata that does
 * not change predictions (general.name, ...) is left out, so renaming keeps the id.
 * Every stream ever written depends on these bytes: never change them.
 */
#ifndef LMZ_MODEL_IDENTITY_H
#define LMZ_MODEL_IDENTITY_H

#include <stdint.h>
#include <xxhash.h>

#include "gguf/gguf.h"

void identity_bytes(XXH3_state_t *h, const void *p, size_t n);
void identity_u32(XXH3_state_t *h, uint32_t v);
void identity_u64(XXH3_state_t *h, uint64_t v);
void identity_f32(XXH3_state_t *h, float f);        /* its bit pattern as a u32 */
void identity_tensor(XXH3_state_t *h, const gguf_tensor *t);
/* The 16 bytes a stream records. */
void identity_digest(XXH3_state_t *h, uint8_t out[16]);

#endif
