/* maxsim.c: the MaxSim kernel table and the once-per-process dispatch. */
#include "maxsim.h"

#include <pthread.h>
#include <stddef.h>

#include "maxsim_internal.h"

#define N_DTYPES 4

static const mx_maxsim_fn scalar_kernels[N_DTYPES] = {
    [MX_DTYPE_F32] = mx_maxsim_f32_scalar,
    [MX_DTYPE_F16] = mx_maxsim_f16_scalar,
    [MX_DTYPE_BF16] = mx_maxsim_bf16_scalar,
    [MX_DTYPE_INT8] = mx_maxsim_int8_scalar,
};

#ifdef MX_HAVE_AVX2_KERNELS
static const mx_maxsim_fn avx2_kernels[N_DTYPES] = {
    [MX_DTYPE_F32] = mx_maxsim_f32_avx2,
    [MX_DTYPE_F16] = mx_maxsim_f16_avx2,
    [MX_DTYPE_BF16] = mx_maxsim_bf16_avx2,
    [MX_DTYPE_INT8] = mx_maxsim_int8_avx2,
};
#endif

mx_maxsim_fn mx_maxsim_kernel(mx_dtype dtype, mx_simd_level level) {
  if ((unsigned)dtype >= N_DTYPES)
    return NULL;
  switch (level) {
  case MX_SIMD_SCALAR:
    return scalar_kernels[dtype];
  case MX_SIMD_AVX2:
#ifdef MX_HAVE_AVX2_KERNELS
    return avx2_kernels[dtype];
#else
    return NULL;
#endif
  }
  return NULL;
}

static mx_maxsim_fn best[N_DTYPES];
static pthread_once_t best_once = PTHREAD_ONCE_INIT;

static void choose(void) {
  mx_simd_level level = mx_simd_level_get();
  for (unsigned d = 0; d < N_DTYPES; d++) {
    mx_maxsim_fn fn = mx_maxsim_kernel((mx_dtype)d, level);
    best[d] = fn ? fn : scalar_kernels[d];
  }
}

mx_maxsim_fn mx_maxsim_best(mx_dtype dtype) {
  if ((unsigned)dtype >= N_DTYPES)
    return NULL;
  pthread_once(&best_once, choose);
  return best[dtype];
}
