/*
 * byte_alphabet.c -- GPT-2's spelling of bytes as printable code points.
 *
 * Byte-level BPE vocabularies store every token as text in which byte b is written as
 * one code point: the printable Latin-1 bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) as
 * themselves, the 68 others as U+0100, U+0101, ... in byte order (so ' ' is U+0120 'Ġ').
 */
#include "tokenizer/tok_internal.h"

static int printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t tok_gpt2_byte_to_cp(uint8_t b)
{
    if (printable(b))
        return b;
    uint32_t rank = 0;      /* how many non-printable bytes come before b */
    for (unsigned i = 0; i < b; i++)
        rank += !printable(i);
    return 0x100 + rank;
}

void tok_gpt2_inverse(int16_t inv[TOK_GPT2_CP_END])
{
    for (uint32_t cp = 0; cp < TOK_GPT2_CP_END; cp++)
        inv[cp] = -1;
    for (unsigned b = 0; b < 256; b++)
        inv[tok_gpt2_byte_to_cp((uint8_t)b)] = (int16_t)b;
}
