/*
 * coder_overhead.c -- see coder_overhead.h.
 */
#include <math.h>

#include "coder_overhead.h"
#include "coder/quantize.h"

double coder_ideal_bits(const float *logits, uint32_t n_vocab, uint32_t token)
{
    double m = -INFINITY;
    for (uint32_t i = 0; i < n_vocab; i++) if (logits[i] > m) m = logits[i];
    double s = 0;
    for (uint32_t i = 0; i < n_vocab; i++) s += exp((double)logits[i] - m);
    return (log(s) - ((double)logits[token] - m)) / log(2.0);
}

void coder_meter_init(coder_meter *m, uint32_t n_vocab)
{
    rc_enc_init(&m->enc);
    m->n_vocab = n_vocab;
    m->ideal_bits = 0;
    m->n_tokens = 0;
    m->coded_bytes = 0;
}

int coder_meter_add(coder_meter *m, const float *logits, uint32_t token)
{
    uint32_t start, freq;
    if (quant_symbol(logits, m->n_vocab, token, &start, &freq) != 0) return -1;
    rc_enc_encode(&m->enc, start, freq);
    m->ideal_bits += coder_ideal_bits(logits, m->n_vocab, token);
    m->n_tokens++;
    return 0;
}

void coder_meter_add_quantized(coder_meter *m, const uint32_t *cum, uint32_t token,
                               double ideal_bits)
{
    rc_enc_encode(&m->enc, cum[token], cum[token + 1] - cum[token]);
    m->ideal_bits += ideal_bits;
    m->n_tokens++;
}

int coder_meter_finish(coder_meter *m)
{
    int rc = rc_enc_finish(&m->enc);
    m->coded_bytes = m->enc.len;
    return rc;
}

double coder_meter_overhead(const coder_meter *m)
{
    return (double)m->coded_bytes * 8.0 / m->ideal_bits - 1.0;
}

void coder_meter_free(coder_meter *m)
{
    rc_enc_free(&m->enc);
}
