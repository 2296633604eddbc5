/*
 * crlf.c -- CR LF <-> LF for the LM_CRLF chunk method (crlf.h).
 */
#include "lib/crlf.h"

size_t crlf_normalize(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t o = 0, pairs = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '\n') {
            if (i == 0 || in[i - 1] != '\r') return 0;   /* a bare LF: not invertible */
            out[o - 1] = '\n';                           /* the CR just copied becomes LF */
            pairs++;
            continue;
        }
        out[o++] = in[i];
    }
    return pairs > 0 ? o : 0;
}

int crlf_expand(const uint8_t *in, size_t n, uint8_t *out, size_t out_size)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '\n') {
            if (o + 2 > out_size) return -1;
            out[o++] = '\r';
        } else if (o + 1 > out_size) {
            return -1;
        }
        out[o++] = in[i];
    }
    return o == out_size ? 0 : -1;
}
