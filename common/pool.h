/* pool.h: a minimal parallel-for over POSIX threads. */
#ifndef MX_COMMON_POOL_H
#define MX_COMMON_POOL_H

#include <stddef.h>

/* Called once per item; `worker` is in [0, threads) and unique among the
 * calls running at the same moment, so it can index per-thread scratch. */
typedef void (*mx_task_fn)(void *ctx, size_t item, unsigned worker);

/* Runs fn for every item in [0, n) on up to `threads` threads (the calling
 * thread is one of them), handing items out one at a time, and returns when
 * all are done. threads == 0 means one per online CPU. If threads cannot be
 * started, the remaining work runs on fewer threads; the result is the same. */
void mx_parallel_for(unsigned threads, size_t n, mx_task_fn fn, void *ctx);

/* Online CPUs (at least 1). */
unsigned mx_cpu_count(void);

#endif
