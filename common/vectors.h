/* vectors.h: the input rule the builder and `metaidx build` apply before
 * anything is written, defined once: every element finite, no vector all
 * zeros, and (unless the build normalises) an L2 norm within
 * MX_NORM_TOLERANCE of 1. The callers word the error (a file and row, or a
 * document number) from the fault found. */
#ifndef MX_COMMON_VECTORS_H
#define MX_COMMON_VECTORS_H

#include <stdint.h>

#include "metaidx.h"

/* How far from 1 a vector's norm may be before it is refused (MetaEmbed's
 * vectors are L2-normalised; f16 rounding moves a norm by ~1e-3). */
#define MX_NORM_TOLERANCE 1e-2

typedef enum mx_vector_fault {
  MX_VECTOR_OK = 0,
  MX_VECTOR_NONFINITE, /* element `element` is NaN or infinite (`value`) */
  MX_VECTOR_ZERO,      /* every element is 0 */
  MX_VECTOR_NORM       /* the L2 norm `norm` is not 1 within MX_NORM_TOLERANCE */
} mx_vector_fault;

typedef struct mx_vector_check {
  mx_vector_fault fault;
  uint64_t row;     /* from 0, within the rows given */
  uint32_t vector;  /* within the row */
  uint32_t element; /* MX_VECTOR_NONFINITE only */
  float value;      /* MX_VECTOR_NONFINITE only */
  double norm;      /* MX_VECTOR_NORM only */
} mx_vector_check;

/* Checks n_rows rows of f32 or f16 vectors (rows of row_vectors vectors of
 * dim elements, contiguous): the first check_vectors vectors of each row
 * (at most row_vectors), their norms too when unit_norm. Returns 0 when all
 * pass; else 1 with the first fault (lowest row, then vector, then
 * element) in *bad. */
int mx_check_vectors(const void *data, mx_dtype dtype, uint32_t dim, uint64_t n_rows,
                     uint32_t row_vectors, uint32_t check_vectors, int unit_norm,
                     mx_vector_check *bad);

#endif
