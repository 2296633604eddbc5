/*
 * reader.c -- buffered exact-size reads over an lmz_read_fn.
 *
 * Parsing needs three outcomes a plain read() blurs: all the bytes, a clean end of
 * input (between streams), and an input that stops part-way (a truncated stream).  The
 * reader also counts the input offset, which every error message quotes.
 */
#include "format/container.h"

#include <string.h>

void lmzf_reader_init(lmzf_reader *r, lmz_read_fn read, void *user)
{
    r->read = read;
    r->user = user;
    r->offset = 0;
    r->pos = r->len = 0;
    r->at_eof = 0;
    r->failed = 0;
}

/* One call of the read function.  Returns the bytes read, 0 at the end of input, or -1
 * on failure (also when it claims more bytes than were asked for). */
static long long pull(lmzf_reader *r, void *dst, size_t n)
{
    if (r->failed) return -1;
    if (r->at_eof) return 0;
    long long got = r->read(r->user, dst, n);
    if (got < 0 || (unsigned long long)got > n) {
        r->failed = 1;
        return -1;
    }
    if (got == 0) r->at_eof = 1;
    return got;
}

lmzf_got lmzf_reader_read(lmzf_reader *r, void *dst, size_t n, XXH32_state_t *hash,
                          size_t *got)
{
    uint8_t *out = dst;
    size_t total = 0;
    lmzf_got result = LMZF_GOT_ALL;
    while (total < n) {
        if (r->pos < r->len) {
            size_t k = r->len - r->pos;
            if (k > n - total) k = n - total;
            if (out) memcpy(out + total, r->buf + r->pos, k);
            if (hash) XXH32_update(hash, r->buf + r->pos, k);
            r->pos += k;
            total += k;
            continue;
        }
        /* Large reads go straight to the caller's memory; the rest refills buf. */
        if (out && n - total >= sizeof r->buf) {
            long long k = pull(r, out + total, n - total);
            if (k <= 0) {
                result = k < 0 ? LMZF_GOT_IOERR : LMZF_GOT_PART;
                break;
            }
            if (hash) XXH32_update(hash, out + total, (size_t)k);
            total += (size_t)k;
        } else {
            long long k = pull(r, r->buf, sizeof r->buf);
            if (k <= 0) {
                result = k < 0 ? LMZF_GOT_IOERR : LMZF_GOT_PART;
                break;
            }
            r->pos = 0;
            r->len = (size_t)k;
        }
    }
    r->offset += total;
    if (got) *got = total;
    if (result == LMZF_GOT_PART && total == 0) result = LMZF_GOT_NONE;
    return result;
}

long long lmzf_mem_read(void *memsrc, void *buf, size_t n)
{
    lmzf_memsrc *m = memsrc;
    size_t left = m->size - m->pos;
    if (n > left) n = left;
    if (n) memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (long long)n;
}
