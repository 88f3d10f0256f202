/* test_convert.c: the input -> stored conversions: AVX2/F16C bit-identical
 * to the scalar reference on awkward lengths and special values, and the
 * reference within its stated error bounds. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "convert_internal.h"
#include "half.h"
#include "helpers.h"
#include "record.h"

static const mx_dtype stored_all[] = {MX_DTYPE_F32, MX_DTYPE_F16, MX_DTYPE_BF16, MX_DTYPE_INT8};

static int cpu_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
#else
  return 0;
#endif
}

/* A float from a mix of special and ordinary bit patterns. */
static float nasty_f32(mx_test_rng *r) {
  static const uint32_t special[] = {
      0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, /* zeros, infinities */
      0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800001u, /* quiet, signalling NaN */
      0x7fffffffu, 0x7fa00000u, 0xffbfffffu,              /* NaN payloads */
      0x00000001u, 0x807fffffu, 0x00400000u,              /* f32 subnormals */
      0x7f7fffffu, 0xff7fffffu,                           /* FLT_MAX */
      0x477fe000u, 0x477ff000u, 0x477fefffu, 0x477ff001u, /* 65504, 65520 edge */
      0x38800000u, 0x387fffffu, 0x33800000u, 0x33000000u, /* f16 normal/subnormal edges */
      0x33000001u, 0x3f808000u, 0x3f818000u, 0x3f800001u, /* bf16/f16 ties */
  };
  uint64_t k = mx_test_rng_below(r, 8);
  if (k == 0)
    return mx_bits_f32(special[mx_test_rng_below(r, sizeof special / sizeof special[0])]);
  if (k == 1)
    return mx_bits_f32((uint32_t)mx_test_rng_next(r)); /* any bit pattern */
  if (k == 2)                                          /* the f16 subnormal / small normal range */
    return mx_test_rng_float(r) * 1e-4f;
  if (k == 3)
    return mx_test_rng_float(r) * 1e38f;
  return mx_test_rng_float(r);
}

static void compare_paths(mx_dtype input, const void *src, uint32_t dim, size_t n) {
  for (size_t s = 0; s < 4; s++) {
    mx_dtype st = stored_all[s];
    size_t bytes = mx_vector_bytes(st, dim) * n;
    /* +1: write at an odd address, as in an LMDB value */
    unsigned char *a = malloc(bytes + 1), *b = malloc(bytes + 1);
    cr_assert(a && b);
    memset(a, 0xa5, bytes + 1);
    memset(b, 0x5a, bytes + 1);
    mx_convert_vectors_scalar(input, src, st, a + 1, dim, n);
    mx_convert_vectors_at(MX_SIMD_AVX2, input, src, st, b + 1, dim, n);
    if (memcmp(a + 1, b + 1, bytes) != 0) {
      size_t i = 0;
      while (a[1 + i] == b[1 + i])
        i++;
      cr_assert_fail("input %s -> %s, dim %u x %zu: scalar and avx2 differ at byte %zu "
                     "(%02x vs %02x)",
                     mx_dtype_name(input), mx_dtype_name(st), dim, n, i, a[1 + i], b[1 + i]);
    }
    free(a);
    free(b);
  }
}

static const uint32_t awkward_dims[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 100, 128, 1001};

Test(convert, avx2_matches_scalar_f32_input) {
  if (!cpu_avx2())
    cr_skip("CPU lacks AVX2/FMA/F16C");
  mx_test_rng r = {1};
  for (size_t t = 0; t < sizeof awkward_dims / sizeof awkward_dims[0]; t++) {
    uint32_t dim = awkward_dims[t];
    size_t n = 3;
    /* +1 float offset via bytes: unaligned source */
    unsigned char *buf = malloc(4 * dim * n + 1);
    cr_assert_not_null(buf);
    for (size_t i = 0; i < dim * n; i++) {
      float x = nasty_f32(&r);
      memcpy(buf + 1 + 4 * i, &x, 4);
    }
    compare_paths(MX_DTYPE_F32, buf + 1, dim, n);
    /* vectors with only ordinary values (the int8 scale is then finite) */
    for (size_t i = 0; i < dim * n; i++) {
      float x = mx_test_rng_float(&r) * (i % 5 == 0 ? 1e-3f : 1.0f);
      memcpy(buf + 1 + 4 * i, &x, 4);
    }
    compare_paths(MX_DTYPE_F32, buf + 1, dim, n);
    free(buf);
  }
}

Test(convert, avx2_matches_scalar_many_random_bits) {
  if (!cpu_avx2())
    cr_skip("CPU lacks AVX2/FMA/F16C");
  mx_test_rng r = {2};
  uint32_t dim = 1u << 16; /* + one vector of dim 65535 below: a tail of 7 */
  float *v = malloc(sizeof(float) * dim);
  cr_assert_not_null(v);
  for (int round = 0; round < 4; round++) {
    for (uint32_t i = 0; i < dim; i++)
      v[i] = mx_bits_f32((uint32_t)mx_test_rng_next(&r));
    compare_paths(MX_DTYPE_F32, v, dim, 1);
    compare_paths(MX_DTYPE_F32, v, dim - 1, 1);
  }
  free(v);
}

Test(convert, avx2_matches_scalar_every_f16_input) {
  if (!cpu_avx2())
    cr_skip("CPU lacks AVX2/FMA/F16C");
  uint32_t dim = 1u << 16;
  uint16_t *h = malloc(sizeof(uint16_t) * dim);
  cr_assert_not_null(h);
  for (uint32_t i = 0; i < dim; i++)
    h[i] = (uint16_t)i;
  compare_paths(MX_DTYPE_F16, h, dim, 1); /* every f16 bit pattern */
  compare_paths(MX_DTYPE_F16, h, 4096, 16);
  for (size_t t = 0; t < sizeof awkward_dims / sizeof awkward_dims[0]; t++)
    compare_paths(MX_DTYPE_F16, h + 0x3000, awkward_dims[t], 2);
  free(h);
}

Test(convert, f16_and_bf16_match_half_h) {
  mx_test_rng r = {3};
  enum { N = 4099 };
  static float x[N];
  uint16_t h[N], b[N];
  for (size_t i = 0; i < N; i++)
    x[i] = nasty_f32(&r);
  mx_convert_vectors(MX_DTYPE_F32, x, MX_DTYPE_F16, h, N, 1);
  mx_convert_vectors(MX_DTYPE_F32, x, MX_DTYPE_BF16, b, N, 1);
  for (size_t i = 0; i < N; i++) {
    cr_assert_eq(h[i], mx_f32_to_f16(x[i]), "f16 of %08x", mx_f32_bits(x[i]));
    cr_assert_eq(b[i], mx_f32_to_bf16(x[i]), "bf16 of %08x", mx_f32_bits(x[i]));
  }
}

Test(convert, known_values) {
  cr_assert_eq(mx_f32_to_f16(1.0f), 0x3c00);
  cr_assert_eq(mx_f32_to_f16(65504.0f), 0x7bff);
  cr_assert_eq(mx_f32_to_f16(65520.0f), 0x7c00);
  cr_assert_eq(mx_f32_to_f16(mx_bits_f32(0x33000000u)), 0x0000); /* 2^-25 ties to even: 0 */
  cr_assert_eq(mx_f32_to_f16(mx_bits_f32(0x33000001u)), 0x0001);
  cr_assert_eq(mx_f32_to_bf16(mx_bits_f32(0x3f808000u)), 0x3f80); /* tie to even */
  cr_assert_eq(mx_f32_to_bf16(mx_bits_f32(0x3f818000u)), 0x3f82);
  cr_assert_eq(mx_f32_to_bf16(NAN) & 0x7fc0, 0x7fc0);
  /* int8 */
  float v[4] = {1.0f, -0.5f, 0.25f, 0.0f};
  unsigned char q[8];
  mx_convert_vectors(MX_DTYPE_F32, v, MX_DTYPE_INT8, q, 4, 1);
  float scale;
  memcpy(&scale, q, 4);
  cr_assert_eq(scale, 1.0f / 127.0f);
  cr_assert_eq((int8_t)q[4], 127);
  cr_assert_eq((int8_t)q[5], -64); /* -63.5 rounds to even */
  cr_assert_eq((int8_t)q[6], 32);  /* 31.75 */
  cr_assert_eq((int8_t)q[7], 0);
}

Test(convert, int8_all_zero_and_nan) {
  float z[9] = {0};
  unsigned char q[13];
  memset(q, 0xff, sizeof q);
  mx_convert_vectors(MX_DTYPE_F32, z, MX_DTYPE_INT8, q, 9, 1);
  float scale;
  memcpy(&scale, q, 4);
  cr_assert_eq(mx_f32_bits(scale), 0u, "all-zero vector: scale 0");
  for (int i = 0; i < 9; i++)
    cr_assert_eq(q[4 + i], 0);
  float n[3] = {NAN, 2.0f, -1.0f};
  mx_convert_vectors(MX_DTYPE_F32, n, MX_DTYPE_INT8, q, 3, 1);
  memcpy(&scale, q, 4);
  cr_assert_eq(scale, 2.0f / 127.0f, "NaN is ignored by the scale");
  cr_assert_eq((int8_t)q[4], 0);
  cr_assert_eq((int8_t)q[5], 127);
  cr_assert_eq((int8_t)q[6], -64);
}

/* Error bounds of the reference, for unit vectors (|x| <= 1):
 *   f16:  |y - x| <= 2^-11 |x| + 2^-25   (10-bit mantissa, subnormal step 2^-24)
 *   bf16: |y - x| <= 2^-8 |x|            (7-bit mantissa; no f32 subnormals here)
 *   int8: |y - x| <= scale / 2 + 2^-20 max|x|, scale = max|x| / 127 (half a
 *         step plus float rounding; ties are exactly half a step) */
Test(convert, stored_dtypes_within_bounds) {
  mx_test_rng r = {4};
  const uint32_t dims[] = {1, 3, 17, 128, 3584};
  for (size_t t = 0; t < 5; t++) {
    uint32_t dim = dims[t];
    size_t n = 5;
    float *x = malloc(sizeof(float) * dim * n), *y = malloc(sizeof(float) * dim * n);
    unsigned char *buf = malloc((4 * (size_t)dim + 4) * n); /* fits every dtype */
    cr_assert(x && y && buf);
    mx_test_random_unit_vectors(&r, x, n, dim);
    for (size_t s = 0; s < 4; s++) {
      mx_dtype st = stored_all[s];
      mx_convert_vectors(MX_DTYPE_F32, x, st, buf, dim, n);
      mx_decode_vectors(st, buf, y, dim, n);
      for (size_t v = 0; v < n; v++) {
        float max_abs = 0;
        for (uint32_t i = 0; i < dim; i++)
          max_abs = fmaxf(max_abs, fabsf(x[v * dim + i]));
        for (uint32_t i = 0; i < dim; i++) {
          float a = x[v * dim + i], b = y[v * dim + i];
          double e = fabs((double)a - (double)b), bound = 0;
          switch (st) {
          case MX_DTYPE_F32:
            bound = 0;
            break;
          case MX_DTYPE_F16:
            bound = ldexp(fabs(a), -11) + ldexp(1, -25);
            break;
          case MX_DTYPE_BF16:
            bound = ldexp(fabs(a), -8);
            break;
          case MX_DTYPE_INT8:
            bound = max_abs / 127.0 / 2.0 + ldexp(max_abs, -20);
            break;
          }
          cr_assert_leq(e, bound, "%s dim %u vector %zu elem %u: %g -> %g", mx_dtype_name(st), dim,
                        v, i, a, b);
        }
      }
    }
    free(x);
    free(y);
    free(buf);
  }
}

Test(convert, f16_input_equals_f32_of_it) {
  /* converting f16 input equals converting its exact f32 value */
  mx_test_rng r = {5};
  enum { D = 77 };
  uint16_t h[D];
  float f[D];
  for (int i = 0; i < D; i++) {
    h[i] = mx_f32_to_f16(mx_test_rng_float(&r));
    f[i] = mx_f16_to_f32(h[i]);
  }
  for (size_t s = 0; s < 4; s++) {
    unsigned char a[4 * D + 4], b[4 * D + 4];
    mx_convert_vectors(MX_DTYPE_F16, h, stored_all[s], a, D, 1);
    mx_convert_vectors(MX_DTYPE_F32, f, stored_all[s], b, D, 1);
    cr_assert_eq(memcmp(a, b, mx_vector_bytes(stored_all[s], D)), 0, "%s",
                 mx_dtype_name(stored_all[s]));
  }
}
