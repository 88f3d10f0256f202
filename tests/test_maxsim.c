/* test_maxsim.c: every MaxSim kernel path (scalar, AVX2) and every stored
 * dtype against the double-accumulation reference on awkward shapes, with
 * documents at unaligned addresses; the reference itself against a naive
 * decode-then-dot loop and hand-computed values. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "helpers.h"
#include "maxsim.h"

/* Accepted error: REL_TOL times the Cauchy-Schwarz scale of the score,
 * sum_i max_j |q_i| |c_j|; float accumulation in a different order over
 * d <= 3584 stays far below that. */
#define REL_TOL 1e-5

static const mx_dtype all_dtypes[] = {MX_DTYPE_F32, MX_DTYPE_F16, MX_DTYPE_BF16, MX_DTYPE_INT8};

static int avx2_supported(void) {
#if defined(__x86_64__) || defined(__i386__)
  return mx_cpu_has_avx2();
#else
  return 0;
#endif
}

/* Encodes n f32 vectors as stored vectors of dtype at out. */
static void encode(mx_dtype dtype, const float *v, uint32_t n, uint32_t dim, unsigned char *out) {
  size_t stride = mx_vector_bytes(dtype, dim);
  for (uint32_t j = 0; j < n; j++) {
    const float *x = v + (size_t)j * dim;
    unsigned char *o = out + (size_t)j * stride;
    switch (dtype) {
    case MX_DTYPE_F32:
      memcpy(o, x, (size_t)dim * 4);
      break;
    case MX_DTYPE_F16:
    case MX_DTYPE_BF16:
      for (uint32_t k = 0; k < dim; k++) {
        uint16_t h = dtype == MX_DTYPE_F16 ? mx_f32_to_f16(x[k]) : mx_f32_to_bf16(x[k]);
        memcpy(o + 2 * (size_t)k, &h, 2);
      }
      break;
    case MX_DTYPE_INT8: {
      float m = 0;
      for (uint32_t k = 0; k < dim; k++)
        m = fmaxf(m, fabsf(x[k]));
      float scale = m / 127.0f;
      memcpy(o, &scale, 4);
      for (uint32_t k = 0; k < dim; k++) {
        long r = scale > 0 ? lrintf(x[k] / scale) : 0;
        o[4 + k] = (unsigned char)(signed char)(r > 127 ? 127 : r < -127 ? -127 : r);
      }
      break;
    }
    }
  }
}

/* Stored vector j decoded to f32, independently of the kernels' code. */
static void decode(mx_dtype dtype, const unsigned char *doc, uint32_t j, uint32_t dim, float *out) {
  const unsigned char *v = doc + (size_t)j * mx_vector_bytes(dtype, dim);
  for (uint32_t k = 0; k < dim; k++) {
    uint16_t h;
    switch (dtype) {
    case MX_DTYPE_F32:
      memcpy(&out[k], v + 4 * (size_t)k, 4);
      break;
    case MX_DTYPE_F16:
      memcpy(&h, v + 2 * (size_t)k, 2);
      out[k] = mx_f16_to_f32(h);
      break;
    case MX_DTYPE_BF16:
      memcpy(&h, v + 2 * (size_t)k, 2);
      out[k] = mx_bf16_to_f32(h);
      break;
    case MX_DTYPE_INT8: {
      float scale;
      memcpy(&scale, v, 4);
      out[k] = scale * (float)(signed char)v[4 + k];
      break;
    }
    }
  }
}

/* A query and a document of random unit vectors; the document starts at an
 * address that is 2 mod 4 (or odd with `odd`), the query 4 bytes past a
 * malloc'd (16-aligned) block, so not 32-aligned. Free with case_free. */
typedef struct tcase {
  void *qbuf, *dbuf;
  float *q;
  unsigned char *doc;
  double scale; /* sum_i max_j |q_i| |c_j| */
} tcase;

static tcase case_make(mx_test_rng *rng, mx_dtype dtype, uint32_t r_q, uint32_t r_c, uint32_t dim,
                       int odd) {
  tcase t;
  size_t stride = mx_vector_bytes(dtype, dim);
  /* Sized exactly, so that ASan catches any read past either end. */
  t.qbuf = malloc(((size_t)r_q * dim + 1) * 4);
  t.dbuf = malloc((size_t)r_c * stride + (odd ? 1 : 2));
  cr_assert(t.qbuf && t.dbuf);
  t.q = (float *)t.qbuf + 1;
  t.doc = (unsigned char *)t.dbuf + (odd ? 1 : 2);
  mx_test_random_unit_vectors(rng, t.q, r_q, dim);
  float *c = malloc((size_t)r_c * dim * 4);
  cr_assert(c);
  mx_test_random_unit_vectors(rng, c, r_c, dim);
  encode(dtype, c, r_c, dim, t.doc);
  double cmax = 0;
  for (uint32_t j = 0; j < r_c; j++) {
    decode(dtype, t.doc, j, dim, c);
    double n = 0;
    for (uint32_t k = 0; k < dim; k++)
      n += (double)c[k] * c[k];
    cmax = fmax(cmax, sqrt(n));
  }
  t.scale = r_q * cmax; /* query vectors are unit length */
  free(c);
  return t;
}

static void case_free(tcase *t) {
  free(t->qbuf);
  free(t->dbuf);
}

static int n_checked;

static void check_path(mx_simd_level level, mx_dtype dtype, mx_test_rng *rng, uint32_t r_q,
                       uint32_t r_c, uint32_t dim, int odd) {
  mx_maxsim_fn fn = mx_maxsim_kernel(dtype, level);
  cr_assert_not_null(fn);
  tcase t = case_make(rng, dtype, r_q, r_c, dim, odd);
  double want = mx_maxsim_reference(dtype, t.q, r_q, t.doc, r_c, dim);
  float got = fn(t.q, r_q, t.doc, r_c, dim);
  double tol = REL_TOL * t.scale + 1e-30;
  cr_assert(fabs((double)got - want) <= tol,
            "%s %s r_q=%u r_c=%u d=%u: got %.9g want %.9g (|err| %.3g > tol %.3g)",
            mx_simd_level_name(level), mx_dtype_name(dtype), r_q, r_c, dim, (double)got, want,
            fabs((double)got - want), tol);
  n_checked++;
  case_free(&t);
}

static void check_all_shapes(mx_simd_level level, mx_dtype dtype) {
  mx_test_rng rng = {0x5eed0000u + (uint64_t)dtype * 17 + level};
  n_checked = 0;
  /* Small and block-boundary dims: every r_q 1..16 with many r_c. */
  static const uint32_t small_d[] = {1, 7, 8, 33, 64, 65, 129};
  static const uint32_t rcs[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 16, 31, 64};
  for (size_t a = 0; a < sizeof small_d / sizeof small_d[0]; a++)
    for (uint32_t r_q = 1; r_q <= 16; r_q++)
      for (size_t b = 0; b < sizeof rcs / sizeof rcs[0]; b++)
        if (small_d[a] <= 33 || (r_q + b) % 3 == 0)
          check_path(level, dtype, &rng, r_q, rcs[b], small_d[a], (r_q + b) % 2 == 0);
  /* Model dims (and one past a 1024-dim tile with a tail): the standard
   * budgets plus awkward ones. */
  static const uint32_t big_d[] = {2048, 3584, 1031};
  static const uint32_t budgets[][2] = {{1, 1}, {2, 4},  {4, 8},  {8, 16}, {16, 64},
                                        {3, 5}, {5, 7},  {13, 2}, {7, 1},  {17, 3}};
  for (size_t a = 0; a < sizeof big_d / sizeof big_d[0]; a++)
    for (size_t b = 0; b < sizeof budgets / sizeof budgets[0]; b++)
      check_path(level, dtype, &rng, budgets[b][0], budgets[b][1], big_d[a], (int)(b & 1));
  /* A few random shapes. */
  for (int n = 0; n < 10; n++) {
    uint32_t r_q = 1 + (uint32_t)mx_test_rng_below(&rng, 20);
    uint32_t r_c = 1 + (uint32_t)mx_test_rng_below(&rng, 64);
    uint32_t dim = 1 + (uint32_t)mx_test_rng_below(&rng, 600);
    check_path(level, dtype, &rng, r_q, r_c, dim, n & 1);
  }
  cr_log_info("%s %s: %d shapes checked", mx_simd_level_name(level), mx_dtype_name(dtype),
              n_checked);
}

#define PATH_TESTS(level, lname, guard)                                                       \
  Test(maxsim, lname##_f32) {                                                                 \
    guard;                                                                                    \
    check_all_shapes(level, MX_DTYPE_F32);                                                    \
  }                                                                                           \
  Test(maxsim, lname##_f16) {                                                                 \
    guard;                                                                                    \
    check_all_shapes(level, MX_DTYPE_F16);                                                    \
  }                                                                                           \
  Test(maxsim, lname##_bf16) {                                                                \
    guard;                                                                                    \
    check_all_shapes(level, MX_DTYPE_BF16);                                                   \
  }                                                                                           \
  Test(maxsim, lname##_int8) {                                                                \
    guard;                                                                                    \
    check_all_shapes(level, MX_DTYPE_INT8);                                                   \
  }

#define NO_GUARD ((void)0)
#define AVX2_GUARD                                                                            \
  do {                                                                                        \
    if (!avx2_supported() || !mx_maxsim_kernel(MX_DTYPE_F32, MX_SIMD_AVX2))                   \
      cr_skip_test("AVX2 kernels not available here");                                       \
  } while (0)

PATH_TESTS(MX_SIMD_SCALAR, scalar, NO_GUARD)
PATH_TESTS(MX_SIMD_AVX2, avx2, AVX2_GUARD)

Test(maxsim, reference_matches_naive_decode_then_dot) {
  mx_test_rng rng = {42};
  static const uint32_t dims[] = {1, 7, 33, 300, 2048};
  for (size_t t = 0; t < sizeof all_dtypes / sizeof all_dtypes[0]; t++)
    for (size_t a = 0; a < sizeof dims / sizeof dims[0]; a++) {
      mx_dtype dtype = all_dtypes[t];
      uint32_t dim = dims[a], r_q = 5, r_c = 9;
      tcase c = case_make(&rng, dtype, r_q, r_c, dim, (int)(a & 1));
      float *v = malloc((size_t)dim * 4);
      cr_assert(v);
      double want = 0;
      for (uint32_t i = 0; i < r_q; i++) {
        double best = -INFINITY;
        for (uint32_t j = 0; j < r_c; j++) {
          decode(dtype, c.doc, j, dim, v);
          double s = 0;
          for (uint32_t k = 0; k < dim; k++)
            s += (double)c.q[(size_t)i * dim + k] * v[k];
          best = fmax(best, s);
        }
        want += best;
      }
      double got = mx_maxsim_reference(dtype, c.q, r_q, c.doc, r_c, dim);
      /* Identical for f32/f16/bf16; int8 rounds scale * q to float here. */
      cr_assert(fabs(got - want) <= 1e-6 * c.scale, "%s d=%u: %.12g vs %.12g",
                mx_dtype_name(dtype), dim, got, want);
      free(v);
      case_free(&c);
    }
}

Test(maxsim, hand_computed_values) {
  /* q0 = (1, 0), q1 = (0.5, -1); c0 = (2, 1), c1 = (-1, 3).
   * <q0,c0> = 2, <q0,c1> = -1 -> 2; <q1,c0> = 0, <q1,c1> = -3.5 -> 0; total 2. */
  const float q[4] = {1, 0, 0.5f, -1};
  const float c[4] = {2, 1, -1, 3};
  unsigned char doc[2 * 8 + 2];
  for (size_t t = 0; t < sizeof all_dtypes / sizeof all_dtypes[0]; t++) {
    mx_dtype dtype = all_dtypes[t];
    if (dtype == MX_DTYPE_INT8) {
      /* scale 0.5 and values 2*x: exact. */
      float s = 0.5f;
      memcpy(doc + 1, &s, 4);
      signed char x0[2] = {4, 2};
      memcpy(doc + 5, x0, 2);
      memcpy(doc + 7, &s, 4);
      signed char x1[2] = {-2, 6};
      memcpy(doc + 11, x1, 2);
    } else {
      encode(dtype, c, 2, 2, doc + 1);
    }
    cr_assert_float_eq(mx_maxsim_reference(dtype, q, 2, doc + 1, 2, 2), 2.0, 1e-12);
    cr_assert_float_eq(mx_maxsim_reference(dtype, q, 1, doc + 1, 2, 2), 2.0, 1e-12);
    cr_assert_float_eq(mx_maxsim_reference(dtype, q + 2, 1, doc + 1, 2, 2), 0.0, 1e-12);
    cr_assert_float_eq(mx_maxsim_reference(dtype, q + 2, 1, doc + 1, 1, 2), 0.0, 1e-12);
    cr_assert_float_eq(mx_maxsim_reference(dtype, q, 2, doc + 1, 1, 2), 2.0, 1e-12);
    for (int level = 0; level <= 1; level++) {
      mx_maxsim_fn fn = mx_maxsim_kernel(dtype, (mx_simd_level)level);
      if (!fn || (level == MX_SIMD_AVX2 && !avx2_supported()))
        continue;
      cr_assert_float_eq(fn(q, 2, doc + 1, 2, 2), 2.0f, 1e-6f);
      cr_assert_float_eq(fn(q + 2, 1, doc + 1, 2, 2), 0.0f, 1e-6f);
    }
  }
}

Test(maxsim, int8_scale_zero) {
  /* Some stored vectors have scale 0 (an all-zero input vector): their dots
   * are exactly 0, which then wins over negative dots. */
  mx_test_rng rng = {7};
  for (uint32_t dim = 1; dim <= 40; dim += 13) {
    uint32_t r_q = 6, r_c = 5;
    tcase t = case_make(&rng, MX_DTYPE_INT8, r_q, r_c, dim, 1);
    size_t stride = mx_vector_bytes(MX_DTYPE_INT8, dim);
    const float zero = 0.0f, neg = -1.0f;
    for (uint32_t j = 0; j < r_c; j++)
      memcpy(t.doc + j * stride, j == 2 ? &zero : &neg, 4);
    /* Every q_i now sees dots -<q_i, x_j> and 0: the max is >= 0. */
    double want = mx_maxsim_reference(MX_DTYPE_INT8, t.q, r_q, t.doc, r_c, dim);
    cr_assert_geq(want, 0.0);
    for (int level = 0; level <= 1; level++) {
      mx_maxsim_fn fn = mx_maxsim_kernel(MX_DTYPE_INT8, (mx_simd_level)level);
      if (!fn || (level == MX_SIMD_AVX2 && !avx2_supported()))
        continue;
      cr_assert(fabs(fn(t.q, r_q, t.doc, r_c, dim) - want) <= 1e-4 * r_q * 127 * 127);
      /* Only the zero-scale vector: exactly 0. */
      cr_assert_eq(fn(t.q, r_q, t.doc + 2 * stride, 1, dim), 0.0f);
    }
    /* All scales 0: 0. */
    for (uint32_t j = 0; j < r_c; j++)
      memcpy(t.doc + j * stride, &zero, 4);
    cr_assert_eq(mx_maxsim_reference(MX_DTYPE_INT8, t.q, r_q, t.doc, r_c, dim), 0.0);
    case_free(&t);
  }
}

Test(maxsim, empty_inputs_and_dispatch) {
  const float q[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  unsigned char doc[64] = {0};
  for (size_t t = 0; t < sizeof all_dtypes / sizeof all_dtypes[0]; t++) {
    mx_dtype dtype = all_dtypes[t];
    for (int level = 0; level <= 1; level++) {
      mx_maxsim_fn fn = mx_maxsim_kernel(dtype, (mx_simd_level)level);
      if (level == MX_SIMD_SCALAR)
        cr_assert_not_null(fn);
      if (!fn || (level == MX_SIMD_AVX2 && !avx2_supported()))
        continue;
      cr_assert_eq(fn(q, 0, doc, 1, 8), 0.0f);
      cr_assert_eq(fn(q, 1, doc, 0, 8), 0.0f);
      cr_assert_eq(fn(q, 1, doc, 1, 0), 0.0f);
    }
    cr_assert_eq(mx_maxsim_reference(dtype, q, 0, doc, 1, 8), 0.0);
    mx_maxsim_fn best = mx_maxsim_best(dtype);
    cr_assert_not_null(best);
    mx_maxsim_fn expect = mx_maxsim_kernel(dtype, mx_simd_level_get());
    cr_assert(best == (expect ? expect : mx_maxsim_kernel(dtype, MX_SIMD_SCALAR)));
  }
  cr_assert_null(mx_maxsim_kernel((mx_dtype)99, MX_SIMD_SCALAR));
  cr_assert_null(mx_maxsim_kernel(MX_DTYPE_F32, (mx_simd_level)7));
  cr_assert_null(mx_maxsim_best((mx_dtype)99));
  cr_assert_eq(mx_vector_bytes(MX_DTYPE_F32, 10), 40u);
  cr_assert_eq(mx_vector_bytes(MX_DTYPE_F16, 10), 20u);
  cr_assert_eq(mx_vector_bytes(MX_DTYPE_BF16, 10), 20u);
  cr_assert_eq(mx_vector_bytes(MX_DTYPE_INT8, 10), 14u);
}

Test(maxsim, env_forces_scalar) {
  /* Each Criterion test runs in its own process, and nothing here has asked
   * for the level yet, so the override takes effect. */
  setenv("MX_SIMD", "scalar", 1);
  cr_assert_eq(mx_simd_level_get(), MX_SIMD_SCALAR);
  for (size_t t = 0; t < sizeof all_dtypes / sizeof all_dtypes[0]; t++)
    cr_assert(mx_maxsim_best(all_dtypes[t]) == mx_maxsim_kernel(all_dtypes[t], MX_SIMD_SCALAR));
}

Test(maxsim, many_query_vectors) {
  /* More query vectors than one pass of the AVX2 driver keeps (64). */
  for (int level = 0; level <= 1; level++) {
    if (level == MX_SIMD_AVX2 && (!avx2_supported() || !mx_maxsim_kernel(MX_DTYPE_F32, MX_SIMD_AVX2)))
      continue;
    mx_test_rng rng = {99};
    for (size_t t = 0; t < sizeof all_dtypes / sizeof all_dtypes[0]; t++) {
      check_path((mx_simd_level)level, all_dtypes[t], &rng, 130, 5, 33, 1);
      check_path((mx_simd_level)level, all_dtypes[t], &rng, 65, 9, 8, 0);
    }
  }
}
