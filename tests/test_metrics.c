/* test_metrics.c: percentiles, mean, recall@k, MRR@k, nDCG@k against
 * values computed by hand (the arithmetic is in the comments). */
#include <criterion/criterion.h>
#include <math.h>

#include "metrics.h"

#define EPS 1e-12

Test(metrics, percentile_interpolates_like_numpy) {
  /* unsorted input; sorted: 1 2 3 4 10 (n = 5) */
  const double v[] = {4, 1, 10, 3, 2};
  /* p = 50: rank 0.5 * 4 = 2 -> v[2] = 3 */
  cr_assert_float_eq(mx_percentile(v, 5, 50), 3.0, EPS);
  /* p = 0 / 100: the minimum / maximum */
  cr_assert_float_eq(mx_percentile(v, 5, 0), 1.0, EPS);
  cr_assert_float_eq(mx_percentile(v, 5, 100), 10.0, EPS);
  /* p = 90: rank 0.9 * 4 = 3.6 -> 4 + 0.6 * (10 - 4) = 7.6 */
  cr_assert_float_eq(mx_percentile(v, 5, 90), 7.6, 1e-9);
  /* p = 99: rank 3.96 -> 4 + 0.96 * 6 = 9.76 */
  cr_assert_float_eq(mx_percentile(v, 5, 99), 9.76, 1e-9);
  /* p = 10: rank 0.4 -> 1 + 0.4 * (2 - 1) = 1.4 */
  cr_assert_float_eq(mx_percentile(v, 5, 10), 1.4, 1e-9);
  /* n = 4: 1 2 3 4, p = 50: rank 1.5 -> 2.5 */
  const double w[] = {1, 2, 3, 4};
  cr_assert_float_eq(mx_percentile_sorted(w, 4, 50), 2.5, EPS);
  /* p = 25: rank 0.75 -> 1.75 */
  cr_assert_float_eq(mx_percentile_sorted(w, 4, 25), 1.75, EPS);
  /* one value: every percentile is it */
  cr_assert_float_eq(mx_percentile(w, 1, 37), 1.0, EPS);
  cr_assert(isnan(mx_percentile(v, 0, 50)));
  cr_assert(isnan(mx_percentile(v, 5, -1)));
  cr_assert(isnan(mx_percentile(v, 5, 101)));
  cr_assert(isnan(mx_percentile(v, 5, NAN)));
  /* the input is not modified */
  cr_assert_eq(v[0], 4);
  cr_assert_eq(v[2], 10);
}

Test(metrics, mean) {
  const double v[] = {1, 2, 3, 10};
  /* (1 + 2 + 3 + 10) / 4 = 4 */
  cr_assert_float_eq(mx_mean(v, 4), 4.0, EPS);
  cr_assert(isnan(mx_mean(v, 0)));
}

Test(metrics, recall_at_k) {
  const uint64_t truth[] = {1, 2, 3, 4, 5};
  const uint64_t ranked[] = {3, 9, 1, 7, 5};
  /* k = 3: top-3 ranked {3, 9, 1}, truth top-3 {1, 2, 3}: common {1, 3} -> 2/3 */
  cr_assert_float_eq(mx_recall_at_k(ranked, 5, truth, 5, 3), 2.0 / 3.0, EPS);
  /* k = 5: {3, 9, 1, 7, 5} vs {1..5}: common {1, 3, 5} -> 3/5 */
  cr_assert_float_eq(mx_recall_at_k(ranked, 5, truth, 5, 5), 0.6, EPS);
  /* k = 10 but only 5 truth ids: denominator min(10, 5) = 5 -> 3/5 */
  cr_assert_float_eq(mx_recall_at_k(ranked, 5, truth, 5, 10), 0.6, EPS);
  /* k = 1: {3} vs {1} -> 0 */
  cr_assert_float_eq(mx_recall_at_k(ranked, 5, truth, 5, 1), 0.0, EPS);
  /* fewer results than k: 2 results {1, 2}, k = 4, truth top-4 {1..4} -> 2/4 */
  const uint64_t few[] = {1, 2};
  cr_assert_float_eq(mx_recall_at_k(few, 2, truth, 5, 4), 0.5, EPS);
  /* duplicates count once and missing results (NO_ID) never match:
   * {1, 1, NO_ID} vs {1, 2, 3} -> 1/3 */
  const uint64_t dup[] = {1, 1, MX_METRICS_NO_ID};
  cr_assert_float_eq(mx_recall_at_k(dup, 3, truth, 5, 3), 1.0 / 3.0, EPS);
  cr_assert_float_eq(mx_recall_at_k(NULL, 0, truth, 5, 3), 0.0, EPS);
  cr_assert(isnan(mx_recall_at_k(ranked, 5, truth, 0, 3)));
  cr_assert(isnan(mx_recall_at_k(ranked, 5, truth, 5, 0)));
}

Test(metrics, recall_at_large_k_uses_the_heap_path) {
  enum { K = 1000 };
  static uint64_t truth[K], ranked[K];
  /* truth 0..999; ranked: the even ones of truth then 500 ids not in it:
   * 500 common / 1000 = 0.5 */
  for (uint64_t i = 0; i < K; i++) {
    truth[i] = i;
    ranked[i] = i < 500 ? 2 * i : 100000 + i;
  }
  cr_assert_float_eq(mx_recall_at_k(ranked, K, truth, K, K), 0.5, EPS);
}

Test(metrics, mrr_at_k) {
  const uint64_t ranked[] = {7, 3, 9, 4};
  const uint64_t rel[] = {9, 4};
  /* first relevant (9) at position 2 (0-based) -> 1/3 */
  cr_assert_float_eq(mx_mrr_at_k(ranked, 4, rel, 2, 10), 1.0 / 3.0, EPS);
  /* k = 2: positions 0, 1 hold 7, 3: none relevant -> 0 */
  cr_assert_float_eq(mx_mrr_at_k(ranked, 4, rel, 2, 2), 0.0, EPS);
  const uint64_t first[] = {7};
  cr_assert_float_eq(mx_mrr_at_k(ranked, 4, first, 1, 10), 1.0, EPS);
  cr_assert(isnan(mx_mrr_at_k(ranked, 4, rel, 0, 10)));
}

Test(metrics, ndcg_at_k) {
  const uint64_t ranked[] = {7, 3, 9, 4};
  const uint64_t rel[] = {9, 4};
  /* k = 4: relevant at positions 2 and 3:
   * DCG = 1/log2(4) + 1/log2(5) = 0.5 + 0.430676558 = 0.930676558
   * IDCG (2 relevant) = 1/log2(2) + 1/log2(3) = 1 + 0.630929754 = 1.630929754
   * nDCG = 0.930676558 / 1.630929754 = 0.570641719 */
  double want = (0.5 + 1.0 / log2(5.0)) / (1.0 + 1.0 / log2(3.0));
  cr_assert_float_eq(mx_ndcg_at_k(ranked, 4, rel, 2, 4), want, EPS);
  cr_assert_float_eq(want, 0.570641719, 1e-9);
  /* k = 3: only position 2: DCG = 0.5; IDCG = min(3, 2) = 2 terms = 1.630929754
   * -> 0.306573 */
  cr_assert_float_eq(mx_ndcg_at_k(ranked, 4, rel, 2, 3), 0.5 / (1.0 + 1.0 / log2(3.0)), EPS);
  /* k = 1 with one relevant at position 0: 1 / 1 = 1 */
  const uint64_t seven[] = {7};
  cr_assert_float_eq(mx_ndcg_at_k(ranked, 4, seven, 1, 1), 1.0, EPS);
  /* single relevant id at position 1: DCG = 1/log2(3) = 0.630929754; IDCG = 1 */
  const uint64_t three[] = {3};
  cr_assert_float_eq(mx_ndcg_at_k(ranked, 4, three, 1, 10), 1.0 / log2(3.0), EPS);
  /* a repeated hit counts once: {3, 3} with relevant {3}: DCG = 1, IDCG = 1 */
  const uint64_t rep[] = {3, 3};
  cr_assert_float_eq(mx_ndcg_at_k(rep, 2, three, 1, 2), 1.0, EPS);
  /* duplicates in the relevant list count once: {9, 9, 4} is like {9, 4} */
  const uint64_t rel_dup[] = {9, 9, 4};
  cr_assert_float_eq(mx_ndcg_at_k(ranked, 4, rel_dup, 3, 4), want, EPS);
  cr_assert_float_eq(mx_ndcg_at_k(ranked, 4, (const uint64_t[]){42}, 1, 4), 0.0, EPS);
  cr_assert(isnan(mx_ndcg_at_k(ranked, 4, rel, 0, 4)));
  cr_assert(isnan(mx_ndcg_at_k(ranked, 4, rel, 2, 0)));
}
