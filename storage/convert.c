/* convert.c: scalar reference conversions between input and stored dtypes,
 * the decoder back to float32, and the dispatch to the AVX2/F16C versions. */
#include "convert.h"

#include <string.h>

#include "convert_internal.h"
#include "half.h"
#include "dtype.h"

static inline float load_f32(const unsigned char *p) {
  float f;
  memcpy(&f, p, sizeof f);
  return f;
}

static inline uint16_t load_u16(const unsigned char *p) {
  uint16_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline void store_u16(unsigned char *p, uint16_t v) { memcpy(p, &v, sizeof v); }

/* Element i of an input vector as float32. */
static inline float input_at(mx_dtype input, const unsigned char *src, uint32_t i) {
  return mx_load_element(src, input, i);
}

static void convert_one(mx_dtype input, const unsigned char *src, mx_dtype stored,
                        unsigned char *dst, uint32_t dim) {
  size_t in_elem = mx_dtype_bytes(input);
  if (input == stored) { /* f32 -> f32, f16 -> f16: a copy, NaN payloads included */
    memcpy(dst, src, in_elem * dim);
    return;
  }
  switch (stored) {
  case MX_DTYPE_F32:
    for (uint32_t i = 0; i < dim; i++) {
      float x = input_at(input, src, i);
      memcpy(dst + 4 * (size_t)i, &x, sizeof x);
    }
    break;
  case MX_DTYPE_F16:
    for (uint32_t i = 0; i < dim; i++)
      store_u16(dst + 2 * (size_t)i, mx_f32_to_f16(input_at(input, src, i)));
    break;
  case MX_DTYPE_BF16:
    for (uint32_t i = 0; i < dim; i++)
      store_u16(dst + 2 * (size_t)i, mx_f32_to_bf16(input_at(input, src, i)));
    break;
  case MX_DTYPE_INT8: {
    float max_abs = 0.0f;
    for (uint32_t i = 0; i < dim; i++) {
      float a = fabsf(input_at(input, src, i));
      if (a > max_abs) /* false for NaN: NaN is ignored */
        max_abs = a;
    }
    float scale = mx_int8_scale(max_abs);
    memcpy(dst, &scale, sizeof scale);
    int8_t *q = (int8_t *)(dst + 4);
    if (scale == 0.0f) {
      memset(q, 0, dim);
      break;
    }
    for (uint32_t i = 0; i < dim; i++)
      q[i] = mx_int8_quantize(input_at(input, src, i), scale);
    break;
  }
  }
}

void mx_convert_vectors_scalar(mx_dtype input, const void *src, mx_dtype stored, void *dst,
                               uint32_t dim, size_t n_vectors) {
  size_t in_stride = (input == MX_DTYPE_F16 ? 2u : 4u) * (size_t)dim;
  size_t out_stride = mx_vector_bytes(stored, dim);
  const unsigned char *s = src;
  unsigned char *d = dst;
  for (size_t v = 0; v < n_vectors; v++)
    convert_one(input, s + v * in_stride, stored, d + v * out_stride, dim);
}

static int cpu_has_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
  return mx_cpu_has_avx2();
#else
  return 0;
#endif
}

static int valid_args(mx_dtype input, mx_dtype stored, uint32_t dim) {
  return (input == MX_DTYPE_F32 || input == MX_DTYPE_F16) && mx_vector_bytes(stored, dim) != 0;
}

void mx_convert_vectors_at(mx_simd_level level, mx_dtype input, const void *src, mx_dtype stored,
                           void *dst, uint32_t dim, size_t n_vectors) {
  if (!src || !dst || !valid_args(input, stored, dim))
    return;
#if defined(__x86_64__) || defined(__i386__)
  /* An explicit AVX2 request on a CPU without it runs the reference: never SIGILL. */
  if (level == MX_SIMD_AVX2 && cpu_has_avx2()) {
    mx_convert_vectors_avx2(input, src, stored, dst, dim, n_vectors);
    return;
  }
#else
  (void)cpu_has_avx2;
#endif
  (void)level;
  mx_convert_vectors_scalar(input, src, stored, dst, dim, n_vectors);
}

void mx_convert_vectors(mx_dtype input, const void *src, mx_dtype stored, void *dst, uint32_t dim,
                        size_t n_vectors) {
  mx_convert_vectors_at(mx_simd_level_get(), input, src, stored, dst, dim, n_vectors);
}

void mx_decode_vectors(mx_dtype stored, const void *src, float *dst, uint32_t dim,
                       size_t n_vectors) {
  size_t stride = mx_vector_bytes(stored, dim);
  if (!src || !dst || stride == 0)
    return;
  const unsigned char *s = src;
  for (size_t v = 0; v < n_vectors; v++, s += stride) {
    float *out = dst + v * dim;
    switch (stored) {
    case MX_DTYPE_F32:
      memcpy(out, s, 4 * (size_t)dim);
      break;
    case MX_DTYPE_F16:
      for (uint32_t i = 0; i < dim; i++)
        out[i] = mx_f16_to_f32(load_u16(s + 2 * (size_t)i));
      break;
    case MX_DTYPE_BF16:
      for (uint32_t i = 0; i < dim; i++)
        out[i] = mx_bf16_to_f32(load_u16(s + 2 * (size_t)i));
      break;
    case MX_DTYPE_INT8: {
      float scale = load_f32(s);
      const int8_t *q = (const int8_t *)(s + 4);
      for (uint32_t i = 0; i < dim; i++)
        out[i] = scale * (float)q[i];
      break;
    }
    }
  }
}
