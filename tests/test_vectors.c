/* test_vectors.c: the input vector rule (common/vectors.c) and the element
 * types (common/dtype.h): faults found at the right row, vector and element
 * for f32 and f16 rows of awkward sizes, only the checked vectors of a row
 * looked at, the norm tolerance at its edge, and bytes/loads per dtype. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "half.h"
#include "vectors.h"

/* n_rows x row_vectors unit vectors of dim floats, stored as dtype. */
static void *unit_rows(mx_dtype dtype, uint32_t dim, uint64_t n_rows, uint32_t row_vectors,
                       unsigned seed) {
  size_t n = (size_t)n_rows * row_vectors;
  unsigned char *out = malloc(n * dim * mx_dtype_bytes(dtype) + 1);
  srand(seed);
  float *v = malloc(dim * sizeof *v);
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (uint32_t e = 0; e < dim; e++) {
      v[e] = (float)rand() / RAND_MAX - 0.5f;
      s += (double)v[e] * v[e];
    }
    for (uint32_t e = 0; e < dim; e++) {
      float x = (float)(v[e] / sqrt(s));
      size_t at = i * dim + e;
      if (dtype == MX_DTYPE_F16) {
        uint16_t h = mx_f32_to_f16(x);
        memcpy(out + 2 * at, &h, 2);
      } else {
        memcpy(out + 4 * at, &x, 4);
      }
    }
  }
  free(v);
  return out;
}

static void put(void *rows, mx_dtype dtype, size_t at, float x) {
  if (dtype == MX_DTYPE_F16) {
    uint16_t h = mx_f32_to_f16(x);
    memcpy((unsigned char *)rows + 2 * at, &h, 2);
  } else {
    memcpy((unsigned char *)rows + 4 * at, &x, 4);
  }
}

Test(vectors, good_rows_pass_and_faults_are_located) {
  const mx_dtype types[] = {MX_DTYPE_F32, MX_DTYPE_F16};
  const uint32_t dims[] = {1, 3, 17, 130};
  for (size_t t = 0; t < 2; t++)
    for (size_t di = 0; di < 4; di++) {
      uint32_t dim = dims[di], R = 5, check = 3;
      uint64_t n = 7;
      mx_vector_check bad;
      void *rows = unit_rows(types[t], dim, n, R, (unsigned)(dim + t));
      cr_assert_eq(mx_check_vectors(rows, types[t], dim, n, R, check, 1, &bad), 0, "dim %u", dim);
      /* a fault in an unchecked vector (index 4 >= check) is not looked at */
      put(rows, types[t], ((size_t)2 * R + 4) * dim, NAN);
      cr_assert_eq(mx_check_vectors(rows, types[t], dim, n, R, check, 1, &bad), 0);
      cr_assert_eq(mx_check_vectors(rows, types[t], dim, n, R, R, 1, &bad), 1);
      cr_assert(bad.fault == MX_VECTOR_NONFINITE && bad.row == 2 && bad.vector == 4 &&
                bad.element == 0 && isnan(bad.value));
      /* an earlier fault wins: infinity at row 1, vector 2, last element */
      put(rows, types[t], ((size_t)1 * R + 2) * dim + dim - 1, -INFINITY);
      cr_assert_eq(mx_check_vectors(rows, types[t], dim, n, R, check, 1, &bad), 1);
      cr_assert(bad.fault == MX_VECTOR_NONFINITE && bad.row == 1 && bad.vector == 2 &&
                bad.element == dim - 1 && isinf(bad.value));
      /* a zero vector at row 0, vector 1 comes first, with or without the norm */
      for (uint32_t e = 0; e < dim; e++)
        put(rows, types[t], ((size_t)0 * R + 1) * dim + e, 0.0f);
      for (int unit = 0; unit < 2; unit++) {
        cr_assert_eq(mx_check_vectors(rows, types[t], dim, n, R, check, unit, &bad), 1);
        cr_assert(bad.fault == MX_VECTOR_ZERO && bad.row == 0 && bad.vector == 1);
      }
      /* a vector of norm 2 at row 0, vector 0: refused only when unit norm is wanted */
      for (uint32_t e = 0; e < dim; e++) {
        float x = mx_load_element(rows, types[t], e);
        put(rows, types[t], e, 2 * x);
      }
      cr_assert_eq(mx_check_vectors(rows, types[t], dim, n, R, check, 1, &bad), 1);
      cr_assert(bad.fault == MX_VECTOR_NORM && bad.row == 0 && bad.vector == 0);
      cr_assert_float_eq(bad.norm, 2.0, 2e-3);
      cr_assert_eq(mx_check_vectors(rows, types[t], dim, n, R, check, 0, &bad), 1);
      cr_assert_eq(bad.fault, MX_VECTOR_ZERO, "the norm is ignored, the zero vector is not");
      free(rows);
    }
}

Test(vectors, norm_tolerance_edge) {
  /* one f32 element: its absolute value is the norm */
  float in[1];
  mx_vector_check bad;
  const double ok[] = {1.0, 1.0 + 0.9 * MX_NORM_TOLERANCE, 1.0 - 0.9 * MX_NORM_TOLERANCE};
  const double no[] = {1.0 + 1.1 * MX_NORM_TOLERANCE, 1.0 - 1.1 * MX_NORM_TOLERANCE, 1e-30, 1e30};
  for (size_t i = 0; i < 3; i++) {
    in[0] = (float)-ok[i];
    cr_assert_eq(mx_check_vectors(in, MX_DTYPE_F32, 1, 1, 1, 1, 1, &bad), 0, "%g", ok[i]);
  }
  for (size_t i = 0; i < 4; i++) {
    in[0] = (float)no[i];
    cr_assert_eq(mx_check_vectors(in, MX_DTYPE_F32, 1, 1, 1, 1, 1, &bad), 1, "%g", no[i]);
    cr_assert_eq(bad.fault, MX_VECTOR_NORM);
  }
  /* no rows, or no vectors checked: nothing to refuse */
  cr_assert_eq(mx_check_vectors(in, MX_DTYPE_F32, 1, 0, 1, 1, 1, &bad), 0);
  cr_assert_eq(mx_check_vectors(in, MX_DTYPE_F32, 1, 1, 1, 0, 1, &bad), 0);
}

Test(vectors, dtype_bytes_and_loads) {
  cr_assert_eq(mx_dtype_bytes(MX_DTYPE_F32), 4);
  cr_assert_eq(mx_dtype_bytes(MX_DTYPE_F16), 2);
  cr_assert_eq(mx_dtype_bytes(MX_DTYPE_BF16), 2);
  cr_assert_eq(mx_dtype_bytes(MX_DTYPE_INT8), 1);
  cr_assert_eq(mx_dtype_bytes((mx_dtype)9), 0);
  cr_assert_eq(mx_vector_bytes(MX_DTYPE_F32, 10), 40);
  cr_assert_eq(mx_vector_bytes(MX_DTYPE_F16, 10), 20);
  cr_assert_eq(mx_vector_bytes(MX_DTYPE_BF16, 10), 20);
  cr_assert_eq(mx_vector_bytes(MX_DTYPE_INT8, 10), 10 + MX_INT8_SCALE_BYTES);
  cr_assert_eq(mx_vector_bytes((mx_dtype)9, 10), 0);
  /* loads at odd offsets (as from a map) */
  unsigned char buf[16] = {0};
  float f = -1.5f;
  uint16_t h = mx_f32_to_f16(0.25f), bf = mx_f32_to_bf16(3.0f);
  memcpy(buf + 1 + 4, &f, 4);
  cr_assert_eq(mx_load_element(buf + 1, MX_DTYPE_F32, 1), -1.5f);
  memcpy(buf + 3 + 2 * 2, &h, 2);
  cr_assert_eq(mx_load_element(buf + 3, MX_DTYPE_F16, 2), 0.25f);
  memcpy(buf + 1, &bf, 2);
  cr_assert_eq(mx_load_element(buf + 1, MX_DTYPE_BF16, 0), 3.0f);
  cr_assert_eq(mx_load_element(buf, MX_DTYPE_INT8, 0), 0.0f);
}
