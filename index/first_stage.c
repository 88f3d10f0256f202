/* first_stage.c: the entries and query rows of each first-stage kind (see
 * first_stage.h for the table). */
#include "first_stage.h"

#include <math.h>
#include <string.h>

uint32_t mx_first_stage_entries_per_doc(mx_first_stage kind, uint32_t m) {
  return kind == MX_FIRST_STAGE_MULTI ? m : 1;
}

uint64_t mx_first_stage_coarse_entries(const mx_manifest *m) {
  return m->n_docs *
         mx_first_stage_entries_per_doc(m->first_stage, m->first_stage_vectors);
}

void mx_normalize_f32(float *v, uint32_t n) {
  double norm = 0;
  for (uint32_t i = 0; i < n; i++)
    norm += (double)v[i] * v[i];
  if (norm <= 0)
    return;
  double inv = 1.0 / sqrt(norm);
  for (uint32_t i = 0; i < n; i++)
    v[i] = (float)(v[i] * inv);
}

/* out = normalised sum of the n rows of x (n x dim). The mean and the sum
 * have the same direction, so pooling is the same rule for both sides. */
static void pool(const float *x, uint32_t n, uint32_t dim, float *out) {
  memset(out, 0, (size_t)dim * sizeof(float));
  for (uint32_t j = 0; j < n; j++)
    for (uint32_t e = 0; e < dim; e++)
      out[e] += x[(size_t)j * dim + e];
  mx_normalize_f32(out, dim);
}

void mx_first_stage_doc_entries(mx_first_stage kind, uint32_t m,
                                const float *doc, uint32_t dim, float *out) {
  switch (kind) {
  case MX_FIRST_STAGE_POOLED:
    pool(doc, m, dim, out);
    return;
  case MX_FIRST_STAGE_MULTI:
    memcpy(out, doc, (size_t)m * dim * sizeof(float));
    return;
  default:
    memcpy(out, doc, (size_t)dim * sizeof(float));
    return;
  }
}

uint32_t mx_first_stage_query_vectors(mx_first_stage kind, uint32_t r_q,
                                      uint32_t cap) {
  if (kind == MX_FIRST_STAGE_LEADING || kind == MX_FIRST_STAGE_AUTO)
    return 1;
  return cap && cap < r_q ? cap : r_q;
}

uint32_t mx_first_stage_query_rows(mx_first_stage kind, uint32_t r) {
  return kind == MX_FIRST_STAGE_MULTI ? r : 1;
}

void mx_first_stage_make_query(mx_first_stage kind, const float *q, uint32_t r,
                               uint32_t dim, float *out) {
  if (kind == MX_FIRST_STAGE_POOLED)
    pool(q, r, dim, out);
  else
    memcpy(out, q,
           (size_t)mx_first_stage_query_rows(kind, r) * dim * sizeof(float));
}
