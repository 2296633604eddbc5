/*
 * messages.c -- "lmz: NAME: message" on stderr, and the exit status it implies (cli.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "cli/cli.h"

static void vmessage(const char *name, const char *fmt, va_list ap)
{
    fputs("lmz: ", stderr);
    if (name)
        fprintf(stderr, "%s: ", name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_error(struct cli *cli, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(name, fmt, ap);
    va_end(ap);
    cli->status = EXIT_ERROR;
}

void cli_warning(struct cli *cli, const char *name, const char *fmt, ...)
{
    if (cli->opt.verbosity >= 0) {
        va_list ap;
        va_start(ap, fmt);
        vmessage(name, fmt, ap);
        va_end(ap);
    }
    if (cli->status == EXIT_OK)
        cli->status = EXIT_WARNING;
}
