/* bench_peak.h: machine ceilings for the kernel benchmark (peak_avx2.c). */
#ifndef MX_BENCH_PEAK_H
#define MX_BENCH_PEAK_H

#include <stddef.h>
#include <stdint.h>

/* GFLOP/s of `iters` rounds of 12 independent 8-lane FMA chains. */
double mx_bench_fma_peak_gflops(uint64_t iters);
/* GB/s of one pass summing buf (32-byte aligned, multiple of 256 bytes). */
double mx_bench_read_gbps(const void *buf, size_t bytes);

#endif
