/*
 * process.c -- compress, decompress or test one FILE operand.
 *
 * The order of events is what makes it safe: every check that can refuse a file runs
 * before any work; the output goes to a temporary file that is synced and read back
 * before it takes the final name; the input is removed only after that rename is synced.
 * Any failure or signal on the way removes the temporary file and leaves the input alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/fdio.h"
#include "cli/outfile.h"
#include "cli/signals.h"
#include <time.h>

/* One operand, resolved. */
struct job {
    const char *name;       /* for messages: the operand, or "(stdin)" */
    bool from_stdin;
    int in_fd;
    struct stat in_st;      /* valid when !from_stdin */
    const char *out_path;   /* file output, or NULL: standard output (or nothing, -t) */
    char *out_owned;        /* out_path when derived from the input name */
    bool remove_input;
};

static bool has_suffix(const char *name)
{
    size_t n = strlen(name), s = strlen(LMZ_SUFFIX);
    return n > s && strcmp(name + n - s, LMZ_SUFFIX) == 0 && name[n - s - 1] != '/';
}

/* FILE -> FILE.lmz, FILE.lmz -> FILE; NULL with a warning when the name does not fit. */
static char *derive_output_name(struct cli *cli, const char *name)
{
    char *out;
    if (cli->opt.mode == MODE_COMPRESS) {
        if (has_suffix(name) && !cli->opt.force) {
            cli_warning(cli, name, "already has %s suffix -- unchanged", LMZ_SUFFIX);
            return NULL;
        }
        if (asprintf(&out, "%s%s", name, LMZ_SUFFIX) < 0)
            out = NULL;
    } else {
        if (!has_suffix(name)) {
            cli_warning(cli, name, "unknown suffix -- ignored");
            return NULL;
        }
        out = strndup(name, strlen(name) - strlen(LMZ_SUFFIX));
    }
    if (!out)
        cli_error(cli, name, "out of memory");
    return out;
}

static bool writes_output(const struct cli *cli)
{
    return cli->opt.mode == MODE_COMPRESS || cli->opt.mode == MODE_DECOMPRESS;
}

/* Open a named input and decide where its output goes.  Returns 0, or -1 after a
 * message (the file is skipped). */
static int open_named_input(struct cli *cli, struct job *job, const char *name)
{
    const struct cli_options *opt = &cli->opt;
    bool writes = writes_output(cli);
    job->remove_input = writes && !opt->to_stdout && !opt->keep;

    struct stat lst;
    if (lstat(name, &lst) != 0) {
        cli_error(cli, name, "%s", strerror(errno));
        return -1;
    }
    /* Removing the input would remove the link, not the file compressed. */
    if (S_ISLNK(lst.st_mode) && job->remove_input && !opt->force) {
        cli_warning(cli, name, "is a symbolic link -- ignored");
        return -1;
    }
    if (S_ISDIR(lst.st_mode)) {
        cli_warning(cli, name, "is a directory -- ignored");
        return -1;
    }
    if (writes && !opt->to_stdout) {
        if (opt->output)
            job->out_path = opt->output;
        else if (!(job->out_path = job->out_owned = derive_output_name(cli, name)))
            return -1;
    }

    /* O_NONBLOCK: opening a FIFO must not hang before it is found not to be a file. */
    job->in_fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (job->in_fd < 0) {
        cli_error(cli, name, "%s", strerror(errno));
        return -1;
    }
    if (fstat(job->in_fd, &job->in_st) != 0) {
        cli_error(cli, name, "%s", strerror(errno));
        return -1;
    }
    if (!S_ISREG(job->in_st.st_mode)) {
        cli_warning(cli, name, "%s -- ignored",
                    S_ISDIR(job->in_st.st_mode) ? "is a directory" : "is not a regular file");
        return -1;
    }
    fcntl(job->in_fd, F_SETFL, fcntl(job->in_fd, F_GETFL) & ~O_NONBLOCK);

    if (job->remove_input && job->in_st.st_nlink > 1 && !opt->force) {
        unsigned long others = (unsigned long)job->in_st.st_nlink - 1;
        cli_warning(cli, name, "has %lu other link%s -- unchanged", others, others > 1 ? "s" : "");
        return -1;
    }
    return 0;
}

/* Refuse an output that exists (without -f) or that is the input itself. */
static int check_output_free(struct cli *cli, const struct job *job)
{
    struct stat ost;
    if (lstat(job->out_path, &ost) != 0)
        return 0;
    if (!job->from_stdin && ost.st_dev == job->in_st.st_dev && ost.st_ino == job->in_st.st_ino) {
        cli_error(cli, job->name, "input and output are the same file");
        return -1;
    }
    if (S_ISDIR(ost.st_mode)) {
        cli_error(cli, job->out_path, "is a directory");
        return -1;
    }
    if (!cli->opt.force) {
        cli_error(cli, job->out_path, "already exists; not overwritten (use -f)");
        return -1;
    }
    return 0;
}

/* Read back the finished temporary file: the bytes on disk must be the bytes written,
 * and compressed output must list as a complete stream of the whole input.  Returns 0, or
 * -1 with the reason in msg. */
static int verify_output(const struct cli *cli, const struct outfile *of,
                         const struct fd_writer *w, uint64_t input_size,
                         char *msg, size_t msg_size)
{
    int fd = open(of->temp_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(msg, msg_size, "cannot re-open: %s", strerror(errno));
        return -1;
    }
    struct fd_reader r;
    int rc = -1;
    if (fd_reader_init(&r, fd, true) != 0) {
        snprintf(msg, msg_size, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    if (cli->opt.mode == MODE_COMPRESS) {
        lmz_stream_info info;
        lmz_error err = { 0 };
        lmz_status st = lmz_stream_list(fd_reader_read, &r, &info, &err);
        if (st != LMZ_OK) {
            snprintf(msg, msg_size, "%s", err.message[0] ? err.message : lmz_status_string(st));
            goto out;
        }
        if (info.original_size != input_size) {
            snprintf(msg, msg_size, "stream holds %llu bytes, input had %llu",
                     (unsigned long long)info.original_size, (unsigned long long)input_size);
            goto out;
        }
    }
    if (fd_reader_drain(&r) != 0) {
        snprintf(msg, msg_size, "read error: %s", strerror(r.error));
        goto out;
    }
    if (r.bytes != w->bytes || fd_hash_digest(r.hash) != fd_hash_digest(w->hash)) {
        snprintf(msg, msg_size, "the file read back differs from what was written");
        goto out;
    }
    rc = 0;
out:
    fd_reader_free(&r);
    close(fd);
    return rc;
}

/* The uncompressed size of an .lmz file, read from its headers and records so that the
 * progress line of a decompression can show a percentage; the file is rewound.  0 when
 * unknown (the decompression itself then reports any problem). */
static uint64_t listed_size(int fd)
{
    struct fd_reader r;
    uint64_t total = 0;
    fd_reader_init(&r, fd, false);
    do {
        lmz_stream_info info;
        if (lmz_stream_list(fd_reader_read, &r, &info, NULL) != LMZ_OK) {
            total = 0;
            break;
        }
        total += info.original_size;
    } while (fd_reader_peek(&r) == 1);
    if (lseek(fd, 0, SEEK_SET) != 0)
        total = 0;
    return total;
}

/* Run the library over the job.  Returns 0, or -1 after a message. */
static int run_codec(struct cli *cli, const struct job *job, int out_fd,
                     struct fd_reader *r, struct fd_writer *w)
{
    enum cli_mode mode = cli->opt.mode;
    uint64_t in_size = job->from_stdin ? 0 : (uint64_t)job->in_st.st_size;
    uint64_t out_size = 0;
    if (mode != MODE_COMPRESS && in_size && cli->progress.enabled)
        out_size = listed_size(job->in_fd);
    if (signals_pending())
        return -1;
    progress_begin(&cli->progress, job->name, mode == MODE_COMPRESS, in_size, out_size);
    lmz_status st;
    int streams = 0;
    if (mode == MODE_COMPRESS) {
        st = lmz_compress_stream(cli->ctx, fd_reader_read, r, fd_writer_write, w);
    } else {
        /* Concatenated streams (lmz -c a b > ab.lmz) decompress to the concatenation, as
         * with gzip; anything else after a stream is an error, never silently dropped. */
        lmz_write_fn write = out_fd >= 0 ? fd_writer_write : fd_writer_discard;
        do {
            st = lmz_decompress_stream(cli->ctx, fd_reader_read, r, write, w);
            streams++;
        } while (st == LMZ_OK && fd_reader_peek(r) == 1);
    }
    /* Bytes after the last stream that start no other one: gzip's behaviour, decode and
     * warn (everything before them was checked and written). */
    uint64_t trailing = st == LMZ_ERR_CORRUPT ? lmz_ctx_trailing_data(cli->ctx) : 0;
    if (trailing) st = LMZ_OK;
    if (st == LMZ_OK && out_fd >= 0)
        fd_writer_flush(w);
    progress_end(&cli->progress);
    if (trailing && !r->error && !w->error)
        cli_warning(cli, job->name, "trailing data at byte %llu ignored: %s",
                    (unsigned long long)(trailing - 1), "not an lmz stream");

    if (signals_pending())
        return -1;
    const char *out_name = job->out_path ? job->out_path : "(stdout)";
    if (r->error)
        cli_error(cli, job->name, "read error: %s", strerror(r->error));
    else if (w->error)
        cli_error(cli, out_name, "write error: %s", strerror(w->error));
    else if (st != LMZ_OK) {
        const char *m = lmz_ctx_error(cli->ctx);
        if (streams > 1)
            cli_error(cli, job->name, "after %d complete stream%s: %s", streams - 1,
                      streams > 2 ? "s" : "", m && m[0] ? m : lmz_status_string(st));
        else
            cli_error(cli, job->name, "%s", m && m[0] ? m : lmz_status_string(st));
    }
    return st == LMZ_OK && !r->error && !w->error ? 0 : -1;
}

/* Sync, verify, give attributes and rename the temporary file.  Returns 0, or -1 after a
 * message. */
static int finish_output(struct cli *cli, const struct job *job, struct outfile *of,
                         const struct fd_writer *w, uint64_t input_size)
{
    char msg[600];
    if (outfile_sync(of) != 0) {
        cli_error(cli, job->out_path, "write error: %s", strerror(errno));
        return -1;
    }
    if (verify_output(cli, of, w, input_size, msg, sizeof msg) != 0) {
        if (!signals_pending())
            cli_error(cli, job->out_path, "verification of the written file failed: %s", msg);
        return -1;
    }
    int rc = job->from_stdin ? outfile_default_mode(of, cli->umask)
                             : outfile_copy_attributes(of, &job->in_st);
    if (rc != 0) {
        cli_error(cli, job->out_path, "cannot set mode or times: %s", strerror(errno));
        return -1;
    }
    if (signals_pending())
        return -1;
    if (outfile_commit(of, cli->opt.force) != 0) {
        if (errno == EEXIST)
            cli_error(cli, job->out_path, "already exists; not overwritten (use -f)");
        else
            cli_error(cli, job->out_path, "%s", strerror(errno));
        return -1;
    }
    return 0;
}

static void print_summary(const struct cli *cli, const struct job *job,
                          uint64_t in, uint64_t out, double seconds)
{
    bool compressing = cli->opt.mode == MODE_COMPRESS;
    uint64_t plain = compressing ? in : out, packed = compressing ? out : in;
    if (cli->opt.mode == MODE_TEST) {
        if (cli->opt.verbosity < 0)
            return;
        if (cli->opt.verbosity == 0) {
            fprintf(stderr, "%s: OK\n", job->name);
            return;
        }
        fprintf(stderr, "%s: OK, ", job->name);
    } else if (cli->opt.verbosity > 0) {
        fprintf(stderr, "%s: ", job->name);
    } else {
        return;
    }
    fprintf(stderr, "%llu -> %llu bytes, %.3f bpb, %.1f KB/s\n",
            (unsigned long long)in, (unsigned long long)out, bits_per_byte(packed, plain),
            seconds > 0 ? (double)plain / 1000.0 / seconds : 0.0);
}

void cli_process(struct cli *cli, const char *operand)
{
    const struct cli_options *opt = &cli->opt;
    struct job job = { .name = operand, .in_fd = -1 };
    struct outfile of = { .fd = -1 };
    struct fd_reader r = { .fd = -1 };
    struct fd_writer w = { .fd = -1 };
    int out_fd = -1;

    if (strcmp(operand, "-") == 0) {
        job.name = "(stdin)";
        job.from_stdin = true;
        job.in_fd = STDIN_FILENO;
        if (opt->mode != MODE_COMPRESS && isatty(STDIN_FILENO) && !opt->force) {
            cli_error(cli, NULL, "compressed data not read from a terminal (use -f to force)");
            return;
        }
        if (writes_output(cli) && !opt->to_stdout)
            job.out_path = opt->output;
    } else if (open_named_input(cli, &job, operand) != 0) {
        goto done;
    }

    bool to_file = job.out_path != NULL;
    if (to_file) {
        if (check_output_free(cli, &job) != 0)
            goto done;
        if (outfile_create(&of, job.out_path) != 0) {
            cli_error(cli, job.out_path, "cannot create a temporary file beside it: %s",
                      strerror(errno));
            goto done;
        }
        out_fd = of.fd;
    } else if (writes_output(cli)) {
        out_fd = STDOUT_FILENO;
    }

    if (fd_reader_init(&r, job.in_fd, false) != 0 ||
        (out_fd >= 0 && fd_writer_init(&w, out_fd, to_file) != 0)) {
        cli_error(cli, job.name, "out of memory");
        goto done;
    }
    if (run_codec(cli, &job, out_fd, &r, &w) != 0)
        goto done;
    double seconds = progress_elapsed(&cli->progress);
    if (to_file && finish_output(cli, &job, &of, &w, r.bytes) != 0)
        goto done;

    if (job.remove_input && unlink(operand) != 0)
        cli_warning(cli, operand, "cannot remove the input: %s", strerror(errno));
    print_summary(cli, &job, r.bytes, w.bytes, seconds);

done:
    outfile_discard(&of);
    fd_reader_free(&r);
    fd_writer_free(&w);
    if (job.in_fd >= 0 && !job.from_stdin)
        close(job.in_fd);
    free(job.out_owned);
}

/* ---- Many small files at once ---- */

/* The whole of a regular file already opened, or NULL after a message. */
static uint8_t *slurp(struct cli *cli, const struct job *job, size_t *n)
{
    size_t size = (size_t)job->in_st.st_size, got = 0;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        cli_error(cli, job->name, "out of memory");
        return NULL;
    }
    while (got < size) {
        ssize_t r = read(job->in_fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            cli_error(cli, job->name, "read error: %s", r < 0 ? strerror(errno) : "file shrank");
            free(buf);
            return NULL;
        }
        got += (size_t)r;
    }
    *n = got;
    return buf;
}

/* Write one coded file as cli_process would: temporary file, synced, read back, renamed,
 * the input removed after. */
static void write_coded(struct cli *cli, struct job *job, const void *z, size_t zn,
                        size_t in_n, double seconds)
{
    struct outfile of = { .fd = -1 };
    struct fd_writer w = { .fd = -1 };
    if (check_output_free(cli, job) != 0) goto done;
    if (outfile_create(&of, job->out_path) != 0) {
        cli_error(cli, job->out_path, "cannot create a temporary file beside it: %s",
                  strerror(errno));
        goto done;
    }
    if (fd_writer_init(&w, of.fd, true) != 0) {
        cli_error(cli, job->name, "out of memory");
        goto done;
    }
    if (fd_writer_write(&w, z, zn) != 0 || fd_writer_flush(&w) != 0) {
        cli_error(cli, job->out_path, "write error: %s", strerror(w.error ? w.error : EIO));
        goto done;
    }
    if (finish_output(cli, job, &of, &w, in_n) != 0) goto done;
    if (job->remove_input && unlink(job->name) != 0)
        cli_warning(cli, job->name, "cannot remove the input: %s", strerror(errno));
    print_summary(cli, job, in_n, zn, seconds);
done:
    outfile_discard(&of);
    fd_writer_free(&w);
}

int cli_batchable(const struct cli *cli)
{
    const struct cli_options *opt = &cli->opt;
    return opt->mode == MODE_TEST ||
           ((opt->mode == MODE_COMPRESS || opt->mode == MODE_DECOMPRESS) &&
            !opt->to_stdout && !opt->output);
}

int cli_process_batch(struct cli *cli, char **operands, int n, uint64_t max_size)
{
    struct job *jobs = calloc((size_t)n, sizeof *jobs);
    const void **src = calloc((size_t)n, sizeof *src);
    size_t *size = calloc((size_t)n, sizeof *size), k = 0;
    int *taken = calloc((size_t)n, sizeof *taken);
    int *from = calloc((size_t)n, sizeof *from);     /* job -> its operand */
    lmz_status *status = NULL;                       /* decoding: per job */
    void **out = calloc((size_t)n, sizeof *out);
    size_t *out_size = calloc((size_t)n, sizeof *out_size);
    int done = 0;
    if (!jobs || !src || !size || !taken || !from || !out || !out_size) goto out;
    /* Take the small regular files; the rest (and any that fail to open) go the usual
     * way, one by one, with its messages. */
    for (int i = 0; i < n && !signals_pending(); i++) {
        struct job *job = &jobs[k];
        job->name = operands[i];
        job->in_fd = -1;
        if (strcmp(operands[i], "-") == 0) continue;
        struct stat st;
        if (lstat(operands[i], &st) != 0 || !S_ISREG(st.st_mode) ||
            (uint64_t)st.st_size > max_size)
            continue;
        if (open_named_input(cli, job, operands[i]) != 0) {
            taken[i] = 1;                   /* refused, with its message */
            if (job->in_fd >= 0) close(job->in_fd);
            free(job->out_owned);
            memset(job, 0, sizeof *job);
            continue;
        }
        uint8_t *buf = slurp(cli, job, &size[k]);
        close(job->in_fd);
        job->in_fd = -1;
        taken[i] = 1;
        if (!buf) {
            free(job->out_owned);
            memset(job, 0, sizeof *job);
            continue;
        }
        from[k] = i;
        src[k++] = buf;
    }
    uint64_t total = 0;
    for (size_t j = 0; j < k; j++) total += size[j];
    bool compressing = cli->opt.mode == MODE_COMPRESS;
    if (k && !signals_pending() && !compressing && !(status = calloc(k, sizeof *status)))
        goto out;
    if (k && !signals_pending()) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (compressing ? lmz_compress_many(cli->ctx, k, src, size, out, out_size) != LMZ_OK
                        : lmz_decompress_many(cli->ctx, k, src, size, out, out_size, status) ==
                              LMZ_ERR_NOMEM) {
            const char *m = lmz_ctx_error(cli->ctx);
            cli_error(cli, NULL, "%s", m && m[0] ? m : "out of memory");
        } else {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double seconds = (double)(t1.tv_sec - t0.tv_sec) +
                             (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
            for (size_t j = 0; j < k && !signals_pending(); j++) {
                double share = total ? seconds * (double)size[j] / (double)total : 0.0;
                /* A stream that failed, or has trailing data, goes the usual way
                 * below, which says what is wrong with it or decodes it with a warning. */
                if (status && status[j] != LMZ_OK) taken[from[j]] = 0;
                else if (cli->opt.mode == MODE_TEST)
                    print_summary(cli, &jobs[j], size[j], out_size[j], share);
                else write_coded(cli, &jobs[j], out[j], out_size[j], size[j], share);
            }
        }
    }
    done = 1;
out:
    for (size_t j = 0; jobs && j < k; j++) {
        free((void *)src[j]);
        free(out[j]);
        free(jobs[j].out_owned);
    }
    /* The rest, one by one. */
    for (int i = 0; i < n && !signals_pending(); i++)
        if (!done || !taken[i]) cli_process(cli, operands[i]);
    free(jobs); free(src); free(size); free(taken); free(from); free(status);
    free(out); free(out_size);
    return 0;
}
