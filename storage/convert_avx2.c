/* convert_avx2.c: AVX2/F16C versions of the input -> stored conversions,
 * compiled alone with avx2_args. Bit-identical to convert.c's reference:
 * NaN lanes are canonicalised the way common/half.h does before F16C sees
 * them, and the int8 rule uses the same IEEE operations in the same order. */
#include <immintrin.h>
#include <string.h>

#include "convert_internal.h"
#include "half.h"
#include "dtype.h"

static inline __m256 load8_f32(const unsigned char *p) {
  return _mm256_loadu_ps((const float *)(const void *)p);
}

/* f16 -> f32 exactly as mx_f16_to_f32: F16C quietens signalling NaNs, the
 * reference keeps the payload as it is, so NaN lanes are rebuilt by hand. */
static inline __m256 load8_f16(const unsigned char *p) {
  __m128i h = _mm_loadu_si128((const __m128i *)(const void *)p);
  __m256 f = _mm256_cvtph_ps(h);
  __m256i w = _mm256_cvtepu16_epi32(h);
  __m256i bits = _mm256_or_si256(
      _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(w, _mm256_set1_epi32(0x8000)), 16),
                      _mm256_set1_epi32(0x7f800000)),
      _mm256_slli_epi32(_mm256_and_si256(w, _mm256_set1_epi32(0x3ff)), 13));
  __m256 nan = _mm256_cmp_ps(f, f, _CMP_UNORD_Q);
  return _mm256_blendv_ps(f, _mm256_castsi256_ps(bits), nan);
}

static inline __m256 load8(mx_dtype input, const unsigned char *src, uint32_t i) {
  return input == MX_DTYPE_F16 ? load8_f16(src + 2 * (size_t)i) : load8_f32(src + 4 * (size_t)i);
}

static inline float input_at(mx_dtype input, const unsigned char *src, uint32_t i) {
  return mx_load_element(src, input, i);
}

/* 8 float32 -> 8 float16, round to nearest even; NaN -> sign | 0x7e00. */
static inline __m128i f32_to_f16_8(__m256 x) {
  __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  __m256 canon =
      _mm256_or_ps(_mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u))),
                   _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000)));
  x = _mm256_blendv_ps(x, canon, nan);
  return _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT);
}

/* 8 float32 -> 8 bfloat16 as mx_f32_to_bf16. */
static inline __m128i f32_to_bf16_8(__m256 x) {
  __m256i u = _mm256_castps_si256(x);
  __m256i abs = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
  __m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
  __m256i hi = _mm256_srli_epi32(u, 16);
  __m256i bias =
      _mm256_add_epi32(_mm256_set1_epi32(0x7fff), _mm256_and_si256(hi, _mm256_set1_epi32(1)));
  __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, bias), 16);
  r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
  return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}

static void to_int8(mx_dtype input, const unsigned char *src, unsigned char *dst, uint32_t dim) {
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 acc = _mm256_setzero_ps();
  uint32_t i = 0;
  for (; i + 8 <= dim; i += 8) /* max_ps returns its second operand for NaN: ignored */
    acc = _mm256_max_ps(_mm256_and_ps(load8(input, src, i), absmask), acc);
  float lanes[8];
  _mm256_storeu_ps(lanes, acc);
  float max_abs = 0.0f;
  for (int l = 0; l < 8; l++)
    if (lanes[l] > max_abs)
      max_abs = lanes[l];
  for (; i < dim; i++) {
    float a = fabsf(input_at(input, src, i));
    if (a > max_abs)
      max_abs = a;
  }
  float scale = mx_int8_scale(max_abs);
  memcpy(dst, &scale, sizeof scale);
  unsigned char *q = dst + 4;
  if (scale == 0.0f) {
    memset(q, 0, dim);
    return;
  }
  const __m256 vscale = _mm256_set1_ps(scale);
  const __m256 hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
  for (i = 0; i + 8 <= dim; i += 8) {
    __m256 v = _mm256_div_ps(load8(input, src, i), vscale);
    v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q)); /* NaN -> 0 */
    v = _mm256_max_ps(_mm256_min_ps(v, hi), lo);
    v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256i n = _mm256_cvtps_epi32(v);
    __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(n), _mm256_extracti128_si256(n, 1));
    _mm_storel_epi64((__m128i *)(void *)(q + i), _mm_packs_epi16(p16, p16));
  }
  for (; i < dim; i++)
    q[i] = (unsigned char)mx_int8_quantize(input_at(input, src, i), scale);
}

static void convert_one(mx_dtype input, const unsigned char *src, mx_dtype stored,
                        unsigned char *dst, uint32_t dim) {
  if (input == stored) {
    memcpy(dst, src, (input == MX_DTYPE_F16 ? 2u : 4u) * (size_t)dim);
    return;
  }
  uint32_t i = 0;
  switch (stored) {
  case MX_DTYPE_F32: /* input is f16 here */
    for (; i + 8 <= dim; i += 8)
      _mm256_storeu_ps((float *)(void *)(dst + 4 * (size_t)i), load8_f16(src + 2 * (size_t)i));
    for (; i < dim; i++) {
      float x = input_at(input, src, i);
      memcpy(dst + 4 * (size_t)i, &x, sizeof x);
    }
    break;
  case MX_DTYPE_F16: /* input is f32 here */
    for (; i + 8 <= dim; i += 8)
      _mm_storeu_si128((__m128i *)(void *)(dst + 2 * (size_t)i),
                       f32_to_f16_8(load8_f32(src + 4 * (size_t)i)));
    for (; i < dim; i++) {
      uint16_t h = mx_f32_to_f16(input_at(input, src, i));
      memcpy(dst + 2 * (size_t)i, &h, sizeof h);
    }
    break;
  case MX_DTYPE_BF16:
    for (; i + 8 <= dim; i += 8)
      _mm_storeu_si128((__m128i *)(void *)(dst + 2 * (size_t)i),
                       f32_to_bf16_8(load8(input, src, i)));
    for (; i < dim; i++) {
      uint16_t b = mx_f32_to_bf16(input_at(input, src, i));
      memcpy(dst + 2 * (size_t)i, &b, sizeof b);
    }
    break;
  case MX_DTYPE_INT8:
    to_int8(input, src, dst, dim);
    break;
  }
}

void mx_convert_vectors_avx2(mx_dtype input, const void *src, mx_dtype stored, void *dst,
                             uint32_t dim, size_t n_vectors) {
  size_t in_stride = (input == MX_DTYPE_F16 ? 2u : 4u) * (size_t)dim;
  size_t out_stride = mx_vector_bytes(stored, dim);
  const unsigned char *s = src;
  unsigned char *d = dst;
  for (size_t v = 0; v < n_vectors; v++)
    convert_one(input, s + v * in_stride, stored, d + v * out_stride, dim);
}
