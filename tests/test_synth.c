/* test_synth.c: synthetic collections: determinism, unit norms, documents
 * and queries generated alone equal the written files, qrels name the
 * source document, and brute-force MaxSim accuracy grows with the budget. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "half.h"
#include "helpers.h"
#include "npy.h"
#include "synth.h"

static mx_synth_params small_params(void) {
  mx_synth_params p;
  mx_synth_params_init(&p);
  p.n_docs = 50;
  p.n_queries = 12;
  p.doc_vectors = 8;
  p.query_vectors = 4;
  p.dim = 17; /* odd: exercises the unpaired Box-Muller element */
  return p;
}

static char *path_in(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  cr_assert_not_null(p);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static char *slurp(const char *dir, const char *name, size_t *len) {
  char *path = path_in(dir, name), *buf;
  mx_error err;
  cr_assert_eq(mx_read_file(path, 64u << 20, &buf, len, &err), MX_OK, "%s", err.message);
  free(path);
  return buf;
}

static int same_file(const char *a, const char *b, const char *name) {
  size_t la, lb;
  char *x = slurp(a, name, &la), *y = slurp(b, name, &lb);
  int same = la == lb && memcmp(x, y, la) == 0;
  free(x);
  free(y);
  return same;
}

Test(synth, defaults) {
  mx_synth_params p;
  mx_synth_params_init(&p);
  cr_assert_eq(p.n_docs, 10000);
  cr_assert_eq(p.n_queries, 100);
  cr_assert_eq(p.doc_vectors, 64);
  cr_assert_eq(p.query_vectors, 16);
  cr_assert_eq(p.dim, 128);
  cr_assert_eq(p.seed, 42);
  cr_assert_eq(p.n_topics, 0);
  cr_assert_float_eq(p.query_noise, 0.5f, 1e-7);
}

Test(synth, deterministic_and_seed_dependent) {
  char *root = mx_test_tmpdir("synth_det");
  char *a = path_in(root, "a"), *b = path_in(root, "b"), *c = path_in(root, "c");
  mx_synth_params p = small_params();
  mx_error err;
  cr_assert_eq(mx_synth_write(&p, a, MX_DTYPE_F32, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_synth_write(&p, b, MX_DTYPE_F32, &err), MX_OK, "%s", err.message);
  p.seed = 43;
  cr_assert_eq(mx_synth_write(&p, c, MX_DTYPE_F32, &err), MX_OK, "%s", err.message);
  cr_assert(same_file(a, b, "docs.npy"));
  cr_assert(same_file(a, b, "queries.npy"));
  cr_assert(same_file(a, b, "qrels"));
  cr_assert(!same_file(a, c, "docs.npy"));
  cr_assert(!same_file(a, c, "queries.npy"));
  free(a);
  free(b);
  free(c);
  mx_test_tmpdir_remove(root);
}

static void check_unit(const float *v, size_t n, uint32_t d) {
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (uint32_t e = 0; e < d; e++)
      s += (double)v[i * d + e] * v[i * d + e];
    cr_assert_float_eq(s, 1.0, 1e-5, "vector %zu has squared norm %f", i, s);
  }
}

Test(synth, files_equal_items_generated_alone) {
  char *dir = mx_test_tmpdir("synth_alone");
  char *f16dir = path_in(dir, "f16");
  mx_synth_params p = small_params();
  mx_error err;
  cr_assert_eq(mx_synth_write(&p, dir, MX_DTYPE_F32, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_synth_write(&p, f16dir, MX_DTYPE_F16, &err), MX_OK, "%s", err.message);
  char *docs_path = path_in(dir, "docs.npy"), *q_path = path_in(dir, "queries.npy");
  char *docs16_path = path_in(f16dir, "docs.npy");
  mx_npy docs, queries, docs16;
  cr_assert_eq(mx_npy_open(docs_path, &docs, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_npy_open(q_path, &queries, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_npy_open(docs16_path, &docs16, &err), MX_OK, "%s", err.message);
  cr_assert_eq(docs.h.type, MX_NPY_F32);
  cr_assert_eq(docs16.h.type, MX_NPY_F16);
  cr_assert_eq(docs.h.ndim, 3);
  cr_assert_eq(docs.h.shape[0], p.n_docs);
  cr_assert_eq(docs.h.shape[1], p.doc_vectors);
  cr_assert_eq(docs.h.shape[2], p.dim);
  cr_assert_eq(queries.h.shape[0], p.n_queries);
  cr_assert_eq(queries.h.shape[1], p.query_vectors);
  check_unit(docs.data, p.n_docs * p.doc_vectors, p.dim);
  check_unit(queries.data, p.n_queries * p.query_vectors, p.dim);

  size_t doc_floats = (size_t)p.doc_vectors * p.dim, q_floats = (size_t)p.query_vectors * p.dim;
  float *one = malloc(doc_floats * sizeof *one);
  cr_assert_not_null(one);
  /* in reverse order, one at a time */
  for (uint64_t i = p.n_docs; i-- > 0;) {
    mx_synth_doc(&p, i, one);
    cr_assert_eq(memcmp(one, (const float *)docs.data + i * doc_floats, doc_floats * 4), 0,
                 "doc %llu", (unsigned long long)i);
    const uint16_t *h = (const uint16_t *)docs16.data + i * doc_floats;
    for (size_t e = 0; e < doc_floats; e++)
      cr_assert_eq(h[e], mx_f32_to_f16(one[e]));
  }
  size_t qlen;
  char *qrels = slurp(dir, "qrels", &qlen);
  const char *line = qrels;
  for (uint64_t q = 0; q < p.n_queries; q++) {
    uint64_t target = mx_synth_query(&p, q, one);
    cr_assert_lt(target, p.n_docs);
    cr_assert_eq(memcmp(one, (const float *)queries.data + q * q_floats, q_floats * 4), 0,
                 "query %llu", (unsigned long long)q);
    char want[64];
    int n = snprintf(want, sizeof want, "%llu 0 %llu 1\n", (unsigned long long)q,
                     (unsigned long long)target);
    cr_assert_eq(strncmp(line, want, (size_t)n), 0, "qrels line %llu", (unsigned long long)q);
    line += n;
  }
  cr_assert_eq((size_t)(line - qrels), qlen, "one qrels line per query, nothing else");
  /* the leading query vector is a noisy copy of the target's leading vector */
  for (uint64_t q = 0; q < p.n_queries; q++) {
    uint64_t target = mx_synth_query(&p, q, one);
    const float *c0 = (const float *)docs.data + target * doc_floats;
    double dot = 0;
    for (uint32_t e = 0; e < p.dim; e++)
      dot += (double)one[e] * c0[e];
    cr_assert_gt(dot, 0.6, "query %llu: <q0, c0> = %f", (unsigned long long)q, dot);
  }
  free(qrels);
  free(one);
  mx_npy_close(&docs);
  mx_npy_close(&queries);
  mx_npy_close(&docs16);
  free(docs_path);
  free(q_path);
  free(docs16_path);
  free(f16dir);
  mx_test_tmpdir_remove(dir);
}

Test(synth, several_chunks_stream_the_same_documents) {
  /* 2100 documents: three chunks of at most 1024 */
  char *dir = mx_test_tmpdir("synth_chunks");
  mx_synth_params p;
  mx_synth_params_init(&p);
  p.n_docs = 2100;
  p.n_queries = 3;
  p.doc_vectors = 2;
  p.query_vectors = 1;
  p.dim = 3;
  mx_error err;
  cr_assert_eq(mx_synth_write(&p, dir, MX_DTYPE_F32, &err), MX_OK, "%s", err.message);
  char *path = path_in(dir, "docs.npy");
  mx_npy docs;
  cr_assert_eq(mx_npy_open(path, &docs, &err), MX_OK, "%s", err.message);
  float one[6];
  for (uint64_t i = 0; i < p.n_docs; i++) {
    mx_synth_doc(&p, i, one);
    cr_assert_eq(memcmp(one, (const float *)docs.data + i * 6, sizeof one), 0, "doc %llu",
                 (unsigned long long)i);
  }
  mx_npy_close(&docs);
  free(path);
  mx_test_tmpdir_remove(dir);
}

Test(synth, invalid_arguments) {
  char *dir = mx_test_tmpdir("synth_bad");
  mx_synth_params p = small_params();
  mx_error err;
  cr_assert_eq(mx_synth_write(&p, dir, MX_DTYPE_BF16, &err), MX_ERR_UNSUPPORTED);
  cr_assert_eq(mx_synth_write(&p, dir, MX_DTYPE_INT8, &err), MX_ERR_UNSUPPORTED);
  p.n_docs = 0;
  cr_assert_eq(mx_synth_write(&p, dir, MX_DTYPE_F32, &err), MX_ERR_INVALID_ARGUMENT);
  p = small_params();
  p.query_noise = NAN;
  cr_assert_eq(mx_synth_write(&p, dir, MX_DTYPE_F32, &err), MX_ERR_INVALID_ARGUMENT);
  p = small_params();
  p.n_queries = 0; /* no queries: an empty queries.npy and qrels */
  cr_assert_eq(mx_synth_write(&p, dir, MX_DTYPE_F32, &err), MX_OK, "%s", err.message);
  size_t len;
  free(slurp(dir, "qrels", &len));
  cr_assert_eq(len, 0);
  mx_test_tmpdir_remove(dir);
}

/* Rank of the target among all documents under brute-force MaxSim at each
 * budget; returns top-1 accuracy per budget. */
Test(synth, accuracy_grows_with_the_budget) {
  mx_synth_params p;
  mx_synth_params_init(&p);
  p.n_docs = 300;
  p.n_queries = 60;
  p.dim = 32;
  const uint32_t rc = p.doc_vectors, rq = p.query_vectors, d = p.dim;
  size_t doc_floats = (size_t)rc * d;
  float *docs = malloc(p.n_docs * doc_floats * sizeof *docs);
  float *q = malloc((size_t)rq * d * sizeof *q);
  cr_assert(docs && q);
  for (uint64_t i = 0; i < p.n_docs; i++)
    mx_synth_doc(&p, i, docs + i * doc_floats);
  static const uint32_t budgets[][2] = {{1, 1}, {4, 8}, {16, 64}};
  enum { NB = 3 };
  int hits[NB] = {0}, coarse_hits = 0;
  float sims[16 * 64];
  double *scores = malloc(NB * p.n_docs * sizeof *scores);
  double *lead = malloc(p.n_docs * sizeof *lead);
  cr_assert(scores && lead);
  for (uint64_t qi = 0; qi < p.n_queries; qi++) {
    uint64_t target = mx_synth_query(&p, qi, q);
    for (uint64_t di = 0; di < p.n_docs; di++) {
      const float *c = docs + di * doc_floats;
      for (uint32_t i = 0; i < rq; i++)
        for (uint32_t j = 0; j < rc; j++) {
          float s = 0;
          for (uint32_t e = 0; e < d; e++)
            s += q[i * d + e] * c[j * d + e];
          sims[i * rc + j] = s;
        }
      for (int b = 0; b < NB; b++) {
        double total = 0;
        for (uint32_t i = 0; i < budgets[b][0]; i++) {
          float best = -INFINITY;
          for (uint32_t j = 0; j < budgets[b][1]; j++)
            best = sims[i * rc + j] > best ? sims[i * rc + j] : best;
          total += best;
        }
        scores[b * p.n_docs + di] = total;
      }
      lead[di] = sims[0];
    }
    for (int b = 0; b < NB; b++) {
      uint64_t better = 0;
      for (uint64_t di = 0; di < p.n_docs; di++)
        better += scores[b * p.n_docs + di] > scores[b * p.n_docs + target];
      hits[b] += better == 0;
    }
    /* the coarse stage: the target is among the 30 best leading vectors
     * (about two topics' worth of documents) */
    uint64_t better = 0;
    for (uint64_t di = 0; di < p.n_docs; di++)
      better += lead[di] > lead[target];
    coarse_hits += better < 30;
  }
  double acc[NB];
  for (int b = 0; b < NB; b++)
    acc[b] = (double)hits[b] / (double)p.n_queries;
  cr_log_info("top-1 accuracy: (1,1) %.3f  (4,8) %.3f  (16,64) %.3f; coarse@30 %.3f", acc[0],
              acc[1], acc[2], (double)coarse_hits / (double)p.n_queries);
  cr_expect_lt(acc[0], acc[1], "(1,1) %.3f < (4,8) %.3f", acc[0], acc[1]);
  cr_expect_lt(acc[1], acc[2], "(4,8) %.3f < (16,64) %.3f", acc[1], acc[2]);
  cr_expect_leq(acc[0], 0.6, "(1,1) must not already find most targets: %.3f", acc[0]);
  cr_expect_geq(acc[2], 0.85, "(16,64) finds nearly all targets: %.3f", acc[2]);
  cr_expect_geq(coarse_hits, (int)(0.95 * (double)p.n_queries), "coarse@30 %d", coarse_hits);
  free(scores);
  free(lead);
  free(docs);
  free(q);
}
