/*
 * threadpool.h -- a fixed set of persistent worker threads that run "task i of n" jobs.
 *
 * tp_run(pool, n_tasks, fn, arg) calls fn(arg, i, thread) once for every i in [0, n_tasks)
 * and returns when all calls are done.  The calling thread takes part (it is thread 0),
 * so a pool of 1 thread runs everything inline and starts no thread at all.  Which thread
 * runs which task is not fixed (tasks are handed out in order to whoever is free), so a
 * task must write only its own outputs and compute them the same way on any thread: that
 * is what makes results independent of the thread count (doc/determinism.md).
 *
 * Workers run with the default floating-point environment (on x86: MXCSR round to
 * nearest, no FTZ/DAZ; on AArch64: FPCR = 0); the caller's thread keeps its own.
 *
 * One thread at a time may call tp_run on a pool.  tp_run allocates nothing.
 */
#ifndef LMZ_THREADPOOL_H
#define LMZ_THREADPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct tp_pool tp_pool;

/* fn(arg, task index, thread index in [0, tp_threads(pool))). */
typedef void (*tp_task_fn)(void *arg, uint32_t task, uint32_t thread);

/* n_threads >= 1 (values < 1 are taken as 1).  NULL if threads cannot be created. */
tp_pool *tp_new(int n_threads);
void tp_free(tp_pool *pool);
uint32_t tp_threads(const tp_pool *pool);

void tp_run(tp_pool *pool, uint32_t n_tasks, tp_task_fn fn, void *arg);

#endif
