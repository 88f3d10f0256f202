/* peak_avx2.c: this machine's single-core ceilings, measured beside the
 * kernel figures: AVX2 FMA throughput and memory read bandwidth. Built with
 * avx2_args; call only when the CPU has AVX2 + FMA. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_peak.h"
#include "clock.h"

double mx_bench_fma_peak_gflops(uint64_t iters) {
  /* 12 independent chains: enough to cover 2 FMA/cycle x 4-5 cycles latency. */
  __m256 a[12];
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 12; i++)
    a[i] = _mm256_set1_ps((float)i);
  uint64_t t0 = mx_now_ns();
  for (uint64_t n = 0; n < iters; n++) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++)
      a[i] = _mm256_fmadd_ps(a[i], x, y);
  }
  double sec = (double)(mx_now_ns() - t0) / 1e9;
  __m256 s = a[0];
  for (int i = 1; i < 12; i++)
    s = _mm256_add_ps(s, a[i]);
  volatile float sink = _mm256_cvtss_f32(s);
  (void)sink;
  return (double)iters * 12 * 8 * 2 / sec / 1e9;
}

double mx_bench_read_gbps(const void *buf, size_t bytes) {
  const float *p = buf; /* 32-byte aligned, bytes a multiple of 256 */
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  size_t n = bytes / 4;
  uint64_t t0 = mx_now_ns();
  for (size_t i = 0; i + 64 <= n; i += 64) {
    s0 = _mm256_add_ps(s0, _mm256_load_ps(p + i));
    s1 = _mm256_add_ps(s1, _mm256_load_ps(p + i + 8));
    s2 = _mm256_add_ps(s2, _mm256_load_ps(p + i + 16));
    s3 = _mm256_add_ps(s3, _mm256_load_ps(p + i + 24));
    s4 = _mm256_add_ps(s4, _mm256_load_ps(p + i + 32));
    s5 = _mm256_add_ps(s5, _mm256_load_ps(p + i + 40));
    s6 = _mm256_add_ps(s6, _mm256_load_ps(p + i + 48));
    s7 = _mm256_add_ps(s7, _mm256_load_ps(p + i + 56));
  }
  double sec = (double)(mx_now_ns() - t0) / 1e9;
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)),
                           _mm256_add_ps(_mm256_add_ps(s4, s5), _mm256_add_ps(s6, s7)));
  volatile float sink = _mm256_cvtss_f32(s);
  (void)sink;
  return (double)bytes / sec / 1e9;
}
