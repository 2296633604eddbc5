/*
 * crlf.h -- the LM_CRLF chunk method's text transform (doc/format.md, 4.1).  Text with
 * CR LF line ends is coded as if its lines ended in LF alone: models trained on LF text
 * predict CR badly (the default model spent ~25 % more on alice29 with its CRs), and the
 * transform is exactly invertible when every LF of the chunk follows a CR.
 */
#ifndef LMZ_CRLF_H
#define LMZ_CRLF_H

#include <stddef.h>
#include <stdint.h>

/* If in[0..n) has at least one CR LF and no LF without a CR before it, write it to out
 * (room for n bytes) with each CR LF replaced by LF, and return the new length; else
 * return 0 (the chunk is coded as it is). */
size_t crlf_normalize(const uint8_t *in, size_t n, uint8_t *out);

/* The inverse: in[0..n) with every LF replaced by CR LF into out, which must come to
 * exactly out_size bytes.  Returns 0, or -1 if it would not (corrupt data). */
int crlf_expand(const uint8_t *in, size_t n, uint8_t *out, size_t out_size);

#endif
