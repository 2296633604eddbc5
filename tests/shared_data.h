/*
 * shared_data.h -- test inputs from files: the head of any file, and of a file of
 * ../shared/data (or $LMZ_SHARED/data); and a reader over bytes in memory.
 */
#ifndef LMZ_TESTS_SHARED_DATA_H
#define LMZ_TESTS_SHARED_DATA_H

#include <stddef.h>
#include <stdint.h>

/* The first `max` bytes of a file (fewer if it is shorter; *n says how many), malloc'd;
 * NULL if it cannot be opened. */
uint8_t *read_file_head(const char *path, size_t max, size_t *n);

/* The first `max` bytes of ../shared/data/NAME; fails the running cmocka test if the
 * file cannot be read. */
uint8_t *shared_data(const char *name, size_t max, size_t *n);

/* An lmz_read_fn over bytes in memory (user: a mem_in). */
typedef struct mem_in {
    const uint8_t *p;
    size_t n, at;
} mem_in;
long long mem_read(void *user, void *buf, size_t n);

#endif
