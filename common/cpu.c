/* cpu.c: cpuid-based SIMD detection with the MX_SIMD=scalar override. */
#include "cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metaidx.h"

static mx_simd_level detected = MX_SIMD_SCALAR;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

static void detect(void) {
  const char *forced = getenv("MX_SIMD");
  if (forced && strcmp(forced, "scalar") == 0)
    return;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    detected = MX_SIMD_AVX2;
#endif
}

mx_simd_level mx_simd_level_get(void) {
  pthread_once(&detect_once, detect);
  return detected;
}

const char *mx_simd_level_name(mx_simd_level level) {
  return level == MX_SIMD_AVX2 ? "avx2" : "scalar";
}

const char *mx_simd_path(void) { return mx_simd_level_name(mx_simd_level_get()); }
