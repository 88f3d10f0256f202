/* maxsim.h: late-interaction scoring kernels.
 *   MaxSim(q, c) = sum over i < r_q of max over j < r_c of <q_i, c_j>
 * q is r_q x dim float32, contiguous, any alignment. The document is r_c
 * stored vectors of `dtype`, stride mx_vector_bytes(dtype, dim)
 * (common/dtype.h), possibly unaligned (it points into the LMDB map:
 * 2-byte aligned at best, 1-byte for int8 with odd dim); int8 vectors are
 * (f32 little-endian scale, dim x i8), value = scale * q.
 * r_q == 0 or r_c == 0 gives 0. dim == 0 gives 0. Kernels are pure functions
 * of their arguments: thread-safe, no allocation. */
#ifndef MX_QUERY_MAXSIM_H
#define MX_QUERY_MAXSIM_H

#include <stddef.h>
#include <stdint.h>

#include "cpu.h"
#include "dtype.h"
#include "metaidx.h"

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
