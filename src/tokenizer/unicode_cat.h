/*
 * unicode_cat.h -- characters as the pre-tokenizer regexes see them.
 *
 * Input to the tokenizer is arbitrary bytes.  A well-formed UTF-8 sequence is one
 * character; every byte that does not start one (lone continuation bytes, truncated
 * sequences, overlongs, encoded surrogates, 0xF5..0xFF, code points above U+10FFFF) is a
 * character of its own, of class OTHER.  So every byte string splits into characters,
 * and the characters concatenate back to the same bytes.
 */
#ifndef LMZ_TOKENIZER_UNICODE_CAT_H
#define LMZ_TOKENIZER_UNICODE_CAT_H

#include <stddef.h>
#include <stdint.h>

/* The classes the GPT-2 / Llama 3 / Qwen2 split patterns distinguish. */
typedef enum tok_ucat {
    TOK_UCAT_OTHER = 0,     /* [^\s\p{L}\p{N}], also invalid bytes and unassigned code points */
    TOK_UCAT_LETTER = 1,    /* \p{L} */
    TOK_UCAT_NUMBER = 2,    /* \p{N} */
    TOK_UCAT_SPACE = 3      /* \s (White_Space) */
} tok_ucat;

#define TOK_CP_INVALID 0xFFFFFFFFu   /* code point reported for a byte that is not UTF-8 */

/* Generated table (unicode_tables.c): runs of equal class, entry = (first cp << 2) | class. */
extern const uint32_t tok_ucat_runs[];
extern const size_t tok_ucat_n_runs;
extern const char tok_ucat_unicode_version[];

/* Decode the character at s[0..n), n >= 1.  Returns its length in bytes (1..4) and sets
 * *cp; a byte that does not begin a well-formed sequence gives 1 and TOK_CP_INVALID. */
size_t tok_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);

/* Class of a code point (TOK_CP_INVALID -> OTHER). */
tok_ucat tok_ucat_of(uint32_t cp);

#endif
