/* maxsim_scalar.c: portable MaxSim kernels for every stored dtype (float
 * accumulation), and the double-accumulation reference the tests trust. */
#include <math.h>
#include <string.h>

#include "half.h"
#include "maxsim_internal.h"

/* Element k of stored vector v (unaligned-safe). */
static inline float elem_f32(const unsigned char *v, uint32_t k) {
  float f;
  memcpy(&f, v + (size_t)k * 4, sizeof f);
  return f;
}

static inline uint16_t elem_u16(const unsigned char *v, uint32_t k) {
  uint16_t h;
  memcpy(&h, v + (size_t)k * 2, sizeof h);
  return h;
}

/* One kernel per dtype; DOT(v) computes <qi, v> in float. */
#define SCALAR_KERNEL(name, dtype, DOT)                                                       \
  float mx_maxsim_##name##_scalar(const float *q, uint32_t r_q, const void *doc,            \
                                  uint32_t r_c, uint32_t dim) {                              \
    if (r_q == 0 || r_c == 0)                                                                \
      return 0.0f;                                                                           \
    const unsigned char *base = doc;                                                         \
    size_t stride = mx_maxsim_stride(dtype, dim);                                            \
    float total = 0.0f;                                                                      \
    for (uint32_t i = 0; i < r_q; i++) {                                                     \
      const float *qi = q + (size_t)i * dim;                                                 \
      float best = -INFINITY;                                                                \
      for (uint32_t j = 0; j < r_c; j++) {                                                   \
        const unsigned char *v = base + (size_t)j * stride;                                  \
        float s = 0.0f;                                                                      \
        DOT;                                                                                 \
        if (j == 0 || s > best)                                                              \
          best = s;                                                                          \
      }                                                                                      \
      total += best;                                                                         \
    }                                                                                        \
    return total;                                                                            \
  }

SCALAR_KERNEL(f32, MX_DTYPE_F32, for (uint32_t k = 0; k < dim; k++) s += qi[k] * elem_f32(v, k))
SCALAR_KERNEL(f16, MX_DTYPE_F16,
              for (uint32_t k = 0; k < dim; k++) s += qi[k] * mx_f16_to_f32(elem_u16(v, k)))
SCALAR_KERNEL(bf16, MX_DTYPE_BF16,
              for (uint32_t k = 0; k < dim; k++) s += qi[k] * mx_bf16_to_f32(elem_u16(v, k)))
SCALAR_KERNEL(int8, MX_DTYPE_INT8, {
  const signed char *x = (const signed char *)(v + 4);
  for (uint32_t k = 0; k < dim; k++)
    s += qi[k] * (float)x[k];
  s *= mx_maxsim_load_scale(v);
})

static double ref_dot(mx_dtype dtype, const float *qi, const unsigned char *v, uint32_t dim) {
  double s = 0.0;
  switch (dtype) {
  case MX_DTYPE_F32:
    for (uint32_t k = 0; k < dim; k++)
      s += (double)qi[k] * elem_f32(v, k);
    break;
  case MX_DTYPE_F16:
    for (uint32_t k = 0; k < dim; k++)
      s += (double)qi[k] * mx_f16_to_f32(elem_u16(v, k));
    break;
  case MX_DTYPE_BF16:
    for (uint32_t k = 0; k < dim; k++)
      s += (double)qi[k] * mx_bf16_to_f32(elem_u16(v, k));
    break;
  case MX_DTYPE_INT8: {
    const signed char *x = (const signed char *)(v + 4);
    for (uint32_t k = 0; k < dim; k++)
      s += (double)qi[k] * x[k];
    s *= mx_maxsim_load_scale(v);
    break;
  }
  }
  return s;
}

double mx_maxsim_reference(mx_dtype dtype, const float *q, uint32_t r_q, const void *doc,
                           uint32_t r_c, uint32_t dim) {
  if (r_q == 0 || r_c == 0)
    return 0.0;
  const unsigned char *base = doc;
  size_t stride = mx_maxsim_stride(dtype, dim);
  double total = 0.0;
  for (uint32_t i = 0; i < r_q; i++) {
    const float *qi = q + (size_t)i * dim;
    double best = 0.0;
    for (uint32_t j = 0; j < r_c; j++) {
      double s = ref_dot(dtype, qi, base + (size_t)j * stride, dim);
      if (j == 0 || s > best)
        best = s;
    }
    total += best;
  }
  return total;
}
