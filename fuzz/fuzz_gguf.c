/*
 * fuzz_gguf.c -- libFuzzer harness for the GGUF reader (`make fuzz`, fuzz/README.md).
 *
 * Every input either fails to parse with a message, or parses into a file whose every
 * string, array element and tensor byte can be read in bounds (fuzz/gguf_exercise.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../fuzz/gguf_exercise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf_file f;
    char err[512] = "";
    uint64_t checksum = 0;

    if (gguf_parse(&f, data, size, err, sizeof err) != 0) {
        if (err[0] == '\0' || f.kv || f.tensors) {
            fprintf(stderr, "failed parse left no message or kept allocations\n");
            abort();
        }
        return 0;
    }
    const char *bad = gguf_exercise(&f, &checksum);
    if (bad) {
        fprintf(stderr, "invariant broken: %s\n", bad);
        abort();
    }
    gguf_close(&f);
    return (int)(checksum & 0);
}
