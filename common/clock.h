/* clock.h: monotonic time for statistics and benchmarks. */
#ifndef MX_COMMON_CLOCK_H
#define MX_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t mx_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double mx_ms_since(uint64_t start_ns) { return (double)(mx_now_ns() - start_ns) / 1e6; }

#endif
