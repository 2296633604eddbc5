/*
 * signals.h -- SIGINT/SIGTERM/SIGHUP stop the work cleanly instead of killing the program
 * with a half-written output file.
 *
 * The handler only records the signal.  The library notices through the progress callback
 * and the read/write callbacks (which return "stop"), the temporary output is removed, and
 * only then does the program die by the same signal, so a calling shell sees the usual
 * 130/143 status.
 */
#ifndef LMZ_CLI_SIGNALS_H
#define LMZ_CLI_SIGNALS_H

/* Catch SIGINT, SIGTERM and SIGHUP (those not ignored on entry, like nohup's SIGHUP),
 * and ignore SIGXFSZ so that exceeding `ulimit -f` is an EFBIG write error. */
void signals_install(void);

/* The signal number that asked to stop, or 0. */
int signals_pending(void);

/* Die by the pending signal (exit 128 + signal if it somehow returns). */
_Noreturn void signals_die(void);

#endif
