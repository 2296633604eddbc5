/* buffer.c -- the buffer API, as the stream API over memory. */
#include <stdlib.h>
#include <string.h>

#include "lib/internal.h"

typedef struct mem_reader { const uint8_t *p; size_t left; } mem_reader;
typedef struct mem_writer { uint8_t *buf; size_t len, cap; int nomem; } mem_writer;

static long long mem_read(void *user, void *buf, size_t n)
{
    mem_reader *r = user;
    if (n > r->left) n = r->left;
    memcpy(buf, r->p, n);
    r->p += n;
    r->left -= n;
    return (long long)n;
}

static int mem_write(void *user, const void *buf, size_t n)
{
    mem_writer *w = user;
    if (n > w->cap - w->len) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap - w->len < n) {
            if (cap > SIZE_MAX / 2) return -1;
            cap *= 2;
        }
        uint8_t *nb = realloc(w->buf, cap);
        if (!nb) {
            w->nomem = 1;       /* the stream reports a write error: say why */
            return -1;
        }
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, buf, n);
    w->len += n;
    return 0;
}

typedef lmz_status (*stream_fn)(lmz_ctx *, lmz_read_fn, void *, lmz_write_fn, void *);

static lmz_status via_stream(stream_fn fn, lmz_ctx *ctx, const void *src, size_t n,
                             void **dst, size_t *dst_n)
{
    if (!ctx || (!src && n) || !dst || !dst_n) return LMZ_ERR_ARG;
    mem_reader r = { src, n };
    mem_writer w = { NULL, 0, 0, 0 };
    lmz_status st = fn(ctx, mem_read, &r, mem_write, &w);
    if (st != LMZ_OK) {
        free(w.buf);
        *dst = NULL;
        *dst_n = 0;
        if (st == LMZ_ERR_IO && w.nomem)
            return lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory for the output");
        return st;
    }
    *dst = w.buf ? w.buf : malloc(1);
    *dst_n = w.len;
    return *dst ? LMZ_OK : lmz__fail(ctx, LMZ_ERR_NOMEM, "out of memory");
}

lmz_status lmz_compress_buffer(lmz_ctx *ctx, const void *src, size_t n,
                               void **dst, size_t *dst_n)
{
    return via_stream(lmz_compress_stream, ctx, src, n, dst, dst_n);
}

lmz_status lmz_decompress_buffer(lmz_ctx *ctx, const void *src, size_t n,
                                 void **dst, size_t *dst_n)
{
    return via_stream(lmz_decompress_stream, ctx, src, n, dst, dst_n);
}
