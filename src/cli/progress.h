/*
 * progress.h -- the progress line on stderr and the timing for -v summaries.
 *
 * progress_callback is the context's lmz_progress_fn; it also carries the signal flag
 * back to the library (non-zero = stop).
 */
#ifndef LMZ_CLI_PROGRESS_H
#define LMZ_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct progress {
    bool enabled;           /* draw the line at all (stderr is a TTY, or -v) */
    bool active;            /* between begin and end */
    const char *name;
    bool compressing;       /* in = uncompressed bytes (else in = compressed bytes) */
    uint64_t total_in;      /* input size when known, else 0 */
    uint64_t total_out;     /* output size when known (decompression), else 0 */
    uint64_t in, out;
    struct timespec start, last_draw;
    int drawn;              /* width of the line on screen, 0 if none */
};

void progress_begin(struct progress *p, const char *name, bool compressing,
                    uint64_t total_in, uint64_t total_out);
int progress_callback(void *user, uint64_t in_bytes, uint64_t out_bytes);
/* Erase the line. */
void progress_end(struct progress *p);
/* Seconds since progress_begin. */
double progress_elapsed(const struct progress *p);

/* Bits per byte of compressed over uncompressed (0 when uncompressed is 0). */
double bits_per_byte(uint64_t compressed, uint64_t uncompressed);

#endif
