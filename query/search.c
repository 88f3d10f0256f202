/* search.c: the search API: first-stage candidates (candidates.c) ->
 * prefetch -> exact MaxSim rescoring in place from the LMDB map, optionally
 * as a cascade of growing budgets; one query (mx_search) or many over a thread pool. The index
 * handle itself is index.c's. */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "candidates.h"
#include "clock.h"
#include "coarse.h"
#include "index_internal.h"
#include "manifest.h"
#include "maxsim.h"
#include "metaidx.h"
#include "pool.h"
#include "record.h"
#include "recall.h"
#include "rescore.h"
#include "status.h"
#include "store.h"
#include "topk.h"

void mx_search_options_init(mx_search_options *o) {
  if (!o)
    return;
  memset(o, 0, sizeof *o);
  o->k = 10;
  o->candidates = 0; /* from the calibration table (recall.c) */
  o->prefetch = 1;
}

/* ---------------------------------------------------------------- checks */

/* Rejects NaN/Inf in the query rows that will be used. */
static mx_status check_query(const mx_index *ix, const float *q, uint32_t rows, mx_error *err) {
  size_t n = (size_t)rows * ix->manifest.dim;
  for (size_t i = 0; i < n; i++)
    if (!isfinite(q[i]))
      return mx_fail(err, MX_ERR_BAD_INPUT, "query vector %zu element %zu is %s",
                     i / ix->manifest.dim, i % ix->manifest.dim, isnan(q[i]) ? "NaN" : "infinite");
  return MX_OK;
}

static mx_status check_budget(const mx_index *ix, uint32_t r_q, uint32_t r_c,
                              uint32_t n_query_vectors, const char *what, mx_error *err) {
  if (r_q == 0 || r_c == 0)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "%s budget %ux%u: r_q and r_c must be >= 1",
                   what, r_q, r_c);
  if (r_q > n_query_vectors)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "%s budget %ux%u: r_q %u is more than the %u query vectors given", what, r_q,
                   r_c, r_q, n_query_vectors);
  if (r_c > ix->manifest.vectors_per_doc)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT,
                   "%s budget %ux%u: r_c %u is more than the %u vectors stored per document",
                   what, r_q, r_c, r_c, ix->manifest.vectors_per_doc);
  return MX_OK;
}

/* The stages to run, the final one included (keep = k). */
static mx_status plan_stages(const mx_index *ix, const mx_search_options *o,
                             uint32_t n_query_vectors, mx_stage *plan, uint32_t *n_plan,
                             uint32_t *max_r_q, mx_error *err) {
  if (o->k == 0)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "k must be at least 1");
  if (o->n_stages > MX_MAX_STAGES)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "at most %d cascade stages, got %u",
                   MX_MAX_STAGES, o->n_stages);
  *max_r_q = 1;
  for (uint32_t i = 0; i < o->n_stages; i++) {
    mx_stage st = o->stages[i];
    char what[32];
    snprintf(what, sizeof what, "cascade stage %u", i + 1);
    MX_TRY(check_budget(ix, st.r_q, st.r_c, n_query_vectors, what, err));
    if (st.keep == 0)
      return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "cascade stage %u keeps 0 candidates", i + 1);
    plan[i] = st;
    if (st.r_q > *max_r_q)
      *max_r_q = st.r_q;
  }
  uint32_t r_q = o->r_q ? o->r_q : n_query_vectors;
  uint32_t r_c = o->r_c ? o->r_c : ix->manifest.vectors_per_doc;
  MX_TRY(check_budget(ix, r_q, r_c, n_query_vectors, "final", err));
  plan[o->n_stages] = (mx_stage){r_q, r_c, o->k};
  if (r_q > *max_r_q)
    *max_r_q = r_q;
  *n_plan = o->n_stages + 1;
  return MX_OK;
}

/* ---------------------------------------------------------------- search */

/* hits[0..n) from the kept (doc, score) pairs, best first. */
static mx_status fill_hits(const mx_index *ix, mx_store_txn *txn, const mx_scored *kept, size_t n,
                           mx_hit *hits, uint32_t *n_hits, mx_error *err) {
  for (size_t i = 0; i < n; i++) {
    hits[i] = (mx_hit){kept[i].doc, kept[i].doc, kept[i].score};
    MX_TRY(mx_index_external_id(ix, txn, kept[i].doc, &hits[i].id, err));
  }
  *n_hits = (uint32_t)n;
  return MX_OK;
}

/* Moves the survivors (best first in s->kept) to be the next stage's
 * candidates. Every survivor was read at every stage so far (skipped
 * candidates are not kept), so each has verified the largest r_c of those
 * stages: `verified`. */
static void promote_survivors(mx_scratch *s, size_t n_kept, uint32_t verified) {
  for (size_t i = 0; i < n_kept; i++) {
    s->docs[i] = s->kept[i].doc;
    s->verified[i] = verified;
  }
}

/* Prefetch hints only help when the pages are not there yet: a warm index
 * (the sampled candidates' prefixes already in the page cache) skips them. */
static uint64_t prefetch_unless_resident(mx_store_txn *txn, const uint64_t *docs, size_t n,
                                         uint32_t r_c) {
  if (mx_store_prefixes_resident(txn, docs, n, r_c))
    return 0;
  return mx_store_prefetch(txn, docs, n, r_c);
}

static mx_status search_in(mx_index *ix, mx_store_txn *txn, mx_scratch *s, const float *query,
                           const mx_stage *plan, uint32_t n_plan, const mx_search_options *o,
                           size_t n_cand, mx_hit *hits, uint32_t *n_hits, mx_search_stats *st,
                           mx_error *err) {
  uint64_t t0 = mx_now_ns();
  mx_coarse_params cp = {.nprobe = o->nprobe, .ef_search = o->ef_search};
  size_t n = 0;
  MX_TRY(mx_first_stage_candidates(ix, s, query, plan[n_plan - 1].r_q, n_cand, o->coarse_only, &cp,
                                   &n, err));
  st->candidates = n;
  st->coarse_ms = mx_ms_since(t0);
  if (o->coarse_only) {
    return fill_hits(ix, txn, s->kept, o->k < n ? o->k : n, hits, n_hits, err);
  }
  if (o->prefetch) {
    uint64_t tp = mx_now_ns();
    st->bytes_prefetched = prefetch_unless_resident(txn, s->docs, n, plan[0].r_c);
    st->prefetch_ms = mx_ms_since(tp);
  }
  size_t n_kept = 0;
  uint32_t max_r_c = 0; /* the largest r_c of the stages run */
  for (uint32_t p = 0; p < n_plan; p++) {
    uint64_t ts = mx_now_ns();
    if (p > 0 && o->prefetch && plan[p].r_c > plan[p - 1].r_c)
      st->bytes_prefetched += prefetch_unless_resident(txn, s->docs, n, plan[p].r_c);
    unsigned threads =
        mx_rescore_threads(o->threads, n, plan[p].r_q, plan[p].r_c, ix->manifest.dim);
    MX_TRY(mx_rescore_stage(ix, txn, query, &plan[p], o->skip_corrupt, threads, s, n, &n_kept, st,
                            err));
    st->stage_ms[p] = mx_ms_since(ts);
    st->rescore_ms += st->stage_ms[p];
    st->n_stages_run = p + 1;
    if (p + 1 < n_plan) {
      if (plan[p].r_c > max_r_c)
        max_r_c = plan[p].r_c;
      promote_survivors(s, n_kept, max_r_c);
      n = n_kept;
    }
  }
  return fill_hits(ix, txn, s->kept, n_kept, hits, n_hits, err);
}

mx_status mx_search(mx_index *index, const float *query, uint32_t n_query_vectors,
                    const mx_search_options *opts, mx_hit *hits, uint32_t *n_hits,
                    mx_search_stats *stats, mx_error *err) {
  uint64_t t0 = mx_now_ns();
  if (!index || !query || !hits || !n_hits)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_search: NULL index, query, hits or n_hits");
  *n_hits = 0;
  if (n_query_vectors == 0)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_search: the query has no vectors");
  mx_search_options defaults;
  mx_search_options_init(&defaults);
  const mx_search_options *o = opts ? opts : &defaults;
  mx_stage plan[MX_MAX_STAGES + 1];
  uint32_t n_plan = 0, max_r_q = 1;
  MX_TRY(plan_stages(index, o, n_query_vectors, plan, &n_plan, &max_r_q, err));
  uint32_t first_stage_rows = mx_candidates_query_vectors(index, plan[n_plan - 1].r_q);
  MX_TRY(check_query(index, query, o->coarse_only ? first_stage_rows : max_r_q, err));
  mx_search_stats local;
  mx_search_stats *st = stats ? stats : &local;
  memset(st, 0, sizeof *st);
  mx_search_options chosen; /* o with k' (and nprobe) chosen */
  MX_TRY(mx_recall_choose(index, o, (mx_budget){plan[n_plan - 1].r_q, plan[n_plan - 1].r_c},
                          &chosen, st, err));
  o = &chosen;
  uint64_t n_docs = index->manifest.n_docs;
  size_t n_cand = o->candidates > o->k ? o->candidates : o->k;
  if (n_cand > n_docs)
    n_cand = (size_t)n_docs;
  mx_scratch *s = mx_scratch_get(index, n_cand);
  if (!s)
    return mx_fail(err, MX_ERR_NO_MEMORY, "cannot allocate search scratch for %zu candidates",
                   n_cand);
  mx_store_txn *txn = NULL;
  mx_status rc = mx_store_txn_begin(index->store, &txn, err);
  if (rc == MX_OK)
    rc = search_in(index, txn, s, query, plan, n_plan, o, n_cand, hits, n_hits, st, err);
  mx_store_txn_end(txn);
  mx_scratch_put(index, s);
  if (rc != MX_OK)
    *n_hits = 0;
  st->total_ms = mx_ms_since(t0);
  return rc;
}

/* ---------------------------------------------------------------- batch */

typedef struct batch_job {
  mx_index *index;
  const float *queries;
  uint32_t vectors_per_query;
  const mx_search_options *opts;
  uint32_t k;
  mx_hit *hits;
  uint32_t *n_hits;
  mx_search_stats *stats;
  atomic_int failed;
  pthread_mutex_t err_lock;
  mx_error first_err;
  mx_status first_status;
} batch_job;

static void batch_one(void *ctx, size_t q, unsigned worker) {
  (void)worker;
  batch_job *job = ctx;
  if (atomic_load(&job->failed))
    return;
  mx_error err;
  mx_error_clear(&err);
  size_t stride = (size_t)job->vectors_per_query * job->index->manifest.dim;
  mx_status s = mx_search(job->index, job->queries + q * stride, job->vectors_per_query, job->opts,
                          job->hits + q * job->k, &job->n_hits[q],
                          job->stats ? &job->stats[q] : NULL, &err);
  if (s != MX_OK && !atomic_exchange(&job->failed, 1)) {
    pthread_mutex_lock(&job->err_lock);
    job->first_status = s;
    job->first_err = err;
    mx_fail_context(&job->first_err, s, "query %zu", q);
    pthread_mutex_unlock(&job->err_lock);
  }
}

mx_status mx_search_batch(mx_index *index, const float *queries, uint32_t n_queries,
                          uint32_t vectors_per_query, const mx_search_options *opts,
                          uint32_t threads, mx_hit *hits, uint32_t *n_hits,
                          mx_search_stats *stats, mx_error *err) {
  if (!index || (!queries && n_queries) || (!hits && n_queries) || (!n_hits && n_queries))
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "mx_search_batch: NULL argument");
  mx_search_options one; /* the batch's threads run one query each */
  if (opts)
    one = *opts;
  else
    mx_search_options_init(&one);
  one.threads = 1;
  batch_job job = {.index = index,
                   .queries = queries,
                   .vectors_per_query = vectors_per_query,
                   .opts = &one,
                   .hits = hits,
                   .n_hits = n_hits,
                   .stats = stats};
  job.k = job.opts->k;
  atomic_init(&job.failed, 0);
  pthread_mutex_init(&job.err_lock, NULL);
  mx_parallel_for(threads, n_queries, batch_one, &job);
  pthread_mutex_destroy(&job.err_lock);
  if (atomic_load(&job.failed)) {
    if (err)
      *err = job.first_err;
    return job.first_status;
  }
  return MX_OK;
}

