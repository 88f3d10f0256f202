/* tune.c: calibration (mx_index_tune). For every budget of the index,
 * largest first, measures recall@k of mx_search against mx_exact_search at
 * that budget on sample queries over a grid of candidate counts k' (10,
 * 20, 40, ... up to N, then a few geometric bisection steps), and keeps the
 * smallest k' whose mean recall less one standard error reaches the target
 * (mx_calib_point_meets), with the measured
 * curve, so search can pick k' for any target (docs/recall.md). Searches
 * go through mx_search itself, so whatever the first stage is, the table
 * measures it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calibration.h"
#include "clock.h"
#include "coarse.h"
#include "index_internal.h"
#include "metaidx.h"
#include "metrics.h"
#include "pseudo.h"
#include "record.h"
#include "status.h"
#include "store.h"

/* Queries per mx_exact_search call, so a time limit can stop between calls. */
#define EXACT_CHUNK 8
/* Geometric bisection steps between the last k' that failed and the first
 * that reached the target (a factor 2 apart): 3 steps leave ~9%. */
#define REFINE_STEPS 3
/* Queries timed one by one for p50_ms. */
#define LATENCY_QUERIES 50

void mx_tune_options_init(mx_tune_options *o) {
  if (!o)
    return;
  memset(o, 0, sizeof *o);
  o->recall = 0.95f;
  o->k = 10;
  o->pseudo_queries = 100;
  o->noise = 1.0f;
  o->seed = 42;
}

/* ---------------------------------------------------------------- sample */

typedef struct sample {
  float *owned;         /* pseudo-queries */
  const float *queries; /* n x r x dim */
  uint32_t n, r;
  uint64_t *source;     /* pseudo-query i was drawn from document source[i]; NULL for user */
} sample;

/* Pseudo-query i: document source[i] (one per stratum of N / n, so all
 * distinct), its first r stored vectors (cycled when it has fewer), each
 * plus Gaussian noise of norm `noise` times the vector's, then normalised. */
static mx_status draw_pseudo(mx_index *ix, uint32_t n, uint32_t r, float noise, uint64_t seed,
                             sample *s, mx_error *err) {
  const mx_manifest *m = &ix->manifest;
  uint32_t d = m->dim, stored = m->vectors_per_doc;
  s->owned = malloc((size_t)n * r * d * sizeof(float));
  s->source = malloc((size_t)n * sizeof(uint64_t));
  float *v = malloc((size_t)d * sizeof(float));
  if (!s->owned || !s->source || !v) {
    free(v);
    return mx_fail(err, MX_ERR_NO_MEMORY, "cannot allocate %u pseudo-queries", n);
  }
  s->queries = s->owned;
  s->n = n;
  s->r = r;
  uint64_t rng = seed ^ 0x7475656e65ull;
  mx_store_txn *txn = NULL;
  mx_status rc = mx_store_txn_begin(ix->store, &txn, err);
  uint32_t prefix = r < stored ? r : stored;
  for (uint32_t i = 0; rc == MX_OK && i < n; i++) {
    uint64_t doc = (uint64_t)(((double)i + mx_uniform01(&rng)) * (double)m->n_docs / n);
    if (doc >= m->n_docs)
      doc = m->n_docs - 1;
    s->source[i] = doc;
    mx_record_view view;
    rc = mx_store_read_prefix(txn, doc, prefix, 0, &view, err);
    for (uint32_t j = 0; rc == MX_OK && j < r; j++) {
      mx_record_decode_vector(&view, j % prefix, v);
      mx_pseudo_vector(v, d, noise, &rng, s->owned + ((size_t)i * r + j) * d);
    }
  }
  mx_store_txn_end(txn);
  free(v);
  if (rc != MX_OK)
    return mx_fail_context(err, rc, "drawing pseudo-queries");
  return MX_OK;
}

/* ---------------------------------------------------------------- recall */

/* The first k ids of hits[0..n), leaving out `skip` (a pseudo-query's own
 * document: finding it is trivial and would inflate recall). */
static size_t ids_without(const mx_hit *hits, uint32_t n, uint64_t skip, int has_skip, size_t k,
                          uint64_t *out) {
  size_t m = 0;
  for (uint32_t i = 0; i < n && m < k; i++)
    if (!has_skip || hits[i].doc != skip)
      out[m++] = hits[i].doc;
  return m;
}

typedef struct run {
  mx_index *ix;
  const sample *s;
  const mx_tune_options *o;
  uint32_t k, k_eval, nq; /* queries in use for this budget */
  mx_budget b;
  uint64_t *truth; /* nq x k */
  size_t *truth_n;
  mx_hit *hits; /* nq x k_eval */
  uint32_t *n_hits;
} run;

static void search_options(const run *r, uint32_t candidates, mx_search_options *so) {
  mx_search_options_init(so);
  so->k = r->k_eval;
  so->r_q = r->b.r_q;
  so->r_c = r->b.r_c;
  so->candidates = candidates;
}

/* Mean recall@k (and its standard error) of mx_search with k' candidates. */
static mx_status measure(run *r, uint32_t candidates, double *mean, double *se, mx_error *err) {
  mx_search_options so;
  search_options(r, candidates, &so);
  MX_TRY(mx_search_batch(r->ix, r->s->queries, r->nq, r->s->r, &so, r->o->threads, r->hits,
                         r->n_hits, NULL, err));
  double sum = 0, sum2 = 0;
  uint32_t counted = 0;
  uint64_t got[64];
  uint64_t *ids = r->k <= 64 ? got : malloc(r->k * sizeof *ids);
  if (!ids)
    return mx_fail(err, MX_ERR_NO_MEMORY, "out of memory");
  for (uint32_t q = 0; q < r->nq; q++) {
    size_t n = ids_without(r->hits + (size_t)q * r->k_eval, r->n_hits[q],
                           r->s->source ? r->s->source[q] : 0, r->s->source != NULL, r->k, ids);
    double x = mx_recall_at_k(ids, n, r->truth + (size_t)q * r->k, r->truth_n[q], r->k);
    if (isnan(x))
      continue;
    sum += x;
    sum2 += x * x;
    counted++;
  }
  if (ids != got)
    free(ids);
  *mean = counted ? sum / counted : 1.0;
  double var = counted > 1 ? (sum2 - sum * sum / counted) / (counted - 1) : 0;
  *se = counted > 1 && var > 0 ? sqrt(var / counted) : 0;
  return MX_OK;
}

/* Ground truth: mx_exact_search in chunks until every query is done or
 * (with a time limit) `until_ns` has passed; r->nq = queries done. */
static mx_status exact_truth(run *r, uint64_t until_ns, double *ms_per_query, mx_error *err) {
  uint64_t t0 = mx_now_ns();
  uint32_t done = 0;
  size_t stride = (size_t)r->s->r * r->ix->manifest.dim;
  while (done < r->s->n) {
    uint32_t n = r->s->n - done < EXACT_CHUNK ? r->s->n - done : EXACT_CHUNK;
    MX_TRY(mx_exact_search(r->ix, r->s->queries + done * stride, n, r->s->r, r->b.r_q, r->b.r_c,
                           r->k_eval, r->o->threads, r->hits + (size_t)done * r->k_eval,
                           r->n_hits + done, err));
    for (uint32_t q = done; q < done + n; q++)
      r->truth_n[q] = ids_without(r->hits + (size_t)q * r->k_eval, r->n_hits[q],
                                  r->s->source ? r->s->source[q] : 0, r->s->source != NULL, r->k,
                                  r->truth + (size_t)q * r->k);
    done += n;
    if (until_ns && mx_now_ns() > until_ns)
      break;
  }
  r->nq = done;
  *ms_per_query = mx_ms_since(t0) / done;
  return MX_OK;
}

/* p50 of mx_search one query at a time on this thread, warm. */
static mx_status latency(run *r, uint32_t candidates, double *p50, mx_error *err) {
  mx_search_options so;
  search_options(r, candidates, &so);
  uint32_t n = r->nq < LATENCY_QUERIES ? r->nq : LATENCY_QUERIES;
  double ms[LATENCY_QUERIES];
  size_t stride = (size_t)r->s->r * r->ix->manifest.dim;
  for (uint32_t q = 0; q < n; q++) {
    mx_search_stats st;
    MX_TRY(mx_search(r->ix, r->s->queries + q * stride, r->s->r, &so, r->hits, r->n_hits, &st,
                     err));
    ms[q] = st.total_ms;
  }
  *p50 = mx_percentile(ms, n, 50);
  return MX_OK;
}

/* Records a measured point and says whether it reaches the target (by
 * the one rule, mx_calib_point_meets, on the stored values). */
static int add_point(mx_calib *c, uint32_t bi, uint32_t candidates, uint32_t nprobe, double recall,
                     double se, float target) {
  mx_calib_point pt = {candidates, nprobe, (float)recall, (float)se};
  int meets = mx_calib_point_meets(&pt, target);
  uint32_t n = c->n_points[bi];
  if (n >= MX_CALIB_MAX_POINTS)
    return meets;
  mx_calib_point *p = c->points[bi];
  uint32_t at = n;
  while (at > 0 && p[at - 1].candidates > candidates)
    at--;
  if (at > 0 && p[at - 1].candidates == candidates)
    return meets;
  memmove(p + at + 1, p + at, (n - at) * sizeof *p);
  p[at] = pt;
  c->n_points[bi] = n + 1;
  return meets;
}

/* Grid then bisection for one budget; fills entry bi. */
static mx_status calibrate_budget(run *r, mx_calib *c, uint32_t bi, uint64_t deadline_ns,
                                  mx_error *err) {
  mx_calibration_entry *e = &c->pub.entries[bi];
  uint64_t n_docs = r->ix->manifest.n_docs;
  uint32_t max_c = r->o->max_candidates && r->o->max_candidates < n_docs
                       ? r->o->max_candidates
                       : (uint32_t)(n_docs < UINT32_MAX ? n_docs : UINT32_MAX);
  if (max_c < r->k_eval)
    max_c = r->k_eval;
  uint32_t lo = 0, hi = 0, cand = r->k_eval > 10 ? r->k_eval : 10;
  double best = -1, best_se = 0, rec = 0, se = 0;
  uint32_t best_c = 0;
  int timed_out = 0;
  for (;;) {
    if (cand > max_c)
      cand = max_c;
    MX_TRY(measure(r, cand, &rec, &se, err));
    int meets = add_point(c, bi, cand, mx_coarse_effective_nprobe(r->ix->coarse, cand, NULL), rec,
                          se, r->o->recall);
    if (rec - se > best - best_se || best < 0) {
      best = rec;
      best_se = se;
      best_c = cand;
    }
    if (meets) {
      hi = cand;
      e->recall = (float)rec;
      e->recall_se = (float)se;
      break;
    }
    lo = cand;
    if (cand >= max_c)
      break;
    if (deadline_ns && mx_now_ns() > deadline_ns) {
      timed_out = 1;
      break;
    }
    cand = cand > max_c / 2 ? max_c : cand * 2;
  }
  for (int step = 0; hi && lo && step < REFINE_STEPS; step++) {
    if (deadline_ns && mx_now_ns() > deadline_ns)
      break;
    uint32_t mid = (uint32_t)lround(sqrt((double)lo * hi));
    if (mid <= lo || mid >= hi)
      break;
    MX_TRY(measure(r, mid, &rec, &se, err));
    if (add_point(c, bi, mid, mx_coarse_effective_nprobe(r->ix->coarse, mid, NULL), rec, se,
                  r->o->recall)) {
      hi = mid;
      e->recall = (float)rec;
      e->recall_se = (float)se;
    } else {
      lo = mid;
    }
  }
  if (hi) {
    e->status = MX_CALIBRATION_MET;
    e->candidates = hi;
  } else {
    e->status = MX_CALIBRATION_NOT_MET;
    e->candidates = best_c;
    e->recall = (float)best;
    e->recall_se = (float)best_se;
    snprintf(e->note, sizeof e->note, "recall %.4f at k'=%u, %s", best, best_c,
             timed_out ? "stopped by the time limit" : "the largest k' allowed");
  }
  e->nprobe = mx_coarse_effective_nprobe(r->ix->coarse, e->candidates, NULL);
  return latency(r, e->candidates, &e->p50_ms, err);
}

/* ---------------------------------------------------------------- tune */

static mx_status check_sample(const mx_index *ix, const float *q, uint32_t n, uint32_t r,
                              mx_error *err) {
  size_t count = (size_t)n * r * ix->manifest.dim;
  for (size_t i = 0; i < count; i++)
    if (!isfinite(q[i]))
      return mx_fail(err, MX_ERR_BAD_INPUT, "query %zu vector %zu element %zu is %s",
                     i / ((size_t)r * ix->manifest.dim), i / ix->manifest.dim % r,
                     i % ix->manifest.dim, isnan(q[i]) ? "NaN" : "infinite");
  return MX_OK;
}

/* Budget indices, largest r_q * r_c first: search without r_q/r_c uses the
 * largest, and a budget left unmeasured (time limit) falls back on a
 * larger one (docs/recall.md). */
static void order_budgets(const mx_manifest *m, uint32_t *order) {
  for (uint32_t i = 0; i < m->n_budgets; i++)
    order[i] = i;
  for (uint32_t i = 1; i < m->n_budgets; i++)
    for (uint32_t j = i; j > 0; j--) {
      const mx_budget *a = &m->budgets[order[j - 1]], *b = &m->budgets[order[j]];
      if ((uint64_t)a->r_q * a->r_c >= (uint64_t)b->r_q * b->r_c)
        break;
      uint32_t t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
}

static mx_status tune_index(mx_index *ix, const sample *s, const mx_tune_options *o, mx_calib *c,
                            uint64_t t0, mx_error *err) {
  const mx_manifest *m = &ix->manifest;
  uint64_t deadline = o->time_limit_s > 0 ? t0 + (uint64_t)(o->time_limit_s * 1e9) : 0;
  run r = {.ix = ix, .s = s, .o = o};
  r.k = o->k < m->n_docs ? o->k : (uint32_t)m->n_docs;
  r.k_eval = r.k + (s->source && r.k < m->n_docs ? 1 : 0);
  r.truth = malloc((size_t)s->n * r.k * sizeof *r.truth);
  r.truth_n = malloc((size_t)s->n * sizeof *r.truth_n);
  r.hits = malloc((size_t)s->n * r.k_eval * sizeof *r.hits);
  r.n_hits = malloc((size_t)s->n * sizeof *r.n_hits);
  mx_status rc = r.truth && r.truth_n && r.hits && r.n_hits
                     ? MX_OK
                     : mx_fail(err, MX_ERR_NO_MEMORY, "cannot allocate %u queries' results", s->n);
  uint32_t order[MX_MAX_BUDGETS];
  order_budgets(m, order);
  double weight_left = 0;
  for (uint32_t i = 0; i < m->n_budgets; i++)
    weight_left += (double)m->budgets[i].r_q * m->budgets[i].r_c + 1;
  c->pub.n_entries = m->n_budgets;
  for (uint32_t i = 0; rc == MX_OK && i < m->n_budgets; i++) {
    mx_calibration_entry *e = &c->pub.entries[i];
    r.b = m->budgets[order[i]];
    double w = (double)r.b.r_q * r.b.r_c + 1;
    /* Queries with fewer vectors than the budget's r_q are searched (r_q =
     * 0: every query vector) at (their count, r_c): measure that budget. */
    int clipped = r.b.r_q > s->r, duplicate = 0;
    if (clipped) {
      r.b.r_q = s->r;
      for (uint32_t j = 0; j < i; j++)
        duplicate |= c->pub.entries[j].budget.r_q == r.b.r_q &&
                     c->pub.entries[j].budget.r_c == r.b.r_c;
    }
    e->budget = duplicate ? m->budgets[order[i]] : r.b;
    uint64_t now = mx_now_ns();
    if (duplicate) {
      e->status = MX_CALIBRATION_SKIPPED;
      snprintf(e->note, sizeof e->note,
               "the sample queries have %u vectors: measured as %ux%u", s->r, r.b.r_q, r.b.r_c);
    } else if (deadline && now >= deadline) {
      e->status = MX_CALIBRATION_SKIPPED;
      snprintf(e->note, sizeof e->note, "not measured: time limit");
    } else {
      /* With a time limit, this budget's share of what is left (by its
       * r_q * r_c), a third of it for the ground truth. */
      uint64_t until = deadline ? now + (uint64_t)((double)(deadline - now) * w / weight_left / 3)
                                : 0;
      rc = exact_truth(&r, until, &e->exact_ms, err);
      e->queries = r.nq;
      if (rc == MX_OK)
        rc = calibrate_budget(&r, c, i, deadline, err);
      if (rc == MX_OK && clipped && !e->note[0])
        snprintf(e->note, sizeof e->note, "budget %ux%u at the sample queries' %u vectors",
                 m->budgets[order[i]].r_q, r.b.r_c, s->r);
      if (rc != MX_OK)
        mx_fail_context(err, rc, "calibrating budget %ux%u", r.b.r_q, r.b.r_c);
    }
    weight_left -= w;
  }
  free(r.truth);
  free(r.truth_n);
  free(r.hits);
  free(r.n_hits);
  return rc;
}

mx_status mx_index_tune(const char *dir, const float *queries, uint32_t n_queries,
                        uint32_t vectors_per_query, const mx_tune_options *opts,
                        mx_calibration *report, mx_error *err) {
  uint64_t t0 = mx_now_ns();
  mx_tune_options defaults;
  mx_tune_options_init(&defaults);
  const mx_tune_options *o = opts ? opts : &defaults;
  if (!dir || (!queries && n_queries))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_index_tune: NULL dir or queries");
  if (!(o->recall > 0 && o->recall <= 1))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "tune: recall %g is outside (0, 1]",
                   (double)o->recall);
  if (o->k == 0)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "tune: k must be at least 1");
  if (queries && (vectors_per_query == 0 || n_queries == 0))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "tune: %s",
                   n_queries ? "the queries have no vectors" : "no queries given");
  if (!queries && (o->pseudo_queries == 0 || !(o->noise >= 0) || !isfinite(o->noise)))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "tune: pseudo-queries need a count >= 1 (got %u) and a finite noise >= 0 "
                   "(got %g)",
                   o->pseudo_queries, (double)o->noise);
  if (o->threads > MX_MAX_THREADS || !(o->time_limit_s >= 0))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "tune: threads %u (at most %d) or time limit %g (must be >= 0) out of range",
                   o->threads, MX_MAX_THREADS, o->time_limit_s);
  mx_open_options oo;
  mx_open_options_init(&oo);
  oo.ignore_calibration = 1;
  mx_index *ix = NULL;
  MX_TRY(mx_index_open(dir, &oo, &ix, err));
  mx_calib *c = calloc(1, sizeof *c);
  sample s = {0};
  mx_status rc = c ? mx_calib_manifest_hash(dir, &c->manifest_xxh3, err)
                   : mx_fail(err, MX_ERR_NO_MEMORY, "cannot allocate a calibration table");
  if (rc == MX_OK && queries) {
    rc = check_sample(ix, queries, n_queries, vectors_per_query, err);
    s = (sample){.queries = queries, .n = n_queries, .r = vectors_per_query};
  } else if (rc == MX_OK) {
    uint32_t r = 1;
    for (uint32_t i = 0; i < ix->manifest.n_budgets; i++)
      if (ix->manifest.budgets[i].r_q > r)
        r = ix->manifest.budgets[i].r_q;
    uint32_t n = o->pseudo_queries < ix->manifest.n_docs ? o->pseudo_queries
                                                          : (uint32_t)ix->manifest.n_docs;
    rc = draw_pseudo(ix, n, r, o->noise, o->seed, &s, err);
  }
  if (rc == MX_OK && s.n > 0) {
    c->pub.target = o->recall;
    c->pub.k = o->k;
    c->pub.source = queries ? MX_QUERIES_USER : MX_QUERIES_PSEUDO;
    c->pub.n_queries = s.n;
    c->pub.noise = queries ? 0 : o->noise;
    c->pub.seed = queries ? 0 : o->seed;
    rc = tune_index(ix, &s, o, c, t0, err);
  }
  mx_index_close(ix);
  if (rc == MX_OK) {
    c->pub.seconds = mx_ms_since(t0) / 1e3;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(c->pub.created, sizeof c->pub.created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!o->dry_run)
      rc = mx_calib_write(dir, c, err);
  }
  if (rc == MX_OK && report)
    *report = c->pub;
  free(s.owned);
  free(s.source);
  free(c);
  return rc;
}
