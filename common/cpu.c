/* cpu.c: cpuid-based SIMD detection with the MX_SIMD=scalar override. */
#include "cpu.h"

#include <pthread.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "metaidx.h"

static mx_simd_level detected = MX_SIMD_SCALAR;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

static int hw_avx2 = 0;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void probe(void) {
#if defined(__x86_64__) || defined(__i386__)
  /* cpuid directly: clang 14's __builtin_cpu_supports does not know "f16c".
   * AVX needs the OS to save YMM state (OSXSAVE, then XCR0 bits 1 and 2). */
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d))
    return;
  int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
  if (!(fma && osxsave && avx && f16c))
    return;
  unsigned xcr0_lo, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & 6) != 6)
    return;
  if (__get_cpuid_max(0, NULL) < 7)
    return;
  __cpuid_count(7, 0, a, b, c, d);
  if ((b >> 5) & 1) /* AVX2 */
    hw_avx2 = 1;
#endif
}

int mx_cpu_has_avx2(void) {
  pthread_once(&probe_once, probe);
  return hw_avx2;
}

static void detect(void) {
  const char *forced = getenv("MX_SIMD");
  if (forced && strcmp(forced, "scalar") == 0)
    return;
  if (mx_cpu_has_avx2())
    detected = MX_SIMD_AVX2;
}

mx_simd_level mx_simd_level_get(void) {
  pthread_once(&detect_once, detect);
  return detected;
}

const char *mx_simd_level_name(mx_simd_level level) {
  return level == MX_SIMD_AVX2 ? "avx2" : "scalar";
}

const char *mx_simd_path(void) { return mx_simd_level_name(mx_simd_level_get()); }
