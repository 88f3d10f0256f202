/* test_recall.c: search by recall (query/recall.c): with candidates = 0,
 * mx_search takes k' and nprobe from the calibration table by the rule of
 * docs/recall.md (checked against a plain re-statement of it on random
 * tables), says in its statistics what it chose and why, lets an explicit
 * candidate count win, and validates the recall option. */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calibration.h"
#include "helpers.h"
#include "metaidx.h"
#include "recall.h"

#define DIM 24
#define R 8
#define N 600

static void build(const char *dir, uint64_t seed, int calibrate) {
  mx_test_rng rng = {seed};
  float *docs = malloc((size_t)N * R * DIM * sizeof(float));
  mx_test_random_unit_vectors(&rng, docs, (size_t)N * R, DIM);
  mx_build_options o;
  mx_build_options_init(&o);
  o.dtype = MX_DTYPE_F32;
  o.seed = seed;
  o.calibrate = calibrate;
  mx_builder *b = NULL;
  mx_error err = {0};
  cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &b, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_builder_add(b, N, NULL, NULL, NULL, docs, MX_DTYPE_F32, &err), MX_OK, "%s",
               err.message);
  cr_assert_eq(mx_builder_finish(b, &err), MX_OK, "%s", err.message);
  free(docs);
}

static void queries(uint64_t seed, float *q, uint32_t n) {
  mx_test_rng rng = {seed};
  mx_test_random_unit_vectors(&rng, q, (size_t)n * R, DIM);
}

/* ------------------------------------------------ the rule on bare tables */

/* The rule, stated plainly (docs/recall.md). */
static void reference(const mx_calib *c, uint64_t n_docs, const mx_search_options *o,
                      mx_budget b, uint32_t *cand, uint32_t *nprobe, uint32_t *flags,
                      mx_candidates_source *src) {
  *flags = 0;
  *nprobe = o->nprobe;
  if (o->candidates) {
    *cand = o->candidates;
    *src = MX_CANDIDATES_EXPLICIT;
    return;
  }
  *src = MX_CANDIDATES_FALLBACK;
  *cand = MX_DEFAULT_CANDIDATES;
  int use = -1;
  if (!c) {
    *flags |= MX_CHOICE_NO_TABLE;
  } else {
    for (uint32_t i = 0; i < c->pub.n_entries; i++) {
      const mx_calibration_entry *e = &c->pub.entries[i];
      if (use < 0 && e->status != MX_CALIBRATION_SKIPPED && e->budget.r_q == b.r_q &&
          e->budget.r_c == b.r_c) /* the first, should a table hold one twice */
        use = (int)i;
    }
    if (use < 0) {
      uint64_t best = UINT64_MAX;
      for (uint32_t i = 0; i < c->pub.n_entries; i++) {
        const mx_calibration_entry *e = &c->pub.entries[i];
        uint64_t cost = (uint64_t)e->budget.r_q * e->budget.r_c;
        if (e->status != MX_CALIBRATION_SKIPPED && e->budget.r_q >= b.r_q &&
            e->budget.r_c >= b.r_c && cost < best) {
          best = cost;
          use = (int)i;
        }
      }
      if (use >= 0) {
        *flags |= MX_CHOICE_OTHER_BUDGET;
      } else {
        uint64_t largest = 0;
        for (uint32_t i = 0; i < c->pub.n_entries; i++) {
          const mx_calibration_entry *e = &c->pub.entries[i];
          uint64_t cost = (uint64_t)e->budget.r_q * e->budget.r_c;
          if (e->status != MX_CALIBRATION_SKIPPED && (use < 0 || cost > largest)) {
            largest = cost;
            use = (int)i;
          }
        }
        *flags |= use >= 0 ? MX_CHOICE_BEYOND_TABLE : MX_CHOICE_NO_ENTRY;
      }
    }
  }
  if (use >= 0) {
    *src = MX_CANDIDATES_TABLE;
    float target = o->recall > 0 ? o->recall : c->pub.target;
    int pick = -1, best = 0;
    for (uint32_t j = 0; j < c->n_points[use]; j++) {
      const mx_calib_point *p = &c->points[use][j], *bp = &c->points[use][best];
      if (pick < 0 && p->recall - p->recall_se >= target)
        pick = (int)j;
      if (p->recall - p->recall_se > bp->recall - bp->recall_se)
        best = (int)j;
    }
    if (pick < 0) {
      pick = best;
      *flags |= MX_CHOICE_NOT_MET;
    }
    uint64_t k = c->points[use][pick].candidates;
    if (o->k > c->pub.k) {
      k *= (o->k + c->pub.k - 1) / c->pub.k;
      *flags |= MX_CHOICE_K_SCALED;
    } else if (!o->nprobe) {
      *nprobe = c->points[use][pick].nprobe;
    }
    *cand = (uint32_t)(k < n_docs ? k : n_docs);
    if (o->n_stages)
      *flags |= MX_CHOICE_CASCADE;
  }
  if (o->n_stages && *cand < o->stages[0].keep)
    *cand = o->stages[0].keep;
}

Test(recall, the_choice_follows_the_rule_on_random_tables) {
  mx_test_rng rng = {99};
  static mx_calib c;
  for (int trial = 0; trial < 3000; trial++) {
    memset(&c, 0, sizeof c);
    c.pub.target = 0.5f + 0.5f * (float)mx_test_rng_below(&rng, 1000) / 1000;
    c.pub.k = 1 + (uint32_t)mx_test_rng_below(&rng, 20);
    c.pub.n_entries = (uint32_t)mx_test_rng_below(&rng, 6);
    for (uint32_t i = 0; i < c.pub.n_entries; i++) {
      mx_calibration_entry *e = &c.pub.entries[i];
      e->budget = (mx_budget){1 + (uint32_t)mx_test_rng_below(&rng, 6),
                              1 + (uint32_t)mx_test_rng_below(&rng, 10)};
      e->status = (mx_calibration_status)mx_test_rng_below(&rng, 3);
      c.n_points[i] = e->status == MX_CALIBRATION_SKIPPED
                          ? 0
                          : 1 + (uint32_t)mx_test_rng_below(&rng, MX_CALIB_MAX_POINTS);
      uint32_t cand = 0;
      float rec = 0;
      for (uint32_t j = 0; j < c.n_points[i]; j++) {
        cand += 1 + (uint32_t)mx_test_rng_below(&rng, 50);
        /* mostly rising, sometimes falling (noise), ties too */
        rec += ((float)mx_test_rng_below(&rng, 100) - 20) / 1000;
        rec = rec < 0 ? 0 : rec > 1 ? 1 : rec;
        float se = mx_test_rng_below(&rng, 3) ? (float)mx_test_rng_below(&rng, 50) / 1000 : 0;
        c.points[i][j] = (mx_calib_point){cand, (uint32_t)mx_test_rng_below(&rng, 40), rec, se};
      }
    }
    mx_search_options o;
    mx_search_options_init(&o);
    o.k = 1 + (uint32_t)mx_test_rng_below(&rng, 40);
    if (mx_test_rng_below(&rng, 5) == 0)
      o.candidates = 1 + (uint32_t)mx_test_rng_below(&rng, 500);
    if (mx_test_rng_below(&rng, 2))
      o.recall = (float)(1 + mx_test_rng_below(&rng, 1000)) / 1000;
    if (mx_test_rng_below(&rng, 4) == 0)
      o.nprobe = 1 + (uint32_t)mx_test_rng_below(&rng, 9);
    if (mx_test_rng_below(&rng, 4) == 0) {
      o.n_stages = 1;
      o.stages[0] = (mx_stage){1, 1, 1 + (uint32_t)mx_test_rng_below(&rng, 300)};
    }
    mx_budget b = {1 + (uint32_t)mx_test_rng_below(&rng, 6),
                   1 + (uint32_t)mx_test_rng_below(&rng, 10)};
    uint64_t n_docs = 1 + mx_test_rng_below(&rng, 3000);
    int no_table = mx_test_rng_below(&rng, 10) == 0;
    mx_search_options eff;
    mx_search_stats st;
    memset(&st, 0xab, sizeof st);
    mx_recall_choose_in(no_table ? NULL : &c, n_docs, &o, b, &eff, &st);
    uint32_t cand, nprobe, flags;
    mx_candidates_source src;
    reference(no_table ? NULL : &c, n_docs, &o, b, &cand, &nprobe, &flags, &src);
    cr_assert_eq(st.candidates_source, src, "trial %d", trial);
    cr_assert_eq(eff.candidates, cand, "trial %d: k' %u, the rule says %u", trial,
                 eff.candidates, cand);
    cr_assert_eq(st.candidates_asked, cand, "trial %d", trial);
    cr_assert_eq(eff.nprobe, nprobe, "trial %d", trial);
    cr_assert_eq(st.candidates_flags, flags, "trial %d: flags %#x, the rule says %#x", trial,
                 st.candidates_flags, flags);
    cr_assert_eq(eff.k, o.k, "the rest of the options is kept");
    cr_assert_eq(eff.n_stages, o.n_stages);
    if (src == MX_CANDIDATES_EXPLICIT)
      cr_assert_eq(st.recall_target, 0);
    else
      cr_assert_float_eq(st.recall_target,
                         o.recall > 0 ? o.recall : no_table ? MX_DEFAULT_RECALL : c.pub.target,
                         1e-7);
    if (src != MX_CANDIDATES_TABLE)
      cr_assert_eq(st.table_budget.r_q, 0);
  }
}

/* ------------------------------------------------------ on a real index */

static void search(mx_index *ix, const mx_search_options *o, const float *q, mx_hit *hits,
                   uint32_t *n, mx_search_stats *st) {
  mx_error err = {0};
  cr_assert_eq(mx_search(ix, q, R, o, hits, n, st, &err), MX_OK, "%s", err.message);
}

Test(recall, search_reads_k_prime_from_the_table) {
  char *tmp = mx_test_tmpdir("recall_table");
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/ix", tmp);
  build(dir, 11, 0);
  mx_tune_options to;
  mx_tune_options_init(&to);
  to.pseudo_queries = 40;
  to.threads = 2;
  mx_error err = {0};
  cr_assert_eq(mx_index_tune(dir, NULL, 0, 0, &to, NULL, &err), MX_OK, "%s", err.message);
  mx_calib c;
  cr_assert_eq(mx_calib_read(dir, &c, &err), MX_OK, "%s", err.message);
  mx_index *ix = NULL;
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  float q[R * DIM];
  queries(3, q, 1);
  mx_hit a[10], b[10];
  uint32_t na, nb;
  for (uint32_t i = 0; i < c.pub.n_entries; i++) {
    const mx_calibration_entry *e = &c.pub.entries[i];
    mx_search_options o;
    mx_search_options_init(&o);
    cr_assert_eq(o.candidates, 0, "the table is the default");
    o.r_q = e->budget.r_q;
    o.r_c = e->budget.r_c;
    mx_search_stats st;
    search(ix, &o, q, a, &na, &st);
    cr_assert_eq(st.candidates_source, MX_CANDIDATES_TABLE);
    cr_assert_eq(st.candidates_flags, 0, "budget %ux%u: flags %#x", o.r_q, o.r_c,
                 st.candidates_flags);
    cr_assert_eq(st.table_budget.r_q, e->budget.r_q);
    cr_assert_eq(st.table_budget.r_c, e->budget.r_c);
    cr_assert_eq(st.candidates_asked, e->candidates, "the table's own target: its entry");
    cr_assert_eq(st.nprobe_asked, e->nprobe);
    cr_assert_float_eq(st.recall_expected, e->recall, 1e-6);
    cr_assert_float_eq(st.recall_target, c.pub.target, 1e-7);
    /* the same search as asking for that k' and nprobe explicitly */
    mx_search_options x = o;
    x.candidates = e->candidates;
    x.nprobe = e->nprobe;
    mx_search_stats sx;
    search(ix, &x, q, b, &nb, &sx);
    cr_assert_eq(sx.candidates_source, MX_CANDIDATES_EXPLICIT);
    cr_assert_eq(na, nb);
    for (uint32_t h = 0; h < na; h++)
      cr_assert(a[h].doc == b[h].doc && a[h].score == b[h].score);
    /* a lower target reads the curve: a k' no larger, reaching it */
    o.recall = 0.5f;
    search(ix, &o, q, a, &na, &st);
    cr_assert_leq(st.candidates_asked, e->candidates);
    cr_assert_geq(st.recall_expected, 0.5f);
    cr_assert_float_eq(st.recall_target, 0.5f, 1e-7);
  }
  /* a target above what the table measured: said, not silent */
  float best = 0, best_bound = -1;
  for (uint32_t j = 0; j < c.n_points[0]; j++)
    if (mx_calib_point_bound(&c.points[0][j]) > best_bound) {
      best_bound = mx_calib_point_bound(&c.points[0][j]);
      best = c.points[0][j].recall;
    }
  if (best_bound < 1.0f) {
    mx_search_options o;
    mx_search_options_init(&o);
    o.recall = 1.0f;
    mx_search_stats st;
    search(ix, &o, q, a, &na, &st);
    cr_assert_eq(st.candidates_source, MX_CANDIDATES_TABLE);
    cr_assert(st.candidates_flags & MX_CHOICE_NOT_MET, "flags %#x", st.candidates_flags);
    cr_assert_float_eq(st.recall_expected, best, 1e-6);
  }
  /* an explicit candidate count wins over recall */
  mx_search_options o;
  mx_search_options_init(&o);
  o.candidates = 37;
  o.recall = 0.99f;
  mx_search_stats st;
  search(ix, &o, q, a, &na, &st);
  cr_assert_eq(st.candidates_source, MX_CANDIDATES_EXPLICIT);
  cr_assert_eq(st.candidates_asked, 37);
  cr_assert_eq(st.candidates, 37);
  mx_index_close(ix);
  mx_test_tmpdir_remove(tmp);
}

Test(recall, without_a_table_the_fallback_is_said) {
  char *tmp = mx_test_tmpdir("recall_fallback");
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/ix", tmp);
  build(dir, 12, 0);
  mx_open_options oo;
  mx_open_options_init(&oo);
  oo.ignore_calibration = 1;
  mx_index *ix = NULL;
  mx_error err = {0};
  cr_assert_eq(mx_index_open(dir, &oo, &ix, &err), MX_OK, "%s", err.message);
  float q[R * DIM];
  queries(4, q, 1);
  mx_hit h[10];
  uint32_t n;
  mx_search_stats st;
  search(ix, NULL, q, h, &n, &st);
  cr_assert_eq(st.candidates_source, MX_CANDIDATES_FALLBACK);
  cr_assert_eq(st.candidates_flags, MX_CHOICE_NO_TABLE);
  cr_assert_eq(st.candidates_asked, MX_DEFAULT_CANDIDATES);
  cr_assert_eq(st.candidates, MX_DEFAULT_CANDIDATES);
  cr_assert_float_eq(st.recall_target, MX_DEFAULT_RECALL, 1e-7);
  cr_assert_eq(st.recall_expected, -1);
  mx_index_close(ix);
  mx_test_tmpdir_remove(tmp);
}

Test(recall, the_recall_option_is_validated) {
  char *tmp = mx_test_tmpdir("recall_validate");
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/ix", tmp);
  build(dir, 13, 0);
  mx_index *ix = NULL;
  mx_error err = {0};
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  float q[2 * R * DIM];
  queries(5, q, 2);
  mx_hit h[20];
  uint32_t n[2] = {7, 7};
  float bad[] = {NAN, -0.1f, 1.0001f, INFINITY, -INFINITY};
  for (int i = 0; i < 5; i++)
    for (int explicit = 0; explicit < 2; explicit++) {
      mx_search_options o;
      mx_search_options_init(&o);
      o.recall = bad[i];
      o.candidates = explicit ? 50 : 0;
      cr_assert_eq(mx_search(ix, q, R, &o, h, n, NULL, &err), MX_ERR_INVALID_ARGUMENT,
                   "recall %g", (double)bad[i]);
      cr_assert(strstr(err.message, "recall"), "'%s' names the option", err.message);
      cr_assert_eq(n[0], 0);
      cr_assert_eq(mx_search_batch(ix, q, 2, R, &o, 2, h, n, NULL, &err),
                   MX_ERR_INVALID_ARGUMENT);
      cr_assert(strstr(err.message, "query"), "'%s' names the query", err.message);
    }
  float good[] = {1e-6f, 0.5f, 1.0f, 0.0f};
  for (int i = 0; i < 4; i++) {
    mx_search_options o;
    mx_search_options_init(&o);
    o.recall = good[i];
    cr_assert_eq(mx_search(ix, q, R, &o, h, n, NULL, &err), MX_OK, "recall %g: %s",
                 (double)good[i], err.message);
    cr_assert_eq(n[0], 10);
  }
  mx_index_close(ix);
  mx_test_tmpdir_remove(tmp);
}

Test(recall, a_build_calibrates_by_default_and_searches_by_its_table, .timeout = 300) {
  /* the default is on; the suite's environment (MX_BUILD_CALIBRATE=0) is
   * what turns it off for the other tests */
  unsetenv("MX_BUILD_CALIBRATE");
  mx_build_options o;
  mx_build_options_init(&o);
  cr_assert_eq(o.calibrate, 1);
  cr_assert_float_eq(o.calibrate_seconds, MX_BUILD_CALIBRATE_SECONDS, 1e-9);
  cr_assert_float_eq(o.calibrate_recall, MX_DEFAULT_RECALL, 1e-7);
  setenv("MX_BUILD_CALIBRATE", "0", 1);
  mx_build_options_init(&o);
  cr_assert_eq(o.calibrate, 0);

  char *tmp = mx_test_tmpdir("recall_build");
  char dir[PATH_MAX], lock[PATH_MAX + 32];
  snprintf(dir, sizeof dir, "%s/ix", tmp);
  build(dir, 14, 1);
  snprintf(lock, sizeof lock, "%s/store/lock.mdb", dir);
  cr_assert_neq(access(lock, F_OK), 0, "the calibration's reader left no lock.mdb");
  mx_index *ix = NULL;
  mx_error err = {0};
  cr_assert_eq(mx_index_open(dir, NULL, &ix, &err), MX_OK, "%s", err.message);
  mx_calibration c;
  cr_assert_eq(mx_index_calibration(ix, &c, &err), MX_OK, "%s", err.message);
  cr_assert_eq(c.source, MX_QUERIES_PSEUDO);
  cr_assert_gt(c.n_queries, 0);
  cr_assert_float_eq(c.target, MX_DEFAULT_RECALL, 1e-7);
  cr_assert_leq(c.seconds, MX_BUILD_CALIBRATE_SECONDS + 5);
  for (uint32_t i = 0; i < c.n_entries; i++)
    cr_assert_neq(c.entries[i].status, MX_CALIBRATION_SKIPPED, "%s", c.entries[i].note);
  float q[R * DIM];
  queries(6, q, 1);
  mx_hit h[10];
  uint32_t n;
  mx_search_stats st;
  search(ix, NULL, q, h, &n, &st); /* 8x8: beyond the budgets (largest 4x8) */
  cr_assert_eq(st.candidates_source, MX_CANDIDATES_TABLE);
  cr_assert_eq(st.candidates_flags, MX_CHOICE_BEYOND_TABLE, "flags %#x", st.candidates_flags);
  cr_assert_eq(st.table_budget.r_q, c.entries[0].budget.r_q, "the largest budget's entry");
  cr_assert_eq(st.table_budget.r_c, c.entries[0].budget.r_c);
  mx_search_options so;
  mx_search_options_init(&so);
  so.r_q = c.entries[0].budget.r_q;
  so.r_c = c.entries[0].budget.r_c;
  search(ix, &so, q, h, &n, &st);
  cr_assert_eq(st.candidates_flags, 0, "flags %#x", st.candidates_flags);
  cr_assert_eq(st.candidates_asked, c.entries[0].candidates);
  mx_index_close(ix);
  mx_test_tmpdir_remove(tmp);
}

Test(recall, build_calibration_options_are_validated) {
  char *tmp = mx_test_tmpdir("recall_build_opts");
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/ix", tmp);
  double secs[] = {-1, NAN, 0, 5};
  float recalls[] = {0.9f, 0.9f, 0.0f, 1.5f};
  for (int i = 0; i < 4; i++) {
    mx_build_options o;
    mx_build_options_init(&o);
    o.calibrate = 1;
    o.calibrate_seconds = secs[i];
    o.calibrate_recall = recalls[i];
    mx_builder *b = NULL;
    mx_error err = {0};
    cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &b, &err), MX_ERR_INVALID_ARGUMENT, "case %d",
                 i);
    cr_assert_null(b);
    cr_assert(strstr(err.message, "calibrate_"), "'%s' names the option", err.message);
    o.calibrate = 0; /* not used: not checked */
    cr_assert_eq(mx_builder_open(dir, DIM, R, &o, &b, &err), MX_OK, "%s", err.message);
    mx_builder_abort(b);
  }
  mx_test_tmpdir_remove(tmp);
}
