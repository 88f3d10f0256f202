/* maxsim.h: late-interaction scoring kernels.
 *   MaxSim(q, c) = sum over i < r_q of max over j < r_c of <q_i, c_j>
 * q is r_q x dim float32, contiguous, any alignment. The document is r_c
 * stored vectors of `dtype`, stride mx_maxsim_stride(dtype, dim) (the same as
 * storage's mx_vector_bytes), possibly unaligned (it points into the LMDB map:
 * 2-byte aligned at best, 1-byte for int8 with odd dim); int8 vectors are
 * (f32 little-endian scale, dim x i8), value = scale * q.
 * r_q == 0 or r_c == 0 gives 0. dim == 0 gives 0. Kernels are pure functions
 * of their arguments: thread-safe, no allocation. */
#ifndef MX_QUERY_MAXSIM_H
#define MX_QUERY_MAXSIM_H

#include <stddef.h>
#include <stdint.h>

#include "cpu.h"
#include "metaidx.h"

/* Bytes of one stored vector of `dtype` (f32 4*dim, f16/bf16 2*dim, int8
 * 4 + dim); 0 for an unknown dtype. Kept here so query/ kernels need no
 * storage/ code. */
static inline size_t mx_maxsim_stride(mx_dtype dtype, uint32_t dim) {
  switch (dtype) {
  case MX_DTYPE_F32:
    return (size_t)dim * 4;
  case MX_DTYPE_F16:
  case MX_DTYPE_BF16:
    return (size_t)dim * 2;
  case MX_DTYPE_INT8:
    return 4 + (size_t)dim;
  }
  return 0;
}

typedef float (*mx_maxsim_fn)(const float *q, uint32_t r_q, const void *doc, uint32_t r_c,
                              uint32_t dim);

/* The kernel for a dtype at a SIMD level (MX_SIMD_SCALAR is the reference,
 * float accumulation). NULL for an unknown dtype or level, or a level not
 * compiled into this build. It does not check that the CPU supports the
 * level: that is mx_maxsim_best's job. */
mx_maxsim_fn mx_maxsim_kernel(mx_dtype dtype, mx_simd_level level);

/* The kernel for a dtype at mx_simd_level_get() (so MX_SIMD=scalar selects
 * the reference); NULL for an unknown dtype. Fetch it once per search. */
mx_maxsim_fn mx_maxsim_best(mx_dtype dtype);

/* Scalar reference, double accumulation, for tests. Same conventions. */
double mx_maxsim_reference(mx_dtype dtype, const float *q, uint32_t r_q, const void *doc,
                           uint32_t r_c, uint32_t dim);

#endif
