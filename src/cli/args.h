/*
 * args.h -- the number parsers that every command-line tool of lmz shares, so that
 * `-T 2`, `--chunk-size 64K` and `--vocab 8K` are read by one set of rules.
 */
#ifndef LMZ_CLI_ARGS_H
#define LMZ_CLI_ARGS_H

#include <stdint.h>

/* What a K, M or G after the digits multiplies by: nothing (no suffix allowed), powers of
 * 1000 (the training tools' sizes), or powers of 1024 (-T, --chunk-size; "KiB" too). */
typedef enum arg_suffix { ARG_NO_SUFFIX = 0, ARG_SI = 1000, ARG_IEC = 1024 } arg_suffix;

/* A decimal integer in lo..hi: digits only (no sign, no space), then an optional suffix
 * as `suffix` allows.  0, or -1 and *out untouched. */
int arg_parse_u64(const char *s, uint64_t lo, uint64_t hi, arg_suffix suffix, uint64_t *out);

/* A decimal number (strtod's syntax) in lo..hi; NaN is refused.  0, or -1. */
int arg_parse_f32(const char *s, float lo, float hi, float *out);

/* The same, saying "TOOL: OPT needs an integer in LO..HI, not 'V'" on stderr on failure. */
int arg_u32(const char *tool, const char *opt, const char *v, uint32_t lo, uint32_t hi,
            uint32_t *out);
int arg_f32(const char *tool, const char *opt, const char *v, float lo, float hi, float *out);

#endif
