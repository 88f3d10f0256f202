/* convert_internal.h: the per-ISA entry points behind mx_convert_vectors and
 * the element rules they share, so that the scalar reference and the AVX2
 * code compute bit-identical results (the tests compare them). */
#ifndef MX_STORAGE_CONVERT_INTERNAL_H
#define MX_STORAGE_CONVERT_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "metaidx.h"

/* Arguments as for mx_convert_vectors; input must be F32 or F16 and stored a
 * known dtype (the dispatcher checks). src and dst may be unaligned. */
void mx_convert_vectors_scalar(mx_dtype input, const void *src, mx_dtype stored, void *dst,
                               uint32_t dim, size_t n_vectors);
/* Defined only on x86; call it only when the CPU has AVX2 + FMA + F16C. */
void mx_convert_vectors_avx2(mx_dtype input, const void *src, mx_dtype stored, void *dst,
                             uint32_t dim, size_t n_vectors);

/* int8 rule: scale = max|x| / 127 over the vector's non-NaN elements; a vector
 * whose scale is 0 (all zeros, or so small that the division underflows)
 * stores all-zero codes. Otherwise q = x / scale (IEEE division), NaN -> 0,
 * clamped to [-127, 127], rounded to nearest even (default rounding mode). */
static inline float mx_int8_scale(float max_abs) { return max_abs / 127.0f; }

static inline int8_t mx_int8_quantize(float x, float scale) {
  float q = x / scale;
  if (!(q == q))
    return 0;
  if (q > 127.0f)
    q = 127.0f;
  if (q < -127.0f)
    q = -127.0f;
  return (int8_t)(int)rintf(q);
}

#endif
