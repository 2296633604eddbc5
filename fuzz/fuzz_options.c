/*
 * fuzz_options.c -- libFuzzer harness for the lmz command line's option parsing
 * (src/cli/options.c: cli_parse_options, linked alone).
 *
 * The input is split at NUL bytes into argv (argv[0] first, so "unlmz" and "lmzcat" are
 * reached; an empty input is argc 0, which execve allows).  Each string is a separate
 * exact-size allocation, so ASan sees any read past one.  The parser's usage messages
 * go to /dev/null.  Invariants (a broken one aborts):
 *   - it returns 0 or -1;
 *   - getopt's permutation keeps argv the same set of strings;
 *   - on success: the operands are argv's last n_files strings, 0 <= n_files <= argc - 1,
 *     every field is in its range, -o names a non-empty file and excludes -c, -t, -l
 *     and a second operand, and -o / -m point at argv strings.
 * LeakSanitizer checks that nothing is leaked.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "../fuzz/fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Opened once: where the parser's messages go while fuzzing. */
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    devnull = fopen("/dev/null", "w");
    if (!devnull) fuzz_die("cannot open /dev/null");
    return 0;
}

/* Does p point into one of the argument strings (an option's value may start inside
 * one: "-ofile", "--output=file")? */
static int inside_arg(char *const *strs, int n, const char *p)
{
    uintptr_t q = (uintptr_t)p;
    for (int i = 0; i < n; i++)
        if (q >= (uintptr_t)strs[i] && q <= (uintptr_t)strs[i] + strlen(strs[i])) return 1;
    return 0;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(char *const *)a, y = (uintptr_t)*(char *const *)b;
    return x < y ? -1 : x > y;
}

static void check_options(const struct cli_options *opt, char **argv, char **strs, int argc)
{
    if (opt->n_files < 0 || opt->n_files > (argc > 0 ? argc - 1 : 0))
        fuzz_die("n_files %d with argc %d", opt->n_files, argc);
    if (opt->n_files > 0 && opt->files != argv + argc - opt->n_files)
        fuzz_die("the operands are not argv's last %d strings", opt->n_files);
    for (int i = 0; i < opt->n_files; i++)
        if (!opt->files[i]) fuzz_die("operand %d is NULL", i);
    if ((int)opt->mode < MODE_COMPRESS || opt->mode > MODE_LIST)
        fuzz_die("mode %d", (int)opt->mode);
    if (opt->level < 0 || opt->level > 9 || opt->threads < 0 || opt->threads > 4096 ||
        opt->verbosity < -1 || opt->verbosity > 1 || (int)opt->simd < LMZ_SIMD_AUTO ||
        opt->simd > LMZ_SIMD_NEON)
        fuzz_die("level %d, threads %d, verbosity %d, simd %d out of range", opt->level,
                 opt->threads, opt->verbosity, (int)opt->simd);
    if (opt->output && !inside_arg(strs, argc, opt->output))
        fuzz_die("-o points outside the arguments");
    if (opt->model_path && !inside_arg(strs, argc, opt->model_path))
        fuzz_die("-m points outside the arguments");
    if (opt->output && (!opt->output[0] || opt->to_stdout || opt->n_files > 1 ||
                        opt->mode == MODE_TEST || opt->mode == MODE_LIST))
        fuzz_die("-o '%s' accepted with -c/-t/-l or several operands", opt->output);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int argc = 0;
    for (size_t i = 0; i < size; i++) argc += data[i] == 0;
    if (size && data[size - 1] != 0) argc++;            /* a last string without NUL */
    char **argv = malloc((size_t)(argc + 1) * sizeof *argv);
    char **strs = malloc((size_t)(argc + 1) * sizeof *strs);  /* the strings, in order */
    if (!argv || !strs) fuzz_die("out of memory");
    size_t pos = 0;
    for (int i = 0; i < argc; i++) {
        const uint8_t *nul = memchr(data + pos, 0, size - pos);
        size_t len = nul ? (size_t)(nul - (data + pos)) : size - pos;
        strs[i] = malloc(len + 1);
        if (!strs[i]) fuzz_die("out of memory");
        memcpy(strs[i], data + pos, len);
        strs[i][len] = '\0';
        argv[i] = strs[i];
        pos += len + 1;
    }
    argv[argc] = strs[argc] = NULL;

    struct cli_options opt;
    FILE *saved = stderr;
    stderr = devnull;
    /* A process starts with optind 1 and no getopt state.  glibc forgets its state
     * (which may point into the previous input's freed strings) only when optind is 0;
     * one call over an empty argument list then leaves optind at 1, as at start-up. */
    static char prog[] = "lmz";
    char *empty_args[] = { prog, NULL };
    optind = 0;
    if (getopt(1, empty_args, "") != -1 || optind != 1) fuzz_die("cannot reset getopt");
    int rc = cli_parse_options(&opt, argc, argv);
    stderr = saved;

    if (rc != 0 && rc != -1) fuzz_die("cli_parse_options returned %d", rc);
    if (argv[argc] != NULL) fuzz_die("argv[argc] overwritten");
    char **sorted_argv = malloc((size_t)(argc + 1) * sizeof *sorted_argv);
    if (!sorted_argv) fuzz_die("out of memory");
    memcpy(sorted_argv, argv, (size_t)argc * sizeof *argv);
    qsort(sorted_argv, (size_t)argc, sizeof *sorted_argv, cmp_ptr);
    qsort(strs, (size_t)argc, sizeof *strs, cmp_ptr);
    if (memcmp(sorted_argv, strs, (size_t)argc * sizeof *strs) != 0)
        fuzz_die("argv is not a permutation of the arguments any more");
    if (rc == 0) check_options(&opt, argv, strs, argc);

    free(sorted_argv);
    for (int i = 0; i < argc; i++) free(strs[i]);
    free(strs);
    free(argv);
    return 0;
}
