/* test_topk.c: the bounded top-k heap against sorting every item, with ties
 * (broken by smaller doc id), k > n, k = 0 and NaN scores. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "helpers.h"
#include "topk.h"

static int better_first(const void *pa, const void *pb) {
  const mx_scored *a = pa, *b = pb;
  int an = isnan(a->score), bn = isnan(b->score);
  if (an != bn)
    return an ? 1 : -1;
  if (!an && a->score != b->score)
    return a->score > b->score ? -1 : 1;
  return a->doc < b->doc ? -1 : a->doc > b->doc;
}

/* Pushes n items (scores from a small set when `ties`), checks that finish
 * returns exactly the first min(k, n) of the fully sorted list. */
static void check(mx_test_rng *rng, size_t n, size_t k, int ties, int nans) {
  mx_scored *all = malloc((n ? n : 1) * sizeof *all);
  mx_scored *heap = malloc((k ? k : 1) * sizeof *heap);
  cr_assert(all && heap);
  mx_topk t;
  mx_topk_init(&t, heap, k);
  for (size_t i = 0; i < n; i++) {
    float s = ties ? (float)mx_test_rng_below(rng, 4) : mx_test_rng_float(rng);
    if (nans && mx_test_rng_below(rng, 5) == 0)
      s = NAN;
    uint64_t doc = mx_test_rng_next(rng) % (n * 4 + 1); /* may repeat across items */
    if (!ties)
      doc = i * 7919 % (n + 13);
    all[i] = (mx_scored){s, doc};
    mx_topk_push(&t, s, doc);
  }
  qsort(all, n, sizeof *all, better_first);
  size_t m = mx_topk_finish(&t);
  size_t want = n < k ? n : k;
  cr_assert_eq(m, want, "n=%zu k=%zu: %zu kept", n, k, m);
  for (size_t i = 0; i < m; i++) {
    int same = (isnan(heap[i].score) && isnan(all[i].score)) || heap[i].score == all[i].score;
    cr_assert(same && heap[i].doc == all[i].doc,
              "n=%zu k=%zu ties=%d rank %zu: got (%g, %llu) want (%g, %llu)", n, k, ties, i,
              (double)heap[i].score, (unsigned long long)heap[i].doc, (double)all[i].score,
              (unsigned long long)all[i].doc);
  }
  free(all);
  free(heap);
}

Test(topk, matches_full_sort) {
  mx_test_rng rng = {1};
  static const size_t ns[] = {0, 1, 2, 3, 5, 10, 100, 1000};
  static const size_t ks[] = {0, 1, 2, 3, 7, 10, 100, 5000};
  for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
    for (size_t b = 0; b < sizeof ks / sizeof ks[0]; b++)
      for (int ties = 0; ties <= 1; ties++)
        check(&rng, ns[a], ks[b], ties, 0);
}

Test(topk, ties_broken_by_smaller_doc) {
  mx_scored st[3];
  mx_topk t;
  mx_topk_init(&t, st, 3);
  static const uint64_t docs[] = {9, 4, 7, 1, 8, 2};
  for (size_t i = 0; i < 6; i++)
    mx_topk_push(&t, 0.5f, docs[i]);
  cr_assert_eq(mx_topk_finish(&t), 3);
  cr_assert_eq(st[0].doc, 1);
  cr_assert_eq(st[1].doc, 2);
  cr_assert_eq(st[2].doc, 4);
}

Test(topk, k_larger_than_n_and_zero) {
  mx_scored st[8];
  mx_topk t;
  mx_topk_init(&t, st, 8);
  mx_topk_push(&t, 1.0f, 5);
  mx_topk_push(&t, 3.0f, 6);
  mx_topk_push(&t, 2.0f, 7);
  cr_assert_eq(mx_topk_finish(&t), 3);
  cr_assert_eq(st[0].doc, 6);
  cr_assert_eq(st[1].doc, 7);
  cr_assert_eq(st[2].doc, 5);
  mx_topk_init(&t, st, 0);
  mx_topk_push(&t, 1.0f, 1);
  cr_assert_eq(mx_topk_finish(&t), 0);
  mx_topk_init(&t, NULL, 4);
  mx_topk_push(&t, 1.0f, 1);
  cr_assert_eq(mx_topk_finish(&t), 0);
}

Test(topk, nan_ranks_last) {
  mx_test_rng rng = {3};
  for (int r = 0; r < 20; r++)
    check(&rng, 50 + (size_t)r, 1 + (size_t)r * 3, r & 1, 1);
}
