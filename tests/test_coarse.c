/* test_coarse.c: the coarse stage against real FAISS: exactness of Flat,
 * IVF recall on clustered data, per-call parameters under concurrency,
 * write/read with checksums, error translation, 64-bit ids. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coarse.h"
#include "hash.h"
#include "helpers.h"

/* ---------------------------------------------------------------- helpers */

static float dot(const float *a, const float *b, uint32_t d) {
  double s = 0;
  for (uint32_t i = 0; i < d; i++)
    s += (double)a[i] * b[i];
  return (float)s;
}

/* Brute-force top-k by inner product; ties broken by lower row. */
static void brute_topk(const float *x, uint64_t n, const float *q, uint32_t d, uint32_t k,
                       const uint64_t *ids, float *os, int64_t *oi) {
  for (uint32_t j = 0; j < k; j++) {
    os[j] = -INFINITY;
    oi[j] = -1;
  }
  for (uint64_t i = 0; i < n; i++) {
    float s = dot(x + i * d, q, d);
    if (oi[k - 1] >= 0 && s <= os[k - 1])
      continue;
    uint32_t j = k - 1;
    while (j > 0 && (oi[j - 1] < 0 || os[j - 1] < s)) {
      os[j] = os[j - 1];
      oi[j] = oi[j - 1];
      j--;
    }
    os[j] = s;
    oi[j] = (int64_t)ids[i];
  }
}

/* n points around `clusters` random unit centres, noise of norm ~`spread`,
 * each L2-normalised. */
static float *clustered(mx_test_rng *r, uint64_t n, uint32_t d, uint32_t clusters, float spread,
                        const float *centres_in, float **centres_out) {
  float *centres = (float *)centres_in;
  if (!centres) {
    centres = malloc((size_t)clusters * d * sizeof *centres);
    mx_test_random_unit_vectors(r, centres, clusters, d);
  }
  float *x = malloc((size_t)n * d * sizeof *x);
  cr_assert_not_null(x);
  float scale = spread * sqrtf(3.0f / (float)d);
  for (uint64_t i = 0; i < n; i++) {
    const float *c = centres + mx_test_rng_below(r, clusters) * d;
    double norm = 0;
    for (uint32_t j = 0; j < d; j++) {
      float v = c[j] + scale * mx_test_rng_float(r);
      x[i * d + j] = v;
      norm += (double)v * v;
    }
    float inv = (float)(1.0 / sqrt(norm));
    for (uint32_t j = 0; j < d; j++)
      x[i * d + j] *= inv;
  }
  if (centres_out)
    *centres_out = centres;
  else if (!centres_in)
    free(centres);
  return x;
}

static uint64_t *seq_ids(uint64_t n, uint64_t base) {
  uint64_t *ids = malloc((n ? n : 1) * sizeof *ids);
  for (uint64_t i = 0; i < n; i++)
    ids[i] = base + i;
  return ids;
}

static mx_coarse *build(const char *factory, uint32_t d, uint64_t n, const float *x,
                        const uint64_t *ids) {
  mx_coarse *c = NULL;
  mx_error err;
  cr_assert_eq(mx_coarse_create(factory, d, &c, &err), MX_OK, "%s", err.message);
  uint64_t nt = mx_coarse_train_size(c, n);
  if (nt)
    cr_assert_eq(mx_coarse_train(c, nt, x, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_coarse_add(c, n, x, ids, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_coarse_count(c), n);
  return c;
}

static double recall(const int64_t *got, const int64_t *truth, uint32_t k) {
  uint32_t hit = 0, total = 0;
  for (uint32_t i = 0; i < k; i++) {
    if (truth[i] < 0)
      continue;
    total++;
    for (uint32_t j = 0; j < k; j++)
      if (got[j] == truth[i]) {
        hit++;
        break;
      }
  }
  return total ? (double)hit / total : 1.0;
}

/* -------------------------------------------------------------- exactness */

Test(coarse, flat_equals_brute_force_on_awkward_sizes) {
  static const uint32_t dims[] = {1, 7, 33, 128};
  static const uint64_t ns[] = {1, 5, 1000};
  mx_test_rng r = {1};
  for (size_t di = 0; di < 4; di++)
    for (size_t ni = 0; ni < 3; ni++) {
      uint32_t d = dims[di];
      uint64_t n = ns[ni];
      float *x = malloc(n * d * sizeof *x);
      for (size_t i = 0; i < n * d; i++)
        x[i] = mx_test_rng_float(&r);
      uint64_t *ids = seq_ids(n, 100);
      mx_coarse *c = build("Flat", d, n, x, ids);
      cr_assert_eq(mx_coarse_dim(c), d);
      enum { NQ = 23 }; /* >= 20: FAISS's BLAS path; 1 below: its direct path */
      uint32_t ks[] = {1, 10, (uint32_t)n + 3};
      float *q = malloc(NQ * d * sizeof *q);
      for (size_t i = 0; i < NQ * d; i++)
        q[i] = mx_test_rng_float(&r);
      for (size_t ki = 0; ki < 3; ki++) {
        uint32_t k = ks[ki];
        float *s = malloc(NQ * k * sizeof *s), *bs = malloc(k * sizeof *bs);
        int64_t *id = malloc(NQ * k * sizeof *id), *bi = malloc(k * sizeof *bi);
        for (uint64_t nq = 1; nq <= NQ; nq += NQ - 1) {
          mx_error err;
          cr_assert_eq(mx_coarse_search(c, nq, q, k, NULL, s, id, &err), MX_OK, "%s",
                       err.message);
          for (uint64_t qi = 0; qi < nq; qi++) {
            brute_topk(x, n, q + qi * d, d, k, ids, bs, bi);
            for (uint32_t j = 0; j < k; j++) {
              int64_t g = id[qi * k + j];
              if (j >= n) {
                cr_assert_eq(g, -1, "d=%u n=%llu k=%u: slot %u beyond N must be -1", d,
                             (unsigned long long)n, k, j);
                continue;
              }
              cr_assert(fabsf(s[qi * k + j] - bs[j]) < 1e-5f, "d=%u n=%llu rank %u: %g vs %g", d,
                        (unsigned long long)n, j, s[qi * k + j], bs[j]);
              /* ids equal, or an exact tie in score */
              if (g != bi[j]) {
                cr_assert(g >= 100 && g < (int64_t)(100 + n));
                float sg = dot(x + (g - 100) * d, q + qi * d, d);
                cr_assert(fabsf(sg - bs[j]) < 1e-5f, "d=%u rank %u: id %lld vs %lld", d, j,
                          (long long)g, (long long)bi[j]);
              }
            }
          }
        }
        free(s);
        free(bs);
        free(id);
        free(bi);
      }
      mx_coarse_free(c);
      free(q);
      free(x);
      free(ids);
    }
}

Test(coarse, empty_index_returns_minus_one) {
  mx_coarse *c = NULL;
  cr_assert_eq(mx_coarse_create("Flat", 4, &c, NULL), MX_OK);
  float q[4] = {1, 0, 0, 0}, s[3];
  int64_t id[3];
  cr_assert_eq(mx_coarse_search(c, 1, q, 3, NULL, s, id, NULL), MX_OK);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(id[i], -1);
  mx_coarse_free(c);
  mx_coarse_free(NULL);
}

/* ------------------------------------------------------------------- IVF */

enum { IVF_N = 40000, IVF_D = 128, IVF_NQ = 40, IVF_K = 100 };

/* Stated threshold: the default factory and nprobe reach >= 0.95 mean
 * recall@k' of the exact top k' (k' = 100 and 1000) on clustered data. */
Test(coarse, ivf_default_recall_on_clustered_data) {
  mx_test_rng r = {2};
  float *centres = NULL;
  float *x = clustered(&r, IVF_N, IVF_D, 200, 1.0f, NULL, &centres);
  float *q = clustered(&r, IVF_NQ, IVF_D, 200, 1.0f, centres, NULL);
  uint64_t *ids = seq_ids(IVF_N, 0);
  char factory[64];
  mx_coarse_params def;
  mx_coarse_default_factory(IVF_N, IVF_D, factory, sizeof factory, &def);
  cr_assert(strncmp(factory, "IVF", 3) == 0, "%s", factory);
  cr_assert_gt(def.nprobe, 0);
  mx_coarse *c = build(factory, IVF_D, IVF_N, x, ids);
  mx_error err;
  cr_assert_eq(mx_coarse_set_defaults(c, &def, &err), MX_OK, "%s", err.message);
  /* ground truth from exhaustive Flat (shown equal to brute force above) */
  mx_coarse *flat = build("Flat", IVF_D, IVF_N, x, ids);
  static const uint32_t kps[] = {IVF_K, 1000};
  float *s = malloc(IVF_NQ * 1000 * sizeof *s);
  int64_t *id = malloc(IVF_NQ * 1000 * sizeof *id), *truth = malloc(IVF_NQ * 1000 * sizeof *id);
  for (int ki = 0; ki < 2; ki++) {
    uint32_t k = kps[ki];
    cr_assert_eq(mx_coarse_search(flat, IVF_NQ, q, k, NULL, s, truth, &err), MX_OK);
    cr_assert_eq(mx_coarse_search(c, IVF_NQ, q, k, NULL, s, id, &err), MX_OK, "%s", err.message);
    double sum = 0;
    for (int qi = 0; qi < IVF_NQ; qi++)
      sum += recall(id + qi * k, truth + qi * k, k);
    double rec = sum / IVF_NQ;
    cr_log_info("%s default nprobe %u: recall@%u %.4f", factory, def.nprobe, k, rec);
    cr_assert_geq(rec, 0.95, "%s nprobe %u: recall@%u %.3f", factory, def.nprobe, k, rec);
    /* nprobe = nlist is exhaustive */
    mx_coarse_params all = {.nprobe = 1u << 20};
    cr_assert_eq(mx_coarse_search(c, IVF_NQ, q, k, &all, s, id, &err), MX_OK, "%s", err.message);
    for (int qi = 0; qi < IVF_NQ; qi++)
      cr_assert_geq(recall(id + qi * k, truth + qi * k, k), 0.999);
  }
  mx_coarse_free(flat);
  free(truth);
  mx_coarse_free(c);
  free(x);
  free(q);
  free(centres);
  free(ids);
  free(s);
  free(id);
}

/* Per-call nprobe: the candidate lists for p are a subset of those for
 * p + 1, so every rank's score can only rise with p; p = nlist is exactly
 * the Flat result; one query per call equals a batch; an explicit nprobe
 * equal to what the default resolves to equals passing NULL. */
Test(coarse, ivf_per_call_nprobe_is_consistent) {
  mx_test_rng r = {3};
  enum { N = 4000, D = 16, NQ = 7, K = 50, NLIST = 64 };
  float *x = clustered(&r, N, D, 40, 1.0f, NULL, NULL);
  float *q = clustered(&r, NQ, D, 40, 1.0f, NULL, NULL);
  uint64_t *ids = seq_ids(N, 0);
  mx_coarse *c = build("IVF64,Flat", D, N, x, ids);
  mx_coarse *flat = build("Flat", D, N, x, ids);
  mx_coarse_params def = {.nprobe = 8};
  mx_error err;
  cr_assert_eq(mx_coarse_set_defaults(c, &def, &err), MX_OK);
  static float s[NLIST + 1][NQ * K];
  static int64_t id[NLIST + 1][NQ * K];
  float s1[K];
  int64_t i1[K];
  for (uint32_t p = 1; p <= NLIST; p++) {
    mx_coarse_params pp = {.nprobe = p};
    cr_assert_eq(mx_coarse_search(c, NQ, q, K, &pp, s[p], id[p], &err), MX_OK, "%s", err.message);
    for (int qi = 0; qi < NQ; qi++) {
      cr_assert_eq(mx_coarse_search(c, 1, q + qi * D, K, &pp, s1, i1, &err), MX_OK);
      cr_assert_arr_eq(i1, id[p] + qi * K, sizeof i1, "p=%u query %d: single vs batch", p, qi);
      for (int j = 0; j < K; j++) {
        if (j > 0 && id[p][qi * K + j] >= 0)
          cr_assert_geq(s[p][qi * K + j - 1], s[p][qi * K + j], "sorted");
        if (p > 1 && id[p - 1][qi * K + j] >= 0)
          cr_assert_geq(s[p][qi * K + j], s[p - 1][qi * K + j] - 1e-6f,
                        "p=%u query %d rank %d: score fell %g -> %g", p, qi, j,
                        s[p - 1][qi * K + j], s[p][qi * K + j]);
      }
    }
  }
  /* beyond nlist is clamped, and p = nlist is exhaustive: equal to Flat */
  float fs[NQ * K], big_s[NQ * K];
  int64_t fi[NQ * K], big_i[NQ * K];
  mx_coarse_params big = {.nprobe = 1000};
  cr_assert_eq(mx_coarse_search(c, NQ, q, K, &big, big_s, big_i, &err), MX_OK);
  cr_assert_arr_eq(big_i, id[NLIST], sizeof big_i);
  cr_assert_eq(mx_coarse_search(flat, NQ, q, K, NULL, fs, fi, &err), MX_OK);
  for (int j = 0; j < NQ * K; j++) {
    cr_assert(fabsf(fs[j] - s[NLIST][j]) < 1e-5f, "slot %d: %g vs %g", j, fs[j], s[NLIST][j]);
    if (fi[j] != id[NLIST][j])
      cr_assert(fabsf(fs[j] - s[NLIST][j]) < 1e-6f, "slot %d: id %lld vs %lld (not a tie)", j,
                (long long)fi[j], (long long)id[NLIST][j]);
  }
  /* default: max(8, lists for 20 * K vectors) = ceil(20 * 50 * 64 / 4000) = 16 */
  cr_assert_eq(mx_coarse_search(c, NQ, q, K, NULL, big_s, big_i, &err), MX_OK);
  cr_assert_arr_eq(big_i, id[16], sizeof big_i, "default resolves to nprobe 16");
  /* small k: the floor of 8 */
  float s5[NQ * 5];
  int64_t i5[NQ * 5], e5[NQ * 5];
  mx_coarse_params p8 = {.nprobe = 8};
  cr_assert_eq(mx_coarse_search(c, NQ, q, 5, NULL, s5, i5, &err), MX_OK);
  cr_assert_eq(mx_coarse_search(c, NQ, q, 5, &p8, s5, e5, &err), MX_OK);
  cr_assert_arr_eq(i5, e5, sizeof i5);
  mx_coarse_free(flat);
  mx_coarse_free(c);
  free(x);
  free(q);
  free(ids);
}

typedef struct search_job {
  const mx_coarse *c;
  const float *q;
  uint32_t nq, k;
  mx_coarse_params params;
  const int64_t *expect_ids;
  const float *expect_scores;
  int rounds;
  int mismatches;
  mx_status status;
} search_job;

static void *search_thread(void *arg) {
  search_job *j = arg;
  float *s = malloc((size_t)j->nq * j->k * sizeof *s);
  int64_t *id = malloc((size_t)j->nq * j->k * sizeof *id);
  for (int round = 0; round < j->rounds; round++)
    for (uint32_t qi = 0; qi < j->nq; qi++) { /* one query per call, as the engine does */
      mx_status st = mx_coarse_search(j->c, 1, j->q + (size_t)qi * mx_coarse_dim(j->c), j->k,
                                      &j->params, s + (size_t)qi * j->k, id + (size_t)qi * j->k,
                                      NULL);
      if (st != MX_OK)
        j->status = st;
      for (uint32_t t = 0; t < j->k; t++)
        if (id[qi * j->k + t] != j->expect_ids[qi * j->k + t] ||
            s[qi * j->k + t] != j->expect_scores[qi * j->k + t])
          j->mismatches++;
    }
  free(s);
  free(id);
  return NULL;
}

static void concurrent_case(const char *factory, int use_ef) {
  mx_test_rng r = {4};
  enum { N = 5000, D = 32, NQ = 20, K = 20, T = 4 };
  float *x = clustered(&r, N, D, 50, 1.0f, NULL, NULL);
  float *q = clustered(&r, NQ, D, 50, 1.0f, NULL, NULL);
  uint64_t *ids = seq_ids(N, 0);
  mx_coarse *c = build(factory, D, N, x, ids);
  mx_coarse_params def = {.nprobe = 4, .ef_search = use_ef ? 16 : 0};
  cr_assert_eq(mx_coarse_set_defaults(c, &def, NULL), MX_OK);
  search_job jobs[T];
  float *es[T];
  int64_t *ei[T];
  static const uint32_t probes[T] = {0, 1, 9, 40}; /* 0 = default */
  static const uint32_t efs[T] = {0, 8, 40, 200};
  for (int t = 0; t < T; t++) {
    es[t] = malloc(NQ * K * sizeof *es[t]);
    ei[t] = malloc(NQ * K * sizeof *ei[t]);
    mx_coarse_params p = {.nprobe = use_ef ? 0 : probes[t], .ef_search = use_ef ? efs[t] : 0};
    for (int qi = 0; qi < NQ; qi++) {
      mx_error err;
      cr_assert_eq(mx_coarse_search(c, 1, q + qi * D, K, &p, es[t] + qi * K, ei[t] + qi * K, &err),
                   MX_OK, "%s", err.message);
    }
    jobs[t] = (search_job){c, q, NQ, K, p, ei[t], es[t], 30, 0, MX_OK};
  }
  if (!use_ef) /* different nprobe really give different results */
    cr_assert(memcmp(ei[1], ei[3], NQ * K * sizeof *ei[1]) != 0);
  pthread_t th[T];
  for (int t = 0; t < T; t++)
    cr_assert_eq(pthread_create(&th[t], NULL, search_thread, &jobs[t]), 0);
  for (int t = 0; t < T; t++) {
    pthread_join(th[t], NULL);
    cr_assert_eq(jobs[t].status, MX_OK, "%s thread %d", factory, t);
    cr_assert_eq(jobs[t].mismatches, 0, "%s thread %d (params %u/%u): %d mismatches", factory, t,
                 jobs[t].params.nprobe, jobs[t].params.ef_search, jobs[t].mismatches);
    free(es[t]);
    free(ei[t]);
  }
  mx_coarse_free(c);
  free(x);
  free(q);
  free(ids);
}

Test(coarse, concurrent_ivf_searches_with_different_nprobe) { concurrent_case("IVF64,Flat", 0); }

Test(coarse, concurrent_hnsw_searches_with_different_ef) { concurrent_case("HNSW16", 1); }

/* An IVF behind a transform has no lock-free path: nprobe goes through the
 * exclusive lock, and must still give what the same default gives. */
Test(coarse, pretransform_ivf_per_call_nprobe) {
  mx_test_rng r = {8};
  enum { N = 3000, D = 32, NQ = 5, K = 20 };
  float *x = clustered(&r, N, D, 30, 1.0f, NULL, NULL);
  float *q = clustered(&r, NQ, D, 30, 1.0f, NULL, NULL);
  uint64_t *ids = seq_ids(N, 1);
  mx_coarse *c = build("PCA16,IVF16,Flat", D, N, x, ids);
  cr_assert_eq(mx_coarse_effective_nprobe(c, K, NULL), 0, "not IVF at the top level");
  float s1[NQ * K], s2[NQ * K];
  int64_t i1[NQ * K], i2[NQ * K];
  mx_coarse_params one = {.nprobe = 1}, all = {.nprobe = 16};
  mx_error err;
  cr_assert_eq(mx_coarse_set_defaults(c, &one, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_coarse_search(c, NQ, q, K, &all, s1, i1, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_coarse_search(c, NQ, q, K, NULL, s2, i2, &err), MX_OK, "%s", err.message);
  cr_assert(memcmp(i1, i2, sizeof i1) != 0, "nprobe 16 and 1 should differ");
  mx_coarse_params def_all = {.nprobe = 16};
  cr_assert_eq(mx_coarse_set_defaults(c, &def_all, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_coarse_search(c, NQ, q, K, NULL, s2, i2, &err), MX_OK, "%s", err.message);
  cr_assert_arr_eq(i1, i2, sizeof i1);
  /* after a per-call search the default is back */
  cr_assert_eq(mx_coarse_set_defaults(c, &one, &err), MX_OK);
  float s3[NQ * K];
  int64_t i3[NQ * K];
  cr_assert_eq(mx_coarse_search(c, NQ, q, K, NULL, s3, i3, &err), MX_OK); /* nprobe 1 */
  cr_assert(memcmp(i1, i3, sizeof i1) != 0);
  cr_assert_eq(mx_coarse_search(c, NQ, q, K, &all, s1, i1, &err), MX_OK);
  cr_assert_eq(mx_coarse_search(c, NQ, q, K, NULL, s2, i2, &err), MX_OK);
  cr_assert_arr_eq(i3, i2, sizeof i3, "default restored after a per-call nprobe");
  mx_coarse_free(c);
  free(x);
  free(q);
  free(ids);
}

/* ------------------------------------------------------------------ I/O */

static void write_read_case(const char *factory) {
  mx_test_rng r = {5};
  enum { N = 3000, D = 24, NQ = 9, K = 30 };
  float *x = clustered(&r, N, D, 30, 1.0f, NULL, NULL);
  float *q = clustered(&r, NQ, D, 30, 1.0f, NULL, NULL);
  uint64_t *ids = seq_ids(N, 7);
  mx_coarse *c = build(factory, D, N, x, ids);
  mx_coarse_params def = {.nprobe = 5};
  cr_assert_eq(mx_coarse_set_defaults(c, &def, NULL), MX_OK);
  char *dir = mx_test_tmpdir("coarse_io");
  char path[1024];
  snprintf(path, sizeof path, "%s/coarse.faiss", dir);
  uint64_t bytes = 0, h = 0;
  mx_error err;
  cr_assert_eq(mx_coarse_write(c, path, &bytes, &h, &err), MX_OK, "%s", err.message);
  cr_assert_gt(bytes, (uint64_t)N * D * 4 / 4);
  mx_coarse *c2 = NULL;
  cr_assert_eq(mx_coarse_read(path, bytes, h, &c2, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_coarse_count(c2), N);
  cr_assert_eq(mx_coarse_dim(c2), D);
  cr_assert_eq(mx_coarse_set_defaults(c2, &def, NULL), MX_OK);
  float s1[NQ * K], s2[NQ * K];
  int64_t i1[NQ * K], i2[NQ * K];
  mx_coarse_params p = {.nprobe = 11};
  for (int pass = 0; pass < 2; pass++) {
    cr_assert_eq(mx_coarse_search(c, NQ, q, K, pass ? &p : NULL, s1, i1, NULL), MX_OK);
    cr_assert_eq(mx_coarse_search(c2, NQ, q, K, pass ? &p : NULL, s2, i2, NULL), MX_OK);
    cr_assert_arr_eq(i1, i2, sizeof i1, "%s: ids differ after round trip", factory);
    cr_assert_arr_eq(s1, s2, sizeof s1, "%s: scores differ after round trip", factory);
  }
  mx_coarse_free(c2);
  mx_coarse_free(c);
  mx_test_tmpdir_remove(dir);
  free(x);
  free(q);
  free(ids);
}

Test(coarse, write_read_round_trip_flat) { write_read_case("Flat"); }
Test(coarse, write_read_round_trip_ivf) { write_read_case("IVF32,Flat"); }
Test(coarse, write_read_round_trip_ivf_sq8) { write_read_case("IVF32,SQ8"); }

static unsigned char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(*len);
  cr_assert_eq(fread(b, 1, *len, f), *len);
  fclose(f);
  return b;
}

static void spit(const char *path, const unsigned char *b, size_t len) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(b, 1, len, f), len);
  fclose(f);
}

Test(coarse, corrupted_or_truncated_file_is_corrupt_not_a_crash) {
  mx_test_rng r = {6};
  enum { N = 500, D = 8 };
  float *x = clustered(&r, N, D, 10, 1.0f, NULL, NULL);
  uint64_t *ids = seq_ids(N, 0);
  mx_coarse *c = build("IVF8,Flat", D, N, x, ids);
  char *dir = mx_test_tmpdir("coarse_corrupt");
  char path[1024];
  snprintf(path, sizeof path, "%s/coarse.faiss", dir);
  uint64_t bytes = 0, h = 0;
  mx_error err;
  cr_assert_eq(mx_coarse_write(c, path, &bytes, &h, &err), MX_OK, "%s", err.message);
  size_t len;
  unsigned char *orig = slurp(path, &len);
  cr_assert_eq(len, bytes);
  /* a flipped byte in the header, the middle and the last byte */
  size_t spots[] = {0, 5, len / 2, len - 1};
  for (size_t i = 0; i < 4; i++) {
    unsigned char *b = malloc(len);
    memcpy(b, orig, len);
    b[spots[i]] ^= 0x5a;
    spit(path, b, len);
    free(b);
    mx_coarse *bad = NULL;
    cr_assert_eq(mx_coarse_read(path, bytes, h, &bad, &err), MX_ERR_CORRUPT, "byte %zu",
                 spots[i]);
    cr_assert_null(bad);
    cr_assert(strstr(err.message, "checksum") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, path) != NULL, "%s", err.message);
  }
  /* truncated: to half, to zero */
  size_t cuts[] = {len / 2, 0};
  for (size_t i = 0; i < 2; i++) {
    spit(path, orig, cuts[i]);
    mx_coarse *bad = NULL;
    cr_assert_eq(mx_coarse_read(path, bytes, h, &bad, &err), MX_ERR_CORRUPT, "cut %zu", cuts[i]);
    cr_assert(strstr(err.message, "bytes") != NULL, "%s", err.message);
  }
  /* a missing file is not found */
  remove(path);
  cr_assert_eq(mx_coarse_read(path, bytes, h, &(mx_coarse *){NULL}, &err), MX_ERR_NOT_FOUND);
  /* intact again: reads */
  spit(path, orig, len);
  mx_coarse *good = NULL;
  cr_assert_eq(mx_coarse_read(path, bytes, h, &good, &err), MX_OK, "%s", err.message);
  mx_coarse_free(good);
  /* bytes that hash right but are not a FAISS index: FORMAT, no crash */
  unsigned char junk[64];
  memset(junk, 0x41, sizeof junk);
  spit(path, junk, sizeof junk);
  cr_assert_eq(mx_coarse_read(path, sizeof junk, mx_hash64(junk, sizeof junk), &good, &err),
               MX_ERR_FORMAT, "%s", err.message);
  free(orig);
  mx_coarse_free(c);
  mx_test_tmpdir_remove(dir);
  free(x);
  free(ids);
}

/* --------------------------------------------------------------- errors */

Test(coarse, invalid_factory_names_the_string) {
  mx_coarse *c = (mx_coarse *)1;
  mx_error err;
  cr_assert_eq(mx_coarse_create("IVFbogus,Flatt", 16, &c, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert_null(c);
  cr_assert(strstr(err.message, "IVFbogus,Flatt") != NULL, "%s", err.message);
  cr_assert_eq(mx_coarse_create("", 16, &c, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mx_coarse_create(NULL, 16, &c, &err), MX_ERR_INVALID_ARGUMENT);
}

Test(coarse, wrong_dimension_is_clear) {
  mx_coarse *c = NULL;
  mx_error err;
  cr_assert_eq(mx_coarse_create("Flat", 0, &c, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "dimension") != NULL, "%s", err.message);
  /* PQ8 needs d divisible by 8 */
  cr_assert_eq(mx_coarse_create("PQ8", 12, &c, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "PQ8") != NULL, "%s", err.message);
  /* PCA to more dimensions than the input has */
  mx_status s = mx_coarse_create("PCA64,Flat", 16, &c, &err);
  if (s == MX_OK) {
    /* FAISS 1.7.3 accepts it at creation and refuses at training */
    float x[16 * 100] = {0};
    for (int i = 0; i < 1600; i++)
      x[i] = (float)((i * 7919) % 97) / 97.0f;
    s = mx_coarse_train(c, 100, x, &err);
    cr_assert_neq(s, MX_OK);
    mx_coarse_free(c);
  }
  cr_assert(strlen(err.message) > 0);
}

Test(coarse, untrained_add_is_a_state_error) {
  mx_coarse *c = NULL;
  mx_error err;
  cr_assert_eq(mx_coarse_create("IVF16,Flat", 8, &c, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_coarse_train_size(c, 100000), 16 * 128);
  cr_assert_eq(mx_coarse_train_size(c, 1000), 1000);
  float x[8 * 4] = {1};
  uint64_t ids[4] = {0, 1, 2, 3};
  cr_assert_eq(mx_coarse_add(c, 4, x, ids, &err), MX_ERR_STATE);
  cr_assert(strstr(err.message, "not trained") != NULL, "%s", err.message);
  /* too few training points */
  cr_assert_eq(mx_coarse_train(c, 4, x, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "16 IVF lists") != NULL, "%s", err.message);
  /* below 39 per list FAISS would print a warning: refused instead */
  float *few = calloc(16 * 38 * 8, sizeof *few);
  for (int i = 0; i < 16 * 38 * 8; i++)
    few[i] = (float)((i * 7919) % 101) / 101.0f;
  cr_assert_eq(mx_coarse_train(c, 16 * 38, few, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "39 per list") != NULL, "%s", err.message);
  free(few);
  mx_coarse_free(c);
  /* Flat needs no training */
  cr_assert_eq(mx_coarse_create("Flat", 8, &c, &err), MX_OK);
  cr_assert_eq(mx_coarse_train_size(c, 1000000), 0);
  mx_coarse_free(c);
}

Test(coarse, ids_round_trip_as_64_bit) {
  mx_test_rng r = {7};
  enum { N = 300, D = 8 };
  float *x = malloc(N * D * sizeof *x);
  mx_test_random_unit_vectors(&r, x, N, D);
  uint64_t ids[N];
  for (int i = 0; i < N; i++)
    ids[i] = (UINT64_C(1) << 62) + (UINT64_C(0x9e3779b9) << 3) * (uint64_t)i + 5;
  char *dir = mx_test_tmpdir("coarse_ids");
  char path[1024];
  snprintf(path, sizeof path, "%s/coarse.faiss", dir);
  const char *factories[] = {"Flat", "IVF4,Flat", "HNSW8"};
  for (int fi = 0; fi < 3; fi++) {
    mx_coarse *c = build(factories[fi], D, N, x, ids);
    uint64_t bytes, h;
    cr_assert_eq(mx_coarse_write(c, path, &bytes, &h, NULL), MX_OK);
    mx_coarse *c2 = NULL;
    cr_assert_eq(mx_coarse_read(path, bytes, h, &c2, NULL), MX_OK);
    mx_coarse_params all = {.nprobe = 4, .ef_search = 64};
    for (int i = 0; i < N; i += 37) {
      float s;
      int64_t id;
      cr_assert_eq(mx_coarse_search(c2, 1, x + i * D, 1, &all, &s, &id, NULL), MX_OK);
      cr_assert_eq((uint64_t)id, ids[i], "%s row %d: %llx vs %llx", factories[fi], i,
                   (unsigned long long)id, (unsigned long long)ids[i]);
    }
    mx_coarse_free(c2);
    mx_coarse_free(c);
  }
  /* ids above INT64_MAX cannot be FAISS labels */
  mx_coarse *c = NULL;
  mx_error err;
  cr_assert_eq(mx_coarse_create("Flat", D, &c, &err), MX_OK);
  uint64_t big = UINT64_MAX - 1;
  cr_assert_eq(mx_coarse_add(c, 1, x, &big, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "INT64_MAX") != NULL, "%s", err.message);
  mx_coarse_free(c);
  mx_test_tmpdir_remove(dir);
  free(x);
}

Test(coarse, default_factory_rule) {
  char f[64];
  mx_coarse_params p;
  mx_coarse_default_factory(500, 2048, f, sizeof f, &p);
  cr_assert_str_eq(f, "IDMap,Flat");
  cr_assert_eq(p.nprobe, 0);
  mx_coarse_default_factory(20000, 128, f, sizeof f, &p);
  cr_assert_str_eq(f, "IDMap,Flat");
  mx_coarse_default_factory(100000, 128, f, sizeof f, &p);
  cr_assert(strncmp(f, "IVF", 3) == 0, "%s", f);
  cr_assert_gt(p.nprobe, 0);
  mx_coarse_default_factory(1000000, 2048, f, sizeof f, &p);
  cr_assert(strncmp(f, "IVF", 3) == 0, "%s", f);
  /* every default string is accepted by FAISS */
  static const uint64_t ns[] = {10, 5000, 40000, 100000, 1000000, 50000000};
  static const uint32_t ds[] = {1, 128, 2048, 4096};
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 4; j++) {
      mx_coarse_default_factory(ns[i], ds[j], f, sizeof f, &p);
      mx_coarse *c = NULL;
      mx_error err;
      cr_assert_eq(mx_coarse_create(f, ds[j], &c, &err), MX_OK, "%s: %s", f, err.message);
      uint64_t nt = mx_coarse_train_size(c, ns[i]);
      cr_assert_leq(nt, ns[i]);
      if (strncmp(f, "IVF", 3) == 0) {
        uint64_t nlist = strtoull(f + 3, NULL, 10);
        cr_assert_geq(nt, nlist * 39, "%s: %llu training points", f, (unsigned long long)nt);
        cr_assert_leq(nt, nlist * 40 > 1000000 ? nlist * 40 : 1000000);
      } else {
        cr_assert_eq(nt, 0, "%s", f);
      }
      mx_coarse_free(c);
    }
}
