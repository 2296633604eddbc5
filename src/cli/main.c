/*
 * main.c -- lmz: compress and decompress files with a transformer language model.
 *
 * Options are parsed (options.c), the model is loaded once and one context made, then
 * each operand is processed in turn (process.c, list.c).  A failure with one file is
 * reported and the others still run; the exit status is the worst seen.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/signals.h"
#include "lib/internal.h"   /* the level's chunk size: which files to batch */

/* -m, else $LMZ_MODEL, else none: the context then uses the built-in models.  -1 after
 * a message. */
static int load_model(struct cli *cli)
{
    lmz_error err = { 0 };
    const char *path = cli->opt.model_path;
    const char *from = "-m";
    if (!path || !*path) {
        path = getenv("LMZ_MODEL");
        from = "LMZ_MODEL";
    }
    if (!path || !*path) return 0;
    cli->model = lmz_model_open(path, &err);
    if (!cli->model) {
        cli_error(cli, NULL, "cannot load the model named by %s: %s", from,
                  err.message[0] ? err.message : lmz_status_string(err.status));
        return -1;
    }
    return 0;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static lmz_ctx *make_context(struct cli *cli)
{
    lmz_params params;
    lmz_params_default(&params);
    params.level = cli->opt.level;
    params.threads = cli->opt.threads > 0 ? cli->opt.threads : online_cpus();
    params.chunk_size = cli->opt.chunk_size;
    params.context = cli->opt.context;
    params.simd = cli->opt.simd;
    params.lm_always = cli->opt.lm_always;
    params.no_mix = cli->opt.no_mix;
    params.no_compact = cli->opt.no_compact;
    params.mix_version = cli->opt.mix_version;
    params.no_names = cli->opt.no_names;
    params.progress = progress_callback;
    params.progress_user = &cli->progress;
    lmz_error err = { 0 };
    lmz_ctx *ctx = cli->model ? lmz_ctx_new(cli->model, &params, &err)
                              : lmz_ctx_new_builtin(&params, &err);
    if (!ctx)
        cli_error(cli, NULL, "%s", err.message[0] ? err.message : lmz_status_string(err.status));
    return ctx;
}

static void print_version(struct cli *cli)
{
    printf("lmz %s (liblmz %s)\n", LMZ_VERSION_STRING, lmz_version_string());
    const char *name;
    for (int i = 0; (name = lmz_builtin_model_name(i)); i++) {
        lmz_error err = { 0 };
        lmz_model *model = lmz_model_builtin(name, &err);
        if (!model) {
            printf("built-in model: %s is not built in\n", name);
            continue;
        }
        lmz_model_info info;
        lmz_model_get_info(model, &info);
        printf("built-in model: %s (%s, %llu parameters, %u layers, vocabulary %u)\n",
               info.name, info.arch, (unsigned long long)info.n_params, info.n_layer,
               info.n_vocab);
        lmz_model_close(model);
    }
    if (cli->opt.verbosity > 0) {
        lmz_ctx *ctx = make_context(cli);
        if (ctx)
            printf("SIMD path: %s\n", lmz_simd_name(lmz_ctx_simd(ctx)));
        lmz_ctx_free(ctx);
    }
}

/* Does any operand send compressed data to standard output? */
static bool compresses_to_stdout(const struct cli_options *opt, char **files, int n)
{
    if (opt->mode != MODE_COMPRESS)
        return false;
    if (opt->to_stdout)
        return true;
    for (int i = 0; i < n; i++)
        if (strcmp(files[i], "-") == 0 && !opt->output)
            return true;
    return false;
}

static void cleanup(struct cli *cli)
{
    lmz_ctx_free(cli->ctx);
    cli_free_adapters(cli);
    lmz_model_close(cli->model);
    cli->ctx = NULL;
    cli->model = NULL;
}

/* Files coded side by side at most: their bytes are all in memory at once. */
#define BATCH_FILES 256

int main(int argc, char **argv)
{
    int status;
    if (cli_run_subcommand(argc, argv, &status))
        return status;
    struct cli cli;
    memset(&cli, 0, sizeof cli);
    if (cli_parse_options(&cli.opt, argc, argv) != 0)
        return EXIT_ERROR;
    if (cli.opt.help) {
        cli_print_help();
        return EXIT_OK;
    }
    if (cli.opt.version) {
        print_version(&cli);
        return EXIT_OK;
    }
    cli.umask = umask(0);
    umask(cli.umask);
    signals_install();

    static char *stdin_only[] = { "-", NULL };
    char **files = cli.opt.n_files ? cli.opt.files : stdin_only;
    int n_files = cli.opt.n_files ? cli.opt.n_files : 1;
    char **expanded = NULL;
    if (cli.opt.recursive && cli.opt.mode != MODE_LIST) {
        if (!(expanded = cli_expand_recursive(&cli, files, n_files, &n_files)))
            return EXIT_ERROR;
        files = expanded;
        if (cli.opt.output && n_files > 1) {
            cli_error(&cli, NULL, "-o OUT takes a single input file");
            cli_free_expanded(expanded, n_files);
            return EXIT_ERROR;
        }
    }

    if (compresses_to_stdout(&cli.opt, files, n_files) && isatty(STDOUT_FILENO) &&
        !cli.opt.force) {
        cli_error(&cli, NULL, "compressed data not written to a terminal (use -f to force)");
        if (expanded) cli_free_expanded(expanded, n_files);
        return EXIT_ERROR;
    }
    cli.progress.enabled = cli.opt.verbosity > 0 ||
                           (cli.opt.verbosity == 0 && isatty(STDERR_FILENO));

    if (cli.opt.mode == MODE_LIST) {
        struct list_totals totals = { 0 };
        for (int i = 0; i < n_files && !signals_pending(); i++)
            cli_list(&cli, files[i], &totals);
        cli_list_totals(&totals);
        if (fflush(stdout) != 0)
            cli_error(&cli, NULL, "write error: %s", strerror(errno));
    } else {
        if (load_model(&cli) != 0 || !(cli.ctx = make_context(&cli)) ||
            cli_load_adapters(&cli) != 0) {
            cleanup(&cli);
            if (expanded) cli_free_expanded(expanded, n_files);
            return EXIT_ERROR;
        }
        /* Many small files: side by side, a window at a time (memory: the window's
         * files).  A file of one chunk is coded alone exactly as in a batch. */
        uint64_t small = cli.ctx ? lmz__level_chunk_size(cli.ctx) : 0;
        if (n_files > 1 && cli_batchable(&cli) && small) {
            for (int i = 0; i < n_files && !signals_pending(); i += BATCH_FILES)
                cli_process_batch(&cli, files + i,
                                  n_files - i < BATCH_FILES ? n_files - i : BATCH_FILES, small);
        } else {
            for (int i = 0; i < n_files && !signals_pending(); i++)
                cli_process(&cli, files[i]);
        }
    }
    cleanup(&cli);
    if (expanded) cli_free_expanded(expanded, n_files);
    if (signals_pending())
        signals_die();
    return cli.status;
}
