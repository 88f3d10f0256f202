/* metrics.c: percentiles, means and retrieval-quality metrics (see
 * metrics.h for the exact definitions). */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

double mx_percentile_sorted(const double *sorted, size_t n, double p) {
  if (n == 0 || !sorted || !(p >= 0.0 && p <= 100.0))
    return NAN;
  double rank = p / 100.0 * (double)(n - 1);
  size_t lo = (size_t)floor(rank);
  if (lo >= n - 1)
    return sorted[n - 1];
  double frac = rank - (double)lo;
  return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

double mx_percentile(const double *values, size_t n, double p) {
  if (n == 0 || !values || !(p >= 0.0 && p <= 100.0))
    return NAN;
  double *copy = malloc(n * sizeof *copy);
  if (!copy)
    return NAN;
  memcpy(copy, values, n * sizeof *copy);
  qsort(copy, n, sizeof *copy, cmp_double);
  double r = mx_percentile_sorted(copy, n, p);
  free(copy);
  return r;
}

double mx_mean(const double *values, size_t n) {
  if (n == 0 || !values)
    return NAN;
  double sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += values[i];
  return sum / (double)n;
}

/* Sorts ids[0..n) and drops duplicates and MX_METRICS_NO_ID; returns the
 * new length. */
static size_t sort_unique(uint64_t *ids, size_t n) {
  qsort(ids, n, sizeof *ids, cmp_u64);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] == MX_METRICS_NO_ID)
      continue;
    if (m == 0 || ids[m - 1] != ids[i])
      ids[m++] = ids[i];
  }
  return m;
}

double mx_recall_at_k(const uint64_t *ranked, size_t n_ranked, const uint64_t *truth,
                      size_t n_truth, size_t k) {
  size_t nt = n_truth < k ? n_truth : k;
  size_t nr = n_ranked < k ? n_ranked : k;
  if (nt == 0 || !truth)
    return NAN;
  if (nr == 0 || !ranked)
    return 0.0;
  enum { STACK_IDS = 256 };
  uint64_t stack_a[STACK_IDS], stack_b[STACK_IDS];
  uint64_t *a = nt <= STACK_IDS ? stack_a : malloc(nt * sizeof *a);
  uint64_t *b = nr <= STACK_IDS ? stack_b : malloc(nr * sizeof *b);
  double result = NAN;
  if (a && b) {
    memcpy(a, truth, nt * sizeof *a);
    memcpy(b, ranked, nr * sizeof *b);
    size_t ua = sort_unique(a, nt), ub = sort_unique(b, nr);
    size_t i = 0, j = 0, hits = 0;
    while (i < ua && j < ub) {
      if (a[i] < b[j]) {
        i++;
      } else if (a[i] > b[j]) {
        j++;
      } else {
        hits++;
        i++;
        j++;
      }
    }
    result = (double)hits / (double)nt;
  }
  if (a != stack_a)
    free(a);
  if (b != stack_b)
    free(b);
  return result;
}

static int contains(const uint64_t *ids, size_t n, uint64_t id) {
  for (size_t i = 0; i < n; i++)
    if (ids[i] == id)
      return 1;
  return 0;
}

/* Number of distinct ids in relevant, MX_METRICS_NO_ID excluded. Relevance
 * lists are short (usually 1), so quadratic is fine. */
static size_t distinct_relevant(const uint64_t *relevant, size_t n) {
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (relevant[i] != MX_METRICS_NO_ID && !contains(relevant, i, relevant[i]))
      m++;
  return m;
}

double mx_mrr_at_k(const uint64_t *ranked, size_t n_ranked, const uint64_t *relevant,
                   size_t n_relevant, size_t k) {
  if (!relevant || distinct_relevant(relevant, n_relevant) == 0)
    return NAN;
  size_t n = n_ranked < k ? n_ranked : k;
  for (size_t i = 0; ranked && i < n; i++)
    if (ranked[i] != MX_METRICS_NO_ID && contains(relevant, n_relevant, ranked[i]))
      return 1.0 / (double)(i + 1);
  return 0.0;
}

double mx_ndcg_at_k(const uint64_t *ranked, size_t n_ranked, const uint64_t *relevant,
                    size_t n_relevant, size_t k) {
  size_t nrel = relevant ? distinct_relevant(relevant, n_relevant) : 0;
  if (nrel == 0 || k == 0)
    return NAN;
  size_t n = n_ranked < k ? n_ranked : k;
  double dcg = 0;
  for (size_t i = 0; ranked && i < n; i++) {
    uint64_t id = ranked[i];
    if (id != MX_METRICS_NO_ID && contains(relevant, n_relevant, id) && !contains(ranked, i, id))
      dcg += 1.0 / log2((double)i + 2.0);
  }
  size_t ideal_n = nrel < k ? nrel : k;
  double idcg = 0;
  for (size_t i = 0; i < ideal_n; i++)
    idcg += 1.0 / log2((double)i + 2.0);
  return dcg / idcg;
}
