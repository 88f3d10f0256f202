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

/* Elements [k0, k0 + n) of stored vector v, decoded to f32 (int8 without
 * its scale, which is applied to the whole dot product). */
static inline void decode_chunk(mx_dtype dtype, const unsigned char *v, uint32_t k0, uint32_t n,
                                float *out) {
  switch (dtype) {
  case MX_DTYPE_F32:
    memcpy(out, v + (size_t)k0 * 4, (size_t)n * 4);
    break;
  case MX_DTYPE_F16:
    for (uint32_t k = 0; k < n; k++)
      out[k] = mx_f16_to_f32(elem_u16(v, k0 + k));
    break;
  case MX_DTYPE_BF16:
    for (uint32_t k = 0; k < n; k++)
      out[k] = mx_bf16_to_f32(elem_u16(v, k0 + k));
    break;
  case MX_DTYPE_INT8:
    for (uint32_t k = 0; k < n; k++)
      out[k] = (float)(signed char)v[4 + k0 + k];
    break;
  }
}

/* Query vectors per pass and dims per decoded chunk: each stored element is
 * converted once per pass, not once per query vector (the f16 conversion is
 * the costly part), and each dot product still sums in index order. */
#define SCALAR_GROUP 16
#define SCALAR_CHUNK 64

static float maxsim_scalar(mx_dtype dtype, const float *q, uint32_t r_q, const void *doc,
                           uint32_t r_c, uint32_t dim) {
  if (r_q == 0 || r_c == 0)
    return 0.0f;
  const unsigned char *base = doc;
  size_t stride = mx_vector_bytes(dtype, dim);
  float total = 0.0f;
  for (uint32_t g0 = 0; g0 < r_q; g0 += SCALAR_GROUP) {
    uint32_t gq = r_q - g0 < SCALAR_GROUP ? r_q - g0 : SCALAR_GROUP;
    float best[SCALAR_GROUP];
    for (uint32_t j = 0; j < r_c; j++) {
      const unsigned char *v = base + (size_t)j * stride;
      float dot[SCALAR_GROUP] = {0};
      for (uint32_t k0 = 0; k0 < dim; k0 += SCALAR_CHUNK) {
        uint32_t n = dim - k0 < SCALAR_CHUNK ? dim - k0 : SCALAR_CHUNK;
        float c[SCALAR_CHUNK];
        decode_chunk(dtype, v, k0, n, c);
        for (uint32_t i = 0; i < gq; i++) {
          const float *qi = q + (size_t)(g0 + i) * dim + k0;
          float s = dot[i];
          for (uint32_t k = 0; k < n; k++)
            s += qi[k] * c[k];
          dot[i] = s;
        }
      }
      float scale = dtype == MX_DTYPE_INT8 ? mx_maxsim_load_scale(v) : 1.0f;
      for (uint32_t i = 0; i < gq; i++) {
        float s = dtype == MX_DTYPE_INT8 ? dot[i] * scale : dot[i];
        if (j == 0 || s > best[i])
          best[i] = s;
      }
    }
    for (uint32_t i = 0; i < gq; i++)
      total += best[i];
  }
  return total;
}

float mx_maxsim_f32_scalar(const float *q, uint32_t r_q, const void *doc, uint32_t r_c,
                           uint32_t dim) {
  return maxsim_scalar(MX_DTYPE_F32, q, r_q, doc, r_c, dim);
}

float mx_maxsim_f16_scalar(const float *q, uint32_t r_q, const void *doc, uint32_t r_c,
                           uint32_t dim) {
  return maxsim_scalar(MX_DTYPE_F16, q, r_q, doc, r_c, dim);
}

float mx_maxsim_bf16_scalar(const float *q, uint32_t r_q, const void *doc, uint32_t r_c,
                            uint32_t dim) {
  return maxsim_scalar(MX_DTYPE_BF16, q, r_q, doc, r_c, dim);
}

float mx_maxsim_int8_scalar(const float *q, uint32_t r_q, const void *doc, uint32_t r_c,
                            uint32_t dim) {
  return maxsim_scalar(MX_DTYPE_INT8, q, r_q, doc, r_c, dim);
}

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
  size_t stride = mx_vector_bytes(dtype, dim);
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
