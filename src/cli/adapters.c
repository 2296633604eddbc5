/*
 * adapters.c -- -A: one adapter file (applied to every file compressed), or a directory
 * whose *.lora.gguf files, in name order, the library routes among.  Decompressing,
 * either way, the library finds each stream's adapter among them.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted paths of DIR's *.lora.gguf files. */
static char **list_dir(struct cli *cli, const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d) {
        cli_error(cli, dir, "cannot read the adapter directory: %s", strerror(errno));
        return NULL;
    }
    char **paths = NULL;
    size_t cap = 0;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len <= 10 || strcmp(e->d_name + len - 10, ".lora.gguf") != 0) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            char **p = realloc(paths, cap * sizeof *p);
            if (!p) break;
            paths = p;
        }
        size_t dl = strlen(dir);
        char *path = malloc(dl + len + 2);
        if (!path) break;
        snprintf(path, dl + len + 2, "%s/%s", dir, e->d_name);
        paths[(*n)++] = path;
    }
    closedir(d);
    if (*n) qsort(paths, *n, sizeof *paths, by_name);
    return paths;
}

int cli_load_adapters(struct cli *cli)
{
    const char *path = cli->opt.adapter_path;
    if (!path) return 0;
    struct stat st;
    if (stat(path, &st) != 0) {
        cli_error(cli, path, "cannot open the adapter: %s", strerror(errno));
        return -1;
    }
    int route = S_ISDIR(st.st_mode);
    char **paths = NULL;
    size_t n = 1;
    if (route) {
        paths = list_dir(cli, path, &n);
        if (!paths && n == 0) {
            if (cli->status) return -1;
            cli_error(cli, path, "the directory holds no *.lora.gguf adapter");
            return -1;
        }
    }
    cli->adapters = calloc(n, sizeof *cli->adapters);
    int rc = cli->adapters ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        lmz_error err = { 0 };
        const char *p = route ? paths[i] : path;
        cli->adapters[i] = lmz_adapter_open(p, &err);
        if (!cli->adapters[i]) {
            cli_error(cli, NULL, "%s", err.message);
            rc = -1;
        }
        cli->n_adapters = i + 1;
    }
    for (size_t i = 0; route && i < n; i++) free(paths[i]);
    free(paths);
    /* Only compression applies an adapter up front (and checks that it fits the model
     * of the level); decompression finds each stream's among them, for whichever
     * built-in model made the stream. */
    int route_or_defer = route || cli->opt.mode != MODE_COMPRESS;
    if (rc == 0 &&
        lmz_ctx_set_adapters(cli->ctx, (const lmz_adapter *const *)cli->adapters, n,
                             route_or_defer) != LMZ_OK) {
        cli_error(cli, NULL, "%s", lmz_ctx_error(cli->ctx));
        rc = -1;
    }
    return rc;
}

void cli_free_adapters(struct cli *cli)
{
    for (size_t i = 0; i < cli->n_adapters; i++) lmz_adapter_close(cli->adapters[i]);
    free(cli->adapters);
    cli->adapters = NULL;
    cli->n_adapters = 0;
}
