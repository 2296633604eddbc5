/* progress.c -- see progress.h. */
#include "cli/progress.h"

#include <stdio.h>
#include <string.h>

#include "cli/signals.h"

/* At most five redraws a second: the line is for a human, and stderr may be slow. */
#define REDRAW_SECONDS 0.2
/* A long name keeps its last characters so the line fits an 80-column terminal. */
enum { NAME_SHOWN = 24 };

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) * 1e-9;
}

double bits_per_byte(uint64_t compressed, uint64_t uncompressed)
{
    return uncompressed ? 8.0 * (double)compressed / (double)uncompressed : 0.0;
}

void progress_begin(struct progress *p, const char *name, bool compressing,
                    uint64_t total_in, uint64_t total_out)
{
    p->active = true;
    p->name = name;
    p->compressing = compressing;
    p->total_in = total_in;
    p->total_out = total_out;
    p->in = p->out = 0;
    p->drawn = 0;
    clock_gettime(CLOCK_MONOTONIC, &p->start);
    p->last_draw = p->start;
}

double progress_elapsed(const struct progress *p)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return seconds_between(&p->start, &now);
}

/* "12.3 MiB" style, for the line only; summaries print exact byte counts. */
static void human_size(char *buf, size_t size, uint64_t bytes)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, size, "%.1f %s", v, units[u]);
}

static void draw(struct progress *p, double elapsed)
{
    uint64_t plain = p->compressing ? p->in : p->out;
    uint64_t packed = p->compressing ? p->out : p->in;
    char line[256], in_s[32], out_s[32];
    human_size(in_s, sizeof in_s, p->in);
    human_size(out_s, sizeof out_s, p->out);

    size_t name_len = strlen(p->name);
    const char *shown = name_len > NAME_SHOWN ? p->name + name_len - NAME_SHOWN : p->name;
    int n = snprintf(line, sizeof line, "%s%s: ", name_len > NAME_SHOWN ? "..." : "", shown);
    /* The fraction done: of the output when its size is known (a decoder may consume
     * its input in jumps), else of the input. */
    double done = -1;
    if (p->total_out)
        done = (double)p->out / (double)p->total_out;
    else if (p->total_in)
        done = (double)p->in / (double)p->total_in;
    if (done > 1)
        done = 1;
    if (done >= 0)
        n += snprintf(line + n, sizeof line - (size_t)n, "%3.0f%% ", 100.0 * done);
    if (p->in || p->compressing)
        n += snprintf(line + n, sizeof line - (size_t)n, "%s -> %s", in_s, out_s);
    else    /* a decoder that reports no input consumed yet */
        n += snprintf(line + n, sizeof line - (size_t)n, "%s out", out_s);
    if (plain && packed)
        n += snprintf(line + n, sizeof line - (size_t)n, ", %.3f bpb",
                      bits_per_byte(packed, plain));
    if (elapsed > 0)
        n += snprintf(line + n, sizeof line - (size_t)n, ", %.1f KB/s",
                      (double)plain / 1000.0 / elapsed);
    if (done > 0 && done < 1 && elapsed > 1.0) {
        double eta = elapsed * (1 - done) / done;
        unsigned long s = (unsigned long)(eta + 0.5);
        n += snprintf(line + n, sizeof line - (size_t)n, ", ETA %lu:%02lu:%02lu",
                      s / 3600, s / 60 % 60, s % 60);
    }
    if (n > (int)sizeof line - 1)
        n = (int)sizeof line - 1;
    /* Pad over the tail of a longer previous line instead of using terminal escapes, so
     * the line also reads sanely when -v sends it to a file. */
    int pad = p->drawn > n ? p->drawn - n : 0;
    fprintf(stderr, "\r%s%*s", line, pad, "");
    fflush(stderr);
    p->drawn = n;
}

int progress_callback(void *user, uint64_t in_bytes, uint64_t out_bytes)
{
    struct progress *p = user;
    if (p->active) {
        p->in = in_bytes;
        p->out = out_bytes;
        if (p->enabled) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (seconds_between(&p->last_draw, &now) >= REDRAW_SECONDS) {
                p->last_draw = now;
                draw(p, seconds_between(&p->start, &now));
            }
        }
    }
    return signals_pending() != 0;
}

void progress_end(struct progress *p)
{
    if (p->drawn) {
        fprintf(stderr, "\r%*s\r", p->drawn, "");
        fflush(stderr);
    }
    p->drawn = 0;
    p->active = false;
}
