/*
 * recurse.c -- -r: the operands with every directory replaced by the files under it,
 * as gzip -r and zstd -r do.  Symbolic links are not followed (a link to a directory
 * could loop, and a link's target may lie outside the tree); files that the mode would
 * only skip (an .lmz file when compressing, a file without the suffix when
 * decompressing) are left out silently.  Files come in name order, so a run is
 * repeatable.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* nftw's callback has no user pointer: the walk in progress. */
static struct walk {
    struct cli *cli;
    char **files;
    size_t n, cap;
    int failed;
} *walk;

static int wanted(const struct cli *cli, const char *path)
{
    size_t n = strlen(path), s = strlen(LMZ_SUFFIX);
    int lmz = n > s && strcmp(path + n - s, LMZ_SUFFIX) == 0;
    return cli->opt.mode == MODE_COMPRESS ? !lmz : lmz;
}

static int add(const char *path)
{
    if (walk->n == walk->cap) {
        size_t cap = walk->cap ? 2 * walk->cap : 64;
        char **f = realloc(walk->files, cap * sizeof *f);
        if (!f) return -1;
        walk->files = f;
        walk->cap = cap;
    }
    if (!(walk->files[walk->n] = strdup(path))) return -1;
    walk->n++;
    return 0;
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DNR || type == FTW_NS) {
        cli_error(walk->cli, path, "cannot read: %s", strerror(errno));
        return 0;
    }
    if (type == FTW_F && (!S_ISREG(st->st_mode) || !wanted(walk->cli, path))) return 0;
    if (type != FTW_F) return 0;
    if (add(path) != 0) {
        walk->failed = 1;
        return 1;
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **cli_expand_recursive(struct cli *cli, char **operands, int n, int *n_out)
{
    struct walk w = { cli, NULL, 0, 0, 0 };
    walk = &w;
    for (int i = 0; i < n && !w.failed; i++) {
        struct stat st;
        if (strcmp(operands[i], "-") != 0 && lstat(operands[i], &st) == 0 &&
            S_ISDIR(st.st_mode)) {
            size_t first = w.n;
            if (nftw(operands[i], visit, 32, FTW_PHYS) != 0 && !w.failed)
                cli_error(cli, operands[i], "%s", strerror(errno));
            qsort(w.files + first, w.n - first, sizeof *w.files, by_name);
        } else if (add(operands[i]) != 0) {
            w.failed = 1;
        }
    }
    walk = NULL;
    if (w.failed) {
        cli_error(cli, NULL, "out of memory");
        cli_free_expanded(w.files, (int)w.n);
        return NULL;
    }
    *n_out = (int)w.n;
    return w.files;
}

void cli_free_expanded(char **files, int n)
{
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
}
