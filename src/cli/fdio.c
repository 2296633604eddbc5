/* fdio.c -- see fdio.h. */
#include "cli/fdio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "cli/signals.h"

enum { WRITE_BUFFER = 256 * 1024, DRAIN_BUFFER = 64 * 1024 };

static XXH3_state_t *hash_new(void)
{
    XXH3_state_t *h = XXH3_createState();
    if (h)
        XXH3_64bits_reset(h);
    else
        errno = ENOMEM;
    return h;
}

uint64_t fd_hash_digest(const XXH3_state_t *hash)
{
    return XXH3_64bits_digest(hash);
}

int fd_reader_init(struct fd_reader *r, int fd, bool hash)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->pushback = -1;
    if (hash && !(r->hash = hash_new()))
        return -1;
    return 0;
}

void fd_reader_free(struct fd_reader *r)
{
    XXH3_freeState(r->hash);
    r->hash = NULL;
}

long long fd_reader_read(void *user, void *buf, size_t n)
{
    struct fd_reader *r = user;
    if (r->pushback >= 0 && n > 0) {
        *(unsigned char *)buf = (unsigned char)r->pushback;
        r->pushback = -1;
        return 1;
    }
    for (;;) {
        if (signals_pending()) {
            r->error = errno = EINTR;
            return -1;
        }
        ssize_t got = read(r->fd, buf, n);
        if (got >= 0) {
            r->bytes += (uint64_t)got;
            if (r->hash && got > 0)
                XXH3_64bits_update(r->hash, buf, (size_t)got);
            return got;
        }
        if (errno != EINTR) {
            r->error = errno;
            return -1;
        }
    }
}

int fd_reader_peek(struct fd_reader *r)
{
    if (r->pushback >= 0)
        return 1;
    unsigned char byte;
    long long got = fd_reader_read(r, &byte, 1);
    if (got == 1)
        r->pushback = byte;
    return got < 0 ? -1 : (int)got;
}

int fd_reader_drain(struct fd_reader *r)
{
    unsigned char buf[DRAIN_BUFFER];
    long long got;
    while ((got = fd_reader_read(r, buf, sizeof buf)) > 0)
        ;
    return got < 0 ? -1 : 0;
}

int fd_writer_init(struct fd_writer *w, int fd, bool hash)
{
    memset(w, 0, sizeof *w);
    w->fd = fd;
    w->cap = WRITE_BUFFER;
    if (!(w->buf = malloc(w->cap))) {
        errno = ENOMEM;
        return -1;
    }
    if (hash && !(w->hash = hash_new())) {
        free(w->buf);
        w->buf = NULL;
        return -1;
    }
    return 0;
}

void fd_writer_free(struct fd_writer *w)
{
    free(w->buf);
    w->buf = NULL;
    XXH3_freeState(w->hash);
    w->hash = NULL;
}

static int write_all(struct fd_writer *w, const unsigned char *p, size_t n)
{
    while (n > 0) {
        if (signals_pending()) {
            w->error = EINTR;
            return -1;
        }
        ssize_t put = write(w->fd, p, n);
        if (put < 0) {
            if (errno == EINTR)
                continue;
            w->error = errno;
            return -1;
        }
        p += put;
        n -= (size_t)put;
    }
    return 0;
}

int fd_writer_flush(struct fd_writer *w)
{
    if (w->error)
        return -1;
    int rc = write_all(w, w->buf, w->len);
    w->len = 0;
    return rc;
}

int fd_writer_write(void *user, const void *buf, size_t n)
{
    struct fd_writer *w = user;
    if (w->error || signals_pending()) {
        if (!w->error)
            w->error = EINTR;
        return -1;
    }
    if (n == 0)
        return 0;
    if (w->hash)
        XXH3_64bits_update(w->hash, buf, n);
    w->bytes += n;
    if (w->len + n <= w->cap) {
        memcpy(w->buf + w->len, buf, n);
        w->len += n;
        return 0;
    }
    if (fd_writer_flush(w) != 0)
        return -1;
    if (n >= w->cap)
        return write_all(w, buf, n);
    memcpy(w->buf, buf, n);
    w->len = n;
    return 0;
}

int fd_writer_discard(void *user, const void *buf, size_t n)
{
    struct fd_writer *w = user;
    (void)buf;
    if (signals_pending()) {
        w->error = EINTR;
        return -1;
    }
    w->bytes += n;
    return 0;
}
