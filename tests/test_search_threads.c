/* test_search_threads.c: one query's rescoring spread over threads
 * (mx_search_options.threads) gives the one-thread answer exactly: the same
 * hits, scores bit for bit, the same statistics, on indexes of awkward
 * shapes and each dtype, with and without cascades; and with damaged
 * records, the same error (the first failing candidate's) or, with
 * skip_corrupt, the same hits and skip count. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "index_internal.h"
#include "pool.h"
#include "status.h"
#include "metaidx.h"
#include "rescore.h"
#include "store.h"

#define MAXK 64

typedef struct fixture {
  char *tmp;
  char dir[PATH_MAX];
  uint32_t dim, r, n, rq;
  float *queries; /* 4 queries */
  mx_index *ix;
} fixture;

static void build(fixture *f, const char *name, mx_dtype dtype, uint32_t dim, uint32_t r,
                  uint32_t n, uint64_t seed) {
  f->tmp = mx_test_tmpdir(name);
  snprintf(f->dir, sizeof f->dir, "%s/ix", f->tmp);
  f->dim = dim;
  f->r = r;
  f->n = n;
  f->rq = 5;
  mx_test_rng rng = {seed};
  float *docs = malloc(sizeof(float) * n * r * dim);
  f->queries = malloc(sizeof(float) * 4 * f->rq * dim);
  mx_test_random_unit_vectors(&rng, docs, (size_t)n * r, dim);
  mx_test_random_unit_vectors(&rng, f->queries, (size_t)4 * f->rq, dim);
  mx_build_options o;
  mx_build_options_init(&o);
  o.dtype = dtype;
  mx_builder *b;
  mx_error err;
  cr_assert_eq(mx_builder_open(f->dir, dim, r, &o, &b, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_builder_add(b, n, NULL, NULL, NULL, docs, MX_DTYPE_F32, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(mx_builder_finish(b, &err), MX_OK, "%s", err.message);
  free(docs);
}

static void open_ix(fixture *f) {
  mx_error err;
  cr_assert_eq(mx_index_open(f->dir, NULL, &f->ix, &err), MX_OK, "%s", err.message);
}

static void fixture_free(fixture *f) {
  mx_index_close(f->ix);
  free(f->queries);
  mx_test_tmpdir_remove(f->tmp);
}

typedef struct answer {
  mx_status status;
  char message[MX_ERROR_MESSAGE_MAX];
  uint32_t n;
  mx_hit hits[MAXK];
  uint64_t scored, skipped, bytes;
} answer;

static answer run(fixture *f, int q, const mx_search_options *base, uint32_t threads) {
  mx_search_options o = *base;
  o.threads = threads;
  answer a;
  memset(&a, 0, sizeof a);
  mx_search_stats st;
  mx_error err;
  mx_error_clear(&err);
  a.status = mx_search(f->ix, f->queries + (size_t)q * f->rq * f->dim, f->rq, &o, a.hits, &a.n,
                       &st, &err);
  snprintf(a.message, sizeof a.message, "%s", a.status ? err.message : "");
  a.scored = st.scored;
  a.skipped = st.corrupt_skipped;
  a.bytes = st.bytes_touched;
  return a;
}

static void same(const answer *one, const answer *many, uint32_t threads, const char *what) {
  cr_assert_eq(many->status, one->status, "%s, %u threads: %s vs %s (%s)", what, threads,
               mx_status_name(many->status), mx_status_name(one->status), many->message);
  cr_assert_str_eq(many->message, one->message, "%s, %u threads", what, threads);
  cr_assert_eq(many->n, one->n, "%s, %u threads", what, threads);
  for (uint32_t i = 0; i < one->n; i++) {
    cr_assert_eq(many->hits[i].doc, one->hits[i].doc, "%s, %u threads, hit %u", what, threads, i);
    cr_assert_eq(many->hits[i].id, one->hits[i].id);
    cr_assert(memcmp(&many->hits[i].score, &one->hits[i].score, sizeof(float)) == 0,
              "%s, %u threads, hit %u: %.9g vs %.9g", what, threads, i, many->hits[i].score,
              one->hits[i].score);
  }
  if (one->status == MX_OK) {
    cr_assert_eq(many->scored, one->scored, "%s, %u threads: scored", what, threads);
    cr_assert_eq(many->skipped, one->skipped, "%s, %u threads: skipped", what, threads);
    cr_assert_eq(many->bytes, one->bytes, "%s, %u threads: bytes", what, threads);
  }
}

/* Random options: k, candidates (N or fewer), final budget, a cascade. */
static mx_search_options random_options(mx_test_rng *rng, const fixture *f) {
  mx_search_options o;
  mx_search_options_init(&o);
  o.k = 1 + (uint32_t)mx_test_rng_below(rng, MAXK);
  o.candidates = mx_test_rng_below(rng, 2) ? f->n : 1 + (uint32_t)mx_test_rng_below(rng, f->n);
  o.r_q = 1 + (uint32_t)mx_test_rng_below(rng, f->rq);
  o.r_c = 1 + (uint32_t)mx_test_rng_below(rng, f->r);
  if (mx_test_rng_below(rng, 3) == 0) {
    o.n_stages = 1;
    o.stages[0] = (mx_stage){1 + (uint32_t)mx_test_rng_below(rng, f->rq),
                             1 + (uint32_t)mx_test_rng_below(rng, f->r),
                             o.k + (uint32_t)mx_test_rng_below(rng, f->n)};
  }
  o.prefetch = (int)mx_test_rng_below(rng, 2);
  return o;
}

Test(search_threads, answers_equal_one_thread_on_random_shapes) {
  static const mx_dtype dtypes[] = {MX_DTYPE_F32, MX_DTYPE_F16, MX_DTYPE_BF16, MX_DTYPE_INT8};
  static const uint32_t dims[] = {37, 8, 129, 3};
  static const uint32_t rs[] = {9, 16, 3, 1};
  static const uint32_t ns[] = {523, 64, 301, 2};
  mx_test_rng rng = {4242};
  for (int i = 0; i < 4; i++) {
    fixture f;
    char name[64];
    snprintf(name, sizeof name, "threads_shape_%d", i);
    build(&f, name, dtypes[i], dims[i], rs[i], ns[i], 50 + (uint64_t)i);
    open_ix(&f);
    for (int trial = 0; trial < 25; trial++) {
      mx_search_options o = random_options(&rng, &f);
      int q = (int)mx_test_rng_below(&rng, 4);
      answer one = run(&f, q, &o, 1);
      cr_assert_eq(one.status, MX_OK, "%s", one.message);
      static const uint32_t counts[] = {2, 3, 7, 0};
      for (int t = 0; t < 4; t++) {
        answer many = run(&f, q, &o, counts[t]);
        char what[96];
        snprintf(what, sizeof what, "shape %d trial %d (k %u k' %u %ux%u, %u stages)", i, trial,
                 o.k, o.candidates, o.r_q, o.r_c, o.n_stages);
        same(&one, &many, counts[t], what);
      }
    }
    fixture_free(&f);
  }
}

Test(search_threads, damaged_records_give_the_one_thread_error_and_skips) {
  fixture f;
  build(&f, "threads_damage", MX_DTYPE_F16, 24, 8, 400, 9);
  /* the bytes of three records (a vector in the middle of each), found in
   * data.mdb through the store's own view of them */
  static const uint64_t victims[] = {57, 203, 388};
  long at[3];
  open_ix(&f);
  mx_store *store = mx_index_store(f.ix);
  char data[PATH_MAX + 32];
  snprintf(data, sizeof data, "%s/store/%s", f.dir, MX_STORE_DATA_FILE);
  for (int v = 0; v < 3; v++) {
    size_t len;
    long off = mx_test_record_offset(store, victims[v], &len);
    cr_assert_geq(off, 0);
    at[v] = off + (long)len - 1 - 48 * v; /* in the last segment */
  }
  mx_index_close(f.ix);
  FILE *fp = fopen(data, "r+b");
  for (int v = 0; v < 3; v++) {
    fseek(fp, at[v], SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, at[v], SEEK_SET);
    fputc(c ^ 0x21, fp);
  }
  fclose(fp);
  open_ix(&f);
  for (int skip = 0; skip <= 1; skip++)
    for (int q = 0; q < 4; q++) {
      mx_search_options o;
      mx_search_options_init(&o);
      o.k = 20;
      o.candidates = q % 2 ? f.n : 250;
      o.skip_corrupt = skip;
      o.r_c = 8; /* reads the damaged segments */
      if (q >= 2) {
        o.n_stages = 1;
        o.stages[0] = (mx_stage){2, 4, 300};
      }
      answer one = run(&f, q, &o, 1);
      if (q == 1 && !skip) {
        cr_assert_eq(one.status, MX_ERR_CORRUPT, "every document read: a damaged one fails");
        cr_assert(strstr(one.message, "record id 57") != NULL,
                  "the first damaged candidate in storage order: %s", one.message);
      }
      if (q == 1 && skip)
        cr_assert_eq(one.skipped, 3, "all three damaged documents skipped");
      for (uint32_t threads = 2; threads <= 5; threads += 3) {
        answer many = run(&f, q, &o, threads);
        char what[64];
        snprintf(what, sizeof what, "query %d skip_corrupt %d", q, skip);
        same(&one, &many, threads, what);
      }
    }
  fixture_free(&f);
}

Test(search_threads, automatic_choice) {
  unsigned cores = mx_cpu_count();
  cr_assert_eq(mx_rescore_threads(0, 100, 4, 16, 128), 1, "small work: one thread");
  cr_assert_eq(mx_rescore_threads(0, 1000000, 16, 64, 3584), cores, "large: every core");
  cr_assert_eq(mx_rescore_threads(3, 100, 1, 1, 1), 3, "asked for: given");
  cr_assert_eq(mx_rescore_threads(8, 2, 1, 1, 1), 2, "never more than candidates");
  cr_assert_eq(mx_rescore_threads(0, 0, 16, 64, 3584), 1);
}

Test(search_threads, batch_runs_each_query_on_one_thread_with_the_same_answers) {
  fixture f;
  build(&f, "threads_batch", MX_DTYPE_F32, 40, 6, 350, 3);
  open_ix(&f);
  mx_search_options o;
  mx_search_options_init(&o);
  o.k = 15;
  o.candidates = f.n;
  o.threads = 4;
  mx_hit hits[4 * 15];
  uint32_t nh[4];
  mx_error err;
  cr_assert_eq(mx_search_batch(f.ix, f.queries, 4, f.rq, &o, 2, hits, nh, NULL, &err), MX_OK,
               "%s", err.message);
  for (int q = 0; q < 4; q++) {
    answer one = run(&f, q, &o, 1);
    cr_assert_eq(nh[q], one.n);
    for (uint32_t i = 0; i < one.n; i++) {
      cr_assert_eq(hits[q * 15 + i].doc, one.hits[i].doc);
      cr_assert(hits[q * 15 + i].score == one.hits[i].score);
    }
  }
  fixture_free(&f);
}
