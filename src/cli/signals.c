/* signals.c -- see signals.h. */
#include "cli/signals.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* The one piece of global state: a signal handler has nowhere else to write. */
static volatile sig_atomic_t pending_signal;

static void on_signal(int signo)
{
    if (!pending_signal)
        pending_signal = signo;
}

void signals_install(void)
{
    static const int caught[] = { SIGINT, SIGTERM, SIGHUP };
    for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++) {
        struct sigaction old;
        if (sigaction(caught[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        /* No SA_RESTART: a read blocked on a pipe returns EINTR and the work stops. */
        sa.sa_flags = 0;
        sigaction(caught[i], &sa, NULL);
    }
    signal(SIGXFSZ, SIG_IGN);
}

int signals_pending(void)
{
    return pending_signal;
}

_Noreturn void signals_die(void)
{
    int signo = pending_signal;
    signal(signo, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(signo);
    exit(128 + signo);
}
