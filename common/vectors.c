/* vectors.c: the input vector rule (see vectors.h). */
#include "vectors.h"

#include <math.h>
#include <stddef.h>

#include "dtype.h"

int mx_check_vectors(const void *data, mx_dtype dtype, uint32_t dim, uint64_t n_rows,
                     uint32_t row_vectors, uint32_t check_vectors, int unit_norm,
                     mx_vector_check *bad) {
  if (check_vectors > row_vectors)
    check_vectors = row_vectors;
  for (uint64_t row = 0; row < n_rows; row++) {
    for (uint32_t v = 0; v < check_vectors; v++) {
      size_t base = ((size_t)row * row_vectors + v) * dim;
      double norm2 = 0;
      for (uint32_t e = 0; e < dim; e++) {
        float x = mx_load_element(data, dtype, base + e);
        if (!isfinite(x)) {
          *bad = (mx_vector_check){MX_VECTOR_NONFINITE, row, v, e, x, 0};
          return 1;
        }
        norm2 += (double)x * x;
      }
      if (norm2 == 0) {
        *bad = (mx_vector_check){MX_VECTOR_ZERO, row, v, 0, 0, 0};
        return 1;
      }
      double norm = sqrt(norm2);
      if (unit_norm && fabs(norm - 1.0) > MX_NORM_TOLERANCE) {
        *bad = (mx_vector_check){MX_VECTOR_NORM, row, v, 0, 0, norm};
        return 1;
      }
    }
  }
  return 0;
}
