/* metrics.h: evaluation statistics for `metaidx eval` and the benchmarks:
 * percentiles and means of measurements, and retrieval quality (recall@k
 * against an exact ranking, MRR@k and nDCG@k against relevance judgements).
 * Plain arrays in, doubles out; no state. Ids are uint64_t; entries equal to
 * MX_METRICS_NO_ID (a missing result, as FAISS reports -1) never match. */
#ifndef MX_COMMON_METRICS_H
#define MX_COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define MX_METRICS_NO_ID UINT64_MAX

/* The p-th percentile (p in [0, 100]) of n values, by linear interpolation
 * between the closest ranks, as numpy.percentile's default ("linear"):
 * with the values sorted ascending as v[0..n-1], rank = p/100 * (n-1),
 * result = v[floor(rank)] + (rank - floor(rank)) * (v[ceil(rank)] - v[floor(rank)]).
 * mx_percentile sorts a copy (values is not modified); NaN if n == 0, p is
 * out of range or NaN, or memory runs out. mx_percentile_sorted takes values
 * already sorted ascending and does not allocate. */
double mx_percentile(const double *values, size_t n, double p);
double mx_percentile_sorted(const double *sorted, size_t n, double p);

/* Arithmetic mean; NaN if n == 0. */
double mx_mean(const double *values, size_t n);

/* recall@k of a ranked result list against a ground-truth ranking (e.g. the
 * exact brute-force top-k): |top-k(ranked) ∩ top-k(truth)| / min(k, n_truth),
 * where top-k of a list is its first min(k, n) entries and each id counts
 * once. NaN if min(k, n_truth) == 0. */
double mx_recall_at_k(const uint64_t *ranked, size_t n_ranked, const uint64_t *truth,
                      size_t n_truth, size_t k);

/* Reciprocal rank of the first relevant id among the first k of ranked
 * (1/1 for position 0, 1/2 for position 1, ...); 0 if none is relevant.
 * relevant is a set of ids (order does not matter). NaN if n_relevant == 0. */
double mx_mrr_at_k(const uint64_t *ranked, size_t n_ranked, const uint64_t *relevant,
                   size_t n_relevant, size_t k);

/* nDCG@k with binary relevance: DCG = sum over positions i < k (0-based)
 * holding a relevant id (its first occurrence) of 1 / log2(i + 2), divided
 * by the ideal DCG = sum over i < min(k, distinct relevant ids) of
 * 1 / log2(i + 2). NaN if there is no relevant id or k == 0. */
double mx_ndcg_at_k(const uint64_t *ranked, size_t n_ranked, const uint64_t *relevant,
                    size_t n_relevant, size_t k);

#endif
