/* dtype.h: the element types, defined once: bytes per element and per
 * stored vector (the int8 rule: each vector carries its own f32 scale in
 * front of its dim codes, so nested prefixes stay contiguous), and the load
 * of one f32/f16/bf16 element as a float. Header-only, for the codecs
 * (storage/), the kernels (query/), the builder, the command line and the
 * benchmarks alike. */
#ifndef MX_COMMON_DTYPE_H
#define MX_COMMON_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "half.h"
#include "metaidx.h"

/* The f32 scale in front of every int8 vector. */
#define MX_INT8_SCALE_BYTES 4

/* Bytes of one element of dtype (f32 4, f16/bf16 2, int8 1); 0 for an
 * unknown dtype. */
static inline size_t mx_dtype_bytes(mx_dtype dtype) {
  switch (dtype) {
  case MX_DTYPE_F32:
    return 4;
  case MX_DTYPE_F16:
  case MX_DTYPE_BF16:
    return 2;
  case MX_DTYPE_INT8:
    return 1;
  }
  return 0;
}

/* Bytes of one stored vector of dim elements: f32 4 dim, f16/bf16 2 dim,
 * int8 4 + dim (the scale); 0 for an unknown dtype. */
static inline size_t mx_vector_bytes(mx_dtype dtype, uint32_t dim) {
  size_t e = mx_dtype_bytes(dtype);
  return dtype == MX_DTYPE_INT8 ? MX_INT8_SCALE_BYTES + (size_t)dim : e * (size_t)dim;
}

/* Element i of an array of f32, f16 or bf16 values (little-endian, any
 * alignment) as a float. Not for int8, whose value needs its vector's
 * scale: 0 for int8 or an unknown dtype. */
static inline float mx_load_element(const void *data, mx_dtype dtype, size_t i) {
  const unsigned char *p = data;
  uint16_t h;
  float f;
  switch (dtype) {
  case MX_DTYPE_F32:
    memcpy(&f, p + 4 * i, 4);
    return f;
  case MX_DTYPE_F16:
    memcpy(&h, p + 2 * i, 2);
    return mx_f16_to_f32(h);
  case MX_DTYPE_BF16:
    memcpy(&h, p + 2 * i, 2);
    return mx_bf16_to_f32(h);
  case MX_DTYPE_INT8:
    break;
  }
  return 0.0f;
}

#endif
