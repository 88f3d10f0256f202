/* test_first_stage.c: the first-stage kinds (leading, pooled, multi, auto):
 * entries and query rows as first_stage.h defines them, multi's gathering
 * against its plain reference, each kind's first-stage ranking against one
 * computed here from the stored vectors, search at k' = N equal to brute
 * force for every kind, the choice recorded in the manifest and info, and
 * bad options refused. */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "candidates.h"
#include "first_stage.h"
#include "first_stage_trial.h"
#include "helpers.h"
#include "maxsim.h"
#include "metaidx.h"

/* Awkward on purpose: not powers of two, R not a multiple of m. */
#define DIM 22
#define R 7
#define N 331
#define RQ 5

static float *random_docs(uint64_t seed, size_t n, uint32_t r) {
  mx_test_rng rng = {seed};
  float *docs = malloc(n * r * DIM * sizeof(float));
  cr_assert(docs);
  mx_test_random_unit_vectors(&rng, docs, n * r, DIM);
  return docs;
}

/* Builds an f32 index (so decoded vectors equal the input) over docs with
 * an exact coarse index. */
static void build(const char *dir, const float *docs, mx_first_stage kind,
                  uint32_t m, uint32_t query_cap) {
  mx_build_options o;
  mx_build_options_init(&o);
  o.dtype = MX_DTYPE_F32;
  o.coarse_factory = "Flat";
  o.first_stage = kind;
  o.first_stage_vectors = m;
  o.first_stage_query_vectors = query_cap;
  o.n_budgets = 3;
  o.budgets[0] = (mx_budget){1, 1};
  o.budgets[1] = (mx_budget){2, 4};
  o.budgets[2] = (mx_budget){RQ, R};
  mx_builder *b = NULL;
  mx_error err = {0};
  cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &b, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(mx_builder_add(b, N, NULL, NULL, NULL, docs, MX_DTYPE_F32, &err),
               MX_OK, "%s", err.message);
  cr_assert_eq(mx_builder_finish(b, &err), MX_OK, "%s", err.message);
}

static double dotd(const float *a, const float *b) {
  double s = 0;
  for (int e = 0; e < DIM; e++)
    s += (double)a[e] * b[e];
  return s;
}

Test(first_stage, entries_and_query_rows_follow_the_table) {
  float *doc = random_docs(3, 1, R);
  float out[R * DIM], want[DIM];
  mx_first_stage_doc_entries(MX_FIRST_STAGE_LEADING, 1, doc, DIM, out);
  cr_assert(memcmp(out, doc, DIM * sizeof(float)) == 0);
  mx_first_stage_doc_entries(MX_FIRST_STAGE_MULTI, 3, doc, DIM, out);
  cr_assert(memcmp(out, doc, 3 * DIM * sizeof(float)) == 0);
  cr_assert_eq(mx_first_stage_entries_per_doc(MX_FIRST_STAGE_MULTI, 3), 3);
  cr_assert_eq(mx_first_stage_entries_per_doc(MX_FIRST_STAGE_POOLED, 3), 1);
  mx_first_stage_doc_entries(MX_FIRST_STAGE_POOLED, 3, doc, DIM, out);
  double norm = 0;
  for (int e = 0; e < DIM; e++) {
    want[e] = (doc[e] + doc[DIM + e] + doc[2 * DIM + e]) / 3;
    norm += (double)want[e] * want[e];
  }
  for (int e = 0; e < DIM; e++)
    cr_assert_float_eq(out[e], want[e] / sqrt(norm), 1e-6);
  cr_assert_eq(mx_first_stage_query_vectors(MX_FIRST_STAGE_LEADING, 5, 0), 1);
  cr_assert_eq(mx_first_stage_query_vectors(MX_FIRST_STAGE_POOLED, 5, 0), 5);
  cr_assert_eq(mx_first_stage_query_vectors(MX_FIRST_STAGE_MULTI, 5, 2), 2);
  cr_assert_eq(mx_first_stage_query_rows(MX_FIRST_STAGE_MULTI, 4), 4);
  cr_assert_eq(mx_first_stage_query_rows(MX_FIRST_STAGE_POOLED, 4), 1);
  free(doc);
}

/* Random results with repeats within and across rows and -1 padding. */
Test(first_stage, gathering_equals_its_reference) {
  static const uint32_t rows_list[] = {1, 2, 5};
  static const size_t k_list[] = {1, 7, 33, 130};
  mx_test_rng rng = {77};
  for (size_t ri = 0; ri < 3; ri++)
    for (size_t ki = 0; ki < 4; ki++) {
      uint32_t rows = rows_list[ri];
      size_t k = k_list[ki], n = rows * k;
      int64_t *ids = malloc(n * sizeof *ids);
      float *scores = malloc(n * sizeof *scores);
      void *work = malloc(mx_gather_work_bytes(rows, k));
      mx_scored *got = malloc(n * sizeof *got),
                *want = malloc(n * sizeof *want);
      cr_assert(ids && scores && work && got && want);
      uint64_t universe = k / 2 + 3;
      for (uint32_t r = 0; r < rows; r++) {
        size_t valid = k - mx_test_rng_below(&rng, k / 4 + 1);
        float s = 1.0f;
        for (size_t j = 0; j < k; j++) {
          s -= (float)mx_test_rng_below(&rng, 100) /
               1000.0f; /* best first, with ties */
          ids[r * k + j] =
              j < valid ? (int64_t)mx_test_rng_below(&rng, universe) : -1;
          scores[r * k + j] = j < valid ? s : -INFINITY;
        }
      }
      for (size_t n_out = 1; n_out <= n; n_out = n_out * 3 + 1) {
        size_t a = mx_gather(ids, scores, rows, k, work, got, n_out);
        size_t b = mx_gather_reference(ids, scores, rows, k, want, n_out);
        cr_assert_eq(a, b, "rows %u k %zu n_out %zu: %zu vs %zu documents",
                     rows, k, n_out, a, b);
        for (size_t i = 0; i < a; i++) {
          cr_assert_float_eq(got[i].score, want[i].score, 1e-5, "rank %zu", i);
          if (fabsf(got[i].score - want[i].score) == 0)
            cr_assert_eq(got[i].doc, want[i].doc, "rows %u k %zu rank %zu",
                         rows, k, i);
        }
      }
      free(ids);
      free(scores);
      free(work);
      free(got);
      free(want);
    }
}

Test(first_stage, trial_gram_maxsim_equals_the_kernel_reference) {
  static const uint32_t dims[] = {1, 7, 33, 130};
  for (size_t di = 0; di < 4; di++) {
    uint32_t d = dims[di];
    mx_test_rng rng = {d};
    float *q = malloc((size_t)5 * d * sizeof(float)),
          *doc = malloc((size_t)9 * d * sizeof(float));
    cr_assert(q && doc);
    mx_test_random_unit_vectors(&rng, q, 5, d);
    mx_test_random_unit_vectors(&rng, doc, 9, d);
    float gram[5 * 9];
    mx_trial_gram(q, 5, doc, 9, d, gram);
    for (uint32_t rq = 1; rq <= 5; rq += 2)
      for (uint32_t rc = 1; rc <= 9; rc += 4)
        cr_assert_float_eq(mx_trial_gram_maxsim(gram, 9, rq, rc),
                           mx_maxsim_reference(MX_DTYPE_F32, q, rq, doc, rc, d),
                           1e-5, "d %u %ux%u", d, rq, rc);
    free(q);
    free(doc);
  }
}

/* The first-stage score of doc (its stored vectors: docs) for query q, as
 * docs/first_stage.md defines it: leading q0.d0; pooled pool(q).pool(d);
 * multi (all entries retrieved) sum_i max_j<m q_i.d_j. */
static double first_stage_score(mx_first_stage kind, uint32_t m, uint32_t r,
                                const float *q, const float *doc) {
  if (kind == MX_FIRST_STAGE_LEADING)
    return dotd(q, doc);
  if (kind == MX_FIRST_STAGE_POOLED) {
    float pq[DIM], pd[DIM];
    mx_first_stage_make_query(kind, q, r, DIM, pq);
    mx_first_stage_doc_entries(kind, m, doc, DIM, pd);
    return dotd(pq, pd);
  }
  double total = 0;
  for (uint32_t i = 0; i < r; i++) {
    double best = -INFINITY;
    for (uint32_t j = 0; j < m; j++)
      best = fmax(best, dotd(q + i * DIM, doc + j * DIM));
    total += best;
  }
  return total;
}

static int by_score_desc(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* coarse_only returns the first stage's ranking: its scores, best first,
 * equal the ones computed here (multi asks for every entry, so nothing is
 * imputed). */
Test(first_stage, coarse_ranking_matches_the_definition, .timeout = 120) {
  char *tmp = mx_test_tmpdir("fs_ranking");
  float *docs = random_docs(11, N, R);
  float *queries = random_docs(12, 4, RQ);
  static const struct {
    mx_first_stage kind;
    uint32_t m, cap;
  } cases[] = {{MX_FIRST_STAGE_LEADING, 0, 0},
               {MX_FIRST_STAGE_POOLED, 3, 0},
               {MX_FIRST_STAGE_POOLED, R, 2},
               {MX_FIRST_STAGE_MULTI, 3, 0},
               {MX_FIRST_STAGE_MULTI, 1, 4}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/ix%zu", tmp, c);
    build(dir, docs, cases[c].kind, cases[c].m, cases[c].cap);
    mx_index *ix = NULL;
    mx_error err = {0};
    cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
    mx_info info;
    cr_assert_eq(mx_index_info(ix, &info, &err), MX_OK);
    uint32_t m = info.first_stage_vectors;
    cr_assert_eq(info.first_stage, cases[c].kind);
    cr_assert_eq(info.coarse_entries,
                 (uint64_t)N * (cases[c].kind == MX_FIRST_STAGE_MULTI ? m : 1));
    uint32_t r = mx_first_stage_query_vectors(cases[c].kind, RQ, cases[c].cap);
    size_t want_n = cases[c].kind == MX_FIRST_STAGE_MULTI ? N : N - 1;
    mx_hit *hits = malloc(N * sizeof *hits);
    double *want = malloc(N * sizeof *want);
    for (int qi = 0; qi < 4; qi++) {
      const float *q = queries + (size_t)qi * RQ * DIM;
      mx_search_options so;
      mx_search_options_init(&so);
      so.coarse_only = 1;
      so.k = (uint32_t)want_n;
      so.candidates = (uint32_t)want_n;
      uint32_t n = 0;
      cr_assert_eq(mx_search(ix, q, RQ, &so, hits, &n, NULL, &err), MX_OK, "%s",
                   err.message);
      for (size_t i = 0; i < N; i++)
        want[i] = first_stage_score(cases[c].kind, m, r, q, docs + i * R * DIM);
      qsort(want, N, sizeof *want, by_score_desc);
      /* multi asks each query vector for N of its N*m entries, which
       * reach most documents (which ones is FAISS's business). */
      cr_assert_geq(n, want_n / 2, "case %zu: %u hits", c, n);
      for (uint32_t i = 0; i < n && cases[c].kind != MX_FIRST_STAGE_MULTI; i++)
        cr_assert_float_eq(hits[i].score, want[i], 1e-4,
                           "case %zu query %d rank %u", c, qi, i);
      for (uint32_t i = 0; i < n && cases[c].kind == MX_FIRST_STAGE_MULTI;
           i++) {
        /* Each hit's gathered score is at least its true multi score (an
         * absent row counts the row's lowest returned score, an upper
         * bound) and equal to it when every row returned the document. */
        double truth = first_stage_score(cases[c].kind, m, r, q,
                                         docs + hits[i].doc * R * DIM);
        cr_assert_geq(hits[i].score, truth - 1e-4, "case %zu rank %u", c, i);
      }
    }
    free(hits);
    free(want);
    mx_index_close(ix);
  }
  free(docs);
  free(queries);
  mx_test_tmpdir_remove(tmp);
}

/* k' = N rescores every document: each kind equals brute force exactly. */
Test(first_stage, every_kind_equals_brute_force_at_k_equal_n, .timeout = 120) {
  char *tmp = mx_test_tmpdir("fs_exact");
  float *docs = random_docs(21, N, R);
  float *queries = random_docs(22, 3, RQ);
  static const mx_first_stage kinds[] = {
      MX_FIRST_STAGE_LEADING, MX_FIRST_STAGE_POOLED, MX_FIRST_STAGE_MULTI,
      MX_FIRST_STAGE_AUTO};
  for (size_t c = 0; c < 4; c++) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/ix%zu", tmp, c);
    build(dir, docs, kinds[c], kinds[c] == MX_FIRST_STAGE_LEADING ? 0 : 2, 0);
    mx_index *ix = NULL;
    mx_error err = {0};
    cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
    static const mx_budget budgets[] = {{1, 1}, {2, 4}, {RQ, R}, {3, 5}};
    for (size_t bi = 0; bi < 4; bi++) {
      enum { K = 17 };
      mx_hit want[3 * K], got[K];
      uint32_t n_want[3], n = 0;
      cr_assert_eq(mx_exact_search(ix, queries, 3, RQ, budgets[bi].r_q,
                                   budgets[bi].r_c, K, 1, want, n_want, &err),
                   MX_OK, "%s", err.message);
      for (int qi = 0; qi < 3; qi++) {
        mx_search_options so;
        mx_search_options_init(&so);
        so.k = K;
        so.r_q = budgets[bi].r_q;
        so.r_c = budgets[bi].r_c;
        so.candidates = N;
        cr_assert_eq(mx_search(ix, queries + (size_t)qi * RQ * DIM, RQ, &so,
                               got, &n, NULL, &err),
                     MX_OK, "%s", err.message);
        cr_assert_eq(n, n_want[qi]);
        for (uint32_t i = 0; i < n; i++) {
          cr_assert_eq(got[i].doc, want[qi * K + i].doc,
                       "kind %zu budget %zu rank %u", c, bi, i);
          cr_assert_eq(got[i].score, want[qi * K + i].score);
        }
      }
    }
    mx_index_close(ix);
  }
  free(docs);
  free(queries);
  mx_test_tmpdir_remove(tmp);
}

Test(first_stage, auto_records_what_it_measured, .timeout = 120) {
  char *tmp = mx_test_tmpdir("fs_auto");
  float *docs = random_docs(31, N, R);
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/ix", tmp);
  build(dir, docs, MX_FIRST_STAGE_AUTO, 0, 0);
  mx_index *ix = NULL;
  mx_error err = {0};
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  mx_info info;
  cr_assert_eq(mx_index_info(ix, &info, &err), MX_OK);
  cr_assert_neq(info.first_stage, MX_FIRST_STAGE_AUTO);
  cr_assert(strstr(info.first_stage_trial, "pseudo-queries") != NULL,
            "trial: '%s'", info.first_stage_trial);
  cr_assert(strstr(info.first_stage_trial, "leading") != NULL);
  cr_assert(strstr(info.first_stage_trial, "pooled-2") != NULL);
  cr_assert_eq(info.format_minor, 1);
  mx_index_close(ix);

  /* One vector per document: nothing to choose. */
  snprintf(dir, sizeof dir, "%s/one", tmp);
  mx_build_options o;
  mx_build_options_init(&o);
  mx_builder *b = NULL;
  cr_assert_eq(mx_builder_open(dir, DIM, 1, &o, &b, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(
      mx_builder_add(b, 50, NULL, NULL, NULL, docs, MX_DTYPE_F32, &err), MX_OK,
      "%s", err.message);
  cr_assert_eq(mx_builder_finish(b, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_index_info(ix, &info, &err), MX_OK);
  cr_assert_eq(info.first_stage, MX_FIRST_STAGE_LEADING);
  cr_assert(strstr(info.first_stage_trial, "not measured") != NULL);
  mx_index_close(ix);
  free(docs);
  mx_test_tmpdir_remove(tmp);
}

Test(first_stage, bad_options_are_refused) {
  char *tmp = mx_test_tmpdir("fs_bad");
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/ix", tmp);
  mx_build_options o;
  mx_error err = {0};
  mx_builder *b = NULL;
  mx_build_options_init(&o);
  cr_assert_eq(o.first_stage, MX_FIRST_STAGE_AUTO);
  o.first_stage = (mx_first_stage)7;
  cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &b, &err),
               MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "first stage") != NULL, "%s", err.message);
  mx_build_options_init(&o);
  o.first_stage = MX_FIRST_STAGE_LEADING;
  o.first_stage_vectors = 2;
  cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &b, &err),
               MX_ERR_INVALID_ARGUMENT);
  mx_build_options_init(&o);
  o.first_stage = MX_FIRST_STAGE_MULTI;
  o.keep = 3;
  o.first_stage_vectors = 4;
  cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &b, &err),
               MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "kept") != NULL, "%s", err.message);
  cr_assert_null(b);
  mx_first_stage k;
  cr_assert_eq(mx_first_stage_parse("pooled", &k, NULL), MX_OK);
  cr_assert_eq(k, MX_FIRST_STAGE_POOLED);
  cr_assert_eq(mx_first_stage_parse("Pooled", &k, &err),
               MX_ERR_INVALID_ARGUMENT);
  cr_assert_null(mx_first_stage_name((mx_first_stage)9));
  mx_test_tmpdir_remove(tmp);
}
