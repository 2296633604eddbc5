/*
 * fdio.h -- file-descriptor readers and writers shaped as the library's stream callbacks
 * (lmz_read_fn / lmz_write_fn).
 *
 * They count bytes, remember the errno of a failure (so the message names the real cause,
 * e.g. "No space left on device", rather than the library's generic I/O error), stop when a
 * signal is pending, and can hash everything that passes so that a file written to disk
 * can be read back and compared.
 */
#ifndef LMZ_CLI_FDIO_H
#define LMZ_CLI_FDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct XXH3_state_s XXH3_state_t;

struct fd_reader {
    int fd;
    uint64_t bytes;     /* read so far */
    int error;          /* errno of a failed read, 0 if none */
    XXH3_state_t *hash; /* NULL: not hashing */
    int pushback;       /* a byte fd_reader_peek read ahead, or -1 */
};

struct fd_writer {
    int fd;
    unsigned char *buf;
    size_t len, cap;
    uint64_t bytes;     /* accepted so far (buffered or written) */
    int error;          /* errno of a failed write, 0 if none */
    XXH3_state_t *hash;
};

/* Return 0, or -1 with errno set (ENOMEM). */
int fd_reader_init(struct fd_reader *r, int fd, bool hash);
void fd_reader_free(struct fd_reader *r);
long long fd_reader_read(void *user, void *buf, size_t n);   /* an lmz_read_fn */
/* Is there more input?  1 (the byte is kept for the next read), 0 at the end, -1 on
 * error. */
int fd_reader_peek(struct fd_reader *r);
/* Read to the end of input, discarding (hashing) the bytes.  Returns 0 or -1. */
int fd_reader_drain(struct fd_reader *r);

int fd_writer_init(struct fd_writer *w, int fd, bool hash);
void fd_writer_free(struct fd_writer *w);
int fd_writer_write(void *user, const void *buf, size_t n);  /* an lmz_write_fn */
int fd_writer_flush(struct fd_writer *w);
/* An lmz_write_fn that only counts into a struct fd_writer (fd and buffer unused): -t. */
int fd_writer_discard(void *user, const void *buf, size_t n);

uint64_t fd_hash_digest(const XXH3_state_t *hash);

#endif
