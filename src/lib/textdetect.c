/*
 * textdetect.c -- decides whether a chunk is worth running the model on.  Binary,
 * random and already-compressed data goes straight to the fallback (zstd or raw): the
 * model would only expand it, slowly.
 */
#include "lib/textdetect.h"

/* Length of the well-formed UTF-8 sequence at p (2..4), or 0 (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq_len(const uint8_t *p, size_t left)
{
    uint8_t b = p[0];
    size_t len;
    uint32_t min;
    if (b >= 0xC2 && b <= 0xDF) { len = 2; min = 0x80; }
    else if (b >= 0xE0 && b <= 0xEF) { len = 3; min = 0x800; }
    else if (b >= 0xF0 && b <= 0xF4) { len = 4; min = 0x10000; }
    else return 0;
    if (left < len) return 0;
    uint32_t cp = b & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* Bytes of p[0..n) that are not text; *nul (when given) counts the NULs among them. */
static size_t non_text_bytes(const uint8_t *p, size_t n, size_t *nul)
{
    size_t bad = 0, zeros = 0;
    for (size_t i = 0; i < n;) {
        uint8_t b = p[i];
        if (b >= 0x20 && b < 0x7F) { i++; continue; }
        if (b == '\n' || b == '\r' || b == '\t' || b == '\f' || b == '\v' || b == 0x1B) {
            i++;
            continue;
        }
        size_t len = b >= 0x80 ? utf8_seq_len(p + i, n - i) : 0;
        if (len) { i += len; continue; }
        zeros += b == 0;
        bad++;
        i++;
    }
    if (nul) *nul = zeros;
    return bad;
}

int looks_like_text(const uint8_t *p, size_t n)
{
    /* A few stray bytes (a Latin-1 name, a form feed) still leave text worth modelling. */
    return non_text_bytes(p, n, NULL) * 100 <= n;
}

/* NUL padding is the binary that text files travel with (a tar's headers and member
 * padding), and the adaptive models code a run of NULs for a few bytes.  So NULs are
 * left out of the share, up to seven eighths of the chunk (a lone tar header): the
 * encoder gives longer runs chunks of their own (padding_cut), and a chunk of many
 * short runs is not worth the model's time, which it spends on every NUL. */
int mostly_text(const uint8_t *p, size_t n)
{
    size_t nul, bad = non_text_bytes(p, n, &nul);
    return (bad - nul) * 4 <= n - nul && nul * 8 <= n * 7;
}

/* A run of NULs this long is padding (a tar's padding to a 10 KiB record, a sparse
 * file's hole), not part of the text beside it.  A tar's 1 KiB end stays with its last
 * member: a chunk of its own would cost ~24 bytes, the model 1,024 tokens. */
#define LONG_PADDING 4096

size_t padding_cut(const uint8_t *p, size_t n)
{
    size_t lead = 0, tail = n;
    while (lead < n && p[lead] == 0) lead++;
    if (lead >= LONG_PADDING) return lead;
    while (tail > lead && p[tail - 1] == 0) tail--;
    return n - tail >= LONG_PADDING ? tail : n;
}
