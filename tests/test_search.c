/* test_search.c: the search API against brute force computed here, in
 * double precision, from the vectors the test itself generated. */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "helpers.h"
#include "metaidx.h"

#define DIM 33 /* awkward on purpose: not a multiple of 8 */
#define R 12
#define RQ 5
#define N 400
#define NQ 16

typedef struct fixture {
  char *tmp;
  char dir[PATH_MAX];
  float *docs;    /* N x R x DIM as given to the builder */
  float *stored;  /* the same, rounded through the stored dtype */
  float *queries; /* NQ x RQ x DIM */
  mx_index *ix;
} fixture;

static float round_through(mx_dtype dtype, float x) {
  switch (dtype) {
  case MX_DTYPE_F16:
    return mx_f16_to_f32(mx_f32_to_f16(x));
  case MX_DTYPE_BF16:
    return mx_bf16_to_f32(mx_f32_to_bf16(x));
  default:
    return x;
  }
}

static void fixture_make(fixture *f, const char *name, mx_dtype dtype, const char *factory) {
  f->tmp = mx_test_tmpdir(name);
  snprintf(f->dir, sizeof f->dir, "%s/ix", f->tmp);
  mx_test_rng rng = {77};
  f->docs = malloc((size_t)N * R * DIM * sizeof(float));
  f->stored = malloc((size_t)N * R * DIM * sizeof(float));
  f->queries = malloc((size_t)NQ * RQ * DIM * sizeof(float));
  mx_test_random_unit_vectors(&rng, f->docs, (size_t)N * R, DIM);
  for (size_t i = 0; i < (size_t)N * R * DIM; i++)
    f->stored[i] = round_through(dtype, f->docs[i]);
  /* queries: noisy copies of some documents, so rankings are not all ties */
  for (int q = 0; q < NQ; q++) {
    const float *src = f->docs + (size_t)(q * 23 % N) * R * DIM;
    mx_test_random_unit_vectors(&rng, f->queries + (size_t)q * RQ * DIM, RQ, DIM);
    for (size_t i = 0; i < (size_t)RQ * DIM; i++)
      f->queries[(size_t)q * RQ * DIM + i] = 0.3f * f->queries[(size_t)q * RQ * DIM + i] + src[i];
  }
  mx_build_options o;
  mx_build_options_init(&o);
  o.dtype = dtype;
  o.coarse_factory = factory;
  mx_builder *b = NULL;
  mx_error err;
  cr_assert_eq(mx_builder_open(f->dir, DIM, R, &o, &b, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_builder_add(b, N, NULL, NULL, NULL, f->docs, MX_DTYPE_F32, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(mx_builder_finish(b, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_index_open(f->dir, NULL, &f->ix, &err), MX_OK, "%s", err.message);
}

static void fixture_free(fixture *f) {
  mx_index_close(f->ix);
  free(f->docs);
  free(f->stored);
  free(f->queries);
  mx_test_tmpdir_remove(f->tmp);
}

static double ref_maxsim(const float *q, uint32_t r_q, const float *doc, uint32_t r_c) {
  double total = 0;
  for (uint32_t i = 0; i < r_q; i++) {
    double best = -INFINITY;
    for (uint32_t j = 0; j < r_c; j++) {
      double dot = 0;
      for (uint32_t e = 0; e < DIM; e++)
        dot += (double)q[i * DIM + e] * doc[j * DIM + e];
      if (dot > best)
        best = dot;
    }
    total += best;
  }
  return total;
}

/* With every document a candidate, search must equal brute force. */
static void check_equals_brute_force(fixture *f, uint32_t r_q, uint32_t r_c, double tol) {
  mx_search_options o;
  mx_search_options_init(&o);
  o.k = 10;
  o.candidates = N;
  o.r_q = r_q;
  o.r_c = r_c;
  for (int q = 0; q < NQ; q++) {
    const float *query = f->queries + (size_t)q * RQ * DIM;
    mx_hit hits[10];
    uint32_t nh = 0;
    mx_error err;
    cr_assert_eq(mx_search(f->ix, query, RQ, &o, hits, &nh, NULL, &err), MX_OK, "%s", err.message);
    cr_assert_eq(nh, 10);
    double scores[N];
    for (int d = 0; d < N; d++)
      scores[d] = ref_maxsim(query, r_q, f->stored + (size_t)d * R * DIM, r_c);
    for (uint32_t i = 0; i < nh; i++) {
      double want = scores[hits[i].doc];
      cr_assert(fabs(hits[i].score - want) <= tol * fmax(1.0, fabs(want)),
                "q%d hit %u doc %llu: %f vs %f", q, i, (unsigned long long)hits[i].doc,
                hits[i].score, want);
      if (i > 0)
        cr_assert_geq(hits[i - 1].score, hits[i].score, "best first");
      /* no document outside the hits scores better than the last hit (up to tolerance) */
    }
    int better = 0;
    for (int d = 0; d < N; d++)
      if (scores[d] > scores[hits[nh - 1].doc] + tol * 4)
        better++;
    cr_assert_leq(better, (int)nh - 1, "q%d: %d docs outscore the 10th hit", q, better);
    for (uint32_t i = 0; i < nh; i++) /* the hits are exactly the top 10 when no near-ties */
      cr_assert_geq(scores[hits[i].doc] + tol * 4, scores[hits[nh - 1].doc]);
  }
}

Test(search, f32_all_candidates_equals_brute_force) {
  fixture f;
  fixture_make(&f, "search_f32", MX_DTYPE_F32, "Flat");
  check_equals_brute_force(&f, RQ, R, 1e-5);
  check_equals_brute_force(&f, 1, 1, 1e-5);
  check_equals_brute_force(&f, 3, 7, 1e-5);
  fixture_free(&f);
}

Test(search, f16_all_candidates_equals_brute_force_over_stored_values) {
  fixture f;
  fixture_make(&f, "search_f16", MX_DTYPE_F16, NULL);
  check_equals_brute_force(&f, RQ, R, 1e-4);
  check_equals_brute_force(&f, 2, 4, 1e-4);
  fixture_free(&f);
}

Test(search, exact_search_equals_search_over_every_candidate) {
  fixture f;
  fixture_make(&f, "search_exact", MX_DTYPE_BF16, NULL);
  mx_hit exact[NQ * 10], hits[NQ * 10];
  uint32_t ne[NQ], nh[NQ];
  mx_error err;
  cr_assert_eq(mx_exact_search(f.ix, f.queries, NQ, RQ, 4, 8, 10, 2, exact, ne, &err), MX_OK,
               "%s", err.message);
  mx_search_options o;
  mx_search_options_init(&o);
  o.candidates = N;
  o.r_q = 4;
  o.r_c = 8;
  cr_assert_eq(mx_search_batch(f.ix, f.queries, NQ, RQ, &o, 2, hits, nh, NULL, &err), MX_OK, "%s",
               err.message);
  for (int q = 0; q < NQ; q++) {
    cr_assert_eq(ne[q], nh[q]);
    for (uint32_t i = 0; i < ne[q]; i++) {
      cr_assert_eq(exact[q * 10 + i].doc, hits[q * 10 + i].doc, "q%d rank %u", q, i);
      cr_assert_float_eq(exact[q * 10 + i].score, hits[q * 10 + i].score, 0.0f);
    }
  }
  fixture_free(&f);
}

Test(search, cascade_keeping_everything_equals_single_stage) {
  fixture f;
  fixture_make(&f, "search_cascade", MX_DTYPE_F16, NULL);
  mx_search_options single, cascade;
  mx_search_options_init(&single);
  single.candidates = 120;
  cascade = single;
  cascade.n_stages = 2;
  cascade.stages[0] = (mx_stage){2, 4, 120};
  cascade.stages[1] = (mx_stage){4, 8, 500};
  for (int q = 0; q < NQ; q++) {
    mx_hit a[10], b[10];
    uint32_t na, nb;
    mx_search_stats sa, sb;
    mx_error err;
    const float *query = f.queries + (size_t)q * RQ * DIM;
    cr_assert_eq(mx_search(f.ix, query, RQ, &single, a, &na, &sa, &err), MX_OK, "%s", err.message);
    cr_assert_eq(mx_search(f.ix, query, RQ, &cascade, b, &nb, &sb, &err), MX_OK, "%s",
                 err.message);
    cr_assert_eq(na, nb);
    for (uint32_t i = 0; i < na; i++) {
      cr_assert_eq(a[i].doc, b[i].doc);
      cr_assert_float_eq(a[i].score, b[i].score, 0.0f);
    }
    cr_assert_eq(sb.n_stages_run, 3);
    cr_assert_eq(sb.scored, 3 * sa.scored, "each stage scored every candidate");
    cr_assert_eq(sa.candidates, 120);
    /* later stages only count the bytes past the earlier prefix */
    cr_assert_eq(sb.bytes_touched, sa.bytes_touched);
  }
  /* a narrowing cascade scores fewer documents at the full budget */
  cascade.stages[0].keep = 30;
  cascade.stages[1].keep = 15;
  mx_hit h[10];
  uint32_t nh;
  mx_search_stats st;
  cr_assert_eq(mx_search(f.ix, f.queries, RQ, &cascade, h, &nh, &st, NULL), MX_OK);
  cr_assert_eq(st.scored, 120 + 30 + 15);
  cr_assert_eq(nh, 10);
  fixture_free(&f);
}

typedef struct thread_arg {
  fixture *f;
  mx_hit hits[NQ][10];
  uint32_t n[NQ];
  mx_status status;
} thread_arg;

static void *search_thread(void *p) {
  thread_arg *a = p;
  mx_search_options o;
  mx_search_options_init(&o);
  o.candidates = 64;
  for (int rep = 0; rep < 3; rep++)
    for (int q = 0; q < NQ && a->status == MX_OK; q++)
      a->status = mx_search(a->f->ix, a->f->queries + (size_t)q * RQ * DIM, RQ, &o, a->hits[q],
                            &a->n[q], NULL, NULL);
  return NULL;
}

Test(search, eight_threads_give_the_same_answers_as_one) {
  fixture f;
  fixture_make(&f, "search_threads", MX_DTYPE_F16, NULL);
  thread_arg *one = calloc(1, sizeof *one);
  thread_arg *many = calloc(8, sizeof *many);
  one->f = &f;
  search_thread(one);
  cr_assert_eq(one->status, MX_OK);
  pthread_t t[8];
  for (int i = 0; i < 8; i++) {
    many[i].f = &f;
    cr_assert_eq(pthread_create(&t[i], NULL, search_thread, &many[i]), 0);
  }
  for (int i = 0; i < 8; i++)
    pthread_join(t[i], NULL);
  for (int i = 0; i < 8; i++) {
    cr_assert_eq(many[i].status, MX_OK);
    cr_assert_eq(memcmp(many[i].n, one->n, sizeof one->n), 0);
    for (int q = 0; q < NQ; q++)
      for (uint32_t h = 0; h < one->n[q]; h++) {
        cr_assert_eq(many[i].hits[q][h].doc, one->hits[q][h].doc);
        cr_assert_float_eq(many[i].hits[q][h].score, one->hits[q][h].score, 0.0f);
      }
  }
  free(one);
  free(many);
  fixture_free(&f);
}

Test(search, bad_arguments_are_clear_errors) {
  fixture f;
  fixture_make(&f, "search_bad", MX_DTYPE_F32, NULL);
  mx_search_options o;
  mx_search_options_init(&o);
  mx_hit hits[N];
  uint32_t nh = 99;
  mx_error err;
  o.r_c = R + 1;
  cr_assert_eq(mx_search(f.ix, f.queries, RQ, &o, hits, &nh, NULL, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "stored per document") != NULL, "%s", err.message);
  cr_assert_eq(nh, 0);
  o.r_c = 0;
  o.r_q = RQ + 1;
  cr_assert_eq(mx_search(f.ix, f.queries, RQ, &o, hits, &nh, NULL, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "query vectors given") != NULL, "%s", err.message);
  o.r_q = 0;
  o.k = 0;
  cr_assert_eq(mx_search(f.ix, f.queries, RQ, &o, hits, &nh, NULL, &err), MX_ERR_INVALID_ARGUMENT);
  o.k = 10;
  cr_assert_eq(mx_search(f.ix, f.queries, 0, &o, hits, &nh, NULL, &err), MX_ERR_INVALID_ARGUMENT);
  o.n_stages = 1;
  o.stages[0] = (mx_stage){2, 4, 0};
  cr_assert_eq(mx_search(f.ix, f.queries, RQ, &o, hits, &nh, NULL, &err), MX_ERR_INVALID_ARGUMENT);
  o.n_stages = MX_MAX_STAGES + 1;
  cr_assert_eq(mx_search(f.ix, f.queries, RQ, &o, hits, &nh, NULL, &err), MX_ERR_INVALID_ARGUMENT);
  o.n_stages = 0;
  float *nan_query = malloc((size_t)RQ * DIM * sizeof(float));
  memcpy(nan_query, f.queries, (size_t)RQ * DIM * sizeof(float));
  nan_query[2 * DIM + 5] = NAN;
  cr_assert_eq(mx_search(f.ix, nan_query, RQ, &o, hits, &nh, NULL, &err), MX_ERR_BAD_INPUT);
  cr_assert(strstr(err.message, "query vector 2 element 5 is NaN") != NULL, "%s", err.message);
  o.r_q = 2; /* the NaN is in a row this budget does not use */
  cr_assert_eq(mx_search(f.ix, nan_query, RQ, &o, hits, &nh, NULL, &err), MX_OK, "%s", err.message);
  free(nan_query);
  o.r_q = 0;
  o.k = N + 50; /* k > N: every document, once */
  o.candidates = 0;
  cr_assert_eq(mx_search(f.ix, f.queries, RQ, &o, hits, &nh, NULL, &err), MX_OK, "%s", err.message);
  cr_assert_eq(nh, N);
  char seen[N] = {0};
  for (uint32_t i = 0; i < nh; i++) {
    cr_assert_lt(hits[i].doc, N);
    cr_assert_not(seen[hits[i].doc]);
    seen[hits[i].doc] = 1;
  }
  cr_assert_eq(mx_search(NULL, f.queries, RQ, &o, hits, &nh, NULL, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mx_search(f.ix, NULL, RQ, &o, hits, &nh, NULL, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mx_exact_search(f.ix, f.queries, 1, RQ, RQ, R + 1, 10, 1, hits, &nh, &err),
               MX_ERR_INVALID_ARGUMENT);
  mx_index_close(NULL);
  fixture_free(&f);
}

Test(search, coarse_only_and_stats) {
  fixture f;
  fixture_make(&f, "search_stats", MX_DTYPE_F16, "Flat");
  mx_search_options o;
  mx_search_options_init(&o);
  o.coarse_only = 1;
  o.candidates = 10;
  mx_hit hits[10];
  uint32_t nh;
  mx_search_stats st;
  mx_error err;
  const float *q0 = f.queries;
  cr_assert_eq(mx_search(f.ix, q0, RQ, &o, hits, &nh, &st, &err), MX_OK, "%s", err.message);
  cr_assert_eq(nh, 10);
  cr_assert_eq(st.scored, 0);
  /* coarse-only ranks by the leading vectors' inner product */
  double best = -INFINITY;
  uint64_t best_doc = 0;
  for (int d = 0; d < N; d++) {
    double s = ref_maxsim(q0, 1, f.stored + (size_t)d * R * DIM, 1);
    if (s > best) {
      best = s;
      best_doc = (uint64_t)d;
    }
  }
  cr_assert_eq(hits[0].doc, best_doc);
  o.coarse_only = 0;
  o.candidates = 50;
  /* the first search reads the candidates' prefixes; the same search again
   * finds them in the page cache and sends no hints */
  cr_assert_eq(mx_search(f.ix, q0, RQ, &o, hits, &nh, &st, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_search(f.ix, q0, RQ, &o, hits, &nh, &st, &err), MX_OK, "%s", err.message);
  cr_assert_eq(st.candidates, 50);
  cr_assert_eq(st.scored, 50);
  cr_assert_eq(st.bytes_touched, 50ull * R * DIM * 2, "f16 prefixes of every candidate");
  cr_assert_eq(st.bytes_prefetched, 0, "a warm index takes no prefetch hints");
  cr_assert_geq(st.total_ms, st.coarse_ms);
  mx_info info;
  cr_assert_eq(mx_index_info(f.ix, &info, &err), MX_OK);
  cr_assert_eq(info.n_docs, N);
  cr_assert_eq(info.dim, DIM);
  cr_assert_eq(info.dtype, MX_DTYPE_F16);
  cr_assert_gt(info.store_bytes, (uint64_t)N * R * DIM * 2);
  cr_assert_str_eq(info.coarse_factory, "Flat");
  fixture_free(&f);
}

Test(search, verify_a_fresh_index_finds_nothing) {
  fixture f;
  fixture_make(&f, "search_verify", MX_DTYPE_INT8, NULL);
  mx_verify_report r;
  mx_error err;
  cr_assert_eq(mx_index_verify(f.dir, NULL, NULL, &r, &err), MX_OK, "%s", err.message);
  cr_assert_eq(r.records, N);
  cr_assert_eq(r.problems, 0);
  cr_assert_eq(mx_index_verify("/nonexistent/metaidx", NULL, NULL, &r, &err), MX_ERR_NOT_FOUND);
  fixture_free(&f);
}
