/* maxsim.h: late-interaction scoring kernels.
 *   MaxSim(q, c) = sum over i < r_q of max over j < r_c of <q_i, c_j>
 * q is r_q x dim float32, contiguous. The document is r_c stored vectors of
 * `dtype`, stride mx_vector_bytes(dtype, dim), possibly unaligned (it points
 * into the LMDB map); int8 vectors are (f32 scale, dim x i8). */
#ifndef MX_QUERY_MAXSIM_H
#define MX_QUERY_MAXSIM_H

#include <stdint.h>

#include "cpu.h"
#include "metaidx.h"

typedef float (*mx_maxsim_fn)(const float *q, uint32_t r_q, const void *doc, uint32_t r_c,
                              uint32_t dim);

/* The kernel for a dtype at a SIMD level (MX_SIMD_SCALAR is the reference). */
mx_maxsim_fn mx_maxsim_kernel(mx_dtype dtype, mx_simd_level level);

/* The kernel for a dtype at mx_simd_level_get(). */
mx_maxsim_fn mx_maxsim_best(mx_dtype dtype);

/* Scalar reference, double accumulation, for tests. */
double mx_maxsim_reference(mx_dtype dtype, const float *q, uint32_t r_q, const void *doc,
                           uint32_t r_c, uint32_t dim);

#endif
