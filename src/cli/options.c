/* options.c -- command-line parsing: gzip/xz/zstd conventions. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "lib/internal.h"   /* the level table, for --help */

enum {
    OPT_SIMD = 256,
    OPT_CHUNK_SIZE,
    OPT_CONTEXT,
    OPT_FAST,
    OPT_BEST,
    OPT_LM_ALWAYS,
    OPT_NO_MIX,
    OPT_NO_COMPACT,
    OPT_MIX_VERSION,
};

static const struct option long_options[] = {
    { "decompress", no_argument, NULL, 'd' },
    { "uncompress", no_argument, NULL, 'd' },
    { "compress", no_argument, NULL, 'z' },
    { "test", no_argument, NULL, 't' },
    { "list", no_argument, NULL, 'l' },
    { "stdout", no_argument, NULL, 'c' },
    { "to-stdout", no_argument, NULL, 'c' },
    { "output", required_argument, NULL, 'o' },
    { "keep", no_argument, NULL, 'k' },
    { "recursive", no_argument, NULL, 'r' },
    { "force", no_argument, NULL, 'f' },
    { "verbose", no_argument, NULL, 'v' },
    { "quiet", no_argument, NULL, 'q' },
    { "threads", required_argument, NULL, 'T' },
    { "model", required_argument, NULL, 'm' },
    { "adapter", required_argument, NULL, 'A' },
    { "no-name", no_argument, NULL, 'n' },
    { "simd", required_argument, NULL, OPT_SIMD },
    { "chunk-size", required_argument, NULL, OPT_CHUNK_SIZE },
    { "context", required_argument, NULL, OPT_CONTEXT },
    { "fast", no_argument, NULL, OPT_FAST },
    { "best", no_argument, NULL, OPT_BEST },
    { "lm-always", no_argument, NULL, OPT_LM_ALWAYS },
    { "no-mix", no_argument, NULL, OPT_NO_MIX },
    { "no-compact", no_argument, NULL, OPT_NO_COMPACT },
    { "mix-version", required_argument, NULL, OPT_MIX_VERSION },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

/* "built-in models: -1 lmz-t1, -2..-7 lmz-s2, -8..-9 lmz-m1", from the level table. */
static void print_level_models(void)
{
    fputs("                      built-in models:", stdout);
    for (int lo = LMZ_LEVEL_MIN; lo <= LMZ_LEVEL_MAX;) {
        lmz_builtin m = lmz_level_builtin(lo);
        int hi = lo;
        while (hi < LMZ_LEVEL_MAX && lmz_level_builtin(hi + 1) == m) hi++;
        if (hi > lo) printf(" -%d..-%d %s%s", lo, hi, lmz_builtin_model_name(m),
                            hi < LMZ_LEVEL_MAX ? "," : "\n");
        else printf(" -%d %s%s", lo, lmz_builtin_model_name(m), hi < LMZ_LEVEL_MAX ? "," : "\n");
        lo = hi + 1;
    }
}

void cli_print_help(void)
{
    fputs(
        "Usage: lmz [OPTION]... [FILE]...\n"
        "Compress or decompress FILEs with a transformer language model (.lmz format).\n"
        "With no FILE, or when FILE is -, read standard input and write standard output.\n"
        "\n"
        "  -z, --compress      compress (the default)\n"
        "  -d, --decompress    decompress FILE.lmz to FILE\n"
        "  -t, --test          decompress and verify, write nothing\n"
        "  -l, --list          list sizes, ratio and model of .lmz files (needs no model)\n"
        "  -c, --stdout        write to standard output, keep the input files\n"
        "  -o, --output=OUT    write to OUT (a single input only; - is standard output)\n"
        "  -k, --keep          keep the input files\n"
        "  -r, --recursive     FILE may be a directory: every file under it (links not\n"
        "                      followed; .lmz files skipped compressing, others\n"
        "                      decompressing)\n"
        "  -f, --force         overwrite outputs; read/write compressed data on a terminal;\n"
        "                      compress files already ending in .lmz, symlinks, hard links\n"
        "  -v, --verbose       per-file summary and a progress line\n"
        "  -q, --quiet         no warnings, no progress line\n"
        "  -1 .. -9            level: faster .. smaller (--fast = -1, --best = -9); with the\n",
        stdout);
    print_level_models();
    fputs(
        "  -T, --threads=N     worker threads; 0 (the default) = one per online CPU\n"
        "  -m, --model=FILE    GGUF model (default: $LMZ_MODEL, else the built-in models);\n"
        "                      decompress with the model that compressed (the built-in\n"
        "                      ones are found by themselves)\n"
        "  -n, --no-name       store no model or adapter name in the stream (as gzip -n:\n"
        "                      smaller streams; messages then give the ids)\n"
        "  -A, --adapter=PATH  LoRA adapter (lmz --train makes one): a FILE is applied to\n"
        "                      every file; a DIR of *.lora.gguf routes: each file gets the\n"
        "                      adapter (or none) that codes its opening bytes best.\n"
        "                      Decompressing, the stream's adapter is found in FILE or DIR\n"
        "      --train FILE... -o NAME.lora.gguf   train an adapter (lmz --train --help)\n"
        "      --simd=PATH     scalar, avx2, avx512, neon or auto (output is identical)\n"
        "      --chunk-size=N  bytes per independent chunk, suffix K or M (experts)\n"
        "      --context=N     model context in tokens (experts)\n"
        "      --lm-always     code every chunk with the model, even where the zstd or\n"
        "                      raw fallback would be smaller (tests, measurements)\n"
        "      --no-mix        the model alone, without the adaptive models of the\n"
        "                      stream: larger output, chunks independent (measurements)\n"
        "      --no-compact    a short input in the full layout too (~50 bytes more,\n"
        "                      but lmz -l can verify it without the model)\n"
        "      --mix-version=N the mixed coding to write: 3 (default), or 1 or 2 for\n"
        "                      older lmz decoders (1-3% larger output)\n"
        "  -h, --help          this help\n"
        "  -V, --version       versions and the built-in models\n"
        "\n"
        "Exit status: 0 success, 1 error, 2 warning (a file was skipped).\n"
        "Example: tar -I lmz -cf dir.tar.lmz dir; tar -I lmz -xf dir.tar.lmz\n",
        stdout);
}

__attribute__((format(printf, 1, 2)))
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lmz: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'lmz --help' for more information.\n", stderr);
}

/* zstd users type -19 and -22; getopt would read them as -1 -9 and -2 -2. */
static int refuse_long_levels(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) return 0;
        if (a[0] != '-' || a[1] < '0' || a[1] > '9') continue;
        size_t n = strspn(a + 1, "0123456789");
        if (a[1 + n] == '\0' && (n > 1 || a[1] == '0')) {
            usage_error("invalid level '%s': levels are -%d (fastest) .. -%d (smallest)", a,
                        LMZ_LEVEL_MIN, LMZ_LEVEL_MAX);
            return -1;
        }
    }
    return 0;
}

static int parse_simd(const char *s, lmz_simd *out)
{
    static const struct { const char *name; lmz_simd simd; } paths[] = {
        { "auto", LMZ_SIMD_AUTO }, { "scalar", LMZ_SIMD_SCALAR },
        { "avx2", LMZ_SIMD_AVX2 }, { "avx512", LMZ_SIMD_AVX512 },
        { "neon", LMZ_SIMD_NEON },
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (strcmp(s, paths[i].name) == 0) {
            *out = paths[i].simd;
            return 0;
        }
    return -1;
}

/* unlmz decompresses, lmzcat decompresses to standard output, as gunzip and zcat. */
static void defaults_from_program_name(struct cli_options *opt, const char *argv0)
{
    const char *slash = strrchr(argv0, '/');
    const char *name = slash ? slash + 1 : argv0;
    if (strcmp(name, "unlmz") == 0) {
        opt->mode = MODE_DECOMPRESS;
    } else if (strcmp(name, "lmzcat") == 0) {
        opt->mode = MODE_DECOMPRESS;
        opt->to_stdout = true;
    }
}

int cli_parse_options(struct cli_options *opt, int argc, char **argv)
{
    memset(opt, 0, sizeof *opt);
    opt->simd = LMZ_SIMD_AUTO;
    if (argc > 0)
        defaults_from_program_name(opt, argv[0]);

    int c;
    uint64_t v;
    opterr = 0;
    if (refuse_long_levels(argc, argv) != 0) return -1;
    while ((c = getopt_long(argc, argv, ":dztlco:kfrvqnT:m:A:hV123456789", long_options, NULL)) != -1) {
        switch (c) {
        case 'd': opt->mode = MODE_DECOMPRESS; break;
        case 'z': opt->mode = MODE_COMPRESS; break;
        case 't': opt->mode = MODE_TEST; break;
        case 'l': opt->mode = MODE_LIST; break;
        case 'c': opt->to_stdout = true; break;
        case 'o':
            if (strcmp(optarg, "-") == 0) {
                opt->to_stdout = true;
                opt->output = NULL;
            } else {
                if (*optarg == '\0') {
                    usage_error("empty output file name");
                    return -1;
                }
                opt->output = optarg;
            }
            break;
        case 'k': opt->keep = true; break;
        case 'r': opt->recursive = true; break;
        case 'f': opt->force = true; break;
        case 'v': opt->verbosity = 1; break;
        case 'q': opt->verbosity = -1; break;
        case 'T':
            if (arg_parse_u64(optarg, 0, LMZ_THREADS_MAX, ARG_NO_SUFFIX, &v) != 0) {
                usage_error("invalid thread count '%s' (0..%d; 0 = one per CPU)", optarg,
                            LMZ_THREADS_MAX);
                return -1;
            }
            opt->threads = (int)v;
            break;
        case 'm': opt->model_path = optarg; break;
        case 'A': opt->adapter_path = optarg; break;
        case 'n': opt->no_names = true; break;
        case OPT_SIMD:
            if (parse_simd(optarg, &opt->simd) != 0) {
                usage_error("invalid --simd '%s' (scalar, avx2, avx512, neon or auto)", optarg);
                return -1;
            }
            break;
        case OPT_CHUNK_SIZE:
            if (arg_parse_u64(optarg, 0, UINT32_MAX, ARG_IEC, &v) != 0) {
                usage_error("invalid --chunk-size '%s' (bytes, suffix K or M)", optarg);
                return -1;
            }
            opt->chunk_size = (uint32_t)v;
            break;
        case OPT_CONTEXT:
            if (arg_parse_u64(optarg, 0, UINT32_MAX, ARG_NO_SUFFIX, &v) != 0) {
                usage_error("invalid --context '%s' (tokens)", optarg);
                return -1;
            }
            opt->context = (uint32_t)v;
            break;
        case OPT_FAST: opt->level = 1; break;
        case OPT_BEST: opt->level = 9; break;
        case OPT_LM_ALWAYS: opt->lm_always = true; break;
        case OPT_NO_MIX: opt->no_mix = true; break;
        case OPT_NO_COMPACT: opt->no_compact = true; break;
        case OPT_MIX_VERSION:
            if (arg_parse_u64(optarg, 1, 3, ARG_NO_SUFFIX, &v) != 0) {
                usage_error("invalid --mix-version '%s' (1, 2 or 3)", optarg);
                return -1;
            }
            opt->mix_version = (int)v;
            break;
        case 'h': opt->help = true; break;
        case 'V': opt->version = true; break;
        case ':':
            usage_error("option '%s' needs an argument", argv[optind - 1]);
            return -1;
        case '?':
            if (optopt >= 256 || (!optopt && strchr(argv[optind - 1], '=')))
                fprintf(stderr, "lmz: option '%s' takes no value\n", argv[optind - 1]);
            else if (optopt)
                fprintf(stderr, "lmz: invalid option -- '%c'\n", optopt);
            else
                fprintf(stderr, "lmz: unrecognized option '%s'\n", argv[optind - 1]);
            fputs("Try 'lmz --help' for more information.\n", stderr);
            return -1;
        default:
            if (c >= '1' && c <= '9') {
                opt->level = c - '0';
                break;
            }
            return -1;
        }
    }
    /* argc may be 0 (execve allows it); getopt then leaves optind at 1 */
    int first = optind < argc ? optind : argc;
    opt->files = argv + first;
    opt->n_files = argc - first;

    if (opt->output && opt->to_stdout) {
        usage_error("-o OUT and -c cannot be used together");
        return -1;
    }
    if (opt->output && opt->n_files > 1) {
        usage_error("-o OUT takes a single input file");
        return -1;
    }
    if (opt->output && (opt->mode == MODE_TEST || opt->mode == MODE_LIST)) {
        usage_error("-o OUT makes no sense with -t or -l");
        return -1;
    }
    return 0;
}
