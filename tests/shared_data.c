/*
 * shared_data.c -- see shared_data.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared_data.h"

uint8_t *read_file_head(const char *path, size_t max, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = malloc(max ? max : 1);
    *n = buf ? fread(buf, 1, max, f) : 0;
    fclose(f);
    return buf;
}

uint8_t *shared_data(const char *name, size_t max, size_t *n)
{
    const char *dir = getenv("LMZ_SHARED");
    char path[1024];
    snprintf(path, sizeof path, "%s/data/%s", dir ? dir : "../shared", name);
    uint8_t *p = read_file_head(path, max, n);
    if (!p) fail_msg("cannot read %s", path);
    return p;
}

long long mem_read(void *user, void *buf, size_t n)
{
    mem_in *in = user;
    size_t k = n < in->n - in->at ? n : in->n - in->at;
    memcpy(buf, in->p + in->at, k);
    in->at += k;
    return (long long)k;
}
