/*
 * lora.h -- what LoRA training needs around the trainer: the frozen model's shape and
 * weights from a loaded lmz_model (any weight type, widened exactly to float), and the
 * trained adapter written as a llama.cpp GGUF adapter (src/model/adapter.h), which
 * records the model it was trained on (lmz.base_model_hash) for lmz's checks.
 */
#ifndef LMZ_TRAIN_LORA_H
#define LMZ_TRAIN_LORA_H

#include "model/model.h"
#include "train/trainer.h"

/* The trainer's configuration of model m, trained on sequences of seq_len tokens.
 * -1 with a message if m is not what the trainer computes (llama, RoPE on adjacent pairs
 * over the whole head, no biases). */
int tr_config_from_model(const lmz_model *m, uint32_t seq_len, tm_config *c, char *err,
                         size_t errlen);

/* m's weights into params (the layout of train_model.h for c). */
int tr_load_model_params(const lmz_model *m, const tm_config *c, float *params, char *err,
                         size_t errlen);

/* The trainer's adapter as a GGUF adapter file (F32 tensors, written atomically). */
int tr_export_lora(const trainer *t, const lmz_model *m, float alpha, const char *name,
                   const char *path, char *err, size_t errlen);

#endif
