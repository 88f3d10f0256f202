/* test_concurrency.c: one open index searched from many threads at once.
 * Every answer (mixed budgets, cascades, nprobe values, single mx_search
 * and mx_search_batch) must equal the single-threaded answer bit for bit;
 * with fewer LMDB reader slots than threads a search either succeeds with
 * that answer or fails with MX_ERR_BUSY. Also run under ThreadSanitizer by
 * scripts/tsan.sh. */
#include <criterion/criterion.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "metaidx.h"

#define DIM 48
#define R 16
#define RQ 8
#define N 1000
#define NQ 24
#define K 10
#define N_CONFIGS 6
#define THREADS 16
#define ROUNDS 3 /* each thread runs every (query, config) pair this often */

typedef struct fixture {
  char *tmp;
  char dir[PATH_MAX];
  float queries[NQ * RQ * DIM];
  mx_search_options cfg[N_CONFIGS];
  mx_hit ref[N_CONFIGS][NQ][K];
  uint32_t n_ref[N_CONFIGS][NQ];
} fixture;

static fixture F;

static void make_configs(mx_search_options *c) {
  for (int i = 0; i < N_CONFIGS; i++) {
    mx_search_options_init(&c[i]);
    c[i].k = K;
  }
  c[0].r_q = 1, c[0].r_c = 1, c[0].candidates = 50;
  c[1].r_q = 2, c[1].r_c = 4, c[1].candidates = 100, c[1].nprobe = 4;
  c[2].r_q = 4, c[2].r_c = 8, c[2].candidates = 200, c[2].nprobe = 16;
  c[3].r_q = 8, c[3].r_c = 16, c[3].candidates = 100; /* nprobe 0: the index's default */
  /* cascades: (2,4) keep 60 -> (8,16); (1,1) keep 100 -> (4,8) keep 30 -> (8,16) */
  c[4].candidates = 300, c[4].n_stages = 1, c[4].stages[0] = (mx_stage){2, 4, 60};
  c[4].r_q = 8, c[4].r_c = 16;
  c[5].candidates = 400, c[5].n_stages = 2, c[5].nprobe = 8;
  c[5].stages[0] = (mx_stage){1, 1, 100};
  c[5].stages[1] = (mx_stage){4, 8, 30};
  c[5].r_q = 8, c[5].r_c = 16, c[5].prefetch = 0;
}

/* Builds the index and computes every answer on one thread, with the index
 * opened with max_readers slots (each handle counts its own searches). */
static void build_and_reference(uint32_t max_readers) {
  F.tmp = mx_test_tmpdir("concurrency");
  snprintf(F.dir, sizeof F.dir, "%s/ix", F.tmp);
  mx_test_rng rng = {31337};
  float *docs = malloc((size_t)N * R * DIM * sizeof(float));
  cr_assert_not_null(docs);
  mx_test_random_unit_vectors(&rng, docs, (size_t)N * R, DIM);
  /* queries near some documents, so rankings are not all near-ties */
  for (int q = 0; q < NQ; q++) {
    float *dst = F.queries + (size_t)q * RQ * DIM;
    mx_test_random_unit_vectors(&rng, dst, RQ, DIM);
    const float *src = docs + (size_t)(q * 37 % N) * R * DIM;
    for (int i = 0; i < RQ * DIM; i++)
      dst[i] = 0.4f * dst[i] + src[i];
  }
  mx_build_options bo;
  mx_build_options_init(&bo);
  bo.dtype = MX_DTYPE_F16;
  bo.coarse_factory = "IVF16,Flat";
  mx_builder *b = NULL;
  mx_error err;
  cr_assert_eq(mx_builder_open(F.dir, DIM, R, &bo, &b, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_builder_add(b, N, NULL, NULL, NULL, docs, MX_DTYPE_F32, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(mx_builder_finish(b, &err), MX_OK, "%s", err.message);
  free(docs);
  /* a published index has no lock.mdb: the first opener sizes the table */
  char lock[PATH_MAX + 32];
  snprintf(lock, sizeof lock, "%s/store/lock.mdb", F.dir);
  cr_assert_neq(access(lock, F_OK), 0, "%s exists after the build", lock);

  make_configs(F.cfg);
  mx_open_options oo;
  mx_open_options_init(&oo);
  oo.max_readers = max_readers;
  mx_index *ix = NULL;
  cr_assert_eq(mx_index_open(F.dir, &oo, &ix, &err), MX_OK, "%s", err.message);
  for (int c = 0; c < N_CONFIGS; c++)
    for (int q = 0; q < NQ; q++) {
      cr_assert_eq(mx_search(ix, F.queries + (size_t)q * RQ * DIM, RQ, &F.cfg[c], F.ref[c][q],
                             &F.n_ref[c][q], NULL, &err),
                   MX_OK, "config %d query %d: %s", c, q, err.message);
      cr_assert_eq(F.n_ref[c][q], K);
    }
  mx_index_close(ix);
}

static int same(const mx_hit *a, uint32_t na, const mx_hit *b, uint32_t nb) {
  if (na != nb)
    return 0;
  for (uint32_t i = 0; i < na; i++)
    if (a[i].doc != b[i].doc || a[i].id != b[i].id || a[i].score != b[i].score)
      return 0;
  return 1;
}

typedef struct worker {
  pthread_t thread;
  mx_index *ix;
  unsigned id;
  int allow_busy; /* MX_ERR_BUSY is an accepted outcome */
  int batch_threads;
  /* results */
  long ok, busy, wrong, other;
  mx_status other_status;
  char first_problem[MX_ERROR_MESSAGE_MAX + 64];
} worker;

static void problem(worker *w, const char *what, int c, int q, const mx_error *err) {
  if (!w->first_problem[0])
    snprintf(w->first_problem, sizeof w->first_problem, "thread %u, config %d, query %d: %s%s%s",
             w->id, c, q, what, err ? ": " : "", err ? err->message : "");
}

static void outcome(worker *w, mx_status s, const mx_error *err, int c, int q, const mx_hit *hits,
                    uint32_t n) {
  if (s == MX_OK) {
    if (same(hits, n, F.ref[c][q], F.n_ref[c][q])) {
      w->ok++;
    } else {
      w->wrong++;
      problem(w, "answer differs from the single-threaded one", c, q, NULL);
    }
  } else if (s == MX_ERR_BUSY && w->allow_busy) {
    w->busy++;
  } else {
    w->other++;
    w->other_status = s;
    problem(w, mx_status_name(s), c, q, err);
  }
}

static void *worker_main(void *p) {
  worker *w = p;
  mx_test_rng rng = {1000 + w->id};
  mx_hit hits[NQ * K];
  uint32_t n_hits[NQ];
  for (int round = 0; round < ROUNDS; round++) {
    /* every (config, query) pair once per round, from a thread-specific
     * starting point and stride, so threads mix configs at any moment */
    int total = N_CONFIGS * NQ;
    int start = (int)mx_test_rng_below(&rng, (uint64_t)total);
    for (int i = 0; i < total; i++) {
      int pair = (start + i * 7) % total; /* 7 is coprime with 144 */
      int c = pair % N_CONFIGS, q = pair / N_CONFIGS;
      mx_error err;
      uint32_t n = 0;
      mx_search_stats stats;
      mx_status s = mx_search(w->ix, F.queries + (size_t)q * RQ * DIM, RQ, &F.cfg[c], hits, &n,
                              &stats, &err);
      outcome(w, s, &err, c, q, hits, n);
    }
    /* and the whole query set of one config through mx_search_batch */
    int c = (int)((w->id + (unsigned)round) % N_CONFIGS);
    mx_error err;
    memset(n_hits, 0, sizeof n_hits);
    mx_status s = mx_search_batch(w->ix, F.queries, NQ, RQ, &F.cfg[c], (uint32_t)w->batch_threads,
                                  hits, n_hits, NULL, &err);
    if (s != MX_OK) {
      outcome(w, s, &err, c, -1, NULL, 0);
    } else {
      for (int q = 0; q < NQ; q++)
        outcome(w, MX_OK, NULL, c, q, hits + (size_t)q * K, n_hits[q]);
    }
  }
  return NULL;
}

static void run_threads(mx_index *ix, int n_threads, int allow_busy, long *ok, long *busy) {
  worker *w = calloc((size_t)n_threads, sizeof *w);
  cr_assert_not_null(w);
  for (int i = 0; i < n_threads; i++) {
    w[i].ix = ix;
    w[i].id = (unsigned)i;
    w[i].allow_busy = allow_busy;
    w[i].batch_threads = 1 + i % 3;
    cr_assert_eq(pthread_create(&w[i].thread, NULL, worker_main, &w[i]), 0);
  }
  long wrong = 0, other = 0;
  *ok = *busy = 0;
  const char *first = NULL;
  for (int i = 0; i < n_threads; i++) {
    pthread_join(w[i].thread, NULL);
    *ok += w[i].ok;
    *busy += w[i].busy;
    wrong += w[i].wrong;
    other += w[i].other;
    if (!first && w[i].first_problem[0])
      first = w[i].first_problem;
  }
  cr_expect_eq(wrong, 0, "%ld wrong answers; first: %s", wrong, first ? first : "");
  cr_expect_eq(other, 0, "%ld unexpected failures; first: %s", other, first ? first : "");
  free(w);
}

Test(concurrency, sixteen_threads_answer_as_one, .timeout = 600) {
  build_and_reference(0);
  mx_index *ix = NULL;
  mx_error err;
  cr_assert_eq(mx_index_open(F.dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  long ok, busy;
  run_threads(ix, THREADS, 0, &ok, &busy);
  long expected = (long)THREADS * ROUNDS * (N_CONFIGS * NQ + NQ);
  cr_expect_eq(ok, expected, "%ld of %ld answers", ok, expected);
  fprintf(stderr, "concurrency: %d threads: %ld answers, all equal to the single-threaded run\n",
          THREADS, ok);
  mx_index_close(ix);
  mx_test_tmpdir_remove(F.tmp);
}

Test(concurrency, more_threads_than_reader_slots_succeed_or_are_busy, .timeout = 600) {
  build_and_reference(1);
  mx_open_options oo;
  mx_open_options_init(&oo);
  oo.max_readers = 1;
  mx_index *ix = NULL;
  mx_error err;
  cr_assert_eq(mx_index_open(F.dir, &oo, &ix, &err), MX_OK, "%s", err.message);
  long ok, busy;
  run_threads(ix, 8, 1, &ok, &busy);
  fprintf(stderr,
          "concurrency: 8 threads, 1 reader slot: %ld answers equal to the single-threaded "
          "run, %ld MX_ERR_BUSY\n",
          ok, busy);
  cr_expect_gt(ok, 0, "some searches get the slot");
  /* the index still works normally once the contention is over */
  mx_hit hits[K];
  uint32_t n = 0;
  cr_assert_eq(mx_search(ix, F.queries, RQ, &F.cfg[3], hits, &n, NULL, &err), MX_OK, "%s",
               err.message);
  cr_expect(same(hits, n, F.ref[3][0], F.n_ref[3][0]));
  mx_index_close(ix);
  mx_test_tmpdir_remove(F.tmp);
}
