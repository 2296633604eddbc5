/*
 * threadpool.c -- persistent pthread workers; see threadpool.h.
 *
 * A job is published by bumping `gen`; workers (and the caller) take task indices from the
 * atomic counter `next` until it runs past n_tasks.  Waiting spins for a short while first
 * (a forward pass issues a few hundred jobs back to back, a futex sleep/wake per job would
 * cost more than small jobs themselves), then sleeps on a condition variable so that idle
 * pools cost nothing on a loaded machine.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "util/threadpool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

/* Waiting: TP_SPIN pause iterations (a few microseconds), then TP_YIELD sched_yield()s,
 * then sleep.  Short on purpose: on a machine with more runnable threads than cores, a
 * spinning waiter steals the core the thread it waits for needs. */
#define TP_SPIN 256
#define TP_YIELD 8

struct tp_pool {
    uint32_t n;                 /* threads including the caller */
    pthread_t *threads;         /* n - 1 workers */
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    atomic_uint_fast64_t gen;   /* bumped once per job */
    atomic_uint next;           /* next task index to hand out */
    atomic_uint busy;           /* workers not yet finished with the current job */
    int stop;                   /* under mu (and read through gen's release) */
    /* The current job: written by tp_run before gen is bumped. */
    tp_task_fn fn;
    void *arg;
    uint32_t n_tasks;
};

typedef struct worker_arg { tp_pool *pool; uint32_t id; } worker_arg;

/* Workers run with the default floating-point environment (round to nearest, no
 * flush-to-zero / denormals-are-zero), whatever the creating thread had: results of the
 * tasks must not depend on which thread ran them. */
static void default_fp_env(void)
{
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(0x1f80u);
#elif defined(__aarch64__)
    __asm__ __volatile__("msr fpcr, %0" : : "r"((uint64_t)0));   /* see forward.c */
#endif
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void run_tasks(tp_pool *p, uint32_t thread)
{
    for (;;) {
        uint32_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->n_tasks) break;
        p->fn(p->arg, i, thread);
    }
}

static void *worker_main(void *varg)
{
    worker_arg wa = *(worker_arg *)varg;
    free(varg);
    tp_pool *p = wa.pool;
    uint_fast64_t seen = 0;
    default_fp_env();
    for (;;) {
        uint_fast64_t g = atomic_load_explicit(&p->gen, memory_order_acquire);
        for (int s = 0; g == seen && s < TP_SPIN + TP_YIELD; s++) {
            if (s < TP_SPIN) cpu_relax();
            else sched_yield();
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && !p->stop)
                pthread_cond_wait(&p->cv_work, &p->mu);
            int stop = p->stop;
            pthread_mutex_unlock(&p->mu);
            if (stop) return NULL;
        }
        seen = g;
        run_tasks(p, wa.id);
        if (atomic_fetch_sub_explicit(&p->busy, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

tp_pool *tp_new(int n_threads)
{
    tp_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads < 1 ? 1 : (uint32_t)n_threads;
    atomic_init(&p->gen, 0);
    atomic_init(&p->next, 0);
    atomic_init(&p->busy, 0);
    if (p->n == 1) return p;
    p->threads = calloc(p->n - 1, sizeof *p->threads);
    if (!p->threads) { free(p); return NULL; }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    for (uint32_t i = 1; i < p->n; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) { wa->pool = p; wa->id = i; }
        if (!wa || pthread_create(&p->threads[i - 1], NULL, worker_main, wa) != 0) {
            free(wa);
            p->n = i;            /* tp_free joins the ones that started */
            tp_free(p);
            return NULL;
        }
    }
    return p;
}

void tp_free(tp_pool *p)
{
    if (!p) return;
    if (p->threads) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_broadcast(&p->cv_work);
        pthread_mutex_unlock(&p->mu);
        for (uint32_t i = 1; i < p->n; i++) pthread_join(p->threads[i - 1], NULL);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv_work);
        pthread_cond_destroy(&p->cv_done);
        free(p->threads);
    }
    free(p);
}

uint32_t tp_threads(const tp_pool *p) { return p->n; }

void tp_run(tp_pool *p, uint32_t n_tasks, tp_task_fn fn, void *arg)
{
    if (p->n == 1 || n_tasks <= 1) {
        for (uint32_t i = 0; i < n_tasks; i++) fn(arg, i, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->busy, p->n - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);

    run_tasks(p, 0);

    for (int s = 0; s < TP_SPIN + TP_YIELD; s++) {
        if (atomic_load_explicit(&p->busy, memory_order_acquire) == 0) return;
        if (s < TP_SPIN) cpu_relax();
        else sched_yield();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->busy, memory_order_acquire) != 0)
        pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
