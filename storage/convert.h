/* convert.h: element conversions between input and stored dtypes. Each has
 * a scalar reference and an AVX2/F16C version chosen by mx_simd_level_get();
 * mx_convert_vectors_at picks one explicitly (and falls back to scalar when
 * the CPU lacks AVX2), so tests can compare them; the per-ISA entry points
 * and the shared int8 rule are in convert_internal.h. Unknown dtypes or
 * NULL pointers make these no-ops: callers validate (mx_record_encode does). */
#ifndef MX_STORAGE_CONVERT_H
#define MX_STORAGE_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "cpu.h"
#include "metaidx.h"

/* Converts n_vectors vectors of dim elements from src (input dtype F32 or
 * F16) into dst, laid out as stored vectors of `stored` dtype (stride
 * mx_vector_bytes(stored, dim); int8 vectors get their scale in front). */
void mx_convert_vectors(mx_dtype input, const void *src, mx_dtype stored, void *dst, uint32_t dim,
                        size_t n_vectors);
void mx_convert_vectors_at(mx_simd_level level, mx_dtype input, const void *src, mx_dtype stored,
                           void *dst, uint32_t dim, size_t n_vectors);

/* Decodes n_vectors stored vectors to float32 (dst: n_vectors * dim). */
void mx_decode_vectors(mx_dtype stored, const void *src, float *dst, uint32_t dim, size_t n_vectors);

#endif
