/* pool.c: mx_parallel_for, with a shared atomic cursor handing out items. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct pool_job {
  mx_task_fn fn;
  void *ctx;
  size_t n;
  atomic_size_t next;
} pool_job;

typedef struct pool_worker {
  pool_job *job;
  unsigned id;
} pool_worker;

static void *pool_run(void *arg) {
  pool_worker *w = arg;
  pool_job *job = w->job;
  for (;;) {
    size_t item = atomic_fetch_add(&job->next, 1);
    if (item >= job->n)
      break;
    job->fn(job->ctx, item, w->id);
  }
  return NULL;
}

unsigned mx_cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1u;
}

void mx_parallel_for(unsigned threads, size_t n, mx_task_fn fn, void *ctx) {
  if (threads == 0)
    threads = mx_cpu_count();
  if (threads > n)
    threads = n > 0 ? (unsigned)n : 1u;
  pool_job job = {.fn = fn, .ctx = ctx, .n = n};
  atomic_init(&job.next, 0);
  pool_worker *workers = calloc(threads, sizeof *workers);
  pthread_t *tids = calloc(threads, sizeof *tids);
  unsigned started = 0;
  if (workers && tids) {
    for (unsigned t = 1; t < threads; t++) {
      workers[t] = (pool_worker){.job = &job, .id = t};
      if (pthread_create(&tids[t], NULL, pool_run, &workers[t]) != 0)
        break;
      started = t;
    }
  }
  pool_worker self = {.job = &job, .id = 0};
  pool_run(&self);
  for (unsigned t = 1; t <= started; t++)
    pthread_join(tids[t], NULL);
  free(workers);
  free(tids);
}
