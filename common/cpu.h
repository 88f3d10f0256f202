/* cpu.h: which SIMD path to run, decided once per process. */
#ifndef MX_COMMON_CPU_H
#define MX_COMMON_CPU_H

typedef enum mx_simd_level {
  MX_SIMD_SCALAR = 0, /* portable reference code */
  MX_SIMD_AVX2 = 1    /* AVX2 + FMA + F16C */
} mx_simd_level;

/* The best level this CPU supports, lowered to MX_SIMD_SCALAR when the
 * environment says MX_SIMD=scalar. Computed on first call; thread-safe. */
mx_simd_level mx_simd_level_get(void);

/* Whether this CPU (and OS) can run the AVX2 + FMA + F16C code, whatever
 * MX_SIMD says. Uses cpuid directly (compilers differ in which feature
 * names __builtin_cpu_supports knows: clang 14 lacks "f16c"). */
int mx_cpu_has_avx2(void);

/* "scalar" or "avx2". */
const char *mx_simd_level_name(mx_simd_level level);

#endif
